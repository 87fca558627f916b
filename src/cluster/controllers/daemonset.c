/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemonset controller: one pod per eligible node. A node is eligible when it
 * matches the template's nodeSelector and required node affinity and its NoSchedule and
 * NoExecute taints are tolerated (with the tolerations upstream adds to every daemon
 * pod). Pods are created with a matchFields node affinity for their node, so the
 * scheduler binds them as upstream's does since 1.12. Templates are versioned as
 * ControllerRevisions (kubectl rollout history/undo); RollingUpdate replaces pods within
 * maxUnavailable or maxSurge, OnDelete only when a pod is deleted.
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

#define COMPONENT "daemonset-controller"
#define APPS_V1   "/apis/apps/v1"
#define HASH_KEY  "controller-revision-hash"
#define GEN_KEY   "pod-template-generation"

struct dsctl {
	struct kc *c;
	struct informer *sets, *nodes, *pods, *revs;
	struct ctlb_index *pods_by_owner, *revs_by_owner;
	struct ctlb_expect *expect;
	struct ctlb_workers *w;
	atomic_bool ready;
};

/* ---- pure decisions ----------------------------------------------------------------- */

static const struct {
	const char *key, *effect;
} default_tolerations[] = {
	{"node.kubernetes.io/not-ready", "NoExecute"},
	{"node.kubernetes.io/unreachable", "NoExecute"},
	{"node.kubernetes.io/disk-pressure", "NoSchedule"},
	{"node.kubernetes.io/memory-pressure", "NoSchedule"},
	{"node.kubernetes.io/pid-pressure", "NoSchedule"},
	{"node.kubernetes.io/unschedulable", "NoSchedule"},
};

bool daemon_toleration_matches(const json_t *tol, const json_t *taint)
{
	const char *effect = ctlb_str(tol, "effect"), *key = ctlb_str(tol, "key");
	const char *op = ctlb_str(tol, "operator");

	if (effect && *effect && !ctlb_streq(effect, ctlb_str(taint, "effect")))
		return false;
	if (ctlb_streq(op, "Exists"))
		return !key || !*key || ctlb_streq(key, ctlb_str(taint, "key"));
	if (!key || !ctlb_streq(key, ctlb_str(taint, "key")))
		return false;
	return ctlb_streq(ctlb_str(tol, "value") ? ctlb_str(tol, "value") : "",
			  ctlb_str(taint, "value") ? ctlb_str(taint, "value") : "");
}

/* The template's tolerations with the DaemonSet defaults added (AddOrUpdateDaemonPodTolerations).
 */
json_t *daemon_tolerations(const json_t *pod_spec)
{
	json_t *tols = json_deep_copy(json_object_get(pod_spec, "tolerations")), *t;
	size_t i, n = sizeof(default_tolerations) / sizeof(default_tolerations[0]);

	if (!json_is_array(tols)) {
		json_decref(tols);
		tols = json_array();
	}
	for (size_t d = 0; d < n + 1; d++) {
		const char *key = d < n ? default_tolerations[d].key
					: "node.kubernetes.io/network-unavailable";
		const char *effect = d < n ? default_tolerations[d].effect : "NoSchedule";
		bool have = false;

		if (d == n && !ctlb_bool(pod_spec, "hostNetwork", false))
			break;
		json_array_foreach (tols, i, t)
			if (ctlb_streq(ctlb_str(t, "key"), key) &&
			    ctlb_streq(ctlb_str(t, "effect"), effect) &&
			    ctlb_streq(ctlb_str(t, "operator"), "Exists"))
				have = true;
		if (!have)
			json_array_append_new(tols,
					      json_pack("{s:s, s:s, s:s}", "key", key, "operator",
							"Exists", "effect", effect));
	}
	return tols;
}

static bool term_matches(const json_t *term, const json_t *node)
{
	json_t *exprs = json_object_get(term, "matchExpressions");
	json_t *fields = json_object_get(term, "matchFields"), *r;
	const json_t *labels = ctlb_get(node, "metadata.labels");
	size_t i;

	if (json_array_size(exprs) == 0 && json_array_size(fields) == 0)
		return false;
	json_array_foreach (exprs, i, r)
		if (!ctlb_requirement_match(
			    r, json_string_value(json_object_get(labels, ctlb_str(r, "key")))))
			return false;
	json_array_foreach (fields, i, r) {
		const char *v = ctlb_streq(ctlb_str(r, "key"), "metadata.name")
					? ctlb_str(node, "metadata.name")
					: NULL;

		if (!ctlb_requirement_match(r, v))
			return false;
	}
	return true;
}

