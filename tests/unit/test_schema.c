/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the type schema (cluster/api/schema.c, openapi.c): strict decoding checks
 * with upstream's field paths and messages, the patch metadata strategic merge patch reads,
 * and the OpenAPI documents kubectl looks things up in.
 */
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
#include "cluster/api/resources.h"
#include "cluster/api/schema.h"
#include "cluster/api/status.h"

#define DEPLOYMENT "io.k8s.api.apps.v1.Deployment"
#define POD        "io.k8s.api.core.v1.Pod"
#define PODSPEC    "io.k8s.api.core.v1.PodSpec"

static const char deployment_json[] =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"labels\":{\"app\":\"web\"},"
	"\"annotations\":{\"a\":\"b\"},\"finalizers\":[\"x/y\"],"
	"\"creationTimestamp\":\"2024-12-11T10:00:00Z\"},"
	"\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
	"\"strategy\":{\"type\":\"RollingUpdate\","
	"\"rollingUpdate\":{\"maxSurge\":\"25%\",\"maxUnavailable\":1}},"
	"\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
	"\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.27\","
	"\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"}],"
	"\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	"{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}],"
	"\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"},"
	"\"requests\":{\"cpu\":1,\"memory\":\"1.5Gi\"}},"
	"\"readinessProbe\":{\"httpGet\":{\"path\":\"/\",\"port\":\"http\"},\"periodSeconds\":5},"
	"\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}]}],"
	"\"volumes\":[{\"name\":\"data\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}}],"
	"\"tolerations\":[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}],"
	"\"terminationGracePeriodSeconds\":30}}},"
	"\"status\":{\"replicas\":3,\"conditions\":[{\"type\":\"Available\",\"status\":\"True\","
	"\"lastUpdateTime\":\"2024-12-11T10:00:00.123456Z\"}]}}";

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad test JSON: %s at %d", e.text, e.position);
	return j;
}

static void check_clean(const char *type, const char *text)
{
	cleanup_json json_t *obj = parse(text);
	struct causes c = {0};

	schema_check(type, obj, true, &c);
	for (size_t i = 0; i < c.n; i++)
		print_message("# unexpected cause: %s %s: %s\n", c.v[i].type, c.v[i].field,
			      c.v[i].message);
	assert_int_equal(c.n, 0);
	causes_free(&c);
}

/* Checks @text as @type and expects exactly the causes given as type, field, message. */
static void check_causes(const char *type, const char *text, bool strict, size_t n, ...)
{
	cleanup_json json_t *obj = parse(text);
	struct causes c = {0};
	va_list ap;

	schema_check(type, obj, strict, &c);
	for (size_t i = 0; c.n != n && i < c.n; i++)
		print_message("# cause: %s %s: %s\n", c.v[i].type, c.v[i].field, c.v[i].message);
	assert_int_equal(c.n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(c.v[i].type, va_arg(ap, const char *));
		assert_string_equal(c.v[i].field, va_arg(ap, const char *));
		assert_string_equal(c.v[i].message, va_arg(ap, const char *));
	}
	va_end(ap);
	causes_free(&c);
}

static void test_schema_check_accepts_valid_deployment(void **state)
{
	(void)state;
	check_clean(DEPLOYMENT, deployment_json);
}

