/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kc_event(): core/v1 Events as upstream's event recorder writes them. The caller only
 * queues the event; one sender thread per client writes it, so a control loop never
 * waits on the API server for an event. Repeats of the same event (object, type,
 * reason, component and message) within 10 minutes bump the count and lastTimestamp of
 * the one already written, found in a small LRU of recent events. As upstream's event
 * correlator, every source and object pair has a token bucket of 25 events refilled with
 * one every 5 minutes: a ReplicaSet creating a thousand pods records its first 25
 * creations, not a thousand writes competing with the pods themselves. When the queue is
 * full, or an object's bucket empty, events are dropped (with a debug log), as upstream's
 * broadcaster drops them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

#define QUEUE_MAX          1000
#define RECENT_MAX         4096
#define AGGREGATE_WINDOW_S 600
#define MESSAGE_MAX        1024
#define SPAM_BURST         25
#define SPAM_REFILL_S      300
#define SPAM_MAX           4096

struct pending {
	struct pending *next;
	char *key; /* what makes two events the same */
	char *ns;
	char *obj_name;
	json_t *involved;
	char *type, *reason, *component, *message;
	time_t when;
};

/* A place in a list kept most recently used first; the first member of its entry. */
struct lru_link {
	struct lru_link *prev, *next;
};

struct lru {
	struct lru_link *head, *tail;
};

/* An event written lately, in the LRU. */
struct recent {
	struct lru_link link;
	char *key;
	char *ns;
	char *name;
	int64_t count;
	time_t last;
};

/* A token bucket of a source and object, in its own LRU. */
struct spam {
	struct lru_link link;
	char *key;
	double tokens;
	time_t last;
};

struct kc_events {
	struct kc *c;
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pending *head, *tail;
	size_t n;
	bool stop;

	/* the spam filter's buckets, under lock */
	struct kc_map spam;
	struct lru spam_lru;

	/* the sender's */
	struct kc_map recent;
	struct lru recent_lru;
	uint64_t last_nanos;
};

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	free(p->key);
	free(p->ns);
	free(p->obj_name);
	json_decref(p->involved);
	free(p->type);
	free(p->reason);
	free(p->component);
	free(p->message);
	free(p);
}

/* metav1.Time: seconds, UTC. */
static char *timestamp(time_t t)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* The LRUs. */

static void lru_unlink(struct lru *l, struct lru_link *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct lru *l, struct lru_link *e)
{
	e->next = l->head;
	e->prev = NULL;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}

/* Moves @e, already in @l, to the front. */
static void lru_touch(struct lru *l, struct lru_link *e)
{
	lru_unlink(l, e);
	lru_front(l, e);
}

static void recent_free(struct recent *r)
{
	free(r->key);
	free(r->ns);
	free(r->name);
	free(r);
}

static void recent_forget(struct kc_events *ev, struct recent *r)
{
	lru_unlink(&ev->recent_lru, &r->link);
	kc_map_del(&ev->recent, r->key);
	recent_free(r);
}

static void recent_add(struct kc_events *ev, const struct pending *p, const char *name)
{
	struct recent *r = xcalloc(1, sizeof(*r));

	r->key = xstrdup(p->key);
	r->ns = xstrdup(p->ns);
	r->name = xstrdup(name);
	r->count = 1;
	r->last = p->when;
	kc_map_put(&ev->recent, r->key, r);
	lru_front(&ev->recent_lru, &r->link);
	if (ev->recent.n > RECENT_MAX)
		recent_forget(ev, (struct recent *)ev->recent_lru.tail);
}

/* The spam filter. */

static void spam_forget(struct kc_events *ev, struct spam *b)
{
	lru_unlink(&ev->spam_lru, &b->link);
	kc_map_del(&ev->spam, b->key);
	free(b->key);
	free(b);
}

/* The tokens @b holds at @when, refilled since it was last looked at (@b unchanged). */
static double spam_tokens(const struct spam *b, time_t when)
{
	double tokens = b->tokens;

	if (when > b->last) {
		tokens += (double)(when - b->last) / SPAM_REFILL_S;
		if (tokens > SPAM_BURST)
			tokens = SPAM_BURST;
	}
	return tokens;
}

