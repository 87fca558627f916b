/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `skiff sim load`: the scheduler benchmark's load generator and pod follower. One
 * thread follows the namespace's pods through a watch and records first times in a
 * compact table (names in a string arena, three 32-bit times per pod), so 150,000 pods
 * cost a few MiB; the calling thread creates the Deployments and samples /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/sim/load.h"

#define DEFAULT_IMAGE    "registry.local/app:1"
#define DEFAULT_CPU      "10m"
#define DEFAULT_MEMORY   "16Mi"
#define DEFAULT_STALL_MS 60000
#define NAME_CHUNK_BYTES 65536
#define MIN_SLOTS        1024
/* the follower's watch gets half a second to connect before the first create */
#define WATCH_SETTLE_MS 500
#define SAMPLE_EVERY_MS 1000
#define POLL_MS         100
#define PROGRESS_MS     10000
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define PROC_BUF_BYTES  8192

/* The tracker. */

struct name_chunk {
	struct name_chunk *next;
	size_t used, cap;
	char data[];
};

/* Times are milliseconds since the tracker's base, -1 when not yet: 24 days fit. */
struct pod_slot {
	const char *name; /* in the arena; NULL: free slot */
	uint32_t hash;
	int32_t seen, bound, running;
	bool deleted;
};

struct simload_tracker {
	pthread_mutex_t lock;
	struct pod_slot *slots;
	size_t cap, n; /* cap: a power of two */
	struct name_chunk *names;
	int64_t base_ms;
	size_t target;
	size_t bound, running, deleted;
	char rv[SIMLOAD_RV_MAX];
};

struct simload_tracker *simload_tracker_new(size_t target, int64_t base_ms)
{
	struct simload_tracker *t = xcalloc(1, sizeof(*t));

	pthread_mutex_init(&t->lock, NULL);
	t->cap = MIN_SLOTS;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
	t->base_ms = base_ms;
	t->target = target;
	return t;
}

