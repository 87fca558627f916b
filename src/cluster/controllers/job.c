/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job controller: runs a Job's pods to completion as upstream's does. Pods carry the
 * batch.kubernetes.io/job-tracking finalizer until the controller has counted them: a
 * finished pod's uid goes to status.uncountedTerminatedPods first, then the finalizer is
 * removed, then the uid moves to the succeeded/failed counters, so a pod is counted once
 * even across restarts and conflicts. Terminal conditions are reached through the interim
 * SuccessCriteriaMet/FailureTarget conditions (1.32 with JobPodReplacementPolicy), and a
 * finished Job with ttlSecondsAfterFinished is deleted once it expires.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/batch_util.h"
#include "cluster/controllers/controllers.h"

#define COMPONENT      "job-controller"
#define TRACKING       "batch.kubernetes.io/job-tracking"
#define INDEX_KEY      "batch.kubernetes.io/job-completion-index"
#define MAX_UNCOUNTED  500
#define MAX_BACKOFF_MS (600 * 1000)
#define ORPHAN_PREFIX  "pod:"
#define BATCH_V1       "/apis/batch/v1"

struct backoff {
	int64_t failures; /* failed pods since the last success */
	int64_t last_ms;  /* when the last of them was seen */
};

struct jobctl {
	struct kc *c;
	struct informer *jobs, *pods;
	struct ctlb_index *by_owner;
	struct ctlb_expect *expect;
	struct ctlb_workers *w;
	atomic_bool ready;
	pthread_mutex_t lock;
	json_t *rm_uids;  /* uids whose finalizer removal the informer has not shown yet */
	json_t *backoffs; /* job key -> [failures, last_ms] */
	json_t *written;  /* job key -> resourceVersion of our last status write */
};

/* ---- pure decisions ----------------------------------------------------------------- */

bool job_finished(const json_t *job)
{
	json_t *c = ctlb_condition(job, "Complete");

	if (c && ctlb_streq(ctlb_str(c, "status"), "True"))
		return true;
	c = ctlb_condition(job, "Failed");
	return c && ctlb_streq(ctlb_str(c, "status"), "True");
}

bool job_pod_failed(const json_t *pod, const json_t *job)
{
	const char *phase = ctlb_str(pod, "status.phase");
	const char *policy = ctlb_str(job, "spec.podReplacementPolicy");

	if (ctlb_streq(phase, "Failed"))
		return true;
	if (ctlb_streq(policy, "Failed"))
		return false;
	/* TerminatingOrFailed: a pod being deleted before it succeeded will not succeed. */
	return ctlb_get(pod, "metadata.deletionTimestamp") && !ctlb_streq(phase, "Succeeded");
}

int64_t job_want_active(const json_t *job, int64_t succeeded, int64_t active)
{
	int64_t parallelism = ctlb_int(job, "spec.parallelism", 1);
	json_t *completions = ctlb_get(job, "spec.completions");
	int64_t want;

	if (!json_is_integer(completions))
		return succeeded > 0 ? active : parallelism;
	want = json_integer_value(completions) - succeeded;
	if (want > parallelism)
		want = parallelism;
	return want < 0 ? 0 : want;
}

int64_t job_backoff_delay_ms(int64_t failures, int64_t base_ms)
{
	int64_t d = base_ms;

	if (failures <= 0)
		return 0;
	for (int64_t i = 1; i < failures && d < MAX_BACKOFF_MS; i++)
		d *= 2;
	return d > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : d;
}

/* Restarts of running pods against the limit, for restartPolicy OnFailure. */
static bool past_backoff_on_failure(const json_t *job, json_t *pods)
{
	int64_t limit = ctlb_int(job, "spec.backoffLimit", 6), n = 0;
	static const char *const lists[] = {"status.initContainerStatuses",
					    "status.containerStatuses"};
	json_t *pod, *cs;
	size_t i, j;

	if (!ctlb_streq(ctlb_str(job, "spec.template.spec.restartPolicy"), "OnFailure"))
		return false;
	json_array_foreach (pods, i, pod) {
		const char *phase = ctlb_str(pod, "status.phase");

		if (!ctlb_streq(phase, "Running") && !ctlb_streq(phase, "Pending"))
			continue;
		for (int l = 0; l < 2; l++)
			json_array_foreach (ctlb_get(pod, lists[l]), j, cs)
				n += ctlb_int(cs, "restartCount", 0);
	}
	return limit == 0 ? n > 0 : n >= limit;
}

/* "1,3-5" into @set (size @n); false for malformed text. */
bool job_indexes_parse(const char *s, bool *set, int64_t n)
{
	while (s && *s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s || a < 0)
			return false;
		s = end;
		if (*s == '-') {
			b = strtol(s + 1, &end, 10);
			if (end == s + 1 || b < a)
				return false;
			s = end;
		}
		for (long i = a; i <= b && i < n; i++)
			set[i] = true;
		if (*s == ',')
			s++;
		else if (*s)
			return false;
	}
	return true;
}

