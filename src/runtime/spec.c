/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The documents `runtime spec` and `runtime features` print: a starting config.json in the
 * shape `runc spec` writes (optionally for a rootless user), and the runtime-spec features
 * structure (features.md, features-linux.md) listing what this runtime recognizes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <seccomp.h>

#include "runtime/internal.h"
#include "runtime/runtime.h"

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "0.0.0-dev"
#endif

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The oldest config.json ociVersion we accept (features.md#specification-version). */
#define OCI_VERSION_MIN "1.0.0"

/* jansson returns NULL only when out of memory here; like xmalloc, give up. */
static json_t *must(json_t *j)
{
	if (!j)
		abort();
	return j;
}

static void append(json_t *array, json_t *v)
{
	if (json_array_append_new(array, must(v)) < 0)
		abort();
}

static void set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, must(v)) < 0)
		abort();
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = must(json_array());

	for (size_t i = 0; i < n; i++)
		append(a, json_string(v[i]));
	return a;
}

/* ---- rt_spec_default ---- */

struct mount_def {
	const char *destination, *type, *source;
	const char *options[8]; /* NULL-terminated */
};

static const struct mount_def default_mounts[] = {
	{"/proc", "proc", "proc", {NULL}},
	{"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
	{"/dev/pts",
	 "devpts",
	 "devpts",
	 {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL}},
	{"/dev/shm",
	 "tmpfs",
	 "shm",
	 {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}},
	{"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev", NULL}},
	{"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro", NULL}},
	{"/sys/fs/cgroup",
	 "cgroup",
	 "cgroup",
	 {"nosuid", "noexec", "nodev", "relatime", "ro", NULL}},
};

/* Without CAP_SYS_ADMIN over the network namespace a new sysfs cannot be mounted: bind it. */
static const struct mount_def rootless_sys = {
	"/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro", NULL}};

/*
 * Docker's default set, in its order, as bounding, effective and permitted. Inheritable and
 * ambient stay empty: an inheritable capability survives execve of a file that carries it
 * (CVE-2022-29162), and an ambient one cannot be raised without it.
 */
static const char *const default_caps[] = {
	"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
	"CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
	"CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const default_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=xterm",
};

/*
 * containerd's list (Docker's, sorted differently) and Docker's later /proc/interrupts
 * (GHSA-6fw5-f8r9-fgfm). Docker's per-CPU thermal_throttle entries depend on the host and
 * are left out so the document does not.
 */
static const char *const masked_paths[] = {
	"/proc/acpi",          "/proc/asound",
	"/proc/kcore",         "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats",   "/proc/sched_debug",
	"/sys/firmware",       "/sys/devices/virtual/powercap",
	"/proc/scsi",          "/proc/interrupts",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *process_default(void)
{
	json_t *caps = must(json_object());

	set(caps, "bounding", str_array(default_caps, N_ELEMS(default_caps)));
	set(caps, "effective", str_array(default_caps, N_ELEMS(default_caps)));
	set(caps, "permitted", str_array(default_caps, N_ELEMS(default_caps)));
	return must(json_pack("{s:b, s:{s:i, s:i}, s:[s], s:o, s:s, s:o, s:[{s:s, s:i, s:i}], s:b}",
			      "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env",
			      str_array(default_env, N_ELEMS(default_env)), "cwd", "/",
			      "capabilities", caps, "rlimits", "type", "RLIMIT_NOFILE", "hard",
			      1024, "soft", 1024, "noNewPrivileges", 1));
}

/* runc's rootless conversion also drops uid=/gid= options: those ids are not mapped. */
static bool option_kept(const char *opt, bool rootless)
{
	return !rootless || (strncmp(opt, "uid=", 4) != 0 && strncmp(opt, "gid=", 4) != 0);
}

static json_t *mount_json(const struct mount_def *m, bool rootless)
{
	json_t *j = must(json_pack("{s:s, s:s, s:s}", "destination", m->destination, "type",
				   m->type, "source", m->source));
	json_t *opts = NULL;

	if (!m->options[0])
		return j;
	opts = must(json_array());
	for (const char *const *o = m->options; *o; o++)
		if (option_kept(*o, rootless))
			append(opts, json_string(*o));
	set(j, "options", opts);
	return j;
}

static json_t *mounts_default(bool rootless)
{
	json_t *a = must(json_array());

	for (size_t i = 0; i < N_ELEMS(default_mounts); i++) {
		const struct mount_def *m = &default_mounts[i];

		if (rootless && strcmp(m->destination, "/sys") == 0)
			m = &rootless_sys;
		append(a, mount_json(m, rootless));
	}
	return a;
}

static json_t *id_mapping(unsigned host_id)
{
	return must(json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID", (json_int_t)host_id,
			      "size", 1));
}

