/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of selectors (cluster/api/selector.c): every label selector operator against
 * label sets, upstream's parse errors for malformed strings, LabelSelector objects and
 * their validation messages, field selectors with escapes and allowed fields, and the
 * label key and value rules.
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

#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/api/internal.h"
#include "cluster/api/selector.h"

static json_t *labels_of(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

static const struct label_case {
	const char *selector;
	const char *labels; /* JSON object */
	bool match;
} label_cases[] = {
	{"", "{}", true},
	{"", "{\"a\":\"b\"}", true},
	{"x=y", "{\"x\":\"y\"}", true},
	{"x=y", "{\"x\":\"z\"}", false},
	{"x=y", "{}", false},
	{"x==y", "{\"x\":\"y\"}", true},
	{"x!=y", "{\"x\":\"y\"}", false},
	{"x!=y", "{\"x\":\"z\"}", true},
	{"x!=y", "{}", true},
	{"x", "{\"x\":\"\"}", true},
	{"x", "{\"y\":\"x\"}", false},
	{"!x", "{\"y\":\"x\"}", true},
	{"!x", "{\"x\":\"1\"}", false},
	{"x in (a,b)", "{\"x\":\"b\"}", true},
	{"x in (a,b)", "{\"x\":\"c\"}", false},
	{"x in (a,b)", "{}", false},
	{"x notin (a,b)", "{\"x\":\"c\"}", true},
	{"x notin (a,b)", "{\"x\":\"a\"}", false},
	{"x notin (a,b)", "{}", true},
	{"x in (in)", "{\"x\":\"in\"}", true},
	{"x=notin", "{\"x\":\"notin\"}", true},
	{"x in ()", "{\"x\":\"\"}", true},
	{"x in (foo,,baz)", "{\"x\":\"\"}", true},
	{"x in (,foo)", "{\"x\":\"\"}", true},
	{"x in (foo,)", "{\"x\":\"\"}", true},
	{"x=", "{\"x\":\"\"}", true},
	{"x=", "{\"x\":\"a\"}", false},
	{"x>1", "{\"x\":\"2\"}", true},
	{"x>1", "{\"x\":\"1\"}", false},
	{"x>1", "{\"x\":\"abc\"}", false},
	{"x>1", "{}", false},
	{"x<10", "{\"x\":\"9\"}", true},
	{"x<10", "{\"x\":\"10\"}", false},
	{"app=web,tier!=db", "{\"app\":\"web\",\"tier\":\"front\"}", true},
	{"app=web,tier!=db", "{\"app\":\"web\",\"tier\":\"db\"}", false},
	{" app = web , env in ( prod , dev ) , !legacy ", "{\"app\":\"web\",\"env\":\"dev\"}",
	 true},
	{"app.kubernetes.io/name=nginx", "{\"app.kubernetes.io/name\":\"nginx\"}", true},
	{"x in (a),x notin (b)", "{\"x\":\"a\"}", true},
	{"x=1", "{\"x\":1}", false},
};

static void test_selector_labels_match_every_operator(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]); i++) {
		const struct label_case *c = &label_cases[i];
		struct selector *sel = NULL;
		cleanup_json json_t *labels = labels_of(c->labels);
		cleanup_err struct err err = ERR_INIT;

		if (selector_parse_labels(c->selector, &sel, &err) < 0)
			fail_msg("'%s' did not parse: %s", c->selector, err.msg);
		if (selector_match_labels(sel, labels) != c->match)
			fail_msg("'%s' on %s: expected %s", c->selector, c->labels,
				 c->match ? "a match" : "no match");
		selector_free(sel);
	}
}

