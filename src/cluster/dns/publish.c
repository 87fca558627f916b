/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Publishing the server as the Service kube-system/kube-dns (the cluster DNS address every
 * pod's resolv.conf names), with an EndpointSlice and Endpoints that name this server's
 * address and port, so every node's service proxy forwards the ClusterIP to it. The loop
 * corrects the objects when someone changes them (the informers poke it) and every few
 * seconds, which also catches the Endpoints object, which no informer here watches.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/dns/internal.h"

#define NS             "kube-system"
#define SERVICE        "kube-dns"
#define SLICE          "kube-dns-server"
#define MANAGER        "skiff-dns"
#define RESYNC_SECONDS 5

/* Whether everything @want says is in @have: objects by key, arrays element by element. */
static bool holds(const json_t *want, const json_t *have)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(want)) {
		if (!json_is_object(have))
			return false;
		json_object_foreach ((json_t *)want, k, v)
			if (!holds(v, json_object_get(have, k)))
				return false;
		return true;
	}
	if (json_is_array(want)) {
		if (!json_is_array(have) || json_array_size(want) != json_array_size(have))
			return false;
		json_array_foreach (want, i, v)
			if (!holds(v, json_array_get(have, i)))
				return false;
		return true;
	}
	return json_equal(want, have);
}

/* 0 with the object, 1 when it does not exist, or -errno. */
static int get(struct dns_server *s, const char *path, json_t **ret, struct err *err)
{
	json_t *body = NULL;
	int r = kc_request(s->kc, "GET", path, NULL, NULL, &body, err);

	if (r < 0)
		return r;
	if (r == 404) {
		err_clear(err);
		json_decref(body);
		return 1;
	}
	if (r >= 300) {
		json_decref(body);
		return -err->code;
	}
	*ret = body;
	return 0;
}

static int send_obj(struct dns_server *s, const char *method, const char *path, const json_t *obj,
		    struct err *err)
{
	int r = kc_request(s->kc, method, path, NULL, obj, NULL, err);

	if (r < 0)
		return r;
	if (r >= 300)
		return -err->code;
	return 0;
}

/* @want is an object's fields that must hold; @recreate those that cannot change in place. */
static int ensure(struct dns_server *s, const char *coll, const char *name, const json_t *want,
		  const json_t *recreate, const char *no_key, struct err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", coll, name);
	cleanup_json json_t *have = NULL, *obj = NULL;
	json_t *spec;
	int r;

	r = get(s, path, &have, err);
	if (r < 0)
		return r;
	if (r == 0 && recreate && !holds(recreate, have)) {
		r = send_obj(s, "DELETE", path, NULL, err);
		if (r < 0 && r != -ENOENT)
			return r;
		err_clear(err);
		r = 1;
	}
	if (r == 1) {
		r = send_obj(s, "POST", coll, want, err);
		/* created meanwhile by another server: the next pass compares */
		if (r == -EEXIST) {
			err_clear(err);
			return 0;
		}
		return r;
	}
	spec = json_object_get(have, "spec");
	if (holds(want, have) && !(no_key && json_object_size(json_object_get(spec, no_key))))
		return 0;
	obj = json_deep_copy(have);
	/* objects merge key by key; lists (ports, endpoints) are replaced whole */
	json_object_update_recursive(obj, (json_t *)want);
	if (no_key)
		json_object_del(json_object_get(obj, "spec"), no_key);
	return send_obj(s, "PUT", path, obj, err);
}

static json_t *ports(const char *port_key, uint16_t port, bool target)
{
	json_t *udp = json_pack("{s:s, s:s, s:i}", "name", "dns", "protocol", "UDP", port_key,
				target ? 53 : (int)port);
	json_t *tcp = json_pack("{s:s, s:s, s:i}", "name", "dns-tcp", "protocol", "TCP", port_key,
				target ? 53 : (int)port);

	if (target) {
		json_object_set_new(udp, "targetPort", json_integer(port));
		json_object_set_new(tcp, "targetPort", json_integer(port));
	}
	return json_pack("[oo]", udp, tcp);
}

int dns_publish_sync(struct dns_server *s, struct err *err)
{
	const char *family = strchr(s->advertise_ip, ':') ? "IPv6" : "IPv4";
	cleanup_json json_t *ns = NULL, *svc = NULL, *svc_fixed = NULL, *slice = NULL,
			    *slice_fixed = NULL, *eps = NULL;
	int r;

	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
		       "name", NS);
	r = ensure(s, "/api/v1/namespaces", NS, ns, NULL, NULL, err);
	if (r < 0)
		return err_wrap(err, "publish namespace '%s'", NS);
	svc = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s, s:s, s:o}}", "apiVersion",
			"v1", "kind", "Service", "metadata", "name", SERVICE, "namespace", NS,
			"labels", "k8s-app", "kube-dns", "kubernetes.io/cluster-service", "true",
			"spec", "type", "ClusterIP", "clusterIP", s->cluster_dns_ip, "ports",
			ports("port", s->port, true));
	svc_fixed = json_pack("{s:{s:s}}", "spec", "clusterIP", s->cluster_dns_ip);
	r = ensure(s, "/api/v1/namespaces/" NS "/services", SERVICE, svc, svc_fixed, "selector",
		   err);
	if (r < 0)
		return err_wrap(err, "publish service '%s/%s'", NS, SERVICE);
	slice = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:s, s:[{s:[s], s:{s:b}}], s:o}",
			  "apiVersion", "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata",
			  "name", SLICE, "namespace", NS, "labels", "kubernetes.io/service-name",
			  SERVICE, "endpointslice.kubernetes.io/managed-by", MANAGER, "addressType",
			  family, "endpoints", "addresses", s->advertise_ip, "conditions", "ready",
			  true, "ports", ports("port", s->port, false));
	slice_fixed = json_pack("{s:s}", "addressType", family);
	r = ensure(s, "/apis/discovery.k8s.io/v1/namespaces/" NS "/endpointslices", SLICE, slice,
		   slice_fixed, NULL, err);
	if (r < 0)
		return err_wrap(err, "publish endpointslice '%s/%s'", NS, SLICE);
	eps = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:[{s:[{s:s}], s:o}]}", "apiVersion",
			"v1", "kind", "Endpoints", "metadata", "name", SERVICE, "namespace", NS,
			"labels", "k8s-app", "kube-dns", "subsets", "addresses", "ip",
			s->advertise_ip, "ports", ports("port", s->port, false));
	r = ensure(s, "/api/v1/namespaces/" NS "/endpoints", SERVICE, eps, NULL, NULL, err);
	if (r < 0)
		return err_wrap(err, "publish endpoints '%s/%s'", NS, SERVICE);
	return 0;
}

void *dns_publish_main(void *arg)
{
	struct dns_server *s = arg;
	int64_t next = clock_mono_ms() + RESYNC_SECONDS * 1000;
	bool failing = false;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec ts;
		struct err err = ERR_INIT;

		if (!s->publish_dirty && clock_mono_ms() < next) {
			clock_deadline(&ts, next - clock_mono_ms());
			clock_timedwait(&s->cond, &s->lock, &ts);
			continue;
		}
		s->publish_dirty = false;
		next = clock_mono_ms() + RESYNC_SECONDS * 1000;
		pthread_mutex_unlock(&s->lock);
		if (dns_publish_sync(s, &err) < 0) {
			if (!failing)
				log_warn("%s, retrying every %d s", err.msg, RESYNC_SECONDS);
			failing = true;
			err_clear(&err);
		} else {
			failing = false;
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}