void simload_tracker_free(struct simload_tracker *t)
{
	if (!t)
		return;
	for (struct name_chunk *c = t->names, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* FNV-1a: names differ in their random suffixes, which it spreads well enough. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const char *arena_copy(struct simload_tracker *t, const char *s)
{
	size_t len = strlen(s) + 1;
	struct name_chunk *c = t->names;
	char *p;

	if (!c || c->cap - c->used < len) {
		size_t cap = len > NAME_CHUNK_BYTES ? len : NAME_CHUNK_BYTES;

		c = xmalloc(sizeof(*c) + cap);
		c->cap = cap;
		c->used = 0;
		c->next = t->names;
		t->names = c;
	}
	p = c->data + c->used;
	memcpy(p, s, len);
	c->used += len;
	return p;
}

static struct pod_slot *slot_find(struct pod_slot *slots, size_t cap, const char *name,
				  uint32_t hash)
{
	size_t i = hash & (cap - 1);

	while (slots[i].name && (slots[i].hash != hash || strcmp(slots[i].name, name) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static void grow(struct simload_tracker *t)
{
	size_t cap = t->cap * 2;
	struct pod_slot *slots = xcalloc(cap, sizeof(*slots));

	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].name)
			*slot_find(slots, cap, t->slots[i].name, t->slots[i].hash) = t->slots[i];
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
}

/* Under the lock. */
static struct pod_slot *pod_get(struct simload_tracker *t, const char *name, bool create)
{
	uint32_t hash = name_hash(name);
	struct pod_slot *s = slot_find(t->slots, t->cap, name, hash);

	if (s->name || !create)
		return s->name ? s : NULL;
	/* at most three quarters full keeps probe runs short */
	if ((t->n + 1) * 4 > t->cap * 3) {
		grow(t);
		s = slot_find(t->slots, t->cap, name, hash);
	}
	s->name = arena_copy(t, name);
	s->hash = hash;
	s->seen = s->bound = s->running = -1;
	t->n++;
	return s;
}

static bool rv_valid(const char *rv)
{
	size_t len = strlen(rv);

	if (len == 0 || len >= SIMLOAD_RV_MAX)
		return false;
	/* it goes into a query string unescaped */
	return strspn(rv, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-") ==
	       len;
}

bool simload_tracker_set_rv(struct simload_tracker *t, const char *rv)
{
	if (!rv || !rv_valid(rv))
		return false;
	pthread_mutex_lock(&t->lock);
	memcpy(t->rv, rv, strlen(rv) + 1);
	pthread_mutex_unlock(&t->lock);
	return true;
}

void simload_tracker_rv(struct simload_tracker *t, char buf[SIMLOAD_RV_MAX])
{
	pthread_mutex_lock(&t->lock);
	memcpy(buf, t->rv, sizeof(t->rv));
	pthread_mutex_unlock(&t->lock);
}

static int32_t rel_ms(const struct simload_tracker *t, int64_t now)
{
	int64_t d = now - t->base_ms;

	if (d < 0)
		return 0;
	return d > INT32_MAX ? INT32_MAX : (int32_t)d;
}

/* Under the lock: a pod's state as of this event. */
static void pod_put(struct simload_tracker *t, const char *name, const json_t *obj, int64_t now)
{
	struct pod_slot *s = pod_get(t, name, true);
	const char *node, *phase;

	if (s->seen < 0)
		s->seen = rel_ms(t, now);
	if (s->deleted) {
		s->deleted = false;
		t->deleted--;
	}
	if (s->bound < 0) {
		node = json_string_value(json_object_get(json_object_get(obj, "spec"), "nodeName"));
		if (node && node[0]) {
			s->bound = rel_ms(t, now);
			t->bound++;
		}
	}
	if (s->running < 0) {
		phase = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
		if (phase && strcmp(phase, "Running") == 0) {
			s->running = rel_ms(t, now);
			t->running++;
		}
	}
}

enum simload_ev simload_tracker_event(struct simload_tracker *t, const char *type,
				      const json_t *obj, int64_t now_ms_)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	bool put = strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0;
	enum simload_ev r;

	if (strcmp(type, "ERROR") == 0)
		return json_integer_value(json_object_get(obj, "code")) == 410 ? SIMLOAD_EV_GONE
									       : SIMLOAD_EV_RESTART;
	pthread_mutex_lock(&t->lock);
	if (rv && rv_valid(rv))
		memcpy(t->rv, rv, strlen(rv) + 1);
	if (put && name && name[0]) {
		pod_put(t, name, obj, now_ms_);
	} else if (strcmp(type, "DELETED") == 0 && name) {
		struct pod_slot *s = pod_get(t, name, false);

		/* a pod never seen before its deletion was never part of this run */
		if (s && !s->deleted) {
			s->deleted = true;
			t->deleted++;
		}
	}
	r = t->running >= t->target ? SIMLOAD_EV_DONE : SIMLOAD_EV_CONTINUE;
	pthread_mutex_unlock(&t->lock);
	return r;
}

bool simload_tracker_pod(struct simload_tracker *t, const char *name, struct simload_pod_times *ret)
{
	struct pod_slot *s;

	pthread_mutex_lock(&t->lock);
	s = pod_get(t, name, false);
	if (s) {
		ret->seen_ms = s->seen;
		ret->bound_ms = s->bound;
		ret->running_ms = s->running;
		ret->deleted = s->deleted;
	}
	pthread_mutex_unlock(&t->lock);
	return s != NULL;
}

void simload_tracker_counts(struct simload_tracker *t, size_t *ret_seen, size_t *ret_bound,
			    size_t *ret_running)
{
	pthread_mutex_lock(&t->lock);
	if (ret_seen)
		*ret_seen = t->n;
	if (ret_bound)
		*ret_bound = t->bound;
	if (ret_running)
		*ret_running = t->running;
	pthread_mutex_unlock(&t->lock);
}

bool simload_tracker_done(struct simload_tracker *t)
{
	bool done;

	pthread_mutex_lock(&t->lock);
	done = t->running >= t->target;
	pthread_mutex_unlock(&t->lock);
	return done;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double simload_pct(double *values, size_t n, double p)
{
	double rank;
	size_t k;

	if (n == 0)
		return NAN;
	qsort(values, n, sizeof(*values), cmp_double);
	/* Python's round() goes half to even, as nearbyint() in the default rounding mode */
	rank = nearbyint(p / 100 * (double)n + 0.5) - 1;
	if (rank < 0)
		k = 0;
	else if (rank > (double)(n - 1))
		k = n - 1;
	else
		k = (size_t)rank;
	return values[k];
}

void simload_tracker_stats(struct simload_tracker *t, struct simload_stats *ret)
{
	struct simload_stats st = {0};
	cleanup_free double *start = NULL, *bind = NULL, *run = NULL;
	size_t n_start = 0, n_bind = 0, n_run = 0;
	int32_t min_seen = INT32_MAX, max_seen = -1, max_bound = -1;

	pthread_mutex_lock(&t->lock);
	st.seen = t->n;
	st.bound = t->bound;
	st.running = t->running;
	st.deleted = t->deleted;
	start = xcalloc(t->running + 1, sizeof(*start));
	bind = xcalloc(t->bound + 1, sizeof(*bind));
	run = xcalloc(t->running + 1, sizeof(*run));
	for (size_t i = 0; i < t->cap; i++) {
		const struct pod_slot *s = &t->slots[i];

		if (!s->name)
			continue;
		min_seen = s->seen < min_seen ? s->seen : min_seen;
		max_seen = s->seen > max_seen ? s->seen : max_seen;
		if (s->bound >= 0) {
			bind[n_bind++] = s->bound - s->seen;
			max_bound = s->bound > max_bound ? s->bound : max_bound;
		}
		if (s->running >= 0)
			start[n_start++] = s->running - s->seen;
		if (s->running >= 0 && s->bound >= 0)
			run[n_run++] = s->running - s->bound;
	}
	pthread_mutex_unlock(&t->lock);

	if (st.bound > 1 && max_bound > min_seen)
		st.sched_rate = (double)st.bound / ((max_bound - min_seen) / 1000.0);
	st.start_p50_ms = simload_pct(start, n_start, 50);
	st.start_p99_ms = simload_pct(start, n_start, 99);
	st.bind_p50_ms = simload_pct(bind, n_bind, 50);
	st.bind_p99_ms = simload_pct(bind, n_bind, 99);
	st.run_p50_ms = simload_pct(run, n_run, 50);
	st.run_p99_ms = simload_pct(run, n_run, 99);
	st.created_over_s = max_seen >= 0 ? (max_seen - min_seen) / 1000.0 : 0.0;
	*ret = st;
}

/* /proc. */

bool simload_parse_rss_kib(const char *status, uint64_t *ret_kib)
{
	const char *p = status;
	unsigned long long v;
	char *end;

	while (p && strncmp(p, "VmRSS:", 6) != 0) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return false;
	p += 6;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || strncmp(end, " kB", 3) != 0)
		return false;
	*ret_kib = v;
	return true;
}

/* Skips one space-separated field; NULL at the end of the text. */
static const char *skip_field(const char *p)
{
	while (*p == ' ')
		p++;
	if (!*p || *p == '\n')
		return NULL;
	while (*p && *p != ' ' && *p != '\n')
		p++;
	return p;
}

static bool parse_ticks(const char **p, unsigned long long *ret)
{
	char *end;

	while (**p == ' ')
		(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*ret = strtoull(*p, &end, 10);
	if (errno || (*end != ' ' && *end != '\n' && *end))
		return false;
	*p = end;
	return true;
}

bool simload_parse_cpu_ticks(const char *stat, uint64_t *ret_ticks)
{
	/* the command name may hold anything, ")" included: fields start after the last ")" */
	const char *p = strrchr(stat, ')');
	unsigned long long utime, stime;

	if (!p)
		return false;
	p++;
	/* state (field 3) through cmajflt (field 13) come before utime */
	for (int i = 3; i <= 13 && p; i++)
		p = skip_field(p);
	if (!p || !parse_ticks(&p, &utime) || !parse_ticks(&p, &stime))
		return false;
	*ret_ticks = utime + stime;
	return true;
}

static int proc_read(int pid, const char *file, char *buf, size_t size, struct err *err)
{
	char path[64];
	cleanup_close int fd = -1;
	size_t len = 0;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open %s", path);
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return 0;
}

int simload_proc_rss_kib(int pid, uint64_t *ret_kib, struct err *err)
{
	char buf[PROC_BUF_BYTES];
	int r = proc_read(pid, "status", buf, sizeof(buf), err);

	if (r < 0)
		return r;
	if (!simload_parse_rss_kib(buf, ret_kib))
		return err_set(err, EPROTO, "/proc/%d/status: no VmRSS line", pid);
	return 0;
}

int simload_proc_cpu_s(int pid, double *ret_s, struct err *err)
{
	char buf[PROC_BUF_BYTES];
	uint64_t ticks;
	long hz = sysconf(_SC_CLK_TCK);
	int r = proc_read(pid, "stat", buf, sizeof(buf), err);

	if (r < 0)
		return r;
	if (!simload_parse_cpu_ticks(buf, &ticks))
		return err_set(err, EPROTO, "/proc/%d/stat: malformed", pid);
	*ret_s = (double)ticks / (double)(hz > 0 ? hz : 100);
	return 0;
}

/* Deployments. */

size_t simload_deployment_count(size_t pods, size_t per)
{
	return per ? (pods + per - 1) / per : 0;
}

size_t simload_deployment_replicas(size_t pods, size_t per, size_t index)
{
	size_t done;

	if (!per || index >= simload_deployment_count(pods, per))
		return 0;
	done = index * per;
	return pods - done < per ? pods - done : per;
}

json_t *simload_deployment(const struct simload_config *cfg, size_t index, size_t replicas)
{
	char name[32];

	snprintf(name, sizeof(name), "load-%zu", index);
	return json_pack("{s:s, s:s, s:{s:s}, s:{s:I, s:{s:{s:s}}, s:{s:{s:{s:s}}, "
			 "s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}}}",
			 "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", name,
			 "spec", "replicas", (json_int_t)replicas, "selector", "matchLabels", "app",
			 name, "template", "metadata", "labels", "app", name, "spec", "containers",
			 "name", "main", "image", cfg->image ? cfg->image : DEFAULT_IMAGE,
			 "resources", "requests", "cpu",
			 cfg->cpu_request ? cfg->cpu_request : DEFAULT_CPU, "memory",
			 cfg->memory_request ? cfg->memory_request : DEFAULT_MEMORY);
}

json_t *simload_latency_pod(const struct simload_config *cfg, size_t index)
{
	char name[32];

	snprintf(name, sizeof(name), "latency-%zu", index);
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}",
			 "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "labels",
			 "app", "latency", "spec", "containers", "name", "main", "image",
			 cfg->image ? cfg->image : DEFAULT_IMAGE, "resources", "requests", "cpu",
			 cfg->cpu_request ? cfg->cpu_request : DEFAULT_CPU, "memory",
			 cfg->memory_request ? cfg->memory_request : DEFAULT_MEMORY);
}

/* The follower thread. */

struct follower {
	struct kc *c;
	struct simload_tracker *t;
	const char *ns;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stop;     /* asked to end */
	atomic_bool ended;    /* the thread is finishing */
	atomic_llong done_ms; /* when the last pod needed was Running; 0: not yet */
	bool gone;            /* a 410 ERROR event */
	char *error_msg;      /* the message of the last ERROR event */
	unsigned events;      /* in the current watch */
	unsigned restarts;
	struct err err; /* why it gave up */
};

static int on_event(void *arg, const char *type, json_t *obj)
{
	struct follower *f = arg;
	int64_t now = clock_mono_ms();

	/* an idle watch still carries a BOOKMARK every few seconds, so this ends it soon */
	if (atomic_load(&f->stop))
		return -1;
	f->events++;
	switch (simload_tracker_event(f->t, type, obj, now)) {
	case SIMLOAD_EV_CONTINUE:
		return 0;
	case SIMLOAD_EV_DONE:
		if (atomic_load(&f->done_ms) == 0)
			atomic_store(&f->done_ms, now);
		return -1;
	case SIMLOAD_EV_GONE:
		f->gone = true;
		break;
	case SIMLOAD_EV_RESTART:
		break;
	}
	free(f->error_msg);
	f->error_msg = xstrdup(json_string_value(json_object_get(obj, "message")) ?: "no message");
	return -1;
}

/* Sleeps @ms unless asked to stop; false when asked. */
static bool follower_sleep(struct follower *f, int64_t ms)
{
	struct timespec until;

	clock_deadline(&until, ms);
	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop))
		if (clock_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&f->lock);
	return !atomic_load(&f->stop);
}

