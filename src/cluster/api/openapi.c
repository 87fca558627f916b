/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAPI documents of the API server, built from the type schema and the resource
 * table: Swagger 2.0 (/openapi/v2) and OpenAPI 3.0 per group-version (/openapi/v3/...),
 * shaped as upstream's so that kubectl finds what it looks for: component schemas by their
 * x-kubernetes-group-version-kind, the patch strategy extensions, and the dryRun and
 * fieldValidation parameters of the write operations. Built once, on first request.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/jdump.h"
#include "cluster/api/resources.h"
#include "cluster/api/schema.h"
#include "cluster/api/schema_internal.h"

#define META   "io.k8s.apimachinery.pkg.apis.meta.v1."
#define STATUS META "Status"
#define DELOPT META "DeleteOptions"
#define WATCH  META "WatchEvent"
#define PATCH  META "Patch"
#define SCALE  "io.k8s.api.autoscaling.v1.Scale"

enum qparam {
	QP_ALLOW_WATCH_BOOKMARKS,
	QP_CONTINUE,
	QP_DRY_RUN,
	QP_FIELD_MANAGER,
	QP_FIELD_SELECTOR,
	QP_FIELD_VALIDATION,
	QP_FORCE,
	QP_GRACE_PERIOD,
	QP_LABEL_SELECTOR,
	QP_LIMIT,
	QP_ORPHAN,
	QP_PROPAGATION,
	QP_RESOURCE_VERSION,
	QP_RESOURCE_VERSION_MATCH,
	QP_SEND_INITIAL_EVENTS,
	QP_TIMEOUT,
	QP_WATCH,
	QP_COUNT,
};

static const struct {
	const char *name, *type, *desc;
} qparams[QP_COUNT] = {
	[QP_ALLOW_WATCH_BOOKMARKS] = {"allowWatchBookmarks", "boolean",
				      "Ask for BOOKMARK events that carry only a resourceVersion."},
	[QP_CONTINUE] = {"continue", "string", "Token from the previous page of a paged list."},
	[QP_DRY_RUN] = {"dryRun", "string",
			"\"All\": run every stage of the request but store nothing."},
	[QP_FIELD_MANAGER] = {"fieldManager", "string",
			      "Name of the actor making the change, recorded in managedFields."},
	[QP_FIELD_SELECTOR] = {"fieldSelector", "string",
			       "Only objects whose fields match, e.g. spec.nodeName=n1."},
	[QP_FIELD_VALIDATION] = {"fieldValidation", "string",
				 "What to do with unknown or duplicate fields in the body: "
				 "\"Ignore\", \"Warn\" (default) or \"Strict\" (reject)."},
	[QP_FORCE] = {"force", "boolean",
		      "Apply only: take over fields other managers own instead of failing."},
	[QP_GRACE_PERIOD] = {"gracePeriodSeconds", "integer",
			     "Seconds to wait before the object is removed; 0 removes it at once."},
	[QP_LABEL_SELECTOR] = {"labelSelector", "string",
			       "Only objects whose labels match, e.g. app=web,tier!=db."},
	[QP_LIMIT] = {"limit", "integer", "Most objects to return; the rest come by continue."},
	[QP_ORPHAN] = {"orphanDependents", "boolean",
		       "Deprecated: use propagationPolicy=Orphan to keep dependents."},
	[QP_PROPAGATION] = {"propagationPolicy", "string",
			    "How dependents are deleted: \"Orphan\", \"Background\" or "
			    "\"Foreground\"."},
	[QP_RESOURCE_VERSION] = {"resourceVersion", "string",
				 "Read or watch from this version of the collection."},
	[QP_RESOURCE_VERSION_MATCH] = {"resourceVersionMatch", "string",
				       "How resourceVersion applies to a list: \"Exact\" or "
				       "\"NotOlderThan\"."},
	[QP_SEND_INITIAL_EVENTS] = {"sendInitialEvents", "boolean",
				    "Watch only: begin with ADDED events for the current objects."},
	[QP_TIMEOUT] = {"timeoutSeconds", "integer", "End the list or watch after this long."},
	[QP_WATCH] = {"watch", "boolean", "Stream changes instead of returning a list."},
};