char *job_indexes_format(const bool *set, int64_t n)
{
	char *out = xstrdup("");

	for (int64_t i = 0; i < n; i++) {
		int64_t j = i;
		char *next;

		if (!set[i])
			continue;
		while (j + 1 < n && set[j + 1])
			j++;
		if (j == i)
			next = xasprintf("%s%s%lld", out, *out ? "," : "", (long long)i);
		else
			next = xasprintf("%s%s%lld-%lld", out, *out ? "," : "", (long long)i,
					 (long long)j);
		free(out);
		out = next;
		i = j;
	}
	return out;
}

static int64_t pod_index(const json_t *pod)
{
	const char *s = json_string_value(
		json_object_get(ctlb_get(pod, "metadata.annotations"), INDEX_KEY));
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < 0 ? -1 : v;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool str_in(const json_t *arr, const char *s)
{
	json_t *e;
	size_t i;

	json_array_foreach (arr, i, e)
		if (ctlb_streq(json_string_value(e), s))
			return true;
	return false;
}

static json_t *set_condition(json_t *status, const char *type, const char *cstatus,
			     const char *reason, const char *message, int64_t now)
{
	json_t *conds = json_object_get(status, "conditions"), *c;
	cleanup_free char *ts = ctlb_time_fmt(now);
	size_t i;

	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_foreach (conds, i, c) {
		if (!ctlb_streq(ctlb_str(c, "type"), type))
			continue;
		if (ctlb_streq(ctlb_str(c, "status"), cstatus) &&
		    ctlb_streq(ctlb_str(c, "reason"), reason) &&
		    ctlb_streq(ctlb_str(c, "message"), message))
			return NULL;
		if (!ctlb_streq(ctlb_str(c, "status"), cstatus))
			json_object_set_new(c, "lastTransitionTime", json_string(ts));
		json_object_set_new(c, "status", json_string(cstatus));
		json_object_set_new(c, "reason", json_string(reason));
		json_object_set_new(c, "message", json_string(message));
		json_object_set_new(c, "lastProbeTime", json_string(ts));
		return c;
	}
	c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", cstatus,
		      "lastProbeTime", ts, "lastTransitionTime", ts, "reason", reason, "message",
		      message);
	json_array_append_new(conds, c);
	return c;
}

static bool cond_true(const json_t *obj, const char *type)
{
	return ctlb_streq(ctlb_str(ctlb_condition(obj, type), "status"), "True");
}

static char *job_key_of_pod(const json_t *pod)
{
	const json_t *ref = ctlb_controller_ref(pod);

	if (!ref || !ctlb_streq(ctlb_str(ref, "kind"), "Job"))
		return NULL;
	return xasprintf("%s/%s", ctlb_str(pod, "metadata.namespace"), ctlb_str(ref, "name"));
}

static bool split_key(const char *key, char **ns, char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return false;
	*ns = xstrndup(key, (size_t)(slash - key));
	*name = xstrdup(slash + 1);
	return true;
}

/* ---- pods --------------------------------------------------------------------------- */

static json_t *new_pod(const json_t *job, int64_t index)
{
	json_t *pod =
		ctlb_pod_from_template(ctlb_get(job, "spec.template"), job, "batch/v1", "Job");
	json_t *meta = json_object_get(pod, "metadata"), *fin, *c;
	const char *name = ctlb_str(job, "metadata.name");
	char idx[24];
	size_t i;

	fin = json_object_get(meta, "finalizers");
	if (!json_is_array(fin)) {
		fin = json_array();
		json_object_set_new(meta, "finalizers", fin);
	}
	json_array_append_new(fin, json_string(TRACKING));
	if (index < 0) {
		json_object_set_new(meta, "generateName", json_sprintf("%s-", name));
		return pod;
	}
	snprintf(idx, sizeof(idx), "%lld", (long long)index);
	json_object_set_new(meta, "generateName", json_sprintf("%s-%s-", name, idx));
	json_object_set_new(ctlb_obj(pod, "metadata.annotations"), INDEX_KEY, json_string(idx));
	json_object_set_new(ctlb_obj(pod, "metadata.labels"), INDEX_KEY, json_string(idx));
	if (!ctlb_str(pod, "spec.hostname"))
		json_object_set_new(json_object_get(pod, "spec"), "hostname",
				    json_sprintf("%s-%s", name, idx));
	for (int l = 0; l < 2; l++) {
		json_t *list = ctlb_get(pod, l ? "spec.containers" : "spec.initContainers");

		json_array_foreach (list, i, c) {
			json_t *env = json_object_get(c, "env");

			if (!json_is_array(env)) {
				env = json_array();
				json_object_set_new(c, "env", env);
			}
			json_array_append_new(
				env, json_pack("{s:s, s:{s:{s:s}}}", "name", "JOB_COMPLETION_INDEX",
					       "valueFrom", "fieldRef", "fieldPath",
					       "metadata.annotations['" INDEX_KEY "']"));
		}
	}
	return pod;
}

static int create_pod(struct jobctl *st, const json_t *job, int64_t index)
{
	cleanup_json json_t *pod = new_pod(job, index), *ret = NULL;
	cleanup_free char *path =
		ctlb_path("/api/v1", "pods", ctlb_str(job, "metadata.namespace"), NULL, NULL);
	cleanup_err struct err err = ERR_INIT;
	int rc = kc_request(st->c, "POST", path, NULL, pod, &ret, &err);

	if (rc >= 200 && rc < 300) {
		kc_event(st->c, job, "Normal", "SuccessfulCreate", COMPONENT, "Created pod: %s",
			 ctlb_str(ret, "metadata.name"));
		return 0;
	}
	kc_event(st->c, job, "Warning", "FailedCreate", COMPONENT, "Error creating: %s",
		 err.msg ? err.msg : "unknown error");
	return rc < 0 ? rc : -EIO;
}

