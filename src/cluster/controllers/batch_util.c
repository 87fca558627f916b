/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared plumbing of the workload controllers (job, cronjob, daemonset, statefulset): see
 * batch_util.h. Everything here is either pure (predicates, matching, hashing) or a thin
 * layer over the client library (requests, work queues), so the controllers read as
 * upstream's sync loops.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/batch_util.h"

/* ---- clock --------------------------------------------------------------------------- */

static _Atomic int64_t clock_shift_ms;
int64_t ctlb_job_backoff_base_ms = 10000;

int64_t ctlb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&clock_shift_ms);
}

int64_t ctlb_now(void)
{
	int64_t ms = ctlb_now_ms();

	return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

void ctlb_clock_shift(int64_t ms)
{
	atomic_store(&clock_shift_ms, ms);
}

int64_t ctlb_time_parse(const char *s)
{
	int y, mo, d, h, mi, sec, n = 0;
	struct tm tm = {0};
	int64_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -1;
	s += n;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (int64_t)timegm(&tm);
	if (*s == 'Z' || *s == 'z')
		return s[1] ? -1 : t;
	if ((*s == '+' || *s == '-') && strlen(s) == 6 && s[3] == ':') {
		int oh = (s[1] - '0') * 10 + (s[2] - '0'), om = (s[4] - '0') * 10 + (s[5] - '0');
		int64_t off = oh * 3600 + om * 60;

		return *s == '+' ? t - off : t + off;
	}
	return -1;
}

json_t *ctlb_time_json(int64_t t)
{
	cleanup_free char *s = ctlb_time_fmt(t);

	return json_string(s);
}

char *ctlb_time_fmt(int64_t t)
{
	time_t tt = (time_t)t;
	char buf[32];
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* ---- JSON ------------------------------------------------------------------------------ */

json_t *ctlb_get(const json_t *obj, const char *path)
{
	const json_t *cur = obj;
	const char *p = path;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, n);
		p += n + (dot ? 1 : 0);
	}
	return (json_t *)cur;
}

const char *ctlb_str(const json_t *obj, const char *path)
{
	return json_string_value(ctlb_get(obj, path));
}

int64_t ctlb_int(const json_t *obj, const char *path, int64_t def)
{
	json_t *v = ctlb_get(obj, path);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

bool ctlb_bool(const json_t *obj, const char *path, bool def)
{
	json_t *v = ctlb_get(obj, path);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *ctlb_obj(json_t *obj, const char *path)
{
	json_t *cur = obj;
	const char *p = path;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		json_t *next = json_object_getn(cur, p, n);

		if (!json_is_object(next)) {
			next = json_object();
			json_object_setn_new(cur, p, n, next);
		}
		cur = next;
		p += n + (dot ? 1 : 0);
	}
	return cur;
}

bool ctlb_streq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int64_t ctlb_int_or_percent(const json_t *v, int64_t total, bool round_up, int64_t def)
{
	const char *s;
	char *end;
	long pct;

	if (json_is_integer(v))
		return json_integer_value(v);
	s = json_string_value(v);
	if (!s)
		return def;
	pct = strtol(s, &end, 10);
	if (end == s || strcmp(end, "%") != 0) {
		if (end != s && !*end)
			return pct;
		return def;
	}
	if (round_up)
		return (pct * total + 99) / 100;
	return pct * total / 100;
}

/* ---- selectors ------------------------------------------------------------------------- */

static bool values_has(const json_t *values, const char *v)
{
	size_t i;
	json_t *e;

	json_array_foreach (values, i, e)
		if (ctlb_streq(json_string_value(e), v))
			return true;
	return false;
}

static bool parse_long(const char *s, long long *ret)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*ret = strtoll(s, &end, 10);
	return !*end && !errno;
}

