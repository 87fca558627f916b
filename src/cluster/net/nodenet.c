/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node network controller (nodenet.h): a Nodes informer feeds one work-queue key; its
 * worker turns the informer's copy into peers (nodenet_peers) and applies them with
 * net_overlay_apply(), then looks again after the resync period, so lost kernel state
 * comes back. It also keeps this node's annotations published.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/net/net.h"
#include "cluster/net/nodenet.h"

#define SYNC_KEY      "nodes"
#define RESYNC_MS     30000
#define RETRY_MS      2000
#define SYNC_WAIT_MS  100
#define DEFAULT_CIDR  "10.42.0.0/16"
#define DEFAULT_SVC   "10.43.0.0/16"
#define DEFAULT_MODE  "vxlan"
#define NODE_NAME_MAX 253

struct nodenet {
	struct kc *c;
	struct nodenet_config cfg; /* strings below */
	char *strs[8];
	struct net_overlay ov;
	struct informer *inf;
	struct workqueue *q;
	pthread_t worker;
	bool running;
	char *last_err; /* the worker's only */
};

/* Fills defaults and checks @in; @ret_ov may be NULL. */
static int cfg_resolve(const struct nodenet_config *in, struct nodenet_config *ret,
		       struct net_overlay *ret_ov, struct err *err)
{
	struct nodenet_config c = *in;
	struct net_overlay ov;
	int r;

	if (!c.node_name || !*c.node_name || strlen(c.node_name) > NODE_NAME_MAX)
		return err_set(err, EINVAL, "node name '%s': want 1 to %d characters",
			       c.node_name ? c.node_name : "", NODE_NAME_MAX);
	c.cluster_cidr = c.cluster_cidr ? c.cluster_cidr : DEFAULT_CIDR;
	c.service_cidr = c.service_cidr ? c.service_cidr : DEFAULT_SVC;
	c.mode = c.mode ? c.mode : DEFAULT_MODE;
	c.resync_ms = c.resync_ms > 0 ? c.resync_ms : RESYNC_MS;
	ov = (struct net_overlay){
		.node_ip = c.node_ip,
		.pod_cidr = c.pod_cidr,
		.cluster_cidr = c.cluster_cidr,
		.service_cidr = c.service_cidr,
		.mtu = c.mtu,
		.vxlan_dev = c.vxlan_dev,
		.vxlan_port = c.vxlan_port,
		.nft_table = c.nft_table,
	};
	if ((r = net_overlay_mode_parse(c.mode, &ov.mode, err)) < 0 ||
	    (r = net_overlay_check(&ov, err)) < 0)
		return r;
	*ret = c;
	if (ret_ov)
		*ret_ov = ov;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Desired state */

static const char *jget(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(json_object_get(o, a), b);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *node_internal_ip(const json_t *node)
{
	const json_t *addrs = json_object_get(json_object_get(node, "status"), "addresses");
	size_t i;
	json_t *a;

	json_array_foreach (addrs, i, a) {
		const char *type = json_string_value(json_object_get(a, "type"));
		const char *ip = json_string_value(json_object_get(a, "address"));

		if (type && ip && !strcmp(type, "InternalIP"))
			return ip;
	}
	return NULL;
}

struct cand {
	const char *name;
	const char *cidr;
	const char *ip;
	const char *mac;
};

static int cand_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cand *)a)->name, ((const struct cand *)b)->name);
}

/* An IPv4 CIDR as network (host order) and prefix; false when malformed. */
static bool cidr_read(const char *cidr, uint32_t *ret_net, unsigned *ret_prefix)
{
	struct err e = ERR_INIT;
	struct in_addr a;

	if (net_cidr_parse(cidr, &a, ret_prefix, &e) < 0) {
		err_clear(&e);
		return false;
	}
	*ret_net = ntohl(a.s_addr);
	return true;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
}

/* One inside the other, either way; malformed ones count as overlapping. */
static bool cidr_overlap(const char *a, const char *b)
{
	uint32_t x, y;
	unsigned px, py;

	if (!cidr_read(a, &x, &px) || !cidr_read(b, &y, &py))
		return true;
	px = px < py ? px : py;
	return (x & prefix_mask(px)) == (y & prefix_mask(px));
}

