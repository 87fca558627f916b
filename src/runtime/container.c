/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container lifecycle as the runtime process sees it: create (clone the container
 * process into its namespaces, place it in its cgroup, answer its sync messages, record
 * the state), start, state, kill, delete, run and list (runtime-spec runtime.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jx.h"
#include "base/log.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *rt_root_of(const struct rt_global *g)
{
	return g->root ? g->root : RT_DEFAULT_ROOT;
}

/* Everything create builds, released in reverse on failure. */
struct creation {
	int rootfd;
	char *id;
	bool dir_made;
	struct rt_config *cfg;
	struct rt_cgroup *cgroup;
	struct rt_seccomp *seccomp;
	char *bundle;
	pid_t pid;
	int sync_fd;
	int start_fd;
	int console_fd;
	int console_peer; /* run without --console-socket: our end of the terminal's socket */
	int pty_master;
	int *idmap_fds; /* per mount: user namespace for an idmapped mount, or -1 */
};

static char *hook_state(const struct creation *cr, const char *status);

static void creation_undo(struct creation *cr)
{
	struct err err = ERR_INIT;
	bool started = cr->pid > 0;

	if (cr->pid > 0) {
		kill(cr->pid, SIGKILL);
		waitpid(cr->pid, NULL, 0);
	}
	if (cr->cgroup && rt_cgroup_destroy(cr->cgroup, &err) < 0) {
		log_debug("remove cgroup of '%s': %s", cr->id, err.msg);
		err_clear(&err);
	}
	if (cr->dir_made && fs_remove_tree(cr->rootfd, cr->id, &err) < 0) {
		log_debug("remove state of '%s': %s", cr->id, err.msg);
		err_clear(&err);
	}
	/* runtime-spec lifecycle: a failed create is destroyed, then poststop hooks run */
	if (started && cr->cfg && cr->cfg->hooks[RT_HOOK_POSTSTOP].n) {
		cleanup_free char *state = hook_state(cr, "stopped");

		rt_hooks_run_all(&cr->cfg->hooks[RT_HOOK_POSTSTOP], RT_HOOK_POSTSTOP, state,
				 cr->id);
	}
}

static void creation_done(struct creation *cr)
{
	if (cr->sync_fd >= 0)
		close(cr->sync_fd);
	if (cr->start_fd >= 0)
		close(cr->start_fd);
	if (cr->console_fd >= 0)
		close(cr->console_fd);
	if (cr->console_peer >= 0)
		close(cr->console_peer);
	if (cr->pty_master >= 0)
		close(cr->pty_master);
	if (cr->rootfd >= 0)
		close(cr->rootfd);
	for (size_t i = 0; cr->idmap_fds && i < cr->cfg->n_mounts; i++)
		if (cr->idmap_fds[i] >= 0)
			close(cr->idmap_fds[i]);
	free(cr->idmap_fds);
	rt_cgroup_free(cr->cgroup);
	rt_seccomp_free(cr->seccomp);
	rt_config_free(cr->cfg);
	free(cr->bundle);
	free(cr->id);
}

static int load_config(struct creation *cr, const char *bundle, struct err *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	cr->bundle = realpath(bundle ? bundle : ".", NULL);
	if (!cr->bundle)
		return err_sys(err, "open bundle '%s'", bundle ? bundle : ".");
	{
		cleanup_free char *path = xasprintf("%s/config.json", cr->bundle);

		if (fs_read_file(AT_FDCWD, path, &text, &len, err) < 0)
			return -err->code;
	}
	if (rt_config_parse(text, len, cr->bundle, &cr->cfg, err) < 0)
		return -err->code;
	if (!cr->cfg->ns[RT_NS_MNT].enabled)
		return err_set(err, EINVAL,
			       "config.json: linux.namespaces: a mount namespace is required");
	if (rt_seccomp_build(cr->cfg->seccomp, &cr->seccomp, err) < 0)
		return err_wrap(err, "config.json");
	return 0;
}

/*
 * The device rules the container gets: the config's, then the devices every container
 * needs (null, zero, tty, pts ...) and the config's own linux.devices, as runc adds them.
 */
static struct rt_resources *effective_resources(const struct rt_config *cfg,
						struct rt_resources *res)
{
	static const struct rt_device_rule defaults[] = {
		{true, 'c', 1, 3, "rwm"},    {true, 'c', 1, 5, "rwm"}, {true, 'c', 1, 7, "rwm"},
		{true, 'c', 1, 8, "rwm"},    {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 0, "rwm"},
		{true, 'c', 5, 1, "rwm"},    {true, 'c', 5, 2, "rwm"}, {true, 'c', 136, -1, "rwm"},
		{true, 'c', 10, 200, "rwm"},
	};
	size_t nd = sizeof(defaults) / sizeof(defaults[0]);
	size_t n = 0;

	*res = cfg->res;
	if (!cfg->res.n_devices)
		return res;
	res->devices = xcalloc(cfg->res.n_devices + nd + cfg->n_devices, sizeof(*res->devices));
	for (size_t i = 0; i < cfg->res.n_devices; i++)
		res->devices[n++] = cfg->res.devices[i];
	for (size_t i = 0; i < nd; i++)
		res->devices[n++] = defaults[i];
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct rt_device *d = &cfg->devices[i];

		if (d->type == 'p')
			continue;
		res->devices[n] = (struct rt_device_rule){true, d->type == 'b' ? 'b' : 'c',
							  d->major, d->minor, "rwm"};
		n++;
	}
	res->n_devices = n;
	return res;
}

