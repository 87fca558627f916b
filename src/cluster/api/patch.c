/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PATCH bodies applied to a copy of the stored object: JSON merge patch (RFC 7386), JSON
 * patch (RFC 6902 with RFC 6901 pointers) and Kubernetes' strategic merge patch, whose list
 * strategies come from the caller's schema lookup. The API server's PATCH handler calls
 * these; nothing here knows about resources.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"

#include "cluster/api/patch.h"

/*
 * jansson's object iterators take non-const pointers although they only read; patches are
 * never modified, so iterating through this cast is safe.
 */
#define MUT(j) ((json_t *)(j))

/* ---- RFC 7386 JSON merge patch ---- */

/*
 * Takes @target (may be NULL: undefined); returns the patched value. With @take, the
 * patch's values other than objects go into the result as they are, not copied: the
 * caller gives the patch up.
 */
static json_t *merge_apply(json_t *target, const json_t *patch, bool take)
{
	const char *key;
	json_t *val;

	if (!json_is_object(patch)) {
		json_decref(target);
		return take ? json_incref(MUT(patch)) : json_deep_copy(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
	}
	json_object_foreach (MUT(patch), key, val) {
		json_t *cur = NULL;

		if (json_is_null(val)) {
			json_object_del(target, key);
			continue;
		}
		cur = json_object_get(target, key);
		json_incref(cur);
		json_object_set_new(target, key, merge_apply(cur, val, take));
	}
	return target;
}

int patch_merge(const json_t *doc, const json_t *patch, json_t **ret, struct err *err)
{
	if (!patch)
		return err_set(err, EINVAL, "apply merge patch: no patch document");
	*ret = merge_apply(doc ? json_deep_copy(doc) : NULL, patch, false);
	return 0;
}

int patch_merge_take(const json_t *doc, json_t *patch, json_t **ret, struct err *err)
{
	if (!patch)
		return err_set(err, EINVAL, "apply merge patch: no patch document");
	*ret = merge_apply(doc ? json_deep_copy(doc) : NULL, patch, true);
	json_decref(patch);
	return 0;
}

/* merge_apply() into a copy of @target's objects along the patch only, taking @patch */
static json_t *merge_shared(const json_t *target, json_t *patch)
{
	const char *key;
	json_t *val, *out;

	if (!json_is_object(patch))
		return json_incref(patch);
	out = json_is_object(target) ? json_copy(MUT(target)) : json_object();
	json_object_foreach (patch, key, val) {
		if (json_is_null(val)) {
			json_object_del(out, key);
			continue;
		}
		json_object_set_new(out, key, merge_shared(json_object_get(target, key), val));
	}
	return out;
}

int patch_merge_shared(const json_t *doc, json_t *patch, json_t **ret, struct err *err)
{
	json_t *meta;

	if (!patch)
		return err_set(err, EINVAL, "apply merge patch: no patch document");
	*ret = merge_shared(doc, patch);
	json_decref(patch);
	meta = json_object_get(*ret, "metadata");
	if (json_is_object(meta) && meta == json_object_get(doc, "metadata"))
		json_object_set_new(*ret, "metadata", json_copy(meta));
	return 0;
}

/* ---- RFC 6902 JSON patch ---- */

struct jp_op {
	size_t index;
	const char *name;
};

/* A parsed RFC 6901 pointer: unescaped reference tokens. */
struct pointer {
	char **tok;
	size_t n;
};

static void pointer_done(struct pointer *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->tok[i]);
	free(p->tok);
	p->tok = NULL;
	p->n = 0;
}

static int pointer_parse(const struct jp_op *op, const char *what, const char *text,
			 struct pointer *ret, struct err *err)
{
	struct pointer p = {NULL, 0};
	const char *s = text;

	if (*s != '\0' && *s != '/')
		return err_set(err, EINVAL,
			       "json patch operation %zu (%s): %s '%s' is not a JSON pointer: it "
			       "must be empty or start with '/'",
			       op->index, op->name, what, text);
	while (*s == '/') {
		const char *end = strchrnul(s + 1, '/');
		char *tok = xmalloc((size_t)(end - s));
		size_t n = 0;

		for (const char *c = s + 1; c < end; c++) {
			if (*c != '~') {
				tok[n++] = *c;
				continue;
			}
			if (c + 1 < end && (c[1] == '0' || c[1] == '1')) {
				tok[n++] = c[1] == '0' ? '~' : '/';
				c++;
				continue;
			}
			free(tok);
			pointer_done(&p);
			return err_set(
				err, EINVAL,
				"json patch operation %zu (%s): %s '%s' has an invalid escape: "
				"'~' must be followed by '0' or '1'",
				op->index, op->name, what, text);
		}
		tok[n] = '\0';
		p.tok = xrealloc(p.tok, (p.n + 1) * sizeof(*p.tok));
		p.tok[p.n++] = tok;
		s = end;
	}
	*ret = p;
	return 0;
}

