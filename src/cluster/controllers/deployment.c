/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Deployment controller, as upstream's (pkg/controller/deployment): one ReplicaSet per
 * pod template, named by the template's hash; rolling updates within maxSurge and
 * maxUnavailable, Recreate, proportional scaling mid-rollout, pause, revisions for
 * `kubectl rollout history/undo`, history cleanup, and the status and conditions
 * `kubectl rollout status` waits on. ReplicaSets are indexed by their controller's uid.
 * Pods are not watched: Recreate asks the API for the old pods while it waits for them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "base/url.h"
#include "cluster/api/selector.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/workload_util.h"

#define COMPONENT "deployment-controller"
/* How often a Recreate rollout looks whether the old pods are gone. */
#define RECREATE_POLL_MS 1000

struct d_info {
	char *ns, *uid;
	struct selector *sel; /* NULL when invalid */
};

struct d_ctrl {
	struct kc *kc;
	struct workqueue *q;
	struct informer *d_inf, *rs_inf;
	pthread_mutex_t lock; /* guards ds and rss */
	struct wl_map *ds;    /* "ns/name" -> struct d_info */
	struct wl_index *rss; /* ReplicaSets by controller uid, orphans by namespace */
	pthread_t *workers;
	size_t nworkers;
};

static void d_info_free(void *p)
{
	struct d_info *d = p;

	if (!d)
		return;
	free(d->ns);
	free(d->uid);
	selector_free(d->sel);
	free(d);
}

/* Handlers. */

static char *resolve_ref(struct d_ctrl *c, const char *ns, const json_t *ref)
{
	cleanup_free char *key = NULL;
	struct d_info *d;
	bool ok;

	if (!ref || strcmp(wl_str(ref, "kind") ?: "", "Deployment") != 0)
		return NULL;
	key = xasprintf("%s/%s", ns, wl_str(ref, "name") ?: "");
	pthread_mutex_lock(&c->lock);
	d = wl_map_get(c->ds, key);
	ok = d && strcmp(d->uid, wl_str(ref, "uid") ?: "") == 0;
	pthread_mutex_unlock(&c->lock);
	return ok ? TAKE_PTR(key) : NULL;
}

static void enqueue_ref(struct d_ctrl *c, const json_t *rs, const json_t *ref)
{
	cleanup_free char *key = resolve_ref(c, wl_str(rs, "metadata.namespace") ?: "", ref);

	if (key)
		wq_add(c->q, key);
}

/* An orphan ReplicaSet: every deployment of its namespace that selects it may adopt it. */
static void enqueue_matching(struct d_ctrl *c, const json_t *rs)
{
	const char *ns = wl_str(rs, "metadata.namespace") ?: "";
	json_t *labels = wl_get(rs, "metadata.labels");
	struct wl_map *keys = wl_map_new();
	size_t pos = 0;
	const char *k;
	void *v;

	pthread_mutex_lock(&c->lock);
	while (wl_map_next(c->ds, &pos, &k, &v)) {
		struct d_info *d = v;

		if (strcmp(d->ns, ns) == 0 && d->sel && !selector_empty(d->sel) &&
		    selector_match_labels(d->sel, labels))
			wl_map_put(keys, k, keys);
	}
	pthread_mutex_unlock(&c->lock);
	pos = 0;
	while (wl_map_next(keys, &pos, &k, NULL))
		wq_add(c->q, k);
	wl_map_free(keys, NULL);
}

static void on_rs_add(void *arg, json_t *rs)
{
	struct d_ctrl *c = arg;
	cleanup_free char *key = wl_key(rs);
	const json_t *ref = wl_controller_ref(rs);

	pthread_mutex_lock(&c->lock);
	wl_index_put(c->rss, key, rs);
	pthread_mutex_unlock(&c->lock);
	if (ref)
		enqueue_ref(c, rs, ref);
	else if (!wl_deleting(rs))
		enqueue_matching(c, rs);
}

static void on_rs_update(void *arg, json_t *old, json_t *rs)
{
	struct d_ctrl *c = arg;
	cleanup_free char *key = wl_key(rs);
	const json_t *cref = wl_controller_ref(rs), *oref = wl_controller_ref(old);
	bool ref_changed =
		!(cref && oref ? json_equal((json_t *)cref, (json_t *)oref) : cref == oref);
	bool labels_changed;

	pthread_mutex_lock(&c->lock);
	wl_index_put(c->rss, key, rs);
	pthread_mutex_unlock(&c->lock);
	if (ref_changed && oref)
		enqueue_ref(c, old, oref);
	if (cref) {
		enqueue_ref(c, rs, cref);
		return;
	}
	labels_changed = !json_equal(wl_get(old, "metadata.labels") ?: json_null(),
				     wl_get(rs, "metadata.labels") ?: json_null());
	if (labels_changed || ref_changed)
		enqueue_matching(c, rs);
}

static void on_rs_del(void *arg, json_t *rs)
{
	struct d_ctrl *c = arg;
	cleanup_free char *key = wl_key(rs);

	pthread_mutex_lock(&c->lock);
	wl_index_del(c->rss, key);
	pthread_mutex_unlock(&c->lock);
	enqueue_ref(c, rs, wl_controller_ref(rs));
}

