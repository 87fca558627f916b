/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoints controller: for every Service with a selector it keeps the Endpoints
 * object of the same name and the Service's EndpointSlices equal to the pods the selector
 * picks, as upstream's endpoints and endpointslice controllers do together. Pods and
 * services are indexed by namespace and label so that one pod change queues only the
 * services selecting it; objects are written only when their content changes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"

#define SLICE_MANAGER     "endpointslice-controller.k8s.io"
#define LABEL_SERVICE     "kubernetes.io/service-name"
#define LABEL_MANAGED_BY  "endpointslice.kubernetes.io/managed-by"
#define LABEL_HEADLESS    "service.kubernetes.io/headless"
#define ANN_TRIGGER_TIME  "endpoints.kubernetes.io/last-change-trigger-time"
#define ANN_OVER_CAPACITY "endpoints.kubernetes.io/over-capacity"
#define MAX_PER_SLICE     100
#define MAX_ENDPOINTS     1000

/* Pure parts, exported for tests/unit/test_ctrl_net.c. */
typedef char *(*ctl_zone_fn)(void *arg, const char *node);
bool ctl_pod_ready(const json_t *pod);
bool ctl_pod_in_endpoints(const json_t *pod, bool include_terminating);
int ctl_find_port(const json_t *pod, const json_t *svc_port);
json_t *ctl_endpoints_subsets(const json_t *svc, json_t *const *pods, size_t n);
json_t *ctl_slice_groups(const json_t *svc, json_t *const *pods, size_t n, ctl_zone_fn zone,
			 void *zone_arg);
json_t *ctl_slices_reconcile(const json_t *svc, const json_t *groups, const json_t *existing);

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool ctl_pod_ready(const json_t *pod)
{
	const json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions");
	size_t i;
	const json_t *c;

	json_array_foreach (conds, i, c)
		if (streq(str_at(c, "type", NULL), "Ready"))
			return streq(str_at(c, "status", NULL), "True");
	return false;
}

/* The pod's first IPv4 address: status.podIPs, else status.podIP. */
static const char *pod_ipv4(const json_t *pod)
{
	const json_t *status = json_object_get(pod, "status");
	const json_t *ips = json_object_get(status, "podIPs");
	const char *ip = NULL;
	size_t i;
	const json_t *e;

	json_array_foreach (ips, i, e) {
		ip = str_at(e, "ip", NULL);
		if (ip && !strchr(ip, ':'))
			return ip;
	}
	ip = str_at(status, "podIP", NULL);
	return ip && *ip && !strchr(ip, ':') ? ip : NULL;
}