static const struct bad_label {
	const char *selector;
	const char *msg;
} bad_labels[] = {
	{"x=a b", "found 'b', expected: ',' or 'end of string'"},
	{"x=y,", "found '', expected: identifier after ','"},
	{",x", "found ',', expected: !, identifier, or 'end of string'"},
	{"=x", "found '=', expected: !, identifier, or 'end of string'"},
	{"x in a", "unable to parse requirement: found 'a' expected: '('"},
	{"x in (a", "unable to parse requirement: found '', expected: ',' or ')'"},
	{"x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"},
	{"x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"},
	{"x in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"},
	{"x (a)", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"},
	{"x==(a)", "unable to parse requirement: found '(', expected: identifier"},
	{"!", "unable to parse requirement: found '', expected: identifier"},
	{"!x=y", "found '=', expected: ',' or 'end of string'"},
	{"-x=y",
	 "unable to parse requirement: key: Invalid value: \"-x\": name part must consist of"},
	{"a/b/c=d",
	 "unable to parse requirement: key: Invalid value: \"a/b/c\": a valid label key"},
	{"Example.com/x=y", "unable to parse requirement: key: Invalid value: \"Example.com/x\": "
			    "prefix part a lowercase RFC 1123 subdomain"},
	{"x=a$b",
	 "unable to parse requirement: values[0][x]: Invalid value: \"a$b\": a valid label "
	 "must be an empty string"},
	{"x<-1", "unable to parse requirement: values[0][x]: Invalid value: \"-1\": a valid label"},
	{"x>a", "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
		"operators, the value must be an integer"},
	{"x=0123456789012345678901234567890123456789012345678901234567890123",
	 "unable to parse requirement: values[0][x]: Invalid value: "
	 "\"0123456789012345678901234567890123456789012345678901234567890123\": must be no more "
	 "than 63 characters"},
};

static void test_selector_labels_reject_malformed_input_with_upstream_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++) {
		struct selector *sel = NULL;
		cleanup_err struct err err = ERR_INIT;
		int r = selector_parse_labels(bad_labels[i].selector, &sel, &err);

		if (r >= 0)
			fail_msg("'%s' parsed", bad_labels[i].selector);
		assert_int_equal(r, -EINVAL);
		assert_null(sel);
		if (strncmp(err.msg, bad_labels[i].msg, strlen(bad_labels[i].msg)) != 0)
			fail_msg("'%s': message '%s', expected '%s'", bad_labels[i].selector,
				 err.msg, bad_labels[i].msg);
	}
}

static void test_selector_empty_and_null_select_everything(void **state)
{
	struct selector *sel = NULL;
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *labels = labels_of("{\"a\":\"b\"}");

	(void)state;
	assert_true(selector_empty(NULL));
	assert_true(selector_match_labels(NULL, labels));
	assert_true(selector_match_labels(NULL, NULL));
	assert_int_equal(selector_parse_labels("  ", &sel, &err), 0);
	assert_true(selector_empty(sel));
	assert_true(selector_match_labels(sel, NULL));
	selector_free(sel);
	assert_int_equal(selector_parse_labels("a", &sel, &err), 0);
	assert_false(selector_empty(sel));
	assert_false(selector_match_labels(sel, NULL));
	selector_free(sel);
	selector_free(NULL);
}

static const struct obj_case {
	const char *json;
	const char *labels;
	bool match;
} obj_cases[] = {
	{"{}", "{\"a\":\"b\"}", true},
	{"null", "{}", true},
	{"{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\",\"x\":\"y\"}", true},
	{"{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"db\"}", false},
	{"{\"matchLabels\":{\"app\":\"web\",\"tier\":\"fe\"}}", "{\"app\":\"web\"}", false},
	{"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]}]}",
	 "{\"env\":\"b\"}", true},
	{"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}",
	 "{\"env\":\"a\"}", false},
	{"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"a\"]}]}",
	 "{}", true},
	{"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"Exists\"}]}", "{\"env\":\"\"}",
	 true},
	{"{\"matchExpressions\":[{\"key\":\"env\",\"operator\":\"DoesNotExist\",\"values\":[]}]}",
	 "{\"env\":\"\"}", false},
	{"{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":[{\"key\":\"env\","
	 "\"operator\":\"Exists\"}]}",
	 "{\"app\":\"web\"}", false},
};

static void test_selector_from_json_matches_label_selector_objects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(obj_cases) / sizeof(obj_cases[0]); i++) {
		cleanup_json json_t *obj = labels_of(obj_cases[i].json);
		cleanup_json json_t *labels = labels_of(obj_cases[i].labels);
		cleanup_err struct err err = ERR_INIT;
		struct selector *sel = NULL;

		if (selector_from_json(obj, "spec.selector", &sel, &err) < 0)
			fail_msg("%s: %s", obj_cases[i].json, err.msg);
		if (selector_match_labels(sel, labels) != obj_cases[i].match)
			fail_msg("%s on %s: expected %s", obj_cases[i].json, obj_cases[i].labels,
				 obj_cases[i].match ? "a match" : "no match");
		selector_free(sel);
	}
}

