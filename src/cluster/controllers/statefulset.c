/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The statefulset controller: pods with stable names "<set>-<ordinal>", hostnames and
 * per-ordinal PersistentVolumeClaims made from volumeClaimTemplates before the pod.
 * OrderedReady creates in ordinal order, each pod waiting for the one before it to be
 * Running and Ready, and removes in reverse; Parallel does both at once. Templates are
 * ControllerRevisions; RollingUpdate replaces pods from the highest ordinal down to the
 * partition, one at a time, OnDelete only when a pod is deleted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/batch_util.h"
#include "cluster/controllers/controllers.h"

#define COMPONENT "statefulset-controller"
#define APPS_V1   "/apis/apps/v1"
#define HASH_KEY  "controller-revision-hash"
#define NAME_KEY  "statefulset.kubernetes.io/pod-name"
#define INDEX_KEY "apps.kubernetes.io/pod-index"

struct stsctl {
	struct kc *c;
	struct informer *sets, *pods, *revs, *pvcs;
	struct ctlb_index *pods_by_owner, *revs_by_owner;
	struct ctlb_workers *w;
	atomic_bool ready;
};

/* ---- pure decisions ----------------------------------------------------------------- */

int64_t stateful_ordinal(const char *set, const char *pod)
{
	size_t n = strlen(set);
	char *end;
	long long v;

	if (!pod || strncmp(pod, set, n) != 0 || pod[n] != '-' || !pod[n + 1])
		return -1;
	if (pod[n + 1] == '0' && pod[n + 2])
		return -1;
	v = strtoll(pod + n + 1, &end, 10);
	return *end || v < 0 ? -1 : v;
}

char *stateful_claim_name(const char *claim, const char *set, int64_t ordinal)
{
	return xasprintf("%s-%s-%lld", claim, set, (long long)ordinal);
}

/* Running with the Ready condition (and ready long enough when @min_ready > 0). */
bool stateful_pod_healthy(const json_t *pod, int64_t min_ready, int64_t now)
{
	return ctlb_streq(ctlb_str(pod, "status.phase"), "Running") &&
	       !ctlb_get(pod, "metadata.deletionTimestamp") &&
	       ctlb_pod_available(pod, min_ready, now);
}

/*
 * The pod for @ordinal from the template of @template_set (the set, or one rebuilt from
 * an older revision), labelled with @revision: a new object.
 */
