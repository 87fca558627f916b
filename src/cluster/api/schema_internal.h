/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parsed form of types.def, shared by the checks and patch metadata (schema.c) and the
 * OpenAPI documents (openapi.c). Everything here lives as long as the process.
 */
#ifndef SKIFF_CLUSTER_API_SCHEMA_INTERNAL_H
#define SKIFF_CLUSTER_API_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

enum schema_kind {
	SK_STRING,
	SK_INT32,
	SK_INT64,
	SK_NUMBER,
	SK_BOOLEAN,
	SK_BYTE,          /* base64 string */
	SK_DATE_TIME,     /* RFC 3339 string */
	SK_INT_OR_STRING, /* intstr.IntOrString */
	SK_QUANTITY,      /* resource.Quantity: string or number */
	SK_ANY,           /* any JSON value (RawExtension, FieldsV1) */
	SK_REF,           /* a named type */
	SK_ARRAY,
	SK_MAP, /* map[string]elem */
};

struct schema_def;

struct schema_texpr {
	enum schema_kind kind;
	const struct schema_def *def;    /* SK_REF */
	const struct schema_texpr *elem; /* SK_ARRAY, SK_MAP */
};

enum schema_field_flags {
	SF_REQUIRED = 1u << 0,
	SF_MERGE = 1u << 1,       /* x-kubernetes-patch-strategy merge */
	SF_RETAIN_KEYS = 1u << 2, /* x-kubernetes-patch-strategy retainKeys */
};

struct schema_field {
	const char *name;
	const struct schema_texpr *type;
	unsigned flags;        /* enum schema_field_flags */
	const char *merge_key; /* x-kubernetes-patch-merge-key, or NULL */
	const char *list_type; /* x-kubernetes-list-type, or NULL */
	const char *list_keys; /* x-kubernetes-list-map-keys, comma-separated, or NULL */
	const char *map_type;  /* x-kubernetes-map-type, or NULL */
	const char *desc;      /* or NULL */
};

struct schema_gvk {
	const char *group; /* "" for the core group */
	const char *version;
	const char *kind;
};

struct schema_def {
	const char *name;
	bool is_alias;                     /* a primitive under a name (Time, Quantity ...) */
	enum schema_kind alias_kind;       /* when is_alias */
	const struct schema_field *fields; /* sorted by name */
	size_t nfields;
	const struct schema_gvk *gvks;
	size_t ngvks;
	const char *map_type; /* x-kubernetes-map-type of the type, or NULL */
	const char *desc;     /* or NULL */
};

struct schema_model {
	const struct schema_def *defs; /* sorted by name */
	size_t ndefs;
};

/* The parsed schema (parsed on first call). */
const struct schema_model *schema_model(void);
const struct schema_def *schema_def_find(const char *name);
const struct schema_field *schema_field_find(const struct schema_def *def, const char *name);

#endif
