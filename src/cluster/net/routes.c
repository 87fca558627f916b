/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reaching other nodes' pods: from this node's overlay settings and the list of peers,
 * what routes, VXLAN neighbours and FDB entries must exist (made through vxlan.c) and
 * which of ours must go, plus the masquerade table (nftables, through libnftables). The
 * node network controller (nodenet.c) calls net_overlay_apply() on every change and
 * every resync, so a route someone deleted comes back.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/net/lib_nftables.h"
#include "cluster/net/net.h"

int net_overlay_mode_parse(const char *s, enum net_overlay_mode *ret_mode, struct err *err)
{
	if (s && !strcmp(s, "direct"))
		*ret_mode = NET_OVERLAY_DIRECT;
	else if (s && !strcmp(s, "vxlan"))
		*ret_mode = NET_OVERLAY_VXLAN;
	else
		return err_set(err, EINVAL, "network mode '%s': want 'direct' or 'vxlan'",
			       s ? s : "");
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Validation */

struct net4 {
	uint32_t net; /* host order */
	uint32_t mask;
	unsigned prefix;
};

static int net4_parse(const char *what, const char *cidr, struct net4 *ret, struct err *err)
{
	struct in_addr a;
	unsigned prefix;
	int r;

	r = net_cidr_parse(cidr, &a, &prefix, err);
	if (r < 0)
		return err_wrap(err, "%s", what);
	ret->prefix = prefix;
	ret->mask = prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
	ret->net = ntohl(a.s_addr);
	if (ret->net & ~ret->mask)
		return err_set(err, EINVAL, "%s '%s' has host bits set", what, cidr);
	return 0;
}

static bool net4_has(const struct net4 *n, uint32_t ip)
{
	return (ip & n->mask) == n->net;
}

/* One inside the other, either way. */
static bool net4_overlap(const struct net4 *a, const struct net4 *b)
{
	return net4_has(a, b->net) || net4_has(b, a->net);
}

struct overlay {
	const struct net_overlay *o;
	const char *dev;
	unsigned port;
	const char *table;
	unsigned mtu;
	struct net4 own, cluster;
	char own_addr[INET_ADDRSTRLEN]; /* the pod network address: the VXLAN device's */
	char mac[NET_MAC_STRLEN];
};

static int overlay_check(const struct net_overlay *o, struct overlay *ov, struct err *err)
{
	struct in_addr a;
	struct net4 svc;
	int r;

	*ov = (struct overlay){
		.o = o,
		.dev = o->vxlan_dev ? o->vxlan_dev : NET_VXLAN_DEV,
		.port = o->vxlan_port ? o->vxlan_port : NET_VXLAN_PORT,
		.table = o->nft_table ? o->nft_table : NET_NFT_TABLE,
		.mtu = o->mtu ? o->mtu : 1500,
	};
	if (o->mode != NET_OVERLAY_DIRECT && o->mode != NET_OVERLAY_VXLAN)
		return err_set(err, EINVAL, "network mode %d is unknown", (int)o->mode);
	if (!o->node_ip || inet_pton(AF_INET, o->node_ip, &a) != 1)
		return err_set(err, EINVAL, "node address '%s' is not an IPv4 address",
			       o->node_ip ? o->node_ip : "");
	if ((r = net4_parse("cluster CIDR", o->cluster_cidr, &ov->cluster, err)) < 0 ||
	    (r = net4_parse("pod CIDR", o->pod_cidr, &ov->own, err)) < 0)
		return r;
	if (o->service_cidr && (r = net4_parse("service CIDR", o->service_cidr, &svc, err)) < 0)
		return r;
	if (ov->own.prefix < ov->cluster.prefix || !net4_has(&ov->cluster, ov->own.net))
		return err_set(err, EINVAL, "pod CIDR '%s' is not inside the cluster CIDR '%s'",
			       o->pod_cidr, o->cluster_cidr);
	if (ov->mtu < 68 + NET_VXLAN_OVERHEAD || ov->mtu > 65535)
		return err_set(err, EINVAL, "MTU %u: want %d to 65535", ov->mtu,
			       68 + NET_VXLAN_OVERHEAD);
	if (ov->port > 65535)
		return err_set(err, EINVAL, "VXLAN port %u: want 1 to 65535", ov->port);
	a.s_addr = htonl(ov->own.net);
	inet_ntop(AF_INET, &a, ov->own_addr, sizeof(ov->own_addr));
	return net_vxlan_mac(o->node_ip, ov->mac, err);
}

static int peer_check(const struct overlay *ov, const struct net_peer *p, struct err *err)
{
	struct net4 n;
	struct in_addr a;
	unsigned char m[6];
	int r;

	r = net4_parse("pod CIDR", p->pod_cidr, &n, err);
	if (r < 0)
		return r;
	/* a peer's CIDR outside the cluster's could take over any route, the default one too */
	if (n.prefix < ov->cluster.prefix || !net4_has(&ov->cluster, n.net))
		return err_set(err, EINVAL, "pod CIDR '%s' is not inside the cluster CIDR '%s'",
			       p->pod_cidr, ov->o->cluster_cidr);
	if (net4_overlap(&n, &ov->own))
		return err_set(err, EINVAL, "pod CIDR '%s' overlaps this node's '%s'", p->pod_cidr,
			       ov->o->pod_cidr);
	if (inet_pton(AF_INET, p->ip, &a) != 1)
		return err_set(err, EINVAL, "node address '%s' is not an IPv4 address", p->ip);
	if (net4_has(&ov->cluster, ntohl(a.s_addr)))
		return err_set(err, EINVAL, "node address '%s' is inside the cluster CIDR '%s'",
			       p->ip, ov->o->cluster_cidr);
	if (ov->o->mode == NET_OVERLAY_VXLAN &&
	    (strlen(p->mac) != 17 ||
	     sscanf(p->mac, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &m[0], &m[1], &m[2], &m[3],
		    &m[4], &m[5]) != 6 ||
	     (m[0] & 1)))
		return err_set(err, EINVAL, "VXLAN MAC '%s' is not a unicast MAC address", p->mac);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Applying */

/* The first error is kept; later ones of the same pass are dropped. */
static void keep_first(struct err *first, struct err *e)
{
	if (!first->code) {
		*first = *e;
		*e = (struct err)ERR_INIT;
	} else {
		err_clear(e);
	}
}

static void peer_addr(const struct net_peer *p, char ret[INET_ADDRSTRLEN])
{
	const char *slash = strchr(p->pod_cidr, '/');
	size_t n = slash ? (size_t)(slash - p->pod_cidr) : 0;

	snprintf(ret, INET_ADDRSTRLEN, "%.*s", (int)n, p->pod_cidr);
}

static int peer_apply(const struct overlay *ov, const struct net_peer *p, struct err *err)
{
	char addr[INET_ADDRSTRLEN];
	int r;

	if (ov->o->mode == NET_OVERLAY_DIRECT)
		return net_peer_route_replace(p->pod_cidr, p->ip, NULL, false, err);
	peer_addr(p, addr);
	/* neighbour and FDB first: the route must not send into a void */
	r = net_vxlan_neigh_replace(ov->dev, addr, p->mac, err);
	if (r == 0)
		r = net_vxlan_fdb_replace(ov->dev, p->mac, p->ip, err);
	if (r == 0)
		r = net_peer_route_replace(p->pod_cidr, addr, ov->dev, true, err);
	return r;
}

static bool route_wanted(const struct overlay *ov, const struct net_peer *peers, size_t n,
			 const struct net_peer_route *rt)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(peers[i].pod_cidr, rt->dst))
			return ov->o->mode == NET_OVERLAY_VXLAN ? !strcmp(rt->dev, ov->dev)
								: strcmp(rt->dev, ov->dev) != 0;
	return false;
}

