/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Defaulting of the served kinds (typed_default), the shared name and key checks, the cron
 * schedule check, the pod QoS class and the generation rule. Validation proper lives in
 * typed_validate.c. Facts (field names, default values) follow upstream's
 * pkg/apis/{core,apps,batch}/v1/defaults.go and the admission plugins every cluster runs.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/api/quantity.h"
#include "cluster/api/resources.h"
#include "cluster/api/typed.h"

/* ---- JSON helpers ---------------------------------------------------------------------- */

static bool present(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return v && !json_is_null(v);
}

static const char *str_of(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *child(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, k, v);
	}
	return v;
}

/* String fields default when unset or "" (Go's zero value). */
static void def_str(json_t *o, const char *k, const char *val)
{
	const char *cur = str_of(o, k);

	if (!cur || !*cur) {
		if (present(o, k) && !json_is_string(json_object_get(o, k)))
			return; /* wrong type: left for validation to report */
		json_object_set_new(o, k, json_string(val));
	}
}

/* Pointer fields default when unset. */
static void def_int(json_t *o, const char *k, json_int_t val)
{
	if (!present(o, k))
		json_object_set_new(o, k, json_integer(val));
}

/* Plain int32 fields default when unset or 0. */
static void def_int0(json_t *o, const char *k, json_int_t val)
{
	json_t *v = json_object_get(o, k);

	if (!v || json_is_null(v) || (json_is_integer(v) && json_integer_value(v) == 0))
		json_object_set_new(o, k, json_integer(val));
}

static void def_bool(json_t *o, const char *k, bool val)
{
	if (!present(o, k))
		json_object_set_new(o, k, json_boolean(val));
}

static void def_obj(json_t *o, const char *k)
{
	if (!present(o, k))
		json_object_set_new(o, k, json_object());
}

static bool is_kind(const struct api_resource *r, const char *group, const char *kind)
{
	return strcmp(r->group, group) == 0 && strcmp(r->kind, kind) == 0;
}

/* ---- names and keys -------------------------------------------------------------------- */

#define DNS1123_LABEL_FMT "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define MSG_LABEL                                                                                  \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "   \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "   \
	"regex used for validation is '" DNS1123_LABEL_FMT "')"
#define MSG_SUBDOMAIN                                                                              \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "  \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "      \
	"regex used for validation is '" DNS1123_LABEL_FMT "(\\." DNS1123_LABEL_FMT ")*')"
#define MSG_DNS1035                                                                                \
	"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "  \
	"an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "    \
	"'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define MSG_CONFIG_KEY                                                                             \
	"a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "       \
	"'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "                \
	"'[-._a-zA-Z0-9]+')"

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..n) */
static bool label_shape(const char *s, size_t n)
{
	if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool subdomain_shape(const char *s)
{
	const char *p = s;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!label_shape(p, n))
			return false;
		if (!dot)
			return true;
		p = dot + 1;
	}
}

static size_t label_msgs(const char *s, const char **m)
{
	size_t n = 0;

	if (strlen(s) > 63)
		m[n++] = "must be no more than 63 characters";
	if (!label_shape(s, strlen(s)))
		m[n++] = subdomain_shape(s) ? "must not contain dots" : MSG_LABEL;
	return n;
}

static size_t subdomain_msgs(const char *s, const char **m)
{
	size_t n = 0;

	if (strlen(s) > 253)
		m[n++] = "must be no more than 253 characters";
	if (!subdomain_shape(s))
		m[n++] = MSG_SUBDOMAIN;
	return n;
}

static size_t dns1035_msgs(const char *s, const char **m)
{
	size_t n = 0, len = strlen(s);

	if (len > 63)
		m[n++] = "must be no more than 63 characters";
	if (!(len > 0 && s[0] >= 'a' && s[0] <= 'z' && label_shape(s, len)))
		m[n++] = MSG_DNS1035;
	return n;
}

static size_t path_segment_msgs(const char *s, const char **m)
{
	size_t n = 0;

	if (strcmp(s, ".") == 0) {
		m[n++] = "may not be '.'";
		return n;
	}
	if (strcmp(s, "..") == 0) {
		m[n++] = "may not be '..'";
		return n;
	}
	if (strchr(s, '/'))
		m[n++] = "may not contain '/'";
	if (strchr(s, '%'))
		m[n++] = "may not contain '%'";
	return n;
}

static size_t port_name_msgs(const char *s, const char **m)
{
	size_t n = 0, len = strlen(s);
	bool charset = len > 0, letter = false;

	if (len > 15)
		m[n++] = "must be no more than 15 characters";
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			charset = false;
	}
	if (!charset)
		m[n++] = "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
	if (!letter)
		m[n++] = "must contain at least one letter (a-z)";
	if (strstr(s, "--"))
		m[n++] = "must not contain consecutive hyphens";
	if (len > 0 && (s[0] == '-' || s[len - 1] == '-'))
		m[n++] = "must not begin or end with a hyphen";
	return n;
}

static size_t config_key_msgs(const char *s, const char **m)
{
	size_t n = 0, len = strlen(s);
	bool ok = len > 0;

	if (len > 253)
		m[n++] = "must be no more than 253 characters";
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-._", s[i]))
			ok = false;
	if (!ok)
		m[n++] = MSG_CONFIG_KEY;
	if (strcmp(s, ".") == 0)
		m[n++] = "must not be '.'";
	else if (strcmp(s, "..") == 0)
		m[n++] = "must not be '..'";
	else if (strncmp(s, "..", 2) == 0)
		m[n++] = "must not start with '..'";
	return n;
}

