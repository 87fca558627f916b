/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster DNS server run by `skiff server`: answers the names of kubernetes/dns's
 * specification (services, headless endpoints, ExternalName, pods) from informers on
 * Services and EndpointSlices, forwards every other name to upstream servers, and
 * publishes itself as the Service kube-system/kube-dns so every node's proxy reaches it.
 */
#ifndef SKIFF_CLUSTER_DNS_DNS_H
#define SKIFF_CLUSTER_DNS_DNS_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct kc;
struct dns_server;

struct dns_config {
	const char *listen_ip;      /* UDP and TCP address; NULL: "0.0.0.0" */
	uint16_t port;              /* 53 in production; 0: any free port (tests) */
	const char *domain;         /* NULL: "cluster.local" */
	const char *cluster_dns_ip; /* the kube-dns ClusterIP; NULL: "10.43.0.10" */
	/*
	 * Forwarding targets "ip", "ip:port" or "[ipv6]:port", tried in order (NULL-ended);
	 * NULL: the nameservers of @resolv_conf, less a loopback one that is this server.
	 */
	const char *const *upstreams;
	const char *resolv_conf;  /* NULL: "/etc/resolv.conf" */
	int upstream_timeout_ms;  /* per upstream and attempt; 0: 2000 */
	bool publish_service;     /* keep kube-system/kube-dns pointing at this server */
	const char *advertise_ip; /* the endpoint address published; NULL: @listen_ip,
				     which must then not be a wildcard address */
};

/*
 * Starts serving: waits (up to 10 s) for the first list of Services and EndpointSlices
 * through @c, binds the sockets and starts the threads; with @publish_service also
 * creates (and from then on corrects) the kube-dns Service, its EndpointSlice
 * kube-dns-server and Endpoints. @c must outlive the server. EINVAL: a bad setting
 * (named in the message); EADDRINUSE: the port is taken; ETIMEDOUT: no first list.
 */
int dns_start(struct kc *c, const struct dns_config *cfg, struct dns_server **ret, struct err *err);

/* The port both sockets are bound to (the one picked when the configured port was 0). */
uint16_t dns_port(const struct dns_server *s);

/* Stops the threads and closes the sockets; published objects stay. NULL-tolerant. */
void dns_stop(struct dns_server *s);

#endif
