/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the scheduler benchmark's load (cluster/sim/load.c): the per-pod tracker
 * fed with synthetic watch events, the nearest-rank percentile, the statistics
 * on known times, /proc parsing (synthetic text and this process) and the Deployment
 * bodies. The run itself needs a server and is left to the benchmark.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/sim/load.h"

/* A pod as a watch event carries it; @node and @phase may be NULL. */
static json_t *pod(const char *name, const char *rv, const char *node, const char *phase)
{
	json_t *p = json_pack("{s:s, s:s, s:{s:s, s:s, s:[{s:s}]}, s:{}, s:{}}", "apiVersion", "v1",
			      "kind", "Pod", "metadata", "name", name, "resourceVersion", rv,
			      "ownerReferences", "name", "load-0-abc", "spec", "status");

	assert_non_null(p);
	if (node)
		json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
	if (phase)
		json_object_set_new(json_object_get(p, "status"), "phase", json_string(phase));
	return p;
}

static enum simload_ev feed(struct simload_tracker *t, const char *type, const char *name,
			    const char *rv, const char *node, const char *phase, int64_t now)
{
	cleanup_json json_t *p = pod(name, rv, node, phase);

	return simload_tracker_event(t, type, p, now);
}

static void assert_times(struct simload_tracker *t, const char *name, int64_t seen, int64_t bound,
			 int64_t running, bool deleted)
{
	struct simload_pod_times pt;

	assert_true(simload_tracker_pod(t, name, &pt));
	assert_int_equal(pt.seen_ms, seen);
	assert_int_equal(pt.bound_ms, bound);
	assert_int_equal(pt.running_ms, running);
	assert_int_equal(pt.deleted, deleted);
}

static void assert_counts(struct simload_tracker *t, size_t seen, size_t bound, size_t running)
{
	size_t s, b, r;

	simload_tracker_counts(t, &s, &b, &r);
	assert_int_equal(s, seen);
	assert_int_equal(b, bound);
	assert_int_equal(r, running);
}

static void assert_rv(struct simload_tracker *t, const char *want)
{
	char rv[SIMLOAD_RV_MAX];

	simload_tracker_rv(t, rv);
	assert_string_equal(rv, want);
}

static void test_tracker_records_first_seen_bound_and_running_times(void **state)
{
	struct simload_tracker *t = simload_tracker_new(2, 1000);

	(void)state;
	assert_true(simload_tracker_set_rv(t, "7"));
	assert_rv(t, "7");
	assert_int_equal(feed(t, "ADDED", "p1", "10", NULL, "Pending", 1100), SIMLOAD_EV_CONTINUE);
	assert_times(t, "p1", 100, -1, -1, false);
	assert_counts(t, 1, 0, 0);
	assert_rv(t, "10");

	/* an empty nodeName is not a binding */
	feed(t, "MODIFIED", "p1", "11", "", "Pending", 1150);
	assert_times(t, "p1", 100, -1, -1, false);
	feed(t, "MODIFIED", "p1", "12", "node-3", "Pending", 1250);
	assert_times(t, "p1", 100, 250, -1, false);
	assert_counts(t, 1, 1, 0);
	feed(t, "MODIFIED", "p1", "13", "node-3", "Running", 1600);
	assert_times(t, "p1", 100, 250, 600, false);
	assert_counts(t, 1, 1, 1);
	assert_false(simload_tracker_done(t));

	/* repeats leave the first times alone and count nothing twice */
	feed(t, "ADDED", "p1", "14", "node-3", "Running", 1900);
	feed(t, "MODIFIED", "p1", "15", "node-4", "Running", 2000);
	assert_times(t, "p1", 100, 250, 600, false);
	assert_counts(t, 1, 1, 1);
	assert_rv(t, "15");

	/* first seen already bound and running: all three times at once */
	assert_int_equal(feed(t, "ADDED", "p2", "16", "node-1", "Running", 2100), SIMLOAD_EV_DONE);
	assert_times(t, "p2", 1100, 1100, 1100, false);
	assert_counts(t, 2, 2, 2);
	assert_true(simload_tracker_done(t));
	simload_tracker_free(t);
}

