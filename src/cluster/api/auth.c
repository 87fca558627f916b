/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may do what. Bearer tokens only: the admin token (the kubeconfig's), node
 * credentials derived from the join token ("skiff-node:NAME:HMAC" with HMAC-SHA256 of
 * the name under the join token, so an agent computes its own), and service-account
 * tokens (JWTs signed with HMAC-SHA256 under the server's key, valid while they have not
 * expired and their service account exists with the uid they name).
 * Anonymous requests get 401. The admin may do anything; a node may read what its pods
 * need and write only its own Node and Lease, pods' status and events, as upstream's Node
 * authorizer allows; service accounts have no grants (there are no RBAC objects yet), so
 * they may only discover the API and review themselves (403 otherwise).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nettle/hmac.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "cluster/api/auth.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"

/* Hex HMAC-SHA256 of @what under @key. */
static void hmac_hex(const char *key, const char *what, char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
	hmac_sha256_update(&ctx, strlen(what), (const uint8_t *)what);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	/* every request of a node checks its credential: no printf per byte */
	for (size_t i = 0; i < sizeof(digest); i++) {
		hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
	}
	hex[2 * sizeof(digest)] = '\0';
}

char *api_node_credential(const char *join_token, const char *node)
{
	char hex[2 * SHA256_DIGEST_SIZE + 1];

	hmac_hex(join_token, node, hex);
	return xasprintf("skiff-node:%s:%s", node, hex);
}

char *api_kubelet_client_credential(const char *join_token)
{
	char hex[2 * SHA256_DIGEST_SIZE + 1];

	/* a node name cannot contain '/', so this never equals a node's credential */
	hmac_hex(join_token, "kubelet-client/api-server", hex);
	return xasprintf("skiff-kubelet-client:%s", hex);
}

/* Constant-time comparison: a token's prefix must not be guessable from timing. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

#define SA_ISSUER "https://kubernetes.default.svc.cluster.local"

static char *sign(const char *key, const char *data)
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];

	hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
	hmac_sha256_update(&ctx, strlen(data), (const uint8_t *)data);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	return b64_encode(digest, sizeof(digest), true);
}

char *api_sa_token(const char *key, const char *ns, const char *name, const char *uid,
		   int64_t expires, const json_t *audiences)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	int64_t now = time(NULL);
	cleanup_json json_t *claims =
		json_pack("{s:s, s:s, s:O, s:I, s:I, s:I, s:{s:s, s:{s:s, s:s}}}", "iss", SA_ISSUER,
			  "sub", "", "aud", audiences, "iat", (json_int_t)now, "nbf",
			  (json_int_t)now, "exp", (json_int_t)expires, "kubernetes.io", "namespace",
			  ns, "serviceaccount", "name", name, "uid", uid);
	cleanup_free char *sub = xasprintf("system:serviceaccount:%s:%s", ns, name);
	cleanup_free char *payload = NULL;
	cleanup_free char *h64 = b64_encode(header, sizeof(header) - 1, true);
	cleanup_free char *p64 = NULL;
	cleanup_free char *signing = NULL;
	cleanup_free char *sig = NULL;

	json_object_set_new(claims, "sub", json_string(sub));
	payload = jdump_s(claims, JSON_COMPACT);
	p64 = b64_encode(payload, strlen(payload), true);
	signing = xasprintf("%s.%s", h64, p64);
	sig = sign(key, signing);
	return xasprintf("%s.%s", signing, sig);
}

/* A service-account token: signature, expiry, and the account it names still there. */
static int sa_authenticate(struct api *api, const char *tok, struct api_user *user)
{
	const char *dot1 = strchr(tok, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	cleanup_free char *signing = NULL;
	cleanup_free char *want = NULL;
	cleanup_free char *payload = NULL;
	cleanup_json json_t *claims = NULL;
	const struct api_resource *sar = api_resource_find("", "v1", "serviceaccounts");
	const char *ns, *name, *uid;
	json_t *k8s;
	size_t n;
	struct api_obj *o;
	cleanup_free char *key = NULL;
	static __thread char uname[512], group[300];

	if (!api->cfg.sa_key || !dot1 || !dot2 || strchr(dot2 + 1, '.'))
		return -EACCES;
	signing = xstrndup(tok, (size_t)(dot2 - tok));
	want = sign(api->cfg.sa_key, signing);
	if (!same(dot2 + 1, want))
		return -EACCES;
	{
		cleanup_free char *p64 = xstrndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));

		payload = b64_decode(p64, &n);
	}
	claims = payload ? jload_b(payload, n, 0, NULL) : NULL;
	if (!json_is_object(claims) ||
	    json_integer_value(json_object_get(claims, "exp")) <= (json_int_t)time(NULL))
		return -EACCES;
	k8s = json_object_get(claims, "kubernetes.io");
	ns = json_string_value(json_object_get(k8s, "namespace"));
	name = json_string_value(json_object_get(json_object_get(k8s, "serviceaccount"), "name"));
	uid = json_string_value(json_object_get(json_object_get(k8s, "serviceaccount"), "uid"));
	if (!ns || !name || !uid)
		return -EACCES;
	key = api_key(sar, ns, name);
	o = cache_get(api->cache, key);
	if (!o || strcmp(o->uid, uid) != 0) {
		api_obj_unref(o);
		return -EACCES;
	}
	api_obj_unref(o);
	snprintf(uname, sizeof(uname), "system:serviceaccount:%s:%s", ns, name);
	snprintf(group, sizeof(group), "system:serviceaccounts:%s", ns);
	user->name = uname;
	user->groups[0] = "system:serviceaccounts";
	user->groups[1] = group;
	user->groups[2] = "system:authenticated";
	return 0;
}

