/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loops the API server runs on its own data, once a second:
 *  - every namespace has a "default" ServiceAccount and the "kube-root-ca.crt" ConfigMap
 *    holding the cluster's CA, as upstream's controllers provide them;
 *  - the store's history is compacted every five minutes.
 * Namespace deletion and garbage collection are controllers (controllers/namespace.c,
 * controllers/gc.c) that act through the API like any client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/allocator.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/api/internal.h"
#include "cluster/store/store.h"

#define COMPACT_EVERY 300   /* seconds */
#define KEEP_HISTORY  10000 /* revisions kept behind the current one */

static bool namespace_deleting(struct api *api, const char *ns)
{
	const struct api_resource *nsr = api_resource_find("", "v1", "namespaces");
	cleanup_free char *key = api_key(nsr, NULL, ns);
	struct api_obj *o = cache_get(api->cache, key);
	bool deleting = o && o->deleting;

	api_obj_unref(o);
	return deleting;
}

/* Creates an object unless it exists; @obj has apiVersion, kind and metadata.name. */
static void ensure(struct api *api, const struct api_resource *r, const char *ns, json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	cleanup_free char *key = api_key(r, ns, json_string_value(json_object_get(meta, "name")));
	struct api_obj *o = cache_get(api->cache, key);
	cleanup_free char *uid = NULL;
	cleanup_free char *bytes = NULL;
	struct timespec ts;
	cleanup_free char *now = NULL;
	struct err err = ERR_INIT;
	int64_t rev;
	size_t len;

	if (o) {
		api_obj_unref(o);
		return;
	}
	/* the namespace controller may have begun emptying it since the caller looked */
	if (namespace_deleting(api, ns))
		return;
	uid = api_new_uid();
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec = 0;
	now = clock_rfc3339(&ts);
	json_object_set_new(meta, "namespace", json_string(ns));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
	bytes = api_serialize(r, obj, &len);
	struct api_hint hint = {.doc = obj};
	struct store_op op = {STORE_CREATE, key, bytes, len, 0, &hint};

	if (store_apply(api->store, &op, &rev, NULL, &err) == 0)
		cache_wait(api->cache, rev);
	else if (err.code != EEXIST)
		log_warn("api: create %s: %s", key, err.msg);
	err_clear(&err);
}

void api_namespace_defaults(struct api *api, const char *ns)
{
	const struct api_resource *sa = api_resource_find("", "v1", "serviceaccounts");
	const struct api_resource *cm = api_resource_find("", "v1", "configmaps");
	cleanup_json json_t *acct = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					      "ServiceAccount", "metadata", "name", "default");

	ensure(api, sa, ns, acct);
	if (api->cfg.ca_pem) {
		cleanup_json json_t *root = json_pack(
			"{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
			"metadata", "name", "kube-root-ca.crt", "data", "ca.crt", api->cfg.ca_pem);

		ensure(api, cm, ns, root);
	}
}

static void namespaces(struct api *api)
{
	const struct api_resource *nsr = api_resource_find("", "v1", "namespaces");
	struct cache_list l;

	cache_list(api->cache, nsr, NULL, NULL, NULL, NULL, 0, &l);
	for (size_t i = 0; i < l.n; i++)
		if (!l.v[i]->deleting)
			api_namespace_defaults(api, l.v[i]->name);
	cache_list_free(&l);
}

static void compact(struct api *api)
{
	struct err err = ERR_INIT;
	int64_t rev, compacted;

	if (store_revision(api->store, &rev, &compacted, &err) < 0 ||
	    (rev - KEEP_HISTORY > compacted &&
	     store_compact(api->store, rev - KEEP_HISTORY, &err) < 0))
		log_warn("api: compaction: %s", err.msg);
	err_clear(&err);
}

static void *maint_main(void *arg)
{
	struct api *api = arg;
	time_t last_compact = time(NULL);

	pthread_mutex_lock(&api->maint_lock);
	while (!atomic_load(&api->stopping)) {
		struct timespec until;

		clock_deadline(&until, 1000);
		clock_timedwait(&api->maint_cond, &api->maint_lock, &until);
		if (atomic_load(&api->stopping))
			break;
		pthread_mutex_unlock(&api->maint_lock);
		allocator_check_growth();
		namespaces(api);
		if (time(NULL) - last_compact >= COMPACT_EVERY) {
			compact(api);
			last_compact = time(NULL);
		}
		pthread_mutex_lock(&api->maint_lock);
	}
	pthread_mutex_unlock(&api->maint_lock);
	return NULL;
}

int maint_start(struct api *api, struct err *err)
{
	int r;

	pthread_mutex_init(&api->maint_lock, NULL);
	pthread_cond_init(&api->maint_cond, NULL);
	r = pthread_create(&api->maint, NULL, maint_main, api);
	if (r != 0)
		return err_errno(err, r, "start the API server's maintenance loop");
	api->maint_started = true;
	return 0;
}

void maint_stop(struct api *api)
{
	if (!api->maint_started)
		return;
	pthread_mutex_lock(&api->maint_lock);
	atomic_store(&api->stopping, true);
	pthread_cond_broadcast(&api->maint_cond);
	pthread_mutex_unlock(&api->maint_lock);
	pthread_join(api->maint, NULL);
	api->maint_started = false;
}
