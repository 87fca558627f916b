/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The type schema: types.def, compiled into the binary, parsed once on first use; the
 * strict decoding checks the API server runs on request bodies; and the patch metadata
 * strategic merge patch asks for. The OpenAPI documents built from the same model are in
 * openapi.c.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "cluster/api/patch.h"
#include "cluster/api/quantity.h"
#include "cluster/api/resources.h"
#include "cluster/api/schema.h"
#include "cluster/api/schema_internal.h"
#include "cluster/api/status.h"

/*
 * The Makefile runs the compiler from the top of the tree, so the path is relative to it;
 * schema.o depends on types.def there.
 */
__asm__(".pushsection .rodata\n"
	".globl schema_types_def_text\n"
	".hidden schema_types_def_text\n"
	".type schema_types_def_text, @object\n"
	"schema_types_def_text:\n"
	".incbin \"src/cluster/api/types.def\"\n"
	".byte 0\n"
	".size schema_types_def_text, . - schema_types_def_text\n"
	".popsection\n");
extern const char schema_types_def_text[];

static pthread_once_t model_once = PTHREAD_ONCE_INIT;
static struct schema_model model;
/* the kind of each api_resources[] entry, by index */
static const char **resource_types;

/* types.def is part of the binary: a line it cannot parse is a bug caught by the tests */
static _Noreturn void bad_line(const char *line, const char *why)
{
	log_debug("types.def: %s: '%s'", why, line);
	abort();
}

struct parser {
	struct schema_def *defs;
	size_t ndefs, cap;
	struct schema_field *fields; /* of the def being read */
	size_t nfields, fcap;
	/* references by name, resolved once every def is known */
	struct schema_texpr **refs;
	const char **ref_names;
	size_t nrefs, rcap;
};

static const struct {
	const char *name;
	enum schema_kind kind;
} primitives[] = {
	{"string", SK_STRING},       {"int32", SK_INT32},
	{"int64", SK_INT64},         {"number", SK_NUMBER},
	{"boolean", SK_BOOLEAN},     {"byte", SK_BYTE},
	{"date-time", SK_DATE_TIME}, {"int-or-string", SK_INT_OR_STRING},
	{"quantity", SK_QUANTITY},   {"object", SK_ANY},
};

static const struct schema_texpr primitive_texprs[] = {
	[SK_STRING] = {SK_STRING, NULL, NULL},
	[SK_INT32] = {SK_INT32, NULL, NULL},
	[SK_INT64] = {SK_INT64, NULL, NULL},
	[SK_NUMBER] = {SK_NUMBER, NULL, NULL},
	[SK_BOOLEAN] = {SK_BOOLEAN, NULL, NULL},
	[SK_BYTE] = {SK_BYTE, NULL, NULL},
	[SK_DATE_TIME] = {SK_DATE_TIME, NULL, NULL},
	[SK_INT_OR_STRING] = {SK_INT_OR_STRING, NULL, NULL},
	[SK_QUANTITY] = {SK_QUANTITY, NULL, NULL},
	[SK_ANY] = {SK_ANY, NULL, NULL},
};

static int primitive_kind(const char *s)
{
	for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
		if (strcmp(primitives[i].name, s) == 0)
			return (int)primitives[i].kind;
	return -1;
}

static const struct schema_texpr *parse_texpr(struct parser *p, const char *s)
{
	struct schema_texpr *t;
	int prim;

	if (strncmp(s, "[]", 2) == 0 || strncmp(s, "map[string]", 11) == 0) {
		t = xcalloc(1, sizeof(*t));
		t->kind = s[0] == '[' ? SK_ARRAY : SK_MAP;
		t->elem = parse_texpr(p, s + (s[0] == '[' ? 2 : 11));
		return t;
	}
	prim = primitive_kind(s);
	if (prim >= 0)
		return &primitive_texprs[prim];
	t = xcalloc(1, sizeof(*t));
	t->kind = SK_REF;
	if (p->nrefs == p->rcap) {
		p->rcap = p->rcap ? 2 * p->rcap : 256;
		p->refs = xrealloc(p->refs, p->rcap * sizeof(*p->refs));
		p->ref_names = xrealloc(p->ref_names, p->rcap * sizeof(*p->ref_names));
	}
	p->refs[p->nrefs] = t;
	p->ref_names[p->nrefs++] = s;
	return t;
}

