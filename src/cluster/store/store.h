/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster store: keys mapped to object bytes with etcd v3's revision model. One
 * global revision counts every change; each key remembers the revision that created it
 * and the one that last modified it; writes compare-and-swap on the modification
 * revision; a watch replays every change after a revision, in order, then follows live
 * changes; compaction forgets history up to a revision.
 *
 * Two backends behind one interface: embedded SQLite (the default: a file under the data
 * directory, WAL, every acknowledged write fsynced, concurrent writes grouped into one
 * transaction) and etcd v3 through its JSON gateway (endpoint "http://host:2379").
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef SKIFF_CLUSTER_STORE_STORE_H
#define SKIFF_CLUSTER_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct store;

struct store_kv {
	char *key;
	char *value; /* object bytes (not NUL-terminated in general; value[len] is NUL) */
	size_t len;
	int64_t create_rev; /* revision that created the key */
	int64_t mod_rev;    /* revision of the last change */
};

struct store_kvs {
	struct store_kv *v;
	size_t n;
};

enum store_op_kind {
	STORE_CREATE, /* fails with -EEXIST when the key exists */
	STORE_UPDATE, /* fails with -ENOENT when absent, -ESTALE when mod_rev != expect_rev */
	STORE_DELETE, /* same failures as STORE_UPDATE */
};

struct store_op {
	enum store_op_kind kind;
	const char *key;
	const char *value; /* CREATE/UPDATE */
	size_t len;
	int64_t expect_rev; /* UPDATE/DELETE: required mod_rev of the key; 0: any */
	/*
	 * CREATE/UPDATE: what the writer knows of @value (the API server: a struct
	 * api_hint), handed to the watch callback of the same process with the change so
	 * that it need not decode the bytes again. Opaque to the store; NULL: none.
	 */
	const void *hint;
};

enum store_event_type { STORE_EV_PUT, STORE_EV_DELETE };

struct store_event {
	enum store_event_type type;
	const char *key;
	const char *value; /* PUT: the new bytes; DELETE: the bytes before deletion */
	size_t len;
	int64_t rev;        /* revision of this change (the deletion's revision for DELETE) */
	int64_t create_rev; /* creation revision of the key */
	int64_t prev_rev;   /* mod_rev before this change; 0 for a creation */
	const void *hint;   /* PUT: the write's store_op.hint when this process wrote it
			     * through SQLite, else NULL (history, etcd, deletions) */
};

/*
 * Called for every change in revision order, once each, never concurrently with itself.
 * SQLite calls it from the writer before the write is acknowledged (a reader that waits
 * for the write's revision sees it); etcd calls it from its watch thread. The event's
 * pointers are valid during the call only. It must not write to the store (SQLite calls
 * it holding the writer, which would deadlock) and should return quickly: every write
 * waits for it.
 */
typedef void (*store_watch_fn)(void *arg, const struct store_event *ev);

/*
 * Opens the store: @endpoint NULL, "" or "sqlite" uses @data_dir/db/state.db (created,
 * directories 0700); "sqlite:PATH" a given file; "http://host:port[,http://...]" etcd v3,
 * through the first endpoint that answers. -EINVAL for an unknown endpoint form,
 * -ECONNREFUSED when no etcd endpoint answers, -ELIBACC when libsqlite3 or libcurl is
 * missing.
 */
int store_open(const char *endpoint, const char *data_dir, struct store **ret, struct err *err);
void store_close(struct store *s);

/* "sqlite" or "etcd" */
const char *store_backend(const struct store *s);

/*
 * The current revision (0 for an empty SQLite store; etcd starts at 1) and the compacted
 * revision (etcd: the highest this process has compacted to or been told of). Either
 * output may be NULL.
 */
int store_revision(struct store *s, int64_t *rev, int64_t *compacted, struct err *err);

/* One key (-ENOENT when absent). */
int store_get(struct store *s, const char *key, struct store_kv *ret, struct err *err);

/*
 * Keys starting with @prefix and greater than @after (NULL: from the first), in key order,
 * at most @limit (0: all); @rev receives the revision the answer is consistent with.
 */
int store_range(struct store *s, const char *prefix, const char *after, size_t limit,
		struct store_kvs *ret, int64_t *rev, struct err *err);

/*
 * Applies one change atomically; returns its revision in @rev (may be NULL). On -ESTALE
 * or -EEXIST, @current (if not NULL) receives the key's current value, to be cleared
 * with store_kv_clear().
 */
int store_apply(struct store *s, const struct store_op *op, int64_t *rev, struct store_kv *current,
		struct err *err);

/*
 * Calls @fn for every change with a revision above @after (history first, then live
 * changes) until store_close(); -EOVERFLOW when @after is below the compacted revision.
 * One watch per store (the API server's cache): a second gets -EBUSY. SQLite replays the
 * history before returning; etcd delivers it from its thread. An etcd watch whose stream
 * breaks resumes after the last delivered revision, unless etcd compacted past it
 * meanwhile: then the watch ends (see store_watch_status()).
 */
int store_watch(struct store *s, int64_t after, store_watch_fn fn, void *arg, struct err *err);

/*
 * 0 while the watch delivers (or none was started); -EOVERFLOW once an etcd watch has
 * ended because changes it had not delivered were compacted away. The watcher must then
 * list again and call store_watch() anew from the listed revision.
 */
int store_watch_status(struct store *s, struct err *err);

/*
 * Forgets history at and below @rev; current values stay. A @rev already compacted is
 * no error; one above the current revision is -EINVAL.
 */
int store_compact(struct store *s, int64_t rev, struct err *err);

void store_kv_clear(struct store_kv *kv);
void store_kvs_clear(struct store_kvs *kvs);

#endif
