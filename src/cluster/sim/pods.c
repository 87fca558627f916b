/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubelet role of hollow nodes: one list+watch of every bound pod (the simulator's
 * nodes pick theirs out), and each pod's lifecycle acted out through /status as the
 * kubelet reports it: containers running at once, a container whose command is "true" or
 * "false" exiting with 0 or 1 and restarted per restartPolicy with CrashLoopBackOff's
 * doubling delay, and a pod marked for deletion reported terminated and deleted with
 * grace period 0 under a uid precondition.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/keyidx.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/sim/internal.h"

#define PODS_PATH     "/api/v1/pods?fieldSelector=spec.nodeName%21%3D"
#define PAGE          500
#define BACKOFF_S     10
#define MAX_BACKOFF_S 300
/* how long one watch request lasts: it bounds how long stopping waits for the watcher */
#define WATCH_TIMEOUT_S 4

enum c_mode { RUN, EXIT0, EXIT1 };
enum c_state { C_WAITING, C_RUNNING, C_TERMINATED, C_BACKOFF };
enum policy { ALWAYS, ON_FAILURE, NEVER };

struct run {
	int exit_code;
	char *started, *finished, *id;
};

struct sim_container {
	char *name, *image, *image_id;
	enum c_mode mode;
	bool init, sidecar;
	enum c_state state;
	int restarts;
	int backoff_s;
	struct run cur, last; /* last: the previous termination (lastState) */
	bool has_last;
};

struct cond_state {
	bool status;
	char *since;
};

struct sim_pod {
	char *key;
	char *ns, *name, *uid;
	size_t node;
	char ip[16];
	bool host_network, deleting, started, resync;
	enum policy policy;
	char *start_time;
	json_t *scheduled; /* the PodScheduled condition, kept as the scheduler wrote it */
	struct sim_container *c;
	size_t nc;
	struct cond_state cond[3]; /* Initialized, ContainersReady (and Ready), ReadyToStart */
	unsigned seen;             /* list generation that last saw the pod */
};

static void run_done(struct run *r)
{
	free(r->started);
	free(r->finished);
	free(r->id);
	memset(r, 0, sizeof(*r));
}

static void pod_free(struct sim_pod *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nc; i++) {
		free(p->c[i].name);
		free(p->c[i].image);
		free(p->c[i].image_id);
		run_done(&p->c[i].cur);
		run_done(&p->c[i].last);
	}
	for (size_t i = 0; i < 3; i++)
		free(p->cond[i].since);
	free(p->c);
	json_decref(p->scheduled);
	free(p->key);
	free(p->ns);
	free(p->name);
	free(p->uid);
	free(p->start_time);
	free(p);
}

static struct sim_pod *pod_find(struct sim *s, const char *key)
{
	return keyidx_get(&s->pods, key);
}

/* Pod addresses: .2 to .254 of the node's /24 (locked). */
static void take_ip(struct sim *s, struct sim_pod *p)
{
	struct sim_node *n = &s->nodes[p->node];

	if (p->host_network) {
		memcpy(p->ip, n->ip, sizeof(p->ip));
		return;
	}
	for (unsigned i = 2; i < 255; i++)
		if (!(n->used[i / 8] & (1u << (i % 8)))) {
			n->used[i / 8] |= (uint8_t)(1u << (i % 8));
			snprintf(p->ip, sizeof(p->ip), "%s.%u", n->block, i);
			return;
		}
	/* a full block: share the last address rather than leave the pod without one */
	snprintf(p->ip, sizeof(p->ip), "%s.254", n->block);
}

/*
 * A pod that already has an address from this node's block (a restarted simulator
 * adopting its pods) keeps it, and its start time, as a restarted kubelet would.
 */
