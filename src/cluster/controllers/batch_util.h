/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the job, cronjob, daemonset and statefulset controllers: JSON field
 * access by dotted path, timestamps, pod predicates as upstream's controller utilities
 * define them, label and node selector matching, owner references, an owner index fed by
 * informer handlers, creation/deletion expectations, worker pools over a work queue, and
 * ControllerRevision hashing. Private to src/cluster/controllers/.
 */
#ifndef SKIFF_CLUSTER_CONTROLLERS_BATCH_UTIL_H
#define SKIFF_CLUSTER_CONTROLLERS_BATCH_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct kc;

/* ---- clock --------------------------------------------------------------------------- */

/* Unix time now in milliseconds, shifted by the test offset below. */
int64_t ctlb_now_ms(void);
int64_t ctlb_now(void);
/* Tests move the controllers' clock (cron schedules, deadlines) by @ms. */
void ctlb_clock_shift(int64_t ms);
/* Base delay before a Job replaces a failed pod (upstream: 10 s, doubling to 10 min). */
extern int64_t ctlb_job_backoff_base_ms;

/* RFC 3339 to Unix seconds; -1 when absent or malformed. */
int64_t ctlb_time_parse(const char *s);
/* Unix seconds as "2006-01-02T15:04:05Z" (heap string). */
char *ctlb_time_fmt(int64_t t);
/* The same as a JSON string. */
json_t *ctlb_time_json(int64_t t);

/* ---- JSON ------------------------------------------------------------------------------ */

/* The value at dotted @path ("spec.template.metadata") or NULL; borrowed. */
json_t *ctlb_get(const json_t *obj, const char *path);
/* The string at @path or NULL. */
const char *ctlb_str(const json_t *obj, const char *path);
int64_t ctlb_int(const json_t *obj, const char *path, int64_t def);
bool ctlb_bool(const json_t *obj, const char *path, bool def);
/* The object at @path, created (with its parents) if absent. */
json_t *ctlb_obj(json_t *obj, const char *path);
/* Whether two strings (either may be NULL) are equal. */
bool ctlb_streq(const char *a, const char *b);

/* The resolved value of an int-or-percent (maxUnavailable) against @total. */
int64_t ctlb_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def);

/* ---- selectors ------------------------------------------------------------------------- */

/* A LabelSelector against labels: NULL matches nothing, {} everything (as upstream). */
bool ctlb_selector_match(const json_t *selector, const json_t *labels);
/*
 * One requirement ({key, operator, values}) against @value (NULL: the key is absent);
 * operators In, NotIn, Exists, DoesNotExist, and Gt/Lt for node selectors.
 */
bool ctlb_requirement_match(const json_t *req, const char *value);

/* ---- owners and pods ------------------------------------------------------------------- */

/* The ownerReference with controller: true, or NULL; borrowed. */
const json_t *ctlb_controller_ref(const json_t *obj);
/* The uid of the controller owner, or NULL. */
const char *ctlb_controller_uid(const json_t *obj);
/* A controller ownerReference to @owner: a new object. */
json_t *ctlb_owner_ref(const json_t *owner, const char *api_version, const char *kind);
/*
 * A pod for @owner from @template (PodTemplateSpec): labels, annotations, finalizers and
 * spec copied, a controller reference to the owner. A new object.
 */
json_t *ctlb_pod_from_template(const json_t *template, const json_t *owner, const char *api_version,
			       const char *kind);

bool ctlb_pod_terminal(const json_t *pod); /* Succeeded or Failed */
/* Not terminal and not being deleted (FilterActivePods). */
bool ctlb_pod_active(const json_t *pod);
bool ctlb_pod_ready(const json_t *pod);
/* Ready for at least @min_ready seconds at @now. */
bool ctlb_pod_available(const json_t *pod, int64_t min_ready, int64_t now);
/* Whether an object has @finalizer. */
bool ctlb_has_finalizer(const json_t *obj, const char *finalizer);
/* A condition of @obj's status by type; borrowed or NULL. */
json_t *ctlb_condition(const json_t *obj, const char *type);
/*
 * Orders pods for deletion as upstream's ActivePods does: unscheduled, pending, not
 * ready, ready for less time, more restarts, newer first. qsort comparator on json_t **.
 */
