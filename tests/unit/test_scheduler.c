/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the scheduler's logic (cluster/scheduler/internal.h): each filter with
 * upstream's reason, the FitError text, the scores and their normalization, the sampling
 * rule, and whole decisions over a cache (accounting, spreading, affinity, ties).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "cluster/scheduler/internal.h"

static json_t *parse(const char *fmt, va_list ap)
{
	char *text = xvasprintf(fmt, ap);
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	if (!j)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	free(text);
	return j;
}

static struct sched_pod *pod(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct sched_pod *pod(const char *fmt, ...)
{
	va_list ap;
	json_t *j;
	struct sched_pod *p;

	va_start(ap, fmt);
	j = parse(fmt, ap);
	va_end(ap);
	p = sched_pod_parse(j);
	json_decref(j);
	return p;
}

static struct sched_node *node(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct sched_node *node(const char *fmt, ...)
{
	va_list ap;
	json_t *j;
	struct sched_node *n;

	va_start(ap, fmt);
	j = parse(fmt, ap);
	va_end(ap);
	n = sched_node_parse(j);
	json_decref(j);
	return n;
}

/* A node with a hostname label, @zone (or none), allocatable and a spec. */
#define NODE(name, zone, cpu, mem, spec)                                                           \
	node("{\"metadata\":{\"name\":\"" name "\",\"labels\":{\"kubernetes.io/hostname\":\"" name \
	     "\"%s%s%s}},\"spec\":" spec ",\"status\":{\"allocatable\":{\"cpu\":\"" cpu            \
	     "\",\"memory\":\"" mem "\",\"pods\":\"110\"}}}",                                      \
	     zone ? ",\"topology.kubernetes.io/zone\":\"" : "", zone ? zone : "",                  \
	     zone ? "\"" : "")

/* A pod in "default" with one container asking for @cpu and @mem, labels and more spec. */
#define POD(name, labels, cpu, mem, spec)                                                          \
	pod("{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\",\"uid\":\"u-" name     \
	    "\",\"labels\":" labels "},\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":"   \
	    "{\"requests\":{\"cpu\":\"" cpu "\",\"memory\":\"" mem "\"}}}]" spec "}}")

static void test_filter_unschedulable_unless_tolerated(void **state)
{
	struct sched_node *n = NODE("n1", NULL, "1", "1Gi", "{\"unschedulable\":true}");
	struct sched_pod *p = POD("p", "{}", "100m", "1Mi", "");
	struct sched_pod *t = POD("t", "{}", "100m", "1Mi",
				  ",\"tolerations\":[{\"key\":\"node.kubernetes.io/unschedulable\","
				  "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
	struct sched_status st;

	(void)state;
	assert_int_equal(sched_filter_unschedulable(p, n, &st), SCHED_UNRESOLVABLE);
	assert_string_equal(st.reasons[0], "node(s) were unschedulable");
	assert_int_equal(sched_filter_unschedulable(t, n, &st), SCHED_OK);
	sched_pod_free(p);
	sched_pod_free(t);
	sched_node_free(n);
}

static void test_filter_node_name_must_match(void **state)
{
	struct sched_node *n = NODE("n1", NULL, "1", "1Gi", "{}");
	struct sched_pod *p = POD("p", "{}", "1m", "1Mi", ",\"nodeName\":\"n2\"");
	struct sched_pod *q = POD("q", "{}", "1m", "1Mi", ",\"nodeName\":\"n1\"");
	struct sched_status st;

	(void)state;
	assert_int_equal(sched_filter_node_name(p, n, &st), SCHED_UNRESOLVABLE);
	assert_string_equal(st.reasons[0], "node(s) didn't match the requested node name");
	assert_int_equal(sched_filter_node_name(q, n, &st), SCHED_OK);
	sched_pod_free(p);
	sched_pod_free(q);
	sched_node_free(n);
}

static void test_filter_taints_name_the_untolerated_taint(void **state)
{
	struct sched_node *cp =
		NODE("cp", NULL, "1", "1Gi",
		     "{\"taints\":[{\"key\":\"node-role.kubernetes.io/control-plane\",\"effect\":"
		     "\"NoSchedule\"}]}");
	struct sched_node *soft = NODE("soft", NULL, "1", "1Gi",
				       "{\"taints\":[{\"key\":\"a\",\"value\":\"b\",\"effect\":"
				       "\"PreferNoSchedule\"}]}");
	struct sched_node *exec = NODE("x", NULL, "1", "1Gi",
				       "{\"taints\":[{\"key\":\"k\",\"value\":\"v\",\"effect\":"
				       "\"NoExecute\"}]}");
	struct sched_pod *p = POD("p", "{}", "1m", "1Mi", "");
	struct sched_pod *tol = POD("t", "{}", "1m", "1Mi",
				    ",\"tolerations\":[{\"key\":\"k\",\"value\":\"v\"},"
				    "{\"key\":\"node-role.kubernetes.io/control-plane\","
				    "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
	struct sched_pod *wrong = POD("w", "{}", "1m", "1Mi",
				      ",\"tolerations\":[{\"key\":\"k\",\"value\":\"v\","
				      "\"effect\":\"NoSchedule\"}]");
	struct sched_status st;

	(void)state;
	assert_int_equal(sched_filter_taints(p, cp, &st), SCHED_UNRESOLVABLE);
	assert_string_equal(
		st.reasons[0],
		"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
	assert_int_equal(sched_filter_taints(p, soft, &st), SCHED_OK);
	assert_int_equal(sched_filter_taints(p, exec, &st), SCHED_UNRESOLVABLE);
	assert_string_equal(st.reasons[0], "node(s) had untolerated taint {k: v}");
	assert_int_equal(sched_filter_taints(tol, exec, &st), SCHED_OK);
	assert_int_equal(sched_filter_taints(tol, cp, &st), SCHED_OK);
	assert_int_equal(sched_filter_taints(wrong, exec, &st), SCHED_UNRESOLVABLE);
	assert_int_equal(sched_score_taints(p, soft), 1);
	assert_int_equal(sched_score_taints(p, cp), 0);
	sched_pod_free(p);
	sched_pod_free(tol);
	sched_pod_free(wrong);
	sched_node_free(cp);
	sched_node_free(soft);
	sched_node_free(exec);
}

static void test_filter_node_affinity_operators(void **state)
{
	struct sched_node *n = node("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"disk\":\"ssd\","
				    "\"gen\":\"5\"}},\"status\":{\"allocatable\":{}}}");
	static const struct {
		const char *affinity;
		bool fits;
	} cases[] = {
		{"{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"hdd\",\"ssd\"]}", true},
		{"{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"hdd\"]}", false},
		{"{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}", false},
		{"{\"key\":\"other\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}", true},
		{"{\"key\":\"disk\",\"operator\":\"Exists\"}", true},
		{"{\"key\":\"other\",\"operator\":\"Exists\"}", false},
		{"{\"key\":\"other\",\"operator\":\"DoesNotExist\"}", true},
		{"{\"key\":\"disk\",\"operator\":\"DoesNotExist\"}", false},
		{"{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"4\"]}", true},
		{"{\"key\":\"gen\",\"operator\":\"Gt\",\"values\":[\"5\"]}", false},
		{"{\"key\":\"gen\",\"operator\":\"Lt\",\"values\":[\"6\"]}", true},
		{"{\"key\":\"disk\",\"operator\":\"Lt\",\"values\":[\"6\"]}", false},
	};
	struct sched_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sched_pod *p = pod(
			"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"affinity\":{\"nodeAffinity\":{"
			"\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
			"[{\"matchExpressions\":[%s]}]}}}}}",
			cases[i].affinity);

		assert_int_equal(sched_filter_node_affinity(p, n, &st) == SCHED_OK, cases[i].fits);
		if (!cases[i].fits)
			assert_string_equal(st.reasons[0],
					    "node(s) didn't match Pod's node affinity/selector");
		sched_pod_free(p);
	}
	{
		/* terms are ORed; matchFields on metadata.name; nodeSelector ANDed on top */
		struct sched_pod *p = pod(
			"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"affinity\":{\"nodeAffinity\":{"
			"\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
			"[{\"matchExpressions\":[{\"key\":\"x\",\"operator\":\"Exists\"}]},"
			"{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\","
			"\"values\":[\"n1\"]}]}]}}}}}");
		struct sched_pod *sel = pod("{\"metadata\":{\"name\":\"p\"},\"spec\":{"
					    "\"nodeSelector\":{\"disk\":\"hdd\"}}}");
		struct sched_pod *empty = pod(
			"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"affinity\":{\"nodeAffinity\":{"
			"\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
			"[{}]}}}}}");

		assert_int_equal(sched_filter_node_affinity(p, n, &st), SCHED_OK);
		assert_int_equal(sched_filter_node_affinity(sel, n, &st), SCHED_UNRESOLVABLE);
		assert_int_equal(sched_filter_node_affinity(empty, n, &st), SCHED_UNRESOLVABLE);
		sched_pod_free(p);
		sched_pod_free(sel);
		sched_pod_free(empty);
	}
	sched_node_free(n);
}

static void test_filter_ports_conflict_on_wildcard_address(void **state)
{
	struct sched_cache *c = sched_cache_new(1);
	struct sched_pod *bound =
		POD("b", "{}", "1m", "1Mi",
		    ",\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
		    "\"hostPort\":8080,\"hostIP\":\"10.0.0.1\"}]}]");
	struct sched_pod *same =
		POD("s", "{}", "1m", "1Mi",
		    ",\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\""
		    ":80,\"hostPort\":8080}]}]");
	struct sched_pod *udp = POD("u", "{}", "1m", "1Mi",
				    ",\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\""
				    ":80,\"hostPort\":8080,\"protocol\":\"UDP\"}]}]");
	struct sched_pod *other_ip =
		POD("o", "{}", "1m", "1Mi",
		    ",\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80,"
		    "\"hostPort\":8080,\"hostIP\":\"10.0.0.2\"}]}]");
	struct sched_status st;
	const struct sched_node *n;

	(void)state;
	sched_cache_set_node(c, NODE("n1", NULL, "1", "1Gi", "{}"));
	sched_cache_add_pod(c, bound, "n1");
	n = sched_cache_node(c, 0);
	assert_int_equal(sched_filter_ports(same, n, &st), SCHED_UNSCHEDULABLE);
	assert_string_equal(st.reasons[0],
			    "node(s) didn't have free ports for the requested pod ports");
	assert_int_equal(sched_filter_ports(udp, n, &st), SCHED_OK);
	assert_int_equal(sched_filter_ports(other_ip, n, &st), SCHED_OK);
	sched_cache_remove_pod(c, bound);
	assert_int_equal(sched_filter_ports(same, n, &st), SCHED_OK);
	sched_pod_free(bound);
	sched_pod_free(same);
	sched_pod_free(udp);
	sched_pod_free(other_ip);
	sched_cache_free(c);
}

static void test_filter_resources_reports_every_shortage(void **state)
{
	struct sched_cache *c = sched_cache_new(1);
	struct sched_pod *big = POD("big", "{}", "2", "2Gi", "");
	struct sched_pod *fits = POD("fits", "{}", "500m", "512Mi", "");
	struct sched_pod *gpu = pod("{\"metadata\":{\"name\":\"g\"},\"spec\":{\"containers\":[{"
				    "\"resources\":{\"requests\":{\"example.com/gpu\":\"1\"}}}]}}");
	struct sched_status st;
	const struct sched_node *n;

	(void)state;
	sched_cache_set_node(c, NODE("n1", NULL, "1", "1Gi", "{}"));
	n = sched_cache_node(c, 0);
	assert_int_equal(sched_filter_resources(big, n, &st), SCHED_UNSCHEDULABLE);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.reasons[0], "Insufficient cpu");
	assert_string_equal(st.reasons[1], "Insufficient memory");
	assert_int_equal(sched_filter_resources(fits, n, &st), SCHED_OK);
	sched_cache_add_pod(c, fits, "n1");
	assert_int_equal(n->used.cpu, 500);
	assert_int_equal(sched_filter_resources(fits, n, &st), SCHED_OK);
	assert_int_equal(sched_filter_resources(gpu, n, &st), SCHED_UNSCHEDULABLE);
	assert_string_equal(st.reasons[0], "Insufficient example.com/gpu");
	sched_cache_remove_pod(c, fits);
	assert_int_equal(n->used.cpu, 0);
	assert_int_equal(n->n_pods, 0);
	sched_pod_free(big);
	sched_pod_free(fits);
	sched_pod_free(gpu);
	sched_cache_free(c);
}

static void test_filter_resources_too_many_pods(void **state)
{
	struct sched_node *n =
		node("{\"metadata\":{\"name\":\"n\"},\"status\":{\"allocatable\":{\"cpu\":\"4\","
		     "\"memory\":\"4Gi\",\"pods\":\"0\"}}}");
	struct sched_pod *p = POD("p", "{}", "1m", "1Mi", "");
	struct sched_status st;

	(void)state;
	assert_int_equal(sched_filter_resources(p, n, &st), SCHED_UNSCHEDULABLE);
	assert_int_equal(st.n, 1);
	assert_string_equal(st.reasons[0], "Too many pods");
	sched_pod_free(p);
	sched_node_free(n);
}

static void test_pod_requests_follow_init_and_sidecar_rules(void **state)
{
	/* containers 300m; an init container 1 cpu; a sidecar 200m before a 100m init:
	 * max(300+200, 1000, 200+100) + overhead 50m = 1050m */
	struct sched_pod *p = pod(
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"overhead\":{\"cpu\":\"50m\"},"
		"\"initContainers\":[{\"resources\":{\"requests\":{\"cpu\":\"1\"}}},"
		"{\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":\"200m\"}}},"
		"{\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}],"
		"\"containers\":[{\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
		"\"64Mi\"}}},{\"resources\":{\"requests\":{\"cpu\":\"200m\"}}}]}}");
	struct sched_pod *empty = pod("{\"metadata\":{\"name\":\"e\"},\"spec\":{\"containers\":"
				      "[{\"name\":\"a\"},{\"name\":\"b\"}]}}");

	(void)state;
	assert_int_equal(p->req.cpu, 1050);
	assert_int_equal(p->req.mem, 64 * 1024 * 1024);
	/* scoring: every container without a memory request counts as 200Mi, sidecar and
	 * init containers too: 64Mi + 200Mi + 200Mi (sidecar) beats 200Mi + 200Mi */
	assert_int_equal(p->nz_mem, 64 * 1024 * 1024 + 2 * SCHED_DEFAULT_MEMORY);
	assert_int_equal(empty->req.cpu, 0);
	assert_int_equal(empty->nz_cpu, 2 * SCHED_DEFAULT_MILLI_CPU);
	sched_pod_free(p);
	sched_pod_free(empty);
}

static void test_pending_pods_are_ours_unbound_and_alive(void **state)
{
	struct sched_pod *a = pod("{\"metadata\":{\"name\":\"a\"},\"spec\":{}}");
	struct sched_pod *b = pod("{\"metadata\":{\"name\":\"b\"},\"spec\":{\"schedulerName\":"
				  "\"other\"}}");
	struct sched_pod *c = pod("{\"metadata\":{\"name\":\"c\"},\"spec\":{\"nodeName\":\"n\"}}");
	struct sched_pod *d = pod("{\"metadata\":{\"name\":\"d\"},\"spec\":{},\"status\":{"
				  "\"phase\":\"Failed\"}}");
	struct sched_pod *e = pod("{\"metadata\":{\"name\":\"e\",\"deletionTimestamp\":"
				  "\"2024-01-01T00:00:00Z\"},\"spec\":{\"schedulerName\":"
				  "\"default-scheduler\"}}");

	(void)state;
	assert_true(sched_pod_pending(a));
	assert_false(sched_pod_pending(b));
	assert_false(sched_pod_pending(c));
	assert_false(sched_pod_pending(d));
	assert_false(sched_pod_pending(e));
	sched_pod_free(a);
	sched_pod_free(b);
	sched_pod_free(c);
	sched_pod_free(d);
	sched_pod_free(e);
}

static void test_fit_message_matches_upstream(void **state)
{
	struct sched_diag d = {0};
	struct sched_status mem = {
		.code = SCHED_UNSCHEDULABLE, .n = 1, .reasons = {"Insufficient memory"}};
	struct sched_status taint = {
		.code = SCHED_UNRESOLVABLE,
		.n = 1,
		.reasons = {
			"node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"}};
	char *msg;

	(void)state;
	for (int i = 0; i < 3; i++)
		sched_diag_add(&d, &mem);
	for (int i = 0; i < 2; i++)
		sched_diag_add(&d, &taint);
	msg = sched_fit_message(5, &d);
	/* upstream sorts the "count reason" strings as a whole */
	assert_string_equal(
		msg,
		"0/5 nodes are available: 2 node(s) had untolerated taint "
		"{node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: "
		"0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No "
		"preemption victims found for incoming pod.");
	free(msg);
	d.preempt_never = true;
	msg = sched_fit_message(5, &d);
	assert_string_equal(
		msg,
		"0/5 nodes are available: 2 node(s) had untolerated taint "
		"{node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: "
		"not eligible due to preemptionPolicy=Never.");
	free(msg);
	sched_diag_done(&d);
	msg = sched_fit_message(0, &d);
	assert_string_equal(msg, "no nodes available to schedule pods");
	free(msg);
}

static void test_sampling_follows_percentage_of_nodes_to_score(void **state)
{
	(void)state;
	assert_int_equal(sched_num_feasible_to_find(5, 0), 5);
	assert_int_equal(sched_num_feasible_to_find(99, 0), 99);
	assert_int_equal(sched_num_feasible_to_find(100, 0), 100);
	/* 49% of 200 is 98, raised to the minimum of 100 */
	assert_int_equal(sched_num_feasible_to_find(200, 0), 100);
	assert_int_equal(sched_num_feasible_to_find(1000, 0), 420);
	assert_int_equal(sched_num_feasible_to_find(5000, 0), 500);
	/* never below 5% */
	assert_int_equal(sched_num_feasible_to_find(10000, 0), 500);
	assert_int_equal(sched_num_feasible_to_find(1000, 100), 1000);
}

static void test_backoff_doubles_from_one_to_ten_seconds(void **state)
{
	(void)state;
	assert_int_equal(sched_backoff_ms(1), 1000);
	assert_int_equal(sched_backoff_ms(2), 2000);
	assert_int_equal(sched_backoff_ms(3), 4000);
	assert_int_equal(sched_backoff_ms(4), 8000);
	assert_int_equal(sched_backoff_ms(5), 10000);
	assert_int_equal(sched_backoff_ms(100), 10000);
}

static void test_scores_and_normalization(void **state)
{
	struct sched_node *n = NODE("n", NULL, "4", "8Gi", "{}");
	struct sched_pod *p = POD("p", "{}", "1", "2Gi", "");
	struct sched_pod *q = POD("q", "{}", "2", "2Gi", "");
	int64_t def[] = {0, 2, 4}, rev[] = {0, 2, 4}, zero[] = {0, 0}, mm[] = {-3, 1, 5};
	int64_t spread[] = {3, 5, 9};
	bool ignored[] = {false, false, true};

	(void)state;
	assert_int_equal(sched_score_least_allocated(p, n), 75);
	/* cpu 50% used, memory 25%: std 0.125 */
	assert_int_equal(sched_score_least_allocated(q, n), 62);
	assert_int_equal(sched_score_balanced(p, n), 100);
	assert_int_equal(sched_score_balanced(q, n), 87);
	sched_normalize_default(def, 3, false);
	assert_int_equal(def[0], 0);
	assert_int_equal(def[1], 50);
	assert_int_equal(def[2], 100);
	sched_normalize_default(rev, 3, true);
	assert_int_equal(rev[0], 100);
	assert_int_equal(rev[2], 0);
	sched_normalize_default(zero, 2, true);
	assert_int_equal(zero[0], 100);
	sched_normalize_min_max(mm, 3);
	assert_int_equal(mm[0], 0);
	assert_int_equal(mm[1], 50);
	assert_int_equal(mm[2], 100);
	sched_normalize_spread(spread, ignored, 3);
	/* 100 * (max + min - s) / max over the nodes not ignored: max 5, min 3 */
	assert_int_equal(spread[0], 100);
	assert_int_equal(spread[1], 60);
	assert_int_equal(spread[2], 0);
	sched_pod_free(p);
	sched_pod_free(q);
	sched_node_free(n);
}

/* Cache-level decisions. */

struct env {
	struct sched_cache *c;
	struct sched_pod *pods[64];
	size_t n;
};

static struct sched_pod *keep(struct env *e, struct sched_pod *p)
{
	assert_true(e->n < 64);
	e->pods[e->n++] = p;
	return p;
}

static void env_done(struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		sched_cache_remove_pod(e->c, e->pods[i]);
		sched_pod_free(e->pods[i]);
	}
	sched_cache_free(e->c);
}

static const char *decide(struct env *e, struct sched_pod *p, struct sched_result *r)
{
	const struct sched_node *n;

	sched_schedule(e->c, p, r);
	if (r->node < 0)
		return NULL;
	n = sched_cache_node(e->c, r->node);
	sched_cache_add_pod(e->c, p, n->name);
	return n->name;
}

static void test_schedule_reports_why_nothing_fits(void **state)
{
	struct env e = {sched_cache_new(7), {0}, 0};
	struct sched_pod *p = keep(&e, POD("p", "{}", "100m", "2Gi", ""));
	struct sched_result r;

	(void)state;
	for (int i = 0; i < 3; i++) {
		sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"w%d\"},\"status\":{"
					       "\"allocatable\":{\"cpu\":\"4\",\"memory\":\"1Gi\","
					       "\"pods\":\"110\"}}}",
					       i));
	}
	for (int i = 0; i < 2; i++) {
		sched_cache_set_node(
			e.c,
			node("{\"metadata\":{\"name\":\"cp%d\"},\"spec\":{\"taints\":[{\"key\":"
			     "\"node-role.kubernetes.io/control-plane\",\"effect\":"
			     "\"NoSchedule\"}]},\"status\":{\"allocatable\":{\"cpu\":\"4\","
			     "\"memory\":\"8Gi\",\"pods\":\"110\"}}}",
			     i));
	}
	assert_null(decide(&e, p, &r));
	assert_string_equal(
		r.message,
		"0/5 nodes are available: 2 node(s) had untolerated taint "
		"{node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: 0/5 "
		"nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption "
		"victims found for incoming pod.");
	assert_int_equal(r.evaluated, 5);
	sched_result_done(&r);
	/* a bigger node makes it fit */
	sched_cache_set_node(e.c, NODE("big", NULL, "8", "16Gi", "{}"));
	assert_string_equal(decide(&e, p, &r), "big");
	sched_result_done(&r);
	env_done(&e);
}

static void test_schedule_accounts_assumed_pods(void **state)
{
	struct env e = {sched_cache_new(3), {0}, 0};
	struct sched_result r;
	int on_a = 0, on_b = 0;

	(void)state;
	sched_cache_set_node(e.c, NODE("a", NULL, "2", "4Gi", "{}"));
	sched_cache_set_node(e.c, NODE("b", NULL, "2", "4Gi", "{}"));
	for (int i = 0; i < 4; i++) {
		const char *n = decide(&e, keep(&e, POD("p", "{}", "1", "1Gi", "")), &r);

		assert_non_null(n);
		on_a += strcmp(n, "a") == 0;
		on_b += strcmp(n, "b") == 0;
		sched_result_done(&r);
	}
	assert_int_equal(on_a, 2);
	assert_int_equal(on_b, 2);
	assert_null(decide(&e, keep(&e, POD("p", "{}", "1", "1Gi", "")), &r));
	assert_string_equal(r.message, "0/2 nodes are available: 2 Insufficient cpu. preemption: "
				       "0/2 nodes are available: 2 No preemption victims found "
				       "for incoming pod.");
	sched_result_done(&r);
	env_done(&e);
}

static void test_schedule_spreads_pods_of_one_owner(void **state)
{
	struct env e = {sched_cache_new(11), {0}, 0};
	struct sched_result r;

	(void)state;
	sched_cache_set_node(e.c, NODE("a", "z1", "4", "8Gi", "{}"));
	sched_cache_set_node(e.c, NODE("b", "z1", "4", "8Gi", "{}"));
	/* the same requests on both nodes; only the owner differs */
	sched_cache_add_pod(
		e.c,
		keep(&e, pod("{\"metadata\":{\"name\":\"x1\",\"namespace\":\"default\","
			     "\"ownerReferences\":[{\"uid\":\"rs-x\",\"controller\":true}]},"
			     "\"spec\":{\"containers\":[{}]}}")),
		"a");
	sched_cache_add_pod(
		e.c,
		keep(&e, pod("{\"metadata\":{\"name\":\"y1\",\"namespace\":\"default\","
			     "\"ownerReferences\":[{\"uid\":\"rs-y\",\"controller\":true}]},"
			     "\"spec\":{\"containers\":[{}]}}")),
		"b");
	for (int i = 0; i < 5; i++) {
		struct sched_pod *x =
			pod("{\"metadata\":{\"name\":\"x2\",\"namespace\":\"default\","
			    "\"ownerReferences\":[{\"uid\":\"rs-x\",\"controller\":true}]},"
			    "\"spec\":{\"containers\":[{}]}}");

		sched_schedule(e.c, x, &r);
		assert_string_equal(sched_cache_node(e.c, r.node)->name, "b");
		sched_result_done(&r);
		sched_pod_free(x);
	}
	env_done(&e);
}

static void test_schedule_spreads_across_zones(void **state)
{
	struct env e = {sched_cache_new(5), {0}, 0};
	struct sched_result r;
	int zone2 = 0;

	(void)state;
	sched_cache_set_node(e.c, NODE("a", "z1", "64", "256Gi", "{}"));
	sched_cache_set_node(e.c, NODE("b", "z1", "64", "256Gi", "{}"));
	sched_cache_set_node(e.c, NODE("c", "z2", "64", "256Gi", "{}"));
	for (int i = 0; i < 12; i++) {
		struct sched_pod *x = keep(
			&e, pod("{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\","
				"\"ownerReferences\":[{\"uid\":\"rs-x\",\"controller\":true}]},"
				"\"spec\":{\"containers\":[{}]}}"));
		const char *n = decide(&e, x, &r);

		zone2 += strcmp(n, "c") == 0;
		sched_result_done(&r);
	}
	/* half of the pods go to the zone with one node */
	assert_in_range(zone2, 5, 7);
	env_done(&e);
}

static void test_schedule_topology_spread_do_not_schedule(void **state)
{
	struct env e = {sched_cache_new(5), {0}, 0};
	struct sched_result r;
	const char *spread = ",\"topologySpreadConstraints\":[{\"maxSkew\":1,\"topologyKey\":"
			     "\"kubernetes.io/hostname\",\"whenUnsatisfiable\":\"DoNotSchedule\","
			     "\"labelSelector\":{\"matchLabels\":{\"app\":\"web\"}}}]";
	struct sched_pod *p;

	(void)state;
	sched_cache_set_node(e.c, NODE("a", NULL, "64", "256Gi", "{}"));
	sched_cache_set_node(e.c, NODE("b", NULL, "64", "256Gi", "{}"));
	sched_cache_add_pod(e.c, keep(&e, POD("w1", "{\"app\":\"web\"}", "1m", "1Mi", "")), "a");
	for (int i = 0; i < 3; i++) {
		p = keep(&e, pod("{\"metadata\":{\"name\":\"s\",\"namespace\":\"default\","
				 "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{}]%s}}",
				 spread));
		/* b, then either, then the one with fewer */
		assert_non_null(decide(&e, p, &r));
		sched_result_done(&r);
	}
	assert_int_equal(sched_cache_node(e.c, 0)->n_pods, 2);
	assert_int_equal(sched_cache_node(e.c, 1)->n_pods, 2);
	/* with only a available, the skew would be 2 */
	sched_cache_set_node(e.c, NODE("b", NULL, "64", "256Gi", "{\"unschedulable\":true}"));
	sched_cache_add_pod(e.c, keep(&e, POD("w2", "{\"app\":\"web\"}", "1m", "1Mi", "")), "a");
	p = keep(&e, pod("{\"metadata\":{\"name\":\"s\",\"namespace\":\"default\",\"labels\":{"
			 "\"app\":\"web\"}},\"spec\":{\"containers\":[{}]%s}}",
			 spread));
	assert_null(decide(&e, p, &r));
	assert_string_equal(r.message,
			    "0/2 nodes are available: 1 node(s) didn't match pod topology spread "
			    "constraints, 1 node(s) were unschedulable. preemption: 0/2 nodes are "
			    "available: 1 No preemption victims found for incoming pod, 1 "
			    "Preemption is not helpful for scheduling.");
	assert_true(r.pod_sensitive);
	sched_result_done(&r);
	/* a node without the topology key */
	sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"c\"},\"status\":{"
				       "\"allocatable\":{\"cpu\":\"1\",\"memory\":\"1Gi\","
				       "\"pods\":\"10\"}}}"));
	assert_null(decide(&e, p, &r));
	assert_non_null(strstr(r.message, "1 node(s) didn't match pod topology spread constraints "
					  "(missing required label)"));
	sched_result_done(&r);
	env_done(&e);
}

