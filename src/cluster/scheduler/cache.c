/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's view of the cluster and one scheduling decision over it. Nodes live in
 * an array (an index never changes, a deleted node stays as a placeholder); bound and
 * assumed pods are accounted on their node as they come and go, and indexed by namespace
 * (affinity and spreading), by controller (default spreading) and in a list of the pods
 * with affinity terms, so no decision ever walks all pods.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cluster/api/selector.h"
#include "cluster/scheduler/internal.h"

#define ZONE_KEY "topology.kubernetes.io/zone"
/* InterPodAffinity's default hardPodAffinityWeight */
#define HARD_POD_AFFINITY_WEIGHT 1
#define NODE_CHUNK               256 /* nodes per chunk of the node store */

enum {
	WEIGHT_FIT = 1,
	WEIGHT_BALANCED = 1,
	WEIGHT_TAINTS = 3,
	WEIGHT_NODE_AFFINITY = 2,
	WEIGHT_POD_AFFINITY = 2,
	WEIGHT_SPREAD = 2,
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

struct sched_cache *sched_cache_new(uint64_t seed)
{
	struct sched_cache *c = xcalloc(1, sizeof(*c));

	c->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	return c;
}

static void plist_free(void *p)
{
	struct sched_plist *l = p;

	free(l->v);
	free(l);
}

static void owner_free(void *p)
{
	struct sched_owner *o = p;

	imap_done(&o->nodes);
	free(o);
}

void sched_cache_free(struct sched_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_nodes; i++)
		sched_node_done(c->nodes[i]);
	for (size_t i = 0; i < c->cap_nodes / NODE_CHUNK; i++)
		free(c->chunks[i]);
	free(c->chunks);
	free(c->nodes);
	smap_done(&c->node_idx, NULL);
	smap_done(&c->ns_pods, plist_free);
	smap_done(&c->owners, owner_free);
	free(c->aff_pods.v);
	free(c);
}

const struct sched_node *sched_cache_node(const struct sched_cache *c, int idx)
{
	return idx >= 0 && (size_t)idx < c->n_nodes ? c->nodes[idx] : NULL;
}

/* The slot of @name, made for it when new: takes @n's contents (and frees @n). */
static int node_slot(struct sched_cache *c, const char *name, struct sched_node *n)
{
	struct smap_ent *e = smap_find(&c->node_idx, name);
	struct sched_node *slot;

	if (e) {
		sched_node_free(n);
		return (int)e->v.i;
	}
	if (c->n_nodes == c->cap_nodes) {
		size_t chunks = c->cap_nodes / NODE_CHUNK;

		c->chunks = xrealloc(c->chunks, (chunks + 1) * sizeof(*c->chunks));
		c->chunks[chunks] = xcalloc(NODE_CHUNK, sizeof(**c->chunks));
		c->cap_nodes += NODE_CHUNK;
		c->nodes = xrealloc(c->nodes, c->cap_nodes * sizeof(*c->nodes));
		for (size_t i = 0; i < NODE_CHUNK; i++)
			c->nodes[chunks * NODE_CHUNK + i] = &c->chunks[chunks][i];
	}
	slot = c->nodes[c->n_nodes];
	if (n) {
		*slot = *n;
		free(n);
	} else {
		slot->name = xstrdup(name);
	}
	smap_add(&c->node_idx, name)->v.i = (int64_t)c->n_nodes;
	return (int)c->n_nodes++;
}

bool sched_cache_set_node(struct sched_cache *c, struct sched_node *n)
{
	struct smap_ent *e = smap_find(&c->node_idx, n->name);
	struct sched_node *cur;

	if (!e) {
		node_slot(c, n->name, n);
		c->n_present++;
		return true;
	}
	cur = c->nodes[e->v.i];
	if (!cur->present)
		c->n_present++;
	return sched_node_take_spec(cur, n);
}

void sched_cache_remove_node(struct sched_cache *c, const char *name)
{
	struct smap_ent *e = smap_find(&c->node_idx, name);
	struct sched_node *n;

	if (!e)
		return;
	n = c->nodes[e->v.i];
	/* the slot stays: pods still accounted on it keep their index until they go */
	if (n->present)
		c->n_present--;
	n->present = false;
}