static bool first_msg(size_t n, const char **m, const char **why)
{
	if (n && why)
		*why = m[0];
	return n == 0;
}

size_t typed_name_check(enum typed_name kind, const char *s, const char **msgs)
{
	switch (kind) {
	case TYPED_DNS1123_LABEL:
		return label_msgs(s, msgs);
	case TYPED_DNS1123_SUBDOMAIN:
		return subdomain_msgs(s, msgs);
	case TYPED_DNS1035_LABEL:
		return dns1035_msgs(s, msgs);
	case TYPED_PATH_SEGMENT:
		return path_segment_msgs(s, msgs);
	case TYPED_PORT_NAME:
		return port_name_msgs(s, msgs);
	case TYPED_CONFIG_KEY:
		return config_key_msgs(s, msgs);
	}
	return 0;
}

bool dns1123_label(const char *s, const char **why)
{
	const char *m[4];

	return first_msg(label_msgs(s, m), m, why);
}

bool dns1123_subdomain(const char *s, const char **why)
{
	const char *m[4];

	return first_msg(subdomain_msgs(s, m), m, why);
}

bool dns1035_label(const char *s, const char **why)
{
	const char *m[4];

	return first_msg(dns1035_msgs(s, m), m, why);
}

bool path_segment_name(const char *s, const char **why)
{
	const char *m[4];

	return first_msg(path_segment_msgs(s, m), m, why);
}

bool port_name_valid(const char *s, const char **why)
{
	const char *m[6];

	return first_msg(port_name_msgs(s, m), m, why);
}

bool config_key_valid(const char *s, const char **why)
{
	const char *m[4];

	return first_msg(config_key_msgs(s, m), m, why);
}

/* ---- cron schedules (robfig/cron v3 ParseStandard) ------------------------------------- */

struct cron_bounds {
	unsigned min, max;
	const char *const *names; /* index = value, for names */
};

static const char *const month_names[] = {"",    "jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_bounds cron_fields[] = {
	{0, 59, NULL}, {0, 23, NULL}, {1, 31, NULL}, {1, 12, month_names}, {0, 6, dow_names},
};

/* strconv.Atoi, with its error text */
static char *cron_int(const char *s, size_t n, long *ret)
{
	cleanup_free char *t = xstrndup(s, n);
	char *end = NULL;
	long v;

	if (n == 0 || !(isdigit((unsigned char)t[0]) || ((t[0] == '-' || t[0] == '+') && n > 1)))
		return xasprintf(
			"failed to parse int from %s: strconv.Atoi: parsing \"%s\": invalid "
			"syntax",
			t, t);
	v = strtol(t, &end, 10);
	if (*end)
		return xasprintf(
			"failed to parse int from %s: strconv.Atoi: parsing \"%s\": invalid "
			"syntax",
			t, t);
	if (v < 0)
		return xasprintf("negative number (%ld) not allowed: %s", v, t);
	*ret = v;
	return NULL;
}

static char *cron_int_or_name(const char *s, size_t n, const struct cron_bounds *b, long *ret)
{
	if (b->names) {
		for (size_t i = 0; b->names[i]; i++) {
			if (*b->names[i] && strlen(b->names[i]) == n &&
			    strncasecmp(b->names[i], s, n) == 0) {
				*ret = (long)i;
				return NULL;
			}
		}
	}
	return cron_int(s, n, ret);
}

static char *cron_range(const char *expr, const struct cron_bounds *b)
{
	const char *slash = strchr(expr, '/');
	size_t rlen = slash ? (size_t)(slash - expr) : strlen(expr);
	cleanup_free char *range = xstrndup(expr, rlen);
	const char *hy = strchr(range, '-');
	long start, end, step = 1;
	char *e;

	if (slash && strchr(slash + 1, '/'))
		return xasprintf("too many slashes: %s", expr);
	if (strcmp(range, "*") == 0 || strcmp(range, "?") == 0) {
		start = b->min;
		end = b->max;
	} else {
		if (hy && strchr(hy + 1, '-'))
			return xasprintf("too many hyphens: %s", expr);
		e = cron_int_or_name(range, hy ? (size_t)(hy - range) : strlen(range), b, &start);
		if (e)
			return e;
		end = start;
		if (hy && (e = cron_int_or_name(hy + 1, strlen(hy + 1), b, &end)))
			return e;
	}
	if (slash) {
		e = cron_int(slash + 1, strlen(slash + 1), &step);
		if (e)
			return e;
		if (!hy && strcmp(range, "*") != 0 && strcmp(range, "?") != 0)
			end = b->max; /* "N/step" means "N-max/step" */
	}
	if (start < (long)b->min)
		return xasprintf("beginning of range (%ld) below minimum (%u): %s", start, b->min,
				 expr);
	if (end > (long)b->max)
		return xasprintf("end of range (%ld) above maximum (%u): %s", end, b->max, expr);
	if (start > end)
		return xasprintf("beginning of range (%ld) beyond end of range (%ld): %s", start,
				 end, expr);
	if (step == 0)
		return xasprintf("step of range should be a positive number: %s", expr);
	return NULL;
}

static char *cron_field(const char *field, const struct cron_bounds *b)
{
	const char *p = field;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n) {
			cleanup_free char *expr = xstrndup(p, n);
			char *e = cron_range(expr, b);

			if (e)
				return e;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return NULL;
}

