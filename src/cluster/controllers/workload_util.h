/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the ReplicaSet and Deployment controllers share: a string hash map for their
 * indexes, field access on API objects, pod readiness and deletion order, expectations,
 * slow-start batches, owner-reference claims, conditions, and the pure arithmetic of
 * rollouts (template hashes, surge and unavailability, proportional scaling, revisions)
 * as upstream's controllers compute it. Everything here but wl_adopt()/wl_release() is
 * free of I/O, so the unit tests call it directly.
 */
#ifndef SKIFF_CLUSTER_CONTROLLERS_WORKLOAD_UTIL_H
#define SKIFF_CLUSTER_CONTROLLERS_WORKLOAD_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct kc;

#define WL_LABEL_HASH        "pod-template-hash"
#define WL_ANN_REVISION      "deployment.kubernetes.io/revision"
#define WL_ANN_REV_HISTORY   "deployment.kubernetes.io/revision-history"
#define WL_ANN_DESIRED       "deployment.kubernetes.io/desired-replicas"
#define WL_ANN_MAX           "deployment.kubernetes.io/max-replicas"
#define WL_ANN_DELETION_COST "controller.kubernetes.io/pod-deletion-cost"
#define WL_REV_HISTORY_CHARS 2000

/* String-keyed hash map; keys are copied, values belong to the caller. Not thread-safe. */
struct wl_map;

struct wl_map *wl_map_new(void);
/* Frees the map, calling @free_val (may be NULL) on every value. */
void wl_map_free(struct wl_map *m, void (*free_val)(void *val));
void *wl_map_get(const struct wl_map *m, const char *key);
/* Sets @key to @val (non-NULL); returns the value it replaces, or NULL. */
void *wl_map_put(struct wl_map *m, const char *key, void *val);
/* Removes @key; returns its value, or NULL. */
void *wl_map_del(struct wl_map *m, const char *key);
size_t wl_map_len(const struct wl_map *m);
/* Iterates: start with *pos = 0; false at the end. The map may not change meanwhile. */
bool wl_map_next(const struct wl_map *m, size_t *pos, const char **ret_key, void **ret_val);

/*
 * What the pod controllers read of a pod on every sync, extracted once per pod version:
 * a sync then walks small structs instead of thousands of JSON trees.
 */
struct wl_pod_facts {
	json_t *labels;      /* metadata.labels, borrowed from the pod; NULL without */
	int64_t ready_since; /* lastTransitionTime of Ready, seconds; 0 if unknown */
	bool active;         /* neither Succeeded nor Failed, not being deleted */
	bool ready;
	bool deleting;
	/*
	 * What the pod's controller found when the pod version was indexed (-1: not known):
	 * whether its selector matches (selectors of controllers are immutable) and whether
	 * the pod carries every label of its template at @owner_generation.
	 */
	signed char owner_selects, owner_labeled;
	int64_t owner_generation;
};
void wl_pod_facts_of(const json_t *pod, struct wl_pod_facts *f);
/* Ready for at least @min_ready_seconds at @now (seconds). */
bool wl_pod_facts_available(const struct wl_pod_facts *f, int64_t min_ready_seconds, int64_t now);

/* A growable list of object references; from a pod index, each with its facts. */
struct wl_list {
	json_t **v;
	struct wl_pod_facts *facts; /* NULL unless every entry was added with facts */
	size_t n, cap;
};
/* Appends a new reference to @obj. */
void wl_list_add(struct wl_list *l, json_t *obj);
/* Appends a new reference to the pod @obj with its facts @f. */
void wl_list_add_pod(struct wl_list *l, json_t *obj, const struct wl_pod_facts *f);
/* Drops the references and empties the list. */
void wl_list_done(struct wl_list *l);

/*
 * Objects by their controller's uid, and those without a controller by namespace: how the
 * controllers find what they own without scanning everything. Holds a reference to each
 * object. Not thread-safe.
 */
