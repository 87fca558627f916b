/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP(S) server under the API server and the node agent, on libmicrohttpd (MHD,
 * loaded on first use, lib_mhd.h) with GnuTLS.
 *
 * Threads. MHD runs a pool of cfg->threads event-loop threads, each with its own epoll
 * set; a connection stays on the thread that accepted it, and the handler runs there,
 * so a handler must not block for long. One more thread per server, the monitor, waits
 * for disconnects of streams (below). Writers of streams are any threads of the caller.
 *
 * Offloaded requests. A request that cfg->offload picks runs its handler on one of the
 * workers instead: the loop defers the connection (below) and hands a worker a copy of
 * the request (method, path, headers, query and the body moved; an in-process request
 * to the handler, whose sink keeps the answer). The worker resumes the connection and
 * the loop sends the answer with the response headers the handler added. The copy and
 * the answer are shared by the worker and the deferred answer's resume callback, which
 * runs once (with NULL when the client left or the server stops); the last one frees.
 * Stopping joins the workers after MHD, so a handler may finish after its client left.
 *
 * Streams. A stream is a chunked response whose content reader (stream_read) takes bytes
 * from the stream's queue. With the queue empty the reader suspends the connection and
 * returns 0: a suspended connection costs no thread and no polling. A writer appends to
 * the queue and resumes the connection; http_stream_close() resumes it so the reader can
 * end the response. Every transition happens under the stream's mutex, with `suspended`
 * recording that MHD holds the connection suspended, so the connection is resumed exactly
 * once per suspension and never after the response is gone (`done`).
 *
 * A stream has two references: the caller's (dropped by http_stream_close()) and the
 * response's (dropped by stream_free(), MHD's free callback for the response, which runs
 * exactly once: when the response ends, the client goes away, the connection fails or the
 * server stops). stream_free() marks the stream done (writes return -EPIPE from then on)
 * and calls on_close. While the monitor watches the stream's socket it holds a third.
 *
 * Disconnects. MHD does not poll suspended connections, so an idle watch whose client has
 * gone would otherwise be noticed only when the next write fails. The monitor keeps every
 * stream's socket in its own epoll set for EPOLLRDHUP (the client closed or shut down its
 * side) and EPOLLHUP/EPOLLERR (reset; TCP keep-alive, set on stream sockets, turns a
 * vanished peer into an error within about a minute). It then marks the stream gone and
 * resumes it; the reader ends the response with an error, MHD closes the connection and
 * on_close runs. Writes fail with -EPIPE from the moment the stream is
 * marked gone. Writes also catch what the monitor cannot see: a write whose data MHD
 * cannot deliver closes the connection, and the next write returns -EPIPE. Streaming
 * clients do not half-close their side (HTTP/1.1 gives them no reason to), so
 * EPOLLRDHUP is taken as the end of the client.
 *
 * Lock order: server lock, then stream lock, then MHD's internal locks (taken by
 * MHD_resume_connection and MHD_suspend_connection). MHD calls the reader and the free
 * callback without holding its locks, so no cycle arises.
 *
 * Upgrades. A 101 response made with MHD_create_response_for_upgrade hands the socket
 * (for TLS, MHD's end of a socketpair it relays through the TLS session) to on_upgrade, on
 * the connection's thread; the session then runs on a detached thread of its own, which
 * calls MHD's close action when the user's callback returns, so the user never closes
 * anything. Until then the connection counts in n_upgraded: MHD must not be stopped under
 * an upgraded connection that is not closed, so http_server_stop() shuts the sockets down
 * and waits for the count to drop. A 101 that never went out (the client left first) is
 * reported to the callback with fd -1 from request_free().
 *
 * Deferred answers. http_defer() lets the handler return without a response: the
 * connection is suspended (MHD allows that inside the access handler) until
 * http_defer_resume(), and MHD, resumed, calls the access handler again, which runs the
 * user's resume callback there to answer. The handle has two references (the caller's and
 * the request's) and the same suspended/ready flags under its lock as streams have, so the
 * connection is resumed exactly once whichever of the handler's return and the resume
 * comes first. http_server_stop() resumes every waiting one (the client gets 503).
 *
 * In-process requests (http_local_new) have no connection: the handler runs on the
 * caller's thread and answers into a sink. Their streams keep the two references, the
 * sink holding the response's: writes go straight to the sink under the stream's lock
 * (the sink copies), and the response is over at the first of the owner's
 * http_stream_close() (everything written has reached the sink) and the sink's
 * http_local_release(); whichever comes first marks the stream done and runs on_close
 * on its own thread, after dropping the lock.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/allocator.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/api/http.h"
#include "cluster/api/lib_mhd.h"

/*
 * Event loops when the caller names none: one per online CPU, at least 2 and at most 8.
 * The loops only move bytes and TLS records (handlers that take time run on the workers),
 * and more loops than cores each find fewer events per wakeup. Under the scheduler
 * benchmark on 2 cores (bench/ab.sh, four rounds), 2 loops instead of 8 took B/A 0.959 of
 * the server's CPU per pod, and 4 loops 0.964.
 */
#define MIN_THREADS        2
#define MAX_THREADS        8
#define DEFAULT_WORKERS    32
#define DEFAULT_MAX_BODY   ((size_t)3 << 20)
#define DEFAULT_MAX_QUEUED ((size_t)16 << 20)
/*
 * Idle time before MHD closes a connection it is polling. Suspended connections (idle
 * streams) do not time out: the monitor notices their clients leaving instead.
 */
#define IDLE_TIMEOUT_SECONDS 300
/* MHD allocates this much per streamed response; it only matters to HTTP/1.0 clients */
#define STREAM_BLOCK_SIZE 2048
/* a drained queue keeps at most this much memory, so idle watches stay small */
#define QUEUE_KEEP_BYTES (64 << 10)
/* an oversized chunked upload is read and dropped up to this multiple of max_body */
#define DISCARD_FACTOR 4

struct http_stream {
	pthread_mutex_t lock;
	int refs; /* atomic */

	/* the server's list of live streams, under the server's lock */
	struct http_server *srv;
	struct http_stream *prev, *next;
	/* the monitor's release list, under mon_lock */
	struct http_stream *release_next;

	/* the rest under lock */
	struct MHD_Connection *conn; /* NULL once done */
	char *q;                     /* queued bytes: q[q_off .. q_off + q_len) */
	size_t q_off, q_len, q_cap;
	bool suspended; /* MHD holds the connection suspended by stream_read */
	bool done;      /* the response is gone: MHD freed it */
	bool closing;   /* the caller closed: end after the queue */
	bool gone;      /* the client went away (monitor) */
	bool stopping;  /* the server is stopping */
	bool monitored; /* fd is in the monitor's epoll set (holding a reference) */
	int fd;
	void (*on_close)(void *arg);
	void *arg;
	bool local; /* an in-process response: bytes go to sink, no MHD */
	struct http_local_sink sink;
};

/* An upgraded connection, owned by its thread (upgraded_main). */
struct upgraded {
	struct http_server *srv;
	struct MHD_UpgradeResponseHandle *urh;
	int fd;
	http_upgrade_fn fn;
	void *arg;
	char *extra;
	size_t extra_len;
	struct upgraded *prev, *next; /* the server's list, under its lock */
};

struct http_defer {
	pthread_mutex_t lock;
	int refs; /* atomic: the caller's and the request's */
	struct http_server *srv;
	struct http_defer *prev, *next; /* the server's list, under its lock */
	bool linked;                    /* under the server's lock */
	void (*resume)(void *arg, struct http_request *req);
	void *arg;

	/* under lock */
	struct MHD_Connection *conn;
	bool ready;     /* http_defer_resume() ran */
	bool suspended; /* MHD holds the connection suspended */
	bool finished;  /* resume ran (or is running) */
	bool stopping;  /* the server is stopping */
};

struct http_header {
	char *name;
	char *value;
};

/*
 * An offloaded request: a copy of it that a worker's handler answers into the sink below,
 * while the connection waits deferred. Two references: the worker's and the deferred
 * answer's (its resume callback runs once, with the request or with NULL).
 */
struct offload {
	struct offload *next; /* the pool's queue */
	struct http_request *copy;
	struct http_defer *defer; /* the worker's reference */
	int refs;                 /* atomic */
	unsigned status;
	char *content_type;
	char *body;
	size_t len;
	struct http_stream *stream; /* the handler began a stream: refused */
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len, cap;
	uint64_t discarded;
	bool too_large;
	bool responded;
	bool queued; /* MHD took the response */
	bool http11;
	/* a 101 queued: the callback waiting for MHD to hand the socket over */
	bool up_pending;
	http_upgrade_fn up_fn;
	void *up_arg;
	struct http_defer *defer; /* the request's reference */
	struct http_header *headers;
	size_t n_headers;
	char peer[INET6_ADDRSTRLEN + 8];

	/* in-process requests: their own copies of what MHD would hold */
	bool local;
	bool offloaded; /* the copy an offloaded request's handler answers (local too) */
	struct http_local_sink sink;
	char *local_method, *local_path;
	struct http_header *in_headers, *args;
	size_t n_in_headers, n_args;
};

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler_fn handler;
	void *ctx;
	size_t max_body;
	uint16_t port;
	char *cert_pem;
	char *key_pem;

	pthread_mutex_t lock;
	bool stopping;
	struct http_stream *streams;
	/* upgraded connections and deferred requests, under lock */
	struct upgraded *upgraded;
	unsigned n_upgraded;
	pthread_cond_t upgraded_cond;
	struct http_defer *defers;

	/* the workers of offloaded requests */
	bool (*offload)(void *ctx, const struct http_request *req);
	pthread_t *workers;
	unsigned n_workers;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct offload *pool_head, *pool_tail; /* under pool_lock */
	bool pool_stop;                        /* under pool_lock */

	pthread_mutex_t mon_lock;
	int mon_epfd;
	int mon_evfd;
	pthread_t mon_thread;
	bool mon_running;
	bool mon_quit;                   /* under mon_lock */
	struct http_stream *mon_release; /* under mon_lock */
};

