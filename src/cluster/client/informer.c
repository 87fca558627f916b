/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Informers: a local copy of one collection, kept by list + watch on a thread of its
 * own, which also calls the handlers, so they see every change once and in order.
 *
 * The list is read in pages of 500; the watch starts from the list's resourceVersion
 * with bookmarks, and every event and bookmark advances the revision the next watch
 * resumes from. A 410 Gone (the server's history no longer reaches back that far) means
 * a relist, after which the handlers get the differences from the local copy: adds,
 * updates and deletes. Failures back off from 200 ms to 30 s. An object that another
 * takes the place of under the same name (another uid, whether a relist or a watch that
 * missed the deletion shows it) comes as a delete and an add, so that an update's two
 * versions are always one object.
 *
 * An update's previous version is parsed again (in a compact copy) only when a handler
 * asks for it: an update_lazy handler through informer_old_get(), an update handler always.
 *
 * Informers are shared: every informer_start() on the same client and path after the
 * first adds a subscriber (a handle with its handlers) to the informer already running,
 * so that the scheduler and the controllers of one process hold one copy of each object
 * and one list+watch. A late subscriber gets an add for every object already held, from
 * the informer's thread before the next event, which is why attaching one ends the
 * current watch (the next resumes where it stopped). Handlers run on that thread, in the
 * order the subscribers came, and the last subscriber to leave stops the thread.
 *
 * The server may repeat a change (a watch from a paginated list's revision replays
 * changes to objects that later pages already showed): an event older than the cached
 * version of its object is skipped, comparing revisions as numbers, which skiff's are.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jhash.h"
#include "base/jload.h"
#include "base/log.h"
#include "base/url.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

#define PAGE_SIZE          500
#define BACKOFF_INITIAL_MS 200
#define BACKOFF_MAX_MS     30000

/* The list+watch and the copy that the subscribers of one client and path share. */
struct shared {
	struct shared *next; /* the registry; under registry_lock */
	size_t n_subs;       /* under registry_lock */
	struct kc *c;
	char *path;
	pthread_t thread;
	struct kc_cancel cancel; /* fired by informer_stop and by new subscribers */

	/* objs, synced, subs, calling; cond signals synced, stop, new subscribers and the
	 * end of each handler call */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kc_map objs; /* key -> struct entry *; written by the thread only */
	bool compact;       /* entries hold JSON text, not trees */
	/*
	 * compact informers' watch events share their objects' repeated parts (the many
	 * objects alike made from few templates), from the objects' members (metadata,
	 * spec, status) to three levels below them; the thread only
	 */
	struct jload_memo *memo;
	bool synced;
	atomic_bool stop;
	struct informer *subs;    /* in the order they came */
	struct informer *calling; /* whose handler runs now */
	uint64_t last_seq;
	unsigned lists;

	/* the informer's thread only */
	char *rv;            /* the revision to resume watching from */
	bool relist;         /* the watch got 410 Gone */
	bool watch_failed;   /* the watch got another ERROR event */
	size_t watch_events; /* events of the current watch */
	int64_t backoff_ms;
};

/* A subscriber: what informer_start() returns. */
struct informer {
	struct informer *next; /* under s->lock */
	struct shared *s;
	struct informer_handlers h;
	uint64_t seq;
	bool pending; /* waits for the adds of the objects held when it came; under s->lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared *registry;

/*
 * One object of the copy: its tree, or in a compact informer its JSON text (a 3 KB pod
 * takes about 25 KB as a tree), parsed again for whoever asks.
 */
struct entry {
	long long rv;      /* -1: not a number */
	uint64_t uid_hash; /* which object this is, without parsing the text again */
	json_t *tree;
	char *text;
	size_t len;
};

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* The digest of @obj's uid (jhash's for an absent value when it has none). */
static uint64_t uid_hash(const json_t *obj)
{
	return jhash(json_object_get(json_object_get(obj, "metadata"), "uid"));
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
static bool older(const json_t *obj, const struct entry *cached, bool or_same)
{
	long long a = rv_num(rv_of(obj)), b = cached->rv;

	if (a < 0 || b < 0)
		return false;
	return or_same ? a <= b : a < b;
}

/* @text: @obj's JSON text when at hand (a watch event's), or NULL. */
static struct entry *entry_new(const struct shared *s, json_t *obj, const char *text,
			       size_t text_len)
{
	struct entry *e = xcalloc(1, sizeof(*e));

	e->rv = rv_num(rv_of(obj));
	e->uid_hash = uid_hash(obj);
	if (!s->compact) {
		e->tree = json_incref(obj);
		return e;
	}
	if (text) {
		/* as the server sent it: no need to write the tree out again */
		e->text = xmalloc(text_len + 1);
		memcpy(e->text, text, text_len);
		e->text[text_len] = '\0';
		e->len = text_len;
		return e;
	}
	e->text = jdump_s(obj, JSON_COMPACT);
	if (!e->text)
		abort(); /* out of memory: jansson reports nothing else for an object */
	e->len = strlen(e->text);
	return e;
}

/* The object: a new reference (NULL for no entry). */
static json_t *entry_tree(const struct entry *e)
{
	json_t *t;

	if (!e)
		return NULL;
	if (e->tree)
		return json_incref(e->tree);
	t = jload_b(e->text, e->len, 0, NULL);
	if (!t)
		abort(); /* text this informer wrote: only memory can fail */
	return t;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	json_decref(e->tree);
	free(e->text);
	free(e);
}

static void set_rv(struct shared *s, const char *rv)
{
	if (!rv || !*rv)
		return;
	free(s->rv);
	s->rv = xstrdup(rv);
}

static bool stopping(struct shared *s)
{
	return atomic_load(&s->stop);
}

enum change { CHANGE_ADD, CHANGE_UPDATE, CHANGE_DEL };

/* The version an update replaces: its entry, parsed once the first handler asks. */
struct informer_old {
	const struct entry *e;
	json_t *tree;
};

json_t *informer_old_get(struct informer_old *old)
{
	if (!old->tree)
		old->tree = entry_tree(old->e);
	return old->tree;
}

static void call(struct informer *sub, enum change what, struct informer_old *old, json_t *obj)
{
	const struct informer_handlers *h = &sub->h;

	if (what == CHANGE_ADD && h->add)
		h->add(h->arg, obj);
	else if (what == CHANGE_UPDATE && h->update_lazy)
		h->update_lazy(h->arg, old, obj);
	else if (what == CHANGE_UPDATE && h->update)
		h->update(h->arg, informer_old_get(old), obj);
	else if (what == CHANGE_DEL && h->del)
		h->del(h->arg, obj);
}

/* The first subscriber after @seq that is served; under s->lock. */
static struct informer *next_ready(struct shared *s, uint64_t seq)
{
	for (struct informer *sub = s->subs; sub; sub = sub->next)
		if (sub->seq > seq && !sub->pending)
			return sub;
	return NULL;
}

/*
 * Hands a change to every subscriber in turn. The lock is dropped for each call, so
 * subscribers may come and go meanwhile: one that came waits for its initial adds (which
 * include this change), one that left is no longer in the list.
 */
static void deliver(struct shared *s, enum change what, const struct entry *old_e, json_t *obj)
{
	struct informer_old old = {old_e, NULL};
	struct informer *sub;
	uint64_t seq = 0;

	pthread_mutex_lock(&s->lock);
	while ((sub = next_ready(s, seq))) {
		seq = sub->seq;
		s->calling = sub;
		pthread_mutex_unlock(&s->lock);
		call(sub, what, &old, obj);
		pthread_mutex_lock(&s->lock);
		s->calling = NULL;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	json_decref(old.tree);
}

static struct informer *first_pending(struct shared *s)
{
	for (struct informer *sub = s->subs; sub; sub = sub->next)
		if (sub->pending)
			return sub;
	return NULL;
}

static void initial_add(void *arg, const char *key, void *value)
{
	json_t *obj = entry_tree(value);

	(void)key;
	call(arg, CHANGE_ADD, NULL, obj);
	json_decref(obj);
}

/*
 * Gives new subscribers an add for each object held. Only this thread writes the map, so
 * it is read here without the lock.
 */
static void serve_pending(struct shared *s)
{
	struct informer *sub;

	pthread_mutex_lock(&s->lock);
	while ((sub = first_pending(s))) {
		s->calling = sub;
		pthread_mutex_unlock(&s->lock);
		kc_map_foreach(&s->objs, initial_add, sub);
		pthread_mutex_lock(&s->lock);
		sub->pending = false;
		s->calling = NULL;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Sleeps for the backoff (woken by informer_stop; serving new subscribers) and doubles it. */
static void backoff(struct shared *s)
{
	struct timespec ts;

	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_INITIAL_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	clock_deadline(&ts, s->backoff_ms);
	pthread_mutex_lock(&s->lock);
	while (!stopping(s)) {
		if (first_pending(s)) {
			pthread_mutex_unlock(&s->lock);
			serve_pending(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (clock_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Hands on @obj, held as @e, which replaces @old (NULL: nothing held under its key). When
 * another object took @old's name (another uid), handlers see the old one deleted before
 * the new one is added, as a watch that saw both changes shows it, and may rely on an
 * update's two versions being one object.
 */
static void deliver_put(struct shared *s, const struct entry *old, const struct entry *e,
			json_t *obj)
{
	if (old && old->uid_hash != e->uid_hash) {
		json_t *was = entry_tree(old);

		deliver(s, CHANGE_DEL, NULL, was);
		json_decref(was);
		old = NULL;
	}
	deliver(s, old ? CHANGE_UPDATE : CHANGE_ADD, old, obj);
}

/* Watch events. */

static void on_put(struct shared *s, json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	struct entry *old, *e = NULL;

	pthread_mutex_lock(&s->lock);
	old = kc_map_get(&s->objs, key);
	if (!old || !older(obj, old, true)) {
		size_t text_len = 0;
		const char *text = kc_watch_object_text(&text_len);

		e = entry_new(s, obj, text, text_len);
	}
	if (e)
		kc_map_put(&s->objs, key, e);
	pthread_mutex_unlock(&s->lock);
	if (!e)
		return;
	deliver_put(s, old, e, obj);
	entry_free(old);
}

static void on_delete(struct shared *s, json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	struct entry *old;

	pthread_mutex_lock(&s->lock);
	old = kc_map_get(&s->objs, key);
	/* a deletion is at least as new as the version it removes */
	if (!old || older(obj, old, false)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	kc_map_del(&s->objs, key);
	pthread_mutex_unlock(&s->lock);
	deliver(s, CHANGE_DEL, NULL, obj);
	entry_free(old);
}

static int on_event(void *arg, const char *type, json_t *obj)
{
	struct shared *s = arg;

	if (stopping(s))
		return -1;
	serve_pending(s);
	s->watch_events++;
	if (strcmp(type, "ERROR") == 0) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));

		if (code == 410)
			s->relist = true;
		else
			s->watch_failed = true;
		log_debug("client: watch %s: %s%s", s->path, msg ? msg : "error",
			  code == 410 ? ", relisting" : ", retrying");
		return -1;
	}
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		on_put(s, obj);
	else if (strcmp(type, "DELETED") == 0)
		on_delete(s, obj);
	else if (strcmp(type, "BOOKMARK") != 0)
		return 0;
	set_rv(s, rv_of(obj));
	return 0;
}

/* Lists. */

static void put_item(const struct shared *s, struct kc_map *m, json_t *item, const char *kind,
		     const char *api_version)
{
	cleanup_free char *key = kc_key(item);

	/* list items may come without their type; handlers (and events) want it */
	if (kind && !json_object_get(item, "kind"))
		json_object_set_new(item, "kind", json_string(kind));
	if (api_version && !json_object_get(item, "apiVersion"))
		json_object_set_new(item, "apiVersion", json_string(api_version));
	entry_free(kc_map_put(m, key, entry_new(s, item, NULL, 0)));
}

static void free_value(void *arg, const char *key, void *value)
{
	(void)arg;
	(void)key;
	entry_free(value);
}

static int list_all(struct shared *s, struct kc_map *out, char **ret_rv, struct err *err)
{
	const char *sep = strchr(s->path, '?') ? "&" : "?";
	cleanup_free char *cont = NULL;
	cleanup_free char *rv = NULL;

	do {
		cleanup_free char *esc = cont ? url_escape(cont) : NULL;
		cleanup_free char *target = xasprintf("%s%slimit=%d%s%s", s->path, sep, PAGE_SIZE,
						      esc ? "&continue=" : "", esc ? esc : "");
		cleanup_json json_t *doc = NULL;
		json_t *meta, *items, *item;
		const char *kind, *next;
		cleanup_free char *item_kind = NULL;
		size_t i;
		int r;

		if (!cont) {
			pthread_mutex_lock(&s->lock);
			s->lists++;
			pthread_mutex_unlock(&s->lock);
		}
		r = kc_request(s->c, "GET", target, NULL, NULL, &doc, err);
		if (r < 0)
			return r;
		if (r != 200)
			return -err->code;
		meta = json_object_get(doc, "metadata");
		items = json_object_get(doc, "items");
		if (!json_is_array(items))
			return err_set(err, EPROTO, "list %s: no items in the response", s->path);
		if (!rv)
			rv = xstrdup(json_string_value(json_object_get(meta, "resourceVersion"))
					     ?: "");
		kind = json_string_value(json_object_get(doc, "kind"));
		if (kind && strlen(kind) > 4 && strcmp(kind + strlen(kind) - 4, "List") == 0)
			item_kind = xstrndup(kind, strlen(kind) - 4);
		json_array_foreach (items, i, item)
			put_item(s, out, item, item_kind,
				 json_string_value(json_object_get(doc, "apiVersion")));
		next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = next && *next ? xstrdup(next) : NULL;
	} while (cont);
	*ret_rv = TAKE_PTR(rv);
	return 0;
}

struct diff {
	struct shared *s;
	struct kc_map *other;
};

static void deliver_new(void *arg, const char *key, void *value)
{
	struct diff *d = arg;
	const struct entry *old = kc_map_get(d->other, key), *e = value;
	json_t *obj;

	if (old && old->rv >= 0 && old->rv == e->rv)
		return;
	obj = entry_tree(e);
	deliver_put(d->s, old, e, obj);
	json_decref(obj);
}

static void deliver_gone(void *arg, const char *key, void *value)
{
	struct diff *d = arg;
	json_t *obj;

	if (kc_map_has(d->other, key))
		return;
	obj = entry_tree(value);
	deliver(d->s, CHANGE_DEL, NULL, obj);
	json_decref(obj);
}

/*
 * Installs a fresh list as the local copy and tells the handlers what changed. Only this
 * thread writes the map, so it is read here without the lock.
 */
static void replace(struct shared *s, struct kc_map *fresh)
{
	struct kc_map old;
	struct diff d = {s, NULL};

	/* subscribers that came before the list get its changes like the others */
	serve_pending(s);
	pthread_mutex_lock(&s->lock);
	old = s->objs;
	s->objs = *fresh;
	pthread_mutex_unlock(&s->lock);

	d.other = &old;
	kc_map_foreach(&s->objs, deliver_new, &d);
	d.other = &s->objs;
	kc_map_foreach(&old, deliver_gone, &d);
	kc_map_foreach(&old, free_value, NULL);
	kc_map_done(&old);

	pthread_mutex_lock(&s->lock);
	s->synced = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static bool relist(struct shared *s)
{
	struct kc_map fresh;
	char *rv = NULL;
	struct err err = ERR_INIT;

	kc_map_init(&fresh);
	if (list_all(s, &fresh, &rv, &err) < 0) {
		if (!stopping(s))
			log_debug("client: informer %s: %s, retrying", s->path, err.msg);
		err_clear(&err);
		kc_map_foreach(&fresh, free_value, NULL);
		kc_map_done(&fresh);
		return false;
	}
	replace(s, &fresh);
	free(s->rv);
	s->rv = rv;
	s->relist = false;
	return true;
}

static void *informer_main(void *arg)
{
	struct shared *s = arg;
	const char *sep = strchr(s->path, '?') ? "&" : "?";

	while (!stopping(s)) {
		cleanup_free char *target = NULL;
		struct err err = ERR_INIT;
		int r;

		serve_pending(s);
		if (!s->rv || s->relist) {
			if (!relist(s)) {
				backoff(s);
				continue;
			}
		}
		target = xasprintf("%s%sresourceVersion=%s", s->path, sep, s->rv);
		s->watch_failed = false;
		s->watch_events = 0;
		r = kc_watch_cancellable(s->c, target, on_event, s, &s->cancel, s->memo, &err);
		if (stopping(s)) {
			err_clear(&err);
			break;
		}
		if (kc_cancel_reset(s->c, &s->cancel)) {
			/* a new subscriber ended the watch to get its adds */
			err_clear(&err);
			continue;
		}
		if (r == 410) {
			s->relist = true;
		} else if (r < 0 || r != 200) {
			log_debug("client: informer %s: %s, retrying", s->path,
				  err.msg ? err.msg : "watch failed");
		}
		err_clear(&err);
		if (s->relist)
			s->backoff_ms = 0;
		else if (r == 200 && !s->watch_failed && s->watch_events > 0)
			s->backoff_ms = 0;
		else
			backoff(s);
	}
	return NULL;
}

static void shared_free(struct shared *s)
{
	kc_map_foreach(&s->objs, free_value, NULL);
	kc_map_done(&s->objs);
	jload_memo_free(s->memo);
	free(s->rv);
	free(s->path);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A new informer with its thread and @sub as its first subscriber; under registry_lock. */
static int shared_start(struct kc *c, const char *path, struct informer *sub, struct err *err)
{
	struct shared *s = xcalloc(1, sizeof(*s));
	sigset_t all, old;
	int r;

	s->c = c;
	s->compact = sub->h.compact;
	/* an event {"type", "object"} is depth 1, the object 2, its members 3 */
	if (s->compact)
		s->memo = jload_memo_new(3, 6);
	s->path = xstrdup(path);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	kc_map_init(&s->objs);
	atomic_init(&s->stop, false);
	sub->s = s;
	sub->seq = ++s->last_seq;
	s->subs = sub;
	s->n_subs = 1;
	/* signals stay with the threads that expect them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&s->thread, NULL, informer_main, s);
	if (r == 0)
		pthread_setname_np(s->thread, "informer");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		shared_free(s);
		return err_errno(err, r, "start informer for '%s'", path);
	}
	s->next = registry;
	registry = s;
	return 0;
}

/* Adds @sub to @s, to be served by its thread; under registry_lock. */
static void shared_join(struct shared *s, struct informer *sub)
{
	struct informer **p;

	sub->s = s;
	sub->pending = true;
	s->n_subs++;
	pthread_mutex_lock(&s->lock);
	sub->seq = ++s->last_seq;
	for (p = &s->subs; *p; p = &(*p)->next)
		;
	*p = sub;
	/* wakes a backoff; a watch waits for an event that may not come for long */
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	kc_cancel_fire(s->c, &s->cancel);
}

int informer_start(struct kc *c, const char *path, const struct informer_handlers *h,
		   struct informer **ret, struct err *err)
{
	struct informer *sub = xcalloc(1, sizeof(*sub));
	struct shared *s;
	int r = 0;

	if (h)
		sub->h = *h;
	pthread_mutex_lock(&registry_lock);
	for (s = registry; s; s = s->next)
		if (s->c == c && strcmp(s->path, path) == 0)
			break;
	if (s)
		shared_join(s, sub);
	else
		r = shared_start(c, path, sub, err);
	pthread_mutex_unlock(&registry_lock);
	if (r < 0) {
		free(sub);
		return r;
	}
	*ret = sub;
	return 0;
}

bool informer_synced(struct informer *inf)
{
	struct shared *s = inf->s;
	bool v;

	pthread_mutex_lock(&s->lock);
	v = s->synced && !inf->pending;
	pthread_mutex_unlock(&s->lock);
	return v;
}

bool informer_wait_synced(struct informer *inf, int timeout_ms)
{
	struct shared *s = inf->s;
	struct timespec ts;
	bool v;

	clock_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->lock);
	while (!(s->synced && !inf->pending) && !stopping(s))
		if (clock_timedwait(&s->cond, &s->lock, &ts) == ETIMEDOUT)
			break;
	v = s->synced && !inf->pending;
	pthread_mutex_unlock(&s->lock);
	return v;
}

json_t *informer_get(struct informer *inf, const char *ns, const char *name)
{
	cleanup_free char *key = ns && *ns ? xasprintf("%s/%s", ns, name) : xstrdup(name);
	struct shared *s = inf->s;
	json_t *obj;

	pthread_mutex_lock(&s->lock);
	obj = entry_tree(kc_map_get(&s->objs, key));
	pthread_mutex_unlock(&s->lock);
	return obj;
}

struct foreach_ctx {
	void (*fn)(void *arg, json_t *obj);
	void *arg;
};

static void foreach_one(void *arg, const char *key, void *value)
{
	struct foreach_ctx *f = arg;
	json_t *obj = entry_tree(value);

	(void)key;
	f->fn(f->arg, obj);
	json_decref(obj);
}

void informer_foreach(struct informer *inf, void (*fn)(void *arg, json_t *obj), void *arg)
{
	struct foreach_ctx f = {fn, arg};
	struct shared *s = inf->s;

	pthread_mutex_lock(&s->lock);
	kc_map_foreach(&s->objs, foreach_one, &f);
	pthread_mutex_unlock(&s->lock);
}

size_t informer_count(struct informer *inf)
{
	struct shared *s = inf->s;
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->objs.n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

const void *informer_shared(struct informer *inf)
{
	return inf->s;
}

unsigned informer_lists(struct informer *inf)
{
	struct shared *s = inf->s;
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->lists;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void informer_stop(struct informer *inf)
{
	struct shared *s;
	bool last;

	if (!inf)
		return;
	s = inf->s;
	/* a handler cannot wait for itself to return */
	assert(!pthread_equal(pthread_self(), s->thread));
	pthread_mutex_lock(&registry_lock);
	last = --s->n_subs == 0;
	if (last) {
		for (struct shared **p = &registry; *p; p = &(*p)->next) {
			if (*p == s) {
				*p = s->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&registry_lock);

	pthread_mutex_lock(&s->lock);
	while (s->calling == inf)
		pthread_cond_wait(&s->cond, &s->lock);
	for (struct informer **p = &s->subs; *p; p = &(*p)->next) {
		if (*p == inf) {
			*p = inf->next;
			break;
		}
	}
	if (last)
		atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	free(inf);
	if (!last)
		return;
	/* an idle watch would never return by itself */
	kc_cancel_fire(s->c, &s->cancel);
	pthread_join(s->thread, NULL);
	shared_free(s);
}
