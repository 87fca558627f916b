/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The garbage collector, as upstream's: informers on every kind the API server serves
 * (events aside) feed a graph of objects by uid with their owners and dependents, kept up
 * to date per event. Dependents whose owners are all gone are deleted (in the background);
 * owners deleted with the "orphan" finalizer first release their dependents, owners
 * deleted with "foregroundDeletion" first see their dependents deleted. Every write names
 * the uid it means, so an object recreated under the same name is never touched.
 * It also does upstream's pod garbage collector's duty: terminating pods bound to a node
 * that no longer exists are force-deleted, since no kubelet is left to finish them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/kinds.h"
#include "cluster/controllers/workload_util.h"

#define FIN_ORPHAN     "orphan"
#define FIN_FOREGROUND "foregroundDeletion"
#define ABSENT_MAX     65536 /* owners known to be gone; forgotten all at once beyond */
#define PRESENT        ((void *)1)

struct gc;

/* One informer: the objects of one kind. */
struct gc_watch {
	struct gc *gc;
	const struct ctl_kind *kind;
	struct informer *inf;
};

/*
 * An object in the graph. A node without @kind is virtual: an owner known only from its
 * dependents' references (not seen yet, or gone while they still point at it).
 */
struct gnode {
	char *uid;
	const struct ctl_kind *kind;
	char *ns, *name;
	bool deleting, fin_orphan, fin_foreground;
	json_t *refs;              /* its ownerReferences; NULL when none */
	struct wl_map *dependents; /* uid -> struct gnode *; NULL when none */
	char *pod_node;            /* a terminating pod's node, for the pod collector */
};

struct gc {
	struct kc *c;
	struct ctl_kinds kinds;
	const struct ctl_kind *pod_kind, *node_kind;
	struct gc_watch *watches;
	size_t nwatches;
	struct workqueue *q;
	pthread_t *workers;
	size_t nworkers;
	bool stopping;

	pthread_mutex_t lock;       /* everything below */
	struct wl_map *graph;       /* uid -> struct gnode */
	struct wl_map *nodes;       /* Node names that exist */
	struct wl_map *terminating; /* Node name -> map of pod uid -> struct gnode */
	struct wl_map *absent;      /* owner uids verified gone */
};

/* A copy of what a worker needs of a node, taken under the lock. */
struct gview {
	char *uid;
	const struct ctl_kind *kind;
	char *ns, *name;
	bool deleting, fin_orphan, fin_foreground;
	json_t *refs;
	char **deps;
	size_t ndeps;
	char *pod_node;
};

enum owner_state { OWNER_SOLID, OWNER_DANGLING, OWNER_WAITING };

