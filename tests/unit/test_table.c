/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the server-side tables for `kubectl get` (cluster/api/table.c): the columns
 * of each kind, the cells of realistic objects as upstream's printers compute them (pod
 * status reasons, restarts with the last restart's age, service ports, node roles, rollouts,
 * jobs, events) and upstream's human durations at each boundary. Objects are written with
 * single quotes for readability and turned into JSON before parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/api/resources.h"
#include "cluster/api/table.h"

/* 2024-06-01T12:00:00Z: every age below is measured from here. */
static const struct timespec now = {1717243200, 0};

static json_t *parse_quoted(const char *text)
{
	cleanup_free char *s = xstrdup(text);
	json_error_t error;
	json_t *j;

	for (char *p = s; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	j = json_loads(s, 0, &error);
	if (!j)
		fail_msg("bad test JSON at %d: %s: %s", error.position, error.text, s);
	return j;
}

static const struct api_resource *resource(const char *group, const char *plural)
{
	const struct api_resource *r = api_resource_find(group, "v1", plural);

	assert_non_null(r);
	return r;
}

struct row_case {
	const char *what;
	const char *group, *plural;
	const char *object;
	const char *cells;
};

static void check_rows(const struct row_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct row_case *c = &cases[i];
		const struct api_resource *r = resource(c->group, c->plural);
		cleanup_json json_t *obj = parse_quoted(c->object);
		cleanup_json json_t *want = parse_quoted(c->cells);
		cleanup_json json_t *got = table_cells(r, obj, &now);
		cleanup_json json_t *cols = table_columns(r);

		if (!json_equal(got, want)) {
			cleanup_free char *g = json_dumps(got, JSON_COMPACT);
			cleanup_free char *w = json_dumps(want, JSON_COMPACT);

			fail_msg("%s: got %s, want %s", c->what, g, w);
		}
		assert_int_equal(json_array_size(got), json_array_size(cols));
	}
}

#define CHECK_ROWS(cases) check_rows(cases, sizeof(cases) / sizeof(cases[0]))