int ctlb_pod_cmp_delete_first(const void *a, const void *b);

/* ---- requests -------------------------------------------------------------------------- */

/*
 * The API path of a collection or object: ctlb_path("/apis/batch/v1", "jobs", "ns",
 * "name", "status"); NULL parts are left out. Heap string.
 */
char *ctlb_path(const char *group_version, const char *plural, const char *ns, const char *name,
		const char *sub);
/*
 * DELETE with a propagation policy (NULL: the server's default) and, when @uid is set,
 * a uid precondition. Returns 0 also when the object is already gone.
 */
int ctlb_delete(struct kc *c, const char *path, const char *propagation, const char *uid,
		struct err *err);
/* Removes @finalizer from the object at @path (a strategic merge patch); 0 if gone. */
int ctlb_remove_finalizer(struct kc *c, const char *path, const json_t *obj, const char *finalizer,
			  struct err *err);
/* Writes @obj to @path (its /status) with PUT; returns the HTTP status, sets @ret_obj. */
int ctlb_put(struct kc *c, const char *path, const json_t *obj, json_t **ret_obj, struct err *err);

/* ---- owner index ----------------------------------------------------------------------- */

/*
 * Objects grouped by their controller's uid, kept by informer handlers: each entry holds
 * a reference to the newest version of the object. Thread-safe.
 */
struct ctlb_index;

struct ctlb_index *ctlb_index_new(void);
/* An informer change: @old NULL on add, @obj NULL on delete. */
void ctlb_index_update(struct ctlb_index *ix, const json_t *old, json_t *obj);
/* The objects owned by @uid: a new array of references (possibly empty). */
json_t *ctlb_index_get(struct ctlb_index *ix, const char *uid);
void ctlb_index_free(struct ctlb_index *ix);

/* ---- expectations ---------------------------------------------------------------------- */

/*
 * Creations and deletions a controller has asked for but not yet seen in its informer,
 * per owner key, so that a sync does not act twice on a stale cache (upstream's
 * ControllerExpectations; they expire after five minutes).
 */
struct ctlb_expect;

struct ctlb_expect *ctlb_expect_new(void);
void ctlb_expect_add(struct ctlb_expect *e, const char *key, int adds, int dels);
void ctlb_expect_observed(struct ctlb_expect *e, const char *key, int adds, int dels);
bool ctlb_expect_satisfied(struct ctlb_expect *e, const char *key);
void ctlb_expect_forget(struct ctlb_expect *e, const char *key);
void ctlb_expect_free(struct ctlb_expect *e);

/* ---- workers --------------------------------------------------------------------------- */

/*
 * A sync function: returns < 0 to retry the key with backoff; may set *@ret_after_ms to
 * have the key synced again later (deadlines, schedules).
 */
typedef int (*ctlb_sync_fn)(void *arg, const char *key, int64_t *ret_after_ms);

struct ctlb_workers;

int ctlb_workers_start(int n, ctlb_sync_fn fn, void *arg, struct ctlb_workers **ret,
		       struct err *err);
void ctlb_enqueue(struct ctlb_workers *w, const char *key);
void ctlb_enqueue_after(struct ctlb_workers *w, const char *key, int64_t ms);
/*
 * Stops the queue and joins the workers; later enqueues are ignored, so informers may be
 * stopped after this and before ctlb_workers_free().
 */
void ctlb_workers_stop(struct ctlb_workers *w);
void ctlb_workers_free(struct ctlb_workers *w);

/* ---- controller revisions -------------------------------------------------------------- */

/*
 * The hash of a revision's data with the owner's collisionCount, encoded as upstream
 * encodes it (decimal FNV-32a, each digit mapped to a safe character). Heap string.
 */
char *ctlb_revision_hash(const json_t *data, int64_t collision_count);
/* {"spec":{"template":{... "$patch":"replace"}}}: what kubectl rollout undo applies. */
json_t *ctlb_revision_data(const json_t *owner);
/*
 * A ControllerRevision for @owner named "<owner>-<hash>" with @labels (copied), the hash
 * label, @data (taken) and @revision. A new object.
 */
