/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/json.c: skiff's JSON reader and writer (src/base/jload.c, jdump.c) against
 * jansson's json_loadb and json_dumps on the documents the cluster moves most: a pod as
 * a controller creates it, the same pod running with kubectl's last-applied annotation,
 * and a list of 500 such pods. Prints microseconds per document and the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/jdump.h"
#include "base/jload.h"

static const char pod[] =
	"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"load-3-7d9f8c6b5-x2x9q\","
	"\"generateName\":\"load-3-7d9f8c6b5-\",\"namespace\":\"default\",\"uid\":"
	"\"0a1b2c3d-1111-2222-3333-444455556666\",\"creationTimestamp\":\"2026-11-25T10:00:00Z\","
	"\"labels\":{\"app\":\"load-3\",\"pod-template-hash\":\"7d9f8c6b5\"},\"ownerReferences\":"
	"[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"load-3-7d9f8c6b5\","
	"\"uid\":\"aaaabbbb-cccc-dddd-eeee-ffff00001111\",\"controller\":true,"
	"\"blockOwnerDeletion\":true}]},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
	"\"registry.k8s.io/pause:3.9\",\"resources\":{\"requests\":{\"cpu\":\"10m\",\"memory\":"
	"\"16Mi\"}},\"terminationMessagePath\":\"/dev/termination-log\","
	"\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}],"
	"\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":"
	"\"ClusterFirst\",\"serviceAccountName\":\"default\",\"nodeName\":\"hollow-01234\","
	"\"securityContext\":{},\"schedulerName\":\"default-scheduler\",\"tolerations\":[{\"key\":"
	"\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
	"\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":"
	"\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],\"priority\":0,"
	"\"enableServiceLinks\":true,\"preemptionPolicy\":\"PreemptLowerPriority\"},\"status\":{"
	"\"phase\":\"Pending\",\"qosClass\":\"Burstable\"}}";

static const char running[] =
	"{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Initialized\",\"status\":\"True\","
	"\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-25T10:00:01Z\"},{\"type\":"
	"\"Ready\",\"status\":\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":"
	"\"2026-11-25T10:00:01Z\"},{\"type\":\"ContainersReady\",\"status\":\"True\","
	"\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-25T10:00:01Z\"},{\"type\":"
	"\"PodScheduled\",\"status\":\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":"
	"\"2026-11-25T10:00:00Z\"}],\"hostIP\":\"10.0.0.1\",\"podIP\":\"10.42.1.5\",\"podIPs\":"
	"[{\"ip\":\"10.42.1.5\"}],\"startTime\":\"2026-11-25T10:00:01Z\",\"containerStatuses\":"
	"[{\"name\":\"c\",\"state\":{\"running\":{\"startedAt\":\"2026-11-25T10:00:01Z\"}},"
	"\"lastState\":{},\"ready\":true,\"restartCount\":0,\"image\":"
	"\"registry.k8s.io/pause:3.9\",\"imageID\":\"sha256:abc\",\"containerID\":"
	"\"containerd://abc\",\"started\":true}],\"qosClass\":\"Burstable\"}";

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Microseconds per call of each reader and writer over @text, best of three rounds. */
static void measure(const char *name, const char *text, int n)
{
	size_t len = strlen(text);
	double best[4] = {1e9, 1e9, 1e9, 1e9};
	json_t *doc = json_loadb(text, len, 0, NULL);

	if (!doc) {
		fprintf(stderr, "json: %s does not parse\n", name);
		exit(1);
	}
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < 4; k++) {
			double t = now();

			for (int i = 0; i < n; i++) {
				if (k < 2) {
					json_t *v = k ? jload_b(text, len, 0, NULL)
						      : json_loadb(text, len, 0, NULL);

					json_decref(v);
				} else {
					free(k == 3 ? jdump_s(doc, JSON_COMPACT)
						    : json_dumps(doc, JSON_COMPACT));
				}
			}
			t = (now() - t) / n * 1e6;
			if (t < best[k])
				best[k] = t;
		}
	}
	printf("json: %-26s %7zu B  read: jansson %8.1f us, skiff %8.1f us (%.1fx)  "
	       "write: jansson %8.1f us, skiff %8.1f us (%.1fx)\n",
	       name, len, best[0], best[1], best[0] / best[1], best[2], best[3],
	       best[2] / best[3]);
	json_decref(doc);
}

int main(void)
{
	json_t *p = json_loadb(pod, strlen(pod), 0, NULL);
	json_t *list = json_pack("{s:s,s:s,s:{s:s},s:[]}", "kind", "PodList", "apiVersion", "v1",
				 "metadata", "resourceVersion", "1000", "items");
	char *applied, *text;

	json_object_set_new(p, "status", json_loadb(running, strlen(running), 0, NULL));
	applied = json_dumps(p, JSON_COMPACT);
	json_object_set_new(json_object_get(p, "metadata"), "annotations",
			    json_pack("{s:s}", "kubectl.kubernetes.io/last-applied-configuration",
				      applied));
	for (int i = 0; i < 500; i++)
		json_array_append(json_object_get(list, "items"), p);

	measure("pod (created)", pod, 20000);
	text = json_dumps(p, JSON_COMPACT);
	measure("pod (running, applied)", text, 10000);
	free(text);
	text = json_dumps(list, JSON_COMPACT);
	measure("list of 500 such pods", text, 20);
	free(text);
	free(applied);
	json_decref(p);
	json_decref(list);
	return 0;
}
