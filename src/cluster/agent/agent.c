/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's frame: the Node object and its Lease, the informer over the pods bound to
 * this node, the work queue whose workers run each pod's sync (pod.c), the watcher that
 * wakes a pod when one of its containers exits, and adoption of what an earlier run of
 * the agent left running.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/version.h"
#include "cluster/agent/internal.h"
#include "cluster/agent/probe.h"
#include "cluster/api/auth.h"
#include "cluster/client/client.h"
#include "cluster/net/net.h"
#include "cluster/net/nodenet.h"
#include "cluster/proxy/proxy.h"
#include "image/image.h"

#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"

char *agent_time_rfc3339(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

static char *micro_time(void)
{
	char buf[40];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", ts.tv_nsec / 1000);
	return xstrdup(buf);
}

/* ---- the machine ---- */

static int64_t meminfo(const char *key)
{
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t kl = strlen(key);

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			return strtoll(line + kl + 1, NULL, 10) * 1024;
	return 0;
}

static char *os_image(void)
{
	cleanup_fclose FILE *f = fopen("/etc/os-release", "re");
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "PRETTY_NAME=", 12))
			continue;
		char *v = line + 12;

		v[strcspn(v, "\n")] = '\0';
		if (*v == '"') {
			v++;
			v[strcspn(v, "\"")] = '\0';
		}
		return xstrdup(v);
	}
	return xstrdup("Linux");
}

static json_t *node_resources(struct agent *a)
{
	struct statvfs sv;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int64_t disk = 0;
	cleanup_free char *cpu = xasprintf("%ld", cpus > 0 ? cpus : 1);
	cleanup_free char *mem = xasprintf("%lldKi", (long long)(meminfo("MemTotal") / 1024));
	cleanup_free char *pods = xasprintf("%d", a->cfg.max_pods ? a->cfg.max_pods : 110);
	cleanup_free char *eph = NULL;

	if (statvfs(a->dir, &sv) == 0)
		disk = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
	eph = xasprintf("%lldKi", (long long)(disk / 1024));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "cpu", cpu, "memory", mem,
			 "ephemeral-storage", eph, "pods", pods, "hugepages-1Gi", "0",
			 "hugepages-2Mi", "0");
}

static json_t *condition(const char *type, bool bad, const char *reason_ok, const char *msg_ok,
			 const char *reason_bad, const char *msg_bad, const char *now)
{
	bool ready = !strcmp(type, "Ready");
	const char *status = ready ? (bad ? "False" : "True") : (bad ? "True" : "False");

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status, "reason",
			 bad ? reason_bad : reason_ok, "message", bad ? msg_bad : msg_ok,
			 "lastHeartbeatTime", now, "lastTransitionTime", now);
}

