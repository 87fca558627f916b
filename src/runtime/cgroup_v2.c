/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.resources on the unified (v2) hierarchy: spec values converted to v2 files
 * (memory.max, cpu.weight, io.max ...), the `unified` map written as given, and the
 * cgroup.subtree_control writes that make controllers available. Called by cgroup.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

/* Fields where 0 means unset as well, as runc treats them (limits, shares, periods). */
static bool set_nz(int64_t v)
{
	return v != RT_UNSET_I64 && v != 0;
}

static bool set(int64_t v)
{
	return v != RT_UNSET_I64;
}

/* A missing file on v2 nearly always means a controller not enabled for the cgroup. */
static int v2_write(const struct cg_dir *d, const char *file, const char *val, struct err *err)
{
	int r = cg_write_raw(d, file, val);

	if (r == -ENOENT)
		return err_set(err, ENOENT,
			       "write '%s' to '%s/%s': no such file (the '%.*s' controller is not "
			       "available there)",
			       val, d->path, file, (int)strcspn(file, "."), file);
	return r < 0 ? cg_write_err(d, file, val, r, err) : 0;
}

static int v2_write_i64(const struct cg_dir *d, const char *file, int64_t v, struct err *err)
{
	char buf[CG_NUM_MAX];

	cg_fmt_i64(buf, v);
	return v2_write(d, file, buf, err);
}

static int write_max(const struct cg_dir *d, const char *file, int64_t v, struct err *err)
{
	char buf[CG_NUM_MAX];

	cg_fmt_max(buf, v);
	return v2_write(d, file, buf, err);
}

static int v2_memory(const struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	int64_t swap;
	int r = 0;

	if (set_nz(res->mem_limit))
		r = write_max(d, "memory.max", res->mem_limit, err);
	if (r >= 0 && set_nz(res->mem_swap)) {
		char buf[CG_NUM_MAX];

		r = cg_v2_swap(set_nz(res->mem_limit) ? res->mem_limit : RT_UNSET_I64,
			       res->mem_swap, &swap, err);
		if (r < 0)
			return r;
		cg_fmt_max(buf, swap);
		r = cg_write_raw(d, "memory.swap.max", buf);
		/* no swap accounting: only "no swap beyond the limit" can be honoured */
		if (r == -ENOENT && swap != 0 && res->mem_swap != -1)
			return err_set(err, EOPNOTSUPP,
				       "linux.resources.memory.swap: '%s/memory.swap.max' does not "
				       "exist (swap accounting is disabled)",
				       d->path);
		if (r < 0 && r != -ENOENT)
			return cg_write_err(d, "memory.swap.max", buf, r, err);
		r = 0;
	}
	if (r >= 0 && set_nz(res->mem_reservation))
		r = write_max(d, "memory.low", res->mem_reservation, err);
	if (set(res->mem_kernel) || set(res->mem_kernel_tcp) || set(res->mem_swappiness) ||
	    res->disable_oom_killer == 1 || res->use_hierarchy >= 0)
		log_debug("cgroup: kernel memory, swappiness, disableOOMKiller and useHierarchy "
			  "have no cgroup v2 equivalent, ignoring");
	return r;
}

static int v2_cpu(const struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	int r = 0;

	if (set_nz(res->cpu_rt_runtime) || set_nz(res->cpu_rt_period))
		return err_set(err, EOPNOTSUPP,
			       "linux.resources.cpu: realtimeRuntime and realtimePeriod are not "
			       "supported on cgroup v2");
	if (set_nz(res->cpu_shares))
		r = v2_write_i64(d, "cpu.weight",
				 (int64_t)cg_shares_to_weight((uint64_t)res->cpu_shares), err);
	if (r >= 0 && (set_nz(res->cpu_quota) || set_nz(res->cpu_period))) {
		char quota[CG_NUM_MAX], buf[2 * CG_NUM_MAX];

		cg_fmt_max(quota, set_nz(res->cpu_quota) ? res->cpu_quota : -1);
		if (set_nz(res->cpu_period))
			snprintf(buf, sizeof(buf), "%s %" PRId64, quota, res->cpu_period);
		else
			snprintf(buf, sizeof(buf), "%s", quota);
		r = v2_write(d, "cpu.max", buf, err);
	}
	if (r >= 0 && set(res->cpu_burst))
		r = v2_write_i64(d, "cpu.max.burst", res->cpu_burst, err);
	if (r >= 0 && set(res->cpu_idle)) {
		char buf[CG_NUM_MAX];

		cg_fmt_i64(buf, res->cpu_idle);
		r = cg_write_raw(d, "cpu.idle", buf);
		if (r == -ENOENT) {
			log_debug("cgroup: '%s/cpu.idle' does not exist, ignoring", d->path);
			r = 0;
		}
		if (r < 0)
			return cg_write_err(d, "cpu.idle", buf, r, err);
	}
	return r;
}

