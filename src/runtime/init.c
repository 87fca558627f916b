/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container process from clone() to execve(): joins and finishes namespaces, builds
 * the root file system, applies the process settings (console, rlimits, user, capabilities),
 * reports readiness to the runtime process, waits for start and executes the program.
 * Errors go back over the sync socket so the runtime can report them and clean up.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/log.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

#define INIT_COMM    "skiff:init"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int rt_sync_send(int fd, int type, int code, const char *text)
{
	struct rt_sync_msg m = {.type = type, .code = code};

	if (text)
		snprintf(m.text, sizeof(m.text), "%s", text);
	/* fixed header plus the text actually used: SEQPACKET keeps the boundary */
	if (send(fd, &m, offsetof(struct rt_sync_msg, text) + strlen(m.text) + 1, MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

int rt_sync_recv(int fd, struct rt_sync_msg *m, struct err *err)
{
	ssize_t n;

	memset(m, 0, sizeof(*m));
	do
		n = recv(fd, m, sizeof(*m) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, "read from the container process");
	if (n == 0)
		return 0;
	if ((size_t)n < offsetof(struct rt_sync_msg, text))
		return err_set(err, EPROTO, "short message from the container process");
	m->text[sizeof(m->text) - 1] = '\0';
	return 1;
}

/*
 * Reads the next message of @type from the runtime. RT_SYNC_CGROUP may arrive at any
 * time before it (the runtime sends it when its cgroup write returns) and is noted.
 */
static int recv_expect(const struct rt_init_args *a, int type, struct rt_sync_msg *m,
		       struct err *err)
{
	for (;;) {
		int r = rt_sync_recv(a->sync_fd, m, err);

		if (r < 0)
			return r;
		if (r == 0)
			return err_set(err, EPROTO, "runtime process went away");
		if (m->type == RT_SYNC_CGROUP) {
			*a->in_cgroup = true;
			if (type == RT_SYNC_CGROUP)
				return 0;
			continue;
		}
		if (m->type != type)
			return err_set(err, EPROTO, "unexpected message %d from the runtime",
				       m->type);
		return 0;
	}
}

int rt_init_wait_cgroup(const struct rt_init_args *a, struct err *err)
{
	struct rt_sync_msg m;

	if (*a->in_cgroup)
		return 0;
	return recv_expect(a, RT_SYNC_CGROUP, &m, err);
}

/* ---- what the container process inherits ---- */

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * Closes every descriptor the clone inherited from the runtime (state and cgroup
 * directories, among others) except stdio, the preserved ones and @keep: a directory fd
 * left open could serve as a way out of the rootfs (process.cwd = /proc/self/fd/N).
 */
static void close_inherited(int preserve_fds, const int *keep, size_t n)
{
	int sorted[RT_NS_COUNT + 16];
	int from = 3 + preserve_fds;
	size_t m = 0;

	for (size_t i = 0; i < n && m < sizeof(sorted) / sizeof(sorted[0]); i++)
		if (keep[i] >= from)
			sorted[m++] = keep[i];
	qsort(sorted, m, sizeof(int), cmp_int);
	for (size_t i = 0; i < m; i++) {
		if (sorted[i] > from)
			syscall(SYS_close_range, from, sorted[i] - 1, 0);
		from = sorted[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

/* chdir that refuses a directory outside the container's root. */
static int enter_cwd(const char *cwd, struct err *err)
{
	char buf[4096];

	if (chdir(cwd) < 0)
		return err_sys(err, "chdir to process.cwd '%s'", cwd);
	/* the kernel reports a directory it cannot reach from our root as unreachable */
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		return err_set(err, EPERM, "process.cwd '%s': outside the container's root", cwd);
	return 0;
}

/* A new network namespace comes with lo down; containers expect it up, as runc sets it. */
static int loopback_up(struct err *err)
{
	struct ifreq ifr = {.ifr_name = "lo"};
	cleanup_close int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0)
		return err_sys(err, "open a socket to set up 'lo'");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return err_sys(err, "read the flags of 'lo'");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return err_sys(err, "bring up 'lo'");
	return 0;
}

struct init_ctx {
	const struct rt_init_args *a;
	pid_t host_pid;
	struct err *err;
};

static char *state_text(const struct init_ctx *c, const char *status)
{
	const struct rt_config *cfg = c->a->cfg;
	json_t *o =
		json_pack("{s:s, s:s, s:s, s:I, s:s}", "ociVersion", RT_OCI_VERSION, "id", c->a->id,
			  "status", status, "pid", (json_int_t)getpid(), "bundle", c->a->bundle);
	char *s;

	if (cfg->annotations)
		json_object_set(o, "annotations", cfg->annotations);
	s = jdump_s(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int join_namespaces(const struct rt_config *cfg, struct err *err)
{
	static const int flags[RT_NS_COUNT] = {
		[RT_NS_NET] = CLONE_NEWNET,   [RT_NS_IPC] = CLONE_NEWIPC,
		[RT_NS_UTS] = CLONE_NEWUTS,   [RT_NS_MNT] = CLONE_NEWNS,
		[RT_NS_USER] = CLONE_NEWUSER, [RT_NS_CGROUP] = CLONE_NEWCGROUP,
	};
	/* the user namespace first: it grants the rights to join the others */
	static const enum rt_ns_type order[] = {RT_NS_USER, RT_NS_NET,    RT_NS_IPC,
						RT_NS_UTS,  RT_NS_CGROUP, RT_NS_MNT};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const struct rt_ns *ns = &cfg->ns[order[i]];
		cleanup_close int fd = -1;

		if (!ns->enabled || !ns->path)
			continue;
		fd = open(ns->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return err_sys(err, "open %s namespace '%s'", rt_ns_name(order[i]),
				       ns->path);
		if (setns(fd, flags[order[i]]) < 0)
			return err_sys(err, "join %s namespace '%s'", rt_ns_name(order[i]),
				       ns->path);
	}
	return 0;
}

int rt_init_unshare_cgroupns(const struct rt_init_args *a, struct err *err)
{
	const struct rt_config *cfg = a->cfg;

	if (!cfg->ns[RT_NS_CGROUP].enabled || cfg->ns[RT_NS_CGROUP].path || *a->unshared_cgroupns)
		return 0;
	/* rooted at the container's cgroup: only once the runtime has moved us there */
	if (rt_init_wait_cgroup(a, err) < 0)
		return -err->code;
	if (unshare(CLONE_NEWCGROUP) < 0)
		return err_sys(err, "create cgroup namespace");
	*a->unshared_cgroupns = true;
	return 0;
}

/*
 * Just before pivot_root: the runtime runs prestart and createRuntime hooks, then this
 * process runs createContainer hooks, in the container's namespaces but with paths still
 * resolving as the runtime sees them (runtime-spec config.md#createcontainer-hooks).
 */
static int before_pivot(void *data)
{
	struct init_ctx *c = data;
	const struct rt_config *cfg = c->a->cfg;
	struct rt_sync_msg m;
	cleanup_free char *state = NULL;

	if (cfg->hooks[RT_HOOK_PRESTART].n || cfg->hooks[RT_HOOK_CREATE_RUNTIME].n) {
		if (rt_sync_send(c->a->sync_fd, RT_SYNC_HOOKS, 0, NULL) < 0)
			return err_sys(c->err, "ask the runtime to run hooks");
		if (recv_expect(c->a, RT_SYNC_HOOKS_DONE, &m, c->err) < 0)
			return err_wrap(c->err, "run prestart and createRuntime hooks");
	}
	if (!cfg->hooks[RT_HOOK_CREATE_CONTAINER].n)
		return 0;
	/* hooks fork: their processes must start inside the container's cgroup */
	if (rt_init_wait_cgroup(c->a, c->err) < 0 || rt_init_unshare_cgroupns(c->a, c->err) < 0)
		return -c->err->code;
	state = state_text(c, "creating");
	return rt_hooks_run(&cfg->hooks[RT_HOOK_CREATE_CONTAINER], RT_HOOK_CREATE_CONTAINER, state,
			    c->err);
}

static int write_proc_sys(const char *key, const char *value, struct err *err)
{
	cleanup_free char *path = xasprintf("/proc/sys/%s", key);

	for (char *p = path + strlen("/proc/sys/"); *p; p++)
		if (*p == '.')
			*p = '/';
	if (fs_write_knob(AT_FDCWD, path, value, strlen(value), err) < 0)
		return err_wrap(err, "sysctl '%s'", key);
	return 0;
}

static int send_fd(int sock, int fd, const char *name, struct err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		return err_sys(err, "send the terminal to the console socket");
	return 0;
}

static int setup_console(const struct rt_process *p, int console_fd, bool bind_console,
			 struct err *err)
{
	cleanup_close int master = -1, slave = -1, console = -1;
	char buf[64];

	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return err_sys(err, "open '/dev/ptmx' in the container");
	if (unlockpt(master) < 0)
		return err_sys(err, "unlock the terminal");
	slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return err_sys(err, "open the terminal's peer");
	if (p->console_height || p->console_width) {
		struct winsize ws = {.ws_row = (unsigned short)p->console_height,
				     .ws_col = (unsigned short)p->console_width};

		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			return err_sys(err, "set the terminal size");
	}
	/* /dev/console is the terminal, as on a real machine */
	console = bind_console
			  ? open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600)
			  : -1;
	if (console >= 0) {
		snprintf(buf, sizeof(buf), "/proc/self/fd/%d", slave);
		close(TAKE_FD(console));
		if (mount(buf, "/dev/console", NULL, MS_BIND, NULL) < 0)
			return err_sys(err, "bind mount the terminal on '/dev/console'");
	}
	if (send_fd(console_fd, master, "/dev/ptmx", err) < 0)
		return -err->code;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return err_sys(err, "attach the terminal as fd %d", fd);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		return err_sys(err, "make the terminal the controlling terminal");
	return 0;
}

static int set_rlimits(const struct rt_process *p, struct err *err)
{
	for (size_t i = 0; i < p->n_rlimits; i++) {
		struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};

		if (setrlimit(p->rlimits[i].resource, &rl) < 0)
			return err_sys(err, "set process.rlimits[%zu]", i);
	}
	return 0;
}

static int capset_sets(uint64_t eff, uint64_t perm, uint64_t inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2] = {
		{(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
		{(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
	};

	return (int)syscall(SYS_capset, &h, d);
}

static int set_user_and_caps(const struct rt_process *p, struct err *err)
{
	uint64_t known = rt_cap_last() >= 63 ? ~0ULL : (1ULL << (rt_cap_last() + 1)) - 1;

	if (p->has_caps) {
		for (int cap = 0; cap <= rt_cap_last(); cap++)
			if (!(p->caps[RT_CAP_BOUNDING] & (1ULL << cap)) &&
			    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				return err_sys(err, "drop capability %s from the bounding set",
					       rt_cap_name(cap));
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return err_sys(err, "keep capabilities across the user change");
	}
	if (setgroups(p->n_additional_gids, p->additional_gids) < 0 && errno != EPERM)
		return err_sys(err, "set process.user.additionalGids");
	if (setresgid(p->gid, p->gid, p->gid) < 0)
		return err_sys(err, "set process.user.gid %u", p->gid);
	if (setresuid(p->uid, p->uid, p->uid) < 0)
		return err_sys(err, "set process.user.uid %u", p->uid);
	if (!p->has_caps)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return err_sys(err, "reset keep-capabilities");
	if (capset_sets(p->caps[RT_CAP_EFFECTIVE] & known, p->caps[RT_CAP_PERMITTED] & known,
			p->caps[RT_CAP_INHERITABLE] & known) < 0)
		return err_sys(err, "set process.capabilities");
	/*
	 * The kernel raises an ambient capability only if it is permitted and inheritable;
	 * configs that list others (runc's own default did) run as runc and crun run them,
	 * without those.
	 */
	for (int cap = 0; cap <= rt_cap_last(); cap++)
		if ((p->caps[RT_CAP_AMBIENT] & (1ULL << cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
			return err_sys(err, "raise ambient capability %s", rt_cap_name(cap));
	return 0;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* The home directory of @uid in the container's /etc/passwd; "/" when it has none. */
static char *home_of(uid_t uid)
{
	cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
	char line[1024];

	while (f && fgets(line, sizeof(line), f)) {
		char *field[7] = {0}, *p = line;
		int n = 0;

		line[strcspn(line, "\n")] = '\0';
		/* name:password:uid:gid:gecos:home:shell, fields may be empty */
		for (; n < 7 && p; n++) {
			field[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (n >= 6 && field[2][0] && strtoul(field[2], NULL, 10) == uid && field[5][0])
			return xstrdup(field[5]);
	}
	return xstrdup("/");
}

/* runc and crun set HOME for the program when the config does not: so do we. */
static char **env_with_home(const struct rt_process *p)
{
	size_t n = 0;
	char **env;

	if (env_get(p->env, "HOME"))
		return NULL;
	while (p->env[n])
		n++;
	env = xcalloc(n + 2, sizeof(char *));
	memcpy(env, p->env, n * sizeof(char *));
	{
		cleanup_free char *home = home_of(p->uid);

		env[n] = xasprintf("HOME=%s", home);
	}
	return env;
}

static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds args[0] the way execvp would, with the container's PATH. */
static int resolve_exec(const struct rt_process *p, char **ret, struct err *err)
{
	const char *name = p->args[0];
	const char *path = env_get(p->env, "PATH");
	cleanup_free char *dirs = NULL;
	char *dir, *save = NULL;

	if (strchr(name, '/')) {
		if (!is_executable(name))
			return err_sys(err, "exec '%s'", name);
		*ret = xstrdup(name);
		return 0;
	}
	dirs = xstrdup(path ? path : DEFAULT_PATH);
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		cleanup_free char *full = xasprintf("%s/%s", *dir ? dir : ".", name);

		if (is_executable(full)) {
			*ret = TAKE_PTR(full);
			return 0;
		}
	}
	return err_set(err, ENOENT, "exec '%s': executable file not found in $PATH", name);
}

/* ---- scheduling, I/O priority, affinity and LSM labels ---- */

struct sched_attr_v1 {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
};

static int set_affinity(const char *list, const char *what, struct err *err)
{
	cpu_set_t set;

	if (!list)
		return 0;
	if (rt_cpulist_parse(list, &set) < 0)
		return err_set(err, EINVAL, "process.execCPUAffinity.%s: invalid cpu list '%s'",
			       what, list);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return err_sys(err, "set process.execCPUAffinity.%s '%s'", what, list);
	return 0;
}

static bool lsm_enabled(const char *lsm)
{
	char buf[8] = "";
	cleanup_close int fd = -1;

	if (!strcmp(lsm, "selinux"))
		return access("/sys/fs/selinux/enforce", F_OK) == 0;
	fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
	return fd >= 0 && read(fd, buf, 1) == 1 && buf[0] == 'Y';
}

static int set_memory_policy(const struct rt_config *cfg, struct err *err)
{
	unsigned long mask[16] = {0};
	cpu_set_t set;
	int max = 0;

	if (!cfg->has_memory_policy)
		return 0;
	if (cfg->mpol_nodes) {
		rt_cpulist_parse(cfg->mpol_nodes, &set);
		for (int n = 0; n < (int)(sizeof(mask) * 8); n++)
			if (CPU_ISSET(n, &set)) {
				mask[n / (8 * sizeof(long))] |= 1UL << (n % (8 * sizeof(long)));
				max = n + 1;
			}
	}
	if (syscall(SYS_set_mempolicy, cfg->mpol_mode, cfg->mpol_nodes ? mask : NULL,
		    cfg->mpol_nodes ? max + 1 : 0) < 0)
		return err_sys(err, "set linux.memoryPolicy");
	return 0;
}

/* Scheduler, I/O priority and the LSM checks: before capabilities are dropped. */
static int apply_process_extras(const struct rt_process *p, struct err *err)
{
	if (p->has_scheduler) {
		struct sched_attr_v1 a = {
			.size = sizeof(a),
			.sched_policy = p->sched.policy,
			.sched_flags = p->sched.flags,
			.sched_nice = p->sched.nice,
			.sched_priority = p->sched.priority,
			.sched_runtime = p->sched.runtime,
			.sched_deadline = p->sched.deadline,
			.sched_period = p->sched.period,
		};

		if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
			return err_sys(err, "set process.scheduler");
	}
	if (p->has_io_priority && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
					  (p->ioprio_class << 13) | p->ioprio_level) < 0)
		return err_sys(err, "set process.ioPriority");
	if (p->apparmor_profile && !lsm_enabled("apparmor"))
		return err_set(err, EOPNOTSUPP,
			       "process.apparmorProfile '%s': AppArmor is not enabled on this host",
			       p->apparmor_profile);
	if (p->selinux_label && !lsm_enabled("selinux"))
		return err_set(err, EOPNOTSUPP,
			       "process.selinuxLabel '%s': SELinux is not enabled on this host",
			       p->selinux_label);
	return 0;
}

/* Just before execve: what applies to the program only. Errors go to its stderr. */
static int apply_exec_attributes(const struct rt_process *p, struct err *err)
{
	if (set_affinity(p->cpu_affinity_final, "final", err) < 0)
		return -err->code;
	if (p->apparmor_profile) {
		cleanup_free char *v = xasprintf("exec %s", p->apparmor_profile);

		if (fs_write_knob(AT_FDCWD, "/proc/self/attr/apparmor/exec", v, strlen(v), err) < 0)
			return err_wrap(err, "set process.apparmorProfile");
	}
	if (p->selinux_label && fs_write_knob(AT_FDCWD, "/proc/self/attr/exec", p->selinux_label,
					      strlen(p->selinux_label), err) < 0)
		return err_wrap(err, "set process.selinuxLabel");
	return 0;
}

/*
 * The process settings shared by the container's process and exec'd ones, in the order
 * the kernel needs: limits, scheduling, seccomp, then the user and capabilities, then
 * the working directory and no_new_privs; finally the program is looked up.
 */
static int finish_process(const struct rt_process *p, struct rt_seccomp *seccomp, char **ret_exec,
			  struct err *err)
{
	if (set_rlimits(p, err) < 0)
		return -err->code;
	if (p->has_oom_score_adj) {
		char v[16];

		snprintf(v, sizeof(v), "%d", p->oom_score_adj);
		if (fs_write_knob(AT_FDCWD, "/proc/self/oom_score_adj", v, strlen(v), err) < 0)
			return err_wrap(err, "set process.oomScoreAdj");
	}
	if (apply_process_extras(p, err) < 0)
		return -err->code;
	/*
	 * Without no_new_privs the kernel takes a filter only from a process with
	 * CAP_SYS_ADMIN: load it before the user and capabilities change.
	 */
	if (!p->no_new_privileges && rt_seccomp_load(seccomp, err) < 0)
		return -err->code;
	if (set_user_and_caps(p, err) < 0)
		return -err->code;
	if (enter_cwd(p->cwd, err) < 0)
		return -err->code;
	if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(err, "set process.noNewPrivileges");
	if (p->umask >= 0)
		umask((mode_t)p->umask);
	return resolve_exec(p, ret_exec, err);
}

static int setup(struct init_ctx *c, char **ret_exec)
{
	const struct rt_init_args *a = c->a;
	const struct rt_config *cfg = a->cfg;
	const struct rt_process *p = &cfg->process;
	struct err *err = c->err;
	cleanup_free char *state = NULL;

	if (join_namespaces(cfg, err) < 0)
		return -err->code;
	if (cfg->ns[RT_NS_NET].enabled && !cfg->ns[RT_NS_NET].path && loopback_up(err) < 0)
		return -err->code;
	if (cfg->ns[RT_NS_USER].enabled && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return err_sys(err, "become root in the user namespace");
	/*
	 * Joining the cgroup costs the runtime an RCU grace period (cgroup.procs write);
	 * the rootfs work below overlaps it. Whatever depends on the cgroup (the cgroup
	 * namespace, cgroup mounts, forked hooks, the program) waits for it first.
	 */
	if (setsid() < 0)
		return err_sys(err, "create session");
	if (rt_rootfs_setup(a, before_pivot, c, err) < 0)
		return -err->code;
	if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return err_sys(err, "set hostname '%s'", cfg->hostname);
	if (cfg->domainname && setdomainname(cfg->domainname, strlen(cfg->domainname)) < 0)
		return err_sys(err, "set domainname '%s'", cfg->domainname);
	for (char **s = cfg->sysctl; s && s[0]; s += 2)
		if (write_proc_sys(s[0], s[1], err) < 0)
			return -err->code;
	/* after the sysctls: /proc/sys is usually among the read-only paths */
	if (rt_rootfs_finish(cfg, err) < 0)
		return -err->code;
	if (p->terminal && setup_console(p, a->console_fd, true, err) < 0)
		return -err->code;
	if (rt_init_wait_cgroup(a, err) < 0 || rt_init_unshare_cgroupns(a, err) < 0)
		return -err->code;
	if (cfg->has_personality && personality(cfg->personality) < 0)
		return err_sys(err, "set linux.personality");
	if (!a->no_new_keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, a->id) < 0 &&
	    errno != ENOSYS && errno != EACCES && errno != EPERM)
		return err_sys(err, "create session keyring");
	if (set_memory_policy(cfg, err) < 0)
		return -err->code;
	return finish_process(p, a->seccomp, ret_exec, err);
}

static void fail(const struct rt_init_args *a, struct err *err)
{
	rt_sync_send(a->sync_fd, RT_SYNC_ERROR, err->code, err->msg);
	_exit(1);
}

void rt_init_main(const struct rt_init_args *args)
{
	bool in_cgroup = false, unshared_cgroupns = false;
	struct rt_init_args copy = *args;
	const struct rt_init_args *a = &copy;
	struct err err = ERR_INIT;
	struct init_ctx c = {.a = a, .err = &err};
	cleanup_free char *exec_path = NULL;
	cleanup_free char *state = NULL;
	struct rt_sync_msg m;
	char **env = NULL;
	sigset_t all;
	char byte;
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, INIT_COMM, 0, 0, 0);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	copy.in_cgroup = &in_cgroup;
	copy.unshared_cgroupns = &unshared_cgroupns;
	{
		int keep[RT_NS_COUNT + 16];
		size_t n = 0;

		keep[n++] = a->sync_fd;
		keep[n++] = a->start_fd;
		keep[n++] = a->console_fd;
		keep[n++] = log_fd_get();
		for (size_t i = 0; a->idmap_fds && i < a->cfg->n_mounts && n < RT_NS_COUNT + 16;
		     i++)
			keep[n++] = a->idmap_fds[i];
		close_inherited(a->preserve_fds, keep, n);
	}
	if (recv_expect(a, RT_SYNC_GO, &m, &err) < 0)
		_exit(1);
	/*
	 * Until exec nothing in the container may open this process's memory or binary.
	 * Not before GO: a non-dumpable process's /proc files belong to root, and an
	 * unprivileged runtime must still write our uid_map and gid_map.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	c.host_pid = m.code; /* GO carries our pid as the runtime sees it */
	if (set_affinity(a->cfg->process.cpu_affinity_initial, "initial", &err) < 0)
		fail(a, &err);
	if (setup(&c, &exec_path) < 0)
		fail(a, &err);
	env = env_with_home(&a->cfg->process);
	if (rt_init_wait_cgroup(a, &err) < 0)
		fail(a, &err);
	/* from here the runtime process may exit; this process must outlive it */
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (rt_sync_send(a->sync_fd, RT_SYNC_READY, 0, NULL) < 0)
		_exit(1);
	if (a->start_fd != a->sync_fd)
		close(a->sync_fd);
	do
		r = (int)read(a->start_fd, &byte, 1);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		/* nobody will start us: the runtime went away or the container was deleted */
		_exit(1);
	}
	if (a->cfg->hooks[RT_HOOK_START_CONTAINER].n) {
		state = state_text(&c, "created");
		if (rt_hooks_run(&a->cfg->hooks[RT_HOOK_START_CONTAINER], RT_HOOK_START_CONTAINER,
				 state, &err) < 0) {
			dprintf(STDERR_FILENO, "%s\n", err.msg);
			_exit(1);
		}
	}
	/* nothing of the runtime's reaches the program: only stdio and the preserved fds */
	syscall(SYS_close_range, 3 + a->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
	if (apply_exec_attributes(&a->cfg->process, &err) < 0) {
		dprintf(STDERR_FILENO, "%s\n", err.msg);
		_exit(1);
	}
	/* as late as possible: the profile need not allow the runtime's own syscalls */
	if (a->cfg->process.no_new_privileges && rt_seccomp_load(a->seccomp, &err) < 0) {
		dprintf(STDERR_FILENO, "%s\n", err.msg);
		_exit(1);
	}
	execve(exec_path, a->cfg->process.args, env ? env : a->cfg->process.env);
	dprintf(STDERR_FILENO, "exec '%s': %s\n", exec_path, strerror(errno));
	_exit(127);
}

/* ---- a process executed in a running container ---- */

static int join_container(const struct rt_exec_args *x, struct err *err)
{
	static const int order[] = {RT_NS_USER, RT_NS_MNT, RT_NS_NET,
				    RT_NS_IPC,  RT_NS_UTS, RT_NS_CGROUP};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int fd = x->ns_fds[order[i]];

		if (fd >= 0 && setns(fd, 0) < 0)
			return err_sys(err, "join the container's %s namespace",
				       rt_ns_name(order[i]));
	}
	if (x->ns_fds[RT_NS_USER] >= 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
		return err_sys(err, "become root in the container's user namespace");
	return 0;
}

static int exec_setup(const struct rt_exec_args *x, const struct rt_init_args *a, char **ret_exec,
		      struct err *err)
{
	const struct rt_process *p = x->proc;

	if (join_container(x, err) < 0)
		return -err->code;
	if (p->terminal && setsid() < 0)
		return err_sys(err, "create session");
	if (p->terminal && setup_console(p, x->console_fd, false, err) < 0)
		return -err->code;
	if (rt_init_wait_cgroup(a, err) < 0)
		return -err->code;
	return finish_process(p, x->seccomp, ret_exec, err);
}

void rt_exec_main(const struct rt_exec_args *x)
{
	bool in_cgroup = false, unused = false;
	struct rt_init_args a = {.sync_fd = x->sync_fd,
				 .start_fd = x->sync_fd,
				 .console_fd = x->console_fd,
				 .in_cgroup = &in_cgroup,
				 .unshared_cgroupns = &unused};
	struct err err = ERR_INIT;
	cleanup_free char *exec_path = NULL;
	struct rt_sync_msg m;
	char **env = NULL;
	sigset_t all;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	{
		int keep[RT_NS_COUNT + 4];
		size_t n = 0;

		keep[n++] = x->sync_fd;
		keep[n++] = x->console_fd;
		keep[n++] = log_fd_get();
		for (int t = 0; t < RT_NS_COUNT; t++)
			keep[n++] = x->ns_fds[t];
		close_inherited(x->preserve_fds, keep, n);
	}
	if (recv_expect(&a, RT_SYNC_GO, &m, &err) < 0)
		_exit(1);
	if (set_affinity(x->proc->cpu_affinity_initial, "initial", &err) < 0)
		fail(&a, &err);
	if (exec_setup(x, &a, &exec_path, &err) < 0)
		fail(&a, &err);
	env = env_with_home(x->proc);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (rt_sync_send(x->sync_fd, RT_SYNC_READY, 0, NULL) < 0)
		_exit(1);
	syscall(SYS_close_range, 3 + x->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
	if (apply_exec_attributes(x->proc, &err) < 0) {
		dprintf(STDERR_FILENO, "%s\n", err.msg);
		_exit(1);
	}
	if (x->proc->no_new_privileges && rt_seccomp_load(x->seccomp, &err) < 0) {
		dprintf(STDERR_FILENO, "%s\n", err.msg);
		_exit(1);
	}
	execve(exec_path, x->proc->args, env ? env : x->proc->env);
	dprintf(STDERR_FILENO, "exec '%s': %s\n", exec_path, strerror(errno));
	_exit(127);
}
