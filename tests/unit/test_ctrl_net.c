/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the endpoints and node lifecycle controllers and of hollow nodes: the pure
 * endpoint computation (subsets, slices and their reconciliation) and taint/toleration
 * rules first, then the controllers and the simulator against an in-process API server:
 * services following pod readiness, hollow nodes registering and acting out pods, and
 * silent nodes turning Unknown, tainted and evicted.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/sim/sim.h"

#include "api_fixture.h"

/* The pure parts of endpoints.c and nodelifecycle.c (exported for this test). */
typedef char *(*ctl_zone_fn)(void *arg, const char *node);
bool ctl_pod_ready(const json_t *pod);
bool ctl_pod_in_endpoints(const json_t *pod, bool include_terminating);
int ctl_find_port(const json_t *pod, const json_t *svc_port);
json_t *ctl_endpoints_subsets(const json_t *svc, json_t *const *pods, size_t n);
json_t *ctl_slice_groups(const json_t *svc, json_t *const *pods, size_t n, ctl_zone_fn zone,
			 void *zone_arg);
json_t *ctl_slices_reconcile(const json_t *svc, const json_t *groups, const json_t *existing);
bool ctl_tolerates(const json_t *toleration, const json_t *taint);
int64_t ctl_eviction_delay(const json_t *taints, const json_t *tolerations);
enum ctl_no_execute { CTL_NOEXEC_ADD, CTL_NOEXEC_HOLD, CTL_NOEXEC_DROP };
enum ctl_zone_state { CTL_ZONE_NORMAL, CTL_ZONE_PARTIAL, CTL_ZONE_FULL };
json_t *ctl_node_taints(const json_t *node, const char *now, enum ctl_no_execute mode);
bool ctl_node_mark_unknown(json_t *node, const char *now);
enum ctl_zone_state ctl_zone_state(size_t ready, size_t not_ready, double unhealthy_threshold);
double ctl_zone_eviction_rate(enum ctl_zone_state state, size_t zone_size,
			      const struct controllers_config *cfg);

#define TOKEN      "test-admin-token"
#define NODE_TOKEN "test-join-token"

static json_t *J(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

/* A pod in namespace "ns" with labels app=web, container port "web" = @port. */
static json_t *pod(const char *name, const char *ip, bool ready, int port)
{
	json_t *p = json_pack(
		"{s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s, s:[{s:s, s:i}]}]}, "
		"s:{s:s, s:[{s:s, s:s}]}}",
		"metadata", "name", name, "namespace", "ns", "uid", name, "labels", "app", "web",
		"spec", "nodeName", "n1", "containers", "name", "c", "image", "busybox", "ports",
		"name", "web", "containerPort", port, "status", "phase", "Running", "conditions",
		"type", "Ready", "status", ready ? "True" : "False");

	if (ip)
		json_object_set_new(json_object_get(p, "status"), "podIP", json_string(ip));
	return p;
}

static json_t *service(const char *extra_spec)
{
	cleanup_free char *text = xasprintf(
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"uid\":\"svc-uid\","
		"\"labels\":{\"team\":\"a\"}},"
		"\"spec\":{\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.43.0.5\","
		"\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\",\"protocol\":"
		"\"TCP\"}]"
		"%s}}",
		extra_spec);

	return J(text);
}

static void assert_json(const json_t *got, const char *want_text)
{
	cleanup_json json_t *want = J(want_text);

	if (!json_equal((json_t *)got, want)) {
		cleanup_free char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

		fail_msg("got %s\nwant %s", g, want_text);
	}
}

/* Endpoints. */

static void test_endpoints_put_ready_pods_in_addresses_and_the_rest_in_not_ready(void **state)
{
	cleanup_json json_t *svc = service("");
	json_t *pods[5] = {
		pod("b", "10.42.0.3", true, 8080),    pod("a", "10.42.0.2", false, 8080),
		pod("noip", NULL, true, 8080),        pod("gone", "10.42.0.9", true, 8080),
		pod("done", "10.42.0.8", true, 8080),
	};
	cleanup_json json_t *subsets = NULL;

	(void)state;
	json_object_set_new(json_object_get(pods[3], "metadata"), "deletionTimestamp",
			    json_string("2024-01-01T00:00:00Z"));
	json_object_set_new(json_object_get(pods[4], "status"), "phase", json_string("Succeeded"));
	subsets = ctl_endpoints_subsets(svc, pods, 5);
	assert_json(
		subsets,
		"[{\"addresses\":[{\"ip\":\"10.42.0.3\",\"nodeName\":\"n1\",\"targetRef\":"
		"{\"kind\":\"Pod\",\"namespace\":\"ns\",\"name\":\"b\",\"uid\":\"b\"}}],"
		"\"notReadyAddresses\":[{\"ip\":\"10.42.0.2\",\"nodeName\":\"n1\",\"targetRef\":"
		"{\"kind\":\"Pod\",\"namespace\":\"ns\",\"name\":\"a\",\"uid\":\"a\"}}],"
		"\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}]}]");
	for (int i = 0; i < 5; i++)
		json_decref(pods[i]);
}

static void test_endpoints_group_pods_by_their_resolved_ports(void **state)
{
	cleanup_json json_t *svc = service("");
	json_t *pods[3] = {pod("a", "10.42.0.2", true, 8080), pod("b", "10.42.0.3", true, 9090),
			   pod("c", "10.42.0.4", true, 8080)};
	cleanup_json json_t *subsets = NULL, *other = NULL;

	(void)state;
	/* a pod without the named port is left out */
	other = pod("d", "10.42.0.5", true, 1);
	json_object_set_new(
		json_array_get(
			json_object_get(
				json_array_get(json_object_get(json_object_get(other, "spec"),
							       "containers"),
					       0),
				"ports"),
			0),
		"name", json_string("other"));
	assert_int_equal(
		ctl_find_port(
			other,
			json_array_get(json_object_get(json_object_get(svc, "spec"), "ports"), 0)),
		-1);
	subsets = ctl_endpoints_subsets(svc, pods, 3);
	assert_int_equal(json_array_size(subsets), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(subsets, 0), "addresses")),
			 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(subsets, 1), "addresses")),
			 1);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(json_array_get(subsets, 0), "addresses"), 1),
			"ip")),
		"10.42.0.4");
	for (int i = 0; i < 3; i++)
		json_decref(pods[i]);
}

