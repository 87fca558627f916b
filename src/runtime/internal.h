/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private interfaces of the OCI runtime: the parsed config.json, the container
 * state kept under --root, cgroups, mounts, hooks and the container init that runs in the
 * new namespaces. Only src/runtime/ includes this file; commands use runtime.h.
 */
#ifndef SKIFF_RUNTIME_INTERNAL_H
#define SKIFF_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct err;
struct rt_global;

/* ---- config.json (runtime-spec config.md, config-linux.md) ---- */

enum rt_ns_type {
	RT_NS_PID,
	RT_NS_NET,
	RT_NS_IPC,
	RT_NS_UTS,
	RT_NS_MNT,
	RT_NS_USER,
	RT_NS_CGROUP,
	RT_NS_TIME,
	RT_NS_COUNT,
};

struct rt_ns {
	bool enabled; /* listed in linux.namespaces */
	char *path;   /* join this namespace instead of creating one; NULL: new */
};

struct rt_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct rt_id_map {
	uint32_t container_id, host_id, size;
};

struct rt_mount {
	char *destination;
	char *type; /* NULL for a bind mount */
	char *source;
	unsigned long flags;       /* MS_* set by options */
	unsigned long clear_flags; /* MS_* explicitly cleared (rw, suid, dev, exec ...) */
	unsigned long propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE | MS_REC */
	bool bind;
	uint64_t rec_attr_set; /* MOUNT_ATTR_* applied recursively (rro, rnosuid ...) */
	uint64_t rec_attr_clr;
	bool idmap; /* an idmapped bind mount (idmap, ridmap, or mappings given) */
	bool idmap_recursive;
	struct rt_id_map *uid_maps, *gid_maps; /* NULL: the container's own mappings */
	size_t n_uid_maps, n_gid_maps;
	char *data; /* comma-joined options the kernel parses (size=, mode= ...) */
};

struct rt_device {
	char *path;
	char type; /* 'c', 'b', 'u', 'p' */
	int64_t major, minor;
	uint32_t file_mode;
	bool has_mode;
	uint32_t uid, gid;
	bool has_uid, has_gid;
};

struct rt_hook {
	char *path;
	char **args; /* NULL-terminated; may be NULL */
	char **env;  /* NULL-terminated; may be NULL */
	int timeout; /* seconds; 0: none */
};

enum rt_hook_kind {
	RT_HOOK_PRESTART,
	RT_HOOK_CREATE_RUNTIME,
	RT_HOOK_CREATE_CONTAINER,
	RT_HOOK_START_CONTAINER,
	RT_HOOK_POSTSTART,
	RT_HOOK_POSTSTOP,
	RT_HOOK_COUNT,
};

struct rt_hooks {
	struct rt_hook *list;
	size_t n;
};

struct rt_device_rule {
	bool allow;
	char type;            /* 'a', 'c', 'b' */
	int64_t major, minor; /* -1: wildcard */
	char access[4];
};

struct rt_hugepage_limit {
	char *page_size; /* "2MB" */
	uint64_t limit;
};

#define RT_UNSET_I64 INT64_MIN

/* linux.resources; every numeric field is RT_UNSET_I64 when absent. */
struct rt_resources {
	int64_t mem_limit, mem_reservation, mem_swap, mem_kernel, mem_kernel_tcp, mem_swappiness;
	int disable_oom_killer; /* -1 unset */
	int use_hierarchy;      /* -1 unset */
	int64_t cpu_shares, cpu_quota, cpu_period, cpu_burst, cpu_rt_runtime, cpu_rt_period;
	int64_t cpu_idle;
	char *cpuset_cpus, *cpuset_mems;
	int64_t pids_limit;
	int64_t blkio_weight, blkio_leaf_weight;
	json_t *blkio; /* borrowed from the config: throttle and weight device lists */
	struct rt_hugepage_limit *hugepages;
	size_t n_hugepages;
	struct rt_device_rule *devices;
	size_t n_devices;
	json_t *unified; /* borrowed: cgroup v2 key/value map */
	json_t *network; /* borrowed: classID / priorities (v1 net_cls/net_prio) */
};

