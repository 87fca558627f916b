/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ReplicaSet controller: keeps spec.replicas active pods matching each ReplicaSet's
 * selector, as upstream's (pkg/controller/replicaset). Creates pods from the template in
 * slow-start batches, deletes the pods upstream would delete first, adopts orphans and
 * releases pods that stopped matching, and reports the counts in status. Pods are indexed
 * by their controller's uid (and orphans by namespace), so a sync touches only its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/log.h"
#include "cluster/api/selector.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/workload_util.h"

#define COMPONENT      "replicaset-controller"
#define BURST_REPLICAS 500

struct rs_info {
	char *ns, *name, *uid;
	char *owner_uid; /* its controller's uid, or NULL */
	struct selector *sel;
	json_t *tmpl_labels; /* spec.template.metadata.labels, or NULL */
	int64_t generation;
};

struct rs_ctrl {
	struct kc *kc;
	struct workqueue *q;
	struct informer *rs_inf, *pod_inf;
	struct wl_expectations *exp;
	pthread_mutex_t lock;  /* guards rss and pods */
	struct wl_map *rss;    /* "ns/name" -> struct rs_info */
	struct wl_index *pods; /* pods by controller uid, orphans by namespace */
	pthread_t *workers;
	size_t nworkers;
};

static void rs_info_free(void *p)
{
	struct rs_info *r = p;

	if (!r)
		return;
	free(r->ns);
	free(r->name);
	free(r->uid);
	free(r->owner_uid);
	selector_free(r->sel);
	json_decref(r->tmpl_labels);
	free(r);
}

static bool fully_labeled(const json_t *tmpl_labels, const json_t *labels);

/*
 * Indexes a pod version with its owner's view of it (the owner's selector and template
 * labels against the pod's labels), so that syncs read a flag instead of the labels.
 */
static void index_pod(struct rs_ctrl *c, const char *key, json_t *pod)
{
	const json_t *ref = wl_controller_ref(pod);
	cleanup_free char *rs_key = NULL;
	const struct rs_info *r;

	if (ref && strcmp(wl_str(ref, "kind") ?: "", "ReplicaSet") == 0)
		rs_key = xasprintf("%s/%s", wl_str(pod, "metadata.namespace") ?: "",
				   wl_str(ref, "name") ?: "");
	pthread_mutex_lock(&c->lock);
	wl_index_put(c->pods, key, pod);
	r = rs_key ? wl_map_get(c->rss, rs_key) : NULL;
	if (r && r->sel && strcmp(r->uid, wl_str(ref, "uid") ?: "") == 0) {
		json_t *labels = wl_get(pod, "metadata.labels");

		wl_index_set_owner_view(c->pods, key, selector_match_labels(r->sel, labels),
					fully_labeled(r->tmpl_labels, labels), r->generation);
	}
	pthread_mutex_unlock(&c->lock);
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The key of the ReplicaSet @ref names, if we know it under that uid. Heap string. */
static char *resolve_ref(struct rs_ctrl *c, const char *ns, const json_t *ref)
{
	cleanup_free char *key = NULL;
	struct rs_info *r;

	if (!ref || strcmp(wl_str(ref, "kind") ?: "", "ReplicaSet") != 0)
		return NULL;
	key = xasprintf("%s/%s", ns, wl_str(ref, "name") ?: "");
	pthread_mutex_lock(&c->lock);
	r = wl_map_get(c->rss, key);
	if (!r || strcmp(r->uid, wl_str(ref, "uid") ?: "") != 0) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	pthread_mutex_unlock(&c->lock);
	return TAKE_PTR(key);
}

/*
 * Pod events reach their ReplicaSet after a batch period: a sync reads every pod of the
 * set, so a set of a thousand pods starting at once would otherwise be synced once per
 * pod event, a cost growing with the square of its size. The period grows with the set
 * (25 ms, 1 ms more per 10 pods past 250), which bounds the pods read per second and set
 * (as upstream's EndpointSlice controller batches endpoint updates).
 */
#define POD_BATCH_MS 25

static void enqueue_for_pod(struct rs_ctrl *c, const char *rs_key)
{
	const struct rs_info *r;
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	r = wl_map_get(c->rss, rs_key);
	if (r && r->uid)
		n = wl_index_owned_count(c->pods, r->uid);
	pthread_mutex_unlock(&c->lock);
	wq_add_after(c->q, rs_key, POD_BATCH_MS + (int64_t)(n > 250 ? (n - 250) / 10 : 0));
}

/* Enqueues every ReplicaSet in the pod's namespace whose selector matches it (orphans). */
static void enqueue_matching(struct rs_ctrl *c, const json_t *pod)
{
	const char *ns = wl_str(pod, "metadata.namespace") ?: "";
	json_t *labels = wl_get(pod, "metadata.labels");
	size_t pos = 0, n = 0, cap = 0;
	char **keys = NULL;
	const char *k;
	void *v;

	pthread_mutex_lock(&c->lock);
	while (wl_map_next(c->rss, &pos, &k, &v)) {
		struct rs_info *r = v;

		if (strcmp(r->ns, ns) != 0 || !r->sel || selector_empty(r->sel) ||
		    !selector_match_labels(r->sel, labels))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			keys = xrealloc(keys, cap * sizeof(*keys));
		}
		keys[n++] = xstrdup(k);
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		enqueue_for_pod(c, keys[i]);
		free(keys[i]);
	}
	free(keys);
}

