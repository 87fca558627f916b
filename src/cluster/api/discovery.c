/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The documents clients read before anything else: /version, the legacy discovery
 * documents (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION), the OpenAPI v2
 * and v3 documents, health checks and metrics. The aggregated discovery form kubectl
 * asks for first is answered with the legacy form, which kubectl accepts as a fallback.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/version.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"
#include "cluster/api/schema.h"

#define KUBE_VERSION_MINOR "32"

static json_t *version_doc(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor",
			 KUBE_VERSION_MINOR, "gitVersion", "v1." KUBE_VERSION_MINOR ".0+skiff",
			 "gitCommit", SKIFF_VERSION_STRING, "gitTreeState", "clean", "buildDate",
			 "1970-01-01T00:00:00Z", "goVersion", "none (C)", "compiler", "gcc",
			 "platform", "linux/amd64");
}

static json_t *verbs_of(const struct api_resource *r)
{
	if (r->flags & API_VIRTUAL)
		return json_pack("[s]", "create");
	return json_pack("[s,s,s,s,s,s,s,s]", "create", "delete", "deletecollection", "get", "list",
			 "patch", "update", "watch");
}

static json_t *split_list(const char *csv)
{
	json_t *a = json_array();
	const char *p = csv;

	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		json_array_append_new(a, json_stringn(p, n));
		p = c ? c + 1 : NULL;
	}
	return a;
}

static void add_sub(json_t *list, const struct api_resource *r, const char *sub, const char *group,
		    const char *version, const char *kind, json_t *verbs)
{
	json_t *e = json_pack("{s:s++, s:s, s:b, s:s, s:o}", "name", r->plural, "/", sub,
			      "singularName", "", "namespaced", api_namespaced(r), "kind", kind,
			      "verbs", verbs);

	if (group) {
		json_object_set_new(e, "group", json_string(group));
		json_object_set_new(e, "version", json_string(version));
	}
	json_array_append_new(list, e);
}

static json_t *resource_list(const char *group, const char *version)
{
	json_t *list = json_array();
	const char *gv = NULL;

	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		json_t *e;

		if (strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		gv = r->api_version;
		e = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->plural, "singularName",
			      r->singular, "namespaced", api_namespaced(r), "kind", r->kind,
			      "verbs", verbs_of(r));
		if (r->short_names)
			json_object_set_new(e, "shortNames", split_list(r->short_names));
		if (r->categories)
			json_object_set_new(e, "categories", split_list(r->categories));
		json_array_append_new(list, e);

		if (r->subresources & API_SUB_STATUS)
			add_sub(list, r, "status", NULL, NULL, r->kind,
				json_pack("[s,s,s]", "get", "patch", "update"));
		if (r->subresources & API_SUB_SCALE)
			add_sub(list, r, "scale", "autoscaling", "v1", "Scale",
				json_pack("[s,s,s]", "get", "patch", "update"));
		if (r->subresources & API_SUB_BINDING)
			add_sub(list, r, "binding", NULL, NULL, "Binding",
				json_pack("[s]", "create"));
		if (r->subresources & API_SUB_EVICTION)
			add_sub(list, r, "eviction", "policy", "v1", "Eviction",
				json_pack("[s]", "create"));
		if (r->subresources & API_SUB_LOG)
			add_sub(list, r, "log", NULL, NULL, r->kind, json_pack("[s]", "get"));
		if (r->subresources & API_SUB_EXEC) {
			add_sub(list, r, "exec", NULL, NULL, "PodExecOptions",
				json_pack("[s,s]", "create", "get"));
			add_sub(list, r, "attach", NULL, NULL, "PodAttachOptions",
				json_pack("[s,s]", "create", "get"));
			add_sub(list, r, "portforward", NULL, NULL, "PodPortForwardOptions",
				json_pack("[s,s]", "create", "get"));
		}
		if (r->subresources & API_SUB_FINALIZE)
			add_sub(list, r, "finalize", NULL, NULL, r->kind,
				json_pack("[s]", "update"));
		if (r->subresources & API_SUB_TOKEN)
			add_sub(list, r, "token", "authentication.k8s.io", "v1", "TokenRequest",
				json_pack("[s]", "create"));
	}
	if (!gv)
		return json_decref(list), NULL;
	return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
			 "groupVersion", gv, "resources", list);
}

static json_t *group_doc(const char *group)
{
	json_t *versions = json_array();
	const char *version = NULL;

	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (strcmp(r->group, group) != 0 || (version && strcmp(version, r->version) == 0))
			continue;
		version = r->version;
		json_array_append_new(versions, json_pack("{s:s, s:s}", "groupVersion",
							  r->api_version, "version", r->version));
	}
	if (!version)
		return json_decref(versions), NULL;
	return json_pack("{s:s, s:s, s:o, s:O}", "name", group, "kind", "APIGroup", "versions",
			 versions, "preferredVersion", json_array_get(versions, 0));
}

static json_t *groups_doc(void)
{
	json_t *groups = json_array();

	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		bool seen = false;

		if (!r->group[0])
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(api_resources[j].group, r->group) == 0)
				seen = true;
		if (!seen) {
			json_t *g = group_doc(r->group);

			json_object_del(g, "kind");
			json_array_append_new(groups, g);
		}
	}
	return json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
			 groups);
}

