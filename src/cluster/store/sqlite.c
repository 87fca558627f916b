/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded store: one SQLite file in WAL mode with etcd's revision model.
 *
 * Tables: log (rev, type, key, create_rev, prev_rev, value), one row per change, the only
 * place values are kept; kv (key, create_rev, mod_rev), the current state, each key's value
 * being the log's row at its mod_rev; meta, one row holding the current and the compacted
 * revision. A change writes kv, log and meta in one transaction, so the revision counter
 * survives exactly what survived of the data. The file grows until store_compact() trims
 * the log (as etcd's does until compaction); compaction keeps the rows kv points to, and a
 * change to a key drops the row of its previous value when compaction kept it that way.
 * Each value is written once: a copy in kv as well cost the writer a page per change.
 * Databases written with that copy are converted when opened.
 *
 * Writes (group commit): callers queue their op and sleep; one writer thread owns the
 * write connection, takes everything queued, and runs it as one BEGIN IMMEDIATE..COMMIT
 * in which each op is checked on its own (a failed compare fails that op only and writes
 * nothing). With synchronous=FULL the COMMIT fsyncs the WAL once for the whole batch,
 * which is what keeps many concurrent writers cheap. Only after the commit does the
 * writer hand each change to the watch callback, in revision order, and only then wake
 * the callers: an acknowledged write has been both persisted and seen by the watcher.
 * An SQL failure inside a batch rolls the whole batch back and fails all of its ops.
 *
 * Reads go through a pool of read connections (WAL readers never wait for the writer),
 * each with its statements prepared once; a connection serves one thread at a time.
 * store_range reads meta and the keys in one read transaction, so the revision it
 * returns is the snapshot the keys come from.
 *
 * Checkpoints (copying the WAL back into the database file, with an fsync) run on a
 * thread of their own with its own connection, woken when a commit leaves the WAL long;
 * a passive checkpoint never blocks the writer, so no acknowledgement waits for one.
 *
 * Watch: store_watch replays the log in chunks without blocking writers, then takes the
 * commit lock (held by the writer from BEGIN until its callbacks return), replays what
 * was committed meanwhile and registers the callback before letting the writer go on:
 * every change is delivered once, none is missed, and the callback never runs twice at
 * once. The callback runs under the commit lock, so it must not write to the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/store/internal.h"
#include "cluster/store/lib_sqlite.h"
#include "cluster/store/store.h"

/* log.type, and LOG_PUT in SQL text */
#define LOG_PUT    0
#define LOG_DELETE 1

#define SQL_STR_(x) #x
#define SQL_STR(x)  SQL_STR_(x)
#define LOG_PUT_SQL SQL_STR(LOG_PUT)

/*
 * kv's columns after the table's name (setup_sql creates it, convert_sql rebuilds it):
 * rows of a few dozen bytes, stored in the key's own b-tree with no rowid beside it.
 */
#define KV_COLUMNS                                                                                 \
	" (key TEXT PRIMARY KEY NOT NULL,"                                                         \
	" create_rev INTEGER NOT NULL,"                                                            \
	" mod_rev INTEGER NOT NULL) WITHOUT ROWID;"

/* rows a replay reads per read transaction before letting a checkpoint through */
#define REPLAY_CHUNK 512

/* log revisions trimmed per compaction transaction */
#define COMPACT_STEP 1024

/* WAL pages (of 4 KiB) after which the checkpointer is woken, SQLite's default */
#define CHECKPOINT_PAGES 1000

/*
 * WAL pages after which the writer itself, between two batches, copies the rest of the
 * WAL and truncates it: passive checkpoints never catch up with a writer that commits back
 * to back, and the WAL would grow for as long as it does. It costs the writer tens of
 * milliseconds once per 32 MiB written. It waits at most TRUNCATE_WAIT_MS for readers on
 * old frames, and tries again TRUNCATE_RETRY_MS after failing.
 */
#define TRUNCATE_PAGES    8192
#define TRUNCATE_WAIT_MS  100
#define TRUNCATE_RETRY_MS 1000

/* bytes per read of the file's prefetch */
#define PREFETCH_CHUNK (1 << 20)

/* milliseconds a connection waits for another process holding the database */
#define BUSY_TIMEOUT_MS 10000

/* run on the write connection before its statements are prepared */
static const char setup_sql[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = FULL;"
	/* after a burst of large values, give the disk back when the WAL restarts */
	"PRAGMA journal_size_limit = 67108864;"
	"BEGIN IMMEDIATE;"
	"CREATE TABLE IF NOT EXISTS kv" KV_COLUMNS
	/* every change, and the only copy of each value */
	"CREATE TABLE IF NOT EXISTS log ("
	" rev INTEGER PRIMARY KEY,"
	" type INTEGER NOT NULL,"
	" key TEXT NOT NULL,"
	" create_rev INTEGER NOT NULL,"
	" prev_rev INTEGER NOT NULL,"
	" value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta ("
	" id INTEGER PRIMARY KEY CHECK (id = 0),"
	" rev INTEGER NOT NULL,"
	" compacted INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta (id, rev, compacted) VALUES (0, 0, 0);"
	"COMMIT;";

enum {
	W_BEGIN,
	W_COMMIT,
	W_ROLLBACK,
	W_SELECT,
	W_VALUE,
	W_INSERT,
	W_UPDATE,
	W_DELETE,
	W_LOG,
	W_DROP_LOG,
	W_META,
	W_COMPACT_LOG,
	W_COMPACT_META,
	W_COUNT,
};

static const char *const write_sql[W_COUNT] = {
	[W_BEGIN] = "BEGIN IMMEDIATE",
	[W_COMMIT] = "COMMIT",
	[W_ROLLBACK] = "ROLLBACK",
	[W_SELECT] = "SELECT create_rev, mod_rev FROM kv WHERE key = ?1",
	[W_VALUE] = "SELECT value FROM log WHERE rev = ?1",
	[W_INSERT] = "INSERT INTO kv (key, create_rev, mod_rev) VALUES (?1, ?2, ?2)",
	[W_UPDATE] = "UPDATE kv SET mod_rev = ?2 WHERE key = ?1",
	[W_DELETE] = "DELETE FROM kv WHERE key = ?1",
	[W_LOG] = ("INSERT INTO log (rev, type, key, create_rev, prev_rev, value)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
	[W_DROP_LOG] = "DELETE FROM log WHERE rev = ?1",
	[W_META] = "UPDATE meta SET rev = ?1 WHERE id = 0",
	/* a step: the revisions after the last step's, but no key's current value */
	[W_COMPACT_LOG] = ("DELETE FROM log WHERE rev > ?2 AND rev <= ?1 AND NOT EXISTS"
			   " (SELECT 1 FROM kv WHERE kv.key = log.key AND kv.mod_rev = log.rev)"),
	[W_COMPACT_META] = "UPDATE meta SET compacted = ?1 WHERE id = 0",
};

enum {
	R_BEGIN,
	R_END,
	R_META,
	R_GET,
	R_RANGE_FROM,
	R_RANGE_AFTER,
	R_LOG,
	R_COUNT,
};

static const char *const read_sql[R_COUNT] = {
	[R_BEGIN] = "BEGIN",
	[R_END] = "COMMIT",
	[R_META] = "SELECT rev, compacted FROM meta WHERE id = 0",
	/*
	 * kv first (a LEFT JOIN keeps the order), in key order, each row finding its value by
	 * revision; a NULL value is a row missing from the log, reported, never skipped
	 */
	[R_GET] = ("SELECT kv.create_rev, kv.mod_rev, log.value FROM kv LEFT JOIN log"
		   " ON log.rev = kv.mod_rev WHERE kv.key = ?1"),
	[R_RANGE_FROM] = ("SELECT kv.key, kv.create_rev, kv.mod_rev, log.value FROM kv LEFT JOIN"
			  " log ON log.rev = kv.mod_rev WHERE kv.key >= ?1 ORDER BY kv.key"),
	[R_RANGE_AFTER] = ("SELECT kv.key, kv.create_rev, kv.mod_rev, log.value FROM kv LEFT JOIN"
			   " log ON log.rev = kv.mod_rev WHERE kv.key > ?1 ORDER BY kv.key"),
	[R_LOG] = ("SELECT rev, type, key, create_rev, prev_rev, value FROM log"
		   " WHERE rev > ?1 ORDER BY rev LIMIT ?2"),
};

struct conn {
	sqlite3 *db;
	sqlite3_stmt **st;
	size_t nst;
	struct conn *next; /* in the pool of idle readers */
};

/* One queued write, on its caller's stack until the writer marks it done. */
struct req {
	const struct store_op *op;
	struct req *next;
	/*
	 * Posted by the writer once the request is done, without the queue's lock: a
	 * woken caller goes on at once instead of waiting for the writer to let go of the
	 * lock it is still waking the rest of the batch under.
	 */
	sem_t done;
	int r;
	struct err err;
	int64_t rev;
	int64_t create_rev; /* of the key, for the watch */
	int64_t prev_rev;
	char *old; /* DELETE: the bytes deleted, for the log and the watch */
	size_t old_len;
	struct store_kv *current; /* filled on -EEXIST/-ESTALE when not NULL */
};

struct sq_store {
	struct store base;
	char *path;

	/*
	 * Held by the writer from BEGIN until its callbacks return; guards the write
	 * connection, rev, compacted and the watch registration.
	 */
	pthread_mutex_t commit_lock;
	struct conn w;
	int64_t rev;
	int64_t compacted;
	store_watch_fn watch_fn;
	void *watch_arg;
	int64_t watch_after;

	/* the queue */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* the writer waits for work */
	struct req *head, **tail;
	bool stopping;
	/*
	 * Compaction asked for, run by the writer a step at a time between batches (under
	 * lock): the revision to trim up to, the revision trimmed so far, the failure of a
	 * step (left for the caller that asked), and the cond its callers wait on.
	 */
	int64_t compact_to;
	int64_t compact_done;
	struct err compact_err;
	pthread_cond_t compact_cond;
	bool writer_started;
	pthread_t writer;

	pthread_mutex_t pool_lock;
	struct conn *idle;

	/* the checkpointer: wanted under lock, woken through its cond */
	struct conn ckpt;
	pthread_cond_t ckpt_cond;
	bool ckpt_wanted;
	bool ckpt_running; /* a passive checkpoint is under way */
	bool truncating;   /* the writer's checkpoint is waiting or under way: no passive one */
	bool ckpt_started;
	/* the writer's truncating checkpoints: its thread only */
	bool truncate_due;
	int64_t truncate_after; /* monotonic ms */
	pthread_t ckpt_thread;
};

static int sq_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_TOOBIG:
		return E2BIG;
	case SQLITE_CANTOPEN:
		return ENOENT;
	default:
		return EIO;
	}
}

static int sq_err(sqlite3 *db, int rc, struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "action: sqlite's message", with an errno chosen from SQLite's result code */
static int sq_err(sqlite3 *db, int rc, struct err *err, const char *fmt, ...)
{
	cleanup_free char *what = NULL;
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return err_set(err, sq_code(rc), "%s: %s", what,
		       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void st_done(sqlite3_stmt *st)
{
	/* an unreset statement keeps its read snapshot and would hold back checkpoints */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Runs a statement without result rows. */
static int st_run(struct conn *c, int i)
{
	int rc = sqlite3_step(c->st[i]);

	st_done(c->st[i]);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void conn_close(struct conn *c)
{
	for (size_t i = 0; i < c->nst; i++)
		sqlite3_finalize(c->st[i]);
	free(c->st);
	c->st = NULL;
	c->nst = 0;
	sqlite3_close_v2(c->db);
	c->db = NULL;
}

static int conn_open(struct conn *c, const char *path, int flags, const char *const *sql,
		     size_t nsql, const char *setup, struct err *err)
{
	int rc;

	rc = sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sq_err(c->db, rc, err, "open database '%s'", path);
		sqlite3_close_v2(c->db);
		c->db = NULL;
		return -err->code;
	}
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_exec(c->db, setup, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sq_err(c->db, rc, err, "set up database '%s'", path);
		conn_close(c);
		return -err->code;
	}
	c->st = xcalloc(nsql, sizeof(*c->st));
	c->nst = nsql;
	for (size_t i = 0; i < nsql; i++) {
		rc = sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			sq_err(c->db, rc, err, "prepare '%s' on '%s'", sql[i], path);
			conn_close(c);
			return -err->code;
		}
	}
	return 0;
}

static int reader_get(struct sq_store *s, struct conn **ret, struct err *err)
{
	struct conn *c;
	int r;

	pthread_mutex_lock(&s->pool_lock);
	c = s->idle;
	if (c)
		s->idle = c->next;
	pthread_mutex_unlock(&s->pool_lock);
	if (c) {
		*ret = c;
		return 0;
	}
	c = xcalloc(1, sizeof(*c));
	r = conn_open(c, s->path, SQLITE_OPEN_READWRITE, read_sql, R_COUNT, "PRAGMA query_only = 1",
		      err);
	if (r < 0) {
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

static void reader_put(struct sq_store *s, struct conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next = s->idle;
	s->idle = c;
	pthread_mutex_unlock(&s->pool_lock);
}

static const char *col_blob(sqlite3_stmt *st, int i, size_t *len)
{
	const char *p = sqlite3_column_blob(st, i);

	*len = (size_t)sqlite3_column_bytes(st, i);
	/* SQLite gives NULL for an empty blob */
	return p ? p : "";
}

/* A key whose revision has no row in the log: the database lost what it held. */
static int lost_value(struct err *err, const char *key, int64_t mod_rev)
{
	return err_set(err, EIO, "'%s': its value at revision %lld is missing from the store's log",
		       key, (long long)mod_rev);
}

/* Copies a row of (create_rev, mod_rev, value) for @key into @kv; -EIO for no value. */
static int row_to_kv(sqlite3_stmt *st, const char *key, struct store_kv *kv, struct err *err)
{
	size_t len;
	const char *v;

	if (sqlite3_column_type(st, 2) == SQLITE_NULL)
		return lost_value(err, key, sqlite3_column_int64(st, 1));
	v = col_blob(st, 2, &len);
	store_kv_set(kv, key, strlen(key), v, len, sqlite3_column_int64(st, 0),
		     sqlite3_column_int64(st, 1));
	return 0;
}

static const char *op_verb(enum store_op_kind kind)
{
	switch (kind) {
	case STORE_CREATE:
		return "create";
	case STORE_UPDATE:
		return "update";
	case STORE_DELETE:
		return "delete";
	}
	return "apply";
}

/*
 * In the writer's transaction: the value @key holds at @mod_rev, copied (NUL-terminated)
 * into *ret. 0; -EIO with the op's error when the log lacks it; an SQLite result code
 * (positive) when reading fails.
 */
static int writer_value(struct sq_store *s, struct req *q, int64_t mod_rev, char **ret,
			size_t *ret_len)
{
	sqlite3_stmt *st = s->w.st[W_VALUE];
	const char *v;
	size_t len;
	int rc;

	sqlite3_bind_int64(st, 1, mod_rev);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		st_done(st);
		if (rc == SQLITE_DONE)
			return lost_value(&q->err, q->op->key, mod_rev);
		return rc;
	}
	v = col_blob(st, 0, &len);
	*ret = xmalloc(len + 1);
	memcpy(*ret, v, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	st_done(st);
	return 0;
}

/* The key's current state for a caller that asked (q->current) after a failed compare. */
static int report_current(struct sq_store *s, struct req *q, int64_t create_rev, int64_t mod_rev)
{
	cleanup_free char *v = NULL;
	size_t len = 0;
	int rc;

	if (!q->current)
		return 0;
	rc = writer_value(s, q, mod_rev, &v, &len);
	if (rc == 0)
		store_kv_set(q->current, q->op->key, strlen(q->op->key), v, len, create_rev,
			     mod_rev);
	return rc;
}

/*
 * Checks and applies one op inside the writer's transaction. Returns 0 or the op's own
 * failure (-EEXIST, -ENOENT, -ESTALE: nothing written; -EIO: its current value is lost);
 * sets *fatal on an SQL failure, after which the batch must be rolled back.
 */
static int apply_one(struct sq_store *s, struct req *q, int64_t *rev, bool *fatal)
{
	const struct store_op *op = q->op;
	const char *value = op->value ? op->value : "";
	sqlite3_stmt *st = s->w.st[W_SELECT];
	int64_t create_rev = 0, mod_rev = 0, next = *rev + 1;
	int rc, i, type = LOG_PUT;
	bool exists;

	sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		st_done(st);
		goto fail;
	}
	exists = rc == SQLITE_ROW;
	if (exists) {
		create_rev = sqlite3_column_int64(st, 0);
		mod_rev = sqlite3_column_int64(st, 1);
	}
	st_done(st);
	if (op->kind == STORE_CREATE && exists) {
		rc = report_current(s, q, create_rev, mod_rev);
		if (rc > 0)
			goto fail;
		if (rc < 0)
			return rc;
		return err_set(&q->err, EEXIST, "create '%s': already exists", op->key);
	}
	if (op->kind != STORE_CREATE && !exists)
		return err_set(&q->err, ENOENT, "%s '%s': not found", op_verb(op->kind), op->key);
	if (op->kind != STORE_CREATE && op->expect_rev && op->expect_rev != mod_rev) {
		rc = report_current(s, q, create_rev, mod_rev);
		if (rc > 0)
			goto fail;
		if (rc < 0)
			return rc;
		return err_set(&q->err, ESTALE, "%s '%s': modified at revision %lld, not %lld",
			       op_verb(op->kind), op->key, (long long)mod_rev,
			       (long long)op->expect_rev);
	}
	if (op->kind == STORE_DELETE) {
		rc = writer_value(s, q, mod_rev, &q->old, &q->old_len);
		if (rc > 0)
			goto fail;
		if (rc < 0)
			return rc;
	}

	switch (op->kind) {
	case STORE_CREATE:
		create_rev = next;
		i = W_INSERT;
		break;
	case STORE_UPDATE:
		i = W_UPDATE;
		break;
	case STORE_DELETE:
	default:
		type = LOG_DELETE;
		value = q->old;
		i = W_DELETE;
		break;
	}
	st = s->w.st[i];
	sqlite3_bind_text(st, 1, op->key, -1, SQLITE_STATIC);
	if (i != W_DELETE)
		sqlite3_bind_int64(st, 2, next);
	rc = st_run(&s->w, i);
	if (rc != SQLITE_OK)
		goto fail;

	st = s->w.st[W_LOG];
	sqlite3_bind_int64(st, 1, next);
	sqlite3_bind_int64(st, 2, type);
	sqlite3_bind_text(st, 3, op->key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, create_rev);
	sqlite3_bind_int64(st, 5, op->kind == STORE_CREATE ? 0 : mod_rev);
	sqlite3_bind_blob64(st, 6, value, type == LOG_DELETE ? q->old_len : op->len, SQLITE_STATIC);
	rc = st_run(&s->w, W_LOG);
	if (rc != SQLITE_OK)
		goto fail;

	/* the previous value, kept past compaction only while it was current */
	if (op->kind != STORE_CREATE && mod_rev <= s->compacted) {
		sqlite3_bind_int64(s->w.st[W_DROP_LOG], 1, mod_rev);
		rc = st_run(&s->w, W_DROP_LOG);
		if (rc != SQLITE_OK)
			goto fail;
	}

	q->rev = next;
	q->create_rev = create_rev;
	q->prev_rev = op->kind == STORE_CREATE ? 0 : mod_rev;
	*rev = next;
	return 0;
fail:
	*fatal = true;
	return sq_err(s->w.db, rc, &q->err, "%s '%s'", op_verb(op->kind), op->key);
}

/* Fails every op of a rolled-back batch with @cause's code and message. */
static void fail_batch(struct req *batch, const struct err *cause)
{
	for (struct req *q = batch; q; q = q->next) {
		if (q->err.code && q->err.code != EEXIST && q->err.code != ENOENT &&
		    q->err.code != ESTALE)
			continue;
		if (q->current)
			store_kv_clear(q->current);
		err_clear(&q->err);
		q->r = err_set(&q->err, cause->code, "%s '%s': %s", op_verb(q->op->kind),
			       q->op->key, cause->msg);
	}
}

static void run_batch(struct sq_store *s, struct req *batch)
{
	cleanup_err struct err cause = ERR_INIT;
	int64_t rev = s->rev;
	bool fatal = false;
	int rc;

	rc = st_run(&s->w, W_BEGIN);
	if (rc != SQLITE_OK) {
		sq_err(s->w.db, rc, &cause, "begin transaction");
		fail_batch(batch, &cause);
		return;
	}
	for (struct req *q = batch; q && !fatal; q = q->next) {
		q->r = apply_one(s, q, &rev, &fatal);
		if (fatal)
			cause = (struct err){q->err.code, xstrdup(q->err.msg)};
	}
	if (!fatal && rev != s->rev) {
		sqlite3_bind_int64(s->w.st[W_META], 1, rev);
		rc = st_run(&s->w, W_META);
		if (rc != SQLITE_OK) {
			sq_err(s->w.db, rc, &cause, "update revision");
			fatal = true;
		}
	}
	if (!fatal) {
		rc = st_run(&s->w, W_COMMIT);
		if (rc != SQLITE_OK) {
			sq_err(s->w.db, rc, &cause, "commit");
			fatal = true;
		}
	}
	if (fatal) {
		/* a failed statement or COMMIT may already have ended the transaction */
		if (!sqlite3_get_autocommit(s->w.db))
			st_run(&s->w, W_ROLLBACK);
		fail_batch(batch, &cause);
		return;
	}
	s->rev = rev;
}

static void deliver(struct sq_store *s, struct req *batch)
{
	if (!s->watch_fn)
		return;
	for (struct req *q = batch; q; q = q->next) {
		struct store_event ev = {
			.type = q->op->kind == STORE_DELETE ? STORE_EV_DELETE : STORE_EV_PUT,
			.key = q->op->key,
			.value = q->op->kind == STORE_DELETE ? q->old : q->op->value,
			.len = q->op->kind == STORE_DELETE ? q->old_len : q->op->len,
			.rev = q->rev,
			.create_rev = q->create_rev,
			.prev_rev = q->prev_rev,
			.hint = q->op->kind == STORE_DELETE ? NULL : q->op->hint,
		};

		if (q->r < 0 || q->rev <= s->watch_after)
			continue;
		if (!ev.value)
			ev.value = "";
		s->watch_fn(s->watch_arg, &ev);
	}
}

static void compact_next(struct sq_store *s);

/*
 * On the writer's thread, between batches, s->lock held: the whole WAL copied and the file
 * emptied. The writer takes the write lock at once where the checkpointer would have to
 * win it from a writer that takes it back after every commit; the checkpointer's passive
 * copy under way is waited for, and none starts meanwhile.
 */
static void truncate_wal(struct sq_store *s)
{
	int rc;

	s->truncate_due = false;
	if (clock_mono_ms() < s->truncate_after)
		return;
	s->truncating = true;
	while (s->ckpt_running)
		pthread_cond_wait(&s->wake, &s->lock);
	pthread_mutex_unlock(&s->lock);
	sqlite3_busy_timeout(s->w.db, TRUNCATE_WAIT_MS);
	rc = sqlite3_wal_checkpoint_v2(s->w.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(s->w.db, BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK) {
		log_debug("store: truncating the WAL of '%s': %s; trying again in %d ms", s->path,
			  sqlite3_errstr(rc), TRUNCATE_RETRY_MS);
		s->truncate_after = clock_mono_ms() + TRUNCATE_RETRY_MS;
	}
	pthread_mutex_lock(&s->lock);
	s->truncating = false;
	pthread_cond_signal(&s->ckpt_cond);
}

static void *writer_main(void *arg)
{
	struct sq_store *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct req *batch, *next;

		while (!s->head && !s->stopping && s->compact_to <= s->compact_done)
			pthread_cond_wait(&s->wake, &s->lock);
		if (!s->head && s->compact_to > s->compact_done && !s->stopping) {
			compact_next(s);
			continue;
		}
		if (!s->head)
			break;
		batch = s->head;
		s->head = NULL;
		s->tail = &s->head;
		pthread_mutex_unlock(&s->lock);

		pthread_mutex_lock(&s->commit_lock);
		run_batch(s, batch);
		deliver(s, batch);
		pthread_mutex_unlock(&s->commit_lock);

		/*
		 * A request lives on its caller's stack, which the caller may leave as soon as
		 * its semaphore is posted: nothing is touched after the post (glibc's sem_post
		 * allows the semaphore's destruction once sem_wait returns). One wake-up per
		 * caller of this batch, none for those queued behind it.
		 */
		for (struct req *q = batch; q; q = next) {
			next = q->next;
			sem_post(&q->done);
		}
		pthread_mutex_lock(&s->lock);
		if (s->truncate_due && !s->stopping)
			truncate_wal(s);
		/* a step of a compaction asked for, before the next batch */
		if (s->compact_to > s->compact_done && !s->stopping)
			compact_next(s);
	}
	/* a compaction still asked for fails: its callers must not wait for a writer gone */
	if (s->compact_to > s->compact_done) {
		err_clear(&s->compact_err);
		err_set(&s->compact_err, ESHUTDOWN, "compact store: the store is closing");
		s->compact_done = s->compact_to;
		pthread_cond_broadcast(&s->compact_cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* SQLite calls this after each commit (on the writer's thread), with the write lock released. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *s = arg;

	(void)db;
	(void)name;
	if (pages >= TRUNCATE_PAGES)
		s->truncate_due = true;
	if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&s->lock);
		s->ckpt_wanted = true;
		pthread_cond_signal(&s->ckpt_cond);
		pthread_mutex_unlock(&s->lock);
	}
	return SQLITE_OK;
}

static void *checkpoint_main(void *arg)
{
	struct sq_store *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while ((!s->ckpt_wanted || s->truncating) && !s->stopping)
			pthread_cond_wait(&s->ckpt_cond, &s->lock);
		if (s->stopping)
			break;
		s->ckpt_wanted = false;
		s->ckpt_running = true;
		pthread_mutex_unlock(&s->lock);
		/* a failure (a reader still on old frames) is retried at the next wake-up */
		sqlite3_wal_checkpoint_v2(s->ckpt.db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&s->lock);
		s->ckpt_running = false;
		/* the writer may wait for this copy to end */
		if (s->truncating)
			pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int sq_apply(struct store *base, const struct store_op *op, int64_t *rev,
		    struct store_kv *current, struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct req q = {.op = op, .current = current};

	sem_init(&q.done, 0, 0);
	pthread_mutex_lock(&s->lock);
	*s->tail = &q;
	s->tail = &q.next;
	pthread_mutex_unlock(&s->lock);
	pthread_cond_signal(&s->wake);
	while (sem_wait(&q.done) < 0)
		; /* EINTR: a signal handler ran */
	sem_destroy(&q.done);

	free(q.old);
	if (q.r < 0) {
		*err = q.err;
		return q.r;
	}
	if (rev)
		*rev = q.rev;
	return 0;
}

static int read_meta(struct conn *c, int64_t *rev, int64_t *compacted, struct err *err)
{
	sqlite3_stmt *st = c->st[R_META];
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW) {
		st_done(st);
		if (rc == SQLITE_DONE)
			return err_set(err, EIO, "read store revision: no meta row");
		return sq_err(c->db, rc, err, "read store revision");
	}
	*rev = sqlite3_column_int64(st, 0);
	*compacted = sqlite3_column_int64(st, 1);
	st_done(st);
	return 0;
}

static int sq_revision(struct store *base, int64_t *rev, int64_t *compacted, struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct conn *c;
	int64_t r1, c1;
	int r;

	r = reader_get(s, &c, err);
	if (r < 0)
		return r;
	r = read_meta(c, &r1, &c1, err);
	reader_put(s, c);
	if (r < 0)
		return r;
	if (rev)
		*rev = r1;
	if (compacted)
		*compacted = c1;
	return 0;
}

static int sq_get(struct store *base, const char *key, struct store_kv *ret, struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	sqlite3_stmt *st;
	struct conn *c;
	int r, rc;

	r = reader_get(s, &c, err);
	if (r < 0)
		return r;
	st = c->st[R_GET];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = row_to_kv(st, key, ret, err);
	else if (rc == SQLITE_DONE)
		r = err_set(err, ENOENT, "get '%s': not found", key);
	else
		r = sq_err(c->db, rc, err, "get '%s'", key);
	st_done(st);
	reader_put(s, c);
	return r;
}

static int read_range(struct conn *c, const char *prefix, const char *after, size_t limit,
		      struct store_kvs *out, int64_t *rev, struct err *err)
{
	size_t plen = strlen(prefix), cap = 0;
	int64_t compacted;
	sqlite3_stmt *st;
	int r, rc;

	r = read_meta(c, rev, &compacted, err);
	if (r < 0)
		return r;
	/* start at the greater bound; the prefix ends the scan below, in key order */
	if (after && strcmp(after, prefix) >= 0) {
		st = c->st[R_RANGE_AFTER];
		sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
	} else {
		st = c->st[R_RANGE_FROM];
		sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	}
	while (!limit || out->n < limit) {
		const char *key, *v;
		size_t len;

		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			r = sq_err(c->db, rc, err, "list '%s'", prefix);
			break;
		}
		key = (const char *)sqlite3_column_text(st, 0);
		if (strncmp(key, prefix, plen) != 0)
			break;
		if (sqlite3_column_type(st, 3) == SQLITE_NULL) {
			r = lost_value(err, key, sqlite3_column_int64(st, 2));
			break;
		}
		v = col_blob(st, 3, &len);
		store_kv_set(store_kvs_push(out, &cap), key, (size_t)sqlite3_column_bytes(st, 0), v,
			     len, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	}
	st_done(st);
	return r;
}

static int sq_range(struct store *base, const char *prefix, const char *after, size_t limit,
		    struct store_kvs *ret, int64_t *rev, struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	struct store_kvs out = {0};
	struct conn *c;
	int64_t r1 = 0;
	int r, rc;

	r = reader_get(s, &c, err);
	if (r < 0)
		return r;
	/* one read transaction: the revision and the keys come from the same snapshot */
	rc = st_run(c, R_BEGIN);
	if (rc != SQLITE_OK)
		r = sq_err(c->db, rc, err, "list '%s'", prefix);
	else
		r = read_range(c, prefix, after, limit, &out, &r1, err);
	if (!sqlite3_get_autocommit(c->db))
		st_run(c, R_END);
	reader_put(s, c);
	if (r < 0) {
		store_kvs_clear(&out);
		return r;
	}
	*ret = out;
	if (rev)
		*rev = r1;
	return 0;
}

/*
 * Delivers logged changes after *last, up to REPLAY_CHUNK of them, from one snapshot;
 * *n receives how many. -EOVERFLOW when compaction has passed *last.
 */
static int replay_chunk(struct conn *c, int64_t *last, store_watch_fn fn, void *arg, size_t *n,
			struct err *err)
{
	sqlite3_stmt *st = c->st[R_LOG];
	int64_t rev, compacted;
	int r, rc;

	*n = 0;
	rc = st_run(c, R_BEGIN);
	if (rc != SQLITE_OK)
		return sq_err(c->db, rc, err, "replay changes");
	r = read_meta(c, &rev, &compacted, err);
	if (r == 0 && *last < compacted)
		r = err_set(err, EOVERFLOW,
			    "watch from revision %lld: history compacted up to revision %lld",
			    (long long)*last, (long long)compacted);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, *last);
		sqlite3_bind_int64(st, 2, REPLAY_CHUNK);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			size_t len;
			const char *v = col_blob(st, 5, &len);
			struct store_event ev = {
				.type = sqlite3_column_int64(st, 1) == LOG_DELETE ? STORE_EV_DELETE
										  : STORE_EV_PUT,
				.key = (const char *)sqlite3_column_text(st, 2),
				.value = v,
				.len = len,
				.rev = sqlite3_column_int64(st, 0),
				.create_rev = sqlite3_column_int64(st, 3),
				.prev_rev = sqlite3_column_int64(st, 4),
			};

			fn(arg, &ev);
			*last = ev.rev;
			(*n)++;
		}
		if (rc != SQLITE_DONE)
			r = sq_err(c->db, rc, err, "replay changes");
		st_done(st);
	}
	if (!sqlite3_get_autocommit(c->db))
		st_run(c, R_END);
	return r;
}

static int replay(struct conn *c, int64_t *last, store_watch_fn fn, void *arg, struct err *err)
{
	size_t n;
	int r;

	do
		r = replay_chunk(c, last, fn, arg, &n, err);
	while (r == 0 && n == REPLAY_CHUNK);
	return r;
}

static int sq_watch(struct store *base, int64_t after, store_watch_fn fn, void *arg,
		    struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	int64_t last = after;
	struct conn *c;
	bool busy;
	int r;

	pthread_mutex_lock(&s->commit_lock);
	busy = s->watch_fn != NULL;
	pthread_mutex_unlock(&s->commit_lock);
	if (busy)
		return err_set(err, EBUSY, "watch store: already watched");

	r = reader_get(s, &c, err);
	if (r < 0)
		return r;
	/* the bulk of the history without holding writers up */
	r = replay(c, &last, fn, arg, err);
	if (r == 0) {
		/* what was committed meanwhile, with the writer held until we are registered */
		pthread_mutex_lock(&s->commit_lock);
		r = replay(c, &last, fn, arg, err);
		if (r == 0 && s->watch_fn)
			r = err_set(err, EBUSY, "watch store: already watched");
		if (r == 0) {
			s->watch_fn = fn;
			s->watch_arg = arg;
			s->watch_after = last;
		}
		pthread_mutex_unlock(&s->commit_lock);
	}
	reader_put(s, c);
	return r;
}

/* The writer delivers every change it commits: a watch never ends before the store. */
static int sq_watch_status(struct store *base, struct err *err)
{
	(void)base;
	(void)err;
	return 0;
}

/*
 * Removes the log up to @upto, but for every key's current value, in one transaction
 * under the commit lock: 0, or the failure (nothing removed).
 */
static int compact_step(struct sq_store *s, int64_t upto, struct err *err)
{
	int r = 0, rc;

	pthread_mutex_lock(&s->commit_lock);
	if (upto <= s->compacted)
		goto out;
	rc = st_run(&s->w, W_BEGIN);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s->w.st[W_COMPACT_LOG], 1, upto);
		sqlite3_bind_int64(s->w.st[W_COMPACT_LOG], 2, s->compacted);
		rc = st_run(&s->w, W_COMPACT_LOG);
	}
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s->w.st[W_COMPACT_META], 1, upto);
		rc = st_run(&s->w, W_COMPACT_META);
	}
	if (rc == SQLITE_OK)
		rc = st_run(&s->w, W_COMMIT);
	if (rc != SQLITE_OK) {
		r = sq_err(s->w.db, rc, err, "compact store to revision %lld", (long long)upto);
		if (!sqlite3_get_autocommit(s->w.db))
			st_run(&s->w, W_ROLLBACK);
		goto out;
	}
	s->compacted = upto;
