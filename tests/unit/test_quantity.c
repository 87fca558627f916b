/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of resource quantities (cluster/api/quantity.c): upstream's parse table,
 * canonical output ("0.5" -> "500m", "1.5Gi" -> "1536Mi"), rounding of sub-nano amounts,
 * the binary cap, comparison, whole and milli values, and the inputs upstream refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "cluster/api/quantity.h"

static const struct canon {
	const char *in;
	const char *out;
	enum quantity_format format;
} canon[] = {
	{"0", "0", QUANTITY_DECIMAL_SI},
	{"0n", "0", QUANTITY_DECIMAL_SI},
	{"0m", "0", QUANTITY_DECIMAL_SI},
	{"0Ki", "0", QUANTITY_BINARY_SI},
	{"0Ti", "0", QUANTITY_BINARY_SI},
	{"00", "0", QUANTITY_DECIMAL_SI},
	{"-0", "0", QUANTITY_DECIMAL_SI},
	{"1", "1", QUANTITY_DECIMAL_SI},
	{"1Ki", "1Ki", QUANTITY_BINARY_SI},
	{"8Ki", "8Ki", QUANTITY_BINARY_SI},
	{"7Mi", "7Mi", QUANTITY_BINARY_SI},
	{"6Gi", "6Gi", QUANTITY_BINARY_SI},
	{"5Ti", "5Ti", QUANTITY_BINARY_SI},
	{"4Pi", "4Pi", QUANTITY_BINARY_SI},
	{"3Ei", "3Ei", QUANTITY_BINARY_SI},
	{"100Ti", "100Ti", QUANTITY_BINARY_SI},
	{"1024Mi", "1Gi", QUANTITY_BINARY_SI},
	{"307200Ki", "300Mi", QUANTITY_BINARY_SI},
	{"1025024Mi", "1001Gi", QUANTITY_BINARY_SI},
	{"1024Gi", "1Ti", QUANTITY_BINARY_SI},
	{"1.5Gi", "1536Mi", QUANTITY_BINARY_SI},
	{"1025Ki", "1025Ki", QUANTITY_BINARY_SI},
	{"0.5Mi", "512Ki", QUANTITY_BINARY_SI},
	{"0.5Ki", "512", QUANTITY_BINARY_SI},
	{"100.035Ki", "102435840m", QUANTITY_BINARY_SI},
	{"0.05Gi", "53687091200m", QUANTITY_BINARY_SI},
	{".001Ki", "1024m", QUANTITY_BINARY_SI},
	{".000001Ki", "1024u", QUANTITY_DECIMAL_SI},
	{".000000001Ki", "1024n", QUANTITY_DECIMAL_SI},
	{".000000000001Ki", "2n", QUANTITY_DECIMAL_SI},
	{"5n", "5n", QUANTITY_DECIMAL_SI},
	{"4u", "4u", QUANTITY_DECIMAL_SI},
	{"3m", "3m", QUANTITY_DECIMAL_SI},
	{"8k", "8k", QUANTITY_DECIMAL_SI},
	{"50k", "50k", QUANTITY_DECIMAL_SI},
	{"7M", "7M", QUANTITY_DECIMAL_SI},
	{"100M", "100M", QUANTITY_DECIMAL_SI},
	{"6G", "6G", QUANTITY_DECIMAL_SI},
	{"40T", "40T", QUANTITY_DECIMAL_SI},
	{"300T", "300T", QUANTITY_DECIMAL_SI},
	{"2P", "2P", QUANTITY_DECIMAL_SI},
	{"1E", "1E", QUANTITY_DECIMAL_SI},
	{"12E", "12E", QUANTITY_DECIMAL_SI},
	{"1000E", "1000E", QUANTITY_DECIMAL_SI},
	{"1000M", "1G", QUANTITY_DECIMAL_SI},
	{"0.001T", "1G", QUANTITY_DECIMAL_SI},
	{"1000m", "1", QUANTITY_DECIMAL_SI},
	{"5000m", "5", QUANTITY_DECIMAL_SI},
	{"1000u", "1m", QUANTITY_DECIMAL_SI},
	{"1.08", "1080m", QUANTITY_DECIMAL_SI},
	{"1080000000n", "1080m", QUANTITY_DECIMAL_SI},
	{"0.5", "500m", QUANTITY_DECIMAL_SI},
	{"0.001", "1m", QUANTITY_DECIMAL_SI},
	{"0.0005k", "500m", QUANTITY_DECIMAL_SI},
	{"0.00500", "5m", QUANTITY_DECIMAL_SI},
	{"100.035k", "100035", QUANTITY_DECIMAL_SI},
	{"10.035M", "10035k", QUANTITY_DECIMAL_SI},
	{"9.01", "9010m", QUANTITY_DECIMAL_SI},
	{"8.1k", "8100", QUANTITY_DECIMAL_SI},
	{"7.123456M", "7123456", QUANTITY_DECIMAL_SI},
	{"6.987654321G", "6987654321", QUANTITY_DECIMAL_SI},
	{"2.5P", "2500T", QUANTITY_DECIMAL_SI},
	{"1.01E", "1010P", QUANTITY_DECIMAL_SI},
	{".001", "1m", QUANTITY_DECIMAL_SI},
	{".0001k", "100m", QUANTITY_DECIMAL_SI},
	{"1.", "1", QUANTITY_DECIMAL_SI},
	{"1.G", "1G", QUANTITY_DECIMAL_SI},
	{"+1Ki", "1Ki", QUANTITY_BINARY_SI},
	{"-1Ki", "-1Ki", QUANTITY_BINARY_SI},
	{"-0.5", "-500m", QUANTITY_DECIMAL_SI},
	{"-100M", "-100M", QUANTITY_DECIMAL_SI},
	{"-1.5Gi", "-1536Mi", QUANTITY_BINARY_SI},
	{"1e3", "1e3", QUANTITY_DECIMAL_EXPONENT},
	{"1E-3", "1e-3", QUANTITY_DECIMAL_EXPONENT},
	{"1E6", "1e6", QUANTITY_DECIMAL_EXPONENT},
	{"1e9", "1e9", QUANTITY_DECIMAL_EXPONENT},
	{"1E18", "1e18", QUANTITY_DECIMAL_EXPONENT},
	{"1e13", "10e12", QUANTITY_DECIMAL_EXPONENT},
	{"1e14", "100e12", QUANTITY_DECIMAL_EXPONENT},
	{"1.2e3", "1200", QUANTITY_DECIMAL_EXPONENT},
	{"1.3E+6", "1300e3", QUANTITY_DECIMAL_EXPONENT},
	{"0.5e0", "500e-3", QUANTITY_DECIMAL_EXPONENT},
	{".001e12", "1e9", QUANTITY_DECIMAL_EXPONENT},
	{"0.001e0", "1e-3", QUANTITY_DECIMAL_EXPONENT},
	{"1000e-12", "1e-9", QUANTITY_DECIMAL_EXPONENT},
	{"80e-3", "80e-3", QUANTITY_DECIMAL_EXPONENT},
	{"300e6", "300e6", QUANTITY_DECIMAL_EXPONENT},
	{"-12e6", "-12e6", QUANTITY_DECIMAL_EXPONENT},
	/* sub-nano amounts round up, never down to zero */
	{"3.001n", "4n", QUANTITY_DECIMAL_SI},
	{"1.1E-9", "2e-9", QUANTITY_DECIMAL_EXPONENT},
	{"0.0000000001", "1n", QUANTITY_DECIMAL_SI},
	{"0.00000000050", "1n", QUANTITY_DECIMAL_SI},
	{"0.9n", "1n", QUANTITY_DECIMAL_SI},
	{"0.00000012345", "124n", QUANTITY_DECIMAL_SI},
	{"-0.9n", "-1n", QUANTITY_DECIMAL_SI},
	{"1e-100", "1e-9", QUANTITY_DECIMAL_EXPONENT},
	/* binary amounts are capped at 2^63-1 units, as upstream */
	{"9Ei", "9223372036854775807", QUANTITY_BINARY_SI},
	{"9223372036854775807Ki", "9223372036854775807", QUANTITY_BINARY_SI},
};

