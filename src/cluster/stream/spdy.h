/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SPDY/3.1 as Kubernetes streaming uses it: kubectl port-forward (and exec, cp and attach
 * when WebSocket fails) opens many streams over one upgraded connection. Two layers: a
 * framer (frames to bytes and back, header blocks deflated with the SPDY dictionary) and a
 * session multiplexing streams over a blocking byte transport, so a plain socket and a
 * WebSocket tunnel (portforward.c) both carry it. Used by the agent's streaming endpoints.
 */
#ifndef SKIFF_CLUSTER_STREAM_SPDY_H
#define SKIFF_CLUSTER_STREAM_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* The value of the Upgrade header that switches an HTTP/1.1 connection to SPDY */
#define SPDY_UPGRADE "SPDY/3.1"

/* Control frame types; DATA frames are given type 0 here (the wire has no type for them) */
enum spdy_type {
	SPDY_DATA = 0,
	SPDY_SYN_STREAM = 1,
	SPDY_SYN_REPLY = 2,
	SPDY_RST_STREAM = 3,
	SPDY_SETTINGS = 4,
	SPDY_PING = 6,
	SPDY_GOAWAY = 7,
	SPDY_HEADERS = 8,
	SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN            0x01 /* DATA, SYN_STREAM, SYN_REPLY, HEADERS */
#define SPDY_FLAG_UNIDIRECTIONAL 0x02 /* SYN_STREAM */
#define SPDY_FLAG_CLEAR_SETTINGS 0x01 /* SETTINGS */

/* RST_STREAM status codes */
enum spdy_rst_status {
	SPDY_PROTOCOL_ERROR = 1,
	SPDY_INVALID_STREAM = 2,
	SPDY_REFUSED_STREAM = 3,
	SPDY_UNSUPPORTED_VERSION = 4,
	SPDY_CANCEL = 5,
	SPDY_INTERNAL_ERROR = 6,
	SPDY_FLOW_CONTROL_ERROR = 7,
	SPDY_STREAM_IN_USE = 8,
	SPDY_STREAM_ALREADY_CLOSED = 9,
	SPDY_FRAME_TOO_LARGE = 11,
};

/* GOAWAY status codes */
enum spdy_goaway_status {
	SPDY_GOAWAY_OK = 0,
	SPDY_GOAWAY_PROTOCOL_ERROR = 1,
	SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

/*
 * One name/value pair of a header block. Names are lowercase. A value holding several
 * values separates them with NUL bytes, so @value read as a C string is the first one;
 * @value_len counts them all (the terminating NUL excluded).
 */
struct spdy_header {
	char *name;
	char *value;
	size_t value_len;
};

struct spdy_headers {
	struct spdy_header *v;
	size_t n;
};

/* Appends a copy of @name (lowercased) and @value. */
void spdy_headers_add(struct spdy_headers *h, const char *name, const char *value);
/* The first value of @name (compared case-insensitively), or NULL; borrowed. */
const char *spdy_headers_get(const struct spdy_headers *h, const char *name);
/* Frees the pairs; NULL-tolerant. */
void spdy_headers_done(struct spdy_headers *h);

struct spdy_setting {
	uint8_t flags;
	uint32_t id; /* 24 bits */
	uint32_t value;
};

/*
 * A decoded frame. Which fields count depends on @type; the others stay zero:
 * stream_id: DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE (0 = the
 * session) and, for GOAWAY, the last good stream id.
 */
struct spdy_frame {
	uint16_t type; /* enum spdy_type */
	uint8_t flags;
	uint32_t stream_id;
	uint32_t assoc_id;             /* SYN_STREAM */
	uint8_t priority;              /* SYN_STREAM: 0 (highest) to 7 */
	uint8_t slot;                  /* SYN_STREAM */
	uint32_t status;               /* RST_STREAM, GOAWAY */
	uint32_t ping_id;              /* PING */
	uint32_t delta;                /* WINDOW_UPDATE */
	struct spdy_headers headers;   /* SYN_STREAM, SYN_REPLY, HEADERS */
	struct spdy_setting *settings; /* SETTINGS */
	size_t n_settings;
	const uint8_t *data; /* DATA payload; decoded frames borrow it from the input buffer */
	size_t len;
};

/* Frees what a decoded frame owns (headers, settings); NULL-tolerant. */
void spdy_frame_done(struct spdy_frame *f);

/*
 * Header compression state of one connection: one zlib stream per direction, each primed
 * with the SPDY/3 dictionary and shared by every header block of the session, so blocks
 * must be encoded and decoded in wire order.
 */
struct spdy_codec;

/* Creates a codec (loads zlib: ELIBACC when missing). */
int spdy_codec_new(struct spdy_codec **ret, struct err *err);
void spdy_codec_free(struct spdy_codec *c);

/* The SPDY/3 header compression dictionary (borrowed, static). */
const uint8_t *spdy_dictionary(size_t *ret_len);

/* Bytes of the frame (header included) whose 8-byte header starts at @hdr. */
size_t spdy_frame_size(const uint8_t *hdr);

/*
 * Encodes @f into a heap buffer (the caller's). EINVAL for fields the wire cannot carry
 * (a zero stream id where one is required, ids over 31 bits, oversized payloads).
 */
int spdy_frame_encode(struct spdy_codec *c, const struct spdy_frame *f, uint8_t **ret_buf,
		      size_t *ret_len, struct err *err);

/*
 * Decodes the one whole frame in @buf (@len == spdy_frame_size(buf)). EPROTO for malformed
 * frames, naming the frame and the field. Unknown control types decode to their type with
 * no fields, as the spec asks receivers to ignore them. Call spdy_frame_done() after.
 */
int spdy_frame_decode(struct spdy_codec *c, const uint8_t *buf, size_t len, struct spdy_frame *ret,
		      struct err *err);

/* A blocking byte transport the session runs over. */
struct spdy_transport {
	/* Reads up to @cap bytes: the count, 0 at end of stream, -errno on failure. */
	ssize_t (*read)(void *arg, void *buf, size_t cap);
	/* Writes all @len bytes, or fails with -errno. The session serialises calls. */
	int (*write)(void *arg, const void *buf, size_t len);
	/* Optional: called once when the session ends, to unblock writers stuck on a gone peer. */
	void (*shutdown)(void *arg);
	void *arg;
};

struct spdy_session;
struct spdy_stream;

/*
 * Called on the session's reading thread for each stream the peer opens, before the reply.
 * Return 0 to accept (the session sends SYN_REPLY), or -errno to refuse (RST_STREAM
 * REFUSED_STREAM). The session holds a reference while the stream is open; keep one with
 * spdy_stream_ref() to use it later. It should not block: every stream's frames wait.
 */
typedef int (*spdy_stream_fn)(void *arg, struct spdy_stream *st, const struct spdy_headers *h);

/*
 * A session over @t (copied; its arg must outlive the session). @server picks the stream
 * ids it opens (even) and expects (odd) per the spec. ELIBACC when zlib is missing.
 */
int spdy_session_new(const struct spdy_transport *t, bool server, struct spdy_session **ret,
		     struct err *err);

/*
 * Reads and dispatches frames until the peer ends the session: returns 0 at end of stream
 * or GOAWAY, -EPROTO for a frame breaking the protocol (after sending GOAWAY
 * PROTOCOL_ERROR), or the transport's -errno. It answers PINGs, replies to accepted
 * streams and acknowledges received data with WINDOW_UPDATEs; the peer's windows are not
 * enforced on sending, as kubectl's spdystream neither sends updates nor enforces them.
 * These frames go out through a sender thread, so reading never waits behind a writer
 * blocked on a peer that is waiting for us to read.
 * On return the session is over: every stream reads end of stream, writes fail with
 * EPIPE and the transport's shutdown has been called.
 */
int spdy_session_serve(struct spdy_session *s, spdy_stream_fn on_stream, void *arg,
		       struct err *err);

/* Sends GOAWAY with @status once (later calls do nothing); writes fail afterwards. */
int spdy_session_goaway(struct spdy_session *s, enum spdy_goaway_status status, struct err *err);

/* Sends a PING and waits up to @timeout_ms for its echo (ETIMEDOUT, EPIPE once ended). */
int spdy_session_ping(struct spdy_session *s, int timeout_ms, struct err *err);

/*
 * Opens a stream (SYN_STREAM with the next own id) carrying @h; with @fin nothing will
 * be sent on it. The stream is the caller's reference. A client (or a test) uses this
 * with spdy_stream_wait_reply(); the serve loop must run on another thread.
 */
int spdy_session_open(struct spdy_session *s, const struct spdy_headers *h, bool fin,
		      struct spdy_stream **ret, struct err *err);

/* Frees the session; every stream reference must have been dropped. NULL-tolerant. */
void spdy_session_free(struct spdy_session *s);

struct spdy_stream *spdy_stream_ref(struct spdy_stream *st);
void spdy_stream_unref(struct spdy_stream *st);

uint32_t spdy_stream_id(const struct spdy_stream *st);
/* The headers the stream was opened with (borrowed, valid while referenced). */
const struct spdy_headers *spdy_stream_headers(const struct spdy_stream *st);

/*
 * A descriptor yielding the data the peer sends on the stream, for poll() or read();
 * end of stream at the peer's FIN, at RST_STREAM and when the session ends. Borrowed.
 */
int spdy_stream_fd(const struct spdy_stream *st);

/*
 * Reads the peer's data: the count, 0 at its FIN, -ECONNRESET when the stream was reset
 * or the session ended before it.
 */
ssize_t spdy_stream_read(struct spdy_stream *st, void *buf, size_t cap, struct err *err);

/* The RST_STREAM status received, 0 if none. */
uint32_t spdy_stream_reset_status(const struct spdy_stream *st);

/*
 * Drops whatever the peer sends on the stream from now on, for streams nobody reads
 * (kubectl's error streams), so their data can never stall the session.
 */
void spdy_stream_ignore_input(struct spdy_stream *st);

/*
 * Sends @len bytes as DATA frames. ECONNRESET when the stream was reset, EPIPE after our
 * FIN or the session's end.
 */
int spdy_stream_write(struct spdy_stream *st, const void *buf, size_t len, struct err *err);

/* Sends FIN (an empty DATA frame) once; later calls return 0. */
int spdy_stream_close(struct spdy_stream *st, struct err *err);

/* Sends RST_STREAM with @status unless the stream is already reset or closed both ways. */
int spdy_stream_reset(struct spdy_stream *st, enum spdy_rst_status status, struct err *err);

/*
 * For streams we opened: waits up to @timeout_ms for SYN_REPLY. ECONNRESET when the peer
 * refused the stream, ETIMEDOUT, EPIPE when the session ended.
 */
int spdy_stream_wait_reply(struct spdy_stream *st, int timeout_ms, struct err *err);

#endif