bool ctl_pod_in_endpoints(const json_t *pod, bool include_terminating)
{
	const char *phase = str_at(pod, "status", "phase");

	if (!pod_ipv4(pod))
		return false;
	if (!include_terminating &&
	    json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
		return false;
	/* a terminal pod never serves again, whatever its restart policy said */
	return !streq(phase, "Succeeded") && !streq(phase, "Failed");
}

static const char *protocol_of(const json_t *port)
{
	const char *p = str_at(port, "protocol", NULL);

	return p && *p ? p : "TCP";
}

static int port_in(const json_t *containers, const char *name, const char *proto, bool sidecars)
{
	size_t i, j;
	const json_t *c, *p;

	json_array_foreach (containers, i, c) {
		if (sidecars && !streq(str_at(c, "restartPolicy", NULL), "Always"))
			continue;
		json_array_foreach (json_object_get(c, "ports"), j, p)
			if (streq(str_at(p, "name", NULL), name) &&
			    strcmp(protocol_of(p), proto) == 0)
				return (int)json_integer_value(json_object_get(p, "containerPort"));
	}
	return -1;
}

/* The container port a service port sends to on @pod, or -1 when the pod has none. */
int ctl_find_port(const json_t *pod, const json_t *svc_port)
{
	const json_t *tp = json_object_get(svc_port, "targetPort");
	const json_t *spec = json_object_get(pod, "spec");
	const char *name;
	int r;

	if (!tp)
		return (int)json_integer_value(json_object_get(svc_port, "port"));
	if (json_is_integer(tp))
		return (int)json_integer_value(tp);
	name = json_string_value(tp);
	if (!name || !*name)
		return -1;
	r = port_in(json_object_get(spec, "containers"), name, protocol_of(svc_port), false);
	if (r < 0)
		r = port_in(json_object_get(spec, "initContainers"), name, protocol_of(svc_port),
			    true);
	return r;
}

static bool headless(const json_t *svc)
{
	const char *ip = str_at(svc, "spec", "clusterIP");

	return !ip || !*ip || strcmp(ip, "None") == 0;
}

static bool publish_not_ready(const json_t *svc)
{
	return json_is_true(
		json_object_get(json_object_get(svc, "spec"), "publishNotReadyAddresses"));
}

static json_t *target_ref(const json_t *pod)
{
	const json_t *m = json_object_get(pod, "metadata");

	return json_pack("{s:s, s:s, s:s, s:s}", "kind", "Pod", "namespace",
			 or_empty(str_at(m, "namespace", NULL)), "name",
			 or_empty(str_at(m, "name", NULL)), "uid",
			 or_empty(str_at(m, "uid", NULL)));
}

/* spec.hostname is published when the pod names this service as its subdomain. */
static const char *pod_hostname(const json_t *svc, const json_t *pod)
{
	const json_t *spec = json_object_get(pod, "spec");
	const char *h = str_at(spec, "hostname", NULL);

	if (!h || !*h || !streq(str_at(spec, "subdomain", NULL), str_at(svc, "metadata", "name")))
		return NULL;
	return h;
}

/* Ports of @svc resolved for @pod, in service order; a port the pod lacks is left out. */
static json_t *pod_ports(const json_t *svc, const json_t *pod, bool slice)
{
	json_t *out = json_array();
	size_t i;
	const json_t *sp;

	json_array_foreach (json_object_get(json_object_get(svc, "spec"), "ports"), i, sp) {
		int num = ctl_find_port(pod, sp);
		const char *name = str_at(sp, "name", NULL);
		const json_t *app = json_object_get(sp, "appProtocol");
		json_t *p;

		if (num <= 0)
			continue;
		p = json_pack("{s:i, s:s}", "port", num, "protocol", protocol_of(sp));
		/* EndpointPort.name is a pointer in discovery/v1, so "" is written there */
		if (slice || (name && *name))
			json_object_set_new(p, "name", json_string(or_empty(name)));
		if (app)
			json_object_set(p, "appProtocol", (json_t *)app);
		json_array_append_new(out, p);
	}
	return out;
}

static int cmp_port(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int r = strcmp(or_empty(str_at(x, "name", NULL)), or_empty(str_at(y, "name", NULL)));

	if (r)
		return r;
	r = (int)(json_integer_value(json_object_get(x, "port")) -
		  json_integer_value(json_object_get(y, "port")));
	return r ? r : strcmp(protocol_of(x), protocol_of(y));
}

static int cmp_addr(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int r = strcmp(or_empty(str_at(x, "ip", NULL)), or_empty(str_at(y, "ip", NULL)));

	return r ? r
		 : strcmp(or_empty(str_at(x, "targetRef", "uid")),
			  or_empty(str_at(y, "targetRef", "uid")));
}

static void sort_array(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr);
	json_t **v = xcalloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/* A canonical text for a sorted port list: the key that groups addresses. */
static char *ports_key(const json_t *ports)
{
	return jdump_s(ports, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Adds @addr to the subset of @by_ports (object: ports key -> subset) for @ports. */
static void add_address(json_t *by_ports, json_t *ports, json_t *addr, bool ready)
{
	cleanup_free char *key = NULL;
	json_t *subset;
	const char *field = ready ? "addresses" : "notReadyAddresses";

	sort_array(ports, cmp_port);
	key = ports_key(ports);
	subset = json_object_get(by_ports, key);
	if (!subset) {
		subset = json_object();
		if (json_array_size(ports))
			json_object_set(subset, "ports", ports);
		json_object_set_new(by_ports, key, subset);
	}
	if (!json_object_get(subset, field))
		json_object_set_new(subset, field, json_array());
	json_array_append(json_object_get(subset, field), addr);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The values of @obj (an object) in the order of their sorted keys, appended to @arr. */
static void append_sorted_values(json_t *arr, const json_t *obj)
{
	size_t n = json_object_size(obj), j = 0;
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)obj, k, v)
		keys[j++] = k;
	qsort(keys, n, sizeof(*keys), cmp_str_ptr);
	for (j = 0; j < n; j++)
		json_array_append(arr, json_object_get(obj, keys[j]));
	free(keys);
}

/*
 * Endpoints.subsets for @svc over its selected @pods: one subset per distinct set of
 * resolved ports, addresses sorted by IP, subsets by their ports, so that equal inputs
 * give equal output and an unchanged service is never rewritten.
 */
json_t *ctl_endpoints_subsets(const json_t *svc, json_t *const *pods, size_t n)
{
	bool pnr = publish_not_ready(svc);
	size_t nports = json_array_size(json_object_get(json_object_get(svc, "spec"), "ports"));
	cleanup_json json_t *by_ports = json_object();
	json_t *subsets = json_array();
	const char *k;
	json_t *v;

	for (size_t i = 0; i < n; i++) {
		const json_t *pod = pods[i];
		cleanup_json json_t *addr = NULL, *ports = NULL;
		const char *h, *node;

		if (!ctl_pod_in_endpoints(pod, pnr))
			continue;
		addr = json_pack("{s:s, s:o}", "ip", pod_ipv4(pod), "targetRef", target_ref(pod));
		node = str_at(pod, "spec", "nodeName");
		if (node && *node)
			json_object_set_new(addr, "nodeName", json_string(node));
		h = pod_hostname(svc, pod);
		if (h)
			json_object_set_new(addr, "hostname", json_string(h));
		if (nports == 0 && !headless(svc))
			continue;
		ports = nports ? pod_ports(svc, pod, false) : json_array();
		if (nports && json_array_size(ports) == 0)
			continue;
		add_address(by_ports, ports, addr, pnr || ctl_pod_ready(pod));
	}
	json_object_foreach (by_ports, k, v) {
		sort_array(json_object_get(v, "addresses"), cmp_addr);
		sort_array(json_object_get(v, "notReadyAddresses"), cmp_addr);
	}
	append_sorted_values(subsets, by_ports);
	return subsets;
}

/* Caps the subsets at MAX_ENDPOINTS addresses, ready ones first; true if it cut any. */
static bool truncate_subsets(json_t *subsets)
{
	size_t total = 0, room = MAX_ENDPOINTS, i;
	json_t *s;

	json_array_foreach (subsets, i, s)
		total += json_array_size(json_object_get(s, "addresses")) +
			 json_array_size(json_object_get(s, "notReadyAddresses"));
	if (total <= MAX_ENDPOINTS)
		return false;
	for (int pass = 0; pass < 2; pass++) {
		const char *field = pass == 0 ? "addresses" : "notReadyAddresses";

		json_array_foreach (subsets, i, s) {
			json_t *a = json_object_get(s, field);

			while (json_array_size(a) > room)
				json_array_remove(a, json_array_size(a) - 1);
			room -= json_array_size(a);
		}
	}
	return true;
}

static const char *ep_address(const json_t *ep)
{
	return or_empty(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)));
}

static int cmp_slice_ep(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int r = strcmp(ep_address(x), ep_address(y));

	return r ? r
		 : strcmp(or_empty(str_at(x, "targetRef", "uid")),
			  or_empty(str_at(y, "targetRef", "uid")));
}

