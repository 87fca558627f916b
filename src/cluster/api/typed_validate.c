/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validation of the served kinds (typed_validate), producing the causes of upstream's 422
 * Invalid: the same field paths, reasons and messages as the pkg/apis/.../validation packages and
 * the registries' strategies. Values in messages are printed the way upstream's field errors print
 * them: %q for strings, plain numbers, Go syntax for maps and structs.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/jdump.h"
#include "cluster/api/quantity.h"
#include "cluster/api/resources.h"
#include "cluster/api/selector.h"
#include "cluster/api/status.h"
#include "cluster/api/typed.h"

#define P(...) xasprintf(__VA_ARGS__)

#define MAX_INT32          2147483647
#define MSG_NEGATIVE       "must be greater than or equal to 0"
#define MSG_IMMUTABLE      "field is immutable"
#define MSG_FILE_MODE      "must be a number between 0 and 0777 (octal), both inclusive"
#define MSG_PORT_RANGE     "must be between 1 and 65535, inclusive"
#define MSG_NO_MATCH       "`selector` does not match template `labels`"
#define MSG_IP             "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
#define MAX_SECRET_SIZE    (1024 * 1024)
#define MAX_ANNOTATIONS_SZ (256 * 1024)
#define MSG_QUANTITY                                                                               \
	"quantities must match the regular expression "                                            \
	"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
#define MSG_PERCENT                                                                                \
	"a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "  \
	"or '93%', regex used for validation is '[0-9]+%')"
#define MSG_POD_UPDATE                                                                             \
	"pod updates may not change fields other than `spec.containers[*].image`,"                 \
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "    \
	"additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be " \
	"set to 1 if it was previously negative)"

/* ---- JSON access ------------------------------------------------------------------------ */

static const char *str_of(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "" for unset, as Go's zero value reads */
static const char *str0(const json_t *o, const char *k)
{
	const char *s = str_of(o, k);

	return s ? s : "";
}

static bool int_of(const json_t *o, const char *k, json_int_t *ret)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}

static json_int_t int0(const json_t *o, const char *k)
{
	json_int_t v = 0;

	int_of(o, k, &v);
	return v;
}

static bool present(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v && !json_is_null(v);
}

static const json_t *obj_of(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_object(v) ? v : NULL;
}

static const json_t *arr_of(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_array(v) ? v : NULL;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (streq(s, list[i]))
			return true;
	return false;
}

/* ---- printing values the way upstream's field errors do ---------------------------------- */

static char *goq(const char *s)
{
	size_t n = strlen(s), len = 2;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		len += 4;
	out = o = xmalloc(len + 1);
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
		case '\\':
			*o++ = '\\';
			*o++ = (char)*p;
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				o += sprintf(o, "\\x%02x", *p);
			else
				*o++ = (char)*p;
		}
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* map[string]string{"a":"b", "c":"d"} with sorted keys, as fmt's %#v prints a map */
static char *go_map(const json_t *m)
{
	size_t n = json_object_size(m), i = 0;
	cleanup_free const char **keys = NULL;
	char *out;
	const char *k;
	json_t *v;

	if (!json_is_object(m))
		return xstrdup("map[string]string(nil)");
	keys = xcalloc(n ? n : 1, sizeof(*keys));
	json_object_foreach ((json_t *)m, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str);
	out = xstrdup("map[string]string{");
	for (i = 0; i < n; i++) {
		cleanup_free char *qk = goq(keys[i]);
		cleanup_free char *qv = goq(str0(m, keys[i]));
		char *next = P("%s%s%s:%s", out, i ? ", " : "", qk, qv);

		free(out);
		out = next;
	}
	{
		char *next = P("%s}", out);

		free(out);
		out = next;
	}
	return out;
}

static char *go_strings(const json_t *a)
{
	char *out;
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return xstrdup("[]string(nil)");
	out = xstrdup("[]string{");
	json_array_foreach (a, i, v) {
		cleanup_free char *q = goq(json_is_string(v) ? json_string_value(v) : "");
		char *next = P("%s%s%s", out, i ? ", " : "", q);

		free(out);
		out = next;
	}
	{
		char *next = P("%s}", out);

		free(out);
		out = next;
	}
	return out;
}

static char *go_intstr(const json_t *v)
{
	if (json_is_string(v)) {
		cleanup_free char *q = goq(json_string_value(v));

		return P("intstr.IntOrString{Type:1, IntVal:0, StrVal:%s}", q);
	}
	return P("intstr.IntOrString{Type:0, IntVal:%lld, StrVal:\"\"}",
		 json_is_integer(v) ? (long long)json_integer_value(v) : 0LL);
}

static char *go_selector(const json_t *sel)
{
	cleanup_free char *ml = go_map(obj_of(sel, "matchLabels"));
	const json_t *exprs = arr_of(sel, "matchExpressions");
	char *me;
	size_t i;
	json_t *e;

	if (!exprs) {
		me = xstrdup("[]v1.LabelSelectorRequirement(nil)");
	} else {
		me = xstrdup("[]v1.LabelSelectorRequirement{");
		json_array_foreach (exprs, i, e) {
			cleanup_free char *key = goq(str0(e, "key"));
			cleanup_free char *op = goq(str0(e, "operator"));
			cleanup_free char *vals = go_strings(arr_of(e, "values"));
			char *next = P("%s%sv1.LabelSelectorRequirement{Key:%s, Operator:%s, "
				       "Values:%s}",
				       me, i ? ", " : "", key, op, vals);

			free(me);
			me = next;
		}
		{
			char *next = P("%s}", me);

			free(me);
			me = next;
		}
	}
	{
		char *out = P("v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}", ml, me);

		free(me);
		return out;
	}
}

static char *json_text(const json_t *v)
{
	char *s = v ? jdump_s(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char *out = xstrdup(s ? s : "null");

	free(s);
	return out;
}

/* ---- causes ----------------------------------------------------------------------------- */

static void add_required(struct causes *o, const char *f, const char *detail)
{
	if (detail && *detail)
		causes_add(o, CAUSE_REQUIRED, f, "Required value: %s", detail);
	else
		causes_add(o, CAUSE_REQUIRED, f, "Required value");
}

static void add_forbidden(struct causes *o, const char *f, const char *detail)
{
	causes_add(o, CAUSE_FORBIDDEN, f, "Forbidden: %s", detail);
}

/* @shown is the value as already printed */
static void add_invalid(struct causes *o, const char *f, const char *shown, const char *detail)
{
	if (detail && *detail)
		causes_add(o, CAUSE_INVALID, f, "Invalid value: %s: %s", shown, detail);
	else
		causes_add(o, CAUSE_INVALID, f, "Invalid value: %s", shown);
}

static void add_invalid_str(struct causes *o, const char *f, const char *val, const char *detail)
{
	cleanup_free char *q = goq(val ? val : "");

	add_invalid(o, f, q, detail);
}

static void add_invalid_int(struct causes *o, const char *f, json_int_t val, const char *detail)
{
	cleanup_free char *s = P("%lld", (long long)val);

	add_invalid(o, f, s, detail);
}

static void add_unsupported(struct causes *o, const char *f, const char *shown,
			    const char *const *allowed)
{
	char *list = xstrdup("");

	for (size_t i = 0; allowed[i]; i++) {
		cleanup_free char *q = goq(allowed[i]);
		char *next = P("%s%s%s", list, i ? ", " : "", q);

		free(list);
		list = next;
	}
	causes_add(o, CAUSE_NOT_SUPPORTED, f, "Unsupported value: %s: supported values: %s", shown,
		   list);
	free(list);
}

static void add_unsupported_str(struct causes *o, const char *f, const char *val,
				const char *const *allowed)
{
	cleanup_free char *q = goq(val ? val : "");

	add_unsupported(o, f, q, allowed);
}

static void add_duplicate(struct causes *o, const char *f, const char *shown, const char *detail)
{
	if (detail)
		causes_add(o, CAUSE_DUPLICATE, f, "Duplicate value: %s: %s", shown, detail);
	else
		causes_add(o, CAUSE_DUPLICATE, f, "Duplicate value: %s", shown);
}

static void add_duplicate_str(struct causes *o, const char *f, const char *val)
{
	cleanup_free char *q = goq(val);

	add_duplicate(o, f, q, NULL);
}

static void add_not_found_str(struct causes *o, const char *f, const char *val)
{
	cleanup_free char *q = goq(val);

	causes_add(o, CAUSE_NOT_FOUND, f, "Not found: %s", q);
}

static void add_too_long(struct causes *o, const char *f, long max)
{
	causes_add(o, CAUSE_TOO_LONG, f, "Too long: may not be more than %ld bytes", max);
}

static void nonneg(const json_t *o, const char *k, const char *path, struct causes *out)
{
	json_int_t v;

	if (int_of(o, k, &v) && v < 0) {
		cleanup_free char *p = P("%s.%s", path, k);

		add_invalid_int(out, p, v, MSG_NEGATIVE);
	}
}

static void names_invalid(enum typed_name kind, const char *val, const char *path, struct causes *o)
{
	const char *m[6];
	size_t n = typed_name_check(kind, val, m);

	for (size_t i = 0; i < n; i++)
		add_invalid_str(o, path, val, m[i]);
}

static void immutable_str(const json_t *obj, const json_t *old, const char *k, const char *path,
			  struct causes *o)
{
	if (!json_equal(json_object_get(obj, k), json_object_get(old, k)) &&
	    !(!present(obj, k) && !present(old, k)))
		add_invalid_str(o, path, str0(obj, k), MSG_IMMUTABLE);
}

/* ---- labels, selectors, metadata -------------------------------------------------------- */

static void v_label_key(const char *key, const char *path, struct causes *o)
{
	const char *why = NULL;

	if (!label_key_valid(key, &why))
		add_invalid_str(o, path, key, why);
}

/* ValidateLabels: every cause names the map, not the key */
static void v_labels(const json_t *labels, const char *path, struct causes *o)
{
	const char *k, *why;
	json_t *v;

	json_object_foreach ((json_t *)labels, k, v) {
		v_label_key(k, path, o);
		why = NULL;
		if (!json_is_string(v))
			add_invalid(o, path, "null", "label values must be strings");
		else if (!label_value_valid(json_string_value(v), &why))
			add_invalid_str(o, path, json_string_value(v), why);
	}
}

static void v_annotations(const json_t *ann, const char *path, struct causes *o)
{
	size_t total = 0;
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)ann, k, v) {
		cleanup_free char *lower = xstrdup(k);
		const char *why = NULL;

		for (char *c = lower; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!label_key_valid(lower, &why))
			add_invalid_str(o, path, k, why);
		total += strlen(k) + (json_is_string(v) ? json_string_length(v) : 0);
	}
	if (total > MAX_ANNOTATIONS_SZ)
		add_too_long(o, path, MAX_ANNOTATIONS_SZ);
}

static void v_selector(const json_t *sel, const char *path, struct causes *o)
{
	cleanup_free char *ml = P("%s.matchLabels", path);
	json_t *e, *val;
	size_t i, j;

	v_labels(obj_of(sel, "matchLabels"), ml, o);
	json_array_foreach (arr_of(sel, "matchExpressions"), i, e) {
		cleanup_free char *ep = P("%s.matchExpressions[%zu]", path, i);
		cleanup_free char *vp = P("%s.values", ep);
		cleanup_free char *opp = P("%s.operator", ep);
		cleanup_free char *kp = P("%s.key", ep);
		const char *op = str0(e, "operator");
		size_t nvals = json_array_size(json_object_get(e, "values"));

		if (streq(op, "In") || streq(op, "NotIn")) {
			if (nvals == 0)
				add_required(
					o, vp,
					"must be specified when `operator` is 'In' or 'NotIn'");
		} else if (streq(op, "Exists") || streq(op, "DoesNotExist")) {
			if (nvals > 0)
				add_forbidden(o, vp,
					      "may not be specified when `operator` is 'Exists' or "
					      "'DoesNotExist'");
		} else {
			add_invalid_str(o, opp, op, "not a valid selector operator");
		}
		v_label_key(str0(e, "key"), kp, o);
		json_array_foreach (json_object_get(e, "values"), j, val) {
			cleanup_free char *ip = P("%s[%zu]", vp, j);
			const char *why = NULL;

			if (json_is_string(val) && !label_value_valid(json_string_value(val), &why))
				add_invalid_str(o, ip, json_string_value(val), why);
		}
	}
}

static bool value_in(const char *v, const json_t *values)
{
	size_t i;
	json_t *x;

	json_array_foreach (values, i, x)
		if (streq(json_string_value(x), v))
			return true;
	return false;
}

/* LabelSelectorAsSelector(sel).Matches(labels); a missing selector matches nothing */
static bool sel_matches(const json_t *sel, const json_t *labels)
{
	const char *k;
	json_t *v, *e;
	size_t i;

	if (!json_is_object(sel))
		return false;
	json_object_foreach ((json_t *)obj_of(sel, "matchLabels"), k, v)
		if (!json_is_string(v) || !streq(str_of(labels, k), json_string_value(v)))
			return false;
	json_array_foreach (arr_of(sel, "matchExpressions"), i, e) {
		const char *key = str0(e, "key"), *op = str0(e, "operator");
		const char *have = str_of(labels, key);
		const json_t *vals = json_object_get(e, "values");

		if ((streq(op, "In") && !(have && value_in(have, vals))) ||
		    (streq(op, "NotIn") && have && value_in(have, vals)) ||
		    (streq(op, "Exists") && !have) || (streq(op, "DoesNotExist") && have))
			return false;
	}
	return true;
}

static bool sel_empty(const json_t *sel)
{
	return json_object_size(obj_of(sel, "matchLabels")) == 0 &&
	       json_array_size(json_object_get(sel, "matchExpressions")) == 0;
}

static enum typed_name name_rule(const struct api_resource *r)
{
	if (strcmp(r->group, "") == 0 && strcmp(r->kind, "Namespace") == 0)
		return TYPED_DNS1123_LABEL;
	if (strcmp(r->group, "") == 0 && strcmp(r->kind, "Service") == 0)
		return TYPED_DNS1035_LABEL;
	if (strcmp(r->group, "") == 0 && strcmp(r->kind, "Event") == 0)
		return TYPED_PATH_SEGMENT;
	if (strcmp(r->group, "apps") == 0 && strcmp(r->kind, "StatefulSet") == 0)
		return TYPED_DNS1123_LABEL;
	return TYPED_DNS1123_SUBDOMAIN;
}

