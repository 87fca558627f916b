/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of base/jdump.c: every value is written byte for byte as json_dumps()
 * writes it, for the flags the fast path takes and for those it hands to jansson; values
 * jansson refuses to write are refused too. Values come from a list of edge cases and from
 * random trees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/jdump.h"

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

static void check(const json_t *v)
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
	check(o);
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		json_t *s = json_string(strings[i]);
		json_t *k = json_object();

		json_object_set(k, strings[i], s);
		check(s);
		check(k);
		json_decref(s);
		json_decref(k);
	}
	{
		/* a NUL inside a string, and bytes that are not UTF-8 */
		json_t *nul = json_stringn("a\0b", 3);
		json_t *bad = json_stringn_nocheck("\xc3\x28", 2);
		json_t *arr = json_pack("[O,O]", nul, bad);

		check(nul);
		check(bad);
		check(arr);
		json_decref(nul);
		json_decref(bad);
		json_decref(arr);
	}
	check(json_null());
	check(json_true());
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
	check(top);
	json_decref(top);
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
		return rand_r(seed) % 4 ? json_string(words[rand_r(seed) % 9])
					: json_real((double)rand_r(seed) / (rand_r(seed) + 1));
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
			json_object_set_new(o, words[rand_r(seed) % 9],
					    random_value(seed, depth + 1));
		return o;
	}
	}
}

static void test_jdump_writes_random_values_as_jansson_does(void **state)
{
	unsigned seed = 1126;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		json_t *v = random_value(&seed, 0);

		check(v);
		json_decref(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jdump_writes_values_as_jansson_does),
		cmocka_unit_test(test_jdump_writes_deep_nesting_as_jansson_does),
		cmocka_unit_test(test_jdump_writes_random_values_as_jansson_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
