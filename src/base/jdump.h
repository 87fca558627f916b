/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON encoding, byte for byte as json_dumps() writes it, about three times faster for the
 * compact form the cluster stores and sends. The fast path takes JSON_COMPACT with
 * JSON_PRESERVE_ORDER and JSON_ENCODE_ANY; other flags, reals, strings with bytes beyond
 * ASCII and deep nesting are written by jansson.
 */
#ifndef SKIFF_BASE_JDUMP_H
#define SKIFF_BASE_JDUMP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* As json_dumps(): a malloc'ed string, or NULL when jansson would refuse the value. */
char *jdump_s(const json_t *v, size_t flags);

/*
 * A compact JSON text written piece by piece, for a document whose shape is fixed in code
 * (a status a hollow node reports a thousand times a second): no tree to build and free.
 * Commas come by themselves: between members after jtext_key(), between array elements.
 * Strings are escaped as jdump_s() escapes them; bytes beyond ASCII are copied as they are
 * and must be UTF-8, as every string read from JSON or kept by jansson is. Start from
 * a zeroed struct; the text grows as needed.
 */
struct jtext {
	char *buf;
	size_t len, cap;
	int depth;  /* jdump's own nesting count */
	bool comma; /* a value was written: the next member or element needs a comma */
	bool bad;   /* jtext_value() met a value jansson refuses to write */
};

void jtext_open(struct jtext *t, char bracket);  /* '{' or '[' */
void jtext_close(struct jtext *t, char bracket); /* '}' or ']' */
void jtext_key(struct jtext *t, const char *key);
void jtext_str(struct jtext *t, const char *s); /* NULL writes null */
/* jtext_key() and jtext_str(): a member whose value is a string */
void jtext_key_str(struct jtext *t, const char *key, const char *s);
void jtext_int(struct jtext *t, long long v);
void jtext_bool(struct jtext *t, bool v);
void jtext_null(struct jtext *t);
/* @v as jdump_s() writes it */
void jtext_value(struct jtext *t, const json_t *v);
/*
 * The text, NUL-terminated and malloc'ed, its length in *@len, or NULL when a value given
 * to jtext_value() does not serialize; @t is empty again either way.
 */
char *jtext_take(struct jtext *t, size_t *len);
void jtext_clear(struct jtext *t);

#endif
