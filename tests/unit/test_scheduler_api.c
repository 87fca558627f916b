/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler against a real API server started in-process (kc_local): pods land on
 * nodes where they fit, with a Scheduled event; a pod that fits nowhere stays pending
 * with upstream's FailedScheduling event and PodScheduled=False condition, and is
 * scheduled once a node that fits it joins. Bindings of one pod racing each other have
 * one winner; a bound pod reads and selects as bound. New pods are bound while the pods informer
 * the control loops share is held up. Status reports of a bound pod keep it accounted on its node.
 */
#include <fcntl.h>
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
#include "cluster/scheduler/scheduler.h"

#include "api_fixture.h"

#define TOKEN "admin-token"
#define NS    "default"
#define BIG_MSG                                                                                    \
	"0/5 nodes are available: 1 node(s) had untolerated taint "                                \
	"{node-role.kubernetes.io/control-plane: }, 4 Insufficient cpu. preemption: 0/5 nodes "    \
	"are available: 1 Preemption is not helpful for scheduling, 4 No preemption victims "      \
	"found for incoming pod."

static char tmpdir[TEST_API_DIR_MAX];
static struct api *api;
static struct kc *kc;

static void add_node(const char *name, const char *cpu, bool control_plane)
{
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s/status", name);
	cleanup_json json_t *node = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{}}", "apiVersion",
					      "v1", "kind", "Node", "metadata", "name", name,
					      "labels", "kubernetes.io/hostname", name, "spec");
	cleanup_json json_t *status = NULL;
	cleanup_err struct err err = ERR_INIT;

	if (control_plane)
		json_object_set_new(json_object_get(node, "spec"), "taints",
				    json_pack("[{s:s, s:s}]", "key",
					      "node-role.kubernetes.io/control-plane", "effect",
					      "NoSchedule"));
	assert_int_equal(kc_request(kc, "POST", "/api/v1/nodes", NULL, node, NULL, &err), 201);
	status = json_pack("{s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}}",
			   "status", "capacity", "cpu", cpu, "memory", "4Gi", "pods", "110",
			   "allocatable", "cpu", cpu, "memory", "4Gi", "pods", "110", "conditions",
			   "type", "Ready", "status", "True", "reason", "KubeletReady");
	assert_int_equal(
		kc_request(kc, "PATCH", path, "application/merge-patch+json", status, NULL, &err),
		200);
}

static void add_pod(const char *name, const char *cpu)
{
	cleanup_json json_t *pod =
		json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}",
			  "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
			  NS, "spec", "containers", "name", "c", "image", "busybox", "resources",
			  "requests", "cpu", cpu, "memory", "256Mi");
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(
		kc_request(kc, "POST", "/api/v1/namespaces/" NS "/pods", NULL, pod, NULL, &err),
		201);
}

static json_t *get(const char *path)
{
	json_t *obj = NULL;
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(kc_request(kc, "GET", path, NULL, NULL, &obj, &err), 200);
	return obj;
}

static const char *node_of(const json_t *pod)
{
	return json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
}

/* Polls @pod (up to 15 s) until it has a node; returns its name (heap) or NULL. */
static char *wait_bound(const char *pod)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s", pod);

	for (int i = 0; i < 300; i++) {
		cleanup_json json_t *obj = get(path);

		if (node_of(obj))
			return xstrdup(node_of(obj));
		usleep(50 * 1000);
	}
	return NULL;
}

static const json_t *condition(const json_t *pod, const char *type, const char *status)
{
	const json_t *c;
	size_t i;

	json_array_foreach (json_object_get(json_object_get(pod, "status"), "conditions"), i, c) {
		if (strcmp(json_string_value(json_object_get(c, "type")), type) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "status")), status) == 0)
			return c;
	}
	return NULL;
}