static const struct bad_obj {
	const char *json;
	const char *msg;
} bad_objs[] = {
	{"[]", "spec.selector: Invalid value: must be an object"},
	{"{\"matchLabels\":{\"-bad\":\"x\"}}",
	 "spec.selector.matchLabels: Invalid value: \"-bad\": name part must consist of"},
	{"{\"matchLabels\":{\"ok\":\"bad value\"}}",
	 "spec.selector.matchLabels: Invalid value: \"bad value\": a valid label must be"},
	{"{\"matchLabels\":{\"ok\":1}}", "spec.selector.matchLabels[ok]: Invalid value: must be a"},
	{"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\"}]}",
	 "spec.selector.matchExpressions[0].values: Required value: must be specified when "
	 "`operator` is 'In' or 'NotIn'"},
	{"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Exists\",\"values\":[\"a\"]}]}",
	 "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when "
	 "`operator` is 'Exists' or 'DoesNotExist'"},
	{"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"in\",\"values\":[\"a\"]}]}",
	 "spec.selector.matchExpressions[0].operator: Invalid value: \"in\": not a valid selector "
	 "operator"},
	{"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"Exists\"},{\"operator\":\"Exists\"}]"
	 "}",
	 "spec.selector.matchExpressions[1].key: Required value"},
	{"{\"matchExpressions\":[{\"key\":\"a b\",\"operator\":\"Exists\"}]}",
	 "spec.selector.matchExpressions[0].key: Invalid value: \"a b\": name part"},
	{"{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\",\"values\":[\"-\"]}]}",
	 "spec.selector.matchExpressions[0].values[0]: Invalid value: \"-\": a valid label"},
	{"{\"matchExpressions\":{}}",
	 "spec.selector.matchExpressions: Invalid value: must be a list"},
};

static void test_selector_from_json_rejects_invalid_objects_naming_the_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_objs) / sizeof(bad_objs[0]); i++) {
		cleanup_json json_t *obj = labels_of(bad_objs[i].json);
		cleanup_err struct err err = ERR_INIT;
		struct selector *sel = NULL;

		if (selector_from_json(obj, "spec.selector", &sel, &err) >= 0)
			fail_msg("%s was accepted", bad_objs[i].json);
		assert_int_equal(err.code, EINVAL);
		assert_null(sel);
		if (strncmp(err.msg, bad_objs[i].msg, strlen(bad_objs[i].msg)) != 0)
			fail_msg("%s: message '%s', expected '%s'", bad_objs[i].json, err.msg,
				 bad_objs[i].msg);
	}
}

struct fake_obj {
	const char *name, *ns, *node, *phase;
};

static const char *get_field(void *ctx, const char *field)
{
	const struct fake_obj *o = ctx;

	if (strcmp(field, "metadata.name") == 0)
		return o->name;
	if (strcmp(field, "metadata.namespace") == 0)
		return o->ns;
	if (strcmp(field, "spec.nodeName") == 0)
		return o->node;
	if (strcmp(field, "status.phase") == 0)
		return o->phase;
	return NULL;
}

static const char *const pod_fields[] = {"spec.nodeName", "status.phase", NULL};

static void test_selector_fields_match_equality_and_inequality(void **state)
{
	static const struct {
		const char *selector;
		bool match;
	} cases[] = {
		{"", true},
		{"metadata.name=web-1", true},
		{"metadata.name==web-1", true},
		{"metadata.name!=web-1", false},
		{"metadata.name=web-2", false},
		{"spec.nodeName=", true},
		{"spec.nodeName!=", false},
		{"status.phase=Running,metadata.namespace=default", true},
		{"status.phase=Running,metadata.namespace!=default", false},
		{"status.phase!=Pending,,", true},
		{"metadata.name=a\\,b\\=c\\\\", false},
	};
	struct fake_obj pod = {"web-1", "default", NULL, "Running"};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct selector *sel = NULL;
		cleanup_err struct err err = ERR_INIT;

		if (selector_parse_fields(cases[i].selector, pod_fields, &sel, &err) < 0)
			fail_msg("'%s': %s", cases[i].selector, err.msg);
		if (selector_match_fields(sel, get_field, &pod) != cases[i].match)
			fail_msg("'%s': expected %s", cases[i].selector,
				 cases[i].match ? "a match" : "no match");
		selector_free(sel);
	}
}