static void test_tracker_deletions_keep_times_and_ignore_unknown_pods(void **state)
{
	struct simload_tracker *t = simload_tracker_new(10, 0);
	struct simload_pod_times pt;
	struct simload_stats st;

	(void)state;
	feed(t, "ADDED", "p1", "2", "n1", NULL, 5);
	feed(t, "MODIFIED", "p1", "3", "n1", "Running", 9);
	feed(t, "DELETED", "p1", "4", "n1", "Running", 20);
	assert_times(t, "p1", 5, 5, 9, true);
	/* the DELETED event's times do not count as a first observation */
	feed(t, "ADDED", "p2", "5", NULL, NULL, 30);
	feed(t, "DELETED", "p2", "6", "n2", "Running", 40);
	assert_times(t, "p2", 30, -1, -1, true);
	/* never seen before its deletion: not part of the run */
	feed(t, "DELETED", "ghost", "7", "n2", "Running", 50);
	assert_false(simload_tracker_pod(t, "ghost", &pt));
	assert_counts(t, 2, 1, 1);
	assert_rv(t, "7");
	simload_tracker_stats(t, &st);
	assert_int_equal(st.deleted, 2);
	/* a pod of the same name again is live, with its first times kept */
	feed(t, "ADDED", "p2", "8", NULL, NULL, 60);
	assert_times(t, "p2", 30, -1, -1, false);
	simload_tracker_stats(t, &st);
	assert_int_equal(st.deleted, 1);
	simload_tracker_free(t);
}

static void test_tracker_bookmarks_move_the_resume_version_and_errors_end_the_watch(void **state)
{
	struct simload_tracker *t = simload_tracker_new(1, 0);
	cleanup_json json_t *bm = json_pack("{s:s, s:s, s:{s:s}}", "kind", "Pod", "apiVersion",
					    "v1", "metadata", "resourceVersion", "4242");
	cleanup_json json_t *odd = json_pack("{s:{s:s}}", "metadata", "resourceVersion", "1&x=2");
	cleanup_json json_t *gone = json_pack("{s:s, s:s, s:i, s:s}", "kind", "Status", "status",
					      "Failure", "code", 410, "message", "too old");
	cleanup_json json_t *other = json_pack("{s:s, s:i}", "kind", "Status", "code", 500);

	(void)state;
	assert_int_equal(simload_tracker_event(t, "BOOKMARK", bm, 10), SIMLOAD_EV_CONTINUE);
	assert_rv(t, "4242");
	assert_counts(t, 0, 0, 0);
	/* a version that cannot go into a query string is not taken */
	simload_tracker_event(t, "BOOKMARK", odd, 11);
	assert_rv(t, "4242");
	assert_false(simload_tracker_set_rv(t, ""));
	assert_false(simload_tracker_set_rv(t, "a b"));
	assert_rv(t, "4242");
	assert_int_equal(simload_tracker_event(t, "ERROR", gone, 12), SIMLOAD_EV_GONE);
	assert_int_equal(simload_tracker_event(t, "ERROR", other, 13), SIMLOAD_EV_RESTART);
	assert_rv(t, "4242");
	simload_tracker_free(t);
}

static void test_tracker_holds_many_pods_across_growth(void **state)
{
	struct simload_tracker *t = simload_tracker_new(20000, 0);
	char name[64];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "load-%d-6d4f7b9c8-%05d", i / 1000, i);
		feed(t, "ADDED", name, "1", (i % 2) ? "n" : NULL, NULL, i);
	}
	assert_counts(t, 20000, 10000, 0);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "load-%d-6d4f7b9c8-%05d", i / 1000, i);
		assert_times(t, name, i, (i % 2) ? i : -1, -1, false);
	}
	assert_false(
		simload_tracker_pod(t, "load-0-6d4f7b9c8-2000", &(struct simload_pod_times){0}));
	simload_tracker_free(t);
}

/* Nearest rank, as the benchmark has always reported it: ranks at .5 round half to even. */
static void test_pct_is_the_nearest_rank(void **state)
{
	double v[200];
	double few[] = {5, 1, 3};
	double one[] = {7};

	(void)state;
	for (int i = 0; i < 200; i++)
		v[i] = 200 - i;
	assert_true(isnan(simload_pct(v, 0, 50)));
	assert_true(simload_pct(v, 200, 50) == 100);
	assert_true(simload_pct(v, 200, 99) == 198);
	assert_true(simload_pct(v, 200, 0) == 1);
	assert_true(simload_pct(v, 200, 100) == 200);
	for (int i = 0; i < 100; i++)
		v[i] = i + 1;
	assert_true(simload_pct(v, 100, 50) == 50);
	assert_true(simload_pct(v, 100, 99) == 100);
	assert_true(simload_pct(v, 20, 50) == 10);
	assert_true(simload_pct(v, 20, 99) == 20);
	assert_true(simload_pct(v, 10, 50) == 6);
	assert_true(simload_pct(v, 10, 99) == 10);
	assert_true(simload_pct(few, 3, 50) == 3);
	assert_true(simload_pct(few, 3, 99) == 5);
	assert_true(simload_pct(one, 1, 50) == 7);
	assert_true(simload_pct(one, 1, 99) == 7);
}

