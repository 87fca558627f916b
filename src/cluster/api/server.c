/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request handling of the API server: routing by upstream's paths, the verbs (get, list,
 * watch, create, update, patch, delete, deletecollection) and the subresources (status,
 * scale, binding, eviction), with upstream's semantics: uid, creationTimestamp,
 * generateName, generation, resourceVersion from the store's revision, optimistic
 * concurrency, finalizers and graceful deletion, selectors, pagination, dry run, strict
 * field validation, Table output, and errors as Status objects.
 *
 * Every write decodes one object, changes it, and stores its bytes with a compare-and-swap
 * on the revision it was based on; the answer waits until the cache has the write, so a
 * client reads its own writes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/log.h"
#include "cluster/api/auth.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"
#include "cluster/api/patch.h"
#include "cluster/api/proto.h"
#include "cluster/api/schema.h"
#include "cluster/api/selector.h"
#include "cluster/api/status.h"
#include "cluster/api/table.h"
#include "cluster/api/typed.h"
#include "cluster/store/store.h"

/* Unconditional updates and patches retry this often when another write races them. */
#define MAX_RETRIES 16
/*
 * A collection delete of more objects than this runs on this many threads (upstream's
 * --delete-collection-workers): each delete waits for its commit, and commits of
 * concurrent writes are grouped, so a namespace of 30,000 pods empties in a fraction of
 * the time one delete after the other takes.
 */
#define DELETE_COLLECTION_WORKERS 8
#define DELETE_COLLECTION_SERIAL  64

struct req {
	struct api *api;
	struct http_request *h;
	struct api_user user;
	const char *method;
	const struct api_resource *res;
	char *ns;   /* from the path, or NULL */
	char *name; /* from the path, or NULL */
	char *sub;  /* subresource, or NULL */
	bool dry_run;
	bool strict;     /* fieldValidation=Strict */
	bool warn;       /* fieldValidation=Warn (the default) */
	bool table;      /* Accept asks for a Table */
	bool table_full; /* includeObject=Object */
	json_t *scale;   /* the Scale a /scale write asks for */
	bool quiet;      /* a part of a collection delete: store failures are logged, not replied */
	/* the bytes the last store_write() stored for @written, at @written_rev */
	char *written_bytes;
	size_t written_len;
	const json_t *written;
	int64_t written_rev;
};

static int has_terminal_phase(json_t *pod);

/* Responses. */

void api_reply_json(struct http_request *req, unsigned code, json_t *doc)
{
	char *body = jdump_s(doc, JSON_COMPACT);

	if (!body) {
		http_respond(req, 500, "application/json", "{}", 2);
		return;
	}
	http_respond_take(req, code, "application/json", body, strlen(body));
}

static json_t *status_doc(unsigned code, const char *reason, const char *message)
{
	json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
			       "v1", "metadata", "status", code < 400 ? "Success" : "Failure",
			       "message", message, "code", (int)code);

	if (reason && *reason)
		json_object_set_new(st, "reason", json_string(reason));
	return st;
}

/* A Status of success without a message, as a binding or an eviction answers. */
static void reply_success(struct req *q, unsigned code)
{
	char *body = xasprintf("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
			       "\"status\":\"Success\",\"code\":%u}",
			       code);

	http_respond_take(q->h, code, "application/json", body, strlen(body));
}

void api_reply_status(struct http_request *req, unsigned code, const char *reason, const char *fmt,
		      ...)
{
	cleanup_free char *msg = NULL;
	cleanup_json json_t *st = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	st = status_doc(code, reason, msg);
	api_reply_json(req, code, st);
}

/* "deployments.apps" or "pods": how upstream names a resource in messages. */
static char *qualified(const struct api_resource *r)
{
	if (r->group[0])
		return xasprintf("%s.%s", r->plural, r->group);
	return xstrdup(r->plural);
}

static void reply_details(struct req *q, unsigned code, const char *reason, const char *name,
			  const char *msg)
{
	cleanup_json json_t *st = status_doc(code, reason, msg);
	json_t *d = json_object();

	if (name)
		json_object_set_new(d, "name", json_string(name));
	if (q->res) {
		if (q->res->group[0])
			json_object_set_new(d, "group", json_string(q->res->group));
		json_object_set_new(d, "kind", json_string(q->res->plural));
	}
	json_object_set_new(st, "details", d);
	api_reply_json(q->h, code, st);
}

static void reply_not_found(struct req *q, const char *name)
{
	cleanup_free char *qn = qualified(q->res);
	cleanup_free char *msg = xasprintf("%s \"%s\" not found", qn, name);

	reply_details(q, 404, "NotFound", name, msg);
}

static void reply_exists(struct req *q, const char *name)
{
	cleanup_free char *qn = qualified(q->res);
	cleanup_free char *msg = xasprintf("%s \"%s\" already exists", qn, name);

	reply_details(q, 409, "AlreadyExists", name, msg);
}

static void reply_conflict(struct req *q, const char *name)
{
	cleanup_free char *qn = qualified(q->res);
	cleanup_free char *msg =
		xasprintf("Operation cannot be fulfilled on %s \"%s\": the object has been "
			  "modified; please apply your changes to the latest version and try again",
			  qn, name);

	reply_details(q, 409, "Conflict", name, msg);
}

/* An update naming a uid (metadata.uid) other than the stored object's, as upstream's. */
static void reply_uid_mismatch(struct req *q, const char *name, const char *want, const char *have)
{
	cleanup_free char *qn = qualified(q->res);
	cleanup_free char *msg = xasprintf("Operation cannot be fulfilled on %s \"%s\": "
					   "Precondition failed: UID in precondition: %s, UID "
					   "in object meta: %s",
					   qn, name, want, have);

	reply_details(q, 409, "Conflict", name, msg);
}

static void reply_forbidden(struct req *q, const char *verb)
{
	const struct api_resource *r = q->res;
	cleanup_free char *qn = r ? qualified(r) : NULL;
	cleanup_free char *res =
		r && q->sub ? xasprintf("%s/%s", r->plural, q->sub) : xstrdup(r ? r->plural : "");
	cleanup_free char *msg = NULL;

	if (!r)
		msg = xasprintf("forbidden: User \"%s\" cannot %s path \"%s\"", q->user.name, verb,
				http_path(q->h));
	else if (q->ns)
		msg = xasprintf("%s%s%s%s is forbidden: User \"%s\" cannot %s resource \"%s\" "
				"in API group \"%s\" in the namespace \"%s\"",
				qn, q->name ? " \"" : "", q->name ? q->name : "",
				q->name ? "\"" : "", q->user.name, verb, res, r->group, q->ns);
	else
		msg = xasprintf("%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API "
				"group \"%s\" at the cluster scope",
				qn, q->user.name, verb, res, r->group);
	reply_details(q, 403, "Forbidden", q->name, msg);
}

/* 422 Invalid with the causes, worded as upstream's field.ErrorList. */
static void reply_invalid(struct req *q, const char *name, const struct causes *cs)
{
	const struct api_resource *r = q->res;
	cleanup_free char *kind =
		r->group[0] ? xasprintf("%s.%s", r->kind, r->group) : xstrdup(r->kind);
	size_t cap = 256, len = 0;
	cleanup_free char *list = xmalloc(cap);
	cleanup_free char *msg = NULL;
	cleanup_json json_t *st = NULL;
	json_t *d, *causes = json_array();

	list[0] = '\0';
	for (size_t i = 0; i < cs->n; i++) {
		cleanup_free char *one =
			cs->v[i].field && *cs->v[i].field
				? xasprintf("%s: %s", cs->v[i].field, cs->v[i].message)
				: xstrdup(cs->v[i].message);
		size_t need = len + strlen(one) + 3;

		if (need >= cap) {
			cap = need * 2;
			list = xrealloc(list, cap);
		}
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? ", " : "", one);
		json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason", cs->v[i].type,
							"message", cs->v[i].message, "field",
							cs->v[i].field ? cs->v[i].field : ""));
	}
	msg = xasprintf(cs->n > 1 ? "%s \"%s\" is invalid: [%s]" : "%s \"%s\" is invalid: %s", kind,
			name ? name : "", list);
	st = status_doc(422, "Invalid", msg);
	d = json_pack("{s:s, s:s, s:o}", "name", name ? name : "", "kind", r->kind, "causes",
		      causes);
	if (r->group[0])
		json_object_set_new(d, "group", json_string(r->group));
	json_object_set_new(st, "details", d);
	api_reply_json(q->h, 422, st);
}

/* Decoding failures (unknown fields under Strict, wrong types): 400 as upstream says. */
static void reply_undecodable(struct req *q, const struct causes *cs)
{
	size_t cap = 256, len = 0;
	cleanup_free char *list = xmalloc(cap);
	bool strict = false;

	list[0] = '\0';
	for (size_t i = 0; i < cs->n; i++) {
		const char *m = cs->v[i].message;
		size_t need = len + strlen(m) + 3;

		if (strcmp(cs->v[i].type, CAUSE_UNKNOWN_FIELD) == 0)
			strict = true;
		if (need >= cap) {
			cap = need * 2;
			list = xrealloc(list, cap);
		}
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? ", " : "", m);
	}
	api_reply_status(q->h, 400, "BadRequest",
			 "%s in version \"%s\" cannot be handled as a %s: %s%s", q->res->kind,
			 q->res->version, q->res->kind, strict ? "strict decoding error: " : "",
			 list);
}

/* Helpers for objects. */

static json_t *jpath(json_t *doc, const char *a, const char *b)
{
	json_t *v = json_object_get(doc, a);

	return b ? json_object_get(v, b) : v;
}

static const char *jstr(json_t *doc, const char *a, const char *b)
{
	return json_string_value(jpath(doc, a, b));
}

static json_t *meta_of(json_t *obj)
{
	json_t *m = json_object_get(obj, "metadata");

	if (!json_is_object(m)) {
		m = json_object();
		json_object_set_new(obj, "metadata", m);
	}
	return m;
}

static char *now_rfc3339(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec = 0;
	return clock_rfc3339(&ts);
}

char *api_new_uid(void)
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		abort();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	return xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
			 b[12], b[13], b[14], b[15]);
}

/* generateName's suffix: five characters from upstream's alphabet (no vowels). */
static char *generated_name(const char *prefix)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	unsigned char b[5];
	char suffix[6];

	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		abort();
	for (size_t i = 0; i < 5; i++)
		suffix[i] = alphabet[b[i] % (sizeof(alphabet) - 1)];
	suffix[5] = '\0';
	return xasprintf("%.*s%s", 58, prefix, suffix);
}

/* api_json_with_rev finds the top-level metadata by its coming first. */
char *api_serialize(const struct api_resource *r, json_t *obj, size_t *len)
{
	cleanup_json json_t *out = json_object();
	const char *k;
	json_t *v;
	char *s;

	json_object_set_new(out, "apiVersion", json_string(r->api_version));
	json_object_set_new(out, "kind", json_string(r->kind));
	json_object_set(out, "metadata", meta_of(obj));
	json_object_del(meta_of(obj), "resourceVersion");
	json_object_foreach (obj, k, v) {
		if (strcmp(k, "apiVersion") && strcmp(k, "kind") && strcmp(k, "metadata"))
			json_object_set(out, k, v);
	}
	s = jdump_s(out, JSON_COMPACT);
	if (!s)
		abort();
	*len = strlen(s);
	return s;
}

static int64_t parse_rv(const char *s, bool *ok)
{
	char *end;
	long long v;

	*ok = true;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		*ok = false;
		return 0;
	}
	return v;
}

static json_t *scale_of(struct req *q, json_t *obj, int64_t rev);