static void plist_add(struct sched_plist *l, struct sched_pod *p, size_t *pos)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	*pos = l->n;
	l->v[l->n++] = p;
}

static void plist_del(struct sched_plist *l, size_t pos, bool aff)
{
	struct sched_pod *last = l->v[--l->n];

	if (pos == l->n)
		return;
	l->v[pos] = last;
	if (aff)
		last->aff_pos = pos;
	else
		last->ns_pos = pos;
}

static void ports_account(struct sched_node *n, const struct sched_pod *p, int sign)
{
	for (size_t i = 0; i < p->n_ports; i++) {
		const struct sched_port *pp = &p->ports[i];
		size_t j;

		for (j = 0; j < n->n_ports; j++)
			if (n->ports[j].port == pp->port &&
			    strcmp(n->ports[j].proto, pp->proto) == 0 &&
			    strcmp(n->ports[j].ip, pp->ip) == 0)
				break;
		if (sign > 0) {
			if (j == n->n_ports) {
				n->ports = xrealloc(n->ports, (n->n_ports + 1) * sizeof(*n->ports));
				n->ports[j] = *pp;
				n->ports[j].ip = xstrdup(pp->ip);
				n->ports[j].refs = 0;
				n->n_ports++;
			}
			n->ports[j].refs++;
		} else if (j < n->n_ports && --n->ports[j].refs <= 0) {
			free(n->ports[j].ip);
			n->ports[j] = n->ports[--n->n_ports];
		}
	}
}

void sched_cache_add_pod(struct sched_cache *c, struct sched_pod *p, const char *node_name)
{
	struct sched_node *n;
	struct smap_ent *e;

	if (p->node >= 0)
		sched_cache_remove_pod(c, p);
	p->node = node_slot(c, node_name, NULL);
	n = c->nodes[p->node];
	sched_node_res_account(n, p, 1);
	ports_account(n, p, 1);
	e = smap_add(&c->ns_pods, p->ns);
	if (!e->v.p)
		e->v.p = xcalloc(1, sizeof(struct sched_plist));
	plist_add(e->v.p, p, &p->ns_pos);
	if (sched_pod_has_affinity(p))
		plist_add(&c->aff_pods, p, &p->aff_pos);
	if (p->owner) {
		struct sched_owner *o;

		e = smap_add(&c->owners, p->owner);
		if (!e->v.p)
			e->v.p = xcalloc(1, sizeof(struct sched_owner));
		o = e->v.p;
		imap_add(&o->nodes, p->node, 1);
		o->n++;
	}
}

void sched_cache_remove_pod(struct sched_cache *c, struct sched_pod *p)
{
	struct sched_node *n;
	struct smap_ent *e;

	if (p->node < 0)
		return;
	n = c->nodes[p->node];
	sched_node_res_account(n, p, -1);
	ports_account(n, p, -1);
	e = smap_find(&c->ns_pods, p->ns);
	if (e) {
		struct sched_plist *l = e->v.p;

		plist_del(l, p->ns_pos, false);
		if (!l->n) {
			plist_free(l);
			smap_del(&c->ns_pods, p->ns);
		}
	}
	if (sched_pod_has_affinity(p))
		plist_del(&c->aff_pods, p->aff_pos, true);
	if (p->owner && (e = smap_find(&c->owners, p->owner))) {
		struct sched_owner *o = e->v.p;

		imap_add(&o->nodes, p->node, -1);
		if (--o->n == 0) {
			owner_free(o);
			smap_del(&c->owners, p->owner);
		}
	}
	p->node = -1;
}

/* The namespaces' pod lists a term of a pod in @ns looks at. */
static size_t term_lists(struct sched_cache *c, const struct sched_term *t, const char *ns,
			 struct sched_plist ***ret)
{
	struct sched_plist **v;
	struct smap_ent *e;
	size_t n = 0;

