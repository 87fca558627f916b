/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client every control loop uses: scheduler, controllers, node agents, hollow
 * nodes. One interface, two transports: in-process (kc_local: the API server's own
 * handlers answer, with the same validation, defaulting, revisions and watch fan-out, but
 * no TLS and no sockets) and HTTPS (kc_remote: libcurl, a bearer token, the cluster CA).
 *
 * Requests speak JSON. Paths are upstream's ("/api/v1/namespaces/default/pods?limit=5").
 * A request returns the HTTP status (> 0) with the decoded body, or -errno when the
 * server could not be reached.
 *
 * Informers keep a local copy of one collection by list + watch, resume watches from the
 * last revision, relist on 410 Gone, and call handlers on a thread of their own.
 * Work queues carry object keys from handlers to workers with de-duplication and delayed
 * retries, as controllers need.
 *
 * Thread safety: a client may be used from any number of threads at once.
 */
#ifndef SKIFF_CLUSTER_CLIENT_CLIENT_H
#define SKIFF_CLUSTER_CLIENT_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api;
struct err;
struct kc;

/* In-process client of @api; requests run as the cluster admin (or @user when set). */
int kc_local(struct api *api, struct kc **ret, struct err *err);

/* HTTPS client: @server "https://host:6443", @token bearer token, @ca_pem trusted CA. */
int kc_remote(const char *server, const char *token, const char *ca_pem, struct kc **ret,
	      struct err *err);

void kc_free(struct kc *c);

/*
 * One request. @body may be NULL; @content_type defaults to application/json. On a status
 * >= 400 *ret_body holds the Status object and err is set with its message too.
 * @ret_body may be NULL.
 */
int kc_request(struct kc *c, const char *method, const char *path, const char *content_type,
	       const json_t *body, json_t **ret_body, struct err *err);

/*
 * kc_request() for a caller that reads only a failure's Status: a success's body (most
 * writes answer with the whole object) is not parsed, and *@ret_body is NULL after one.
 */
int kc_request_failure_body(struct kc *c, const char *method, const char *path,
			    const char *content_type, const json_t *body, json_t **ret_body,
			    struct err *err);

/* The same with an explicit bearer token (hollow nodes: one credential per node). */
int kc_request_as(struct kc *c, const char *token, const char *method, const char *path,
		  const char *content_type, const json_t *body, json_t **ret_body, struct err *err);

/*
 * The request the calls above make, for a caller that has its body as JSON text already
 * (written once for many requests, or with struct jtext): @text, @len bytes, goes out as
 * it is, and takes the place of @body. @method and @path are required; the other members
 * may be left zero for the defaults above (no body, application/json, the client's token).
 */
struct kc_req {
	const char *method, *path;
	const char *content_type; /* application/json */
	const char *token;        /* the client's own */
	const json_t *body;
	const char *text;
	size_t len;
	bool failure_only; /* as kc_request_failure_body() */
};

int kc_send(struct kc *c, const struct kc_req *r, json_t **ret_body, struct err *err);

/* Watch events as they arrive: @type is "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or
 * "ERROR"; return < 0 to stop watching. */
typedef int (*kc_watch_fn)(void *arg, const char *type, json_t *obj);

/*
 * Watches @path (a collection, with ?resourceVersion=... and selectors as wanted; the
 * client adds watch=1 and allowWatchBookmarks=1) until the server ends the stream, @fn
 * returns < 0 or kc_free(); returns the HTTP status or -errno.
 */
int kc_watch(struct kc *c, const char *path, kc_watch_fn fn, void *arg, struct err *err);
/*
 * Inside a kc_watch_fn: the event's object as the JSON text the server sent (valid until
 * the callback returns; not NUL-terminated), or NULL when it cannot be told apart.
 */
const char *kc_watch_object_text(size_t *len);

/* Informers. */

struct informer;
/* An update's previous version, read only when a handler asks for it. */
struct informer_old;