static json_t *slice_endpoint(const json_t *svc, const json_t *pod, ctl_zone_fn zone,
			      void *zone_arg)
{
	bool serving = ctl_pod_ready(pod);
	bool terminating = json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp");
	/* ready is never true for a terminating pod unless the service publishes everything */
	bool ready = publish_not_ready(svc) || (serving && !terminating);
	const char *node = str_at(pod, "spec", "nodeName"), *h = pod_hostname(svc, pod);
	json_t *ep = json_pack("{s:[s], s:{s:b, s:b, s:b}, s:o}", "addresses", pod_ipv4(pod),
			       "conditions", "ready", ready, "serving", serving, "terminating",
			       terminating, "targetRef", target_ref(pod));

	if (node && *node) {
		cleanup_free char *z = zone ? zone(zone_arg, node) : NULL;

		json_object_set_new(ep, "nodeName", json_string(node));
		if (z && *z)
			json_object_set_new(ep, "zone", json_string(z));
	}
	if (h)
		json_object_set_new(ep, "hostname", json_string(h));
	return ep;
}

/*
 * The EndpointSlice content @svc needs: an array of {"ports": [...], "endpoints": [...]}
 * groups, one per distinct set of resolved ports (sorted), endpoints sorted by address.
 * Terminating pods are kept with their conditions, as upstream's slices keep them.
 */
json_t *ctl_slice_groups(const json_t *svc, json_t *const *pods, size_t n, ctl_zone_fn zone,
			 void *zone_arg)
{
	cleanup_json json_t *by_ports = json_object();
	json_t *groups = json_array();
	const char *k;
	json_t *g;

	for (size_t i = 0; i < n; i++) {
		cleanup_json json_t *ports = NULL;
		cleanup_free char *key = NULL;

		if (!ctl_pod_in_endpoints(pods[i], true))
			continue;
		ports = pod_ports(svc, pods[i], true);
		sort_array(ports, cmp_port);
		key = ports_key(ports);
		g = json_object_get(by_ports, key);
		if (!g) {
			g = json_pack("{s:O, s:[]}", "ports", ports, "endpoints");
			json_object_set_new(by_ports, key, g);
		}
		json_array_append_new(json_object_get(g, "endpoints"),
				      slice_endpoint(svc, pods[i], zone, zone_arg));
	}
	json_object_foreach (by_ports, k, g)
		sort_array(json_object_get(g, "endpoints"), cmp_slice_ep);
	append_sorted_values(groups, by_ports);
	return groups;
}

/* The labels a slice of @svc carries: the service's own and the reserved ones. */
static json_t *slice_labels(const json_t *svc)
{
	const json_t *m = json_object_get(svc, "metadata");
	json_t *l = json_object(), *v;
	const char *k;

	json_object_foreach (json_object_get(m, "labels"), k, v)
		if (strcmp(k, LABEL_SERVICE) && strcmp(k, LABEL_MANAGED_BY) &&
		    strcmp(k, LABEL_HEADLESS))
			json_object_set(l, k, v);
	if (headless(svc))
		json_object_set_new(l, LABEL_HEADLESS, json_string(""));
	json_object_set_new(l, LABEL_SERVICE, json_string(or_empty(str_at(m, "name", NULL))));
	json_object_set_new(l, LABEL_MANAGED_BY, json_string(SLICE_MANAGER));
	return l;
}

static bool owned_by(const json_t *slice, const json_t *svc)
{
	const char *uid = str_at(svc, "metadata", "uid");
	size_t i;
	const json_t *o;

	json_array_foreach (json_object_get(json_object_get(slice, "metadata"), "ownerReferences"),
			    i, o)
		if (streq(str_at(o, "kind", NULL), "Service") &&
		    streq(str_at(o, "apiVersion", NULL), "v1") &&
		    streq(str_at(o, "uid", NULL), uid))
			return true;
	return false;
}

static json_t *new_slice(const json_t *svc, const json_t *labels, const json_t *ports, json_t *eps)
{
	const json_t *m = json_object_get(svc, "metadata");
	const char *name = or_empty(str_at(m, "name", NULL));
	cleanup_free char *prefix = xasprintf("%s-", name);

	return json_pack(
		"{s:s, s:s, s:{s:s, s:s, s:O, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, "
		"s:s, s:O, s:o}",
		"apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata",
		"generateName", prefix, "namespace", or_empty(str_at(m, "namespace", NULL)),
		"labels", labels, "ownerReferences", "apiVersion", "v1", "kind", "Service", "name",
		name, "uid", or_empty(str_at(m, "uid", NULL)), "controller", 1,
		"blockOwnerDeletion", 1, "addressType", "IPv4", "ports", ports, "endpoints", eps);
}

static char *ep_key(const json_t *ep)
{
	return xasprintf("%s/%s", or_empty(str_at(ep, "targetRef", "uid")), ep_address(ep));
}

/* The slice's ports in canonical order, as a key. */
static char *slice_ports_key(const json_t *slice)
{
	cleanup_json json_t *ports = json_deep_copy(json_object_get(slice, "ports"));

	if (!ports)
		ports = json_array();
	sort_array(ports, cmp_port);
	return ports_key(ports);
}

struct plan_slice {
	const json_t *old;
	json_t *eps;
	bool changed;
};

/*
 * One port group: endpoints stay in the slice that has them (updated in place when their
 * conditions change); new endpoints go first into slices that change anyway, then into
 * slices with room, then into new slices of at most MAX_PER_SLICE.
 */
