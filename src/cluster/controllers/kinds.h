/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kinds the API server serves, learned from its discovery documents (/api, /apis) as
 * upstream's garbage collector and namespace controller learn them, so that neither keeps
 * its own list: which collections to watch, which to empty in a namespace, and where an
 * owner reference's apiVersion and kind live. Private to src/cluster/controllers/.
 */
#ifndef SKIFF_CLUSTER_CONTROLLERS_KINDS_H
#define SKIFF_CLUSTER_CONTROLLERS_KINDS_H

#include <stdbool.h>
#include <stddef.h>

struct err;
struct kc;

struct ctl_kind {
	char *api_version; /* "v1", "apps/v1" */
	char *kind;        /* "ReplicaSet" */
	char *plural;      /* "replicasets" */
	bool namespaced;
	bool watchable;  /* list, watch and delete: what the garbage collector follows */
	bool collection; /* deletecollection: what namespace deletion empties */
};

struct ctl_kinds {
	struct ctl_kind *v;
	size_t n;
};

/* Reads the preferred version of every group; subresources are left out. */
int ctl_kinds_discover(struct kc *c, struct ctl_kinds *ret, struct err *err);
void ctl_kinds_done(struct ctl_kinds *k);
/* The kind of @api_version and @kind, or NULL when the server does not serve it. */
const struct ctl_kind *ctl_kinds_find(const struct ctl_kinds *k, const char *api_version,
				      const char *kind);
/*
 * The path of an object (@name) or of a collection (@name NULL) of @k: @ns is used for
 * namespaced kinds only (NULL: across namespaces). Heap string.
 */
char *ctl_kind_path(const struct ctl_kind *k, const char *ns, const char *name);

#endif