bool daemon_node_selected(const json_t *pod_spec, const json_t *node)
{
	json_t *sel = json_object_get(pod_spec, "nodeSelector"), *v, *t;
	json_t *required = ctlb_get(
		pod_spec, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
	const json_t *labels = ctlb_get(node, "metadata.labels");
	const char *k;
	size_t i;

	json_object_foreach (sel, k, v)
		if (!ctlb_streq(json_string_value(json_object_get(labels, k)),
				json_string_value(v)))
			return false;
	if (!required)
		return true;
	json_array_foreach (json_object_get(required, "nodeSelectorTerms"), i, t)
		if (term_matches(t, node))
			return true;
	return false;
}

void daemon_node_should_run(const json_t *ds, const json_t *node, bool *ret_run, bool *ret_continue)
{
	const json_t *spec = ctlb_get(ds, "spec.template.spec");
	const char *want = ctlb_str(spec, "nodeName");
	cleanup_json json_t *tols = daemon_tolerations(spec);
	json_t *taint, *tol;
	bool untolerated = false, untolerated_exec = false;
	size_t i, j;

	*ret_run = *ret_continue = false;
	if ((want && *want && !ctlb_streq(want, ctlb_str(node, "metadata.name"))) ||
	    !daemon_node_selected(spec, node))
		return;
	json_array_foreach (ctlb_get(node, "spec.taints"), i, taint) {
		const char *effect = ctlb_str(taint, "effect");
		bool ok = false;

		if (!ctlb_streq(effect, "NoSchedule") && !ctlb_streq(effect, "NoExecute"))
			continue;
		json_array_foreach (tols, j, tol)
			if (daemon_toleration_matches(tol, taint))
				ok = true;
		if (ok)
			continue;
		untolerated = true;
		if (ctlb_streq(effect, "NoExecute"))
			untolerated_exec = true;
	}
	*ret_run = !untolerated;
	*ret_continue = !untolerated_exec;
}

/* The node a daemon pod is for: spec.nodeName, or the node its affinity names. */
const char *daemon_pod_node(const json_t *pod)
{
	json_t *terms = ctlb_get(pod, "spec.affinity.nodeAffinity."
				      "requiredDuringSchedulingIgnoredDuringExecution."
				      "nodeSelectorTerms"),
	       *t, *f;
	const char *name = ctlb_str(pod, "spec.nodeName");
	size_t i, j;

	if (name && *name)
		return name;
	json_array_foreach (terms, i, t)
		json_array_foreach (json_object_get(t, "matchFields"), j, f)
			if (ctlb_streq(ctlb_str(f, "key"), "metadata.name") &&
			    ctlb_streq(ctlb_str(f, "operator"), "In") &&
			    json_array_size(json_object_get(f, "values")) == 1)
				return json_string_value(
					json_array_get(json_object_get(f, "values"), 0));
	return NULL;
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

static const char *pod_hash(const json_t *pod)
{
	return json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"), HASH_KEY));
}

static int cmp_created(const void *a, const void *b)
{
	const json_t *pa = *(json_t *const *)a, *pb = *(json_t *const *)b;
	int64_t ta = ctlb_time_parse(ctlb_str(pa, "metadata.creationTimestamp"));
	int64_t tb = ctlb_time_parse(ctlb_str(pb, "metadata.creationTimestamp"));
	const char *na = ctlb_str(pa, "metadata.name"), *nb = ctlb_str(pb, "metadata.name");

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(na ? na : "", nb ? nb : "");
}

static void sort_by_age(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_created);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

static json_t *new_pod(const json_t *ds, const char *node, const char *hash)
{
	json_t *pod =
		ctlb_pod_from_template(ctlb_get(ds, "spec.template"), ds, "apps/v1", "DaemonSet");
	json_t *spec = json_object_get(pod, "spec"), *labels = ctlb_obj(pod, "metadata.labels");
	json_t *na;

	json_object_set_new(json_object_get(pod, "metadata"), "generateName",
			    json_sprintf("%s-", ctlb_str(ds, "metadata.name")));
	json_object_set_new(labels, HASH_KEY, json_string(hash));
	json_object_set_new(
		labels, GEN_KEY,
		json_sprintf("%lld", (long long)ctlb_int(ds, "metadata.generation", 1)));
	na = ctlb_obj(spec, "affinity.nodeAffinity");
	json_object_set_new(na, "requiredDuringSchedulingIgnoredDuringExecution",
			    json_pack("{s:[{s:[{s:s, s:s, s:[s]}]}]}", "nodeSelectorTerms",
				      "matchFields", "key", "metadata.name", "operator", "In",
				      "values", node));
	json_object_set_new(spec, "tolerations", daemon_tolerations(spec));
	return pod;
}

/* ---- the sync ----------------------------------------------------------------------- */

struct node_pods {
	const json_t *node;
	bool run, cont;
	json_t *pods; /* live daemon pods on the node, oldest first */
};

struct dssync {
	struct dsctl *st;
	const char *key;
	json_t *ds;
	const char *hash;
	struct node_pods *nodes;
	size_t n;
	json_t *to_create; /* node names */
	json_t *to_delete; /* pods */
	json_t *orphans;   /* pods on nodes that do not exist */
	int64_t now;
};

static void collect_node(void *arg, json_t *node)
{
	json_t *arr = arg;

	json_array_append(arr, node);
}

static bool pod_available(struct dssync *s, const json_t *pod)
{
	return ctlb_pod_available(pod, ctlb_int(s->ds, "spec.minReadySeconds", 0), s->now);
}

static void plan_nodes(struct dssync *s, json_t *nodes, json_t *pods)
{
	json_t *by_node = json_object(), *pod, *node;
	size_t i;

	json_array_foreach (pods, i, pod) {
		const char *n = daemon_pod_node(pod);
		json_t *list;

		if (!n || ctlb_get(pod, "metadata.deletionTimestamp"))
			continue;
		list = json_object_get(by_node, n);
		if (!list) {
			list = json_array();
			json_object_set_new(by_node, n, list);
		}
		json_array_append(list, pod);
	}
	s->n = json_array_size(nodes);
	s->nodes = xcalloc(s->n + 1, sizeof(*s->nodes));
	json_array_foreach (nodes, i, node) {
		struct node_pods *np = &s->nodes[i];
		const char *name = ctlb_str(node, "metadata.name");

		np->node = node;
		daemon_node_should_run(s->ds, node, &np->run, &np->cont);
		np->pods = json_incref(json_object_get(by_node, name));
		if (!np->pods)
			np->pods = json_array();
		sort_by_age(np->pods);
		json_object_del(by_node, name);
	}
	/* What is left is for nodes that are gone. */
	s->orphans = json_array();
	{
		const char *k;
		json_t *list;

		json_object_foreach (by_node, k, list)
			json_array_extend(s->orphans, list);
	}
	json_decref(by_node);
}

static void manage(struct dssync *s)
{
	json_t *pod;
	size_t i, j;
	bool surge =
		ctlb_streq(ctlb_str(s->ds, "spec.updateStrategy.type"), "RollingUpdate") &&
		ctlb_int_or_percent(ctlb_get(s->ds, "spec.updateStrategy.rollingUpdate.maxSurge"),
				    1, true, 0) > 0;

	for (i = 0; i < s->n; i++) {
		struct node_pods *np = &s->nodes[i];
		json_t *running = json_array();

		json_array_foreach (np->pods, j, pod) {
			if (np->run && ctlb_streq(ctlb_str(pod, "status.phase"), "Failed")) {
				kc_event(s->st->c, s->ds, "Warning", "FailedDaemonPod", COMPONENT,
					 "Found failed daemon pod %s/%s on node %s, will try to "
					 "kill "
					 "it",
					 ctlb_str(pod, "metadata.namespace"),
					 ctlb_str(pod, "metadata.name"),
					 ctlb_str(np->node, "metadata.name"));
				json_array_append(s->to_delete, pod);
			} else {
				json_array_append(running, pod);
			}
		}
		if (np->run && json_array_size(running) == 0) {
			json_array_append_new(s->to_create,
					      json_string(ctlb_str(np->node, "metadata.name")));
		} else if (np->run && json_array_size(running) > 1) {
			/* Keep the oldest; with surge also the oldest of the current hash. */
			const json_t *keep_new = NULL;

			json_array_foreach (running, j, pod)
				if (surge && !keep_new && ctlb_streq(pod_hash(pod), s->hash))
					keep_new = pod;
			json_array_foreach (running, j, pod)
				if (j > 0 && pod != keep_new)
					json_array_append(s->to_delete, pod);
		} else if (!np->cont) {
			json_array_extend(s->to_delete, running);
		}
		json_decref(running);
	}
	json_array_extend(s->to_delete, s->orphans);
}

static void rolling_update(struct dssync *s)
{
	json_t *ru = ctlb_get(s->ds, "spec.updateStrategy.rollingUpdate");
	int64_t desired = 0, max_unavail, max_surge, unavailable = 0, surging = 0;
	cleanup_json json_t *candidates = json_array(), *new_nodes = json_array();
	size_t i, j;

	for (i = 0; i < s->n; i++)
		desired += s->nodes[i].run;
	max_surge = ctlb_int_or_percent(json_object_get(ru, "maxSurge"), desired, true, 0);
	max_unavail = ctlb_int_or_percent(json_object_get(ru, "maxUnavailable"), desired, true, 1);
	if (max_surge == 0 && max_unavail == 0)
		max_unavail = 1;
	for (i = 0; i < s->n; i++) {
		struct node_pods *np = &s->nodes[i];
		json_t *new_pod = NULL, *old_pod = NULL, *pod;

		if (!np->run)
			continue;
		json_array_foreach (np->pods, j, pod) {
			if (ctlb_streq(ctlb_str(pod, "status.phase"), "Failed"))
				continue;
			if (ctlb_streq(pod_hash(pod), s->hash)) {
				if (!new_pod)
					new_pod = pod;
			} else if (!old_pod) {
				old_pod = pod;
			}
		}
		if (max_surge == 0) {
			if (!old_pod && !new_pod)
				unavailable++;
			else if (new_pod && !pod_available(s, new_pod))
				unavailable++;
			else if (!new_pod && !pod_available(s, old_pod))
				json_array_append(s->to_delete, old_pod);
			else if (!new_pod)
				json_array_append(candidates, old_pod);
			continue;
		}
		if (!old_pod)
			continue;
		if (!new_pod) {
			if (!pod_available(s, old_pod))
				json_array_append_new(
					s->to_create,
					json_string(ctlb_str(np->node, "metadata.name")));
			else
				json_array_append_new(
					new_nodes,
					json_string(ctlb_str(np->node, "metadata.name")));
		} else if (pod_available(s, new_pod)) {
			json_array_append(s->to_delete, old_pod);
		} else {
			surging++;
		}
	}
	if (max_surge == 0) {
		for (i = 0;
		     i < json_array_size(candidates) && (int64_t)i < max_unavail - unavailable; i++)
			json_array_append(s->to_delete, json_array_get(candidates, i));
		return;
	}
	for (i = 0; i < json_array_size(new_nodes) && (int64_t)i < max_surge - surging; i++)
		json_array_append(s->to_create, json_array_get(new_nodes, i));
}

static int act(struct dssync *s)
{
	struct dsctl *st = s->st;
	const char *ns = ctlb_str(s->ds, "metadata.namespace");
	cleanup_free char *path = ctlb_path("/api/v1", "pods", ns, NULL, NULL);
	size_t ncreate = json_array_size(s->to_create), ndel = json_array_size(s->to_delete);
	size_t i, done = 0, batch = 1;
	json_t *v;
	int rc = 0;

	ctlb_expect_add(st->expect, s->key, (int)ncreate, (int)ndel);
	/* Slow start, as upstream: batches of 1, 2, 4... stop at the first failure. */
	while (done < ncreate && rc == 0) {
		size_t end = done + batch < ncreate ? done + batch : ncreate;

		for (i = done; i < end; i++) {
			cleanup_json json_t *pod = new_pod(
				s->ds, json_string_value(json_array_get(s->to_create, i)), s->hash);
			cleanup_json json_t *ret = NULL;
			cleanup_err struct err err = ERR_INIT;
			int r = kc_request(st->c, "POST", path, NULL, pod, &ret, &err);

			if (r >= 200 && r < 300) {
				kc_event(st->c, s->ds, "Normal", "SuccessfulCreate", COMPONENT,
					 "Created pod: %s", ctlb_str(ret, "metadata.name"));
				continue;
			}
			kc_event(st->c, s->ds, "Warning", "FailedCreate", COMPONENT,
				 "Error creating: %s", err.msg ? err.msg : "unknown error");
			rc = -EAGAIN;
		}
		done = end;
		batch *= 2;
	}
	if (done < ncreate || rc < 0) {
		/* the skipped and failed creations will never be observed */
		ctlb_expect_forget(st->expect, s->key);
	}
	json_array_foreach (s->to_delete, i, v) {
		cleanup_free char *p =
			ctlb_path("/api/v1", "pods", ns, ctlb_str(v, "metadata.name"), NULL);
		cleanup_err struct err err = ERR_INIT;

		if (ctlb_delete(st->c, p, NULL, ctlb_str(v, "metadata.uid"), &err) < 0) {
			kc_event(st->c, s->ds, "Warning", "FailedDelete", COMPONENT,
				 "Error deleting: %s", err.msg);
			ctlb_expect_observed(st->expect, s->key, 0, 1);
			rc = -EAGAIN;
			continue;
		}
		kc_event(st->c, s->ds, "Normal", "SuccessfulDelete", COMPONENT, "Deleted pod: %s",
			 ctlb_str(v, "metadata.name"));
	}
	return rc;
}

static int update_status(struct dssync *s)
{
	int64_t desired = 0, current = 0, mis = 0, ready = 0, avail = 0, updated = 0;
	cleanup_json json_t *status = NULL, *body = NULL;
	cleanup_free char *path = NULL;
	cleanup_err struct err err = ERR_INIT;
	json_t *old = json_object_get(s->ds, "status");
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		struct node_pods *np = &s->nodes[i];
		json_t *pod = json_array_get(np->pods, 0);

		if (!np->run) {
			mis += pod != NULL;
			continue;
		}
		desired++;
		if (!pod)
			continue;
		current++;
		if (ctlb_pod_ready(pod)) {
			ready++;
			avail += pod_available(s, pod);
		}
		updated += ctlb_streq(pod_hash(pod), s->hash);
	}
	status = json_deep_copy(old);
	if (!json_is_object(status)) {
		json_decref(status);
		status = json_object();
	}
	json_object_set_new(status, "currentNumberScheduled", json_integer(current));
	json_object_set_new(status, "numberMisscheduled", json_integer(mis));
	json_object_set_new(status, "desiredNumberScheduled", json_integer(desired));
	json_object_set_new(status, "numberReady", json_integer(ready));
	json_object_set_new(status, "updatedNumberScheduled", json_integer(updated));
	json_object_set_new(status, "numberAvailable", json_integer(avail));
	json_object_set_new(status, "numberUnavailable", json_integer(desired - avail));
	json_object_set_new(status, "observedGeneration",
			    json_integer(ctlb_int(s->ds, "metadata.generation", 0)));
	if (json_equal(status, old))
		return 0;
	body = json_deep_copy(s->ds);
	json_object_set(body, "status", status);
	path = ctlb_path(APPS_V1, "daemonsets", ctlb_str(s->ds, "metadata.namespace"),
			 ctlb_str(s->ds, "metadata.name"), "status");
	rc = ctlb_put(s->st->c, path, body, NULL, &err);
	if (rc < 0 || rc >= 300) {
		log_debug("update status of daemonset '%s': %s", s->key, err.msg);
		return -EAGAIN;
	}
	return 0;
}

static int bump_collisions(struct dsctl *st, const json_t *ds)
{
	cleanup_json json_t *body = json_deep_copy(ds);
	cleanup_free char *path =
		ctlb_path(APPS_V1, "daemonsets", ctlb_str(ds, "metadata.namespace"),
			  ctlb_str(ds, "metadata.name"), "status");
	cleanup_err struct err err = ERR_INIT;

	json_object_set_new(ctlb_obj(body, "status"), "collisionCount",
			    json_integer(ctlb_int(ds, "status.collisionCount", 0) + 1));
	ctlb_put(st->c, path, body, NULL, &err);
	return -EAGAIN;
}

static int sync_ds(struct dsctl *st, const char *key, json_t *ds)
{
	struct dssync s = {.st = st, .key = key, .ds = ds, .now = ctlb_now()};
	cleanup_json json_t *revs = ctlb_index_get(st->revs_by_owner, ctlb_str(ds, "metadata.uid"));
	cleanup_json json_t *pods = ctlb_index_get(st->pods_by_owner, ctlb_str(ds, "metadata.uid"));
	cleanup_json json_t *nodes = json_array(), *cur = NULL, *live = json_object();
	cleanup_err struct err err = ERR_INIT;
	const char *keep[2] = {NULL, NULL};
	json_t *pod;
	size_t i;
	int rc;

	if (ctlb_get(ds, "metadata.deletionTimestamp"))
		return 0;
	rc = ctlb_revision_sync(st->c, ds, "DaemonSet", revs,
				ctlb_get(ds, "spec.template.metadata.labels"), &cur, &err);
	if (rc == -EEXIST)
		return bump_collisions(st, ds);
	if (rc < 0) {
		log_debug("sync revision of daemonset '%s': %s", key, err.msg);
		return -EAGAIN;
	}
	s.hash = json_string_value(json_object_get(ctlb_get(cur, "metadata.labels"), HASH_KEY));
	if (!s.hash)
		return 0;
	informer_foreach(st->nodes, collect_node, nodes);
	plan_nodes(&s, nodes, pods);
	s.to_create = json_array();
	s.to_delete = json_array();
	if (ctlb_expect_satisfied(st->expect, key)) {
		manage(&s);
		if (json_array_size(s.to_create) == 0 && json_array_size(s.to_delete) == 0 &&
		    ctlb_streq(ctlb_str(ds, "spec.updateStrategy.type"), "RollingUpdate"))
			rolling_update(&s);
		rc = act(&s);
		json_array_foreach (pods, i, pod)
			if (pod_hash(pod))
				json_object_set_new(live, pod_hash(pod), json_true());
		keep[0] = ctlb_str(cur, "metadata.name");
		ctlb_revision_truncate(st->c, revs, keep, live,
				       ctlb_int(ds, "spec.revisionHistoryLimit", 10));
	}
	if (update_status(&s) < 0)
		rc = -EAGAIN;
	for (i = 0; i < s.n; i++)
		json_decref(s.nodes[i].pods);
	free(s.nodes);
	json_decref(s.to_create);
	json_decref(s.to_delete);
	json_decref(s.orphans);
	return rc;
}

static int sync_key(void *arg, const char *key, int64_t *ret_after)
{
	struct dsctl *st = arg;
	cleanup_free char *ns = NULL, *name = NULL;
	cleanup_json json_t *ds = NULL;
	int64_t min_ready;

	if (!atomic_load(&st->ready) || !informer_synced(st->sets) || !informer_synced(st->nodes) ||
	    !informer_synced(st->pods) || !informer_synced(st->revs)) {
		*ret_after = 100;
		return 0;
	}
	if (!split_key(key, &ns, &name))
		return 0;
	ds = informer_get(st->sets, ns, name);
	if (!ds) {
		ctlb_expect_forget(st->expect, key);
		return 0;
	}
	/* Pods become available minReadySeconds after they are ready: look again then. */
	min_ready = ctlb_int(ds, "spec.minReadySeconds", 0);
	if (min_ready > 0)
		*ret_after = min_ready * 1000;
	return sync_ds(st, key, ds);
}

/* ---- informer handlers -------------------------------------------------------------- */

static void enqueue_obj(struct dsctl *st, const json_t *obj)
{
	cleanup_free char *key = kc_key(obj);

	ctlb_enqueue(st->w, key);
}

static void ds_added(void *arg, json_t *obj)
{
	enqueue_obj(arg, obj);
}

static void ds_updated(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	enqueue_obj(arg, obj);
}

static void enqueue_each(void *arg, json_t *ds)
{
	enqueue_obj(arg, ds);
}

static void node_added(void *arg, json_t *obj)
{
	struct dsctl *st = arg;

	(void)obj;
	/* Before the DaemonSet informer exists its initial list enqueues every set anyway. */
	if (atomic_load(&st->ready))
		informer_foreach(st->sets, enqueue_each, st);
}

static void node_updated(void *arg, json_t *old, json_t *obj)
{
	static const char *const fields[] = {"metadata.labels", "spec.taints",
					     "spec.unschedulable"};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!json_equal(ctlb_get(old, fields[i]), ctlb_get(obj, fields[i])) &&
		    (ctlb_get(old, fields[i]) || ctlb_get(obj, fields[i]))) {
			node_added(arg, obj);
			return;
		}
	}
}