static void v_owner_refs(const json_t *refs, struct causes *o)
{
	const char *first = NULL;
	cleanup_free char *first_buf = NULL;
	json_t *ref;
	size_t i;

	json_array_foreach (refs, i, ref) {
		cleanup_free char *p = P("metadata.ownerReferences[%zu]", i);
		const char *av = str0(ref, "apiVersion");
		const char *slash = strchr(av, '/');

		if (!*av) {
			cleanup_free char *f = P("%s.apiVersion", p);

			add_required(o, f, "must not be empty");
		} else if ((slash && (slash == av || !slash[1] || strchr(slash + 1, '/')))) {
			cleanup_free char *f = P("%s.apiVersion", p);

			add_invalid_str(o, f, av, "must be <group>/<version> or <version>");
		}
		static const char *const req[] = {"kind", "name", "uid"};
		for (size_t k = 0; k < 3; k++) {
			if (!*str0(ref, req[k])) {
				cleanup_free char *f = P("%s.%s", p, req[k]);

				add_required(o, f, "must not be empty");
			}
		}
		if (streq(av, "v1") && streq(str0(ref, "kind"), "Event")) {
			cleanup_free char *shown = json_text(ref);

			add_invalid(o, p, shown,
				    "/v1, Kind=Event is disallowed from being an owner");
		}
		if (json_is_true(json_object_get(ref, "controller"))) {
			cleanup_free char *cur = P("%s/%s", str0(ref, "kind"), str0(ref, "name"));

			if (first) {
				cleanup_free char *shown = json_text(refs);
				cleanup_free char *msg =
					P("Only one reference can have Controller set to true. "
					  "Found \"true\" in references for %s and %s",
					  first, cur);

				add_invalid(o, "metadata.ownerReferences", shown, msg);
			} else {
				first_buf = TAKE_PTR(cur);
				first = first_buf;
			}
		}
	}
}

static bool standard_finalizer(const char *f)
{
	return streq(f, "kubernetes") || streq(f, "orphan") || streq(f, "foregroundDeletion");
}

static void v_finalizers(const json_t *fins, struct causes *o)
{
	bool orphan = false, foreground = false;
	json_t *f;
	size_t i;

	json_array_foreach (fins, i, f) {
		const char *name = json_is_string(f) ? json_string_value(f) : "";

		v_label_key(name, "metadata.finalizers", o);
		orphan |= streq(name, "orphan");
		foreground |= streq(name, "foregroundDeletion");
	}
	if (orphan && foreground) {
		cleanup_free char *shown = go_strings(fins);

		add_invalid(o, "metadata.finalizers", shown,
			    "finalizer orphan and foregroundDeletion cannot be both set");
	}
	/* core's extra pass: by index, and plain names must be standard ones */
	json_array_foreach (fins, i, f) {
		cleanup_free char *p = P("metadata.finalizers[%zu]", i);
		const char *name = json_is_string(f) ? json_string_value(f) : "";

		v_label_key(name, p, o);
		if (!strchr(name, '/') && !standard_finalizer(name))
			add_invalid_str(o, p, name,
					"name is neither a standard finalizer name nor is it fully "
					"qualified");
	}
}

static void v_meta_common(const struct api_resource *r, const json_t *meta, struct causes *o)
{
	const char *ns = str_of(meta, "namespace");

	if (api_namespaced(r)) {
		if (!ns || !*ns)
			add_required(o, "metadata.namespace", NULL);
		else
			names_invalid(TYPED_DNS1123_LABEL, ns, "metadata.namespace", o);
	}
	nonneg(meta, "generation", "metadata", o);
	v_labels(obj_of(meta, "labels"), "metadata.labels", o);
	v_annotations(obj_of(meta, "annotations"), "metadata.annotations", o);
	v_owner_refs(arr_of(meta, "ownerReferences"), o);
	v_finalizers(arr_of(meta, "finalizers"), o);
}

/* maskTrailingDash, quirk included: it drops two characters, not one */
static char *mask_trailing_dash(const char *s)
{
	size_t n = strlen(s);

	if (n > 1 && s[n - 1] == '-')
		return P("%.*sa", (int)(n - 2), s);
	return xstrdup(s);
}

static void v_meta_create(const struct api_resource *r, const json_t *meta, struct causes *o)
{
	const char *gen = str_of(meta, "generateName"), *name = str_of(meta, "name");
	enum typed_name rule = name_rule(r);

	if (gen && *gen) {
		cleanup_free char *masked = mask_trailing_dash(gen);
		const char *m[6];
		size_t n = typed_name_check(rule, rule == TYPED_PATH_SEGMENT ? gen : masked, m);

		for (size_t i = 0; i < n; i++)
			add_invalid_str(o, "metadata.generateName", gen, m[i]);
	}
	if (!name || !*name)
		add_required(o, "metadata.name", "name or generateName is required");
	else
		names_invalid(rule, name, "metadata.name", o);
	v_meta_common(r, meta, o);
}

static void v_meta_update(const json_t *meta, const json_t *ometa, struct causes *o)
{
	if (present(ometa, "deletionTimestamp")) {
		const json_t *of = arr_of(ometa, "finalizers");
		json_t *f, *extra = json_array();
		size_t i;

		json_array_foreach (arr_of(meta, "finalizers"), i, f)
			if (json_is_string(f) && !value_in(json_string_value(f), of))
				json_array_append(extra, f);
		if (json_array_size(extra) > 0) {
			cleanup_free char *list = go_strings(extra);
			cleanup_free char *msg =
				P("no new finalizers can be added if the object is "
				  "being deleted, found new finalizers %s",
				  list);

			add_forbidden(o, "metadata.finalizers", msg);
		}
		json_decref(extra);
	}
	/*
	 * The update path carries uid (when left out), creationTimestamp and generation over
	 * from the stored object before validating, as upstream's BeforeUpdate does; only a
	 * different uid can reach us.
	 */
	immutable_str(meta, ometa, "name", "metadata.name", o);
	immutable_str(meta, ometa, "namespace", "metadata.namespace", o);
	if (*str0(meta, "uid"))
		immutable_str(meta, ometa, "uid", "metadata.uid", o);
	nonneg(meta, "generation", "metadata", o);
	v_labels(obj_of(meta, "labels"), "metadata.labels", o);
	v_annotations(obj_of(meta, "annotations"), "metadata.annotations", o);
	v_owner_refs(arr_of(meta, "ownerReferences"), o);
	{
		json_t *f;
		size_t i;

		json_array_foreach (arr_of(meta, "finalizers"), i, f) {
			cleanup_free char *p = P("metadata.finalizers[%zu]", i);
			const char *name = json_is_string(f) ? json_string_value(f) : "";

			v_label_key(name, p, o);
			if (!strchr(name, '/') && !standard_finalizer(name))
				add_invalid_str(
					o, p, name,
					"name is neither a standard finalizer name nor is it "
					"fully qualified");
		}
	}
}

/* ---- quantities and resources ----------------------------------------------------------- */

static bool parse_quantity(const json_t *v, const char *path, struct quantity *q, struct causes *o)
{
	const char *why = NULL;

	if (json_is_integer(v)) {
		cleanup_free char *s = P("%lld", (long long)json_integer_value(v));

		return quantity_parse(s, q, &why);
	}
	if (!json_is_string(v) || !quantity_parse(json_string_value(v), q, &why)) {
		cleanup_free char *shown = json_text(v);

		add_invalid(o, path, shown, MSG_QUANTITY);
		return false;
	}
	return true;
}

static bool hugepages(const char *name)
{
	return strncmp(name, "hugepages-", 10) == 0;
}

static void v_resource_name(const char *name, const char *path, struct causes *o)
{
	static const char *const standard[] = {"cpu",
					       "memory",
					       "ephemeral-storage",
					       "storage",
					       "pods",
					       "services",
					       "replicationcontrollers",
					       "resourcequotas",
					       "secrets",
					       "configmaps",
					       "persistentvolumeclaims",
					       "requests.cpu",
					       "requests.memory",
					       "requests.storage",
					       "requests.ephemeral-storage",
					       "limits.cpu",
					       "limits.memory",
					       "limits.ephemeral-storage",
					       NULL};
	const char *why = NULL;

	if (!label_key_valid(name, &why)) {
		add_invalid_str(o, path, name, why);
		return;
	}
	if (strchr(name, '/'))
		return;
	if (!in_list(name, standard) && !hugepages(name) &&
	    strncmp(name, "requests.hugepages-", 19))
		add_invalid_str(o, path, name,
				"must be a standard resource type or fully qualified");
	else if (!streq(name, "cpu") && !streq(name, "memory") &&
		 !streq(name, "ephemeral-storage") && !hugepages(name))
		add_invalid_str(o, path, name, "must be a standard resource for containers");
}

/* Extended resources and hugepages may not overcommit: requests must equal limits. */
static bool overcommit_allowed(const char *name)
{
	return !strchr(name, '/') ? !hugepages(name) : false;
}

static void v_resources(const json_t *res, const char *path, struct causes *o)
{
	const json_t *lim = obj_of(res, "limits"), *req = obj_of(res, "requests");
	cleanup_free char *lp = P("%s.limits", path);
	cleanup_free char *rp = P("%s.requests", path);
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)lim, k, v) {
		cleanup_free char *p = P("%s[%s]", lp, k);
		struct quantity q;

		v_resource_name(k, p, o);
		if (parse_quantity(v, p, &q, o) && q.nano < 0) {
			cleanup_free char *s = quantity_format(&q);

			add_invalid_str(o, p, s, MSG_NEGATIVE);
		}
	}
	json_object_foreach ((json_t *)req, k, v) {
		cleanup_free char *p = P("%s[%s]", rp, k);
		json_t *lv = json_object_get(lim, k);
		struct quantity q, l;

		v_resource_name(k, p, o);
		if (!parse_quantity(v, p, &q, o))
			continue;
		if (q.nano < 0) {
			cleanup_free char *s = quantity_format(&q);

			add_invalid_str(o, p, s, MSG_NEGATIVE);
		}
		if (lv) {
			struct causes ignore = {0};

			if (!parse_quantity(lv, p, &l, &ignore)) {
				causes_free(&ignore);
				continue;
			}
			causes_free(&ignore);
			cleanup_free char *qs = quantity_format(&q);
			cleanup_free char *ls = quantity_format(&l);
			int c = quantity_cmp(&q, &l);

			if (c != 0 && !overcommit_allowed(k)) {
				cleanup_free char *msg =
					P("must be equal to %s limit of %s", k, ls);

				add_invalid_str(o, rp, qs, msg);
			} else if (c > 0) {
				cleanup_free char *msg =
					P("must be less than or equal to %s limit of %s", k, ls);

				add_invalid_str(o, rp, qs, msg);
			}
		} else if (!overcommit_allowed(k)) {
			add_required(o, lp, "Limit must be set for non overcommitable resources");
		}
	}
}

/* ---- volumes ---------------------------------------------------------------------------- */

/* JSON key and the name upstream's "more than 1 volume type" cause uses (typos included) */
static const struct {
	const char *key, *shown;
} vol_sources[] = {
	{"emptyDir", "emptyDir"},
	{"hostPath", "hostPath"},
	{"gitRepo", "gitRepo"},
	{"gcePersistentDisk", "gcePersistentDisk"},
	{"awsElasticBlockStore", "awsElasticBlockStore"},
	{"secret", "secret"},
	{"nfs", "nfs"},
	{"iscsi", "iscsi"},
	{"glusterfs", "glusterfs"},
	{"flocker", "flocker"},
	{"persistentVolumeClaim", "persistentVolumeClaim"},
	{"rbd", "rbd"},
	{"cinder", "cinder"},
	{"cephfs", "cephFS"},
	{"quobyte", "quobyte"},
	{"downwardAPI", "downwarAPI"},
	{"fc", "fc"},
	{"flexVolume", "flexVolume"},
	{"configMap", "configMap"},
	{"azureFile", "azureFile"},
	{"vsphereVolume", "vsphereVolume"},
	{"photonPersistentDisk", "photonPersistentDisk"},
	{"portworxVolume", "portworxVolume"},
	{"azureDisk", "azureDisk"},
	{"storageos", "storageos"},
	{"projected", "projected"},
	{"scaleIO", "scaleIO"},
	{"csi", "csi"},
	{"ephemeral", "ephemeral"},
	{"image", "image"},
};

static bool has_backstep(const char *path)
{
	const char *p = path;

	while (p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p = slash ? slash + 1 : NULL;
	}
	return false;
}

static void v_local_descending(const char *target, const char *path, struct causes *o)
{
	if (target[0] == '/')
		add_invalid_str(o, path, target, "must be a relative path");
	if (has_backstep(target))
		add_invalid_str(o, path, target, "must not contain '..'");
}

static void v_local_non_reserved(const char *target, const char *path, struct causes *o)
{
	v_local_descending(target, path, o);
	if (strncmp(target, "..", 2) == 0 && strncmp(target, "../", 3) != 0)
		add_invalid_str(o, path, target, "must not start with '..'");
}

static void v_mode(const json_t *o_, const char *k, const char *path, struct causes *o)
{
	json_int_t m;

	if (int_of(o_, k, &m) && (m < 0 || m > 0777)) {
		cleanup_free char *p = P("%s.%s", path, k);

		add_invalid_int(o, p, m, MSG_FILE_MODE);
	}
}

static void v_items(const json_t *src, const char *path, struct causes *o)
{
	json_t *kp;
	size_t i;

	json_array_foreach (arr_of(src, "items"), i, kp) {
		cleanup_free char *ip = P("%s.items[%zu]", path, i);
		cleanup_free char *pp = P("%s.path", ip);

		if (!*str0(kp, "key")) {
			cleanup_free char *p = P("%s.key", ip);

			add_required(o, p, NULL);
		}
		if (!*str0(kp, "path"))
			add_required(o, pp, NULL);
		v_local_non_reserved(str0(kp, "path"), pp, o);
		v_mode(kp, "mode", ip, o);
	}
}

static void required_field(const json_t *src, const char *k, const char *path, struct causes *o)
{
	if (!*str0(src, k)) {
		cleanup_free char *p = P("%s.%s", path, k);

		add_required(o, p, NULL);
	}
}

