/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API server: serves the resources of resources.h over HTTPS from the
 * store (store/store.h) through an in-memory cache that answers every read and feeds
 * every watch.
 */
#ifndef SKIFF_CLUSTER_API_API_H
#define SKIFF_CLUSTER_API_API_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct api;

struct api_config {
	const char *data_dir;           /* server state: <data_dir>/server/... */
	const char *datastore_endpoint; /* NULL: SQLite under data_dir; or etcd URLs */
	const char *bind_address;       /* NULL: all addresses */
	uint16_t port;                  /* 6443; 0: any free port */
	const char *advertise_address;  /* address clients and nodes use (kubeconfig) */
	const char *admin_token;        /* bearer token of the cluster admin */
	const char *node_token;         /* token nodes join with */
	const char *cert_pem, *key_pem; /* serving certificate and key */
	const char *service_cidr;       /* "10.43.0.0/16" */
	unsigned threads;               /* HTTP worker threads; 0: 2 */
	size_t watch_history;           /* events kept for watch resumption; 0: 65536 */
};

int api_start(const struct api_config *cfg, struct api **ret, struct err *err);
uint16_t api_port(const struct api *api);
void api_stop(struct api *api);

#endif
