/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the ReplicaSet and Deployment controllers: the pure rollout arithmetic of
 * cluster/controllers/workload_util.c (hashes, surge and unavailability, deletion order,
 * proportional scaling, revisions, conditions, expectations, claims), then the two
 * controllers against an in-process API server with a fake kubelet that makes every pod
 * Running and Ready, through create, rolling update, undo, pause, scale and history cleanup.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/url.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/workload_util.h"

#include "api_fixture.h"

static json_t *J(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

/* A ReplicaSet with @replicas, @available available, created at second @created. */
static json_t *rs_new(const char *name, int replicas, int available, int created,
		      const char *annotations)
{
	cleanup_free char *ts = wl_time_format(1700000000 + created);
	json_t *rs =
		json_pack("{s:{s:s, s:s, s:s, s:s}, s:{s:i}, s:{s:i, s:i, s:i}}", "metadata",
			  "name", name, "namespace", "default", "uid", name, "creationTimestamp",
			  ts, "spec", "replicas", replicas, "status", "replicas", replicas,
			  "availableReplicas", available, "readyReplicas", available);

	if (annotations)
		json_object_set_new(json_object_get(rs, "metadata"), "annotations", J(annotations));
	return rs;
}

static json_t *deploy_new(int replicas, const char *surge, const char *unavailable)
{
	json_t *d = json_pack(
		"{s:{s:s, s:s, s:s, s:i}, s:{s:i, s:{s:s, s:{}}, s:i, s:{s:{s:{s:s}}, "
		"s:{s:[{s:s, s:s}]}}}}",
		"metadata", "name", "web", "namespace", "default", "uid", "d-uid", "generation", 1,
		"spec", "replicas", replicas, "strategy", "type", "RollingUpdate", "rollingUpdate",
		"progressDeadlineSeconds", 600, "template", "metadata", "labels", "app", "web",
		"spec", "containers", "name", "c", "image", "nginx:1");
	json_t *ru = json_object_get(json_object_get(json_object_get(d, "spec"), "strategy"),
				     "rollingUpdate");

	json_object_set_new(ru, "maxSurge",
			    surge[strlen(surge) - 1] == '%' ? json_string(surge)
							    : json_integer(atoi(surge)));
	json_object_set_new(ru, "maxUnavailable",
			    unavailable[strlen(unavailable) - 1] == '%'
				    ? json_string(unavailable)
				    : json_integer(atoi(unavailable)));
	return d;
}

static void test_map_grows_deletes_and_iterates_every_entry(void **state)
{
	struct wl_map *m = wl_map_new();
	char key[32];
	size_t pos = 0, seen = 0;
	const char *k;
	void *v;

	(void)state;
	for (intptr_t i = 1; i <= 1000; i++) {
		snprintf(key, sizeof(key), "k%ld", (long)i);
		assert_null(wl_map_put(m, key, (void *)i));
	}
	for (intptr_t i = 1; i <= 1000; i += 2) {
		snprintf(key, sizeof(key), "k%ld", (long)i);
		assert_int_equal((intptr_t)wl_map_del(m, key), i);
	}
	assert_int_equal(wl_map_len(m), 500);
	assert_null(wl_map_get(m, "k1"));
	assert_int_equal((intptr_t)wl_map_get(m, "k2"), 2);
	assert_int_equal((intptr_t)wl_map_put(m, "k2", (void *)7), 2);
	while (wl_map_next(m, &pos, &k, &v)) {
		assert_int_equal(k[0], 'k');
		seen++;
	}
	assert_int_equal(seen, 500);
	wl_map_free(m, NULL);
}

static void test_template_hash_is_stable_collision_aware_and_safe_encoded(void **state)
{
	cleanup_json json_t *a =
		J("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}");
	cleanup_json json_t *b =
		J("{\"spec\":{\"containers\":[{\"image\":\"nginx:1\",\"name\":\"c\"}]},"
		  "\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\","
		  "\"pod-template-hash\":\"x\"}}}");
	cleanup_json json_t *c =
		J("{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
		  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:2\"}]}}");
	cleanup_free char *ha = wl_template_hash(a, -1);
	cleanup_free char *hb = wl_template_hash(b, -1);
	cleanup_free char *hc = wl_template_hash(c, -1);
	cleanup_free char *h1 = wl_template_hash(a, 1);
	cleanup_free char *h1b = wl_template_hash(a, 1);

	(void)state;
	/* Key order, nulls and the hash label itself do not change the hash. */
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
	assert_string_not_equal(ha, h1);
	assert_string_equal(h1, h1b);
	for (const char *p = ha; *p; p++)
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
	assert_true(strlen(ha) >= 1 && strlen(ha) <= 10);
	assert_true(wl_templates_equal(a, b));
	assert_false(wl_templates_equal(a, c));
}

static void test_fenceposts_round_surge_up_and_unavailable_down(void **state)
{
	static const struct {
		const char *surge, *unavailable;
		int desired, want_surge, want_unavailable;
	} cases[] = {
		{"25%", "25%", 4, 1, 1},   {"25%", "25%", 10, 3, 2}, {"0", "0", 5, 0, 1},
		{"0%", "0%", 5, 0, 1},     {"2", "1", 3, 2, 1},      {"50%", "0", 3, 2, 0},
		{"100%", "100%", 3, 3, 3}, {"1%", "99%", 10, 1, 9},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_json json_t *d =
			deploy_new(cases[i].desired, cases[i].surge, cases[i].unavailable);
		json_t *ru = wl_get(d, "spec.strategy.rollingUpdate");
		int32_t s, u;

		wl_fenceposts(json_object_get(ru, "maxSurge"),
			      json_object_get(ru, "maxUnavailable"), cases[i].desired, &s, &u);
		assert_int_equal(s, cases[i].want_surge);
		assert_int_equal(u, cases[i].want_unavailable);
		assert_int_equal(wl_d_max_surge(d), cases[i].want_surge);
	}
	{
		cleanup_json json_t *d = deploy_new(2, "0", "5");

		/* Never more unavailable than there are replicas. */
		assert_int_equal(wl_d_max_unavailable(d), 2);
		json_object_set_new(json_object_get(d, "spec"), "replicas", json_integer(0));
		assert_int_equal(wl_d_max_unavailable(d), 0);
		json_object_set_new(json_object_get(json_object_get(d, "spec"), "strategy"), "type",
				    json_string("Recreate"));
		assert_int_equal(wl_d_max_surge(d), 0);
	}
}

static json_t *pod_new(const char *name, const char *node, const char *phase, bool ready,
		       int restarts, int created, int ready_since)
{
	cleanup_free char *ct = wl_time_format(1700000000 + created);
	cleanup_free char *rt = wl_time_format(1700000000 + ready_since);

	return json_pack("{s:{s:s, s:s, s:s}, s:{s:s}, s:{s:s, s:[{s:s, s:s, s:s}], "
			 "s:[{s:i}]}}",
			 "metadata", "name", name, "uid", name, "creationTimestamp", ct, "spec",
			 "nodeName", node, "status", "phase", phase, "conditions", "type", "Ready",
			 "status", ready ? "True" : "False", "lastTransitionTime", rt,
			 "containerStatuses", "restartCount", restarts);
}

static void test_pods_to_delete_follow_upstream_order(void **state)
{
	struct wl_ranked_pod p[] = {
		{pod_new("old-ready", "n1", "Running", true, 0, 0, 10), 0},
		{pod_new("restarty", "n1", "Running", true, 5, 0, 10), 0},
		{pod_new("not-ready", "n1", "Running", false, 0, 0, 10), 0},
		{pod_new("pending", "n1", "Pending", false, 0, 0, 10), 0},
		{pod_new("unscheduled", "", "Pending", false, 0, 0, 10), 0},
		{pod_new("new-ready", "n1", "Running", true, 0, 86000, 86000), 0},
		{pod_new("doubled", "n2", "Running", true, 0, 0, 10), 3},
	};
	static const char *const want[] = {"unscheduled", "pending",  "not-ready", "doubled",
					   "new-ready",   "restarty", "old-ready"};
	size_t n = sizeof(p) / sizeof(p[0]);

	(void)state;
	wl_pods_sort_for_deletion(p, n, 1700000000 + 90000);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(wl_str(p[i].pod, "metadata.name"), want[i]);
		json_decref(p[i].pod);
	}
}