struct rt_process {
	bool terminal;
	unsigned console_height, console_width;
	uint32_t uid, gid;
	int64_t umask; /* -1 unset */
	uint32_t *additional_gids;
	size_t n_additional_gids;
	char **args; /* NULL-terminated, at least one */
	char **env;  /* NULL-terminated; may be empty */
	char *cwd;
	bool has_caps;
	uint64_t caps[5]; /* effective, bounding, inheritable, permitted, ambient */
	struct rt_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool has_oom_score_adj;
	int oom_score_adj;
	char *apparmor_profile;
	char *selinux_label;
	bool has_scheduler; /* process.scheduler, for sched_setattr(2) */
	struct {
		uint32_t policy;
		int32_t nice;
		uint32_t priority;
		uint64_t flags, runtime, deadline, period;
	} sched;
	bool has_io_priority; /* process.ioPriority */
	int ioprio_class, ioprio_level;
	char *cpu_affinity_initial; /* process.execCPUAffinity: while the runtime sets up */
	char *cpu_affinity_final;   /* ... and for the program */
};

#include <sched.h>
/* Parses a cpu list ("0-3,7") into @set; -EINVAL when malformed or out of range. */
int rt_cpulist_parse(const char *list, cpu_set_t *set);

enum rt_cap_set {
	RT_CAP_EFFECTIVE,
	RT_CAP_BOUNDING,
	RT_CAP_INHERITABLE,
	RT_CAP_PERMITTED,
	RT_CAP_AMBIENT
};

struct rt_config {
	json_t *json; /* the whole document; the borrowed pointers below point into it */
	char *oci_version;
	char *root_path; /* absolute: resolved against the bundle */
	bool root_readonly;
	char *hostname;
	char *domainname;
	struct rt_process process;
	struct rt_mount *mounts;
	size_t n_mounts;
	struct rt_hooks hooks[RT_HOOK_COUNT];
	json_t *annotations; /* borrowed; may be NULL */

	struct rt_ns ns[RT_NS_COUNT];
	struct rt_id_map *uid_maps, *gid_maps;
	size_t n_uid_maps, n_gid_maps;
	struct rt_device *devices;
	size_t n_devices;
	char *cgroups_path; /* NULL: none given */
	bool has_resources;
	struct rt_resources res;
	char **sysctl; /* NULL-terminated key, value, key, value ... */
	char **masked_paths;
	char **readonly_paths;
	unsigned long rootfs_propagation; /* 0: default (MS_SLAVE | MS_REC, as runc) */
	int64_t time_offsets[2][2];       /* [monotonic, boottime][secs, nanosecs] */
	bool has_time_offsets;
	json_t *seccomp; /* borrowed; NULL when absent */
	char *mount_label;
	bool has_personality;
	unsigned long personality;
	bool has_memory_policy; /* linux.memoryPolicy, for set_mempolicy(2) */
	int mpol_mode;          /* MPOL_* | MPOL_F_* flags */
	char *mpol_nodes;       /* node list ("0-1,3"); NULL: none */
};

/*
 * Parses and validates config.json text. @bundle (absolute) resolves a relative root.path.
 * Errors (EINVAL) name the JSON path of the bad field: "linux.resources.memory.limit:
 * expected integer". Unknown fields are ignored.
 */
int rt_config_parse(const char *text, size_t len, const char *bundle, struct rt_config **ret,
		    struct err *err);
void rt_config_free(struct rt_config *c);

/*
 * Parses a linux.resources object (as `update --resources` takes it). The blockIO,
 * unified and network members stay borrowed from @obj.
 */
int rt_resources_parse(json_t *obj, struct rt_resources *ret, struct err *err);
void rt_resources_done(struct rt_resources *res);

/* Parses a runtime-spec process object (config.json's, or `exec --process`'s). */
int rt_process_parse(const json_t *proc, struct rt_process *ret, struct err *err);
void rt_process_done(struct rt_process *p);

