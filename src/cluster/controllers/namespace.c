/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The namespace controller, as upstream's: a namespace being deleted (Terminating) is
 * emptied through the API, one collection DELETE per namespaced kind the server serves,
 * until every list comes back empty; pods on nodes leave through their graceful deletion
 * (the node deletes them), pods bound to nodes that do not exist are force-deleted. Then
 * the "kubernetes" finalizer is removed through namespaces/NAME/finalize, and the API
 * server removes the namespace once no finalizer is left.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/kinds.h"

#define FINALIZER "kubernetes"
/*
 * While content remains (graceful pod deletion takes its time) the namespace is looked at
 * again after a second, or a millisecond per object left when more are: each look
 * deletes the rest again and reads what is left, which for 30,000 pods costs seconds.
 */
#define RECHECK_MS     1000
#define RECHECK_MAX_MS 10000

struct ns_ctl {
	struct kc *c;
	struct ctl_kinds kinds;
	struct informer *inf;
	struct workqueue *q;
	pthread_t *workers;
	size_t nworkers;
	bool stopping;
};

static const char *mstr(const json_t *obj, const char *field)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
}

static void consider(struct ns_ctl *st, const json_t *ns)
{
	if (mstr(ns, "deletionTimestamp") && mstr(ns, "name"))
		wq_add(st->q, mstr(ns, "name"));
}

static void on_add(void *arg, json_t *obj)
{
	consider(arg, obj);
}

static void on_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	consider(arg, obj);
}

static int failed(struct err *err, int code, const char *what, const char *path)
{
	if (code < 0 || err->code)
		return err_wrap(err, "%s '%s'", what, path);
	return err_set(err, EIO, "%s '%s': status %d", what, path, code);
}

static bool spec_has_finalizer(const json_t *ns, const char *name)
{
	const json_t *fin = json_object_get(json_object_get(ns, "spec"), "finalizers"), *f;
	size_t i;

	json_array_foreach (fin, i, f)
		if (json_is_string(f) && strcmp(json_string_value(f), name) == 0)
			return true;
	return false;
}

/* Whether node @name exists, remembered in @seen for the rest of the pass. */
static int node_exists(struct ns_ctl *st, json_t *seen, const char *name, bool *ret,
		       struct err *err)
{
	cleanup_free char *path = NULL;
	json_t *known = json_object_get(seen, name);
	int code;

	if (known) {
		*ret = json_is_true(known);
		return 0;
	}
	path = xasprintf("/api/v1/nodes/%s", name);
	code = kc_request(st->c, "GET", path, NULL, NULL, NULL, err);
	if (code != 200 && code != 404)
		return failed(err, code, "get", path);
	err_clear(err);
	*ret = code == 200;
	json_object_set_new(seen, name, json_boolean(*ret));
	return 0;
}

/* Force-deletes the pods of @items bound to nodes that do not exist; returns how many. */
static int finish_orphaned_pods(struct ns_ctl *st, const char *ns, const json_t *items, size_t *ret,
				struct err *err)
{
	cleanup_json json_t *seen = json_object();
	const json_t *pod;
	size_t i;

	*ret = 0;
	json_array_foreach (items, i, pod) {
		const char *node = json_string_value(
			json_object_get(json_object_get(pod, "spec"), "nodeName"));
		const char *uid = mstr(pod, "uid"), *name = mstr(pod, "name");
		cleanup_free char *path = NULL;
		cleanup_json json_t *opts = NULL;
		bool exists = false;
		int code;

		if (!node || !*node || !uid || !name)
			continue;
		if (node_exists(st, seen, node, &exists, err) < 0)
			return -err->code;
		if (exists)
			continue;
		path = xasprintf("/api/v1/namespaces/%s/pods/%s", ns, name);
		opts = json_pack("{s:s, s:s, s:i, s:{s:s}}", "apiVersion", "v1", "kind",
				 "DeleteOptions", "gracePeriodSeconds", 0, "preconditions", "uid",
				 uid);
		code = kc_request(st->c, "DELETE", path, NULL, opts, NULL, err);
		if (code != 200 && code != 202 && code != 404 && code != 409)
			return failed(err, code, "delete", path);
		err_clear(err);
		(*ret)++;
	}
	return 0;
}

/* Deletes the collection of @k in @ns; *ret: how many objects are left in it. */
static int empty_collection(struct ns_ctl *st, const struct ctl_kind *k, const char *ns,
			    size_t *ret, struct err *err)
{
	cleanup_free char *path = ctl_kind_path(k, ns, NULL);
	cleanup_json json_t *opts = json_pack("{s:s, s:s, s:s}", "apiVersion", "v1", "kind",
					      "DeleteOptions", "propagationPolicy", "Background");
	cleanup_json json_t *left = NULL;
	const json_t *items;
	size_t forced = 0;
	int code;

	*ret = 0;
	code = kc_request(st->c, "DELETE", path, NULL, opts, &left, err);
	if (code == 404 || code == 405) {
		/* the kind went away since discovery */
		err_clear(err);
		return 0;
	}
	if (code != 200)
		return failed(err, code, "delete collection", path);
	/* the answer lists what is still there: marked for deletion, waiting on finalizers */
	items = json_object_get(left, "items");
	if (strcmp(k->api_version, "v1") == 0 && strcmp(k->kind, "Pod") == 0 &&
	    finish_orphaned_pods(st, ns, items, &forced, err) < 0)
		return -err->code;
	*ret = json_array_size(items) - forced;
	return 0;
}

