/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Informers: a local copy of one collection, kept by list + watch on a thread of its
 * own, which also calls the handlers, so they see every change once and in order.
 *
 * The list is read in pages of 500; the watch starts from the list's resourceVersion
 * with bookmarks, and every event and bookmark advances the revision the next watch
 * resumes from. A 410 Gone (the server's history no longer reaches back that far) means
 * a relist, after which the handlers get the differences from the local copy: adds,
 * updates and deletes. Failures back off from 200 ms to 30 s.
 *
 * The server may repeat a change (a watch from a paginated list's revision replays
 * changes to objects that later pages already showed): an event older than the cached
 * version of its object is skipped, comparing revisions as numbers, which skiff's are.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

#define PAGE_SIZE          500
#define BACKOFF_INITIAL_MS 200
#define BACKOFF_MAX_MS     30000

struct informer {
	struct kc *c;
	char *path;
	struct informer_handlers h;
	pthread_t thread;
	struct kc_cancel cancel;

	pthread_mutex_t lock; /* objs, synced; cond signals synced and stop */
	pthread_cond_t cond;
	struct kc_map objs; /* key -> json_t * (a reference); written by the thread only */
	bool synced;
	atomic_bool stop;

	/* the informer's thread only */
	char *rv;            /* the revision to resume watching from */
	bool relist;         /* the watch got 410 Gone */
	bool watch_failed;   /* the watch got another ERROR event */
	size_t watch_events; /* events of the current watch */
	int64_t backoff_ms;
};

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* A revision as a number, or -1 when it is not one. */
static long long rv_num(const char *rv)
{
	char *end;
	long long v;

	if (!rv || !*rv)
		return -1;
	v = strtoll(rv, &end, 10);
	return *end ? -1 : v;
}

/* Whether @obj is older than @cached (by revision; unknown orders count as newer). */
static bool older(const json_t *obj, const json_t *cached, bool or_same)
{
	long long a = rv_num(rv_of(obj)), b = rv_num(rv_of(cached));

	if (a < 0 || b < 0)
		return false;
	return or_same ? a <= b : a < b;
}

static void set_rv(struct informer *inf, const char *rv)
{
	if (!rv || !*rv)
		return;
	free(inf->rv);
	inf->rv = xstrdup(rv);
}

static void call_add(struct informer *inf, json_t *obj)
{
	if (inf->h.add)
		inf->h.add(inf->h.arg, obj);
}

static void call_update(struct informer *inf, json_t *old, json_t *obj)
{
	if (inf->h.update)
		inf->h.update(inf->h.arg, old, obj);
}

static void call_del(struct informer *inf, json_t *obj)
{
	if (inf->h.del)
		inf->h.del(inf->h.arg, obj);
}

static bool stopping(struct informer *inf)
{
	return atomic_load(&inf->stop);
}

/* Sleeps for the backoff (woken by informer_stop) and doubles it. */
static void backoff(struct informer *inf)
{
	struct timespec ts;

	inf->backoff_ms = inf->backoff_ms ? inf->backoff_ms * 2 : BACKOFF_INITIAL_MS;
	if (inf->backoff_ms > BACKOFF_MAX_MS)
		inf->backoff_ms = BACKOFF_MAX_MS;
	kc_deadline(&ts, inf->backoff_ms);
	pthread_mutex_lock(&inf->lock);
	while (!stopping(inf))
		if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&inf->lock);
}

/* Watch events. */

static void on_put(struct informer *inf, json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	json_t *old;

	pthread_mutex_lock(&inf->lock);
	old = kc_map_get(&inf->objs, key);
	if (old && older(obj, old, true)) {
		pthread_mutex_unlock(&inf->lock);
		return;
	}
	kc_map_put(&inf->objs, key, json_incref(obj));
	pthread_mutex_unlock(&inf->lock);
	if (old)
		call_update(inf, old, obj);
	else
		call_add(inf, obj);
	json_decref(old);
}

static void on_delete(struct informer *inf, json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	json_t *old;

	pthread_mutex_lock(&inf->lock);
	old = kc_map_get(&inf->objs, key);
	/* a deletion is at least as new as the version it removes */
	if (!old || older(obj, old, false)) {
		pthread_mutex_unlock(&inf->lock);
		return;
	}
	kc_map_del(&inf->objs, key);
	pthread_mutex_unlock(&inf->lock);
	call_del(inf, obj);
	json_decref(old);
}