static const char *mstr(const json_t *obj, const char *field)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static bool has_finalizer(const json_t *obj, const char *name)
{
	const json_t *fin = json_object_get(json_object_get(obj, "metadata"), "finalizers"), *v;
	size_t i;

	json_array_foreach (fin, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

static bool refs_have(const json_t *refs, const char *uid)
{
	const json_t *r;
	size_t i;

	json_array_foreach (refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (u && strcmp(u, uid) == 0)
			return true;
	}
	return false;
}

static void enqueue(struct gc *gc, char kind, const char *uid)
{
	cleanup_free char *key = xasprintf("%c:%s", kind, uid);

	wq_add(gc->q, key);
}

/* The graph; every function below until the workers runs under gc->lock. */

static struct gnode *node_get(struct gc *gc, const char *uid)
{
	struct gnode *n = wl_map_get(gc->graph, uid);

	if (!n) {
		n = xcalloc(1, sizeof(*n));
		n->uid = xstrdup(uid);
		wl_map_put(gc->graph, uid, n);
	}
	return n;
}

static void node_free(void *p)
{
	struct gnode *n = p;

	if (!n)
		return;
	free(n->uid);
	free(n->ns);
	free(n->name);
	json_decref(n->refs);
	wl_map_free(n->dependents, NULL);
	free(n->pod_node);
	free(n);
}

static void node_drop(struct gc *gc, struct gnode *n)
{
	wl_map_del(gc->graph, n->uid);
	node_free(n);
}

static void link_owner(struct gc *gc, struct gnode *dep, const char *owner)
{
	struct gnode *o = node_get(gc, owner);

	if (!o->dependents)
		o->dependents = wl_map_new();
	wl_map_put(o->dependents, dep->uid, dep);
}

/* An owner waiting for its dependents looks again whenever one leaves. */
static void unlink_owner(struct gc *gc, struct gnode *dep, const char *owner)
{
	struct gnode *o = wl_map_get(gc->graph, owner);

	if (!o)
		return;
	if (o->dependents) {
		wl_map_del(o->dependents, dep->uid);
		if (wl_map_len(o->dependents) == 0) {
			wl_map_free(o->dependents, NULL);
			o->dependents = NULL;
		}
	}
	if (!o->kind && !o->dependents)
		node_drop(gc, o);
	else if (o->kind && o->deleting && o->fin_foreground)
		enqueue(gc, 'g', o->uid);
}

static void set_refs(struct gc *gc, struct gnode *n, const json_t *refs)
{
	const json_t *r;
	size_t i;

	/* most updates keep the owners: nothing to link or unlink */
	if (json_array_size(refs) == 0 ? !n->refs
				       : n->refs && json_equal(n->refs, (json_t *)refs)) {
		/* hold the newest version's, so the version before can go */
		if (n->refs && n->refs != refs) {
			json_decref(n->refs);
			n->refs = json_incref((json_t *)refs);
		}
		return;
	}
	json_array_foreach (n->refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (u && strcmp(u, n->uid) != 0 && !refs_have(refs, u))
			unlink_owner(gc, n, u);
	}
	json_array_foreach (refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "uid"));

		if (u && strcmp(u, n->uid) != 0 && !refs_have(n->refs, u))
			link_owner(gc, n, u);
	}
	json_decref(n->refs);
	/* the informer's objects are never changed: their owners are held, not copied */
	n->refs = json_array_size(refs) > 0 ? json_incref((json_t *)refs) : NULL;
}

/* Whether a dependent must be looked at: an owner is unknown, gone or waiting for it. */
static bool needs_attention(struct gc *gc, const struct gnode *n)
{
	const json_t *r;
	size_t i;

	json_array_foreach (n->refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "uid"));
		const struct gnode *o = u ? wl_map_get(gc->graph, u) : NULL;

		if (!u)
			continue;
		if (!o || !o->kind || (o->deleting && o->fin_foreground))
			return true;
	}
	return false;
}

static void untrack_pod(struct gc *gc, struct gnode *n)
{
	struct wl_map *pods;

	if (!n->pod_node)
		return;
	pods = wl_map_get(gc->terminating, n->pod_node);
	if (pods) {
		wl_map_del(pods, n->uid);
		if (wl_map_len(pods) == 0)
			wl_map_free(wl_map_del(gc->terminating, n->pod_node), NULL);
	}
	free(n->pod_node);
	n->pod_node = NULL;
}

static void track_pod(struct gc *gc, struct gnode *n, const json_t *pod)
{
	const char *node =
		json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
	struct wl_map *pods;

	if (!n->deleting || !node || !*node) {
		untrack_pod(gc, n);
		return;
	}
	if (n->pod_node && strcmp(n->pod_node, node) == 0)
		return;
	untrack_pod(gc, n);
	n->pod_node = xstrdup(node);
	pods = wl_map_get(gc->terminating, node);
	if (!pods) {
		pods = wl_map_new();
		wl_map_put(gc->terminating, node, pods);
	}
	wl_map_put(pods, n->uid, n);
	if (!wl_map_get(gc->nodes, node))
		enqueue(gc, 'p', n->uid);
}

static void node_gone(struct gc *gc, const char *name)
{
	struct wl_map *pods = wl_map_get(gc->terminating, name);
	const char *uid;
	size_t pos = 0;

	wl_map_del(gc->nodes, name);
	while (pods && wl_map_next(pods, &pos, &uid, NULL))
		enqueue(gc, 'p', uid);
}

