/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The resource types the API server serves: group, version, kind, names, scope and
 * subresources as upstream Kubernetes publishes them. Discovery, routing, the OpenAPI
 * documents, defaulting, validation and table printing all key on this one table.
 */
#ifndef SKIFF_CLUSTER_API_RESOURCES_H
#define SKIFF_CLUSTER_API_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>

enum api_sub {
	API_SUB_STATUS = 1u << 0,
	API_SUB_SCALE = 1u << 1,
	API_SUB_BINDING = 1u << 2,  /* pods/binding */
	API_SUB_EVICTION = 1u << 3, /* pods/eviction */
	API_SUB_LOG = 1u << 4,      /* pods/log */
	API_SUB_EXEC = 1u << 5,     /* pods/exec, attach, portforward */
	API_SUB_FINALIZE = 1u << 6, /* namespaces/finalize */
	API_SUB_TOKEN = 1u << 7,    /* serviceaccounts/token */
	API_SUB_PROXY = 1u << 8,    /* pods/proxy, services/proxy, nodes/proxy */
};

enum api_flags {
	API_CLUSTER = 1u << 0,    /* cluster-scoped (no namespace) */
	API_VIRTUAL = 1u << 1,    /* create-only, answered without storing (reviews, bindings) */
	API_GENERATION = 1u << 2, /* metadata.generation counts changes outside metadata/status */
};

struct api_resource {
	const char *group;       /* "" for the core group */
	const char *version;     /* "v1" */
	const char *api_version; /* "apps/v1", "v1" */
	const char *kind;        /* "Pod" */
	const char *plural;      /* "pods" */
	const char *singular;    /* "pod" */
	const char *short_names; /* comma-separated ("po"), or NULL */
	const char *categories;  /* comma-separated ("all"), or NULL */
	unsigned flags;          /* enum api_flags */
	unsigned subresources;   /* enum api_sub */
	/* field selectors beyond metadata.name and metadata.namespace, NULL-terminated */
	const char *const *fields;
};

extern const struct api_resource api_resources[];
extern const size_t api_nresources;

/* The resource with this group, version and plural name, or NULL. */
const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *plural);

/* The resource of this group and kind, or NULL (apiVersion "apps/v1" + kind "Deployment"). */
const struct api_resource *api_resource_by_kind(const char *api_version, const char *kind);

/* "apps/v1" or "v1": the apiVersion objects of @r carry. */
const char *api_resource_api_version(const struct api_resource *r);

static inline bool api_namespaced(const struct api_resource *r)
{
	return !(r->flags & API_CLUSTER);
}

#endif
