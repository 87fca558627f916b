/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the writes made on the cache's text of an object (cluster/api/textedit.c):
 * a pod's binding, and a top-level member replaced. The text made from the cache's copy
 * must be, byte for byte, what decoding it, changing the tree and serializing it writes;
 * and every shape an edit does not take is left to the tree (NULL or -1). Objects are
 * written with single quotes for readability.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/jload.h"
#include "cluster/api/internal.h"
#include "cluster/api/resources.h"

#define NOW "2026-11-28T04:05:06Z"

static char *unquote(const char *text)
{
	char *s = xstrdup(text);

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

/* The pod as the cache holds it: serialized, then its resourceVersion put in. */
static char *cached(const char *quoted, int64_t rev, size_t *len)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	cleanup_free char *text = unquote(quoted);
	cleanup_json json_t *pod = jload_s(text, 0, NULL);
	cleanup_free char *bytes = NULL;
	size_t n;

	assert_non_null(pod);
	bytes = api_serialize(pods, pod, &n);
	return api_json_with_rev(bytes, n, rev, len);
}

/* What do_binding's tree path stores for the cached @json. */
static char *by_tree(const char *json, size_t len, const char *node)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	cleanup_json json_t *pod = jload_b(json, len, 0, NULL);
	size_t n;

	assert_non_null(pod);
	api_bind_tree(pod, node, NOW);
	return api_serialize(pods, pod, &n);
}

static void check_same(const char *quoted)
{
	size_t len, out_len;
	cleanup_free char *json = cached(quoted, 4711, &len);
	cleanup_free char *want = by_tree(json, len, "hollow-17");
	cleanup_free char *got = api_bind_text(json, len, "hollow-17", NOW, &out_len);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(out_len, strlen(want));
}

static void test_bound_text_is_what_the_tree_writes(void **state)
{
	(void)state;
	/* as the ReplicaSet controller creates one: status with phase and QoS class */
	check_same("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'web-abcde',"
		   "'generateName':'web-','namespace':'default','uid':'u-1','labels':{'app':"
		   "'web'},'ownerReferences':[{'apiVersion':'apps/v1','kind':'ReplicaSet',"
		   "'name':'web','uid':'rs-1','controller':true,'blockOwnerDeletion':true}]},"
		   "'spec':{'containers':[{'name':'c','image':'busybox','command':['sh','-c',"
		   "'echo \\'}{\\' \\'x\\''],'resources':{'requests':{'cpu':'10m'}}}],"
		   "'restartPolicy':'Always','tolerations':[{'key':'k','operator':'Exists'}]},"
		   "'status':{'phase':'Pending','qosClass':'Burstable'}}");
	/* no status at all */
	check_same("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','namespace':'ns'},"
		   "'spec':{'containers':[{'name':'c','image':'i'}]}}");
	/* an empty status and an empty spec */
	check_same("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':{},"
		   "'status':{}}");
	/* status before spec, unicode and escapes in values, numbers of every kind */
	check_same("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','annotations':{"
		   "'a':'caf\\u00e9 \\\\ \\n \\t','b':'[{]}'}},'status':{'phase':'Pending'},"
		   "'spec':{'priority':-5,'x':1.5,'y':true,'z':null,'containers':[]}}");
	/* the metadata holding nothing but the resourceVersion */
	check_same("{'apiVersion':'v1','kind':'Pod','metadata':{},'spec':{'containers':[]}}");
}

static void test_other_shapes_are_left_to_the_tree(void **state)
{
	static const char *const shapes[] = {
		/* bound already, even to "" */
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':{'nodeName':'n'}}",
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':{'nodeName':''}}",
		/* a condition there already: a pod that failed to schedule */
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':{},'status':{"
		"'conditions':[{'type':'PodScheduled','status':'False'}]}}",
		/* no spec, or no object for spec or status */
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'}}",
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':[]}",
		"{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'spec':{},'status':null}",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t len, out_len;
		cleanup_free char *json = cached(shapes[i], 9, &len);

		assert_null(api_bind_text(json, len, "n2", NOW, &out_len));
	}
}

