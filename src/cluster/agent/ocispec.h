/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod and container specs as OCI runtime configs: the config.json of one container of a pod
 * (argv, environment with upstream's $(VAR) expansion and valueFrom sources, user, security
 * context, resources, namespaces to join, mounts), the pod's QoS class, and the resources and
 * path of its pod-level cgroup. Pure functions of their inputs, called by the node agent.
 */
#ifndef SKIFF_CLUSTER_AGENT_OCISPEC_H
#define SKIFF_CLUSTER_AGENT_OCISPEC_H

#include <stdint.h>

#include <jansson.h>

struct err;

struct ocispec_in {
	const json_t *pod;          /* the Pod object */
	const json_t *container;    /* an entry of spec.containers, initContainers or
				       ephemeralContainers */
	const json_t *image_config; /* the image config blob's "config" (Entrypoint, Cmd, Env,
				       WorkingDir, User); NULL: none */
	const char *rootfs;         /* root.path; a user name is resolved in its /etc/passwd */
	const char *cgroups_path;   /* linux.cgroupsPath; NULL: none */
	/*
	 * The pod sandbox's namespaces to join. NULL gives a new namespace, except that
	 * hostNetwork (net, uts), hostIPC (ipc) and hostPID (pid) keep the host's. @ns_pid is
	 * for shareProcessNamespace.
	 */
	const char *ns_net, *ns_ipc, *ns_uts, *ns_pid;
	const char *hostname;        /* NULL: spec.hostname or metadata.name; gethostname() with
					hostNetwork */
	const json_t *volume_mounts; /* OCI mount objects (destinations set) to add; may be NULL */
	/* Host files bind-mounted over the container's; NULL: not mounted. */
	const char *hosts_path;           /* -> /etc/hosts */
	const char *resolv_conf_path;     /* -> /etc/resolv.conf */
	const char *hostname_path;        /* -> /etc/hostname */
	const char *termination_log_path; /* -> the container's terminationMessagePath */
	const char *shm_path;             /* the pod's /dev/shm; NULL: a private 64 MiB tmpfs */
	const char *pod_ip, *host_ip, *node_name; /* for the downward API; may be NULL */
	const json_t *allocatable; /* node status.allocatable: limits.* default to it */
	int64_t memory_capacity;   /* node memory in bytes for Burstable oomScoreAdj; 0: from
				      @allocatable */
	const char *host_dev_dir;  /* privileged containers get the device nodes below it
				      ("/dev"); NULL: none */
	/*
	 * Finds a ConfigMap or Secret for env/envFrom: @kind is "configmaps" or "secrets";
	 * sets *@ret_data to the object's data map (borrowed until ocispec_build() returns;
	 * Secret values already base64-decoded; NULL for an object without data). Returns
	 * -ENOENT (message optional) when the object does not exist, another -errno on
	 * failure. NULL: every ConfigMap and Secret is missing.
	 */
	int (*lookup)(void *arg, const char *kind, const char *ns, const char *name,
		      const json_t **ret_data, struct err *err);
	void *lookup_arg;
};

/*
 * Builds the runtime-spec config.json for @in->container of @in->pod. Errors: EINVAL for a
 * malformed object (naming the field), ENOENT for a missing ConfigMap/Secret or key with
 * upstream's messages (`configmap "x" not found`, `couldn't find key k in ConfigMap ns/x`),
 * EPERM for runAsNonRoot violations (`container has runAsNonRoot and image will run as
 * root ...`), and what the lookup returns. The agent reports any of them as the container's
 * CreateContainerConfigError. *@ret_config is a new reference.
 */
int ocispec_build(const struct ocispec_in *in, json_t **ret_config, struct err *err);

/* "Guaranteed", "Burstable" or "BestEffort" (status.qosClass when set, else computed). */
const char *ocispec_qos_class(const json_t *pod);

/*
 * The pod-level cgroup's linux.resources: cpu shares from the summed requests, cpu quota and
 * memory limit from the summed limits (init containers counted as upstream: the largest one
 * against the sum of the others) when every container sets them, hugepage limits. A new
 * reference. EINVAL for a malformed quantity.
 */
int ocispec_pod_resources(const json_t *pod, json_t **ret_resources, struct err *err);

/*
 * The pod cgroup below @cgroup_root ("/kubepods"): "<root>/pod<uid>" for Guaranteed pods,
 * "<root>/burstable/pod<uid>", "<root>/besteffort/pod<uid>". Heap string; NULL when the pod
 * has no metadata.uid.
 */
char *ocispec_cgroup_parent(const char *cgroup_root, const json_t *pod);

#endif