static void adopt(struct sim *s, struct sim_pod *p, const json_t *obj)
{
	const json_t *st = json_object_get(obj, "status");
	const char *ip = json_string_value(json_object_get(st, "podIP"));
	const char *start = json_string_value(json_object_get(st, "startTime"));
	struct sim_node *n = &s->nodes[p->node];
	size_t len = strlen(n->block);
	unsigned i;

	if (start)
		p->start_time = xstrdup(start);
	if (!ip || p->host_network || strncmp(ip, n->block, len) != 0 || ip[len] != '.')
		return;
	i = (unsigned)atoi(ip + len + 1);
	if (i < 2 || i > 254 || (n->used[i / 8] & (1u << (i % 8))))
		return;
	n->used[i / 8] |= (uint8_t)(1u << (i % 8));
	snprintf(p->ip, sizeof(p->ip), "%s.%u", n->block, i);
}

static void release_ip(struct sim *s, struct sim_pod *p)
{
	struct sim_node *n = &s->nodes[p->node];
	size_t len = strlen(n->block);
	unsigned i;

	if (p->host_network || !p->ip[0] || strncmp(p->ip, n->block, len) != 0 || p->ip[len] != '.')
		return;
	i = (unsigned)atoi(p->ip + len + 1);
	if (i > 0 && i < 256)
		n->used[i / 8] &= (uint8_t) ~(1u << (i % 8));
	p->ip[0] = '\0';
}

static void pod_remove(struct sim *s, struct sim_pod *p)
{
	keyidx_del(&s->pods, p->key);
	s->npods--;
	release_ip(s, p);
	pod_free(p);
}

static enum c_mode mode_of(const json_t *c)
{
	const json_t *cmd = json_object_get(c, "command");
	const char *prog = json_string_value(json_array_get(cmd, 0)), *base;

	if (json_array_size(cmd) != 1 || !prog)
		return RUN;
	base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	if (strcmp(base, "true") == 0)
		return EXIT0;
	if (strcmp(base, "false") == 0)
		return EXIT1;
	return RUN;
}

static char *random_hex(size_t bytes)
{
	unsigned char buf[32];
	char *out = xmalloc(bytes * 2 + 1);

	if (bytes > sizeof(buf))
		bytes = sizeof(buf);
	if (getrandom(buf, bytes, 0) != (ssize_t)bytes)
		for (size_t i = 0; i < bytes; i++)
			buf[i] = (unsigned char)rand();
	for (size_t i = 0; i < bytes; i++)
		sprintf(out + 2 * i, "%02x", buf[i]);
	return out;
}

static char *image_id(const char *image)
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(image), (const uint8_t *)image);
	sha256_digest(&ctx, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	return xasprintf("%s@sha256:%s", image, hex);
}

static void add_containers(struct sim_pod *p, const json_t *arr, bool init)
{
	size_t i;
	const json_t *c;

	json_array_foreach (arr, i, c) {
		struct sim_container *sc = &p->c[p->nc++];
		const char *rp = json_string_value(json_object_get(c, "restartPolicy"));

		sc->name = xstrdup(json_string_value(json_object_get(c, "name")) ?: "");
		sc->image = xstrdup(json_string_value(json_object_get(c, "image")) ?: "");
		sc->image_id = image_id(sc->image);
		sc->mode = mode_of(c);
		sc->init = init;
		sc->sidecar = init && rp && strcmp(rp, "Always") == 0;
	}
}

static struct sim_pod *pod_new(struct sim *s, const json_t *obj, size_t node)
{
	const json_t *m = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec");
	const json_t *inits = json_object_get(spec, "initContainers");
	const json_t *mains = json_object_get(spec, "containers");
	const char *rp = json_string_value(json_object_get(spec, "restartPolicy"));
	struct sim_pod *p = xcalloc(1, sizeof(*p));
	size_t i;
	const json_t *c;

