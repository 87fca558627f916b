/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the API client (cluster/client/): work queue rules on their own, then
 * requests, watches, informers and events against a real API server started in-process,
 * through both transports (kc_local and kc_remote over plain HTTP, plus one HTTPS check),
 * an informer that resumes after 410 Gone across a server restart, the remote client's
 * retry on a pooled connection the server closed, and a proxy variable honoured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jload.h"
#include "cluster/api/api.h"
#include "cluster/api/http.h"
#include "cluster/api/pki.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

#define TOKEN "test-admin-token"

static char tmpdir[64];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Work queues. */

static void test_wq_keeps_one_copy_of_a_waiting_key(void **state)
{
	struct workqueue *q = wq_new();
	char *k;

	(void)state;
	wq_add(q, "a");
	wq_add(q, "b");
	wq_add(q, "a");
	assert_int_equal(wq_len(q), 2);
	k = wq_get(q);
	assert_string_equal(k, "a");
	wq_done(q, k);
	free(k);
	k = wq_get(q);
	assert_string_equal(k, "b");
	wq_done(q, k);
	free(k);
	assert_int_equal(wq_len(q), 0);
	wq_free(q);
}

static void test_wq_requeues_a_key_added_while_processing_after_done(void **state)
{
	struct workqueue *q = wq_new();
	char *k, *k2;

	(void)state;
	wq_add(q, "a");
	k = wq_get(q);
	wq_add(q, "a");
	wq_add(q, "a");
	/* not handed to a second worker while the first holds it */
	assert_int_equal(wq_len(q), 0);
	wq_done(q, k);
	assert_int_equal(wq_len(q), 1);
	k2 = wq_get(q);
	assert_string_equal(k2, "a");
	wq_done(q, k2);
	assert_int_equal(wq_len(q), 0);
	free(k);
	free(k2);
	wq_free(q);
}

static void test_wq_delays_adds_and_keeps_the_earliest_time(void **state)
{
	struct workqueue *q = wq_new();
	double t0 = now_s(), dt;
	char *k;

	(void)state;
	wq_add_after(q, "late", 60);
	assert_int_equal(wq_len(q), 0);
	k = wq_get(q);
	dt = now_s() - t0;
	assert_string_equal(k, "late");
	assert_true(dt >= 0.055);
	assert_true(dt < 1.0);
	wq_done(q, k);
	free(k);

	t0 = now_s();
	wq_add_after(q, "x", 5000);
	wq_add_after(q, "x", 30);
	k = wq_get(q);
	assert_string_equal(k, "x");
	assert_true(now_s() - t0 < 1.0);
	wq_done(q, k);
	free(k);
	assert_int_equal(wq_len(q), 0);
	wq_free(q);
}

static void test_wq_backs_off_exponentially_per_key_until_forgotten(void **state)
{
	struct workqueue *q = wq_new();
	double t0, dt;
	char *k;

	(void)state;
	/* seven failures: the next retry waits 5 ms * 2^7 = 640 ms */
	for (int i = 0; i < 7; i++)
		wq_add_rate_limited(q, "k");
	k = wq_get(q);
	wq_done(q, k);
	free(k);
	t0 = now_s();
	wq_add_rate_limited(q, "k");
	wq_add(q, "other");
	k = wq_get(q);
	assert_string_equal(k, "other");
	wq_done(q, k);
	free(k);
	k = wq_get(q);
	dt = now_s() - t0;
	assert_string_equal(k, "k");
	assert_true(dt >= 0.6);
	assert_true(dt < 2.0);
	wq_done(q, k);
	free(k);

	wq_forget(q, "k");
	t0 = now_s();
	wq_add_rate_limited(q, "k");
	k = wq_get(q);
	assert_true(now_s() - t0 < 0.3);
	wq_done(q, k);
	free(k);
	wq_free(q);
}

static void *getter(void *arg)
{
	return wq_get(arg);
}

static void test_wq_shutdown_wakes_a_blocked_worker(void **state)
{
	struct workqueue *q = wq_new();
	pthread_t t;
	void *res = (void *)1;

	(void)state;
	wq_add_after(q, "never", 100000);
	assert_int_equal(pthread_create(&t, NULL, getter, q), 0);
	sleep_ms(50);
	wq_shutdown(q);
	pthread_join(t, &res);
	assert_null(res);
	assert_null(wq_get(q));
	wq_free(q);
}

static void test_kc_key_joins_namespace_and_name(void **state)
{
	cleanup_json json_t *a =
		json_pack("{s:{s:s, s:s}}", "metadata", "namespace", "ns", "name", "x");
	cleanup_json json_t *b = json_pack("{s:{s:s}}", "metadata", "name", "node-1");
	cleanup_free char *ka = kc_key(a);
	cleanup_free char *kb = kc_key(b);

	(void)state;
	assert_string_equal(ka, "ns/x");
	assert_string_equal(kb, "node-1");
}

/* The server and the clients. */

static struct api *api;
static uint16_t port;

struct transport {
	const char *name;
	const char *ns;
	struct kc *c;
};

static struct transport transports[2] = {{"local", "t-local", NULL}, {"remote", "t-remote", NULL}};

static struct api *start_api(const char *dir, uint16_t p, size_t history, const char *cert,
			     const char *key)
{
	struct api_config cfg = {
		.data_dir = dir,
		.bind_address = "127.0.0.1",
		.port = p,
		.admin_token = TOKEN,
		.node_token = "node-token",
		.cert_pem = cert,
		.key_pem = key,
		.threads = 2,
		.watch_history = history,
	};
	struct api *a = NULL;
	struct err err = ERR_INIT;

	if (api_start(&cfg, &a, &err) < 0)
		fail_msg("start API server: %s", err.msg);
	return a;
}

static json_t *configmap(const char *ns, const char *name, const char *value)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", name, "namespace", ns, "data", "v",
			 value);
}

static int create_cm(struct kc *c, const char *ns, const char *name, const char *value,
		     json_t **ret)
{
	cleanup_json json_t *cm = configmap(ns, name, value);
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
	struct err err = ERR_INIT;
	int r = kc_request(c, "POST", path, NULL, cm, ret, &err);

	err_clear(&err);
	return r;
}

static int update_cm(struct kc *c, json_t *cm, const char *value, json_t **ret)
{
	const char *ns =
		json_string_value(json_object_get(json_object_get(cm, "metadata"), "namespace"));
	const char *name =
		json_string_value(json_object_get(json_object_get(cm, "metadata"), "name"));
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps/%s", ns, name);
	struct err err = ERR_INIT;
	int r;

	json_object_set_new(json_object_get(cm, "data"), "v", json_string(value));
	r = kc_request(c, "PUT", path, NULL, cm, ret, &err);
	err_clear(&err);
	return r;
}

