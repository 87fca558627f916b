/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label and field selectors: the labelSelector/fieldSelector query strings with upstream's
 * grammar and messages, LabelSelector objects (matchLabels, matchExpressions), matching,
 * and the label key/value rules. LIST, WATCH, controllers and services call these.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"

#include "cluster/api/selector.h"

enum sel_op {
	SEL_EQ,
	SEL_NE,
	SEL_IN,
	SEL_NOTIN,
	SEL_EXISTS,
	SEL_NOT_EXISTS,
	SEL_GT,
	SEL_LT,
};

struct sel_req {
	char *key;
	enum sel_op op;
	char **values; /* deduplicated */
	size_t n_values;
	long long number; /* SEL_GT, SEL_LT */
};

struct selector {
	struct sel_req *reqs;
	size_t n;
};

/* ---- label keys and values ---- */

#define LABEL_NAME_MAX   63
#define LABEL_PREFIX_MAX 253
#define LABEL_VALUE_MAX  63
#define LABEL_NAME_REGEX "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define SUBDOMAIN_REGEX  "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
#define LABEL_NAME_RULE                                                                            \
	"must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "   \
	"an alphanumeric character"
#define LABEL_NAME_EXAMPLES                                                                        \
	"(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "              \
	"'" LABEL_NAME_REGEX "')"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..n) */
static bool name_chars_valid(const char *s, size_t n)
{
	if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static bool subdomain_valid(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.')
			continue;
		/* each dot-separated label: [a-z0-9]([-a-z0-9]*[a-z0-9])? */
		if (i == start)
			return false;
		for (size_t k = start; k < i; k++) {
			char c = s[k];
			bool lower_alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

			if (!lower_alnum && !(c == '-' && k != start && k != i - 1))
				return false;
		}
		start = i + 1;
	}
	return true;
}

bool label_key_valid(const char *s, const char **why)
{
	const char *slash = strchr(s, '/');
	const char *name = s;

	if (slash && strchr(slash + 1, '/')) {
		*why = "a valid label key " LABEL_NAME_RULE " " LABEL_NAME_EXAMPLES
		       " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')";
		return false;
	}
	if (slash) {
		size_t plen = (size_t)(slash - s);

		if (plen == 0) {
			*why = "prefix part must be non-empty";
			return false;
		}
		if (plen > LABEL_PREFIX_MAX) {
			*why = "prefix part must be no more than 253 characters";
			return false;
		}
		if (!subdomain_valid(s, plen)) {
			*why = "prefix part a lowercase RFC 1123 subdomain must consist of lower "
			       "case "
			       "alphanumeric characters, '-' or '.', and must start and end with "
			       "an "
			       "alphanumeric character (e.g. 'example.com', regex used for "
			       "validation "
			       "is '" SUBDOMAIN_REGEX "')";
			return false;
		}
		name = slash + 1;
	}
	if (!*name) {
		*why = "name part must be non-empty";
		return false;
	}
	if (strlen(name) > LABEL_NAME_MAX) {
		*why = "name part must be no more than 63 characters";
		return false;
	}
	if (!name_chars_valid(name, strlen(name))) {
		*why = "name part " LABEL_NAME_RULE " " LABEL_NAME_EXAMPLES;
		return false;
	}
	return true;
}

bool label_value_valid(const char *s, const char **why)
{
	size_t n = strlen(s);

	if (n > LABEL_VALUE_MAX) {
		*why = "must be no more than 63 characters";
		return false;
	}
	if (n > 0 && !name_chars_valid(s, n)) {
		*why = "a valid label must be an empty string or consist of alphanumeric "
		       "characters, "
		       "'-', '_' or '.', and must start and end with an alphanumeric character "
		       "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
		       "'(" LABEL_NAME_REGEX ")?')";
		return false;
	}
	return true;
}

/* ---- selectors ---- */

void selector_free(struct selector *sel)
{
	if (!sel)
		return;
	for (size_t i = 0; i < sel->n; i++) {
		free(sel->reqs[i].key);
		for (size_t k = 0; k < sel->reqs[i].n_values; k++)
			free(sel->reqs[i].values[k]);
		free(sel->reqs[i].values);
	}
	free(sel->reqs);
	free(sel);
}

