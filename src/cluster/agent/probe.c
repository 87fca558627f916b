/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Probes and lifecycle-hook handlers: HTTP(S) GET and TCP connect over non-blocking
 * sockets with a deadline (HTTPS without verifying the pod's certificate, as kubelet),
 * exec through the agent, parsing of Kubernetes Probe/LifecycleHandler objects, and the
 * prober (a scheduler thread over a min-heap of due probes feeding a fixed worker pool)
 * that applies kubelet's thresholds and reports result changes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jx.h"
#include "cluster/agent/probe.h"
#include "cluster/api/h1.h"
#include "cluster/api/lib_gnutls.h"

#define HTTP_MAX_HEADER (64 * 1024)
/* kubelet keeps at most this much of a response body or exec output for messages. */
#define MAX_BODY       (10 * 1024)
#define MAX_REDIRECTS  10
#define PROBER_WORKERS 4

const char *probe_kind_name(enum probe_kind kind)
{
	switch (kind) {
	case PROBE_LIVENESS:
		return "Liveness";
	case PROBE_READINESS:
		return "Readiness";
	case PROBE_STARTUP:
		return "Startup";
	}
	return "Unknown";
}

static char *host_port(const char *host, int port)
{
	if (strchr(host, ':'))
		return xasprintf("[%s]:%d", host, port);
	return xasprintf("%s:%d", host, port);
}

static int remaining(int64_t deadline)
{
	int64_t left = deadline - clock_mono_ms();

	return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

/* Waits for @events on @fd until @deadline: 0 ready, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int k = poll(&pfd, 1, remaining(deadline));

		if (k > 0)
			return 0;
		if (k == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Connects to @host:@port before @deadline. On failure returns -1 with *ret_msg in Go's
 * words ("dial tcp 10.0.0.1:80: connect: connection refused", "...: i/o timeout") and
 * *ret_timeout set when the deadline passed.
 */
static int dial(const char *host, int port, int64_t deadline, char **ret_msg, bool *ret_timeout)
{
	cleanup_free char *hp = host_port(host, port);
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	int fd, k, e = 0;
	socklen_t el = sizeof(e);

	*ret_timeout = false;
	if (port <= 0 || port > 65535) {
		*ret_msg = xasprintf("dial tcp %s: invalid port", hp);
		return -1;
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *ai = NULL;
		char ps[16];

		snprintf(ps, sizeof(ps), "%d", port);
		if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
			*ret_msg = xasprintf("dial tcp: lookup %s: no such host", host);
			return -1;
		}
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		sl = ai->ai_addrlen;
		freeaddrinfo(ai);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cleanup_free char *s = h1_go_strerror(errno);

		*ret_msg = xasprintf("dial tcp %s: socket: %s", hp, s);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		e = errno;
	} else {
		k = wait_fd(fd, POLLOUT, deadline);
		if (k == -ETIMEDOUT) {
			close(fd);
			*ret_timeout = true;
			*ret_msg = xasprintf("dial tcp %s: i/o timeout", hp);
			return -1;
		}
		if (k < 0)
			e = -k;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
	}
	if (e) {
		cleanup_free char *s = h1_go_strerror(e);

		close(fd);
		*ret_msg = xasprintf("dial tcp %s: connect: %s", hp, s);
		return -1;
	}
	return fd;
}

enum probe_result probe_tcp(const char *host, int port, int timeout_ms, char **ret_msg)
{
	bool timeout;
	char *msg = NULL;
	int fd;

	if (!host || !*host) {
		*ret_msg = xstrdup("no host to probe (the pod has no IP yet)");
		return PROBE_UNKNOWN;
	}
	fd = dial(host, port, clock_mono_ms() + timeout_ms, &msg, &timeout);
	if (fd < 0) {
		*ret_msg = msg;
		return PROBE_FAILURE;
	}
	close(fd);
	*ret_msg = xstrdup("");
	return PROBE_SUCCESS;
}

/* A probe's connection: plain TCP, or TLS over it when tls is set. */
struct conn {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	char first[5]; /* the first bytes the server sent, to recognise a plain HTTP answer */
	size_t n_first;
};

static void conn_close(struct conn *c)
{
	if (c->tls)
		gnutls_deinit(c->tls);
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	if (c->fd >= 0)
		close(c->fd);
	*c = (struct conn){.fd = -1};
}

/* Waits for what TLS asked for (after GNUTLS_E_AGAIN): 0, -ETIMEDOUT, -errno. */
static int tls_wait(struct conn *c, int64_t deadline)
{
	return wait_fd(c->fd, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN, deadline);
}

/* TLS failures as the socket errors the messages are built from. */
static int tls_errno(int rc)
{
	return rc == GNUTLS_E_PREMATURE_TERMINATION ? -ECONNRESET : -EPROTO;
}

/* TLS's reads and writes of the socket, keeping the first bytes read. */
static ssize_t tls_pull(gnutls_transport_ptr_t arg, void *buf, size_t n)
{
	struct conn *c = arg;
	ssize_t k = recv(c->fd, buf, n, 0);

	if (k < 0) {
		gnutls_transport_set_errno(c->tls, errno);
		return -1;
	}
	for (ssize_t i = 0; i < k && c->n_first < sizeof(c->first); i++)
		c->first[c->n_first++] = ((const char *)buf)[i];
	return k;
}

static ssize_t tls_push(gnutls_transport_ptr_t arg, const void *buf, size_t n)
{
	struct conn *c = arg;
	ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);

	if (k < 0)
		gnutls_transport_set_errno(c->tls, errno);
	return k;
}

/*
 * Starts TLS on @c's connection to @host before @deadline, verifying nothing: kubelet
 * probes HTTPS with InsecureSkipVerify, sending the name (SNI) only when @host is one.
 */
