/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the command-line flag parser (flags.c): the Go-style spellings runc and
 * kubectl accept, positional arguments around and after flags, "--", and the errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct opts {
	bool detach, debug;
	const char *root, *bundle;
	int timeout;
	struct flag table[6];
};

static void opts_init(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = -1;
	o->table[0] = (struct flag){"detach", 'd', FLAG_BOOL, &o->detach};
	o->table[1] = (struct flag){"debug", 0, FLAG_BOOL, &o->debug};
	o->table[2] = (struct flag){"root", 0, FLAG_STR, &o->root};
	o->table[3] = (struct flag){"bundle", 'b', FLAG_STR, &o->bundle};
	o->table[4] = (struct flag){"timeout", 't', FLAG_INT, &o->timeout};
	o->table[5] = (struct flag){NULL, 0, FLAG_BOOL, NULL};
}

/* Parses @argv and checks it succeeds, returning the positional count. */
static int parse(struct opts *o, int argc, char **argv, bool stop_at_positional)
{
	cleanup_err struct err err = ERR_INIT;
	int npos = -1;

	if (flags_parse(o->table, argc, argv, stop_at_positional, &npos, &err) < 0)
		fail_msg("flags_parse failed: %s", err.msg);
	return npos;
}

/* Checks that parsing @argv fails with EINVAL and exactly the message @want. */
static void check_parse_fails(int argc, char **argv, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct opts o;
	int npos = -7;

	opts_init(&o);
	assert_int_equal(flags_parse(o.table, argc, argv, false, &npos, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	assert_string_equal(err.msg, want);
	assert_int_equal(npos, -7);
}

static void test_flags_parse_reads_double_dash_name_then_value(void **state)
{
	char *argv[] = {"--root", "/run/skiff", "--timeout", "30"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 0);
	assert_string_equal(o.root, "/run/skiff");
	assert_int_equal(o.timeout, 30);
}

static void test_flags_parse_reads_name_equals_value(void **state)
{
	char *argv[] = {"--root=/run/skiff", "--bundle=", "--timeout=-5", "--root=/a=b"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 0);
	/* the last occurrence wins; only the first '=' separates */
	assert_string_equal(o.root, "/a=b");
	assert_string_equal(o.bundle, "");
	assert_int_equal(o.timeout, -5);
}

static void test_flags_parse_reads_single_dash_long_names(void **state)
{
	char *argv[] = {"-root", "/r", "-bundle=/b", "-debug"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 0);
	assert_string_equal(o.root, "/r");
	assert_string_equal(o.bundle, "/b");
	assert_true(o.debug);
}

static void test_flags_parse_reads_one_letter_aliases(void **state)
{
	char *argv[] = {"-b", "/bundles/x", "-t", "7", "-d"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 0);
	assert_string_equal(o.bundle, "/bundles/x");
	assert_int_equal(o.timeout, 7);
	assert_true(o.detach);
}

static void test_flags_parse_string_values_point_into_argv(void **state)
{
	char *argv[] = {"--root", "/r", "--bundle=/b"};
	char *value = argv[1];
	struct opts o;

	(void)state;
	opts_init(&o);
	parse(&o, ARGC(argv), argv, false);
	assert_ptr_equal(o.root, value);
	assert_ptr_equal(o.bundle, argv[2] + strlen("--bundle="));
}

static void test_flags_parse_sets_bool_flags_without_consuming_a_value(void **state)
{
	char *argv[] = {"--detach", "ctr1", "--debug"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 1);
	assert_true(o.detach);
	assert_true(o.debug);
	assert_string_equal(argv[0], "ctr1");
}

static void test_flags_parse_bool_accepts_equals_false_and_true(void **state)
{
	char *argv[] = {"--detach", "--detach=false", "--debug=true", "-d=0", "--debug=1"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 0);
	assert_false(o.detach);
	assert_true(o.debug);
}

static void test_flags_parse_rejects_a_bool_value_that_is_not_a_boolean(void **state)
{
	char *argv[] = {"--detach=yes"};
	char *empty[] = {"--debug="};

	(void)state;
	check_parse_fails(ARGC(argv), argv, "flag --detach: 'yes' is not a boolean");
	check_parse_fails(ARGC(empty), empty, "flag --debug: '' is not a boolean");
}

static void test_flags_parse_accepts_flags_after_positionals(void **state)
{
	char *argv[] = {"ctr1", "--bundle", "/b", "extra", "-d", "last"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 3);
	assert_string_equal(argv[0], "ctr1");
	assert_string_equal(argv[1], "extra");
	assert_string_equal(argv[2], "last");
	assert_string_equal(o.bundle, "/b");
	assert_true(o.detach);
}

static void test_flags_parse_double_dash_ends_flags(void **state)
{
	char *argv[] = {"--debug", "ctr1", "--", "--root", "/r", "-d"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 4);
	assert_true(o.debug);
	assert_null(o.root);
	assert_false(o.detach);
	assert_string_equal(argv[0], "ctr1");
	assert_string_equal(argv[1], "--root");
	assert_string_equal(argv[2], "/r");
	assert_string_equal(argv[3], "-d");
}

static void test_flags_parse_treats_a_lone_dash_as_positional(void **state)
{
	char *argv[] = {"-", "--debug"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 1);
	assert_string_equal(argv[0], "-");
	assert_true(o.debug);
}

static void test_flags_parse_stop_at_positional_keeps_later_flags_positional(void **state)
{
	char *argv[] = {"--debug", "ctr1", "sh", "-c", "--root", "-d"};
	char *again[] = {"--debug", "ctr1", "sh", "-c"};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, ARGC(argv), argv, true), 5);
	assert_true(o.debug);
	assert_null(o.root);
	assert_false(o.detach);
	assert_string_equal(argv[0], "ctr1");
	assert_string_equal(argv[1], "sh");
	assert_string_equal(argv[2], "-c");
	assert_string_equal(argv[3], "--root");
	assert_string_equal(argv[4], "-d");
	/* without stop_at_positional the command's own flags are ours, and unknown */
	check_parse_fails(ARGC(again), again, "unknown flag '-c'");
}

