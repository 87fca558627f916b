/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.json parser: validates the OCI runtime-spec configuration and turns it into a
 * struct rt_config the rest of the runtime uses. Unknown fields are ignored; wrong ones
 * are rejected with their JSON path and the reason.
 */
#include <errno.h>
#include <linux/mount.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "base/log.h"
#include "runtime/internal.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

/* Shorthands: every getter below returns <0 on a bad field, which we pass straight up. */
#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int try_r_ = (expr);                                                               \
		if (try_r_ < 0)                                                                    \
			return try_r_;                                                             \
	} while (0)

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* ---- process ---- */

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{"RLIMIT_AS", RLIMIT_AS},
	{"RLIMIT_CORE", RLIMIT_CORE},
	{"RLIMIT_CPU", RLIMIT_CPU},
	{"RLIMIT_DATA", RLIMIT_DATA},
	{"RLIMIT_FSIZE", RLIMIT_FSIZE},
	{"RLIMIT_LOCKS", RLIMIT_LOCKS},
	{"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
	{"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
	{"RLIMIT_NICE", RLIMIT_NICE},
	{"RLIMIT_NOFILE", RLIMIT_NOFILE},
	{"RLIMIT_NPROC", RLIMIT_NPROC},
	{"RLIMIT_RSS", RLIMIT_RSS},
	{"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
	{"RLIMIT_RTTIME", RLIMIT_RTTIME},
	{"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
	{"RLIMIT_STACK", RLIMIT_STACK},
};

static int parse_rlimits(struct rt_process *p, const json_t *proc, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(proc, "process", "rlimits", &arr, err) <= 0)
		return -err->code;
	p->rlimits = xcalloc(json_array_size(arr), sizeof(*p->rlimits));
	json_array_foreach (arr, i, v) {
		char path[64];
		const char *type = NULL;
		struct rt_rlimit *rl = &p->rlimits[i];
		size_t k;

		snprintf(path, sizeof(path), "process.rlimits[%zu]", i);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", path);
		TRY(jx_str(v, path, "type", &type, err));
		if (!type)
			return err_set(err, EINVAL, "%s.type: required", path);
		for (k = 0; k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
			if (!strcmp(rlimit_names[k].name, type))
				break;
		if (k == sizeof(rlimit_names) / sizeof(rlimit_names[0]))
			return err_set(err, EINVAL, "%s.type: unknown resource '%s'", path, type);
		for (size_t j = 0; j < i; j++)
			if (p->rlimits[j].resource == rlimit_names[k].resource)
				return err_set(err, EINVAL, "%s.type: '%s' given twice", path,
					       type);
		rl->resource = rlimit_names[k].resource;
		if (jx_uint(v, path, "soft", &rl->soft, err) <= 0 ||
		    jx_uint(v, path, "hard", &rl->hard, err) <= 0)
			return err->code ? -err->code
					 : err_set(err, EINVAL, "%s: soft and hard required", path);
		if (rl->soft > rl->hard)
			return err_set(err, EINVAL, "%s: soft limit %llu above hard limit %llu",
				       path, (unsigned long long)rl->soft,
				       (unsigned long long)rl->hard);
		p->n_rlimits++;
	}
	return 0;
}

static int parse_caps(struct rt_process *p, const json_t *proc, struct err *err)
{
	static const char *const sets[] = {"effective", "bounding", "inheritable", "permitted",
					   "ambient"};
	json_t *caps;

	if (jx_obj(proc, "process", "capabilities", &caps, err) <= 0)
		return -err->code;
	p->has_caps = true;
	for (size_t s = 0; s < 5; s++) {
		json_t *arr, *v;
		size_t i;

		if (jx_arr(caps, "process.capabilities", sets[s], &arr, err) <= 0) {
			if (err->code)
				return -err->code;
			continue;
		}
		json_array_foreach (arr, i, v) {
			int cap = json_is_string(v) ? rt_cap_from_name(json_string_value(v)) : -1;

			if (!json_is_string(v))
				return err_set(err, EINVAL,
					       "process.capabilities.%s[%zu]: expected string",
					       sets[s], i);
			/*
			 * runtime-spec 1.1: an unknown capability is logged, not fatal (a
			 * config written for a newer kernel still runs)
			 */
			if (cap < 0) {
				log_warn("config.json: process.capabilities.%s[%zu]: unknown "
					 "capability '%s', ignoring",
					 sets[s], i, json_string_value(v));
				continue;
			}
			p->caps[s] |= 1ULL << cap;
		}
	}
	return 0;
}

static int parse_user(struct rt_process *p, const json_t *proc, struct err *err)
{
	json_t *user, *gids, *v;
	int64_t umask;
	size_t i;

	p->umask = -1;
	if (jx_obj(proc, "process", "user", &user, err) <= 0)
		return -err->code;
	TRY(jx_u32(user, "process.user", "uid", &p->uid, err));
	TRY(jx_u32(user, "process.user", "gid", &p->gid, err));
	if (jx_int(user, "process.user", "umask", &umask, err) > 0) {
		if (umask < 0 || umask > 0777)
			return err_set(err, EINVAL, "process.user.umask: %lld out of range 0-0777",
				       (long long)umask);
		p->umask = umask;
	}
	TRY(-err->code);
	if (jx_str(user, "process.user", "username", &(const char *){NULL}, err) < 0)
		return -err->code;
	if (jx_arr(user, "process.user", "additionalGids", &gids, err) <= 0)
		return -err->code;
	p->additional_gids = xcalloc(json_array_size(gids), sizeof(uint32_t));
	json_array_foreach (gids, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > UINT32_MAX)
			return err_set(err, EINVAL,
				       "process.user.additionalGids[%zu]: expected integer from 0 "
				       "to 4294967295",
				       i);
		p->additional_gids[p->n_additional_gids++] = (uint32_t)json_integer_value(v);
	}
	return 0;
}

int rt_cpulist_parse(const char *list, cpu_set_t *set)
{
	const char *p = list;

	CPU_ZERO(set);
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;

		if (end == p || a >= CPU_SETSIZE)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p || b >= CPU_SETSIZE || b < a)
				return -EINVAL;
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, set);
		if (*end == ',')
			end++;
		else if (*end)
			return -EINVAL;
		p = end;
	}
	return CPU_COUNT(set) ? 0 : -EINVAL;
}

