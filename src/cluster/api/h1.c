/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking HTTP/1.1 client connections (h1.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/api/h1.h"

#define BUF_MIN 16384

int h1_url_parse(const char *url, struct h1_url *ret, struct err *err)
{
	const char *p, *host_end, *slash;
	struct h1_url u = {0};
	unsigned long port = 0;

	if (strncmp(url, "https://", 8) == 0) {
		u.tls = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		p = url + 7;
	} else {
		return err_set(err, EINVAL, "address '%s': expected https://HOST[:PORT]", url);
	}
	slash = p + strcspn(p, "/?#");
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(slash - p));
		if (!host_end || host_end == p + 1)
			return err_set(err, EINVAL, "address '%s': an IPv6 host needs its ']'",
				       url);
		u.host = xstrndup(p + 1, (size_t)(host_end - p - 1));
		host_end++;
	} else {
		host_end = p + strcspn(p, ":/?#");
		if (host_end == p)
			return err_set(err, EINVAL, "address '%s': no host", url);
		u.host = xstrndup(p, (size_t)(host_end - p));
	}
	if (host_end < slash && *host_end == ':') {
		char *end;

		errno = 0;
		port = strtoul(host_end + 1, &end, 10);
		if (end == host_end + 1 || end != slash || errno || port == 0 || port > 65535) {
			free(u.host);
			return err_set(err, EINVAL, "address '%s': the port must be 1 to 65535",
				       url);
		}
	} else if (host_end != slash) {
		free(u.host);
		return err_set(err, EINVAL, "address '%s': unexpected '%c' after the host", url,
			       *host_end);
	}
	if (*slash == '?' || *slash == '#') {
		free(u.host);
		return err_set(err, EINVAL, "address '%s': no query or fragment allowed", url);
	}
	u.port = port ? (uint16_t)port : (u.tls ? 443 : 80);
	u.target = port ? xstrndup(p, (size_t)(slash - p))
			: xasprintf("%.*s:%u", (int)(host_end - p), p, u.port);
	u.prefix = xstrdup(slash);
	for (size_t n = strlen(u.prefix); n > 0 && u.prefix[n - 1] == '/';)
		u.prefix[--n] = '\0';
	*ret = u;
	return 0;
}

void h1_url_clear(struct h1_url *u)
{
	free(u->host);
	free(u->target);
	free(u->prefix);
	*u = (struct h1_url){0};
}

void h1_set_timeout(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

char *h1_go_strerror(int e)
{
	char *s = xstrdup(strerror(e));

	if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = (char)(s[0] - 'A' + 'a');
	return s;
}

int h1_dial(const char *host, const char *target, uint16_t port, int timeout_ms, int *ret_fd,
	    struct err *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char port_s[8];
	int rc, e = ECONNREFUSED;
	bool timed_out = false;

	snprintf(port_s, sizeof(port_s), "%u", port);
	rc = getaddrinfo(host, port_s, &hints, &ai);
	if (rc != 0)
		return err_set(err, EHOSTUNREACH, "dial tcp: lookup %s: no such host", host);
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		cleanup_close int fd = -1;
		struct pollfd pfd;
		socklen_t len = sizeof(e);

		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			e = errno;
			continue;
		}
		pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
		do
			rc = poll(&pfd, 1, timeout_ms);
		while (rc < 0 && errno == EINTR);
		if (rc == 0) {
			timed_out = true;
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e != 0)
			continue;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		freeaddrinfo(ai);
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	freeaddrinfo(ai);
	if (timed_out)
		return err_set(err, ETIMEDOUT, "dial tcp %s: i/o timeout", target);
	{
		cleanup_free char *msg = h1_go_strerror(e);

		return err_set(err, e, "dial tcp %s: connect: %s", target, msg);
	}
}

