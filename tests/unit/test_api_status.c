/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status writes of pods against a real API server started in-process (kc_local). A patch
 * holding nothing but "status", as node agents send, is made on the stored text; one that
 * holds anything else (here an empty "metadata") goes through the decoded tree. The same
 * patches sent both ways to two pods alike must leave them alike: the same status, spec
 * and labels read back, the same answers, the same field selections, no new revision for
 * a patch that changes nothing, the same refusal of a patch naming another pod's uid.
 */
#include <fcntl.h>
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
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jload.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"

#include "api_fixture.h"

#define TOKEN "admin-token"
#define NS    "default"

static char tmpdir[TEST_API_DIR_MAX];
static struct api *api;
static struct kc *kc;

static json_t *unquoted(const char *text)
{
	cleanup_free char *s = xstrdup(text);
	json_t *j;

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = jload_s(s, 0, NULL);
	assert_non_null(j);
	return j;
}

static json_t *get(const char *path)
{
	json_t *obj = NULL;
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(kc_request(kc, "GET", path, NULL, NULL, &obj, &err), 200);
	return obj;
}

static const json_t *member(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);

	return b ? json_object_get(v, b) : v;
}

/* Equal, or both absent (json_equal() calls two NULLs unequal). */
static bool same(const json_t *a, const json_t *b)
{
	return (!a && !b) || json_equal(a, b);
}

/* The names of the pods a field selector on this test's pods finds. */
static char *selected(const char *selector)
{
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/" NS "/pods?labelSelector=app%%3Dst&fieldSelector=%s",
			  selector);
	cleanup_json json_t *list = get(path);
	char *out = xstrdup("");
	const json_t *p;
	size_t i;

	json_array_foreach (json_object_get(list, "items"), i, p) {
		char *next =
			xasprintf("%s%s ", out, json_string_value(member(p, "metadata", "name")));

		free(out);
		out = next;
	}
	return out;
}

/* Sends @patch (quoted) to both pods, the tree's with an empty metadata besides. */
static void patch_both(const char *ctype, const char *patch, int want)
{
	static const char *const pods[] = {"st-text", "st-tree"};
	json_t *answers[2] = {NULL, NULL};
	int codes[2];

	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *path =
			xasprintf("/api/v1/namespaces/" NS "/pods/%s/status", pods[i]);
		cleanup_json json_t *body = unquoted(patch);
		cleanup_err struct err err = ERR_INIT;

		if (i == 1)
			json_object_set_new(body, "metadata", json_object());
		codes[i] = kc_request(kc, "PATCH", path, ctype, body, &answers[i], &err);
	}
	assert_int_equal(codes[0], codes[1]);
	assert_int_equal(codes[0], want);
	if (want == 200) {
		/* the answers are the pods as stored */
		assert_true(same(member(answers[0], "status", NULL),
				 member(answers[1], "status", NULL)));
		assert_non_null(member(answers[0], "metadata", "resourceVersion"));
	}
	json_decref(answers[0]);
	json_decref(answers[1]);
	{
		cleanup_json json_t *a = get("/api/v1/namespaces/" NS "/pods/st-text");
		cleanup_json json_t *b = get("/api/v1/namespaces/" NS "/pods/st-tree");

		assert_true(same(member(a, "status", NULL), member(b, "status", NULL)));
		assert_true(same(member(a, "spec", NULL), member(b, "spec", NULL)));
		assert_true(same(member(a, "metadata", "labels"), member(b, "metadata", "labels")));
		assert_true(same(member(a, "metadata", "ownerReferences"),
				 member(b, "metadata", "ownerReferences")));
	}
}

static const char *rv(const char *pod)
{
	static char buf[32];
	cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s", pod);
	cleanup_json json_t *p = get(path);

	snprintf(buf, sizeof(buf), "%s",
		 json_string_value(member(p, "metadata", "resourceVersion")));
	return buf;
}

#define MERGE     "application/merge-patch+json"
#define STRATEGIC "application/strategic-merge-patch+json"