static void on_d_add(void *arg, json_t *d)
{
	struct d_ctrl *c = arg;
	cleanup_free char *key = wl_key(d);
	struct d_info *info = xcalloc(1, sizeof(*info));
	struct err err = ERR_INIT;

	info->ns = xstrdup(wl_str(d, "metadata.namespace") ?: "");
	info->uid = xstrdup(wl_str(d, "metadata.uid") ?: "");
	if (selector_from_json(wl_get(d, "spec.selector"), "spec.selector", &info->sel, &err) < 0) {
		info->sel = NULL;
		err_clear(&err);
	}
	pthread_mutex_lock(&c->lock);
	d_info_free(wl_map_put(c->ds, key, info));
	pthread_mutex_unlock(&c->lock);
	wq_add(c->q, key);
}

static void on_d_update(void *arg, json_t *old, json_t *d)
{
	(void)old;
	on_d_add(arg, d);
}

static void on_d_del(void *arg, json_t *d)
{
	struct d_ctrl *c = arg;
	cleanup_free char *key = wl_key(d);

	pthread_mutex_lock(&c->lock);
	d_info_free(wl_map_del(c->ds, key));
	pthread_mutex_unlock(&c->lock);
	wq_add(c->q, key);
}

/* One sync of one deployment. */

struct dsync {
	struct d_ctrl *c;
	const char *key;
	json_t *d;          /* our copy; the server's answer after each write */
	struct wl_list rss; /* the claimed ReplicaSets, replaced as we write them */
	json_t *new_rs;     /* one of rss, or NULL */
};

static const char *d_ns(const struct dsync *s)
{
	return wl_str(s->d, "metadata.namespace") ?: "";
}

static const char *d_name(const struct dsync *s)
{
	return wl_str(s->d, "metadata.name") ?: "";
}

static json_t *event_obj(const json_t *obj, const char *kind)
{
	json_t *o = json_copy((json_t *)obj);

	json_object_set_new(o, "apiVersion", json_string("apps/v1"));
	json_object_set_new(o, "kind", json_string(kind));
	return o;
}

static void d_event(struct dsync *s, const char *type, const char *reason, const char *msg)
{
	cleanup_json json_t *ev = event_obj(s->d, "Deployment");

	kc_event(s->c->kc, ev, type, reason, COMPONENT, "%s", msg);
}

static int request_failed(int code, const char *what, struct err *err)
{
	if (code < 0)
		return code;
	if (err->code)
		return -err->code;
	return err_set(err, EIO, "%s: status %d", what, code);
}

static char *rs_path(const char *ns, const char *name)
{
	return xasprintf("/apis/apps/v1/namespaces/%s/replicasets/%s", ns, name);
}

/* Writes s->d's status (and annotations: the status strategy keeps metadata). */
static int put_status(struct dsync *s, struct err *err)
{
	cleanup_free char *path =
		xasprintf("/apis/apps/v1/namespaces/%s/deployments/%s/status", d_ns(s), d_name(s));
	json_t *resp = NULL;
	int code = kc_request(s->c->kc, "PUT", path, NULL, s->d, &resp, err);

	if (code != 200 && code != 201) {
		json_decref(resp);
		return request_failed(code, "update deployment status", err);
	}
	json_decref(s->d);
	s->d = resp;
	return 0;
}

static json_t *status_of(struct dsync *s)
{
	json_t *st = json_object_get(s->d, "status");

	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(s->d, "status", st);
	}
	return st;
}

/* The RSes other than the new one, borrowed into @out (room for rss.n). */
static size_t olds(struct dsync *s, json_t **out)
{
	size_t n = 0;

	for (size_t i = 0; i < s->rss.n; i++)
		if (s->rss.v[i] != s->new_rs)
			out[n++] = s->rss.v[i];
	return n;
}

static size_t all_rss(struct dsync *s, json_t **out)
{
	size_t n = olds(s, out);

	if (s->new_rs)
		out[n++] = s->new_rs;
	return n;
}

/* Puts @upd (taken) in place of @old in rss. */
static void replace_rs(struct dsync *s, json_t *old, json_t *upd)
{
	for (size_t i = 0; i < s->rss.n; i++) {
		if (s->rss.v[i] != old)
			continue;
		s->rss.v[i] = upd;
		if (s->new_rs == old)
			s->new_rs = upd;
		json_decref(old);
		return;
	}
	json_decref(upd);
}

static int put_rs(struct dsync *s, json_t *old, json_t *copy, struct err *err)
{
	cleanup_free char *path = rs_path(d_ns(s), wl_str(copy, "metadata.name") ?: "");
	json_t *resp = NULL;
	int code = kc_request(s->c->kc, "PUT", path, NULL, copy, &resp, err);

	if (code != 200 && code != 201) {
		json_decref(resp);
		return request_failed(code, "update replicaset", err);
	}
	replace_rs(s, old, resp);
	return 0;
}

/* scaleReplicaSet: sets the size and the replica annotations; *ret_scaled when it resized. */
static int scale_rs(struct dsync *s, json_t *rs, int32_t size, const char *op, bool *ret_scaled,
		    struct err *err)
{
	int32_t replicas = wl_d_replicas(s->d), max = replicas + wl_d_max_surge(s->d);
	int32_t from = wl_rs_replicas(rs);
	bool resize = from != size;
	cleanup_json json_t *copy = NULL;
	cleanup_free char *name = xstrdup(wl_str(rs, "metadata.name") ?: "");
	int r;