static json_t *node_status(struct agent *a)
{
	cleanup_free char *now = agent_time_rfc3339();
	cleanup_free char *osimg = os_image();
	cleanup_free char *runtime = xasprintf("skiff://%s", SKIFF_VERSION_STRING);
	json_t *res = node_resources(a);
	struct utsname u;
	struct statvfs sv;
	int64_t avail = meminfo("MemAvailable");
	bool mem_pressure = a->memory_pressure || (avail > 0 && avail < a->cfg.eviction_memory);
	bool disk_pressure =
		statvfs(a->dir, &sv) == 0 && sv.f_blocks && sv.f_bavail * 10 < sv.f_blocks;
	json_t *conds = json_array();

	uname(&u);
	json_array_append_new(conds, condition("MemoryPressure", mem_pressure,
					       "KubeletHasSufficientMemory",
					       "kubelet has sufficient memory available",
					       "KubeletHasInsufficientMemory",
					       "kubelet has insufficient memory available", now));
	json_array_append_new(conds,
			      condition("DiskPressure", disk_pressure, "KubeletHasNoDiskPressure",
					"kubelet has no disk pressure", "KubeletHasDiskPressure",
					"kubelet has disk pressure", now));
	json_array_append_new(conds, condition("PIDPressure", false, "KubeletHasSufficientPID",
					       "kubelet has sufficient PID available",
					       "KubeletHasInsufficientPID",
					       "kubelet has insufficient PID available", now));
	json_array_append_new(conds,
			      condition("Ready", !a->pod_cidr[0], "KubeletReady",
					"kubelet is posting ready status", "KubeletNotReady",
					"network is not ready: no pod CIDR assigned yet", now));
	return json_pack("{s:O, s:o, s:o, s:[{s:s, s:s}, {s:s, s:s}], s:{s:{s:i}}, "
			 "s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
			 "capacity", res, "allocatable", res, "conditions", conds, "addresses",
			 "type", "InternalIP", "address", a->cfg.node_ip, "type", "Hostname",
			 "address", a->cfg.node_name, "daemonEndpoints", "kubeletEndpoint", "Port",
			 a->cfg.port ? a->cfg.port : 10250, "nodeInfo", "machineID",
			 a->cfg.node_name, "systemUUID", a->cfg.node_name, "bootID", "",
			 "kernelVersion", u.release, "osImage", osimg, "containerRuntimeVersion",
			 runtime, "kubeletVersion", "v1.32.0-skiff", "kubeProxyVersion",
			 "v1.32.0-skiff", "operatingSystem", "linux", "architecture", "amd64");
}

static json_t *node_object(struct agent *a)
{
	json_t *labels =
		json_pack("{s:s, s:s, s:s, s:s, s:s}", "kubernetes.io/hostname", a->cfg.node_name,
			  "kubernetes.io/os", "linux", "kubernetes.io/arch", "amd64",
			  "beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch", "amd64");
	cleanup_free char *provider = xasprintf("skiff://%s", a->cfg.node_name);

	return json_pack("{s:s, s:s, s:{s:s, s:o, s:{s:s}}, s:{s:s}, s:o}", "apiVersion", "v1",
			 "kind", "Node", "metadata", "name", a->cfg.node_name, "labels", labels,
			 "annotations", "node.alpha.kubernetes.io/ttl", "0", "spec", "providerID",
			 provider, "status", node_status(a));
}

/* ---- pod network of the node ---- */

static bool vxlan_mode(struct agent *a)
{
	return !a->cfg.network_mode || !strcmp(a->cfg.network_mode, "vxlan");
}

