/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of base/jload.c and base/jdump.c against jansson: every document decodes to
 * the tree json_loadb makes of it (types, values, key order) and every malformed one fails
 * with jansson's own error, position included; every value is written byte for byte as
 * json_dumps writes it, for the flags the fast path takes and for those it hands to
 * jansson, and values jansson refuses to write are refused too; a text written piece by
 * piece reads as jansson writes the same tree. Documents and values come from lists of edge
 * cases and from random trees.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/jdump.h"
#include "base/jhash.h"
#include "base/jload.h"

/* ---- reading ---- */

static void check_same(const char *doc, size_t len, size_t flags)
{
	json_error_t e1, e2;
	json_t *a = jload_b(doc, len, flags, &e1);
	json_t *b = json_loadb(doc, len, flags, &e2);

	if (!b) {
		if (a)
			fail_msg("decoded what jansson refuses (%s): %.*s", e2.text, (int)len, doc);
		assert_string_equal(e1.text, e2.text);
		assert_int_equal(e1.line, e2.line);
		assert_int_equal(e1.column, e2.column);
		assert_int_equal(e1.position, e2.position);
		return;
	}
	if (!a)
		fail_msg("refused what jansson decodes (%s): %.*s", e1.text, (int)len, doc);
	{
		char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!json_equal(a, b) || strcmp(da, db) != 0)
			fail_msg("%.*s\n  decoded as %s\n  jansson:   %s", (int)len, doc, da, db);
		free(da);
		free(db);
	}
	json_decref(a);
	json_decref(b);
}

static void check_read(const char *doc)
{
	check_same(doc, strlen(doc), 0);
	check_same(doc, strlen(doc), JSON_DECODE_ANY);
	check_same(doc, strlen(doc), JSON_REJECT_DUPLICATES);
}