static void test_pod_availability_waits_min_ready_seconds(void **state)
{
	cleanup_json json_t *pod = pod_new("p", "n", "Running", true, 0, 0, 100);

	(void)state;
	assert_true(wl_pod_ready(pod));
	assert_true(wl_pod_available(pod, 0, 1700000000 + 100));
	assert_false(wl_pod_available(pod, 10, 1700000000 + 110));
	assert_true(wl_pod_available(pod, 10, 1700000000 + 111));
	assert_true(wl_pod_active(pod));
	json_object_set_new(json_object_get(pod, "status"), "phase", json_string("Failed"));
	assert_false(wl_pod_active(pod));
}

struct calls {
	atomic_int n;
	size_t fail_from;
};

static int count_call(void *arg, size_t i)
{
	struct calls *c = arg;

	atomic_fetch_add(&c->n, 1);
	return i >= c->fail_from ? -EIO : 0;
}

static void test_slow_start_doubles_batches_and_stops_after_a_failed_one(void **state)
{
	struct calls c = {.fail_from = 5};
	struct calls ok = {.fail_from = 1000};

	(void)state;
	atomic_init(&c.n, 0);
	atomic_init(&ok.n, 0);
	/* Batches 1, 2, 4: the third (indices 3..6) holds the failures, so nothing follows. */
	assert_int_equal(wl_slow_start(10, 1, count_call, &c), 5);
	assert_int_equal(atomic_load(&c.n), 7);
	assert_int_equal(wl_slow_start(100, 1, count_call, &ok), 100);
	assert_int_equal(atomic_load(&ok.n), 100);
	assert_int_equal(wl_slow_start(0, 1, count_call, &ok), 0);
}

/* Each call sleeps, so a batch's items overlap only if helpers work on them. */
#define MAX_TIDS 64

struct overlap {
	atomic_int n, running, most;
	pthread_mutex_t lock;
	pid_t tids[MAX_TIDS];
	size_t n_tids;
};

static void note_tid(struct overlap *o)
{
	pid_t tid = gettid();

	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < o->n_tids; i++)
		if (o->tids[i] == tid)
			goto out;
	if (o->n_tids < MAX_TIDS)
		o->tids[o->n_tids++] = tid;
out:
	pthread_mutex_unlock(&o->lock);
}

static int overlap_call(void *arg, size_t i)
{
	struct overlap *o = arg;
	int now = atomic_fetch_add(&o->running, 1) + 1;
	int most = atomic_load(&o->most);

	(void)i;
	while (now > most && !atomic_compare_exchange_weak(&o->most, &most, now))
		;
	note_tid(o);
	usleep(2000);
	atomic_fetch_sub(&o->running, 1);
	atomic_fetch_add(&o->n, 1);
	return 0;
}

static void *slow_start_thread(void *arg)
{
	return (void *)wl_slow_start(200, 1, overlap_call, arg);
}

static void test_slow_start_batches_share_one_pool_of_helpers(void **state)
{
	struct overlap a = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct overlap b = {.lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_t ta, tb;
	void *ra, *rb;
	size_t distinct;

	(void)state;
	assert_int_equal(pthread_create(&ta, NULL, slow_start_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, slow_start_thread, &b), 0);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	/* every item of both runs done once, several at a time */
	assert_int_equal((size_t)ra, 200);
	assert_int_equal((size_t)rb, 200);
	assert_int_equal(atomic_load(&a.n), 200);
	assert_int_equal(atomic_load(&b.n), 200);
	assert_true(atomic_load(&a.most) > 1);
	assert_true(atomic_load(&b.most) > 1);
	/* by the two callers and their helpers, the same for every batch */
	distinct = a.n_tids;
	for (size_t i = 0; i < b.n_tids; i++) {
		bool seen = false;

		for (size_t j = 0; j < a.n_tids; j++)
			seen = seen || a.tids[j] == b.tids[i];
		distinct += !seen;
	}
	assert_true(distinct <= 2 + 15);
}

static void test_expectations_wait_for_observed_creations_and_deletions(void **state)
{
	struct wl_expectations *e = wl_exp_new();
	char *keys[] = {"default/p1", "default/p2"};

	(void)state;
	assert_true(wl_exp_satisfied(e, "default/rs"));
	wl_exp_expect_creations(e, "default/rs", 2);
	assert_false(wl_exp_satisfied(e, "default/rs"));
	wl_exp_creation_observed(e, "default/rs");
	assert_false(wl_exp_satisfied(e, "default/rs"));
	wl_exp_creation_observed(e, "default/rs");
	assert_true(wl_exp_satisfied(e, "default/rs"));

	wl_exp_expect_deletions(e, "default/rs", keys, 2);
	assert_false(wl_exp_satisfied(e, "default/rs"));
	/* The same pod seen twice (update with deletionTimestamp, then delete) counts once. */
	wl_exp_deletion_observed(e, "default/rs", "default/p1");
	wl_exp_deletion_observed(e, "default/rs", "default/p1");
	assert_false(wl_exp_satisfied(e, "default/rs"));
	wl_exp_deletion_observed(e, "default/rs", "default/p2");
	assert_true(wl_exp_satisfied(e, "default/rs"));

	wl_exp_expect_creations(e, "default/rs", 3);
	wl_exp_age(e, 301);
	assert_true(wl_exp_satisfied(e, "default/rs"));
	wl_exp_expect_creations(e, "default/rs", 3);
	wl_exp_forget(e, "default/rs");
	assert_true(wl_exp_satisfied(e, "default/rs"));
	wl_exp_free(e);
}

static void test_claims_adopt_orphans_and_release_unselected(void **state)
{
	cleanup_json json_t *owner = J("{\"metadata\":{\"name\":\"rs\",\"namespace\":\"default\","
				       "\"uid\":\"u1\"}}");
	cleanup_json json_t *orphan =
		J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"}}");
	cleanup_json json_t *mine =
		J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
		  "\"ownerReferences\":[{\"uid\":\"u1\",\"controller\":true}]}}");
	cleanup_json json_t *theirs =
		J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
		  "\"ownerReferences\":[{\"uid\":\"u2\",\"controller\":true}]}}");
	cleanup_json json_t *other_ns = J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"}}");
	cleanup_json json_t *ref = wl_controller_ref_new(owner, "apps/v1", "ReplicaSet");

	(void)state;
	assert_int_equal(wl_claim_decide(owner, orphan, true), WL_CLAIM_ADOPT);
	assert_int_equal(wl_claim_decide(owner, orphan, false), WL_CLAIM_IGNORE);
	assert_int_equal(wl_claim_decide(owner, mine, true), WL_CLAIM_OWNED);
	assert_int_equal(wl_claim_decide(owner, mine, false), WL_CLAIM_RELEASE);
	assert_int_equal(wl_claim_decide(owner, theirs, true), WL_CLAIM_IGNORE);
	assert_int_equal(wl_claim_decide(owner, other_ns, true), WL_CLAIM_IGNORE);
	json_object_set_new(json_object_get(owner, "metadata"), "deletionTimestamp",
			    json_string("2024-01-01T00:00:00Z"));
	assert_int_equal(wl_claim_decide(owner, orphan, true), WL_CLAIM_IGNORE);
	assert_int_equal(wl_claim_decide(owner, mine, false), WL_CLAIM_IGNORE);
	assert_true(json_is_true(json_object_get(ref, "controller")));
	assert_true(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
	assert_string_equal(wl_str(ref, "kind"), "ReplicaSet");
	assert_string_equal(wl_str(ref, "uid"), "u1");
}

