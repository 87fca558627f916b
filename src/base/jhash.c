/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digests of JSON values. Each kind starts from a tag of its own, so that 1, "1", [1]
 * and {"1": 1} differ; numbers are hashed by value as json_equal() compares them (an
 * integer and a real never equal); an object's members are summed, which makes their
 * order irrelevant, after each pair has been mixed so that swapping keys and values
 * between members changes the digest.
 */
#include <string.h>

#include "base/jhash.h"

#define TAG_ABSENT 0x9e3779b97f4a7c15ull
#define TAG_NULL   0xbf58476d1ce4e5b9ull
#define TAG_TRUE   0x94d049bb133111ebull
#define TAG_FALSE  0x2545f4914f6cdd1dull
#define TAG_INT    0xd6e8feb86659fd93ull
#define TAG_REAL   0xa0761d6478bd642full
#define TAG_STR    0xe7037ed1a0b428dbull
#define TAG_ARR    0x8ebc6af09c88c6e3ull
#define TAG_OBJ    0x589965cc75374cc3ull

/* splitmix64's finaliser: every input bit moves about half the output bits */
static uint64_t fmix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t jhash_mix(uint64_t a, uint64_t b)
{
	return fmix(a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull);
}

static uint64_t bytes_hash(uint64_t seed, const char *s, size_t n)
{
	uint64_t h = jhash_mix(seed, n);

	for (; n >= 8; s += 8, n -= 8) {
		uint64_t w;

		memcpy(&w, s, 8);
		h = jhash_mix(h, w);
	}
	if (n) {
		uint64_t w = 0;

		memcpy(&w, s, n);
		h = jhash_mix(h, w);
	}
	return h;
}

uint64_t jhash(const json_t *v)
{
	uint64_t h;

	if (!v)
		return TAG_ABSENT;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return TAG_NULL;
	case JSON_TRUE:
		return TAG_TRUE;
	case JSON_FALSE:
		return TAG_FALSE;
	case JSON_INTEGER:
		return jhash_mix(TAG_INT, (uint64_t)json_integer_value(v));
	case JSON_REAL: {
		double d = json_real_value(v);
		uint64_t bits = 0;

		if (d != 0) /* -0.0 == 0.0 */
			memcpy(&bits, &d, sizeof(bits));
		return jhash_mix(TAG_REAL, bits);
	}
	case JSON_STRING:
		return bytes_hash(TAG_STR, json_string_value(v), json_string_length(v));
	case JSON_ARRAY: {
		size_t n = json_array_size(v);

		h = jhash_mix(TAG_ARR, n);
		for (size_t i = 0; i < n; i++)
			h = jhash_mix(h, jhash(json_array_get(v, i)));
		return h;
	}
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		uint64_t sum = 0;

		json_object_foreach ((json_t *)v, k, m)
			sum += jhash_mix(bytes_hash(TAG_STR, k, strlen(k)), jhash(m));
		return jhash_mix(jhash_mix(TAG_OBJ, json_object_size(v)), sum);
	}
	}
	return TAG_ABSENT;
}