static void observe(struct gc_watch *w, const json_t *obj)
{
	struct gc *gc = w->gc;
	const char *uid = mstr(obj, "uid");
	const char *ns = mstr(obj, "namespace"), *name = mstr(obj, "name");
	struct gnode *n;

	if (!uid || !*uid || !name)
		return;
	pthread_mutex_lock(&gc->lock);
	n = node_get(gc, uid);
	n->kind = w->kind;
	if (!n->name) {
		n->ns = ns && *ns ? xstrdup(ns) : NULL;
		n->name = xstrdup(name);
	}
	n->deleting = mstr(obj, "deletionTimestamp") != NULL;
	n->fin_orphan = has_finalizer(obj, FIN_ORPHAN);
	n->fin_foreground = has_finalizer(obj, FIN_FOREGROUND);
	set_refs(gc, n, json_object_get(json_object_get(obj, "metadata"), "ownerReferences"));
	if (n->deleting && (n->fin_orphan || n->fin_foreground))
		enqueue(gc, 'g', uid);
	else if (!n->deleting && needs_attention(gc, n))
		enqueue(gc, 'g', uid);
	if (w->kind == gc->pod_kind)
		track_pod(gc, n, obj);
	if (w->kind == gc->node_kind)
		wl_map_put(gc->nodes, name, PRESENT);
	pthread_mutex_unlock(&gc->lock);
}

static void forget(struct gc_watch *w, const json_t *obj)
{
	struct gc *gc = w->gc;
	const char *uid = mstr(obj, "uid");
	struct gnode *n;

	if (!uid)
		return;
	pthread_mutex_lock(&gc->lock);
	n = wl_map_get(gc->graph, uid);
	if (n) {
		const char *dep;
		size_t pos = 0;

		set_refs(gc, n, NULL);
		untrack_pod(gc, n);
		if (wl_map_len(gc->absent) >= ABSENT_MAX) {
			wl_map_free(gc->absent, NULL);
			gc->absent = wl_map_new();
		}
		wl_map_put(gc->absent, uid, PRESENT);
		/* dependents still point at it: it stays, virtual, until they let go */
		while (n->dependents && wl_map_next(n->dependents, &pos, &dep, NULL))
			enqueue(gc, 'g', dep);
		if (n->dependents) {
			n->kind = NULL;
			n->deleting = n->fin_orphan = n->fin_foreground = false;
		} else {
			node_drop(gc, n);
		}
	}
	if (w->kind == gc->node_kind && mstr(obj, "name"))
		node_gone(gc, mstr(obj, "name"));
	pthread_mutex_unlock(&gc->lock);
}

static void on_add(void *arg, json_t *obj)
{
	observe(arg, obj);
}

static void on_update(void *arg, struct informer_old *old, json_t *obj)
{
	(void)old;
	observe(arg, obj);
}

static void on_del(void *arg, json_t *obj)
{
	forget(arg, obj);
}

/* Workers. */

static bool view_get(struct gc *gc, const char *uid, struct gview *v)
{
	struct gnode *n;
	const char *dep;
	size_t pos = 0;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&gc->lock);
	n = wl_map_get(gc->graph, uid);
	if (!n || !n->kind) {
		pthread_mutex_unlock(&gc->lock);
		return false;
	}
	v->uid = xstrdup(uid);
	v->kind = n->kind;
	v->ns = n->ns ? xstrdup(n->ns) : NULL;
	v->name = xstrdup(n->name);
	v->deleting = n->deleting;
	v->fin_orphan = n->fin_orphan;
	v->fin_foreground = n->fin_foreground;
	v->refs = json_incref(n->refs);
	v->pod_node = n->pod_node ? xstrdup(n->pod_node) : NULL;
	if (n->dependents) {
		v->deps = xcalloc(wl_map_len(n->dependents), sizeof(*v->deps));
		while (wl_map_next(n->dependents, &pos, &dep, NULL))
			v->deps[v->ndeps++] = xstrdup(dep);
	}
	pthread_mutex_unlock(&gc->lock);
	return true;
}

static void view_done(struct gview *v)
{
	free(v->uid);
	free(v->ns);
	free(v->name);
	json_decref(v->refs);
	for (size_t i = 0; i < v->ndeps; i++)
		free(v->deps[i]);
	free(v->deps);
	free(v->pod_node);
}

static int failed(struct err *err, int code, const char *what, const char *path)
{
	if (code < 0 || err->code)
		return err_wrap(err, "%s '%s'", what, path);
	return err_set(err, EIO, "%s '%s': status %d", what, path, code);
}