static void reconcile_group(const json_t *svc, const json_t *labels, const json_t *group,
			    const json_t *olds, json_t *create, json_t *update, json_t *del)
{
	const json_t *want_eps = json_object_get(group, "endpoints");
	const json_t *ports = json_object_get(group, "ports");
	cleanup_json json_t *want = json_object(), *placed = json_object(), *rest = json_array();
	size_t n = json_array_size(olds), i, j;
	struct plan_slice *ps = xcalloc(n ? n : 1, sizeof(*ps));
	const json_t *e;

	json_array_foreach (want_eps, i, e) {
		cleanup_free char *k = ep_key(e);

		json_object_set(want, k, (json_t *)e);
	}
	for (j = 0; j < n; j++) {
		const json_t *s = json_array_get(olds, j);
		const json_t *sl = json_object_get(json_object_get(s, "metadata"), "labels");

		ps[j].old = s;
		ps[j].eps = json_array();
		ps[j].changed = !json_equal((json_t *)labels, (json_t *)sl);
		json_array_foreach (json_object_get(s, "endpoints"), i, e) {
			cleanup_free char *k = ep_key(e);
			json_t *d = json_object_get(want, k);

			if (!d || json_object_get(placed, k)) {
				ps[j].changed = true;
				continue;
			}
			json_object_set_new(placed, k, json_true());
			json_array_append(ps[j].eps, d);
			if (!json_equal(d, (json_t *)e))
				ps[j].changed = true;
		}
	}
	json_array_foreach (want_eps, i, e) {
		cleanup_free char *k = ep_key(e);

		if (!json_object_get(placed, k))
			json_array_append(rest, (json_t *)e);
	}
	for (int pass = 0; pass < 2; pass++)
		for (j = 0; j < n && json_array_size(rest); j++) {
			if (ps[j].changed != (pass == 0))
				continue;
			while (json_array_size(rest) &&
			       json_array_size(ps[j].eps) < MAX_PER_SLICE) {
				json_array_append(ps[j].eps, json_array_get(rest, 0));
				json_array_remove(rest, 0);
				ps[j].changed = true;
			}
		}
	while (json_array_size(rest)) {
		json_t *eps = json_array();

		while (json_array_size(rest) && json_array_size(eps) < MAX_PER_SLICE) {
			json_array_append(eps, json_array_get(rest, 0));
			json_array_remove(rest, 0);
		}
		json_array_append_new(create, new_slice(svc, labels, ports, eps));
	}
	for (j = 0; j < n; j++) {
		json_t *u;

		if (json_array_size(ps[j].eps) == 0) {
			json_array_append(del, (json_t *)ps[j].old);
			json_decref(ps[j].eps);
			continue;
		}
		if (!ps[j].changed) {
			json_decref(ps[j].eps);
			continue;
		}
		u = json_deep_copy(ps[j].old);
		json_object_set_new(u, "endpoints", ps[j].eps);
		json_object_set(u, "ports", (json_t *)ports);
		json_object_set_new(json_object_get(u, "metadata"), "labels",
				    json_deep_copy(labels));
		json_array_append_new(update, u);
	}
	free(ps);
}

static bool is_placeholder(const json_t *slice, const json_t *labels)
{
	const json_t *sl = json_object_get(json_object_get(slice, "metadata"), "labels");

	return json_array_size(json_object_get(slice, "ports")) == 0 &&
	       json_array_size(json_object_get(slice, "endpoints")) == 0 &&
	       json_equal((json_t *)sl, (json_t *)labels);
}

/*
 * What to write so that @existing (the service's managed slices) carries @groups:
 * {"create": [slices], "update": [slices], "delete": [slices]}. A service without
 * endpoints keeps one empty placeholder slice, as upstream; creates reuse slices that
 * would otherwise be deleted.
 */
json_t *ctl_slices_reconcile(const json_t *svc, const json_t *groups, const json_t *existing)
{
	json_t *create = json_array(), *update = json_array(), *del = json_array(), *arr;
	cleanup_json json_t *labels = slice_labels(svc), *by_ports = json_object();
	const json_t *s, *g;
	const char *k;
	size_t i;

	json_array_foreach (existing, i, s) {
		cleanup_free char *key = NULL;

		if (!owned_by(s, svc) || !streq(str_at(s, "addressType", NULL), "IPv4")) {
			json_array_append(del, (json_t *)s);
			continue;
		}
		key = slice_ports_key(s);
		arr = json_object_get(by_ports, key);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_ports, key, arr);
		}
		json_array_append(arr, (json_t *)s);
	}
	json_array_foreach (groups, i, g) {
		cleanup_free char *key = ports_key(json_object_get(g, "ports"));

		reconcile_group(svc, labels, g, json_object_get(by_ports, key), create, update,
				del);
		json_object_del(by_ports, key);
	}
	json_object_foreach (by_ports, k, arr)
		json_array_extend(del, arr);
	if (json_array_size(existing) == json_array_size(del) && json_array_size(create) == 0) {
		cleanup_json json_t *no_ports = json_array();

		if (json_array_size(del) == 1 && owned_by(json_array_get(del, 0), svc) &&
		    is_placeholder(json_array_get(del, 0), labels))
			json_array_clear(del);
		else
			json_array_append_new(create,
					      new_slice(svc, labels, no_ports, json_array()));
	}
	/* a slice about to be deleted is rewritten instead of creating another */
	for (i = 0; i < json_array_size(del) && json_array_size(create);) {
		json_t *d = json_array_get(del, i), *c, *u;

		if (!owned_by(d, svc) || !streq(str_at(d, "addressType", NULL), "IPv4")) {
			i++;
			continue;
		}
		c = json_array_get(create, json_array_size(create) - 1);
		u = json_deep_copy(d);
		json_object_set(u, "endpoints", json_object_get(c, "endpoints"));
		json_object_set(u, "ports", json_object_get(c, "ports"));
		json_object_set_new(json_object_get(u, "metadata"), "labels",
				    json_deep_copy(labels));
		json_array_append_new(update, u);
		json_array_remove(create, json_array_size(create) - 1);
		json_array_remove(del, i);
	}
	return json_pack("{s:o, s:o, s:o}", "create", create, "update", update, "delete", del);
}

/* The controller. */

struct ep_ctl {
	struct kc *c;
	struct informer *svcs, *pods, *eps, *slices, *nodes;
	struct workqueue *q;
	pthread_t *workers;
	int nworkers;
	bool stopping;
	pthread_mutex_t mu;
	/* guarded by mu; every map is a JSON object used as a hash table */
	json_t *pod_idx;    /* "ns\x1fkey=value" -> {pod name: true} */
	json_t *pod_labels; /* "ns/pod" -> its labels (the pod's own, shared), when it has any */
	json_t *svc_idx;    /* "ns\x1fkey=value" -> {service name: true} */
	json_t *selectors;  /* "ns/service" -> its selector */
	json_t *by_svc;     /* "ns/service" -> {slice name: true} (managed slices) */
	json_t *expect;     /* "ns/service" -> {slice name: resourceVersion written, -1: deleted} */
};