static void test_jload_decodes_documents_as_jansson_does(void **state)
{
	static const char *const docs[] = {
		"{}",
		"[]",
		" \t\r\n{ \"a\" : 1 , \"b\":[ ] }\n",
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
		"[true,false,null,0,-0,1,-1,123456789012345678,-123456789012345678]",
		"[1234567890123456789,-9223372036854775808,9223372036854775807]",
		"[99999999999999999999]",
		"[1.5,-0.0,0.1,1e3,1E-3,2.5e+10,-1.25E2,1e400,1e-400,4e-320,0e0]",
		"[\"\",\"plain\",\"q\\\"uote\",\"back\\\\slash\",\"sl\\/ash\",\"\\b\\f\\n\\r\\t\"]",
		"{\"a\":\"x\\ny\",\"b\":{\"c\":\"\\\"\"}}",
		"[\"\\u0041\",\"\\u00e9\",\"\\ud83d\\ude00\",\"caf\xc3\xa9\",\"\\u0000\"]",
		"{\"k\\\"ey\":1}",
		"{\"a\":1,\"b\":2,\"a\":3}",
		"{\"z\":1,\"y\":2,\"x\":{\"w\":[1,{\"v\":null}]}}",
		/* malformed */
		"",
		" ",
		"{",
		"}",
		"[1,]",
		"[1 2]",
		"{\"a\" 1}",
		"{\"a\":1,}",
		"{a:1}",
		"[01]",
		"[1.]",
		"[.5]",
		"[1e]",
		"[-]",
		"[+1]",
		"[tru]",
		"[truex]",
		"[nul]",
		"[\"unterminated]",
		"[\"bad \\x escape\"]",
		"[\"ctl \x01 char\"]",
		"[\"bad utf8 \xc3\x28\"]",
		"[\"\\ud800\"]",
		"{} []",
		"{}x",
		"\"top-level string\"",
		"42",
		"null",
		"[1]\0[2]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_read(docs[i]);
	/* a NUL inside the buffer */
	check_same("[1]\0", 4, 0);
	check_same("[\"a\0b\"]", 7, 0);
}

static void test_jload_decodes_deep_nesting_as_jansson_does(void **state)
{
	size_t n = 3000;
	char *doc = malloc(2 * n + 1);

	(void)state;
	for (size_t depth = 500; depth <= n; depth += 500) {
		memset(doc, '[', depth);
		memset(doc + depth, ']', depth);
		check_same(doc, 2 * depth, 0);
	}
	free(doc);
}

static json_t *random_value(unsigned *seed, int depth)
{
	static const char *const words[] = {
		"name", "app", "a b",         "quote\"d", "back\\",     "tab\there", "line\nbreak",
		"",     "x/y", "caf\xc3\xa9", "\x01",     "k8s.io/app", "100m",
	};
	int kind = rand_r(seed) % (depth > 4 ? 6 : 8);

	switch (kind) {
	case 0:
		return json_integer((json_int_t)rand_r(seed) * (rand_r(seed) % 2 ? -1 : 1) *
				    (rand_r(seed) % 2 ? 1 : 1000000007LL));
	case 1:
		return json_real((double)rand_r(seed) / (rand_r(seed) + 1) *
				 (rand_r(seed) % 2 ? 1e-9 : 1e12));
	case 2:
		return json_string(words[rand_r(seed) % (sizeof(words) / sizeof(words[0]))]);
	case 3:
		return rand_r(seed) % 2 ? json_true() : json_false();
	case 4:
		return json_null();
	case 5:
		return json_string(words[rand_r(seed) % 3]);
	case 6: {
		json_t *a = json_array();
		int n = rand_r(seed) % 5;

		for (int i = 0; i < n; i++)
			json_array_append_new(a, random_value(seed, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		int n = rand_r(seed) % 6;

		for (int i = 0; i < n; i++)
			json_object_set_new(
				o, words[rand_r(seed) % (sizeof(words) / sizeof(words[0]))],
				random_value(seed, depth + 1));
		return o;
	}
	}
}

static void test_jload_decodes_random_documents_as_jansson_does(void **state)
{
	static const size_t encodings[] = {
		JSON_COMPACT,
		JSON_INDENT(2),
		JSON_COMPACT | JSON_ENSURE_ASCII,
		JSON_INDENT(1) | JSON_ESCAPE_SLASH,
		JSON_REAL_PRECISION(5),
	};
	unsigned seed = 20261126;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(&seed, 0);
		json_t *top = json_object();
		char *doc;

		json_object_set_new(top, "v", v);
		doc = json_dumps(top, encodings[i % 5]);
		check_read(doc);
		free(doc);
		json_decref(top);
	}
}

/* jload_skip finds a value's end in text: strings with escapes, containers, scalars. */
static void test_jload_skip_finds_values_ends(void **state)
{
	static const struct {
		const char *text;
		int len; /* of the value at the text's start; -1: none */
	} cases[] = {
		{"\"plain\",1", 7},
		{"\"a \\\"q\\\" \\\\\",", 12},
		{"\"ends in \\\\\\\\\"]", 14},
		{"{\"a\":[1,{\"b\":\"]}\"}],\"c\":{}} tail", 27},
		{"[[[]],[]]x", 9},
		{"12.5e3,", 6},
		{"true}", 4},
		{"null", 4},
		{"\"open", -1},
		{"{\"a\":[1,2}", -1},
		{",", -1},
		{"", -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text, *e = jload_skip(t, t + strlen(t));

		if (cases[i].len < 0)
			assert_null(e);
		else if (!e || e - t != cases[i].len)
			fail_msg("%s: end at %d, expected %d", t, e ? (int)(e - t) : -1,
				 cases[i].len);
	}
}

/* ---- the memo ---- */

/* Equal values, with members in the same order. */
static bool same_tree(const json_t *a, const json_t *b)
{
	char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
	char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
	bool same = json_equal(a, b) && da && db && strcmp(da, db) == 0;

	free(da);
	free(db);
	return same;
}

/* @doc through @m: the tree jansson makes of it, or jansson's error. */
static json_t *check_memo_read(struct jload_memo *m, const char *doc)
{
	json_error_t e1, e2;
	json_t *a = jload_memo_b(m, doc, strlen(doc), &e1);
	json_t *b = json_loadb(doc, strlen(doc), 0, &e2);

	if (!a != !b)
		fail_msg("%s: memo %s, jansson %s", doc, a ? "decoded" : e1.text,
			 b ? "decoded" : e2.text);
	if (a && !same_tree(a, b))
		fail_msg("%s: the memo's tree differs from jansson's", doc);
	if (!a && (strcmp(e1.text, e2.text) != 0 || e1.position != e2.position))
		fail_msg("%s: memo error '%s' at %d, jansson '%s' at %d", doc, e1.text, e1.position,
			 e2.text, e2.position);
	json_decref(b);
	return a;
}

/*
 * Random documents and documents that repeat each other's parts decode through a memo to
 * jansson's trees, however the memo's slots are shared out (a memo of depths 1 to 8 sees
 * every container, so slots are taken and retaken all the time); malformed ones fail as
 * jansson fails them.
 */
static void test_jload_memo_decodes_as_jansson_does(void **state)
{
	struct jload_memo *m = jload_memo_new(1, 8);
	size_t kept;
	static const char *const parts[] = {
		"{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\",\"args\":[\"a\",\"b\"]}]"
		"}",
		"[\"a \\\"quoted\\\" \\\\ and ] bracket } "
		"inside\",{\"k\":\"\\\\\"},1,2,3,4,5,6,7,8]",
		"{\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"5d8f9c7b6\"},\"x\":[]}",
		"{\"esc\":\"\\u00e9t\\u00e9 and more and more and more and more text\"}",
	};
	unsigned seed = 20261128;
	uint64_t lookups, hits;
	char doc[2048];

	(void)state;
	for (int i = 0; i < 2000; i++) {
		json_t *v = random_value(&seed, 0), *top = json_object();
		char *text;

		json_object_set_new(top, "v", v);
		json_object_set_new(top, "w", json_loads(parts[i % 4], 0, NULL));
		text = json_dumps(top, i % 2 ? JSON_COMPACT : JSON_INDENT(1));
		json_decref(check_memo_read(m, text));
		json_decref(check_memo_read(m, text));
		free(text);
		json_decref(top);
	}
	for (size_t i = 0; i < 4; i++) {
		snprintf(doc, sizeof(doc), "{\"a\":%s,\"b\":%s,\"c\":[%s,%s]}", parts[i], parts[i],
			 parts[i], parts[(i + 1) % 4]);
		json_decref(check_memo_read(m, doc));
		/* cut short, or with a byte changed, after the memo holds its parts */
		for (size_t cut = 1; cut < strlen(doc); cut += 7) {
			char *bad = strndup(doc, cut);

			assert_non_null(bad);
			json_decref(check_memo_read(m, bad));
			free(bad);
		}
		doc[strlen(doc) - 2] = '}';
		json_decref(check_memo_read(m, doc));
	}
	jload_memo_stats(m, &lookups, &hits, &kept);
	assert_true(hits > 0 && hits < lookups);
	jload_memo_free(m);
}

/*
 * A container at the memo's depths, long enough and seen twice before, comes back as the
 * tree it was: shared between documents, while shorter ones, ones at other depths and
 * plain jload_b() make trees of their own. A shared tree outlives the memo.
 */
static void test_jload_memo_shares_repeated_subtrees(void **state)
{
	static const char spec[] = "{\"containers\":[{\"name\":\"main\",\"image\":\"registry."
				   "example/app:1.0\",\"resources\":{\"requests\":{\"cpu\":"
				   "\"100m\"}}}],\"restartPolicy\":\"Always\"}";
	struct jload_memo *m = jload_memo_new(3, 4);
	json_t *docs[4], *shared;
	uint64_t lookups, hits;
	size_t kept;
	char doc[1024];

	(void)state;
	for (int i = 0; i < 4; i++) {
		/* an event around an object: the object is depth 2, its members depth 3 */
		snprintf(doc, sizeof(doc),
			 "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p%d\","
			 "\"labels\":{\"a\":\"b\"}},\"spec\":%s}}",
			 i, spec);
		docs[i] = check_memo_read(m, doc);
	}
	/* seen once, then kept on the second sighting: the third and fourth share it */
	assert_ptr_not_equal(json_object_get(json_object_get(docs[0], "object"), "spec"),
			     json_object_get(json_object_get(docs[1], "object"), "spec"));
	shared = json_object_get(json_object_get(docs[1], "object"), "spec");
	assert_ptr_equal(shared, json_object_get(json_object_get(docs[2], "object"), "spec"));
	assert_ptr_equal(shared, json_object_get(json_object_get(docs[3], "object"), "spec"));
	/* the object (depth 2) and the labels (shorter than JLOAD_MEMO_MIN) are each one's own */
	assert_ptr_not_equal(json_object_get(docs[2], "object"),
			     json_object_get(docs[3], "object"));
	assert_ptr_not_equal(
		json_object_get(json_object_get(json_object_get(docs[2], "object"), "metadata"),
				"labels"),
		json_object_get(json_object_get(json_object_get(docs[3], "object"), "metadata"),
				"labels"));
	jload_memo_stats(m, &lookups, &hits, &kept);
	assert_int_equal(hits, 2);
	/* the spec and, from the two decodes before it was kept, its containers */
	assert_true(kept > strlen(spec) && kept < 2 * strlen(spec));
	json_incref(shared);
	for (int i = 0; i < 4; i++)
		json_decref(docs[i]);
	jload_memo_free(m);
	assert_string_equal(json_string_value(json_object_get(shared, "restartPolicy")), "Always");
	json_decref(shared);
	/* a text longer than the memo keeps is decoded each time */
	{
		size_t big = 17 * 1024;
		char *arr = malloc(big + 16);
		json_t *a[3];

		assert_non_null(arr);
		memcpy(arr, "[\"", 2);
		memset(arr + 2, 'x', big);
		memcpy(arr + 2 + big, "\"]", 3);
		m = jload_memo_new(1, 2);
		for (int i = 0; i < 3; i++)
			a[i] = jload_memo_b(m, arr, strlen(arr), NULL);
		assert_int_equal(json_string_length(json_array_get(a[2], 0)), big);
		assert_ptr_not_equal(a[1], a[2]);
		jload_memo_stats(m, &lookups, &hits, &kept);
		assert_int_equal(hits, 0);
		for (int i = 0; i < 3; i++)
			json_decref(a[i]);
		jload_memo_free(m);
		free(arr);
	}
	/* texts of 15 KiB, each seen twice: the memo keeps no more than 8 MiB of them */
	{
		size_t len = 15 * 1024;
		char *arr = malloc(len + 1);

		assert_non_null(arr);
		m = jload_memo_new(1, 1);
		for (int i = 0; i < 1200; i++) {
			int w = snprintf(arr, len + 1, "[%d,\"", i);

			memset(arr + w, 'y', len - (size_t)w - 2);
			memcpy(arr + len - 2, "\"]", 3);
			for (int twice = 0; twice < 2; twice++)
				json_decref(jload_memo_b(m, arr, len, NULL));
		}
		jload_memo_stats(m, &lookups, &hits, &kept);
		assert_true(kept > 4 * 1024 * 1024 && kept <= 8 * 1024 * 1024);
		jload_memo_free(m);
		free(arr);
	}
	/* without a memo nothing is shared */
	docs[0] = jload_memo_b(NULL, spec, strlen(spec), NULL);
	docs[1] = jload_memo_b(NULL, spec, strlen(spec), NULL);
	assert_ptr_not_equal(json_object_get(docs[0], "containers"),
			     json_object_get(docs[1], "containers"));
	json_decref(docs[0]);
	json_decref(docs[1]);
}

/* ---- writing ---- */

static const size_t flag_sets[] = {
	JSON_COMPACT,
	JSON_COMPACT | JSON_PRESERVE_ORDER,
	JSON_COMPACT | JSON_ENCODE_ANY,
	0,
	JSON_COMPACT | JSON_SORT_KEYS,
	JSON_INDENT(2),
	JSON_COMPACT | JSON_ENSURE_ASCII,
	JSON_COMPACT | JSON_ESCAPE_SLASH,
};

static void check_written(const json_t *v)
{
	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		char *a = jdump_s(v, flag_sets[i]);
		char *b = json_dumps(v, flag_sets[i]);

		if (!a != !b || (a && strcmp(a, b) != 0))
			fail_msg("flags %#zx: wrote %s, jansson %s", flag_sets[i], a ? a : "(null)",
				 b ? b : "(null)");
		free(a);
		free(b);
	}
}

static void test_jdump_writes_values_as_jansson_does(void **state)
{
	json_t *o = json_pack(
		"{s:s, s:i, s:I, s:I, s:b, s:b, s:n, s:f, s:f, s:[], s:{}, s:[i,s,{s:[]}]}", "name",
		"p", "zero", 0, "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX, "t", 1,
		"f", 0, "nil", "real", 1.5, "whole", 3.0, "empty", "obj", "mixed", -7, "x", "k",
		"v");
	static const char *const strings[] = {
		"",           "plain",        "q\"uote",     "back\\slash",           "sl/ash",
		"\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x82\xac and more",
	};

	(void)state;
	check_written(o);
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		json_t *s = json_string(strings[i]);
		json_t *k = json_object();

		json_object_set(k, strings[i], s);
		check_written(s);
		check_written(k);
		json_decref(s);
		json_decref(k);
	}
	{
		/* a NUL inside a string, and bytes that are not UTF-8 */
		json_t *nul = json_stringn("a\0b", 3);
		json_t *bad = json_stringn_nocheck("\xc3\x28", 2);
		json_t *arr = json_pack("[O,O]", nul, bad);

		check_written(nul);
		check_written(bad);
		check_written(arr);
		json_decref(nul);
		json_decref(bad);
		json_decref(arr);
	}
	check_written(json_null());
	check_written(json_true());
	json_decref(o);
}

static void test_jdump_writes_deep_nesting_as_jansson_does(void **state)
{
	json_t *top = json_array(), *cur = top;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		json_t *next = json_array();

		json_array_append_new(cur, next);
		cur = next;
	}
	check_written(top);
	json_decref(top);
}

