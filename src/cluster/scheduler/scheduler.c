/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler as an API client: informers on pods and nodes feed the cache (cache.c),
 * pending pods wait in upstream's three queues (active by priority, backoff, and
 * unschedulable until the cluster changes), one thread makes decisions and assumes each
 * chosen pod at once, and a small pool of binder threads writes bindings, Scheduled and
 * FailedScheduling events and the PodScheduled condition, so the loop never waits on
 * the API server. Started by `skiff server` through scheduler_start().
 *
 * Pods come from two informers: the one on all pods that every control loop of the
 * process shares (what is bound where), and one of the scheduler's own on pods without a
 * node, so that a new pod is seen at once and not after the changes of every running pod
 * the shared one still has to hand to the other controllers. Each version is applied
 * once, the newer by resourceVersion winning whichever informer brings it; a pod stays
 * assumed on its node from the decision until an informer shows it bound.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jhash.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/scheduler/internal.h"
#include "cluster/scheduler/scheduler.h"

#define COMPONENT "default-scheduler"
#define BINDERS   64
/* upstream's podMaxInUnschedulablePodsDuration */
#define UNSCHED_MAX_MS  (5 * 60 * 1000)
#define SYNC_TIMEOUT_MS 60000
#define FLUSH_EVERY_MS  30000
/* the scheduler's own informer: pods without a node */
#define PENDING_PATH "/api/v1/pods?fieldSelector=spec.nodeName%3D"

enum qstate {
	Q_NONE,     /* bound, not ours, or between queues */
	Q_ACTIVE,   /* waiting for a decision */
	Q_BACKOFF,  /* waiting for its backoff to expire */
	Q_UNSCHED,  /* waiting for a change in the cluster */
	Q_INFLIGHT, /* assumed, its binding under way */
};

struct qpod {
	char *key;
	struct sched_pod *p;
	enum qstate state;
	size_t pos; /* in the heap or list of its state */
	uint64_t seq;
	int attempts;
	int64_t backoff_until, unsched_since;
	bool pod_sensitive;
	bool assumed;         /* accounted on the node its binding targets */
	long long rv;         /* resourceVersion of the version applied */
	uint64_t meta_digest; /* of that version's uid, labels, owners and deletion */
	uint64_t spec_digest; /* of its spec and labels, when spec_known */
	bool spec_known;
	bool cond_false; /* has PodScheduled=False */
	char *cond_msg;  /* ... with this message */
};

struct qheap {
	struct qpod **v;
	size_t n, cap;
	bool (*less)(const struct qpod *a, const struct qpod *b);
};

enum job_kind { JOB_BIND, JOB_FAIL };

struct job {
	struct job *next;
	enum job_kind kind;
	char *key, *ns, *name, *uid, *node, *msg;
	bool patch, transition;
};

struct scheduler {
	struct kc *c;
	struct informer *pods_inf, *nodes_inf, *pending_inf;

	pthread_mutex_t lock; /* everything below up to the jobs */
	pthread_cond_t cond;
	bool stop;
	struct sched_cache *cache;
	struct smap pods; /* key -> struct qpod * */
	struct qheap active, backoff;
	struct qpod **unsched;
	size_t n_unsched, cap_unsched;
	uint64_t seq;
	pthread_t loop;

	pthread_mutex_t jlock;
	pthread_cond_t jcond;
	bool jstop;
	struct job *jhead, **jtail;
	pthread_t binders[BINDERS];
	size_t n_binders;
};

/* Queues. */

static bool active_less(const struct qpod *a, const struct qpod *b)
{
	if (a->p->priority != b->p->priority)
		return a->p->priority > b->p->priority;
	return a->seq < b->seq;
}

static bool backoff_less(const struct qpod *a, const struct qpod *b)
{
	return a->backoff_until < b->backoff_until;
}

static void heap_set(struct qheap *h, size_t i, struct qpod *q)
{
	h->v[i] = q;
	q->pos = i;
}

