/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The linux.seccomp profile `runtime spec` writes: Docker's default profile (moby/profiles
 * seccomp v0.2.3, default.json) resolved, as an engine resolves it before handing it to
 * runc, for the architecture skiff is built for and the container's bounding capabilities.
 * Called by spec.c; rt_seccomp_build() compiles the result like any other profile.
 */
#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include <jansson.h>

#include "runtime/internal.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Allowed whatever the capabilities: syscalls that are harmless or that the kernel checks
 * against a capability itself (mknod, setuid, kill ...). Names libseccomp does not know
 * are skipped when the profile is built. Keep sorted (C locale).
 *
 * socketcall stays allowed as in Docker's profile since seccomp v0.2.3: on 32-bit x86 it
 * reaches the socket families the socket rules below deny, which Docker leaves to an LSM.
 */
static const char *const allowed[] = {
	"_llseek",
	"_newselect",
	"accept",
	"accept4",
	"access",
	"adjtimex",
	"alarm",
	"bind",
	"brk",
	"cachestat",
	"capget",
	"capset",
	"chdir",
	"chmod",
	"chown",
	"chown32",
	"clock_adjtime",
	"clock_adjtime64",
	"clock_getres",
	"clock_getres_time64",
	"clock_gettime",
	"clock_gettime64",
	"clock_nanosleep",
	"clock_nanosleep_time64",
	"close",
	"close_range",
	"connect",
	"copy_file_range",
	"creat",
	"dup",
	"dup2",
	"dup3",
	"epoll_create",
	"epoll_create1",
	"epoll_ctl",
	"epoll_ctl_old",
	"epoll_pwait",
	"epoll_pwait2",
	"epoll_wait",
	"epoll_wait_old",
	"eventfd",
	"eventfd2",
	"execve",
	"execveat",
	"exit",
	"exit_group",
	"faccessat",
	"faccessat2",
	"fadvise64",
	"fadvise64_64",
	"fallocate",
	"fanotify_mark",
	"fchdir",
	"fchmod",
	"fchmodat",
	"fchmodat2",
	"fchown",
	"fchown32",
	"fchownat",
	"fcntl",
	"fcntl64",
	"fdatasync",
	"fgetxattr",
	"flistxattr",
	"flock",
	"fork",
	"fremovexattr",
	"fsetxattr",
	"fstat",
	"fstat64",
	"fstatat64",
	"fstatfs",
	"fstatfs64",
	"fsync",
	"ftruncate",
	"ftruncate64",
	"futex",
	"futex_requeue",
	"futex_time64",
	"futex_wait",
	"futex_waitv",
	"futex_wake",
	"futimesat",
	"get_robust_list",
	"get_thread_area",
	"getcpu",
	"getcwd",
	"getdents",
	"getdents64",
	"getegid",
	"getegid32",
	"geteuid",
	"geteuid32",
	"getgid",
	"getgid32",
	"getgroups",
	"getgroups32",
	"getitimer",
	"getpeername",
	"getpgid",
	"getpgrp",
	"getpid",
	"getppid",
	"getpriority",
	"getrandom",
	"getresgid",
	"getresgid32",
	"getresuid",
	"getresuid32",
	"getrlimit",
	"getrusage",
	"getsid",
	"getsockname",
	"getsockopt",
	"gettid",
	"gettimeofday",
	"getuid",
	"getuid32",
	"getxattr",
	"getxattrat",
	"inotify_add_watch",
	"inotify_init",
	"inotify_init1",
	"inotify_rm_watch",
	"io_cancel",
	"io_destroy",
	"io_getevents",
	"io_pgetevents",
	"io_pgetevents_time64",
	"io_setup",
	"io_submit",
	"ioctl",
	"ioprio_get",
	"ioprio_set",
	"ipc",
	"kill",
	"landlock_add_rule",
	"landlock_create_ruleset",
	"landlock_restrict_self",
	"lchown",
	"lchown32",
	"lgetxattr",
	"link",
	"linkat",
	"listen",
	"listmount",
	"listxattr",
	"listxattrat",
	"llistxattr",
	"lremovexattr",
	"lseek",
	"lsetxattr",
	"lstat",
	"lstat64",
	"madvise",
	"map_shadow_stack",
	"membarrier",
	"memfd_create",
	"memfd_secret",
	"mincore",
	"mkdir",
	"mkdirat",
	"mknod",
	"mknodat",
	"mlock",
	"mlock2",
	"mlockall",
	"mmap",
	"mmap2",
	"mprotect",
	"mq_getsetattr",
	"mq_notify",
	"mq_open",
	"mq_timedreceive",
	"mq_timedreceive_time64",
	"mq_timedsend",
	"mq_timedsend_time64",
	"mq_unlink",
	"mremap",
	"mseal",
	"msgctl",
	"msgget",
	"msgrcv",
	"msgsnd",
	"msync",
	"munlock",
	"munlockall",
	"munmap",
	"name_to_handle_at",
	"nanosleep",
	"newfstatat",
	"open",
	"openat",
	"openat2",
	"pause",
	"pidfd_open",
	"pidfd_send_signal",
	"pipe",
	"pipe2",
	"pkey_alloc",
	"pkey_free",
	"pkey_mprotect",
	"poll",
	"ppoll",
	"ppoll_time64",
	"prctl",
	"pread64",
	"preadv",
	"preadv2",
	"prlimit64",
	"process_mrelease",
	"pselect6",
	"pselect6_time64",
	"pwrite64",
	"pwritev",
	"pwritev2",
	"read",
	"readahead",
	"readlink",
	"readlinkat",
	"readv",
	"recv",
	"recvfrom",
	"recvmmsg",
	"recvmmsg_time64",
	"recvmsg",
	"remap_file_pages",
	"removexattr",
	"removexattrat",
	"rename",
	"renameat",
	"renameat2",
	"restart_syscall",
	"riscv_hwprobe",
	"rmdir",
	"rseq",
	"rt_sigaction",
	"rt_sigpending",
	"rt_sigprocmask",
	"rt_sigqueueinfo",
	"rt_sigreturn",
	"rt_sigsuspend",
	"rt_sigtimedwait",
	"rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo",
	"sched_get_priority_max",
	"sched_get_priority_min",
	"sched_getaffinity",
	"sched_getattr",
	"sched_getparam",
	"sched_getscheduler",
	"sched_rr_get_interval",
	"sched_rr_get_interval_time64",
	"sched_setaffinity",
	"sched_setattr",
	"sched_setparam",
	"sched_setscheduler",
	"sched_yield",
	"seccomp",
	"select",
	"semctl",
	"semget",
	"semop",
	"semtimedop",
	"semtimedop_time64",
	"send",
	"sendfile",
	"sendfile64",
	"sendmmsg",
	"sendmsg",
	"sendto",
	"set_robust_list",
	"set_thread_area",
	"set_tid_address",
	"setfsgid",
	"setfsgid32",
	"setfsuid",
	"setfsuid32",
	"setgid",
	"setgid32",
	"setgroups",
	"setgroups32",
	"setitimer",
	"setpgid",
	"setpriority",
	"setregid",
	"setregid32",
	"setresgid",
	"setresgid32",
	"setresuid",
	"setresuid32",
	"setreuid",
	"setreuid32",
	"setrlimit",
	"setsid",
	"setsockopt",
	"setuid",
	"setuid32",
	"setxattr",
	"setxattrat",
	"shmat",
	"shmctl",
	"shmdt",
	"shmget",
	"shutdown",
	"sigaltstack",
	"signalfd",
	"signalfd4",
	"sigprocmask",
	"sigreturn",
	"socketcall",
	"socketpair",
	"splice",
	"stat",
	"stat64",
	"statfs",
	"statfs64",
	"statmount",
	"statx",
	"symlink",
	"symlinkat",
	"sync",
	"sync_file_range",
	"syncfs",
	"sysinfo",
	"tee",
	"tgkill",
	"time",
	"timer_create",
	"timer_delete",
	"timer_getoverrun",
	"timer_gettime",
	"timer_gettime64",
	"timer_settime",
	"timer_settime64",
	"timerfd_create",
	"timerfd_gettime",
	"timerfd_gettime64",
	"timerfd_settime",
	"timerfd_settime64",
	"times",
	"tkill",
	"truncate",
	"truncate64",
	"ugetrlimit",
	"umask",
	"uname",
	"unlink",
	"unlinkat",
	"uretprobe",
	"utime",
	"utimensat",
	"utimensat_time64",
	"utimes",
	"vfork",
	"vmsplice",
	"wait4",
	"waitid",
	"waitpid",
	"write",
	"writev",
};

