/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared pieces of the ReplicaSet and Deployment controllers (workload_util.h): index maps,
 * pod predicates and deletion order, expectations, slow-start batches, claims, conditions
 * and upstream's rollout arithmetic (pkg/controller/deployment/util).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/allocator.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jdump.h"
#include "cluster/client/client.h"
#include "cluster/controllers/workload_util.h"

/* Map: open addressing with linear probing; deleted slots keep a tombstone key. */

static char tombstone[1];

struct wl_slot {
	char *key; /* NULL: never used; tombstone: deleted */
	void *val;
	uint32_t hash;
};

struct wl_map {
	struct wl_slot *slots;
	size_t cap;  /* power of two */
	size_t len;  /* live entries */
	size_t used; /* live entries and tombstones */
};

static uint32_t fnv1a(uint32_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#define FNV_OFFSET 2166136261u

struct wl_map *wl_map_new(void)
{
	struct wl_map *m = xcalloc(1, sizeof(*m));

	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	return m;
}

void wl_map_free(struct wl_map *m, void (*free_val)(void *val))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].key || m->slots[i].key == tombstone)
			continue;
		free(m->slots[i].key);
		if (free_val)
			free_val(m->slots[i].val);
	}
	free(m->slots);
	free(m);
}

static struct wl_slot *find_slot(const struct wl_map *m, const char *key, uint32_t h)
{
	for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		struct wl_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != tombstone && s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
}

void *wl_map_get(const struct wl_map *m, const char *key)
{
	struct wl_slot *s = find_slot(m, key, fnv1a(FNV_OFFSET, key, strlen(key)));

	return s ? s->val : NULL;
}

static void map_grow(struct wl_map *m)
{
	struct wl_slot *old = m->slots;
	size_t old_cap = m->cap;

	/* Rehashing drops tombstones; only grow when live entries need the room. */
	if (m->len * 2 >= m->cap)
		m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->used = m->len;
	for (size_t i = 0; i < old_cap; i++) {
		size_t j;

		if (!old[i].key || old[i].key == tombstone)
			continue;
		for (j = old[i].hash & (m->cap - 1); m->slots[j].key; j = (j + 1) & (m->cap - 1))
			;
		m->slots[j] = old[i];
	}
	free(old);
}

void *wl_map_put(struct wl_map *m, const char *key, void *val)
{
	uint32_t h = fnv1a(FNV_OFFSET, key, strlen(key));
	struct wl_slot *s = find_slot(m, key, h);
	size_t i;

	if (s) {
		void *prev = s->val;

		s->val = val;
		return prev;
	}
	if ((m->used + 1) * 10 >= m->cap * 7)
		map_grow(m);
	for (i = h & (m->cap - 1); m->slots[i].key && m->slots[i].key != tombstone;
	     i = (i + 1) & (m->cap - 1))
		;
	if (!m->slots[i].key)
		m->used++;
	m->slots[i] = (struct wl_slot){xstrdup(key), val, h};
	m->len++;
	return NULL;
}

void *wl_map_del(struct wl_map *m, const char *key)
{
	struct wl_slot *s = find_slot(m, key, fnv1a(FNV_OFFSET, key, strlen(key)));
	void *val;

	if (!s)
		return NULL;
	val = s->val;
	free(s->key);
	s->key = tombstone;
	s->val = NULL;
	m->len--;
	return val;
}

size_t wl_map_len(const struct wl_map *m)
{
	return m->len;
}

bool wl_map_next(const struct wl_map *m, size_t *pos, const char **ret_key, void **ret_val)
{
	for (; *pos < m->cap; (*pos)++) {
		struct wl_slot *s = &m->slots[*pos];

		if (!s->key || s->key == tombstone)
			continue;
		if (ret_key)
			*ret_key = s->key;
		if (ret_val)
			*ret_val = s->val;
		(*pos)++;
		return true;
	}
	return false;
}

/* Lists and the owner index. */

static void list_grow(struct wl_list *l)
{
	if (l->n < l->cap)
		return;
	l->cap = l->cap ? l->cap * 2 : 16;
	l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	if (l->facts || l->n == 0)
		l->facts = xrealloc(l->facts, l->cap * sizeof(*l->facts));
}

void wl_list_add(struct wl_list *l, json_t *obj)
{
	list_grow(l);
	/* a list mixing entries with and without facts has none */
	free(l->facts);
	l->facts = NULL;
	l->v[l->n++] = json_incref(obj);
}

void wl_list_add_pod(struct wl_list *l, json_t *obj, const struct wl_pod_facts *f)
{
	list_grow(l);
	if (l->facts)
		l->facts[l->n] = *f;
	l->v[l->n++] = json_incref(obj);
}

void wl_list_done(struct wl_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i]);
	free(l->v);
	free(l->facts);
	*l = (struct wl_list){0};
}

struct ix_entry {
	json_t *obj;
	char *group; /* controller uid, or namespace for orphans */
	bool orphan;
	struct wl_pod_facts facts; /* in a pod index */
};

struct wl_index {
	struct wl_map *all;     /* key -> struct ix_entry */
	struct wl_map *owned;   /* controller uid -> map of key -> struct ix_entry */
	struct wl_map *orphans; /* namespace -> map of key -> struct ix_entry */
	bool pods;
};

static void ix_entry_free(void *p)
{
	struct ix_entry *e = p;

	if (!e)
		return;
	json_decref(e->obj);
	free(e->group);
	free(e);
}

static void ix_group_free(void *p)
{
	wl_map_free(p, NULL);
}

struct wl_index *wl_index_new(void)
{
	struct wl_index *ix = xcalloc(1, sizeof(*ix));

	ix->all = wl_map_new();
	ix->owned = wl_map_new();
	ix->orphans = wl_map_new();
	return ix;
}

struct wl_index *wl_index_new_pods(void)
{
	struct wl_index *ix = wl_index_new();

	ix->pods = true;
	return ix;
}

void wl_index_free(struct wl_index *ix)
{
	if (!ix)
		return;
	wl_map_free(ix->owned, ix_group_free);
	wl_map_free(ix->orphans, ix_group_free);
	wl_map_free(ix->all, ix_entry_free);
	free(ix);
}

void wl_index_del(struct wl_index *ix, const char *key)
{
	struct ix_entry *e = wl_map_del(ix->all, key);
	struct wl_map *groups, *g;

	if (!e)
		return;
	groups = e->orphan ? ix->orphans : ix->owned;
	g = wl_map_get(groups, e->group);
	if (g && wl_map_del(g, key) && wl_map_len(g) == 0)
		wl_map_free(wl_map_del(groups, e->group), NULL);
	ix_entry_free(e);
}

json_t *wl_index_get(const struct wl_index *ix, const char *key)
{
	const struct ix_entry *e = wl_map_get(ix->all, key);

	return e ? e->obj : NULL;
}

static void copy_keys(json_t *to, const json_t *from, const char *const *keys)
{
	for (; *keys; keys++) {
		json_t *v = json_object_get(from, *keys);

		if (v)
			json_object_set(to, *keys, v);
	}
}

