/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loops the API server runs on its own data, once a second:
 *  - every namespace has a "default" ServiceAccount and the "kube-root-ca.crt" ConfigMap
 *    holding the cluster's CA, as upstream's controllers provide them;
 *  - namespaces being deleted are emptied, then their "kubernetes" finalizer is removed
 *    and they go away;
 *  - owner references are followed as upstream's garbage collector does: dependents of a
 *    vanished owner are deleted (background propagation), "orphan" owners release their
 *    dependents before going, "foregroundDeletion" owners wait for theirs to go;
 *  - objects marked for deletion whose finalizers are all gone are removed, and so are
 *    pods marked for deletion on nodes that do not exist (nothing else would finish them);
 *  - the store's history is compacted every five minutes.
 * Every write compares on the revision it read, so a concurrent client write wins and the
 * loop looks again a second later.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/api/internal.h"
#include "cluster/store/store.h"

#define COMPACT_EVERY 300   /* seconds */
#define KEEP_HISTORY  10000 /* revisions kept behind the current one */

static int write_op(struct api *api, enum store_op_kind kind, const struct api_obj *o, json_t *obj)
{
	struct err err = ERR_INIT;
	size_t len = 0;
	cleanup_free char *bytes = obj ? api_serialize(o->res, obj, &len) : NULL;
	struct store_op op = {kind, o->key, bytes, len, o->rev};
	int64_t rev = 0;
	int r = store_apply(api->store, &op, &rev, NULL, &err);

	if (r < 0) {
		if (r != -ESTALE && r != -ENOENT)
			log_warn("api: %s: %s", o->key, err.msg);
		err_clear(&err);
		return r;
	}
	cache_wait(api->cache, rev);
	return 0;
}

int api_write_update(struct api *api, const struct api_obj *o, json_t *obj)
{
	return write_op(api, STORE_UPDATE, o, obj);
}

int api_write_delete(struct api *api, const struct api_obj *o)
{
	return write_op(api, STORE_DELETE, o, NULL);
}

static json_t *load(const struct api_obj *o)
{
	return json_loadb(o->json, o->len, 0, NULL);
}

static bool node_exists(struct api *api, const char *name)
{
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	cleanup_free char *key = api_key(nodes, NULL, name);
	struct api_obj *n = cache_get(api->cache, key);

	api_obj_unref(n);
	return n != NULL;
}

static bool pod_running_on_node(struct api *api, json_t *doc)
{
	const char *node =
		json_string_value(json_object_get(json_object_get(doc, "spec"), "nodeName"));
	const char *phase =
		json_string_value(json_object_get(json_object_get(doc, "status"), "phase"));

	if (!node || !*node || !node_exists(api, node))
		return false;
	return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}

/*
 * Deletes @o as a client's DELETE with default options would: marked when finalizers or
 * a node must act first, removed otherwise.
 */
static void delete_obj(struct api *api, struct api_obj *o)
{
	cleanup_json json_t *doc = load(o);
	json_t *meta = json_object_get(doc, "metadata");
	bool is_pod = strcmp(o->res->kind, "Pod") == 0;

	if (!doc)
		return;
	if (o->deleting) {
		/* already marked: only pods left behind by a vanished node need help */
		if (is_pod && !o->has_finalizers && !pod_running_on_node(api, doc))
			api_write_delete(api, o);
		return;
	}
	if (o->has_finalizers || (is_pod && pod_running_on_node(api, doc))) {
		json_t *g = json_object_get(json_object_get(doc, "spec"),
					    "terminationGracePeriodSeconds");
		int64_t grace = is_pod ? (json_is_integer(g) ? json_integer_value(g) : 30) : 0;
		struct timespec ts;
		cleanup_free char *when = NULL;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += grace;
		ts.tv_nsec = 0;
		when = clock_rfc3339(&ts);
		json_object_set_new(meta, "deletionTimestamp", json_string(when));
		json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
		api_write_update(api, o, doc);
		return;
	}
	api_write_delete(api, o);
}

static bool remove_finalizer(json_t *doc, const char *name)
{
	json_t *fin = json_object_get(json_object_get(doc, "metadata"), "finalizers"), *v;
	size_t i;

	json_array_foreach (fin, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0) {
			json_array_remove(fin, i);
			return true;
		}
	}
	return false;
}

/* Writes @doc without finalizer @name; deletes it when it was the last one. */
static void finish_finalizer(struct api *api, struct api_obj *o, const char *name)
{
	cleanup_json json_t *doc = load(o);
	json_t *meta = json_object_get(doc, "metadata");

	if (!doc || !remove_finalizer(doc, name))
		return;
	if (json_array_size(json_object_get(meta, "finalizers")) == 0 && o->deleting)
		api_write_delete(api, o);
	else
		api_write_update(api, o, doc);
}

/* Every namespaced object, for the namespace and owner loops. */
struct all {
	struct cache_list lists[64];
	size_t n;
};

static void all_load(struct api *api, struct all *a, const char *ns)
{
	a->n = 0;
	for (size_t i = 0; i < api_nresources && a->n < 64; i++) {
		const struct api_resource *r = &api_resources[i];

		if (r->flags & API_VIRTUAL)
			continue;
		if (ns && !api_namespaced(r))
			continue;
		cache_list(api->cache, r, ns, NULL, NULL, NULL, 0, &a->lists[a->n++]);
	}
}

