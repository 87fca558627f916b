/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The built-in local-path provisioner (the agent's, in the manner of Rancher's
 * local-path-provisioner that k3s ships): a PersistentVolumeClaim of storage class
 * "local-path" (or of none) gets a hostPath PersistentVolume on the node of the first pod
 * that uses it, a directory under the node's storage root, and both objects are bound to
 * each other. The agent calls localpath_claim() from vol_setup()'s claim callback and
 * localpath_release() for PersistentVolumes whose claim is gone.
 */
#ifndef SKIFF_CLUSTER_AGENT_LOCALPATH_H
#define SKIFF_CLUSTER_AGENT_LOCALPATH_H

#include <jansson.h>

struct err;
struct kc;

#define LOCALPATH_CLASS       "local-path"
#define LOCALPATH_PROVISIONER "skiff.io/local-path"

/*
 * The host directory of claim @ns/@claim for a pod on @node, provisioning and binding a
 * volume under @storage_root (<root>/pvc-<claim uid>_<ns>_<claim>) when the claim is
 * unbound; heap string in *ret_path. Errors: ENOENT when the claim (or its bound volume)
 * does not exist; EXDEV when the volume lives on another node; EINVAL when the claim asks
 * for a storage class no provisioner on this node serves, or its volume has no host path.
 */
int localpath_claim(struct kc *c, const char *storage_root, const char *node, const char *ns,
		    const char *claim, char **ret_path, struct err *err);

/*
 * Deletes @pv (its directory tree, then the object) when it is one of ours on @node under
 * @storage_root with reclaim policy Delete, and released: phase Released, or its claim is
 * gone (deleted, or replaced by another of the same name). Returns 1 when deleted, 0 when
 * the volume is not ours to delete or still in use.
 */
int localpath_release(struct kc *c, const char *storage_root, const char *node, const json_t *pv,
		      struct err *err);

#endif
