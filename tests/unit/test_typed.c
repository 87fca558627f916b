/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of defaulting and validation (cluster/api/typed.c, typed_validate.c): bare
 * objects come out with the fields upstream's `kubectl get -o yaml` shows, and bad objects
 * earn upstream's causes with the exact field path, reason and message.
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
#include "base/cleanup.h"
#include "cluster/api/resources.h"
#include "cluster/api/status.h"
#include "cluster/api/typed.h"

#define UID "6f1c2d3e-0000-4000-8000-000000000001"

static const struct api_resource *res(const char *api_version, const char *kind)
{
	const struct api_resource *r = api_resource_by_kind(api_version, kind);

	assert_non_null(r);
	return r;
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad test JSON at %d: %s: %s", e.position, e.text, text);
	return j;
}

/* Parses, gives it a uid (the API server does before defaulting) and defaults it. */
static json_t *defaulted(const char *text)
{
	json_t *obj = parse(text);
	const struct api_resource *r = res(json_string_value(json_object_get(obj, "apiVersion")),
					   json_string_value(json_object_get(obj, "kind")));
	json_t *meta = json_object_get(obj, "metadata");

	if (json_is_object(meta) && !json_object_get(meta, "uid"))
		json_object_set_new(meta, "uid", json_string(UID));
	typed_default(r, obj);
	return obj;
}

static void dump_causes(const struct causes *c)
{
	for (size_t i = 0; i < c->n; i++)
		print_message("#   cause %zu: %s %s: %s\n", i, c->v[i].type, c->v[i].field,
			      c->v[i].message);
}

static void validate(const json_t *obj, const json_t *old, struct causes *out)
{
	const struct api_resource *r = res(json_string_value(json_object_get(obj, "apiVersion")),
					   json_string_value(json_object_get(obj, "kind")));

	typed_validate(r, obj, old, out);
}

static void expect_valid(const char *text)
{
	cleanup_json json_t *obj = defaulted(text);
	struct causes c = {0};

	validate(obj, NULL, &c);
	if (c.n) {
		dump_causes(&c);
		causes_free(&c);
		fail_msg("expected no causes for %s", text);
	}
	causes_free(&c);
}

static bool has_cause(const struct causes *c, const char *field, const char *type,
		      const char *message)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].field, field) == 0 && strcmp(c->v[i].type, type) == 0 &&
		    (!message || strcmp(c->v[i].message, message) == 0))
			return true;
	return false;
}

static void check_causes(struct causes *c, const char *what, const char *field, const char *type,
			 const char *message)
{
	if (!has_cause(c, field, type, message)) {
		dump_causes(c);
		causes_free(c);
		fail_msg("no cause %s %s: %s for %s", type, field, message ? message : "*", what);
	}
	causes_free(c);
}

/* Creating @text (defaulted) must give the cause; @message NULL checks path and type only. */
static void expect_cause(const char *text, const char *field, const char *type, const char *message)
{
	cleanup_json json_t *obj = defaulted(text);
	struct causes c = {0};

	validate(obj, NULL, &c);
	check_causes(&c, text, field, type, message);
}

/* Updating @old_text to @new_text (both defaulted) must give the cause. */
static void expect_update_cause(const char *old_text, const char *new_text, const char *field,
				const char *type, const char *message)
{
	cleanup_json json_t *old = defaulted(old_text);
	cleanup_json json_t *obj = defaulted(new_text);
	struct causes c = {0};

	validate(obj, old, &c);
	check_causes(&c, new_text, field, type, message);
}

static void expect_update_valid(const char *old_text, const char *new_text)
{
	cleanup_json json_t *old = defaulted(old_text);
	cleanup_json json_t *obj = defaulted(new_text);
	struct causes c = {0};

	validate(obj, old, &c);
	if (c.n) {
		dump_causes(&c);
		causes_free(&c);
		fail_msg("expected a valid update to %s", new_text);
	}
	causes_free(&c);
}

static void assert_json(const json_t *got, const char *want_text)
{
	cleanup_json json_t *want = parse(want_text);

	if (!json_equal(got, want)) {
		cleanup_free char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
		cleanup_free char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);

		fail_msg("got  %s\nwant %s", g, w);
	}
}

static const json_t *at(const json_t *j, const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;

	for (char *k = strtok_r(copy, ".", &save); k && j; k = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, strtoul(k, NULL, 10));
		else
			j = json_object_get(j, k);
	}
	return j;
}