static const struct row_case pod_rows[] = {
	{"running pod with restarts", "", "pods",
	 "{'metadata':{'name':'web-1','creationTimestamp':'2024-06-01T09:00:00Z'},"
	 "'spec':{'nodeName':'node-a','containers':[{'name':'app'},{'name':'side'}]},"
	 "'status':{'phase':'Running','podIP':'10.42.0.7','podIPs':[{'ip':'10.42.0.7'}],"
	 "'conditions':[{'type':'Initialized','status':'True'},{'type':'Ready','status':'True'}],"
	 "'containerStatuses':["
	 "{'name':'app','ready':true,'restartCount':3,"
	 "'state':{'running':{'startedAt':'2024-06-01T11:55:00Z'}},"
	 "'lastState':{'terminated':{'exitCode':1,'reason':'Error',"
	 "'finishedAt':'2024-06-01T11:54:50Z'}}},"
	 "{'name':'side','ready':true,'restartCount':0,'state':{'running':{}},'lastState':{}}]}}",
	 "['web-1','2/2','Running','3 (5m10s ago)','3h','10.42.0.7','node-a','<none>','<none>']"},
	{"crashlooping pod", "", "pods",
	 "{'metadata':{'name':'crash','creationTimestamp':'2024-05-30T10:00:00Z'},"
	 "'spec':{'nodeName':'node-a','containers':[{'name':'app'}]},"
	 "'status':{'phase':'Running','podIPs':[{'ip':'10.42.0.9'}],'containerStatuses':["
	 "{'name':'app','ready':false,'restartCount':5,"
	 "'state':{'waiting':{'reason':'CrashLoopBackOff','message':'back-off 2m40s'}},"
	 "'lastState':{'terminated':{'exitCode':1,'reason':'Error',"
	 "'finishedAt':'2024-06-01T11:58:30Z'}}}]}}",
	 "['crash','0/1','CrashLoopBackOff','5 (90s ago)','2d2h','10.42.0.9','node-a','<none>',"
	 "'<none>']"},
	{"OOM-killed container", "", "pods",
	 "{'metadata':{'name':'oom','creationTimestamp':'2024-06-01T11:59:15Z'},"
	 "'spec':{'containers':[{'name':'app'}]},'status':{'phase':'Running','containerStatuses':"
	 "[{'name':'app','restartCount':0,'state':{'terminated':{'exitCode':137,"
	 "'reason':'OOMKilled'}}}]}}",
	 "['oom','0/1','OOMKilled','0','45s','<none>','<none>','<none>','<none>']"},
	{"the first container's reason wins; no reason prints signal or exit code", "", "pods",
	 "{'metadata':{'name':'failed','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'containers':[{'name':'a'},{'name':'b'}]},'status':{'phase':'Failed',"
	 "'containerStatuses':[{'name':'a','state':{'terminated':{'exitCode':0,'signal':9}}},"
	 "{'name':'b','state':{'terminated':{'exitCode':2}}}]}}",
	 "['failed','0/2','Signal:9','0','10m','<none>','<none>','<none>','<none>']"},
	{"exit code when there is neither reason nor signal", "", "pods",
	 "{'metadata':{'name':'exit','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'containers':[{'name':'a'}]},'status':{'phase':'Failed','containerStatuses':"
	 "[{'name':'a','state':{'terminated':{'exitCode':2}}}]}}",
	 "['exit','0/1','ExitCode:2','0','10m','<none>','<none>','<none>','<none>']"},
	{"pod with init containers pending", "", "pods",
	 "{'metadata':{'name':'init','creationTimestamp':'2024-06-01T11:59:00Z'},"
	 "'spec':{'initContainers':[{'name':'init-db'},{'name':'init-cache'}],"
	 "'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Pending','conditions':[{'type':'Initialized','status':'False'}],"
	 "'initContainerStatuses':["
	 "{'name':'init-db','restartCount':0,'state':{'terminated':{'exitCode':0,"
	 "'reason':'Completed'}}},"
	 "{'name':'init-cache','restartCount':0,'state':{'running':{}}}],"
	 "'containerStatuses':[{'name':'app','restartCount':0,"
	 "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
	 "['init','0/1','Init:1/2','0','60s','<none>','<none>','<none>','<none>']"},
	{"init container waiting on PodInitializing counts as a step", "", "pods",
	 "{'metadata':{'name':'init0','creationTimestamp':'2024-06-01T11:59:00Z'},"
	 "'spec':{'initContainers':[{'name':'i'}],'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i',"
	 "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
	 "['init0','0/1','Init:0/1','0','60s','<none>','<none>','<none>','<none>']"},
	{"crashlooping init container", "", "pods",
	 "{'metadata':{'name':'init-crash','creationTimestamp':'2024-06-01T11:40:00Z'},"
	 "'spec':{'initContainers':[{'name':'init-db'}],'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Pending','initContainerStatuses':[{'name':'init-db',"
	 "'restartCount':4,'state':{'waiting':{'reason':'CrashLoopBackOff'}},"
	 "'lastState':{'terminated':{'exitCode':1,'finishedAt':'2024-06-01T11:57:00Z'}}}],"
	 "'containerStatuses':[{'name':'app','restartCount':0,"
	 "'state':{'waiting':{'reason':'PodInitializing'}}}]}}",
	 "['init-crash','0/1','Init:CrashLoopBackOff','4 (3m ago)','20m','<none>','<none>',"
	 "'<none>','<none>']"},
	{"failed init container", "", "pods",
	 "{'metadata':{'name':'init-fail','creationTimestamp':'2024-06-01T11:40:00Z'},"
	 "'spec':{'initContainers':[{'name':'a'},{'name':'b'}],'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Failed','initContainerStatuses':["
	 "{'name':'a','state':{'terminated':{'exitCode':3}}},"
	 "{'name':'b','state':{'waiting':{}}}]}}",
	 "['init-fail','0/1','Init:ExitCode:3','0','20m','<none>','<none>','<none>','<none>']"},
	{"sidecar counts as a container and its restarts count", "", "pods",
	 "{'metadata':{'name':'sidecar','creationTimestamp':'2024-06-01T09:00:00Z'},"
	 "'spec':{'initContainers':[{'name':'proxy','restartPolicy':'Always'}],"
	 "'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Running','conditions':[{'type':'Initialized','status':'True'},"
	 "{'type':'Ready','status':'True'}],'initContainerStatuses':[{'name':'proxy',"
	 "'started':true,'ready':true,'restartCount':1,'state':{'running':{}},"
	 "'lastState':{'terminated':{'exitCode':1,'finishedAt':'2024-06-01T11:00:00Z'}}}],"
	 "'containerStatuses':[{'name':'app','ready':true,'restartCount':2,'state':{'running':{}},"
	 "'lastState':{'terminated':{'exitCode':1,'finishedAt':'2024-06-01T10:00:00Z'}}}]}}",
	 "['sidecar','2/2','Running','3 (60m ago)','3h','<none>','<none>','<none>','<none>']"},
	{"terminating pod", "", "pods",
	 "{'metadata':{'name':'bye','creationTimestamp':'2024-06-01T11:00:00Z',"
	 "'deletionTimestamp':'2024-06-01T12:00:30Z'},'spec':{'nodeName':'node-a',"
	 "'containers':[{'name':'app'}]},'status':{'phase':'Running','podIP':'10.42.0.3',"
	 "'containerStatuses':[{'name':'app','ready':true,'state':{'running':{}}}]}}",
	 "['bye','1/1','Terminating','0','60m','10.42.0.3','node-a','<none>','<none>']"},
	{"pod on a lost node", "", "pods",
	 "{'metadata':{'name':'lost','creationTimestamp':'2024-06-01T11:00:00Z',"
	 "'deletionTimestamp':'2024-06-01T11:55:00Z'},'spec':{'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Running','reason':'NodeLost','containerStatuses':"
	 "[{'name':'app','ready':true,'state':{'running':{}}}]}}",
	 "['lost','1/1','Unknown','0','60m','<none>','<none>','<none>','<none>']"},
	{"a finished pod being deleted keeps its status", "", "pods",
	 "{'metadata':{'name':'done','creationTimestamp':'2024-06-01T11:00:00Z',"
	 "'deletionTimestamp':'2024-06-01T11:55:00Z'},'spec':{'containers':[{'name':'app'}]},"
	 "'status':{'phase':'Succeeded','containerStatuses':[{'name':'app',"
	 "'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}",
	 "['done','0/1','Completed','0','60m','<none>','<none>','<none>','<none>']"},
	{"completed container beside a running one", "", "pods",
	 "{'metadata':{'name':'half','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'containers':[{'name':'a'},{'name':'b'}]},'status':{'phase':'Running',"
	 "'conditions':[{'type':'Ready','status':'False'}],'containerStatuses':["
	 "{'name':'a','state':{'terminated':{'exitCode':0,'reason':'Completed'}}},"
	 "{'name':'b','ready':true,'state':{'running':{}}}]}}",
	 "['half','1/2','NotReady','0','60m','<none>','<none>','<none>','<none>']"},
	{"scheduling gated pod with readiness gates", "", "pods",
	 "{'metadata':{'name':'gated','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'containers':[{'name':'a'}],'readinessGates':[{'conditionType':'x.io/lb'},"
	 "{'conditionType':'x.io/dns'}]},'status':{'phase':'Pending','nominatedNodeName':'node-b',"
	 "'conditions':[{'type':'PodScheduled','status':'False','reason':'SchedulingGated'},"
	 "{'type':'x.io/lb','status':'True'},{'type':'x.io/dns','status':'False'}]}}",
	 "['gated','0/1','SchedulingGated','0','60m','<none>','<none>','node-b','1/2']"},
	{"evicted pod shows the status reason", "", "pods",
	 "{'metadata':{'name':'ev','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'containers':[{'name':'a'}]},'status':{'phase':'Failed','reason':'Evicted'}}",
	 "['ev','0/1','Evicted','0','60m','<none>','<none>','<none>','<none>']"},
};