static void test_schema_check_accepts_valid_pod_and_service(void **state)
{
	(void)state;
	check_clean(POD,
		    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
		    "\"command\":[\"sh\",\"-c\",\"sleep 1\"],"
		    "\"livenessProbe\":{\"tcpSocket\":{\"port\":8080}},"
		    "\"securityContext\":{\"capabilities\":{\"add\":[\"NET_ADMIN\"]}}}],"
		    "\"nodeSelector\":{\"disk\":\"ssd\"},\"restartPolicy\":\"Never\","
		    "\"affinity\":{\"nodeAffinity\":{"
		    "\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
		    "[{\"matchExpressions\":[{\"key\":\"k\",\"operator\":\"In\","
		    "\"values\":[\"v\"]}]}]}}},"
		    "\"volumes\":[{\"name\":\"cm\",\"configMap\":{\"name\":\"cfg\","
		    "\"items\":[{\"key\":\"a\",\"path\":\"a.txt\",\"mode\":420}]}}]},"
		    "\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"10.42.0.5\"}]}}");
	check_clean("io.k8s.api.core.v1.Service",
		    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},"
		    "\"spec\":{\"selector\":{\"app\":\"web\"},\"type\":\"NodePort\","
		    "\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\"},"
		    "{\"name\":\"alt\",\"port\":81,\"targetPort\":8081,\"protocol\":\"UDP\"}]}}");
	check_clean("io.k8s.api.core.v1.Secret",
		    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\"},"
		    "\"data\":{\"a\":\"aGVsbG8=\",\"b\":\"aGk=\",\"c\":\"\"},"
		    "\"stringData\":{\"d\":\"plain\"},\"type\":\"Opaque\"}");
}

static void test_schema_check_accepts_null_anywhere(void **state)
{
	(void)state;
	check_clean(DEPLOYMENT, "{\"metadata\":{\"labels\":null,\"creationTimestamp\":null},"
				"\"spec\":{\"replicas\":null,\"template\":{\"spec\":"
				"{\"containers\":[{\"name\":\"a\",\"resources\":null}]}}}}");
}

static void test_schema_check_reports_unknown_fields_at_every_depth(void **state)
{
	(void)state;
	check_causes(
		DEPLOYMENT,
		"{\"kind\":\"Deployment\",\"foo\":1,\"metadata\":{\"name\":\"a\",\"labelz\":{}},"
		"\"spec\":{\"replica\":2,\"template\":{\"spec\":{\"containers\":"
		"[{\"name\":\"a\"},{\"name\":\"b\",\"imagee\":\"x\","
		"\"ports\":[{\"containerPort\":80,\"hostIp\":\"x\"}]}]}}}}",
		true, 5, CAUSE_UNKNOWN_FIELD, "foo", "unknown field \"foo\"", CAUSE_UNKNOWN_FIELD,
		"metadata.labelz", "unknown field \"metadata.labelz\"", CAUSE_UNKNOWN_FIELD,
		"spec.replica", "unknown field \"spec.replica\"", CAUSE_UNKNOWN_FIELD,
		"spec.template.spec.containers[1].imagee",
		"unknown field \"spec.template.spec.containers[1].imagee\"", CAUSE_UNKNOWN_FIELD,
		"spec.template.spec.containers[1].ports[0].hostIp",
		"unknown field \"spec.template.spec.containers[1].ports[0].hostIp\"");
}

static void test_schema_check_ignores_unknown_fields_unless_strict(void **state)
{
	(void)state;
	check_causes(DEPLOYMENT, "{\"foo\":1,\"spec\":{\"bar\":{\"x\":1},\"replicas\":\"2\"}}",
		     false, 1, CAUSE_TYPE_INVALID, "spec.replicas",
		     "Invalid value: \"string\": spec.replicas in body must be of type integer: "
		     "\"string\"");
}