static void test_endpoints_of_headless_services_without_ports_list_bare_addresses(void **state)
{
	cleanup_json json_t *svc = J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\"},"
				     "\"spec\":{\"selector\":{\"app\":\"web\"},"
				     "\"clusterIP\":\"None\"}}");
	json_t *pods[1] = {pod("a", "10.42.0.2", true, 80)};
	cleanup_json json_t *subsets = NULL;

	(void)state;
	json_object_set_new(json_object_get(pods[0], "spec"), "hostname", json_string("a"));
	json_object_set_new(json_object_get(pods[0], "spec"), "subdomain", json_string("web"));
	subsets = ctl_endpoints_subsets(svc, pods, 1);
	assert_json(subsets, "[{\"addresses\":[{\"ip\":\"10.42.0.2\",\"hostname\":\"a\","
			     "\"nodeName\":\"n1\",\"targetRef\":{\"kind\":\"Pod\","
			     "\"namespace\":\"ns\",\"name\":\"a\",\"uid\":\"a\"}}]}]");
	json_decref(pods[0]);
}

static void test_endpoints_publish_not_ready_addresses_when_asked(void **state)
{
	cleanup_json json_t *svc = service(",\"publishNotReadyAddresses\":true");
	json_t *pods[2] = {pod("a", "10.42.0.2", false, 80), pod("b", "10.42.0.3", true, 80)};
	cleanup_json json_t *subsets = NULL;

	(void)state;
	json_object_set_new(json_object_get(pods[1], "metadata"), "deletionTimestamp",
			    json_string("2024-01-01T00:00:00Z"));
	subsets = ctl_endpoints_subsets(svc, pods, 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(subsets, 0), "addresses")),
			 2);
	assert_null(json_object_get(json_array_get(subsets, 0), "notReadyAddresses"));
	for (int i = 0; i < 2; i++)
		json_decref(pods[i]);
}

static char *zone_of(void *arg, const char *node)
{
	(void)arg;
	return strcmp(node, "n1") == 0 ? xstrdup("zone-a") : NULL;
}

static void test_slices_carry_ready_serving_and_terminating(void **state)
{
	cleanup_json json_t *svc = service("");
	json_t *pods[3] = {pod("a", "10.42.0.2", true, 80), pod("b", "10.42.0.3", false, 80),
			   pod("c", "10.42.0.4", true, 80)};
	cleanup_json json_t *groups = NULL;
	const json_t *eps;

	(void)state;
	json_object_set_new(json_object_get(pods[2], "metadata"), "deletionTimestamp",
			    json_string("2024-01-01T00:00:00Z"));
	groups = ctl_slice_groups(svc, pods, 3, zone_of, NULL);
	assert_int_equal(json_array_size(groups), 1);
	assert_json(json_object_get(json_array_get(groups, 0), "ports"),
		    "[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]");
	eps = json_object_get(json_array_get(groups, 0), "endpoints");
	assert_json(
		json_array_get(eps, 0),
		"{\"addresses\":[\"10.42.0.2\"],\"conditions\":{\"ready\":true,\"serving\":true,"
		"\"terminating\":false},\"nodeName\":\"n1\",\"zone\":\"zone-a\",\"targetRef\":"
		"{\"kind\":\"Pod\",\"namespace\":\"ns\",\"name\":\"a\",\"uid\":\"a\"}}");
	assert_json(json_object_get(json_array_get(eps, 1), "conditions"),
		    "{\"ready\":false,\"serving\":false,\"terminating\":false}");
	assert_json(json_object_get(json_array_get(eps, 2), "conditions"),
		    "{\"ready\":false,\"serving\":true,\"terminating\":true}");
	for (int i = 0; i < 3; i++)
		json_decref(pods[i]);
}

/* Turns a plan's creates into the slices the server would hold. */
static json_t *as_created(const json_t *plan, int *serial)
{
	json_t *out = json_array();
	size_t i;
	const json_t *s;

	json_array_foreach (json_object_get(plan, "create"), i, s) {
		json_t *c = json_deep_copy(s);
		cleanup_free char *name = xasprintf("web-%d", (*serial)++);

		json_object_set_new(json_object_get(c, "metadata"), "name", json_string(name));
		json_array_append_new(out, c);
	}
	return out;
}

