/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node lifecycle controller: watches node heartbeats (Leases in kube-node-lease and
 * the Ready condition's lastHeartbeatTime), turns silent nodes' conditions Unknown, keeps
 * the condition taints (not-ready, unreachable, pressure, unschedulable) in step with the
 * conditions, and evicts pods from NoExecute-tainted nodes once their tolerations run out
 * (upstream's node lifecycle and taint eviction controllers in one).
 *
 * As upstream, the NoExecute taints that start evictions are rationed per zone
 * (topology.kubernetes.io/region and zone labels): a token bucket of --node-eviction-rate
 * nodes a second, --secondary-node-eviction-rate while more than --unhealthy-zone-threshold
 * of a zone's nodes (and more than two) are not Ready, none then in a zone of at most
 * --large-cluster-size-threshold nodes. When every node of every zone is not Ready, the
 * fault is more likely this side's (the control plane cut off, a heartbeat path down)
 * than every node's at once: no node is tainted NoExecute and the taints present are
 * removed, so a partition of the control plane does not delete every pod of the cluster.
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
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/controllers/workload_util.h"

#define TAINT_NOT_READY   "node.kubernetes.io/not-ready"
#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define NODE_COMPONENT    "node-controller"
#define EVICT_COMPONENT   "taint-eviction-controller"

#define REGION_LABEL      "topology.kubernetes.io/region"
#define ZONE_LABEL        "topology.kubernetes.io/zone"
#define REGION_LABEL_BETA "failure-domain.beta.kubernetes.io/region"
#define ZONE_LABEL_BETA   "failure-domain.beta.kubernetes.io/zone"

/* What may happen to the not-ready and unreachable NoExecute taints of a node. */
enum ctl_no_execute {
	CTL_NOEXEC_ADD,  /* added as the conditions want */
	CTL_NOEXEC_HOLD, /* those present stay while warranted; none is added */
	CTL_NOEXEC_DROP, /* removed */
	CTL_NOEXEC_MODES
};

enum ctl_zone_state { CTL_ZONE_NORMAL, CTL_ZONE_PARTIAL, CTL_ZONE_FULL };

/* Pure parts, exported for tests/unit/test_ctrl_net.c. */
bool ctl_tolerates(const json_t *toleration, const json_t *taint);
int64_t ctl_eviction_delay(const json_t *taints, const json_t *tolerations);
json_t *ctl_node_taints(const json_t *node, const char *now, enum ctl_no_execute mode);
bool ctl_node_mark_unknown(json_t *node, const char *now);
enum ctl_zone_state ctl_zone_state(size_t ready, size_t not_ready, double unhealthy_threshold);
double ctl_zone_eviction_rate(enum ctl_zone_state state, size_t zone_size,
			      const struct controllers_config *cfg);

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

/* Kubernetes writes condition and taint times with second precision. */
static char *now_rfc3339(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

bool ctl_tolerates(const json_t *tol, const json_t *taint)
{
	const char *effect = str_at(tol, "effect", NULL), *key = str_at(tol, "key", NULL);
	const char *op = str_at(tol, "operator", NULL);

	if (effect && *effect && !streq(effect, str_at(taint, "effect", NULL)))
		return false;
	if (key && *key && !streq(key, str_at(taint, "key", NULL)))
		return false;
	if (!op || !*op || strcmp(op, "Equal") == 0)
		return strcmp(or_empty(str_at(tol, "value", NULL)),
			      or_empty(str_at(taint, "value", NULL))) == 0;
	return strcmp(op, "Exists") == 0;
}

/*
 * How long a pod with @tolerations may stay on a node with @taints (only NoExecute ones
 * count): 0 to evict now (a taint is not tolerated, or a toleration's time is up),
 * -1 to stay, otherwise the seconds of the shortest tolerationSeconds among the
 * tolerations used (the first that tolerates each taint, as upstream picks them).
 */
int64_t ctl_eviction_delay(const json_t *taints, const json_t *tolerations)
{
	int64_t min = -1;
	size_t i, j;
	const json_t *t, *tol;

	json_array_foreach (taints, i, t) {
		const json_t *used = NULL;

		if (!streq(str_at(t, "effect", NULL), "NoExecute"))
			continue;
		json_array_foreach (tolerations, j, tol)
			if (ctl_tolerates(tol, t)) {
				used = tol;
				break;
			}
		if (!used)
			return 0;
		if (json_is_integer(json_object_get(used, "tolerationSeconds"))) {
			int64_t s = json_integer_value(json_object_get(used, "tolerationSeconds"));

			if (s <= 0)
				return 0;
			if (min < 0 || s < min)
				min = s;
		}
	}
	return min;
}

static const json_t *condition(const json_t *node, const char *type)
{
	const json_t *conds = json_object_get(json_object_get(node, "status"), "conditions");
	size_t i;
	const json_t *c;

	json_array_foreach (conds, i, c)
		if (streq(str_at(c, "type", NULL), type))
			return c;
	return NULL;
}

static const char *condition_status(const json_t *node, const char *type)
{
	return str_at(condition(node, type), "status", NULL);
}

/*
 * Marks Ready and the pressure conditions Unknown as upstream does for a node whose
 * kubelet went silent (the heartbeat time stays what the kubelet last wrote); a missing
 * Ready condition is added. Returns whether anything changed.
 */
bool ctl_node_mark_unknown(json_t *node, const char *now)
{
	static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure",
					    "PIDPressure"};
	json_t *status = json_object_get(node, "status"), *conds;
	bool changed = false;

	if (!status) {
		status = json_object();
		json_object_set_new(node, "status", status);
	}
	conds = json_object_get(status, "conditions");
	if (!json_is_array(conds)) {
		conds = json_array();
		json_object_set_new(status, "conditions", conds);
	}
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		json_t *c = (json_t *)condition(node, types[i]);

		if (!c) {
			if (strcmp(types[i], "Ready") != 0)
				continue;
			json_array_append_new(
				conds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "Ready",
						 "status", "Unknown", "lastHeartbeatTime", now,
						 "lastTransitionTime", now, "reason",
						 "NodeStatusNeverUpdated", "message",
						 "Kubelet never posted node status."));
			changed = true;
			continue;
		}
		if (streq(str_at(c, "status", NULL), "Unknown"))
			continue;
		json_object_set_new(c, "status", json_string("Unknown"));
		json_object_set_new(c, "reason", json_string("NodeStatusUnknown"));
		json_object_set_new(c, "message",
				    json_string("Kubelet stopped posting node status."));
		json_object_set_new(c, "lastTransitionTime", json_string(now));
		changed = true;
	}
	return changed;
}