/* The spec's name of a namespace type ("network") and of a hook kind ("createRuntime"). */
const char *rt_ns_name(enum rt_ns_type t);
const char *rt_hook_name(enum rt_hook_kind kind);

/* Capability names ("CAP_SYS_ADMIN") to numbers; -1 when unknown. */
int rt_cap_from_name(const char *name);
const char *rt_cap_name(int cap);
int rt_cap_last(void);

/* ---- seccomp (config-linux.md#seccomp) ---- */

struct rt_seccomp;

/*
 * Validates linux.seccomp (borrowed; NULL: none) and compiles the filter, before the
 * container process exists. Errors name the JSON path: EINVAL for a bad field
 * ("linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'"), EOPNOTSUPP for what
 * this runtime or the kernel lacks (seccomp agents for SCMP_ACT_NOTIFY). Syscall names
 * libseccomp does not know are skipped, as runc does. *ret is NULL when there is no filter.
 */
int rt_seccomp_build(const json_t *seccomp, struct rt_seccomp **ret, struct err *err);
/*
 * Loads the filter into the calling process; NULL is a no-op. Needs no_new_privs or
 * CAP_SYS_ADMIN; every later syscall of the process is filtered.
 */
int rt_seccomp_load(struct rt_seccomp *s, struct err *err);
void rt_seccomp_free(struct rt_seccomp *s);
/*
 * The linux.seccomp profile `runtime spec` writes: Docker's default for a container whose
 * bounding set holds the @n_caps capability names @caps, for the architecture skiff was
 * built for. Every syscall it does not allow fails with EPERM. A new reference.
 */
json_t *rt_spec_seccomp(const char *const *caps, size_t n_caps);

/* ---- cgroups (v1, v2 and hybrid hosts) ---- */

struct rt_cgroup;

/*
 * Creates the container's cgroup at @path (the OCI cgroupsPath; relative paths are taken
 * below the caller's own cgroup, as runc does; "slice:prefix:name" systemd notation is
 * converted to its cgroupfs path), in every mounted controller hierarchy (v1) or the unified
 * hierarchy (v2). Applies @res (may be NULL). Nothing is left behind on failure.
 */
int rt_cgroup_create(const char *path, const struct rt_resources *res, struct rt_cgroup **ret,
		     struct err *err);
/* Moves @pid into the cgroup (every hierarchy). */
int rt_cgroup_enter(struct rt_cgroup *cg, pid_t pid, struct err *err);
/* Serializes the cgroup's location for the state file; rt_cgroup_load() reverses it. */
json_t *rt_cgroup_to_json(const struct rt_cgroup *cg);
int rt_cgroup_load(const json_t *j, struct rt_cgroup **ret, struct err *err);
/* Lists the pids in the cgroup (sorted, heap array). */
int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **ret_pids, size_t *ret_n, struct err *err);
/* Sends @sig to every process in the cgroup (freezing first where possible so none escape). */
int rt_cgroup_kill(const struct rt_cgroup *cg, int sig, struct err *err);
/* True when the memory controller recorded an OOM kill in this cgroup. */
bool rt_cgroup_oom_killed(const struct rt_cgroup *cg);
/* Removes the cgroup directories, waiting briefly for exiting processes; ENOENT is fine. */
int rt_cgroup_destroy(struct rt_cgroup *cg, struct err *err);
void rt_cgroup_free(struct rt_cgroup *cg);

/* Freezes (pause) or thaws (resume) every process in the cgroup, waiting until done. */
int rt_cgroup_freeze(const struct rt_cgroup *cg, bool frozen, struct err *err);
/* True when the cgroup is frozen (a paused container). */
bool rt_cgroup_frozen(const struct rt_cgroup *cg);
/* Applies @res to an existing cgroup (update). */
int rt_cgroup_update(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err);
/* cpu, memory and pids numbers in the shape of runc's events "data" object. */
json_t *rt_cgroup_stats(const struct rt_cgroup *cg);
/* How many processes the OOM killer has killed in the cgroup. */
int64_t rt_cgroup_oom_count(const struct rt_cgroup *cg);

