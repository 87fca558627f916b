/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 3339 timestamps and monotonic milliseconds.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"

char *clock_rfc3339(const struct timespec *ts)
{
	struct timespec now;
	char date[32], frac[16] = "";
	struct tm tm;

	if (!ts) {
		clock_gettime(CLOCK_REALTIME, &now);
		ts = &now;
	}
	gmtime_r(&ts->tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts->tv_nsec) {
		size_t n;

		snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
		n = strlen(frac);
		while (frac[n - 1] == '0')
			frac[--n] = '\0';
	}
	return xasprintf("%s%sZ", date, frac);
}

int64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_deadline(struct timespec *ts, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int clock_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, const struct timespec *deadline)
{
	return pthread_cond_clockwait(cond, lock, CLOCK_MONOTONIC, deadline);
}