static void test_schema_check_reports_type_mismatches(void **state)
{
	(void)state;
	check_causes(
		DEPLOYMENT,
		"{\"metadata\":{\"labels\":{\"a\":1}},"
		"\"spec\":{\"replicas\":\"3\",\"paused\":\"yes\",\"selector\":[],"
		"\"template\":{\"spec\":{\"containers\":{\"name\":\"a\"},"
		"\"volumes\":[{\"name\":7}],\"terminationGracePeriodSeconds\":1.5}}}}",
		true, 7, CAUSE_TYPE_INVALID, "metadata.labels[a]",
		"Invalid value: \"integer\": metadata.labels[a] in body must be of type string: "
		"\"integer\"",
		CAUSE_TYPE_INVALID, "spec.replicas",
		"Invalid value: \"string\": spec.replicas in body must be of type integer: "
		"\"string\"",
		CAUSE_TYPE_INVALID, "spec.paused",
		"Invalid value: \"string\": spec.paused in body must be of type boolean: "
		"\"string\"",
		CAUSE_TYPE_INVALID, "spec.selector",
		"Invalid value: \"array\": spec.selector in body must be of type object: "
		"\"array\"",
		CAUSE_TYPE_INVALID, "spec.template.spec.containers",
		"Invalid value: \"object\": spec.template.spec.containers in body must be of "
		"type array: \"object\"",
		CAUSE_TYPE_INVALID, "spec.template.spec.volumes[0].name",
		"Invalid value: \"integer\": spec.template.spec.volumes[0].name in body must "
		"be of type string: \"integer\"",
		CAUSE_TYPE_INVALID, "spec.template.spec.terminationGracePeriodSeconds",
		"Invalid value: \"number\": spec.template.spec.terminationGracePeriodSeconds "
		"in body must be of type integer: \"number\"");
}

static void test_schema_check_reports_int_or_string_and_int32_range(void **state)
{
	(void)state;
	check_causes(
		DEPLOYMENT,
		"{\"spec\":{\"replicas\":4294967296,\"strategy\":{\"rollingUpdate\":"
		"{\"maxSurge\":true}}}}",
		true, 2, CAUSE_INVALID, "spec.replicas",
		"Invalid value: 4294967296: spec.replicas in body must fit in a 32-bit integer",
		CAUSE_TYPE_INVALID, "spec.strategy.rollingUpdate.maxSurge",
		"Invalid value: \"boolean\": spec.strategy.rollingUpdate.maxSurge in body must "
		"be of type integer or string: \"boolean\"");
}

static void test_schema_check_validates_quantities(void **state)
{
	cleanup_json json_t *obj =
		parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"abc\","
		      "\"memory\":\"64Mi\"},\"requests\":{\"cpu\":0.5,\"memory\":[]}}}]}");
	struct causes c = {0};

	(void)state;
	schema_check(PODSPEC, obj, true, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0].type, CAUSE_INVALID);
	assert_string_equal(c.v[0].field, "containers[0].resources.limits[cpu]");
	assert_string_equal(c.v[0].message,
			    "Invalid value: \"abc\": quantities must match the regular expression "
			    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
	assert_string_equal(c.v[1].type, CAUSE_TYPE_INVALID);
	assert_string_equal(c.v[1].field, "containers[0].resources.requests[memory]");
	causes_free(&c);
}

static void test_schema_check_validates_times_and_base64(void **state)
{
	(void)state;
	check_causes("io.k8s.api.core.v1.Secret",
		     "{\"metadata\":{\"creationTimestamp\":\"yesterday\","
		     "\"deletionTimestamp\":\"2024-12-11T10:00:00+01:00\"},"
		     "\"data\":{\"ok\":\"aGk=\",\"bad\":\"a$b=\",\"short\":\"aGk\"}}",
		     true, 3, CAUSE_INVALID, "metadata.creationTimestamp",
		     "Invalid value: \"yesterday\": must be a time in RFC 3339 format "
		     "(2006-01-02T15:04:05Z)",
		     CAUSE_INVALID, "data[bad]", "illegal base64 data at input byte 1",
		     CAUSE_INVALID, "data[short]", "illegal base64 data at input byte 3");
}

static void test_schema_check_reports_a_non_object_body(void **state)
{
	(void)state;
	check_causes(POD, "[1]", true, 1, CAUSE_TYPE_INVALID, "",
		     "Invalid value: \"array\": body must be of type object: \"array\"");
	check_clean("io.k8s.unknown.Type", "{\"anything\":1}");
}