json_t *stateful_new_pod(const json_t *set, const json_t *template, int64_t ordinal,
			 const char *revision)
{
	const char *name = ctlb_str(set, "metadata.name");
	json_t *pod = ctlb_pod_from_template(template, set, "apps/v1", "StatefulSet");
	json_t *spec = json_object_get(pod, "spec"), *labels = ctlb_obj(pod, "metadata.labels");
	json_t *vols, *claim, *v;
	cleanup_free char *pod_name = xasprintf("%s-%lld", name, (long long)ordinal);
	size_t i, j;

	json_object_set_new(json_object_get(pod, "metadata"), "name", json_string(pod_name));
	json_object_set_new(labels, NAME_KEY, json_string(pod_name));
	json_object_set_new(labels, INDEX_KEY, json_sprintf("%lld", (long long)ordinal));
	if (revision)
		json_object_set_new(labels, HASH_KEY, json_string(revision));
	json_object_set_new(spec, "hostname", json_string(pod_name));
	if (ctlb_str(set, "spec.serviceName") && *ctlb_str(set, "spec.serviceName"))
		json_object_set_new(spec, "subdomain",
				    json_string(ctlb_str(set, "spec.serviceName")));
	vols = json_object_get(spec, "volumes");
	if (!json_is_array(vols)) {
		vols = json_array();
		json_object_set_new(spec, "volumes", vols);
	}
	json_array_foreach (ctlb_get(set, "spec.volumeClaimTemplates"), i, claim) {
		const char *cname = ctlb_str(claim, "metadata.name");
		cleanup_free char *claim_name = stateful_claim_name(cname, name, ordinal);

		/* The claim replaces a template volume of the same name, as upstream. */
		json_array_foreach (vols, j, v) {
			if (ctlb_streq(ctlb_str(v, "name"), cname)) {
				json_array_remove(vols, j);
				break;
			}
		}
		json_array_append_new(vols,
				      json_pack("{s:s, s:{s:s}}", "name", cname,
						"persistentVolumeClaim", "claimName", claim_name));
	}
	if (json_array_size(vols) == 0)
		json_object_del(spec, "volumes");
	return pod;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool split_key(const char *key, char **ns, char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return false;
	*ns = xstrndup(key, (size_t)(slash - key));
	*name = xstrdup(slash + 1);
	return true;
}

static const char *pod_revision(const json_t *pod)
{
	return json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"), HASH_KEY));
}

static bool terminating(const json_t *pod)
{
	return ctlb_get(pod, "metadata.deletionTimestamp") != NULL;
}

struct stssync {
	struct stsctl *st;
	json_t *set;
	const char *ns, *name;
	json_t *update_rev, *current_rev;
	json_t *current_template; /* rebuilt from the current revision */
	int64_t now, min_ready;
};

static int create_claims(struct stssync *s, int64_t ordinal, const char *pod_name)
{
	json_t *claim;
	size_t i;

	json_array_foreach (ctlb_get(s->set, "spec.volumeClaimTemplates"), i, claim) {
		cleanup_free char *cname =
			stateful_claim_name(ctlb_str(claim, "metadata.name"), s->name, ordinal);
		cleanup_json json_t *have = informer_get(s->st->pvcs, s->ns, cname);
		cleanup_json json_t *pvc = NULL, *labels = NULL, *ret = NULL;
		cleanup_free char *path = NULL;
		cleanup_err struct err err = ERR_INIT;
		json_t *v;
		const char *k;
		int rc;

		if (have)
			continue;
		labels = json_deep_copy(ctlb_get(claim, "metadata.labels"));
		if (!json_is_object(labels)) {
			json_decref(labels);
			labels = json_object();
		}
		json_object_foreach (ctlb_get(s->set, "spec.selector.matchLabels"), k, v)
			json_object_set(labels, k, v);
		pvc = json_pack("{s:s, s:s, s:{s:s, s:O}, s:O?}", "apiVersion", "v1", "kind",
				"PersistentVolumeClaim", "metadata", "name", cname, "labels",
				labels, "spec", json_object_get(claim, "spec"));
		v = ctlb_get(claim, "metadata.annotations");
		if (json_object_size(v))
			json_object_set(json_object_get(pvc, "metadata"), "annotations", v);
		if (ctlb_streq(ctlb_str(s->set,
					"spec.persistentVolumeClaimRetentionPolicy.whenDeleted"),
			       "Delete")) {
			json_t *ref = ctlb_owner_ref(s->set, "apps/v1", "StatefulSet");

			json_object_del(ref, "controller");
			json_object_set_new(json_object_get(pvc, "metadata"), "ownerReferences",
					    json_pack("[o]", ref));
		}
		path = ctlb_path("/api/v1", "persistentvolumeclaims", s->ns, NULL, NULL);
		rc = kc_request(s->st->c, "POST", path, NULL, pvc, &ret, &err);
		if (rc == 409)
			continue;
		if (rc < 0 || rc >= 300) {
			kc_event(s->st->c, s->set, "Warning", "FailedCreate", COMPONENT,
				 "create Claim %s for Pod %s in StatefulSet %s failed error: %s",
				 cname, pod_name, s->name, err.msg ? err.msg : "unknown error");
			return -EAGAIN;
		}
		kc_event(s->st->c, s->set, "Normal", "SuccessfulCreate", COMPONENT,
			 "create Claim %s Pod %s in StatefulSet %s success", cname, pod_name,
			 s->name);
	}
	return 0;
}

/* Creates the pod for @ordinal (claims first); 1 when it already exists. */
static int create_pod(struct stssync *s, int64_t ordinal)
{
	json_t *ru = ctlb_get(s->set, "spec.updateStrategy.rollingUpdate");
	bool rolling = ctlb_streq(ctlb_str(s->set, "spec.updateStrategy.type"), "RollingUpdate");
	int64_t start = ctlb_int(s->set, "spec.ordinals.start", 0);
	bool use_current;
	cleanup_json json_t *pod = NULL, *ret = NULL;
	cleanup_free char *pod_name = xasprintf("%s-%lld", s->name, (long long)ordinal);
	cleanup_free char *path = ctlb_path("/api/v1", "pods", s->ns, NULL, NULL);
	cleanup_err struct err err = ERR_INIT;
	int rc;

	/* Ordinals below the partition keep the current revision (newVersionedStatefulSetPod). */
	if (json_is_object(ru))
		use_current = ordinal < start + ctlb_int(ru, "partition", 0);
	else
		use_current = ordinal < start + ctlb_int(s->set, "status.currentReplicas", 0);
	use_current = rolling && use_current && s->current_template;
	if (create_claims(s, ordinal, pod_name) < 0)
		return -EAGAIN;
	if (use_current)
		pod = stateful_new_pod(s->set, s->current_template, ordinal,
				       ctlb_str(s->current_rev, "metadata.name"));
	else
		pod = stateful_new_pod(s->set, ctlb_get(s->set, "spec.template"), ordinal,
				       ctlb_str(s->update_rev, "metadata.name"));
	rc = kc_request(s->st->c, "POST", path, NULL, pod, &ret, &err);
	if (rc == 409)
		return 1;
	if (rc < 0 || rc >= 300) {
		kc_event(s->st->c, s->set, "Warning", "FailedCreate", COMPONENT,
			 "create Pod %s in StatefulSet %s failed error: %s", pod_name, s->name,
			 err.msg ? err.msg : "unknown error");
		return -EAGAIN;
	}
	kc_event(s->st->c, s->set, "Normal", "SuccessfulCreate", COMPONENT,
		 "create Pod %s in StatefulSet %s successful", pod_name, s->name);
	return 0;
}

/* whenScaled: Delete hands a condemned pod's claims to the pod, so they go with it. */
static void release_claims(struct stssync *s, const json_t *pod, int64_t ordinal)
{
	json_t *claim;
	size_t i;

	if (!ctlb_streq(ctlb_str(s->set, "spec.persistentVolumeClaimRetentionPolicy.whenScaled"),
			"Delete"))
		return;
	json_array_foreach (ctlb_get(s->set, "spec.volumeClaimTemplates"), i, claim) {
		cleanup_free char *cname =
			stateful_claim_name(ctlb_str(claim, "metadata.name"), s->name, ordinal);
		cleanup_free char *path =
			ctlb_path("/api/v1", "persistentvolumeclaims", s->ns, cname, NULL);
		cleanup_json json_t *patch = json_pack(
			"{s:{s:[{s:s, s:s, s:s?, s:s?}]}}", "metadata", "ownerReferences",
			"apiVersion", "v1", "kind", "Pod", "name", ctlb_str(pod, "metadata.name"),
			"uid", ctlb_str(pod, "metadata.uid"));
		cleanup_err struct err err = ERR_INIT;

		kc_request(s->st->c, "PATCH", path, "application/merge-patch+json", patch, NULL,
			   &err);
	}
}

static int delete_pod(struct stssync *s, const json_t *pod)
{
	const char *name = ctlb_str(pod, "metadata.name");
	cleanup_free char *path = ctlb_path("/api/v1", "pods", s->ns, name, NULL);
	cleanup_err struct err err = ERR_INIT;

	if (ctlb_delete(s->st->c, path, NULL, ctlb_str(pod, "metadata.uid"), &err) < 0) {
		kc_event(s->st->c, s->set, "Warning", "FailedDelete", COMPONENT,
			 "delete Pod %s in StatefulSet %s failed error: %s", name, s->name,
			 err.msg);
		return -EAGAIN;
	}
	kc_event(s->st->c, s->set, "Normal", "SuccessfulDelete", COMPONENT,
		 "delete Pod %s in StatefulSet %s successful", name, s->name);
	return 0;
}

/* ---- the sync ----------------------------------------------------------------------- */

/*
 * One pass of upstream's updateStatefulSet over @replicas (ordinal - start -> pod or
 * null) and @condemned (pods past the end, highest ordinal first).
 */
static int reconcile(struct stssync *s, json_t **replicas, int64_t n, json_t *condemned)
{
	bool monotonic = !ctlb_streq(ctlb_str(s->set, "spec.podManagementPolicy"), "Parallel");
	int64_t start = ctlb_int(s->set, "spec.ordinals.start", 0), i;
	const char *update = ctlb_str(s->update_rev, "metadata.name");
	bool all_healthy = true;
	json_t *pod, *ru;
	size_t k;
	int rc;

	for (i = 0; i < n; i++) {
		pod = replicas[i];
		if (pod && (ctlb_pod_terminal(pod)) && !terminating(pod)) {
			kc_event(s->st->c, s->set, "Warning", "RecreatingTerminatedPod", COMPONENT,
				 "StatefulSet %s/%s is recreating terminated Pod %s", s->ns,
				 s->name, ctlb_str(pod, "metadata.name"));
			if (delete_pod(s, pod) < 0)
				return -EAGAIN;
			if (monotonic)
				return 0;
			continue;
		}
		if (!pod) {
			rc = create_pod(s, start + i);
			if (rc < 0)
				return rc;
			if (monotonic)
				return 0;
			all_healthy = false;
			continue;
		}
		if (!stateful_pod_healthy(pod, s->min_ready, s->now)) {
			all_healthy = false;
			if (monotonic)
				return 0;
			continue;
		}
		/* A claim lost after the pod was made is recreated (identity). */
		if (create_claims(s, start + i, ctlb_str(pod, "metadata.name")) < 0)
			return -EAGAIN;
	}
	json_array_foreach (condemned, k, pod) {
		if (terminating(pod)) {
			if (monotonic)
				return 0;
			continue;
		}
		if (monotonic && !all_healthy)
			return 0;
		release_claims(s, pod, stateful_ordinal(s->name, ctlb_str(pod, "metadata.name")));
		if (delete_pod(s, pod) < 0)
			return -EAGAIN;
		if (monotonic)
			return 0;
	}
	if (!ctlb_streq(ctlb_str(s->set, "spec.updateStrategy.type"), "RollingUpdate"))
		return 0;
	ru = ctlb_get(s->set, "spec.updateStrategy.rollingUpdate");
	for (i = n - 1; i >= 0 && i >= ctlb_int(ru, "partition", 0); i--) {
		pod = replicas[i];
		if (!pod)
			return 0;
		if (!ctlb_streq(pod_revision(pod), update) && !terminating(pod))
			return delete_pod(s, pod);
		if (!stateful_pod_healthy(pod, s->min_ready, s->now))
			return 0;
	}
	return 0;
}

static int update_status(struct stssync *s, json_t *pods)
{
	int64_t replicas = 0, ready = 0, avail = 0, current = 0, updated = 0;
	const char *cur = ctlb_str(s->current_rev, "metadata.name");
	const char *upd = ctlb_str(s->update_rev, "metadata.name");
	cleanup_json json_t *status = NULL, *body = NULL;
	cleanup_free char *path = NULL;
	cleanup_err struct err err = ERR_INIT;
	json_t *old = json_object_get(s->set, "status"), *pod;
	size_t i;
	int rc;

	json_array_foreach (pods, i, pod) {
		if (ctlb_str(pod, "status.phase"))
			replicas++;
		if (ctlb_streq(ctlb_str(pod, "status.phase"), "Running") && ctlb_pod_ready(pod)) {
			ready++;
			avail += ctlb_pod_available(pod, s->min_ready, s->now);
		}
		if (ctlb_str(pod, "status.phase") && !terminating(pod)) {
			current += ctlb_streq(pod_revision(pod), cur);
			updated += ctlb_streq(pod_revision(pod), upd);
		}
	}
	status = json_deep_copy(old);
	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	if (ctlb_streq(ctlb_str(s->set, "spec.updateStrategy.type"), "RollingUpdate") &&
	    updated == replicas && ready == replicas &&
	    replicas == ctlb_int(s->set, "spec.replicas", 1)) {
		current = updated;
		cur = upd;
	}
	json_object_set_new(status, "observedGeneration",
			    json_integer(ctlb_int(s->set, "metadata.generation", 0)));
	json_object_set_new(status, "replicas", json_integer(replicas));
	json_object_set_new(status, "readyReplicas", json_integer(ready));
	json_object_set_new(status, "currentReplicas", json_integer(current));
	json_object_set_new(status, "updatedReplicas", json_integer(updated));
	json_object_set_new(status, "availableReplicas", json_integer(avail));
	json_object_set_new(status, "currentRevision", json_string(cur));
	json_object_set_new(status, "updateRevision", json_string(upd));
	if (!json_object_get(status, "collisionCount"))
		json_object_set_new(status, "collisionCount", json_integer(0));
	if (json_equal(status, old))
		return 0;
	body = json_deep_copy(s->set);
	json_object_set(body, "status", status);
	path = ctlb_path(APPS_V1, "statefulsets", s->ns, s->name, "status");
	rc = ctlb_put(s->st->c, path, body, NULL, &err);
	if (rc < 0 || rc >= 300) {
		log_debug("update status of statefulset '%s/%s': %s", s->ns, s->name, err.msg);
		return -EAGAIN;
	}
	return 0;
}

static int bump_collisions(struct stsctl *st, const json_t *set)
{
	cleanup_json json_t *body = json_deep_copy(set);
	cleanup_free char *path =
		ctlb_path(APPS_V1, "statefulsets", ctlb_str(set, "metadata.namespace"),
			  ctlb_str(set, "metadata.name"), "status");
	cleanup_err struct err err = ERR_INIT;

	json_object_set_new(ctlb_obj(body, "status"), "collisionCount",
			    json_integer(ctlb_int(set, "status.collisionCount", 0) + 1));
	ctlb_put(st->c, path, body, NULL, &err);
	return -EAGAIN;
}

static int cmp_ordinal_desc(const void *a, const void *b)
{
	int64_t oa = ctlb_int(*(json_t *const *)a, "o", 0),
		ob = ctlb_int(*(json_t *const *)b, "o", 0);

	return oa < ob ? 1 : oa > ob ? -1 : 0;
}

static int sync_set(struct stsctl *st, json_t *set)
{
	struct stssync s = {.st = st, .set = set, .now = ctlb_now()};
	cleanup_json json_t *revs =
		ctlb_index_get(st->revs_by_owner, ctlb_str(set, "metadata.uid"));
	cleanup_json json_t *pods =
		ctlb_index_get(st->pods_by_owner, ctlb_str(set, "metadata.uid"));
	cleanup_json json_t *condemned = json_array(), *live = json_object();
	cleanup_err struct err err = ERR_INIT;
	int64_t replicas = ctlb_int(set, "spec.replicas", 1);
	int64_t start = ctlb_int(set, "spec.ordinals.start", 0);
	const char *want_cur = ctlb_str(set, "status.currentRevision");
	const char *keep[3] = {NULL, NULL, NULL};
	json_t **slots, *pod, *r;
	size_t k, nc;
	int rc;

	s.ns = ctlb_str(set, "metadata.namespace");
	s.name = ctlb_str(set, "metadata.name");
	s.min_ready = ctlb_int(set, "spec.minReadySeconds", 0);
	if (ctlb_get(set, "metadata.deletionTimestamp") || !s.ns || !s.name)
		return 0;
	rc = ctlb_revision_sync(st->c, set, "StatefulSet", revs,
				ctlb_get(set, "spec.template.metadata.labels"), &s.update_rev,
				&err);
	if (rc == -EEXIST)
		return bump_collisions(st, set);
	if (rc < 0) {
		log_debug("sync revision of statefulset '%s/%s': %s", s.ns, s.name, err.msg);
		return -EAGAIN;
	}
	json_array_foreach (revs, k, r)
		if (want_cur && ctlb_streq(ctlb_str(r, "metadata.name"), want_cur))
			s.current_rev = json_incref(r);
	if (!s.current_rev)
		s.current_rev = json_incref(s.update_rev);
	s.current_template = json_deep_copy(ctlb_get(s.current_rev, "data.spec.template"));
	if (s.current_template)
		json_object_del(s.current_template, "$patch");

	slots = xcalloc((size_t)(replicas > 0 ? replicas : 0) + 1, sizeof(*slots));
	json_array_foreach (pods, k, pod) {
		int64_t ord = stateful_ordinal(s.name, ctlb_str(pod, "metadata.name"));

		if (pod_revision(pod))
			json_object_set_new(live, pod_revision(pod), json_true());
		if (ord < 0)
			continue;
		if (ord >= start && ord < start + replicas)
			slots[ord - start] = pod;
		else
			json_array_append_new(
				condemned, json_pack("{s:I, s:O}", "o", (json_int_t)ord, "p", pod));
	}
	/* Condemned pods go highest ordinal first. */
	nc = json_array_size(condemned);
	{
		json_t **v = xcalloc(nc + 1, sizeof(*v));
		cleanup_json json_t *sorted = json_array();

		for (k = 0; k < nc; k++)
			v[k] = json_array_get(condemned, k);
		qsort(v, nc, sizeof(*v), cmp_ordinal_desc);
		for (k = 0; k < nc; k++)
			json_array_append(sorted, json_object_get(v[k], "p"));
		free(v);
		rc = reconcile(&s, slots, replicas > 0 ? replicas : 0, sorted);
	}
	free(slots);
	if (update_status(&s, pods) < 0)
		rc = -EAGAIN;
	keep[0] = ctlb_str(s.update_rev, "metadata.name");
	keep[1] = ctlb_str(s.current_rev, "metadata.name");
	ctlb_revision_truncate(st->c, revs, keep, live,
			       ctlb_int(set, "spec.revisionHistoryLimit", 10));
	json_decref(s.update_rev);
	json_decref(s.current_rev);
	json_decref(s.current_template);
	return rc;
}

static int sync_key(void *arg, const char *key, int64_t *ret_after)
{
	struct stsctl *st = arg;
	cleanup_free char *ns = NULL, *name = NULL;
	cleanup_json json_t *set = NULL;
	int64_t min_ready;

	if (!atomic_load(&st->ready) || !informer_synced(st->sets) || !informer_synced(st->pods) ||
	    !informer_synced(st->revs) || !informer_synced(st->pvcs)) {
		*ret_after = 100;
		return 0;
	}
	if (!split_key(key, &ns, &name))
		return 0;
	set = informer_get(st->sets, ns, name);
	if (!set)
		return 0;
	min_ready = ctlb_int(set, "spec.minReadySeconds", 0);
	if (min_ready > 0)
		*ret_after = min_ready * 1000;
	return sync_set(st, set);
}

/* ---- informer handlers -------------------------------------------------------------- */

static void set_added(void *arg, json_t *obj)
{
	struct stsctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	ctlb_enqueue(st->w, key);
}

static void set_updated(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	set_added(arg, obj);
}

static void owned_event(struct stsctl *st, struct ctlb_index *ix, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;
	const json_t *ref = ctlb_controller_ref(o);
	cleanup_free char *key = NULL;

	ctlb_index_update(ix, old, obj);
	if (!ref || !ctlb_streq(ctlb_str(ref, "kind"), "StatefulSet"))
		return;
	key = xasprintf("%s/%s", ctlb_str(o, "metadata.namespace"), ctlb_str(ref, "name"));
	ctlb_enqueue(st->w, key);
}

static void pod_added(void *arg, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->pods_by_owner, NULL, obj);
}

