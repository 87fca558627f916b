/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of base/alloc.c's formatting: xasprintf() writes the formats it knows
 * itself and hands the rest to vasprintf(); either way the bytes are snprintf()'s.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "base/alloc.h"

/* What snprintf() writes for the same format and arguments (up to 8 KiB). */
static char *expected(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *expected(const char *fmt, ...)
{
	static char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	return buf;
}

/* xasprintf() against snprintf(), with the format printed when they differ. */
#define CHECK(...)                                                                                 \
	do {                                                                                       \
		char *got_ = xasprintf(__VA_ARGS__);                                               \
		const char *want_ = expected(__VA_ARGS__);                                         \
		if (strcmp(got_, want_) != 0)                                                      \
			fail_msg("%s: got '%s', want '%s'", #__VA_ARGS__, got_, want_);            \
		free(got_);                                                                        \
	} while (0)

static void test_strings_and_literals(void **state)
{
	/* volatile: the compiler would see the NULL and refuse the format */
	const char *volatile none = NULL;

	(void)state;
	CHECK("%s", "");
	CHECK("plain text, no conversion");
	CHECK("%s", "x");
	CHECK("/registry/%s/%s/%s", "pods", "default", "load-1-abcde");
	CHECK("%s.containers[%zu].name", "spec", (size_t)3);
	CHECK("100%% of %s", "pods");
	CHECK("%%%s%%", "in");
	CHECK("%c%c%s", 'a', '/', "b");
	CHECK("%s", none); /* glibc prints (null) */
	CHECK("[%.*s]", 3, "abcdef");
	CHECK("[%.*s]", 0, "abcdef");
	CHECK("[%.*s]", 10, "abc");
	CHECK("[%.*s]", -1, "abcdef"); /* a negative precision is none */
	CHECK("[%.*s]", 2, none);      /* handed to vasprintf: glibc prints nothing */
	CHECK("[%.*s]", 8, none);
}

static void test_integers(void **state)
{
	(void)state;
	CHECK("%d %d %d %d", 0, 7, -7, INT_MAX);
	CHECK("%d %i", INT_MIN, -42);
	CHECK("%u %u", 0u, UINT_MAX);
	CHECK("%ld %ld %ld", 0L, LONG_MAX, LONG_MIN);
	CHECK("%lu", ULONG_MAX);
	CHECK("%lld %lld %lld", 12LL, LLONG_MAX, LLONG_MIN);
	CHECK("%llu %llu", 0ULL, ULLONG_MAX);
	CHECK("%zu %zu", (size_t)0, SIZE_MAX);
	CHECK("%zd %zd %zd", (ssize_t)-1, (ssize_t)SSIZE_MAX, (ssize_t)(-SSIZE_MAX - 1));
	CHECK("rev=%lld items=%zu name=%s", 1234567890123LL, (size_t)500, "x");
}

static void test_formats_handed_to_vasprintf(void **state)
{
	(void)state;
	CHECK("%02x%02x", 0xa, 0xff);
	CHECK("%x %X %o", 255u, 255u, 8u);
	CHECK("[%5s] [%-5s]", "ab", "cd");
	CHECK("%05d %+d % d", 42, 42, 42);
	CHECK("%.24s", "a string longer than twenty-four characters");
	CHECK("%09ld", 123L);
	CHECK("%.3f %g", 3.14159, 0.5);
	CHECK("%hhd %hd", 300, 70000);
	CHECK("%p", (void *)0x1234);
	CHECK("%s and then %08.3f", "ours", 2.5); /* one foreign conversion sends it all */
}

static void test_long_output(void **state)
{
	char big[5000];

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK("%s/%s/%d", big, "tail", 99);
	CHECK("%.*s|%s", 4000, big, big + 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_and_literals),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_formats_handed_to_vasprintf),
		cmocka_unit_test(test_long_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
