/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-forward over SPDY (see portforward.h), following the kubelet's
 * cri/streaming/portforward/httpstream.go: streams pair up by requestid, a thread per
 * pair dials the pod and copies both ways (a second thread carries the client's bytes),
 * and whatever goes wrong is written as text on the pair's error stream.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/stream/portforward.h"
#include "cluster/stream/spdy.h"
#include "cluster/stream/websocket.h"

/* kubelet's DefaultStreamCreationTimeout */
#define PF_STREAM_TIMEOUT_MS 30000
#define PF_COPY_BUFFER       (32u << 10)
/* a client may hold a thousand requests open: their threads need little (buffers are heap) */
#define PF_THREAD_STACK (256u << 10)

struct pf_pair {
	struct pf_pair *next;
	struct pf_server *srv;
	char *request_id;
	uint16_t port;
	struct spdy_stream *data; /* references */
	struct spdy_stream *error;
	bool complete;
	int fd; /* the pod connection once dialled, under srv->lock */
};

struct pf_server {
	const struct pf_ops *ops;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pf_pair *waiting; /* pairs missing a stream */
	struct pf_pair *active;  /* pairs forwarding */
	unsigned running;        /* pair threads */
	bool ended;
};

static int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	int r;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, PF_THREAD_STACK);
	r = pthread_create(t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return r;
}

static void pair_unlink(struct pf_pair **list, struct pf_pair *p)
{
	for (struct pf_pair **pp = list; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
	}
}

static void pair_free(struct pf_pair *p)
{
	spdy_stream_unref(p->data);
	spdy_stream_unref(p->error);
	free(p->request_id);
	free(p);
}

