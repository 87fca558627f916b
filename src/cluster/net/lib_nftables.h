/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnftables, loaded on first use by the node's masquerade table (routes.c) and the
 * service proxy (proxy/nft.c): skiff's other roles never pay for it. The names below are
 * redirected to pointers that net_nft_load() fills in.
 */
#ifndef SKIFF_CLUSTER_NET_LIB_NFTABLES_H
#define SKIFF_CLUSTER_NET_LIB_NFTABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <nftables/libnftables.h>

struct err;

#define NET_NFT_SYMS(X)                                                                            \
	X(nft_ctx_new)                                                                             \
	X(nft_ctx_free)                                                                            \
	X(nft_ctx_output_set_flags)                                                                \
	X(nft_ctx_buffer_output)                                                                   \
	X(nft_ctx_buffer_error)                                                                    \
	X(nft_ctx_get_output_buffer)                                                               \
	X(nft_ctx_get_error_buffer)                                                                \
	X(nft_run_cmd_from_buffer)

#define NET_NFT_DECLARE(name) extern __typeof__(name) *dl_p_##name;
NET_NFT_SYMS(NET_NFT_DECLARE)
#undef NET_NFT_DECLARE

/* Loads libnftables; ELIBACC names the package libnftables1 when it is missing. */
int net_nft_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/net/lib_nftables_redirect.h"
#endif

#endif