bool ctlb_requirement_match(const json_t *req, const char *value)
{
	const char *op = ctlb_str(req, "operator");
	const json_t *values = json_object_get(req, "values");
	long long a, b;

	if (!op)
		return false;
	if (strcmp(op, "In") == 0)
		return value && values_has(values, value);
	if (strcmp(op, "NotIn") == 0)
		return !value || !values_has(values, value);
	if (strcmp(op, "Exists") == 0)
		return value != NULL;
	if (strcmp(op, "DoesNotExist") == 0)
		return value == NULL;
	if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
		if (json_array_size(values) != 1 || !parse_long(value, &a) ||
		    !parse_long(json_string_value(json_array_get(values, 0)), &b))
			return false;
		return op[0] == 'G' ? a > b : a < b;
	}
	return false;
}

bool ctlb_selector_match(const json_t *selector, const json_t *labels)
{
	const char *k;
	json_t *v, *req;
	size_t i;

	if (!json_is_object(selector))
		return false;
	json_object_foreach ((json_t *)selector, k, v) {
		if (strcmp(k, "matchLabels") == 0) {
			const char *lk;
			json_t *lv;

			json_object_foreach (v, lk, lv)
				if (!ctlb_streq(json_string_value(json_object_get(labels, lk)),
						json_string_value(lv)))
					return false;
		} else if (strcmp(k, "matchExpressions") == 0) {
			json_array_foreach (v, i, req) {
				const char *key = ctlb_str(req, "key");

				if (!key ||
				    !ctlb_requirement_match(
					    req, json_string_value(json_object_get(labels, key))))
					return false;
			}
		}
	}
	return true;
}

/* ---- owners and pods ------------------------------------------------------------------- */

const json_t *ctlb_controller_ref(const json_t *obj)
{
	json_t *refs = ctlb_get(obj, "metadata.ownerReferences"), *r;
	size_t i;

	json_array_foreach (refs, i, r)
		if (json_is_true(json_object_get(r, "controller")))
			return r;
	return NULL;
}

const char *ctlb_controller_uid(const json_t *obj)
{
	return ctlb_str(ctlb_controller_ref(obj), "uid");
}

json_t *ctlb_owner_ref(const json_t *owner, const char *api_version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:b, s:b}", "apiVersion", api_version, "kind",
			 kind, "name", ctlb_str(owner, "metadata.name"), "uid",
			 ctlb_str(owner, "metadata.uid"), "controller", 1, "blockOwnerDeletion", 1);
}

json_t *ctlb_pod_from_template(const json_t *template, const json_t *owner, const char *api_version,
			       const char *kind)
{
	json_t *pod = json_pack("{s:s, s:s, s:{}}", "apiVersion", "v1", "kind", "Pod", "metadata");
	json_t *meta = json_object_get(pod, "metadata"), *v;
	static const char *const copied[] = {"labels", "annotations", "finalizers"};

	for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		v = ctlb_get(template, "metadata");
		v = json_object_get(v, copied[i]);
		if (json_object_size(v) || json_array_size(v))
			json_object_set_new(meta, copied[i], json_deep_copy(v));
	}
	json_object_set_new(meta, "ownerReferences",
			    json_pack("[o]", ctlb_owner_ref(owner, api_version, kind)));
	v = json_object_get(template, "spec");
	json_object_set_new(pod, "spec", v ? json_deep_copy(v) : json_object());
	return pod;
}

bool ctlb_pod_terminal(const json_t *pod)
{
	const char *phase = ctlb_str(pod, "status.phase");

	return ctlb_streq(phase, "Succeeded") || ctlb_streq(phase, "Failed");
}

bool ctlb_pod_active(const json_t *pod)
{
	return !ctlb_pod_terminal(pod) && !ctlb_get(pod, "metadata.deletionTimestamp");
}

json_t *ctlb_condition(const json_t *obj, const char *type)
{
	json_t *conds = ctlb_get(obj, "status.conditions"), *c;
	size_t i;

	json_array_foreach (conds, i, c)
		if (ctlb_streq(ctlb_str(c, "type"), type))
			return c;
	return NULL;
}

bool ctlb_pod_ready(const json_t *pod)
{
	return ctlb_streq(ctlb_str(ctlb_condition(pod, "Ready"), "status"), "True");
}

