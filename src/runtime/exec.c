/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exec: another process in an existing container. The runtime process builds the process
 * from --process or from the container's config plus flags, joins the container's pid and
 * time namespaces (they apply to children), clones the process, moves it into the
 * container's cgroup while it joins the other namespaces, and waits for it unless detached.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jx.h"
#include "base/log.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* /proc/<pid>/ns names, by enum rt_ns_type */
static const char *const ns_files[RT_NS_COUNT] = {
	[RT_NS_PID] = "pid",       [RT_NS_NET] = "net",   [RT_NS_IPC] = "ipc",
	[RT_NS_UTS] = "uts",       [RT_NS_MNT] = "mnt",   [RT_NS_USER] = "user",
	[RT_NS_CGROUP] = "cgroup", [RT_NS_TIME] = "time",
};

struct execution {
	struct rt_process proc;
	struct rt_seccomp *seccomp; /* the container's filter applies to exec'd processes too */
	struct rt_state *st;
	struct rt_cgroup *cgroup;
	int ns_fds[RT_NS_COUNT];
	int sync_fd;
	int console_fd;
	int console_peer;
	int pty_master;
	pid_t pid;
};

static void execution_done(struct execution *x)
{
	if (x->pid > 0) {
		kill(x->pid, SIGKILL);
		waitpid(x->pid, NULL, 0);
	}
	for (int t = 0; t < RT_NS_COUNT; t++)
		if (x->ns_fds[t] >= 0)
			close(x->ns_fds[t]);
	if (x->sync_fd >= 0)
		close(x->sync_fd);
	if (x->console_fd >= 0)
		close(x->console_fd);
	if (x->console_peer >= 0)
		close(x->console_peer);
	if (x->pty_master >= 0)
		close(x->pty_master);
	rt_cgroup_free(x->cgroup);
	rt_seccomp_free(x->seccomp);
	rt_state_free(x->st);
	rt_process_done(&x->proc);
}

static int load_process_file(const char *path, struct rt_process *ret, struct err *err)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *j = NULL;
	size_t len;

	if (fs_read_file(AT_FDCWD, path, &text, &len, err) < 0 ||
	    jx_parse(text, len, path, &j, err) < 0 || rt_process_parse(j, ret, err) < 0)
		return err_wrap(err, "--process '%s'", path);
	return 0;
}

/*
 * The container's config: its process settings are the base that flags change (unless
 * --process replaces them) and its seccomp filter confines the new process too.
 */
static int load_config(struct execution *x, bool take_process, struct err *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", x->st->bundle);
	cleanup_free char *text = NULL;
	struct rt_config *cfg = NULL;
	size_t len;
	int r;

	if (fs_read_file(AT_FDCWD, path, &text, &len, err) < 0 ||
	    rt_config_parse(text, len, x->st->bundle, &cfg, err) < 0)
		return err_wrap(err, "read the container's config");
	r = rt_seccomp_build(cfg->seccomp, &x->seccomp, err);
	if (r == 0 && take_process) {
		x->proc = cfg->process;
		/* the config no longer owns what we took */
		memset(&cfg->process, 0, sizeof(cfg->process));
	}
	rt_config_free(cfg);
	return r < 0 ? err_wrap(err, "config.json") : 0;
}