/* One watch; returns true to resume, false to end (f->err set when it failed). */
static bool follow_once(struct follower *f, int64_t *backoff)
{
	char rv[SIMLOAD_RV_MAX];
	cleanup_free char *path = NULL;
	struct err err = ERR_INIT;
	const char *why;
	int r;

	simload_tracker_rv(f->t, rv);
	path = xasprintf("/api/v1/namespaces/%s/pods?resourceVersion=%s", f->ns, rv);
	f->events = 0;
	r = kc_watch(f->c, path, on_event, f, &err);
	if (atomic_load(&f->stop) || simload_tracker_done(f->t)) {
		err_clear(&err);
		return false;
	}
	why = f->error_msg ? f->error_msg : err.msg;
	if (f->gone || r == 410) {
		err_set(&f->err, ESTALE,
			"watch pods in namespace '%s' from resourceVersion %s: 410 Gone (%s): the "
			"follower fell behind the server's watch history",
			f->ns, rv, why ? why : "expired");
		err_clear(&err);
		return false;
	}
	if (r >= 400 && r < 500 && r != 429) {
		if (!err.code)
			err_set(&err, EPROTO, "HTTP %d", r);
		f->err = err;
		err_wrap(&f->err, "watch pods in namespace '%s'", f->ns);
		return false;
	}
	f->restarts++;
	if (r == 200 && f->events > 0 && !f->error_msg) {
		/* the server ended a working stream (a timeout, or it dropped a slow reader) */
		log_debug("load: watch of namespace %s ended after %u events, resuming from %s",
			  f->ns, f->events, rv);
		*backoff = 0;
		return true;
	}
	*backoff = *backoff ? *backoff * 2 : BACKOFF_MIN_MS;
	if (*backoff > BACKOFF_MAX_MS)
		*backoff = BACKOFF_MAX_MS;
	log_debug("load: watch of namespace %s: %s, retrying in %lld ms", f->ns,
		  why ? why : "ended at once", (long long)*backoff);
	err_clear(&err);
	free(f->error_msg);
	f->error_msg = NULL;
	return follower_sleep(f, *backoff);
}