	if (ret_scaled)
		*ret_scaled = false;
	if (!resize && !wl_replicas_annotations_need_update(rs, replicas, max))
		return 0;
	copy = json_deep_copy(rs);
	json_object_set_new(json_object_get(copy, "spec"), "replicas", json_integer(size));
	wl_set_replicas_annotations(copy, replicas, max);
	r = put_rs(s, rs, copy, err);
	if (r < 0)
		return r;
	if (resize) {
		cleanup_free char *msg =
			xasprintf("Scaled %s replica set %s from %" PRId32 " to %" PRId32, op, name,
				  from, size);

		d_event(s, "Normal", "ScalingReplicaSet", msg);
		if (ret_scaled)
			*ret_scaled = true;
	}
	return 0;
}

static int scale_rs_event(struct dsync *s, json_t *rs, int32_t size, bool *ret_scaled,
			  struct err *err)
{
	if (ret_scaled)
		*ret_scaled = false;
	if (wl_rs_replicas(rs) == size)
		return 0;
	return scale_rs(s, rs, size, wl_rs_replicas(rs) < size ? "up" : "down", ret_scaled, err);
}

static bool d_set_revision(struct dsync *s, const char *rev)
{
	return rev && wl_set_annotation(s->d, WL_ANN_REVISION, rev);
}

/* Claims the ReplicaSets of the deployment, as claim_pods does for a ReplicaSet. */
static int claim_rss(struct dsync *s, const struct selector *sel, struct err *err)
{
	struct wl_list cand = {0};
	const char *uid = wl_str(s->d, "metadata.uid") ?: "";
	int adopt_ok = -1;

	pthread_mutex_lock(&s->c->lock);
	wl_index_owned(s->c->rss, uid, &cand);
	wl_index_orphans(s->c->rss, d_ns(s), &cand);
	pthread_mutex_unlock(&s->c->lock);

	for (size_t i = 0; i < cand.n; i++) {
		json_t *rs = cand.v[i];
		bool selected = selector_match_labels(sel, wl_get(rs, "metadata.labels"));
		cleanup_free char *path = rs_path(d_ns(s), wl_str(rs, "metadata.name") ?: "");
		struct err perr = ERR_INIT;
		int code;

		switch (wl_claim_decide(s->d, rs, selected)) {
		case WL_CLAIM_IGNORE:
			continue;
		case WL_CLAIM_OWNED:
			break;
		case WL_CLAIM_ADOPT:
			if (adopt_ok < 0) {
				cleanup_free char *dpath =
					xasprintf("/apis/apps/v1/namespaces/%s/deployments/%s",
						  d_ns(s), d_name(s));
				cleanup_json json_t *fresh = NULL;

				code = kc_request(s->c->kc, "GET", dpath, NULL, NULL, &fresh,
						  &perr);
				err_clear(&perr);
				adopt_ok = code == 200 && !wl_deleting(fresh) &&
					   strcmp(wl_str(fresh, "metadata.uid") ?: "", uid) == 0;
			}
			if (!adopt_ok)
				continue;
			code = wl_adopt(s->c->kc, path, s->d, "apps/v1", "Deployment", rs, &perr);
			if (code < 200 || code >= 300) {
				bool gone = code == 404;

				err_clear(&perr);
				if (gone)
					continue;
				wl_list_done(&cand);
				return err_set(err, EAGAIN, "adopt replicaset '%s': status %d",
					       wl_str(rs, "metadata.name"), code);
			}
			break;
		case WL_CLAIM_RELEASE:
			wl_release(s->c->kc, path, s->d, rs, &perr);
			err_clear(&perr);
			continue;
		}
		wl_list_add(&s->rss, rs);
	}
	wl_list_done(&cand);
	return 0;
}