static void owned_event(struct dsctl *st, struct ctlb_index *ix, json_t *old, json_t *obj,
			bool pods)
{
	json_t *o = obj ? obj : old;
	const json_t *ref = ctlb_controller_ref(o);
	cleanup_free char *key = NULL;

	ctlb_index_update(ix, old, obj);
	if (!ref || !ctlb_streq(ctlb_str(ref, "kind"), "DaemonSet"))
		return;
	key = xasprintf("%s/%s", ctlb_str(o, "metadata.namespace"), ctlb_str(ref, "name"));
	if (pods && !old)
		ctlb_expect_observed(st->expect, key, 1, 0);
	if (pods && (!obj || ctlb_get(obj, "metadata.deletionTimestamp")) &&
	    !(old && ctlb_get(old, "metadata.deletionTimestamp")))
		ctlb_expect_observed(st->expect, key, 0, 1);
	ctlb_enqueue(st->w, key);
}

static void pod_added(void *arg, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->pods_by_owner, NULL, obj, true);
}

static void pod_updated(void *arg, json_t *old, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->pods_by_owner, old, obj, true);
}

static void pod_deleted(void *arg, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->pods_by_owner, obj, NULL, true);
}

static void rev_added(void *arg, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->revs_by_owner, NULL, obj, false);
}

