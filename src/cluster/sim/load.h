/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler benchmark's load (`skiff sim load`, bench/scheduler.sh): creates
 * Deployments totalling N pods in a fresh namespace, follows every pod through one pod
 * watch (first seen, bound to a node, Running), samples the CPU and memory of the server
 * and hollow-node processes, and hands back the figures bench/scheduler.sh prints.
 * The pure parts (per-pod tracker, percentiles, /proc parsing, Deployment bodies) are
 * exposed for the unit tests.
 */
#ifndef SKIFF_CLUSTER_SIM_LOAD_H
#define SKIFF_CLUSTER_SIM_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

/* The longest resourceVersion kept for resuming a watch (skiff's are decimal numbers). */
#define SIMLOAD_RV_MAX 64

struct simload_config {
	const char *server;         /* "https://host:6443" */
	const char *token;          /* the admin bearer token */
	const char *ca_pem;         /* the cluster CA (PEM); NULL: the system's trust store */
	size_t pods;                /* pods in all (> 0) */
	size_t per_deployment;      /* replicas per Deployment (> 0); the last one has the rest */
	const char *image;          /* NULL: "registry.local/app:1" */
	const char *cpu_request;    /* NULL: "10m" */
	const char *memory_request; /* NULL: "16Mi" */
	int server_pid;             /* sampled when > 0 */
	int sim_pid;                /* sampled when > 0 */
	int64_t stall_ms;           /* end when the Running count stays put this long; 0: 60 s */
	/*
	 * After the load: this many pods created one at a time at @latency_qps per second in
	 * a namespace of their own and followed apart, so that their start latency is that
	 * of a loaded cluster rather than of the load's own queue (upstream's density test
	 * measures its "latency pods" so). 0: none.
	 */
	size_t latency_pods;
	double latency_qps;
	/*
	 * Waits up to @timeout_ms (0: only polls) and says whether the run should end now
	 * (a signal); NULL: plain sleeps, never interrupted.
	 */
	bool (*interrupted)(void *arg, int timeout_ms);
	void *arg;
};

/* What the follower saw: counts, rates and latencies. */
struct simload_stats {
	size_t seen, bound, running, deleted;
	double sched_rate;   /* bound pods / (last binding - first pod seen), pods/s */
	double start_p50_ms; /* created -> Running; NaN without data */
	double start_p99_ms;
	double bind_p50_ms; /* created -> bound */
	double bind_p99_ms;
	double run_p50_ms; /* bound -> Running */
	double run_p99_ms;
	double created_over_s; /* last pod first seen - first pod first seen */
};

struct simload_result {
	char *ns;    /* the namespace created (left in place); heap */
	size_t pods; /* asked for */
	struct simload_stats stats;
	double total_s;   /* from the first create to the last pod Running or the end */
	bool stalled;     /* the Running count stayed put for stall_ms */
	bool interrupted; /* cfg->interrupted said so */
	/* CPU (user + system) over the run, seconds; NaN without a pid or once it ended */
	double cpu_server_s, cpu_sim_s, cpu_self_s;
	/* peak VmRSS over the run, MiB; NaN without a pid */
	double rss_server_mib, rss_sim_mib;
	unsigned watch_restarts; /* watches resumed after the server ended them */
	/* the latency pods (cfg->latency_pods), when the load ran through */
	bool latency_ran;
	bool latency_stalled;
	struct simload_stats latency;
	struct err watch_err; /* why the follower gave up early (ESTALE: 410 Gone), or clear */
};

/*
 * Runs the benchmark as described at the top. Fails (leaving @ret untouched) when the
 * server cannot be reached, a pid cannot be read (ENOENT), or a create is rejected (the
 * server's errno, the message naming the object). A follower that gives up midway is not
 * a failure: the figures so far come back with ret->watch_err set. An idle watch ends
 * at its next BOOKMARK, so returning after a stall, a signal or a failed create can take
 * up to the server's bookmark interval (10 s).
 */
int simload_run(const struct simload_config *cfg, struct simload_result *ret, struct err *err);
/* Latency pod @index: a bare pod like the Deployments' ("latency-N", label app=latency). */
json_t *simload_latency_pod(const struct simload_config *cfg, size_t index);

/* Frees what a result holds; NULL-tolerant. */
void simload_result_done(struct simload_result *r);

/* Internal API, for the unit tests. */

/* The pod tracker: per-pod first times, fed with watch events; thread-safe. */
struct simload_tracker;

struct simload_pod_times {
	int64_t seen_ms, bound_ms, running_ms; /* since the tracker's base; -1: not yet */
	bool deleted;
};

enum simload_ev {
	SIMLOAD_EV_CONTINUE, /* keep watching */
	SIMLOAD_EV_DONE,     /* @target pods are Running */
	SIMLOAD_EV_RESTART,  /* an ERROR event: resume from the last resourceVersion */
	SIMLOAD_EV_GONE,     /* 410 Gone: the resourceVersion is too old to resume from */
};

/* @target: Running pods at which the tracker is done; @base_ms: the clock's zero. */
struct simload_tracker *simload_tracker_new(size_t target, int64_t base_ms);
void simload_tracker_free(struct simload_tracker *t);

/*
 * One watch event (@type "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR", @obj
 * borrowed) received at @now_ms. Records first times; never moves them.
 */
enum simload_ev simload_tracker_event(struct simload_tracker *t, const char *type,
				      const json_t *obj, int64_t now_ms);

/* The times of pod @name; false when never seen. */
bool simload_tracker_pod(struct simload_tracker *t, const char *name,
			 struct simload_pod_times *ret);

/* Copies the resourceVersion to resume from ("" when none) into @buf. */
void simload_tracker_rv(struct simload_tracker *t, char buf[SIMLOAD_RV_MAX]);
/* Sets it (the list's resourceVersion); false when it is not a plain token. */
bool simload_tracker_set_rv(struct simload_tracker *t, const char *rv);

/* Counts so far; any pointer may be NULL. */
void simload_tracker_counts(struct simload_tracker *t, size_t *ret_seen, size_t *ret_bound,
			    size_t *ret_running);
bool simload_tracker_done(struct simload_tracker *t);

/* The statistics of everything recorded. */
void simload_tracker_stats(struct simload_tracker *t, struct simload_stats *ret);

/* Nearest-rank percentile @p (0..100) of @n values (sorts @values in place); NaN when @n is 0. */
double simload_pct(double *values, size_t n, double p);

/* VmRSS in KiB from the text of /proc/PID/status; false when absent or malformed. */
bool simload_parse_rss_kib(const char *status, uint64_t *ret_kib);
/* utime + stime in clock ticks from the text of /proc/PID/stat; false when malformed. */
bool simload_parse_cpu_ticks(const char *stat, uint64_t *ret_ticks);
/* The same read from /proc (@pid 0: this process). ENOENT: no such process. */
int simload_proc_rss_kib(int pid, uint64_t *ret_kib, struct err *err);
int simload_proc_cpu_s(int pid, double *ret_s, struct err *err);

/* Deployments needed for @pods pods at @per each, and the replicas of number @index. */
size_t simload_deployment_count(size_t pods, size_t per);
size_t simload_deployment_replicas(size_t pods, size_t per, size_t index);
/* Deployment "load-@index" of @replicas pods as cfg asks (defaults filled in); new ref. */
json_t *simload_deployment(const struct simload_config *cfg, size_t index, size_t replicas);

#endif