/* Splits off the " : description" of @line (in place). */
static const char *split_desc(char *line)
{
	char *sep = strstr(line, " : ");

	if (!sep)
		return NULL;
	*sep = '\0';
	return sep + 3;
}

static char *next_word(char **s)
{
	char *w;

	*s += strspn(*s, " \t");
	if (!**s)
		return NULL;
	w = *s;
	*s += strcspn(*s, " \t");
	if (**s)
		*(*s)++ = '\0';
	return w;
}

static void finish_def(struct parser *p)
{
	struct schema_def *d;

	if (!p->ndefs)
		return;
	d = &p->defs[p->ndefs - 1];
	d->fields = p->fields;
	d->nfields = p->nfields;
	p->fields = NULL;
	p->nfields = p->fcap = 0;
}

static struct schema_gvk parse_gvk(char *s, const char *line)
{
	char *kind = strrchr(s, '/');
	char *slash;
	struct schema_gvk g;

	if (!kind)
		bad_line(line, "gvk needs apiVersion/kind");
	*kind++ = '\0';
	slash = strchr(s, '/');
	if (slash) {
		*slash = '\0';
		g.group = s;
		g.version = slash + 1;
	} else {
		g.group = "";
		g.version = s;
	}
	g.kind = kind;
	return g;
}

static void parse_type_line(struct parser *p, char *line)
{
	const char *desc = split_desc(line);
	char *rest = line + strlen("type ");
	struct schema_gvk *gvks = NULL;
	struct schema_def *d;
	char *w;

	finish_def(p);
	if (p->ndefs == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 256;
		p->defs = xrealloc(p->defs, p->cap * sizeof(*p->defs));
	}
	d = &p->defs[p->ndefs++];
	memset(d, 0, sizeof(*d));
	d->desc = desc;
	d->name = next_word(&rest);
	if (!d->name)
		bad_line(line, "type without a name");
	while ((w = next_word(&rest))) {
		if (strncmp(w, "gvk=", 4) == 0) {
			gvks = xrealloc(gvks, (d->ngvks + 1) * sizeof(*gvks));
			gvks[d->ngvks++] = parse_gvk(w + 4, line);
		} else if (strncmp(w, "map=", 4) == 0) {
			d->map_type = w + 4;
		} else if (strcmp(w, "=") == 0) {
			const char *prim = next_word(&rest);
			int kind = prim ? primitive_kind(prim) : -1;

			if (kind < 0)
				bad_line(line, "alias of an unknown primitive");
			d->is_alias = true;
			d->alias_kind = (enum schema_kind)kind;
		} else {
			bad_line(line, "unknown attribute");
		}
	}
	d->gvks = gvks;
}

static void parse_field_line(struct parser *p, char *line)
{
	const char *desc = split_desc(line);
	char *rest = line;
	struct schema_field *f;
	const char *type;
	char *w;

	if (!p->ndefs || p->defs[p->ndefs - 1].is_alias)
		bad_line(line, "field outside an object type");
	if (p->nfields == p->fcap) {
		p->fcap = p->fcap ? 2 * p->fcap : 8;
		p->fields = xrealloc(p->fields, p->fcap * sizeof(*p->fields));
	}
	f = &p->fields[p->nfields++];
	memset(f, 0, sizeof(*f));
	f->desc = desc;
	f->name = next_word(&rest);
	type = next_word(&rest);
	if (!f->name || !type)
		bad_line(line, "field needs a name and a type");
	f->type = parse_texpr(p, type);
	while ((w = next_word(&rest))) {
		if (strcmp(w, "required") == 0) {
			f->flags |= SF_REQUIRED;
		} else if (strcmp(w, "merge") == 0) {
			f->flags |= SF_MERGE;
		} else if (strncmp(w, "merge:", 6) == 0) {
			f->flags |= SF_MERGE;
			f->merge_key = w + 6;
		} else if (strcmp(w, "retainKeys") == 0) {
			f->flags |= SF_RETAIN_KEYS;
		} else if (strncmp(w, "list=", 5) == 0) {
			f->list_type = w + 5;
		} else if (strncmp(w, "keys=", 5) == 0) {
			f->list_keys = w + 5;
		} else if (strncmp(w, "map=", 4) == 0) {
			f->map_type = w + 4;
		} else {
			bad_line(line, "unknown field attribute");
		}
	}
}

