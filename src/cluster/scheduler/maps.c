/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Open-addressing hash maps for the scheduler's indexes (node names, namespaces, owners,
 * topology domains): linear probing with backward-shift deletion, so there are no
 * tombstones and lookups stay short under constant churn of pods.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cluster/scheduler/internal.h"

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

struct smap_ent *smap_find(const struct smap *m, const char *key)
{
	uint64_t h;
	size_t i;

	if (!m->n)
		return NULL;
	h = str_hash(key);
	for (i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct smap_ent *e = &m->ents[i];

		if (!e->key)
			return NULL;
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	}
}

static void smap_grow(struct smap *m)
{
	size_t old_cap = m->cap;
	struct smap_ent *old = m->ents;

	m->cap = old_cap ? old_cap * 2 : 8;
	m->ents = xcalloc(m->cap, sizeof(*m->ents));
	for (size_t j = 0; j < old_cap; j++) {
		size_t i;

		if (!old[j].key)
			continue;
		for (i = old[j].hash & (m->cap - 1); m->ents[i].key; i = (i + 1) & (m->cap - 1))
			;
		m->ents[i] = old[j];
	}
	free(old);
}

struct smap_ent *smap_add(struct smap *m, const char *key)
{
	struct smap_ent *e = smap_find(m, key);
	uint64_t h;
	size_t i;

	if (e)
		return e;
	if ((m->n + 1) * 4 > m->cap * 3)
		smap_grow(m);
	h = str_hash(key);
	for (i = h & (m->cap - 1); m->ents[i].key; i = (i + 1) & (m->cap - 1))
		;
	e = &m->ents[i];
	e->key = xstrdup(key);
	e->hash = h;
	e->v.i = 0;
	m->n++;
	return e;
}

void smap_del(struct smap *m, const char *key)
{
	struct smap_ent *e = smap_find(m, key);
	size_t i, j, mask = m->cap - 1;

	if (!e)
		return;
	free(e->key);
	i = (size_t)(e - m->ents);
	m->ents[i].key = NULL;
	m->n--;
	/* shift back later entries of the cluster that would otherwise be unreachable */
	for (j = (i + 1) & mask; m->ents[j].key; j = (j + 1) & mask) {
		size_t home = m->ents[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->ents[i] = m->ents[j];
			m->ents[j].key = NULL;
			i = j;
		}
	}
}

int64_t smap_get_int(const struct smap *m, const char *key)
{
	const struct smap_ent *e = smap_find(m, key);

	return e ? e->v.i : 0;
}

void smap_done(struct smap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->ents[i].key)
			continue;
		free(m->ents[i].key);
		if (free_val)
			free_val(m->ents[i].v.p);
	}
	free(m->ents);
	m->ents = NULL;
	m->cap = m->n = 0;
}

static size_t int_home(int32_t key, size_t cap)
{
	uint32_t h = (uint32_t)key * 2654435761U;

	return (h ^ (h >> 16)) & (cap - 1);
}

static size_t imap_slot(const struct imap *m, int32_t key)
{
	size_t i;

	for (i = int_home(key, m->cap); m->keys[i] != -1 && m->keys[i] != key;
	     i = (i + 1) & (m->cap - 1))
		;
	return i;
}

int32_t imap_get(const struct imap *m, int32_t key)
{
	size_t i;

	if (!m->n)
		return 0;
	i = imap_slot(m, key);
	return m->keys[i] == key ? m->vals[i] : 0;
}

static void imap_grow(struct imap *m)
{
	size_t old_cap = m->cap;
	int32_t *ok = m->keys, *ov = m->vals;

	m->cap = old_cap ? old_cap * 2 : 4;
	m->keys = xmalloc(m->cap * sizeof(*m->keys));
	m->vals = xcalloc(m->cap, sizeof(*m->vals));
	memset(m->keys, 0xff, m->cap * sizeof(*m->keys));
	for (size_t j = 0; j < old_cap; j++) {
		size_t i;

		if (ok[j] == -1)
			continue;
		i = imap_slot(m, ok[j]);
		m->keys[i] = ok[j];
		m->vals[i] = ov[j];
	}
	free(ok);
	free(ov);
}

static void imap_remove_at(struct imap *m, size_t i)
{
	size_t j, mask = m->cap - 1;

	m->keys[i] = -1;
	m->n--;
	for (j = (i + 1) & mask; m->keys[j] != -1; j = (j + 1) & mask) {
		size_t home = int_home(m->keys[j], m->cap);

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->keys[j] = -1;
			i = j;
		}
	}
}

void imap_add(struct imap *m, int32_t key, int32_t delta)
{
	size_t i;

	if ((m->n + 1) * 4 > m->cap * 3)
		imap_grow(m);
	i = imap_slot(m, key);
	if (m->keys[i] != key) {
		if (!delta)
			return;
		m->keys[i] = key;
		m->vals[i] = 0;
		m->n++;
	}
	m->vals[i] += delta;
	if (m->vals[i] == 0)
		imap_remove_at(m, i);
}

void imap_done(struct imap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = m->vals = NULL;
	m->cap = m->n = 0;
}