static void test_selector_fields_unescape_values_and_expose_exact_matches(void **state)
{
	struct selector *sel = NULL;
	cleanup_err struct err err = ERR_INIT;
	struct fake_obj pod = {"a,b=c\\", "default", "node-1", "Running"};

	(void)state;
	assert_int_equal(selector_parse_fields("metadata.name=a\\,b\\=c\\\\,spec.nodeName=node-1,"
					       "status.phase!=Failed",
					       pod_fields, &sel, &err),
			 0);
	assert_true(selector_match_fields(sel, get_field, &pod));
	assert_string_equal(selector_exact(sel, "metadata.name"), "a,b=c\\");
	assert_string_equal(selector_exact(sel, "spec.nodeName"), "node-1");
	assert_null(selector_exact(sel, "status.phase"));
	assert_null(selector_exact(sel, "metadata.namespace"));
	assert_null(selector_exact(NULL, "metadata.name"));
	selector_free(sel);

	assert_int_equal(selector_parse_labels("app=web,tier in (a)", &sel, &err), 0);
	assert_string_equal(selector_exact(sel, "app"), "web");
	assert_null(selector_exact(sel, "tier"));
	selector_free(sel);
}

static void test_selector_fields_reject_unsupported_fields_and_bad_escapes(void **state)
{
	static const struct {
		const char *selector;
		const char *msg;
	} bad[] = {
		{"spec.foo=bar", "field label not supported: spec.foo"},
		{"metadata.labels=x", "field label not supported: metadata.labels"},
		{"metadata.name",
		 "invalid selector: 'metadata.name'; can't understand 'metadata.name'"},
		{"a=b,novalue", "invalid selector: 'a=b,novalue'; can't understand 'novalue'"},
		{"metadata.name=a\\b", "invalid field selector: invalid escape sequence: \\b"},
		{"metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"},
		{"metadata.name=a=b", "invalid field selector: unescaped character in value: 61"},
		{"metadata.name==a=", "invalid field selector: unescaped character in value: 61"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct selector *sel = NULL;
		cleanup_err struct err err = ERR_INIT;

		if (selector_parse_fields(bad[i].selector, pod_fields, &sel, &err) >= 0)
			fail_msg("'%s' parsed", bad[i].selector);
		assert_int_equal(err.code, EINVAL);
		assert_null(sel);
		if (strcmp(err.msg, bad[i].msg) != 0)
			fail_msg("'%s': message '%s', expected '%s'", bad[i].selector, err.msg,
				 bad[i].msg);
	}
}

static void test_label_key_and_value_rules(void **state)
{
	static const struct {
		const char *s;
		bool key, value;
	} cases[] = {
		{"a", true, true},
		{"A-z_0.9", true, true},
		{"", false, true},
		{"-a", false, false},
		{"a-", false, false},
		{"a b", false, false},
		{"example.com/name", true, false},
		{"k8s.io/a", true, false},
		{"/name", false, false},
		{"example.com/", false, false},
		{"Example.com/a", false, false},
		{"a..b/c", false, false},
		{"-a.com/c", false, false},
		{"a/b/c", false, false},
		{"012345678901234567890123456789012345678901234567890123456789012", true, true},
		{"0123456789012345678901234567890123456789012345678901234567890123", false, false},
	};
	const char *why = NULL;
	char long_prefix[300];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (label_key_valid(cases[i].s, &why) != cases[i].key)
			fail_msg("key '%s': expected %s", cases[i].s,
				 cases[i].key ? "valid" : "invalid");
		if (label_value_valid(cases[i].s, &why) != cases[i].value)
			fail_msg("value '%s': expected %s", cases[i].s,
				 cases[i].value ? "valid" : "invalid");
	}
	memset(long_prefix, 'a', 253);
	strcpy(long_prefix + 253, "/x");
	assert_true(label_key_valid(long_prefix, &why));
	memset(long_prefix, 'a', 254);
	strcpy(long_prefix + 254, "/x");
	assert_false(label_key_valid(long_prefix, &why));
	assert_string_equal(why, "prefix part must be no more than 253 characters");
	assert_false(label_key_valid("x/", &why));
	assert_string_equal(why, "name part must be non-empty");
}

/*
 * What the cache extracts of a stored object for selectors and lookups: identity, labels,
 * owners, and each selectable field of its resource, nested, formatted or defaulted as
 * upstream's field sets do.
 */