static int cmp_def(const void *a, const void *b)
{
	return strcmp(((const struct schema_def *)a)->name, ((const struct schema_def *)b)->name);
}

static int cmp_field(const void *a, const void *b)
{
	return strcmp(((const struct schema_field *)a)->name,
		      ((const struct schema_field *)b)->name);
}

/* Without pthread_once, for parse_model itself. */
static const struct schema_def *def_find(const char *name)
{
	struct schema_def key = {.name = name};

	return bsearch(&key, model.defs, model.ndefs, sizeof(*model.defs), cmp_def);
}

static void index_resources(void)
{
	resource_types = xcalloc(api_nresources, sizeof(*resource_types));
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];

		for (size_t j = 0; j < model.ndefs && !resource_types[i]; j++) {
			const struct schema_def *d = &model.defs[j];

			for (size_t k = 0; k < d->ngvks; k++)
				if (strcmp(d->gvks[k].group, r->group) == 0 &&
				    strcmp(d->gvks[k].version, r->version) == 0 &&
				    strcmp(d->gvks[k].kind, r->kind) == 0)
					resource_types[i] = d->name;
		}
	}
}

static void parse_model(void)
{
	struct parser p = {0};
	char *text = xstrdup(schema_types_def_text);
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strncmp(line, "type ", 5) == 0)
			parse_type_line(&p, line);
		else if (line[0] == '\t')
			parse_field_line(&p, line);
		else
			bad_line(line, "neither a type nor a field");
	}
	finish_def(&p);
	qsort(p.defs, p.ndefs, sizeof(*p.defs), cmp_def);
	for (size_t i = 0; i < p.ndefs; i++)
		if (p.defs[i].nfields)
			qsort((void *)p.defs[i].fields, p.defs[i].nfields,
			      sizeof(*p.defs[i].fields), cmp_field);
	model.defs = p.defs;
	model.ndefs = p.ndefs;
	for (size_t i = 0; i < p.nrefs; i++) {
		p.refs[i]->def = def_find(p.ref_names[i]);
		if (!p.refs[i]->def)
			bad_line(p.ref_names[i], "reference to an unknown type");
	}
	free(p.refs);
	free(p.ref_names);
	index_resources();
}

const struct schema_model *schema_model(void)
{
	pthread_once(&model_once, parse_model);
	return &model;
}

const struct schema_def *schema_def_find(const char *name)
{
	schema_model();
	return def_find(name);
}

const struct schema_field *schema_field_find(const struct schema_def *def, const char *name)
{
	struct schema_field key = {.name = name};

	if (!def->nfields)
		return NULL;
	return bsearch(&key, def->fields, def->nfields, sizeof(*def->fields), cmp_field);
}

const char *schema_type_of(const struct api_resource *r)
{
	const struct schema_model *m = schema_model();

	if (r >= api_resources && r < api_resources + api_nresources)
		return resource_types[r - api_resources];
	for (size_t j = 0; j < m->ndefs; j++)
		for (size_t k = 0; k < m->defs[j].ngvks; k++)
			if (strcmp(m->defs[j].gvks[k].group, r->group) == 0 &&
			    strcmp(m->defs[j].gvks[k].version, r->version) == 0 &&
			    strcmp(m->defs[j].gvks[k].kind, r->kind) == 0)
				return m->defs[j].name;
	return NULL;
}

bool schema_has_type(const char *type)
{
	return schema_def_find(type) != NULL;
}

bool schema_patch_lookup(void *ctx, const char *type, const char *field, struct patch_field *ret)
{
	const struct schema_def *d = schema_def_find(type);
	const struct schema_field *f;
	const struct schema_texpr *t;

	(void)ctx;
	if (!d || d->is_alias)
		return false;
	f = schema_field_find(d, field);
	if (!f)
		return false;
	memset(ret, 0, sizeof(*ret));
	t = f->type;
	if (t->kind == SK_ARRAY || t->kind == SK_MAP) {
		ret->is_list = t->kind == SK_ARRAY;
		ret->is_map = t->kind == SK_MAP;
		t = t->elem;
	}
	if (t->kind == SK_REF && !t->def->is_alias)
		ret->type = t->def->name;
	ret->merge_key = f->merge_key;
	if (f->flags & SF_MERGE)
		ret->strategy |= PATCH_MERGE;
	if (f->flags & SF_RETAIN_KEYS)
		ret->strategy |= PATCH_RETAIN_KEYS;
	return true;
}