static void test_selector_string_and_query_escape(void **state)
{
	cleanup_json json_t *sel =
		J("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
		  "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
		  "{\"key\":\"x\",\"operator\":\"DoesNotExist\"},"
		  "{\"key\":\"y\",\"operator\":\"Exists\"},"
		  "{\"key\":\"z\",\"operator\":\"NotIn\",\"values\":[\"c\"]}]}");
	cleanup_free char *s = wl_selector_string(sel);
	cleanup_free char *e = url_escape("a=b,c in (d)");

	(void)state;
	assert_string_equal(s, "app=web,tier in (a,b),!x,y,z notin (c)");
	assert_string_equal(e, "a%3Db%2Cc%20in%20%28d%29");
}

static void test_index_finds_owned_and_orphans(void **state)
{
	struct wl_index *ix = wl_index_new();
	cleanup_json json_t *a = J("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
				   "\"ownerReferences\":[{\"uid\":\"u1\",\"controller\":true}]}}");
	cleanup_json json_t *a2 = J("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
				    "\"labels\":{\"v\":\"2\"},"
				    "\"ownerReferences\":[{\"uid\":\"u1\",\"controller\":true}]}}");
	cleanup_json json_t *b = J("{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}");
	struct wl_list l = {0};

	(void)state;
	wl_index_put(ix, "n/a", a);
	wl_index_put(ix, "n/b", b);
	wl_index_owned(ix, "u1", &l);
	assert_int_equal(l.n, 1);
	wl_list_done(&l);
	wl_index_orphans(ix, "n", &l);
	assert_int_equal(l.n, 1);
	assert_ptr_equal(l.v[0], b);
	wl_list_done(&l);
	/* Adoption moves an object from the orphans to its owner. */
	wl_index_put(ix, "n/b", a);
	wl_index_orphans(ix, "n", &l);
	assert_int_equal(l.n, 0);
	wl_index_owned(ix, "u1", &l);
	assert_int_equal(l.n, 2);
	wl_list_done(&l);
	/* A new version under the same owner takes the old one's place. */
	wl_index_put(ix, "n/a", a2);
	wl_index_owned(ix, "u1", &l);
	assert_int_equal(l.n, 2);
	assert_true(l.v[0] == a2 || l.v[1] == a2);
	assert_true(l.v[0] != a2 || l.v[1] != a2);
	wl_list_done(&l);
	wl_index_del(ix, "n/a");
	wl_index_del(ix, "n/b");
	wl_index_owned(ix, "u1", &l);
	assert_int_equal(l.n, 0);
	wl_index_free(ix);
}

static void test_new_rs_replicas_stay_within_surge(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "0");
	cleanup_json json_t *old = rs_new("old", 3, 3, 0, NULL);
	cleanup_json json_t *nrs = rs_new("new", 0, 0, 10, NULL);
	json_t *all[] = {old, nrs};

	(void)state;
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nrs), 1);
	json_object_set_new(json_object_get(nrs, "spec"), "replicas", json_integer(1));
	/* 3 + 1 already: no more until an old one goes. */
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nrs), 1);
	json_object_set_new(json_object_get(old, "spec"), "replicas", json_integer(1));
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nrs), 3);
	json_object_set_new(json_object_get(json_object_get(d, "spec"), "strategy"), "type",
			    json_string("Recreate"));
	assert_int_equal(wl_new_rs_new_replicas(d, all, 2, nrs), 3);
}

static void test_rolling_scale_down_keeps_minimum_available(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "0");
	cleanup_json json_t *old = rs_new("old", 3, 3, 0, NULL);
	cleanup_json json_t *nrs = rs_new("new", 1, 0, 10, NULL);
	json_t *all[] = {old, nrs};
	json_t *olds[] = {old};
	int32_t sizes[1];

	(void)state;
	/* The new pod is not available yet: nothing old may go. */
	assert_int_equal(wl_max_scaled_down(d, all, 2, nrs), 0);
	json_object_set_new(json_object_get(nrs, "status"), "availableReplicas", json_integer(1));
	assert_int_equal(wl_max_scaled_down(d, all, 2, nrs), 1);
	assert_int_equal(wl_plan_cleanup_unhealthy(olds, 1, 1, sizes), 0);
	assert_int_equal(sizes[0], 3);
	assert_int_equal(wl_plan_scale_down_old(d, all, 2, olds, 1, sizes), 1);
	assert_int_equal(sizes[0], 2);

	/* Unhealthy old replicas are cleaned up first, within the allowance. */
	json_object_set_new(json_object_get(old, "status"), "availableReplicas", json_integer(1));
	assert_int_equal(wl_plan_cleanup_unhealthy(olds, 1, 1, sizes), 1);
	assert_int_equal(sizes[0], 2);
}

/*
 * An old RS just scaled from 3 to 2 still reports the 3 pods it counted before deleting
 * one. Counting those 3 would take both remaining old pods while only the 2 new ones are
 * up: 2 available where 3 are required.
 */
static void test_rolling_scale_down_ignores_replicas_about_to_go(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "0");
	cleanup_json json_t *old = rs_new("old", 2, 3, 0, NULL);
	cleanup_json json_t *nrs = rs_new("new", 2, 2, 10, NULL);
	json_t *all[] = {old, nrs};
	json_t *olds[] = {old};
	int32_t sizes[1];

	(void)state;
	assert_int_equal(wl_max_scaled_down(d, all, 2, nrs), 1);
	assert_int_equal(wl_plan_scale_down_old(d, all, 2, olds, 1, sizes), 1);
	assert_int_equal(sizes[0], 1);

	/* The same for a new RS that was scaled down (a scale of the Deployment). */
	json_object_set_new(json_object_get(nrs, "status"), "availableReplicas", json_integer(4));
	assert_int_equal(wl_max_scaled_down(d, all, 2, nrs), 1);
}

static void test_proportional_scaling_spreads_new_replicas(void **state)
{
	cleanup_json json_t *d = deploy_new(12, "3", "0");
	cleanup_json json_t *old =
		rs_new("old", 8, 8, 0, "{\"deployment.kubernetes.io/max-replicas\":\"13\"}");
	cleanup_json json_t *nrs =
		rs_new("new", 5, 5, 10, "{\"deployment.kubernetes.io/max-replicas\":\"13\"}");
	json_t *active[] = {nrs, old};
	int32_t sizes[2];
	const char *op;

	(void)state;
	wl_proportional_sizes(d, active, 2, sizes, &op);
	assert_string_equal(op, "up");
	assert_ptr_equal(active[0], old);
	assert_int_equal(sizes[0], 9);
	assert_int_equal(sizes[1], 6);

	json_object_set_new(json_object_get(d, "spec"), "replicas", json_integer(5));
	json_object_set_new(json_object_get(json_object_get(json_object_get(d, "spec"), "strategy"),
					    "rollingUpdate"),
			    "maxSurge", json_integer(1));
	wl_proportional_sizes(d, active, 2, sizes, &op);
	assert_string_equal(op, "down");
	assert_ptr_equal(active[0], old);
	assert_int_equal(sizes[0] + sizes[1], 6);
	assert_int_equal(sizes[0], 4);
	assert_int_equal(sizes[1], 2);

	/* Scaling to zero empties every RS. */
	json_object_set_new(json_object_get(d, "spec"), "replicas", json_integer(0));
	wl_proportional_sizes(d, active, 2, sizes, &op);
	assert_int_equal(sizes[0], 0);
	assert_int_equal(sizes[1], 0);
}