/* An event about @pod with @reason and @message, waiting up to 15 s for it. */
static bool has_event(const char *pod, const char *reason, const char *message)
{
	for (int i = 0; i < 300; i++) {
		cleanup_json json_t *list = get("/api/v1/namespaces/" NS "/events");
		const json_t *ev;
		size_t k;

		json_array_foreach (json_object_get(list, "items"), k, ev) {
			const json_t *io = json_object_get(ev, "involvedObject");
			const char *src = json_string_value(
				json_object_get(json_object_get(ev, "source"), "component"));

			if (strcmp(json_string_value(json_object_get(io, "name")), pod) == 0 &&
			    strcmp(json_string_value(json_object_get(ev, "reason")), reason) == 0 &&
			    strcmp(json_string_value(json_object_get(ev, "message")), message) ==
				    0 &&
			    src && strcmp(src, "default-scheduler") == 0)
				return true;
		}
		usleep(50 * 1000);
	}
	return false;
}

/*
 * Polls @pod (up to 15 s) until it has PodScheduled=False; returns the pod (a new
 * reference) and sets *@cond to that condition, or NULL when it never came.
 */
static json_t *wait_unschedulable(const char *pod, const json_t **cond)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s", pod);
	json_t *obj = NULL;

	*cond = NULL;
	for (int i = 0; i < 300 && !*cond; i++) {
		json_decref(obj);
		obj = get(path);
		*cond = condition(obj, "PodScheduled", "False");
		if (!*cond)
			usleep(50 * 1000);
	}
	return obj;
}

static void test_scheduler_binds_reports_and_retries(void **state)
{
	struct scheduler *s = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *big = NULL;
	cleanup_free char *big_node = NULL;
	const json_t *cond = NULL;
	int per_node[5] = {0};

	(void)state;
	for (int i = 1; i <= 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "n%d", i % 10);
		add_node(name, "2", false);
	}
	add_node("cp", "8", true);
	assert_int_equal(scheduler_start(kc, &s, &err), 0);

	for (int i = 0; i < 8; i++) {
		char name[16];
		cleanup_free char *n = NULL;
		cleanup_free char *msg = NULL;

		snprintf(name, sizeof(name), "small-%d", i % 10);
		add_pod(name, "900m");
		n = wait_bound(name);
		assert_non_null(n);
		/* n1..n4 take two pods of 900m each; the control plane none */
		assert_int_equal(n[0], 'n');
		per_node[n[1] - '1']++;
		msg = xasprintf("Successfully assigned " NS "/%s to %s", name, n);
		if (i == 0)
			assert_true(has_event(name, "Scheduled", msg));
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(per_node[i], 2);

	add_pod("big", "3");
	big = wait_unschedulable("big", &cond);
	assert_non_null(cond);
	assert_null(node_of(big));
	assert_string_equal(json_string_value(json_object_get(cond, "reason")), "Unschedulable");
	assert_string_equal(json_string_value(json_object_get(cond, "message")), BIG_MSG);
	assert_true(has_event("big", "FailedScheduling", BIG_MSG));

	/* a node that fits it: the cluster changed, so the pod is tried again */
	add_node("n5", "4", false);
	big_node = wait_bound("big");
	assert_non_null(big_node);
	assert_string_equal(big_node, "n5");
	scheduler_stop(s);
}

#define RACE_PODS    20
#define RACE_BINDERS 4

struct race {
	pthread_barrier_t *go;
	const char *pod;
	int node;
	int status;
};

static void *bind_main(void *arg)
{
	struct race *r = arg;
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s/binding", r->pod);
	cleanup_free char *node = xasprintf("race-node-%d", r->node);
	cleanup_json json_t *b =
		json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
			  "Binding", "metadata", "name", r->pod, "target", "apiVersion", "v1",
			  "kind", "Node", "name", node);
	struct err err = ERR_INIT;

	pthread_barrier_wait(r->go);
	r->status = kc_request(kc, "POST", path, NULL, b, NULL, &err);
	err_clear(&err);
	return NULL;
}

/* Bindings of one pod sent at once: one is accepted, the others get 409, and the pod is
 * on the accepted one's node. */
