/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libnftables, loaded on first use by the service proxy only: skiff's other roles never
 * pay for it. The names below are redirected to pointers that svcproxy_nft_load() fills in.
 */
#ifndef SKIFF_CLUSTER_PROXY_LIB_NFT_H
#define SKIFF_CLUSTER_PROXY_LIB_NFT_H

#include <nftables/libnftables.h>

struct err;

#define SVCPROXY_NFT_SYMS(X)                                                                       \
	X(nft_ctx_new)                                                                             \
	X(nft_ctx_free)                                                                            \
	X(nft_ctx_output_set_flags)                                                                \
	X(nft_ctx_buffer_output)                                                                   \
	X(nft_ctx_buffer_error)                                                                    \
	X(nft_ctx_get_output_buffer)                                                               \
	X(nft_ctx_get_error_buffer)                                                                \
	X(nft_run_cmd_from_buffer)

#define SVCPROXY_NFT_DECLARE(name) extern __typeof__(name) *dl_p_##name;
SVCPROXY_NFT_SYMS(SVCPROXY_NFT_DECLARE)
#undef SVCPROXY_NFT_DECLARE

/* Loads libnftables; ELIBACC names the package libnftables1 when it is missing. */
int svcproxy_nft_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/proxy/lib_nft_redirect.h"
#endif

#endif
