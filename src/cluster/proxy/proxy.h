/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The service proxy every node agent runs (kube-proxy's role, in its nftables mode): it
 * watches Services and EndpointSlices and keeps one nftables table in step, so that
 * ClusterIPs and NodePorts reach ready endpoints. Each change is one atomic transaction
 * that rewrites only the chains and map elements of the services it touches.
 *
 * Host settings it relies on: net.ipv4.ip_forward=1 (the agent sets it); for NodePorts
 * on 127.0.0.1, net.ipv4.conf.all.route_localnet=1 (set here, as upstream's iptables mode
 * does, with a rule dropping packets for 127.0.0.0/8 that did not come in over lo); and,
 * for a pod reaching a service whose endpoint is another pod on the same bridge,
 * net.bridge.bridge-nf-call-iptables=1 (set here when the br_netfilter module is loaded):
 * the reply is bridged straight between the pods, and without it never meets conntrack to
 * be un-DNATed.
 */
#ifndef SKIFF_CLUSTER_PROXY_PROXY_H
#define SKIFF_CLUSTER_PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct kc;

/* The default table, "ip skiff-proxy". */
#define SVCPROXY_TABLE "skiff-proxy"

struct svcproxy_config {
	const char *node_name;       /* endpoints with this nodeName are local (traffic policies) */
	const char *cluster_cidr;    /* pod addresses, "10.42.0.0/16": others are masqueraded */
	const char *service_cidr;    /* "10.43.0.0/16": unallocated ClusterIPs are dropped */
	const char *table;           /* NULL: SVCPROXY_TABLE; letters, digits, '-' and '_' */
	unsigned masquerade_bit;     /* packet mark bit for "masquerade this"; 0: 14 (0x4000) */
	bool no_localhost_nodeports; /* true: leave route_localnet alone, no 127.0.0.1 NodePorts */
	bool no_sysctls;             /* true: write no sysctl at all (tests, or the caller does) */
};

struct svcproxy;

/*
 * Starts the proxy on @c: informers on Services and EndpointSlices and a thread that
 * applies their changes. The first transaction, once both informers have listed, replaces
 * whatever the table held (a restart leaves no leftovers and no duplicates). Changes are
 * coalesced while they come in bursts (10 ms of quiet, never more than 100 ms after the
 * first). A failed transaction is logged and retried with a full resync, backing off from
 * 1 s to 30 s. EINVAL names a bad field of @cfg; ELIBACC when libnftables is missing.
 */
int svcproxy_start(struct kc *c, const struct svcproxy_config *cfg, struct svcproxy **ret,
		   struct err *err);

/* Stops watching and applying; the rules stay in place, as kube-proxy leaves them. */
void svcproxy_stop(struct svcproxy *p);

struct svcproxy_stats {
	uint64_t syncs;           /* transactions applied */
	uint64_t failures;        /* transactions the kernel refused */
	uint64_t full_syncs;      /* of the applied ones, how many rebuilt the whole table */
	double last_ms;           /* how long the last applied transaction took */
	size_t service_ports;     /* service ports with rules */
	size_t endpoints;         /* endpoint chains */
	size_t no_endpoints;      /* service ports rejecting for want of any endpoint */
	size_t no_local_internal; /* upstream's sync_proxy_rules_no_local_endpoints_total */
	size_t no_local_external; /* {traffic_policy="internal"|"external"} */
};

/* A copy of the counters as of the last transaction. */
void svcproxy_sync_stats(struct svcproxy *p, struct svcproxy_stats *ret);

/*
 * Waits up to @timeout_ms until every change seen so far is applied; false on timeout.
 * For tests and benchmarks.
 */
bool svcproxy_wait_idle(struct svcproxy *p, int timeout_ms);

/* Deletes table @table (NULL: SVCPROXY_TABLE); an absent table is fine. For uninstall. */
int svcproxy_cleanup(const char *table, struct err *err);

#endif
