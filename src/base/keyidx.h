/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An ordered, string-keyed index: point lookups through a hash table, ordered walks from
 * any key through a sorted array of keys cut into chunks of KEYIDX_CHUNK (a B+ tree of
 * height two). A walk starts where it should (the first key >= a given one) instead of at
 * the first key, so a page of a prefix costs what it returns, not the size of the index.
 *
 * The index holds each key once (its own copy) and a pointer for it; it frees neither the
 * values nor calls anything on them, except keyidx_done's @free_val. Not thread-safe: the
 * caller locks. An iterator is valid until the next change of the index.
 */
#ifndef SKIFF_BASE_KEYIDX_H
#define SKIFF_BASE_KEYIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYIDX_CHUNK 256

struct keyidx_slot;
struct keyidx_chunk;

struct keyidx {
	struct keyidx_chunk **chunks; /* in key order; none is empty */
	size_t n_chunks, cap_chunks;
	struct keyidx_slot **table; /* open addressing, linear probing; cap a power of two */
	size_t cap, n;
};

struct keyidx_iter {
	const struct keyidx *ix;
	size_t chunk, pos;
};

void keyidx_init(struct keyidx *ix);
/* Frees the index; calls @free_val (when not NULL) on each value. */
void keyidx_done(struct keyidx *ix, void (*free_val)(void *val));

size_t keyidx_len(const struct keyidx *ix);
/* The value under @key, or NULL. */
void *keyidx_get(const struct keyidx *ix, const char *key);
/* Sets @key's value (@val not NULL); returns the one it replaces, or NULL for a new key. */
void *keyidx_put(struct keyidx *ix, const char *key, void *val);
/* Removes @key; returns its value, or NULL when it was not there. */
void *keyidx_del(struct keyidx *ix, const char *key);

/* How many keys are < @key (O(N / KEYIDX_CHUNK)). */
size_t keyidx_rank(const struct keyidx *ix, const char *key);

/* Places @it before the first key >= @from (the first key of all for NULL). */
void keyidx_seek(const struct keyidx *ix, const char *from, struct keyidx_iter *it);
/* The next key and value in order (either output may be NULL); false past the last. */
bool keyidx_next(struct keyidx_iter *it, const char **ret_key, void **ret_val);

#endif