/* DELETE naming the uid it means; @policy may be NULL, @grace < 0 leaves the default. */
static int delete_object(struct gc *gc, const struct gview *v, const char *policy, int64_t grace,
			 struct err *err)
{
	cleanup_free char *path = ctl_kind_path(v->kind, v->ns, v->name);
	cleanup_json json_t *opts = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					      "DeleteOptions", "preconditions", "uid", v->uid);
	int code;

	if (policy)
		json_object_set_new(opts, "propagationPolicy", json_string(policy));
	if (grace >= 0)
		json_object_set_new(opts, "gracePeriodSeconds", json_integer(grace));
	code = kc_request(gc->c, "DELETE", path, NULL, opts, NULL, err);
	/* 404: already gone; 409: the uid precondition failed, so that object is gone too */
	if (code == 200 || code == 202 || code == 404 || code == 409) {
		err_clear(err);
		log_debug("garbage collector: deleted %s (%s)", path, policy ? policy : "default");
		return 0;
	}
	return failed(err, code, "delete", path);
}

/* The live object: 0 with *ret NULL when it is gone or another object now has its name. */
static int get_live(struct gc *gc, const struct gview *v, json_t **ret, struct err *err)
{
	cleanup_free char *path = ctl_kind_path(v->kind, v->ns, v->name);
	json_t *obj = NULL;
	int code = kc_request(gc->c, "GET", path, NULL, NULL, &obj, err);

	*ret = NULL;
	if (code == 404) {
		json_decref(obj);
		err_clear(err);
		return 0;
	}
	if (code != 200) {
		json_decref(obj);
		return failed(err, code, "get", path);
	}
	if (!mstr(obj, "uid") || strcmp(mstr(obj, "uid"), v->uid) != 0)
		json_decref(obj);
	else
		*ret = obj;
	return 0;
}

static int patch_object(struct gc *gc, const struct gview *v, json_t *ops, struct err *err)
{
	cleanup_free char *path = ctl_kind_path(v->kind, v->ns, v->name);
	int code = kc_request(gc->c, "PATCH", path, "application/json-patch+json", ops, NULL, err);

	if (code == 200 || code == 404) {
		err_clear(err);
		return 0;
	}
	return failed(err, code, "patch", path);
}

static json_t *test_op(const char *path, const char *value)
{
	return json_pack("{s:s, s:s, s:s}", "op", "test", "path", path, "value", value);
}

/*
 * Drops @v's references to the owners in @owners (uid -> anything). The patch tests the
 * uid of the object and of each reference it removes, so a concurrent change fails it and
 * the item is retried on fresh data.
 */
static int remove_refs(struct gc *gc, const struct gview *v, const json_t *owners, struct err *err)
{
	cleanup_json json_t *obj = NULL, *ops = NULL, *removes = NULL;
	const json_t *refs;
	size_t n;

	if (get_live(gc, v, &obj, err) < 0)
		return -err->code;
	if (!obj)
		return 0;
	refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	ops = json_array();
	removes = json_array();
	json_array_append_new(ops, test_op("/metadata/uid", v->uid));
	n = json_array_size(refs);
	/* from the end, so that each removal leaves the indexes before it valid */
	for (size_t i = n; i-- > 0;) {
		const char *u = json_string_value(json_object_get(json_array_get(refs, i), "uid"));
		cleanup_free char *p = xasprintf("/metadata/ownerReferences/%zu", i);
		cleanup_free char *pu = xasprintf("%s/uid", p);

		if (!u || !json_object_get(owners, u))
			continue;
		json_array_append_new(ops, test_op(pu, u));
		json_array_append_new(removes, json_pack("{s:s, s:s}", "op", "remove", "path", p));
	}
	if (json_array_size(removes) == 0)
		return 0;
	if (json_array_size(removes) == n)
		/* nothing left: drop the field rather than leave an empty list */
		json_array_append_new(ops, json_pack("{s:s, s:s}", "op", "remove", "path",
						     "/metadata/ownerReferences"));
	else
		json_array_extend(ops, removes);
	log_debug("garbage collector: releasing %s/%s from %zu owner(s)", v->ns ? v->ns : "",
		  v->name, json_array_size(removes));
	return patch_object(gc, v, ops, err);
}

