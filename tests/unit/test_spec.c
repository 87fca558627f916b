/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the documents `runtime spec` and `runtime features` print (spec.c): the
 * default config.json in runc's shape, its rootless variant, and the features structure.
 */
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/cleanup.h"
#include "base/err.h"

#include "runtime/internal.h"
#include "runtime/runtime.h"

static bool str_array_has(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static void assert_str_array_equal(const json_t *a, const char *const *want, size_t n)
{
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(a, i)), want[i]);
}

static const char *str_at(const json_t *root, const char *path)
{
	json_t *v = json_object_get(root, path);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* linux.namespaces as a JSON array of type names, for comparison. */
static json_t *namespace_types(const json_t *spec)
{
	json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
	json_t *types = json_array();
	size_t i;
	json_t *v;

	assert_true(json_is_array(ns));
	json_array_foreach (ns, i, v)
		json_array_append_new(types, json_string(str_at(v, "type")));
	return types;
}

static const json_t *mount_at(const json_t *spec, const char *destination)
{
	json_t *mounts = json_object_get(spec, "mounts");
	size_t i;
	json_t *m;

	json_array_foreach (mounts, i, m)
		if (strcmp(str_at(m, "destination"), destination) == 0)
			return m;
	fail_msg("no mount on '%s'", destination);
	return NULL;
}

static void test_spec_default_has_oci_version_1_3_0(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rootless = rt_spec_default(true);

	(void)state;
	assert_string_equal(str_at(spec, "ociVersion"), "1.3.0");
	assert_string_equal(str_at(spec, "ociVersion"), RT_OCI_VERSION);
	assert_string_equal(str_at(rootless, "ociVersion"), RT_OCI_VERSION);
}

static void test_spec_default_is_valid_for_runc_fields(void **state)
{
	static const char *const args[] = {"sh"};
	cleanup_json json_t *spec = rt_spec_default(false);
	json_t *process = json_object_get(spec, "process");
	json_t *root = json_object_get(spec, "root");
	json_t *user = json_object_get(process, "user");
	json_t *rlimit = json_array_get(json_object_get(process, "rlimits"), 0);

	(void)state;
	assert_true(json_is_true(json_object_get(process, "terminal")));
	assert_str_array_equal(json_object_get(process, "args"), args, 1);
	assert_string_equal(str_at(process, "cwd"), "/");
	assert_int_equal(json_integer_value(json_object_get(user, "uid")), 0);
	assert_int_equal(json_integer_value(json_object_get(user, "gid")), 0);
	assert_true(str_array_has(json_object_get(process, "env"), "TERM=xterm"));
	assert_true(json_is_true(json_object_get(process, "noNewPrivileges")));
	assert_string_equal(str_at(rlimit, "type"), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rlimit, "soft")), 1024);
	assert_string_equal(str_at(root, "path"), "rootfs");
	assert_true(json_is_true(json_object_get(root, "readonly")));
	assert_true(json_is_string(json_object_get(spec, "hostname")));
	assert_int_equal(json_array_size(json_object_get(spec, "mounts")), 7);
	assert_string_equal(str_at(mount_at(spec, "/sys"), "type"), "sysfs");
	assert_string_equal(str_at(mount_at(spec, "/sys/fs/cgroup"), "type"), "cgroup");
	assert_true(str_array_has(json_object_get(mount_at(spec, "/dev/pts"), "options"), "gid=5"));
	assert_null(json_object_get(mount_at(spec, "/proc"), "options"));
}

static const char *const docker_caps[] = {
	"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
	"CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
	"CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL",    "CAP_AUDIT_WRITE",
};

static void test_spec_default_has_dockers_capabilities_and_no_inheritable_or_ambient(void **state)
{
	static const char *const sets[] = {"bounding", "effective", "permitted"};
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rootless = rt_spec_default(true);
	json_t *caps = json_object_get(json_object_get(spec, "process"), "capabilities");
	size_t n = sizeof(docker_caps) / sizeof(docker_caps[0]);

	(void)state;
	for (size_t s = 0; s < 3; s++) {
		assert_str_array_equal(json_object_get(caps, sets[s]), docker_caps, n);
		for (size_t i = 0; i < n; i++)
			assert_true(rt_cap_from_name(docker_caps[i]) >= 0);
	}
	/* CVE-2022-29162: nothing inheritable; an ambient capability would need it */
	assert_null(json_object_get(caps, "ambient"));
	assert_null(json_object_get(caps, "inheritable"));
	assert_true(json_equal(
		caps, json_object_get(json_object_get(rootless, "process"), "capabilities")));
}