static bool go_duration(const char *s)
{
	static const char *const units[] = {"ns", "us", "µs", "ms", "s", "m", "h", NULL};
	const char *p = s;

	if (*p == '-' || *p == '+')
		p++;
	if (strcmp(p, "0") == 0)
		return true;
	if (!*p)
		return false;
	while (*p) {
		bool digits = false, unit = false;

		while (isdigit((unsigned char)*p) || *p == '.') {
			digits = true;
			p++;
		}
		if (!digits)
			return false;
		for (size_t i = 0; units[i]; i++) {
			size_t n = strlen(units[i]);

			/* the list puts "ms" before "m", so the longer unit wins */
			if (strncmp(p, units[i], n) == 0) {
				p += n;
				unit = true;
				break;
			}
		}
		if (!unit)
			return false;
	}
	return true;
}

char *typed_cron_check(const char *schedule)
{
	cleanup_free char *spec = xstrdup(schedule);
	char *fields[8], *save = NULL, *tok;
	size_t n = 0;
	char *s = spec;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s)
		return xstrdup("empty spec string");
	if (strncmp(s, "TZ=", 3) == 0 || strncmp(s, "CRON_TZ=", 8) == 0) {
		char *sp = strpbrk(s, " \t");

		if (!sp)
			return xstrdup("missing schedule after timezone");
		s = sp + 1;
		while (*s == ' ' || *s == '\t')
			s++;
	}
	if (*s == '@') {
		static const char *const descriptors[] = {"@yearly", "@annually", "@monthly",
							  "@weekly", "@daily",    "@midnight",
							  "@hourly", NULL};

		for (size_t i = 0; descriptors[i]; i++)
			if (strcmp(s, descriptors[i]) == 0)
				return NULL;
		if (strncmp(s, "@every ", 7) == 0) {
			if (go_duration(s + 7))
				return NULL;
			return xasprintf(
				"failed to parse duration %s: time: invalid duration \"%s\"", s,
				s + 7);
		}
		return xasprintf("unrecognized descriptor: %s", s);
	}
	for (tok = strtok_r(s, " \t\n\r\v\f", &save); tok;
	     tok = strtok_r(NULL, " \t\n\r\v\f", &save))
		fields[n < 8 ? n : 7] = tok, n++;
	if (n != 5) {
		cleanup_free char *list = NULL;
		cleanup_free char *copy = xstrdup(schedule);
		size_t len = 0;

		/* Go prints the []string of fields: "[a b c]" */
		list = xstrdup("");
		for (tok = strtok_r(copy, " \t\n\r\v\f", &save); tok;
		     tok = strtok_r(NULL, " \t\n\r\v\f", &save)) {
			char *next = xasprintf("%s%s%s", list, len ? " " : "", tok);

			free(list);
			list = next;
			len++;
		}
		return xasprintf("expected exactly 5 fields, found %zu: [%s]", n, list);
	}
	for (size_t i = 0; i < 5; i++) {
		char *e = cron_field(fields[i], &cron_fields[i]);

		if (e)
			return e;
	}
	return NULL;
}

/* ---- pod QoS class --------------------------------------------------------------------- */

struct qos_sum {
	__int128 cpu, mem;
	bool has_cpu, has_mem;
};

static void qos_add(struct qos_sum *s, const json_t *list, bool *ret_cpu, bool *ret_mem)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)list, k, v) {
		const char *why = NULL;
		struct quantity q;

		if (!json_is_string(v) || !quantity_parse(json_string_value(v), &q, &why))
			continue;
		if (q.nano <= 0)
			continue;
		if (strcmp(k, "cpu") == 0) {
			s->cpu += q.nano;
			s->has_cpu = true;
			if (ret_cpu)
				*ret_cpu = true;
		} else if (strcmp(k, "memory") == 0) {
			s->mem += q.nano;
			s->has_mem = true;
			if (ret_mem)
				*ret_mem = true;
		}
	}
}

const char *typed_pod_qos(const json_t *pod)
{
	static const char *const lists[] = {"initContainers", "containers"};
	struct qos_sum req = {0}, lim = {0};
	const json_t *spec = json_object_get(pod, "spec");
	bool guaranteed = true;

	for (size_t l = 0; l < 2; l++) {
		const json_t *arr = json_object_get(spec, lists[l]);
		size_t i;
		json_t *c;

		json_array_foreach (arr, i, c) {
			const json_t *res = json_object_get(c, "resources");
			bool lcpu = false, lmem = false;

			qos_add(&req, json_object_get(res, "requests"), NULL, NULL);
			qos_add(&lim, json_object_get(res, "limits"), &lcpu, &lmem);
			if (!lcpu || !lmem)
				guaranteed = false;
		}
	}
	if (!req.has_cpu && !req.has_mem && !lim.has_cpu && !lim.has_mem)
		return "BestEffort";
	if (guaranteed) {
		if ((req.has_cpu && (!lim.has_cpu || lim.cpu != req.cpu)) ||
		    (req.has_mem && (!lim.has_mem || lim.mem != req.mem)))
			guaranteed = false;
	}
	if (guaranteed && req.has_cpu == lim.has_cpu && req.has_mem == lim.has_mem)
		return "Guaranteed";
	return "Burstable";
}

/* ---- defaults: pods -------------------------------------------------------------------- */

