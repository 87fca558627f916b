/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods' log, exec, attach and portforward subresources, which the node agent of the pod's
 * node serves on its kubelet port: finds the pod, its container and the node's address,
 * connects to the agent over TLS with the kubelet-client token and relays its answer, a
 * log as a stream, an upgraded connection (WebSocket, SPDY) byte for byte both ways.
 * server.c's router calls api_proxy().
 *
 * Threads. Dialing blocks, so a request from the network defers its answer (http_defer)
 * while a worker thread connects, sends the request and reads the agent's response head;
 * the answer then goes out on the server thread (proxy_resume). A log body is pumped by a
 * thread of its own, asleep in a read while the log idles; the stream's on_close shuts
 * the agent's socket down, so a client that leaves ends the agent's response too. An
 * upgraded session is spliced on the thread the HTTP server gives it. In-process requests
 * (which cannot upgrade) connect on the caller's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jload.h"
#include "base/jx.h"
#include "base/log.h"
#include "cluster/api/auth.h"
#include "cluster/api/h1.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"
#include "cluster/api/lib_gnutls.h"

#define KUBELET_PORT      10250
#define DIAL_TIMEOUT_MS   10000
#define HEAD_TIMEOUT_MS   30000
#define MAX_HEAD          (64 << 10)
#define MAX_ERROR_BODY    (64 << 10)
#define MAX_VALUES        256
#define PUMP_BLOCK        (32 << 10)
#define STREAM_MAX_QUEUED ((size_t)4 << 20)

enum proxy_kind { PROXY_LOG, PROXY_EXEC, PROXY_ATTACH, PROXY_PORTFORWARD };

struct proxy {
	int refs; /* atomic */
	enum proxy_kind kind;
	char *host, *target; /* "10.0.0.5", "10.0.0.5:10250" */
	char *url;           /* https://target/path?query, for messages */
	char *request;       /* the request to send */

	/* fd under lock: on_close shuts it down from another thread */
	pthread_mutex_t lock;
	struct h1_conn conn; /* to the agent */

	/* the outcome of proxy_prepare() */
	unsigned fail_code; /* we answer this with fail_reason and fail_msg */
	const char *fail_reason;
	char *fail_msg;
	struct h1_head head; /* else the agent's response head */
	char **up_headers;   /* 101: name, value, ..., NULL */
	char *body;          /* an error's body */
	size_t body_len;
	struct http_defer *defer; /* the worker's, until it resumes */
};

static struct proxy *proxy_ref(struct proxy *p)
{
	__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

/* Closes the agent's connection; with the lock, so a late on_close never hits a reused fd. */
static void proxy_disconnect(struct proxy *p)
{
	int fd;

	pthread_mutex_lock(&p->lock);
	fd = p->conn.fd;
	p->conn.fd = -1;
	pthread_mutex_unlock(&p->lock);
	h1_conn_clear(&p->conn);
	if (fd >= 0)
		close(fd);
}

static void proxy_unref(struct proxy *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	proxy_disconnect(p);
	pthread_mutex_destroy(&p->lock);
	free(p->host);
	free(p->target);
	free(p->url);
	free(p->request);
	free(p->fail_msg);
	h1_head_clear(&p->head);
	strv_free(p->up_headers);
	free(p->body);
	free(p);
}

static void proxy_fail(struct proxy *p, unsigned code, const char *reason, char *msg)
{
	p->fail_code = code;
	p->fail_reason = reason;
	free(p->fail_msg);
	p->fail_msg = msg;
}

/* Answers. */

static void reply_status(struct http_request *req, unsigned code, const char *reason,
			 const char *msg, const char *kind, const char *name)
{
	cleanup_json json_t *st =
		json_pack("{s:s, s:s, s:{}, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
			  "metadata", "status", "Failure", "message", msg, "code", (int)code);

	if (reason && *reason)
		json_object_set_new(st, "reason", json_string(reason));
	if (kind)
		json_object_set_new(st, "details",
				    json_pack("{s:s, s:s}", "name", name, "kind", kind));
	api_reply_json(req, code, st);
}

static const char *reason_of(unsigned code)
{
	switch (code) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 422:
		return "Invalid";
	case 429:
		return "TooManyRequests";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "Timeout";
	default:
		return code >= 500 ? "InternalError" : "";
	}
}