static int tls_start(struct conn *c, const char *host, int64_t deadline, char **ret_msg,
		     bool *ret_timeout)
{
	struct err err = ERR_INIT;
	struct in6_addr a6;
	struct in_addr a4;
	int rc;

	if (api_gnutls_load(&err) < 0) {
		*ret_msg = xstrdup(err.msg);
		err_clear(&err);
		return -1;
	}
	if (gnutls_certificate_allocate_credentials(&c->cred) < 0 ||
	    gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
		*ret_msg = xstrdup("tls: cannot start a session");
		return -1;
	}
	rc = gnutls_set_default_priority(c->tls);
	if (rc >= 0)
		rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
	if (rc >= 0 && inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		rc = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, host, strlen(host));
	if (rc < 0) {
		*ret_msg = xasprintf("tls: %s", gnutls_strerror(rc));
		return -1;
	}
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_push_function(c->tls, tls_push);
	for (;;) {
		rc = gnutls_handshake(c->tls);
		if (rc == 0)
			return 0;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			int w = tls_wait(c, deadline);

			if (w == -ETIMEDOUT) {
				*ret_timeout = true;
				*ret_msg = xstrdup("net/http: TLS handshake timeout");
				return -1;
			}
			if (w < 0) {
				cleanup_free char *e = h1_go_strerror(-w);

				*ret_msg = xasprintf("tls: %s", e);
				return -1;
			}
			continue;
		}
		if (gnutls_error_is_fatal(rc)) {
			if (c->n_first == sizeof(c->first) && !memcmp(c->first, "HTTP/", 5))
				/* Go's words for it */
				*ret_msg =
					xstrdup("http: server gave HTTP response to HTTPS client");
			else
				*ret_msg = xasprintf("tls: %s", gnutls_strerror(rc));
			return -1;
		}
	}
}

/*
 * One step of sending @out or receiving into @in (@n bytes at most), in TLS or not: bytes
 * (0 at end of stream), -EINTR to try again at once, -EAGAIN to wait for *events on the
 * socket first, or -errno.
 */
static ssize_t conn_io(struct conn *c, const char *out, char *in, size_t n, short *events)
{
	ssize_t k;

	if (c->tls) {
		k = out ? gnutls_record_send(c->tls, out, n) : gnutls_record_recv(c->tls, in, n);
		if (k >= 0)
			return k;
		if (k == GNUTLS_E_AGAIN) {
			*events = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
			return -EAGAIN;
		}
		/* interrupted, or a warning alert: nothing to wait for */
		return gnutls_error_is_fatal((int)k) ? tls_errno((int)k) : -EINTR;
	}
	k = out ? send(c->fd, out, n, MSG_NOSIGNAL) : recv(c->fd, in, n, 0);
	if (k >= 0)
		return k;
	if (errno == EINTR)
		return -EINTR;
	if (errno != EAGAIN)
		return -errno;
	*events = out ? POLLOUT : POLLIN;
	return -EAGAIN;
}

static int send_all(struct conn *c, const char *buf, size_t n, int64_t deadline)
{
	while (n > 0) {
		short events;
		ssize_t k = conn_io(c, buf, NULL, n, &events);

		if (k >= 0) {
			buf += k;
			n -= (size_t)k;
		} else if (k == -EAGAIN) {
			int w = wait_fd(c->fd, events, deadline);

			if (w < 0)
				return w;
		} else if (k != -EINTR) {
			return (int)k;
		}
	}
	return 0;
}

/* Reads what is there (waiting until @deadline): bytes, 0 at end of stream, -errno. */
static ssize_t recv_some(struct conn *c, char *buf, size_t n, int64_t deadline)
{
	for (;;) {
		short events;
		ssize_t k = conn_io(c, NULL, buf, n, &events);

		if (k >= 0)
			return k;
		if (k == -EAGAIN) {
			int w = wait_fd(c->fd, events, deadline);

			if (w < 0)
				return w;
		} else if (k != -EINTR) {
			return k;
		}
	}
}

static void append_escaped_path(char **req, size_t *len, size_t *cap, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*len + 4 > *cap) {
			*cap = *cap * 2 + 64;
			*req = xrealloc(*req, *cap);
		}
		if (*p <= 0x20 || *p >= 0x7f)
			*len += (size_t)snprintf(*req + *len, 4, "%%%02X", *p);
		else
			(*req)[(*len)++] = (char)*p;
	}
}

struct http_resp {
	int status;
	char *location;
	char *body;
};

static void http_resp_done(struct http_resp *r)
{
	free(r->location);
	free(r->body);
}

static char *build_request(const struct probe_http_req *req, const char *host, int port,
			   const char *path)
{
	bool ua = false, accept = false;
	const char *host_hdr = NULL;
	cleanup_free char *hp = host_port(host, port);
	size_t len = 0, cap = 256;
	char *out = xmalloc(cap), *tail;

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[i].name;

		if (!strcasecmp(name, "User-Agent"))
			ua = true;
		else if (!strcasecmp(name, "Accept"))
			accept = true;
		else if (!strcasecmp(name, "Host"))
			host_hdr = req->headers[i].value;
	}
	len = (size_t)snprintf(out, cap, "GET ");
	append_escaped_path(&out, &len, &cap, path);
	out[len] = '\0';
	tail = xasprintf("%s HTTP/1.1\r\nHost: %s\r\n%s%s", out, host_hdr ? host_hdr : hp,
			 ua ? "" : "User-Agent: " PROBE_USER_AGENT "\r\n",
			 accept ? "" : "Accept: */*\r\n");
	free(out);
	for (size_t i = 0; i < req->n_headers; i++) {
		char *next;

		if (!strcasecmp(req->headers[i].name, "Host"))
			continue;
		next = xasprintf("%s%s: %s\r\n", tail, req->headers[i].name, req->headers[i].value);
		free(tail);
		tail = next;
	}
	out = xasprintf("%sConnection: close\r\n\r\n", tail);
	free(tail);
	return out;
}

/* The value of header @name in the header block [p, end), or NULL; heap string. */
static char *header_value(const char *p, const char *end, const char *name)
{
	size_t nl = strlen(name);

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		const char *v;

		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
				eol--;
			return xstrndup(v, (size_t)(eol - v));
		}
		p = eol + 2;
	}
	return NULL;
}

