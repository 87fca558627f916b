/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private parts of the cgroup manager: the host layout (cgroup.c), the container's
 * directories, the resource writers of cgroup_v1.c and cgroup_v2.c, and the pure helpers
 * (parsing, path resolution, unit conversions) that tests/unit/test_cgroup.c calls.
 */
#ifndef SKIFF_RUNTIME_CGROUP_INTERNAL_H
#define SKIFF_RUNTIME_CGROUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct err;
struct rt_device_rule;
struct rt_resources;

enum cg_mode {
	CG_MODE_V1,     /* only cgroup v1 hierarchies */
	CG_MODE_V2,     /* only the unified hierarchy */
	CG_MODE_HYBRID, /* v1 controllers plus a cgroup2 mount (systemd's "hybrid") */
};

/* Controllers as bits; v1 and v2 names share one table ("blkio" is v1, "io" is v2). */
enum cg_controller {
	CG_CPU = 1u << 0,
	CG_CPUACCT = 1u << 1,
	CG_CPUSET = 1u << 2,
	CG_MEMORY = 1u << 3,
	CG_DEVICES = 1u << 4,
	CG_FREEZER = 1u << 5,
	CG_BLKIO = 1u << 6,
	CG_PIDS = 1u << 7,
	CG_HUGETLB = 1u << 8,
	CG_NET_CLS = 1u << 9,
	CG_NET_PRIO = 1u << 10,
	CG_PERF_EVENT = 1u << 11,
	CG_RDMA = 1u << 12,
	CG_MISC = 1u << 13,
	CG_DEBUG = 1u << 14,
	CG_IO = 1u << 15,
};

/* One mounted hierarchy. */
struct cg_hier {
	char *mountpoint;  /* "/sys/fs/cgroup/memory" */
	char *root;        /* the hierarchy path mounted there ("/" unless a subtree is mounted) */
	char *controllers; /* v1: "cpu,cpuacct", "name=systemd"; v2: "" */
	unsigned mask;     /* v1: CG_* bits of @controllers; v2: 0 */
	bool v2;
	unsigned dev_major, dev_minor; /* the superblock, to drop duplicate mounts */
	char *own;                     /* the caller's cgroup here; NULL until needed */
};

struct cg_layout {
	enum cg_mode mode;
	struct cg_hier *hier; /* v1 hierarchies in mount order, then the unified one */
	size_t n;
	int unified;       /* index of the cgroup2 hierarchy; -1 when none */
	unsigned v2_avail; /* controllers in the unified root's cgroup.controllers */
	bool v2_avail_known;
};

/* One directory of the container's cgroup, in one hierarchy. */
struct cg_dir {
	char *path;        /* absolute */
	char *controllers; /* as in struct cg_hier */
	unsigned mask;
	bool v2;
	bool optional;    /* hybrid unified dir no resource needs: failures there are ignored */
	unsigned created; /* trailing path components this cgroup created (removed on destroy) */
	size_t floor;     /* length of the mount point prefix of @path; 0 after load */
	int fd;           /* O_PATH directory fd; -1 when not open */
};

struct rt_cgroup {
	enum cg_mode mode;
	struct cg_dir *dirs;
	size_t n;
};

/* The blockIO throttle lists and their v1 files and v2 io.max keys. */
struct cg_throttle {
	const char *key;
	const char *v1_file;
	const char *v2_key;
};
extern const struct cg_throttle cg_throttles[4];

#define CG_NUM_MAX  24 /* an int64 in decimal, or "max" */
#define CG_RULE_MAX 64

/* ---- pure helpers (unit-tested) ---- */

/* The CG_* bit of controller @name (length @len); 0 when unknown. */
unsigned cg_controller_bit(const char *name, size_t len);
const char *cg_controller_name(unsigned bit);

/*
 * Builds the layout from /proc/self/mountinfo text, keeping only cgroup and cgroup2 mounts
 * (one per superblock) and deciding the mode. ENOENT when no cgroup hierarchy is mounted.
 */
int cg_layout_parse(const char *mountinfo, struct cg_layout *ret, struct err *err);
void cg_layout_done(struct cg_layout *l);

/* The caller's cgroup in hierarchy @h from /proc/self/cgroup text; ENOENT when not listed. */
int cg_own_path(const char *proc_cgroup, const struct cg_hier *h, char **ret, struct err *err);

/*
 * Normalizes cgroupsPath @path into a hierarchy path "/a/b": absolute paths as they are,
 * relative ones below @own. EINVAL for ".." components or a path naming no cgroup.
 */
int cg_path_resolve(const char *path, const char *own, char **ret, struct err *err);

/* True for systemd notation "slice:prefix:name" (two colons, no slash). */
bool cg_path_is_systemd(const char *path);

/*
 * Converts "slice:prefix:name" into its cgroupfs path: "system.slice:skiff:abc" ->
 * "/system.slice/skiff-abc.scope", nested slices expanded ("a-b.slice" -> "/a.slice/a-b.slice").
 */
int cg_systemd_path(const char *path, char **ret, struct err *err);

/* The absolute directory of hierarchy path @path in @h (the mount's root stripped). */
char *cg_hier_dir(const struct cg_hier *h, const char *path);

