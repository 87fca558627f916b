/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's front door: store_open() chooses the backend from the endpoint string and
 * every other call goes through the backend's table of operations (internal.h), so the
 * API server codes against one interface whether the bytes live in SQLite or in etcd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/store/internal.h"
#include "cluster/store/store.h"

int store_open(const char *endpoint, const char *data_dir, struct store **ret, struct err *err)
{
	cleanup_free char *dir = NULL;
	cleanup_free char *path = NULL;
	int r;

	if (endpoint &&
	    (strncmp(endpoint, "http://", 7) == 0 || strncmp(endpoint, "https://", 8) == 0))
		return store_etcd_open(endpoint, ret, err);
	if (endpoint && strncmp(endpoint, "sqlite:", 7) == 0)
		return store_sqlite_open(endpoint + 7, ret, err);
	if (endpoint && *endpoint && strcmp(endpoint, "sqlite") != 0)
		return err_set(err, EINVAL,
			       "open store '%s': unknown endpoint (want sqlite, sqlite:PATH or "
			       "http://host:port)",
			       endpoint);
	if (!data_dir || !*data_dir)
		return err_set(err, EINVAL, "open store: no data directory");

	/* the database holds every secret of the cluster: only its owner may enter */
	dir = xasprintf("%s/db", data_dir);
	r = fs_mkdir_p(dir, 0700, err);
	if (r < 0)
		return err_wrap(err, "open store");
	path = xasprintf("%s/state.db", dir);
	return store_sqlite_open(path, ret, err);
}

void store_close(struct store *s)
{
	if (s)
		s->ops->close(s);
}

const char *store_backend(const struct store *s)
{
	return s->ops->name;
}

int store_revision(struct store *s, int64_t *rev, int64_t *compacted, struct err *err)
{
	return s->ops->revision(s, rev, compacted, err);
}

int store_get(struct store *s, const char *key, struct store_kv *ret, struct err *err)
{
	return s->ops->get(s, key, ret, err);
}

int store_range(struct store *s, const char *prefix, const char *after, size_t limit,
		struct store_kvs *ret, int64_t *rev, struct err *err)
{
	return s->ops->range(s, prefix ? prefix : "", after, limit, ret, rev, err);
}

int store_apply(struct store *s, const struct store_op *op, int64_t *rev, struct store_kv *current,
		struct err *err)
{
	if (!op->key || !*op->key)
		return err_set(err, EINVAL, "apply to store: empty key");
	if (op->kind != STORE_DELETE && !op->value && op->len)
		return err_set(err, EINVAL, "apply to store '%s': no value", op->key);
	return s->ops->apply(s, op, rev, current, err);
}

int store_watch(struct store *s, int64_t after, store_watch_fn fn, void *arg, struct err *err)
{
	if (after < 0)
		return err_set(err, EINVAL, "watch store: negative revision %lld",
			       (long long)after);
	return s->ops->watch(s, after, fn, arg, err);
}

int store_watch_status(struct store *s, struct err *err)
{
	return s->ops->watch_status(s, err);
}

int store_compact(struct store *s, int64_t rev, struct err *err)
{
	return s->ops->compact(s, rev, err);
}

void store_kv_set(struct store_kv *kv, const char *key, size_t key_len, const char *value,
		  size_t len, int64_t create_rev, int64_t mod_rev)
{
	kv->key = xstrndup(key, key_len);
	kv->value = xmalloc(len + 1);
	if (len)
		memcpy(kv->value, value, len);
	kv->value[len] = '\0';
	kv->len = len;
	kv->create_rev = create_rev;
	kv->mod_rev = mod_rev;
}

struct store_kv *store_kvs_push(struct store_kvs *kvs, size_t *cap)
{
	if (kvs->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		kvs->v = xrealloc(kvs->v, *cap * sizeof(*kvs->v));
	}
	memset(&kvs->v[kvs->n], 0, sizeof(kvs->v[0]));
	return &kvs->v[kvs->n++];
}

void store_kv_clear(struct store_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void store_kvs_clear(struct store_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++)
		store_kv_clear(&kvs->v[i]);
	free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}