/*
 * What the pod controllers read of a pod they hold: identity, labels, owners, times, the
 * deletion cost, node, phase, conditions and restart counts. A pod index keeps this
 * instead of the whole pod, a fraction of its tree; the parts it keeps are shared with
 * the pod, which nobody changes.
 */
static json_t *pod_slim(const json_t *pod)
{
	static const char *const top[] = {"apiVersion", "kind", NULL};
	static const char *const meta_keys[] = {"name",
						"namespace",
						"uid",
						"resourceVersion",
						"generateName",
						"generation",
						"labels",
						"ownerReferences",
						"finalizers",
						"creationTimestamp",
						"deletionTimestamp",
						"deletionGracePeriodSeconds",
						NULL};
	static const char *const status_keys[] = {"phase", "conditions", NULL};
	json_t *out = json_object(), *meta = json_object(), *status = json_object();
	const json_t *m = json_object_get(pod, "metadata"), *st = json_object_get(pod, "status");
	const char *cost = wl_annotation(pod, WL_ANN_DELETION_COST);
	const char *node = wl_str(pod, "spec.nodeName");
	json_t *cs = wl_get(pod, "status.containerStatuses"), *c;
	size_t i;

	copy_keys(out, pod, top);
	copy_keys(meta, m, meta_keys);
	if (cost)
		json_object_set_new(meta, "annotations",
				    json_pack("{ss}", WL_ANN_DELETION_COST, cost));
	json_object_set_new(out, "metadata", meta);
	if (node)
		json_object_set_new(out, "spec", json_pack("{ss}", "nodeName", node));
	copy_keys(status, st, status_keys);
	if (json_is_array(cs)) {
		json_t *counts = json_array();

		json_array_foreach (cs, i, c)
			json_array_append_new(counts,
					      json_pack("{sI}", "restartCount",
							(json_int_t)wl_int(c, "restartCount", 0)));
		json_object_set_new(status, "containerStatuses", counts);
	}
	json_object_set_new(out, "status", status);
	return out;
}

void wl_index_put(struct wl_index *ix, const char *key, json_t *obj)
{
	const json_t *ref = wl_controller_ref(obj);
	const char *uid = ref ? wl_str(ref, "uid") : NULL;
	const char *group = uid ? uid : (wl_str(obj, "metadata.namespace") ?: "");
	struct ix_entry *e = wl_map_get(ix->all, key);
	struct wl_map *groups, *g;

	if (e && e->orphan == !uid && strcmp(e->group, group) == 0) {
		/* the same owner, as for most updates: the entry stays where it is */
		json_decref(e->obj);
		e->obj = ix->pods ? pod_slim(obj) : json_incref(obj);
		if (ix->pods)
			wl_pod_facts_of(e->obj, &e->facts);
		return;
	}
	wl_index_del(ix, key);
	e = xcalloc(1, sizeof(*e));
	e->obj = ix->pods ? pod_slim(obj) : json_incref(obj);
	if (ix->pods)
		wl_pod_facts_of(e->obj, &e->facts);
	e->orphan = !uid;
	e->group = xstrdup(group);
	wl_map_put(ix->all, key, e);
	groups = e->orphan ? ix->orphans : ix->owned;
	g = wl_map_get(groups, e->group);
	if (!g) {
		g = wl_map_new();
		wl_map_put(groups, e->group, g);
	}
	wl_map_put(g, key, e);
}

void wl_index_set_owner_view(struct wl_index *ix, const char *key, bool selects, bool labeled,
			     int64_t generation)
{
	struct ix_entry *e = wl_map_get(ix->all, key);

	if (!e || !ix->pods)
		return;
	e->facts.owner_selects = selects;
	e->facts.owner_labeled = labeled;
	e->facts.owner_generation = generation;
}

static void ix_collect(const struct wl_index *ix, const struct wl_map *g, struct wl_list *out)
{
	size_t pos = 0;
	void *v;

	if (!g)
		return;
	while (wl_map_next(g, &pos, NULL, &v)) {
		struct ix_entry *e = v;

		if (ix->pods)
			wl_list_add_pod(out, e->obj, &e->facts);
		else
			wl_list_add(out, e->obj);
	}
}

void wl_index_owned(const struct wl_index *ix, const char *uid, struct wl_list *out)
{
	ix_collect(ix, wl_map_get(ix->owned, uid), out);
}

size_t wl_index_owned_count(const struct wl_index *ix, const char *uid)
{
	const struct wl_map *g = wl_map_get(ix->owned, uid);

	return g ? wl_map_len(g) : 0;
}

void wl_index_orphans(const struct wl_index *ix, const char *ns, struct wl_list *out)
{
	ix_collect(ix, wl_map_get(ix->orphans, ns), out);
}

/* Fields. */

json_t *wl_get(const json_t *obj, const char *path)
{
	const char *p = path;
	json_t *cur = (json_t *)obj;

	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(cur))
			return NULL;
		cur = json_object_getn(cur, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	return cur;
}

const char *wl_str(const json_t *obj, const char *path)
{
	return json_string_value(wl_get(obj, path));
}

int64_t wl_int(const json_t *obj, const char *path, int64_t def)
{
	json_t *v = wl_get(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *wl_label(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(wl_get(obj, "metadata.labels"), key));
}

const char *wl_annotation(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(wl_get(obj, "metadata.annotations"), key));
}

bool wl_set_annotation(json_t *obj, const char *key, const char *value)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_t *ann;
	const char *cur = wl_annotation(obj, key);

	if (cur && strcmp(cur, value) == 0)
		return false;
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(obj, "metadata", meta);
	}
	ann = json_object_get(meta, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, key, json_string(value));
	return true;
}

const json_t *wl_controller_ref(const json_t *obj)
{
	json_t *refs = wl_get(obj, "metadata.ownerReferences");
	json_t *ref;
	size_t i;

	json_array_foreach (refs, i, ref) {
		if (json_is_true(json_object_get(ref, "controller")))
			return ref;
	}
	return NULL;
}

bool wl_deleting(const json_t *obj)
{
	return wl_str(obj, "metadata.deletionTimestamp") != NULL;
}

char *wl_key(const json_t *obj)
{
	const char *ns = wl_str(obj, "metadata.namespace");
	const char *name = wl_str(obj, "metadata.name");

	if (ns && *ns)
		return xasprintf("%s/%s", ns, name ? name : "");
	return xstrdup(name ? name : "");
}

/* Time. */

int64_t wl_time_parse(const char *s)
{
	struct tm tm = {0};
	const char *end;
	int64_t t;

	if (!s)
		return 0;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	t = timegm(&tm);
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (*end == '+' || *end == '-') {
		int hh = 0, mm = 0;

		if (sscanf(end + 1, "%d:%d", &hh, &mm) == 2)
			t -= (*end == '+' ? 1 : -1) * (int64_t)(hh * 3600 + mm * 60);
	}
	return t;
}

int64_t wl_now(void)
{
	return (int64_t)time(NULL);
}