static int delete_pod(struct jobctl *st, const json_t *job, const json_t *pod)
{
	cleanup_free char *path = ctlb_path("/api/v1", "pods", ctlb_str(pod, "metadata.namespace"),
					    ctlb_str(pod, "metadata.name"), NULL);
	cleanup_err struct err err = ERR_INIT;
	int rc = ctlb_delete(st->c, path, NULL, ctlb_str(pod, "metadata.uid"), &err);

	if (rc < 0) {
		kc_event(st->c, job, "Warning", "FailedDelete", COMPONENT, "Error deleting: %s",
			 err.msg);
		return rc;
	}
	kc_event(st->c, job, "Normal", "SuccessfulDelete", COMPONENT, "Deleted pod: %s",
		 ctlb_str(pod, "metadata.name"));
	return 0;
}

/* Deletes @pods; returns how many deletions went through. */
static int64_t delete_pods(struct jobctl *st, const char *key, const json_t *job, json_t *pods,
			   size_t n)
{
	int64_t done = 0;

	ctlb_expect_add(st->expect, key, 0, (int)n);
	for (size_t i = 0; i < n; i++) {
		if (delete_pod(st, job, json_array_get(pods, i)) == 0)
			done++;
		else
			ctlb_expect_observed(st->expect, key, 0, 1);
	}
	return done;
}

/* ---- the sync ----------------------------------------------------------------------- */

struct sync {
	struct jobctl *st;
	const char *key;
	json_t *job;    /* the informer's copy */
	json_t *status; /* being built */
	json_t *pods;   /* all pods owned */
	json_t *active; /* array, sorted delete-first when needed */
	int64_t terminating, ready;
	int64_t succeeded, failed; /* including uncounted and newly finished */
	int64_t completions;       /* -1: unset */
	bool indexed;
	bool *prev_idx, *cur_idx; /* indexed: completed before / now */
	/* finished: the condition to write before finalizers go, and the terminal one */
	const char *fin_type, *fin_reason, *fin_message;
	int64_t new_failed, new_succeeded;
	int64_t after_ms;
};

static void backoff_get(struct jobctl *st, const char *key, struct backoff *b)
{
	json_t *r;

	pthread_mutex_lock(&st->lock);
	r = json_object_get(st->backoffs, key);
	b->failures = json_integer_value(json_array_get(r, 0));
	b->last_ms = json_integer_value(json_array_get(r, 1));
	pthread_mutex_unlock(&st->lock);
}

static void backoff_put(struct jobctl *st, const char *key, const struct backoff *b)
{
	pthread_mutex_lock(&st->lock);
	if (b->failures == 0)
		json_object_del(st->backoffs, key);
	else
		json_object_set_new(
			st->backoffs, key,
			json_pack("[I, I]", (json_int_t)b->failures, (json_int_t)b->last_ms));
	pthread_mutex_unlock(&st->lock);
}

static int64_t rv_num(const char *rv)
{
	char *end;
	long long v;

	if (!rv)
		return -1;
	v = strtoll(rv, &end, 10);
	return *end ? -1 : v;
}

static void written_set(struct jobctl *st, const char *key, const char *rv)
{
	pthread_mutex_lock(&st->lock);
	if (rv_num(rv) >= 0)
		json_object_set_new(st->written, key, json_integer(rv_num(rv)));
	pthread_mutex_unlock(&st->lock);
}

/*
 * Whether the informer's copy of the job predates our last status write: counters moved
 * out of uncountedTerminatedPods would be missed, so the sync waits for the newer copy.
 */
static bool job_stale(struct jobctl *st, const char *key, const json_t *job)
{
	int64_t have = rv_num(ctlb_str(job, "metadata.resourceVersion"));
	json_t *w;
	bool stale;

	pthread_mutex_lock(&st->lock);
	w = json_object_get(st->written, key);
	stale = w && have >= 0 && have < json_integer_value(w);
	if (w && !stale)
		json_object_del(st->written, key);
	pthread_mutex_unlock(&st->lock);
	return stale;
}

static bool rm_pending(struct jobctl *st, const char *uid)
{
	bool r;

	pthread_mutex_lock(&st->lock);
	r = uid && json_object_get(st->rm_uids, uid);
	pthread_mutex_unlock(&st->lock);
	return r;
}

static void rm_mark(struct jobctl *st, const char *uid, bool on)
{
	if (!uid)
		return;
	pthread_mutex_lock(&st->lock);
	if (on)
		json_object_set_new(st->rm_uids, uid, json_true());
	else
		json_object_del(st->rm_uids, uid);
	pthread_mutex_unlock(&st->lock);
}

/* Whether @pod still has a finalizer that this controller has not asked to remove. */
static bool tracked(struct jobctl *st, const json_t *pod)
{
	return ctlb_has_finalizer(pod, TRACKING) && !rm_pending(st, ctlb_str(pod, "metadata.uid"));
}