/* Replies with one stored object (as a Table when asked). */
static void reply_obj(struct req *q, unsigned code, struct api_obj *o)
{
	if (q->scale) {
		cleanup_json json_t *doc = jload_b(o->json, o->len, 0, NULL);
		cleanup_json json_t *sc = scale_of(q, doc, o->rev);

		api_reply_json(q->h, code, sc);
		return;
	}
	if (q->table && !q->sub) {
		cleanup_json json_t *t =
			api_table(o->res, &o, 1, o->rev, q->table_full, true, NULL);

		api_reply_json(q->h, code, t);
		return;
	}
	http_respond(q->h, code, "application/json", o->json, o->len);
}

/* Replies with an object not (or not yet) in the cache. */
static void reply_doc(struct req *q, unsigned code, json_t *obj, int64_t rev)
{
	if (q->scale) {
		cleanup_json json_t *sc = scale_of(q, obj, rev);

		api_reply_json(q->h, code, sc);
		return;
	}
	size_t len, outlen;
	cleanup_free char *bytes = NULL;
	char *out;

	/* the object just stored: its bytes are at hand */
	if (rev && obj == q->written && rev == q->written_rev) {
		out = api_json_with_rev(q->written_bytes, q->written_len, rev, &outlen);
		http_respond_take(q->h, code, "application/json", out, outlen);
		return;
	}
	bytes = api_serialize(q->res, obj, &len);
	out = rev ? api_json_with_rev(bytes, len, rev, &outlen) : xstrdup(bytes);
	http_respond_take(q->h, code, "application/json", out, rev ? outlen : len);
}

/* Request body as an object of the request's kind. */
static int decode_body(struct req *q, json_t **ret)
{
	size_t len;
	const char *body = http_body(q->h, &len);
	const char *ctype = http_header(q->h, "Content-Type");
	json_error_t jerr;
	json_t *doc;

	if (ctype && strncmp(ctype, "application/vnd.kubernetes.protobuf", 35) == 0) {
		struct err err = ERR_INIT;
		int r = proto_to_json(body, len, &doc, &err);

		if (r < 0) {
			api_reply_status(q->h, r == -ENOTSUP ? 415 : 400,
					 r == -ENOTSUP ? "UnsupportedMediaType" : "BadRequest",
					 "%s", err.msg);
			err_clear(&err);
			return -1;
		}
		*ret = doc;
		return 0;
	}
	if (ctype && strstr(ctype, "yaml")) {
		api_reply_status(q->h, 415, "UnsupportedMediaType",
				 "the body of the request was in an unknown format - accepted "
				 "media types include: application/json");
		return -1;
	}
	doc = jload_b(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		api_reply_status(q->h, 400, "BadRequest",
				 "the object provided is unrecognized: %s (line %d, column %d)",
				 jerr.text, jerr.line, jerr.column);
		return -1;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		api_reply_status(q->h, 400, "BadRequest",
				 "the object provided is unrecognized: not a JSON object");
		return -1;
	}
	*ret = doc;
	return 0;
}

/* Checks apiVersion and kind of a body against the resource, filling them when absent. */
static int check_kind(struct req *q, json_t *obj, const struct api_resource *r)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));

	if (kind && strcmp(kind, r->kind) != 0) {
		api_reply_status(q->h, 400, "BadRequest",
				 "%s in version \"%s\" cannot be handled as a %s: the kind in the "
				 "data (%s) does not match the resource's kind",
				 kind, av ? av : "", r->kind, kind);
		return -1;
	}
	if (av && strcmp(av, r->api_version) != 0) {
		api_reply_status(q->h, 400, "BadRequest",
				 "the API version in the data (%s) does not match the expected API "
				 "version (%s)",
				 av, r->api_version);
		return -1;
	}
	json_object_set_new(obj, "apiVersion", json_string(r->api_version));
	json_object_set_new(obj, "kind", json_string(r->kind));
	return 0;
}

/* Removes the field at @path ("spec.template.spec.containers[0].foo") from @doc. */
static void prune(json_t *doc, const char *path)
{
	cleanup_free char *copy = xstrdup(path ? path : "");
	json_t *v = doc;
	char *p = copy, *last = NULL;

	while (v && p && *p) {
		char *dot = strchr(p, '.');
		char *br = strchr(p, '[');

		if (br && (!dot || br < dot)) {
			*br = '\0';
			v = json_object_get(v, p);
			p = br + 1;
			while (v && *p) {
				size_t idx = strtoul(p, &p, 10);

				v = json_array_get(v, idx);
				if (*p == ']')
					p++;
				if (*p != '[')
					break;
				p++;
			}
			if (*p == '.')
				p++;
			continue;
		}
		if (!dot) {
			last = p;
			break;
		}
		*dot = '\0';
		v = json_object_get(v, p);
		p = dot + 1;
	}
	if (last && json_is_object(v))
		json_object_del(v, last);
}

/*
 * Schema check: with Strict, unknown fields fail the request; with Warn they become
 * Warning headers and are dropped; type errors always fail.
 */
/* @old: the stored object @obj updates (its values that @obj shares are not checked again) */
static int check_schema(struct req *q, json_t *obj, const json_t *old)
{
	struct causes cs = {0};
	struct causes hard = {0};
	int r = 0;

	schema_check_update(schema_type_of(q->res), obj, old, true, &cs);
	for (size_t i = 0; i < cs.n; i++) {
		if (strcmp(cs.v[i].type, CAUSE_UNKNOWN_FIELD) == 0 && !q->strict) {
			if (q->warn) {
				cleanup_free char *w = xasprintf("299 - \"%s\"", cs.v[i].message);

				http_add_header(q->h, "Warning", w);
			}
			continue;
		}
		causes_add(&hard, cs.v[i].type, cs.v[i].field, "%s", cs.v[i].message);
	}
	if (hard.n) {
		reply_undecodable(q, &hard);
		r = -1;
	}
	if (r == 0)
		for (size_t i = 0; i < cs.n; i++)
			if (strcmp(cs.v[i].type, CAUSE_UNKNOWN_FIELD) == 0)
				prune(obj, cs.v[i].field);
	causes_free(&cs);
	causes_free(&hard);
	return r;
}

/* Namespaces must exist and not be terminating for anything to be created in them. */
static int check_namespace(struct req *q, const char *ns)
{
	const struct api_resource *nsr = api_resource_find("", "v1", "namespaces");
	cleanup_free char *key = api_key(nsr, NULL, ns);
	struct api_obj *o = cache_get(q->api->cache, key);

	if (!o) {
		api_reply_status(q->h, 404, "NotFound", "namespaces \"%s\" not found", ns);
		return -1;
	}
	if (o->deleting) {
		api_obj_unref(o);
		api_reply_status(
			q->h, 403, "Forbidden",
			"%s \"%s\" is forbidden: unable to create new content in namespace "
			"%s because it is being terminated",
			q->res->plural, q->name ? q->name : "", ns);
		return -1;
	}
	api_obj_unref(o);
	return 0;
}

/* ClusterIP and NodePort allocation from what the cache holds. */

static bool ip_taken(struct api *api, uint32_t ip)
{
	const struct api_resource *svc = api_resource_find("", "v1", "services");
	struct cache_list l;
	bool taken = false;
	char want[INET_ADDRSTRLEN];
	struct in_addr a = {htonl(ip)};

	inet_ntop(AF_INET, &a, want, sizeof(want));
	cache_list(api->cache, svc, NULL, NULL, NULL, NULL, 0, &l);
	for (size_t i = 0; i < l.n && !taken; i++) {
		cleanup_json json_t *doc = jload_b(l.v[i]->json, l.v[i]->len, 0, NULL);
		const char *ip_s = jstr(jpath(doc, "spec", NULL), "clusterIP", NULL);

		taken = ip_s && strcmp(ip_s, want) == 0;
	}
	cache_list_free(&l);
	return taken;
}

static bool port_taken(struct api *api, int64_t port)
{
	const struct api_resource *svc = api_resource_find("", "v1", "services");
	struct cache_list l;
	bool taken = false;

	cache_list(api->cache, svc, NULL, NULL, NULL, NULL, 0, &l);
	for (size_t i = 0; i < l.n && !taken; i++) {
		cleanup_json json_t *doc = jload_b(l.v[i]->json, l.v[i]->len, 0, NULL);
		json_t *ports = jpath(doc, "spec", "ports"), *p;
		size_t j;

		json_array_foreach (ports, j, p) {
			if (json_integer_value(json_object_get(p, "nodePort")) == port)
				taken = true;
		}
	}
	cache_list_free(&l);
	return taken;
}

