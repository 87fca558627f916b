/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's sockets and threads: one loop polls the UDP socket and the TCP listener and
 * answers cluster names at once; queries that need an upstream go to a few worker
 * threads, and each TCP connection has a thread of its own (up to DNS_TCP_MAX), so a slow
 * upstream never holds up local answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/dns/internal.h"

#define TCP_IDLE_MS 10000
#define UDP_MAX     65535

/* Workers: forwarded UDP queries. */

static void *worker_main(void *arg)
{
	struct dns_server *s = arg;

	for (;;) {
		cleanup_free uint8_t *a = NULL;
		struct dns_job *j;
		size_t alen = 0;

		pthread_mutex_lock(&s->lock);
		while (!s->stopping && !s->jobs)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		j = s->jobs;
		s->jobs = j->next;
		if (!s->jobs)
			s->jobs_tail = NULL;
		s->n_jobs--;
		pthread_mutex_unlock(&s->lock);
		if (dns_answer(s, j->q, j->len, false, true, &a, &alen) == DNS_ANSWERED)
			sendto(s->udp_fd, a, alen, MSG_DONTWAIT, (struct sockaddr *)&j->from,
			       j->from_len);
		free(j);
	}
}

static void enqueue(struct dns_server *s, const uint8_t *q, size_t len,
		    const struct sockaddr_storage *from, socklen_t from_len)
{
	struct dns_job *j;

	pthread_mutex_lock(&s->lock);
	/* beyond the bound the client's retry is the queue */
	if (s->n_jobs >= DNS_QUEUE_MAX) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	j = xmalloc(sizeof(*j) + len);
	j->next = NULL;
	j->from = *from;
	j->from_len = from_len;
	j->len = len;
	memcpy(j->q, q, len);
	if (s->jobs_tail)
		s->jobs_tail->next = j;
	else
		s->jobs = j;
	s->jobs_tail = j;
	s->n_jobs++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void serve_udp(struct dns_server *s, uint8_t *buf)
{
	struct sockaddr_storage from;
	socklen_t from_len = sizeof(from);
	cleanup_free uint8_t *a = NULL;
	size_t alen = 0;
	ssize_t n;

	n = recvfrom(s->udp_fd, buf, UDP_MAX, MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	if (n <= 0)
		return;
	switch (dns_answer(s, buf, (size_t)n, false, false, &a, &alen)) {
	case DNS_ANSWERED:
		sendto(s->udp_fd, a, alen, MSG_DONTWAIT, (struct sockaddr *)&from, from_len);
		break;
	case DNS_UPSTREAM:
		enqueue(s, buf, (size_t)n, &from, from_len);
		break;
	case DNS_DROP:
		break;
	}
}

/* TCP connections. */

struct conn {
	struct dns_server *s;
	int fd;
};

static int read_full(int fd, uint8_t *buf, size_t len, int wake)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {wake, POLLIN, 0}};
		ssize_t n;
		int r = poll(p, 2, TCP_IDLE_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || p[1].revents)
			return -1;
		n = recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct dns_server *s = c->s;
	cleanup_free uint8_t *buf = xmalloc(UDP_MAX);

	for (;;) {
		cleanup_free uint8_t *a = NULL, *out = NULL;
		uint8_t hdr[2];
		size_t len, alen = 0;

		if (read_full(c->fd, hdr, 2, s->wake[0]) < 0)
			break;
		len = (size_t)(hdr[0] << 8 | hdr[1]);
		if (read_full(c->fd, buf, len, s->wake[0]) < 0)
			break;
		if (dns_answer(s, buf, len, true, true, &a, &alen) != DNS_ANSWERED)
			continue;
		out = xmalloc(alen + 2);
		out[0] = (uint8_t)(alen >> 8);
		out[1] = (uint8_t)alen;
		memcpy(out + 2, a, alen);
		if (send(c->fd, out, alen + 2, MSG_NOSIGNAL) != (ssize_t)(alen + 2))
			break;
	}
	close(c->fd);
	pthread_mutex_lock(&s->lock);
	s->n_tcp--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(c);
	return NULL;
}