static int remove_finalizer(struct gc *gc, const struct gview *v, const char *name, struct err *err)
{
	cleanup_json json_t *obj = NULL;
	const json_t *fin, *f;
	size_t i;

	if (get_live(gc, v, &obj, err) < 0)
		return -err->code;
	fin = json_object_get(json_object_get(obj, "metadata"), "finalizers");
	json_array_foreach (fin, i, f) {
		cleanup_free char *p = xasprintf("/metadata/finalizers/%zu", i);
		cleanup_json json_t *ops = NULL;

		if (!json_is_string(f) || strcmp(json_string_value(f), name) != 0)
			continue;
		ops = json_pack("[o, o, {s:s, s:s}]", test_op("/metadata/uid", v->uid),
				test_op(p, name), "op", "remove", "path", p);
		log_debug("garbage collector: removing finalizer %s from %s/%s", name,
			  v->ns ? v->ns : "", v->name);
		return patch_object(gc, v, ops, err);
	}
	return 0;
}

static void absent_add(struct gc *gc, const char *uid)
{
	pthread_mutex_lock(&gc->lock);
	if (wl_map_len(gc->absent) >= ABSENT_MAX) {
		wl_map_free(gc->absent, NULL);
		gc->absent = wl_map_new();
	}
	wl_map_put(gc->absent, uid, PRESENT);
	pthread_mutex_unlock(&gc->lock);
}

static enum owner_state state_of(const json_t *owner)
{
	if (mstr(owner, "deletionTimestamp") && has_finalizer(owner, FIN_FOREGROUND))
		return OWNER_WAITING;
	return OWNER_SOLID;
}

/*
 * What the owner of reference @ref is to dependent @v: present, gone, or being deleted in
 * the foreground. An owner the graph does not hold is looked up with a live GET, since
 * its informer may simply not have seen it yet.
 */
static int owner_state(struct gc *gc, const struct gview *v, const json_t *ref,
		       enum owner_state *ret, struct err *err)
{
	const char *uid = json_string_value(json_object_get(ref, "uid"));
	const char *name = json_string_value(json_object_get(ref, "name"));
	const struct ctl_kind *k;
	const struct gnode *o;
	cleanup_free char *path = NULL;
	cleanup_json json_t *obj = NULL;
	bool gone;
	int code;

	*ret = OWNER_SOLID;
	if (!uid || !name)
		return 0;
	pthread_mutex_lock(&gc->lock);
	o = wl_map_get(gc->graph, uid);
	if (o && o->kind)
		*ret = o->deleting && o->fin_foreground ? OWNER_WAITING : OWNER_SOLID;
	gone = !(o && o->kind) && wl_map_get(gc->absent, uid);
	pthread_mutex_unlock(&gc->lock);
	if (o && o->kind)
		return 0;
	if (gone) {
		*ret = OWNER_DANGLING;
		return 0;
	}
	k = ctl_kinds_find(&gc->kinds, json_string_value(json_object_get(ref, "apiVersion")),
			   json_string_value(json_object_get(ref, "kind")));
	if (!k) {
		/* a kind this server does not serve cannot be checked: keep the dependent */
		log_debug("garbage collector: owner %s of %s/%s has an unknown kind, ignoring",
			  name, v->ns ? v->ns : "", v->name);
		return 0;
	}
	if (k->namespaced && !v->ns) {
		/* a cluster-scoped object cannot have a namespaced owner */
		*ret = OWNER_DANGLING;
		return 0;
	}
	path = ctl_kind_path(k, v->ns, name);
	code = kc_request(gc->c, "GET", path, NULL, NULL, &obj, err);
	if (code == 200 && mstr(obj, "uid") && strcmp(mstr(obj, "uid"), uid) == 0) {
		*ret = state_of(obj);
		return 0;
	}
	if (code == 200 || code == 404) {
		err_clear(err);
		absent_add(gc, uid);
		*ret = OWNER_DANGLING;
		return 0;
	}
	return failed(err, code, "get owner", path);
}

