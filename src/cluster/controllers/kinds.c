/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery for the controllers that act on every kind (kinds.h): the core group's
 * versions from /api, the other groups' preferred versions from /apis, and each version's
 * APIResourceList.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/client/client.h"
#include "cluster/controllers/kinds.h"

static int get_doc(struct kc *c, const char *path, json_t **ret, struct err *err)
{
	json_t *doc = NULL;
	int code = kc_request(c, "GET", path, NULL, NULL, &doc, err);

	if (code < 0)
		return err_wrap(err, "discover '%s'", path);
	if (code != 200) {
		json_decref(doc);
		if (err->code)
			return err_wrap(err, "discover '%s'", path);
		return err_set(err, EPROTO, "discover '%s': status %d", path, code);
	}
	*ret = doc;
	return 0;
}

static bool has_verb(const json_t *verbs, const char *verb)
{
	const json_t *v;
	size_t i;

	json_array_foreach (verbs, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), verb) == 0)
			return true;
	return false;
}

static void add_version(struct ctl_kinds *k, const json_t *list)
{
	const char *gv = json_string_value(json_object_get(list, "groupVersion"));
	const json_t *r;
	size_t i;

	if (!gv)
		return;
	json_array_foreach (json_object_get(list, "resources"), i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *kind = json_string_value(json_object_get(r, "kind"));
		const json_t *verbs = json_object_get(r, "verbs");
		struct ctl_kind *e;

		if (!name || !kind || strchr(name, '/'))
			continue;
		k->v = xrealloc(k->v, (k->n + 1) * sizeof(*k->v));
		e = &k->v[k->n++];
		e->api_version = xstrdup(gv);
		e->kind = xstrdup(kind);
		e->plural = xstrdup(name);
		e->namespaced = json_is_true(json_object_get(r, "namespaced"));
		e->watchable = has_verb(verbs, "list") && has_verb(verbs, "watch") &&
			       has_verb(verbs, "delete");
		e->collection = has_verb(verbs, "deletecollection");
	}
}

static int read_version(struct kc *c, struct ctl_kinds *k, const char *prefix, const char *gv,
			struct err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", prefix, gv);
	cleanup_json json_t *list = NULL;

	if (get_doc(c, path, &list, err) < 0)
		return -err->code;
	add_version(k, list);
	return 0;
}

int ctl_kinds_discover(struct kc *c, struct ctl_kinds *ret, struct err *err)
{
	struct ctl_kinds k = {0};
	cleanup_json json_t *core = NULL, *groups = NULL;
	const json_t *v;
	size_t i;

	if (get_doc(c, "/api", &core, err) < 0 || get_doc(c, "/apis", &groups, err) < 0)
		return -err->code;
	json_array_foreach (json_object_get(core, "versions"), i, v) {
		if (json_is_string(v) && read_version(c, &k, "/api", json_string_value(v), err) < 0)
			goto fail;
	}
	json_array_foreach (json_object_get(groups, "groups"), i, v) {
		const json_t *pref = json_object_get(v, "preferredVersion");
		const char *gv = json_string_value(json_object_get(pref, "groupVersion"));

		if (gv && read_version(c, &k, "/apis", gv, err) < 0)
			goto fail;
	}
	*ret = k;
	return 0;
fail:
	ctl_kinds_done(&k);
	return -err->code;
}

void ctl_kinds_done(struct ctl_kinds *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].api_version);
		free(k->v[i].kind);
		free(k->v[i].plural);
	}
	free(k->v);
	k->v = NULL;
	k->n = 0;
}

const struct ctl_kind *ctl_kinds_find(const struct ctl_kinds *k, const char *api_version,
				      const char *kind)
{
	if (!api_version || !kind)
		return NULL;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->v[i].api_version, api_version) == 0 &&
		    strcmp(k->v[i].kind, kind) == 0)
			return &k->v[i];
	return NULL;
}

char *ctl_kind_path(const struct ctl_kind *k, const char *ns, const char *name)
{
	const char *root = strchr(k->api_version, '/') ? "/apis" : "/api";
	cleanup_free char *scope =
		k->namespaced && ns ? xasprintf("/namespaces/%s", ns) : xstrdup("");

	if (name)
		return xasprintf("%s/%s%s/%s/%s", root, k->api_version, scope, k->plural, name);
	return xasprintf("%s/%s%s/%s", root, k->api_version, scope, k->plural);
}