/* Creates the new ReplicaSet (getNewReplicaSet with createIfNotExisted). */
static int create_new_rs(struct dsync *s, const char *revision, struct err *err)
{
	json_t *cc = wl_get(s->d, "status.collisionCount");
	cleanup_free char *hash = wl_template_hash(
		wl_get(s->d, "spec.template"), json_is_integer(cc) ? json_integer_value(cc) : -1);
	cleanup_free char *name = xasprintf("%s-%s", d_name(s), hash);
	cleanup_free char *path = xasprintf("/apis/apps/v1/namespaces/%s/replicasets", d_ns(s));
	json_t *tmpl = json_deep_copy(wl_get(s->d, "spec.template"));
	json_t *sel = json_deep_copy(wl_get(s->d, "spec.selector"));
	cleanup_json json_t *rs = NULL;
	json_t *resp = NULL, *labels, *ml;
	json_t **all = xcalloc(s->rss.n + 1, sizeof(*all));
	size_t n;
	int32_t replicas;
	bool exists = false;
	int code;

	if (!json_is_object(json_object_get(tmpl, "metadata")))
		json_object_set_new(tmpl, "metadata", json_object());
	labels = wl_get(tmpl, "metadata.labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(json_object_get(tmpl, "metadata"), "labels", labels);
	}
	json_object_set_new(labels, WL_LABEL_HASH, json_string(hash));
	ml = json_object_get(sel, "matchLabels");
	if (!json_is_object(ml)) {
		ml = json_object();
		json_object_set_new(sel, "matchLabels", ml);
	}
	json_object_set_new(ml, WL_LABEL_HASH, json_string(hash));
	rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:[o], s:O}, s:{s:i, s:I, s:o, s:o}}", "apiVersion",
		       "apps/v1", "kind", "ReplicaSet", "metadata", "name", name, "namespace",
		       d_ns(s), "ownerReferences",
		       wl_controller_ref_new(s->d, "apps/v1", "Deployment"), "labels", labels,
		       "spec", "replicas", 0, "minReadySeconds",
		       (json_int_t)wl_int(s->d, "spec.minReadySeconds", 0), "selector", sel,
		       "template", tmpl);
	n = olds(s, all);
	all[n++] = rs;
	replicas = wl_new_rs_new_replicas(s->d, all, n, rs);
	free(all);
	json_object_set_new(json_object_get(rs, "spec"), "replicas", json_integer(replicas));
	wl_set_new_rs_annotations(s->d, rs, revision, false);

	code = kc_request(s->c->kc, "POST", path, NULL, rs, &resp, err);
	if (code == 409) {
		/*
		 * Ours from an earlier sync that the informer has not shown us yet, or a hash
		 * collision with someone else's: only a fresh read tells.
		 */
		cleanup_free char *get_path = rs_path(d_ns(s), name);
		cleanup_json json_t *cur = NULL;
		const json_t *ref;

		json_decref(resp);
		resp = NULL;
		err_clear(err);
		code = kc_request(s->c->kc, "GET", get_path, NULL, NULL, &cur, err);
		if (code != 200)
			return request_failed(code, "read replicaset", err);
		ref = wl_controller_ref(cur);
		if (ref &&
		    strcmp(wl_str(ref, "uid") ?: "", wl_str(s->d, "metadata.uid") ?: "") == 0 &&
		    wl_templates_equal(wl_get(s->d, "spec.template"),
				       wl_get(cur, "spec.template"))) {
			resp = json_incref(cur);
			exists = true;
		} else {
			json_t *st = status_of(s);
			int64_t next = wl_int(st, "collisionCount", 0) + 1;
			int r;

			json_object_set_new(st, "collisionCount", json_integer(next));
			r = put_status(s, err);
			if (r < 0)
				return r;
			return err_set(err, EEXIST,
				       "create replicaset '%s': hash collision, collisionCount now "
				       "%" PRId64,
				       name, next);
		}
	} else if (code != 201 && code != 200) {
		cleanup_free char *msg = xasprintf("Failed to create new replica set \"%s\": %s",
						   name, err->msg ? err->msg : "request failed");

		json_decref(resp);
		if (code > 0 && wl_d_has_progress_deadline(s->d)) {
			struct err ignored = ERR_INIT;

			wl_cond_set(status_of(s), wl_cond_new("Progressing", "False",
							      "ReplicaSetCreateError", msg));
			put_status(s, &ignored);
			err_clear(&ignored);
		}
		d_event(s, "Warning", "ReplicaSetCreateError", msg);
		return request_failed(code, "create replicaset", err);
	}
	if (!exists && replicas > 0) {
		cleanup_free char *msg =
			xasprintf("Scaled up replica set %s to %" PRId32, name, replicas);

		d_event(s, "Normal", "ScalingReplicaSet", msg);
	}
	wl_list_add(&s->rss, resp);
	s->new_rs = resp;
	json_decref(resp);
	{
		bool needs = d_set_revision(s, revision);

		if (!exists && wl_d_has_progress_deadline(s->d)) {
			cleanup_free char *msg = xasprintf("Created new replica set \"%s\"", name);

			wl_cond_set(status_of(s), wl_cond_new("Progressing", "True",
							      "NewReplicaSetCreated", msg));
			needs = true;
		}
		if (needs)
			return put_status(s, err);
	}
	return 0;
}

/* getAllReplicaSetsAndSyncRevision: finds (or creates) the new RS and syncs revisions. */
static int sync_revision(struct dsync *s, bool create, struct err *err)
{
	json_t **old = xcalloc(s->rss.n + 1, sizeof(*old));
	size_t nold;
	int64_t max_old = 0;
	char revision[24];
	json_t *found;

	found = wl_find_new_rs(s->d, s->rss.v, s->rss.n);
	s->new_rs = found;
	nold = olds(s, old);
	for (size_t i = 0; i < nold; i++)
		if (wl_revision(old[i]) > max_old)
			max_old = wl_revision(old[i]);
	free(old);
	snprintf(revision, sizeof(revision), "%" PRId64, max_old + 1);

	if (found) {
		cleanup_json json_t *copy = json_deep_copy(found);
		bool ann = wl_set_new_rs_annotations(s->d, copy, revision, true);
		int64_t mrs = wl_int(s->d, "spec.minReadySeconds", 0);
		bool needs;

		if (ann || wl_int(copy, "spec.minReadySeconds", 0) != mrs) {
			json_object_set_new(json_object_get(copy, "spec"), "minReadySeconds",
					    json_integer(mrs));
			return put_rs(s, found, copy, err);
		}
		needs = d_set_revision(s, wl_annotation(copy, WL_ANN_REVISION));
		if (wl_d_has_progress_deadline(s->d) &&
		    !wl_cond_get(json_object_get(s->d, "status"), "Progressing")) {
			cleanup_free char *msg = xasprintf("Found new replica set \"%s\"",
							   wl_str(found, "metadata.name") ?: "");

			wl_cond_set(status_of(s),
				    wl_cond_new("Progressing", "True", "FoundNewReplicaSet", msg));
			needs = true;
		}
		return needs ? put_status(s, err) : 0;
	}
	if (!create)
		return 0;
	return create_new_rs(s, revision, err);
}