static void lookup(const char *type, const char *field, struct patch_field *ret)
{
	memset(ret, 0xff, sizeof(*ret));
	assert_true(schema_patch_lookup(NULL, type, field, ret));
}

/*
 * An update's values shared with the stored object (a status merge patch leaves them so)
 * were checked when it was stored: only what the patch brought is checked again. A copy
 * equal to the stored values is checked all the same.
 */
static void test_schema_check_update_skips_the_stored_objects_own_values(void **state)
{
	cleanup_json json_t *old =
		parse("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},"
		      "\"spec\":{\"containers\":[{\"name\":\"c\",\"imagee\":\"x\"}]},"
		      "\"status\":{\"phase\":\"Pending\"}}");
	cleanup_json json_t *patch = parse("{\"status\":{\"phase\":\"Running\",\"bogus\":1}}");
	cleanup_json json_t *updated = NULL, *copy = NULL;
	struct causes c = {0};
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(patch_merge_shared(old, TAKE_PTR(patch), &updated, &err), 0);
	assert_ptr_equal(json_object_get(updated, "spec"), json_object_get(old, "spec"));
	schema_check_update(POD, updated, old, true, &c);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0].field, "status.bogus");
	causes_free(&c);

	copy = json_deep_copy(updated);
	schema_check_update(POD, copy, old, true, &c);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0].field, "spec.containers[0].imagee");
	assert_string_equal(c.v[1].field, "status.bogus");
	causes_free(&c);

	schema_check(POD, updated, true, &c);
	assert_int_equal(c.n, 2);
	causes_free(&c);
}

static void test_schema_patch_lookup_gives_merge_keys(void **state)
{
	struct patch_field f;

	(void)state;
	lookup(PODSPEC, "containers", &f);
	assert_string_equal(f.type, "io.k8s.api.core.v1.Container");
	assert_string_equal(f.merge_key, "name");
	assert_int_equal(f.strategy, PATCH_MERGE);
	assert_true(f.is_list);
	assert_false(f.is_map);

	lookup("io.k8s.api.core.v1.Container", "ports", &f);
	assert_string_equal(f.type, "io.k8s.api.core.v1.ContainerPort");
	assert_string_equal(f.merge_key, "containerPort");
	assert_int_equal(f.strategy, PATCH_MERGE);

	lookup("io.k8s.api.core.v1.Container", "env", &f);
	assert_string_equal(f.merge_key, "name");
	assert_int_equal(f.strategy, PATCH_MERGE);

	lookup(PODSPEC, "volumes", &f);
	assert_string_equal(f.type, "io.k8s.api.core.v1.Volume");
	assert_string_equal(f.merge_key, "name");
	assert_int_equal(f.strategy, PATCH_MERGE | PATCH_RETAIN_KEYS);
	assert_true(f.is_list);
}