static int delete_cm(struct kc *c, const char *ns, const char *name)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps/%s", ns, name);
	struct err err = ERR_INIT;
	int r = kc_request(c, "DELETE", path, NULL, NULL, NULL, &err);

	err_clear(&err);
	return r;
}

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void test_requests_create_get_update_patch_delete(void **state)
{
	struct transport *t = *state;
	struct kc *c = t->c;
	cleanup_json json_t *created = NULL;
	cleanup_json json_t *got = NULL;
	cleanup_json json_t *stale = NULL;
	cleanup_json json_t *updated = NULL;
	cleanup_json json_t *patched = NULL;
	cleanup_json json_t *status = NULL;
	cleanup_json json_t *patch = json_pack("{s:{s:s}}", "data", "w", "patched");
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps/crud", t->ns);
	struct err err = ERR_INIT;

	assert_int_equal(create_cm(c, t->ns, "crud", "1", &created), 201);
	assert_string_equal(json_string_value(json_object_get(created, "kind")), "ConfigMap");
	assert_int_equal(create_cm(c, t->ns, "crud", "1", NULL), 409);

	assert_int_equal(kc_request(c, "GET", path, NULL, NULL, &got, &err), 200);
	assert_null(err.msg);
	assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "v")),
			    "1");

	stale = json_deep_copy(got);
	assert_int_equal(update_cm(c, got, "2", &updated), 200);
	assert_string_not_equal(rv_of(updated), rv_of(stale));
	/* an update from the older version conflicts */
	assert_int_equal(kc_request(c, "PUT", path, NULL, stale, &status, &err), 409);
	assert_int_equal(err.code, EEXIST);
	assert_non_null(strstr(err.msg, "modified"));
	assert_string_equal(json_string_value(json_object_get(status, "reason")), "Conflict");
	err_clear(&err);

	assert_int_equal(
		kc_request(c, "PATCH", path, "application/merge-patch+json", patch, &patched, &err),
		200);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(patched, "data"), "w")),
		"patched");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(patched, "data"), "v")), "2");

	assert_int_equal(kc_request(c, "DELETE", path, NULL, NULL, NULL, &err), 200);
	assert_int_equal(kc_request(c, "GET", path, NULL, NULL, NULL, &err), 404);
	assert_int_equal(err.code, ENOENT);
	err_clear(&err);
}

/* Watches. */

struct seen {
	pthread_mutex_t lock;
	char types[64][16];
	char names[64][64];
	int n;
	bool stop_on_delete;
};

static int collect(void *arg, const char *type, json_t *obj)
{
	struct seen *s = arg;
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	bool del = strcmp(type, "DELETED") == 0;

	if (strcmp(type, "BOOKMARK") == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	if (s->n < 64) {
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name ? name : "");
		s->n++;
	}
	pthread_mutex_unlock(&s->lock);
	return del && s->stop_on_delete ? -1 : 0;
}

struct watch_run {
	struct kc *c;
	char *path;
	struct seen *seen;
	int result;
	struct err err;
};

static void *watch_thread(void *arg)
{
	struct watch_run *w = arg;

	w->result = kc_watch(w->c, w->path, collect, w->seen, &w->err);
	return NULL;
}

static void test_watch_delivers_added_modified_deleted_in_order(void **state)
{
	struct transport *t = *state;
	struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER, .stop_on_delete = true};
	cleanup_json json_t *list = NULL;
	cleanup_json json_t *cm = NULL;
	cleanup_json json_t *cm2 = NULL;
	cleanup_free char *lpath = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	struct watch_run w = {.c = t->c, .seen = &seen};
	struct err err = ERR_INIT;
	pthread_t th;

	assert_int_equal(kc_request(t->c, "GET", lpath, NULL, NULL, &list, &err), 200);
	w.path = xasprintf("%s?fieldSelector=metadata.name%%3Dwatched&resourceVersion=%s", lpath,
			   rv_of(list));
	assert_int_equal(pthread_create(&th, NULL, watch_thread, &w), 0);
	assert_int_equal(create_cm(t->c, t->ns, "watched", "1", &cm), 201);
	assert_int_equal(create_cm(t->c, t->ns, "unwatched", "1", NULL), 201);
	assert_int_equal(update_cm(t->c, cm, "2", &cm2), 200);
	assert_int_equal(delete_cm(t->c, t->ns, "watched"), 200);
	assert_int_equal(delete_cm(t->c, t->ns, "unwatched"), 200);
	pthread_join(th, NULL);
	assert_int_equal(w.result, 200);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.types[0], "ADDED");
	assert_string_equal(seen.types[1], "MODIFIED");
	assert_string_equal(seen.types[2], "DELETED");
	for (int i = 0; i < 3; i++)
		assert_string_equal(seen.names[i], "watched");
	free(w.path);
	err_clear(&w.err);
}

/* What a watch of the handoff test was given: each event's object, kept. */
struct kept {
	json_t *objs[8];
	char types[8][16];
	int n;
	bool text_differs; /* an object was not what its event's text says */
};

static int keep_event(void *arg, const char *type, json_t *obj)
{
	struct kept *k = arg;
	size_t len = 0;
	const char *text = kc_watch_object_text(&len);
	cleanup_json json_t *parsed = text ? jload_b(text, len, 0, NULL) : NULL;

	if (strcmp(type, "BOOKMARK") == 0)
		return 0;
	if (!parsed || !json_equal(parsed, obj))
		k->text_differs = true;
	if (k->n < 8) {
		k->objs[k->n] = json_incref(obj);
		snprintf(k->types[k->n], sizeof(k->types[0]), "%s", type);
		k->n++;
	}
	return strcmp(type, "DELETED") == 0 ? -1 : 0;
}

struct keep_run {
	struct kc *c;
	const char *path;
	struct kept kept;
	int result;
};

static void *keep_thread(void *arg)
{
	struct keep_run *r = arg;
	struct err err = ERR_INIT;

	r->result = kc_watch(r->c, r->path, keep_event, &r->kept, &err);
	err_clear(&err);
	return NULL;
}

/*
 * Each event's object is what its text (kc_watch_object_text, which a compact informer
 * keeps instead of the object) says, resourceVersion, apiVersion and kind included, for
 * two watches of the same objects at once.
 */
static void test_watch_event_objects_match_their_text(void **state)
{
	struct transport *t = *state;
	cleanup_json json_t *list = NULL;
	cleanup_json json_t *cm = NULL;
	cleanup_json json_t *cm2 = NULL;
	cleanup_free char *lpath = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	cleanup_free char *path = NULL;
	struct keep_run runs[2] = {{.c = t->c}, {.c = t->c}};
	struct err err = ERR_INIT;
	pthread_t th[2];

	assert_int_equal(kc_request(t->c, "GET", lpath, NULL, NULL, &list, &err), 200);
	path = xasprintf("%s?fieldSelector=metadata.name%%3Dshared&resourceVersion=%s", lpath,
			 rv_of(list));
	for (int i = 0; i < 2; i++) {
		runs[i].path = path;
		assert_int_equal(pthread_create(&th[i], NULL, keep_thread, &runs[i]), 0);
	}
	assert_int_equal(create_cm(t->c, t->ns, "shared", "1", &cm), 201);
	assert_int_equal(update_cm(t->c, cm, "2", &cm2), 200);
	assert_int_equal(delete_cm(t->c, t->ns, "shared"), 200);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(runs[i].result, 200);
		assert_int_equal(runs[i].kept.n, 3);
		assert_false(runs[i].kept.text_differs);
		assert_string_equal(runs[i].kept.types[0], "ADDED");
		assert_string_equal(runs[i].kept.types[1], "MODIFIED");
		assert_string_equal(runs[i].kept.types[2], "DELETED");
	}
	assert_string_equal(rv_of(runs[0].kept.objs[1]), rv_of(cm2));
	assert_string_equal(json_string_value(json_object_get(runs[0].kept.objs[0], "kind")),
			    "ConfigMap");
	assert_string_equal(rv_of(runs[1].kept.objs[0]), rv_of(cm));
	for (int i = 0; i < 2; i++)
		for (int e = 0; e < runs[i].kept.n; e++)
			json_decref(runs[i].kept.objs[e]);
}

/* A reader that takes nothing until the test lets it, then counts in order. */
#define N_SLOW    128
#define SLOW_SIZE (256 << 10)

struct slow_reader {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;
	int n, last;
	bool out_of_order;
	struct kc *c;
	const char *path;
	int result;
};

static int slow_event(void *arg, const char *type, json_t *obj)
{
	struct slow_reader *s = arg;
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	bool done;

	pthread_mutex_lock(&s->lock);
	while (!s->go)
		pthread_cond_wait(&s->cond, &s->lock);
	if (strcmp(type, "ADDED") == 0 && name && strncmp(name, "slow-", 5) == 0) {
		int i = atoi(name + 5);

		if (i != s->last + 1)
			s->out_of_order = true;
		s->last = i;
		s->n++;
	}
	done = s->n == N_SLOW;
	pthread_mutex_unlock(&s->lock);
	return done ? -1 : 0;
}

