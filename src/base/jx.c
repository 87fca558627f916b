/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validating JSON field access shared by every parser of external documents (OCI
 * configs, image manifests, Kubernetes objects).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/jload.h"
#include "base/jx.h"

int jx_parse(const char *text, size_t len, const char *what, json_t **ret, struct err *err)
{
	json_error_t je;
	json_t *j;

	j = jload_b(text, len, JSON_REJECT_DUPLICATES, &je);
	/*
	 * jansson keeps integers as int64: a document with a larger one (an rlimit of
	 * 2^64-1 means unlimited) is read again with every number as a double, which the
	 * getters below accept when it is whole.
	 */
	if (!j && strstr(je.text, "too big integer"))
		j = jload_b(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
	if (!j)
		return err_set(err, EINVAL, "%s: invalid JSON at line %d column %d: %s", what,
			       je.line, je.column, je.text);
	*ret = j;
	return 0;
}

/* A real without a fraction, as JSON_DECODE_INT_AS_REAL leaves integers. */
static bool whole_real(const json_t *v, double *ret)
{
	double d;

	if (!json_is_real(v))
		return false;
	d = json_real_value(v);
	if (d != trunc(d))
		return false;
	*ret = d;
	return true;
}

static int field(const json_t *obj, const char *key, json_t **ret)
{
	json_t *v = json_object_get(obj, key);

	/* null is the same as absent, as Go-based peers treat it */
	if (!v || json_is_null(v))
		return 0;
	*ret = v;
	return 1;
}

static int bad(struct err *err, const char *path, const char *key, const char *expected)
{
	if (path && *path)
		return err_set(err, EINVAL, "%s.%s: expected %s", path, key, expected);
	return err_set(err, EINVAL, "%s: expected %s", key, expected);
}

int jx_str(const json_t *obj, const char *path, const char *key, const char **ret, struct err *err)
{
	json_t *v;

	if (!field(obj, key, &v))
		return 0;
	if (!json_is_string(v))
		return bad(err, path, key, "string");
	*ret = json_string_value(v);
	return 1;
}

int jx_int(const json_t *obj, const char *path, const char *key, int64_t *ret, struct err *err)
{
	json_t *v;

	double d;

	if (!field(obj, key, &v))
		return 0;
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 1;
	}
	if (!whole_real(v, &d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
		return bad(err, path, key, "integer");
	*ret = (int64_t)d;
	return 1;
}

int jx_uint(const json_t *obj, const char *path, const char *key, uint64_t *ret, struct err *err)
{
	json_t *v;
	double d;

	if (!field(obj, key, &v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ret = (uint64_t)json_integer_value(v);
		return 1;
	}
	if (!whole_real(v, &d) || d < 0)
		return bad(err, path, key, "non-negative integer");
	/* 2^64-1 has no double: it reads as 2^64, which would not convert */
	*ret = d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)d;
	return 1;
}

int jx_u32(const json_t *obj, const char *path, const char *key, uint32_t *ret, struct err *err)
{
	json_t *v;
	double d;

	if (!field(obj, key, &v))
		return 0;
	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (!whole_real(v, &d))
		d = -1;
	if (d < 0 || d > UINT32_MAX)
		return bad(err, path, key, "integer from 0 to 4294967295");
	*ret = (uint32_t)d;
	return 1;
}

int jx_bool(const json_t *obj, const char *path, const char *key, bool *ret, struct err *err)
{
	json_t *v;

	if (!field(obj, key, &v))
		return 0;
	if (!json_is_boolean(v))
		return bad(err, path, key, "boolean");
	*ret = json_is_true(v);
	return 1;
}

int jx_obj(const json_t *obj, const char *path, const char *key, json_t **ret, struct err *err)
{
	json_t *v;

	if (!field(obj, key, &v))
		return 0;
	if (!json_is_object(v))
		return bad(err, path, key, "object");
	*ret = v;
	return 1;
}

int jx_arr(const json_t *obj, const char *path, const char *key, json_t **ret, struct err *err)
{
	json_t *v;

	if (!field(obj, key, &v))
		return 0;
	if (!json_is_array(v))
		return bad(err, path, key, "array");
	*ret = v;
	return 1;
}

int jx_strv(const json_t *obj, const char *path, const char *key, char ***ret, struct err *err)
{
	json_t *a, *v;
	char **out;
	size_t i;
	int r;

	r = jx_arr(obj, path, key, &a, err);
	if (r <= 0)
		return r;
	json_array_foreach (a, i, v) {
		if (!json_is_string(v)) {
			if (path && *path)
				return err_set(err, EINVAL, "%s.%s[%zu]: expected string", path,
					       key, i);
			return err_set(err, EINVAL, "%s[%zu]: expected string", key, i);
		}
	}
	out = xcalloc(json_array_size(a) + 1, sizeof(char *));
	json_array_foreach (a, i, v)
		out[i] = xstrdup(json_string_value(v));
	*ret = out;
	return 1;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}
