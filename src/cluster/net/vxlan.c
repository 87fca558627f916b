/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel state for reaching other nodes' pods, over rtnetlink (libnl-route-3): the VXLAN
 * device with its neighbour and FDB entries, and routes to peers' pod CIDRs tagged with
 * NET_RTPROT_SKIFF. routes.c decides what should exist and calls these; all act in the
 * calling thread's network namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/net/lib_nl.h"
#include "cluster/net/net.h"
#include "cluster/net/nl_util.h"

static bool nle_missing(int nle)
{
	return nle == -NLE_NODEV || nle == -NLE_OBJ_NOTFOUND || nle == -NLE_NOADDR;
}

static int sock_open(struct nl_sock **ret, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	int r;

	r = net_nl_load(err);
	if (r < 0)
		return r;
	sk = nl_socket_alloc();
	if (!sk)
		return err_set(err, ENOMEM, "allocate a netlink socket");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return net_nl_fail(err, r, "connect a netlink socket");
	*ret = TAKE_PTR(sk);
	return 0;
}

static int name_check(const char *what, const char *name, struct err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NET_IFNAME_MAX)
		return err_set(err, EINVAL, "%s '%s': want 1 to %d characters", what,
			       name ? name : "", NET_IFNAME_MAX);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return err_set(err, EINVAL, "%s '%s': '%c' is not allowed in a link name",
				       what, name, *p);
	return 0;
}

static int ip_parse(const char *what, const char *s, struct in_addr *ret, struct err *err)
{
	if (!s || inet_pton(AF_INET, s, ret) != 1)
		return err_set(err, EINVAL, "%s '%s' is not an IPv4 address", what, s ? s : "");
	return 0;
}

static int mac_parse(const char *s, unsigned char ret[6], struct err *err)
{
	unsigned v[6];
	char tail;

	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return err_set(err, EINVAL, "MAC address '%s': want six hex octets like '%s'",
			       s ? s : "", "0e:73:c0:a8:01:02");
	for (int i = 0; i < 6; i++)
		ret[i] = (unsigned char)v[i];
	/* neither multicast (a group, not a device) nor all zeros (the kernel's default
	 * destination entry) can name a peer's device */
	if ((ret[0] & 1) || !(ret[0] | ret[1] | ret[2] | ret[3] | ret[4] | ret[5]))
		return err_set(err, EINVAL, "MAC address '%s' is not a unicast address", s);
	return 0;
}

static void mac_format(const unsigned char *b, char ret[NET_MAC_STRLEN])
{
	snprintf(ret, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
		 b[5]);
}

static struct nl_addr *ipv4_addr(struct in_addr a, unsigned prefix)
{
	struct nl_addr *n = nl_addr_build(AF_INET, &a, sizeof(a));

	if (n)
		nl_addr_set_prefixlen(n, (int)prefix);
	return n;
}

static bool nladdr_is(struct nl_addr *n, const void *bin, unsigned len)
{
	return n && nl_addr_get_len(n) == len && !memcmp(nl_addr_get_binary_addr(n), bin, len);
}

static int ifindex_of(struct nl_sock *sk, const char *dev, int *ret, struct err *err)
{
	cleanup_link struct rtnl_link *l = NULL;
	int r = rtnl_link_get_kernel(sk, 0, dev, &l);

	if (nle_missing(r))
		return err_set(err, ENODEV, "link '%s' does not exist", dev);
	if (r < 0)
		return net_nl_fail(err, r, "get link '%s'", dev);
	*ret = rtnl_link_get_ifindex(l);
	return 0;
}