static void test_pod_cells_follow_upstream_status_rules(void **state)
{
	(void)state;
	CHECK_ROWS(pod_rows);
}

static const struct row_case service_rows[] = {
	{"NodePort service", "", "services",
	 "{'metadata':{'name':'web','creationTimestamp':'2024-05-25T12:00:00Z'},"
	 "'spec':{'type':'NodePort','clusterIP':'10.43.12.5','clusterIPs':['10.43.12.5'],"
	 "'selector':{'tier':'fe','app':'web'},'ports':["
	 "{'port':80,'targetPort':8080,'nodePort':30080,'protocol':'TCP'},"
	 "{'port':443,'nodePort':30443,'protocol':'TCP'}]}}",
	 "['web','NodePort','10.43.12.5','<none>','80:30080/TCP,443:30443/TCP','7d',"
	 "'app=web,tier=fe']"},
	{"ClusterIP service without a selector", "", "services",
	 "{'metadata':{'name':'kubernetes','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'type':'ClusterIP','clusterIP':'10.43.0.1','clusterIPs':['10.43.0.1'],"
	 "'ports':[{'name':'https','port':443,'protocol':'TCP','targetPort':6443}]}}",
	 "['kubernetes','ClusterIP','10.43.0.1','<none>','443/TCP','60m','<none>']"},
	{"headless service with external IPs and no ports", "", "services",
	 "{'metadata':{'name':'db','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'type':'ClusterIP','clusterIP':'None','externalIPs':['1.2.3.4','5.6.7.8'],"
	 "'selector':{'app':'db'}}}",
	 "['db','ClusterIP','None','1.2.3.4,5.6.7.8','<none>','60m','app=db']"},
	{"LoadBalancer waiting for an address", "", "services",
	 "{'metadata':{'name':'lb','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'type':'LoadBalancer','clusterIPs':['10.43.1.1'],"
	 "'ports':[{'port':53,'nodePort':31053,'protocol':'UDP'}]}}",
	 "['lb','LoadBalancer','10.43.1.1','<pending>','53:31053/UDP','60m','<none>']"},
	{"LoadBalancer addresses sorted, then external IPs", "", "services",
	 "{'metadata':{'name':'lb2','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'type':'LoadBalancer','clusterIPs':['10.43.1.2'],'externalIPs':['9.9.9.9']},"
	 "'status':{'loadBalancer':{'ingress':[{'ip':'10.0.0.2'},{'hostname':'lb.example.com'},"
	 "{'ip':'10.0.0.1'},{'ip':'10.0.0.2'}]}}}",
	 "['lb2','LoadBalancer','10.43.1.2','10.0.0.1,10.0.0.2,lb.example.com,9.9.9.9','<none>',"
	 "'60m','<none>']"},
	{"ExternalName service", "", "services",
	 "{'metadata':{'name':'ext','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'type':'ExternalName','externalName':'db.example.com'}}",
	 "['ext','ExternalName','<none>','db.example.com','<none>','60m','<none>']"},
	{"endpoints beyond three are counted", "", "endpoints",
	 "{'metadata':{'name':'web','creationTimestamp':'2024-06-01T11:00:00Z'},'subsets':["
	 "{'addresses':[{'ip':'10.42.0.5'},{'ip':'10.42.0.6'}],"
	 "'notReadyAddresses':[{'ip':'10.42.0.7'}],'ports':[{'port':80},{'port':443}]}]}",
	 "['web','10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 1 more...','60m']"},
	{"IPv6 endpoints and a headless subset", "", "endpoints",
	 "{'metadata':{'name':'v6','creationTimestamp':'2024-06-01T11:00:00Z'},'subsets':["
	 "{'addresses':[{'ip':'fd00::1'}],'ports':[{'port':80}]},"
	 "{'addresses':[{'ip':'10.42.0.8'}]}]}",
	 "['v6','[fd00::1]:80,10.42.0.8','60m']"},
	{"endpoints without subsets", "", "endpoints",
	 "{'metadata':{'name':'none','creationTimestamp':'2024-06-01T11:00:00Z'}}",
	 "['none','<none>','60m']"},
	{"endpoint slice", "discovery.k8s.io", "endpointslices",
	 "{'metadata':{'name':'web-abc','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'addressType':'IPv4','ports':[{'name':'http','port':80},{'name':'x'},{}],"
	 "'endpoints':[{'addresses':['10.42.0.5']},{'addresses':['10.42.0.6']}]}",
	 "['web-abc','IPv4','80,x,*','10.42.0.5,10.42.0.6','60m']"},
	{"empty endpoint slice", "discovery.k8s.io", "endpointslices",
	 "{'metadata':{'name':'e','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'addressType':'IPv6'}",
	 "['e','IPv6','<unset>','<unset>','60m']"},
};