static void rev_updated(void *arg, json_t *old, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->revs_by_owner, old, obj, false);
}

static void rev_deleted(void *arg, json_t *obj)
{
	struct dsctl *st = arg;

	owned_event(st, st->revs_by_owner, obj, NULL, false);
}

void daemonset_stop(void *state)
{
	struct dsctl *st = state;

	if (!st)
		return;
	ctlb_workers_stop(st->w);
	informer_stop(st->sets);
	informer_stop(st->nodes);
	informer_stop(st->pods);
	informer_stop(st->revs);
	ctlb_workers_free(st->w);
	ctlb_index_free(st->pods_by_owner);
	ctlb_index_free(st->revs_by_owner);
	ctlb_expect_free(st->expect);
	free(st);
}

int daemonset_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct dsctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers dh = {
		.add = ds_added, .update = ds_updated, .del = NULL, .arg = st};
	const struct informer_handlers nh = {
		.add = node_added, .update = node_updated, .del = node_added, .arg = st};
	const struct informer_handlers ph = {
		.add = pod_added, .update = pod_updated, .del = pod_deleted, .arg = st};
	const struct informer_handlers rh = {
		.add = rev_added, .update = rev_updated, .del = rev_deleted, .arg = st};
	int rc;

	st->c = c;
	st->pods_by_owner = ctlb_index_new();
	st->revs_by_owner = ctlb_index_new();
	st->expect = ctlb_expect_new();
	rc = ctlb_workers_start(cfg && cfg->workers > 0 ? cfg->workers : 2, sync_key, st, &st->w,
				err);
	if (rc < 0)
		goto fail;
	/* Daemon pods always carry the revision hash label: the rest are never cached. */
	rc = informer_start(c, "/api/v1/pods?labelSelector=" HASH_KEY, &ph, &st->pods, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, APPS_V1 "/controllerrevisions", &rh, &st->revs, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, "/api/v1/nodes", &nh, &st->nodes, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, APPS_V1 "/daemonsets", &dh, &st->sets, err);
	if (rc < 0)
		goto fail;
	atomic_store(&st->ready, true);
	*ret = st;
	return 0;
fail:
	daemonset_stop(st);
	return err_wrap(err, "start daemonset controller");
}
