/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credentials the API server accepts, for the components that need to make them.
 */
#ifndef SKIFF_CLUSTER_API_AUTH_H
#define SKIFF_CLUSTER_API_AUTH_H

/* The bearer token of node @node under the cluster's join token (heap string). */
char *api_node_credential(const char *join_token, const char *node);

#endif
