/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the workload controllers (cluster/controllers: cron.c, batch_util.c, job.c,
 * cronjob.c, daemonset.c, statefulset.c): cron parsing and next activation times in time
 * zones, selectors, pod ordering, and the pure decisions of each controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/controllers/batch_util.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/cron.h"

#include "api_fixture.h"

static json_t *J(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

static int64_t T(const char *rfc3339)
{
	int64_t t = ctlb_time_parse(rfc3339);

	assert_true(t >= 0);
	return t;
}

static void expect_next(const char *spec, const char *zone, const char *after, const char *want)
{
	struct cron_schedule *s = NULL;
	struct cron_zone *z = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	int64_t t;

	if (cron_parse(spec, &s, &err) < 0)
		fail_msg("parse '%s': %s", spec, err.msg);
	if (!zone)
		zone = cron_schedule_zone(s);
	if (zone && cron_zone_load(NULL, zone, &z, &err) < 0)
		fail_msg("zone '%s': %s", zone, err.msg);
	t = cron_next(s, z ? z : NULL, T(after));
	if (!want) {
		assert_int_equal(t, -1);
	} else {
		got = ctlb_time_fmt(t);
		if (strcmp(got, want) != 0)
			fail_msg("'%s' in %s after %s: got %s, want %s", spec, zone ? zone : "UTC",
				 after, got, want);
	}
	cron_schedule_free(s);
	cron_zone_free(z);
}

static void test_cron_next_follows_fields_and_steps(void **state)
{
	(void)state;
	expect_next("*/15 * * * *", "UTC", "2024-01-01T00:07:30Z", "2024-01-01T00:15:00Z");
	expect_next("*/15 * * * *", "UTC", "2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z");
	expect_next("* * * * *", "UTC", "2024-01-01T00:00:59Z", "2024-01-01T00:01:00Z");
	expect_next("5 4 * * *", "UTC", "2024-01-01T04:05:00Z", "2024-01-02T04:05:00Z");
	expect_next("0 0 29 2 *", "UTC", "2023-03-01T00:00:00Z", "2024-02-29T00:00:00Z");
	expect_next("0 9 * * mon-fri", "UTC", "2024-01-06T10:00:00Z", "2024-01-08T09:00:00Z");
	expect_next("0 0 * JAN,jul SUN", "UTC", "2024-02-01T00:00:00Z", "2024-07-07T00:00:00Z");
	expect_next("10-20/5 3 * * ?", "UTC", "2024-01-01T03:16:00Z", "2024-01-01T03:20:00Z");
	expect_next("7/20 * * * *", "UTC", "2024-01-01T00:28:00Z", "2024-01-01T00:47:00Z");
	expect_next("0 0 30 2 *", "UTC", "2024-01-01T00:00:00Z", NULL);
}

static void test_cron_restricted_dom_and_dow_are_alternatives(void **state)
{
	(void)state;
	/* 2024-01-02 is a Tuesday: the next Monday (the 8th) comes before February 1st. */
	expect_next("0 0 1 * 1", "UTC", "2024-01-02T00:00:00Z", "2024-01-08T00:00:00Z");
	/* With a "*" day-of-week only the day of month counts. */
	expect_next("0 0 1 * *", "UTC", "2024-01-02T00:00:00Z", "2024-02-01T00:00:00Z");
	/* A stepped star is a restriction, so the fields are alternatives again. */
	expect_next("0 0 */10 * 1", "UTC", "2024-01-02T00:00:00Z", "2024-01-08T00:00:00Z");
}

static void test_cron_descriptors_and_every(void **state)
{
	(void)state;
	expect_next("@hourly", "UTC", "2024-01-01T10:59:59Z", "2024-01-01T11:00:00Z");
	expect_next("@daily", "UTC", "2024-01-01T10:00:00Z", "2024-01-02T00:00:00Z");
	expect_next("@weekly", "UTC", "2024-01-01T10:00:00Z", "2024-01-07T00:00:00Z");
	expect_next("@monthly", "UTC", "2024-01-01T10:00:00Z", "2024-02-01T00:00:00Z");
	expect_next("@yearly", "UTC", "2024-01-01T10:00:00Z", "2025-01-01T00:00:00Z");
	expect_next("@every 1m30s", "UTC", "2024-01-01T10:00:00Z", "2024-01-01T10:01:30Z");
}

static void test_cron_next_in_time_zones(void **state)
{
	(void)state;
	expect_next("0 9 * * *", "America/New_York", "2024-07-01T00:00:00Z",
		    "2024-07-01T13:00:00Z");
	expect_next("0 9 * * *", "America/New_York", "2024-01-10T00:00:00Z",
		    "2024-01-10T14:00:00Z");
	/* Past the file's transitions the POSIX footer rule decides. */
	expect_next("0 9 * * *", "America/New_York", "2060-07-01T00:00:00Z",
		    "2060-07-01T13:00:00Z");
	expect_next("0 9 * * *", "America/New_York", "2060-12-01T00:00:00Z",
		    "2060-12-01T14:00:00Z");
	/* 02:30 does not exist in Berlin on 2024-03-31; the next run is a day later. */
	expect_next("30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z", "2024-04-01T00:30:00Z");
	expect_next("0 0 * * *", "Etc/GMT-3", "2024-01-01T00:00:00Z", "2024-01-01T21:00:00Z");
	expect_next("TZ=Asia/Tokyo 0 0 * * *", NULL, "2024-01-01T00:00:00Z",
		    "2024-01-01T15:00:00Z");
	expect_next("CRON_TZ=UTC 0 0 * * *", NULL, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z");
}

static const struct {
	const char *spec, *msg;
} bad_specs[] = {
	{"* * * *", "expected exactly 5 fields, found 4: * * * *"},
	{"* * * * * *", "expected exactly 5 fields, found 6: * * * * * *"},
	{"60 * * * *", "end of range (60) above maximum (59): 60"},
	{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
	{"5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"},
	{"*/0 * * * *", "step of range should be a positive number: */0"},
	{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
	{"1/2/3 * * * *", "too many slashes: 1/2/3"},
	{"x * * * *", "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"},
	{"* * * foo *", "failed to parse int from foo: strconv.Atoi: parsing \"foo\": invalid "
			"syntax"},
	{"* * * * 7", "end of range (7) above maximum (6): 7"},
	{"@fortnightly", "unrecognized descriptor: @fortnightly"},
	{"", "empty spec string"},
};

static void test_cron_parse_rejects_bad_specs_with_upstream_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_specs) / sizeof(bad_specs[0]); i++) {
		struct cron_schedule *s = NULL;
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(cron_parse(bad_specs[i].spec, &s, &err), -EINVAL);
		if (strcmp(err.msg, bad_specs[i].msg) != 0)
			fail_msg("'%s': got '%s', want '%s'", bad_specs[i].spec, err.msg,
				 bad_specs[i].msg);
		assert_null(s);
	}
}

static void test_cron_zone_load_refuses_unknown_and_escaping_names(void **state)
{
	struct cron_zone *z = NULL;
	cleanup_err struct err e1 = ERR_INIT, e2 = ERR_INIT, e3 = ERR_INIT;

	(void)state;
	assert_int_equal(cron_zone_load(NULL, "Mars/Olympus", &z, &e1), -ENOENT);
	assert_int_equal(cron_zone_load(NULL, "../etc/passwd", &z, &e2), -EINVAL);
	assert_int_equal(cron_zone_load(NULL, "Local", &z, &e3), -EINVAL);
	assert_null(z);
}

/* ---- batch_util ---- */

static void test_time_parse_reads_rfc3339_with_offsets_and_fractions(void **state)
{
	cleanup_free char *s = NULL;

	(void)state;
	assert_int_equal(ctlb_time_parse("1970-01-01T00:01:00Z"), 60);
	assert_int_equal(ctlb_time_parse("1970-01-01T01:01:00.123+01:00"), 60);
	assert_int_equal(ctlb_time_parse("1970-01-01T00:00:00-00:01"), 60);
	assert_int_equal(ctlb_time_parse("yesterday"), -1);
	assert_int_equal(ctlb_time_parse(NULL), -1);
	s = ctlb_time_fmt(1704067200);
	assert_string_equal(s, "2024-01-01T00:00:00Z");
}

static void test_selector_match_labels_and_expressions(void **state)
{
	cleanup_json json_t *sel = J("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":"
				     "[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":"
				     "[\"db\"]},{\"key\":\"env\",\"operator\":\"Exists\"}]}");
	cleanup_json json_t *l1 = J("{\"app\":\"web\",\"env\":\"x\"}");
	cleanup_json json_t *l2 = J("{\"app\":\"web\",\"env\":\"x\",\"tier\":\"db\"}");
	cleanup_json json_t *l3 = J("{\"app\":\"web\"}");
	cleanup_json json_t *empty = J("{}");
	cleanup_json json_t *gt = J("{\"key\":\"n\",\"operator\":\"Gt\",\"values\":[\"5\"]}");

	(void)state;
	assert_true(ctlb_selector_match(sel, l1));
	assert_false(ctlb_selector_match(sel, l2));
	assert_false(ctlb_selector_match(sel, l3));
	assert_true(ctlb_selector_match(empty, l3));
	assert_false(ctlb_selector_match(NULL, l3));
	assert_true(ctlb_requirement_match(gt, "6"));
	assert_false(ctlb_requirement_match(gt, "5"));
	assert_false(ctlb_requirement_match(gt, "x"));
	assert_false(ctlb_requirement_match(gt, NULL));
}

static void test_pods_ordered_for_deletion_unscheduled_then_not_ready_then_newest(void **state)
{
	json_t *pods[4];

	(void)state;
	pods[0] = J("{\"metadata\":{\"name\":\"ready-old\",\"creationTimestamp\":"
		    "\"2024-01-01T00:00:00Z\"},\"spec\":{\"nodeName\":\"n\"},\"status\":{"
		    "\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
		    "\"True\",\"lastTransitionTime\":\"2024-01-01T00:00:00Z\"}]}}");
	pods[1] = J("{\"metadata\":{\"name\":\"unscheduled\"},\"spec\":{},\"status\":{\"phase\":"
		    "\"Pending\"}}");
	pods[2] = J("{\"metadata\":{\"name\":\"notready\"},\"spec\":{\"nodeName\":\"n\"},"
		    "\"status\":{\"phase\":\"Running\"}}");
	pods[3] = J("{\"metadata\":{\"name\":\"ready-new\",\"creationTimestamp\":"
		    "\"2024-01-02T00:00:00Z\"},\"spec\":{\"nodeName\":\"n\"},\"status\":{"
		    "\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
		    "\"True\",\"lastTransitionTime\":\"2024-01-02T00:00:00Z\"}]}}");
	qsort(pods, 4, sizeof(pods[0]), ctlb_pod_cmp_delete_first);
	assert_string_equal(ctlb_str(pods[0], "metadata.name"), "unscheduled");
	assert_string_equal(ctlb_str(pods[1], "metadata.name"), "notready");
	assert_string_equal(ctlb_str(pods[2], "metadata.name"), "ready-new");
	assert_string_equal(ctlb_str(pods[3], "metadata.name"), "ready-old");
	for (int i = 0; i < 4; i++)
		json_decref(pods[i]);
}

static void test_revision_hash_is_stable_and_depends_on_collisions(void **state)
{
	cleanup_json json_t *a = J("{\"spec\":{\"template\":{\"b\":1,\"a\":2}}}");
	cleanup_json json_t *b = J("{\"spec\":{\"template\":{\"a\":2,\"b\":1}}}");
	cleanup_free char *ha = ctlb_revision_hash(a, 0), *hb = ctlb_revision_hash(b, 0);
	cleanup_free char *hc = ctlb_revision_hash(a, 1);

	(void)state;
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
	for (const char *p = ha; *p; p++)
		assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
}

/* ---- pure controller decisions ---- */

static void test_job_counts_terminating_pods_as_failed_unless_policy_is_failed(void **state)
{
	cleanup_json json_t *job = J("{\"spec\":{\"podReplacementPolicy\":"
				     "\"TerminatingOrFailed\"}}");
	cleanup_json json_t *strict = J("{\"spec\":{\"podReplacementPolicy\":\"Failed\"}}");
	cleanup_json json_t *dying = J("{\"metadata\":{\"deletionTimestamp\":"
				       "\"2024-01-01T00:00:00Z\"},\"status\":{\"phase\":"
				       "\"Running\"}}");
	cleanup_json json_t *done = J("{\"metadata\":{\"deletionTimestamp\":"
				      "\"2024-01-01T00:00:00Z\"},\"status\":{\"phase\":"
				      "\"Succeeded\"}}");
	cleanup_json json_t *failed = J("{\"status\":{\"phase\":\"Failed\"}}");

	(void)state;
	assert_true(job_pod_failed(dying, job));
	assert_false(job_pod_failed(dying, strict));
	assert_false(job_pod_failed(done, job));
	assert_true(job_pod_failed(failed, strict));
}

static void test_job_wants_parallelism_capped_by_remaining_completions(void **state)
{
	cleanup_json json_t *j1 = J("{\"spec\":{\"parallelism\":3,\"completions\":5}}");
	cleanup_json json_t *j2 = J("{\"spec\":{\"parallelism\":3}}");

	(void)state;
	assert_int_equal(job_want_active(j1, 0, 0), 3);
	assert_int_equal(job_want_active(j1, 3, 2), 2);
	assert_int_equal(job_want_active(j1, 6, 0), 0);
	/* Work queue jobs: once one pod succeeded, no more are started. */
	assert_int_equal(job_want_active(j2, 0, 1), 3);
	assert_int_equal(job_want_active(j2, 1, 2), 2);
	assert_int_equal(job_backoff_delay_ms(0, 10000), 0);
	assert_int_equal(job_backoff_delay_ms(1, 10000), 10000);
	assert_int_equal(job_backoff_delay_ms(3, 10000), 40000);
	assert_int_equal(job_backoff_delay_ms(30, 10000), 600000);
}

static void test_job_completed_indexes_round_trip(void **state)
{
	bool set[10] = {0};
	cleanup_free char *s = NULL;

	(void)state;
	assert_true(job_indexes_parse("0-2,5,7-8", set, 10));
	assert_true(set[0] && set[1] && set[2] && !set[3] && set[5] && set[8] && !set[9]);
	s = job_indexes_format(set, 10);
	assert_string_equal(s, "0-2,5,7-8");
	assert_false(job_indexes_parse("3-1", set, 10));
	assert_false(job_indexes_parse("x", set, 10));
}

static void test_cronjob_most_recent_time_and_job_names(void **state)
{
	struct cron_schedule *s = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *name = NULL, *stamp = NULL, *utc = NULL;
	int64_t missed, t;

	(void)state;
	assert_int_equal(cron_parse("*/5 * * * *", &s, &err), 0);
	t = cronjob_most_recent(s, NULL, T("2024-01-01T00:00:00Z"), T("2024-01-01T00:17:00Z"),
				&missed);
	assert_int_equal(t, T("2024-01-01T00:15:00Z"));
	assert_int_equal(missed, 3);
	t = cronjob_most_recent(s, NULL, T("2024-01-01T00:00:00Z"), T("2024-01-01T00:04:00Z"),
				&missed);
	assert_int_equal(t, -1);
	assert_int_equal(missed, 0);
	/* Many missed: still the latest time, found without walking every one. */
	t = cronjob_most_recent(s, NULL, T("2023-01-01T00:00:00Z"), T("2024-01-01T00:17:00Z"),
				&missed);
	assert_int_equal(t, T("2024-01-01T00:15:00Z"));
	assert_true(missed > 100);
	cron_schedule_free(s);
	name = cronjob_job_name("hello", T("2024-01-01T00:15:00Z"));
	assert_string_equal(name, "hello-28401135");
	stamp = cronjob_time_in_zone(T("2024-01-01T00:15:00Z"), 3600 + 1800);
	assert_string_equal(stamp, "2024-01-01T01:45:00+01:30");
	utc = cronjob_time_in_zone(T("2024-01-01T00:15:00Z"), 0);
	assert_string_equal(utc, "2024-01-01T00:15:00Z");
}

static void test_daemon_eligibility_follows_selectors_taints_and_tolerations(void **state)
{
	cleanup_json json_t *ds = J("{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{"
				    "\"disk\":\"ssd\"},\"tolerations\":[{\"key\":\"gpu\","
				    "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]}}}}");
	cleanup_json json_t *plain = J("{\"metadata\":{\"name\":\"a\",\"labels\":{\"disk\":"
				       "\"ssd\"}}}");
	cleanup_json json_t *hdd = J("{\"metadata\":{\"name\":\"b\",\"labels\":{\"disk\":"
				     "\"hdd\"}}}");
	cleanup_json json_t *gpu = J("{\"metadata\":{\"name\":\"c\",\"labels\":{\"disk\":"
				     "\"ssd\"}},\"spec\":{\"taints\":[{\"key\":\"gpu\",\"value\":"
				     "\"x\",\"effect\":\"NoSchedule\"}]}}");
	cleanup_json json_t *notready =
		J("{\"metadata\":{\"name\":\"d\",\"labels\":{\"disk\":\"ssd\"}},\"spec\":{"
		  "\"taints\":[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"},"
		  "{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]}}");
	cleanup_json json_t *dedicated =
		J("{\"metadata\":{\"name\":\"e\",\"labels\":{\"disk\":\"ssd\"}},\"spec\":{"
		  "\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":"
		  "\"NoSchedule\"}]}}");
	cleanup_json json_t *evict =
		J("{\"metadata\":{\"name\":\"f\",\"labels\":{\"disk\":\"ssd\"}},\"spec\":{"
		  "\"taints\":[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":"
		  "\"NoExecute\"}]}}");
	cleanup_json json_t *aff = J(
		"{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution"
		"\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"disk\","
		"\"operator\":\"In\",\"values\":[\"hdd\"]}]},{\"matchFields\":[{\"key\":"
		"\"metadata.name\",\"operator\":\"In\",\"values\":[\"a\"]}]}]}}}}");
	bool run, cont;

	(void)state;
	daemon_node_should_run(ds, plain, &run, &cont);
	assert_true(run && cont);
	daemon_node_should_run(ds, hdd, &run, &cont);
	assert_true(!run && !cont);
	daemon_node_should_run(ds, gpu, &run, &cont);
	assert_true(run && cont);
	/* The default DaemonSet tolerations cover not-ready and unschedulable nodes. */
	daemon_node_should_run(ds, notready, &run, &cont);
	assert_true(run && cont);
	daemon_node_should_run(ds, dedicated, &run, &cont);
	assert_true(!run && cont);
	daemon_node_should_run(ds, evict, &run, &cont);
	assert_true(!run && !cont);
	assert_true(daemon_node_selected(aff, hdd));
	assert_true(daemon_node_selected(aff, plain));
	assert_false(daemon_node_selected(aff, gpu));
}

