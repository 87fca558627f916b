/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the garbage collector and the namespace controller
 * (cluster/controllers/gc.c, namespace.c) against an API server started in-process,
 * driven and checked only through the API as any client would.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"

#include "api_fixture.h"

#define NS  "gc-test"
#define CMS "/api/v1/namespaces/" NS "/configmaps"

static struct {
	char dir[TEST_API_DIR_MAX];
	struct api *api;
	struct kc *c;
	void *gc, *ns;
} cl;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static json_t *J(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

/* One request; the status code, with the body in *ret when wanted. */
static int req(const char *method, const char *path, const char *ctype, json_t *body, json_t **ret)
{
	cleanup_err struct err err = ERR_INIT;
	json_t *out = NULL;
	int code = kc_request(cl.c, method, path, ctype, body, &out, &err);

	if (code < 0)
		fail_msg("%s %s: %s", method, path, err.msg);
	if (ret)
		*ret = out;
	else
		json_decref(out);
	return code;
}

static json_t *get(const char *path)
{
	json_t *obj = NULL;

	if (req("GET", path, NULL, NULL, &obj) != 200) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *create(const char *path, const char *text)
{
	cleanup_json json_t *body = J(text);
	json_t *obj = NULL;
	int code = req("POST", path, NULL, body, &obj);

	if (code != 201) {
		cleanup_free char *dump = obj ? json_dumps(obj, 0) : NULL;

		fail_msg("create in %s: %d %s", path, code, dump ? dump : "");
	}
	return obj;
}

static void del(const char *path, const char *opts)
{
	cleanup_json json_t *body = opts ? J(opts) : NULL;
	int code = req("DELETE", path, NULL, body, NULL);

	if (code != 200 && code != 202)
		fail_msg("delete %s: %d", path, code);
}

static const char *uid_of(const json_t *obj)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
}

static bool deleting(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

static size_t nrefs(const json_t *obj)
{
	return json_array_size(
		json_object_get(json_object_get(obj, "metadata"), "ownerReferences"));
}

/* A ConfigMap in NS owned by the ConfigMaps named in @owners ("a", "b", NULL). */
static json_t *cm_owned(const char *name, const char *finalizer, ...)
{
	cleanup_json json_t *obj =
		json_pack("{s:s, s:s, s:{s:s, s:[]}}", "apiVersion", "v1", "kind", "ConfigMap",
			  "metadata", "name", name, "ownerReferences");
	json_t *refs = json_object_get(json_object_get(obj, "metadata"), "ownerReferences");
	cleanup_free char *text = NULL;
	const char *owner;
	va_list ap;

	va_start(ap, finalizer);
	while ((owner = va_arg(ap, const char *))) {
		const char *uid = va_arg(ap, const char *);

		json_array_append_new(refs,
				      json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "v1", "kind",
						"ConfigMap", "name", owner, "uid", uid));
	}
	va_end(ap);
	if (finalizer)
		json_object_set_new(json_object_get(obj, "metadata"), "finalizers",
				    json_pack("[s]", finalizer));
	text = json_dumps(obj, 0);
	return create(CMS, text);
}

static json_t *cm(const char *name)
{
	cleanup_free char *text = xasprintf(
		"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"}}",
		name);

	return create(CMS, text);
}

/* Polls @path until @fn accepts what GET returns (NULL: 404), up to @secs seconds. */
static void wait_for(const char *path, bool (*fn)(const json_t *obj), int secs, const char *what)
{
	for (int i = 0; i < secs * 20; i++) {
		cleanup_json json_t *obj = get(path);

		if (fn(obj))
			return;
		sleep_ms(50);
	}
	fail_msg("timed out waiting for %s (%s)", what, path);
}

static bool is_gone(const json_t *obj)
{
	return obj == NULL;
}

static bool is_deleting(const json_t *obj)
{
	return obj && deleting(obj);
}

static bool has_one_ref(const json_t *obj)
{
	return obj && nrefs(obj) == 1;
}

static void test_dependents_of_a_deleted_owner_are_collected_in_the_background(void **state)
{
	cleanup_json json_t *owner = cm("bg-owner");
	cleanup_json json_t *d1 = cm_owned("bg-dep1", NULL, "bg-owner", uid_of(owner), NULL);
	cleanup_json json_t *d2 = cm_owned("bg-dep2", NULL, "bg-owner", uid_of(owner), NULL);

	(void)state;
	del(CMS "/bg-owner", NULL);
	wait_for(CMS "/bg-dep1", is_gone, 10, "the first dependent to be collected");
	wait_for(CMS "/bg-dep2", is_gone, 10, "the second dependent to be collected");
}

static void test_a_dependent_of_an_owner_that_never_existed_is_collected(void **state)
{
	cleanup_json json_t *d =
		cm_owned("dangling", NULL, "nobody", "0badc0de-0000-4000-8000-000000000000", NULL);

	(void)state;
	wait_for(CMS "/dangling", is_gone, 10, "the dangling dependent to be collected");
}

