/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container state under the runtime's --root: one directory per container holding
 * state.json (what later commands need) and, until start, the exec fifo. The status is
 * never stored: it is derived from the process and the fifo each time it is asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jx.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

static const char *const status_names[] = {
	[RT_STATUS_CREATING] = "creating", [RT_STATUS_CREATED] = "created",
	[RT_STATUS_RUNNING] = "running",   [RT_STATUS_STOPPED] = "stopped",
	[RT_STATUS_PAUSED] = "paused",
};

const char *rt_status_name(enum rt_status s)
{
	return status_names[s];
}

int rt_root_open(const char *root, bool create, int *ret_fd, struct err *err)
{
	int fd;

	fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (fs_mkdir_p(root, 0711, err) < 0)
			return err_wrap(err, "create state root");
		fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, "open state root '%s'", root);
	*ret_fd = fd;
	return 0;
}

int rt_id_check(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (n == 0)
		return err_set(err, EINVAL, "container id: must not be empty");
	if (n > 1024)
		return err_set(err, EINVAL, "container id: longer than 1024 bytes");
	if (!strcmp(id, ".") || !strcmp(id, ".."))
		return err_set(err, EINVAL, "container id '%s': not allowed", id);
	if (strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-") != n)
		return err_set(err, EINVAL,
			       "container id '%s': only letters, digits and _+.- are allowed", id);
	return 0;
}

int rt_proc_stat(pid_t pid, unsigned long long *ret_start, char *ret_state)
{
	char path[32], buf[1024];
	cleanup_close int fd = -1;
	unsigned long long start = 0;
	char *p;
	ssize_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return -EPROTO;
	p += 2;
	if (ret_state)
		*ret_state = *p;
	/* starttime is field 22; the state letter is field 3 */
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &start) != 1)
		return -EPROTO;
	if (ret_start)
		*ret_start = start;
	return 0;
}

json_t *rt_state_json(const struct rt_state *st, enum rt_status status)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "ociVersion", RT_OCI_VERSION, "id",
			      st->id, "status", rt_status_name(status), "pid",
			      (json_int_t)(status == RT_STATUS_STOPPED ? 0 : st->pid), "bundle",
			      st->bundle);

	if (st->annotations && json_object_size(st->annotations))
		json_object_set(o, "annotations", st->annotations);
	return o;
}

int rt_state_save(int rootfd, const struct rt_state *st, struct err *err)
{
	cleanup_free char *path = xasprintf("%s/state.json", st->id);
	cleanup_free char *text = NULL;
	cleanup_json json_t *o = NULL;

	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b}", "id", st->id, "bundle", st->bundle,
		      "created", st->created, "pid", (json_int_t)st->pid, "startTime",
		      (json_int_t)st->start_time, "ownPidNamespace", st->own_pidns);
	if (st->annotations)
		json_object_set(o, "annotations", st->annotations);
	if (st->hooks)
		json_object_set(o, "hooks", st->hooks);
	if (st->cgroup)
		json_object_set(o, "cgroup", st->cgroup);
	text = jdump_s(o, JSON_COMPACT);
	if (!text)
		return err_set(err, ENOMEM, "encode state of container '%s'", st->id);
	if (fs_write_atomic(rootfd, path, text, strlen(text), 0600, err) < 0)
		return err_wrap(err, "save state of container '%s'", st->id);
	return 0;
}

static bool frozen(const struct rt_state *st)
{
	struct err err = ERR_INIT;
	struct rt_cgroup *cg = NULL;
	bool r;

	if (!st->cgroup || rt_cgroup_load(st->cgroup, &cg, &err) < 0) {
		err_clear(&err);
		return false;
	}
	r = rt_cgroup_frozen(cg);
	rt_cgroup_free(cg);
	return r;
}

static enum rt_status compute_status(int rootfd, const struct rt_state *st)
{
	unsigned long long start;
	char fifo[1100];
	char pstate;

	if (st->pid <= 0)
		return RT_STATUS_CREATING;
	if (rt_proc_stat(st->pid, &start, &pstate) < 0 || start != st->start_time ||
	    pstate == 'Z' || pstate == 'X')
		return RT_STATUS_STOPPED;
	snprintf(fifo, sizeof(fifo), "%s/exec.fifo", st->id);
	if (faccessat(rootfd, fifo, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return RT_STATUS_CREATED;
	return frozen(st) ? RT_STATUS_PAUSED : RT_STATUS_RUNNING;
}

int rt_state_load(int rootfd, const char *id, struct rt_state **ret, struct err *err)
{
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;
	cleanup_json json_t *o = NULL;
	struct rt_state *st;
	const char *s;
	int64_t n;
	size_t len;
	int r;

	if (rt_id_check(id, err) < 0)
		return -err->code;
	path = xasprintf("%s/state.json", id);
	r = fs_read_file(rootfd, path, &text, &len, err);
	if (r == -ENOENT) {
		struct stat sb;

		err_clear(err);
		if (fstatat(rootfd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode)) {
			/* the directory exists while create runs: report "creating" */
			st = xcalloc(1, sizeof(*st));
			st->id = xstrdup(id);
			st->bundle = xstrdup("");
			st->created = xstrdup("");
			st->status = RT_STATUS_CREATING;
			*ret = st;
			return 0;
		}
		return err_set(err, ENOENT, "container '%s' does not exist", id);
	}
	if (r < 0)
		return err_wrap(err, "load state of container '%s'", id);
	if (jx_parse(text, len, "state.json", &o, err) < 0)
		return err_wrap(err, "load state of container '%s'", id);
	st = xcalloc(1, sizeof(*st));
	st->id = xstrdup(id);
	s = "";
	jx_str(o, "", "bundle", &s, err);
	st->bundle = xstrdup(s);
	s = "";
	jx_str(o, "", "created", &s, err);
	st->created = xstrdup(s);
	n = 0;
	jx_int(o, "", "pid", &n, err);
	st->pid = (pid_t)n;
	n = 0;
	jx_int(o, "", "startTime", &n, err);
	st->start_time = (unsigned long long)n;
	jx_bool(o, "", "ownPidNamespace", &st->own_pidns, err);
	st->annotations = json_incref(json_object_get(o, "annotations"));
	st->hooks = json_incref(json_object_get(o, "hooks"));
	st->cgroup = json_incref(json_object_get(o, "cgroup"));
	if (err->code) {
		rt_state_free(st);
		return err_wrap(err, "load state of container '%s'", id);
	}
	st->status = compute_status(rootfd, st);
	*ret = st;
	return 0;
}

void rt_state_free(struct rt_state *st)
{
	if (!st)
		return;
	free(st->id);
	free(st->bundle);
	free(st->created);
	json_decref(st->annotations);
	json_decref(st->hooks);
	json_decref(st->cgroup);
	free(st);
}

int rt_write_pid_file(const char *path, pid_t pid, struct err *err)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", (int)pid);

	/* engines poll for the file: it appears whole or not at all */
	if (fs_write_atomic(AT_FDCWD, path, buf, (size_t)len, 0644, err) < 0)
		return err_wrap(err, "write pid file");
	return 0;
}
