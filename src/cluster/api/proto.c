/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding of Kubernetes protobuf bodies into JSON: proto.def (the messages of every served
 * group, compiled into the binary) is parsed once on first use, then the envelope names the
 * message and a walk over the wire fields builds the object upstream's JSON encoder would
 * have written. The HTTP layer calls this before it parses a request body.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nettle/base64.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jload.h"
#include "base/log.h"
#include "cluster/api/proto.h"

/*
 * The Makefile runs the compiler from the top of the tree, so the path is relative to it;
 * proto.o depends on proto.def there.
 */
__asm__(".pushsection .rodata\n"
	".globl proto_def_text\n"
	".hidden proto_def_text\n"
	".type proto_def_text, @object\n"
	"proto_def_text:\n"
	".incbin \"src/cluster/api/proto.def\"\n"
	".byte 0\n"
	".size proto_def_text, . - proto_def_text\n"
	".popsection\n");
extern const char proto_def_text[];

#define MAGIC     "k8s\0"
#define MAGIC_LEN 4
/* bodies are user input: bound the recursion nested messages and embedded objects cause */
#define MAX_DEPTH 64
#define META_V1   "io.k8s.apimachinery.pkg.apis.meta.v1"

/* what an absent or empty byte string points to (NULL + 0 is undefined behaviour) */
static const uint8_t no_bytes[1];

/* seconds from 0001-01-01 to 1970-01-01: Go's zero time, which its JSON writes as null */
#define GO_ZERO_TIME_SECONDS (-62135596800LL)

enum pkind {
	PK_INT32,
	PK_INT64,
	PK_UINT32,
	PK_UINT64,
	PK_BOOL,
	PK_DOUBLE,
	PK_FLOAT,
	PK_STRING,
	PK_BYTES,
	PK_MESSAGE,
};

/* the JSON form of a message (proto.def's as=) */
enum pform {
	PF_OBJECT,
	PF_TIME,
	PF_MICROTIME,
	PF_DURATION,
	PF_QUANTITY,
	PF_INTORSTRING,
	PF_RAWJSON,
	PF_LIST,
};

enum wire_type {
	WT_VARINT = 0,
	WT_FIXED64 = 1,
	WT_LEN = 2,
	WT_FIXED32 = 5,
};

struct pmsg;

struct pfield {
	uint32_t num;
	const char *json;
	enum pkind kind; /* of the value; of the entry's value for a map */
	const struct pmsg *msg;
	char *type_name; /* until references are resolved */
	bool repeated, map, ptr, inlined;
};

struct pmsg {
	const char *name;
	enum pform form;
	struct pfield *fields; /* sorted by number */
	size_t nfields;
};

struct pgroup {
	const char *api_version;
	const char *package;
};

static pthread_once_t model_once = PTHREAD_ONCE_INIT;
static char *model_text; /* proto.def's copy the names point into */
static struct pmsg *msgs;
static size_t nmsgs;
static struct pgroup *groups;
static size_t ngroups;
static const struct pmsg *unknown_msg, *type_meta_msg;

static const struct {
	const char *name;
	enum pkind kind;
} scalar_names[] = {
	{"int32", PK_INT32},   {"int64", PK_INT64},   {"uint32", PK_UINT32},
	{"uint64", PK_UINT64}, {"bool", PK_BOOL},     {"double", PK_DOUBLE},
	{"float", PK_FLOAT},   {"string", PK_STRING}, {"bytes", PK_BYTES},
};

static const char *const form_names[] = {
	[PF_OBJECT] = "object",     [PF_TIME] = "time",         [PF_MICROTIME] = "microtime",
	[PF_DURATION] = "duration", [PF_QUANTITY] = "quantity", [PF_INTORSTRING] = "intorstring",
	[PF_RAWJSON] = "rawjson",   [PF_LIST] = "list",
};

/* proto.def is part of the binary: a line it cannot parse is a bug the unit tests catch */
static _Noreturn void bad_line(const char *line, const char *why)
{
	log_debug("proto.def: %s: '%s'", why, line);
	abort();
}

static int cmp_msg(const void *a, const void *b)
{
	return strcmp(((const struct pmsg *)a)->name, ((const struct pmsg *)b)->name);
}