static void v_source_content(const char *key, const json_t *src, const char *path, struct causes *o)
{
	static const char *const host_types[] = {
		"",     "BlockDevice",  "CharDevice", "Directory", "DirectoryOrCreate",
		"File", "FileOrCreate", "Socket",     NULL};

	if (streq(key, "hostPath")) {
		cleanup_free char *pp = P("%s.path", path);
		cleanup_free char *tp = P("%s.type", path);
		const char *type = str_of(src, "type");

		if (!*str0(src, "path")) {
			add_required(o, pp, NULL);
			return;
		}
		if (has_backstep(str0(src, "path")))
			add_invalid_str(o, pp, str0(src, "path"), "must not contain '..'");
		if (type && !in_list(type, host_types))
			add_unsupported_str(o, tp, type, host_types);
	} else if (streq(key, "secret")) {
		required_field(src, "secretName", path, o);
		v_mode(src, "defaultMode", path, o);
		v_items(src, path, o);
	} else if (streq(key, "configMap")) {
		required_field(src, "name", path, o);
		v_mode(src, "defaultMode", path, o);
		v_items(src, path, o);
	} else if (streq(key, "persistentVolumeClaim")) {
		required_field(src, "claimName", path, o);
	} else if (streq(key, "gitRepo")) {
		required_field(src, "repository", path, o);
	} else if (streq(key, "nfs")) {
		cleanup_free char *pp = P("%s.path", path);

		required_field(src, "server", path, o);
		required_field(src, "path", path, o);
		if (str0(src, "path")[0] != '/')
			add_invalid_str(o, pp, str0(src, "path"), "must be an absolute path");
	} else if (streq(key, "downwardAPI")) {
		json_t *item;
		size_t i;

		v_mode(src, "defaultMode", path, o);
		json_array_foreach (arr_of(src, "items"), i, item) {
			cleanup_free char *pp = P("%s.path", path);

			if (!*str0(item, "path"))
				add_required(o, pp, NULL);
			v_mode(item, "mode", path, o);
		}
	} else if (streq(key, "projected")) {
		static const char *const kinds[] = {"secret",
						    "configMap",
						    "downwardAPI",
						    "serviceAccountToken",
						    "clusterTrustBundle",
						    NULL};
		json_t *s;
		size_t i;

		v_mode(src, "defaultMode", path, o);
		json_array_foreach (arr_of(src, "sources"), i, s) {
			cleanup_free char *sp = P("%s.sources[%zu]", path, i);
			size_t n = 0;

			for (size_t k = 0; kinds[k]; k++)
				n += present(s, kinds[k]);
			if (n > 1)
				add_forbidden(o, sp,
					      "may not specify more than 1 volume type per source");
			if (obj_of(s, "secret")) {
				cleanup_free char *p = P("%s.secret", sp);

				required_field(obj_of(s, "secret"), "name", p, o);
			}
			if (obj_of(s, "configMap")) {
				cleanup_free char *p = P("%s.configMap", sp);

				required_field(obj_of(s, "configMap"), "name", p, o);
			}
		}
	} else if (streq(key, "csi")) {
		cleanup_free char *dp = P("%s.driver", path);
		const char *drv = str0(src, "driver");
		cleanup_free char *lower = xstrdup(drv);

		for (char *c = lower; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!*drv)
			add_required(o, dp, NULL);
		if (strlen(drv) > 63)
			add_too_long(o, dp, 63);
		{
			const char *m[6];
			size_t n = typed_name_check(TYPED_DNS1123_SUBDOMAIN, lower, m);

			for (size_t i = 0; i < n; i++)
				add_invalid_str(o, dp, drv, m[i]);
		}
	} else if (streq(key, "ephemeral")) {
		if (!obj_of(src, "volumeClaimTemplate")) {
			cleanup_free char *p = P("%s.volumeClaimTemplate", path);

			add_required(o, p, NULL);
		}
	} else if (streq(key, "emptyDir")) {
		json_t *sl = json_object_get(src, "sizeLimit");
		const char *why = NULL;
		struct quantity q;

		if (sl && json_is_string(sl) && quantity_parse(json_string_value(sl), &q, &why) &&
		    q.nano < 0) {
			cleanup_free char *p = P("%s.sizeLimit", path);

			add_forbidden(o, p, "SizeLimit field must be a valid resource quantity");
		}
	}
}

/* Returns the names of the volumes that validated, for volumeMounts to refer to. */
static json_t *v_volumes(const json_t *vols, const char *path, struct causes *o)
{
	json_t *ok = json_object(), *seen = json_object(), *v;
	size_t i;

	json_array_foreach (vols, i, v) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		cleanup_free char *np = P("%s.name", ip);
		const char *name = str0(v, "name");
		size_t before = o->n, count = 0;

		for (size_t s = 0; s < sizeof(vol_sources) / sizeof(vol_sources[0]); s++) {
			const json_t *src = json_object_get(v, vol_sources[s].key);

			if (!src || json_is_null(src))
				continue;
			if (count > 0) {
				cleanup_free char *fp = P("%s.%s", ip, vol_sources[s].shown);

				add_forbidden(o, fp, "may not specify more than 1 volume type");
				continue;
			}
			count++;
			{
				cleanup_free char *sp = P("%s.%s", ip, vol_sources[s].key);

				v_source_content(vol_sources[s].key, src, sp, o);
			}
		}
		if (count == 0)
			add_required(o, ip, "must specify a volume type");
		if (!*name)
			add_required(o, np, NULL);
		else
			names_invalid(TYPED_DNS1123_LABEL, name, np, o);
		if (json_object_get(seen, name))
			add_duplicate_str(o, np, name);
		if (o->n == before) {
			json_object_set_new(seen, name, json_true());
			json_object_set_new(ok, name, json_true());
		}
	}
	json_decref(seen);
	return ok;
}

/* ---- containers ------------------------------------------------------------------------- */

static void v_port_num_or_name(const json_t *port, const char *path, struct causes *o)
{
	if (json_is_string(port)) {
		const char *m[6];
		size_t n = typed_name_check(TYPED_PORT_NAME, json_string_value(port), m);

		for (size_t i = 0; i < n; i++)
			add_invalid_str(o, path, json_string_value(port), m[i]);
		return;
	}
	{
		json_int_t v = json_is_integer(port) ? json_integer_value(port) : 0;

		if (v < 1 || v > 65535)
			add_invalid_int(o, path, v, MSG_PORT_RANGE);
	}
}

static void v_protocol(const json_t *port, const char *path, struct causes *o)
{
	static const char *const protos[] = {"SCTP", "TCP", "UDP", NULL};
	const char *proto = str0(port, "protocol");
	cleanup_free char *p = P("%s.protocol", path);

	if (!*proto)
		add_required(o, p, NULL);
	else if (!in_list(proto, protos))
		add_unsupported_str(o, p, proto, protos);
}

static void v_container_ports(const json_t *ports, const char *path, struct causes *o)
{
	json_t *names = json_object(), *port;
	size_t i;

	json_array_foreach (ports, i, port) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		cleanup_free char *np = P("%s.name", ip);
		cleanup_free char *cp = P("%s.containerPort", ip);
		cleanup_free char *hp = P("%s.hostPort", ip);
		const char *name = str0(port, "name");
		json_int_t cport = int0(port, "containerPort"), hport = int0(port, "hostPort");

		if (*name) {
			const char *m[6];
			size_t n = typed_name_check(TYPED_PORT_NAME, name, m);

			for (size_t k = 0; k < n; k++)
				add_invalid_str(o, np, name, m[k]);
			if (n == 0 && json_object_get(names, name))
				add_duplicate_str(o, np, name);
			else if (n == 0)
				json_object_set_new(names, name, json_true());
		}
		if (cport == 0)
			add_required(o, cp, NULL);
		else if (cport < 1 || cport > 65535)
			add_invalid_int(o, cp, cport, MSG_PORT_RANGE);
		if (hport != 0 && (hport < 1 || hport > 65535))
			add_invalid_int(o, hp, hport, MSG_PORT_RANGE);
		v_protocol(port, ip, o);
	}
	json_decref(names);
}

static bool relaxed_env_name_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 32 || *p > 126 || *p == '=')
			return false;
	return true;
}

static void v_env_name(const char *name, const char *path, struct causes *o)
{
	if (!*name)
		add_invalid_str(o, path, name, "environment variable name must be non-empty");
	else if (!relaxed_env_name_ok(name))
		add_invalid_str(o, path, name,
				"a valid environment variable name must consist only of printable "
				"ASCII characters other than '='");
}

static void v_key_selector(const json_t *s, const char *path, struct causes *o)
{
	cleanup_free char *np = P("%s.name", path);
	cleanup_free char *kp = P("%s.key", path);
	const char *key = str0(s, "key");

	names_invalid(TYPED_DNS1123_SUBDOMAIN, str0(s, "name"), np, o);
	if (!*key)
		add_required(o, kp, NULL);
	else
		names_invalid(TYPED_CONFIG_KEY, key, kp, o);
}

static void v_field_ref(const json_t *fs, const char *path, struct causes *o)
{
	static const char *const known[] = {"metadata.annotations",
					    "metadata.labels",
					    "metadata.name",
					    "metadata.namespace",
					    "metadata.uid",
					    "spec.nodeName",
					    "spec.restartPolicy",
					    "spec.serviceAccountName",
					    "spec.schedulerName",
					    "status.phase",
					    "status.hostIP",
					    "status.hostIPs",
					    "status.podIP",
					    "status.podIPs",
					    NULL};
	static const char *const allowed[] = {"metadata.name",
					      "metadata.namespace",
					      "metadata.uid",
					      "spec.nodeName",
					      "spec.serviceAccountName",
					      "status.hostIP",
					      "status.hostIPs",
					      "status.podIP",
					      "status.podIPs",
					      NULL};
	cleanup_free char *fp = P("%s.fieldPath", path);
	const char *fpath = str0(fs, "fieldPath");

	if (!*str0(fs, "apiVersion")) {
		cleanup_free char *p = P("%s.apiVersion", path);

		add_required(o, p, NULL);
		return;
	}
	if (!*fpath) {
		add_required(o, fp, NULL);
		return;
	}
	if ((strncmp(fpath, "metadata.labels['", 17) == 0 ||
	     strncmp(fpath, "metadata.annotations['", 22) == 0) &&
	    strcmp(fpath + strlen(fpath) - 2, "']") == 0)
		return;
	if (!in_list(fpath, known)) {
		cleanup_free char *msg =
			P("error converting fieldPath: field label not supported: %s", fpath);

		add_invalid_str(o, fp, fpath, msg);
		return;
	}
	if (!in_list(fpath, allowed))
		add_unsupported_str(o, fp, fpath, allowed);
}

static void v_env(const json_t *env, const char *path, struct causes *o)
{
	static const char *const res_allowed[] = {"limits.cpu",
						  "limits.ephemeral-storage",
						  "limits.memory",
						  "requests.cpu",
						  "requests.ephemeral-storage",
						  "requests.memory",
						  NULL};
	json_t *ev;
	size_t i;

	json_array_foreach (env, i, ev) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		cleanup_free char *np = P("%s.name", ip);
		cleanup_free char *fp = P("%s.valueFrom", ip);
		const json_t *from = obj_of(ev, "valueFrom");
		size_t n = 0;

		if (!*str0(ev, "name"))
			add_required(o, np, NULL);
		else
			v_env_name(str0(ev, "name"), np, o);
		if (!from)
			continue;
		if (obj_of(from, "fieldRef")) {
			cleanup_free char *p = P("%s.fieldRef", fp);

			n++;
			v_field_ref(obj_of(from, "fieldRef"), p, o);
		}
		if (obj_of(from, "resourceFieldRef")) {
			cleanup_free char *p = P("%s.resourceFieldRef.resource", fp);
			const char *res = str0(obj_of(from, "resourceFieldRef"), "resource");

			n++;
			if (!*res)
				add_required(o, p, NULL);
			else if (!in_list(res, res_allowed) &&
				 strncmp(res, "requests.hugepages-", 19) != 0 &&
				 strncmp(res, "limits.hugepages-", 17) != 0)
				add_unsupported_str(o, p, res, res_allowed);
		}
		if (obj_of(from, "configMapKeyRef")) {
			cleanup_free char *p = P("%s.configMapKeyRef", fp);

			n++;
			v_key_selector(obj_of(from, "configMapKeyRef"), p, o);
		}
		if (obj_of(from, "secretKeyRef")) {
			cleanup_free char *p = P("%s.secretKeyRef", fp);

			n++;
			v_key_selector(obj_of(from, "secretKeyRef"), p, o);
		}
		if (n == 0)
			add_invalid_str(o, fp, "",
					"must specify one of: `fieldRef`, `resourceFieldRef`, "
					"`configMapKeyRef` or `secretKeyRef`");
		else if (*str0(ev, "value"))
			add_invalid_str(o, fp, "",
					"may not be specified when `value` is not empty");
		else if (n > 1)
			add_invalid_str(o, fp, "",
					"may not have more than one field specified at a time");
	}
}

static void v_env_from(const json_t *list, const char *path, struct causes *o)
{
	static const char *const refs[] = {"configMapRef", "secretRef"};
	json_t *ev;
	size_t i;

	json_array_foreach (list, i, ev) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		size_t n = 0;

		if (*str0(ev, "prefix")) {
			cleanup_free char *p = P("%s.prefix", ip);

			v_env_name(str0(ev, "prefix"), p, o);
		}
		for (size_t k = 0; k < 2; k++) {
			const json_t *ref = obj_of(ev, refs[k]);
			cleanup_free char *np = P("%s.%s.name", ip, refs[k]);

			if (!ref)
				continue;
			n++;
			if (!*str0(ref, "name")) {
				add_required(o, np, NULL);
			} else {
				cleanup_free char *masked = mask_trailing_dash(str0(ref, "name"));
				const char *m[6];
				size_t c = typed_name_check(TYPED_DNS1123_SUBDOMAIN, masked, m);

				for (size_t j = 0; j < c; j++)
					add_invalid_str(o, np, str0(ref, "name"), m[j]);
			}
		}
		if (n == 0)
			add_invalid_str(o, path, "",
					"must specify one of: `configMapRef` or `secretRef`");
		else if (n > 1)
			add_invalid_str(o, path, "",
					"may not have more than one field specified at a time");
	}
}

