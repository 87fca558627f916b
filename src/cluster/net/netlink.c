/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Links, addresses and routes over rtnetlink (libnl-route-3): the node bridge, a veth pair
 * per pod, routes to other nodes' pod CIDRs. The agent calls these when it creates and
 * removes pod sandboxes; a netlink socket opened inside a namespace keeps acting there, so
 * the calling thread visits a pod's namespace only to open one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/net/lib_nl.h"
#include "cluster/net/net.h"
#include "cluster/net/nl_util.h"

int net_nle_errno(int nle)
{
	switch (abs(nle)) {
	case NLE_EXIST:
		return EEXIST;
	case NLE_NODEV:
		return ENODEV;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	case NLE_PERM:
		return EPERM;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_INVAL:
	case NLE_MISSING_ATTR:
		return EINVAL;
	case NLE_BUSY:
		return EBUSY;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_RANGE:
		return ERANGE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_INTR:
		return EINTR;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	default:
		return EIO;
	}
}

static bool nle_missing(int nle)
{
	return nle == -NLE_NODEV || nle == -NLE_OBJ_NOTFOUND;
}

int net_nl_fail(struct err *err, int nle, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	int code = net_nle_errno(nle);
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	/* the kernel's "Network is unreachable" and the like reach libnl as NLE_FAILURE */
	return err_set(err, code, "%s: %s", msg, code == EIO ? nl_geterror(nle) : strerror(code));
}

static int sock_new(struct nl_sock **ret, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return err_set(err, ENOMEM, "allocate a netlink socket");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return net_nl_fail(err, r, "connect a netlink socket");
	*ret = TAKE_PTR(sk);
	return 0;
}

/*
 * Opens a route netlink socket in @netns (NULL: the caller's). The thread enters the
 * namespace only for the socket's creation, which binds it there for good.
 */