/*
 * The architectures of the host and the syscalls only that architecture has. A filter
 * lists the compat ABIs too: a syscall entered through one not listed would meet
 * libseccomp's bad-architecture action (kill) instead of the errno.
 */
#if defined(__x86_64__)
static const char *const native_arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
					    NULL};
static const char *const native_calls[] = {"arch_prctl", "modify_ldt", NULL};
#elif defined(__aarch64__)
static const char *const native_arches[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL};
static const char *const native_calls[] = {
	"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
	"set_tls",          "sync_file_range2",    NULL};
#elif defined(__s390x__)
static const char *const native_arches[] = {"SCMP_ARCH_S390X", "SCMP_ARCH_S390", NULL};
static const char *const native_calls[] = {"s390_pci_mmio_read", "s390_pci_mmio_write",
					   "s390_runtime_instr", NULL};
#elif defined(__riscv) && __riscv_xlen == 64
static const char *const native_arches[] = {"SCMP_ARCH_RISCV64", NULL};
static const char *const native_calls[] = {"riscv_flush_icache", NULL};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const char *const native_arches[] = {"SCMP_ARCH_PPC64LE", NULL};
static const char *const native_calls[] = {"swapcontext", "sync_file_range2", NULL};
#else
/* no list: libseccomp filters the native architecture alone */
static const char *const native_arches[] = {NULL};
static const char *const native_calls[] = {NULL};
#endif