/* Sends the GET on @c and reads the answer; as http_once(). */
static int exchange(struct conn *c, const struct probe_http_req *req, const char *host, int port,
		    const char *path, int64_t deadline, bool want_body, struct http_resp *resp,
		    char **ret_msg, bool *ret_timeout)
{
	cleanup_free char *request = NULL, *buf = NULL, *cl = NULL;
	size_t len = 0, hdr_end = 0;
	char *p;
	ssize_t k;

	request = build_request(req, host, port, path);
	k = send_all(c, request, strlen(request), deadline);
	if (k < 0)
		goto io_error;
	buf = xmalloc(HTTP_MAX_HEADER + MAX_BODY + 1);
	while (!hdr_end) {
		if (len == HTTP_MAX_HEADER) {
			*ret_msg = xstrdup("net/http: server response headers exceeded the limit");
			return -1;
		}
		k = recv_some(c, buf + len, HTTP_MAX_HEADER - len, deadline);
		if (k < 0)
			goto io_error;
		if (k == 0) {
			*ret_msg = xstrdup("EOF");
			return -1;
		}
		len += (size_t)k;
		buf[len] = '\0';
		p = memmem(buf, len, "\r\n\r\n", 4);
		if (p)
			hdr_end = (size_t)(p - buf) + 4;
	}
	if (strncmp(buf, "HTTP/", 5) != 0 || !(p = memchr(buf, ' ', hdr_end - 4)) || p[1] < '1' ||
	    p[1] > '9' || p[2] < '0' || p[2] > '9' || p[3] < '0' || p[3] > '9' ||
	    (p[4] != ' ' && p[4] != '\r')) {
		p = memchr(buf, '\r', len);
		*ret_msg = xasprintf("net/http: HTTP/1.x transport connection broken: "
				     "malformed HTTP response \"%.*s\"",
				     (int)(p ? p - buf : 0), buf);
		return -1;
	}
	resp->status = (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
	p = (char *)memmem(buf, hdr_end, "\r\n", 2) + 2;
	resp->location = header_value(p, buf + hdr_end - 2, "Location");
	if (!want_body)
		return 0;
	cl = header_value(p, buf + hdr_end - 2, "Content-Length");
	{
		size_t want = MAX_BODY, have = len - hdr_end;

		if (cl && strtoull(cl, NULL, 10) < MAX_BODY)
			want = (size_t)strtoull(cl, NULL, 10);
		while (have < want) {
			k = recv_some(c, buf + len, want - have, deadline);
			if (k <= 0)
				break;
			len += (size_t)k;
			have += (size_t)k;
		}
		if (have > want)
			have = want;
		resp->body = xstrndup(buf + hdr_end, have);
	}
	return 0;
io_error:
	if (k == -ETIMEDOUT) {
		*ret_timeout = true;
		*ret_msg = xstrdup("context deadline exceeded (Client.Timeout exceeded while "
				   "awaiting headers)");
	} else {
		cleanup_free char *s = h1_go_strerror((int)-k);

		*ret_msg = xasprintf("%s: %s", request && !buf ? "write" : "read", s);
	}
	return -1;
}

/*
 * One GET exchange, over TLS with @https. Returns 0 with the response, or -1 with *ret_msg
 * the error part of Go's message and *ret_timeout when the deadline passed.
 */
static int http_once(const struct probe_http_req *req, bool https, const char *host, int port,
		     const char *path, int64_t deadline, bool want_body, struct http_resp *resp,
		     char **ret_msg, bool *ret_timeout)
{
	struct conn c = {.fd = -1};
	int r;

	c.fd = dial(host, port, deadline, ret_msg, ret_timeout);
	if (c.fd < 0)
		return -1;
	r = https ? tls_start(&c, host, deadline, ret_msg, ret_timeout) : 0;
	if (r == 0)
		r = exchange(&c, req, host, port, path, deadline, want_body, resp, ret_msg,
			     ret_timeout);
	conn_close(&c);
	return r;
}

struct url {
	bool https;
	char *host;
	int port;
	char *path;
};

static void url_done(struct url *u)
{
	free(u->host);
	free(u->path);
}

/* Resolves a Location header against the URL it answered. */
static int url_resolve(const struct url *base, const char *loc, struct url *ret)
{
	cleanup_free char *l = xstrdup(loc);
	char *hash = strchr(l, '#'), *p = l, *slash, *colon;

	if (hash)
		*hash = '\0';
	ret->https = base->https;
	ret->port = base->port;
	if (!strncasecmp(p, "http://", 7) || !strncasecmp(p, "https://", 8) ||
	    !strncmp(p, "//", 2)) {
		if (p[0] != '/') {
			ret->https = p[4] == 's' || p[4] == 'S';
			p += ret->https ? 8 : 7;
		} else {
			p += 2;
		}
		ret->port = ret->https ? 443 : 80;
		slash = strchr(p, '/');
		ret->path = xstrdup(slash ? slash : "/");
		if (slash)
			*slash = '\0';
		if (*p == '[') {
			char *rb = strchr(p, ']');

			if (!rb)
				goto bad;
			*rb = '\0';
			ret->host = xstrdup(p + 1);
			colon = rb[1] == ':' ? rb + 1 : NULL;
		} else {
			colon = strchr(p, ':');
			if (colon)
				*colon = '\0';
			ret->host = xstrdup(p);
		}
		if (colon && colon[1]) {
			char *end;
			long v = strtol(colon + 1, &end, 10);

			if (*end || v <= 0 || v > 65535)
				goto bad;
			ret->port = (int)v;
		}
		if (!*ret->host)
			goto bad;
		return 0;
	}
	ret->host = xstrdup(base->host);
	if (*p == '/') {
		ret->path = xstrdup(p);
	} else {
		const char *q = strchr(base->path, '?');
		size_t bl = q ? (size_t)(q - base->path) : strlen(base->path);
		const char *ls = memrchr(base->path, '/', bl);

		ret->path = xasprintf("%.*s/%s", ls ? (int)(ls - base->path) : 0, base->path, p);
	}
	return 0;
bad:
	url_done(ret);
	return -1;
}

static char *url_string(const struct url *u)
{
	cleanup_free char *hp = host_port(u->host, u->port);

	return xasprintf("%s://%s%s", u->https ? "https" : "http", hp, u->path);
}

static enum probe_result http_run(const struct probe_http_req *req, int timeout_ms, bool hook,
				  char **ret_msg)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	struct url cur = {0};
	enum probe_result res = PROBE_FAILURE;

	if (!req->host || !*req->host) {
		*ret_msg = xstrdup("no host to probe (the pod has no IP yet)");
		return PROBE_UNKNOWN;
	}
	cur.https = req->https;
	cur.host = xstrdup(req->host);
	cur.port = req->port;
	cur.path = xstrdup(req->path && *req->path ? req->path : "/");
	if (cur.path[0] != '/') {
		char *p = xasprintf("/%s", cur.path);

		free(cur.path);
		cur.path = p;
	}
	for (int redirects = 0;; redirects++) {
		cleanup_free char *u = url_string(&cur);
		struct http_resp resp = {0};
		struct url next = {0};
		char *emsg = NULL;
		bool timeout;

		if (http_once(req, cur.https, cur.host, cur.port, cur.path, deadline, true, &resp,
			      &emsg, &timeout) < 0) {
			*ret_msg = xasprintf("Get \"%s\": %s", u, emsg);
			free(emsg);
			break;
		}
		if (hook) {
			*ret_msg = xstrdup("");
			res = PROBE_SUCCESS;
			http_resp_done(&resp);
			break;
		}
		if (resp.location && resp.status >= 300 && resp.status < 400 &&
		    resp.status != 300 && resp.status != 304 && resp.status != 305 &&
		    url_resolve(&cur, resp.location, &next) == 0 &&
		    !strcasecmp(next.host, req->host)) {
			/* Same host (ports may differ): followed, as Go's client does. */
			cleanup_free char *nu = url_string(&next);

			http_resp_done(&resp);
			if (redirects + 1 >= MAX_REDIRECTS) {
				*ret_msg = xasprintf("Get \"%s\": stopped after %d redirects", nu,
						     MAX_REDIRECTS);
				url_done(&next);
				break;
			}
			url_done(&cur);
			cur = next;
			continue;
		}
		url_done(&next);
		if (resp.status >= 200 && resp.status < 300) {
			*ret_msg = xstrdup(resp.body ? resp.body : "");
			res = PROBE_SUCCESS;
		} else if (resp.status >= 300 && resp.status < 400) {
			/* A redirect elsewhere is not followed: a success with a warning. */
			*ret_msg = xasprintf("Probe terminated redirects, Response body: %s",
					     resp.body ? resp.body : "");
			res = PROBE_SUCCESS;
		} else {
			*ret_msg = xasprintf("HTTP probe failed with statuscode: %d", resp.status);
		}
		http_resp_done(&resp);
		break;
	}
	url_done(&cur);
	return res;
}

