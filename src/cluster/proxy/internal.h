/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the service proxy: the model (services and endpoint slices as parsed from
 * the API, and what the kernel was last given for each service), the renderer that turns
 * it into nft transactions without touching the kernel (model.c, rules.c), and the nft
 * runner (nft.c). proxy.c feeds the model from informers and applies what is rendered.
 */
#ifndef SKIFF_CLUSTER_PROXY_INTERNAL_H
#define SKIFF_CLUSTER_PROXY_INTERNAL_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/proxy/proxy.h"

struct err;

/* ------------------------------------------------------------------------------------------ */
/* A string-keyed hash map of pointers the caller owns (model.c) */

struct sp_map_entry;

struct sp_map {
	struct sp_map_entry **buckets;
	size_t n_buckets;
	size_t n;
};

void *sp_map_get(const struct sp_map *m, const char *key);
/* Sets @key (copied) to @value; returns the value replaced (NULL when new). */
void *sp_map_put(struct sp_map *m, const char *key, void *value);
/* Removes @key; returns its value (NULL when absent). */
void *sp_map_del(struct sp_map *m, const char *key);
void sp_map_foreach(const struct sp_map *m, void (*fn)(void *arg, const char *key, void *value),
		    void *arg);
/* Frees the entries (not the values). */
void sp_map_done(struct sp_map *m);

/* ------------------------------------------------------------------------------------------ */
/* Objects as the proxy needs them */

struct sp_port {
	char *name;    /* "" for a service's only, unnamed port */
	char proto[5]; /* "tcp", "udp", "sctp" */
	uint16_t port;
	uint16_t node_port; /* 0: none */
};

struct sp_service {
	char *key; /* "ns/name" */
	char cluster_ip[INET_ADDRSTRLEN];
	struct sp_port *ports;
	size_t n_ports;
	uint32_t affinity_timeout; /* sessionAffinity ClientIP: seconds; 0: no affinity */
	bool etp_local;            /* externalTrafficPolicy: Local */
	bool itp_local;            /* internalTrafficPolicy: Local */
};

struct sp_endpoint {
	char ip[INET_ADDRSTRLEN];
	bool ready, serving, terminating;
	bool local; /* nodeName is this node */
};

struct sp_slice {
	char *key;             /* "ns/name" of the slice */
	char *service;         /* "ns/name" of its service (label kubernetes.io/service-name) */
	struct sp_port *ports; /* node_port unused */
	size_t n_ports;
	struct sp_endpoint *eps;
	size_t n_eps;
};

/*
 * Parses a core/v1 Service. *ret is NULL for services that get no rules: headless
 * (clusterIP None), ExternalName, or without an IPv4 ClusterIP. EINVAL names the field.
 */
int sp_service_parse(const json_t *obj, struct sp_service **ret, struct err *err);
void sp_service_free(struct sp_service *s);

/*
 * Parses a discovery/v1 EndpointSlice; endpoints on @node_name are local. *ret is NULL
 * for slices the proxy ignores (not IPv4, or no service-name label). EINVAL names the field.
 */
int sp_slice_parse(const json_t *obj, const char *node_name, struct sp_slice **ret,
		   struct err *err);
void sp_slice_free(struct sp_slice *s);

/* ------------------------------------------------------------------------------------------ */
/* The model and its renderer */

struct sp_rules_config {
	const char *table;
	char cluster_cidr[INET_ADDRSTRLEN + 3];
	char service_cidr[INET_ADDRSTRLEN + 3];
	uint32_t masq_mark;
	bool localhost_nodeports;
};

/* Validates and normalises @cfg (CIDRs re-printed from their parsed form). */
int sp_rules_config_init(const struct svcproxy_config *cfg, struct sp_rules_config *ret,
			 struct err *err);

struct sp_model;

struct sp_model *sp_model_new(void);
void sp_model_free(struct sp_model *m);

/*
 * Objects in and out by their keys ("ns/name"); NULL removes. Each marks the services
 * whose rules change for the next sp_render_changes(). Take @svc/@slice.
 */
void sp_model_set_service(struct sp_model *m, const char *key, struct sp_service *svc);
void sp_model_set_slice(struct sp_model *m, const char *key, struct sp_slice *slice);

/* Marks service @key to be rendered again by the next sp_render_changes(). */
void sp_model_touch(struct sp_model *m, const char *key);
/* Whether services are waiting to be rendered. */
bool sp_model_dirty(const struct sp_model *m);
/* Milliseconds until the next stale chain may be deleted; -1 when none waits. */
int64_t sp_model_stale_due_ms(const struct sp_model *m, int64_t now_ms);

/*
 * Renders a transaction that deletes the table and builds it again with every service:
 * the first sync, and the way back after a failure. Heap string.
 */
char *sp_render_full(struct sp_model *m, const struct sp_rules_config *cfg);

/*
 * Renders a transaction for the services touched since the last render, relative to what
 * the kernel was last given for them: their chains flushed and refilled, stale chains
 * flushed (and deleted a second later, as kernels before 6.2 see a chain referenced for a
 * while after the map element naming it is gone), map elements added or deleted. NULL
 * when nothing is to be done. @now_ms: a monotonic clock for stale chains.
 */
char *sp_render_changes(struct sp_model *m, const struct sp_rules_config *cfg, int64_t now_ms);

/*
 * After a rendered transaction ran: @ok makes what it wrote the kernel's state; !@ok
 * forgets it (the next transaction must then be sp_render_full()).
 */
void sp_model_commit(struct sp_model *m, bool ok, int64_t now_ms);

/* Counters of what the model renders (stats fields other than the sync counts). */
void sp_model_counts(const struct sp_model *m, struct svcproxy_stats *ret);

/* The base of a chain name: "HASH-ns/name/proto/port" as upstream names them. Heap string. */
char *sp_chain_base(const char *svc_key, const char *proto, const char *port_name,
		    const char *ep_ip, uint16_t ep_port);

/* ------------------------------------------------------------------------------------------ */
/* nft (nft.c) */

struct sp_nft;

/* Loads libnftables and makes a context with output and errors kept in buffers. */
int sp_nft_new(struct sp_nft **ret, struct err *err);
void sp_nft_free(struct sp_nft *n);
/*
 * Runs @script as one transaction. EIO (or EPERM, ENOENT, EBUSY, EEXIST when nft's message
 * names them) with nft's message; *ret_out (may be NULL) gets what nft printed.
 */
int sp_nft_run(struct sp_nft *n, const char *script, char **ret_out, struct err *err);

#endif