static void test_daemon_pod_node_comes_from_name_or_affinity(void **state)
{
	cleanup_json json_t *bound = J("{\"spec\":{\"nodeName\":\"n1\"}}");
	cleanup_json json_t *pending =
		J("{\"spec\":{\"affinity\":{\"nodeAffinity\":{"
		  "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":[{"
		  "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":"
		  "[\"n2\"]}]}]}}}}}");
	cleanup_json json_t *spec = J("{\"hostNetwork\":true,\"tolerations\":[{\"key\":"
				      "\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
				      "\"effect\":\"NoExecute\"}]}");
	cleanup_json json_t *tols = daemon_tolerations(spec);

	(void)state;
	assert_string_equal(daemon_pod_node(bound), "n1");
	assert_string_equal(daemon_pod_node(pending), "n2");
	/* six defaults (one already present) plus network-unavailable for host networking */
	assert_int_equal(json_array_size(tols), 7);
}

static void test_stateful_ordinals_claims_and_pod_identity(void **state)
{
	cleanup_json json_t *set =
		J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"u1\"},"
		  "\"spec\":{\"serviceName\":\"nginx\",\"template\":{\"metadata\":{\"labels\":{"
		  "\"app\":\"web\"}},\"spec\":{\"volumes\":[{\"name\":\"www\",\"emptyDir\":{}}],"
		  "\"containers\":[{\"name\":\"c\"}]}},\"volumeClaimTemplates\":[{\"metadata\":{"
		  "\"name\":\"www\"}}]}}");
	cleanup_json json_t *pod = NULL;
	cleanup_free char *claim = stateful_claim_name("www", "web", 2);
	json_t *vols;

	(void)state;
	assert_int_equal(stateful_ordinal("web", "web-0"), 0);
	assert_int_equal(stateful_ordinal("web", "web-12"), 12);
	assert_int_equal(stateful_ordinal("web", "web-01"), -1);
	assert_int_equal(stateful_ordinal("web", "web-x"), -1);
	assert_int_equal(stateful_ordinal("web", "webby-1"), -1);
	assert_int_equal(stateful_ordinal("web", "web-"), -1);
	assert_string_equal(claim, "www-web-2");
	pod = stateful_new_pod(set, ctlb_get(set, "spec.template"), 2, "web-abc");
	assert_string_equal(ctlb_str(pod, "metadata.name"), "web-2");
	assert_string_equal(ctlb_str(pod, "spec.hostname"), "web-2");
	assert_string_equal(ctlb_str(pod, "spec.subdomain"), "nginx");
	assert_string_equal(json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"),
							      "apps.kubernetes.io/pod-index")),
			    "2");
	assert_string_equal(
		json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"),
						  "statefulset.kubernetes.io/pod-name")),
		"web-2");
	assert_string_equal(json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"),
							      "controller-revision-hash")),
			    "web-abc");
	vols = ctlb_get(pod, "spec.volumes");
	assert_int_equal(json_array_size(vols), 1);
	assert_string_equal(ctlb_str(json_array_get(vols, 0), "persistentVolumeClaim.claimName"),
			    "www-web-2");
	assert_string_equal(ctlb_str(ctlb_controller_ref(pod), "kind"), "StatefulSet");
}