static void stream_ref(struct http_stream *st)
{
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
}

static void stream_unref(struct http_stream *st)
{
	if (__atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free(st->q);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* With st->lock held: hands the connection back to MHD if stream_read suspended it. */
static void stream_wake(struct http_stream *st)
{
	if (!st->suspended || st->done)
		return;
	st->suspended = false;
	MHD_resume_connection(st->conn);
}

static void queue_append(struct http_stream *st, const char *data, size_t len)
{
	if (st->q_off + st->q_len + len > st->q_cap) {
		if (st->q_off > 0) {
			memmove(st->q, st->q + st->q_off, st->q_len);
			st->q_off = 0;
		}
		if (st->q_len + len > st->q_cap) {
			size_t cap = st->q_cap ? st->q_cap : 4096;

			while (cap < st->q_len + len)
				cap *= 2;
			st->q = xrealloc(st->q, cap);
			st->q_cap = cap;
		}
	}
	memcpy(st->q + st->q_off + st->q_len, data, len);
	st->q_len += len;
}

static size_t queue_take(struct http_stream *st, char *buf, size_t max)
{
	size_t n = st->q_len < max ? st->q_len : max;

	memcpy(buf, st->q + st->q_off, n);
	st->q_off += n;
	st->q_len -= n;
	if (st->q_len == 0) {
		st->q_off = 0;
		if (st->q_cap > QUEUE_KEEP_BYTES) {
			free(st->q);
			st->q = NULL;
			st->q_cap = 0;
		}
	}
	return n;
}

/* MHD's content reader for streams; runs on the connection's server thread. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *st = cls;
	ssize_t r;

	(void)pos;
	pthread_mutex_lock(&st->lock);
	if (st->gone || st->stopping) {
		r = MHD_CONTENT_READER_END_WITH_ERROR;
	} else if (st->q_len > 0) {
		r = (ssize_t)queue_take(st, buf, max);
	} else if (st->closing) {
		r = MHD_CONTENT_READER_END_OF_STREAM;
	} else {
		/* under the lock, so a writer sees `suspended` only once MHD has it */
		st->suspended = true;
		MHD_suspend_connection(st->conn);
		r = 0;
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void monitor_release(struct http_server *srv, struct http_stream *st)
{
	uint64_t one = 1;

	pthread_mutex_lock(&srv->mon_lock);
	st->release_next = srv->mon_release;
	srv->mon_release = st;
	pthread_mutex_unlock(&srv->mon_lock);
	if (write(srv->mon_evfd, &one, sizeof(one)) < 0)
		log_debug("http: wake disconnect monitor: %s", strerror(errno));
}

/*
 * MHD's free callback for a stream's response: the response is finished, whatever the
 * reason. Runs once, on a server thread (or in http_respond_stream when MHD refused the
 * response), while the socket is still open.
 */
static void stream_free(void *cls)
{
	struct http_stream *st = cls;
	struct http_server *srv = st->srv;
	bool monitored;

	pthread_mutex_lock(&st->lock);
	st->done = true;
	st->suspended = false;
	st->conn = NULL;
	monitored = st->monitored;
	st->monitored = false;
	pthread_mutex_unlock(&st->lock);

	if (monitored) {
		/* the connection may live on for further requests: stop watching its socket */
		epoll_ctl(srv->mon_epfd, EPOLL_CTL_DEL, st->fd, NULL);
		/*
		 * The monitor may hold this stream from an epoll_wait that ran before the
		 * removal; it drops its reference itself once done with that batch.
		 */
		monitor_release(srv, st);
	}
	pthread_mutex_lock(&srv->lock);
	if (st->prev)
		st->prev->next = st->next;
	else
		srv->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->prev = st->next = NULL;
	pthread_mutex_unlock(&srv->lock);

	if (st->on_close)
		st->on_close(st->arg);
	stream_unref(st);
}

static void stream_peer_gone(struct http_stream *st)
{
	pthread_mutex_lock(&st->lock);
	if (!st->done && !st->gone) {
		st->gone = true;
		stream_wake(st);
	}
	pthread_mutex_unlock(&st->lock);
}

static void monitor_drain(struct http_server *srv, bool *ret_quit)
{
	struct http_stream *list;

	pthread_mutex_lock(&srv->mon_lock);
	list = srv->mon_release;
	srv->mon_release = NULL;
	if (ret_quit)
		*ret_quit = srv->mon_quit;
	pthread_mutex_unlock(&srv->mon_lock);
	while (list) {
		struct http_stream *next = list->release_next;

		stream_unref(list);
		list = next;
	}
}

static void *monitor_main(void *arg)
{
	struct http_server *srv = arg;
	struct epoll_event evs[64];
	bool quit = false;

	while (!quit) {
		int n = epoll_wait(srv->mon_epfd, evs, 64, -1);

		if (n < 0 && errno != EINTR) {
			log_debug("http: disconnect monitor: %s", strerror(errno));
			n = 0;
		}
		for (int i = 0; i < n; i++) {
			uint64_t v;

			if (evs[i].data.ptr)
				stream_peer_gone(evs[i].data.ptr);
			else if (read(srv->mon_evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_debug("http: disconnect monitor: %s", strerror(errno));
		}
		/* only now: this batch's events no longer point at released streams */
		monitor_drain(srv, &quit);
	}
	return NULL;
}

/*
 * Probes an idle stream's peer so that a vanished machine turns into a socket error
 * within about a minute. No TCP_USER_TIMEOUT: it would also cut off a live client that
 * merely stopped reading for a while (a paused terminal); the write queue limit deals
 * with those.
 */
static void set_keepalive(int fd)
{
	static const int on = 1, idle = 30, interval = 10, count = 3;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

/* Called on the connection's thread before the response is queued. */
static void monitor_add(struct http_server *srv, struct http_stream *st)
{
	const union MHD_ConnectionInfo *info;
	struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT, .data.ptr = st};

	info = MHD_get_connection_info(st->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!info)
		return;
	st->fd = info->connect_fd;
	set_keepalive(st->fd);
	stream_ref(st);
	pthread_mutex_lock(&st->lock);
	st->monitored = true;
	pthread_mutex_unlock(&st->lock);
	if (epoll_ctl(srv->mon_epfd, EPOLL_CTL_ADD, st->fd, &ev) == 0)
		return;
	log_debug("http: watch stream socket: %s", strerror(errno));
	pthread_mutex_lock(&st->lock);
	st->monitored = false;
	pthread_mutex_unlock(&st->lock);
	stream_unref(st);
}

static void headers_free(struct http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

static void defer_abandon(struct http_request *req);
static void respond_status(struct http_request *req, unsigned code, const char *reason,
			   const char *message);

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	if (req->up_pending) {
		/* the 101 never went out */
		req->up_pending = false;
		req->up_fn(req->up_arg, -1, NULL, 0);
	}
	defer_abandon(req);
	headers_free(req->headers, req->n_headers);
	headers_free(req->in_headers, req->n_in_headers);
	headers_free(req->args, req->n_args);
	free(req->local_method);
	free(req->local_path);
	free(req->body);
	free(req);
}

static void add_headers(struct http_request *req, struct MHD_Response *resp,
			const char *content_type)
{
	if (content_type && MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES)
		log_debug("http: header 'Content-Type' refused");
	for (size_t i = 0; i < req->n_headers; i++)
		if (MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value) !=
		    MHD_YES)
			log_debug("http: header '%s' refused", req->headers[i].name);
}

const char *http_method(const struct http_request *req)
{
	return req->method;
}

const char *http_path(const struct http_request *req)
{
	return req->path;
}

const char *http_header(const struct http_request *req, const char *name)
{
	if (req->local) {
		for (size_t i = 0; i < req->n_in_headers; i++)
			if (strcasecmp(req->in_headers[i].name, name) == 0)
				return req->in_headers[i].value;
		return NULL;
	}
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const struct http_request *req, const char *name)
{
	const char *value = NULL;
	size_t len = 0;

	if (req->local) {
		for (size_t i = 0; i < req->n_args; i++)
			if (strcmp(req->args[i].name, name) == 0)
				return req->args[i].value;
		return NULL;
	}

	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
					  &value, &len) != MHD_YES)
		return NULL;
	/* "?watch" has a key and no value: present, empty */
	return value ? value : "";
}

const char *http_body(const struct http_request *req, size_t *len)
{
	if (len)
		*len = req->len;
	return req->body ? req->body : "";
}

const char *http_peer(const struct http_request *req)
{
	return req->peer;
}

void http_add_header(struct http_request *req, const char *name, const char *value)
{
	req->headers = xrealloc(req->headers, (req->n_headers + 1) * sizeof(*req->headers));
	req->headers[req->n_headers].name = xstrdup(name);
	req->headers[req->n_headers].value = xstrdup(value);
	req->n_headers++;
}

void http_respond_take(struct http_request *req, unsigned status, const char *content_type,
		       char *body, size_t len)
{
	struct MHD_Response *resp;

	assert(!req->responded);
	req->responded = true;
	if (req->local) {
		req->sink.respond(req->sink.arg, status, content_type, body, len);
		req->queued = true;
		return;
	}
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return;
	}
	add_headers(req, resp, content_type);
	req->queued = MHD_queue_response(req->conn, status, resp) == MHD_YES;
	MHD_destroy_response(resp);
}

