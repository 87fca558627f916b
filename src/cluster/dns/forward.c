/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwarding to upstream servers: names outside the cluster domain (and ExternalName
 * targets) go to the configured servers in order, each over UDP then TCP when the answer
 * is truncated, or over TCP when the client asked over TCP. Called by worker and TCP
 * connection threads only, never by the loop that answers local names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/dns/internal.h"

#define MSG_MAX 65535

int dns_upstream_parse(const char *spec, struct dns_upstream *ret, struct err *err)
{
	cleanup_free char *host = NULL;
	struct dns_upstream u = {0};
	const char *port_s = NULL;
	unsigned long port = 53;
	char *end;

	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || (close[1] && close[1] != ':'))
			return err_set(err, EINVAL, "parse upstream '%s': expected [ipv6]:port",
				       spec);
		host = xstrndup(spec + 1, (size_t)(close - spec - 1));
		port_s = close[1] ? close + 2 : NULL;
	} else if (strchr(spec, ':') && strchr(spec, ':') == strrchr(spec, ':')) {
		host = xstrndup(spec, (size_t)(strchr(spec, ':') - spec));
		port_s = strchr(spec, ':') + 1;
	} else {
		host = xstrdup(spec);
	}
	if (port_s) {
		errno = 0;
		port = strtoul(port_s, &end, 10);
		if (errno || end == port_s || *end || port == 0 || port > 65535)
			return err_set(err, EINVAL, "parse upstream '%s': bad port '%s'", spec,
				       port_s);
	}
	/* resolv.conf may carry an IPv6 zone ("fe80::1%eth0"), which inet_pton refuses */
	if (strchr(host, '%')) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u.addr;
		char *zone = strchr(host, '%');

		*zone++ = '\0';
		a6->sin6_scope_id = if_nametoindex(zone);
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&u.addr)->sin_addr) == 1) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&u.addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		u.len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&u.addr)->sin6_addr) == 1) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u.addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		u.len = sizeof(*a6);
	} else {
		return err_set(err, EINVAL, "parse upstream '%s': '%s' is not an IP address", spec,
			       host);
	}
	u.text = u.addr.ss_family == AF_INET6 ? xasprintf("[%s]:%lu", host, port)
					      : xasprintf("%s:%lu", host, port);
	*ret = u;
	return 0;
}

static bool is_loopback(const struct sockaddr *a)
{
	if (a->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	if (a->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return false;
}

/*
 * Whether the loopback upstream @u is this server: the same port, and the same address or
 * a wildcard one. A wildcard socket does not shadow another server bound to a specific
 * loopback address (127.0.0.53 of systemd-resolved), so only 127.0.0.1 and ::1 count.
 */
static bool is_self(const struct dns_upstream *u, const struct sockaddr *self)
{
	const struct sockaddr_in *u4 = (const struct sockaddr_in *)&u->addr;
	const struct sockaddr_in6 *u6 = (const struct sockaddr_in6 *)&u->addr;

	if (!self || !is_loopback((const struct sockaddr *)&u->addr))
		return false;
	if (self->sa_family == AF_INET && u->addr.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)self;

		return s4->sin_port == u4->sin_port &&
		       (s4->sin_addr.s_addr == u4->sin_addr.s_addr ||
			(s4->sin_addr.s_addr == htonl(INADDR_ANY) &&
			 u4->sin_addr.s_addr == htonl(INADDR_LOOPBACK)));
	}
	if (self->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)self;
		bool any = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);

		if (u->addr.ss_family == AF_INET)
			/* a dual-stack wildcard socket also receives IPv4 */
			return any && s6->sin6_port == u4->sin_port &&
			       u4->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
		return s6->sin6_port == u6->sin6_port &&
		       (any || IN6_ARE_ADDR_EQUAL(&s6->sin6_addr, &u6->sin6_addr));
	}
	return false;
}

size_t dns_upstreams_from_resolv(const char *path, const struct sockaddr *self,
				 struct dns_upstream **ret)
{
	cleanup_fclose FILE *f = fopen(path, "re");
	struct dns_upstream *v = NULL;
	cleanup_free char *line = NULL;
	size_t n = 0, cap = 0;