static void test_service_and_endpoint_cells(void **state)
{
	(void)state;
	CHECK_ROWS(service_rows);
}

static const struct row_case workload_rows[] = {
	{"deployment mid-rollout", "apps", "deployments",
	 "{'metadata':{'name':'web','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'replicas':3,'selector':{'matchLabels':{'app':'web'},'matchExpressions':"
	 "[{'key':'tier','operator':'In','values':['fe','be']}]},'template':{'spec':"
	 "{'containers':[{'name':'nginx','image':'nginx:1.25'},"
	 "{'name':'sidecar','image':'busybox'}]}}},"
	 "'status':{'replicas':4,'updatedReplicas':1,'readyReplicas':2,'availableReplicas':2}}",
	 "['web','2/3',1,2,'10m','nginx,sidecar','nginx:1.25,busybox','app=web,tier in (be,fe)']"},
	{"new deployment without status", "apps", "deployments",
	 "{'metadata':{'name':'new','creationTimestamp':'2024-06-01T11:59:58Z'},"
	 "'spec':{'selector':{'matchLabels':{'app':'new'}},"
	 "'template':{'spec':{'containers':[{'name':'c','image':'i'}]}}}}",
	 "['new','0/1',0,0,'2s','c','i','app=new']"},
	{"replica set", "apps", "replicasets",
	 "{'metadata':{'name':'web-6d4cf56db6','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'replicas':3,'selector':{'matchLabels':{'pod-template-hash':'6d4cf56db6',"
	 "'app':'web'}},'template':{'spec':{'containers':[{'name':'nginx','image':'nginx'}]}}},"
	 "'status':{'replicas':3,'readyReplicas':2}}",
	 "['web-6d4cf56db6',3,3,2,'10m','nginx','nginx','app=web,pod-template-hash=6d4cf56db6']"},
	{"daemon set", "apps", "daemonsets",
	 "{'metadata':{'name':'agent','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'selector':{'matchExpressions':[{'key':'b','operator':'DoesNotExist'},"
	 "{'key':'a','operator':'Exists'},{'key':'c','operator':'NotIn','values':['y','x']}]},"
	 "'template':{'spec':{'nodeSelector':{'kubernetes.io/os':'linux'},"
	 "'containers':[{'name':'agent','image':'skiff/agent:1'}]}}},"
	 "'status':{'desiredNumberScheduled':3,'currentNumberScheduled':3,'numberReady':2,"
	 "'updatedNumberScheduled':1,'numberAvailable':2}}",
	 "['agent',3,3,2,1,2,'kubernetes.io/os=linux','10m','agent','skiff/agent:1',"
	 "'a,!b,c notin (x,y)']"},
	{"selector with an unknown operator", "apps", "daemonsets",
	 "{'metadata':{'name':'bad','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'selector':{'matchExpressions':[{'key':'a','operator':'Gt','values':['1']}]}}}",
	 "['bad',0,0,0,0,0,'<none>','10m','','','<error>']"},
	{"stateful set", "apps", "statefulsets",
	 "{'metadata':{'name':'db','creationTimestamp':'2024-06-01T11:50:00Z'},"
	 "'spec':{'replicas':3,'template':{'spec':{'containers':[{'name':'pg','image':'pg:16'}]}}},"
	 "'status':{'replicas':2,'readyReplicas':1}}",
	 "['db','1/3','10m','pg','pg:16']"},
	{"completed job", "batch", "jobs",
	 "{'metadata':{'name':'pi','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'completions':1,'parallelism':1,'selector':{'matchLabels':"
	 "{'batch.kubernetes.io/controller-uid':'abc'}},'template':{'spec':{'containers':"
	 "[{'name':'pi','image':'perl:5.34'}]}}},"
	 "'status':{'startTime':'2024-06-01T11:00:00Z','completionTime':'2024-06-01T11:00:42Z',"
	 "'succeeded':1,'conditions':[{'type':'SuccessCriteriaMet','status':'True'},"
	 "{'type':'Complete','status':'True'}]}}",
	 "['pi','Complete','1/1','42s','60m','pi','perl:5.34',"
	 "'batch.kubernetes.io/controller-uid=abc']"},
	{"running parallel job", "batch", "jobs",
	 "{'metadata':{'name':'work','creationTimestamp':'2024-06-01T11:55:00Z'},"
	 "'spec':{'parallelism':3,'template':{'spec':{'containers':[{'name':'w','image':'w'}]}}},"
	 "'status':{'startTime':'2024-06-01T11:55:00Z','active':3}}",
	 "['work','Running','0/1 of 3','5m','5m','w','w','<none>']"},
	{"failed job", "batch", "jobs",
	 "{'metadata':{'name':'f','creationTimestamp':'2024-06-01T11:55:00Z'},"
	 "'spec':{'completions':5},'status':{'succeeded':2,'conditions':"
	 "[{'type':'FailureTarget','status':'True'},{'type':'Failed','status':'True'}]}}",
	 "['f','Failed','2/5','','5m','','','<none>']"},
	{"suspended job", "batch", "jobs",
	 "{'metadata':{'name':'s','creationTimestamp':'2024-06-01T11:55:00Z'},"
	 "'status':{'conditions':[{'type':'Suspended','status':'True'}]}}",
	 "['s','Suspended','0/1','','5m','','','<none>']"},
	{"cron job", "batch", "cronjobs",
	 "{'metadata':{'name':'backup','creationTimestamp':'2024-05-01T12:00:00Z'},"
	 "'spec':{'schedule':'*/5 * * * *','suspend':false,'jobTemplate':{'spec':{'template':"
	 "{'spec':{'containers':[{'name':'b','image':'busybox'}]}}}}},"
	 "'status':{'active':[{'name':'backup-1'}],'lastScheduleTime':'2024-06-01T11:55:00Z'}}",
	 "['backup','*/5 * * * *','<none>','False',1,'5m','31d','b','busybox','<none>']"},
	{"cron job never run, with a time zone", "batch", "cronjobs",
	 "{'metadata':{'name':'tz','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'schedule':'@daily','timeZone':'Europe/Paris'}}",
	 "['tz','@daily','Europe/Paris','<unset>',0,'<none>','60m','','','<none>']"},
	{"controller revision", "apps", "controllerrevisions",
	 "{'metadata':{'name':'agent-5d8','creationTimestamp':'2024-06-01T11:00:00Z',"
	 "'ownerReferences':[{'apiVersion':'v1','kind':'Pod','name':'x'},"
	 "{'apiVersion':'apps/v1','kind':'DaemonSet','name':'agent','controller':true}]},"
	 "'revision':3}",
	 "['agent-5d8','daemonset.apps/agent',3,'60m']"},
};