static void test_text_it_does_not_follow_is_left_to_the_tree(void **state)
{
	static const char *const texts[] = {
		/* no resourceVersion first in the metadata */
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
		"\"spec\":{}}",
		/* cut short, or something after the object */
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"spec\":{\"a\":\"b",
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"spec\":{}} x",
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"spec\":{\"a\" 1}}",
		"",
		"[]",
		/* the metadata after the spec: not the order the server writes */
		"{\"spec\":{},\"metadata\":{\"resourceVersion\":\"3\"}}",
	};
	size_t out_len;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_null(api_bind_text(texts[i], strlen(texts[i]), "n", NOW, &out_len));
	/* names JSON would escape */
	{
		static const char ok[] = "{\"metadata\":{\"resourceVersion\":\"3\"},\"spec\":{}}";

		assert_null(api_bind_text(ok, strlen(ok), "a\"b", NOW, &out_len));
		assert_null(api_bind_text(ok, strlen(ok), "caf\xc3\xa9", NOW, &out_len));
		assert_null(api_bind_text(ok, strlen(ok), "", NOW, &out_len));
		cleanup_free char *got = api_bind_text(ok, strlen(ok), "n", NOW, &out_len);
		assert_string_equal(got, "{\"metadata\":{},\"spec\":{\"nodeName\":\"n\"},"
					 "\"status\":{\"conditions\":[{\"type\":\"PodScheduled\","
					 "\"status\":\"True\",\"lastProbeTime\":null,"
					 "\"lastTransitionTime\":\"" NOW "\"}]}}");
	}
}

static void test_the_tree_replaces_an_earlier_scheduled_condition(void **state)
{
	cleanup_free char *text =
		unquote("{'spec':{},'status':{'conditions':[{'type':'Ready','status':'False'},"
			"{'type':'PodScheduled','status':'False','reason':'Unschedulable'}]}}");
	cleanup_json json_t *pod = jload_s(text, 0, NULL);
	json_t *conds;

	(void)state;
	api_bind_tree(pod, "n", NOW);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName")), "n");
	conds = json_object_get(json_object_get(pod, "status"), "conditions");
	assert_int_equal(json_array_size(conds), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(conds, 0), "type")),
			    "Ready");
	assert_string_equal(json_string_value(json_object_get(json_array_get(conds, 1), "status")),
			    "True");
	assert_null(json_object_get(json_array_get(conds, 1), "reason"));
}

/* The cache's text of @quoted with its status replaced as a tree, and by splicing. */
static void check_splice(const char *quoted, const char *status_quoted)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	size_t len, want_len, got_len;
	cleanup_free char *json = cached(quoted, 12, &len);
	cleanup_free char *st_text = unquote(status_quoted);
	cleanup_json json_t *pod = jload_b(json, len, 0, NULL);
	cleanup_free char *want = NULL, *got = NULL;
	struct api_text_member m;

	json_object_set_new(pod, "status", jload_s(st_text, 0, NULL));
	want = api_serialize(pods, pod, &want_len);
	assert_int_equal(api_text_member(json, len, "status", &m), 0);
	got = api_text_splice(json, len, &m, st_text, strlen(st_text), &got_len);
	assert_string_equal(got, want);
	assert_int_equal(got_len, want_len);
}

static void test_a_spliced_member_is_what_the_tree_writes(void **state)
{
	(void)state;
	check_splice("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p','labels':{'a':'b'}},"
		     "'spec':{'containers':[{'name':'c','image':'i'}]},'status':{'phase':"
		     "'Pending','qosClass':'BestEffort'}}",
		     "{'phase':'Running','podIP':'10.0.0.5','conditions':[{'type':'Ready',"
		     "'status':'True'}]}");
	/* status first, and empty before */
	check_splice("{'apiVersion':'v1','kind':'Pod','metadata':{},'status':{},'spec':{}}",
		     "{'phase':'Failed'}");
	/* a member after the status */
	check_splice("{'apiVersion':'v1','kind':'Pod','metadata':{'name':'p'},'status':{'a':"
		     "'}'},'zzz':[1,{'b':null}]}",
		     "{}");
}

static void test_a_member_is_found_only_in_text_it_follows(void **state)
{
	static const char *const texts[] = {
		/* no such member */
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"spec\":{}}",
		/* no resourceVersion first in the metadata */
		"{\"metadata\":{\"name\":\"p\"},\"status\":{}}",
		/* the member before the metadata */
		"{\"status\":{},\"metadata\":{\"resourceVersion\":\"3\"}}",
		/* twice, cut short, or something after the object */
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"status\":{},\"status\":{}}",
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"status\":{\"a\":[}",
		"{\"metadata\":{\"resourceVersion\":\"3\"},\"status\":{}}}",
		"",
	};
	struct api_text_member m;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_int_equal(api_text_member(texts[i], strlen(texts[i]), "status", &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound_text_is_what_the_tree_writes),
		cmocka_unit_test(test_other_shapes_are_left_to_the_tree),
		cmocka_unit_test(test_text_it_does_not_follow_is_left_to_the_tree),
		cmocka_unit_test(test_the_tree_replaces_an_earlier_scheduled_condition),
		cmocka_unit_test(test_a_spliced_member_is_what_the_tree_writes),
		cmocka_unit_test(test_a_member_is_found_only_in_text_it_follows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
