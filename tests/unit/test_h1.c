/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of HTTP/1.1 client connections (cluster/api/h1.c): URL parsing, responses
 * read over a socketpair (Content-Length, chunked, until close, HEAD, 204, keep-alive
 * against close, malformed heads, a peer gone before or during an answer), and TLS
 * against `openssl s_server` with a certificate for 127.0.0.1: verified, refused for
 * another name or an unknown authority, and unverified.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/api/h1.h"
#include "cluster/api/lib_gnutls.h"

static void url_ok(const char *url, bool tls, const char *host, uint16_t port, const char *target,
		   const char *prefix)
{
	struct h1_url u;
	struct err err = ERR_INIT;

	assert_int_equal(h1_url_parse(url, &u, &err), 0);
	assert_int_equal(u.tls, tls);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.target, target);
	assert_string_equal(u.prefix, prefix);
	h1_url_clear(&u);
}

static void url_bad(const char *url, const char *why)
{
	struct h1_url u;
	struct err err = ERR_INIT;

	assert_int_equal(h1_url_parse(url, &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, url));
	assert_non_null(strstr(err.msg, why));
	err_clear(&err);
}

static void test_url_parse(void **state)
{
	(void)state;
	url_ok("https://127.0.0.1:6443", true, "127.0.0.1", 6443, "127.0.0.1:6443", "");
	url_ok("https://127.0.0.1:6443/", true, "127.0.0.1", 6443, "127.0.0.1:6443", "");
	url_ok("http://api.example", false, "api.example", 80, "api.example:80", "");
	url_ok("https://api.example/k8s/", true, "api.example", 443, "api.example:443", "/k8s");
	url_ok("https://[::1]:6443/a/b", true, "::1", 6443, "[::1]:6443", "/a/b");
	url_ok("https://[fd00::1]", true, "fd00::1", 443, "[fd00::1]:443", "");
	url_bad("ftp://host", "expected https://HOST");
	url_bad("https://", "no host");
	url_bad("https://:6443", "no host");
	url_bad("https://h:0", "the port must be 1 to 65535");
	url_bad("https://h:65536", "the port must be 1 to 65535");
	url_bad("https://h:x", "the port must be 1 to 65535");
	url_bad("https://[::1", "needs its ']'");
	url_bad("https://[::1]x", "unexpected 'x'");
	url_bad("https://h?x=1", "no query");
}

/* A connection reading what the test writes into the other end of a socketpair. */
struct pair {
	struct h1_conn c;
	int peer;
};