static int sock_open(const char *netns, struct nl_sock **ret, struct err *err)
{
	cleanup_close int target = -1;
	cleanup_close int self = -1;
	int r;

	r = net_nl_load(err);
	if (r < 0)
		return r;
	if (!netns)
		return sock_new(ret, err);
	target = open(netns, O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return err_sys(err, "open network namespace '%s'", netns);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return err_sys(err, "open the calling thread's network namespace");
	if (setns(target, CLONE_NEWNET) < 0)
		return err_sys(err, "enter network namespace '%s'", netns);
	r = sock_new(ret, err);
	/* staying in the pod's namespace would misdirect every later call of this thread */
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
	if (r < 0)
		return err_wrap(err, "in network namespace '%s'", netns);
	return 0;
}

static int ifname_check(const char *what, const char *name, struct err *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NET_IFNAME_MAX)
		return err_set(err, EINVAL, "%s '%s': want 1 to %d characters", what,
			       name ? name : "", NET_IFNAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return err_set(err, EINVAL, "%s '%s': not a valid link name", what, name);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || (unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return err_set(err, EINVAL, "%s '%s': '%c' is not allowed in a link name",
				       what, name, *p);
	return 0;
}

/* Fetches link @name; -ENODEV (error set) when there is none. */
static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret, struct err *err)
{
	int r = rtnl_link_get_kernel(sk, 0, name, ret);

	if (nle_missing(r))
		return err_set(err, ENODEV, "link '%s' does not exist", name);
	if (r < 0)
		return net_nl_fail(err, r, "get link '%s'", name);
	return 0;
}

static bool link_is(struct rtnl_link *l, const char *kind)
{
	const char *t = rtnl_link_get_type(l);

	return t && !strcmp(t, kind);
}

/* Applies @changes (flags, mtu, master) to @l. */
static int link_change(struct nl_sock *sk, struct rtnl_link *l, struct rtnl_link *changes,
		       struct err *err)
{
	int r = rtnl_link_change(sk, l, changes, 0);

	if (r < 0)
		return net_nl_fail(err, r, "change link '%s'", rtnl_link_get_name(l));
	return 0;
}

static int link_up(struct nl_sock *sk, struct rtnl_link *l, unsigned mtu, int master,
		   struct err *err)
{
	cleanup_link struct rtnl_link *c = rtnl_link_alloc();

	if (!c)
		return err_set(err, ENOMEM, "allocate a link");
	if (mtu && mtu != rtnl_link_get_mtu(l))
		rtnl_link_set_mtu(c, mtu);
	if (master && master != rtnl_link_get_master(l))
		rtnl_link_set_master(c, master);
	rtnl_link_set_flags(c, IFF_UP);
	return link_change(sk, l, c, err);
}

static int link_delete(struct nl_sock *sk, const char *name, struct err *err)
{
	cleanup_link struct rtnl_link *l = rtnl_link_alloc();
	int r;

	if (!l)
		return err_set(err, ENOMEM, "allocate a link");
	rtnl_link_set_name(l, name);
	r = rtnl_link_delete(sk, l);
	if (r < 0 && !nle_missing(r))
		return net_nl_fail(err, r, "delete link '%s'", name);
	return 0;
}

static struct nl_addr *ipv4_addr(struct in_addr a, unsigned prefix)
{
	struct nl_addr *n = nl_addr_build(AF_INET, &a, sizeof(a));

	if (n)
		nl_addr_set_prefixlen(n, (int)prefix);
	return n;
}

static bool nladdr_is(struct nl_addr *n, struct in_addr a)
{
	return n && nl_addr_get_family(n) == AF_INET && nl_addr_get_len(n) == sizeof(a) &&
	       !memcmp(nl_addr_get_binary_addr(n), &a, sizeof(a));
}

/*
 * Makes @cidr the only IPv4 address of link @ifindex. Others go first: removing a primary
 * address takes its secondaries with it, so adding before deleting could lose the new one.
 */
static int addr_ensure(struct nl_sock *sk, const char *link, int ifindex, const char *cidr,
		       struct err *err)
{
	cleanup_cache struct nl_cache *cache = NULL;
	cleanup_rtaddr struct rtnl_addr *want = NULL;
	cleanup_nladdr struct nl_addr *local = NULL;
	struct in_addr a;
	unsigned prefix;
	int r;

	r = net_cidr_parse(cidr, &a, &prefix, err);
	if (r < 0)
		return r;
	r = rtnl_addr_alloc_cache(sk, &cache);
	if (r < 0)
		return net_nl_fail(err, r, "list addresses of '%s'", link);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;

		if (rtnl_addr_get_ifindex(ra) != ifindex || rtnl_addr_get_family(ra) != AF_INET)
			continue;
		if (nladdr_is(rtnl_addr_get_local(ra), a) &&
		    rtnl_addr_get_prefixlen(ra) == (int)prefix)
			continue;
		r = rtnl_addr_delete(sk, ra, 0);
		if (r < 0 && r != -NLE_NOADDR && !nle_missing(r))
			return net_nl_fail(err, r, "remove an old address of '%s'", link);
	}
	want = rtnl_addr_alloc();
	local = ipv4_addr(a, prefix);
	if (!want || !local)
		return err_set(err, ENOMEM, "allocate an address");
	rtnl_addr_set_ifindex(want, ifindex);
	r = rtnl_addr_set_local(want, local);
	if (r < 0)
		return net_nl_fail(err, r, "set address '%s'", cidr);
	rtnl_addr_set_prefixlen(want, (int)prefix);
	/* NLM_F_REPLACE: an address already there is kept, not an error */
	r = rtnl_addr_add(sk, want, NLM_F_REPLACE);
	if (r < 0)
		return net_nl_fail(err, r, "add address '%s' to '%s'", cidr, link);
	return 0;
}

static int route_apply(struct nl_sock *sk, struct in_addr dst, unsigned prefix,
		       const struct in_addr *via, int ifindex, const char *what, struct err *err)
{
	cleanup_route struct rtnl_route *rt = rtnl_route_alloc();
	cleanup_nladdr struct nl_addr *d = ipv4_addr(dst, prefix);
	cleanup_nladdr struct nl_addr *gw = via ? ipv4_addr(*via, 32) : NULL;
	struct rtnl_nexthop *nh = NULL;
	int r;

	if (!rt || !d || (via && !gw))
		return err_set(err, ENOMEM, "allocate a route");
	rtnl_route_set_family(rt, AF_INET);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, RTPROT_STATIC);
	rtnl_route_set_scope(rt, via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	r = rtnl_route_set_dst(rt, d);
	if (r < 0)
		return net_nl_fail(err, r, "set route destination");
	nh = rtnl_route_nh_alloc();
	if (!nh)
		return err_set(err, ENOMEM, "allocate a route");
	if (ifindex)
		rtnl_route_nh_set_ifindex(nh, ifindex);
	if (gw)
		rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(rt, nh); /* the route owns it now */
	r = rtnl_route_add(sk, rt, NLM_F_REPLACE);
	if (r < 0)
		return net_nl_fail(err, r, "replace route %s", what);
	return 0;
}

