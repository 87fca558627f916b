/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_sqlite.h and their loader.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/store/lib_sqlite.h"

#define SQLITE_DEFINE(name) __typeof__(name) *dl_p_##name;
STORE_SQLITE_SYMS(SQLITE_DEFINE)

#define SQLITE_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym sqlite_syms[] = {STORE_SQLITE_SYMS(SQLITE_ENTRY){NULL, NULL}};

int store_sqlite_load(struct err *err)
{
	static const char *const names[] = {"libsqlite3.so.0", NULL};
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int r;

	/* dl_load() fills the pointers one by one: two first users must not race */
	pthread_mutex_lock(&lock);
	r = dl_load(names, sqlite_syms, "libsqlite3-0", err);
	pthread_mutex_unlock(&lock);
	return r;
}
