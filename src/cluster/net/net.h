/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod networking primitives for the node agent: IPAM for the node's pod CIDR (one file per
 * address, so allocations survive a kill -9 of the agent), and the links that carry pod
 * traffic: the node bridge, one veth pair per pod, routes. Links are driven over netlink
 * with libnl-route-3, loaded on first use.
 *
 * The bridge only forwards between pods and the host; routing pod traffic off the node
 * needs net.ipv4.ip_forward=1, which the caller sets (this module never writes sysctls).
 */
#ifndef SKIFF_CLUSTER_NET_NET_H
#define SKIFF_CLUSTER_NET_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

struct err;

/* Room for "255.255.255.255/32" and its NUL. */
#define NET_CIDR_STRLEN (INET_ADDRSTRLEN + 3)

/* Link names are at most 15 characters (IFNAMSIZ - 1). */
#define NET_IFNAME_MAX 15

/* ------------------------------------------------------------------------------------------ */
/* Addresses */

/*
 * Parses an IPv4 CIDR such as "10.42.3.0/24" into its address (as written, host bits kept)
 * and prefix length. EINVAL names the value and what is wrong with it.
 */
int net_cidr_parse(const char *cidr, struct in_addr *ret_addr, unsigned *ret_prefix,
		   struct err *err);

/*
 * The gateway of a pod CIDR: its first host address ("10.42.3.1" for "10.42.3.0/24"), the
 * node bridge's address. @ret_gateway_cidr (may be NULL) receives it with the prefix
 * ("10.42.3.1/24"). EINVAL for a bad CIDR or one too small (/31, /32) to hold a gateway.
 */
int net_cidr_gateway(const char *cidr, char ret_gateway[INET_ADDRSTRLEN],
		     char ret_gateway_cidr[NET_CIDR_STRLEN], struct err *err);

/* True when IPv4 address @ip lies in @cidr; false for either one malformed. */
bool net_cidr_contains(const char *cidr, const char *ip);

/* ------------------------------------------------------------------------------------------ */
/* IPAM */

/*
 * Addresses of one pod CIDR, recorded in a directory: a file per allocated address, named
 * by the address and holding its owner's id, created with O_EXCL so that two processes (or
 * two handles) never hand out one address. A handle is safe to share between threads;
 * handles in several processes serialise through a lock on the directory.
 */
struct net_ipam;

/*
 * Opens (creating it 0700 if needed) the allocation directory @dir for @cidr, an IPv4
 * network address with prefix /16 to /30. Files for addresses outside @cidr (left by an
 * earlier CIDR) are ignored. EINVAL for a bad CIDR.
 */
int net_ipam_open(const char *dir, const char *cidr, struct net_ipam **ret_ipam, struct err *err);

/* Closes the handle; allocations stay on disk. NULL-tolerant. */
void net_ipam_free(struct net_ipam *ipam);

/*
 * Gives @owner (a pod uid: 1-253 printable characters) an address. An owner that already
 * has one gets it back. New addresses are handed out round-robin from the last one given
 * (as host-local IPAM does), so a just-released address is not reused at once; network,
 * gateway (.1) and broadcast addresses never are. ENOSPC when every address is taken,
 * EINVAL for a bad owner.
 */
int net_ipam_alloc(struct net_ipam *ipam, const char *owner, char ret_ip[INET_ADDRSTRLEN],
		   struct err *err);

/* Releases every address of @owner; an owner with none is fine. */
int net_ipam_release(struct net_ipam *ipam, const char *owner, struct err *err);

/* Copies @owner's address to @ret_ip and returns true, or returns false when it has none. */
bool net_ipam_lookup(struct net_ipam *ipam, const char *owner, char ret_ip[INET_ADDRSTRLEN]);

struct net_ipam_entry {
	char ip[INET_ADDRSTRLEN];
	char *owner;
};

/*
 * Lists the allocations in @cidr, in address order, for garbage collection of owners that
 * no longer exist. Free the array with net_ipam_entries_free().
 */
int net_ipam_list(struct net_ipam *ipam, struct net_ipam_entry **ret_entries, size_t *ret_n,
		  struct err *err);