static void test_stats_compute_rates_and_latencies_of_known_times(void **state)
{
	struct simload_tracker *t = simload_tracker_new(100, 1000);
	struct simload_stats st;

	(void)state;
	feed(t, "ADDED", "a", "1", NULL, NULL, 1000);
	feed(t, "ADDED", "b", "2", NULL, NULL, 1010);
	feed(t, "ADDED", "c", "3", NULL, NULL, 1020);
	feed(t, "MODIFIED", "a", "4", "n1", NULL, 1100);
	feed(t, "MODIFIED", "b", "5", "n2", NULL, 1210);
	feed(t, "MODIFIED", "a", "6", "n1", "Running", 1300);
	feed(t, "MODIFIED", "b", "7", "n2", "Running", 1510);
	feed(t, "MODIFIED", "c", "8", "n1", NULL, 1520);
	feed(t, "ADDED", "d", "9", NULL, NULL, 2020);
	simload_tracker_stats(t, &st);
	assert_int_equal(st.seen, 4);
	assert_int_equal(st.bound, 3);
	assert_int_equal(st.running, 2);
	assert_int_equal(st.deleted, 0);
	/* 3 bound pods between the first pod seen (0) and the last binding (520 ms) */
	assert_true(fabs(st.sched_rate - 3 / 0.52) < 1e-9);
	/* created -> Running: 300, 500 */
	assert_true(st.start_p50_ms == 500);
	assert_true(st.start_p99_ms == 500);
	/* created -> bound: 100, 200, 500 */
	assert_true(st.bind_p50_ms == 200);
	assert_true(st.bind_p99_ms == 500);
	/* bound -> Running: 200, 300 */
	assert_true(st.run_p50_ms == 300);
	assert_true(st.run_p99_ms == 300);
	assert_true(fabs(st.created_over_s - 1.02) < 1e-9);
	simload_tracker_free(t);
}

static void test_stats_of_nothing_are_nan_and_zero(void **state)
{
	struct simload_tracker *t = simload_tracker_new(100, 0);
	struct simload_stats st;

	(void)state;
	simload_tracker_stats(t, &st);
	assert_int_equal(st.seen, 0);
	assert_true(st.sched_rate == 0);
	assert_true(isnan(st.start_p50_ms) && isnan(st.bind_p99_ms) && isnan(st.run_p50_ms));
	assert_true(st.created_over_s == 0);
	/* one bound pod gives no rate */
	feed(t, "ADDED", "a", "1", "n1", NULL, 5);
	simload_tracker_stats(t, &st);
	assert_true(st.sched_rate == 0);
	assert_true(st.bind_p50_ms == 0);
	simload_tracker_free(t);
}

static void test_proc_parsing_reads_rss_and_cpu_ticks(void **state)
{
	const char *status = "Name:\tskiff\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
	const char *stat = "4242 (a) b) (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
			   "250 75 0 0 20 0 3 0 1000 100000 200 18446744073709551615\n";
	uint64_t v = 0;

	(void)state;
	assert_true(simload_parse_rss_kib(status, &v));
	assert_int_equal(v, 12345);
	assert_false(simload_parse_rss_kib("Name:\tx\nVmHWM:\t1 kB\n", &v));
	assert_false(simload_parse_rss_kib("VmRSS:\tmany kB\n", &v));
	/* "VmRSS" only counts at the start of a line */
	assert_false(simload_parse_rss_kib("Name:\tVmRSS: 5 kB\n", &v));
	assert_true(simload_parse_cpu_ticks(stat, &v));
	assert_int_equal(v, 325);
	assert_false(simload_parse_cpu_ticks("4242 no parenthesis S 1 2\n", &v));
	assert_false(simload_parse_cpu_ticks("4242 (x) S 1 2 3\n", &v));
	assert_false(simload_parse_cpu_ticks("4242 (x) S 1 2 3 4 5 6 7 8 9 10 -3 5\n", &v));
}