static void test_concurrent_bindings_of_a_pod_have_one_winner(void **state)
{
	(void)state;
	for (int p = 0; p < RACE_PODS; p++) {
		cleanup_free char *pod = xasprintf("race-%d", p);
		cleanup_free char *node = NULL;
		pthread_barrier_t go;
		pthread_t t[RACE_BINDERS];
		struct race r[RACE_BINDERS];
		int won = -1, accepted = 0;

		add_pod(pod, "100m");
		pthread_barrier_init(&go, NULL, RACE_BINDERS);
		for (int i = 0; i < RACE_BINDERS; i++) {
			r[i] = (struct race){.go = &go, .pod = pod, .node = i};
			assert_int_equal(pthread_create(&t[i], NULL, bind_main, &r[i]), 0);
		}
		for (int i = 0; i < RACE_BINDERS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < RACE_BINDERS; i++) {
			if (r[i].status == 201) {
				accepted++;
				won = i;
			} else {
				assert_int_equal(r[i].status, 409);
			}
		}
		assert_int_equal(accepted, 1);
		node = wait_bound(pod);
		assert_non_null(node);
		assert_int_equal(atoi(node + strlen("race-node-")), won);
	}
}

static int bind_to(const char *pod, const char *node)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s/binding", pod);
	cleanup_json json_t *b =
		json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind",
			  "Binding", "metadata", "name", pod, "target", "apiVersion", "v1", "kind",
			  "Node", "name", node);
	cleanup_err struct err err = ERR_INIT;

	return kc_request(kc, "POST", path, NULL, b, NULL, &err);
}

static size_t count_items(const char *path)
{
	cleanup_json json_t *list = get(path);

	return json_array_size(json_object_get(list, "items"));
}

/*
 * A binding, whether the server changes the pod's text or its decoded tree (a pod that
 * failed to schedule before): the pod read back is on the node with one PodScheduled=True
 * condition and its labels, and the field and label selectors find it there.
 */
static void test_a_bound_pod_reads_and_selects_as_bound(void **state)
{
	static const char *const pods[] = {"sel-fresh", "sel-failed"};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s", pods[i]);
		cleanup_free char *status_path = xasprintf("%s/status", path);
		cleanup_free char *on_node =
			xasprintf("/api/v1/namespaces/" NS "/pods?fieldSelector="
				  "spec.nodeName%%3Dsel-node-%zu",
				  i);
		cleanup_free char *by_label =
			xasprintf("%s&labelSelector=app%%3Dsel,case%%3D%s", on_node, pods[i] + 4);
		cleanup_free char *node = xasprintf("sel-node-%zu", i);
		cleanup_json json_t *pod = json_pack(
			"{s:s, s:s, s:{s:s, s:{s:s, s:s}}, s:{s:[{s:s, s:s}]}}", "apiVersion", "v1",
			"kind", "Pod", "metadata", "name", pods[i], "labels", "app", "sel", "case",
			pods[i] + 4, "spec", "containers", "name", "c", "image", "busybox");
		cleanup_json json_t *got = NULL;
		const json_t *c, *conds;
		size_t k, scheduled = 0;

		assert_int_equal(kc_request(kc, "POST", "/api/v1/namespaces/" NS "/pods", NULL, pod,
					    NULL, &err),
				 201);
		if (i == 1) {
			cleanup_json json_t *patch = json_pack(
				"{s:{s:[{s:s, s:s, s:s}]}}", "status", "conditions", "type",
				"PodScheduled", "status", "False", "reason", "Unschedulable");

			assert_int_equal(kc_request(kc, "PATCH", status_path,
						    "application/merge-patch+json", patch, NULL,
						    &err),
					 200);
		}
		assert_int_equal(count_items(on_node), 0);
		assert_int_equal(bind_to(pods[i], node), 201);
		got = get(path);
		assert_string_equal(node_of(got), node);
		assert_non_null(json_string_value(
			json_object_get(json_object_get(got, "metadata"), "resourceVersion")));
		assert_string_equal(
			json_string_value(json_object_get(
				json_object_get(json_object_get(got, "metadata"), "labels"),
				"app")),
			"sel");
		conds = json_object_get(json_object_get(got, "status"), "conditions");
		json_array_foreach (conds, k, c)
			if (strcmp(json_string_value(json_object_get(c, "type")), "PodScheduled") ==
			    0)
				scheduled++;
		assert_int_equal(scheduled, 1);
		assert_non_null(condition(got, "PodScheduled", "True"));
		assert_int_equal(count_items(on_node), 1);
		assert_int_equal(count_items(by_label), 1);
		/* bound once: the next binding is refused */
		assert_int_equal(bind_to(pods[i], "sel-other"), 409);
		assert_int_equal(count_items(on_node), 1);
	}
}