void net_ipam_entries_free(struct net_ipam_entry *entries, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Links (netlink) */

/*
 * Network namespaces: functions that take @netns act in the namespace bound at that path
 * (such as "/run/netns/x" or "<pod dir>/ns/net"), or in the caller's own when it is NULL.
 * To get there the *calling thread* enters the namespace just long enough to open a netlink
 * socket (whose requests keep acting in that namespace) and returns to its own; the caller
 * must therefore be a thread that may switch network namespaces briefly: not one another
 * thread of the process expects to share its namespace with during the call. If the thread
 * cannot return to its namespace the process aborts, since every later network call would
 * silently act in the wrong one.
 *
 * All functions need CAP_NET_ADMIN (and CAP_SYS_ADMIN for namespaces). Errors carry the
 * errno the kernel gave (EEXIST, ENODEV, EPERM, ...), mapped back from libnl's codes.
 */

/* Loads libnl-route-3; ELIBACC names the package libnl-route-3-200 when it is missing. */
int net_nl_load(struct err *err);

/*
 * Makes bridge @name exist with address @gateway_cidr ("10.42.3.1/24") as its only IPv4
 * address, @mtu (0: leave the kernel's default), and up. Idempotent. EEXIST when a link
 * @name exists and is not a bridge.
 */
int net_bridge_ensure(const char *name, const char *gateway_cidr, unsigned mtu, struct err *err);

struct net_pod_attach {
	const char *bridge;    /* host bridge to enslave the host side to, e.g. "skiff0" */
	const char *host_veth; /* host-side name, <= 15 chars, e.g. "veth" + 8 hex of the uid */
	const char *netns;     /* path of the pod's network namespace */
	const char *ifname;    /* name inside the pod, e.g. "eth0" */
	const char *ip_cidr;   /* pod address with prefix, e.g. "10.42.3.7/24" */
	const char *gateway;   /* default route via, e.g. "10.42.3.1" */
	unsigned mtu;          /* 0: the bridge's */
	const char *mac;       /* "aa:bb:cc:dd:ee:ff" for the pod side, or NULL for random */
};

/*
 * Wires a pod to the bridge: a veth pair whose host side is @host_veth, enslaved to the
 * bridge and up, and whose other side is @ifname inside @netns, with @ip_cidr, up, and the
 * default route via @gateway; `lo` inside is brought up too. Idempotent: when @host_veth
 * already pairs with @ifname in @netns the configuration is (re)applied; a half-made or
 * foreign pair is removed and made again. On failure, links this call created are removed.
 * EINVAL names a bad field; ENODEV when the bridge is missing.
 */
int net_pod_attach(const struct net_pod_attach *a, struct err *err);

/* Removes the pod's veth pair by its host side; an absent one is fine. */
int net_pod_detach(const char *host_veth, struct err *err);

/*
 * Adds or replaces the main-table route to @dst_cidr in the caller's namespace, via
 * gateway @via (NULL: directly connected) out of @dev (NULL: wherever @via is reachable);
 * at least one of @via and @dev is needed. For routing other nodes' pod CIDRs.
 */
int net_route_replace(const char *dst_cidr, const char *via, const char *dev, struct err *err);

/* Deletes the main-table route to @dst_cidr in the caller's namespace; absent is fine. */
int net_route_delete(const char *dst_cidr, struct err *err);

/* True when link @name exists in @netns (NULL: the caller's). */
bool net_link_exists(const char *netns, const char *name);

/* Deletes link @name in @netns (NULL: the caller's); an absent link is fine. */
int net_link_delete(const char *netns, const char *name, struct err *err);

struct net_link_info {
	int ifindex;
	bool up; /* IFF_UP: administratively up */
	unsigned mtu;
	char kind[16];              /* "bridge", "veth", ... or "" */
	char master[16];            /* name of the bridge it is enslaved to, or "" */
	char mac[18];               /* "aa:bb:cc:dd:ee:ff" or "" */
	char ipv4[NET_CIDR_STRLEN]; /* its first IPv4 address with prefix, or "" */
	unsigned n_ipv4;            /* how many IPv4 addresses it has */
};

/* Reads back link @name in @netns (NULL: the caller's). ENODEV when there is none. */
int net_link_get(const char *netns, const char *name, struct net_link_info *ret_info,
		 struct err *err);

/* ========================================================================================== */
/* Routes between nodes, VXLAN and masquerading (routes.c, vxlan.c) */

/*
 * Pods on different nodes reach each other as with flannel, in one of two modes:
 *  - direct ("host-gw"): a route to each peer's pod CIDR via the peer's address, which
 *    must be on a link the nodes share;
 *  - vxlan: a VXLAN device whose address is this node's pod network address (/32); per
 *    peer a route to its pod CIDR via its pod network address on the device (onlink), a
 *    permanent neighbour entry giving that address the peer device's MAC, and an FDB
 *    entry sending that MAC to the peer's node address. Learning is off: the kernel never
 *    floods or guesses.
 * Pod traffic leaving the cluster network is masqueraded behind the node's address by an
 * nftables table of its own.
 *
 * What is made here is found again without memory (after an agent restart): routes carry
 * protocol NET_RTPROT_SKIFF, neighbours and FDB entries live on the module's own device,
 * masquerading in its own table. Everything acts in the calling thread's network namespace
 * and needs CAP_NET_ADMIN.
 */

/* The route protocol (rtm_protocol) of skiff's routes to other nodes: unassigned in
 * iproute2's rt_protos, so never an administrator's or a routing daemon's. */
#define NET_RTPROT_SKIFF 83

#define NET_VXLAN_DEV      "skiff.vxlan"
#define NET_VXLAN_PORT     8472 /* the kernel's and flannel's default, not IANA's 4789 */
#define NET_VXLAN_VNI      1
#define NET_VXLAN_OVERHEAD 50 /* outer IPv4, UDP, VXLAN and Ethernet headers */
#define NET_NFT_TABLE      "skiff-nat"

/* "aa:bb:cc:dd:ee:ff" and its NUL. */
#define NET_MAC_STRLEN 18

enum net_overlay_mode { NET_OVERLAY_DIRECT, NET_OVERLAY_VXLAN };

/* Parses "direct" or "vxlan"; EINVAL names the value. */
int net_overlay_mode_parse(const char *s, enum net_overlay_mode *ret_mode, struct err *err);

/* This node's side of the overlay. */
struct net_overlay {
	enum net_overlay_mode mode;
	const char *node_ip;      /* this node's address between nodes (VXLAN's local) */
	const char *pod_cidr;     /* this node's pod CIDR, "10.42.3.0/24" */
	const char *cluster_cidr; /* all pods, "10.42.0.0/16" */
	const char *service_cidr; /* ClusterIPs, "10.43.0.0/16": never masqueraded here */
	unsigned mtu;             /* MTU of the network between nodes; 0: 1500 */
	const char *vxlan_dev;    /* NULL: NET_VXLAN_DEV */
	unsigned vxlan_port;      /* 0: NET_VXLAN_PORT */
	const char *nft_table;    /* NULL: NET_NFT_TABLE */
};

/* Another node, as its routes need it. */
struct net_peer {
	char pod_cidr[NET_CIDR_STRLEN]; /* "10.42.5.0/24", host bits clear */
	char ip[INET_ADDRSTRLEN];       /* its node address: gateway (direct), VTEP (vxlan) */
	char mac[NET_MAC_STRLEN];       /* vxlan: its device's MAC; ignored when direct */
};

/*
 * The MAC of the VXLAN device of the node at @node_ip: locally administered, derived from
 * the address, so a re-created device keeps the MAC its peers know. EINVAL for a bad IP.
 */
int net_vxlan_mac(const char *node_ip, char ret_mac[NET_MAC_STRLEN], struct err *err);

/* Checks @o as net_overlay_apply() does, touching nothing. EINVAL names the bad field. */
int net_overlay_check(const struct net_overlay *o, struct err *err);

/*
 * Makes the VXLAN device (vxlan mode) or removes it (direct mode), leaving peers' entries
 * alone: what must exist before this node's MAC is published.
 */
int net_overlay_prepare(const struct net_overlay *o, struct err *err);

/*
 * Brings the kernel to @o with @peers: in vxlan mode the device (made or repaired) and
 * each peer's route, neighbour and FDB entry; in direct mode each peer's route and no
 * VXLAN device; in both, the masquerade table, and no route, neighbour or FDB entry of
 * ours for a node not in @peers. Idempotent. A failing peer does not stop the others: the
 * first error is returned once all were tried. EINVAL names a bad field of @o or a peer.
 */
int net_overlay_apply(const struct net_overlay *o, const struct net_peer *peers, size_t n_peers,
		      struct err *err);

/* Removes all of it: skiff's routes in the cluster CIDR, the VXLAN device, the table. */
int net_overlay_cleanup(const struct net_overlay *o, struct err *err);

/* The pieces, for callers and tests that need them one by one. */

struct net_vxlan {
	const char *name;  /* "skiff.vxlan" */
	unsigned vni;      /* 1 */
	unsigned port;     /* UDP destination port, 8472 */
	const char *local; /* this node's address, the outer source */
	unsigned mtu;      /* 0: the kernel's */
	const char *addr;  /* its only IPv4 address, "10.42.3.0/32" */
	const char *mac;   /* "0e:..." */
};

/*
 * Makes VXLAN device @v exist as asked (without learning), addressed and up. A link of
 * that name that is a VXLAN with another VNI, port or local address is made again (its
 * neighbours and FDB go with it); EEXIST when it is not a VXLAN at all.
 */
int net_vxlan_ensure(const struct net_vxlan *v, struct err *err);

/* Permanent neighbour @ip -> @mac on @dev (replacing any other MAC for @ip). */
int net_vxlan_neigh_replace(const char *dev, const char *ip, const char *mac, struct err *err);
/* Removes @dev's neighbour @ip; absent is fine. */
int net_vxlan_neigh_delete(const char *dev, const char *ip, struct err *err);
/* Permanent FDB entry on @dev: frames for @mac go to @dst (UDP to the device's port). */
int net_vxlan_fdb_replace(const char *dev, const char *mac, const char *dst, struct err *err);
/* Removes @dev's FDB entry for @mac; absent is fine. */
int net_vxlan_fdb_delete(const char *dev, const char *mac, struct err *err);

struct net_vxlan_entry {
	char ip[INET_ADDRSTRLEN]; /* neighbour: its address; FDB: the remote node */
	char mac[NET_MAC_STRLEN];
};

/*
 * The permanent IPv4 neighbours and the unicast FDB entries with a remote of @dev. Free
 * both arrays with free(). ENODEV when @dev does not exist.
 */
int net_vxlan_list(const char *dev, struct net_vxlan_entry **ret_neigh, size_t *ret_n_neigh,
		   struct net_vxlan_entry **ret_fdb, size_t *ret_n_fdb, struct err *err);

struct net_peer_route {
	char dst[NET_CIDR_STRLEN];
	char via[INET_ADDRSTRLEN]; /* "" when none */
	char dev[NET_IFNAME_MAX + 1];
	bool onlink;
};

/*
 * Adds or replaces the main-table route to @dst_cidr via @via, out of @dev (NULL: where
 * @via is reachable), with protocol NET_RTPROT_SKIFF. @onlink (needs @dev) takes @via as on
 * the link without a route to it, as VXLAN peers' addresses are.
 */
int net_peer_route_replace(const char *dst_cidr, const char *via, const char *dev, bool onlink,
			   struct err *err);
/* The main-table IPv4 routes with protocol NET_RTPROT_SKIFF; free the array with free(). */
int net_peer_route_list(struct net_peer_route **ret, size_t *ret_n, struct err *err);
/* Deletes skiff's route to @dst_cidr; absent (or someone else's) is left alone. */
int net_peer_route_delete(const char *dst_cidr, struct err *err);

/*
 * Makes nftables table `ip @table` hold just the masquerade rule: sources in
 * @cluster_cidr going to anything outside @cluster_cidr, @service_cidr (may be NULL) and
 * multicast leave with the node's address. Replaced atomically, so calling it again
 * (every resync) never opens a gap. EINVAL for a bad name or CIDR; ELIBACC without
 * libnftables; EPROTO (with nft's message) when nftables refuses the rules.
 */
int net_masquerade_apply(const char *table, const char *cluster_cidr, const char *service_cidr,
			 struct err *err);
/* Deletes table `ip @table`; absent is fine. */
int net_masquerade_delete(const char *table, struct err *err);

#endif