/* Does the config ask for a limit (not just device rules, which rootless cannot have)? */
static bool wants_limits(const struct rt_config *cfg)
{
	const struct rt_resources *r = &cfg->res;

	return cfg->has_resources &&
	       (r->mem_limit != RT_UNSET_I64 || r->mem_reservation != RT_UNSET_I64 ||
		r->mem_swap != RT_UNSET_I64 || r->cpu_shares != RT_UNSET_I64 ||
		r->cpu_quota != RT_UNSET_I64 || r->cpu_period != RT_UNSET_I64 || r->cpuset_cpus ||
		r->cpuset_mems || r->pids_limit != RT_UNSET_I64 ||
		r->blkio_weight != RT_UNSET_I64 || r->blkio || r->n_hugepages ||
		json_object_size(r->unified) > 0);
}

static int setup_cgroup(struct creation *cr, const struct rt_global *g, struct err *err)
{
	cleanup_free char *path = NULL;
	struct rt_resources res;
	int r;

	if (g->systemd_cgroup)
		log_warn("--systemd-cgroup: %s; using cgroupfs for '%s'",
			 access("/run/systemd/system", F_OK) == 0
				 ? "cgroups are not delegated to systemd units by this runtime"
				 : "systemd is not running",
			 cr->id);
	path = xstrdup(cr->cfg->cgroups_path ? cr->cfg->cgroups_path : cr->id);
	effective_resources(cr->cfg, &res);
	r = rt_cgroup_create(path, cr->cfg->has_resources ? &res : NULL, &cr->cgroup, err);
	if (res.devices != cr->cfg->res.devices)
		free(res.devices);
	/* rootless: without a delegated cgroup the container runs in the caller's */
	if (r < 0 && geteuid() != 0 &&
	    (err->code == EACCES || err->code == EPERM || err->code == EROFS) &&
	    !wants_limits(cr->cfg)) {
		log_debug("rootless: %s, running without a cgroup of its own", err->msg);
		err_clear(err);
		return 0;
	}
	if (r < 0 && geteuid() != 0)
		return err_wrap(err, "rootless: linux.resources needs a cgroup delegated to uid %u",
				(unsigned)geteuid());
	return r;
}

static int write_id_map(pid_t pid, const char *file, const struct rt_id_map *maps, size_t n,
			struct err *err)
{
	cleanup_free char *path = xasprintf("/proc/%d/%s", (int)pid, file);
	char buf[4096];
	size_t len = 0;

	for (size_t i = 0; i < n && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
					maps[i].container_id, maps[i].host_id, maps[i].size);
	if (len >= sizeof(buf))
		return err_set(err, E2BIG, "write %s: too many mappings", file);
	return fs_write_knob(AT_FDCWD, path, buf, len, err);
}

/*
 * As an unprivileged user, the kernel lets us map only our own id, once; anything more
 * goes through the setuid helpers newuidmap/newgidmap, which check /etc/subuid and
 * /etc/subgid.
 */
static int map_ids_helper(const char *helper, pid_t pid, const struct rt_id_map *maps, size_t n,
			  struct err *err)
{
	char **argv = xcalloc(3 * n + 3, sizeof(char *));
	size_t k = 0;
	int status = 0, r = 0;
	pid_t child;