static void test_spec_default_has_expected_namespaces(void **state)
{
	static const char *const want[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *types = namespace_types(spec);

	(void)state;
	assert_str_array_equal(types, want, 6);
}

static void test_spec_default_denies_all_devices(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
	json_t *rule = json_array_get(json_object_get(res, "devices"), 0);

	(void)state;
	assert_true(json_is_false(json_object_get(rule, "allow")));
	assert_string_equal(str_at(rule, "access"), "rwm");
}

static void assert_dockers_paths(const json_t *lx)
{
	static const char *const masked[] = {
		"/proc/acpi",          "/proc/asound",
		"/proc/kcore",         "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list",
		"/proc/timer_stats",   "/proc/sched_debug",
		"/sys/firmware",       "/sys/devices/virtual/powercap",
		"/proc/scsi",          "/proc/interrupts",
	};
	static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					       "/proc/sysrq-trigger"};

	assert_str_array_equal(json_object_get(lx, "maskedPaths"), masked,
			       sizeof(masked) / sizeof(masked[0]));
	assert_str_array_equal(json_object_get(lx, "readonlyPaths"), readonly,
			       sizeof(readonly) / sizeof(readonly[0]));
}

static void test_spec_default_masks_and_protects_dockers_paths(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rootless = rt_spec_default(true);

	(void)state;
	assert_dockers_paths(json_object_get(spec, "linux"));
	assert_dockers_paths(json_object_get(rootless, "linux"));
}

/* ---- the default seccomp profile ---- */

static const json_t *seccomp_of(const json_t *spec)
{
	json_t *sc = json_object_get(json_object_get(spec, "linux"), "seccomp");

	assert_true(json_is_object(sc));
	return sc;
}

/* True when a rule without conditions allows @name. */
static bool allows_always(const json_t *sc, const char *name)
{
	size_t i;
	json_t *rule;

	json_array_foreach (json_object_get(sc, "syscalls"), i, rule)
		if (strcmp(str_at(rule, "action"), "SCMP_ACT_ALLOW") == 0 &&
		    !json_object_get(rule, "args") &&
		    str_array_has(json_object_get(rule, "names"), name))
			return true;
	return false;
}

/* The rules that name @name, as a new array of borrowed rule objects. */
static json_t *rules_for(const json_t *sc, const char *name)
{
	json_t *found = json_array();
	size_t i;
	json_t *rule;

	json_array_foreach (json_object_get(sc, "syscalls"), i, rule)
		if (str_array_has(json_object_get(rule, "names"), name))
			json_array_append(found, rule);
	return found;
}

/* Checks that @rule allows exactly when argument @index compares to @value with @op. */
static void assert_arg_rule(const json_t *rule, unsigned index, json_int_t value, const char *op)
{
	json_t *args = json_object_get(rule, "args");
	json_t *arg = json_array_get(args, 0);

	assert_string_equal(str_at(rule, "action"), "SCMP_ACT_ALLOW");
	assert_int_equal(json_array_size(json_object_get(rule, "names")), 1);
	assert_int_equal(json_array_size(args), 1);
	assert_int_equal(json_integer_value(json_object_get(arg, "index")), index);
	assert_int_equal(json_integer_value(json_object_get(arg, "value")), value);
	assert_string_equal(str_at(arg, "op"), op);
}

static void test_spec_default_seccomp_denies_with_eperm_on_the_host_architectures(void **state)
{
#if defined(__x86_64__)
	static const char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
	static const char *const arches[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#endif
	cleanup_json json_t *spec = rt_spec_default(false);
	const json_t *sc = seccomp_of(spec);

	(void)state;
	assert_string_equal(str_at(sc, "defaultAction"), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(sc, "defaultErrnoRet")), EPERM);
#if defined(__x86_64__) || defined(__aarch64__)
	assert_str_array_equal(json_object_get(sc, "architectures"), arches,
			       sizeof(arches) / sizeof(arches[0]));
#endif
	/* runc's default: no flags, so the kernel may skip the speculative store bypass fix */
	assert_null(json_object_get(sc, "flags"));
}