	if (t->all_ns) {
		v = xcalloc(c->ns_pods.n + 1, sizeof(*v));
		for (size_t i = 0; i < c->ns_pods.cap; i++)
			if (c->ns_pods.ents[i].key)
				v[n++] = c->ns_pods.ents[i].v.p;
	} else if (t->namespaces[0]) {
		size_t k = 0;

		while (t->namespaces[k])
			k++;
		v = xcalloc(k + 1, sizeof(*v));
		for (size_t i = 0; i < k; i++)
			if ((e = smap_find(&c->ns_pods, t->namespaces[i])))
				v[n++] = e->v.p;
	} else {
		v = xcalloc(2, sizeof(*v));
		if ((e = smap_find(&c->ns_pods, ns)))
			v[n++] = e->v.p;
	}
	*ret = v;
	return n;
}

static const char *pod_node_label(const struct sched_cache *c, const struct sched_pod *e,
				  const char *key)
{
	const struct sched_node *n = c->nodes[e->node];

	return n->present ? sched_label(n->labels, key) : NULL;
}

static void count_pair(struct smap *m, const char *key, const char *value, int64_t delta)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s\x1f%s", key, value);
	smap_add(m, buf)->v.i += delta;
}

static bool matches_all(const struct sched_terms *ts, const char *ns, const struct sched_pod *e)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!sched_term_match(&ts->v[i], ns, e))
			return false;
	return true;
}

static void add_existing_key(struct sched_ipa *s, const char *key)
{
	for (size_t i = 0; i < s->n_existing_keys; i++)
		if (strcmp(s->existing_keys[i], key) == 0)
			return;
	s->existing_keys =
		xrealloc(s->existing_keys, (s->n_existing_keys + 1) * sizeof(*s->existing_keys));
	s->existing_keys[s->n_existing_keys++] = xstrdup(key);
}

/* InterPodAffinity's PreFilter. */
static void ipa_prefilter(struct sched_cache *c, const struct sched_pod *p, struct sched_ipa *s)
{
	struct sched_plist **lists;
	size_t i, j, k, n;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < c->aff_pods.n; i++) {
		const struct sched_pod *e = c->aff_pods.v[i];

		for (j = 0; j < e->anti.n; j++) {
			const struct sched_term *t = &e->anti.v[j];
			const char *v;

			if (!sched_term_match(t, e->ns, p))
				continue;
			if (!(v = pod_node_label(c, e, t->topology_key)))
				continue;
			count_pair(&s->existing, t->topology_key, v, 1);
			add_existing_key(s, t->topology_key);
		}
	}
	if (p->aff.n) {
		s->self_match = matches_all(&p->aff, p->ns, p);
		/* a pod counts only if it matches every term: the first term's namespaces
		 * hold all candidates */
		n = term_lists(c, &p->aff.v[0], p->ns, &lists);
		for (k = 0; k < n; k++)
			for (j = 0; j < lists[k]->n; j++) {
				const struct sched_pod *e = lists[k]->v[j];

				if (!matches_all(&p->aff, p->ns, e))
					continue;
				for (i = 0; i < p->aff.n; i++) {
					const char *key = p->aff.v[i].topology_key;
					const char *v = pod_node_label(c, e, key);

					if (v)
						count_pair(&s->aff, key, v, 1);
				}
			}
		free(lists);
	}
	for (i = 0; i < p->anti.n; i++) {
		const struct sched_term *t = &p->anti.v[i];

		n = term_lists(c, t, p->ns, &lists);
		for (k = 0; k < n; k++)
			for (j = 0; j < lists[k]->n; j++) {
				const struct sched_pod *e = lists[k]->v[j];
				const char *v;

				if (sched_term_match(t, p->ns, e) &&
				    (v = pod_node_label(c, e, t->topology_key)))
					count_pair(&s->anti, t->topology_key, v, 1);
			}
		free(lists);
	}
	s->active = p->aff.n || p->anti.n || s->existing.n;
}

static bool tolerates_hard_taints(const struct sched_pod *p, const struct sched_node *n)
{
	struct sched_status st;

	return sched_filter_taints(p, n, &st) == SCHED_OK;
}