static void routes_prune(const struct overlay *ov, const struct net_peer *peers, size_t n,
			 struct err *first)
{
	cleanup_free struct net_peer_route *v = NULL;
	struct err e = ERR_INIT;
	size_t nv = 0;

	if (net_peer_route_list(&v, &nv, &e) < 0) {
		keep_first(first, &e);
		return;
	}
	for (size_t i = 0; i < nv; i++)
		if (!route_wanted(ov, peers, n, &v[i]) && net_peer_route_delete(v[i].dst, &e) < 0)
			keep_first(first, &e);
}

static bool neigh_wanted(const struct net_peer *peers, size_t n, const struct net_vxlan_entry *x)
{
	char addr[INET_ADDRSTRLEN];

	for (size_t i = 0; i < n; i++) {
		peer_addr(&peers[i], addr);
		if (!strcmp(addr, x->ip))
			return true;
	}
	return false;
}

static bool fdb_wanted(const struct net_peer *peers, size_t n, const struct net_vxlan_entry *x)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(peers[i].mac, x->mac))
			return true;
	return false;
}

static void vxlan_prune(const struct overlay *ov, const struct net_peer *peers, size_t n,
			struct err *first)
{
	cleanup_free struct net_vxlan_entry *neigh = NULL;
	cleanup_free struct net_vxlan_entry *fdb = NULL;
	size_t nn = 0, nf = 0;
	struct err e = ERR_INIT;