/* Assigns clusterIP(s) and nodePorts a new Service needs; 422 on a taken address. */
static int allocate_service(struct req *q, json_t *obj, const json_t *old)
{
	struct api *api = q->api;
	json_t *spec = json_object_get(obj, "spec");
	const char *type = jstr(obj, "spec", "type");
	const char *ip = jstr(obj, "spec", "clusterIP");
	json_t *ports, *p;
	size_t i;

	if (!json_is_object(spec))
		return 0;
	if (old) {
		const char *old_ip = jstr((json_t *)old, "spec", "clusterIP");

		if ((!ip || !*ip) && old_ip) {
			json_object_set_new(spec, "clusterIP", json_string(old_ip));
			json_object_set(spec, "clusterIPs",
					jpath((json_t *)old, "spec", "clusterIPs"));
			ip = old_ip;
		}
	}
	if (type && strcmp(type, "ExternalName") == 0)
		return 0;
	if (!ip || !*ip) {
		uint32_t size = ~api->service_mask, pick;
		unsigned char rnd[4];
		bool found = false;

		for (int tries = 0; tries < 64 && !found; tries++) {
			if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
				abort();
			pick = ((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 |
				(uint32_t)rnd[2] << 8 | rnd[3]) %
			       (size - 1);
			/* .0 is the network, .1 the kubernetes service, .10 the cluster DNS */
			if (pick < 11)
				continue;
			found = !ip_taken(api, api->service_net | pick);
		}
		if (!found) {
			api_reply_status(q->h, 500, "InternalError",
					 "failed to allocate a serviceIP: range is full");
			return -1;
		}
		struct in_addr a = {htonl(api->service_net | pick)};
		char buf[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, buf, sizeof(buf));
		json_object_set_new(spec, "clusterIP", json_string(buf));
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", buf));
	} else if (strcmp(ip, "None") != 0) {
		if (!json_object_get(spec, "clusterIPs"))
			json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
		if (!old) {
			struct in_addr a;

			if (inet_pton(AF_INET, ip, &a) != 1 ||
			    (ntohl(a.s_addr) & api->service_mask) != api->service_net) {
				struct causes cs = {0};

				causes_add(
					&cs, CAUSE_INVALID, "spec.clusterIPs",
					"Invalid value: []string{\"%s\"}: failed to allocate IP "
					"%s: the provided IP (%s) is not in the valid range. The "
					"range of valid IPs is %s",
					ip, ip, ip, api->cfg.service_cidr);
				reply_invalid(q, jstr(obj, "metadata", "name"), &cs);
				causes_free(&cs);
				return -1;
			}
			if (ip_taken(api, ntohl(a.s_addr))) {
				struct causes cs = {0};

				causes_add(&cs, CAUSE_INVALID, "spec.clusterIPs",
					   "Invalid value: []string{\"%s\"}: failed to allocate IP "
					   "%s: provided IP is already allocated",
					   ip, ip);
				reply_invalid(q, jstr(obj, "metadata", "name"), &cs);
				causes_free(&cs);
				return -1;
			}
		}
	} else if (!json_object_get(spec, "clusterIPs")) {
		json_object_set_new(spec, "clusterIPs", json_pack("[s]", "None"));
	}

	if (!type || (strcmp(type, "NodePort") != 0 && strcmp(type, "LoadBalancer") != 0))
		return 0;
	ports = json_object_get(spec, "ports");
	json_array_foreach (ports, i, p) {
		json_t *np = json_object_get(p, "nodePort");

		if (json_integer_value(np) > 0)
			continue;
		/* keep the port an update leaves out */
		if (old) {
			json_t *oports = jpath((json_t *)old, "spec", "ports"), *op;
			size_t j;

			json_array_foreach (oports, j, op) {
				if (json_integer_value(json_object_get(op, "port")) ==
					    json_integer_value(json_object_get(p, "port")) &&
				    json_integer_value(json_object_get(op, "nodePort")) > 0)
					json_object_set(p, "nodePort",
							json_object_get(op, "nodePort"));
			}
			if (json_integer_value(json_object_get(p, "nodePort")) > 0)
				continue;
		}
		for (int tries = 0; tries < 4096; tries++) {
			unsigned char rnd[2];
			int64_t port;

			if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
				abort();
			port = 30000 + (((int64_t)rnd[0] << 8 | rnd[1]) % 2768);
			if (!port_taken(api, port)) {
				json_object_set_new(p, "nodePort", json_integer(port));
				break;
			}
		}
	}
	return 0;
}

/*
 * A new Node gets the first free /24 of the cluster network as spec.podCIDR(s) unless it
 * names one. Allocation is serialized so two nodes registering at once differ.
 */
static int allocate_pod_cidr(struct req *q, json_t *obj)
{
	struct api *api = q->api;
	json_t *spec = json_object_get(obj, "spec");
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	uint32_t blocks = (~api->cluster_mask >> 8) + 1, pick = 0;
	unsigned char *used;
	struct cache_list l;
	bool found = false;
	char buf[INET_ADDRSTRLEN + 4];

	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	if (json_string_value(json_object_get(spec, "podCIDR")))
		return 0;
	used = xcalloc(blocks, 1);
	pthread_mutex_lock(&api->alloc_lock);
	cache_list(api->cache, nodes, NULL, NULL, NULL, NULL, 0, &l);
	for (size_t i = 0; i < l.n; i++) {
		const char *cidr = l.v[i]->pod_cidr;
		char ip[INET_ADDRSTRLEN];
		struct in_addr a;
		const char *slash = cidr ? strchr(cidr, '/') : NULL;

		if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
			continue;
		memcpy(ip, cidr, (size_t)(slash - cidr));
		ip[slash - cidr] = '\0';
		if (inet_pton(AF_INET, ip, &a) == 1 &&
		    (ntohl(a.s_addr) & api->cluster_mask) == api->cluster_net)
			used[(ntohl(a.s_addr) & ~api->cluster_mask) >> 8] = 1;
	}
	cache_list_free(&l);
	for (unsigned i = 0; i < 64; i++)
		if (api->recent_at[i] && time(NULL) - api->recent_at[i] < 30 &&
		    api->recent_block[i] < blocks)
			used[api->recent_block[i]] = 1;
	for (uint32_t b = 0; b < blocks && !found; b++)
		if (!used[b]) {
			pick = b;
			found = true;
		}
	if (found) {
		api->recent_block[api->recent_next % 64] = pick;
		api->recent_at[api->recent_next % 64] = time(NULL);
		api->recent_next++;
	}
	free(used);
	if (!found) {
		pthread_mutex_unlock(&api->alloc_lock);
		api_reply_status(q->h, 500, "InternalError",
				 "no free pod network for node: the cluster network %s is full",
				 api->cfg.cluster_cidr);
		return -1;
	}
	{
		struct in_addr a = {htonl(api->cluster_net | pick << 8)};
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		snprintf(buf, sizeof(buf), "%s/24", ip);
	}
	json_object_set_new(spec, "podCIDR", json_string(buf));
	json_object_set_new(spec, "podCIDRs", json_pack("[s]", buf));
	pthread_mutex_unlock(&api->alloc_lock);
	return 0;
}

/* Options from the query or a DeleteOptions body. */

static bool query_true(struct req *q, const char *name)
{
	const char *v = http_query(q->h, name);

	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Reads a selector query parameter; replies 400 on a bad one. */
static int query_selectors(struct req *q, struct selector **labels, struct selector **fields)
{
	const char *ls = http_query(q->h, "labelSelector");
	const char *fs = http_query(q->h, "fieldSelector");
	struct err err = ERR_INIT;

	*labels = *fields = NULL;
	if (ls && *ls && selector_parse_labels(ls, labels, &err) < 0) {
		api_reply_status(q->h, 400, "BadRequest", "%s", err.msg);
		err_clear(&err);
		return -1;
	}
	if (fs && *fs && selector_parse_fields(fs, q->res->fields, fields, &err) < 0) {
		selector_free(*labels);
		*labels = NULL;
		api_reply_status(q->h, 400, "BadRequest", "%s", err.msg);
		err_clear(&err);
		return -1;
	}
	return 0;
}

/* The continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"key"} as upstream. */

static char *continue_token(int64_t rev, const char *last_key)
{
	cleanup_json json_t *t = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv",
					   (json_int_t)rev, "start", last_key);
	cleanup_free char *s = jdump_s(t, JSON_COMPACT);

	return b64_encode(s, strlen(s), false);
}

static int parse_continue(const char *tok, int64_t *rev, char **start)
{
	size_t n;
	cleanup_free char *raw = b64_decode(tok, &n);
	cleanup_json json_t *t = raw ? jload_b(raw, n, 0, NULL) : NULL;
	const char *s = json_string_value(json_object_get(t, "start"));

	if (!s || !json_is_integer(json_object_get(t, "rv")))
		return -1;
	*rev = json_integer_value(json_object_get(t, "rv"));
	*start = xstrdup(s);
	return 0;
}

/* Tables. */

static json_t *partial_meta(json_t *doc, int64_t rev)
{
	json_t *m = json_deep_copy(json_object_get(doc, "metadata"));

	if (!m)
		m = json_object();
	json_object_del(m, "managedFields");
	if (rev)
		json_object_set_new(m, "resourceVersion", json_sprintf("%lld", (long long)rev));
	return json_pack("{s:s, s:s, s:o}", "kind", "PartialObjectMetadata", "apiVersion",
			 "meta.k8s.io/v1", "metadata", m);
}

json_t *api_table(const struct api_resource *r, struct api_obj *const *objs, size_t n, int64_t rev,
		  bool full_object, bool with_columns, const char *cont)
{
	json_t *t = json_object(), *rows = json_array(), *meta = json_object();
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(t, "kind", json_string("Table"));
	json_object_set_new(t, "apiVersion", json_string("meta.k8s.io/v1"));
	json_object_set_new(meta, "resourceVersion", json_sprintf("%lld", (long long)rev));
	if (cont)
		json_object_set_new(meta, "continue", json_string(cont));
	json_object_set_new(t, "metadata", meta);
	json_object_set_new(t, "columnDefinitions", with_columns ? table_columns(r) : json_array());
	for (size_t i = 0; i < n; i++) {
		json_t *doc = jload_b(objs[i]->json, objs[i]->len, 0, NULL);

		if (!doc)
			continue;
		json_array_append_new(
			rows, json_pack("{s:o, s:o}", "cells", table_cells(r, doc, &now), "object",
					full_object ? json_incref(doc)
						    : partial_meta(doc, objs[i]->rev)));
		json_decref(doc);
	}
	json_object_set_new(t, "rows", rows);
	return t;
}

/* Accept: ...;as=Table... */
static bool wants_table(struct req *q)
{
	const char *accept = http_header(q->h, "Accept");

	return accept && strstr(accept, "as=Table") && strstr(accept, "g=meta.k8s.io");
}

/* Reads. */

static void do_get(struct req *q)
{
	cleanup_free char *key = api_key(q->res, q->ns, q->name);
	struct api_obj *o = cache_get(q->api->cache, key);

	if (!o) {
		reply_not_found(q, q->name);
		return;
	}
	reply_obj(q, 200, o);
	api_obj_unref(o);
}

static void do_list(struct req *q)
{
	struct selector *labels = NULL, *fields = NULL;
	const char *limit_s = http_query(q->h, "limit");
	const char *cont = http_query(q->h, "continue");
	size_t limit = 0;
	int64_t first_rev = 0;
	cleanup_free char *after = NULL;
	cleanup_free char *next = NULL;
	struct cache_list l;

	if (query_selectors(q, &labels, &fields) < 0)
		return;
	if (limit_s && *limit_s) {
		char *end;
		long long v = strtoll(limit_s, &end, 10);

		if (*end || v < 0) {
			selector_free(labels);
			selector_free(fields);
			api_reply_status(q->h, 400, "BadRequest", "invalid limit: %s", limit_s);
			return;
		}
		limit = (size_t)v;
	}
	if (cont && *cont && parse_continue(cont, &first_rev, &after) < 0) {
		selector_free(labels);
		selector_free(fields);
		api_reply_status(q->h, 400, "BadRequest",
				 "continue key is not valid: incorrect encoded start "
				 "resourceVersion (version meta.k8s.io/v1)");
		return;
	}
	cache_list(q->api->cache, q->res, q->ns, labels, fields, after, limit, &l);
	selector_free(labels);
	selector_free(fields);
	/*
	 * Pages after the first are read at the current state but report the first page's
	 * revision: a watch started from it may repeat a change, never miss one.
	 */
	if (first_rev == 0)
		first_rev = l.rev;
	if (l.more && l.n)
		next = continue_token(first_rev, l.v[l.n - 1]->key);

	if (q->table) {
		cleanup_json json_t *t =
			api_table(q->res, l.v, l.n, first_rev, q->table_full, true, next);

		if (next && l.counted)
			json_object_set_new(json_object_get(t, "metadata"), "remainingItemCount",
					    json_integer((json_int_t)l.remaining));
		api_reply_json(q->h, 200, t);
		cache_list_free(&l);
		return;
	}

	size_t cap = 256 + (next ? strlen(next) : 0), len = 0;
	for (size_t i = 0; i < l.n; i++)
		cap += l.v[i]->len + 1;
	char *out = xmalloc(cap + 64);

	len += (size_t)snprintf(out, cap,
				"{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
				"\"resourceVersion\":\"%lld\"",
				q->res->kind, q->res->api_version, (long long)first_rev);
	if (next)
		len += (size_t)snprintf(out + len, cap - len, ",\"continue\":\"%s\"", next);
	if (next && l.counted)
		len += (size_t)snprintf(out + len, cap - len, ",\"remainingItemCount\":%zu",
					l.remaining);
	len += (size_t)snprintf(out + len, cap - len, "},\"items\":[");
	for (size_t i = 0; i < l.n; i++) {
		if (i)
			out[len++] = ',';
		memcpy(out + len, l.v[i]->json, l.v[i]->len);
		len += l.v[i]->len;
	}
	memcpy(out + len, "]}", 3);
	len += 2;
	cache_list_free(&l);
	http_respond_take(q->h, 200, "application/json", out, len);
}

static void do_watch(struct req *q)
{
	struct watch_spec spec = {
		.res = q->res,
		.ns = q->ns,
		.bookmarks = query_true(q, "allowWatchBookmarks"),
		.format = q->table ? WATCH_TABLE : WATCH_JSON,
		.table_object = q->table_full,
	};
	const char *rv = http_query(q->h, "resourceVersion");
	const char *ts = http_query(q->h, "timeoutSeconds");
	bool ok;

	spec.from_rev = parse_rv(rv, &ok);
	if (!ok) {
		api_reply_status(q->h, 400, "BadRequest", "invalid resource version: %s", rv);
		return;
	}
	if (ts)
		spec.timeout = atoi(ts);
	if (query_selectors(q, &spec.labels, &spec.fields) < 0)
		return;
	if (q->name) {
		struct err err = ERR_INIT;
		cleanup_free char *sel = xasprintf("metadata.name=%s", q->name);

		selector_free(spec.fields);
		spec.fields = NULL;
		if (selector_parse_fields(sel, q->res->fields, &spec.fields, &err) < 0)
			err_clear(&err);
	}
	cache_watch(q->api->cache, q->h, &spec);
	selector_free(spec.labels);
	selector_free(spec.fields);
}

/* Writes. */

/*
 * Stores @bytes (taken) as the new version of @key, @hint telling the cache what they
 * are; replies on failure. Returns the revision.
 */
static int64_t store_bytes(struct req *q, enum store_op_kind kind, const char *key, char *bytes,
			   size_t len, int64_t expect, const struct api_hint *hint, int *failure)
{
	struct err err = ERR_INIT;
	struct store_op op = {kind, key, bytes, len, expect, hint};
	int64_t rev = 0;
	int r;

	*failure = 0;
	free(q->written_bytes);
	q->written_bytes = NULL;
	q->written = NULL;
	r = store_apply(q->api->store, &op, &rev, NULL, &err);
	if (r < 0) {
		*failure = -r;
		if (r != -EEXIST && r != -ESTALE && r != -ENOENT) {
			log_error("api: %s: %s", key, err.msg);
			if (!q->quiet)
				api_reply_status(q->h, 500, "InternalError", "%s", err.msg);
		}
		err_clear(&err);
		free(bytes);
		return 0;
	}
	cache_wait(q->api->cache, rev);
	q->written_bytes = bytes;
	q->written_len = len;
	q->written = hint ? hint->doc : NULL;
	q->written_rev = rev;
	return rev;
}

/* Stores @obj as the new version of @key; replies on failure. Returns the revision. */
static int64_t store_write(struct req *q, enum store_op_kind kind, const char *key, json_t *obj,
			   int64_t expect, int *failure)
{
	size_t len = 0;
	char *bytes = obj ? api_serialize(q->res, obj, &len) : NULL;

	return store_bytes(q, kind, key, bytes, len, expect,
			   obj ? &(struct api_hint){.doc = obj} : NULL, failure);
}

/* Fills what the server owns in a new object's metadata. */
static void init_metadata(struct req *q, json_t *obj, const char *ns)
{
	json_t *m = meta_of(obj);
	cleanup_free char *uid = api_new_uid();
	cleanup_free char *now = now_rfc3339();

	json_object_set_new(m, "uid", json_string(uid));
	json_object_set_new(m, "creationTimestamp", json_string(now));
	json_object_del(m, "resourceVersion");
	json_object_del(m, "deletionTimestamp");
	json_object_del(m, "deletionGracePeriodSeconds");
	json_object_del(m, "selfLink");
	if (q->res->flags & API_GENERATION)
		json_object_set_new(m, "generation", json_integer(1));
	else
		json_object_del(m, "generation");
	if (ns)
		json_object_set_new(m, "namespace", json_string(ns));
	else
		json_object_del(m, "namespace");
}

/* Status a new object starts with: what the client sent is dropped as upstream does. */
static void reset_status_on_create(const struct api_resource *r, json_t *obj)
{
	if (!(r->subresources & API_SUB_STATUS))
		return;
	/* nodes report their own status when they register */
	if (strcmp(r->kind, "Node") == 0)
		return;
	json_object_del(obj, "status");
}

static int validate(struct req *q, json_t *obj, const json_t *old, const char *name)
{
	struct causes cs = {0};

	typed_validate(q->res, obj, old, &cs);
	if (cs.n) {
		reply_invalid(q, name, &cs);
		causes_free(&cs);
		return -1;
	}
	causes_free(&cs);
	return 0;
}

static void do_create(struct req *q)
{
	cleanup_json json_t *obj = NULL;
	const char *name, *gen, *ns;
	cleanup_free char *genname = NULL;
	cleanup_free char *key = NULL;
	json_t *m;
	int64_t rev;
	int fail;

	if (decode_body(q, &obj) < 0 || check_kind(q, obj, q->res) < 0)
		return;
	m = meta_of(obj);
	ns = jstr(obj, "metadata", "namespace");
	if (api_namespaced(q->res)) {
		if (ns && *ns && q->ns && strcmp(ns, q->ns) != 0) {
			api_reply_status(q->h, 400, "BadRequest",
					 "the namespace of the provided object does not match the "
					 "namespace sent on the request");
			return;
		}
		if (!q->ns) {
			api_reply_status(q->h, 404, "NotFound",
					 "the server could not find the requested resource");
			return;
		}
	}
	if (check_schema(q, obj, NULL) < 0)
		return;
	name = jstr(obj, "metadata", "name");
	gen = jstr(obj, "metadata", "generateName");
	if ((!name || !*name) && gen && *gen) {
		genname = generated_name(gen);
		json_object_set_new(m, "name", json_string(genname));
	}
	name = jstr(obj, "metadata", "name");
	if (api_namespaced(q->res) && check_namespace(q, q->ns) < 0)
		return;
	init_metadata(q, obj, api_namespaced(q->res) ? q->ns : NULL);
	reset_status_on_create(q->res, obj);
	typed_default(q->res, obj);
	if (validate(q, obj, NULL, name) < 0)
		return;
	if (strcmp(q->res->kind, "Service") == 0 && allocate_service(q, obj, NULL) < 0)
		return;
	if (strcmp(q->res->kind, "Node") == 0 && !q->dry_run && allocate_pod_cidr(q, obj) < 0)
		return;

	key = api_key(q->res, q->ns, name);
	if (q->dry_run) {
		struct api_obj *o = cache_get(q->api->cache, key);

		if (o) {
			api_obj_unref(o);
			reply_exists(q, name);
			return;
		}
		reply_doc(q, 201, obj, 0);
		return;
	}
	rev = store_write(q, STORE_CREATE, key, obj, 0, &fail);
	if (fail == EEXIST) {
		reply_exists(q, name);
		return;
	}
	if (!rev)
		return;
	if (strcmp(q->res->kind, "Namespace") == 0)
		api_namespace_defaults(q->api, name);
	reply_doc(q, 201, obj, rev);
}

/* Keeps what a client may not change through the main resource or /status. */
static void carry_over(struct req *q, json_t *obj, json_t *old, bool status_only)
{
	json_t *m = meta_of(obj), *om = meta_of(old);
	static const char *const owned[] = {"uid",
					    "creationTimestamp",
					    "deletionTimestamp",
					    "deletionGracePeriodSeconds",
					    "generation",
					    NULL};

	for (size_t i = 0; owned[i]; i++) {
		json_t *v = json_object_get(om, owned[i]);

		if (v)
			json_object_set(m, owned[i], v);
		else
			json_object_del(m, owned[i]);
	}
	json_object_set(m, "name", json_object_get(om, "name"));
	if (json_object_get(om, "namespace"))
		json_object_set(m, "namespace", json_object_get(om, "namespace"));
	if (status_only) {
		/* only status changes; the rest stays as it was */
		const char *k;
		json_t *v;
		void *tmp;

		json_object_foreach_safe (obj, tmp, k, v) {
			if (strcmp(k, "status") && strcmp(k, "metadata") &&
			    strcmp(k, "apiVersion") && strcmp(k, "kind"))
				json_object_del(obj, k);
		}
		json_object_foreach (old, k, v) {
			if (strcmp(k, "status") && strcmp(k, "metadata"))
				json_object_set(obj, k, v);
		}
	} else if ((q->res->subresources & API_SUB_STATUS) && strcmp(q->res->kind, "Node") != 0) {
		json_t *st = json_object_get(old, "status");

		if (st)
			json_object_set(obj, "status", st);
		else
			json_object_del(obj, "status");
	}
	if ((q->res->flags & API_GENERATION) && !status_only) {
		json_int_t g = json_integer_value(json_object_get(om, "generation"));

		if (typed_generation_changed(old, obj))
			g++;
		json_object_set_new(m, "generation", json_integer(g ? g : 1));
	}
}

/*
 * Finishes an update of an object being deleted: once its last finalizer is gone it is
 * deleted for good. Returns true when it handled the request.
 */
static bool finalize_if_done(struct req *q, const char *key, json_t *obj, int64_t expect)
{
	json_t *fin = jpath(obj, "metadata", "finalizers");
	int64_t rev;
	int fail;

	if (!jpath(obj, "metadata", "deletionTimestamp") || json_array_size(fin) > 0)
		return false;
	/* a namespace also waits for spec.finalizers, which only /finalize empties */
	if (strcmp(q->res->kind, "Namespace") == 0 &&
	    json_array_size(jpath(obj, "spec", "finalizers")) > 0)
		return false;
	if (q->dry_run) {
		reply_doc(q, 200, obj, 0);
		return true;
	}
	rev = store_write(q, STORE_DELETE, key, NULL, expect, &fail);
	if (fail == ESTALE) {
		reply_conflict(q, q->name);
		return true;
	}
	if (fail == ENOENT) {
		reply_not_found(q, q->name);
		return true;
	}
	if (rev)
		reply_doc(q, 200, obj, rev);
	return true;
}

typedef int (*mutate_fn)(struct req *q, json_t *current, json_t **ret);
static int mutate_patch(struct req *q, json_t *current, json_t **ret);

/* Whether @q writes the status subresource: all but the status stays as stored. */
static bool writes_status(const struct req *q)
{
	return q->sub && strcmp(q->sub, "status") == 0;
}

/*
 * A merge or strategic merge patch of a pod's /status that holds nothing but "status" and
 * perhaps the pod's uid (as node agents report), made on the cache's text: only the stored status
 * is decoded and patched, checked against the schema and spliced back into the text, and the cache
 * is told that only the status changed. What update_with() does besides changes nothing for such a
 * write: the metadata and spec stay the stored ones, so validation has nothing to check, and the
 * defaults (phase, qosClass) are there unless the patch removes them, which is left to the tree.
 * Returns 1 when it answered, 0 when the write is not of that shape and -ESTALE when the pod
 * changed meanwhile; both leave the write to the tree.
 */
static int status_by_text(struct req *q, const char *key, bool strategic)
{
	struct api_obj *cur = cache_get(q->api->cache, key);
	size_t len, out_len;
	const char *body = http_body(q->h, &len);
	cleanup_json json_t *patch = NULL, *old_st = NULL, *old_w = NULL, *new_w = NULL;
	cleanup_free char *st_text = NULL;
	struct api_text_member m;
	struct api_hint hint = {.from_rev = 0};
	struct err err = ERR_INIT;
	const json_t *st, *pm;
	const char *uid;
	char *bytes;
	int64_t expect, rev;
	int r, fail;

	if (!cur)
		return 0;
	expect = cur->rev;
	patch = cur->deleting ? NULL : jload_b(body, len, 0, NULL);
	pm = json_object_get(patch, "metadata");
	uid = json_string_value(json_object_get(pm, "uid"));
	if (!json_is_object(patch) || json_object_size(patch) != (pm ? 2 : 1) ||
	    !json_is_object(json_object_get(patch, "status")) ||
	    (pm && (json_object_size(pm) != 1 || !uid)) ||
	    api_text_member(cur->json, cur->len, "status", &m) < 0 || *m.val != '{') {
		api_obj_unref(cur);
		return 0;
	}
	if (uid && *uid && strcmp(uid, cur->uid) != 0) {
		reply_uid_mismatch(q, q->name, uid, cur->uid);
		api_obj_unref(cur);
		return 1;
	}
	json_object_del(patch, "metadata");
	old_st = jload_b(m.val, (size_t)(m.val_end - m.val), 0, NULL);
	if (!json_is_object(old_st)) {
		api_obj_unref(cur);
		return 0;
	}
	old_w = json_pack("{s:O}", "status", old_st);
	if (strategic)
		r = patch_strategic(old_w, patch, schema_type_of(q->res), schema_patch_lookup, NULL,
				    &new_w, &err);
	else
		r = patch_merge_shared(old_w, TAKE_PTR(patch), &new_w, &err);
	st = json_object_get(new_w, "status");
	if (r < 0 || json_object_size(new_w) != 1 || !json_is_object(st) ||
	    !json_is_string(json_object_get(st, "phase")) ||
	    !json_is_string(json_object_get(st, "qosClass"))) {
		/* the tree says what is wrong with a patch that does not apply */
		err_clear(&err);
		api_obj_unref(cur);
		return 0;
	}
	if (check_schema(q, new_w, old_w) < 0) {
		api_obj_unref(cur);
		return 1;
	}
	if (json_equal(st, old_st)) {
		/* nothing changed: no new revision, as upstream */
		reply_obj(q, 200, cur);
		api_obj_unref(cur);
		return 1;
	}
	st_text = jdump_s(st, JSON_COMPACT);
	if (!st_text)
		abort();
	bytes = api_text_splice(cur->json, cur->len, &m, st_text, strlen(st_text), &out_len);
	api_obj_unref(cur);
	hint.from_rev = expect;
	hint.part = new_w;
	rev = store_bytes(q, STORE_UPDATE, key, bytes, out_len, expect, &hint, &fail);
	if (fail == ESTALE)
		return -ESTALE;
	if (fail == ENOENT) {
		reply_not_found(q, q->name);
		return 1;
	}
	if (fail)
		return 1;
	{
		size_t n;
		char *out = api_json_with_rev(q->written_bytes, q->written_len, rev, &n);

		http_respond_take(q->h, 200, "application/json", out, n);
	}
	return 1;
}

/*
 * Update and patch: read the current object, let @mutate produce the new one, carry over
 * what the server owns, default, validate and store it comparing revisions. A request
 * naming a resourceVersion conflicts with any other write; one that does not is retried.
 */
static void update_with(struct req *q, mutate_fn mutate, bool allow_create)
{
	cleanup_free char *key = api_key(q->res, q->ns, q->name);
	bool status_only = writes_status(q);

	if (status_only && mutate == mutate_patch && !q->dry_run &&
	    strcmp(q->res->kind, "Pod") == 0 && !*q->res->group) {
		const char *ctype = http_header(q->h, "Content-Type") ?: "";
		bool merge = strncmp(ctype, "application/merge-patch+json", 28) == 0;
		bool strategic = strncmp(ctype, "application/strategic-merge-patch+json", 38) == 0;

		if ((merge || strategic) && status_by_text(q, key, strategic) == 1)
			return;
	}
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		struct api_obj *cur = cache_get(q->api->cache, key);
		cleanup_json json_t *old = NULL;
		cleanup_json json_t *obj = NULL;
		const char *name, *rv_s;
		int64_t expect, rev;
		bool ok, conditional;
		int fail;

		if (!cur && !allow_create) {
			reply_not_found(q, q->name);
			return;
		}
		if (cur) {
			old = jload_b(cur->json, cur->len, 0, NULL);
			expect = cur->rev;
			api_obj_unref(cur);
		} else {
			expect = 0;
		}
		if (mutate(q, old, &obj) < 0)
			return;
		if (check_kind(q, obj, q->res) < 0)
			return;
		name = jstr(obj, "metadata", "name");
		if (name && strcmp(name, q->name) != 0) {
			api_reply_status(
				q->h, 400, "BadRequest",
				"the name of the object (%s) does not match the name on the "
				"URL (%s)",
				name, q->name);
			return;
		}
		if (!name)
			json_object_set_new(meta_of(obj), "name", json_string(q->name));
		/* a uid is a precondition: the object named must be that one, not a successor */
		{
			const char *uid = jstr(obj, "metadata", "uid");
			const char *have = old ? jstr(old, "metadata", "uid") : NULL;

			if (old && uid && *uid && strcmp(uid, have ?: "") != 0) {
				reply_uid_mismatch(q, q->name, uid, have ?: "");
				return;
			}
		}
		rv_s = jstr(obj, "metadata", "resourceVersion");
		conditional = rv_s && *rv_s;
		if (conditional) {
			int64_t want = parse_rv(rv_s, &ok);

			if (!ok || (old && want != expect)) {
				reply_conflict(q, q->name);
				return;
			}
		}
		if (!old) {
			/* PUT creating the object (allowed for a few kinds, as upstream) */
			json_object_del(meta_of(obj), "resourceVersion");
			if (check_schema(q, obj, NULL) < 0)
				return;
			if (api_namespaced(q->res) && check_namespace(q, q->ns) < 0)
				return;
			init_metadata(q, obj, api_namespaced(q->res) ? q->ns : NULL);
			typed_default(q->res, obj);
			if (validate(q, obj, NULL, q->name) < 0)
				return;
			rev = store_write(q, STORE_CREATE, key, obj, 0, &fail);
			if (fail == EEXIST)
				continue;
			if (rev)
				reply_doc(q, 201, obj, rev);
			return;
		}
		if (check_schema(q, obj, old) < 0)
			return;
		carry_over(q, obj, old, status_only);
		if (strcmp(q->res->kind, "Service") == 0 && !status_only)
			typed_service_keep_allocations(obj, old);
		typed_default(q->res, obj);
		if (validate(q, obj, old, q->name) < 0)
			return;
		if (strcmp(q->res->kind, "Service") == 0 && allocate_service(q, obj, old) < 0)
			return;
		if (finalize_if_done(q, key, obj, expect))
			return;
		if (json_equal(obj, old)) {
			/* nothing changed: no new revision, as upstream */
			struct api_obj *again = cache_get(q->api->cache, key);

			if (again && again->rev == expect) {
				reply_obj(q, 200, again);
				api_obj_unref(again);
				return;
			}
			api_obj_unref(again);
			continue;
		}
		if (q->dry_run) {
			reply_doc(q, 200, obj, expect);
			return;
		}
		rev = store_write(q, STORE_UPDATE, key, obj, expect, &fail);
		if (fail == ESTALE) {
			if (conditional) {
				reply_conflict(q, q->name);
				return;
			}
			continue;
		}
		if (fail == ENOENT) {
			reply_not_found(q, q->name);
			return;
		}
		if (rev)
			reply_doc(q, 200, obj, rev);
		return;
	}
	reply_conflict(q, q->name);
}