void http_respond(struct http_request *req, unsigned status, const char *content_type,
		  const char *body, size_t len)
{
	char *copy = xmalloc(len ? len : 1);

	if (len)
		memcpy(copy, body, len);
	http_respond_take(req, status, content_type, copy, len);
}

struct http_stream *http_respond_stream(struct http_request *req, unsigned status,
					const char *content_type, void (*on_close)(void *arg),
					void *arg)
{
	struct http_server *srv = req->srv;
	struct http_stream *st;
	struct MHD_Response *resp;

	assert(!req->responded);
	req->responded = true;
	st = xcalloc(1, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->refs = 2; /* the caller's and the response's */
	st->srv = srv;
	st->conn = req->conn;
	st->fd = -1;
	st->on_close = on_close;
	st->arg = arg;
	if (req->local) {
		st->local = true;
		st->sink = req->sink;
		req->queued = true;
		st->sink.stream(st->sink.arg, status, content_type, st);
		return st;
	}

	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_SIZE, stream_read,
						 st, stream_free);
	if (!resp) {
		/* no response to free it: play its part here */
		st->done = true;
		st->conn = NULL;
		if (on_close)
			on_close(arg);
		stream_unref(st);
		return st;
	}
	add_headers(req, resp, content_type);

	pthread_mutex_lock(&srv->lock);
	st->stopping = srv->stopping;
	st->next = srv->streams;
	if (srv->streams)
		srv->streams->prev = st;
	srv->streams = st;
	pthread_mutex_unlock(&srv->lock);

	monitor_add(srv, st);
	req->queued = MHD_queue_response(req->conn, status, resp) == MHD_YES;
	/* when MHD refused the response this runs stream_free() */
	MHD_destroy_response(resp);
	return st;
}