enum probe_result probe_http(const struct probe_http_req *req, int timeout_ms, char **ret_msg)
{
	return http_run(req, timeout_ms, false, ret_msg);
}

static char *join_command(char *const *argv)
{
	char *s = xstrdup("");

	for (size_t i = 0; argv && argv[i]; i++) {
		char *n = xasprintf("%s%s%s", s, i ? " " : "", argv[i]);

		free(s);
		s = n;
	}
	return s;
}

static enum probe_result exec_run(const struct probe_action *a, const struct prober_ops *ops,
				  const char *key, int timeout_ms, bool hook, char **ret_msg)
{
	cleanup_free char *cmd = join_command(a->command);
	cleanup_free char *out = NULL;
	cleanup_err struct err err = ERR_INIT;
	int64_t t0 = clock_mono_ms();
	int code = -1, r;

	if (!ops || !ops->exec) {
		*ret_msg = xstrdup("exec probes are not supported here");
		return PROBE_UNKNOWN;
	}
	r = ops->exec(ops->arg, key, a->command, timeout_ms, &code, &out, &err);
	if (r == -ETIMEDOUT || (r == 0 && clock_mono_ms() - t0 > (int64_t)timeout_ms)) {
		*ret_msg = xasprintf("command \"%s\" timed out", cmd);
		return PROBE_FAILURE;
	}
	if (r < 0) {
		*ret_msg = xstrdup(err.msg ? err.msg : "exec failed");
		return PROBE_UNKNOWN;
	}
	if (out && strlen(out) > MAX_BODY)
		out[MAX_BODY] = '\0';
	if (code == 0) {
		*ret_msg = xstrdup(out ? out : "");
		return PROBE_SUCCESS;
	}
	if (hook)
		*ret_msg = xasprintf("command '%s' exited with %d: %s", cmd, code, out ? out : "");
	else
		*ret_msg = xstrdup(out ? out : "");
	return PROBE_FAILURE;
}

enum probe_result probe_action_run(const struct probe_action *a, const char *pod_ip,
				   const struct prober_ops *ops, const char *key, int timeout_ms,
				   bool hook, char **ret_msg)
{
	const char *host = a->host && *a->host ? a->host : pod_ip;

	switch (a->type) {
	case PROBE_ACTION_EXEC:
		return exec_run(a, ops, key, timeout_ms, hook, ret_msg);
	case PROBE_ACTION_HTTP: {
		struct probe_http_req req = {
			.host = host,
			.port = a->port,
			.path = a->path,
			.headers = a->headers,
			.n_headers = a->n_headers,
			.https = a->https,
		};

		return http_run(&req, timeout_ms, hook, ret_msg);
	}
	case PROBE_ACTION_TCP:
		if (hook) {
			*ret_msg = xstrdup("tcpSocket is not supported as a lifecycle handler");
			return PROBE_FAILURE;
		}
		return probe_tcp(host, a->port, timeout_ms, ret_msg);
	case PROBE_ACTION_GRPC:
		*ret_msg = xstrdup("gRPC probes are not supported");
		return PROBE_UNKNOWN;
	case PROBE_ACTION_SLEEP: {
		int64_t ms = a->sleep_seconds * 1000;
		struct timespec ts;

		if (ms > timeout_ms)
			ms = timeout_ms;
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		*ret_msg = xstrdup("");
		return PROBE_SUCCESS;
	}
	}
	*ret_msg = xstrdup("unknown handler");
	return PROBE_UNKNOWN;
}

/* Parsing. */