/*
 * PodTopologySpread's counts for @cs (pointers into p->spread): the domains of the nodes
 * that have every constraint's key and pass its inclusion policies, and the pods there
 * that match each constraint's selector.
 */
static void spread_counts(struct sched_cache *c, const struct sched_pod *p,
			  const struct sched_spread **cs, size_t n, struct sched_spread_state *out)
{
	uint32_t *eligible = xcalloc(c->n_nodes + 1, sizeof(*eligible));
	struct smap_ent *ns;
	size_t i, k;

	out->n = n;
	out->v = xcalloc(n + 1, sizeof(*out->v));
	for (k = 0; k < n; k++) {
		out->v[k].c = cs[k];
		out->v[k].self = !cs[k]->sel_none && selector_match_labels(cs[k]->sel, p->labels);
	}
	for (i = 0; i < c->n_nodes; i++) {
		const struct sched_node *node = c->nodes[i];
		bool all = node->present;

		for (k = 0; all && k < n; k++)
			all = sched_label(node->labels, cs[k]->key) != NULL;
		if (!all)
			continue;
		for (k = 0; k < n && k < 32; k++) {
			if (cs[k]->honor_affinity && !sched_node_affinity_match(p, node))
				continue;
			if (cs[k]->honor_taints && !tolerates_hard_taints(p, node))
				continue;
			eligible[i] |= 1U << k;
			smap_add(&out->v[k].counts, sched_label(node->labels, cs[k]->key));
		}
	}
	ns = smap_find(&c->ns_pods, p->ns);
	for (i = 0; ns && i < ((struct sched_plist *)ns->v.p)->n; i++) {
		const struct sched_pod *e = ((struct sched_plist *)ns->v.p)->v[i];
		const struct sched_node *node = c->nodes[e->node];

		if (e->terminating || !eligible[e->node])
			continue;
		for (k = 0; k < n && k < 32; k++) {
			if (!(eligible[e->node] & (1U << k)) || cs[k]->sel_none ||
			    !selector_match_labels(cs[k]->sel, e->labels))
				continue;
			smap_add(&out->v[k].counts, sched_label(node->labels, cs[k]->key))->v.i++;
		}
	}
	for (k = 0; k < n; k++) {
		struct sched_spread_counts *sc = &out->v[k];
		int64_t min = INT64_MAX;

		for (i = 0; i < sc->counts.cap; i++)
			if (sc->counts.ents[i].key && sc->counts.ents[i].v.i < min)
				min = sc->counts.ents[i].v.i;
		if (!sc->counts.n || (int64_t)sc->counts.n < sc->c->min_domains)
			min = 0;
		sc->min = min;
	}
	free(eligible);
}

static void spread_prefilter(struct sched_cache *c, const struct sched_pod *p,
			     struct sched_spread_state *s)
{
	const struct sched_spread **cs;
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	if (!p->n_spread)
		return;
	cs = xcalloc(p->n_spread, sizeof(*cs));
	for (size_t i = 0; i < p->n_spread; i++)
		if (p->spread[i].hard)
			cs[n++] = &p->spread[i];
	if (n)
		spread_counts(c, p, cs, n, s);
	free(cs);
}

/* Runs the filters in upstream's order; the first failure decides. */
static enum sched_code run_filters(const struct sched_pod *p, const struct sched_node *n,
				   const struct sched_spread_state *spread,
				   const struct sched_ipa *ipa, struct sched_status *st,
				   bool *pod_sensitive)
{
	enum sched_code code;

	if ((code = sched_filter_unschedulable(p, n, st)) ||
	    (code = sched_filter_node_name(p, n, st)) || (code = sched_filter_taints(p, n, st)) ||
	    (code = sched_filter_node_affinity(p, n, st)) ||
	    (code = sched_filter_ports(p, n, st)) || (code = sched_filter_resources(p, n, st)))
		return code;
	if ((code = sched_filter_spread(spread, n, st)) ||
	    (code = sched_filter_inter_pod_affinity(ipa, p, n, st)))
		*pod_sensitive = true;
	return code;
}

struct topo_scores {
	struct smap scores; /* "key\x1fvalue" -> weight */
	char **keys;
	size_t n_keys;
};