struct taint_rule {
	const char *condition, *status, *key;
	bool no_execute;
};

/* upstream's condition -> taint table; Ready drives both effects */
static const struct taint_rule rules[] = {
	{"Ready", "False", TAINT_NOT_READY, true},
	{"Ready", "Unknown", TAINT_UNREACHABLE, true},
	{"MemoryPressure", "True", "node.kubernetes.io/memory-pressure", false},
	{"DiskPressure", "True", "node.kubernetes.io/disk-pressure", false},
	{"NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable", false},
	{"PIDPressure", "True", "node.kubernetes.io/pid-pressure", false},
};

#define TAINT_UNSCHEDULABLE "node.kubernetes.io/unschedulable"

static bool managed(const json_t *taint)
{
	const char *key = str_at(taint, "key", NULL), *effect = str_at(taint, "effect", NULL);

	if (streq(key, TAINT_UNSCHEDULABLE))
		return streq(effect, "NoSchedule");
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (streq(key, rules[i].key))
			return streq(effect, "NoSchedule") ||
			       (rules[i].no_execute && streq(effect, "NoExecute"));
	return false;
}

static const json_t *find_taint(const json_t *taints, const char *key, const char *effect)
{
	size_t i;
	const json_t *t;

	json_array_foreach (taints, i, t)
		if (streq(str_at(t, "key", NULL), key) && streq(str_at(t, "effect", NULL), effect))
			return t;
	return NULL;
}

static void want_taint(json_t *want, const json_t *cur, const char *key, const char *effect,
		       const char *now)
{
	const json_t *have = find_taint(cur, key, effect);

	if (have)
		json_array_append(want, (json_t *)have);
	else
		json_array_append_new(want, json_pack("{s:s, s:s, s:s}", "key", key, "effect",
						      effect, "timeAdded", now));
}

/*
 * The taints @node should carry given its conditions and spec.unschedulable: taints
 * this controller does not manage are kept, managed ones already present keep their
 * timeAdded; @mode says what may happen to the NoExecute ones. Returns the new
 * spec.taints, or NULL when nothing changes.
 */
json_t *ctl_node_taints(const json_t *node, const char *now, enum ctl_no_execute mode)
{
	const json_t *spec = json_object_get(node, "spec");
	const json_t *cur = json_object_get(spec, "taints");
	cleanup_json json_t *want = json_array();
	json_t *out;
	size_t i;
	const json_t *t;
	bool same = true;

	json_array_foreach (cur, i, t)
		if (!managed(t))
			json_array_append(want, (json_t *)t);
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (!streq(condition_status(node, rules[i].condition), rules[i].status))
			continue;
		want_taint(want, cur, rules[i].key, "NoSchedule", now);
		if (!rules[i].no_execute || mode == CTL_NOEXEC_DROP)
			continue;
		if (mode == CTL_NOEXEC_ADD || find_taint(cur, rules[i].key, "NoExecute"))
			want_taint(want, cur, rules[i].key, "NoExecute", now);
	}
	if (json_is_true(json_object_get(spec, "unschedulable")))
		want_taint(want, cur, TAINT_UNSCHEDULABLE, "NoSchedule", now);
	if (json_array_size(want) != json_array_size(cur))
		same = false;
	json_array_foreach (want, i, t)
		if (!find_taint(cur, str_at(t, "key", NULL), str_at(t, "effect", NULL)))
			same = false;
	if (same)
		return NULL;
	out = want;
	want = NULL;
	return out;
}