static int cmp_field(const void *a, const void *b)
{
	uint32_t x = ((const struct pfield *)a)->num, y = ((const struct pfield *)b)->num;

	return x < y ? -1 : x > y;
}

static const struct pmsg *find_msg(const char *name)
{
	struct pmsg key = {.name = name};

	return bsearch(&key, msgs, nmsgs, sizeof(*msgs), cmp_msg);
}

static const struct pfield *find_field(const struct pmsg *m, uint32_t num)
{
	struct pfield key = {.num = num};

	return bsearch(&key, m->fields, m->nfields, sizeof(*m->fields), cmp_field);
}

static bool scalar_kind(const char *name, enum pkind *ret)
{
	for (size_t i = 0; i < sizeof(scalar_names) / sizeof(*scalar_names); i++) {
		if (strcmp(scalar_names[i].name, name) == 0) {
			*ret = scalar_names[i].kind;
			return true;
		}
	}
	return false;
}

/* A value type: a scalar, else a message name kept for resolve_refs(). */
static void parse_value_type(struct pfield *f, const char *t, const char *package)
{
	if (scalar_kind(t, &f->kind))
		return;
	f->kind = PK_MESSAGE;
	f->type_name = strchr(t, '.') ? xstrdup(t) : xasprintf("%s.%s", package, t);
}

static void parse_field(char *line, struct pfield *f, const char *package)
{
	char *save = NULL, *num, *json, *type, *flag, *end;
	unsigned long n;

	num = strtok_r(line, " \t", &save);
	json = strtok_r(NULL, " \t", &save);
	type = strtok_r(NULL, " \t", &save);
	flag = strtok_r(NULL, " \t", &save);
	if (!num || !json || !type || strtok_r(NULL, " \t", &save))
		bad_line(line, "expected NUMBER JSONNAME TYPE [FLAG]");
	n = strtoul(num, &end, 10);
	if (*end || n == 0 || n > 536870911)
		bad_line(num, "bad field number");
	*f = (struct pfield){.num = (uint32_t)n, .json = json};
	if (strncmp(type, "[]", 2) == 0) {
		f->repeated = true;
		type += 2;
	}
	if (strncmp(type, "map<string,", 11) == 0) {
		size_t len = strlen(type);

		if (f->repeated || type[len - 1] != '>')
			bad_line(type, "bad map type");
		type[len - 1] = '\0';
		f->map = true;
		type += 11;
	}
	parse_value_type(f, type, package);
	if (!flag)
		return;
	if (strcmp(flag, "ptr") == 0)
		f->ptr = true;
	else if (strcmp(flag, "inline") == 0 && f->kind == PK_MESSAGE && !f->repeated && !f->map)
		f->inlined = true;
	else
		bad_line(flag, "unknown or misplaced flag");
}

static void end_message(struct pmsg *m, struct pfield *fields, size_t n)
{
	if (!m)
		return;
	m->fields = xmalloc((n ? n : 1) * sizeof(*fields));
	memcpy(m->fields, fields, n * sizeof(*fields));
	m->nfields = n;
	qsort(m->fields, n, sizeof(*fields), cmp_field);
	for (size_t i = 1; i < n; i++) {
		if (m->fields[i].num == m->fields[i - 1].num)
			bad_line(m->name, "field number used twice");
	}
	if (m->form == PF_LIST && (n != 1 || !m->fields[0].repeated))
		bad_line(m->name, "a list wrapper has exactly one repeated field");
}

static enum pform parse_form(const char *s)
{
	for (size_t i = 0; i < sizeof(form_names) / sizeof(*form_names); i++) {
		if (strcmp(form_names[i], s) == 0)
			return (enum pform)i;
	}
	bad_line(s, "unknown message form");
}

static void resolve_refs(void)
{
	for (size_t i = 0; i < nmsgs; i++) {
		for (size_t j = 0; j < msgs[i].nfields; j++) {
			struct pfield *f = &msgs[i].fields[j];

			if (f->kind != PK_MESSAGE)
				continue;
			f->msg = find_msg(f->type_name);
			if (!f->msg)
				bad_line(f->type_name, "reference to an unknown message");
			if (f->inlined && f->msg->form != PF_OBJECT)
				bad_line(f->type_name, "inline message is not an object");
			free(f->type_name);
			f->type_name = NULL;
		}
	}
}

