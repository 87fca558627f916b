/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ordered index (keyidx.h). Each key lives in one slot, which both structures point
 * to: the hash table finds it by key, the chunks keep the order. A chunk that fills is
 * split in two halves; a chunk that a removal leaves small is merged with a neighbour
 * that has room, so the chunk array stays about N / KEYIDX_CHUNK * 2 long at worst and a
 * seek costs two binary searches. Removal from the table shifts the probe sequence back
 * instead of leaving tombstones, so lookups never slow down with churn.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/keyidx.h"

#define MIN_CAP 64

struct keyidx_slot {
	void *val;
	uint64_t hash;
	char key[];
};

struct keyidx_chunk {
	size_t n;
	struct keyidx_slot *v[KEYIDX_CHUNK];
};

/* 8 bytes at a time, multiplied and folded: keys of one index share long prefixes. */
static uint64_t hash_key(const char *key, size_t len)
{
	const uint64_t m = 0x9e3779b97f4a7c15ull;
	uint64_t h = len * m;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, key + i, 8);
		h = (h ^ w) * m;
		h ^= h >> 29;
	}
	if (i < len) {
		uint64_t w = 0;

		memcpy(&w, key + i, len - i);
		h = (h ^ w) * m;
	}
	h ^= h >> 32;
	h *= m;
	return h ^ (h >> 29);
}