#define P(x) (1u << QP_##x)
#define LIST_PARAMS                                                                                \
	(P(ALLOW_WATCH_BOOKMARKS) | P(CONTINUE) | P(FIELD_SELECTOR) | P(LABEL_SELECTOR) |          \
	 P(LIMIT) | P(RESOURCE_VERSION) | P(RESOURCE_VERSION_MATCH) | P(SEND_INITIAL_EVENTS) |     \
	 P(TIMEOUT) | P(WATCH))
#define WRITE_PARAMS  (P(DRY_RUN) | P(FIELD_MANAGER) | P(FIELD_VALIDATION))
#define DELETE_PARAMS (P(DRY_RUN) | P(GRACE_PERIOD) | P(ORPHAN) | P(PROPAGATION))
#define DELETE_COLLECTION_PARAMS                                                                   \
	(DELETE_PARAMS | P(CONTINUE) | P(FIELD_SELECTOR) | P(LABEL_SELECTOR) | P(LIMIT) |          \
	 P(RESOURCE_VERSION) | P(RESOURCE_VERSION_MATCH) | P(SEND_INITIAL_EVENTS) | P(TIMEOUT))

enum resp {
	R200 = 1u << 0,
	R201 = 1u << 1,
	R202 = 1u << 2,
};

enum body {
	BODY_NONE,
	BODY_REQUIRED, /* the operation's body type, required */
	BODY_OPTIONAL,
	BODY_PATCH, /* a patch, in any of the patch media types */
};

/* One operation on one path. */
struct op {
	const char *method; /* "get", "post" ... */
	const char *action; /* x-kubernetes-action */
	const char *verb;   /* first word of the operationId */
	const char *suffix; /* last words of the operationId: "Status", "List" ... */
	const char *desc;   /* "%s" stands for the kind */
	unsigned params;    /* enum qparam bits */
	enum body body;
	const char *body_type; /* NULL: the resource's type */
	const char *resp_type; /* NULL: the resource's type */
	unsigned resps;        /* enum resp */
	bool watch;            /* a stream of WatchEvents */
	bool collection;       /* "deleteAppsV1CollectionNamespacedDeployment" */
};

static const struct op op_list = {"get",       "list",    "list", "",   "list %s objects",
				  LIST_PARAMS, BODY_NONE, NULL,   NULL, R200,
				  false,       false};
static const struct op op_create = {"post",       "post",        "create", "",   "create a %s",
				    WRITE_PARAMS, BODY_REQUIRED, NULL,     NULL, R200 | R201 | R202,
				    false,        false};
static const struct op op_delete_collection = {"delete",
					       "deletecollection",
					       "delete",
					       "",
					       "delete the matching %s objects",
					       DELETE_COLLECTION_PARAMS,
					       BODY_OPTIONAL,
					       DELOPT,
					       STATUS,
					       R200,
					       false,
					       true};
static const struct op op_read = {"get",     "get", "read", "",   "read a %s", 0,
				  BODY_NONE, NULL,  NULL,   R200, false,       false};
static const struct op op_replace = {"put",          "put",        "replace",     "",
				     "replace a %s", WRITE_PARAMS, BODY_REQUIRED, NULL,
				     NULL,           R200 | R201,  false,         false};
static const struct op op_patch = {
	"patch",    "patch", "patch", "",          "patch a %s", WRITE_PARAMS | P(FORCE),
	BODY_PATCH, PATCH,   NULL,    R200 | R201, false,        false};
static const struct op op_delete = {"delete",      "delete",      "delete",      "",
				    "delete a %s", DELETE_PARAMS, BODY_OPTIONAL, DELOPT,
				    STATUS,        R200 | R202,   false,         false};
static const struct op op_watch_list = {
	"get", "watchlist", "watch", "List", "watch %s objects", LIST_PARAMS, BODY_NONE, NULL,
	WATCH, R200,        true,    false};
static const struct op op_watch = {"get",     "watch", "watch", "",   "watch a %s", LIST_PARAMS,
				   BODY_NONE, NULL,    WATCH,   R200, true,         false};