struct wl_index;

struct wl_index *wl_index_new(void);
/*
 * An index of pods: lists filled from it carry each pod's facts, and hold what the pod
 * controllers read of a pod (metadata but annotations, spec.nodeName, status.phase,
 * conditions and restart counts), not the whole pod.
 */
struct wl_index *wl_index_new_pods(void);
void wl_index_free(struct wl_index *ix);
/* Adds or replaces the object under @key ("ns/name"). */
void wl_index_put(struct wl_index *ix, const char *key, json_t *obj);
void wl_index_del(struct wl_index *ix, const char *key);
/* The object held under @key (for a pod index, what it keeps of the pod); borrowed. */
json_t *wl_index_get(const struct wl_index *ix, const char *key);
/* Records the controller's view (wl_pod_facts.owner_*) of the pod under @key. */
void wl_index_set_owner_view(struct wl_index *ix, const char *key, bool selects, bool labeled,
			     int64_t generation);
/* Appends the objects whose controller has @uid. */
void wl_index_owned(const struct wl_index *ix, const char *uid, struct wl_list *out);
/* The number of objects whose controller has @uid. */
size_t wl_index_owned_count(const struct wl_index *ix, const char *uid);
/* Appends the objects of namespace @ns without a controller. */
void wl_index_orphans(const struct wl_index *ix, const char *ns, struct wl_list *out);

/* Fields of API objects; a dotted @path ("spec.template.metadata"). Borrowed; NULL when absent. */
json_t *wl_get(const json_t *obj, const char *path);
const char *wl_str(const json_t *obj, const char *path);
int64_t wl_int(const json_t *obj, const char *path, int64_t def);
const char *wl_label(const json_t *obj, const char *key);
const char *wl_annotation(const json_t *obj, const char *key);
/* Sets an annotation (creating metadata.annotations); true when it changed. */
bool wl_set_annotation(json_t *obj, const char *key, const char *value);
/* The ownerReference with controller=true, or NULL. */
const json_t *wl_controller_ref(const json_t *obj);
/* Whether metadata.deletionTimestamp is set. */
bool wl_deleting(const json_t *obj);
/* "ns/name" of an object. Heap string. */
char *wl_key(const json_t *obj);

/* Seconds since the epoch of an RFC 3339 time; 0 when absent or malformed. */
int64_t wl_time_parse(const char *rfc3339);
/* The current time in seconds since the epoch. */
int64_t wl_now(void);
/* RFC 3339 at second precision, as metav1.Time is written. Heap string. */
char *wl_time_format(int64_t t);

/* Pods. */
bool wl_pod_active(const json_t *pod);
bool wl_pod_ready(const json_t *pod);
/* The pod's condition of @type, NULL without one. */
json_t *wl_pod_cond(const json_t *pod, const char *type);
/* Ready for at least @min_ready_seconds at @now (seconds). */
bool wl_pod_available(const json_t *pod, int64_t min_ready_seconds, int64_t now);

/* A pod that may be deleted, with the count of its relatives on the same node. */
struct wl_ranked_pod {
	json_t *pod;
	int rank;
};
/*
 * Orders pods so that those upstream deletes first come first: unscheduled, pending before
 * unknown before running, not ready, lower pod-deletion-cost, more relatives on the node,
 * ready for less time (log2 buckets), more restarts, newer (log2 buckets). @now in seconds.
 */
void wl_pods_sort_for_deletion(struct wl_ranked_pod *pods, size_t n, int64_t now);

/*
 * Calls @fn(@arg, i) for i in [0, count) in batches of 1, 2, 4 ... running each batch on
 * parallel threads, and stops after a batch in which any call failed (returned < 0).
 * Returns the number of calls that succeeded.
 */
size_t wl_slow_start(size_t count, size_t initial, int (*fn)(void *arg, size_t i), void *arg);