static void test_schema_patch_lookup_gives_strategies(void **state)
{
	struct patch_field f;

	(void)state;
	lookup("io.k8s.api.apps.v1.DeploymentSpec", "strategy", &f);
	assert_string_equal(f.type, "io.k8s.api.apps.v1.DeploymentStrategy");
	assert_int_equal(f.strategy, PATCH_RETAIN_KEYS);
	assert_null(f.merge_key);
	assert_false(f.is_list);

	lookup(PODSPEC, "tolerations", &f);
	assert_string_equal(f.type, "io.k8s.api.core.v1.Toleration");
	assert_int_equal(f.strategy, PATCH_REPLACE);
	assert_null(f.merge_key);
	assert_true(f.is_list);

	lookup("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers", &f);
	assert_null(f.type);
	assert_null(f.merge_key);
	assert_int_equal(f.strategy, PATCH_MERGE);
	assert_true(f.is_list);

	lookup("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "labels", &f);
	assert_null(f.type);
	assert_true(f.is_map);
	assert_false(f.is_list);

	lookup("io.k8s.api.core.v1.ResourceRequirements", "limits", &f);
	assert_null(f.type); /* quantities are primitives */
	assert_true(f.is_map);

	lookup(DEPLOYMENT, "spec", &f);
	assert_string_equal(f.type, "io.k8s.api.apps.v1.DeploymentSpec");
	assert_false(f.is_list);

	assert_false(schema_patch_lookup(NULL, PODSPEC, "nope", &f));
	assert_false(schema_patch_lookup(NULL, "io.k8s.Nope", "spec", &f));
	assert_false(
		schema_patch_lookup(NULL, "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "x", &f));
}

static void test_schema_type_of_names_every_served_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < api_nresources; i++) {
		const char *type = schema_type_of(&api_resources[i]);

		if (!type)
			fail_msg("no schema type for %s", api_resources[i].kind);
		assert_true(schema_has_type(type));
		assert_non_null(strstr(type, api_resources[i].kind));
	}
	assert_string_equal(schema_type_of(api_resource_find("apps", "v1", "deployments")),
			    DEPLOYMENT);
}

static bool gv_served(const char *path)
{
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		cleanup_free char *want = r->group[0]
						  ? xasprintf("apis/%s/%s", r->group, r->version)
						  : xasprintf("api/%s", r->version);

		if (strcmp(want, path) == 0)
			return true;
	}
	return false;
}

static void test_openapi_v3_index_lists_every_group_version(void **state)
{
	cleanup_json json_t *index = schema_openapi_v3_index();
	json_t *paths = json_object_get(index, "paths");
	const char *key;
	json_t *val;

	(void)state;
	assert_non_null(paths);
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		cleanup_free char *want = r->group[0]
						  ? xasprintf("apis/%s/%s", r->group, r->version)
						  : xasprintf("api/%s", r->version);
		cleanup_free char *prefix = xasprintf("/openapi/v3/%s?hash=", want);
		const char *url = json_string_value(
			json_object_get(json_object_get(paths, want), "serverRelativeURL"));

		assert_non_null(url);
		assert_memory_equal(url, prefix, strlen(prefix));
		assert_int_equal(strlen(url), strlen(prefix) + 64);
	}
	json_object_foreach (paths, key, val)
		assert_true(gv_served(key));
	assert_null(schema_openapi_v3("apis/nope/v1"));
}

static json_t *schema_with_gvk(json_t *schemas, const char *group, const char *kind)
{
	const char *name;
	json_t *s, *g;
	size_t i;

	json_object_foreach (schemas, name, s) {
		json_array_foreach (json_object_get(s, "x-kubernetes-group-version-kind"), i, g)
			if (strcmp(json_string_value(json_object_get(g, "group")), group) == 0 &&
			    strcmp(json_string_value(json_object_get(g, "kind")), kind) == 0)
				return s;
	}
	return NULL;
}