struct gv {
	const char *group, *version;
	char *path;   /* "api/v1", "apis/apps/v1" */
	char *prefix; /* "/api/v1" */
	char *id;     /* "CoreV1", "AppsV1": operationId infix */
	char *tag;    /* "core_v1" */
};

/* What one document is being built from and into. */
struct builder {
	bool v3;
	const struct gv *gv;
	json_t *paths;
	bool *used; /* per model def: referenced, so its schema goes into the document */
};

static pthread_mutex_t docs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gv *gvs;
static size_t ngvs;
static json_t *doc_v2, *doc_v3_index;
static json_t **docs_v3; /* per gv */

static const char *ref_prefix(const struct builder *b)
{
	return b->v3 ? "#/components/schemas/" : "#/definitions/";
}

static void mark_used(struct builder *b, const struct schema_def *d)
{
	if (b->used)
		b->used[d - schema_model()->defs] = true;
}

static json_t *ref_to(struct builder *b, const char *type)
{
	const struct schema_def *d = schema_def_find(type);

	if (d)
		mark_used(b, d);
	return json_pack("{s:s+}", "$ref", ref_prefix(b), type);
}

static json_t *primitive_schema(enum schema_kind kind, bool v3)
{
	switch (kind) {
	case SK_STRING:
		return json_pack("{s:s}", "type", "string");
	case SK_INT32:
		return json_pack("{s:s,s:s}", "type", "integer", "format", "int32");
	case SK_INT64:
		return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
	case SK_NUMBER:
		return json_pack("{s:s,s:s}", "type", "number", "format", "double");
	case SK_BOOLEAN:
		return json_pack("{s:s}", "type", "boolean");
	case SK_BYTE:
		return json_pack("{s:s,s:s}", "type", "string", "format", "byte");
	case SK_DATE_TIME:
		return json_pack("{s:s,s:s}", "type", "string", "format", "date-time");
	case SK_INT_OR_STRING:
		if (v3)
			return json_pack("{s:s,s:[{s:s},{s:s}]}", "format", "int-or-string",
					 "oneOf", "type", "integer", "type", "string");
		return json_pack("{s:s,s:s}", "type", "string", "format", "int-or-string");
	case SK_QUANTITY:
		if (v3)
			return json_pack("{s:[{s:s},{s:s}]}", "oneOf", "type", "string", "type",
					 "number");
		return json_pack("{s:s}", "type", "string");
	case SK_ANY:
	case SK_REF:
	case SK_ARRAY:
	case SK_MAP:
		break;
	}
	return json_pack("{s:s}", "type", "object");
}

static json_t *texpr_schema(struct builder *b, const struct schema_texpr *t)
{
	switch (t->kind) {
	case SK_REF:
		return ref_to(b, t->def->name);
	case SK_ARRAY:
		return json_pack("{s:s,s:o}", "type", "array", "items", texpr_schema(b, t->elem));
	case SK_MAP:
		return json_pack("{s:s,s:o}", "type", "object", "additionalProperties",
				 texpr_schema(b, t->elem));
	default:
		return primitive_schema(t->kind, b->v3);
	}
}

