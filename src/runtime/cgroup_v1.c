/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.resources on cgroup v1 hierarchies (and hybrid hosts): one writer per controller,
 * each touching only the files for resources that are set. Called by cgroup.c at create.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

#define CPUSET_MAX      8192
#define ENOTSUPP_KERNEL 524 /* the kernel-internal ENOTSUPP some knobs leak */

/* Fields where 0 means unset as well, as runc treats them (limits, shares, periods). */
static bool set_nz(int64_t v)
{
	return v != RT_UNSET_I64 && v != 0;
}

static bool set(int64_t v)
{
	return v != RT_UNSET_I64;
}

static int need_dir(const struct rt_cgroup *cg, unsigned bit, const char *what, struct cg_dir **ret,
		    struct err *err)
{
	*ret = cg_find(cg, bit);
	if (!*ret)
		return err_set(err, EOPNOTSUPP, "%s: the '%s' cgroup controller is not mounted",
			       what, cg_controller_name(bit));
	return 0;
}

/* Writes a value the host may not support (deprecated knobs); missing support is fine. */
static int write_optional_str(const struct cg_dir *d, const char *file, const char *val,
			      struct err *err)
{
	int r = cg_write_raw(d, file, val);

	if (r == -ENOENT || r == -EOPNOTSUPP || r == -ENOTSUPP_KERNEL) {
		log_debug("cgroup: '%s/%s' not supported, ignoring", d->path, file);
		return 0;
	}
	return r < 0 ? cg_write_err(d, file, val, r, err) : 0;
}

static int write_optional(const struct cg_dir *d, const char *file, int64_t v, struct err *err)
{
	char buf[CG_NUM_MAX];

	cg_fmt_i64(buf, v);
	return write_optional_str(d, file, buf, err);
}

/*
 * Two values constrained against each other (cfs period and quota, rt period and runtime):
 * @fa first, and when the kernel refuses it against the current other value, @fb first.
 */
static int write_pair(const struct cg_dir *d, const char *fa, int64_t a, const char *fb, int64_t b,
		      struct err *err)
{
	char buf[CG_NUM_MAX];
	int r;

	if (!set_nz(a))
		return set_nz(b) ? cg_write_i64(d, fb, b, err) : 0;
	if (!set_nz(b))
		return cg_write_i64(d, fa, a, err);
	cg_fmt_i64(buf, a);
	r = cg_write_raw(d, fa, buf);
	if (r == -EINVAL) {
		r = cg_write_i64(d, fb, b, err);
		return r < 0 ? r : cg_write_i64(d, fa, a, err);
	}
	if (r < 0)
		return cg_write_err(d, fa, buf, r, err);
	return cg_write_i64(d, fb, b, err);
}

/* ---- memory ---- */

static int write_memsw(const struct cg_dir *d, int64_t limit, int64_t swap, struct err *err)
{
	static const char file[] = "memory.memsw.limit_in_bytes";
	char buf[CG_NUM_MAX];
	int r;

	cg_fmt_i64(buf, swap);
	r = cg_write_raw(d, file, buf);
	if (r == -ENOENT) {
		/* no swap accounting: only "no more than the memory limit" can be honoured */
		if (swap == -1 || swap == limit)
			return 0;
		return err_set(err, EOPNOTSUPP,
			       "linux.resources.memory.swap: '%s/%s' does not exist (swap "
			       "accounting is disabled)",
			       d->path, file);
	}
	return r < 0 ? cg_write_err(d, file, buf, r, err) : 0;
}