/* ---- in-process cluster ---------------------------------------------------------------- */

#define TOKEN "test-admin-token"

static struct cluster {
	char dir[TEST_API_DIR_MAX];
	struct api *api;
	struct kc *c;
	pthread_t kubelet;
	volatile bool stop;
	void *job, *cronjob, *daemonset, *statefulset;
} cl;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int req(const char *method, const char *path, const json_t *body, json_t **ret)
{
	cleanup_err struct err err = ERR_INIT;

	return kc_request(cl.c, method, path, NULL, body, ret, &err);
}

static json_t *get(const char *path)
{
	json_t *ret = NULL;

	if (req("GET", path, NULL, &ret) != 200) {
		json_decref(ret);
		return NULL;
	}
	return ret;
}

static void create(const char *path, const char *text)
{
	cleanup_json json_t *body = J(text), *ret = NULL;
	int rc = req("POST", path, body, &ret);

	if (rc != 201) {
		cleanup_free char *dump = json_dumps(ret, 0);

		fail_msg("create %s: %d %s", path, rc, dump);
	}
}

/* The first command word of the pod's first container decides how it ends. */
static void kubelet_pod(json_t *pod)
{
	const char *ns = ctlb_str(pod, "metadata.namespace"),
		   *name = ctlb_str(pod, "metadata.name");
	const char *phase = ctlb_str(pod, "status.phase");
	json_t *cmd = ctlb_get(json_array_get(ctlb_get(pod, "spec.containers"), 0), "command");
	const char *word = json_string_value(json_array_get(cmd, 0));
	cleanup_free char *path = NULL, *now = ctlb_time_fmt(ctlb_now());
	cleanup_json json_t *ret = NULL;
	const char *want;

	if (ctlb_get(pod, "metadata.deletionTimestamp")) {
		cleanup_json json_t *opts = json_pack("{s:i}", "gracePeriodSeconds", 0);

		path = xasprintf("/api/v1/namespaces/%s/pods/%s", ns, name);
		req("DELETE", path, opts, NULL);
		return;
	}
	bool hold = json_object_get(ctlb_get(pod, "metadata.annotations"), "test/hold") != NULL;

	if (ctlb_streq(phase, "Succeeded") || ctlb_streq(phase, "Failed") ||
	    (ctlb_streq(phase, "Running") && (hold || ctlb_pod_ready(pod))))
		return;
	want = ctlb_streq(word, "true")    ? "Succeeded"
	       : ctlb_streq(word, "false") ? "Failed"
					   : "Running";
	/* "test/hold" keeps a running pod unready until the test removes it. */
	json_object_set_new(pod, "status",
			    json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "phase", want, "startTime",
				      now, "conditions", "type", "Ready", "status",
				      strcmp(want, "Running") == 0 && !hold ? "True" : "False",
				      "lastTransitionTime", now));
	path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name);
	req("PUT", path, pod, &ret);
}

