/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the runtime's name tables: capability names and numbers (caps.c) and
 * signal names as `runtime kill` parses them (signal.c).
 */
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/internal.h"
#include "runtime/runtime.h"

static void test_cap_table_is_dense_from_0_to_40(void **state)
{
	(void)state;
	for (int i = 0; i <= 40; i++) {
		const char *name = rt_cap_name(i);

		assert_non_null(name);
		assert_int_equal(strncmp(name, "CAP_", 4), 0);
	}
	assert_null(rt_cap_name(41));
	assert_null(rt_cap_name(-1));
	assert_null(rt_cap_name(64));
}

static void test_cap_names_round_trip_through_numbers(void **state)
{
	(void)state;
	for (int i = 0; i <= 40; i++)
		assert_int_equal(rt_cap_from_name(rt_cap_name(i)), i);
}

static void test_cap_numbers_match_kernel_headers(void **state)
{
	(void)state;
	assert_int_equal(rt_cap_from_name("CAP_CHOWN"), CAP_CHOWN);
	assert_int_equal(rt_cap_from_name("CAP_KILL"), CAP_KILL);
	assert_int_equal(rt_cap_from_name("CAP_NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
	assert_int_equal(rt_cap_from_name("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
	assert_int_equal(rt_cap_from_name("CAP_MKNOD"), CAP_MKNOD);
	assert_int_equal(rt_cap_from_name("CAP_AUDIT_WRITE"), CAP_AUDIT_WRITE);
	assert_int_equal(rt_cap_from_name("CAP_SETFCAP"), CAP_SETFCAP);
	assert_int_equal(rt_cap_from_name("CAP_AUDIT_READ"), CAP_AUDIT_READ);
#ifdef CAP_CHECKPOINT_RESTORE
	assert_int_equal(rt_cap_from_name("CAP_PERFMON"), CAP_PERFMON);
	assert_int_equal(rt_cap_from_name("CAP_BPF"), CAP_BPF);
	assert_int_equal(rt_cap_from_name("CAP_CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
#endif
	assert_non_null(rt_cap_name(CAP_LAST_CAP));
}

static void test_cap_from_name_rejects_unknown_names(void **state)
{
	(void)state;
	assert_int_equal(rt_cap_from_name(NULL), -1);
	assert_int_equal(rt_cap_from_name(""), -1);
	assert_int_equal(rt_cap_from_name("CAP_"), -1);
	assert_int_equal(rt_cap_from_name("CAP_FOO"), -1);
	assert_int_equal(rt_cap_from_name("SYS_ADMIN"), -1);
	assert_int_equal(rt_cap_from_name("cap_sys_admin"), -1);
	assert_int_equal(rt_cap_from_name("Cap_Sys_Admin"), -1);
	assert_int_equal(rt_cap_from_name("CAP_SYS_ADMIN "), -1);
	assert_int_equal(rt_cap_from_name("21"), -1);
}

static void test_cap_last_matches_the_running_kernel(void **state)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int expected = 40;

	(void)state;
	if (f) {
		assert_int_equal(fscanf(f, "%d", &expected), 1);
		fclose(f);
	}
	assert_int_equal(rt_cap_last(), expected);
	assert_int_equal(rt_cap_last(), expected);
}

static void test_signal_parse_accepts_numbers_up_to_sigrtmax(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(rt_signal_parse("9"), 9);
	assert_int_equal(rt_signal_parse("15"), 15);
	assert_int_equal(rt_signal_parse("09"), 9);
	snprintf(buf, sizeof(buf), "%d", SIGRTMAX);
	assert_int_equal(rt_signal_parse(buf), SIGRTMAX);
}

static void test_signal_parse_accepts_zero_as_an_existence_check(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_parse("0"), 0);
}

static void test_signal_parse_rejects_malformed_or_out_of_range_numbers(void **state)
{
	char buf[16];

	(void)state;
	snprintf(buf, sizeof(buf), "%d", SIGRTMAX + 1);
	assert_int_equal(rt_signal_parse(buf), -1);
	assert_int_equal(rt_signal_parse("-1"), -1);
	assert_int_equal(rt_signal_parse("+9"), -1);
	assert_int_equal(rt_signal_parse(" 9"), -1);
	assert_int_equal(rt_signal_parse("9 "), -1);
	assert_int_equal(rt_signal_parse("9x"), -1);
	assert_int_equal(rt_signal_parse("0x9"), -1);
	assert_int_equal(rt_signal_parse("99999999999999999999999"), -1);
}

static void test_signal_parse_accepts_names_with_or_without_sig_prefix(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_parse("KILL"), SIGKILL);
	assert_int_equal(rt_signal_parse("SIGKILL"), SIGKILL);
	assert_int_equal(rt_signal_parse("TERM"), SIGTERM);
	assert_int_equal(rt_signal_parse("SIGHUP"), SIGHUP);
	assert_int_equal(rt_signal_parse("USR1"), SIGUSR1);
	assert_int_equal(rt_signal_parse("SIGUSR2"), SIGUSR2);
	assert_int_equal(rt_signal_parse("WINCH"), SIGWINCH);
	assert_int_equal(rt_signal_parse("SIGSYS"), SIGSYS);
	assert_int_equal(rt_signal_parse("STOP"), SIGSTOP);
	assert_int_equal(rt_signal_parse("CONT"), SIGCONT);
}

static void test_signal_parse_ignores_case_like_runc(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_parse("sigkill"), SIGKILL);
	assert_int_equal(rt_signal_parse("kill"), SIGKILL);
	assert_int_equal(rt_signal_parse("SigTerm"), SIGTERM);
	assert_int_equal(rt_signal_parse("sigrtmin"), SIGRTMIN);
}

static void test_signal_parse_accepts_traditional_aliases(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_parse("IOT"), SIGABRT);
	assert_int_equal(rt_signal_parse("SIGCLD"), SIGCHLD);
	assert_int_equal(rt_signal_parse("POLL"), SIGIO);
}

static void test_signal_parse_rejects_unknown_names(void **state)
{
	(void)state;
	assert_int_equal(rt_signal_parse(NULL), -1);
	assert_int_equal(rt_signal_parse(""), -1);
	assert_int_equal(rt_signal_parse("SIG"), -1);
	assert_int_equal(rt_signal_parse("FOO"), -1);
	assert_int_equal(rt_signal_parse("SIGFOO"), -1);
	assert_int_equal(rt_signal_parse("SIGSIGKILL"), -1);
	assert_int_equal(rt_signal_parse("KILLX"), -1);
	assert_int_equal(rt_signal_parse("SIG9"), -1);
	assert_int_equal(rt_signal_parse(" KILL"), -1);
}

static void test_signal_parse_accepts_rtmin_offsets(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(rt_signal_parse("RTMIN"), SIGRTMIN);
	assert_int_equal(rt_signal_parse("SIGRTMIN"), SIGRTMIN);
	assert_int_equal(rt_signal_parse("RTMIN+0"), SIGRTMIN);
	assert_int_equal(rt_signal_parse("RTMIN+3"), SIGRTMIN + 3);
	assert_int_equal(rt_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
	snprintf(buf, sizeof(buf), "RTMIN+%d", SIGRTMAX - SIGRTMIN);
	assert_int_equal(rt_signal_parse(buf), SIGRTMAX);
}

static void test_signal_parse_accepts_rtmax_offsets(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(rt_signal_parse("RTMAX"), SIGRTMAX);
	assert_int_equal(rt_signal_parse("SIGRTMAX-2"), SIGRTMAX - 2);
	assert_int_equal(rt_signal_parse("rtmax-0"), SIGRTMAX);
	snprintf(buf, sizeof(buf), "SIGRTMAX-%d", SIGRTMAX - SIGRTMIN);
	assert_int_equal(rt_signal_parse(buf), SIGRTMIN);
}

static void test_signal_parse_rejects_realtime_offsets_out_of_range(void **state)
{
	char buf[32];

	(void)state;
	snprintf(buf, sizeof(buf), "RTMIN+%d", SIGRTMAX - SIGRTMIN + 1);
	assert_int_equal(rt_signal_parse(buf), -1);
	snprintf(buf, sizeof(buf), "RTMAX-%d", SIGRTMAX - SIGRTMIN + 1);
	assert_int_equal(rt_signal_parse(buf), -1);
	assert_int_equal(rt_signal_parse("RTMIN-1"), -1);
	assert_int_equal(rt_signal_parse("RTMAX+1"), -1);
	assert_int_equal(rt_signal_parse("RTMIN+"), -1);
	assert_int_equal(rt_signal_parse("RTMIN+x"), -1);
	assert_int_equal(rt_signal_parse("RTMIN+-1"), -1);
	assert_int_equal(rt_signal_parse("RTMIN3"), -1);
	assert_int_equal(rt_signal_parse("RTMAX-99999999999999999999"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_table_is_dense_from_0_to_40),
		cmocka_unit_test(test_cap_names_round_trip_through_numbers),
		cmocka_unit_test(test_cap_numbers_match_kernel_headers),
		cmocka_unit_test(test_cap_from_name_rejects_unknown_names),
		cmocka_unit_test(test_cap_last_matches_the_running_kernel),
		cmocka_unit_test(test_signal_parse_accepts_numbers_up_to_sigrtmax),
		cmocka_unit_test(test_signal_parse_accepts_zero_as_an_existence_check),
		cmocka_unit_test(test_signal_parse_rejects_malformed_or_out_of_range_numbers),
		cmocka_unit_test(test_signal_parse_accepts_names_with_or_without_sig_prefix),
		cmocka_unit_test(test_signal_parse_ignores_case_like_runc),
		cmocka_unit_test(test_signal_parse_accepts_traditional_aliases),
		cmocka_unit_test(test_signal_parse_rejects_unknown_names),
		cmocka_unit_test(test_signal_parse_accepts_rtmin_offsets),
		cmocka_unit_test(test_signal_parse_accepts_rtmax_offsets),
		cmocka_unit_test(test_signal_parse_rejects_realtime_offsets_out_of_range),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("caps", tests, NULL, NULL);
}
