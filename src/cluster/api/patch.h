/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The three PATCH formats of the Kubernetes API, on jansson documents:
 *   application/merge-patch+json            RFC 7386 JSON merge patch
 *   application/json-patch+json             RFC 6902 JSON patch (with RFC 6901 pointers)
 *   application/strategic-merge-patch+json  strategic merge patch: lists merge by a key
 *     (containers by name, ports by containerPort ...) as the schema declares, with the
 *     directives $patch (replace, merge, delete), $retainKeys, $deleteFromPrimitiveList/
 *     and $setElementOrder/.
 * All return a new document and leave their inputs untouched; errors name the operation
 * or path at fault (EINVAL for a malformed patch; patch_json also ENOENT for a missing
 * path and ECANCELED for a "test" that fails).
 *
 * Upstream's API server answers every failure to apply a patch with 422 (a patch it cannot
 * decode with 400), so callers map these codes themselves rather than through the generic
 * ENOENT -> 404 table.
 */
#ifndef SKIFF_CLUSTER_API_PATCH_H
#define SKIFF_CLUSTER_API_PATCH_H

#include <jansson.h>
#include <stdbool.h>

struct err;

/* RFC 7386; @doc may be NULL (no document yet). Fails only for a NULL @patch. */
int patch_merge(const json_t *doc, const json_t *patch, json_t **ret, struct err *err);
/*
 * patch_merge() taking @patch (released, also on failure): its values move into the result
 * instead of being copied, so the result shares nothing with anyone.
 */
int patch_merge_take(const json_t *doc, json_t *patch, json_t **ret, struct err *err);
/*
 * patch_merge_take() copying nothing of @doc: the result's objects along the patch's paths,
 * its top level and its "metadata" are its own, and every other value is @doc's own,
 * shared. For a caller that reads the result, changes it only where the patch went or in
 * members of those objects, and keeps @doc as it is.
 */
int patch_merge_shared(const json_t *doc, json_t *patch, json_t **ret, struct err *err);

/*
 * RFC 6902, atomically: the first failing operation fails the whole patch. Messages name
 * the operation by its 0-based index and op ("json patch operation 2 (replace): path
 * /spec/foo does not exist"). ENOENT: a path or "from" that does not exist (or an array
 * index past the end); ECANCELED: a "test" that does not hold; EINVAL: anything malformed
 * (not an array, unknown op, missing member, bad pointer or index, move into a child,
 * removing the whole document).
 */
int patch_json(const json_t *doc, const json_t *patch, json_t **ret, struct err *err);

/* How a field of a schema type merges, for strategic merge patch. */
enum patch_strategy {
	PATCH_REPLACE = 0,           /* lists are replaced as a whole (the default) */
	PATCH_MERGE = 1u << 0,       /* lists merge: by merge_key for objects, as a set otherwise */
	PATCH_RETAIN_KEYS = 1u << 1, /* unions: keys absent from $retainKeys are cleared */
};

struct patch_field {
	const char *type;      /* schema type of the field's value, or of a list's or map's
				  elements; NULL when unknown or a primitive */
	const char *merge_key; /* list of objects merged by this key, or NULL */
	unsigned strategy;     /* enum patch_strategy */
	bool is_list;
	bool is_map; /* map[string]T: values are of @type */
};

/*
 * Looks up @field of schema type @type; returns false when the type or field is unknown
 * (the field then merges as a plain JSON merge patch would).
 */
typedef bool (*patch_lookup_fn)(void *ctx, const char *type, const char *field,
				struct patch_field *ret);

/*
 * Strategic merge patch of @doc (of schema type @type, e.g. "io.k8s.api.apps.v1.Deployment")
 * with @patch. With @lookup NULL every list is replaced, as in a JSON merge patch.
 *
 * Follows apimachinery's strategicpatch where the documents and its code differ: merged
 * lists are ordered as its code orders them (patch items in patch or $setElementOrder
 * order, server-only items slotted in where the live list had them before a patch item,
 * so a brand-new item lands first unless $setElementOrder places it), and "$patch: delete"
 * on an existing map leaves {} where the map was. $retainKeys is honoured wherever it
 * appears, whatever the field's strategy. No directive key is left in the result. EINVAL
 * for every malformed patch; the message names the field path
 * ("apply strategic merge patch: spec.template.spec.containers[0]: does not contain the
 * merge key 'name'").
 */
int patch_strategic(const json_t *doc, const json_t *patch, const char *type,
		    patch_lookup_fn lookup, void *ctx, json_t **ret, struct err *err);

#endif
