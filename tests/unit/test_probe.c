/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of probes (cluster/agent/probe.c): HTTP and TCP probes against a small
 * server thread on 127.0.0.1 (status codes, redirects, timeouts, refused connections,
 * headers), HTTPS probes against `openssl s_server` with a self-signed certificate,
 * parsing with defaults and validation errors, and the prober's thresholds, initial
 * delay, startup gating, isolation of slow probes and removal while running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "cluster/agent/probe.h"

/* The test server: answers by path, remembers the last request. */
static struct {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t mu;
	char last[4096];
	bool stop;
} srv = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER};

/* The port of the TLS server (openssl s_server) while the HTTPS test runs. */
static int tls_port;

static void respond(int c, const char *path)
{
	char out[512];
	int n;

	if (!strcmp(path, "/ok") || !strcmp(path, "/"))
		n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	else if (!strcmp(path, "/fail"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
	else if (!strcmp(path, "/redir"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 301 Moved\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n");
	else if (!strcmp(path, "/redir-abs"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:%d/fail\r\n"
			     "Content-Length: 0\r\n\r\n",
			     srv.port);
	else if (!strcmp(path, "/redir-other"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 302 Found\r\nLocation: http://other.invalid/x\r\n"
			     "Content-Length: 5\r\n\r\nmoved");
	else if (!strcmp(path, "/loop"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 307 Again\r\nLocation: loop\r\nContent-Length: 0\r\n\r\n");
	else if (!strcmp(path, "/redir-https"))
		n = snprintf(out, sizeof(out),
			     "HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:%d/ok\r\n"
			     "Content-Length: 0\r\n\r\n",
			     tls_port);
	else if (!strcmp(path, "/garbage"))
		n = snprintf(out, sizeof(out), "SSH-2.0-OpenSSH\r\n\r\n");
	else if (!strcmp(path, "/slow")) {
		usleep(400 * 1000);
		n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	} else
		n = snprintf(out, sizeof(out), "HTTP/1.0 404 Not Found\r\n\r\n");
	if (write(c, out, (size_t)n) < 0)
		return;
}

static void *serve(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&srv.stop, __ATOMIC_ACQUIRE)) {
		char req[4096], path[256] = "";
		size_t len = 0;
		int c = accept(srv.fd, NULL, NULL);

		if (c < 0)
			continue;
		while (len < sizeof(req) - 1) {
			ssize_t k = read(c, req + len, sizeof(req) - 1 - len);

			if (k <= 0)
				break;
			len += (size_t)k;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n") || req[0] == 0x16)
				break;
		}
		req[len] = '\0';
		pthread_mutex_lock(&srv.mu);
		memcpy(srv.last, req, len + 1);
		pthread_mutex_unlock(&srv.mu);
		if (req[0] == 0x16) {
			/* a TLS ClientHello: answered as Go's HTTP server answers one */
			static const char tls[] = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an "
						  "HTTP request to an HTTPS server.\n";

			if (write(c, tls, sizeof(tls) - 1) < 0)
				perror("write");
		} else if (sscanf(req, "GET %255s ", path) == 1) {
			path[strcspn(path, "?")] = '\0';
			respond(c, path);
		}
		close(c);
	}
	return NULL;
}

static int server_up(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	(void)state;
	srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(srv.fd, 16) < 0 || getsockname(srv.fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	srv.port = ntohs(a.sin_port);
	return pthread_create(&srv.thread, NULL, serve, NULL) ? -1 : 0;
}

static int server_down(void **state)
{
	char *msg = NULL;

	(void)state;
	__atomic_store_n(&srv.stop, true, __ATOMIC_RELEASE);
	probe_tcp("127.0.0.1", srv.port, 1000, &msg); /* wakes accept() */
	free(msg);
	pthread_join(srv.thread, NULL);
	close(srv.fd);
	return 0;
}

/* A port nothing listens on. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static enum probe_result get(const char *path, int timeout_ms, char **msg)
{
	struct probe_http_req req = {.host = "127.0.0.1", .port = srv.port, .path = path};

	return probe_http(&req, timeout_ms, msg);
}

static void test_probe_http_succeeds_on_2xx_and_fails_on_5xx(void **state)
{
	char *msg = NULL;

	(void)state;
	assert_int_equal(get("/ok", 1000, &msg), PROBE_SUCCESS);
	free(msg);
	assert_int_equal(get("", 1000, &msg), PROBE_SUCCESS);
	free(msg);
	assert_int_equal(get("/fail", 1000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, "HTTP probe failed with statuscode: 500");
	free(msg);
	assert_int_equal(get("/missing", 1000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, "HTTP probe failed with statuscode: 404");
	free(msg);
	assert_int_equal(get("/garbage", 1000, &msg), PROBE_FAILURE);
	assert_non_null(strstr(msg, "malformed HTTP response \"SSH-2.0-OpenSSH\""));
	free(msg);
}

static void test_probe_http_sends_kubelet_headers(void **state)
{
	struct probe_header h[] = {{"X-Test", "1"}};
	struct probe_header ua[] = {{"user-agent", "mine"}, {"Host", "example.com"}};
	struct probe_http_req req = {.host = "127.0.0.1",
				     .port = srv.port,
				     .path = "/ok?a=b c",
				     .headers = h,
				     .n_headers = 1};
	cleanup_free char *host = xasprintf("Host: 127.0.0.1:%d\r\n", srv.port);
	char *msg = NULL;

	(void)state;
	assert_int_equal(probe_http(&req, 1000, &msg), PROBE_SUCCESS);
	free(msg);
	pthread_mutex_lock(&srv.mu);
	assert_non_null(strstr(srv.last, "GET /ok?a=b%20c HTTP/1.1\r\n"));
	assert_non_null(strstr(srv.last, host));
	assert_non_null(strstr(srv.last, "User-Agent: kube-probe/1.32\r\n"));
	assert_non_null(strstr(srv.last, "Accept: */*\r\n"));
	assert_non_null(strstr(srv.last, "X-Test: 1\r\n"));
	pthread_mutex_unlock(&srv.mu);

	req.headers = ua;
	req.n_headers = 2;
	req.path = "/ok";
	assert_int_equal(probe_http(&req, 1000, &msg), PROBE_SUCCESS);
	free(msg);
	pthread_mutex_lock(&srv.mu);
	assert_null(strstr(srv.last, "kube-probe"));
	assert_non_null(strstr(srv.last, "user-agent: mine\r\n"));
	assert_non_null(strstr(srv.last, "Host: example.com\r\n"));
	assert_null(strstr(srv.last, host));
	pthread_mutex_unlock(&srv.mu);
}

static void test_probe_http_follows_redirects_to_the_same_host_only(void **state)
{
	cleanup_free char *loop = xasprintf("Get \"http://127.0.0.1:%d/loop\": stopped after 10 "
					    "redirects",
					    srv.port);
	char *msg = NULL;

	(void)state;
	assert_int_equal(get("/redir", 1000, &msg), PROBE_SUCCESS);
	assert_string_equal(msg, "ok");
	free(msg);
	assert_int_equal(get("/redir-abs", 1000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, "HTTP probe failed with statuscode: 500");
	free(msg);
	assert_int_equal(get("/redir-other", 1000, &msg), PROBE_SUCCESS);
	assert_string_equal(msg, "Probe terminated redirects, Response body: moved");
	free(msg);
	assert_int_equal(get("/loop", 2000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, loop);
	free(msg);
}

static void test_probe_http_times_out_and_reports_refused(void **state)
{
	int port = closed_port();
	cleanup_free char *refused = xasprintf("Get \"http://127.0.0.1:%d/x\": dial tcp "
					       "127.0.0.1:%d: connect: connection refused",
					       port, port);
	cleanup_free char *slow = xasprintf("Get \"http://127.0.0.1:%d/slow\": context deadline "
					    "exceeded (Client.Timeout exceeded while awaiting "
					    "headers)",
					    srv.port);
	struct probe_http_req req = {.host = "127.0.0.1", .port = port, .path = "/x"};
	int64_t t0 = clock_mono_ms();
	char *msg = NULL;

	(void)state;
	assert_int_equal(get("/slow", 150, &msg), PROBE_FAILURE);
	assert_true(clock_mono_ms() - t0 < 390);
	assert_string_equal(msg, slow);
	free(msg);
	assert_int_equal(probe_http(&req, 1000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, refused);
	free(msg);
	req.host = NULL;
	assert_int_equal(probe_http(&req, 1000, &msg), PROBE_UNKNOWN);
	free(msg);
}

/* `openssl s_server` for the HTTPS test: its directory and pid. */
static struct {
	char dir[64];
	pid_t pid;
} tls_srv;

/*
 * Setup: starts `openssl s_server` on a free port serving the files of a new directory
 * (one, "ok") with a fresh self-signed certificate. Its teardown runs even when the test
 * fails, and the server dies with this process.
 */
static int tls_server_up(void **state)
{
	cleanup_free char *cmd = NULL;
	char *msg = NULL;

	(void)state;
	snprintf(tls_srv.dir, sizeof(tls_srv.dir), "/tmp/skiff-probe-tls.XXXXXX");
	if (!mkdtemp(tls_srv.dir))
		return -1;
	cmd = xasprintf("cd %s && printf ok > ok && openssl req -x509 -newkey ec -pkeyopt "
			"ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem -days 1 "
			"-subj /CN=probe-test >/dev/null 2>&1",
			tls_srv.dir);
	if (system(cmd) != 0)
		return -1;
	tls_port = closed_port();
	tls_srv.pid = fork();
	if (tls_srv.pid < 0)
		return -1;
	if (tls_srv.pid == 0) {
		char accept[32];
		int null = open("/dev/null", O_RDWR);

		snprintf(accept, sizeof(accept), "127.0.0.1:%d", tls_port);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || chdir(tls_srv.dir) < 0 || null < 0 ||
		    dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", "cert.pem",
		       "-key", "key.pem", "-WWW", "-quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		enum probe_result r = probe_tcp("127.0.0.1", tls_port, 1000, &msg);

		free(msg);
		if (r == PROBE_SUCCESS)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

static int tls_server_down(void **state)
{
	cleanup_free char *rm = xasprintf("rm -rf %s", tls_srv.dir);

	(void)state;
	if (tls_srv.pid > 0) {
		kill(tls_srv.pid, SIGTERM);
		waitpid(tls_srv.pid, NULL, 0);
		tls_srv.pid = 0;
	}
	return tls_srv.dir[0] && system(rm) != 0 ? -1 : 0;
}

static void test_probe_https_skips_verification_follows_redirects_and_reports_tls(void **state)
{
	struct probe_http_req req = {.host = "127.0.0.1", .path = "/ok", .https = true};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cleanup_free char *plain = NULL, *slow = NULL;
	cleanup_close int mute = -1;
	char *msg = NULL;

	(void)state;
	/* a self-signed certificate: kubelet does not verify the pod's */
	req.port = tls_port;
	assert_int_equal(probe_http(&req, 5000, &msg), PROBE_SUCCESS);
	assert_string_equal(msg, "ok");
	free(msg);
	/* http -> https on the same host is followed */
	assert_int_equal(get("/redir-https", 5000, &msg), PROBE_SUCCESS);
	assert_string_equal(msg, "ok");
	free(msg);
	/* TLS to a plain HTTP server, which answers the ClientHello with a 400 */
	req.port = srv.port;
	plain = xasprintf("Get \"https://127.0.0.1:%d/ok\": http: server gave HTTP response to "
			  "HTTPS client",
			  srv.port);
	assert_int_equal(probe_http(&req, 5000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, plain);
	free(msg);
	/* a server that accepts but never answers the handshake */
	mute = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(mute >= 0);
	assert_int_equal(bind(mute, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(mute, 4), 0);
	assert_int_equal(getsockname(mute, (struct sockaddr *)&a, &al), 0);
	req.port = ntohs(a.sin_port);
	req.path = "/";
	slow = xasprintf("Get \"https://127.0.0.1:%d/\": net/http: TLS handshake timeout",
			 req.port);
	assert_int_equal(probe_http(&req, 300, &msg), PROBE_FAILURE);
	assert_string_equal(msg, slow);
	free(msg);
}

static void test_probe_tcp_connects_or_reports_refused(void **state)
{
	int port = closed_port();
	cleanup_free char *refused =
		xasprintf("dial tcp 127.0.0.1:%d: connect: connection refused", port);
	char *msg = NULL;

	(void)state;
	assert_int_equal(probe_tcp("127.0.0.1", srv.port, 1000, &msg), PROBE_SUCCESS);
	free(msg);
	assert_int_equal(probe_tcp("127.0.0.1", port, 1000, &msg), PROBE_FAILURE);
	assert_string_equal(msg, refused);
	free(msg);
	assert_int_equal(probe_tcp("::1", port, 1000, &msg), PROBE_FAILURE);
	assert_non_null(strstr(msg, "dial tcp [::1]:"));
	free(msg);
}

static json_t *js(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, je.text);
	return j;
}

static void test_probe_parse_applies_upstream_defaults(void **state)
{
	cleanup_json json_t *c =
		js("{\"name\":\"web\",\"ports\":[{\"name\":\"http\","
		   "\"containerPort\":8080}],"
		   "\"livenessProbe\":{\"httpGet\":{\"path\":\"/h\",\"port\":"
		   "\"http\",\"httpHeaders\":[{\"name\":\"X-A\",\"value\":\"b\"}]}},"
		   "\"readinessProbe\":{\"tcpSocket\":{\"port\":81},"
		   "\"periodSeconds\":3,\"timeoutSeconds\":0,"
		   "\"successThreshold\":2,\"failureThreshold\":5,"
		   "\"initialDelaySeconds\":7},"
		   "\"startupProbe\":{\"exec\":{\"command\":[\"cat\",\"/ok\"]},"
		   "\"terminationGracePeriodSeconds\":4}}");
	struct probe_spec s = {0};
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(probe_parse(json_object_get(c, "livenessProbe"), c, &s, &err), 0);
	assert_int_equal(s.action.type, PROBE_ACTION_HTTP);
	assert_int_equal(s.action.port, 8080);
	assert_string_equal(s.action.path, "/h");
	assert_null(s.action.host);
	assert_false(s.action.https);
	assert_int_equal(s.action.n_headers, 1);
	assert_string_equal(s.action.headers[0].name, "X-A");
	assert_int_equal(s.period_ms, 10000);
	assert_int_equal(s.timeout_ms, 1000);
	assert_int_equal(s.success_threshold, 1);
	assert_int_equal(s.failure_threshold, 3);
	assert_int_equal(s.initial_delay_ms, 0);
	assert_int_equal(s.termination_grace_period_seconds, -1);
	probe_spec_done(&s);

	assert_int_equal(probe_parse(json_object_get(c, "readinessProbe"), c, &s, &err), 0);
	assert_int_equal(s.action.type, PROBE_ACTION_TCP);
	assert_int_equal(s.action.port, 81);
	assert_int_equal(s.period_ms, 3000);
	assert_int_equal(s.timeout_ms, 1000);
	assert_int_equal(s.success_threshold, 2);
	assert_int_equal(s.failure_threshold, 5);
	assert_int_equal(s.initial_delay_ms, 7000);
	probe_spec_done(&s);

	assert_int_equal(probe_parse(json_object_get(c, "startupProbe"), c, &s, &err), 0);
	assert_int_equal(s.action.type, PROBE_ACTION_EXEC);
	assert_string_equal(s.action.command[1], "/ok");
	assert_int_equal(s.termination_grace_period_seconds, 4);
	probe_spec_done(&s);
}

static const struct parse_case {
	const char *probe;
	const char *error;
} parse_cases[] = {
	{"{}", "container 'web': livenessProbe: must specify a handler type"},
	{"{\"exec\":{\"command\":[\"x\"]},\"tcpSocket\":{\"port\":1}}",
	 "container 'web': livenessProbe: may not specify more than 1 handler type"},
	{"{\"exec\":{}}", "container 'web': livenessProbe.exec.command: Required value"},
	{"{\"exec\":{\"command\":[]}}",
	 "container 'web': livenessProbe.exec.command: Required value"},
	{"{\"exec\":{\"command\":\"ls\"}}",
	 "container 'web': livenessProbe.exec.command: expected"},
	{"{\"tcpSocket\":{\"port\":1},\"periodSeconds\":-1}",
	 "container 'web': livenessProbe.periodSeconds: Invalid value: -1: must be greater than or "
	 "equal to 0"},
	{"{\"tcpSocket\":{\"port\":1},\"timeoutSeconds\":\"1\"}",
	 "container 'web': livenessProbe.timeoutSeconds: expected integer"},
	{"{\"tcpSocket\":{\"port\":1},\"successThreshold\":2}",
	 "container 'web': livenessProbe.successThreshold: Invalid value: 2: must be 1"},
	{"{\"tcpSocket\":{\"port\":1},\"terminationGracePeriodSeconds\":0}",
	 "container 'web': livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be "
	 "greater than 0"},
	{"{\"tcpSocket\":{}}", "container 'web': livenessProbe.tcpSocket.port: Required value"},
	{"{\"tcpSocket\":{\"port\":70000}}",
	 "container 'web': livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 "
	 "and 65535, inclusive"},
	{"{\"httpGet\":{\"port\":\"metrics\"}}",
	 "container 'web': livenessProbe.httpGet.port: no container port named 'metrics'"},
	{"{\"httpGet\":{\"port\":\"Bad_Name\"}}",
	 "container 'web': livenessProbe.httpGet.port: Invalid value: \"Bad_Name\": must be a port "
	 "name"},
	{"{\"httpGet\":{\"port\":80,\"scheme\":\"FTP\"}}",
	 "container 'web': livenessProbe.httpGet.scheme: Unsupported value: \"FTP\""},
	{"{\"httpGet\":{\"port\":80,\"path\":\"/a\\r\\nX: y\"}}",
	 "container 'web': livenessProbe.httpGet.path: must not contain line breaks"},
	{"{\"httpGet\":{\"port\":80,\"httpHeaders\":[{\"name\":\"a b\",\"value\":\"\"}]}}",
	 "container 'web': livenessProbe.httpGet.httpHeaders[0].name: Invalid value: \"a b\""},
	{"{\"sleep\":{\"seconds\":1}}", "container 'web': livenessProbe.sleep: Forbidden"},
	{"[]", "container 'web': probe: expected object"},
};

static void test_probe_parse_rejects_bad_probes_naming_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		cleanup_json json_t *c = js("{\"name\":\"web\"}");
		struct probe_spec s = {0};
		struct err err = ERR_INIT;
		json_t *p = js(parse_cases[i].probe);

		if (json_is_object(p))
			json_object_set(c, "livenessProbe", p);
		assert_int_equal(probe_parse(p, c, &s, &err), -EINVAL);
		if (strncmp(err.msg, parse_cases[i].error, strlen(parse_cases[i].error)))
			fail_msg("case %zu: got '%s', want '%s'", i, err.msg, parse_cases[i].error);
		err_clear(&err);
		json_decref(p);
	}
}

static void test_probe_action_parse_reads_lifecycle_handlers(void **state)
{
	cleanup_json json_t *c = js("{\"name\":\"web\"}");
	cleanup_json json_t *sleep = js("{\"sleep\":{\"seconds\":0}}");
	cleanup_json json_t *grpc = js("{\"grpc\":{\"port\":9}}");
	cleanup_json json_t *tcp = js("{\"tcpSocket\":{\"port\":9}}");
	struct probe_action a = {0};
	struct err err = ERR_INIT;
	char *msg = NULL;

	(void)state;
	assert_int_equal(probe_action_parse(sleep, "lifecycle.preStop", c, &a, &err), 0);
	assert_int_equal(a.type, PROBE_ACTION_SLEEP);
	assert_int_equal(probe_action_run(&a, "127.0.0.1", NULL, "k", 1000, true, &msg),
			 PROBE_SUCCESS);
	free(msg);
	probe_action_done(&a);
	assert_int_equal(probe_action_parse(grpc, "lifecycle.preStop", c, &a, &err), -EINVAL);
	assert_string_equal(err.msg, "container 'web': lifecycle.preStop.grpc: Forbidden: not "
				     "supported here");
	err_clear(&err);
	assert_int_equal(probe_action_parse(tcp, "lifecycle.postStart", c, &a, &err), 0);
	assert_int_equal(probe_action_run(&a, "127.0.0.1", NULL, "k", 1000, true, &msg),
			 PROBE_FAILURE);
	free(msg);
	probe_action_done(&a);
}

/* The prober, with an exec that the tests steer by command name. */
struct log_ev {
	char key[32];
	enum probe_kind kind;
	bool ok;
	char msg[128];
	int64_t at;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int exit_code[4]; /* by argv[0]: "a", "b", "c", "d" */
	int sleep_ms[4];
	int calls[4];
	int in_exec[4];
	struct log_ev ev[64];
	int nev;
	int failed;
	bool removed;
	bool late_callback;
} ctl = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int t_exec(void *arg, const char *key, char *const *argv, int timeout_ms, int *ret_exit_code,
		  char **ret_output, struct err *err)
{
	int i = argv[0][0] - 'a', sleep_ms;

	(void)arg;
	(void)key;
	(void)err;
	pthread_mutex_lock(&ctl.mu);
	ctl.calls[i]++;
	ctl.in_exec[i]++;
	sleep_ms = ctl.sleep_ms[i];
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.mu);
	if (sleep_ms)
		usleep((useconds_t)sleep_ms * 1000);
	pthread_mutex_lock(&ctl.mu);
	ctl.in_exec[i]--;
	*ret_exit_code = ctl.exit_code[i];
	pthread_mutex_unlock(&ctl.mu);
	if (sleep_ms > timeout_ms)
		return -ETIMEDOUT;
	*ret_output = xasprintf("out-%s", argv[0]);
	return 0;
}

static void t_changed(void *arg, const char *key, enum probe_kind kind, bool ok, const char *msg)
{
	(void)arg;
	pthread_mutex_lock(&ctl.mu);
	if (ctl.removed)
		ctl.late_callback = true;
	if (ctl.nev < 64) {
		struct log_ev *e = &ctl.ev[ctl.nev++];

		snprintf(e->key, sizeof(e->key), "%s", key);
		e->kind = kind;
		e->ok = ok;
		snprintf(e->msg, sizeof(e->msg), "%s", msg);
		e->at = clock_mono_ms();
	}
	pthread_cond_broadcast(&ctl.cond);
	pthread_mutex_unlock(&ctl.mu);
}

static void t_failed(void *arg, const char *key, enum probe_kind kind, const char *msg)
{
	(void)arg;
	(void)key;
	(void)kind;
	(void)msg;
	pthread_mutex_lock(&ctl.mu);
	if (ctl.removed)
		ctl.late_callback = true;
	ctl.failed++;
	pthread_mutex_unlock(&ctl.mu);
}

static const struct prober_ops t_ops = {
	.exec = t_exec,
	.changed = t_changed,
	.failed = t_failed,
};

static int reset_ctl(void **state)
{
	(void)state;
	pthread_mutex_lock(&ctl.mu);
	memset(ctl.exit_code, 0, sizeof(ctl.exit_code));
	memset(ctl.sleep_ms, 0, sizeof(ctl.sleep_ms));
	memset(ctl.calls, 0, sizeof(ctl.calls));
	ctl.nev = 0;
	ctl.failed = 0;
	ctl.removed = false;
	ctl.late_callback = false;
	pthread_mutex_unlock(&ctl.mu);
	return 0;
}

/* Waits (up to 3 s) for the n-th change event; returns it. */
static struct log_ev wait_event(int n)
{
	struct timespec ts;
	struct log_ev e;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&ctl.mu);
	while (ctl.nev < n)
		if (pthread_cond_timedwait(&ctl.cond, &ctl.mu, &ts) == ETIMEDOUT)
			break;
	if (ctl.nev < n) {
		pthread_mutex_unlock(&ctl.mu);
		fail_msg("timed out waiting for change event %d", n);
	}
	e = ctl.ev[n - 1];
	pthread_mutex_unlock(&ctl.mu);
	return e;
}

static int calls(int i)
{
	int n;

	pthread_mutex_lock(&ctl.mu);
	n = ctl.calls[i];
	pthread_mutex_unlock(&ctl.mu);
	return n;
}

static void set_exit(int i, int code)
{
	pthread_mutex_lock(&ctl.mu);
	ctl.exit_code[i] = code;
	pthread_mutex_unlock(&ctl.mu);
}

static struct probe_spec exec_spec(const char *cmd, int64_t period_ms, int succ, int fail)
{
	struct probe_spec s = {
		.action = {.type = PROBE_ACTION_EXEC},
		.period_ms = period_ms,
		.timeout_ms = 1000,
		.success_threshold = succ,
		.failure_threshold = fail,
		.termination_grace_period_seconds = -1,
	};

	s.action.command = xcalloc(2, sizeof(char *));
	s.action.command[0] = xstrdup(cmd);
	return s;
}

static void test_prober_applies_thresholds(void **state)
{
	struct probe_spec s = exec_spec("a", 30, 2, 3);
	struct prober *p = NULL;
	struct err err = ERR_INIT;
	struct log_ev e;
	int before;

	(void)state;
	assert_int_equal(prober_new(&t_ops, &p, &err), 0);
	prober_add(p, "u1/web", PROBE_READINESS, &s, "10.42.0.5", clock_mono_ms());
	assert_int_equal(prober_result(p, "u1/web", PROBE_READINESS), PROBE_FAILURE);
	assert_int_equal(prober_result(p, "u1/web", PROBE_LIVENESS), PROBE_UNKNOWN);
	e = wait_event(1);
	assert_string_equal(e.key, "u1/web");
	assert_int_equal(e.kind, PROBE_READINESS);
	assert_true(e.ok);
	assert_string_equal(e.msg, "out-a");
	assert_true(calls(0) >= 2);
	assert_int_equal(prober_result(p, "u1/web", PROBE_READINESS), PROBE_SUCCESS);

	set_exit(0, 1);
	before = calls(0);
	e = wait_event(2);
	assert_false(e.ok);
	assert_string_equal(e.msg, "Readiness probe failed: out-a");
	assert_true(calls(0) - before >= 3);
	assert_int_equal(prober_result(p, "u1/web", PROBE_READINESS), PROBE_FAILURE);
	pthread_mutex_lock(&ctl.mu);
	assert_true(ctl.failed >= 3);
	assert_int_equal(ctl.nev, 2);
	pthread_mutex_unlock(&ctl.mu);
	prober_free(p);
	probe_spec_done(&s);
}

static void test_prober_waits_for_initial_delay_and_holds_after_liveness_failure(void **state)
{
	struct probe_spec s = exec_spec("b", 20, 1, 1);
	struct prober *p = NULL;
	struct err err = ERR_INIT;
	int64_t t0 = clock_mono_ms();
	struct log_ev e;
	int n;

	(void)state;
	s.initial_delay_ms = 300;
	set_exit(1, 2);
	assert_int_equal(prober_new(&t_ops, &p, &err), 0);
	prober_add(p, "u2/web", PROBE_LIVENESS, &s, NULL, t0);
	assert_int_equal(prober_result(p, "u2/web", PROBE_LIVENESS), PROBE_SUCCESS);
	usleep(200 * 1000);
	assert_int_equal(calls(1), 0);
	e = wait_event(1);
	assert_true(e.at - t0 >= 300);
	assert_false(e.ok);
	assert_int_equal(e.kind, PROBE_LIVENESS);
	assert_string_equal(e.msg, "Liveness probe failed: out-b");
	/* on hold until the restarted container registers again */
	n = calls(1);
	usleep(150 * 1000);
	assert_int_equal(calls(1), n);
	set_exit(1, 0);
	prober_add(p, "u2/web", PROBE_LIVENESS, &s, NULL, clock_mono_ms() - 1000);
	usleep(100 * 1000);
	assert_true(calls(1) > n);
	assert_int_equal(prober_result(p, "u2/web", PROBE_LIVENESS), PROBE_SUCCESS);
	prober_free(p);
	probe_spec_done(&s);
}

static void test_prober_gates_liveness_and_readiness_on_startup(void **state)
{
	struct probe_spec st = exec_spec("c", 20, 1, 1000);
	struct probe_spec lv = exec_spec("a", 20, 1, 3);
	struct probe_spec rd = {
		.action = {.type = PROBE_ACTION_HTTP, .port = srv.port, .path = xstrdup("/ok")},
		.period_ms = 20,
		.timeout_ms = 1000,
		.success_threshold = 1,
		.failure_threshold = 3,
	};
	struct prober *p = NULL;
	struct err err = ERR_INIT;
	struct log_ev e;

	(void)state;
	set_exit(2, 1);
	assert_int_equal(prober_new(&t_ops, &p, &err), 0);
	prober_add(p, "u3/web", PROBE_STARTUP, &st, "127.0.0.1", clock_mono_ms());
	prober_add(p, "u3/web", PROBE_LIVENESS, &lv, "127.0.0.1", clock_mono_ms());
	prober_add(p, "u3/web", PROBE_READINESS, &rd, "127.0.0.1", clock_mono_ms());
	assert_int_equal(prober_result(p, "u3/web", PROBE_STARTUP), PROBE_UNKNOWN);
	usleep(200 * 1000);
	assert_true(calls(2) >= 3);
	assert_int_equal(calls(0), 0);
	pthread_mutex_lock(&ctl.mu);
	assert_int_equal(ctl.nev, 0);
	pthread_mutex_unlock(&ctl.mu);
	assert_int_equal(prober_result(p, "u3/web", PROBE_READINESS), PROBE_FAILURE);

	set_exit(2, 0);
	e = wait_event(1);
	assert_int_equal(e.kind, PROBE_STARTUP);
	assert_true(e.ok);
	assert_int_equal(prober_result(p, "u3/web", PROBE_STARTUP), PROBE_SUCCESS);
	e = wait_event(2); /* readiness over HTTP */
	assert_int_equal(e.kind, PROBE_READINESS);
	assert_true(e.ok);
	assert_string_equal(e.msg, "ok");
	usleep(100 * 1000);
	assert_true(calls(0) >= 2);
	assert_int_equal(prober_result(p, "u3/web", PROBE_LIVENESS), PROBE_SUCCESS);
	prober_free(p);
	probe_spec_done(&st);
	probe_spec_done(&lv);
	probe_spec_done(&rd);
}

static void test_prober_slow_probe_times_out_without_blocking_others(void **state)
{
	struct probe_spec slow = exec_spec("d", 1000, 1, 1);
	struct probe_spec fast = exec_spec("a", 20, 1, 3);
	struct prober *p = NULL;
	struct err err = ERR_INIT;
	struct log_ev e;

	(void)state;
	slow.timeout_ms = 400;
	pthread_mutex_lock(&ctl.mu);
	ctl.sleep_ms[3] = 500;
	pthread_mutex_unlock(&ctl.mu);
	assert_int_equal(prober_new(&t_ops, &p, &err), 0);
	prober_add(p, "u4/slow", PROBE_LIVENESS, &slow, NULL, clock_mono_ms());
	prober_add(p, "u4/fast", PROBE_LIVENESS, &fast, NULL, clock_mono_ms());
	usleep(300 * 1000);
	assert_true(calls(0) >= 5);
	e = wait_event(1);
	assert_string_equal(e.key, "u4/slow");
	assert_string_equal(e.msg, "Liveness probe failed: command \"d\" timed out");
	prober_free(p);
	probe_spec_done(&slow);
	probe_spec_done(&fast);
}

static void test_prober_remove_while_running_stops_callbacks(void **state)
{
	struct probe_spec s = exec_spec("d", 20, 1, 1);
	struct prober *p = NULL;
	struct err err = ERR_INIT;
	struct timespec ts;

	(void)state;
	set_exit(3, 1);
	pthread_mutex_lock(&ctl.mu);
	ctl.sleep_ms[3] = 200;
	pthread_mutex_unlock(&ctl.mu);
	assert_int_equal(prober_new(&t_ops, &p, &err), 0);
	prober_add(p, "u5/web", PROBE_READINESS, &s, NULL, clock_mono_ms());
	prober_add(p, "u5/web", PROBE_LIVENESS, &s, NULL, clock_mono_ms());
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&ctl.mu);
	while (ctl.in_exec[3] == 0)
		assert_int_not_equal(pthread_cond_timedwait(&ctl.cond, &ctl.mu, &ts), ETIMEDOUT);
	pthread_mutex_unlock(&ctl.mu);
	prober_remove(p, "u5/web");
	pthread_mutex_lock(&ctl.mu);
	ctl.removed = true;
	pthread_mutex_unlock(&ctl.mu);
	assert_int_equal(prober_result(p, "u5/web", PROBE_READINESS), PROBE_UNKNOWN);
	usleep(400 * 1000);
	pthread_mutex_lock(&ctl.mu);
	assert_false(ctl.late_callback);
	pthread_mutex_unlock(&ctl.mu);
	/* and freeing with attempts in flight is clean */
	prober_add(p, "u6/web", PROBE_LIVENESS, &s, NULL, clock_mono_ms());
	usleep(50 * 1000);
	prober_free(p);
	probe_spec_done(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_http_succeeds_on_2xx_and_fails_on_5xx),
		cmocka_unit_test(test_probe_http_sends_kubelet_headers),
		cmocka_unit_test(test_probe_http_follows_redirects_to_the_same_host_only),
		cmocka_unit_test(test_probe_http_times_out_and_reports_refused),
		cmocka_unit_test(test_probe_tcp_connects_or_reports_refused),
		cmocka_unit_test_setup_teardown(
			test_probe_https_skips_verification_follows_redirects_and_reports_tls,
			tls_server_up, tls_server_down),
		cmocka_unit_test(test_probe_parse_applies_upstream_defaults),
		cmocka_unit_test(test_probe_parse_rejects_bad_probes_naming_the_field),
		cmocka_unit_test(test_probe_action_parse_reads_lifecycle_handlers),
		cmocka_unit_test_setup(test_prober_applies_thresholds, reset_ctl),
		cmocka_unit_test_setup(
			test_prober_waits_for_initial_delay_and_holds_after_liveness_failure,
			reset_ctl),
		cmocka_unit_test_setup(test_prober_gates_liveness_and_readiness_on_startup,
				       reset_ctl),
		cmocka_unit_test_setup(test_prober_slow_probe_times_out_without_blocking_others,
				       reset_ctl),
		cmocka_unit_test_setup(test_prober_remove_while_running_stops_callbacks, reset_ctl),
	};

	return cmocka_run_group_tests(tests, server_up, server_down);
}
