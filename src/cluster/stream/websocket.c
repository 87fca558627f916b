/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket framing (RFC 6455 §5) and the handshake's key helpers. One reader thread parses
 * frames through a small buffer; writers serialize whole frames under a mutex so channel
 * multiplexers (remotecommand.c, port-forward) can write from several threads.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha1.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/stream/websocket.h"

#define WS_GUID           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CONTINUATION   0
#define WS_CONTROL_MAX    125
#define WS_HEADER_MAX     14
#define CLOSE_NO_STATUS   1005
#define CLOSE_PROTOCOL    1002
#define CLOSE_TOO_BIG     1009
#define READ_BUFFER_BYTES 16384

struct ws_conn {
	int fd;
	int cancel_fd;
	bool server;
	pthread_mutex_t write_lock;
	bool close_sent; /* under write_lock: RFC 6455 §5.5.1 forbids data after our close */
	int peer_close;
	size_t rpos, rlen;
	unsigned char rbuf[READ_BUFFER_BYTES];
};

char *ws_accept_key(const char *client_key)
{
	cleanup_free char *raw = NULL;
	uint8_t digest[SHA1_DIGEST_SIZE];
	struct sha1_ctx ctx;
	size_t n = 0;

	/* §4.1: the key is the standard base64 of 16 random bytes, hence 24 characters */
	if (!client_key || strlen(client_key) != 24 || strpbrk(client_key, "-_"))
		return NULL;
	raw = b64_decode(client_key, &n);
	if (!raw || n != 16)
		return NULL;
	sha1_init(&ctx);
	sha1_update(&ctx, strlen(client_key), (const uint8_t *)client_key);
	sha1_update(&ctx, strlen(WS_GUID), (const uint8_t *)WS_GUID);
	sha1_digest(&ctx, sizeof(digest), digest);
	return b64_encode(digest, sizeof(digest), false);
}

static void random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		p += r;
		n -= (size_t)r;
	}
	/* No entropy source: masking only defeats proxy cache poisoning, so a clock will do. */
	if (n > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		for (size_t i = 0; i < n; i++)
			p[i] = (unsigned char)((uint64_t)ts.tv_nsec * 2654435761u >> (i % 24));
	}
}

char *ws_client_key(void)
{
	unsigned char raw[16];

	random_bytes(raw, sizeof(raw));
	return b64_encode(raw, sizeof(raw), false);
}

static bool offered_has(const char *offered, const char *name)
{
	size_t len = strlen(name);
	const char *p = offered;

	while (*p) {
		const char *end;
		size_t n;

		p += strspn(p, " \t,");
		end = p + strcspn(p, ",");
		n = (size_t)(end - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == len && n > 0 && memcmp(p, name, n) == 0)
			return true;
		p = end;
	}
	return false;
}

const char *ws_pick_protocol(const char *offered, const char *const *supported)
{
	if (!offered || !supported)
		return NULL;
	for (const char *const *s = supported; *s; s++)
		if (offered_has(offered, *s))
			return *s;
	return NULL;
}

struct ws_conn *ws_conn_new(int fd, bool server)
{
	struct ws_conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->cancel_fd = -1;
	c->server = server;
	pthread_mutex_init(&c->write_lock, NULL);
	return c;
}

void ws_conn_set_cancel_fd(struct ws_conn *c, int cancel_fd)
{
	c->cancel_fd = cancel_fd;
}

int ws_peer_close_code(const struct ws_conn *c)
{
	return __atomic_load_n(&c->peer_close, __ATOMIC_RELAXED);
}

void ws_conn_free(struct ws_conn *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->write_lock);
	free(c);
}