json_t *ctlb_revision_new(const json_t *owner, const char *api_version, const char *kind,
			  const json_t *labels, const char *hash, json_t *data, int64_t revision);

/*
 * The ControllerRevision of @owner's current template among @revs (the owner's revisions):
 * an equal one is reused, and renumbered to be the newest when it is older (that is what
 * kubectl rollout undo relies on); otherwise one is created with @labels. EEXIST when a
 * revision of the same name holds other data: the caller bumps status.collisionCount.
 * *@ret_rev is a new reference.
 */
int ctlb_revision_sync(struct kc *c, const json_t *owner, const char *kind, json_t *revs,
		       const json_t *labels, json_t **ret_rev, struct err *err);
/*
 * Deletes the oldest revisions beyond @limit, sparing @keep (NULL-terminated names) and
 * those whose hash label is in @live (an object of hashes) or whose name is.
 */
void ctlb_revision_truncate(struct kc *c, json_t *revs, const char *const *keep, const json_t *live,
			    int64_t limit);

/* ---- per-controller decisions, exposed for unit tests ------------------------------ */

/* job.c */
bool job_finished(const json_t *job); /* Complete or Failed is True */
/* Whether a pod counts as failed (phase Failed; or being deleted unless the Job's
 * podReplacementPolicy is Failed). */
bool job_pod_failed(const json_t *pod, const json_t *job);
/* The number of pods that should run, given the succeeded count and running @active. */
int64_t job_want_active(const json_t *job, int64_t succeeded, int64_t active);
/* Delay before replacing a pod after @failures failures in a row (base doubled, 10 min). */
int64_t job_backoff_delay_ms(int64_t failures, int64_t base_ms);
/* completedIndexes ("1,3-5") to and from a set of @n flags. */
bool job_indexes_parse(const char *s, bool *set, int64_t n);
char *job_indexes_format(const bool *set, int64_t n);

/* cronjob.c */
struct cron_schedule;
struct cron_zone;
/*
 * The latest activation in (@earliest, @now], or -1; *@ret_missed counts them, stopping
 * past 100 (upstream's "too many missed start times").
 */
int64_t cronjob_most_recent(const struct cron_schedule *s, const struct cron_zone *z,
			    int64_t earliest, int64_t now, int64_t *ret_missed);
/* "<cronjob>-<scheduled time in minutes>". Heap string. */
char *cronjob_job_name(const char *cronjob, int64_t scheduled);
/* RFC 3339 with the zone's offset ("Z" for UTC), as the scheduled-timestamp annotation. */
char *cronjob_time_in_zone(int64_t t, int32_t offset);

/* daemonset.c */
/* Whether toleration @tol tolerates @taint. */
bool daemon_toleration_matches(const json_t *tol, const json_t *taint);
/* The pod spec's tolerations plus upstream's DaemonSet defaults: a new array. */
json_t *daemon_tolerations(const json_t *pod_spec);
/* nodeSelector and required node affinity (matchExpressions, matchFields) against @node. */
bool daemon_node_selected(const json_t *pod_spec, const json_t *node);
/* NodeShouldRunDaemonPod: whether a pod should run, and may keep running, on @node. */
void daemon_node_should_run(const json_t *ds, const json_t *node, bool *ret_run,
			    bool *ret_continue);
/* The node a daemon pod belongs to (spec.nodeName or its matchFields affinity). */
const char *daemon_pod_node(const json_t *pod);

/* statefulset.c */
/* The ordinal of pod @pod of set @set ("web-3" -> 3), or -1. */
int64_t stateful_ordinal(const char *set, const char *pod);
/* "<claim>-<set>-<ordinal>". Heap string. */
char *stateful_claim_name(const char *claim, const char *set, int64_t ordinal);
/* Running, Ready (for @min_ready seconds) and not being deleted. */
bool stateful_pod_healthy(const json_t *pod, int64_t min_ready, int64_t now);
/* The pod for @ordinal from @template labelled with @revision: a new object. */
json_t *stateful_new_pod(const json_t *set, const json_t *template, int64_t ordinal,
			 const char *revision);

#endif