static void *follower_main(void *arg)
{
	struct follower *f = arg;
	int64_t backoff = 0;

	while (!atomic_load(&f->stop) && follow_once(f, &backoff))
		;
	atomic_store(&f->ended, true);
	return NULL;
}

static int follower_start(struct follower *f, struct err *err)
{
	sigset_t all, old;
	int r;

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	atomic_init(&f->stop, false);
	atomic_init(&f->ended, false);
	atomic_init(&f->done_ms, 0);
	/* signals are for the calling thread, which decides when the run ends */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&f->thread, NULL, follower_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		return err_errno(err, r, "start the pod follower");
	}
	pthread_setname_np(f->thread, "sim-follower");
	return 0;
}

static void follower_stop(struct follower *f)
{
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, true);
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->error_msg);
	f->error_msg = NULL;
}

/* Sampling. */

struct proc_sample {
	int pid; /* 0: this process */
	bool used;
	double cpu0_s;
	double peak_kib;
};

static void sample_rss(struct proc_sample *p)
{
	struct err err = ERR_INIT;
	uint64_t kib;

	if (!p->used)
		return;
	/* a process that ended keeps the peak it had */
	if (simload_proc_rss_kib(p->pid, &kib, &err) < 0) {
		log_debug("load: %s, ignoring", err.msg);
		err_clear(&err);
		return;
	}
	if ((double)kib > p->peak_kib)
		p->peak_kib = (double)kib;
}