static int mutate_replace(struct req *q, json_t *current, json_t **ret)
{
	(void)current;
	return decode_body(q, ret);
}

static bool patch_names_rv(const json_t *patch)
{
	const json_t *op;
	size_t i;

	if (json_is_object(patch))
		return json_object_get(json_object_get(patch, "metadata"), "resourceVersion") !=
		       NULL;
	json_array_foreach (patch, i, op) {
		const char *path = json_string_value(json_object_get(op, "path"));

		if (path && strcmp(path, "/metadata/resourceVersion") == 0)
			return true;
	}
	return false;
}

static int mutate_patch(struct req *q, json_t *current, json_t **ret)
{
	const char *ctype = http_header(q->h, "Content-Type");
	size_t len;
	const char *body = http_body(q->h, &len);
	cleanup_json json_t *patch = NULL;
	struct err err = ERR_INIT;
	json_error_t jerr;
	bool names_rv;
	int r;

	if (!current) {
		reply_not_found(q, q->name);
		return -1;
	}
	patch = jload_b(body, len, 0, &jerr);
	if (!patch) {
		api_reply_status(q->h, 400, "BadRequest", "error decoding patch: %s", jerr.text);
		return -1;
	}
	if (!ctype)
		ctype = "";
	/* a patch is conditional only when it names a resourceVersion itself */
	names_rv = patch_names_rv(patch);
	if (strncmp(ctype, "application/json-patch+json", 27) == 0) {
		r = patch_json(current, patch, ret, &err);
	} else if (strncmp(ctype, "application/merge-patch+json", 28) == 0 && writes_status(q)) {
		/* update_with() keeps all but the status of the stored object, shared with it */
		r = patch_merge_shared(current, TAKE_PTR(patch), ret, &err);
	} else if (strncmp(ctype, "application/merge-patch+json", 28) == 0) {
		r = patch_merge_take(current, TAKE_PTR(patch), ret, &err);
	} else if (strncmp(ctype, "application/strategic-merge-patch+json", 38) == 0) {
		r = patch_strategic(current, patch, schema_type_of(q->res), schema_patch_lookup,
				    NULL, ret, &err);
	} else if (strncmp(ctype, "application/apply-patch+yaml", 28) == 0) {
		api_reply_status(q->h, 415, "UnsupportedMediaType",
				 "server-side apply is not supported by this server: use "
				 "client-side apply");
		return -1;
	} else {
		api_reply_status(q->h, 415, "UnsupportedMediaType",
				 "the body of the request was in an unknown format - accepted "
				 "media types include: application/json-patch+json, "
				 "application/merge-patch+json, "
				 "application/strategic-merge-patch+json");
		return -1;
	}
	if (r < 0) {
		/* a malformed patch is a bad request; one that does not apply is invalid */
		api_reply_status(q->h, r == -EINVAL ? 400 : 422,
				 r == -EINVAL ? "BadRequest" : "Invalid", "%s", err.msg);
		err_clear(&err);
		return -1;
	}
	if (!json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		api_reply_status(q->h, 400, "BadRequest", "the patch produced a non-object");
		return -1;
	}
	if (!names_rv)
		json_object_del(json_object_get(*ret, "metadata"), "resourceVersion");
	return 0;
}

