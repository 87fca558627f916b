/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cronjob controller: creates a Job from a CronJob's jobTemplate at each scheduled
 * time, named "<cronjob>-<minutes since the epoch>" so a restart cannot run a time twice,
 * honours concurrencyPolicy, startingDeadlineSeconds, suspend and the history limits, and
 * keeps status.active, lastScheduleTime and lastSuccessfulTime as upstream's controller
 * (v2) does. Each CronJob is requeued for its next scheduled time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/batch_util.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/cron.h"

#define COMPONENT     "cronjob-controller"
#define SCHEDULED_KEY "batch.kubernetes.io/cronjob-scheduled-timestamp"
#define BATCH_V1      "/apis/batch/v1"
#define MANY_MISSED   100

struct zone_cache {
	struct zone_cache *next;
	char *name;
	struct cron_zone *zone;
};

struct cronctl {
	struct kc *c;
	struct informer *cronjobs, *jobs;
	struct ctlb_index *by_owner;
	struct ctlb_workers *w;
	atomic_bool ready;
	pthread_mutex_t lock;
	struct zone_cache *zones;
};

/* ---- pure decisions ----------------------------------------------------------------- */

int64_t cronjob_most_recent(const struct cron_schedule *s, const struct cron_zone *z,
			    int64_t earliest, int64_t now, int64_t *ret_missed)
{
	int64_t t = cron_next(s, z, earliest), last = -1, n = 0;

	while (t >= 0 && t <= now) {
		last = t;
		n++;
		if (n > MANY_MISSED) {
			/* Counting further only costs time: find the last one before now. */
			static const int64_t windows[] = {3600, 86400, 86400 * 31, 86400 * 366,
							  86400 * 366 * 5};

			for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
				int64_t from = now - windows[i] > last ? now - windows[i] : last;
				int64_t c = cron_next(s, z, from);

				if (c < 0 || c > now)
					continue;
				for (; c >= 0 && c <= now; c = cron_next(s, z, c))
					last = c;
				break;
			}
			break;
		}
		t = cron_next(s, z, t);
	}
	*ret_missed = n;
	return last;
}

char *cronjob_job_name(const char *cronjob, int64_t scheduled)
{
	return xasprintf("%s-%lld", cronjob, (long long)(scheduled / 60));
}