static void metrics(struct api *api, struct http_request *req)
{
	size_t cap = 4096, len = 0;
	char *out = xmalloc(cap);
	long rss_pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		long size;

		if (fscanf(f, "%ld %ld", &size, &rss_pages) != 2)
			rss_pages = 0;
		fclose(f);
	}
	len += (size_t)snprintf(out + len, cap - len,
				"# HELP apiserver_storage_objects Number of stored objects at the "
				"time of last check split by kind.\n"
				"# TYPE apiserver_storage_objects gauge\n");
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (r->flags & API_VIRTUAL)
			continue;
		if (len + 256 > cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		len += (size_t)snprintf(out + len, cap - len,
					"apiserver_storage_objects{resource=\"%s%s%s\"} %zu\n",
					r->plural, r->group[0] ? "." : "", r->group,
					cache_count(api->cache, r, NULL));
	}
	if (len + 512 > cap) {
		cap *= 2;
		out = xrealloc(out, cap);
	}
	len += (size_t)snprintf(
		out + len, cap - len,
		"# HELP etcd_current_revision The store's revision.\n"
		"# TYPE etcd_current_revision gauge\n"
		"etcd_current_revision %lld\n"
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %ld\n",
		(long long)cache_rev(api->cache), rss_pages * 4096);
	http_respond_take(req, 200, "text/plain; version=0.0.4; charset=utf-8", out, len);
}

/*
 * client-go asks for /openapi/v2 only as protobuf (gnostic's openapi_v2.Document), and
 * kubectl falls back to it only for kinds the v3 documents do not describe, which it then
 * validates against nothing. The answer is the smallest valid document: swagger (1) and
 * info (2) with title (1) and version (2); the full document is served as JSON.
 */
static void openapi_v2_protobuf(struct http_request *req)
{
	static const char title[] = "Kubernetes", version[] = "v1." KUBE_VERSION_MINOR ".0";
	char buf[64];
	size_t n = 0, info = 4 + sizeof(title) - 1 + sizeof(version) - 1;

	buf[n++] = 0x0a; /* field 1, length-delimited */
	buf[n++] = 3;
	memcpy(buf + n, "2.0", 3);
	n += 3;
	buf[n++] = 0x12; /* field 2 */
	buf[n++] = (char)info;
	buf[n++] = 0x0a;
	buf[n++] = (char)(sizeof(title) - 1);
	memcpy(buf + n, title, sizeof(title) - 1);
	n += sizeof(title) - 1;
	buf[n++] = 0x12;
	buf[n++] = (char)(sizeof(version) - 1);
	memcpy(buf + n, version, sizeof(version) - 1);
	n += sizeof(version) - 1;
	http_respond(req, 200, "application/octet-stream", buf, n);
}

bool api_public_path(const char *path)
{
	return strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0 ||
	       strcmp(path, "/readyz") == 0 || strcmp(path, "/version") == 0 ||
	       strcmp(path, "/version/") == 0;
}

bool api_discovery(struct api *api, struct http_request *req, const char *path)
{
	cleanup_json json_t *doc = NULL;
	char group[128], version[32];

	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0 ||
	    strcmp(path, "/readyz") == 0) {
		http_respond(req, 200, "text/plain; charset=utf-8", "ok", 2);
		return true;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics(api, req);
		return true;
	}
	if (strcmp(path, "/version") == 0 || strcmp(path, "/version/") == 0)
		doc = version_doc();
	else if (strcmp(path, "/api") == 0 || strcmp(path, "/api/") == 0)
		doc = json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions",
				"v1", "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
				"serverAddress", api->cfg.advertise_address ?: "127.0.0.1");
	else if (strcmp(path, "/api/v1") == 0 || strcmp(path, "/api/v1/") == 0)
		doc = resource_list("", "v1");
	else if (strcmp(path, "/apis") == 0 || strcmp(path, "/apis/") == 0)
		doc = groups_doc();
	else if (strcmp(path, "/openapi/v2") == 0) {
		const char *accept = http_header(req, "Accept");

		if (accept && strstr(accept, "protobuf")) {
			openapi_v2_protobuf(req);
			return true;
		}
		doc = schema_openapi_v2();
	} else if (strcmp(path, "/openapi/v3") == 0 || strcmp(path, "/openapi/v3/") == 0)
		doc = schema_openapi_v3_index();
	else if (strncmp(path, "/openapi/v3/", 12) == 0) {
		doc = schema_openapi_v3(path + 12);
		if (!doc) {
			api_reply_status(req, 404, "NotFound",
					 "the server could not find the "
					 "requested resource");
			return true;
		}
	} else if (sscanf(path, "/apis/%127[^/]/%31[^/]", group, version) == 2 &&
		   strchr(path + 6, '/') && !strchr(strchr(path + 6, '/') + 1, '/'))
		doc = resource_list(group, version);
	else if (sscanf(path, "/apis/%127[^/]", group) == 1 && !strchr(path + 6, '/'))
		doc = group_doc(group);
	else
		return false;
	if (!doc) {
		api_reply_status(req, 404, "NotFound",
				 "the server could not find the requested resource");
		return true;
	}
	if (strncmp(path, "/openapi/", 9) == 0) {
		char *s = schema_openapi_dump(doc);

		http_respond_take(req, 200, "application/json", s, strlen(s));
		return true;
	}
	api_reply_json(req, 200, doc);
	return true;
}