/* A dependent not being deleted: keep it, release it from some owners, or delete it. */
static int attempt_delete(struct gc *gc, const struct gview *v, struct err *err)
{
	cleanup_json json_t *release = json_object();
	size_t solid = 0, waiting = 0, i;
	const json_t *ref;
	const char *policy;

	json_array_foreach (v->refs, i, ref) {
		enum owner_state st;

		if (owner_state(gc, v, ref, &st, err) < 0)
			return -err->code;
		if (st == OWNER_SOLID) {
			solid++;
			continue;
		}
		if (st == OWNER_WAITING)
			waiting++;
		json_object_set_new(release, json_string_value(json_object_get(ref, "uid")),
				    json_true());
	}
	if (solid > 0)
		return json_object_size(release) > 0 ? remove_refs(gc, v, release, err) : 0;
	if (json_object_size(release) == 0)
		return 0;
	/* dependents of its own go first when an owner waits for it */
	if (waiting > 0 && v->ndeps > 0)
		policy = "Foreground";
	else if (v->fin_orphan)
		policy = "Orphan";
	else if (v->fin_foreground)
		policy = "Foreground";
	else
		policy = "Background";
	return delete_object(gc, v, policy, -1, err);
}

static int orphan_dependents(struct gc *gc, const struct gview *v, struct err *err)
{
	cleanup_json json_t *owner = json_pack("{s:b}", v->uid, true);
	int r = 0;

	for (size_t i = 0; i < v->ndeps; i++) {
		struct gview d;
		struct err derr = ERR_INIT;

		if (!view_get(gc, v->deps[i], &d))
			continue;
		if (remove_refs(gc, &d, owner, &derr) < 0) {
			if (r == 0)
				r = err_set(err, derr.code, "orphan %s: %s", d.name, derr.msg);
			err_clear(&derr);
		}
		view_done(&d);
	}
	if (r < 0)
		return r;
	return remove_finalizer(gc, v, FIN_ORPHAN, err);
}

static int foreground(struct gc *gc, const struct gview *v, struct err *err)
{
	if (v->ndeps == 0)
		return remove_finalizer(gc, v, FIN_FOREGROUND, err);
	/* each dependent sees its owner waiting and deletes itself; when the last one is
	 * gone, unlink_owner() brings the owner back here */
	for (size_t i = 0; i < v->ndeps; i++) {
		bool idle;

		pthread_mutex_lock(&gc->lock);
		{
			const struct gnode *d = wl_map_get(gc->graph, v->deps[i]);

			idle = d && d->kind && !d->deleting;
		}
		pthread_mutex_unlock(&gc->lock);
		if (idle)
			enqueue(gc, 'g', v->deps[i]);
	}
	return 0;
}

static int process_item(struct gc *gc, const char *uid, struct err *err)
{
	struct gview v;
	int r = 0;

	if (!view_get(gc, uid, &v))
		return 0;
	if (v.deleting && v.fin_orphan)
		r = orphan_dependents(gc, &v, err);
	else if (v.deleting && v.fin_foreground)
		r = foreground(gc, &v, err);
	else if (!v.deleting && v.refs)
		r = attempt_delete(gc, &v, err);
	view_done(&v);
	return r;
}

/* A terminating pod whose node is gone: force-deleted once the API confirms it. */
static int process_pod(struct gc *gc, const char *uid, struct err *err)
{
	struct gview v;
	cleanup_free char *path = NULL;
	bool known;
	int code, r = 0;

	if (!view_get(gc, uid, &v))
		return 0;
	if (!v.deleting || !v.pod_node)
		goto out;
	pthread_mutex_lock(&gc->lock);
	known = wl_map_get(gc->nodes, v.pod_node) != NULL;
	pthread_mutex_unlock(&gc->lock);
	if (known)
		goto out;
	path = xasprintf("/api/v1/nodes/%s", v.pod_node);
	code = kc_request(gc->c, "GET", path, NULL, NULL, NULL, err);
	if (code == 200)
		goto out;
	if (code != 404) {
		r = failed(err, code, "get", path);
		goto out;
	}
	err_clear(err);
	log_debug("garbage collector: force-deleting pod %s/%s of vanished node %s", v.ns, v.name,
		  v.pod_node);
	r = delete_object(gc, &v, NULL, 0, err);
out:
	view_done(&v);
	return r;
}