static char **strv_copy(char *const *v)
{
	size_t n = strv_len(v);
	char **out = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

/* Sets KEY=VALUE in @env, replacing an entry with the same key. */
static void env_set(char ***env, const char *kv)
{
	size_t klen = strcspn(kv, "="), n = strv_len(*env);

	for (size_t i = 0; i < n; i++)
		if (!strncmp((*env)[i], kv, klen) && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = xstrdup(kv);
			return;
		}
	*env = xrealloc(*env, (n + 2) * sizeof(char *));
	(*env)[n] = xstrdup(kv);
	(*env)[n + 1] = NULL;
}

static int parse_id(const char *s, const char *what, uint32_t *ret, struct err *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return err_set(err, EINVAL, "%s: '%s' is not a numeric id", what, s);
	*ret = (uint32_t)v;
	return 0;
}

static int apply_flags(struct rt_process *p, const struct rt_exec_opts *o, struct err *err)
{
	if (o->args && o->args[0]) {
		strv_free(p->args);
		p->args = strv_copy(o->args);
	}
	if (!p->args || !p->args[0])
		return err_set(err, EINVAL, "exec: no command given");
	for (char **e = o->env; e && *e; e++) {
		if (!strchr(*e, '='))
			return err_set(err, EINVAL, "exec --env '%s': expected KEY=VALUE", *e);
		env_set(&p->env, *e);
	}
	if (o->cwd) {
		if (o->cwd[0] != '/')
			return err_set(err, EINVAL, "exec --cwd '%s': an absolute path is required",
				       o->cwd);
		free(p->cwd);
		p->cwd = xstrdup(o->cwd);
	}
	if (o->user) {
		cleanup_free char *u = xstrdup(o->user);
		char *colon = strchr(u, ':');

		if (colon)
			*colon++ = '\0';
		if (parse_id(u, "exec --user", &p->uid, err) < 0 ||
		    (colon && parse_id(colon, "exec --user", &p->gid, err) < 0))
			return -err->code;
	}
	if (o->additional_gids) {
		size_t n = strv_len(o->additional_gids);

		free(p->additional_gids);
		p->additional_gids = xcalloc(n, sizeof(uint32_t));
		p->n_additional_gids = n;
		for (size_t i = 0; i < n; i++)
			if (parse_id(o->additional_gids[i], "exec --additional-gids",
				     &p->additional_gids[i], err) < 0)
				return -err->code;
	}
	for (char **c = o->caps; c && *c; c++) {
		int cap = rt_cap_from_name(*c);

		if (cap < 0)
			return err_set(err, EINVAL, "exec --cap: unknown capability '%s'", *c);
		p->has_caps = true;
		p->caps[RT_CAP_BOUNDING] |= 1ULL << cap;
		p->caps[RT_CAP_EFFECTIVE] |= 1ULL << cap;
		p->caps[RT_CAP_PERMITTED] |= 1ULL << cap;
		/* ambient only works on top of inheritable, which --cap does not set */
		if (p->caps[RT_CAP_INHERITABLE])
			p->caps[RT_CAP_AMBIENT] |= 1ULL << cap;
	}
	if (o->no_new_privs)
		p->no_new_privileges = true;
	p->terminal = o->tty;
	return 0;
}

static int build_process(struct execution *x, const struct rt_exec_opts *o, struct err *err)
{
	if (load_config(x, !o->process_file, err) < 0)
		return -err->code;
	if (o->process_file) {
		if (load_process_file(o->process_file, &x->proc, err) < 0)
			return -err->code;
		if (o->tty)
			x->proc.terminal = true;
		return 0;
	}
	return apply_flags(&x->proc, o, err);
}

static bool same_ns(const char *name, int fd)
{
	cleanup_free char *self = xasprintf("/proc/self/ns/%s", name);
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

static int open_namespaces(struct execution *x, struct err *err)
{
	for (int t = 0; t < RT_NS_COUNT; t++) {
		cleanup_free char *path = xasprintf("/proc/%d/ns/%s", (int)x->st->pid, ns_files[t]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 && errno == ENOENT)
			continue; /* a kernel without that namespace type */
		if (fd < 0)
			return err_sys(err, "open the container's %s namespace", rt_ns_name(t));
		if (same_ns(ns_files[t], fd)) {
			close(fd);
			continue;
		}
		x->ns_fds[t] = fd;
	}
	/* the process of a created container is still ours: it must not have moved on */
	{
		unsigned long long start;

		if (rt_proc_stat(x->st->pid, &start, NULL) < 0 || start != x->st->start_time)
			return err_set(err, ESRCH, "container '%s' is not running", x->st->id);
	}
	return 0;
}

static int setup_terminal(struct execution *x, const struct rt_exec_opts *o, struct err *err)
{
	int sv[2];

	if (!x->proc.terminal)
		return 0;
	if (o->console_socket)
		return rt_console_connect(o->console_socket, &x->console_fd, err);
	if (o->detach)
		return err_set(err, EINVAL, "exec: --tty with --detach needs --console-socket");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, "create terminal socket");
	x->console_peer = sv[0];
	x->console_fd = sv[1];
	return 0;
}

static int converse(struct execution *x, struct err *err)
{
	struct rt_sync_msg m;
	int r = rt_sync_recv(x->sync_fd, &m, err);

	if (r < 0)
		return r;
	if (r == 0) {
		int status = 0;

		waitpid(x->pid, &status, 0);
		x->pid = 0;
		return err_set(err, EIO, "process exited during set-up");
	}
	if (m.type == RT_SYNC_ERROR)
		return err_set(err, m.code > 0 ? m.code : EIO, "%s", m.text);
	if (m.type != RT_SYNC_READY)
		return err_set(err, EPROTO, "unexpected message %d from the process", m.type);
	return 0;
}

static int spawn(struct execution *x, const struct rt_exec_opts *o, struct err *err)
{
	struct rt_exec_args args = {
		.proc = &x->proc, .preserve_fds = o->preserve_fds, .seccomp = x->seccomp};
	int sv[2];
	pid_t pid;

	memcpy(args.ns_fds, x->ns_fds, sizeof(args.ns_fds));
	args.console_fd = x->console_fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, "create sync socket");
	x->sync_fd = sv[0];
	args.sync_fd = sv[1];
	/* these two move only our children: the clone below */
	if ((x->ns_fds[RT_NS_PID] >= 0 && setns(x->ns_fds[RT_NS_PID], CLONE_NEWPID) < 0) ||
	    (x->ns_fds[RT_NS_TIME] >= 0 && setns(x->ns_fds[RT_NS_TIME], CLONE_NEWTIME) < 0)) {
		err_sys(err, "join the container's pid or time namespace");
		close(sv[1]);
		return -err->code;
	}
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		err_sys(err, "clone the process");
		close(sv[1]);
		return -err->code;
	}
	if (pid == 0) {
		close(sv[0]);
		rt_exec_main(&args);
	}
	close(sv[1]);
	x->pid = pid;
	if (rt_sync_send(x->sync_fd, RT_SYNC_GO, pid, NULL) < 0)
		return err_sys(err, "resume the process");
	if (x->cgroup && rt_cgroup_enter(x->cgroup, pid, err) < 0)
		return -err->code;
	rt_sync_send(x->sync_fd, RT_SYNC_CGROUP, 0, NULL);
	if (converse(x, err) < 0)
		return -err->code;
	/* the sync socket closes on exec: once it reads as ended, the program runs */
	{
		struct rt_sync_msg m;

		if (rt_sync_recv(x->sync_fd, &m, err) < 0)
			err_clear(err);
	}
	if (x->console_peer >= 0 && rt_recv_fd(x->console_peer, &x->pty_master, err) < 0)
		return -err->code;
	return 0;
}