static void pod_deleted(struct rs_ctrl *c, const json_t *pod)
{
	const char *ns = wl_str(pod, "metadata.namespace") ?: "";
	cleanup_free char *rs_key = resolve_ref(c, ns, wl_controller_ref(pod));
	cleanup_free char *pod_key = NULL;

	if (!rs_key)
		return;
	pod_key = wl_key(pod);
	wl_exp_deletion_observed(c->exp, rs_key, pod_key);
	enqueue_for_pod(c, rs_key);
}

static void on_pod_add(void *arg, json_t *pod)
{
	struct rs_ctrl *c = arg;
	cleanup_free char *key = wl_key(pod);
	cleanup_free char *rs_key = NULL;
	const json_t *ref = wl_controller_ref(pod);

	index_pod(c, key, pod);
	if (wl_deleting(pod)) {
		/* Seen for the first time already terminating (e.g. after a relist). */
		pod_deleted(c, pod);
		return;
	}
	if (ref) {
		rs_key = resolve_ref(c, wl_str(pod, "metadata.namespace") ?: "", ref);
		if (rs_key) {
			wl_exp_creation_observed(c->exp, rs_key);
			enqueue_for_pod(c, rs_key);
		}
		return;
	}
	enqueue_matching(c, pod);
}

static bool same_json(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return !a && !b;
	return json_equal((json_t *)a, (json_t *)b);
}

static int64_t rs_min_ready(struct rs_ctrl *c, const char *rs_key)
{
	json_t *rs;
	const char *slash = strchr(rs_key, '/');
	cleanup_free char *ns = NULL;
	int64_t v;

	if (!slash)
		return 0;
	ns = xstrndup(rs_key, (size_t)(slash - rs_key));
	rs = informer_get(c->rs_inf, ns, slash + 1);
	v = wl_int(rs, "spec.minReadySeconds", 0);
	json_decref(rs);
	return v;
}

/*
 * What a ReplicaSet's sync reads of a pod beyond labels and owner: whether it is active and
 * ready, and since when (availability). A change to nothing of this (binding, a condition
 * such as PodScheduled, container details) leaves the sync's result as it was.
 */
static bool same_for_replicaset(const json_t *old, const json_t *cur)
{
	const json_t *oc = wl_pod_cond(old, "Ready"), *cc = wl_pod_cond(cur, "Ready");

	return wl_pod_active(old) == wl_pod_active(cur) && wl_deleting(old) == wl_deleting(cur) &&
	       wl_pod_ready(old) == wl_pod_ready(cur) &&
	       same_json(json_object_get(oc, "lastTransitionTime"),
			 json_object_get(cc, "lastTransitionTime"));
}

/*
 * The previous version as this controller holds it (its index keeps what a sync reads:
 * labels, owners, deletion, phase, conditions), so the informer need not parse it again.
 */
static json_t *held_version(struct rs_ctrl *c, const char *key, struct informer_old *old)
{
	json_t *held;

	pthread_mutex_lock(&c->lock);
	held = json_incref(wl_index_get(c->pods, key));
	pthread_mutex_unlock(&c->lock);
	return held ? held : json_incref(informer_old_get(old));
}