/* Upstream's ComputeZoneState: a node whose Ready is not True counts as not ready. */
enum ctl_zone_state ctl_zone_state(size_t ready, size_t not_ready, double unhealthy_threshold)
{
	if (ready == 0 && not_ready > 0)
		return CTL_ZONE_FULL;
	if (not_ready > 2 && (double)not_ready / (double)(ready + not_ready) >= unhealthy_threshold)
		return CTL_ZONE_PARTIAL;
	return CTL_ZONE_NORMAL;
}

/* Nodes a second a zone in @state may have tainted NoExecute (upstream's limiters). */
double ctl_zone_eviction_rate(enum ctl_zone_state state, size_t zone_size,
			      const struct controllers_config *cfg)
{
	if (state != CTL_ZONE_PARTIAL)
		return cfg->node_eviction_rate;
	return zone_size > (size_t)cfg->large_cluster_size_threshold
		       ? cfg->secondary_node_eviction_rate
		       : 0;
}

/* The controller. */

/* A zone's state and its token bucket (burst 1, as upstream's). */
struct zone {
	char *key;
	enum ctl_zone_state state;
	double rate, tokens;
	int64_t refilled_ms;
	size_t ready, not_ready; /* counts of the current pass */
};

struct nl_ctl {
	struct kc *c;
	int64_t grace_ms, period_ms;
	struct informer *nodes, *leases, *pods;
	pthread_t thread;
	bool running, stopping;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	/* guarded by mu; JSON objects used as hash tables */
	json_t *health;  /* node -> {"probe": ms, "hb": heartbeat, "renew": lease, "ready": s} */
	json_t *by_node; /* node -> {"ns/pod": true} */
	json_t *tainted; /* node -> true while it has NoExecute taints */
	json_t *dirty;   /* node -> true: re-examine its pods for eviction */
	json_t *evict;   /* "ns/pod" -> {"uid", "start": ms, "at": ms} */
	/* the loop's only */
	struct controllers_config rates;
	struct zone *zones;
	size_t n_zones;
	bool disrupted;      /* every zone fully disrupted: no NoExecute taints */
	struct wl_map *seen; /* node name -> struct node_seen */
	unsigned passes;
};

/*
 * What the monitor passes read of one version of a node, kept while that version is the
 * one the pass sees: a pass over thousands of unchanged nodes then looks up nothing in
 * their trees. Informer objects are never changed in place, so a version is its pointer.
 */
struct node_seen {
	json_t *obj;       /* the version (a reference) */
	const char *ready; /* its Ready condition's status, in obj; "" for none */
	char *zone;        /* its zone's key */
	/* ctl_node_taints() found nothing to change, per enum ctl_no_execute mode */
	bool settled[CTL_NOEXEC_MODES];
	unsigned pass; /* the last pass that saw the node */
};

static json_t *no_execute_taints(const json_t *node)
{
	json_t *out = json_array();
	size_t i;
	const json_t *t;

	json_array_foreach (json_object_get(json_object_get(node, "spec"), "taints"), i, t)
		if (streq(str_at(t, "effect", NULL), "NoExecute"))
			json_array_append(out, (json_t *)t);
	return out;
}

static void kick(struct nl_ctl *st)
{
	pthread_cond_signal(&st->cond);
}

/* The node's health record (locked); a node seen for the first time gets a full grace
 * period from now, as upstream does after a restart. */
static json_t *health_of(struct nl_ctl *st, const char *name)
{
	json_t *h = json_object_get(st->health, name);

	if (!h) {
		h = json_pack("{s:I}", "probe", (json_int_t)clock_mono_ms());
		json_object_set_new(st->health, name, h);
	}
	return h;
}

static void observe_node(struct nl_ctl *st, const json_t *node, bool added)
{
	const char *name = or_empty(str_at(node, "metadata", "name"));
	const char *hb = str_at(condition(node, "Ready"), "lastHeartbeatTime", NULL);
	cleanup_json json_t *nx = no_execute_taints(node);
	bool has = json_array_size(nx) > 0, was;
	json_t *h;

	pthread_mutex_lock(&st->mu);
	h = health_of(st, name);
	if (hb && !streq(hb, str_at(h, "hb", NULL))) {
		json_object_set_new(h, "hb", json_string(hb));
		json_object_set_new(h, "probe", json_integer(clock_mono_ms()));
	}
	if (added)
		json_object_set_new(h, "ready",
				    json_string(or_empty(condition_status(node, "Ready"))));
	was = json_object_get(st->tainted, name) != NULL;
	if (has)
		json_object_set_new(st->tainted, name, json_true());
	else
		json_object_del(st->tainted, name);
	if (has || was)
		json_object_set_new(st->dirty, name, json_true());
	pthread_mutex_unlock(&st->mu);
	if (has || was)
		kick(st);
}