static const char *str_at(const json_t *j, const char *path)
{
	const json_t *v = at(j, path);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- objects ---------------------------------------------------------------------------- */

#define META(name)       "\"metadata\":{\"name\":\"" name "\",\"namespace\":\"default\"}"
#define POD_WITH(spec)   "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"," META("web") ",\"spec\":" spec "}"
#define POD              POD_WITH("{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\"}]}")
#define POD_C(container) POD_WITH("{\"containers\":[" container "]}")

#define DEPLOY_WITH(sel, labels, extra)                                                            \
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," META(                               \
		"web") ",\"spec\":{" extra "\"selector\":" sel                                     \
		       ",\"template\":{\"metadata\":{\"labels\":" labels "},"                      \
		       "\"spec\":{\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.25\"}]}" \
		       "}}}"
#define DEPLOY DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}", "")

#define JOB_WITH(restart)                                                                          \
	"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\"," META(                                     \
		"pi") ",\"spec\":{\"template\":"                                                   \
		      "{\"spec\":{" restart                                                        \
		      "\"containers\":[{\"name\":\"pi\",\"image\":\"perl:5.34\"}]}}}}"
#define CRON_WITH(name, schedule)                                                                  \
	"{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\"," META(                                 \
		name) ",\"spec\":{\"schedule\":"                                                   \
		      "\"" schedule                                                                \
		      "\",\"jobTemplate\":{\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":"   \
		      "\"OnFailure\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}}}" \
		      "}"
#define SVC_WITH(name, spec)                                                                       \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\"," META(name) ",\"spec\":" spec "}"
#define SVC                                                                                        \
	SVC_WITH("web", "{\"selector\":{\"app\":\"web\"},\"ports\":[{\"port\":80}],"               \
			"\"clusterIP\":\"10.43.0.20\"}")

#define MSG_LABEL_REGEX                                                                            \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "   \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "   \
	"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define MSG_SUBDOMAIN_REGEX                                                                        \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "  \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "      \
	"regex used for validation is "                                                            \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

/* ---- defaults --------------------------------------------------------------------------- */

static void test_typed_default_pod_matches_upstream(void **state)
{
	cleanup_json json_t *pod = defaulted(POD);

	(void)state;
	assert_json(at(pod, "spec"),
		    "{\"containers\":[{\"name\":\"web\",\"image\":\"nginx\","
		    "\"imagePullPolicy\":\"Always\",\"resources\":{},"
		    "\"terminationMessagePath\":\"/dev/termination-log\","
		    "\"terminationMessagePolicy\":\"File\"}],"
		    "\"dnsPolicy\":\"ClusterFirst\",\"enableServiceLinks\":true,"
		    "\"preemptionPolicy\":\"PreemptLowerPriority\",\"priority\":0,"
		    "\"restartPolicy\":\"Always\",\"schedulerName\":\"default-scheduler\","
		    "\"securityContext\":{},\"serviceAccount\":\"default\","
		    "\"serviceAccountName\":\"default\",\"terminationGracePeriodSeconds\":30,"
		    "\"tolerations\":["
		    "{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/not-ready\","
		    "\"operator\":\"Exists\",\"tolerationSeconds\":300},"
		    "{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/unreachable\","
		    "\"operator\":\"Exists\",\"tolerationSeconds\":300}]}");
	assert_json(at(pod, "status"), "{\"phase\":\"Pending\",\"qosClass\":\"BestEffort\"}");
}

static void test_typed_default_is_idempotent(void **state)
{
	cleanup_json json_t *pod = defaulted(POD);
	cleanup_json json_t *again = json_deep_copy(pod);

	(void)state;
	typed_default(res("v1", "Pod"), again);
	assert_true(json_equal(pod, again));
}

static void test_typed_default_deployment_matches_upstream(void **state)
{
	cleanup_json json_t *d = defaulted(DEPLOY);

	(void)state;
	assert_json(at(d, "spec"),
		    "{\"progressDeadlineSeconds\":600,\"replicas\":1,\"revisionHistoryLimit\":10,"
		    "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
		    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
		    "{\"maxSurge\":\"25%\",\"maxUnavailable\":\"25%\"}},"
		    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
		    "\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.25\","
		    "\"imagePullPolicy\":\"IfNotPresent\",\"resources\":{},"
		    "\"terminationMessagePath\":\"/dev/termination-log\","
		    "\"terminationMessagePolicy\":\"File\"}],"
		    "\"dnsPolicy\":\"ClusterFirst\",\"restartPolicy\":\"Always\","
		    "\"schedulerName\":\"default-scheduler\",\"securityContext\":{},"
		    "\"terminationGracePeriodSeconds\":30}}}");
}

static void test_typed_default_pull_policy_follows_the_tag(void **state)
{
	static const struct {
		const char *image, *policy;
	} cases[] = {
		{"nginx", "Always"},
		{"nginx:latest", "Always"},
		{"nginx:1.25", "IfNotPresent"},
		{"localhost:5000/app", "Always"},
		{"localhost:5000/app:v1", "IfNotPresent"},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "IfNotPresent"},
		{"nginx:latest@sha256:"
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
		 "ef",
		 "Always"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *text =
			xasprintf(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"%s\"}]}"),
				  cases[i].image);
		cleanup_json json_t *pod = defaulted(text);

		assert_string_equal(str_at(pod, "spec.containers.0.imagePullPolicy"),
				    cases[i].policy);
	}
}

static void test_typed_default_container_details(void **state)
{
	cleanup_json json_t *pod = defaulted(
		POD_C("{\"name\":\"c\",\"image\":\"x:1\",\"ports\":[{\"containerPort\":80}],"
		      "\"livenessProbe\":{\"httpGet\":{\"port\":80}},"
		      "\"env\":[{\"name\":\"NODE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
		      "\"spec.nodeName\"}}}],"
		      "\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
		      "\"requests\":{\"cpu\":\"500m\"}}}"));

	(void)state;
	assert_json(at(pod, "spec.containers.0.ports"),
		    "[{\"containerPort\":80,\"protocol\":\"TCP\"}]");
	assert_json(at(pod, "spec.containers.0.livenessProbe"),
		    "{\"httpGet\":{\"port\":80,\"path\":\"/\",\"scheme\":\"HTTP\"},"
		    "\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":1,"
		    "\"failureThreshold\":3}");
	assert_string_equal(str_at(pod, "spec.containers.0.env.0.valueFrom.fieldRef.apiVersion"),
			    "v1");
	/* requests are defaulted from limits only where missing */
	assert_json(at(pod, "spec.containers.0.resources.requests"),
		    "{\"cpu\":\"500m\",\"memory\":\"1Gi\"}");
	assert_string_equal(str_at(pod, "status.qosClass"), "Burstable");
}

static void test_typed_default_volumes(void **state)
{
	cleanup_json json_t *pod = defaulted(
		POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"volumes\":["
			 "{\"name\":\"a\"},{\"name\":\"b\",\"configMap\":{\"name\":\"cm\"}},"
			 "{\"name\":\"c\",\"secret\":{\"secretName\":\"s\"}},"
			 "{\"name\":\"d\",\"hostPath\":{\"path\":\"/tmp\"}}]}"));

	(void)state;
	assert_json(at(pod, "spec.volumes"),
		    "[{\"name\":\"a\",\"emptyDir\":{}},"
		    "{\"name\":\"b\",\"configMap\":{\"name\":\"cm\",\"defaultMode\":420}},"
		    "{\"name\":\"c\",\"secret\":{\"secretName\":\"s\",\"defaultMode\":420}},"
		    "{\"name\":\"d\",\"hostPath\":{\"path\":\"/tmp\",\"type\":\"\"}}]");
}

static void test_typed_default_keeps_tolerations_that_cover_the_taints(void **state)
{
	cleanup_json json_t *pod = defaulted(
		POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"tolerations\":["
			 "{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\"}]}"));

	(void)state;
	assert_json(at(pod, "spec.tolerations"),
		    "[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\"},"
		    "{\"effect\":\"NoExecute\",\"key\":\"node.kubernetes.io/unreachable\","
		    "\"operator\":\"Exists\",\"tolerationSeconds\":300}]");
}

