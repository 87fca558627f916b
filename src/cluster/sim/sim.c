/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hollow-node engine: every node's work (registration, lease renewal every 10 s,
 * node status every 5 min, pod transitions) is a job in a heap ordered by due time (the
 * nodes' own jobs in one that goes first, pods' in another), drained by a few workers
 * that share one HTTPS client and its connections, so that thousands of nodes cost a
 * handful of threads. A watch of the nodes puts a node's status back when someone else
 * changed its Ready condition (the node lifecycle controller, after a lapsed Lease), as
 * the kubelet does when the stored status differs from its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/log.h"
#include "base/url.h"
#include "cluster/api/auth.h"
#include "cluster/client/client.h"
#include "cluster/sim/internal.h"
#include "cluster/sim/sim.h"

#define LEASE_SECONDS 40
#define LEASE_PATH    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
#define NODES_PATH    "/api/v1/nodes?labelSelector=node.kubernetes.io%2Finstance-type%3Dhollow"
/* the kubelet's nodeStatusUpdateFrequency: it posts a changed status no more often */
#define STATUS_SYNC_MS 10000
#define NODE_WATCH_S   4 /* bounds how long stopping waits for the node watch */
#define NODE_PAGE      250

char *sim_time(bool micro)
{
	char buf[48];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (micro)
		snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", ts.tv_nsec / 1000);
	else
		snprintf(buf + n, sizeof(buf) - n, "Z");
	return xstrdup(buf);
}

struct sim_job *sim_job_new(enum sim_job_kind kind, size_t node, int64_t at)
{
	struct sim_job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->node = node;
	j->at = at;
	return j;
}

void sim_job_free(struct sim_job *job)
{
	if (!job)
		return;
	free(job->pod);
	free(job->uid);
	free(job);
}

/* The heaps (locked). */

static void heap_swap(struct sim_heap *h, size_t a, size_t b)
{
	struct sim_job *t = h->v[a];

	h->v[a] = h->v[b];
	h->v[b] = t;
}

static void heap_push(struct sim_heap *h, struct sim_job *j)
{
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 1024;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	i = h->n++;
	h->v[i] = j;
	while (i > 0 && h->v[(i - 1) / 2]->at > h->v[i]->at) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static struct sim_job *heap_pop(struct sim_heap *h)
{
	struct sim_job *top = h->v[0];
	size_t i = 0;

	h->v[0] = h->v[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < h->n && h->v[l]->at < h->v[m]->at)
			m = l;
		if (r < h->n && h->v[r]->at < h->v[m]->at)
			m = r;
		if (m == i)
			break;
		heap_swap(h, i, m);
		i = m;
	}
	return top;
}

static void heap_free(struct sim_heap *h)
{
	for (size_t i = 0; i < h->n; i++)
		sim_job_free(h->v[i]);
	free(h->v);
	*h = (struct sim_heap){0};
}

static struct sim_heap *heap_of(struct sim *s, const struct sim_job *job)
{
	switch (job->kind) {
	case SIM_REGISTER:
	case SIM_LEASE:
	case SIM_STATUS:
	case SIM_STATUS_SYNC:
		return &s->node_jobs;
	default:
		return &s->pod_jobs;
	}
}

/* The job to run now (node jobs first), or NULL with *wait_ms until one is due (-1: none). */
static struct sim_job *next_due(struct sim *s, int64_t now, int64_t *wait_ms)
{
	struct sim_heap *hs[] = {&s->node_jobs, &s->pod_jobs};
	int64_t first = -1;

	for (size_t i = 0; i < 2; i++) {
		if (hs[i]->n == 0)
			continue;
		if (hs[i]->v[0]->at <= now)
			return heap_pop(hs[i]);
		if (first < 0 || hs[i]->v[0]->at < first)
			first = hs[i]->v[0]->at;
	}
	*wait_ms = first < 0 ? -1 : first - now;
	return NULL;
}

