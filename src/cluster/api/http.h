/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP(S) server under the API server and the node agent: libmicrohttpd with GnuTLS,
 * an epoll event loop on a small pool of threads, request bodies collected up to a limit
 * (413 above it), ordinary responses, and long-lived streams (watch, logs) that cost no
 * thread while idle: a stream is written from any thread and the connection sleeps
 * (suspended) while its queue is empty. The same handlers also answer in-process
 * requests, which no socket carries (http_local_new).
 */
#ifndef SKIFF_CLUSTER_API_HTTP_H
#define SKIFF_CLUSTER_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct http_server;
struct http_request;
struct http_stream;

/*
 * Called once per request with the complete body, on one of the server's threads. The
 * handler answers with exactly one of http_respond() or http_respond_stream() before it
 * returns (without an answer the client gets a 500). Each of the `threads` event loops
 * serves many connections, which wait while a handler runs on their thread: a handler
 * must not block for long, and hands long-lived work to a stream instead (or is
 * offloaded to a worker: http_config.offload).
 */
typedef void (*http_handler_fn)(void *ctx, struct http_request *req);

struct http_config {
	const char *address;  /* "0.0.0.0", "127.0.0.1", "::" ... NULL: all IPv4+IPv6 */
	uint16_t port;        /* 0: any free port (see http_server_port) */
	const char *cert_pem; /* serving certificate chain; NULL: plain HTTP */
	const char *key_pem;
	unsigned threads; /* 0: one per online CPU, 2 to 8 */
	size_t max_body;  /* 0: 3 MiB; larger bodies get 413 without reaching the handler */
	http_handler_fn handler;
	void *ctx;
	/*
	 * Optional, on the event loop with the complete request: true runs the handler on
	 * one of `workers` threads instead (a handler that may block, as a write waiting for
	 * its commit does), so the loop goes on serving its other connections and streams.
	 * Such a handler answers with http_respond() only: no stream, upgrade or deferral.
	 */
	bool (*offload)(void *ctx, const struct http_request *req);
	unsigned workers; /* 0: 32 */
};

int http_server_start(const struct http_config *cfg, struct http_server **ret, struct err *err);
uint16_t http_server_port(const struct http_server *srv);
/*
 * Stops accepting, closes every connection and stream, joins the threads, frees. Every
 * stream's on_close has run when it returns, and writes to its streams return -EPIPE;
 * callers still drop their stream references with http_stream_close(). Not to be called
 * from a handler or an on_close callback (it joins their threads). NULL is fine.
 */
void http_server_stop(struct http_server *srv);

/* The request. Strings stay valid until the response is queued. */
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req); /* percent-decoded, no query */
const char *http_header(const struct http_request *req, const char *name); /* or NULL */
const char *http_query(const struct http_request *req, const char *name);  /* or NULL */
const char *http_body(const struct http_request *req, size_t *len);        /* "" if none */
const char *http_peer(const struct http_request *req);                     /* "127.0.0.1:51234" */

/*
 * Every value of header @name (repeated headers such as X-Stream-Protocol-Version) or
 * query argument @name (command=a&command=b), in order: stores up to @max of them in @ret
 * and returns how many there are.
 */
size_t http_header_values(const struct http_request *req, const char *name, const char **ret,
			  size_t max);
size_t http_query_values(const struct http_request *req, const char *name, const char **ret,
			 size_t max);
/* Whether @req is an in-process request (http_local_new): no socket, no upgrade, no defer. */
bool http_is_local(const struct http_request *req);

/* Adds a response header (before responding). */
void http_add_header(struct http_request *req, const char *name, const char *value);

/* A complete response; @body is copied. */
void http_respond(struct http_request *req, unsigned status, const char *content_type,
		  const char *body, size_t len);
/* The same, taking ownership of the malloc'ed @body. */
void http_respond_take(struct http_request *req, unsigned status, const char *content_type,
		       char *body, size_t len);

/*
 * Starts a chunked response and returns its stream; the caller holds one reference and
 * drops it with http_stream_close(), from any thread, also after the server stopped.
 * The server holds the other reference until the response is over.
 *
 * @on_close (may be NULL) runs exactly once, when the response is over for whatever
 * reason: it ended after http_stream_close(), the client went away, sending failed, or
 * the server stopped. It runs on a server thread (inside this call only if the
 * connection could not take the response), possibly while another thread writes; from
 * then on writes return -EPIPE. An idle stream costs no thread: its connection sleeps
 * until the next write. The client leaving is noticed even then: the server watches the
 * sockets of streams for the peer's close and probes idle peers with TCP keep-alive;
 * failing that, sending fails and the writes after that return -EPIPE.
 * For an in-process request (http_local_new) the response is over, and on_close runs,
 * inside http_stream_close() or the sink's http_local_release(), whichever comes first.
 */
