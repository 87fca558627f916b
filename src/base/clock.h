/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timestamps as the container ecosystem writes them: RFC 3339 in UTC with the fraction
 * of a second trimmed of trailing zeros (Go's RFC3339Nano), so that a document written
 * here and re-encoded by a Go tool keeps the same bytes and digest; and the monotonic
 * clock in milliseconds that timers measure with.
 */
#ifndef SKIFF_BASE_CLOCK_H
#define SKIFF_BASE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Formats @ts (NULL: now, CLOCK_REALTIME); heap string. */
char *clock_rfc3339(const struct timespec *ts);

/* Milliseconds of CLOCK_MONOTONIC: for timeouts, periods and backoff, never for dates. */
int64_t clock_mono_ms(void);

/* The CLOCK_MONOTONIC time @ms from now (a negative @ms: now), for clock_timedwait(). */
void clock_deadline(struct timespec *ts, int64_t ms);

/*
 * pthread_cond_timedwait() until @deadline on CLOCK_MONOTONIC (clock_deadline()), whatever
 * clock @cond was made with: a step of the wall clock (NTP setting a VM's time after it
 * booted) neither stretches a wait nor cuts it short. 0 or ETIMEDOUT.
 */
int clock_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, const struct timespec *deadline);

#endif