int http_stream_write(struct http_stream *st, const char *data, size_t len, size_t max_queued)
{
	int r = 0;

	if (max_queued == 0)
		max_queued = DEFAULT_MAX_QUEUED;
	pthread_mutex_lock(&st->lock);
	if (st->local && !st->done && !st->closing) {
		r = len > 0 ? st->sink.write(st->sink.arg, data, len, max_queued) : 0;
	} else if (st->done || st->gone || st->stopping || st->closing) {
		r = -EPIPE;
	} else if (st->q_len > 0 && st->q_len + len > max_queued) {
		/* an empty queue takes any one write, so a large event is never refused */
		r = -ENOBUFS;
	} else if (len > 0) {
		queue_append(st, data, len);
		stream_wake(st);
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

/* Ends an in-process stream once: with the lock held, tells the sink when @end. */
static void local_stream_end(struct http_stream *st, bool end)
{
	bool first;

	pthread_mutex_lock(&st->lock);
	st->closing |= end;
	first = !st->done;
	st->done = true;
	if (first && end)
		st->sink.end(st->sink.arg);
	pthread_mutex_unlock(&st->lock);
	if (first && st->on_close)
		st->on_close(st->arg);
}

void http_stream_close(struct http_stream *st)
{
	if (!st)
		return;
	if (st->local) {
		local_stream_end(st, true);
		stream_unref(st);
		return;
	}
	pthread_mutex_lock(&st->lock);
	st->closing = true;
	stream_wake(st);
	pthread_mutex_unlock(&st->lock);
	stream_unref(st);
}

void http_local_release(struct http_stream *st)
{
	if (!st)
		return;
	assert(st->local);
	local_stream_end(st, false);
	stream_unref(st);
}

struct values {
	const char *name;
	bool nocase; /* header names are case-insensitive, query names are not */
	const char **ret;
	size_t max, n;
};

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct values *v = cls;

	(void)kind;
	if (!key || (v->nocase ? strcasecmp(key, v->name) : strcmp(key, v->name)) != 0)
		return MHD_YES;
	if (v->n < v->max)
		v->ret[v->n] = value ? value : "";
	v->n++;
	return MHD_YES;
}

static size_t local_values(const struct http_header *h, size_t n, const char *name,
			   const char **ret, size_t max, bool nocase)
{
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		if ((nocase ? strcasecmp(h[i].name, name) : strcmp(h[i].name, name)) != 0)
			continue;
		if (found < max)
			ret[found] = h[i].value;
		found++;
	}
	return found;
}

size_t http_header_values(const struct http_request *req, const char *name, const char **ret,
			  size_t max)
{
	struct values v = {name, true, ret, max, 0};

	if (req->local)
		return local_values(req->in_headers, req->n_in_headers, name, ret, max, true);
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_value, &v);
	return v.n;
}

size_t http_query_values(const struct http_request *req, const char *name, const char **ret,
			 size_t max)
{
	struct values v = {name, false, ret, max, 0};

	if (req->local)
		return local_values(req->args, req->n_args, name, ret, max, false);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_value, &v);
	return v.n;
}

bool http_is_local(const struct http_request *req)
{
	return req->local && !req->offloaded;
}

/* Upgrades. */

static void *upgraded_main(void *p)
{
	struct upgraded *u = p;
	struct http_server *srv = u->srv;
	int fl = fcntl(u->fd, F_GETFL);

	/* MHD hands the socket over non-blocking; sessions read and write it blocking */
	if (fl >= 0)
		fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK);
	u->fn(u->arg, u->fd, u->extra, u->extra_len);
	pthread_mutex_lock(&srv->lock);
	if (u->prev)
		u->prev->next = u->next;
	else
		srv->upgraded = u->next;
	if (u->next)
		u->next->prev = u->prev;
	pthread_mutex_unlock(&srv->lock);
	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(u->extra);
	free(u);
	/* last: http_server_stop() may free the server as soon as the count drops */
	pthread_mutex_lock(&srv->lock);
	srv->n_upgraded--;
	pthread_cond_broadcast(&srv->upgraded_cond);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* MHD's upgrade handler: the 101 is out; runs on the connection's server thread. */
static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
		       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct http_server *srv = cls;
	struct http_request *req = con_cls;
	struct upgraded *u = xcalloc(1, sizeof(*u));
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	int rc;

	(void)conn;
	u->srv = srv;
	u->urh = urh;
	u->fd = sock;
	u->fn = req->up_fn;
	u->arg = req->up_arg;
	req->up_pending = false;
	if (extra_len > 0) {
		/* MHD's read buffer goes away with the request */
		u->extra = xmalloc(extra_len);
		memcpy(u->extra, extra, extra_len);
		u->extra_len = extra_len;
	}
	pthread_mutex_lock(&srv->lock);
	u->next = srv->upgraded;
	if (u->next)
		u->next->prev = u;
	srv->upgraded = u;
	srv->n_upgraded++;
	if (srv->stopping)
		shutdown(sock, SHUT_RDWR);
	pthread_mutex_unlock(&srv->lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, &attr, upgraded_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_debug("http: start upgraded connection thread: %s", strerror(rc));
		/* the session ends at once: the callback sees a shut-down socket */
		shutdown(sock, SHUT_RDWR);
		upgraded_main(u);
	}
}