static void test_flags_parse_without_arguments_gives_no_positionals(void **state)
{
	char *argv[] = {NULL};
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(parse(&o, 0, argv, false), 0);
	assert_false(o.debug);
	assert_null(o.root);
	assert_int_equal(o.timeout, -1);
}

static void test_flags_parse_rejects_unknown_flag_naming_it(void **state)
{
	char *long_name[] = {"ctr1", "--bogus"};
	char *with_value[] = {"--bogus=1"};
	char *alias[] = {"-x"};
	char *prefix[] = {"--roo", "/r"};

	(void)state;
	check_parse_fails(ARGC(long_name), long_name, "unknown flag '--bogus'");
	check_parse_fails(ARGC(with_value), with_value, "unknown flag '--bogus=1'");
	check_parse_fails(ARGC(alias), alias, "unknown flag '-x'");
	check_parse_fails(ARGC(prefix), prefix, "unknown flag '--roo'");
}

static void test_flags_parse_reports_a_missing_value(void **state)
{
	char *argv[] = {"ctr1", "--root"};
	char *alias[] = {"-t"};

	(void)state;
	check_parse_fails(ARGC(argv), argv, "flag --root needs a value");
	check_parse_fails(ARGC(alias), alias, "flag --timeout needs a value");
}

static void test_flags_parse_rejects_non_integer_for_int_flag(void **state)
{
	char *suffix[] = {"--timeout", "10s"};
	char *empty[] = {"--timeout="};
	char *big[] = {"-t", "99999999999"};
	char *word[] = {"-t=ten"};

	(void)state;
	check_parse_fails(ARGC(suffix), suffix, "flag --timeout: '10s' is not an integer");
	check_parse_fails(ARGC(empty), empty, "flag --timeout: '' is not an integer");
	check_parse_fails(ARGC(big), big, "flag --timeout: '99999999999' is not an integer");
	check_parse_fails(ARGC(word), word, "flag --timeout: 'ten' is not an integer");
}

static void test_flags_parse_int_flag_takes_a_negative_value_as_its_argument(void **state)
{
	char *argv[] = {"--timeout", "-1", "ctr1"};
	struct opts o;

	(void)state;
	opts_init(&o);
	o.timeout = 5;
	assert_int_equal(parse(&o, ARGC(argv), argv, false), 1);
	assert_int_equal(o.timeout, -1);
	assert_string_equal(argv[0], "ctr1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_parse_reads_double_dash_name_then_value),
		cmocka_unit_test(test_flags_parse_reads_name_equals_value),
		cmocka_unit_test(test_flags_parse_reads_single_dash_long_names),
		cmocka_unit_test(test_flags_parse_reads_one_letter_aliases),
		cmocka_unit_test(test_flags_parse_string_values_point_into_argv),
		cmocka_unit_test(test_flags_parse_sets_bool_flags_without_consuming_a_value),
		cmocka_unit_test(test_flags_parse_bool_accepts_equals_false_and_true),
		cmocka_unit_test(test_flags_parse_rejects_a_bool_value_that_is_not_a_boolean),
		cmocka_unit_test(test_flags_parse_accepts_flags_after_positionals),
		cmocka_unit_test(test_flags_parse_double_dash_ends_flags),
		cmocka_unit_test(test_flags_parse_treats_a_lone_dash_as_positional),
		cmocka_unit_test(test_flags_parse_stop_at_positional_keeps_later_flags_positional),
		cmocka_unit_test(test_flags_parse_without_arguments_gives_no_positionals),
		cmocka_unit_test(test_flags_parse_rejects_unknown_flag_naming_it),
		cmocka_unit_test(test_flags_parse_reports_a_missing_value),
		cmocka_unit_test(test_flags_parse_rejects_non_integer_for_int_flag),
		cmocka_unit_test(test_flags_parse_int_flag_takes_a_negative_value_as_its_argument),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("flags", tests, NULL, NULL);
}