	(void)s;
	p->ns = xstrdup(json_string_value(json_object_get(m, "namespace")) ?: "");
	p->name = xstrdup(json_string_value(json_object_get(m, "name")) ?: "");
	p->uid = xstrdup(json_string_value(json_object_get(m, "uid")) ?: "");
	p->key = xasprintf("%s/%s", p->ns, p->name);
	p->node = node;
	p->host_network = json_is_true(json_object_get(spec, "hostNetwork"));
	p->policy = rp && strcmp(rp, "Never") == 0       ? NEVER
		    : rp && strcmp(rp, "OnFailure") == 0 ? ON_FAILURE
							 : ALWAYS;
	json_array_foreach (json_object_get(json_object_get(obj, "status"), "conditions"), i, c)
		if (json_string_value(json_object_get(c, "type")) &&
		    strcmp(json_string_value(json_object_get(c, "type")), "PodScheduled") == 0)
			p->scheduled = json_deep_copy(c);
	p->c = xcalloc(json_array_size(inits) + json_array_size(mains) + 1, sizeof(*p->c));
	add_containers(p, inits, true);
	add_containers(p, mains, false);
	return p;
}

static bool should_restart(const struct sim_pod *p, const struct sim_container *c, int code)
{
	if (c->sidecar)
		return true;
	if (c->init)
		return code != 0 && p->policy != NEVER;
	return p->policy == ALWAYS || (p->policy == ON_FAILURE && code != 0);
}

/* One run of a container: a RUN container keeps running, the others exit at once. */
static void container_run(struct sim_container *c, const char *now)
{
	cleanup_free char *hex = random_hex(32);

	if (c->cur.started) {
		run_done(&c->last);
		c->last = c->cur;
		c->has_last = true;
		memset(&c->cur, 0, sizeof(c->cur));
	}
	c->cur.started = xstrdup(now);
	c->cur.id = xasprintf("hollow://%s", hex);
	if (c->mode == RUN || c->sidecar) {
		c->state = C_RUNNING;
		return;
	}
	c->cur.exit_code = c->mode == EXIT0 ? 0 : 1;
	c->cur.finished = xstrdup(now);
	c->state = C_TERMINATED;
}

/*
 * Runs @c and, when the policy restarts what exited, restarts it: the first restart at
 * once (as the kubelet does), later ones after CrashLoopBackOff's delay. Returns the
 * seconds until the next restart, or 0 when none is due.
 */
static int container_cycle(struct sim_pod *p, struct sim_container *c, const char *now)
{
	container_run(c, now);
	if (c->state != C_TERMINATED || !should_restart(p, c, c->cur.exit_code))
		return 0;
	if (c->restarts == 0) {
		c->restarts = 1;
		container_run(c, now);
	}
	c->backoff_s = BACKOFF_S << (c->restarts - 1 < 5 ? c->restarts - 1 : 5);
	if (c->backoff_s > MAX_BACKOFF_S)
		c->backoff_s = MAX_BACKOFF_S;
	c->state = C_BACKOFF;
	return c->backoff_s;
}

static bool inits_done(const struct sim_pod *p)
{
	for (size_t i = 0; i < p->nc; i++)
		if (p->c[i].init && !p->c[i].sidecar &&
		    !(p->c[i].state == C_TERMINATED && p->c[i].cur.exit_code == 0))
			return false;
	return true;
}

static const char *phase_of(const struct sim_pod *p)
{
	bool all_done = true, all_ok = true, any = false;

	for (size_t i = 0; i < p->nc; i++) {
		const struct sim_container *c = &p->c[i];

		if (c->init) {
			if (!c->sidecar && c->state == C_TERMINATED && c->cur.exit_code != 0)
				return "Failed";
			continue;
		}
		any = true;
		if (c->state != C_TERMINATED)
			all_done = false;
		else if (c->cur.exit_code != 0)
			all_ok = false;
	}
	if (!inits_done(p))
		return "Pending";
	if (!any || !all_done)
		return "Running";
	return all_ok ? "Succeeded" : "Failed";
}

/* A finished run of a container, as its terminated state. */
static void term_text(struct jtext *t, const struct run *r)
{
	jtext_open(t, '{');
	jtext_key(t, "exitCode");
	jtext_int(t, r->exit_code);
	jtext_key_str(t, "reason", r->exit_code ? "Error" : "Completed");
	if (r->started)
		jtext_key_str(t, "startedAt", r->started);
	if (r->finished)
		jtext_key_str(t, "finishedAt", r->finished);
	if (r->id)
		jtext_key_str(t, "containerID", r->id);
	jtext_close(t, '}');
}

