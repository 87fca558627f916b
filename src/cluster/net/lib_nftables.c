/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_nftables.h and their loader.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/net/lib_nftables.h"

#define NFT_DEFINE(name) __typeof__(name) *dl_p_##name;
NET_NFT_SYMS(NFT_DEFINE)

#define NFT_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym nft_syms[] = {NET_NFT_SYMS(NFT_ENTRY){NULL, NULL}};

static pthread_mutex_t nft_lock = PTHREAD_MUTEX_INITIALIZER;

int net_nft_load(struct err *err)
{
	static const char *const names[] = {"libnftables.so.1", NULL};
	int r;

	pthread_mutex_lock(&nft_lock);
	r = dl_load(names, nft_syms, "libnftables1", err);
	pthread_mutex_unlock(&nft_lock);
	return r;
}