static void test_slices_reconcile_placeholder_split_and_in_place_updates(void **state)
{
	cleanup_json json_t *svc = service(""), *none = json_array(), *plan = NULL;
	cleanup_json json_t *groups = NULL, *slices = NULL, *again = NULL;
	json_t *pods[150];
	int serial = 0;

	(void)state;
	/* no pods: one empty placeholder, then nothing to do */
	groups = ctl_slice_groups(svc, NULL, 0, NULL, NULL);
	plan = ctl_slices_reconcile(svc, groups, none);
	assert_int_equal(json_array_size(json_object_get(plan, "create")), 1);
	slices = as_created(plan, &serial);
	assert_json(json_object_get(json_array_get(slices, 0), "metadata"),
		    "{\"generateName\":\"web-\",\"name\":\"web-0\",\"namespace\":\"ns\","
		    "\"labels\":{\"team\":\"a\",\"kubernetes.io/service-name\":\"web\","
		    "\"endpointslice.kubernetes.io/managed-by\":"
		    "\"endpointslice-controller.k8s.io\"},"
		    "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Service\","
		    "\"name\":\"web\",\"uid\":\"svc-uid\",\"controller\":true,"
		    "\"blockOwnerDeletion\":true}]}");
	json_decref(plan);
	plan = ctl_slices_reconcile(svc, groups, slices);
	assert_int_equal(json_array_size(json_object_get(plan, "create")), 0);
	assert_int_equal(json_array_size(json_object_get(plan, "update")), 0);
	assert_int_equal(json_array_size(json_object_get(plan, "delete")), 0);

	/* 150 pods: the placeholder is reused for 100 and one slice is made for 50 */
	for (int i = 0; i < 150; i++) {
		cleanup_free char *name = xasprintf("p%03d", i);
		cleanup_free char *ip = xasprintf("10.42.%d.%d", i / 200, i % 200 + 2);

		pods[i] = pod(name, ip, true, 80);
	}
	json_decref(groups);
	groups = ctl_slice_groups(svc, pods, 150, NULL, NULL);
	json_decref(plan);
	plan = ctl_slices_reconcile(svc, groups, slices);
	assert_int_equal(json_array_size(json_object_get(plan, "create")), 1);
	assert_int_equal(json_array_size(json_object_get(plan, "update")), 1);
	assert_int_equal(json_array_size(json_object_get(plan, "delete")), 0);
	json_decref(slices);
	slices = json_array();
	json_array_extend(slices, json_object_get(plan, "update"));
	again = as_created(plan, &serial);
	json_array_extend(slices, again);
	assert_int_equal(
		json_array_size(json_object_get(json_array_get(slices, 0), "endpoints")) +
			json_array_size(json_object_get(json_array_get(slices, 1), "endpoints")),
		150);

	/* one pod turns unready: only the slice holding it is rewritten */
	json_object_set_new(
		json_array_get(json_object_get(json_object_get(pods[120], "status"), "conditions"),
			       0),
		"status", json_string("False"));
	json_decref(groups);
	groups = ctl_slice_groups(svc, pods, 150, NULL, NULL);
	json_decref(plan);
	plan = ctl_slices_reconcile(svc, groups, slices);
	assert_int_equal(json_array_size(json_object_get(plan, "create")), 0);
	assert_int_equal(json_array_size(json_object_get(plan, "update")), 1);
	assert_int_equal(json_array_size(json_object_get(plan, "delete")), 0);

	/* every pod gone: one slice is emptied into the placeholder, the other deleted */
	json_decref(groups);
	groups = ctl_slice_groups(svc, NULL, 0, NULL, NULL);
	json_decref(plan);
	plan = ctl_slices_reconcile(svc, groups, slices);
	assert_int_equal(json_array_size(json_object_get(plan, "create")), 0);
	assert_int_equal(json_array_size(json_object_get(plan, "update")), 1);
	assert_int_equal(json_array_size(json_object_get(plan, "delete")), 1);
	assert_int_equal(json_array_size(json_object_get(
				 json_array_get(json_object_get(plan, "update"), 0), "endpoints")),
			 0);
	for (int i = 0; i < 150; i++)
		json_decref(pods[i]);
}

/* Taints and tolerations. */

static void test_tolerations_match_key_operator_value_and_effect(void **state)
{
	static const struct {
		const char *tol, *taint;
		bool match;
	} cases[] = {
		{"{\"key\":\"k\",\"operator\":\"Exists\"}",
		 "{\"key\":\"k\",\"effect\":\"NoExecute\"}", true},
		{"{\"operator\":\"Exists\"}", "{\"key\":\"any\",\"effect\":\"NoSchedule\"}", true},
		{"{\"key\":\"k\",\"value\":\"v\"}",
		 "{\"key\":\"k\",\"value\":\"v\",\"effect\":\"NoExecute\"}", true},
		{"{\"key\":\"k\",\"operator\":\"Equal\",\"value\":\"v\"}",
		 "{\"key\":\"k\",\"value\":\"w\",\"effect\":\"NoExecute\"}", false},
		{"{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}",
		 "{\"key\":\"k\",\"effect\":\"NoExecute\"}", false},
		{"{\"key\":\"j\",\"operator\":\"Exists\"}",
		 "{\"key\":\"k\",\"effect\":\"NoExecute\"}", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_json json_t *tol = J(cases[i].tol), *taint = J(cases[i].taint);

		if (ctl_tolerates(tol, taint) != cases[i].match)
			fail_msg("case %zu: %s vs %s", i, cases[i].tol, cases[i].taint);
	}
}

static void test_eviction_delay_is_the_shortest_toleration_used(void **state)
{
	static const struct {
		const char *taints, *tols;
		int64_t delay;
	} cases[] = {
		{"[]", "[]", -1},
		{"[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\"}]", "[]",
		 -1},
		{"[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]", "[]",
		 0},
		{"[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]",
		 "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
		 "\"effect\":\"NoExecute\"}]",
		 -1},
		{"[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"}]",
		 "[{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
		 "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}]",
		 300},
		{"[{\"key\":\"a\",\"effect\":\"NoExecute\"},{\"key\":\"b\",\"effect\":"
		 "\"NoExecute\"}]",
		 "[{\"key\":\"a\",\"operator\":\"Exists\",\"tolerationSeconds\":300},"
		 "{\"key\":\"b\",\"operator\":\"Exists\",\"tolerationSeconds\":60}]",
		 60},
		{"[{\"key\":\"a\",\"effect\":\"NoExecute\"},{\"key\":\"b\",\"effect\":"
		 "\"NoExecute\"}]",
		 "[{\"key\":\"a\",\"operator\":\"Exists\",\"tolerationSeconds\":300}]", 0},
		{"[{\"key\":\"a\",\"effect\":\"NoExecute\"}]",
		 "[{\"key\":\"a\",\"operator\":\"Exists\",\"tolerationSeconds\":0}]", 0},
		{"[{\"key\":\"a\",\"effect\":\"NoExecute\"}]",
		 "[{\"key\":\"a\",\"operator\":\"Exists\",\"tolerationSeconds\":-5}]", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_json json_t *taints = J(cases[i].taints), *tols = J(cases[i].tols);
		int64_t d = ctl_eviction_delay(taints, tols);

		if (d != cases[i].delay)
			fail_msg("case %zu: delay %lld, want %lld", i, (long long)d,
				 (long long)cases[i].delay);
	}
}

static json_t *node_with(const char *ready, const char *taints, bool unschedulable)
{
	cleanup_free char *text = xasprintf(
		"{\"metadata\":{\"name\":\"n1\"},\"spec\":{\"taints\":%s,\"unschedulable\":%s},"
		"\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\","
		"\"lastHeartbeatTime\":\"2024-01-01T00:00:00Z\"}]}}",
		taints, unschedulable ? "true" : "false", ready);

	return J(text);
}