	argv[k++] = xstrdup(helper);
	argv[k++] = xasprintf("%d", (int)pid);
	for (size_t i = 0; i < n; i++) {
		argv[k++] = xasprintf("%u", maps[i].container_id);
		argv[k++] = xasprintf("%u", maps[i].host_id);
		argv[k++] = xasprintf("%u", maps[i].size);
	}
	child = fork();
	if (child == 0) {
		execvp(helper, argv);
		_exit(127);
	}
	if (child < 0)
		r = err_sys(err, "run %s", helper);
	else if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		r = err_set(err, EPERM,
			    "%s for pid %d failed (status %d): are the ranges in "
			    "/etc/subuid and /etc/subgid?",
			    helper, (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	strv_free(argv);
	return r;
}

static bool only_own_id(const struct rt_id_map *maps, size_t n, uint32_t own)
{
	return n == 1 && maps[0].host_id == own && maps[0].size == 1;
}

static int write_id_maps(pid_t pid, const struct rt_config *cfg, struct err *err)
{
	cleanup_free char *setgroups = xasprintf("/proc/%d/setgroups", (int)pid);

	if (geteuid() == 0) {
		if (write_id_map(pid, "uid_map", cfg->uid_maps, cfg->n_uid_maps, err) < 0 ||
		    write_id_map(pid, "gid_map", cfg->gid_maps, cfg->n_gid_maps, err) < 0)
			return -err->code;
		return 0;
	}
	if (only_own_id(cfg->uid_maps, cfg->n_uid_maps, geteuid())) {
		if (write_id_map(pid, "uid_map", cfg->uid_maps, cfg->n_uid_maps, err) < 0)
			return -err->code;
	} else if (map_ids_helper("newuidmap", pid, cfg->uid_maps, cfg->n_uid_maps, err) < 0) {
		return -err->code;
	}
	if (only_own_id(cfg->gid_maps, cfg->n_gid_maps, getegid())) {
		/* the kernel wants setgroups denied before an unprivileged gid_map */
		if (fs_write_knob(AT_FDCWD, setgroups, "deny", 4, err) < 0 ||
		    write_id_map(pid, "gid_map", cfg->gid_maps, cfg->n_gid_maps, err) < 0)
			return -err->code;
		return 0;
	}
	return map_ids_helper("newgidmap", pid, cfg->gid_maps, cfg->n_gid_maps, err);
}

static int prepare_time_ns(const struct rt_config *cfg, struct err *err)
{
	char buf[128];
	int len;

	if (!cfg->ns[RT_NS_TIME].enabled)
		return 0;
	if (cfg->ns[RT_NS_TIME].path) {
		cleanup_close int fd = open(cfg->ns[RT_NS_TIME].path, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWTIME) < 0)
			return err_sys(err, "join time namespace '%s'", cfg->ns[RT_NS_TIME].path);
		return 0;
	}
	/* unshare(CLONE_NEWTIME) moves only our future children: the container process */
	if (unshare(CLONE_NEWTIME) < 0)
		return err_sys(err, "create time namespace");
	if (!cfg->has_time_offsets)
		return 0;
	len = snprintf(buf, sizeof(buf), "monotonic %lld %lld\nboottime %lld %lld\n",
		       (long long)cfg->time_offsets[0][0], (long long)cfg->time_offsets[0][1],
		       (long long)cfg->time_offsets[1][0], (long long)cfg->time_offsets[1][1]);
	if (fs_write_knob(AT_FDCWD, "/proc/self/timens_offsets", buf, (size_t)len, err) < 0)
		return err_wrap(err, "set linux.timeOffsets");
	return 0;
}

static int join_pid_ns(const struct rt_config *cfg, struct err *err)
{
	cleanup_close int fd = -1;

	if (!cfg->ns[RT_NS_PID].enabled || !cfg->ns[RT_NS_PID].path)
		return 0;
	fd = open(cfg->ns[RT_NS_PID].path, O_RDONLY | O_CLOEXEC);
	/* setns(CLONE_NEWPID) moves our children, not us: the clone below lands there */
	if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
		return err_sys(err, "join pid namespace '%s'", cfg->ns[RT_NS_PID].path);
	return 0;
}

static unsigned long clone_flags(const struct rt_config *cfg)
{
	static const unsigned long flags[RT_NS_COUNT] = {
		[RT_NS_PID] = CLONE_NEWPID, [RT_NS_NET] = CLONE_NEWNET,
		[RT_NS_IPC] = CLONE_NEWIPC, [RT_NS_UTS] = CLONE_NEWUTS,
		[RT_NS_MNT] = CLONE_NEWNS,  [RT_NS_USER] = CLONE_NEWUSER,
	};
	unsigned long f = 0;

	/* cgroup: unshared by the child once it is in its cgroup; time: by us before clone */
	for (int t = 0; t < RT_NS_COUNT; t++)
		if (cfg->ns[t].enabled && !cfg->ns[t].path)
			f |= flags[t];
	return f;
}

static char *hook_state(const struct creation *cr, const char *status)
{
	json_t *o =
		json_pack("{s:s, s:s, s:s, s:I, s:s}", "ociVersion", RT_OCI_VERSION, "id", cr->id,
			  "status", status, "pid", (json_int_t)cr->pid, "bundle", cr->bundle);
	char *s;

	if (cr->cfg->annotations)
		json_object_set(o, "annotations", cr->cfg->annotations);
	s = jdump_s(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int run_create_hooks(struct creation *cr, struct err *err)
{
	cleanup_free char *state = hook_state(cr, "creating");

	if (rt_hooks_run(&cr->cfg->hooks[RT_HOOK_PRESTART], RT_HOOK_PRESTART, state, err) < 0)
		return -err->code;
	return rt_hooks_run(&cr->cfg->hooks[RT_HOOK_CREATE_RUNTIME], RT_HOOK_CREATE_RUNTIME, state,
			    err);
}

/* Answers the container process until it is ready or has failed. */
static int converse(struct creation *cr, struct err *err)
{
	struct rt_sync_msg m;
	int r;

	for (;;) {
		r = rt_sync_recv(cr->sync_fd, &m, err);
		if (r < 0)
			return r;
		if (r == 0) {
			int status = 0;

			waitpid(cr->pid, &status, 0);
			cr->pid = 0;
			return err_set(err, EIO, "container process exited during set-up (%s %d)",
				       WIFSIGNALED(status) ? "signal" : "status",
				       WIFSIGNALED(status) ? WTERMSIG(status)
							   : WEXITSTATUS(status));
		}
		switch (m.type) {
		case RT_SYNC_READY:
			return 0;
		case RT_SYNC_ERROR:
			return err_set(err, m.code > 0 ? m.code : EIO, "%s", m.text);
		case RT_SYNC_HOOKS: {
			int hr = run_create_hooks(cr, err);

			if (hr < 0)
				return hr;
			if (rt_sync_send(cr->sync_fd, RT_SYNC_HOOKS_DONE, 0, NULL) < 0)
				return err_sys(err, "resume the container process");
			break;
		}
		default:
			return err_set(err, EPROTO,
				       "unexpected message %d from the container process", m.type);
		}
	}
}

/*
 * A user namespace holding @u/@g, as an fd: the id mapping an idmapped mount takes. A
 * child is created in it, mapped, and killed once its namespace is open.
 */
static int userns_fd(const struct rt_config *cfg, const struct rt_mount *m, int *ret_fd,
		     struct err *err)
{
	struct rt_config mapped = *cfg;
	cleanup_free char *path = NULL;
	pid_t pid;
	int fd, r;

	if (m->n_uid_maps) {
		mapped.uid_maps = m->uid_maps;
		mapped.n_uid_maps = m->n_uid_maps;
		mapped.gid_maps = m->gid_maps;
		mapped.n_gid_maps = m->n_gid_maps;
	}
	/*
	 * As the spec says, the mappings read like a user namespace's: an id on the source
	 * file system (containerID, inside) shows as hostID (outside) through the mount.
	 */
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return err_sys(err, "create a user namespace for idmapped mount '%s'",
			       m->destination);
	if (pid == 0) {
		for (;;)
			pause();
	}
	r = write_id_maps(pid, &mapped, err);
	path = xasprintf("/proc/%d/ns/user", (int)pid);
	fd = r < 0 ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (r == 0 && fd < 0)
		r = err_sys(err, "open '%s'", path);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (r < 0)
		return err_wrap(err, "idmapped mount '%s'", m->destination);
	*ret_fd = fd;
	return 0;
}

static int prepare_idmaps(struct creation *cr, struct err *err)
{
	const struct rt_config *cfg = cr->cfg;

	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (!cfg->mounts[i].idmap)
			continue;
		if (!cr->idmap_fds) {
			cr->idmap_fds = xcalloc(cfg->n_mounts, sizeof(int));
			for (size_t j = 0; j < cfg->n_mounts; j++)
				cr->idmap_fds[j] = -1;
		}
		if (userns_fd(cfg, &cfg->mounts[i], &cr->idmap_fds[i], err) < 0)
			return err_wrap(err, "mounts[%zu]", i);
	}
	return 0;
}

static int spawn(struct creation *cr, const struct rt_create_opts *o, bool run_mode,
		 struct err *err)
{
	const struct rt_config *cfg = cr->cfg;
	int sv[2];
	struct rt_init_args args = {
		.cfg = cfg,
		.id = cr->id,
		.bundle = cr->bundle,
		.console_fd = cr->console_fd,
		.preserve_fds = o->preserve_fds,
		.no_pivot = o->no_pivot,
		.no_new_keyring = o->no_new_keyring,
	};
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, "create sync socket");
	cr->sync_fd = sv[0];
	args.sync_fd = sv[1];
	args.cgroup = cr->cgroup;
	args.seccomp = cr->seccomp;
	args.idmap_fds = cr->idmap_fds;
	args.start_fd = run_mode ? sv[1] : cr->start_fd;
	if (prepare_time_ns(cfg, err) < 0 || join_pid_ns(cfg, err) < 0) {
		close(sv[1]);
		return -err->code;
	}
	/* a fork-like clone: the child continues on a copy of this stack */
	pid = (pid_t)syscall(SYS_clone, clone_flags(cfg) | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0) {
		err_sys(err, "clone the container process");
		close(sv[1]);
		return -err->code;
	}
	if (pid == 0) {
		close(sv[0]);
		rt_init_main(&args);
	}
	close(sv[1]);
	cr->pid = pid;
	if (cr->start_fd >= 0)
		close(TAKE_FD(cr->start_fd));
	if (cfg->ns[RT_NS_USER].enabled && !cfg->ns[RT_NS_USER].path) {
		if (write_id_maps(pid, cfg, err) < 0)
			return err_wrap(err, "set user namespace mappings");
	}
	if (rt_sync_send(cr->sync_fd, RT_SYNC_GO, pid, NULL) < 0)
		return err_sys(err, "resume the container process");
	/* the child builds its rootfs meanwhile: this write may wait a grace period */
	if (cr->cgroup && rt_cgroup_enter(cr->cgroup, pid, err) < 0)
		return -err->code;
	/* if the child has already failed, its error message is what converse() reports */
	rt_sync_send(cr->sync_fd, RT_SYNC_CGROUP, 0, NULL);
	return converse(cr, err);
}

static int save_state(struct creation *cr, struct err *err)
{
	struct rt_state st = {
		.id = cr->id,
		.bundle = cr->bundle,
		.pid = cr->pid,
		.own_pidns = cr->cfg->ns[RT_NS_PID].enabled && !cr->cfg->ns[RT_NS_PID].path,
		.annotations = cr->cfg->annotations,
	};
	cleanup_free char *created = clock_rfc3339(NULL);
	json_t *hooks = json_object_get(cr->cfg->json, "hooks");
	int r;

	st.created = created;
	if (rt_proc_stat(cr->pid, &st.start_time, NULL) < 0)
		return err_set(err, ESRCH, "container process %d vanished", (int)cr->pid);
	st.hooks = json_is_object(hooks) ? hooks : NULL;
	st.cgroup = cr->cgroup ? rt_cgroup_to_json(cr->cgroup) : NULL;
	r = rt_state_save(cr->rootfd, &st, err);
	json_decref(st.cgroup);
	return r;
}

static int do_create(struct creation *cr, const struct rt_global *g, const char *id,
		     const struct rt_create_opts *o, bool run_mode, struct err *err)
{
	if (rt_id_check(id, err) < 0)
		return -err->code;
	cr->id = xstrdup(id);
	if (rt_root_open(rt_root_of(g), true, &cr->rootfd, err) < 0)
		return -err->code;
	if (mkdirat(cr->rootfd, id, 0711) < 0)
		return errno == EEXIST ? err_set(err, EEXIST, "container '%s' already exists", id)
				       : err_sys(err, "create state directory for '%s'", id);
	cr->dir_made = true;
	if (load_config(cr, o->bundle, err) < 0)
		return -err->code;
	/* until the process exists, `state` reports "creating" with the bundle */
	{
		struct rt_state early = {.id = cr->id,
					 .bundle = cr->bundle,
					 .created = "",
					 .annotations = cr->cfg->annotations};

		if (rt_state_save(cr->rootfd, &early, err) < 0)
			return -err->code;
	}
	if (cr->cfg->process.terminal && o->console_socket) {
		if (rt_console_connect(o->console_socket, &cr->console_fd, err) < 0)
			return -err->code;
	} else if (cr->cfg->process.terminal) {
		int sv[2];

		/* a foreground run relays the terminal itself, as runc does */
		if (!run_mode || o->detach)
			return err_set(
				err, EINVAL,
				"process.terminal is true but no --console-socket was given");
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return err_sys(err, "create terminal socket");
		cr->console_peer = sv[0];
		cr->console_fd = sv[1];
	}
	if (!run_mode) {
		cleanup_free char *fifo = xasprintf("%s/exec.fifo", id);

		if (mkfifoat(cr->rootfd, fifo, 0600) < 0)
			return err_sys(err, "create exec fifo");
		/* read and write end in one: no EOF while we wait, no blocking open */
		cr->start_fd = openat(cr->rootfd, fifo, O_RDWR | O_CLOEXEC);
		if (cr->start_fd < 0)
			return err_sys(err, "open exec fifo");
	}
	if (setup_cgroup(cr, g, err) < 0)
		return -err->code;
	if (prepare_idmaps(cr, err) < 0 || spawn(cr, o, run_mode, err) < 0)
		return -err->code;
	if (cr->console_peer >= 0 && rt_recv_fd(cr->console_peer, &cr->pty_master, err) < 0)
		return -err->code;
	if (save_state(cr, err) < 0)
		return -err->code;
	if (o->pid_file && rt_write_pid_file(o->pid_file, cr->pid, err) < 0)
		return -err->code;
	return 0;
}

static void creation_init(struct creation *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->rootfd = cr->sync_fd = cr->start_fd = cr->console_fd = -1;
	cr->console_peer = cr->pty_master = -1;
}

int rt_create(const struct rt_global *g, const char *id, const struct rt_create_opts *o,
	      struct err *err)
{
	struct creation cr;
	int r;