static void *slow_watch_thread(void *arg)
{
	struct slow_reader *s = arg;
	struct err err = ERR_INIT;

	s->result = kc_watch(s->c, s->path, slow_event, s, &err);
	err_clear(&err);
	return NULL;
}

static void test_watch_of_a_slow_reader_pauses_and_loses_nothing(void **state)
{
	struct transport *t = *state;
	struct slow_reader s = {.lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER,
				.last = -1,
				.c = t->c};
	cleanup_free char *lpath = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	cleanup_free char *path = NULL;
	cleanup_free char *value = xmalloc(SLOW_SIZE + 1);
	cleanup_json json_t *list = NULL;
	struct err err = ERR_INIT;
	char name[32];
	pthread_t th;

	/* 32 MiB of events: twice what a watch's queue may hold */
	memset(value, 'v', SLOW_SIZE);
	value[SLOW_SIZE] = '\0';
	assert_int_equal(kc_request(t->c, "GET", lpath, NULL, NULL, &list, &err), 200);
	path = xasprintf("%s?resourceVersion=%s", lpath, rv_of(list));
	s.path = path;
	assert_int_equal(pthread_create(&th, NULL, slow_watch_thread, &s), 0);
	for (int i = 0; i < N_SLOW; i++) {
		snprintf(name, sizeof(name), "slow-%d", i);
		assert_int_equal(create_cm(t->c, t->ns, name, value, NULL), 201);
	}
	/* the dispatcher meets the full queue before the reader takes anything */
	sleep_ms(300);
	pthread_mutex_lock(&s.lock);
	s.go = true;
	pthread_cond_broadcast(&s.cond);
	pthread_mutex_unlock(&s.lock);
	pthread_join(th, NULL);
	/* one watch, ended by the reader once it had everything */
	assert_int_equal(s.result, 200);
	assert_int_equal(s.n, N_SLOW);
	assert_false(s.out_of_order);
	for (int i = 0; i < N_SLOW; i++) {
		snprintf(name, sizeof(name), "slow-%d", i);
		assert_int_equal(delete_cm(t->c, t->ns, name), 200);
	}
}

/* More changes than the server sends a watcher in one round (4,096). */
#define N_FAR 4500

struct far_reader {
	int n;
	bool out_of_order;
};

static int far_event(void *arg, const char *type, json_t *obj)
{
	struct far_reader *f = arg;
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), "v"));

	if (strcmp(type, "MODIFIED") != 0)
		return 0;
	if (!v || atoi(v) != f->n + 1)
		f->out_of_order = true;
	f->n++;
	return f->n == N_FAR ? -1 : 0;
}

static void test_watch_from_far_back_gets_the_whole_history_in_order(void **state)
{
	struct transport *t = *state;
	struct far_reader f = {0};
	cleanup_json json_t *cm = NULL;
	cleanup_free char *path = NULL;
	struct err err = ERR_INIT;
	char v[16];

	assert_int_equal(create_cm(t->c, t->ns, "far", "0", &cm), 201);
	path = xasprintf("/api/v1/namespaces/%s/configmaps?fieldSelector=metadata.name%%3Dfar&"
			 "resourceVersion=%s",
			 t->ns, rv_of(cm));
	for (int i = 1; i <= N_FAR; i++) {
		json_t *next = NULL;

		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(update_cm(t->c, cm, v, &next), 200);
		json_decref(cm);
		cm = next;
	}
	/* the backlog goes out a batch per round of the dispatcher, nothing lost */
	assert_int_equal(kc_watch(t->c, path, far_event, &f, &err), 200);
	err_clear(&err);
	assert_int_equal(f.n, N_FAR);
	assert_false(f.out_of_order);
	assert_int_equal(delete_cm(t->c, t->ns, "far"), 200);
}

static void test_watch_of_a_missing_resource_reports_404(void **state)
{
	struct transport *t = *state;
	struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct err err = ERR_INIT;

	assert_int_equal(kc_watch(t->c, "/api/v1/nosuchthings", collect, &seen, &err), 404);
	assert_int_equal(err.code, ENOENT);
	err_clear(&err);
}

/* Informers. */

#define N_OBJS 100

/* Written on the informer's thread, read by the test under the lock. */
struct recorder {
	pthread_mutex_t lock;
	int adds, updates, dels;
	long long last_rv[N_OBJS];
	bool out_of_order;
	bool present[N_OBJS];
	char prefix[32];
};

static int index_of(struct recorder *r, json_t *obj)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	size_t n = strlen(r->prefix);

	if (!name || strncmp(name, r->prefix, n) != 0)
		return -1;
	return atoi(name + n);
}

static void note(struct recorder *r, json_t *obj, bool present)
{
	int i = index_of(r, obj);
	long long rv = atoll(rv_of(obj));

	if (i < 0 || i >= N_OBJS)
		return;
	if (rv <= r->last_rv[i])
		r->out_of_order = true;
	r->last_rv[i] = rv;
	r->present[i] = present;
}

static void rec_add(void *arg, json_t *obj)
{
	struct recorder *r = arg;

	pthread_mutex_lock(&r->lock);
	r->adds++;
	note(r, obj, true);
	pthread_mutex_unlock(&r->lock);
}

static void rec_update(void *arg, json_t *old, json_t *obj)
{
	struct recorder *r = arg;

	pthread_mutex_lock(&r->lock);
	if (atoll(rv_of(old)) >= atoll(rv_of(obj)))
		r->out_of_order = true;
	r->updates++;
	note(r, obj, true);
	pthread_mutex_unlock(&r->lock);
}

static void rec_del(void *arg, json_t *obj)
{
	struct recorder *r = arg;

	pthread_mutex_lock(&r->lock);
	r->dels++;
	note(r, obj, false);
	pthread_mutex_unlock(&r->lock);
}

/* Waits until the handlers have seen @adds, @updates and @dels changes. */
static void wait_counts(struct recorder *r, int adds, int updates, int dels)
{
	double end = now_s() + 5;

	while (now_s() < end) {
		bool done;

		pthread_mutex_lock(&r->lock);
		done = r->adds >= adds && r->updates >= updates && r->dels >= dels;
		pthread_mutex_unlock(&r->lock);
		if (done)
			break;
		sleep_ms(10);
	}
}

/* Whether the informer holds exactly what the server lists, version for version. */
static bool matches_server(struct kc *c, struct informer *inf, const char *ns)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
	cleanup_json json_t *list = NULL;
	struct err err = ERR_INIT;
	json_t *items, *item;
	size_t i;

	if (kc_request(c, "GET", path, NULL, NULL, &list, &err) != 200) {
		err_clear(&err);
		return false;
	}
	items = json_object_get(list, "items");
	if (json_array_size(items) != informer_count(inf))
		return false;
	json_array_foreach (items, i, item) {
		const char *name = json_string_value(
			json_object_get(json_object_get(item, "metadata"), "name"));
		cleanup_json json_t *mine = informer_get(inf, ns, name);

		if (!mine || strcmp(rv_of(mine), rv_of(item)) != 0)
			return false;
	}
	return true;
}

static bool wait_match(struct kc *c, struct informer *inf, const char *ns, double seconds)
{
	double end = now_s() + seconds;

	while (now_s() < end) {
		if (matches_server(c, inf, ns))
			return true;
		sleep_ms(20);
	}
	return false;
}