static int network_setup(struct agent *a, const char *cidr, struct err *err)
{
	cleanup_free char *ipam_dir = xasprintf("%s/ipam", a->dir);
	cleanup_free char *gw_cidr = NULL;
	char gw[16];
	unsigned b0, b1, b2, b3, len;

	if (sscanf(cidr, "%u.%u.%u.%u/%u", &b0, &b1, &b2, &b3, &len) != 5 || len > 30)
		return err_set(err, EINVAL, "node's podCIDR '%s' is not an IPv4 network", cidr);
	snprintf(gw, sizeof(gw), "%u.%u.%u.%u", b0, b1, b2, b3 + 1);
	gw_cidr = xasprintf("%s/%u", gw, len);
	/* VXLAN takes 50 bytes of each packet: pods get what fits through the tunnel */
	if (net_nl_load(err) < 0 ||
	    net_bridge_ensure(a->bridge, gw_cidr, vxlan_mode(a) ? 1450 : 1500, err) < 0)
		return -err->code;
	if (fs_write_knob(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", "1", 1, err) < 0)
		return err_wrap(err, "enable IP forwarding");
	if (net_ipam_open(ipam_dir, cidr, &a->ipam, err) < 0)
		return -err->code;
	snprintf(a->gateway, sizeof(a->gateway), "%s", gw);
	snprintf(a->pod_cidr, sizeof(a->pod_cidr), "%s", cidr);
	log_info("agent: pod network %s on bridge %s (gateway %s)", cidr, a->bridge, gw);
	return 0;
}

/* ---- registration and heartbeats ---- */

static int register_node(struct agent *a, struct err *err)
{
	cleanup_json json_t *node = node_object(a), *resp = NULL, *patch = NULL;
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s", a->cfg.node_name);
	cleanup_free char *spath = xasprintf("%s/status", path);
	const char *cidr, *uid;
	int r;

	r = kc_request(a->kc, "POST", "/api/v1/nodes", NULL, node, &resp, err);
	if (r == 409) {
		/* registered by an earlier run: take it over */
		err_clear(err);
		json_decref(resp);
		resp = NULL;
		r = kc_request(a->kc, "GET", path, NULL, NULL, &resp, err);
	}
	if (r < 0 || r >= 300)
		return err_wrap(err, "register node '%s'", a->cfg.node_name);
	uid = json_string_value(json_object_get(json_object_get(resp, "metadata"), "uid"));
	free(a->node_uid);
	a->node_uid = uid ? xstrdup(uid) : NULL;
	cidr = json_string_value(json_object_get(json_object_get(resp, "spec"), "podCIDR"));
	if (!cidr)
		return err_set(err, EAGAIN, "node '%s' has no podCIDR (is --cluster-cidr set?)",
			       a->cfg.node_name);
	if (!a->pod_cidr[0] && network_setup(a, cidr, err) < 0)
		return -err->code;
	/* Ready at once, now that the pod network is there: not after a status period */
	patch = json_pack("{s:o}", "status", node_status(a));
	json_decref(resp);
	resp = NULL;
	r = kc_request(a->kc, "PATCH", spath, "application/merge-patch+json", patch, NULL, err);
	if (r < 0 || r >= 300)
		return err_wrap(err, "post the status of node '%s'", a->cfg.node_name);
	return 0;
}

static void renew_lease(struct agent *a)
{
	cleanup_free char *path = xasprintf("%s/%s", LEASE_PATH, a->cfg.node_name);
	cleanup_free char *now = micro_time();
	int secs = a->cfg.lease_seconds ? a->cfg.lease_seconds : 40;
	cleanup_json json_t *patch =
		json_pack("{s:{s:s, s:s, s:i}}", "spec", "renewTime", now, "holderIdentity",
			  a->cfg.node_name, "leaseDurationSeconds", secs);
	struct err err = ERR_INIT;
	int r = kc_request(a->kc, "PATCH", path, "application/merge-patch+json", patch, NULL, &err);

	if (r == 404) {
		cleanup_json json_t *lease = json_pack(
			"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
			"coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
			a->cfg.node_name, "namespace", "kube-node-lease", "spec", "holderIdentity",
			a->cfg.node_name, "leaseDurationSeconds", secs, "renewTime", now);

		err_clear(&err);
		if (a->node_uid)
			json_object_set_new(json_object_get(lease, "metadata"), "ownerReferences",
					    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1",
						      "kind", "Node", "name", a->cfg.node_name,
						      "uid", a->node_uid));
		r = kc_request(a->kc, "POST", LEASE_PATH, NULL, lease, NULL, &err);
	}
	if (r < 0 || r >= 300)
		log_warn("agent: renew lease of node '%s': %s", a->cfg.node_name,
			 err.msg ? err.msg : "failed");
	err_clear(&err);
}

static void post_status(struct agent *a)
{
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s/status", a->cfg.node_name);
	cleanup_json json_t *patch = json_pack("{s:o}", "status", node_status(a));
	struct err err = ERR_INIT;
	int r = kc_request(a->kc, "PATCH", path, "application/merge-patch+json", patch, NULL, &err);

	if (r == 404) {
		/* the Node was deleted: register again */
		err_clear(&err);
		if (register_node(a, &err) < 0)
			log_warn("agent: %s", err.msg);
	} else if (r < 0 || r >= 300) {
		log_warn("agent: update status of node '%s': %s", a->cfg.node_name,
			 err.msg ? err.msg : "failed");
	}
	err_clear(&err);
}

static bool wait_stop(struct agent *a, int64_t ms)
{
	struct timespec ts;
	bool stop;

	clock_deadline(&ts, ms);
	pthread_mutex_lock(&a->mu);
	while (!a->stopping && clock_timedwait(&a->cond, &a->mu, &ts) == 0)
		;
	stop = a->stopping;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

static void *heartbeat_main(void *arg)
{
	struct agent *a = arg;
	int64_t lease_ms = (a->cfg.lease_seconds ? a->cfg.lease_seconds : 40) * 1000 / 4;
	int64_t status_ms = a->cfg.status_interval_ms ? a->cfg.status_interval_ms : 10000;
	int64_t house_ms = a->cfg.housekeeping_ms ? a->cfg.housekeeping_ms : 10000;
	int64_t next_lease = 0, next_status = clock_mono_ms() + status_ms;
	int64_t next_house = clock_mono_ms() + house_ms;

	if (lease_ms > 10000)
		lease_ms = 10000;
	for (;;) {
		int64_t now = clock_mono_ms();
		int64_t wait;

		if (now >= next_lease) {
			renew_lease(a);
			next_lease = now + lease_ms;
		}
		if (now >= next_house) {
			bool before = a->memory_pressure;

			agent_housekeeping(a);
			next_house = now + house_ms;
			/* a change of pressure is news for the scheduler: report it at once */
			if (before != a->memory_pressure)
				next_status = now;
		}
		if (now >= next_status) {
			post_status(a);
			next_status = now + status_ms;
		}
		wait = (next_lease < next_status ? next_lease : next_status);
		wait = (wait < next_house ? wait : next_house) - clock_mono_ms();
		if (wait_stop(a, wait > 0 ? wait : 0))
			return NULL;
	}
}

/* ---- pods ---- */

struct apod *agent_find_locked(struct agent *a, const char *uid)
{
	for (size_t i = 0; i < a->n_apods; i++)
		if (!strcmp(a->apods[i]->uid, uid))
			return a->apods[i];
	return NULL;
}

struct apod *agent_lookup_pod(struct agent *a, const char *ns, const char *name)
{
	struct apod *p = NULL;

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->n_apods; i++) {
		struct apod *q = a->apods[i];

		if (!strcmp(q->ns, ns) && !strcmp(q->name, name) && !q->gone) {
			p = q;
			break;
		}
	}
	if (p)
		pthread_mutex_lock(&p->mu);
	pthread_mutex_unlock(&a->mu);
	return p;
}

static const char *pod_uid(const json_t *pod)
{
	return json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid"));
}

static void on_add(void *arg, json_t *obj)
{
	struct agent *a = arg;
	const char *uid = pod_uid(obj);

	if (uid)
		wq_add(a->wq, uid);
}

static void on_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	on_add(arg, obj);
}