static json_t *uncounted(json_t *status, const char *which)
{
	json_t *u = ctlb_obj(status, "uncountedTerminatedPods"), *a = json_object_get(u, which);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(u, which, a);
	}
	return a;
}

static void classify(struct sync *s)
{
	json_t *pod, *us = uncounted(s->status, "succeeded"), *uf = uncounted(s->status, "failed");
	size_t i;

	s->active = json_array();
	s->succeeded = ctlb_int(s->status, "succeeded", 0) + (int64_t)json_array_size(us);
	s->failed = ctlb_int(s->status, "failed", 0) + (int64_t)json_array_size(uf);
	json_array_foreach (s->pods, i, pod) {
		const char *uid = ctlb_str(pod, "metadata.uid");

		if (ctlb_pod_active(pod)) {
			json_array_append(s->active, pod);
			if (ctlb_pod_ready(pod))
				s->ready++;
		} else if (!ctlb_pod_terminal(pod)) {
			s->terminating++;
		}
		if (!tracked(s->st, pod))
			continue;
		if (ctlb_streq(ctlb_str(pod, "status.phase"), "Succeeded")) {
			if (!str_in(us, uid) && !str_in(uf, uid)) {
				s->new_succeeded++;
				if (!s->indexed)
					s->succeeded++;
			}
		} else if (job_pod_failed(pod, s->job) && !str_in(uf, uid)) {
			s->new_failed++;
			s->failed++;
		}
	}
	if (!s->indexed || s->completions < 0)
		return;
	s->prev_idx = xcalloc((size_t)s->completions + 1, sizeof(bool));
	s->cur_idx = xcalloc((size_t)s->completions + 1, sizeof(bool));
	job_indexes_parse(ctlb_str(s->status, "completedIndexes"), s->prev_idx, s->completions);
	memcpy(s->cur_idx, s->prev_idx, (size_t)s->completions * sizeof(bool));
	json_array_foreach (s->pods, i, pod) {
		int64_t ix = pod_index(pod);

		if (ix >= 0 && ix < s->completions && tracked(s->st, pod) &&
		    ctlb_streq(ctlb_str(pod, "status.phase"), "Succeeded"))
			s->cur_idx[ix] = true;
	}
	s->succeeded = 0;
	for (int64_t ix = 0; ix < s->completions; ix++)
		s->succeeded += s->cur_idx[ix];
}

/* Creates or deletes pods toward the wanted parallelism; returns the new active count. */
static int64_t manage(struct sync *s, struct backoff *bo, int *rc)
{
	int64_t active = (int64_t)json_array_size(s->active), want, diff, created = 0, batch = 1;
	int64_t next_ix = 0;
	struct jobctl *st = s->st;
	bool *busy = NULL;

	if (ctlb_bool(s->job, "spec.suspend", false)) {
		return active - delete_pods(st, s->key, s->job, s->active, (size_t)active);
	}
	want = job_want_active(s->job, s->succeeded, active);
	if (active > want) {
		json_t **v = xcalloc((size_t)active, sizeof(*v));
		cleanup_json json_t *sorted = json_array();

		for (int64_t i = 0; i < active; i++)
			v[i] = json_array_get(s->active, (size_t)i);
		qsort(v, (size_t)active, sizeof(*v), ctlb_pod_cmp_delete_first);
		for (int64_t i = 0; i < active; i++)
			json_array_append(sorted, v[i]);
		free(v);
		return active - delete_pods(st, s->key, s->job, sorted, (size_t)(active - want));
	}
	if (active == want)
		return active;
	if (bo->failures > 0) {
		int64_t wait = bo->last_ms +
			       job_backoff_delay_ms(bo->failures, ctlb_job_backoff_base_ms) -
			       ctlb_now_ms();

		if (wait > 0) {
			s->after_ms = wait;
			return active;
		}
	}
	diff = want - active;
	if (s->indexed && s->completions >= 0) {
		json_t *pod;
		size_t i;

		busy = xcalloc((size_t)s->completions + 1, sizeof(bool));
		memcpy(busy, s->cur_idx, (size_t)s->completions * sizeof(bool));
		json_array_foreach (s->active, i, pod) {
			int64_t ix = pod_index(pod);

			if (ix >= 0 && ix < s->completions)
				busy[ix] = true;
		}
	}
	ctlb_expect_add(st->expect, s->key, (int)diff, 0);
	/* Slow start, as upstream: batches of 1, 2, 4... stop at the first failure. */
	while (created < diff) {
		int64_t n = batch < diff - created ? batch : diff - created, ok = 0, tried = 0;
		bool out_of_indexes = false;

		for (int64_t i = 0; i < n; i++) {
			int64_t ix = -1;

			if (busy) {
				while (next_ix < s->completions && busy[next_ix])
					next_ix++;
				if (next_ix >= s->completions) {
					out_of_indexes = true;
					break;
				}
				ix = next_ix++;
			}
			tried++;
			if (create_pod(st, s->job, ix) == 0)
				ok++;
		}
		created += n;
		active += ok;
		if (ok < n) {
			/* neither skipped nor failed creations will ever be observed */
			ctlb_expect_observed(st->expect, s->key, (int)(diff - created + n - ok), 0);
			if (ok < tried || !out_of_indexes)
				*rc = -EIO;
			break;
		}
		batch *= 2;
	}
	free(busy);
	return active;
}