/* s390 takes clone's stack first and its flags second. */
#if defined(__s390__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* Every flag of clone(2) that creates a namespace: 0x7E020000. */
#define CLONE_NEW_ANY                                                                              \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |             \
	 CLONE_NEWPID | CLONE_NEWNET)

/*
 * Syscalls allowed only when the bounding set holds the capability that guards them.
 * Docker also allows ptrace, process_vm_readv and process_vm_writev to everyone on kernels
 * from 4.8; a document written ahead of the kernel it meets cannot know that, so they stay
 * with CAP_SYS_PTRACE.
 */
static const struct {
	const char *cap;
	const char *const *names; /* NULL-terminated */
} cap_groups[] = {
	{"CAP_DAC_READ_SEARCH", (const char *const[]){"open_by_handle_at", NULL}},
	{"CAP_SYS_ADMIN", (const char *const[]){"bpf",
						"clone",
						"clone3",
						"fanotify_init",
						"fsconfig",
						"fsmount",
						"fsopen",
						"fspick",
						"lookup_dcookie",
						"lsm_get_self_attr",
						"lsm_list_modules",
						"lsm_set_self_attr",
						"mount",
						"mount_setattr",
						"move_mount",
						"open_tree",
						"perf_event_open",
						"quotactl",
						"quotactl_fd",
						"setdomainname",
						"sethostname",
						"setns",
						"syslog",
						"umount",
						"umount2",
						"unshare",
						NULL}},
	{"CAP_SYS_BOOT", (const char *const[]){"reboot", NULL}},
	{"CAP_SYS_CHROOT", (const char *const[]){"chroot", NULL}},
	{"CAP_SYS_MODULE",
	 (const char *const[]){"delete_module", "init_module", "finit_module", NULL}},
	{"CAP_SYS_PACCT", (const char *const[]){"acct", NULL}},
	{"CAP_SYS_PTRACE",
	 (const char *const[]){"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
			       "process_vm_writev", "ptrace", NULL}},
	{"CAP_SYS_RAWIO", (const char *const[]){"iopl", "ioperm", NULL}},
	{"CAP_SYS_TIME",
	 (const char *const[]){"settimeofday", "stime", "clock_settime", "clock_settime64", NULL}},
	{"CAP_SYS_TTY_CONFIG", (const char *const[]){"vhangup", NULL}},
	{"CAP_SYS_NICE", (const char *const[]){"get_mempolicy", "mbind", "set_mempolicy",
					       "set_mempolicy_home_node", NULL}},
	{"CAP_SYSLOG", (const char *const[]){"syslog", NULL}},
	{"CAP_BPF", (const char *const[]){"bpf", NULL}},
	{"CAP_PERFMON", (const char *const[]){"perf_event_open", NULL}},
};

/* The socket rules deny AF_ALG and AF_VSOCK by allowing what lies below, between and above. */
static_assert(AF_VSOCK - AF_ALG == 2, "AF_ALG and AF_VSOCK are two apart");

