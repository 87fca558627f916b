/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the API server: the object cache with its watch fan-out, request context,
 * and the pieces server.c, cache.c, auth.c and discovery.c share.
 */
#ifndef SKIFF_CLUSTER_API_INTERNAL_H
#define SKIFF_CLUSTER_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cluster/api/api.h"
#include "cluster/api/resources.h"

struct err;
struct http_request;
struct http_server;
struct http_stream;
struct selector;
struct store;

/*
 * One version of one object, immutable once published and shared by reference between
 * the cache, the watch history and requests in flight. @json is the object as clients see
 * it (metadata.resourceVersion included), written to sockets as it is.
 */
struct api_obj {
	atomic_int refs;
	const struct api_resource *res;
	char *key;
	char *ns; /* "" for cluster-scoped objects */
	char *name;
	char *json;
	size_t len;
	int64_t rev;
	int64_t create_rev;
	char *uid;
	char **owners; /* uids of metadata.ownerReferences, NULL-terminated, or NULL */
	bool has_finalizers;
	json_t *labels; /* metadata.labels (a reference), or NULL */
	char **fields;  /* values of res->fields, parallel to it */
	bool deleting;  /* metadata.deletionTimestamp is set */
	char *pod_cidr; /* a Node's spec.podCIDR, or NULL: allocating one reads every node's */
};

struct api_obj *api_obj_ref(struct api_obj *o);
void api_obj_unref(struct api_obj *o);
/* Parses @json (without resourceVersion) into an object of revision @rev. */
struct api_obj *api_obj_new(const char *key, const char *json, size_t len, int64_t rev,
			    int64_t create_rev);
/* The value of a field selector's field for @o ("" when absent). */
const char *api_obj_field(const struct api_obj *o, const char *field);

/* "/registry/pods/default/web" and its inverse. */
char *api_key(const struct api_resource *r, const char *ns, const char *name);
char *api_key_prefix(const struct api_resource *r, const char *ns);
const struct api_resource *api_key_resource(const char *key);

/* Inserts "resourceVersion":"@rev" into the top-level metadata of serialized @json. */
char *api_json_with_rev(const char *json, size_t len, int64_t rev, size_t *ret_len);

/*
 * What a write of this server tells its cache of the bytes it stores (store_op.hint), so
 * that the cache need not decode them: the object they encode (@doc), or, with @doc NULL,
 * that they are the version at @from_rev with only selectable field @field now @value, or
 * only the top-level members @part holds (a partial object) replaced by @part's, and
 * nothing else the cache keeps of an object changed (names, uid, labels, owners,
 * finalizers, deletion, a node's podCIDR). Past another version, the cache decodes.
 */
struct api_hint {
	const json_t *doc;
	int64_t from_rev;
	const char *field, *value;
	const json_t *part;
};

/* Writes made on the cache's text of an object instead of a tree (textedit.c). */
/* A pod bound to @node at @now: the tree changed, or the text made anew (NULL: use the tree). */
void api_bind_tree(json_t *pod, const char *node, const char *now);
char *api_bind_text(const char *json, size_t len, const char *node, const char *now,
		    size_t *ret_len);
/* Where the resourceVersion and top-level member @name's value are in the cache's text. */
struct api_text_member {
	const char *rv_from, *rv_to;
	const char *val, *val_end;
};
int api_text_member(const char *json, size_t len, const char *name, struct api_text_member *ret);
/* That text without its resourceVersion and with @val in place of the member's value. */
char *api_text_splice(const char *json, size_t len, const struct api_text_member *m,
		      const char *val, size_t val_len, size_t *ret_len);

/* The cache: every object of every resource, the recent history and the watchers. */
struct cache;

int cache_start(struct api *api, struct store *s, size_t history, struct cache **ret,
		struct err *err);
void cache_stop(struct cache *c);

/* The cache's revision: every change up to it is visible. */
int64_t cache_rev(struct cache *c);
/* Waits (bounded) until the cache has applied revision @rev. */
void cache_wait(struct cache *c, int64_t rev);

/* A reference to the current object under @key, or NULL. */
struct api_obj *cache_get(struct cache *c, const char *key);

struct cache_list {
	struct api_obj **v;
	size_t n;
	int64_t rev;
	bool more;        /* stopped at the limit with more matching objects after v[n-1] */
	bool counted;     /* more, without selectors: remaining holds the count */
	size_t remaining; /* objects after the page, when counted */
};

