/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the PATCH formats (cluster/api/patch.c): the RFC 7386 and RFC 6902
 * appendix examples, JSON patch errors naming the operation and path, and strategic merge
 * patch on a Deployment-like document with a small schema described by the test's own
 * lookup callback, plus upstream's list-ordering cases. JSON in the tables uses single
 * quotes for readability; load() turns them into double quotes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/api/patch.h"

static json_t *load(const char *text)
{
	cleanup_free char *s = xstrdup(text);
	json_error_t jerr;
	json_t *j = NULL;

	for (char *c = s; *c; c++)
		if (*c == '\'')
			*c = '"';
	j = json_loads(s, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("bad test JSON %s: %s", s, jerr.text);
	return j;
}

static void expect_json(const json_t *got, const char *want_text, const char *what)
{
	cleanup_json json_t *want = load(want_text);

	if (!json_equal(got, want)) {
		cleanup_free char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		cleanup_free char *w = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);

		fail_msg("%s:\n got  %s\n want %s", what, g, w);
	}
}

static bool has_directive(const json_t *j)
{
	const char *key;
	json_t *v;

	if (json_is_array(j)) {
		for (size_t i = 0; i < json_array_size(j); i++)
			if (has_directive(json_array_get(j, i)))
				return true;
		return false;
	}
	if (!json_is_object(j))
		return false;
	json_object_foreach ((json_t *)j, key, v)
		if (key[0] == '$' || has_directive(v))
			return true;
	return false;
}

/* ---- RFC 7386 ---- */

static const struct triple {
	const char *doc, *patch, *result;
} merge_cases[] = {
	/* RFC 7386 appendix A */
	{"{'a':'b'}", "{'a':'c'}", "{'a':'c'}"},
	{"{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}"},
	{"{'a':'b'}", "{'a':null}", "{}"},
	{"{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}"},
	{"{'a':['b']}", "{'a':'c'}", "{'a':'c'}"},
	{"{'a':'c'}", "{'a':['b']}", "{'a':['b']}"},
	{"{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}"},
	{"{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}"},
	{"['a','b']", "['c','d']", "['c','d']"},
	{"{'a':'b'}", "['c']", "['c']"},
	{"{'a':'foo'}", "null", "null"},
	{"{'a':'foo'}", "'bar'", "'bar'"},
	{"{'e':null}", "{'a':1}", "{'e':null,'a':1}"},
	{"[1,2]", "{'a':'b','c':null}", "{'a':'b'}"},
	{"{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}"},
	/* RFC 7386 section 3 */
	{"{'title':'Goodbye!','author':{'givenName':'John','familyName':'Doe'},"
	 "'tags':['example','sample'],'content':'This will be unchanged'}",
	 "{'title':'Hello!','phoneNumber':'+01-123-456-7890','author':{'familyName':null},"
	 "'tags':['example']}",
	 "{'title':'Hello!','author':{'givenName':'John'},'tags':['example'],"
	 "'content':'This will be unchanged','phoneNumber':'+01-123-456-7890'}"},
	/* Kubernetes use: labels and annotations */
	{"{'metadata':{'labels':{'app':'web','tier':'fe'}}}",
	 "{'metadata':{'labels':{'tier':null,'env':'prod'}}}",
	 "{'metadata':{'labels':{'app':'web','env':'prod'}}}"},
};

static void test_patch_merge_follows_rfc7386(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
		cleanup_json json_t *doc = load(merge_cases[i].doc);
		cleanup_json json_t *patch = load(merge_cases[i].patch);
		cleanup_json json_t *out = NULL;
		cleanup_free char *before = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		cleanup_free char *after = NULL;
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(patch_merge(doc, patch, &out, &err), 0);
		expect_json(out, merge_cases[i].result, merge_cases[i].patch);
		after = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		assert_string_equal(before, after);
	}
}

/* The RFC 7386 cases through @merge, which takes the patch: @doc is left as it was. */
static void merge_cases_taking(int (*merge)(const json_t *doc, json_t *patch, json_t **ret,
					    struct err *err))
{
	for (size_t i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
		cleanup_json json_t *doc = load(merge_cases[i].doc);
		cleanup_json json_t *out = NULL;
		cleanup_free char *before = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		cleanup_free char *after = NULL;
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(merge(doc, load(merge_cases[i].patch), &out, &err), 0);
		expect_json(out, merge_cases[i].result, merge_cases[i].patch);
		after = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		assert_string_equal(before, after);
	}
}

/* Taking the patch gives the same results, and the result owns every value it holds. */
static void test_patch_merge_take_moves_the_patch_into_the_result(void **state)
{
	(void)state;
	merge_cases_taking(patch_merge_take);
	{
		cleanup_json json_t *out = NULL;
		cleanup_err struct err err = ERR_INIT;
		json_t *patch =
			load("{'status':{'conditions':[{'type':'Ready'}],'phase':'Running'}}");
		json_t *conds = json_object_get(json_object_get(patch, "status"), "conditions");

		assert_int_equal(patch_merge_take(NULL, patch, &out, &err), 0);
		/* the array moved: the result holds the only reference */
		assert_ptr_equal(json_object_get(json_object_get(out, "status"), "conditions"),
				 conds);
		assert_int_equal(conds->refcount, 1);
		assert_int_equal(patch_merge_take(NULL, NULL, &out, &err), -EINVAL);
	}
}