/*
 * The agent refused: its Status goes to the client as it is; other text becomes the
 * message of a Status with the agent's code, so kubectl prints what the agent said.
 */
static void reply_agent_error(struct http_request *req, struct proxy *p)
{
	cleanup_json json_t *doc = jload_b(p->body ? p->body : "", p->body_len, 0, NULL);
	cleanup_free char *msg = NULL;
	size_t n = p->body_len;

	if (json_is_object(doc) && json_is_string(json_object_get(doc, "kind")) &&
	    strcmp(json_string_value(json_object_get(doc, "kind")), "Status") == 0) {
		api_reply_json(req, p->head.status, doc);
		return;
	}
	while (n > 0 && (p->body[n - 1] == '\n' || p->body[n - 1] == '\r' || p->body[n - 1] == ' '))
		n--;
	if (n > 0)
		msg = xasprintf("%.*s", (int)n, p->body);
	else
		msg = xasprintf("the node agent answered %u for %s", p->head.status, p->url);
	reply_status(req, p->head.status, reason_of(p->head.status), msg, NULL, NULL);
}

/* The agent's response (its connection: h1.c). */

/* Headers of the agent's 101 that the client's 101 carries. */
static const char *const relayed_up[] = {"Upgrade", "Sec-WebSocket-Accept",
					 "Sec-WebSocket-Protocol", "X-Stream-Protocol-Version",
					 NULL};

static void strv_push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

/* Keeps the headers of a 101 that the client's 101 relays. */
static void relay_header(void *arg, const struct h1_head *h, const char *line)
{
	struct proxy *p = arg;
	size_t n_up = 0;
	const char *v;

	if (h->status != 101)
		return;
	while (p->up_headers && p->up_headers[n_up])
		n_up++;
	for (size_t i = 0; relayed_up[i]; i++) {
		if (!(v = h1_header_value(line, relayed_up[i])))
			continue;
		strv_push(&p->up_headers, &n_up, relayed_up[i]);
		strv_push(&p->up_headers, &n_up, v);
	}
}

/* The agent's error body, bounded, for relaying. */
static void read_error_body(struct proxy *p)
{
	p->body = xmalloc(MAX_ERROR_BODY + 1);
	while (p->body_len < MAX_ERROR_BODY) {
		ssize_t n = h1_body_read(&p->conn, &p->head, p->body + p->body_len,
					 MAX_ERROR_BODY - p->body_len);

		if (n <= 0)
			break;
		p->body_len += (size_t)n;
	}
	p->body[p->body_len] = '\0';
}

static bool has_upgrade(char **headers)
{
	for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
		if (strcmp(headers[i], "Upgrade") == 0)
			return true;
	return false;
}