static void pod_updated(void *arg, json_t *old, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->pods_by_owner, old, obj);
}

static void pod_deleted(void *arg, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->pods_by_owner, obj, NULL);
}

static void rev_added(void *arg, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->revs_by_owner, NULL, obj);
}

static void rev_updated(void *arg, json_t *old, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->revs_by_owner, old, obj);
}

static void rev_deleted(void *arg, json_t *obj)
{
	struct stsctl *st = arg;

	owned_event(st, st->revs_by_owner, obj, NULL);
}

void statefulset_stop(void *state)
{
	struct stsctl *st = state;

	if (!st)
		return;
	ctlb_workers_stop(st->w);
	informer_stop(st->sets);
	informer_stop(st->pods);
	informer_stop(st->revs);
	informer_stop(st->pvcs);
	ctlb_workers_free(st->w);
	ctlb_index_free(st->pods_by_owner);
	ctlb_index_free(st->revs_by_owner);
	free(st);
}

int statefulset_start(struct kc *c, const struct controllers_config *cfg, void **ret,
		      struct err *err)
{
	struct stsctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers sh = {
		.add = set_added, .update = set_updated, .del = NULL, .arg = st};
	const struct informer_handlers ph = {
		.add = pod_added, .update = pod_updated, .del = pod_deleted, .arg = st};
	const struct informer_handlers rh = {
		.add = rev_added, .update = rev_updated, .del = rev_deleted, .arg = st};
	const struct informer_handlers none = {.add = NULL, .update = NULL, .del = NULL, .arg = st};
	int rc;

	st->c = c;
	st->pods_by_owner = ctlb_index_new();
	st->revs_by_owner = ctlb_index_new();
	rc = ctlb_workers_start(cfg && cfg->workers > 0 ? cfg->workers : 2, sync_key, st, &st->w,
				err);
	if (rc < 0)
		goto fail;
	/* Stateful pods always carry the pod-name label: the rest are never cached. */
	rc = informer_start(c, "/api/v1/pods?labelSelector=statefulset.kubernetes.io%2Fpod-name",
			    &ph, &st->pods, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, APPS_V1 "/controllerrevisions", &rh, &st->revs, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, "/api/v1/persistentvolumeclaims", &none, &st->pvcs, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, APPS_V1 "/statefulsets", &sh, &st->sets, err);
	if (rc < 0)
		goto fail;
	atomic_store(&st->ready, true);
	*ret = st;
	return 0;
fail:
	statefulset_stop(st);
	return err_wrap(err, "start statefulset controller");
}