static int do_exec(struct execution *x, const struct rt_global *g, const char *id,
		   const struct rt_exec_opts *o, int *ret_status, struct err *err)
{
	if (rt_container_load(g, id, NULL, &x->st, err) < 0)
		return -err->code;
	if (x->st->status != RT_STATUS_RUNNING && x->st->status != RT_STATUS_CREATED)
		return err_set(err, EINVAL, "cannot exec in container '%s': it is %s", id,
			       rt_status_name(x->st->status));
	if (build_process(x, o, err) < 0 || rt_state_cgroup(x->st, &x->cgroup, err) < 0 ||
	    open_namespaces(x, err) < 0 || setup_terminal(x, o, err) < 0 || spawn(x, o, err) < 0)
		return -err->code;
	if (o->pid_file && rt_write_pid_file(o->pid_file, x->pid, err) < 0)
		return -err->code;
	if (o->detach) {
		x->pid = 0; /* it lives on without us */
		*ret_status = 0;
		return 0;
	}
	{
		pid_t pid = x->pid;

		x->pid = 0;
		return rt_foreground_wait(pid, x->pty_master, ret_status, err);
	}
}

int rt_exec(const struct rt_global *g, const char *id, const struct rt_exec_opts *o,
	    int *ret_status, struct err *err)
{
	struct execution x = {
		.sync_fd = -1, .console_fd = -1, .console_peer = -1, .pty_master = -1};
	int r;

	for (int t = 0; t < RT_NS_COUNT; t++)
		x.ns_fds[t] = -1;
	r = do_exec(&x, g, id, o, ret_status, err);
	if (r < 0)
		err_wrap(err, "exec in container '%s'", id);
	execution_done(&x);
	return r;
}
