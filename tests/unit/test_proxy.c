/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection upgrades in the HTTP server (plain and TLS, in-process refused) and the API
 * server's pod proxy end to end: a fake node agent (a TLS server from http.h) behind an
 * in-process API server with a Node pointing at it, clients on raw sockets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/api/auth.h"
#include "cluster/api/http.h"
#include "cluster/api/lib_gnutls.h"
#include "cluster/api/pki.h"
#include "cluster/client/client.h"

#define ADMIN "admin-token"
#define JOIN  "join-token"

static char tmpdir[64];
static char *cert, *key, *ca;

/* Clients on raw sockets. */

static int dial(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* a test that hangs fails instead */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* A client connection, plain or TLS. */
struct cli {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
};

static void cli_open(struct cli *c, uint16_t port, bool tls)
{
	struct err err = ERR_INIT;

	memset(c, 0, sizeof(*c));
	c->fd = dial(port);
	if (!tls)
		return;
	assert_int_equal(api_gnutls_load(&err), 0);
	assert_int_equal(gnutls_certificate_allocate_credentials(&c->cred), 0);
	assert_int_equal(gnutls_init(&c->tls, GNUTLS_CLIENT), 0);
	assert_int_equal(gnutls_set_default_priority(c->tls), 0);
	assert_int_equal(gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred), 0);
	gnutls_transport_set_int2(c->tls, c->fd, c->fd);
	assert_int_equal(gnutls_handshake(c->tls), 0);
}

static void cli_close(struct cli *c)
{
	if (c->tls)
		gnutls_deinit(c->tls);
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	close(c->fd);
}