int net_vxlan_mac(const char *node_ip, char ret_mac[NET_MAC_STRLEN], struct err *err)
{
	unsigned char b[6] = {0x0e, 0x73};
	struct in_addr a;
	int r;

	r = ip_parse("node address", node_ip, &a, err);
	if (r < 0)
		return r;
	/* 0e: locally administered unicast; node addresses differ, so do the MACs */
	memcpy(b + 2, &a, 4);
	mac_format(b, ret_mac);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The device */

struct vxlan_want {
	const struct net_vxlan *v;
	struct in_addr local;
	struct in_addr addr;
	unsigned prefix;
	unsigned char mac[6];
};

static int vxlan_check(const struct net_vxlan *v, struct vxlan_want *w, struct err *err)
{
	int r;

	w->v = v;
	if ((r = name_check("VXLAN device name", v->name, err)) < 0)
		return r;
	if (v->vni == 0 || v->vni > 0xffffff)
		return err_set(err, EINVAL, "VNI %u: want 1 to 16777215", v->vni);
	if (v->port == 0 || v->port > 65535)
		return err_set(err, EINVAL, "UDP port %u: want 1 to 65535", v->port);
	if (v->mtu && (v->mtu < 68 || v->mtu > 65535))
		return err_set(err, EINVAL, "MTU %u: want 68 to 65535", v->mtu);
	if ((r = ip_parse("local address", v->local, &w->local, err)) < 0)
		return r;
	if ((r = net_cidr_parse(v->addr, &w->addr, &w->prefix, err)) < 0)
		return err_wrap(err, "device address");
	return mac_parse(v->mac, w->mac, err);
}

/* True when @l is a VXLAN with the identity asked for (a change needs a new device). */
static bool vxlan_same(struct rtnl_link *l, const struct vxlan_want *w)
{
	struct nl_addr *local = NULL;
	uint32_t id = 0, port = 0;
	bool same;

	if (!rtnl_link_is_vxlan(l) || rtnl_link_vxlan_get_id(l, &id) < 0 ||
	    rtnl_link_vxlan_get_port(l, &port) < 0 || rtnl_link_vxlan_get_local(l, &local) < 0)
		return false;
	same = id == w->v->vni && port == w->v->port && nladdr_is(local, &w->local, 4) &&
	       rtnl_link_vxlan_get_learning(l) == 0;
	nl_addr_put(local);
	return same;
}

static int vxlan_create(struct nl_sock *sk, const struct vxlan_want *w, struct err *err)
{
	cleanup_link struct rtnl_link *l = rtnl_link_vxlan_alloc();
	cleanup_nladdr struct nl_addr *local = ipv4_addr(w->local, 32);
	cleanup_nladdr struct nl_addr *mac = nl_addr_build(AF_LLC, w->mac, 6);
	int r;

	if (!l || !local || !mac)
		return err_set(err, ENOMEM, "allocate a link");
	rtnl_link_set_name(l, w->v->name);
	rtnl_link_vxlan_set_id(l, w->v->vni);
	rtnl_link_vxlan_set_local(l, local);
	rtnl_link_vxlan_set_port(l, w->v->port);
	/* peers are known from the API, never from traffic */
	rtnl_link_vxlan_set_learning(l, 0);
	rtnl_link_set_addr(l, mac);
	if (w->v->mtu)
		rtnl_link_set_mtu(l, w->v->mtu);
	r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0 && r != -NLE_EXIST)
		return net_nl_fail(err, r, "create VXLAN device");
	return 0;
}

/* Makes @cidr the only IPv4 address of link @ifindex. */
static int addr_ensure(struct nl_sock *sk, int ifindex, struct in_addr a, unsigned prefix,
		       struct err *err)
{
	cleanup_cache struct nl_cache *cache = NULL;
	cleanup_rtaddr struct rtnl_addr *want = rtnl_addr_alloc();
	cleanup_nladdr struct nl_addr *local = ipv4_addr(a, prefix);
	int r;

	if (!want || !local)
		return err_set(err, ENOMEM, "allocate an address");
	r = rtnl_addr_alloc_cache(sk, &cache);
	if (r < 0)
		return net_nl_fail(err, r, "list addresses");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;

		if (rtnl_addr_get_ifindex(ra) != ifindex || rtnl_addr_get_family(ra) != AF_INET)
			continue;
		if (nladdr_is(rtnl_addr_get_local(ra), &a, 4) &&
		    rtnl_addr_get_prefixlen(ra) == (int)prefix)
			continue;
		r = rtnl_addr_delete(sk, ra, 0);
		if (r < 0 && !nle_missing(r))
			return net_nl_fail(err, r, "remove an old address");
	}
	rtnl_addr_set_ifindex(want, ifindex);
	r = rtnl_addr_set_local(want, local);
	if (r == 0) {
		rtnl_addr_set_prefixlen(want, (int)prefix);
		r = rtnl_addr_add(sk, want, NLM_F_REPLACE);
	}
	if (r < 0)
		return net_nl_fail(err, r, "add address");
	return 0;
}