static void test_new_and_old_replica_sets_are_found_by_template(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "0");
	cleanup_json json_t *a = rs_new("a", 0, 0, 5, NULL);
	cleanup_json json_t *b = rs_new("b", 3, 3, 1, NULL);
	cleanup_json json_t *c = rs_new("c", 0, 0, 2, NULL);
	json_t *tmpl = wl_get(d, "spec.template");
	json_t *rss[] = {a, b, c};
	json_t *old[] = {a, c};

	(void)state;
	json_object_set_new(json_object_get(a, "spec"), "template", json_deep_copy(tmpl));
	json_object_set_new(json_object_get(c, "spec"), "template", json_deep_copy(tmpl));
	json_object_set_new(wl_get(c, "spec.template.metadata.labels"), "pod-template-hash",
			    json_string("abc"));
	json_object_set_new(json_object_get(b, "spec"), "template", J("{\"spec\":{}}"));
	/* The oldest of the equal ones wins. */
	assert_ptr_equal(wl_find_new_rs(d, rss, 3), c);
	/* One active: that one; none active: the newest. */
	assert_ptr_equal(wl_find_active_or_latest(NULL, old, 2), a);
	assert_ptr_equal(wl_find_active_or_latest(c, rss, 0), c);
	{
		json_t *two[] = {b, a};
		json_t *one[] = {a, c};

		json_object_set_new(json_object_get(a, "spec"), "replicas", json_integer(1));
		assert_null(wl_find_active_or_latest(NULL, two, 2));
		assert_ptr_equal(wl_find_active_or_latest(NULL, one, 2), a);
	}
}

static void test_revision_annotations_follow_upstream(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "0");
	cleanup_json json_t *rs = rs_new("r", 0, 0, 0, NULL);

	(void)state;
	json_object_set_new(json_object_get(d, "metadata"), "annotations",
			    J("{\"kubernetes.io/change-cause\":\"v2\","
			      "\"deployment.kubernetes.io/revision\":\"9\","
			      "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}"));
	assert_true(wl_set_new_rs_annotations(d, rs, "1", false));
	assert_string_equal(wl_annotation(rs, WL_ANN_REVISION), "1");
	assert_string_equal(wl_annotation(rs, "kubernetes.io/change-cause"), "v2");
	assert_null(wl_annotation(rs, "kubectl.kubernetes.io/last-applied-configuration"));
	assert_string_equal(wl_annotation(rs, WL_ANN_DESIRED), "3");
	assert_string_equal(wl_annotation(rs, WL_ANN_MAX), "4");
	assert_null(wl_annotation(rs, WL_ANN_REV_HISTORY));
	assert_false(wl_set_new_rs_annotations(d, rs, "1", true));
	/* Brought back by a rollback: the newest revision, the old one remembered. */
	assert_true(wl_set_new_rs_annotations(d, rs, "3", true));
	assert_string_equal(wl_annotation(rs, WL_ANN_REVISION), "3");
	assert_string_equal(wl_annotation(rs, WL_ANN_REV_HISTORY), "1");
	assert_true(wl_set_new_rs_annotations(d, rs, "5", true));
	assert_string_equal(wl_annotation(rs, WL_ANN_REV_HISTORY), "1,3");
	/* Never lowered. */
	assert_false(wl_set_new_rs_annotations(d, rs, "4", true));
	assert_string_equal(wl_annotation(rs, WL_ANN_REVISION), "5");
	assert_false(wl_replicas_annotations_need_update(rs, 3, 4));
	assert_true(wl_replicas_annotations_need_update(rs, 5, 6));
}

static void test_conditions_keep_transition_time_and_skip_same_reason(void **state)
{
	cleanup_json json_t *st = json_object();
	json_t *c;

	(void)state;
	assert_true(wl_cond_set(st, J("{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":"
				      "\"A\",\"message\":\"m1\",\"lastTransitionTime\":\"t1\"}")));
	assert_false(wl_cond_set(st, J("{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":"
				       "\"A\",\"message\":\"m2\",\"lastTransitionTime\":\"t2\"}")));
	assert_string_equal(wl_str(wl_cond_get(st, "Progressing"), "message"), "m1");
	assert_true(wl_cond_set(st, J("{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":"
				      "\"B\",\"message\":\"m3\",\"lastTransitionTime\":\"t3\"}")));
	c = wl_cond_get(st, "Progressing");
	assert_string_equal(wl_str(c, "reason"), "B");
	assert_string_equal(wl_str(c, "lastTransitionTime"), "t1");
	assert_true(wl_cond_set(st, J("{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":"
				      "\"C\",\"message\":\"m4\",\"lastTransitionTime\":\"t4\"}")));
	assert_string_equal(wl_str(wl_cond_get(st, "Progressing"), "lastTransitionTime"), "t4");
	assert_int_equal(json_array_size(json_object_get(st, "conditions")), 1);
	assert_true(wl_cond_remove(st, "Progressing"));
	assert_false(wl_cond_remove(st, "Progressing"));
}

static void test_deployment_status_counts_and_availability(void **state)
{
	cleanup_json json_t *d = deploy_new(3, "1", "1");
	cleanup_json json_t *old = rs_new("old", 2, 2, 0, NULL);
	cleanup_json json_t *nrs = rs_new("new", 2, 0, 10, NULL);
	json_t *all[] = {old, nrs};
	cleanup_json json_t *st = wl_deployment_status(d, all, 2, nrs);
	cleanup_json json_t *st2 = NULL;

	(void)state;
	assert_int_equal(wl_int(st, "replicas", -1), 4);
	assert_int_equal(wl_int(st, "updatedReplicas", -1), 2);
	assert_int_equal(wl_int(st, "availableReplicas", -1), 2);
	assert_int_equal(wl_int(st, "unavailableReplicas", -1), 2);
	assert_int_equal(wl_int(st, "observedGeneration", -1), 1);
	assert_string_equal(wl_str(wl_cond_get(st, "Available"), "status"), "True");
	assert_string_equal(wl_str(wl_cond_get(st, "Available"), "reason"),
			    "MinimumReplicasAvailable");
	assert_false(wl_deployment_complete(d, st));
	assert_true(wl_deployment_progressing(d, st));

	json_object_set_new(json_object_get(old, "status"), "availableReplicas", json_integer(1));
	st2 = wl_deployment_status(d, all, 2, nrs);
	assert_string_equal(wl_str(wl_cond_get(st2, "Available"), "reason"),
			    "MinimumReplicasUnavailable");

	/* Timed out once the last progress is older than progressDeadlineSeconds. */
	wl_cond_set(st2, J("{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":"
			   "\"ReplicaSetUpdated\",\"lastUpdateTime\":\"2024-01-01T00:00:00Z\"}"));
	assert_true(wl_deployment_timed_out(d, st2, wl_time_parse("2024-01-01T00:10:01Z")));
	assert_false(wl_deployment_timed_out(d, st2, wl_time_parse("2024-01-01T00:09:59Z")));
}

static void test_status_equality_ignores_omitted_zeros(void **state)
{
	cleanup_json json_t *a = J("{\"replicas\":0,\"conditions\":[],\"x\":1}");
	cleanup_json json_t *b = J("{\"x\":1}");
	cleanup_json json_t *c = J("{\"x\":2}");

	(void)state;
	assert_true(wl_status_equal(a, b));
	assert_false(wl_status_equal(a, c));
	assert_true(wl_status_equal(NULL, b) == false);
	json_object_del(b, "x");
	assert_true(wl_status_equal(NULL, b));
}

