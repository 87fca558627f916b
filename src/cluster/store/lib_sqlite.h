/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libsqlite3, loaded on first use like base/libcurl.h: only the API server's store needs
 * it, so the runtime's short-lived processes never load it. The store calls SQLite's
 * functions by their usual names, which the list below redirects to pointers that
 * store_sqlite_load() fills in.
 */
#ifndef SKIFF_CLUSTER_STORE_LIB_SQLITE_H
#define SKIFF_CLUSTER_STORE_LIB_SQLITE_H

#include <sqlite3.h>

struct err;

#define STORE_SQLITE_SYMS(X)                                                                       \
	X(sqlite3_open_v2)                                                                         \
	X(sqlite3_close_v2)                                                                        \
	X(sqlite3_exec)                                                                            \
	X(sqlite3_busy_timeout)                                                                    \
	X(sqlite3_prepare_v3)                                                                      \
	X(sqlite3_finalize)                                                                        \
	X(sqlite3_reset)                                                                           \
	X(sqlite3_clear_bindings)                                                                  \
	X(sqlite3_bind_blob64)                                                                     \
	X(sqlite3_bind_text)                                                                       \
	X(sqlite3_bind_int64)                                                                      \
	X(sqlite3_step)                                                                            \
	X(sqlite3_column_blob)                                                                     \
	X(sqlite3_column_text)                                                                     \
	X(sqlite3_column_bytes)                                                                    \
	X(sqlite3_column_int64)                                                                    \
	X(sqlite3_column_type)                                                                     \
	X(sqlite3_errmsg)                                                                          \
	X(sqlite3_errstr)                                                                          \
	X(sqlite3_extended_errcode)                                                                \
	X(sqlite3_get_autocommit)                                                                  \
	X(sqlite3_wal_autocheckpoint)                                                              \
	X(sqlite3_wal_checkpoint_v2)                                                               \
	X(sqlite3_wal_hook)

#define STORE_SQLITE_DECLARE(name) extern __typeof__(name) *dl_p_##name;
STORE_SQLITE_SYMS(STORE_SQLITE_DECLARE)
#undef STORE_SQLITE_DECLARE

/* Loads libsqlite3 once (ELIBACC names the package when it is missing). */
int store_sqlite_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/store/lib_sqlite_redirect.h"
#endif

#endif