static int v2_cpuset_pids(const struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	int r = 0;

	if (res->cpuset_cpus && *res->cpuset_cpus)
		r = v2_write(d, "cpuset.cpus", res->cpuset_cpus, err);
	if (r >= 0 && res->cpuset_mems && *res->cpuset_mems)
		r = v2_write(d, "cpuset.mems", res->cpuset_mems, err);
	/* 0 and -1 both mean no limit, as runc reads them */
	if (r >= 0 && set(res->pids_limit))
		r = write_max(d, "pids.max", res->pids_limit <= 0 ? -1 : res->pids_limit, err);
	return r;
}

/*
 * A weight for the default ("default N") or one device ("8:0 N"): BFQ's io.bfq.weight takes
 * blkio's 1..1000 scale as it is, io.weight wants 1..10000.
 */
static int io_weight(const struct cg_dir *d, const char *dev, int64_t weight, struct err *err)
{
	char buf[64];
	int r;

	snprintf(buf, sizeof(buf), "%s %" PRId64, dev, weight);
	r = cg_write_raw(d, "io.bfq.weight", buf);
	if (r != -ENOENT)
		return r < 0 ? cg_write_err(d, "io.bfq.weight", buf, r, err) : 0;
	snprintf(buf, sizeof(buf), "%s %" PRIu64, dev, cg_blkio_to_io_weight((uint64_t)weight));
	return v2_write(d, "io.weight", buf, err);
}