/* Always for ":latest" or no tag and no digest, as upstream's ParseImageName decides. */
static const char *pull_policy_for(const char *image)
{
	const char *at, *slash, *colon;
	size_t len;

	if (!image || !*image)
		return "IfNotPresent";
	at = strchr(image, '@');
	len = at ? (size_t)(at - image) : strlen(image);
	slash = memrchr(image, '/', len);
	slash = slash ? slash + 1 : image;
	colon = memchr(slash, ':', len - (size_t)(slash - image));
	if (!colon)
		return at ? "IfNotPresent" : "Always";
	if ((size_t)(image + len - colon - 1) == 6 && strncmp(colon + 1, "latest", 6) == 0)
		return "Always";
	return "IfNotPresent";
}

static void default_http_get(json_t *handler)
{
	json_t *h = json_object_get(handler, "httpGet");

	if (json_is_object(h)) {
		def_str(h, "path", "/");
		def_str(h, "scheme", "HTTP");
	}
}

static void default_probe(json_t *c, const char *key)
{
	json_t *p = json_object_get(c, key);
	json_t *grpc;

	if (!json_is_object(p))
		return;
	def_int0(p, "timeoutSeconds", 1);
	def_int0(p, "periodSeconds", 10);
	def_int0(p, "successThreshold", 1);
	def_int0(p, "failureThreshold", 3);
	default_http_get(p);
	grpc = json_object_get(p, "grpc");
	if (json_is_object(grpc) && !present(grpc, "service"))
		json_object_set_new(grpc, "service", json_string(""));
}

static void requests_from_limits(json_t *res)
{
	json_t *lim = json_object_get(res, "limits"), *req, *v;
	const char *k;

	if (!json_is_object(lim) || json_object_size(lim) == 0)
		return;
	req = child(res, "requests");
	json_object_foreach (lim, k, v) {
		if (!json_object_get(req, k))
			json_object_set(req, k, v);
	}
}

static void default_container(json_t *c, bool pod, bool host_network)
{
	json_t *ports = json_object_get(c, "ports"), *env = json_object_get(c, "env");
	json_t *lifecycle = json_object_get(c, "lifecycle"), *p, *e;
	size_t i;

	if (!json_is_object(c))
		return;
	def_str(c, "imagePullPolicy", pull_policy_for(str_of(c, "image")));
	def_str(c, "terminationMessagePath", "/dev/termination-log");
	def_str(c, "terminationMessagePolicy", "File");
	def_obj(c, "resources");
	if (pod)
		requests_from_limits(json_object_get(c, "resources"));
	json_array_foreach (ports, i, p) {
		if (!json_is_object(p))
			continue;
		def_str(p, "protocol", "TCP");
		if (host_network && present(p, "containerPort"))
			def_int0(p, "hostPort",
				 json_integer_value(json_object_get(p, "containerPort")));
	}
	json_array_foreach (env, i, e) {
		json_t *from = json_object_get(e, "valueFrom");
		json_t *field = json_object_get(from, "fieldRef");
		json_t *res = json_object_get(from, "resourceFieldRef");

		if (json_is_object(field))
			def_str(field, "apiVersion", "v1");
		if (json_is_object(res) && !present(res, "divisor"))
			json_object_set_new(res, "divisor", json_string("0"));
	}
	default_probe(c, "livenessProbe");
	default_probe(c, "readinessProbe");
	default_probe(c, "startupProbe");
	if (json_is_object(lifecycle)) {
		default_http_get(json_object_get(lifecycle, "postStart"));
		default_http_get(json_object_get(lifecycle, "preStop"));
	}
}

/* The volume source keys of core/v1 Volume, in upstream's validation order. */
static const char *const volume_sources[] = {
	"emptyDir",
	"hostPath",
	"gitRepo",
	"gcePersistentDisk",
	"awsElasticBlockStore",
	"secret",
	"nfs",
	"iscsi",
	"glusterfs",
	"flocker",
	"persistentVolumeClaim",
	"rbd",
	"cinder",
	"cephfs",
	"quobyte",
	"downwardAPI",
	"fc",
	"flexVolume",
	"configMap",
	"azureFile",
	"vsphereVolume",
	"photonPersistentDisk",
	"portworxVolume",
	"azureDisk",
	"storageos",
	"projected",
	"scaleIO",
	"csi",
	"ephemeral",
	"image",
	NULL,
};

static void default_pvc_spec(json_t *spec)
{
	if (json_is_object(spec))
		def_str(spec, "volumeMode", "Filesystem");
}

static void default_volume(json_t *v)
{
	bool any = false;
	json_t *s;

	if (!json_is_object(v))
		return;
	for (size_t i = 0; volume_sources[i]; i++)
		if (present(v, volume_sources[i]))
			any = true;
	if (!any)
		json_object_set_new(v, "emptyDir", json_object());
	if (json_is_object(s = json_object_get(v, "secret")))
		def_int(s, "defaultMode", 0644);
	if (json_is_object(s = json_object_get(v, "configMap")))
		def_int(s, "defaultMode", 0644);
	if (json_is_object(s = json_object_get(v, "downwardAPI"))) {
		json_t *item;
		size_t i;

		def_int(s, "defaultMode", 0644);
		json_array_foreach (json_object_get(s, "items"), i, item)
			if (json_is_object(json_object_get(item, "fieldRef")))
				def_str(json_object_get(item, "fieldRef"), "apiVersion", "v1");
	}
	if (json_is_object(s = json_object_get(v, "hostPath")) && !present(s, "type"))
		json_object_set_new(s, "type", json_string(""));
	if (json_is_object(s = json_object_get(v, "projected"))) {
		json_t *src;
		size_t i;

		def_int(s, "defaultMode", 0644);
		json_array_foreach (json_object_get(s, "sources"), i, src) {
			json_t *tok = json_object_get(src, "serviceAccountToken");
			json_t *dapi = json_object_get(src, "downwardAPI"), *item;
			size_t j;

			if (json_is_object(tok))
				def_int(tok, "expirationSeconds", 3600);
			json_array_foreach (json_object_get(dapi, "items"), j, item)
				if (json_is_object(json_object_get(item, "fieldRef")))
					def_str(json_object_get(item, "fieldRef"), "apiVersion",
						"v1");
		}
	}
	if (json_is_object(s = json_object_get(v, "ephemeral"))) {
		json_t *tmpl = json_object_get(s, "volumeClaimTemplate");

		if (json_is_object(tmpl))
			default_pvc_spec(json_object_get(tmpl, "spec"));
	}
}