static void heap_up(struct qheap *h, size_t i)
{
	struct qpod *q = h->v[i];

	while (i > 0 && h->less(q, h->v[(i - 1) / 2])) {
		heap_set(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(h, i, q);
}

static void heap_down(struct qheap *h, size_t i)
{
	struct qpod *q = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->less(h->v[c + 1], h->v[c]))
			c++;
		if (!h->less(h->v[c], q))
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, q);
}

static void heap_push(struct qheap *h, struct qpod *q)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n] = q;
	q->pos = h->n++;
	heap_up(h, q->pos);
}

static void heap_remove(struct qheap *h, size_t i)
{
	struct qpod *last = h->v[--h->n];

	if (i == h->n)
		return;
	heap_set(h, i, last);
	heap_down(h, i);
	heap_up(h, last->pos);
}

static void dequeue(struct scheduler *s, struct qpod *q)
{
	switch (q->state) {
	case Q_ACTIVE:
		heap_remove(&s->active, q->pos);
		break;
	case Q_BACKOFF:
		heap_remove(&s->backoff, q->pos);
		break;
	case Q_UNSCHED:
		s->unsched[q->pos] = s->unsched[--s->n_unsched];
		s->unsched[q->pos]->pos = q->pos;
		break;
	case Q_NONE:
	case Q_INFLIGHT:
		break;
	}
	q->state = Q_NONE;
}

static void to_active(struct scheduler *s, struct qpod *q)
{
	dequeue(s, q);
	q->state = Q_ACTIVE;
	q->seq = s->seq++;
	heap_push(&s->active, q);
	pthread_cond_signal(&s->cond);
}

/* Back to scheduling, after the backoff of the attempts so far. */
static void requeue(struct scheduler *s, struct qpod *q)
{
	if (q->backoff_until <= clock_mono_ms()) {
		to_active(s, q);
		return;
	}
	dequeue(s, q);
	q->state = Q_BACKOFF;
	heap_push(&s->backoff, q);
	pthread_cond_signal(&s->cond);
}

static void to_unsched(struct scheduler *s, struct qpod *q)
{
	dequeue(s, q);
	if (s->n_unsched == s->cap_unsched) {
		s->cap_unsched = s->cap_unsched ? s->cap_unsched * 2 : 64;
		s->unsched = xrealloc(s->unsched, s->cap_unsched * sizeof(*s->unsched));
	}
	q->state = Q_UNSCHED;
	q->pos = s->n_unsched;
	q->unsched_since = clock_mono_ms();
	s->unsched[s->n_unsched++] = q;
}

/* A change that may let unschedulable pods fit: give them all another try. */
static void move_all(struct scheduler *s, bool pod_sensitive_only)
{
	for (size_t i = s->n_unsched; i-- > 0;) {
		struct qpod *q = s->unsched[i];

		if (!pod_sensitive_only || q->pod_sensitive)
			requeue(s, q);
	}
}

/* Jobs for the binders. */

static void job_free(struct job *j)
{
	free(j->key);
	free(j->ns);
	free(j->name);
	free(j->uid);
	free(j->node);
	free(j->msg);
	free(j);
}

static struct job *job_new(enum job_kind kind, const struct qpod *q)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->key = xstrdup(q->key);
	j->ns = xstrdup(q->p->ns);
	j->name = xstrdup(q->p->name);
	j->uid = xstrdup(q->p->uid);
	return j;
}

static void job_push(struct scheduler *s, struct job *j)
{
	pthread_mutex_lock(&s->jlock);
	*s->jtail = j;
	s->jtail = &j->next;
	pthread_cond_signal(&s->jcond);
	pthread_mutex_unlock(&s->jlock);
}

static json_t *pod_ref(const struct job *j)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind", "Pod",
			 "metadata", "name", j->name, "namespace", j->ns, "uid", j->uid);
}