/*
 * Sharing the document gives the same results and leaves the document as it was; what the
 * patch leaves alone is the document's own value, and the top level and metadata are new.
 */
static void test_patch_merge_shared_copies_only_the_patched_path(void **state)
{
	(void)state;
	merge_cases_taking(patch_merge_shared);
	{
		cleanup_json json_t *doc =
			load("{'metadata':{'name':'p','labels':{'a':'b'}},'spec':{'nodeName':'n'},"
			     "'status':{'phase':'Pending','podIP':'10.0.0.2',"
			     "'conditions':[{'type':'Ready','status':'False'}]}}");
		cleanup_json json_t *out = NULL;
		cleanup_err struct err err = ERR_INIT;
		json_t *st, *ost;

		assert_int_equal(patch_merge_shared(doc,
						    load("{'status':{'phase':'Running',"
							 "'conditions':[{'type':'Ready'}]}}"),
						    &out, &err),
				 0);
		st = json_object_get(out, "status");
		ost = json_object_get(doc, "status");
		/* along the patch: new objects; beside it: the document's values */
		assert_ptr_not_equal(out, doc);
		assert_ptr_not_equal(st, ost);
		assert_ptr_equal(json_object_get(out, "spec"), json_object_get(doc, "spec"));
		assert_ptr_equal(json_object_get(st, "podIP"), json_object_get(ost, "podIP"));
		assert_ptr_not_equal(json_object_get(out, "metadata"),
				     json_object_get(doc, "metadata"));
		assert_ptr_equal(json_object_get(json_object_get(out, "metadata"), "labels"),
				 json_object_get(json_object_get(doc, "metadata"), "labels"));
		assert_string_equal(json_string_value(json_object_get(ost, "phase")), "Pending");
		assert_int_equal(json_array_size(json_object_get(ost, "conditions")), 1);
		assert_string_equal(
			json_string_value(json_object_get(
				json_array_get(json_object_get(ost, "conditions"), 0), "status")),
			"False");
		assert_int_equal(patch_merge_shared(doc, NULL, &out, &err), -EINVAL);
	}
}

/* ---- RFC 6902 ---- */

static const struct triple json_patch_cases[] = {
	/* RFC 6902 appendix A */
	{"{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
	 "{'baz':'qux','foo':'bar'}"},
	{"{'foo':['bar','baz']}", "[{'op':'add','path':'/foo/1','value':'qux'}]",
	 "{'foo':['bar','qux','baz']}"},
	{"{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]", "{'foo':'bar'}"},
	{"{'foo':['bar','qux','baz']}", "[{'op':'remove','path':'/foo/1'}]",
	 "{'foo':['bar','baz']}"},
	{"{'baz':'qux','foo':'bar'}", "[{'op':'replace','path':'/baz','value':'boo'}]",
	 "{'baz':'boo','foo':'bar'}"},
	{"{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
	 "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
	 "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}"},
	{"{'foo':['all','grass','cows','eat']}", "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
	 "{'foo':['all','cows','eat','grass']}"},
	{"{'baz':'qux','foo':['a',2,'c']}",
	 "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2}]",
	 "{'baz':'qux','foo':['a',2,'c']}"},
	{"{'foo':'bar'}", "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
	 "{'foo':'bar','child':{'grandchild':{}}}"},
	{"{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux','xyz':123}]",
	 "{'foo':'bar','baz':'qux'}"},
	{"{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':10}]", "{'/':9,'~1':10}"},
	{"{'foo':['bar']}", "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
	 "{'foo':['bar',['abc','def']]}"},
	/* beyond the appendix */
	{"{'a/b':1,'m~n':2}",
	 "[{'op':'replace','path':'/a~1b','value':3},{'op':'remove','path':'/m~0n'}]", "{'a/b':3}"},
	{"{'a':{'b':[1,2]}}",
	 "[{'op':'copy','from':'/a/b','path':'/c'},"
	 "{'op':'add','path':'/c/0','value':0}]",
	 "{'a':{'b':[1,2]},'c':[0,1,2]}"},
	{"{'a':1}", "[{'op':'replace','path':'','value':[1]}]", "[1]"},
	{"{'a':1}", "[{'op':'add','path':'','value':{'b':2}}]", "{'b':2}"},
	{"{'a':1}", "[{'op':'add','path':'/a','value':null}]", "{'a':null}"},
	{"{'a':1.0}", "[{'op':'test','path':'/a','value':1}]", "{'a':1.0}"},
	{"{'a':{'x':1,'y':[1,{'z':2}]}}",
	 "[{'op':'test','path':'/a','value':{'y':[1,{'z':2}],'x':1}}]",
	 "{'a':{'x':1,'y':[1,{'z':2}]}}"},
	{"{'a':[1,2,3]}", "[{'op':'move','from':'/a/0','path':'/a/-'}]", "{'a':[2,3,1]}"},
	{"{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a'}]", "{'a':{'b':1}}"},
	{"{'a':[]}", "[{'op':'add','path':'/a/0','value':1}]", "{'a':[1]}"},
	{"{'':{'':1}}", "[{'op':'replace','path':'//','value':2}]", "{'':{'':2}}"},
	{"{'a':1}", "[]", "{'a':1}"},
	{"{'metadata':{'labels':{'app':'web'}},'spec':{'replicas':1}}",
	 "[{'op':'replace','path':'/spec/replicas','value':3},"
	 "{'op':'add','path':'/metadata/labels/tier','value':'fe'}]",
	 "{'metadata':{'labels':{'app':'web','tier':'fe'}},'spec':{'replicas':3}}"},
};