/*
 * Expectations: the creations and deletions a controller has asked for and not yet seen
 * through its informer, so that it does not act twice on a stale cache. Thread-safe.
 * Entries expire after five minutes, as upstream's.
 */
struct wl_expectations;

struct wl_expectations *wl_exp_new(void);
void wl_exp_free(struct wl_expectations *e);
void wl_exp_expect_creations(struct wl_expectations *e, const char *key, int64_t n);
void wl_exp_expect_deletions(struct wl_expectations *e, const char *key, char *const *pod_keys,
			     size_t n);
void wl_exp_creation_observed(struct wl_expectations *e, const char *key);
void wl_exp_deletion_observed(struct wl_expectations *e, const char *key, const char *pod_key);
bool wl_exp_satisfied(struct wl_expectations *e, const char *key);
void wl_exp_forget(struct wl_expectations *e, const char *key);
/* For tests: ages every entry by @seconds. */
void wl_exp_age(struct wl_expectations *e, int64_t seconds);

/* Owner references. */
enum wl_claim {
	WL_CLAIM_IGNORE,  /* someone else's, or not ours to take */
	WL_CLAIM_OWNED,   /* ours and selected */
	WL_CLAIM_ADOPT,   /* an orphan we select */
	WL_CLAIM_RELEASE, /* ours but no longer selected */
};
/* What upstream's ControllerRefManager does with @obj for @owner; @selected: the owner's
 * selector matches @obj. */
enum wl_claim wl_claim_decide(const json_t *owner, const json_t *obj, bool selected);
/* The controller ownerReference for @owner (controller and blockOwnerDeletion true). */
json_t *wl_controller_ref_new(const json_t *owner, const char *api_version, const char *kind);
/*
 * Patches @obj (at @path, its API path) to add or remove @owner's controller reference, with
 * @obj's uid as precondition. Returns the HTTP status (404 when @obj is gone) or -errno.
 */
int wl_adopt(struct kc *c, const char *path, const json_t *owner, const char *api_version,
	     const char *kind, const json_t *obj, struct err *err);
int wl_release(struct kc *c, const char *path, const json_t *owner, const json_t *obj,
	       struct err *err);
/* A LabelSelector object as a labelSelector query string (not escaped). Heap string. */
char *wl_selector_string(const json_t *label_selector);

/* Conditions in a status object's "conditions" list, with metav1 timestamps. */
json_t *wl_cond_new(const char *type, const char *status, const char *reason, const char *message);
json_t *wl_cond_get(const json_t *status, const char *type);
/*
 * Sets @cond (taken) as upstream's SetDeploymentCondition: nothing changes when a
 * condition of its type has the same status and reason; the transition time is kept when
 * only the reason changes. Returns whether the status changed.
 */
bool wl_cond_set(json_t *status, json_t *cond);
bool wl_cond_remove(json_t *status, const char *type);

/*
 * Whether two status objects are equal, absent and zero/empty members being the same
 * (the API drops omitempty fields, so a written status may read back smaller).
 */
bool wl_status_equal(const json_t *a, const json_t *b);

/* Deployments and their ReplicaSets. */

/* An int-or-percent ("25%") scaled to @total, rounding up or down. Invalid: 0. */
int32_t wl_intstr_scaled(const json_t *v, int32_t total, bool round_up);
/* maxSurge and maxUnavailable for @desired replicas; both 0 makes unavailable 1. */
void wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, int32_t desired,
		   int32_t *ret_surge, int32_t *ret_unavailable);
int32_t wl_d_replicas(const json_t *d);
bool wl_d_rolling(const json_t *d);
int32_t wl_d_max_surge(const json_t *d);
int32_t wl_d_max_unavailable(const json_t *d);
bool wl_d_has_progress_deadline(const json_t *d);

/* spec.replicas of a ReplicaSet (default 1). */
int32_t wl_rs_replicas(const json_t *rs);
/* A status.* count of a ReplicaSet (0 when absent). */
int32_t wl_rs_status(const json_t *rs, const char *field);
/* The revision annotation as a number; 0 when absent or invalid. */
int64_t wl_revision(const json_t *obj);