static void bind_done(struct scheduler *s, const struct job *j, bool ok)
{
	struct smap_ent *e;
	struct qpod *q;

	pthread_mutex_lock(&s->lock);
	e = smap_find(&s->pods, j->key);
	q = e ? e->v.p : NULL;
	if (q && strcmp(q->p->uid, j->uid) == 0 && q->assumed) {
		if (q->state == Q_INFLIGHT)
			q->state = Q_NONE;
		if (ok) {
			/* assumed until an informer shows the pod on its node */
			q->attempts = 0;
		} else if (!q->p->node_name) {
			q->assumed = false;
			/* forget the assumption; the informer tells if someone else bound it */
			sched_cache_remove_pod(s->cache, q->p);
			q->attempts++;
			q->backoff_until = clock_mono_ms() + sched_backoff_ms(q->attempts);
			if (sched_pod_pending(q->p))
				requeue(s, q);
			move_all(s, false);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* The Binding of @j's pod to its node, as JSON text. */
static char *binding_text(const struct job *j)
{
	struct jtext t = {0};
	char *text;

	jtext_open(&t, '{');
	jtext_key_str(&t, "apiVersion", "v1");
	jtext_key_str(&t, "kind", "Binding");
	jtext_key(&t, "metadata");
	jtext_open(&t, '{');
	jtext_key_str(&t, "name", j->name);
	jtext_key_str(&t, "namespace", j->ns);
	jtext_key_str(&t, "uid", j->uid);
	jtext_close(&t, '}');
	jtext_key(&t, "target");
	jtext_open(&t, '{');
	jtext_key_str(&t, "apiVersion", "v1");
	jtext_key_str(&t, "kind", "Node");
	jtext_key_str(&t, "name", j->node);
	jtext_close(&t, '}');
	jtext_close(&t, '}');
	/* no jtext_value(): nothing here can fail to serialize */
	text = jtext_take(&t, NULL);
	if (!text)
		abort();
	return text;
}

static void do_bind(struct scheduler *s, const struct job *j)
{
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/%s/pods/%s/binding", j->ns, j->name);
	cleanup_free char *body = binding_text(j);
	cleanup_json json_t *ref = pod_ref(j);
	cleanup_err struct err err = ERR_INIT;
	const struct kc_req req = {
		.method = "POST", .path = path, .text = body, .len = strlen(body)};
	int status = kc_send(s->c, &req, NULL, &err);

	if (status >= 200 && status < 300) {
		bind_done(s, j, true);
		kc_event(s->c, ref, "Normal", "Scheduled", COMPONENT,
			 "Successfully assigned %s/%s to %s", j->ns, j->name, j->node);
		return;
	}
	log_debug("bind pod '%s/%s' to '%s': %s", j->ns, j->name, j->node,
		  err.msg ? err.msg : "failed");
	bind_done(s, j, false);
	if (status != 404)
		kc_event(s->c, ref, "Warning", "FailedScheduling", COMPONENT,
			 "Binding rejected: %s", err.msg ? err.msg : "failed");
}

static void do_fail(struct scheduler *s, const struct job *j)
{
	cleanup_json json_t *ref = pod_ref(j);
	cleanup_free char *path = NULL, *now = NULL;
	cleanup_json json_t *patch = NULL;
	cleanup_err struct err err = ERR_INIT;
	json_t *cond;
	int status;

	kc_event(s->c, ref, "Warning", "FailedScheduling", COMPONENT, "%s", j->msg);
	if (!j->patch)
		return;
	path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", j->ns, j->name);
	cond = json_pack("{s:s, s:s, s:s, s:s, s:n}", "type", "PodScheduled", "status", "False",
			 "reason", "Unschedulable", "message", j->msg, "lastProbeTime");
	/* the transition time changes only when the condition's status does */
	if (j->transition) {
		now = clock_rfc3339(NULL);
		json_object_set_new(cond, "lastTransitionTime", json_string(now));
	}
	patch = json_pack("{s:{s:[o]}}", "status", "conditions", cond);
	status = kc_request(s->c, "PATCH", path, "application/strategic-merge-patch+json", patch,
			    NULL, &err);
	if (status < 200 || status >= 300)
		log_debug("update status of pod '%s/%s': %s", j->ns, j->name,
			  err.msg ? err.msg : "failed");
}

static void *binder_main(void *arg)
{
	struct scheduler *s = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&s->jlock);
		while (!s->jhead && !s->jstop)
			pthread_cond_wait(&s->jcond, &s->jlock);
		if (s->jstop) {
			pthread_mutex_unlock(&s->jlock);
			return NULL;
		}
		j = s->jhead;
		s->jhead = j->next;
		if (!s->jhead)
			s->jtail = &s->jhead;
		pthread_mutex_unlock(&s->jlock);
		if (j->kind == JOB_BIND)
			do_bind(s, j);
		else
			do_fail(s, j);
		job_free(j);
	}
}

/* Informer handlers. */

static void read_condition(struct qpod *q, const json_t *obj)
{
	const json_t *c;
	size_t i;

	free(q->cond_msg);
	q->cond_msg = NULL;
	q->cond_false = false;
	json_array_foreach (json_object_get(json_object_get(obj, "status"), "conditions"), i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *st = json_string_value(json_object_get(c, "status"));
		const char *msg = json_string_value(json_object_get(c, "message"));

		if (!type || strcmp(type, "PodScheduled") != 0)
			continue;
		q->cond_false = st && strcmp(st, "False") == 0;
		if (q->cond_false && msg)
			q->cond_msg = xstrdup(msg);
	}
}

static void qpod_free(struct qpod *q)
{
	sched_pod_free(q->p);
	free(q->cond_msg);
	free(q->key);
	free(q);
}

static void forget_pod(struct scheduler *s, struct qpod *q)
{
	bool freed = q->p->node >= 0;

	sched_cache_remove_pod(s->cache, q->p);
	dequeue(s, q);
	smap_del(&s->pods, q->key);
	qpod_free(q);
	if (freed)
		move_all(s, false);
}

static long long rv_of(const json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	return rv ? strtoll(rv, NULL, 10) : 0;
}

/*
 * Digests of what the scheduler reads of a pod beyond its status, compared with those of
 * the version it holds instead of reading the previous version. Of a bound pod, the
 * metadata that other pods' placement reads: its uid, labels, owners and deletion. Its
 * spec cannot change in any way that counts for the scheduler: the API server allows a
 * pod's spec to change only in images, deadlines and added tolerations, and sets
 * spec.nodeName only by binding. Of a pod waiting for a node, also the spec and labels
 * it is placed by (added tolerations, removed scheduling gates).
 */
static uint64_t meta_digest(const json_t *obj)
{
	const json_t *m = json_object_get(obj, "metadata");

	return jhash_mix(jhash_mix(jhash_mix(jhash(json_object_get(m, "uid")),
					     jhash(json_object_get(m, "labels"))),
				   jhash(json_object_get(m, "ownerReferences"))),
			 jhash(json_object_get(m, "deletionTimestamp")));
}

static uint64_t placement_digest(const json_t *obj)
{
	const json_t *m = json_object_get(obj, "metadata");

	return jhash_mix(jhash(json_object_get(obj, "spec")), jhash(json_object_get(m, "labels")));
}

/* Moves the accounting of @q to its new version @np (takes @np). */
static void account(struct scheduler *s, struct qpod *q, struct sched_pod *np, bool *ret_added)
{
	const struct sched_node *n = q->p ? sched_cache_node(s->cache, q->p->node) : NULL;
	cleanup_free char *was = n ? xstrdup(n->name) : NULL;
	const char *target = NULL;

	*ret_added = false;
	if (np->node_name && !np->terminal)
		target = np->node_name;
	else if (!np->node_name && q->assumed && was)
		target = was; /* the binding is under way */
	if (q->p) {
		sched_cache_remove_pod(s->cache, q->p);
		sched_pod_free(q->p);
	}
	q->p = np;
	if (target) {
		sched_cache_add_pod(s->cache, np, target);
		*ret_added = !was || strcmp(was, target) != 0;
	}
	if (np->node_name)
		q->assumed = false;
	if (was && !target)
		move_all(s, false);
}

/* Whether @q is accounted on the node named @node (locked). */
static bool assumed_on(struct scheduler *s, const struct qpod *q, const char *node)
{
	const struct sched_node *n = sched_cache_node(s->cache, q->p->node);

	return n && strcmp(n->name, node) == 0;
}

/* A version of a pod from either informer: applied unless one as new was already. */
static void on_pod(struct scheduler *s, const json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	long long rv = rv_of(obj);
	const char *node =
		json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));
	uint64_t meta;
	struct sched_pod *np;
	struct smap_ent *e;
	struct qpod *q;
	bool added, spec_moved = false;

	pthread_mutex_lock(&s->lock);
	e = smap_find(&s->pods, key);
	q = e ? e->v.p : NULL;
	if (q && rv && rv <= q->rv) {
		/* the other informer brought this version, or a later one, already */
		pthread_mutex_unlock(&s->lock);
		return;
	}
	meta = meta_digest(obj);
	if (q && q->p->node_name && !q->assumed && q->meta_digest == meta) {
		/* a bound pod accounted as it is: only the revision and the conditions move
		 * (a status report, mostly) */
		q->rv = rv;
		read_condition(q, obj);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (q && q->assumed && !q->p->node_name && node && q->meta_digest == meta &&
	    assumed_on(s, q, node)) {
		/* this scheduler's binding, where it assumed the pod: accounted there already,
		 * and the binding changed nothing else the scheduler reads */
		q->p->node_name = xstrdup(node);
		q->assumed = false;
		q->spec_known = false;
		q->rv = rv;
		read_condition(q, obj);
		dequeue(s, q);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	np = sched_pod_parse(obj);
	if (q && strcmp(q->p->uid, np->uid) != 0) {
		/* deleted and created again under the same name between two events */
		forget_pod(s, q);
		q = NULL;
	}
	if (!q) {
		q = xcalloc(1, sizeof(*q));
		q->key = xstrdup(key);
		smap_add(&s->pods, key)->v.p = q;
	}
	if (sched_pod_pending(np)) {
		/* one that waits for a change that may let it fit looks for one to what it
		 * is placed by */
		uint64_t d = placement_digest(obj);

		spec_moved = q->spec_known && q->spec_digest != d;
		q->spec_digest = d;
		q->spec_known = true;
	} else {
		q->spec_known = false;
	}
	q->rv = rv;
	q->meta_digest = meta;
	read_condition(q, obj);
	account(s, q, np, &added);
	if (added && sched_pod_has_affinity(np))
		move_all(s, true);
	if (!sched_pod_pending(np)) {
		dequeue(s, q);
	} else if (q->state == Q_NONE && !q->assumed) {
		to_active(s, q);
	} else if (q->state == Q_UNSCHED && spec_moved) {
		requeue(s, q);
	}
	pthread_mutex_unlock(&s->lock);
}

static void pod_del(void *arg, json_t *obj);

/* Terminated pods hold nothing, as upstream's scheduler filters them out. */
static bool terminated(const json_t *pod)
{
	const char *phase =
		json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static void pod_add(void *arg, json_t *obj)
{
	if (!terminated(obj))
		on_pod(arg, obj);
}

/*
 * The previous version is not read: the scheduler compares a pod with the version it
 * holds, and holds none of an ended pod (pod_del leaves alone one it does not hold).
 */
static void pod_update(void *arg, struct informer_old *old, json_t *obj)
{
	(void)old;
	if (terminated(obj))
		pod_del(arg, obj);
	else
		on_pod(arg, obj);
}

/*
 * The pod of @obj's name (locked), unless it has another uid: not a pod of the same name
 * the other informer brought since.
 */
static struct qpod *find_same(struct scheduler *s, const json_t *obj)
{
	cleanup_free char *key = kc_key(obj);
	const char *uid =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
	struct smap_ent *e = smap_find(&s->pods, key);
	struct qpod *q = e ? e->v.p : NULL;

	return q && (!uid || strcmp(q->p->uid, uid) == 0) ? q : NULL;
}

static void pod_del(void *arg, json_t *obj)
{
	struct scheduler *s = arg;
	struct qpod *q;

	pthread_mutex_lock(&s->lock);
	q = find_same(s, obj);
	if (q)
		forget_pod(s, q);
	pthread_mutex_unlock(&s->lock);
}

/*
 * A pod left the scheduler's own informer: it was bound, or deleted. Bound by this
 * scheduler (assumed) or known bound, it stays; otherwise it leaves the queues, and is
 * forgotten when it was never on a node (the shared informer brings it back if another
 * scheduler bound it, or its deletion otherwise).
 */
static void pending_gone(void *arg, json_t *obj)
{
	struct scheduler *s = arg;
	struct qpod *q;

	pthread_mutex_lock(&s->lock);
	q = find_same(s, obj);
	/* a pod in flight is assumed */
	if (q && !q->assumed && !q->p->node_name)
		forget_pod(s, q);
	pthread_mutex_unlock(&s->lock);
}

static void node_put(void *arg, json_t *obj)
{
	struct scheduler *s = arg;
	struct sched_node *n = sched_node_parse(obj);

	pthread_mutex_lock(&s->lock);
	if (sched_cache_set_node(s->cache, n))
		move_all(s, false);
	pthread_mutex_unlock(&s->lock);
}

static void node_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	node_put(arg, obj);
}

static void node_del(void *arg, json_t *obj)
{
	struct scheduler *s = arg;
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

	pthread_mutex_lock(&s->lock);
	if (name)
		sched_cache_remove_node(s->cache, name);
	pthread_mutex_unlock(&s->lock);
}

/* The scheduling loop. */

static void schedule_one(struct scheduler *s, struct qpod *q)
{
	struct sched_result res;
	struct job *j;

	q->state = Q_INFLIGHT;
	sched_schedule(s->cache, q->p, &res);
	if (res.node >= 0) {
		j = job_new(JOB_BIND, q);
		j->node = xstrdup(sched_cache_node(s->cache, res.node)->name);
		sched_cache_add_pod(s->cache, q->p, j->node);
		q->assumed = true;
	} else {
		q->attempts++;
		q->backoff_until = clock_mono_ms() + sched_backoff_ms(q->attempts);
		q->pod_sensitive = res.pod_sensitive;
		to_unsched(s, q);
		j = job_new(JOB_FAIL, q);
		j->msg = xstrdup(res.message);
		j->patch = !q->cond_false || !q->cond_msg || strcmp(q->cond_msg, res.message) != 0;
		j->transition = !q->cond_false;
		/* what the patch will write, so that the next failure compares with it */
		q->cond_false = true;
		free(q->cond_msg);
		q->cond_msg = xstrdup(res.message);
	}
	sched_result_done(&res);
	job_push(s, j);
}

static void *loop_main(void *arg)
{
	struct scheduler *s = arg;
	int64_t last_flush = clock_mono_ms();

	/* decide only on a complete view of nodes and bound pods */
	if (!informer_wait_synced(s->nodes_inf, SYNC_TIMEOUT_MS) ||
	    !informer_wait_synced(s->pods_inf, SYNC_TIMEOUT_MS) ||
	    !informer_wait_synced(s->pending_inf, SYNC_TIMEOUT_MS))
		log_warn("scheduler: informers not synced after %d s, scheduling anyway",
			 SYNC_TIMEOUT_MS / 1000);
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		int64_t now = clock_mono_ms(), wait_ms = 1000;
		struct timespec ts;

		while (s->backoff.n && s->backoff.v[0]->backoff_until <= now)
			to_active(s, s->backoff.v[0]);
		if (now - last_flush >= FLUSH_EVERY_MS) {
			last_flush = now;
			for (size_t i = s->n_unsched; i-- > 0;)
				if (now - s->unsched[i]->unsched_since >= UNSCHED_MAX_MS)
					requeue(s, s->unsched[i]);
		}
		if (s->active.n) {
			struct qpod *q = s->active.v[0];

			heap_remove(&s->active, 0);
			q->state = Q_NONE;
			schedule_one(s, q);
			continue;
		}
		if (s->backoff.n && s->backoff.v[0]->backoff_until - now < wait_ms)
			wait_ms = s->backoff.v[0]->backoff_until - now;
		clock_deadline(&ts, wait_ms);
		clock_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void free_qpod(void *p)
{
	qpod_free(p);
}

static void scheduler_free(struct scheduler *s)
{
	struct job *j;

	informer_stop(s->pending_inf);
	informer_stop(s->pods_inf);
	informer_stop(s->nodes_inf);
	while ((j = s->jhead)) {
		s->jhead = j->next;
		job_free(j);
	}
	/* the cache only borrows the pods: empty it before they go */
	for (size_t i = 0; i < s->pods.cap; i++)
		if (s->pods.ents[i].key)
			sched_cache_remove_pod(s->cache, ((struct qpod *)s->pods.ents[i].v.p)->p);
	smap_done(&s->pods, free_qpod);
	sched_cache_free(s->cache);
	free(s->active.v);
	free(s->backoff.v);
	free(s->unsched);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->jcond);
	pthread_mutex_destroy(&s->jlock);
	free(s);
}

int scheduler_start(struct kc *c, struct scheduler **ret, struct err *err)
{
	static const struct informer_handlers pod_h = {.add = pod_add,
						       .update_lazy = pod_update,
						       .del = pod_del,
						       .arg = NULL,
						       .compact = true};
	static const struct informer_handlers pending_h = {.add = pod_add,
							   .update_lazy = pod_update,
							   .del = pending_gone,
							   .arg = NULL,
							   .compact = true};
	static const struct informer_handlers node_h = {
		.add = node_put, .update = node_update, .del = node_del, .arg = NULL};
	struct informer_handlers h;
	struct scheduler *s = xcalloc(1, sizeof(*s));
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	s->c = c;
	s->cache = sched_cache_new((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20));
	s->active.less = active_less;
	s->backoff.less = backoff_less;
	s->jtail = &s->jhead;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->jlock, NULL);
	pthread_cond_init(&s->jcond, NULL);

	h = node_h;
	h.arg = s;
	r = informer_start(c, "/api/v1/nodes", &h, &s->nodes_inf, err);
	if (r >= 0) {
		h = pod_h;
		h.arg = s;
		/* the pods informer every control loop shares; pod_add/update skip the ended */
		r = informer_start(c, "/api/v1/pods", &h, &s->pods_inf, err);
	}
	if (r >= 0) {
		h = pending_h;
		h.arg = s;
		r = informer_start(c, PENDING_PATH, &h, &s->pending_inf, err);
	}
	if (r < 0) {
		scheduler_free(s);
		return err_wrap(err, "start scheduler");
	}
	for (s->n_binders = 0; s->n_binders < BINDERS; s->n_binders++) {
		r = pthread_create(&s->binders[s->n_binders], NULL, binder_main, s);
		if (r == 0)
			pthread_setname_np(s->binders[s->n_binders], "sched-binder");
		if (r)
			break;
	}
	if (!r) {
		r = pthread_create(&s->loop, NULL, loop_main, s);
		if (r == 0)
			pthread_setname_np(s->loop, "scheduler");
	}
	if (r) {
		pthread_mutex_lock(&s->jlock);
		s->jstop = true;
		pthread_cond_broadcast(&s->jcond);
		pthread_mutex_unlock(&s->jlock);
		for (size_t i = 0; i < s->n_binders; i++)
			pthread_join(s->binders[i], NULL);
		scheduler_free(s);
		return err_errno(err, r, "start scheduler: create thread");
	}
	*ret = s;
	return 0;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	/* informers first: their handlers take the lock the loop holds */
	informer_stop(s->pending_inf);
	informer_stop(s->pods_inf);
	informer_stop(s->nodes_inf);
	s->pending_inf = s->pods_inf = s->nodes_inf = NULL;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->loop, NULL);
	pthread_mutex_lock(&s->jlock);
	s->jstop = true;
	pthread_cond_broadcast(&s->jcond);
	pthread_mutex_unlock(&s->jlock);
	for (size_t i = 0; i < s->n_binders; i++)
		pthread_join(s->binders[i], NULL);
	scheduler_free(s);
}