/* Strict decoding checks. */

struct checker {
	bool strict;
	struct causes *out;
	char *path; /* "spec.template.spec.containers[0]" */
	size_t len, cap;
};

static void path_append(struct checker *c, const char *s)
{
	size_t n = strlen(s);

	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		c->path = xrealloc(c->path, c->cap);
	}
	memcpy(c->path + c->len, s, n + 1);
	c->len += n;
}

/* Appends ".name" (or "name" at the top), "[key]" or "[i]"; returns the length to pop to. */
static size_t path_push_field(struct checker *c, const char *name)
{
	size_t old = c->len;

	if (c->len)
		path_append(c, ".");
	path_append(c, name);
	return old;
}

static size_t path_push_key(struct checker *c, const char *key)
{
	size_t old = c->len;

	path_append(c, "[");
	path_append(c, key);
	path_append(c, "]");
	return old;
}

static size_t path_push_index(struct checker *c, size_t i)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%zu", i);
	return path_push_key(c, buf);
}

static void path_pop(struct checker *c, size_t old)
{
	c->len = old;
	c->path[old] = '\0';
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		break;
	}
	return "null";
}

static void type_invalid(struct checker *c, const json_t *v, const char *want)
{
	const char *got = json_type_name(v);

	if (c->len)
		causes_add(c->out, CAUSE_TYPE_INVALID, c->path,
			   "Invalid value: \"%s\": %s in body must be of type %s: \"%s\"", got,
			   c->path, want, got);
	else
		causes_add(c->out, CAUSE_TYPE_INVALID, c->path,
			   "Invalid value: \"%s\": body must be of type %s: \"%s\"", got, want,
			   got);
}

static bool digits(const char **s, int n)
{
	for (int i = 0; i < n; i++, (*s)++)
		if (**s < '0' || **s > '9')
			return false;
	return true;
}

/* RFC 3339 as Go's time.RFC3339 layout reads it: 2006-01-02T15:04:05[.frac](Z|+07:00) */
static bool is_rfc3339(const char *s)
{
	if (!digits(&s, 4) || *s++ != '-' || !digits(&s, 2) || *s++ != '-' || !digits(&s, 2) ||
	    *s++ != 'T' || !digits(&s, 2) || *s++ != ':' || !digits(&s, 2) || *s++ != ':' ||
	    !digits(&s, 2))
		return false;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'Z')
		return s[1] == '\0';
	if (*s != '+' && *s != '-')
		return false;
	s++;
	return digits(&s, 2) && *s++ == ':' && digits(&s, 2) && *s == '\0';
}

/*
 * Standard base64 with padding, as Go's encoding/json decodes []byte; returns the offset
 * of the first bad byte, or -1. Line breaks are skipped, as Go does.
 */
static long base64_bad_byte(const char *s)
{
	size_t quantum = 0, i;
	bool padding = false, done = false;

	for (i = 0; s[i]; i++) {
		char ch = s[i];
		bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			     (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';

		if (ch == '\r' || ch == '\n')
			continue;
		if (done || (ch == '=' && quantum < 2) || (ch != '=' && (padding || !alpha)))
			return (long)i;
		padding = padding || ch == '=';
		quantum = (quantum + 1) % 4;
		done = padding && quantum == 0;
	}
	return quantum ? (long)i : -1;
}

static void check_quantity(struct checker *c, const json_t *v)
{
	char buf[64];
	const char *s, *why = NULL;
	struct quantity q;

	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = buf;
	} else if (json_is_real(v)) {
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		s = buf;
	} else {
		type_invalid(c, v, "string");
		return;
	}
	if (quantity_parse(s, &q, &why))
		return;
	causes_add(c->out, CAUSE_INVALID, c->path, "Invalid value: \"%s\": %s", s,
		   why ? why
		       : "quantities must match the regular expression "
			 "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

static void check_value(struct checker *c, const struct schema_texpr *t, const json_t *v,
			const json_t *was);

/* @was: the value in the same place of the stored object, or NULL. */
static void check_object(struct checker *c, const struct schema_def *d, const json_t *v,
			 const json_t *was)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v)) {
		type_invalid(c, v, "object");
		return;
	}
	json_object_foreach ((json_t *)v, key, val) {
		const struct schema_field *f = schema_field_find(d, key);
		size_t old = path_push_field(c, key);

		if (f)
			check_value(c, f->type, val, json_object_get(was, key));
		else if (c->strict)
			causes_add(c->out, CAUSE_UNKNOWN_FIELD, c->path, "unknown field \"%s\"",
				   c->path);
		path_pop(c, old);
	}
}