static int flush_status(struct sync *s, json_t **job_rv)
{
	cleanup_json json_t *body = json_deep_copy(*job_rv), *ret = NULL;
	cleanup_free char *path =
		ctlb_path(BATCH_V1, "jobs", ctlb_str(s->job, "metadata.namespace"),
			  ctlb_str(s->job, "metadata.name"), "status");
	cleanup_err struct err err = ERR_INIT;
	int rc;

	json_object_set(body, "status", s->status);
	rc = ctlb_put(s->st->c, path, body, &ret, &err);
	if (rc < 0 || rc >= 300) {
		log_debug("update status of job '%s': %d %s", s->key, rc, err.msg);
		return -EAGAIN;
	}
	json_decref(*job_rv);
	*job_rv = json_incref(ret);
	written_set(s->st, s->key, ctlb_str(ret, "metadata.resourceVersion"));
	return 0;
}

/* Moves the uids whose pods no longer carry the finalizer to the counters. */
static bool clean_uncounted(struct sync *s)
{
	static const char *const which[] = {"succeeded", "failed"};
	bool changed = false;

	for (int w = 0; w < 2; w++) {
		json_t *list = uncounted(s->status, which[w]), *keep = json_array(), *e;
		size_t i;
		int64_t moved = 0;

		json_array_foreach (list, i, e) {
			bool has = false;
			json_t *pod;
			size_t j;

			json_array_foreach (s->pods, j, pod)
				if (ctlb_streq(ctlb_str(pod, "metadata.uid"),
					       json_string_value(e)) &&
				    tracked(s->st, pod))
					has = true;
			if (has)
				json_array_append(keep, e);
			else
				moved++;
		}
		if (moved) {
			json_object_set_new(s->status, which[w],
					    json_integer(ctlb_int(s->status, which[w], 0) + moved));
			changed = true;
		}
		json_object_set_new(json_object_get(s->status, "uncountedTerminatedPods"), which[w],
				    keep);
	}
	return changed;
}

static void record_finished(struct sync *s, const json_t *job)
{
	if (ctlb_streq(s->fin_type, "Complete"))
		kc_event(s->st->c, job, "Normal", "Completed", COMPONENT, "Job completed");
	else
		kc_event(s->st->c, job, "Warning", s->fin_reason, COMPONENT, "%s", s->fin_message);
}

static int track(struct sync *s, bool flush, const struct backoff *bo)
{
	struct jobctl *st = s->st;
	cleanup_json json_t *job = json_incref(s->job), *remove = json_array();
	bool deleting = ctlb_get(s->job, "metadata.deletionTimestamp") != NULL, max = false;
	bool finished = false;
	json_t *us, *uf, *pod;
	size_t i;
	int rc = 0;

	if (clean_uncounted(s))
		flush = true;
	us = uncounted(s->status, "succeeded");
	uf = uncounted(s->status, "failed");
	json_array_foreach (s->pods, i, pod) {
		const char *uid = ctlb_str(pod, "metadata.uid");
		bool failed, ok = ctlb_streq(ctlb_str(pod, "status.phase"), "Succeeded");

		if (!tracked(st, pod))
			continue;
		failed = job_pod_failed(pod, s->job);
		if (!deleting && !s->fin_type && !ok && !failed)
			continue;
		json_array_append(remove, pod);
		if (ok && !str_in(uf, uid)) {
			int64_t ix = pod_index(pod);

			if (s->indexed) {
				if (ix >= 0 && ix < s->completions && !s->prev_idx[ix])
					flush = true;
			} else if (!str_in(us, uid)) {
				json_array_append_new(us, json_string(uid));
				flush = true;
			}
		} else if ((failed || (s->fin_type && strcmp(s->fin_type, "Complete") != 0)) &&
			   !str_in(uf, uid)) {
			int64_t ix = pod_index(pod);

			if (!s->indexed || (ix >= 0 && ix < s->completions)) {
				json_array_append_new(uf, json_string(uid));
				flush = true;
			}
		}
		if (json_array_size(us) + json_array_size(uf) >= MAX_UNCOUNTED) {
			max = true;
			break;
		}
	}
	if (s->indexed && s->completions >= 0) {
		cleanup_free char *idx = job_indexes_format(s->cur_idx, s->completions);

		if (!ctlb_streq(idx, ctlb_str(s->status, "completedIndexes")))
			flush = true;
		json_object_set_new(s->status, "completedIndexes", json_string(idx));
		json_object_set_new(s->status, "succeeded", json_integer(s->succeeded));
	}
	if (ctlb_streq(s->fin_type, "FailureTarget")) {
		if (!cond_true(s->job, "FailureTarget")) {
			set_condition(s->status, "FailureTarget", "True", s->fin_reason,
				      s->fin_message, ctlb_now());
			flush = true;
		}
		s->fin_type = "Failed";
	} else if (ctlb_streq(s->fin_type, "SuccessCriteriaMet")) {
		if (!cond_true(s->job, "SuccessCriteriaMet")) {
			set_condition(s->status, "SuccessCriteriaMet", "True", s->fin_reason,
				      s->fin_message, ctlb_now());
			flush = true;
		}
		s->fin_type = "Complete";
	}
	if (flush) {
		if (flush_status(s, &job) < 0)
			return -EAGAIN;
		backoff_put(st, s->key, bo);
		flush = false;
	}
	json_array_foreach (remove, i, pod) {
		cleanup_free char *path =
			ctlb_path("/api/v1", "pods", ctlb_str(pod, "metadata.namespace"),
				  ctlb_str(pod, "metadata.name"), NULL);
		cleanup_err struct err err = ERR_INIT;

		rm_mark(st, ctlb_str(pod, "metadata.uid"), true);
		if (ctlb_remove_finalizer(st->c, path, pod, TRACKING, &err) < 0) {
			rm_mark(st, ctlb_str(pod, "metadata.uid"), false);
			log_debug("remove finalizer of pod '%s': %s", path, err.msg);
			rc = -EAGAIN;
		}
	}
	if (clean_uncounted(s))
		flush = true;
	us = uncounted(s->status, "succeeded");
	uf = uncounted(s->status, "failed");
	if (s->fin_type && !max && json_array_size(us) == 0 && json_array_size(uf) == 0 &&
	    s->terminating == 0) {
		int64_t now = ctlb_now();

		set_condition(s->status, s->fin_type, "True", s->fin_reason, s->fin_message, now);
		if (strcmp(s->fin_type, "Complete") == 0)
			json_object_set_new(s->status, "completionTime", ctlb_time_json(now));
		finished = flush = true;
	}
	if (flush) {
		if (flush_status(s, &job) < 0)
			return -EAGAIN;
		if (finished) {
			record_finished(s, job);
			if (json_is_integer(ctlb_get(job, "spec.ttlSecondsAfterFinished")))
				s->after_ms = 0;
		}
	}
	return rc;
}