static void serve_tcp(struct dns_server *s)
{
	int fd = accept4(s->tcp_fd, NULL, NULL, SOCK_CLOEXEC);
	struct conn *c;
	pthread_attr_t attr;
	pthread_t t;

	if (fd < 0)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->n_tcp >= DNS_TCP_MAX) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		return;
	}
	s->n_tcp++;
	pthread_mutex_unlock(&s->lock);
	c = xmalloc(sizeof(*c));
	c->s = s;
	c->fd = fd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, conn_main, c) != 0) {
		close(fd);
		free(c);
		pthread_mutex_lock(&s->lock);
		s->n_tcp--;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_attr_destroy(&attr);
}

static void *loop_main(void *arg)
{
	struct dns_server *s = arg;
	cleanup_free uint8_t *buf = xmalloc(UDP_MAX);

	for (;;) {
		struct pollfd p[3] = {
			{s->udp_fd, POLLIN, 0}, {s->tcp_fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll DNS sockets: %s, stopping DNS", strerror(errno));
			return NULL;
		}
		if (p[2].revents)
			return NULL;
		if (p[0].revents)
			serve_udp(s, buf);
		if (p[1].revents)
			serve_tcp(s);
	}
}

/* Sockets. */

static int listen_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len,
		       struct err *err)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
	} else {
		return err_set(err, EINVAL, "start DNS: listen address '%s' is not an IP address",
			       ip);
	}
	return 0;
}

static int bind_one(struct sockaddr_storage *ss, socklen_t len, int type, int *ret, struct err *err)
{
	cleanup_close int fd = socket(ss->ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return err_sys(err, "create DNS socket");
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, len) < 0)
		return err_sys(err, "bind DNS %s socket to port %u",
			       type == SOCK_STREAM ? "TCP" : "UDP",
			       ntohs(((struct sockaddr_in *)ss)->sin_port));
	if (type == SOCK_STREAM && listen(fd, 128) < 0)
		return err_sys(err, "listen on DNS TCP socket");
	*ret = TAKE_FD(fd);
	return 0;
}

/* Binds UDP and TCP to one port; with port 0 the kernel's pick for UDP, tried for TCP. */
static int bind_sockets(struct dns_server *s, struct err *err)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&s->listen;
	bool any = a4->sin_port == 0;
	int r;

	for (int tries = 0;; tries++) {
		socklen_t sl = s->listen_len;

		r = bind_one(&s->listen, s->listen_len, SOCK_DGRAM, &s->udp_fd, err);
		if (r < 0)
			return r;
		if (getsockname(s->udp_fd, (struct sockaddr *)&s->listen, &sl) < 0)
			return err_sys(err, "read DNS UDP socket's address");
		r = bind_one(&s->listen, s->listen_len, SOCK_STREAM, &s->tcp_fd, err);
		if (r == 0 || !any || r != -EADDRINUSE || tries == 10)
			break;
		err_clear(err);
		close(s->udp_fd);
		s->udp_fd = -1;
		a4->sin_port = 0;
	}
	s->port = ntohs(a4->sin_port);
	return r;
}

/* Start and stop. */

static int setup_upstreams(struct dns_server *s, const struct dns_config *cfg, struct err *err)
{
	size_t n = 0;
	int r;

	if (!cfg->upstreams) {
		s->n_upstreams = dns_upstreams_from_resolv(
			cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf",
			(struct sockaddr *)&s->listen, &s->upstreams);
		return 0;
	}
	while (cfg->upstreams[n])
		n++;
	s->upstreams = xcalloc(n ? n : 1, sizeof(*s->upstreams));
	for (size_t i = 0; i < n; i++) {
		r = dns_upstream_parse(cfg->upstreams[i], &s->upstreams[i], err);
		if (r < 0)
			return err_wrap(err, "start DNS");
		s->n_upstreams++;
	}
	return 0;
}