static int sync_status(struct dsync *s, struct err *err)
{
	json_t **all = xcalloc(s->rss.n + 1, sizeof(*all));
	size_t n = all_rss(s, all);
	json_t *st = wl_deployment_status(s->d, all, n, s->new_rs);

	free(all);
	if (wl_status_equal(json_object_get(s->d, "status"), st)) {
		json_decref(st);
		return 0;
	}
	json_object_set_new(s->d, "status", st);
	return put_status(s, err);
}

/* Deletes old RSes beyond revisionHistoryLimit that are scaled to zero and settled. */
static int cleanup(struct dsync *s, struct err *err)
{
	json_t *limit = wl_get(s->d, "spec.revisionHistoryLimit");
	json_t **old = xcalloc(s->rss.n + 1, sizeof(*old));
	size_t n = 0, nold;
	int64_t diff;
	int ret = 0;

	if (!json_is_integer(limit)) {
		free(old);
		return 0;
	}
	nold = olds(s, old);
	for (size_t i = 0; i < nold; i++)
		if (!wl_deleting(old[i]))
			old[n++] = old[i];
	diff = (int64_t)n - json_integer_value(limit);
	wl_rs_sort(old, n, WL_BY_REVISION);
	for (int64_t i = 0; i < diff; i++) {
		json_t *rs = old[i];
		cleanup_free char *path = NULL;
		int code;

		if (wl_rs_status(rs, "replicas") != 0 || wl_rs_replicas(rs) != 0 ||
		    wl_int(rs, "metadata.generation", 0) > wl_rs_status(rs, "observedGeneration"))
			continue;
		path = rs_path(d_ns(s), wl_str(rs, "metadata.name") ?: "");
		code = kc_request(s->c->kc, "DELETE", path, NULL, NULL, NULL, err);
		if (code == 404) {
			err_clear(err);
			continue;
		}
		if (code < 200 || code >= 300) {
			ret = request_failed(code, "delete replicaset", err);
			break;
		}
	}
	free(old);
	return ret;
}

/* scale(): a scaling event or a paused deployment; proportional while rolling. */
static int scale(struct dsync *s, struct err *err)
{
	json_t **v = xcalloc(s->rss.n + 1, sizeof(*v));
	size_t n = olds(s, v), na = 0;
	int32_t replicas = wl_d_replicas(s->d);
	json_t *aol = wl_find_active_or_latest(s->new_rs, v, n);
	int32_t *sizes = NULL;
	const char *op;
	int r = 0;

	if (aol) {
		if (wl_rs_replicas(aol) != replicas)
			r = scale_rs_event(s, aol, replicas, NULL, err);
		free(v);
		return r;
	}
	if (wl_is_saturated(s->d, s->new_rs)) {
		for (size_t i = 0; i < n && r == 0; i++)
			if (wl_rs_replicas(v[i]) > 0)
				r = scale_rs_event(s, v[i], 0, NULL, err);
		free(v);
		return r;
	}
	if (!wl_d_rolling(s->d)) {
		free(v);
		return 0;
	}
	n = all_rss(s, v);
	for (size_t i = 0; i < n; i++)
		if (wl_rs_replicas(v[i]) > 0)
			v[na++] = v[i];
	sizes = xcalloc(na + 1, sizeof(*sizes));
	wl_proportional_sizes(s->d, v, na, sizes, &op);
	for (size_t i = 0; i < na && r == 0; i++)
		r = scale_rs(s, v[i], sizes[i], op, NULL, err);
	free(sizes);
	free(v);
	return r;
}

/* A paused deployment, or one being scaled: sizes only, no rollout. */
static int sync_scale(struct dsync *s, struct err *err)
{
	int r = sync_revision(s, false, err);

	if (r >= 0)
		r = scale(s, err);
	/* History is trimmed here only while paused; a rollout trims it once complete. */
	if (r >= 0 && json_is_true(wl_get(s->d, "spec.paused")))
		r = cleanup(s, err);
	if (r >= 0)
		r = sync_status(s, err);
	return r;
}

static void requeue_stuck(struct dsync *s, const json_t *st)
{
	json_t *c = wl_cond_get(st, "Progressing");
	const char *reason = wl_str(c, "reason") ?: "";
	int64_t after;

	if (!wl_d_has_progress_deadline(s->d) || !c ||
	    strcmp(reason, "NewReplicaSetAvailable") == 0 ||
	    strcmp(reason, "ProgressDeadlineExceeded") == 0)
		return;
	after = wl_time_parse(wl_str(c, "lastUpdateTime")) +
		wl_int(s->d, "spec.progressDeadlineSeconds", 0) - wl_now();
	wq_add_after(s->c->q, s->key, after < 1 ? 1000 : after * 1000);
}