static void check_primitive(struct checker *c, enum schema_kind kind, const json_t *v)
{
	long bad;

	switch (kind) {
	case SK_STRING:
		if (!json_is_string(v))
			type_invalid(c, v, "string");
		break;
	case SK_INT32:
		if (!json_is_integer(v))
			type_invalid(c, v, "integer");
		else if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
			causes_add(c->out, CAUSE_INVALID, c->path,
				   "Invalid value: %" JSON_INTEGER_FORMAT
				   ": %s in body must fit in a 32-bit integer",
				   json_integer_value(v), c->path);
		break;
	case SK_INT64:
		if (!json_is_integer(v))
			type_invalid(c, v, "integer");
		break;
	case SK_NUMBER:
		if (!json_is_number(v))
			type_invalid(c, v, "number");
		break;
	case SK_BOOLEAN:
		if (!json_is_boolean(v))
			type_invalid(c, v, "boolean");
		break;
	case SK_BYTE:
		if (!json_is_string(v))
			type_invalid(c, v, "string");
		else if ((bad = base64_bad_byte(json_string_value(v))) >= 0)
			/* the value is left out: it is often a secret */
			causes_add(c->out, CAUSE_INVALID, c->path,
				   "illegal base64 data at input byte %ld", bad);
		break;
	case SK_DATE_TIME:
		if (!json_is_string(v))
			type_invalid(c, v, "string");
		else if (!is_rfc3339(json_string_value(v)))
			causes_add(c->out, CAUSE_INVALID, c->path,
				   "Invalid value: \"%s\": must be a time in RFC 3339 format "
				   "(2006-01-02T15:04:05Z)",
				   json_string_value(v));
		break;
	case SK_INT_OR_STRING:
		if (!json_is_integer(v) && !json_is_string(v))
			type_invalid(c, v, "integer or string");
		break;
	case SK_QUANTITY:
		check_quantity(c, v);
		break;
	case SK_ANY:
	case SK_REF:
	case SK_ARRAY:
	case SK_MAP:
		break;
	}
}

/*
 * @was: the value in the same place of the stored object, or NULL. A value that is that
 * very value (a patch shares what it leaves alone with the stored object) was checked when
 * it was stored.
 */
static void check_value(struct checker *c, const struct schema_texpr *t, const json_t *v,
			const json_t *was)
{
	const char *key;
	json_t *val;
	size_t i, old;

	/* Go's decoder leaves the zero value for null, whatever the type */
	if (json_is_null(v) || v == was)
		return;
	switch (t->kind) {
	case SK_REF:
		if (t->def->is_alias)
			check_primitive(c, t->def->alias_kind, v);
		else
			check_object(c, t->def, v, was);
		break;
	case SK_ARRAY:
		if (!json_is_array(v)) {
			type_invalid(c, v, "array");
			break;
		}
		json_array_foreach (v, i, val) {
			old = path_push_index(c, i);
			check_value(c, t->elem, val, json_array_get(was, i));
			path_pop(c, old);
		}
		break;
	case SK_MAP:
		if (!json_is_object(v)) {
			type_invalid(c, v, "object");
			break;
		}
		json_object_foreach ((json_t *)v, key, val) {
			old = path_push_key(c, key);
			check_value(c, t->elem, val, json_object_get(was, key));
			path_pop(c, old);
		}
		break;
	default:
		check_primitive(c, t->kind, v);
		break;
	}
}

void schema_check_update(const char *type, const json_t *obj, const json_t *old, bool strict,
			 struct causes *out)
{
	const struct schema_def *d = schema_def_find(type);
	struct checker c = {.strict = strict, .out = out};
	struct schema_texpr t = {.kind = SK_REF, .def = d};

	if (!d)
		return;
	c.cap = 128;
	c.path = xcalloc(1, c.cap);
	check_value(&c, &t, obj, old);
	free(c.path);
}

void schema_check(const char *type, const json_t *obj, bool strict, struct causes *out)
{
	schema_check_update(type, obj, NULL, strict, out);
}