/* A subscriber of the shared pods informer that holds its thread while asked to. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool on, hit, release;
} hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false, false};

static void hold_add(void *arg, json_t *obj)
{
	(void)arg;
	(void)obj;
	pthread_mutex_lock(&hold.mu);
	if (hold.on) {
		hold.hit = true;
		pthread_cond_broadcast(&hold.cv);
		while (!hold.release)
			pthread_cond_wait(&hold.cv, &hold.mu);
	}
	pthread_mutex_unlock(&hold.mu);
}

/*
 * The scheduler sees new pods through an informer of its own: with the thread of the
 * pods informer the control loops share held up (as by a backlog of other changes), new
 * pods are still bound.
 */
static void test_new_pods_are_bound_while_the_shared_informer_is_behind(void **state)
{
	const struct informer_handlers h = {.add = hold_add, .compact = true};
	struct scheduler *s = NULL;
	struct informer *sub = NULL;
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(scheduler_start(kc, &s, &err), 0);
	assert_int_equal(informer_start(kc, "/api/v1/pods", &h, &sub, &err), 0);
	assert_true(informer_wait_synced(sub, 15000));
	pthread_mutex_lock(&hold.mu);
	hold.on = true;
	pthread_mutex_unlock(&hold.mu);
	add_pod("hol-trigger", "100m");
	pthread_mutex_lock(&hold.mu);
	while (!hold.hit)
		pthread_cond_wait(&hold.cv, &hold.mu);
	pthread_mutex_unlock(&hold.mu);

	for (int i = 0; i < 5; i++) {
		cleanup_free char *name = xasprintf("hol-%d", i);
		cleanup_free char *node = NULL;

		add_pod(name, "100m");
		node = wait_bound(name);
		assert_non_null(node);
	}
	pthread_mutex_lock(&hold.mu);
	hold.release = true;
	pthread_cond_broadcast(&hold.cv);
	pthread_mutex_unlock(&hold.mu);
	informer_stop(sub);
	scheduler_stop(s);
}

static void add_pod_on(const char *name, const char *cpu, const char *host)
{
	cleanup_json json_t *pod =
		json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:[{s:s, s:s, s:{s:{s:s}}}]}}",
			  "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
			  NS, "spec", "nodeSelector", "kubernetes.io/hostname", host, "containers",
			  "name", "c", "image", "busybox", "resources", "requests", "cpu", cpu);
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(
		kc_request(kc, "POST", "/api/v1/namespaces/" NS "/pods", NULL, pod, NULL, &err),
		201);
}

static void report_status(const char *pod, const char *ready)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s/status", pod);
	cleanup_json json_t *patch =
		json_pack("{s:{s:s, s:[{s:s, s:s}]}}", "status", "phase", "Running", "conditions",
			  "type", "Ready", "status", ready);
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(
		kc_request(kc, "PATCH", path, "application/merge-patch+json", patch, NULL, &err),
		200);
}

/*
 * A bound pod's status reports leave what it holds of its node accounted: a pod that
 * needs the rest waits until the first is deleted, then takes its place.
 */
static void test_status_reports_keep_a_bound_pod_accounted(void **state)
{
	struct scheduler *s = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *a_node = NULL;
	cleanup_free char *b_node = NULL;
	cleanup_json json_t *b = NULL;
	const json_t *cond = NULL;

	(void)state;
	add_node("acct", "2", false);
	assert_int_equal(scheduler_start(kc, &s, &err), 0);
	add_pod_on("acct-a", "1500m", "acct");
	a_node = wait_bound("acct-a");
	assert_non_null(a_node);
	assert_string_equal(a_node, "acct");
	report_status("acct-a", "True");
	report_status("acct-a", "False");
	report_status("acct-a", "True");

	add_pod_on("acct-b", "1", "acct");
	b = wait_unschedulable("acct-b", &cond);
	assert_non_null(cond);
	assert_null(node_of(b));

	assert_int_equal(kc_request(kc, "DELETE",
				    "/api/v1/namespaces/" NS "/pods/acct-a?gracePeriodSeconds=0",
				    NULL, NULL, NULL, &err),
			 200);
	b_node = wait_bound("acct-b");
	assert_non_null(b_node);
	assert_string_equal(b_node, "acct");
	scheduler_stop(s);
}