static void test_typed_pod_qos_classes(void **state)
{
	static const struct {
		const char *resources, *qos;
	} cases[] = {
		{"{}", "BestEffort"},
		{"{\"requests\":{\"cpu\":\"100m\"}}", "Burstable"},
		{"{\"limits\":{\"cpu\":\"1\",\"memory\":\"128Mi\"}}", "Guaranteed"},
		{"{\"limits\":{\"cpu\":\"1\"}}", "Burstable"},
		{"{\"limits\":{\"cpu\":\"1\",\"memory\":\"128Mi\"},"
		 "\"requests\":{\"cpu\":\"1000m\",\"memory\":\"128Mi\"}}",
		 "Guaranteed"},
		{"{\"limits\":{\"cpu\":\"1\",\"memory\":\"128Mi\"},"
		 "\"requests\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}",
		 "Burstable"},
		{"{\"requests\":{\"nvidia.com/gpu\":\"1\"},\"limits\":{\"nvidia.com/gpu\":\"1\"}}",
		 "BestEffort"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *text =
			xasprintf(POD_C("{\"name\":\"c\",\"image\":\"x\",\"resources\":%s}"),
				  cases[i].resources);
		cleanup_json json_t *pod = defaulted(text);

		if (strcmp(str_at(pod, "status.qosClass"), cases[i].qos) != 0)
			fail_msg("%s: got %s, want %s", cases[i].resources,
				 str_at(pod, "status.qosClass"), cases[i].qos);
	}
}

static void test_typed_default_job_generates_its_selector(void **state)
{
	cleanup_json json_t *job = defaulted(JOB_WITH("\"restartPolicy\":\"Never\","));

	(void)state;
	assert_json(at(job, "spec.selector"),
		    "{\"matchLabels\":{\"batch.kubernetes.io/controller-uid\":\"" UID "\"}}");
	assert_json(at(job, "spec.template.metadata.labels"),
		    "{\"batch.kubernetes.io/controller-uid\":\"" UID "\","
		    "\"batch.kubernetes.io/job-name\":\"pi\",\"controller-uid\":\"" UID "\","
		    "\"job-name\":\"pi\"}");
	assert_true(
		json_equal(at(job, "metadata.labels"), at(job, "spec.template.metadata.labels")));
	assert_int_equal(json_integer_value(at(job, "spec.completions")), 1);
	assert_int_equal(json_integer_value(at(job, "spec.parallelism")), 1);
	assert_int_equal(json_integer_value(at(job, "spec.backoffLimit")), 6);
	assert_string_equal(str_at(job, "spec.completionMode"), "NonIndexed");
	assert_string_equal(str_at(job, "spec.podReplacementPolicy"), "TerminatingOrFailed");
	assert_true(json_is_false(at(job, "spec.suspend")));
	assert_null(at(job, "spec.manualSelector"));
}

static void test_typed_default_job_with_parallelism_leaves_completions_unset(void **state)
{
	cleanup_json json_t *job = defaulted("{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\"," META(
		"w") ",\"spec\":"
		     "{\"parallelism\":3,\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
		     "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}");

	(void)state;
	assert_null(at(job, "spec.completions"));
	assert_int_equal(json_integer_value(at(job, "spec.parallelism")), 3);
}

static void test_typed_default_job_keeps_a_manual_selector(void **state)
{
	cleanup_json json_t *job = defaulted("{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\"," META(
		"m") ",\"spec\":"
		     "{\"manualSelector\":true,\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
		     "\"template\":{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
		     "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]"
		     "}}}}");
	struct causes c = {0};

	(void)state;
	assert_json(at(job, "spec.selector"), "{\"matchLabels\":{\"a\":\"b\"}}");
	validate(job, NULL, &c);
	dump_causes(&c);
	assert_int_equal(c.n, 0);
	causes_free(&c);
}

static void test_typed_default_workload_kinds(void **state)
{
	cleanup_json json_t *sts =
		defaulted("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\"," META(
			"db") ",\"spec\":{"
			      "\"serviceName\":\"db\",\"selector\":{\"matchLabels\":{\"app\":"
			      "\"db\"}},"
			      "\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":{"
			      "\"containers\":"
			      "[{\"name\":\"c\",\"image\":\"x\"}]}},\"volumeClaimTemplates\":[{"
			      "\"metadata\":"
			      "{\"name\":\"data\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"]}}]"
			      "}}");
	cleanup_json json_t *ds =
		defaulted("{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\"," META(
			"ds") ",\"spec\":{"
			      "\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{"
			      "\"metadata\":{\"labels\":"
			      "{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
			      "\"x\"}]}}}}");
	cleanup_json json_t *cj = defaulted(CRON_WITH("cj", "*/5 * * * *"));

	(void)state;
	assert_string_equal(str_at(sts, "spec.podManagementPolicy"), "OrderedReady");
	assert_json(at(sts, "spec.updateStrategy"),
		    "{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"partition\":0}}");
	assert_json(at(sts, "spec.persistentVolumeClaimRetentionPolicy"),
		    "{\"whenDeleted\":\"Retain\",\"whenScaled\":\"Retain\"}");
	assert_int_equal(json_integer_value(at(sts, "spec.replicas")), 1);
	assert_int_equal(json_integer_value(at(sts, "spec.revisionHistoryLimit")), 10);
	assert_string_equal(str_at(sts, "spec.volumeClaimTemplates.0.spec.volumeMode"),
			    "Filesystem");
	assert_string_equal(str_at(sts, "spec.volumeClaimTemplates.0.status.phase"), "Pending");

	assert_json(at(ds, "spec.updateStrategy"),
		    "{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":1,"
		    "\"maxSurge\":0}}");
	assert_int_equal(json_integer_value(at(ds, "spec.revisionHistoryLimit")), 10);

	assert_string_equal(str_at(cj, "spec.concurrencyPolicy"), "Allow");
	assert_true(json_is_false(at(cj, "spec.suspend")));
	assert_int_equal(json_integer_value(at(cj, "spec.successfulJobsHistoryLimit")), 3);
	assert_int_equal(json_integer_value(at(cj, "spec.failedJobsHistoryLimit")), 1);
	assert_string_equal(str_at(cj, "spec.jobTemplate.spec.template.spec.dnsPolicy"),
			    "ClusterFirst");
	/* the job template is not a Job: no job defaults there */
	assert_null(at(cj, "spec.jobTemplate.spec.backoffLimit"));
}

static void test_typed_default_service_namespace_secret(void **state)
{
	cleanup_json json_t *svc = defaulted(SVC_WITH(
		"web", "{\"type\":\"NodePort\",\"selector\":{\"app\":\"web\"},\"ports\":"
		       "[{\"port\":80},{\"name\":\"x\",\"port\":81,\"targetPort\":\"http\"}]}"));
	cleanup_json json_t *ns = defaulted(
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"team\"}}");
	cleanup_json json_t *sec = defaulted(
		"{\"apiVersion\":\"v1\",\"kind\":\"Secret\"," META("s") ",\"stringData\":"
									"{\"user\":\"admin\"}}");

	(void)state;
	assert_json(at(svc, "spec"),
		    "{\"type\":\"NodePort\",\"selector\":{\"app\":\"web\"},\"ports\":["
		    "{\"port\":80,\"protocol\":\"TCP\",\"targetPort\":80},"
		    "{\"name\":\"x\",\"port\":81,\"protocol\":\"TCP\",\"targetPort\":\"http\"}],"
		    "\"sessionAffinity\":\"None\",\"externalTrafficPolicy\":\"Cluster\","
		    "\"internalTrafficPolicy\":\"Cluster\",\"ipFamilyPolicy\":\"SingleStack\","
		    "\"ipFamilies\":[\"IPv4\"]}");
	assert_json(at(ns, "metadata.labels"), "{\"kubernetes.io/metadata.name\":\"team\"}");
	assert_json(at(ns, "spec"), "{\"finalizers\":[\"kubernetes\"]}");
	assert_json(at(ns, "status"), "{\"phase\":\"Active\"}");
	assert_string_equal(str_at(sec, "type"), "Opaque");
	assert_json(at(sec, "data"), "{\"user\":\"YWRtaW4=\"}");
	assert_null(at(sec, "stringData"));
}