static void test_patch_json_follows_rfc6902(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(json_patch_cases) / sizeof(json_patch_cases[0]); i++) {
		cleanup_json json_t *doc = load(json_patch_cases[i].doc);
		cleanup_json json_t *patch = load(json_patch_cases[i].patch);
		cleanup_json json_t *out = NULL;
		cleanup_free char *before = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		cleanup_free char *after = NULL;
		cleanup_err struct err err = ERR_INIT;

		if (patch_json(doc, patch, &out, &err) < 0)
			fail_msg("%s: %s", json_patch_cases[i].patch, err.msg);
		expect_json(out, json_patch_cases[i].result, json_patch_cases[i].patch);
		after = json_dumps(doc, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		assert_string_equal(before, after);
	}
}

static const struct bad_patch {
	const char *doc, *patch;
	int code;
	const char *msg;
} bad_json_patches[] = {
	/* RFC 6902 A.9, A.12, A.15 */
	{"{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]", ECANCELED,
	 "json patch operation 0 (test): value at /baz differs from the expected value"},
	{"{'foo':'bar'}", "[{'op':'add','path':'/baz/bat','value':'qux'}]", ENOENT,
	 "json patch operation 0 (add): path /baz/bat does not exist"},
	{"{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':'10'}]", ECANCELED,
	 "json patch operation 0 (test): value at /~01 differs from the expected value"},
	{"{'spec':{}}",
	 "[{'op':'test','path':'/spec','value':{}},{'op':'add','path':'/spec/a','value':1},"
	 "{'op':'replace','path':'/spec/foo','value':1}]",
	 ENOENT, "json patch operation 2 (replace): path /spec/foo does not exist"},
	{"{'a':1}", "[{'op':'remove','path':'/b'}]", ENOENT,
	 "json patch operation 0 (remove): path /b does not exist"},
	{"{'a':[1]}", "[{'op':'remove','path':'/a/1'}]", ENOENT,
	 "json patch operation 0 (remove): path /a/1 does not exist"},
	{"{'a':[1]}", "[{'op':'remove','path':'/a/-'}]", ENOENT,
	 "json patch operation 0 (remove): path /a/- does not exist"},
	{"{'a':[1]}", "[{'op':'add','path':'/a/5','value':2}]", ENOENT,
	 "json patch operation 0 (add): path /a/5: index 5 is out of range (array has 1 elements)"},
	{"{'a':[1]}", "[{'op':'add','path':'/a/01','value':2}]", EINVAL,
	 "json patch operation 0 (add): path /a/01: '01' is not an array index"},
	{"{'a':1}", "[{'op':'copy','from':'/x','path':'/b'}]", ENOENT,
	 "json patch operation 0 (copy): path /x does not exist"},
	{"{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a/b/c'}]", EINVAL,
	 "json patch operation 0 (move): cannot move /a into its own child /a/b/c"},
	{"{'a':1}", "[{'op':'remove','path':''}]", EINVAL,
	 "json patch operation 0 (remove): cannot remove the whole document"},
	{"{'a':1}", "[{'op':'frobnicate','path':'/a'}]", EINVAL,
	 "json patch operation 0: unknown op 'frobnicate'"},
	{"{'a':1}", "[{'path':'/a'}]", EINVAL, "json patch operation 0: missing 'op'"},
	{"{'a':1}", "[{'op':'add','value':1}]", EINVAL,
	 "json patch operation 0 (add): missing 'path'"},
	{"{'a':1}", "[{'op':'add','path':'/b'}]", EINVAL,
	 "json patch operation 0 (add): missing 'value'"},
	{"{'a':1}", "[{'op':'move','path':'/b'}]", EINVAL,
	 "json patch operation 0 (move): missing 'from'"},
	{"{'a':1}", "[{'op':'add','path':'b','value':1}]", EINVAL,
	 "json patch operation 0 (add): path 'b' is not a JSON pointer"},
	{"{'a':1}", "[{'op':'add','path':'/a~2','value':1}]", EINVAL,
	 "json patch operation 0 (add): path '/a~2' has an invalid escape"},
	{"{'a':1}", "[1]", EINVAL, "json patch operation 0: must be an object"},
	{"{'a':1}", "{'op':'add'}", EINVAL, "json patch must be an array of operations"},
	{"{'a':'x'}", "[{'op':'add','path':'/a/b','value':1}]", ENOENT,
	 "json patch operation 0 (add): path /a/b does not exist"},
};