/* Why the peer's certificate failed, in Go's crypto/x509 words where it has them. */
static char *verify_reason(gnutls_session_t tls, const char *server)
{
	unsigned st = gnutls_session_get_verify_cert_status(tls);

	if (st & GNUTLS_CERT_UNEXPECTED_OWNER)
		return xasprintf("x509: certificate is not valid for %s", server);
	if (st & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
		return xstrdup("x509: certificate signed by unknown authority");
	if (st & GNUTLS_CERT_EXPIRED)
		return xstrdup("x509: certificate has expired");
	if (st & GNUTLS_CERT_NOT_ACTIVATED)
		return xstrdup("x509: certificate is not yet valid");
	if (st & GNUTLS_CERT_REVOKED)
		return xstrdup("x509: certificate has been revoked");
	return xasprintf("x509: certificate verification failed (status 0x%x)", st);
}

static bool is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/*
 * The session's transport, so that a GNUTLS_E_AGAIN tells a socket timeout apart from a
 * record that carried no data (a TLS 1.3 session ticket after the handshake).
 */
static ssize_t tls_pull(gnutls_transport_ptr_t arg, void *buf, size_t n)
{
	struct h1_conn *c = arg;
	ssize_t r = recv(c->fd, buf, n, 0);

	if (r < 0) {
		c->timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
		gnutls_transport_set_errno(c->tls, errno);
	}
	return r;
}

/* What the handshake's timeout polls with (the default would take the pointer for an fd). */
static int tls_pull_timeout(gnutls_transport_ptr_t arg, unsigned ms)
{
	struct h1_conn *c = arg;
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	int r = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);

	if (r < 0)
		gnutls_transport_set_errno(c->tls, errno);
	return r;
}

static ssize_t tls_push(gnutls_transport_ptr_t arg, const void *buf, size_t n)
{
	struct h1_conn *c = arg;
	ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);

	if (r < 0) {
		c->timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
		gnutls_transport_set_errno(c->tls, errno);
	}
	return r;
}

int h1_tls_start(struct h1_conn *c, gnutls_certificate_credentials_t trust, const char *server,
		 const char *target, int timeout_ms, struct err *err)
{
	int rc;

	if (!trust && gnutls_certificate_allocate_credentials(&c->cred) < 0)
		return err_set(err, ENOMEM, "start TLS with %s", target);
	if (gnutls_init(&c->tls, GNUTLS_CLIENT) < 0) {
		c->tls = NULL;
		return err_set(err, ENOMEM, "start TLS with %s", target);
	}
	rc = gnutls_set_default_priority(c->tls);
	if (rc >= 0)
		rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
					    trust ? trust : c->cred);
	if (rc >= 0 && trust && server && !is_ip(server))
		rc = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, server, strlen(server));
	if (rc < 0)
		return err_set(err, EPROTO, "start TLS with %s: %s", target, gnutls_strerror(rc));
	if (trust)
		gnutls_session_set_verify_cert(c->tls, server, 0);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_handshake_set_timeout(c->tls, (unsigned)timeout_ms);
	do
		rc = gnutls_handshake(c->tls);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		cleanup_free char *why = verify_reason(c->tls, server);

		return err_set(err, EPROTO, "TLS handshake with %s: %s", target, why);
	}
	if (rc < 0)
		return err_set(err, EPROTO, "TLS handshake with %s: %s", target,
			       rc == GNUTLS_E_AGAIN ? "i/o timeout" : gnutls_strerror(rc));
	return 0;
}

void h1_conn_clear(struct h1_conn *c)
{
	if (c->tls)
		gnutls_deinit(c->tls);
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	c->tls = NULL;
	c->cred = NULL;
	free(c->buf);
	c->buf = NULL;
	c->off = c->len = c->cap = 0;
}