out:
	pthread_mutex_unlock(&s->commit_lock);
	return r;
}

/*
 * The writer's step of a compaction asked for (called and returning with s->lock held,
 * dropped meanwhile): at most COMPACT_STEP revisions, so a batch queued meanwhile waits
 * for one short transaction, not for the whole history.
 */
static void compact_next(struct sq_store *s)
{
	int64_t from = s->compact_done, to = s->compact_to;
	int64_t upto = to - from > COMPACT_STEP ? from + COMPACT_STEP : to;
	struct err err = ERR_INIT;
	int r;

	pthread_mutex_unlock(&s->lock);
	r = compact_step(s, upto, &err);
	pthread_mutex_lock(&s->lock);
	if (r < 0) {
		/* the request fails as a whole; a later one starts from what was trimmed */
		err_clear(&s->compact_err);
		s->compact_err = err;
		s->compact_to = s->compact_done;
		pthread_cond_broadcast(&s->compact_cond);
		return;
	}
	s->compact_done = upto;
	if (upto >= s->compact_to)
		pthread_cond_broadcast(&s->compact_cond);
}

/*
 * Trims the log up to @rev. The writer does it in steps of COMPACT_STEP revisions, each
 * its own transaction moving the compacted revision along, taking the writes queued
 * meanwhile between steps: one DELETE of hundreds of thousands of rows held every write
 * back for seconds. A reader sees history either still there or answered as compacted,
 * never a gap.
 */