static void v_mounts(const json_t *c, const json_t *vols, const char *path, struct causes *o)
{
	static const char *const props[] = {"Bidirectional", "HostToContainer", "None", NULL};
	json_t *points = json_object(), *m;
	bool privileged = json_is_true(json_object_get(obj_of(c, "securityContext"), "privileged"));
	size_t i;

	json_array_foreach (arr_of(c, "volumeMounts"), i, m) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		cleanup_free char *np = P("%s.name", ip);
		cleanup_free char *mp = P("%s.mountPath", ip);
		const char *name = str0(m, "name"), *mpath = str0(m, "mountPath");
		const char *prop = str_of(m, "mountPropagation");

		if (!*name)
			add_required(o, np, NULL);
		if (!json_object_get(vols, name))
			add_not_found_str(o, np, name);
		if (!*mpath)
			add_required(o, mp, NULL);
		if (json_object_get(points, mpath))
			add_invalid_str(o, mp, mpath, "must be unique");
		json_object_set_new(points, mpath, json_true());
		if (*str0(m, "subPath")) {
			cleanup_free char *p = P("%s.subPath", path);

			v_local_descending(str0(m, "subPath"), p, o);
		}
		if (*str0(m, "subPathExpr")) {
			cleanup_free char *sp = P("%s.subPathExpr", ip);
			cleanup_free char *p = P("%s.subPathExpr", path);

			if (*str0(m, "subPath"))
				add_invalid_str(o, sp, str0(m, "subPathExpr"),
						"subPathExpr and subPath are mutually exclusive");
			v_local_descending(str0(m, "subPathExpr"), p, o);
		}
		if (prop) {
			cleanup_free char *p = P("%s.mountPropagation", path);

			if (!in_list(prop, props))
				add_unsupported_str(o, p, prop, props);
			if (streq(prop, "Bidirectional") && !privileged)
				add_forbidden(
					o, p,
					"Bidirectional mount propagation is available only to "
					"privileged containers");
		}
	}
	json_decref(points);
}

static void v_handler(const json_t *h, const char *path, bool sleep_ok, json_int_t grace,
		      struct causes *o)
{
	static const char *const kinds[] = {"exec", "httpGet", "tcpSocket", "grpc", "sleep"};
	static const char *const schemes[] = {"HTTP", "HTTPS", NULL};
	size_t n = 0;

	for (size_t k = 0; k < 5; k++) {
		const json_t *a = json_object_get(h, kinds[k]);
		cleanup_free char *kp = P("%s.%s", path, kinds[k]);

		if (!a || json_is_null(a) || (k == 3 && sleep_ok) || (k == 4 && !sleep_ok))
			continue;
		if (n > 0) {
			add_forbidden(o, kp, "may not specify more than 1 handler type");
			continue;
		}
		n++;
		if (k == 0 && json_array_size(json_object_get(a, "command")) == 0) {
			cleanup_free char *p = P("%s.command", kp);

			add_required(o, p, NULL);
		} else if (k == 1) {
			cleanup_free char *pp = P("%s.path", kp);
			cleanup_free char *portp = P("%s.port", kp);
			cleanup_free char *sp = P("%s.scheme", kp);

			if (!*str0(a, "path"))
				add_required(o, pp, NULL);
			v_port_num_or_name(json_object_get(a, "port"), portp, o);
			if (!in_list(str0(a, "scheme"), schemes))
				add_unsupported_str(o, sp, str0(a, "scheme"), schemes);
		} else if (k == 2 || k == 3) {
			cleanup_free char *portp = P("%s.port", kp);

			v_port_num_or_name(json_object_get(a, "port"), portp, o);
		} else if (k == 4) {
			json_int_t secs = int0(a, "seconds");

			if (secs < 0 || secs > grace) {
				cleanup_free char *msg = P("must be non-negative and less than "
							   "terminationGracePeriodSeconds (%lld)",
							   (long long)grace);

				add_invalid_int(o, kp, secs, msg);
			}
		}
	}
	if (n == 0)
		add_required(o, path, "must specify a handler type");
}

static void v_probe(const json_t *c, const char *key, const char *path, json_int_t grace,
		    struct causes *o)
{
	static const char *const ints[] = {"initialDelaySeconds", "timeoutSeconds", "periodSeconds",
					   "successThreshold", "failureThreshold"};
	const json_t *p = obj_of(c, key);
	cleanup_free char *pp = P("%s.%s", path, key);
	json_int_t v;

	if (!p)
		return;
	v_handler(p, pp, false, grace, o);
	for (size_t i = 0; i < 5; i++)
		nonneg(p, ints[i], pp, o);
	if (int_of(p, "terminationGracePeriodSeconds", &v) && v <= 0) {
		cleanup_free char *f = P("%s.terminationGracePeriodSeconds", pp);

		add_invalid_int(o, f, v, "must be greater than 0");
	}
	if (!streq(key, "readinessProbe") && int0(p, "successThreshold") != 1) {
		cleanup_free char *f = P("%s.successThreshold", pp);

		add_invalid_int(o, f, int0(p, "successThreshold"), "must be 1");
	}
	if (streq(key, "readinessProbe") && present(p, "terminationGracePeriodSeconds")) {
		cleanup_free char *f = P("%s.terminationGracePeriodSeconds", pp);

		add_invalid_int(o, f, int0(p, "terminationGracePeriodSeconds"),
				"must not be set for readinessProbes");
	}
}

static void v_lifecycle(const json_t *c, const char *path, json_int_t grace, struct causes *o)
{
	const json_t *lc = obj_of(c, "lifecycle");
	static const char *const hooks[] = {"postStart", "preStop"};

	for (size_t i = 0; i < 2; i++) {
		const json_t *h = obj_of(lc, hooks[i]);
		cleanup_free char *p = P("%s.lifecycle.%s", path, hooks[i]);

		if (h)
			v_handler(h, p, true, grace, o);
	}
}

static void v_container_common(const json_t *c, const json_t *vols, const char *path,
			       struct causes *o)
{
	static const char *const tmps[] = {"File", "FallbackToLogsOnError", NULL};
	static const char *const pulls[] = {"Always", "IfNotPresent", "Never", NULL};
	cleanup_free char *np = P("%s.name", path);
	cleanup_free char *ip = P("%s.image", path);
	cleanup_free char *tp = P("%s.terminationMessagePolicy", path);
	cleanup_free char *portsp = P("%s.ports", path);
	cleanup_free char *envp = P("%s.env", path);
	cleanup_free char *efp = P("%s.envFrom", path);
	cleanup_free char *vmp = P("%s.volumeMounts", path);
	cleanup_free char *pp = P("%s.imagePullPolicy", path);
	cleanup_free char *rp = P("%s.resources", path);
	const char *name = str0(c, "name"), *tmp = str0(c, "terminationMessagePolicy");
	const char *pull = str0(c, "imagePullPolicy");

	if (!*name)
		add_required(o, np, NULL);
	else
		names_invalid(TYPED_DNS1123_LABEL, name, np, o);
	if (!*str0(c, "image"))
		add_required(o, ip, NULL);
	if (!*tmp)
		add_required(o, tp, NULL);
	else if (!in_list(tmp, tmps))
		add_unsupported_str(o, tp, tmp, tmps);
	v_container_ports(arr_of(c, "ports"), portsp, o);
	v_env(arr_of(c, "env"), envp, o);
	v_env_from(arr_of(c, "envFrom"), efp, o);
	v_mounts(c, vols, vmp, o);
	if (!*pull)
		add_required(o, pp, NULL);
	else if (!in_list(pull, pulls))
		add_unsupported_str(o, pp, pull, pulls);
	v_resources(obj_of(c, "resources"), rp, o);
}

static void host_ports(const json_t *containers, const char *path, json_t *seen, struct causes *o)
{
	json_t *c, *port;
	size_t i, j;

	json_array_foreach (containers, i, c) {
		json_array_foreach (arr_of(c, "ports"), j, port) {
			json_int_t hp = int0(port, "hostPort");
			cleanup_free char *key = NULL;

			if (hp == 0)
				continue;
			key = P("%s/%s/%lld", str0(port, "protocol"), str0(port, "hostIP"),
				(long long)hp);
			if (json_object_get(seen, key)) {
				cleanup_free char *p = P("%s[%zu].ports[%zu].hostPort", path, i, j);

				add_duplicate_str(o, p, key);
			} else {
				json_object_set_new(seen, key, json_true());
			}
		}
	}
}

static void v_containers(const json_t *spec, const json_t *vols, const char *path, json_int_t grace,
			 struct causes *o)
{
	const json_t *list = arr_of(spec, "containers");
	cleanup_free char *lp = P("%s.containers", path);
	json_t *names = json_object(), *ports = json_object(), *c;
	size_t i;

	if (json_array_size(list) == 0) {
		add_required(o, lp, NULL);
		json_decref(names);
		json_decref(ports);
		return;
	}
	json_array_foreach (list, i, c) {
		cleanup_free char *cp = P("%s[%zu]", lp, i);
		cleanup_free char *np = P("%s.name", cp);
		const char *name = str0(c, "name");

		v_container_common(c, vols, cp, o);
		if (json_object_get(names, name))
			add_duplicate_str(o, np, name);
		else
			json_object_set_new(names, name, json_true());
		v_lifecycle(c, cp, grace, o);
		v_probe(c, "livenessProbe", cp, grace, o);
		v_probe(c, "readinessProbe", cp, grace, o);
		v_probe(c, "startupProbe", cp, grace, o);
		if (present(c, "restartPolicy")) {
			cleanup_free char *rp = P("%s.restartPolicy", cp);

			add_forbidden(o, rp, "may not be set for non-init containers");
		}
	}
	host_ports(list, lp, ports, o);
	json_decref(ports);
	json_decref(names);
}

static void v_init_containers(const json_t *spec, const json_t *vols, const char *path,
			      json_int_t grace, struct causes *o)
{
	static const char *const always[] = {"Always", NULL};
	static const char *const forbidden[] = {"lifecycle", "livenessProbe", "readinessProbe",
						"startupProbe"};
	json_t *names = json_object(), *c;
	cleanup_free char *lp = P("%s.initContainers", path);
	size_t i;

	json_array_foreach (arr_of(spec, "containers"), i, c)
		json_object_set_new(names, str0(c, "name"), json_true());
	json_array_foreach (arr_of(spec, "initContainers"), i, c) {
		cleanup_free char *cp = P("%s[%zu]", lp, i);
		cleanup_free char *np = P("%s.name", cp);
		const char *name = str0(c, "name"), *rp = str_of(c, "restartPolicy");
		bool restart_always = streq(rp, "Always");
		json_t *one = json_array(), *seen = json_object();

		v_container_common(c, vols, cp, o);
		if (rp && !restart_always) {
			cleanup_free char *f = P("%s.restartPolicy", cp);

			add_unsupported_str(o, f, rp, always);
		}
		if (json_object_get(names, name))
			add_duplicate_str(o, np, name);
		else if (*name)
			json_object_set_new(names, name, json_true());
		json_array_append(one, c);
		host_ports(one, lp, seen, o);
		json_decref(one);
		json_decref(seen);
		if (restart_always) {
			v_lifecycle(c, cp, grace, o);
			v_probe(c, "livenessProbe", cp, grace, o);
			v_probe(c, "readinessProbe", cp, grace, o);
			v_probe(c, "startupProbe", cp, grace, o);
			continue;
		}
		for (size_t k = 0; k < 4; k++) {
			cleanup_free char *f = P("%s.%s", cp, forbidden[k]);

			if (present(c, forbidden[k]))
				add_forbidden(o, f,
					      "may not be set for init containers without "
					      "restartPolicy=Always");
		}
	}
	json_decref(names);
}

static void v_tolerations(const json_t *tols, const char *path, struct causes *o)
{
	static const char *const ops[] = {"Equal", "Exists", NULL};
	static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
	json_t *t;
	size_t i;

	json_array_foreach (tols, i, t) {
		cleanup_free char *ip = P("%s[%zu]", path, i);
		cleanup_free char *kp = P("%s.key", ip);
		cleanup_free char *op = P("%s.operator", ip);
		cleanup_free char *ep = P("%s.effect", ip);
		const char *key = str0(t, "key"), *oper = str0(t, "operator");
		const char *effect = str0(t, "effect"), *value = str0(t, "value");

		if (*key)
			v_label_key(key, kp, o);
		if (!*key && !streq(oper, "Exists"))
			add_invalid_str(o, op, oper,
					"operator must be Exists when `key` is empty, which means "
					"\"match all values and all keys\"");
		if (present(t, "tolerationSeconds") && !streq(effect, "NoExecute"))
			add_invalid_str(
				o, ep, effect,
				"effect must be 'NoExecute' when `tolerationSeconds` is set");
		if (!*oper || streq(oper, "Equal")) {
			const char *why = NULL;

			if (!label_value_valid(value, &why))
				add_invalid_str(o, op, value, why);
		} else if (streq(oper, "Exists")) {
			if (*value)
				add_invalid_str(o, op, value,
						"value must be empty when `operator` is 'Exists'");
		} else {
			add_unsupported_str(o, op, oper, ops);
		}
		if (*effect && !in_list(effect, effects))
			add_unsupported_str(o, ep, effect, effects);
	}
}