/* Deletion. */

static int64_t delete_grace(struct req *q, json_t *opts, json_t *obj)
{
	const char *gs = http_query(q->h, "gracePeriodSeconds");
	json_t *g = json_object_get(opts, "gracePeriodSeconds");

	if (gs)
		return atoll(gs);
	if (json_is_integer(g))
		return json_integer_value(g);
	if (strcmp(q->res->kind, "Pod") == 0) {
		json_t *t = jpath(obj, "spec", "terminationGracePeriodSeconds");

		return json_is_integer(t) ? json_integer_value(t) : 30;
	}
	return 0;
}

static const char *delete_policy(struct req *q, json_t *opts)
{
	const char *p = http_query(q->h, "propagationPolicy");

	if (!p)
		p = json_string_value(json_object_get(opts, "propagationPolicy"));
	if (!p && json_is_true(json_object_get(opts, "orphanDependents")))
		p = "Orphan";
	return p;
}

static bool has_finalizer(json_t *obj, const char *f)
{
	json_t *fin = jpath(obj, "metadata", "finalizers"), *v;
	size_t i;

	json_array_foreach (fin, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), f) == 0)
			return true;
	}
	return false;
}

/* Returns whether @f was added (false: it was there). */
static bool add_finalizer(json_t *obj, const char *f)
{
	json_t *m = meta_of(obj), *fin = json_object_get(m, "finalizers");

	if (has_finalizer(obj, f))
		return false;
	if (!json_is_array(fin)) {
		fin = json_array();
		json_object_set_new(m, "finalizers", fin);
	}
	json_array_append_new(fin, json_string(f));
	return true;
}

/*
 * Deletes one object: at once, or by marking it (deletionTimestamp) when finalizers or a
 * pod's grace period must run first. Replies when @reply; returns 0 when done or marked.
 */