static json_t *strv_json(const char *csv)
{
	json_t *a = json_array();
	const char *s = csv;

	while (*s) {
		size_t n = strcspn(s, ",");

		json_array_append_new(a, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	return a;
}

static json_t *field_schema(struct builder *b, const struct schema_field *f)
{
	json_t *s = texpr_schema(b, f->type);

	/* v3 puts siblings of a $ref under allOf, which kubectl explain follows */
	if (b->v3 && f->type->kind == SK_REF && f->desc)
		s = json_pack("{s:[o]}", "allOf", s);
	if (f->desc)
		json_object_set_new(s, "description", json_string(f->desc));
	if (f->flags & (SF_MERGE | SF_RETAIN_KEYS)) {
		const char *strategy = (f->flags & SF_MERGE) && (f->flags & SF_RETAIN_KEYS)
					       ? "merge,retainKeys"
				       : (f->flags & SF_MERGE) ? "merge"
							       : "retainKeys";

		json_object_set_new(s, "x-kubernetes-patch-strategy", json_string(strategy));
	}
	if (f->merge_key)
		json_object_set_new(s, "x-kubernetes-patch-merge-key", json_string(f->merge_key));
	if (f->list_type)
		json_object_set_new(s, "x-kubernetes-list-type", json_string(f->list_type));
	if (f->list_keys)
		json_object_set_new(s, "x-kubernetes-list-map-keys", strv_json(f->list_keys));
	if (f->map_type)
		json_object_set_new(s, "x-kubernetes-map-type", json_string(f->map_type));
	return s;
}

static json_t *def_schema(struct builder *b, const struct schema_def *d)
{
	json_t *s, *props, *req;

	if (d->is_alias) {
		s = primitive_schema(d->alias_kind, b->v3);
	} else {
		s = json_pack("{s:s}", "type", "object");
		props = json_object();
		req = json_array();
		for (size_t i = 0; i < d->nfields; i++) {
			const struct schema_field *f = &d->fields[i];

			json_object_set_new(props, f->name, field_schema(b, f));
			if (f->flags & SF_REQUIRED)
				json_array_append_new(req, json_string(f->name));
		}
		if (d->nfields)
			json_object_set_new(s, "properties", props);
		else
			json_decref(props);
		if (json_array_size(req))
			json_object_set_new(s, "required", req);
		else
			json_decref(req);
	}
	if (d->desc)
		json_object_set_new(s, "description", json_string(d->desc));
	if (d->ngvks) {
		json_t *gvks = json_array();

		for (size_t i = 0; i < d->ngvks; i++)
			json_array_append_new(gvks,
					      json_pack("{s:s,s:s,s:s}", "group", d->gvks[i].group,
							"version", d->gvks[i].version, "kind",
							d->gvks[i].kind));
		json_object_set_new(s, "x-kubernetes-group-version-kind", gvks);
	}
	if (d->map_type)
		json_object_set_new(s, "x-kubernetes-map-type", json_string(d->map_type));
	return s;
}

/* The schemas of every def marked used and of all they reference, by name. */
static json_t *schemas(struct builder *b)
{
	const struct schema_model *m = schema_model();
	json_t *out = json_object();
	bool again = true;

	/* def_schema marks what a def references; repeat until nothing new is marked */
	while (again) {
		again = false;
		for (size_t i = 0; i < m->ndefs; i++) {
			if (!b->used[i] || json_object_get(out, m->defs[i].name))
				continue;
			json_object_set_new(out, m->defs[i].name, def_schema(b, &m->defs[i]));
			again = true;
		}
	}
	return out;
}

static json_t *param_json(struct builder *b, const char *name, const char *in, const char *type,
			  const char *desc, bool required)
{
	json_t *p = json_pack("{s:s,s:s,s:s}", "name", name, "in", in, "description", desc);

	if (b->v3) {
		json_object_set_new(p, "schema",
				    json_pack("{s:s,s:b}", "type", type, "uniqueItems", 1));
	} else {
		json_object_set_new(p, "type", json_string(type));
		json_object_set_new(p, "uniqueItems", json_true());
	}
	if (required)
		json_object_set_new(p, "required", json_true());
	return p;
}

static const char *const patch_types[] = {
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/apply-patch+yaml",
};

static json_t *media_types(struct builder *b, const char *type, bool watch)
{
	json_t *c = json_object();

	if (watch) {
		json_object_set_new(c, "application/json;stream=watch",
				    json_pack("{s:o}", "schema", ref_to(b, type)));
	}
	json_object_set_new(c, "application/json", json_pack("{s:o}", "schema", ref_to(b, type)));
	json_object_set_new(c, "application/yaml", json_pack("{s:o}", "schema", ref_to(b, type)));
	return c;
}

static json_t *responses(struct builder *b, const struct op *op, const char *type)
{
	static const struct {
		unsigned bit;
		const char *code, *desc;
	} codes[] = {{R200, "200", "OK"}, {R201, "201", "Created"}, {R202, "202", "Accepted"}};
	json_t *r = json_object();

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		json_t *one;

		if (!(op->resps & codes[i].bit))
			continue;
		one = json_pack("{s:s}", "description", codes[i].desc);
		if (b->v3)
			json_object_set_new(one, "content", media_types(b, type, op->watch));
		else
			json_object_set_new(one, "schema", ref_to(b, type));
		json_object_set_new(r, codes[i].code, one);
	}
	json_object_set_new(r, "401", json_pack("{s:s}", "description", "Unauthorized"));
	return r;
}

static void add_body(struct builder *b, json_t *o, const struct op *op, const char *type)
{
	bool required = op->body != BODY_OPTIONAL;
	json_t *content;

	if (!b->v3) {
		json_array_append_new(json_object_get(o, "parameters"),
				      json_pack("{s:s,s:s,s:b,s:o}", "in", "body", "name", "body",
						"required", required, "schema", ref_to(b, type)));
		return;
	}
	content = json_object();
	if (op->body == BODY_PATCH) {
		for (size_t i = 0; i < sizeof(patch_types) / sizeof(patch_types[0]); i++)
			json_object_set_new(content, patch_types[i],
					    json_pack("{s:o}", "schema", ref_to(b, type)));
	} else {
		json_object_set_new(content, "*/*", json_pack("{s:o}", "schema", ref_to(b, type)));
	}
	json_object_set_new(o, "requestBody",
			    json_pack("{s:o,s:b}", "content", content, "required", required));
}

static char *with_kind(const char *tmpl, const char *kind)
{
	const char *at = strstr(tmpl, "%s");

	return xasprintf("%.*s%s%s", (int)(at - tmpl), tmpl, kind, at + 2);
}

/*
 * Adds @op on @path for @kind (of definition @type, served as @gvk). Path parameters go on
 * the path item, as upstream puts them.
 */
static void add_op(struct builder *b, const char *path, const struct op *op,
		   const struct api_resource *r, const struct schema_gvk *gvk, const char *type)
{
	bool ns = strstr(path, "{namespace}") != NULL;
	bool all_ns = !ns && api_namespaced(r) && !strstr(path, "{name}");
	cleanup_free char *id = NULL;
	cleanup_free char *desc = NULL;
	json_t *item = json_object_get(b->paths, path);
	json_t *o, *params;

	if (!item) {
		item = json_object();
		params = json_array();
		if (strstr(path, "{name}"))
			json_array_append_new(params, param_json(b, "name", "path", "string",
								 "Name of the object.", true));
		if (ns)
			json_array_append_new(params,
					      param_json(b, "namespace", "path", "string",
							 "Namespace of the objects.", true));
		json_array_append_new(params,
				      param_json(b, "pretty", "query", "string",
						 "\"true\": indent the JSON answer.", false));
		json_object_set_new(item, "parameters", params);
		json_object_set_new(b->paths, path, item);
	}
	id = xasprintf("%s%s%s%s%s%s%s", op->verb, b->gv->id, op->collection ? "Collection" : "",
		       ns ? "Namespaced" : "", r->kind, op->suffix,
		       all_ns ? "ForAllNamespaces" : "");
	desc = with_kind(op->desc, r->kind);
	o = json_pack("{s:s,s:s,s:[s],s:s,s:{s:s,s:s,s:s},s:[]}", "operationId", id, "description",
		      desc, "tags", b->gv->tag, "x-kubernetes-action", op->action,
		      "x-kubernetes-group-version-kind", "group", gvk->group, "version",
		      gvk->version, "kind", gvk->kind, "parameters");
	params = json_object_get(o, "parameters");
	for (unsigned i = 0; i < QP_COUNT; i++)
		if (op->params & (1u << i))
			json_array_append_new(params,
					      param_json(b, qparams[i].name, "query",
							 qparams[i].type, qparams[i].desc, false));
	if (op->body != BODY_NONE)
		add_body(b, o, op, op->body_type ? op->body_type : type);
	if (!b->v3) {
		json_t *consumes = json_array();

		if (op->body == BODY_PATCH)
			for (size_t i = 0; i < sizeof(patch_types) / sizeof(patch_types[0]); i++)
				json_array_append_new(consumes, json_string(patch_types[i]));
		else
			json_array_append_new(consumes, json_string("*/*"));
		json_object_set_new(o, "consumes", consumes);
		json_object_set_new(
			o, "produces",
			op->watch ? json_pack("[sss]", "application/json", "application/yaml",
					      "application/json;stream=watch")
				  : json_pack("[ss]", "application/json", "application/yaml"));
		json_object_set_new(o, "schemes", json_pack("[s]", "https"));
	}
	if (!json_array_size(params))
		json_object_del(o, "parameters");
	json_object_set_new(o, "responses", responses(b, op, op->resp_type ? op->resp_type : type));
	json_object_set_new(item, op->method, o);
}

static const struct schema_gvk *def_gvk(const char *type, const char *group, const char *version)
{
	const struct schema_def *d = schema_def_find(type);

	if (!d)
		return NULL;
	for (size_t i = 0; i < d->ngvks; i++)
		if (strcmp(d->gvks[i].group, group) == 0 &&
		    strcmp(d->gvks[i].version, version) == 0)
			return &d->gvks[i];
	return d->ngvks ? &d->gvks[0] : NULL;
}

/* A subresource served with another kind (scale, eviction, token, binding). */
static void add_sub_op(struct builder *b, const char *path, const struct op *base,
		       const char *suffix, const struct api_resource *r, const char *type)
{
	struct op op = *base;
	const struct schema_gvk *gvk = def_gvk(type, "", "");

	if (!gvk)
		return;
	op.suffix = suffix;
	if (op.body != BODY_PATCH)
		op.body_type = NULL;
	op.resp_type = NULL;
	add_op(b, path, &op, r, gvk, type);
}

static void add_resource(struct builder *b, const struct api_resource *r)
{
	const char *type = schema_type_of(r);
	const struct schema_gvk *gvk = type ? def_gvk(type, r->group, r->version) : NULL;
	cleanup_free char *list_type = NULL;
	cleanup_free char *base = NULL;
	cleanup_free char *item = NULL;
	cleanup_free char *sub = NULL;
	cleanup_free char *all = NULL;
	cleanup_free char *watch_base = NULL;
	cleanup_free char *watch_item = NULL;
	cleanup_free char *watch_all = NULL;
	const char *nspath = api_namespaced(r) ? "/namespaces/{namespace}" : "";
	struct op op;

	if (!gvk)
		return;
	base = xasprintf("%s%s/%s", b->gv->prefix, nspath, r->plural);
	item = xasprintf("%s/{name}", base);
	if (r->flags & API_VIRTUAL) {
		add_op(b, base, &op_create, r, gvk, type);
		return;
	}
	list_type = xasprintf("%sList", type);
	op = op_list;
	op.resp_type = list_type;
	add_op(b, base, &op, r, gvk, type);
	add_op(b, base, &op_create, r, gvk, type);
	add_op(b, base, &op_delete_collection, r, gvk, type);
	add_op(b, item, &op_read, r, gvk, type);
	add_op(b, item, &op_replace, r, gvk, type);
	add_op(b, item, &op_patch, r, gvk, type);
	add_op(b, item, &op_delete, r, gvk, type);

	watch_base = xasprintf("%s/watch%s/%s", b->gv->prefix, nspath, r->plural);
	watch_item = xasprintf("%s/{name}", watch_base);
	add_op(b, watch_base, &op_watch_list, r, gvk, type);
	add_op(b, watch_item, &op_watch, r, gvk, type);
	if (api_namespaced(r)) {
		all = xasprintf("%s/%s", b->gv->prefix, r->plural);
		watch_all = xasprintf("%s/watch/%s", b->gv->prefix, r->plural);
		add_op(b, all, &op, r, gvk, type);
		add_op(b, watch_all, &op_watch_list, r, gvk, type);
	}

	if (r->subresources & API_SUB_STATUS) {
		sub = xasprintf("%s/status", item);
		op = op_read;
		op.suffix = "Status";
		op.desc = "read the status of a %s";
		add_op(b, sub, &op, r, gvk, type);
		op = op_replace;
		op.suffix = "Status";
		op.desc = "replace the status of a %s";
		add_op(b, sub, &op, r, gvk, type);
		op = op_patch;
		op.suffix = "Status";
		op.desc = "patch the status of a %s";
		add_op(b, sub, &op, r, gvk, type);
		free(sub);
		sub = NULL;
	}
	if (r->subresources & API_SUB_SCALE) {
		sub = xasprintf("%s/scale", item);
		op = op_read;
		op.desc = "read the scale of a %s";
		add_sub_op(b, sub, &op, "Scale", r, SCALE);
		op = op_replace;
		op.desc = "replace the scale of a %s";
		add_sub_op(b, sub, &op, "Scale", r, SCALE);
		op = op_patch;
		op.desc = "patch the scale of a %s";
		add_sub_op(b, sub, &op, "Scale", r, SCALE);
		free(sub);
		sub = NULL;
	}
	if (r->subresources & API_SUB_FINALIZE) {
		sub = xasprintf("%s/finalize", item);
		op = op_replace;
		op.suffix = "Finalize";
		op.desc = "replace the finalizers of a %s";
		add_op(b, sub, &op, r, gvk, type);
		free(sub);
		sub = NULL;
	}
	op = op_create;
	if (r->subresources & API_SUB_BINDING) {
		sub = xasprintf("%s/binding", item);
		op.desc = "bind a %s";
		add_sub_op(b, sub, &op, "Binding", r, "io.k8s.api.core.v1.Binding");
		free(sub);
		sub = NULL;
	}
	if (r->subresources & API_SUB_EVICTION) {
		sub = xasprintf("%s/eviction", item);
		op.desc = "evict a %s";
		add_sub_op(b, sub, &op, "Eviction", r, "io.k8s.api.policy.v1.Eviction");
		free(sub);
		sub = NULL;
	}
	if (r->subresources & API_SUB_TOKEN) {
		sub = xasprintf("%s/token", item);
		op.desc = "request a token for a %s";
		add_sub_op(b, sub, &op, "Token", r, "io.k8s.api.authentication.v1.TokenRequest");
	}
}

static char *capitalized(const char *s, size_t n)
{
	char *out = xstrndup(s, n);

	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
	return out;
}

/* The served group-versions, in the order of the resource table. */
static void find_gvs(void)
{
	gvs = xcalloc(api_nresources, sizeof(*gvs));
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		cleanup_free char *group = NULL;
		cleanup_free char *version = NULL;
		struct gv *g;
		size_t j;

		for (j = 0; j < ngvs; j++)
			if (strcmp(gvs[j].group, r->group) == 0 &&
			    strcmp(gvs[j].version, r->version) == 0)
				break;
		if (j < ngvs)
			continue;
		g = &gvs[ngvs++];
		g->group = r->group;
		g->version = r->version;
		if (r->group[0]) {
			g->path = xasprintf("apis/%s/%s", r->group, r->version);
			group = capitalized(r->group, strcspn(r->group, "."));
		} else {
			g->path = xasprintf("api/%s", r->version);
			group = xstrdup("Core");
		}
		g->prefix = xasprintf("/%s", g->path);
		version = capitalized(r->version, strlen(r->version));
		g->id = xasprintf("%s%s", group, version);
		g->tag = xasprintf("%.*s_%s", (int)strcspn(r->group[0] ? r->group : "core", "."),
				   r->group[0] ? r->group : "core", r->version);
	}
	docs_v3 = xcalloc(ngvs, sizeof(*docs_v3));
}