static void parse_model(void)
{
	char *save = NULL, *line;
	const char *package = NULL;
	struct pfield *fields = NULL;
	size_t nfields = 0, fcap = 0, mcap = 0, gcap = 0;
	struct pmsg *cur = NULL;

	model_text = xstrdup(proto_def_text);
	for (line = strtok_r(model_text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *lsave = NULL, *word, *a, *b;

		if (line[0] == '#')
			continue;
		if (line[0] == '\t') {
			if (!cur)
				bad_line(line, "field outside a message");
			if (nfields == fcap) {
				fcap = fcap ? 2 * fcap : 64;
				fields = xrealloc(fields, fcap * sizeof(*fields));
			}
			parse_field(line + 1, &fields[nfields++], package);
			continue;
		}
		word = strtok_r(line, " ", &lsave);
		a = strtok_r(NULL, " ", &lsave);
		b = strtok_r(NULL, " ", &lsave);
		if (!word || !a)
			bad_line(line, "expected a keyword and a name");
		if (strcmp(word, "group") == 0) {
			if (!b)
				bad_line(a, "group without a package");
			if (ngroups == gcap) {
				gcap = gcap ? 2 * gcap : 16;
				groups = xrealloc(groups, gcap * sizeof(*groups));
			}
			groups[ngroups++] = (struct pgroup){a, b};
		} else if (strcmp(word, "package") == 0) {
			package = a;
		} else if (strcmp(word, "message") == 0 && package) {
			if (cur)
				end_message(&msgs[nmsgs - 1], fields, nfields);
			nfields = 0;
			if (nmsgs == mcap) {
				mcap = mcap ? 2 * mcap : 256;
				msgs = xrealloc(msgs, mcap * sizeof(*msgs));
			}
			cur = &msgs[nmsgs++];
			*cur = (struct pmsg){.name = xasprintf("%s.%s", package, a)};
			if (b && strncmp(b, "as=", 3) == 0)
				cur->form = parse_form(b + 3);
			else if (b)
				bad_line(b, "unknown message option");
		} else {
			bad_line(word, "unknown keyword");
		}
	}
	if (cur)
		end_message(&msgs[nmsgs - 1], fields, nfields);
	free(fields);
	qsort(msgs, nmsgs, sizeof(*msgs), cmp_msg);
	for (size_t i = 1; i < nmsgs; i++) {
		if (strcmp(msgs[i].name, msgs[i - 1].name) == 0)
			bad_line(msgs[i].name, "message defined twice");
	}
	resolve_refs();
	unknown_msg = find_msg("io.k8s.apimachinery.pkg.runtime.Unknown");
	type_meta_msg = find_msg("io.k8s.apimachinery.pkg.runtime.TypeMeta");
	if (!unknown_msg || !type_meta_msg)
		bad_line("io.k8s.apimachinery.pkg.runtime", "no Unknown or TypeMeta");
}

/* ---- the wire ---- */

struct rd {
	const uint8_t *p, *end;
};

/* one field as read off the wire; p/len for WT_LEN, the raw bits in v otherwise */
struct wire {
	uint32_t num;
	unsigned wt;
	uint64_t v;
	const uint8_t *p;
	size_t len;
};

static int rd_varint(struct rd *r, uint64_t *ret, const char **why)
{
	uint64_t v = 0;

	/* ten bytes carry 64 bits; Go ignores what the tenth byte has beyond bit 63 */
	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end) {
			*why = "truncated varint";
			return -1;
		}
		b = *r->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	*why = "varint longer than 10 bytes";
	return -1;
}

static int rd_fixed(struct rd *r, size_t n, uint64_t *ret, const char **why)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		*why = "truncated fixed-size value";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	*ret = v;
	return 0;
}