static void test_proc_reads_this_process(void **state)
{
	struct err err = ERR_INIT;
	uint64_t kib = 0;
	double s = -1;
	volatile double x = 0;

	(void)state;
	/* a little work so the CPU time is plausibly non-zero; only >= 0 is asserted */
	for (int i = 0; i < 1000000; i++)
		x += i;
	assert_int_equal(simload_proc_rss_kib(getpid(), &kib, &err), 0);
	assert_true(kib > 0);
	assert_int_equal(simload_proc_cpu_s(getpid(), &s, &err), 0);
	assert_true(s >= 0);
	assert_int_equal(simload_proc_cpu_s(0, &s, &err), 0);
	assert_true(s >= 0);
	/* pid_max is at most 2^22 */
	assert_int_equal(simload_proc_cpu_s(99999999, &s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/proc/99999999/stat"));
	err_clear(&err);
}

static void test_latency_pods_are_bare_pods_of_the_same_shape(void **state)
{
	struct simload_config cfg = {.cpu_request = "250m"};
	cleanup_json json_t *p = simload_latency_pod(&cfg, 7);
	cleanup_free char *text = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);

	(void)state;
	assert_string_equal(
		text, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
		      "\"latency-7\",\"labels\":{\"app\":\"latency\"}},\"spec\":{\"containers\":[{"
		      "\"name\":\"main\",\"image\":\"registry.local/app:1\",\"resources\":{"
		      "\"requests\":{\"cpu\":\"250m\",\"memory\":\"16Mi\"}}}]}}");
}

static void test_deployments_split_pods_and_carry_the_requested_shape(void **state)
{
	struct simload_config cfg = {0};
	cleanup_json json_t *d = NULL, *d2 = NULL;
	cleanup_free char *text = NULL;
	const char *want =
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
		"\"load-2\"},\"spec\":{\"replicas\":500,\"selector\":{\"matchLabels\":{\"app\":"
		"\"load-2\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"load-2\"}},"
		"\"spec\":"
		"{\"containers\":[{\"name\":\"main\",\"image\":\"registry.local/app:1\","
		"\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":\"16Mi\"}}}]}}}}";
	json_t *c;

	(void)state;
	assert_int_equal(simload_deployment_count(2500, 1000), 3);
	assert_int_equal(simload_deployment_replicas(2500, 1000, 0), 1000);
	assert_int_equal(simload_deployment_replicas(2500, 1000, 1), 1000);
	assert_int_equal(simload_deployment_replicas(2500, 1000, 2), 500);
	assert_int_equal(simload_deployment_replicas(2500, 1000, 3), 0);
	assert_int_equal(simload_deployment_count(3000, 1000), 3);
	assert_int_equal(simload_deployment_replicas(3000, 1000, 2), 1000);
	assert_int_equal(simload_deployment_count(7, 1000), 1);
	assert_int_equal(simload_deployment_replicas(7, 1000, 0), 7);

	d = simload_deployment(&cfg, 2, 500);
	assert_non_null(d);
	text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(text, want);

	cfg.image = "example/app:2";
	cfg.cpu_request = "250m";
	cfg.memory_request = "1Gi";
	d2 = simload_deployment(&cfg, 17, 1000);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(d2, "spec"), "replicas")), 1000);
	c = json_array_get(
		json_object_get(
			json_object_get(json_object_get(json_object_get(d2, "spec"), "template"),
					"spec"),
			"containers"),
		0);
	assert_string_equal(json_string_value(json_object_get(c, "image")), "example/app:2");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(c, "resources"), "requests"), "cpu")),
		"250m");
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(c, "resources"), "requests"), "memory")),
		"1Gi");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(d2, "metadata"), "name")),
		"load-17");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tracker_records_first_seen_bound_and_running_times),
		cmocka_unit_test(test_tracker_deletions_keep_times_and_ignore_unknown_pods),
		cmocka_unit_test(
			test_tracker_bookmarks_move_the_resume_version_and_errors_end_the_watch),
		cmocka_unit_test(test_tracker_holds_many_pods_across_growth),
		cmocka_unit_test(test_pct_is_the_nearest_rank),
		cmocka_unit_test(test_stats_compute_rates_and_latencies_of_known_times),
		cmocka_unit_test(test_stats_of_nothing_are_nan_and_zero),
		cmocka_unit_test(test_proc_parsing_reads_rss_and_cpu_ticks),
		cmocka_unit_test(test_proc_reads_this_process),
		cmocka_unit_test(test_deployments_split_pods_and_carry_the_requested_shape),
		cmocka_unit_test(test_latency_pods_are_bare_pods_of_the_same_shape),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("simload", tests, NULL, NULL);
}
