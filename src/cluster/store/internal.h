/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the store's backends share: the table of operations store.c dispatches through
 * (each backend embeds struct store first in its own state) and the constructors
 * store_open() picks between.
 */
#ifndef SKIFF_CLUSTER_STORE_INTERNAL_H
#define SKIFF_CLUSTER_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/store/store.h"

struct store_ops {
	const char *name;
	void (*close)(struct store *s);
	int (*revision)(struct store *s, int64_t *rev, int64_t *compacted, struct err *err);
	int (*get)(struct store *s, const char *key, struct store_kv *ret, struct err *err);
	int (*range)(struct store *s, const char *prefix, const char *after, size_t limit,
		     struct store_kvs *ret, int64_t *rev, struct err *err);
	int (*apply)(struct store *s, const struct store_op *op, int64_t *rev,
		     struct store_kv *current, struct err *err);
	int (*watch)(struct store *s, int64_t after, store_watch_fn fn, void *arg, struct err *err);
	int (*watch_status)(struct store *s, struct err *err);
	int (*compact)(struct store *s, int64_t rev, struct err *err);
};

struct store {
	const struct store_ops *ops;
};

/* The database file at @path (its directory must exist). */
int store_sqlite_open(const char *path, struct store **ret, struct err *err);

/* etcd v3 at the comma-separated @endpoints ("http://host:port,..."). */
int store_etcd_open(const char *endpoints, struct store **ret, struct err *err);

/* Fills @kv with copies of @key and the @len bytes at @value (NUL-terminated). */
void store_kv_set(struct store_kv *kv, const char *key, size_t key_len, const char *value,
		  size_t len, int64_t create_rev, int64_t mod_rev);

/* Appends an entry to @kvs and returns it, zeroed. */
struct store_kv *store_kvs_push(struct store_kvs *kvs, size_t *cap);

#endif
