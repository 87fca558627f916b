/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The type schema of the served resources (types.def, compiled in): strict field and type
 * checks of request bodies, the patch metadata strategic merge patch follows, and the
 * OpenAPI v2 and v3 documents kubectl reads for apply, edit and explain. Type names are
 * upstream's definition names ("io.k8s.api.apps.v1.Deployment"). The schema is parsed once,
 * on first use, and is safe to use from any thread.
 */
#ifndef SKIFF_CLUSTER_API_SCHEMA_H
#define SKIFF_CLUSTER_API_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>

struct api_resource;
struct causes;
struct patch_field;

/* The definition name of the kind @r serves ("io.k8s.api.core.v1.Pod"), or NULL. */
const char *schema_type_of(const struct api_resource *r);

/* True when @type names a type of the schema. */
bool schema_has_type(const char *type);

/*
 * Checks that @obj decodes as @type and appends a cause for each field that would not:
 * CAUSE_TYPE_INVALID for a value of the wrong JSON type, CAUSE_INVALID for a malformed
 * quantity, time, base64 string or out-of-range int32, and, with @strict, CAUSE_UNKNOWN_FIELD
 * (message 'unknown field "spec.foo"') for each field the type does not have. Callers in
 * fieldValidation=Warn mode pass @strict and turn CAUSE_UNKNOWN_FIELD causes into warnings.
 * Field paths read like "spec.template.spec.containers[0].image"; null values are accepted
 * anywhere, as upstream's decoder does. An unknown @type adds nothing.
 */
void schema_check(const char *type, const json_t *obj, bool strict, struct causes *out);
/*
 * schema_check() of an update of @old (a tree of the stored object): parts of @obj that
 * are @old's own values, which a patch shares with the object it changes, are not checked
 * again. Equal copies are.
 */
void schema_check_update(const char *type, const json_t *obj, const json_t *old, bool strict,
			 struct causes *out);

/*
 * How @field of @type merges in a strategic merge patch (a patch_lookup_fn; @ctx unused).
 * False when the type or field is unknown.
 */
bool schema_patch_lookup(void *ctx, const char *type, const char *field, struct patch_field *ret);

/*
 * The OpenAPI documents, built once and shared: each call returns a new reference to a
 * document the caller must not modify.
 *   schema_openapi_v2()        Swagger 2.0, served at /openapi/v2
 *   schema_openapi_v3_index()  {"paths": {"api/v1": {"serverRelativeURL": ...}, ...}},
 *                              served at /openapi/v3
 *   schema_openapi_v3(gv)      OpenAPI 3.0 of one group-version, @gv as in the index
 *                              ("api/v1", "apis/apps/v1"), or NULL when not served
 * The hash in each serverRelativeURL is the sha256 of schema_openapi_dump()'s text of that
 * document, so a server that answers with that text can let clients cache it for good.
 */
json_t *schema_openapi_v2(void);
json_t *schema_openapi_v3_index(void);
json_t *schema_openapi_v3(const char *gv_path);

/* The serialized form of an OpenAPI document (compact, sorted keys); heap string. */
char *schema_openapi_dump(const json_t *doc);

#endif