/* ValidatePodSpec; @pod when the spec is a Pod's, not a template's */
static void v_pod_spec(const json_t *spec, const char *path, bool pod, struct causes *o)
{
	static const char *const restarts[] = {"Always", "OnFailure", "Never", NULL};
	static const char *const dns[] = {"ClusterFirstWithHostNet", "ClusterFirst", "Default",
					  "None", NULL};
	static const char *const preempt[] = {"PreemptLowerPriority", "Never", NULL};
	cleanup_free char *vp = P("%s.volumes", path);
	json_t *vols;
	json_int_t grace = 30, v;
	const char *s;

	if (!int_of(spec, "terminationGracePeriodSeconds", &grace)) {
		cleanup_free char *p = P("%s.terminationGracePeriodSeconds", path);

		add_required(o, p, NULL);
		grace = 30;
	}
	vols = v_volumes(arr_of(spec, "volumes"), vp, o);
	v_containers(spec, vols, path, grace, o);
	v_init_containers(spec, vols, path, grace, o);
	json_decref(vols);

	if (json_is_true(json_object_get(spec, "hostNetwork"))) {
		json_t *c, *port;
		size_t i, j;

		json_array_foreach (arr_of(spec, "containers"), i, c) {
			json_array_foreach (arr_of(c, "ports"), j, port) {
				json_int_t hp = int0(port, "hostPort"),
					   cp = int0(port, "containerPort");

				if ((pod || hp != 0) && hp != cp) {
					cleanup_free char *p =
						P("%s.containers[%zu].ports[%zu].hostPort", path, i,
						  j);

					add_invalid_int(
						o, p, hp,
						"must match `containerPort` when `hostNetwork` "
						"is true");
				}
			}
		}
	}
	{
		cleanup_free char *p = P("%s.restartPolicy", path);

		s = str0(spec, "restartPolicy");
		if (!*s)
			add_required(o, p, NULL);
		else if (!in_list(s, restarts))
			add_unsupported_str(o, p, s, restarts);
	}
	{
		cleanup_free char *p = P("%s.dnsPolicy", path);

		s = str0(spec, "dnsPolicy");
		if (!*s)
			add_required(o, p, NULL);
		else if (!in_list(s, dns))
			add_unsupported_str(o, p, s, dns);
		if (streq(s, "None") && !obj_of(spec, "dnsConfig")) {
			cleanup_free char *dp = P("%s.dnsConfig", path);

			add_required(o, dp, "must provide `dnsConfig` when `dnsPolicy` is None");
		}
	}
	{
		cleanup_free char *p = P("%s.nodeSelector", path);

		v_labels(obj_of(spec, "nodeSelector"), p, o);
	}
	if (*(s = str0(spec, "serviceAccountName"))) {
		cleanup_free char *p = P("%s.serviceAccountName", path);

		names_invalid(TYPED_DNS1123_SUBDOMAIN, s, p, o);
	}
	if (*(s = str0(spec, "nodeName"))) {
		cleanup_free char *p = P("%s.nodeName", path);

		names_invalid(TYPED_DNS1123_SUBDOMAIN, s, p, o);
	}
	if (int_of(spec, "activeDeadlineSeconds", &v) && (v < 1 || v > MAX_INT32)) {
		cleanup_free char *p = P("%s.activeDeadlineSeconds", path);

		add_invalid_int(o, p, v, "must be between 1 and 2147483647, inclusive");
	}
	if (*(s = str0(spec, "hostname"))) {
		cleanup_free char *p = P("%s.hostname", path);

		names_invalid(TYPED_DNS1123_LABEL, s, p, o);
	}
	if (*(s = str0(spec, "subdomain"))) {
		cleanup_free char *p = P("%s.subdomain", path);

		names_invalid(TYPED_DNS1123_LABEL, s, p, o);
	}
	{
		cleanup_free char *p = P("%s.tolerations", path);

		v_tolerations(arr_of(spec, "tolerations"), p, o);
	}
	if (*(s = str0(spec, "priorityClassName"))) {
		cleanup_free char *p = P("%s.priorityClassName", path);

		names_invalid(TYPED_DNS1123_SUBDOMAIN, s, p, o);
	}
	if ((s = str_of(spec, "preemptionPolicy"))) {
		cleanup_free char *p = P("%s.preemptionPolicy", path);

		if (!*s)
			add_required(o, p, NULL);
		else if (!in_list(s, preempt))
			add_unsupported_str(o, p, s, preempt);
	}
}

/* ValidatePodTemplateSpec at @path ("spec.template") */
static void v_pod_template(const json_t *tmpl, const char *path, struct causes *o)
{
	const json_t *meta = obj_of(tmpl, "metadata");
	cleanup_free char *lp = P("%s.labels", path);
	cleanup_free char *ap = P("%s.annotations", path);
	cleanup_free char *sp = P("%s.spec", path);

	v_labels(obj_of(meta, "labels"), lp, o);
	v_annotations(obj_of(meta, "annotations"), ap, o);
	v_pod_spec(obj_of(tmpl, "spec"), sp, false, o);
	if (json_array_size(json_object_get(obj_of(tmpl, "spec"), "ephemeralContainers")) > 0) {
		cleanup_free char *p = P("%s.spec.ephemeralContainers", path);

		add_forbidden(o, p, "ephemeral containers not allowed in pod template");
	}
}

static void v_image_spaces(const json_t *spec, const char *list, struct causes *o)
{
	json_t *c;
	size_t i;

	json_array_foreach (arr_of(spec, list), i, c) {
		const char *img = str0(c, "image");
		size_t n = strlen(img);

		if (n && (isspace((unsigned char)img[0]) || isspace((unsigned char)img[n - 1]))) {
			cleanup_free char *p = P("spec.%s[%zu].image", list, i);

			add_invalid_str(o, p, img, "must not have leading or trailing whitespace");
		}
	}
}

/* ---- pods --------------------------------------------------------------------------------- */

static bool container_updates(const json_t *spec, const json_t *ospec, const char *list,
			      struct causes *o)
{
	const json_t *n = arr_of(spec, list), *old = arr_of(ospec, list);
	cleanup_free char *lp = P("spec.%s", list);
	json_t *c;
	size_t i;

	if (json_array_size(n) != json_array_size(old)) {
		add_forbidden(o, lp, "pod updates may not add or remove containers");
		return false;
	}
	json_array_foreach (n, i, c) {
		cleanup_free char *p = P("%s[%zu].image", lp, i);
		const char *img = str0(c, "image");
		size_t len = strlen(img);

		if (!len)
			add_required(o, p, NULL);
		if (len && (isspace((unsigned char)img[0]) || isspace((unsigned char)img[len - 1])))
			add_invalid_str(o, p, img, "must not have leading or trailing whitespace");
	}
	return true;
}

/* Members of @o other than tolerationSeconds. */
static size_t members_but_seconds(const json_t *o)
{
	return json_object_size(o) - (json_object_get(o, "tolerationSeconds") != NULL);
}

/*
 * Whether @t is @ot with only its tolerationSeconds changed (set, or removed): @ot with
 * @t's tolerationSeconds in place of its own equals @t. A null one in @t never matches, as
 * the value put in its place would be missing.
 */
static bool toleration_same_but_seconds(const json_t *ot, const json_t *t)
{
	const char *k;
	json_t *v;

	if (!json_is_object(ot) || !json_is_object(t))
		return json_equal(ot, t);
	if (json_is_null(json_object_get(t, "tolerationSeconds")) ||
	    members_but_seconds(ot) != members_but_seconds(t))
		return false;
	json_object_foreach ((json_t *)ot, k, v) {
		if (strcmp(k, "tolerationSeconds") != 0 && !json_equal(v, json_object_get(t, k)))
			return false;
	}
	return true;
}

static bool tolerations_kept(const json_t *tols, const json_t *otols)
{
	json_t *ot, *t;
	size_t i, j;

	json_array_foreach (otols, i, ot) {
		bool found = false;

		json_array_foreach (tols, j, t) {
			found = toleration_same_but_seconds(ot, t);
			if (found)
				break;
		}
		if (!found)
			return false;
	}
	return true;
}

static void v_pod_update(const json_t *obj, const json_t *old, struct causes *o)
{
	const json_t *spec = obj_of(obj, "spec"), *ospec = obj_of(old, "spec");
	json_int_t ads, oads;
	bool has_ads, has_oads;
	json_t *munged, *c;
	size_t i;

	if (!container_updates(spec, ospec, "containers", o) ||
	    !container_updates(spec, ospec, "initContainers", o))
		return;
	has_ads = int_of(spec, "activeDeadlineSeconds", &ads);
	has_oads = int_of(ospec, "activeDeadlineSeconds", &oads);
	if (has_ads) {
		if (ads < 0 || ads > MAX_INT32) {
			add_invalid_int(o, "spec.activeDeadlineSeconds", ads,
					"must be between 0 and 2147483647, inclusive");
			return;
		}
		if (has_oads && oads < ads) {
			add_invalid_int(o, "spec.activeDeadlineSeconds", ads,
					"must be less than or equal to previous value");
			return;
		}
	} else if (has_oads) {
		add_invalid_str(o, "spec.activeDeadlineSeconds", "null",
				"must not update from a positive integer to nil value");
	}
	if (!tolerations_kept(arr_of(spec, "tolerations"), arr_of(ospec, "tolerations")))
		add_forbidden(
			o, "spec.tolerations",
			"existing toleration can not be modified except its tolerationSeconds");
	else
		v_tolerations(arr_of(spec, "tolerations"), "spec.tolerations", o);
	if (json_equal(spec, ospec))
		return;

	munged = json_deep_copy(spec);
	if (!munged)
		munged = json_object();
	static const char *const lists[] = {"containers", "initContainers"};
	for (size_t l = 0; l < 2; l++) {
		json_array_foreach (json_object_get(munged, lists[l]), i, c) {
			json_t *oc = json_array_get(json_object_get(ospec, lists[l]), i);

			if (json_object_get(oc, "image"))
				json_object_set(c, "image", json_object_get(oc, "image"));
			else
				json_object_del(c, "image");
		}
	}
	static const char *const carried[] = {"activeDeadlineSeconds", "schedulingGates",
					      "tolerations"};
	for (size_t k = 0; k < 3; k++) {
		if (json_object_get(ospec, carried[k]))
			json_object_set(munged, carried[k], json_object_get(ospec, carried[k]));
		else
			json_object_del(munged, carried[k]);
	}
	if (int0(ospec, "terminationGracePeriodSeconds") < 0 &&
	    int0(munged, "terminationGracePeriodSeconds") == 1)
		json_object_set(munged, "terminationGracePeriodSeconds",
				json_object_get(ospec, "terminationGracePeriodSeconds"));
	if (!json_equal(munged, ospec))
		add_forbidden(o, "spec", MSG_POD_UPDATE);
	json_decref(munged);
}

/* ---- workloads ---------------------------------------------------------------------------- */

static void restart_always_only(const json_t *tmpl, const char *path, const char *kind,
				struct causes *o)
{
	static const char *const always[] = {"Always", NULL};
	const json_t *spec = obj_of(tmpl, "spec");
	const char *rp = str0(spec, "restartPolicy");

	if (!streq(rp, "Always")) {
		cleanup_free char *p = P("%s.spec.restartPolicy", path);

		add_unsupported_str(o, p, rp, always);
	}
	if (present(spec, "activeDeadlineSeconds")) {
		cleanup_free char *p = P("%s.spec.activeDeadlineSeconds", path);
		cleanup_free char *msg = P("activeDeadlineSeconds in %s is not Supported", kind);

		add_forbidden(o, p, msg);
	}
}

static void template_match(const json_t *sel, const json_t *tmpl, const char *path,
			   struct causes *o)
{
	const json_t *labels = obj_of(obj_of(tmpl, "metadata"), "labels");

	if (!sel_matches(sel, labels)) {
		cleanup_free char *p = P("%s.metadata.labels", path);
		cleanup_free char *shown = go_map(labels);

		add_invalid(o, p, shown, MSG_NO_MATCH);
	}
}

/* The selector of apps/v1 kinds: required, valid and not empty; reports whether usable. */
static bool v_apps_selector(const json_t *spec, const char *what, struct causes *o)
{
	const json_t *sel = obj_of(spec, "selector");
	size_t before = o->n;

	if (!sel) {
		add_required(o, "spec.selector", NULL);
		return false;
	}
	v_selector(sel, "spec.selector", o);
	if (sel_empty(sel)) {
		cleanup_free char *shown = go_selector(sel);
		cleanup_free char *msg = P("empty selector is invalid for %s", what);

		add_invalid(o, "spec.selector", shown, msg);
	}
	return o->n == before;
}

static bool int_or_percent(const json_t *v, const char *path, json_int_t *ret, struct causes *o)
{
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = strlen(s), i;

		for (i = 0; i + 1 < n && isdigit((unsigned char)s[i]); i++)
			;
		if (n < 2 || i != n - 1 || s[n - 1] != '%') {
			cleanup_free char *shown = go_intstr(v);

			add_invalid(o, path, shown, MSG_PERCENT);
			*ret = 0;
			return false;
		}
		*ret = strtoll(s, NULL, 10);
		if (*ret > 100) {
			cleanup_free char *shown = go_intstr(v);

			add_invalid(o, path, shown, "must not be greater than 100%");
		}
		return true;
	}
	*ret = json_is_integer(v) ? json_integer_value(v) : 0;
	if (*ret < 0)
		add_invalid_int(o, path, *ret, MSG_NEGATIVE);
	return true;
}

static void v_deployment_strategy(const json_t *spec, struct causes *o)
{
	static const char *const types[] = {"Recreate", "RollingUpdate", NULL};
	const json_t *st = obj_of(spec, "strategy");
	const char *type = str0(st, "type");

	if (streq(type, "Recreate")) {
		if (present(st, "rollingUpdate"))
			add_forbidden(o, "spec.strategy.rollingUpdate",
				      "may not be specified when strategy `type` is 'Recreate'");
	} else if (streq(type, "RollingUpdate")) {
		const json_t *ru = obj_of(st, "rollingUpdate");
		json_t *mu, *ms;
		json_int_t u = 0, s = 0;

		if (!ru) {
			add_required(o, "spec.strategy.rollingUpdate",
				     "this should be defaulted and never be nil");
			return;
		}
		mu = json_object_get(ru, "maxUnavailable");
		ms = json_object_get(ru, "maxSurge");
		int_or_percent(mu, "spec.strategy.rollingUpdate.maxUnavailable", &u, o);
		{
			struct causes again = {0};

			/* the 100% check runs for maxUnavailable only; don't repeat it */
			int_or_percent(ms, "spec.strategy.rollingUpdate.maxSurge", &s, &again);
			for (size_t i = 0; i < again.n; i++)
				if (strstr(again.v[i].message, "100%") == NULL)
					causes_add(o, again.v[i].type, again.v[i].field, "%s",
						   again.v[i].message);
			causes_free(&again);
		}
		if (u == 0 && s == 0) {
			cleanup_free char *shown = go_intstr(mu);

			add_invalid(o, "spec.strategy.rollingUpdate.maxUnavailable", shown,
				    "may not be 0 when `maxSurge` is 0");
		}
	} else {
		cleanup_free char *q = goq(type);
		cleanup_free char *shown =
			P("apps.DeploymentStrategy{Type:%s, RollingUpdate:(*apps."
			  "RollingUpdateDeployment)(nil)}",
			  q);

		add_unsupported(o, "spec.strategy", shown, types);
	}
}