/* @compact: the informer keeps JSON text and parses it again for old versions and gets. */
static void follow_500_rapid_changes(struct transport *t, bool compact)
{
	struct recorder rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct informer_handlers h = {.add = rec_add,
				      .update = rec_update,
				      .del = rec_del,
				      .arg = &rec,
				      .compact = compact};
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	struct informer *inf = NULL;
	struct err err = ERR_INIT;
	json_t *objs[N_OBJS] = {NULL};
	char name[32];
	double t0;
	int base_adds;

	snprintf(rec.prefix, sizeof(rec.prefix), "inf-");
	/* some objects before the informer starts: its first list */
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "inf-%d", i);
		assert_int_equal(create_cm(t->c, t->ns, name, "0", &objs[i]), 201);
	}
	assert_int_equal(informer_start(t->c, path, &h, &inf, &err), 0);
	assert_true(informer_wait_synced(inf, 5000));
	assert_true(informer_synced(inf));
	{
		cleanup_json json_t *one = informer_get(inf, t->ns, "inf-3");

		assert_non_null(one);
		assert_string_equal(json_string_value(json_object_get(one, "kind")), "ConfigMap");
	}
	pthread_mutex_lock(&rec.lock);
	base_adds = rec.adds;
	pthread_mutex_unlock(&rec.lock);
	assert_true(base_adds >= 10);

	/* 90 creates, 100 x 3 updates, 100 deletes... minus what stays: 500 changes */
	for (int i = 10; i < N_OBJS; i++) {
		snprintf(name, sizeof(name), "inf-%d", i);
		assert_int_equal(create_cm(t->c, t->ns, name, "0", &objs[i]), 201);
	}
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < N_OBJS; i++) {
			json_t *next = NULL;
			char v[16];

			snprintf(v, sizeof(v), "%d", round);
			assert_int_equal(update_cm(t->c, objs[i], v, &next), 200);
			json_decref(objs[i]);
			objs[i] = next;
		}
	}
	for (int i = 0; i < N_OBJS - 10; i++) {
		snprintf(name, sizeof(name), "inf-%d", i);
		assert_int_equal(delete_cm(t->c, t->ns, name), 200);
	}
	assert_true(wait_match(t->c, inf, t->ns, 10));
	wait_counts(&rec, base_adds + N_OBJS - 10, 3 * N_OBJS, N_OBJS - 10);
	t0 = now_s();
	informer_stop(inf);
	/* an idle watch is cancelled, not waited out */
	assert_true(now_s() - t0 < 1.0);
	assert_int_equal(rec.adds - base_adds, N_OBJS - 10);
	assert_int_equal(rec.updates, 3 * N_OBJS);
	assert_int_equal(rec.dels, N_OBJS - 10);
	assert_false(rec.out_of_order);
	for (int i = 0; i < N_OBJS; i++)
		assert_int_equal(rec.present[i], i >= N_OBJS - 10);
	for (int i = 0; i < N_OBJS; i++) {
		json_decref(objs[i]);
		if (i >= N_OBJS - 10) {
			snprintf(name, sizeof(name), "inf-%d", i);
			delete_cm(t->c, t->ns, name);
		}
	}
}

static void test_informer_follows_500_rapid_changes(void **state)
{
	follow_500_rapid_changes(*state, false);
}

static void test_compact_informer_follows_500_rapid_changes(void **state)
{
	follow_500_rapid_changes(*state, true);
}

/* What the update handler of the old-version test saw: the versions it was told of. */
struct old_rec {
	pthread_mutex_t lock;
	char seen_rv[40][32]; /* the last version each object was delivered in */
	char seen_v[40][16];  /* and its data.v */
	int updates, mismatches;
	int asked; /* lazy updates that read the previous version */
};

static void old_remember(struct old_rec *r, json_t *obj)
{
	const char *name =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), "v"));
	int i = name && strncmp(name, "old-", 4) == 0 ? atoi(name + 4) : -1;

	if (i < 0 || i >= 40)
		return;
	snprintf(r->seen_rv[i], sizeof(r->seen_rv[i]), "%s", rv_of(obj));
	snprintf(r->seen_v[i], sizeof(r->seen_v[i]), "%s", v ? v : "");
}

static void old_add(void *arg, json_t *obj)
{
	struct old_rec *r = arg;

	pthread_mutex_lock(&r->lock);
	old_remember(r, obj);
	pthread_mutex_unlock(&r->lock);
}

static void old_update(void *arg, json_t *old, json_t *obj);

/* Reads the previous version of every other update, twice, as the handlers of one change do. */
static void old_update_lazy(void *arg, struct informer_old *old, json_t *obj)
{
	struct old_rec *r = arg;
	const char *v = json_string_value(json_object_get(json_object_get(obj, "data"), "v"));
	json_t *prev;
	bool ask;

	pthread_mutex_lock(&r->lock);
	ask = (r->updates + r->asked) % 2 == 0;
	pthread_mutex_unlock(&r->lock);
	if (!ask) {
		/* not read: counts as an update seen, and its version as the one to expect */
		pthread_mutex_lock(&r->lock);
		r->asked++;
		old_remember(r, obj);
		pthread_mutex_unlock(&r->lock);
		return;
	}
	prev = informer_old_get(old);
	if (!prev || informer_old_get(old) != prev || !v) {
		pthread_mutex_lock(&r->lock);
		r->mismatches++;
		pthread_mutex_unlock(&r->lock);
	}
	old_update(arg, prev, obj);
}

static void old_update(void *arg, json_t *old, json_t *obj)
{
	struct old_rec *r = arg;
	const char *name =
		json_string_value(json_object_get(json_object_get(old, "metadata"), "name"));
	const char *v = json_string_value(json_object_get(json_object_get(old, "data"), "v"));
	int i = name && strncmp(name, "old-", 4) == 0 ? atoi(name + 4) : -1;

	pthread_mutex_lock(&r->lock);
	if (i >= 0 && i < 40) {
		r->updates++;
		if (strcmp(rv_of(old), r->seen_rv[i]) != 0 || strcmp(v ? v : "", r->seen_v[i]) != 0)
			r->mismatches++;
	}
	old_remember(r, obj);
	pthread_mutex_unlock(&r->lock);
}

/*
 * A compact informer hands its update handlers as old version exactly the one delivered
 * before, parsed again from the text it kept: for one object changed ten times in a row
 * and for 40 objects changed in turn.
 */
static void hands_the_previous_version(struct transport *t, bool lazy)
{
	struct old_rec rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct informer_handlers h = {.add = old_add,
				      .update = lazy ? NULL : old_update,
				      .update_lazy = lazy ? old_update_lazy : NULL,
				      .arg = &rec,
				      .compact = true};
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	struct informer *inf = NULL;
	struct err err = ERR_INIT;
	json_t *objs[40] = {NULL};
	char name[32], v[16];
	int expect = 0;

	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "old-%d", i);
		assert_int_equal(create_cm(t->c, t->ns, name, "0", &objs[i]), 201);
	}
	assert_int_equal(informer_start(t->c, path, &h, &inf, &err), 0);
	assert_true(informer_wait_synced(inf, 5000));
	for (int round = 1; round <= 10; round++) {
		json_t *next = NULL;

		snprintf(v, sizeof(v), "a%d", round);
		assert_int_equal(update_cm(t->c, objs[0], v, &next), 200);
		json_decref(objs[0]);
		objs[0] = next;
		expect++;
	}
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < 40; i++) {
			json_t *next = NULL;

			snprintf(v, sizeof(v), "b%d", round);
			assert_int_equal(update_cm(t->c, objs[i], v, &next), 200);
			json_decref(objs[i]);
			objs[i] = next;
			expect++;
		}
	}
	for (double end = now_s() + 5; now_s() < end;) {
		pthread_mutex_lock(&rec.lock);
		if (rec.updates + rec.asked >= expect) {
			pthread_mutex_unlock(&rec.lock);
			break;
		}
		pthread_mutex_unlock(&rec.lock);
		sleep_ms(10);
	}
	informer_stop(inf);
	assert_int_equal(rec.updates + rec.asked, expect);
	if (lazy)
		assert_in_range(rec.asked, expect / 2 - 1, expect / 2 + 1);
	assert_int_equal(rec.mismatches, 0);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "old-%d", i);
		json_decref(objs[i]);
		assert_int_equal(delete_cm(t->c, t->ns, name), 200);
	}
}