/*
 * The objects of @r (in namespace @ns, NULL: all) matching the selectors, in key order,
 * after @after (NULL: from the start), at most @limit (0: all).
 */
void cache_list(struct cache *c, const struct api_resource *r, const char *ns,
		const struct selector *labels, const struct selector *fields, const char *after,
		size_t limit, struct cache_list *ret);
void cache_list_free(struct cache_list *l);

/* Counts objects of @r in @ns (NULL: all). */
size_t cache_count(struct cache *c, const struct api_resource *r, const char *ns);

enum watch_format {
	WATCH_JSON,  /* {"type":...,"object":<object>} */
	WATCH_TABLE, /* the object as a meta.k8s.io/v1 Table row */
};

struct watch_spec {
	const struct api_resource *res;
	const char *ns;                   /* NULL: all namespaces */
	struct selector *labels, *fields; /* taken over by the watch */
	int64_t from_rev;                 /* 0: current state as ADDED events first */
	bool bookmarks;
	int timeout; /* seconds; 0: none */
	enum watch_format format;
	bool table_object; /* with as=Table: include the full object */
};

/*
 * Starts a watch answering @req. 410 Gone is reported in the stream (an ERROR event) as
 * upstream does when @from_rev is older than the history kept.
 */
void cache_watch(struct cache *c, struct http_request *req, struct watch_spec *spec);

/* The server. */
struct api {
	struct api_config cfg;
	struct store *store;
	struct cache *cache;
	struct http_server *http;
	uint32_t service_net, service_mask; /* host order */
	uint32_t cluster_net, cluster_mask; /* pod network, host order */
	/* blocks handed out but maybe not yet in the cache (alloc_lock) */
	uint32_t recent_block[64];
	time_t recent_at[64];
	unsigned recent_next;
	pthread_mutex_t alloc_lock; /* ClusterIP and NodePort allocation */
	pthread_t maint;
	bool maint_started;
	atomic_bool stopping;
	pthread_mutex_t maint_lock;
	pthread_cond_t maint_cond;
	char *table_api;
};

/* Who sent a request (auth.c). */
struct api_user {
	const char *name; /* "admin", "system:node:NAME" ... */
	const char *groups[4];
	bool admin;
	const char *node; /* for node users: the node's name */
};

/* Authenticates @req: 0 and @user, or -EACCES (401). */
int api_authenticate(struct api *api, struct http_request *req, struct api_user *user);
/* Whether @user may do @verb on @r (NULL: non-resource URL) in @ns with @name. */
bool api_authorize(struct api *api, const struct api_user *user, const char *verb,
		   const struct api_resource *r, const char *sub, const char *ns, const char *name);

/* Paths anyone may read without credentials (health checks and /version). */
bool api_public_path(const char *path);

/* Discovery and version documents (discovery.c); false when @path is not one of them. */
bool api_discovery(struct api *api, struct http_request *req, const char *path);

/*
 * The bytes stored for @obj: apiVersion, kind and metadata first, resourceVersion left
 * out (the store's revision is the version).
 */
char *api_serialize(const struct api_resource *r, json_t *obj, size_t *len);

/* A random (version 4) UUID for metadata.uid; heap string. */
char *api_new_uid(void);

/* Creates what every namespace holds (the default ServiceAccount, the CA ConfigMap). */
void api_namespace_defaults(struct api *api, const char *ns);

/* The loop giving namespaces their defaults and compacting the store (maint.c). */
int maint_start(struct api *api, struct err *err);
void maint_stop(struct api *api);

/* Responses (server.c). */
void api_reply_json(struct http_request *req, unsigned code, json_t *doc);
void api_reply_status(struct http_request *req, unsigned code, const char *reason, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* Table rows (server.c): the object of one row, as PartialObjectMetadata or in full. */
json_t *api_table(const struct api_resource *r, struct api_obj *const *objs, size_t n, int64_t rev,
		  bool full_object, bool with_columns, const char *cont);

/*
 * Subresources served by node agents (proxy.c): a pod's log, exec, attach and portforward
 * are relayed from the agent of its node; other resources' and pods' proxy answer 503.
 * The caller has authenticated and authorized the request.
 */
void api_proxy(struct api *api, struct http_request *req, const struct api_resource *r,
	       const char *ns, const char *name, const char *sub);

#endif