static void on_pod_update(void *arg, struct informer_old *prev, json_t *cur)
{
	struct rs_ctrl *c = arg;
	cleanup_free char *key = wl_key(cur);
	cleanup_json json_t *old = held_version(c, key, prev);
	const json_t *cref = wl_controller_ref(cur), *oref = wl_controller_ref(old);
	bool labels_changed =
		!same_json(wl_get(old, "metadata.labels"), wl_get(cur, "metadata.labels"));
	bool ref_changed = !same_json(cref, oref);
	const char *ns = wl_str(cur, "metadata.namespace") ?: "";

	index_pod(c, key, cur);
	if (wl_deleting(cur)) {
		/* A graceful delete shows as an update first: expectations count it now. */
		pod_deleted(c, cur);
		if (labels_changed)
			pod_deleted(c, old);
		return;
	}
	if (ref_changed && oref) {
		cleanup_free char *old_rs = resolve_ref(c, ns, oref);

		if (old_rs)
			enqueue_for_pod(c, old_rs);
	}
	if (cref) {
		cleanup_free char *rs_key = resolve_ref(c, ns, cref);
		int64_t min_ready;

		if (!rs_key)
			return;
		if (!ref_changed && !labels_changed && same_for_replicaset(old, cur))
			return;
		enqueue_for_pod(c, rs_key);
		/* Availability comes with time, not with an event: look again once it is due. */
		if (!wl_pod_ready(old) && wl_pod_ready(cur)) {
			min_ready = rs_min_ready(c, rs_key);
			if (min_ready > 0)
				wq_add_after(c->q, rs_key, (min_ready + 1) * 1000);
		}
		return;
	}
	if (labels_changed || ref_changed)
		enqueue_matching(c, cur);
}

static void on_pod_del(void *arg, json_t *pod)
{
	struct rs_ctrl *c = arg;
	cleanup_free char *key = wl_key(pod);

	pthread_mutex_lock(&c->lock);
	wl_index_del(c->pods, key);
	pthread_mutex_unlock(&c->lock);
	pod_deleted(c, pod);
}

static void put_rs_info(struct rs_ctrl *c, const json_t *rs)
{
	struct rs_info *r = xcalloc(1, sizeof(*r));
	struct err err = ERR_INIT;
	const json_t *ref = wl_controller_ref(rs);
	cleanup_free char *key = wl_key(rs);

	r->ns = xstrdup(wl_str(rs, "metadata.namespace") ?: "");
	r->name = xstrdup(wl_str(rs, "metadata.name") ?: "");
	r->uid = xstrdup(wl_str(rs, "metadata.uid") ?: "");
	r->owner_uid = ref ? strdup_or_null(wl_str(ref, "uid")) : NULL;
	r->tmpl_labels = json_deep_copy(wl_get(rs, "spec.template.metadata.labels"));
	r->generation = wl_int(rs, "metadata.generation", 0);
	if (selector_from_json(wl_get(rs, "spec.selector"), "spec.selector", &r->sel, &err) < 0) {
		r->sel = NULL;
		err_clear(&err);
	}
	pthread_mutex_lock(&c->lock);
	rs_info_free(wl_map_put(c->rss, key, r));
	pthread_mutex_unlock(&c->lock);
}

static void on_rs_add(void *arg, json_t *rs)
{
	struct rs_ctrl *c = arg;
	cleanup_free char *key = wl_key(rs);

	put_rs_info(c, rs);
	wq_add(c->q, key);
}

static void on_rs_update(void *arg, json_t *old, json_t *rs)
{
	(void)old;
	on_rs_add(arg, rs);
}

static void on_rs_del(void *arg, json_t *rs)
{
	struct rs_ctrl *c = arg;
	cleanup_free char *key = wl_key(rs);

	pthread_mutex_lock(&c->lock);
	rs_info_free(wl_map_del(c->rss, key));
	pthread_mutex_unlock(&c->lock);
	wl_exp_forget(c->exp, key);
	wq_add(c->q, key);
}

/* Sync. */

/* An object to record events about: informer objects may lack kind and apiVersion. */
static json_t *event_obj(const json_t *obj, const char *api_version, const char *kind)
{
	json_t *o = json_copy((json_t *)obj);

	json_object_set_new(o, "apiVersion", json_string(api_version));
	json_object_set_new(o, "kind", json_string(kind));
	return o;
}

static char *pod_path(const json_t *pod)
{
	return xasprintf("/api/v1/namespaces/%s/pods/%s", wl_str(pod, "metadata.namespace") ?: "",
			 wl_str(pod, "metadata.name") ?: "");
}