static void test_typed_service_keep_allocations(void **state)
{
	cleanup_json json_t *old = defaulted(
		SVC_WITH("web", "{\"type\":\"NodePort\",\"clusterIP\":\"10.43.0.7\",\"ports\":"
				"[{\"port\":80,\"nodePort\":30080}]}"));
	cleanup_json json_t *svc =
		defaulted(SVC_WITH("web", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80}]}"));

	(void)state;
	typed_service_keep_allocations(svc, old);
	assert_string_equal(str_at(svc, "spec.clusterIP"), "10.43.0.7");
	assert_json(at(svc, "spec.clusterIPs"), "[\"10.43.0.7\"]");
	assert_int_equal(json_integer_value(at(svc, "spec.ports.0.nodePort")), 30080);
}

static void test_typed_service_type_change_drops_allocations(void **state)
{
	cleanup_json json_t *old = defaulted(SVC);
	cleanup_json json_t *svc = json_deep_copy(old);
	json_t *spec = json_object_get(svc, "spec");
	struct causes c = {0};

	(void)state;
	/* `kubectl edit` turning a ClusterIP service into ExternalName keeps the old fields */
	json_object_set_new(spec, "type", json_string("ExternalName"));
	json_object_set_new(spec, "externalName", json_string("db.example.com"));
	typed_service_keep_allocations(svc, old);
	assert_null(at(svc, "spec.clusterIP"));
	assert_null(at(svc, "spec.ipFamilies"));
	assert_null(at(svc, "spec.internalTrafficPolicy"));
	validate(svc, old, &c);
	dump_causes(&c);
	assert_int_equal(c.n, 0);
	causes_free(&c);
}

static void test_typed_generation_changes_only_outside_metadata_and_status(void **state)
{
	cleanup_json json_t *a = defaulted(DEPLOY);
	cleanup_json json_t *b = json_deep_copy(a);

	(void)state;
	json_object_set_new(json_object_get(b, "metadata"), "labels", json_pack("{s:s}", "x", "y"));
	json_object_set_new(b, "status", json_pack("{s:i}", "replicas", 3));
	assert_false(typed_generation_changed(a, b));
	json_object_set_new(json_object_get(b, "spec"), "replicas", json_integer(3));
	assert_true(typed_generation_changed(a, b));
}

/* ---- name checks and cron --------------------------------------------------------------- */

static void test_typed_name_checks(void **state)
{
	const char *why = NULL;
	const char *m[6];

	(void)state;
	assert_true(dns1123_subdomain("example.com", NULL));
	assert_false(dns1123_subdomain("Example", &why));
	assert_string_equal(why, MSG_SUBDOMAIN_REGEX);
	assert_true(dns1123_label("my-name", NULL));
	assert_false(dns1123_label("a.b", &why));
	assert_string_equal(why, "must not contain dots");
	assert_false(dns1035_label("1web", NULL));
	assert_true(dns1035_label("web-1", NULL));
	assert_false(path_segment_name("..", &why));
	assert_string_equal(why, "may not be '..'");
	assert_true(path_segment_name("pod.17a", NULL));
	assert_true(port_name_valid("http", NULL));
	assert_false(port_name_valid("80", &why));
	assert_string_equal(why, "must contain at least one letter (a-z)");
	assert_true(config_key_valid(".env", NULL));
	assert_false(config_key_valid("..x", &why));
	assert_string_equal(why, "must not start with '..'");
	/* both the length and the shape are reported, as upstream does */
	assert_int_equal(
		typed_name_check(TYPED_DNS1123_LABEL,
				 "A234567890123456789012345678901234567890123456789012345678"
				 "901234",
				 m),
		2);
	assert_string_equal(m[0], "must be no more than 63 characters");
	assert_string_equal(m[1], MSG_LABEL_REGEX);
}

static void test_typed_cron_check(void **state)
{
	static const char *const good[] = {
		"*/5 * * * *",         "0 0 * * *",    "0 9-17/2 * * mon-fri",
		"15 3 1,15 jan,JUL ?", "@hourly",      "@every 1h30m",
		"0 0 29 2 *",          "  1 2 3 4 5 ", NULL};
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{"61 * * * *", "end of range (61) above maximum (59): 61"},
		{"* * *", "expected exactly 5 fields, found 3: [* * *]"},
		{"* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"},
		{"x * * * *",
		 "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"},
		{"5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"},
		{"*/0 * * * *", "step of range should be a positive number: */0"},
		{"* * 0 * *", "beginning of range (0) below minimum (1): 0"},
		{"1-2-3 * * * *", "too many hyphens: 1-2-3"},
		{"@weekdays", "unrecognized descriptor: @weekdays"},
		{"", "empty spec string"},
	};

	(void)state;
	for (size_t i = 0; good[i]; i++) {
		cleanup_free char *why = typed_cron_check(good[i]);

		if (why)
			fail_msg("%s: %s", good[i], why);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *why = typed_cron_check(bad[i].in);

		if (!why || strcmp(why, bad[i].msg) != 0)
			fail_msg("%s: got %s, want %s", bad[i].in, why ? why : "(valid)",
				 bad[i].msg);
	}
}

/* ---- validation: good objects ----------------------------------------------------------- */