static int memory_limits(const struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	static const char file[] = "memory.limit_in_bytes";
	bool lim = set_nz(res->mem_limit), swp = set_nz(res->mem_swap);
	char buf[CG_NUM_MAX];
	int r;

	if (!swp)
		return lim ? cg_write_i64(d, file, res->mem_limit, err) : 0;
	if (!lim)
		return write_memsw(d, RT_UNSET_I64, res->mem_swap, err);
	if (res->mem_swap != -1 && res->mem_limit != -1 && res->mem_swap < res->mem_limit)
		return err_set(err, EINVAL,
			       "linux.resources.memory.swap: %" PRId64
			       " (memory+swap) is below the memory limit %" PRId64,
			       res->mem_swap, res->mem_limit);
	/*
	 * memsw must stay >= limit: lowering both works limit first, raising both only memsw
	 * first. The kernel says EINVAL when the order is wrong.
	 */
	cg_fmt_i64(buf, res->mem_limit);
	r = cg_write_raw(d, file, buf);
	if (r == -EINVAL) {
		r = write_memsw(d, res->mem_limit, res->mem_swap, err);
		return r < 0 ? r : cg_write(d, file, buf, err);
	}
	if (r < 0)
		return cg_write_err(d, file, buf, r, err);
	return write_memsw(d, res->mem_limit, res->mem_swap, err);
}

static bool memory_requested(const struct rt_resources *res)
{
	return set_nz(res->mem_limit) || set_nz(res->mem_swap) || set_nz(res->mem_reservation) ||
	       set(res->mem_kernel) || set(res->mem_kernel_tcp) || set(res->mem_swappiness) ||
	       res->disable_oom_killer == 1 || res->use_hierarchy >= 0;
}

static int apply_memory(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct cg_dir *d;
	int r;

	if (!memory_requested(res))
		return 0;
	r = need_dir(cg, CG_MEMORY, "linux.resources.memory", &d, err);
	if (r >= 0)
		r = memory_limits(d, res, err);
	if (r >= 0 && set_nz(res->mem_reservation))
		r = cg_write_i64(d, "memory.soft_limit_in_bytes", res->mem_reservation, err);
	/* kernel memory limits are deprecated (runtime-spec) and gone from newer kernels */
	if (r >= 0 && set(res->mem_kernel))
		r = write_optional(d, "memory.kmem.limit_in_bytes", res->mem_kernel, err);
	if (r >= 0 && set(res->mem_kernel_tcp))
		r = write_optional(d, "memory.kmem.tcp.limit_in_bytes", res->mem_kernel_tcp, err);
	if (r >= 0 && set(res->mem_swappiness))
		r = cg_write_i64(d, "memory.swappiness", res->mem_swappiness, err);
	if (r >= 0 && res->disable_oom_killer == 1)
		r = cg_write(d, "memory.oom_control", "1", err);
	if (r >= 0 && res->use_hierarchy >= 0)
		r = cg_write_i64(d, "memory.use_hierarchy", res->use_hierarchy, err);
	return r;
}

/* ---- cpu, cpuset, pids ---- */

static int apply_cpu(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct cg_dir *d;
	int r;

	if (!set_nz(res->cpu_shares) && !set_nz(res->cpu_quota) && !set_nz(res->cpu_period) &&
	    !set(res->cpu_burst) && !set_nz(res->cpu_rt_runtime) && !set_nz(res->cpu_rt_period) &&
	    !set(res->cpu_idle))
		return 0;
	r = need_dir(cg, CG_CPU, "linux.resources.cpu", &d, err);
	if (r >= 0 && set_nz(res->cpu_shares))
		r = cg_write_i64(d, "cpu.shares", res->cpu_shares, err);
	if (r >= 0)
		r = write_pair(d, "cpu.cfs_period_us", res->cpu_period, "cpu.cfs_quota_us",
			       res->cpu_quota, err);
	/* the burst is checked against the quota: after it */
	if (r >= 0 && set(res->cpu_burst))
		r = cg_write_i64(d, "cpu.cfs_burst_us", res->cpu_burst, err);
	if (r >= 0)
		r = write_pair(d, "cpu.rt_period_us", res->cpu_rt_period, "cpu.rt_runtime_us",
			       res->cpu_rt_runtime, err);
	if (r >= 0 && set(res->cpu_idle))
		r = write_optional(d, "cpu.idle", res->cpu_idle, err);
	return r;
}