static int io_weight_devices(const struct cg_dir *d, const json_t *blkio, struct err *err)
{
	static const char key[] = "weightDevice";
	json_t *list = NULL, *e;
	size_t i;
	int r = cg_blkio_list(blkio, key, &list, err);

	if (r < 0)
		return r;
	/* leafWeight was CFQ's alone: v2 has nothing like it */
	json_array_foreach (list, i, e) {
		int64_t major, minor, weight;
		char dev[48];

		r = cg_blkio_entry(e, key, i, "weight", true, &major, &minor, &weight, err);
		if (r < 0)
			return r;
		if (!set(weight))
			continue;
		snprintf(dev, sizeof(dev), "%" PRId64 ":%" PRId64, major, minor);
		r = io_weight(d, dev, weight, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int io_throttles(const struct cg_dir *d, const json_t *blkio, struct err *err)
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
			char val[CG_NUM_MAX], buf[96];

			r = cg_blkio_entry(e, th->key, i, "rate", false, &major, &minor, &rate,
					   err);
			if (r < 0)
				return r;
			/* v1 took 0 as "no limit"; v2 says "max" */
			cg_fmt_max(val, rate == 0 ? -1 : rate);
			snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=%s", major, minor,
				 th->v2_key, val);
			r = v2_write(d, "io.max", buf, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int v2_io(const struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	int r = 0;

	if (set_nz(res->blkio_weight))
		r = io_weight(d, "default", res->blkio_weight, err);
	if (r >= 0 && res->blkio)
		r = io_weight_devices(d, res->blkio, err);
	if (r >= 0 && res->blkio)
		r = io_throttles(d, res->blkio, err);
	return r;
}

int cg_v2_apply_hugetlb(struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	for (size_t i = 0; i < res->n_hugepages; i++) {
		const struct rt_hugepage_limit *h = &res->hugepages[i];
		char file[64], rsvd[64], buf[CG_NUM_MAX];
		int r;

		if (!cg_valid_page_size(h->page_size))
			return err_set(err, EINVAL,
				       "linux.resources.hugepageLimits[%zu].pageSize: invalid '%s'",
				       i, h->page_size);
		snprintf(file, sizeof(file), "hugetlb.%s.max", h->page_size);
		snprintf(rsvd, sizeof(rsvd), "hugetlb.%s.rsvd.max", h->page_size);
		snprintf(buf, sizeof(buf), "%" PRIu64, h->limit);
		r = cg_write_raw(d, file, buf);
		if (r == -ENOENT)
			return err_set(
				err, EINVAL,
				"linux.resources.hugepageLimits[%zu].pageSize: no '%s' in '%s' "
				"(no such huge page size, or no hugetlb controller)",
				i, file, d->path);
		if (r < 0)
			return cg_write_err(d, file, buf, r, err);
		/* reservation limits, where the kernel has them, are the ones the spec prefers */
		r = cg_write_raw(d, rsvd, buf);
		if (r < 0 && r != -ENOENT)
			return cg_write_err(d, rsvd, buf, r, err);
	}
	return 0;
}

static int unified_value(struct cg_dir *d, const char *key, const char *value, struct err *err)
{
	cleanup_free char *copy = xstrdup(value);
	bool wrote = false;

	/* multi-entry files (io.max) take one entry per write: one write per line */
	for (char *line = copy;;) {
		char *nl = strchr(line, '\n');
		int r;

		if (nl)
			*nl = '\0';
		if (*line || (!nl && !wrote)) {
			r = cg_write_raw(d, key, line);
			if (r == -ENOENT)
				return err_set(
					err, EINVAL,
					"linux.resources.unified: no cgroup file '%s' in '%s'", key,
					d->path);
			if (r < 0) {
				cg_write_err(d, key, line, r, err);
				return err_wrap(err, "linux.resources.unified");
			}
			wrote = true;
		}
		if (!nl)
			return 0;
		line = nl + 1;
	}
}

int cg_v2_apply_unified(struct cg_dir *d, json_t *unified, struct err *err)
{
	const char *key;
	json_t *v;

	if (unified && !json_is_object(unified))
		return err_set(err, EINVAL, "linux.resources.unified: expected object");
	json_object_foreach (unified, key, v) {
		int r;

		if (!cg_valid_unified_key(key))
			return err_set(err, EINVAL,
				       "linux.resources.unified: invalid key '%s' (a file name is "
				       "expected)",
				       key);
		if (!json_is_string(v))
			return err_set(err, EINVAL, "linux.resources.unified.%s: expected string",
				       key);
		r = unified_value(d, key, json_string_value(v), err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg_v2_apply(struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	int r;

	if (!res)
		return 0;
	r = v2_memory(d, res, err);
	if (r >= 0)
		r = v2_cpu(d, res, err);
	if (r >= 0)
		r = v2_cpuset_pids(d, res, err);
	if (r >= 0)
		r = v2_io(d, res, err);
	if (r >= 0)
		r = cg_v2_apply_hugetlb(d, res, err);
	/* device rules on v2 are an eBPF program; net_cls/prio are v1 only */
	if (r >= 0)
		r = cg_v2_apply_devices(d, res, err);
	/* the unified map goes last so that its values win over converted ones */
	if (r >= 0)
		r = cg_v2_apply_unified(d, res->unified, err);
	return r;
}

static void enable_at(const char *dir, size_t len, const char *all, unsigned mask)
{
	char path[PATH_MAX];
	struct cg_dir d = {.path = path, .fd = -1};

	if (len >= sizeof(path))
		return;
	memcpy(path, dir, len);
	path[len] = '\0';
	if (cg_write_raw(&d, "cgroup.subtree_control", all) == 0)
		return;
	/* one controller that cannot be enabled here fails the whole write: go one by one */
	for (unsigned bit = 1; bit && bit <= mask; bit <<= 1) {
		char one[32];

		if (!(mask & bit))
			continue;
		snprintf(one, sizeof(one), "+%s", cg_controller_name(bit));
		if (cg_write_raw(&d, "cgroup.subtree_control", one) < 0)
			log_debug("cgroup: cannot enable '%s' in '%s', ignoring", one, path);
	}
}

void cg_v2_enable(const struct cg_dir *d, unsigned mask)
{
	char all[256];
	size_t o = 0;

	if (!mask)
		return;
	for (unsigned bit = 1; bit && bit <= mask; bit <<= 1) {
		if (mask & bit)
			o += (size_t)snprintf(all + o, sizeof(all) - o, "%s+%s", o ? " " : "",
					      cg_controller_name(bit));
	}
	/* every ancestor from the mount point down must delegate the controllers */
	for (size_t i = d->floor; d->path[i]; i++) {
		if (d->path[i] == '/')
			enable_at(d->path, i, all, mask);
	}
}