static double cpu_since(const struct proc_sample *p)
{
	struct err err = ERR_INIT;
	double s;

	if (simload_proc_cpu_s(p->pid, &s, &err) < 0) {
		log_debug("load: %s", err.msg);
		err_clear(&err);
		return NAN;
	}
	return s - p->cpu0_s;
}

/* The run. */

static bool wait_or_interrupted(const struct simload_config *cfg, int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	if (cfg->interrupted)
		return cfg->interrupted(cfg->arg, ms);
	if (ms > 0)
		nanosleep(&ts, NULL);
	return false;
}

static int create_namespace(struct kc *c, const char *ns, struct err *err)
{
	cleanup_json json_t *body = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					      "Namespace", "metadata", "name", ns);
	int r = kc_request(c, "POST", "/api/v1/namespaces", NULL, body, NULL, err);

	if (r < 0 || r >= 400)
		return err_wrap(err, "create namespace '%s'", ns);
	if (r >= 300)
		return err_set(err, EPROTO, "create namespace '%s': HTTP %d", ns, r);
	return 0;
}

static int list_rv(struct kc *c, const char *ns, struct simload_tracker *t, struct err *err)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/pods?limit=1", ns);
	cleanup_json json_t *list = NULL;
	const char *rv;
	int r = kc_request(c, "GET", path, NULL, NULL, &list, err);

	if (r < 0 || r >= 400)
		return err_wrap(err, "list pods in namespace '%s'", ns);
	rv = json_string_value(
		json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
	if (!rv || !simload_tracker_set_rv(t, rv))
		return err_set(err, EPROTO,
			       "list pods in namespace '%s': %s metadata.resourceVersion", ns,
			       rv ? "malformed" : "no");
	return 0;
}