void http_respond_upgrade(struct http_request *req, const char *const *headers,
			  http_upgrade_fn on_upgraded, void *arg)
{
	struct MHD_Response *resp;

	assert(!req->responded);
	if (req->local || !req->http11) {
		respond_status(req, 400, "BadRequest",
			       req->local ? "an in-process request cannot upgrade its connection"
					  : "connection upgrade needs HTTP/1.1");
		on_upgraded(arg, -1, NULL, 0);
		return;
	}
	req->responded = true;
	resp = MHD_create_response_for_upgrade(on_upgrade, req->srv);
	if (!resp) {
		on_upgraded(arg, -1, NULL, 0);
		return;
	}
	for (const char *const *h = headers; h && h[0] && h[1]; h += 2)
		if (MHD_add_response_header(resp, h[0], h[1]) != MHD_YES)
			log_debug("http: header '%s' refused", h[0]);
	add_headers(req, resp, NULL);
	req->up_fn = on_upgraded;
	req->up_arg = arg;
	req->up_pending = true;
	req->queued = MHD_queue_response(req->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp) == MHD_YES;
	MHD_destroy_response(resp);
	if (!req->queued) {
		req->up_pending = false;
		on_upgraded(arg, -1, NULL, 0);
	}
}

/* Deferred answers. */

static void defer_unref(struct http_defer *d)
{
	if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void defer_unlink(struct http_defer *d)
{
	struct http_server *srv = d->srv;

	pthread_mutex_lock(&srv->lock);
	if (d->linked) {
		if (d->prev)
			d->prev->next = d->next;
		else
			srv->defers = d->next;
		if (d->next)
			d->next->prev = d->prev;
		d->prev = d->next = NULL;
		d->linked = false;
	}
	pthread_mutex_unlock(&srv->lock);
}

struct http_defer *http_defer(struct http_request *req,
			      void (*resume)(void *arg, struct http_request *req), void *arg)
{
	struct http_server *srv = req->srv;
	struct http_defer *d;

	assert(!req->local && !req->responded && !req->defer);
	d = xcalloc(1, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->refs = 2;
	d->srv = srv;
	d->conn = req->conn;
	d->resume = resume;
	d->arg = arg;
	pthread_mutex_lock(&srv->lock);
	d->stopping = srv->stopping;
	d->next = srv->defers;
	if (d->next)
		d->next->prev = d;
	srv->defers = d;
	d->linked = true;
	pthread_mutex_unlock(&srv->lock);
	req->defer = d;
	return d;
}

void http_defer_resume(struct http_defer *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->ready = true;
	if (d->suspended && !d->finished) {
		d->suspended = false;
		MHD_resume_connection(d->conn);
	}
	pthread_mutex_unlock(&d->lock);
	defer_unref(d);
}

/*
 * The handler deferred, or MHD calls again for a deferred request: suspends the
 * connection until http_defer_resume(), or runs @resume when that happened already.
 */
static enum MHD_Result defer_step(struct http_request *req)
{
	struct http_defer *d = req->defer;
	bool stopping;

	pthread_mutex_lock(&d->lock);
	if (!d->ready && !d->stopping) {
		/* under the lock, so http_defer_resume() sees `suspended` only once MHD has it */
		d->suspended = true;
		MHD_suspend_connection(req->conn);
		pthread_mutex_unlock(&d->lock);
		return MHD_YES;
	}
	d->suspended = false;
	d->finished = true;
	stopping = !d->ready;
	pthread_mutex_unlock(&d->lock);

	defer_unlink(d);
	req->defer = NULL;
	if (stopping) {
		d->resume(d->arg, NULL);
		respond_status(req, 503, "ServiceUnavailable", "the server is shutting down");
	} else {
		d->resume(d->arg, req);
	}
	defer_unref(d);
	if (req->defer && !req->responded)
		return defer_step(req);
	if (!req->responded)
		respond_status(req, 500, "InternalError", "Internal error: no response");
	return req->queued ? MHD_YES : MHD_NO;
}

/* The request is over before its deferred answer: @resume learns it with NULL. */
static void defer_abandon(struct http_request *req)
{
	struct http_defer *d = req->defer;
	bool first;

	if (!d)
		return;
	req->defer = NULL;
	pthread_mutex_lock(&d->lock);
	first = !d->finished;
	d->finished = true;
	d->suspended = false;
	pthread_mutex_unlock(&d->lock);
	defer_unlink(d);
	if (first)
		d->resume(d->arg, NULL);
	defer_unref(d);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a query component as HTML forms encode it ('+' is a space). */
static char *query_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < len && (hi = hex_digit(s[i + 1])) >= 0 &&
			   (lo = hex_digit(s[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void parse_query(struct http_request *req, const char *query)
{
	while (query && *query) {
		size_t n = strcspn(query, "&");
		const char *eq = memchr(query, '=', n);

		if (n > 0) {
			struct http_header *a;

			req->args = xrealloc(req->args, (req->n_args + 1) * sizeof(*req->args));
			a = &req->args[req->n_args++];
			if (eq) {
				a->name = query_unescape(query, (size_t)(eq - query));
				a->value = query_unescape(eq + 1, n - (size_t)(eq - query) - 1);
			} else {
				/* "?watch": present and empty, as MHD reports it */
				a->name = query_unescape(query, n);
				a->value = xstrdup("");
			}
		}
		query += n;
		if (*query == '&')
			query++;
	}
}

struct http_request *http_local_new(const struct http_local_request *lr,
				    const struct http_local_sink *sink)
{
	struct http_request *req = xcalloc(1, sizeof(*req));

	req->local = true;
	req->sink = *sink;
	req->local_method = xstrdup(lr->method);
	req->local_path = xstrdup(lr->path);
	req->method = req->local_method;
	req->path = req->local_path;
	snprintf(req->peer, sizeof(req->peer), "in-process");
	for (const char *const *h = lr->headers; h && h[0] && h[1]; h += 2) {
		req->in_headers = xrealloc(req->in_headers,
					   (req->n_in_headers + 1) * sizeof(*req->in_headers));
		req->in_headers[req->n_in_headers].name = xstrdup(h[0]);
		req->in_headers[req->n_in_headers].value = xstrdup(h[1]);
		req->n_in_headers++;
	}
	parse_query(req, lr->query);
	if (lr->len > 0) {
		req->body = xmalloc(lr->len + 1);
		memcpy(req->body, lr->body, lr->len);
		req->body[lr->len] = '\0';
		req->len = lr->len;
		req->cap = lr->len + 1;
	}
	return req;
}

void http_local_finish(struct http_request *req)
{
	if (!req)
		return;
	assert(req->local);
	if (!req->responded)
		respond_status(req, 500, "InternalError", "Internal error: no response");
	request_free(req);
}

/* A Kubernetes Status of failure; @message and @reason need no JSON escaping. */
static char *status_json(unsigned code, const char *reason, const char *message)
{
	return xasprintf("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
			 "\"status\":\"Failure\",\"message\":\"%s\",\"reason\":\"%s\","
			 "\"code\":%u}",
			 message, reason, code);
}

static void respond_status(struct http_request *req, unsigned code, const char *reason,
			   const char *message)
{
	char *body = status_json(code, reason, message);

	http_respond_take(req, code, "application/json", body, strlen(body));
}

static enum MHD_Result respond_too_large(struct http_request *req)
{
	char msg[64];

	snprintf(msg, sizeof(msg), "Request entity too large: limit is %zu", req->srv->max_body);
	respond_status(req, 413, "RequestEntityTooLarge", msg);
	return req->queued ? MHD_YES : MHD_NO;
}

static void format_peer(struct http_request *req)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;
	char addr[INET6_ADDRSTRLEN] = "?";

	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = info ? info->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
		snprintf(req->peer, sizeof(req->peer), "%s:%u", addr, ntohs(in->sin_port));
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof(addr));
		snprintf(req->peer, sizeof(req->peer), "[%s]:%u", addr, ntohs(in6->sin6_port));
	} else {
		snprintf(req->peer, sizeof(req->peer), "%s", addr);
	}
}

/* Offloaded requests. */

static void offload_unref(struct offload *o)
{
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	request_free(o->copy);
	free(o->content_type);
	free(o->body);
	free(o);
}

static void sink_respond(void *arg, unsigned status, const char *content_type, char *body,
			 size_t len)
{
	struct offload *o = arg;

	o->status = status;
	o->content_type = content_type ? xstrdup(content_type) : NULL;
	o->body = body;
	o->len = len;
}

static void sink_stream(void *arg, unsigned status, const char *content_type,
			struct http_stream *st)
{
	struct offload *o = arg;

	(void)status;
	(void)content_type;
	o->stream = st;
}

static int sink_write(void *arg, const char *data, size_t len, size_t max_queued)
{
	(void)arg;
	(void)data;
	(void)len;
	(void)max_queued;
	return -EPIPE;
}

static void sink_end(void *arg)
{
	(void)arg;
}

static enum MHD_Result copy_value(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	struct http_request *copy = cls;
	struct http_header **v = kind == MHD_HEADER_KIND ? &copy->in_headers : &copy->args;
	size_t *n = kind == MHD_HEADER_KIND ? &copy->n_in_headers : &copy->n_args;

	if (!key)
		return MHD_YES;
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].name = xstrdup(key);
	(*v)[*n].value = xstrdup(value ? value : "");
	(*n)++;
	return MHD_YES;
}

/* The worker's copy of @req: everything the handler reads, the body moved. */
static struct http_request *offload_copy(struct http_request *req, struct offload *o)
{
	struct http_request *copy = xcalloc(1, sizeof(*copy));

	copy->srv = req->srv;
	copy->local = copy->offloaded = true;
	copy->http11 = req->http11;
	copy->sink = (struct http_local_sink){sink_respond, sink_stream, sink_write, sink_end, o};
	copy->local_method = xstrdup(req->method);
	copy->local_path = xstrdup(req->path);
	copy->method = copy->local_method;
	copy->path = copy->local_path;
	memcpy(copy->peer, req->peer, sizeof(copy->peer));
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, copy_value, copy);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, copy_value, copy);
	copy->body = TAKE_PTR(req->body);
	copy->len = req->len;
	copy->cap = req->cap;
	req->len = req->cap = 0;
	return copy;
}