/* The deployment-level copy of the first ReplicaFailure of the new RS, else of the old. */
static json_t *replica_failure(struct dsync *s)
{
	json_t **v = xcalloc(s->rss.n + 1, sizeof(*v));
	size_t n = olds(s, v);
	json_t *found =
		s->new_rs ? wl_cond_get(json_object_get(s->new_rs, "status"), "ReplicaFailure")
			  : NULL;
	json_t *c;

	for (size_t i = 0; i < n && !found; i++)
		found = wl_cond_get(json_object_get(v[i], "status"), "ReplicaFailure");
	free(v);
	if (!found)
		return NULL;
	c = json_deep_copy(found);
	if (json_object_get(c, "lastTransitionTime"))
		json_object_set(c, "lastUpdateTime", json_object_get(c, "lastTransitionTime"));
	return c;
}

static int sync_rollout_status(struct dsync *s, struct err *err)
{
	json_t **all = xcalloc(s->rss.n + 1, sizeof(*all));
	size_t n = all_rss(s, all);
	json_t *st = wl_deployment_status(s->d, all, n, s->new_rs);
	json_t *cur = wl_cond_get(json_object_get(s->d, "status"), "Progressing");
	const char *rs_name = s->new_rs ? wl_str(s->new_rs, "metadata.name") : NULL;
	bool complete_before = wl_int(st, "replicas", 0) == wl_int(st, "updatedReplicas", 0) &&
			       cur &&
			       strcmp(wl_str(cur, "reason") ?: "", "NewReplicaSetAvailable") == 0;
	json_t *failure;

	free(all);
	if (!wl_d_has_progress_deadline(s->d))
		wl_cond_remove(st, "Progressing");
	if (wl_d_has_progress_deadline(s->d) && !complete_before) {
		cleanup_free char *what = rs_name ? xasprintf("ReplicaSet \"%s\"", rs_name)
						  : xasprintf("Deployment \"%s\"", d_name(s));
		cleanup_free char *msg = NULL;

		if (wl_deployment_complete(s->d, st)) {
			msg = xasprintf("%s has successfully progressed.", what);
			wl_cond_set(st, wl_cond_new("Progressing", "True", "NewReplicaSetAvailable",
						    msg));
		} else if (wl_deployment_progressing(s->d, st)) {
			json_t *c;

			msg = xasprintf("%s is progressing.", what);
			c = wl_cond_new("Progressing", "True", "ReplicaSetUpdated", msg);
			/* Progress refreshes lastUpdateTime even with the same reason. */
			if (cur) {
				if (strcmp(wl_str(cur, "status") ?: "", "True") == 0 &&
				    json_object_get(cur, "lastTransitionTime"))
					json_object_set(c, "lastTransitionTime",
							json_object_get(cur, "lastTransitionTime"));
				wl_cond_remove(st, "Progressing");
			}
			wl_cond_set(st, c);
		} else if (wl_deployment_timed_out(s->d, st, wl_now())) {
			msg = xasprintf("%s has timed out progressing.", what);
			wl_cond_set(st, wl_cond_new("Progressing", "False",
						    "ProgressDeadlineExceeded", msg));
		}
	}
	failure = replica_failure(s);
	if (failure)
		wl_cond_set(st, failure);
	else
		wl_cond_remove(st, "ReplicaFailure");
	if (json_array_size(json_object_get(st, "conditions")) == 0)
		json_object_del(st, "conditions");
	if (wl_status_equal(json_object_get(s->d, "status"), st)) {
		requeue_stuck(s, st);
		json_decref(st);
		return 0;
	}
	json_object_set_new(s->d, "status", st);
	return put_status(s, err);
}

static int check_paused(struct dsync *s, struct err *err)
{
	json_t *cur = wl_cond_get(json_object_get(s->d, "status"), "Progressing");
	const char *reason = wl_str(cur, "reason") ?: "";
	bool paused = json_is_true(wl_get(s->d, "spec.paused"));
	bool paused_cond = cur && strcmp(reason, "DeploymentPaused") == 0;

	if (!wl_d_has_progress_deadline(s->d) || strcmp(reason, "ProgressDeadlineExceeded") == 0)
		return 0;
	if (paused && !paused_cond)
		wl_cond_set(status_of(s), wl_cond_new("Progressing", "Unknown", "DeploymentPaused",
						      "Deployment is paused"));
	else if (!paused && paused_cond)
		wl_cond_set(status_of(s), wl_cond_new("Progressing", "Unknown", "DeploymentResumed",
						      "Deployment is resumed"));
	else
		return 0;
	return put_status(s, err);
}

static int reconcile_new(struct dsync *s, bool *ret_scaled, struct err *err)
{
	json_t **all;
	size_t n;
	int32_t replicas = wl_d_replicas(s->d), cur = wl_rs_replicas(s->new_rs), want;

	*ret_scaled = false;
	if (cur == replicas)
		return 0;
	if (cur > replicas)
		return scale_rs_event(s, s->new_rs, replicas, ret_scaled, err);
	all = xcalloc(s->rss.n + 1, sizeof(*all));
	n = all_rss(s, all);
	want = wl_new_rs_new_replicas(s->d, all, n, s->new_rs);
	free(all);
	return scale_rs_event(s, s->new_rs, want, ret_scaled, err);
}