static int delete_one(struct req *q, const char *key, const char *name, json_t *opts, bool reply)
{
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		struct api_obj *cur = cache_get(q->api->cache, key);
		cleanup_json json_t *obj = NULL;
		const char *policy;
		json_t *pre, *m;
		int64_t grace, expect, rev;
		bool mark = false, changed = false;
		int fail;

		if (!cur) {
			if (reply)
				reply_not_found(q, name);
			return -ENOENT;
		}
		obj = jload_b(cur->json, cur->len, 0, NULL);
		expect = cur->rev;
		api_obj_unref(cur);
		m = meta_of(obj);

		pre = json_object_get(opts, "preconditions");
		if (json_is_object(pre)) {
			const char *uid = json_string_value(json_object_get(pre, "uid"));
			const char *rv = json_string_value(json_object_get(pre, "resourceVersion"));
			bool ok;

			if ((uid && strcmp(uid, jstr(obj, "metadata", "uid") ?: "") != 0) ||
			    (rv && parse_rv(rv, &ok) != expect)) {
				if (reply) {
					cleanup_free char *qn = qualified(q->res);
					cleanup_free char *msg = xasprintf(
						"Operation cannot be fulfilled on %s \"%s\": "
						"Precondition failed: %s in precondition: %s, in "
						"object meta: %s",
						qn, name, uid ? "UID" : "ResourceVersion",
						uid ? uid : rv,
						uid ? jstr(obj, "metadata", "uid")
						    : json_string_value(json_object_get(
							      m, "resourceVersion")) ?: "");

					reply_details(q, 409, "Conflict", name, msg);
				}
				return -ESTALE;
			}
		}

		policy = delete_policy(q, opts);
		grace = delete_grace(q, opts, obj);
		if (policy && strcmp(policy, "Orphan") == 0)
			changed = add_finalizer(obj, "orphan");
		else if (policy && strcmp(policy, "Foreground") == 0)
			changed = add_finalizer(obj, "foregroundDeletion");
		if (json_array_size(json_object_get(m, "finalizers")) > 0)
			mark = true;
		/* a pod on a node gets its grace period to stop; the node deletes it */
		if (strcmp(q->res->kind, "Pod") == 0 && grace > 0 &&
		    jstr(obj, "spec", "nodeName") && !has_terminal_phase(obj))
			mark = true;
		if (strcmp(q->res->kind, "Namespace") == 0)
			mark = true;

		if (mark) {
			if (!json_object_get(m, "deletionTimestamp")) {
				struct timespec ts;
				cleanup_free char *when = NULL;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += strcmp(q->res->kind, "Pod") == 0 ? grace : 0;
				ts.tv_nsec = 0;
				when = clock_rfc3339(&ts);
				json_object_set_new(m, "deletionTimestamp", json_string(when));
				json_object_set_new(
					m, "deletionGracePeriodSeconds",
					json_integer(strcmp(q->res->kind, "Pod") == 0 ? grace : 0));
				if (strcmp(q->res->kind, "Namespace") == 0)
					json_object_set_new(json_object_get(obj, "status") ?: obj,
							    "phase", json_string("Terminating"));
				changed = true;
			} else if (strcmp(q->res->kind, "Pod") == 0 &&
				   grace < json_integer_value(json_object_get(
						   m, "deletionGracePeriodSeconds"))) {
				/* a shorter grace period replaces a longer one */
				struct timespec ts;
				cleanup_free char *when = NULL;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += grace;
				ts.tv_nsec = 0;
				when = clock_rfc3339(&ts);
				json_object_set_new(m, "deletionTimestamp", json_string(when));
				json_object_set_new(m, "deletionGracePeriodSeconds",
						    json_integer(grace));
				changed = true;
			}
			/*
			 * Marked already, and nothing to add: no new revision, as upstream (a
			 * namespace being emptied asks again every second until it is)
			 */
			if (q->dry_run || !changed) {
				if (reply)
					reply_doc(q, 200, obj, expect);
				return 0;
			}
			rev = store_write(q, STORE_UPDATE, key, obj, expect, &fail);
			if (fail == ESTALE || fail == ENOENT)
				continue;
			if (!rev)
				return -EIO;
			if (reply)
				reply_doc(q, 200, obj, rev);
			return 0;
		}
		if (q->dry_run) {
			if (reply)
				reply_doc(q, 200, obj, expect);
			return 0;
		}
		rev = store_write(q, STORE_DELETE, key, NULL, expect, &fail);
		if (fail == ESTALE)
			continue;
		if (fail == ENOENT) {
			if (reply)
				reply_not_found(q, name);
			return -ENOENT;
		}
		if (!rev)
			return -EIO;
		if (reply)
			reply_doc(q, 200, obj, rev);
		return 0;
	}
	if (reply)
		reply_conflict(q, name);
	return -ESTALE;
}

static int delete_options(struct req *q, json_t **opts)
{
	size_t len;
	const char *body = http_body(q->h, &len);
	json_error_t jerr;

	*opts = NULL;
	if (len == 0)
		return 0;
	*opts = jload_b(body, len, 0, &jerr);
	if (!json_is_object(*opts)) {
		json_decref(*opts);
		*opts = NULL;
		api_reply_status(q->h, 400, "BadRequest", "invalid DeleteOptions: %s", jerr.text);
		return -1;
	}
	return 0;
}

static void do_delete(struct req *q)
{
	cleanup_json json_t *opts = NULL;
	cleanup_free char *key = api_key(q->res, q->ns, q->name);

	if (delete_options(q, &opts) < 0)
		return;
	delete_one(q, key, q->name, opts, true);
}

/* Every DELETE_COLLECTION_WORKERS-th object of a collection delete, from @first. */
struct delete_share {
	struct req q; /* the request's, with its own store_write() state */
	const struct cache_list *l;
	size_t first;
	json_t *opts;
	pthread_t thread;
};

static void *delete_share_main(void *arg)
{
	struct delete_share *d = arg;

	for (size_t i = d->first; i < d->l->n; i += DELETE_COLLECTION_WORKERS)
		delete_one(&d->q, d->l->v[i]->key, d->l->v[i]->name, d->opts, false);
	free(d->q.written_bytes);
	return NULL;
}

/* Deletes what @l holds, on several threads when it is long. */
static void delete_all(struct req *q, const struct cache_list *l, json_t *opts)
{
	struct delete_share d[DELETE_COLLECTION_WORKERS];
	size_t started = 0;

	if (l->n > DELETE_COLLECTION_SERIAL) {
		for (; started < DELETE_COLLECTION_WORKERS; started++) {
			d[started] = (struct delete_share){
				.q = *q, .l = l, .first = started, .opts = opts};
			d[started].q.quiet = true;
			d[started].q.written_bytes = NULL;
			if (pthread_create(&d[started].thread, NULL, delete_share_main,
					   &d[started]) != 0)
				break;
		}
	}
	if (started == DELETE_COLLECTION_WORKERS) {
		for (size_t i = 0; i < started; i++)
			pthread_join(d[i].thread, NULL);
		return;
	}
	/* short, or no thread to be had: the rest here, one after the other */
	for (size_t i = 0; i < l->n; i++)
		if (i % DELETE_COLLECTION_WORKERS >= started)
			delete_one(q, l->v[i]->key, l->v[i]->name, opts, false);
	for (size_t i = 0; i < started; i++)
		pthread_join(d[i].thread, NULL);
}

static void do_delete_collection(struct req *q)
{
	struct selector *labels = NULL, *fields = NULL;
	cleanup_json json_t *opts = NULL;
	struct cache_list l;

	if (delete_options(q, &opts) < 0 || query_selectors(q, &labels, &fields) < 0)
		return;
	cache_list(q->api->cache, q->res, q->ns, labels, fields, NULL, 0, &l);
	selector_free(labels);
	selector_free(fields);
	delete_all(q, &l, opts);
	q->table = false;
	do_list(q);
	cache_list_free(&l);
}

/* Subresources. */

