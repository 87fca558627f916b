/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A compact JSON writer for jansson trees (see jdump.h): one growing buffer, plain ASCII
 * strings copied in runs, integers formatted by hand. Anything whose bytes it cannot
 * vouch for gives up, and jansson writes the whole value instead.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jdump.h"

/* jansson refuses deeper documents on reading (JSON_PARSER_MAX_DEPTH): theirs to write */
#define MAX_DEPTH 512

static void reserve(struct jtext *w, size_t n)
{
	if (w->len + n <= w->cap)
		return;
	if (!w->cap)
		w->cap = 256;
	while (w->len + n > w->cap)
		w->cap *= 2;
	w->buf = realloc(w->buf, w->cap);
	if (!w->buf)
		abort();
}

static void put(struct jtext *w, const char *s, size_t n)
{
	reserve(w, n);
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void put_char(struct jtext *w, char c)
{
	reserve(w, 1);
	w->buf[w->len++] = c;
}

/*
 * As jansson escapes: the short forms, \uXXXX (upper-case hex) for other controls. Bytes
 * beyond ASCII make it give up unless @utf8 says the caller vouches for them.
 */
static bool put_string(struct jtext *w, const char *s, size_t n, bool utf8)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;

	put_char(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc;

		if (c >= 0x80 && !utf8)
			return false; /* UTF-8 is checked by jansson as it writes */
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			esc = '"';
			break;
		case '\\':
			esc = '\\';
			break;
		case '\b':
			esc = 'b';
			break;
		case '\f':
			esc = 'f';
			break;
		case '\n':
			esc = 'n';
			break;
		case '\r':
			esc = 'r';
			break;
		case '\t':
			esc = 't';
			break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			put(w, u, sizeof(u));
			continue;
		}
		}
		put_char(w, '\\');
		put_char(w, esc);
	}
	put(w, s + run, n - run);
	put_char(w, '"');
	return true;
}

static void put_integer(struct jtext *w, json_int_t v)
{
	char tmp[24];
	size_t n = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		tmp[sizeof(tmp) - ++n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[sizeof(tmp) - ++n] = '-';
	put(w, tmp + sizeof(tmp) - n, n);
}

static bool put_value(struct jtext *w, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		size_t key_len;
		json_t *member;
		bool first = true;

		if (++w->depth > MAX_DEPTH)
			return false;
		put_char(w, '{');
		json_object_keylen_foreach((json_t *)v, key, key_len, member)
		{
			if (!first)
				put_char(w, ',');
			first = false;
			if (!put_string(w, key, key_len, false))
				return false;
			put_char(w, ':');
			if (!put_value(w, member))
				return false;
		}
		put_char(w, '}');
		w->depth--;
		return true;
	}
	case JSON_ARRAY:
		if (++w->depth > MAX_DEPTH)
			return false;
		put_char(w, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				put_char(w, ',');
			if (!put_value(w, json_array_get(v, i)))
				return false;
		}
		put_char(w, ']');
		w->depth--;
		return true;
	case JSON_STRING:
		return put_string(w, json_string_value(v), json_string_length(v), false);
	case JSON_INTEGER:
		put_integer(w, json_integer_value(v));
		return true;
	case JSON_TRUE:
		put(w, "true", 4);
		return true;
	case JSON_FALSE:
		put(w, "false", 5);
		return true;
	case JSON_NULL:
		put(w, "null", 4);
		return true;
	default: /* reals: jansson's number formatting */
		return false;
	}
}

char *jdump_s(const json_t *v, size_t flags)
{
	struct jtext w = {.cap = 1024};

	if (!v || !(flags & JSON_COMPACT) ||
	    (flags & ~(size_t)(JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)) ||
	    (!(flags & JSON_ENCODE_ANY) && !json_is_object(v) && !json_is_array(v)))
		return json_dumps(v, flags);
	w.buf = malloc(w.cap);
	if (!w.buf)
		abort();
	if (!put_value(&w, v)) {
		free(w.buf);
		return json_dumps(v, flags);
	}
	put_char(&w, '\0');
	return w.buf;
}

/* What comes before a value: the comma after the one before it. */
static void before_value(struct jtext *t)
{
	if (t->comma)
		put_char(t, ',');
	t->comma = true;
}

void jtext_open(struct jtext *t, char bracket)
{
	before_value(t);
	put_char(t, bracket);
	t->comma = false;
}

void jtext_close(struct jtext *t, char bracket)
{
	put_char(t, bracket);
	t->comma = true;
}

void jtext_key(struct jtext *t, const char *key)
{
	if (t->comma)
		put_char(t, ',');
	put_string(t, key, strlen(key), true);
	put_char(t, ':');
	t->comma = false;
}

void jtext_str(struct jtext *t, const char *s)
{
	before_value(t);
	if (s)
		put_string(t, s, strlen(s), true);
	else
		put(t, "null", 4);
}

void jtext_key_str(struct jtext *t, const char *key, const char *s)
{
	jtext_key(t, key);
	jtext_str(t, s);
}

void jtext_int(struct jtext *t, long long v)
{
	before_value(t);
	put_integer(t, (json_int_t)v);
}

void jtext_bool(struct jtext *t, bool v)
{
	before_value(t);
	if (v)
		put(t, "true", 4);
	else
		put(t, "false", 5);
}

void jtext_null(struct jtext *t)
{
	before_value(t);
	put(t, "null", 4);
}

void jtext_value(struct jtext *t, const json_t *v)
{
	size_t at;
	char *s;

	before_value(t);
	at = t->len;
	t->depth = 0;
	if (put_value(t, v))
		return;
	/* what the fast writer gives up on, jansson writes */
	t->len = at;
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s) {
		t->bad = true;
		return;
	}
	put(t, s, strlen(s));
	free(s);
}

char *jtext_take(struct jtext *t, size_t *len)
{
	char *s;

	put_char(t, '\0');
	s = t->buf;
	if (len)
		*len = t->len - 1;
	if (t->bad) {
		free(s);
		s = NULL;
	}
	memset(t, 0, sizeof(*t));
	return s;
}

void jtext_clear(struct jtext *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}
