/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the protobuf body decoder (cluster/api/proto.c): bodies built here with a
 * small encoder, each checked against the exact JSON upstream's encoder would write (zero
 * scalars of non-pointer fields omitted, pointer zeros kept, times, quantities, bytes and
 * int-or-string in their JSON forms), malformed bodies, and bodies kubectl 1.32 really sent
 * (tests/unit/data/proto/NAME.pb, decoded to NAME.json).
 */
#include <errno.h>
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
#include "cluster/api/proto.h"

/* ---- a tiny protobuf encoder ---- */

struct pb {
	uint8_t *p;
	size_t len, cap;
};

static void pb_raw(struct pb *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 16;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void pb_varint(struct pb *b, uint64_t v)
{
	uint8_t c;

	do {
		c = v & 0x7f;
		v >>= 7;
		if (v)
			c |= 0x80;
		pb_raw(b, &c, 1);
	} while (v);
}

static void pb_tag(struct pb *b, uint32_t num, unsigned wt)
{
	pb_varint(b, (uint64_t)num << 3 | wt);
}

/* a varint field; negative numbers go as their 64-bit two's complement, as Go writes them */
static void pb_int(struct pb *b, uint32_t num, int64_t v)
{
	pb_tag(b, num, 0);
	pb_varint(b, (uint64_t)v);
}

static void pb_bytes(struct pb *b, uint32_t num, const void *p, size_t n)
{
	pb_tag(b, num, 2);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

static void pb_str(struct pb *b, uint32_t num, const char *s)
{
	pb_bytes(b, num, s, strlen(s));
}

/* appends @sub as field @num and frees it */
static void pb_msg(struct pb *b, uint32_t num, struct pb *sub)
{
	pb_bytes(b, num, sub->p, sub->len);
	free(sub->p);
	*sub = (struct pb){0};
}

static void pb_map_str(struct pb *b, uint32_t num, const char *key, const char *value)
{
	struct pb e = {0};

	pb_str(&e, 1, key);
	pb_str(&e, 2, value);
	pb_msg(b, num, &e);
}

/* a map entry whose value is the message @value */
static void pb_map_msg(struct pb *b, uint32_t num, const char *key, struct pb *value)
{
	struct pb e = {0};

	pb_str(&e, 1, key);
	pb_msg(&e, 2, value);
	pb_msg(b, num, &e);
}

static void pb_quantity(struct pb *b, uint32_t num, const char *key, const char *q)
{
	struct pb v = {0};

	pb_str(&v, 1, q);
	pb_map_msg(b, num, key, &v);
}

/* ObjectMeta with the empty fields gogo-protobuf writes for every non-pointer member */
static void pb_meta(struct pb *b, uint32_t num, const char *name, const char *ns)
{
	struct pb m = {0}, t = {0};

	pb_str(&m, 1, name);
	pb_str(&m, 2, "");
	pb_str(&m, 3, ns);
	pb_str(&m, 4, "");
	pb_str(&m, 5, "");
	pb_str(&m, 6, "");
	pb_int(&m, 7, 0);
	pb_msg(&m, 8, &t);
	pb_msg(b, num, &m);
}

/* "k8s\0", then runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""}; frees @raw */
static struct pb envelope(const char *api_version, const char *kind, struct pb *raw)
{
	struct pb b = {0}, tm = {0};

	pb_raw(&b, "k8s", 4);
	pb_str(&tm, 1, api_version);
	pb_str(&tm, 2, kind);
	pb_msg(&b, 1, &tm);
	pb_msg(&b, 2, raw);
	pb_str(&b, 3, "");
	pb_str(&b, 4, "");
	return b;
}

/* ---- checks ---- */

/* decodes @b (and frees it), expecting exactly the compact JSON @want */
static void check_json(struct pb *b, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *j = NULL;
	cleanup_free char *got = NULL;

	assert_true(proto_is_k8s((const char *)b->p, b->len));
	if (proto_to_json((const char *)b->p, b->len, &j, &err) < 0)
		fail_msg("decode: %s", err.msg);
	got = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(got, want);
	free(b->p);
	*b = (struct pb){0};
}

/* decodes @b (and frees it), expecting -@code and a message containing @needle */
static void check_error(struct pb *b, int code, const char *needle)
{
	cleanup_err struct err err = ERR_INIT;
	json_t *j = NULL;

	assert_int_equal(proto_to_json((const char *)b->p, b->len, &j, &err), -code);
	assert_int_equal(err.code, code);
	assert_null(j);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' lacks '%s'", err.msg, needle);
	free(b->p);
	*b = (struct pb){0};
}

/* ---- objects ---- */

static void test_configmap_keeps_labels_data_and_binary_data(void **state)
{
	struct pb cm = {0}, m = {0}, t = {0}, b;

	(void)state;
	pb_str(&m, 1, "cm");
	pb_str(&m, 2, "");
	pb_str(&m, 3, "default");
	pb_int(&m, 7, 0);
	pb_msg(&m, 8, &t);
	pb_map_str(&m, 11, "app", "web");
	pb_map_str(&m, 11, "tier", "");
	pb_msg(&cm, 1, &m);
	pb_map_str(&cm, 2, "k", "v");
	pb_map_str(&cm, 2, "empty", "");
	pb_tag(&cm, 3, 2);
	pb_varint(&cm, 9);
	pb_tag(&cm, 1, 2);
	pb_varint(&cm, 3);
	pb_raw(&cm, "bin", 3);
	pb_tag(&cm, 2, 2);
	pb_varint(&cm, 2);
	pb_raw(&cm, "\x00\xff", 2);
	b = envelope("v1", "ConfigMap", &cm);
	check_json(&b,
		   "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\","
		   "\"namespace\":\"default\",\"labels\":{\"app\":\"web\",\"tier\":\"\"}},"
		   "\"data\":{\"k\":\"v\",\"empty\":\"\"},\"binaryData\":{\"bin\":\"AP8=\"}}");
}

static void test_namespace_keeps_empty_spec_and_status(void **state)
{
	struct pb ns = {0}, spec = {0}, status = {0}, b;

	(void)state;
	pb_meta(&ns, 1, "team-a", "");
	pb_msg(&ns, 2, &spec);
	pb_str(&status, 1, "");
	pb_msg(&ns, 3, &status);
	b = envelope("v1", "Namespace", &ns);
	check_json(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
		       "\"team-a\"},\"spec\":{},\"status\":{}}");
}

static void test_deployment_keeps_zero_replicas_and_pointer_zeros(void **state)
{
	struct pb d = {0}, spec = {0}, sel = {0}, tmpl = {0}, pod = {0}, c = {0}, port = {0},
		  env = {0}, src = {0}, ref = {0}, res = {0}, sc = {0}, strat = {0}, b;

	(void)state;
	pb_meta(&d, 1, "web", "default");
	pb_int(&spec, 1, 0);
	pb_map_str(&sel, 1, "app", "web");
	pb_msg(&spec, 2, &sel);
	pb_meta(&tmpl, 1, "", "");

	pb_str(&c, 1, "nginx");
	pb_str(&c, 2, "nginx:1.27");
	pb_str(&port, 1, "");
	pb_int(&port, 2, 0);
	pb_int(&port, 3, 80);
	pb_str(&port, 4, "TCP");
	pb_msg(&c, 6, &port);
	pb_str(&env, 1, "A");
	pb_str(&env, 2, "1");
	pb_msg(&c, 7, &env);
	pb_str(&env, 1, "POD");
	pb_str(&env, 2, "");
	pb_str(&ref, 1, "v1");
	pb_str(&ref, 2, "metadata.name");
	pb_msg(&src, 1, &ref);
	pb_msg(&env, 3, &src);
	pb_msg(&c, 7, &env);
	pb_quantity(&res, 1, "cpu", "500m");
	pb_quantity(&res, 1, "memory", "128Mi");
	pb_quantity(&res, 2, "cpu", "250m");
	pb_msg(&c, 8, &res);
	pb_int(&c, 16, 0);
	pb_msg(&pod, 2, &c);
	pb_str(&pod, 3, "Always");
	pb_int(&pod, 4, 0);
	/* supplementalGroups twice unpacked, then packed, one of them negative */
	pb_int(&sc, 4, 1000);
	pb_int(&sc, 4, -1);
	pb_tag(&sc, 4, 2);
	pb_varint(&sc, 3);
	pb_varint(&sc, 7);
	pb_varint(&sc, 300);
	pb_msg(&pod, 14, &sc);
	pb_msg(&tmpl, 2, &pod);
	pb_msg(&spec, 3, &tmpl);
	pb_msg(&spec, 4, &strat);
	pb_int(&spec, 5, 0);
	pb_int(&spec, 6, -1);
	pb_int(&spec, 7, 0);
	pb_msg(&d, 2, &spec);
	b = envelope("apps/v1", "Deployment", &d);
	check_json(
		&b,
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":"
		"\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":0,\"selector\":{"
		"\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{},\"spec\":{"
		"\"containers\":[{\"name\":\"nginx\",\"image\":\"nginx:1.27\",\"ports\":[{"
		"\"containerPort\":80,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"A\",\"value\":"
		"\"1\"},{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\","
		"\"fieldPath\":\"metadata.name\"}}}],\"resources\":{\"limits\":{\"cpu\":\"500m\","
		"\"memory\":\"128Mi\"},\"requests\":{\"cpu\":\"250m\"}}}],\"restartPolicy\":"
		"\"Always\",\"terminationGracePeriodSeconds\":0,\"securityContext\":{"
		"\"supplementalGroups\":[1000,-1,7,300]}}},\"strategy\":{},"
		"\"revisionHistoryLimit\":-1}}");
}

static void test_secret_data_is_base64_and_immutable_false_is_kept(void **state)
{
	struct pb s = {0}, e = {0}, b;

	(void)state;
	pb_meta(&s, 1, "creds", "default");
	pb_str(&e, 1, "password");
	pb_bytes(&e, 2, "s3cr3t", 6);
	pb_msg(&s, 2, &e);
	pb_str(&e, 1, "nul");
	pb_bytes(&e, 2, "\0\1\2\3", 4);
	pb_msg(&s, 2, &e);
	pb_str(&e, 1, "none");
	pb_msg(&s, 2, &e);
	pb_str(&s, 3, "Opaque");
	pb_int(&s, 5, 0);
	b = envelope("v1", "Secret", &s);
	check_json(&b,
		   "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"creds\","
		   "\"namespace\":\"default\"},\"data\":{\"password\":\"czNjcjN0\",\"nul\":"
		   "\"AAECAw==\",\"none\":\"\"},\"type\":\"Opaque\",\"immutable\":false}");
}

static void test_self_subject_access_review(void **state)
{
	struct pb r = {0}, spec = {0}, attrs = {0}, status = {0}, b;

	(void)state;
	pb_meta(&r, 1, "", "");
	pb_str(&attrs, 1, "default");
	pb_str(&attrs, 2, "create");
	pb_str(&attrs, 3, "apps");
	pb_str(&attrs, 4, "");
	pb_str(&attrs, 5, "deployments");
	pb_str(&attrs, 6, "");
	pb_str(&attrs, 7, "");
	pb_msg(&spec, 1, &attrs);
	pb_msg(&r, 2, &spec);
	pb_int(&status, 1, 0);
	pb_str(&status, 2, "");
	pb_int(&status, 4, 0);
	pb_msg(&r, 3, &status);
	b = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", &r);
	check_json(&b,
		   "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
		   "\"SelfSubjectAccessReview\",\"metadata\":{},\"spec\":{\"resourceAttributes\":"
		   "{\"namespace\":\"default\",\"verb\":\"create\",\"group\":\"apps\","
		   "\"resource\":\"deployments\"}},\"status\":{}}");
}

static void test_eviction_keeps_delete_options(void **state)
{
	struct pb ev = {0}, opts = {0}, pre = {0}, b;

	(void)state;
	pb_meta(&ev, 1, "p1", "default");
	pb_int(&opts, 1, 0);
	pb_str(&pre, 1, "u-1");
	pb_msg(&opts, 2, &pre);
	pb_str(&opts, 4, "Foreground");
	pb_str(&opts, 5, "All");
	pb_msg(&ev, 2, &opts);
	b = envelope("policy/v1", "Eviction", &ev);
	check_json(&b, "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":"
		       "\"p1\",\"namespace\":\"default\"},\"deleteOptions\":{"
		       "\"gracePeriodSeconds\":0,\"preconditions\":{\"uid\":\"u-1\"},"
		       "\"propagationPolicy\":\"Foreground\",\"dryRun\":[\"All\"]}}");
}

static void test_service_target_port_as_int_and_as_string(void **state)
{
	struct pb svc = {0}, spec = {0}, port = {0}, tp = {0}, status = {0}, lb = {0}, b;

	(void)state;
	pb_meta(&svc, 1, "web", "default");
	pb_str(&port, 1, "");
	pb_str(&port, 2, "TCP");
	pb_int(&port, 3, 80);
	pb_int(&tp, 1, 0);
	pb_int(&tp, 2, 8080);
	pb_str(&tp, 3, "");
	pb_msg(&port, 4, &tp);
	pb_int(&port, 5, 0);
	pb_msg(&spec, 1, &port);
	pb_str(&port, 1, "tls");
	pb_str(&port, 2, "TCP");
	pb_int(&port, 3, 443);
	pb_int(&tp, 1, 1);
	pb_int(&tp, 2, 0);
	pb_str(&tp, 3, "https");
	pb_msg(&port, 4, &tp);
	pb_int(&port, 5, 30443);
	pb_msg(&spec, 1, &port);
	pb_map_str(&spec, 2, "app", "web");
	pb_str(&spec, 3, "");
	pb_str(&spec, 4, "NodePort");
	pb_msg(&svc, 2, &spec);
	pb_msg(&status, 1, &lb);
	pb_msg(&svc, 3, &status);
	b = envelope("v1", "Service", &svc);
	check_json(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		       "\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"protocol\":\"TCP\","
		       "\"port\":80,\"targetPort\":8080},{\"name\":\"tls\",\"protocol\":\"TCP\","
		       "\"port\":443,\"targetPort\":\"https\",\"nodePort\":30443}],\"selector\":{"
		       "\"app\":\"web\"},\"type\":\"NodePort\"},\"status\":{\"loadBalancer\":{}}}");
}

static void test_event_times_are_rfc3339(void **state)
{
	struct pb ev = {0}, t = {0}, b;

	(void)state;
	pb_meta(&ev, 1, "e", "default");
	pb_int(&t, 1, 1704164645); /* 2024-01-02T03:04:05Z */
	pb_int(&t, 2, 0);
	pb_msg(&ev, 6, &t);
	pb_msg(&ev, 7, &t); /* empty: the zero time, no member */
	pb_int(&t, 1, 1704164645);
	pb_int(&t, 2, 123456789);
	pb_msg(&ev, 10, &t);
	b = envelope("v1", "Event", &ev);
	check_json(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\","
		       "\"namespace\":\"default\"},\"firstTimestamp\":\"2024-01-02T03:04:05Z\","
		       "\"eventTime\":\"2024-01-02T03:04:05.123456Z\"}");
}

static void test_volume_source_is_inlined(void **state)
{
	struct pb pod = {0}, spec = {0}, vol = {0}, src = {0}, cm = {0}, ref = {0}, b;

	(void)state;
	pb_meta(&pod, 1, "p", "default");
	pb_str(&vol, 1, "cfg");
	pb_str(&ref, 1, "settings");
	pb_msg(&cm, 1, &ref);
	pb_int(&cm, 3, 0420);
	pb_msg(&src, 19, &cm);
	pb_msg(&vol, 2, &src);
	pb_msg(&spec, 1, &vol);
	pb_msg(&pod, 2, &spec);
	b = envelope("v1", "Pod", &pod);
	check_json(&b, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
		       "\"namespace\":\"default\"},\"spec\":{\"volumes\":[{\"name\":\"cfg\","
		       "\"configMap\":{\"name\":\"settings\",\"defaultMode\":272}}]}}");
}

static void test_subject_access_review_extra_values_are_arrays(void **state)
{
	struct pb r = {0}, spec = {0}, v = {0}, b;

	(void)state;
	pb_meta(&r, 1, "", "");
	pb_str(&spec, 3, "alice");
	pb_str(&spec, 4, "dev");
	pb_str(&spec, 4, "ops");
	pb_str(&v, 1, "a");
	pb_str(&v, 1, "b");
	pb_map_msg(&spec, 5, "scopes", &v);
	pb_map_msg(&spec, 5, "none", &v);
	pb_msg(&r, 2, &spec);
	b = envelope("authorization.k8s.io/v1", "SubjectAccessReview", &r);
	check_json(
		&b,
		"{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":"
		"\"SubjectAccessReview\",\"metadata\":{},\"spec\":{\"user\":\"alice\","
		"\"groups\":[\"dev\",\"ops\"],\"extra\":{\"scopes\":[\"a\",\"b\"],\"none\":[]}}}");
}

static void test_raw_extension_embeds_json_and_nested_protobuf(void **state)
{
	struct pb cr = {0}, raw = {0}, inner = {0}, nested, b;
	const char *json = "{\"spec\":{\"x\":[1,2]}}";

	(void)state;
	pb_meta(&cr, 1, "rev", "default");
	pb_str(&raw, 1, json);
	pb_msg(&cr, 2, &raw);
	pb_int(&cr, 3, 3);
	b = envelope("apps/v1", "ControllerRevision", &cr);
	check_json(&b,
		   "{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"metadata\":{"
		   "\"name\":\"rev\",\"namespace\":\"default\"},\"data\":{\"spec\":{\"x\":[1,2]}},"
		   "\"revision\":3}");

	pb_meta(&inner, 1, "ns", "");
	nested = envelope("v1", "Namespace", &inner);
	pb_bytes(&raw, 1, nested.p, nested.len);
	free(nested.p);
	pb_meta(&cr, 1, "rev", "");
	pb_msg(&cr, 2, &raw);
	b = envelope("apps/v1", "ControllerRevision", &cr);
	check_json(&b, "{\"apiVersion\":\"apps/v1\",\"kind\":\"ControllerRevision\",\"metadata\":{"
		       "\"name\":\"rev\"},\"data\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
		       "\"metadata\":{\"name\":\"ns\"}}}");
}

static void test_unknown_fields_of_every_wire_type_are_skipped(void **state)
{
	struct pb cm = {0}, b;

	(void)state;
	pb_int(&cm, 90, 5);
	pb_tag(&cm, 91, 1);
	pb_raw(&cm, "12345678", 8);
	pb_str(&cm, 92, "x");
	pb_tag(&cm, 93, 5);
	pb_raw(&cm, "1234", 4);
	pb_map_str(&cm, 2, "k", "v");
	b = envelope("v1", "ConfigMap", &cm);
	check_json(&b, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{\"k\":\"v\"}}");
}

/* ---- bad bodies ---- */

static void test_malformed_bodies_name_message_and_field(void **state)
{
	struct pb cm = {0}, m = {0}, svc = {0}, spec = {0}, port = {0}, tp = {0}, b;

	(void)state;
	/* truncated varint in ObjectMeta.generation */
	pb_tag(&m, 7, 0);
	pb_raw(&m, "\x80\x80", 2);
	pb_msg(&cm, 1, &m);
	b = envelope("v1", "ConfigMap", &cm);
	check_error(&b, EINVAL,
		    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta field 7 (generation): "
		    "truncated varint");

	/* a length beyond the end of the data */
	pb_tag(&cm, 2, 2);
	pb_varint(&cm, 50);
	pb_raw(&cm, "abc", 3);
	b = envelope("v1", "ConfigMap", &cm);
	check_error(&b, EINVAL, "io.k8s.api.core.v1.ConfigMap field 2 (data): length beyond");

	/* a string field sent as a varint */
	pb_int(&m, 1, 5);
	pb_msg(&cm, 1, &m);
	b = envelope("v1", "ConfigMap", &cm);
	check_error(&b, EINVAL, "ObjectMeta field 1 (name): wrong wire type");

	/* an int-or-string of an unknown type */
	pb_int(&tp, 1, 2);
	pb_msg(&port, 4, &tp);
	pb_msg(&spec, 1, &port);
	pb_msg(&svc, 2, &spec);
	b = envelope("v1", "Service", &svc);
	check_error(&b, EINVAL, "IntOrString field 1 (type)");

	pb_str(&m, 1, "bad \xff");
	pb_msg(&cm, 1, &m);
	b = envelope("v1", "Namespace", &cm);
	check_error(&b, EINVAL, "ObjectMeta field 1 (name): string is not UTF-8");

	b = envelope("v1", "NoSuchKind", &cm);
	check_error(&b, ENOTSUP, "apiVersion 'v1' kind 'NoSuchKind'");

	pb_raw(&b, "k8s", 4);
	pb_msg(&b, 1, &cm);
	check_error(&b, EINVAL, "no valid kind");

	pb_raw(&b, "{\"kind\":\"x\"}", 12);
	assert_false(proto_is_k8s((const char *)b.p, b.len));
	check_error(&b, EINVAL, "magic");

	pb_str(&m, 1, "v1");
	pb_str(&m, 2, "Namespace");
	pb_raw(&b, "k8s", 4);
	pb_msg(&b, 1, &m);
	pb_str(&b, 3, "gzip");
	check_error(&b, ENOTSUP, "content encoding 'gzip'");
}

static void test_deep_nesting_is_refused(void **state)
{
	struct pb raw = {0}, cr = {0}, b = {0};

	(void)state;
	pb_meta(&cr, 1, "leaf", "");
	b = envelope("apps/v1", "ControllerRevision", &cr);
	for (int i = 0; i < 40; i++) {
		pb_bytes(&raw, 1, b.p, b.len);
		free(b.p);
		pb_msg(&cr, 2, &raw);
		b = envelope("apps/v1", "ControllerRevision", &cr);
	}
	check_error(&b, EINVAL, "nested more than");
}

/* ---- bodies kubectl 1.32 sent ---- */

/* next to this file, which make compiles by its path from the top of the tree */
static char *data_path(const char *name, const char *ext)
{
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash + 1 - __FILE__) : 0;

	return xasprintf("%.*sdata/proto/%s.%s", dir, __FILE__, name, ext);
}

static void check_fixture(const char *name)
{
	cleanup_free char *pb_path = data_path(name, "pb"), *body = NULL;
	cleanup_free char *json_path = data_path(name, "json");
	cleanup_json json_t *want = NULL, *got = NULL;
	cleanup_err struct err err = ERR_INIT;
	json_error_t jerr;
	FILE *f;
	long len;

	f = fopen(pb_path, "rb");
	if (!f)
		fail_msg("open '%s'", pb_path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	body = xmalloc(len);
	assert_int_equal(fread(body, 1, len, f), (size_t)len);
	fclose(f);
	want = json_load_file(json_path, 0, &jerr);
	if (!want)
		fail_msg("load '%s': %s", json_path, jerr.text);
	assert_true(proto_is_k8s(body, len));
	if (proto_to_json(body, len, &got, &err) < 0)
		fail_msg("decode '%s': %s", pb_path, err.msg);
	if (!json_equal(got, want)) {
		cleanup_free char *s = json_dumps(got, JSON_COMPACT);

		fail_msg("%s decoded to %s", name, s);
	}
	assert_string_equal(json_object_iter_key(json_object_iter(got)), "apiVersion");
}

static void test_kubectl_bodies_decode_to_their_json(void **state)
{
	static const char *const names[] = {
		"configmap",        "configmap-binary", "namespace",
		"deployment",       "secret",           "service-clusterip",
		"service-nodeport", "tokenrequest",     "selfsubjectaccessreview",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		check_fixture(names[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configmap_keeps_labels_data_and_binary_data),
		cmocka_unit_test(test_namespace_keeps_empty_spec_and_status),
		cmocka_unit_test(test_deployment_keeps_zero_replicas_and_pointer_zeros),
		cmocka_unit_test(test_secret_data_is_base64_and_immutable_false_is_kept),
		cmocka_unit_test(test_self_subject_access_review),
		cmocka_unit_test(test_eviction_keeps_delete_options),
		cmocka_unit_test(test_service_target_port_as_int_and_as_string),
		cmocka_unit_test(test_event_times_are_rfc3339),
		cmocka_unit_test(test_volume_source_is_inlined),
		cmocka_unit_test(test_subject_access_review_extra_values_are_arrays),
		cmocka_unit_test(test_raw_extension_embeds_json_and_nested_protobuf),
		cmocka_unit_test(test_unknown_fields_of_every_wire_type_are_skipped),
		cmocka_unit_test(test_malformed_bodies_name_message_and_field),
		cmocka_unit_test(test_deep_nesting_is_refused),
		cmocka_unit_test(test_kubectl_bodies_decode_to_their_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
