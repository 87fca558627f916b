/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's string-keyed hash map (internal.h): chained buckets, doubled when the
 * load passes one, so informer caches of 150,000 pods stay O(1) per event.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cluster/client/internal.h"

#define MIN_BUCKETS 16

static uint32_t hash_of(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

void kc_map_init(struct kc_map *m)
{
	m->n_buckets = MIN_BUCKETS;
	m->buckets = xcalloc(m->n_buckets, sizeof(*m->buckets));
	m->n = 0;
}

void kc_map_done(struct kc_map *m)
{
	if (!m->buckets)
		return;
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct kc_map_entry *e = m->buckets[i];

		while (e) {
			struct kc_map_entry *next = e->next;

			free(e->key);
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = NULL;
	m->n_buckets = m->n = 0;
}

static struct kc_map_entry **find(const struct kc_map *m, const char *key, uint32_t h)
{
	struct kc_map_entry **p = &m->buckets[h & (m->n_buckets - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next;
	return p;
}

void *kc_map_get(const struct kc_map *m, const char *key)
{
	struct kc_map_entry *e = *find(m, key, hash_of(key));

	return e ? e->value : NULL;
}

bool kc_map_has(const struct kc_map *m, const char *key)
{
	return *find(m, key, hash_of(key)) != NULL;
}

static void grow(struct kc_map *m)
{
	size_t n = m->n_buckets * 2;
	struct kc_map_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < m->n_buckets; i++) {
		struct kc_map_entry *e = m->buckets[i];

		while (e) {
			struct kc_map_entry *next = e->next;

			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

void *kc_map_put(struct kc_map *m, const char *key, void *value)
{
	uint32_t h = hash_of(key);
	struct kc_map_entry **p = find(m, key, h);
	struct kc_map_entry *e;
	void *old;

	if (*p) {
		old = (*p)->value;
		(*p)->value = value;
		return old;
	}
	e = xmalloc(sizeof(*e));
	e->next = NULL;
	e->key = xstrdup(key);
	e->value = value;
	e->hash = h;
	*p = e;
	if (++m->n > m->n_buckets)
		grow(m);
	return NULL;
}

void *kc_map_del(struct kc_map *m, const char *key)
{
	struct kc_map_entry **p = find(m, key, hash_of(key));
	struct kc_map_entry *e = *p;
	void *old;

	if (!e)
		return NULL;
	*p = e->next;
	old = e->value;
	free(e->key);
	free(e);
	m->n--;
	return old;
}

void kc_map_foreach(const struct kc_map *m, void (*fn)(void *arg, const char *key, void *value),
		    void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct kc_map_entry *e = m->buckets[i]; e; e = e->next)
			fn(arg, e->key, e->value);
}
