/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The served resource types, with upstream's names, scopes, short names and categories.
 */
#include <string.h>

#include "cluster/api/resources.h"

static const char *const pod_fields[] = {
	"spec.nodeName",
	"spec.restartPolicy",
	"spec.schedulerName",
	"spec.serviceAccountName",
	"spec.hostNetwork",
	"status.phase",
	"status.podIP",
	"status.podIPs",
	"status.nominatedNodeName",
	NULL,
};
static const char *const event_fields[] = {
	"involvedObject.kind",
	"involvedObject.namespace",
	"involvedObject.name",
	"involvedObject.uid",
	"involvedObject.apiVersion",
	"involvedObject.resourceVersion",
	"involvedObject.fieldPath",
	"reason",
	"reportingComponent",
	"source",
	"type",
	NULL,
};
static const char *const secret_fields[] = {"type", NULL};
static const char *const node_fields[] = {"spec.unschedulable", NULL};
static const char *const namespace_fields[] = {"status.phase", NULL};
static const char *const rs_fields[] = {"status.replicas", NULL};
static const char *const job_fields[] = {"status.successful", NULL};
static const char *const none[] = {NULL};

#define CORE  "", "v1", "v1"
#define APPS  "apps", "v1", "apps/v1"
#define BATCH "batch", "v1", "batch/v1"
#define ST    API_SUB_STATUS
#define GEN   API_GENERATION

const struct api_resource api_resources[] = {
	{CORE, "Namespace", "namespaces", "namespace", "ns", NULL, API_CLUSTER,
	 ST | API_SUB_FINALIZE, namespace_fields},
	{CORE, "Pod", "pods", "pod", "po", "all", 0,
	 ST | API_SUB_BINDING | API_SUB_EVICTION | API_SUB_LOG | API_SUB_EXEC | API_SUB_PROXY,
	 pod_fields},
	{CORE, "Binding", "bindings", "binding", NULL, NULL, API_VIRTUAL, 0, none},
	{CORE, "Service", "services", "service", "svc", "all", 0, ST | API_SUB_PROXY, none},
	{CORE, "Endpoints", "endpoints", "endpoints", "ep", NULL, 0, 0, none},
	{CORE, "Node", "nodes", "node", "no", NULL, API_CLUSTER, ST | API_SUB_PROXY, node_fields},
	{CORE, "ConfigMap", "configmaps", "configmap", "cm", NULL, 0, 0, none},
	{CORE, "Secret", "secrets", "secret", NULL, NULL, 0, 0, secret_fields},
	{CORE, "Event", "events", "event", "ev", NULL, 0, 0, event_fields},
	{CORE, "ServiceAccount", "serviceaccounts", "serviceaccount", "sa", NULL, 0, API_SUB_TOKEN,
	 none},
	{CORE, "PersistentVolume", "persistentvolumes", "persistentvolume", "pv", NULL, API_CLUSTER,
	 ST, none},
	{CORE, "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", "pvc",
	 NULL, 0, ST, none},
	{APPS, "Deployment", "deployments", "deployment", "deploy", "all", GEN, ST | API_SUB_SCALE,
	 none},
	{APPS, "ReplicaSet", "replicasets", "replicaset", "rs", "all", GEN, ST | API_SUB_SCALE,
	 rs_fields},
	{APPS, "DaemonSet", "daemonsets", "daemonset", "ds", "all", GEN, ST, none},
	{APPS, "StatefulSet", "statefulsets", "statefulset", "sts", "all", GEN, ST | API_SUB_SCALE,
	 none},
	{APPS, "ControllerRevision", "controllerrevisions", "controllerrevision", NULL, NULL, 0, 0,
	 none},
	{BATCH, "Job", "jobs", "job", NULL, "all", GEN, ST, job_fields},
	{BATCH, "CronJob", "cronjobs", "cronjob", "cj", "all", GEN, ST, none},
	{"coordination.k8s.io", "v1", "coordination.k8s.io/v1", "Lease", "leases", "lease", NULL,
	 NULL, 0, 0, none},
	{"discovery.k8s.io", "v1", "discovery.k8s.io/v1", "EndpointSlice", "endpointslices",
	 "endpointslice", NULL, NULL, 0, 0, none},
	{"authorization.k8s.io", "v1", "authorization.k8s.io/v1", "SelfSubjectAccessReview",
	 "selfsubjectaccessreviews", "selfsubjectaccessreview", NULL, NULL,
	 API_CLUSTER | API_VIRTUAL, 0, none},
	{"authorization.k8s.io", "v1", "authorization.k8s.io/v1", "SelfSubjectRulesReview",
	 "selfsubjectrulesreviews", "selfsubjectrulesreview", NULL, NULL, API_CLUSTER | API_VIRTUAL,
	 0, none},
	{"authentication.k8s.io", "v1", "authentication.k8s.io/v1", "SelfSubjectReview",
	 "selfsubjectreviews", "selfsubjectreview", NULL, NULL, API_CLUSTER | API_VIRTUAL, 0, none},
};

const size_t api_nresources = sizeof(api_resources) / sizeof(api_resources[0]);

const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *plural)
{
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
		    strcmp(r->plural, plural) == 0)
			return r;
	}
	return NULL;
}

const struct api_resource *api_resource_by_kind(const char *api_version, const char *kind)
{
	const char *slash = strchr(api_version, '/');
	size_t glen = slash ? (size_t)(slash - api_version) : 0;
	const char *version = slash ? slash + 1 : api_version;

	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];

		if (strlen(r->group) == glen && strncmp(r->group, api_version, glen) == 0 &&
		    strcmp(r->version, version) == 0 && strcmp(r->kind, kind) == 0)
			return r;
	}
	return NULL;
}

const char *api_resource_api_version(const struct api_resource *r)
{
	return r->api_version;
}