/* Removes the "kubernetes" finalizer; the API server then deletes the namespace. */
static int finalize(struct ns_ctl *st, const char *name, struct err *err)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s", name);
	cleanup_free char *fpath = xasprintf("%s/finalize", path);
	cleanup_json json_t *ns = NULL;
	json_t *fin;
	size_t i;
	int code;

	code = kc_request(st->c, "GET", path, NULL, NULL, &ns, err);
	if (code == 404) {
		err_clear(err);
		return 0;
	}
	if (code != 200)
		return failed(err, code, "get", path);
	fin = json_object_get(json_object_get(ns, "spec"), "finalizers");
	for (i = 0; i < json_array_size(fin);) {
		const char *f = json_string_value(json_array_get(fin, i));

		if (f && strcmp(f, FINALIZER) == 0)
			json_array_remove(fin, i);
		else
			i++;
	}
	/* resourceVersion stays: a concurrent change fails this with 409 and we retry */
	code = kc_request(st->c, "PUT", fpath, NULL, ns, NULL, err);
	if (code == 404) {
		err_clear(err);
		return 0;
	}
	if (code != 200)
		return failed(err, code, "finalize", fpath);
	log_debug("namespace controller: finalized namespace %s", name);
	return 0;
}

/*
 * Returns how many objects remain (the namespace must be looked at again later), or 0
 * when it is finalized.
 */
static ssize_t sync_namespace(struct ns_ctl *st, const char *name, struct err *err)
{
	cleanup_json json_t *ns = informer_get(st->inf, "", name);
	const json_t *mfin;
	size_t left = 0;

	if (!ns || !mstr(ns, "deletionTimestamp"))
		return 0;
	if (!spec_has_finalizer(ns, FINALIZER)) {
		/* not ours to empty; with no finalizer at all, /finalize lets the server
		 * remove it (a second DELETE would only mark it again) */
		mfin = json_object_get(json_object_get(ns, "metadata"), "finalizers");
		if (json_array_size(json_object_get(json_object_get(ns, "spec"), "finalizers")) ==
			    0 &&
		    json_array_size(mfin) == 0)
			return finalize(st, name, err);
		return 0;
	}
	for (size_t i = 0; i < st->kinds.n; i++) {
		const struct ctl_kind *k = &st->kinds.v[i];
		size_t n;

		if (!k->namespaced || !k->collection)
			continue;
		if (empty_collection(st, k, name, &n, err) < 0)
			return -err->code;
		if (n > 0)
			log_debug("namespace controller: %s: %zu %s remaining", name, n, k->plural);
		left += n;
	}
	if (left > 0)
		return (ssize_t)left;
	return finalize(st, name, err);
}

static bool wait_synced(struct ns_ctl *st)
{
	while (!informer_wait_synced(st->inf, 200))
		if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
			return false;
	return true;
}

/* Deleting a namespace takes rounds: while objects remain, it is looked at again. */
static int sync_key(void *arg, const char *key, struct err *err)
{
	ssize_t left = sync_namespace(arg, key, err);

	if (left <= 0)
		return left < 0 ? -1 : 0;
	return left < RECHECK_MS ? RECHECK_MS : left < RECHECK_MAX_MS ? (int)left : RECHECK_MAX_MS;
}

static void *worker(void *arg)
{
	struct ns_ctl *st = arg;

	if (wait_synced(st))
		wq_process(st->q, "namespace controller", sync_key, st);
	return NULL;
}

void namespace_stop(void *state)
{
	struct ns_ctl *st = state;

	if (!st)
		return;
	__atomic_store_n(&st->stopping, true, __ATOMIC_RELEASE);
	wq_shutdown(st->q);
	for (size_t i = 0; i < st->nworkers; i++)
		pthread_join(st->workers[i], NULL);
	if (st->inf)
		informer_stop(st->inf);
	wq_free(st->q);
	ctl_kinds_done(&st->kinds);
	free(st->workers);
	free(st);
}

int namespace_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct ns_ctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers h = {
		.add = on_add, .update = on_update, .del = NULL, .arg = st};
	size_t n = cfg && cfg->workers > 0 ? (size_t)cfg->workers : 2;

	st->c = c;
	st->q = wq_new();
	if (ctl_kinds_discover(c, &st->kinds, err) < 0 ||
	    informer_start(c, "/api/v1/namespaces", &h, &st->inf, err) < 0) {
		namespace_stop(st);
		return err_wrap(err, "start the namespace controller");
	}
	st->workers = xcalloc(n, sizeof(*st->workers));
	for (; st->nworkers < n; st->nworkers++)
		if (pthread_create(&st->workers[st->nworkers], NULL, worker, st) != 0)
			break;
	*ret = st;
	return 0;
}