/* Active old RSes, borrowed into @v; returns how many. */
static size_t active_olds(struct dsync *s, json_t **v)
{
	size_t n = olds(s, v), na = 0;

	for (size_t i = 0; i < n; i++)
		if (wl_rs_replicas(v[i]) > 0)
			v[na++] = v[i];
	return na;
}

static int reconcile_old(struct dsync *s, bool *ret_scaled, struct err *err)
{
	json_t **all = xcalloc(s->rss.n + 1, sizeof(*all));
	json_t **old = xcalloc(s->rss.n + 1, sizeof(*old));
	int32_t *sizes = xcalloc(s->rss.n + 1, sizeof(*sizes));
	size_t n = all_rss(s, all), nold = active_olds(s, old);
	int32_t max_down = wl_max_scaled_down(s->d, all, n, s->new_rs), total = 0;
	int r = 0;

	*ret_scaled = false;
	if (nold == 0 || max_down <= 0)
		goto out;
	/* Unhealthy old replicas go first: removing them costs no availability. */
	total += wl_plan_cleanup_unhealthy(old, nold, max_down, sizes);
	for (size_t i = 0; i < nold && r == 0; i++)
		if (sizes[i] != wl_rs_replicas(old[i]))
			r = scale_rs_event(s, old[i], sizes[i], NULL, err);
	if (r < 0)
		goto out;
	n = all_rss(s, all);
	nold = active_olds(s, old);
	total += wl_plan_scale_down_old(s->d, all, n, old, nold, sizes);
	for (size_t i = 0; i < nold && r == 0; i++)
		if (sizes[i] != wl_rs_replicas(old[i]))
			r = scale_rs_event(s, old[i], sizes[i], NULL, err);
	*ret_scaled = total > 0;
out:
	free(sizes);
	free(old);
	free(all);
	return r;
}

static int rollout_rolling(struct dsync *s, struct err *err)
{
	bool scaled;
	int r = sync_revision(s, true, err);

	if (r < 0)
		return r;
	if (!s->new_rs)
		return err_set(err, EAGAIN, "deployment '%s': new replicaset not found", s->key);
	r = reconcile_new(s, &scaled, err);
	if (r < 0)
		return r;
	if (scaled)
		return sync_rollout_status(s, err);
	r = reconcile_old(s, &scaled, err);
	if (r < 0)
		return r;
	if (scaled)
		return sync_rollout_status(s, err);
	if (wl_deployment_complete(s->d, json_object_get(s->d, "status"))) {
		r = cleanup(s, err);
		if (r < 0)
			return r;
	}
	return sync_rollout_status(s, err);
}

/* Whether pods of the old RSes still run (or terminate): Recreate waits for them. */
static int old_pods_running(struct dsync *s, bool *ret, struct err *err)
{
	json_t **old = xcalloc(s->rss.n + 1, sizeof(*old));
	size_t nold = olds(s, old);
	struct wl_map *uids = wl_map_new();
	cleanup_free char *sel = NULL, *esc = NULL, *path = NULL;
	cleanup_json json_t *list = NULL;
	json_t *pod;
	size_t i;
	int code;

	*ret = false;
	for (i = 0; i < nold; i++) {
		if (wl_rs_status(old[i], "replicas") > 0)
			*ret = true;
		wl_map_put(uids, wl_str(old[i], "metadata.uid") ?: "", uids);
	}
	free(old);
	if (*ret || nold == 0) {
		wl_map_free(uids, NULL);
		return 0;
	}
	sel = wl_selector_string(wl_get(s->d, "spec.selector"));
	esc = url_escape(sel);
	path = xasprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", d_ns(s), esc);
	code = kc_request(s->c->kc, "GET", path, NULL, NULL, &list, err);
	if (code != 200) {
		wl_map_free(uids, NULL);
		return request_failed(code, "list pods", err);
	}
	json_array_foreach (json_object_get(list, "items"), i, pod) {
		const json_t *ref = wl_controller_ref(pod);
		const char *phase = wl_str(pod, "status.phase") ?: "";

		if (!ref || !wl_map_get(uids, wl_str(ref, "uid") ?: ""))
			continue;
		if (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0) {
			*ret = true;
			break;
		}
	}
	wl_map_free(uids, NULL);
	return 0;
}

static int rollout_recreate(struct dsync *s, struct err *err)
{
	json_t **old;
	size_t nold;
	bool scaled = false, running;
	int r = sync_revision(s, false, err);

	if (r < 0)
		return r;
	old = xcalloc(s->rss.n + 1, sizeof(*old));
	nold = active_olds(s, old);
	for (size_t i = 0; i < nold && r == 0; i++) {
		bool one;

		r = scale_rs_event(s, old[i], 0, &one, err);
		scaled |= one;
	}
	free(old);
	if (r < 0)
		return r;
	if (scaled)
		return sync_rollout_status(s, err);
	r = old_pods_running(s, &running, err);
	if (r < 0)
		return r;
	if (running) {
		/* No pod informer here: look again shortly. */
		wq_add_after(s->c->q, s->key, RECREATE_POLL_MS);
		return sync_rollout_status(s, err);
	}
	if (!s->new_rs) {
		r = sync_revision(s, true, err);
		if (r < 0)
			return r;
		if (!s->new_rs)
			return err_set(err, EAGAIN, "deployment '%s': new replicaset not found",
				       s->key);
	}
	r = scale_rs_event(s, s->new_rs, wl_d_replicas(s->d), NULL, err);
	if (r < 0)
		return r;
	if (wl_deployment_complete(s->d, json_object_get(s->d, "status"))) {
		r = cleanup(s, err);
		if (r < 0)
			return r;
	}
	return sync_rollout_status(s, err);
}