	creation_init(&cr);
	r = do_create(&cr, g, id, o, false, err);
	if (r < 0) {
		creation_undo(&cr);
		err_wrap(err, "create container '%s'", id);
	}
	creation_done(&cr);
	return r;
}

/* ---- operations on existing containers ---- */

int rt_container_load(const struct rt_global *g, const char *id, int *ret_rootfd,
		      struct rt_state **ret, struct err *err)
{
	cleanup_close int rootfd = -1;

	if (rt_root_open(rt_root_of(g), false, &rootfd, err) < 0) {
		if (err->code == ENOENT) {
			err_clear(err);
			return err_set(err, ENOENT, "container '%s' does not exist", id);
		}
		return -err->code;
	}
	if (rt_state_load(rootfd, id, ret, err) < 0)
		return -err->code;
	if (ret_rootfd)
		*ret_rootfd = TAKE_FD(rootfd);
	return 0;
}

int rt_state(const struct rt_global *g, const char *id, json_t **ret, struct err *err)
{
	struct rt_state *st = NULL;

	if (rt_container_load(g, id, NULL, &st, err) < 0)
		return -err->code;
	*ret = rt_state_json(st, st->status);
	rt_state_free(st);
	return 0;
}

static bool exec_done(pid_t pid);

/* Waits until the process has executed the program (true) or died before (false). */
static bool wait_started(const struct rt_state *st)
{
	for (int i = 0; i < 50000; i++) {
		unsigned long long start;
		char state;

		if (rt_proc_stat(st->pid, &start, &state) < 0 || start != st->start_time ||
		    state == 'Z' || state == 'X')
			return false;
		if (exec_done(st->pid))
			return true;
		usleep(200);
	}
	return true;
}

static bool exec_done(pid_t pid)
{
	char path[32], comm[32] = "";
	cleanup_close int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, comm, sizeof(comm) - 1);
	if (n <= 0)
		return true;
	comm[n] = '\0';
	return strcmp(comm, "skiff:init\n") != 0;
}