static void test_time_parse_and_format_round_trip(void **state)
{
	cleanup_free char *s = wl_time_format(1700000000);

	(void)state;
	assert_string_equal(s, "2023-11-14T22:13:20Z");
	assert_int_equal(wl_time_parse(s), 1700000000);
	assert_int_equal(wl_time_parse("2023-11-14T22:13:20.123456Z"), 1700000000);
	assert_int_equal(wl_time_parse("2023-11-14T23:13:20+01:00"), 1700000000);
	assert_int_equal(wl_time_parse("garbage"), 0);
	assert_int_equal(wl_time_parse(NULL), 0);
}

/* The controllers against an in-process API server. */

#define TOKEN "test-admin-token"
#define NS    "t"

static char tmpdir[TEST_API_DIR_MAX];
static struct api *api;
static struct kc *kc;
static void *rs_ctl, *d_ctl;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A request with a JSON text body; the status, the answer in *ret when wanted. */
static int req(const char *method, const char *path, const char *ctype, const char *body,
	       json_t **ret)
{
	cleanup_json json_t *b = body ? J(body) : NULL;
	struct err err = ERR_INIT;
	int st = kc_request(kc, method, path, ctype, b, ret, &err);

	err_clear(&err);
	return st;
}

/*
 * A PATCH, repeated on 409: the API server currently answers a patch that races another
 * write with a conflict (the patched object keeps the resourceVersion it was read at),
 * where upstream retries it.
 */
static int patch(const char *path, const char *ctype, const char *body)
{
	int st = 409;

	for (int i = 0; i < 20 && st == 409; i++)
		st = req("PATCH", path, ctype, body, NULL);
	return st;
}

static json_t *get(const char *path)
{
	json_t *body = NULL;

	if (req("GET", path, NULL, NULL, &body) != 200) {
		json_decref(body);
		return NULL;
	}
	return body;
}

static size_t count_items(const char *path)
{
	cleanup_json json_t *l = get(path);

	return json_array_size(json_object_get(l, "items"));
}

static bool wait_for(bool (*fn)(void *arg), void *arg, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;

	while (clock_mono_ms() < end) {
		if (fn(arg))
			return true;
		sleep_ms(20);
	}
	return fn(arg);
}

/* The fake kubelet: every pod becomes Running and Ready through /status. */

static struct informer *kubelet_inf;
static struct workqueue *kubelet_q;
static pthread_t kubelet_thread;

static bool pod_running_ready(const json_t *pod)
{
	return strcmp(wl_str(pod, "status.phase") ?: "", "Running") == 0 && wl_pod_ready(pod);
}

static void kubelet_seen(void *arg, json_t *pod)
{
	cleanup_free char *key = wl_key(pod);

	(void)arg;
	if (!wl_deleting(pod) && !pod_running_ready(pod))
		wq_add(kubelet_q, key);
}

static void kubelet_update(void *arg, json_t *old, json_t *pod)
{
	(void)old;
	kubelet_seen(arg, pod);
}

static void kubelet_gone(void *arg, json_t *pod)
{
	(void)arg;
	(void)pod;
}

static void *kubelet_main(void *arg)
{
	char *key;

	(void)arg;
	while ((key = wq_get(kubelet_q))) {
		char *slash = strchr(key, '/');
		cleanup_free char *path = xasprintf("/api/v1/namespaces/%.*s/pods/%s",
						    (int)(slash - key), key, slash + 1);
		cleanup_free char *spath = xasprintf("%s/status", path);
		cleanup_free char *now = wl_time_format(wl_now());
		cleanup_json json_t *pod = get(path);
		struct err err = ERR_INIT;

		const char *image =
			wl_str(json_array_get(wl_get(pod, "spec.containers"), 0), "image") ?: "";

		/* Images named "stuck" never start: a rollout that makes no progress. */
		if (pod && !wl_deleting(pod) && !pod_running_ready(pod) &&
		    !strstr(image, "stuck")) {
			json_t *st = json_pack(
				"{s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:[{s:s, s:b, s:i, "
				"s:s, s:s, s:b, s:{s:{s:s}}}]}",
				"phase", "Running", "conditions", "type", "Ready", "status", "True",
				"lastTransitionTime", now, "type", "ContainersReady", "status",
				"True", "lastTransitionTime", now, "containerStatuses", "name", "c",
				"ready", 1, "restartCount", 0, "image",
				wl_str(json_array_get(wl_get(pod, "spec.containers"), 0), "image")
					?: "x",
				"imageID", "", "started", 1, "state", "running", "startedAt", now);

			json_object_set_new(pod, "status", st);
			if (kc_request(kc, "PUT", spath, NULL, pod, NULL, &err) == 409)
				wq_add_rate_limited(kubelet_q, key);
			err_clear(&err);
		}
		wq_done(kubelet_q, key);
		free(key);
	}
	return NULL;
}

static int integration_setup(void **state)
{
	struct controllers_config cfg = {.workers = 2};
	struct informer_handlers h = {
		.add = kubelet_seen, .update = kubelet_update, .del = kubelet_gone, .arg = NULL};
	struct api_config acfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.threads = 2,
	};
	struct err err = ERR_INIT;

	(void)state;
	test_api_start("workloads", &acfg, tmpdir, &api, &kc);
	if (req("POST", "/api/v1/namespaces", NULL,
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS "\"}}",
		NULL) != 201)
		fail_msg("create namespace");
	kubelet_q = wq_new();
	if (informer_start(kc, "/api/v1/pods", &h, &kubelet_inf, &err) < 0)
		fail_msg("kubelet informer: %s", err.msg);
	pthread_create(&kubelet_thread, NULL, kubelet_main, NULL);
	if (replicaset_start(kc, &cfg, &rs_ctl, &err) < 0 ||
	    deployment_start(kc, &cfg, &d_ctl, &err) < 0)
		fail_msg("controllers: %s", err.msg);
	return 0;
}

static int integration_teardown(void **state)
{
	(void)state;
	deployment_stop(d_ctl);
	replicaset_stop(rs_ctl);
	wq_shutdown(kubelet_q);
	pthread_join(kubelet_thread, NULL);
	informer_stop(kubelet_inf);
	wq_free(kubelet_q);
	test_api_stop(tmpdir, api, kc);
	return 0;
}

/* ReplicaSet. */

#define RS_PATH   "/apis/apps/v1/namespaces/" NS "/replicasets"
#define POD_PATH  "/api/v1/namespaces/" NS "/pods"
#define DEP_PATH  "/apis/apps/v1/namespaces/" NS "/deployments"
#define MERGE     "application/merge-patch+json"
#define STRATEGIC "application/strategic-merge-patch+json"

struct rs_want {
	const char *name;
	int replicas;
};

static bool rs_settled(void *arg)
{
	const struct rs_want *w = arg;
	cleanup_free char *path = xasprintf(RS_PATH "/%s", w->name);
	cleanup_json json_t *rs = get(path);
	cleanup_free char *sel = xasprintf(POD_PATH "?labelSelector=rs%%3D%s", w->name);
	cleanup_json json_t *pods = get(sel);
	json_t *pod;
	size_t i;
	int live = 0;

	if (!rs ||
	    wl_int(rs, "status.observedGeneration", 0) != wl_int(rs, "metadata.generation", -1))
		return false;
	json_array_foreach (json_object_get(pods, "items"), i, pod) {
		if (!wl_deleting(pod))
			live++;
	}
	return live == w->replicas && wl_int(rs, "status.replicas", -1) == w->replicas &&
	       wl_int(rs, "status.readyReplicas", 0) == w->replicas &&
	       wl_int(rs, "status.availableReplicas", 0) == w->replicas &&
	       wl_int(rs, "status.fullyLabeledReplicas", 0) == w->replicas;
}