char *wl_time_format(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* Pods. */

bool wl_pod_active(const json_t *pod)
{
	const char *phase = wl_str(pod, "status.phase");

	if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
		return false;
	return !wl_deleting(pod);
}

json_t *wl_pod_cond(const json_t *pod, const char *type)
{
	json_t *conds = wl_get(pod, "status.conditions");
	json_t *c;
	size_t i;

	json_array_foreach (conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

static json_t *pod_ready_cond(const json_t *pod)
{
	return wl_pod_cond(pod, "Ready");
}

bool wl_pod_ready(const json_t *pod)
{
	const char *st = json_string_value(json_object_get(pod_ready_cond(pod), "status"));

	return st && strcmp(st, "True") == 0;
}

void wl_pod_facts_of(const json_t *pod, struct wl_pod_facts *f)
{
	json_t *labels = wl_get(pod, "metadata.labels");

	f->labels = json_is_object(labels) ? labels : NULL;
	f->owner_selects = f->owner_labeled = -1;
	f->owner_generation = 0;
	f->deleting = wl_deleting(pod);
	f->active = wl_pod_active(pod);
	f->ready = wl_pod_ready(pod);
	f->ready_since =
		f->ready ? wl_time_parse(wl_str(pod_ready_cond(pod), "lastTransitionTime")) : 0;
}

bool wl_pod_facts_available(const struct wl_pod_facts *f, int64_t min_ready_seconds, int64_t now)
{
	if (!f->ready)
		return false;
	if (min_ready_seconds <= 0)
		return true;
	return f->ready_since && f->ready_since + min_ready_seconds < now;
}

bool wl_pod_available(const json_t *pod, int64_t min_ready_seconds, int64_t now)
{
	int64_t since;

	if (!wl_pod_ready(pod))
		return false;
	if (min_ready_seconds <= 0)
		return true;
	since = wl_time_parse(wl_str(pod_ready_cond(pod), "lastTransitionTime"));
	return since && since + min_ready_seconds < now;
}

static int phase_ordinal(const json_t *pod)
{
	const char *phase = wl_str(pod, "status.phase");

	if (phase && strcmp(phase, "Unknown") == 0)
		return 1;
	if (phase && strcmp(phase, "Running") == 0)
		return 2;
	return 0;
}

static int64_t max_restarts(const json_t *pod)
{
	json_t *cs = wl_get(pod, "status.containerStatuses");
	json_t *c;
	int64_t max = 0;
	size_t i;

	json_array_foreach (cs, i, c) {
		int64_t n = wl_int(c, "restartCount", 0);

		if (n > max)
			max = n;
	}
	return max;
}

static int64_t deletion_cost(const json_t *pod)
{
	const char *v = wl_annotation(pod, WL_ANN_DELETION_COST);
	char *end;
	long long n;

	if (!v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end || end == v || n < INT32_MIN || n > INT32_MAX)
		return 0;
	return n;
}

/* Pods whose ages fall in the same power-of-two bucket count as equally old. */
static int64_t log_rank_diff(int64_t t1, int64_t t2, int64_t now)
{
	int64_t d1 = (now - t1) * 1000000000, d2 = (now - t2) * 1000000000;
	int64_t r1 = d1 > 0 ? (int64_t)log2((double)d1) : -1;
	int64_t r2 = d2 > 0 ? (int64_t)log2((double)d2) : -1;

	return r1 - r2;
}

/* Upstream's afterOrZero: the zero time first, then the later time. */
static bool after_or_zero(int64_t t1, int64_t t2)
{
	if (!t1 || !t2)
		return !t1;
	return t1 > t2;
}

static bool time_less(const json_t *a, const json_t *b, int64_t t1, int64_t t2, int64_t now)
{
	int64_t diff;

	if (!now || !t1 || !t2)
		return after_or_zero(t1, t2);
	diff = log_rank_diff(t1, t2, now);
	if (diff == 0) {
		const char *u1 = wl_str(a, "metadata.uid"), *u2 = wl_str(b, "metadata.uid");

		return strcmp(u1 ? u1 : "", u2 ? u2 : "") < 0;
	}
	return diff < 0;
}

/* Whether @a goes before @b for deletion (ActivePodsWithRanks.Less). */
static bool deletion_less(const struct wl_ranked_pod *pa, const struct wl_ranked_pod *pb,
			  int64_t now)
{
	const json_t *a = pa->pod, *b = pb->pod;
	const char *na = wl_str(a, "spec.nodeName"), *nb = wl_str(b, "spec.nodeName");
	bool ea = !na || !*na, eb = !nb || !*nb;
	bool ra, rb;

	if (ea != eb)
		return ea;
	if (phase_ordinal(a) != phase_ordinal(b))
		return phase_ordinal(a) < phase_ordinal(b);
	ra = wl_pod_ready(a);
	rb = wl_pod_ready(b);
	if (ra != rb)
		return !ra;
	if (deletion_cost(a) != deletion_cost(b))
		return deletion_cost(a) < deletion_cost(b);
	if (pa->rank != pb->rank)
		return pa->rank > pb->rank;
	if (ra && rb) {
		int64_t t1 = wl_time_parse(wl_str(pod_ready_cond(a), "lastTransitionTime"));
		int64_t t2 = wl_time_parse(wl_str(pod_ready_cond(b), "lastTransitionTime"));

		if (t1 != t2)
			return time_less(a, b, t1, t2, now);
	}
	if (max_restarts(a) != max_restarts(b))
		return max_restarts(a) > max_restarts(b);
	{
		int64_t t1 = wl_time_parse(wl_str(a, "metadata.creationTimestamp"));
		int64_t t2 = wl_time_parse(wl_str(b, "metadata.creationTimestamp"));

		if (t1 != t2)
			return time_less(a, b, t1, t2, now);
	}
	return false;
}

static int deletion_cmp(const void *x, const void *y, void *arg)
{
	int64_t now = *(const int64_t *)arg;

	if (deletion_less(x, y, now))
		return -1;
	if (deletion_less(y, x, now))
		return 1;
	return 0;
}

void wl_pods_sort_for_deletion(struct wl_ranked_pod *pods, size_t n, int64_t now)
{
	qsort_r(pods, n, sizeof(*pods), deletion_cmp, &now);
}

/* Slow start. */

#define WL_MAX_THREADS 16
/*
 * Helpers in all, shared by the batches at hand: more (60 were tried) created 150,000
 * pods faster than the rest of the cluster could take them, and pods waited longer.
 */
#define WL_POOL_MAX (WL_MAX_THREADS - 1)

/*
 * A batch is worked by the thread that runs it and by up to WL_MAX_THREADS - 1
 * helpers from one pool shared by every controller. The helpers live as long
 * as the process: a thread per batch cost its creation, and under mimalloc the
 * return of its heap (munmap, madvise and TLB shootdowns) at every exit.
 */
struct batch {
	int (*fn)(void *arg, size_t i);
	void *arg;
	size_t base, n;
	atomic_size_t next;
	atomic_size_t ok;
	atomic_bool failed;
	/* under pool.lock */
	size_t wanted; /* helpers it may still take */
	size_t active; /* helpers working on it */
	struct batch *queue_next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a batch wants helpers */
	pthread_cond_t left; /* a helper left its batch */
	struct batch *queue; /* batches with wanted > 0 */
	size_t threads;
	size_t idle;   /* waiting for a batch, or started and not yet looking */
	size_t wanted; /* the sum of the queued batches' wanted */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.left = PTHREAD_COND_INITIALIZER,
};

static void batch_work(struct batch *b)
{
	for (;;) {
		size_t i = atomic_fetch_add(&b->next, 1);

		if (i >= b->n)
			return;
		if (b->fn(b->arg, b->base + i) < 0)
			atomic_store(&b->failed, true);
		else
			atomic_fetch_add(&b->ok, 1);
	}
}

static void queue_remove(struct batch *b)
{
	for (struct batch **pp = &pool.queue; *pp; pp = &(*pp)->queue_next)
		if (*pp == b) {
			*pp = b->queue_next;
			return;
		}
}

static void *pool_main(void *unused)
{
	bool dirty = false;

	(void)unused;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct batch *b = pool.queue;

		if (!b) {
			allocator_idle_wait(&pool.work, &pool.lock, &dirty);
			continue;
		}
		pool.idle--;
		pool.wanted--;
		dirty = true;
		if (--b->wanted == 0)
			queue_remove(b);
		b->active++;
		pthread_mutex_unlock(&pool.lock);
		batch_work(b);
		pthread_mutex_lock(&pool.lock);
		pool.idle++;
		/* the batch's owner frees it once no helper is on it */
		if (--b->active == 0)
			pthread_cond_broadcast(&pool.left);
	}
	return NULL;
}

static void run_batch(struct batch *b)
{
	size_t helpers = (b->n < WL_MAX_THREADS ? b->n : WL_MAX_THREADS) - 1;

	if (helpers > 0) {
		pthread_mutex_lock(&pool.lock);
		b->wanted = helpers;
		b->queue_next = pool.queue;
		pool.queue = b;
		pool.wanted += helpers;
		/* the pool grows to what the batches at hand can use, and stays */
		while (pool.idle < pool.wanted && pool.threads < WL_POOL_MAX) {
			pthread_t t;

			if (pthread_create(&t, NULL, pool_main, NULL) != 0)
				break;
			pthread_setname_np(t, "wl-batch");
			pthread_detach(t);
			pool.threads++;
			pool.idle++;
		}
		pthread_mutex_unlock(&pool.lock);
		/* as many as it can use: a batch of two wakes one helper, not the pool */
		for (size_t i = 0; i < helpers; i++)
			pthread_cond_signal(&pool.work);
	}
	batch_work(b);
	if (helpers > 0) {
		pthread_mutex_lock(&pool.lock);
		if (b->wanted > 0)
			queue_remove(b);
		pool.wanted -= b->wanted;
		b->wanted = 0;
		while (b->active > 0)
			pthread_cond_wait(&pool.left, &pool.lock);
		pthread_mutex_unlock(&pool.lock);
	}
}

size_t wl_slow_start(size_t count, size_t initial, int (*fn)(void *arg, size_t i), void *arg)
{
	size_t remaining = count, done = 0, successes = 0;
	size_t size = initial < remaining ? initial : remaining;

	while (size > 0) {
		struct batch b = {.fn = fn, .arg = arg, .base = done, .n = size};

		atomic_init(&b.next, 0);
		atomic_init(&b.ok, 0);
		atomic_init(&b.failed, false);
		run_batch(&b);
		successes += atomic_load(&b.ok);
		if (atomic_load(&b.failed))
			break;
		done += size;
		remaining -= size;
		size = 2 * size < remaining ? 2 * size : remaining;
	}
	return successes;
}

/* Expectations. */

#define WL_EXPECTATIONS_TTL 300

struct exp_entry {
	int64_t add, del;
	int64_t stamp;
	struct wl_map *del_keys; /* pod keys whose deletion is awaited (values unused) */
};

struct wl_expectations {
	pthread_mutex_t lock;
	struct wl_map *entries;
};

static void exp_entry_free(void *p)
{
	struct exp_entry *x = p;

	if (!x)
		return;
	wl_map_free(x->del_keys, NULL);
	free(x);
}

struct wl_expectations *wl_exp_new(void)
{
	struct wl_expectations *e = xcalloc(1, sizeof(*e));

	pthread_mutex_init(&e->lock, NULL);
	e->entries = wl_map_new();
	return e;
}

void wl_exp_free(struct wl_expectations *e)
{
	if (!e)
		return;
	wl_map_free(e->entries, exp_entry_free);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static struct exp_entry *exp_reset(struct wl_expectations *e, const char *key)
{
	struct exp_entry *x = xcalloc(1, sizeof(*x));

	x->stamp = wl_now();
	x->del_keys = wl_map_new();
	exp_entry_free(wl_map_put(e->entries, key, x));
	return x;
}

void wl_exp_expect_creations(struct wl_expectations *e, const char *key, int64_t n)
{
	pthread_mutex_lock(&e->lock);
	exp_reset(e, key)->add = n;
	pthread_mutex_unlock(&e->lock);
}

void wl_exp_expect_deletions(struct wl_expectations *e, const char *key, char *const *pod_keys,
			     size_t n)
{
	struct exp_entry *x;

	pthread_mutex_lock(&e->lock);
	x = exp_reset(e, key);
	for (size_t i = 0; i < n; i++)
		wl_map_put(x->del_keys, pod_keys[i], x);
	x->del = (int64_t)wl_map_len(x->del_keys);
	pthread_mutex_unlock(&e->lock);
}

void wl_exp_creation_observed(struct wl_expectations *e, const char *key)
{
	struct exp_entry *x;

	pthread_mutex_lock(&e->lock);
	x = wl_map_get(e->entries, key);
	if (x)
		x->add--;
	pthread_mutex_unlock(&e->lock);
}

void wl_exp_deletion_observed(struct wl_expectations *e, const char *key, const char *pod_key)
{
	struct exp_entry *x;

	pthread_mutex_lock(&e->lock);
	x = wl_map_get(e->entries, key);
	if (x && wl_map_del(x->del_keys, pod_key))
		x->del--;
	pthread_mutex_unlock(&e->lock);
}

bool wl_exp_satisfied(struct wl_expectations *e, const char *key)
{
	struct exp_entry *x;
	bool ok;

	pthread_mutex_lock(&e->lock);
	x = wl_map_get(e->entries, key);
	ok = !x || (x->add <= 0 && x->del <= 0) || wl_now() - x->stamp > WL_EXPECTATIONS_TTL;
	pthread_mutex_unlock(&e->lock);
	return ok;
}

void wl_exp_forget(struct wl_expectations *e, const char *key)
{
	pthread_mutex_lock(&e->lock);
	exp_entry_free(wl_map_del(e->entries, key));
	pthread_mutex_unlock(&e->lock);
}

void wl_exp_age(struct wl_expectations *e, int64_t seconds)
{
	size_t pos = 0;
	void *v;

	pthread_mutex_lock(&e->lock);
	while (wl_map_next(e->entries, &pos, NULL, &v))
		((struct exp_entry *)v)->stamp -= seconds;
	pthread_mutex_unlock(&e->lock);
}

/* Claims. */

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

enum wl_claim wl_claim_decide(const json_t *owner, const json_t *obj, bool selected)
{
	const json_t *ref = wl_controller_ref(obj);
	const char *ons = wl_str(owner, "metadata.namespace");

	if (ref) {
		if (!str_eq(wl_str(ref, "uid"), wl_str(owner, "metadata.uid")))
			return WL_CLAIM_IGNORE;
		if (selected)
			return WL_CLAIM_OWNED;
		/* An owner being deleted keeps what it has: the garbage collector decides. */
		if (wl_deleting(owner))
			return WL_CLAIM_IGNORE;
		return WL_CLAIM_RELEASE;
	}
	if (wl_deleting(owner) || !selected || wl_deleting(obj))
		return WL_CLAIM_IGNORE;
	if (ons && *ons && !str_eq(ons, wl_str(obj, "metadata.namespace")))
		return WL_CLAIM_IGNORE;
	return WL_CLAIM_ADOPT;
}

json_t *wl_controller_ref_new(const json_t *owner, const char *api_version, const char *kind)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind,
			 "name", wl_str(owner, "metadata.name") ?: "", "uid",
			 wl_str(owner, "metadata.uid") ?: "", "controller", 1, "blockOwnerDeletion",
			 1);
}

static int patch_refs(struct kc *c, const char *path, json_t *ref, const json_t *obj,
		      struct err *err)
{
	cleanup_json json_t *patch = NULL;

	/* The uid makes the patch fail rather than touch a namesake created meanwhile. */
	patch = json_pack("{s:{s:[o], s:s}}", "metadata", "ownerReferences", ref, "uid",
			  wl_str(obj, "metadata.uid") ?: "");
	return kc_request(c, "PATCH", path, "application/strategic-merge-patch+json", patch, NULL,
			  err);
}

int wl_adopt(struct kc *c, const char *path, const json_t *owner, const char *api_version,
	     const char *kind, const json_t *obj, struct err *err)
{
	return patch_refs(c, path, wl_controller_ref_new(owner, api_version, kind), obj, err);
}

int wl_release(struct kc *c, const char *path, const json_t *owner, const json_t *obj,
	       struct err *err)
{
	json_t *ref = json_pack("{s:s, s:s}", "$patch", "delete", "uid",
				wl_str(owner, "metadata.uid") ?: "");

	return patch_refs(c, path, ref, obj, err);
}

static void buf_add(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);

	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

char *wl_selector_string(const json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels");
	json_t *me = json_object_get(sel, "matchExpressions");
	char *buf = xstrdup("");
	size_t len = 0, i;
	const char *k;
	json_t *v, *expr;

	json_object_foreach (ml, k, v) {
		if (len)
			buf_add(&buf, &len, ",");
		buf_add(&buf, &len, k);
		buf_add(&buf, &len, "=");
		buf_add(&buf, &len, json_string_value(v) ?: "");
	}
	json_array_foreach (me, i, expr) {
		const char *key = wl_str(expr, "key") ?: "";
		const char *op = wl_str(expr, "operator") ?: "";
		json_t *vals = json_object_get(expr, "values");
		json_t *val;
		size_t j;

		if (len)
			buf_add(&buf, &len, ",");
		if (strcmp(op, "DoesNotExist") == 0)
			buf_add(&buf, &len, "!");
		buf_add(&buf, &len, key);
		if (strcmp(op, "In") != 0 && strcmp(op, "NotIn") != 0)
			continue;
		buf_add(&buf, &len, strcmp(op, "In") == 0 ? " in (" : " notin (");
		json_array_foreach (vals, j, val) {
			if (j)
				buf_add(&buf, &len, ",");
			buf_add(&buf, &len, json_string_value(val) ?: "");
		}
		buf_add(&buf, &len, ")");
	}
	return buf;
}

/* Conditions. */

json_t *wl_cond_new(const char *type, const char *status, const char *reason, const char *message)
{
	cleanup_free char *now = wl_time_format(wl_now());

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
			 "lastUpdateTime", now, "lastTransitionTime", now, "reason", reason,
			 "message", message);
}