static void test_patch_json_errors_name_the_operation_and_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_json_patches) / sizeof(bad_json_patches[0]); i++) {
		const struct bad_patch *c = &bad_json_patches[i];
		cleanup_json json_t *doc = load(c->doc);
		cleanup_json json_t *patch = load(c->patch);
		json_t *out = NULL;
		cleanup_err struct err err = ERR_INIT;
		int r = patch_json(doc, patch, &out, &err);

		if (r >= 0)
			fail_msg("%s applied", c->patch);
		assert_null(out);
		if (r != -c->code || strncmp(err.msg, c->msg, strlen(c->msg)) != 0)
			fail_msg("%s: got %d '%s', want %d '%s'", c->patch, -r, err.msg, c->code,
				 c->msg);
	}
}

/* ---- strategic merge patch ---- */

struct schema_field {
	const char *type, *field;
	struct patch_field f;
};

/* A few types shaped like apps/v1 Deployment's, and upstream's test "mergeItem" type. */
static const struct schema_field schema[] = {
	{"Deployment", "metadata", {"ObjectMeta", NULL, 0, false, false}},
	{"Deployment", "spec", {"DeploymentSpec", NULL, 0, false, false}},
	{"ObjectMeta", "finalizers", {NULL, NULL, PATCH_MERGE, true, false}},
	{"ObjectMeta", "labels", {NULL, NULL, 0, false, true}},
	{"DeploymentSpec", "template", {"PodTemplateSpec", NULL, 0, false, false}},
	{"DeploymentSpec",
	 "strategy",
	 {"DeploymentStrategy", NULL, PATCH_RETAIN_KEYS, false, false}},
	{"PodTemplateSpec", "metadata", {"ObjectMeta", NULL, 0, false, false}},
	{"PodTemplateSpec", "spec", {"PodSpec", NULL, 0, false, false}},
	{"PodSpec", "containers", {"Container", "name", PATCH_MERGE, true, false}},
	{"PodSpec", "volumes", {"Volume", "name", PATCH_MERGE | PATCH_RETAIN_KEYS, true, false}},
	{"PodSpec", "tolerations", {"Toleration", NULL, 0, true, false}},
	{"PodSpec", "nodeSelector", {NULL, NULL, 0, false, true}},
	{"Container", "ports", {"ContainerPort", "containerPort", PATCH_MERGE, true, false}},
	{"Container", "env", {"EnvVar", "name", PATCH_MERGE, true, false}},
	{"Container", "args", {NULL, NULL, 0, true, false}},
	{"Container", "resources", {"ResourceRequirements", NULL, 0, false, false}},
	{"ResourceRequirements", "limits", {NULL, NULL, 0, false, true}},
	{"Item", "mergingList", {"Item", "name", PATCH_MERGE, true, false}},
	{"Item", "mergingIntList", {NULL, NULL, PATCH_MERGE, true, false}},
	{"Item", "nonMergingList", {"Item", NULL, 0, true, false}},
	{"Item", "mergeItemPtr", {"Item", "name", PATCH_MERGE, true, false}},
	{"Item", "retainKeysMap", {"Item", NULL, PATCH_RETAIN_KEYS, false, false}},
	{"Item", "simpleMap", {NULL, NULL, 0, false, true}},
};

static bool lookup(void *ctx, const char *type, const char *field, struct patch_field *ret)
{
	int *calls = ctx;

	(*calls)++;
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
		if (strcmp(schema[i].type, type) == 0 && strcmp(schema[i].field, field) == 0) {
			*ret = schema[i].f;
			return true;
		}
	return false;
}

#define DEPLOYMENT                                                                                 \
	"{'apiVersion':'apps/v1','kind':'Deployment',"                                             \
	"'metadata':{'name':'web','labels':{'app':'web'},'finalizers':['b','e','a','c','d']},"     \
	"'spec':{'replicas':2,"                                                                    \
	"'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1,'maxUnavailable':0}},"   \
	"'template':{'metadata':{'labels':{'app':'web'}},'spec':{"                                 \
	"'containers':["                                                                           \
	"{'name':'web','image':'nginx:1','args':['x','y'],"                                        \
	"'ports':[{'containerPort':80,'protocol':'TCP'}],"                                         \
	"'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}]},"                              \
	"{'name':'sidecar','image':'busybox'}],"                                                   \
	"'tolerations':[{'key':'k1'}],"                                                            \
	"'volumes':[{'name':'data','emptyDir':{}},{'name':'cfg','configMap':{'name':'c'}}]}}}}"