static void selector_immutable(const json_t *spec, const json_t *ospec, struct causes *o)
{
	if (!json_equal(json_object_get(spec, "selector"), json_object_get(ospec, "selector"))) {
		cleanup_free char *shown = go_selector(obj_of(spec, "selector"));

		add_invalid(o, "spec.selector", shown, MSG_IMMUTABLE);
	}
}

static void v_replicaset_like(const json_t *obj, const json_t *old, bool deployment,
			      struct causes *o)
{
	const json_t *spec = obj_of(obj, "spec"), *tmpl = obj_of(spec, "template");
	json_int_t pds, mrs = int0(spec, "minReadySeconds");

	nonneg(spec, "replicas", "spec", o);
	if (!deployment)
		nonneg(spec, "minReadySeconds", "spec", o);
	if (v_apps_selector(spec, "deployment", o) && !sel_empty(obj_of(spec, "selector")))
		template_match(obj_of(spec, "selector"), tmpl, "spec.template", o);
	v_pod_template(tmpl, "spec.template", o);
	restart_always_only(tmpl, "spec.template", "ReplicaSet", o);
	if (deployment) {
		v_deployment_strategy(spec, o);
		nonneg(spec, "minReadySeconds", "spec", o);
		nonneg(spec, "revisionHistoryLimit", "spec", o);
		nonneg(spec, "progressDeadlineSeconds", "spec", o);
		if (int_of(spec, "progressDeadlineSeconds", &pds) && pds <= mrs)
			add_invalid_int(o, "spec.progressDeadlineSeconds", pds,
					"must be greater than minReadySeconds");
	}
	if (old)
		selector_immutable(spec, obj_of(old, "spec"), o);
}

static void v_daemonset(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const types[] = {"RollingUpdate", "OnDelete", NULL};
	const json_t *spec = obj_of(obj, "spec"), *tmpl = obj_of(spec, "template");
	const json_t *sel = obj_of(spec, "selector"), *st = obj_of(spec, "updateStrategy");
	const char *type = str0(st, "type");

	if (!sel)
		add_required(o, "spec.selector", NULL);
	else
		v_selector(sel, "spec.selector", o);
	template_match(sel, tmpl, "spec.template", o);
	if (sel && sel_empty(sel)) {
		cleanup_free char *shown = go_selector(sel);

		add_invalid(o, "spec.selector", shown, "empty selector is invalid for daemonset");
	}
	v_pod_template(tmpl, "spec.template", o);
	restart_always_only(tmpl, "spec.template", "DaemonSet", o);
	nonneg(spec, "minReadySeconds", "spec", o);
	if (streq(type, "RollingUpdate")) {
		const json_t *ru = obj_of(st, "rollingUpdate");
		json_int_t u = 0, s = 0;

		if (!ru) {
			add_required(o, "spec.updateStrategy.rollingUpdate", NULL);
		} else {
			json_t *mu = json_object_get(ru, "maxUnavailable");
			json_t *ms = json_object_get(ru, "maxSurge");

			int_or_percent(mu, "spec.updateStrategy.rollingUpdate.maxUnavailable", &u,
				       o);
			int_or_percent(ms, "spec.updateStrategy.rollingUpdate.maxSurge", &s, o);
			if (u != 0 && s != 0) {
				cleanup_free char *shown = go_intstr(ms);

				add_invalid(o, "spec.updateStrategy.rollingUpdate.maxSurge", shown,
					    "may not be set when maxUnavailable is non-zero");
			} else if (u == 0 && s == 0) {
				add_required(o, "spec.updateStrategy.rollingUpdate.maxUnavailable",
					     "cannot be 0 when maxSurge is 0");
			}
		}
	} else if (!streq(type, "OnDelete")) {
		cleanup_free char *q = goq(type);
		cleanup_free char *shown =
			P("apps.DaemonSetUpdateStrategy{Type:%s, RollingUpdate:(*apps."
			  "RollingUpdateDaemonSet)(nil)}",
			  q);

		add_unsupported(o, "spec.updateStrategy", shown, types);
	}
	nonneg(spec, "revisionHistoryLimit", "spec", o);
	if (old)
		selector_immutable(spec, obj_of(old, "spec"), o);
}

static void v_statefulset(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const retention[] = {"Retain", "Delete", NULL};
	const json_t *spec = obj_of(obj, "spec"), *tmpl = obj_of(spec, "template");
	const json_t *st = obj_of(spec, "updateStrategy"), *sel = obj_of(spec, "selector");
	const json_t *pol = obj_of(spec, "persistentVolumeClaimRetentionPolicy");
	const char *pmp = str0(spec, "podManagementPolicy"), *type = str0(st, "type");

	if (!*pmp)
		add_required(o, "spec.podManagementPolicy", NULL);
	else if (!streq(pmp, "OrderedReady") && !streq(pmp, "Parallel"))
		add_invalid_str(o, "spec.podManagementPolicy", pmp,
				"must be 'OrderedReady' or 'Parallel'");
	if (!*type) {
		add_required(o, "spec.updateStrategy", NULL);
	} else if (streq(type, "OnDelete")) {
		if (present(st, "rollingUpdate")) {
			cleanup_free char *shown = json_text(json_object_get(st, "rollingUpdate"));

			add_invalid(o, "spec.updateStrategy.rollingUpdate", shown,
				    "only allowed for updateStrategy 'RollingUpdate'");
		}
	} else if (streq(type, "RollingUpdate")) {
		nonneg(obj_of(st, "rollingUpdate"), "partition",
		       "spec.updateStrategy.rollingUpdate", o);
	} else {
		cleanup_free char *shown = json_text(st);

		add_invalid(o, "spec.updateStrategy", shown,
			    "must be 'RollingUpdate' or 'OnDelete'");
	}
	if (pol) {
		static const char *const keys[] = {"whenDeleted", "whenScaled"};

		for (size_t i = 0; i < 2; i++) {
			cleanup_free char *p =
				P("spec.persistentVolumeClaimRetentionPolicy.%s", keys[i]);

			if (!in_list(str0(pol, keys[i]), retention))
				add_unsupported_str(o, p, str0(pol, keys[i]), retention);
		}
	}
	nonneg(spec, "replicas", "spec", o);
	nonneg(spec, "minReadySeconds", "spec", o);
	if (!sel) {
		add_required(o, "spec.selector", NULL);
	} else {
		v_selector(sel, "spec.selector", o);
		if (sel_empty(sel)) {
			cleanup_free char *shown = go_selector(sel);

			add_invalid(o, "spec.selector", shown,
				    "empty selector is invalid for statefulset");
		} else {
			template_match(sel, tmpl, "spec.template", o);
		}
	}
	/* upstream checks only the template's metadata here, not its pod spec */
	{
		const json_t *meta = obj_of(tmpl, "metadata");

		v_labels(obj_of(meta, "labels"), "spec.template.labels", o);
		v_annotations(obj_of(meta, "annotations"), "spec.template.annotations", o);
	}
	restart_always_only(tmpl, "spec.template", "StatefulSet", o);
	if (old) {
		static const char *const mutable_[] = {"replicas",
						       "ordinals",
						       "template",
						       "updateStrategy",
						       "persistentVolumeClaimRetentionPolicy",
						       "minReadySeconds"};
		json_t *a = json_deep_copy(spec), *b = json_deep_copy(obj_of(old, "spec"));

		for (size_t i = 0; i < sizeof(mutable_) / sizeof(mutable_[0]); i++) {
			json_object_del(a, mutable_[i]);
			json_object_del(b, mutable_[i]);
		}
		if (!json_equal(a, b))
			add_forbidden(
				o, "spec",
				"updates to statefulset spec for fields other than 'replicas', "
				"'ordinals', 'template', 'updateStrategy', "
				"'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
				"are forbidden");
		json_decref(a);
		json_decref(b);
	}
}

/* validateJobSpec at @path ("spec" or "spec.jobTemplate.spec") */
static void v_job_spec(const json_t *spec, const char *path, struct causes *o)
{
	static const char *const modes[] = {"NonIndexed", "Indexed", NULL};
	static const char *const restarts[] = {"OnFailure", "Never", NULL};
	static const char *const ints[] = {"parallelism", "completions", "activeDeadlineSeconds",
					   "backoffLimit", "ttlSecondsAfterFinished"};
	const json_t *tmpl = obj_of(spec, "template");
	cleanup_free char *tp = P("%s.template", path);
	cleanup_free char *rp = P("%s.template.spec.restartPolicy", path);
	const char *mode = str_of(spec, "completionMode"), *restart;

	for (size_t i = 0; i < 5; i++)
		nonneg(spec, ints[i], path, o);
	if (mode && !in_list(mode, modes)) {
		cleanup_free char *p = P("%s.completionMode", path);

		add_unsupported_str(o, p, mode, modes);
	}
	if (streq(mode, "Indexed") && !present(spec, "completions")) {
		cleanup_free char *p = P("%s.completions", path);

		add_required(o, p, "when completion mode is Indexed");
	}
	v_pod_template(tmpl, tp, o);
	restart = str0(obj_of(tmpl, "spec"), "restartPolicy");
	if (!streq(restart, "OnFailure") && !streq(restart, "Never"))
		add_unsupported_str(o, rp, restart, restarts);
}

static void v_job(const json_t *obj, const json_t *old, struct causes *o)
{
	const json_t *spec = obj_of(obj, "spec"), *sel = obj_of(spec, "selector");
	const json_t *tmpl = obj_of(spec, "template"), *meta = obj_of(obj, "metadata");
	const char *uid = str0(meta, "uid");

	if (!sel)
		add_required(o, "spec.selector", NULL);
	else
		v_selector(sel, "spec.selector", o);
	if (sel)
		template_match(sel, tmpl, "spec.template", o);
	if (!json_is_true(json_object_get(spec, "manualSelector")) && *uid && sel) {
		json_t *want = json_pack("{s:{s:s}}", "matchLabels",
					 "batch.kubernetes.io/controller-uid", uid);

		if (!json_equal(want, sel)) {
			cleanup_free char *shown = go_selector(sel);

			add_invalid(o, "spec.selector", shown, "`selector` not auto-generated");
		}
		json_decref(want);
	}
	v_job_spec(spec, "spec", o);
	if (!old)
		return;
	{
		const json_t *ospec = obj_of(old, "spec");

		if (!json_equal(json_object_get(spec, "selector"),
				json_object_get(ospec, "selector"))) {
			cleanup_free char *shown = go_selector(sel);

			add_invalid(o, "spec.selector", shown, MSG_IMMUTABLE);
		}
		if (!json_equal(json_object_get(spec, "template"),
				json_object_get(ospec, "template"))) {
			cleanup_free char *shown = json_text(tmpl);

			add_invalid(o, "spec.template", shown, MSG_IMMUTABLE);
		}
		if (!json_equal(json_object_get(spec, "completions"),
				json_object_get(ospec, "completions")) &&
		    !streq(str0(spec, "completionMode"), "Indexed"))
			add_invalid_int(o, "spec.completions", int0(spec, "completions"),
					MSG_IMMUTABLE);
		if (!json_equal(json_object_get(spec, "completionMode"),
				json_object_get(ospec, "completionMode")))
			add_invalid_str(o, "spec.completionMode", str0(spec, "completionMode"),
					MSG_IMMUTABLE);
	}
}

static void v_cronjob(const json_t *obj, struct causes *o)
{
	static const char *const policies[] = {"Allow", "Forbid", "Replace", NULL};
	const json_t *spec = obj_of(obj, "spec"), *jt = obj_of(spec, "jobTemplate");
	const char *name = str0(obj_of(obj, "metadata"), "name"), *sched = str_of(spec, "schedule");
	const char *cp = str0(spec, "concurrencyPolicy");

	if (strlen(name) > 52)
		add_invalid_str(o, "metadata.name", name, "must be no more than 52 characters");
	if (!sched || !*sched) {
		add_required(o, "spec.schedule", NULL);
	} else {
		cleanup_free char *why = typed_cron_check(sched);

		if (why)
			add_invalid_str(o, "spec.schedule", sched, why);
		if (strstr(sched, "TZ"))
			add_invalid_str(o, "spec.schedule", sched,
					"cannot use TZ or CRON_TZ in schedule, use timeZone field "
					"instead");
	}
	if (!*cp)
		add_required(o, "spec.concurrencyPolicy", NULL);
	else if (!in_list(cp, policies))
		add_unsupported_str(o, "spec.concurrencyPolicy", cp, policies);
	nonneg(spec, "startingDeadlineSeconds", "spec", o);
	nonneg(spec, "successfulJobsHistoryLimit", "spec", o);
	nonneg(spec, "failedJobsHistoryLimit", "spec", o);
	v_labels(obj_of(obj_of(jt, "metadata"), "labels"), "spec.jobTemplate.metadata.labels", o);
	v_annotations(obj_of(obj_of(jt, "metadata"), "annotations"),
		      "spec.jobTemplate.metadata.annotations", o);
	v_job_spec(obj_of(jt, "spec"), "spec.jobTemplate.spec", o);
	if (present(obj_of(jt, "spec"), "selector")) {
		cleanup_free char *shown = go_selector(obj_of(obj_of(jt, "spec"), "selector"));

		add_invalid(o, "spec.jobTemplate.spec.selector", shown,
			    "`selector` will be auto-generated");
	}
	if (json_is_true(json_object_get(obj_of(jt, "spec"), "manualSelector"))) {
		static const char *const allowed[] = {"nil", "false", NULL};

		add_unsupported(o, "spec.jobTemplate.spec.manualSelector", "true", allowed);
	}
}

/* ---- services ----------------------------------------------------------------------------- */