/* RFC 3339 in the zone: Go's time.Format(time.RFC3339) of a time in that location. */
char *cronjob_time_in_zone(int64_t t, int32_t offset)
{
	time_t lt = (time_t)(t + offset);
	char buf[40];
	struct tm tm;
	int32_t a = offset < 0 ? -offset : offset;

	gmtime_r(&lt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (offset == 0)
		return xasprintf("%sZ", buf);
	return xasprintf("%s%c%02d:%02d", buf, offset < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool split_key(const char *key, char **ns, char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash)
		return false;
	*ns = xstrndup(key, (size_t)(slash - key));
	*name = xstrdup(slash + 1);
	return true;
}

static const char *finished_condition(const json_t *job)
{
	static const char *const types[] = {"Complete", "Failed"};

	for (int i = 0; i < 2; i++) {
		json_t *c = ctlb_condition(job, types[i]);

		if (c && ctlb_streq(ctlb_str(c, "status"), "True"))
			return types[i];
	}
	return NULL;
}

static int load_zone(struct cronctl *st, const char *name, const struct cron_zone **ret,
		     struct err *err)
{
	struct zone_cache *zc;
	struct cron_zone *z = NULL;
	int rc;

	if (!name)
		name = "";
	pthread_mutex_lock(&st->lock);
	for (zc = st->zones; zc; zc = zc->next) {
		if (strcmp(zc->name, name) == 0) {
			*ret = zc->zone;
			pthread_mutex_unlock(&st->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&st->lock);
	rc = cron_zone_load(NULL, name, &z, err);
	if (rc < 0)
		return rc;
	zc = xcalloc(1, sizeof(*zc));
	zc->name = xstrdup(name);
	zc->zone = z;
	pthread_mutex_lock(&st->lock);
	zc->next = st->zones;
	st->zones = zc;
	pthread_mutex_unlock(&st->lock);
	*ret = z;
	return 0;
}

static bool active_has(const json_t *status, const char *field, const char *value)
{
	json_t *a = json_object_get(status, "active"), *r;
	size_t i;

	json_array_foreach (a, i, r)
		if (ctlb_streq(ctlb_str(r, field), value))
			return true;
	return false;
}

static void active_del(json_t *status, const char *uid)
{
	json_t *a = json_object_get(status, "active"), *r;
	size_t i;

	json_array_foreach (a, i, r) {
		if (ctlb_streq(ctlb_str(r, "uid"), uid)) {
			json_array_remove(a, i);
			return;
		}
	}
}

static json_t *job_ref(const json_t *job)
{
	return json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:s?}", "kind", "Job", "namespace",
			 ctlb_str(job, "metadata.namespace"), "name",
			 ctlb_str(job, "metadata.name"), "uid", ctlb_str(job, "metadata.uid"),
			 "apiVersion", "batch/v1", "resourceVersion",
			 ctlb_str(job, "metadata.resourceVersion"));
}

static int cmp_start(const void *a, const void *b)
{
	const json_t *ja = *(json_t *const *)a, *jb = *(json_t *const *)b;
	int64_t ta = ctlb_time_parse(ctlb_str(ja, "status.startTime"));
	int64_t tb = ctlb_time_parse(ctlb_str(jb, "status.startTime"));

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(ctlb_str(ja, "metadata.name") ? ctlb_str(ja, "metadata.name") : "",
		      ctlb_str(jb, "metadata.name") ? ctlb_str(jb, "metadata.name") : "");
}

static int delete_job(struct cronctl *st, const json_t *cj, const char *ns, const char *name,
		      const char *uid)
{
	cleanup_free char *path = ctlb_path(BATCH_V1, "jobs", ns, name, NULL);
	cleanup_err struct err err = ERR_INIT;

	if (ctlb_delete(st->c, path, "Background", uid, &err) < 0) {
		kc_event(st->c, cj, "Warning", "FailedDelete", COMPONENT, "Deleted job: %s",
			 err.msg);
		return -EAGAIN;
	}
	kc_event(st->c, cj, "Normal", "SuccessfulDelete", COMPONENT, "Deleted job %s", name);
	return 0;
}

/* Keeps the newest @limit finished jobs of one kind. */
static void remove_oldest(struct cronctl *st, const json_t *cj, json_t *jobs, int64_t limit)
{
	size_t n = json_array_size(jobs);
	json_t **v;

	if (limit < 0 || (int64_t)n <= limit)
		return;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(jobs, i);
	qsort(v, n, sizeof(*v), cmp_start);
	for (size_t i = 0; i < n - (size_t)limit; i++)
		delete_job(st, cj, ctlb_str(v[i], "metadata.namespace"),
			   ctlb_str(v[i], "metadata.name"), ctlb_str(v[i], "metadata.uid"));
	free(v);
}

static json_t *new_job(const json_t *cj, int64_t scheduled, const char *stamp)
{
	json_t *tmpl = ctlb_get(cj, "spec.jobTemplate"), *meta = json_object(), *v;
	cleanup_free char *name = cronjob_job_name(ctlb_str(cj, "metadata.name"), scheduled);

	json_object_set_new(meta, "name", json_string(name));
	v = ctlb_get(tmpl, "metadata.labels");
	if (json_object_size(v))
		json_object_set_new(meta, "labels", json_deep_copy(v));
	v = ctlb_get(tmpl, "metadata.annotations");
	json_object_set_new(meta, "annotations",
			    json_is_object(v) ? json_deep_copy(v) : json_object());
	json_object_set_new(json_object_get(meta, "annotations"), SCHEDULED_KEY,
			    json_string(stamp));
	json_object_set_new(meta, "ownerReferences",
			    json_pack("[o]", ctlb_owner_ref(cj, "batch/v1", "CronJob")));
	v = json_object_get(tmpl, "spec");
	return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "batch/v1", "kind", "Job",
			 "metadata", meta, "spec", v ? json_deep_copy(v) : json_object());
}

/* ---- the sync ----------------------------------------------------------------------- */

struct cjsync {
	struct cronctl *st;
	json_t *cj;
	json_t *status;
	bool changed;
};

/* Reconciles status.active with the jobs that exist (syncCronJob's first half). */
static void reconcile_active(struct cjsync *s, json_t *jobs)
{
	json_t *job, *ref, *done_ok = json_array(), *done_failed = json_array();
	json_t *a = json_object_get(s->status, "active");
	size_t i;

	json_array_foreach (jobs, i, job) {
		const char *uid = ctlb_str(job, "metadata.uid"), *cond = finished_condition(job);
		bool found = active_has(s->status, "uid", uid);

		if (!found && !cond) {
			/* Ours but forgotten (a crash between create and status update): adopt. */
			json_t *arr = json_object_get(s->status, "active");

			if (!json_is_array(arr)) {
				arr = json_array();
				json_object_set_new(s->status, "active", arr);
			}
			json_array_append_new(arr, job_ref(job));
			s->changed = true;
		} else if (found && cond) {
			active_del(s->status, uid);
			kc_event(s->st->c, s->cj, "Normal", "SawCompletedJob", COMPONENT,
				 "Saw completed job: %s, condition: %s",
				 ctlb_str(job, "metadata.name"), cond);
			s->changed = true;
		}
		if (ctlb_streq(cond, "Complete")) {
			const char *ct = ctlb_str(job, "status.completionTime");
			int64_t t = ctlb_time_parse(ct);

			if (t >= 0 &&
			    t > ctlb_time_parse(ctlb_str(s->status, "lastSuccessfulTime"))) {
				json_object_set_new(s->status, "lastSuccessfulTime",
						    json_string(ct));
				s->changed = true;
			}
			json_array_append(done_ok, job);
		} else if (cond) {
			json_array_append(done_failed, job);
		}
	}
	a = json_object_get(s->status, "active");
	for (i = 0; i < json_array_size(a);) {
		bool exists = false;
		size_t j;

		ref = json_array_get(a, i);
		json_array_foreach (jobs, j, job)
			if (ctlb_streq(ctlb_str(job, "metadata.uid"), ctlb_str(ref, "uid")))
				exists = true;
		if (exists) {
			i++;
			continue;
		}
		cleanup_free char *path = ctlb_path(BATCH_V1, "jobs", ctlb_str(ref, "namespace"),
						    ctlb_str(ref, "name"), NULL);
		cleanup_err struct err err = ERR_INIT;
		int rc = kc_request(s->st->c, "GET", path, NULL, NULL, NULL, &err);

		if (rc == 404) {
			kc_event(s->st->c, s->cj, "Normal", "MissingJob", COMPONENT,
				 "Active job went missing: %s", ctlb_str(ref, "name"));
			json_array_remove(a, i);
			s->changed = true;
			continue;
		}
		i++;
	}
	if (!ctlb_get(s->cj, "metadata.deletionTimestamp")) {
		remove_oldest(s->st, s->cj, done_ok,
			      ctlb_int(s->cj, "spec.successfulJobsHistoryLimit", -1));
		remove_oldest(s->st, s->cj, done_failed,
			      ctlb_int(s->cj, "spec.failedJobsHistoryLimit", -1));
	}
	json_decref(done_ok);
	json_decref(done_failed);
}

static int flush(struct cjsync *s)
{
	cleanup_json json_t *body = json_deep_copy(s->cj);
	cleanup_free char *path =
		ctlb_path(BATCH_V1, "cronjobs", ctlb_str(s->cj, "metadata.namespace"),
			  ctlb_str(s->cj, "metadata.name"), "status");
	cleanup_err struct err err = ERR_INIT;
	int rc;

	if (!s->changed)
		return 0;
	json_object_set(body, "status", s->status);
	rc = ctlb_put(s->st->c, path, body, NULL, &err);
	if (rc < 0 || rc >= 300) {
		log_debug("update status of cronjob '%s': %s", ctlb_str(s->cj, "metadata.name"),
			  err.msg);
		return -EAGAIN;
	}
	return 0;
}

/* Milliseconds until the activation after @now (plus upstream's 100 ms), or -1. */
static int64_t requeue_ms(const struct cron_schedule *sched, const struct cron_zone *z)
{
	int64_t now_ms = ctlb_now_ms(), next = cron_next(sched, z, now_ms / 1000);

	if (next < 0)
		return -1;
	return next * 1000 - now_ms + 100;
}

static int start_job(struct cjsync *s, const struct cron_schedule *sched, const struct cron_zone *z,
		     int64_t *ret_after)
{
	struct cronctl *st = s->st;
	json_t *cj = s->cj;
	int64_t now = ctlb_now(), earliest, missed, scheduled, deadline;
	const char *policy = ctlb_str(cj, "spec.concurrencyPolicy");
	cleanup_free char *name = NULL, *stamp = NULL, *path = NULL;
	cleanup_json json_t *job = NULL, *created = NULL;
	cleanup_err struct err err = ERR_INIT;
	const struct cron_zone *utc_or_tz = NULL;
	int rc;

	*ret_after = requeue_ms(sched, z);
	earliest = ctlb_time_parse(ctlb_str(s->status, "lastScheduleTime"));
	if (earliest < 0)
		earliest = ctlb_time_parse(ctlb_str(cj, "metadata.creationTimestamp"));
	deadline = ctlb_int(cj, "spec.startingDeadlineSeconds", -1);
	if (deadline >= 0 && now - deadline > earliest)
		earliest = now - deadline;
	scheduled = cronjob_most_recent(sched, z, earliest, now, &missed);
	if (missed > MANY_MISSED)
		kc_event(st->c, cj, "Warning", "TooManyMissedTimes", COMPONENT,
			 "too many missed start times. Set or decrease "
			 ".spec.startingDeadlineSeconds or check clock skew");
	if (scheduled < 0)
		return 0;
	if (deadline >= 0 && scheduled + deadline < now) {
		char when[64];
		time_t tt = (time_t)scheduled;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		kc_event(st->c, cj, "Warning", "MissSchedule", COMPONENT,
			 "Missed scheduled time to start a job: %s", when);
		return 0;
	}
	name = cronjob_job_name(ctlb_str(cj, "metadata.name"), scheduled);
	if (active_has(s->status, "name", name) ||
	    ctlb_time_parse(ctlb_str(s->status, "lastScheduleTime")) == scheduled)
		return 0;
	if (ctlb_streq(policy, "Forbid") && json_array_size(json_object_get(s->status, "active"))) {
		kc_event(st->c, cj, "Normal", "JobAlreadyActive", COMPONENT,
			 "Not starting job because prior execution is running and concurrency "
			 "policy is Forbid");
		return 0;
	}
	if (ctlb_streq(policy, "Replace")) {
		json_t *a = json_object_get(s->status, "active");

		while (json_array_size(a)) {
			json_t *ref = json_array_get(a, 0);

			if (delete_job(st, cj, ctlb_str(ref, "namespace"), ctlb_str(ref, "name"),
				       ctlb_str(ref, "uid")) < 0)
				return -EAGAIN;
			json_array_remove(a, 0);
			s->changed = true;
		}
	}
	/* The annotation is written in spec.timeZone, or UTC without one (upstream). */
	if (ctlb_str(cj, "spec.timeZone"))
		utc_or_tz = z;
	stamp = cronjob_time_in_zone(scheduled, cron_zone_offset(utc_or_tz, scheduled));
	job = new_job(cj, scheduled, stamp);
	path = ctlb_path(BATCH_V1, "jobs", ctlb_str(cj, "metadata.namespace"), NULL, NULL);
	rc = kc_request(st->c, "POST", path, NULL, job, &created, &err);
	if (rc == 409)
		return 0; /* created by an earlier run whose status update was lost */
	if (rc < 0 || rc >= 300) {
		kc_event(st->c, cj, "Warning", "FailedCreate", COMPONENT, "Error creating job: %s",
			 err.msg ? err.msg : "unknown error");
		return -EAGAIN;
	}
	kc_event(st->c, cj, "Normal", "SuccessfulCreate", COMPONENT, "Created job %s", name);
	if (!json_is_array(json_object_get(s->status, "active")))
		json_object_set_new(s->status, "active", json_array());
	json_array_append_new(json_object_get(s->status, "active"), job_ref(created));
	json_object_set_new(s->status, "lastScheduleTime", ctlb_time_json(scheduled));
	s->changed = true;
	return 0;
}

static int sync_cronjob(struct cronctl *st, json_t *cj, int64_t *ret_after)
{
	struct cjsync s = {.st = st, .cj = cj};
	cleanup_json json_t *jobs = ctlb_index_get(st->by_owner, ctlb_str(cj, "metadata.uid"));
	cleanup_free char *spec = NULL;
	struct cron_schedule *sched = NULL;
	const struct cron_zone *z = NULL;
	cleanup_err struct err err = ERR_INIT;
	const char *tz = ctlb_str(cj, "spec.timeZone");
	int rc = 0;

	s.status = json_deep_copy(json_object_get(cj, "status"));
	if (!json_is_object(s.status)) {
		json_decref(s.status);
		s.status = json_object();
	}
	reconcile_active(&s, jobs);
	if (ctlb_get(cj, "metadata.deletionTimestamp") || ctlb_bool(cj, "spec.suspend", false))
		goto out;
	if (tz && load_zone(st, tz, &z, &err) < 0) {
		kc_event(st->c, cj, "Warning", "UnknownTimeZone", COMPONENT,
			 "invalid timeZone: \"%s\": %s", tz, err.msg);
		goto out;
	}
	spec = tz ? xasprintf("TZ=%s %s", tz, ctlb_str(cj, "spec.schedule"))
		  : xstrdup(ctlb_str(cj, "spec.schedule") ? ctlb_str(cj, "spec.schedule") : "");
	if (cron_parse(spec, &sched, &err) < 0) {
		kc_event(st->c, cj, "Warning", "UnparseableSchedule", COMPONENT,
			 "unparseable schedule: \"%s\" : %s", ctlb_str(cj, "spec.schedule"),
			 err.msg);
		goto out;
	}
	if (!tz && load_zone(st, cron_schedule_zone(sched), &z, &err) < 0) {
		kc_event(st->c, cj, "Warning", "UnknownTimeZone", COMPONENT,
			 "invalid timeZone: \"%s\": %s", cron_schedule_zone(sched), err.msg);
		goto out;
	}
	rc = start_job(&s, sched, z, ret_after);
out:
	if (flush(&s) < 0)
		rc = -EAGAIN;
	cron_schedule_free(sched);
	json_decref(s.status);
	return rc;
}

static int sync_key(void *arg, const char *key, int64_t *ret_after)
{
	struct cronctl *st = arg;
	cleanup_free char *ns = NULL, *name = NULL;
	cleanup_json json_t *cj = NULL;

	if (!atomic_load(&st->ready) || !informer_synced(st->cronjobs) ||
	    !informer_synced(st->jobs)) {
		*ret_after = 100;
		return 0;
	}
	if (!split_key(key, &ns, &name))
		return 0;
	cj = informer_get(st->cronjobs, ns, name);
	if (!cj)
		return 0;
	return sync_cronjob(st, cj, ret_after);
}

/* ---- informer handlers -------------------------------------------------------------- */

static void cj_added(void *arg, json_t *obj)
{
	struct cronctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	ctlb_enqueue(st->w, key);
}

static void cj_updated(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	cj_added(arg, obj);
}

static void job_event(struct cronctl *st, json_t *old, json_t *obj)
{
	json_t *job = obj ? obj : old;
	const json_t *ref = ctlb_controller_ref(job);

	ctlb_index_update(st->by_owner, old, obj);
	if (!ref || !ctlb_streq(ctlb_str(ref, "kind"), "CronJob"))
		return;
	cleanup_free char *key =
		xasprintf("%s/%s", ctlb_str(job, "metadata.namespace"), ctlb_str(ref, "name"));

	ctlb_enqueue(st->w, key);
}

static void job_added(void *arg, json_t *obj)
{
	job_event(arg, NULL, obj);
}

static void job_updated(void *arg, json_t *old, json_t *obj)
{
	job_event(arg, old, obj);
}

static void job_deleted(void *arg, json_t *obj)
{
	job_event(arg, obj, NULL);
}

void cronjob_stop(void *state)
{
	struct cronctl *st = state;

	if (!st)
		return;
	ctlb_workers_stop(st->w);
	informer_stop(st->cronjobs);
	informer_stop(st->jobs);
	ctlb_workers_free(st->w);
	ctlb_index_free(st->by_owner);
	while (st->zones) {
		struct zone_cache *zc = st->zones;

		st->zones = zc->next;
		cron_zone_free(zc->zone);
		free(zc->name);
		free(zc);
	}
	pthread_mutex_destroy(&st->lock);
	free(st);
}

int cronjob_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct cronctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers ch = {
		.add = cj_added, .update = cj_updated, .del = NULL, .arg = st};
	const struct informer_handlers jh = {
		.add = job_added, .update = job_updated, .del = job_deleted, .arg = st};
	int rc;

	st->c = c;
	st->by_owner = ctlb_index_new();
	pthread_mutex_init(&st->lock, NULL);
	rc = ctlb_workers_start(cfg && cfg->workers > 0 ? cfg->workers : 2, sync_key, st, &st->w,
				err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, BATCH_V1 "/jobs", &jh, &st->jobs, err);
	if (rc < 0)
		goto fail;
	rc = informer_start(c, BATCH_V1 "/cronjobs", &ch, &st->cronjobs, err);
	if (rc < 0)
		goto fail;
	atomic_store(&st->ready, true);
	*ret = st;
	return 0;
fail:
	cronjob_stop(st);
	return err_wrap(err, "start cronjob controller");
}