static void test_compact_informer_hands_the_previous_version_as_old(void **state)
{
	hands_the_previous_version(*state, false);
}

/*
 * Handlers that read the previous version only when they need it get the very version
 * delivered before when they ask, and the same tree however often they ask.
 */
static void test_compact_informer_parses_the_previous_version_when_asked(void **state)
{
	hands_the_previous_version(*state, true);
}

static void count_one(void *arg, json_t *obj)
{
	(void)obj;
	(*(int *)arg)++;
}

static void test_informer_pages_a_large_list(void **state)
{
	struct transport *t = *state;
	cleanup_free char *ns = xasprintf("%s-pages", t->ns);
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
	cleanup_json json_t *nsobj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					       "Namespace", "metadata", "name", ns);
	struct informer *inf = NULL;
	struct err err = ERR_INIT;
	int n = 0;

	assert_int_equal(kc_request(t->c, "POST", "/api/v1/namespaces", NULL, nsobj, NULL, &err),
			 201);
	for (int i = 0; i < 1100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "p-%04d", i);
		assert_int_equal(create_cm(t->c, ns, name, "x", NULL), 201);
	}
	assert_int_equal(informer_start(t->c, path, NULL, &inf, &err), 0);
	assert_true(informer_wait_synced(inf, 10000));
	assert_true(informer_count(inf) >= 1100);
	informer_foreach(inf, count_one, &n);
	assert_int_equal((size_t)n, informer_count(inf));
	assert_true(matches_server(t->c, inf, ns));
	informer_stop(inf);
}

/* Events. */

static json_t *find_events(struct kc *c, const char *ns, const char *reason)
{
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/%s/events?fieldSelector=reason%%3D%s", ns, reason);
	json_t *list = NULL;
	struct err err = ERR_INIT;

	if (kc_request(c, "GET", path, NULL, NULL, &list, &err) != 200) {
		err_clear(&err);
		json_decref(list);
		return NULL;
	}
	return list;
}

/* A success's body is not parsed; a failure's Status is, with its message in err. */
static void test_failure_body_requests_parse_failures_only(void **state)
{
	struct transport *t = *state;
	cleanup_json json_t *cm = configmap(t->ns, "failure-body", "1");
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", t->ns);
	cleanup_json json_t *before = json_object();
	json_t *resp = before;
	struct err err = ERR_INIT;

	/* set to NULL, not left as it was */
	assert_int_equal(kc_request_failure_body(t->c, "POST", path, NULL, cm, &resp, &err), 201);
	assert_null(resp);
	assert_null(err.msg);
	assert_int_equal(kc_request_failure_body(t->c, "POST", path, NULL, cm, &resp, &err), 409);
	assert_string_equal(json_string_value(json_object_get(resp, "reason")), "AlreadyExists");
	assert_non_null(strstr(err.msg, "\"failure-body\" already exists"));
	assert_int_equal(err.code, EEXIST);
	json_decref(resp);
	err_clear(&err);
	assert_int_equal(delete_cm(t->c, t->ns, "failure-body"), 200);
}

static void test_events_are_written_and_repeats_counted(void **state)
{
	struct transport *t = *state;
	cleanup_json json_t *cm = NULL;
	cleanup_free char *reason = xasprintf("Tested%s", t->name);
	json_t *items = NULL, *ev;
	double end;
	cleanup_json json_t *list = NULL;

	assert_int_equal(create_cm(t->c, t->ns, "evented", "1", &cm), 201);
	kc_event(t->c, cm, "Normal", reason, "test-controller", "did %s %d", "things", 3);
	kc_event(t->c, cm, "Normal", reason, "test-controller", "did %s %d", "things", 3);
	end = now_s() + 5;
	while (now_s() < end) {
		json_decref(list);
		list = find_events(t->c, t->ns, reason);
		items = json_object_get(list, "items");
		ev = json_array_get(items, 0);
		if (json_array_size(items) == 1 &&
		    json_integer_value(json_object_get(ev, "count")) == 2)
			break;
		sleep_ms(20);
	}
	assert_int_equal(json_array_size(items), 1);
	ev = json_array_get(items, 0);
	assert_int_equal(json_integer_value(json_object_get(ev, "count")), 2);
	assert_string_equal(json_string_value(json_object_get(ev, "message")), "did things 3");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "Normal");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(ev, "source"), "component")),
		"test-controller");
	{
		json_t *io = json_object_get(ev, "involvedObject");
		const char *name =
			json_string_value(json_object_get(json_object_get(ev, "metadata"), "name"));

		assert_string_equal(json_string_value(json_object_get(io, "kind")), "ConfigMap");
		assert_string_equal(json_string_value(json_object_get(io, "name")), "evented");
		assert_string_equal(
			json_string_value(json_object_get(io, "uid")),
			json_string_value(json_object_get(json_object_get(cm, "metadata"), "uid")));
		assert_int_equal(strlen(name), strlen("evented.") + 16);
		assert_non_null(json_string_value(json_object_get(ev, "firstTimestamp")));
		assert_non_null(json_string_value(json_object_get(ev, "lastTimestamp")));
	}
	assert_int_equal(delete_cm(t->c, t->ns, "evented"), 200);
}

/* The spam filter: 25 events about one object from one source, then nothing more. */
static void test_events_about_one_object_are_capped(void **state)
{
	struct transport *t = *state;
	cleanup_json json_t *cm = NULL, *other = NULL;
	cleanup_free char *reason = xasprintf("Capped%s", t->name);
	cleanup_json json_t *list = NULL;
	size_t n = 0;
	double end;

	assert_int_equal(create_cm(t->c, t->ns, "spammed", "1", &cm), 201);
	assert_int_equal(create_cm(t->c, t->ns, "quiet", "1", &other), 201);
	assert_true(kc_event_wanted(t->c, cm, "test-controller"));
	for (int i = 0; i < 40; i++)
		kc_event(t->c, cm, "Normal", reason, "test-controller", "step %d", i);
	/* what kc_event() would do next, told beforehand */
	assert_false(kc_event_wanted(t->c, cm, "test-controller"));
	assert_true(kc_event_wanted(t->c, other, "test-controller"));
	assert_true(kc_event_wanted(t->c, cm, "other-controller"));
	/* another object, and another source about the same object, have buckets of their own */
	kc_event(t->c, other, "Normal", reason, "test-controller", "step %d", 0);
	kc_event(t->c, cm, "Normal", reason, "other-controller", "step %d", 0);
	end = now_s() + 5;
	while (now_s() < end) {
		json_decref(list);
		list = find_events(t->c, t->ns, reason);
		n = json_array_size(json_object_get(list, "items"));
		if (n >= 27)
			break;
		sleep_ms(20);
	}
	sleep_ms(200);
	json_decref(list);
	list = find_events(t->c, t->ns, reason);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 27);
	{
		size_t i, from_cm = 0;
		json_t *ev;

		json_array_foreach (json_object_get(list, "items"), i, ev) {
			json_t *io = json_object_get(ev, "involvedObject");
			const char *comp = json_string_value(
				json_object_get(json_object_get(ev, "source"), "component"));

			if (strcmp(json_string_value(json_object_get(io, "name")), "spammed") ==
				    0 &&
			    strcmp(comp, "test-controller") == 0)
				from_cm++;
		}
		assert_int_equal(from_cm, 25);
	}
	assert_int_equal(delete_cm(t->c, t->ns, "spammed"), 200);
	assert_int_equal(delete_cm(t->c, t->ns, "quiet"), 200);
}

/* Informers across 410 Gone: a remote informer outlives a restart that lost its history. */

struct gone_rec {
	pthread_mutex_t lock;
	int adds, updates, dels;
	int other_uid; /* updates whose two versions are different objects */
};

static const char *uid_of(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
}