static void on_delete(void *arg, json_t *obj)
{
	on_add(arg, obj);
}

/* The pod object with @uid among those bound to us, as a new reference; NULL if none. */
static json_t *find_object(struct agent *a, const char *uid, const char *ns, const char *name)
{
	json_t *pod = ns && name ? informer_get(a->pods, ns, name) : NULL;

	if (pod && (!pod_uid(pod) || strcmp(pod_uid(pod), uid))) {
		json_decref(pod);
		pod = NULL;
	}
	return pod;
}

struct search {
	const char *uid;
	json_t *found;
};

static void search_fn(void *arg, json_t *obj)
{
	struct search *s = arg;

	if (!s->found && pod_uid(obj) && !strcmp(pod_uid(obj), s->uid))
		s->found = json_incref(obj);
}

static int sync_pod(void *arg, const char *uid, struct err *err)
{
	struct agent *a = arg;
	struct apod *p;
	json_t *pod = NULL;
	int64_t again;

	(void)err;
	pthread_mutex_lock(&a->mu);
	p = agent_find_locked(a, uid);
	pthread_mutex_unlock(&a->mu);
	if (p) {
		pod = find_object(a, uid, p->ns, p->name);
	} else {
		struct search s = {.uid = uid};

		informer_foreach(a->pods, search_fn, &s);
		pod = s.found;
		if (!pod)
			return 0;
		p = pod_adopt(a, uid);
		pthread_mutex_lock(&a->mu);
		a->apods = xrealloc(a->apods, (a->n_apods + 1) * sizeof(*a->apods));
		a->apods[a->n_apods++] = p;
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	json_decref(p->pod_ref);
	p->pod_ref = json_incref(pod);
	pthread_mutex_unlock(&a->mu);
	pthread_mutex_lock(&p->mu);
	if (!pod) {
		p->gone = true;
		if (pod_cleanup(a, p)) {
			pthread_mutex_unlock(&p->mu);
			pthread_mutex_lock(&a->mu);
			for (size_t i = 0; i < a->n_apods; i++) {
				if (a->apods[i] == p) {
					a->apods[i] = a->apods[--a->n_apods];
					break;
				}
			}
			pthread_mutex_unlock(&a->mu);
			apod_free(p);
			return 0;
		}
		pthread_mutex_unlock(&p->mu);
		return 500;
	}
	again = pod_sync(a, p, pod);
	pthread_mutex_unlock(&p->mu);
	json_decref(pod);
	return again > 0 ? (int)(again > INT32_MAX ? INT32_MAX : again) : 0;
}

/* Pods an earlier run left on disk get a sync too: running on, or cleaned up. */
static void adopt_all(struct agent *a)
{
	cleanup_dir DIR *d = opendir(a->pods_dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		pthread_mutex_lock(&a->mu);
		if (!agent_find_locked(a, e->d_name)) {
			struct apod *p = pod_adopt(a, e->d_name);

			if (p) {
				a->apods = xrealloc(a->apods, (a->n_apods + 1) * sizeof(*a->apods));
				a->apods[a->n_apods++] = p;
			}
		}
		pthread_mutex_unlock(&a->mu);
		wq_add(a->wq, e->d_name);
	}
}

static void *worker_main(void *arg)
{
	struct agent *a = arg;

	wq_process(a->wq, "pod", sync_pod, a);
	return NULL;
}

/* The pod uid of a prober key "<uid>/<container>"; false if malformed. */
static bool key_uid(const char *key, char uid[64])
{
	const char *slash = strchr(key, '/');

	if (!slash || (size_t)(slash - key) >= 64)
		return false;
	memcpy(uid, key, (size_t)(slash - key));
	uid[slash - key] = '\0';
	return true;
}

static void changed(void *arg, const char *key, enum probe_kind kind, bool ok, const char *msg)
{
	struct agent *a = arg;
	char uid[64];

	(void)kind;
	(void)ok;
	(void)msg;
	if (key_uid(key, uid))
		wq_add(a->wq, uid);
}

static void failed(void *arg, const char *key, enum probe_kind kind, const char *msg)
{
	struct agent *a = arg;
	char uid[64];
	struct apod *p;
	json_t *pod = NULL;

	(void)kind;
	if (!key_uid(key, uid))
		return;
	pthread_mutex_lock(&a->mu);
	p = agent_find_locked(a, uid);
	if (p && p->pod_ref)
		pod = json_incref(p->pod_ref);
	pthread_mutex_unlock(&a->mu);
	if (pod)
		kc_event(a->kc, pod, "Warning", "Unhealthy", AGENT_COMPONENT, "%s", msg);
	json_decref(pod);
}

static int probe_exec(void *arg, const char *key, char *const *argv, int timeout_ms,
		      int *ret_status, char **ret_output, struct err *perr)
{
	struct agent *a = arg;
	char uid[64];
	const char *slash = strchr(key, '/');
	cleanup_free char *id = NULL;
	struct err err = ERR_INIT;
	struct apod *p;
	int r;

	if (!key_uid(key, uid))
		return err_set(perr, EINVAL, "bad probe key '%s'", key);
	pthread_mutex_lock(&a->mu);
	p = agent_find_locked(a, uid);
	if (p) {
		/* the container's id only: the pod's lock is not taken here */
		for (size_t i = 0; i < p->n_c; i++)
			if (!strcmp(p->c[i].name, slash + 1) && p->c[i].id)
				id = xstrdup(p->c[i].id);
	}
	pthread_mutex_unlock(&a->mu);
	if (!id)
		return err_set(perr, ENOENT, "container '%s' is not running", slash + 1);
	r = agent_exec_capture(a, id, argv, timeout_ms, ret_status, ret_output, &err);
	if (r < 0 && r != -ETIMEDOUT)
		err_set(perr, err.code, "%s", err.msg ? err.msg : "exec failed");
	err_clear(&err);
	return r;
}

static void agent_free(struct agent *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_apods; i++)
		apod_free(a->apods[i]);
	free(a->apods);
	if (a->images)
		img_store_close(a->images);
	net_ipam_free(a->ipam);
	free(a->kubelet_token);
	free(a->node_token);
	free(a->dir);
	free(a->pods_dir);
	free(a->runtime_root);
	free(a->log_dir);
	free(a->cgroup_root);
	free(a->self_exe);
	free(a->cluster_dns);
	free(a->cluster_domain);
	free(a->bridge);
	free(a->node_uid);
	free(a->tls_cert);
	free(a->tls_key);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->images_mu);
	pthread_cond_destroy(&a->cond);
	free(a);
}

