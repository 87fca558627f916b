/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_mhd.h and their loader.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/api/lib_mhd.h"

#define MHD_DEFINE(name) __typeof__(name) *dl_p_##name;
API_MHD_SYMS(MHD_DEFINE)

#define MHD_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym mhd_syms[] = {API_MHD_SYMS(MHD_ENTRY){NULL, NULL}};

static pthread_mutex_t mhd_lock = PTHREAD_MUTEX_INITIALIZER;

int api_mhd_load(struct err *err)
{
	static const char *const names[] = {"libmicrohttpd.so.12", NULL};
	int r;

	pthread_mutex_lock(&mhd_lock);
	r = dl_load(names, mhd_syms, "libmicrohttpd12", err);
	pthread_mutex_unlock(&mhd_lock);
	return r;
}