static int64_t rv_of(const json_t *obj)
{
	const char *rv = str_at(obj, "metadata", "resourceVersion");

	return rv ? strtoll(rv, NULL, 10) : 0;
}

static char *label_key(const char *ns, const char *k, const json_t *v)
{
	return xasprintf("%s\x1f%s=%s", ns, k, or_empty(json_string_value(v)));
}

static void set_add(json_t *idx, const char *key, const char *member)
{
	json_t *set = json_object_get(idx, key);

	if (!set) {
		set = json_object();
		json_object_set_new(idx, key, set);
	}
	json_object_set_new(set, member, json_true());
}

static void set_del(json_t *idx, const char *key, const char *member)
{
	json_t *set = json_object_get(idx, key);

	if (!set)
		return;
	json_object_del(set, member);
	if (json_object_size(set) == 0)
		json_object_del(idx, key);
}

static const json_t *labels_of(const json_t *obj)
{
	return json_object_get(json_object_get(obj, "metadata"), "labels");
}

static void index_labels(json_t *idx, const json_t *obj, const json_t *labels, bool add)
{
	const char *ns = or_empty(str_at(obj, "metadata", "namespace"));
	const char *name = or_empty(str_at(obj, "metadata", "name"));
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)labels, k, v) {
		cleanup_free char *key = label_key(ns, k, v);

		if (add)
			set_add(idx, key, name);
		else
			set_del(idx, key, name);
	}
}

static bool selector_matches(const json_t *sel, const json_t *labels)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)sel, k, v)
		if (!json_equal(v, json_object_get(labels, k)))
			return false;
	return true;
}

/* The selector the controller acts on, or NULL for services it leaves alone. */
static const json_t *selector_of(const json_t *svc)
{
	const json_t *spec = json_object_get(svc, "spec");
	const json_t *sel = json_object_get(spec, "selector");

	if (!json_is_object(sel) || json_object_size(sel) == 0)
		return NULL;
	if (streq(str_at(spec, "type", NULL), "ExternalName"))
		return NULL;
	return sel;
}

/* Adds to @out the keys of the services whose selector picks @labels in @ns (locked). */
static void services_selecting(struct ep_ctl *st, const char *ns, const json_t *labels, json_t *out)
{
	const char *k, *name;
	json_t *v, *dummy;

	json_object_foreach ((json_t *)labels, k, v) {
		cleanup_free char *key = label_key(ns, k, v);

		json_object_foreach (json_object_get(st->svc_idx, key), name, dummy) {
			cleanup_free char *sk = xasprintf("%s/%s", ns, name);

			if (!json_object_get(out, sk) &&
			    selector_matches(json_object_get(st->selectors, sk), labels))
				json_object_set_new(out, sk, json_true());
		}
	}
}

static void enqueue_all(struct ep_ctl *st, const json_t *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach ((json_t *)keys, k, v)
		wq_add(st->q, k);
}

static void svc_index(struct ep_ctl *st, const json_t *svc, bool add)
{
	cleanup_free char *key = kc_key(svc);
	const json_t *sel = selector_of(svc);

	if (!add) {
		sel = json_object_get(st->selectors, key);
		if (sel)
			index_labels(st->svc_idx, svc, sel, false);
		json_object_del(st->selectors, key);
		return;
	}
	if (!sel)
		return;
	json_object_set_new(st->selectors, key, json_deep_copy(sel));
	index_labels(st->svc_idx, svc, sel, true);
}

static void on_svc_add(void *arg, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&st->mu);
	svc_index(st, obj, true);
	pthread_mutex_unlock(&st->mu);
	wq_add(st->q, key);
}

static void on_svc_update(void *arg, json_t *old, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&st->mu);
	svc_index(st, old, false);
	svc_index(st, obj, true);
	pthread_mutex_unlock(&st->mu);
	wq_add(st->q, key);
}

static void on_svc_del(void *arg, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&st->mu);
	svc_index(st, obj, false);
	json_object_del(st->expect, key);
	pthread_mutex_unlock(&st->mu);
	wq_add(st->q, key);
}

/* What of a pod the endpoints depend on: an update that keeps it queues nothing. */
static json_t *pod_digest(const json_t *pod)
{
	const json_t *m = json_object_get(pod, "metadata"), *spec = json_object_get(pod, "spec");
	json_t *ports = json_array();
	const char *ip = pod_ipv4(pod);
	size_t i;
	const json_t *c;

	json_array_foreach (json_object_get(spec, "containers"), i, c)
		json_array_append(ports, json_object_get(c, "ports"));
	json_array_foreach (json_object_get(spec, "initContainers"), i, c)
		json_array_append(ports, json_object_get(c, "ports"));
	return json_pack("{s:O?, s:s?, s:b, s:O?, s:O?, s:s?, s:s?, s:s?, s:o}", "labels",
			 json_object_get(m, "labels"), "ip", ip, "ready", ctl_pod_ready(pod),
			 "deleting", json_object_get(m, "deletionTimestamp"), "phase",
			 json_object_get(json_object_get(pod, "status"), "phase"), "node",
			 str_at(spec, "nodeName", NULL), "hostname", str_at(spec, "hostname", NULL),
			 "subdomain", str_at(spec, "subdomain", NULL), "ports", ports);
}

/* Records @obj's labels as the ones its next update replaces (locked). */
static void hold_labels(struct ep_ctl *st, const char *key, const json_t *labels)
{
	if (labels)
		json_object_set(st->pod_labels, key, (json_t *)labels);
	else
		json_object_del(st->pod_labels, key);
}

static void on_pod_add(void *arg, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_json json_t *keys = json_object();
	const json_t *labels = labels_of(obj);
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&st->mu);
	hold_labels(st, key, labels);
	index_labels(st->pod_idx, obj, labels, true);
	services_selecting(st, or_empty(str_at(obj, "metadata", "namespace")), labels, keys);
	pthread_mutex_unlock(&st->mu);
	enqueue_all(st, keys);
}