struct http_stream *http_respond_stream(struct http_request *req, unsigned status,
					const char *content_type, void (*on_close)(void *arg),
					void *arg);

/*
 * Connection upgrade (WebSocket, SPDY): answers 101 Switching Protocols with @headers
 * (name, value, ..., NULL; Upgrade is required, Connection: Upgrade is added) and those of
 * http_add_header(), then hands the connection over to @on_upgraded.
 *
 * @on_upgraded runs exactly once. With @fd >= 0 it runs on a new thread of its own (all
 * signals blocked), which it may keep as long as the session lasts: @fd is the raw
 * bidirectional byte stream to the client, blocking (for TLS a socket MHD relays through
 * its TLS session), @extra the bytes the client sent after its request, already read. It reads,
 * writes, polls and may shutdown() @fd but never closes it: the connection is closed when
 * @on_upgraded returns. http_server_stop() shuts @fd down and waits for it to return.
 * With @fd == -1 the upgrade did not happen (an in-process request, which gets 400; a
 * request that is not HTTP/1.1, which gets 400; a client gone before the 101 went out; a
 * server stopping): it then only releases @arg, on whatever thread this is found, and must
 * not block.
 */
typedef void (*http_upgrade_fn)(void *arg, int fd, const char *extra, size_t extra_len);
void http_respond_upgrade(struct http_request *req, const char *const *headers,
			  http_upgrade_fn on_upgraded, void *arg);

/*
 * Answering later: a handler that must wait for something slow (a connection to another
 * machine) calls http_defer() and returns without answering. The connection then waits,
 * costing no thread, until someone calls http_defer_resume() from any thread; @resume then
 * runs on the connection's server thread with the request, to answer it exactly as a
 * handler does (also with http_defer again; without an answer the client gets a 500).
 * @resume runs exactly once: with NULL instead of the request when the client went away or
 * the server stops first (the client then gets 503), possibly before http_defer_resume().
 * The caller holds one reference to the returned handle and drops it with
 * http_defer_resume(), which is valid also after @resume ran and after the server stopped.
 * Not for in-process requests (http_is_local).
 */
struct http_defer;
struct http_defer *http_defer(struct http_request *req,
			      void (*resume)(void *arg, struct http_request *req), void *arg);
void http_defer_resume(struct http_defer *d);

/*
 * Queues bytes (copied) on a stream, from any thread. -EPIPE once the client is gone or
 * the server stops, -ENOBUFS when bytes are waiting and these would take them past
 * @max_queued (0: 16 MiB; an empty queue takes any one write): a slow client is then
 * disconnected by the caller with http_stream_close().
 */
int http_stream_write(struct http_stream *st, const char *data, size_t len, size_t max_queued);

/* Ends the response after what is queued and drops the caller's reference; NULL is fine. */
void http_stream_close(struct http_stream *st);

/*
 * In-process requests: the API server's own clients call its handler without a socket.
 * Such a request reads like any other (no peer address; response headers are dropped)
 * and its response goes to a sink on the caller's side.
 */
struct http_local_sink {
	/* The complete response; takes the malloc'ed @body. */
	void (*respond)(void *arg, unsigned status, const char *content_type, char *body,
			size_t len);
	/*
	 * A streamed response began. The sink holds the response's reference to @st and
	 * drops it with http_local_release() when it wants no more of it.
	 */
	void (*stream)(void *arg, unsigned status, const char *content_type,
		       struct http_stream *st);
	/*
	 * Bytes written to the stream, in order, on the writer's thread with the stream
	 * locked: copy them and return at once, without calling into the stream. 0, or
	 * -ENOBUFS when more than @max_queued bytes would then wait for the reader.
	 */
	int (*write)(void *arg, const char *data, size_t len, size_t max_queued);
	/* The owner closed the stream: nothing follows. Called with the stream locked. */
	void (*end)(void *arg);
	void *arg;
};

struct http_local_request {
	const char *method;
	const char *path;           /* percent-decoded, no query */
	const char *query;          /* "a=1&b=x%20y" as on the wire, or NULL */
	const char *const *headers; /* name, value, name, value ..., NULL */
	const char *body;
	size_t len;
};

/*
 * A request built from @lr (everything copied) for a handler to answer; @sink (copied)
 * must stay usable until the response is complete or, for a stream, released.
 */
struct http_request *http_local_new(const struct http_local_request *lr,
				    const struct http_local_sink *sink);
/* After the handler returned: answers 500 if it did not, and frees @req. */
void http_local_finish(struct http_request *req);
/*
 * The sink is done with @st: a stream still open ends now, its on_close runs on this
 * thread and writes return -EPIPE from then on. Drops the response's reference.
 * Not to be called from the sink's callbacks.
 */
void http_local_release(struct http_stream *st);

#endif