void sim_schedule_locked(struct sim *s, struct sim_job *job)
{
	struct sim_heap *h;

	if (s->stopping) {
		sim_job_free(job);
		return;
	}
	h = heap_of(s, job);
	heap_push(h, job);
	/* only a job that is now the earliest of its heap changes anyone's wait */
	if (h->v[0] == job)
		pthread_cond_signal(s->timer_held ? &s->timer_cond : &s->cond);
}

void sim_schedule(struct sim *s, struct sim_job *job)
{
	pthread_mutex_lock(&s->mu);
	sim_schedule_locked(s, job);
	pthread_mutex_unlock(&s->mu);
}

static void again(struct sim *s, struct sim_job *j, int64_t delay_ms)
{
	j->at = clock_mono_ms() + delay_ms;
	sim_schedule(s, j);
}

/*
 * The next period of a node's timer, kept in its phase: from when the job was due, not
 * from when a worker got to it. After the server held requests back for a while, the
 * renewals released together would otherwise stay together, thousands due in the same
 * instant every period, and the pods' jobs queued behind them each time.
 */
static void again_in_phase(struct sim *s, struct sim_job *j, int64_t period_ms)
{
	int64_t now = clock_mono_ms(), at = j->at + period_ms;

	if (at <= now)
		at += ((now - at) / period_ms + 1) * period_ms;
	j->at = at;
	sim_schedule(s, j);
}

/* Retries back off from 1 s to 30 s, so a server that is down is not hammered. */
static int64_t backoff(struct sim_job *j)
{
	int64_t ms = 1000LL << (j->attempt < 5 ? j->attempt : 5);

	j->attempt++;
	return ms > 30000 ? 30000 : ms;
}

/* Node documents. */

static json_t *node_conditions(const struct sim_node *n, const char *now, const char *ready)
{
	static const char *const c[][4] = {
		{"MemoryPressure", "False", "KubeletHasSufficientMemory",
		 "kubelet has sufficient memory available"},
		{"DiskPressure", "False", "KubeletHasNoDiskPressure",
		 "kubelet has no disk pressure"},
		{"PIDPressure", "False", "KubeletHasSufficientPID",
		 "kubelet has sufficient PID available"},
		{"Ready", "True", "KubeletReady", "kubelet is posting ready status"},
	};
	json_t *out = json_array();

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		json_array_append_new(
			out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", c[i][0], "status",
				       c[i][1], "reason", c[i][2], "message", c[i][3],
				       "lastHeartbeatTime", now, "lastTransitionTime",
				       strcmp(c[i][0], "Ready") == 0 ? ready : n->since));
	return out;
}

static json_t *node_status(struct sim *s, struct sim_node *n)
{
	cleanup_free char *now = sim_time(false), *ready = NULL;
	json_t *cap = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cpu", s->cpu, "memory",
				s->memory, "ephemeral-storage", "100Gi", "pods", s->pods_cap,
				"hugepages-1Gi", "0", "hugepages-2Mi", "0");

	pthread_mutex_lock(&s->mu);
	ready = xstrdup(n->ready_since);
	n->posted = clock_mono_ms();
	pthread_mutex_unlock(&s->mu);
	return json_pack(
		"{s:O, s:o, s:o, s:[{s:s, s:s}, {s:s, s:s}], s:{s:{s:i}}, "
		"s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
		"capacity", cap, "allocatable", cap, "conditions", node_conditions(n, now, ready),
		"addresses", "type", "InternalIP", "address", n->ip, "type", "Hostname", "address",
		n->name, "daemonEndpoints", "kubeletEndpoint", "Port", 10250, "nodeInfo",
		"machineID", n->name, "systemUUID", n->name, "bootID", n->since, "kernelVersion",
		"6.1.0-hollow", "osImage", "Hollow Node (skiff)", "containerRuntimeVersion",
		"skiff://0.1.0", "kubeletVersion", "v1.32.0-skiff", "kubeProxyVersion",
		"v1.32.0-skiff", "operatingSystem", "linux", "architecture", "amd64");
}