static void test_spec_default_seccomp_allows_dockers_list(void **state)
{
	static const char *const some[] = {
		"read",     "write",      "openat",      "execve",     "wait4",   "futex",
		"mmap",     "rseq",       "statx",       "getdents64", "sendto",  "socketpair",
		"mknodat",  "setuid",     "capset",      "prctl",      "seccomp", "chroot",
		"io_setup", "pidfd_open", "close_range",
	};
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *seen = json_object();
	const json_t *sc = seccomp_of(spec);
	size_t i, n = 0;
	json_t *rule, *v;

	(void)state;
	for (i = 0; i < sizeof(some) / sizeof(some[0]); i++)
		if (!allows_always(sc, some[i]))
			fail_msg("'%s' is not allowed", some[i]);
	/* about 360 names, none allowed twice */
	json_array_foreach (json_object_get(sc, "syscalls"), i, rule) {
		if (strcmp(str_at(rule, "action"), "SCMP_ACT_ALLOW") ||
		    json_object_get(rule, "args"))
			continue;
		json_array_foreach (json_object_get(rule, "names"), n, v)
			json_object_set_new(seen, json_string_value(v), json_true());
	}
	assert_in_range(json_object_size(seen), 350, 400);
	n = 0;
	json_array_foreach (json_object_get(sc, "syscalls"), i, rule)
		if (!strcmp(str_at(rule, "action"), "SCMP_ACT_ALLOW") &&
		    !json_object_get(rule, "args"))
			n += json_array_size(json_object_get(rule, "names"));
	assert_int_equal(n, json_object_size(seen));
}

static void test_spec_default_seccomp_denies_what_needs_capabilities_it_lacks(void **state)
{
	static const char *const denied[] = {
		"mount",
		"umount2",
		"pivot_root",
		"unshare",
		"setns",
		"ptrace",
		"process_vm_readv",
		"process_vm_writev",
		"kcmp",
		"pidfd_getfd",
		"init_module",
		"finit_module",
		"delete_module",
		"kexec_load",
		"kexec_file_load",
		"bpf",
		"perf_event_open",
		"open_by_handle_at",
		"reboot",
		"swapon",
		"settimeofday",
		"clock_settime",
		"acct",
		"keyctl",
		"add_key",
		"request_key",
		"userfaultfd",
		"io_uring_setup",
		"fsopen",
		"open_tree",
		"move_mount",
		"syslog",
		"iopl",
		"ioperm",
		"quotactl",
		"lookup_dcookie",
		"vhangup",
		"sethostname",
		"setdomainname",
		"mbind",
	};
	cleanup_json json_t *spec = rt_spec_default(false);
	const json_t *sc = seccomp_of(spec);

	(void)state;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		cleanup_json json_t *rules = rules_for(sc, denied[i]);

		if (json_array_size(rules))
			fail_msg("'%s' has a rule", denied[i]);
	}
}