static void test_quantity_parse_prints_the_canonical_form(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		struct quantity q = {0, QUANTITY_DECIMAL_SI};
		cleanup_free char *s = NULL;
		const char *why = NULL;

		if (!quantity_parse(canon[i].in, &q, &why))
			fail_msg("'%s' did not parse: %s", canon[i].in, why);
		s = quantity_format(&q);
		if (strcmp(s, canon[i].out) != 0)
			fail_msg("'%s' printed as '%s', expected '%s'", canon[i].in, s,
				 canon[i].out);
		if (q.format != canon[i].format)
			fail_msg("'%s' has format %d, expected %d", canon[i].in, q.format,
				 canon[i].format);
	}
}

static void test_quantity_canonical_strings_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		struct quantity a, b;
		cleanup_free char *s1 = NULL;
		cleanup_free char *s2 = NULL;
		const char *why = NULL;

		assert_true(quantity_parse(canon[i].in, &a, &why));
		s1 = quantity_format(&a);
		if (!quantity_parse(s1, &b, &why))
			fail_msg("canonical '%s' does not parse: %s", s1, why);
		s2 = quantity_format(&b);
		assert_string_equal(s1, s2);
		if (quantity_cmp(&a, &b) != 0)
			fail_msg("'%s' and its canonical form '%s' differ", canon[i].in, s1);
	}
}