/* Runs poststart (fail-fast: returns -1 on failure) or poststop (all, warnings) hooks. */
static int run_post_hooks(const struct rt_state *st, enum rt_hook_kind kind, enum rt_status status,
			  struct err *err)
{
	struct err lerr = ERR_INIT;
	struct rt_hooks hs;
	cleanup_free char *text = NULL;
	json_t *o;
	int r = 0;

	if (!st->hooks || rt_hooks_from_json(st->hooks, kind, &hs, &lerr) < 0 || !hs.n) {
		err_clear(&lerr);
		return 0;
	}
	o = rt_state_json(st, status);
	text = jdump_s(o, JSON_COMPACT);
	json_decref(o);
	if (kind == RT_HOOK_POSTSTOP)
		rt_hooks_run_all(&hs, kind, text, st->id);
	else
		r = rt_hooks_run(&hs, kind, text, err);
	rt_hooks_done(&hs);
	return r;
}

/*
 * runtime-spec 1.3 lifecycle step 9: a failed poststart hook is an error, and the
 * container is stopped and destroyed.
 */
static int poststart_or_destroy(int rootfd, struct rt_state *st, struct err *err);

int rt_start(const struct rt_global *g, const char *id, struct err *err)
{
	cleanup_close int rootfd = -1, fd = -1;
	cleanup_free char *fifo = NULL;
	struct rt_state *st = NULL;
	int r = 0;

	if (rt_container_load(g, id, &rootfd, &st, err) < 0)
		return -err->code;
	if (st->status != RT_STATUS_CREATED) {
		r = err_set(err, EINVAL, "cannot start container '%s': it is %s", id,
			    rt_status_name(st->status));
		goto out;
	}
	fifo = xasprintf("%s/exec.fifo", id);
	fd = openat(rootfd, fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1) {
		r = err_sys(err, "start container '%s'", id);
		goto out;
	}
	unlinkat(rootfd, fifo, 0);
	if (st->hooks && (json_object_get(st->hooks, "startContainer") ||
			  json_object_get(st->hooks, "poststart"))) {
		/*
		 * startContainer hooks run in the container process before the program;
		 * poststart hooks run once the program is executing: learn which came first
		 */
		if (!wait_started(st)) {
			r = err_set(err, EIO,
				    "start container '%s': its process exited before running "
				    "the program (a startContainer hook failed?)",
				    id);
			goto out;
		}
		r = poststart_or_destroy(rootfd, st, err);
	}
out:
	rt_state_free(st);
	return r;
}