static void container_status(struct jtext *t, const struct sim_pod *p,
			     const struct sim_container *c, bool waiting_init)
{
	bool running = c->state == C_RUNNING;
	bool waiting = waiting_init || c->state == C_WAITING;

	jtext_open(t, '{');
	jtext_key_str(t, "name", c->name);
	jtext_key_str(t, "image", c->image);
	if (!waiting)
		jtext_key_str(t, "imageID", c->image_id);
	jtext_key(t, "restartCount");
	jtext_int(t, c->restarts);
	jtext_key(t, "ready");
	jtext_bool(t, running);
	jtext_key(t, "started");
	jtext_bool(t, running);
	jtext_key(t, "lastState");
	jtext_open(t, '{');
	if (c->has_last) {
		jtext_key(t, "terminated");
		term_text(t, &c->last);
	}
	jtext_close(t, '}');
	jtext_key(t, "state");
	jtext_open(t, '{');
	if (waiting) {
		jtext_key(t, "waiting");
		jtext_open(t, '{');
		jtext_key_str(t, "reason", "PodInitializing");
		jtext_close(t, '}');
	} else if (running) {
		jtext_key(t, "running");
		jtext_open(t, '{');
		jtext_key_str(t, "startedAt", c->cur.started);
		jtext_close(t, '}');
	} else if (c->state == C_BACKOFF) {
		cleanup_free char *msg =
			xasprintf("back-off %ds restarting failed container=%s pod=%s_%s(%s)",
				  c->backoff_s, c->name, p->name, p->ns, p->uid);

		jtext_key(t, "waiting");
		jtext_open(t, '{');
		jtext_key_str(t, "reason", "CrashLoopBackOff");
		jtext_key_str(t, "message", msg);
		jtext_close(t, '}');
	} else {
		jtext_key(t, "terminated");
		term_text(t, &c->cur);
	}
	jtext_close(t, '}');
	if (c->cur.id && !waiting)
		jtext_key_str(t, "containerID", c->cur.id);
	jtext_close(t, '}');
}

static void cond_set(struct cond_state *cs, bool status, const char *now)
{
	if (cs->since && cs->status == status)
		return;
	free(cs->since);
	cs->since = xstrdup(now);
	cs->status = status;
}

static void condition(struct jtext *t, const char *type, const struct cond_state *cs,
		      const char *reason, const char *msg)
{
	jtext_open(t, '{');
	jtext_key_str(t, "type", type);
	jtext_key_str(t, "status", cs->status ? "True" : "False");
	jtext_key(t, "lastProbeTime");
	jtext_null(t);
	jtext_key_str(t, "lastTransitionTime", cs->since);
	if (!cs->status && reason)
		jtext_key_str(t, "reason", reason);
	if (!cs->status && msg)
		jtext_key_str(t, "message", msg);
	jtext_close(t, '}');
}

/* Appends @name to the space-separated list *@list. */
static void name_add(char **list, const char *name)
{
	char *more = xasprintf("%s%s%s", *list, **list ? " " : "", name);

	free(*list);
	*list = more;
}