/* Writes every byte of @iov; sockets get MSG_NOSIGNAL so a gone peer is -EPIPE, not SIGPIPE. */
static int send_all(int fd, struct iovec *iov, int iovcnt)
{
	bool sock = true;

	while (iovcnt > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t n;

		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		n = sock ? sendmsg(fd, &msg, MSG_NOSIGNAL) : writev(fd, iov, iovcnt);
		if (n < 0 && errno == ENOTSOCK && sock) {
			sock = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (n > 0 && iovcnt > 0) {
			size_t step = (size_t)n < iov->iov_len ? (size_t)n : iov->iov_len;

			iov->iov_base = (char *)iov->iov_base + step;
			iov->iov_len -= step;
			n -= (ssize_t)step;
			if (iov->iov_len == 0) {
				iov++;
				iovcnt--;
			}
		}
	}
	return 0;
}

static size_t build_header(unsigned char *h, int opcode, size_t len, const unsigned char *mask)
{
	size_t n = 0;

	h[n++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		h[n++] = (unsigned char)len;
	} else if (len <= 0xffff) {
		h[n++] = 126;
		h[n++] = (unsigned char)(len >> 8);
		h[n++] = (unsigned char)len;
	} else {
		h[n++] = 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	if (mask) {
		h[1] |= 0x80;
		memcpy(h + n, mask, 4);
		n += 4;
	}
	return n;
}

/* Sends one complete frame; the caller holds write_lock. */
static int send_frame_locked(struct ws_conn *c, int opcode, const void *data, size_t len)
{
	unsigned char header[WS_HEADER_MAX];
	cleanup_free unsigned char *masked = NULL;
	unsigned char key[4];
	struct iovec iov[2];
	size_t hlen;

	if (c->server) {
		hlen = build_header(header, opcode, len, NULL);
		iov[1].iov_base = (void *)data;
	} else {
		random_bytes(key, sizeof(key));
		hlen = build_header(header, opcode, len, key);
		masked = xmalloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			masked[i] = ((const unsigned char *)data)[i] ^ key[i & 3];
		iov[1].iov_base = masked;
	}
	iov[0].iov_base = header;
	iov[0].iov_len = hlen;
	iov[1].iov_len = len;
	return send_all(c->fd, iov, 2);
}

int ws_write(struct ws_conn *c, int opcode, const void *data, size_t len, struct err *err)
{
	bool closing;
	int r = 0;

	if (opcode != WS_TEXT && opcode != WS_BINARY && opcode != WS_PING && opcode != WS_PONG)
		return err_set(
			err, EINVAL,
			"write websocket message: opcode %d is not a data, ping or pong frame",
			opcode);
	if ((opcode == WS_PING || opcode == WS_PONG) && len > WS_CONTROL_MAX)
		return err_set(err, EINVAL, "write websocket %s: %zu bytes exceed the 125 allowed",
			       opcode == WS_PING ? "ping" : "pong", len);
	pthread_mutex_lock(&c->write_lock);
	closing = c->close_sent;
	if (!closing)
		r = send_frame_locked(c, opcode, data, len);
	pthread_mutex_unlock(&c->write_lock);
	if (closing)
		return err_set(err, EPIPE, "write websocket message: the connection is closing");
	if (r < 0)
		return err_errno(err, -r, "write websocket message");
	return 0;
}

int ws_close(struct ws_conn *c, uint16_t code, const char *reason)
{
	unsigned char payload[WS_CONTROL_MAX];
	size_t len = 0;
	int r = 0;

	if (code) {
		size_t rlen = reason ? strlen(reason) : 0;

		if (rlen > WS_CONTROL_MAX - 2)
			rlen = WS_CONTROL_MAX - 2;
		payload[0] = (unsigned char)(code >> 8);
		payload[1] = (unsigned char)code;
		if (rlen)
			memcpy(payload + 2, reason, rlen);
		len = 2 + rlen;
	}
	pthread_mutex_lock(&c->write_lock);
	if (!c->close_sent) {
		c->close_sent = true;
		r = send_frame_locked(c, WS_CLOSE, payload, len);
	}
	pthread_mutex_unlock(&c->write_lock);
	return r;
}

/* Waits until the socket is readable; -ECANCELED when the cancel fd fired first. */
static int wait_readable(struct ws_conn *c)
{
	struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
			      {.fd = c->cancel_fd, .events = POLLIN}};

	if (c->cancel_fd < 0)
		return 0;
	for (;;) {
		int n = poll(p, 2, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[1].revents)
			return -ECANCELED;
		if (p[0].revents)
			return 0;
	}
}

static int read_fail(int r, struct err *err)
{
	if (r == -ECANCELED)
		return err_set(err, ECANCELED, "read websocket: cancelled");
	if (r == -ECONNRESET)
		return err_set(err, ECONNRESET,
			       "read websocket: connection closed without a close frame");
	return err_errno(err, -r, "read websocket");
}

/* Reads exactly @n bytes, first from the buffer; large payloads go straight to @dst. */
static int read_exact(struct ws_conn *c, void *dst, size_t n, struct err *err)
{
	unsigned char *out = dst;

	while (n > 0) {
		ssize_t got;
		int r;

		if (c->rpos < c->rlen) {
			size_t take = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;

			memcpy(out, c->rbuf + c->rpos, take);
			c->rpos += take;
			out += take;
			n -= take;
			continue;
		}
		r = wait_readable(c);
		if (r < 0)
			return read_fail(r, err);
		if (n >= sizeof(c->rbuf))
			got = read(c->fd, out, n);
		else
			got = read(c->fd, c->rbuf, sizeof(c->rbuf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return read_fail(errno == ECONNRESET ? -ECONNRESET : -errno, err);
		if (got == 0)
			return read_fail(-ECONNRESET, err);
		if (n >= sizeof(c->rbuf)) {
			out += got;
			n -= (size_t)got;
		} else {
			c->rpos = 0;
			c->rlen = (size_t)got;
		}
	}
	return 0;
}

struct frame {
	bool fin;
	int opcode;
	uint64_t len;
	bool masked;
	unsigned char mask[4];
};

static int proto_fail(struct ws_conn *c, struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A protocol violation: tell the peer (§7.4.1 code 1002), then report it. */
static int proto_fail(struct ws_conn *c, struct err *err, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	ws_close(c, CLOSE_PROTOCOL, "protocol error");
	return err_set(err, EPROTO, "read websocket: %s", msg);
}

static int read_header(struct ws_conn *c, struct frame *f, struct err *err)
{
	unsigned char h[8];
	int r;

	r = read_exact(c, h, 2, err);
	if (r < 0)
		return r;
	f->fin = h[0] & 0x80;
	f->opcode = h[0] & 0x0f;
	f->masked = h[1] & 0x80;
	f->len = h[1] & 0x7f;
	if (h[0] & 0x70)
		return proto_fail(c, err, "reserved bits 0x%x set without a negotiated extension",
				  h[0] & 0x70);
	if (f->opcode > WS_BINARY && f->opcode < WS_CLOSE)
		return proto_fail(c, err, "unknown opcode %d", f->opcode);
	if (f->opcode > WS_PONG)
		return proto_fail(c, err, "unknown opcode %d", f->opcode);
	if (c->server && !f->masked)
		return proto_fail(c, err, "unmasked frame from the client");
	if (!c->server && f->masked)
		return proto_fail(c, err, "masked frame from the server");
	if (f->len == 126) {
		r = read_exact(c, h, 2, err);
		if (r < 0)
			return r;
		f->len = (uint64_t)h[0] << 8 | h[1];
	} else if (f->len == 127) {
		r = read_exact(c, h, 8, err);
		if (r < 0)
			return r;
		if (h[0] & 0x80)
			return proto_fail(c, err, "64-bit payload length with the high bit set");
		f->len = 0;
		for (int i = 0; i < 8; i++)
			f->len = f->len << 8 | h[i];
	}
	if (f->opcode >= WS_CLOSE && !f->fin)
		return proto_fail(c, err, "fragmented control frame (opcode %d)", f->opcode);
	if (f->opcode >= WS_CLOSE && f->len > WS_CONTROL_MAX)
		return proto_fail(c, err, "control frame (opcode %d) of %llu bytes, more than 125",
				  f->opcode, (unsigned long long)f->len);
	if (f->masked)
		return read_exact(c, f->mask, 4, err);
	return 0;
}

static int read_payload(struct ws_conn *c, const struct frame *f, unsigned char *dst,
			struct err *err)
{
	int r = read_exact(c, dst, f->len, err);

	if (r < 0)
		return r;
	if (f->masked)
		for (uint64_t i = 0; i < f->len; i++)
			dst[i] ^= f->mask[i & 3];
	return 0;
}

/* Handles a ping, pong or close frame; returns -EPIPE after a close. */
static int handle_control(struct ws_conn *c, const struct frame *f, struct err *err)
{
	unsigned char payload[WS_CONTROL_MAX];
	int code = CLOSE_NO_STATUS;
	int r;

	r = read_payload(c, f, payload, err);
	if (r < 0)
		return r;
	if (f->opcode == WS_PONG)
		return 0;
	if (f->opcode == WS_PING) {
		pthread_mutex_lock(&c->write_lock);
		r = c->close_sent ? 0 : send_frame_locked(c, WS_PONG, payload, f->len);
		pthread_mutex_unlock(&c->write_lock);
		if (r < 0)
			return err_errno(err, -r, "answer websocket ping");
		return 0;
	}
	if (f->len == 1)
		return proto_fail(c, err, "close frame with a 1-byte payload");
	if (f->len >= 2)
		code = payload[0] << 8 | payload[1];
	__atomic_store_n(&c->peer_close, code, __ATOMIC_RELAXED);
	/* §5.5.1: echo the status code; the reason is ours to choose */
	ws_close(c, code == CLOSE_NO_STATUS ? 0 : (uint16_t)code, NULL);
	return err_set(err, EPIPE, "read websocket: closed by the peer with code %d", code);
}

int ws_read(struct ws_conn *c, int *ret_opcode, char **ret_data, size_t *ret_len, struct err *err)
{
	cleanup_free unsigned char *msg = NULL;
	size_t msg_len = 0;
	int msg_opcode = 0;
	struct frame f;
	int r;

	for (;;) {
		r = read_header(c, &f, err);
		if (r < 0)
			return r;
		if (f.opcode >= WS_CLOSE) {
			r = handle_control(c, &f, err);
			if (r < 0)
				return r;
			continue;
		}
		if (f.opcode == WS_CONTINUATION && !msg_opcode)
			return proto_fail(c, err,
					  "continuation frame without a message to continue");
		if (f.opcode != WS_CONTINUATION && msg_opcode)
			return proto_fail(c, err, "new message (opcode %d) inside a fragmented one",
					  f.opcode);
		if (f.len > WS_MAX_MESSAGE - msg_len) {
			ws_close(c, CLOSE_TOO_BIG, "message too big");
			return err_set(err, EMSGSIZE,
				       "read websocket: message larger than %u bytes",
				       WS_MAX_MESSAGE);
		}
		if (f.opcode != WS_CONTINUATION)
			msg_opcode = f.opcode;
		msg = xrealloc(msg, msg_len + f.len + 1);
		r = read_payload(c, &f, msg + msg_len, err);
		if (r < 0)
			return r;
		msg_len += f.len;
		if (f.fin)
			break;
	}
	msg[msg_len] = '\0';
	*ret_opcode = msg_opcode;
	*ret_data = (char *)TAKE_PTR(msg);
	*ret_len = msg_len;
	return 0;
}