static void test_workload_cells(void **state)
{
	(void)state;
	CHECK_ROWS(workload_rows);
}

static const struct row_case cluster_rows[] = {
	{"cordoned node with roles", "", "nodes",
	 "{'metadata':{'name':'n1','creationTimestamp':'2023-03-15T00:00:00Z','labels':{"
	 "'node-role.kubernetes.io/master':'true','kubernetes.io/hostname':'n1',"
	 "'node-role.kubernetes.io/control-plane':'','kubernetes.io/role':'etcd',"
	 "'node-role.kubernetes.io/':'x'}},"
	 "'spec':{'unschedulable':true},"
	 "'status':{'conditions':[{'type':'MemoryPressure','status':'False'},"
	 "{'type':'Ready','status':'True'}],'addresses':[{'type':'Hostname','address':'n1'},"
	 "{'type':'InternalIP','address':'192.168.1.10'}],'nodeInfo':{"
	 "'kubeletVersion':'v1.30.0+skiff','osImage':'Debian GNU/Linux 12 (bookworm)',"
	 "'containerRuntimeVersion':'skiff://0.1'}}}",
	 "['n1','Ready,SchedulingDisabled','control-plane,etcd,master','444d','v1.30.0+skiff',"
	 "'192.168.1.10','<none>','Debian GNU/Linux 12 (bookworm)','<unknown>','skiff://0.1']"},
	{"node that has not reported", "", "nodes",
	 "{'metadata':{'name':'n2','creationTimestamp':'2024-06-01T11:59:00Z'}}",
	 "['n2','Unknown','<none>','60s','','<none>','<none>','<unknown>','<unknown>',"
	 "'<unknown>']"},
	{"node not ready", "", "nodes",
	 "{'metadata':{'name':'n3','creationTimestamp':'2024-06-01T11:59:00Z'},"
	 "'status':{'conditions':[{'type':'Ready','status':'Unknown'}],"
	 "'addresses':[{'type':'ExternalIP','address':'203.0.113.9'}]}}",
	 "['n3','NotReady','<none>','60s','','<none>','203.0.113.9','<unknown>','<unknown>',"
	 "'<unknown>']"},
	{"namespace", "", "namespaces",
	 "{'metadata':{'name':'default','creationTimestamp':'2024-06-01T04:00:00Z'},"
	 "'status':{'phase':'Active'}}",
	 "['default','Active','8h']"},
	{"config map counts data and binary data", "", "configmaps",
	 "{'metadata':{'name':'cfg','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'data':{'a':'1','b':'2'},'binaryData':{'c':'AA=='}}",
	 "['cfg',3,'60m']"},
	{"secret", "", "secrets",
	 "{'metadata':{'name':'tls','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'type':'kubernetes.io/tls','data':{'tls.crt':'','tls.key':''}}",
	 "['tls','kubernetes.io/tls',2,'60m']"},
	{"service account", "", "serviceaccounts",
	 "{'metadata':{'name':'default','creationTimestamp':'2024-06-01T11:00:00Z'}}",
	 "['default',0,'60m']"},
	{"event", "", "events",
	 "{'metadata':{'name':'crash.17d','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'involvedObject':{'kind':'Pod','name':'crash','fieldPath':'spec.containers{app}'},"
	 "'reason':'BackOff','message':' Back-off restarting failed container\\n',"
	 "'type':'Warning','source':{'component':'kubelet','host':'node-a'},"
	 "'firstTimestamp':'2024-06-01T11:00:00Z','lastTimestamp':'2024-06-01T11:58:00Z',"
	 "'count':12}",
	 "['2m','Warning','BackOff','pod/crash','spec.containers{app}','kubelet, node-a',"
	 "'Back-off restarting failed container','60m',12,'crash.17d']"},
	{"event of the events.k8s.io API", "", "events",
	 "{'metadata':{'name':'n.1'},'involvedObject':{'kind':'Node'},'reason':'Starting',"
	 "'type':'Normal','eventTime':'2024-06-01T11:59:30.123456Z',"
	 "'reportingComponent':'skiff-agent','reportingInstance':'n1'}",
	 "['29s','Normal','Starting','node','','skiff-agent, n1','','29s',1,'n.1']"},
	{"event series", "", "events",
	 "{'metadata':{'name':'s.1'},'involvedObject':{'kind':'Pod','name':'p'},"
	 "'reason':'Unhealthy','type':'Warning','source':{'component':'kubelet'},"
	 "'eventTime':'2024-06-01T11:00:00.000000Z','count':0,"
	 "'series':{'count':4,'lastObservedTime':'2024-06-01T11:59:00.000000Z'}}",
	 "['60s','Warning','Unhealthy','pod/p','','kubelet','','60m',4,'s.1']"},
	{"lease", "coordination.k8s.io", "leases",
	 "{'metadata':{'name':'n1','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'holderIdentity':'n1','leaseDurationSeconds':40}}",
	 "['n1','n1','60m']"},
	{"bound persistent volume", "", "persistentvolumes",
	 "{'metadata':{'name':'pv1','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'capacity':{'storage':'1.5Gi'},'accessModes':['ReadWriteMany','ReadWriteOnce',"
	 "'ReadWriteOnce'],'persistentVolumeReclaimPolicy':'Retain','storageClassName':'local',"
	 "'claimRef':{'namespace':'default','name':'data'}},'status':{'phase':'Bound'}}",
	 "['pv1','1536Mi','RWO,RWX','Retain','Bound','default/data','local','<unset>','','60m',"
	 "'<unset>']"},
	{"persistent volume being deleted", "", "persistentvolumes",
	 "{'metadata':{'name':'pv2','creationTimestamp':'2024-06-01T11:00:00Z',"
	 "'deletionTimestamp':'2024-06-01T11:59:00Z','annotations':"
	 "{'volume.beta.kubernetes.io/storage-class':'old'}},"
	 "'spec':{'storageClassName':'new','volumeMode':'Block'},"
	 "'status':{'phase':'Released','reason':'gone'}}",
	 "['pv2','0','','','Terminating','','old','<unset>','gone','60m','Block']"},
	{"pending claim", "", "persistentvolumeclaims",
	 "{'metadata':{'name':'data','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'storageClassName':'standard','volumeMode':'Filesystem',"
	 "'resources':{'requests':{'storage':'1Gi'}}},'status':{'phase':'Pending'}}",
	 "['data','Pending','','','','standard','<unset>','60m','Filesystem']"},
	{"bound claim", "", "persistentvolumeclaims",
	 "{'metadata':{'name':'data2','creationTimestamp':'2024-06-01T11:00:00Z'},"
	 "'spec':{'volumeName':'pv1','volumeAttributesClassName':'gold'},"
	 "'status':{'phase':'Bound','capacity':{'storage':'10Gi'},"
	 "'accessModes':['ReadWriteOncePod']}}",
	 "['data2','Bound','pv1','10Gi','RWOP','','gold','60m','<unset>']"},
	{"kinds without a printer show name and age", "", "bindings",
	 "{'metadata':{'name':'b','creationTimestamp':'2024-06-01T11:00:00Z'}}", "['b','60m']"},
};

