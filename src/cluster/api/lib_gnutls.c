/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_gnutls.h and their loader.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/api/lib_gnutls.h"

#define GNUTLS_DEFINE(name) __typeof__(name) *dl_p_##name;
API_GNUTLS_SYMS(GNUTLS_DEFINE)

#define GNUTLS_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym gnutls_syms[] = {API_GNUTLS_SYMS(GNUTLS_ENTRY){NULL, NULL}};

static pthread_mutex_t gnutls_lock = PTHREAD_MUTEX_INITIALIZER;

int api_gnutls_load(struct err *err)
{
	static const char *const names[] = {"libgnutls.so.30", NULL};
	int r;

	pthread_mutex_lock(&gnutls_lock);
	r = dl_load(names, gnutls_syms, "libgnutls30", err);
	pthread_mutex_unlock(&gnutls_lock);
	return r;
}