static void on_node_add(void *arg, json_t *obj)
{
	observe_node(arg, obj, true);
}

static void on_node_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	observe_node(arg, obj, false);
}

static void on_node_del(void *arg, json_t *obj)
{
	struct nl_ctl *st = arg;
	const char *name = or_empty(str_at(obj, "metadata", "name"));

	pthread_mutex_lock(&st->mu);
	json_object_del(st->health, name);
	json_object_del(st->tainted, name);
	json_object_del(st->dirty, name);
	pthread_mutex_unlock(&st->mu);
}

static void on_lease(void *arg, const json_t *obj)
{
	struct nl_ctl *st = arg;
	const char *name = or_empty(str_at(obj, "metadata", "name"));
	const char *renew = str_at(obj, "spec", "renewTime");
	json_t *h;

	/* the informer is the garbage collector's, of every namespace */
	if (!renew || !streq(str_at(obj, "metadata", "namespace"), "kube-node-lease"))
		return;
	pthread_mutex_lock(&st->mu);
	h = health_of(st, name);
	if (!streq(renew, str_at(h, "renew", NULL))) {
		json_object_set_new(h, "renew", json_string(renew));
		json_object_set_new(h, "probe", json_integer(clock_mono_ms()));
	}
	pthread_mutex_unlock(&st->mu);
}

static void on_lease_add(void *arg, json_t *obj)
{
	on_lease(arg, obj);
}

static void on_lease_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	on_lease(arg, obj);
}

static void pod_track(struct nl_ctl *st, const json_t *pod, bool add)
{
	const char *node = str_at(pod, "spec", "nodeName");
	cleanup_free char *key = kc_key(pod);
	json_t *set;
	bool wake = false;

	if (!node || !*node)
		return;
	pthread_mutex_lock(&st->mu);
	set = json_object_get(st->by_node, node);
	if (add) {
		if (!set) {
			set = json_object();
			json_object_set_new(st->by_node, node, set);
		}
		json_object_set_new(set, key, json_true());
		if (json_object_get(st->tainted, node)) {
			json_object_set_new(st->dirty, node, json_true());
			wake = true;
		}
	} else {
		json_object_del(set, key);
		if (set && json_object_size(set) == 0)
			json_object_del(st->by_node, node);
		json_object_del(st->evict, key);
	}
	pthread_mutex_unlock(&st->mu);
	if (wake)
		kick(st);
}

static void on_pod_add(void *arg, json_t *obj)
{
	pod_track(arg, obj, true);
}

/*
 * An update is one pod (the informer shows another under the same name as a deletion and
 * a creation), and a pod's spec.nodeName is only ever set, by its binding: the previous
 * version was on the same node or on none, so it need not be read.
 */
static void on_pod_update(void *arg, struct informer_old *old, json_t *obj)
{
	(void)old;
	pod_track(arg, obj, true);
}

static void on_pod_del(void *arg, json_t *obj)
{
	pod_track(arg, obj, false);
}

static json_t *pods_on(struct nl_ctl *st, const char *node)
{
	json_t *keys;

	pthread_mutex_lock(&st->mu);
	keys = json_deep_copy(json_object_get(st->by_node, node));
	pthread_mutex_unlock(&st->mu);
	return keys ? keys : json_object();
}

static json_t *pod_get(struct nl_ctl *st, const char *key)
{
	cleanup_free char *ns = xstrdup(key);
	char *name = strchr(ns, '/');

	if (!name)
		return NULL;
	*name++ = '\0';
	return informer_get(st->pods, ns, name);
}

/* Upstream's MarkPodsNotReady: the pods of a node that stopped being Ready stop being. */
static void mark_pods_not_ready(struct nl_ctl *st, const char *node)
{
	cleanup_json json_t *keys = pods_on(st, node);
	cleanup_free char *now = now_rfc3339();
	const char *key;
	json_t *v;

	json_object_foreach (keys, key, v) {
		cleanup_json json_t *pod = pod_get(st, key), *patch = NULL;
		cleanup_free char *path = NULL;
		struct err err = ERR_INIT;

		if (!pod || !streq(condition_status(pod, "Ready"), "True"))
			continue;
		patch = json_pack("{s:{s:[{s:s, s:s, s:s}]}}", "status", "conditions", "type",
				  "Ready", "status", "False", "lastTransitionTime", now);
		path = xasprintf("/api/v1/namespaces/%s/pods/%s/status",
				 str_at(pod, "metadata", "namespace"),
				 str_at(pod, "metadata", "name"));
		if (kc_request(st->c, "PATCH", path, "application/strategic-merge-patch+json",
			       patch, NULL, &err) != 200)
			log_debug("nodelifecycle: mark pod %s not ready: %s", key,
				  err.msg ? err.msg : "failed");
		else
			kc_event(st->c, pod, "Warning", "NodeNotReady", NODE_COMPONENT,
				 "Node is not ready");
		err_clear(&err);
	}
}