/*
 * The previous version's labels are the ones held (an update is one pod, of the same
 * namespace and name); the previous version itself is read only for a pod that services
 * select, to tell whether its endpoint changed.
 */
static void on_pod_update(void *arg, struct informer_old *old, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_json json_t *keys = json_object();
	cleanup_json json_t *ol = NULL;
	cleanup_free char *key = kc_key(obj);
	const char *ns = or_empty(str_at(obj, "metadata", "namespace"));
	const json_t *nl = labels_of(obj);
	bool relabelled;

	pthread_mutex_lock(&st->mu);
	ol = json_incref(json_object_get(st->pod_labels, key));
	relabelled = (ol || nl) && !(ol && nl && json_equal(ol, (json_t *)nl));
	if (relabelled) {
		hold_labels(st, key, nl);
		index_labels(st->pod_idx, obj, ol, false);
		index_labels(st->pod_idx, obj, nl, true);
		services_selecting(st, ns, ol, keys);
	} else if (ol != nl) {
		hold_labels(st, key, nl); /* the same labels: keep the newer tree's */
	}
	services_selecting(st, ns, nl, keys);
	pthread_mutex_unlock(&st->mu);
	/* most updates concern no service: they cost no digest */
	if (json_object_size(keys) == 0)
		return;
	if (!relabelled) {
		cleanup_json json_t *a = pod_digest(informer_old_get(old)), *b = pod_digest(obj);

		if (json_equal(a, b))
			return;
	}
	enqueue_all(st, keys);
}

static void on_pod_del(void *arg, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_json json_t *keys = json_object();
	const json_t *labels = labels_of(obj);
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&st->mu);
	json_object_del(st->pod_labels, key);
	index_labels(st->pod_idx, obj, labels, false);
	services_selecting(st, or_empty(str_at(obj, "metadata", "namespace")), labels, keys);
	pthread_mutex_unlock(&st->mu);
	enqueue_all(st, keys);
}

static void on_ep_del(void *arg, json_t *obj)
{
	struct ep_ctl *st = arg;
	cleanup_free char *key = kc_key(obj);

	wq_add(st->q, key);
}

static char *slice_svc_key(const json_t *slice)
{
	const char *svc = json_string_value(json_object_get(labels_of(slice), LABEL_SERVICE));

	if (!svc || !*svc)
		return NULL;
	return xasprintf("%s/%s", or_empty(str_at(slice, "metadata", "namespace")), svc);
}

/*
 * A slice this controller wrote comes back through the informer: that is no reason to
 * sync again. Anything else (another writer, an unexpected delete) is.
 */
static void on_slice(struct ep_ctl *st, const json_t *obj, bool deleted)
{
	cleanup_free char *key = slice_svc_key(obj);
	const char *name = or_empty(str_at(obj, "metadata", "name"));
	bool ours = false;
	json_t *want;

	if (!key)
		return;
	pthread_mutex_lock(&st->mu);
	if (deleted)
		set_del(st->by_svc, key, name);
	else
		set_add(st->by_svc, key, name);
	want = json_object_get(json_object_get(st->expect, key), name);
	if (want) {
		int64_t rv = json_integer_value(want);

		/* an older version of a slice we rewrote is the echo of an earlier write */
		ours = !(deleted && rv >= 0);
		if (deleted || (rv >= 0 && rv_of(obj) >= rv))
			set_del(st->expect, key, name);
	}
	pthread_mutex_unlock(&st->mu);
	if (!ours)
		wq_add(st->q, key);
}

static void on_slice_add(void *arg, json_t *obj)
{
	on_slice(arg, obj, false);
}

static void on_slice_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	on_slice(arg, obj, false);
}

static void on_slice_del(void *arg, json_t *obj)
{
	on_slice(arg, obj, true);
}

static char *node_zone(void *arg, const char *node)
{
	struct ep_ctl *st = arg;
	cleanup_json json_t *n = informer_get(st->nodes, "", node);
	const char *z =
		json_string_value(json_object_get(labels_of(n), "topology.kubernetes.io/zone"));

	return z ? xstrdup(z) : NULL;
}

/* The pods @sel picks in @ns: from the smallest label posting, checked against all. */
static json_t **selected_pods(struct ep_ctl *st, const char *ns, const json_t *sel, size_t *ret_n)
{
	cleanup_json json_t *names = NULL;
	const json_t *best = NULL;
	const char *k;
	json_t *v, **pods;
	size_t n = 0;

	pthread_mutex_lock(&st->mu);
	json_object_foreach ((json_t *)sel, k, v) {
		cleanup_free char *key = label_key(ns, k, v);
		const json_t *set = json_object_get(st->pod_idx, key);

		if (!set) {
			best = NULL;
			break;
		}
		if (!best || json_object_size(set) < json_object_size(best))
			best = set;
	}
	names = best ? json_deep_copy(best) : json_object();
	pthread_mutex_unlock(&st->mu);

	pods = xcalloc(json_object_size(names) + 1, sizeof(*pods));
	json_object_foreach (names, k, v) {
		json_t *pod = informer_get(st->pods, ns, k);

		if (pod && selector_matches(sel, labels_of(pod)))
			pods[n++] = pod;
		else
			json_decref(pod);
	}
	*ret_n = n;
	return pods;
}

static void pods_free(json_t **pods, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(pods[i]);
	free(pods);
}

/* Status 404 is success for a delete; other failures keep err. */
static int delete_object(struct ep_ctl *st, const char *path, struct err *err)
{
	int r = kc_request(st->c, "DELETE", path, NULL, NULL, NULL, err);

	if (r == 404) {
		err_clear(err);
		return 0;
	}
	return r < 0 || r >= 300 ? (r < 0 ? r : -EIO) : 0;
}

static json_t *labels_want(const json_t *svc)
{
	json_t *l = json_deep_copy(labels_of(svc));

	if (!l)
		l = json_object();
	json_object_del(l, LABEL_HEADLESS);
	if (headless(svc))
		json_object_set_new(l, LABEL_HEADLESS, json_string(""));
	return l;
}

