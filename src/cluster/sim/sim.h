/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hollow nodes (like kubemark): one process acting out many kubelets against a real API
 * server over HTTPS, each with its own node credential. A hollow node registers its Node,
 * renews its Lease, posts node status, and plays the pods bound to it (running, exiting,
 * restarting, terminating) without running anything. Used for scale tests and to fail
 * hosts in end-to-end tests (stopping the process silences its nodes).
 */
#ifndef SKIFF_CLUSTER_SIM_SIM_H
#define SKIFF_CLUSTER_SIM_SIM_H

#include <stddef.h>

struct err;
struct sim;

struct sim_config {
	const char *server;       /* "https://host:6443" */
	const char *join_token;   /* the cluster's join token; node credentials derive from it */
	const char *ca_pem;       /* the cluster CA (PEM); NULL: the system's trust store */
	const char *name_prefix;  /* node names are prefix + index; NULL: "hollow-node-" */
	size_t count;             /* nodes to simulate */
	size_t first_index;       /* index of the first node (several processes, one cluster) */
	const char *cpu;          /* capacity: "4" */
	const char *memory;       /* "16Gi" */
	const char *pods;         /* "110" */
	const char *const *zones; /* NULL-terminated topology zones, given out round robin */
	unsigned threads;         /* request workers; 0: 8 */
	unsigned lease_ms;        /* lease renewal period; 0: 10 s as the kubelet */
	unsigned status_ms;       /* node status period; 0: 5 min */
};

/*
 * Starts simulating: registration, leases, status and pods run on a few threads of
 * their own until sim_stop(). Fails only when the client cannot be made (EINVAL for a
 * bad configuration); unreachable servers are retried.
 */
int sim_start(const struct sim_config *cfg, struct sim **ret, struct err *err);

/* Nodes whose Node and Lease exist so far. */
size_t sim_registered(struct sim *s);

/* Waits up to @timeout_ms until every node is registered; returns sim_registered(). */
size_t sim_wait_registered(struct sim *s, int timeout_ms);

/* Stops every thread and frees @s; its nodes go silent. NULL-tolerant. */
void sim_stop(struct sim *s);

#endif