static void all_free(struct all *a)
{
	for (size_t i = 0; i < a->n; i++)
		cache_list_free(&a->lists[i]);
	a->n = 0;
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
	uid = api_new_uid();
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec = 0;
	now = clock_rfc3339(&ts);
	json_object_set_new(meta, "namespace", json_string(ns));
	json_object_set_new(meta, "uid", json_string(uid));
	json_object_set_new(meta, "creationTimestamp", json_string(now));
	bytes = api_serialize(r, obj, &len);
	struct store_op op = {STORE_CREATE, key, bytes, len, 0};

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
	for (size_t i = 0; i < l.n; i++) {
		struct api_obj *ns = l.v[i];
		struct all a;
		size_t left = 0;

		if (!ns->deleting) {
			api_namespace_defaults(api, ns->name);
			continue;
		}
		all_load(api, &a, ns->name);
		for (size_t j = 0; j < a.n; j++)
			for (size_t k = 0; k < a.lists[j].n; k++) {
				delete_obj(api, a.lists[j].v[k]);
				left++;
			}
		all_free(&a);
		if (left == 0) {
			cleanup_json json_t *doc = load(ns);
			json_t *spec = json_object_get(doc, "spec");
			json_t *fin = json_object_get(spec, "finalizers");

			if (json_array_size(fin) > 0) {
				json_array_clear(fin);
				api_write_update(api, ns, doc);
			} else if (!ns->has_finalizers) {
				api_write_delete(api, ns);
			}
		}
	}
	cache_list_free(&l);
}

/* uid → object, for the owner loop. */
struct uidmap {
	struct api_obj **slots;
	size_t cap;
};

static size_t hash(const char *s)
{
	size_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void uidmap_put(struct uidmap *m, struct api_obj *o)
{
	size_t i = hash(o->uid) & (m->cap - 1);

	while (m->slots[i])
		i = (i + 1) & (m->cap - 1);
	m->slots[i] = o;
}

static struct api_obj *uidmap_get(const struct uidmap *m, const char *uid)
{
	size_t i = hash(uid) & (m->cap - 1);

	while (m->slots[i]) {
		if (strcmp(m->slots[i]->uid, uid) == 0)
			return m->slots[i];
		i = (i + 1) & (m->cap - 1);
	}
	return NULL;
}

/* Drops the owner references to @uid from @o. */
static void release(struct api *api, struct api_obj *o, const char *uid)
{
	cleanup_json json_t *doc = load(o);
	json_t *refs = json_object_get(json_object_get(doc, "metadata"), "ownerReferences"), *ref;
	size_t i;

	json_array_foreach (refs, i, ref) {
		const char *u = json_string_value(json_object_get(ref, "uid"));

		if (u && strcmp(u, uid) == 0) {
			json_array_remove(refs, i);
			i--;
		}
	}
	if (json_array_size(refs) == 0)
		json_object_del(json_object_get(doc, "metadata"), "ownerReferences");
	api_write_update(api, o, doc);
}

static bool has_finalizer(const struct api_obj *o, const char *name)
{
	cleanup_free char *needle = xasprintf("\"%s\"", name);

	return o->has_finalizers && memmem(o->json, o->len, needle, strlen(needle));
}

static void owners(struct api *api)
{
	struct all a;
	struct uidmap m = {0};
	size_t n = 0;

	all_load(api, &a, NULL);
	for (size_t j = 0; j < a.n; j++)
		n += a.lists[j].n;
	m.cap = 16;
	while (m.cap < 2 * n + 2)
		m.cap *= 2;
	m.slots = xcalloc(m.cap, sizeof(*m.slots));
	for (size_t j = 0; j < a.n; j++)
		for (size_t k = 0; k < a.lists[j].n; k++)
			if (a.lists[j].v[k]->uid[0])
				uidmap_put(&m, a.lists[j].v[k]);

	for (size_t j = 0; j < a.n; j++)
		for (size_t k = 0; k < a.lists[j].n; k++) {
			struct api_obj *o = a.lists[j].v[k];
			size_t alive = 0, total = 0;

			if (!o->owners)
				continue;
			for (char **u = o->owners; *u; u++) {
				struct api_obj *owner = uidmap_get(&m, *u);

				total++;
				if (!owner)
					continue;
				if (owner->deleting && has_finalizer(owner, "orphan")) {
					release(api, o, owner->uid);
					continue;
				}
				if (owner->deleting && has_finalizer(owner, "foregroundDeletion")) {
					delete_obj(api, o);
					continue;
				}
				alive++;
			}
			if (total && !alive && !o->deleting)
				delete_obj(api, o);
		}

	/* owners whose dependents are handled lose their finalizers; marked objects go */
	for (size_t j = 0; j < a.n; j++)
		for (size_t k = 0; k < a.lists[j].n; k++) {
			struct api_obj *o = a.lists[j].v[k];
			bool dependents = false;

			if (!o->deleting)
				continue;
			if (!o->has_finalizers) {
				if (strcmp(o->res->kind, "Pod") == 0 ||
				    strcmp(o->res->kind, "Namespace") == 0)
					delete_obj(api, o);
				else
					api_write_delete(api, o);
				continue;
			}
			if (!has_finalizer(o, "orphan") && !has_finalizer(o, "foregroundDeletion"))
				continue;
			for (size_t x = 0; x < a.n && !dependents; x++)
				for (size_t y = 0; y < a.lists[x].n && !dependents; y++) {
					struct api_obj *d = a.lists[x].v[y];

					for (char **u = d->owners; u && *u; u++)
						if (strcmp(*u, o->uid) == 0)
							dependents = true;
				}
			if (!dependents) {
				if (has_finalizer(o, "orphan"))
					finish_finalizer(api, o, "orphan");
				else
					finish_finalizer(api, o, "foregroundDeletion");
			}
		}
	free(m.slots);
	all_free(&a);
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

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&api->maint_cond, &api->maint_lock, &until);
		if (atomic_load(&api->stopping))
			break;
		pthread_mutex_unlock(&api->maint_lock);
		namespaces(api);
		owners(api);
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
