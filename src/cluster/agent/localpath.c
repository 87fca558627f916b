/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local-path provisioner (see localpath.h): binds claims to hostPath volumes on this
 * node, the work upstream splits between the PV controller and an external provisioner,
 * done here at the moment a pod on the node first needs the claim (WaitForFirstConsumer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/localpath.h"
#include "cluster/client/client.h"

#define HOSTNAME_KEY     "kubernetes.io/hostname"
#define ANN_PROVISIONER  "pv.kubernetes.io/provisioned-by"
#define ANN_BIND_DONE    "pv.kubernetes.io/bind-completed"
#define ANN_BOUND_BY     "pv.kubernetes.io/bound-by-controller"
#define ANN_SELECTED     "volume.kubernetes.io/selected-node"
#define ANN_STORAGE_PROV "volume.kubernetes.io/storage-provisioner"
#define ANN_BETA_CLASS   "volume.beta.kubernetes.io/storage-class"
#define CONFLICT_RETRIES 8

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static json_t *obj_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, key, v);
	}
	return v;
}

/* A request whose failure statuses come back as -errno (ENOENT 404, EEXIST 409). */
static int req(struct kc *c, const char *method, const char *path, const json_t *body, json_t **ret,
	       struct err *err)
{
	cleanup_json json_t *out = NULL;
	int r = kc_request(c, method, path, NULL, body, &out, err);

	if (r < 0)
		return r;
	if (r >= 400)
		return -err->code;
	if (ret)
		*ret = TAKE_PTR(out);
	return r;
}

static char *pvc_path(const char *ns, const char *name)
{
	return xasprintf("/api/v1/namespaces/%s/persistentvolumeclaims/%s", ns, name);
}

static char *pv_path(const char *name)
{
	return xasprintf("/api/v1/persistentvolumes/%s", name);
}

/*
 * Whether @pv may be used on @node: no hostname requirement, or one that names @node.
 * *ret_other is the node it names otherwise.
 */
static bool pv_on_node(const json_t *pv, const char *node, const char **ret_other, bool *ret_pinned)
{
	const json_t *terms = json_object_get(
		json_object_get(json_object_get(json_object_get(pv, "spec"), "nodeAffinity"),
				"required"),
		"nodeSelectorTerms");
	bool pinned = false;
	size_t i, j, k;
	json_t *t, *e, *v;

	*ret_other = "";
	*ret_pinned = false;
	json_array_foreach (terms, i, t) {
		json_array_foreach (json_object_get(t, "matchExpressions"), j, e) {
			if (strcmp(jstr(e, "key"), HOSTNAME_KEY) ||
			    strcmp(jstr(e, "operator"), "In"))
				continue;
			pinned = true;
			json_array_foreach (json_object_get(e, "values"), k, v) {
				if (!strcmp(json_string_value(v) ? json_string_value(v) : "",
					    node)) {
					*ret_pinned = true;
					return true;
				}
				if (!**ret_other && json_string_value(v))
					*ret_other = json_string_value(v);
			}
		}
	}
	*ret_pinned = pinned;
	return !pinned;
}

static const char *pv_host_path(const json_t *pv)
{
	const json_t *spec = json_object_get(pv, "spec");
	const char *p = jstr(json_object_get(spec, "hostPath"), "path");

	return *p ? p : jstr(json_object_get(spec, "local"), "path");
}

/* mkdir -p with the final directory 0777, as local-path-provisioner makes it. */
static int make_dir(const char *path, struct err *err)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return err_set(err, ENOTDIR, "volume directory '%s' is not a directory",
				       path);
		return 0;
	}
	if (fs_mkdir_p(path, 0755, err) < 0)
		return -err->code;
	if (chmod(path, 0777) < 0)
		return err_sys(err, "set mode of '%s'", path);
	return 0;
}

