/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the linux.seccomp compiler (seccomp.c): profiles that must build, and the
 * errors, with JSON path and code, of those that must not. Filters are only built here,
 * never loaded; tests/e2e/test_runtime_seccomp.py checks what they do in a container.
 *
 * Profiles are written with single quotes for readability.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/internal.h"

/* What a failing build must leave in *ret. */
static struct rt_seccomp *const untouched = (struct rt_seccomp *)&untouched;

static json_t *load(const char *squoted)
{
	cleanup_free char *text = xstrdup(squoted);
	json_error_t je;
	json_t *j;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

static void check_builds(const char *profile)
{
	cleanup_json json_t *j = load(profile);
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = NULL;

	if (rt_seccomp_build(j, &s, &err) < 0)
		fail_msg("build failed: %s\n  profile: %s", err.msg, profile);
	assert_non_null(s);
	rt_seccomp_free(s);
}

/* Checks that @profile fails with @code and a message containing @want. */
static void check_rejected_with(const char *profile, int code, const char *want)
{
	cleanup_json json_t *j = load(profile);
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = untouched;
	int r = rt_seccomp_build(j, &s, &err);

	if (r != -code || err.code != code || !err.msg || !strstr(err.msg, want))
		fail_msg("got %d (%s), want %d with '%s'\n  profile: %s", r,
			 err.msg ? err.msg : "no message", -code, want, profile);
	assert_ptr_equal(s, untouched);
}

static void check_rejected(const char *profile, const char *want)
{
	check_rejected_with(profile, EINVAL, want);
}

/* ---- profiles that build ---- */

static void test_seccomp_builds_a_small_profile(void **state)
{
	(void)state;
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW',"
		     " 'syscalls': [{'names': ['mkdir', 'mkdirat'], 'action': 'SCMP_ACT_ERRNO',"
		     "               'errnoRet': 1}]}");
}

static void test_seccomp_builds_every_action_and_operator(void **state)
{
	(void)state;
	check_builds(
		"{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 38,"
		" 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],"
		" 'flags': ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG',"
		"           'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],"
		" 'syscalls': ["
		"  {'names': ['read', 'write'], 'action': 'SCMP_ACT_ALLOW'},"
		"  {'names': ['getpid'], 'action': 'SCMP_ACT_LOG'},"
		"  {'names': ['uname'], 'action': 'SCMP_ACT_KILL'},"
		"  {'names': ['getppid'], 'action': 'SCMP_ACT_KILL_PROCESS'},"
		"  {'names': ['gettid'], 'action': 'SCMP_ACT_KILL_THREAD'},"
		"  {'names': ['getuid'], 'action': 'SCMP_ACT_TRAP'},"
		"  {'names': ['getgid'], 'action': 'SCMP_ACT_TRACE', 'errnoRet': 7},"
		"  {'names': ['geteuid'], 'action': 'SCMP_ACT_TRACE'},"
		"  {'names': ['getegid'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 2},"
		"  {'names': ['personality'], 'action': 'SCMP_ACT_ALLOW', 'args': ["
		"    {'index': 0, 'value': 0, 'op': 'SCMP_CMP_NE'},"
		"    {'index': 1, 'value': 1, 'op': 'SCMP_CMP_LT'},"
		"    {'index': 2, 'value': 2, 'op': 'SCMP_CMP_LE'},"
		"    {'index': 3, 'value': 3, 'op': 'SCMP_CMP_EQ'},"
		"    {'index': 4, 'value': 4, 'op': 'SCMP_CMP_GE'},"
		"    {'index': 5, 'value': 5, 'op': 'SCMP_CMP_GT'}]},"
		"  {'names': ['socket'], 'action': 'SCMP_ACT_ALLOW', 'args': ["
		"    {'index': 1, 'value': 15, 'valueTwo': 1, 'op': 'SCMP_CMP_MASKED_EQ'}]}]}");
}

