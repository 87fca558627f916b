/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The records the server answers from: informers on Services and EndpointSlices mark the
 * zone dirty, and a thread rebuilds an immutable snapshot (a JSON object, see internal.h)
 * that query threads read without locks. Rebuilding after a burst of changes costs one
 * pass over the objects, instead of incremental indexes for names, addresses and SRV sets.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/dns/internal.h"

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"
#define SCHEMA_VERSION     "1.1.0"

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
	const json_t *v = json_object_get(obj, a);

	if (b)
		v = json_object_get(v, b);
	return json_string_value(v);
}

/* The node of @name, made (with its ancestors up to the domain, which then exist too). */
static json_t *node_get(json_t *names, const char *name)
{
	json_t *n = json_object_get(names, name);
	const char *dot;

	if (n)
		return n;
	n = json_object();
	json_object_set_new(names, name, n);
	for (dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
		if (!json_object_get(names, dot + 1))
			json_object_set_new(names, dot + 1, json_object());
	return n;
}

static bool array_has_str(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach (arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* Appends @s to the array @key of @obj unless it holds it already. */
static void add_str(json_t *obj, const char *key, const char *s)
{
	json_t *arr = json_object_get(obj, key);

	if (!arr) {
		arr = json_array();
		json_object_set_new(obj, key, arr);
	}
	if (!array_has_str(arr, s))
		json_array_append_new(arr, json_string(s));
}

/* Adds an address record: A or AAAA by its family; false for something else. */
static bool add_addr(json_t *node, const char *ip)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, ip, &a4) == 1)
		add_str(node, "a", ip);
	else if (inet_pton(AF_INET6, ip, &a6) == 1)
		add_str(node, "aaaa", ip);
	else
		return false;
	return true;
}

