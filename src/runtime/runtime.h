/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime (runtime-spec 1.x): container lifecycle operations over a state
 * directory (--root), as runc and crun implement them. Called by `skiff runtime` and,
 * through the `skiff-runtime` link, by engines such as podman and containerd.
 */
#ifndef SKIFF_RUNTIME_RUNTIME_H
#define SKIFF_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

struct err;

#define RT_OCI_VERSION  "1.3.0"
#define RT_DEFAULT_ROOT "/run/skiff/runtime"

struct rt_global {
	const char *root;    /* state directory; RT_DEFAULT_ROOT when NULL */
	bool systemd_cgroup; /* --systemd-cgroup: cgroupsPath is "slice:prefix:name" */
};

struct rt_create_opts {
	const char *bundle;         /* NULL: the current directory */
	const char *pid_file;       /* may be NULL */
	const char *console_socket; /* required when process.terminal is true */
	bool no_pivot;
	bool no_new_keyring;
	int preserve_fds; /* pass fds 3 .. 3+n-1 on to the container */
	bool detach;      /* run only: return once started */
};

/* create: sets the container up and leaves its process waiting for rt_start(). */
int rt_create(const struct rt_global *g, const char *id, const struct rt_create_opts *o,
	      struct err *err);
/* start: lets a created container's process run its program; runs poststart hooks. */
int rt_start(const struct rt_global *g, const char *id, struct err *err);
/* state: the runtime-spec state object (ociVersion, id, status, pid, bundle, annotations). */
int rt_state(const struct rt_global *g, const char *id, json_t **ret, struct err *err);
/* kill: sends @sig to the container's process, or to all of its processes with @all. */
int rt_kill(const struct rt_global *g, const char *id, int sig, bool all, struct err *err);
/* delete: removes a stopped container (any container with @force, killing it first). */
int rt_delete(const struct rt_global *g, const char *id, bool force, struct err *err);
/*
 * run: create + start, then (unless o->detach) wait for the process, forwarding signals,
 * delete the container and return the exit status in @ret_status (128+signal if killed).
 */
int rt_run(const struct rt_global *g, const char *id, const struct rt_create_opts *o,
	   int *ret_status, struct err *err);
struct rt_exec_opts {
	const char *process_file; /* --process: a runtime-spec process object */
	char **args;              /* the command; NULL-terminated; may be empty with --process */
	bool tty;
	const char *cwd;
	char **env;       /* extra KEY=VALUE entries; NULL-terminated; may be NULL */
	const char *user; /* "uid[:gid]" */
	char **additional_gids;
	char **caps; /* capability names added to the bounding, effective and permitted sets */
	bool no_new_privs;
	bool detach;
	const char *pid_file;
	const char *console_socket;
	int preserve_fds;
};

/*
 * exec: runs another process in a created or running container (its namespaces and
 * cgroup); defaults come from the container's config.json. Unless detached, waits for it
 * and returns its exit status in @ret_status.
 */
int rt_exec(const struct rt_global *g, const char *id, const struct rt_exec_opts *o,
	    int *ret_status, struct err *err);

/* pause/resume: freeze and thaw every process of a running container (its cgroup). */
int rt_pause(const struct rt_global *g, const char *id, struct err *err);
int rt_resume(const struct rt_global *g, const char *id, struct err *err);
/* update: applies a linux.resources object to a container's cgroup. */
int rt_update(const struct rt_global *g, const char *id, json_t *resources, struct err *err);
/* ps: the host pids of every process in the container (a heap array). */
int rt_pids(const struct rt_global *g, const char *id, pid_t **ret, size_t *ret_n, struct err *err);
/*
 * events: calls @emit with {"type":"stats","id","data"} events (and {"type":"oom"} after
 * an OOM kill) every @interval_ms until the container stops, or once with @stats_once.
 * @emit takes the event's reference.
 */
int rt_events(const struct rt_global *g, const char *id, bool stats_once, int interval_ms,
	      void (*emit)(json_t *event, void *data), void *data, struct err *err);

/* list: an array of state objects with the extra fields `created` and `owner`. */
int rt_list(const struct rt_global *g, json_t **ret, struct err *err);

/* The default config.json `skiff runtime spec` writes (rootless: for an unprivileged user). */
json_t *rt_spec_default(bool rootless);
/* The runtime-spec features document (features.md) describing what this runtime supports. */
json_t *rt_features(void);

/*
 * Re-executes the process from a sealed memfd copy of its binary unless it already runs
 * from one (CVE-2019-5736). Returns only on failure, or 0 when already sealed.
 */
int rt_exe_seal(char **argv, struct err *err);

/* Parses a signal name ("KILL", "SIGKILL") or number; -1 when invalid. */
int rt_signal_parse(const char *s);

/*
 * Creates the cgroup @path (absolute, as an OCI cgroupsPath) in every hierarchy the runtime
 * uses, without moving any process into it, and applies @resources (a linux.resources
 * object; may be NULL). Idempotent: an existing cgroup just gets @resources again. For
 * cgroups that hold containers' cgroups (a pod's); EINVAL for a bad path or resources.
 */
int rt_cgroup_ensure(const char *path, const json_t *resources, struct err *err);
/*
 * Removes the cgroup @path from every hierarchy, cgroups below it first; missing is fine.
 * EBUSY when processes remain in it.
 */
int rt_cgroup_remove(const char *path, struct err *err);

#endif