/* One syscall rule with at most one argument condition. */
static const struct {
	const char *name;
	const char *unless_cap; /* left out when the bounding set holds this capability */
	int errno_ret;          /* 0: allow when the condition holds; else deny with this */
	const char *op;         /* NULL: no condition */
	unsigned index;
	uint64_t value;
} rules[] = {
	/* AF_ALG and AF_VSOCK: kernel code few containers need and many exploits reach */
	{"socket", NULL, 0, "SCMP_CMP_LT", 0, AF_ALG},
	{"socket", NULL, 0, "SCMP_CMP_EQ", 0, AF_ALG + 1},
	{"socket", NULL, 0, "SCMP_CMP_GT", 0, AF_VSOCK},
	/* execution domains programs ask for, and the query; not READ_IMPLIES_EXEC and such */
	{"personality", NULL, 0, "SCMP_CMP_EQ", 0, PER_LINUX},
	{"personality", NULL, 0, "SCMP_CMP_EQ", 0, PER_LINUX32},
	{"personality", NULL, 0, "SCMP_CMP_EQ", 0, UNAME26},
	{"personality", NULL, 0, "SCMP_CMP_EQ", 0, UNAME26 | PER_LINUX32},
	{"personality", NULL, 0, "SCMP_CMP_EQ", 0, 0xffffffff},
	/* threads and processes, but no new namespace */
	{"clone", "CAP_SYS_ADMIN", 0, "SCMP_CMP_MASKED_EQ", CLONE_FLAGS_ARG, CLONE_NEW_ANY},
	/* clone3 passes its flags in memory, out of seccomp's sight: ENOSYS sends glibc to clone */
	{"clone3", "CAP_SYS_ADMIN", ENOSYS, NULL, 0, 0},
};

/* jansson returns NULL only when out of memory here; like xmalloc, give up. */
static json_t *must(json_t *j)
{
	if (!j)
		abort();
	return j;
}

static void push(json_t *array, json_t *v)
{
	if (json_array_append_new(array, must(v)) < 0)
		abort();
}

static void push_all(json_t *array, const char *const *names)
{
	for (; *names; names++)
		push(array, json_string(*names));
}

static bool has_cap(const char *const *caps, size_t n_caps, const char *cap)
{
	for (size_t i = 0; i < n_caps; i++)
		if (strcmp(caps[i], cap) == 0)
			return true;
	return false;
}

static json_t *allow(json_t *names)
{
	return must(json_pack("{s:o, s:s}", "names", names, "action", "SCMP_ACT_ALLOW"));
}

/* runtime-spec's key order: names, action, errnoRet, args; index, value, valueTwo, op. */
static json_t *rule_json(size_t i)
{
	json_t *j = must(json_pack("{s:[s], s:s}", "names", rules[i].name, "action",
				   rules[i].errno_ret ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW"));
	json_t *arg;

	if (rules[i].errno_ret &&
	    json_object_set_new(j, "errnoRet", must(json_integer(rules[i].errno_ret))) < 0)
		abort();
	if (!rules[i].op)
		return j;
	arg = must(json_pack("{s:i, s:I}", "index", (int)rules[i].index, "value",
			     (json_int_t)rules[i].value));
	/* for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo what the masked bits must be */
	if (strcmp(rules[i].op, "SCMP_CMP_MASKED_EQ") == 0 &&
	    json_object_set_new(arg, "valueTwo", must(json_integer(0))) < 0)
		abort();
	if (json_object_set_new(arg, "op", must(json_string(rules[i].op))) < 0 ||
	    json_object_set_new(j, "args", must(json_pack("[o]", arg))) < 0)
		abort();
	return j;
}

json_t *rt_spec_seccomp(const char *const *caps, size_t n_caps)
{
	json_t *profile = must(json_pack("{s:s, s:i}", "defaultAction", "SCMP_ACT_ERRNO",
					 "defaultErrnoRet", EPERM));
	json_t *syscalls = must(json_array());
	json_t *names = must(json_array());

	if (native_arches[0]) {
		json_t *arches = must(json_array());

		push_all(arches, native_arches);
		if (json_object_set_new(profile, "architectures", arches) < 0)
			abort();
	}
	for (size_t i = 0; i < N_ELEMS(allowed); i++)
		push(names, json_string(allowed[i]));
	push_all(names, native_calls);
	push(syscalls, allow(names));
	for (size_t i = 0; i < N_ELEMS(cap_groups); i++) {
		if (!has_cap(caps, n_caps, cap_groups[i].cap))
			continue;
		names = must(json_array());
		push_all(names, cap_groups[i].names);
		push(syscalls, allow(names));
	}
	for (size_t i = 0; i < N_ELEMS(rules); i++)
		if (!rules[i].unless_cap || !has_cap(caps, n_caps, rules[i].unless_cap))
			push(syscalls, rule_json(i));
	if (json_object_set_new(profile, "syscalls", syscalls) < 0)
		abort();
	return profile;
}