static void test_jdump_writes_random_values_as_jansson_does(void **state)
{
	unsigned seed = 1126;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(&seed, 0);

		check_written(v);
		json_decref(v);
	}
}

/* Writes @v piece by piece: members and elements one call each, reals and every third
 * container as a whole tree. */
static void jtext_walk(struct jtext *t, const json_t *v, unsigned *seed)
{
	const char *key;
	json_t *m;
	size_t i;

	if ((json_is_object(v) || json_is_array(v)) && rand_r(seed) % 3 == 0) {
		jtext_value(t, v);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jtext_open(t, '{');
		json_object_foreach ((json_t *)v, key, m) {
			jtext_key(t, key);
			jtext_walk(t, m, seed);
		}
		jtext_close(t, '}');
		break;
	case JSON_ARRAY:
		jtext_open(t, '[');
		json_array_foreach (v, i, m)
			jtext_walk(t, m, seed);
		jtext_close(t, ']');
		break;
	case JSON_STRING:
		jtext_str(t, json_string_value(v));
		break;
	case JSON_INTEGER:
		jtext_int(t, json_integer_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		jtext_bool(t, json_is_true(v));
		break;
	case JSON_NULL:
		jtext_null(t);
		break;
	default:
		jtext_value(t, v);
		break;
	}
}

/*
 * A text written piece by piece is what jansson writes of the same tree: commas, escapes,
 * UTF-8 copied as it is, reals left to jansson. A value jansson refuses makes the whole
 * text NULL rather than a document with a hole in it.
 */
static void test_jtext_writes_what_jansson_writes(void **state)
{
	unsigned seed = 2811;
	struct jtext t = {0};
	size_t len;
	char *a, *b;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(&seed, 0);

		jtext_walk(&t, v, &seed);
		a = jtext_take(&t, &len);
		b = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
		assert_non_null(a);
		if (strcmp(a, b) != 0)
			fail_msg("wrote %s, jansson %s", a, b);
		assert_int_equal(len, strlen(b));
		assert_int_equal(t.len, 0);
		free(a);
		free(b);
		json_decref(v);
	}
	{
		/* the strings jansson escapes, one per element */
		static const char *const strings[] = {"q\"uote",      "back\\slash",  "\b\f\n\r\t",
						      "\x01\x1f\x7f", "\xe2\x82\xac", NULL};

		jtext_open(&t, '[');
		for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
			jtext_str(&t, strings[i]);
		jtext_close(&t, ']');
		a = jtext_take(&t, NULL);
		assert_string_equal(a, "[\"q\\\"uote\",\"back\\\\slash\",\"\\b\\f\\n\\r\\t\","
				       "\"\\u0001\\u001F\x7f\",\"\xe2\x82\xac\",null]");
		free(a);
	}
	jtext_open(&t, '{');
	jtext_key_str(&t, "a", "x\"y");
	jtext_key_str(&t, "b", NULL);
	jtext_close(&t, '}');
	a = jtext_take(&t, &len);
	assert_string_equal(a, "{\"a\":\"x\\\"y\",\"b\":null}");
	assert_int_equal(len, strlen(a));
	free(a);
	{
		json_t *bad = json_stringn_nocheck("\xc3\x28", 2);

		jtext_open(&t, '{');
		jtext_key(&t, "ok");
		jtext_int(&t, 1);
		jtext_key(&t, "bad");
		jtext_value(&t, bad);
		jtext_close(&t, '}');
		assert_null(jtext_take(&t, &len));
		assert_null(t.buf);
		json_decref(bad);
	}
	jtext_open(&t, '{');
	jtext_clear(&t);
	assert_null(t.buf);
	assert_int_equal(t.len, 0);
}