/* Takes a token from the bucket of @key (a source and an object): false when it has none. */
static bool spam_allow(struct kc_events *ev, const char *key, time_t when)
{
	struct spam *b = kc_map_get(&ev->spam, key);

	if (!b) {
		b = xcalloc(1, sizeof(*b));
		b->key = xstrdup(key);
		b->tokens = SPAM_BURST;
		b->last = when;
		kc_map_put(&ev->spam, b->key, b);
		if (ev->spam.n > SPAM_MAX)
			spam_forget(ev, (struct spam *)ev->spam_lru.tail);
	} else {
		lru_unlink(&ev->spam_lru, &b->link);
	}
	lru_front(&ev->spam_lru, &b->link);
	if (when > b->last) {
		b->tokens = spam_tokens(b, when);
		b->last = when;
	}
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

/* Sending. */

static char *event_name(struct kc_events *ev, const char *obj_name)
{
	struct timespec ts;
	uint64_t nanos;

	clock_gettime(CLOCK_REALTIME, &ts);
	nanos = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	/* unique per recorder even when the clock stands still */
	if (nanos <= ev->last_nanos)
		nanos = ev->last_nanos + 1;
	ev->last_nanos = nanos;
	return xasprintf("%s.%016" PRIx64, obj_name, nanos);
}

static int create_event(struct kc_events *ev, const struct pending *p, struct err *err)
{
	cleanup_free char *name = event_name(ev, p->obj_name);
	cleanup_free char *ts = timestamp(p->when);
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/events", p->ns);
	cleanup_json json_t *body = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:O, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, s:s}",
		"apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", p->ns,
		"involvedObject", p->involved, "reason", p->reason, "message", p->message, "type",
		p->type, "source", "component", p->component, "firstTimestamp", ts, "lastTimestamp",
		ts, "count", 1, "reportingComponent", p->component);
	int r;

	r = kc_request(ev->c, "POST", path, NULL, body, NULL, err);
	if (r < 0)
		return r;
	if (r >= 400)
		return -err->code;
	recent_add(ev, p, name);
	return 0;
}

/* Bumps an event written before; -ENOENT when it is gone. */
static int bump_event(struct kc_events *ev, struct recent *rec, const struct pending *p,
		      struct err *err)
{
	cleanup_free char *ts = timestamp(p->when);
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/events/%s", rec->ns, rec->name);
	cleanup_json json_t *patch =
		json_pack("{s:I, s:s}", "count", (json_int_t)(rec->count + 1), "lastTimestamp", ts);
	int r;