static void test_cluster_object_cells(void **state)
{
	(void)state;
	CHECK_ROWS(cluster_rows);
}

static const struct row_case age_rows[] = {
	{"fraction of a second is truncated", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'2024-06-01T11:58:00.7Z'}}",
	 "['a','','119s']"},
	{"numeric offset", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'2024-06-01T13:59:00+02:00'}}",
	 "['a','','60s']"},
	{"a second in the future is now", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'2024-06-01T12:00:01Z'}}", "['a','','0s']"},
	{"further in the future is invalid", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'2024-06-01T12:00:02Z'}}",
	 "['a','','<invalid>']"},
	{"no timestamp", "", "namespaces", "{'metadata':{'name':'a'}}", "['a','','<unknown>']"},
	{"unparsable timestamp", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'yesterday'}}", "['a','','<unknown>']"},
	{"Go's zero time", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'0001-01-01T00:00:00Z'}}",
	 "['a','','<unknown>']"},
	{"long ago saturates like time.Since", "", "namespaces",
	 "{'metadata':{'name':'a','creationTimestamp':'1000-01-01T00:00:00Z'}}", "['a','','292y']"},
};

static void test_ages_are_measured_like_translate_timestamp_since(void **state)
{
	(void)state;
	CHECK_ROWS(age_rows);
}