/* Whether the owner is still the one we saw and not being deleted (a fresh read). */
static bool can_adopt(struct rs_ctrl *c, const json_t *rs)
{
	cleanup_free char *path = xasprintf("/apis/apps/v1/namespaces/%s/replicasets/%s",
					    wl_str(rs, "metadata.namespace") ?: "",
					    wl_str(rs, "metadata.name") ?: "");
	cleanup_json json_t *fresh = NULL;
	struct err err = ERR_INIT;
	int st = kc_request(c->kc, "GET", path, NULL, NULL, &fresh, &err);

	err_clear(&err);
	if (st != 200)
		return false;
	return strcmp(wl_str(fresh, "metadata.uid") ?: "", wl_str(rs, "metadata.uid") ?: "") == 0 &&
	       !wl_deleting(fresh);
}

/* Claims pods for @rs: its own that still match, plus adopted orphans; active ones only. */
static int claim_pods(struct rs_ctrl *c, const json_t *rs, const struct selector *sel,
		      struct wl_list *out, struct err *err)
{
	struct wl_list cand = {0};
	const char *uid = wl_str(rs, "metadata.uid") ?: "";
	const char *ns = wl_str(rs, "metadata.namespace") ?: "";
	int adopt_ok = -1; /* unknown until the first orphan */
	int ret = 0;

	size_t n_owned;
	bool rs_deleting = wl_deleting(rs);

	pthread_mutex_lock(&c->lock);
	wl_index_owned(c->pods, uid, &cand);
	n_owned = cand.n;
	wl_index_orphans(c->pods, ns, &cand);
	pthread_mutex_unlock(&c->lock);

	for (size_t i = 0; i < cand.n; i++) {
		json_t *pod = cand.v[i];
		const struct wl_pod_facts *f = &cand.facts[i];
		bool selected = i < n_owned && f->owner_selects >= 0
					? f->owner_selects
					: selector_match_labels(sel, f->labels);
		cleanup_free char *path = NULL;
		struct err perr = ERR_INIT;
		enum wl_claim claim;
		int st;

		/* the index grouped these by their controller's uid: ours */
		if (i < n_owned)
			claim = selected      ? WL_CLAIM_OWNED
				: rs_deleting ? WL_CLAIM_IGNORE
					      : WL_CLAIM_RELEASE;
		else
			claim = wl_claim_decide(rs, pod, selected);
		switch (claim) {
		case WL_CLAIM_IGNORE:
			continue;
		case WL_CLAIM_OWNED:
			break;
		case WL_CLAIM_ADOPT:
			if (adopt_ok < 0)
				adopt_ok = can_adopt(c, rs);
			if (!adopt_ok)
				continue;
			path = pod_path(pod);
			st = wl_adopt(c->kc, path, rs, "apps/v1", "ReplicaSet", pod, &perr);
			/* Gone: nothing to count. Any other failure retries the whole sync, so
			 * that a pod we could not adopt is not replaced by a new one. */
			if (st == 404) {
				err_clear(&perr);
				continue;
			}
			if (st < 200 || st >= 300) {
				if (ret == 0)
					ret = perr.code ? err_set(err, perr.code,
								  "adopt pod '%s': %s",
								  wl_str(pod, "metadata.name"),
								  perr.msg ?: "")
							: err_set(err, EIO,
								  "adopt pod '%s': status %d",
								  wl_str(pod, "metadata.name"), st);
				err_clear(&perr);
				continue;
			}
			break;
		case WL_CLAIM_RELEASE:
			/* A failed release is retried when the pod changes next. */
			path = pod_path(pod);
			wl_release(c->kc, path, rs, pod, &perr);
			err_clear(&perr);
			continue;
		}
		if (f->active)
			wl_list_add_pod(out, pod, f);
	}
	wl_list_done(&cand);
	return ret;
}

struct create_ctx {
	struct rs_ctrl *c;
	json_t *ev;
	const char *path;
	const char *pod; /* the pod to create as JSON text, shared by the threads */
	size_t len;
	pthread_mutex_t lock;
	char *first_err;
	int first_code;
};

static void note_error(struct create_ctx *x, int code, const char *msg)
{
	pthread_mutex_lock(&x->lock);
	if (!x->first_err) {
		x->first_err = xstrdup(msg ? msg : "request failed");
		x->first_code = code ? code : EIO;
	}
	pthread_mutex_unlock(&x->lock);
}