static void decide_finish(struct sync *s, bool suspended)
{
	json_t *c;
	int64_t ads, start;

	if (cond_true(s->job, "SuccessCriteriaMet")) {
		c = ctlb_condition(s->job, "SuccessCriteriaMet");
		s->fin_type = "SuccessCriteriaMet";
		s->fin_reason = ctlb_str(c, "reason");
		s->fin_message = ctlb_str(c, "message");
		return;
	}
	if (cond_true(s->job, "FailureTarget")) {
		c = ctlb_condition(s->job, "FailureTarget");
		s->fin_type = "FailureTarget";
		s->fin_reason = ctlb_str(c, "reason");
		s->fin_message = ctlb_str(c, "message");
		return;
	}
	if (s->failed > ctlb_int(s->job, "spec.backoffLimit", 6) ||
	    past_backoff_on_failure(s->job, s->pods)) {
		s->fin_type = "FailureTarget";
		s->fin_reason = "BackoffLimitExceeded";
		s->fin_message = "Job has reached the specified backoff limit";
		return;
	}
	ads = ctlb_int(s->job, "spec.activeDeadlineSeconds", -1);
	start = ctlb_time_parse(ctlb_str(s->status, "startTime"));
	if (ads < 0 || suspended || start < 0)
		return;
	if (ctlb_now_ms() >= (start + ads) * 1000) {
		s->fin_type = "FailureTarget";
		s->fin_reason = "DeadlineExceeded";
		s->fin_message = "Job was active longer than specified deadline";
		return;
	}
	s->after_ms = (start + ads) * 1000 - ctlb_now_ms();
}

static int reconcile(struct jobctl *st, const char *key, json_t *job, int64_t *ret_after)
{
	struct sync s = {.st = st, .key = key, .job = job, .completions = -1, .after_ms = -1};
	bool suspended = ctlb_bool(job, "spec.suspend", false);
	bool satisfied = ctlb_expect_satisfied(st->expect, key);
	json_t *completions = ctlb_get(job, "spec.completions");
	int64_t active, now = ctlb_now();
	bool changed = false;
	struct backoff bo;
	int rc = 0;

	s.status = json_deep_copy(json_object_get(job, "status"));
	if (!json_is_object(s.status)) {
		json_decref(s.status);
		s.status = json_object();
	}
	s.pods = ctlb_index_get(st->by_owner, ctlb_str(job, "metadata.uid"));
	s.indexed = ctlb_streq(ctlb_str(job, "spec.completionMode"), "Indexed");
	if (json_is_integer(completions))
		s.completions = json_integer_value(completions);
	classify(&s);
	backoff_get(st, key, &bo);
	if (s.new_succeeded > 0)
		bo.failures = 0;
	if (s.new_failed > 0) {
		bo.failures += s.new_failed;
		bo.last_ms = ctlb_now_ms();
	}
	if (!ctlb_get(s.status, "startTime") && !suspended)
		json_object_set_new(s.status, "startTime", ctlb_time_json(now));
	decide_finish(&s, suspended);
	active = (int64_t)json_array_size(s.active);
	if (s.fin_type) {
		int64_t deleted = delete_pods(st, key, job, s.active, (size_t)active);

		if (deleted != active || !satisfied)
			s.fin_type = NULL; /* the informer has yet to show the whole picture */
		active -= deleted;
		s.terminating += deleted;
	} else {
		bool managed = false;

		if (satisfied && !ctlb_get(job, "metadata.deletionTimestamp")) {
			active = manage(&s, &bo, &rc);
			managed = true;
		}
		if (s.completions < 0 ? s.succeeded > 0 && active == 0
				      : s.succeeded >= s.completions && active == 0) {
			s.fin_type = "SuccessCriteriaMet";
			s.fin_reason = "CompletionsReached";
			s.fin_message = "Reached expected number of succeeded pods";
		} else if (managed && suspended) {
			if (set_condition(s.status, "Suspended", "True", "JobSuspended",
					  "Job suspended", now)) {
				changed = true;
				kc_event(st->c, job, "Normal", "Suspended", COMPONENT,
					 "Job suspended");
			}
		} else if (managed && ctlb_condition(job, "Suspended")) {
			if (set_condition(s.status, "Suspended", "False", "JobResumed",
					  "Job resumed", now)) {
				changed = true;
				kc_event(st->c, job, "Normal", "Resumed", COMPONENT, "Job resumed");
				/* activeDeadlineSeconds counts continuous activity */
				json_object_set_new(s.status, "startTime", ctlb_time_json(now));
			}
		}
	}
	if (active != ctlb_int(s.status, "active", 0) || !json_object_get(s.status, "ready") ||
	    s.ready != ctlb_int(s.status, "ready", 0) ||
	    s.terminating != ctlb_int(s.status, "terminating", -1) ||
	    !ctlb_streq(ctlb_str(s.status, "startTime"), ctlb_str(job, "status.startTime")))
		changed = true;
	json_object_set_new(s.status, "active", json_integer(active));
	json_object_set_new(s.status, "ready", json_integer(s.ready));
	json_object_set_new(s.status, "terminating", json_integer(s.terminating));
	if (track(&s, changed, &bo) < 0)
		rc = -EAGAIN;
	*ret_after = s.after_ms;
	json_decref(s.status);
	json_decref(s.pods);
	json_decref(s.active);
	free(s.prev_idx);
	free(s.cur_idx);
	return rc;
}