/* Why @cand cannot be a peer, or NULL. */
static const char *cand_reject(const struct nodenet_config *cfg, enum net_overlay_mode mode,
			       const struct cand *k)
{
	uint32_t net, cnet;
	unsigned prefix, cprefix;
	struct in_addr a;

	if (!k->cidr)
		return "no spec.podCIDR yet";
	if (!cidr_read(k->cidr, &net, &prefix) || !cidr_read(cfg->cluster_cidr, &cnet, &cprefix))
		return "spec.podCIDR is not an IPv4 CIDR";
	if (net & ~prefix_mask(prefix))
		return "spec.podCIDR has host bits set";
	if (prefix < cprefix || (net & prefix_mask(cprefix)) != cnet)
		return "spec.podCIDR is outside the cluster CIDR";
	if (cidr_overlap(k->cidr, cfg->pod_cidr))
		return "spec.podCIDR overlaps this node's";
	if (!k->ip)
		return "no InternalIP address";
	if (inet_pton(AF_INET, k->ip, &a) != 1)
		return "its address is not IPv4";
	if (net_cidr_contains(cfg->cluster_cidr, k->ip))
		return "its address is inside the cluster CIDR";
	if (!strcmp(k->ip, cfg->node_ip))
		return "its address is this node's";
	if (mode == NET_OVERLAY_VXLAN && !k->mac)
		return "no " NODENET_ANN_VXLAN_MAC " annotation yet";
	if (mode == NET_OVERLAY_VXLAN && strlen(k->mac) >= NET_MAC_STRLEN)
		return NODENET_ANN_VXLAN_MAC " is not a MAC address";
	return NULL;
}

static int peers_build(const struct nodenet_config *cfg, enum net_overlay_mode mode,
		       struct cand *cands, size_t nc, struct net_peer **ret, size_t *ret_n)
{
	struct net_peer *v = xcalloc(nc ? nc : 1, sizeof(*v));
	size_t n = 0;

