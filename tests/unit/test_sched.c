/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of base/sched.c: a daemon's threads run under SCHED_BATCH and the processes
 * it forks under the default policy again; a policy chosen for the process is kept, and
 * so is its children's. Each case runs in a child process of its own, so the test binary
 * keeps its policy.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/sched.h"

/* The policy a new thread of the calling process gets. */
static void *thread_policy(void *arg)
{
	*(int *)arg = sched_getscheduler(0);
	return NULL;
}

/* The policy of a child fork()ed now, or -1. */
static int child_policy(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(sched_getscheduler(0));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * Runs @body in a child process after setting its policy to @start: its exit code is
 * @body's (0 when every check held, else the number of the check that failed).
 */
static int in_child(int start, int (*body)(void))
{
	const struct sched_param sp = {.sched_priority = 0};
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (sched_setscheduler(0, start, &sp) < 0)
			_exit(100);
		_exit(body());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int default_becomes_batch(void)
{
	pthread_t t;
	int policy = -1;

	sched_daemon_batch();
	if (sched_getscheduler(0) != SCHED_BATCH)
		return 1;
	if (pthread_create(&t, NULL, thread_policy, &policy) != 0 || pthread_join(t, NULL) != 0 ||
	    policy != SCHED_BATCH)
		return 2;
	if (child_policy() != SCHED_OTHER)
		return 3;
	/* the child's switch back leaves the daemon as it was */
	if (sched_getscheduler(0) != SCHED_BATCH)
		return 4;
	return 0;
}

static void test_a_daemon_runs_batch_and_its_children_do_not(void **state)
{
	(void)state;
	assert_int_equal(in_child(SCHED_OTHER, default_becomes_batch), 0);
}

static int idle_stays_idle(void)
{
	sched_daemon_batch();
	if (sched_getscheduler(0) != SCHED_IDLE)
		return 1;
	if (child_policy() != SCHED_IDLE)
		return 2;
	return 0;
}

static void test_a_policy_chosen_for_the_daemon_is_kept(void **state)
{
	(void)state;
	assert_int_equal(in_child(SCHED_IDLE, idle_stays_idle), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_daemon_runs_batch_and_its_children_do_not),
		cmocka_unit_test(test_a_policy_chosen_for_the_daemon_is_kept),
	};

	return cmocka_run_group_tests_name("sched", tests, NULL, NULL);
}