static bool namespace_terminating(const json_t *status)
{
	json_t *causes = wl_get(status, "details.causes");
	json_t *cause;
	size_t i;

	json_array_foreach (causes, i, cause) {
		if (strcmp(wl_str(cause, "type") ?: "", "NamespaceTerminating") == 0)
			return true;
	}
	return false;
}

static int create_one(void *arg, size_t i)
{
	struct create_ctx *x = arg;
	cleanup_json json_t *resp = NULL;
	struct err err = ERR_INIT;
	/*
	 * The answer (the whole pod) is read for the generated name in the event only: past a
	 * ReplicaSet's first 25 creations, the spam filter drops that event.
	 */
	const struct kc_req req = {
		.method = "POST",
		.path = x->path,
		.text = x->pod,
		.len = x->len,
		.failure_only = !kc_event_wanted(x->c->kc, x->ev, COMPONENT),
	};
	int st;

	(void)i;
	st = kc_send(x->c->kc, &req, &resp, &err);
	if (st == 201 || st == 200) {
		if (resp)
			kc_event(x->c->kc, x->ev, "Normal", "SuccessfulCreate", COMPONENT,
				 "Created pod: %s", wl_str(resp, "metadata.name") ?: "");
		return 0;
	}
	/* A terminating namespace refuses every create; that is no failure to report. */
	if (st > 0 && namespace_terminating(resp)) {
		err_clear(&err);
		return 0;
	}
	kc_event(x->c->kc, x->ev, "Warning", "FailedCreate", COMPONENT, "Error creating: %s",
		 err.msg ? err.msg : "request failed");
	note_error(x, err.code, err.msg);
	err_clear(&err);
	return -EIO;
}

/* The pod a ReplicaSet's template makes (upstream's GetPodFromTemplate). */
static json_t *pod_from_template(const json_t *rs)
{
	json_t *tmeta = wl_get(rs, "spec.template.metadata");
	json_t *meta = json_object();
	json_t *pod =
		json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta);
	cleanup_free char *prefix = xasprintf("%s-", wl_str(rs, "metadata.name") ?: "");
	static const char *const copied[] = {"labels", "annotations", "finalizers"};

	json_object_set_new(meta, "generateName", json_string(prefix));
	json_object_set_new(meta, "namespace", json_string(wl_str(rs, "metadata.namespace") ?: ""));
	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		json_t *v = json_object_get(tmeta, copied[i]);

		if (v)
			json_object_set_new(meta, copied[i], json_deep_copy(v));
	}
	json_object_set_new(meta, "ownerReferences",
			    json_pack("[o]", wl_controller_ref_new(rs, "apps/v1", "ReplicaSet")));
	json_object_set_new(pod, "spec", json_deep_copy(wl_get(rs, "spec.template.spec")));
	return pod;
}

static int create_pods(struct rs_ctrl *c, const json_t *rs, const char *key, size_t want,
		       struct err *err)
{
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/%s/pods", wl_str(rs, "metadata.namespace") ?: "");
	cleanup_json json_t *ev = event_obj(rs, "apps/v1", "ReplicaSet");
	cleanup_json json_t *pod = pod_from_template(rs);
	cleanup_free char *text = NULL;
	struct create_ctx x = {.c = c, .ev = ev, .path = path};
	size_t ok;
	int ret = 0;

	if (json_object_size(wl_get(pod, "metadata.labels")) == 0)
		return err_set(err, EINVAL, "create pods for replicaset '%s': no labels", key);
	/* one text for every pod of the batch: they differ only by the names the server gives */
	text = jdump_s(pod, JSON_COMPACT);
	if (!text)
		return err_set(err, EINVAL,
			       "create pods for replicaset '%s': the template does not serialize",
			       key);
	x.pod = text;
	x.len = strlen(text);
	pthread_mutex_init(&x.lock, NULL);
	wl_exp_expect_creations(c->exp, key, (int64_t)want);
	/* Slow start: a template that cannot work fails once, not 500 times. */
	ok = wl_slow_start(want, 1, create_one, &x);
	/* Creations never attempted or failed will never be observed. */
	for (size_t i = ok; i < want; i++)
		wl_exp_creation_observed(c->exp, key);
	if (x.first_err)
		ret = err_set(err, x.first_code, "%s", x.first_err);
	free(x.first_err);
	pthread_mutex_destroy(&x.lock);
	return ret;
}