/* The whole status of @p as the kubelet writes it (locked). */
static void pod_status(struct jtext *t, struct sim *s, struct sim_pod *p, const char *now)
{
	const char *phase = phase_of(p);
	bool terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	bool inited = inits_done(p), ready = inited && !terminal;
	cleanup_free char *unready = xstrdup(""), *uninit = xstrdup("");
	cleanup_free char *m1 = NULL, *m2 = NULL;
	const char *node_ip = s->nodes[p->node].ip;
	const char *why = terminal ? "PodCompleted" : "ContainersNotReady";

	for (size_t i = 0; i < p->nc; i++) {
		const struct sim_container *c = &p->c[i];

		if (c->init && !c->sidecar && !(c->state == C_TERMINATED && c->cur.exit_code == 0))
			name_add(&uninit, c->name);
		if (!c->init && c->state != C_RUNNING) {
			name_add(&unready, c->name);
			ready = false;
		}
	}
	cond_set(&p->cond[0], inited, now);
	cond_set(&p->cond[1], ready, now);
	cond_set(&p->cond[2], !terminal, now);
	m1 = xasprintf("containers with incomplete status: [%s]", uninit);
	m2 = xasprintf("containers with unready status: [%s]", unready);
	jtext_open(t, '{');
	jtext_key_str(t, "phase", phase);
	jtext_key(t, "conditions");
	jtext_open(t, '[');
	condition(t, "PodReadyToStartContainers", &p->cond[2], NULL, NULL);
	condition(t, "Initialized", &p->cond[0], "ContainersNotInitialized", m1);
	condition(t, "Ready", &p->cond[1], why, terminal ? NULL : m2);
	condition(t, "ContainersReady", &p->cond[1], why, terminal ? NULL : m2);
	if (p->scheduled) {
		jtext_value(t, p->scheduled);
	} else {
		jtext_open(t, '{');
		jtext_key_str(t, "type", "PodScheduled");
		jtext_key_str(t, "status", "True");
		jtext_key(t, "lastProbeTime");
		jtext_null(t);
		jtext_key_str(t, "lastTransitionTime", p->start_time);
		jtext_close(t, '}');
	}
	jtext_close(t, ']');
	jtext_key_str(t, "hostIP", node_ip);
	jtext_key(t, "hostIPs");
	jtext_open(t, '[');
	jtext_open(t, '{');
	jtext_key_str(t, "ip", node_ip);
	jtext_close(t, '}');
	jtext_close(t, ']');
	jtext_key_str(t, "podIP", p->ip);
	jtext_key(t, "podIPs");
	jtext_open(t, '[');
	jtext_open(t, '{');
	jtext_key_str(t, "ip", p->ip);
	jtext_close(t, '}');
	jtext_close(t, ']');
	jtext_key_str(t, "startTime", p->start_time);
	for (int init = 1; init >= 0; init--) {
		jtext_key(t, init ? "initContainerStatuses" : "containerStatuses");
		jtext_open(t, '[');
		for (size_t i = 0; i < p->nc; i++)
			if (p->c[i].init == (bool)init)
				container_status(t, p, &p->c[i], !init && !inited);
		jtext_close(t, ']');
	}
	jtext_close(t, '}');
}