/* One mounted cgroup hierarchy of the host, as found in /proc/self/mountinfo. */
struct rt_cgroup_hier {
	char *mount_point; /* "/sys/fs/cgroup/memory" */
	char *controllers; /* v1: the mount's controller options ("cpu,cpuacct", "name=systemd");
			      v2: NULL */
	bool v2;
};

/* The host's cgroup hierarchies, detected once per process; borrowed. */
int rt_cgroup_hierarchies(const struct rt_cgroup_hier **ret, size_t *ret_n, struct err *err);
/* The container's directory in the hierarchy mounted at @mount_point; NULL if none. */
const char *rt_cgroup_dir(const struct rt_cgroup *cg, const char *mount_point);

/* ---- state (one directory per container under --root) ---- */

enum rt_status {
	RT_STATUS_CREATING,
	RT_STATUS_CREATED,
	RT_STATUS_RUNNING,
	RT_STATUS_STOPPED,
	RT_STATUS_PAUSED
};

struct rt_state {
	char *id;
	char *bundle;
	char *created;                 /* RFC 3339 */
	pid_t pid;                     /* host pid of the container process; 0 while creating */
	unsigned long long start_time; /* /proc/pid/stat starttime, guards against pid reuse */
	bool own_pidns;
	json_t *annotations;   /* owned; may be NULL */
	json_t *hooks;         /* owned: the config's hooks object; may be NULL */
	json_t *cgroup;        /* owned: rt_cgroup_to_json(); may be NULL */
	enum rt_status status; /* computed by rt_state_load() */
};

const char *rt_status_name(enum rt_status s);
/* Opens (O_PATH) the state root, creating it when @create. */
int rt_root_open(const char *root, bool create, int *ret_fd, struct err *err);
/* Checks a container id: [A-Za-z0-9_+.-], not "." or "..", at most 1024 bytes. */
int rt_id_check(const char *id, struct err *err);
/* Writes state.json for @st into the container's directory. */
int rt_state_save(int rootfd, const struct rt_state *st, struct err *err);
/* Loads state.json and computes the status (ENOENT: no such container). */
int rt_state_load(int rootfd, const char *id, struct rt_state **ret, struct err *err);
void rt_state_free(struct rt_state *st);
/* The spec's state object (ociVersion, id, status, pid, bundle, annotations). */
json_t *rt_state_json(const struct rt_state *st, enum rt_status status);
/* Writes @pid to the engine's --pid-file atomically. */
int rt_write_pid_file(const char *path, pid_t pid, struct err *err);
/* /proc/<pid>/stat fields: start time and the state letter ('Z' for zombie). */
int rt_proc_stat(pid_t pid, unsigned long long *ret_start, char *ret_state);

/* The state root a command works on (--root, or the default). */
const char *rt_root_of(const struct rt_global *g);
/* Loads a container's state (ENOENT: "container 'x' does not exist"); rootfd optional. */
int rt_container_load(const struct rt_global *g, const char *id, int *ret_rootfd,
		      struct rt_state **ret, struct err *err);
/* The container's cgroup as recorded in its state; *ret is NULL when it has none. */
int rt_state_cgroup(const struct rt_state *st, struct rt_cgroup **ret, struct err *err);

/* ---- hooks ---- */

/*
 * Runs the hooks of one kind in order, each with @state_json on its stdin, killing one
 * that outlives its timeout. Stops at the first failure (error names the hook).
 */
int rt_hooks_run(const struct rt_hooks *hs, enum rt_hook_kind kind, const char *state_json,
		 struct err *err);
/* Runs every hook of @hs, logging a warning for each that fails; returns how many failed. */
int rt_hooks_run_all(const struct rt_hooks *hs, enum rt_hook_kind kind, const char *state_json,
		     const char *id);
/* Converts the config's hooks JSON (as kept in the state) back; for poststart/poststop. */
int rt_hooks_from_json(const json_t *hooks, enum rt_hook_kind kind, struct rt_hooks *ret,
		       struct err *err);