static void test_node_taints_follow_the_ready_condition(void **state)
{
	const char *now = "2024-02-02T00:00:00Z";
	cleanup_json json_t *n = NULL, *t = NULL;

	(void)state;
	n = node_with("Unknown", "[{\"key\":\"mine\",\"effect\":\"NoSchedule\"}]", false);
	t = ctl_node_taints(n, now, CTL_NOEXEC_ADD);
	assert_json(t, "[{\"key\":\"mine\",\"effect\":\"NoSchedule\"},"
		       "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"},"
		       "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"}]");
	/* applied, nothing more to do: timeAdded is kept */
	json_object_set(json_object_get(n, "spec"), "taints", t);
	json_decref(t);
	t = ctl_node_taints(n, "2030-01-01T00:00:00Z", CTL_NOEXEC_ADD);
	assert_null(t);
	json_decref(n);

	n = node_with("False",
		      "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\","
		      "\"timeAdded\":\"x\"}]",
		      true);
	t = ctl_node_taints(n, now, CTL_NOEXEC_ADD);
	assert_json(t, "[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoSchedule\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"},"
		       "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"},"
		       "{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"}]");
	json_decref(n);
	json_decref(t);

	/* recovered: the managed taints go, the others stay */
	n = node_with("True",
		      "[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"},"
		      "{\"key\":\"mine\",\"effect\":\"NoExecute\"}]",
		      false);
	t = ctl_node_taints(n, now, CTL_NOEXEC_ADD);
	assert_json(t, "[{\"key\":\"mine\",\"effect\":\"NoExecute\"}]");
}

static void test_node_taints_hold_or_drop_no_execute_when_told(void **state)
{
	const char *now = "2024-02-02T00:00:00Z";
	cleanup_json json_t *silent = node_with("Unknown", "[]", false), *t = NULL;
	cleanup_json json_t *tainted =
		node_with("Unknown",
			  "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\","
			  "\"timeAdded\":\"a\"},{\"key\":\"node.kubernetes.io/unreachable\","
			  "\"effect\":\"NoExecute\",\"timeAdded\":\"a\"}]",
			  false);

	(void)state;
	/* no token for a first NoExecute taint: NoSchedule alone */
	t = ctl_node_taints(silent, now, CTL_NOEXEC_HOLD);
	assert_json(t, "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\","
		       "\"timeAdded\":\"2024-02-02T00:00:00Z\"}]");
	json_decref(t);
	/* one present stays */
	assert_null(ctl_node_taints(tainted, now, CTL_NOEXEC_HOLD));
	/* disruption mode: it goes, NoSchedule stays */
	t = ctl_node_taints(tainted, now, CTL_NOEXEC_DROP);
	assert_json(t, "[{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoSchedule\","
		       "\"timeAdded\":\"a\"}]");
}

static void test_zone_states_and_rates_follow_upstream(void **state)
{
	struct controllers_config cfg = {.node_eviction_rate = 0.1,
					 .secondary_node_eviction_rate = 0.01,
					 .unhealthy_zone_threshold = 0.55,
					 .large_cluster_size_threshold = 50};

	(void)state;
	assert_int_equal(ctl_zone_state(5, 0, 0.55), CTL_ZONE_NORMAL);
	/* two not ready are never a disruption, whatever the share */
	assert_int_equal(ctl_zone_state(0, 0, 0.55), CTL_ZONE_NORMAL);
	assert_int_equal(ctl_zone_state(1, 2, 0.55), CTL_ZONE_NORMAL);
	assert_int_equal(ctl_zone_state(2, 3, 0.55), CTL_ZONE_PARTIAL);
	assert_int_equal(ctl_zone_state(3, 3, 0.55), CTL_ZONE_NORMAL);
	assert_int_equal(ctl_zone_state(0, 1, 0.55), CTL_ZONE_FULL);
	assert_int_equal(ctl_zone_state(0, 7, 0.55), CTL_ZONE_FULL);
	assert_true(ctl_zone_eviction_rate(CTL_ZONE_NORMAL, 5000, &cfg) == 0.1);
	assert_true(ctl_zone_eviction_rate(CTL_ZONE_FULL, 5, &cfg) == 0.1);
	assert_true(ctl_zone_eviction_rate(CTL_ZONE_PARTIAL, 51, &cfg) == 0.01);
	/* a small zone mostly down stops evicting */
	assert_true(ctl_zone_eviction_rate(CTL_ZONE_PARTIAL, 50, &cfg) == 0);
}

static void test_silent_nodes_turn_unknown_keeping_their_heartbeat(void **state)
{
	cleanup_json json_t *n = node_with("True", "[]", false), *empty = J("{}");
	const json_t *c;

	(void)state;
	assert_true(ctl_node_mark_unknown(n, "2024-03-03T00:00:00Z"));
	c = json_array_get(json_object_get(json_object_get(n, "status"), "conditions"), 0);
	assert_json(c,
		    "{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"NodeStatusUnknown\","
		    "\"message\":\"Kubelet stopped posting node status.\","
		    "\"lastHeartbeatTime\":\"2024-01-01T00:00:00Z\","
		    "\"lastTransitionTime\":\"2024-03-03T00:00:00Z\"}");
	assert_false(ctl_node_mark_unknown(n, "2024-03-04T00:00:00Z"));
	assert_true(ctl_node_mark_unknown(empty, "2024-03-03T00:00:00Z"));
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(
				json_object_get(json_object_get(empty, "status"), "conditions"), 0),
			"reason")),
		"NodeStatusNeverUpdated");
}

/* Against an in-process API server. */

static char tmpdir[TEST_API_DIR_MAX];
static struct api *api;
static struct kc *kc;
static char url[64];

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

#define WAIT_FOR(cond, ms)                                                                         \
	({                                                                                         \
		bool ok_ = false;                                                                  \
		for (int t_ = 0; t_ < (ms) / 50; t_++) {                                           \
			if (cond) {                                                                \
				ok_ = true;                                                        \
				break;                                                             \
			}                                                                          \
			sleep_ms(50);                                                              \
		}                                                                                  \
		ok_;                                                                               \
	})