/* Writes @p's status as its node; false when the pod is gone. */
static bool post_status(struct sim *s, const char *key)
{
	cleanup_free char *now = sim_time(false), *path = NULL, *patch = NULL;
	struct jtext t = {0};
	struct err err = ERR_INIT;
	size_t len;
	const char *token;
	struct sim_pod *p;
	int r;

	pthread_mutex_lock(&s->mu);
	p = pod_find(s, key);
	if (!p) {
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	/* the uid as a precondition, as the kubelet sends it: never a successor's status */
	jtext_open(&t, '{');
	jtext_key(&t, "metadata");
	jtext_open(&t, '{');
	jtext_key_str(&t, "uid", p->uid);
	jtext_close(&t, '}');
	jtext_key(&t, "status");
	pod_status(&t, s, p, now);
	jtext_close(&t, '}');
	patch = jtext_take(&t, &len);
	path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
	token = s->nodes[p->node].token;
	pthread_mutex_unlock(&s->mu);
	if (patch) {
		const struct kc_req req = {.method = "PATCH",
					   .path = path,
					   .content_type = "application/merge-patch+json",
					   .token = token,
					   .text = patch,
					   .len = len};

		r = kc_send(s->kc, &req, NULL, &err);
	} else {
		r = err_set(&err, EINVAL, "the status does not serialize");
	}
	if (r != 200)
		log_debug("sim: report status of pod %s: %s", key, err.msg ? err.msg : "failed");
	err_clear(&err);
	return r != 404;
}

/* Queues a job about @p (locked). */
static void schedule_pod(struct sim *s, enum sim_job_kind kind, const struct sim_pod *p,
			 size_t container, int64_t delay_ms)
{
	struct sim_job *j = sim_job_new(kind, p->node, clock_mono_ms() + delay_ms);

	j->pod = xstrdup(p->key);
	j->uid = xstrdup(p->uid);
	j->container = container;
	sim_schedule_locked(s, j);
}

/* Starts containers from @from on: init containers one after another, then the rest. */
static void start_from(struct sim *s, struct sim_pod *p, size_t from, const char *now)
{
	for (size_t i = from; i < p->nc; i++) {
		struct sim_container *c = &p->c[i];
		int delay;

		if (!c->init && !inits_done(p))
			break;
		delay = container_cycle(p, c, now);
		if (delay > 0)
			schedule_pod(s, SIM_POD_RESTART, p, i, (int64_t)delay * 1000);
		/* a failing init container holds back everything after it */
		if (c->init && !c->sidecar && c->state != C_TERMINATED)
			break;
		if (c->init && !c->sidecar && c->cur.exit_code != 0)
			break;
	}
}

static void job_start(struct sim *s, struct sim_job *j)
{
	cleanup_free char *now = sim_time(false);
	struct sim_pod *p;

	pthread_mutex_lock(&s->mu);
	p = pod_find(s, j->pod);
	if (!p || strcmp(p->uid, j->uid) != 0 || p->deleting || p->started) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	p->started = true;
	if (!p->start_time)
		p->start_time = xstrdup(now);
	if (!p->ip[0])
		take_ip(s, p);
	start_from(s, p, 0, now);
	pthread_mutex_unlock(&s->mu);
	post_status(s, j->pod);
}

static void job_restart(struct sim *s, struct sim_job *j)
{
	cleanup_free char *now = sim_time(false);
	struct sim_pod *p;
	struct sim_container *c;
	int delay;

	pthread_mutex_lock(&s->mu);
	p = pod_find(s, j->pod);
	if (!p || strcmp(p->uid, j->uid) != 0 || p->deleting || j->container >= p->nc) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	c = &p->c[j->container];
	c->restarts++;
	delay = container_cycle(p, c, now);
	if (delay > 0)
		schedule_pod(s, SIM_POD_RESTART, p, j->container, (int64_t)delay * 1000);
	else if (c->init)
		start_from(s, p, j->container + 1, now);
	pthread_mutex_unlock(&s->mu);
	post_status(s, j->pod);
}

/* As the kubelet: containers reported terminated, then the pod deleted for good. */
static void job_kill(struct sim *s, struct sim_job *j)
{
	cleanup_free char *now = sim_time(false), *path = NULL;
	cleanup_json json_t *opts = NULL;
	struct err err = ERR_INIT;
	const char *token = s->nodes[j->node].token;
	struct sim_pod *p;
	bool report = false;
	int r;

	pthread_mutex_lock(&s->mu);
	p = pod_find(s, j->pod);
	if (p && strcmp(p->uid, j->uid) == 0 && p->started) {
		for (size_t i = 0; i < p->nc; i++) {
			struct sim_container *c = &p->c[i];

			if (c->state == C_RUNNING) {
				c->cur.exit_code = 0;
				c->cur.finished = xstrdup(now);
			}
			if (c->state == C_BACKOFF)
				c->cur.finished = c->cur.finished ?: xstrdup(now);
			if (c->state != C_WAITING)
				c->state = C_TERMINATED;
		}
		report = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (report)
		post_status(s, j->pod);

	path = xasprintf("/api/v1/namespaces/%.*s/pods/%s", (int)strcspn(j->pod, "/"), j->pod,
			 strchr(j->pod, '/') + 1);
	opts = json_pack("{s:s, s:s, s:i, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
			 "gracePeriodSeconds", 0, "preconditions", "uid", j->uid);
	r = kc_request_as(s->kc, token, "DELETE", path, NULL, opts, NULL, &err);
	if (r < 0 || (r >= 300 && r != 404 && r != 409)) {
		log_debug("sim: delete pod %s: %s, retrying", j->pod, err.msg ? err.msg : "failed");
		err_clear(&err);
		pthread_mutex_lock(&s->mu);
		schedule_pod(s, SIM_POD_KILL,
			     &(struct sim_pod){.key = j->pod, .uid = j->uid, .node = j->node}, 0,
			     2000);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	err_clear(&err);
	pthread_mutex_lock(&s->mu);
	p = pod_find(s, j->pod);
	if (p && strcmp(p->uid, j->uid) == 0)
		pod_remove(s, p);
	pthread_mutex_unlock(&s->mu);
}

void sim_pod_job(struct sim *s, struct sim_job *j)
{
	struct sim_pod *p;

	switch (j->kind) {
	case SIM_POD_START:
		job_start(s, j);
		break;
	case SIM_POD_RESTART:
		job_restart(s, j);
		break;
	case SIM_POD_KILL:
		job_kill(s, j);
		break;
	case SIM_POD_SYNC:
		pthread_mutex_lock(&s->mu);
		p = pod_find(s, j->pod);
		if (p && strcmp(p->uid, j->uid) != 0)
			p = NULL;
		if (p)
			p->resync = false;
		pthread_mutex_unlock(&s->mu);
		if (p)
			post_status(s, j->pod);
		break;
	default:
		break;
	}
	sim_job_free(j);
}

/* The watch. */

static bool node_of(struct sim *s, const json_t *pod, size_t *ret)
{
	const char *node =
		json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
	json_t *idx = node ? json_object_get(s->by_name, node) : NULL;

	if (!idx)
		return false;
	*ret = (size_t)json_integer_value(idx);
	return true;
}

static bool ready_in(const json_t *pod)
{
	const json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions");
	size_t i;
	const json_t *c;

	json_array_foreach (conds, i, c) {
		const char *type = json_string_value(json_object_get(c, "type"));

		if (type && strcmp(type, "Ready") == 0)
			return json_string_value(json_object_get(c, "status")) &&
			       strcmp(json_string_value(json_object_get(c, "status")), "True") == 0;
	}
	return false;
}

/* A pod added or changed (locked): new pods start, pods marked for deletion end. */
static void pod_seen(struct sim *s, const json_t *obj, unsigned gen)
{
	const json_t *m = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(m, "namespace"));
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *uid = json_string_value(json_object_get(m, "uid"));
	const char *phase =
		json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
	bool deleting = json_object_get(m, "deletionTimestamp") != NULL;
	cleanup_free char *key = NULL;
	struct sim_pod *p;
	size_t node;

	if (!ns || !name || !uid || !node_of(s, obj, &node))
		return;
	key = xasprintf("%s/%s", ns, name);
	p = pod_find(s, key);
	if (p && strcmp(p->uid, uid) != 0) {
		pod_remove(s, p);
		p = NULL;
	}
	if (!p) {
		bool terminal = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));

		if (terminal && !deleting)
			return;
		p = pod_new(s, obj, node);
		if (!deleting)
			adopt(s, p, obj);
		keyidx_put(&s->pods, p->key, p);
		s->npods++;
		if (!deleting)
			schedule_pod(s, SIM_POD_START, p, 0, 0);
	}
	p->seen = gen;
	/*
	 * Someone else changed the readiness we report (the node lifecycle controller marks
	 * pods of silent nodes not ready): put it back, as the kubelet's status manager does.
	 */
	if (p->started && !deleting && !p->deleting && !p->resync && p->cond[1].since &&
	    ready_in(obj) != p->cond[1].status) {
		p->resync = true;
		schedule_pod(s, SIM_POD_SYNC, p, 0, 1000);
	}
	if (deleting && !p->deleting) {
		p->deleting = true;
		schedule_pod(s, SIM_POD_KILL, p, 0, 0);
	}
}