static const struct smp_case {
	const char *name;
	const char *patch;
	const char *path; /* '/'-separated, "" for the whole result */
	const char *want;
} deployment_cases[] = {
	{"containers merge by name",
	 "{'spec':{'template':{'spec':{'containers':"
	 "[{'name':'web','image':'nginx:2'}]}}}}",
	 "spec/template/spec/containers",
	 "[{'name':'web','image':'nginx:2','args':['x','y'],"
	 "'ports':[{'containerPort':80,'protocol':'TCP'}],"
	 "'env':[{'name':'A','value':'1'},{'name':'B','value':'2'}]},"
	 "{'name':'sidecar','image':'busybox'}]"},
	/* upstream puts a new item before server-only items it cannot place */
	{"new container",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'log','image':'f'}]}}}}",
	 "spec/template/spec/containers/0", "{'name':'log','image':'f'}"},
	{"ports merge by containerPort",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'web','ports':"
	 "[{'containerPort':80,'name':'http'},{'containerPort':443}]}]}}}}",
	 "spec/template/spec/containers/0/ports",
	 "[{'containerPort':80,'protocol':'TCP','name':'http'},{'containerPort':443}]"},
	{"env merges by name",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'web','env':"
	 "[{'name':'B','value':'3'},{'name':'C','value':'4'}]}]}}}}",
	 "spec/template/spec/containers/0/env",
	 "[{'name':'A','value':'1'},{'name':'B','value':'3'},{'name':'C','value':'4'}]"},
	{"env value deleted with null",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'web','env':"
	 "[{'name':'A','value':null}]}]}}}}",
	 "spec/template/spec/containers/0/env", "[{'name':'A'},{'name':'B','value':'2'}]"},
	{"container deleted by directive",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'sidecar','$patch':'delete'}]}}}}",
	 "spec/template/spec/containers/1", NULL},
	{"deleting a missing item is no error",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'nope','$patch':'delete'}]}}}}",
	 "spec/template/spec/containers/1/name", "'sidecar'"},
	{"setElementOrder reorders containers",
	 "{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'sidecar'},"
	 "{'name':'web'}]}}}}",
	 "spec/template/spec/containers/0/name", "'sidecar'"},
	{"setElementOrder with a patch list",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'web','env':"
	 "[{'name':'C','value':'3'}],'$setElementOrder/env':[{'name':'C'},{'name':'B'},"
	 "{'name':'A'}]}]}}}}",
	 "spec/template/spec/containers/0/env",
	 "[{'name':'C','value':'3'},{'name':'B','value':'2'},{'name':'A','value':'1'}]"},
	{"retainKeys clears the other members of a strategy",
	 "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate'}}}", "spec/strategy",
	 "{'type':'Recreate'}"},
	{"retainKeys on a volume source",
	 "{'spec':{'template':{'spec':{'volumes':[{'name':'data','$retainKeys':['name','hostPath'],"
	 "'hostPath':{'path':'/x'}}]}}}}",
	 "spec/template/spec/volumes",
	 "[{'name':'data','hostPath':{'path':'/x'}},{'name':'cfg','configMap':{'name':'c'}}]"},
	{"without retainKeys a union merges", "{'spec':{'strategy':{'type':'Recreate'}}}",
	 "spec/strategy", "{'type':'Recreate','rollingUpdate':{'maxSurge':1,'maxUnavailable':0}}"},
	{"$patch replace on a map", "{'spec':{'strategy':{'$patch':'replace','type':'Recreate'}}}",
	 "spec/strategy", "{'type':'Recreate'}"},
	{"$patch delete on a map leaves it empty, as upstream",
	 "{'spec':{'strategy':{'rollingUpdate':{'$patch':'delete'}}}}", "spec/strategy",
	 "{'type':'RollingUpdate','rollingUpdate':{}}"},
	{"$patch delete on an absent map adds nothing",
	 "{'spec':{'template':{'spec':{'affinity':{'$patch':'delete'}}}}}",
	 "spec/template/spec/affinity", NULL},
	{"$patch replace in a list replaces it",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'only','image':'i'},"
	 "{'$patch':'replace'}]}}}}",
	 "spec/template/spec/containers", "[{'name':'only','image':'i'}]"},
	{"lists without a strategy are replaced",
	 "{'spec':{'template':{'spec':{'tolerations':[{'key':'k2'}],'containers':"
	 "[{'name':'web','args':['z']}]}}}}",
	 "spec/template/spec/tolerations", "[{'key':'k2'}]"},
	{"args are replaced",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'web','args':['z']}]}}}}",
	 "spec/template/spec/containers/0/args", "['z']"},
	{"null deletes a field", "{'spec':{'replicas':null}}", "spec/replicas", NULL},
	{"scalars replace", "{'spec':{'replicas':5}}", "spec/replicas", "5"},
	{"maps merge", "{'metadata':{'labels':{'app':null,'tier':'fe'}}}", "metadata/labels",
	 "{'tier':'fe'}"},
	/* the preserve-order proposal's finalizers example, as upstream's code orders it */
	{"primitive set with order and deletion",
	 "{'metadata':{'$setElementOrder/finalizers':['a','b','f'],"
	 "'$deleteFromPrimitiveList/finalizers':['c'],'finalizers':['f']}}",
	 "metadata/finalizers", "['e','a','b','f','d']"},
	{"primitive list merges as a set", "{'metadata':{'finalizers':['a','z']}}",
	 "metadata/finalizers", "['b','e','a','z','c','d']"},
	{"deleteFromPrimitiveList alone",
	 "{'metadata':{'$deleteFromPrimitiveList/finalizers':"
	 "['a','d','nope']}}",
	 "metadata/finalizers", "['b','e','c']"},
	{"deleteFromPrimitiveList of an absent list adds nothing",
	 "{'spec':{'template':{'metadata':{'$deleteFromPrimitiveList/finalizers':['x']}}}}",
	 "spec/template/metadata", "{'labels':{'app':'web'}}"},
	{"a new subtree loses its directives",
	 "{'spec':{'template':{'spec':{'containers':[{'name':'new','$retainKeys':['name','env','"
	 "resources'],"
	 "'env':[{'name':'X','value':'1'},{'name':'Y','$patch':'delete'}],"
	 "'$setElementOrder/env':[{'name':'X'}],'resources':{'$patch':'replace',"
	 "'limits':{'cpu':'1'}}}]}}}}",
	 "spec/template/spec/containers/0",
	 "{'name':'new','env':[{'name':'X','value':'1'}],'resources':{'limits':{'cpu':'1'}}}"},
	{"a type mismatch replaces", "{'spec':{'replicas':{'a':1}}}", "spec/replicas", "{'a':1}"},
	{"unknown fields merge like a merge patch",
	 "{'status':{'conditions':[{'type':'A'}]},'spec':{'paused':true}}", "status",
	 "{'conditions':[{'type':'A'}]}"},
	{"whole-object $patch replace", "{'$patch':'replace','kind':'X'}", "", "{'kind':'X'}"},
};