void rt_hooks_done(struct rt_hooks *hs);

/* ---- the container process (init.c, mount.c) ---- */

struct rt_cgroup;

/* What the container process needs besides the config. */
struct rt_init_args {
	const struct rt_config *cfg;
	const char *id;
	const char *bundle;
	const struct rt_cgroup *cgroup; /* may be NULL */
	int sync_fd;                    /* socket to the runtime process */
	int start_fd;                   /* read one byte from it to start; the exec fifo or sync */
	bool *in_cgroup;                /* set once RT_SYNC_CGROUP has arrived */
	bool *unshared_cgroupns;        /* set once the new cgroup namespace exists */
	int console_fd;                 /* connected console socket, or -1 */
	int preserve_fds;
	bool no_pivot;
	bool no_new_keyring;
	struct rt_seccomp *seccomp; /* linux.seccomp; may be NULL */
	const int *idmap_fds;       /* per mount: a user namespace fd for idmapped mounts, or -1 */
};

/* Runs in the cloned child: sets the container up, waits for start, execs. Never returns. */
void rt_init_main(const struct rt_init_args *a) __attribute__((noreturn));

/* What a process executed in a running container needs (`exec`). */
struct rt_exec_args {
	const struct rt_process *proc;
	int ns_fds[RT_NS_COUNT]; /* the container's namespaces that differ from ours; -1 */
	int sync_fd;
	int console_fd; /* -1 without a terminal */
	int preserve_fds;
	struct rt_seccomp *seccomp; /* the container's filter; may be NULL */
};

/* Runs in the cloned child of `exec`: joins the container and execs. Never returns. */
void rt_exec_main(const struct rt_exec_args *x) __attribute__((noreturn));

/* Waits until the runtime has moved this process into its cgroup (idempotent). */
int rt_init_wait_cgroup(const struct rt_init_args *a, struct err *err);

/* Creates the container's new cgroup namespace (after joining its cgroup), once. */
int rt_init_unshare_cgroupns(const struct rt_init_args *a, struct err *err);

/* Sets up the root file system in the (new) mount namespace and pivots into it. */
int rt_rootfs_setup(const struct rt_init_args *a, int (*before_pivot)(void *), void *data,
		    struct err *err);
/* Applies maskedPaths and readonlyPaths after the pivot. */
int rt_rootfs_finish(const struct rt_config *cfg, struct err *err);

/* Connects to an engine's --console-socket, to send it the container's terminal. */
int rt_console_connect(const char *path, int *ret_fd, struct err *err);
/* Receives one descriptor sent with SCM_RIGHTS (the container's terminal). */
int rt_recv_fd(int sock, int *ret_fd, struct err *err);
/*
 * Waits for @pid, forwarding signals to it; with @master >= 0 relays the caller's stdio
 * to that terminal. @ret_status: the exit status, or 128+signal.
 */
int rt_foreground_wait(pid_t pid, int master, int *ret_status, struct err *err);

/* Sync protocol between the runtime process and the container process. */
enum rt_sync_type {
	RT_SYNC_GO = 1,     /* runtime -> init: id maps written; cgroup joining under way */
	RT_SYNC_CGROUP,     /* runtime -> init: now in its cgroup */
	RT_SYNC_HOOKS,      /* init -> runtime: run prestart/createRuntime hooks */
	RT_SYNC_HOOKS_DONE, /* runtime -> init */
	RT_SYNC_READY,      /* init -> runtime: waiting for start */
	RT_SYNC_ERROR,      /* init -> runtime: code + message */
	RT_SYNC_START,      /* runtime -> init (run): start now */
};

struct rt_sync_msg {
	int type;
	int code; /* ERROR: errno; GO: the container's pid as the runtime sees it */
	char text[2048];
};

int rt_sync_send(int fd, int type, int code, const char *text);
int rt_sync_recv(int fd, struct rt_sync_msg *m, struct err *err);

#endif