static void g_add(void *arg, json_t *obj)
{
	struct gone_rec *g = arg;

	(void)obj;
	pthread_mutex_lock(&g->lock);
	g->adds++;
	pthread_mutex_unlock(&g->lock);
}

static void g_update(void *arg, json_t *old, json_t *obj)
{
	struct gone_rec *g = arg;
	const char *a = uid_of(old), *b = uid_of(obj);

	pthread_mutex_lock(&g->lock);
	g->updates++;
	if (!a || !b || strcmp(a, b) != 0)
		g->other_uid++;
	pthread_mutex_unlock(&g->lock);
}

static void g_del(void *arg, json_t *obj)
{
	struct gone_rec *g = arg;

	(void)obj;
	pthread_mutex_lock(&g->lock);
	g->dels++;
	pthread_mutex_unlock(&g->lock);
}

static void relist_after_410(bool compact)
{
	cleanup_free char *dir = xasprintf("%s/gone%d", tmpdir, compact);
	cleanup_free char *url = NULL;
	struct gone_rec g = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct informer_handlers h = {
		.add = g_add, .update = g_update, .del = g_del, .arg = &g, .compact = compact};
	struct api *a, *b;
	struct kc *local = NULL, *remote = NULL;
	struct informer *inf = NULL;
	struct err err = ERR_INIT;
	json_t *objs[10];
	uint16_t p;
	char name[16];
	double end;

	a = start_api(dir, 0, 16, NULL, NULL);
	p = api_port(a);
	url = xasprintf("http://127.0.0.1:%u", p);
	assert_int_equal(kc_local(a, &local, &err), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "g-%d", i);
		assert_int_equal(create_cm(local, "default", name, "0", &objs[i]), 201);
	}
	assert_int_equal(kc_remote(url, TOKEN, NULL, &remote, &err), 0);
	assert_int_equal(
		informer_start(remote, "/api/v1/namespaces/default/configmaps", &h, &inf, &err), 0);
	assert_true(informer_wait_synced(inf, 5000));
	assert_int_equal(g.adds, 10);
	kc_free(local);
	api_stop(a);

	/* meanwhile, another server on the same data: far more changes than 16 */
	b = start_api(dir, 0, 16, NULL, NULL);
	assert_int_equal(kc_local(b, &local, &err), 0);
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 5; i++) {
			json_t *next = NULL;

			assert_int_equal(update_cm(local, objs[i], "x", &next), 200);
			json_decref(objs[i]);
			objs[i] = next;
		}
	for (int i = 5; i < 10; i++) {
		snprintf(name, sizeof(name), "g-%d", i);
		assert_int_equal(delete_cm(local, "default", name), 200);
	}
	/* another object under g-4's name: a deletion and a creation, not an update */
	assert_int_equal(delete_cm(local, "default", "g-4"), 200);
	assert_int_equal(create_cm(local, "default", "g-4", "1", NULL), 201);
	for (int i = 10; i < 20; i++) {
		snprintf(name, sizeof(name), "g-%d", i);
		assert_int_equal(create_cm(local, "default", name, "0", NULL), 201);
	}
	kc_free(local);
	api_stop(b);

	/* back on the informer's port: its revision is older than the history kept */
	a = start_api(dir, p, 16, NULL, NULL);
	assert_int_equal(kc_local(a, &local, &err), 0);
	assert_true(wait_match(local, inf, "default", 15));
	end = now_s() + 2;
	while (now_s() < end) {
		bool done;

		pthread_mutex_lock(&g.lock);
		done = g.adds == 21 && g.dels == 6 && g.updates == 4;
		pthread_mutex_unlock(&g.lock);
		if (done)
			break;
		sleep_ms(10);
	}
	/* one update per changed object (the differences), not one per change */
	assert_int_equal(g.adds, 21);
	assert_int_equal(g.updates, 4);
	assert_int_equal(g.dels, 6);
	assert_int_equal(g.other_uid, 0);
	informer_stop(inf);
	kc_free(remote);
	kc_free(local);
	api_stop(a);
	for (int i = 0; i < 10; i++)
		json_decref(objs[i]);
}

/* Shared informers. */

/* The handlers of one subscriber; @log records which subscriber saw each change. */
struct sub_rec {
	pthread_mutex_t *lock;
	char *log;
	char id;
	int adds, updates, dels;
	int delay_ms;
	bool stopped, called_after_stop;
};

static void sub_note(struct sub_rec *r, int *counter)
{
	size_t n;

	if (r->delay_ms)
		sleep_ms(r->delay_ms);
	pthread_mutex_lock(r->lock);
	if (r->stopped)
		r->called_after_stop = true;
	(*counter)++;
	n = strlen(r->log);
	if (n + 1 < 256) {
		r->log[n] = r->id;
		r->log[n + 1] = '\0';
	}
	pthread_mutex_unlock(r->lock);
}

static void sub_add(void *arg, json_t *obj)
{
	struct sub_rec *r = arg;

	(void)obj;
	sub_note(r, &r->adds);
}

static void sub_update(void *arg, json_t *old, json_t *obj)
{
	struct sub_rec *r = arg;

	(void)old;
	(void)obj;
	sub_note(r, &r->updates);
}

static void sub_del(void *arg, json_t *obj)
{
	struct sub_rec *r = arg;

	(void)obj;
	sub_note(r, &r->dels);
}

static bool sub_wait(struct sub_rec *r, int adds, int updates, int dels)
{
	double end = now_s() + 5;
	bool done = false;

	while (!done && now_s() < end) {
		pthread_mutex_lock(r->lock);
		done = r->adds == adds && r->updates == updates && r->dels == dels;
		pthread_mutex_unlock(r->lock);
		if (!done)
			sleep_ms(10);
	}
	return done;
}

static void test_informer_relists_after_410_and_delivers_the_differences(void **state)
{
	(void)state;
	relist_after_410(false);
}

static void test_compact_informer_relists_after_410_and_delivers_the_differences(void **state)
{
	(void)state;
	relist_after_410(true);
}

