/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credentials the API server accepts, for the components that need to make them.
 */
#ifndef SKIFF_CLUSTER_API_AUTH_H
#define SKIFF_CLUSTER_API_AUTH_H

#include <jansson.h>
#include <stdint.h>

/* The bearer token of node @node under the cluster's join token (heap string). */
char *api_node_credential(const char *join_token, const char *node);
/*
 * The bearer token the API server presents to node agents (their port 10250) when it
 * proxies pods' logs, exec, attach and port-forward; agents check it (heap string).
 */
char *api_kubelet_client_credential(const char *join_token);

/*
 * A service-account token (a JWT signed with HMAC-SHA256 under @key) for account @name
 * (uid @uid) in @ns, valid until @expires (Unix time) for @audiences (a JSON array).
 */
char *api_sa_token(const char *key, const char *ns, const char *name, const char *uid,
		   int64_t expires, const json_t *audiences);

#endif
