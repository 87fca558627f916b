/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnftables, loaded on first use by routes.c for the node's masquerade table. The
 * functions are reached through the struct below rather than redirected names, so this
 * list can live beside the service proxy's own list of the same library without two
 * definitions of one pointer.
 */
#ifndef SKIFF_CLUSTER_NET_LIB_NFTABLES_H
#define SKIFF_CLUSTER_NET_LIB_NFTABLES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <nftables/libnftables.h>

struct err;

#define NET_NFT_SYMS(F)                                                                            \
	F(nft_ctx_new)                                                                             \
	F(nft_ctx_free)                                                                            \
	F(nft_run_cmd_from_buffer)                                                                 \
	F(nft_ctx_buffer_output)                                                                   \
	F(nft_ctx_get_output_buffer)                                                               \
	F(nft_ctx_buffer_error)                                                                    \
	F(nft_ctx_get_error_buffer)

#define NET_NFT_MEMBER(name) __typeof__(name) *name;
struct net_nft_lib {
	NET_NFT_SYMS(NET_NFT_MEMBER)
};
#undef NET_NFT_MEMBER

/* Filled in by net_nft_load(); call through it as net_nft.nft_ctx_new(...). */
extern struct net_nft_lib net_nft;

/* Loads libnftables; ELIBACC names the package libnftables1 when it is missing. */
int net_nft_load(struct err *err);

#endif