static const json_t *walk(const json_t *j, const char *path)
{
	cleanup_free char *p = xstrdup(path);
	char *save = NULL;

	for (char *t = strtok_r(p, "/", &save); t && j; t = strtok_r(NULL, "/", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(t, NULL, 10));
		else
			j = json_object_get(j, t);
	}
	return j;
}

static void test_patch_strategic_merges_a_deployment(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(deployment_cases) / sizeof(deployment_cases[0]); i++) {
		const struct smp_case *c = &deployment_cases[i];
		cleanup_json json_t *doc = load(DEPLOYMENT);
		cleanup_json json_t *patch = load(c->patch);
		cleanup_json json_t *out = NULL;
		cleanup_free char *doc_before = json_dumps(doc, JSON_SORT_KEYS);
		cleanup_free char *patch_before = json_dumps(patch, JSON_SORT_KEYS);
		cleanup_free char *doc_after = NULL;
		cleanup_free char *patch_after = NULL;
		cleanup_err struct err err = ERR_INIT;
		const json_t *got = NULL;
		int calls = 0;

		if (patch_strategic(doc, patch, "Deployment", lookup, &calls, &out, &err) < 0)
			fail_msg("%s: %s", c->name, err.msg);
		got = walk(out, c->path);
		if (!c->want && got)
			fail_msg("%s: %s is still there", c->name, c->path);
		if (c->want) {
			if (!got)
				fail_msg("%s: %s is missing", c->name, c->path);
			expect_json(got, c->want, c->name);
		}
		if (has_directive(out))
			fail_msg("%s: a directive is left in the result", c->name);
		doc_after = json_dumps(doc, JSON_SORT_KEYS);
		patch_after = json_dumps(patch, JSON_SORT_KEYS);
		assert_string_equal(doc_before, doc_after);
		assert_string_equal(patch_before, patch_after);
	}
}

static void test_patch_strategic_keeps_untouched_parts(void **state)
{
	cleanup_json json_t *doc = load(DEPLOYMENT);
	cleanup_json json_t *patch = load("{'spec':{'replicas':3}}");
	cleanup_json json_t *out = NULL;
	cleanup_err struct err err = ERR_INIT;
	int calls = 0;

	(void)state;
	assert_int_equal(patch_strategic(doc, patch, "Deployment", lookup, &calls, &out, &err), 0);
	json_object_set_new(json_object_get(doc, "spec"), "replicas", json_integer(3));
	assert_true(json_equal(doc, out));
}

static void test_patch_strategic_without_schema_replaces_lists(void **state)
{
	cleanup_json json_t *doc = load(DEPLOYMENT);
	cleanup_json json_t *patch = load("{'spec':{'template':{'spec':{'containers':"
					  "[{'name':'web','image':'nginx:2'}]}}},"
					  "'metadata':{'finalizers':['z']}}");
	cleanup_json json_t *out = NULL;
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(patch_strategic(doc, patch, "Deployment", NULL, NULL, &out, &err), 0);
	expect_json(walk(out, "spec/template/spec/containers"),
		    "[{'name':'web','image':'nginx:2'}]", "containers");
	expect_json(walk(out, "metadata/finalizers"), "['z']", "finalizers");
	expect_json(walk(out, "spec/strategy/type"), "'RollingUpdate'", "strategy");
}