static int sync_endpoints(struct ep_ctl *st, const json_t *svc, json_t *const *pods, size_t n,
			  struct err *err)
{
	const char *ns = str_at(svc, "metadata", "namespace");
	const char *name = str_at(svc, "metadata", "name");
	cleanup_json json_t *subsets = ctl_endpoints_subsets(svc, pods, n);
	cleanup_json json_t *cur = informer_get(st->eps, ns, name), *labels = labels_want(svc);
	cleanup_json json_t *obj = NULL;
	cleanup_json json_t *resp = NULL;
	cleanup_free char *path = NULL, *now = NULL;
	bool over = truncate_subsets(subsets);
	json_t *meta, *ann;
	int r;

	if (cur) {
		const json_t *cs = json_object_get(cur, "subsets");
		const json_t *cm = json_object_get(cur, "metadata");
		const json_t *cl = json_object_get(cm, "labels");
		bool cur_over =
			json_object_get(json_object_get(cm, "annotations"), ANN_OVER_CAPACITY);
		cleanup_json json_t *empty = json_array(), *noll = json_object();

		if (json_equal((json_t *)(cs ? cs : empty), subsets) &&
		    json_equal((json_t *)(cl ? cl : noll), labels) && cur_over == over)
			return 0;
		obj = json_deep_copy(cur);
	} else {
		obj = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Endpoints",
				"metadata", "name", name, "namespace", ns);
	}
	meta = json_object_get(obj, "metadata");
	json_object_set(meta, "labels", labels);
	ann = json_object_get(meta, "annotations");
	if (!ann) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	now = clock_rfc3339(NULL);
	json_object_set_new(ann, ANN_TRIGGER_TIME, json_string(now));
	if (over)
		json_object_set_new(ann, ANN_OVER_CAPACITY, json_string("truncated"));
	else
		json_object_del(ann, ANN_OVER_CAPACITY);
	json_object_set(obj, "subsets", subsets);
	if (cur) {
		path = xasprintf("/api/v1/namespaces/%s/endpoints/%s", ns, name);
		r = kc_request(st->c, "PUT", path, NULL, obj, &resp, err);
	} else {
		path = xasprintf("/api/v1/namespaces/%s/endpoints", ns);
		r = kc_request(st->c, "POST", path, NULL, obj, &resp, err);
	}
	if (r < 0)
		return r;
	if (r >= 300) {
		kc_event(st->c, obj, "Warning",
			 cur ? "FailedToUpdateEndpoint" : "FailedToCreateEndpoint",
			 "endpoint-controller", "Failed to %s endpoint for service %s/%s: %s",
			 cur ? "update" : "create", ns, name, err->msg ? err->msg : "error");
		return -EIO;
	}
	return 0;
}

static void expect_slice(struct ep_ctl *st, const char *key, const char *name, int64_t rv)
{
	json_t *m;

	pthread_mutex_lock(&st->mu);
	m = json_object_get(st->expect, key);
	if (!m) {
		m = json_object();
		json_object_set_new(st->expect, key, m);
	}
	json_object_set_new(m, name, json_integer(rv));
	pthread_mutex_unlock(&st->mu);
}

/* Whether the slice informer still lags behind this controller's own writes. */
static bool slices_stale(struct ep_ctl *st, const char *key, const char *ns)
{
	cleanup_json json_t *want = NULL;
	const char *name;
	json_t *v;
	bool stale = false;

	pthread_mutex_lock(&st->mu);
	want = json_deep_copy(json_object_get(st->expect, key));
	pthread_mutex_unlock(&st->mu);
	json_object_foreach (want, name, v) {
		cleanup_json json_t *s = informer_get(st->slices, ns, name);
		int64_t rv = json_integer_value(v);
		bool done = rv < 0 ? !s : s && rv_of(s) >= rv;

		if (!done) {
			stale = true;
			continue;
		}
		pthread_mutex_lock(&st->mu);
		set_del(st->expect, key, name);
		pthread_mutex_unlock(&st->mu);
	}
	return stale;
}

static json_t *managed_slices(struct ep_ctl *st, const char *key, const char *ns)
{
	cleanup_json json_t *names = NULL;
	json_t *out = json_array(), *v;
	const char *name;

	pthread_mutex_lock(&st->mu);
	names = json_deep_copy(json_object_get(st->by_svc, key));
	pthread_mutex_unlock(&st->mu);
	json_object_foreach (names, name, v) {
		json_t *s = informer_get(st->slices, ns, name);

		if (s)
			json_array_append_new(out, s);
	}
	return out;
}

static int write_slice(struct ep_ctl *st, const char *key, const char *method, json_t *slice,
		       struct err *err)
{
	const char *ns = str_at(slice, "metadata", "namespace");
	const char *name = str_at(slice, "metadata", "name");
	cleanup_free char *path = NULL, *now = clock_rfc3339(NULL);
	cleanup_json json_t *resp = NULL;
	json_t *meta = json_object_get(slice, "metadata"), *ann;
	int r;

	if (strcmp(method, "DELETE") == 0) {
		path = xasprintf("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s", ns,
				 name);
		r = delete_object(st, path, err);
		if (r >= 0)
			expect_slice(st, key, name, -1);
		return r;
	}
	ann = json_object_get(meta, "annotations");
	if (!ann) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, ANN_TRIGGER_TIME, json_string(now));
	if (strcmp(method, "POST") == 0)
		path = xasprintf("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices", ns);
	else
		path = xasprintf("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s", ns,
				 name);
	r = kc_request(st->c, method, path, NULL, slice, &resp, err);
	if (r < 0)
		return r;
	if (r >= 300)
		return -EIO;
	name = str_at(resp, "metadata", "name");
	if (name)
		expect_slice(st, key, name, rv_of(resp));
	return 0;
}