static bool is_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	/* IANA_SVC_NAME: 1-15 of [a-z0-9-], a letter somewhere, no leading, trailing or "--". */
	if (n == 0 || n > 15 || s[0] == '-' || s[n - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

static int parse_port(const json_t *h, const char *path, const json_t *container, int *ret,
		      struct err *err)
{
	const json_t *v = json_object_get(h, "port"), *ports, *p;
	const char *name;
	size_t i;

	if (!v || json_is_null(v))
		return err_set(err, EINVAL, "%s.port: Required value", path);
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		if (n < 1 || n > 65535)
			return err_set(err, EINVAL,
				       "%s.port: Invalid value: %lld: must be between 1 and 65535, "
				       "inclusive",
				       path, (long long)n);
		*ret = (int)n;
		return 0;
	}
	if (!json_is_string(v))
		return err_set(err, EINVAL, "%s.port: expected integer or string", path);
	name = json_string_value(v);
	ports = json_object_get(container, "ports");
	json_array_foreach (ports, i, p) {
		const json_t *pn = json_object_get(p, "name"),
			     *cp = json_object_get(p, "containerPort");

		if (json_is_string(pn) && !strcmp(json_string_value(pn), name) &&
		    json_is_integer(cp) && json_integer_value(cp) > 0 &&
		    json_integer_value(cp) <= 65535) {
			*ret = (int)json_integer_value(cp);
			return 0;
		}
	}
	if (!is_port_name(name)) {
		char *end;
		long n = strtol(name, &end, 10);

		/* upstream's last resort: a number written as a string */
		if (*name && !*end && n >= 1 && n <= 65535) {
			*ret = (int)n;
			return 0;
		}
		return err_set(err, EINVAL, "%s.port: Invalid value: \"%s\": must be a port name",
			       path, name);
	}
	return err_set(err, EINVAL, "%s.port: no container port named '%s'", path, name);
}

static bool has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

static int parse_http(const json_t *h, const char *path, const json_t *container,
		      struct probe_action *a, struct err *err)
{
	cleanup_free char *hp = xasprintf("%s.httpGet", path);
	const char *s = NULL;
	json_t *hdrs = NULL, *e;
	size_t i;
	int r;

	a->type = PROBE_ACTION_HTTP;
	r = parse_port(h, hp, container, &a->port, err);
	if (r < 0)
		return r;
	s = NULL;
	if ((r = jx_str(h, hp, "host", &s, err)) < 0)
		return r;
	if (s && *s) {
		if (has_crlf(s) || strchr(s, '/') || strchr(s, ' '))
			return err_set(err, EINVAL, "%s.host: Invalid value: \"%s\"", hp, s);
		a->host = xstrdup(s);
	}
	s = NULL;
	if ((r = jx_str(h, hp, "path", &s, err)) < 0)
		return r;
	if (s && has_crlf(s))
		return err_set(err, EINVAL, "%s.path: must not contain line breaks", hp);
	a->path = xstrdup(s && *s ? s : "/");
	s = NULL;
	if ((r = jx_str(h, hp, "scheme", &s, err)) < 0)
		return r;
	if (s && *s && strcmp(s, "HTTP") && strcmp(s, "HTTPS"))
		return err_set(err, EINVAL,
			       "%s.scheme: Unsupported value: \"%s\": supported values: \"HTTP\", "
			       "\"HTTPS\"",
			       hp, s);
	a->https = s && !strcmp(s, "HTTPS");
	if ((r = jx_arr(h, hp, "httpHeaders", &hdrs, err)) < 0)
		return r;
	a->headers = xcalloc(json_array_size(hdrs) + 1, sizeof(*a->headers));
	json_array_foreach (hdrs, i, e) {
		const char *name = NULL, *value = "";
		cleanup_free char *ep = xasprintf("%s.httpHeaders[%zu]", hp, i);

		if (!json_is_object(e))
			return err_set(err, EINVAL, "%s: expected object", ep);
		if ((r = jx_str(e, ep, "name", &name, err)) < 0 ||
		    (r = jx_str(e, ep, "value", &value, err)) < 0)
			return r;
		if (!name || !*name || strpbrk(name, " \t\r\n:"))
			return err_set(err, EINVAL,
				       "%s.name: Invalid value: \"%s\": must be a "
				       "valid HTTP header name",
				       ep, name ? name : "");
		if (has_crlf(value))
			return err_set(err, EINVAL, "%s.value: must not contain line breaks", ep);
		a->headers[a->n_headers].name = xstrdup(name);
		a->headers[a->n_headers].value = xstrdup(value);
		a->n_headers++;
	}
	return 0;
}

static int parse_handler(const json_t *h, const char *path, const json_t *container, bool hook,
			 struct probe_action *a, struct err *err)
{
	static const char *const kinds[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"};
	const json_t *which = NULL;
	const char *kind = NULL;
	cleanup_free char *sub = NULL;
	int r;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const json_t *v = json_object_get(h, kinds[i]);

		if (!v || json_is_null(v))
			continue;
		if ((!strcmp(kinds[i], "grpc") && hook) || (!strcmp(kinds[i], "sleep") && !hook))
			return err_set(err, EINVAL, "%s.%s: Forbidden: not supported here", path,
				       kinds[i]);
		if (which)
			return err_set(err, EINVAL, "%s: may not specify more than 1 handler type",
				       path);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s.%s: expected object", path, kinds[i]);
		which = v;
		kind = kinds[i];
	}
	if (!which)
		return err_set(err, EINVAL, "%s: must specify a handler type", path);
	sub = xasprintf("%s.%s", path, kind);
	if (!strcmp(kind, "exec")) {
		a->type = PROBE_ACTION_EXEC;
		if ((r = jx_strv(which, sub, "command", &a->command, err)) < 0)
			return r;
		if (!a->command || !a->command[0])
			return err_set(err, EINVAL, "%s.command: Required value", sub);
		return 0;
	}
	if (!strcmp(kind, "httpGet"))
		return parse_http(which, path, container, a, err);
	if (!strcmp(kind, "sleep")) {
		int64_t s = -1;

		a->type = PROBE_ACTION_SLEEP;
		if ((r = jx_int(which, sub, "seconds", &s, err)) < 0)
			return r;
		if (r == 0 || s < 0)
			return err_set(err, EINVAL, "%s.seconds: must be a non-negative integer",
				       sub);
		a->sleep_seconds = s;
		return 0;
	}
	a->type = !strcmp(kind, "grpc") ? PROBE_ACTION_GRPC : PROBE_ACTION_TCP;
	if (a->type == PROBE_ACTION_TCP) {
		const char *host = NULL;

		if ((r = jx_str(which, sub, "host", &host, err)) < 0)
			return r;
		if (host && *host)
			a->host = xstrdup(host);
	}
	if (a->type == PROBE_ACTION_GRPC) {
		const json_t *v = json_object_get(which, "port");

		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535)
			return err_set(err, EINVAL,
				       "%s.port: must be between 1 and 65535, inclusive", sub);
		a->port = (int)json_integer_value(v);
		return 0;
	}
	return parse_port(which, sub, container, &a->port, err);
}

