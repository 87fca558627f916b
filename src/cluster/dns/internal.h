/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the DNS server: the server's state shared by its files, the zone snapshot
 * (zone.c), answering (answer.c), forwarding (forward.c), the socket loops (server.c)
 * and the kube-dns Service it publishes (publish.c).
 */
#ifndef SKIFF_CLUSTER_DNS_INTERNAL_H
#define SKIFF_CLUSTER_DNS_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cluster/dns/dns.h"

struct err;
struct informer;

#define DNS_TTL       5
#define DNS_HEADER    12
#define DNS_UDP_MIN   512
#define DNS_EDNS_SIZE 1232
#define DNS_WORKERS   4
#define DNS_QUEUE_MAX 256
#define DNS_TCP_MAX   64

/* Loads ldns (ELIBACC names the package when it is missing). */
int dns_ldns_load(struct err *err);

struct dns_upstream {
	struct sockaddr_storage addr;
	socklen_t len;
	char *text; /* "ip:port" for messages */
};

/*
 * Parses "ip", "ip:port", "[ipv6]:port" (port 53 by default) into @ret. EINVAL names
 * @spec and what is wrong with it.
 */
int dns_upstream_parse(const char *spec, struct dns_upstream *ret, struct err *err);

/*
 * The nameservers of the resolv.conf at @path, less a loopback one that is @self (an
 * address and port the server listens on; a wildcard address counts as 127.0.0.1 and
 * ::1). Missing file: none. Returns the count; *ret is a heap array.
 */
size_t dns_upstreams_from_resolv(const char *path, const struct sockaddr *self,
				 struct dns_upstream **ret);

/* A forwarding job: a UDP query answered by a worker because it needs an upstream. */
struct dns_job {
	struct dns_job *next;
	struct sockaddr_storage from;
	socklen_t from_len;
	size_t len;
	uint8_t q[];
};

struct dns_server {
	struct kc *kc;
	char *domain; /* lowercase, no final dot */
	char *cluster_dns_ip;
	char *advertise_ip;
	bool publish;
	struct sockaddr_storage listen;
	socklen_t listen_len;
	uint16_t port;
	int udp_fd, tcp_fd;
	int wake[2]; /* a pipe: its write end closed wakes the loops at stop */
	struct dns_upstream *upstreams;
	size_t n_upstreams;
	int timeout_ms;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;  /* zone dirty, jobs queued, publisher poked, TCP count */
	bool stopping;
	json_t *zone; /* the current snapshot (zone.c); readers take a reference */
	bool zone_dirty;
	bool publish_dirty;
	struct dns_job *jobs, *jobs_tail;
	size_t n_jobs;
	unsigned n_tcp;

	struct informer *svc_inf, *slice_inf;
	pthread_t loop_thread, zone_thread, pub_thread;
	pthread_t workers[DNS_WORKERS];
	bool loop_started, zone_started, pub_started;
	unsigned n_workers;
};

/*
 * The zone: a JSON object built from Service and EndpointSlice objects, never changed
 * once built (several threads read it): "names" maps a lowercase name relative to the
 * domain ("web.default.svc") to its records {"a":[ip], "aaaa":[ip], "cname":"host",
 * "srv":[[port, "target relative to the domain"]], "txt":"text"} (an empty object for a
 * name that exists without records), "ptr" maps an address to the names (relative)
 * pointing back, "serial" the SOA serial.
 */
json_t *dns_zone_build(const json_t *services, const json_t *slices, const char *cluster_dns_ip,
		       uint32_t serial);

/* The current zone (a new reference). */
json_t *dns_zone_get(struct dns_server *s);

/*
 * Starts the informers, waits (up to 10 s) for their first lists, builds the first zone
 * and starts the thread that rebuilds it after changes. ETIMEDOUT: no first list.
 */
int dns_zone_start(struct dns_server *s, struct err *err);
/* Stops the informers; the rebuilding thread ends with the server's stopping flag. */
void dns_zone_stop(struct dns_server *s);
/* The rebuilding thread. */
void *dns_zone_main(void *arg);

enum dns_verdict {
	DNS_DROP,     /* not a query to answer (too short, a response) */
	DNS_ANSWERED, /* *ret holds the answer */
	DNS_UPSTREAM, /* needs an upstream: ask again with @may_block */
};

/*
 * Answers the query @q of @len bytes that came over TCP or UDP. Without @may_block a
 * query that needs an upstream server returns DNS_UPSTREAM and nothing else happens.
 * *ret is a heap buffer of *ret_len bytes.
 */
enum dns_verdict dns_answer(struct dns_server *s, const uint8_t *q, size_t len, bool tcp,
			    bool may_block, uint8_t **ret, size_t *ret_len);

/*
 * Sends @q to the upstreams in order until one answers (TCP when @tcp or when the UDP
 * answer is truncated); the answer carries @q's id. -EHOSTUNREACH when none answers.
 */
int dns_forward(struct dns_server *s, const uint8_t *q, size_t len, bool tcp, uint8_t **ret,
		size_t *ret_len);

/* The offset just past the question section of the message @m, or 0 when malformed. */
size_t dns_question_end(const uint8_t *m, size_t len);

/* Publisher (publish.c): the loop that keeps kube-system/kube-dns right. */
void *dns_publish_main(void *arg);
/* One pass of it: creates or corrects the objects. */
int dns_publish_sync(struct dns_server *s, struct err *err);

#endif