static void test_schedule_inter_pod_affinity(void **state)
{
	struct env e = {sched_cache_new(9), {0}, 0};
	struct sched_result r;
	struct sched_pod *p;

	(void)state;
	sched_cache_set_node(e.c, NODE("a", "z1", "8", "8Gi", "{}"));
	sched_cache_set_node(e.c, NODE("b", "z1", "8", "8Gi", "{}"));
	sched_cache_set_node(e.c, NODE("c", "z2", "8", "8Gi", "{}"));
	sched_cache_add_pod(e.c, keep(&e, POD("cache", "{\"app\":\"cache\"}", "1m", "1Mi", "")),
			    "c");
	/* required affinity to the cache's zone: only c */
	p = keep(&e, POD("web", "{\"app\":\"web\"}", "1m", "1Mi",
			 ",\"affinity\":{\"podAffinity\":{\"requiredDuringSchedulingIgnoredDuring"
			 "Execution\":[{\"labelSelector\":{\"matchLabels\":{\"app\":\"cache\"}},"
			 "\"topologyKey\":\"topology.kubernetes.io/zone\"}]}}"));
	assert_string_equal(decide(&e, p, &r), "c");
	sched_result_done(&r);
	/* required anti-affinity against web on the same host: not c */
	for (int i = 0; i < 3; i++) {
		p = keep(&e,
			 POD("web2", "{\"app\":\"web\"}", "1m", "1Mi",
			     ",\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnored"
			     "DuringExecution\":[{\"labelSelector\":{\"matchLabels\":{\"app\":"
			     "\"web\"}},\"topologyKey\":\"kubernetes.io/hostname\"}]}}"));
		if (i < 2) {
			assert_string_not_equal(decide(&e, p, &r), "c");
		} else {
			assert_null(decide(&e, p, &r));
			assert_string_equal(
				r.message,
				"0/3 nodes are available: 3 node(s) didn't match pod anti-affinity "
				"rules. preemption: 0/3 nodes are available: 3 No preemption "
				"victims found for incoming pod.");
		}
		sched_result_done(&r);
	}
	/* the anti-affinity of the pods on a and b keeps another web pod off them */
	p = keep(&e, POD("more", "{\"app\":\"web\"}", "1m", "1Mi",
			 ",\"nodeSelector\":{\"topology.kubernetes.io/zone\":\"z1\"}"));
	assert_null(decide(&e, p, &r));
	assert_string_equal(
		r.message,
		"0/3 nodes are available: 1 node(s) didn't match Pod's node "
		"affinity/selector, 2 node(s) didn't satisfy existing pods anti-affinity "
		"rules. preemption: 0/3 nodes are available: 1 Preemption is not helpful "
		"for scheduling, 2 No preemption victims found for incoming pod.");
	sched_result_done(&r);
	/* affinity to pods that exist nowhere: only the self-matching first pod passes */
	p = keep(&e, POD("lonely", "{\"app\":\"x\"}", "1m", "1Mi",
			 ",\"affinity\":{\"podAffinity\":{\"requiredDuringSchedulingIgnoredDuring"
			 "Execution\":[{\"labelSelector\":{\"matchLabels\":{\"app\":\"nope\"}},"
			 "\"topologyKey\":\"kubernetes.io/hostname\"}]}}"));
	assert_null(decide(&e, p, &r));
	assert_non_null(strstr(r.message, "3 node(s) didn't match pod affinity rules"));
	sched_result_done(&r);
	p = keep(&e, POD("first", "{\"app\":\"grp\"}", "1m", "1Mi",
			 ",\"affinity\":{\"podAffinity\":{\"requiredDuringSchedulingIgnoredDuring"
			 "Execution\":[{\"labelSelector\":{\"matchLabels\":{\"app\":\"grp\"}},"
			 "\"topologyKey\":\"kubernetes.io/hostname\"}]}}"));
	assert_non_null(decide(&e, p, &r));
	sched_result_done(&r);
	env_done(&e);
}