static int sq_compact(struct store *base, int64_t rev, struct err *err)
{
	struct sq_store *s = (struct sq_store *)base;
	int64_t cur;
	int r = 0;

	pthread_mutex_lock(&s->commit_lock);
	cur = s->rev;
	pthread_mutex_unlock(&s->commit_lock);
	if (rev > cur)
		return err_set(err, EINVAL,
			       "compact store to revision %lld: beyond the current %lld",
			       (long long)rev, (long long)cur);
	pthread_mutex_lock(&s->lock);
	if (s->stopping || !s->writer_started) {
		pthread_mutex_unlock(&s->lock);
		return err_set(err, ESHUTDOWN, "compact store: the store is closing");
	}
	if (rev > s->compact_to) {
		if (s->compact_to <= s->compact_done)
			err_clear(&s->compact_err);
		s->compact_to = rev;
		pthread_cond_signal(&s->wake);
	}
	while (s->compact_done < rev && !s->compact_err.code)
		pthread_cond_wait(&s->compact_cond, &s->lock);
	if (s->compact_done < rev && s->compact_err.code)
		r = err_set(err, s->compact_err.code, "%s", s->compact_err.msg);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void sq_close(struct store *base)
{
	struct sq_store *s = (struct sq_store *)base;

	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_cond_signal(&s->ckpt_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->writer_started)
		pthread_join(s->writer, NULL);
	if (s->ckpt_started)
		pthread_join(s->ckpt_thread, NULL);
	if (s->ckpt.db)
		conn_close(&s->ckpt);
	while (s->idle) {
		struct conn *c = s->idle;

		s->idle = c->next;
		conn_close(c);
		free(c);
	}
	if (s->w.db)
		conn_close(&s->w);
	pthread_mutex_destroy(&s->commit_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->compact_cond);
	err_clear(&s->compact_err);
	pthread_cond_destroy(&s->ckpt_cond);
	free(s->path);
	free(s);
}

static const struct store_ops sq_ops = {
	.name = "sqlite",
	.close = sq_close,
	.revision = sq_revision,
	.get = sq_get,
	.range = sq_range,
	.apply = sq_apply,
	.watch = sq_watch,
	.watch_status = sq_watch_status,
	.compact = sq_compact,
};

/*
 * A database written while kv kept a copy of each current value: the values go to the log
 * (compaction may have removed their rows there; a revision older than the compacted one
 * is never replayed, so the unknown previous revision is left 0) and kv loses the column,
 * in one transaction.
 */
static const char convert_sql[] =
	"BEGIN IMMEDIATE;"
	"INSERT OR IGNORE INTO log (rev, type, key, create_rev, prev_rev, value)"
	" SELECT mod_rev, " LOG_PUT_SQL ", key, create_rev, 0, value FROM kv;"
	/* kv as setup_sql makes it, without the value column */
	"CREATE TABLE kv_new" KV_COLUMNS
	/* the revisions only */
	"INSERT INTO kv_new (key, create_rev, mod_rev) SELECT key, create_rev, mod_rev FROM kv;"
	"DROP TABLE kv;"
	"ALTER TABLE kv_new RENAME TO kv;"
	"COMMIT;";

/* Converts a database whose kv has a value column (see convert_sql): 0, or the failure. */
static int convert_kv(struct sq_store *s, struct err *err)
{
	sqlite3_stmt *st = NULL;
	bool old;
	int rc;

	rc = sqlite3_prepare_v3(s->w.db,
				"SELECT 1 FROM pragma_table_info('kv') WHERE name = 'value'", -1, 0,
				&st, NULL);
	if (rc != SQLITE_OK)
		return sq_err(s->w.db, rc, err, "read the tables of '%s'", s->path);
	rc = sqlite3_step(st);
	old = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_err(s->w.db, rc, err, "read the tables of '%s'", s->path);
	if (!old)
		return 0;
	log_info("store: '%s': keeping each value once, in the log (once for this database)",
		 s->path);
	rc = sqlite3_exec(s->w.db, convert_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sq_err(s->w.db, rc, err, "convert '%s' to values kept once", s->path);
		if (!sqlite3_get_autocommit(s->w.db))
			sqlite3_exec(s->w.db, "ROLLBACK", NULL, NULL, NULL);
		return -err->code;
	}
	return 0;
}

static int load_meta(struct sq_store *s, struct err *err)
{
	struct conn *c;
	int r;

	r = reader_get(s, &c, err);
	if (r < 0)
		return r;
	r = read_meta(c, &s->rev, &s->compacted, err);
	s->compact_to = s->compact_done = s->compacted;
	reader_put(s, c);
	return r;
}

/*
 * Reads the database file through once, in large sequential reads, when it is at most a
 * quarter of the machine's memory. The cache's first load then visits each key's value,
 * which the log keeps in the order it was written, all over the file: with the file in the
 * page cache that is memory's speed, otherwise a random read each. 150,000 values of 3 KB
 * (a 1.8 GiB file) loaded in 14.3 s from a cold page cache, against 3.4 s for this read and
 * 2.7 s for the load after it; a file already cached costs about 0.1 s.
 */
static void prefetch(const char *path)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	cleanup_free char *buf = NULL;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && pages > 0 && page > 0 &&
	    (uint64_t)st.st_size <= (uint64_t)pages * (uint64_t)page / 4) {
		buf = xmalloc(PREFETCH_CHUNK);
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		while (read(fd, buf, PREFETCH_CHUNK) > 0)
			;
	}
	close(fd);
}

