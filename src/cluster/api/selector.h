/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Label and field selectors as the Kubernetes API takes them.
 *
 * Label selectors (the labelSelector query parameter): comma-separated requirements
 * "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)", "k" (exists), "!k" (does not
 * exist), and upstream's "k>5"/"k<5" (integer comparison), keys with an optional
 * DNS-subdomain prefix ("app.kubernetes.io/name"), values valid label values; and the
 * LabelSelector object (matchLabels, matchExpressions with In, NotIn, Exists,
 * DoesNotExist) of deployments, services' selectors and so on. "!=" and "notin" also
 * match objects without the label, as upstream.
 *
 * Field selectors (fieldSelector): "f=v", "f==v", "f!=v" joined by commas; the caller
 * says which fields a resource supports.
 */
#ifndef SKIFF_CLUSTER_API_SELECTOR_H
#define SKIFF_CLUSTER_API_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

struct err;
struct selector;

/* Parses a labelSelector string; "" selects everything. EINVAL names the bad part. */
int selector_parse_labels(const char *text, struct selector **ret, struct err *err);

/*
 * Parses a LabelSelector object; @path names it in errors ("spec.selector"). NULL or {}
 * selects everything (callers that must refuse an empty selector check themselves).
 */
int selector_from_json(const json_t *obj, const char *path, struct selector **ret, struct err *err);

/* Whether a labels object (NULL: no labels) satisfies the selector (NULL: everything). */
bool selector_match_labels(const struct selector *sel, const json_t *labels);

/*
 * Parses a fieldSelector; every field must be one of @allowed (NULL-terminated) or
 * "metadata.name"/"metadata.namespace", else EINVAL with upstream's message
 * ("field label not supported: spec.foo").
 */
int selector_parse_fields(const char *text, const char *const *allowed, struct selector **ret,
			  struct err *err);

/* @get returns the value of a field for the object at hand (NULL: empty string). */
typedef const char *(*selector_field_fn)(void *ctx, const char *field);
bool selector_match_fields(const struct selector *sel, selector_field_fn get, void *ctx);

/*
 * The value of an exact "field=value" (or "k=v", "k==v", matchLabels) requirement on
 * @field, if the selector has one; borrowed from @sel.
 */
const char *selector_exact(const struct selector *sel, const char *field);

bool selector_empty(const struct selector *sel);
void selector_free(struct selector *sel);

/* Whether @s is a valid label value / qualified key; on false @why says why. */
bool label_value_valid(const char *s, const char **why);
bool label_key_valid(const char *s, const char **why);

#endif