/* Back on the event loop: the worker's answer goes out (@req NULL: the client left). */
static void offload_resume(void *arg, struct http_request *req)
{
	struct offload *o = arg;

	if (req) {
		struct http_request *copy = o->copy;

		/* the response headers the handler added */
		headers_free(req->headers, req->n_headers);
		req->headers = TAKE_PTR(copy->headers);
		req->n_headers = copy->n_headers;
		copy->n_headers = 0;
		http_respond_take(req, o->status, o->content_type, TAKE_PTR(o->body), o->len);
	}
	offload_unref(o);
}

static enum MHD_Result offload_start(struct http_request *req)
{
	struct http_server *srv = req->srv;
	struct offload *o = xcalloc(1, sizeof(*o));

	o->refs = 2;
	o->copy = offload_copy(req, o);
	o->defer = http_defer(req, offload_resume, o);
	pthread_mutex_lock(&srv->pool_lock);
	if (srv->pool_tail)
		srv->pool_tail->next = o;
	else
		srv->pool_head = o;
	srv->pool_tail = o;
	pthread_mutex_unlock(&srv->pool_lock);
	/* after unlocking: the worker woken does not wait for this loop to let go */
	pthread_cond_signal(&srv->pool_cond);
	return defer_step(req);
}

/* The worker is done with @o, answered or not (the server stopping). */
static void offload_done(struct offload *o)
{
	http_defer_resume(TAKE_PTR(o->defer));
	offload_unref(o);
}

static void offload_run(struct http_server *srv, struct offload *o)
{
	struct http_request *copy = o->copy;
	char *body;

	srv->handler(srv->ctx, copy);
	if (o->stream) {
		/* a stream cannot go through the copy: a programming error, not the client's */
		log_error("http: %s %s: a stream cannot answer an offloaded request", copy->method,
			  copy->path);
		http_local_release(TAKE_PTR(o->stream));
		free(TAKE_PTR(o->content_type));
		body = status_json(500, "InternalError",
				   "Internal error: streaming is not available here");
		sink_respond(o, 500, "application/json", body, strlen(body));
	} else if (!copy->responded) {
		respond_status(copy, 500, "InternalError", "Internal error: no response");
	}
	offload_done(o);
}

static void *worker_main(void *arg)
{
	struct http_server *srv = arg;
	bool dirty = false; /* ran a request since it last gave back what it freed */

	pthread_mutex_lock(&srv->pool_lock);
	for (;;) {
		struct offload *o = srv->pool_head;

		if (!o) {
			if (srv->pool_stop)
				break;
			/* a worker that built a large list gives it back once idle */
			allocator_idle_wait(&srv->pool_cond, &srv->pool_lock, &dirty);
			continue;
		}
		srv->pool_head = o->next;
		if (!srv->pool_head)
			srv->pool_tail = NULL;
		o->next = NULL;
		pthread_mutex_unlock(&srv->pool_lock);
		offload_run(srv, o);
		dirty = true;
		pthread_mutex_lock(&srv->pool_lock);
	}
	pthread_mutex_unlock(&srv->pool_lock);
	return NULL;
}