void keyidx_init(struct keyidx *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void keyidx_done(struct keyidx *ix, void (*free_val)(void *val))
{
	for (size_t c = 0; c < ix->n_chunks; c++) {
		struct keyidx_chunk *ch = ix->chunks[c];

		for (size_t i = 0; i < ch->n; i++) {
			if (free_val)
				free_val(ch->v[i]->val);
			free(ch->v[i]);
		}
		free(ch);
	}
	free(ix->chunks);
	free(ix->table);
	memset(ix, 0, sizeof(*ix));
}

size_t keyidx_len(const struct keyidx *ix)
{
	return ix->n;
}

/* The table. */

/* The table position holding @key, or the empty one where it would go. */
static size_t probe(const struct keyidx *ix, const char *key, uint64_t h)
{
	size_t mask = ix->cap - 1, i = (size_t)h & mask;

	while (ix->table[i] && (ix->table[i]->hash != h || strcmp(ix->table[i]->key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

static void table_grow(struct keyidx *ix)
{
	struct keyidx_slot **old = ix->table;
	size_t old_cap = ix->cap;

	ix->cap = old_cap ? old_cap * 2 : MIN_CAP;
	ix->table = xcalloc(ix->cap, sizeof(*ix->table));
	for (size_t i = 0; i < old_cap; i++) {
		size_t mask = ix->cap - 1, j;

		if (!old[i])
			continue;
		for (j = (size_t)old[i]->hash & mask; ix->table[j]; j = (j + 1) & mask)
			;
		ix->table[j] = old[i];
	}
	free(old);
}

/* Empties position @i and moves later entries of its probe run back into the gap. */
static void table_remove_at(struct keyidx *ix, size_t i)
{
	size_t mask = ix->cap - 1, j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!ix->table[j])
			break;
		home = (size_t)ix->table[j]->hash & mask;
		/* the entry may fill the gap unless its home lies after the gap */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			ix->table[i] = ix->table[j];
			i = j;
		}
	}
	ix->table[i] = NULL;
}

/* The order. */

/* The chunk @key belongs in: the last whose first key is <= @key (the first for none). */
static size_t find_chunk(const struct keyidx *ix, const char *key)
{
	size_t lo = 0, hi = ix->n_chunks;

	assert(ix->n_chunks > 0);
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->chunks[mid]->v[0]->key, key) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* The first position of @ch whose key is >= @key. */
static size_t chunk_lower(const struct keyidx_chunk *ch, const char *key)
{
	size_t lo = 0, hi = ch->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ch->v[mid]->key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void chunks_insert(struct keyidx *ix, size_t at, struct keyidx_chunk *ch)
{
	if (ix->n_chunks == ix->cap_chunks) {
		ix->cap_chunks = ix->cap_chunks ? ix->cap_chunks * 2 : 16;
		ix->chunks = xrealloc(ix->chunks, ix->cap_chunks * sizeof(*ix->chunks));
	}
	memmove(ix->chunks + at + 1, ix->chunks + at, (ix->n_chunks - at) * sizeof(*ix->chunks));
	ix->chunks[at] = ch;
	ix->n_chunks++;
}

static void chunks_remove(struct keyidx *ix, size_t at)
{
	free(ix->chunks[at]);
	memmove(ix->chunks + at, ix->chunks + at + 1,
		(ix->n_chunks - at - 1) * sizeof(*ix->chunks));
	ix->n_chunks--;
}

static void order_insert(struct keyidx *ix, struct keyidx_slot *s)
{
	struct keyidx_chunk *ch;
	size_t ci, pos;

	if (!ix->n_chunks) {
		ch = xcalloc(1, sizeof(*ch));
		ch->v[ch->n++] = s;
		chunks_insert(ix, 0, ch);
		return;
	}
	ci = find_chunk(ix, s->key);
	ch = ix->chunks[ci];
	if (ch->n == KEYIDX_CHUNK) {
		struct keyidx_chunk *upper = xcalloc(1, sizeof(*upper));

		upper->n = KEYIDX_CHUNK / 2;
		memcpy(upper->v, ch->v + KEYIDX_CHUNK / 2, upper->n * sizeof(*upper->v));
		ch->n = KEYIDX_CHUNK / 2;
		chunks_insert(ix, ci + 1, upper);
		if (strcmp(s->key, upper->v[0]->key) >= 0)
			ch = upper;
	}
	pos = chunk_lower(ch, s->key);
	memmove(ch->v + pos + 1, ch->v + pos, (ch->n - pos) * sizeof(*ch->v));
	ch->v[pos] = s;
	ch->n++;
}

/* Moves all of chunk @ci + 1 to the end of chunk @ci. */
static void merge_next(struct keyidx *ix, size_t ci)
{
	struct keyidx_chunk *a = ix->chunks[ci], *b = ix->chunks[ci + 1];

	memcpy(a->v + a->n, b->v, b->n * sizeof(*b->v));
	a->n += b->n;
	chunks_remove(ix, ci + 1);
}

static void order_remove(struct keyidx *ix, const struct keyidx_slot *s)
{
	size_t ci = find_chunk(ix, s->key);
	struct keyidx_chunk *ch = ix->chunks[ci];
	size_t pos = chunk_lower(ch, s->key);

	assert(pos < ch->n && ch->v[pos] == s);
	memmove(ch->v + pos, ch->v + pos + 1, (ch->n - pos - 1) * sizeof(*ch->v));
	ch->n--;
	if (!ch->n) {
		chunks_remove(ix, ci);
		return;
	}
	if (ch->n >= KEYIDX_CHUNK / 4)
		return;
	if (ci + 1 < ix->n_chunks && ch->n + ix->chunks[ci + 1]->n <= KEYIDX_CHUNK * 3 / 4)
		merge_next(ix, ci);
	else if (ci > 0 && ix->chunks[ci - 1]->n + ch->n <= KEYIDX_CHUNK * 3 / 4)
		merge_next(ix, ci - 1);
}

/* The API. */

void *keyidx_get(const struct keyidx *ix, const char *key)
{
	size_t i;

	if (!ix->n)
		return NULL;
	i = probe(ix, key, hash_key(key, strlen(key)));
	return ix->table[i] ? ix->table[i]->val : NULL;
}

void *keyidx_put(struct keyidx *ix, const char *key, void *val)
{
	size_t len = strlen(key), i;
	uint64_t h = hash_key(key, len);
	struct keyidx_slot *s;

	assert(val);
	if ((ix->n + 1) * 2 > ix->cap)
		table_grow(ix);
	i = probe(ix, key, h);
	if (ix->table[i]) {
		void *prev = ix->table[i]->val;

		ix->table[i]->val = val;
		return prev;
	}
	s = xmalloc(sizeof(*s) + len + 1);
	s->val = val;
	s->hash = h;
	memcpy(s->key, key, len + 1);
	ix->table[i] = s;
	ix->n++;
	order_insert(ix, s);
	return NULL;
}

void *keyidx_del(struct keyidx *ix, const char *key)
{
	struct keyidx_slot *s;
	size_t i;
	void *val;

	if (!ix->n)
		return NULL;
	i = probe(ix, key, hash_key(key, strlen(key)));
	s = ix->table[i];
	if (!s)
		return NULL;
	table_remove_at(ix, i);
	ix->n--;
	order_remove(ix, s);
	val = s->val;
	free(s);
	return val;
}

size_t keyidx_rank(const struct keyidx *ix, const char *key)
{
	size_t ci, rank = 0;

	if (!ix->n_chunks)
		return 0;
	ci = find_chunk(ix, key);
	for (size_t i = 0; i < ci; i++)
		rank += ix->chunks[i]->n;
	return rank + chunk_lower(ix->chunks[ci], key);
}

void keyidx_seek(const struct keyidx *ix, const char *from, struct keyidx_iter *it)
{
	it->ix = ix;
	it->chunk = it->pos = 0;
	if (!from || !ix->n_chunks)
		return;
	it->chunk = find_chunk(ix, from);
	it->pos = chunk_lower(ix->chunks[it->chunk], from);
}

bool keyidx_next(struct keyidx_iter *it, const char **ret_key, void **ret_val)
{
	const struct keyidx *ix = it->ix;
	const struct keyidx_slot *s;

	while (it->chunk < ix->n_chunks && it->pos >= ix->chunks[it->chunk]->n) {
		it->chunk++;
		it->pos = 0;
	}
	if (it->chunk >= ix->n_chunks)
		return false;
	s = ix->chunks[it->chunk]->v[it->pos++];
	if (ret_key)
		*ret_key = s->key;
	if (ret_val)
		*ret_val = s->val;
	return true;
}