static void set_rv(struct sim *s, const char *rv)
{
	free(s->rv);
	s->rv = rv ? xstrdup(rv) : NULL;
}

/* 410 Gone: the watch fell out of the server's history; list again. Lock held. */
static void forget_rv_gone(struct sim *s)
{
	/* as a reflector says it */
	log_warn("sim: the watch of pods fell out of the server's history (410 Gone): "
		 "listing every bound pod again");
	set_rv(s, NULL);
}

static int on_event(void *arg, const char *type, json_t *obj)
{
	struct sim *s = arg;
	const json_t *m = json_object_get(obj, "metadata");
	const char *rv = json_string_value(json_object_get(m, "resourceVersion"));

	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	if (strcmp(type, "ERROR") == 0) {
		if (json_integer_value(json_object_get(obj, "code")) == 410)
			forget_rv_gone(s);
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	if (rv)
		set_rv(s, rv);
	if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		pod_seen(s, obj, s->list_gen);
	} else if (strcmp(type, "DELETED") == 0) {
		const char *ns = json_string_value(json_object_get(m, "namespace"));
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *uid = json_string_value(json_object_get(m, "uid"));
		cleanup_free char *key = xasprintf("%s/%s", ns ? ns : "", name ? name : "");
		struct sim_pod *p = pod_find(s, key);

		if (p && uid && strcmp(p->uid, uid) == 0)
			pod_remove(s, p);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

struct sweep {
	unsigned gen;
	struct sim_pod **gone;
	size_t n, cap;
};

static void sweep_visit(struct sweep *sw, struct sim_pod *p)
{
	if (p->seen == sw->gen)
		return;
	if (sw->n == sw->cap) {
		sw->cap = sw->cap ? sw->cap * 2 : 64;
		sw->gone = xrealloc(sw->gone, sw->cap * sizeof(*sw->gone));
	}
	sw->gone[sw->n++] = p;
}

static void pod_listed(struct sim *s, const json_t *item, void *gen)
{
	pod_seen(s, item, *(unsigned *)gen);
}

/* Lists every bound pod in pages; pods the list no longer has are forgotten. */
static int relist(struct sim *s)
{
	cleanup_free char *rv = NULL;
	struct sweep sw = {0};
	struct keyidx_iter it;
	void *val;
	unsigned gen;

	pthread_mutex_lock(&s->mu);
	gen = ++s->list_gen;
	pthread_mutex_unlock(&s->mu);
	rv = sim_list(s, "pods", PODS_PATH, PAGE, pod_listed, &gen);
	if (!rv)
		return -EIO;
	pthread_mutex_lock(&s->mu);
	sw.gen = gen;
	keyidx_seek(&s->pods, NULL, &it);
	while (keyidx_next(&it, NULL, &val))
		sweep_visit(&sw, val);
	for (size_t i = 0; i < sw.n; i++)
		pod_remove(s, sw.gone[i]);
	set_rv(s, rv);
	pthread_mutex_unlock(&s->mu);
	free(sw.gone);
	return 0;
}

static void *watcher(void *arg)
{
	struct sim *s = arg;

	while (!sim_stopping(s)) {
		cleanup_free char *path = NULL;
		struct err err = ERR_INIT;
		bool listed;
		int r;

		pthread_mutex_lock(&s->mu);
		listed = s->rv != NULL;
		if (listed)
			path = xasprintf("%s&resourceVersion=%s&timeoutSeconds=%d", PODS_PATH,
					 s->rv, WATCH_TIMEOUT_S);
		pthread_mutex_unlock(&s->mu);
		if (!listed) {
			if (relist(s) < 0)
				sim_nap(s, 1000);
			continue;
		}
		r = kc_watch(s->kc, path, on_event, s, &err);
		if (r == 410) {
			pthread_mutex_lock(&s->mu);
			forget_rv_gone(s);
			pthread_mutex_unlock(&s->mu);
		} else if (r < 0 || r >= 400) {
			log_debug("sim: watch pods: %s", err.msg ? err.msg : "failed");
			sim_nap(s, 1000);
		}
		err_clear(&err);
	}
	return NULL;
}

int sim_pods_start(struct sim *s)
{
	int r = pthread_create(&s->watcher, NULL, watcher, s);

	if (r)
		return -r;
	pthread_setname_np(s->watcher, "sim-watcher");
	s->watching = true;
	return 0;
}

static void pod_free_val(void *p)
{
	pod_free(p);
}

void sim_pods_stop(struct sim *s)
{
	if (s->watching)
		pthread_join(s->watcher, NULL);
	s->watching = false;
	keyidx_done(&s->pods, pod_free_val);
	s->npods = 0;
}