static json_t *info(void)
{
	return json_pack("{s:s,s:s}", "title", "Kubernetes", "version", "unversioned");
}

static json_t *bearer(void)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "type", "apiKey", "name", "authorization", "in",
			 "header", "description", "Bearer token authentication");
}

/* the types every group-version's operations may answer with */
static void mark_common(struct builder *b)
{
	static const char *const common[] = {STATUS, DELOPT, WATCH, PATCH};

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
		const struct schema_def *d = schema_def_find(common[i]);

		if (d)
			mark_used(b, d);
	}
}

static json_t *build_v3(const struct gv *gv)
{
	const struct schema_model *m = schema_model();
	struct builder b = {.v3 = true, .gv = gv, .paths = json_object()};
	json_t *doc;

	b.used = xcalloc(m->ndefs, sizeof(*b.used));
	for (size_t i = 0; i < api_nresources; i++)
		if (strcmp(api_resources[i].group, gv->group) == 0 &&
		    strcmp(api_resources[i].version, gv->version) == 0)
			add_resource(&b, &api_resources[i]);
	mark_common(&b);
	doc = json_pack("{s:s,s:o,s:o,s:{s:o,s:{s:o}},s:[{s:[]}]}", "openapi", "3.0.0", "info",
			info(), "paths", b.paths, "components", "schemas", schemas(&b),
			"securitySchemes", "BearerToken", bearer(), "security", "BearerToken");
	free(b.used);
	return doc;
}