static void topo_add(struct sched_cache *c, struct topo_scores *ts, const struct sched_term *t,
		     const struct sched_pod *e, int64_t w)
{
	const char *v = pod_node_label(c, e, t->topology_key);
	size_t i;

	if (!v)
		return;
	count_pair(&ts->scores, t->topology_key, v, w);
	for (i = 0; i < ts->n_keys; i++)
		if (strcmp(ts->keys[i], t->topology_key) == 0)
			return;
	ts->keys = xrealloc(ts->keys, (ts->n_keys + 1) * sizeof(*ts->keys));
	ts->keys[ts->n_keys++] = xstrdup(t->topology_key);
}

static void topo_done(struct topo_scores *ts)
{
	for (size_t i = 0; i < ts->n_keys; i++)
		free(ts->keys[i]);
	free(ts->keys);
	smap_done(&ts->scores, NULL);
}

/* InterPodAffinity's PreScore: weights per topology domain. */
static void ipa_topology_scores(struct sched_cache *c, const struct sched_pod *p,
				struct topo_scores *ts)
{
	struct sched_plist **lists;
	size_t i, j, k, n;

	for (int anti = 0; anti < 2; anti++) {
		const struct sched_terms *terms = anti ? &p->anti_pref : &p->aff_pref;

		for (i = 0; i < terms->n; i++) {
			const struct sched_term *t = &terms->v[i];

			n = term_lists(c, t, p->ns, &lists);
			for (k = 0; k < n; k++)
				for (j = 0; j < lists[k]->n; j++)
					if (sched_term_match(t, p->ns, lists[k]->v[j]))
						topo_add(c, ts, t, lists[k]->v[j],
							 anti ? -t->weight : t->weight);
			free(lists);
		}
	}
	for (i = 0; i < c->aff_pods.n; i++) {
		const struct sched_pod *e = c->aff_pods.v[i];

		for (j = 0; j < e->aff.n; j++)
			if (sched_term_match(&e->aff.v[j], e->ns, p))
				topo_add(c, ts, &e->aff.v[j], e, HARD_POD_AFFINITY_WEIGHT);
		for (j = 0; j < e->aff_pref.n; j++)
			if (sched_term_match(&e->aff_pref.v[j], e->ns, p))
				topo_add(c, ts, &e->aff_pref.v[j], e, e->aff_pref.v[j].weight);
		for (j = 0; j < e->anti_pref.n; j++)
			if (sched_term_match(&e->anti_pref.v[j], e->ns, p))
				topo_add(c, ts, &e->anti_pref.v[j], e, -e->anti_pref.v[j].weight);
	}
}

static bool score_inter_pod_affinity(struct sched_cache *c, const struct sched_pod *p,
				     const int *feasible, size_t n, int64_t *out)
{
	struct topo_scores ts = {0};
	char buf[512];
	size_t i, k;

	ipa_topology_scores(c, p, &ts);
	if (!ts.scores.n) {
		topo_done(&ts);
		return false;
	}
	for (i = 0; i < n; i++) {
		const struct sched_node *node = c->nodes[feasible[i]];

		out[i] = 0;
		for (k = 0; k < ts.n_keys; k++) {
			const char *v = sched_label(node->labels, ts.keys[k]);

			if (!v)
				continue;
			snprintf(buf, sizeof(buf), "%s\x1f%s", ts.keys[k], v);
			out[i] += smap_get_int(&ts.scores, buf);
		}
	}
	sched_normalize_min_max(out, n);
	topo_done(&ts);
	return true;
}