/*
 * Values Kubernetes objects repeat (phases, condition statuses, defaulted policies, small
 * integers) are decoded as one shared value that outlives every tree; any other value is
 * the tree's own, and both read as jansson's.
 */
static void test_jload_shares_common_values_and_only_those(void **state)
{
	static const char doc[] =
		"{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
		"\"True\"},{\"type\":\"ContainersReady\",\"status\":\"True\"}],\"name\":"
		"\"Runnin\",\"other\":\"Running!\",\"escaped\":\"kubernetes.io\\/hostname\","
		"\"policy\":\"IfNotPresent\",\"grace\":30,\"big\":1024,\"neg\":-1}";
	json_t *a = jload_b(doc, strlen(doc), 0, NULL), *b, *conds;
	json_t *running;

	(void)state;
	check_read(doc);
	assert_non_null(a);
	b = jload_b(doc, strlen(doc), 0, NULL);
	assert_non_null(b);
	running = json_object_get(a, "phase");
	assert_ptr_equal(running, json_object_get(b, "phase"));
	conds = json_object_get(a, "conditions");
	assert_ptr_equal(json_object_get(json_array_get(conds, 0), "status"),
			 json_object_get(json_array_get(conds, 1), "status"));
	assert_ptr_equal(json_object_get(a, "policy"), json_object_get(b, "policy"));
	assert_ptr_equal(json_object_get(a, "grace"), json_object_get(b, "grace"));
	/* near misses, unlisted values and other integers are the tree's own */
	assert_ptr_not_equal(json_object_get(a, "big"), json_object_get(b, "big"));
	assert_ptr_not_equal(json_object_get(a, "neg"), json_object_get(b, "neg"));
	assert_ptr_not_equal(json_object_get(a, "name"), json_object_get(b, "name"));
	assert_ptr_not_equal(json_object_get(a, "other"), json_object_get(b, "other"));
	/* also when written with escapes */
	assert_ptr_equal(json_object_get(a, "escaped"), json_object_get(b, "escaped"));
	assert_string_equal(json_string_value(json_object_get(a, "escaped")),
			    "kubernetes.io/hostname");
	/* a shared value survives the trees that held it, however often it was released */
	json_decref(a);
	for (int i = 0; i < 3; i++)
		json_decref(json_incref(running));
	json_decref(b);
	a = jload_b(doc, strlen(doc), 0, NULL);
	assert_ptr_equal(json_object_get(a, "phase"), running);
	assert_string_equal(json_string_value(running), "Running");
	json_decref(a);
}