static bool valid_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static void v_service_ports(const json_t *spec, bool clusterip_type, struct causes *o)
{
	const json_t *ports = arr_of(spec, "ports");
	const char *type = str0(spec, "type");
	bool external = streq(type, "NodePort") || streq(type, "LoadBalancer");
	json_t *names = json_object(), *seen = json_object(), *nodeports = json_object(), *port;
	size_t i;

	json_array_foreach (ports, i, port) {
		cleanup_free char *pp = P("spec.ports[%zu]", i);
		cleanup_free char *np = P("%s.name", pp);
		cleanup_free char *portp = P("%s.port", pp);
		cleanup_free char *tp = P("%s.targetPort", pp);
		cleanup_free char *npp = P("%s.nodePort", pp);
		cleanup_free char *key = NULL;
		const char *name = str0(port, "name");
		json_int_t num = int0(port, "port"), nodeport = int0(port, "nodePort");

		if (json_array_size(ports) > 1 && !*name) {
			add_required(o, np, NULL);
		} else if (*name) {
			names_invalid(TYPED_DNS1123_LABEL, name, np, o);
			if (json_object_get(names, name))
				add_duplicate_str(o, np, name);
			else
				json_object_set_new(names, name, json_true());
		}
		if (num < 1 || num > 65535)
			add_invalid_int(o, portp, num, MSG_PORT_RANGE);
		v_protocol(port, pp, o);
		v_port_num_or_name(json_object_get(port, "targetPort"), tp, o);
		if (*str0(port, "appProtocol")) {
			cleanup_free char *ap = P("%s.appProtocol", pp);

			v_label_key(str0(port, "appProtocol"), ap, o);
		}
		if (clusterip_type && nodeport != 0)
			add_forbidden(o, npp, "may not be used when `type` is 'ClusterIP'");
		if (external && nodeport != 0 && (nodeport < 30000 || nodeport > 32767))
			add_invalid_int(o, npp, nodeport,
					"provided port is not in the valid range. The range of "
					"valid ports is 30000-32767");
		if (nodeport != 0) {
			cleanup_free char *nk =
				P("%s/%lld", str0(port, "protocol"), (long long)nodeport);

			if (json_object_get(nodeports, nk)) {
				cleanup_free char *shown = P("%lld", (long long)nodeport);

				add_duplicate(o, npp, shown, NULL);
			}
			json_object_set_new(nodeports, nk, json_true());
		}
		key = P("%s/%lld", str0(port, "protocol"), (long long)num);
		if (json_object_get(seen, key)) {
			cleanup_free char *proto = goq(str0(port, "protocol"));
			cleanup_free char *shown =
				P("core.ServicePort{Name:\"\", Protocol:%s, "
				  "AppProtocol:(*string)(nil), "
				  "Port:%lld, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
				  "StrVal:\"\"}, NodePort:0}",
				  proto, (long long)num);

			add_duplicate(o, pp, shown, NULL);
		}
		json_object_set_new(seen, key, json_true());
	}
	json_decref(names);
	json_decref(seen);
	json_decref(nodeports);
}

static void v_service(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const types[] = {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort",
					    NULL};
	static const char *const affinities[] = {"ClientIP", "None", NULL};
	static const char *const traffic[] = {"Cluster", "Local", NULL};
	static const char *const policies[] = {"PreferDualStack", "RequireDualStack", "SingleStack",
					       NULL};
	static const char *const families[] = {"IPv4", "IPv6", NULL};
	const json_t *spec = obj_of(obj, "spec");
	const char *type = str0(spec, "type"), *cip = str0(spec, "clusterIP");
	const char *aff = str0(spec, "sessionAffinity"),
		   *etp = str_of(spec, "externalTrafficPolicy");
	const json_t *cips = arr_of(spec, "clusterIPs");
	bool headless = streq(cip, "None");
	bool external_name = streq(type, "ExternalName");
	json_t *v;
	size_t i;

	if (json_array_size(json_object_get(spec, "ports")) == 0 && !headless && !external_name)
		add_required(o, "spec.ports", NULL);
	if ((streq(type, "LoadBalancer") || streq(type, "NodePort")) && headless) {
		cleanup_free char *msg = P("may not be set to 'None' for %s services", type);

		add_invalid_str(o, "spec.clusterIPs[0]", "None", msg);
	}
	if (external_name) {
		const char *en = str0(spec, "externalName");
		cleanup_free char *cname = xstrdup(en);
		size_t n = strlen(cname);

		if (json_array_size(cips) > 0)
			add_forbidden(o, "spec.clusterIPs",
				      "may not be set for ExternalName services");
		if (json_array_size(json_object_get(spec, "ipFamilies")) > 0)
			add_forbidden(o, "spec.ipFamilies",
				      "may not be set for ExternalName services");
		if (present(spec, "ipFamilyPolicy"))
			add_forbidden(o, "spec.ipFamilyPolicy",
				      "may not be set for ExternalName services");
		if (n && cname[n - 1] == '.')
			cname[n - 1] = '\0';
		if (*cname)
			names_invalid(TYPED_DNS1123_SUBDOMAIN, cname, "spec.externalName", o);
		else
			add_required(o, "spec.externalName", NULL);
	}
	v_service_ports(spec, streq(type, "ClusterIP"), o);
	v_labels(obj_of(spec, "selector"), "spec.selector", o);
	if (!*aff)
		add_required(o, "spec.sessionAffinity", NULL);
	else if (!in_list(aff, affinities))
		add_unsupported_str(o, "spec.sessionAffinity", aff, affinities);
	if (streq(aff, "None") && present(spec, "sessionAffinityConfig"))
		add_forbidden(o, "spec.sessionAffinityConfig",
			      "must not be set when session affinity is None");

	/* clusterIP and clusterIPs agree and are addresses */
	if (json_array_size(cips) > 0 && !streq(cip, json_string_value(json_array_get(cips, 0)))) {
		cleanup_free char *shown = go_strings(cips);

		add_invalid(o, "spec.clusterIPs", shown, "first value must match `clusterIP`");
	}
	json_array_foreach (cips, i, v) {
		const char *ip = json_is_string(v) ? json_string_value(v) : "";
		cleanup_free char *p = P("spec.clusterIPs[%zu]", i);

		if (!(i == 0 && streq(ip, "None")) && !valid_ip(ip))
			add_invalid_str(o, p, ip, MSG_IP);
	}
	if (present(spec, "ipFamilyPolicy") && !in_list(str0(spec, "ipFamilyPolicy"), policies))
		add_unsupported_str(o, "spec.ipFamilyPolicy", str0(spec, "ipFamilyPolicy"),
				    policies);
	json_array_foreach (arr_of(spec, "ipFamilies"), i, v) {
		cleanup_free char *p = P("spec.ipFamilies[%zu]", i);
		const char *fam = json_is_string(v) ? json_string_value(v) : "";

		if (!in_list(fam, families))
			add_unsupported_str(o, p, fam, families);
	}
	json_array_foreach (arr_of(spec, "externalIPs"), i, v) {
		cleanup_free char *p = P("spec.externalIPs[%zu]", i);
		const char *ip = json_is_string(v) ? json_string_value(v) : "";

		if (!valid_ip(ip))
			add_invalid_str(o, p, ip, MSG_IP);
	}
	if (!*type)
		add_required(o, "spec.type", NULL);
	else if (!in_list(type, types))
		add_unsupported_str(o, "spec.type", type, types);
	if (present(spec, "allocateLoadBalancerNodePorts") && !streq(type, "LoadBalancer"))
		add_forbidden(o, "spec.allocateLoadBalancerNodePorts",
			      "may only be used when `type` is 'LoadBalancer'");

	/* external traffic policy: only for services reachable from outside */
	{
		bool reachable = streq(type, "NodePort") || streq(type, "LoadBalancer") ||
				 json_array_size(json_object_get(spec, "externalIPs")) > 0;

		if (!reachable && etp && *etp)
			add_invalid_str(o, "spec.externalTrafficPolicy", etp,
					"may only be set for externally-accessible services");
		else if (reachable && (!etp || !*etp))
			add_required(o, "spec.externalTrafficPolicy", NULL);
		else if (reachable && !in_list(etp, traffic))
			add_unsupported_str(o, "spec.externalTrafficPolicy", etp, traffic);
	}
	if (!present(spec, "internalTrafficPolicy")) {
		if (streq(type, "NodePort") || streq(type, "LoadBalancer") ||
		    streq(type, "ClusterIP"))
			add_required(o, "spec.internalTrafficPolicy", NULL);
	} else if (!in_list(str0(spec, "internalTrafficPolicy"), traffic)) {
		add_unsupported_str(o, "spec.internalTrafficPolicy",
				    str0(spec, "internalTrafficPolicy"), traffic);
	}

	if (old) {
		const json_t *ospec = obj_of(old, "spec");
		const json_t *ocips = arr_of(ospec, "clusterIPs");
		const char *ocip = json_array_size(ocips)
					   ? json_string_value(json_array_get(ocips, 0))
					   : str_of(ospec, "clusterIP");
		const char *ncip = json_array_size(cips)
					   ? json_string_value(json_array_get(cips, 0))
					   : str_of(spec, "clusterIP");

		if (!streq(str0(ospec, "type"), "ExternalName") && !external_name && ocip &&
		    *ocip && !streq(ocip, ncip)) {
			cleanup_free char *shown = go_strings(cips);

			add_invalid(o, "spec.clusterIPs[0]", shown, "may not change once set");
		}
	}
}

/* ---- configuration ------------------------------------------------------------------------ */

static size_t base64_decoded_len(const char *s)
{
	size_t n = strlen(s), pad = 0;

	if (n >= 1 && s[n - 1] == '=')
		pad++;
	if (n >= 2 && s[n - 2] == '=')
		pad++;
	return n / 4 * 3 - (n % 4 == 0 ? pad : 0) + (n % 4 ? (n % 4) * 3 / 4 : 0);
}

static void v_keys(const json_t *data, const char *path, bool b64, size_t *total, struct causes *o)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)data, k, v) {
		cleanup_free char *p = P("%s[%s]", path, k);

		names_invalid(TYPED_CONFIG_KEY, k, p, o);
		if (json_is_string(v))
			*total += b64 ? base64_decoded_len(json_string_value(v))
				      : json_string_length(v);
	}
}

static void immutable_data(const json_t *obj, const json_t *old, bool configmap, struct causes *o)
{
	if (!old || !json_is_true(json_object_get(old, "immutable")))
		return;
	if (!json_equal(json_object_get(obj, "immutable"), json_object_get(old, "immutable")))
		add_forbidden(o, "immutable", "field is immutable when `immutable` is set");
	if (!json_equal(json_object_get(obj, "data"), json_object_get(old, "data")))
		add_forbidden(o, "data", "field is immutable when `immutable` is set");
	if (configmap &&
	    !json_equal(json_object_get(obj, "binaryData"), json_object_get(old, "binaryData")))
		add_forbidden(o, "binaryData", "field is immutable when `immutable` is set");
}

static void v_configmap(const json_t *obj, const json_t *old, struct causes *o)
{
	const json_t *data = obj_of(obj, "data"), *bin = obj_of(obj, "binaryData");
	size_t total = 0;
	const char *k;
	json_t *v;

	v_keys(data, "data", false, &total, o);
	json_object_foreach ((json_t *)data, k, v) {
		if (json_object_get(bin, k)) {
			cleanup_free char *p = P("data[%s]", k);

			add_invalid_str(o, p, k, "duplicate of key present in binaryData");
		}
	}
	v_keys(bin, "binaryData", true, &total, o);
	if (total > MAX_SECRET_SIZE)
		add_too_long(o, "", MAX_SECRET_SIZE);
	immutable_data(obj, old, true, o);
}

static void v_secret(const json_t *obj, const json_t *old, struct causes *o)
{
	const json_t *data = obj_of(obj, "data");
	const char *type = str0(obj, "type");
	size_t total = 0;

	v_keys(data, "data", true, &total, o);
	if (total > MAX_SECRET_SIZE)
		add_too_long(o, "data", MAX_SECRET_SIZE);
	if (streq(type, "kubernetes.io/service-account-token")) {
		if (!*str0(obj_of(obj_of(obj, "metadata"), "annotations"),
			   "kubernetes.io/service-account.name"))
			add_required(o, "metadata.annotations[kubernetes.io/service-account.name]",
				     NULL);
	} else if (streq(type, "kubernetes.io/dockercfg")) {
		if (!json_object_get(data, ".dockercfg"))
			add_required(o, "data[.dockercfg]", NULL);
	} else if (streq(type, "kubernetes.io/dockerconfigjson")) {
		if (!json_object_get(data, ".dockerconfigjson"))
			add_required(o, "data[.dockerconfigjson]", NULL);
	} else if (streq(type, "kubernetes.io/basic-auth")) {
		if (!json_object_get(data, "username") && !json_object_get(data, "password"))
			add_required(o, "data[username]", NULL);
	} else if (streq(type, "kubernetes.io/ssh-auth")) {
		if (!json_object_get(data, "ssh-privatekey"))
			add_required(o, "data[ssh-privatekey]", NULL);
	} else if (streq(type, "kubernetes.io/tls")) {
		if (!json_object_get(data, "tls.crt"))
			add_required(o, "data[tls.crt]", NULL);
		if (!json_object_get(data, "tls.key"))
			add_required(o, "data[tls.key]", NULL);
	}
	if (old && !streq(type, str0(old, "type")))
		add_invalid_str(o, "type", type, MSG_IMMUTABLE);
	immutable_data(obj, old, false, o);
}

/* ---- cluster objects ---------------------------------------------------------------------- */

static void v_namespace(const json_t *obj, struct causes *o)
{
	json_t *f;
	size_t i;

	json_array_foreach (arr_of(obj_of(obj, "spec"), "finalizers"), i, f) {
		const char *name = json_is_string(f) ? json_string_value(f) : "";

		v_label_key(name, "spec.finalizers", o);
		if (!strchr(name, '/') && !standard_finalizer(name))
			add_invalid_str(o, "spec.finalizers", name,
					"name is neither a standard finalizer name nor is it fully "
					"qualified");
	}
}