/* DefaultTolerationSeconds admission: 300 s for not-ready and unreachable nodes, unless
 * the server says otherwise at start. */
static int64_t toleration_seconds[2] = {300, 300};

void typed_set_toleration_seconds(int64_t not_ready, int64_t unreachable)
{
	toleration_seconds[0] = not_ready;
	toleration_seconds[1] = unreachable;
}

static void default_tolerations(json_t *spec)
{
	static const char *const taints[] = {"node.kubernetes.io/not-ready",
					     "node.kubernetes.io/unreachable"};
	json_t *tols = json_object_get(spec, "tolerations");

	for (size_t t = 0; t < 2; t++) {
		bool covered = false;
		json_t *tol;
		size_t i;

		json_array_foreach (tols, i, tol) {
			const char *key = str_of(tol, "key"), *effect = str_of(tol, "effect");

			if ((!key || !*key || strcmp(key, taints[t]) == 0) &&
			    (!effect || !*effect || strcmp(effect, "NoExecute") == 0))
				covered = true;
		}
		if (covered)
			continue;
		if (!json_is_array(tols)) {
			tols = json_array();
			json_object_set_new(spec, "tolerations", tols);
		}
		json_array_append_new(tols, json_pack("{s:s, s:s, s:s, s:I}", "key", taints[t],
						      "operator", "Exists", "effect", "NoExecute",
						      "tolerationSeconds",
						      (json_int_t)toleration_seconds[t]));
	}
}

static void default_pod_spec(json_t *spec, bool pod)
{
	static const char *const lists[] = {"initContainers", "containers", "ephemeralContainers"};
	json_t *host = json_object_get(spec, "hostNetwork"), *v;
	bool host_network = pod && json_is_true(host);
	const char *sa;
	size_t i;

	def_str(spec, "dnsPolicy", "ClusterFirst");
	def_str(spec, "restartPolicy", "Always");
	def_obj(spec, "securityContext");
	def_int(spec, "terminationGracePeriodSeconds", 30);
	def_str(spec, "schedulerName", "default-scheduler");
	for (size_t l = 0; l < 3; l++) {
		json_t *c;

		json_array_foreach (json_object_get(spec, lists[l]), i, c)
			default_container(c, pod && l < 2, host_network);
	}
	json_array_foreach (json_object_get(spec, "volumes"), i, v)
		default_volume(v);

	/* v1's deprecated serviceAccount mirrors serviceAccountName both ways */
	sa = str_of(spec, "serviceAccountName");
	if ((!sa || !*sa) && str_of(spec, "serviceAccount") && *str_of(spec, "serviceAccount"))
		json_object_set_new(spec, "serviceAccountName",
				    json_string(str_of(spec, "serviceAccount")));
	if (!pod) {
		sa = str_of(spec, "serviceAccountName");
		if (sa && *sa)
			json_object_set_new(spec, "serviceAccount", json_string(sa));
		return;
	}

	def_bool(spec, "enableServiceLinks", true);
	def_str(spec, "serviceAccountName", "default");
	json_object_set_new(spec, "serviceAccount",
			    json_string(str_of(spec, "serviceAccountName")));
	if (!present(spec, "priority")) {
		const char *pc = str_of(spec, "priorityClassName");
		json_int_t prio = 0;

		if (pc && strcmp(pc, "system-node-critical") == 0)
			prio = 2000001000;
		else if (pc && strcmp(pc, "system-cluster-critical") == 0)
			prio = 2000000000;
		json_object_set_new(spec, "priority", json_integer(prio));
	}
	def_str(spec, "preemptionPolicy", "PreemptLowerPriority");
	default_tolerations(spec);
}

static void default_pod(json_t *pod)
{
	json_t *spec = child(pod, "spec"), *status;

	default_pod_spec(spec, true);
	status = child(pod, "status");
	def_str(status, "phase", "Pending");
	def_str(status, "qosClass", typed_pod_qos(pod));
}

static void default_template(json_t *parent)
{
	default_pod_spec(child(child(parent, "template"), "spec"), false);
}

/* ---- defaults: workloads --------------------------------------------------------------- */

static void default_deployment(json_t *obj)
{
	json_t *spec = child(obj, "spec"), *strategy = child(spec, "strategy");
	const char *type;

	def_int(spec, "replicas", 1);
	def_str(strategy, "type", "RollingUpdate");
	type = str_of(strategy, "type");
	if (type && strcmp(type, "RollingUpdate") == 0) {
		json_t *ru = child(strategy, "rollingUpdate");

		if (!present(ru, "maxUnavailable"))
			json_object_set_new(ru, "maxUnavailable", json_string("25%"));
		if (!present(ru, "maxSurge"))
			json_object_set_new(ru, "maxSurge", json_string("25%"));
	}
	def_int(spec, "revisionHistoryLimit", 10);
	def_int(spec, "progressDeadlineSeconds", 600);
	default_template(spec);
}