static void *kubelet_main(void *arg)
{
	(void)arg;
	while (!cl.stop) {
		cleanup_json json_t *list = get("/api/v1/pods");
		json_t *pod;
		size_t i;

		json_array_foreach (json_object_get(list, "items"), i, pod)
			kubelet_pod(pod);
		sleep_ms(50);
	}
	return NULL;
}

static void add_node(const char *name, const char *labels, const char *taints)
{
	cleanup_free char *text = xasprintf(
		"{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\","
		"\"labels\":%s},\"spec\":{\"taints\":%s},\"status\":{\"conditions\":[{\"type\":"
		"\"Ready\",\"status\":\"True\"}]}}",
		name, labels ? labels : "{}", taints ? taints : "[]");

	create("/api/v1/nodes", text);
}

static int cluster_setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.threads = 2,
	};
	struct controllers_config cc = {.workers = 2};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	ctlb_job_backoff_base_ms = 200;
	if (getenv("TEST_DEBUG"))
		log_setup(NULL, LOG_FORMAT_TEXT, LOG_DEBUG);
	test_api_start("ctrl-batch", &cfg, cl.dir, &cl.api, &cl.c);
	if (job_start(cl.c, &cc, &cl.job, &err) < 0 ||
	    cronjob_start(cl.c, &cc, &cl.cronjob, &err) < 0 ||
	    daemonset_start(cl.c, &cc, &cl.daemonset, &err) < 0 ||
	    statefulset_start(cl.c, &cc, &cl.statefulset, &err) < 0)
		fail_msg("start: %s", err.msg);
	add_node("node-a", "{\"disk\":\"ssd\"}", NULL);
	add_node("node-b", "{\"disk\":\"hdd\"}", NULL);
	add_node("node-c", "{\"disk\":\"ssd\"}",
		 "[{\"key\":\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]");
	pthread_create(&cl.kubelet, NULL, kubelet_main, NULL);
	return 0;
}