/* MAC and MTU as asked, and up. */
static int vxlan_configure(struct nl_sock *sk, struct rtnl_link *l, const struct vxlan_want *w,
			   struct err *err)
{
	cleanup_link struct rtnl_link *c = rtnl_link_alloc();
	cleanup_nladdr struct nl_addr *mac = nl_addr_build(AF_LLC, w->mac, 6);
	int r;

	if (!c || !mac)
		return err_set(err, ENOMEM, "allocate a link");
	if (!nladdr_is(rtnl_link_get_addr(l), w->mac, 6))
		rtnl_link_set_addr(c, mac);
	if (w->v->mtu && w->v->mtu != rtnl_link_get_mtu(l))
		rtnl_link_set_mtu(c, w->v->mtu);
	rtnl_link_set_flags(c, IFF_UP);
	r = rtnl_link_change(sk, l, c, 0);
	if (r < 0)
		return net_nl_fail(err, r, "change link");
	return addr_ensure(sk, rtnl_link_get_ifindex(l), w->addr, w->prefix, err);
}

static int vxlan_run(struct nl_sock *sk, const struct vxlan_want *w, struct err *err)
{
	cleanup_link struct rtnl_link *l = NULL;
	int r;

	r = rtnl_link_get_kernel(sk, 0, w->v->name, &l);
	if (r < 0 && !nle_missing(r))
		return net_nl_fail(err, r, "get link");
	if (r == 0 && !rtnl_link_is_vxlan(l))
		return err_set(err, EEXIST, "a link of type '%s' already has that name",
			       rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "unknown");
	if (r == 0 && !vxlan_same(l, w)) {
		/* VNI, port and local address are fixed at creation */
		r = rtnl_link_delete(sk, l);
		if (r < 0 && !nle_missing(r))
			return net_nl_fail(err, r, "delete the outdated device");
		rtnl_link_put(TAKE_PTR(l));
	} else if (r == 0) {
		return vxlan_configure(sk, l, w, err);
	}
	r = vxlan_create(sk, w, err);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(sk, 0, w->v->name, &l);
	if (r < 0)
		return net_nl_fail(err, r, "get the new device");
	return vxlan_configure(sk, l, w, err);
}