static int apply_cpuset(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct cg_dir *d;
	int r;

	if (!(res->cpuset_cpus && *res->cpuset_cpus) && !(res->cpuset_mems && *res->cpuset_mems))
		return 0;
	r = need_dir(cg, CG_CPUSET, "linux.resources.cpu", &d, err);
	if (r >= 0 && res->cpuset_cpus && *res->cpuset_cpus)
		r = cg_write(d, "cpuset.cpus", res->cpuset_cpus, err);
	if (r >= 0 && res->cpuset_mems && *res->cpuset_mems)
		r = cg_write(d, "cpuset.mems", res->cpuset_mems, err);
	return r;
}

/*
 * Makes @file (cpuset.cpus or .mems) non-empty in @path and every ancestor below the mount
 * point (@floor), copying the nearest non-empty ancestor's value down: v1 refuses tasks in
 * a cpuset without cpus or mems. The newest @fresh levels are known to be empty.
 */
static int inherit(char *path, size_t floor, const char *file, unsigned fresh, char *val,
		   struct err *err)
{
	struct cg_dir d = {.path = path, .fd = -1};
	char *slash;
	int r;

	if (!fresh) {
		ssize_t n = cg_read_raw(&d, file, val, CPUSET_MAX);

		if (n < 0)
			return err_errno(err, (int)n, "read '%s/%s'", path, file);
		while (n > 0 && val[n - 1] == '\n')
			val[--n] = '\0';
		if (n > 0)
			return 0;
	}
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) < floor)
		return err_set(err, EINVAL, "initialize cpuset: '%s/%s' is empty up to the root",
			       path, file);
	*slash = '\0';
	r = inherit(path, floor, file, fresh ? fresh - 1 : 0, val, err);
	*slash = '/';
	return r < 0 ? r : cg_write(&d, file, val, err);
}