struct delete_ctx {
	struct rs_ctrl *c;
	json_t *ev;
	const char *rs_key;
	struct wl_ranked_pod *pods;
	pthread_mutex_t lock;
	char *first_err;
	int first_code;
};

static int delete_one(void *arg, size_t i)
{
	struct delete_ctx *x = arg;
	const json_t *pod = x->pods[i].pod;
	cleanup_free char *path = pod_path(pod);
	cleanup_free char *pod_key = NULL;
	struct err err = ERR_INIT;
	int st;

	st = kc_request(x->c->kc, "DELETE", path, NULL, NULL, NULL, &err);
	if (st >= 200 && st < 300) {
		kc_event(x->c->kc, x->ev, "Normal", "SuccessfulDelete", COMPONENT,
			 "Deleted pod: %s", wl_str(pod, "metadata.name") ?: "");
		return 0;
	}
	pod_key = wl_key(pod);
	wl_exp_deletion_observed(x->c->exp, x->rs_key, pod_key);
	if (st == 404) {
		err_clear(&err);
		return 0;
	}
	kc_event(x->c->kc, x->ev, "Warning", "FailedDelete", COMPONENT, "Error deleting: %s",
		 err.msg ? err.msg : "request failed");
	pthread_mutex_lock(&x->lock);
	if (!x->first_err) {
		x->first_err = xstrdup(err.msg ? err.msg : "request failed");
		x->first_code = err.code ? err.code : EIO;
	}
	pthread_mutex_unlock(&x->lock);
	err_clear(&err);
	return -EIO;
}

/* Ranks: how many active pods of the ReplicaSets sharing @rs's controller share a node. */
static void rank_pods(struct rs_ctrl *c, const json_t *rs, struct wl_ranked_pod *pods, size_t n)
{
	const json_t *ref = wl_controller_ref(rs);
	const char *owner = ref ? wl_str(ref, "uid") : NULL;
	const char *ns = wl_str(rs, "metadata.namespace") ?: "";
	const char *uid = wl_str(rs, "metadata.uid") ?: "";
	struct wl_map *per_node = wl_map_new();
	struct wl_list related = {0};
	size_t pos = 0;
	void *v;

	pthread_mutex_lock(&c->lock);
	if (!owner) {
		wl_index_owned(c->pods, uid, &related);
	} else {
		while (wl_map_next(c->rss, &pos, NULL, &v)) {
			struct rs_info *r = v;

			if (strcmp(r->ns, ns) == 0 && r->owner_uid &&
			    strcmp(r->owner_uid, owner) == 0)
				wl_index_owned(c->pods, r->uid, &related);
		}
	}
	pthread_mutex_unlock(&c->lock);

	for (size_t i = 0; i < related.n; i++) {
		const char *node = wl_str(related.v[i], "spec.nodeName") ?: "";

		if (wl_pod_active(related.v[i]))
			wl_map_put(per_node, node,
				   (void *)((uintptr_t)wl_map_get(per_node, node) + 1));
	}
	for (size_t i = 0; i < n; i++)
		pods[i].rank = (int)(uintptr_t)wl_map_get(
			per_node, wl_str(pods[i].pod, "spec.nodeName") ?: "");
	wl_list_done(&related);
	wl_map_free(per_node, NULL);
}

static int delete_pods(struct rs_ctrl *c, const json_t *rs, const char *key, struct wl_list *pods,
		       size_t want, struct err *err)
{
	cleanup_json json_t *ev = event_obj(rs, "apps/v1", "ReplicaSet");
	struct wl_ranked_pod *ranked = xcalloc(pods->n, sizeof(*ranked));
	char **keys = xcalloc(want, sizeof(*keys));
	struct delete_ctx x = {.c = c, .ev = ev, .rs_key = key, .pods = ranked};
	int ret = 0;

	for (size_t i = 0; i < pods->n; i++)
		ranked[i].pod = pods->v[i];
	if (want < pods->n) {
		rank_pods(c, rs, ranked, pods->n);
		wl_pods_sort_for_deletion(ranked, pods->n, wl_now());
	}
	for (size_t i = 0; i < want; i++)
		keys[i] = wl_key(ranked[i].pod);
	wl_exp_expect_deletions(c->exp, key, keys, want);
	pthread_mutex_init(&x.lock, NULL);
	/* One batch: deletions all go at once, as upstream's. */
	wl_slow_start(want, want, delete_one, &x);
	if (x.first_err)
		ret = err_set(err, x.first_code, "%s", x.first_err);
	free(x.first_err);
	pthread_mutex_destroy(&x.lock);
	for (size_t i = 0; i < want; i++)
		free(keys[i]);
	free(keys);
	free(ranked);
	return ret;
}