static const char *container_name(const json_t *container)
{
	const char *n = json_string_value(json_object_get(container, "name"));

	return n ? n : "";
}

int probe_action_parse(const json_t *handler, const char *what, const json_t *container,
		       struct probe_action *ret, struct err *err)
{
	cleanup_free char *path = xasprintf("container '%s': %s", container_name(container), what);
	struct probe_action a = {0};
	int r;

	if (!json_is_object(handler))
		return err_set(err, EINVAL, "%s: expected object", path);
	r = parse_handler(handler, path, container, true, &a, err);
	if (r < 0) {
		probe_action_done(&a);
		return r;
	}
	*ret = a;
	return 0;
}

static const char *probe_field(const json_t *probe, const json_t *container,
			       enum probe_kind *ret_kind)
{
	if (json_object_get(container, "startupProbe") == probe) {
		*ret_kind = PROBE_STARTUP;
		return "startupProbe";
	}
	if (json_object_get(container, "readinessProbe") == probe) {
		*ret_kind = PROBE_READINESS;
		return "readinessProbe";
	}
	*ret_kind = PROBE_LIVENESS;
	return json_object_get(container, "livenessProbe") == probe ? "livenessProbe" : "probe";
}

/* An int32 field: 0 or absent gives @def; negative is invalid. */
static int probe_int(const json_t *probe, const char *path, const char *key, int64_t def,
		     int64_t *ret, struct err *err)
{
	int64_t v = 0;
	int r = jx_int(probe, path, key, &v, err);

	if (r < 0)
		return r;
	if (v < 0 || v > INT32_MAX)
		return err_set(err, EINVAL,
			       "%s.%s: Invalid value: %lld: must be greater than or equal to 0",
			       path, key, (long long)v);
	*ret = v ? v : def;
	return 0;
}

int probe_parse(const json_t *probe, const json_t *container, struct probe_spec *ret,
		struct err *err)
{
	enum probe_kind kind;
	const char *field = probe_field(probe, container, &kind);
	cleanup_free char *path = xasprintf("container '%s': %s", container_name(container), field);
	struct probe_spec s = {.termination_grace_period_seconds = -1};
	int64_t delay, period, timeout, succ, fail, grace = 0;
	int r;

	if (!json_is_object(probe))
		return err_set(err, EINVAL, "%s: expected object", path);
	if ((r = probe_int(probe, path, "initialDelaySeconds", 0, &delay, err)) < 0 ||
	    (r = probe_int(probe, path, "periodSeconds", 10, &period, err)) < 0 ||
	    (r = probe_int(probe, path, "timeoutSeconds", 1, &timeout, err)) < 0 ||
	    (r = probe_int(probe, path, "successThreshold", 1, &succ, err)) < 0 ||
	    (r = probe_int(probe, path, "failureThreshold", 3, &fail, err)) < 0)
		return r;
	if (kind != PROBE_READINESS && succ != 1)
		return err_set(err, EINVAL, "%s.successThreshold: Invalid value: %lld: must be 1",
			       path, (long long)succ);
	r = jx_int(probe, path, "terminationGracePeriodSeconds", &grace, err);
	if (r < 0)
		return r;
	if (r > 0) {
		if (kind == PROBE_READINESS)
			return err_set(
				err, EINVAL,
				"%s.terminationGracePeriodSeconds: Invalid value: %lld: must "
				"not be set for readinessProbes",
				path, (long long)grace);
		if (grace <= 0)
			return err_set(
				err, EINVAL,
				"%s.terminationGracePeriodSeconds: Invalid value: %lld: must "
				"be greater than 0",
				path, (long long)grace);
		s.termination_grace_period_seconds = grace;
	}
	r = parse_handler(probe, path, container, false, &s.action, err);
	if (r < 0) {
		probe_spec_done(&s);
		return r;
	}
	s.initial_delay_ms = delay * 1000;
	s.period_ms = period * 1000;
	s.timeout_ms = timeout * 1000;
	s.success_threshold = (int)succ;
	s.failure_threshold = (int)fail;
	*ret = s;
	return 0;
}

void probe_action_done(struct probe_action *a)
{
	if (!a)
		return;
	strv_free(a->command);
	free(a->host);
	free(a->path);
	for (size_t i = 0; i < a->n_headers; i++) {
		free(a->headers[i].name);
		free(a->headers[i].value);
	}
	free(a->headers);
	*a = (struct probe_action){0};
}

void probe_action_copy(struct probe_action *dst, const struct probe_action *src)
{
	*dst = *src;
	dst->command = NULL;
	if (src->command) {
		size_t n = strv_len(src->command);

		dst->command = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			dst->command[i] = xstrdup(src->command[i]);
	}
	dst->host = src->host ? xstrdup(src->host) : NULL;
	dst->path = src->path ? xstrdup(src->path) : NULL;
	dst->headers = xcalloc(src->n_headers + 1, sizeof(*dst->headers));
	for (size_t i = 0; i < src->n_headers; i++) {
		dst->headers[i].name = xstrdup(src->headers[i].name);
		dst->headers[i].value = xstrdup(src->headers[i].value);
	}
}

void probe_spec_done(struct probe_spec *s)
{
	if (s)
		probe_action_done(&s->action);
}

/* The prober. */

struct entry {
	char *key;
	enum probe_kind kind;
	struct probe_spec spec;
	char *pod_ip;
	int64_t started_ms;
	int64_t due_ms;
	ssize_t heap_idx; /* -1 when not in the heap */
	enum probe_result result;
	enum probe_result last; /* the last attempt's result, for the run length */
	int run;
	bool running; /* queued for or on a worker; the worker then owns freeing it */
	bool removed;
	bool hold;
	struct entry *next;
	struct entry *job_next;
};