static void v_node(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const effects[] = {"NoSchedule", "PreferNoSchedule", "NoExecute", NULL};
	const json_t *spec = obj_of(obj, "spec"), *status = obj_of(obj, "status");
	static const char *const lists[] = {"capacity", "allocatable"};
	json_t *seen = json_object(), *t, *v;
	const char *k;
	size_t i;

	/* upstream names the taints under metadata, not spec */
	json_array_foreach (arr_of(spec, "taints"), i, t) {
		cleanup_free char *ip = P("metadata.taints[%zu]", i);
		cleanup_free char *kp = P("%s.key", ip);
		cleanup_free char *vp = P("%s.value", ip);
		cleanup_free char *ep = P("%s.effect", ip);
		cleanup_free char *key = P("%s\n%s", str0(t, "key"), str0(t, "effect"));
		const char *effect = str0(t, "effect"), *why = NULL;

		v_label_key(str0(t, "key"), kp, o);
		if (!label_value_valid(str0(t, "value"), &why))
			add_invalid_str(o, vp, str0(t, "value"), why);
		if (!*effect)
			add_required(o, ep, NULL);
		else if (!in_list(effect, effects))
			add_unsupported_str(o, ep, effect, effects);
		if (json_object_get(seen, key)) {
			cleanup_free char *qk = goq(str0(t, "key"));
			cleanup_free char *qv = goq(str0(t, "value"));
			cleanup_free char *qe = goq(effect);
			cleanup_free char *shown = P("core.Taint{Key:%s, Value:%s, Effect:%s, "
						     "TimeAdded:(*v1.Time)(nil)}",
						     qk, qv, qe);

			add_duplicate(o, ip, shown, "taints must be unique by key and effect pair");
			continue;
		}
		json_object_set_new(seen, key, json_true());
	}
	json_decref(seen);
	for (size_t l = 0; l < 2; l++) {
		json_object_foreach ((json_t *)obj_of(status, lists[l]), k, v) {
			cleanup_free char *p = P("status.%s.%s", lists[l], k);
			struct quantity q;

			if (parse_quantity(v, p, &q, o) && q.nano < 0) {
				cleanup_free char *s = quantity_format(&q);

				add_invalid_str(o, p, s, MSG_NEGATIVE);
			}
		}
	}
	if (old) {
		const json_t *ospec = obj_of(old, "spec");

		if (json_array_size(json_object_get(ospec, "podCIDRs")) > 0 &&
		    !json_equal(json_object_get(ospec, "podCIDRs"),
				json_object_get(spec, "podCIDRs")))
			add_forbidden(
				o, "spec.podCIDRs",
				"node updates may not change podCIDR except from \"\" to valid");
		if (*str0(ospec, "providerID") &&
		    !streq(str0(ospec, "providerID"), str0(spec, "providerID")))
			add_forbidden(o, "spec.providerID",
				      "node updates may not change providerID except from \"\" to "
				      "valid");
	}
}

static void v_lease(const json_t *obj, struct causes *o)
{
	const json_t *spec = obj_of(obj, "spec");
	json_int_t v;

	if (int_of(spec, "leaseDurationSeconds", &v) && v <= 0)
		add_invalid_int(o, "spec.leaseDurationSeconds", v, "must be greater than 0");
	nonneg(spec, "leaseTransitions", "spec", o);
}

static void v_endpointslice(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const types[] = {"FQDN", "IPv4", "IPv6", NULL};
	const char *type = str0(obj, "addressType");
	json_t *ep, *port, *names = json_object();
	size_t i;

	if (!*type)
		add_required(o, "addressType", NULL);
	else if (!in_list(type, types))
		add_unsupported_str(o, "addressType", type, types);
	json_array_foreach (arr_of(obj, "endpoints"), i, ep) {
		cleanup_free char *ap = P("endpoints[%zu].addresses", i);
		size_t n = json_array_size(json_object_get(ep, "addresses")), j;
		json_t *a;

		if (n == 0)
			add_required(o, ap, "must contain at least 1 address");
		else if (n > 100)
			causes_add(o, CAUSE_TOO_MANY, ap,
				   "Too many: %zu: must have at most 100 items", n);
		json_array_foreach (json_object_get(ep, "addresses"), j, a) {
			cleanup_free char *p = P("%s[%zu]", ap, j);
			const char *addr = json_is_string(a) ? json_string_value(a) : "";
			unsigned char buf[16];

			if (streq(type, "IPv4") && inet_pton(AF_INET, addr, buf) != 1)
				add_invalid_str(o, p, addr, "must be a valid IPv4 address");
			else if (streq(type, "IPv6") && inet_pton(AF_INET6, addr, buf) != 1)
				add_invalid_str(o, p, addr, "must be a valid IPv6 address");
			else if (streq(type, "FQDN"))
				names_invalid(TYPED_DNS1123_SUBDOMAIN, addr, p, o);
		}
	}
	json_array_foreach (arr_of(obj, "ports"), i, port) {
		cleanup_free char *pp = P("ports[%zu]", i);
		cleanup_free char *np = P("%s.name", pp);
		cleanup_free char *portp = P("%s.port", pp);
		const char *name = str0(port, "name");
		json_int_t num;

		if (*name)
			names_invalid(TYPED_DNS1123_LABEL, name, np, o);
		if (json_object_get(names, name))
			add_duplicate_str(o, np, name);
		json_object_set_new(names, name, json_true());
		if (int_of(port, "port", &num) && (num < 1 || num > 65535))
			add_invalid_int(o, portp, num, MSG_PORT_RANGE);
		v_protocol(port, pp, o);
	}
	json_decref(names);
	if (old && !streq(type, str0(old, "addressType")))
		add_invalid_str(o, "addressType", type, MSG_IMMUTABLE);
}

static void v_endpoints(const json_t *obj, struct causes *o)
{
	json_t *ss, *a, *port;
	size_t i, j;

	json_array_foreach (arr_of(obj, "subsets"), i, ss) {
		static const char *const lists[] = {"addresses", "notReadyAddresses"};
		const json_t *ports = arr_of(ss, "ports");

		for (size_t l = 0; l < 2; l++) {
			json_array_foreach (arr_of(ss, lists[l]), j, a) {
				cleanup_free char *p = P("subsets[%zu].%s[%zu].ip", i, lists[l], j);

				if (!valid_ip(str0(a, "ip")))
					add_invalid_str(o, p, str0(a, "ip"), MSG_IP);
			}
		}
		json_array_foreach (ports, j, port) {
			cleanup_free char *pp = P("subsets[%zu].ports[%zu]", i, j);
			cleanup_free char *np = P("%s.name", pp);
			cleanup_free char *portp = P("%s.port", pp);
			json_int_t num = int0(port, "port");

			if (json_array_size(ports) > 1 && !*str0(port, "name"))
				add_required(o, np, NULL);
			else if (*str0(port, "name"))
				names_invalid(TYPED_DNS1123_LABEL, str0(port, "name"), np, o);
			if (num < 1 || num > 65535)
				add_invalid_int(o, portp, num, MSG_PORT_RANGE);
			v_protocol(port, pp, o);
		}
	}
}

static void v_event(const json_t *obj, struct causes *o)
{
	const char *ns = str0(obj_of(obj, "metadata"), "namespace");
	const char *ins = str0(obj_of(obj, "involvedObject"), "namespace");

	if (!*ins) {
		if (*ns && !streq(ns, "default"))
			add_invalid_str(o, "involvedObject.namespace", ins,
					"does not match event.namespace");
	} else if (!streq(ns, ins)) {
		add_invalid_str(o, "involvedObject.namespace", ins,
				"does not match event.namespace");
	}
}

static void v_access_modes(const json_t *spec, struct causes *o)
{
	static const char *const modes[] = {"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
					    "ReadWriteOncePod", NULL};
	bool once_pod = false, other = false;
	json_t *m;
	size_t i;

	if (json_array_size(json_object_get(spec, "accessModes")) == 0)
		add_required(o, "spec.accessModes", NULL);
	json_array_foreach (arr_of(spec, "accessModes"), i, m) {
		const char *mode = json_is_string(m) ? json_string_value(m) : "";

		if (!in_list(mode, modes))
			add_unsupported_str(o, "spec.accessModes", mode, modes);
		else if (streq(mode, "ReadWriteOncePod"))
			once_pod = true;
		else
			other = true;
	}
	if (once_pod && other)
		add_forbidden(o, "spec.accessModes",
			      "may not use ReadWriteOncePod with other access modes");
}

static void v_pvc(const json_t *obj, const json_t *old, struct causes *o)
{
	static const char *const vmodes[] = {"Block", "Filesystem", NULL};
	const json_t *spec = obj_of(obj, "spec");
	const json_t *req = obj_of(obj_of(spec, "resources"), "requests");
	json_t *storage = json_object_get(req, "storage");
	struct quantity q;

	v_access_modes(spec, o);
	if (!storage)
		add_required(o, "spec.resources[storage]", NULL);
	else if (parse_quantity(storage, "spec.resources[storage]", &q, o) && q.nano <= 0) {
		cleanup_free char *s = quantity_format(&q);

		add_invalid_str(o, "spec.resources[storage]", s, "must be greater than zero");
	}
	if (present(spec, "volumeMode") && !in_list(str0(spec, "volumeMode"), vmodes))
		add_unsupported_str(o, "spec.volumeMode", str0(spec, "volumeMode"), vmodes);
	if (old) {
		const json_t *ospec = obj_of(old, "spec");
		json_t *a = json_deep_copy(spec), *b = json_deep_copy(ospec);

		if (a && b) {
			json_object_del(json_object_get(a, "resources"), "requests");
			json_object_del(json_object_get(b, "resources"), "requests");
			json_object_del(a, "volumeAttributesClassName");
			json_object_del(b, "volumeAttributesClassName");
			if (!*str0(ospec, "volumeName")) {
				json_object_del(a, "volumeName");
				json_object_del(b, "volumeName");
			}
			if (!json_equal(a, b))
				add_forbidden(
					o, "spec",
					"spec is immutable after creation except "
					"resources.requests and volumeAttributesClassName for "
					"bound claims");
		}
		json_decref(a);
		json_decref(b);
	}
}

static void v_pv(const json_t *obj, struct causes *o)
{
	static const char *const policies[] = {"Delete", "Recycle", "Retain", NULL};
	static const char *const sources[] = {"hostPath",
					      "gcePersistentDisk",
					      "awsElasticBlockStore",
					      "glusterfs",
					      "flocker",
					      "nfs",
					      "rbd",
					      "quobyte",
					      "cephfs",
					      "iscsi",
					      "cinder",
					      "fc",
					      "flexVolume",
					      "azureFile",
					      "vsphereVolume",
					      "photonPersistentDisk",
					      "portworxVolume",
					      "azureDisk",
					      "scaleIO",
					      "local",
					      "storageos",
					      "csi",
					      NULL};
	const json_t *spec = obj_of(obj, "spec"), *cap = obj_of(spec, "capacity");
	const char *policy = str0(spec, "persistentVolumeReclaimPolicy");
	size_t n = 0;

	v_access_modes(spec, o);
	if (json_object_size(cap) == 0)
		add_required(o, "spec.capacity", NULL);
	if (!json_object_get(cap, "storage") || json_object_size(cap) > 1) {
		static const char *const storage[] = {"storage", NULL};
		cleanup_free char *shown = json_text(cap);

		add_unsupported(o, "spec.capacity", shown, storage);
	}
	if (*policy && !in_list(policy, policies))
		add_unsupported_str(o, "spec.persistentVolumeReclaimPolicy", policy, policies);
	for (size_t i = 0; sources[i]; i++)
		if (present(spec, sources[i]) && n++ > 0) {
			cleanup_free char *p = P("spec.%s", sources[i]);

			add_forbidden(o, p, "may not specify more than 1 volume type");
		}
	if (n == 0)
		add_required(o, "spec", "must specify a volume type");
}

/* ---- entry ---------------------------------------------------------------------------------- */

static bool is(const struct api_resource *r, const char *group, const char *kind)
{
	return strcmp(r->group, group) == 0 && strcmp(r->kind, kind) == 0;
}

void typed_validate(const struct api_resource *r, const json_t *obj, const json_t *old,
		    struct causes *out)
{
	const json_t *meta = obj_of(obj, "metadata");

	if (old)
		v_meta_update(meta, obj_of(old, "metadata"), out);
	else
		v_meta_create(r, meta, out);

	if (is(r, "", "Pod")) {
		const json_t *spec = obj_of(obj, "spec");
		const json_t *old_spec = old ? obj_of(old, "spec") : NULL;

		/*
		 * A spec as stored passed this when it was written: an update that keeps
		 * it (a status report, a relabel) is not charged for it again.
		 */
		if (!spec || !old_spec || !json_equal((json_t *)spec, (json_t *)old_spec)) {
			v_pod_spec(spec, "spec", true, out);
			v_image_spaces(spec, "containers", out);
			v_image_spaces(spec, "initContainers", out);
		}
		if (old)
			v_pod_update(obj, old, out);
	} else if (is(r, "apps", "Deployment")) {
		v_replicaset_like(obj, old, true, out);
	} else if (is(r, "apps", "ReplicaSet")) {
		v_replicaset_like(obj, old, false, out);
	} else if (is(r, "apps", "DaemonSet")) {
		v_daemonset(obj, old, out);
	} else if (is(r, "apps", "StatefulSet")) {
		v_statefulset(obj, old, out);
	} else if (is(r, "apps", "ControllerRevision")) {
		if (!present(obj, "data"))
			add_required(out, "data", "data is mandatory");
		json_int_t rev;

		if (int_of(obj, "revision", &rev) && rev < 0)
			add_invalid_int(out, "revision", rev, MSG_NEGATIVE);
	} else if (is(r, "batch", "Job")) {
		v_job(obj, old, out);
	} else if (is(r, "batch", "CronJob")) {
		v_cronjob(obj, out);
	} else if (is(r, "", "Service")) {
		v_service(obj, old, out);
	} else if (is(r, "", "ConfigMap")) {
		v_configmap(obj, old, out);
	} else if (is(r, "", "Secret")) {
		v_secret(obj, old, out);
	} else if (is(r, "", "Namespace")) {
		v_namespace(obj, out);
	} else if (is(r, "", "Node")) {
		v_node(obj, old, out);
	} else if (is(r, "", "Event")) {
		v_event(obj, out);
	} else if (is(r, "", "Endpoints")) {
		v_endpoints(obj, out);
	} else if (is(r, "", "PersistentVolumeClaim")) {
		v_pvc(obj, old, out);
	} else if (is(r, "", "PersistentVolume")) {
		v_pv(obj, out);
	} else if (is(r, "coordination.k8s.io", "Lease")) {
		v_lease(obj, out);
	} else if (is(r, "discovery.k8s.io", "EndpointSlice")) {
		v_endpointslice(obj, old, out);
	}
}