/* Connects to the agent and reads its response head; fills the outcome. Blocks. */
static void proxy_prepare(struct proxy *p)
{
	struct err err = ERR_INIT;
	int fd = -1;
	uint16_t port = 0;
	const char *colon = strrchr(p->target, ':');

	if (colon)
		port = (uint16_t)atoi(colon + 1);
	if (api_gnutls_load(&err) < 0 ||
	    h1_dial(p->host, p->target, port, DIAL_TIMEOUT_MS, &fd, &err) < 0)
		goto fail;
	pthread_mutex_lock(&p->lock);
	p->conn.fd = fd;
	pthread_mutex_unlock(&p->lock);
	h1_set_timeout(fd, HEAD_TIMEOUT_MS);
	if (h1_tls_start(&p->conn, NULL, NULL, p->target, DIAL_TIMEOUT_MS, &err) < 0)
		goto fail;
	if (h1_send(&p->conn, p->request, strlen(p->request)) < 0) {
		err_set(&err, EPIPE, "send request to %s: connection closed", p->target);
		goto fail;
	}
	if (h1_read_head(&p->conn, MAX_HEAD, false, relay_header, p, &p->head, NULL, &err) < 0) {
		err_wrap(&err, "read response from %s", p->target);
		goto fail;
	}
	if (p->head.status == 101 && (p->kind == PROXY_LOG || !has_upgrade(p->up_headers))) {
		err_set(&err, EPROTO, "read response from %s: a 101 without Upgrade header",
			p->target);
		goto fail;
	}
	if (p->head.status == 101) {
		/* a session may idle for hours */
		h1_set_timeout(fd, 0);
		return;
	}
	if (p->kind == PROXY_LOG && p->head.status / 100 == 2) {
		/* a followed log may idle for hours */
		h1_set_timeout(fd, 0);
		return;
	}
	read_error_body(p);
	proxy_disconnect(p);
	return;
fail:
	/* upstream's words: a log request names its URL, the others the backend */
	if (p->kind == PROXY_LOG)
		proxy_fail(p, 502, "", xasprintf("Get \"%s\": %s", p->url, err.msg));
	else
		proxy_fail(p, 502, "", xasprintf("error dialing backend: %s", err.msg));
	err_clear(&err);
	proxy_disconnect(p);
}

/* Relaying. */

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* the HTTP server's sockets are non-blocking */
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Hands what the agent sent on to the client. */
static int flush_agent(struct h1_conn *c, int fd)
{
	int r = write_all(fd, c->buf + c->off, c->len);

	c->off = c->len = 0;
	return r;
}

/* The upgraded session: client <-> agent until either side ends. */
static void proxy_splice(void *arg, int fd, const char *extra, size_t extra_len)
{
	struct proxy *p = arg;
	struct h1_conn *c = &p->conn;
	char buf[PUMP_BLOCK];

	if (fd < 0) {
		proxy_unref(p);
		return;
	}
	if ((extra_len > 0 && h1_send(c, extra, extra_len) < 0) || flush_agent(c, fd) < 0)
		goto out;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
					{.fd = c->fd, .events = POLLIN}};

		/* GnuTLS may hold decrypted bytes that poll cannot see */
		if (gnutls_record_check_pending(c->tls) == 0 && poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (gnutls_record_check_pending(c->tls) > 0)
			pfd[1].revents |= POLLIN;
		if (pfd[0].revents) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0 || h1_send(c, buf, (size_t)n) < 0)
				break;
		}
		if (pfd[1].revents) {
			if (h1_fill(c) <= 0 || flush_agent(c, fd) < 0)
				break;
		}
	}
out:
	proxy_disconnect(p);
	proxy_unref(p);
}

struct pump {
	struct proxy *p;
	struct http_stream *st;
};

static void *pump_main(void *arg)
{
	struct pump *pu = arg;
	cleanup_free char *buf = xmalloc(PUMP_BLOCK);

	for (;;) {
		ssize_t n = h1_body_read(&pu->p->conn, &pu->p->head, buf, PUMP_BLOCK);

		if (n <= 0 || http_stream_write(pu->st, buf, (size_t)n, STREAM_MAX_QUEUED) < 0)
			break;
	}
	http_stream_close(pu->st);
	proxy_disconnect(pu->p);
	proxy_unref(pu->p);
	free(pu);
	return NULL;
}

/* The client's stream is over: end the agent's response too. */
static void stream_closed(void *arg)
{
	struct proxy *p = arg;

	pthread_mutex_lock(&p->lock);
	if (p->conn.fd >= 0)
		shutdown(p->conn.fd, SHUT_RDWR);
	pthread_mutex_unlock(&p->lock);
	proxy_unref(p);
}

static int spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int rc;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -rc;
}

