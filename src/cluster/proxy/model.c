/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Services and EndpointSlices as the service proxy needs them, parsed from the API's JSON
 * with every field checked: names end up in nft commands, so anything that is not a
 * valid Kubernetes name, address or port is refused here rather than quoted later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "cluster/proxy/internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Map */

struct sp_map_entry {
	struct sp_map_entry *next;
	char *key;
	void *value;
	uint32_t hash;
};

static uint32_t hash_of(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct sp_map_entry **slot_of(const struct sp_map *m, const char *key, uint32_t h)
{
	struct sp_map_entry **e;

	if (!m->n_buckets)
		return NULL;
	for (e = &m->buckets[h & (m->n_buckets - 1)]; *e; e = &(*e)->next)
		if ((*e)->hash == h && !strcmp((*e)->key, key))
			return e;
	return e;
}

void *sp_map_get(const struct sp_map *m, const char *key)
{
	struct sp_map_entry **e = slot_of(m, key, hash_of(key));

	return e && *e ? (*e)->value : NULL;
}

static void grow(struct sp_map *m)
{
	size_t n = m->n_buckets ? m->n_buckets * 2 : 64;
	struct sp_map_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < m->n_buckets; i++) {
		struct sp_map_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

void *sp_map_put(struct sp_map *m, const char *key, void *value)
{
	uint32_t h = hash_of(key);
	struct sp_map_entry **e, *n;
	void *old;

	if (m->n + 1 > m->n_buckets)
		grow(m);
	e = slot_of(m, key, h);
	if (*e) {
		old = (*e)->value;
		(*e)->value = value;
		return old;
	}
	n = xcalloc(1, sizeof(*n));
	n->key = xstrdup(key);
	n->value = value;
	n->hash = h;
	*e = n;
	m->n++;
	return NULL;
}

void *sp_map_del(struct sp_map *m, const char *key)
{
	struct sp_map_entry **e = slot_of(m, key, hash_of(key)), *dead;
	void *v;

	if (!e || !*e)
		return NULL;
	dead = *e;
	v = dead->value;
	*e = dead->next;
	free(dead->key);
	free(dead);
	m->n--;
	return v;
}

void sp_map_foreach(const struct sp_map *m, void (*fn)(void *arg, const char *key, void *value),
		    void *arg)
{
	for (size_t i = 0; i < m->n_buckets; i++)
		for (struct sp_map_entry *e = m->buckets[i]; e; e = e->next)
			fn(arg, e->key, e->value);
}

void sp_map_done(struct sp_map *m)
{
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct sp_map_entry *e = m->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(m->buckets);
	*m = (struct sp_map){0};
}

/* ------------------------------------------------------------------------------------------ */
/* Field checks */

/* A DNS-1123 subdomain or label: what namespaces and object names are. */
static bool dns_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return false;
	return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

/* An IANA_SVC_NAME (ports' names), or "" for a single unnamed port. */
static bool port_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static int meta_key(const json_t *obj, const char *kind, char **ret, struct err *err)
{
	const char *ns = NULL, *name = NULL;
	json_t *meta = NULL;

	if (jx_obj(obj, "", "metadata", &meta, err) < 0)
		return -EINVAL;
	if (!meta)
		return err_set(err, EINVAL, "%s: metadata: missing", kind);
	if (jx_str(meta, "metadata", "namespace", &ns, err) < 0 ||
	    jx_str(meta, "metadata", "name", &name, err) < 0)
		return -EINVAL;
	if (!ns || !dns_name(ns, 63))
		return err_set(err, EINVAL, "%s: metadata.namespace: '%s' is not a valid name",
			       kind, ns ? ns : "");
	if (!name || !dns_name(name, 253))
		return err_set(err, EINVAL, "%s '%s/%s': metadata.name: not a valid name", kind, ns,
			       name ? name : "");
	*ret = xasprintf("%s/%s", ns, name);
	return 0;
}

/* "TCP" (the default), "UDP", "SCTP" as nft spells them. */
static int protocol_of(const json_t *p, const char *path, char ret[5], struct err *err)
{
	const char *proto = "TCP";

	if (jx_str(p, path, "protocol", &proto, err) < 0)
		return -EINVAL;
	if (!strcmp(proto, "TCP"))
		strcpy(ret, "tcp");
	else if (!strcmp(proto, "UDP"))
		strcpy(ret, "udp");
	else if (!strcmp(proto, "SCTP"))
		strcpy(ret, "sctp");
	else
		return err_set(err, EINVAL, "%s.protocol: '%s' is not TCP, UDP or SCTP", path,
			       proto);
	return 0;
}

static int port_of(const json_t *p, const char *path, const char *key, bool required, uint16_t *ret,
		   struct err *err)
{
	int64_t v = 0;
	int r = jx_int(p, path, key, &v, err);

	if (r < 0)
		return r;
	if (r == 0 && required)
		return err_set(err, EINVAL, "%s.%s: missing", path, key);
	if (v < 0 || v > 65535 || (r > 0 && required && v == 0))
		return err_set(err, EINVAL, "%s.%s: %lld is not a port number", path, key,
			       (long long)v);
	*ret = (uint16_t)v;
	return 0;
}

static int port_name_of(const json_t *p, const char *path, char **ret, struct err *err)
{
	const char *name = "";

	if (jx_str(p, path, "name", &name, err) < 0)
		return -EINVAL;
	if (!port_name_ok(name))
		return err_set(err, EINVAL, "%s.name: '%s' is not a valid port name", path, name);
	*ret = xstrdup(name);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Services */

void sp_service_free(struct sp_service *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	free(s->key);
	free(s);
}

static int service_affinity(const json_t *spec, struct sp_service *s, struct err *err)
{
	const char *affinity = "None";
	json_t *cfg = NULL, *client = NULL;
	int64_t timeout = 10800;

	if (jx_str(spec, "spec", "sessionAffinity", &affinity, err) < 0)
		return -EINVAL;
	if (!strcmp(affinity, "None"))
		return 0;
	if (strcmp(affinity, "ClientIP"))
		return err_set(err, EINVAL, "spec.sessionAffinity: '%s' is not None or ClientIP",
			       affinity);
	if (jx_obj(spec, "spec", "sessionAffinityConfig", &cfg, err) < 0 ||
	    (cfg && jx_obj(cfg, "spec.sessionAffinityConfig", "clientIP", &client, err) < 0) ||
	    (client && jx_int(client, "spec.sessionAffinityConfig.clientIP", "timeoutSeconds",
			      &timeout, err) < 0))
		return -EINVAL;
	if (timeout < 1 || timeout > 86400)
		return err_set(err, EINVAL,
			       "spec.sessionAffinityConfig.clientIP.timeoutSeconds: %lld is not "
			       "from 1 to 86400",
			       (long long)timeout);
	s->affinity_timeout = (uint32_t)timeout;
	return 0;
}

static int service_ports(const json_t *spec, bool node_ports, struct sp_service *s, struct err *err)
{
	json_t *ports = NULL, *p;
	size_t i;

	if (jx_arr(spec, "spec", "ports", &ports, err) < 0)
		return -EINVAL;
	if (!ports)
		return 0;
	s->ports = xcalloc(json_array_size(ports) + 1, sizeof(*s->ports));
	json_array_foreach (ports, i, p) {
		struct sp_port *sp = &s->ports[s->n_ports];
		char path[48];

		snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (!json_is_object(p))
			return err_set(err, EINVAL, "%s: expected object", path);
		if (port_name_of(p, path, &sp->name, err) < 0)
			return -EINVAL;
		s->n_ports++;
		if (protocol_of(p, path, sp->proto, err) < 0 ||
		    port_of(p, path, "port", true, &sp->port, err) < 0 ||
		    port_of(p, path, "nodePort", false, &sp->node_port, err) < 0)
			return -EINVAL;
		if (!node_ports)
			sp->node_port = 0;
	}
	return 0;
}

static int service_parse(const json_t *obj, struct sp_service *s, bool *ret_skip, struct err *err)
{
	const char *type = "ClusterIP", *ip = NULL, *etp = "Cluster", *itp = "Cluster";
	struct in_addr a;
	json_t *spec = NULL;

	if (jx_obj(obj, "", "spec", &spec, err) < 0)
		return -EINVAL;
	if (!spec)
		return err_set(err, EINVAL, "spec: missing");
	if (jx_str(spec, "spec", "type", &type, err) < 0 ||
	    jx_str(spec, "spec", "clusterIP", &ip, err) < 0 ||
	    jx_str(spec, "spec", "externalTrafficPolicy", &etp, err) < 0 ||
	    jx_str(spec, "spec", "internalTrafficPolicy", &itp, err) < 0)
		return -EINVAL;
	/* headless and ExternalName services are DNS's business; IPv6 is not handled here */
	if (!strcmp(type, "ExternalName") || !ip || !*ip || !strcmp(ip, "None") ||
	    strchr(ip, ':')) {
		*ret_skip = true;
		return 0;
	}
	if (inet_pton(AF_INET, ip, &a) != 1)
		return err_set(err, EINVAL, "spec.clusterIP: '%s' is not an IPv4 address", ip);
	inet_ntop(AF_INET, &a, s->cluster_ip, sizeof(s->cluster_ip));
	if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer"))
		return err_set(err, EINVAL, "spec.type: '%s' is not a service type", type);
	s->etp_local = !strcmp(etp, "Local");
	s->itp_local = !strcmp(itp, "Local");
	if (service_affinity(spec, s, err) < 0)
		return -EINVAL;
	return service_ports(spec, strcmp(type, "ClusterIP") != 0, s, err);
}

int sp_service_parse(const json_t *obj, struct sp_service **ret, struct err *err)
{
	struct sp_service *s = xcalloc(1, sizeof(*s));
	bool skip = false;

	if (meta_key(obj, "service", &s->key, err) < 0)
		goto fail;
	if (service_parse(obj, s, &skip, err) < 0) {
		err_wrap(err, "service '%s'", s->key);
		goto fail;
	}
	if (skip) {
		sp_service_free(s);
		s = NULL;
	}
	*ret = s;
	return 0;
fail:
	sp_service_free(s);
	return -EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* EndpointSlices */

void sp_slice_free(struct sp_slice *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	free(s->eps);
	free(s->service);
	free(s->key);
	free(s);
}

/* A condition: absent means true for ready and serving (API docs), false for terminating. */
static int condition(const json_t *conds, const char *path, const char *key, bool dflt, bool *ret,
		     struct err *err)
{
	*ret = dflt;
	return conds ? jx_bool(conds, path, key, ret, err) : 0;
}

static int slice_endpoint(const json_t *e, const char *path, const char *node,
			  struct sp_endpoint *ret, bool *ret_skip, struct err *err)
{
	json_t *addrs = NULL, *conds = NULL;
	const char *ip, *nodename = NULL;
	char cpath[64];
	struct in_addr a;

	if (!json_is_object(e))
		return err_set(err, EINVAL, "%s: expected object", path);
	if (jx_arr(e, path, "addresses", &addrs, err) < 0 ||
	    jx_obj(e, path, "conditions", &conds, err) < 0 ||
	    jx_str(e, path, "nodeName", &nodename, err) < 0)
		return -EINVAL;
	/* upstream uses the first address only; an endpoint without one carries nothing */
	if (!addrs || !json_array_size(addrs)) {
		*ret_skip = true;
		return 0;
	}
	ip = json_string_value(json_array_get(addrs, 0));
	if (!ip || inet_pton(AF_INET, ip, &a) != 1)
		return err_set(err, EINVAL, "%s.addresses[0]: '%s' is not an IPv4 address", path,
			       ip ? ip : "");
	inet_ntop(AF_INET, &a, ret->ip, sizeof(ret->ip));
	snprintf(cpath, sizeof(cpath), "%s.conditions", path);
	if (condition(conds, cpath, "ready", true, &ret->ready, err) < 0 ||
	    condition(conds, cpath, "serving", ret->ready, &ret->serving, err) < 0 ||
	    condition(conds, cpath, "terminating", false, &ret->terminating, err) < 0)
		return -EINVAL;
	ret->local = node && nodename && !strcmp(node, nodename);
	return 0;
}

static int slice_parse(const json_t *obj, const char *node, struct sp_slice *s, struct err *err)
{
	json_t *ports = NULL, *eps = NULL, *p;
	size_t i;

	if (jx_arr(obj, "", "ports", &ports, err) < 0 ||
	    jx_arr(obj, "", "endpoints", &eps, err) < 0)
		return -EINVAL;
	s->ports = xcalloc(json_array_size(ports) + 1, sizeof(*s->ports));
	json_array_foreach (ports, i, p) {
		struct sp_port *sp = &s->ports[s->n_ports];
		char path[48];

		snprintf(path, sizeof(path), "ports[%zu]", i);
		if (!json_is_object(p))
			return err_set(err, EINVAL, "%s: expected object", path);
		if (port_name_of(p, path, &sp->name, err) < 0)
			return -EINVAL;
		s->n_ports++;
		/* a port without a number means "all ports", which the proxy cannot serve */
		if (protocol_of(p, path, sp->proto, err) < 0 ||
		    port_of(p, path, "port", false, &sp->port, err) < 0)
			return -EINVAL;
	}
	s->eps = xcalloc(json_array_size(eps) + 1, sizeof(*s->eps));
	json_array_foreach (eps, i, p) {
		bool skip = false;
		char path[48];

		snprintf(path, sizeof(path), "endpoints[%zu]", i);
		if (slice_endpoint(p, path, node, &s->eps[s->n_eps], &skip, err) < 0)
			return -EINVAL;
		if (!skip)
			s->n_eps++;
	}
	return 0;
}

int sp_slice_parse(const json_t *obj, const char *node_name, struct sp_slice **ret, struct err *err)
{
	struct sp_slice *s = xcalloc(1, sizeof(*s));
	const char *type = NULL, *svc = NULL;
	json_t *labels = NULL;

	if (meta_key(obj, "endpoint slice", &s->key, err) < 0)
		goto fail;
	if (jx_str(obj, "", "addressType", &type, err) < 0 ||
	    jx_obj(json_object_get(obj, "metadata"), "metadata", "labels", &labels, err) < 0 ||
	    (labels &&
	     jx_str(labels, "metadata.labels", "kubernetes.io/service-name", &svc, err) < 0))
		goto wrap;
	if (!type || strcmp(type, "IPv4") || !svc) {
		sp_slice_free(s);
		*ret = NULL;
		return 0;
	}
	if (!dns_name(svc, 253)) {
		err_set(err, EINVAL, "metadata.labels: service name '%s' is not a valid name", svc);
		goto wrap;
	}
	s->service = xasprintf("%.*s/%s", (int)strcspn(s->key, "/"), s->key, svc);
	if (slice_parse(obj, node_name, s, err) < 0)
		goto wrap;
	*ret = s;
	return 0;
wrap:
	err_wrap(err, "endpoint slice '%s'", s->key);
fail:
	sp_slice_free(s);
	return -EINVAL;
}