static char *ints_doc(void)
{
	size_t cap = 8192, n = 0;
	char *doc = malloc(cap);

	assert_non_null(doc);
	doc[n++] = '[';
	for (int i = 0; i < 1100; i++) {
		int w = snprintf(doc + n, cap - n, "%s%d", i ? "," : "", i);

		assert_true(w > 0 && (size_t)w < cap - n - 2);
		n += (size_t)w;
	}
	doc[n++] = ']';
	doc[n] = '\0';
	return doc;
}

static void *decode_ints(void *arg)
{
	const char *doc = arg;

	for (int round = 0; round < 20; round++)
		json_decref(jload_b(doc, strlen(doc), 0, NULL));
	return NULL;
}

/* Threads making the shared integers at once end with one of each, all others freed. */
static void test_jload_shares_small_integers_across_threads(void **state)
{
	char *doc = ints_doc();
	pthread_t th[4];
	json_t *a, *b;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, decode_ints, doc), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	a = jload_b(doc, strlen(doc), 0, NULL);
	b = jload_b(doc, strlen(doc), 0, NULL);
	assert_int_equal(json_array_size(a), 1100);
	for (size_t i = 0; i < 1100; i++) {
		assert_int_equal(json_integer_value(json_array_get(a, i)), (json_int_t)i);
		if (i < 1024)
			assert_ptr_equal(json_array_get(a, i), json_array_get(b, i));
		else
			assert_ptr_not_equal(json_array_get(a, i), json_array_get(b, i));
	}
	json_decref(a);
	json_decref(b);
	free(doc);
}

