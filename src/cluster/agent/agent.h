/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node agent (the kubelet's role, with kube-proxy's and flannel's): registers this
 * machine as a Node, keeps its Lease and status fresh, routes to the other nodes' pods,
 * programs the service proxy, and makes the pods bound to it real — a sandbox per pod (an infra
 * process holding the pod's network, IPC and UTS namespaces, with its IP on the node's
 * bridge), images pulled into the image store, containers run through the runtime under
 * per-container monitors (`skiff shim`), probes, restarts with back-off, volumes, and
 * graceful termination. It serves logs, exec, attach and port-forward to the API server
 * on its own HTTPS port (10250). `skiff agent` runs it against a remote server;
 * `skiff server` runs it in-process.
 */
#ifndef SKIFF_CLUSTER_AGENT_AGENT_H
#define SKIFF_CLUSTER_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

struct err;
struct kc;
struct agent;

struct agent_config {
	const char *node_name;    /* required */
	const char *node_ip;      /* the node's InternalIP (required) */
	const char *data_dir;     /* state under <data_dir>/agent, images under <data_dir>/images */
	const char *image_root;   /* NULL: <data_dir>/images */
	const char *log_dir;      /* NULL: /var/log/skiff/pods */
	const char *runtime_root; /* NULL: <data_dir>/agent/runtime */
	const char *cgroup_root;  /* NULL: /kubepods */
	const char *cluster_dns;  /* NULL: 10.43.0.10 */
	const char *cluster_domain; /* NULL: cluster.local */
	const char *join_token;     /* checks the API server's kubelet-client token */
	const char *self_exe;       /* the skiff binary that runs shims; NULL: /proc/self/exe */
	const char *bridge;         /* NULL: skiff0 */
	const char *const *insecure_registries; /* "host:port" pulled over plain HTTP */
	uint16_t port;                          /* HTTPS port of the agent's API; 0: 10250 */
	int max_pods;                           /* 0: 110 */
	int lease_seconds;                      /* 0: 40 */
	int status_interval_ms;                 /* node status every...; 0: 10 s */
	bool image_gc_set;                      /* the two below are given; otherwise 85 and 80 */
	int image_gc_high;        /* disk use (%) of the image store that starts image GC */
	int image_gc_low;         /* ... and where it stops */
	int64_t eviction_memory;  /* evict pods below this much available memory; 0: 100 MiB */
	int housekeeping_ms;      /* image GC and eviction checks every...; 0: 10 s */
	const char *cluster_cidr; /* pod addresses of the whole cluster; NULL: 10.42.0.0/16 */
	const char *service_cidr; /* ClusterIPs; NULL: 10.43.0.0/16 */
	const char *network_mode; /* between nodes: "vxlan" (default) or "host-gw" */
	bool no_proxy;            /* run no service proxy (its rules stay as they are) */
};

/*
 * Starts the agent on client @c (which it does not own: free it after agent_stop()).
 * Fails when the machine cannot run pods (no cgroups, the bridge cannot be made) or the
 * port is taken.
 */
int agent_start(struct kc *c, const struct agent_config *cfg, struct agent **ret, struct err *err);
/* Stops the agent's loops; pods and their containers keep running. NULL is fine. */
void agent_stop(struct agent *a);

/* The address of this node's pod bridge (its pod CIDR's first host), or NULL. */
const char *agent_pod_gateway(const struct agent *a);

/* Runs the pause process of a pod sandbox: reaps children until SIGTERM/SIGINT. */
int agent_pause_main(void);

#endif