	/* by name, so that of two nodes claiming one CIDR the same one wins on every node */
	qsort(cands, nc, sizeof(*cands), cand_cmp);
	for (size_t i = 0; i < nc; i++) {
		const char *why = cand_reject(cfg, mode, &cands[i]);

		for (size_t j = 0; !why && j < n; j++)
			if (cidr_overlap(cands[i].cidr, v[j].pod_cidr))
				why = "spec.podCIDR overlaps an earlier node's";
		if (why) {
			log_debug("nodenet: no route to node '%s': %s", cands[i].name, why);
			continue;
		}
		snprintf(v[n].pod_cidr, sizeof(v[n].pod_cidr), "%s", cands[i].cidr);
		snprintf(v[n].ip, sizeof(v[n].ip), "%s", cands[i].ip);
		if (mode == NET_OVERLAY_VXLAN)
			snprintf(v[n].mac, sizeof(v[n].mac), "%s", cands[i].mac);
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int nodenet_peers(const struct nodenet_config *cfg, const json_t *nodes,
		  struct net_peer **ret_peers, size_t *ret_n, struct err *err)
{
	cleanup_free struct cand *cands = NULL;
	struct nodenet_config c;
	struct net_overlay ov;
	size_t nc = 0, i;
	json_t *node;
	int r;

	r = cfg_resolve(cfg, &c, &ov, err);
	if (r < 0)
		return err_wrap(err, "node network peers");
	cands = xcalloc(json_array_size(nodes) + 1, sizeof(*cands));
	json_array_foreach (nodes, i, node) {
		struct cand *k = &cands[nc];

		k->name = jget(node, "metadata", "name");
		if (!k->name || !strcmp(k->name, c.node_name))
			continue;
		k->cidr = jget(node, "spec", "podCIDR");
		k->ip = node_internal_ip(node);
		if (ov.mode == NET_OVERLAY_VXLAN) {
			const json_t *ann =
				json_object_get(json_object_get(node, "metadata"), "annotations");
			const char *pub;

			pub = json_string_value(json_object_get(ann, NODENET_ANN_PUBLIC_IP));
			k->mac = json_string_value(json_object_get(ann, NODENET_ANN_VXLAN_MAC));
			/* the VTEP may be another address than the API's InternalIP */
			if (pub && *pub)
				k->ip = pub;
		}
		nc++;
	}
	return peers_build(&c, ov.mode, cands, nc, ret_peers, ret_n);
}

int nodenet_node_patch(const struct nodenet_config *cfg, json_t **ret_patch, struct err *err)
{
	struct nodenet_config c;
	struct net_overlay ov;
	char mac[NET_MAC_STRLEN];
	json_t *ann;
	int r;

	r = cfg_resolve(cfg, &c, &ov, err);
	if (r == 0)
		r = net_vxlan_mac(c.node_ip, mac, err);
	if (r < 0)
		return err_wrap(err, "node network annotations");
	ann = json_pack("{s:s}", NODENET_ANN_PUBLIC_IP, c.node_ip);
	/* null deletes in a merge patch: a node switched to direct mode stops offering VXLAN */
	json_object_set_new(ann, NODENET_ANN_VXLAN_MAC,
			    ov.mode == NET_OVERLAY_VXLAN ? json_string(mac) : json_null());
	*ret_patch = json_pack("{s:{s:o}}", "metadata", "annotations", ann);
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The controller */

static int publish(struct nodenet *nn, struct err *err)
{
	cleanup_json json_t *patch = NULL;
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s", nn->cfg.node_name);
	int r;

	r = nodenet_node_patch(&nn->cfg, &patch, err);
	if (r < 0)
		return r;
	r = kc_request(nn->c, "PATCH", path, "application/merge-patch+json", patch, NULL, err);
	if (r >= 200 && r < 300)
		return 0;
	if (r >= 0 && !err->code)
		err_set(err, EIO, "status %d", r);
	return err_wrap(err, "publish the node network annotations of node '%s'",
			nn->cfg.node_name);
}

/* True when this node's Node in @nodes shows what publish() would set. */
static bool published(struct nodenet *nn, const json_t *nodes)
{
	size_t i;
	json_t *node;

	json_array_foreach (nodes, i, node) {
		const char *name = jget(node, "metadata", "name");
		const json_t *ann;
		const char *ip, *mac;
		char want[NET_MAC_STRLEN];
		struct err e = ERR_INIT;

		if (!name || strcmp(name, nn->cfg.node_name))
			continue;
		ann = json_object_get(json_object_get(node, "metadata"), "annotations");
		ip = json_string_value(json_object_get(ann, NODENET_ANN_PUBLIC_IP));
		mac = json_string_value(json_object_get(ann, NODENET_ANN_VXLAN_MAC));
		if (!ip || strcmp(ip, nn->cfg.node_ip))
			return false;
		if (nn->ov.mode == NET_OVERLAY_DIRECT)
			return !mac;
		if (net_vxlan_mac(nn->cfg.node_ip, want, &e) < 0) {
			err_clear(&e);
			return false;
		}
		return mac && !strcasecmp(mac, want);
	}
	/* not in the copy (not registered, or not listed yet): publish() says which */
	return false;
}

static void collect(void *arg, json_t *obj)
{
	json_array_append(arg, obj);
}

static int reconcile(struct nodenet *nn, struct err *err)
{
	cleanup_json json_t *nodes = json_array();
	cleanup_free struct net_peer *peers = NULL;
	size_t n = 0;
	int r;

	informer_foreach(nn->inf, collect, nodes);
	r = nodenet_peers(&nn->cfg, nodes, &peers, &n, err);
	if (r == 0)
		r = net_overlay_apply(&nn->ov, peers, n, err);
	if (r == 0 && !published(nn, nodes))
		r = publish(nn, err);
	return r;
}

static int sync_nodes(void *arg, const char *key, struct err *err)
{
	struct nodenet *nn = arg;
	struct err e = ERR_INIT;

	(void)key;
	(void)err;
	/* a partial list would prune the routes of nodes not listed yet: wait for all */
	if (!informer_synced(nn->inf))
		return SYNC_WAIT_MS;
	if (reconcile(nn, &e) < 0) {
		/* a recovering loop: say it once per distinct failure */
		if (!nn->last_err || strcmp(nn->last_err, e.msg)) {
			log_warn("nodenet: %s, retrying", e.msg);
			free(nn->last_err);
			nn->last_err = xstrdup(e.msg);
		}
		err_clear(&e);
		return nn->cfg.resync_ms < RETRY_MS ? nn->cfg.resync_ms : RETRY_MS;
	}
	if (nn->last_err) {
		log_info("nodenet: node network of '%s' is in step again", nn->cfg.node_name);
		free(nn->last_err);
		nn->last_err = NULL;
	}
	return nn->cfg.resync_ms;
}

static void *worker_main(void *arg)
{
	struct nodenet *nn = arg;

	wq_process(nn->q, "nodenet", sync_nodes, nn);
	return NULL;
}

/* What of a Node the routes depend on: changes elsewhere (heartbeats) are ignored. */
static char *node_fingerprint(const json_t *node)
{
	const json_t *ann = json_object_get(json_object_get(node, "metadata"), "annotations");
	const char *cidr = jget(node, "spec", "podCIDR");
	const char *ip = node_internal_ip(node);
	const char *pub = json_string_value(json_object_get(ann, NODENET_ANN_PUBLIC_IP));
	const char *mac = json_string_value(json_object_get(ann, NODENET_ANN_VXLAN_MAC));

	return xasprintf("%s|%s|%s|%s", cidr ? cidr : "", ip ? ip : "", pub ? pub : "",
			 mac ? mac : "");
}

static void on_add(void *arg, json_t *obj)
{
	struct nodenet *nn = arg;

	(void)obj;
	wq_add(nn->q, SYNC_KEY);
}

static void on_update(void *arg, json_t *old, json_t *obj)
{
	struct nodenet *nn = arg;
	cleanup_free char *a = node_fingerprint(old);
	cleanup_free char *b = node_fingerprint(obj);

	if (strcmp(a, b))
		wq_add(nn->q, SYNC_KEY);
}

static void nodenet_free(struct nodenet *nn)
{
	if (!nn)
		return;
	for (size_t i = 0; i < sizeof(nn->strs) / sizeof(nn->strs[0]); i++)
		free(nn->strs[i]);
	free(nn->last_err);
	free(nn);
}

static const char *keep(struct nodenet *nn, size_t i, const char *s)
{
	nn->strs[i] = s ? xstrdup(s) : NULL;
	return nn->strs[i];
}

int nodenet_start(struct kc *c, const struct nodenet_config *cfg, struct nodenet **ret,
		  struct err *err)
{
	struct informer_handlers h = {
		.add = on_add, .update = on_update, .del = on_add, .arg = NULL};
	struct nodenet *nn = xcalloc(1, sizeof(*nn));
	struct nodenet_config rc;
	struct err perr = ERR_INIT;
	int r;

	r = cfg_resolve(cfg, &rc, NULL, err);
	if (r < 0)
		goto fail;
	nn->c = c;
	nn->cfg = rc;
	nn->cfg.node_name = keep(nn, 0, rc.node_name);
	nn->cfg.node_ip = keep(nn, 1, rc.node_ip);
	nn->cfg.pod_cidr = keep(nn, 2, rc.pod_cidr);
	nn->cfg.cluster_cidr = keep(nn, 3, rc.cluster_cidr);
	nn->cfg.service_cidr = keep(nn, 4, rc.service_cidr);
	nn->cfg.mode = keep(nn, 5, rc.mode);
	nn->cfg.nft_table = keep(nn, 6, rc.nft_table);
	nn->cfg.vxlan_dev = keep(nn, 7, rc.vxlan_dev);
	/* resolved again on the copies, so the overlay points at strings we own */
	r = cfg_resolve(&nn->cfg, &nn->cfg, &nn->ov, err);
	if (r == 0)
		r = net_overlay_prepare(&nn->ov, err);
	if (r < 0)
		goto fail;
	/* the Node may not be registered yet: the worker publishes until it works */
	if (publish(nn, &perr) < 0)
		log_debug("nodenet: %s, retrying", perr.msg);
	err_clear(&perr);
	nn->q = wq_new();
	h.arg = nn;
	r = informer_start(c, "/api/v1/nodes", &h, &nn->inf, err);
	if (r < 0) {
		wq_free(nn->q);
		goto fail;
	}
	if (pthread_create(&nn->worker, NULL, worker_main, nn) != 0) {
		informer_stop(nn->inf);
		wq_free(nn->q);
		r = err_set(err, EAGAIN, "start the node network worker");
		goto fail;
	}
	nn->running = true;
	/* an empty cluster fires no handler: reconcile at least once */
	wq_add(nn->q, SYNC_KEY);
	*ret = nn;
	return 0;
fail:
	nodenet_free(nn);
	return err_wrap(err, "start node network of '%s'", cfg->node_name ? cfg->node_name : "");
}

void nodenet_stop(struct nodenet *nn)
{
	if (!nn)
		return;
	if (nn->running) {
		informer_stop(nn->inf);
		wq_shutdown(nn->q);
		pthread_join(nn->worker, NULL);
		wq_free(nn->q);
	}
	nodenet_free(nn);
}

int nodenet_cleanup(const struct nodenet_config *cfg, struct err *err)
{
	struct nodenet_config c;
	struct net_overlay ov;
	int r;

	r = cfg_resolve(cfg, &c, &ov, err);
	if (r == 0)
		r = net_overlay_cleanup(&ov, err);
	if (r < 0)
		return err_wrap(err, "clean up node network of '%s'",
				cfg->node_name ? cfg->node_name : "");
	return 0;
}