static int put_node(struct nl_ctl *st, const json_t *node, bool status, json_t **ret)
{
	cleanup_free char *path = xasprintf("/api/v1/nodes/%s%s", str_at(node, "metadata", "name"),
					    status ? "/status" : "");
	struct err err = ERR_INIT;
	int r = kc_request(st->c, "PUT", path, NULL, node, ret, &err);

	if (r != 200) {
		log_debug("nodelifecycle: update node %s%s: %s", str_at(node, "metadata", "name"),
			  status ? " status" : "", err.msg ? err.msg : "failed");
		err_clear(&err);
		return -EIO;
	}
	return 0;
}

/*
 * One node's health: Ready and the pressure conditions turn Unknown once it has been
 * silent past the grace period. Returns the node as it is now (a new reference), or
 * NULL when the update failed: the next pass tries again.
 */
static json_t *check_health(struct nl_ctl *st, json_t *node, const struct node_seen *seen,
			    const char *now)
{
	const char *name = or_empty(str_at(node, "metadata", "name"));
	cleanup_json json_t *cur = json_incref(node);
	const char *ready = seen->ready;
	int64_t probe;
	bool was_ready;
	json_t *h;

	pthread_mutex_lock(&st->mu);
	h = health_of(st, name);
	probe = json_integer_value(json_object_get(h, "probe"));
	was_ready = streq(str_at(h, "ready", NULL), "True");
	pthread_mutex_unlock(&st->mu);

	if (clock_mono_ms() - probe > st->grace_ms && !streq(ready, "Unknown")) {
		cleanup_json json_t *copy = json_deep_copy(node);
		json_t *resp = NULL;

		ctl_node_mark_unknown(copy, now);
		if (put_node(st, copy, true, &resp) < 0)
			return NULL;
		json_decref(cur);
		cur = resp;
		ready = or_empty(condition_status(cur, "Ready"));
	}
	if (was_ready && strcmp(ready, "True") != 0) {
		kc_event(st->c, cur, "Normal", "NodeNotReady", NODE_COMPONENT,
			 "Node %s status is now: NodeNotReady", name);
		mark_pods_not_ready(st, name);
	}
	pthread_mutex_lock(&st->mu);
	h = json_object_get(st->health, name);
	if (h && !streq(str_at(h, "ready", NULL), ready))
		json_object_set_new(h, "ready", json_string(ready));
	pthread_mutex_unlock(&st->mu);
	return TAKE_PTR(cur);
}

static const char *label(const json_t *node, const char *key, const char *beta)
{
	const json_t *labels = json_object_get(json_object_get(node, "metadata"), "labels");

	return json_string_value(json_object_get(labels, key))
		       ?: json_string_value(json_object_get(labels, beta));
}

/* The key of @node's zone: its region and zone labels, "" for neither. Heap string. */
static char *zone_key(const json_t *node)
{
	const char *region = label(node, REGION_LABEL, REGION_LABEL_BETA);
	const char *zone = label(node, ZONE_LABEL, ZONE_LABEL_BETA);

	return region || zone ? xasprintf("%s:%s", or_empty(region), or_empty(zone)) : xstrdup("");
}

/* The zone of @key (zone_key()), added on first sight. */
static struct zone *zone_of(struct nl_ctl *st, const char *key)
{
	struct zone *z;

	for (size_t i = 0; i < st->n_zones; i++)
		if (strcmp(st->zones[i].key, key) == 0)
			return &st->zones[i];
	st->zones = xrealloc(st->zones, (st->n_zones + 1) * sizeof(*st->zones));
	z = &st->zones[st->n_zones++];
	*z = (struct zone){.key = xstrdup(key),
			   .state = CTL_ZONE_NORMAL,
			   .rate = st->rates.node_eviction_rate,
			   .tokens = 1,
			   .refilled_ms = clock_mono_ms()};
	return z;
}

static const char *const zone_state_names[] = {"Normal", "PartialDisruption", "FullDisruption"};

/*
 * Counts each zone's Ready and not Ready nodes among @nodes, moves zones to their new
 * states and rates, and enters or leaves the disruption mode in which no node is tainted
 * NoExecute (every zone fully disrupted), as upstream's handleDisruption.
 */
