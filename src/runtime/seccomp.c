/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux.seccomp (runtime-spec config-linux.md#seccomp): validates the profile and compiles
 * it with libseccomp into a BPF program in the runtime process (container.c), so a bad
 * profile fails create with its JSON path before any container process exists. The
 * container process (init.c) only hands the finished program to the kernel.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <seccomp.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "base/log.h"
#include "runtime/internal.h"

#define PATH_LEN      64 /* "linux.seccomp.syscalls[N]" */
#define ARG_PATH_LEN  (PATH_LEN + 32)
#define ARG_INDEX_MAX 5
/* runc's threshold: libseccomp <= 2.5.4 builds a broken tree for tiny rule sets */
#define OPTIMIZE_MIN_RULES 32

struct rt_seccomp {
	struct sock_filter *insns;
	unsigned short len;
	unsigned int flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

static void ctx_release(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

#define cleanup_scmp __attribute__((cleanup(ctx_release)))

static const struct {
	const char *name;
	uint32_t action;
	bool takes_errno; /* errnoRet is its data (errno, or the value a tracer sees) */
} actions[] = {
	{"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},
	{"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
	{"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
	{"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
	{"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
	{"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
	{"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
	{"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
	{"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
};

static const struct {
	const char *name;
	enum scmp_compare op;
} operators[] = {
	{"SCMP_CMP_NE", SCMP_CMP_NE},
	{"SCMP_CMP_LT", SCMP_CMP_LT},
	{"SCMP_CMP_LE", SCMP_CMP_LE},
	{"SCMP_CMP_EQ", SCMP_CMP_EQ},
	{"SCMP_CMP_GE", SCMP_CMP_GE},
	{"SCMP_CMP_GT", SCMP_CMP_GT},
	{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
	const char *name;
	enum scmp_filter_attr attr;
	unsigned int kernel_flag;
} flags[] = {
	{"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, SECCOMP_FILTER_FLAG_TSYNC},
	{"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, SECCOMP_FILTER_FLAG_LOG},
	{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, SECCOMP_FILTER_FLAG_SPEC_ALLOW},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Reads the action named by @obj.@key and the errno that goes with it from @obj.@errno_key
 * (EPERM when absent; the spec forbids it for actions that carry no errno).
 */
static int parse_action(const json_t *obj, const char *path, const char *key, const char *errno_key,
			uint32_t *ret, struct err *err)
{
	const char *name = NULL;
	uint32_t errno_ret = EPERM;
	int has_errno;
	size_t i;

	if (jx_str(obj, path, key, &name, err) < 0)
		return -err->code;
	if (!name || !*name)
		return err_set(err, EINVAL, "%s.%s: required", path, key);
	for (i = 0; i < N_ELEMS(actions); i++)
		if (!strcmp(actions[i].name, name))
			break;
	if (i == N_ELEMS(actions))
		return err_set(err, EINVAL, "%s.%s: unknown action '%s'", path, key, name);
	has_errno = jx_u32(obj, path, errno_key, &errno_ret, err);
	if (has_errno < 0)
		return has_errno;
	if (has_errno && !actions[i].takes_errno)
		return err_set(err, EINVAL, "%s.%s: not valid with %s", path, errno_key, name);
	/* the kernel keeps 16 bits of an action's data */
	if (errno_ret > 0xffff)
		return err_set(err, EINVAL, "%s.%s: %u is out of range (0 to 65535)", path,
			       errno_key, errno_ret);
	*ret = actions[i].action | (actions[i].takes_errno ? errno_ret : 0);
	return 0;
}

/* libseccomp's token for "SCMP_ARCH_X86_64" is "x86_64"; 0 when it knows no such name. */
static uint32_t arch_from_name(const char *name)
{
	const char *suffix = name + strlen("SCMP_ARCH_");
	char lower[32];
	size_t i;

	if (strncmp(name, "SCMP_ARCH_", strlen("SCMP_ARCH_")) || !*suffix ||
	    strlen(suffix) >= sizeof(lower))
		return 0;
	for (i = 0; suffix[i]; i++) {
		if (suffix[i] >= 'a' && suffix[i] <= 'z')
			return 0;
		lower[i] = suffix[i] >= 'A' && suffix[i] <= 'Z' ? (char)(suffix[i] - 'A' + 'a')
								: suffix[i];
	}
	lower[i] = '\0';
	return seccomp_arch_resolve_name(lower);
}

static int add_architectures(scmp_filter_ctx ctx, const json_t *sc, struct err *err)
{
	json_t *arr, *v;
	size_t i;

	if (jx_arr(sc, "linux.seccomp", "architectures", &arr, err) <= 0)
		return -err->code;
	json_array_foreach (arr, i, v) {
		const char *name = json_string_value(v);
		uint32_t arch;
		int r;

		if (!name)
			return err_set(err, EINVAL,
				       "linux.seccomp.architectures[%zu]: expected string", i);
		arch = arch_from_name(name);
		if (!arch)
			return err_set(
				err, EINVAL,
				"linux.seccomp.architectures[%zu]: unknown architecture '%s'", i,
				name);
		r = seccomp_arch_add(ctx, arch);
		/* the native architecture is in every new filter already */
		if (r < 0 && r != -EEXIST)
			return err_errno(err, r, "linux.seccomp.architectures[%zu]: add '%s'", i,
					 name);
	}
	return 0;
}

/* Sets the libseccomp attribute of each flag (which checks kernel support) and collects them. */
static int set_flags(scmp_filter_ctx ctx, const json_t *sc, unsigned int *ret, struct err *err)
{
	json_t *arr, *v;
	size_t i;
	int r;

	r = jx_arr(sc, "linux.seccomp", "flags", &arr, err);
	if (r < 0)
		return r;
	if (r == 0) {
		/*
		 * No flags at all (not even an empty list): like runc, skip the speculative
		 * store bypass mitigation the kernel would force on the container when it can.
		 */
		if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1) == 0)
			*ret |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
		return 0;
	}
	json_array_foreach (arr, i, v) {
		const char *name = json_string_value(v);
		size_t k;

		if (!name)
			return err_set(err, EINVAL, "linux.seccomp.flags[%zu]: expected string", i);
		for (k = 0; k < N_ELEMS(flags); k++)
			if (!strcmp(flags[k].name, name))
				break;
		if (k == N_ELEMS(flags)) {
			if (!strcmp(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"))
				return err_set(err, EOPNOTSUPP,
					       "linux.seccomp.flags[%zu]: '%s' is not supported", i,
					       name);
			return err_set(err, EINVAL, "linux.seccomp.flags[%zu]: unknown flag '%s'",
				       i, name);
		}
		r = seccomp_attr_set(ctx, flags[k].attr, 1);
		if (r < 0)
			return err_errno(err, r, "linux.seccomp.flags[%zu]: enable '%s'", i, name);
		*ret |= flags[k].kernel_flag;
	}
	return 0;
}

/* One rule's argument conditions; @ret_shared: some argument index appears twice. */
static int parse_args(const json_t *call, const char *path, struct scmp_arg_cmp **ret,
		      size_t *ret_n, bool *ret_shared, struct err *err)
{
	cleanup_free struct scmp_arg_cmp *conds = NULL;
	unsigned int seen = 0;
	bool shared = false;
	json_t *arr, *v;
	size_t i;
	int r;

	r = jx_arr(call, path, "args", &arr, err);
	if (r <= 0)
		return r;
	conds = xcalloc(json_array_size(arr) + 1, sizeof(*conds));
	json_array_foreach (arr, i, v) {
		char apath[ARG_PATH_LEN];
		const char *op = NULL;
		uint32_t index;
		uint64_t value = 0, value_two = 0;
		size_t k;

		snprintf(apath, sizeof(apath), "%s.args[%zu]", path, i);
		if (!json_is_object(v))
			return err_set(err, EINVAL, "%s: expected object", apath);
		r = jx_u32(v, apath, "index", &index, err);
		if (r <= 0)
			return r < 0 ? r : err_set(err, EINVAL, "%s.index: required", apath);
		if (index > ARG_INDEX_MAX)
			return err_set(
				err, EINVAL,
				"%s.index: %u is out of range (a syscall has arguments 0 to %d)",
				apath, index, ARG_INDEX_MAX);
		/* a missing value is 0, as runc reads it */
		if (jx_uint(v, apath, "value", &value, err) < 0 ||
		    jx_uint(v, apath, "valueTwo", &value_two, err) < 0 ||
		    jx_str(v, apath, "op", &op, err) < 0)
			return -err->code;
		if (!op)
			return err_set(err, EINVAL, "%s.op: required", apath);
		for (k = 0; k < N_ELEMS(operators); k++)
			if (!strcmp(operators[k].name, op))
				break;
		if (k == N_ELEMS(operators))
			return err_set(err, EINVAL, "%s.op: unknown operator '%s'", apath, op);
		if (seen & (1U << index))
			shared = true;
		seen |= 1U << index;
		/* for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum */
		conds[i] = (struct scmp_arg_cmp){.arg = index,
						 .op = operators[k].op,
						 .datum_a = value,
						 .datum_b = value_two};
	}
	*ret = TAKE_PTR(conds);
	*ret_n = json_array_size(arr);
	*ret_shared = shared;
	return 0;
}

/*
 * Adds @name's rules. Conditions on distinct arguments are AND-ed in one rule; when an
 * argument index repeats, every condition becomes a rule of its own (OR), as runc and
 * crun read such profiles.
 */
static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, const struct scmp_arg_cmp *conds,
		    size_t n, bool shared)
{
	if (!shared)
		return seccomp_rule_add_array(ctx, action, nr, (unsigned int)n, conds);
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add_array(ctx, action, nr, 1, &conds[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

static int add_syscall(scmp_filter_ctx ctx, uint32_t default_action, const json_t *call,
		       const char *path, bool *ret_notify, struct err *err)
{
	cleanup_free struct scmp_arg_cmp *conds = NULL;
	size_t n_conds = 0, i;
	bool shared = false;
	uint32_t action;
	json_t *names, *v;
	int r;

	if (!json_is_object(call))
		return err_set(err, EINVAL, "%s: expected object", path);
	r = jx_arr(call, path, "names", &names, err);
	if (r < 0)
		return r;
	if (r == 0 || json_array_size(names) == 0)
		return err_set(err, EINVAL, "%s.names: required", path);
	if (parse_action(call, path, "action", "errnoRet", &action, err) < 0 ||
	    parse_args(call, path, &conds, &n_conds, &shared, err) < 0)
		return -err->code;
	if (action == SCMP_ACT_NOTIFY)
		*ret_notify = true;
	json_array_foreach (names, i, v) {
		const char *name = json_string_value(v);
		int nr;

		if (!name || !*name)
			return err_set(err, EINVAL, "%s.names[%zu]: expected syscall name", path,
				       i);
		/* libseccomp rejects a rule that repeats the default */
		if (action == default_action)
			continue;
		nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR) {
			/* a syscall newer than libseccomp, as runc treats it */
			log_debug("%s.names[%zu]: syscall '%s' not found, ignoring", path, i, name);
			continue;
		}
		r = add_rule(ctx, action, nr, conds, n_conds, shared);
		if (r < 0)
			return err_errno(err, r, "%s.names[%zu]: add rule for '%s'", path, i, name);
	}
	return 0;
}

static int add_syscalls(scmp_filter_ctx ctx, uint32_t default_action, const json_t *sc,
			bool *ret_notify, struct err *err)
{
	size_t n_rules = 0, i;
	json_t *arr, *v;
	int r;

	r = jx_arr(sc, "linux.seccomp", "syscalls", &arr, err);
	if (r <= 0)
		return r;
	json_array_foreach (arr, i, v)
		n_rules += json_array_size(json_object_get(v, "names"));
	if (n_rules > OPTIMIZE_MIN_RULES && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0)
		log_debug("linux.seccomp: binary tree optimization not available, ignoring");
	json_array_foreach (arr, i, v) {
		char path[PATH_LEN];

		snprintf(path, sizeof(path), "linux.seccomp.syscalls[%zu]", i);
		if (add_syscall(ctx, default_action, v, path, ret_notify, err) < 0)
			return -err->code;
	}
	return 0;
}

/*
 * Seccomp agents (listenerPath) need the notify fd sent over a socket on the host, by
 * a process that outlives the filter load; the container process cannot reach the host
 * path after pivot_root, and with noNewPrivileges the load happens after create has
 * returned. Until that exists, refuse profiles that would need it.
 */
static int check_listener(const json_t *sc, bool notify, struct err *err)
{
	const char *listener = NULL, *metadata = NULL;

	if (jx_str(sc, "linux.seccomp", "listenerPath", &listener, err) < 0 ||
	    jx_str(sc, "linux.seccomp", "listenerMetadata", &metadata, err) < 0)
		return -err->code;
	if (metadata && (!listener || !*listener))
		return err_set(err, EINVAL,
			       "linux.seccomp.listenerMetadata: given without listenerPath");
	if (!notify)
		return 0;
	if (!listener || !*listener)
		return err_set(err, EINVAL, "linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath");
	return err_set(err, EOPNOTSUPP,
		       "linux.seccomp: SCMP_ACT_NOTIFY with listenerPath '%s': seccomp agents are "
		       "not supported by this runtime",
		       listener);
}

/* The compiled program, as libseccomp would load it. */
static int export_program(scmp_filter_ctx ctx, struct rt_seccomp *s, struct err *err)
{
	cleanup_close int fd = -1;
	struct stat st;
	size_t n;
	int r;

	fd = memfd_create("skiff-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "linux.seccomp: create memfd for the filter");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_errno(err, r, "linux.seccomp: generate the filter");
	if (fstat(fd, &st) < 0)
		return err_sys(err, "linux.seccomp: stat the filter");
	n = (size_t)st.st_size / sizeof(struct sock_filter);
	if (n == 0 || (size_t)st.st_size % sizeof(struct sock_filter))
		return err_set(err, EPROTO, "linux.seccomp: libseccomp wrote %lld bytes of filter",
			       (long long)st.st_size);
	if (n > BPF_MAXINSNS)
		return err_set(err, E2BIG,
			       "linux.seccomp: the filter has %zu instructions, more than the "
			       "kernel's limit of %d",
			       n, BPF_MAXINSNS);
	s->insns = xmalloc((size_t)st.st_size);
	for (size_t done = 0; done < (size_t)st.st_size;) {
		ssize_t k =
			pread(fd, (char *)s->insns + done, (size_t)st.st_size - done, (off_t)done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? err_sys(err, "linux.seccomp: read the filter")
				     : err_set(err, EPROTO, "linux.seccomp: short filter");
		done += (size_t)k;
	}
	s->len = (unsigned short)n;
	return 0;
}

static bool no_syscalls(const json_t *sc)
{
	const json_t *calls = json_object_get(sc, "syscalls");

	return !calls || json_is_null(calls) || (json_is_array(calls) && !json_array_size(calls));
}

int rt_seccomp_build(const json_t *sc, struct rt_seccomp **ret, struct err *err)
{
	cleanup_scmp scmp_filter_ctx ctx = NULL;
	struct rt_seccomp *s = NULL;
	uint32_t default_action;
	const char *name = NULL;
	bool notify = false;
	unsigned int kernel_flags = 0;

	if (!sc) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_object(sc))
		return err_set(err, EINVAL, "linux.seccomp: expected object");
	if (jx_str(sc, "linux.seccomp", "defaultAction", &name, err) < 0)
		return -err->code;
	/* runc reads a profile with neither defaultAction nor syscalls as no profile */
	if ((!name || !*name) && no_syscalls(sc)) {
		*ret = NULL;
		return 0;
	}
	if (parse_action(sc, "linux.seccomp", "defaultAction", "defaultErrnoRet", &default_action,
			 err) < 0)
		return -err->code;
	/* the container could not even report the notify fd: every syscall would wait */
	if (default_action == SCMP_ACT_NOTIFY)
		return err_set(
			err, EINVAL,
			"linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default");
	ctx = seccomp_init(default_action);
	if (!ctx)
		return err_set(err, EOPNOTSUPP,
			       "linux.seccomp.defaultAction: '%s' is not supported by the kernel",
			       name);
	if (add_architectures(ctx, sc, err) < 0 || set_flags(ctx, sc, &kernel_flags, err) < 0 ||
	    add_syscalls(ctx, default_action, sc, &notify, err) < 0 ||
	    check_listener(sc, notify, err) < 0)
		return -err->code;
	s = xcalloc(1, sizeof(*s));
	s->flags = kernel_flags;
	if (export_program(ctx, s, err) < 0) {
		rt_seccomp_free(s);
		return -err->code;
	}
	*ret = s;
	return 0;
}

int rt_seccomp_load(struct rt_seccomp *s, struct err *err)
{
	struct sock_fprog prog;
	long r;

	if (!s)
		return 0;
	prog = (struct sock_fprog){.len = s->len, .filter = s->insns};
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->flags, &prog);
	if (r == 0)
		return 0;
	/* with SECCOMP_FILTER_FLAG_TSYNC: the thread that could not take the filter */
	if (r > 0)
		return err_set(err, EBUSY, "load the linux.seccomp filter: thread %ld differs", r);
	/* kernels before 3.17 have only the prctl, which takes no flags */
	if (errno == ENOSYS && !s->flags && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
		return 0;
	return err_sys(err, "load the linux.seccomp filter");
}

void rt_seccomp_free(struct rt_seccomp *s)
{
	if (!s)
		return;
	free(s->insns);
	free(s);
}
