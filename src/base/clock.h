/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Timestamps as the container ecosystem writes them: RFC 3339 in UTC with the fraction
 * of a second trimmed of trailing zeros (Go's RFC3339Nano), so that a document written
 * here and re-encoded by a Go tool keeps the same bytes and digest; and the monotonic
 * clock in milliseconds that timers measure with.
 */
#ifndef SKIFF_BASE_CLOCK_H
#define SKIFF_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Formats @ts (NULL: now, CLOCK_REALTIME); heap string. */
char *clock_rfc3339(const struct timespec *ts);

/* Milliseconds of CLOCK_MONOTONIC: for timeouts, periods and backoff, never for dates. */
int64_t clock_mono_ms(void);

/* The CLOCK_REALTIME time @ms from now, as pthread_cond_timedwait() takes its deadline. */
void clock_deadline(struct timespec *ts, int64_t ms);

#endif