static char *selector_string(json_t *sel)
{
	json_t *ml = json_object_get(sel, "matchLabels"),
	       *me = json_object_get(sel, "matchExpressions");
	size_t cap = 128, len = 0;
	char *out = xmalloc(cap);
	const char *k;
	json_t *v;
	size_t i;

	out[0] = '\0';
#define APPEND(...)                                                                                \
	do {                                                                                       \
		cleanup_free char *part_ = xasprintf(__VA_ARGS__);                                 \
		size_t need_ = len + strlen(part_) + 2;                                            \
		if (need_ > cap) {                                                                 \
			cap = need_ * 2;                                                           \
			out = xrealloc(out, cap);                                                  \
		}                                                                                  \
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", part_);      \
	} while (0)
	json_object_foreach (ml, k, v) {
		APPEND("%s=%s", k, json_string_value(v) ?: "");
	}
	json_array_foreach (me, i, v) {
		const char *key = json_string_value(json_object_get(v, "key")) ?: "";
		const char *op = json_string_value(json_object_get(v, "operator")) ?: "";
		json_t *vals = json_object_get(v, "values"), *x;
		size_t j;
		char list[1024] = "";
		size_t ll = 0;

		json_array_foreach (vals, j, x) {
			ll += (size_t)snprintf(list + ll,
					       sizeof(list) - ll > 1 ? sizeof(list) - ll : 1,
					       "%s%s", j ? "," : "", json_string_value(x) ?: "");
			if (ll >= sizeof(list))
				ll = sizeof(list) - 1;
		}
		if (strcmp(op, "In") == 0)
			APPEND("%s in (%s)", key, list);
		else if (strcmp(op, "NotIn") == 0)
			APPEND("%s notin (%s)", key, list);
		else if (strcmp(op, "Exists") == 0)
			APPEND("%s", key);
		else if (strcmp(op, "DoesNotExist") == 0)
			APPEND("!%s", key);
	}
#undef APPEND
	return out;
}

static json_t *scale_of(struct req *q, json_t *obj, int64_t rev)
{
	json_t *m = meta_of(obj);
	json_t *sm = json_pack("{s:O?, s:O?, s:O?, s:O?}", "name", json_object_get(m, "name"),
			       "namespace", json_object_get(m, "namespace"), "uid",
			       json_object_get(m, "uid"), "creationTimestamp",
			       json_object_get(m, "creationTimestamp"));
	cleanup_free char *sel = selector_string(jpath(obj, "spec", "selector"));
	json_t *replicas = jpath(obj, "spec", "replicas");

	(void)q;
	json_object_set_new(sm, "resourceVersion", json_sprintf("%lld", (long long)rev));
	return json_pack("{s:s, s:s, s:o, s:{s:I}, s:{s:I, s:s}}", "kind", "Scale", "apiVersion",
			 "autoscaling/v1", "metadata", sm, "spec", "replicas",
			 (json_int_t)(json_is_integer(replicas) ? json_integer_value(replicas) : 1),
			 "status", "replicas",
			 (json_int_t)json_integer_value(jpath(obj, "status", "replicas")),
			 "selector", sel);
}

static int mutate_scale(struct req *q, json_t *current, json_t **ret)
{
	int64_t replicas;

	if (!current) {
		reply_not_found(q, q->name);
		return -1;
	}
	replicas = json_integer_value(jpath(q->scale, "spec", "replicas"));
	*ret = json_deep_copy(current);
	json_object_set_new(json_object_get(*ret, "spec"), "replicas", json_integer(replicas));
	{
		const char *rv = jstr(q->scale, "metadata", "resourceVersion");

		if (rv)
			json_object_set_new(meta_of(*ret), "resourceVersion", json_string(rv));
		else
			json_object_del(meta_of(*ret), "resourceVersion");
	}
	return 0;
}

static void do_scale(struct req *q)
{
	cleanup_free char *key = api_key(q->res, q->ns, q->name);
	struct api_obj *cur = cache_get(q->api->cache, key);
	cleanup_json json_t *obj = NULL;
	cleanup_json json_t *scale = NULL;
	cleanup_json json_t *want = NULL;
	struct err err = ERR_INIT;

	if (!cur) {
		reply_not_found(q, q->name);
		return;
	}
	obj = jload_b(cur->json, cur->len, 0, NULL);
	scale = scale_of(q, obj, cur->rev);
	api_obj_unref(cur);
	if (strcmp(q->method, "GET") == 0) {
		api_reply_json(q->h, 200, scale);
		return;
	}
	if (strcmp(q->method, "PATCH") == 0) {
		const char *ctype = http_header(q->h, "Content-Type") ?: "";
		size_t len;
		const char *body = http_body(q->h, &len);
		cleanup_json json_t *patch = jload_b(body, len, 0, NULL);
		int r;

		if (!patch) {
			api_reply_status(q->h, 400, "BadRequest", "error decoding patch");
			return;
		}
		if (strncmp(ctype, "application/json-patch+json", 27) == 0)
			r = patch_json(scale, patch, &want, &err);
		else
			r = patch_merge(scale, patch, &want, &err);
		if (r < 0) {
			api_reply_status(q->h, 422, "Invalid", "%s", err.msg);
			err_clear(&err);
			return;
		}
		json_object_del(meta_of(want), "resourceVersion");
	} else if (decode_body(q, &want) < 0) {
		return;
	}
	if (!json_is_integer(jpath(want, "spec", "replicas")) ||
	    json_integer_value(jpath(want, "spec", "replicas")) < 0) {
		struct causes cs = {0};
		const struct api_resource *saved = q->res;

		causes_add(&cs, CAUSE_INVALID, "spec.replicas",
			   "Invalid value: %lld: must be greater than or equal to 0",
			   (long long)json_integer_value(jpath(want, "spec", "replicas")));
		reply_invalid(q, q->name, &cs);
		q->res = saved;
		causes_free(&cs);
		return;
	}
	q->scale = want;
	q->sub = NULL;
	q->table = false;
	update_with(q, mutate_scale, false);
}

static void do_binding(struct req *q, const char *pod_name)
{
	cleanup_json json_t *b = NULL;
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	cleanup_free char *key = api_key(pods, q->ns, pod_name);
	const char *node;

	if (decode_body(q, &b) < 0)
		return;
	node = jstr(b, "target", "name");
	if (!node || !*node) {
		struct causes cs = {0};

		causes_add(&cs, CAUSE_REQUIRED, "target.name", "Required value");
		reply_invalid(q, pod_name, &cs);
		causes_free(&cs);
		return;
	}
	q->res = pods;
	for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
		struct api_obj *cur = cache_get(q->api->cache, key);
		cleanup_json json_t *obj = NULL;
		cleanup_free char *now = now_rfc3339();
		struct api_hint hint = {.from_rev = 0};
		char *bytes = NULL;
		size_t len = 0;
		const char *bound;
		int64_t rev, expect;
		int fail;

		if (!cur) {
			reply_not_found(q, pod_name);
			return;
		}
		expect = cur->rev;
		/* the usual pod, unbound and alive: its text changed, not decoded */
		if (!cur->deleting && !q->dry_run)
			bytes = api_bind_text(cur->json, cur->len, node, now, &len);
		if (bytes) {
			hint.from_rev = expect;
			hint.field = "spec.nodeName";
			hint.value = node;
			api_obj_unref(cur);
		} else {
			obj = jload_b(cur->json, cur->len, 0, NULL);
			api_obj_unref(cur);
			bound = jstr(obj, "spec", "nodeName");
			if (bound && *bound) {
				cleanup_free char *msg =
					xasprintf("Operation cannot be fulfilled on pods/binding "
						  "\"%s\": pod %s is already assigned to node "
						  "\"%s\"",
						  pod_name, pod_name, bound);

				reply_details(q, 409, "Conflict", pod_name, msg);
				return;
			}
			if (jpath(obj, "metadata", "deletionTimestamp")) {
				cleanup_free char *msg =
					xasprintf("Operation cannot be fulfilled on pods/binding "
						  "\"%s\": pod %s is being deleted, cannot be "
						  "assigned to a host",
						  pod_name, pod_name);

				reply_details(q, 409, "Conflict", pod_name, msg);
				return;
			}
			api_bind_tree(obj, node, now);
			if (q->dry_run) {
				api_reply_status(q->h, 201, "", "%s", "");
				return;
			}
			bytes = api_serialize(q->res, obj, &len);
			hint.doc = obj;
		}
		/* against the version read: a change meanwhile (a deletion begun, another
		 * binding) is read again, not overwritten */
		rev = store_bytes(q, STORE_UPDATE, key, bytes, len, expect, &hint, &fail);
		(void)rev;
		if (fail == ESTALE)
			continue;
		if (fail == ENOENT) {
			reply_not_found(q, pod_name);
			return;
		}
		if (fail)
			return;
		reply_success(q, 201);
		return;
	}
	reply_conflict(q, pod_name);
}

static int has_terminal_phase(json_t *pod)
{
	const char *phase = jstr(pod, "status", "phase");

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

static void do_eviction(struct req *q)
{
	cleanup_json json_t *ev = NULL;
	cleanup_free char *key = api_key(q->res, q->ns, q->name);
	json_t *opts;

	if (decode_body(q, &ev) < 0)
		return;
	opts = json_object_get(ev, "deleteOptions");
	if (delete_one(q, key, q->name, opts, false) == -ENOENT) {
		reply_not_found(q, q->name);
		return;
	}
	reply_success(q, 201);
}

/* serviceaccounts/NAME/token: a TokenRequest answered with a signed token. */
static void do_token(struct req *q)
{
	cleanup_json json_t *tr = NULL;
	cleanup_free char *key = api_key(q->res, q->ns, q->name);
	struct api_obj *sa;
	json_t *spec, *aud, *exp;
	int64_t seconds = 3600, expires;
	cleanup_free char *token = NULL;
	cleanup_free char *when = NULL;
	struct timespec ts;

	if (decode_body(q, &tr) < 0)
		return;
	sa = cache_get(q->api->cache, key);
	if (!sa) {
		reply_not_found(q, q->name);
		return;
	}
	spec = json_object_get(tr, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(tr, "spec", spec);
	}
	exp = json_object_get(spec, "expirationSeconds");
	if (json_is_integer(exp))
		seconds = json_integer_value(exp);
	if (seconds < 600 || seconds > (int64_t)1 << 32) {
		struct causes cs = {0};
		const struct api_resource *saved = q->res;

		causes_add(&cs, CAUSE_INVALID, "spec.expirationSeconds",
			   "Invalid value: %lld: may not specify a duration less than 10 minutes",
			   (long long)seconds);
		reply_invalid(q, q->name, &cs);
		q->res = saved;
		causes_free(&cs);
		api_obj_unref(sa);
		return;
	}
	aud = json_object_get(spec, "audiences");
	if (!json_is_array(aud) || json_array_size(aud) == 0) {
		aud = json_pack("[s]", "https://kubernetes.default.svc.cluster.local");
		json_object_set_new(spec, "audiences", aud);
	}
	json_object_set_new(spec, "expirationSeconds", json_integer(seconds));
	clock_gettime(CLOCK_REALTIME, &ts);
	expires = ts.tv_sec + seconds;
	ts.tv_sec = expires;
	ts.tv_nsec = 0;
	when = clock_rfc3339(&ts);
	token = api_sa_token(q->api->cfg.sa_key, q->ns, q->name, sa->uid, expires, aud);
	api_obj_unref(sa);
	json_object_set_new(tr, "apiVersion", json_string("authentication.k8s.io/v1"));
	json_object_set_new(tr, "kind", json_string("TokenRequest"));
	json_object_set_new(meta_of(tr), "name", json_string(q->name));
	json_object_set_new(meta_of(tr), "namespace", json_string(q->ns));
	json_object_set_new(tr, "status",
			    json_pack("{s:s, s:s}", "token", token, "expirationTimestamp", when));
	api_reply_json(q->h, 201, tr);
}

/* Reviews answered at once. */

static void do_review(struct req *q)
{
	cleanup_json json_t *obj = NULL;
	json_t *status;

	if (decode_body(q, &obj) < 0 || check_kind(q, obj, q->res) < 0)
		return;
	if (strcmp(q->res->kind, "SelfSubjectAccessReview") == 0) {
		json_t *ra = jpath(obj, "spec", "resourceAttributes");
		json_t *nra = jpath(obj, "spec", "nonResourceAttributes");
		bool allowed;

		if (ra) {
			const char *group = jstr(ra, "group", NULL) ?: "";
			const char *resource = jstr(ra, "resource", NULL) ?: "";
			const char *verb = jstr(ra, "verb", NULL) ?: "";
			const struct api_resource *r = NULL;

			for (size_t i = 0; i < api_nresources; i++)
				if (strcmp(api_resources[i].group, group) == 0 &&
				    strcmp(api_resources[i].plural, resource) == 0)
					r = &api_resources[i];
			allowed =
				q->user.admin || (r && api_authorize(q->api, &q->user, verb, r,
								     jstr(ra, "subresource", NULL),
								     jstr(ra, "namespace", NULL),
								     jstr(ra, "name", NULL)));
		} else {
			allowed = q->user.admin || (nra && api_authorize(q->api, &q->user, "get",
									 NULL, NULL, NULL, NULL));
		}
		status = json_pack("{s:b}", "allowed", allowed);
		if (allowed && q->user.admin)
			json_object_set_new(status, "reason",
					    json_string("the user is a cluster administrator"));
		json_object_set_new(obj, "status", status);
	} else if (strcmp(q->res->kind, "SelfSubjectRulesReview") == 0) {
		json_t *rules = json_array();

		if (q->user.admin)
			json_array_append_new(rules,
					      json_pack("{s:[s], s:[s], s:[s]}", "verbs", "*",
							"apiGroups", "*", "resources", "*"));
		json_object_set_new(obj, "status",
				    json_pack("{s:o, s:[], s:b}", "resourceRules", rules,
					      "nonResourceRules", "incomplete", false));
	} else {
		json_t *groups = json_array();

		for (size_t i = 0; i < 4 && q->user.groups[i]; i++)
			json_array_append_new(groups, json_string(q->user.groups[i]));
		json_object_set_new(obj, "status",
				    json_pack("{s:{s:s, s:o}}", "userInfo", "username",
					      q->user.name, "groups", groups));
	}
	json_object_set_new(meta_of(obj), "creationTimestamp", json_null());
	api_reply_json(q->h, 201, obj);
}

/* Routing. */

static const char *verb_of(struct req *q, bool watch)
{
	const char *m = q->method;

	if (strcmp(m, "GET") == 0)
		return watch ? "watch" : q->name ? "get" : "list";
	if (strcmp(m, "POST") == 0)
		return "create";
	if (strcmp(m, "PUT") == 0)
		return "update";
	if (strcmp(m, "PATCH") == 0)
		return "patch";
	if (strcmp(m, "DELETE") == 0)
		return q->name ? "delete" : "deletecollection";
	return "";
}

static void method_not_allowed(struct req *q)
{
	api_reply_status(q->h, 405, "MethodNotAllowed",
			 "the server does not allow this method on the requested resource");
}

static void route_resource(struct req *q, bool watch)
{
	const char *m = q->method;
	const char *verb = verb_of(q, watch);
	const struct api_resource *r = q->res;

	if (!api_authorize(q->api, &q->user, verb, r, q->sub, q->ns, q->name)) {
		reply_forbidden(q, verb);
		return;
	}
	q->dry_run = http_query(q->h, "dryRun") != NULL;
	{
		const char *fv = http_query(q->h, "fieldValidation");

		q->strict = fv && strcmp(fv, "Strict") == 0;
		q->warn = !fv || strcmp(fv, "Warn") == 0;
	}
	q->table = wants_table(q);
	{
		const char *io = http_query(q->h, "includeObject");

		q->table_full = io && strcmp(io, "Object") == 0;
	}

	if (r->flags & API_VIRTUAL) {
		if (strcmp(m, "POST") != 0 || q->name) {
			method_not_allowed(q);
			return;
		}
		if (strcmp(r->kind, "Binding") == 0) {
			cleanup_json json_t *b = NULL;
			size_t len;
			const char *body = http_body(q->h, &len);
			const char *pod;

			b = jload_b(body, len, 0, NULL);
			pod = jstr(b, "metadata", "name");
			if (!pod) {
				api_reply_status(q->h, 400, "BadRequest",
						 "a binding needs metadata.name");
				return;
			}
			do_binding(q, pod);
			return;
		}
		do_review(q);
		return;
	}

	if (q->sub) {
		if (strcmp(q->sub, "status") == 0 && (r->subresources & API_SUB_STATUS)) {
			if (strcmp(m, "GET") == 0)
				do_get(q);
			else if (strcmp(m, "PUT") == 0)
				update_with(q, mutate_replace, false);
			else if (strcmp(m, "PATCH") == 0)
				update_with(q, mutate_patch, false);
			else
				method_not_allowed(q);
			return;
		}
		if (strcmp(q->sub, "scale") == 0 && (r->subresources & API_SUB_SCALE)) {
			if (strcmp(m, "GET") == 0 || strcmp(m, "PUT") == 0 ||
			    strcmp(m, "PATCH") == 0)
				do_scale(q);
			else
				method_not_allowed(q);
			return;
		}
		if (strcmp(q->sub, "binding") == 0 && (r->subresources & API_SUB_BINDING) &&
		    strcmp(m, "POST") == 0) {
			do_binding(q, q->name);
			return;
		}
		if (strcmp(q->sub, "eviction") == 0 && (r->subresources & API_SUB_EVICTION) &&
		    strcmp(m, "POST") == 0) {
			do_eviction(q);
			return;
		}
		if (strcmp(q->sub, "token") == 0 && (r->subresources & API_SUB_TOKEN) &&
		    strcmp(m, "POST") == 0) {
			if (!q->api->cfg.sa_key) {
				api_reply_status(q->h, 503, "ServiceUnavailable",
						 "service-account tokens are not configured");
				return;
			}
			do_token(q);
			return;
		}
		if (strcmp(q->sub, "finalize") == 0 && (r->subresources & API_SUB_FINALIZE) &&
		    strcmp(m, "PUT") == 0) {
			q->sub = NULL;
			update_with(q, mutate_replace, false);
			return;
		}
		if (((strcmp(q->sub, "log") == 0 && (r->subresources & API_SUB_LOG)) ||
		     (r->subresources & (API_SUB_EXEC | API_SUB_PROXY)))) {
			api_proxy(q->api, q->h, r, q->ns, q->name, q->sub);
			return;
		}
		api_reply_status(q->h, 404, "NotFound",
				 "the server could not find the requested resource");
		return;
	}

	if (strcmp(m, "GET") == 0) {
		if (watch)
			do_watch(q);
		else if (q->name)
			do_get(q);
		else
			do_list(q);
	} else if (strcmp(m, "POST") == 0 && !q->name) {
		do_create(q);
	} else if (strcmp(m, "PUT") == 0 && q->name) {
		/* upstream lets PUT create the few kinds whose names clients choose freely */
		bool create = strcmp(r->kind, "Event") == 0 || strcmp(r->kind, "Lease") == 0 ||
			      strcmp(r->kind, "Endpoints") == 0 || strcmp(r->kind, "Node") == 0;

		update_with(q, mutate_replace, create);
	} else if (strcmp(m, "PATCH") == 0 && q->name) {
		update_with(q, mutate_patch, false);
	} else if (strcmp(m, "DELETE") == 0 && q->name) {
		do_delete(q);
	} else if (strcmp(m, "DELETE") == 0) {
		do_delete_collection(q);
	} else {
		method_not_allowed(q);
	}
}

/*
 * Which requests run on the HTTP workers (http_config.offload): all but the long-lived
 * ones (watches, logs, proxies, upgrades), which the event loop must stream. A write
 * waits there for its commit without holding up the watches served by that loop.
 */
static bool offload(void *ctx, const struct http_request *h)
{
	static const char *const stay[] = {"watch", "proxy",  "log",
					   "exec",  "attach", "portforward"};
	const char *w = http_query(h, "watch");
	const char *p = http_path(h);

	(void)ctx;
	if (http_header(h, "Upgrade") || (w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0)))
		return false;
	while (*p) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++)
			if (strlen(stay[i]) == n && strncmp(p, stay[i], n) == 0)
				return false;
		p += n;
	}
	return true;
}