static bool pod_gone(void *arg)
{
	cleanup_free char *path = xasprintf(POD_PATH "/%s", (const char *)arg);
	cleanup_json json_t *pod = get(path);

	return !pod;
}

static bool pod_released(void *arg)
{
	cleanup_free char *path = xasprintf(POD_PATH "/%s", (const char *)arg);
	cleanup_json json_t *pod = get(path);

	return pod && !wl_controller_ref(pod);
}

static bool pod_owned(void *arg)
{
	cleanup_free char *path = xasprintf(POD_PATH "/%s", (const char *)arg);
	cleanup_json json_t *pod = get(path);

	return pod && wl_controller_ref(pod);
}

static bool event_seen(void *arg)
{
	const char *needle = arg;
	cleanup_json json_t *l = get("/api/v1/namespaces/" NS "/events");
	json_t *ev;
	size_t i;

	json_array_foreach (json_object_get(l, "items"), i, ev) {
		if (strstr(wl_str(ev, "message") ?: "", needle))
			return true;
	}
	return false;
}

static void test_replicaset_creates_adopts_releases_and_deletes_pods(void **state)
{
	struct rs_want w = {"rs1", 3};
	cleanup_json json_t *rs = NULL, *pods = NULL, *orphan_resp = NULL;
	json_t *pod;
	size_t i;
	int max_seen = 0;
	int64_t end;

	(void)state;
	/* An orphan that matches is adopted and counts as one of the three. */
	assert_int_equal(
		req("POST", POD_PATH, NULL,
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"orphan\","
		    "\"labels\":{\"rs\":\"rs1\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
		    "\"image\":\"nginx\"}]}}",
		    &orphan_resp),
		201);
	assert_int_equal(
		req("POST", RS_PATH, NULL,
		    "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":"
		    "\"rs1\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"rs\":"
		    "\"rs1\"}},\"template\":{\"metadata\":{\"labels\":{\"rs\":\"rs1\"}},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}}}",
		    NULL),
		201);
	assert_true(wait_for(rs_settled, &w, 10000));
	assert_true(pod_owned("orphan"));
	pods = get(POD_PATH "?labelSelector=rs%3Drs1");
	json_array_foreach (json_object_get(pods, "items"), i, pod) {
		const json_t *ref = wl_controller_ref(pod);

		assert_non_null(ref);
		assert_string_equal(wl_str(ref, "kind"), "ReplicaSet");
		assert_true(json_is_true(json_object_get(ref, "blockOwnerDeletion")));
		if (strcmp(wl_str(pod, "metadata.name"), "orphan") != 0)
			assert_int_equal(
				strncmp(wl_str(pod, "metadata.generateName") ?: "", "rs1-", 4), 0);
	}
	assert_true(wait_for(event_seen, "Created pod: rs1-", 5000));

	/* A pod that stops matching is released and replaced. */
	assert_int_equal(
		patch(POD_PATH "/orphan", MERGE, "{\"metadata\":{\"labels\":{\"rs\":\"other\"}}}"),
		200);
	assert_true(wait_for(pod_released, "orphan", 10000));
	assert_true(wait_for(rs_settled, &w, 10000));

	/* Scaling down deletes the cheapest pod first. */
	json_decref(pods);
	pods = get(POD_PATH "?labelSelector=rs%3Drs1");
	{
		const char *victim =
			wl_str(json_array_get(json_object_get(pods, "items"), 1), "metadata.name");
		cleanup_free char *vpath = xasprintf(POD_PATH "/%s", victim);
		cleanup_free char *vname = xstrdup(victim);
		cleanup_free char *deleted = xasprintf("Deleted pod: %s", vname);

		assert_int_equal(patch(vpath, MERGE,
				       "{\"metadata\":{\"annotations\":{\"controller.kubernetes.io/"
				       "pod-deletion-cost\":\"-100\"}}}"),
				 200);
		sleep_ms(300);
		assert_int_equal(patch(RS_PATH "/rs1", MERGE, "{\"spec\":{\"replicas\":2}}"), 200);
		w.replicas = 2;
		assert_true(wait_for(rs_settled, &w, 10000));
		assert_true(wait_for(pod_gone, vname, 5000));
		assert_true(wait_for(event_seen, deleted, 5000));
	}

	/* A burst never overshoots: expectations hold back a second round of creates. */
	assert_int_equal(patch(RS_PATH "/rs1", MERGE, "{\"spec\":{\"replicas\":20}}"), 200);
	w.replicas = 20;
	end = clock_mono_ms() + 15000;
	while (clock_mono_ms() < end && !rs_settled(&w)) {
		int n = (int)count_items(POD_PATH "?labelSelector=rs%3Drs1");

		if (n > max_seen)
			max_seen = n;
		sleep_ms(10);
	}
	assert_true(rs_settled(&w));
	assert_true(max_seen <= 20);

	assert_int_equal(req("DELETE", RS_PATH "/rs1", NULL, NULL, NULL), 200);
	rs = get(RS_PATH "/rs1");
	(void)rs;
}

/* Deployment. */

struct rollout {
	int replicas;
	int max_surge, max_unavailable;
	int steps;     /* observations made */
	bool violated; /* an observation broke surge or availability */
	char *violation;
};

static json_t *deployment(void)
{
	return get(DEP_PATH "/web");
}

static json_t *web_rss(void)
{
	return get(RS_PATH "?labelSelector=app%3Dweb");
}

/* Like `kubectl rollout status`: the latest generation fully rolled out and available. */
static bool rolled_out(void *arg)
{
	cleanup_json json_t *d = deployment();
	json_t *st = json_object_get(d, "status");
	json_t *c = wl_cond_get(st, "Progressing");
	int64_t want = wl_int(d, "spec.replicas", 1);

	(void)arg;
	return d && wl_int(st, "observedGeneration", 0) >= wl_int(d, "metadata.generation", 1) &&
	       wl_int(st, "updatedReplicas", 0) == want && wl_int(st, "replicas", 0) == want &&
	       wl_int(st, "availableReplicas", 0) == want && c &&
	       strcmp(wl_str(c, "reason") ?: "", "NewReplicaSetAvailable") == 0;
}

static void observe(struct rollout *r)
{
	cleanup_json json_t *rss = web_rss();
	cleanup_json json_t *pods = get(POD_PATH "?labelSelector=app%3Dweb");
	json_t *o;
	size_t i;
	int spec = 0, available = 0;

	json_array_foreach (json_object_get(rss, "items"), i, o)
		spec += wl_rs_replicas(o);
	json_array_foreach (json_object_get(pods, "items"), i, o) {
		if (!wl_deleting(o) && wl_pod_ready(o))
			available++;
	}
	r->steps++;
	if (spec > r->replicas + r->max_surge && !r->violated) {
		r->violated = true;
		r->violation = xasprintf("%d replicas in replica sets", spec);
	}
	if (available < r->replicas - r->max_unavailable && !r->violated) {
		r->violated = true;
		r->violation = xasprintf("%d pods available", available);
	}
}

static bool observed_rollout(void *arg)
{
	observe(arg);
	return rolled_out(NULL);
}

static json_t *rs_with_image(const char *image)
{
	json_t *rss = web_rss(), *rs, *found = NULL;
	size_t i;

	json_array_foreach (json_object_get(rss, "items"), i, rs) {
		json_t *c0 = json_array_get(wl_get(rs, "spec.template.spec.containers"), 0);

		if (strcmp(wl_str(c0, "image") ?: "", image) == 0)
			found = json_incref(rs);
	}
	json_decref(rss);
	return found;
}