static void test_schedule_preferred_terms_and_soft_taints(void **state)
{
	struct env e = {sched_cache_new(13), {0}, 0};
	struct sched_result r;
	struct sched_pod *p;

	(void)state;
	sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"a\",\"labels\":{\"disk\":"
				       "\"ssd\"}},\"spec\":{\"taints\":[{\"key\":\"k\",\"effect\":"
				       "\"PreferNoSchedule\"}]},\"status\":{\"allocatable\":{"
				       "\"cpu\":\"8\",\"memory\":\"8Gi\",\"pods\":\"10\"}}}"));
	sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"b\",\"labels\":{\"disk\":"
				       "\"ssd\"}},\"status\":{\"allocatable\":{\"cpu\":\"8\","
				       "\"memory\":\"8Gi\",\"pods\":\"10\"}}}"));
	sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"c\"},\"status\":{"
				       "\"allocatable\":{\"cpu\":\"8\",\"memory\":\"8Gi\","
				       "\"pods\":\"10\"}}}"));
	for (int i = 0; i < 5; i++) {
		p = pod("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"affinity\":{\"nodeAffinity\":"
			"{\"preferredDuringSchedulingIgnoredDuringExecution\":[{\"weight\":10,"
			"\"preference\":{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":"
			"\"In\",\"values\":[\"ssd\"]}]}}]}}}}");
		/* a is ssd but has a soft taint; c has no ssd */
		sched_schedule(e.c, p, &r);
		assert_string_equal(sched_cache_node(e.c, r.node)->name, "b");
		sched_result_done(&r);
		sched_pod_free(p);
	}
	env_done(&e);
}