static void test_typed_validate_accepts_good_objects(void **state)
{
	(void)state;
	expect_valid(POD);
	expect_valid(POD_WITH(
		"{\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1.25\",\"ports\":["
		"{\"name\":\"http\",\"containerPort\":80}],\"env\":[{\"name\":\"A\",\"value\":"
		"\"1\"},"
		"{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}]"
		","
		"\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}},"
		"\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}],"
		"\"livenessProbe\":{\"httpGet\":{\"port\":\"http\"}},"
		"\"readinessProbe\":{\"tcpSocket\":{\"port\":80},\"successThreshold\":2}}],"
		"\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox\",\"command\":["
		"\"true\"]}],"
		"\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},{\"name\":\"cfg\",\"configMap\":"
		"{\"name\":\"cfg\",\"items\":[{\"key\":\"a\",\"path\":\"a.conf\"}]}}],"
		"\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"}}"));
	expect_valid(DEPLOY);
	expect_valid(DEPLOY_WITH("{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\","
				 "\"values\":[\"web\",\"api\"]}]}",
				 "{\"app\":\"web\",\"tier\":\"fe\"}",
				 "\"replicas\":3,\"strategy\":{\"type\":\"Recreate\"},"));
	expect_valid(JOB_WITH("\"restartPolicy\":\"Never\","));
	expect_valid(CRON_WITH("nightly", "0 3 * * *"));
	expect_valid(SVC);
	expect_valid(SVC_WITH("multi", "{\"type\":\"NodePort\",\"ports\":[{\"name\":\"http\","
				       "\"port\":80,\"nodePort\":30080},{\"name\":\"https\","
				       "\"port\":443}]}"));
	expect_valid(SVC_WITH("headless", "{\"clusterIP\":\"None\",\"selector\":{\"a\":\"b\"}}"));
	expect_valid(
		SVC_WITH("ext", "{\"type\":\"ExternalName\",\"externalName\":\"example.com\"}"));
	expect_valid("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"," META(
		"cfg") ",\"data\":"
		       "{\"app.conf\":\"x=1\",\"KEY_2\":\"y\"}}");
	expect_valid("{\"apiVersion\":\"v1\",\"kind\":\"Secret\"," META(
		"tls") ",\"type\":"
		       "\"kubernetes.io/"
		       "tls\",\"data\":{\"tls.crt\":\"eA==\",\"tls.key\":\"eA==\"}}");
	expect_valid("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":"
		     "{\"name\":\"team-a\"}}");
	expect_valid("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":"
		     "\"node-1.example\"},\"spec\":{\"taints\":[{\"key\":\"dedicated\",\"value\":"
		     "\"gpu\",\"effect\":\"NoSchedule\"}]},\"status\":{\"capacity\":{\"cpu\":\"4\","
		     "\"memory\":\"8Gi\",\"pods\":\"110\"}}}");
	expect_valid("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\"," META(
		"db") ",\"spec\":{\"serviceName\":\"db\",\"selector\":{\"matchLabels\":{\"app\":"
		      "\"db\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"db\"}},\"spec\":"
		      "{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}");
	expect_valid("{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\"," META(
		"ds") ",\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":"
		      "{\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{"
		      "\"name\":"
		      "\"c\",\"image\":\"x\"}]}}}}");
	expect_valid("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\"," META(
		"l") ",\"spec\":{\"holderIdentity\":\"a\",\"leaseDurationSeconds\":15}}");
	expect_valid("{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\"," META(
		"web-abc") ",\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":"
			   "[\"10.42.0.5\"]}],\"ports\":[{\"name\":\"http\",\"port\":80}]}");
	expect_valid("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\"," META(
		"data") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{"
			"\"requests\":"
			"{\"storage\":\"1Gi\"}}}}");
	expect_valid(
		"{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":"
		"\"web.17a8b3c9f5e1b2d3\",\"namespace\":\"default\"},\"involvedObject\":{"
		"\"kind\":\"Pod\",\"name\":\"web\",\"namespace\":\"default\"},\"reason\":\"x\"}");
}

/* ---- validation: metadata --------------------------------------------------------------- */

static void test_typed_validate_metadata(void **state)
{
	(void)state;
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"namespace\":"
		     "\"default\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
		     "metadata.name", CAUSE_REQUIRED,
		     "Required value: name or generateName is required");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
		     "\"Web\",\"namespace\":\"default\"}}",
		     "metadata.name", CAUSE_INVALID,
		     "Invalid value: \"Web\": " MSG_SUBDOMAIN_REGEX);
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
		     "\"web\"}}",
		     "metadata.namespace", CAUSE_REQUIRED, "Required value");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		     "\"namespace\":\"default\",\"labels\":{\"a/b/c\":\"x\"}}}",
		     "metadata.labels", CAUSE_INVALID, NULL);
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		     "\"namespace\":\"default\",\"labels\":{\"a\":\"-x\"}}}",
		     "metadata.labels", CAUSE_INVALID, NULL);
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		     "\"namespace\":\"default\",\"finalizers\":[\"foo\"]}}",
		     "metadata.finalizers[0]", CAUSE_INVALID,
		     "Invalid value: \"foo\": name is neither a standard finalizer name nor is it "
		     "fully qualified");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		     "\"namespace\":\"default\",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\","
		     "\"kind\":\"ReplicaSet\",\"name\":\"rs\"}]}}",
		     "metadata.ownerReferences[0].uid", CAUSE_REQUIRED,
		     "Required value: must not be empty");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
		     "\"a.b\"}}",
		     "metadata.name", CAUSE_INVALID,
		     "Invalid value: \"a.b\": must not contain dots");
	expect_cause(
		SVC_WITH("1web", "{\"ports\":[{\"port\":80}]}"), "metadata.name", CAUSE_INVALID,
		"Invalid value: \"1web\": a DNS-1035 label must consist of lower case "
		"alphanumeric characters or '-', start with an alphabetic character, and end "
		"with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
		"validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
		     "\"generateName\":\"Bad-\",\"namespace\":\"default\"}}",
		     "metadata.generateName", CAUSE_INVALID, NULL);
	{
		cleanup_free char *big = xmalloc(300 * 1024);
		cleanup_free char *text = NULL;

		memset(big, 'x', 300 * 1024 - 1);
		big[300 * 1024 - 1] = '\0';
		text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
				 "\"name\":\"c\",\"namespace\":\"default\",\"annotations\":{\"a\":"
				 "\"%s\"}}}",
				 big);
		expect_cause(text, "metadata.annotations", CAUSE_TOO_LONG,
			     "Too long: may not be more than 262144 bytes");
	}
}

/* ---- validation: pods ------------------------------------------------------------------- */

static void test_typed_validate_pod_containers(void **state)
{
	(void)state;
	expect_cause(POD_WITH("{}"), "spec.containers", CAUSE_REQUIRED, "Required value");
	expect_cause(POD_C("{\"name\":\"web\"}"), "spec.containers[0].image", CAUSE_REQUIRED,
		     "Required value");
	expect_cause(POD_C("{\"name\":\"Web_1\",\"image\":\"x\"}"), "spec.containers[0].name",
		     CAUSE_INVALID, "Invalid value: \"Web_1\": " MSG_LABEL_REGEX);
	expect_cause(POD_C("{\"name\":\"web\",\"image\":\"x\"},{\"name\":\"web\",\"image\":\"y\"}"),
		     "spec.containers[1].name", CAUSE_DUPLICATE, "Duplicate value: \"web\"");
	expect_cause(
		POD_C("{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"containerPort\":70000}]}"),
		"spec.containers[0].ports[0].containerPort", CAUSE_INVALID,
		"Invalid value: 70000: must be between 1 and 65535, inclusive");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
			   "\"protocol\":\"HTTP\"}]}"),
		     "spec.containers[0].ports[0].protocol", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
	expect_cause(
		POD_C("{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
		      "\"name\":\"this-name-is-too-long\"}]}"),
		"spec.containers[0].ports[0].name", CAUSE_INVALID,
		"Invalid value: \"this-name-is-too-long\": must be no more than 15 characters");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
			   "\"name\":\"http\"},{\"containerPort\":81,\"name\":\"http\"}]}"),
		     "spec.containers[0].ports[1].name", CAUSE_DUPLICATE,
		     "Duplicate value: \"http\"");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"env\":[{\"name\":\"A=B\"}]}"),
		     "spec.containers[0].env[0].name", CAUSE_INVALID,
		     "Invalid value: \"A=B\": a valid environment variable name must consist only "
		     "of printable ASCII characters other than '='");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"env\":[{\"value\":\"1\"}]}"),
		     "spec.containers[0].env[0].name", CAUSE_REQUIRED, "Required value");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":"
			   "\"1\"},\"requests\":{\"cpu\":\"2\"}}}"),
		     "spec.containers[0].resources.requests", CAUSE_INVALID,
		     "Invalid value: \"2\": must be less than or equal to cpu limit of 1");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":"
			   "\"lots\"}}}"),
		     "spec.containers[0].resources.limits[cpu]", CAUSE_INVALID, NULL);
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"resources\":{\"requests\":{"
			   "\"gpu\":\"1\"}}}"),
		     "spec.containers[0].resources.requests[gpu]", CAUSE_INVALID,
		     "Invalid value: \"gpu\": must be a standard resource type or fully qualified");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"volumeMounts\":[{\"name\":\"data\","
			   "\"mountPath\":\"/d\"}]}"),
		     "spec.containers[0].volumeMounts[0].name", CAUSE_NOT_FOUND,
		     "Not found: \"data\"");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"imagePullPolicy\":\"Sometimes\"}"),
		     "spec.containers[0].imagePullPolicy", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Sometimes\": supported values: \"Always\", "
		     "\"IfNotPresent\", \"Never\"");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"livenessProbe\":{\"httpGet\":"
			   "{\"port\":80},\"tcpSocket\":{\"port\":80}}}"),
		     "spec.containers[0].livenessProbe.tcpSocket", CAUSE_FORBIDDEN,
		     "Forbidden: may not specify more than 1 handler type");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"readinessProbe\":{\"periodSeconds\":"
			   "5}}"),
		     "spec.containers[0].readinessProbe", CAUSE_REQUIRED,
		     "Required value: must specify a handler type");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x\",\"livenessProbe\":{\"exec\":"
			   "{\"command\":[\"true\"]},\"successThreshold\":2}}"),
		     "spec.containers[0].livenessProbe.successThreshold", CAUSE_INVALID,
		     "Invalid value: 2: must be 1");
	expect_cause(POD_C("{\"name\":\"c\",\"image\":\"x \"}"), "spec.containers[0].image",
		     CAUSE_INVALID,
		     "Invalid value: \"x \": must not have leading or trailing whitespace");
}