static void test_spec_default_seccomp_limits_personality_to_five_domains(void **state)
{
	static const json_int_t allowed[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rules = rules_for(seccomp_of(spec), "personality");

	(void)state;
	assert_int_equal(json_array_size(rules), 5);
	for (size_t i = 0; i < 5; i++)
		assert_arg_rule(json_array_get(rules, i), 0, allowed[i], "SCMP_CMP_EQ");
}

static void test_spec_default_seccomp_allows_clone_without_namespace_flags(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *clone = rules_for(seccomp_of(spec), "clone");
	cleanup_json json_t *clone3 = rules_for(seccomp_of(spec), "clone3");
	json_t *rule = json_array_get(clone, 0);
	json_t *arg = json_array_get(json_object_get(rule, "args"), 0);

	(void)state;
	assert_int_equal(json_array_size(clone), 1);
	assert_arg_rule(rule, 0, 2114060288, "SCMP_CMP_MASKED_EQ");
	assert_int_equal(2114060288, CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
					     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET);
	assert_int_equal(json_integer_value(json_object_get(arg, "valueTwo")), 0);
	/* clone3's flags are out of seccomp's reach: ENOSYS makes glibc use clone */
	assert_int_equal(json_array_size(clone3), 1);
	rule = json_array_get(clone3, 0);
	assert_string_equal(str_at(rule, "action"), "SCMP_ACT_ERRNO");
	assert_int_equal(json_integer_value(json_object_get(rule, "errnoRet")), ENOSYS);
	assert_null(json_object_get(rule, "args"));
}

static void test_spec_default_seccomp_denies_alg_and_vsock_sockets(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rules = rules_for(seccomp_of(spec), "socket");

	(void)state;
	assert_int_equal(json_array_size(rules), 3);
	assert_arg_rule(json_array_get(rules, 0), 0, AF_ALG, "SCMP_CMP_LT");
	assert_arg_rule(json_array_get(rules, 1), 0, AF_ALG + 1, "SCMP_CMP_EQ");
	assert_arg_rule(json_array_get(rules, 2), 0, AF_VSOCK, "SCMP_CMP_GT");
	assert_int_equal(AF_ALG, 38);
	assert_int_equal(AF_VSOCK, 40);
}

static void test_spec_seccomp_follows_the_bounding_set(void **state)
{
	static const char *const admin[] = {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"};
	cleanup_json json_t *none = rt_spec_seccomp(NULL, 0);
	cleanup_json json_t *sc = rt_spec_seccomp(admin, 2);
	cleanup_json json_t *clone3 = rules_for(sc, "clone3");

	(void)state;
	assert_false(allows_always(none, "chroot"));
	assert_true(allows_always(sc, "mount"));
	assert_true(allows_always(sc, "ptrace"));
	assert_true(allows_always(sc, "clone"));
	/* with CAP_SYS_ADMIN, clone and clone3 need no limit: namespaces are allowed */
	assert_int_equal(json_array_size(clone3), 1);
	assert_string_equal(str_at(json_array_get(clone3, 0), "action"), "SCMP_ACT_ALLOW");
	assert_false(allows_always(sc, "chroot"));
}

static void test_spec_default_seccomp_builds(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rootless = rt_spec_default(true);
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = NULL;

	(void)state;
	if (rt_seccomp_build(seccomp_of(spec), &s, &err) < 0)
		fail_msg("build failed: %s", err.msg);
	assert_non_null(s);
	rt_seccomp_free(s);
	assert_true(json_equal(seccomp_of(spec), seccomp_of(rootless)));
}

/*
 * Syscalls the loaded filter must stop, each with arguments for which the kernel itself
 * would answer something else (ENOENT, EINVAL, EBADF, ESRCH, success), so the errno says
 * which of the two answered. Calls only a root kernel refuses are left to the e2e tests.
 */
static const struct probe {
	const char *what;
	long nr;
	long args[6];
	int want; /* errno; 0: success */
} probes[] = {
	{"mount", SYS_mount, {0, (long)"/nonexistent-skiff", 0, 0, 0, 0}, EPERM},
	{"umount2", SYS_umount2, {(long)"/nonexistent-skiff", 0, 0, 0, 0, 0}, EPERM},
	{"unshare", SYS_unshare, {-1, 0, 0, 0, 0, 0}, EPERM},
	{"setns", SYS_setns, {-1, 0, 0, 0, 0, 0}, EPERM},
	{"ptrace", SYS_ptrace, {PTRACE_ATTACH, 0x3fffffff, 0, 0, 0, 0}, EPERM},
	{"process_vm_readv", SYS_process_vm_readv, {0, 0, 0, 0, 0, 1}, EPERM},
	{"keyctl",
	 SYS_keyctl,
	 {KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0, 0},
	 EPERM},
	{"add_key", SYS_add_key, {0, 0, 0, 0, KEY_SPEC_PROCESS_KEYRING, 0}, EPERM},
	{"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0, 0}, EPERM},
	{"personality(READ_IMPLIES_EXEC)", SYS_personality, {0x0400000, 0, 0, 0, 0, 0}, EPERM},
	{"personality(ADDR_NO_RANDOMIZE)", SYS_personality, {0x0040000, 0, 0, 0, 0, 0}, EPERM},
	{"personality(query)", SYS_personality, {0xffffffff, 0, 0, 0, 0, 0}, 0},
	{"clone3", SYS_clone3, {0, 0, 0, 0, 0, 0}, ENOSYS},
	/* invalid together, so the kernel would say EINVAL */
	{"clone(CLONE_NEWUSER)", SYS_clone, {CLONE_NEWUSER | CLONE_FS, 0, 0, 0, 0, 0}, EPERM},
	/* no namespace flag: through to the kernel, which refuses CLONE_SIGHAND alone */
	{"clone(CLONE_SIGHAND)", SYS_clone, {CLONE_SIGHAND, 0, 0, 0, 0, 0}, EINVAL},
	{"socket(AF_VSOCK)", SYS_socket, {AF_VSOCK, SOCK_STREAM, 0, 0, 0, 0}, EPERM},
	{"socket(AF_ALG)", SYS_socket, {AF_ALG, SOCK_SEQPACKET, 0, 0, 0, 0}, EPERM},
	{"socket(AF_UNIX)", SYS_socket, {AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0, 0}, 0},
	{"chroot", SYS_chroot, {(long)"/nonexistent-skiff", 0, 0, 0, 0, 0}, ENOENT},
	{"getpid", SYS_getpid, {0, 0, 0, 0, 0, 0}, 0},
};

/* In a child with the filter loaded: 0, or 1 + the index of the first probe that failed. */
static int run_probes(struct rt_seccomp *s)
{
	struct err err = ERR_INIT;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || rt_seccomp_load(s, &err) < 0)
		return 255;
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		const long *a = probes[i].args;
		long r = syscall(probes[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);

		if (probes[i].want ? r != -1 || errno != probes[i].want : r < 0)
			return (int)i + 1;
	}
	return 0;
}

static void test_spec_default_seccomp_filter_stops_escapes_once_loaded(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_err struct err err = ERR_INIT;
	struct rt_seccomp *s = NULL;
	int status = 0;
	pid_t pid;

	(void)state;
	if (rt_seccomp_build(seccomp_of(spec), &s, &err) < 0)
		fail_msg("build failed: %s", err.msg);
	pid = fork();
	assert_true(pid >= 0);
	/* _exit: nothing of the test harness or the sanitizers runs under the filter */
	if (pid == 0)
		_exit(run_probes(s));
	rt_seccomp_free(s);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 255)
		fail_msg("the filter did not load");
	if (WEXITSTATUS(status))
		fail_msg("%s: wrong answer", probes[WEXITSTATUS(status) - 1].what);
}

static void assert_maps_root_to(const json_t *maps, json_int_t host_id)
{
	json_t *m = json_array_get(maps, 0);

	assert_int_equal(json_array_size(maps), 1);
	assert_int_equal(json_integer_value(json_object_get(m, "containerID")), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "hostID")), host_id);
	assert_int_equal(json_integer_value(json_object_get(m, "size")), 1);
}