static int cluster_teardown(void **state)
{
	(void)state;
	cl.stop = true;
	pthread_join(cl.kubelet, NULL);
	job_stop(cl.job);
	cronjob_stop(cl.cronjob);
	daemonset_stop(cl.daemonset);
	statefulset_stop(cl.statefulset);
	test_api_stop(cl.dir, cl.api, cl.c);
	return 0;
}

/* Polls @path until @fn accepts it, up to @secs seconds. */
static json_t *wait_for(const char *path, bool (*fn)(const json_t *obj, const void *arg),
			const void *arg, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		json_t *obj = get(path);

		if (obj && fn(obj, arg))
			return obj;
		json_decref(obj);
		sleep_ms(50);
	}
	{
		cleanup_json json_t *obj = get(path);
		cleanup_free char *dump = obj ? json_dumps(obj, JSON_INDENT(1)) : NULL;

		fail_msg("timed out waiting on %s: %s", path, dump ? dump : "(none)");
	}
	return NULL;
}

static bool has_condition(const json_t *obj, const void *type)
{
	return ctlb_streq(ctlb_str(ctlb_condition(obj, type), "status"), "True");
}

static void wait_gone(const char *path, int secs)
{
	for (int i = 0; i < secs * 20; i++) {
		json_t *obj = get(path);

		if (!obj)
			return;
		json_decref(obj);
		sleep_ms(50);
	}
	fail_msg("timed out waiting for %s to go", path);
}

static bool has_lastsuccess(const json_t *obj, const void *arg)
{
	(void)arg;
	return ctlb_str(obj, "status.lastSuccessfulTime") != NULL &&
	       json_array_size(ctlb_get(obj, "status.active")) == 0;
}

static bool has_event(const char *ns, const char *name, const char *reason)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/events", ns);

	for (int i = 0; i < 40; i++) {
		cleanup_json json_t *list = get(path);
		json_t *e;
		size_t k;

		json_array_foreach (json_object_get(list, "items"), k, e)
			if (ctlb_streq(ctlb_str(e, "involvedObject.name"), name) &&
			    ctlb_streq(ctlb_str(e, "reason"), reason))
				return true;
		sleep_ms(50);
	}
	return false;
}

static json_t *pods_with(const char *selector)
{
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/default/pods?labelSelector=%s", selector);
	json_t *list = get(path), *items = json_incref(json_object_get(list, "items"));

	json_decref(list);
	return items;
}

static void test_job_runs_completions_with_parallelism_and_tracks_pods(void **state)
{
	cleanup_json json_t *job = NULL, *pods = NULL;
	json_t *pod;
	size_t i;

	(void)state;
	create("/apis/batch/v1/namespaces/default/jobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"ok\"},"
	       "\"spec\":{\"completions\":3,\"parallelism\":2,\"template\":{\"spec\":{"
	       "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
	       "\"command\":[\"true\"]}]}}}}");
	job = wait_for("/apis/batch/v1/namespaces/default/jobs/ok", has_condition, "Complete", 15);
	assert_int_equal(ctlb_int(job, "status.succeeded", 0), 3);
	assert_int_equal(ctlb_int(job, "status.failed", 0), 0);
	assert_int_equal(ctlb_int(job, "status.active", -1), 0);
	assert_true(has_condition(job, "SuccessCriteriaMet"));
	assert_string_equal(ctlb_str(ctlb_condition(job, "Complete"), "reason"),
			    "CompletionsReached");
	assert_non_null(ctlb_str(job, "status.completionTime"));
	assert_non_null(ctlb_str(job, "status.startTime"));
	assert_int_equal(json_array_size(ctlb_get(job, "status.uncountedTerminatedPods.succeeded")),
			 0);
	pods = pods_with("batch.kubernetes.io%2Fjob-name%3Dok");
	assert_int_equal(json_array_size(pods), 3);
	json_array_foreach (pods, i, pod) {
		assert_false(ctlb_has_finalizer(pod, "batch.kubernetes.io/job-tracking"));
		assert_string_equal(ctlb_str(ctlb_controller_ref(pod), "uid"),
				    ctlb_str(job, "metadata.uid"));
		assert_string_equal(ctlb_str(ctlb_controller_ref(pod), "kind"), "Job");
	}
	assert_true(has_event("default", "ok", "SuccessfulCreate"));
	assert_true(has_event("default", "ok", "Completed"));
}

