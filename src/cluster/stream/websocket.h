/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebSocket (RFC 6455) over an already upgraded, blocking socket: the opening-handshake
 * helpers the HTTP layers need and message framing for both ends. The agent's exec/attach
 * (remotecommand.h) and port-forward use it as their transport; tests and e2e helpers use
 * the client side.
 */
#ifndef SKIFF_CLUSTER_STREAM_WEBSOCKET_H
#define SKIFF_CLUSTER_STREAM_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* Largest message ws_read() reassembles. */
#define WS_MAX_MESSAGE (16u << 20)

/*
 * Handshake (RFC 6455 §4.2.2): base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
 * heap. NULL if key is malformed (not the base64 of 16 bytes).
 */
char *ws_accept_key(const char *client_key);

/* A fresh random Sec-WebSocket-Key for a client's request; heap. */
char *ws_client_key(void);

/*
 * The first protocol of @supported (NULL-terminated, in our preference order) that the
 * client's Sec-WebSocket-Protocol header value @offered (comma-separated) lists; NULL if
 * none or @offered is NULL. The result points into @supported.
 */
const char *ws_pick_protocol(const char *offered, const char *const *supported);

struct ws_conn;

/*
 * A WebSocket over a connected, blocking socket @fd (not owned: the caller closes it after
 * ws_conn_free). @server: true on the server side (expects masked frames, sends unmasked);
 * false on the client side (masks every frame with a random key, rejects masked frames).
 */
struct ws_conn *ws_conn_new(int fd, bool server);

/*
 * Makes a ws_read() that waits for the socket return -ECANCELED once @cancel_fd is readable
 * (e.g. the read end of a pipe another thread writes to or closes); -1 turns it off. Lets
 * the owner of a reader thread stop it without touching the socket.
 */
void ws_conn_set_cancel_fd(struct ws_conn *c, int cancel_fd);

enum { WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/*
 * Reads the next data message (reassembling fragments, answering pings, ignoring pongs).
 * *ret_data is heap and NUL-terminated after *ret_len bytes. Returns 0, or -EPIPE when the
 * peer sent a close frame (answered first), -ECONNRESET when the connection ended without
 * one, -EPROTO on bad framing (err says why; a 1002 close is sent), -EMSGSIZE above
 * WS_MAX_MESSAGE (a 1009 close is sent), -ECANCELED (see ws_conn_set_cancel_fd), or
 * another -errno from the socket. Only one thread may read at a time.
 */
int ws_read(struct ws_conn *c, int *ret_opcode, char **ret_data, size_t *ret_len, struct err *err);

/*
 * Sends one message (@opcode WS_TEXT, WS_BINARY, or WS_PING/WS_PONG with at most 125 bytes)
 * as a single frame; safe from several threads at once (one frame at a time). Returns 0,
 * -EINVAL for a bad opcode or size, -EPIPE after a close frame was sent, or the socket's
 * -errno.
 */
int ws_write(struct ws_conn *c, int opcode, const void *data, size_t len, struct err *err);

/*
 * Sends a close frame with @code and @reason (at most 123 bytes are kept; @code 0 sends
 * none and no reason), once: later calls, and calls after ws_read() answered the peer's
 * close, do nothing and return 0. Returns 0 or the socket's -errno.
 */
int ws_close(struct ws_conn *c, uint16_t code, const char *reason);

/* The status code of the peer's close frame: 1005 when it carried none, 0 before one came. */
int ws_peer_close_code(const struct ws_conn *c);

void ws_conn_free(struct ws_conn *c);

#endif