static void test_status_patches_on_the_text_read_as_the_tree_makes_them(void **state)
{
	static const char *const pods[] = {"st-text", "st-tree"};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		cleanup_json json_t *pod = json_pack(
			"{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s}]}}", "apiVersion", "v1",
			"kind", "Pod", "metadata", "name", pods[i], "labels", "app", "st", "spec",
			"nodeName", "st-node", "containers", "name", "c", "image", "busybox");

		assert_int_equal(kc_request(kc, "POST", "/api/v1/namespaces/" NS "/pods", NULL, pod,
					    NULL, &err),
				 201);
	}
	{
		cleanup_free char *s = selected("status.phase%3DPending");

		assert_string_equal(s, "st-text st-tree ");
	}
	/* a node agent's report: running, with an address, conditions and containers */
	patch_both(MERGE,
		   "{'status':{'phase':'Running','podIP':'10.1.2.3','podIPs':[{'ip':'10.1.2.3'}],"
		   "'hostIP':'192.0.2.1','startTime':'2026-01-02T03:04:05Z','conditions':["
		   "{'type':'Ready','status':'True','lastProbeTime':null,'lastTransitionTime':"
		   "'2026-01-02T03:04:06Z'},{'type':'Initialized','status':'True'}],"
		   "'containerStatuses':[{'name':'c','ready':true,'restartCount':0,'image':"
		   "'busybox','imageID':'','started':true,'state':{'running':{'startedAt':"
		   "'2026-01-02T03:04:05Z'}}}]}}",
		   200);
	{
		cleanup_free char *running = selected("status.phase%3DRunning");
		cleanup_free char *pending = selected("status.phase%3DPending");
		cleanup_free char *ip = selected("status.podIP%3D10.1.2.3");
		cleanup_free char *node = selected("spec.nodeName%3Dst-node");

		assert_string_equal(running, "st-text st-tree ");
		assert_string_equal(pending, "");
		assert_string_equal(ip, "st-text st-tree ");
		assert_string_equal(node, "st-text st-tree ");
	}
	/* a strategic merge patch: conditions merge by type, in the order given */
	patch_both(STRATEGIC,
		   "{'status':{'$setElementOrder/conditions':[{'type':'Initialized'},{'type':"
		   "'Ready'}],'conditions':[{'type':'Ready','status':'False','reason':'Probe'}]}}",
		   200);
	/* a member removed; an unknown field dropped (with a warning) */
	patch_both(MERGE, "{'status':{'podIP':null,'podIPs':null,'bogus':1}}", 200);
	{
		cleanup_free char *ip = selected("status.podIP%3D10.1.2.3");

		assert_string_equal(ip, "");
	}
	/* nothing changes: no new revision */
	{
		char before[32];

		snprintf(before, sizeof(before), "%s", rv("st-text"));
		patch_both(MERGE, "{'status':{'phase':'Running'}}", 200);
		assert_string_equal(rv("st-text"), before);
	}
	/* a default removed: put back from the spec, by the tree */
	patch_both(MERGE, "{'status':{'qosClass':null,'phase':'Failed'}}", 200);
	{
		cleanup_free char *failed = selected("status.phase%3DFailed");
		cleanup_json json_t *p = get("/api/v1/namespaces/" NS "/pods/st-text");

		assert_string_equal(failed, "st-text st-tree ");
		assert_string_equal(json_string_value(member(p, "status", "qosClass")),
				    "BestEffort");
	}
	/* with its uid, as node agents send it: a precondition */
	for (size_t i = 0; i < 2; i++) {
		cleanup_free char *path = xasprintf("/api/v1/namespaces/" NS "/pods/%s", pods[i]);
		cleanup_free char *status_path = xasprintf("%s/status", path);
		cleanup_json json_t *p = get(path);
		const char *uid = json_string_value(member(p, "metadata", "uid"));
		cleanup_json json_t *right = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "uid", uid,
						       "status", "phase", "Succeeded");
		cleanup_json json_t *wrong = json_pack("{s:{s:s}, s:{s:s}}", "metadata", "uid",
						       "0000-other", "status", "phase", "Running");
		cleanup_json json_t *got = NULL, *refused = NULL;
		cleanup_free char *msg = xasprintf(
			"Operation cannot be fulfilled on pods \"%s\": Precondition failed: UID in "
			"precondition: 0000-other, UID in object meta: %s",
			pods[i], uid);

		/* the tree's pod is sent its name besides, which keeps it off the text */
		if (i == 1) {
			json_object_set_new(json_object_get(right, "metadata"), "name",
					    json_string(pods[i]));
			json_object_set_new(json_object_get(wrong, "metadata"), "name",
					    json_string(pods[i]));
		}
		assert_int_equal(kc_request(kc, "PATCH", status_path, MERGE, right, &got, &err),
				 200);
		assert_string_equal(json_string_value(member(got, "status", "phase")), "Succeeded");
		assert_int_equal(kc_request_failure_body(kc, "PATCH", status_path, MERGE, wrong,
							 &refused, &err),
				 409);
		assert_string_equal(json_string_value(json_object_get(refused, "message")), msg);
		err_clear(&err);
	}
	{
		cleanup_free char *done = selected("status.phase%3DSucceeded");

		assert_string_equal(done, "st-text st-tree ");
	}
	/* a value of the wrong type, and a patch that does not apply: refused alike */
	patch_both(MERGE, "{'status':{'phase':5}}", 400);
	patch_both(STRATEGIC, "{'status':{'conditions':{'type':'Ready'}}}", 400);
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
	test_api_start("status", &cfg, tmpdir, &api, &kc);
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
		cmocka_unit_test(test_status_patches_on_the_text_read_as_the_tree_makes_them),
	};

	return cmocka_run_group_tests_name("api_status", tests, group_setup, group_teardown);
}