static int check_config(const struct dns_config *cfg, struct dns_server *s, struct err *err)
{
	const char *d = cfg->domain ? cfg->domain : "cluster.local";
	struct in_addr a;
	size_t n;

	s->domain = xstrdup(d);
	n = strlen(s->domain);
	if (n && s->domain[n - 1] == '.')
		s->domain[--n] = '\0';
	for (char *p = s->domain; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (!n || n > 200 || strstr(s->domain, "..") || s->domain[0] == '.')
		return err_set(err, EINVAL, "start DNS: bad cluster domain '%s'", d);
	s->cluster_dns_ip = xstrdup(cfg->cluster_dns_ip ? cfg->cluster_dns_ip : "10.43.0.10");
	if (inet_pton(AF_INET, s->cluster_dns_ip, &a) != 1)
		return err_set(err, EINVAL,
			       "start DNS: cluster DNS address '%s' is not an IPv4 "
			       "address",
			       s->cluster_dns_ip);
	s->timeout_ms = cfg->upstream_timeout_ms > 0 ? cfg->upstream_timeout_ms : 2000;
	s->publish = cfg->publish_service;
	s->advertise_ip = xstrdup(cfg->advertise_ip ? cfg->advertise_ip
				  : cfg->listen_ip  ? cfg->listen_ip
						    : "0.0.0.0");
	if (s->publish &&
	    (strcmp(s->advertise_ip, "0.0.0.0") == 0 || strcmp(s->advertise_ip, "::") == 0))
		return err_set(err, EINVAL,
			       "start DNS: publishing the kube-dns service needs an address to "
			       "advertise, not the wildcard '%s'",
			       s->advertise_ip);
	return listen_addr(cfg->listen_ip ? cfg->listen_ip : "0.0.0.0", cfg->port, &s->listen,
			   &s->listen_len, err);
}

static int start_threads(struct dns_server *s, struct err *err)
{
	int r;

	r = pthread_create(&s->zone_thread, NULL, dns_zone_main, s);
	if (r != 0)
		return err_errno(err, r, "start DNS zone thread");
	s->zone_started = true;
	for (; s->n_workers < DNS_WORKERS; s->n_workers++) {
		r = pthread_create(&s->workers[s->n_workers], NULL, worker_main, s);
		if (r != 0)
			return err_errno(err, r, "start DNS forwarding thread");
	}
	r = pthread_create(&s->loop_thread, NULL, loop_main, s);
	if (r != 0)
		return err_errno(err, r, "start DNS loop thread");
	s->loop_started = true;
	if (s->publish) {
		r = pthread_create(&s->pub_thread, NULL, dns_publish_main, s);
		if (r != 0)
			return err_errno(err, r, "start DNS publishing thread");
		s->pub_started = true;
	}
	return 0;
}

int dns_start(struct kc *c, const struct dns_config *cfg, struct dns_server **ret, struct err *err)
{
	struct dns_server *s = xcalloc(1, sizeof(*s));
	int r;

	s->kc = c;
	s->udp_fd = s->tcp_fd = s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	r = dns_ldns_load(err);
	if (r < 0)
		goto fail;
	r = check_config(cfg, s, err);
	if (r < 0)
		goto fail;
	r = bind_sockets(s, err);
	if (r < 0)
		goto fail;
	r = setup_upstreams(s, cfg, err);
	if (r < 0)
		goto fail;
	if (pipe2(s->wake, O_CLOEXEC) < 0) {
		r = err_sys(err, "create DNS wake pipe");
		goto fail;
	}
	r = dns_zone_start(s, err);
	if (r < 0) {
		err_wrap(err, "start DNS");
		goto fail;
	}
	if (s->publish) {
		r = dns_publish_sync(s, err);
		if (r < 0) {
			err_wrap(err, "start DNS");
			goto fail;
		}
	}
	r = start_threads(s, err);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	dns_stop(s);
	return r;
}

uint16_t dns_port(const struct dns_server *s)
{
	return s->port;
}

void dns_stop(struct dns_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* the closed write end makes the pipe readable for every poll: loop and connections */
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	s->wake[1] = -1;
	if (s->loop_started)
		pthread_join(s->loop_thread, NULL);
	for (unsigned i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	if (s->pub_started)
		pthread_join(s->pub_thread, NULL);
	pthread_mutex_lock(&s->lock);
	while (s->n_tcp > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	/* the zone thread reads the informers: it ends before they do */
	if (s->zone_started)
		pthread_join(s->zone_thread, NULL);
	dns_zone_stop(s);
	while (s->jobs) {
		struct dns_job *j = s->jobs;

		s->jobs = j->next;
		free(j);
	}
	for (size_t i = 0; i < s->n_upstreams; i++)
		free(s->upstreams[i].text);
	free(s->upstreams);
	if (s->udp_fd >= 0)
		close(s->udp_fd);
	if (s->tcp_fd >= 0)
		close(s->tcp_fd);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	json_decref(s->zone);
	free(s->domain);
	free(s->cluster_dns_ip);
	free(s->advertise_ip);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