static int signal_pid(const struct rt_state *st, int sig, struct err *err)
{
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	unsigned long long start;

	/* through a pidfd, checked against the start time: never a recycled pid */
	if (pidfd < 0 || rt_proc_stat(st->pid, &start, NULL) < 0 || start != st->start_time)
		return err_set(err, ESRCH, "container '%s' is not running", st->id);
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return err_sys(err, "send signal %d to container '%s'", sig, st->id);
	return 0;
}

int rt_state_cgroup(const struct rt_state *st, struct rt_cgroup **ret, struct err *err)
{
	*ret = NULL;
	if (!st->cgroup)
		return 0;
	if (rt_cgroup_load(st->cgroup, ret, err) < 0)
		return err_wrap(err, "container '%s'", st->id);
	return 0;
}

int rt_kill(const struct rt_global *g, const char *id, int sig, bool all, struct err *err)
{
	struct rt_cgroup *cg = NULL;
	struct rt_state *st = NULL;
	int r;

	if (rt_container_load(g, id, NULL, &st, err) < 0)
		return -err->code;
	if (st->status == RT_STATUS_STOPPED || st->status == RT_STATUS_CREATING) {
		r = err_set(err, ESRCH, "container '%s' is not running", id);
	} else if (all && (r = rt_state_cgroup(st, &cg, err)) == 0 && cg) {
		r = rt_cgroup_kill(cg, sig, err);
	} else if (r == 0) {
		r = signal_pid(st, sig, err);
	}
	rt_cgroup_free(cg);
	rt_state_free(st);
	return r;
}