struct prober {
	struct prober_ops ops;
	pthread_mutex_t mu;
	pthread_cond_t sched_cond;
	pthread_cond_t work_cond;
	pthread_mutex_t cb_mu; /* serializes callbacks; prober_remove waits on it */
	struct entry *entries;
	struct entry **heap;
	size_t heap_len;
	size_t heap_cap;
	struct entry *jobs_head;
	struct entry *jobs_tail;
	bool stop;
	bool sched_started;
	size_t nworkers;
	pthread_t sched;
	pthread_t workers[PROBER_WORKERS];
};

/* The prober whose callback this thread is running, so prober_remove() does not wait on it. */
static __thread struct prober *in_callback;

static bool heap_less(const struct entry *a, const struct entry *b)
{
	return a->due_ms < b->due_ms;
}

static void heap_set(struct prober *p, size_t i, struct entry *e)
{
	p->heap[i] = e;
	e->heap_idx = (ssize_t)i;
}

static void heap_up(struct prober *p, size_t i)
{
	struct entry *e = p->heap[i];

	while (i > 0 && heap_less(e, p->heap[(i - 1) / 2])) {
		heap_set(p, i, p->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(p, i, e);
}

static void heap_down(struct prober *p, size_t i)
{
	struct entry *e = p->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= p->heap_len)
			break;
		if (c + 1 < p->heap_len && heap_less(p->heap[c + 1], p->heap[c]))
			c++;
		if (!heap_less(p->heap[c], e))
			break;
		heap_set(p, i, p->heap[c]);
		i = c;
	}
	heap_set(p, i, e);
}

static void heap_push(struct prober *p, struct entry *e)
{
	if (p->heap_len == p->heap_cap) {
		p->heap_cap = p->heap_cap ? p->heap_cap * 2 : 16;
		p->heap = xrealloc(p->heap, p->heap_cap * sizeof(*p->heap));
	}
	heap_set(p, p->heap_len++, e);
	heap_up(p, p->heap_len - 1);
	pthread_cond_signal(&p->sched_cond);
}

static void heap_remove(struct prober *p, struct entry *e)
{
	size_t i = (size_t)e->heap_idx;
	struct entry *last;

	if (e->heap_idx < 0)
		return;
	e->heap_idx = -1;
	last = p->heap[--p->heap_len];
	if (i == p->heap_len)
		return;
	heap_set(p, i, last);
	heap_down(p, i);
	heap_up(p, (size_t)last->heap_idx);
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->pod_ip);
	probe_spec_done(&e->spec);
	free(e);
}

static struct entry *find(struct prober *p, const char *key, enum probe_kind kind)
{
	for (struct entry *e = p->entries; e; e = e->next)
		if (e->kind == kind && !strcmp(e->key, key))
			return e;
	return NULL;
}