static int sync_slices(struct ep_ctl *st, const char *key, const json_t *svc, json_t *const *pods,
		       size_t n, struct err *err)
{
	const char *ns = str_at(svc, "metadata", "namespace");
	cleanup_json json_t *groups = ctl_slice_groups(svc, pods, n, node_zone, st);
	cleanup_json json_t *existing = managed_slices(st, key, ns);
	cleanup_json json_t *plan = ctl_slices_reconcile(svc, groups, existing);
	bool deleting = json_object_get(json_object_get(svc, "metadata"), "deletionTimestamp");
	size_t i;
	json_t *s;
	int r;

	/* creating slices for a service being deleted would race the garbage collector */
	if (!deleting)
		json_array_foreach (json_object_get(plan, "create"), i, s) {
			r = write_slice(st, key, "POST", s, err);
			if (r < 0)
				return r;
		}
	json_array_foreach (json_object_get(plan, "update"), i, s) {
		r = write_slice(st, key, "PUT", s, err);
		if (r < 0)
			return r;
	}
	json_array_foreach (json_object_get(plan, "delete"), i, s) {
		r = write_slice(st, key, "DELETE", s, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int sync_service(struct ep_ctl *st, const char *key, struct err *err)
{
	cleanup_free char *ns = xstrdup(key);
	char *name = strchr(ns, '/');
	cleanup_json json_t *svc = NULL;
	json_t **pods;
	const json_t *sel;
	size_t n = 0;
	int r;

	if (!name)
		return 0;
	*name++ = '\0';
	svc = informer_get(st->svcs, ns, name);
	if (!svc) {
		cleanup_json json_t *ep = informer_get(st->eps, ns, name);
		cleanup_free char *path = NULL;

		if (!ep)
			return 0;
		path = xasprintf("/api/v1/namespaces/%s/endpoints/%s", ns, name);
		return delete_object(st, path, err);
	}
	sel = selector_of(svc);
	if (!sel)
		return 0;
	if (slices_stale(st, key, ns)) {
		wq_add_after(st->q, key, 100);
		return 0;
	}
	pods = selected_pods(st, ns, sel, &n);
	r = sync_endpoints(st, svc, pods, n, err);
	if (r >= 0)
		r = sync_slices(st, key, svc, pods, n, err);
	pods_free(pods, n);
	return r;
}

static bool wait_synced(struct ep_ctl *st)
{
	struct informer *all[] = {st->svcs, st->pods, st->eps, st->slices, st->nodes};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		while (!informer_wait_synced(all[i], 500))
			if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
				return false;
	return true;
}

static int sync_key(void *arg, const char *key, struct err *err)
{
	return sync_service(arg, key, err) < 0 ? -1 : 0;
}

static void *worker(void *arg)
{
	struct ep_ctl *st = arg;

	/* syncing before every cache is full would empty the endpoints of running services */
	if (wait_synced(st))
		wq_process(st->q, "endpoints controller", sync_key, st);
	return NULL;
}

void endpoints_stop(void *state)
{
	struct ep_ctl *st = state;

	if (!st)
		return;
	__atomic_store_n(&st->stopping, true, __ATOMIC_RELEASE);
	wq_shutdown(st->q);
	for (int i = 0; i < st->nworkers; i++)
		pthread_join(st->workers[i], NULL);
	if (st->svcs)
		informer_stop(st->svcs);
	if (st->pods)
		informer_stop(st->pods);
	if (st->eps)
		informer_stop(st->eps);
	if (st->slices)
		informer_stop(st->slices);
	if (st->nodes)
		informer_stop(st->nodes);
	wq_free(st->q);
	json_decref(st->pod_idx);
	json_decref(st->pod_labels);
	json_decref(st->svc_idx);
	json_decref(st->selectors);
	json_decref(st->by_svc);
	json_decref(st->expect);
	pthread_mutex_destroy(&st->mu);
	free(st->workers);
	free(st);
}

int endpoints_start(struct kc *c, const struct controllers_config *cfg, void **ret, struct err *err)
{
	struct ep_ctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers svc_h = {
		.add = on_svc_add, .update = on_svc_update, .del = on_svc_del, .arg = st};
	const struct informer_handlers pod_h = {.add = on_pod_add,
						.update_lazy = on_pod_update,
						.del = on_pod_del,
						.arg = st,
						.compact = true};
	const struct informer_handlers ep_h = {
		.add = NULL, .update = NULL, .del = on_ep_del, .arg = st};
	const struct informer_handlers slice_h = {
		.add = on_slice_add, .update = on_slice_update, .del = on_slice_del, .arg = st};
	const struct informer_handlers none = {.add = NULL, .update = NULL, .del = NULL, .arg = st};
	int r, want = cfg && cfg->workers > 0 ? cfg->workers : 2;

	st->c = c;
	st->q = wq_new();
	pthread_mutex_init(&st->mu, NULL);
	st->pod_idx = json_object();
	st->pod_labels = json_object();
	st->svc_idx = json_object();
	st->selectors = json_object();
	st->by_svc = json_object();
	st->expect = json_object();
	st->workers = xcalloc((size_t)want, sizeof(*st->workers));
	r = informer_start(c, "/api/v1/services", &svc_h, &st->svcs, err);
	if (r >= 0)
		r = informer_start(c, "/api/v1/pods", &pod_h, &st->pods, err);
	if (r >= 0)
		r = informer_start(c, "/api/v1/endpoints", &ep_h, &st->eps, err);
	if (r >= 0)
		r = informer_start(c,
				   "/apis/discovery.k8s.io/v1/endpointslices?labelSelector="
				   "endpointslice.kubernetes.io%2Fmanaged-by%3D" SLICE_MANAGER,
				   &slice_h, &st->slices, err);
	if (r >= 0)
		r = informer_start(c, "/api/v1/nodes", &none, &st->nodes, err);
	for (; r >= 0 && st->nworkers < want; st->nworkers++) {
		r = -pthread_create(&st->workers[st->nworkers], NULL, worker, st);
		if (r < 0)
			err_errno(err, -r, "start an endpoints worker");
	}
	if (r < 0) {
		endpoints_stop(st);
		return err_wrap(err, "start the endpoints controller");
	}
	*ret = st;
	return 0;
}