static const char *claim_class(const json_t *pvc, bool *ret_set)
{
	const json_t *spec = json_object_get(pvc, "spec");
	const char *beta = jstr(json_object_get(json_object_get(pvc, "metadata"), "annotations"),
				ANN_BETA_CLASS);

	*ret_set = json_is_string(json_object_get(spec, "storageClassName"));
	if (*ret_set)
		return jstr(spec, "storageClassName");
	*ret_set = *beta != '\0';
	return beta;
}

static json_t *new_pv(const char *storage_root, const char *node, const json_t *pvc,
		      const char *name)
{
	const json_t *meta = json_object_get(pvc, "metadata"), *spec = json_object_get(pvc, "spec");
	const char *ns = jstr(meta, "namespace"), *cname = jstr(meta, "name");
	json_t *modes = json_object_get(spec, "accessModes");
	json_t *storage = json_object_get(
		json_object_get(json_object_get(spec, "resources"), "requests"), "storage");
	cleanup_free char *dir = xasprintf("%s/%s_%s_%s", storage_root, name, ns, cname);

	/* validation makes a claim carry both; the fallbacks keep a bad one from crashing us */
	modes = json_array_size(modes) ? json_incref(modes) : json_pack("[s]", "ReadWriteOnce");
	storage = storage ? json_incref(storage) : json_string("1Gi");

	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}},"
			 " s:{s:{s:o}, s:o, s:s, s:s, s:s,"
			 " s:{s:s, s:s, s:s, s:s, s:s, s:s},"
			 " s:{s:s, s:s},"
			 " s:{s:{s:[{s:[{s:s, s:s, s:[s]}]}]}}}}",
			 "apiVersion", "v1", "kind", "PersistentVolume", "metadata", "name", name,
			 "annotations", ANN_PROVISIONER, LOCALPATH_PROVISIONER, "spec", "capacity",
			 "storage", storage, "accessModes", modes, "persistentVolumeReclaimPolicy",
			 "Delete", "storageClassName", LOCALPATH_CLASS, "volumeMode", "Filesystem",
			 "claimRef", "kind", "PersistentVolumeClaim", "apiVersion", "v1",
			 "namespace", ns, "name", cname, "uid", jstr(meta, "uid"),
			 "resourceVersion", jstr(meta, "resourceVersion"), "hostPath", "path", dir,
			 "type", "DirectoryOrCreate", "nodeAffinity", "required",
			 "nodeSelectorTerms", "matchExpressions", "key", HOSTNAME_KEY, "operator",
			 "In", "values", node);
}

/* PV status phase Bound; retried on conflicts with other writers. */
static int pv_set_bound(struct kc *c, const char *name, struct err *err)
{
	cleanup_free char *path = pv_path(name);
	cleanup_free char *spath = xasprintf("%s/status", path);

	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		cleanup_json json_t *pv = NULL;
		int r;

		if (req(c, "GET", path, NULL, &pv, err) < 0)
			return -err->code;
		if (!strcmp(jstr(json_object_get(pv, "status"), "phase"), "Bound"))
			return 0;
		json_object_set_new(obj_at(pv, "status"), "phase", json_string("Bound"));
		r = req(c, "PUT", spath, pv, NULL, err);
		if (r == -EEXIST) {
			err_clear(err);
			continue;
		}
		return r < 0 ? r : 0;
	}
	return err_set(err, EAGAIN, "update persistentvolume \"%s\": too many conflicts", name);
}