static void test_spec_rootless_maps_root_to_the_caller(void **state)
{
	static const char *const want[] = {"pid", "ipc", "uts", "mount", "cgroup", "user"};
	cleanup_json json_t *spec = rt_spec_default(true);
	cleanup_json json_t *types = namespace_types(spec);
	json_t *lx = json_object_get(spec, "linux");

	(void)state;
	assert_str_array_equal(types, want, 6);
	assert_maps_root_to(json_object_get(lx, "uidMappings"), geteuid());
	assert_maps_root_to(json_object_get(lx, "gidMappings"), getegid());
	assert_null(json_object_get(lx, "resources"));
}

static void test_spec_rootless_binds_sys_and_drops_id_options(void **state)
{
	static const char *const sys_opts[] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
	cleanup_json json_t *spec = rt_spec_default(true);
	const json_t *sys = mount_at(spec, "/sys");
	json_t *mounts = json_object_get(spec, "mounts");
	size_t i, j;
	json_t *m, *o;

	(void)state;
	assert_string_equal(str_at(sys, "type"), "none");
	assert_string_equal(str_at(sys, "source"), "/sys");
	assert_str_array_equal(json_object_get(sys, "options"), sys_opts, 5);
	assert_int_equal(json_array_size(mounts), 7);
	json_array_foreach (mounts, i, m) {
		json_array_foreach (json_object_get(m, "options"), j, o) {
			assert_int_not_equal(strncmp(json_string_value(o), "uid=", 4), 0);
			assert_int_not_equal(strncmp(json_string_value(o), "gid=", 4), 0);
		}
	}
	assert_true(str_array_has(json_object_get(mount_at(spec, "/dev/pts"), "options"),
				  "ptmxmode=0666"));
}