/* cpu.shares (2..262144) to cpu.weight (1..10000); 0 stays 0 (unset). */
uint64_t cg_shares_to_weight(uint64_t shares);
/* blkio.weight (10..1000) to io.weight (1..10000); 0 stays 0 (unset). */
uint64_t cg_blkio_to_io_weight(uint64_t weight);

/* Formats @v in decimal; cg_fmt_max() writes "max" for negative values (v2 "unlimited"). */
void cg_fmt_i64(char buf[CG_NUM_MAX], int64_t v);
void cg_fmt_max(char buf[CG_NUM_MAX], int64_t v);

/*
 * memory.swap.max from the spec's memory+swap @swap and @limit: -1 (max) for swap -1,
 * swap - limit otherwise. EINVAL when swap is below the limit or no limit is set.
 */
int cg_v2_swap(int64_t limit, int64_t swap, int64_t *ret, struct err *err);

/* A devices.allow/deny line: "c 1:3 rwm", "a *:* rwm". */
void cg_fmt_device_rule(char buf[CG_RULE_MAX], const struct rt_device_rule *r);

/* The value of @key in a flat keyed file ("oom_kill 3\n"); false when absent. */
bool cg_keyed_get(const char *text, const char *key, int64_t *ret);

/* Appends the pids in cgroup.procs text to @pids (@n used, @cap allocated). EPROTO if bad. */
int cg_pids_parse(const char *text, pid_t **pids, size_t *n, size_t *cap, struct err *err);
/* Sorts and removes duplicates; returns the new count. */
size_t cg_pids_sort_unique(pid_t *pids, size_t n);

bool cg_valid_page_size(const char *size);
bool cg_valid_unified_key(const char *key);

/* ---- file access inside one cgroup directory ---- */

/* Opens @file in @d (O_CLOEXEC added); the fd or -errno. */
int cg_open(const struct cg_dir *d, const char *file, int flags);
/* Writes @val to @file in @d; -errno, err untouched. */
int cg_write_raw(const struct cg_dir *d, const char *file, const char *val);
/* Like cg_write_raw(), with "write 'val' to '/dir/file': strerror" in @err. */
int cg_write(const struct cg_dir *d, const char *file, const char *val, struct err *err);
int cg_write_i64(const struct cg_dir *d, const char *file, int64_t v, struct err *err);
/* Sets the error cg_write() would for a failed write returning @r. */
int cg_write_err(const struct cg_dir *d, const char *file, const char *val, int r, struct err *err);
/* Reads a small file into @buf (NUL-terminated); its length or -errno. */
ssize_t cg_read_raw(const struct cg_dir *d, const char *file, char *buf, size_t size);

/* The directory holding controller @bit (v1 hierarchies); NULL when not mounted. */
struct cg_dir *cg_find(const struct rt_cgroup *cg, unsigned bit);
struct cg_dir *cg_unified(const struct rt_cgroup *cg);

/*
 * The array @key of linux.resources.blockIO (NULL when absent) and one of its
 * {major, minor, @field} entries (@field RT_UNSET_I64 when absent and @optional).
 */
int cg_blkio_list(const json_t *blkio, const char *key, json_t **ret, struct err *err);
int cg_blkio_entry(const json_t *e, const char *key, size_t i, const char *field, bool optional,
		   int64_t *ret_major, int64_t *ret_minor, int64_t *ret_val, struct err *err);

/* ---- resources ---- */

/* Controllers the unified hierarchy needs for @res in hybrid mode (hugetlb, unified keys). */
unsigned cg_v2_needed(const struct rt_resources *res, unsigned v1_mask);

/* Applies @res (may be NULL) to the v1 hierarchies. */
int cg_v1_apply(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err);
/* Fills empty cpuset.cpus/mems from the parents so that tasks can join (v1). */
int cg_v1_cpuset_prepare(struct cg_dir *d, const struct rt_resources *res, struct err *err);

/* Applies @res to the unified directory @d (pure v2 mode). */
int cg_v2_apply(struct cg_dir *d, const struct rt_resources *res, struct err *err);
/* hugepageLimits as v2 files (pure v2, or hybrid hosts whose hugetlb is unified). */
int cg_v2_apply_hugetlb(struct cg_dir *d, const struct rt_resources *res, struct err *err);
/* linux.resources.unified, written verbatim (one write per line). */
int cg_v2_apply_unified(struct cg_dir *d, json_t *unified, struct err *err);
/* Enables @mask in cgroup.subtree_control from the mount point down to @d's parent. */
void cg_v2_enable(const struct cg_dir *d, unsigned mask);

/* Applies @res to every hierarchy (create and, later, update). */
int cg_apply(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err);
/* Freezes (or thaws) the cgroup, waiting up to about a second for the freeze to settle. */
/*
 * The BPF_PROG_TYPE_CGROUP_DEVICE program for @rules (a heap array; returns its length).
 * Pure: unit tests run it through an interpreter.
 */
struct bpf_insn;
size_t cg_bpf_devices_program(const struct rt_device_rule *rules, size_t n, struct bpf_insn **ret);
/* Loads the device program for res->devices and attaches it to @d (v2), replacing others. */
int cg_v2_apply_devices(struct cg_dir *d, const struct rt_resources *res, struct err *err);

int cg_set_frozen(const struct rt_cgroup *cg, bool frozen, struct err *err);

#endif