	*ret = NULL;
	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		char word[16], addr[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
		struct dns_upstream u;
		struct err err = ERR_INIT;

		if (sscanf(line, "%15s %63s", word, addr) != 2 || strcmp(word, "nameserver") != 0)
			continue;
		/* resolv.conf names addresses only, always on port 53; brackets keep IPv6 whole */
		cleanup_free char *spec =
			strchr(addr, ':') ? xasprintf("[%s]", addr) : xstrdup(addr);

		if (dns_upstream_parse(spec, &u, &err) < 0) {
			log_debug("%s: %s, ignoring", path, err.msg);
			err_clear(&err);
			continue;
		}
		if (is_self(&u, self)) {
			free(u.text);
			continue;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = u;
	}
	*ret = v;
	return n;
}

/* Waits for @events on @fd until @deadline; -ETIMEDOUT past it. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;
	int r;

	for (;;) {
		left = deadline - clock_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Whether @a answers @q: the same id and question, and the QR bit. */
static bool answers(const uint8_t *q, size_t qlen, const uint8_t *a, size_t alen)
{
	size_t qend = dns_question_end(q, qlen);

	if (alen < DNS_HEADER || a[0] != q[0] || a[1] != q[1] || !(a[2] & 0x80))
		return false;
	/* upstreams echo the question's bytes, letter case included */
	return qend && alen >= qend &&
	       memcmp(a + DNS_HEADER, q + DNS_HEADER, qend - DNS_HEADER) == 0;
}

static int exchange_udp(const struct dns_upstream *u, const uint8_t *q, size_t len,
			int64_t deadline, uint8_t *buf, size_t *ret_len)
{
	cleanup_close int fd = socket(u->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t n;
	int r;

	if (fd < 0)
		return -errno;
	/* a connected socket only receives from the upstream itself */
	if (connect(fd, (const struct sockaddr *)&u->addr, u->len) < 0 ||
	    send(fd, q, len, 0) != (ssize_t)len)
		return -errno;
	for (;;) {
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return r;
		n = recv(fd, buf, MSG_MAX, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (answers(q, len, buf, (size_t)n)) {
			*ret_len = (size_t)n;
			return 0;
		}
	}
}

static int io_all(int fd, uint8_t *buf, size_t len, bool out, int64_t deadline)
{
	size_t done = 0;
	ssize_t n;
	int r;

	while (done < len) {
		r = wait_fd(fd, out ? POLLOUT : POLLIN, deadline);
		if (r < 0)
			return r;
		n = out ? send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

static int exchange_tcp(const struct dns_upstream *u, const uint8_t *q, size_t len,
			int64_t deadline, uint8_t *buf, size_t *ret_len)
{
	cleanup_close int fd =
		socket(u->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	cleanup_free uint8_t *out = xmalloc(len + 2);
	uint8_t hdr[2];
	socklen_t sl = sizeof(int);
	int r, soerr = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&u->addr, u->len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, q, len);
	r = io_all(fd, out, len + 2, true, deadline);
	if (r < 0)
		return r;
	r = io_all(fd, hdr, 2, false, deadline);
	if (r < 0)
		return r;
	*ret_len = (size_t)(hdr[0] << 8 | hdr[1]);
	r = io_all(fd, buf, *ret_len, false, deadline);
	if (r < 0)
		return r;
	return answers(q, len, buf, *ret_len) ? 0 : -EPROTO;
}

int dns_forward(struct dns_server *s, const uint8_t *q, size_t len, bool tcp, uint8_t **ret,
		size_t *ret_len)
{
	cleanup_free uint8_t *mine = xmalloc(len), *buf = xmalloc(MSG_MAX);
	size_t n = 0;

	if (len < DNS_HEADER || len > MSG_MAX)
		return -EINVAL;
	/* our own id per query: answers to clients' equal ids cannot be mixed up */
	memcpy(mine, q, len);
	if (getrandom(mine, 2, 0) != 2)
		abort();
	for (size_t i = 0; i < s->n_upstreams; i++) {
		const struct dns_upstream *u = &s->upstreams[i];
		int64_t deadline = clock_mono_ms() + s->timeout_ms;
		int r = -EPROTO;

		if (!tcp)
			r = exchange_udp(u, mine, len, deadline, buf, &n);
		if (tcp || (r == 0 && (buf[2] & 0x02)))
			r = exchange_tcp(u, mine, len, clock_mono_ms() + s->timeout_ms, buf, &n);
		if (r < 0) {
			log_debug("forward query to %s: %s, trying the next upstream", u->text,
				  strerror(-r));
			continue;
		}
		buf[0] = q[0];
		buf[1] = q[1];
		*ret = xmalloc(n);
		memcpy(*ret, buf, n);
		*ret_len = n;
		return 0;
	}
	return -EHOSTUNREACH;
}