static void test_schedule_samples_nodes_and_rotates(void **state)
{
	struct env e = {sched_cache_new(17), {0}, 0};
	struct sched_result r;
	struct sched_pod *p = POD("p", "{}", "1m", "1Mi", "");

	(void)state;
	for (int i = 0; i < 1000; i++)
		sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"n%d\"},\"status\":{"
					       "\"allocatable\":{\"cpu\":\"1\",\"memory\":\"1Gi\","
					       "\"pods\":\"10\"}}}",
					       i));
	sched_schedule(e.c, p, &r);
	assert_int_equal(r.evaluated, 420);
	assert_int_equal(r.feasible, 420);
	assert_int_equal(e.c->next_start, 420);
	sched_result_done(&r);
	sched_schedule(e.c, p, &r);
	assert_int_equal(e.c->next_start, 840);
	sched_result_done(&r);
	sched_cache_remove_node(e.c, "n5");
	assert_int_equal(e.c->n_present, 999);
	sched_pod_free(p);
	env_done(&e);
}

static void test_schedule_breaks_ties_at_random(void **state)
{
	struct env e = {sched_cache_new(23), {0}, 0};
	struct sched_pod *p = POD("p", "{}", "1m", "1Mi", "");
	struct sched_result r;
	int seen[4] = {0};

	(void)state;
	for (int i = 0; i < 4; i++)
		sched_cache_set_node(e.c, node("{\"metadata\":{\"name\":\"n%d\"},\"status\":{"
					       "\"allocatable\":{\"cpu\":\"1\",\"memory\":\"1Gi\","
					       "\"pods\":\"10\"}}}",
					       i));
	for (int i = 0; i < 200; i++) {
		sched_schedule(e.c, p, &r);
		seen[r.node]++;
		sched_result_done(&r);
	}
	for (int i = 0; i < 4; i++)
		assert_in_range(seen[i], 20, 80);
	sched_pod_free(p);
	env_done(&e);
}