static int on_event(void *arg, const char *type, json_t *obj)
{
	struct informer *inf = arg;

	if (stopping(inf))
		return -1;
	inf->watch_events++;
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));

		if (code == 410)
			inf->relist = true;
		else
			inf->watch_failed = true;
		log_debug("client: watch %s: %s%s", inf->path, msg ? msg : "error",
			  code == 410 ? ", relisting" : ", retrying");
		return -1;
	}
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		on_put(inf, obj);
	else if (strcmp(type, "DELETED") == 0)
		on_delete(inf, obj);
	else if (strcmp(type, "BOOKMARK") != 0)
		return 0;
	set_rv(inf, rv_of(obj));
	return 0;
}

/* Lists. */

static void put_item(struct kc_map *m, json_t *item, const char *kind, const char *api_version)
{
	cleanup_free char *key = kc_key(item);

	/* list items may come without their type; handlers (and events) want it */
	if (kind && !json_object_get(item, "kind"))
		json_object_set_new(item, "kind", json_string(kind));
	if (api_version && !json_object_get(item, "apiVersion"))
		json_object_set_new(item, "apiVersion", json_string(api_version));
	json_decref(kc_map_put(m, key, json_incref(item)));
}

static void free_value(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	json_decref(value);
}

static int list_all(struct informer *inf, struct kc_map *out, char **ret_rv, struct err *err)
{
	const char *sep = strchr(inf->path, '?') ? "&" : "?";
	cleanup_free char *cont = NULL;
	cleanup_free char *rv = NULL;

	do {
		cleanup_free char *esc = cont ? kc_escape(cont) : NULL;
		cleanup_free char *target = xasprintf("%s%slimit=%d%s%s", inf->path, sep, PAGE_SIZE,
						      esc ? "&continue=" : "", esc ? esc : "");
		cleanup_json json_t *doc = NULL;
		json_t *meta, *items, *item;
		const char *kind, *next;
		cleanup_free char *item_kind = NULL;
		size_t i;
		int r;

		r = kc_request(inf->c, "GET", target, NULL, NULL, &doc, err);
		if (r < 0)
			return r;
		if (r != 200)
			return -err->code;
		meta = json_object_get(doc, "metadata");
		items = json_object_get(doc, "items");
		if (!json_is_array(items))
			return err_set(err, EPROTO, "list %s: no items in the response", inf->path);
		if (!rv)
			rv = xstrdup(json_string_value(json_object_get(meta, "resourceVersion"))
					     ?: "");
		kind = json_string_value(json_object_get(doc, "kind"));
		if (kind && strlen(kind) > 4 && strcmp(kind + strlen(kind) - 4, "List") == 0)
			item_kind = xstrndup(kind, strlen(kind) - 4);
		json_array_foreach (items, i, item)
			put_item(out, item, item_kind,
				 json_string_value(json_object_get(doc, "apiVersion")));
		next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = next && *next ? xstrdup(next) : NULL;
	} while (cont);
	*ret_rv = TAKE_PTR(rv);
	return 0;
}

struct diff {
	struct informer *inf;
	struct kc_map *other;
};

static void deliver_new(void *arg, const char *key, void *value)
{
	struct diff *d = arg;
	json_t *old = kc_map_get(d->other, key);
	const char *a = rv_of(old), *b = rv_of(value);

	if (!old)
		call_add(d->inf, value);
	else if (!a || !b || strcmp(a, b) != 0)
		call_update(d->inf, old, value);
}

static void deliver_gone(void *arg, const char *key, void *value)
{
	struct diff *d = arg;

	if (!kc_map_has(d->other, key))
		call_del(d->inf, value);
}

/*
 * Installs a fresh list as the local copy and tells the handlers what changed. Only this
 * thread writes the map, so it is read here without the lock.
 */
static void replace(struct informer *inf, struct kc_map *fresh)
{
	struct kc_map old;
	struct diff d = {inf, NULL};

	pthread_mutex_lock(&inf->lock);
	old = inf->objs;
	inf->objs = *fresh;
	pthread_mutex_unlock(&inf->lock);

	d.other = &old;
	kc_map_foreach(&inf->objs, deliver_new, &d);
	d.other = &inf->objs;
	kc_map_foreach(&old, deliver_gone, &d);
	kc_map_foreach(&old, free_value, NULL);
	kc_map_done(&old);

	pthread_mutex_lock(&inf->lock);
	inf->synced = true;
	pthread_cond_broadcast(&inf->cond);
	pthread_mutex_unlock(&inf->lock);
}

static bool relist(struct informer *inf)
{
	struct kc_map fresh;
	char *rv = NULL;
	struct err err = ERR_INIT;

	kc_map_init(&fresh);
	if (list_all(inf, &fresh, &rv, &err) < 0) {
		if (!stopping(inf))
			log_debug("client: informer %s: %s, retrying", inf->path, err.msg);
		err_clear(&err);
		kc_map_foreach(&fresh, free_value, NULL);
		kc_map_done(&fresh);
		return false;
	}
	replace(inf, &fresh);
	free(inf->rv);
	inf->rv = rv;
	inf->relist = false;
	return true;
}