static void cli_send(struct cli *c, const char *s)
{
	size_t len = strlen(s);

	if (c->tls)
		assert_int_equal(gnutls_record_send(c->tls, s, len), (ssize_t)len);
	else
		assert_int_equal(send(c->fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

static ssize_t cli_recv(struct cli *c, char *buf, size_t len)
{
	if (c->tls) {
		ssize_t n = gnutls_record_recv(c->tls, buf, len);

		return n == GNUTLS_E_PREMATURE_TERMINATION ? 0 : n;
	}
	return recv(c->fd, buf, len, 0);
}

/* Reads until @want appears in what was read (kept in @buf); fails on EOF or timeout. */
static size_t cli_until(struct cli *c, char *buf, size_t cap, size_t have, const char *want)
{
	while (!memmem(buf, have, want, strlen(want))) {
		ssize_t n;

		assert_true(have < cap - 1);
		n = cli_recv(c, buf + have, cap - 1 - have);
		if (n <= 0)
			fail_msg("connection ended before \"%s\"; got \"%.*s\"", want, (int)have,
				 buf);
		have += (size_t)n;
		buf[have] = '\0';
	}
	return have;
}

/* Reads everything up to EOF. */
static char *cli_all(struct cli *c, size_t *ret_len)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = xmalloc(cap);
	ssize_t n;

	while ((n = cli_recv(c, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* An HTTP/1.0 GET (so a stream comes back unchunked, ended by the close): status and body. */
static unsigned get(uint16_t port, const char *target, const char *token, char **ret_body)
{
	struct cli c;
	cleanup_free char *req = xasprintf("GET %s HTTP/1.0\r\nHost: test\r\nAuthorization: "
					   "Bearer %s\r\n\r\n",
					   target, token);
	cleanup_free char *resp = NULL;
	unsigned status = 0;
	size_t len;
	char *body;

	cli_open(&c, port, false);
	cli_send(&c, req);
	resp = cli_all(&c, &len);
	cli_close(&c);
	assert_int_equal(sscanf(resp, "HTTP/1.%*u %u", &status), 1);
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	*ret_body = xstrdup(body + 4);
	return status;
}

/* Upgrades: an echo handler. */

static void echo_upgraded(void *arg, int fd, const char *extra, size_t extra_len)
{
	int *calls = arg;
	char buf[4096];

	__atomic_add_fetch(&calls[fd < 0 ? 1 : 0], 1, __ATOMIC_SEQ_CST);
	if (fd < 0)
		return;
	if (extra_len > 0)
		send(fd, extra, extra_len, MSG_NOSIGNAL);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, -1) < 0)
			break;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		/* the echo is small: one send suffices even on a non-blocking socket */
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	}
}

static int echo_calls[2]; /* upgraded, refused */

static void echo_handler(void *ctx, struct http_request *req)
{
	static const char *const headers[] = {"Upgrade", "test-echo", NULL};

	(void)ctx;
	if (http_header(req, "Upgrade") && strcmp(http_path(req), "/upgrade") == 0) {
		http_respond_upgrade(req, headers, echo_upgraded, echo_calls);
		return;
	}
	/* a request with an Upgrade header that the handler answers as usual */
	http_respond(req, 200, "text/plain", http_method(req), strlen(http_method(req)));
}

static void upgrade_roundtrip(bool tls)
{
	struct http_config cfg = {.address = "127.0.0.1", .handler = echo_handler, .threads = 2};
	struct http_server *srv = NULL;
	struct err err = ERR_INIT;
	char buf[4096];
	size_t n;
	struct cli c;

	if (tls) {
		cfg.cert_pem = cert;
		cfg.key_pem = key;
	}
	echo_calls[0] = echo_calls[1] = 0;
	assert_int_equal(http_server_start(&cfg, &srv, &err), 0);

	/* Upgrade header, no upgrade: the handler answers normally (POST with a body) */
	cli_open(&c, http_server_port(srv), tls);
	cli_send(&c, "POST /plain HTTP/1.1\r\nHost: t\r\nUpgrade: test-echo\r\nConnection: "
		     "Upgrade\r\nContent-Length: 2\r\n\r\nhi");
	n = cli_until(&c, buf, sizeof(buf), 0, "\r\n\r\nPOST");
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	cli_close(&c);

	/* the upgrade; bytes sent right behind the request arrive too */
	cli_open(&c, http_server_port(srv), tls);
	cli_send(&c, "GET /upgrade HTTP/1.1\r\nHost: t\r\nUpgrade: test-echo\r\nConnection: "
		     "Upgrade\r\n\r\n");
	n = cli_until(&c, buf, sizeof(buf), 0, "\r\n\r\n");
	assert_memory_equal(buf, "HTTP/1.1 101", 12);
	assert_non_null(strcasestr(buf, "\r\nUpgrade: test-echo\r\n"));
	assert_non_null(strcasestr(buf, "\r\nConnection: Upgrade\r\n"));
	n = 0;
	cli_send(&c, "hello");
	n = cli_until(&c, buf, sizeof(buf), 0, "hello");
	cli_send(&c, " world");
	n = cli_until(&c, buf, sizeof(buf), n, "hello world");
	assert_int_equal(n, 11);

	/* the server stops under a live session: it ends it and waits for the callback */
	http_server_stop(srv);
	assert_int_equal(cli_recv(&c, buf, sizeof(buf)) <= 0, 1);
	cli_close(&c);
	assert_int_equal(echo_calls[0], 1);
	assert_int_equal(echo_calls[1], 0);
}

static void test_upgrade_hands_a_plain_connection_to_the_callback(void **state)
{
	(void)state;
	upgrade_roundtrip(false);
}

static void test_upgrade_hands_a_tls_connection_to_the_callback(void **state)
{
	(void)state;
	upgrade_roundtrip(true);
}

struct sink_result {
	pthread_mutex_t lock;
	unsigned status;
	char *body;
	size_t len;
	struct http_stream *st;
	bool ended;
};

static void sink_respond(void *arg, unsigned status, const char *ct, char *body, size_t len)
{
	struct sink_result *r = arg;

	(void)ct;
	pthread_mutex_lock(&r->lock);
	r->status = status;
	r->body = body;
	r->len = len;
	r->ended = true;
	pthread_mutex_unlock(&r->lock);
}

static void sink_stream(void *arg, unsigned status, const char *ct, struct http_stream *st)
{
	struct sink_result *r = arg;

	(void)ct;
	pthread_mutex_lock(&r->lock);
	r->status = status;
	r->st = st;
	pthread_mutex_unlock(&r->lock);
}

static int sink_write(void *arg, const char *data, size_t len, size_t max)
{
	struct sink_result *r = arg;

	(void)max;
	pthread_mutex_lock(&r->lock);
	r->body = xrealloc(r->body, r->len + len + 1);
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void sink_end(void *arg)
{
	struct sink_result *r = arg;

	r->ended = true; /* called with the stream locked; read under r->lock after */
}

static const struct http_local_sink sink_ops = {sink_respond, sink_stream, sink_write, sink_end,
						NULL};

static void test_upgrade_of_an_in_process_request_is_refused(void **state)
{
	static const char *const hdrs[] = {"Upgrade", "test-echo", "Connection", "Upgrade", NULL};
	struct sink_result r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct http_local_sink sink = sink_ops;
	struct http_local_request lr = {.method = "GET", .path = "/upgrade", .headers = hdrs};
	struct http_request *req;

	(void)state;
	echo_calls[0] = echo_calls[1] = 0;
	sink.arg = &r;
	req = http_local_new(&lr, &sink);
	echo_handler(NULL, req);
	http_local_finish(req);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "cannot upgrade"));
	assert_int_equal(echo_calls[0], 0);
	assert_int_equal(echo_calls[1], 1);
	free(r.body);
}

/* The fake node agent. */

struct agent {
	pthread_mutex_t lock;
	struct http_server *srv;
	char *auth;             /* last Authorization */
	char *path;             /* last path */
	char *query;            /* last query, "name=value&..." of the parameters we check */
	char *protocols;        /* X-Stream-Protocol-Version values, comma-joined */
	struct http_stream *st; /* the follow stream */
	bool st_closed;
};

static struct agent agent = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct api *api;
static uint16_t api_port_;

static void join_values(char **out, const char *prefix, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *s = xasprintf("%s%s%s%s", *out ? *out : "", *out ? "&" : "", prefix, v[i]);

		free(*out);
		*out = s;
	}
}

static void agent_stream_closed(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&agent.lock);
	agent.st_closed = true;
	pthread_mutex_unlock(&agent.lock);
}