static json_t *node_object(struct sim *s, struct sim_node *n)
{
	json_t *labels =
		json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kubernetes.io/hostname", n->name,
			  "kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64",
			  "beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch", "amd64",
			  "node.kubernetes.io/instance-type", "hollow");
	cleanup_free char *provider = xasprintf("skiff://hollow/%s", n->name);

	if (n->zone)
		json_object_set_new(labels, "topology.kubernetes.io/zone", json_string(n->zone));
	return json_pack("{s:s, s:s, s:{s:s, s:o, s:{s:s}}, s:{s:s}, s:o}", "apiVersion", "v1",
			 "kind", "Node", "metadata", "name", n->name, "labels", labels,
			 "annotations", "node.alpha.kubernetes.io/ttl", "0", "spec", "providerID",
			 provider, "status", node_status(s, n));
}

static json_t *lease_object(const struct sim_node *n, const char *node_uid)
{
	cleanup_free char *now = sim_time(true);
	json_t *l = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
			      "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
			      n->name, "namespace", "kube-node-lease", "spec", "holderIdentity",
			      n->name, "leaseDurationSeconds", LEASE_SECONDS, "renewTime", now);

	/* the Lease goes away with its Node, as the kubelet's does */
	if (node_uid)
		json_object_set_new(json_object_get(l, "metadata"), "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind",
					      "Node", "name", n->name, "uid", node_uid));
	return l;
}

/*
 * A request as node @n with a body of @len bytes of JSON text; returns the HTTP status or
 * -errno, logging failures at debug.
 */
static int as_node_text(struct sim *s, const struct sim_node *n, const char *method,
			const char *path, const char *ctype, const char *body, size_t len,
			json_t **ret)
{
	struct err err = ERR_INIT;
	const struct kc_req req = {.method = method,
				   .path = path,
				   .content_type = ctype,
				   .token = n->token,
				   .text = body,
				   .len = len};
	int r = kc_send(s->kc, &req, ret, &err);

	if (r < 0 || r >= 300)
		log_debug("sim: %s %s as %s: %s", method, path, n->name,
			  err.msg ? err.msg : "failed");
	err_clear(&err);
	return r;
}

/* The same with a tree for the body. */
static int as_node(struct sim *s, const struct sim_node *n, const char *method, const char *path,
		   const char *ctype, const json_t *body, json_t **ret)
{
	cleanup_free char *text = body ? jdump_s(body, JSON_COMPACT) : NULL;

	if (body && !text) {
		log_debug("sim: %s %s as %s: the body does not serialize", method, path, n->name);
		return -EINVAL;
	}
	return as_node_text(s, n, method, path, ctype, text, text ? strlen(text) : 0, ret);
}

/* Uses the /24 the server gave the node, when it gave one. */
static void take_pod_cidr(struct sim *s, struct sim_node *n, const json_t *node)
{
	const char *cidr =
		json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
	unsigned a, b, c, d, len;

	if (!cidr || sscanf(cidr, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &len) != 5 || len != 24)
		return;
	pthread_mutex_lock(&s->mu);
	snprintf(n->block, sizeof(n->block), "%u.%u.%u", a & 255, b & 255, c & 255);
	pthread_mutex_unlock(&s->mu);
}

static int put_status(struct sim *s, struct sim_node *n)
{
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s/status", n->name);
	cleanup_json json_t *patch = json_pack("{s:o}", "status", node_status(s, n));

	return as_node(s, n, "PATCH", path, "application/merge-patch+json", patch, NULL);
}

/* A first delay in [period/2, period) that differs between nodes. */
static int64_t spread(int64_t period, size_t node)
{
	return period / 2 + (int64_t)((uint64_t)node * 7919 % (uint64_t)period) / 2;
}