/* Reads the next field: 1, 0 at the end, -1 with @why (w->num set once the tag is read). */
static int next_field(struct rd *r, struct wire *w, const char **why)
{
	uint64_t tag;

	w->num = 0;
	if (r->p >= r->end)
		return 0;
	if (rd_varint(r, &tag, why) < 0)
		return -1;
	if ((tag >> 3) == 0 || (tag >> 3) > 536870911) {
		*why = "invalid field number";
		return -1;
	}
	w->num = (uint32_t)(tag >> 3);
	w->wt = tag & 7;
	switch (w->wt) {
	case WT_VARINT:
		return rd_varint(r, &w->v, why) < 0 ? -1 : 1;
	case WT_FIXED64:
		return rd_fixed(r, 8, &w->v, why) < 0 ? -1 : 1;
	case WT_FIXED32:
		return rd_fixed(r, 4, &w->v, why) < 0 ? -1 : 1;
	case WT_LEN:
		if (rd_varint(r, &w->v, why) < 0)
			return -1;
		if (w->v > (uint64_t)(r->end - r->p)) {
			*why = "length beyond the end of the data";
			return -1;
		}
		w->p = r->p;
		w->len = (size_t)w->v;
		r->p += w->len;
		return 1;
	default:
		*why = "unsupported wire type";
		return -1;
	}
}

static unsigned kind_wire_type(enum pkind k)
{
	switch (k) {
	case PK_DOUBLE:
		return WT_FIXED64;
	case PK_FLOAT:
		return WT_FIXED32;
	case PK_STRING:
	case PK_BYTES:
	case PK_MESSAGE:
		return WT_LEN;
	default:
		return WT_VARINT;
	}
}

static int bad_field(const struct pmsg *m, uint32_t num, const char *why, struct err *err)
{
	const struct pfield *f = num ? find_field(m, num) : NULL;

	if (f)
		return err_set(err, EINVAL, "message %s field %" PRIu32 " (%s): %s", m->name, num,
			       f->json, why);
	if (num)
		return err_set(err, EINVAL, "message %s field %" PRIu32 ": %s", m->name, num, why);
	return err_set(err, EINVAL, "message %s: %s", m->name, why);
}

static json_t *base64_json(const uint8_t *p, size_t n)
{
	cleanup_free char *s = xmalloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);

	base64_encode_raw(s, n, p);
	return json_stringn(s, BASE64_ENCODE_RAW_LENGTH(n));
}

/* The JSON of a scalar; *ret_zero tells the zero value, which non-pointer fields omit. */
static json_t *scalar_json(enum pkind k, const struct wire *w, bool *ret_zero, const char **why)
{
	json_t *j = NULL;
	double d = 0;

	*ret_zero = false;
	switch (k) {
	case PK_INT32:
		*ret_zero = (uint32_t)w->v == 0;
		return json_integer((int32_t)(uint32_t)w->v);
	case PK_INT64:
		*ret_zero = w->v == 0;
		return json_integer((int64_t)w->v);
	case PK_UINT32:
		*ret_zero = (uint32_t)w->v == 0;
		return json_integer((uint32_t)w->v);
	case PK_UINT64:
		if (w->v > INT64_MAX) {
			*why = "unsigned value out of range";
			return NULL;
		}
		*ret_zero = w->v == 0;
		return json_integer((json_int_t)w->v);
	case PK_BOOL:
		*ret_zero = w->v == 0;
		return json_boolean(w->v != 0);
	case PK_DOUBLE:
	case PK_FLOAT:
		if (k == PK_DOUBLE) {
			memcpy(&d, &w->v, sizeof(d));
		} else {
			uint32_t u = (uint32_t)w->v;
			float fl;

			memcpy(&fl, &u, sizeof(fl));
			d = fl;
		}
		if (!isfinite(d)) {
			*why = "not a finite number";
			return NULL;
		}
		*ret_zero = d == 0;
		return json_real(d);
	case PK_STRING:
		*ret_zero = w->len == 0;
		j = json_stringn((const char *)w->p, w->len);
		if (!j)
			*why = "string is not UTF-8";
		return j;
	case PK_BYTES:
		*ret_zero = w->len == 0;
		return base64_json(w->p, w->len);
	case PK_MESSAGE:
		break;
	}
	abort();
}

static json_t *scalar_zero(enum pkind k)
{
	switch (k) {
	case PK_BOOL:
		return json_false();
	case PK_DOUBLE:
	case PK_FLOAT:
		return json_real(0);
	case PK_STRING:
	case PK_BYTES:
		return json_string("");
	default:
		return json_integer(0);
	}
}

