/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking HTTP/1.1 client connections, over TLS (GnuTLS) or plain TCP: dialing with Go's
 * wording for failures, the TLS handshake with or without verifying the peer, sending,
 * buffered reading of lines and of the response head, and the body as the head frames it
 * (Content-Length, chunked, or until the peer closes). The pod proxy talks to node agents
 * with them and the API client (client/client.c) to the API server.
 *
 * Timeouts are the socket's (h1_set_timeout): a read or write that waits longer fails
 * with -ETIMEDOUT. A connection is used by one thread at a time.
 */
#ifndef SKIFF_CLUSTER_API_H1_H
#define SKIFF_CLUSTER_API_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/api/lib_gnutls.h"

struct err;

struct h1_conn {
	int fd;                                /* -1: none; the owner closes it */
	gnutls_session_t tls;                  /* NULL: plain TCP */
	gnutls_certificate_credentials_t cred; /* the connection's own, when not verifying */
	char *buf;                             /* read and not yet consumed: buf[off, off+len) */
	size_t off, len, cap;
	bool timed_out; /* TLS: the socket's last read or write ran out of time */
};

/* What a response head says, and where reading its body stands. */
struct h1_head {
	unsigned status;
	bool http10;
	char *content_type; /* NULL: none */
	bool chunked;
	int64_t remaining; /* Content-Length left; -1: chunked or until the peer closes */
	bool close;        /* the peer ends the connection after this response */
	bool body_done;
	int64_t chunk_left; /* bytes left in the current chunk */
	bool chunk_crlf;    /* the CRLF after a chunk is still to read */
};

/* The parts of an "http://" or "https://" URL that a client dials and prefixes. */
struct h1_url {
	bool tls;
	char *host;    /* without brackets: "127.0.0.1", "::1", "api.example" */
	uint16_t port; /* the URL's, else 443 or 80 */
	char *target;  /* "host:port" as the URL spells the host, for messages */
	char *prefix;  /* the path before a request's own, without a trailing slash; "" */
};

/* Parses @url; -EINVAL with a message naming it for any other form. */
int h1_url_parse(const char *url, struct h1_url *ret, struct err *err);
void h1_url_clear(struct h1_url *u);

/* strerror(@e) as Go spells syscall errors, in lower case ("connection refused"); heap. */
char *h1_go_strerror(int e);

/* Send and receive timeouts of @fd, in ms (0: none). */
void h1_set_timeout(int fd, int ms);

/*
 * Connects to @host:@port within @timeout_ms, a blocking socket; on failure @err says
 * "dial tcp @target: ..." as Go does (-EHOSTUNREACH, -ETIMEDOUT or the connect errno).
 */
int h1_dial(const char *host, const char *target, uint16_t port, int timeout_ms, int *ret_fd,
	    struct err *err);

/*
 * TLS on c->fd (already connected). With @trust, the peer's certificate must chain to it
 * and name @server (a DNS name, also sent as SNI, or an IP address; GnuTLS keeps the
 * pointer, so it must outlive the connection); without, the peer is not verified (node
 * agents' self-signed serving certificates). -EPROTO on failure, with the reason in @err
 * ("x509: certificate signed by unknown authority" and the like).
 */
int h1_tls_start(struct h1_conn *c, gnutls_certificate_credentials_t trust, const char *server,
		 const char *target, int timeout_ms, struct err *err);

/* Frees the TLS session, credentials and buffer; leaves c->fd to the owner. */
void h1_conn_clear(struct h1_conn *c);
/* h1_conn_clear() and the socket closed. */
void h1_conn_close(struct h1_conn *c);

/* All of @data, or -ETIMEDOUT / -EPIPE. */
int h1_send(struct h1_conn *c, const char *data, size_t len);

/* Reads more into the buffer: > 0 bytes, 0 at the end, -ETIMEDOUT / -EPIPE. */
ssize_t h1_fill(struct h1_conn *c);

/* Moves up to @max buffered bytes to @out. */
size_t h1_take(struct h1_conn *c, char *out, size_t max);

/* A CRLF-terminated line (without it), shorter than @max; -EPROTO when longer. */
int h1_line(struct h1_conn *c, char *out, size_t max);

/* The value of header line @line when it is header @name (case-insensitive), or NULL. */
const char *h1_header_value(const char *line, const char *name);

/*
 * Reads a response head of at most @max bytes and parses its status line and framing into
 * @h (cleared first; h1_head_clear() frees it). @head_request: the response to a HEAD,
 * which has no body whatever it says. @each, when not NULL, sees every header line.
 * Returns 0, -EPIPE when the peer closed or reset the connection before a whole head
 * (@nothing set when it had sent no byte of it), -ETIMEDOUT, or -EPROTO for a malformed
 * or too long head; @err says which.
 */
int h1_read_head(struct h1_conn *c, size_t max, bool head_request,
		 void (*each)(void *arg, const struct h1_head *h, const char *line), void *arg,
		 struct h1_head *h, bool *nothing, struct err *err);
void h1_head_clear(struct h1_head *h);

/* Body bytes as @h frames them: > 0, 0 at its end, -EPIPE, -ETIMEDOUT or -EPROTO. */
ssize_t h1_body_read(struct h1_conn *c, struct h1_head *h, char *out, size_t max);

/* "i/o timeout", "malformed HTTP response" or "connection closed" for h1's -errno. */
const char *h1_io_error(int r);

#endif