static int pool_start(struct http_server *srv, unsigned n, struct err *err)
{
	sigset_t all, old;
	int rc = 0;

	srv->workers = xcalloc(n, sizeof(*srv->workers));
	/* the workers take no signals: those belong to the process's own handling */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; srv->n_workers < n; srv->n_workers++) {
		rc = pthread_create(&srv->workers[srv->n_workers], NULL, worker_main, srv);
		if (rc)
			break;
		pthread_setname_np(srv->workers[srv->n_workers], "http-worker");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? err_errno(err, rc, "start the HTTP workers") : 0;
}

/* Joins the workers once they have finished what they run; what waits is dropped. */
static void pool_stop(struct http_server *srv)
{
	struct offload *left;

	pthread_mutex_lock(&srv->pool_lock);
	srv->pool_stop = true;
	pthread_cond_broadcast(&srv->pool_cond);
	pthread_mutex_unlock(&srv->pool_lock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		pthread_join(srv->workers[i], NULL);
	free(srv->workers);
	srv->workers = NULL;
	srv->n_workers = 0;
	left = srv->pool_head;
	srv->pool_head = srv->pool_tail = NULL;
	while (left) {
		struct offload *o = left;

		left = o->next;
		offload_done(o);
	}
}

/* The first call for a request: headers only. A declared body above the limit ends here. */
static enum MHD_Result request_begin(struct http_server *srv, struct MHD_Connection *conn,
				     const char *url, const char *method, void **con_cls)
{
	struct http_request *req = xcalloc(1, sizeof(*req));
	const char *cl;

	req->srv = srv;
	req->conn = conn;
	req->method = method;
	req->path = url;
	format_peer(req);
	*con_cls = req;

	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	if (cl) {
		unsigned long long n = strtoull(cl, NULL, 10);

		/* MHD has already refused a malformed length */
		if (n > srv->max_body) {
			req->too_large = true;
			return respond_too_large(req);
		}
		if (n > 0) {
			req->cap = (size_t)n + 1;
			req->body = xmalloc(req->cap);
			req->body[0] = '\0';
		}
	}
	return MHD_YES;
}

static enum MHD_Result request_data(struct http_request *req, const char *data, size_t len)
{
	size_t max = req->srv->max_body;

	if (!req->too_large && req->len + len > max) {
		req->too_large = true;
		req->discarded = req->len;
		free(req->body);
		req->body = NULL;
		req->len = req->cap = 0;
	}
	if (req->too_large) {
		/* the 413 can only go out once the body is read; a flood is cut off instead */
		req->discarded += len;
		return req->discarded > (uint64_t)max * DISCARD_FACTOR ? MHD_NO : MHD_YES;
	}
	if (req->len + len + 1 > req->cap) {
		size_t cap = req->cap ? req->cap : 16384;

		while (cap < req->len + len + 1)
			cap *= 2;
		req->body = xrealloc(req->body, cap);
		req->cap = cap;
	}
	memcpy(req->body + req->len, data, len);
	req->len += len;
	req->body[req->len] = '\0';
	return MHD_YES;
}

static enum MHD_Result request_end(struct http_request *req)
{
	if (req->responded)
		return req->queued ? MHD_YES : MHD_NO;
	if (req->defer)
		return defer_step(req);
	if (req->too_large)
		return respond_too_large(req);
	if (req->srv->offload && req->srv->offload(req->srv->ctx, req))
		return offload_start(req);
	req->srv->handler(req->srv->ctx, req);
	if (req->defer && !req->responded)
		return defer_step(req);
	if (!req->responded)
		respond_status(req, 500, "InternalError", "Internal error: no response");
	return req->queued ? MHD_YES : MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_request *req = *con_cls;
	enum MHD_Result r;

	if (!req) {
		enum MHD_Result rb = request_begin(cls, conn, url, method, con_cls);

		req = *con_cls;
		req->http11 = version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
		return rb;
	}
	if (*upload_data_size == 0)
		return request_end(req);
	r = request_data(req, upload_data, *upload_data_size);
	*upload_data_size = 0;
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	request_free(*con_cls);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	cleanup_free char *msg = NULL;
	size_t len;

	(void)cls;
	if (!log_enabled(LOG_DEBUG))
		return;
	msg = xvasprintf(fmt, ap);
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	log_debug("http: %s", msg);
}

static int monitor_start(struct http_server *srv, struct err *err)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	sigset_t all, old;
	int rc;

	srv->mon_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->mon_epfd < 0)
		return err_sys(err, "create epoll set");
	srv->mon_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->mon_evfd < 0)
		return err_sys(err, "create eventfd");
	if (epoll_ctl(srv->mon_epfd, EPOLL_CTL_ADD, srv->mon_evfd, &ev) < 0)
		return err_sys(err, "watch eventfd");
	/* signals stay with the threads that expect them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&srv->mon_thread, NULL, monitor_main, srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return err_errno(err, rc, "start disconnect monitor");
	srv->mon_running = true;
	return 0;
}

static void monitor_stop(struct http_server *srv)
{
	uint64_t one = 1;

	if (srv->mon_running) {
		pthread_mutex_lock(&srv->mon_lock);
		srv->mon_quit = true;
		pthread_mutex_unlock(&srv->mon_lock);
		if (write(srv->mon_evfd, &one, sizeof(one)) < 0)
			log_debug("http: wake disconnect monitor: %s", strerror(errno));
		pthread_join(srv->mon_thread, NULL);
		srv->mon_running = false;
	}
	monitor_drain(srv, NULL);
	if (srv->mon_evfd >= 0)
		close(srv->mon_evfd);
	if (srv->mon_epfd >= 0)
		close(srv->mon_epfd);
	srv->mon_evfd = srv->mon_epfd = -1;
}

static void server_free(struct http_server *srv)
{
	monitor_stop(srv);
	pool_stop(srv);
	pthread_mutex_destroy(&srv->pool_lock);
	pthread_cond_destroy(&srv->pool_cond);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->mon_lock);
	pthread_cond_destroy(&srv->upgraded_cond);
	if (srv->key_pem)
		explicit_bzero(srv->key_pem, strlen(srv->key_pem));
	free(srv->key_pem);
	free(srv->cert_pem);
	free(srv);
}

/* Room for as many connections as descriptors allow, keeping some for everything else. */
static unsigned connection_limit(void)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = rl.rlim_cur;
	n = n > 256 ? n - 128 : 128;
	return n > 65536 ? 65536 : (unsigned)n;
}

