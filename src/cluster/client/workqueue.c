/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Work queues between informer handlers and controller workers, with client-go's rules:
 * a key waits at most once (dirty), a key being processed is not handed to a second
 * worker but queued again when its worker is done, delayed adds wait in a min-heap that
 * wq_get() drains (no timer thread), and failures back off per key from 5 ms doubling
 * up to 1000 s.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

#define BACKOFF_BASE_MS 5
#define BACKOFF_MAX_MS  (1000 * 1000)

struct delayed {
	int64_t when; /* clock_mono_ms() */
	char *key;
};

struct workqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/* waiting keys in order: a ring of heap strings */
	char **fifo;
	size_t head, len, cap;

	struct kc_map dirty;      /* keys waiting (in fifo, or to be re-queued after done) */
	struct kc_map processing; /* keys handed out and not done yet */
	struct kc_map failures;   /* key -> (uintptr_t) failures so far */

	struct delayed *heap; /* ordered by when */
	size_t n_heap, cap_heap;
	struct kc_map heap_pos; /* key -> (uintptr_t) index in heap + 1 */

	bool shutdown;
};

struct workqueue *wq_new(void)
{
	struct workqueue *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	kc_map_init(&q->dirty);
	kc_map_init(&q->processing);
	kc_map_init(&q->failures);
	kc_map_init(&q->heap_pos);
	return q;
}

static void fifo_push(struct workqueue *q, const char *key)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		char **v = xcalloc(cap, sizeof(*v));

		for (size_t i = 0; i < q->len; i++)
			v[i] = q->fifo[(q->head + i) % q->cap];
		free(q->fifo);
		q->fifo = v;
		q->cap = cap;
		q->head = 0;
	}
	q->fifo[(q->head + q->len) % q->cap] = xstrdup(key);
	q->len++;
}

static char *fifo_pop(struct workqueue *q)
{
	char *key = q->fifo[q->head];

	q->head = (q->head + 1) % q->cap;
	q->len--;
	return key;
}

static void add_locked(struct workqueue *q, const char *key)
{
	if (q->shutdown || kc_map_has(&q->dirty, key))
		return;
	kc_map_put(&q->dirty, key, (void *)1);
	if (kc_map_has(&q->processing, key))
		return;
	fifo_push(q, key);
	pthread_cond_signal(&q->cond);
}

void wq_add(struct workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	add_locked(q, key);
	pthread_mutex_unlock(&q->lock);
}

/* The heap. */

static void heap_set(struct workqueue *q, size_t i, struct delayed d)
{
	q->heap[i] = d;
	kc_map_put(&q->heap_pos, d.key, (void *)(uintptr_t)(i + 1));
}

static void heap_up(struct workqueue *q, size_t i)
{
	struct delayed d = q->heap[i];

	while (i > 0 && q->heap[(i - 1) / 2].when > d.when) {
		heap_set(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(q, i, d);
}

static void heap_down(struct workqueue *q, size_t i)
{
	struct delayed d = q->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= q->n_heap)
			break;
		if (c + 1 < q->n_heap && q->heap[c + 1].when < q->heap[c].when)
			c++;
		if (q->heap[c].when >= d.when)
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, d);
}

/* Moves the keys whose time has come to the queue. */
static void heap_drain(struct workqueue *q, int64_t now)
{
	while (q->n_heap > 0 && q->heap[0].when <= now) {
		struct delayed top = q->heap[0];

		kc_map_del(&q->heap_pos, top.key);
		if (--q->n_heap > 0) {
			q->heap[0] = q->heap[q->n_heap];
			heap_down(q, 0);
		}
		add_locked(q, top.key);
		free(top.key);
	}
}

void wq_add_after(struct workqueue *q, const char *key, int64_t ms)
{
	int64_t when = clock_mono_ms() + ms;
	uintptr_t pos;

	if (ms <= 0) {
		wq_add(q, key);
		return;
	}
	pthread_mutex_lock(&q->lock);
	if (q->shutdown) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	pos = (uintptr_t)kc_map_get(&q->heap_pos, key);
	if (pos) {
		/* one entry per key: the earlier time wins, as client-go's delaying queue */
		if (when < q->heap[pos - 1].when) {
			q->heap[pos - 1].when = when;
			heap_up(q, pos - 1);
		}
	} else {
		if (q->n_heap == q->cap_heap) {
			q->cap_heap = q->cap_heap ? q->cap_heap * 2 : 64;
			q->heap = xrealloc(q->heap, q->cap_heap * sizeof(*q->heap));
		}
		q->heap[q->n_heap] = (struct delayed){when, xstrdup(key)};
		heap_up(q, q->n_heap++);
	}
	/* a waiting worker sleeps until the earliest entry: it may have changed */
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void wq_add_rate_limited(struct workqueue *q, const char *key)
{
	uintptr_t n;
	int64_t ms = BACKOFF_BASE_MS;

	pthread_mutex_lock(&q->lock);
	n = (uintptr_t)kc_map_get(&q->failures, key);
	kc_map_put(&q->failures, key, (void *)(n + 1));
	pthread_mutex_unlock(&q->lock);
	for (uintptr_t i = 0; i < n && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	wq_add_after(q, key, ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
}

void wq_forget(struct workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	kc_map_del(&q->failures, key);
	pthread_mutex_unlock(&q->lock);
}

char *wq_get(struct workqueue *q)
{
	char *key = NULL;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		heap_drain(q, clock_mono_ms());
		if (q->shutdown)
			break;
		if (q->len > 0) {
			key = fifo_pop(q);
			kc_map_del(&q->dirty, key);
			kc_map_put(&q->processing, key, (void *)1);
			break;
		}
		if (q->n_heap > 0) {
			struct timespec ts;

			clock_deadline(&ts, q->heap[0].when - clock_mono_ms());
			clock_timedwait(&q->cond, &q->lock, &ts);
		} else {
			pthread_cond_wait(&q->cond, &q->lock);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return key;
}

void wq_done(struct workqueue *q, const char *key)
{
	pthread_mutex_lock(&q->lock);
	kc_map_del(&q->processing, key);
	if (!q->shutdown && kc_map_has(&q->dirty, key)) {
		fifo_push(q, key);
		pthread_cond_signal(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
}

size_t wq_len(struct workqueue *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

void wq_process(struct workqueue *q, const char *what, wq_sync_fn sync, void *arg)
{
	char name[16];
	char *key;

	/* "wq-" and the first word of @what, for top -H and perf */
	snprintf(name, sizeof(name), "wq-%.*s", (int)strcspn(what, " "), what);
	pthread_setname_np(pthread_self(), name);
	while ((key = wq_get(q))) {
		struct err err = ERR_INIT;
		int r = sync(arg, key, &err);

		if (r < 0) {
			log_debug("%s: sync %s: %s, retrying", what, key,
				  err.msg ? err.msg : "failed");
			err_clear(&err);
			wq_add_rate_limited(q, key);
		} else {
			wq_forget(q, key);
			if (r > 0)
				wq_add_after(q, key, r);
		}
		wq_done(q, key);
		free(key);
	}
}

void wq_shutdown(struct workqueue *q)
{
	pthread_mutex_lock(&q->lock);
	q->shutdown = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void wq_free(struct workqueue *q)
{
	if (!q)
		return;
	while (q->len > 0)
		free(fifo_pop(q));
	free(q->fifo);
	for (size_t i = 0; i < q->n_heap; i++)
		free(q->heap[i].key);
	free(q->heap);
	kc_map_done(&q->dirty);
	kc_map_done(&q->processing);
	kc_map_done(&q->failures);
	kc_map_done(&q->heap_pos);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
