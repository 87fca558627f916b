/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a container's cgroup for `events`: cpu, memory, pids and block I/O numbers in
 * the shape runc's events command prints, from v1 or v2 files. Also the entry points that
 * pause, resume and update a cgroup after creation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

#define STAT_BUF 16384

int rt_cgroup_freeze(const struct rt_cgroup *cg, bool frozen, struct err *err)
{
	return cg_set_frozen(cg, frozen, err);
}

bool rt_cgroup_frozen(const struct rt_cgroup *cg)
{
	char buf[64];
	const struct cg_dir *d = cg->mode == CG_MODE_V2 ? cg_unified(cg) : cg_find(cg, CG_FREEZER);

	if (!d)
		return false;
	if (cg->mode == CG_MODE_V2)
		return cg_read_raw(d, "cgroup.freeze", buf, sizeof(buf)) > 0 && buf[0] == '1';
	return cg_read_raw(d, "freezer.state", buf, sizeof(buf)) > 0 && !strncmp(buf, "FROZEN", 6);
}

int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	return cg_apply(cg, res, err);
}

/* One number from a file holding just that number; -1 when absent or "max". */
static int64_t read_num(const struct cg_dir *d, const char *file)
{
	char buf[64];
	ssize_t n;

	if (!d || (n = cg_read_raw(d, file, buf, sizeof(buf))) <= 0)
		return -1;
	buf[n] = '\0';
	if (!strncmp(buf, "max", 3))
		return -1;
	return strtoll(buf, NULL, 10);
}

/* All "key value" lines of a file as a JSON object of numbers. */
static json_t *read_keyed(const struct cg_dir *d, const char *file)
{
	cleanup_free char *buf = xmalloc(STAT_BUF);
	json_t *o = json_object();
	char *line, *save = NULL;
	ssize_t n;

	if (!d || (n = cg_read_raw(d, file, buf, STAT_BUF - 1)) <= 0)
		return o;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');

		if (!sp)
			continue;
		*sp = '\0';
		json_object_set_new(o, line, json_integer(strtoll(sp + 1, NULL, 10)));
	}
	return o;
}

static json_t *percpu(const struct cg_dir *d)
{
	char buf[4096];
	json_t *a = json_array();
	char *p, *end;
	ssize_t n;

	if (!d || (n = cg_read_raw(d, "cpuacct.usage_percpu", buf, sizeof(buf) - 1)) <= 0)
		return a;
	buf[n] = '\0';
	for (p = buf;; p = end) {
		long long v = strtoll(p, &end, 10);

		if (end == p)
			break;
		json_array_append_new(a, json_integer(v));
	}
	return a;
}

/* v1 "MAJ:MIN Op value" lines (blkio.throttle.*) as runc's list of entries. */
static json_t *blkio_entries(const struct cg_dir *d, const char *file)
{
	cleanup_free char *buf = xmalloc(STAT_BUF);
	json_t *a = json_array();
	char *line, *save = NULL;
	ssize_t n;

	if (!d || (n = cg_read_raw(d, file, buf, STAT_BUF - 1)) <= 0)
		return a;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned major, minor;
		char op[16];
		long long v;

		if (sscanf(line, "%u:%u %15s %lld", &major, &minor, op, &v) == 4)
			json_array_append_new(a, json_pack("{s:i, s:i, s:s, s:I}", "major", major,
							   "minor", minor, "op", op, "value",
							   (json_int_t)v));
	}
	return a;
}

/* v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.." in the same shape. */
static json_t *io_stat_v2(const struct cg_dir *d, json_t **ret_ios)
{
	cleanup_free char *buf = xmalloc(STAT_BUF);
	json_t *bytes = json_array(), *ios = json_array();
	char *line, *save = NULL;
	ssize_t n;

	*ret_ios = ios;
	if (!d || (n = cg_read_raw(d, "io.stat", buf, STAT_BUF - 1)) <= 0)
		return bytes;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned major, minor;
		long long rb = 0, wb = 0, ri = 0, wi = 0;
		char *p;

		if (sscanf(line, "%u:%u", &major, &minor) != 2)
			continue;
		if ((p = strstr(line, "rbytes=")))
			rb = strtoll(p + 7, NULL, 10);
		if ((p = strstr(line, "wbytes=")))
			wb = strtoll(p + 7, NULL, 10);
		if ((p = strstr(line, "rios=")))
			ri = strtoll(p + 5, NULL, 10);
		if ((p = strstr(line, "wios=")))
			wi = strtoll(p + 5, NULL, 10);
		json_array_append_new(bytes,
				      json_pack("{s:i,s:i,s:s,s:I}", "major", major, "minor", minor,
						"op", "Read", "value", (json_int_t)rb));
		json_array_append_new(bytes,
				      json_pack("{s:i,s:i,s:s,s:I}", "major", major, "minor", minor,
						"op", "Write", "value", (json_int_t)wb));
		json_array_append_new(ios, json_pack("{s:i,s:i,s:s,s:I}", "major", major, "minor",
						     minor, "op", "Read", "value", (json_int_t)ri));
		json_array_append_new(ios,
				      json_pack("{s:i,s:i,s:s,s:I}", "major", major, "minor", minor,
						"op", "Write", "value", (json_int_t)wi));
	}
	return bytes;
}