int store_sqlite_open(const char *path, struct store **ret, struct err *err)
{
	struct sq_store *s;
	int r;

	r = store_sqlite_load(err);
	if (r < 0)
		return err_wrap(err, "open store '%s'", path);

	s = xcalloc(1, sizeof(*s));
	s->base.ops = &sq_ops;
	s->path = xstrdup(path);
	s->tail = &s->head;
	prefetch(path);
	pthread_mutex_init(&s->commit_lock, NULL);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->compact_cond, NULL);
	pthread_cond_init(&s->ckpt_cond, NULL);

	/*
	 * WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at every
	 * commit, so an acknowledged write survives a crash or power loss.
	 */
	r = conn_open(&s->w, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, write_sql, W_COUNT,
		      setup_sql, err);
	if (r == 0)
		r = convert_kv(s, err);
	if (r == 0)
		r = load_meta(s, err);
	if (r == 0)
		/*
		 * A connection that has not read the database yet is not in WAL mode, and
		 * its checkpoints do nothing (reporting success): read the header first
		 */
		r = conn_open(&s->ckpt, path, SQLITE_OPEN_READWRITE, NULL, 0,
			      "PRAGMA schema_version;", err);
	if (r == 0) {
		sqlite3_wal_autocheckpoint(s->w.db, 0);
		sqlite3_wal_hook(s->w.db, wal_hook, s);
		r = -pthread_create(&s->ckpt_thread, NULL, checkpoint_main, s);
		if (r == 0)
			pthread_setname_np(s->ckpt_thread, "store-ckpt");
		if (r < 0)
			err_errno(err, -r, "start the checkpointer of '%s'", path);
		else
			s->ckpt_started = true;
	}
	if (r == 0) {
		r = -pthread_create(&s->writer, NULL, writer_main, s);
		if (r == 0)
			pthread_setname_np(s->writer, "store-writer");
		if (r < 0)
			err_errno(err, -r, "start the writer of '%s'", path);
		else
			s->writer_started = true;
	}
	if (r < 0) {
		sq_close(&s->base);
		return r;
	}
	*ret = &s->base;
	return 0;
}