static ssize_t cond_index(const json_t *status, const char *type)
{
	json_t *conds = json_object_get(status, "conditions");
	json_t *c;
	size_t i;

	json_array_foreach (conds, i, c) {
		if (str_eq(wl_str(c, "type"), type))
			return (ssize_t)i;
	}
	return -1;
}

json_t *wl_cond_get(const json_t *status, const char *type)
{
	ssize_t i = cond_index(status, type);

	return i < 0 ? NULL : json_array_get(json_object_get(status, "conditions"), (size_t)i);
}

bool wl_cond_remove(json_t *status, const char *type)
{
	ssize_t i = cond_index(status, type);

	if (i < 0)
		return false;
	json_array_remove(json_object_get(status, "conditions"), (size_t)i);
	return true;
}

bool wl_cond_set(json_t *status, json_t *cond)
{
	const char *type = wl_str(cond, "type");
	json_t *cur = wl_cond_get(status, type);
	json_t *conds;

	if (cur && str_eq(wl_str(cur, "status"), wl_str(cond, "status")) &&
	    str_eq(wl_str(cur, "reason"), wl_str(cond, "reason"))) {
		json_decref(cond);
		return false;
	}
	if (cur && str_eq(wl_str(cur, "status"), wl_str(cond, "status")) &&
	    json_object_get(cur, "lastTransitionTime"))
		json_object_set(cond, "lastTransitionTime",
				json_object_get(cur, "lastTransitionTime"));
	wl_cond_remove(status, type);
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	json_array_append_new(conds, cond);
	return true;
}