static void test_seccomp_builds_nothing_for_an_absent_or_empty_profile(void **state)
{
	cleanup_json json_t *empty = load("{}");
	cleanup_json json_t *no_calls = load("{'syscalls': [], 'architectures': ['bogus']}");
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = untouched;

	(void)state;
	assert_int_equal(rt_seccomp_build(NULL, &s, &err), 0);
	assert_null(s);
	s = untouched;
	assert_int_equal(rt_seccomp_build(empty, &s, &err), 0);
	assert_null(s);
	s = untouched;
	/* runc reads "no defaultAction and no syscalls" as no profile at all */
	assert_int_equal(rt_seccomp_build(no_calls, &s, &err), 0);
	assert_null(s);
	assert_int_equal(err.code, 0);
}

static void test_seccomp_load_and_free_accept_null(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(rt_seccomp_load(NULL, &err), 0);
	rt_seccomp_free(NULL);
}

static void test_seccomp_ignores_syscall_names_libseccomp_does_not_know(void **state)
{
	(void)state;
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW',"
		     " 'syscalls': [{'names': ['no_such_syscall', 'mkdir', 'another_future_one'],"
		     "               'action': 'SCMP_ACT_ERRNO'},"
		     "              {'names': ['only_unknown'], 'action': 'SCMP_ACT_KILL'}]}");
	/* names of other architectures' syscalls are libseccomp's to place, or to drop */
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW',"
		     " 'syscalls': [{'names': ['socketcall', '_llseek', 'arm_fadvise64_64'],"
		     "               'action': 'SCMP_ACT_ERRNO'}]}");
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86'],"
		     " 'syscalls': [{'names': ['socketcall', '_llseek', 'arm_fadvise64_64'],"
		     "               'action': 'SCMP_ACT_ERRNO'}]}");
}

static void test_seccomp_skips_rules_equal_to_the_default_action(void **state)
{
	(void)state;
	/* libseccomp refuses such rules (EACCES); runc drops them silently */
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW',"
		     " 'syscalls': [{'names': ['read', 'write'], 'action': 'SCMP_ACT_ALLOW'}]}");
	/* SCMP_ACT_ERRNO's default errno is EPERM (1): the same action as the default */
	check_builds(
		"{'defaultAction': 'SCMP_ACT_ERRNO',"
		" 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 1},"
		"              {'names': ['rmdir'], 'action': 'SCMP_ACT_ERRNO'},"
		"              {'names': ['read'], 'action': 'SCMP_ACT_ALLOW'}]}");
	/* a different errno is a different action */
	check_builds(
		"{'defaultAction': 'SCMP_ACT_ERRNO',"
		" 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 2}]}");
}

static void test_seccomp_ors_conditions_that_share_an_argument(void **state)
{
	(void)state;
	/* one rule per condition: clone with either flag value, runc's reading */
	check_builds(
		"{'defaultAction': 'SCMP_ACT_ALLOW',"
		" 'syscalls': [{'names': ['personality'], 'action': 'SCMP_ACT_ERRNO', 'args': ["
		"    {'index': 0, 'value': 8, 'op': 'SCMP_CMP_EQ'},"
		"    {'index': 0, 'value': 131072, 'op': 'SCMP_CMP_EQ'},"
		"    {'index': 1, 'value': 0, 'op': 'SCMP_CMP_EQ'}]}]}");
}

static void test_seccomp_accepts_the_native_architecture_listed_again(void **state)
{
	(void)state;
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW',"
		     " 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86_64'],"
		     " 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_ERRNO'}]}");
}

static void test_seccomp_builds_a_long_profile_with_a_binary_tree(void **state)
{
	cleanup_json json_t *j = load("{'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': []}");
	json_t *names = json_array();
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = NULL;
	static const char *const some[] = {
		"read",        "write",   "open",       "close",    "stat",       "fstat",
		"lstat",       "poll",    "lseek",      "mmap",     "mprotect",   "munmap",
		"brk",         "ioctl",   "pread64",    "readv",    "writev",     "access",
		"pipe",        "select",  "dup",        "dup2",     "getpid",     "socket",
		"connect",     "accept",  "sendto",     "recvfrom", "bind",       "listen",
		"clone",       "fork",    "execve",     "exit",     "wait4",      "kill",
		"uname",       "fcntl",   "flock",      "fsync",    "getcwd",     "chdir",
		"rename",      "mkdir",   "rmdir",      "unlink",   "readlink",   "chmod",
		"chown",       "umask",   "getuid",     "getgid",   "setuid",     "setgid",
		"geteuid",     "getegid", "getppid",    "setsid",   "setgroups",  "capget",
		"capset",      "prctl",   "exit_group", "openat",   "newfstatat", "execveat",
		"close_range",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(some) / sizeof(some[0]); i++)
		json_array_append_new(names, json_string(some[i]));
	json_array_append_new(json_object_get(j, "syscalls"),
			      json_pack("{s:o, s:s}", "names", names, "action", "SCMP_ACT_ALLOW"));
	if (rt_seccomp_build(j, &s, &err) < 0)
		fail_msg("build failed: %s", err.msg);
	rt_seccomp_free(s);
}

