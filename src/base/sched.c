/* SPDX-License-Identifier: Apache-2.0 */
/* SCHED_BATCH for the control plane's threads (see sched.h). */
#include <pthread.h>
#include <sched.h>

#include "base/sched.h"

static void child_default_policy(void)
{
	const struct sched_param sp = {.sched_priority = 0};

	/* a child that cannot switch back keeps SCHED_BATCH: slower to preempt, no harm */
	(void)sched_setscheduler(0, SCHED_OTHER, &sp);
}

void sched_daemon_batch(void)
{
	const struct sched_param sp = {.sched_priority = 0};

	if (sched_getscheduler(0) != SCHED_OTHER)
		return;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0)
		return;
	pthread_atfork(NULL, NULL, child_default_policy);
}