static void default_daemonset(json_t *obj)
{
	json_t *spec = child(obj, "spec"), *strategy = child(spec, "updateStrategy");
	const char *type;

	def_str(strategy, "type", "RollingUpdate");
	type = str_of(strategy, "type");
	if (type && strcmp(type, "RollingUpdate") == 0) {
		json_t *ru = child(strategy, "rollingUpdate");

		def_int(ru, "maxUnavailable", 1);
		def_int(ru, "maxSurge", 0);
	}
	def_int(spec, "revisionHistoryLimit", 10);
	default_template(spec);
}

static void default_statefulset(json_t *obj)
{
	json_t *spec = child(obj, "spec"), *strategy = child(spec, "updateStrategy"), *ru, *pvc;
	json_t *policy;
	size_t i;

	def_str(spec, "podManagementPolicy", "OrderedReady");
	if (!str_of(strategy, "type") || !*str_of(strategy, "type")) {
		def_str(strategy, "type", "RollingUpdate");
		child(strategy, "rollingUpdate");
	}
	ru = json_object_get(strategy, "rollingUpdate");
	if (strcmp(str_of(strategy, "type") ? str_of(strategy, "type") : "", "RollingUpdate") ==
		    0 &&
	    json_is_object(ru))
		def_int(ru, "partition", 0);
	policy = child(spec, "persistentVolumeClaimRetentionPolicy");
	def_str(policy, "whenDeleted", "Retain");
	def_str(policy, "whenScaled", "Retain");
	def_int(spec, "replicas", 1);
	def_int(spec, "revisionHistoryLimit", 10);
	default_template(spec);
	json_array_foreach (json_object_get(spec, "volumeClaimTemplates"), i, pvc) {
		if (!json_is_object(pvc))
			continue;
		default_pvc_spec(child(pvc, "spec"));
		def_str(child(pvc, "status"), "phase", "Pending");
	}
}

/* PrepareForCreate's generateSelector: the controller-uid and job-name labels. */
static void job_generate_selector(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata"), *spec = child(obj, "spec");
	json_t *tlabels, *sel, *ml;
	const char *uid = str_of(meta, "uid"), *name = str_of(meta, "name");

	if (json_is_true(json_object_get(spec, "manualSelector")) || !uid || !*uid)
		return;
	tlabels = child(child(child(spec, "template"), "metadata"), "labels");
	if (name && !json_object_get(tlabels, "batch.kubernetes.io/job-name"))
		json_object_set_new(tlabels, "batch.kubernetes.io/job-name", json_string(name));
	if (!json_object_get(tlabels, "batch.kubernetes.io/controller-uid"))
		json_object_set_new(tlabels, "batch.kubernetes.io/controller-uid",
				    json_string(uid));
	if (name && !json_object_get(tlabels, "job-name"))
		json_object_set_new(tlabels, "job-name", json_string(name));
	if (!json_object_get(tlabels, "controller-uid"))
		json_object_set_new(tlabels, "controller-uid", json_string(uid));
	sel = child(spec, "selector");
	ml = child(sel, "matchLabels");
	if (!json_object_get(ml, "batch.kubernetes.io/controller-uid"))
		json_object_set_new(ml, "batch.kubernetes.io/controller-uid", json_string(uid));
}

static void default_job(json_t *obj)
{
	json_t *spec = child(obj, "spec"), *meta = child(obj, "metadata"), *labels, *tlabels;

	if (!present(spec, "completions") && !present(spec, "parallelism")) {
		json_object_set_new(spec, "completions", json_integer(1));
		json_object_set_new(spec, "parallelism", json_integer(1));
	}
	def_int(spec, "parallelism", 1);
	def_int(spec, "backoffLimit", present(spec, "backoffLimitPerIndex") ? INT32_MAX : 6);
	def_str(spec, "completionMode", "NonIndexed");
	def_bool(spec, "suspend", false);
	def_str(spec, "podReplacementPolicy",
		present(spec, "podFailurePolicy") ? "Failed" : "TerminatingOrFailed");
	default_template(spec);
	job_generate_selector(obj);
	/*
	 * Upstream shares the template's label map with the job when the job has none, so
	 * the job ends up carrying the generated labels as well.
	 */
	labels = json_object_get(meta, "labels");
	tlabels = json_object_get(json_object_get(json_object_get(spec, "template"), "metadata"),
				  "labels");
	if (json_object_size(labels) == 0 && json_object_size(tlabels) > 0)
		json_object_set_new(meta, "labels", json_deep_copy(tlabels));
}

static void default_cronjob(json_t *obj)
{
	json_t *spec = child(obj, "spec");

	def_str(spec, "concurrencyPolicy", "Allow");
	def_bool(spec, "suspend", false);
	def_int(spec, "successfulJobsHistoryLimit", 3);
	def_int(spec, "failedJobsHistoryLimit", 1);
	default_template(child(child(spec, "jobTemplate"), "spec"));
}

/* ---- defaults: core kinds -------------------------------------------------------------- */