static void test_orphaning_keeps_dependents_and_drops_their_references(void **state)
{
	cleanup_json json_t *owner = cm("or-owner");
	cleanup_json json_t *dep = cm_owned("or-dep", NULL, "or-owner", uid_of(owner), NULL);
	cleanup_json json_t *after = NULL;

	(void)state;
	del(CMS "/or-owner", "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
			     "\"propagationPolicy\":\"Orphan\"}");
	wait_for(CMS "/or-owner", is_gone, 10, "the orphaning owner to go");
	after = get(CMS "/or-dep");
	assert_non_null(after);
	assert_string_equal(uid_of(after), uid_of(dep));
	assert_int_equal(nrefs(after), 0);
	assert_null(json_object_get(json_object_get(after, "metadata"), "ownerReferences"));
	/* and it stays */
	sleep_ms(500);
	json_decref(after);
	after = get(CMS "/or-dep");
	assert_non_null(after);
}

static void test_foreground_owner_waits_for_its_dependents(void **state)
{
	cleanup_json json_t *owner = cm("fg-owner");
	cleanup_json json_t *dep =
		cm_owned("fg-dep", "example.com/hold", "fg-owner", uid_of(owner), NULL);
	cleanup_json json_t *o = NULL;
	cleanup_json json_t *patch = J("[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]");

	(void)state;
	del(CMS "/fg-owner", "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
			     "\"propagationPolicy\":\"Foreground\"}");
	wait_for(CMS "/fg-dep", is_deleting, 10, "the dependent to be deleted");
	sleep_ms(300);
	o = get(CMS "/fg-owner");
	assert_non_null(o);
	assert_true(deleting(o));
	assert_int_equal(req("PATCH", CMS "/fg-dep", "application/json-patch+json", patch, NULL),
			 200);
	wait_for(CMS "/fg-dep", is_gone, 10, "the dependent to go");
	wait_for(CMS "/fg-owner", is_gone, 10, "the owner to go after its dependent");
}

static void test_a_dependent_stays_while_one_of_its_owners_lives(void **state)
{
	cleanup_json json_t *a = cm("two-a");
	cleanup_json json_t *b = cm("two-b");
	cleanup_json json_t *dep =
		cm_owned("two-dep", NULL, "two-a", uid_of(a), "two-b", uid_of(b), NULL);
	cleanup_json json_t *after = NULL;

	(void)state;
	del(CMS "/two-a", NULL);
	/* the reference to the owner that is gone is dropped; the dependent stays */
	wait_for(CMS "/two-dep", has_one_ref, 10, "the dangling reference to be dropped");
	after = get(CMS "/two-dep");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(json_object_get(after, "metadata"),
						       "ownerReferences"),
				       0),
			"uid")),
		uid_of(b));
	sleep_ms(300);
	json_decref(after);
	after = get(CMS "/two-dep");
	assert_non_null(after);
	del(CMS "/two-b", NULL);
	wait_for(CMS "/two-dep", is_gone, 10, "the dependent to go with its last owner");
}

static void test_a_recreated_owner_of_the_same_name_does_not_keep_old_dependents(void **state)
{
	cleanup_json json_t *old = cm("re-owner");
	cleanup_json json_t *dep = cm_owned("re-dep", NULL, "re-owner", uid_of(old), NULL);
	cleanup_json json_t *fresh = NULL;

	(void)state;
	del(CMS "/re-owner", NULL);
	fresh = cm("re-owner");
	wait_for(CMS "/re-dep", is_gone, 10, "the old owner's dependent to go");
	json_decref(fresh);
	fresh = get(CMS "/re-owner");
	assert_non_null(fresh);
	assert_string_not_equal(uid_of(fresh), uid_of(old));
}

static void add_node(const char *name)
{
	cleanup_free char *text = xasprintf(
		"{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}}", name);
	cleanup_json json_t *n = create("/api/v1/nodes", text);
}

static json_t *add_pod(const char *ns, const char *name, const char *node)
{
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/pods", ns);
	cleanup_free char *bind = node ? xasprintf(",\"nodeName\":\"%s\"", node) : xstrdup("");
	cleanup_free char *text =
		xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\"},"
			  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]%s}}",
			  name, bind);

	return create(path, text);
}

static void test_a_terminating_pod_on_a_vanished_node_is_removed(void **state)
{
	cleanup_json json_t *p = NULL, *q = NULL, *cur = NULL;
	const char *pod = "/api/v1/namespaces/" NS "/pods/stranded";

	(void)state;
	add_node("node-x");
	p = add_pod(NS, "stranded", "node-x");
	del(pod, NULL);
	cur = get(pod);
	assert_non_null(cur);
	assert_true(deleting(cur));
	sleep_ms(300);
	json_decref(cur);
	cur = get(pod);
	assert_non_null(cur); /* its node lives: the node finishes it, not the collector */
	del("/api/v1/nodes/node-x", NULL);
	wait_for(pod, is_gone, 10, "the pod of the deleted node to be removed");

	/* bound to a node that never existed */
	q = add_pod(NS, "nowhere", "no-such-node");
	del("/api/v1/namespaces/" NS "/pods/nowhere", NULL);
	wait_for("/api/v1/namespaces/" NS "/pods/nowhere", is_gone, 10,
		 "the pod of the missing node to be removed");
}

