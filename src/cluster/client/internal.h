/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the client module: a string-keyed hash map (informer caches, work queue
 * sets), cancellable watches for informers, and the event recorder's hooks into the
 * client.
 */
#ifndef SKIFF_CLUSTER_CLIENT_INTERNAL_H
#define SKIFF_CLUSTER_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/client/client.h"

/* A hash map from strings (copied) to pointers the caller manages. */
struct kc_map_entry {
	struct kc_map_entry *next;
	char *key;
	void *value;
	uint32_t hash;
};

struct kc_map {
	struct kc_map_entry **buckets;
	size_t n_buckets;
	size_t n;
};

void kc_map_init(struct kc_map *m);
/* Frees the entries; values are the caller's to free first (kc_map_foreach). */
void kc_map_done(struct kc_map *m);
void *kc_map_get(const struct kc_map *m, const char *key);
bool kc_map_has(const struct kc_map *m, const char *key);
/* Sets @key to @value; returns the value it replaces (NULL when new). */
void *kc_map_put(struct kc_map *m, const char *key, void *value);
/* Removes @key; returns its value (NULL when absent). */
void *kc_map_del(struct kc_map *m, const char *key);
/* Calls @fn for every entry; @fn must not change the map. */
void kc_map_foreach(const struct kc_map *m, void (*fn)(void *arg, const char *key, void *value),
		    void *arg);

/*
 * A cancel token for kc_watch_cancellable(): once fired, the watches started with it end
 * promptly (an idle watch too) and new ones end at once.
 */
struct kc_cancel {
	bool fired; /* under the client's lock */
};

struct jload_memo;

/*
 * With @memo (base/jload.h; NULL for none), events are decoded through it: subtrees of
 * the objects that repeat earlier events' come back shared. The watching thread uses it.
 */
int kc_watch_cancellable(struct kc *c, const char *path, kc_watch_fn fn, void *arg,
			 struct kc_cancel *cancel, struct jload_memo *memo, struct err *err);
void kc_cancel_fire(struct kc *c, struct kc_cancel *cancel);
/* Unfires @cancel for the watches started next; returns whether it was fired. */
bool kc_cancel_reset(struct kc *c, struct kc_cancel *cancel);

/*
 * For tests: the underlying shared informer of a handle (handles on the same client and
 * path share one) and how many lists it has made.
 */
const void *informer_shared(struct informer *inf);
unsigned informer_lists(struct informer *inf);

/*
 * The event recorder of a client (event.c): made on the first kc_event() by
 * kc_client_events() (NULL once the client is closing), stopped and freed by kc_free()
 * before anything else.
 */
struct kc_events;
struct kc_events *kc_events_new(struct kc *c);
void kc_events_stop(struct kc_events *ev);
struct kc_events *kc_client_events(struct kc *c);

#endif