/* Answers the client from the outcome; takes the caller's reference. */
static void proxy_resume(void *arg, struct http_request *req)
{
	struct proxy *p = arg;

	if (!req) {
		proxy_unref(p);
		return;
	}
	if (p->fail_code) {
		reply_status(req, p->fail_code, p->fail_reason, p->fail_msg, NULL, NULL);
	} else if (p->head.status == 101) {
		http_respond_upgrade(req, (const char *const *)p->up_headers, proxy_splice, p);
		return;
	} else if (p->kind == PROXY_LOG && p->head.status / 100 == 2) {
		struct pump *pu = xcalloc(1, sizeof(*pu));

		pu->p = proxy_ref(p);
		pu->st = http_respond_stream(req, p->head.status,
					     p->head.content_type ? p->head.content_type
								  : "text/plain",
					     stream_closed, proxy_ref(p));
		int rc = spawn(pump_main, pu);

		if (rc < 0) {
			log_debug("api: start log relay thread: %s", strerror(-rc));
			http_stream_close(pu->st);
			proxy_unref(pu->p);
			free(pu);
		}
	} else if (p->head.status / 100 == 2) {
		/* the agent answered an upgrade request without upgrading */
		http_respond(req, p->head.status,
			     p->head.content_type ? p->head.content_type : "text/plain",
			     p->body ? p->body : "", p->body_len);
	} else {
		reply_agent_error(req, p);
	}
	proxy_unref(p);
}

static void *worker_main(void *arg)
{
	struct proxy *p = arg;
	struct http_defer *d = TAKE_PTR(p->defer);

	proxy_prepare(p);
	http_defer_resume(d);
	proxy_unref(p);
	return NULL;
}

/* The request. */

/* Appends to a heap string. */
__attribute__((format(printf, 2, 3))) static void append(char **s, const char *fmt, ...)
{
	cleanup_free char *more = NULL;
	size_t have = *s ? strlen(*s) : 0, n;
	va_list ap;

	va_start(ap, fmt);
	more = xvasprintf(fmt, ap);
	va_end(ap);
	n = strlen(more);
	*s = xrealloc(*s, have + n + 1);
	memcpy(*s + have, more, n + 1);
}

/* Percent-encodes a path segment or query value. */
static char *escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(3 * strlen(s) + 1), *o = out;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

static void add_param(char **q, const char *name, const char *value)
{
	cleanup_free char *v = escape(value);

	append(q, "%s%s=%s", *q ? "&" : "", name, v);
}

/* A boolean query parameter: 0 false (or absent), 1 true, -EINVAL otherwise. */
static int query_bool(struct http_request *req, const char *name)
{
	const char *v = http_query(req, name);

	if (!v || !*v || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 1;
	return -EINVAL;
}

static bool bad_bool(struct http_request *req, const char *name)
{
	if (query_bool(req, name) >= 0)
		return false;
	api_reply_status(req, 400, "BadRequest",
			 "invalid value \"%s\" for query parameter %s: expected true or false",
			 http_query(req, name), name);
	return true;
}

/* The log options, checked as upstream's PodLogOptions validation does, as the agent's query. */
static int log_query(struct http_request *req, const char *pod, char **q)
{
	static const struct {
		const char *name;
		long long min;
	} ints[] = {{"tailLines", 0}, {"sinceSeconds", 1}, {"limitBytes", 1}};
	static const char *const bools[] = {"follow", "previous", "timestamps",
					    "insecureSkipTLSVerifyBackend"};

	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		if (bad_bool(req, bools[i]))
			return -EINVAL;
		if (i < 3 && query_bool(req, bools[i]) == 1)
			add_param(q, bools[i], "true");
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		const char *v = http_query(req, ints[i].name);
		char *end;
		long long n;

		if (!v)
			continue;
		errno = 0;
		n = strtoll(v, &end, 10);
		if (!*v || *end || errno) {
			api_reply_status(req, 400, "BadRequest",
					 "invalid value \"%s\" for query parameter %s: expected an "
					 "integer",
					 v, ints[i].name);
			return -EINVAL;
		}
		if (n < ints[i].min) {
			api_reply_status(
				req, 422, "Invalid",
				"PodLogOptions \"%s\" is invalid: %s: Invalid value: %lld: "
				"must be greater than or equal to %lld",
				pod, ints[i].name, n, ints[i].min);
			return -EINVAL;
		}
		add_param(q, ints[i].name, v);
	}
	if (http_query(req, "sinceTime")) {
		if (http_query(req, "sinceSeconds")) {
			api_reply_status(
				req, 422, "Invalid",
				"PodLogOptions \"%s\" is invalid: sinceSeconds: Forbidden: "
				"at most one of `sinceTime` or `sinceSeconds` may be "
				"specified",
				pod);
			return -EINVAL;
		}
		add_param(q, "sinceTime", http_query(req, "sinceTime"));
	}
	return 0;
}