int net_vxlan_ensure(const struct net_vxlan *v, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	struct vxlan_want w = {0};
	int r;

	r = vxlan_check(v, &w, err);
	if (r == 0)
		r = sock_open(&sk, err);
	if (r == 0)
		r = vxlan_run(sk, &w, err);
	if (r < 0)
		return err_wrap(err, "ensure VXLAN device '%s'", v->name ? v->name : "");
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Neighbours and FDB */

static int neigh_run(const char *dev, const char *ip, const char *mac, bool add, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_neigh struct rtnl_neigh *n = NULL;
	cleanup_nladdr struct nl_addr *dst = NULL;
	cleanup_nladdr struct nl_addr *ll = NULL;
	unsigned char m[6];
	struct in_addr a;
	int ifindex = 0;
	int r;

	if ((r = name_check("device", dev, err)) < 0 || (r = ip_parse("address", ip, &a, err)) < 0)
		return r;
	if (add && (r = mac_parse(mac, m, err)) < 0)
		return r;
	if ((r = sock_open(&sk, err)) < 0 || (r = ifindex_of(sk, dev, &ifindex, err)) < 0)
		return r;
	n = rtnl_neigh_alloc();
	dst = ipv4_addr(a, 32);
	ll = add ? nl_addr_build(AF_LLC, m, 6) : NULL;
	if (!n || !dst || (add && !ll))
		return err_set(err, ENOMEM, "allocate a neighbour");
	rtnl_neigh_set_ifindex(n, ifindex);
	r = rtnl_neigh_set_dst(n, dst);
	if (r < 0)
		return net_nl_fail(err, r, "set neighbour address");
	if (!add) {
		r = rtnl_neigh_delete(sk, n, 0);
		return r < 0 && !nle_missing(r) ? net_nl_fail(err, r, "delete") : 0;
	}
	rtnl_neigh_set_lladdr(n, ll);
	rtnl_neigh_set_state(n, NUD_PERMANENT);
	r = rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	return r < 0 ? net_nl_fail(err, r, "replace") : 0;
}

int net_vxlan_neigh_replace(const char *dev, const char *ip, const char *mac, struct err *err)
{
	if (neigh_run(dev, ip, mac, true, err) < 0)
		return err_wrap(err, "neighbour '%s' on '%s'", ip ? ip : "", dev ? dev : "");
	return 0;
}

int net_vxlan_neigh_delete(const char *dev, const char *ip, struct err *err)
{
	if (neigh_run(dev, ip, NULL, false, err) < 0)
		return err_wrap(err, "neighbour '%s' on '%s'", ip ? ip : "", dev ? dev : "");
	return 0;
}

static int fdb_run(const char *dev, const char *mac, const char *dst, bool add, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_neigh struct rtnl_neigh *n = NULL;
	cleanup_nladdr struct nl_addr *remote = NULL;
	cleanup_nladdr struct nl_addr *ll = NULL;
	unsigned char m[6];
	struct in_addr a;
	int ifindex = 0;
	int r;

	if ((r = name_check("device", dev, err)) < 0 || (r = mac_parse(mac, m, err)) < 0)
		return r;
	if (add && (r = ip_parse("remote", dst, &a, err)) < 0)
		return r;
	if ((r = sock_open(&sk, err)) < 0 || (r = ifindex_of(sk, dev, &ifindex, err)) < 0)
		return r;
	n = rtnl_neigh_alloc();
	ll = nl_addr_build(AF_LLC, m, 6);
	remote = add ? ipv4_addr(a, 32) : NULL;
	if (!n || !ll || (add && !remote))
		return err_set(err, ENOMEM, "allocate an FDB entry");
	rtnl_neigh_set_ifindex(n, ifindex);
	/* libnl takes the family from the first address set and refuses an IPv4 remote on an
	 * AF_BRIDGE entry: set the remote first, then make the entry a bridge one */
	if (remote && (r = rtnl_neigh_set_dst(n, remote)) < 0)
		return net_nl_fail(err, r, "set FDB remote");
	rtnl_neigh_set_family(n, AF_BRIDGE);
	rtnl_neigh_set_lladdr(n, ll);
	/* NTF_SELF: the VXLAN device's own table, not a bridge's it might be enslaved to */
	rtnl_neigh_set_flags(n, NTF_SELF);
	if (!add) {
		r = rtnl_neigh_delete(sk, n, 0);
		return r < 0 && !nle_missing(r) ? net_nl_fail(err, r, "delete") : 0;
	}
	rtnl_neigh_set_state(n, NUD_PERMANENT);
	r = rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	return r < 0 ? net_nl_fail(err, r, "replace") : 0;
}

int net_vxlan_fdb_replace(const char *dev, const char *mac, const char *dst, struct err *err)
{
	if (fdb_run(dev, mac, dst, true, err) < 0)
		return err_wrap(err, "FDB entry '%s' on '%s'", mac ? mac : "", dev ? dev : "");
	return 0;
}

int net_vxlan_fdb_delete(const char *dev, const char *mac, struct err *err)
{
	if (fdb_run(dev, mac, NULL, false, err) < 0)
		return err_wrap(err, "FDB entry '%s' on '%s'", mac ? mac : "", dev ? dev : "");
	return 0;
}

struct entries {
	struct net_vxlan_entry *v;
	size_t n;
};

static void entries_add(struct entries *e, struct nl_addr *ip, struct nl_addr *mac)
{
	struct net_vxlan_entry *x;

	e->v = xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
	x = &e->v[e->n++];
	inet_ntop(AF_INET, nl_addr_get_binary_addr(ip), x->ip, sizeof(x->ip));
	mac_format(nl_addr_get_binary_addr(mac), x->mac);
}

static int vxlan_list_run(const char *dev, struct entries *neigh, struct entries *fdb,
			  struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_cache struct nl_cache *cache = NULL;
	int ifindex = 0;
	int r;

	if ((r = name_check("device", dev, err)) < 0 || (r = sock_open(&sk, err)) < 0 ||
	    (r = ifindex_of(sk, dev, &ifindex, err)) < 0)
		return r;
	/* AF_ITER: one dump per family, so the bridge family's FDB comes with the ARP table */
	r = rtnl_neigh_alloc_cache_flags(sk, &cache, NL_CACHE_AF_ITER);
	if (r < 0)
		return net_nl_fail(err, r, "list neighbours");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_neigh *n = (struct rtnl_neigh *)o;
		struct nl_addr *ip = rtnl_neigh_get_dst(n);
		struct nl_addr *mac = rtnl_neigh_get_lladdr(n);
		const unsigned char *b;

		if (rtnl_neigh_get_ifindex(n) != ifindex || !ip || nl_addr_get_len(ip) != 4 ||
		    !mac || nl_addr_get_len(mac) != 6)
			continue;
		b = nl_addr_get_binary_addr(mac);
		if (rtnl_neigh_get_family(n) == AF_INET &&
		    (rtnl_neigh_get_state(n) & NUD_PERMANENT))
			entries_add(neigh, ip, mac);
		else if (rtnl_neigh_get_family(n) == AF_BRIDGE && !(b[0] & 1) &&
			 (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]))
			entries_add(fdb, ip, mac);
	}
	return 0;
}