static void job_register(struct sim *s, struct sim_job *j)
{
	struct sim_node *n = &s->nodes[j->node];
	cleanup_json json_t *node = node_object(s, n), *resp = NULL, *lease = NULL;
	int r = as_node(s, n, "POST", "/api/v1/nodes", NULL, node, &resp);
	int64_t now = clock_mono_ms();
	const char *uid;

	if (r == 409) {
		/* registered by an earlier run: take it over with today's status */
		json_decref(resp);
		resp = NULL;
		cleanup_free char *path = xasprintf("/api/v1/nodes/%s", n->name);

		if (put_status(s, n) != 200 || as_node(s, n, "GET", path, NULL, NULL, &resp) != 200)
			r = -EAGAIN;
		else
			r = 201;
	}
	if (r != 201 && r != 200) {
		again(s, j, backoff(j));
		return;
	}
	take_pod_cidr(s, n, resp);
	uid = json_string_value(json_object_get(json_object_get(resp, "metadata"), "uid"));
	lease = lease_object(n, uid);
	r = as_node(s, n, "POST", LEASE_PATH, NULL, lease, NULL);
	if (r != 201 && r != 409) {
		again(s, j, backoff(j));
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (!n->registered) {
		n->registered = true;
		s->registered++;
		pthread_cond_broadcast(&s->reg_cond);
	}
	pthread_mutex_unlock(&s->mu);
	/* spread renewals over the period so they do not arrive in bursts */
	sim_schedule(s, sim_job_new(SIM_LEASE, j->node, now + spread(s->lease_ms, j->node)));
	sim_schedule(s, sim_job_new(SIM_STATUS, j->node, now + spread(s->status_ms, j->node)));
	sim_job_free(j);
}

static void job_lease(struct sim *s, struct sim_job *j)
{
	struct sim_node *n = &s->nodes[j->node];
	cleanup_free char *path = xasprintf("%s/%s", LEASE_PATH, n->name);
	cleanup_free char *now = sim_time(true), *patch = NULL;
	struct jtext t = {0};
	size_t len;
	int r;

	jtext_open(&t, '{');
	jtext_key(&t, "spec");
	jtext_open(&t, '{');
	jtext_key_str(&t, "renewTime", now);
	jtext_key_str(&t, "holderIdentity", n->name);
	jtext_key(&t, "leaseDurationSeconds");
	jtext_int(&t, LEASE_SECONDS);
	jtext_close(&t, '}');
	jtext_close(&t, '}');
	patch = jtext_take(&t, &len);
	r = as_node_text(s, n, "PATCH", path, "application/merge-patch+json", patch, len, NULL);

	if (r == 404) {
		/* deleted under us (with its Node, perhaps): register again */
		pthread_mutex_lock(&s->mu);
		if (n->registered) {
			n->registered = false;
			s->registered--;
		}
		pthread_mutex_unlock(&s->mu);
		j->kind = SIM_REGISTER;
		again(s, j, 0);
		return;
	}
	/* a failed renewal is retried sooner: the lease is what keeps the node Ready */
	if (r == 200)
		again_in_phase(s, j, s->lease_ms);
	else
		again(s, j, s->lease_ms < 2000 ? s->lease_ms : 2000);
}

static void job_status(struct sim *s, struct sim_job *j)
{
	int r = put_status(s, &s->nodes[j->node]);

	if (r == 200)
		again_in_phase(s, j, s->status_ms);
	else
		again(s, j, s->status_ms < 5000 ? s->status_ms : 5000);
}

/* The status put back after someone else changed it; once, not on a timer. */
static void job_status_sync(struct sim *s, struct sim_job *j)
{
	struct sim_node *n = &s->nodes[j->node];
	int r;

	/* Ready turns True again now, as the kubelet's status says when it posts */
	pthread_mutex_lock(&s->mu);
	free(n->ready_since);
	n->ready_since = sim_time(false);
	pthread_mutex_unlock(&s->mu);
	r = put_status(s, n);

	/* on 404 the node is gone: its Lease job registers it again */
	if (r != 200 && r != 404) {
		again(s, j, backoff(j));
		return;
	}
	pthread_mutex_lock(&s->mu);
	n->resync = false;
	pthread_mutex_unlock(&s->mu);
	sim_job_free(j);
}

static void run_job(struct sim *s, struct sim_job *j)
{
	switch (j->kind) {
	case SIM_REGISTER:
		job_register(s, j);
		break;
	case SIM_LEASE:
		job_lease(s, j);
		break;
	case SIM_STATUS:
		job_status(s, j);
		break;
	case SIM_STATUS_SYNC:
		job_status_sync(s, j);
		break;
	case SIM_POD_START:
	case SIM_POD_RESTART:
	case SIM_POD_KILL:
	case SIM_POD_SYNC:
		sim_pod_job(s, j);
		break;
	}
}

static void *worker(void *arg)
{
	struct sim *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct sim_job *j;
		int64_t now = clock_mono_ms(), ms = -1;

		j = next_due(s, now, &ms);
		if (!j && (ms < 0 || s->timer_held)) {
			pthread_cond_wait(&s->cond, &s->mu);
			continue;
		}
		if (!j) {
			struct timespec ts;

			clock_deadline(&ts, ms);
			s->timer_held = true;
			clock_timedwait(&s->timer_cond, &s->mu, &ts);
			s->timer_held = false;
			continue;
		}
		/*
		 * Another due job may be waiting for a worker that is asleep; and with no worker
		 * timing the next one, a sleeping worker takes the timer over.
		 */
		if ((s->node_jobs.n && s->node_jobs.v[0]->at <= now) ||
		    (s->pod_jobs.n && s->pod_jobs.v[0]->at <= now) ||
		    (!s->timer_held && (s->node_jobs.n || s->pod_jobs.n)))
			pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mu);
		run_job(s, j);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The watch of the nodes. */

bool sim_stopping(struct sim *s)
{
	bool r;

	pthread_mutex_lock(&s->mu);
	r = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return r;
}

void sim_nap(struct sim *s, int ms)
{
	for (int i = 0; i < ms / 100 && !sim_stopping(s); i++)
		usleep(100 * 1000);
}

/*
 * A node as stored (locked): if it is one of ours, registered, and its Ready condition is
 * not True, its status goes back within the kubelet's update period.
 */
static void node_seen(struct sim *s, const json_t *obj, void *unused)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	const json_t *idx = name ? json_object_get(s->by_name, name) : NULL;
	const json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions"), *c;
	const char *ready = NULL;
	struct sim_node *n;
	int64_t at;
	size_t i, k;

	(void)unused;
	if (!idx)
		return;
	k = (size_t)json_integer_value(idx);
	n = &s->nodes[k];
	json_array_foreach (conds, i, c)
		if (json_is_string(json_object_get(c, "type")) &&
		    strcmp(json_string_value(json_object_get(c, "type")), "Ready") == 0)
			ready = json_string_value(json_object_get(c, "status"));
	if (!n->registered || n->resync || (ready && strcmp(ready, "True") == 0))
		return;
	n->resync = true;
	at = n->posted + STATUS_SYNC_MS;
	sim_schedule_locked(
		s, sim_job_new(SIM_STATUS_SYNC, k, at > clock_mono_ms() ? at : clock_mono_ms()));
}