static int manage_replicas(struct rs_ctrl *c, const json_t *rs, const char *key,
			   struct wl_list *pods, struct err *err)
{
	int64_t diff = (int64_t)pods->n - wl_rs_replicas(rs);

	if (diff < 0) {
		size_t want = (size_t)(-diff < BURST_REPLICAS ? -diff : BURST_REPLICAS);

		return create_pods(c, rs, key, want, err);
	}
	if (diff > 0) {
		size_t want = (size_t)(diff < BURST_REPLICAS ? diff : BURST_REPLICAS);

		return delete_pods(c, rs, key, pods, want, err);
	}
	return 0;
}

/* Whether every template label is on the pod. */
static bool fully_labeled(const json_t *tmpl_labels, const json_t *labels)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)tmpl_labels, k, v) {
		json_t *pv = json_object_get(labels, k);

		if (!pv || !json_equal(pv, v))
			return false;
	}
	return true;
}

static json_t *calculate_status(const json_t *rs, struct wl_list *pods, const struct err *merr,
				int manage_ret)
{
	json_t *tmpl_labels = wl_get(rs, "spec.template.metadata.labels");
	int64_t min_ready = wl_int(rs, "spec.minReadySeconds", 0), now = wl_now();
	json_t *conds = wl_get(rs, "status.conditions");
	json_t *st = json_object();
	int64_t labeled = 0, ready = 0, available = 0;

	int64_t gen = wl_int(rs, "metadata.generation", 0);

	for (size_t i = 0; i < pods->n; i++) {
		const struct wl_pod_facts *f = &pods->facts[i];

		if (f->owner_labeled >= 0 && f->owner_generation == gen
			    ? f->owner_labeled
			    : fully_labeled(tmpl_labels, f->labels))
			labeled++;
		if (f->ready) {
			ready++;
			if (wl_pod_facts_available(f, min_ready, now))
				available++;
		}
	}
	json_object_set_new(st, "replicas", json_integer((json_int_t)pods->n));
	json_object_set_new(st, "fullyLabeledReplicas", json_integer(labeled));
	json_object_set_new(st, "readyReplicas", json_integer(ready));
	json_object_set_new(st, "availableReplicas", json_integer(available));
	json_object_set_new(st, "observedGeneration",
			    json_integer(wl_int(rs, "metadata.generation", 0)));
	if (json_is_array(conds))
		json_object_set_new(st, "conditions", json_deep_copy(conds));
	if (manage_ret < 0 && !wl_cond_get(st, "ReplicaFailure")) {
		int64_t diff = (int64_t)pods->n - wl_rs_replicas(rs);
		json_t *cond = wl_cond_new("ReplicaFailure", "True",
					   diff < 0 ? "FailedCreate" : "FailedDelete",
					   merr->msg ? merr->msg : "");

		/* ReplicaSet conditions have no lastUpdateTime. */
		json_object_del(cond, "lastUpdateTime");
		wl_cond_set(st, cond);
	} else if (manage_ret == 0) {
		wl_cond_remove(st, "ReplicaFailure");
	}
	if (json_array_size(json_object_get(st, "conditions")) == 0)
		json_object_del(st, "conditions");
	return st;
}

static int update_status(struct rs_ctrl *c, const json_t *rs, json_t *st, struct err *err)
{
	cleanup_json json_t *copy = NULL;
	cleanup_free char *path = NULL;
	int code;

	if (wl_status_equal(json_object_get(rs, "status"), st) &&
	    wl_int(rs, "status.observedGeneration", 0) == wl_int(rs, "metadata.generation", 0))
		return 0;
	copy = json_copy((json_t *)rs);
	json_object_set(copy, "status", st);
	path = xasprintf("/apis/apps/v1/namespaces/%s/replicasets/%s/status",
			 wl_str(rs, "metadata.namespace") ?: "", wl_str(rs, "metadata.name") ?: "");
	code = kc_request(c->kc, "PUT", path, NULL, copy, NULL, err);
	if (code < 0)
		return code;
	if (code >= 300)
		return err->code
			       ? -err->code
			       : err_set(err, EIO, "update status of replicaset: status %d", code);
	return 0;
}