static void test_maps_survive_churn(void **state)
{
	struct smap m = {0};
	struct imap im = {0};
	char key[16];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		smap_add(&m, key)->v.i = i;
		imap_add(&im, i, i + 1);
	}
	for (int i = 0; i < 1000; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		smap_del(&m, key);
		imap_add(&im, i, -(i + 1));
	}
	assert_int_equal(m.n, 500);
	assert_int_equal(im.n, 500);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(smap_get_int(&m, key), i % 2 ? i : 0);
		assert_int_equal(imap_get(&im, i), i % 2 ? i + 1 : 0);
	}
	smap_done(&m, NULL);
	imap_done(&im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_unschedulable_unless_tolerated),
		cmocka_unit_test(test_filter_node_name_must_match),
		cmocka_unit_test(test_filter_taints_name_the_untolerated_taint),
		cmocka_unit_test(test_filter_node_affinity_operators),
		cmocka_unit_test(test_filter_ports_conflict_on_wildcard_address),
		cmocka_unit_test(test_filter_resources_reports_every_shortage),
		cmocka_unit_test(test_filter_resources_too_many_pods),
		cmocka_unit_test(test_pod_requests_follow_init_and_sidecar_rules),
		cmocka_unit_test(test_pending_pods_are_ours_unbound_and_alive),
		cmocka_unit_test(test_fit_message_matches_upstream),
		cmocka_unit_test(test_sampling_follows_percentage_of_nodes_to_score),
		cmocka_unit_test(test_backoff_doubles_from_one_to_ten_seconds),
		cmocka_unit_test(test_scores_and_normalization),
		cmocka_unit_test(test_schedule_reports_why_nothing_fits),
		cmocka_unit_test(test_schedule_accounts_assumed_pods),
		cmocka_unit_test(test_schedule_spreads_pods_of_one_owner),
		cmocka_unit_test(test_schedule_spreads_across_zones),
		cmocka_unit_test(test_schedule_topology_spread_do_not_schedule),
		cmocka_unit_test(test_schedule_inter_pod_affinity),
		cmocka_unit_test(test_schedule_preferred_terms_and_soft_taints),
		cmocka_unit_test(test_schedule_samples_nodes_and_rotates),
		cmocka_unit_test(test_schedule_breaks_ties_at_random),
		cmocka_unit_test(test_maps_survive_churn),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