static bool paused_cond(void *arg)
{
	cleanup_json json_t *d = deployment();
	json_t *c = wl_cond_get(json_object_get(d, "status"), "Progressing");

	return c && strcmp(wl_str(c, "reason") ?: "", (const char *)arg) == 0;
}

static void set_image(const char *image)
{
	cleanup_free char *body = xasprintf("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{"
					    "\"name\":\"c\",\"image\":\"%s\"}]}}}}",
					    image);

	assert_int_equal(patch(DEP_PATH "/web", STRATEGIC, body), 200);
}

static bool scaled_to(void *arg)
{
	int want = (int)(intptr_t)arg;
	cleanup_json json_t *pods = get(POD_PATH "?labelSelector=app%3Dweb");
	cleanup_json json_t *d = deployment();
	json_t *pod;
	size_t i;
	int live = 0;

	json_array_foreach (json_object_get(pods, "items"), i, pod) {
		if (!wl_deleting(pod))
			live++;
	}
	return live == want && wl_int(d, "status.availableReplicas", 0) == want &&
	       wl_int(d, "status.replicas", 0) == want &&
	       wl_int(d, "status.observedGeneration", 0) == wl_int(d, "metadata.generation", -1);
}

static bool history_trimmed(void *arg)
{
	cleanup_json json_t *rss = web_rss();

	return json_array_size(json_object_get(rss, "items")) == (size_t)(intptr_t)arg;
}

static void test_deployment_rolls_out_undoes_pauses_scales_and_trims_history(void **state)
{
	struct rollout r = {.replicas = 3, .max_surge = 1, .max_unavailable = 0};
	cleanup_json json_t *d = NULL, *rs1 = NULL, *rs2 = NULL, *rs1b = NULL, *rss = NULL;
	cleanup_free char *msg = NULL, *scaled = NULL;
	json_t *pod, *o;
	size_t i;

	(void)state;
	assert_int_equal(
		req("POST", DEP_PATH, NULL,
		    "{\"apiVersion\":\"apps/"
		    "v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
		    "\"annotations\":{\"kubernetes.io/change-cause\":\"first\"}},"
		    "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":1,"
		    "\"maxUnavailable\":0}},\"template\":{\"metadata\":{\"labels\":{\"app\":"
		    "\"web\"}},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}}}",
		    NULL),
		201);
	assert_true(wait_for(rolled_out, NULL, 15000));
	rs1 = rs_with_image("nginx:1");
	assert_non_null(rs1);
	d = deployment();
	assert_string_equal(wl_annotation(d, WL_ANN_REVISION), "1");
	assert_string_equal(wl_annotation(rs1, WL_ANN_REVISION), "1");
	assert_string_equal(wl_annotation(rs1, WL_ANN_DESIRED), "3");
	assert_string_equal(wl_annotation(rs1, WL_ANN_MAX), "4");
	assert_string_equal(wl_annotation(rs1, "kubernetes.io/change-cause"), "first");
	{
		const char *hash = wl_label(rs1, WL_LABEL_HASH);
		cleanup_free char *name = NULL;

		assert_non_null(hash);
		name = xasprintf("web-%s", hash);
		assert_string_equal(wl_str(rs1, "metadata.name"), name);
		assert_string_equal(
			json_string_value(json_object_get(wl_get(rs1, "spec.selector.matchLabels"),
							  WL_LABEL_HASH)),
			hash);
		assert_string_equal(
			json_string_value(json_object_get(
				wl_get(rs1, "spec.template.metadata.labels"), WL_LABEL_HASH)),
			hash);
		msg = xasprintf("ReplicaSet \"%s\" has successfully progressed.", name);
		assert_string_equal(
			wl_str(wl_cond_get(json_object_get(d, "status"), "Progressing"), "message"),
			msg);
		scaled = xasprintf("Scaled up replica set %s to 3", name);
		assert_true(wait_for(event_seen, scaled, 5000));
	}
	assert_string_equal(
		wl_str(wl_cond_get(json_object_get(d, "status"), "Available"), "reason"),
		"MinimumReplicasAvailable");
	{
		cleanup_json json_t *pods = get(POD_PATH "?labelSelector=app%3Dweb");

		assert_int_equal(json_array_size(json_object_get(pods, "items")), 3);
		json_array_foreach (json_object_get(pods, "items"), i, pod)
			assert_string_equal(wl_label(pod, WL_LABEL_HASH),
					    wl_label(rs1, WL_LABEL_HASH));
	}

	/* Rolling update within maxSurge 1 and maxUnavailable 0 at every step seen. */
	set_image("nginx:2");
	assert_true(wait_for(observed_rollout, &r, 20000));
	if (r.violated)
		fail_msg("rolling update broke its bounds: %s", r.violation);
	rs2 = rs_with_image("nginx:2");
	assert_non_null(rs2);
	assert_string_equal(wl_annotation(rs2, WL_ANN_REVISION), "2");
	json_decref(rs1);
	rs1 = rs_with_image("nginx:1");
	assert_int_equal(wl_rs_replicas(rs1), 0);
	assert_true(wait_for(event_seen, "from 3 to 2", 5000));

	/* Undo as kubectl does it: the old template back; the old RS returns as revision 3. */
	{
		cleanup_json json_t *tmpl = json_deep_copy(wl_get(rs1, "spec.template"));
		cleanup_json json_t *ops = NULL;
		cleanup_free char *text = NULL;

		json_object_del(wl_get(tmpl, "metadata.labels"), WL_LABEL_HASH);
		ops = json_pack("[{s:s, s:s, s:O}]", "op", "replace", "path", "/spec/template",
				"value", tmpl);
		text = json_dumps(ops, JSON_COMPACT);
		assert_int_equal(patch(DEP_PATH "/web", "application/json-patch+json", text), 200);
	}
	r.steps = 0;
	assert_true(wait_for(observed_rollout, &r, 20000));
	if (r.violated)
		fail_msg("undo broke its bounds: %s", r.violation);
	rs1b = rs_with_image("nginx:1");
	assert_string_equal(wl_str(rs1b, "metadata.uid"), wl_str(rs1, "metadata.uid"));
	assert_string_equal(wl_annotation(rs1b, WL_ANN_REVISION), "3");
	assert_string_equal(wl_annotation(rs1b, WL_ANN_REV_HISTORY), "1");
	assert_true(history_trimmed((void *)2));
	json_decref(d);
	d = deployment();
	assert_string_equal(wl_annotation(d, WL_ANN_REVISION), "3");

	/* Paused: a template change waits; resuming rolls it out. */
	assert_int_equal(patch(DEP_PATH "/web", MERGE, "{\"spec\":{\"paused\":true}}"), 200);
	assert_true(wait_for(paused_cond, "DeploymentPaused", 5000));
	set_image("nginx:3");
	sleep_ms(700);
	assert_null(rs_with_image("nginx:3"));
	assert_int_equal(patch(DEP_PATH "/web", MERGE, "{\"spec\":{\"paused\":false}}"), 200);
	r.steps = 0;
	assert_true(wait_for(observed_rollout, &r, 20000));
	if (r.violated)
		fail_msg("resumed rollout broke its bounds: %s", r.violation);
	assert_non_null(rs1 = (json_decref(rs1), rs_with_image("nginx:3")));

	/* Scale up and down to nothing. */
	assert_int_equal(patch(DEP_PATH "/web", MERGE, "{\"spec\":{\"replicas\":5}}"), 200);
	assert_true(wait_for(scaled_to, (void *)5, 15000));
	assert_true(wait_for(rolled_out, NULL, 5000));
	assert_int_equal(patch(DEP_PATH "/web", MERGE, "{\"spec\":{\"replicas\":0}}"), 200);
	assert_true(wait_for(scaled_to, (void *)0, 15000));

	/* revisionHistoryLimit 1: one old RS stays besides the current one. */
	assert_int_equal(patch(DEP_PATH "/web", MERGE, "{\"spec\":{\"revisionHistoryLimit\":1}}"),
			 200);
	assert_true(wait_for(history_trimmed, (void *)2, 10000));
	rss = web_rss();
	json_array_foreach (json_object_get(rss, "items"), i, o)
		assert_int_equal(wl_rs_replicas(o), 0);
	free(r.violation);
}