/* ---- profiles that do not ---- */

static void test_seccomp_rejects_unknown_actions_with_their_path(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_FOO'}",
		       "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO'},"
		       "              {'names': ['mkdir'], 'action': 'scmp_act_errno'}]}",
		       "linux.seccomp.syscalls[1].action: unknown action 'scmp_act_errno'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read']}]}",
		       "linux.seccomp.syscalls[0].action: required");
	check_rejected("{'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO'}]}",
		       "linux.seccomp.defaultAction: required");
	check_rejected("{'defaultAction': 7}", "linux.seccomp.defaultAction: expected string");
}

static void test_seccomp_rejects_unknown_architectures(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX']}",
		       "linux.seccomp.architectures[1]: unknown architecture 'SCMP_ARCH_VAX'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['x86_64']}",
		       "linux.seccomp.architectures[0]: unknown architecture 'x86_64'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_x86_64']}",
		       "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_x86_64'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': [64]}",
		       "linux.seccomp.architectures[0]: expected string");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': 'SCMP_ARCH_X86'}",
		       "linux.seccomp.architectures: expected array");
}

static void test_seccomp_rejects_unknown_operators(void **state)
{
	(void)state;
	check_rejected(
		"{'defaultAction': 'SCMP_ACT_ALLOW',"
		" 'syscalls': [{'names': ['personality'], 'action': 'SCMP_ACT_ERRNO',"
		"               'args': [{'index': 0, 'value': 1, 'op': 'SCMP_CMP_EQ'},"
		"                        {'index': 1, 'value': 1, 'op': 'SCMP_CMP_LIKE'}]}]}",
		"linux.seccomp.syscalls[0].args[1].op: unknown operator 'SCMP_CMP_LIKE'");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['personality'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [{'index': 0, 'value': 1}]}]}",
		       "linux.seccomp.syscalls[0].args[0].op: required");
}

static void test_seccomp_rejects_argument_indexes_above_5(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['mmap'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [{'index': 6, 'value': 1, 'op': 'SCMP_CMP_EQ'}]}]}",
		       "linux.seccomp.syscalls[0].args[0].index: 6 is out of range");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['mmap'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [{'index': -1, 'value': 1, 'op': 'SCMP_CMP_EQ'}]}]}",
		       "linux.seccomp.syscalls[0].args[0].index: expected integer");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['mmap'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [{'value': 1, 'op': 'SCMP_CMP_EQ'}]}]}",
		       "linux.seccomp.syscalls[0].args[0].index: required");
}

static void test_seccomp_rejects_fields_of_the_wrong_type(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': {}}",
		       "linux.seccomp.syscalls: expected array");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': ['read']}",
		       "linux.seccomp.syscalls[0]: expected object");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO'},"
		       "              {'names': ['read'], 'action': 'SCMP_ACT_ERRNO'},"
		       "              {'names': ['read'], 'action': 'SCMP_ACT_ERRNO'},"
		       "              {'names': [42], 'action': 'SCMP_ACT_ERRNO'}]}",
		       "linux.seccomp.syscalls[3].names[0]: expected syscall name");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': [''], 'action': 'SCMP_ACT_ERRNO'}]}",
		       "linux.seccomp.syscalls[0].names[0]: expected syscall name");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': 'read', 'action': 'SCMP_ACT_ERRNO'}]}",
		       "linux.seccomp.syscalls[0].names: expected array");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': [], 'action': 'SCMP_ACT_ERRNO'}]}",
		       "linux.seccomp.syscalls[0].names: required");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'errnoRet': 'EPERM'}]}",
		       "linux.seccomp.syscalls[0].errnoRet: expected integer");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [{'index': 0, 'value': -1, 'op': 'SCMP_CMP_EQ'}]}]}",
		       "linux.seccomp.syscalls[0].args[0].value: expected non-negative integer");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ERRNO',"
		       "               'args': [7]}]}",
		       "linux.seccomp.syscalls[0].args[0]: expected object");
}