static void agent_handler(void *ctx, struct http_request *req)
{
	static const char *const params[] = {"command", "input",     "stdin",
					     "output",  "stdout",    "tty",
					     "follow",  "tailLines", "timestamps"};
	static const char *const up[] = {"Upgrade", "SPDY/3.1", "X-Stream-Protocol-Version",
					 "v4.channel.k8s.io", NULL};
	const char *auth = http_header(req, "Authorization");
	const char *path = http_path(req);
	char *query = NULL;
	const char *v[16];
	size_t n;

	(void)ctx;
	pthread_mutex_lock(&agent.lock);
	free(agent.auth);
	free(agent.path);
	free(agent.query);
	free(agent.protocols);
	agent.auth = auth ? xstrdup(auth) : NULL;
	agent.path = xstrdup(path);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		cleanup_free char *prefix = xasprintf("%s=", params[i]);

		n = http_query_values(req, params[i], v, 16);
		join_values(&query, prefix, v, n < 16 ? n : 16);
	}
	agent.query = query;
	agent.protocols = NULL;
	n = http_header_values(req, "X-Stream-Protocol-Version", v, 16);
	join_values(&agent.protocols, "", v, n);
	pthread_mutex_unlock(&agent.lock);

	if (strncmp(path, "/exec/", 6) == 0 && http_header(req, "Upgrade")) {
		http_respond_upgrade(req, up, echo_upgraded, echo_calls);
	} else if (strcmp(path, "/containerLogs/default/p4/c") == 0) {
		static const char msg[] = "container \"c\" in pod \"p4\" is waiting to start\n";

		http_respond(req, 400, "text/plain", msg, strlen(msg));
	} else if (strncmp(path, "/containerLogs/", 15) == 0 && http_query(req, "follow")) {
		struct http_stream *st =
			http_respond_stream(req, 200, "text/plain", agent_stream_closed, NULL);

		http_stream_write(st, "a\n", 2, 0);
		pthread_mutex_lock(&agent.lock);
		agent.st = st;
		agent.st_closed = false;
		pthread_mutex_unlock(&agent.lock);
	} else if (strncmp(path, "/containerLogs/", 15) == 0) {
		http_respond(req, 200, "text/plain", "line1\nline2\n", 12);
	} else {
		http_respond(req, 404, "text/plain", "404 page not found\n", 19);
	}
}

static json_t *node(const char *name, uint16_t port)
{
	return json_pack("{s:s, s:s, s:{s:s}, s:{s:[{s:s, s:s}], s:{s:{s:i}}}}", "apiVersion", "v1",
			 "kind", "Node", "metadata", "name", name, "status", "addresses", "type",
			 "InternalIP", "address", "127.0.0.1", "daemonEndpoints", "kubeletEndpoint",
			 "Port", (int)port);
}

static void create_node(struct kc *c, const char *name, uint16_t port)
{
	cleanup_json json_t *n = node(name, port), *got = NULL;
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s/status", name);
	struct err err = ERR_INIT;

	assert_int_equal(kc_request(c, "POST", "/api/v1/nodes", NULL, n, &got, &err), 201);
	/* a create may drop the status: set it as an agent does */
	json_object_set(got, "status", json_object_get(n, "status"));
	if (kc_request(c, "PUT", path, NULL, got, NULL, &err) != 200)
		fail_msg("update node status: %s", err.msg);
}