/* ---- messages ---- */

static int decode_message(const struct pmsg *m, const uint8_t *p, size_t n, int depth, json_t **ret,
			  struct err *err);
static int decode_envelope(const uint8_t *p, size_t n, int depth, json_t **ret, struct err *err);

/* the member @f collects into: an array for repeated fields, an object for maps */
static json_t *container(json_t *obj, const struct pfield *f)
{
	json_t *c = json_object_get(obj, f->json);

	if (!c) {
		c = f->map ? json_object() : json_array();
		json_object_set_new(obj, f->json, c);
	}
	return c;
}

static void put(json_t *obj, const struct pfield *f, json_t *v)
{
	if (f->repeated)
		json_array_append_new(container(obj, f), v);
	else
		json_object_set_new(obj, f->json, v);
}

static int decode_packed(const struct pmsg *m, const struct pfield *f, const struct wire *w,
			 json_t *obj, struct err *err)
{
	struct rd r = {w->p, w->p + w->len};
	const char *why = NULL;

	while (r.p < r.end) {
		struct wire e = {.num = w->num, .wt = kind_wire_type(f->kind)};
		bool zero;
		json_t *v;
		int rc;

		if (e.wt == WT_VARINT)
			rc = rd_varint(&r, &e.v, &why);
		else
			rc = rd_fixed(&r, e.wt == WT_FIXED64 ? 8 : 4, &e.v, &why);
		if (rc < 0)
			return bad_field(m, w->num, why, err);
		v = scalar_json(f->kind, &e, &zero, &why);
		if (!v)
			return bad_field(m, w->num, why, err);
		json_array_append_new(container(obj, f), v);
	}
	return 0;
}

static int decode_map_entry(const struct pmsg *m, const struct pfield *f, const struct wire *w,
			    int depth, json_t *obj, struct err *err)
{
	struct rd r = {w->p, w->p + w->len};
	const uint8_t *key = (const uint8_t *)"";
	size_t key_len = 0;
	cleanup_json json_t *v = NULL;
	const char *why = NULL;
	struct wire e;
	bool zero;
	int k, rc;

	while ((k = next_field(&r, &e, &why)) > 0) {
		if (e.num == 1) {
			if (e.wt != WT_LEN)
				return bad_field(m, w->num, "map key of the wrong wire type", err);
			key = e.p;
			key_len = e.len;
		} else if (e.num == 2) {
			if (e.wt != kind_wire_type(f->kind))
				return bad_field(m, w->num, "map value of the wrong wire type",
						 err);
			json_decref(v);
			v = NULL;
			if (f->kind == PK_MESSAGE) {
				rc = decode_message(f->msg, e.p, e.len, depth + 1, &v, err);
				if (rc < 0)
					return rc;
			} else if (!(v = scalar_json(f->kind, &e, &zero, &why))) {
				return bad_field(m, w->num, why, err);
			}
		}
	}
	if (k < 0)
		return bad_field(m, w->num, why, err);
	if (!v && f->kind == PK_MESSAGE) {
		rc = decode_message(f->msg, no_bytes, 0, depth + 1, &v, err);
		if (rc < 0)
			return rc;
	}
	if (!v)
		v = f->kind == PK_MESSAGE ? json_null() : scalar_zero(f->kind);
	if (json_object_setn_new(container(obj, f), (const char *)key, key_len, TAKE_PTR(v)) < 0)
		return bad_field(m, w->num, "map key is not UTF-8", err);
	return 0;
}

static int decode_fields(const struct pmsg *m, const uint8_t *p, size_t n, int depth, json_t *obj,
			 struct err *err);

