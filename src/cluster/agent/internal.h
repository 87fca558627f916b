/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node agent's insides, shared by its files: agent.c (node, lease, informers, the
 * work queue), pod.c (a pod's sandbox and containers), exec.c (commands in containers),
 * kubelet.c (the HTTPS API on port 10250). Only src/cluster/agent/ includes it.
 */
#ifndef SKIFF_CLUSTER_AGENT_INTERNAL_H
#define SKIFF_CLUSTER_AGENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "cluster/agent/agent.h"
#include "cluster/agent/probe.h"

struct err;
struct http_server;
struct img_store;
struct informer;
struct kc;
struct net_ipam;
struct nodenet;
struct svcproxy;
struct prober;
struct workqueue;

#define AGENT_COMPONENT "kubelet"

enum actr_state { ACTR_NONE, ACTR_RUNNING, ACTR_EXITED };

/* One container of a pod: its current attempt and what is known of the last one. */
struct actr {
	char *name;
	bool init;
	int attempt; /* restartCount: the number of the current attempt */
	char *id;    /* runtime id of the current attempt; NULL before the first */
	char *dir;   /* its bundle directory */
	enum actr_state state;
	char *waiting_reason; /* ContainerCreating, CrashLoopBackOff, ErrImagePull ... */
	char *waiting_message;
	char *started_at, *finished_at; /* RFC 3339 */
	int exit_code;
	char *term_reason;     /* Completed, Error, OOMKilled */
	json_t *last_state;    /* the previous attempt's "terminated" object, or NULL */
	int64_t backoff_until; /* monotonic ms before which no new attempt starts */
	int64_t backoff_ms;
	int64_t running_since; /* monotonic ms */
	bool ready;            /* readiness (true when running without a readiness probe) */
	bool started;          /* startup probe passed (or none) */
	bool unhealthy;        /* liveness failed: restart */
	int64_t kill_deadline; /* monotonic ms: SIGKILL after (unhealthy) */
	bool probed;           /* probes registered for this attempt */
	char *image, *image_id;
	int64_t pull_backoff_until, pull_backoff_ms;
};

/* A pod bound to this node, as the agent runs it. */
struct apod {
	char *uid, *ns, *name;
	json_t *pod;     /* the latest object (a reference; the pod's lock) */
	json_t *pod_ref; /* the same, readable under the agent's lock */
	char *dir;       /* <agent>/pods/<uid> */
	bool sandbox;
	pid_t pause_pid;
	char ip[16];
	char *sandbox_error;
	bool volumes_ready;
	int64_t refreshed; /* monotonic ms of the last volume refresh */
	struct actr *c;    /* init containers first, then app containers */
	size_t n_c;
	json_t *reported; /* the status last written */
	char *start_time;
	bool terminating;
	int64_t kill_deadline; /* monotonic ms: SIGKILL after */
	bool sigterm_sent;
	bool gone;          /* the API object no longer exists */
	bool finished;      /* containers done, sandbox released (phase Succeeded/Failed) */
	char *evicted;      /* the eviction message, once the agent evicted the pod */
	pthread_mutex_t mu; /* held by the worker syncing it and by readers of containers */
};

struct agent {
	struct agent_config cfg;
	struct kc *kc;
	char *node_token; /* unused with a node's own client; kept for symmetry */
	char *kubelet_token;
	char *dir, *pods_dir, *runtime_root, *log_dir, *cgroup_root, *self_exe;
	char *cluster_dns, *cluster_domain, *bridge;
	struct img_store *images;
	pthread_mutex_t images_mu;
	struct net_ipam *ipam;
	char pod_cidr[24];
	char gateway[16];
	struct informer *pods;
	struct workqueue *wq;
	pthread_t workers[4];
	size_t n_workers;
	pthread_t heartbeat;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping;
	struct apod **apods;
	size_t n_apods;
	char *node_uid;
	struct http_server *http;
	struct prober *prober;
	struct prober_ops pops;
	char *tls_cert, *tls_key;
	bool memory_pressure;
	struct nodenet *nodenet;
	struct svcproxy *proxy;
};

/* housekeeping.c: image garbage collection and eviction under memory pressure. */
void agent_housekeeping(struct agent *a);

char *agent_time_rfc3339(void);

/* The pod with this uid (the agent's lock held by the caller). */
struct apod *agent_find_locked(struct agent *a, const char *uid);
/* The pod named @ns/@name, locked (apod->mu) for the caller; NULL when unknown. */
struct apod *agent_lookup_pod(struct agent *a, const char *ns, const char *name);

/* pod.c: one pass of the pod's sync loop. Returns ms until it wants another, 0 for none. */
int64_t pod_sync(struct agent *a, struct apod *p, json_t *pod);
/* Rebuilds a pod's record from its state directory (after a restart of the agent). */
struct apod *pod_adopt(struct agent *a, const char *uid);
void apod_free(struct apod *p);
/* Tears a pod down whose API object is gone; true when nothing is left. */
bool pod_cleanup(struct agent *a, struct apod *p);
/* The container by name, or NULL. */
struct actr *pod_container(struct apod *p, const char *name);

/* exec.c: runs @argv in container @id; output captured up to @cap bytes. */
int agent_exec_capture(struct agent *a, const char *id, char *const *argv, int timeout_ms,
		       int *ret_status, char **ret_output, struct err *err);
/*
 * Starts `skiff runtime exec` for @argv in container @id with pipes (or a terminal, with
 * @tty) and returns its pid and our ends: @ret_in (stdin, or the terminal's master with a
 * tty), @ret_out and @ret_err (-1 with a tty).
 */
int agent_exec_spawn(struct agent *a, const char *id, char *const *argv, bool tty, bool want_in,
		     pid_t *ret_pid, int *ret_in, int *ret_out, int *ret_err, struct err *err);

/* kubelet.c: the HTTPS API on port 10250. */
int kubelet_start(struct agent *a, struct err *err);
void kubelet_stop(struct agent *a);

/* The pod's sandbox namespace file: <pod dir>/ns/<kind>. Heap. */
char *pod_ns_path(struct apod *p, const char *kind);

#endif