static void test_quantity_parse_stores_nano_units_exactly(void **state)
{
	static const struct {
		const char *in;
		int64_t nano;
	} cases[] = {
		{"1", 1000000000},
		{"500m", 500000000},
		{"1n", 1},
		{"1u", 1000},
		{"1Ki", 1024000000000},
		{"0.5", 500000000},
		{"1.5Gi", 1610612736 * (int64_t)1000000000},
		{"-3m", -3000000},
		{"0.1m", 100000},
		{"12e-9", 12},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct quantity q;
		const char *why = NULL;

		assert_true(quantity_parse(cases[i].in, &q, &why));
		if (q.nano != cases[i].nano)
			fail_msg("'%s' is %lld nano, expected %lld", cases[i].in, (long long)q.nano,
				 (long long)cases[i].nano);
	}
}

static void test_quantity_parse_rejects_malformed_input_with_the_reason(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} bad[] = {
		{"", "quantities must match the regular expression"},
		{"1.1.M", "quantities must match the regular expression"},
		{"1+1.0M", "quantities must match the regular expression"},
		{"0.1am", "quantities must match the regular expression"},
		{"aoeu", "quantities must match the regular expression"},
		{" 1", "quantities must match the regular expression"},
		{"1 ", "quantities must match the regular expression"},
		{"Ki", "quantities must match the regular expression"},
		{"-", "quantities must match the regular expression"},
		{".", "quantities must match the regular expression"},
		{"1Ki5", "unable to parse quantity's suffix"},
		{"0.1mi", "unable to parse quantity's suffix"},
		{".5i", "unable to parse quantity's suffix"},
		{"1i", "unable to parse quantity's suffix"},
		{"-3.01i", "unable to parse quantity's suffix"},
		{"-3.01e-", "unable to parse quantity's suffix"},
		{"1e", "unable to parse quantity's suffix"},
		{"1e+", "unable to parse quantity's suffix"},
		{"1KiB", "quantities must match the regular expression"},
		{"1e1000", "quantity is too large"},
		{"100000000000000000000000000000E", "quantity is too large"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct quantity q = {42, QUANTITY_BINARY_SI};
		const char *why = NULL;

		if (quantity_parse(bad[i].in, &q, &why))
			fail_msg("'%s' parsed", bad[i].in);
		assert_non_null(why);
		if (strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
			fail_msg("'%s': reason '%s', expected '%s'", bad[i].in, why, bad[i].why);
		/* a failed parse leaves the output alone */
		assert_true(q.nano == 42 && q.format == QUANTITY_BINARY_SI);
	}
	assert_false(quantity_parse(NULL, &(struct quantity){0, 0}, &(const char *){NULL}));
}

static void test_quantity_cmp_orders_by_value_not_format(void **state)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{"1Gi", "1G", 1}, {"1G", "1Gi", -1}, {"1000m", "1", 0},  {"1e3", "1k", 0},
		{"-1", "0", -1},  {"500m", "1", -1}, {"1Ki", "1024", 0}, {"0", "-0", 0},
		{"1n", "0", 1},   {"2", "1999m", 1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct quantity a, b;
		const char *why = NULL;

		assert_true(quantity_parse(cases[i].a, &a, &why));
		assert_true(quantity_parse(cases[i].b, &b, &why));
		if (quantity_cmp(&a, &b) != cases[i].want)
			fail_msg("cmp(%s, %s) = %d, expected %d", cases[i].a, cases[i].b,
				 quantity_cmp(&a, &b), cases[i].want);
	}
}