static void create_pod(struct kc *c, const char *name, const char *node_name,
		       const char *const *containers, const char *default_container)
{
	cleanup_json json_t *pod =
		json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[]}}", "apiVersion", "v1", "kind", "Pod",
			  "metadata", "name", name, "namespace", "default", "spec", "containers");
	json_t *list = json_object_get(json_object_get(pod, "spec"), "containers");
	struct err err = ERR_INIT;

	for (size_t i = 0; containers[i]; i++)
		json_array_append_new(
			list, json_pack("{s:s, s:s}", "name", containers[i], "image", "busybox"));
	if (node_name)
		json_object_set_new(json_object_get(pod, "spec"), "nodeName",
				    json_string(node_name));
	if (default_container)
		json_object_set_new(json_object_get(pod, "metadata"), "annotations",
				    json_pack("{s:s}", "kubectl.kubernetes.io/default-container",
					      default_container));
	if (kc_request(c, "POST", "/api/v1/namespaces/default/pods", NULL, pod, NULL, &err) != 201)
		fail_msg("create pod %s: %s", name, err.msg);
}

static uint16_t closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int proxy_setup(void **state)
{
	static const char *const one[] = {"c", NULL}, *const two[] = {"a", "b", NULL};
	struct http_config hc = {
		.address = "127.0.0.1", .cert_pem = cert, .key_pem = key, .handler = agent_handler};
	struct api_config cfg = {.bind_address = "127.0.0.1",
				 .admin_token = ADMIN,
				 .node_token = JOIN,
				 .threads = 2};
	cleanup_free char *dir = xasprintf("%s/api", tmpdir);
	struct err err = ERR_INIT;
	struct kc *c = NULL;

	(void)state;
	if (http_server_start(&hc, &agent.srv, &err) < 0)
		fail_msg("start agent: %s", err.msg);
	cfg.data_dir = dir;
	if (api_start(&cfg, &api, &err) < 0)
		fail_msg("start API server: %s", err.msg);
	api_port_ = api_port(api);
	if (kc_local(api, &c, &err) < 0)
		fail_msg("client: %s", err.msg);
	create_node(c, "n1", http_server_port(agent.srv));
	create_node(c, "n2", closed_port());
	create_pod(c, "p1", "n1", one, NULL);
	create_pod(c, "p2", NULL, one, NULL);
	create_pod(c, "p3", "n1", two, NULL);
	create_pod(c, "p4", "n1", one, NULL);
	create_pod(c, "p5", "n1", two, "b");
	create_pod(c, "p6", "n2", one, NULL);
	kc_free(c);
	return 0;
}

static int proxy_teardown(void **state)
{
	(void)state;
	api_stop(api);
	http_server_stop(agent.srv);
	free(agent.auth);
	free(agent.path);
	free(agent.query);
	free(agent.protocols);
	return 0;
}

static char *agent_field(char **field)
{
	char *v;

	pthread_mutex_lock(&agent.lock);
	v = *field ? xstrdup(*field) : NULL;
	pthread_mutex_unlock(&agent.lock);
	return v;
}

static void test_proxy_relays_a_log_with_the_kubelet_client_token(void **state)
{
	cleanup_free char *body = NULL, *auth = NULL, *path = NULL, *query = NULL;
	cleanup_free char *token = api_kubelet_client_credential(JOIN);
	cleanup_free char *want = xasprintf("Bearer %s", token);

	(void)state;
	assert_int_equal(get(api_port_,
			     "/api/v1/namespaces/default/pods/p1/log?tailLines=5&timestamps=true",
			     ADMIN, &body),
			 200);
	assert_string_equal(body, "line1\nline2\n");
	auth = agent_field(&agent.auth);
	path = agent_field(&agent.path);
	query = agent_field(&agent.query);
	assert_string_equal(auth, want);
	assert_string_equal(path, "/containerLogs/default/p1/c");
	assert_string_equal(query, "tailLines=5&timestamps=true");
}

static void test_proxy_picks_the_default_container_annotation(void **state)
{
	cleanup_free char *body = NULL, *path = NULL;

	(void)state;
	assert_int_equal(get(api_port_, "/api/v1/namespaces/default/pods/p5/log", ADMIN, &body),
			 200);
	path = agent_field(&agent.path);
	assert_string_equal(path, "/containerLogs/default/p5/b");
}