static const struct {
	int64_t seconds;
	const char *want;
} durations[] = {
	{-3, "<invalid>"},   {-2, "<invalid>"},     {-1, "0s"},         {0, "0s"},
	{45, "45s"},         {119, "119s"},         {120, "2m"},        {121, "2m1s"},
	{310, "5m10s"},      {599, "9m59s"},        {600, "10m"},       {659, "10m"},
	{10799, "179m"},     {10800, "3h"},         {11100, "3h5m"},    {28799, "7h59m"},
	{28800, "8h"},       {172799, "47h"},       {172800, "2d"},     {190800, "2d5h"},
	{691199, "7d23h"},   {691200, "8d"},        {63071999, "729d"}, {63072000, "2y"},
	{66268800, "2y37d"}, {252287999, "7y364d"}, {252288000, "8y"},  {3153600000, "100y"},
};

static void test_human_duration_boundaries(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		cleanup_free char *got = table_human_duration(durations[i].seconds);

		if (strcmp(got, durations[i].want) != 0)
			fail_msg("%lld: got %s, want %s", (long long)durations[i].seconds, got,
				 durations[i].want);
	}
}

static const struct {
	const char *group, *plural;
	const char *names; /* comma-separated */
	const char *wide;  /* priority of each column */
	const char *types; /* s string, i integer, b boolean */
} column_cases[] = {
	{"", "pods", "Name,Ready,Status,Restarts,Age,IP,Node,Nominated Node,Readiness Gates",
	 "000001111", "sssssssss"},
	{"", "services", "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector", "0000001",
	 "sssssss"},
	{"apps", "deployments", "Name,Ready,Up-to-date,Available,Age,Containers,Images,Selector",
	 "00000111", "ssssssss"},
	{"apps", "replicasets", "Name,Desired,Current,Ready,Age,Containers,Images,Selector",
	 "00000111", "siiissss"},
	{"apps", "daemonsets",
	 "Name,Desired,Current,Ready,Up-to-date,Available,Node Selector,Age,Containers,Images,"
	 "Selector",
	 "00000000111", "siiiiisssss"},
	{"apps", "statefulsets", "Name,Ready,Age,Containers,Images", "00011", "sssss"},
	{"batch", "jobs", "Name,Status,Completions,Duration,Age,Containers,Images,Selector",
	 "00000111", "ssssssss"},
	{"batch", "cronjobs",
	 "Name,Schedule,Timezone,Suspend,Active,Last Schedule,Age,Containers,Images,Selector",
	 "0000000111", "sssbisssss"},
	{"", "nodes",
	 "Name,Status,Roles,Age,Version,Internal-IP,External-IP,OS-Image,Kernel-Version,"
	 "Container-Runtime",
	 "0000011111", "ssssssssss"},
	{"", "namespaces", "Name,Status,Age", "000", "sss"},
	{"", "endpoints", "Name,Endpoints,Age", "000", "sss"},
	{"discovery.k8s.io", "endpointslices", "Name,AddressType,Ports,Endpoints,Age", "00000",
	 "sssss"},
	{"", "configmaps", "Name,Data,Age", "000", "sss"},
	{"", "secrets", "Name,Type,Data,Age", "0000", "ssss"},
	{"", "serviceaccounts", "Name,Secrets,Age", "000", "sss"},
	{"", "events",
	 "Last Seen,Type,Reason,Object,Subobject,Source,Message,First Seen,Count,Name",
	 "0000110111", "ssssssssss"},
	{"", "persistentvolumes",
	 "Name,Capacity,Access Modes,Reclaim Policy,Status,Claim,StorageClass,"
	 "VolumeAttributesClass,Reason,Age,VolumeMode",
	 "00000000001", "sssssssssss"},
	{"", "persistentvolumeclaims",
	 "Name,Status,Volume,Capacity,Access Modes,StorageClass,VolumeAttributesClass,Age,"
	 "VolumeMode",
	 "000000001", "sssssssss"},
	{"coordination.k8s.io", "leases", "Name,Holder,Age", "000", "sss"},
	{"apps", "controllerrevisions", "Name,Controller,Revision,Age", "0000", "ssss"},
	{"", "bindings", "Name,Age", "00", "ss"},
};