static void test_job_fails_after_backoff_limit(void **state)
{
	cleanup_json json_t *job = NULL, *pods = NULL;

	(void)state;
	create("/apis/batch/v1/namespaces/default/jobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"bad\"},"
	       "\"spec\":{\"backoffLimit\":1,\"template\":{\"spec\":{"
	       "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
	       "\"command\":[\"false\"]}]}}}}");
	job = wait_for("/apis/batch/v1/namespaces/default/jobs/bad", has_condition, "Failed", 15);
	assert_int_equal(ctlb_int(job, "status.failed", 0), 2);
	assert_int_equal(ctlb_int(job, "status.succeeded", 0), 0);
	assert_true(has_condition(job, "FailureTarget"));
	assert_string_equal(ctlb_str(ctlb_condition(job, "Failed"), "reason"),
			    "BackoffLimitExceeded");
	assert_string_equal(ctlb_str(ctlb_condition(job, "Failed"), "message"),
			    "Job has reached the specified backoff limit");
	assert_null(ctlb_get(job, "status.completionTime"));
	pods = pods_with("batch.kubernetes.io%2Fjob-name%3Dbad");
	assert_int_equal(json_array_size(pods), 2);
	assert_true(has_event("default", "bad", "BackoffLimitExceeded"));
}

static bool indexes_done(const json_t *obj, const void *arg)
{
	return ctlb_streq(ctlb_str(obj, "status.completedIndexes"), arg) &&
	       has_condition(obj, "Complete");
}

static void test_indexed_job_completes_every_index(void **state)
{
	cleanup_json json_t *job = NULL, *pods = NULL;
	json_t *pod;
	size_t i;

	(void)state;
	create("/apis/batch/v1/namespaces/default/jobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"idx\"},"
	       "\"spec\":{\"completions\":3,\"parallelism\":3,\"completionMode\":\"Indexed\","
	       "\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"
	       "\"c\",\"image\":\"busybox\",\"command\":[\"true\"]}]}}}}");
	job = wait_for("/apis/batch/v1/namespaces/default/jobs/idx", indexes_done, "0-2", 15);
	assert_int_equal(ctlb_int(job, "status.succeeded", 0), 3);
	pods = pods_with("batch.kubernetes.io%2Fjob-name%3Didx");
	assert_int_equal(json_array_size(pods), 3);
	json_array_foreach (pods, i, pod) {
		const char *ix = json_string_value(
			json_object_get(ctlb_get(pod, "metadata.annotations"),
					"batch.kubernetes.io/job-completion-index"));
		cleanup_free char *host = xasprintf("idx-%s", ix ? ix : "?");

		assert_non_null(ix);
		assert_string_equal(ctlb_str(pod, "spec.hostname"), host);
	}
}

static void test_job_with_ttl_is_deleted_after_finishing(void **state)
{
	(void)state;
	create("/apis/batch/v1/namespaces/default/jobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"ttl\"},"
	       "\"spec\":{\"ttlSecondsAfterFinished\":0,\"template\":{\"spec\":{"
	       "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
	       "\"command\":[\"true\"]}]}}}}");
	wait_gone("/apis/batch/v1/namespaces/default/jobs/ttl", 15);
}

static void test_suspended_job_starts_no_pods(void **state)
{
	cleanup_json json_t *job = NULL, *pods = NULL;

	(void)state;
	create("/apis/batch/v1/namespaces/default/jobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"held\"},"
	       "\"spec\":{\"suspend\":true,\"template\":{\"spec\":{"
	       "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
	       "\"command\":[\"sleep\"]}]}}}}");
	job = wait_for("/apis/batch/v1/namespaces/default/jobs/held", has_condition, "Suspended",
		       10);
	assert_null(ctlb_get(job, "status.startTime"));
	pods = pods_with("batch.kubernetes.io%2Fjob-name%3Dheld");
	assert_int_equal(json_array_size(pods), 0);
}

/*
 * The CronJob started a Job: it is active, or (the test's kubelet ends a "true" container
 * at once) already done, and only the schedule time tells, between two polls.
 */
static bool has_scheduled(const json_t *obj, const void *arg)
{
	(void)arg;
	return json_array_size(ctlb_get(obj, "status.active")) > 0 ||
	       ctlb_str(obj, "status.lastScheduleTime");
}

static void test_cronjob_creates_a_job_at_the_scheduled_minute(void **state)
{
	cleanup_json json_t *cj = NULL, *job = NULL;
	cleanup_free char *job_path = NULL, *want_stamp = NULL;
	int64_t now_ms = ctlb_now_ms(), next;
	json_t *ref;

	(void)state;
	/* Move the controllers' clock to 1.5 s before the next minute. */
	next = (now_ms / 60000 + 1) * 60000;
	ctlb_clock_shift(next - 1500 - now_ms);
	create("/apis/batch/v1/namespaces/default/cronjobs",
	       "{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":"
	       "\"tick\"},\"spec\":{\"schedule\":\"*/1 * * * *\",\"timeZone\":\"Etc/GMT-2\","
	       "\"jobTemplate\":{\"metadata\":{\"labels\":{\"from\":\"cron\"}},\"spec\":{"
	       "\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"
	       "\"c\",\"image\":\"busybox\",\"command\":[\"true\"]}]}}}}}}");
	cj = wait_for("/apis/batch/v1/namespaces/default/cronjobs/tick", has_scheduled, NULL, 10);
	ctlb_clock_shift(0);
	job_path = xasprintf("/apis/batch/v1/namespaces/default/jobs/tick-%lld",
			     (long long)(next / 60000));
	/* still active: the reference names the Job of that minute */
	ref = json_array_get(ctlb_get(cj, "status.active"), 0);
	if (ref)
		assert_string_equal(ctlb_str(ref, "name"),
				    job_path + strlen("/apis/batch/v1/namespaces/default/jobs/"));
	assert_int_equal(ctlb_time_parse(ctlb_str(cj, "status.lastScheduleTime")), next / 1000);
	job = get(job_path);
	assert_non_null(job);
	want_stamp = cronjob_time_in_zone(next / 1000, 7200);
	assert_string_equal(json_string_value(json_object_get(
				    ctlb_get(job, "metadata.annotations"),
				    "batch.kubernetes.io/cronjob-scheduled-timestamp")),
			    want_stamp);
	assert_string_equal(
		json_string_value(json_object_get(ctlb_get(job, "metadata.labels"), "from")),
		"cron");
	assert_string_equal(ctlb_str(ctlb_controller_ref(job), "kind"), "CronJob");
	assert_true(has_event("default", "tick", "SuccessfulCreate"));
	/* The job completes; the controller notices and records the success. */
	json_decref(wait_for("/apis/batch/v1/namespaces/default/cronjobs/tick", has_lastsuccess,
			     NULL, 15));
	assert_true(has_event("default", "tick", "SawCompletedJob"));
}