/* How many times events say the scheduler did @reason to @pod (their counts summed). */
static int64_t event_count(const char *pod, const char *reason)
{
	cleanup_json json_t *list = get("/api/v1/namespaces/" NS "/events");
	const json_t *ev;
	int64_t n = 0;
	size_t k;

	json_array_foreach (json_object_get(list, "items"), k, ev) {
		const json_t *io = json_object_get(ev, "involvedObject");

		if (strcmp(json_string_value(json_object_get(io, "name")), pod) == 0 &&
		    strcmp(json_string_value(json_object_get(ev, "reason")), reason) == 0)
			n += json_integer_value(json_object_get(ev, "count")) ?: 1;
	}
	return n;
}

/*
 * A pod that fits nowhere is tried again when its own spec changes in a way that may let
 * it fit (a toleration added), not only when the cluster does; a change to its metadata
 * alone does not count as such a change.
 */
static void test_a_waiting_pod_is_tried_again_when_its_spec_changes(void **state)
{
	struct scheduler *s = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *pod = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:{s:s}, s:[{s:s, s:s}]}}", "apiVersion", "v1", "kind",
		"Pod", "metadata", "name", "tol", "namespace", NS, "spec", "nodeSelector",
		"kubernetes.io/hostname", "tol-cp", "containers", "name", "c", "image", "busybox");
	cleanup_json json_t *patch = json_pack("[{s:s, s:s, s:{s:s, s:s, s:s}}]", "op", "add",
					       "path", "/spec/tolerations/-", "value", "key",
					       "node-role.kubernetes.io/control-plane", "operator",
					       "Exists", "effect", "NoSchedule");
	cleanup_json json_t *note = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "x", "y");
	cleanup_json json_t *waiting = NULL, *again = NULL;
	cleanup_free char *node = NULL;
	const json_t *cond = NULL;
	int64_t tries;

	(void)state;
	add_node("tol-cp", "2", true);
	assert_int_equal(scheduler_start(kc, &s, &err), 0);
	assert_int_equal(
		kc_request(kc, "POST", "/api/v1/namespaces/" NS "/pods", NULL, pod, NULL, &err),
		201);
	waiting = wait_unschedulable("tol", &cond);
	assert_non_null(cond);
	assert_true(has_event("tol", "FailedScheduling",
			      json_string_value(json_object_get(cond, "message"))));
	tries = event_count("tol", "FailedScheduling");
	assert_int_equal(kc_request(kc, "PATCH", "/api/v1/namespaces/" NS "/pods/tol",
				    "application/merge-patch+json", note, NULL, &err),
			 200);
	/* past the first retry's backoff (1 s), had it been tried again */
	usleep(2000 * 1000);
	again = get("/api/v1/namespaces/" NS "/pods/tol");
	assert_null(node_of(again));
	assert_int_equal(event_count("tol", "FailedScheduling"), tries);
	assert_int_equal(kc_request(kc, "PATCH", "/api/v1/namespaces/" NS "/pods/tol",
				    "application/json-patch+json", patch, NULL, &err),
			 200);
	node = wait_bound("tol");
	assert_non_null(node);
	assert_string_equal(node, "tol-cp");
	scheduler_stop(s);
}

static int group_setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.threads = 2,
	};

	(void)state;
	test_api_start("sched", &cfg, tmpdir, &api, &kc);
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
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheduler_binds_reports_and_retries),
		cmocka_unit_test(test_a_waiting_pod_is_tried_again_when_its_spec_changes),
		cmocka_unit_test(test_concurrent_bindings_of_a_pod_have_one_winner),
		cmocka_unit_test(test_a_bound_pod_reads_and_selects_as_bound),
		cmocka_unit_test(test_new_pods_are_bound_while_the_shared_informer_is_behind),
		cmocka_unit_test(test_status_reports_keep_a_bound_pod_accounted),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("scheduler_api", tests, group_setup, group_teardown);
}