static void test_typed_validate_pod_spec(void **state)
{
	(void)state;
	expect_cause(POD_WITH("{\"restartPolicy\":\"Sometimes\",\"containers\":[{\"name\":\"c\","
			      "\"image\":\"x\"}]}"),
		     "spec.restartPolicy", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Sometimes\": supported values: \"Always\", "
		     "\"OnFailure\", \"Never\"");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"volumes\":"
			      "[{\"name\":\"v\",\"emptyDir\":{},\"configMap\":{\"name\":\"c\"}}]}"),
		     "spec.volumes[0].configMap", CAUSE_FORBIDDEN,
		     "Forbidden: may not specify more than 1 volume type");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"volumes\":"
			      "[{\"name\":\"v\"},{\"name\":\"v\"}]}"),
		     "spec.volumes[1].name", CAUSE_DUPLICATE, "Duplicate value: \"v\"");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"volumes\":"
			      "[{\"name\":\"v\",\"secret\":{}}]}"),
		     "spec.volumes[0].secret.secretName", CAUSE_REQUIRED, "Required value");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"volumes\":"
			      "[{\"name\":\"v\",\"configMap\":{\"name\":\"c\",\"defaultMode\":"
			      "1000}}]}"),
		     "spec.volumes[0].configMap.defaultMode", CAUSE_INVALID,
		     "Invalid value: 1000: must be a number between 0 and 0777 (octal), both "
		     "inclusive");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"tolerations\":"
			      "[{\"key\":\"k\",\"operator\":\"Maybe\"}]}"),
		     "spec.tolerations[0].operator", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],"
			      "\"dnsPolicy\":\"Google\"}"),
		     "spec.dnsPolicy", CAUSE_NOT_SUPPORTED, NULL);
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],"
			      "\"initContainers\":[{\"name\":\"c\",\"image\":\"y\"}]}"),
		     "spec.initContainers[0].name", CAUSE_DUPLICATE, "Duplicate value: \"c\"");
	expect_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],"
			      "\"activeDeadlineSeconds\":0}"),
		     "spec.activeDeadlineSeconds", CAUSE_INVALID,
		     "Invalid value: 0: must be between 1 and 2147483647, inclusive");
}

#define POD_RUNNING                                                                                \
	POD_WITH("{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"web\",\"image\":\"nginx:1\","   \
		 "\"ports\":[{\"containerPort\":80}]}]}")

static void test_typed_validate_pod_updates(void **state)
{
	(void)state;
	expect_update_valid(POD_RUNNING,
			    POD_WITH("{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"web\","
				     "\"image\":\"nginx:2\",\"ports\":[{\"containerPort\":80}]}],"
				     "\"activeDeadlineSeconds\":60,\"tolerations\":[{\"key\":\"a\","
				     "\"operator\":\"Exists\"}]}"));
	expect_update_cause(
		POD_RUNNING,
		POD_WITH("{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"web\","
			 "\"image\":\"nginx:1\",\"ports\":[{\"containerPort\":8080}]}]}"),
		"spec", CAUSE_FORBIDDEN,
		"Forbidden: pod updates may not change fields other than "
		"`spec.containers[*].image`,`spec.initContainers[*].image`,"
		"`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
		"existing tolerations),`spec.terminationGracePeriodSeconds` (allow it "
		"to be set to 1 if it was previously negative)");
	expect_update_cause(
		POD_RUNNING,
		POD_WITH("{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"web\","
			 "\"image\":\"nginx:1\"},{\"name\":\"side\",\"image\":\"x\"}]}"),
		"spec.containers", CAUSE_FORBIDDEN,
		"Forbidden: pod updates may not add or remove containers");
	expect_update_cause(POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],"
				     "\"activeDeadlineSeconds\":30}"),
			    POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],"
				     "\"activeDeadlineSeconds\":60}"),
			    "spec.activeDeadlineSeconds", CAUSE_INVALID,
			    "Invalid value: 60: must be less than or equal to previous value");
	expect_update_cause(
		POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"tolerations\":"
			 "[{\"key\":\"a\",\"operator\":\"Exists\"}]}"),
		POD, "spec.tolerations", CAUSE_FORBIDDEN,
		"Forbidden: existing toleration can not be modified except its tolerationSeconds");
	/* only tolerationSeconds of an existing toleration may change, and more may come */
#define TOLERATING(t)                                                                              \
	POD_WITH("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"tolerations\":[" t "]}")
	expect_update_valid(
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
			   "\"tolerationSeconds\":300}"),
		TOLERATING("{\"key\":\"b\",\"operator\":\"Exists\"},{\"effect\":\"NoExecute\","
			   "\"tolerationSeconds\":60,\"operator\":\"Exists\",\"key\":\"a\"}"));
	expect_update_valid(
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
			   "\"tolerationSeconds\":300}"),
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}"));
	expect_update_cause(
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
			   "\"tolerationSeconds\":300}"),
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\","
			   "\"tolerationSeconds\":300}"),
		"spec.tolerations", CAUSE_FORBIDDEN,
		"Forbidden: existing toleration can not be modified except its tolerationSeconds");
	expect_update_cause(
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\"}"),
		TOLERATING("{\"key\":\"a\",\"operator\":\"Exists\",\"value\":\"\"}"),
		"spec.tolerations", CAUSE_FORBIDDEN,
		"Forbidden: existing toleration can not be modified except its tolerationSeconds");