static bool ds_settled(const json_t *obj, const void *arg)
{
	int64_t want = (int64_t)(intptr_t)arg;

	return ctlb_int(obj, "status.desiredNumberScheduled", -1) == want &&
	       ctlb_int(obj, "status.numberReady", -1) == want &&
	       ctlb_int(obj, "status.updatedNumberScheduled", -1) == want &&
	       ctlb_int(obj, "status.currentNumberScheduled", -1) == want &&
	       ctlb_int(obj, "status.observedGeneration", -1) ==
		       ctlb_int(obj, "metadata.generation", -2);
}

static json_t *live_pods(const char *selector)
{
	json_t *all = pods_with(selector), *out = json_array(), *pod;
	size_t i;

	json_array_foreach (all, i, pod)
		if (!ctlb_get(pod, "metadata.deletionTimestamp"))
			json_array_append(out, pod);
	json_decref(all);
	return out;
}

static void test_daemonset_runs_one_pod_per_eligible_node_and_rolls_updates(void **state)
{
	cleanup_json json_t *ds = NULL, *pods = NULL, *revs = NULL, *patched = NULL;
	cleanup_json json_t *patch = NULL;
	json_t *pod;
	size_t i;
	bool seen_a = false, seen_b = false;

	(void)state;
	create("/apis/apps/v1/namespaces/default/daemonsets",
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":"
	       "\"agent\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"agent\"}},"
	       "\"template\":{\"metadata\":{\"labels\":{\"app\":\"agent\"}},\"spec\":{"
	       "\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1\",\"command\":"
	       "[\"sleep\"]}]}}}}");
	/* node-c's NoSchedule taint is not tolerated: two of three nodes */
	ds = wait_for("/apis/apps/v1/namespaces/default/daemonsets/agent", ds_settled,
		      (void *)(intptr_t)2, 15);
	assert_int_equal(ctlb_int(ds, "status.numberMisscheduled", -1), 0);
	assert_int_equal(ctlb_int(ds, "status.numberAvailable", -1), 2);
	pods = live_pods("app%3Dagent");
	assert_int_equal(json_array_size(pods), 2);
	json_array_foreach (pods, i, pod) {
		const char *node = daemon_pod_node(pod);

		seen_a = seen_a || ctlb_streq(node, "node-a");
		seen_b = seen_b || ctlb_streq(node, "node-b");
		assert_non_null(json_object_get(ctlb_get(pod, "metadata.labels"),
						"controller-revision-hash"));
		assert_true(json_array_size(ctlb_get(pod, "spec.tolerations")) >= 6);
	}
	assert_true(seen_a && seen_b);
	assert_true(has_event("default", "agent", "SuccessfulCreate"));

	/* A new node gets its pod. */
	add_node("node-d", "{}", NULL);
	json_decref(ds);
	ds = wait_for("/apis/apps/v1/namespaces/default/daemonsets/agent", ds_settled,
		      (void *)(intptr_t)3, 15);

	/* A template change rolls every pod over to a second revision. */
	patch = J("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
		  "\"image\":\"busybox:2\"}]}}}}");
	{
		cleanup_err struct err err = ERR_INIT;
		int rc = kc_request(
			cl.c, "PATCH", "/apis/apps/v1/namespaces/default/daemonsets/agent",
			"application/strategic-merge-patch+json", patch, &patched, &err);

		assert_int_equal(rc, 200);
	}
	json_decref(ds);
	ds = wait_for("/apis/apps/v1/namespaces/default/daemonsets/agent", ds_settled,
		      (void *)(intptr_t)3, 20);
	json_decref(pods);
	pods = live_pods("app%3Dagent");
	assert_int_equal(json_array_size(pods), 3);
	json_array_foreach (pods, i, pod)
		assert_string_equal(
			ctlb_str(json_array_get(ctlb_get(pod, "spec.containers"), 0), "image"),
			"busybox:2");
	revs = get("/apis/apps/v1/namespaces/default/controllerrevisions");
	{
		int64_t max = 0, n = 0;
		json_t *r;

		json_array_foreach (json_object_get(revs, "items"), i, r) {
			if (!ctlb_streq(ctlb_str(ctlb_controller_ref(r), "name"), "agent"))
				continue;
			n++;
			if (ctlb_int(r, "revision", 0) > max)
				max = ctlb_int(r, "revision", 0);
		}
		assert_int_equal(n, 2);
		assert_int_equal(max, 2);
	}
}

static json_t *get_pod(const char *name)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/default/pods/%s", name);

	return get(path);
}

static bool sts_ready(const json_t *obj, const void *arg)
{
	int64_t want = (int64_t)(intptr_t)arg;

	return ctlb_int(obj, "status.readyReplicas", -1) == want &&
	       ctlb_int(obj, "status.replicas", -1) == want &&
	       ctlb_int(obj, "status.observedGeneration", -1) ==
		       ctlb_int(obj, "metadata.generation", -2);
}