union bind_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* MHD flags for the address family of @address, and the socket address when one is set. */
static int parse_address(const char *address, uint16_t port, union bind_addr *ret,
			 unsigned *ret_flags, bool *ret_any, struct err *err)
{
	memset(ret, 0, sizeof(*ret));
	*ret_any = false;
	if (!address || strcmp(address, "::") == 0) {
		/* both families on one socket, as Go and k3s do for "::" */
		*ret_flags = MHD_USE_DUAL_STACK;
		*ret_any = !address;
		ret->in6.sin6_family = AF_INET6;
		ret->in6.sin6_addr = in6addr_any;
		ret->in6.sin6_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET, address, &ret->in.sin_addr) == 1) {
		*ret_flags = 0;
		ret->in.sin_family = AF_INET;
		ret->in.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, address, &ret->in6.sin6_addr) == 1) {
		*ret_flags = MHD_USE_IPv6;
		ret->in6.sin6_family = AF_INET6;
		ret->in6.sin6_port = htons(port);
		return 0;
	}
	return err_set(err, EINVAL, "invalid bind address '%s'", address);
}

/*
 * Binds a throw-away socket the way MHD will, so that an address in use or missing gets
 * its own message (MHD only says that it failed). A host without IPv6 falls back from
 * "all addresses" to all IPv4 addresses.
 */
static int probe_bind(const char *address, uint16_t port, bool any, union bind_addr *addr,
		      unsigned *family_flags, struct err *err)
{
	cleanup_close int fd = -1;
	socklen_t len;
	int on = 1, v6only = (*family_flags & MHD_USE_DUAL_STACK) != MHD_USE_DUAL_STACK;

	fd = socket(addr->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		memset(addr, 0, sizeof(*addr));
		addr->in.sin_family = AF_INET;
		addr->in.sin_port = htons(port);
		*family_flags = 0;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return err_sys(err, "create socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	len = addr->sa.sa_family == AF_INET6 ? sizeof(addr->in6) : sizeof(addr->in);
	if (bind(fd, &addr->sa, len) < 0)
		return err_sys(err, "listen on '%s' port %u", address ? address : "*", port);
	return 0;
}

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < MIN_THREADS)
		return MIN_THREADS;
	return n > MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static struct MHD_Daemon *start_daemon(struct http_server *srv, const struct http_config *cfg,
				       unsigned family_flags, union bind_addr *addr)
{
	unsigned threads = cfg->threads ? cfg->threads : default_threads();
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | family_flags;

	if (MHD_is_feature_supported(MHD_FEATURE_UPGRADE) == MHD_YES)
		flags |= MHD_ALLOW_UPGRADE;
	struct MHD_OptionItem opts[16];
	size_t n = 0;

#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
	OPT(MHD_OPTION_SOCK_ADDR, 0, &addr->sa);
	if (threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_SECONDS, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, connection_limit(), NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv);
	OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv);
	if (srv->cert_pem) {
		flags |= MHD_USE_TLS;
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert_pem);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key_pem);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	return MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY,
				opts, MHD_OPTION_END);
}

int http_server_start(const struct http_config *cfg, struct http_server **ret, struct err *err)
{
	const union MHD_DaemonInfo *info;
	struct http_server *srv;
	union bind_addr addr;
	unsigned family = 0;
	bool any;
	int r;

	if (!cfg->handler || (cfg->cert_pem && !cfg->key_pem))
		return err_set(err, EINVAL, "start HTTP server: incomplete configuration");
	r = parse_address(cfg->address, cfg->port, &addr, &family, &any, err);
	if (r < 0)
		return r;
	r = probe_bind(cfg->address, cfg->port, any, &addr, &family, err);
	if (r < 0)
		return err_wrap(err, "start HTTP server");
	r = api_mhd_load(err);
	if (r < 0)
		return r;
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES ||
	    (cfg->cert_pem && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES))
		return err_set(err, ENOTSUP, "start HTTP server: libmicrohttpd lacks epoll or TLS");

	srv = xcalloc(1, sizeof(*srv));
	srv->handler = cfg->handler;
	srv->ctx = cfg->ctx;
	srv->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
	srv->cert_pem = cfg->cert_pem ? xstrdup(cfg->cert_pem) : NULL;
	srv->key_pem = cfg->key_pem ? xstrdup(cfg->key_pem) : NULL;
	srv->mon_epfd = srv->mon_evfd = -1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->mon_lock, NULL);
	pthread_cond_init(&srv->upgraded_cond, NULL);
	pthread_mutex_init(&srv->pool_lock, NULL);
	pthread_cond_init(&srv->pool_cond, NULL);
	srv->offload = cfg->offload;
	r = monitor_start(srv, err);
	if (r >= 0 && srv->offload)
		r = pool_start(srv, cfg->workers ? cfg->workers : DEFAULT_WORKERS, err);
	if (r < 0) {
		server_free(srv);
		return err_wrap(err, "start HTTP server");
	}

	srv->daemon = start_daemon(srv, cfg, family, &addr);
	if (!srv->daemon) {
		server_free(srv);
		/* the address was free a moment ago: most likely TLS refused the PEM */
		return err_set(err, EINVAL,
			       "start HTTP server on '%s' port %u: libmicrohttpd failed (is the "
			       "TLS certificate or key invalid?)",
			       cfg->address ? cfg->address : "*", cfg->port);
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info && info->port ? info->port : cfg->port;
	*ret = srv;
	return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void http_server_stop(struct http_server *srv)
{
	if (!srv)
		return;
	/*
	 * MHD must not be stopped with suspended connections: wake every stream and make
	 * its reader end the response instead of suspending again; writers get -EPIPE.
	 */
	pthread_mutex_lock(&srv->lock);
	srv->stopping = true;
	for (struct http_stream *st = srv->streams; st; st = st->next) {
		pthread_mutex_lock(&st->lock);
		st->stopping = true;
		stream_wake(st);
		pthread_mutex_unlock(&st->lock);
	}
	/* deferred requests come back to answer 503; upgraded sessions see their end */
	for (struct http_defer *d = srv->defers; d; d = d->next) {
		pthread_mutex_lock(&d->lock);
		d->stopping = true;
		if (d->suspended && !d->finished) {
			d->suspended = false;
			MHD_resume_connection(d->conn);
		}
		pthread_mutex_unlock(&d->lock);
	}
	for (struct upgraded *u = srv->upgraded; u; u = u->next)
		shutdown(u->fd, SHUT_RDWR);
	/* MHD must not stop under an upgraded connection that is not closed */
	while (srv->n_upgraded > 0)
		pthread_cond_wait(&srv->upgraded_cond, &srv->lock);
	pthread_mutex_unlock(&srv->lock);
	/* joins the server threads; every stream's response is freed (on_close) by then */
	MHD_stop_daemon(srv->daemon);
	assert(!srv->streams);
	server_free(srv);
}