static void wait_gone(const struct rt_state *st, int timeout_ms)
{
	cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
	char state = 0;

	if (pidfd < 0)
		return;
	/* a zombie whose parent has not reaped it is as good as gone */
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (poll(&pfd, 1, 10) > 0)
			return;
		if (rt_proc_stat(st->pid, NULL, &state) < 0 || state == 'Z')
			return;
	}
}

static int destroy(int rootfd, const struct rt_state *st, struct rt_cgroup *cg, struct err *err)
{
	if (cg && rt_cgroup_destroy(cg, err) < 0)
		return err_wrap(err, "delete container '%s'", st->id);
	if (fs_remove_tree(rootfd, st->id, err) < 0)
		return err_wrap(err, "delete container '%s'", st->id);
	return 0;
}

static int do_delete(int rootfd, struct rt_state *st, bool force, struct err *err)
{
	struct rt_cgroup *cg = NULL;
	int r;

	/* runtime-spec: deleting a container that is not stopped is an error */
	if (st->status != RT_STATUS_STOPPED && st->status != RT_STATUS_CREATING && !force)
		return err_set(err, EBUSY,
			       "cannot delete container '%s' that is not stopped: %s (use --force)",
			       st->id, rt_status_name(st->status));
	if (rt_state_cgroup(st, &cg, err) < 0)
		return -err->code;
	if (st->status != RT_STATUS_STOPPED && st->pid > 0) {
		/* frozen processes would hold SIGKILL pending forever */
		if (cg && st->status == RT_STATUS_PAUSED && rt_cgroup_freeze(cg, false, err) < 0) {
			log_debug("thaw container '%s': %s", st->id, err->msg);
			err_clear(err);
		}
		if (cg && rt_cgroup_kill(cg, SIGKILL, err) < 0) {
			log_debug("kill container '%s' through its cgroup: %s", st->id, err->msg);
			err_clear(err);
		}
		if (signal_pid(st, SIGKILL, err) < 0)
			err_clear(err);
		wait_gone(st, 10000);
	}
	r = destroy(rootfd, st, cg, err);
	rt_cgroup_free(cg);
	/* poststop hooks run after the container is deleted */
	if (r == 0 && st->status != RT_STATUS_CREATING)
		run_post_hooks(st, RT_HOOK_POSTSTOP, RT_STATUS_STOPPED, err);
	return r;
}