/*
 * POSTs @body (NULL: it did not build, which only non-UTF-8 flags cause) as the @kind
 * "@name" (e.g. "deployment", "load-3") into the collection @path of namespace @ns.
 */
static int create_object(struct kc *c, const char *path, json_t *body, const char *kind,
			 const char *name, const char *ns, struct err *err)
{
	int r;

	if (!body)
		return err_set(err, EINVAL, "create %s '%s': the image or a request is not UTF-8",
			       kind, name);
	r = kc_request(c, "POST", path, NULL, body, NULL, err);
	if (r < 0 || r >= 400)
		return err_wrap(err, "create %s '%s' in namespace '%s'", kind, name, ns);
	if (r >= 300)
		return err_set(err, EPROTO, "create %s '%s' in namespace '%s': HTTP %d", kind, name,
			       ns, r);
	return 0;
}

static int create_deployment(struct kc *c, const struct simload_config *cfg, const char *ns,
			     size_t index, size_t replicas, struct err *err)
{
	cleanup_free char *path = xasprintf("/apis/apps/v1/namespaces/%s/deployments", ns);
	cleanup_json json_t *body = simload_deployment(cfg, index, replicas);
	char name[32];

	snprintf(name, sizeof(name), "load-%zu", index);
	return create_object(c, path, body, "deployment", name, ns, err);
}

/* Checks that the pids can be read, before anything is created. */
static int check_pid(int pid, const char *what, struct err *err)
{
	double s;

	if (pid > 0 && simload_proc_cpu_s(pid, &s, err) < 0)
		return err_wrap(err, "%s process %d", what, pid);
	return 0;
}

static void samplers_init(struct proc_sample *p, int n)
{
	for (int i = 0; i < n; i++) {
		struct err err = ERR_INIT;

		if (!p[i].used)
			continue;
		if (simload_proc_cpu_s(p[i].pid, &p[i].cpu0_s, &err) < 0) {
			log_debug("load: %s", err.msg);
			err_clear(&err);
		}
		sample_rss(&p[i]);
	}
}

struct run {
	const struct simload_config *cfg;
	struct kc *c;
	struct follower f;
	struct proc_sample procs[3]; /* server, hollow nodes, this process */
	int64_t t0, last_sample, last_progress;
	bool interrupted, stalled;
};