/* An array index per RFC 6901: "0" or digits without a leading zero. */
static bool parse_index(const char *tok, size_t *ret)
{
	size_t v = 0;

	if (tok[0] == '\0' || (tok[0] == '0' && tok[1] != '\0'))
		return false;
	for (const char *c = tok; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		if (v > (SIZE_MAX - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*c - '0');
	}
	*ret = v;
	return true;
}

/* The value @n tokens deep, borrowed; NULL when it does not exist. */
static json_t *pointer_walk(json_t *root, const struct pointer *p, size_t n)
{
	json_t *cur = root;

	for (size_t i = 0; i < n && cur; i++) {
		size_t idx = 0;

		if (json_is_object(cur))
			cur = json_object_get(cur, p->tok[i]);
		else if (json_is_array(cur) && parse_index(p->tok[i], &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
	}
	return cur;
}

static int no_such_path(const struct jp_op *op, const char *path, struct err *err)
{
	return err_set(err, ENOENT, "json patch operation %zu (%s): path %s does not exist",
		       op->index, op->name, path);
}

/* Adds @val (taken) at @p inside *doc; the root pointer replaces the document. */
static int jp_add(json_t **doc, const struct jp_op *op, const char *path, const struct pointer *p,
		  json_t *val, struct err *err)
{
	cleanup_json json_t *v = val;
	json_t *parent = NULL;
	const char *last = NULL;
	size_t idx = 0;

	if (p->n == 0) {
		json_decref(*doc);
		*doc = TAKE_PTR(v);
		return 0;
	}
	parent = pointer_walk(*doc, p, p->n - 1);
	last = p->tok[p->n - 1];
	if (json_is_object(parent)) {
		json_object_set_new(parent, last, TAKE_PTR(v));
		return 0;
	}
	if (!json_is_array(parent))
		return no_such_path(op, path, err);
	if (strcmp(last, "-") == 0) {
		json_array_append_new(parent, TAKE_PTR(v));
		return 0;
	}
	if (!parse_index(last, &idx))
		return err_set(err, EINVAL,
			       "json patch operation %zu (%s): path %s: '%s' is not an array index",
			       op->index, op->name, path, last);
	if (idx > json_array_size(parent))
		return err_set(err, ENOENT,
			       "json patch operation %zu (%s): path %s: index %zu is out of range "
			       "(array has %zu elements)",
			       op->index, op->name, path, idx, json_array_size(parent));
	json_array_insert_new(parent, idx, TAKE_PTR(v));
	return 0;
}

/* Detaches the value at @p; *ret_val receives it (a new reference) when non-NULL. */
static int jp_remove(json_t **doc, const struct jp_op *op, const char *path,
		     const struct pointer *p, json_t **ret_val, struct err *err)
{
	json_t *parent = NULL;
	json_t *val = NULL;
	const char *last = NULL;
	size_t idx = 0;

	if (p->n == 0)
		return err_set(err, EINVAL,
			       "json patch operation %zu (%s): cannot remove the whole document",
			       op->index, op->name);
	parent = pointer_walk(*doc, p, p->n - 1);
	last = p->tok[p->n - 1];
	if (json_is_object(parent)) {
		val = json_object_get(parent, last);
		if (!val)
			return no_such_path(op, path, err);
		if (ret_val)
			*ret_val = json_incref(val);
		json_object_del(parent, last);
		return 0;
	}
	if (!json_is_array(parent) || !parse_index(last, &idx) || idx >= json_array_size(parent))
		return no_such_path(op, path, err);
	if (ret_val)
		*ret_val = json_incref(json_array_get(parent, idx));
	json_array_remove(parent, idx);
	return 0;
}

static int jp_replace(json_t **doc, const struct jp_op *op, const char *path,
		      const struct pointer *p, json_t *val, struct err *err)
{
	cleanup_json json_t *v = val;
	json_t *parent = NULL;
	const char *last = NULL;
	size_t idx = 0;

	if (p->n == 0) {
		json_decref(*doc);
		*doc = TAKE_PTR(v);
		return 0;
	}
	parent = pointer_walk(*doc, p, p->n - 1);
	last = p->tok[p->n - 1];
	if (json_is_object(parent)) {
		if (!json_object_get(parent, last))
			return no_such_path(op, path, err);
		json_object_set_new(parent, last, TAKE_PTR(v));
		return 0;
	}
	if (!json_is_array(parent) || !parse_index(last, &idx) || idx >= json_array_size(parent))
		return no_such_path(op, path, err);
	json_array_set_new(parent, idx, TAKE_PTR(v));
	return 0;
}

/* RFC 6902 section 4.6: numbers compare by value, objects regardless of member order. */
static bool values_equal(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *va;

	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach (MUT(a), key, va) {
			const json_t *vb = json_object_get(b, key);

			if (!vb || !values_equal(va, vb))
				return false;
		}
		return true;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	return json_equal(a, b);
}

static int jp_member(const json_t *o, const struct jp_op *op, const char *name, bool string,
		     const json_t **ret, struct err *err)
{
	const json_t *v = json_object_get(o, name);

	if (!v)
		return err_set(err, EINVAL, "json patch operation %zu (%s): missing '%s'",
			       op->index, op->name, name);
	if (string && !json_is_string(v))
		return err_set(err, EINVAL, "json patch operation %zu (%s): '%s' must be a string",
			       op->index, op->name, name);
	*ret = v;
	return 0;
}

static bool is_proper_prefix(const struct pointer *a, const struct pointer *b)
{
	if (a->n >= b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->tok[i], b->tok[i]) != 0)
			return false;
	return true;
}

static bool pointer_equal(const struct pointer *a, const struct pointer *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->tok[i], b->tok[i]) != 0)
			return false;
	return true;
}