static void test_proxy_follows_a_log_until_the_client_leaves(void **state)
{
	struct cli c;
	char buf[4096];
	size_t n;
	struct http_stream *st = NULL;
	bool closed = false;

	(void)state;
	pthread_mutex_lock(&agent.lock);
	agent.st = NULL;
	pthread_mutex_unlock(&agent.lock);
	cli_open(&c, api_port_, false);
	cli_send(&c, "GET /api/v1/namespaces/default/pods/p1/log?follow=true HTTP/1.0\r\n"
		     "Authorization: Bearer " ADMIN "\r\n\r\n");
	n = cli_until(&c, buf, sizeof(buf), 0, "\r\n\r\na\n");
	assert_memory_equal(buf, "HTTP/1.1 200", 12);
	pthread_mutex_lock(&agent.lock);
	st = agent.st;
	pthread_mutex_unlock(&agent.lock);
	assert_non_null(st);
	/* a line written later arrives while the stream stays open */
	assert_int_equal(http_stream_write(st, "b\n", 2, 0), 0);
	cli_until(&c, buf, sizeof(buf), n, "a\nb\n");
	/* the client leaves: the agent's response ends too */
	cli_close(&c);
	for (int i = 0; i < 500 && !closed; i++) {
		usleep(10000);
		pthread_mutex_lock(&agent.lock);
		closed = agent.st_closed;
		pthread_mutex_unlock(&agent.lock);
	}
	assert_true(closed);
	assert_int_equal(http_stream_write(st, "c\n", 2, 0), -EPIPE);
	http_stream_close(st);
}

static void expect(const char *target, const char *token, unsigned code, const char *msg)
{
	cleanup_free char *body = NULL;
	cleanup_json json_t *doc = NULL;
	const char *m;

	assert_int_equal(get(api_port_, target, token, &body), code);
	doc = json_loads(body, 0, NULL);
	if (!doc)
		fail_msg("%s: not a Status: %s", target, body);
	m = json_string_value(json_object_get(doc, "message"));
	if (!m || !strstr(m, msg))
		fail_msg("%s: message \"%s\", expected \"%s\"", target, m ? m : "", msg);
	assert_int_equal(json_integer_value(json_object_get(doc, "code")), code);
}

static void test_proxy_refuses_bad_requests_as_upstream_words_them(void **state)
{
	cleanup_free char *node_token = api_node_credential(JOIN, "n1");
	cleanup_free char *refused = NULL;
	struct err err = ERR_INIT;
	cleanup_json json_t *n2 = NULL;
	struct kc *c = NULL;

	(void)state;
	expect("/api/v1/namespaces/default/pods/nope/log", ADMIN, 404, "pods \"nope\" not found");
	expect("/api/v1/namespaces/default/pods/p2/log", ADMIN, 400,
	       "pod p2 does not have a host assigned");
	expect("/api/v1/namespaces/default/pods/p3/log", ADMIN, 400,
	       "a container name must be specified for pod p3, choose one of: [a b]");
	expect("/api/v1/namespaces/default/pods/p1/log?container=zz", ADMIN, 400,
	       "container zz is not valid for pod p1");
	expect("/api/v1/namespaces/default/pods/p1/log?tailLines=-1", ADMIN, 422,
	       "tailLines: Invalid value: -1");
	expect("/api/v1/namespaces/default/pods/p1/log?follow=maybe", ADMIN, 400,
	       "query parameter follow");
	expect("/api/v1/namespaces/default/pods/p1/exec?command=ls&stdout=true", ADMIN, 400,
	       "Upgrade request required");
	expect("/api/v1/namespaces/default/pods/p1/log", node_token, 403, "forbidden");
	/* the agent's own refusal, relayed */
	expect("/api/v1/namespaces/default/pods/p4/log", ADMIN, 400,
	       "container \"c\" in pod \"p4\" is waiting to start");
	/* an unreachable agent */
	assert_int_equal(kc_local(api, &c, &err), 0);
	assert_int_equal(kc_request(c, "GET", "/api/v1/nodes/n2", NULL, NULL, &n2, &err), 200);
	kc_free(c);
	refused = xasprintf("dial tcp 127.0.0.1:%d: connect: connection refused",
			    (int)json_integer_value(json_object_get(
				    json_object_get(json_object_get(json_object_get(n2, "status"),
								    "daemonEndpoints"),
						    "kubeletEndpoint"),
				    "Port")));
	expect("/api/v1/namespaces/default/pods/p6/log", ADMIN, 502, refused);
}