static json_t *build_v2(void)
{
	const struct schema_model *m = schema_model();
	struct builder b = {.v3 = false, .paths = json_object()};
	json_t *defs = json_object();
	json_t *doc;

	for (size_t g = 0; g < ngvs; g++) {
		b.gv = &gvs[g];
		for (size_t i = 0; i < api_nresources; i++)
			if (strcmp(api_resources[i].group, gvs[g].group) == 0 &&
			    strcmp(api_resources[i].version, gvs[g].version) == 0)
				add_resource(&b, &api_resources[i]);
	}
	for (size_t i = 0; i < m->ndefs; i++)
		json_object_set_new(defs, m->defs[i].name, def_schema(&b, &m->defs[i]));
	doc = json_pack("{s:s,s:o,s:o,s:o,s:{s:o},s:[{s:[]}]}", "swagger", "2.0", "info", info(),
			"paths", b.paths, "definitions", defs, "securityDefinitions", "BearerToken",
			bearer(), "security", "BearerToken");
	return doc;
}

char *schema_openapi_dump(const json_t *doc)
{
	char *s = jdump_s(doc, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		abort(); /* jansson fails only when out of memory */
	return s;
}

static char *doc_hash(const json_t *doc)
{
	cleanup_free char *text = schema_openapi_dump(doc);
	uint8_t digest[SHA256_DIGEST_SIZE];
	char *hex = xmalloc(2 * SHA256_DIGEST_SIZE + 1);
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(text), (const uint8_t *)text);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
	for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return hex;
}