	if (net_vxlan_list(ov->dev, &neigh, &nn, &fdb, &nf, &e) < 0) {
		keep_first(first, &e);
		return;
	}
	for (size_t i = 0; i < nn; i++)
		if (!neigh_wanted(peers, n, &neigh[i]) &&
		    net_vxlan_neigh_delete(ov->dev, neigh[i].ip, &e) < 0)
			keep_first(first, &e);
	for (size_t i = 0; i < nf; i++)
		if (!fdb_wanted(peers, n, &fdb[i]) &&
		    net_vxlan_fdb_delete(ov->dev, fdb[i].mac, &e) < 0)
			keep_first(first, &e);
}

/* Removes our VXLAN device; a link of another kind under its name is not ours to remove. */
static int device_remove(const struct overlay *ov, struct err *err)
{
	struct net_link_info info;
	int r;

	r = net_link_get(NULL, ov->dev, &info, err);
	if (r == -ENODEV) {
		err_clear(err);
		return 0;
	}
	if (r < 0 || strcmp(info.kind, "vxlan"))
		return r;
	return net_link_delete(NULL, ov->dev, err);
}

static int device_apply(const struct overlay *ov, struct err *err)
{
	cleanup_free char *addr = NULL;
	struct net_vxlan v;

	if (ov->o->mode == NET_OVERLAY_DIRECT)
		return device_remove(ov, err);
	addr = xasprintf("%s/32", ov->own_addr);
	v = (struct net_vxlan){
		.name = ov->dev,
		.vni = NET_VXLAN_VNI,
		.port = ov->port,
		.local = ov->o->node_ip,
		.mtu = ov->mtu - NET_VXLAN_OVERHEAD,
		.addr = addr,
		.mac = ov->mac,
	};
	return net_vxlan_ensure(&v, err);
}

int net_overlay_check(const struct net_overlay *o, struct err *err)
{
	struct overlay ov;

	if (overlay_check(o, &ov, err) < 0)
		return err_wrap(err, "node network");
	return 0;
}

int net_overlay_prepare(const struct net_overlay *o, struct err *err)
{
	struct overlay ov;

	if (overlay_check(o, &ov, err) < 0 || device_apply(&ov, err) < 0)
		return err_wrap(err, "prepare node network");
	return 0;
}

int net_overlay_apply(const struct net_overlay *o, const struct net_peer *peers, size_t n_peers,
		      struct err *err)
{
	struct overlay ov;
	struct err first = ERR_INIT;
	struct err e = ERR_INIT;
	int r;

	r = overlay_check(o, &ov, err);
	if (r < 0)
		return err_wrap(err, "apply node network");
	for (size_t i = 0; i < n_peers; i++)
		if (peer_check(&ov, &peers[i], err) < 0)
			return err_wrap(err, "apply node network: peer %zu", i);
	/* without the device nothing of vxlan mode can be made, but pods may still go out */
	if (device_apply(&ov, &e) < 0) {
		keep_first(&first, &e);
	} else {
		for (size_t i = 0; i < n_peers; i++)
			if (peer_apply(&ov, &peers[i], &e) < 0)
				keep_first(&first, &e);
		routes_prune(&ov, peers, n_peers, &first);
		if (o->mode == NET_OVERLAY_VXLAN)
			vxlan_prune(&ov, peers, n_peers, &first);
	}
	if (net_masquerade_apply(ov.table, o->cluster_cidr, o->service_cidr, &e) < 0)
		keep_first(&first, &e);
	if (first.code) {
		*err = first;
		return err_wrap(err, "apply node network");
	}
	return 0;
}