/* ---- digests ---- */

/* An equal copy of @v with every object's members in the reverse order. */
static json_t *reversed(const json_t *v)
{
	if (json_is_array(v)) {
		json_t *out = json_array();

		for (size_t i = 0; i < json_array_size(v); i++)
			json_array_append_new(out, reversed(json_array_get(v, i)));
		return out;
	}
	if (json_is_object(v)) {
		json_t *out = json_object();
		const char *keys[64];
		size_t n = 0;
		const char *k;
		json_t *m;

		json_object_foreach ((json_t *)v, k, m)
			if (n < 64)
				keys[n++] = k;
		assert_int_equal(n, json_object_size(v));
		while (n--)
			json_object_set_new(out, keys[n], reversed(json_object_get(v, keys[n])));
		return out;
	}
	return json_deep_copy(v);
}

static int by_digest(const void *a, const void *b)
{
	uint64_t x = jhash(*(json_t *const *)a), y = jhash(*(json_t *const *)b);

	return x < y ? -1 : x > y;
}

static void test_jhash_agrees_with_json_equal(void **state)
{
	enum { N = 3000 };
	static const char *const distinct[] = {
		"1",
		"1.0",
		"\"1\"",
		"[1]",
		"{\"1\":1}",
		"null",
		"true",
		"false",
		"[]",
		"{}",
		"\"\"",
		"[[]]",
		"[{}]",
		"{\"a\":\"b\"}",
		"{\"b\":\"a\"}",
		"[1,2]",
		"[2,1]",
		"{\"a\":1,\"b\":2}",
		"{\"a\":2,\"b\":1}",
		"{\"a\":{}}",
		"\"abcdefgh\"",
		"\"abcdefgh\\u0000\"",
		"\"abcdefghi\"",
		"-1",
		"0",
	};
	json_t *vals[N];
	unsigned seed = 20261128;
	size_t nd = sizeof(distinct) / sizeof(distinct[0]);

	(void)state;
	/* the few values that look alike all differ, and an absent value is not null */
	for (size_t i = 0; i < nd; i++) {
		json_t *a = json_loads(distinct[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

		assert_non_null(a);
		for (size_t j = i + 1; j < nd; j++) {
			json_t *b = json_loads(distinct[j], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

			if (jhash(a) == jhash(b))
				fail_msg("%s and %s have one digest", distinct[i], distinct[j]);
			json_decref(b);
		}
		json_decref(a);
	}
	assert_true(jhash(NULL) != jhash(json_null()));
	{
		json_t *z = json_real(0.0), *nz = json_real(-0.0);

		assert_true(jhash(z) == jhash(nz));
		json_decref(z);
		json_decref(nz);
	}
	/* equal values, whatever their members' order, have one digest; unequal ones not */
	for (int i = 0; i < N; i++) {
		json_t *r;

		vals[i] = random_value(&seed, 0);
		r = reversed(vals[i]);
		assert_true(json_equal(vals[i], r));
		assert_true(jhash(vals[i]) == jhash(r));
		json_decref(r);
	}
	qsort(vals, N, sizeof(vals[0]), by_digest);
	for (int i = 1; i < N; i++)
		if (jhash(vals[i - 1]) == jhash(vals[i]) && !json_equal(vals[i - 1], vals[i])) {
			char *a = json_dumps(vals[i - 1], JSON_ENCODE_ANY);
			char *b = json_dumps(vals[i], JSON_ENCODE_ANY);

			fail_msg("%s and %s have one digest", a, b);
		}
	for (int i = 0; i < N; i++)
		json_decref(vals[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jload_decodes_documents_as_jansson_does),
		cmocka_unit_test(test_jload_decodes_deep_nesting_as_jansson_does),
		cmocka_unit_test(test_jload_decodes_random_documents_as_jansson_does),
		cmocka_unit_test(test_jload_skip_finds_values_ends),
		cmocka_unit_test(test_jload_memo_decodes_as_jansson_does),
		cmocka_unit_test(test_jload_memo_shares_repeated_subtrees),
		cmocka_unit_test(test_jdump_writes_values_as_jansson_does),
		cmocka_unit_test(test_jdump_writes_deep_nesting_as_jansson_does),
		cmocka_unit_test(test_jdump_writes_random_values_as_jansson_does),
		cmocka_unit_test(test_jtext_writes_what_jansson_writes),
		cmocka_unit_test(test_jload_shares_common_values_and_only_those),
		cmocka_unit_test(test_jload_shares_small_integers_across_threads),
		cmocka_unit_test(test_jhash_agrees_with_json_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