static int jp_apply_one(json_t **doc, const json_t *o, size_t index, struct err *err)
{
	struct jp_op op = {index, "?"};
	__attribute__((cleanup(pointer_done))) struct pointer path = {NULL, 0};
	__attribute__((cleanup(pointer_done))) struct pointer from = {NULL, 0};
	const json_t *jop = NULL, *jpath = NULL, *jfrom = NULL, *jval = NULL;
	const char *name = NULL;
	const char *path_s = NULL;
	json_t *moved = NULL;
	int r;

	if (!json_is_object(o))
		return err_set(err, EINVAL, "json patch operation %zu: must be an object", index);
	jop = json_object_get(o, "op");
	if (!jop)
		return err_set(err, EINVAL, "json patch operation %zu: missing 'op'", index);
	if (!json_is_string(jop))
		return err_set(err, EINVAL, "json patch operation %zu: 'op' must be a string",
			       index);
	name = json_string_value(jop);
	if (strcmp(name, "add") != 0 && strcmp(name, "remove") != 0 &&
	    strcmp(name, "replace") != 0 && strcmp(name, "move") != 0 &&
	    strcmp(name, "copy") != 0 && strcmp(name, "test") != 0)
		return err_set(err, EINVAL, "json patch operation %zu: unknown op '%s'", index,
			       name);
	op.name = name;
	r = jp_member(o, &op, "path", true, &jpath, err);
	if (r < 0)
		return r;
	path_s = json_string_value(jpath);
	r = pointer_parse(&op, "path", path_s, &path, err);
	if (r < 0)
		return r;
	if (path_s[0] == '\0')
		path_s = "'' (the whole document)";

	if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 || strcmp(name, "test") == 0) {
		r = jp_member(o, &op, "value", false, &jval, err);
		if (r < 0)
			return r;
	}
	if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
		r = jp_member(o, &op, "from", true, &jfrom, err);
		if (r < 0)
			return r;
		r = pointer_parse(&op, "from", json_string_value(jfrom), &from, err);
		if (r < 0)
			return r;
	}

	if (strcmp(name, "add") == 0)
		return jp_add(doc, &op, path_s, &path, json_deep_copy(jval), err);
	if (strcmp(name, "remove") == 0)
		return jp_remove(doc, &op, path_s, &path, NULL, err);
	if (strcmp(name, "replace") == 0)
		return jp_replace(doc, &op, path_s, &path, json_deep_copy(jval), err);
	if (strcmp(name, "test") == 0) {
		const json_t *cur = pointer_walk(*doc, &path, path.n);

		if (!cur)
			return no_such_path(&op, path_s, err);
		if (!values_equal(cur, jval))
			return err_set(err, ECANCELED,
				       "json patch operation %zu (test): value at %s differs from "
				       "the expected value",
				       index, path_s);
		return 0;
	}
	if (strcmp(name, "copy") == 0) {
		const json_t *src = pointer_walk(*doc, &from, from.n);

		if (!src)
			return no_such_path(&op, json_string_value(jfrom), err);
		return jp_add(doc, &op, path_s, &path, json_deep_copy(src), err);
	}
	/* move: RFC 6902 section 4.4 forbids moving a value into one of its children */
	if (is_proper_prefix(&from, &path))
		return err_set(
			err, EINVAL,
			"json patch operation %zu (move): cannot move %s into its own child %s",
			index, json_string_value(jfrom), path_s);
	if (!pointer_walk(*doc, &from, from.n))
		return no_such_path(&op, json_string_value(jfrom), err);
	if (pointer_equal(&from, &path))
		return 0;
	r = jp_remove(doc, &op, json_string_value(jfrom), &from, &moved, err);
	if (r < 0)
		return r;
	return jp_add(doc, &op, path_s, &path, moved, err);
}