static void update_zones(struct nl_ctl *st, json_t *const *nodes, struct node_seen *const *seen,
			 size_t n)
{
	bool all_full = true;
	size_t kept = 0;

	for (size_t i = 0; i < st->n_zones; i++)
		st->zones[i].ready = st->zones[i].not_ready = 0;
	for (size_t i = 0; i < n; i++) {
		struct zone *z = zone_of(st, seen[i]->zone);

		if (streq(seen[i]->ready, "True"))
			z->ready++;
		else
			z->not_ready++;
	}
	/* zones without nodes are forgotten */
	for (size_t i = 0; i < st->n_zones; i++) {
		if (!st->zones[i].ready && !st->zones[i].not_ready) {
			free(st->zones[i].key);
			continue;
		}
		st->zones[kept++] = st->zones[i];
	}
	st->n_zones = kept;
	for (size_t i = 0; i < st->n_zones; i++) {
		struct zone *z = &st->zones[i];
		enum ctl_zone_state s =
			ctl_zone_state(z->ready, z->not_ready, st->rates.unhealthy_zone_threshold);

		if (s != z->state)
			log_info("nodelifecycle: zone '%s' is now %s (%zu of %zu nodes not Ready)",
				 z->key, zone_state_names[s], z->not_ready,
				 z->ready + z->not_ready);
		z->state = s;
		z->rate = ctl_zone_eviction_rate(s, z->ready + z->not_ready, &st->rates);
		all_full = all_full && s == CTL_ZONE_FULL;
	}
	if (!st->n_zones)
		all_full = false;
	if (all_full && !st->disrupted) {
		log_info("nodelifecycle: no node of any zone is Ready: entering disruption mode, "
			 "in which no node is tainted NoExecute and no pod evicted");
		st->disrupted = true;
	} else if (!all_full && st->disrupted) {
		log_info("nodelifecycle: a node is Ready again: leaving disruption mode; every "
			 "node gets a new grace period");
		st->disrupted = false;
		pthread_mutex_lock(&st->mu);
		for (size_t i = 0; i < n; i++)
			json_object_set_new(
				health_of(st, or_empty(str_at(nodes[i], "metadata", "name"))),
				"probe", json_integer(clock_mono_ms()));
		pthread_mutex_unlock(&st->mu);
	}
}

/* Takes a token of @z's bucket: whether a node of it may be tainted NoExecute now. */
static bool take_token(struct zone *z)
{
	int64_t now = clock_mono_ms();

	z->tokens += (double)(now - z->refilled_ms) / 1000.0 * z->rate;
	if (z->tokens > 1)
		z->tokens = 1;
	z->refilled_ms = now;
	if (z->rate <= 0 || z->tokens < 1)
		return false;
	z->tokens -= 1;
	return true;
}

/* Whether @taints hold a not-ready or unreachable NoExecute taint. */
static bool has_no_execute(const json_t *taints)
{
	return find_taint(taints, TAINT_NOT_READY, "NoExecute") ||
	       find_taint(taints, TAINT_UNREACHABLE, "NoExecute");
}

/*
 * Puts @node's taints in step with its conditions. A node that would get its first
 * NoExecute taint takes a token of its zone's bucket (swapping not-ready for unreachable
 * needs none, as upstream's); without one it waits for a later pass.
 */
static void check_taints(struct nl_ctl *st, const json_t *node, struct node_seen *seen,
			 const char *now)
{
	enum ctl_no_execute mode = st->disrupted ? CTL_NOEXEC_DROP : CTL_NOEXEC_ADD;
	cleanup_json json_t *taints = NULL;

	if (seen->settled[mode])
		return;
	taints = ctl_node_taints(node, now, mode);
	if (!taints) {
		/* a function of the version and the mode: the same next pass */
		seen->settled[mode] = true;
		return;
	}
	if (mode == CTL_NOEXEC_ADD && has_no_execute(taints) &&
	    !has_no_execute(json_object_get(json_object_get(node, "spec"), "taints")) &&
	    !take_token(zone_of(st, seen->zone))) {
		/* no token yet: a later pass tries again */
		json_decref(taints);
		taints = ctl_node_taints(node, now, CTL_NOEXEC_HOLD);
		if (!taints)
			return;
	}
	{
		cleanup_json json_t *copy = json_deep_copy(node);
		json_t *spec = json_object_get(copy, "spec");

		if (!spec) {
			spec = json_object();
			json_object_set_new(copy, "spec", spec);
		}
		json_object_set(spec, "taints", taints);
		put_node(st, copy, false, NULL);
	}
}

static void collect(void *arg, json_t *obj)
{
	json_array_append((json_t *)arg, obj);
}

static void seen_free(void *v)
{
	struct node_seen *n = v;

	json_decref(n->obj);
	free(n->zone);
	free(n);
}

/* What this pass knows of @node's version @obj: kept from an earlier pass or read now. */
static struct node_seen *seen_of(struct nl_ctl *st, json_t *obj)
{
	const char *name = or_empty(str_at(obj, "metadata", "name"));
	struct node_seen *n = wl_map_get(st->seen, name);

	if (!n) {
		n = xcalloc(1, sizeof(*n));
		wl_map_put(st->seen, name, n);
	}
	n->pass = st->passes;
	if (n->obj == obj)
		return n;
	json_decref(n->obj);
	free(n->zone);
	*n = (struct node_seen){.obj = json_incref(obj),
				.ready = or_empty(condition_status(obj, "Ready")),
				.zone = zone_key(obj),
				.pass = st->passes};
	return n;
}