/* Soft constraints the pod declares. */
static bool score_spread_explicit(struct sched_cache *c, const struct sched_pod *p,
				  const int *feasible, size_t n, int64_t *out)
{
	const struct sched_spread **cs = xcalloc(p->n_spread, sizeof(*cs));
	struct sched_spread_state st;
	bool *ignored = xcalloc(n + 1, sizeof(*ignored));
	double *weight;
	size_t i, k, m = 0, n_ignored = 0;

	for (i = 0; i < p->n_spread; i++)
		if (!p->spread[i].hard)
			cs[m++] = &p->spread[i];
	if (!m) {
		free(cs);
		free(ignored);
		return false;
	}
	spread_counts(c, p, cs, m, &st);
	weight = xcalloc(m, sizeof(*weight));
	for (i = 0; i < n; i++)
		for (k = 0; k < m && !ignored[i]; k++)
			if (!sched_label(c->nodes[feasible[i]]->labels, cs[k]->key)) {
				ignored[i] = true;
				n_ignored++;
			}
	for (k = 0; k < m; k++) {
		struct smap domains = {0};
		size_t size;

		for (i = 0; i < n; i++)
			if (!ignored[i])
				smap_add(&domains,
					 sched_label(c->nodes[feasible[i]]->labels, cs[k]->key));
		size = strcmp(cs[k]->key, HOSTNAME_KEY) == 0 ? n - n_ignored : domains.n;
		weight[k] = sched_spread_weight(size);
		smap_done(&domains, NULL);
	}
	for (i = 0; i < n; i++) {
		double score = 0;

		for (k = 0; !ignored[i] && k < m; k++) {
			const char *v = sched_label(c->nodes[feasible[i]]->labels, cs[k]->key);

			score += (double)smap_get_int(&st.v[k].counts, v) * weight[k] +
				 (double)(cs[k]->max_skew - 1);
		}
		out[i] = (int64_t)llround(score);
	}
	sched_normalize_spread(out, ignored, n);
	sched_spread_state_done(&st);
	free(weight);
	free(ignored);
	free(cs);
	return true;
}

/*
 * Upstream's system default constraints (hostname maxSkew 3, zone maxSkew 5, both
 * ScheduleAnyway) over the pods of the same controller.
 */
static bool score_spread_default(struct sched_cache *c, const struct sched_pod *p,
				 const int *feasible, size_t n, int64_t *out)
{
	const struct sched_owner *o = NULL;
	struct smap zones = {0}, domains = {0};
	struct smap_ent *e;
	double w_host, w_zone = 0;
	bool zoned = false;
	size_t i;

	if (!p->owner)
		return false;
	if ((e = smap_find(&c->owners, p->owner)))
		o = e->v.p;
	for (i = 0; i < n && !zoned; i++)
		zoned = c->nodes[feasible[i]]->zone != NULL;
	/* only zoned nodes score the zone part: without one, no zone is counted */
	if (zoned) {
		for (i = 0; o && i < o->nodes.cap; i++) {
			const struct sched_node *node;

			if (o->nodes.keys[i] < 0)
				continue;
			node = c->nodes[o->nodes.keys[i]];
			if (node->present && node->zone)
				smap_add(&zones, node->zone)->v.i += o->nodes.vals[i];
		}
		for (i = 0; i < n; i++) {
			const char *z = c->nodes[feasible[i]]->zone;

			smap_add(&domains, z ? z : "");
		}
		w_zone = sched_spread_weight(domains.n);
	}
	w_host = sched_spread_weight(n);
	for (i = 0; i < n; i++) {
		const struct sched_node *node = c->nodes[feasible[i]];
		double score = 0;

		if (node->has_hostname)
			score += (o ? imap_get(&o->nodes, feasible[i]) : 0) * w_host + 2;
		if (node->zone)
			score += (double)smap_get_int(&zones, node->zone) * w_zone + 4;
		out[i] = (int64_t)llround(score);
	}
	sched_normalize_spread(out, NULL, n);
	smap_done(&zones, NULL);
	smap_done(&domains, NULL);
	return true;
}

static bool has_soft_spread(const struct sched_pod *p)
{
	for (size_t i = 0; i < p->n_spread; i++)
		if (!p->spread[i].hard)
			return true;
	return false;
}