/* The PV's claimRef for a volume created for the claim in advance (pre-bound by name). */
static int pv_set_claim_ref(struct kc *c, const char *name, const json_t *pvc, struct err *err)
{
	cleanup_free char *path = pv_path(name);
	const json_t *meta = json_object_get(pvc, "metadata");

	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		cleanup_json json_t *pv = NULL;
		json_t *ref;
		int r;

		if (req(c, "GET", path, NULL, &pv, err) < 0)
			return -err->code;
		ref = json_object_get(json_object_get(pv, "spec"), "claimRef");
		if (*jstr(ref, "uid")) {
			if (strcmp(jstr(ref, "uid"), jstr(meta, "uid")))
				return err_set(err, EEXIST,
					       "persistentvolume \"%s\" is bound to another claim",
					       name);
			return 0;
		}
		json_object_set_new(obj_at(pv, "spec"), "claimRef",
				    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kind",
					      "PersistentVolumeClaim", "apiVersion", "v1",
					      "namespace", jstr(meta, "namespace"), "name",
					      jstr(meta, "name"), "uid", jstr(meta, "uid"),
					      "resourceVersion", jstr(meta, "resourceVersion")));
		r = req(c, "PUT", path, pv, NULL, err);
		if (r == -EEXIST) {
			err_clear(err);
			continue;
		}
		return r < 0 ? r : 0;
	}
	return err_set(err, EAGAIN, "update persistentvolume \"%s\": too many conflicts", name);
}

/* spec.volumeName and the binding annotations, then status Bound, each retried on 409. */
static int claim_bind(struct kc *c, const char *ns, const char *claim, const json_t *pv,
		      const char *node, struct err *err)
{
	const char *pvname = jstr(json_object_get(pv, "metadata"), "name");
	const json_t *pvspec = json_object_get(pv, "spec");
	cleanup_free char *path = pvc_path(ns, claim);
	cleanup_free char *spath = xasprintf("%s/status", path);
	bool done = false;

	for (int i = 0; i < CONFLICT_RETRIES && !done; i++) {
		cleanup_json json_t *pvc = NULL;
		json_t *spec, *ann;
		const char *cur;
		int r;

		if (req(c, "GET", path, NULL, &pvc, err) < 0)
			return -err->code;
		spec = obj_at(pvc, "spec");
		ann = obj_at(obj_at(pvc, "metadata"), "annotations");
		cur = jstr(spec, "volumeName");
		if (*cur && strcmp(cur, pvname))
			return err_set(err, EEXIST,
				       "persistentvolumeclaim \"%s\" is bound to another volume %s",
				       claim, cur);
		if (*cur && !strcmp(jstr(ann, ANN_BIND_DONE), "yes")) {
			done = true;
			break;
		}
		json_object_set_new(spec, "volumeName", json_string(pvname));
		json_object_set_new(ann, ANN_BIND_DONE, json_string("yes"));
		json_object_set_new(ann, ANN_BOUND_BY, json_string("yes"));
		json_object_set_new(ann, ANN_SELECTED, json_string(node));
		json_object_set_new(ann, ANN_STORAGE_PROV, json_string(LOCALPATH_PROVISIONER));
		r = req(c, "PUT", path, pvc, NULL, err);
		if (r == -EEXIST) {
			err_clear(err);
			continue;
		}
		if (r < 0)
			return r;
		done = true;
	}
	if (!done)
		return err_set(err, EAGAIN,
			       "update persistentvolumeclaim \"%s\": too many conflicts", claim);
	for (int i = 0; i < CONFLICT_RETRIES; i++) {
		cleanup_json json_t *pvc = NULL;
		json_t *st;
		int r;

		if (req(c, "GET", path, NULL, &pvc, err) < 0)
			return -err->code;
		st = obj_at(pvc, "status");
		if (!strcmp(jstr(st, "phase"), "Bound"))
			return 0;
		json_object_set_new(st, "phase", json_string("Bound"));
		json_object_set(st, "accessModes", json_object_get(pvspec, "accessModes"));
		json_object_set(st, "capacity", json_object_get(pvspec, "capacity"));
		r = req(c, "PUT", spath, pvc, NULL, err);
		if (r == -EEXIST) {
			err_clear(err);
			continue;
		}
		return r < 0 ? r : 0;
	}
	return err_set(err, EAGAIN, "update persistentvolumeclaim \"%s\": too many conflicts",
		       claim);
}