static void *informer_main(void *arg)
{
	struct informer *inf = arg;
	const char *sep = strchr(inf->path, '?') ? "&" : "?";

	while (!stopping(inf)) {
		cleanup_free char *target = NULL;
		struct err err = ERR_INIT;
		int r;

		if (!inf->rv || inf->relist) {
			if (!relist(inf)) {
				backoff(inf);
				continue;
			}
		}
		target = xasprintf("%s%sresourceVersion=%s", inf->path, sep, inf->rv);
		inf->watch_failed = false;
		inf->watch_events = 0;
		r = kc_watch_cancellable(inf->c, target, on_event, inf, &inf->cancel, &err);
		if (stopping(inf)) {
			err_clear(&err);
			break;
		}
		if (r == 410) {
			inf->relist = true;
		} else if (r < 0 || r != 200) {
			log_debug("client: informer %s: %s, retrying", inf->path,
				  err.msg ? err.msg : "watch failed");
		}
		err_clear(&err);
		if (inf->relist)
			inf->backoff_ms = 0;
		else if (r == 200 && !inf->watch_failed && inf->watch_events > 0)
			inf->backoff_ms = 0;
		else
			backoff(inf);
	}
	return NULL;
}

int informer_start(struct kc *c, const char *path, const struct informer_handlers *h,
		   struct informer **ret, struct err *err)
{
	struct informer *inf = xcalloc(1, sizeof(*inf));
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	inf->c = c;
	inf->path = xstrdup(path);
	if (h)
		inf->h = *h;
	pthread_mutex_init(&inf->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&inf->cond, &ca);
	pthread_condattr_destroy(&ca);
	kc_map_init(&inf->objs);
	atomic_init(&inf->stop, false);
	/* signals stay with the threads that expect them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&inf->thread, NULL, informer_main, inf);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		kc_map_done(&inf->objs);
		pthread_cond_destroy(&inf->cond);
		pthread_mutex_destroy(&inf->lock);
		free(inf->path);
		free(inf);
		return err_errno(err, r, "start informer for '%s'", path);
	}
	*ret = inf;
	return 0;
}

bool informer_synced(struct informer *inf)
{
	bool v;

	pthread_mutex_lock(&inf->lock);
	v = inf->synced;
	pthread_mutex_unlock(&inf->lock);
	return v;
}

bool informer_wait_synced(struct informer *inf, int timeout_ms)
{
	struct timespec ts;
	bool v;

	kc_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&inf->lock);
	while (!inf->synced && !stopping(inf))
		if (pthread_cond_timedwait(&inf->cond, &inf->lock, &ts) == ETIMEDOUT)
			break;
	v = inf->synced;
	pthread_mutex_unlock(&inf->lock);
	return v;
}

json_t *informer_get(struct informer *inf, const char *ns, const char *name)
{
	cleanup_free char *key = ns && *ns ? xasprintf("%s/%s", ns, name) : xstrdup(name);
	json_t *obj;

	pthread_mutex_lock(&inf->lock);
	obj = json_incref(kc_map_get(&inf->objs, key));
	pthread_mutex_unlock(&inf->lock);
	return obj;
}

struct foreach_ctx {
	void (*fn)(void *arg, json_t *obj);
	void *arg;
};

static void foreach_one(void *arg, const char *key, void *value)
{
	struct foreach_ctx *f = arg;

	(void)key;
	f->fn(f->arg, value);
}

void informer_foreach(struct informer *inf, void (*fn)(void *arg, json_t *obj), void *arg)
{
	struct foreach_ctx f = {fn, arg};

	pthread_mutex_lock(&inf->lock);
	kc_map_foreach(&inf->objs, foreach_one, &f);
	pthread_mutex_unlock(&inf->lock);
}

size_t informer_count(struct informer *inf)
{
	size_t n;

	pthread_mutex_lock(&inf->lock);
	n = inf->objs.n;
	pthread_mutex_unlock(&inf->lock);
	return n;
}

void informer_stop(struct informer *inf)
{
	if (!inf)
		return;
	pthread_mutex_lock(&inf->lock);
	atomic_store(&inf->stop, true);
	pthread_cond_broadcast(&inf->cond);
	pthread_mutex_unlock(&inf->lock);
	/* an idle watch would never return by itself */
	kc_cancel_fire(inf->c, &inf->cancel);
	pthread_join(inf->thread, NULL);
	kc_map_foreach(&inf->objs, free_value, NULL);
	kc_map_done(&inf->objs);
	free(inf->rv);
	free(inf->path);
	pthread_cond_destroy(&inf->cond);
	pthread_mutex_destroy(&inf->lock);
	free(inf);
}