static void test_statefulset_creates_pods_in_order_with_claims_and_scales_down(void **state)
{
	cleanup_json json_t *set = NULL, *patch = NULL, *pvc = NULL;
	int64_t seen = -1;

	(void)state;
	create("/apis/apps/v1/namespaces/default/statefulsets",
	       "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"name\":"
	       "\"web\"},\"spec\":{\"replicas\":3,\"serviceName\":\"web\",\"selector\":{"
	       "\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{"
	       "\"app\":\"web\"},\"annotations\":{\"test/hold\":\"1\"}},\"spec\":{"
	       "\"containers\":[{\"name\":\"c\",\"image\":\"nginx\",\"command\":[\"sleep\"]"
	       "}]}},\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"data\"},\"spec\":{"
	       "\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":"
	       "\"1Gi\"}}}}]}}");
	/*
	 * Each pod is held unready for a moment: its successor must not exist until the test
	 * lets it become ready.
	 */
	for (int round = 0; round < 300; round++) {
		for (int64_t o = seen + 1; o <= 2; o++) {
			cleanup_free char *name = xasprintf("web-%lld", (long long)o);
			cleanup_json json_t *pod = get_pod(name);

			if (!pod)
				break;
			if (o > 0) {
				cleanup_free char *prev = xasprintf("web-%lld", (long long)o - 1);
				cleanup_json json_t *p = get_pod(prev);

				assert_true(ctlb_pod_ready(p));
			}
			seen = o;
		}
		if (seen >= 0) {
			cleanup_free char *name = xasprintf("web-%lld", (long long)seen);
			cleanup_free char *path =
				xasprintf("/api/v1/namespaces/default/pods/%s", name);
			cleanup_json json_t *pod = get_pod(name);
			cleanup_json json_t *release =
				J("{\"metadata\":{\"annotations\":{\"test/hold\":null}}}");
			cleanup_err struct err err = ERR_INIT;

			if (pod && ctlb_streq(ctlb_str(pod, "status.phase"), "Running") &&
			    json_object_get(ctlb_get(pod, "metadata.annotations"), "test/hold")) {
				/* Held long enough to show nobody jumped ahead. */
				sleep_ms(300);
				if (seen < 2) {
					cleanup_free char *next =
						xasprintf("web-%lld", (long long)seen + 1);
					cleanup_json json_t *early = get_pod(next);

					assert_null(early);
				}
				kc_request(cl.c, "PATCH", path, "application/merge-patch+json",
					   release, NULL, &err);
				if (seen == 2)
					break;
			}
		}
		sleep_ms(50);
	}
	assert_int_equal(seen, 2);
	set = wait_for("/apis/apps/v1/namespaces/default/statefulsets/web", sts_ready,
		       (void *)(intptr_t)3, 15);
	assert_string_equal(ctlb_str(set, "status.currentRevision"),
			    ctlb_str(set, "status.updateRevision"));
	assert_int_equal(ctlb_int(set, "status.currentReplicas", -1), 3);
	assert_int_equal(ctlb_int(set, "status.updatedReplicas", -1), 3);
	for (int o = 0; o < 3; o++) {
		cleanup_free char *path = xasprintf(
			"/api/v1/namespaces/default/persistentvolumeclaims/data-web-%d", o);
		cleanup_json json_t *claim = get(path);

		assert_non_null(claim);
		assert_string_equal(json_string_value(json_object_get(
					    ctlb_get(claim, "metadata.labels"), "app")),
				    "web");
	}
	{
		cleanup_json json_t *pod = get_pod("web-1");

		assert_string_equal(ctlb_str(pod, "spec.hostname"), "web-1");
		assert_string_equal(ctlb_str(pod, "spec.subdomain"), "web");
		assert_string_equal(
			json_string_value(json_object_get(ctlb_get(pod, "metadata.labels"),
							  "controller-revision-hash")),
			ctlb_str(set, "status.updateRevision"));
	}
	assert_true(has_event("default", "web", "SuccessfulCreate"));

	/* Scale down: the highest ordinals go, the claims stay (whenScaled: Retain). */
	patch = J("{\"spec\":{\"replicas\":1}}");
	{
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(kc_request(cl.c, "PATCH",
					    "/apis/apps/v1/namespaces/default/statefulsets/web",
					    "application/merge-patch+json", patch, NULL, &err),
				 200);
	}
	json_decref(set);
	set = wait_for("/apis/apps/v1/namespaces/default/statefulsets/web", sts_ready,
		       (void *)(intptr_t)1, 15);
	wait_gone("/api/v1/namespaces/default/pods/web-2", 10);
	wait_gone("/api/v1/namespaces/default/pods/web-1", 10);
	pvc = get("/api/v1/namespaces/default/persistentvolumeclaims/data-web-2");
	assert_non_null(pvc);
	assert_true(has_event("default", "web", "SuccessfulDelete"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_next_follows_fields_and_steps),
		cmocka_unit_test(test_cron_restricted_dom_and_dow_are_alternatives),
		cmocka_unit_test(test_cron_descriptors_and_every),
		cmocka_unit_test(test_cron_next_in_time_zones),
		cmocka_unit_test(test_cron_parse_rejects_bad_specs_with_upstream_messages),
		cmocka_unit_test(test_cron_zone_load_refuses_unknown_and_escaping_names),
		cmocka_unit_test(test_time_parse_reads_rfc3339_with_offsets_and_fractions),
		cmocka_unit_test(test_selector_match_labels_and_expressions),
		cmocka_unit_test(
			test_pods_ordered_for_deletion_unscheduled_then_not_ready_then_newest),
		cmocka_unit_test(test_revision_hash_is_stable_and_depends_on_collisions),
		cmocka_unit_test(
			test_job_counts_terminating_pods_as_failed_unless_policy_is_failed),
		cmocka_unit_test(test_job_wants_parallelism_capped_by_remaining_completions),
		cmocka_unit_test(test_job_completed_indexes_round_trip),
		cmocka_unit_test(test_cronjob_most_recent_time_and_job_names),
		cmocka_unit_test(test_daemon_eligibility_follows_selectors_taints_and_tolerations),
		cmocka_unit_test(test_daemon_pod_node_comes_from_name_or_affinity),
		cmocka_unit_test(test_stateful_ordinals_claims_and_pod_identity),
	};

	const struct CMUnitTest cluster_tests[] = {
		cmocka_unit_test(test_job_runs_completions_with_parallelism_and_tracks_pods),
		cmocka_unit_test(test_job_fails_after_backoff_limit),
		cmocka_unit_test(test_indexed_job_completes_every_index),
		cmocka_unit_test(test_job_with_ttl_is_deleted_after_finishing),
		cmocka_unit_test(test_suspended_job_starts_no_pods),
		cmocka_unit_test(test_cronjob_creates_a_job_at_the_scheduled_minute),
		cmocka_unit_test(test_daemonset_runs_one_pod_per_eligible_node_and_rolls_updates),
		cmocka_unit_test(
			test_statefulset_creates_pods_in_order_with_claims_and_scales_down),
	};
	int failed;

	cmocka_set_message_output(CM_OUTPUT_TAP);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + cmocka_run_group_tests(cluster_tests, cluster_setup, cluster_teardown);
}