static bool wait_synced(struct gc *gc)
{
	for (size_t i = 0; i < gc->nwatches; i++)
		while (!informer_wait_synced(gc->watches[i].inf, 200))
			if (__atomic_load_n(&gc->stopping, __ATOMIC_ACQUIRE))
				return false;
	return true;
}

/* Keys are "p:UID" (a pod on a node that may be gone) or "g:UID" (an owner graph item). */
static int sync_key(void *arg, const char *key, struct err *err)
{
	int r = key[0] == 'p' ? process_pod(arg, key + 2, err) : process_item(arg, key + 2, err);

	return r < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
	struct gc *gc = arg;

	/* deciding on a partial graph would take live owners for gone ones */
	if (wait_synced(gc))
		wq_process(gc->q, "garbage collector", sync_key, gc);
	return NULL;
}

static void free_pod_map(void *m)
{
	wl_map_free(m, NULL);
}

void gc_stop(void *state)
{
	struct gc *gc = state;

	if (!gc)
		return;
	__atomic_store_n(&gc->stopping, true, __ATOMIC_RELEASE);
	wq_shutdown(gc->q);
	for (size_t i = 0; i < gc->nworkers; i++)
		pthread_join(gc->workers[i], NULL);
	for (size_t i = 0; i < gc->nwatches; i++)
		informer_stop(gc->watches[i].inf);
	wq_free(gc->q);
	wl_map_free(gc->graph, node_free);
	wl_map_free(gc->nodes, NULL);
	wl_map_free(gc->terminating, free_pod_map);
	wl_map_free(gc->absent, NULL);
	ctl_kinds_done(&gc->kinds);
	pthread_mutex_destroy(&gc->lock);
	free(gc->watches);
	free(gc->workers);
	free(gc);
}

static int start_watches(struct gc *gc, struct err *err)
{
	const struct informer_handlers h = {
		.add = on_add, .update_lazy = on_update, .del = on_del, .arg = NULL};

	gc->watches = xcalloc(gc->kinds.n, sizeof(*gc->watches));
	for (size_t i = 0; i < gc->kinds.n; i++) {
		const struct ctl_kind *k = &gc->kinds.v[i];
		struct gc_watch *w = &gc->watches[gc->nwatches];
		struct informer_handlers wh = h;
		cleanup_free char *path = NULL;

		/* events own nothing and are owned by nothing: upstream skips them too */
		if (!k->watchable || strcmp(k->plural, "events") == 0)
			continue;
		w->gc = gc;
		w->kind = k;
		wh.arg = w;
		/* the one large collection: its copy, shared with the scheduler, kept as text */
		wh.compact = strcmp(k->plural, "pods") == 0 && strcmp(k->api_version, "v1") == 0;
		path = ctl_kind_path(k, NULL, NULL);
		if (informer_start(gc->c, path, &wh, &w->inf, err) < 0)
			return err_wrap(err, "watch '%s'", path);
		gc->nwatches++;
	}
	return 0;
}

int gc_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct gc *gc = xcalloc(1, sizeof(*gc));
	/* deletions wait on the store's commits: more workers keep more of them in flight */
	size_t n = 4 * (cfg && cfg->workers > 0 ? (size_t)cfg->workers : 2);

	gc->c = c;
	gc->q = wq_new();
	pthread_mutex_init(&gc->lock, NULL);
	gc->graph = wl_map_new();
	gc->nodes = wl_map_new();
	gc->terminating = wl_map_new();
	gc->absent = wl_map_new();
	if (ctl_kinds_discover(c, &gc->kinds, err) < 0) {
		gc_stop(gc);
		return err_wrap(err, "start the garbage collector");
	}
	gc->pod_kind = ctl_kinds_find(&gc->kinds, "v1", "Pod");
	gc->node_kind = ctl_kinds_find(&gc->kinds, "v1", "Node");
	if (start_watches(gc, err) < 0) {
		gc_stop(gc);
		return err_wrap(err, "start the garbage collector");
	}
	gc->workers = xcalloc(n, sizeof(*gc->workers));
	for (; gc->nworkers < n; gc->nworkers++)
		if (pthread_create(&gc->workers[gc->nworkers], NULL, worker, gc) != 0)
			break;
	*ret = gc;
	return 0;
}