static int request(const char *method, const char *path, const char *ctype, const char *body,
		   json_t **ret)
{
	cleanup_json json_t *b = body ? J(body) : NULL;
	struct err err = ERR_INIT;
	int r = kc_request(kc, method, path, ctype, b, ret, &err);

	err_clear(&err);
	return r;
}

static json_t *get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *get(const char *fmt, ...)
{
	cleanup_free char *path = NULL;
	json_t *out = NULL;
	va_list ap;

	va_start(ap, fmt);
	path = xvasprintf(fmt, ap);
	va_end(ap);
	if (request("GET", path, NULL, NULL, &out) != 200) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static void create(const char *path, const char *body)
{
	cleanup_json json_t *resp = NULL;
	int r = request("POST", path, NULL, body, &resp);

	if (r != 201) {
		cleanup_free char *t = json_dumps(resp, JSON_COMPACT);

		fail_msg("POST %s: %d %s", path, r, t ? t : "");
	}
}

static void make_namespace(const char *ns)
{
	cleanup_free char *body = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
					    "\"metadata\":{\"name\":\"%s\"}}",
					    ns);

	create("/api/v1/namespaces", body);
}

static void pod_status(const char *ns, const char *name, const char *ip, bool ready)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", ns, name);
	cleanup_free char *body = xasprintf(
		"{\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}],"
		"\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		ip, ip, ready ? "True" : "False");

	assert_int_equal(request("PATCH", path, "application/merge-patch+json", body, NULL), 200);
}

/* A pod labelled app=web with container port "web" 8080; @spec_extra goes into its spec. */
static void make_pod(const char *ns, const char *name, const char *node, const char *spec_extra)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/pods", ns);
	cleanup_free char *where = node ? xasprintf("\"nodeName\":\"%s\",", node) : xstrdup("");
	cleanup_free char *body = xasprintf(
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		"\"labels\":{\"app\":\"web\"}},\"spec\":{%s\"containers\":[{\"name\":\"c\","
		"\"image\":\"busybox:1.36\",\"ports\":[{\"name\":\"web\",\"containerPort\":8080}]}]"
		"%s}}",
		name, where, spec_extra ? spec_extra : "");

	create(path, body);
}

/* The addresses of one field of Endpoints ns/name, as "ip ip ...", or NULL. */
static char *ep_ips(const char *ns, const char *name, const char *field)
{
	cleanup_json json_t *ep = get("/api/v1/namespaces/%s/endpoints/%s", ns, name);
	char *out;
	size_t i, j;
	const json_t *s, *a;

	if (!ep)
		return NULL;
	out = xstrdup("");
	json_array_foreach (json_object_get(ep, "subsets"), i, s)
		json_array_foreach (json_object_get(s, field), j, a) {
			char *more = xasprintf("%s%s%s", out, *out ? " " : "",
					       json_string_value(json_object_get(a, "ip")));

			free(out);
			out = more;
		}
	return out;
}

static bool ep_is(const char *ns, const char *name, const char *ready, const char *not_ready)
{
	cleanup_free char *r = ep_ips(ns, name, "addresses");
	cleanup_free char *nr = ep_ips(ns, name, "notReadyAddresses");

	return r && nr && strcmp(r, ready) == 0 && strcmp(nr, not_ready) == 0;
}

static bool ep_gone(const char *ns, const char *name)
{
	cleanup_json json_t *ep = get("/api/v1/namespaces/%s/endpoints/%s", ns, name);

	return !ep;
}

/* "ip:ready" of every endpoint in the service's slices, sorted by slice order. */
static char *slice_summary(const char *ns, const char *svc)
{
	cleanup_json json_t *l = get("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices"
				     "?labelSelector=kubernetes.io%%2Fservice-name%%3D%s",
				     ns, svc);
	char *out = xstrdup("");
	size_t i, j;
	const json_t *s, *e;

	json_array_foreach (json_object_get(l, "items"), i, s)
		json_array_foreach (json_object_get(s, "endpoints"), j, e) {
			char *more = xasprintf("%s%s%s:%d", out, *out ? " " : "",
					       json_string_value(json_array_get(
						       json_object_get(e, "addresses"), 0)),
					       json_is_true(json_object_get(
						       json_object_get(e, "conditions"), "ready")));

			free(out);
			out = more;
		}
	return out;
}

static bool slices_are(const char *ns, const char *svc, const char *want)
{
	cleanup_free char *got = slice_summary(ns, svc);

	return strcmp(got, want) == 0;
}