static void test_columns_match_upstream_printers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(column_cases) / sizeof(column_cases[0]); i++) {
		const struct api_resource *r =
			resource(column_cases[i].group, column_cases[i].plural);
		cleanup_json json_t *cols = table_columns(r);
		char joined[512] = "";
		size_t j;
		json_t *c;

		assert_int_equal(json_array_size(cols), strlen(column_cases[i].wide));
		json_array_foreach (cols, j, c) {
			const char *type = json_string_value(json_object_get(c, "type"));
			const char *fmt = json_string_value(json_object_get(c, "format"));
			const char *name = json_string_value(json_object_get(c, "name"));
			const char *desc = json_string_value(json_object_get(c, "description"));

			assert_int_equal(json_object_size(c), 5);
			assert_true(desc && *desc);
			assert_int_equal(json_integer_value(json_object_get(c, "priority")),
					 column_cases[i].wide[j] - '0');
			assert_int_equal(type[0], column_cases[i].types[j]);
			/* the identifying column carries the "name" format */
			assert_string_equal(fmt, strcmp(name, "Name") == 0 ? "name" : "");
			if (j)
				strcat(joined, ",");
			strcat(joined, name);
		}
		assert_string_equal(joined, column_cases[i].names);
	}
}

static void test_every_resource_gets_one_cell_per_column(void **state)
{
	cleanup_json json_t *empty = json_object();

	(void)state;
	for (size_t i = 0; i < api_nresources; i++) {
		cleanup_json json_t *cols = table_columns(&api_resources[i]);
		cleanup_json json_t *cells = table_cells(&api_resources[i], empty, NULL);
		size_t j;
		json_t *c;

		assert_true(json_array_size(cols) >= 2);
		assert_int_equal(json_array_size(cells), json_array_size(cols));
		json_array_foreach (cells, j, c)
			assert_true(json_is_string(c) || json_is_integer(c));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod_cells_follow_upstream_status_rules),
		cmocka_unit_test(test_service_and_endpoint_cells),
		cmocka_unit_test(test_workload_cells),
		cmocka_unit_test(test_cluster_object_cells),
		cmocka_unit_test(test_ages_are_measured_like_translate_timestamp_since),
		cmocka_unit_test(test_human_duration_boundaries),
		cmocka_unit_test(test_columns_match_upstream_printers),
		cmocka_unit_test(test_every_resource_gets_one_cell_per_column),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