bool ctlb_pod_available(const json_t *pod, int64_t min_ready, int64_t now)
{
	int64_t since;

	if (!ctlb_pod_ready(pod))
		return false;
	if (min_ready <= 0)
		return true;
	since = ctlb_time_parse(ctlb_str(ctlb_condition(pod, "Ready"), "lastTransitionTime"));
	return since >= 0 && since + min_ready <= now;
}

bool ctlb_has_finalizer(const json_t *obj, const char *finalizer)
{
	json_t *f = ctlb_get(obj, "metadata.finalizers"), *e;
	size_t i;

	json_array_foreach (f, i, e)
		if (ctlb_streq(json_string_value(e), finalizer))
			return true;
	return false;
}

static int phase_rank(const json_t *pod)
{
	const char *p = ctlb_str(pod, "status.phase");

	if (ctlb_streq(p, "Pending") || !p)
		return 0;
	if (ctlb_streq(p, "Unknown"))
		return 1;
	return 2;
}

static int64_t restarts(const json_t *pod)
{
	json_t *cs = ctlb_get(pod, "status.containerStatuses"), *c;
	int64_t n = 0;
	size_t i;

	json_array_foreach (cs, i, c)
		n += ctlb_int(c, "restartCount", 0);
	return n;
}

static int cmp64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

int ctlb_pod_cmp_delete_first(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	bool sa = ctlb_str(a, "spec.nodeName") != NULL, sb = ctlb_str(b, "spec.nodeName") != NULL;
	bool ra = ctlb_pod_ready(a), rb = ctlb_pod_ready(b);
	int c;

	if (sa != sb)
		return sa ? 1 : -1;
	if ((c = phase_rank(a) - phase_rank(b)) != 0)
		return c;
	if (ra != rb)
		return ra ? 1 : -1;
	if (ra) {
		int64_t ta = ctlb_time_parse(
				ctlb_str(ctlb_condition(a, "Ready"), "lastTransitionTime")),
			tb = ctlb_time_parse(
				ctlb_str(ctlb_condition(b, "Ready"), "lastTransitionTime"));

		if ((c = cmp64(tb, ta)) != 0)
			return c;
	}
	if ((c = cmp64(restarts(b), restarts(a))) != 0)
		return c;
	return cmp64(ctlb_time_parse(ctlb_str(b, "metadata.creationTimestamp")),
		     ctlb_time_parse(ctlb_str(a, "metadata.creationTimestamp")));
}

/* ---- requests -------------------------------------------------------------------------- */