static bool has_param(json_t *op, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach (json_object_get(op, "parameters"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
			return true;
	return false;
}

static void test_openapi_v3_apps_has_deployment_and_patch(void **state)
{
	cleanup_json json_t *doc = schema_openapi_v3("apis/apps/v1");
	json_t *schemas, *dep, *path, *patch, *strategy;

	(void)state;
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.0");
	schemas = json_object_get(json_object_get(doc, "components"), "schemas");
	dep = schema_with_gvk(schemas, "apps", "Deployment");
	assert_ptr_equal(dep, json_object_get(schemas, DEPLOYMENT));
	assert_non_null(json_object_get(json_object_get(dep, "properties"), "spec"));
	strategy = json_object_get(
		json_object_get(json_object_get(schemas, "io.k8s.api.apps.v1.DeploymentSpec"),
				"properties"),
		"strategy");
	assert_string_equal(
		json_string_value(json_object_get(strategy, "x-kubernetes-patch-strategy")),
		"retainKeys");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(strategy, "allOf"), 0), "$ref")),
			    "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy");
	/* what the paths reference is there, and nothing of other kinds */
	assert_non_null(json_object_get(schemas, "io.k8s.api.core.v1.PodSpec"));
	assert_non_null(json_object_get(schemas, "io.k8s.api.autoscaling.v1.Scale"));
	assert_non_null(json_object_get(schemas, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"));
	assert_null(json_object_get(schemas, "io.k8s.api.batch.v1.Job"));

	path = json_object_get(json_object_get(doc, "paths"),
			       "/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
	patch = json_object_get(path, "patch");
	assert_non_null(patch);
	assert_true(has_param(patch, "fieldValidation"));
	assert_true(has_param(patch, "dryRun"));
	assert_true(has_param(patch, "fieldManager"));
	assert_string_equal(json_string_value(json_object_get(patch, "x-kubernetes-action")),
			    "patch");
	assert_non_null(
		json_object_get(json_object_get(json_object_get(patch, "requestBody"), "content"),
				"application/strategic-merge-patch+json"));
	assert_true(has_param(json_object_get(path, "put"), "fieldValidation"));
	assert_non_null(json_object_get(json_object_get(doc, "paths"),
					"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/"
					"scale"));
}

static void test_openapi_v2_defines_every_served_kind(void **state)
{
	cleanup_json json_t *doc = schema_openapi_v2();
	json_t *defs = json_object_get(doc, "definitions");
	json_t *ports;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(doc, "swagger")), "2.0");
	for (size_t i = 0; i < api_nresources; i++)
		if (!schema_with_gvk(defs, api_resources[i].group, api_resources[i].kind))
			fail_msg("no definition for %s", api_resources[i].kind);
	ports = json_object_get(
		json_object_get(json_object_get(defs, "io.k8s.api.core.v1.Container"),
				"properties"),
		"ports");
	assert_string_equal(
		json_string_value(json_object_get(ports, "x-kubernetes-patch-merge-key")),
		"containerPort");
	assert_string_equal(
		json_string_value(json_object_get(ports, "x-kubernetes-patch-strategy")), "merge");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(ports, "items"), "$ref")),
		"#/definitions/io.k8s.api.core.v1.ContainerPort");
	assert_non_null(json_object_get(json_object_get(doc, "paths"),
					"/api/v1/namespaces/{namespace}/pods/{name}/status"));
}

static void test_openapi_documents_are_shared(void **state)
{
	cleanup_json json_t *a = schema_openapi_v3("api/v1");
	cleanup_json json_t *b = schema_openapi_v3("api/v1");

	(void)state;
	assert_ptr_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_check_accepts_valid_deployment),
		cmocka_unit_test(test_schema_check_accepts_valid_pod_and_service),
		cmocka_unit_test(test_schema_check_accepts_null_anywhere),
		cmocka_unit_test(test_schema_check_reports_unknown_fields_at_every_depth),
		cmocka_unit_test(test_schema_check_ignores_unknown_fields_unless_strict),
		cmocka_unit_test(test_schema_check_reports_type_mismatches),
		cmocka_unit_test(test_schema_check_reports_int_or_string_and_int32_range),
		cmocka_unit_test(test_schema_check_validates_quantities),
		cmocka_unit_test(test_schema_check_validates_times_and_base64),
		cmocka_unit_test(test_schema_check_reports_a_non_object_body),
		cmocka_unit_test(test_schema_check_update_skips_the_stored_objects_own_values),
		cmocka_unit_test(test_schema_patch_lookup_gives_merge_keys),
		cmocka_unit_test(test_schema_patch_lookup_gives_strategies),
		cmocka_unit_test(test_schema_type_of_names_every_served_kind),
		cmocka_unit_test(test_openapi_v3_index_lists_every_group_version),
		cmocka_unit_test(test_openapi_v3_apps_has_deployment_and_patch),
		cmocka_unit_test(test_openapi_v2_defines_every_served_kind),
		cmocka_unit_test(test_openapi_documents_are_shared),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
