/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controllers `skiff server` runs: each keeps one kind of declared state true by
 * watching the API (informers) and writing through it, never touching the store.
 * Every controller has a start and a stop function with the signatures below; the
 * table in controllers.c starts them all with one shared client.
 */
#ifndef SKIFF_CLUSTER_CONTROLLERS_CONTROLLERS_H
#define SKIFF_CLUSTER_CONTROLLERS_CONTROLLERS_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct kc;

struct controllers_config {
	int64_t node_monitor_grace_period; /* seconds without a heartbeat before NotReady (40) */
	int64_t node_monitor_period;       /* seconds between node health checks (5) */
	int64_t default_unreachable_toleration; /* seconds (300), also added by admission */
	int workers;                            /* workers per controller (2) */
	/* NoExecute tainting per zone, upstream's flags; the defaults unless rates_set */
	bool rates_set;
	double node_eviction_rate;            /* nodes a second (0.1) */
	double secondary_node_eviction_rate;  /* in a partially disrupted zone (0.01) */
	double unhealthy_zone_threshold;      /* share of nodes not Ready (0.55) */
	int64_t large_cluster_size_threshold; /* nodes (50) */
};

/* A controller's state, opaque to the table. */
typedef int (*ctrl_start_fn)(struct kc *c, const struct controllers_config *cfg, void **ret,
			     struct err *err);
typedef void (*ctrl_stop_fn)(void *state);

int replicaset_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		     struct err *err);
void replicaset_stop(void *state);
int deployment_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		     struct err *err);
void deployment_stop(void *state);
int daemonset_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		    struct err *err);
void daemonset_stop(void *state);
int statefulset_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		      struct err *err);
void statefulset_stop(void *state);
int job_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err);
void job_stop(void *state);
int cronjob_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err);
void cronjob_stop(void *state);
int endpoints_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		    struct err *err);
void endpoints_stop(void *state);
int nodelifecycle_start(struct kc *c, const struct controllers_config *cfg, void **ret,
			struct err *err);
void nodelifecycle_stop(void *state);
/* Owner references (cascading deletion, orphaning) and pods of vanished nodes. */
int gc_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err);
void gc_stop(void *state);
/* Empties namespaces being deleted, then finalizes them. */
int namespace_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		    struct err *err);
void namespace_stop(void *state);

struct controllers;

/* Starts every controller; on failure the ones started are stopped again. */
int controllers_start(struct kc *c, const struct controllers_config *cfg, struct controllers **ret,
		      struct err *err);
void controllers_stop(struct controllers *ctl);

#endif
