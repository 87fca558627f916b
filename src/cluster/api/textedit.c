/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes made on the cache's text of an object instead of a decoded tree. The cache's text
 * is what api_serialize() wrote, with the resourceVersion api_json_with_rev() put first in
 * the metadata; each edit here leaves that resourceVersion out and returns exactly the
 * bytes api_serialize() would write for the tree after the same change (jansson keeps the
 * order members were added in, a replaced member keeps its place). tests/unit/
 * test_textedit.c holds them to that. Each returns NULL for text of a shape it does not
 * take, and the caller decodes the tree instead.
 *
 * A pod's binding, as the pods/binding subresource stores it: spec.nodeName set and a
 * PodScheduled condition, status True, put in place of any earlier one. api_bind_tree()
 * makes that change to a decoded pod, api_bind_text() to the text, for the shape almost
 * every pod has when it is bound: a spec without nodeName and a status, if any, without
 * conditions. A pod that failed to schedule and carries a PodScheduled condition, or a
 * node name JSON would escape, is left to the tree.
 *
 * A top-level member replaced (a status write): api_text_member() finds the member's
 * value, which the caller decodes alone, and api_text_splice() puts a new value's text in
 * its place.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/jload.h"
#include "cluster/api/internal.h"

static json_t *scheduled_condition(const char *now)
{
	return json_pack("{s:s, s:s, s:n, s:s}", "type", "PodScheduled", "status", "True",
			 "lastProbeTime", "lastTransitionTime", now);
}

void api_bind_tree(json_t *pod, const char *node, const char *now)
{
	json_t *status, *conds, *c;
	size_t i;

	json_object_set_new(json_object_get(pod, "spec"), "nodeName", json_string(node));
	status = json_object_get(pod, "status");
	if (!json_is_object(status)) {
		status = json_object();
		json_object_set_new(pod, "status", status);
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	/* one condition per type: a pod that failed to schedule before has one */
	json_array_foreach (conds, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, "PodScheduled") == 0) {
			json_array_remove(conds, i);
			break;
		}
	}
	json_array_append_new(conds, scheduled_condition(now));
}

/* The text scanner: positions in [p, end), NULL for text it does not follow. */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* One member of an object: its key's bytes as written, and its value's extent. */
struct member {
	const char *key;
	size_t klen;
	const char *val, *val_end;
};

/*
 * @*p just past an object's '{' or a member: the next member in @m (1), or the object's
 * end (0, *p past the '}'), or -1 for text the scanner does not follow.
 */
static int next_member(const char **p, const char *end, bool first, struct member *m)
{
	const char *s = skip_ws(*p, end);

	if (s < end && *s == '}') {
		*p = s + 1;
		return 0;
	}
	if (!first) {
		if (s >= end || *s != ',')
			return -1;
		s = skip_ws(s + 1, end);
	}
	if (s >= end || *s != '"')
		return -1;
	m->key = s + 1;
	s = jload_skip(s, end);
	if (!s)
		return -1;
	m->klen = (size_t)(s - 1 - m->key);
	s = skip_ws(s, end);
	if (s >= end || *s != ':')
		return -1;
	m->val = skip_ws(s + 1, end);
	m->val_end = jload_skip(m->val, end);
	if (!m->val_end)
		return -1;
	*p = m->val_end;
	return 1;
}

static bool key_is(const struct member *m, const char *key)
{
	return m->klen == strlen(key) && memcmp(m->key, key, m->klen) == 0;
}

/*
 * The object @m holds: whether it has a member @key, and where its closing brace is and
 * whether it is empty. False for a value that is no object or text not followed.
 */
static bool object_shape(const struct member *m, const char *key, bool *has, const char **close,
			 bool *empty)
{
	const char *p = m->val + 1, *end = m->val_end;
	struct member in;
	bool first = true;
	int r;

	if (*m->val != '{')
		return false;
	*has = false;
	while ((r = next_member(&p, end, first, &in)) == 1) {
		first = false;
		if (key_is(&in, key))
			*has = true;
	}
	if (r < 0 || p != end)
		return false;
	*close = end - 1;
	*empty = first;
	return true;
}

/* The resourceVersion's extent in the metadata value @m: false when it is not first. */
static bool find_rv(const struct member *m, const char **from, const char **to)
{
	static const char rv[] = "{\"resourceVersion\":\"";
	const char *q = m->val + sizeof(rv) - 1;

	if ((size_t)(m->val_end - m->val) < sizeof(rv) || memcmp(m->val, rv, sizeof(rv) - 1) != 0)
		return false;
	while (q < m->val_end && *q >= '0' && *q <= '9')
		q++;
	if (q >= m->val_end || *q != '"')
		return false;
	*from = m->val + 1;
	*to = q + 1;
	if (**to == ',')
		(*to)++;
	return true;
}

/*
 * The cache's text of an object read at its top level: the resourceVersion first in its
 * metadata (@rv), each member @names[i] found in @out[i] (val NULL when absent; the
 * metadata comes before them, as api_serialize() writes it) and the object's closing brace
 * (@close). -1 for text the scanner does not follow or a member given twice.
 */