static void test_informers_on_one_path_share_one_list_and_watch(void **state)
{
	struct transport *t = *state;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char log[256] = "";
	struct sub_rec ra = {.lock = &lock, .log = log, .id = 'a'};
	struct sub_rec rb = {.lock = &lock, .log = log, .id = 'b'};
	struct sub_rec rc = {.lock = &lock, .log = log, .id = 'c'};
	struct informer_handlers ha = {
		.add = sub_add, .update = sub_update, .del = sub_del, .arg = &ra};
	struct informer_handlers hb = {
		.add = sub_add, .update = sub_update, .del = sub_del, .arg = &rb};
	struct informer_handlers hc = {
		.add = sub_add, .update = sub_update, .del = sub_del, .arg = &rc};
	cleanup_free char *ns = xasprintf("%s-shared", t->ns);
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/configmaps", ns);
	cleanup_json json_t *nsobj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					       "Namespace", "metadata", "name", ns);
	struct informer *a = NULL, *b = NULL, *c = NULL;
	cleanup_json json_t *obj = NULL;
	json_t *next = NULL;
	struct err err = ERR_INIT;
	char name[32];

	assert_int_equal(kc_request(t->c, "POST", "/api/v1/namespaces", NULL, nsobj, NULL, &err),
			 201);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "sh-%d", i);
		assert_int_equal(create_cm(t->c, ns, name, "0", i == 0 ? &obj : NULL), 201);
	}
	assert_int_equal(informer_start(t->c, path, &ha, &a, &err), 0);
	assert_true(informer_wait_synced(a, 5000));
	assert_int_equal(ra.adds, 5);

	/* a late subscriber: the same cache and list, and the adds of what it holds */
	assert_int_equal(informer_start(t->c, path, &hb, &b, &err), 0);
	assert_ptr_equal(informer_shared(a), informer_shared(b));
	assert_true(informer_wait_synced(b, 5000));
	pthread_mutex_lock(&lock);
	assert_int_equal(rb.adds, 5);
	assert_int_equal(ra.adds, 5);
	log[0] = '\0';
	pthread_mutex_unlock(&lock);
	assert_int_equal(informer_lists(b), 1);
	assert_int_equal(informer_count(b), 5);
	{
		cleanup_json json_t *x = informer_get(a, ns, "sh-3");
		cleanup_json json_t *y = informer_get(b, ns, "sh-3");

		assert_non_null(x);
		assert_ptr_equal(x, y);
	}

	/* every change reaches both, in the order they subscribed */
	assert_int_equal(create_cm(t->c, ns, "sh-5", "0", NULL), 201);
	assert_int_equal(update_cm(t->c, obj, "1", &next), 200);
	json_decref(obj);
	obj = next;
	assert_int_equal(delete_cm(t->c, ns, "sh-4"), 200);
	assert_true(sub_wait(&ra, 6, 1, 1));
	assert_true(sub_wait(&rb, 6, 1, 1));
	pthread_mutex_lock(&lock);
	assert_string_equal(log, "ababab");
	pthread_mutex_unlock(&lock);

	/* stopping one, even while its slow handler runs, leaves the other working */
	ra.delay_ms = 200;
	assert_int_equal(create_cm(t->c, ns, "sh-6", "0", NULL), 201);
	sleep_ms(50);
	informer_stop(a);
	pthread_mutex_lock(&lock);
	ra.stopped = true;
	pthread_mutex_unlock(&lock);
	assert_int_equal(create_cm(t->c, ns, "sh-7", "0", NULL), 201);
	assert_true(sub_wait(&rb, 8, 1, 1));
	assert_true(wait_match(t->c, b, ns, 5));

	/* another subscriber after that one left still joins the same informer */
	assert_int_equal(informer_start(t->c, path, &hc, &c, &err), 0);
	assert_true(informer_wait_synced(c, 5000));
	assert_ptr_equal(informer_shared(b), informer_shared(c));
	assert_int_equal(rc.adds, 7);
	assert_int_equal(delete_cm(t->c, ns, "sh-0"), 200);
	assert_true(sub_wait(&rb, 8, 1, 2));
	assert_true(sub_wait(&rc, 7, 0, 1));
	assert_int_equal(informer_lists(c), 1);
	informer_stop(b);
	informer_stop(c);
	assert_false(ra.called_after_stop);
	assert_true(ra.adds <= 7);
}

/* HTTPS with the cluster CA. */

static void test_remote_client_verifies_the_cluster_ca(void **state)
{
	static const char *const dns[] = {"localhost", NULL};
	static const char *const ips[] = {"127.0.0.1", NULL};
	cleanup_free char *certdir = xasprintf("%s/tls", tmpdir);
	cleanup_free char *dir = xasprintf("%s/tls-server", tmpdir);
	cleanup_free char *cert = NULL;
	cleanup_free char *key = NULL;
	cleanup_free char *ca = NULL;
	cleanup_free char *other = xasprintf("%s/tls-other", tmpdir);
	cleanup_free char *cert2 = NULL;
	cleanup_free char *key2 = NULL;
	cleanup_free char *ca2 = NULL;
	cleanup_free char *url = NULL;
	cleanup_json json_t *body = NULL;
	struct kc *c = NULL;
	struct err err = ERR_INIT;
	struct api *a;

	(void)state;
	if (pki_ensure(certdir, dns, ips, &err) < 0 ||
	    pki_load(certdir, &cert, &key, &ca, &err) < 0)
		fail_msg("pki: %s", err.msg);
	a = start_api(dir, 0, 0, cert, key);
	url = xasprintf("https://127.0.0.1:%u/", api_port(a));
	assert_int_equal(kc_remote(url, TOKEN, ca, &c, &err), 0);
	for (int i = 0; i < 3; i++) {
		json_decref(body);
		body = NULL;
		assert_int_equal(
			kc_request(c, "GET", "/api/v1/namespaces/default", NULL, NULL, &body, &err),
			200);
	}
	assert_string_equal(json_string_value(json_object_get(body, "kind")), "Namespace");
	assert_int_equal(kc_request_as(c, "wrong-token", "GET", "/api/v1/namespaces", NULL, NULL,
				       NULL, &err),
			 401);
	assert_int_equal(err.code, EACCES);
	err_clear(&err);
	kc_free(c);

	/* another cluster's CA is refused */
	if (pki_ensure(other, dns, ips, &err) < 0 || pki_load(other, &cert2, &key2, &ca2, &err) < 0)
		fail_msg("pki: %s", err.msg);
	assert_int_equal(kc_remote(url, TOKEN, ca2, &c, &err), 0);
	assert_true(kc_request(c, "GET", "/api/v1/namespaces", NULL, NULL, NULL, &err) < 0);
	assert_int_equal(err.code, EPROTO);
	assert_non_null(strstr(err.msg, "x509: certificate signed by unknown authority"));
	err_clear(&err);
	kc_free(c);
	api_stop(a);
}

/*
 * A server that answers each connection's first request and closes it without saying
 * so (as a server does with a connection idle too long), or with @reset resets it at the
 * next request: either way the client's next request on the pooled connection goes out
 * again on a new one. With @mute it closes a new connection at once.
 */
struct closer {
	int fd;
	bool mute, reset;
	int accepted;
	pthread_t th;
};

static void *closer_main(void *arg)
{
	struct closer *k = arg;
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				     "Content-Length: 12\r\n\r\n{\"kind\":\"X\"}";

	for (;;) {
		char buf[4096];
		int fd = accept(k->fd, NULL, NULL);
		struct linger rst = {.l_onoff = 1, .l_linger = 0};

		if (fd < 0)
			return NULL;
		__atomic_add_fetch(&k->accepted, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&k->mute, __ATOMIC_SEQ_CST) &&
		    read(fd, buf, sizeof(buf)) > 0 &&
		    write(fd, answer, sizeof(answer) - 1) == sizeof(answer) - 1 &&
		    __atomic_load_n(&k->reset, __ATOMIC_SEQ_CST) && read(fd, buf, sizeof(buf)) > 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(fd);
	}
}

static void get_x(struct kc *c)
{
	cleanup_json json_t *body = NULL;
	struct err err = ERR_INIT;

	if (kc_request(c, "GET", "/x", NULL, NULL, &body, &err) != 200)
		fail_msg("GET /x: %s", err.msg);
	assert_string_equal(json_string_value(json_object_get(body, "kind")), "X");
	/* let the server's close arrive before the next request */
	sleep_ms(50);
}