/* The path of the volume a claim is bound to, after checking it belongs to this node. */
static int bound_path(struct kc *c, const char *node, const json_t *pvc, char **ret_path,
		      struct err *err)
{
	const json_t *meta = json_object_get(pvc, "metadata");
	const char *claim = jstr(meta, "name"), *ns = jstr(meta, "namespace");
	const char *vol = jstr(json_object_get(pvc, "spec"), "volumeName"), *other, *hp;
	cleanup_free char *path = pv_path(vol);
	cleanup_json json_t *pv = NULL;
	bool pinned;
	int r;

	r = req(c, "GET", path, NULL, &pv, err);
	if (r == -ENOENT) {
		err_clear(err);
		return err_set(
			err, ENOENT,
			"persistentvolumeclaim \"%s\" is bound to volume %s, which does not exist",
			claim, vol);
	}
	if (r < 0)
		return err_wrap(err, "get persistentvolume \"%s\"", vol);
	if (!pv_on_node(pv, node, &other, &pinned))
		return err_set(err, EXDEV, "volume %s is bound to node %s, not %s", vol, other,
			       node);
	hp = pv_host_path(pv);
	if (*hp != '/')
		return err_set(err, EINVAL, "volume %s has no host path this node can mount", vol);
	if (make_dir(hp, err) < 0)
		return -err->code;
	/* finish a binding that was interrupted, or that a user began by naming the volume */
	if (strcmp(jstr(json_object_get(pvc, "status"), "phase"), "Bound") ||
	    strcmp(jstr(json_object_get(pv, "status"), "phase"), "Bound")) {
		if (pv_set_claim_ref(c, vol, pvc, err) < 0 || pv_set_bound(c, vol, err) < 0 ||
		    claim_bind(c, ns, claim, pv, node, err) < 0)
			return err_wrap(err, "bind persistentvolumeclaim \"%s\"", claim);
	}
	*ret_path = xstrdup(hp);
	return 0;
}

static int provision(struct kc *c, const char *storage_root, const char *node, const json_t *pvc,
		     char **ret_path, struct err *err)
{
	const json_t *meta = json_object_get(pvc, "metadata");
	const char *claim = jstr(meta, "name"), *ns = jstr(meta, "namespace");
	cleanup_free char *name = xasprintf("pvc-%s", jstr(meta, "uid"));
	cleanup_json json_t *pv = new_pv(storage_root, node, pvc, name);
	cleanup_json json_t *made = NULL;
	const char *other;
	bool pinned;
	int r;

	if (!strcmp(jstr(json_object_get(pvc, "spec"), "volumeMode"), "Block"))
		return err_set(err, EINVAL,
			       "persistentvolumeclaim \"%s\": local-path volumes cannot be block "
			       "devices",
			       claim);
	/* the directory first: a failure then leaves no volume object behind */
	if (make_dir(pv_host_path(pv), err) < 0)
		return -err->code;
	r = req(c, "POST", "/api/v1/persistentvolumes", pv, &made, err);
	if (r == -EEXIST) {
		/* an earlier attempt, ours or another node's, created it */
		cleanup_free char *path = pv_path(name);

		err_clear(err);
		if (req(c, "GET", path, NULL, &made, err) < 0)
			return err_wrap(err, "get persistentvolume \"%s\"", name);
		if (strcmp(jstr(json_object_get(json_object_get(made, "spec"), "claimRef"), "uid"),
			   jstr(meta, "uid")))
			return err_set(err, EEXIST,
				       "persistentvolume \"%s\" belongs to another claim", name);
		if (!pv_on_node(made, node, &other, &pinned))
			return err_set(err, EXDEV, "volume %s is bound to node %s, not %s", name,
				       other, node);
	} else if (r < 0) {
		return err_wrap(err, "create persistentvolume \"%s\"", name);
	}
	if (pv_set_bound(c, name, err) < 0 || claim_bind(c, ns, claim, made, node, err) < 0)
		return err_wrap(err, "bind persistentvolumeclaim \"%s\"", claim);
	*ret_path = xstrdup(pv_host_path(made));
	return 0;
}