static int top_members(const char *json, size_t len, const char *const *names, size_t n,
		       struct member *out, struct api_text_member *rv, const char **close)
{
	const char *end = json + len, *p = skip_ws(json, end);
	bool first = true;
	struct member m;
	int r;

	*rv = (struct api_text_member){0};
	for (size_t i = 0; i < n; i++)
		out[i] = (struct member){0};
	if (p >= end || *p != '{')
		return -1;
	p++;
	while ((r = next_member(&p, end, first, &m)) == 1) {
		first = false;
		if (key_is(&m, "metadata")) {
			if (rv->rv_from || !find_rv(&m, &rv->rv_from, &rv->rv_to))
				return -1;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (!key_is(&m, names[i]))
				continue;
			if (out[i].val || !rv->rv_from)
				return -1;
			out[i] = m;
		}
	}
	if (r < 0 || !rv->rv_from || skip_ws(p, end) != end)
		return -1;
	*close = p - 1;
	return 0;
}

/* A node name JSON writes as it is: printable ASCII other than '"' and '\'. */
static bool plain(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* The text between @from and @to, then @ins. */
static void put(char **at, const char *from, const char *to, const char *ins)
{
	size_t n = (size_t)(to - from), k = strlen(ins);

	memcpy(*at, from, n);
	memcpy(*at + n, ins, k);
	*at += n + k;
}

char *api_bind_text(const char *json, size_t len, const char *node, const char *now,
		    size_t *ret_len)
{
	static const char *const names[] = {"spec", "status"};
	const char *end = json + len, *spec_close = NULL, *status_close = NULL, *top_close;
	bool has, spec_empty = false, status_empty = false, has_status;
	struct api_text_member rv;
	struct member m[2];
	char cond[160], *out, *at;
	int n;

	if (!plain(node) || !plain(now))
		return NULL;
	n = snprintf(cond, sizeof(cond),
		     "{\"type\":\"PodScheduled\",\"status\":\"True\",\"lastProbeTime\":null,"
		     "\"lastTransitionTime\":\"%s\"}",
		     now);
	if (n < 0 || (size_t)n >= sizeof(cond))
		return NULL;
	if (top_members(json, len, names, 2, m, &rv, &top_close) < 0 || !m[0].val ||
	    !object_shape(&m[0], "nodeName", &has, &spec_close, &spec_empty) || has)
		return NULL;
	has_status = m[1].val != NULL;
	if (has_status &&
	    (!object_shape(&m[1], "conditions", &has, &status_close, &status_empty) || has))
		return NULL;

	/* the three insertions, in the order they come in the text */
	{
		const char *pos[3] = {spec_close, has_status ? status_close : NULL, top_close};
		cleanup_free char *ins_spec =
			xasprintf("%s\"nodeName\":\"%s\"", spec_empty ? "" : ",", node);
		cleanup_free char *ins_status =
			has_status
				? xasprintf("%s\"conditions\":[%s]", status_empty ? "" : ",", cond)
				: xasprintf(",\"status\":{\"conditions\":[%s]}", cond);
		const char *ins[3] = {ins_spec, has_status ? ins_status : "",
				      has_status ? "" : ins_status};
		const char *from;

		if (has_status && status_close < spec_close) {
			pos[0] = status_close;
			pos[1] = spec_close;
			ins[0] = ins_status;
			ins[1] = ins_spec;
		}
		out = xmalloc(len + strlen(ins_spec) + strlen(ins_status) + 1);
		at = out;
		put(&at, json, rv.rv_from, "");
		from = rv.rv_to;
		for (size_t i = 0; i < 3; i++) {
			if (!pos[i])
				continue;
			put(&at, from, pos[i], ins[i]);
			from = pos[i];
		}
		put(&at, from, end, "");
		*at = '\0';
		*ret_len = (size_t)(at - out);
	}
	return out;
}

int api_text_member(const char *json, size_t len, const char *name, struct api_text_member *ret)
{
	const char *close;
	struct member m;

	if (top_members(json, len, &name, 1, &m, ret, &close) < 0 || !m.val)
		return -1;
	ret->val = m.val;
	ret->val_end = m.val_end;
	return 0;
}

char *api_text_splice(const char *json, size_t len, const struct api_text_member *m,
		      const char *val, size_t val_len, size_t *ret_len)
{
	size_t head = (size_t)(m->rv_from - json), mid = (size_t)(m->val - m->rv_to);
	size_t tail = (size_t)(json + len - m->val_end);
	char *out = xmalloc(head + mid + val_len + tail + 1), *at = out;

	put(&at, json, m->rv_from, "");
	put(&at, m->rv_to, m->val, "");
	memcpy(at, val, val_len);
	at += val_len;
	put(&at, m->val_end, json + len, "");
	*at = '\0';
	*ret_len = (size_t)(at - out);
	return out;
}