int cg_v1_cpuset_prepare(struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
	const char *want[] = {res ? res->cpuset_cpus : NULL, res ? res->cpuset_mems : NULL};
	cleanup_free char *path = xstrdup(d->path);
	cleanup_free char *val = xmalloc(CPUSET_MAX);

	for (size_t i = 0; i < 2; i++) {
		char *slash;
		int r;

		if (!want[i] || !*want[i]) {
			r = inherit(path, d->floor, files[i], d->created, val, err);
		} else if (d->created) {
			/* the leaf gets the configured value from apply_cpuset(): fill its parents
			 */
			slash = strrchr(path, '/');
			*slash = '\0';
			r = inherit(path, d->floor, files[i], d->created - 1, val, err);
			*slash = '/';
		} else {
			r = 0;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_pids(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	char buf[CG_NUM_MAX];
	struct cg_dir *d;
	int r;

	if (!set(res->pids_limit))
		return 0;
	r = need_dir(cg, CG_PIDS, "linux.resources.pids", &d, err);
	if (r < 0)
		return r;
	/* 0 and -1 both mean no limit, as runc reads them */
	cg_fmt_max(buf, res->pids_limit <= 0 ? -1 : res->pids_limit);
	return cg_write(d, "pids.max", buf, err);
}

/* ---- blkio ---- */

static bool blkio_requested(const struct rt_resources *res)
{
	static const char *const lists[] = {"weightDevice", "throttleReadBpsDevice",
					    "throttleWriteBpsDevice", "throttleReadIOPSDevice",
					    "throttleWriteIOPSDevice"};

	if (set_nz(res->blkio_weight) || set_nz(res->blkio_leaf_weight))
		return true;
	for (size_t i = 0; res->blkio && i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (json_object_get(res->blkio, lists[i]))
			return true;
	}
	return false;
}

/* CFQ's blkio.weight files are gone from kernels with only BFQ, which has its own. */
static int write_weight(const struct cg_dir *d, const char *file, const char *bfq_file,
			const char *val, struct err *err)
{
	int r = cg_write_raw(d, file, val);

	if (r == -ENOENT)
		return cg_write(d, bfq_file, val, err);
	return r < 0 ? cg_write_err(d, file, val, r, err) : 0;
}

static int blkio_weight_devices(const struct cg_dir *d, const json_t *blkio, struct err *err)
{
	static const char key[] = "weightDevice";
	json_t *list = NULL, *e;
	size_t i;
	int r = cg_blkio_list(blkio, key, &list, err);

	json_array_foreach (list, i, e) {
		int64_t major, minor, weight, leaf;
		char buf[64];

		r = cg_blkio_entry(e, key, i, "weight", true, &major, &minor, &weight, err);
		if (r >= 0)
			r = cg_blkio_entry(e, key, i, "leafWeight", true, &major, &minor, &leaf,
					   err);
		if (r < 0)
			return r;
		if (set(weight)) {
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor,
				 weight);
			r = write_weight(d, "blkio.weight_device", "blkio.bfq.weight_device", buf,
					 err);
			if (r < 0)
				return r;
		}
		if (set(leaf)) {
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor,
				 leaf);
			r = write_optional_str(d, "blkio.leaf_weight_device", buf, err);
			if (r < 0)
				return r;
		}
	}
	return r;
}

static int blkio_throttles(const struct cg_dir *d, const json_t *blkio, struct err *err)
{
	for (size_t t = 0; t < sizeof(cg_throttles) / sizeof(cg_throttles[0]); t++) {
		const struct cg_throttle *th = &cg_throttles[t];
		json_t *list = NULL, *e;
		size_t i;
		int r = cg_blkio_list(blkio, th->key, &list, err);

		if (r < 0)
			return r;
		json_array_foreach (list, i, e) {
			int64_t major, minor, rate;
			char buf[80];

			r = cg_blkio_entry(e, th->key, i, "rate", false, &major, &minor, &rate,
					   err);
			if (r < 0)
				return r;
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRId64, major, minor,
				 rate);
			r = cg_write(d, th->v1_file, buf, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int apply_blkio(const struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	char buf[CG_NUM_MAX];
	struct cg_dir *d;
	int r;

	if (!blkio_requested(res))
		return 0;
	r = need_dir(cg, CG_BLKIO, "linux.resources.blockIO", &d, err);
	if (r >= 0 && set_nz(res->blkio_weight)) {
		cg_fmt_i64(buf, res->blkio_weight);
		r = write_weight(d, "blkio.weight", "blkio.bfq.weight", buf, err);
	}
	/* leaf weights were CFQ's alone: nothing to set without it */
	if (r >= 0 && set_nz(res->blkio_leaf_weight))
		r = write_optional(d, "blkio.leaf_weight", res->blkio_leaf_weight, err);
	if (r >= 0)
		r = blkio_weight_devices(d, res->blkio, err);
	if (r >= 0)
		r = blkio_throttles(d, res->blkio, err);
	return r;
}

/* ---- hugetlb, devices, network ---- */

static int apply_hugetlb(const struct rt_cgroup *cg, const struct rt_resources *res,
			 struct err *err)
{
	struct cg_dir *d = cg_find(cg, CG_HUGETLB);

	/* without a v1 hugetlb hierarchy cg_apply() uses the unified one */
	for (size_t i = 0; d && i < res->n_hugepages; i++) {
		const struct rt_hugepage_limit *h = &res->hugepages[i];
		char file[64], rsvd[64], buf[CG_NUM_MAX];
		int r;

		if (!cg_valid_page_size(h->page_size))
			return err_set(err, EINVAL,
				       "linux.resources.hugepageLimits[%zu].pageSize: invalid '%s'",
				       i, h->page_size);
		snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", h->page_size);
		snprintf(rsvd, sizeof(rsvd), "hugetlb.%s.rsvd.limit_in_bytes", h->page_size);
		snprintf(buf, sizeof(buf), "%" PRIu64, h->limit);
		r = cg_write_raw(d, file, buf);
		if (r == -ENOENT)
			return err_set(err, EINVAL,
				       "linux.resources.hugepageLimits[%zu].pageSize: the host has "
				       "no '%s' huge pages",
				       i, h->page_size);
		if (r < 0)
			return cg_write_err(d, file, buf, r, err);
		/* reservation limits, where the kernel has them, are the ones the spec prefers */
		r = cg_write_raw(d, rsvd, buf);
		if (r < 0 && r != -ENOENT)
			return cg_write_err(d, rsvd, buf, r, err);
	}
	return 0;
}

/* devices.allow and .deny take one rule per write, and any number of writes per open. */
struct rule_files {
	const struct cg_dir *d;
	int allow, deny;
};

static int write_rule(struct rule_files *f, const struct rt_device_rule *rule, struct err *err)
{
	const char *file = rule->allow ? "devices.allow" : "devices.deny";
	int *fd = rule->allow ? &f->allow : &f->deny;
	char buf[CG_RULE_MAX];

	cg_fmt_device_rule(buf, rule);
	if (*fd < 0)
		*fd = cg_open(f->d, file, O_WRONLY);
	if (*fd < 0)
		return cg_write_err(f->d, file, buf, *fd, err);
	if (write(*fd, buf, strlen(buf)) < 0)
		return cg_write_err(f->d, file, buf, -errno, err);
	return 0;
}

/*
 * The rules in order (runtime-spec), from the state a new cgroup inherits. The runtime core
 * passes the complete list: the config's (normally "deny all" first) plus the devices every
 * container needs.
 */
static int apply_devices(const struct rt_cgroup *cg, const struct rt_resources *res,
			 struct err *err)
{
	struct rule_files f = {cg_find(cg, CG_DEVICES), -1, -1};
	int r = 0;

	if (!res->n_devices)
		return 0;
	if (!f.d)
		return err_set(err, EOPNOTSUPP,
			       "linux.resources.devices: the 'devices' cgroup controller is not "
			       "mounted");
	for (size_t i = 0; r >= 0 && i < res->n_devices; i++)
		r = write_rule(&f, &res->devices[i], err);
	if (f.allow >= 0)
		close(f.allow);
	if (f.deny >= 0)
		close(f.deny);
	return r;
}

static int net_int(const json_t *o, const char *key, const char *what, int64_t *ret,
		   struct err *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
		return err_set(err, EINVAL, "linux.resources.network.%s: expected uint32", what);
	*ret = json_integer_value(v);
	return 0;
}

static int apply_network(const struct rt_cgroup *cg, const struct rt_resources *res,
			 struct err *err)
{
	struct cg_dir *cls = cg_find(cg, CG_NET_CLS), *prio = cg_find(cg, CG_NET_PRIO);
	json_t *prios = json_object_get(res->network, "priorities"), *e;
	int64_t v;
	size_t i;
	int r;

	if (!res->network)
		return 0;
	if (cls && json_object_get(res->network, "classID")) {
		r = net_int(res->network, "classID", "classID", &v, err);
		if (r >= 0)
			r = cg_write_i64(cls, "net_cls.classid", v, err);
		if (r < 0)
			return r;
	}
	if (prios && !json_is_array(prios))
		return err_set(err, EINVAL, "linux.resources.network.priorities: expected array");
	if (!prio)
		return 0;
	json_array_foreach (prios, i, e) {
		json_t *name = json_object_get(e, "name");
		char buf[128];

		if (!json_is_string(name) || strchr(json_string_value(name), ' '))
			return err_set(err, EINVAL,
				       "linux.resources.network.priorities[%zu].name: expected "
				       "interface name",
				       i);
		r = net_int(e, "priority", "priorities[].priority", &v, err);
		if (r < 0)
			return r;
		snprintf(buf, sizeof(buf), "%s %" PRId64, json_string_value(name), v);
		r = cg_write(prio, "net_prio.ifpriomap", buf, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg_v1_apply(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	int r;

	if (!res)
		return 0;
	r = apply_devices(cg, res, err);
	if (r >= 0)
		r = apply_memory(cg, res, err);
	if (r >= 0)
		r = apply_cpu(cg, res, err);
	if (r >= 0)
		r = apply_cpuset(cg, res, err);
	if (r >= 0)
		r = apply_pids(cg, res, err);
	if (r >= 0)
		r = apply_blkio(cg, res, err);
	if (r >= 0)
		r = apply_hugetlb(cg, res, err);
	if (r >= 0)
		r = apply_network(cg, res, err);
	return r;
}