static int rs_sync(struct rs_ctrl *c, const char *key, struct err *err)
{
	const char *slash = strchr(key, '/');
	cleanup_free char *ns = slash ? xstrndup(key, (size_t)(slash - key)) : xstrdup("");
	cleanup_json json_t *rs = informer_get(c->rs_inf, ns, slash ? slash + 1 : key);
	cleanup_json json_t *st = NULL;
	struct selector *sel = NULL;
	struct wl_list pods = {0};
	struct err merr = ERR_INIT;
	bool needs_sync;
	int ret, mret = 0;
	int64_t min_ready, replicas;

	if (!rs) {
		wl_exp_forget(c->exp, key);
		return 0;
	}
	needs_sync = wl_exp_satisfied(c->exp, key);
	if (selector_from_json(wl_get(rs, "spec.selector"), "spec.selector", &sel, err) < 0) {
		/* Validation keeps bad selectors out; nothing to retry. */
		log_debug("replicaset '%s': %s, ignoring", key, err->msg);
		err_clear(err);
		return 0;
	}
	ret = claim_pods(c, rs, sel, &pods, err);
	selector_free(sel);
	if (ret < 0) {
		wl_list_done(&pods);
		return ret;
	}
	if (needs_sync && !wl_deleting(rs))
		mret = manage_replicas(c, rs, key, &pods, &merr);
	st = calculate_status(rs, &pods, &merr, mret);
	wl_list_done(&pods);
	ret = update_status(c, rs, st, err);
	if (mret < 0) {
		/* The failure to converge matters more than a status write that lost a race. */
		err_clear(err);
		ret = err_set(err, merr.code, "sync replicaset '%s': %s", key, merr.msg);
		err_clear(&merr);
		return ret;
	}
	if (ret < 0)
		return ret;
	min_ready = wl_int(rs, "spec.minReadySeconds", 0);
	replicas = wl_rs_replicas(rs);
	if (min_ready > 0 && wl_int(st, "readyReplicas", 0) == replicas &&
	    wl_int(st, "availableReplicas", 0) != replicas)
		wq_add_after(c->q, key, min_ready * 1000);
	return 0;
}

static int sync_key(void *arg, const char *key, struct err *err)
{
	return rs_sync(arg, key, err) < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
	struct rs_ctrl *c = arg;

	wq_process(c->q, "replicaset controller", sync_key, c);
	return NULL;
}

void replicaset_stop(void *state)
{
	struct rs_ctrl *c = state;

	if (!c)
		return;
	if (c->q)
		wq_shutdown(c->q);
	for (size_t i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	informer_stop(c->pod_inf);
	informer_stop(c->rs_inf);
	wq_free(c->q);
	wl_index_free(c->pods);
	wl_map_free(c->rss, rs_info_free);
	wl_exp_free(c->exp);
	pthread_mutex_destroy(&c->lock);
	free(c->workers);
	free(c);
}

int replicaset_start(struct kc *kc, const struct controllers_config *cfg, void **ret,
		     struct err *err)
{
	struct rs_ctrl *c = xcalloc(1, sizeof(*c));
	struct informer_handlers rh = {
		.add = on_rs_add, .update = on_rs_update, .del = on_rs_del, .arg = c};
	struct informer_handlers ph = {.add = on_pod_add,
				       .update_lazy = on_pod_update,
				       .del = on_pod_del,
				       .arg = c,
				       .compact = true};
	size_t n = cfg && cfg->workers > 0 ? (size_t)cfg->workers : 2;
	int r;

	c->kc = kc;
	c->q = wq_new();
	c->exp = wl_exp_new();
	pthread_mutex_init(&c->lock, NULL);
	c->rss = wl_map_new();
	c->pods = wl_index_new_pods();
	r = informer_start(kc, "/apis/apps/v1/replicasets", &rh, &c->rs_inf, err);
	if (r >= 0)
		r = informer_start(kc, "/api/v1/pods", &ph, &c->pod_inf, err);
	if (r < 0) {
		replicaset_stop(c);
		return err_wrap(err, "start replicaset controller");
	}
	/* Acting on a partial cache would create pods that already exist. */
	informer_wait_synced(c->rs_inf, 60000);
	informer_wait_synced(c->pod_inf, 60000);
	c->workers = xcalloc(n, sizeof(*c->workers));
	for (; c->nworkers < n; c->nworkers++)
		if (pthread_create(&c->workers[c->nworkers], NULL, worker, c) != 0)
			break;
	*ret = c;
	return 0;
}