static int select_host(struct sched_cache *c, const struct sched_pod *p, const int *feasible,
		       size_t n)
{
	int64_t *total = xcalloc(n, sizeof(*total)), *raw = xcalloc(n, sizeof(*raw));
	int64_t best = INT64_MIN;
	size_t i, ties = 0;
	int chosen = -1;
	bool scored;

	for (i = 0; i < n; i++) {
		const struct sched_node *node = c->nodes[feasible[i]];

		total[i] = WEIGHT_FIT * sched_score_least_allocated(p, node) +
			   WEIGHT_BALANCED * sched_score_balanced(p, node);
		raw[i] = sched_score_taints(p, node);
	}
	sched_normalize_default(raw, n, true);
	for (i = 0; i < n; i++)
		total[i] += WEIGHT_TAINTS * raw[i];
	if (p->n_preferred) {
		for (i = 0; i < n; i++)
			raw[i] = sched_score_node_affinity(p, c->nodes[feasible[i]]);
		sched_normalize_default(raw, n, false);
		for (i = 0; i < n; i++)
			total[i] += WEIGHT_NODE_AFFINITY * raw[i];
	}
	if ((p->aff_pref.n || p->anti_pref.n || c->aff_pods.n) &&
	    score_inter_pod_affinity(c, p, feasible, n, raw))
		for (i = 0; i < n; i++)
			total[i] += WEIGHT_POD_AFFINITY * raw[i];
	scored = p->n_spread ? (has_soft_spread(p) && score_spread_explicit(c, p, feasible, n, raw))
			     : score_spread_default(c, p, feasible, n, raw);
	if (scored)
		for (i = 0; i < n; i++)
			total[i] += WEIGHT_SPREAD * raw[i];
	/* ties are broken at random, each best node equally likely (reservoir sampling) */
	for (i = 0; i < n; i++) {
		if (total[i] > best) {
			best = total[i];
			chosen = feasible[i];
			ties = 1;
		} else if (total[i] == best && rng_next(&c->rng) % ++ties == 0) {
			chosen = feasible[i];
		}
	}
	free(total);
	free(raw);
	return chosen;
}

void sched_schedule(struct sched_cache *c, const struct sched_pod *p, struct sched_result *res)
{
	struct sched_spread_state spread;
	struct sched_diag diag = {0};
	struct sched_ipa ipa;
	size_t want, start, k, n = 0;
	int *feasible;

	memset(res, 0, sizeof(*res));
	res->node = -1;
	if (!c->n_present) {
		res->message = xstrdup(SCHED_MSG_NO_NODES);
		res->unresolvable_only = true;
		return;
	}
	ipa_prefilter(c, p, &ipa);
	spread_prefilter(c, p, &spread);
	want = sched_num_feasible_to_find(c->n_present, c->percentage);
	feasible = xcalloc(want + 1, sizeof(*feasible));
	start = c->next_start % c->n_nodes;
	for (k = 0; k < c->n_nodes && n < want; k++) {
		size_t idx = (start + k) % c->n_nodes;
		const struct sched_node *node = c->nodes[idx];
		struct sched_status st;

		if (!node->present)
			continue;
		res->evaluated++;
		if (run_filters(p, node, &spread, &ipa, &st, &res->pod_sensitive))
			sched_diag_add(&diag, &st);
		else
			feasible[n++] = (int)idx;
	}
	/* the next pod starts where this one stopped, so all nodes get their turn */
	c->next_start = (start + k) % c->n_nodes;
	res->feasible = n;
	if (!n) {
		diag.preempt_never = p->preempt_never;
		res->message = sched_fit_message(c->n_present, &diag);
		res->unresolvable_only = diag.n_unresolvable == diag.n_failed;
	} else {
		res->pod_sensitive = false;
		res->node = n == 1 ? feasible[0] : select_host(c, p, feasible, n);
	}
	free(feasible);
	sched_diag_done(&diag);
	sched_ipa_done(&ipa);
	sched_spread_state_done(&spread);
}

void sched_result_done(struct sched_result *r)
{
	free(r->message);
	r->message = NULL;
}

int64_t sched_backoff_ms(int attempts)
{
	int64_t ms = SCHED_BACKOFF_INIT_MS;

	for (int i = 1; i < attempts && ms < SCHED_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms < SCHED_BACKOFF_MAX_MS ? ms : SCHED_BACKOFF_MAX_MS;
}