/* Recreate: the old pods are all gone before any new one exists. */

struct recreate_watch {
	bool overlap;
	int steps;
};

static bool recreate_done(void *arg)
{
	struct recreate_watch *w = arg;
	cleanup_json json_t *pods = get(POD_PATH "?labelSelector=app%3Drec");
	cleanup_json json_t *d = get(DEP_PATH "/rec");
	json_t *pod;
	size_t i;
	int old = 0, new = 0;

	json_array_foreach (json_object_get(pods, "items"), i, pod) {
		const char *image =
			wl_str(json_array_get(wl_get(pod, "spec.containers"), 0), "image") ?: "";

		if (strcmp(image, "nginx:1") == 0)
			old++;
		else
			new ++;
	}
	w->steps++;
	if (old && new)
		w->overlap = true;
	return old == 0 && new == 2 && wl_int(d, "status.availableReplicas", 0) == 2 &&
	       wl_int(d, "status.updatedReplicas", 0) == 2 &&
	       wl_int(d, "status.observedGeneration", 0) == wl_int(d, "metadata.generation", -1);
}

static bool rec_ready(void *arg)
{
	cleanup_json json_t *d = get(DEP_PATH "/rec");

	(void)arg;
	return wl_int(d, "status.availableReplicas", 0) == 2;
}

static void test_deployment_recreate_stops_old_pods_before_starting_new_ones(void **state)
{
	struct recreate_watch w = {0};

	(void)state;
	assert_int_equal(
		req("POST", DEP_PATH, NULL,
		    "{\"apiVersion\":\"apps/"
		    "v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"rec\"},"
		    "\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"rec\"}},"
		    "\"strategy\":{\"type\":\"Recreate\"},\"template\":{\"metadata\":{\"labels\":"
		    "{\"app\":\"rec\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
		    "\"nginx:1\"}]}}}}",
		    NULL),
		201);
	assert_true(wait_for(rec_ready, NULL, 10000));
	assert_int_equal(patch(DEP_PATH "/rec", STRATEGIC,
			       "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
			       "\"image\":\"nginx:2\"}]}}}}"),
			 200);
	assert_true(wait_for(recreate_done, &w, 15000));
	assert_false(w.overlap);
}

/* A rollout that makes no progress times out; minReadySeconds delays availability. */

static bool deadline_exceeded(void *arg)
{
	cleanup_json json_t *d = get(DEP_PATH "/slow");
	json_t *c = wl_cond_get(json_object_get(d, "status"), "Progressing");

	(void)arg;
	return c && strcmp(wl_str(c, "reason") ?: "", "ProgressDeadlineExceeded") == 0 &&
	       strcmp(wl_str(c, "status") ?: "", "False") == 0;
}

static bool slow_available(void *arg)
{
	cleanup_json json_t *d = get(DEP_PATH "/slow");

	(void)arg;
	return wl_int(d, "status.availableReplicas", 0) == 1;
}

static bool slow_ready(void *arg)
{
	cleanup_json json_t *d = get(DEP_PATH "/slow");

	(void)arg;
	return wl_int(d, "status.readyReplicas", 0) == 1;
}

static void test_deployment_reports_deadline_and_waits_min_ready_seconds(void **state)
{
	cleanup_json json_t *d = NULL;
	int64_t t0;

	(void)state;
	assert_int_equal(
		req("POST", DEP_PATH, NULL,
		    "{\"apiVersion\":\"apps/"
		    "v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"slow\"},"
		    "\"spec\":{\"replicas\":1,\"minReadySeconds\":1,\"progressDeadlineSeconds\":2,"
		    "\"selector\":{\"matchLabels\":{\"app\":\"slow\"}},\"template\":{\"metadata\":"
		    "{\"labels\":{\"app\":\"slow\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
		    "\"image\":\"stuck:1\"}]}}}}",
		    NULL),
		201);
	assert_true(wait_for(deadline_exceeded, NULL, 10000));
	d = get(DEP_PATH "/slow");
	assert_string_equal(
		wl_str(wl_cond_get(json_object_get(d, "status"), "Available"), "status"), "False");

	/* A working template: ready at once, available only after minReadySeconds. */
	assert_int_equal(patch(DEP_PATH "/slow", STRATEGIC,
			       "{\"spec\":{\"progressDeadlineSeconds\":600,\"template\":{\"spec\":"
			       "{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}}}"),
			 200);
	assert_true(wait_for(slow_ready, NULL, 10000));
	t0 = clock_mono_ms();
	assert_false(slow_available(NULL));
	assert_true(wait_for(slow_available, NULL, 10000));
	assert_true(clock_mono_ms() - t0 >= 500);
}

int main(void)
{
	const struct CMUnitTest integration[] = {
		cmocka_unit_test(test_replicaset_creates_adopts_releases_and_deletes_pods),
		cmocka_unit_test(test_deployment_rolls_out_undoes_pauses_scales_and_trims_history),
		cmocka_unit_test(test_deployment_recreate_stops_old_pods_before_starting_new_ones),
		cmocka_unit_test(test_deployment_reports_deadline_and_waits_min_ready_seconds),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_grows_deletes_and_iterates_every_entry),
		cmocka_unit_test(test_template_hash_is_stable_collision_aware_and_safe_encoded),
		cmocka_unit_test(test_fenceposts_round_surge_up_and_unavailable_down),
		cmocka_unit_test(test_pods_to_delete_follow_upstream_order),
		cmocka_unit_test(test_pod_availability_waits_min_ready_seconds),
		cmocka_unit_test(test_slow_start_doubles_batches_and_stops_after_a_failed_one),
		cmocka_unit_test(test_slow_start_batches_share_one_pool_of_helpers),
		cmocka_unit_test(test_expectations_wait_for_observed_creations_and_deletions),
		cmocka_unit_test(test_claims_adopt_orphans_and_release_unselected),
		cmocka_unit_test(test_selector_string_and_query_escape),
		cmocka_unit_test(test_index_finds_owned_and_orphans),
		cmocka_unit_test(test_new_rs_replicas_stay_within_surge),
		cmocka_unit_test(test_rolling_scale_down_keeps_minimum_available),
		cmocka_unit_test(test_rolling_scale_down_ignores_replicas_about_to_go),
		cmocka_unit_test(test_proportional_scaling_spreads_new_replicas),
		cmocka_unit_test(test_new_and_old_replica_sets_are_found_by_template),
		cmocka_unit_test(test_revision_annotations_follow_upstream),
		cmocka_unit_test(test_conditions_keep_transition_time_and_skip_same_reason),
		cmocka_unit_test(test_deployment_status_counts_and_availability),
		cmocka_unit_test(test_status_equality_ignores_omitted_zeros),
		cmocka_unit_test(test_time_parse_and_format_round_trip),
	};

	int failed;

	cmocka_set_message_output(CM_OUTPUT_TAP);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	failed += cmocka_run_group_tests(integration, integration_setup, integration_teardown);
	return failed;
}