static const struct smp_error {
	const char *patch;
	const char *msg;
} deployment_errors[] = {
	{"{'spec':{'template':{'spec':{'containers':[{'image':'x'}]}}}}",
	 "apply strategic merge patch: spec.template.spec.containers[0]: does not contain the "
	 "merge "
	 "key 'name'"},
	{"{'spec':{'template':{'spec':{'containers':[{'$patch':'delete','image':'x'}]}}}}",
	 "apply strategic merge patch: spec.template.spec.containers[0]: $patch delete does not "
	 "contain the merge key 'name'"},
	{"{'spec':{'template':{'spec':{'containers':[{'name':'a','$patch':'merge'}]}}}}",
	 "apply strategic merge patch: spec.template.spec.containers[0]: merging lists cannot yet "
	 "be specified in the patch"},
	{"{'spec':{'template':{'spec':{'$setElementOrder/containers':[{'name':'web'}],"
	 "'containers':[{'name':'sidecar','image':'y'}]}}}}",
	 "apply strategic merge patch: spec.template.spec.containers: the order of the patch list "
	 "does not match $setElementOrder"},
	{"{'spec':{'template':{'spec':{'$setElementOrder/containers':{'name':'web'}}}}}",
	 "apply strategic merge patch: spec.template.spec.containers: invalid patch format of "
	 "setElementOrder list"},
	{"{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate','rollingUpdate':{}}}}",
	 "apply strategic merge patch: spec.strategy: invalid patch format of retainKeys: "
	 "'rollingUpdate' is patched but not listed in $retainKeys"},
	{"{'spec':{'strategy':{'$retainKeys':'type'}}}",
	 "apply strategic merge patch: spec.strategy: invalid patch format of retainKeys"},
	{"{'spec':{'$patch':'bogus'}}",
	 "apply strategic merge patch: spec: unknown $patch directive 'bogus'"},
	{"{'metadata':{'$deleteFromPrimitiveList/finalizers':'a'}}",
	 "apply strategic merge patch: metadata: invalid patch format of primitive list"},
	{"{'metadata':{'finalizers':['a',{'b':1}]}}",
	 "apply strategic merge patch: metadata.finalizers: list element types are not identical"},
	{"{'metadata':{'finalizers':[['a']]}}",
	 "apply strategic merge patch: metadata.finalizers: lists of lists are not supported"},
	{"['not','an','object']", "apply strategic merge patch: the patch must be an object"},
};

static void test_patch_strategic_rejects_malformed_patches_naming_the_path(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(deployment_errors) / sizeof(deployment_errors[0]); i++) {
		const struct smp_error *c = &deployment_errors[i];
		cleanup_json json_t *doc = load(DEPLOYMENT);
		cleanup_json json_t *patch = load(c->patch);
		json_t *out = NULL;
		cleanup_err struct err err = ERR_INIT;
		int calls = 0;
		int r = patch_strategic(doc, patch, "Deployment", lookup, &calls, &out, &err);

		if (r >= 0)
			fail_msg("%s applied", c->patch);
		assert_int_equal(r, -EINVAL);
		assert_null(out);
		if (strncmp(err.msg, c->msg, strlen(c->msg)) != 0)
			fail_msg("%s:\n got  '%s'\n want '%s'", c->patch, err.msg, c->msg);
	}
}

