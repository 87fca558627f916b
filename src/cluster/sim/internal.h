/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the hollow-node simulator: the engine (sim.c: nodes, a time-ordered job
 * heap drained by a few workers) and the kubelet role (pods.c: one shared pod watch and
 * the pods' simulated lifecycles).
 */
#ifndef SKIFF_CLUSTER_SIM_INTERNAL_H
#define SKIFF_CLUSTER_SIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/keyidx.h"

#include "cluster/sim/sim.h"

struct kc;

enum sim_job_kind {
	SIM_REGISTER,
	SIM_LEASE,
	SIM_STATUS,
	SIM_STATUS_SYNC, /* once: the stored Ready condition is not the node's own */
	SIM_POD_START,
	SIM_POD_RESTART,
	SIM_POD_KILL,
	SIM_POD_SYNC,
};

struct sim_job {
	int64_t at; /* monotonic ms */
	enum sim_job_kind kind;
	size_t node;
	char *pod; /* "ns/name" for pod jobs */
	char *uid;
	size_t container;
	unsigned attempt;
};

struct sim_node {
	char *name;
	char *token;
	char ip[16];
	char block[12];    /* the first three octets of the node's pod /24 */
	uint8_t used[32];  /* pod addresses given out, by last octet */
	char *since;       /* when the conditions took their values */
	char *ready_since; /* when Ready last turned True (under mu) */
	char *zone;
	bool registered;
	bool resync;    /* a SIM_STATUS_SYNC is queued (under mu) */
	int64_t posted; /* when its status was last posted, monotonic ms (under mu) */
};

struct sim {
	struct sim_config cfg;
	char *server, *join_token, *prefix, *cpu, *memory, *pods_cap;
	struct kc *kc;
	int64_t lease_ms, status_ms;
	struct sim_node *nodes;
	size_t n;
	json_t *by_name; /* node name -> index */

	pthread_mutex_t mu;
	/*
	 * One idle worker at a time sleeps until the earliest job is due (timer_cond); the
	 * others wait on cond untimed. With every worker timing the same deadline, each due
	 * job woke them all: half the process's CPU went to wake-ups that found no work.
	 */
	pthread_cond_t cond;       /* idle workers: a job is due, or the timer is free */
	pthread_cond_t timer_cond; /* the timing worker: an earlier job arrived */
	bool timer_held;
	pthread_cond_t reg_cond; /* a node registered */
	/*
	 * Due jobs of the nodes themselves (registration, lease, status) go before pod jobs,
	 * as every kubelet heartbeats on its own whatever its pods do: a backlog of pod
	 * transitions must not let a node's Lease lapse.
	 */
	struct sim_heap {
		struct sim_job **v;
		size_t n, cap;
	} node_jobs, pod_jobs;
	pthread_t *workers;
	unsigned nworkers;
	bool stopping;
	size_t registered;

	/* pods.c, guarded by mu */
	struct keyidx pods; /* key -> struct sim_pod; zeroed is empty */
	size_t npods;
	unsigned list_gen;
	pthread_t watcher;
	bool watching;
	char *rv;

	/* the watch of the nodes' stored conditions (sim.c) */
	pthread_t node_watcher;
	bool node_watching;
	char *node_rv; /* only its thread uses it */
};

/* "2006-01-02T15:04:05Z" and, for leases, the MicroTime form with six digits. */
char *sim_time(bool micro);

/* Queues @job (taken) to run at job->at; the _locked form with mu held. */
void sim_schedule(struct sim *s, struct sim_job *job);
void sim_schedule_locked(struct sim *s, struct sim_job *job);
struct sim_job *sim_job_new(enum sim_job_kind kind, size_t node, int64_t at);
void sim_job_free(struct sim_job *job);
/* Whether sim_stop() has begun; sim_nap() sleeps @ms, ending early once it has. */
bool sim_stopping(struct sim *s);
void sim_nap(struct sim *s, int ms);
/*
 * Lists @what (@path, its query begun) in pages of @page: @seen gets each item, mu held.
 * Returns the list's revision (heap), or NULL when a page failed or sim_stop() began.
 */
char *sim_list(struct sim *s, const char *what, const char *path, int page,
	       void (*seen)(struct sim *s, const json_t *item, void *arg), void *arg);

/* pods.c */
int sim_pods_start(struct sim *s);
void sim_pods_stop(struct sim *s);
void sim_pod_job(struct sim *s, struct sim_job *job);

#endif