static bool selects_all(const json_t *sel)
{
	return json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
	       json_array_size(json_object_get(sel, "matchExpressions")) == 0;
}

static int d_sync(struct d_ctrl *c, const char *key, struct err *err)
{
	const char *slash = strchr(key, '/');
	cleanup_free char *ns = slash ? xstrndup(key, (size_t)(slash - key)) : xstrdup("");
	json_t *cur = informer_get(c->d_inf, ns, slash ? slash + 1 : key);
	struct dsync s = {.c = c, .key = key};
	struct selector *sel = NULL;
	bool scaling;
	json_t **all;
	size_t n;
	int r;

	if (!cur)
		return 0;
	s.d = json_deep_copy(cur);
	json_decref(cur);
	if (selects_all(wl_get(s.d, "spec.selector"))) {
		d_event(&s, "Warning", "SelectingAll",
			"This deployment is selecting all pods. A non-empty selector is required.");
		r = 0;
		if (wl_int(s.d, "status.observedGeneration", 0) <
		    wl_int(s.d, "metadata.generation", 0)) {
			json_object_set_new(status_of(&s), "observedGeneration",
					    json_integer(wl_int(s.d, "metadata.generation", 0)));
			r = put_status(&s, err);
		}
		json_decref(s.d);
		return r;
	}
	r = selector_from_json(wl_get(s.d, "spec.selector"), "spec.selector", &sel, err);
	if (r < 0) {
		log_debug("deployment '%s': %s, ignoring", key, err->msg);
		err_clear(err);
		json_decref(s.d);
		return 0;
	}
	r = claim_rss(&s, sel, err);
	selector_free(sel);
	if (r < 0)
		goto out;
	if (wl_deleting(s.d)) {
		r = sync_revision(&s, false, err);
		if (r >= 0)
			r = sync_status(&s, err);
		goto out;
	}
	r = check_paused(&s, err);
	if (r < 0)
		goto out;
	if (json_is_true(wl_get(s.d, "spec.paused"))) {
		r = sync_scale(&s, err);
		goto out;
	}
	/* isScalingEvent looks at the RSes after the revision sync, as upstream's. */
	r = sync_revision(&s, false, err);
	if (r < 0)
		goto out;
	all = xcalloc(s.rss.n + 1, sizeof(*all));
	n = all_rss(&s, all);
	scaling = wl_is_scaling_event(s.d, all, n);
	free(all);
	if (scaling) {
		r = sync_scale(&s, err);
		goto out;
	}
	if (wl_d_rolling(s.d))
		r = rollout_rolling(&s, err);
	else
		r = rollout_recreate(&s, err);
out:
	wl_list_done(&s.rss);
	json_decref(s.d);
	return r;
}

static int sync_key(void *arg, const char *key, struct err *err)
{
	return d_sync(arg, key, err) < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
	struct d_ctrl *c = arg;

	wq_process(c->q, "deployment controller", sync_key, c);
	return NULL;
}

void deployment_stop(void *state)
{
	struct d_ctrl *c = state;

	if (!c)
		return;
	if (c->q)
		wq_shutdown(c->q);
	for (size_t i = 0; i < c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	informer_stop(c->rs_inf);
	informer_stop(c->d_inf);
	wq_free(c->q);
	wl_index_free(c->rss);
	wl_map_free(c->ds, d_info_free);
	pthread_mutex_destroy(&c->lock);
	free(c->workers);
	free(c);
}

int deployment_start(struct kc *kc, const struct controllers_config *cfg, void **ret,
		     struct err *err)
{
	struct d_ctrl *c = xcalloc(1, sizeof(*c));
	struct informer_handlers rh = {
		.add = on_rs_add, .update = on_rs_update, .del = on_rs_del, .arg = c};
	struct informer_handlers dh = {
		.add = on_d_add, .update = on_d_update, .del = on_d_del, .arg = c};
	size_t n = cfg && cfg->workers > 0 ? (size_t)cfg->workers : 2;
	int r;

	c->kc = kc;
	c->q = wq_new();
	pthread_mutex_init(&c->lock, NULL);
	c->ds = wl_map_new();
	c->rss = wl_index_new();
	r = informer_start(kc, "/apis/apps/v1/deployments", &dh, &c->d_inf, err);
	if (r >= 0)
		r = informer_start(kc, "/apis/apps/v1/replicasets", &rh, &c->rs_inf, err);
	if (r < 0) {
		deployment_stop(c);
		return err_wrap(err, "start deployment controller");
	}
	/* A partial cache of ReplicaSets would make new ones for templates that have one. */
	informer_wait_synced(c->d_inf, 60000);
	informer_wait_synced(c->rs_inf, 60000);
	c->workers = xcalloc(n, sizeof(*c->workers));
	for (; c->nworkers < n; c->nworkers++)
		if (pthread_create(&c->workers[c->nworkers], NULL, worker, c) != 0)
			break;
	*ret = c;
	return 0;
}