/* A copy without null, empty and (when @zeros) zero or "" members. */
static json_t *canonical(const json_t *v, bool zeros)
{
	json_t *out;

	if (json_is_object(v)) {
		const char *k;
		json_t *m;

		out = json_object();
		json_object_foreach ((json_t *)v, k, m) {
			json_t *c = canonical(m, zeros);

			if (c)
				json_object_set_new(out, k, c);
		}
		if (json_object_size(out) == 0) {
			json_decref(out);
			return NULL;
		}
		return out;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *m;

		if (json_array_size(v) == 0)
			return NULL;
		out = json_array();
		json_array_foreach (v, i, m) {
			json_t *c = canonical(m, zeros);

			json_array_append_new(out, c ? c : json_null());
		}
		return out;
	}
	if (!v || json_is_null(v))
		return NULL;
	if (zeros && ((json_is_integer(v) && json_integer_value(v) == 0) ||
		      (json_is_string(v) && json_string_length(v) == 0)))
		return NULL;
	return json_deep_copy(v);
}

bool wl_status_equal(const json_t *a, const json_t *b)
{
	cleanup_json json_t *ca = canonical(a, true);
	cleanup_json json_t *cb = canonical(b, true);

	if (!ca || !cb)
		return !ca && !cb;
	return json_equal(ca, cb);
}

/* Deployments. */