#undef TOLERATING
	expect_update_cause(POD,
			    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
			    "\"other\",\"namespace\":\"default\"},\"spec\":{\"containers\":"
			    "[{\"name\":\"web\",\"image\":\"nginx\"}]}}",
			    "metadata.name", CAUSE_INVALID,
			    "Invalid value: \"other\": field is immutable");
	/* a spec that changes is checked whole again, as on creation */
	expect_update_cause(
		POD_RUNNING,
		POD_WITH("{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"web\","
			 "\"image\":\"nginx:2 \",\"ports\":[{\"containerPort\":80}]}]}"),
		"spec.containers[0].image", CAUSE_INVALID, NULL);
}

/* ---- validation: workloads -------------------------------------------------------------- */

static void test_typed_validate_deployments(void **state)
{
	(void)state;
	expect_cause(DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"x\"}", ""),
		     "spec.template.metadata.labels", CAUSE_INVALID,
		     "Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match "
		     "template `labels`");
	expect_cause("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," META(
			     "web") ",\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"a\":"
				    "\"b\"}},\"spec\":"
				    "{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
		     "spec.selector", CAUSE_REQUIRED, "Required value");
	expect_cause(DEPLOY_WITH("{}", "{\"app\":\"web\"}", ""), "spec.selector", CAUSE_INVALID,
		     "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
		     "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is "
		     "invalid for deployment");
	expect_cause(DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}",
				 "\"replicas\":-1,"),
		     "spec.replicas", CAUSE_INVALID,
		     "Invalid value: -1: must be greater than or equal to 0");
	expect_cause(
		DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}",
			    "\"strategy\":{\"rollingUpdate\":{\"maxSurge\":0,"
			    "\"maxUnavailable\":0}},"),
		"spec.strategy.rollingUpdate.maxUnavailable", CAUSE_INVALID,
		"Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 "
		"when `maxSurge` is 0");
	expect_cause(
		DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}",
			    "\"strategy\":{\"rollingUpdate\":{\"maxSurge\":\"lots\"}},"),
		"spec.strategy.rollingUpdate.maxSurge", CAUSE_INVALID,
		"Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"lots\"}: a valid "
		"percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
		"or '93%', regex used for validation is '[0-9]+%')");
	expect_cause(DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}", "{\"app\":\"web\"}",
				 "\"strategy\":{\"type\":\"Canary\"},"),
		     "spec.strategy", CAUSE_NOT_SUPPORTED, NULL);
	expect_cause("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," META(
			     "web") ",\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
				    "\"template\":{"
				    "\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
				    "\"restartPolicy\":\"Never\","
				    "\"containers\":[{\"name\":\"c\"}]}}}}",
		     "spec.template.spec.restartPolicy", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Never\": supported values: \"Always\"");
	expect_cause("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," META(
			     "web") ",\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
				    "\"template\":{"
				    "\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
				    "\"containers\":[{\"name\":"
				    "\"c\"}]}}}}",
		     "spec.template.spec.containers[0].image", CAUSE_REQUIRED, "Required value");
	expect_update_cause(DEPLOY,
			    DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\",\"v\":\"2\"}}",
					"{\"app\":\"web\",\"v\":\"2\"}", ""),
			    "spec.selector", CAUSE_INVALID,
			    "Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"
			    "\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1."
			    "LabelSelectorRequirement(nil)}: field is immutable");
	expect_update_valid(DEPLOY, DEPLOY_WITH("{\"matchLabels\":{\"app\":\"web\"}}",
						"{\"app\":\"web\"}", "\"replicas\":5,"));
}

static void test_typed_validate_other_workloads(void **state)
{
	(void)state;
	expect_cause(JOB_WITH(""), "spec.template.spec.restartPolicy", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"");
	expect_update_cause(
		JOB_WITH("\"restartPolicy\":\"Never\","),
		"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\"," META(
			"pi") ",\"spec\":{\"template\":{\"spec\":{\"restartPolicy\":\"Never\","
			      "\"containers\":[{\"name\":\"pi\",\"image\":\"perl:5.36\"}]}}}}",
		"spec.template", CAUSE_INVALID, NULL);
	expect_cause(CRON_WITH("cj", "61 * * * *"), "spec.schedule", CAUSE_INVALID,
		     "Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61");
	expect_cause(CRON_WITH("cj", "* * *"), "spec.schedule", CAUSE_INVALID,
		     "Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]");
	expect_cause(CRON_WITH("a-very-long-cronjob-name-that-is-more-than-fifty-two-c", "@daily"),
		     "metadata.name", CAUSE_INVALID,
		     "Invalid value: \"a-very-long-cronjob-name-that-is-more-than-fifty-two-c\": "
		     "must be no more than 52 characters");
	expect_cause("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\"," META(
			     "db.x") ",\"spec\":{\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
				     "\"template\":{"
				     "\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{"
				     "\"containers\":[{\"name\":"
				     "\"c\",\"image\":\"x\"}]}}}}",
		     "metadata.name", CAUSE_INVALID,
		     "Invalid value: \"db.x\": must not contain dots");
	expect_cause("{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\"," META(
			     "db") ",\"spec\":{\"podManagementPolicy\":\"Random\",\"selector\":{"
				   "\"matchLabels\":"
				   "{\"a\":\"b\"}},\"template\":{\"metadata\":{\"labels\":{\"a\":"
				   "\"b\"}},\"spec\":"
				   "{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}}",
		     "spec.podManagementPolicy", CAUSE_INVALID,
		     "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'");
	expect_cause(
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\"," META(
			"ds") ",\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"maxSurge\":1}},"
			      "\"selector\":{\"matchLabels\":{\"a\":\"b\"}},\"template\":{"
			      "\"metadata\":"
			      "{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":"
			      "\"c\","
			      "\"image\":\"x\"}]}}}}",
		"spec.updateStrategy.rollingUpdate.maxSurge", CAUSE_INVALID,
		"Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:\"\"}: may not be "
		"set when maxUnavailable is non-zero");
}

/* ---- validation: services and the rest -------------------------------------------------- */