static void pair_open(struct pair *p, const char *bytes)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->c = (struct h1_conn){.fd = sv[0]};
	p->peer = sv[1];
	if (bytes)
		assert_int_equal(write(p->peer, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	h1_set_timeout(p->c.fd, 2000);
}

static void pair_close(struct pair *p)
{
	h1_conn_close(&p->c);
	if (p->peer >= 0)
		close(p->peer);
	p->peer = -1;
}

/* Reads one response: its head into @h, its body returned (NULL on a failure). */
static char *read_response(struct h1_conn *c, bool head_request, struct h1_head *h, int *rc)
{
	struct err err = ERR_INIT;
	char *body = xcalloc(1, 4096);
	size_t len = 0;
	ssize_t n;

	*rc = h1_read_head(c, 4096, head_request, NULL, NULL, h, NULL, &err);
	err_clear(&err);
	if (*rc < 0) {
		free(body);
		return NULL;
	}
	while ((n = h1_body_read(c, h, body + len, 4095 - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		*rc = (int)n;
		free(body);
		return NULL;
	}
	return body;
}

static void test_framings_and_keep_alive(void **state)
{
	struct pair p;
	struct h1_head h;
	char *body;
	int rc;

	(void)state;
	/* four answers on one connection, then one that runs until the peer closes */
	pair_open(&p, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		      "Content-Length: 5\r\n\r\nhello"
		      "HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
		      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
		      "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"
		      "HTTP/1.1 200 OK\r\nConnection: Upgrade, close\r\n\r\nuntil close");
	body = read_response(&p.c, false, &h, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(h.status, 200);
	assert_string_equal(h.content_type, "application/json");
	assert_string_equal(body, "hello");
	assert_false(h.close);
	free(body);
	h1_head_clear(&h);

	body = read_response(&p.c, false, &h, &rc);
	assert_int_equal(h.status, 201);
	assert_true(h.chunked);
	assert_null(h.content_type);
	assert_string_equal(body, "hello world");
	assert_false(h.close);
	free(body);
	h1_head_clear(&h);

	/* the answer to a HEAD has no body whatever its Content-Length says */
	body = read_response(&p.c, true, &h, &rc);
	assert_int_equal(h.status, 200);
	assert_string_equal(body, "");
	free(body);
	h1_head_clear(&h);

	body = read_response(&p.c, false, &h, &rc);
	assert_int_equal(h.status, 204);
	assert_string_equal(body, "");
	assert_false(h.close);
	free(body);
	h1_head_clear(&h);

	shutdown(p.peer, SHUT_WR);
	body = read_response(&p.c, false, &h, &rc);
	assert_int_equal(rc, 0);
	assert_true(h.close);
	assert_string_equal(body, "until close");
	free(body);
	h1_head_clear(&h);
	pair_close(&p);

	/* HTTP/1.0 closes unless it says keep-alive */
	pair_open(&p, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
		      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok");
	body = read_response(&p.c, false, &h, &rc);
	assert_true(h.http10);
	assert_true(h.close);
	free(body);
	h1_head_clear(&h);
	body = read_response(&p.c, false, &h, &rc);
	assert_false(h.close);
	free(body);
	h1_head_clear(&h);
	pair_close(&p);
}

static void head_fails(const char *bytes, int code, bool nothing_expected, const char *why)
{
	struct pair p;
	struct h1_head h;
	struct err err = ERR_INIT;
	bool nothing = !nothing_expected;

	pair_open(&p, bytes);
	shutdown(p.peer, SHUT_WR);
	assert_int_equal(h1_read_head(&p.c, 256, false, NULL, NULL, &h, &nothing, &err), code);
	assert_int_equal(nothing, nothing_expected);
	assert_non_null(strstr(err.msg, why));
	err_clear(&err);
	h1_head_clear(&h);
	pair_close(&p);
}

static void test_malformed_and_cut_off(void **state)
{
	struct pair p;
	struct h1_head h;
	char *body;
	int rc;

	(void)state;
	head_fails("", -EPIPE, true, "connection closed");
	head_fails("HTTP/1.1 200 OK\r\nContent-", -EPIPE, false, "connection closed");
	head_fails("SSH-2.0-OpenSSH\r\n\r\n", -EPROTO, false, "malformed HTTP response");
	head_fails("HTTP/1.1 20 OK\r\n\r\n", -EPROTO, false, "malformed HTTP response");
	head_fails("HTTP/1.1 2000 OK\r\n\r\n", -EPROTO, false, "malformed HTTP response");
	head_fails("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EPROTO, false,
		   "Content-Length '-1'");
	head_fails("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", -EPROTO, false,
		   "Content-Length 'x'");
	{
		char big[600];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
		head_fails(big, -EPROTO, false, "response header too large");
	}

	/* a body cut short */
	pair_open(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
	shutdown(p.peer, SHUT_WR);
	body = read_response(&p.c, false, &h, &rc);
	assert_null(body);
	assert_int_equal(rc, -EPIPE);
	h1_head_clear(&h);
	pair_close(&p);

	/* a chunk size that is not hex */
	pair_open(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
	body = read_response(&p.c, false, &h, &rc);
	assert_null(body);
	assert_int_equal(rc, -EPROTO);
	h1_head_clear(&h);
	pair_close(&p);

	/* a silent peer: the socket's timeout */
	pair_open(&p, "HTTP/1.1 200 OK\r\n");
	h1_set_timeout(p.c.fd, 100);
	body = read_response(&p.c, false, &h, &rc);
	assert_null(body);
	assert_int_equal(rc, -ETIMEDOUT);
	h1_head_clear(&h);
	pair_close(&p);
}

/* `openssl s_server -HTTP` (the file is the whole answer) with a certificate for IP 127.0.0.1, and
 * another certificate. */
static struct {
	char dir[64];
	pid_t pid;
	int port;
	gnutls_certificate_credentials_t own, other;
} srv;

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static gnutls_certificate_credentials_t trust_of(const char *file)
{
	cleanup_free char *path = xasprintf("%s/%s", srv.dir, file);
	gnutls_certificate_credentials_t cred;
	char pem[8192];
	gnutls_datum_t d = {(unsigned char *)pem, 0};
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	d.size = (unsigned)fread(pem, 1, sizeof(pem), f);
	fclose(f);
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return NULL;
	if (gnutls_certificate_set_x509_trust_mem(cred, &d, GNUTLS_X509_FMT_PEM) != 1) {
		gnutls_certificate_free_credentials(cred);
		return NULL;
	}
	return cred;
}

static int tls_up(void **state)
{
	cleanup_free char *cmd = NULL;
	struct err err = ERR_INIT;

	(void)state;
	if (api_gnutls_load(&err) < 0)
		return -1;
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/skiff-h1-tls.XXXXXX");
	if (!mkdtemp(srv.dir))
		return -1;
	cmd = xasprintf(
		"cd %s && printf 'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok' > ok && "
		"for c in own other; do openssl req -x509 -newkey ec "
		"-pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $c.key -out $c.pem -days 1 "
		"-subj /CN=h1-test -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || exit 1; "
		"done",
		srv.dir);
	if (system(cmd) != 0 || !(srv.own = trust_of("own.pem")) ||
	    !(srv.other = trust_of("other.pem")))
		return -1;
	srv.port = free_port();
	srv.pid = fork();
	if (srv.pid < 0)
		return -1;
	if (srv.pid == 0) {
		char accept[32];
		int null = open("/dev/null", O_RDWR);

		snprintf(accept, sizeof(accept), "127.0.0.1:%d", srv.port);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || chdir(srv.dir) < 0 || null < 0 ||
		    dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", "own.pem",
		       "-key", "own.key", "-HTTP", "-quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		int fd = -1;

		if (h1_dial("127.0.0.1", "127.0.0.1", (uint16_t)srv.port, 1000, &fd, &err) == 0) {
			close(fd);
			return 0;
		}
		err_clear(&err);
		usleep(50 * 1000);
	}
	return -1;
}

static int tls_down(void **state)
{
	cleanup_free char *rm = xasprintf("rm -rf %s", srv.dir);

	(void)state;
	if (srv.pid > 0) {
		kill(srv.pid, SIGTERM);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
	if (srv.own)
		gnutls_certificate_free_credentials(srv.own);
	if (srv.other)
		gnutls_certificate_free_credentials(srv.other);
	return srv.dir[0] && system(rm) != 0 ? -1 : 0;
}

/* A TLS connection to the server as @server trusting @trust: 0 and "ok", or -errno. */
static int tls_get(gnutls_certificate_credentials_t trust, const char *server, char **msg)
{
	struct h1_conn c = {.fd = -1};
	struct err err = ERR_INIT;
	struct h1_head h;
	char *body;
	int rc;

	*msg = NULL;
	rc = h1_dial("127.0.0.1", "127.0.0.1", (uint16_t)srv.port, 1000, &c.fd, &err);
	assert_int_equal(rc, 0);
	h1_set_timeout(c.fd, 5000);
	rc = h1_tls_start(&c, trust, server, "the test server", 5000, &err);
	if (rc < 0) {
		*msg = TAKE_PTR(err.msg);
		h1_conn_close(&c);
		return rc;
	}
	assert_int_equal(h1_send(&c, "GET /ok HTTP/1.0\r\n\r\n", 20), 0);
	body = read_response(&c, false, &h, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(h.status, 200);
	*msg = body;
	h1_head_clear(&h);
	h1_conn_close(&c);
	return 0;
}

static void test_tls_verifies_the_server(void **state)
{
	char *msg;

	(void)state;
	if (tls_get(srv.own, "127.0.0.1", &msg) < 0)
		fail_msg("%s", msg);
	assert_string_equal(msg, "ok");
	free(msg);

	assert_int_equal(tls_get(srv.own, "localhost", &msg), -EPROTO);
	assert_string_equal(msg, "TLS handshake with the test server: x509: certificate is not "
				 "valid for localhost");
	free(msg);

	assert_int_equal(tls_get(srv.other, "127.0.0.1", &msg), -EPROTO);
	assert_string_equal(msg, "TLS handshake with the test server: x509: certificate signed "
				 "by unknown authority");
	free(msg);

	/* no trust given: not verified (node agents' self-signed certificates) */
	assert_int_equal(tls_get(NULL, NULL, &msg), 0);
	assert_string_equal(msg, "ok");
	free(msg);
}

static void test_dial_refused_in_go_words(void **state)
{
	struct err err = ERR_INIT;
	int fd = -1, port = free_port();
	cleanup_free char *target = xasprintf("127.0.0.1:%d", port);
	cleanup_free char *want = xasprintf("dial tcp %s: connect: connection refused", target);

	(void)state;
	assert_int_equal(h1_dial("127.0.0.1", target, (uint16_t)port, 1000, &fd, &err),
			 -ECONNREFUSED);
	assert_string_equal(err.msg, want);
	err_clear(&err);
	assert_int_equal(
		h1_dial("no-such-host.invalid", "no-such-host.invalid:1", 1, 1000, &fd, &err),
		-EHOSTUNREACH);
	assert_string_equal(err.msg, "dial tcp: lookup no-such-host.invalid: no such host");
	err_clear(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_framings_and_keep_alive),
		cmocka_unit_test(test_malformed_and_cut_off),
		cmocka_unit_test(test_dial_refused_in_go_words),
		cmocka_unit_test_setup_teardown(test_tls_verifies_the_server, tls_up, tls_down),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
