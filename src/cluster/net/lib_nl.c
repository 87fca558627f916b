/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_nl.h and their loader, net_nl_load() of net.h.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/net/lib_nl.h"
#include "cluster/net/net.h"

#define NL_DEFINE(name) __typeof__(name) *dl_p_##name;
NET_NL_SYMS(NL_DEFINE)

#define NL_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym nl_syms[] = {NET_NL_SYMS(NL_ENTRY){NULL, NULL}};

static pthread_mutex_t nl_lock = PTHREAD_MUTEX_INITIALIZER;

int net_nl_load(struct err *err)
{
	/* libnl-3's own functions resolve through this handle: it is a dependency */
	static const char *const names[] = {"libnl-route-3.so.200", NULL};
	int r;

	pthread_mutex_lock(&nl_lock);
	r = dl_load(names, nl_syms, "libnl-route-3-200", err);
	pthread_mutex_unlock(&nl_lock);
	return r;
}