static void default_service(json_t *obj)
{
	json_t *spec = child(obj, "spec"), *port;
	const char *type, *affinity, *cip;
	size_t i;

	def_str(spec, "sessionAffinity", "None");
	affinity = str_of(spec, "sessionAffinity");
	if (affinity && strcmp(affinity, "None") == 0)
		json_object_del(spec, "sessionAffinityConfig");
	if (affinity && strcmp(affinity, "ClientIP") == 0) {
		json_t *cfg = json_object_get(spec, "sessionAffinityConfig");
		json_t *tmo = json_object_get(json_object_get(cfg, "clientIP"), "timeoutSeconds");

		if (!tmo || json_is_null(tmo))
			json_object_set_new(spec, "sessionAffinityConfig",
					    json_pack("{s:{s:I}}", "clientIP", "timeoutSeconds",
						      (json_int_t)10800));
	}
	def_str(spec, "type", "ClusterIP");
	type = str_of(spec, "type");
	json_array_foreach (json_object_get(spec, "ports"), i, port) {
		json_t *tp;

		if (!json_is_object(port))
			continue;
		def_str(port, "protocol", "TCP");
		tp = json_object_get(port, "targetPort");
		if ((!tp || json_is_null(tp) || (json_is_integer(tp) && !json_integer_value(tp)) ||
		     (json_is_string(tp) && !*json_string_value(tp))) &&
		    json_is_integer(json_object_get(port, "port")))
			json_object_set(port, "targetPort", json_object_get(port, "port"));
	}
	if (!type)
		return;
	if (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0 ||
	    json_array_size(json_object_get(spec, "externalIPs")) > 0)
		def_str(spec, "externalTrafficPolicy", "Cluster");
	if (strcmp(type, "ExternalName") != 0)
		def_str(spec, "internalTrafficPolicy", "Cluster");
	if (strcmp(type, "LoadBalancer") == 0)
		def_bool(spec, "allocateLoadBalancerNodePorts", true);

	/* the service REST fills clusterIPs and the IP family fields (single-stack IPv4) */
	cip = str_of(spec, "clusterIP");
	if (cip && *cip && !present(spec, "clusterIPs"))
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", cip));
	if (strcmp(type, "ExternalName") == 0)
		return;
	if (cip && strcmp(cip, "None") == 0 &&
	    json_object_size(json_object_get(spec, "selector")) == 0)
		def_str(spec, "ipFamilyPolicy", "RequireDualStack");
	else
		def_str(spec, "ipFamilyPolicy", "SingleStack");
	if (json_array_size(json_object_get(spec, "ipFamilies")) == 0)
		json_object_set_new(spec, "ipFamilies", json_pack("[s]", "IPv4"));
}

static char *base64_encode(const unsigned char *in, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void default_secret(json_t *obj)
{
	json_t *sd = json_object_get(obj, "stringData"), *v;
	const char *k;

	def_str(obj, "type", "Opaque");
	if (!json_is_object(sd))
		return;
	/* v1 conversion: stringData overwrites data and is never stored */
	json_object_foreach (sd, k, v) {
		if (json_is_string(v)) {
			cleanup_free char *b64 = base64_encode(
				(const unsigned char *)json_string_value(v), json_string_length(v));

			json_object_set_new(child(obj, "data"), k, json_string(b64));
		}
	}
	json_object_del(obj, "stringData");
}

static void default_namespace(json_t *obj)
{
	json_t *meta = child(obj, "metadata"), *spec = child(obj, "spec");
	const char *name = str_of(meta, "name");

	if (name && *name)
		json_object_set_new(child(meta, "labels"), "kubernetes.io/metadata.name",
				    json_string(name));
	if (!present(spec, "finalizers"))
		json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
	def_str(child(obj, "status"), "phase", "Active");
}

static void default_node(json_t *obj)
{
	json_t *status = json_object_get(obj, "status");
	json_t *cap = json_object_get(status, "capacity");

	if (json_is_object(cap) && !present(status, "allocatable"))
		json_object_set_new(status, "allocatable", json_deep_copy(cap));
}

static void default_endpoints(json_t *obj)
{
	json_t *subset, *port;
	size_t i, j;

	json_array_foreach (json_object_get(obj, "subsets"), i, subset)
		json_array_foreach (json_object_get(subset, "ports"), j, port)
			if (json_is_object(port))
				def_str(port, "protocol", "TCP");
}

static void default_endpointslice(json_t *obj)
{
	json_t *port;
	size_t i;

	json_array_foreach (json_object_get(obj, "ports"), i, port) {
		if (!json_is_object(port))
			continue;
		if (!present(port, "name"))
			json_object_set_new(port, "name", json_string(""));
		def_str(port, "protocol", "TCP");
	}
}

void typed_default(const struct api_resource *r, json_t *obj)
{
	if (!json_is_object(obj))
		return;
	if (is_kind(r, "", "Pod"))
		default_pod(obj);
	else if (is_kind(r, "apps", "Deployment"))
		default_deployment(obj);
	else if (is_kind(r, "apps", "ReplicaSet")) {
		def_int(child(obj, "spec"), "replicas", 1);
		default_template(child(obj, "spec"));
	} else if (is_kind(r, "apps", "DaemonSet"))
		default_daemonset(obj);
	else if (is_kind(r, "apps", "StatefulSet"))
		default_statefulset(obj);
	else if (is_kind(r, "batch", "Job"))
		default_job(obj);
	else if (is_kind(r, "batch", "CronJob"))
		default_cronjob(obj);
	else if (is_kind(r, "", "Service"))
		default_service(obj);
	else if (is_kind(r, "", "Secret"))
		default_secret(obj);
	else if (is_kind(r, "", "Namespace"))
		default_namespace(obj);
	else if (is_kind(r, "", "Node"))
		default_node(obj);
	else if (is_kind(r, "", "Endpoints"))
		default_endpoints(obj);
	else if (is_kind(r, "discovery.k8s.io", "EndpointSlice"))
		default_endpointslice(obj);
	else if (is_kind(r, "", "PersistentVolumeClaim")) {
		default_pvc_spec(child(obj, "spec"));
		def_str(child(obj, "status"), "phase", "Pending");
	} else if (is_kind(r, "", "PersistentVolume")) {
		json_t *spec = child(obj, "spec");

		def_str(spec, "persistentVolumeReclaimPolicy", "Retain");
		def_str(spec, "volumeMode", "Filesystem");
		if (json_is_object(json_object_get(spec, "hostPath")) &&
		    !present(json_object_get(spec, "hostPath"), "type"))
			json_object_set_new(json_object_get(spec, "hostPath"), "type",
					    json_string(""));
		def_str(child(obj, "status"), "phase", "Pending");
	}
}

/* ---- generation and services ------------------------------------------------------------ */

bool typed_generation_changed(const json_t *old, const json_t *obj)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)obj, k, v) {
		if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0)
			continue;
		if (!json_equal(v, json_object_get(old, k)))
			return true;
	}
	json_object_foreach ((json_t *)old, k, v) {
		if (strcmp(k, "metadata") == 0 || strcmp(k, "status") == 0)
			continue;
		if (!json_object_get(obj, k))
			return true;
	}
	return false;
}