int net_vxlan_list(const char *dev, struct net_vxlan_entry **ret_neigh, size_t *ret_n_neigh,
		   struct net_vxlan_entry **ret_fdb, size_t *ret_n_fdb, struct err *err)
{
	struct entries neigh = {0}, fdb = {0};

	if (vxlan_list_run(dev, &neigh, &fdb, err) < 0) {
		free(neigh.v);
		free(fdb.v);
		return err_wrap(err, "list peers of '%s'", dev ? dev : "");
	}
	*ret_neigh = neigh.v;
	*ret_n_neigh = neigh.n;
	*ret_fdb = fdb.v;
	*ret_n_fdb = fdb.n;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Routes to peers */

static int dst_parse(const char *cidr, struct in_addr *ret, unsigned *ret_prefix, struct err *err)
{
	uint32_t mask;
	int r;

	r = net_cidr_parse(cidr, ret, ret_prefix, err);
	if (r < 0)
		return r;
	mask = *ret_prefix ? ~(uint32_t)0 << (32 - *ret_prefix) : 0;
	if (ntohl(ret->s_addr) & ~mask)
		return err_set(err, EINVAL, "route destination '%s' has host bits set", cidr);
	return 0;
}

static int peer_route_run(const char *dst_cidr, const char *via, const char *dev, bool onlink,
			  struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_route struct rtnl_route *rt = rtnl_route_alloc();
	cleanup_nladdr struct nl_addr *d = NULL;
	cleanup_nladdr struct nl_addr *gw = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct in_addr dst, g;
	unsigned prefix;
	int ifindex = 0;
	int r;

	if ((r = dst_parse(dst_cidr, &dst, &prefix, err)) < 0 ||
	    (r = ip_parse("gateway", via, &g, err)) < 0)
		return r;
	if (dev && (r = name_check("device", dev, err)) < 0)
		return r;
	if (onlink && !dev)
		return err_set(err, EINVAL, "an onlink route needs a device");
	if ((r = sock_open(&sk, err)) < 0 || (dev && (r = ifindex_of(sk, dev, &ifindex, err)) < 0))
		return r;
	d = ipv4_addr(dst, prefix);
	gw = ipv4_addr(g, 32);
	nh = rt ? rtnl_route_nh_alloc() : NULL;
	if (!nh || !d || !gw)
		return err_set(err, ENOMEM, "allocate a route");
	rtnl_route_add_nexthop(rt, nh); /* the route owns it now */
	rtnl_route_set_family(rt, AF_INET);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, NET_RTPROT_SKIFF);
	rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
	r = rtnl_route_set_dst(rt, d);
	if (r < 0)
		return net_nl_fail(err, r, "set route destination");
	if (ifindex)
		rtnl_route_nh_set_ifindex(nh, ifindex);
	rtnl_route_nh_set_gateway(nh, gw);
	if (onlink) {
		/* libnl versions differ in where a single nexthop's flags go: set both */
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
		rtnl_route_set_flags(rt, RTNH_F_ONLINK);
	}
	r = rtnl_route_add(sk, rt, NLM_F_REPLACE);
	if (r < 0)
		return net_nl_fail(err, r, "replace");
	return 0;
}