static void test_remote_client_retries_a_pooled_connection_the_server_closed(void **state)
{
	struct closer k = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	cleanup_free char *url = NULL;
	struct err err = ERR_INIT;
	struct kc *c = NULL;

	(void)state;
	assert_true(k.fd >= 0);
	assert_int_equal(bind(k.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(k.fd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(listen(k.fd, 8), 0);
	assert_int_equal(pthread_create(&k.th, NULL, closer_main, &k), 0);
	url = xasprintf("http://127.0.0.1:%u", ntohs(a.sin_port));
	assert_int_equal(kc_remote(url, TOKEN, NULL, &c, &err), 0);
	for (int i = 0; i < 3; i++)
		get_x(c);
	assert_int_equal(__atomic_load_n(&k.accepted, __ATOMIC_SEQ_CST), 3);

	/* reset at the next request: each request after the first is retried once */
	__atomic_store_n(&k.reset, true, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 3; i++)
		get_x(c);
	assert_int_equal(__atomic_load_n(&k.accepted, __ATOMIC_SEQ_CST), 6);

	/* a new connection that closes before answering is an error, not retried */
	__atomic_store_n(&k.mute, true, __ATOMIC_SEQ_CST);
	assert_int_equal(kc_request(c, "POST", "/x", NULL, NULL, NULL, &err), -EIO);
	assert_int_equal(err.code, EIO);
	assert_non_null(strstr(err.msg, "POST http://127.0.0.1:"));
	assert_non_null(strstr(err.msg, "/x: read the answer: connection closed"));
	err_clear(&err);
	/* the pooled connection (reset by the server), then one new one */
	assert_int_equal(__atomic_load_n(&k.accepted, __ATOMIC_SEQ_CST), 7);
	kc_free(c);
	shutdown(k.fd, SHUT_RDWR);
	pthread_join(k.th, NULL);
	close(k.fd);
}

/* With a proxy variable set, requests go through libcurl, which honours it. */
static void test_remote_client_honours_a_proxy_variable(void **state)
{
	static const char *const names[] = {"no_proxy", "NO_PROXY"};
	cleanup_free char *url = xasprintf("http://127.0.0.1:%u", port);
	char *saved[2];
	struct err err = ERR_INIT;
	struct kc *c = NULL;

	(void)state;
	for (int i = 0; i < 2; i++) {
		saved[i] = getenv(names[i]) ? xstrdup(getenv(names[i])) : NULL;
		unsetenv(names[i]);
	}
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	assert_int_equal(kc_remote(url, TOKEN, NULL, &c, &err), 0);
	assert_int_equal(kc_request(c, "GET", "/api/v1/namespaces", NULL, NULL, NULL, &err),
			 -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "127.0.0.1"));
	err_clear(&err);
	kc_free(c);
	unsetenv("http_proxy");
	for (int i = 0; i < 2; i++) {
		if (saved[i])
			setenv(names[i], saved[i], 1);
		free(saved[i]);
	}
}

static void test_kc_free_ends_an_idle_watch(void **state)
{
	struct transport *t = *state;
	struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct watch_run w = {.seen = &seen};
	struct err err = ERR_INIT;
	cleanup_free char *url = xasprintf("http://127.0.0.1:%u", port);
	pthread_t th;
	double t0;

	if (strcmp(t->name, "local") == 0)
		assert_int_equal(kc_local(api, &w.c, &err), 0);
	else
		assert_int_equal(kc_remote(url, TOKEN, NULL, &w.c, &err), 0);
	w.path = xasprintf("/api/v1/namespaces/%s/secrets", t->ns);
	assert_int_equal(pthread_create(&th, NULL, watch_thread, &w), 0);
	sleep_ms(200);
	t0 = now_s();
	kc_free(w.c);
	pthread_join(th, NULL);
	assert_true(now_s() - t0 < 1.0);
	/* a remote watch cancelled before the response began has no status */
	if (w.result != 200) {
		assert_int_equal(w.result, -ECANCELED);
		assert_string_equal(t->name, "remote");
	}
	free(w.path);
	err_clear(&w.err);
}

/* A stream cut into pieces that end anywhere, written by a thread with pauses between. */

static const char *const pieces[] = {
	"{\"type\":\"ADD",
	"ED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n{\"type\":\"MODIFIED\",\"obj",
	"ect\":{\"metadata\":{\"name\":\"a\"}}}\n",
	"\n{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}",
	"\n",
	NULL,
};

static void *write_pieces(void *arg)
{
	struct http_stream *hs = arg;

	for (int i = 0; pieces[i]; i++) {
		sleep_ms(30);
		http_stream_write(hs, pieces[i], strlen(pieces[i]), 0);
	}
	http_stream_close(hs);
	return NULL;
}

static void split_handler(void *ctx, struct http_request *req)
{
	pthread_t th;
	struct http_stream *hs = http_respond_stream(req, 200, "application/json", NULL, NULL);

	(void)ctx;
	if (pthread_create(&th, NULL, write_pieces, hs) != 0)
		http_stream_close(hs);
	else
		pthread_detach(th);
}

static void test_watch_parses_events_split_anywhere(void **state)
{
	struct http_config cfg = {.address = "127.0.0.1", .handler = split_handler};
	struct http_server *srv = NULL;
	struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct err err = ERR_INIT;
	cleanup_free char *url = NULL;
	struct kc *c = NULL;

	(void)state;
	assert_int_equal(http_server_start(&cfg, &srv, &err), 0);
	url = xasprintf("http://127.0.0.1:%u", http_server_port(srv));
	assert_int_equal(kc_remote(url, NULL, NULL, &c, &err), 0);
	assert_int_equal(kc_watch(c, "/split", collect, &seen, &err), 200);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.types[0], "ADDED");
	assert_string_equal(seen.types[1], "MODIFIED");
	assert_string_equal(seen.types[2], "DELETED");
	kc_free(c);
	http_server_stop(srv);
}

static int group_setup(void **state)
{
	struct err err = ERR_INIT;
	cleanup_free char *dir = NULL;
	cleanup_free char *url = NULL;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skiff-test-client-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	dir = xasprintf("%s/main", tmpdir);
	api = start_api(dir, 0, 0, NULL, NULL);
	port = api_port(api);
	url = xasprintf("http://127.0.0.1:%u", port);
	if (kc_local(api, &transports[0].c, &err) < 0 ||
	    kc_remote(url, TOKEN, NULL, &transports[1].c, &err) < 0) {
		fail_msg("clients: %s", err.msg);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		cleanup_json json_t *ns =
			json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
				  "metadata", "name", transports[i].ns);

		if (kc_request(transports[i].c, "POST", "/api/v1/namespaces", NULL, ns, NULL,
			       &err) != 201) {
			fail_msg("create namespace: %s", err.msg);
			return -1;
		}
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	for (int i = 0; i < 2; i++)
		kc_free(transports[i].c);
	api_stop(api);
	fs_remove_tree(AT_FDCWD, tmpdir, &err);
	err_clear(&err);
	return 0;
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, &transports[0]), cmocka_unit_test_prestate(fn, &transports[1])

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wq_keeps_one_copy_of_a_waiting_key),
		cmocka_unit_test(test_wq_requeues_a_key_added_while_processing_after_done),
		cmocka_unit_test(test_wq_delays_adds_and_keeps_the_earliest_time),
		cmocka_unit_test(test_wq_backs_off_exponentially_per_key_until_forgotten),
		cmocka_unit_test(test_wq_shutdown_wakes_a_blocked_worker),
		cmocka_unit_test(test_kc_key_joins_namespace_and_name),
		BOTH(test_requests_create_get_update_patch_delete),
		BOTH(test_watch_delivers_added_modified_deleted_in_order),
		BOTH(test_watch_event_objects_match_their_text),
		BOTH(test_watch_of_a_missing_resource_reports_404),
		BOTH(test_watch_of_a_slow_reader_pauses_and_loses_nothing),
		cmocka_unit_test_prestate(test_watch_from_far_back_gets_the_whole_history_in_order,
					  &transports[1]),
		BOTH(test_informer_follows_500_rapid_changes),
		BOTH(test_compact_informer_follows_500_rapid_changes),
		BOTH(test_compact_informer_hands_the_previous_version_as_old),
		BOTH(test_compact_informer_parses_the_previous_version_when_asked),
		BOTH(test_informer_pages_a_large_list),
		BOTH(test_informers_on_one_path_share_one_list_and_watch),
		BOTH(test_failure_body_requests_parse_failures_only),
		BOTH(test_events_are_written_and_repeats_counted),
		BOTH(test_events_about_one_object_are_capped),
		BOTH(test_kc_free_ends_an_idle_watch),
		cmocka_unit_test(test_watch_parses_events_split_anywhere),
		cmocka_unit_test(test_informer_relists_after_410_and_delivers_the_differences),
		cmocka_unit_test(
			test_compact_informer_relists_after_410_and_delivers_the_differences),
		cmocka_unit_test(test_remote_client_verifies_the_cluster_ca),
		cmocka_unit_test(test_remote_client_retries_a_pooled_connection_the_server_closed),
		cmocka_unit_test(test_remote_client_honours_a_proxy_variable),
	};

	return cmocka_run_group_tests_name("client", tests, group_setup, group_teardown);
}