static bool needs_cluster_ip(const char *type)
{
	return type && strcmp(type, "ExternalName") != 0;
}

static bool needs_node_port(const char *type)
{
	return type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0);
}

/* Drops a field the new type cannot have, when the update left it as it was. */
static void drop_if_same(json_t *spec, const json_t *ospec, const char *k)
{
	if (json_equal(json_object_get(spec, k), json_object_get(ospec, k)))
		json_object_del(spec, k);
}

/* Upstream's dropTypeDependentFields: a type change sheds what the old type allocated. */
static void drop_type_dependent(json_t *spec, const json_t *ospec, const char *type,
				const char *otype)
{
	json_t *port, *oport;
	size_t i;

	if (needs_cluster_ip(otype) && !needs_cluster_ip(type)) {
		drop_if_same(spec, ospec, "clusterIP");
		drop_if_same(spec, ospec, "clusterIPs");
		drop_if_same(spec, ospec, "ipFamilies");
		drop_if_same(spec, ospec, "ipFamilyPolicy");
		drop_if_same(spec, ospec, "internalTrafficPolicy");
	}
	if (needs_node_port(otype) && !needs_node_port(type)) {
		const json_t *ports = json_object_get(spec, "ports");
		const json_t *oports = json_object_get(ospec, "ports");
		bool same = json_array_size(ports) == json_array_size(oports);

		json_array_foreach (ports, i, port) {
			oport = json_array_get(oports, i);
			if (!json_equal(json_object_get(port, "nodePort"),
					json_object_get(oport, "nodePort")))
				same = false;
		}
		json_array_foreach (ports, i, port)
			if (same)
				json_object_del(port, "nodePort");
		drop_if_same(spec, ospec, "healthCheckNodePort");
		if (json_array_size(json_object_get(spec, "externalIPs")) == 0)
			drop_if_same(spec, ospec, "externalTrafficPolicy");
	}
	if (strcmp(otype, "LoadBalancer") == 0 && strcmp(type, "LoadBalancer") != 0) {
		drop_if_same(spec, ospec, "allocateLoadBalancerNodePorts");
		drop_if_same(spec, ospec, "loadBalancerClass");
	}
}

void typed_service_keep_allocations(json_t *svc, const json_t *old)
{
	json_t *spec = json_object_get(svc, "spec");
	const json_t *ospec = json_object_get(old, "spec");
	const char *type = str_of(spec, "type"), *otype = str_of(ospec, "type");
	json_t *port, *oport;
	size_t i, j;

	if (!json_is_object(spec) || !json_is_object(ospec) || !type || !otype)
		return;
	if (strcmp(type, otype) != 0)
		drop_type_dependent(spec, ospec, type, otype);
	if (needs_cluster_ip(type) && needs_cluster_ip(otype)) {
		const char *cip = str_of(spec, "clusterIP");

		if ((!cip || !*cip) && str_of(ospec, "clusterIP")) {
			json_object_set(spec, "clusterIP", json_object_get(ospec, "clusterIP"));
			if (json_array_size(json_object_get(spec, "clusterIPs")) == 0 &&
			    json_object_get(ospec, "clusterIPs"))
				json_object_set_new(
					spec, "clusterIPs",
					json_deep_copy(json_object_get(ospec, "clusterIPs")));
		}
	}
	if (!needs_node_port(type))
		return;
	json_array_foreach (json_object_get(spec, "ports"), i, port) {
		json_t *np = json_object_get(port, "nodePort");

		if (np && !(json_is_integer(np) && json_integer_value(np) == 0))
			continue;
		json_array_foreach (json_object_get(ospec, "ports"), j, oport) {
			if (json_equal(json_object_get(port, "port"),
				       json_object_get(oport, "port")) &&
			    json_equal(json_object_get(port, "protocol"),
				       json_object_get(oport, "protocol")) &&
			    json_is_integer(json_object_get(oport, "nodePort"))) {
				json_object_set(port, "nodePort",
						json_object_get(oport, "nodePort"));
				break;
			}
		}
	}
	if (!present(spec, "healthCheckNodePort") && present(ospec, "healthCheckNodePort"))
		json_object_set(spec, "healthCheckNodePort",
				json_object_get(ospec, "healthCheckNodePort"));
}