static void test_seccomp_rejects_errno_for_actions_without_one(void **state)
{
	(void)state;
	/* config-linux.md: the runtime MUST fail when the action does not support an errno */
	check_rejected("{'defaultAction': 'SCMP_ACT_KILL', 'defaultErrnoRet': 1}",
		       "linux.seccomp.defaultErrnoRet: not valid with SCMP_ACT_KILL");
	check_rejected(
		"{'defaultAction': 'SCMP_ACT_ERRNO',"
		" 'syscalls': [{'names': ['read'], 'action': 'SCMP_ACT_ALLOW', 'errnoRet': 0}]}",
		"linux.seccomp.syscalls[0].errnoRet: not valid with SCMP_ACT_ALLOW");
	check_rejected("{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 65536}",
		       "linux.seccomp.defaultErrnoRet: 65536 is out of range");
}

static void test_seccomp_rejects_unknown_and_unsupported_flags(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'flags': ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_BOGUS']}",
		       "linux.seccomp.flags[1]: unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'");
	check_rejected_with("{'defaultAction': 'SCMP_ACT_ALLOW',"
			    " 'flags': ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']}",
			    EOPNOTSUPP, "linux.seccomp.flags[0]");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'flags': [1]}",
		       "linux.seccomp.flags[0]: expected string");
}

static void test_seccomp_refuses_notify_it_cannot_deliver(void **state)
{
	(void)state;
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW',"
		       " 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_NOTIFY'}]}",
		       "linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath");
	check_rejected_with("{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '/run/agent.sock',"
			    " 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_NOTIFY'}]}",
			    EOPNOTSUPP, "linux.seccomp: SCMP_ACT_NOTIFY with listenerPath");
	check_rejected("{'defaultAction': 'SCMP_ACT_NOTIFY', 'listenerPath': '/run/agent.sock'}",
		       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default");
	check_rejected("{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerMetadata': 'x'}",
		       "linux.seccomp.listenerMetadata: given without listenerPath");
	/* a listener nobody needs is ignored, as the spec says */
	check_builds("{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '/run/agent.sock',"
		     " 'listenerMetadata': 'x',"
		     " 'syscalls': [{'names': ['mkdir'], 'action': 'SCMP_ACT_ERRNO'}]}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seccomp_builds_a_small_profile),
		cmocka_unit_test(test_seccomp_builds_every_action_and_operator),
		cmocka_unit_test(test_seccomp_builds_nothing_for_an_absent_or_empty_profile),
		cmocka_unit_test(test_seccomp_load_and_free_accept_null),
		cmocka_unit_test(test_seccomp_ignores_syscall_names_libseccomp_does_not_know),
		cmocka_unit_test(test_seccomp_skips_rules_equal_to_the_default_action),
		cmocka_unit_test(test_seccomp_ors_conditions_that_share_an_argument),
		cmocka_unit_test(test_seccomp_accepts_the_native_architecture_listed_again),
		cmocka_unit_test(test_seccomp_builds_a_long_profile_with_a_binary_tree),
		cmocka_unit_test(test_seccomp_rejects_unknown_actions_with_their_path),
		cmocka_unit_test(test_seccomp_rejects_unknown_architectures),
		cmocka_unit_test(test_seccomp_rejects_unknown_operators),
		cmocka_unit_test(test_seccomp_rejects_argument_indexes_above_5),
		cmocka_unit_test(test_seccomp_rejects_fields_of_the_wrong_type),
		cmocka_unit_test(test_seccomp_rejects_errno_for_actions_without_one),
		cmocka_unit_test(test_seccomp_rejects_unknown_and_unsupported_flags),
		cmocka_unit_test(test_seccomp_refuses_notify_it_cannot_deliver),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
