/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node network controller every agent runs: it watches Nodes and keeps this node's
 * routes to the other nodes' pod CIDRs (directly or over VXLAN) and its masquerade table
 * in step with them (net.h, net_overlay_apply), on every change and every resync. It also
 * publishes what peers need from this node on its Node object: the VXLAN device's MAC
 * (skiff.io/vxlan-mac) and the address to send to (skiff.io/public-ip).
 */
#ifndef SKIFF_CLUSTER_NET_NODENET_H
#define SKIFF_CLUSTER_NET_NODENET_H

#include <stddef.h>

#include <jansson.h>

struct err;
struct kc;
struct net_peer;

#define NODENET_ANN_VXLAN_MAC "skiff.io/vxlan-mac"
#define NODENET_ANN_PUBLIC_IP "skiff.io/public-ip"

struct nodenet_config {
	const char *node_name;    /* this node's Node */
	const char *node_ip;      /* its address between nodes (its InternalIP) */
	const char *pod_cidr;     /* its spec.podCIDR */
	const char *cluster_cidr; /* NULL: "10.42.0.0/16" */
	const char *service_cidr; /* NULL: "10.43.0.0/16" */
	const char *mode;         /* "direct" or "vxlan"; NULL: "vxlan" */
	unsigned mtu;             /* the bridge's MTU; 0: 1500 (VXLAN gets 50 less) */
	const char *nft_table;    /* NULL: "skiff-nat" */
	const char *vxlan_dev;    /* NULL: "skiff.vxlan" */
	unsigned vxlan_port;      /* 0: 8472 */
	int resync_ms;            /* full reconcile period; 0: 30000 */
};

struct nodenet;

/*
 * Starts the controller on client @c: in vxlan mode makes the VXLAN device first, then
 * publishes this node's annotations (retried by the controller if the Node is not there
 * yet), then watches /api/v1/nodes on a thread of its own. Acts in the network namespace
 * of the calling thread, which its threads inherit. EINVAL names a bad field of @cfg.
 */
int nodenet_start(struct kc *c, const struct nodenet_config *cfg, struct nodenet **ret,
		  struct err *err);

/* Stops watching and reconciling; what was made stays, so pods keep their routes across
 * an agent restart. NULL-tolerant. */
void nodenet_stop(struct nodenet *nn);

/* Removes everything the controller makes for @cfg: routes, VXLAN device, nftables table. */
int nodenet_cleanup(const struct nodenet_config *cfg, struct err *err);

/*
 * The desired state from the Nodes in @nodes (a JSON array of Node objects): every other
 * node with an IPv4 spec.podCIDR inside the cluster CIDR that overlaps neither this node's
 * nor an earlier peer's (by name), and an address (InternalIP; in vxlan mode
 * skiff.io/public-ip when set) outside the cluster CIDR; in vxlan mode only nodes that
 * publish a MAC. Nodes left out are logged at debug level. The array is the caller's
 * (free()); EINVAL only for a bad @cfg.
 */
int nodenet_peers(const struct nodenet_config *cfg, const json_t *nodes,
		  struct net_peer **ret_peers, size_t *ret_n, struct err *err);

/*
 * The merge patch publishing this node's annotations: the public IP, and in vxlan mode the
 * device's MAC (in direct mode the MAC annotation is removed). EINVAL for a bad @cfg.
 */
int nodenet_node_patch(const struct nodenet_config *cfg, json_t **ret_patch, struct err *err);

#endif