static void test_stored_objects_expose_their_selectable_fields(void **state)
{
	static const char pod[] =
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
		"\"namespace\":\"ns1\",\"uid\":\"u-1\",\"labels\":{\"app\":\"web\"},"
		"\"ownerReferences\":[{\"uid\":\"o-1\"},{\"uid\":\"o-2\"}],"
		"\"finalizers\":[\"f\"]},\"spec\":{\"nodeName\":\"n1\",\"restartPolicy\":"
		"\"Never\"},\"status\":{\"phase\":\"Running\"}}";
	static const char event[] =
		"{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\","
		"\"namespace\":\"ns1\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\","
		"\"namespace\":\"ns1\"},\"reason\":\"Scheduled\",\"type\":\"Normal\","
		"\"source\":{\"component\":\"default-scheduler\"}}";
	static const char node[] = "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":"
				   "{\"name\":\"n1\"},\"spec\":{\"podCIDR\":\"10.0.1.0/24\"}}";
	static const char job[] =
		"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"j\","
		"\"namespace\":\"ns1\"},\"status\":{\"succeeded\":3}}";
	struct api_obj *o;

	(void)state;
	o = api_obj_new("/registry/pods/ns1/p", pod, strlen(pod), 7, 5);
	assert_non_null(o);
	assert_string_equal(o->key, "/registry/pods/ns1/p");
	assert_string_equal(o->ns, "ns1");
	assert_string_equal(o->name, "p");
	assert_string_equal(o->uid, "u-1");
	assert_string_equal(json_string_value(json_object_get(o->labels, "app")), "web");
	assert_string_equal(o->owners[0], "o-1");
	assert_string_equal(o->owners[1], "o-2");
	assert_null(o->owners[2]);
	assert_true(o->has_finalizers);
	assert_false(o->deleting);
	assert_non_null(strstr(o->json, "\"resourceVersion\":\"7\""));
	assert_string_equal(api_obj_field(o, "spec.nodeName"), "n1");
	assert_string_equal(api_obj_field(o, "spec.restartPolicy"), "Never");
	assert_string_equal(api_obj_field(o, "spec.schedulerName"), "");
	assert_string_equal(api_obj_field(o, "status.phase"), "Running");
	assert_string_equal(api_obj_field(o, "metadata.namespace"), "ns1");
	api_obj_unref(o);

	o = api_obj_new("/registry/events/ns1/e", event, strlen(event), 8, 8);
	assert_non_null(o);
	assert_string_equal(api_obj_field(o, "involvedObject.kind"), "Pod");
	assert_string_equal(api_obj_field(o, "involvedObject.namespace"), "ns1");
	assert_string_equal(api_obj_field(o, "involvedObject.uid"), "");
	assert_string_equal(api_obj_field(o, "reason"), "Scheduled");
	assert_string_equal(api_obj_field(o, "source"), "default-scheduler");
	assert_string_equal(o->uid, "");
	assert_null(o->labels);
	assert_null(o->owners);
	api_obj_unref(o);

	o = api_obj_new("/registry/nodes/n1", node, strlen(node), 9, 9);
	assert_non_null(o);
	assert_string_equal(o->ns, "");
	assert_string_equal(o->pod_cidr, "10.0.1.0/24");
	assert_string_equal(api_obj_field(o, "spec.unschedulable"), "false");
	api_obj_unref(o);

	o = api_obj_new("/registry/batch/jobs/ns1/j", job, strlen(job), 10, 10);
	assert_non_null(o);
	assert_string_equal(api_obj_field(o, "status.successful"), "3");
	api_obj_unref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selector_labels_match_every_operator),
		cmocka_unit_test(
			test_selector_labels_reject_malformed_input_with_upstream_messages),
		cmocka_unit_test(test_selector_empty_and_null_select_everything),
		cmocka_unit_test(test_selector_from_json_matches_label_selector_objects),
		cmocka_unit_test(test_selector_from_json_rejects_invalid_objects_naming_the_field),
		cmocka_unit_test(test_selector_fields_match_equality_and_inequality),
		cmocka_unit_test(test_selector_fields_unescape_values_and_expose_exact_matches),
		cmocka_unit_test(test_selector_fields_reject_unsupported_fields_and_bad_escapes),
		cmocka_unit_test(test_label_key_and_value_rules),
		cmocka_unit_test(test_stored_objects_expose_their_selectable_fields),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("selector", tests, NULL, NULL);
}