int api_authenticate(struct api *api, struct http_request *req, struct api_user *user)
{
	const char *h = http_header(req, "Authorization");
	const char *tok;

	memset(user, 0, sizeof(*user));
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return -EACCES;
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	if (api->cfg.admin_token && *api->cfg.admin_token && same(tok, api->cfg.admin_token)) {
		user->name = "admin";
		user->groups[0] = "system:masters";
		user->groups[1] = "system:authenticated";
		user->admin = true;
		return 0;
	}
	if (api->cfg.node_token && *api->cfg.node_token && strncmp(tok, "skiff-node:", 11) == 0) {
		const char *name = tok + 11, *colon = strchr(name, ':');
		char node[254];

		if (!colon || (size_t)(colon - name) >= sizeof(node) || colon == name)
			return -EACCES;
		memcpy(node, name, (size_t)(colon - name));
		node[colon - name] = '\0';
		{
			cleanup_free char *want = api_node_credential(api->cfg.node_token, node);

			if (!same(tok, want))
				return -EACCES;
		}
		/* the strings live as long as the request: keep them in the thread */
		static __thread char uname[300], nname[254];

		snprintf(uname, sizeof(uname), "system:node:%s", node);
		snprintf(nname, sizeof(nname), "%s", node);
		user->name = uname;
		user->node = nname;
		user->groups[0] = "system:nodes";
		user->groups[1] = "system:authenticated";
		return 0;
	}
	return sa_authenticate(api, tok, user);
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

static bool reading(const char *verb)
{
	return is(verb, "get") || is(verb, "list") || is(verb, "watch");
}

bool api_authorize(struct api *api, const struct api_user *user, const char *verb,
		   const struct api_resource *r, const char *sub, const char *ns, const char *name)
{
	(void)api;
	if (user->admin)
		return true;
	if (!r)
		return reading(verb);
	if (r->flags & API_VIRTUAL && strncmp(r->kind, "SelfSubject", 11) == 0)
		return true;
	if (!user->node)
		return false;

	/* a node */
	if (is(r->kind, "Node")) {
		if (reading(verb))
			return true;
		return (is(verb, "create") && !name) || is(name, user->node);
	}
	if (is(r->kind, "Lease"))
		return is(ns, "kube-node-lease") &&
		       (reading(verb) || is(verb, "create") || is(name, user->node));
	if (is(r->kind, "Pod")) {
		if (reading(verb) && !sub)
			return true;
		if (is(sub, "status"))
			return is(verb, "update") || is(verb, "patch") || is(verb, "get");
		return is(verb, "delete") && !sub;
	}
	if (is(r->kind, "Event"))
		return reading(verb) || is(verb, "create") || is(verb, "update") ||
		       is(verb, "patch");
	/* projected service-account tokens for the pods it runs */
	if (is(r->kind, "ServiceAccount"))
		return (reading(verb) && !sub) || (is(sub, "token") && is(verb, "create"));
	/* the local-path provisioner: volumes made on the node, claims bound to them */
	if (is(r->kind, "PersistentVolume"))
		return reading(verb) || is(verb, "create") || is(verb, "update") ||
		       is(verb, "patch") || is(verb, "delete");
	if (is(r->kind, "PersistentVolumeClaim"))
		return reading(verb) || is(verb, "update") || is(verb, "patch");
	if (is(r->kind, "ConfigMap") || is(r->kind, "Secret") || is(r->kind, "Service") ||
	    is(r->kind, "Endpoints") || is(r->kind, "EndpointSlice") || is(r->kind, "Namespace"))
		return reading(verb);
	return false;
}
