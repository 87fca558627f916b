/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnl-route-3 (with libnl-3, which it pulls in), loaded on first use by netlink.c only:
 * skiff's other roles never pay for it. The names below are redirected to pointers that
 * net_nl_load() (net.h) fills in.
 */
#ifndef SKIFF_CLUSTER_NET_LIB_NL_H
#define SKIFF_CLUSTER_NET_LIB_NL_H

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#define NET_NL_SYMS(X)                                                                             \
	X(nl_socket_alloc)                                                                         \
	X(nl_socket_free)                                                                          \
	X(nl_connect)                                                                              \
	X(nl_geterror)                                                                             \
	X(nl_addr_build)                                                                           \
	X(nl_addr_put)                                                                             \
	X(nl_addr_get_family)                                                                      \
	X(nl_addr_get_binary_addr)                                                                 \
	X(nl_addr_get_len)                                                                         \
	X(nl_addr_set_prefixlen)                                                                   \
	X(nl_addr_get_prefixlen)                                                                   \
	X(nl_cache_get_first)                                                                      \
	X(nl_cache_get_next)                                                                       \
	X(nl_cache_free)                                                                           \
	X(rtnl_link_alloc)                                                                         \
	X(rtnl_link_put)                                                                           \
	X(rtnl_link_get_kernel)                                                                    \
	X(rtnl_link_add)                                                                           \
	X(rtnl_link_change)                                                                        \
	X(rtnl_link_delete)                                                                        \
	X(rtnl_link_set_name)                                                                      \
	X(rtnl_link_get_name)                                                                      \
	X(rtnl_link_set_type)                                                                      \
	X(rtnl_link_get_type)                                                                      \
	X(rtnl_link_set_flags)                                                                     \
	X(rtnl_link_get_flags)                                                                     \
	X(rtnl_link_set_mtu)                                                                       \
	X(rtnl_link_get_mtu)                                                                       \
	X(rtnl_link_set_master)                                                                    \
	X(rtnl_link_get_master)                                                                    \
	X(rtnl_link_set_ns_fd)                                                                     \
	X(rtnl_link_set_addr)                                                                      \
	X(rtnl_link_get_addr)                                                                      \
	X(rtnl_link_get_ifindex)                                                                   \
	X(rtnl_link_get_link)                                                                      \
	X(rtnl_link_veth_alloc)                                                                    \
	X(rtnl_link_veth_get_peer)                                                                 \
	X(rtnl_addr_alloc)                                                                         \
	X(rtnl_addr_put)                                                                           \
	X(rtnl_addr_alloc_cache)                                                                   \
	X(rtnl_addr_add)                                                                           \
	X(rtnl_addr_delete)                                                                        \
	X(rtnl_addr_set_ifindex)                                                                   \
	X(rtnl_addr_get_ifindex)                                                                   \
	X(rtnl_addr_get_family)                                                                    \
	X(rtnl_addr_set_local)                                                                     \
	X(rtnl_addr_get_local)                                                                     \
	X(rtnl_addr_set_prefixlen)                                                                 \
	X(rtnl_addr_get_prefixlen)                                                                 \
	X(rtnl_route_alloc)                                                                        \
	X(rtnl_route_put)                                                                          \
	X(rtnl_route_alloc_cache)                                                                  \
	X(rtnl_route_add)                                                                          \
	X(rtnl_route_delete)                                                                       \
	X(rtnl_route_set_family)                                                                   \
	X(rtnl_route_get_family)                                                                   \
	X(rtnl_route_set_table)                                                                    \
	X(rtnl_route_get_table)                                                                    \
	X(rtnl_route_set_scope)                                                                    \
	X(rtnl_route_set_protocol)                                                                 \
	X(rtnl_route_set_dst)                                                                      \
	X(rtnl_route_get_dst)                                                                      \
	X(rtnl_route_add_nexthop)                                                                  \
	X(rtnl_route_nh_alloc)                                                                     \
	X(rtnl_route_nh_set_ifindex)                                                               \
	X(rtnl_route_nh_set_gateway)                                                               \
	X(rtnl_route_get_protocol)                                                                 \
	X(rtnl_route_set_flags)                                                                    \
	X(rtnl_route_get_flags)                                                                    \
	X(rtnl_route_get_nnexthops)                                                                \
	X(rtnl_route_nexthop_n)                                                                    \
	X(rtnl_route_nh_get_gateway)                                                               \
	X(rtnl_route_nh_get_ifindex)                                                               \
	X(rtnl_route_nh_set_flags)                                                                 \
	X(rtnl_route_nh_get_flags)                                                                 \
	X(rtnl_link_vxlan_alloc)                                                                   \
	X(rtnl_link_is_vxlan)                                                                      \
	X(rtnl_link_vxlan_set_id)                                                                  \
	X(rtnl_link_vxlan_get_id)                                                                  \
	X(rtnl_link_vxlan_set_local)                                                               \
	X(rtnl_link_vxlan_get_local)                                                               \
	X(rtnl_link_vxlan_set_port)                                                                \
	X(rtnl_link_vxlan_get_port)                                                                \
	X(rtnl_link_vxlan_set_learning)                                                            \
	X(rtnl_link_vxlan_get_learning)                                                            \
	X(rtnl_neigh_alloc)                                                                        \
	X(rtnl_neigh_put)                                                                          \
	X(rtnl_neigh_alloc_cache_flags)                                                            \
	X(rtnl_neigh_add)                                                                          \
	X(rtnl_neigh_delete)                                                                       \
	X(rtnl_neigh_set_ifindex)                                                                  \
	X(rtnl_neigh_get_ifindex)                                                                  \
	X(rtnl_neigh_set_dst)                                                                      \
	X(rtnl_neigh_get_dst)                                                                      \
	X(rtnl_neigh_set_lladdr)                                                                   \
	X(rtnl_neigh_get_lladdr)                                                                   \
	X(rtnl_neigh_set_state)                                                                    \
	X(rtnl_neigh_get_state)                                                                    \
	X(rtnl_neigh_set_flags)                                                                    \
	X(rtnl_neigh_get_flags)                                                                    \
	X(rtnl_neigh_set_family)                                                                   \
	X(rtnl_neigh_get_family)

#define NET_NL_DECLARE(name) extern __typeof__(name) *dl_p_##name;
NET_NL_SYMS(NET_NL_DECLARE)
#undef NET_NL_DECLARE

#ifndef DL_LIBS_IMPL
#include "cluster/net/lib_nl_redirect.h"
#endif

#endif