int net_bridge_ensure(const char *name, const char *gateway_cidr, unsigned mtu, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_link struct rtnl_link *l = NULL;
	struct in_addr a;
	unsigned prefix;
	int r;

	r = ifname_check("bridge name", name, err);
	if (r == 0)
		r = net_cidr_parse(gateway_cidr, &a, &prefix, err);
	if (r == 0)
		r = sock_open(NULL, &sk, err);
	if (r < 0)
		goto fail;
	r = rtnl_link_get_kernel(sk, 0, name, &l);
	if (nle_missing(r)) {
		cleanup_link struct rtnl_link *n = rtnl_link_alloc();

		if (!n) {
			r = err_set(err, ENOMEM, "allocate a link");
			goto fail;
		}
		rtnl_link_set_name(n, name);
		r = rtnl_link_set_type(n, "bridge");
		if (r == 0) {
			if (mtu)
				rtnl_link_set_mtu(n, mtu);
			r = rtnl_link_add(sk, n, NLM_F_CREATE | NLM_F_EXCL);
		}
		/* another agent thread or process won the race: use its bridge */
		if (r < 0 && r != -NLE_EXIST) {
			r = net_nl_fail(err, r, "create bridge");
			goto fail;
		}
		r = link_get(sk, name, &l, err);
	} else if (r < 0) {
		r = net_nl_fail(err, r, "get link");
	}
	if (r < 0)
		goto fail;
	if (!link_is(l, "bridge")) {
		r = err_set(err, EEXIST, "a link of type '%s' already has that name",
			    rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "unknown");
		goto fail;
	}
	r = addr_ensure(sk, name, rtnl_link_get_ifindex(l), gateway_cidr, err);
	if (r == 0)
		r = link_up(sk, l, mtu, 0, err);
	if (r == 0)
		return 0;
fail:
	return err_wrap(err, "ensure bridge '%s'", name ? name : "");
}

struct attach {
	const struct net_pod_attach *a;
	struct in_addr gw;
	unsigned char mac[6];
	bool has_mac;
	struct nl_sock *host;
	struct nl_sock *pod;
	int bridge_ifindex;
	unsigned mtu;
};