static void tick(struct run *run, int64_t now)
{
	size_t seen, bound, running;

	if (now - run->last_sample >= SAMPLE_EVERY_MS) {
		sample_rss(&run->procs[0]);
		sample_rss(&run->procs[1]);
		run->last_sample = now;
	}
	if (now - run->last_progress >= PROGRESS_MS) {
		simload_tracker_counts(run->f.t, &seen, &bound, &running);
		log_debug("load: after %lld s: %zu pods seen, %zu bound, %zu running",
			  (long long)(now - run->t0) / 1000, seen, bound, running);
		run->last_progress = now;
	}
}

static int create_all(struct run *run, const char *ns, struct err *err)
{
	const struct simload_config *cfg = run->cfg;
	size_t n = simload_deployment_count(cfg->pods, cfg->per_deployment);

	for (size_t i = 0; i < n; i++) {
		size_t replicas = simload_deployment_replicas(cfg->pods, cfg->per_deployment, i);

		if (wait_or_interrupted(cfg, 0)) {
			run->interrupted = true;
			return 0;
		}
		/* a follower that gave up has nothing more to measure */
		if (atomic_load(&run->f.ended))
			return 0;
		if (create_deployment(run->c, cfg, ns, i, replicas, err) < 0)
			return -err->code;
		tick(run, clock_mono_ms());
	}
	log_debug("load: created %zu deployments in %lld ms", n,
		  (long long)(clock_mono_ms() - run->t0));
	return 0;
}

/*
 * Until every pod @f follows runs, @f gives up, the count stalls (true) or a signal
 * (run->interrupted).
 */
static bool wait_end(struct run *run, struct follower *f)
{
	int64_t stall_ms = run->cfg->stall_ms > 0 ? run->cfg->stall_ms : DEFAULT_STALL_MS;
	int64_t last_change = clock_mono_ms();
	size_t last = (size_t)-1;

	while (!atomic_load(&f->ended)) {
		size_t running;
		int64_t now;

		if (wait_or_interrupted(run->cfg, POLL_MS)) {
			run->interrupted = true;
			return false;
		}
		now = clock_mono_ms();
		tick(run, now);
		simload_tracker_counts(f->t, NULL, NULL, &running);
		if (running != last) {
			last = running;
			last_change = now;
		} else if (now - last_change > stall_ms) {
			return true;
		}
	}
	return false;
}

static int create_latency_pod(struct kc *c, const struct simload_config *cfg, const char *ns,
			      size_t index, struct err *err)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/pods", ns);
	cleanup_json json_t *body = simload_latency_pod(cfg, index);
	char name[32];

	snprintf(name, sizeof(name), "latency-%zu", index);
	return create_object(c, path, body, "pod", name, ns, err);
}

/*
 * The latency pods: a namespace of their own, a follower of their own, one create every
 * 1/qps seconds on the loaded cluster, then until they run.
 */
static int run_latency(struct run *run, const char *base_ns, struct simload_result *res,
		       struct err *err)
{
	const struct simload_config *cfg = run->cfg;
	cleanup_free char *ns = xasprintf("%s-latency", base_ns);
	double qps = cfg->latency_qps > 0 ? cfg->latency_qps : 10;
	struct follower f = {.c = run->c, .ns = ns};
	int64_t t0;
	int r;

	f.t = simload_tracker_new(cfg->latency_pods, clock_mono_ms());
	r = create_namespace(run->c, ns, err);
	if (r >= 0)
		r = list_rv(run->c, ns, f.t, err);
	if (r >= 0)
		r = follower_start(&f, err);
	if (r < 0) {
		simload_tracker_free(f.t);
		return r;
	}
	if (wait_or_interrupted(cfg, WATCH_SETTLE_MS))
		run->interrupted = true;
	t0 = clock_mono_ms();
	for (size_t i = 0; i < cfg->latency_pods && !run->interrupted && r >= 0; i++) {
		int64_t due = t0 + (int64_t)((double)i * 1000.0 / qps),
			wait = due - clock_mono_ms();

		if (wait > 0 && wait_or_interrupted(cfg, (int)wait)) {
			run->interrupted = true;
			break;
		}
		if (atomic_load(&f.ended))
			break;
		r = create_latency_pod(run->c, cfg, ns, i, err);
	}
	if (r >= 0 && !run->interrupted)
		res->latency_stalled = wait_end(run, &f);
	res->interrupted |= run->interrupted;
	follower_stop(&f);
	if (r >= 0) {
		simload_tracker_stats(f.t, &res->latency);
		res->latency_ran = true;
		if (f.err.code && !res->watch_err.code)
			res->watch_err = f.err;
		else
			err_clear(&f.err);
	} else {
		err_clear(&f.err);
	}
	simload_tracker_free(f.t);
	return r;
}

