/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cgroups that hold other cgroups and no process of their own, such as the node agent's
 * pod cgroups (/kubepods/burstable/pod<uid>) below which its containers' cgroupsPath nest.
 * Built on the container cgroup code of cgroup.c; called through runtime.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

static const char *const mode_names[] = {
	[CG_MODE_V1] = "v1",
	[CG_MODE_V2] = "v2",
	[CG_MODE_HYBRID] = "hybrid",
};

int rt_cgroup_ensure(const char *path, const json_t *resources, struct err *err)
{
	bool has_res = resources && !json_is_null(resources);
	struct rt_cgroup *cg = NULL;
	struct rt_resources res;
	int r;

	if (!path || path[0] != '/')
		return err_set(err, EINVAL, "ensure cgroup '%s': expected an absolute path",
			       path ? path : "");
	/* rt_resources_parse() borrows parts of the object and changes nothing */
	if (has_res && rt_resources_parse((json_t *)resources, &res, err) < 0)
		return err_wrap(err, "ensure cgroup '%s'", path);
	/*
	 * The container create path does all of it: directories in every hierarchy, cpuset
	 * filled from the parent, v2 controllers enabled down to here, resources. An
	 * existing directory is reused (its "created" count stays 0), and freeing the handle
	 * leaves the directories in place.
	 */
	r = rt_cgroup_create(path, has_res ? &res : NULL, &cg, err);
	if (has_res)
		rt_resources_done(&res);
	if (r < 0)
		return r;
	rt_cgroup_free(cg);
	return 0;
}

/* The state rt_cgroup_load() reads, naming @path's directory in every hierarchy. */
static json_t *remove_state(const struct cg_layout *l, const char *path)
{
	json_t *dirs = json_array();

	for (size_t i = 0; i < l->n; i++) {
		const struct cg_hier *h = &l->hier[i];
		cleanup_free char *dir = cg_hier_dir(h, path);
		json_t *d;

		if (access(dir, F_OK) < 0)
			continue;
		/* created 1: only the directory itself goes, never its parents */
		d = json_pack("{s:s, s:i}", "path", dir, "created", 1);
		if (h->v2)
			json_object_set_new(d, "v2", json_true());
		else
			json_object_set_new(d, "controllers", json_string(h->controllers));
		if (h->v2 && l->mode == CG_MODE_HYBRID)
			json_object_set_new(d, "optional", json_true());
		json_array_append_new(dirs, d);
	}
	return json_pack("{s:s, s:o}", "mode", mode_names[l->mode], "dirs", dirs);
}

int rt_cgroup_remove(const char *path, struct err *err)
{
	cleanup_free char *text = NULL, *abs = NULL;
	cleanup_json json_t *state = NULL;
	struct cg_layout l = {.unified = -1};
	struct rt_cgroup *cg = NULL;
	int r;

	if (!path || path[0] != '/')
		return err_set(err, EINVAL, "remove cgroup '%s': expected an absolute path",
			       path ? path : "");
	r = cg_path_resolve(path, NULL, &abs, err);
	if (r < 0)
		return r;
	r = fs_read_file(AT_FDCWD, "/proc/self/mountinfo", &text, NULL, err);
	if (r < 0)
		return err_wrap(err, "remove cgroup '%s'", path);
	r = cg_layout_parse(text, &l, err);
	if (r < 0)
		return err_wrap(err, "remove cgroup '%s'", path);
	state = remove_state(&l, abs);
	cg_layout_done(&l);
	if (json_array_size(json_object_get(state, "dirs")) == 0)
		return 0;
	r = rt_cgroup_load(state, &cg, err);
	if (r < 0)
		return r;
	r = rt_cgroup_destroy(cg, err);
	rt_cgroup_free(cg);
	if (r == -EBUSY) {
		cleanup_free char *msg = TAKE_PTR(err->msg);

		err_clear(err);
		return err_set(err, EBUSY, "remove cgroup '%s': processes remain (%s)", path, msg);
	}
	return r;
}