static int on_node_event(void *arg, const char *type, json_t *obj)
{
	struct sim *s = arg;
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	if (strcmp(type, "ERROR") == 0) {
		if (json_integer_value(json_object_get(obj, "code")) == 410) {
			free(s->node_rv);
			s->node_rv = NULL;
		}
		return -1;
	}
	if (rv) {
		free(s->node_rv);
		s->node_rv = xstrdup(rv);
	}
	pthread_mutex_lock(&s->mu);
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0)
		node_seen(s, obj, NULL);
	pthread_mutex_unlock(&s->mu);
	return sim_stopping(s) ? -1 : 0;
}

char *sim_list(struct sim *s, const char *what, const char *path, int page,
	       void (*seen)(struct sim *s, const json_t *item, void *arg), void *arg)
{
	cleanup_free char *cont = NULL;
	char *rv = NULL;

	do {
		cleanup_free char *esc = cont ? url_escape(cont) : NULL, *target = NULL;
		cleanup_json json_t *resp = NULL;
		struct err err = ERR_INIT;
		const json_t *meta, *item;
		const char *next;
		size_t i;
		int r;

		target = esc ? xasprintf("%s&limit=%d&continue=%s", path, page, esc)
			     : xasprintf("%s&limit=%d", path, page);
		r = kc_request(s->kc, "GET", target, NULL, NULL, &resp, &err);
		if (r != 200) {
			log_debug("sim: list %s: %s", what, err.msg ? err.msg : "failed");
			err_clear(&err);
			free(rv);
			return NULL;
		}
		pthread_mutex_lock(&s->mu);
		json_array_foreach (json_object_get(resp, "items"), i, item)
			seen(s, item, arg);
		pthread_mutex_unlock(&s->mu);
		meta = json_object_get(resp, "metadata");
		free(rv);
		rv = xstrdup(json_string_value(json_object_get(meta, "resourceVersion")) ?: "0");
		next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = next && *next ? xstrdup(next) : NULL;
	} while (cont && !sim_stopping(s));
	if (cont) {
		/* stopped before the last page */
		free(rv);
		return NULL;
	}
	return rv;
}