static void test_quantity_value_and_milli_round_up_and_saturate(void **state)
{
	static const struct {
		const char *in;
		int64_t value, milli;
	} cases[] = {
		{"0", 0, 0},
		{"500m", 1, 500},
		{"1.5", 2, 1500},
		{"2", 2, 2000},
		{"100n", 1, 1},
		{"1Gi", 1073741824, 1073741824000},
		{"128Mi", 134217728, 134217728000},
		{"-1.5", -1, -1500},
		{"9Ei", INT64_MAX, INT64_MAX},
		{"100E", INT64_MAX, INT64_MAX},
		{"-100E", INT64_MIN, INT64_MIN},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct quantity q;
		const char *why = NULL;

		assert_true(quantity_parse(cases[i].in, &q, &why));
		if (quantity_value(&q) != cases[i].value || quantity_milli(&q) != cases[i].milli)
			fail_msg("'%s': value %lld milli %lld, expected %lld and %lld", cases[i].in,
				 (long long)quantity_value(&q), (long long)quantity_milli(&q),
				 (long long)cases[i].value, (long long)cases[i].milli);
	}
}

static void test_quantity_format_prints_constructed_values(void **state)
{
	struct quantity q = {(__int128)3 * 1024 * 1024 * 1000000000, QUANTITY_BINARY_SI};
	cleanup_free char *a = NULL;
	cleanup_free char *b = NULL;
	cleanup_free char *c = NULL;

	(void)state;
	a = quantity_format(&q);
	assert_string_equal(a, "3Mi");
	q.format = QUANTITY_DECIMAL_SI;
	b = quantity_format(&q);
	assert_string_equal(b, "3145728");
	q.nano = 250000000;
	q.format = QUANTITY_BINARY_SI;
	c = quantity_format(&q);
	assert_string_equal(c, "250m");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantity_parse_prints_the_canonical_form),
		cmocka_unit_test(test_quantity_canonical_strings_round_trip),
		cmocka_unit_test(test_quantity_parse_stores_nano_units_exactly),
		cmocka_unit_test(test_quantity_parse_rejects_malformed_input_with_the_reason),
		cmocka_unit_test(test_quantity_cmp_orders_by_value_not_format),
		cmocka_unit_test(test_quantity_value_and_milli_round_up_and_saturate),
		cmocka_unit_test(test_quantity_format_prints_constructed_values),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("quantity", tests, NULL, NULL);
}