int32_t wl_intstr_scaled(const json_t *v, int32_t total, bool round_up)
{
	const char *s;
	char *end;
	long pct;
	double x;

	if (json_is_integer(v))
		return (int32_t)json_integer_value(v);
	s = json_string_value(v);
	if (!s || !*s || s[strlen(s) - 1] != '%')
		return 0;
	errno = 0;
	pct = strtol(s, &end, 10);
	if (errno || end == s || *end != '%' || pct < 0)
		return 0;
	x = (double)pct * (double)total / 100.0;
	return (int32_t)(round_up ? ceil(x) : floor(x));
}

void wl_fenceposts(const json_t *max_surge, const json_t *max_unavailable, int32_t desired,
		   int32_t *ret_surge, int32_t *ret_unavailable)
{
	int32_t surge = wl_intstr_scaled(max_surge, desired, true);
	int32_t unavailable = wl_intstr_scaled(max_unavailable, desired, false);

	/* Both zero would make no progress possible; validation forbids it only for ints. */
	if (surge == 0 && unavailable == 0)
		unavailable = 1;
	*ret_surge = surge;
	*ret_unavailable = unavailable;
}

int32_t wl_d_replicas(const json_t *d)
{
	return (int32_t)wl_int(d, "spec.replicas", 1);
}

bool wl_d_rolling(const json_t *d)
{
	const char *type = wl_str(d, "spec.strategy.type");

	return !type || strcmp(type, "RollingUpdate") == 0;
}

static void d_fenceposts(const json_t *d, int32_t *surge, int32_t *unavailable)
{
	json_t *ru = wl_get(d, "spec.strategy.rollingUpdate");
	json_t *ms = json_object_get(ru, "maxSurge");
	json_t *mu = json_object_get(ru, "maxUnavailable");
	cleanup_json json_t *def = json_string("25%");

	wl_fenceposts(ms ? ms : def, mu ? mu : def, wl_d_replicas(d), surge, unavailable);
}

int32_t wl_d_max_surge(const json_t *d)
{
	int32_t surge, unavailable;

	if (!wl_d_rolling(d))
		return 0;
	d_fenceposts(d, &surge, &unavailable);
	return surge;
}

int32_t wl_d_max_unavailable(const json_t *d)
{
	int32_t surge, unavailable, replicas = wl_d_replicas(d);

	if (!wl_d_rolling(d) || replicas == 0)
		return 0;
	d_fenceposts(d, &surge, &unavailable);
	return unavailable > replicas ? replicas : unavailable;
}

bool wl_d_has_progress_deadline(const json_t *d)
{
	json_t *v = wl_get(d, "spec.progressDeadlineSeconds");

	return json_is_integer(v) && json_integer_value(v) != INT32_MAX;
}

int32_t wl_rs_replicas(const json_t *rs)
{
	return rs ? (int32_t)wl_int(rs, "spec.replicas", 1) : 0;
}

int32_t wl_rs_status(const json_t *rs, const char *field)
{
	json_t *st = json_object_get(rs, "status");

	return (int32_t)wl_int(st, field, 0);
}

static bool parse_i64(const char *s, int64_t *ret)
{
	char *end;
	long long n;

	if (!s || !*s)
		return false;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = n;
	return true;
}

int64_t wl_revision(const json_t *obj)
{
	int64_t v = 0;

	return parse_i64(wl_annotation(obj, WL_ANN_REVISION), &v) ? v : 0;
}

static int by_creation(const json_t *a, const json_t *b)
{
	int64_t ta = wl_time_parse(wl_str(a, "metadata.creationTimestamp"));
	int64_t tb = wl_time_parse(wl_str(b, "metadata.creationTimestamp"));

	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(wl_str(a, "metadata.name") ?: "", wl_str(b, "metadata.name") ?: "");
}

static int rs_cmp(const void *x, const void *y, void *arg)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	enum wl_rs_order order = *(enum wl_rs_order *)arg;
	int32_t ra = wl_rs_replicas(a), rb = wl_rs_replicas(b);
	int64_t va, vb;

	switch (order) {
	case WL_BY_CREATION:
		return by_creation(a, b);
	case WL_BY_CREATION_DESC:
		return by_creation(b, a);
	case WL_BY_SIZE_NEWER:
		if (ra != rb)
			return ra > rb ? -1 : 1;
		return by_creation(b, a);
	case WL_BY_SIZE_OLDER:
		if (ra != rb)
			return ra > rb ? -1 : 1;
		return by_creation(a, b);
	case WL_BY_REVISION:
		va = wl_revision(a);
		vb = wl_revision(b);
		if (va != vb)
			return va < vb ? -1 : 1;
		return by_creation(a, b);
	}
	return 0;
}

void wl_rs_sort(json_t **rss, size_t n, enum wl_rs_order order)
{
	if (n > 1)
		qsort_r(rss, n, sizeof(*rss), rs_cmp, &order);
}

static json_t *template_canonical(const json_t *tmpl)
{
	json_t *c = canonical(tmpl, false);

	json_object_del(wl_get(c, "metadata.labels"), WL_LABEL_HASH);
	if (json_object_size(wl_get(c, "metadata.labels")) == 0)
		json_object_del(wl_get(c, "metadata"), "labels");
	if (json_object_size(wl_get(c, "metadata")) == 0)
		json_object_del(c, "metadata");
	return c;
}

char *wl_template_hash(const json_t *tmpl, int64_t collision_count)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	cleanup_json json_t *c = template_canonical(tmpl);
	cleanup_free char *text = NULL;
	uint32_t h = FNV_OFFSET;
	char digits[16];
	size_t n;

	text = c ? jdump_s(c, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("{}");
	h = fnv1a(h, text, strlen(text));
	if (collision_count >= 0) {
		uint32_t cc = (uint32_t)collision_count;
		unsigned char bytes[8] = {cc & 0xff, (cc >> 8) & 0xff, (cc >> 16) & 0xff, cc >> 24};

		h = fnv1a(h, bytes, sizeof(bytes));
	}
	n = (size_t)snprintf(digits, sizeof(digits), "%" PRIu32, h);
	for (size_t i = 0; i < n; i++)
		digits[i] = alphabet[(unsigned char)digits[i] % (sizeof(alphabet) - 1)];
	return xstrdup(digits);
}

bool wl_templates_equal(const json_t *a, const json_t *b)
{
	cleanup_json json_t *ca = template_canonical(a);
	cleanup_json json_t *cb = template_canonical(b);

	if (!ca || !cb)
		return !ca && !cb;
	return json_equal(ca, cb);
}

json_t *wl_find_new_rs(const json_t *d, json_t **rss, size_t n)
{
	json_t *tmpl = wl_get(d, "spec.template");

	/* The oldest wins when several match, so the choice is stable. */
	wl_rs_sort(rss, n, WL_BY_CREATION);
	for (size_t i = 0; i < n; i++)
		if (wl_templates_equal(wl_get(rss[i], "spec.template"), tmpl))
			return rss[i];
	return NULL;
}

int32_t wl_rs_sum(json_t *const *rss, size_t n, const char *field)
{
	int32_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		if (!rss[i])
			continue;
		sum += field ? wl_rs_status(rss[i], field) : wl_rs_replicas(rss[i]);
	}
	return sum;
}