static void *node_watcher(void *arg)
{
	struct sim *s = arg;

	while (!sim_stopping(s)) {
		cleanup_free char *path = NULL;
		struct err err = ERR_INIT;
		int r;

		if (!s->node_rv) {
			/* in pages: 5,000 Nodes in one answer cost about 80 MiB as a tree */
			s->node_rv = sim_list(s, "nodes", NODES_PATH, NODE_PAGE, node_seen, NULL);
			if (!s->node_rv)
				sim_nap(s, 1000);
			continue;
		}
		path = xasprintf("%s&resourceVersion=%s&timeoutSeconds=%d", NODES_PATH, s->node_rv,
				 NODE_WATCH_S);
		r = kc_watch(s->kc, path, on_node_event, s, &err);
		if (r == 410) {
			free(s->node_rv);
			s->node_rv = NULL;
		} else if (r < 0 || r >= 400) {
			log_debug("sim: watch nodes: %s", err.msg ? err.msg : "failed");
			sim_nap(s, 1000);
		}
		err_clear(&err);
	}
	return NULL;
}

size_t sim_registered(struct sim *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->registered;
	pthread_mutex_unlock(&s->mu);
	return n;
}

size_t sim_wait_registered(struct sim *s, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;
	size_t n;

	pthread_mutex_lock(&s->mu);
	while (s->registered < s->n && !s->stopping && clock_mono_ms() < end) {
		struct timespec ts;

		clock_deadline(&ts, 100);
		clock_timedwait(&s->reg_cond, &s->mu, &ts);
	}
	n = s->registered;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/*
 * Addresses: node i is 10.200.(i / 254).(i % 254 + 1); its pods get a /24 of their own,
 * 10.42.i.0/24 for the first 256 nodes and then 10.44.0.0/24 onwards, stepping over the
 * service network, unless the server assigns spec.podCIDR.
 */
static void node_addresses(struct sim_node *n, size_t i)
{
	snprintf(n->ip, sizeof(n->ip), "10.200.%zu.%zu", (i / 254) % 256, i % 254 + 1);
	if (i < 256)
		snprintf(n->block, sizeof(n->block), "10.42.%zu", i);
	else
		snprintf(n->block, sizeof(n->block), "10.%zu.%zu", 44 + (i - 256) / 256 % 200,
			 (i - 256) % 256);
}

void sim_stop(struct sim *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_cond_broadcast(&s->timer_cond);
	pthread_cond_broadcast(&s->reg_cond);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	sim_pods_stop(s);
	if (s->node_watching)
		pthread_join(s->node_watcher, NULL);
	free(s->node_rv);
	kc_free(s->kc);
	heap_free(&s->node_jobs);
	heap_free(&s->pod_jobs);
	for (size_t i = 0; i < s->n; i++) {
		free(s->nodes[i].name);
		free(s->nodes[i].token);
		free(s->nodes[i].since);
		free(s->nodes[i].ready_since);
		free(s->nodes[i].zone);
	}
	free(s->nodes);
	free(s->workers);
	json_decref(s->by_name);
	free(s->server);
	free(s->join_token);
	free(s->prefix);
	free(s->cpu);
	free(s->memory);
	free(s->pods_cap);
	free(s->rv);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->timer_cond);
	pthread_cond_destroy(&s->reg_cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int sim_start(const struct sim_config *cfg, struct sim **ret, struct err *err)
{
	struct sim *s;
	size_t nzones = 0;
	int r;

	if (!cfg->server || !cfg->join_token || !*cfg->join_token || cfg->count == 0)
		return err_set(err, EINVAL,
			       "simulate nodes: a server, a token and a count are "
			       "needed");
	while (cfg->zones && cfg->zones[nzones])
		nzones++;
	s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	s->server = xstrdup(cfg->server);
	s->join_token = xstrdup(cfg->join_token);
	s->prefix = xstrdup(cfg->name_prefix ? cfg->name_prefix : "hollow-node-");
	s->cpu = xstrdup(cfg->cpu ? cfg->cpu : "4");
	s->memory = xstrdup(cfg->memory ? cfg->memory : "16Gi");
	s->pods_cap = xstrdup(cfg->pods ? cfg->pods : "110");
	s->n = cfg->count;
	s->lease_ms = cfg->lease_ms ? cfg->lease_ms : 10000;
	s->status_ms = cfg->status_ms ? cfg->status_ms : 300000;
	s->by_name = json_object();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->timer_cond, NULL);
	pthread_cond_init(&s->reg_cond, NULL);
	s->nodes = xcalloc(s->n, sizeof(*s->nodes));
	for (size_t i = 0; i < s->n; i++) {
		struct sim_node *n = &s->nodes[i];
		size_t idx = cfg->first_index + i;

		n->name = xasprintf("%s%zu", s->prefix, idx);
		n->token = api_node_credential(s->join_token, n->name);
		n->since = sim_time(false);
		n->ready_since = xstrdup(n->since);
		if (nzones)
			n->zone = xstrdup(cfg->zones[idx % nzones]);
		node_addresses(n, idx);
		json_object_set_new(s->by_name, n->name, json_integer((json_int_t)i));
	}
	/* the shared client's own token is the first node's: it serves the pod watch */
	r = kc_remote(s->server, s->nodes[0].token, cfg->ca_pem, &s->kc, err);
	if (r < 0) {
		sim_stop(s);
		return err_wrap(err, "simulate nodes");
	}
	for (size_t i = 0; i < s->n; i++)
		heap_push(&s->node_jobs, sim_job_new(SIM_REGISTER, i, clock_mono_ms()));
	s->workers = xcalloc(cfg->threads ? cfg->threads : 8, sizeof(*s->workers));
	for (unsigned i = 0; i < (cfg->threads ? cfg->threads : 8); i++) {
		r = -pthread_create(&s->workers[i], NULL, worker, s);
		if (r < 0)
			break;
		pthread_setname_np(s->workers[i], "sim-worker");
		s->nworkers++;
	}
	if (r >= 0)
		r = sim_pods_start(s);
	if (r >= 0) {
		r = -pthread_create(&s->node_watcher, NULL, node_watcher, s);
		if (r == 0) {
			pthread_setname_np(s->node_watcher, "sim-nodes");
			s->node_watching = true;
		}
	}
	if (r < 0) {
		err_errno(err, -r, "simulate nodes: start threads");
		sim_stop(s);
		return r;
	}
	*ret = s;
	return 0;
}