static int setup_paths(struct agent *a, const struct agent_config *cfg, struct err *err)
{
	char exe[PATH_MAX];
	ssize_t n;

	a->dir = xasprintf("%s/agent", cfg->data_dir);
	a->pods_dir = xasprintf("%s/pods", a->dir);
	a->runtime_root =
		cfg->runtime_root ? xstrdup(cfg->runtime_root) : xasprintf("%s/runtime", a->dir);
	a->log_dir = xstrdup(cfg->log_dir ? cfg->log_dir : "/var/log/skiff/pods");
	a->cgroup_root = xstrdup(cfg->cgroup_root ? cfg->cgroup_root : "/kubepods");
	a->cluster_dns = xstrdup(cfg->cluster_dns ? cfg->cluster_dns : "10.43.0.10");
	a->cluster_domain = xstrdup(cfg->cluster_domain ? cfg->cluster_domain : "cluster.local");
	a->bridge = xstrdup(cfg->bridge ? cfg->bridge : "skiff0");
	if (cfg->self_exe) {
		a->self_exe = xstrdup(cfg->self_exe);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return err_sys(err, "find the skiff binary");
		exe[n] = '\0';
		a->self_exe = xstrdup(exe);
	}
	if (fs_mkdir_p(a->pods_dir, 0700, err) < 0 || fs_mkdir_p(a->runtime_root, 0700, err) < 0 ||
	    fs_mkdir_p(a->log_dir, 0755, err) < 0)
		return -err->code;
	return 0;
}

