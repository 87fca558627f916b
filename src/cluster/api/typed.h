/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Defaulting and validation of the served kinds as upstream's API server does them, so that
 * `kubectl get -o yaml` shows the same defaulted fields and a bad manifest earns the same 422
 * causes (field path, reason, message). The API handlers call typed_default() on every
 * object they accept, then typed_validate(); the name checks are shared with them.
 */
#ifndef SKIFF_CLUSTER_API_TYPED_H
#define SKIFF_CLUSTER_API_TYPED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_resource;
struct causes;

/*
 * Fills upstream's defaults into @obj in place: the SetDefaults_* functions of
 * pkg/apis/{core,apps,batch}/v1, the admission plugins that every cluster runs
 * (ServiceAccount, Priority, DefaultTolerationSeconds), the create strategies' status
 * (pod phase and QoS class, namespace finalizers) and the job's generated selector, which
 * needs metadata.uid set first. Secrets have stringData folded into data. Allocation
 * (clusterIP, nodePort) is left to the caller. Idempotent.
 */
/*
 * The tolerationSeconds the DefaultTolerationSeconds admission gives pods for the
 * not-ready and unreachable taints (300 each); set once at start, before requests.
 */
void typed_set_toleration_seconds(int64_t not_ready, int64_t unreachable);

void typed_default(const struct api_resource *r, json_t *obj);

/*
 * Appends to @out the causes upstream would report for @obj: a create when @old is NULL,
 * an update of the stored @old otherwise (immutable fields, pod spec changes). Both are
 * expected to be defaulted. metadata.name must be filled (generateName resolved) first.
 */
void typed_validate(const struct api_resource *r, const json_t *obj, const json_t *old,
		    struct causes *out);

/* Whether anything outside metadata and status differs (metadata.generation moves). */
bool typed_generation_changed(const json_t *old, const json_t *obj);

/* "Guaranteed", "Burstable" or "BestEffort" for a (defaulted) pod, as upstream computes. */
const char *typed_pod_qos(const json_t *pod);

/*
 * Prepares a service update as upstream's service REST does before validating: carries the
 * stored clusterIP(s), nodePorts and healthCheckNodePort into an update that left them out,
 * and on a type change drops the fields the new type cannot have (clusterIPs and IP
 * families for ExternalName, nodePorts for ClusterIP ...) when they were left unchanged.
 */
void typed_service_keep_allocations(json_t *svc, const json_t *old);

/*
 * Name and key formats. Each returns true when @s is valid; otherwise false with @why (may
 * be NULL) set to upstream's static message for the first rule broken.
 */
bool dns1123_label(const char *s, const char **why);     /* namespaces, container names */
bool dns1123_subdomain(const char *s, const char **why); /* most object names */
bool dns1035_label(const char *s, const char **why);     /* service names */
bool path_segment_name(const char *s, const char **why); /* no "/", "%", ".", ".." */
bool port_name_valid(const char *s, const char **why);   /* IANA_SVC_NAME */
bool config_key_valid(const char *s, const char **why);  /* configmap and secret keys */

enum typed_name {
	TYPED_DNS1123_LABEL,
	TYPED_DNS1123_SUBDOMAIN,
	TYPED_DNS1035_LABEL,
	TYPED_PATH_SEGMENT,
	TYPED_PORT_NAME,
	TYPED_CONFIG_KEY,
};

/* Every message upstream gives for @s (static strings, at most 5); 0 when valid. */
size_t typed_name_check(enum typed_name kind, const char *s, const char **msgs);

/*
 * Checks a CronJob schedule as robfig/cron's standard parser does (5 fields with ranges,
 * steps, lists, month and weekday names, or @yearly/@monthly/@weekly/@daily/@hourly/@every).
 * NULL when valid, else the parser's message (heap, the caller frees it).
 */
char *typed_cron_check(const char *schedule);

#endif