/* Cases from upstream's strategicpatch tests (original, patch, result) on type "Item". */
static const struct triple upstream_cases[] = {
	{"{'mergingIntList':[1,2]}", "{'mergingIntList':[2,3]}", "{'mergingIntList':[1,2,3]}"},
	{"{'simpleMap':{'key1':1,'key2':1}}", "{'simpleMap':{'$patch':'delete'}}",
	 "{'simpleMap':{}}"},
	{"{'mergingList':[{'name':1},{'name':2}]}", "{'mergingList':[{'$patch':'replace'}]}",
	 "{'mergingList':[]}"},
	{"{'mergingList':[]}", "{'mergingList':[]}", "{'mergingList':[]}"},
	{"{'name':1,'value':1}", "{'$patch':'replace'}", "{}"},
	{"{'name':1,'value':1}", "{'other':'a','$patch':'replace'}", "{'other':'a'}"},
	{"{'mergingList':[{'name':1},{'name':1},{'name':2,'value':'a'},{'name':3},{'name':3}]}",
	 "{'mergingList':[{'name':1,'$patch':'delete'},{'name':3,'$patch':'delete'}]}",
	 "{'mergingList':[{'name':2,'value':'a'}]}"},
	{"{'mergingList':[{'name':1},{'name':2,'value':'b'},{'name':3}]}",
	 "{'mergingList':[{'name':3,'value':'c'},{'name':1,'value':'a'},{'name':2,'other':'x'}]}",
	 "{'mergingList':[{'name':3,'value':'c'},{'name':1,'value':'a'},"
	 "{'name':2,'value':'b','other':'x'}]}"},
	{"{'mergingList':[{'name':1},{'name':2,'value':'b'},{'name':3}]}",
	 "{'mergingList':[{'name':3,'value':'c'},{'name':1,'value':'a'}]}",
	 "{'mergingList':[{'name':2,'value':'b'},{'name':3,'value':'c'},{'name':1,'value':'a'}]}"},
	{"{'mergingIntList':[1,2,3]}", "{'mergingIntList':[3,1]}", "{'mergingIntList':[2,3,1]}"},
	{"{'mergingList':[{'name':1,'other':'a'},{'name':3,'value':3},{'name':4,'value':4},"
	 "{'name':2,'value':2},{'name':9}]}",
	 "{'$setElementOrder/mergingList':[{'name':4},{'name':2},{'name':3},{'name':1}]}",
	 "{'mergingList':[{'name':4,'value':4},{'name':2,'value':2},{'name':3,'value':3},"
	 "{'name':1,'other':'a'},{'name':9}]}"},
	{"{'mergingList':[{'name':1,'other':'a'},{'name':2,'value':2},{'name':9},"
	 "{'name':3,'value':3},{'name':4,'value':4}]}",
	 "{'$setElementOrder/mergingList':[{'name':2},{'name':1},{'name':4},{'name':3}]}",
	 "{'mergingList':[{'name':2,'value':2},{'name':1,'other':'a'},{'name':9},"
	 "{'name':4,'value':4},{'name':3,'value':3}]}"},
	{"{'mergingList':[{'name':1,'other':'a'},{'name':2,'value':2}]}",
	 "{'$setElementOrder/mergingList':[{'name':3},{'name':1},{'name':2}],"
	 "'mergingList':[{'name':3,'value':3}]}",
	 "{'mergingList':[{'name':3,'value':3},{'name':1,'other':'a'},{'name':2,'value':2}]}"},
	{"{'mergingList':[{'name':'a','value':'a'},{'name':'b','value':'b'}],"
	 "'mergeItemPtr':[{'name':'c'},{'name':'d'}]}",
	 "{'$setElementOrder/mergingList':[{'name':'b'}],"
	 "'$setElementOrder/mergeItemPtr':[{'name':'d'},{'name':'c'}],"
	 "'mergingList':[{'$patch':'delete','name':'a'}]}",
	 "{'mergingList':[{'name':'b','value':'b'}],'mergeItemPtr':[{'name':'d'},{'name':'c'}]}"},
	{"{'mergingList':[{'name':1},{'name':3}]}",
	 "{'$setElementOrder/mergingList':[{'name':3},{'name':2},{'name':1}],"
	 "'mergingList':[{'name':3,'value':3},{'name':1,'value':1}]}",
	 "{'mergingList':[{'name':3,'value':3},{'name':1,'value':1}]}"},
	{"{'retainKeysMap':{'value':'foo'}}",
	 "{'retainKeysMap':{'$retainKeys':['other'],'other':'bar'}}",
	 "{'retainKeysMap':{'other':'bar'}}"},
	{"{'retainKeysMap':{'name':'type1','value':'foo'}}",
	 "{'retainKeysMap':{'$retainKeys':['name','other'],'name':'type2','other':'bar'}}",
	 "{'retainKeysMap':{'name':'type2','other':'bar'}}"},
	{"{'retainKeysMap':{'name':'foo','value':'bar','nonMergingList':[{'name':'a'},{'name':'b'}]"
	 "}}",
	 "{'retainKeysMap':{'$retainKeys':['name','nonMergingList','value'],"
	 "'nonMergingList':[{'name':'a'},{'name':'c'},{'name':'b'}]}}",
	 "{'retainKeysMap':{'name':'foo','value':'bar','nonMergingList':"
	 "[{'name':'a'},{'name':'c'},{'name':'b'}]}}"},
	{"{'mergingIntList':[1,2,3]}", "{'$deleteFromPrimitiveList/mergingIntList':[2,4]}",
	 "{'mergingIntList':[1,3]}"},
	{"{'nonMergingList':[1,2,3]}", "{'$deleteFromPrimitiveList/nonMergingList':[2]}",
	 "{'nonMergingList':[1,3]}"},
	{"{}", "{'$deleteFromPrimitiveList/mergingIntList':[2]}", "{}"},
};

static void test_patch_strategic_orders_lists_as_upstream(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(upstream_cases) / sizeof(upstream_cases[0]); i++) {
		cleanup_json json_t *doc = load(upstream_cases[i].doc);
		cleanup_json json_t *patch = load(upstream_cases[i].patch);
		cleanup_json json_t *out = NULL;
		cleanup_err struct err err = ERR_INIT;
		int calls = 0;

		if (patch_strategic(doc, patch, "Item", lookup, &calls, &out, &err) < 0)
			fail_msg("%s: %s", upstream_cases[i].patch, err.msg);
		expect_json(out, upstream_cases[i].result, upstream_cases[i].patch);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patch_merge_follows_rfc7386),
		cmocka_unit_test(test_patch_merge_take_moves_the_patch_into_the_result),
		cmocka_unit_test(test_patch_merge_shared_copies_only_the_patched_path),
		cmocka_unit_test(test_patch_json_follows_rfc6902),
		cmocka_unit_test(test_patch_json_errors_name_the_operation_and_path),
		cmocka_unit_test(test_patch_strategic_merges_a_deployment),
		cmocka_unit_test(test_patch_strategic_keeps_untouched_parts),
		cmocka_unit_test(test_patch_strategic_without_schema_replaces_lists),
		cmocka_unit_test(test_patch_strategic_rejects_malformed_patches_naming_the_path),
		cmocka_unit_test(test_patch_strategic_orders_lists_as_upstream),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("patch", tests, NULL, NULL);
}