/*
 * The cgroup namespace is always added, as newer runc does on cgroup v2 hosts, so the
 * document does not depend on the machine it is written on. A rootless container gets no
 * network namespace (it could not configure one) and a user namespace that maps root to
 * the caller, whose effective ids are the ones the kernel lets it map.
 */
static json_t *linux_default(bool rootless)
{
	static const char *const ns_root[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
	static const char *const ns_rootless[] = {"pid", "ipc", "uts", "mount", "cgroup", "user"};
	const char *const *names = rootless ? ns_rootless : ns_root;
	size_t n = rootless ? N_ELEMS(ns_rootless) : N_ELEMS(ns_root);
	json_t *j = must(json_object());
	json_t *ns = must(json_array());

	if (rootless) {
		set(j, "uidMappings", id_mapping(geteuid()));
		set(j, "gidMappings", id_mapping(getegid()));
	} else {
		set(j, "resources",
		    json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
	}
	for (size_t i = 0; i < n; i++)
		append(ns, json_pack("{s:s}", "type", names[i]));
	set(j, "namespaces", ns);
	/* with noNewPrivileges set, loading a filter needs no privilege: rootless gets it too */
	set(j, "seccomp", rt_spec_seccomp(default_caps, N_ELEMS(default_caps)));
	set(j, "maskedPaths", str_array(masked_paths, N_ELEMS(masked_paths)));
	set(j, "readonlyPaths", str_array(readonly_paths, N_ELEMS(readonly_paths)));
	return j;
}

json_t *rt_spec_default(bool rootless)
{
	return must(json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion",
			      RT_OCI_VERSION, "process", process_default(), "root", "path",
			      "rootfs", "readonly", 1, "hostname", "skiff", "mounts",
			      mounts_default(rootless), "linux", linux_default(rootless)));
}

/* ---- rt_features ---- */

static const char *const hook_names[] = {
	"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};

/*
 * Every mounts[].options flag the mount option parser recognizes (features.md#mount-options):
 * filesystem data such as size= or mode= is passed to the kernel and not listed. Keep this
 * sorted and in step with that parser.
 */
static const char *const mount_options[] = {
	"async",         "atime",        "bind",
	"defaults",      "dev",          "diratime",
	"dirsync",       "exec",         "idmap",
	"iversion",      "lazytime",     "loud",
	"mand",          "noatime",      "nodev",
	"nodiratime",    "noexec",       "noiversion",
	"nolazytime",    "nomand",       "norelatime",
	"nostrictatime", "nosuid",       "nosymfollow",
	"private",       "ratime",       "rbind",
	"rdev",          "rdiratime",    "relatime",
	"remount",       "rexec",        "ridmap",
	"rnoatime",      "rnodev",       "rnodiratime",
	"rnoexec",       "rnorelatime",  "rnostrictatime",
	"rnosuid",       "rnosymfollow", "ro",
	"rprivate",      "rrelatime",    "rro",
	"rrw",           "rshared",      "rslave",
	"rstrictatime",  "rsuid",        "rsymfollow",
	"runbindable",   "rw",           "shared",
	"silent",        "slave",        "strictatime",
	"suid",          "symfollow",    "sync",
	"tmpcopyup",     "unbindable",
};

static const char *const namespace_names[] = {
	"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
};

static const char *const seccomp_actions[] = {
	"SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS",
	"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",   "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
};

static const char *const seccomp_operators[] = {
	"SCMP_CMP_EQ", "SCMP_CMP_GE",        "SCMP_CMP_GT", "SCMP_CMP_LE",
	"SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
};

/* Architectures newer than libseccomp 2.5 are listed only when built against one that has them. */
static const char *const seccomp_archs[] = {
	"SCMP_ARCH_AARCH64",     "SCMP_ARCH_ARM",
#ifdef SCMP_ARCH_LOONGARCH64
	"SCMP_ARCH_LOONGARCH64",
#endif
#ifdef SCMP_ARCH_M68K
	"SCMP_ARCH_M68K",
#endif
	"SCMP_ARCH_MIPS",        "SCMP_ARCH_MIPS64",   "SCMP_ARCH_MIPS64N32",
	"SCMP_ARCH_MIPSEL",      "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
	"SCMP_ARCH_PARISC",      "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC",
	"SCMP_ARCH_PPC64",       "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_RISCV64",
	"SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
#ifdef SCMP_ARCH_SH
	"SCMP_ARCH_SH",          "SCMP_ARCH_SHEB",
#endif
	"SCMP_ARCH_X32",         "SCMP_ARCH_X86",      "SCMP_ARCH_X86_64",
};

static const char *const seccomp_flags[] = {
	"SECCOMP_FILTER_FLAG_TSYNC",
	"SECCOMP_FILTER_FLAG_LOG",
	"SECCOMP_FILTER_FLAG_SPEC_ALLOW",
};

/*
 * All names in the capability table, not only those the running kernel knows: features.md
 * asks for what the runtime recognizes, fixed at build time, as runc reports it.
 */
static json_t *capability_names(void)
{
	json_t *a = must(json_array());
	const char *name;

	for (int i = 0; (name = rt_cap_name(i)); i++)
		append(a, json_string(name));
	return a;
}

static json_t *seccomp_features(void)
{
	return must(json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "enabled", 1, "actions",
			      str_array(seccomp_actions, N_ELEMS(seccomp_actions)), "operators",
			      str_array(seccomp_operators, N_ELEMS(seccomp_operators)), "archs",
			      str_array(seccomp_archs, N_ELEMS(seccomp_archs)), "knownFlags",
			      str_array(seccomp_flags, N_ELEMS(seccomp_flags)), "supportedFlags",
			      str_array(seccomp_flags, N_ELEMS(seccomp_flags))));
}

/*
 * cgroup.systemd is false: --systemd-cgroup only converts "slice:prefix:name" paths, no
 * unit is created through systemd. Properties absent here would mean "not reported".
 */
static json_t *linux_features(void)
{
	return must(
		json_pack("{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:{s:b}, s:{s:b}, s:{s:b}, "
			  "s:{s:{s:b}}, s:{s:b}}",
			  "namespaces", str_array(namespace_names, N_ELEMS(namespace_names)),
			  "capabilities", capability_names(), "cgroup", "v1", 1, "v2", 1, "systemd",
			  0, "systemdUser", 0, "rdma", 0, "seccomp", seccomp_features(), "apparmor",
			  "enabled", 0, "selinux", "enabled", 0, "intelRdt", "enabled", 0,
			  "mountExtensions", "idmap", "enabled", 1, "netDevices", "enabled", 0));
}

json_t *rt_features(void)
{
	return must(json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:s}}", "ociVersionMin",
			      OCI_VERSION_MIN, "ociVersionMax", RT_OCI_VERSION, "hooks",
			      str_array(hook_names, N_ELEMS(hook_names)), "mountOptions",
			      str_array(mount_options, N_ELEMS(mount_options)), "linux",
			      linux_features(), "annotations", "io.github.skiff.version",
			      SKIFF_VERSION));
}