static json_t *stats_v1(const struct rt_cgroup *cg)
{
	const struct cg_dir *cpu = cg_find(cg, CG_CPUACCT), *mem = cg_find(cg, CG_MEMORY);
	const struct cg_dir *pids = cg_find(cg, CG_PIDS), *cpuctl = cg_find(cg, CG_CPU);
	json_t *cpustat = read_keyed(cpuctl, "cpu.stat");
	json_t *acct = read_keyed(cpu, "cpuacct.stat");
	/* cpuacct.stat counts USER_HZ ticks (100 per second); runc reports nanoseconds */
	int64_t user = json_integer_value(json_object_get(acct, "user")) * 10000000;
	int64_t kernel = json_integer_value(json_object_get(acct, "system")) * 10000000;
	json_t *o;

	o = json_pack(
		"{s:{s:{s:I, s:o, s:I, s:I}, s:{s:I, s:I, s:I}},"
		" s:{s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:o},"
		" s:{s:I, s:I}}",
		"cpu", "usage", "total", (json_int_t)read_num(cpu, "cpuacct.usage"), "percpu",
		percpu(cpu), "kernel", (json_int_t)kernel, "user", (json_int_t)user, "throttling",
		"periods", json_integer_value(json_object_get(cpustat, "nr_periods")),
		"throttledPeriods", json_integer_value(json_object_get(cpustat, "nr_throttled")),
		"throttledTime", json_integer_value(json_object_get(cpustat, "throttled_time")),
		"memory", "usage", "limit", (json_int_t)read_num(mem, "memory.limit_in_bytes"),
		"usage", (json_int_t)read_num(mem, "memory.usage_in_bytes"), "max",
		(json_int_t)read_num(mem, "memory.max_usage_in_bytes"), "failcnt",
		(json_int_t)read_num(mem, "memory.failcnt"), "swap", "limit",
		(json_int_t)read_num(mem, "memory.memsw.limit_in_bytes"), "usage",
		(json_int_t)read_num(mem, "memory.memsw.usage_in_bytes"), "max",
		(json_int_t)read_num(mem, "memory.memsw.max_usage_in_bytes"), "failcnt",
		(json_int_t)read_num(mem, "memory.memsw.failcnt"), "raw",
		read_keyed(mem, "memory.stat"), "pids", "current",
		(json_int_t)read_num(pids, "pids.current"), "limit",
		(json_int_t)read_num(pids, "pids.max"));
	json_decref(cpustat);
	json_decref(acct);
	{
		const struct cg_dir *blk = cg_find(cg, CG_BLKIO);

		json_object_set_new(
			o, "blkio",
			json_pack("{s:o, s:o}", "ioServiceBytesRecursive",
				  blkio_entries(blk, "blkio.throttle.io_service_bytes_recursive"),
				  "ioServicedRecursive",
				  blkio_entries(blk, "blkio.throttle.io_serviced_recursive")));
	}
	return o;
}

static json_t *stats_v2(const struct rt_cgroup *cg)
{
	const struct cg_dir *d = cg_unified(cg);
	json_t *cpu = read_keyed(d, "cpu.stat");
	int64_t usec = json_integer_value(json_object_get(cpu, "usage_usec"));
	json_t *o;

	o = json_pack(
		"{s:{s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}},"
		" s:{s:{s:I, s:I}, s:{s:I, s:I}, s:o}, s:{s:I, s:I}}",
		"cpu", "usage", "total", (json_int_t)usec * 1000, "kernel",
		json_integer_value(json_object_get(cpu, "system_usec")) * 1000, "user",
		json_integer_value(json_object_get(cpu, "user_usec")) * 1000, "throttling",
		"periods", json_integer_value(json_object_get(cpu, "nr_periods")),
		"throttledPeriods", json_integer_value(json_object_get(cpu, "nr_throttled")),
		"throttledTime", json_integer_value(json_object_get(cpu, "throttled_usec")) * 1000,
		"memory", "usage", "limit", (json_int_t)read_num(d, "memory.max"), "usage",
		(json_int_t)read_num(d, "memory.current"), "swap", "limit",
		(json_int_t)read_num(d, "memory.swap.max"), "usage",
		(json_int_t)read_num(d, "memory.swap.current"), "raw", read_keyed(d, "memory.stat"),
		"pids", "current", (json_int_t)read_num(d, "pids.current"), "limit",
		(json_int_t)read_num(d, "pids.max"));
	json_decref(cpu);
	{
		json_t *ios = NULL, *bytes = io_stat_v2(d, &ios);

		json_object_set_new(o, "blkio",
				    json_pack("{s:o, s:o}", "ioServiceBytesRecursive", bytes,
					      "ioServicedRecursive", ios));
	}
	return o;
}

json_t *rt_cgroup_stats(const struct rt_cgroup *cg)
{
	return cg->mode == CG_MODE_V2 ? stats_v2(cg) : stats_v1(cg);
}

int64_t rt_cgroup_oom_count(const struct rt_cgroup *cg)
{
	const struct cg_dir *d = cg->mode == CG_MODE_V2 ? cg_unified(cg) : cg_find(cg, CG_MEMORY);
	json_t *o = read_keyed(d, cg->mode == CG_MODE_V2 ? "memory.events" : "memory.oom_control");
	int64_t n = json_integer_value(json_object_get(o, "oom_kill"));

	json_decref(o);
	return n;
}