int agent_start(struct kc *c, const struct agent_config *cfg, struct agent **ret, struct err *err)
{
	struct agent *a = xcalloc(1, sizeof(*a));
	cleanup_free char *img_root = NULL, *path = NULL;
	struct informer_handlers h = {
		.add = on_add, .update = on_update, .del = on_delete, .arg = NULL};
	struct prober_ops pops = {.exec = probe_exec, .changed = changed, .failed = failed};
	int r;

	if (cfg->network_mode && strcmp(cfg->network_mode, "vxlan") &&
	    strcmp(cfg->network_mode, "host-gw")) {
		free(a);
		return err_set(err, EINVAL, "--flannel-backend '%s': expected vxlan or host-gw",
			       cfg->network_mode);
	}
	if (!cfg->node_name || !cfg->node_ip || !cfg->data_dir) {
		free(a);
		return err_set(err, EINVAL, "agent: node name, node IP and data dir are required");
	}
	a->cfg = *cfg;
	if (!a->cfg.eviction_memory)
		a->cfg.eviction_memory = 100LL << 20;
	if (!a->cfg.image_gc_set) {
		a->cfg.image_gc_high = 85;
		a->cfg.image_gc_low = 80;
	}
	a->kc = c;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->images_mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	if (cfg->join_token)
		a->kubelet_token = api_kubelet_client_credential(cfg->join_token);
	if (setup_paths(a, cfg, err) < 0)
		goto fail;
	img_root =
		cfg->image_root ? xstrdup(cfg->image_root) : xasprintf("%s/images", cfg->data_dir);
	if (img_store_open(img_root, &a->images, err) < 0)
		goto fail;
	if (register_node(a, err) < 0)
		goto fail;
	pops.arg = a;
	a->pops = pops;
	if (prober_new(&pops, &a->prober, err) < 0)
		goto fail;
	if (kubelet_start(a, err) < 0)
		goto fail;
	{
		struct nodenet_config nc = {
			.node_name = cfg->node_name,
			.node_ip = cfg->node_ip,
			.pod_cidr = a->pod_cidr,
			.cluster_cidr = cfg->cluster_cidr,
			.service_cidr = cfg->service_cidr,
			.mode = vxlan_mode(a) ? "vxlan" : "direct",
		};
		struct svcproxy_config pc = {
			.node_name = cfg->node_name,
			.cluster_cidr = cfg->cluster_cidr ? cfg->cluster_cidr : "10.42.0.0/16",
			.service_cidr = cfg->service_cidr ? cfg->service_cidr : "10.43.0.0/16",
		};

		if (nodenet_start(c, &nc, &a->nodenet, err) < 0)
			goto fail;
		if (!cfg->no_proxy && svcproxy_start(c, &pc, &a->proxy, err) < 0)
			goto fail;
	}
	a->wq = wq_new();
	h.arg = a;
	path = xasprintf("/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", cfg->node_name);
	if (informer_start(c, path, &h, &a->pods, err) < 0)
		goto fail;
	informer_wait_synced(a->pods, 10000);
	adopt_all(a);
	a->n_workers = sizeof(a->workers) / sizeof(a->workers[0]);
	for (size_t i = 0; i < a->n_workers; i++) {
		r = pthread_create(&a->workers[i], NULL, worker_main, a);
		if (r) {
			a->n_workers = i;
			err_errno(err, r, "start agent worker");
			goto fail;
		}
	}
	r = pthread_create(&a->heartbeat, NULL, heartbeat_main, a);
	if (r) {
		err_errno(err, r, "start agent heartbeat");
		goto fail;
	}
	log_info("agent: node %s (%s) ready, pods under %s", cfg->node_name, cfg->node_ip,
		 a->pods_dir);
	*ret = a;
	return 0;

fail:
	a->stopping = true;
	if (a->wq)
		wq_shutdown(a->wq);
	for (size_t i = 0; i < a->n_workers; i++)
		pthread_join(a->workers[i], NULL);
	informer_stop(a->pods);
	svcproxy_stop(a->proxy);
	nodenet_stop(a->nodenet);
	kubelet_stop(a);
	prober_free(a->prober);
	wq_free(a->wq);
	agent_free(a);
	return err_wrap(err, "start node agent");
}

void agent_stop(struct agent *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->heartbeat, NULL);
	svcproxy_stop(a->proxy);
	nodenet_stop(a->nodenet);
	informer_stop(a->pods);
	wq_shutdown(a->wq);
	for (size_t i = 0; i < a->n_workers; i++)
		pthread_join(a->workers[i], NULL);
	kubelet_stop(a);
	prober_free(a->prober);
	wq_free(a->wq);
	agent_free(a);
}

const char *agent_pod_gateway(const struct agent *a)
{
	return a && a->gateway[0] ? a->gateway : NULL;
}