static int decode_field(const struct pmsg *m, const struct pfield *f, const struct wire *w,
			int depth, json_t *obj, struct err *err)
{
	unsigned wt = kind_wire_type(f->kind);
	const char *why = NULL;
	json_t *v = NULL;
	bool zero;
	int rc;

	if (f->map) {
		if (w->wt != WT_LEN)
			return bad_field(m, w->num, "map entry of the wrong wire type", err);
		return decode_map_entry(m, f, w, depth, obj, err);
	}
	if (f->repeated && wt != WT_LEN && w->wt == WT_LEN)
		return decode_packed(m, f, w, obj, err);
	if (w->wt != wt)
		return bad_field(m, w->num, "wrong wire type", err);
	if (f->kind == PK_MESSAGE && f->inlined)
		return decode_fields(f->msg, w->p, w->len, depth + 1, obj, err);
	if (f->kind == PK_MESSAGE) {
		rc = decode_message(f->msg, w->p, w->len, depth + 1, &v, err);
		if (rc < 0)
			return rc;
		/* a zero time: Go writes null, which means the same as no member */
		if (!v && f->repeated)
			v = json_null();
		if (!v)
			json_object_del(obj, f->json);
		else
			put(obj, f, v);
		return 0;
	}
	v = scalar_json(f->kind, w, &zero, &why);
	if (!v)
		return bad_field(m, w->num, why, err);
	if (zero && !f->ptr && !f->repeated) {
		json_decref(v);
		json_object_del(obj, f->json);
		return 0;
	}
	put(obj, f, v);
	return 0;
}

static int decode_fields(const struct pmsg *m, const uint8_t *p, size_t n, int depth, json_t *obj,
			 struct err *err)
{
	struct rd r = {p, p + n};
	const char *why = NULL;
	struct wire w;
	int k, rc;

	if (depth > MAX_DEPTH)
		return err_set(err, EINVAL, "message %s: nested more than %d deep", m->name,
			       MAX_DEPTH);
	while ((k = next_field(&r, &w, &why)) > 0) {
		const struct pfield *f = find_field(m, w.num);

		if (!f)
			continue;
		rc = decode_field(m, f, &w, depth, obj, err);
		if (rc < 0)
			return rc;
	}
	if (k < 0)
		return bad_field(m, w.num, why, err);
	return 0;
}

/*
 * The last value of each scalar field numbered below 8 of a small message, checked against
 * its declared kind; unknown fields are skipped.
 */
static int read_flat(const struct pmsg *m, const uint8_t *p, size_t n, struct wire vals[8],
		     bool have[8], struct err *err)
{
	struct rd r = {p, p + n};
	const char *why = NULL;
	struct wire w;
	int k;

	memset(have, 0, 8 * sizeof(*have));
	while ((k = next_field(&r, &w, &why)) > 0) {
		const struct pfield *f = find_field(m, w.num);

		if (!f || w.num >= 8)
			continue;
		if (w.wt != kind_wire_type(f->kind))
			return bad_field(m, w.num, "wrong wire type", err);
		vals[w.num] = w;
		have[w.num] = true;
	}
	if (k < 0)
		return bad_field(m, w.num, why, err);
	return 0;
}

/* Go's time.Duration.String(): "1h2m3.5s", "1.5ms", "0s" */
static json_t *duration_json(int64_t d)
{
	uint64_t u = d < 0 ? -(uint64_t)d : (uint64_t)d, scale = 1, whole, frac;
	const char *unit = "s";
	char out[64], digits[24];
	int prec = 9, len = 0;

	if (u == 0)
		return json_string("0s");
	if (u < 1000) {
		unit = "ns";
		prec = 0;
	} else if (u < 1000000) {
		unit = "\xc2\xb5s";
		prec = 3;
	} else if (u < 1000000000) {
		unit = "ms";
		prec = 6;
	}
	if (d < 0)
		out[len++] = '-';
	if (prec == 9) {
		uint64_t secs = u / 1000000000;

		if (secs >= 3600)
			len += snprintf(out + len, sizeof(out) - len, "%" PRIu64 "h", secs / 3600);
		if (secs >= 60)
			len += snprintf(out + len, sizeof(out) - len, "%" PRIu64 "m",
					secs / 60 % 60);
		u = secs % 60 * 1000000000 + u % 1000000000;
	}
	for (int i = 0; i < prec; i++)
		scale *= 10;
	whole = u / scale;
	frac = u % scale;
	len += snprintf(out + len, sizeof(out) - len, "%" PRIu64, whole);
	if (frac) {
		int nd = prec;

		snprintf(digits, sizeof(digits), "%0*" PRIu64, prec, frac);
		while (nd > 0 && digits[nd - 1] == '0')
			nd--;
		len += snprintf(out + len, sizeof(out) - len, ".%.*s", nd, digits);
	}
	snprintf(out + len, sizeof(out) - len, "%s", unit);
	return json_string(out);
}