/* Call with docs_lock held. */
static json_t *v3_doc_locked(size_t g)
{
	if (!docs_v3[g])
		docs_v3[g] = build_v3(&gvs[g]);
	return docs_v3[g];
}

json_t *schema_openapi_v2(void)
{
	json_t *doc;

	pthread_mutex_lock(&docs_lock);
	if (!gvs)
		find_gvs();
	if (!doc_v2)
		doc_v2 = build_v2();
	doc = json_incref(doc_v2);
	pthread_mutex_unlock(&docs_lock);
	return doc;
}

json_t *schema_openapi_v3_index(void)
{
	json_t *doc;

	pthread_mutex_lock(&docs_lock);
	if (!gvs)
		find_gvs();
	if (!doc_v3_index) {
		json_t *paths = json_object();

		for (size_t g = 0; g < ngvs; g++) {
			cleanup_free char *hash = doc_hash(v3_doc_locked(g));
			cleanup_free char *url =
				xasprintf("/openapi/v3/%s?hash=%s", gvs[g].path, hash);

			json_object_set_new(paths, gvs[g].path,
					    json_pack("{s:s}", "serverRelativeURL", url));
		}
		doc_v3_index = json_pack("{s:o}", "paths", paths);
	}
	doc = json_incref(doc_v3_index);
	pthread_mutex_unlock(&docs_lock);
	return doc;
}

json_t *schema_openapi_v3(const char *gv_path)
{
	json_t *doc = NULL;

	pthread_mutex_lock(&docs_lock);
	if (!gvs)
		find_gvs();
	for (size_t g = 0; g < ngvs && !doc; g++)
		if (strcmp(gvs[g].path, gv_path) == 0)
			doc = json_incref(v3_doc_locked(g));
	pthread_mutex_unlock(&docs_lock);
	return doc;
}