	r = kc_request(ev->c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
	if (r < 0)
		return r;
	if (r >= 400)
		return -err->code;
	rec->count++;
	rec->last = p->when;
	return 0;
}

static void send_one(struct kc_events *ev, struct pending *p)
{
	struct recent *rec = kc_map_get(&ev->recent, p->key);
	struct err err = ERR_INIT;
	int r;

	if (rec && p->when - rec->last < AGGREGATE_WINDOW_S) {
		lru_touch(&ev->recent_lru, &rec->link);
		r = bump_event(ev, rec, p, &err);
		if (r != -ENOENT)
			goto out;
		err_clear(&err);
	}
	if (rec)
		recent_forget(ev, rec);
	r = create_event(ev, p, &err);
out:
	if (r < 0)
		log_debug("client: event %s %s about %s: %s, dropping", p->type, p->reason,
			  p->obj_name, err.msg);
	err_clear(&err);
}

static void *sender_main(void *arg)
{
	struct kc_events *ev = arg;

	pthread_mutex_lock(&ev->lock);
	for (;;) {
		struct pending *p;

		while (!ev->head && !ev->stop)
			pthread_cond_wait(&ev->cond, &ev->lock);
		if (ev->stop)
			break;
		p = ev->head;
		ev->head = p->next;
		if (!ev->head)
			ev->tail = NULL;
		ev->n--;
		pthread_mutex_unlock(&ev->lock);
		send_one(ev, p);
		pending_free(p);
		pthread_mutex_lock(&ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

struct kc_events *kc_events_new(struct kc *c)
{
	struct kc_events *ev = xcalloc(1, sizeof(*ev));
	sigset_t all, old;
	int r;

	ev->c = c;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	kc_map_init(&ev->recent);
	kc_map_init(&ev->spam);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&ev->thread, NULL, sender_main, ev);
	if (r == 0)
		pthread_setname_np(ev->thread, "event-sender");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		log_debug("client: start the event sender: %s, events are dropped", strerror(r));
	ev->started = r == 0;
	return ev;
}

void kc_events_stop(struct kc_events *ev)
{
	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->stop = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	if (ev->started)
		pthread_join(ev->thread, NULL);
	while (ev->head) {
		struct pending *p = ev->head;

		ev->head = p->next;
		pending_free(p);
	}
	while (ev->recent_lru.head)
		recent_forget(ev, (struct recent *)ev->recent_lru.head);
	kc_map_done(&ev->recent);
	while (ev->spam_lru.head)
		spam_forget(ev, (struct spam *)ev->spam_lru.head);
	kc_map_done(&ev->spam);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

static void set_str(json_t *o, const char *key, const json_t *from)
{
	const char *v = json_string_value(from);

	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

/* The source and the object: what one token bucket is for. */
static char *spam_key_of(const json_t *obj, const char *component)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));

	return xasprintf("%s\n%s\n%s\n%s\n%s\n%s", component,
			 json_string_value(json_object_get(obj, "kind")) ?: "",
			 ns && *ns ? ns : "default",
			 json_string_value(json_object_get(meta, "name")) ?: "",
			 json_string_value(json_object_get(meta, "uid")) ?: "",
			 json_string_value(json_object_get(obj, "apiVersion")) ?: "");
}

bool kc_event_wanted(struct kc *c, const json_t *obj, const char *component)
{
	struct kc_events *ev = kc_client_events(c);
	cleanup_free char *key = NULL;
	const struct spam *b;
	bool wanted;

	if (!ev || !ev->started || !component)
		return false;
	key = spam_key_of(obj, component);
	pthread_mutex_lock(&ev->lock);
	b = kc_map_get(&ev->spam, key);
	wanted = !ev->stop && ev->n < QUEUE_MAX && (!b || spam_tokens(b, time(NULL)) >= 1);
	pthread_mutex_unlock(&ev->lock);
	return wanted;
}

void kc_event(struct kc *c, const json_t *obj, const char *type, const char *reason,
	      const char *component, const char *fmt, ...)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *kind = json_string_value(json_object_get(obj, "kind")) ?: "";
	const char *uid = json_string_value(json_object_get(meta, "uid")) ?: "";
	struct kc_events *ev;
	cleanup_free char *spam_key = NULL;
	const char *dropped = NULL;
	time_t when = time(NULL);
	struct pending *p;
	va_list ap;

	if (!name || !type || !reason || !component)
		return;
	ev = kc_client_events(c);
	if (!ev || !ev->started)
		return;
	if (!ns || !*ns)
		ns = "default";
	/*
	 * Dropped before anything is built, as upstream's broadcaster drops at its full queue
	 * before its correlator filters: under load most events go this way. The spam filter
	 * then keeps a burst about one object from crowding out the others.
	 */
	spam_key = spam_key_of(obj, component);
	pthread_mutex_lock(&ev->lock);
	if (ev->stop || ev->n >= QUEUE_MAX)
		dropped = "queue full";
	else if (!spam_allow(ev, spam_key, when))
		dropped = "too many about it lately";
	pthread_mutex_unlock(&ev->lock);
	if (dropped) {
		log_debug("client: event %s %s about %s: %s, dropping", type, reason, name,
			  dropped);
		return;
	}

	p = xcalloc(1, sizeof(*p));
	va_start(ap, fmt);
	p->message = xvasprintf(fmt, ap);
	va_end(ap);
	if (strlen(p->message) > MESSAGE_MAX)
		p->message[MESSAGE_MAX] = '\0';
	p->ns = xstrdup(ns);
	p->obj_name = xstrdup(name);
	p->type = xstrdup(type);
	p->reason = xstrdup(reason);
	p->component = xstrdup(component);
	p->when = when;
	p->involved = json_object();
	set_str(p->involved, "kind", json_object_get(obj, "kind"));
	set_str(p->involved, "namespace", json_object_get(meta, "namespace"));
	set_str(p->involved, "name", json_object_get(meta, "name"));
	set_str(p->involved, "uid", json_object_get(meta, "uid"));
	set_str(p->involved, "apiVersion", json_object_get(obj, "apiVersion"));
	set_str(p->involved, "resourceVersion", json_object_get(meta, "resourceVersion"));
	p->key = xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s", kind, uid, p->ns, name, type, reason,
			   component, p->message);

	pthread_mutex_lock(&ev->lock);
	/* filled meanwhile by other threads: dropped all the same */
	if (ev->stop || ev->n >= QUEUE_MAX) {
		pthread_mutex_unlock(&ev->lock);
		log_debug("client: event %s %s about %s: queue full, dropping", type, reason, name);
		pending_free(p);
		return;
	}
	if (ev->tail)
		ev->tail->next = p;
	else
		ev->head = p;
	ev->tail = p;
	ev->n++;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}