static void finish(struct run *run, struct simload_result *res)
{
	int64_t end = atomic_load(&run->f.done_ms);
	double *cpu[3] = {&res->cpu_server_s, &res->cpu_sim_s, &res->cpu_self_s};
	double *rss[2] = {&res->rss_server_mib, &res->rss_sim_mib};

	if (!end)
		end = clock_mono_ms();
	res->total_s = (end - run->t0) / 1000.0;
	for (int i = 0; i < 3; i++)
		*cpu[i] = run->procs[i].used ? cpu_since(&run->procs[i]) : NAN;
	for (int i = 0; i < 2; i++) {
		sample_rss(&run->procs[i]);
		*rss[i] = run->procs[i].used ? run->procs[i].peak_kib / 1024 : NAN;
	}
	res->stalled = run->stalled;
	res->interrupted = run->interrupted;
}

int simload_run(const struct simload_config *cfg, struct simload_result *ret, struct err *err)
{
	struct run run = {.cfg = cfg};
	struct simload_result res = {0};
	cleanup_free char *ns = NULL;
	int r;

	if (cfg->pods == 0 || cfg->per_deployment == 0)
		return err_set(err, EINVAL,
			       "load: the pod count and pods per deployment must be > 0");
	if (check_pid(cfg->server_pid, "server", err) < 0 ||
	    check_pid(cfg->sim_pid, "hollow nodes", err) < 0)
		return -err->code;
	r = kc_remote(cfg->server, cfg->token, cfg->ca_pem, &run.c, err);
	if (r < 0)
		return err_wrap(err, "connect to %s", cfg->server);
	ns = xasprintf("load-%lld", (long long)time(NULL));
	run.f.c = run.c;
	run.f.ns = ns;
	run.f.t = simload_tracker_new(cfg->pods, clock_mono_ms());
	r = create_namespace(run.c, ns, err);
	if (r >= 0)
		r = list_rv(run.c, ns, run.f.t, err);
	if (r >= 0)
		r = follower_start(&run.f, err);
	if (r < 0)
		goto out_client;

	run.interrupted = wait_or_interrupted(cfg, WATCH_SETTLE_MS);
	run.procs[0] = (struct proc_sample){.pid = cfg->server_pid, .used = cfg->server_pid > 0};
	run.procs[1] = (struct proc_sample){.pid = cfg->sim_pid, .used = cfg->sim_pid > 0};
	run.procs[2] = (struct proc_sample){.pid = 0, .used = true};
	run.t0 = run.last_sample = run.last_progress = clock_mono_ms();
	samplers_init(run.procs, 3);
	if (!run.interrupted)
		r = create_all(&run, ns, err);
	if (r >= 0 && !run.interrupted)
		run.stalled = wait_end(&run, &run.f);
	if (r >= 0)
		finish(&run, &res);
	follower_stop(&run.f);
	if (r >= 0) {
		simload_tracker_stats(run.f.t, &res.stats);
		res.watch_restarts = run.f.restarts;
		res.watch_err = run.f.err;
		res.pods = cfg->pods;
		/* on a cluster that ran the load through */
		if (cfg->latency_pods && !run.interrupted && !run.stalled && !res.watch_err.code)
			r = run_latency(&run, ns, &res, err);
	} else {
		err_clear(&run.f.err);
	}
	if (r >= 0) {
		res.ns = TAKE_PTR(ns);
		*ret = res;
	} else {
		err_clear(&res.watch_err);
	}
out_client:
	simload_tracker_free(run.f.t);
	kc_free(run.c);
	return r < 0 ? r : 0;
}

void simload_result_done(struct simload_result *r)
{
	if (!r)
		return;
	free(r->ns);
	r->ns = NULL;
	err_clear(&r->watch_err);
}
