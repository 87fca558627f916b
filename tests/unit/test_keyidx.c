/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the ordered index (base/keyidx.c): lookups, replacement, removal, ordered
 * walks from any key, and a long random run of puts and removals (enough to split and
 * merge chunks and grow the table many times) checked after each step against a plain
 * sorted array.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/keyidx.h"

static void test_keyidx_empty_index_finds_nothing(void **state)
{
	struct keyidx ix;
	struct keyidx_iter it;

	(void)state;
	keyidx_init(&ix);
	assert_null(keyidx_get(&ix, "a"));
	assert_null(keyidx_del(&ix, "a"));
	keyidx_seek(&ix, NULL, &it);
	assert_false(keyidx_next(&it, NULL, NULL));
	keyidx_seek(&ix, "a", &it);
	assert_false(keyidx_next(&it, NULL, NULL));
	assert_int_equal(keyidx_len(&ix), 0);
	keyidx_done(&ix, NULL);
}

static void test_keyidx_put_replaces_and_returns_the_previous_value(void **state)
{
	struct keyidx ix;
	int a = 1, b = 2;

	(void)state;
	keyidx_init(&ix);
	assert_null(keyidx_put(&ix, "/registry/pods/default/web", &a));
	assert_ptr_equal(keyidx_put(&ix, "/registry/pods/default/web", &b), &a);
	assert_ptr_equal(keyidx_get(&ix, "/registry/pods/default/web"), &b);
	assert_int_equal(keyidx_len(&ix), 1);
	assert_null(keyidx_get(&ix, "/registry/pods/default/we"));
	assert_ptr_equal(keyidx_del(&ix, "/registry/pods/default/web"), &b);
	assert_null(keyidx_get(&ix, "/registry/pods/default/web"));
	assert_int_equal(keyidx_len(&ix), 0);
	keyidx_done(&ix, NULL);
}

static void test_keyidx_seek_starts_at_the_first_key_not_below(void **state)
{
	static const char *keys[] = {"/p/b/x", "/p/a/y", "/p/c/z", "/p/a/x", "/p/b/a"};
	struct keyidx ix;
	struct keyidx_iter it;
	const char *k;
	int v = 0;

	(void)state;
	keyidx_init(&ix);
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		keyidx_put(&ix, keys[i], &v);
	keyidx_seek(&ix, NULL, &it);
	assert_true(keyidx_next(&it, &k, NULL));
	assert_string_equal(k, "/p/a/x");
	keyidx_seek(&ix, "/p/b/", &it);
	assert_true(keyidx_next(&it, &k, NULL));
	assert_string_equal(k, "/p/b/a");
	assert_true(keyidx_next(&it, &k, NULL));
	assert_string_equal(k, "/p/b/x");
	assert_true(keyidx_next(&it, &k, NULL));
	assert_string_equal(k, "/p/c/z");
	assert_false(keyidx_next(&it, &k, NULL));
	/* a continue key: the one after it comes next */
	keyidx_seek(&ix, "/p/b/a\x01", &it);
	assert_true(keyidx_next(&it, &k, NULL));
	assert_string_equal(k, "/p/b/x");
	keyidx_seek(&ix, "/q", &it);
	assert_false(keyidx_next(&it, &k, NULL));
	keyidx_done(&ix, NULL);
}

static int count_freed;

static void count_free(void *val)
{
	(void)val;
	count_freed++;
}

static void test_keyidx_done_hands_every_value_to_free_val(void **state)
{
	struct keyidx ix;
	int v;
	char key[32];

	(void)state;
	keyidx_init(&ix);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		keyidx_put(&ix, key, &v);
	}
	count_freed = 0;
	keyidx_done(&ix, count_free);
	assert_int_equal(count_freed, 1000);
}

/* The reference: a sorted array of keys, each with its value. */
struct ref {
	char **keys;
	intptr_t *vals;
	size_t n;
};