int32_t wl_new_rs_new_replicas(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs)
{
	int32_t replicas = wl_d_replicas(d), cur = wl_rs_replicas(new_rs);
	int32_t surge, total, max_total, up;
	json_t *ms;

	if (!wl_d_rolling(d))
		return replicas;
	ms = wl_get(d, "spec.strategy.rollingUpdate.maxSurge");
	if (ms) {
		surge = wl_intstr_scaled(ms, replicas, true);
	} else {
		cleanup_json json_t *def = json_string("25%");

		surge = wl_intstr_scaled(def, replicas, true);
	}
	total = wl_rs_sum(all, n, NULL);
	max_total = replicas + surge;
	if (total >= max_total)
		return cur;
	up = max_total - total;
	if (up > replicas - cur)
		up = replicas - cur;
	return cur + up;
}

static bool annotation_i32(const json_t *obj, const char *key, int32_t *ret)
{
	int64_t v;

	if (!parse_i64(wl_annotation(obj, key), &v) || v < INT32_MIN || v > INT32_MAX)
		return false;
	*ret = (int32_t)v;
	return true;
}

bool wl_is_saturated(const json_t *d, const json_t *rs)
{
	int32_t desired, replicas = wl_d_replicas(d);

	if (!rs || !annotation_i32(rs, WL_ANN_DESIRED, &desired))
		return false;
	return desired == replicas && wl_rs_replicas(rs) == replicas &&
	       wl_rs_status(rs, "availableReplicas") == replicas;
}

json_t *wl_find_active_or_latest(json_t *new_rs, json_t **old, size_t n)
{
	json_t *active = NULL;
	size_t count = 0;

	wl_rs_sort(old, n, WL_BY_CREATION_DESC);
	for (size_t i = 0; i < n; i++)
		if (old[i] && wl_rs_replicas(old[i]) > 0) {
			active = old[i];
			count++;
		}
	if (new_rs && wl_rs_replicas(new_rs) > 0) {
		active = new_rs;
		count++;
	}
	if (count == 0)
		return new_rs ? new_rs : (n ? old[0] : NULL);
	return count == 1 ? active : NULL;
}

bool wl_is_scaling_event(const json_t *d, json_t *const *all, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int32_t desired;

		if (!all[i] || wl_rs_replicas(all[i]) <= 0)
			continue;
		if (annotation_i32(all[i], WL_ANN_DESIRED, &desired) && desired != wl_d_replicas(d))
			return true;
	}
	return false;
}

static int32_t rs_fraction(const json_t *rs, const json_t *d)
{
	int32_t replicas = wl_rs_replicas(rs), d_replicas = wl_d_replicas(d), annotated;
	double size;

	if (d_replicas == 0)
		return -replicas;
	if (!annotation_i32(rs, WL_ANN_MAX, &annotated))
		annotated = (int32_t)wl_int(d, "status.replicas", 0);
	if (annotated <= 0)
		return 0;
	size = (double)replicas * (double)(d_replicas + wl_d_max_surge(d)) / (double)annotated;
	return (int32_t)(size + 0.5) - replicas;
}

static int32_t rs_proportion(const json_t *rs, const json_t *d, int32_t to_add, int32_t added)
{
	int32_t fraction, allowed;

	if (!rs || wl_rs_replicas(rs) == 0 || to_add == 0 || to_add == added)
		return 0;
	fraction = rs_fraction(rs, d);
	allowed = to_add - added;
	if (to_add > 0)
		return fraction < allowed ? fraction : allowed;
	return fraction > allowed ? fraction : allowed;
}

void wl_proportional_sizes(const json_t *d, json_t **active, size_t n, int32_t *ret_sizes,
			   const char **ret_op)
{
	int32_t replicas = wl_d_replicas(d), current = wl_rs_sum(active, n, NULL);
	int32_t allowed = replicas > 0 ? replicas + wl_d_max_surge(d) : 0;
	int32_t to_add = allowed - current, added = 0;

	*ret_op = "";
	if (to_add > 0) {
		wl_rs_sort(active, n, WL_BY_SIZE_NEWER);
		*ret_op = "up";
	} else if (to_add < 0) {
		wl_rs_sort(active, n, WL_BY_SIZE_OLDER);
		*ret_op = "down";
	}
	for (size_t i = 0; i < n; i++) {
		int32_t p = to_add ? rs_proportion(active[i], d, to_add, added) : 0;

		ret_sizes[i] = wl_rs_replicas(active[i]) + p;
		added += p;
	}
	/* Rounding leftovers go to the largest RS. */
	if (n && to_add) {
		ret_sizes[0] += to_add - added;
		if (ret_sizes[0] < 0)
			ret_sizes[0] = 0;
	}
}

int32_t wl_plan_cleanup_unhealthy(json_t **old, size_t n, int32_t max_cleanup, int32_t *ret_sizes)
{
	int32_t total = 0;

	wl_rs_sort(old, n, WL_BY_CREATION);
	for (size_t i = 0; i < n; i++)
		ret_sizes[i] = wl_rs_replicas(old[i]);
	for (size_t i = 0; i < n && total < max_cleanup; i++) {
		int32_t r = ret_sizes[i], avail = wl_rs_status(old[i], "availableReplicas"), down;

		if (r == 0 || r <= avail)
			continue;
		down = max_cleanup - total < r - avail ? max_cleanup - total : r - avail;
		ret_sizes[i] = r - down;
		total += down;
	}
	return total;
}

/*
 * Available replicas an RS will still have once it has acted on its spec. A ReplicaSet
 * reports the pods it counted before deleting the surplus, so right after a scale-down
 * its status can claim more available pods than it is about to keep.
 */
static int32_t rs_available_kept(const json_t *rs)
{
	int32_t avail = wl_rs_status(rs, "availableReplicas"), want = wl_rs_replicas(rs);

	return avail < want ? avail : want;
}

int32_t wl_max_scaled_down(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs)
{
	int32_t all_pods = wl_rs_sum(all, n, NULL), new_pods = wl_rs_replicas(new_rs);
	int32_t min_available = wl_d_replicas(d) - wl_d_max_unavailable(d);
	int32_t new_unavailable = new_pods - rs_available_kept(new_rs);
	int32_t max;

	if (all_pods - new_pods <= 0)
		return 0;
	max = all_pods - min_available - new_unavailable;
	return max > 0 ? max : 0;
}

int32_t wl_plan_scale_down_old(const json_t *d, json_t *const *all, size_t nall, json_t **old,
			       size_t n, int32_t *ret_sizes)
{
	int32_t min_available = wl_d_replicas(d) - wl_d_max_unavailable(d);
	int32_t available = 0, total = 0, target;

	for (size_t i = 0; i < nall; i++)
		if (all[i])
			available += rs_available_kept(all[i]);
	wl_rs_sort(old, n, WL_BY_CREATION);
	for (size_t i = 0; i < n; i++)
		ret_sizes[i] = wl_rs_replicas(old[i]);
	if (available <= min_available)
		return 0;
	target = available - min_available;
	for (size_t i = 0; i < n && total < target; i++) {
		int32_t r = ret_sizes[i], down;

		if (r == 0)
			continue;
		down = r < target - total ? r : target - total;
		ret_sizes[i] = r - down;
		total += down;
	}
	return total;
}