void h1_conn_close(struct h1_conn *c)
{
	h1_conn_clear(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int h1_send(struct h1_conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n;

		if (c->tls) {
			c->timed_out = false;
			n = gnutls_record_send(c->tls, data, len);
			if (n == GNUTLS_E_INTERRUPTED || (n == GNUTLS_E_AGAIN && !c->timed_out))
				continue;
			if (n < 0)
				return n == GNUTLS_E_AGAIN ? -ETIMEDOUT : -EPIPE;
		} else {
			n = send(c->fd, data, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT
									       : -EPIPE;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t h1_fill(struct h1_conn *c)
{
	ssize_t n;

	if (c->off > 0 && c->len == 0)
		c->off = 0;
	if (c->off + c->len == c->cap) {
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len);
			c->off = 0;
		} else {
			c->cap = c->cap ? c->cap * 2 : BUF_MIN;
			c->buf = xrealloc(c->buf, c->cap);
		}
	}
	if (c->tls) {
		do {
			c->timed_out = false;
			n = gnutls_record_recv(c->tls, c->buf + c->off + c->len,
					       c->cap - c->off - c->len);
		} while (n == GNUTLS_E_INTERRUPTED || (n == GNUTLS_E_AGAIN && !c->timed_out));
		if (n == GNUTLS_E_PREMATURE_TERMINATION || n == 0)
			return 0;
		if (n < 0)
			return n == GNUTLS_E_AGAIN ? -ETIMEDOUT : -EPIPE;
	} else {
		do
			n = recv(c->fd, c->buf + c->off + c->len, c->cap - c->off - c->len, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -EPIPE;
	}
	c->len += (size_t)n;
	return n;
}

size_t h1_take(struct h1_conn *c, char *out, size_t max)
{
	size_t n = c->len < max ? c->len : max;

	memcpy(out, c->buf + c->off, n);
	c->off += n;
	c->len -= n;
	return n;
}

int h1_line(struct h1_conn *c, char *out, size_t max)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf + c->off, '\n', c->len) : NULL;
		ssize_t r;

		if (nl) {
			size_t used = (size_t)(nl - (c->buf + c->off)) + 1, n = used - 1;

			if (n >= max)
				return -EPROTO;
			memcpy(out, c->buf + c->off, n);
			if (n > 0 && out[n - 1] == '\r')
				n--;
			out[n] = '\0';
			c->off += used;
			c->len -= used;
			return 0;
		}
		if (c->len >= max)
			return -EPROTO;
		r = h1_fill(c);
		if (r <= 0)
			return r == 0 ? -EPIPE : (int)r;
	}
}

const char *h1_io_error(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return "i/o timeout";
	case -EPROTO:
		return "malformed HTTP response";
	default:
		return "connection closed";
	}
}

const char *h1_header_value(const char *line, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* Whether the comma-separated list @v names @token (case-insensitive). */
static bool list_has(const char *v, const char *token)
{
	size_t n = strlen(token);

	while (*v) {
		size_t len;

		v += strspn(v, " \t,");
		len = strcspn(v, ",");
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len == n && strncasecmp(v, token, n) == 0)
			return true;
		v += strcspn(v, ",");
	}
	return false;
}

static int parse_head(char *head, bool head_request,
		      void (*each)(void *arg, const struct h1_head *h, const char *line), void *arg,
		      struct h1_head *h, struct err *err)
{
	char *save = NULL, *line = strtok_r(head, "\r\n", &save);
	unsigned minor, status;
	bool keep_alive = false;
	int n = 0;

	if (!line || sscanf(line, "HTTP/1.%1u %3u%n", &minor, &status, &n) != 2 ||
	    (line[n] != ' ' && line[n] != '\0') || status < 100 || status > 599)
		return err_set(err, EPROTO, "malformed HTTP response");
	h->status = status;
	h->http10 = minor == 0;
	h->remaining = -1;
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		const char *v;

