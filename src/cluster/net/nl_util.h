/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the module's netlink files share (netlink.c, vxlan.c): cleanup attributes for
 * libnl's objects and the mapping of libnl's error codes back to errno. Only
 * src/cluster/net/ includes it.
 */
#ifndef SKIFF_CLUSTER_NET_NL_UTIL_H
#define SKIFF_CLUSTER_NET_NL_UTIL_H

struct err;

#include "cluster/net/lib_nl.h"

static inline void net_sock_freep(struct nl_sock **s)
{
	if (*s)
		nl_socket_free(*s);
}

static inline void net_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}

static inline void net_addr_putp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
}

static inline void net_rtaddr_putp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
}

static inline void net_route_putp(struct rtnl_route **r)
{
	if (*r)
		rtnl_route_put(*r);
}

static inline void net_neigh_putp(struct rtnl_neigh **n)
{
	if (*n)
		rtnl_neigh_put(*n);
}

static inline void net_cache_freep(struct nl_cache **c)
{
	if (*c)
		nl_cache_free(*c);
}

#define cleanup_sock   __attribute__((cleanup(net_sock_freep)))
#define cleanup_link   __attribute__((cleanup(net_link_putp)))
#define cleanup_nladdr __attribute__((cleanup(net_addr_putp)))
#define cleanup_rtaddr __attribute__((cleanup(net_rtaddr_putp)))
#define cleanup_route  __attribute__((cleanup(net_route_putp)))
#define cleanup_neigh  __attribute__((cleanup(net_neigh_putp)))
#define cleanup_cache  __attribute__((cleanup(net_cache_freep)))

/* libnl folds the kernel's errno into its own codes: the errno callers branch on. */
int net_nle_errno(int nle);
/* Sets @err from libnl's error @nle: "<printf message>: <reason>"; returns -errno. */
int net_nl_fail(struct err *err, int nle, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
