/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of base/clock.c: RFC 3339 timestamps as Go writes them, and timed waits
 * measured on the monotonic clock whatever clock their condition variable was made with.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/clock.h"

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void test_rfc3339_trims_the_fraction_as_go_does(void **state)
{
	static const struct {
		struct timespec ts;
		const char *want;
	} cases[] = {
		{{1700000000, 0}, "2023-11-14T22:13:20Z"},
		{{1700000000, 120000000}, "2023-11-14T22:13:20.12Z"},
		{{1700000000, 1}, "2023-11-14T22:13:20.000000001Z"},
		{{0, 500000000}, "1970-01-01T00:00:00.5Z"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *s = clock_rfc3339(&cases[i].ts);

		assert_string_equal(s, cases[i].want);
	}
}

static void test_deadline_is_on_the_monotonic_clock(void **state)
{
	struct timespec ts;
	int64_t before, after;

	(void)state;
	before = mono_ns();
	clock_deadline(&ts, 1500);
	after = mono_ns();
	assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
	assert_true(ns_of(&ts) >= before + 1500000000LL);
	assert_true(ns_of(&ts) <= after + 1500000000LL);
	/* a negative span is now */
	before = mono_ns();
	clock_deadline(&ts, -20);
	assert_true(ns_of(&ts) >= before && ns_of(&ts) <= mono_ns());
}

/* @cond made with @clock: the wait ends at the deadline either way. */
static void wait_times_out(clockid_t clock)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_condattr_t attr;
	pthread_cond_t cond;
	struct timespec deadline;
	int64_t start;
	int r;

	pthread_condattr_init(&attr);
	assert_int_equal(pthread_condattr_setclock(&attr, clock), 0);
	pthread_cond_init(&cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&lock);
	start = mono_ns();
	clock_deadline(&deadline, 30);
	do
		r = clock_timedwait(&cond, &lock, &deadline);
	while (r == 0);
	assert_int_equal(r, ETIMEDOUT);
	assert_true(mono_ns() >= ns_of(&deadline));
	/* not the wall clock's idea of the deadline, which lies decades away */
	assert_true(mono_ns() - start < 10 * 1000000000LL);
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&cond);
}

static void test_timedwait_ends_at_the_deadline_on_a_realtime_condition(void **state)
{
	(void)state;
	wait_times_out(CLOCK_REALTIME);
}

static void test_timedwait_ends_at_the_deadline_on_a_monotonic_condition(void **state)
{
	(void)state;
	wait_times_out(CLOCK_MONOTONIC);
}

struct waker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int flag;
};

static void *wake(void *arg)
{
	struct waker *w = arg;

	pthread_mutex_lock(&w->lock);
	w->flag = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void test_timedwait_returns_when_signalled(void **state)
{
	struct waker w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	struct timespec deadline;
	pthread_t th;
	int r = 0;

	(void)state;
	pthread_mutex_lock(&w.lock);
	assert_int_equal(pthread_create(&th, NULL, wake, &w), 0);
	clock_deadline(&deadline, 60000);
	while (!w.flag && r == 0)
		r = clock_timedwait(&w.cond, &w.lock, &deadline);
	assert_int_equal(r, 0);
	assert_int_equal(w.flag, 1);
	pthread_mutex_unlock(&w.lock);
	pthread_join(th, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_trims_the_fraction_as_go_does),
		cmocka_unit_test(test_deadline_is_on_the_monotonic_clock),
		cmocka_unit_test(test_timedwait_ends_at_the_deadline_on_a_realtime_condition),
		cmocka_unit_test(test_timedwait_ends_at_the_deadline_on_a_monotonic_condition),
		cmocka_unit_test(test_timedwait_returns_when_signalled),
	};

	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