/* A finished Job: release leftover finalizers and honour ttlSecondsAfterFinished. */
static int finished(struct jobctl *st, const char *key, json_t *job, int64_t *ret_after)
{
	cleanup_json json_t *pods = ctlb_index_get(st->by_owner, ctlb_str(job, "metadata.uid"));
	json_t *ttl = ctlb_get(job, "spec.ttlSecondsAfterFinished"), *pod, *c;
	int64_t done, expire;
	size_t i;

	json_array_foreach (pods, i, pod) {
		if (!tracked(st, pod))
			continue;
		cleanup_free char *path =
			ctlb_path("/api/v1", "pods", ctlb_str(pod, "metadata.namespace"),
				  ctlb_str(pod, "metadata.name"), NULL);
		cleanup_err struct err err = ERR_INIT;

		if (ctlb_remove_finalizer(st->c, path, pod, TRACKING, &err) == 0)
			rm_mark(st, ctlb_str(pod, "metadata.uid"), true);
	}
	if (!json_is_integer(ttl) || ctlb_get(job, "metadata.deletionTimestamp"))
		return 0;
	done = ctlb_time_parse(ctlb_str(job, "status.completionTime"));
	if (done < 0) {
		c = ctlb_condition(job, "Failed");
		if (!c || !ctlb_streq(ctlb_str(c, "status"), "True"))
			c = ctlb_condition(job, "Complete");
		done = ctlb_time_parse(ctlb_str(c, "lastTransitionTime"));
	}
	if (done < 0)
		return 0;
	expire = (done + json_integer_value(ttl)) * 1000;
	if (ctlb_now_ms() < expire) {
		*ret_after = expire - ctlb_now_ms();
		return 0;
	}
	cleanup_free char *path = ctlb_path(BATCH_V1, "jobs", ctlb_str(job, "metadata.namespace"),
					    ctlb_str(job, "metadata.name"), NULL);
	cleanup_err struct err err = ERR_INIT;

	if (ctlb_delete(st->c, path, "Background", ctlb_str(job, "metadata.uid"), &err) < 0) {
		log_debug("delete expired job '%s': %s", key, err.msg);
		return -EAGAIN;
	}
	return 0;
}

/* A pod whose Job is gone or finished keeps no tracking finalizer (syncOrphanPod). */
static int sync_orphan(struct jobctl *st, const char *key)
{
	cleanup_free char *ns = NULL, *name = NULL, *jkey = NULL;
	cleanup_json json_t *pod = NULL, *job = NULL;
	const json_t *ref;

	if (!split_key(key, &ns, &name))
		return 0;
	pod = informer_get(st->pods, ns, name);
	if (!pod || !ctlb_has_finalizer(pod, TRACKING))
		return 0;
	ref = ctlb_controller_ref(pod);
	if (ref && !ctlb_streq(ctlb_str(ref, "kind"), "Job"))
		return 0;
	if (ref) {
		job = informer_get(st->jobs, ns, ctlb_str(ref, "name"));
		if (job && ctlb_streq(ctlb_str(job, "metadata.uid"), ctlb_str(ref, "uid")) &&
		    !job_finished(job))
			return 0;
	}
	cleanup_free char *path = ctlb_path("/api/v1", "pods", ns, name, NULL);
	cleanup_err struct err err = ERR_INIT;

	return ctlb_remove_finalizer(st->c, path, pod, TRACKING, &err) < 0 ? -EAGAIN : 0;
}

