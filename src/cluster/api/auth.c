/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who may do what. Bearer tokens only: the admin token (the kubeconfig's), node
 * credentials derived from the join token ("skiff-node:NAME:HMAC" with HMAC-SHA256 of
 * the name under the join token, so an agent computes its own), nothing else yet.
 * Anonymous requests get 401. The admin may do anything; a node may read what its pods
 * need and write only its own Node and Lease, pods' status and events, as upstream's Node
 * authorizer allows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nettle/hmac.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/api/auth.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"

char *api_node_credential(const char *join_token, const char *node)
{
	struct hmac_sha256_ctx ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];

	hmac_sha256_set_key(&ctx, strlen(join_token), (const uint8_t *)join_token);
	hmac_sha256_update(&ctx, strlen(node), (const uint8_t *)node);
	hmac_sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return xasprintf("skiff-node:%s:%s", node, hex);
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
	return -EACCES;
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
		return is(verb, "create") || is(verb, "update") || is(verb, "patch");
	if (is(r->kind, "ConfigMap") || is(r->kind, "Secret") || is(r->kind, "ServiceAccount") ||
	    is(r->kind, "PersistentVolumeClaim") || is(r->kind, "PersistentVolume") ||
	    is(r->kind, "Service") || is(r->kind, "Endpoints") || is(r->kind, "EndpointSlice") ||
	    is(r->kind, "Namespace"))
		return reading(verb);
	return false;
}
