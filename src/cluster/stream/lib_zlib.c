/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_zlib.h and their loader.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/stream/lib_zlib.h"

#define ZLIB_DEFINE(name) __typeof__(name) *dl_p_##name;
STREAM_ZLIB_SYMS(ZLIB_DEFINE)

#define ZLIB_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym zlib_syms[] = {STREAM_ZLIB_SYMS(ZLIB_ENTRY){NULL, NULL}};

/* dl_load() checks the first pointer only: two threads must not resolve at once */
static pthread_mutex_t zlib_lock = PTHREAD_MUTEX_INITIALIZER;

int stream_zlib_load(struct err *err)
{
	static const char *const names[] = {"libz.so.1", "libz.so", NULL};
	int r;

	pthread_mutex_lock(&zlib_lock);
	r = dl_load(names, zlib_syms, "zlib1g", err);
	pthread_mutex_unlock(&zlib_lock);
	return r;
}