int patch_json(const json_t *doc, const json_t *patch, json_t **ret, struct err *err)
{
	cleanup_json json_t *out = NULL;

	if (!json_is_array(patch))
		return err_set(err, EINVAL, "json patch must be an array of operations");
	out = doc ? json_deep_copy(doc) : json_null();
	for (size_t i = 0; i < json_array_size(patch); i++) {
		int r = jp_apply_one(&out, json_array_get(patch, i), i, err);

		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- strategic merge patch ---- */

#define DIRECTIVE_PATCH  "$patch"
#define DIRECTIVE_RETAIN "$retainKeys"
#define PREFIX_ORDER     "$setElementOrder/"
#define PREFIX_DELETE    "$deleteFromPrimitiveList/"

struct smp {
	patch_lookup_fn lookup;
	void *ctx;
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_directive_key(const char *k)
{
	return strcmp(k, DIRECTIVE_PATCH) == 0 || strcmp(k, DIRECTIVE_RETAIN) == 0 ||
	       has_prefix(k, PREFIX_ORDER) || has_prefix(k, PREFIX_DELETE);
}

static const char *where(const char *path)
{
	return path[0] ? path : "the top level";
}

static char *child_path(const char *path, const char *key)
{
	return path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);
}

/*
 * How the members of an object merge: @self describes the object (a struct of self->type,
 * or a map whose values are of self->type).
 */
static void field_of(const struct smp *s, const struct patch_field *self, const char *key,
		     struct patch_field *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (self->is_map) {
		ret->type = self->type;
		return;
	}
	if (!s->lookup || !self->type || !s->lookup(s->ctx, self->type, key, ret))
		memset(ret, 0, sizeof(*ret));
}

static int smp_value(const struct smp *s, json_t *cur, const json_t *patch,
		     const struct patch_field *meta, const char *path, json_t **ret,
		     struct err *err);
static int smp_object(const struct smp *s, json_t *cur, const json_t *patch,
		      const struct patch_field *self, const char *path, json_t **ret,
		      struct err *err);

/* The position of @v in @list, comparing objects by @mkey when given; -1 when absent. */
static long list_index(const json_t *list, const json_t *v, const char *mkey)
{
	const json_t *kv = NULL;

	if (mkey && json_is_object(v)) {
		kv = json_object_get(v, mkey);
		if (!kv)
			return -1;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *e = json_array_get(list, i);

		if (kv ? json_equal(json_object_get(e, mkey), kv) : json_equal(e, v))
			return (long)i;
	}
	return -1;
}

struct ranked {
	json_t *v;
	long rank; /* position in the ordering list, LONG_MAX when absent */
	size_t pos;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void rank_sort(struct ranked *r, size_t n, const json_t *order, const char *mkey)
{
	for (size_t i = 0; i < n; i++) {
		long idx = list_index(order, r[i].v, mkey);

		r[i].rank = idx < 0 ? LONG_MAX : idx;
		r[i].pos = i;
	}
	qsort(r, n, sizeof(*r), ranked_cmp);
}

/*
 * Orders the merged list as upstream does: items named in @wanted (the patch list or
 * $setElementOrder) follow its order; the other, server-only items keep their order in
 * @server and are slotted in before a wanted item only where @server had them before it.
 * Returns a new array.
 */
static json_t *reorder(const json_t *merged, const json_t *wanted, const json_t *server,
		       const char *mkey)
{
	size_t n = json_array_size(merged), nw = 0, ns = 0, i = 0, j = 0;
	cleanup_free struct ranked *w = xcalloc(n + 1, sizeof(*w));
	cleanup_free struct ranked *so = xcalloc(n + 1, sizeof(*so));
	json_t *out = json_array();

	for (size_t k = 0; k < n; k++) {
		json_t *e = json_array_get(merged, k);

		if (list_index(wanted, e, mkey) >= 0)
			w[nw++].v = e;
		else
			so[ns++].v = e;
	}
	rank_sort(w, nw, wanted, mkey);
	rank_sort(so, ns, server, mkey);
	while (i < ns || j < nw) {
		bool take_server = j >= nw;

		if (i < ns && j < nw) {
			long li = list_index(server, so[i].v, mkey);
			long ri = list_index(server, w[j].v, mkey);

			take_server = li >= 0 && ri >= 0 && li < ri;
		}
		if (take_server)
			json_array_append(out, so[i++].v);
		else
			json_array_append(out, w[j++].v);
	}
	return out;
}

/* The one kind all elements share: JSON_OBJECT, a scalar kind, or -1 when mixed. */
static int element_kind(const json_t *a, const json_t *b, const char *path, struct err *err)
{
	int kind = -2;
	const json_t *lists[2] = {a, b};

	for (size_t l = 0; l < 2; l++) {
		for (size_t i = 0; i < json_array_size(lists[l]); i++) {
			const json_t *e = json_array_get(lists[l], i);
			int k = json_typeof(e);

			if (k == JSON_INTEGER || k == JSON_REAL)
				k = JSON_INTEGER;
			if (k == JSON_TRUE || k == JSON_FALSE)
				k = JSON_TRUE;
			if (k == JSON_ARRAY)
				return err_set(err, EINVAL, "%s: lists of lists are not supported",
					       where(path));
			if (kind != -2 && kind != k)
				return err_set(err, EINVAL,
					       "%s: list element types are not identical",
					       where(path));
			kind = k;
		}
	}
	return kind == -2 ? JSON_NULL : kind;
}

/* A patch value with no original to merge into: directives applied to nothing. */
static int materialise(const struct smp *s, const json_t *patch, const struct patch_field *meta,
		       const char *path, json_t **ret, struct err *err)
{
	return smp_value(s, NULL, patch, meta, path, ret, err);
}

static int merge_scalar_list(json_t *cur, const json_t *patch, json_t **ret)
{
	cleanup_json json_t *merged = json_array();
	cleanup_json json_t *server = cur;
	const json_t *parts[2] = {cur, patch};

	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; i < json_array_size(parts[l]); i++) {
			json_t *e = json_array_get(parts[l], i);

			if (list_index(merged, e, NULL) < 0)
				json_array_append_new(merged, json_deep_copy(e));
		}
	*ret = reorder(merged, patch, server ? server : merged, NULL);
	return 0;
}

/* Applies the "$patch" elements of a merging list of objects to @work. */
static int list_directives(const json_t *patch, const char *mkey, json_t *work, bool *ret_replace,
			   const char *path, struct err *err)
{
	for (size_t i = 0; i < json_array_size(patch); i++) {
		const json_t *e = json_array_get(patch, i);
		const json_t *d = json_object_get(e, DIRECTIVE_PATCH);
		const json_t *kv = NULL;

		if (!d)
			continue;
		if (!json_is_string(d))
			return err_set(err, EINVAL, "%s[%zu]: $patch must be a string", where(path),
				       i);
		if (strcmp(json_string_value(d), "replace") == 0) {
			*ret_replace = true;
			continue;
		}
		if (strcmp(json_string_value(d), "merge") == 0)
			return err_set(
				err, EINVAL,
				"%s[%zu]: merging lists cannot yet be specified in the patch",
				where(path), i);
		if (strcmp(json_string_value(d), "delete") != 0)
			return err_set(err, EINVAL, "%s[%zu]: unknown $patch directive '%s'",
				       where(path), i, json_string_value(d));
		kv = json_object_get(e, mkey);
		if (!kv)
			return err_set(err, EINVAL,
				       "%s[%zu]: $patch delete does not contain the merge key '%s'",
				       where(path), i, mkey);
		for (size_t k = json_array_size(work); k-- > 0;)
			if (json_equal(json_object_get(json_array_get(work, k), mkey), kv))
				json_array_remove(work, k);
	}
	return 0;
}

static int merge_object_list(const struct smp *s, json_t *cur, const json_t *patch,
			     const struct patch_field *meta, const char *path, json_t **ret,
			     struct err *err)
{
	cleanup_json json_t *owned = cur;
	cleanup_json json_t *work = json_array();
	cleanup_json json_t *server = NULL;
	cleanup_json json_t *wanted = json_array();
	struct patch_field elem = {.type = meta->type};
	const char *mkey = meta->merge_key;
	bool replace = false;
	int r;

	if (!mkey)
		return err_set(err, EINVAL, "%s: cannot merge lists without merge key",
			       where(path));
	if (cur)
		json_array_extend(work, cur);
	r = list_directives(patch, mkey, work, &replace, path, err);
	if (r < 0)
		return r;
	if (replace)
		json_array_clear(work);
	server = json_copy(work);

	for (size_t i = 0; i < json_array_size(patch); i++) {
		const json_t *e = json_array_get(patch, i);
		cleanup_free char *epath = NULL;
		json_t *merged = NULL;
		json_t *kobj = NULL;
		long at = -1;

		if (json_object_get(e, DIRECTIVE_PATCH))
			continue;
		epath = xasprintf("%s[%zu]", path, i);
		if (!json_object_get(e, mkey))
			return err_set(err, EINVAL, "%s: does not contain the merge key '%s'",
				       epath, mkey);
		/* only the key matters for ordering; the patch itself stays untouched */
		kobj = json_object();
		json_object_set_new(kobj, mkey, json_deep_copy(json_object_get(e, mkey)));
		json_array_append_new(wanted, kobj);
		at = replace ? -1 : list_index(work, e, mkey);
		if (at < 0) {
			r = materialise(s, e, &elem, epath, &merged, err);
			if (r < 0)
				return r;
			if (merged)
				json_array_append_new(work, merged);
			continue;
		}
		r = smp_object(s, json_incref(json_array_get(work, (size_t)at)), e, &elem, epath,
			       &merged, err);
		if (r < 0)
			return r;
		if (merged)
			json_array_set_new(work, (size_t)at, merged);
		else
			json_array_remove(work, (size_t)at);
	}
	*ret = reorder(work, wanted, server, mkey);
	return 0;
}

/* Merges a list whose field has the merge strategy; takes @cur (an array or NULL). */
static int smp_list(const struct smp *s, json_t *cur, const json_t *patch,
		    const struct patch_field *meta, const char *path, json_t **ret, struct err *err)
{
	int kind;

	if (json_array_size(cur) == 0 && json_array_size(patch) == 0) {
		*ret = cur ? cur : json_array();
		return 0;
	}
	kind = element_kind(cur, patch, path, err);
	if (kind < 0) {
		json_decref(cur);
		return kind;
	}
	if (kind != JSON_OBJECT)
		return merge_scalar_list(cur, patch, ret);
	return merge_object_list(s, cur, patch, meta, path, ret, err);
}

/* A list replaced as a whole, minus directive elements. */
static int replace_list(const struct smp *s, const json_t *patch, const struct patch_field *meta,
			const char *path, json_t **ret, struct err *err)
{
	cleanup_json json_t *out = json_array();
	struct patch_field elem = {.type = meta->type};

	for (size_t i = 0; i < json_array_size(patch); i++) {
		const json_t *e = json_array_get(patch, i);
		cleanup_free char *epath = NULL;
		json_t *v = NULL;
		int r;

		if (json_is_object(e) && json_object_get(e, DIRECTIVE_PATCH))
			continue;
		epath = xasprintf("%s[%zu]", path, i);
		r = materialise(s, e, &elem, epath, &v, err);
		if (r < 0)
			return r;
		if (v)
			json_array_append_new(out, v);
	}
	*ret = TAKE_PTR(out);
	return 0;
}

static int smp_value(const struct smp *s, json_t *cur, const json_t *patch,
		     const struct patch_field *meta, const char *path, json_t **ret,
		     struct err *err)
{
	if (json_is_object(patch)) {
		struct patch_field self = {.type = meta->type, .is_map = meta->is_map};

		if (!json_is_object(cur)) {
			json_decref(cur);
			cur = NULL;
		}
		return smp_object(s, cur, patch, &self, path, ret, err);
	}
	if (json_is_array(patch)) {
		if ((meta->strategy & PATCH_MERGE) && (!cur || json_is_array(cur)))
			return smp_list(s, cur, patch, meta, path, ret, err);
		json_decref(cur);
		return replace_list(s, patch, meta, path, ret, err);
	}
	json_decref(cur);
	*ret = json_is_null(patch) ? NULL : json_deep_copy(patch);
	return 0;
}

static bool listed(const json_t *keys, const char *key)
{
	for (size_t i = 0; i < json_array_size(keys); i++)
		if (strcmp(json_string_value(json_array_get(keys, i)), key) == 0)
			return true;
	return false;
}

/* $retainKeys: members of @target not listed are dropped (for unions such as volumes). */
static int retain_keys(json_t *target, const json_t *patch, const json_t *keep, const char *path,
		       struct err *err)
{
	const char *key;
	json_t *val, *tmp;

	if (!json_is_array(keep))
		return err_set(err, EINVAL, "%s: invalid patch format of retainKeys: not a list",
			       where(path));
	for (size_t i = 0; i < json_array_size(keep); i++)
		if (!json_is_string(json_array_get(keep, i)))
			return err_set(
				err, EINVAL,
				"%s: invalid patch format of retainKeys: not a list of strings",
				where(path));
	json_object_foreach (MUT(patch), key, val) {
		if (json_is_null(val) || is_directive_key(key))
			continue;
		if (listed(keep, key))
			continue;
		return err_set(err, EINVAL,
			       "%s: invalid patch format of retainKeys: '%s' is patched but not "
			       "listed in $retainKeys",
			       where(path), key);
	}
	json_object_foreach_safe (target, tmp, key, val)
		if (!listed(keep, key))
			json_object_del(target, key);
	return 0;
}

static bool order_key_valid(const json_t *order, const char *mkey)
{
	for (size_t i = 0; i < json_array_size(order); i++) {
		const json_t *e = json_array_get(order, i);

		if (json_is_object(e) && (!mkey || !json_object_get(e, mkey)))
			return false;
	}
	return true;
}

/*
 * The patch list must name its items in the same relative order as $setElementOrder and
 * only items that it lists (deletions aside).
 */
static bool order_consistent(const json_t *plist, const json_t *order, const char *mkey)
{
	size_t oi = 0;

	for (size_t i = 0; i < json_array_size(plist); i++) {
		const json_t *e = json_array_get(plist, i);
		const json_t *kv = e;

		if (json_is_object(e) && json_object_get(e, DIRECTIVE_PATCH))
			continue;
		if (mkey && json_is_object(e))
			kv = json_object_get(e, mkey);
		for (; oi < json_array_size(order); oi++) {
			const json_t *o = json_array_get(order, oi);

			if (mkey && json_is_object(o))
				o = json_object_get(o, mkey);
			if (json_equal(o, kv))
				break;
		}
		if (oi == json_array_size(order))
			return false;
		oi++;
	}
	return true;
}

/* Merges the list @key names under a "$setElementOrder/<key>" directive, then orders it. */
static int set_element_order(const struct smp *s, json_t *target, const json_t *patch,
			     const char *dkey, const json_t *order, const struct patch_field *self,
			     const char *path, struct err *err)
{
	const char *name = dkey + strlen(PREFIX_ORDER);
	cleanup_free char *fpath = child_path(path, name);
	cleanup_json json_t *server = NULL;
	cleanup_json json_t *merged = NULL;
	const json_t *plist = json_object_get(patch, name);
	json_t *cur = json_object_get(target, name);
	struct patch_field meta;
	const char *mkey = NULL;
	int r;

	field_of(s, self, name, &meta);
	mkey = meta.merge_key;
	if (name[0] == '\0' || !json_is_array(order) || (plist && !json_is_array(plist)) ||
	    !order_key_valid(order, mkey))
		return err_set(err, EINVAL, "%s: invalid patch format of setElementOrder list",
			       fpath);
	if (plist && !order_consistent(plist, order, mkey))
		return err_set(err, EINVAL,
			       "%s: the order of the patch list does not match $setElementOrder",
			       fpath);
	if (!plist && !cur)
		return 0;
	if (json_is_array(cur))
		server = json_copy(cur);
	if (plist) {
		r = smp_value(s, json_incref(cur), plist, &meta, fpath, &merged, err);
		if (r < 0)
			return r;
	} else {
		merged = json_incref(cur);
	}
	if (!merged) {
		json_object_del(target, name);
		return 0;
	}
	if (!json_is_array(merged)) {
		json_object_set(target, name, merged);
		return 0;
	}
	json_object_set_new(target, name, reorder(merged, order, server ? server : merged, mkey));
	return 0;
}

static int delete_from_list(json_t *target, const char *dkey, const json_t *del, const char *path,
			    struct err *err)
{
	const char *name = dkey + strlen(PREFIX_DELETE);
	json_t *list = json_object_get(target, name);

	if (name[0] == '\0' || !json_is_array(del))
		return err_set(err, EINVAL, "%s: invalid patch format of primitive list for '%s'",
			       where(path), dkey);
	if (!json_is_array(list))
		return 0;
	for (size_t i = json_array_size(list); i-- > 0;)
		if (list_index(del, json_array_get(list, i), NULL) >= 0)
			json_array_remove(list, i);
	return 0;
}

static int merge_members(const struct smp *s, json_t *target, const json_t *patch,
			 const struct patch_field *self, const char *path, struct err *err)
{
	const char *key;
	json_t *val;
	int r;

	json_object_foreach (MUT(patch), key, val) {
		cleanup_free char *okey = NULL;
		cleanup_free char *cpath = NULL;
		struct patch_field meta;
		json_t *out = NULL;

		if (is_directive_key(key))
			continue;
		okey = xasprintf(PREFIX_ORDER "%s", key);
		if (json_object_get(patch, okey))
			continue;
		if (json_is_null(val)) {
			json_object_del(target, key);
			continue;
		}
		field_of(s, self, key, &meta);
		cpath = child_path(path, key);
		r = smp_value(s, json_incref(json_object_get(target, key)), val, &meta, cpath, &out,
			      err);
		if (r < 0)
			return r;
		if (out)
			json_object_set_new(target, key, out);
		else
			json_object_del(target, key);
	}
	return 0;
}

static int smp_object(const struct smp *s, json_t *cur, const json_t *patch,
		      const struct patch_field *self, const char *path, json_t **ret,
		      struct err *err)
{
	cleanup_json json_t *target = cur;
	const json_t *d = json_object_get(patch, DIRECTIVE_PATCH);
	const json_t *keep = json_object_get(patch, DIRECTIVE_RETAIN);
	const char *key;
	json_t *val;
	int r;

	if (d) {
		const char *dv = json_is_string(d) ? json_string_value(d) : "";

		if (strcmp(dv, "delete") == 0) {
			/* upstream leaves an empty object where one existed */
			*ret = target ? json_object() : NULL;
			return 0;
		}
		if (strcmp(dv, "replace") == 0) {
			json_decref(target);
			target = NULL;
		} else if (strcmp(dv, "merge") != 0) {
			return err_set(err, EINVAL, "%s: unknown $patch directive '%s'",
				       where(path), json_is_string(d) ? dv : "(not a string)");
		}
	}
	if (!target)
		target = json_object();
	if (keep) {
		r = retain_keys(target, patch, keep, path, err);
		if (r < 0)
			return r;
	}
	json_object_foreach (MUT(patch), key, val) {
		if (!has_prefix(key, PREFIX_ORDER))
			continue;
		r = set_element_order(s, target, patch, key, val, self, path, err);
		if (r < 0)
			return r;
	}
	r = merge_members(s, target, patch, self, path, err);
	if (r < 0)
		return r;
	json_object_foreach (MUT(patch), key, val) {
		if (!has_prefix(key, PREFIX_DELETE))
			continue;
		r = delete_from_list(target, key, val, path, err);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(target);
	return 0;
}

int patch_strategic(const json_t *doc, const json_t *patch, const char *type,
		    patch_lookup_fn lookup, void *ctx, json_t **ret, struct err *err)
{
	struct smp s = {lookup, ctx};
	struct patch_field self = {.type = type};
	json_t *out = NULL;
	int r;

	if (!json_is_object(patch))
		return err_set(err, EINVAL,
			       "apply strategic merge patch: the patch must be an object");
	r = smp_object(&s, json_is_object(doc) ? json_deep_copy(doc) : json_object(), patch, &self,
		       "", &out, err);
	if (r < 0)
		return err_wrap(err, "apply strategic merge patch");
	*ret = out ? out : json_object();
	return 0;
}