struct informer_handlers {
	void (*add)(void *arg, json_t *obj);
	void (*update)(void *arg, json_t *old, json_t *obj);
	/*
	 * Instead of update, for handlers that mostly decide from what they hold themselves:
	 * informer_old_get(@old) gives the previous version, which a compact copy parses
	 * again only when some handler of the change asks for it.
	 */
	void (*update_lazy)(void *arg, struct informer_old *old, json_t *obj);
	void (*del)(void *arg, json_t *obj);
	void *arg;
	/*
	 * The copy may hold objects as JSON text (an eighth of the memory for a pod), parsed
	 * again for each informer_get(), informer_foreach() and an update's old version: for
	 * large collections read mostly through the handlers. Its watch events decode
	 * through a memo (base/jload.h), so the objects handed to handlers share their
	 * repeated parts (a template's containers, an owner's references) with each other.
	 * The first start on a path decides for the copy it shares.
	 */
	bool compact;
};

/*
 * Starts list+watch of @path (e.g. "/api/v1/pods", "/apis/apps/v1/deployments", with
 * "?labelSelector=..." or "?fieldSelector=..." as needed) on a thread of its own.
 * Handlers see each change once, in order; objects passed to them are borrowed and
 * shared, never to be changed. Starts with the same client and path share one list+watch
 * and one copy: a later one first gets an add for each object already held, and all
 * handlers run on the shared thread in the order they were started.
 */
int informer_start(struct kc *c, const char *path, const struct informer_handlers *h,
		   struct informer **ret, struct err *err);
/* Inside update_lazy: the previous version (borrowed until the handler returns). */
json_t *informer_old_get(struct informer_old *old);
/* Whether the first list has been delivered. */
bool informer_synced(struct informer *inf);
/* Waits (up to @timeout_ms) for the first list; false on timeout. */
bool informer_wait_synced(struct informer *inf, int timeout_ms);
/* The object with this namespace ("" for cluster-scoped) and name: a new reference. */
json_t *informer_get(struct informer *inf, const char *ns, const char *name);
/* Calls @fn for every object (a consistent snapshot; @fn may not call into @inf). */
void informer_foreach(struct informer *inf, void (*fn)(void *arg, json_t *obj), void *arg);
size_t informer_count(struct informer *inf);
/* Ends @inf's handlers (waiting for one that runs; not to be called from one). */
void informer_stop(struct informer *inf);

/* Work queues. */

struct workqueue;

struct workqueue *wq_new(void);
/* Adds @key (copied) unless it is already waiting; a key being processed is added again
 * once its worker calls wq_done(). */
void wq_add(struct workqueue *q, const char *key);
/* Adds @key after @ms milliseconds. */
void wq_add_after(struct workqueue *q, const char *key, int64_t ms);
/* Retry with per-key exponential backoff (5 ms doubling to 1000 s, as client-go). */
void wq_add_rate_limited(struct workqueue *q, const char *key);
/* Clears @key's backoff after a success. */
void wq_forget(struct workqueue *q, const char *key);
/* Blocks for the next key (a heap string the caller frees); NULL after wq_shutdown(). */
char *wq_get(struct workqueue *q);
void wq_done(struct workqueue *q, const char *key);
size_t wq_len(struct workqueue *q);
void wq_shutdown(struct workqueue *q);

/*
 * A controller worker: syncs keys from @q until wq_shutdown(). @sync returns < 0 to retry
 * the key with backoff (its error logged at debug level, naming @what), 0 when done, or a
 * number of milliseconds after which to look at the key again.
 */
typedef int (*wq_sync_fn)(void *arg, const char *key, struct err *err);
void wq_process(struct workqueue *q, const char *what, wq_sync_fn sync, void *arg);
void wq_free(struct workqueue *q);

/* "ns/name" or "name": the key of an object. Heap string. */
char *kc_key(const json_t *obj);

/*
 * Records an Event about @obj (core/v1, in @obj's namespace or "default"): @type "Normal"
 * or "Warning", @reason ("ScalingReplicaSet"), @component ("deployment-controller") and a
 * printf message. Repeats of the same (object, reason, message) within 10 minutes bump the
 * count of the existing event, as upstream's recorder does. Failures are logged only.
 */
void kc_event(struct kc *c, const json_t *obj, const char *type, const char *reason,
	      const char *component, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/*
 * Whether an event about @obj from @component would be recorded now, not dropped at a
 * full queue or by the spam filter (each source and object may record 25 events, then
 * one every 5 minutes): for a caller whose message costs something to make.
 */
bool kc_event_wanted(struct kc *c, const json_t *obj, const char *component);

#endif
