/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod volumes on the node: the agent calls vol_setup() before a pod's containers start,
 * vol_refresh() when a ConfigMap or Secret a pod uses changes (and periodically),
 * vol_container_mounts() to turn a container's volumeMounts into OCI mounts, and
 * vol_teardown() once the pod is gone. Layout and semantics follow the kubelet's volume
 * plugins: <pods_dir>/<pod-uid>/volumes/kubernetes.io~<plugin>/<volume-name>, and
 * configMap, secret, downwardAPI and projected volumes are written with the kubelet's
 * atomic-writer layout (a timestamped directory, a "..data" link swapped by rename, and
 * per top-level name a link into "..data").
 *
 * Supported: emptyDir (disk; medium Memory as tmpfs), hostPath (all types), configMap,
 * secret (on tmpfs), downwardAPI, projected (configMap, secret, downwardAPI,
 * serviceAccountToken; on tmpfs), persistentVolumeClaim (through the claim callback).
 * emptyDir sizeLimit on disk is recorded in the result but not enforced.
 */
#ifndef SKIFF_CLUSTER_AGENT_VOLUMES_H
#define SKIFF_CLUSTER_AGENT_VOLUMES_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct err;

struct vol_ctx {
	/* "<data-dir>/agent/pods": a pod's volumes live under <pods_dir>/<pod-uid>/volumes */
	const char *pods_dir;
	const char *node; /* this node's name */
	/*
	 * This node's status.allocatable (borrowed, may be NULL): what a downwardAPI
	 * resourceFieldRef reports for a limit the container does not set, as upstream.
	 */
	const json_t *allocatable;
	/*
	 * Reads the object @kind ("configmaps" or "secrets") @ns/@name into *ret (a new
	 * reference); -ENOENT (with err set) when it does not exist.
	 */
	int (*get)(void *arg, const char *kind, const char *ns, const char *name, json_t **ret,
		   struct err *err);
	/*
	 * A token of service account @ns/@sa_name for @audience ("" for the API server's)
	 * valid for @expiration_s seconds; heap string in *ret.
	 */
	int (*token)(void *arg, const char *ns, const char *sa_name, const char *audience,
		     int64_t expiration_s, char **ret, struct err *err);
	/* The host directory of claim @ns/@claim_name (see localpath.h); heap string. */
	int (*claim)(void *arg, const char *ns, const char *claim_name, char **ret_host_path,
		     struct err *err);
	void *arg;
};

/*
 * Makes every spec.volumes[] entry of @pod ready on the host and returns, in
 * *ret_volumes, an object volume name -> {"path": host path, "readOnly": bool, "type":
 * "emptyDir"|"hostPath"|...}. Idempotent: for a pod whose volumes exist (an agent
 * restart) it adopts them, keeping emptyDir data and mounted tmpfs instances.
 * Errors name the volume ("volume \"cfg\": configmap \"x\" not found"); codes: ENOENT
 * for a missing non-optional object or key, EINVAL for a bad or unsupported volume,
 * ENOTDIR/EEXIST-like hostPath type failures as EINVAL, others from the system.
 */
int vol_setup(const struct vol_ctx *ctx, const json_t *pod, json_t **ret_volumes, struct err *err);

/*
 * Re-projects @pod's configMap, secret, downwardAPI and projected volumes, swapping in
 * new content only where it differs; *ret_changed tells whether any volume changed.
 * Service account tokens are renewed once 80% of their lifetime has passed.
 */
int vol_refresh(const struct vol_ctx *ctx, const json_t *pod, bool *ret_changed, struct err *err);

/*
 * OCI mounts ("destination", "type": "bind", "source", "options") for @container's
 * volumeMounts[], from @volumes as vol_setup() returned it. subPath (and subPathExpr,
 * expanded with $(VAR) from @container's env[].value; pass a container whose valueFrom
 * entries are resolved into value to use those) must stay inside the volume: absolute
 * paths and ".." are refused and symlinks are resolved within the volume; a missing
 * subPath is created as a directory. mountPropagation None/HostToContainer/Bidirectional
 * map to rprivate/rslave/rshared. EINVAL for a mount of an undeclared volume or a bad
 * field.
 */
int vol_container_mounts(const json_t *volumes, const json_t *container, json_t **ret_mounts,
			 struct err *err);

/*
 * Unmounts everything mounted at or below pod @pod_uid's volumes (its tmpfs instances, and
 * what a container with Bidirectional propagation mounted there), lazily when busy, then
 * removes <pods_dir>/<pod_uid>/volumes. Never enters hostPath or claim data: those live
 * outside the pod directory, and removal stops with EBUSY at any mount point it still
 * meets. A pod without volumes on disk is fine.
 */
int vol_teardown(const struct vol_ctx *ctx, const char *pod_uid, struct err *err);

#endif