static inline void selector_freep(struct selector **p)
{
	selector_free(*p);
}
#define cleanup_selector __attribute__((cleanup(selector_freep)))

static struct sel_req *add_req(struct selector *sel, const char *key, enum sel_op op)
{
	struct sel_req *r = NULL;

	sel->reqs = xrealloc(sel->reqs, (sel->n + 1) * sizeof(*sel->reqs));
	r = &sel->reqs[sel->n++];
	memset(r, 0, sizeof(*r));
	r->key = xstrdup(key);
	r->op = op;
	return r;
}

static void req_add_value(struct sel_req *r, const char *v)
{
	for (size_t i = 0; i < r->n_values; i++)
		if (strcmp(r->values[i], v) == 0)
			return;
	r->values = xrealloc(r->values, (r->n_values + 1) * sizeof(*r->values));
	r->values[r->n_values++] = xstrdup(v);
}

static bool req_has(const struct sel_req *r, const char *v)
{
	for (size_t i = 0; i < r->n_values; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

static bool parse_int64(const char *s, long long *ret)
{
	char *end = NULL;
	long long v;

	if (!*s || strchr(" \t\n", *s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* @v: the object's value for the key, NULL when it has none. */
static bool req_match(const struct sel_req *r, const char *v)
{
	long long n = 0;

	switch (r->op) {
	case SEL_EQ:
	case SEL_IN:
		return v && req_has(r, v);
	case SEL_NE:
	case SEL_NOTIN:
		return !v || !req_has(r, v);
	case SEL_EXISTS:
		return v != NULL;
	case SEL_NOT_EXISTS:
		return v == NULL;
	case SEL_GT:
		return v && parse_int64(v, &n) && n > r->number;
	case SEL_LT:
		return v && parse_int64(v, &n) && n < r->number;
	}
	return false;
}

/* ---- the labelSelector grammar ---- */

enum tok_kind {
	TOK_END,
	TOK_IDENT,
	TOK_IN,
	TOK_NOTIN,
	TOK_EQ,
	TOK_DEQ,
	TOK_NEQ,
	TOK_NOT,
	TOK_GT,
	TOK_LT,
	TOK_OPEN,
	TOK_CLOSE,
	TOK_COMMA,
};

struct token {
	enum tok_kind kind;
	char *text;
};

struct lexed {
	struct token *t;
	size_t n;
	size_t pos;
};

static void lexed_done(struct lexed *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->t[i].text);
	free(l->t);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
	return c && strchr("=!(),><", c) != NULL;
}

static const struct {
	const char *text;
	enum tok_kind kind;
} symbols[] = {
	{"!=", TOK_NEQ}, {"==", TOK_DEQ}, {"=", TOK_EQ},    {"!", TOK_NOT},   {">", TOK_GT},
	{"<", TOK_LT},   {"(", TOK_OPEN}, {")", TOK_CLOSE}, {",", TOK_COMMA},
};

static void push_token(struct lexed *l, enum tok_kind kind, const char *s, size_t n)
{
	l->t = xrealloc(l->t, (l->n + 1) * sizeof(*l->t));
	l->t[l->n].kind = kind;
	l->t[l->n].text = xstrndup(s, n);
	l->n++;
}

/* Splits the selector into tokens: operators take the longest match, as upstream's lexer. */
static void lex(const char *s, struct lexed *l)
{
	for (;;) {
		const char *start = NULL;

		while (is_space(*s))
			s++;
		if (!*s)
			break;
		start = s;
		if (is_special(*s)) {
			size_t best = 0;
			enum tok_kind kind = TOK_END;

			for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
				size_t n = strlen(symbols[i].text);

				if (n > best && strncmp(s, symbols[i].text, n) == 0) {
					best = n;
					kind = symbols[i].kind;
				}
			}
			push_token(l, kind, s, best);
			s += best;
			continue;
		}
		while (*s && !is_special(*s) && !is_space(*s))
			s++;
		if ((size_t)(s - start) == 2 && strncmp(start, "in", 2) == 0)
			push_token(l, TOK_IN, start, 2);
		else if ((size_t)(s - start) == 5 && strncmp(start, "notin", 5) == 0)
			push_token(l, TOK_NOTIN, start, 5);
		else
			push_token(l, TOK_IDENT, start, (size_t)(s - start));
	}
	push_token(l, TOK_END, "", 0);
}

/* Where values are expected, "in" and "notin" are plain words ("x in (in)"). */
static enum tok_kind peek_kind(const struct lexed *l, bool values)
{
	enum tok_kind k = l->t[l->pos].kind;

	if (values && (k == TOK_IN || k == TOK_NOTIN))
		return TOK_IDENT;
	return k;
}

static const char *peek_text(const struct lexed *l)
{
	return l->t[l->pos].text;
}

static enum tok_kind next(struct lexed *l, bool values, const char **ret_text)
{
	enum tok_kind k = peek_kind(l, values);

	*ret_text = l->t[l->pos].text;
	if (l->pos + 1 < l->n)
		l->pos++;
	return k;
}

static int parse_values(struct lexed *l, struct sel_req *r, struct err *err)
{
	const char *text = NULL;

	if (next(l, true, &text) != TOK_OPEN)
		return err_set(err, EINVAL, "found '%s' expected: '('", text);
	switch (peek_kind(l, true)) {
	case TOK_CLOSE:
		/* "()" holds the empty value, as upstream */
		next(l, true, &text);
		req_add_value(r, "");
		return 0;
	case TOK_IDENT:
	case TOK_COMMA:
		break;
	default:
		return err_set(err, EINVAL, "found '%s', expected: ',', ')' or identifier",
			       peek_text(l));
	}
	for (;;) {
		enum tok_kind k = next(l, true, &text);

		if (k == TOK_IDENT) {
			req_add_value(r, text);
			k = peek_kind(l, true);
			if (k == TOK_CLOSE) {
				next(l, true, &text);
				return 0;
			}
			if (k != TOK_COMMA)
				return err_set(err, EINVAL, "found '%s', expected: ',' or ')'",
					       peek_text(l));
			continue;
		}
		if (k != TOK_COMMA)
			return err_set(err, EINVAL, "found '%s', expected: ',', or identifier",
				       text);
		/* an empty item before or after a comma is the empty value */
		if (r->n_values == 0 || peek_kind(l, true) != TOK_IDENT)
			req_add_value(r, "");
		if (peek_kind(l, true) == TOK_CLOSE) {
			next(l, true, &text);
			return 0;
		}
	}
}

static int check_values(const struct sel_req *r, struct err *err)
{
	const char *why = NULL;

	for (size_t i = 0; i < r->n_values; i++)
		if (!label_value_valid(r->values[i], &why))
			return err_set(err, EINVAL, "values[%zu][%s]: Invalid value: \"%s\": %s", i,
				       r->key, r->values[i], why);
	if ((r->op == SEL_GT || r->op == SEL_LT) && !parse_int64(r->values[0], &(long long){0}))
		return err_set(
			err, EINVAL,
			"values[0]: Invalid value: \"%s\": for 'Gt', 'Lt' operators, the value "
			"must be an integer",
			r->values[0]);
	return 0;
}

static int parse_requirement(struct lexed *l, struct selector *sel, struct err *err)
{
	const char *text = NULL, *why = NULL;
	enum tok_kind k = next(l, true, &text);
	bool negated = k == TOK_NOT;
	struct sel_req *r = NULL;
	const char *key = NULL;

	if (negated)
		k = next(l, true, &text);
	if (k != TOK_IDENT)
		return err_set(err, EINVAL, "found '%s', expected: identifier", text);
	if (!label_key_valid(text, &why))
		return err_set(err, EINVAL, "key: Invalid value: \"%s\": %s", text, why);
	key = text;
	k = peek_kind(l, true);
	/* "!k" is complete; whatever follows is the caller's to reject */
	if (negated || k == TOK_END || k == TOK_COMMA) {
		add_req(sel, key, negated ? SEL_NOT_EXISTS : SEL_EXISTS);
		return 0;
	}
	switch (next(l, false, &text)) {
	case TOK_IN:
		r = add_req(sel, key, SEL_IN);
		break;
	case TOK_NOTIN:
		r = add_req(sel, key, SEL_NOTIN);
		break;
	case TOK_EQ:
	case TOK_DEQ:
		r = add_req(sel, key, SEL_EQ);
		break;
	case TOK_NEQ:
		r = add_req(sel, key, SEL_NE);
		break;
	case TOK_GT:
		r = add_req(sel, key, SEL_GT);
		break;
	case TOK_LT:
		r = add_req(sel, key, SEL_LT);
		break;
	default:
		return err_set(err, EINVAL, "found '%s', expected: in, notin, =, ==, !=, gt, lt",
			       text);
	}
	if (r->op == SEL_IN || r->op == SEL_NOTIN) {
		int ret = parse_values(l, r, err);

		if (ret < 0)
			return ret;
	} else {
		k = peek_kind(l, true);
		if (k == TOK_END || k == TOK_COMMA)
			req_add_value(r, "");
		else if (next(l, true, &text) == TOK_IDENT)
			req_add_value(r, text);
		else
			return err_set(err, EINVAL, "found '%s', expected: identifier", text);
	}
	if (r->op == SEL_GT || r->op == SEL_LT)
		parse_int64(r->values[0], &r->number);
	return check_values(r, err);
}

int selector_parse_labels(const char *text, struct selector **ret, struct err *err)
{
	cleanup_selector struct selector *sel = xcalloc(1, sizeof(*sel));
	__attribute__((cleanup(lexed_done))) struct lexed l = {NULL, 0, 0};

	lex(text ? text : "", &l);
	for (;;) {
		const char *t = NULL;
		enum tok_kind k = peek_kind(&l, true);
		int r;

		if (k == TOK_END)
			break;
		if (k != TOK_IDENT && k != TOK_NOT)
			return err_set(err, EINVAL,
				       "found '%s', expected: !, identifier, or 'end of string'",
				       peek_text(&l));
		r = parse_requirement(&l, sel, err);
		if (r < 0)
			return err_wrap(err, "unable to parse requirement");
		k = next(&l, true, &t);
		if (k == TOK_END)
			break;
		if (k != TOK_COMMA)
			return err_set(err, EINVAL, "found '%s', expected: ',' or 'end of string'",
				       t);
		k = peek_kind(&l, true);
		if (k != TOK_IDENT && k != TOK_NOT)
			return err_set(err, EINVAL, "found '%s', expected: identifier after ','",
				       peek_text(&l));
	}
	*ret = TAKE_PTR(sel);
	return 0;
}

/* ---- LabelSelector objects ---- */

static int match_labels(struct selector *sel, const json_t *ml, const char *path, struct err *err)
{
	const char *key, *why = NULL;
	json_t *val;

	if (!json_is_object(ml))
		return err_set(err, EINVAL, "%s.matchLabels: Invalid value: must be an object",
			       path);
	json_object_foreach ((json_t *)ml, key, val) {
		if (!label_key_valid(key, &why))
			return err_set(err, EINVAL, "%s.matchLabels: Invalid value: \"%s\": %s",
				       path, key, why);
		if (!json_is_string(val))
			return err_set(err, EINVAL,
				       "%s.matchLabels[%s]: Invalid value: must be a string", path,
				       key);
		if (!label_value_valid(json_string_value(val), &why))
			return err_set(err, EINVAL, "%s.matchLabels: Invalid value: \"%s\": %s",
				       path, json_string_value(val), why);
		req_add_value(add_req(sel, key, SEL_EQ), json_string_value(val));
	}
	return 0;
}

static int match_expression(struct selector *sel, const json_t *e, const char *path, size_t i,
			    struct err *err)
{
	const json_t *key = json_object_get(e, "key");
	const json_t *op = json_object_get(e, "operator");
	const json_t *values = json_object_get(e, "values");
	const char *why = NULL, *o = NULL;
	enum sel_op sop;
	struct sel_req *r = NULL;

	if (!json_is_object(e))
		return err_set(err, EINVAL,
			       "%s.matchExpressions[%zu]: Invalid value: must be an object", path,
			       i);
	if (!json_is_string(key))
		return err_set(err, EINVAL, "%s.matchExpressions[%zu].key: Required value", path,
			       i);
	if (!label_key_valid(json_string_value(key), &why))
		return err_set(err, EINVAL,
			       "%s.matchExpressions[%zu].key: Invalid value: \"%s\": %s", path, i,
			       json_string_value(key), why);
	if (!json_is_string(op))
		return err_set(err, EINVAL, "%s.matchExpressions[%zu].operator: Required value",
			       path, i);
	o = json_string_value(op);
	if (strcmp(o, "In") == 0)
		sop = SEL_IN;
	else if (strcmp(o, "NotIn") == 0)
		sop = SEL_NOTIN;
	else if (strcmp(o, "Exists") == 0)
		sop = SEL_EXISTS;
	else if (strcmp(o, "DoesNotExist") == 0)
		sop = SEL_NOT_EXISTS;
	else
		return err_set(
			err, EINVAL,
			"%s.matchExpressions[%zu].operator: Invalid value: \"%s\": not a valid "
			"selector operator",
			path, i, o);
	if (values && !json_is_null(values) && !json_is_array(values))
		return err_set(err, EINVAL,
			       "%s.matchExpressions[%zu].values: Invalid value: must be a list",
			       path, i);
	if ((sop == SEL_IN || sop == SEL_NOTIN) && json_array_size(values) == 0)
		return err_set(err, EINVAL,
			       "%s.matchExpressions[%zu].values: Required value: must be specified "
			       "when `operator` is 'In' or 'NotIn'",
			       path, i);
	if ((sop == SEL_EXISTS || sop == SEL_NOT_EXISTS) && json_array_size(values) > 0)
		return err_set(
			err, EINVAL,
			"%s.matchExpressions[%zu].values: Forbidden: may not be specified when "
			"`operator` is 'Exists' or 'DoesNotExist'",
			path, i);
	r = add_req(sel, json_string_value(key), sop);
	for (size_t k = 0; k < json_array_size(values); k++) {
		const json_t *v = json_array_get(values, k);

		if (!json_is_string(v))
			return err_set(
				err, EINVAL,
				"%s.matchExpressions[%zu].values[%zu]: Invalid value: must be "
				"a string",
				path, i, k);
		if (!label_value_valid(json_string_value(v), &why))
			return err_set(
				err, EINVAL,
				"%s.matchExpressions[%zu].values[%zu]: Invalid value: \"%s\": %s",
				path, i, k, json_string_value(v), why);
		req_add_value(r, json_string_value(v));
	}
	return 0;
}

int selector_from_json(const json_t *obj, const char *path, struct selector **ret, struct err *err)
{
	cleanup_selector struct selector *sel = xcalloc(1, sizeof(*sel));
	const json_t *ml = NULL, *me = NULL;
	int r;

	if (!path)
		path = "selector";
	if (obj && !json_is_null(obj) && !json_is_object(obj))
		return err_set(err, EINVAL, "%s: Invalid value: must be an object", path);
	ml = json_object_get(obj, "matchLabels");
	me = json_object_get(obj, "matchExpressions");
	if (ml && !json_is_null(ml)) {
		r = match_labels(sel, ml, path, err);
		if (r < 0)
			return r;
	}
	if (me && !json_is_null(me) && !json_is_array(me))
		return err_set(err, EINVAL, "%s.matchExpressions: Invalid value: must be a list",
			       path);
	for (size_t i = 0; i < json_array_size(me); i++) {
		r = match_expression(sel, json_array_get(me, i), path, i, err);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(sel);
	return 0;
}

bool selector_match_labels(const struct selector *sel, const json_t *labels)
{
	if (!sel)
		return true;
	for (size_t i = 0; i < sel->n; i++) {
		const json_t *v = json_object_get(labels, sel->reqs[i].key);

		if (!req_match(&sel->reqs[i], json_is_string(v) ? json_string_value(v) : NULL))
			return false;
	}
	return true;
}

/* ---- field selectors ---- */

/* Upstream's value escapes: "\\", "\," and "\=" stand for themselves. */
static int unescape_value(const char *s, size_t n, char **ret, struct err *err)
{
	cleanup_free char *out = xmalloc(n + 1);
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\') {
			if (i + 1 == n)
				return err_set(
					err, EINVAL,
					"invalid field selector: invalid escape sequence: \\");
			c = s[++i];
			if (c != '\\' && c != ',' && c != '=')
				return err_set(
					err, EINVAL,
					"invalid field selector: invalid escape sequence: \\%c", c);
		} else if (c == ',' || c == '=') {
			return err_set(err, EINVAL,
				       "invalid field selector: unescaped character in value: %d",
				       c);
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

static bool field_allowed(const char *f, size_t n, const char *const *allowed)
{
	static const char *const always[] = {"metadata.name", "metadata.namespace", NULL};
	const char *const *lists[2] = {always, allowed};

	for (size_t l = 0; l < 2; l++)
		for (const char *const *a = lists[l]; a && *a; a++)
			if (strlen(*a) == n && strncmp(*a, f, n) == 0)
				return true;
	return false;
}

static int parse_field_term(struct selector *sel, const char *text, const char *t, size_t n,
			    struct err *err)
{
	cleanup_free char *value = NULL;
	size_t at = 0, oplen = 0;
	enum sel_op op = SEL_EQ;
	int r;

	/* the field name has no escapes: the first operator splits the term */
	for (at = 0; at < n; at++) {
		if (at + 1 < n && t[at] == '!' && t[at + 1] == '=') {
			op = SEL_NE;
			oplen = 2;
		} else if (at + 1 < n && t[at] == '=' && t[at + 1] == '=') {
			oplen = 2;
		} else if (t[at] == '=') {
			oplen = 1;
		}
		if (oplen)
			break;
	}
	if (!oplen)
		return err_set(err, EINVAL, "invalid selector: '%s'; can't understand '%.*s'", text,
			       (int)n, t);
	r = unescape_value(t + at + oplen, n - at - oplen, &value, err);
	if (r < 0)
		return r;
	sel->reqs = xrealloc(sel->reqs, (sel->n + 1) * sizeof(*sel->reqs));
	memset(&sel->reqs[sel->n], 0, sizeof(sel->reqs[0]));
	sel->reqs[sel->n].key = xstrndup(t, at);
	sel->reqs[sel->n].op = op;
	req_add_value(&sel->reqs[sel->n], value);
	sel->n++;
	return 0;
}

int selector_parse_fields(const char *text, const char *const *allowed, struct selector **ret,
			  struct err *err)
{
	cleanup_selector struct selector *sel = xcalloc(1, sizeof(*sel));
	const char *s = text ? text : "";
	const char *start = s;
	bool escaped = false;

	for (const char *c = s;; c++) {
		int r;

		if (*c && escaped) {
			escaped = false;
			continue;
		}
		if (*c == '\\') {
			escaped = true;
			continue;
		}
		if (*c && *c != ',')
			continue;
		if (c > start) {
			r = parse_field_term(sel, s, start, (size_t)(c - start), err);
			if (r < 0)
				return r;
		}
		if (!*c)
			break;
		start = c + 1;
	}
	/* as upstream, the syntax of every term is checked before any field name */
	for (size_t i = 0; i < sel->n; i++)
		if (!field_allowed(sel->reqs[i].key, strlen(sel->reqs[i].key), allowed))
			return err_set(err, EINVAL, "field label not supported: %s",
				       sel->reqs[i].key);
	*ret = TAKE_PTR(sel);
	return 0;
}

bool selector_match_fields(const struct selector *sel, selector_field_fn get, void *ctx)
{
	if (!sel)
		return true;
	for (size_t i = 0; i < sel->n; i++) {
		const char *v = get(ctx, sel->reqs[i].key);

		if (!req_match(&sel->reqs[i], v ? v : ""))
			return false;
	}
	return true;
}

const char *selector_exact(const struct selector *sel, const char *field)
{
	if (!sel)
		return NULL;
	for (size_t i = 0; i < sel->n; i++)
		if (sel->reqs[i].op == SEL_EQ && strcmp(sel->reqs[i].key, field) == 0)
			return sel->reqs[i].values[0];
	return NULL;
}

bool selector_empty(const struct selector *sel)
{
	return !sel || sel->n == 0;
}