		if ((v = h1_header_value(line, "Content-Type"))) {
			free(h->content_type);
			h->content_type = xstrdup(v);
		} else if ((v = h1_header_value(line, "Content-Length"))) {
			char *end;

			errno = 0;
			h->remaining = strtoll(v, &end, 10);
			if (end == v || errno || h->remaining < 0)
				return err_set(err, EPROTO,
					       "malformed HTTP response: Content-Length '%s'", v);
		} else if ((v = h1_header_value(line, "Transfer-Encoding"))) {
			h->chunked = list_has(v, "chunked");
		} else if ((v = h1_header_value(line, "Connection"))) {
			h->close = h->close || list_has(v, "close");
			keep_alive = keep_alive || list_has(v, "keep-alive");
		}
		if (each)
			each(arg, h, line);
	}
	if (h->http10 && !keep_alive)
		h->close = true;
	if (h->chunked)
		h->remaining = -1;
	if (head_request || status == 101 || status == 204 || status == 304 || status < 200)
		h->body_done = true;
	else if (!h->chunked && h->remaining < 0)
		h->close = true; /* the body runs until the peer closes */
	return 0;
}

int h1_read_head(struct h1_conn *c, size_t max, bool head_request,
		 void (*each)(void *arg, const struct h1_head *h, const char *line), void *arg,
		 struct h1_head *h, bool *nothing, struct err *err)
{
	cleanup_free char *head = NULL;
	bool got = c->len > 0;
	char *end;
	size_t n;

	*h = (struct h1_head){0};
	if (nothing)
		*nothing = false;
	for (;;) {
		ssize_t r;

		end = c->len ? memmem(c->buf + c->off, c->len, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		if (c->len > max)
			return err_set(err, EPROTO, "response header too large");
		r = h1_fill(c);
		/* a stale connection shows as the end or as a reset */
		if ((r == 0 || r == -EPIPE) && !got && nothing)
			*nothing = true;
		if (r <= 0)
			return err_set(err, r == 0 ? EPIPE : (int)-r, "%s",
				       h1_io_error(r == 0 ? -EPIPE : (int)r));
		got = true;
	}
	n = (size_t)(end - (c->buf + c->off));
	head = xstrndup(c->buf + c->off, n);
	c->off += n + 4;
	c->len -= n + 4;
	return parse_head(head, head_request, each, arg, h, err);
}

void h1_head_clear(struct h1_head *h)
{
	free(h->content_type);
	*h = (struct h1_head){0};
}

ssize_t h1_body_read(struct h1_conn *c, struct h1_head *h, char *out, size_t max)
{
	char line[256];
	int64_t limit;
	int r;

	if (h->body_done)
		return 0;
	if (h->chunked) {
		if (h->chunk_crlf) {
			r = h1_line(c, line, sizeof(line));
			if (r < 0)
				return r;
			h->chunk_crlf = false;
		}
		if (h->chunk_left == 0) {
			char *endp;

			r = h1_line(c, line, sizeof(line));
			if (r < 0)
				return r;
			h->chunk_left = (int64_t)strtoull(line, &endp, 16);
			if (endp == line || h->chunk_left < 0)
				return -EPROTO;
			if (h->chunk_left == 0) {
				/* trailers, up to the empty line */
				do
					r = h1_line(c, line, sizeof(line));
				while (r == 0 && line[0]);
				h->body_done = true;
				return r < 0 ? r : 0;
			}
		}
		limit = h->chunk_left;
	} else if (h->remaining >= 0) {
		if (h->remaining == 0) {
			h->body_done = true;
			return 0;
		}
		limit = h->remaining;
	} else {
		limit = INT64_MAX;
	}
	if (c->len == 0) {
		ssize_t n = h1_fill(c);

		if (n == 0 && limit == INT64_MAX) {
			h->body_done = true;
			return 0;
		}
		if (n <= 0)
			return n == 0 ? -EPIPE : n;
	}
	{
		size_t n = h1_take(c, out, (uint64_t)limit < max ? (size_t)limit : max);

		if (h->chunked) {
			h->chunk_left -= (int64_t)n;
			h->chunk_crlf = h->chunk_left == 0;
		} else if (h->remaining > 0) {
			h->remaining -= (int64_t)n;
		}
		return (ssize_t)n;
	}
}