/* Takes @e out of the prober; a running entry is freed by its worker. */
static void detach(struct prober *p, struct entry *e)
{
	for (struct entry **pp = &p->entries; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	heap_remove(p, e);
	e->removed = true;
	if (!e->running)
		entry_free(e);
}

static int64_t first_due(const struct entry *e, int64_t now)
{
	int64_t t = e->started_ms + e->spec.initial_delay_ms;

	return t > now ? t : now;
}

static void schedule(struct prober *p, struct entry *e, int64_t due)
{
	e->due_ms = due;
	if (e->heap_idx >= 0) {
		heap_down(p, (size_t)e->heap_idx);
		heap_up(p, (size_t)e->heap_idx);
		pthread_cond_signal(&p->sched_cond);
	} else {
		heap_push(p, e);
	}
}

/* Liveness and readiness wait while a startup probe of the same container has not passed. */
static bool gated(struct prober *p, const struct entry *e)
{
	const struct entry *s;

	if (e->kind == PROBE_STARTUP)
		return false;
	s = find(p, e->key, PROBE_STARTUP);
	return s && s->result != PROBE_SUCCESS;
}

static void *sched_main(void *arg)
{
	struct prober *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct entry *e;
		int64_t now = clock_mono_ms();

		if (!p->heap_len) {
			pthread_cond_wait(&p->sched_cond, &p->mu);
			continue;
		}
		e = p->heap[0];
		if (e->due_ms > now) {
			struct timespec ts = {.tv_sec = e->due_ms / 1000,
					      .tv_nsec = (e->due_ms % 1000) * 1000000};

			clock_timedwait(&p->sched_cond, &p->mu, &ts);
			continue;
		}
		heap_remove(p, e);
		if (gated(p, e)) {
			schedule(p, e, now + e->spec.period_ms);
			continue;
		}
		e->running = true;
		e->job_next = NULL;
		if (p->jobs_tail)
			p->jobs_tail->job_next = e;
		else
			p->jobs_head = e;
		p->jobs_tail = e;
		pthread_cond_signal(&p->work_cond);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct notice {
	bool changed;
	bool ok;
	char *changed_msg;
	char *failed_msg;
};

/* Applies one attempt's result under the lock; says which callbacks to make. */
static void apply(struct prober *p, struct entry *e, enum probe_result res, const char *msg,
		  struct notice *n)
{
	const char *kn = probe_kind_name(e->kind);
	int64_t now = clock_mono_ms();

	if (res == PROBE_UNKNOWN) {
		/* kubelet throws an errored attempt away: the result stays as it was. */
		n->failed_msg = xasprintf("%s probe errored: %s", kn, msg);
		return;
	}
	if (res == PROBE_FAILURE)
		n->failed_msg = xasprintf("%s probe failed: %s", kn, msg);
	if (e->last == res) {
		e->run++;
	} else {
		e->last = res;
		e->run = 1;
	}
	if ((res == PROBE_FAILURE && e->run < e->spec.failure_threshold) ||
	    (res == PROBE_SUCCESS && e->run < e->spec.success_threshold))
		return;
	if (e->result != res) {
		e->result = res;
		n->changed = true;
		n->ok = res == PROBE_SUCCESS;
		n->changed_msg = res == PROBE_SUCCESS ? xstrdup(msg) : xstrdup(n->failed_msg);
	}
	/* A failed container is restarted and registered again; until then the probe rests. */
	if ((e->kind == PROBE_LIVENESS && res == PROBE_FAILURE) || e->kind == PROBE_STARTUP) {
		e->hold = true;
		e->run = 0;
	}
	if (e->kind == PROBE_STARTUP && res == PROBE_SUCCESS) {
		for (struct entry *o = p->entries; o; o = o->next)
			if (o != e && !strcmp(o->key, e->key) && !o->running && !o->hold)
				schedule(p, o, first_due(o, now));
	}
}

static void notify(struct prober *p, struct entry *e, const struct notice *n)
{
	bool removed;

	if (!n->failed_msg && !n->changed)
		return;
	pthread_mutex_lock(&p->cb_mu);
	pthread_mutex_lock(&p->mu);
	removed = e->removed;
	pthread_mutex_unlock(&p->mu);
	if (!removed) {
		in_callback = p;
		if (n->failed_msg && p->ops.failed)
			p->ops.failed(p->ops.arg, e->key, e->kind, n->failed_msg);
		if (n->changed && p->ops.changed)
			p->ops.changed(p->ops.arg, e->key, e->kind, n->ok, n->changed_msg);
		in_callback = NULL;
	}
	pthread_mutex_unlock(&p->cb_mu);
}

static void *worker_main(void *arg)
{
	struct prober *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct notice n = {0};
		enum probe_result res;
		struct entry *e;
		char *msg = NULL;
		int64_t t0;

		while (!p->stop && !p->jobs_head)
			pthread_cond_wait(&p->work_cond, &p->mu);
		if (p->stop)
			break;
		e = p->jobs_head;
		p->jobs_head = e->job_next;
		if (!p->jobs_head)
			p->jobs_tail = NULL;
		if (e->removed) {
			entry_free(e);
			continue;
		}
		pthread_mutex_unlock(&p->mu);

		/* The entry's spec, key and address do not change while it runs. */
		t0 = clock_mono_ms();
		res = probe_action_run(&e->spec.action, e->pod_ip, &p->ops, e->key,
				       (int)e->spec.timeout_ms, false, &msg);

		pthread_mutex_lock(&p->mu);
		if (!e->removed)
			apply(p, e, res, msg, &n);
		pthread_mutex_unlock(&p->mu);
		notify(p, e, &n);
		free(msg);
		free(n.failed_msg);
		free(n.changed_msg);
		pthread_mutex_lock(&p->mu);
		e->running = false;
		if (e->removed) {
			entry_free(e);
		} else if (!e->hold) {
			int64_t due = t0 + e->spec.period_ms, now = clock_mono_ms();

			schedule(p, e, due > now ? due : now);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int prober_new(const struct prober_ops *ops, struct prober **ret, struct err *err)
{
	struct prober *p = xcalloc(1, sizeof(*p));
	int r;

	p->ops = *ops;
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->cb_mu, NULL);
	pthread_cond_init(&p->sched_cond, NULL);
	pthread_cond_init(&p->work_cond, NULL);
	r = pthread_create(&p->sched, NULL, sched_main, p);
	if (r) {
		prober_free(p);
		return err_errno(err, r, "start prober thread");
	}
	p->sched_started = true;
	for (size_t i = 0; i < PROBER_WORKERS; i++) {
		r = pthread_create(&p->workers[i], NULL, worker_main, p);
		if (r) {
			prober_free(p);
			return err_errno(err, r, "start prober worker");
		}
		p->nworkers++;
	}
	*ret = p;
	return 0;
}

void prober_add(struct prober *p, const char *key, enum probe_kind kind,
		const struct probe_spec *spec, const char *pod_ip, int64_t started_ms)
{
	struct entry *e = xcalloc(1, sizeof(*e)), *old;

	e->key = xstrdup(key);
	e->kind = kind;
	e->spec = *spec;
	probe_action_copy(&e->spec.action, &spec->action);
	if (e->spec.period_ms <= 0)
		e->spec.period_ms = 10000;
	if (e->spec.timeout_ms <= 0)
		e->spec.timeout_ms = 1000;
	if (e->spec.success_threshold <= 0)
		e->spec.success_threshold = 1;
	if (e->spec.failure_threshold <= 0)
		e->spec.failure_threshold = 3;
	e->pod_ip = pod_ip ? xstrdup(pod_ip) : NULL;
	e->started_ms = started_ms;
	e->heap_idx = -1;
	e->result = kind == PROBE_READINESS  ? PROBE_FAILURE
		    : kind == PROBE_LIVENESS ? PROBE_SUCCESS
					     : PROBE_UNKNOWN;
	e->last = PROBE_UNKNOWN;

	pthread_mutex_lock(&p->mu);
	old = find(p, key, kind);
	if (old)
		detach(p, old);
	e->next = p->entries;
	p->entries = e;
	schedule(p, e, first_due(e, clock_mono_ms()));
	pthread_mutex_unlock(&p->mu);
}

void prober_remove(struct prober *p, const char *key)
{
	pthread_mutex_lock(&p->mu);
	for (struct entry *e = p->entries, *next; e; e = next) {
		next = e->next;
		if (!strcmp(e->key, key))
			detach(p, e);
	}
	pthread_mutex_unlock(&p->mu);
	/* Wait out a callback in flight; entries now marked removed get no further ones. */
	if (in_callback != p) {
		pthread_mutex_lock(&p->cb_mu);
		pthread_mutex_unlock(&p->cb_mu);
	}
}

enum probe_result prober_result(struct prober *p, const char *key, enum probe_kind kind)
{
	enum probe_result r = PROBE_UNKNOWN;
	struct entry *e;

	pthread_mutex_lock(&p->mu);
	e = find(p, key, kind);
	if (e)
		r = e->result;
	pthread_mutex_unlock(&p->mu);
	return r;
}

void prober_free(struct prober *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->sched_cond);
	pthread_cond_broadcast(&p->work_cond);
	pthread_mutex_unlock(&p->mu);
	if (p->sched_started)
		pthread_join(p->sched, NULL);
	for (size_t i = 0; i < p->nworkers; i++)
		pthread_join(p->workers[i], NULL);
	/* Queued jobs never ran: removed ones are only reachable from the queue. */
	for (struct entry *e = p->jobs_head, *next; e; e = next) {
		next = e->job_next;
		if (e->removed)
			entry_free(e);
	}
	for (struct entry *e = p->entries, *next; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	free(p->heap);
	pthread_cond_destroy(&p->sched_cond);
	pthread_cond_destroy(&p->work_cond);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->cb_mu);
	free(p);
}