/* Forgets the nodes this pass did not see. */
static void seen_prune(struct nl_ctl *st)
{
	cleanup_json json_t *gone = json_array();
	const char *name;
	size_t pos = 0, i;
	void *v;
	json_t *g;

	while (wl_map_next(st->seen, &pos, &name, &v))
		if (((struct node_seen *)v)->pass != st->passes)
			json_array_append_new(gone, json_string(name));
	json_array_foreach (gone, i, g)
		seen_free(wl_map_del(st->seen, json_string_value(g)));
}

/* Every node's health, then the zones' states, then every node's taints. */
static void monitor_pass(struct nl_ctl *st)
{
	cleanup_json json_t *nodes = json_array();
	cleanup_free char *now = now_rfc3339();
	struct node_seen **seen;
	json_t **cur;
	size_t i, n = 0;
	json_t *node;

	st->passes++;
	informer_foreach(st->nodes, collect, nodes);
	cur = xcalloc(json_array_size(nodes) + 1, sizeof(*cur));
	seen = xcalloc(json_array_size(nodes) + 1, sizeof(*seen));
	json_array_foreach (nodes, i, node) {
		if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
			break;
		cur[n] = check_health(st, node, seen_of(st, node), now);
		if (cur[n]) {
			/* a node marked Unknown is a new version */
			seen[n] = seen_of(st, cur[n]);
			n++;
		}
	}
	if (!__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE)) {
		seen_prune(st);
		update_zones(st, cur, seen, n);
		for (i = 0; i < n && !__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE); i++)
			check_taints(st, cur[i], seen[i], now);
	}
	for (i = 0; i < n; i++)
		json_decref(cur[i]);
	free(cur);
	free(seen);
}

/* Schedules, moves or cancels the eviction of each pod on @node for its taints. */
static void examine_node(struct nl_ctl *st, const char *node)
{
	cleanup_json json_t *n = informer_get(st->nodes, "", node);
	cleanup_json json_t *taints = n ? no_execute_taints(n) : json_array();
	cleanup_json json_t *keys = pods_on(st, node);
	int64_t now = clock_mono_ms();
	const char *key;
	json_t *v;

	json_object_foreach (keys, key, v) {
		cleanup_json json_t *pod = pod_get(st, key);
		const char *uid = str_at(pod, "metadata", "uid");
		int64_t delay = -1;
		json_t *e;

		if (pod && json_array_size(taints) &&
		    !json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
			delay = ctl_eviction_delay(
				taints,
				json_object_get(json_object_get(pod, "spec"), "tolerations"));
		pthread_mutex_lock(&st->mu);
		e = json_object_get(st->evict, key);
		if (delay < 0) {
			json_object_del(st->evict, key);
		} else {
			int64_t start = now;

			/* a pod keeps the clock it started on while its node stays tainted */
			if (e && streq(str_at(e, "uid", NULL), uid))
				start = json_integer_value(json_object_get(e, "start"));
			json_object_set_new(st->evict, key,
					    json_pack("{s:s, s:I, s:I}", "uid", or_empty(uid),
						      "start", (json_int_t)start, "at",
						      (json_int_t)(start + delay * 1000)));
		}
		pthread_mutex_unlock(&st->mu);
	}
}

static int evict_pod(struct nl_ctl *st, const char *key, const char *uid)
{
	cleanup_json json_t *pod = pod_get(st, key), *cond = NULL, *opts = NULL;
	cleanup_free char *path = NULL, *spath = NULL, *now = now_rfc3339();
	struct err err = ERR_INIT;
	int r;

	if (!pod || !streq(str_at(pod, "metadata", "uid"), uid))
		return 0;
	path = xasprintf("/api/v1/namespaces/%s/pods/%s", str_at(pod, "metadata", "namespace"),
			 str_at(pod, "metadata", "name"));
	spath = xasprintf("%s/status", path);
	cond = json_pack("{s:{s:[{s:s, s:s, s:s, s:s, s:s}]}}", "status", "conditions", "type",
			 "DisruptionTarget", "status", "True", "reason", "DeletionByTaintManager",
			 "message", "Taint manager: deleting due to NoExecute taint",
			 "lastTransitionTime", now);
	if (kc_request(st->c, "PATCH", spath, "application/strategic-merge-patch+json", cond, NULL,
		       &err) != 200) {
		log_debug("nodelifecycle: mark pod %s for disruption: %s", key,
			  err.msg ? err.msg : "failed");
		err_clear(&err);
	}
	kc_event(st->c, pod, "Normal", "TaintManagerEviction", EVICT_COMPONENT,
		 "Marking for deletion Pod %s", key);
	opts = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
			 "preconditions", "uid", uid);
	r = kc_request(st->c, "DELETE", path, NULL, opts, NULL, &err);
	if (r == 200 || r == 202 || r == 404 || r == 409) {
		err_clear(&err);
		return 0;
	}
	log_warn("nodelifecycle: evict pod %s: %s, retrying", key, err.msg ? err.msg : "failed");
	err_clear(&err);
	return -EIO;
}