int net_peer_route_replace(const char *dst_cidr, const char *via, const char *dev, bool onlink,
			   struct err *err)
{
	if (peer_route_run(dst_cidr, via, dev, onlink, err) < 0)
		return err_wrap(err, "route '%s' via '%s'", dst_cidr ? dst_cidr : "",
				via ? via : "");
	return 0;
}

static bool route_ours(struct rtnl_route *rt)
{
	return rtnl_route_get_family(rt) == AF_INET && rtnl_route_get_table(rt) == RT_TABLE_MAIN &&
	       rtnl_route_get_protocol(rt) == NET_RTPROT_SKIFF && rtnl_route_get_dst(rt) &&
	       nl_addr_get_len(rtnl_route_get_dst(rt)) == 4;
}

static void route_read(struct rtnl_route *rt, struct net_peer_route *ret)
{
	struct nl_addr *d = rtnl_route_get_dst(rt);
	struct rtnl_nexthop *nh =
		rtnl_route_get_nnexthops(rt) > 0 ? rtnl_route_nexthop_n(rt, 0) : NULL;
	struct nl_addr *gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
	char ip[INET_ADDRSTRLEN];
	char name[IF_NAMESIZE] = "";

	memset(ret, 0, sizeof(*ret));
	inet_ntop(AF_INET, nl_addr_get_binary_addr(d), ip, sizeof(ip));
	snprintf(ret->dst, sizeof(ret->dst), "%s/%u", ip, nl_addr_get_prefixlen(d));
	if (gw && nl_addr_get_len(gw) == 4)
		inet_ntop(AF_INET, nl_addr_get_binary_addr(gw), ret->via, sizeof(ret->via));
	if (nh && rtnl_route_nh_get_ifindex(nh) > 0 &&
	    if_indextoname((unsigned)rtnl_route_nh_get_ifindex(nh), name))
		snprintf(ret->dev, sizeof(ret->dev), "%s", name);
	ret->onlink =
		((nh ? rtnl_route_nh_get_flags(nh) : 0) | rtnl_route_get_flags(rt)) & RTNH_F_ONLINK;
}

int net_peer_route_list(struct net_peer_route **ret, size_t *ret_n, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_cache struct nl_cache *cache = NULL;
	struct net_peer_route *v = NULL;
	size_t n = 0;
	int r;

	r = sock_open(&sk, err);
	if (r < 0)
		return err_wrap(err, "list routes to other nodes");
	r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
	if (r < 0)
		return net_nl_fail(err, r, "list routes to other nodes");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;

		if (!route_ours(rt))
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		route_read(rt, &v[n++]);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int peer_route_delete_run(const char *dst_cidr, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_cache struct nl_cache *cache = NULL;
	struct in_addr dst;
	unsigned prefix;
	int r;

	if ((r = dst_parse(dst_cidr, &dst, &prefix, err)) < 0 || (r = sock_open(&sk, err)) < 0)
		return r;
	r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
	if (r < 0)
		return net_nl_fail(err, r, "list routes");
	/* delete the kernel's own object: a request built here would have to match its
	 * scope and type too */
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *d = rtnl_route_get_dst(rt);

		if (!route_ours(rt) || nl_addr_get_prefixlen(d) != prefix || !nladdr_is(d, &dst, 4))
			continue;
		r = rtnl_route_delete(sk, rt, 0);
		if (r < 0 && !nle_missing(r))
			return net_nl_fail(err, r, "delete");
	}
	return 0;
}

int net_peer_route_delete(const char *dst_cidr, struct err *err)
{
	if (peer_route_delete_run(dst_cidr, err) < 0)
		return err_wrap(err, "route '%s'", dst_cidr ? dst_cidr : "");
	return 0;
}