static size_t ref_lower(const struct ref *r, const char *key)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (strcmp(r->keys[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void random_key(char *buf, size_t size)
{
	/* few namespaces, many names: long shared prefixes as in the API's keys */
	snprintf(buf, size, "/registry/pods/ns%u/pod-%05u", (unsigned)(rnd() % 4),
		 (unsigned)(rnd() % 6000));
}

static void check_against(const struct keyidx *ix, const struct ref *r)
{
	struct keyidx_iter it;
	const char *k;
	void *v;
	size_t i = 0;
	char probe[64];

	assert_int_equal(keyidx_len(ix), r->n);
	keyidx_seek(ix, NULL, &it);
	while (keyidx_next(&it, &k, &v)) {
		assert_true(i < r->n);
		assert_string_equal(k, r->keys[i]);
		assert_int_equal((intptr_t)v, r->vals[i]);
		i++;
	}
	assert_int_equal(i, r->n);
	for (int t = 0; t < 20; t++) {
		size_t at;

		random_key(probe, sizeof(probe));
		if (t % 2)
			probe[strlen(probe) - 2] = '\0'; /* a prefix, between keys */
		at = ref_lower(r, probe);
		assert_int_equal(keyidx_rank(ix, probe), at);
		keyidx_seek(ix, probe, &it);
		if (at == r->n) {
			assert_false(keyidx_next(&it, &k, NULL));
		} else {
			assert_true(keyidx_next(&it, &k, NULL));
			assert_string_equal(k, r->keys[at]);
		}
		assert_int_equal((intptr_t)keyidx_get(ix, probe),
				 at < r->n && strcmp(r->keys[at], probe) == 0 ? r->vals[at] : 0);
	}
}

static void test_keyidx_random_puts_and_removals_match_a_sorted_array(void **state)
{
	struct keyidx ix;
	struct ref r = {xcalloc(24000, sizeof(char *)), xcalloc(24000, sizeof(intptr_t)), 0};
	char key[64];

	(void)state;
	keyidx_init(&ix);
	for (int step = 0; step < 60000; step++) {
		/* grow for a while, then shrink, then grow again: chunks split and merge */
		bool grow = (step / 15000) % 2 == 0 ? rnd() % 4 != 0 : rnd() % 4 == 0;
		size_t at;

		random_key(key, sizeof(key));
		at = ref_lower(&r, key);
		if (grow) {
			intptr_t val = step + 1;
			bool exists = at < r.n && strcmp(r.keys[at], key) == 0;
			void *prev = keyidx_put(&ix, key, (void *)val);

			if (exists) {
				assert_int_equal((intptr_t)prev, r.vals[at]);
			} else {
				assert_null(prev);
				memmove(r.keys + at + 1, r.keys + at, (r.n - at) * sizeof(char *));
				memmove(r.vals + at + 1, r.vals + at,
					(r.n - at) * sizeof(intptr_t));
				r.keys[at] = xstrdup(key);
				r.n++;
			}
			r.vals[at] = val;
		} else {
			if (at < r.n && strcmp(r.keys[at], key) == 0) {
				assert_int_equal((intptr_t)keyidx_del(&ix, key), r.vals[at]);
				free(r.keys[at]);
				memmove(r.keys + at, r.keys + at + 1,
					(r.n - at - 1) * sizeof(char *));
				memmove(r.vals + at, r.vals + at + 1,
					(r.n - at - 1) * sizeof(intptr_t));
				r.n--;
			} else {
				assert_null(keyidx_del(&ix, key));
			}
		}
		if (step % 997 == 0)
			check_against(&ix, &r);
	}
	check_against(&ix, &r);
	/* empty it completely: no chunk may be left behind */
	while (r.n) {
		r.n--;
		assert_int_equal((intptr_t)keyidx_del(&ix, r.keys[r.n]), r.vals[r.n]);
		free(r.keys[r.n]);
	}
	check_against(&ix, &r);
	assert_int_equal(ix.n_chunks, 0);
	keyidx_done(&ix, NULL);
	free(r.keys);
	free(r.vals);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyidx_empty_index_finds_nothing),
		cmocka_unit_test(test_keyidx_put_replaces_and_returns_the_previous_value),
		cmocka_unit_test(test_keyidx_seek_starts_at_the_first_key_not_below),
		cmocka_unit_test(test_keyidx_done_hands_every_value_to_free_val),
		cmocka_unit_test(test_keyidx_random_puts_and_removals_match_a_sorted_array),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("keyidx", tests, NULL, NULL);
}