static void run_evictions(struct nl_ctl *st)
{
	cleanup_json json_t *due = json_object();
	int64_t now = clock_mono_ms();
	const char *key;
	json_t *e;

	pthread_mutex_lock(&st->mu);
	json_object_foreach (st->evict, key, e)
		if (json_integer_value(json_object_get(e, "at")) <= now)
			json_object_set(due, key, e);
	pthread_mutex_unlock(&st->mu);
	json_object_foreach (due, key, e) {
		int r = evict_pod(st, key, or_empty(str_at(e, "uid", NULL)));

		pthread_mutex_lock(&st->mu);
		if (r >= 0)
			json_object_del(st->evict, key);
		else
			json_object_set_new(e, "at", json_integer(clock_mono_ms() + 1000));
		pthread_mutex_unlock(&st->mu);
	}
}

static void *loop(void *arg)
{
	struct nl_ctl *st = arg;
	struct informer *all[] = {st->nodes, st->leases, st->pods};
	int64_t next = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		while (!informer_wait_synced(all[i], 500))
			if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE))
				return NULL;
	next = clock_mono_ms() + st->period_ms;
	while (!__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE)) {
		cleanup_json json_t *dirty = NULL;
		struct timespec ts;
		const char *node;
		json_t *v;

		if (clock_mono_ms() >= next) {
			monitor_pass(st);
			next = clock_mono_ms() + st->period_ms;
		}
		pthread_mutex_lock(&st->mu);
		dirty = st->dirty;
		st->dirty = json_object();
		pthread_mutex_unlock(&st->mu);
		json_object_foreach (dirty, node, v)
			examine_node(st, node);
		run_evictions(st);

		pthread_mutex_lock(&st->mu);
		if (json_object_size(st->dirty) == 0 && !st->stopping) {
			clock_deadline(&ts, 1000);
			clock_timedwait(&st->cond, &st->mu, &ts);
		}
		pthread_mutex_unlock(&st->mu);
	}
	return NULL;
}

void nodelifecycle_stop(void *state)
{
	struct nl_ctl *st = state;

	if (!st)
		return;
	pthread_mutex_lock(&st->mu);
	__atomic_store_n(&st->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
	if (st->running)
		pthread_join(st->thread, NULL);
	if (st->nodes)
		informer_stop(st->nodes);
	if (st->leases)
		informer_stop(st->leases);
	if (st->pods)
		informer_stop(st->pods);
	json_decref(st->health);
	json_decref(st->by_node);
	json_decref(st->tainted);
	json_decref(st->dirty);
	json_decref(st->evict);
	if (st->seen)
		wl_map_free(st->seen, seen_free);
	for (size_t i = 0; i < st->n_zones; i++)
		free(st->zones[i].key);
	free(st->zones);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int nodelifecycle_start(struct kc *c, const struct controllers_config *cfg, void **ret,
			struct err *err)
{
	struct nl_ctl *st = xcalloc(1, sizeof(*st));
	const struct informer_handlers node_h = {
		.add = on_node_add, .update = on_node_update, .del = on_node_del, .arg = st};
	const struct informer_handlers lease_h = {
		.add = on_lease_add, .update = on_lease_update, .del = NULL, .arg = st};
	const struct informer_handlers pod_h = {.add = on_pod_add,
						.update_lazy = on_pod_update,
						.del = on_pod_del,
						.arg = st,
						.compact = true};
	int r;

	st->c = c;
	st->grace_ms =
		(cfg && cfg->node_monitor_grace_period > 0 ? cfg->node_monitor_grace_period : 40) *
		1000;
	st->period_ms = (cfg && cfg->node_monitor_period > 0 ? cfg->node_monitor_period : 5) * 1000;
	if (cfg && cfg->rates_set) {
		st->rates = *cfg;
	} else {
		st->rates.node_eviction_rate = 0.1;
		st->rates.secondary_node_eviction_rate = 0.01;
		st->rates.unhealthy_zone_threshold = 0.55;
		st->rates.large_cluster_size_threshold = 50;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->health = json_object();
	st->by_node = json_object();
	st->tainted = json_object();
	st->dirty = json_object();
	st->evict = json_object();
	st->seen = wl_map_new();
	r = informer_start(c, "/api/v1/nodes", &node_h, &st->nodes, err);
	if (r >= 0)
		/*
		 * every namespace's: the path the garbage collector follows too, so that the
		 * 500 renewals a second of 5,000 nodes are parsed once, not twice
		 */
		r = informer_start(c, "/apis/coordination.k8s.io/v1/leases", &lease_h, &st->leases,
				   err);
	if (r >= 0)
		/* the pods informer every control loop shares; unbound pods are skipped */
		r = informer_start(c, "/api/v1/pods", &pod_h, &st->pods, err);
	if (r >= 0) {
		r = -pthread_create(&st->thread, NULL, loop, st);
		if (r < 0)
			err_errno(err, -r, "start the node lifecycle loop");
		else
			st->running = true;
	}
	if (r < 0) {
		nodelifecycle_stop(st);
		return err_wrap(err, "start the node lifecycle controller");
	}
	*ret = st;
	return 0;
}