/*
 * The stream options of exec and attach. The agent gets upstream kubelet's names (input,
 * output, error) and the API's (stdin, stdout, stderr), so either reading works.
 */
static int stream_query(struct http_request *req, enum proxy_kind kind, char **q)
{
	static const char *const names[][2] = {
		{"stdin", "input"}, {"stdout", "output"}, {"stderr", "error"}, {"tty", NULL}};
	const char *cmd[MAX_VALUES];
	size_t n_cmd = 0;
	bool any = false;

	if (kind == PROXY_EXEC) {
		n_cmd = http_query_values(req, "command", cmd, MAX_VALUES);
		if (n_cmd == 0) {
			api_reply_status(req, 400, "BadRequest",
					 "you must specify at least one command for the container");
			return -EINVAL;
		}
		if (n_cmd > MAX_VALUES) {
			api_reply_status(req, 400, "BadRequest",
					 "too many command arguments (%zu, at most %d)", n_cmd,
					 MAX_VALUES);
			return -EINVAL;
		}
		for (size_t i = 0; i < n_cmd; i++)
			add_param(q, "command", cmd[i]);
	}
	for (size_t i = 0; i < 4; i++) {
		if (bad_bool(req, names[i][0]))
			return -EINVAL;
		if (query_bool(req, names[i][0]) != 1)
			continue;
		any |= i < 3;
		if (names[i][1])
			add_param(q, names[i][1], "1");
		add_param(q, names[i][0], "1");
	}
	if (!any) {
		api_reply_status(req, 400, "BadRequest",
				 "you must specify at least 1 of stdin, stdout, stderr");
		return -EINVAL;
	}
	return 0;
}

static bool has_container(json_t *spec, const char *name)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};

	for (size_t l = 0; l < 3; l++) {
		json_t *arr = json_object_get(spec, lists[l]), *c;
		size_t i;

		json_array_foreach (arr, i, c) {
			const char *n = json_string_value(json_object_get(c, "name"));

			if (n && strcmp(n, name) == 0)
				return true;
		}
	}
	return false;
}

/* The container asked for, the default one, or NULL with the client answered. */
static const char *pick_container(struct http_request *req, json_t *pod, const char *name)
{
	json_t *spec = json_object_get(pod, "spec");
	json_t *containers = json_object_get(spec, "containers");
	const char *c = http_query(req, "container");
	cleanup_free char *names = NULL;
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};

	if (c && *c) {
		if (has_container(spec, c))
			return c;
		api_reply_status(req, 400, "BadRequest", "container %s is not valid for pod %s", c,
				 name);
		return NULL;
	}
	c = json_string_value(
		json_object_get(json_object_get(json_object_get(pod, "metadata"), "annotations"),
				"kubectl.kubernetes.io/default-container"));
	if (c && has_container(spec, c))
		return c;
	if (json_array_size(containers) == 1)
		return json_string_value(json_object_get(json_array_get(containers, 0), "name"));
	if (json_array_size(containers) == 0) {
		api_reply_status(req, 400, "BadRequest", "pod %s does not have a container", name);
		return NULL;
	}
	/* upstream lists every container, init containers first */
	for (size_t l = 0; l < 3; l++) {
		json_t *arr = json_object_get(spec, lists[l]), *e;
		size_t i;

		json_array_foreach (arr, i, e) {
			const char *n = json_string_value(json_object_get(e, "name"));

			if (n)
				append(&names, "%s%s", names ? " " : "", n);
		}
	}
	api_reply_status(req, 400, "BadRequest",
			 "a container name must be specified for pod %s, choose one of: [%s]", name,
			 names ? names : "");
	return NULL;
}