static const struct {
	const char *name;
	int value;
} sched_policies[] = {
	{"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},       {"SCHED_BATCH", 3},
	{"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6},
};

static const struct {
	const char *name;
	uint64_t value;
} sched_flags[] = {
	{"SCHED_FLAG_RESET_ON_FORK", 0x01},  {"SCHED_FLAG_RECLAIM", 0x02},
	{"SCHED_FLAG_DL_OVERRUN", 0x04},     {"SCHED_FLAG_KEEP_POLICY", 0x08},
	{"SCHED_FLAG_KEEP_PARAMS", 0x10},    {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
	{"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
};

static int parse_scheduler(struct rt_process *p, const json_t *proc, struct err *err)
{
	const char *path = "process.scheduler", *policy = NULL;
	json_t *o, *flags, *v;
	int64_t nice = 0, prio = 0;
	size_t i, k;

	if (jx_obj(proc, "process", "scheduler", &o, err) <= 0)
		return -err->code;
	TRY(jx_str(o, path, "policy", &policy, err));
	if (!policy)
		return err_set(err, EINVAL, "%s.policy: required", path);
	for (k = 0; k < sizeof(sched_policies) / sizeof(sched_policies[0]); k++)
		if (!strcmp(sched_policies[k].name, policy))
			break;
	if (k == sizeof(sched_policies) / sizeof(sched_policies[0]))
		return err_set(err, EINVAL, "%s.policy: unknown policy '%s'", path, policy);
	p->sched.policy = (uint32_t)sched_policies[k].value;
	TRY(jx_int(o, path, "nice", &nice, err));
	if (nice < -20 || nice > 19)
		return err_set(err, EINVAL, "%s.nice: %lld out of range -20 to 19", path,
			       (long long)nice);
	p->sched.nice = (int32_t)nice;
	TRY(jx_int(o, path, "priority", &prio, err));
	if (prio < 0 || prio > 99)
		return err_set(err, EINVAL, "%s.priority: %lld out of range 0 to 99", path,
			       (long long)prio);
	p->sched.priority = (uint32_t)prio;
	TRY(jx_uint(o, path, "runtime", &p->sched.runtime, err));
	TRY(jx_uint(o, path, "deadline", &p->sched.deadline, err));
	TRY(jx_uint(o, path, "period", &p->sched.period, err));
	if (jx_arr(o, path, "flags", &flags, err) > 0) {
		json_array_foreach (flags, i, v) {
			const char *f = json_string_value(v);

			for (k = 0; f && k < sizeof(sched_flags) / sizeof(sched_flags[0]); k++)
				if (!strcmp(sched_flags[k].name, f))
					break;
			if (!f || k == sizeof(sched_flags) / sizeof(sched_flags[0]))
				return err_set(err, EINVAL, "%s.flags[%zu]: unknown flag", path, i);
			p->sched.flags |= sched_flags[k].value;
		}
	}
	TRY(-err->code);
	p->has_scheduler = true;
	return 0;
}

static int parse_io_priority(struct rt_process *p, const json_t *proc, struct err *err)
{
	static const char *const classes[] = {"IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
					      "IOPRIO_CLASS_IDLE"};
	const char *path = "process.ioPriority", *cls = NULL;
	int64_t prio = 0;
	json_t *o;
	size_t k;

	if (jx_obj(proc, "process", "ioPriority", &o, err) <= 0)
		return -err->code;
	TRY(jx_str(o, path, "class", &cls, err));
	for (k = 0; cls && k < 3; k++)
		if (!strcmp(classes[k], cls))
			break;
	if (!cls || k == 3)
		return err_set(err, EINVAL, "%s.class: expected IOPRIO_CLASS_RT, _BE or _IDLE",
			       path);
	TRY(jx_int(o, path, "priority", &prio, err));
	if (prio < 0 || prio > 7)
		return err_set(err, EINVAL, "%s.priority: %lld out of range 0 to 7", path,
			       (long long)prio);
	p->has_io_priority = true;
	p->ioprio_class = (int)k + 1; /* IOPRIO_CLASS_RT is 1 */
	p->ioprio_level = (int)prio;
	return 0;
}

static int parse_affinity(struct rt_process *p, const json_t *proc, struct err *err)
{
	const char *path = "process.execCPUAffinity", *s;
	json_t *o;
	cpu_set_t set;

	if (jx_obj(proc, "process", "execCPUAffinity", &o, err) <= 0)
		return -err->code;
	s = NULL;
	TRY(jx_str(o, path, "initial", &s, err));
	if (s && *s && rt_cpulist_parse(s, &set) < 0)
		return err_set(err, EINVAL, "%s.initial: invalid cpu list '%s'", path, s);
	p->cpu_affinity_initial = dup_or_null(s && *s ? s : NULL);
	s = NULL;
	TRY(jx_str(o, path, "final", &s, err));
	if (s && *s && rt_cpulist_parse(s, &set) < 0)
		return err_set(err, EINVAL, "%s.final: invalid cpu list '%s'", path, s);
	p->cpu_affinity_final = dup_or_null(s && *s ? s : NULL);
	return 0;
}

static int parse_process_fields(struct rt_process *p, const json_t *proc, struct err *err)
{
	const char *s = NULL;
	json_t *box;
	int64_t adj;

	if (!json_is_object(proc))
		return err_set(err, EINVAL, "process: expected object");
	TRY(jx_bool(proc, "process", "terminal", &p->terminal, err));
	if (jx_obj(proc, "process", "consoleSize", &box, err) > 0) {
		uint32_t h = 0, w = 0;

		TRY(jx_u32(box, "process.consoleSize", "height", &h, err));
		TRY(jx_u32(box, "process.consoleSize", "width", &w, err));
		p->console_height = h;
		p->console_width = w;
	}
	TRY(-err->code);
	TRY(parse_user(p, proc, err));
	if (jx_strv(proc, "process", "args", &p->args, err) < 0)
		return -err->code;
	if (!p->args || !p->args[0])
		return err_set(err, EINVAL, "process.args: at least one argument required");
	if (jx_strv(proc, "process", "env", &p->env, err) < 0)
		return -err->code;
	if (!p->env)
		p->env = xcalloc(1, sizeof(char *));
	TRY(jx_str(proc, "process", "cwd", &s, err));
	if (!s || s[0] != '/')
		return err_set(err, EINVAL, "process.cwd: an absolute path is required");
	p->cwd = xstrdup(s);
	TRY(parse_caps(p, proc, err));
	TRY(parse_rlimits(p, proc, err));
	TRY(jx_bool(proc, "process", "noNewPrivileges", &p->no_new_privileges, err));
	if (jx_int(proc, "process", "oomScoreAdj", &adj, err) > 0) {
		if (adj < -1000 || adj > 1000)
			return err_set(err, EINVAL,
				       "process.oomScoreAdj: %lld out of range "
				       "-1000 to 1000",
				       (long long)adj);
		p->has_oom_score_adj = true;
		p->oom_score_adj = (int)adj;
	}
	TRY(-err->code);
	s = NULL;
	TRY(jx_str(proc, "process", "apparmorProfile", &s, err));
	p->apparmor_profile = dup_or_null(s && *s ? s : NULL);
	s = NULL;
	TRY(jx_str(proc, "process", "selinuxLabel", &s, err));
	p->selinux_label = dup_or_null(s && *s ? s : NULL);
	TRY(parse_scheduler(p, proc, err));
	TRY(parse_io_priority(p, proc, err));
	TRY(parse_affinity(p, proc, err));
	return 0;
}

int rt_process_parse(const json_t *proc, struct rt_process *ret, struct err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (parse_process_fields(ret, proc, err) < 0) {
		rt_process_done(ret);
		return -err->code;
	}
	return 0;
}

void rt_process_done(struct rt_process *p)
{
	free(p->additional_gids);
	strv_free(p->args);
	strv_free(p->env);
	free(p->cwd);
	free(p->rlimits);
	free(p->apparmor_profile);
	free(p->selinux_label);
	free(p->cpu_affinity_initial);
	free(p->cpu_affinity_final);
	memset(p, 0, sizeof(*p));
}

static int parse_process(struct rt_config *c, const json_t *root, struct err *err)
{
	json_t *proc;

	if (jx_obj(root, "", "process", &proc, err) <= 0)
		return err->code ? -err->code : err_set(err, EINVAL, "process: required");
	return parse_process_fields(&c->process, proc, err);
}

/* ---- mounts ---- */

enum opt_kind {
	OPT_FLAG,
	OPT_CLEAR,
	OPT_PROP,
	OPT_REC_SET,
	OPT_REC_CLR,
	OPT_REC_ATIME, /* one of the atime modes: they are set as a group */
	OPT_IGNORE,
	OPT_IDMAP
};

static const struct mount_opt {
	const char *name;
	enum opt_kind kind;
	unsigned long flag;
} mount_opts[] = {
	{"defaults", OPT_IGNORE, 0},
	{"ro", OPT_FLAG, MS_RDONLY},
	{"rw", OPT_CLEAR, MS_RDONLY},
	{"nosuid", OPT_FLAG, MS_NOSUID},
	{"suid", OPT_CLEAR, MS_NOSUID},
	{"nodev", OPT_FLAG, MS_NODEV},
	{"dev", OPT_CLEAR, MS_NODEV},
	{"noexec", OPT_FLAG, MS_NOEXEC},
	{"exec", OPT_CLEAR, MS_NOEXEC},
	{"sync", OPT_FLAG, MS_SYNCHRONOUS},
	{"async", OPT_CLEAR, MS_SYNCHRONOUS},
	{"dirsync", OPT_FLAG, MS_DIRSYNC},
	{"remount", OPT_FLAG, MS_REMOUNT},
	{"mand", OPT_FLAG, MS_MANDLOCK},
	{"nomand", OPT_CLEAR, MS_MANDLOCK},
	{"noatime", OPT_FLAG, MS_NOATIME},
	{"atime", OPT_CLEAR, MS_NOATIME},
	{"nodiratime", OPT_FLAG, MS_NODIRATIME},
	{"diratime", OPT_CLEAR, MS_NODIRATIME},
	{"relatime", OPT_FLAG, MS_RELATIME},
	{"norelatime", OPT_CLEAR, MS_RELATIME},
	{"strictatime", OPT_FLAG, MS_STRICTATIME},
	{"nostrictatime", OPT_CLEAR, MS_STRICTATIME},
	{"lazytime", OPT_FLAG, MS_LAZYTIME},
	{"nolazytime", OPT_CLEAR, MS_LAZYTIME},
	{"iversion", OPT_FLAG, MS_I_VERSION},
	{"noiversion", OPT_CLEAR, MS_I_VERSION},
	{"silent", OPT_FLAG, MS_SILENT},
	{"loud", OPT_CLEAR, MS_SILENT},
	{"nosymfollow", OPT_FLAG, MS_NOSYMFOLLOW},
	{"symfollow", OPT_CLEAR, MS_NOSYMFOLLOW},
	{"bind", OPT_FLAG, MS_BIND},
	{"rbind", OPT_FLAG, MS_BIND | MS_REC},
	{"private", OPT_PROP, MS_PRIVATE},
	{"rprivate", OPT_PROP, MS_PRIVATE | MS_REC},
	{"shared", OPT_PROP, MS_SHARED},
	{"rshared", OPT_PROP, MS_SHARED | MS_REC},
	{"slave", OPT_PROP, MS_SLAVE},
	{"rslave", OPT_PROP, MS_SLAVE | MS_REC},
	{"unbindable", OPT_PROP, MS_UNBINDABLE},
	{"runbindable", OPT_PROP, MS_UNBINDABLE | MS_REC},
	{"rro", OPT_REC_SET, MOUNT_ATTR_RDONLY},
	{"rrw", OPT_REC_CLR, MOUNT_ATTR_RDONLY},
	{"rnosuid", OPT_REC_SET, MOUNT_ATTR_NOSUID},
	{"rsuid", OPT_REC_CLR, MOUNT_ATTR_NOSUID},
	{"rnodev", OPT_REC_SET, MOUNT_ATTR_NODEV},
	{"rdev", OPT_REC_CLR, MOUNT_ATTR_NODEV},
	{"rnoexec", OPT_REC_SET, MOUNT_ATTR_NOEXEC},
	{"rexec", OPT_REC_CLR, MOUNT_ATTR_NOEXEC},
	{"rnodiratime", OPT_REC_SET, MOUNT_ATTR_NODIRATIME},
	{"rdiratime", OPT_REC_CLR, MOUNT_ATTR_NODIRATIME},
	{"rrelatime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME},
	{"rnorelatime", OPT_REC_ATIME, MOUNT_ATTR_STRICTATIME},
	{"rnoatime", OPT_REC_ATIME, MOUNT_ATTR_NOATIME},
	{"ratime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME},
	{"rstrictatime", OPT_REC_ATIME, MOUNT_ATTR_STRICTATIME},
	{"rnostrictatime", OPT_REC_ATIME, MOUNT_ATTR_RELATIME},
	{"rnosymfollow", OPT_REC_SET, MOUNT_ATTR_NOSYMFOLLOW},
	{"rsymfollow", OPT_REC_CLR, MOUNT_ATTR_NOSYMFOLLOW},
	{"tmpcopyup", OPT_IGNORE, 0},
	{"idmap", OPT_IDMAP, 0},
	{"ridmap", OPT_IDMAP, MS_REC},
};

static void apply_mount_opt(struct rt_mount *m, const char *o, char **data)
{
	for (size_t k = 0; k < sizeof(mount_opts) / sizeof(mount_opts[0]); k++) {
		const struct mount_opt *mo = &mount_opts[k];

		if (strcmp(mo->name, o))
			continue;
		switch (mo->kind) {
		case OPT_FLAG:
			m->flags |= mo->flag;
			m->clear_flags &= ~mo->flag;
			if (mo->flag & MS_BIND)
				m->bind = true;
			break;
		case OPT_CLEAR:
			m->flags &= ~mo->flag;
			m->clear_flags |= mo->flag;
			break;
		case OPT_PROP:
			m->propagation = mo->flag;
			break;
		case OPT_REC_SET:
			m->rec_attr_set |= mo->flag;
			m->rec_attr_clr &= ~mo->flag;
			break;
		case OPT_REC_CLR:
			m->rec_attr_clr |= mo->flag;
			m->rec_attr_set &= ~mo->flag;
			break;
		case OPT_REC_ATIME:
			/* the kernel takes an atime mode only with the whole mode mask cleared */
			m->rec_attr_set =
				(m->rec_attr_set & ~(uint64_t)MOUNT_ATTR__ATIME) | mo->flag;
			m->rec_attr_clr |= MOUNT_ATTR__ATIME;
			break;
		case OPT_IDMAP:
			m->idmap = true;
			m->idmap_recursive = mo->flag != 0;
			break;
		case OPT_IGNORE:
			break;
		}
		return;
	}
	/* not a flag: the file system parses it (size=, mode=, newinstance ...) */
	if (*data) {
		char *joined = xasprintf("%s,%s", *data, o);

		free(*data);
		*data = joined;
	} else {
		*data = xstrdup(o);
	}
}

static int parse_id_maps(const json_t *obj, const char *parent, const char *key,
			 struct rt_id_map **ret, size_t *ret_n, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(obj, parent, key, &arr, err) <= 0)
		return -err->code;
	*ret = xcalloc(json_array_size(arr), sizeof(**ret));
	json_array_foreach (arr, i, v) {
		struct rt_id_map *m = &(*ret)[i];
		char path[80];

		snprintf(path, sizeof(path), "%s.%s[%zu]", parent, key, i);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", path);
		if (jx_u32(v, path, "containerID", &m->container_id, err) <= 0 ||
		    jx_u32(v, path, "hostID", &m->host_id, err) <= 0 ||
		    jx_u32(v, path, "size", &m->size, err) <= 0)
			return err->code ? -err->code
					 : err_set(err, EINVAL,
						   "%s: containerID, hostID and size are required",
						   path);
		if (m->size == 0)
			return err_set(err, EINVAL, "%s.size: must be greater than zero", path);
		(*ret_n)++;
	}
	return 0;
}

static int parse_mount(struct rt_mount *m, const json_t *v, const char *path, const char *bundle,
		       struct err *err)
{
	const char *dest = NULL, *type = NULL, *source = NULL;
	char **opts = NULL;

	if (!json_is_object(v))
		return err_set(err, EINVAL, "%s: expected object", path);
	TRY(jx_str(v, path, "destination", &dest, err));
	if (!dest || !*dest)
		return err_set(err, EINVAL, "%s.destination: required", path);
	TRY(jx_str(v, path, "type", &type, err));
	TRY(jx_str(v, path, "source", &source, err));
	TRY(jx_strv(v, path, "options", &opts, err));
	/* runtime-spec: a relative destination is taken relative to the container's / */
	m->destination = dest[0] == '/' ? xstrdup(dest) : xasprintf("/%s", dest);
	m->source = dup_or_null(source);
	for (char **o = opts; o && *o; o++)
		apply_mount_opt(m, *o, &m->data);
	strv_free(opts);
	TRY(parse_id_maps(v, path, "uidMappings", &m->uid_maps, &m->n_uid_maps, err));
	TRY(parse_id_maps(v, path, "gidMappings", &m->gid_maps, &m->n_gid_maps, err));
	/* runtime-spec 1.1: mappings on a mount ask for an idmapped mount */
	if (m->n_uid_maps || m->n_gid_maps)
		m->idmap = true;
	if (type && !strcmp(type, "rbind"))
		m->flags |= MS_REC;
	if (type && (!strcmp(type, "bind") || !strcmp(type, "rbind")))
		m->bind = true;
	else if (type && *type && strcmp(type, "none"))
		m->type = xstrdup(type);
	if (m->bind) {
		m->flags |= MS_BIND;
		free(m->type);
		m->type = NULL;
		/* bind mounts ignore these on the first call; they need a remount */
	} else if (!m->type) {
		return err_set(err, EINVAL,
			       "%s.type: required for a mount that is not a bind mount", path);
	}
	if (!m->source)
		m->source = xstrdup(m->type ? m->type : "none");
	if (m->idmap && !m->bind)
		return err_set(err, EINVAL, "%s.options: idmap is supported on bind mounts only",
			       path);
	if (m->idmap && (!m->n_uid_maps) != (!m->n_gid_maps))
		return err_set(err, EINVAL,
			       "%s: an idmapped mount needs both uidMappings and "
			       "gidMappings",
			       path);
	if (m->bind && !source)
		return err_set(err, EINVAL, "%s.source: required for a bind mount", path);
	if (m->bind && m->source[0] != '/') {
		/* runtime-spec: a relative bind source is relative to the bundle */
		char *abs = xasprintf("%s/%s", bundle, m->source);

		free(m->source);
		m->source = abs;
	}
	return 0;
}

static int parse_mounts(struct rt_config *c, const json_t *root, const char *bundle,
			struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(root, "", "mounts", &arr, err) <= 0)
		return -err->code;
	c->mounts = xcalloc(json_array_size(arr), sizeof(*c->mounts));
	json_array_foreach (arr, i, v) {
		char path[80];

		snprintf(path, sizeof(path), "mounts[%zu]", i);
		c->n_mounts++;
		TRY(parse_mount(&c->mounts[i], v, path, bundle, err));
	}
	return 0;
}

/* ---- hooks ---- */

static const char *const hook_names[RT_HOOK_COUNT] = {
	[RT_HOOK_PRESTART] = "prestart",
	[RT_HOOK_CREATE_RUNTIME] = "createRuntime",
	[RT_HOOK_CREATE_CONTAINER] = "createContainer",
	[RT_HOOK_START_CONTAINER] = "startContainer",
	[RT_HOOK_POSTSTART] = "poststart",
	[RT_HOOK_POSTSTOP] = "poststop",
};

const char *rt_hook_name(enum rt_hook_kind kind)
{
	return hook_names[kind];
}

static int parse_hooks(struct rt_config *c, const json_t *root, struct err *err)
{
	json_t *hooks;

	if (jx_obj(root, "", "hooks", &hooks, err) <= 0)
		return -err->code;
	for (int k = 0; k < RT_HOOK_COUNT; k++) {
		struct rt_hooks *hs = &c->hooks[k];
		json_t *arr, *v;
		size_t i;

		if (jx_arr(hooks, "hooks", hook_names[k], &arr, err) <= 0) {
			if (err->code)
				return -err->code;
			continue;
		}
		hs->list = xcalloc(json_array_size(arr), sizeof(*hs->list));
		json_array_foreach (arr, i, v) {
			struct rt_hook *h = &hs->list[i];
			const char *p = NULL;
			int64_t timeout = 0;
			char path[64];

			snprintf(path, sizeof(path), "hooks.%s[%zu]", hook_names[k], i);
			hs->n++;
			if (!json_is_object(v))
				return err_set(err, EINVAL, "%s: expected object", path);
			TRY(jx_str(v, path, "path", &p, err));
			if (!p || p[0] != '/')
				return err_set(err, EINVAL, "%s.path: an absolute path is required",
					       path);
			h->path = xstrdup(p);
			TRY(jx_strv(v, path, "args", &h->args, err));
			TRY(jx_strv(v, path, "env", &h->env, err));
			if (jx_int(v, path, "timeout", &timeout, err) > 0 &&
			    (timeout <= 0 || timeout > INT32_MAX))
				return err_set(err, EINVAL,
					       "%s.timeout: must be from 1 to 2147483647 seconds",
					       path);
			TRY(-err->code);
			h->timeout = (int)timeout;
		}
	}
	return 0;
}

/* ---- linux ---- */

static const char *const ns_names[RT_NS_COUNT] = {
	[RT_NS_PID] = "pid",       [RT_NS_NET] = "network", [RT_NS_IPC] = "ipc",
	[RT_NS_UTS] = "uts",       [RT_NS_MNT] = "mount",   [RT_NS_USER] = "user",
	[RT_NS_CGROUP] = "cgroup", [RT_NS_TIME] = "time",
};

const char *rt_ns_name(enum rt_ns_type t)
{
	return ns_names[t];
}

static int parse_namespaces(struct rt_config *c, const json_t *linux_, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(linux_, "linux", "namespaces", &arr, err) <= 0)
		return -err->code;
	json_array_foreach (arr, i, v) {
		const char *type = NULL, *p = NULL;
		char path[80];
		int t;

		snprintf(path, sizeof(path), "linux.namespaces[%zu]", i);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", path);
		TRY(jx_str(v, path, "type", &type, err));
		TRY(jx_str(v, path, "path", &p, err));
		if (!type)
			return err_set(err, EINVAL, "%s.type: required", path);
		for (t = 0; t < RT_NS_COUNT; t++)
			if (!strcmp(ns_names[t], type))
				break;
		if (t == RT_NS_COUNT)
			return err_set(err, EINVAL, "%s.type: unknown namespace type '%s'", path,
				       type);
		if (c->ns[t].enabled)
			return err_set(err, EINVAL, "%s.type: namespace '%s' listed twice", path,
				       type);
		if (p && *p && p[0] != '/')
			return err_set(err, EINVAL, "%s.path: an absolute path is required", path);
		c->ns[t].enabled = true;
		c->ns[t].path = p && *p ? xstrdup(p) : NULL;
	}
	return 0;
}

static int parse_devices(struct rt_config *c, const json_t *linux_, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(linux_, "linux", "devices", &arr, err) <= 0)
		return -err->code;
	c->devices = xcalloc(json_array_size(arr), sizeof(*c->devices));
	json_array_foreach (arr, i, v) {
		struct rt_device *d = &c->devices[i];
		const char *p = NULL, *type = NULL;
		char path[80];
		int r;

		snprintf(path, sizeof(path), "linux.devices[%zu]", i);
		c->n_devices++;
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", path);
		TRY(jx_str(v, path, "path", &p, err));
		TRY(jx_str(v, path, "type", &type, err));
		if (!p || p[0] != '/')
			return err_set(err, EINVAL, "%s.path: an absolute path is required", path);
		if (!type || strlen(type) != 1 || !strchr("cbup", type[0]))
			return err_set(err, EINVAL, "%s.type: expected one of c, b, u, p", path);
		d->path = xstrdup(p);
		d->type = type[0];
		d->major = d->minor = 0;
		if (d->type != 'p') {
			if (jx_int(v, path, "major", &d->major, err) <= 0 ||
			    jx_int(v, path, "minor", &d->minor, err) <= 0)
				return err->code ? -err->code
						 : err_set(err, EINVAL,
							   "%s: major and minor are required for "
							   "type '%c'",
							   path, d->type);
		}
		r = jx_u32(v, path, "fileMode", &d->file_mode, err);
		TRY(r);
		d->has_mode = r > 0;
		r = jx_u32(v, path, "uid", &d->uid, err);
		TRY(r);
		d->has_uid = r > 0;
		r = jx_u32(v, path, "gid", &d->gid, err);
		TRY(r);
		d->has_gid = r > 0;
	}
	return 0;
}

static int get_i64(const json_t *o, const char *path, const char *key, int64_t *out,
		   struct err *err)
{
	return jx_int(o, path, key, out, err) < 0 ? -err->code : 0;
}

static int parse_device_rules(struct rt_resources *res, const json_t *r, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(r, "linux.resources", "devices", &arr, err) <= 0)
		return -err->code;
	res->devices = xcalloc(json_array_size(arr), sizeof(*res->devices));
	json_array_foreach (arr, i, v) {
		struct rt_device_rule *d = &res->devices[i];
		const char *type = NULL, *access = NULL;
		char path[80];

		snprintf(path, sizeof(path), "linux.resources.devices[%zu]", i);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", path);
		if (jx_bool(v, path, "allow", &d->allow, err) <= 0)
			return err->code ? -err->code
					 : err_set(err, EINVAL, "%s.allow: required", path);
		TRY(jx_str(v, path, "type", &type, err));
		if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
			return err_set(err, EINVAL, "%s.type: expected one of a, c, b", path);
		d->type = type ? type[0] : 'a';
		d->major = d->minor = -1;
		TRY(jx_int(v, path, "major", &d->major, err));
		TRY(jx_int(v, path, "minor", &d->minor, err));
		TRY(jx_str(v, path, "access", &access, err));
		if (!access)
			access = "rwm";
		if (!*access || strlen(access) > 3 || strspn(access, "rwm") != strlen(access))
			return err_set(err, EINVAL,
				       "%s.access: expected letters of 'rwm', got '%s'", path,
				       access);
		snprintf(d->access, sizeof(d->access), "%s", access);
		res->n_devices++;
	}
	return 0;
}

static void init_resources(struct rt_resources *res)
{
	res->mem_limit = res->mem_reservation = res->mem_swap = res->mem_kernel =
		res->mem_kernel_tcp = res->mem_swappiness = RT_UNSET_I64;
	res->cpu_shares = res->cpu_quota = res->cpu_period = res->cpu_burst = res->cpu_rt_runtime =
		res->cpu_rt_period = res->cpu_idle = RT_UNSET_I64;
	res->pids_limit = res->blkio_weight = res->blkio_leaf_weight = RT_UNSET_I64;
	res->disable_oom_killer = res->use_hierarchy = -1;
}

static int parse_resource_fields(struct rt_resources *res, json_t *rsc, struct err *err)
{
	json_t *o, *arr, *v;
	int r;
	const char *s;
	bool b;
	size_t i;

	if (jx_obj(rsc, "linux.resources", "memory", &o, err) > 0) {
		const char *p = "linux.resources.memory";

		TRY(get_i64(o, p, "limit", &res->mem_limit, err));
		TRY(get_i64(o, p, "reservation", &res->mem_reservation, err));
		TRY(get_i64(o, p, "swap", &res->mem_swap, err));
		TRY(get_i64(o, p, "kernel", &res->mem_kernel, err));
		TRY(get_i64(o, p, "kernelTCP", &res->mem_kernel_tcp, err));
		TRY(get_i64(o, p, "swappiness", &res->mem_swappiness, err));
		if (res->mem_swappiness != RT_UNSET_I64 &&
		    (res->mem_swappiness < 0 || res->mem_swappiness > 100))
			return err_set(err, EINVAL, "%s.swappiness: %lld out of range 0-100", p,
				       (long long)res->mem_swappiness);
		r = jx_bool(o, p, "disableOOMKiller", &b, err);
		TRY(r);
		if (r > 0)
			res->disable_oom_killer = b;
		r = jx_bool(o, p, "useHierarchy", &b, err);
		TRY(r);
		if (r > 0)
			res->use_hierarchy = b;
	}
	TRY(-err->code);
	if (jx_obj(rsc, "linux.resources", "cpu", &o, err) > 0) {
		const char *p = "linux.resources.cpu";

		TRY(get_i64(o, p, "shares", &res->cpu_shares, err));
		TRY(get_i64(o, p, "quota", &res->cpu_quota, err));
		TRY(get_i64(o, p, "burst", &res->cpu_burst, err));
		TRY(get_i64(o, p, "period", &res->cpu_period, err));
		TRY(get_i64(o, p, "realtimeRuntime", &res->cpu_rt_runtime, err));
		TRY(get_i64(o, p, "realtimePeriod", &res->cpu_rt_period, err));
		TRY(get_i64(o, p, "idle", &res->cpu_idle, err));
		s = NULL;
		TRY(jx_str(o, p, "cpus", &s, err));
		res->cpuset_cpus = dup_or_null(s && *s ? s : NULL);
		s = NULL;
		TRY(jx_str(o, p, "mems", &s, err));
		res->cpuset_mems = dup_or_null(s && *s ? s : NULL);
	}
	TRY(-err->code);
	if (jx_obj(rsc, "linux.resources", "pids", &o, err) > 0)
		TRY(get_i64(o, "linux.resources.pids", "limit", &res->pids_limit, err));
	TRY(-err->code);
	if (jx_obj(rsc, "linux.resources", "blockIO", &o, err) > 0) {
		TRY(get_i64(o, "linux.resources.blockIO", "weight", &res->blkio_weight, err));
		TRY(get_i64(o, "linux.resources.blockIO", "leafWeight", &res->blkio_leaf_weight,
			    err));
		res->blkio = o;
	}
	TRY(-err->code);
	if (jx_arr(rsc, "linux.resources", "hugepageLimits", &arr, err) > 0) {
		res->hugepages = xcalloc(json_array_size(arr), sizeof(*res->hugepages));
		json_array_foreach (arr, i, v) {
			struct rt_hugepage_limit *h = &res->hugepages[i];
			char path[80];

			snprintf(path, sizeof(path), "linux.resources.hugepageLimits[%zu]", i);
			s = NULL;
			if (!json_is_object(v))
				return err_set(err, EINVAL, "%s: expected object", path);
			TRY(jx_str(v, path, "pageSize", &s, err));
			if (!s || !*s || strchr(s, '/'))
				return err_set(err, EINVAL, "%s.pageSize: required, like '2MB'",
					       path);
			if (jx_uint(v, path, "limit", &h->limit, err) <= 0)
				return err->code ? -err->code
						 : err_set(err, EINVAL, "%s.limit: required", path);
			h->page_size = xstrdup(s);
			res->n_hugepages++;
		}
	}
	TRY(-err->code);
	TRY(parse_device_rules(res, rsc, err));
	if (jx_obj(rsc, "linux.resources", "unified", &res->unified, err) > 0) {
		const char *k;

		json_object_foreach (res->unified, k, v) {
			if (!json_is_string(v))
				return err_set(err, EINVAL,
					       "linux.resources.unified.%s: expected string", k);
			if (strchr(k, '/') || !strcmp(k, "..") || !strcmp(k, "."))
				return err_set(err, EINVAL,
					       "linux.resources.unified: invalid key '%s'", k);
		}
	}
	TRY(-err->code);
	TRY(jx_obj(rsc, "linux.resources", "network", &res->network, err));
	return 0;
}

static int parse_resources(struct rt_config *c, const json_t *linux_, struct err *err)
{
	struct rt_resources *res = &c->res;
	json_t *r;

	if (jx_obj(linux_, "linux", "resources", &r, err) <= 0)
		return -err->code;
	c->has_resources = true;
	return parse_resource_fields(res, r, err);
}

int rt_resources_parse(json_t *obj, struct rt_resources *ret, struct err *err)
{
	memset(ret, 0, sizeof(*ret));
	init_resources(ret);
	if (!json_is_object(obj))
		return err_set(err, EINVAL, "linux.resources: expected object");
	if (parse_resource_fields(ret, obj, err) < 0) {
		rt_resources_done(ret);
		return -err->code;
	}
	return 0;
}

void rt_resources_done(struct rt_resources *res)
{
	free(res->cpuset_cpus);
	free(res->cpuset_mems);
	for (size_t i = 0; i < res->n_hugepages; i++)
		free(res->hugepages[i].page_size);
	free(res->hugepages);
	free(res->devices);
	memset(res, 0, sizeof(*res));
}

static int parse_propagation(const char *s, unsigned long *ret)
{
	for (size_t k = 0; k < sizeof(mount_opts) / sizeof(mount_opts[0]); k++)
		if (mount_opts[k].kind == OPT_PROP && !strcmp(mount_opts[k].name, s)) {
			*ret = mount_opts[k].flag;
			return 0;
		}
	return -EINVAL;
}

static int parse_time_offsets(struct rt_config *c, const json_t *linux_, struct err *err)
{
	static const char *const clocks[] = {"monotonic", "boottime"};
	json_t *t, *o;

	if (jx_obj(linux_, "linux", "timeOffsets", &t, err) <= 0)
		return -err->code;
	c->has_time_offsets = true;
	for (int k = 0; k < 2; k++) {
		char path[80];
		uint32_t ns = 0;

		snprintf(path, sizeof(path), "linux.timeOffsets.%s", clocks[k]);
		if (jx_obj(t, "linux.timeOffsets", clocks[k], &o, err) <= 0) {
			TRY(-err->code);
			continue;
		}
		TRY(get_i64(o, path, "secs", &c->time_offsets[k][0], err));
		TRY(jx_u32(o, path, "nanosecs", &ns, err));
		if (ns >= 1000000000u)
			return err_set(err, EINVAL, "%s.nanosecs: must be below 1000000000", path);
		c->time_offsets[k][1] = ns;
	}
	return 0;
}

static int parse_memory_policy(struct rt_config *c, const json_t *linux_, struct err *err)
{
	static const struct {
		const char *name;
		int value;
	} modes[] =
		{
			{"MPOL_DEFAULT", 0},
			{"MPOL_PREFERRED", 1},
			{"MPOL_BIND", 2},
			{"MPOL_INTERLEAVE", 3},
			{"MPOL_LOCAL", 4},
			{"MPOL_PREFERRED_MANY", 5},
			{"MPOL_WEIGHTED_INTERLEAVE", 6},
		},
	  flags[] = {
		  {"MPOL_F_NUMA_BALANCING", 1 << 13},
		  {"MPOL_F_RELATIVE_NODES", 1 << 14},
		  {"MPOL_F_STATIC_NODES", 1 << 15},
	  };
	const char *path = "linux.memoryPolicy", *mode = NULL, *nodes = NULL;
	json_t *o, *arr, *v;
	cpu_set_t set;
	size_t i, k;

	if (jx_obj(linux_, "linux", "memoryPolicy", &o, err) <= 0)
		return -err->code;
	TRY(jx_str(o, path, "mode", &mode, err));
	for (k = 0; mode && k < sizeof(modes) / sizeof(modes[0]); k++)
		if (!strcmp(modes[k].name, mode))
			break;
	if (!mode || k == sizeof(modes) / sizeof(modes[0]))
		return err_set(err, EINVAL, "%s.mode: unknown mode '%s'", path, mode ? mode : "");
	c->mpol_mode = modes[k].value;
	TRY(jx_str(o, path, "nodes", &nodes, err));
	/* a node list has the shape of a cpu list */
	if (nodes && *nodes && rt_cpulist_parse(nodes, &set) < 0)
		return err_set(err, EINVAL, "%s.nodes: invalid node list '%s'", path, nodes);
	c->mpol_nodes = nodes && *nodes ? xstrdup(nodes) : NULL;
	if (jx_arr(o, path, "flags", &arr, err) > 0) {
		json_array_foreach (arr, i, v) {
			const char *f = json_string_value(v);

			for (k = 0; f && k < sizeof(flags) / sizeof(flags[0]); k++)
				if (!strcmp(flags[k].name, f))
					break;
			if (!f || k == sizeof(flags) / sizeof(flags[0]))
				return err_set(err, EINVAL, "%s.flags[%zu]: unknown flag", path, i);
			c->mpol_mode |= flags[k].value;
		}
	}
	TRY(-err->code);
	c->has_memory_policy = true;
	return 0;
}

static int parse_linux(struct rt_config *c, const json_t *root, struct err *err)
{
	json_t *linux_, *o, *v;
	const char *s = NULL, *k;

	if (jx_obj(root, "", "linux", &linux_, err) <= 0) {
		TRY(-err->code);
		/* without a linux section only the caller's namespaces are used */
		return 0;
	}
	TRY(parse_namespaces(c, linux_, err));
	TRY(parse_id_maps(linux_, "linux", "uidMappings", &c->uid_maps, &c->n_uid_maps, err));
	TRY(parse_id_maps(linux_, "linux", "gidMappings", &c->gid_maps, &c->n_gid_maps, err));
	if ((c->n_uid_maps || c->n_gid_maps) && !c->ns[RT_NS_USER].enabled)
		return err_set(err, EINVAL, "linux.%s: given without a user namespace",
			       c->n_uid_maps ? "uidMappings" : "gidMappings");
	if (c->ns[RT_NS_USER].enabled && !c->ns[RT_NS_USER].path &&
	    (!c->n_uid_maps || !c->n_gid_maps))
		return err_set(err, EINVAL,
			       "linux.uidMappings: a new user namespace needs uidMappings and "
			       "gidMappings");
	TRY(parse_devices(c, linux_, err));
	TRY(jx_str(linux_, "linux", "cgroupsPath", &s, err));
	c->cgroups_path = dup_or_null(s && *s ? s : NULL);
	TRY(parse_resources(c, linux_, err));
	if (jx_obj(linux_, "linux", "sysctl", &o, err) > 0) {
		size_t n = 0;

		c->sysctl = xcalloc(2 * json_object_size(o) + 1, sizeof(char *));
		json_object_foreach (o, k, v) {
			if (!json_is_string(v))
				return err_set(err, EINVAL, "linux.sysctl.%s: expected string", k);
			if (!*k || strstr(k, "..") || k[0] == '/' || k[0] == '.')
				return err_set(err, EINVAL, "linux.sysctl: invalid key '%s'", k);
			c->sysctl[n++] = xstrdup(k);
			c->sysctl[n++] = xstrdup(json_string_value(v));
		}
	}
	TRY(-err->code);
	TRY(jx_strv(linux_, "linux", "maskedPaths", &c->masked_paths, err));
	TRY(jx_strv(linux_, "linux", "readonlyPaths", &c->readonly_paths, err));
	s = NULL;
	TRY(jx_str(linux_, "linux", "rootfsPropagation", &s, err));
	if (s && *s && parse_propagation(s, &c->rootfs_propagation) < 0)
		return err_set(err, EINVAL, "linux.rootfsPropagation: unknown propagation '%s'", s);
	TRY(parse_time_offsets(c, linux_, err));
	if (c->has_time_offsets && !c->ns[RT_NS_TIME].enabled)
		return err_set(err, EINVAL, "linux.timeOffsets: given without a time namespace");
	TRY(jx_obj(linux_, "linux", "seccomp", &c->seccomp, err));
	s = NULL;
	TRY(jx_str(linux_, "linux", "mountLabel", &s, err));
	c->mount_label = dup_or_null(s && *s ? s : NULL);
	TRY(parse_memory_policy(c, linux_, err));
	if (jx_obj(linux_, "linux", "netDevices", &o, err) > 0 && json_object_size(o))
		return err_set(err, EOPNOTSUPP,
			       "linux.netDevices: moving network devices into the container is not "
			       "supported by this runtime");
	TRY(-err->code);
	if (jx_obj(linux_, "linux", "intelRdt", &o, err) > 0)
		return err_set(err, EOPNOTSUPP,
			       "linux.intelRdt: Intel RDT is not supported by this runtime");
	TRY(-err->code);
	if (jx_obj(linux_, "linux", "personality", &o, err) > 0) {
		s = NULL;
		TRY(jx_str(o, "linux.personality", "domain", &s, err));
		if (!s || (strcmp(s, "LINUX") && strcmp(s, "LINUX32")))
			return err_set(err, EINVAL,
				       "linux.personality.domain: expected 'LINUX' or 'LINUX32'");
		c->has_personality = true;
		c->personality = strcmp(s, "LINUX32") ? PER_LINUX : PER_LINUX32;
	}
	TRY(-err->code);
	return 0;
}

/* ---- top level ---- */

static int parse_root(struct rt_config *c, const json_t *root, const char *bundle, struct err *err)
{
	const char *p = NULL;
	json_t *o;

	if (jx_obj(root, "", "root", &o, err) <= 0)
		return err->code ? -err->code : err_set(err, EINVAL, "root: required");
	TRY(jx_str(o, "root", "path", &p, err));
	if (!p || !*p)
		return err_set(err, EINVAL, "root.path: required");
	TRY(jx_bool(o, "root", "readonly", &c->root_readonly, err));
	c->root_path = p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", bundle, p);
	return 0;
}

static int parse_all(struct rt_config *c, const char *bundle, struct err *err)
{
	const json_t *root = c->json;
	const char *s = NULL;

	if (!json_is_object(root))
		return err_set(err, EINVAL, "expected a JSON object");
	TRY(jx_str(root, "", "ociVersion", &s, err));
	if (!s)
		return err_set(err, EINVAL, "ociVersion: required");
	if (strncmp(s, "1.", 2) != 0)
		return err_set(err, EINVAL,
			       "ociVersion: unsupported version '%s' (this runtime supports 1.x)",
			       s);
	c->oci_version = xstrdup(s);
	init_resources(&c->res);
	TRY(parse_root(c, root, bundle, err));
	s = NULL;
	TRY(jx_str(root, "", "hostname", &s, err));
	c->hostname = dup_or_null(s);
	s = NULL;
	TRY(jx_str(root, "", "domainname", &s, err));
	c->domainname = dup_or_null(s);
	TRY(parse_process(c, root, err));
	TRY(parse_mounts(c, root, bundle, err));
	TRY(parse_hooks(c, root, err));
	TRY(jx_obj(root, "", "annotations", &c->annotations, err));
	TRY(parse_linux(c, root, err));
	for (size_t i = 0; i < c->n_mounts; i++)
		if (c->mounts[i].idmap && !c->mounts[i].n_uid_maps && !c->n_uid_maps)
			return err_set(
				err, EINVAL,
				"mounts[%zu]: idmap needs uidMappings and gidMappings on the "
				"mount or in linux",
				i);
	if (c->hostname && *c->hostname && !c->ns[RT_NS_UTS].enabled)
		return err_set(err, EINVAL, "hostname: setting it needs a new uts namespace");
	if (c->hostname && c->ns[RT_NS_UTS].path)
		return err_set(err, EINVAL,
			       "hostname: cannot be set when joining an existing uts namespace");
	return 0;
}

int rt_config_parse(const char *text, size_t len, const char *bundle, struct rt_config **ret,
		    struct err *err)
{
	struct rt_config *c = xcalloc(1, sizeof(*c));
	int r;

	r = jx_parse(text, len, "config.json", &c->json, err);
	if (r < 0) {
		free(c);
		return r;
	}
	r = parse_all(c, bundle, err);
	if (r < 0) {
		rt_config_free(c);
		return err_wrap(err, "config.json");
	}
	*ret = c;
	return 0;
}

void rt_config_free(struct rt_config *c)
{
	if (!c)
		return;
	free(c->oci_version);
	free(c->root_path);
	free(c->hostname);
	free(c->domainname);
	rt_process_done(&c->process);
	for (size_t i = 0; i < c->n_mounts; i++) {
		free(c->mounts[i].destination);
		free(c->mounts[i].type);
		free(c->mounts[i].source);
		free(c->mounts[i].data);
		free(c->mounts[i].uid_maps);
		free(c->mounts[i].gid_maps);
	}
	free(c->mounts);
	for (int k = 0; k < RT_HOOK_COUNT; k++)
		rt_hooks_done(&c->hooks[k]);
	for (int t = 0; t < RT_NS_COUNT; t++)
		free(c->ns[t].path);
	free(c->uid_maps);
	free(c->gid_maps);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i].path);
	free(c->devices);
	free(c->cgroups_path);
	rt_resources_done(&c->res);
	strv_free(c->sysctl);
	strv_free(c->masked_paths);
	strv_free(c->readonly_paths);
	free(c->mount_label);
	free(c->mpol_nodes);
	json_decref(c->json);
	free(c);
}