static const char *rv_of(const json_t *obj)
{
	return json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

static void test_endpoints_follow_pod_readiness(void **state)
{
	struct controllers_config cfg = {.workers = 2};
	cleanup_json json_t *ep = NULL, *ep2 = NULL, *headless = NULL;
	cleanup_free char *rv = NULL;
	void *ctl = NULL;
	struct err err = ERR_INIT;

	(void)state;
	make_namespace("ep");
	if (endpoints_start(kc, &cfg, &ctl, &err) < 0)
		fail_msg("start: %s", err.msg);
	create("/api/v1/namespaces/ep/services",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},"
	       "\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":\"http\","
	       "\"port\":80,\"targetPort\":\"web\"}]}}");
	make_pod("ep", "a", NULL, NULL);
	make_pod("ep", "b", NULL, NULL);
	make_pod("ep", "c", NULL, NULL);
	pod_status("ep", "a", "10.42.0.2", true);
	pod_status("ep", "b", "10.42.0.3", true);
	assert_true(WAIT_FOR(ep_is("ep", "web", "10.42.0.2 10.42.0.3", ""), 5000));
	assert_true(WAIT_FOR(slices_are("ep", "web", "10.42.0.2:1 10.42.0.3:1"), 5000));
	ep = get("/api/v1/namespaces/ep/endpoints/web");
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(
				json_object_get(json_array_get(json_object_get(ep, "subsets"), 0),
						"ports"),
				0),
			"port")),
		8080);

	/* readiness moves addresses; a pod without an IP never shows */
	pod_status("ep", "b", "10.42.0.3", false);
	assert_true(WAIT_FOR(ep_is("ep", "web", "10.42.0.2", "10.42.0.3"), 5000));
	assert_true(WAIT_FOR(slices_are("ep", "web", "10.42.0.2:1 10.42.0.3:0"), 5000));

	/* a change the endpoints do not depend on writes nothing */
	json_decref(ep);
	ep = get("/api/v1/namespaces/ep/endpoints/web");
	rv = xstrdup(rv_of(ep));
	assert_int_equal(request("PATCH", "/api/v1/namespaces/ep/pods/a",
				 "application/merge-patch+json",
				 "{\"metadata\":{\"annotations\":{\"x\":\"y\"}}}", NULL),
			 200);
	sleep_ms(500);
	ep2 = get("/api/v1/namespaces/ep/endpoints/web");
	assert_string_equal(rv_of(ep2), rv);

	assert_int_equal(request("DELETE", "/api/v1/namespaces/ep/pods/a?gracePeriodSeconds=0",
				 NULL, NULL, NULL),
			 200);
	assert_true(WAIT_FOR(ep_is("ep", "web", "", "10.42.0.3"), 5000));

	/* a pod relabelled out of the selector leaves, and comes back with its label */
	assert_int_equal(request("PATCH", "/api/v1/namespaces/ep/pods/b",
				 "application/merge-patch+json",
				 "{\"metadata\":{\"labels\":{\"app\":\"other\"}}}", NULL),
			 200);
	assert_true(WAIT_FOR(ep_is("ep", "web", "", ""), 5000));
	assert_int_equal(
		request("PATCH", "/api/v1/namespaces/ep/pods/b", "application/merge-patch+json",
			"{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"x\"}}}", NULL),
		200);
	assert_true(WAIT_FOR(ep_is("ep", "web", "", "10.42.0.3"), 5000));

	/* a service without a selector keeps the endpoints its owner writes */
	create("/api/v1/namespaces/ep/services",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"manual\"},"
	       "\"spec\":{\"ports\":[{\"port\":80}]}}");
	create("/api/v1/namespaces/ep/endpoints",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"manual\"},"
	       "\"subsets\":[{\"addresses\":[{\"ip\":\"192.168.1.1\"}],\"ports\":[{\"port\":80}]}]"
	       "}");
	/* a headless one is marked as such */
	create("/api/v1/namespaces/ep/services",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"hl\"},"
	       "\"spec\":{\"clusterIP\":\"None\",\"selector\":{\"app\":\"web\"}}}");
	assert_true(WAIT_FOR(ep_is("ep", "hl", "", "10.42.0.3"), 5000));
	headless = get("/api/v1/namespaces/ep/endpoints/hl");
	assert_non_null(
		json_object_get(json_object_get(json_object_get(headless, "metadata"), "labels"),
				"service.kubernetes.io/headless"));
	sleep_ms(300);
	assert_true(ep_is("ep", "manual", "192.168.1.1", ""));
	assert_true(slices_are("ep", "manual", ""));

	/* the service goes, its Endpoints go */
	assert_int_equal(request("DELETE", "/api/v1/namespaces/ep/services/web", NULL, NULL, NULL),
			 200);
	assert_true(WAIT_FOR(ep_gone("ep", "web"), 5000));
	endpoints_stop(ctl);
}

/* Hollow nodes. */

static struct sim *sim_run(const char *prefix, size_t count)
{
	static const char *const zones[] = {"z1", "z2", NULL};
	struct sim_config cfg = {
		.server = url,
		.join_token = NODE_TOKEN,
		.name_prefix = prefix,
		.count = count,
		.zones = zones,
		.threads = 2,
		/* well within the node lifecycle tests' grace period of 2 s */
		.lease_ms = 500,
	};
	struct sim *s = NULL;
	struct err err = ERR_INIT;

	if (sim_start(&cfg, &s, &err) < 0)
		fail_msg("sim: %s", err.msg);
	if (sim_wait_registered(s, 15000) != count)
		fail_msg("only %zu of %zu hollow nodes registered", sim_registered(s), count);
	return s;
}