enum wl_rs_order {
	WL_BY_CREATION,      /* oldest first, then by name */
	WL_BY_CREATION_DESC, /* newest first */
	WL_BY_SIZE_NEWER,    /* larger first; newer first among equals */
	WL_BY_SIZE_OLDER,    /* larger first; older first among equals */
	WL_BY_REVISION,      /* lower revision first, then oldest */
};
void wl_rs_sort(json_t **rss, size_t n, enum wl_rs_order order);

/*
 * Upstream's pod-template-hash: FNV-1a (32 bits) of the template's canonical form, then of
 * @collision_count as 8 little-endian bytes when >= 0, written in decimal and mapped onto
 * "bcdfghjklmnpqrstvwxz2456789". Heap string.
 */
char *wl_template_hash(const json_t *tmpl, int64_t collision_count);
/* Whether two pod templates are equal apart from their pod-template-hash label. */
bool wl_templates_equal(const json_t *a, const json_t *b);

/* The oldest of @rss whose template equals @d's (sorts @rss by creation); borrowed. */
json_t *wl_find_new_rs(const json_t *d, json_t **rss, size_t n);
/* Sum of spec.replicas, or of a status field when @field is not NULL. */
int32_t wl_rs_sum(json_t *const *rss, size_t n, const char *field);
/* The replicas a new ReplicaSet gets (NewRSNewReplicas). */
int32_t wl_new_rs_new_replicas(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs);
bool wl_is_saturated(const json_t *d, const json_t *rs);
/* FindActiveOrLatest: the only active RS, the newest when none is; NULL when several are. */
json_t *wl_find_active_or_latest(json_t *new_rs, json_t **old, size_t n);
/* Whether an active RS's desired-replicas annotation differs from the deployment's. */
bool wl_is_scaling_event(const json_t *d, json_t *const *all, size_t n);
/*
 * Proportional scaling of a rolling deployment's active RSes (sorted here): the size each
 * gets in *ret_sizes (n entries) and the operation ("up", "down" or "").
 */
void wl_proportional_sizes(const json_t *d, json_t **active, size_t n, int32_t *ret_sizes,
			   const char **ret_op);
/*
 * Rolling update: new sizes of @old (sorted by creation here) after cleaning up their
 * unhealthy replicas, at most @max_cleanup in all; returns the number scaled down.
 */
int32_t wl_plan_cleanup_unhealthy(json_t **old, size_t n, int32_t max_cleanup, int32_t *ret_sizes);
/* How many old replicas the rolling update may scale down now (0: none). */
int32_t wl_max_scaled_down(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs);
/* New sizes of @old (sorted by creation here) that keep minimum availability. */
int32_t wl_plan_scale_down_old(const json_t *d, json_t *const *all, size_t nall, json_t **old,
			       size_t n, int32_t *ret_sizes);

/*
 * Copies @d's annotations to @rs (except the controller's own and kubectl's
 * last-applied-configuration), raises the revision to @revision (recording the old one in
 * revision-history), and for a new RS (!@exists) sets desired- and max-replicas.
 * Returns whether @rs changed.
 */
bool wl_set_new_rs_annotations(const json_t *d, json_t *rs, const char *revision, bool exists);
/* Sets desired-replicas and max-replicas; true when they changed. */
bool wl_set_replicas_annotations(json_t *rs, int32_t desired, int32_t max);
bool wl_replicas_annotations_need_update(const json_t *rs, int32_t desired, int32_t max);

/* Deployment status (calculateStatus): counts, observedGeneration and Available. */
json_t *wl_deployment_status(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs);
bool wl_deployment_complete(const json_t *d, const json_t *status);
bool wl_deployment_progressing(const json_t *d, const json_t *status);
bool wl_deployment_timed_out(const json_t *d, const json_t *status, int64_t now);

#endif