static int time_json(const struct pmsg *m, int64_t secs, int64_t nanos, bool micro, json_t **ret,
		     struct err *err)
{
	struct tm tm;
	time_t t;
	char s[64];

	/* time.Unix() normalizes nanoseconds outside [0, 1e9) into the seconds */
	secs += nanos / 1000000000;
	nanos %= 1000000000;
	if (nanos < 0) {
		nanos += 1000000000;
		secs--;
	}
	if (secs == GO_ZERO_TIME_SECONDS && nanos == 0) {
		*ret = NULL;
		return 0;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
		return err_set(err, EINVAL, "message %s: time %" PRId64 " is out of range", m->name,
			       secs);
	snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (micro)
		snprintf(s + strlen(s), sizeof(s) - strlen(s), ".%06dZ", (int)(nanos / 1000));
	else
		strcat(s, "Z");
	*ret = json_string(s);
	return 0;
}

static int decode_rawjson(const struct pmsg *m, const struct wire *raw, int depth, json_t **ret,
			  struct err *err)
{
	json_error_t jerr;
	json_t *v;

	if (raw->len >= MAGIC_LEN && memcmp(raw->p, MAGIC, MAGIC_LEN) == 0)
		return decode_envelope(raw->p, raw->len, depth + 1, ret, err);
	v = jload_b((const char *)raw->p, raw->len, JSON_DECODE_ANY, &jerr);
	if (!v)
		return bad_field(m, raw->num, "embedded bytes are not JSON", err);
	*ret = v;
	return 0;
}

/* Messages JSON writes as something else than an object; *ret NULL means "no member". */
static int decode_special(const struct pmsg *m, const uint8_t *p, size_t n, int depth, json_t **ret,
			  struct err *err)
{
	struct wire v[8];
	bool have[8];
	int rc;

	rc = read_flat(m, p, n, v, have, err);
	if (rc < 0)
		return rc;
	switch (m->form) {
	case PF_TIME:
	case PF_MICROTIME:
		/* Go's empty time message is the zero time, written as null */
		if (n == 0) {
			*ret = NULL;
			return 0;
		}
		return time_json(m, have[1] ? (int64_t)v[1].v : 0,
				 have[2] ? (int32_t)(uint32_t)v[2].v : 0, m->form == PF_MICROTIME,
				 ret, err);
	case PF_DURATION:
		*ret = duration_json(have[1] ? (int64_t)v[1].v : 0);
		return 0;
	case PF_QUANTITY:
		if (!have[1] || v[1].len == 0) {
			*ret = json_string("0");
			return 0;
		}
		*ret = json_stringn((const char *)v[1].p, v[1].len);
		return *ret ? 0 : bad_field(m, 1, "string is not UTF-8", err);
	case PF_INTORSTRING:
		if (!have[1] || v[1].v == 0) {
			*ret = json_integer(have[2] ? (int32_t)(uint32_t)v[2].v : 0);
			return 0;
		}
		if (v[1].v != 1)
			return bad_field(m, 1, "type is neither 0 (int) nor 1 (string)", err);
		*ret = have[3] ? json_stringn((const char *)v[3].p, v[3].len) : json_string("");
		return *ret ? 0 : bad_field(m, 3, "string is not UTF-8", err);
	case PF_RAWJSON:
		if (!have[1] || v[1].len == 0) {
			*ret = NULL;
			return 0;
		}
		return decode_rawjson(m, &v[1], depth, ret, err);
	case PF_OBJECT:
	case PF_LIST:
		break;
	}
	abort();
}

static int decode_message(const struct pmsg *m, const uint8_t *p, size_t n, int depth, json_t **ret,
			  struct err *err)
{
	cleanup_json json_t *obj = NULL;
	json_t *list;
	int rc;