static int poststart_or_destroy(int rootfd, struct rt_state *st, struct err *err)
{
	struct err derr = ERR_INIT;

	if (run_post_hooks(st, RT_HOOK_POSTSTART, RT_STATUS_RUNNING, err) == 0)
		return 0;
	st->status = RT_STATUS_RUNNING;
	if (do_delete(rootfd, st, true, &derr) < 0) {
		log_warn("destroy container '%s' after its poststart hook failed: %s", st->id,
			 derr.msg);
		err_clear(&derr);
	}
	return err_wrap(err, "start container '%s'", st->id);
}

int rt_delete(const struct rt_global *g, const char *id, bool force, struct err *err)
{
	cleanup_close int rootfd = -1;
	struct rt_state *st = NULL;
	int r;

	if (rt_container_load(g, id, &rootfd, &st, err) < 0)
		return -err->code;
	r = do_delete(rootfd, st, force, err);
	rt_state_free(st);
	return r;
}

/* ---- run ---- */

static int run_start(struct creation *cr, struct err *err)
{
	struct rt_sync_msg m;

	if (rt_sync_send(cr->sync_fd, RT_SYNC_START, 0, NULL) < 0)
		return err_sys(err, "start the container process");
	/* the sync socket is close-on-exec: end of file means the program is running */
	if (cr->cfg->hooks[RT_HOOK_POSTSTART].n && rt_sync_recv(cr->sync_fd, &m, err) < 0)
		err_clear(err);
	return 0;
}

int rt_run(const struct rt_global *g, const char *id, const struct rt_create_opts *o,
	   int *ret_status, struct err *err)
{
	struct rt_state *st = NULL;
	struct creation cr;
	int r;

	creation_init(&cr);
	r = do_create(&cr, g, id, o, true, err);
	if (r < 0) {
		creation_undo(&cr);
		creation_done(&cr);
		return err_wrap(err, "create container '%s'", id);
	}
	r = run_start(&cr, err);
	if (r == 0 && rt_state_load(cr.rootfd, id, &st, err) == 0 &&
	    cr.cfg->hooks[RT_HOOK_POSTSTART].n && poststart_or_destroy(cr.rootfd, st, err) < 0) {
		waitpid(cr.pid, NULL, 0);
		rt_state_free(st);
		creation_done(&cr);
		return -err->code;
	}
	err_clear(err);
	if (o->detach) {
		*ret_status = 0;
		goto out;
	}
	r = rt_foreground_wait(cr.pid, cr.pty_master, ret_status, err);
	if (r == 0 && *ret_status == 128 + SIGKILL && cr.cgroup && rt_cgroup_oom_killed(cr.cgroup))
		log_warn("container '%s' was killed by the OOM killer (memory limit reached)", id);
	cr.pid = 0;
	if (st) {
		st->status = RT_STATUS_STOPPED;
		if (do_delete(cr.rootfd, st, true, err) < 0 && r == 0)
			r = -err->code;
	}
out:
	rt_state_free(st);
	creation_done(&cr);
	return r;
}

/* ---- list ---- */

int rt_list(const struct rt_global *g, json_t **ret, struct err *err)
{
	cleanup_close int rootfd = -1;
	cleanup_dir DIR *d = NULL;
	json_t *arr = json_array();
	struct dirent *de;
	int fd;

	*ret = arr;
	if (rt_root_open(rt_root_of(g), false, &rootfd, err) < 0) {
		if (err->code == ENOENT) {
			err_clear(err);
			return 0;
		}
		return -err->code;
	}
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return err_sys(err, "list '%s'", rt_root_of(g));
	}
	while ((de = readdir(d))) {
		struct rt_state *st = NULL;
		json_t *o;

		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		if (rt_state_load(rootfd, de->d_name, &st, err) < 0) {
			err_clear(err);
			continue;
		}
		o = rt_state_json(st, st->status);
		json_object_set_new(o, "created", json_string(st->created));
		json_object_set_new(o, "owner", json_string(""));
		json_array_append_new(arr, o);
		rt_state_free(st);
	}
	return 0;
}