/* Splits the path into at most @max segments; returns their number, -1 when too many. */
static int split(char *path, char **seg, int max)
{
	char *save = NULL;
	int n = 0;

	for (char *p = strtok_r(path, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return -1;
		seg[n++] = p;
	}
	return n;
}

static void not_found(struct http_request *h)
{
	api_reply_status(h, 404, "NotFound", "the server could not find the requested resource");
}

static void handle(void *ctx, struct http_request *h)
{
	struct api *api = ctx;
	struct req q = {.api = api, .h = h, .method = http_method(h)};
	cleanup_free char *path = xstrdup(http_path(h));
	char *seg[10];
	int n, i;
	const char *group, *version;
	bool watch = false;

	if (api_public_path(path)) {
		api_discovery(api, h, path);
		return;
	}
	if (api_authenticate(api, h, &q.user) < 0) {
		api_reply_status(h, 401, "Unauthorized", "Unauthorized");
		return;
	}
	if (api_discovery(api, h, path))
		return;
	n = split(path, seg, 10);
	if (n < 3) {
		not_found(h);
		return;
	}
	if (strcmp(seg[0], "api") == 0) {
		group = "";
		version = seg[1];
		i = 2;
	} else if (strcmp(seg[0], "apis") == 0 && n >= 4) {
		group = seg[1];
		version = seg[2];
		i = 3;
	} else {
		not_found(h);
		return;
	}
	if (strcmp(seg[i], "watch") == 0) {
		watch = true;
		i++;
	}
	if (i < n && strcmp(seg[i], "namespaces") == 0 && n - i >= 3 &&
	    strcmp(seg[i + 2], "status") != 0 && strcmp(seg[i + 2], "finalize") != 0) {
		q.ns = seg[i + 1];
		i += 2;
	}
	if (i >= n) {
		not_found(h);
		return;
	}
	q.res = api_resource_find(group, version, seg[i]);
	if (!q.res || (q.ns && !api_namespaced(q.res))) {
		not_found(h);
		return;
	}
	i++;
	if (i < n)
		q.name = seg[i++];
	if (i < n)
		q.sub = seg[i++];
	if (i < n) {
		not_found(h);
		return;
	}
	if (query_true(&q, "watch"))
		watch = true;
	route_resource(&q, watch);
	free(q.written_bytes);
}

void api_handle(struct api *api, struct http_request *req)
{
	handle(api, req);
}

/* Start and stop. */

static void ensure_namespace(struct api *api, const char *name)
{
	const struct api_resource *r = api_resource_find("", "v1", "namespaces");
	cleanup_free char *key = api_key(r, NULL, name);
	struct api_obj *o = cache_get(api->cache, key);
	cleanup_json json_t *obj = NULL;
	cleanup_free char *uid = api_new_uid();
	cleanup_free char *now = now_rfc3339();
	struct err err = ERR_INIT;
	size_t len;
	cleanup_free char *bytes = NULL;
	int64_t rev;

	if (o) {
		api_obj_unref(o);
		return;
	}
	obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion", "v1", "kind", "Namespace",
			"metadata", "name", name, "uid", uid, "creationTimestamp", now);
	typed_default(r, obj);
	bytes = api_serialize(r, obj, &len);
	struct api_hint hint = {.doc = obj};
	struct store_op op = {STORE_CREATE, key, bytes, len, 0, &hint};

	if (store_apply(api->store, &op, &rev, NULL, &err) < 0 && err.code != EEXIST)
		log_error("api: create namespace %s: %s", name, err.msg);
	else
		cache_wait(api->cache, rev);
	err_clear(&err);
}

static int parse_cidr(const char *cidr, uint32_t *net, uint32_t *mask, struct err *err)
{
	char buf[64];
	const char *slash = strchr(cidr, '/');
	struct in_addr a;
	int bits;

	if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
		return err_set(err, EINVAL, "%s: expected an IPv4 network ADDRESS/BITS", cidr);
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	bits = atoi(slash + 1);
	if (inet_pton(AF_INET, buf, &a) != 1 || bits < 8 || bits > 28)
		return err_set(err, EINVAL,
			       "--service-cidr %s: expected an IPv4 network of /8 to /28", cidr);
	*mask = bits ? ~0u << (32 - bits) : 0;
	*net = ntohl(a.s_addr) & *mask;
	return 0;
}

int api_start(const struct api_config *cfg, struct api **ret, struct err *err)
{
	struct api *api = xcalloc(1, sizeof(*api));
	struct http_config hc = {0};
	int r;

	api->cfg = *cfg;
	pthread_mutex_init(&api->alloc_lock, NULL);
	r = parse_cidr(cfg->service_cidr ? cfg->service_cidr : "10.43.0.0/16", &api->service_net,
		       &api->service_mask, err);
	if (r < 0)
		goto fail;
	if (!api->cfg.service_cidr)
		api->cfg.service_cidr = "10.43.0.0/16";
	if (!api->cfg.cluster_cidr)
		api->cfg.cluster_cidr = "10.42.0.0/16";
	r = parse_cidr(api->cfg.cluster_cidr, &api->cluster_net, &api->cluster_mask, err);
	if (r < 0)
		goto fail;
	if (~api->cluster_mask < 255) {
		r = err_set(err, EINVAL, "--cluster-cidr %s: too small for a /24 per node",
			    api->cfg.cluster_cidr);
		goto fail;
	}
	typed_set_toleration_seconds(
		cfg->not_ready_toleration > 0 ? cfg->not_ready_toleration : 300,
		cfg->unreachable_toleration > 0 ? cfg->unreachable_toleration : 300);
	r = store_open(cfg->datastore_endpoint, cfg->data_dir, &api->store, err);
	if (r < 0)
		goto fail;
	r = cache_start(api, api->store, cfg->watch_history, &api->cache, err);
	if (r < 0)
		goto fail;
	ensure_namespace(api, "default");
	ensure_namespace(api, "kube-system");
	ensure_namespace(api, "kube-public");
	ensure_namespace(api, "kube-node-lease");
	r = maint_start(api, err);
	if (r < 0)
		goto fail;

	hc.address = cfg->bind_address;
	hc.port = cfg->port;
	hc.cert_pem = cfg->cert_pem;
	hc.key_pem = cfg->key_pem;
	hc.threads = cfg->threads;
	hc.max_body = 3u << 20;
	hc.handler = handle;
	hc.offload = offload;
	hc.ctx = api;
	r = http_server_start(&hc, &api->http, err);
	if (r < 0)
		goto fail;
	*ret = api;
	return 0;
fail:
	api_stop(api);
	return r;
}

uint16_t api_port(const struct api *api)
{
	return http_server_port(api->http);
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	if (api->http)
		http_server_stop(api->http);
	maint_stop(api);
	if (api->store)
		store_close(api->store);
	cache_stop(api->cache);
	free(api);
}