	if (m->form != PF_OBJECT && m->form != PF_LIST)
		return decode_special(m, p, n, depth, ret, err);
	obj = json_object();
	rc = decode_fields(m, p, n, depth, obj, err);
	if (rc < 0)
		return rc;
	if (m->form == PF_OBJECT) {
		*ret = TAKE_PTR(obj);
		return 0;
	}
	/* a list wrapper (ExtraValue): its one field is the value, empty when absent */
	list = json_object_get(obj, m->fields[0].json);
	*ret = list ? json_incref(list) : json_array();
	return 0;
}

/* ---- the envelope ---- */

static const struct pmsg *find_kind(const char *api_version, const char *kind)
{
	const struct pmsg *m = NULL;

	for (size_t i = 0; i < ngroups && !m; i++) {
		if (strcmp(groups[i].api_version, api_version) == 0) {
			cleanup_free char *name = xasprintf("%s.%s", groups[i].package, kind);

			m = find_msg(name);
		}
	}
	if (!m) {
		/* DeleteOptions and the like belong to every group version */
		cleanup_free char *name = xasprintf(META_V1 ".%s", kind);

		m = find_msg(name);
	}
	return m && m->form == PF_OBJECT ? m : NULL;
}

static char *wire_strdup(const struct wire *w, bool have)
{
	return have ? xstrndup((const char *)w->p, w->len) : xstrdup("");
}

static int decode_envelope(const uint8_t *p, size_t n, int depth, json_t **ret, struct err *err)
{
	cleanup_free char *api_version = NULL, *kind = NULL;
	cleanup_json json_t *obj = NULL;
	struct wire u[8] = {{0}}, tm[8] = {{0}};
	bool have_u[8], have_tm[8] = {false};
	const struct pmsg *m;
	int rc;

	if (n < MAGIC_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0)
		return err_set(err, EINVAL, "not a Kubernetes protobuf body (no 'k8s\\0' magic)");
	if (depth > MAX_DEPTH)
		return err_set(err, EINVAL, "objects nested more than %d deep", MAX_DEPTH);
	rc = read_flat(unknown_msg, p + MAGIC_LEN, n - MAGIC_LEN, u, have_u, err);
	if (rc < 0)
		return rc;
	if (have_u[1]) {
		rc = read_flat(type_meta_msg, u[1].p, u[1].len, tm, have_tm, err);
		if (rc < 0)
			return rc;
	}
	api_version = wire_strdup(&tm[1], have_tm[1]);
	kind = wire_strdup(&tm[2], have_tm[2]);
	if (!*kind || strlen(kind) != (have_tm[2] ? tm[2].len : 0) ||
	    strlen(api_version) != (have_tm[1] ? tm[1].len : 0))
		return err_set(err, EINVAL, "protobuf envelope has no valid kind");
	if (have_u[3] && u[3].len > 0)
		return err_set(err, ENOTSUP, "protobuf content encoding '%.*s' is not supported",
			       (int)u[3].len, (const char *)u[3].p);
	m = find_kind(api_version, kind);
	if (!m)
		return err_set(err, ENOTSUP, "no protobuf message for apiVersion '%s' kind '%s'",
			       api_version, kind);
	obj = json_object();
	if (json_object_set_new(obj, "apiVersion", json_string(api_version)) < 0 ||
	    json_object_set_new(obj, "kind", json_string(kind)) < 0)
		return err_set(err, EINVAL, "protobuf envelope: apiVersion or kind is not UTF-8");
	rc = decode_fields(m, have_u[2] ? u[2].p : no_bytes, have_u[2] ? u[2].len : 0, depth + 1,
			   obj, err);
	if (rc < 0)
		return rc;
	*ret = TAKE_PTR(obj);
	return 0;
}

bool proto_is_k8s(const char *buf, size_t len)
{
	return len >= MAGIC_LEN && memcmp(buf, MAGIC, MAGIC_LEN) == 0;
}

int proto_to_json(const char *buf, size_t len, json_t **ret, struct err *err)
{
	json_t *obj = NULL;
	int rc;

	pthread_once(&model_once, parse_model);
	rc = decode_envelope((const uint8_t *)buf, len, 0, &obj, err);
	if (rc < 0)
		return err_wrap(err, "decode protobuf body");
	*ret = obj;
	return 0;
}