static void test_typed_validate_services(void **state)
{
	(void)state;
	expect_cause(SVC_WITH("web", "{\"ports\":[{\"port\":0}]}"), "spec.ports[0].port",
		     CAUSE_INVALID, "Invalid value: 0: must be between 1 and 65535, inclusive");
	expect_cause(SVC_WITH("web", "{\"ports\":[{\"port\":80},{\"port\":81}]}"),
		     "spec.ports[1].name", CAUSE_REQUIRED, "Required value");
	expect_cause(SVC_WITH("web", "{\"ports\":[{\"name\":\"a\",\"port\":80},"
				     "{\"name\":\"b\",\"port\":80}]}"),
		     "spec.ports[1]", CAUSE_DUPLICATE,
		     "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", "
		     "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
		     "IntVal:0, StrVal:\"\"}, NodePort:0}");
	expect_cause(SVC_WITH("web", "{\"type\":\"Magic\",\"ports\":[{\"port\":80}]}"), "spec.type",
		     CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Magic\": supported values: \"ClusterIP\", "
		     "\"ExternalName\", \"LoadBalancer\", \"NodePort\"");
	expect_cause(SVC_WITH("web", "{\"type\":\"NodePort\",\"ports\":[{\"port\":80,"
				     "\"nodePort\":80}]}"),
		     "spec.ports[0].nodePort", CAUSE_INVALID,
		     "Invalid value: 80: provided port is not in the valid range. The range of "
		     "valid ports is 30000-32767");
	expect_cause(SVC_WITH("web", "{\"ports\":[{\"port\":80,\"nodePort\":30001}]}"),
		     "spec.ports[0].nodePort", CAUSE_FORBIDDEN,
		     "Forbidden: may not be used when `type` is 'ClusterIP'");
	expect_cause(SVC_WITH("web", "{\"ports\":[{\"port\":80,\"targetPort\":\"HTTP\"}]}"),
		     "spec.ports[0].targetPort", CAUSE_INVALID, NULL);
	expect_cause(SVC_WITH("web", "{\"selector\":{\"app\":\"web\"}}"), "spec.ports",
		     CAUSE_REQUIRED, "Required value");
	expect_update_cause(SVC,
			    SVC_WITH("web", "{\"selector\":{\"app\":\"web\"},\"ports\":"
					    "[{\"port\":80}],\"clusterIP\":\"10.43.0.21\"}"),
			    "spec.clusterIPs[0]", CAUSE_INVALID,
			    "Invalid value: []string{\"10.43.0.21\"}: may not change once set");
	expect_update_valid(SVC, SVC_WITH("web", "{\"type\":\"ExternalName\",\"externalName\":"
						 "\"example.com\"}"));
}

static void test_typed_validate_config_and_cluster_objects(void **state)
{
	(void)state;
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"," META(
			     "c") ",\"data\":{\"a b\":\"x\"}}",
		     "data[a b]", CAUSE_INVALID,
		     "Invalid value: \"a b\": a valid config key must consist of alphanumeric "
		     "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
		     "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')");
	{
		cleanup_free char *big = xmalloc(1100 * 1024);
		cleanup_free char *text = NULL;

		memset(big, 'x', 1100 * 1024 - 1);
		big[1100 * 1024 - 1] = '\0';
		text = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"," META(
					 "c") ",\"data\":{\"big\":\"%s\"}}",
				 big);
		expect_cause(text, "", CAUSE_TOO_LONG,
			     "Too long: may not be more than 1048576 bytes");
	}
	expect_cause(
		"{\"apiVersion\":\"v1\",\"kind\":\"Secret\"," META(
			"t") ",\"type\":\"kubernetes.io/tls\",\"data\":{\"tls.crt\":\"eA==\"}}",
		"data[tls.key]", CAUSE_REQUIRED, "Required value");
	expect_update_cause("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"," META(
				    "c") ",\"immutable\":true,\"data\":{\"a\":\"1\"}}",
			    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"," META(
				    "c") ",\"immutable\":true,\"data\":{\"a\":\"2\"}}",
			    "data", CAUSE_FORBIDDEN,
			    "Forbidden: field is immutable when `immutable` is set");
	expect_cause("{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\"," META(
			     "s") ",\"addressType\":\"IPv5\"}",
		     "addressType", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\"");
	expect_cause(
		"{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\"," META("s") "}",
		"addressType", CAUSE_REQUIRED, "Required value");
	expect_cause("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\"," META(
			     "l") ",\"spec\":{\"leaseDurationSeconds\":0}}",
		     "spec.leaseDurationSeconds", CAUSE_INVALID,
		     "Invalid value: 0: must be greater than 0");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n\"},"
		     "\"spec\":{\"taints\":[{\"key\":\"k\",\"effect\":\"Sometimes\"}]}}",
		     "metadata.taints[0].effect", CAUSE_NOT_SUPPORTED,
		     "Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", "
		     "\"PreferNoSchedule\", \"NoExecute\"");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
		     "\"My_NS\"}}",
		     "metadata.name", CAUSE_INVALID, "Invalid value: \"My_NS\": " MSG_LABEL_REGEX);
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\"," META(
			     "d") ",\"spec\":{\"accessModes\":[\"ReadWriteOnce\"]}}",
		     "spec.resources[storage]", CAUSE_REQUIRED, "Required value");
	expect_cause("{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\","
		     "\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":"
		     "\"p\",\"namespace\":\"other\"}}",
		     "involvedObject.namespace", CAUSE_INVALID,
		     "Invalid value: \"other\": does not match event.namespace");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed_default_pod_matches_upstream),
		cmocka_unit_test(test_typed_default_is_idempotent),
		cmocka_unit_test(test_typed_default_deployment_matches_upstream),
		cmocka_unit_test(test_typed_default_pull_policy_follows_the_tag),
		cmocka_unit_test(test_typed_default_container_details),
		cmocka_unit_test(test_typed_default_volumes),
		cmocka_unit_test(test_typed_default_keeps_tolerations_that_cover_the_taints),
		cmocka_unit_test(test_typed_pod_qos_classes),
		cmocka_unit_test(test_typed_default_job_generates_its_selector),
		cmocka_unit_test(test_typed_default_job_with_parallelism_leaves_completions_unset),
		cmocka_unit_test(test_typed_default_job_keeps_a_manual_selector),
		cmocka_unit_test(test_typed_default_workload_kinds),
		cmocka_unit_test(test_typed_default_service_namespace_secret),
		cmocka_unit_test(test_typed_service_keep_allocations),
		cmocka_unit_test(test_typed_service_type_change_drops_allocations),
		cmocka_unit_test(test_typed_generation_changes_only_outside_metadata_and_status),
		cmocka_unit_test(test_typed_name_checks),
		cmocka_unit_test(test_typed_cron_check),
		cmocka_unit_test(test_typed_validate_accepts_good_objects),
		cmocka_unit_test(test_typed_validate_metadata),
		cmocka_unit_test(test_typed_validate_pod_containers),
		cmocka_unit_test(test_typed_validate_pod_spec),
		cmocka_unit_test(test_typed_validate_pod_updates),
		cmocka_unit_test(test_typed_validate_deployments),
		cmocka_unit_test(test_typed_validate_other_workloads),
		cmocka_unit_test(test_typed_validate_services),
		cmocka_unit_test(test_typed_validate_config_and_cluster_objects),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("typed", tests, NULL, NULL);
}