static int mac_parse(const char *s, unsigned char ret[6])
{
	unsigned v[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
				      &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		ret[i] = (unsigned char)v[i];
	/* a multicast address cannot be a station's */
	return ret[0] & 1 ? -EINVAL : 0;
}

static int attach_check(struct attach *at, struct err *err)
{
	const struct net_pod_attach *a = at->a;
	struct in_addr ip;
	unsigned prefix;
	int r;

	if ((r = ifname_check("bridge name", a->bridge, err)) < 0 ||
	    (r = ifname_check("host veth name", a->host_veth, err)) < 0 ||
	    (r = ifname_check("pod interface name", a->ifname, err)) < 0)
		return r;
	if (!strcmp(a->ifname, "lo"))
		return err_set(err, EINVAL, "pod interface name 'lo' is the loopback's");
	if (!a->netns || !*a->netns)
		return err_set(err, EINVAL, "pod network namespace path is empty");
	r = net_cidr_parse(a->ip_cidr, &ip, &prefix, err);
	if (r < 0)
		return err_wrap(err, "pod address");
	if (prefix == 0 || prefix > 30)
		return err_set(err, EINVAL, "pod address '%s': prefix must be /1 to /30",
			       a->ip_cidr);
	if (!a->gateway || inet_pton(AF_INET, a->gateway, &at->gw) != 1)
		return err_set(err, EINVAL, "gateway '%s' is not an IPv4 address",
			       a->gateway ? a->gateway : "");
	if (!net_cidr_contains(a->ip_cidr, a->gateway))
		return err_set(err, EINVAL, "gateway '%s' is outside the pod's network '%s'",
			       a->gateway, a->ip_cidr);
	if (ip.s_addr == at->gw.s_addr)
		return err_set(err, EINVAL, "pod address '%s' is the gateway's", a->ip_cidr);
	if (a->mac) {
		if (mac_parse(a->mac, at->mac) < 0)
			return err_set(err, EINVAL,
				       "MAC address '%s': want six hex octets like "
				       "'0a:58:0a:2a:03:07', not multicast",
				       a->mac);
		at->has_mac = true;
	}
	return 0;
}

/* True when @hv pairs with the pod's interface (and it has the MAC asked for). */
static bool attach_paired(struct attach *at, struct rtnl_link *hv)
{
	cleanup_link struct rtnl_link *pl = NULL;
	struct nl_addr *mac;

	if (!link_is(hv, "veth") || rtnl_link_get_kernel(at->pod, 0, at->a->ifname, &pl) < 0)
		return false;
	if (!link_is(pl, "veth") || rtnl_link_get_link(hv) != rtnl_link_get_ifindex(pl) ||
	    rtnl_link_get_link(pl) != rtnl_link_get_ifindex(hv))
		return false;
	if (!at->has_mac)
		return true;
	mac = rtnl_link_get_addr(pl);
	return mac && nl_addr_get_len(mac) == 6 &&
	       !memcmp(nl_addr_get_binary_addr(mac), at->mac, 6);
}

static int attach_create(struct attach *at, struct err *err)
{
	cleanup_link struct rtnl_link *veth = NULL;
	cleanup_link struct rtnl_link *peer = NULL;
	cleanup_nladdr struct nl_addr *mac = NULL;
	cleanup_close int nsfd = -1;
	int r;

	nsfd = open(at->a->netns, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return err_sys(err, "open network namespace '%s'", at->a->netns);
	veth = rtnl_link_veth_alloc();
	if (!veth)
		return err_set(err, ENOMEM, "allocate a veth");
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(veth, at->a->host_veth);
	rtnl_link_set_mtu(veth, at->mtu);
	/* the peer is born inside the pod, under its final name: no rename, no clash with
	 * a host link of that name */
	rtnl_link_set_name(peer, at->a->ifname);
	rtnl_link_set_mtu(peer, at->mtu);
	rtnl_link_set_ns_fd(peer, nsfd);
	if (at->has_mac) {
		mac = nl_addr_build(AF_LLC, at->mac, 6);
		if (!mac)
			return err_set(err, ENOMEM, "allocate an address");
		rtnl_link_set_addr(peer, mac);
	}
	r = rtnl_link_add(at->host, veth, NLM_F_CREATE | NLM_F_EXCL);
	if (r < 0)
		return net_nl_fail(err, r, "create veth pair '%s'/'%s'", at->a->host_veth,
				   at->a->ifname);
	return 0;
}

/* Brings both ends to the asked-for state; every step is idempotent. */
static int attach_configure(struct attach *at, struct err *err)
{
	const struct net_pod_attach *a = at->a;
	cleanup_link struct rtnl_link *pl = NULL;
	cleanup_link struct rtnl_link *lo = NULL;
	cleanup_link struct rtnl_link *hv = NULL;
	struct in_addr any = {0};
	int r;

	r = link_get(at->pod, a->ifname, &pl, err);
	if (r == 0)
		r = addr_ensure(at->pod, a->ifname, rtnl_link_get_ifindex(pl), a->ip_cidr, err);
	if (r == 0)
		r = link_up(at->pod, pl, at->mtu, 0, err);
	if (r == 0)
		r = link_get(at->pod, "lo", &lo, err);
	if (r == 0)
		r = link_up(at->pod, lo, 0, 0, err);
	/* after eth0 is up: the kernel refuses a route through a link that is down */
	if (r == 0)
		r = route_apply(at->pod, any, 0, &at->gw, rtnl_link_get_ifindex(pl), "default",
				err);
	if (r < 0)
		return err_wrap(err, "in the pod's namespace");
	r = link_get(at->host, a->host_veth, &hv, err);
	if (r == 0)
		r = link_up(at->host, hv, at->mtu, at->bridge_ifindex, err);
	return r;
}

static int attach_run(struct attach *at, struct err *err)
{
	const struct net_pod_attach *a = at->a;
	cleanup_link struct rtnl_link *br = NULL;
	cleanup_link struct rtnl_link *hv = NULL;
	int r;

	r = sock_open(NULL, &at->host, err);
	if (r == 0)
		r = sock_open(a->netns, &at->pod, err);
	if (r < 0)
		return r;
	r = rtnl_link_get_kernel(at->host, 0, a->bridge, &br);
	if (nle_missing(r))
		return err_set(err, ENODEV, "bridge '%s' does not exist", a->bridge);
	if (r < 0)
		return net_nl_fail(err, r, "get bridge '%s'", a->bridge);
	if (!link_is(br, "bridge"))
		return err_set(err, EINVAL, "link '%s' is not a bridge", a->bridge);
	at->bridge_ifindex = rtnl_link_get_ifindex(br);
	at->mtu = a->mtu ? a->mtu : rtnl_link_get_mtu(br);

	r = rtnl_link_get_kernel(at->host, 0, a->host_veth, &hv);
	if (r < 0 && !nle_missing(r))
		return net_nl_fail(err, r, "get link '%s'", a->host_veth);
	/* never remove a link this module did not make */
	if (r == 0 && !link_is(hv, "veth"))
		return err_set(err, EEXIST, "link '%s' exists and is not a veth", a->host_veth);
	if (r == 0 && attach_paired(at, hv)) {
		struct err cerr = ERR_INIT;

		if (attach_configure(at, &cerr) == 0)
			return 0;
		/* a pair that cannot be brought to the asked-for state is made again */
		err_clear(&cerr);
	}
	/* a half-made pair, or an interface of that name left in the pod: start afresh */
	if ((r = link_delete(at->host, a->host_veth, err)) < 0 ||
	    (r = link_delete(at->pod, a->ifname, err)) < 0)
		return r;
	r = attach_create(at, err);
	if (r < 0)
		return r;
	r = attach_configure(at, err);
	if (r < 0) {
		/* undo: the pod's end goes with the host's */
		struct err uerr = ERR_INIT;

		link_delete(at->host, a->host_veth, &uerr);
		err_clear(&uerr);
	}
	return r;
}

int net_pod_attach(const struct net_pod_attach *a, struct err *err)
{
	struct attach at = {.a = a};
	int r;

	r = attach_check(&at, err);
	if (r == 0)
		r = attach_run(&at, err);
	if (at.host)
		nl_socket_free(at.host);
	if (at.pod)
		nl_socket_free(at.pod);
	if (r < 0)
		return err_wrap(err, "attach pod network namespace '%s' to bridge '%s'",
				a->netns ? a->netns : "", a->bridge ? a->bridge : "");
	return 0;
}

int net_pod_detach(const char *host_veth, struct err *err)
{
	int r = net_link_delete(NULL, host_veth, err);

	if (r < 0)
		return err_wrap(err, "detach pod veth '%s'", host_veth ? host_veth : "");
	return 0;
}

static int route_dst(const char *dst_cidr, struct in_addr *ret, unsigned *ret_prefix,
		     struct err *err)
{
	unsigned prefix;
	struct in_addr a;
	uint32_t mask;
	int r;

	r = net_cidr_parse(dst_cidr, &a, &prefix, err);
	if (r < 0)
		return r;
	mask = prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
	if (ntohl(a.s_addr) & ~mask)
		return err_set(err, EINVAL, "route destination '%s' has host bits set", dst_cidr);
	*ret = a;
	*ret_prefix = prefix;
	return 0;
}

int net_route_replace(const char *dst_cidr, const char *via, const char *dev, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_link struct rtnl_link *l = NULL;
	struct in_addr dst, gw;
	unsigned prefix;
	int r;

	r = route_dst(dst_cidr, &dst, &prefix, err);
	if (r < 0)
		goto fail;
	if (via && inet_pton(AF_INET, via, &gw) != 1) {
		r = err_set(err, EINVAL, "gateway '%s' is not an IPv4 address", via);
		goto fail;
	}
	if (!via && !dev) {
		r = err_set(err, EINVAL, "neither a gateway nor a device given");
		goto fail;
	}
	if (dev && (r = ifname_check("device", dev, err)) < 0)
		goto fail;
	r = sock_open(NULL, &sk, err);
	if (r == 0 && dev)
		r = link_get(sk, dev, &l, err);
	if (r == 0)
		r = route_apply(sk, dst, prefix, via ? &gw : NULL, l ? rtnl_link_get_ifindex(l) : 0,
				dst_cidr, err);
	if (r == 0)
		return 0;
fail:
	return err_wrap(err, "route '%s'", dst_cidr ? dst_cidr : "");
}

int net_route_delete(const char *dst_cidr, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_cache struct nl_cache *cache = NULL;
	struct in_addr dst;
	unsigned prefix;
	int r;

	r = route_dst(dst_cidr, &dst, &prefix, err);
	if (r == 0)
		r = sock_open(NULL, &sk, err);
	if (r < 0)
		goto fail;
	r = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
	if (r < 0) {
		r = net_nl_fail(err, r, "list routes");
		goto fail;
	}
	/* delete the kernel's own objects: a request built here would have to match the
	 * route's scope and protocol, which only the kernel knows */
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		struct nl_addr *d = rtnl_route_get_dst(rt);

		if (rtnl_route_get_family(rt) != AF_INET ||
		    rtnl_route_get_table(rt) != RT_TABLE_MAIN)
			continue;
		if (!d || nl_addr_get_prefixlen(d) != prefix)
			continue;
		if (prefix > 0 && !nladdr_is(d, dst))
			continue;
		r = rtnl_route_delete(sk, rt, 0);
		if (r < 0 && !nle_missing(r)) {
			r = net_nl_fail(err, r, "delete");
			goto fail;
		}
	}
	return 0;
fail:
	return err_wrap(err, "route '%s'", dst_cidr ? dst_cidr : "");
}

bool net_link_exists(const char *netns, const char *name)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_link struct rtnl_link *l = NULL;

	if (ifname_check("link", name, &err) < 0 || sock_open(netns, &sk, &err) < 0)
		return false;
	return rtnl_link_get_kernel(sk, 0, name, &l) == 0;
}