int net_overlay_cleanup(const struct net_overlay *o, struct err *err)
{
	cleanup_free struct net_peer_route *v = NULL;
	struct err first = ERR_INIT;
	struct err e = ERR_INIT;
	struct overlay ov;
	size_t nv = 0;

	if (overlay_check(o, &ov, err) < 0)
		return err_wrap(err, "clean up node network");
	if (net_peer_route_list(&v, &nv, &e) < 0)
		keep_first(&first, &e);
	/* every route of our protocol is ours, whatever cluster CIDR it was made for */
	for (size_t i = 0; i < nv; i++)
		if (net_peer_route_delete(v[i].dst, &e) < 0)
			keep_first(&first, &e);
	if (device_remove(&ov, &e) < 0)
		keep_first(&first, &e);
	if (net_masquerade_delete(ov.table, &e) < 0)
		keep_first(&first, &e);
	if (first.code) {
		*err = first;
		return err_wrap(err, "clean up node network");
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Masquerading */

/* libnftables keeps process-wide state (xtables' among it) that its contexts share */
static pthread_mutex_t nft_run_lock = PTHREAD_MUTEX_INITIALIZER;

static int table_check(const char *table, struct err *err)
{
	size_t n = table ? strlen(table) : 0;

	if (n == 0 || n > 64 || !isalpha((unsigned char)table[0]))
		return err_set(err, EINVAL,
			       "nftables table name '%s': want a letter and 0 to 63 more",
			       table ? table : "");
	for (const char *p = table; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return err_set(err, EINVAL, "nftables table name '%s': '%c' is not allowed",
				       table, *p);
	return 0;
}

/* Runs @cmds as one transaction: all of it or nothing. */
static int nft_run(const char *cmds, struct err *err)
{
	struct nft_ctx *ctx;
	cleanup_free char *msg = NULL;
	const char *e;
	size_t n;
	int r;

	r = net_nft_load(err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&nft_run_lock);
	/* a context per run: its netlink socket then belongs to the caller's namespace */
	ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		pthread_mutex_unlock(&nft_run_lock);
		return err_set(err, ENOMEM, "create an nftables context");
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	r = nft_run_cmd_from_buffer(ctx, cmds);
	e = nft_ctx_get_error_buffer(ctx);
	msg = xstrdup(e && *e ? e : "nftables refused the rules");
	nft_ctx_free(ctx);
	pthread_mutex_unlock(&nft_run_lock);
	if (r == 0)
		return 0;
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return err_set(err, EPROTO, "%s", msg);
}

int net_masquerade_apply(const char *table, const char *cluster_cidr, const char *service_cidr,
			 struct err *err)
{
	cleanup_free char *cmds = NULL;
	cleanup_free char *keep = NULL;
	struct net4 cluster, svc;
	int r;

	if ((r = table_check(table, err)) < 0 ||
	    (r = net4_parse("cluster CIDR", cluster_cidr, &cluster, err)) < 0 ||
	    (service_cidr && (r = net4_parse("service CIDR", service_cidr, &svc, err)) < 0))
		goto fail;
	keep = service_cidr ? xasprintf("%s, %s, 224.0.0.0/4", cluster_cidr, service_cidr)
			    : xasprintf("%s, 224.0.0.0/4", cluster_cidr);
	/*
	 * Create-then-delete makes the delete safe on a first run, and the new table is
	 * loaded in the same transaction, so packets never see it missing. Traffic within
	 * the cluster keeps pod addresses (as flannel does); to services the proxy decides.
	 */
	cmds = xasprintf("table ip %s\n"
			 "delete table ip %s\n"
			 "table ip %s {\n"
			 "\tchain postrouting {\n"
			 "\t\ttype nat hook postrouting priority 100; policy accept;\n"
			 "\t\tip saddr %s ip daddr != { %s } masquerade fully-random\n"
			 "\t}\n"
			 "}\n",
			 table, table, table, cluster_cidr, keep);
	r = nft_run(cmds, err);
	if (r == 0)
		return 0;
fail:
	return err_wrap(err, "masquerade pod traffic in nftables table 'ip %s'",
			table ? table : "");
}

int net_masquerade_delete(const char *table, struct err *err)
{
	cleanup_free char *cmds = NULL;
	int r;

	r = table_check(table, err);
	if (r == 0) {
		cmds = xasprintf("table ip %s\ndelete table ip %s\n", table, table);
		r = nft_run(cmds, err);
	}
	if (r < 0)
		return err_wrap(err, "delete nftables table 'ip %s'", table ? table : "");
	return 0;
}