static void test_spec_default_serializes_in_runc_key_order(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_free char *text = json_dumps(spec, JSON_COMPACT);
	const char *head = "{\"ociVersion\":\"1.3.0\",\"process\":{\"terminal\":true,";

	(void)state;
	assert_non_null(text);
	assert_int_equal(strncmp(text, head, strlen(head)), 0);
	assert_true(strstr(text, "\"mounts\"") < strstr(text, "\"linux\""));
	/* runtime-spec's Linux struct: namespaces, seccomp, maskedPaths */
	assert_true(strstr(text, "\"namespaces\"") < strstr(text, "\"seccomp\""));
	assert_true(strstr(text, "\"seccomp\"") < strstr(text, "\"maskedPaths\""));
	assert_true(strstr(text, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,") !=
		    NULL);
	assert_non_null(strstr(text, "{\"index\":0,\"value\":2114060288,\"valueTwo\":0,"
				     "\"op\":\"SCMP_CMP_MASKED_EQ\"}"));
}

static void test_features_reports_the_supported_version_range(void **state)
{
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_string_equal(str_at(f, "ociVersionMin"), "1.0.0");
	assert_string_equal(str_at(f, "ociVersionMax"), RT_OCI_VERSION);
}

static void test_features_lists_every_hook(void **state)
{
	static const char *const want[] = {"prestart",       "createRuntime", "createContainer",
					   "startContainer", "poststart",     "poststop"};
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_str_array_equal(json_object_get(f, "hooks"), want, 6);
}

static void test_features_lists_every_namespace(void **state)
{
	static const char *const want[] = {"cgroup", "ipc",  "mount", "network",
					   "pid",    "time", "user",  "uts"};
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_str_array_equal(json_object_get(json_object_get(f, "linux"), "namespaces"), want, 8);
}

static void test_features_capabilities_match_the_cap_table(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *caps = json_object_get(json_object_get(f, "linux"), "capabilities");
	size_t i;
	json_t *v;

	(void)state;
	assert_int_equal(json_array_size(caps), 41);
	json_array_foreach (caps, i, v)
		assert_int_equal(rt_cap_from_name(json_string_value(v)), (int)i);
}

static void test_features_mount_options_are_sorted_unique_and_complete(void **state)
{
	static const char *const required[] = {
		"bind",     "rbind",     "ro",      "rw",          "rro",
		"rrw",      "nosuid",    "nodev",   "noexec",      "private",
		"rprivate", "rshared",   "rslave",  "runbindable", "idmap",
		"ridmap",   "tmpcopyup", "remount", "strictatime", "nosymfollow"};
	cleanup_json json_t *f = rt_features();
	json_t *opts = json_object_get(f, "mountOptions");
	const char *prev = "";
	size_t i;
	json_t *v;

	(void)state;
	assert_true(json_array_size(opts) >= 60);
	json_array_foreach (opts, i, v) {
		assert_true(strcmp(prev, json_string_value(v)) < 0);
		assert_null(strchr(json_string_value(v), '='));
		prev = json_string_value(v);
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		assert_true(str_array_has(opts, required[i]));
}

static void test_features_seccomp_names_libseccomp_values(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *sc = json_object_get(json_object_get(f, "linux"), "seccomp");

	(void)state;
	assert_true(json_is_true(json_object_get(sc, "enabled")));
	assert_int_equal(json_array_size(json_object_get(sc, "actions")), 8);
	/* refused by rt_seccomp_build: no seccomp agent support */
	assert_false(str_array_has(json_object_get(sc, "actions"), "SCMP_ACT_NOTIFY"));
	assert_int_equal(json_array_size(json_object_get(sc, "operators")), 7);
	assert_true(str_array_has(json_object_get(sc, "archs"), "SCMP_ARCH_X86_64"));
	assert_true(str_array_has(json_object_get(sc, "archs"), "SCMP_ARCH_AARCH64"));
	assert_true(str_array_has(json_object_get(sc, "knownFlags"), "SECCOMP_FILTER_FLAG_LOG"));
	assert_true(json_equal(json_object_get(sc, "knownFlags"),
			       json_object_get(sc, "supportedFlags")));
}

static void test_features_describe_unsupported_modules_as_disabled(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *lx = json_object_get(f, "linux");
	json_t *cg = json_object_get(lx, "cgroup");
	json_t *idmap = json_object_get(json_object_get(lx, "mountExtensions"), "idmap");

	(void)state;
	assert_true(json_is_true(json_object_get(cg, "v1")));
	assert_true(json_is_true(json_object_get(cg, "v2")));
	assert_true(json_is_false(json_object_get(cg, "systemd")));
	assert_true(json_is_false(json_object_get(json_object_get(lx, "apparmor"), "enabled")));
	assert_true(json_is_false(json_object_get(json_object_get(lx, "selinux"), "enabled")));
	assert_true(json_is_true(json_object_get(idmap, "enabled")));
	assert_non_null(json_string_value(
		json_object_get(json_object_get(f, "annotations"), "io.github.skiff.version")));
}

/* features.md: no properties beyond those the reported ociVersionMax defines. */
static void test_features_use_only_properties_of_runtime_spec_1_3(void **state)
{
	static const char *const top[] = {"ociVersionMin",
					  "ociVersionMax",
					  "hooks",
					  "mountOptions",
					  "linux",
					  "annotations",
					  "potentiallyUnsafeConfigAnnotations"};
	static const char *const lin[] = {
		"namespaces", "capabilities", "cgroup",          "seccomp",    "apparmor",
		"selinux",    "intelRdt",     "mountExtensions", "netDevices", "memoryPolicy"};
	cleanup_json json_t *f = rt_features();
	cleanup_json json_t *top_names = json_array();
	cleanup_json json_t *lin_names = json_array();
	const char *key;
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		json_array_append_new(top_names, json_string(top[i]));
	for (size_t i = 0; i < sizeof(lin) / sizeof(lin[0]); i++)
		json_array_append_new(lin_names, json_string(lin[i]));
	json_object_foreach (f, key, v)
		assert_true(str_array_has(top_names, key));
	json_object_foreach (json_object_get(f, "linux"), key, v)
		assert_true(str_array_has(lin_names, key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_default_has_oci_version_1_3_0),
		cmocka_unit_test(test_spec_default_is_valid_for_runc_fields),
		cmocka_unit_test(
			test_spec_default_has_dockers_capabilities_and_no_inheritable_or_ambient),
		cmocka_unit_test(test_spec_default_has_expected_namespaces),
		cmocka_unit_test(test_spec_default_denies_all_devices),
		cmocka_unit_test(test_spec_default_masks_and_protects_dockers_paths),
		cmocka_unit_test(
			test_spec_default_seccomp_denies_with_eperm_on_the_host_architectures),
		cmocka_unit_test(test_spec_default_seccomp_allows_dockers_list),
		cmocka_unit_test(test_spec_default_seccomp_denies_what_needs_capabilities_it_lacks),
		cmocka_unit_test(test_spec_default_seccomp_limits_personality_to_five_domains),
		cmocka_unit_test(test_spec_default_seccomp_allows_clone_without_namespace_flags),
		cmocka_unit_test(test_spec_default_seccomp_denies_alg_and_vsock_sockets),
		cmocka_unit_test(test_spec_seccomp_follows_the_bounding_set),
		cmocka_unit_test(test_spec_default_seccomp_builds),
		cmocka_unit_test(test_spec_default_seccomp_filter_stops_escapes_once_loaded),
		cmocka_unit_test(test_spec_rootless_maps_root_to_the_caller),
		cmocka_unit_test(test_spec_rootless_binds_sys_and_drops_id_options),
		cmocka_unit_test(test_spec_default_serializes_in_runc_key_order),
		cmocka_unit_test(test_features_reports_the_supported_version_range),
		cmocka_unit_test(test_features_lists_every_hook),
		cmocka_unit_test(test_features_lists_every_namespace),
		cmocka_unit_test(test_features_capabilities_match_the_cap_table),
		cmocka_unit_test(test_features_mount_options_are_sorted_unique_and_complete),
		cmocka_unit_test(test_features_seccomp_names_libseccomp_values),
		cmocka_unit_test(test_features_describe_unsupported_modules_as_disabled),
		cmocka_unit_test(test_features_use_only_properties_of_runtime_spec_1_3),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