static void test_proxy_relays_an_exec_upgrade_both_ways(void **state)
{
	struct cli c;
	char buf[4096];
	size_t n;
	cleanup_free char *path = NULL, *query = NULL, *protocols = NULL;

	(void)state;
	cli_open(&c, api_port_, false);
	cli_send(&c, "POST /api/v1/namespaces/default/pods/p1/exec?command=sh&command=-c&"
		     "command=echo%20hi&stdin=true&stdout=true&tty=true HTTP/1.1\r\n"
		     "Host: test\r\nAuthorization: Bearer " ADMIN "\r\n"
		     "Upgrade: SPDY/3.1\r\nConnection: Upgrade\r\n"
		     "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
		     "X-Stream-Protocol-Version: channel.k8s.io\r\nContent-Length: 0\r\n\r\n");
	n = cli_until(&c, buf, sizeof(buf), 0, "\r\n\r\n");
	assert_memory_equal(buf, "HTTP/1.1 101", 12);
	assert_non_null(strcasestr(buf, "\r\nUpgrade: SPDY/3.1\r\n"));
	assert_non_null(strcasestr(buf, "\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"));
	n = 0;
	cli_send(&c, "ping");
	n = cli_until(&c, buf, sizeof(buf), 0, "ping");
	cli_send(&c, "pong");
	n = cli_until(&c, buf, sizeof(buf), n, "pingpong");
	assert_int_equal(n, 8);
	cli_close(&c);

	path = agent_field(&agent.path);
	query = agent_field(&agent.query);
	protocols = agent_field(&agent.protocols);
	assert_string_equal(path, "/exec/default/p1/c");
	assert_string_equal(query, "command=sh&command=-c&command=echo hi&input=1&stdin=1&"
				   "output=1&stdout=1&tty=1");
	assert_string_equal(protocols, "v4.channel.k8s.io&channel.k8s.io");
}

static void test_proxy_serves_an_in_process_log_request(void **state)
{
	struct sink_result r = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct api_local_sink sink = {sink_respond, sink_stream, sink_write, sink_end, &r};
	struct api_local_request lr = {.method = "GET",
				       .target = "/api/v1/namespaces/default/pods/p1/log"};
	bool ended = false;

	(void)state;
	assert_int_equal(api_local_request(api, &lr, &sink), 0);
	for (int i = 0; i < 500 && !ended; i++) {
		pthread_mutex_lock(&r.lock);
		ended = r.ended;
		pthread_mutex_unlock(&r.lock);
		if (!ended)
			usleep(10000);
	}
	assert_true(ended);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "line1\nline2\n");
	api_local_release(r.st);
	free(r.body);
}

static int group_setup(void **state)
{
	static const char *const dns[] = {"localhost", NULL}, *const ips[] = {"127.0.0.1", NULL};
	cleanup_free char *certdir = NULL;
	struct err err = ERR_INIT;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skiff-test-proxy-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	certdir = xasprintf("%s/certs", tmpdir);
	if (pki_ensure(certdir, dns, ips, &err) < 0 ||
	    pki_load(certdir, &cert, &key, &ca, &err) < 0) {
		fail_msg("certificates: %s", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	free(cert);
	free(key);
	free(ca);
	fs_remove_tree(AT_FDCWD, tmpdir, &err);
	err_clear(&err);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upgrade_hands_a_plain_connection_to_the_callback),
		cmocka_unit_test(test_upgrade_hands_a_tls_connection_to_the_callback),
		cmocka_unit_test(test_upgrade_of_an_in_process_request_is_refused),
		cmocka_unit_test_setup(test_proxy_relays_a_log_with_the_kubelet_client_token,
				       proxy_setup),
		cmocka_unit_test(test_proxy_picks_the_default_container_annotation),
		cmocka_unit_test(test_proxy_follows_a_log_until_the_client_leaves),
		cmocka_unit_test(test_proxy_refuses_bad_requests_as_upstream_words_them),
		cmocka_unit_test(test_proxy_relays_an_exec_upgrade_both_ways),
		cmocka_unit_test_teardown(test_proxy_serves_an_in_process_log_request,
					  proxy_teardown),
	};

	return cmocka_run_group_tests_name("proxy", tests, group_setup, group_teardown);
}