static bool pod_terminating(const json_t *obj)
{
	return obj && deleting(obj);
}

static void test_namespace_deletion_empties_and_removes_it(void **state)
{
	cleanup_json json_t *ns =
		create("/api/v1/namespaces", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
					     "\"metadata\":{\"name\":\"doomed\"}}");
	cleanup_json json_t *c1 = create("/api/v1/namespaces/doomed/configmaps",
					 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
					 "\"metadata\":{\"name\":\"c1\"}}");
	cleanup_json json_t *s1 = create("/api/v1/namespaces/doomed/secrets",
					 "{\"apiVersion\":\"v1\",\"kind\":\"Secret\","
					 "\"metadata\":{\"name\":\"s1\"}}");
	cleanup_json json_t *dep =
		create("/apis/apps/v1/namespaces/doomed/deployments",
		       "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
		       "\"metadata\":{\"name\":\"d\"},\"spec\":{\"selector\":{"
		       "\"matchLabels\":{\"a\":\"b\"}},\"template\":{\"metadata\":{"
		       "\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{"
		       "\"name\":\"c\",\"image\":\"busybox\"}]}}}}");
	cleanup_json json_t *p1 = NULL, *p2 = NULL, *p3 = NULL, *cur = NULL;
	cleanup_json json_t *force =
		J("{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"gracePeriodSeconds\":0}");
	const char *bound = "/api/v1/namespaces/doomed/pods/bound";

	(void)state;
	add_node("node-1");
	p1 = add_pod("doomed", "free", NULL);
	p2 = add_pod("doomed", "bound", "node-1");
	p3 = add_pod("doomed", "lost", "no-such-node");
	del("/api/v1/namespaces/doomed", NULL);
	cur = get("/api/v1/namespaces/doomed");
	assert_non_null(cur);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(cur, "status"), "phase")),
		"Terminating");

	/* the pod on a live node gets its grace period; here the test is the node */
	wait_for(bound, pod_terminating, 10, "the bound pod to be terminating");
	wait_for("/api/v1/namespaces/doomed/pods/lost", is_gone, 10,
		 "the pod of a missing node to be force-deleted");
	wait_for("/api/v1/namespaces/doomed/configmaps/c1", is_gone, 10, "the configmap to go");
	json_decref(cur);
	cur = get("/api/v1/namespaces/doomed");
	assert_non_null(cur); /* still waiting for the bound pod */
	assert_int_equal(req("DELETE", bound, NULL, force, NULL), 200);
	wait_for("/api/v1/namespaces/doomed", is_gone, 15, "the namespace to be removed");
	assert_null(get("/api/v1/namespaces/doomed/secrets/s1"));
	assert_null(get("/apis/apps/v1/namespaces/doomed/deployments/d"));
}

static int setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = "admin-token",
		.node_token = "node-token",
		.threads = 2,
	};
	struct controllers_config cc = {.workers = 2};
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *ns = NULL;

	(void)state;
	if (getenv("TEST_DEBUG"))
		log_setup(NULL, LOG_FORMAT_TEXT, LOG_DEBUG);
	test_api_start("ctrl-gc", &cfg, cl.dir, &cl.api, &cl.c);
	if (gc_start(cl.c, &cc, &cl.gc, &err) < 0 || namespace_start(cl.c, &cc, &cl.ns, &err) < 0)
		fail_msg("start: %s", err.msg);
	ns = create("/api/v1/namespaces",
		    "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"" NS
		    "\"}}");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	namespace_stop(cl.ns);
	gc_stop(cl.gc);
	test_api_stop(cl.dir, cl.api, cl.c);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_dependents_of_a_deleted_owner_are_collected_in_the_background),
		cmocka_unit_test(test_a_dependent_of_an_owner_that_never_existed_is_collected),
		cmocka_unit_test(test_orphaning_keeps_dependents_and_drops_their_references),
		cmocka_unit_test(test_foreground_owner_waits_for_its_dependents),
		cmocka_unit_test(test_a_dependent_stays_while_one_of_its_owners_lives),
		cmocka_unit_test(
			test_a_recreated_owner_of_the_same_name_does_not_keep_old_dependents),
		cmocka_unit_test(test_a_terminating_pod_on_a_vanished_node_is_removed),
		cmocka_unit_test(test_namespace_deletion_empties_and_removes_it),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("ctrl_gc", tests, setup, teardown);
}