char *ctlb_path(const char *group_version, const char *plural, const char *ns, const char *name,
		const char *sub)
{
	return xasprintf("%s%s%s/%s%s%s%s%s", group_version, ns ? "/namespaces/" : "", ns ? ns : "",
			 plural, name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
}

static int status_error(int status, struct err *err)
{
	if (!err->code)
		return err_set(err, EIO, "unexpected HTTP status %d", status);
	return -err->code;
}

int ctlb_delete(struct kc *c, const char *path, const char *propagation, const char *uid,
		struct err *err)
{
	cleanup_json json_t *body =
		json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
	int rc;

	if (propagation)
		json_object_set_new(body, "propagationPolicy", json_string(propagation));
	if (uid)
		json_object_set_new(body, "preconditions", json_pack("{s:s}", "uid", uid));
	rc = kc_request(c, "DELETE", path, NULL, body, NULL, err);
	if (rc < 0)
		return rc;
	if (rc == 404 || (rc == 409 && uid)) {
		/* Gone, or replaced by a namesake: nothing of ours is left to delete. */
		err_clear(err);
		return 0;
	}
	return rc >= 400 ? status_error(rc, err) : 0;
}

int ctlb_remove_finalizer(struct kc *c, const char *path, const json_t *obj, const char *finalizer,
			  struct err *err)
{
	cleanup_json json_t *patch = NULL;
	int rc;

	if (!ctlb_has_finalizer(obj, finalizer))
		return 0;
	/* Upstream's form: removing a value that is already gone is a no-op, not a conflict. */
	patch = json_pack("{s:{s:[s]}}", "metadata", "$deleteFromPrimitiveList/finalizers",
			  finalizer);
	rc = kc_request(c, "PATCH", path, "application/strategic-merge-patch+json", patch, NULL,
			err);
	if (rc < 0)
		return rc;
	if (rc == 404) {
		err_clear(err);
		return 0;
	}
	return rc >= 400 ? status_error(rc, err) : 0;
}

int ctlb_put(struct kc *c, const char *path, const json_t *obj, json_t **ret_obj, struct err *err)
{
	return kc_request(c, "PUT", path, NULL, obj, ret_obj, err);
}

/* ---- a small string map ---------------------------------------------------------------- */

struct smap_entry {
	char *key;
	void *val;
	struct smap_entry *next;
};

struct smap {
	struct smap_entry **b;
	size_t nb, n;
};

static uint32_t fnv32a(const void *data, size_t n, uint32_t h)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static struct smap_entry **smap_slot(struct smap *m, const char *key)
{
	struct smap_entry **e;

	if (!m->nb) {
		m->nb = 64;
		m->b = xcalloc(m->nb, sizeof(*m->b));
	}
	e = &m->b[fnv32a(key, strlen(key), 2166136261u) % m->nb];
	while (*e && strcmp((*e)->key, key) != 0)
		e = &(*e)->next;
	return e;
}

static void smap_grow(struct smap *m)
{
	struct smap old = *m;

	m->nb = old.nb * 4;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	for (size_t i = 0; i < old.nb; i++) {
		struct smap_entry *e = old.b[i], *next;

		for (; e; e = next) {
			next = e->next;
			struct smap_entry **s = smap_slot(m, e->key);

			e->next = NULL;
			*s = e;
		}
	}
	free(old.b);
}

static void *smap_get(struct smap *m, const char *key)
{
	struct smap_entry **e = smap_slot(m, key);

	return *e ? (*e)->val : NULL;
}

/* Sets @key to @val; returns the previous value (the caller frees it). */
static void *smap_put(struct smap *m, const char *key, void *val)
{
	struct smap_entry **e = smap_slot(m, key);
	void *old;

	if (*e) {
		old = (*e)->val;
		(*e)->val = val;
		return old;
	}
	*e = xcalloc(1, sizeof(**e));
	(*e)->key = xstrdup(key);
	(*e)->val = val;
	if (++m->n > m->nb * 2)
		smap_grow(m);
	return NULL;
}

static void *smap_del(struct smap *m, const char *key)
{
	struct smap_entry **e = smap_slot(m, key), *dead = *e;
	void *val;

	if (!dead)
		return NULL;
	*e = dead->next;
	val = dead->val;
	free(dead->key);
	free(dead);
	m->n--;
	return val;
}

static void smap_done(struct smap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->nb; i++) {
		struct smap_entry *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (free_val)
				free_val(e->val);
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

/* ---- owner index ----------------------------------------------------------------------- */

struct ctlb_index {
	pthread_mutex_t lock;
	struct smap owners; /* uid -> json object {key: obj} */
};

struct ctlb_index *ctlb_index_new(void)
{
	struct ctlb_index *ix = xcalloc(1, sizeof(*ix));

	pthread_mutex_init(&ix->lock, NULL);
	return ix;
}

static char *obj_key(const json_t *obj)
{
	const char *ns = ctlb_str(obj, "metadata.namespace"),
		   *name = ctlb_str(obj, "metadata.name");

	return xasprintf("%s/%s", ns ? ns : "", name ? name : "");
}

void ctlb_index_update(struct ctlb_index *ix, const json_t *old, json_t *obj)
{
	const char *old_uid = old ? ctlb_controller_uid(old) : NULL;
	const char *uid = obj ? ctlb_controller_uid(obj) : NULL;
	cleanup_free char *key = obj_key(obj ? obj : old);
	json_t *set;

	pthread_mutex_lock(&ix->lock);
	if (old_uid && !ctlb_streq(old_uid, uid)) {
		set = smap_get(&ix->owners, old_uid);
		json_object_del(set, key);
		if (set && json_object_size(set) == 0)
			json_decref(smap_del(&ix->owners, old_uid));
	}
	if (uid) {
		set = smap_get(&ix->owners, uid);
		if (!set) {
			set = json_object();
			smap_put(&ix->owners, uid, set);
		}
		json_object_set(set, key, obj);
	} else if (!obj && old_uid) {
		set = smap_get(&ix->owners, old_uid);
		json_object_del(set, key);
		if (set && json_object_size(set) == 0)
			json_decref(smap_del(&ix->owners, old_uid));
	}
	pthread_mutex_unlock(&ix->lock);
}

json_t *ctlb_index_get(struct ctlb_index *ix, const char *uid)
{
	json_t *arr = json_array(), *set, *v;
	const char *k;

	pthread_mutex_lock(&ix->lock);
	set = uid ? smap_get(&ix->owners, uid) : NULL;
	json_object_foreach (set, k, v)
		json_array_append(arr, v);
	pthread_mutex_unlock(&ix->lock);
	return arr;
}

static void decref_val(void *v)
{
	json_decref(v);
}

void ctlb_index_free(struct ctlb_index *ix)
{
	if (!ix)
		return;
	smap_done(&ix->owners, decref_val);
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}

/* ---- expectations ---------------------------------------------------------------------- */

struct expectation {
	int adds, dels;
	int64_t at_ms;
};

struct ctlb_expect {
	pthread_mutex_t lock;
	struct smap m;
};

#define EXPECT_TTL_MS (5 * 60 * 1000)

struct ctlb_expect *ctlb_expect_new(void)
{
	struct ctlb_expect *e = xcalloc(1, sizeof(*e));

	pthread_mutex_init(&e->lock, NULL);
	return e;
}

void ctlb_expect_add(struct ctlb_expect *e, const char *key, int adds, int dels)
{
	struct expectation *x;

	pthread_mutex_lock(&e->lock);
	x = smap_get(&e->m, key);
	if (!x) {
		x = xcalloc(1, sizeof(*x));
		smap_put(&e->m, key, x);
	}
	if (x->adds < 0)
		x->adds = 0;
	if (x->dels < 0)
		x->dels = 0;
	x->adds += adds;
	x->dels += dels;
	x->at_ms = ctlb_now_ms();
	pthread_mutex_unlock(&e->lock);
}

void ctlb_expect_observed(struct ctlb_expect *e, const char *key, int adds, int dels)
{
	struct expectation *x;

	pthread_mutex_lock(&e->lock);
	x = smap_get(&e->m, key);
	if (x) {
		x->adds -= adds;
		x->dels -= dels;
	}
	pthread_mutex_unlock(&e->lock);
}

bool ctlb_expect_satisfied(struct ctlb_expect *e, const char *key)
{
	struct expectation *x;
	bool ok;

	pthread_mutex_lock(&e->lock);
	x = smap_get(&e->m, key);
	ok = !x || (x->adds <= 0 && x->dels <= 0) || ctlb_now_ms() - x->at_ms > EXPECT_TTL_MS;
	pthread_mutex_unlock(&e->lock);
	return ok;
}

void ctlb_expect_forget(struct ctlb_expect *e, const char *key)
{
	pthread_mutex_lock(&e->lock);
	free(smap_del(&e->m, key));
	pthread_mutex_unlock(&e->lock);
}

void ctlb_expect_free(struct ctlb_expect *e)
{
	if (!e)
		return;
	smap_done(&e->m, free);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/* ---- workers --------------------------------------------------------------------------- */

struct ctlb_workers {
	struct workqueue *q;
	ctlb_sync_fn fn;
	void *arg;
	int n;
	pthread_t *threads;
};

static void *worker_main(void *p)
{
	struct ctlb_workers *w = p;
	char *key;

	while ((key = wq_get(w->q))) {
		int64_t after = -1;

		if (w->fn(w->arg, key, &after) < 0) {
			wq_add_rate_limited(w->q, key);
		} else {
			wq_forget(w->q, key);
			if (after >= 0)
				wq_add_after(w->q, key, after);
		}
		wq_done(w->q, key);
		free(key);
	}
	return NULL;
}

int ctlb_workers_start(int n, ctlb_sync_fn fn, void *arg, struct ctlb_workers **ret,
		       struct err *err)
{
	struct ctlb_workers *w = xcalloc(1, sizeof(*w));
	int rc;

	w->q = wq_new();
	w->fn = fn;
	w->arg = arg;
	w->threads = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*w->threads));
	for (w->n = 0; w->n < (n > 0 ? n : 1); w->n++) {
		rc = pthread_create(&w->threads[w->n], NULL, worker_main, w);
		if (rc) {
			ctlb_workers_free(w);
			return err_errno(err, rc, "start controller worker");
		}
	}
	*ret = w;
	return 0;
}

void ctlb_enqueue(struct ctlb_workers *w, const char *key)
{
	wq_add(w->q, key);
}

void ctlb_enqueue_after(struct ctlb_workers *w, const char *key, int64_t ms)
{
	wq_add_after(w->q, key, ms);
}

void ctlb_workers_stop(struct ctlb_workers *w)
{
	if (!w)
		return;
	wq_shutdown(w->q);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	w->n = 0;
}

void ctlb_workers_free(struct ctlb_workers *w)
{
	if (!w)
		return;
	ctlb_workers_stop(w);
	wq_free(w->q);
	free(w->threads);
	free(w);
}

/* ---- controller revisions -------------------------------------------------------------- */

char *ctlb_revision_hash(const json_t *data, int64_t collision_count)
{
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	cleanup_free char *text = jdump_s(data, JSON_COMPACT | JSON_SORT_KEYS);
	char dec[16];
	uint32_t h = fnv32a(text, strlen(text), 2166136261u);
	size_t i;

	if (collision_count > 0) {
		char n[24];

		snprintf(n, sizeof(n), "%lld", (long long)collision_count);
		h = fnv32a(n, strlen(n), h);
	}
	snprintf(dec, sizeof(dec), "%u", h);
	for (i = 0; dec[i]; i++)
		dec[i] = alnum[(unsigned char)dec[i] % (sizeof(alnum) - 1)];
	return xstrdup(dec);
}

json_t *ctlb_revision_data(const json_t *owner)
{
	json_t *tmpl = json_deep_copy(ctlb_get(owner, "spec.template"));

	if (!tmpl)
		tmpl = json_object();
	json_object_set_new(tmpl, "$patch", json_string("replace"));
	return json_pack("{s:{s:o}}", "spec", "template", tmpl);
}

json_t *ctlb_revision_new(const json_t *owner, const char *api_version, const char *kind,
			  const json_t *labels, const char *hash, json_t *data, int64_t revision)
{
	json_t *l = json_is_object(labels) ? json_deep_copy(labels) : json_object();
	cleanup_free char *name = xasprintf("%s-%s", ctlb_str(owner, "metadata.name"), hash);

	json_object_set_new(l, "controller-revision-hash", json_string(hash));
	return json_pack("{s:s, s:s, s:{s:s, s:s?, s:o, s:[o]}, s:o, s:I}", "apiVersion", "apps/v1",
			 "kind", "ControllerRevision", "metadata", "name", name, "namespace",
			 ctlb_str(owner, "metadata.namespace"), "labels", l, "ownerReferences",
			 ctlb_owner_ref(owner, api_version, kind), "data", data, "revision",
			 (json_int_t)revision);
}

static int64_t max_revision(json_t *revs)
{
	int64_t max = 0;
	json_t *r;
	size_t i;

	json_array_foreach (revs, i, r)
		if (ctlb_int(r, "revision", 0) > max)
			max = ctlb_int(r, "revision", 0);
	return max;
}

static int renumber(struct kc *c, json_t *rev, int64_t number, json_t **ret, struct err *err)
{
	cleanup_free char *path = ctlb_path("/apis/apps/v1", "controllerrevisions",
					    ctlb_str(rev, "metadata.namespace"),
					    ctlb_str(rev, "metadata.name"), NULL);
	cleanup_json json_t *patch = json_pack("{s:I}", "revision", (json_int_t)number);
	int rc = kc_request(c, "PATCH", path, "application/merge-patch+json", patch, ret, err);

	if (rc < 0)
		return rc;
	return rc >= 400 ? status_error(rc, err) : 0;
}

int ctlb_revision_sync(struct kc *c, const json_t *owner, const char *kind, json_t *revs,
		       const json_t *labels, json_t **ret_rev, struct err *err)
{
	cleanup_json json_t *data = ctlb_revision_data(owner), *created = NULL, *obj = NULL;
	cleanup_free char *hash = NULL, *path = NULL;
	int64_t max = max_revision(revs);
	json_t *r;
	size_t i;
	int rc;

	json_array_foreach (revs, i, r) {
		if (!json_equal(json_object_get(r, "data"), data))
			continue;
		if (ctlb_int(r, "revision", 0) < max)
			return renumber(c, r, max + 1, ret_rev, err);
		*ret_rev = json_incref(r);
		return 0;
	}
	hash = ctlb_revision_hash(data, ctlb_int(owner, "status.collisionCount", 0));
	obj = ctlb_revision_new(owner, "apps/v1", kind, labels, hash, json_incref(data), max + 1);
	path = ctlb_path("/apis/apps/v1", "controllerrevisions",
			 ctlb_str(owner, "metadata.namespace"), NULL, NULL);
	rc = kc_request(c, "POST", path, NULL, obj, &created, err);
	if (rc < 0)
		return rc;
	if (rc == 409) {
		cleanup_json json_t *have = NULL;
		cleanup_free char *one = ctlb_path("/apis/apps/v1", "controllerrevisions",
						   ctlb_str(owner, "metadata.namespace"),
						   ctlb_str(obj, "metadata.name"), NULL);

		err_clear(err);
		rc = kc_request(c, "GET", one, NULL, NULL, &have, err);
		if (rc < 0)
			return rc;
		if (rc >= 400)
			return status_error(rc, err);
		if (json_equal(json_object_get(have, "data"), data) &&
		    ctlb_streq(ctlb_controller_uid(have), ctlb_str(owner, "metadata.uid"))) {
			*ret_rev = TAKE_PTR(have);
			return 0;
		}
		return err_set(err, EEXIST, "controller revision '%s' exists with other data",
			       ctlb_str(obj, "metadata.name"));
	}
	if (rc >= 400)
		return status_error(rc, err);
	*ret_rev = TAKE_PTR(created);
	return 0;
}

static int cmp_revision(const void *a, const void *b)
{
	int64_t ra = ctlb_int(*(json_t *const *)a, "revision", 0);
	int64_t rb = ctlb_int(*(json_t *const *)b, "revision", 0);

	return ra < rb ? -1 : ra > rb;
}

void ctlb_revision_truncate(struct kc *c, json_t *revs, const char *const *keep, const json_t *live,
			    int64_t limit)
{
	size_t n = 0, total = json_array_size(revs), i;
	json_t **v = xcalloc(total + 1, sizeof(*v)), *r;

	json_array_foreach (revs, i, r) {
		const char *name = ctlb_str(r, "metadata.name");
		const char *hash = json_string_value(json_object_get(ctlb_get(r, "metadata.labels"),
								     "controller-revision-hash"));
		bool spared = (hash && json_object_get(live, hash)) ||
			      (name && json_object_get(live, name));

		for (const char *const *k = keep; k && *k; k++)
			spared = spared || ctlb_streq(*k, name);
		if (!spared)
			v[n++] = r;
	}
	qsort(v, n, sizeof(*v), cmp_revision);
	for (i = 0; limit >= 0 && (int64_t)(n - i) > limit; i++) {
		cleanup_free char *path = ctlb_path("/apis/apps/v1", "controllerrevisions",
						    ctlb_str(v[i], "metadata.namespace"),
						    ctlb_str(v[i], "metadata.name"), NULL);
		cleanup_err struct err err = ERR_INIT;

		if (ctlb_delete(c, path, NULL, ctlb_str(v[i], "metadata.uid"), &err) < 0)
			log_debug("delete controller revision '%s': %s", path, err.msg);
	}
	free(v);
}