/* The node's address (InternalIP, ExternalIP, else Hostname) and kubelet port. */
static const char *node_address(json_t *node, uint16_t *ret_port)
{
	static const char *const types[] = {"InternalIP", "ExternalIP", "Hostname"};
	json_t *status = json_object_get(node, "status");
	json_t *addrs = json_object_get(status, "addresses");
	json_int_t port = json_integer_value(json_object_get(
		json_object_get(json_object_get(status, "daemonEndpoints"), "kubeletEndpoint"),
		"Port"));

	*ret_port = port > 0 && port < 65536 ? (uint16_t)port : KUBELET_PORT;
	for (size_t t = 0; t < 3; t++) {
		json_t *a;
		size_t i;

		json_array_foreach (addrs, i, a) {
			const char *type = json_string_value(json_object_get(a, "type"));
			const char *addr = json_string_value(json_object_get(a, "address"));

			if (type && addr && *addr && strcmp(type, types[t]) == 0)
				return addr;
		}
	}
	return NULL;
}

static json_t *load_obj(struct api *api, const char *resource, const char *ns, const char *name)
{
	const struct api_resource *r = api_resource_find("", "v1", resource);
	cleanup_free char *key = r ? api_key(r, ns, name) : NULL;
	struct api_obj *o = key ? cache_get(api->cache, key) : NULL;
	json_t *doc;

	if (!o)
		return NULL;
	doc = jload_b(o->json, o->len, 0, NULL);
	api_obj_unref(o);
	return doc;
}

/* The upgrade headers the agent must see, as the client sent them. */
static void add_upgrade_headers(struct http_request *req, char **out)
{
	static const char *const names[] = {"Upgrade",
					    "Connection",
					    "Sec-WebSocket-Key",
					    "Sec-WebSocket-Version",
					    "Sec-WebSocket-Protocol",
					    "X-Stream-Protocol-Version",
					    NULL};

	for (size_t i = 0; names[i]; i++) {
		const char *v[32];
		size_t n = http_header_values(req, names[i], v, 32);

		for (size_t j = 0; j < n && j < 32; j++)
			if (!strpbrk(v[j], "\r\n"))
				append(out, "%s: %s\r\n", names[i], v[j]);
	}
}

static enum proxy_kind kind_of(const char *sub, bool *ok)
{
	*ok = true;
	if (strcmp(sub, "log") == 0)
		return PROXY_LOG;
	if (strcmp(sub, "exec") == 0)
		return PROXY_EXEC;
	if (strcmp(sub, "attach") == 0)
		return PROXY_ATTACH;
	if (strcmp(sub, "portforward") == 0)
		return PROXY_PORTFORWARD;
	*ok = false;
	return PROXY_LOG;
}