static int sync_key(void *arg, const char *key, int64_t *ret_after)
{
	struct jobctl *st = arg;
	cleanup_free char *ns = NULL, *name = NULL;
	cleanup_json json_t *job = NULL;

	if (!atomic_load(&st->ready) || !informer_synced(st->jobs) || !informer_synced(st->pods)) {
		*ret_after = 100;
		return 0;
	}
	if (strncmp(key, ORPHAN_PREFIX, strlen(ORPHAN_PREFIX)) == 0)
		return sync_orphan(st, key + strlen(ORPHAN_PREFIX));
	if (!split_key(key, &ns, &name))
		return 0;
	job = informer_get(st->jobs, ns, name);
	if (!job) {
		struct backoff none = {0, 0};

		ctlb_expect_forget(st->expect, key);
		backoff_put(st, key, &none);
		pthread_mutex_lock(&st->lock);
		json_object_del(st->written, key);
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	if (job_stale(st, key, job)) {
		*ret_after = 20;
		return 0;
	}
	if (job_finished(job))
		return finished(st, key, job, ret_after);
	return reconcile(st, key, job, ret_after);
}

/* ---- informer handlers -------------------------------------------------------------- */

static void job_changed(void *arg, json_t *obj)
{
	struct jobctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	ctlb_enqueue(st->w, key);
}

static void job_updated(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	job_changed(arg, obj);
}

static void job_deleted(void *arg, json_t *obj)
{
	struct jobctl *st = arg;
	cleanup_json json_t *pods = ctlb_index_get(st->by_owner, ctlb_str(obj, "metadata.uid"));
	json_t *pod;
	size_t i;

	job_changed(arg, obj);
	json_array_foreach (pods, i, pod) {
		cleanup_free char *k = kc_key(pod), *ok = xasprintf(ORPHAN_PREFIX "%s", k);

		ctlb_enqueue(st->w, ok);
	}
}

static void pod_event(struct jobctl *st, json_t *old, json_t *obj)
{
	json_t *pod = obj ? obj : old;
	cleanup_free char *key = job_key_of_pod(pod), *old_key = old ? job_key_of_pod(old) : NULL;
	bool was_deleting = old && ctlb_get(old, "metadata.deletionTimestamp");
	bool deleting = !obj || ctlb_get(obj, "metadata.deletionTimestamp");

	ctlb_index_update(st->by_owner, old, obj);
	if (!obj || !ctlb_has_finalizer(obj, TRACKING))
		rm_mark(st, ctlb_str(pod, "metadata.uid"), false);
	if (key) {
		if (!old)
			ctlb_expect_observed(st->expect, key, 1, 0);
		if (deleting && !was_deleting)
			ctlb_expect_observed(st->expect, key, 0, 1);
		ctlb_enqueue(st->w, key);
	}
	if (old_key && !ctlb_streq(old_key, key))
		ctlb_enqueue(st->w, old_key);
	if (obj && ctlb_has_finalizer(obj, TRACKING) && (deleting || ctlb_pod_terminal(obj))) {
		cleanup_free char *pk = kc_key(obj), *ok = xasprintf(ORPHAN_PREFIX "%s", pk);

		ctlb_enqueue_after(st->w, ok, 1000);
	}
}

static void pod_added(void *arg, json_t *obj)
{
	pod_event(arg, NULL, obj);
}

static void pod_updated(void *arg, json_t *old, json_t *obj)
{
	pod_event(arg, old, obj);
}

static void pod_deleted(void *arg, json_t *obj)
{
	pod_event(arg, obj, NULL);
}

/* ---- start / stop ------------------------------------------------------------------- */

void job_stop(void *state)
{
	struct jobctl *st = state;

	if (!st)
		return;
	ctlb_workers_stop(st->w);
	informer_stop(st->jobs);
	informer_stop(st->pods);
	ctlb_workers_free(st->w);
	ctlb_index_free(st->by_owner);
	ctlb_expect_free(st->expect);
	json_decref(st->rm_uids);
	json_decref(st->backoffs);
	json_decref(st->written);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int job_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct jobctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers jh = {
		.add = job_changed, .update = job_updated, .del = job_deleted, .arg = st};
	const struct informer_handlers ph = {
		.add = pod_added, .update = pod_updated, .del = pod_deleted, .arg = st};
	int rc;

	st->c = c;
	st->by_owner = ctlb_index_new();
	st->expect = ctlb_expect_new();
	st->rm_uids = json_object();
	st->backoffs = json_object();
	st->written = json_object();
	pthread_mutex_init(&st->lock, NULL);
	rc = ctlb_workers_start(cfg && cfg->workers > 0 ? cfg->workers : 2, sync_key, st, &st->w,
				err);
	if (rc < 0)
		goto fail;
	/* Only pods with the Job label: the controller never holds the whole pod list. */
	rc = informer_start(c, "/api/v1/pods?labelSelector=batch.kubernetes.io%2Fcontroller-uid",
			    &ph, &st->pods, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, BATCH_V1 "/jobs", &jh, &st->jobs, err);
	if (rc < 0)
		goto fail;
	atomic_store(&st->ready, true);
	*ret = st;
	return 0;
fail:
	job_stop(st);
	return err_wrap(err, "start job controller");
}