static bool skip_annotation(const char *k)
{
	static const char *const skip[] = {
		"kubectl.kubernetes.io/last-applied-configuration",
		WL_ANN_REVISION,
		WL_ANN_REV_HISTORY,
		WL_ANN_DESIRED,
		WL_ANN_MAX,
		"deprecated.deployment.rollback.to",
	};

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcmp(k, skip[i]) == 0)
			return true;
	return false;
}

static void append_revision_history(json_t *rs, const char *old)
{
	const char *hist = wl_annotation(rs, WL_ANN_REV_HISTORY);
	size_t total;
	const char *start;

	if (!hist || !*hist) {
		wl_set_annotation(rs, WL_ANN_REV_HISTORY, old);
		return;
	}
	/* Oldest entries make way for the new one once the list outgrows its limit. */
	total = strlen(hist) + strlen(old) + 1;
	start = hist;
	while (total > WL_REV_HISTORY_CHARS && start) {
		const char *comma = strchr(start, ',');
		size_t first = comma ? (size_t)(comma - start) : strlen(start);

		total -= first + 1;
		start = comma ? comma + 1 : NULL;
	}
	if (total <= WL_REV_HISTORY_CHARS) {
		cleanup_free char *v =
			start && *start ? xasprintf("%s,%s", start, old) : xstrdup(old);

		wl_set_annotation(rs, WL_ANN_REV_HISTORY, v);
	}
}

bool wl_set_new_rs_annotations(const json_t *d, json_t *rs, const char *revision, bool exists)
{
	json_t *ann = wl_get(d, "metadata.annotations");
	const char *k, *old;
	json_t *v;
	bool changed = false, has_old;
	int64_t old_rev = 0, new_rev = 0;

	json_object_foreach (ann, k, v) {
		if (skip_annotation(k) || !json_is_string(v))
			continue;
		changed |= wl_set_annotation(rs, k, json_string_value(v));
	}
	old = wl_annotation(rs, WL_ANN_REVISION);
	has_old = old != NULL;
	if (has_old && !parse_i64(old, &old_rev))
		return false;
	if (!parse_i64(revision, &new_rev))
		return false;
	if (old_rev < new_rev) {
		cleanup_free char *old_copy = has_old ? xstrdup(old) : NULL;

		wl_set_annotation(rs, WL_ANN_REVISION, revision);
		changed = true;
		if (old_copy)
			append_revision_history(rs, old_copy);
	}
	if (!exists &&
	    wl_set_replicas_annotations(rs, wl_d_replicas(d), wl_d_replicas(d) + wl_d_max_surge(d)))
		changed = true;
	return changed;
}

bool wl_replicas_annotations_need_update(const json_t *rs, int32_t desired, int32_t max)
{
	char a[16], b[16];
	const char *cd = wl_annotation(rs, WL_ANN_DESIRED), *cm = wl_annotation(rs, WL_ANN_MAX);

	snprintf(a, sizeof(a), "%" PRId32, desired);
	snprintf(b, sizeof(b), "%" PRId32, max);
	return !str_eq(cd, a) || !str_eq(cm, b);
}

bool wl_set_replicas_annotations(json_t *rs, int32_t desired, int32_t max)
{
	char a[16], b[16];
	bool changed;

	snprintf(a, sizeof(a), "%" PRId32, desired);
	snprintf(b, sizeof(b), "%" PRId32, max);
	changed = wl_set_annotation(rs, WL_ANN_DESIRED, a);
	changed |= wl_set_annotation(rs, WL_ANN_MAX, b);
	return changed;
}

json_t *wl_deployment_status(const json_t *d, json_t *const *all, size_t n, const json_t *new_rs)
{
	int32_t available = wl_rs_sum(all, n, "availableReplicas");
	int32_t unavailable = wl_rs_sum(all, n, NULL) - available;
	json_t *st = json_object(), *conds = wl_get(d, "status.conditions");
	json_t *cc = wl_get(d, "status.collisionCount");

	if (unavailable < 0)
		unavailable = 0;
	json_object_set_new(st, "observedGeneration",
			    json_integer(wl_int(d, "metadata.generation", 0)));
	json_object_set_new(st, "replicas", json_integer(wl_rs_sum(all, n, "replicas")));
	json_object_set_new(st, "updatedReplicas",
			    json_integer(new_rs ? wl_rs_status(new_rs, "replicas") : 0));
	json_object_set_new(st, "readyReplicas", json_integer(wl_rs_sum(all, n, "readyReplicas")));
	json_object_set_new(st, "availableReplicas", json_integer(available));
	json_object_set_new(st, "unavailableReplicas", json_integer(unavailable));
	if (json_is_array(conds))
		json_object_set_new(st, "conditions", json_deep_copy(conds));
	if (json_is_integer(cc))
		json_object_set(st, "collisionCount", cc);
	if (available >= wl_d_replicas(d) - wl_d_max_unavailable(d))
		wl_cond_set(st, wl_cond_new("Available", "True", "MinimumReplicasAvailable",
					    "Deployment has minimum availability."));
	else
		wl_cond_set(st, wl_cond_new("Available", "False", "MinimumReplicasUnavailable",
					    "Deployment does not have minimum availability."));
	return st;
}

bool wl_deployment_complete(const json_t *d, const json_t *st)
{
	int32_t r = wl_d_replicas(d);

	return wl_int(st, "updatedReplicas", 0) == r && wl_int(st, "replicas", 0) == r &&
	       wl_int(st, "availableReplicas", 0) == r &&
	       wl_int(st, "observedGeneration", 0) >= wl_int(d, "metadata.generation", 0);
}

bool wl_deployment_progressing(const json_t *d, const json_t *st)
{
	json_t *old = json_object_get(d, "status");
	int64_t old_old = wl_int(old, "replicas", 0) - wl_int(old, "updatedReplicas", 0);
	int64_t new_old = wl_int(st, "replicas", 0) - wl_int(st, "updatedReplicas", 0);

	return wl_int(st, "updatedReplicas", 0) > wl_int(old, "updatedReplicas", 0) ||
	       new_old < old_old ||
	       wl_int(st, "readyReplicas", 0) > wl_int(old, "readyReplicas", 0) ||
	       wl_int(st, "availableReplicas", 0) > wl_int(old, "availableReplicas", 0);
}

bool wl_deployment_timed_out(const json_t *d, const json_t *st, int64_t now)
{
	json_t *c = wl_cond_get(st, "Progressing");
	const char *reason;

	if (!wl_d_has_progress_deadline(d) || !c)
		return false;
	reason = wl_str(c, "reason");
	if (str_eq(reason, "NewReplicaSetAvailable"))
		return false;
	if (str_eq(reason, "ProgressDeadlineExceeded"))
		return true;
	return wl_time_parse(wl_str(c, "lastUpdateTime")) +
		       wl_int(d, "spec.progressDeadlineSeconds", 0) <
	       now;
}