int localpath_claim(struct kc *c, const char *storage_root, const char *node, const char *ns,
		    const char *claim, char **ret_path, struct err *err)
{
	cleanup_free char *path = pvc_path(ns, claim);
	cleanup_json json_t *pvc = NULL;
	const char *cls;
	bool cls_set;
	int r;

	r = req(c, "GET", path, NULL, &pvc, err);
	if (r == -ENOENT) {
		err_clear(err);
		return err_set(err, ENOENT, "persistentvolumeclaim \"%s\" not found", claim);
	}
	if (r < 0)
		return err_wrap(err, "get persistentvolumeclaim \"%s\"", claim);
	if (*jstr(json_object_get(pvc, "spec"), "volumeName"))
		return bound_path(c, node, pvc, ret_path, err);
	cls = claim_class(pvc, &cls_set);
	/* "" asks for no class; with no static volumes to match, it means ours too */
	if (cls_set && *cls && strcmp(cls, LOCALPATH_CLASS))
		return err_set(err, EINVAL,
			       "persistentvolumeclaim \"%s\" uses storage class \"%s\", which no "
			       "provisioner on this node serves",
			       claim, cls);
	if (!*jstr(json_object_get(pvc, "metadata"), "uid"))
		return err_set(err, EINVAL, "persistentvolumeclaim \"%s\" has no uid", claim);
	return provision(c, storage_root, node, pvc, ret_path, err);
}

/* Whether @path is a volume directory this provisioner made directly under @root. */
static bool ours_under(const char *root, const char *path)
{
	size_t n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	return n > 0 && !strncmp(path, root, n) && path[n] == '/' &&
	       !strncmp(path + n + 1, "pvc-", 4) && !strchr(path + n + 1, '/') &&
	       !strstr(path + n + 1, "..");
}

int localpath_release(struct kc *c, const char *storage_root, const char *node, const json_t *pv,
		      struct err *err)
{
	const json_t *meta = json_object_get(pv, "metadata"), *spec = json_object_get(pv, "spec");
	const json_t *ref = json_object_get(spec, "claimRef");
	const char *name = jstr(meta, "name"), *hp = pv_host_path(pv), *other;
	cleanup_free char *path = pv_path(name);
	bool released = !strcmp(jstr(json_object_get(pv, "status"), "phase"), "Released");
	bool pinned;
	int r;

	if (strcmp(jstr(json_object_get(meta, "annotations"), ANN_PROVISIONER),
		   LOCALPATH_PROVISIONER) ||
	    strcmp(jstr(spec, "persistentVolumeReclaimPolicy"), "Delete") ||
	    !pv_on_node(pv, node, &other, &pinned) || !pinned || !ours_under(storage_root, hp))
		return 0;
	if (!released && *jstr(ref, "uid")) {
		cleanup_free char *cpath = pvc_path(jstr(ref, "namespace"), jstr(ref, "name"));
		cleanup_json json_t *pvc = NULL;

		r = req(c, "GET", cpath, NULL, &pvc, err);
		if (r == -ENOENT) {
			err_clear(err);
			released = true;
		} else if (r < 0) {
			return err_wrap(err, "get persistentvolumeclaim \"%s\"", jstr(ref, "name"));
		} else {
			released = strcmp(jstr(json_object_get(pvc, "metadata"), "uid"),
					  jstr(ref, "uid")) != 0;
		}
	}
	if (!released)
		return 0;
	if (fs_remove_tree(AT_FDCWD, hp, err) < 0)
		return err_wrap(err, "delete persistentvolume \"%s\"", name);
	r = req(c, "DELETE", path, NULL, NULL, err);
	if (r == -ENOENT)
		err_clear(err);
	else if (r < 0)
		return err_wrap(err, "delete persistentvolume \"%s\"", name);
	return 1;
}