int net_link_delete(const char *netns, const char *name, struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	int r;

	r = ifname_check("link", name, err);
	if (r == 0)
		r = sock_open(netns, &sk, err);
	if (r == 0)
		r = link_delete(sk, name, err);
	return r;
}

static int link_info_addrs(struct nl_sock *sk, int ifindex, struct net_link_info *info,
			   struct err *err)
{
	cleanup_cache struct nl_cache *cache = NULL;
	int r;

	r = rtnl_addr_alloc_cache(sk, &cache);
	if (r < 0)
		return net_nl_fail(err, r, "list addresses");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(ra);
		char s[INET_ADDRSTRLEN];

		if (rtnl_addr_get_ifindex(ra) != ifindex || rtnl_addr_get_family(ra) != AF_INET ||
		    !local || nl_addr_get_len(local) != 4)
			continue;
		if (info->n_ipv4++ > 0)
			continue;
		inet_ntop(AF_INET, nl_addr_get_binary_addr(local), s, sizeof(s));
		snprintf(info->ipv4, sizeof(info->ipv4), "%s/%d", s, rtnl_addr_get_prefixlen(ra));
	}
	return 0;
}

int net_link_get(const char *netns, const char *name, struct net_link_info *ret_info,
		 struct err *err)
{
	cleanup_sock struct nl_sock *sk = NULL;
	cleanup_link struct rtnl_link *l = NULL;
	cleanup_link struct rtnl_link *m = NULL;
	struct net_link_info info = {0};
	struct nl_addr *mac;
	int r;

	r = ifname_check("link", name, err);
	if (r == 0)
		r = sock_open(netns, &sk, err);
	if (r == 0)
		r = link_get(sk, name, &l, err);
	if (r < 0)
		return r;
	info.ifindex = rtnl_link_get_ifindex(l);
	info.up = rtnl_link_get_flags(l) & IFF_UP;
	info.mtu = rtnl_link_get_mtu(l);
	snprintf(info.kind, sizeof(info.kind), "%s",
		 rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "");
	mac = rtnl_link_get_addr(l);
	if (mac && nl_addr_get_len(mac) == 6) {
		const unsigned char *b = nl_addr_get_binary_addr(mac);

		snprintf(info.mac, sizeof(info.mac), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1],
			 b[2], b[3], b[4], b[5]);
	}
	if (rtnl_link_get_master(l) > 0 &&
	    rtnl_link_get_kernel(sk, rtnl_link_get_master(l), NULL, &m) == 0)
		snprintf(info.master, sizeof(info.master), "%s", rtnl_link_get_name(m));
	r = link_info_addrs(sk, info.ifindex, &info, err);
	if (r < 0)
		return err_wrap(err, "read link '%s'", name);
	*ret_info = info;
	return 0;
}