static const json_t *cond(const json_t *obj, const char *type)
{
	size_t i;
	const json_t *c;

	json_array_foreach (json_object_get(json_object_get(obj, "status"), "conditions"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0)
			return c;
	return NULL;
}

static const char *cond_status(const json_t *obj, const char *type)
{
	return json_string_value(json_object_get(cond(obj, type), "status")) ?: "";
}

static bool pod_phase_is(const char *ns, const char *name, const char *phase)
{
	cleanup_json json_t *p = get("/api/v1/namespaces/%s/pods/%s", ns, name);
	const char *ph = json_string_value(json_object_get(json_object_get(p, "status"), "phase"));

	return ph && strcmp(ph, phase) == 0;
}

static bool pod_gone(const char *ns, const char *name)
{
	cleanup_json json_t *p = get("/api/v1/namespaces/%s/pods/%s", ns, name);

	return !p;
}

static const json_t *cstatus(const json_t *pod)
{
	return json_array_get(json_object_get(json_object_get(pod, "status"), "containerStatuses"),
			      0);
}

static bool restarted(const char *ns, const char *name)
{
	cleanup_json json_t *p = get("/api/v1/namespaces/%s/pods/%s", ns, name);
	const json_t *cs = cstatus(p);

	return json_integer_value(json_object_get(cs, "restartCount")) >= 1 &&
	       json_object_get(json_object_get(cs, "state"), "waiting");
}

static void test_hollow_nodes_register_and_act_out_pods(void **state)
{
	struct sim *s = sim_run("hollow-", 3);
	cleanup_json json_t *node = NULL, *lease = NULL, *p = NULL;
	const json_t *cs, *term;
	const char *ip;

	(void)state;
	node = get("/api/v1/nodes/hollow-1");
	assert_non_null(node);
	assert_string_equal(cond_status(node, "Ready"), "True");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(node, "metadata"), "labels"),
				    "topology.kubernetes.io/zone")),
			    "z2");
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(node, "status"), "nodeInfo"),
				    "kubeletVersion")),
			    "v1.32.0-skiff");
	{
		/* three nodes registering at once get three different pod networks */
		cleanup_json json_t *n0 = get("/api/v1/nodes/hollow-0");
		cleanup_json json_t *n2 = get("/api/v1/nodes/hollow-2");
		const char *c[3];

		c[0] = json_string_value(json_object_get(json_object_get(n0, "spec"), "podCIDR"));
		c[1] = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
		c[2] = json_string_value(json_object_get(json_object_get(n2, "spec"), "podCIDR"));
		for (int i = 0; i < 3; i++)
			assert_non_null(c[i]);
		assert_string_not_equal(c[0], c[1]);
		assert_string_not_equal(c[0], c[2]);
		assert_string_not_equal(c[1], c[2]);
	}
	lease = get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/hollow-2");
	assert_non_null(lease);
	assert_non_null(json_object_get(json_object_get(lease, "spec"), "renewTime"));

	make_namespace("sim");
	make_pod("sim", "run", "hollow-1", NULL);
	make_pod("sim", "fail", "hollow-1",
		 ",\"restartPolicy\":\"Never\",\"initContainers\":[{\"name\":\"i\","
		 "\"image\":\"busybox\",\"command\":[\"true\"]}]");
	assert_true(WAIT_FOR(pod_phase_is("sim", "run", "Running"), 10000));
	p = get("/api/v1/namespaces/sim/pods/run");
	ip = json_string_value(json_object_get(json_object_get(p, "status"), "podIP"));
	assert_non_null(ip);
	{
		/* inside the /24 the server gave the node */
		const char *cidr = json_string_value(
			json_object_get(json_object_get(node, "spec"), "podCIDR"));
		const char *dot = cidr ? strrchr(cidr, '.') : NULL;

		assert_non_null(dot);
		assert_int_equal(strncmp(ip, cidr, (size_t)(dot - cidr + 1)), 0);
	}
	assert_string_equal(cond_status(p, "Ready"), "True");
	cs = cstatus(p);
	assert_true(json_is_true(json_object_get(cs, "ready")));
	assert_int_equal(
		strncmp(json_string_value(json_object_get(cs, "containerID")), "hollow://", 9), 0);
	assert_true(WAIT_FOR(pod_phase_is("sim", "fail", "Running") ||
				     pod_phase_is("sim", "fail", "Failed"),
			     10000));

	/* commands "true" and "false" exit; restart policies decide what follows */
	{
		cleanup_free char *path = xstrdup("/api/v1/namespaces/sim/pods");

		create(path,
		       "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"no\"},"
		       "\"spec\":{\"nodeName\":\"hollow-0\",\"restartPolicy\":\"Never\","
		       "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
		       "\"command\":[\"false\"]}]}}");
		create(path,
		       "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"ok\"},"
		       "\"spec\":{\"nodeName\":\"hollow-0\",\"restartPolicy\":\"OnFailure\","
		       "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
		       "\"command\":[\"/bin/true\"]}]}}");
		create(path,
		       "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"loop\"},"
		       "\"spec\":{\"nodeName\":\"hollow-2\",\"containers\":[{\"name\":\"c\","
		       "\"image\":\"busybox\",\"command\":[\"true\"]}]}}");
	}
	assert_true(WAIT_FOR(pod_phase_is("sim", "no", "Failed"), 10000));
	json_decref(p);
	p = get("/api/v1/namespaces/sim/pods/no");
	term = json_object_get(json_object_get(cstatus(p), "state"), "terminated");
	assert_int_equal(json_integer_value(json_object_get(term, "exitCode")), 1);
	assert_string_equal(json_string_value(json_object_get(term, "reason")), "Error");
	assert_true(WAIT_FOR(pod_phase_is("sim", "ok", "Succeeded"), 10000));
	assert_true(WAIT_FOR(restarted("sim", "loop"), 10000));
	assert_true(pod_phase_is("sim", "loop", "Running"));

	/* a pod marked for deletion is reported terminated and removed by its node */
	assert_int_equal(request("DELETE", "/api/v1/namespaces/sim/pods/run", NULL, NULL, NULL),
			 200);
	assert_true(WAIT_FOR(pod_gone("sim", "run"), 10000));
	sim_stop(s);
}

static bool node_unreachable(const char *name)
{
	cleanup_json json_t *n = get("/api/v1/nodes/%s", name);
	const json_t *taints = json_object_get(json_object_get(n, "spec"), "taints");
	int found = 0;
	size_t i;
	const json_t *t;

	if (strcmp(cond_status(n, "Ready"), "Unknown") != 0)
		return false;
	json_array_foreach (taints, i, t)
		if (strcmp(json_string_value(json_object_get(t, "key")) ?: "",
			   "node.kubernetes.io/unreachable") == 0)
			found++;
	return found == 2;
}

static bool node_clean(const char *name)
{
	cleanup_json json_t *n = get("/api/v1/nodes/%s", name);

	return strcmp(cond_status(n, "Ready"), "True") == 0 &&
	       json_array_size(json_object_get(json_object_get(n, "spec"), "taints")) == 0;
}

static bool pod_deleting(const char *ns, const char *name)
{
	cleanup_json json_t *p = get("/api/v1/namespaces/%s/pods/%s", ns, name);

	return p && json_object_get(json_object_get(p, "metadata"), "deletionTimestamp");
}

static bool pod_ready_is(const char *ns, const char *name, const char *want)
{
	cleanup_json json_t *p = get("/api/v1/namespaces/%s/pods/%s", ns, name);

	return p && strcmp(cond_status(p, "Ready"), want) == 0;
}