/* Checks the request and builds the agent's; NULL when the client has been answered. */
static struct proxy *proxy_new(struct api *api, struct http_request *req, enum proxy_kind kind,
			       const char *ns, const char *name)
{
	static const char *const paths[] = {"containerLogs", "exec", "attach", "portForward"};
	cleanup_json json_t *pod = NULL, *node = NULL;
	cleanup_free char *query = NULL, *e_ns = NULL, *e_name = NULL, *e_c = NULL;
	cleanup_free char *path = NULL, *token = NULL;
	const char *node_name, *container = NULL, *addr;
	uint16_t port;
	struct proxy *p;

	pod = load_obj(api, "pods", ns, name);
	if (!pod) {
		cleanup_free char *msg = xasprintf("pods \"%s\" not found", name);

		reply_status(req, 404, "NotFound", msg, "pods", name);
		return NULL;
	}
	node_name = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
	if (!node_name || !*node_name) {
		api_reply_status(req, 400, "BadRequest", "pod %s does not have a host assigned",
				 name);
		return NULL;
	}
	if (kind != PROXY_PORTFORWARD && !(container = pick_container(req, pod, name)))
		return NULL;
	if (kind == PROXY_LOG && log_query(req, name, &query) < 0)
		return NULL;
	if ((kind == PROXY_EXEC || kind == PROXY_ATTACH) && stream_query(req, kind, &query) < 0)
		return NULL;
	if (kind == PROXY_PORTFORWARD) {
		const char *ports[MAX_VALUES];
		size_t n = http_query_values(req, "ports", ports, MAX_VALUES);

		for (size_t i = 0; i < n && i < MAX_VALUES; i++)
			add_param(&query, "ports", ports[i]);
	}
	node = load_obj(api, "nodes", NULL, node_name);
	if (!node) {
		cleanup_free char *msg = xasprintf("nodes \"%s\" not found", node_name);

		reply_status(req, 404, "NotFound", msg, "nodes", node_name);
		return NULL;
	}
	addr = node_address(node, &port);
	if (!addr) {
		api_reply_status(req, 502, "", "error dialing backend: node %s has no address",
				 node_name);
		return NULL;
	}

	e_ns = escape(ns);
	e_name = escape(name);
	path = xasprintf("/%s/%s/%s", paths[kind], e_ns, e_name);
	if (container) {
		e_c = escape(container);
		append(&path, "/%s", e_c);
	}
	p = xcalloc(1, sizeof(*p));
	p->refs = 1;
	p->kind = kind;
	pthread_mutex_init(&p->lock, NULL);
	p->conn.fd = -1;
	p->host = xstrdup(addr);
	p->target = strchr(addr, ':') ? xasprintf("[%s]:%u", addr, port)
				      : xasprintf("%s:%u", addr, port);
	p->url = xasprintf("https://%s%s%s%s", p->target, path, query ? "?" : "",
			   query ? query : "");
	append(&p->request, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: skiff-apiserver\r\n",
	       kind == PROXY_LOG ? "GET" : http_method(req), path, query ? "?" : "",
	       query ? query : "", p->target);
	if (api->cfg.node_token) {
		token = api_kubelet_client_credential(api->cfg.node_token);
		append(&p->request, "Authorization: Bearer %s\r\n", token);
		explicit_bzero(token, strlen(token));
	}
	if (kind == PROXY_LOG)
		append(&p->request, "Accept: */*\r\nConnection: close\r\n\r\n");
	else {
		add_upgrade_headers(req, &p->request);
		append(&p->request, "Content-Length: 0\r\n\r\n");
	}
	return p;
}

void api_proxy(struct api *api, struct http_request *req, const struct api_resource *r,
	       const char *ns, const char *name, const char *sub)
{
	const char *method = http_method(req);
	enum proxy_kind kind;
	struct proxy *p;
	bool ok;
	int rc;

	if (strcmp(r->kind, "Pod") != 0 || strcmp(sub, "proxy") == 0) {
		api_reply_status(req, 503, "ServiceUnavailable",
				 "%s/%s of %s \"%s\": not served by this server", r->plural, sub,
				 r->plural, name);
		return;
	}
	kind = kind_of(sub, &ok);
	if (!ok || !ns || !name) {
		api_reply_status(req, 404, "NotFound",
				 "the server could not find the requested resource");
		return;
	}
	if (strcmp(method, "GET") != 0 && (kind == PROXY_LOG || strcmp(method, "POST") != 0)) {
		api_reply_status(req, 405, "MethodNotAllowed",
				 "the server does not allow this method on the requested resource");
		return;
	}
	if (kind != PROXY_LOG && (!http_header(req, "Upgrade") || http_is_local(req))) {
		api_reply_status(req, 400, "BadRequest", "Upgrade request required");
		return;
	}
	p = proxy_new(api, req, kind, ns, name);
	if (!p)
		return;
	if (http_is_local(req)) {
		/* the caller's own thread: it may block */
		proxy_prepare(p);
		proxy_resume(p, req);
		return;
	}
	proxy_ref(p);
	p->defer = http_defer(req, proxy_resume, p);
	rc = spawn(worker_main, p);
	if (rc < 0) {
		proxy_fail(p, 503, "ServiceUnavailable",
			   xasprintf("start proxy thread: %s", strerror(-rc)));
		http_defer_resume(TAKE_PTR(p->defer));
		proxy_unref(p);
	}
}