/* Writes @msg on the pair's error stream: what the client prints for a failed request. */
static void pair_report(struct spdy_stream *error, const char *msg)
{
	struct err err = ERR_INIT;

	log_debug("port-forward: %s", msg);
	if (error && spdy_stream_write(error, msg, strlen(msg), &err) < 0)
		log_debug("port-forward: report on the error stream: %s", err.msg);
	err_clear(&err);
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

/* The client's bytes into the pod; its FIN half-closes the pod connection. */
static void *copy_in(void *arg)
{
	struct pf_pair *p = arg;
	cleanup_free uint8_t *buf = xmalloc(PF_COPY_BUFFER);
	struct err err = ERR_INIT;

	for (;;) {
		ssize_t n = spdy_stream_read(p->data, buf, PF_COPY_BUFFER, &err);
		int r;

		if (n == 0) {
			shutdown(p->fd, SHUT_WR);
			break;
		}
		if (n < 0) {
			/* reset by the client or the session is gone: abandon the connection */
			log_debug("port-forward: request %s: %s", p->request_id, err.msg);
			shutdown(p->fd, SHUT_RDWR);
			break;
		}
		r = send_all(p->fd, buf, n);
		if (r < 0) {
			log_debug("port-forward: request %s: write to pod port %u: %s",
				  p->request_id, p->port, strerror(-r));
			spdy_stream_ignore_input(p->data);
			shutdown(p->fd, SHUT_RDWR);
			break;
		}
	}
	err_clear(&err);
	return NULL;
}

/* The pod's bytes to the client; its end of stream is the data stream's FIN. */
static void copy_out(struct pf_pair *p)
{
	cleanup_free uint8_t *buf = xmalloc(PF_COPY_BUFFER);
	struct err err = ERR_INIT;

	for (;;) {
		ssize_t n = read(p->fd, buf, PF_COPY_BUFFER);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			log_debug("port-forward: request %s: read from pod port %u: %m",
				  p->request_id, p->port);
		if (n <= 0)
			break;
		if (spdy_stream_write(p->data, buf, n, &err) < 0) {
			log_debug("port-forward: request %s: %s", p->request_id, err.msg);
			shutdown(p->fd, SHUT_RDWR);
			break;
		}
	}
	err_clear(&err);
}

static void pair_forward(struct pf_pair *p)
{
	const struct pf_ops *ops = p->srv->ops;
	cleanup_free char *msg = NULL;
	cleanup_free char *text = NULL;
	pthread_t t;
	int fd = -1, r;

	r = ops->dial(ops->arg, p->port, &fd, &msg);
	if (r < 0) {
		text = xasprintf("error forwarding port %u to pod %s, uid %s: %s", p->port,
				 ops->pod ? ops->pod : "", ops->uid ? ops->uid : "",
				 msg ? msg : strerror(-r));
		pair_report(p->error, text);
		return;
	}
	pthread_mutex_lock(&p->srv->lock);
	p->fd = fd;
	if (p->srv->ended)
		shutdown(fd, SHUT_RDWR);
	p->next = p->srv->active;
	p->srv->active = p;
	pthread_mutex_unlock(&p->srv->lock);

	r = thread_start(&t, copy_in, p);
	if (r != 0) {
		text = xasprintf("error forwarding port %u to pod %s, uid %s: start copier: %s",
				 p->port, ops->pod ? ops->pod : "", ops->uid ? ops->uid : "",
				 strerror(r));
		pair_report(p->error, text);
	} else {
		copy_out(p);
		pthread_join(t, NULL);
	}
	pthread_mutex_lock(&p->srv->lock);
	pair_unlink(&p->srv->active, p);
	p->fd = -1;
	pthread_mutex_unlock(&p->srv->lock);
	close(fd);
}

static void *pair_run(void *arg)
{
	struct pf_pair *p = arg;
	struct pf_server *srv = p->srv;
	int ms = srv->ops->stream_timeout_ms > 0 ? srv->ops->stream_timeout_ms
						 : PF_STREAM_TIMEOUT_MS;
	struct err err = ERR_INIT;
	struct timespec deadline;
	bool complete, ended;
	int r = 0;

	clock_deadline(&deadline, ms);
	pthread_mutex_lock(&srv->lock);
	while (!p->complete && !srv->ended && r != ETIMEDOUT)
		r = clock_timedwait(&srv->cond, &srv->lock, &deadline);
	complete = p->complete;
	ended = srv->ended;
	if (!complete)
		pair_unlink(&srv->waiting, p);
	pthread_mutex_unlock(&srv->lock);

	if (complete) {
		pair_forward(p);
	} else if (!ended) {
		cleanup_free char *text =
			xasprintf("request %s: timed out waiting for streams", p->request_id);

		pair_report(p->error, text);
	}
	/* kubelet closes both streams when a request ends; the client waits for the error
	 * stream's end before it forgets the request */
	if (p->data && spdy_stream_close(p->data, &err) < 0) {
		log_debug("port-forward: request %s: %s", p->request_id, err.msg);
		err_clear(&err);
	}
	if (p->error && spdy_stream_close(p->error, &err) < 0) {
		log_debug("port-forward: request %s: %s", p->request_id, err.msg);
		err_clear(&err);
	}
	pthread_mutex_lock(&srv->lock);
	pair_free(p);
	srv->running--;
	pthread_cond_broadcast(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Checks a stream's headers as the kubelet's httpStreamReceived does; NULL when fine. */
static char *stream_check(const struct spdy_headers *h, uint16_t *ret_port)
{
	const char *port = spdy_headers_get(h, PF_HEADER_PORT);
	const char *type = spdy_headers_get(h, PF_HEADER_STREAM_TYPE);
	unsigned long v = 0;
	char *end = NULL;

	if (!port || !*port)
		return xasprintf("\"%s\" header is required", PF_HEADER_PORT);
	errno = 0;
	if (*port >= '0' && *port <= '9')
		v = strtoul(port, &end, 10);
	if (!end || *end || errno || v > 65535)
		return xasprintf("unable to parse \"%s\" as a port", port);
	if (v < 1)
		return xasprintf("port \"%s\" must be > 0", port);
	if (!type || !*type)
		return xasprintf("\"%s\" header is required", PF_HEADER_STREAM_TYPE);
	if (strcmp(type, PF_STREAM_ERROR) != 0 && strcmp(type, PF_STREAM_DATA) != 0)
		return xasprintf("invalid stream type \"%s\"", type);
	*ret_port = v;
	return NULL;
}

static struct pf_pair *pair_get(struct pf_server *srv, const char *request_id, int *ret_err)
{
	struct pf_pair *p;
	pthread_t t;
	int r;

	for (p = srv->waiting; p; p = p->next)
		if (strcmp(p->request_id, request_id) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->srv = srv;
	p->request_id = xstrdup(request_id);
	p->fd = -1;
	r = thread_start(&t, pair_run, p);
	if (r != 0) {
		pair_free(p);
		*ret_err = -r;
		return NULL;
	}
	pthread_detach(t);
	srv->running++;
	p->next = srv->waiting;
	srv->waiting = p;
	return p;
}

static int on_stream(void *arg, struct spdy_stream *st, const struct spdy_headers *h)
{
	struct pf_server *srv = arg;
	cleanup_free char *bad = NULL;
	cleanup_free char *derived = NULL;
	cleanup_free char *dup = NULL;
	struct spdy_stream *report = NULL;
	const char *rid = spdy_headers_get(h, PF_HEADER_REQUEST_ID);
	struct spdy_stream **slot;
	struct pf_pair *p;
	uint16_t port = 0;
	bool is_error;
	int r = 0;

	bad = stream_check(h, &port);
	if (bad) {
		log_debug("port-forward: refuse stream %u: %s", spdy_stream_id(st), bad);
		return -EINVAL;
	}
	is_error = strcmp(spdy_headers_get(h, PF_HEADER_STREAM_TYPE), PF_STREAM_ERROR) == 0;
	if (!rid || !*rid) {
		/* clients older than requestid send error then data with consecutive odd ids */
		derived = xasprintf("%u", spdy_stream_id(st) - (is_error ? 0 : 2));
		rid = derived;
	}

	pthread_mutex_lock(&srv->lock);
	p = pair_get(srv, rid, &r);
	if (!p) {
		pthread_mutex_unlock(&srv->lock);
		log_debug("port-forward: start request %s: %s", rid, strerror(-r));
		return r;
	}
	slot = is_error ? &p->error : &p->data;
	if (*slot) {
		dup = xasprintf(
			"error processing stream for request %s: %s stream already assigned", rid,
			is_error ? PF_STREAM_ERROR : PF_STREAM_DATA);
		if (p->error)
			report = spdy_stream_ref(p->error);
		r = -EEXIST;
	} else {
		*slot = spdy_stream_ref(st);
		if (is_error)
			spdy_stream_ignore_input(st); /* the client writes nothing there */
		else
			p->port = port;
		if (p->data && p->error) {
			p->complete = true;
			pair_unlink(&srv->waiting, p);
			pthread_cond_broadcast(&srv->cond);
		}
	}
	pthread_mutex_unlock(&srv->lock);
	if (dup) {
		pair_report(report, dup);
		spdy_stream_unref(report);
	}
	return r;
}

int pf_serve(const struct spdy_transport *t, const struct pf_ops *ops, struct err *err)
{
	struct pf_server srv = {.ops = ops};
	struct spdy_session *s = NULL;
	int r;

	r = spdy_session_new(t, true, &s, err);
	if (r < 0)
		return err_wrap(err, "serve port-forward");
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.cond, NULL);

	r = spdy_session_serve(s, on_stream, &srv, err);

	pthread_mutex_lock(&srv.lock);
	srv.ended = true;
	/* connections a client half-closed would otherwise wait for the pod forever */
	for (struct pf_pair *p = srv.active; p; p = p->next)
		if (p->fd >= 0)
			shutdown(p->fd, SHUT_RDWR);
	pthread_cond_broadcast(&srv.cond);
	while (srv.running > 0)
		pthread_cond_wait(&srv.cond, &srv.lock);
	pthread_mutex_unlock(&srv.lock);

	spdy_session_free(s);
	pthread_mutex_destroy(&srv.lock);
	pthread_cond_destroy(&srv.cond);
	if (r < 0)
		return err_wrap(err, "serve port-forward");
	return 0;
}

static ssize_t fd_read(void *arg, void *buf, size_t cap)
{
	int fd = *(int *)arg;
	ssize_t n;

	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int fd_write(void *arg, const void *buf, size_t len)
{
	return send_all(*(int *)arg, buf, len);
}

static void fd_shutdown(void *arg)
{
	shutdown(*(int *)arg, SHUT_RDWR);
}

int pf_serve_fd(int fd, const struct pf_ops *ops, struct err *err)
{
	struct spdy_transport t = {fd_read, fd_write, fd_shutdown, &fd};

	return pf_serve(&t, ops, err);
}

/* The WebSocket tunnel: SPDY's byte stream cut into binary messages, in either direction. */
struct pf_ws {
	struct ws_conn *c;
	int fd;
	char *msg;
	size_t len, off;
};

static ssize_t ws_tr_read(void *arg, void *buf, size_t cap)
{
	struct pf_ws *w = arg;

	while (w->off >= w->len) {
		struct err err = ERR_INIT;
		int op, r;

		free(w->msg);
		w->msg = NULL;
		w->len = w->off = 0;
		r = ws_read(w->c, &op, &w->msg, &w->len, &err);
		if (r == -EPIPE) {
			err_clear(&err);
			return 0; /* the client's close frame: a clean end */
		}
		if (r < 0) {
			log_debug("port-forward: %s", err.msg);
			err_clear(&err);
			return r;
		}
		if (op != WS_BINARY) {
			log_debug("port-forward: websocket message of type %d in a SPDY tunnel",
				  op);
			return -EPROTO;
		}
	}
	if (cap > w->len - w->off)
		cap = w->len - w->off;
	memcpy(buf, w->msg + w->off, cap);
	w->off += cap;
	return cap;
}

static int ws_tr_write(void *arg, const void *buf, size_t len)
{
	struct pf_ws *w = arg;
	struct err err = ERR_INIT;
	int r;

	r = ws_write(w->c, WS_BINARY, buf, len, &err);
	if (r < 0)
		log_debug("port-forward: %s", err.msg);
	err_clear(&err);
	return r;
}

static void ws_tr_shutdown(void *arg)
{
	struct pf_ws *w = arg;

	ws_close(w->c, 1000, "");
	shutdown(w->fd, SHUT_RDWR);
}

int pf_serve_ws(int fd, const struct pf_ops *ops, struct err *err)
{
	struct pf_ws w = {.fd = fd};
	struct spdy_transport t = {ws_tr_read, ws_tr_write, ws_tr_shutdown, &w};
	int r;

	w.c = ws_conn_new(fd, true);
	r = pf_serve(&t, ops, err);
	free(w.msg);
	ws_conn_free(w.c);
	return r;
}
