/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Operations on a container through its cgroup: pause and resume (freezer), update
 * (resources), ps (its processes) and events (periodic stats, OOM kills).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

/* Loads the container and its cgroup; fails when it has none. */
static int load_with_cgroup(const struct rt_global *g, const char *id, const char *action,
			    struct rt_state **ret_st, struct rt_cgroup **ret_cg, struct err *err)
{
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;

	if (rt_container_load(g, id, NULL, &st, err) < 0)
		return -err->code;
	if (rt_state_cgroup(st, &cg, err) < 0) {
		rt_state_free(st);
		return -err->code;
	}
	if (!cg) {
		rt_state_free(st);
		return err_set(err, EOPNOTSUPP, "%s container '%s': it has no cgroup", action, id);
	}
	*ret_st = st;
	*ret_cg = cg;
	return 0;
}

static int freeze(const struct rt_global *g, const char *id, bool frozen, struct err *err)
{
	const char *action = frozen ? "pause" : "resume";
	enum rt_status want = frozen ? RT_STATUS_RUNNING : RT_STATUS_PAUSED;
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;
	int r;

	if (load_with_cgroup(g, id, action, &st, &cg, err) < 0)
		return -err->code;
	if (st->status != want)
		r = err_set(err, EINVAL, "cannot %s container '%s': it is %s", action, id,
			    rt_status_name(st->status));
	else if ((r = rt_cgroup_freeze(cg, frozen, err)) < 0)
		err_wrap(err, "%s container '%s'", action, id);
	rt_cgroup_free(cg);
	rt_state_free(st);
	return r;
}

int rt_pause(const struct rt_global *g, const char *id, struct err *err)
{
	return freeze(g, id, true, err);
}

int rt_resume(const struct rt_global *g, const char *id, struct err *err)
{
	return freeze(g, id, false, err);
}

int rt_update(const struct rt_global *g, const char *id, json_t *resources, struct err *err)
{
	struct rt_resources res;
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;
	int r;

	if (rt_resources_parse(resources, &res, err) < 0)
		return err_wrap(err, "update container '%s'", id);
	r = load_with_cgroup(g, id, "update", &st, &cg, err);
	if (r == 0 && st->status == RT_STATUS_STOPPED)
		r = err_set(err, EINVAL, "cannot update container '%s': it is stopped", id);
	else if (r == 0 && (r = rt_cgroup_update(cg, &res, err)) < 0)
		err_wrap(err, "update container '%s'", id);
	rt_resources_done(&res);
	rt_cgroup_free(cg);
	rt_state_free(st);
	return r;
}

int rt_pids(const struct rt_global *g, const char *id, pid_t **ret, size_t *ret_n, struct err *err)
{
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;
	int r;

	if (load_with_cgroup(g, id, "list processes of", &st, &cg, err) < 0)
		return -err->code;
	r = rt_cgroup_pids(cg, ret, ret_n, err);
	rt_cgroup_free(cg);
	rt_state_free(st);
	return r;
}

static json_t *event(const char *type, const char *id, json_t *data)
{
	json_t *e = json_pack("{s:s, s:s}", "type", type, "id", id);

	if (data)
		json_object_set_new(e, "data", data);
	return e;
}

int rt_events(const struct rt_global *g, const char *id, bool stats_once, int interval_ms,
	      void (*emit)(json_t *event, void *data), void *data, struct err *err)
{
	struct rt_state *st = NULL;
	struct rt_cgroup *cg = NULL;
	cleanup_close int pidfd = -1;
	int64_t ooms;

	if (load_with_cgroup(g, id, "watch", &st, &cg, err) < 0)
		return -err->code;
	if (st->status == RT_STATUS_STOPPED) {
		rt_cgroup_free(cg);
		rt_state_free(st);
		return err_set(err, EINVAL, "container '%s' is not running", id);
	}
	if (stats_once) {
		emit(event("stats", id, rt_cgroup_stats(cg)), data);
		goto out;
	}
	pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	ooms = rt_cgroup_oom_count(cg);
	for (;;) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int64_t now;

		emit(event("stats", id, rt_cgroup_stats(cg)), data);
		now = rt_cgroup_oom_count(cg);
		if (now > ooms)
			emit(event("oom", id, NULL), data);
		ooms = now;
		/* the stream ends with the container */
		if (pidfd < 0 || poll(&p, 1, interval_ms) > 0)
			break;
	}
out:
	rt_cgroup_free(cg);
	rt_state_free(st);
	return 0;
}