static void test_silent_nodes_are_tainted_and_their_pods_evicted(void **state)
{
	/*
	 * Nodes that stay up in both zones, and no rationing: the nodes earlier tests left
	 * silent would make the zones small and mostly down, where upstream's rates stop
	 */
	struct controllers_config cfg = {.node_monitor_grace_period = 2,
					 .node_monitor_period = 1,
					 .workers = 1,
					 .rates_set = true,
					 .node_eviction_rate = 100,
					 .secondary_node_eviction_rate = 100,
					 .unhealthy_zone_threshold = 0.55,
					 .large_cluster_size_threshold = 0};
	struct err err = ERR_INIT;
	void *ctl = NULL;
	struct sim *s, *steady;

	(void)state;
	if (nodelifecycle_start(kc, &cfg, &ctl, &err) < 0)
		fail_msg("start: %s", err.msg);
	steady = sim_run("steady-", 2);
	s = sim_run("frail-", 2);
	make_namespace("nl");
	/* the server's admission gives this pod 2 s tolerations (see group_setup) */
	make_pod("nl", "evictee", "frail-0", NULL);
	make_pod("nl", "stayer", "frail-0",
		 ",\"tolerations\":[{\"key\":\"node.kubernetes.io/unreachable\","
		 "\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]");
	assert_true(WAIT_FOR(pod_ready_is("nl", "evictee", "True"), 10000));
	assert_true(WAIT_FOR(pod_ready_is("nl", "stayer", "True"), 10000));
	sleep_ms(1500);
	assert_true(node_clean("frail-0"));

	/* the process goes away: its nodes stop renewing leases */
	sim_stop(s);
	assert_true(WAIT_FOR(node_unreachable("frail-0"), 8000));
	assert_true(WAIT_FOR(pod_ready_is("nl", "stayer", "False"), 5000));
	assert_true(WAIT_FOR(pod_deleting("nl", "evictee"), 6000));
	sleep_ms(500);
	assert_false(pod_deleting("nl", "stayer"));

	/* back again: taints go, and the node finishes deleting what was evicted */
	s = sim_run("frail-", 2);
	assert_true(WAIT_FOR(node_clean("frail-0"), 8000));
	assert_true(WAIT_FOR(pod_gone("nl", "evictee"), 8000));
	assert_true(WAIT_FOR(pod_ready_is("nl", "stayer", "True"), 8000));
	sim_stop(s);
	sim_stop(steady);
	nodelifecycle_stop(ctl);
}

static bool node_unknown_without_no_execute(const char *name)
{
	cleanup_json json_t *n = get("/api/v1/nodes/%s", name);
	const json_t *taints = json_object_get(json_object_get(n, "spec"), "taints");
	bool no_schedule = false;
	size_t i;
	const json_t *t;

	if (strcmp(cond_status(n, "Ready"), "Unknown") != 0)
		return false;
	json_array_foreach (taints, i, t) {
		const char *effect = json_string_value(json_object_get(t, "effect")) ?: "";

		if (strcmp(effect, "NoExecute") == 0)
			return false;
		no_schedule = no_schedule || strcmp(effect, "NoSchedule") == 0;
	}
	return no_schedule;
}

static void test_no_pod_is_evicted_when_no_node_is_ready(void **state)
{
	/* upstream's rates, and no node of the server left running */
	struct controllers_config cfg = {
		.node_monitor_grace_period = 2, .node_monitor_period = 1, .workers = 1};
	struct err err = ERR_INIT;
	void *ctl = NULL;
	struct sim *s;

	(void)state;
	if (nodelifecycle_start(kc, &cfg, &ctl, &err) < 0)
		fail_msg("start: %s", err.msg);
	s = sim_run("cut-", 2);
	make_namespace("cut");
	make_pod("cut", "kept", "cut-0", NULL);
	assert_true(WAIT_FOR(pod_ready_is("cut", "kept", "True"), 10000));

	/* every node falls silent at once: the control plane's side is the likely fault */
	sim_stop(s);
	assert_true(WAIT_FOR(node_unknown_without_no_execute("cut-0"), 8000));
	assert_true(WAIT_FOR(node_unknown_without_no_execute("cut-1"), 8000));
	/* past grace and the pod's 2 s toleration, twice over: still there */
	sleep_ms(4000);
	assert_true(node_unknown_without_no_execute("cut-0"));
	assert_false(pod_deleting("cut", "kept"));

	s = sim_run("cut-", 2);
	assert_true(WAIT_FOR(node_clean("cut-0"), 8000));
	assert_true(WAIT_FOR(pod_ready_is("cut", "kept", "True"), 8000));
	assert_false(pod_deleting("cut", "kept"));
	sim_stop(s);
	nodelifecycle_stop(ctl);
}

static int group_setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = NODE_TOKEN,
		.threads = 4,
		.not_ready_toleration = 2,
		.unreachable_toleration = 2,
	};

	(void)state;
	test_api_start("ctrl-net", &cfg, tmpdir, &api, &kc);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", api_port(api));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	test_api_stop(tmpdir, api, kc);
	return 0;
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(
			test_endpoints_put_ready_pods_in_addresses_and_the_rest_in_not_ready),
		cmocka_unit_test(test_endpoints_group_pods_by_their_resolved_ports),
		cmocka_unit_test(
			test_endpoints_of_headless_services_without_ports_list_bare_addresses),
		cmocka_unit_test(test_endpoints_publish_not_ready_addresses_when_asked),
		cmocka_unit_test(test_slices_carry_ready_serving_and_terminating),
		cmocka_unit_test(test_slices_reconcile_placeholder_split_and_in_place_updates),
		cmocka_unit_test(test_tolerations_match_key_operator_value_and_effect),
		cmocka_unit_test(test_eviction_delay_is_the_shortest_toleration_used),
		cmocka_unit_test(test_node_taints_follow_the_ready_condition),
		cmocka_unit_test(test_node_taints_hold_or_drop_no_execute_when_told),
		cmocka_unit_test(test_zone_states_and_rates_follow_upstream),
		cmocka_unit_test(test_silent_nodes_turn_unknown_keeping_their_heartbeat),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_endpoints_follow_pod_readiness),
		cmocka_unit_test(test_hollow_nodes_register_and_act_out_pods),
		cmocka_unit_test(test_silent_nodes_are_tainted_and_their_pods_evicted),
		cmocka_unit_test(test_no_pod_is_evicted_when_no_node_is_ready),
	};
	int r = cmocka_run_group_tests_name("ctrl_net", pure, NULL, NULL);

	return r | cmocka_run_group_tests_name("ctrl_net_live", live, group_setup, group_teardown);
}