static void add_srv(json_t *names, const char *pname, const char *proto, const char *base,
		    json_int_t port, const char *target)
{
	cleanup_free char *name = NULL;
	cleanup_free char *lproto = xstrdup(proto ? proto : "TCP");
	json_t *node, *arr, *v;
	size_t i;

	if (!pname || !*pname || port <= 0 || port > 65535)
		return;
	for (char *p = lproto; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	name = xasprintf("_%s._%s.%s", pname, lproto, base);
	node = node_get(names, name);
	arr = json_object_get(node, "srv");
	if (!arr) {
		arr = json_array();
		json_object_set_new(node, "srv", arr);
	}
	json_array_foreach (arr, i, v)
		if (json_integer_value(json_array_get(v, 0)) == port &&
		    strcmp(json_string_value(json_array_get(v, 1)), target) == 0)
			return;
	json_array_append_new(arr, json_pack("[Is]", port, target));
}

/* The system-assigned hostname of an endpoint without one: its address with dashes. */
static char *dashed(const char *ip)
{
	char *s = xstrdup(ip);

	for (char *p = s; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '-';
	return s;
}

static bool headless(const json_t *svc)
{
	const char *ip = str_at(json_object_get(svc, "spec"), "clusterIP", NULL);

	return ip && strcmp(ip, "None") == 0;
}

static void add_service(json_t *zone, const json_t *svc)
{
	json_t *names = json_object_get(zone, "names"), *ptr = json_object_get(zone, "ptr");
	const json_t *spec = json_object_get(svc, "spec"), *ips, *v, *ports;
	const char *name = str_at(svc, "metadata", "name"),
		   *ns = str_at(svc, "metadata", "namespace");
	const char *type = str_at(spec, "type", NULL), *ext = str_at(spec, "externalName", NULL);
	cleanup_free char *base = NULL;
	json_t *node;
	size_t i;

	if (!name || !ns)
		return;
	base = xasprintf("%s.%s.svc", name, ns);
	if (type && strcmp(type, "ExternalName") == 0) {
		if (ext && *ext) {
			cleanup_free char *t = xstrdup(ext);
			size_t n = strlen(t);

			if (t[n - 1] == '.')
				t[n - 1] = '\0';
			json_object_set_new(node_get(names, base), "cname", json_string(t));
		}
		return;
	}
	/* a headless service exists through its ready endpoints only (spec 2.4.1) */
	if (headless(svc))
		return;
	node = node_get(names, base);
	ips = json_object_get(spec, "clusterIPs");
	if (!json_array_size(ips) && str_at(spec, "clusterIP", NULL))
		ips = json_pack("[s]", str_at(spec, "clusterIP", NULL));
	else
		json_incref((json_t *)ips);
	json_array_foreach (ips, i, v)
		if (json_is_string(v) && add_addr(node, json_string_value(v))) {
			json_t *targets = json_object_get(ptr, json_string_value(v));

			if (!targets) {
				targets = json_array();
				json_object_set_new(ptr, json_string_value(v), targets);
			}
			if (!array_has_str(targets, base))
				json_array_append_new(targets, json_string(base));
		}
	json_decref((json_t *)ips);
	ports = json_object_get(spec, "ports");
	json_array_foreach (ports, i, v)
		add_srv(names, str_at(v, "name", NULL), str_at(v, "protocol", NULL), base,
			json_integer_value(json_object_get(v, "port")), base);
}

static bool endpoint_ready(const json_t *ep, bool publish_not_ready)
{
	const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");

	/* EndpointConditions: an unknown (null) readiness counts as ready */
	return publish_not_ready || !json_is_false(ready);
}

static void add_endpoint(json_t *zone, const char *base, const json_t *ep, const json_t *ports)
{
	json_t *names = json_object_get(zone, "names"), *ptr = json_object_get(zone, "ptr");
	const char *hostname = str_at(ep, "hostname", NULL);
	const json_t *addrs = json_object_get(ep, "addresses"), *a, *p;
	size_t i, j;

	json_array_foreach (addrs, i, a) {
		const char *ip = json_string_value(a);
		cleanup_free char *host = NULL, *hname = NULL;
		json_t *targets;

		if (!ip || !add_addr(node_get(names, base), ip))
			continue;
		host = hostname && *hostname ? xstrdup(hostname) : dashed(ip);
		for (char *c = host; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		hname = xasprintf("%s.%s", host, base);
		add_addr(node_get(names, hname), ip);
		targets = json_object_get(ptr, ip);
		if (!targets) {
			targets = json_array();
			json_object_set_new(ptr, ip, targets);
		}
		if (!array_has_str(targets, hname))
			json_array_append_new(targets, json_string(hname));
		json_array_foreach (ports, j, p)
			add_srv(names, str_at(p, "name", NULL), str_at(p, "protocol", NULL), base,
				json_integer_value(json_object_get(p, "port")), hname);
	}
}

static void add_slice(json_t *zone, const json_t *svc_by_key, const json_t *slice)
{
	const char *svc = str_at(json_object_get(slice, "metadata"), "labels", LABEL_SERVICE_NAME);
	const char *ns = str_at(slice, "metadata", "namespace");
	const char *family = str_at(slice, "addressType", NULL);
	const json_t *service, *eps, *ep;
	cleanup_free char *key = NULL, *base = NULL;
	bool not_ready;
	size_t i;

	if (!svc || !ns || !family || strcmp(family, "FQDN") == 0)
		return;
	key = xasprintf("%s/%s", ns, svc);
	service = json_object_get(svc_by_key, key);
	/* only headless services have records per endpoint (spec 2.4) */
	if (!service || !headless(service))
		return;
	not_ready = json_is_true(
		json_object_get(json_object_get(service, "spec"), "publishNotReadyAddresses"));
	base = xasprintf("%s.%s.svc", svc, ns);
	eps = json_object_get(slice, "endpoints");
	json_array_foreach (eps, i, ep)
		if (endpoint_ready(ep, not_ready))
			add_endpoint(zone, base, ep, json_object_get(slice, "ports"));
}

json_t *dns_zone_build(const json_t *services, const json_t *slices, const char *cluster_dns_ip,
		       uint32_t serial)
{
	json_t *zone = json_pack("{s:{}, s:{}, s:I}", "names", "ptr", "serial", (json_int_t)serial);
	cleanup_json json_t *by_key = json_object();
	json_t *names = json_object_get(zone, "names"), *v;
	size_t i;

	json_array_foreach (services, i, v) {
		const char *name = str_at(v, "metadata", "name");
		const char *ns = str_at(v, "metadata", "namespace");

		if (!name || !ns)
			continue;
		cleanup_free char *key = xasprintf("%s/%s", ns, name);

		json_object_set(by_key, key, v);
		add_service(zone, v);
	}
	json_array_foreach (slices, i, v)
		add_slice(zone, by_key, v);
	/* CoreDNS's extras of the spec: its schema version and the name server's address */
	json_object_set_new(node_get(names, "dns-version"), "txt", json_string(SCHEMA_VERSION));
	if (cluster_dns_ip)
		add_addr(node_get(names, "ns.dns"), cluster_dns_ip);
	/* the deprecated pod records (spec 2.6) are computed from the name; their parents exist */
	node_get(names, "pod");
	return zone;
}

json_t *dns_zone_get(struct dns_server *s)
{
	json_t *z;

	pthread_mutex_lock(&s->lock);
	z = json_incref(s->zone);
	pthread_mutex_unlock(&s->lock);
	return z;
}

static void collect(void *arg, json_t *obj)
{
	json_array_append((json_t *)arg, obj);
}

static void rebuild(struct dns_server *s)
{
	cleanup_json json_t *svcs = json_array(), *slices = json_array();
	json_t *zone, *old;

	informer_foreach(s->svc_inf, collect, svcs);
	informer_foreach(s->slice_inf, collect, slices);
	zone = dns_zone_build(svcs, slices, s->cluster_dns_ip, (uint32_t)time(NULL));
	pthread_mutex_lock(&s->lock);
	old = s->zone;
	s->zone = zone;
	pthread_mutex_unlock(&s->lock);
	json_decref(old);
}

void *dns_zone_main(void *arg)
{
	struct dns_server *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (!s->zone_dirty) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		/* let a burst of changes (a rollout, the first list) land in one rebuild */
		usleep(20000);
		pthread_mutex_lock(&s->lock);
		s->zone_dirty = false;
		pthread_mutex_unlock(&s->lock);
		rebuild(s);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static bool is_published(const json_t *obj)
{
	const char *ns = str_at(obj, "metadata", "namespace");
	const char *name = str_at(obj, "metadata", "name");

	return ns && name && strcmp(ns, "kube-system") == 0 && strncmp(name, "kube-dns", 8) == 0;
}

static void changed(struct dns_server *s, const json_t *obj)
{
	pthread_mutex_lock(&s->lock);
	s->zone_dirty = true;
	if (is_published(obj))
		s->publish_dirty = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_add(void *arg, json_t *obj)
{
	changed(arg, obj);
}

static void on_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	changed(arg, obj);
}

static void on_del(void *arg, json_t *obj)
{
	changed(arg, obj);
}

int dns_zone_start(struct dns_server *s, struct err *err)
{
	const struct informer_handlers h = {
		.add = on_add, .update = on_update, .del = on_del, .arg = s};
	int r;

	r = informer_start(s->kc, "/api/v1/services", &h, &s->svc_inf, err);
	if (r < 0)
		return err_wrap(err, "watch services");
	r = informer_start(s->kc, "/apis/discovery.k8s.io/v1/endpointslices", &h, &s->slice_inf,
			   err);
	if (r < 0)
		return err_wrap(err, "watch endpointslices");
	if (!informer_wait_synced(s->svc_inf, 10000) || !informer_wait_synced(s->slice_inf, 10000))
		return err_set(err, ETIMEDOUT, "list services and endpointslices: timed out");
	rebuild(s);
	return 0;
}

void dns_zone_stop(struct dns_server *s)
{
	if (s->slice_inf)
		informer_stop(s->slice_inf);
	if (s->svc_inf)
		informer_stop(s->svc_inf);
	s->slice_inf = s->svc_inf = NULL;
}
