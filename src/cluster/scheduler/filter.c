/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The filters of upstream's default profile as pure checks of one pod against one node,
 * with upstream's reasons, and the FitError text that sums up why no node fits. The
 * per-pod state of InterPodAffinity and PodTopologySpread is computed in cache.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "cluster/scheduler/internal.h"

static enum sched_code fail(struct sched_status *st, enum sched_code code, const char *reason)
{
	st->code = code;
	st->n = 1;
	st->reasons[0] = reason;
	return code;
}

enum sched_code sched_filter_unschedulable(const struct sched_pod *p, const struct sched_node *n,
					   struct sched_status *st)
{
	if (!n->unschedulable ||
	    sched_tolerates(p->tols, p->n_tols, "node.kubernetes.io/unschedulable", "",
			    SCHED_EFFECT_NO_SCHEDULE))
		return SCHED_OK;
	return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_UNSCHEDULABLE);
}

enum sched_code sched_filter_node_name(const struct sched_pod *p, const struct sched_node *n,
				       struct sched_status *st)
{
	if (!p->node_name || strcmp(p->node_name, n->name) == 0)
		return SCHED_OK;
	return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_NODE_NAME);
}

enum sched_code sched_filter_taints(const struct sched_pod *p, const struct sched_node *n,
				    struct sched_status *st)
{
	for (size_t i = 0; i < n->n_taints; i++) {
		const struct sched_taint *t = &n->taints[i];

		if (t->effect != SCHED_EFFECT_NO_SCHEDULE && t->effect != SCHED_EFFECT_NO_EXECUTE)
			continue;
		if (sched_tolerates(p->tols, p->n_tols, t->key, t->value, t->effect))
			continue;
		snprintf(st->buf, sizeof(st->buf), "node(s) had untolerated taint {%s: %s}", t->key,
			 t->value);
		return fail(st, SCHED_UNRESOLVABLE, st->buf);
	}
	return SCHED_OK;
}

enum sched_code sched_filter_node_affinity(const struct sched_pod *p, const struct sched_node *n,
					   struct sched_status *st)
{
	if (sched_node_affinity_match(p, n))
		return SCHED_OK;
	return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_NODE_AFFINITY);
}

static bool ports_conflict(const struct sched_port *a, const struct sched_port *b)
{
	if (a->port != b->port || strcmp(a->proto, b->proto) != 0)
		return false;
	return strcmp(a->ip, "0.0.0.0") == 0 || strcmp(b->ip, "0.0.0.0") == 0 ||
	       strcmp(a->ip, b->ip) == 0;
}

enum sched_code sched_filter_ports(const struct sched_pod *p, const struct sched_node *n,
				   struct sched_status *st)
{
	for (size_t i = 0; i < p->n_ports; i++)
		for (size_t j = 0; j < n->n_ports; j++)
			if (ports_conflict(&p->ports[i], &n->ports[j]))
				return fail(st, SCHED_UNSCHEDULABLE, SCHED_MSG_PORTS);
	return SCHED_OK;
}

static void add_reason(struct sched_status *st, const char *reason)
{
	if (st->n < sizeof(st->reasons) / sizeof(st->reasons[0]))
		st->reasons[st->n++] = reason;
}

enum sched_code sched_filter_resources(const struct sched_pod *p, const struct sched_node *n,
				       struct sched_status *st)
{
	size_t used = 0;

	st->n = 0;
	if (n->n_pods + 1 > n->alloc_pods)
		add_reason(st, "Too many pods");
	if (p->req.cpu > 0 && p->req.cpu > n->alloc.cpu - n->used.cpu)
		add_reason(st, "Insufficient cpu");
	if (p->req.mem > 0 && p->req.mem > n->alloc.mem - n->used.mem)
		add_reason(st, "Insufficient memory");
	if (p->req.eph > 0 && p->req.eph > n->alloc.eph - n->used.eph)
		add_reason(st, "Insufficient ephemeral-storage");
	for (size_t i = 0; i < p->req.n_sc; i++) {
		const struct sched_scalar *sc = &p->req.sc[i];
		int len;

		if (sc->v <= 0 ||
		    sc->v <= sched_res_get(&n->alloc, sc->name) - sched_res_get(&n->used, sc->name))
			continue;
		len = snprintf(st->buf + used, sizeof(st->buf) - used, "Insufficient %s", sc->name);
		if (len < 0 || (size_t)len >= sizeof(st->buf) - used)
			break;
		add_reason(st, st->buf + used);
		used += (size_t)len + 1;
	}
	if (!st->n)
		return SCHED_OK;
	st->code = SCHED_UNSCHEDULABLE;
	return st->code;
}

static const char *pair_key(char *buf, size_t size, const char *key, const char *value)
{
	snprintf(buf, size, "%s\x1f%s", key, value);
	return buf;
}

enum sched_code sched_filter_inter_pod_affinity(const struct sched_ipa *s,
						const struct sched_pod *p,
						const struct sched_node *n, struct sched_status *st)
{
	char buf[512];
	size_t i;

	if (!s->active)
		return SCHED_OK;
	if (p->aff.n) {
		bool exist = true;

		for (i = 0; i < p->aff.n; i++) {
			const char *v = sched_label(n->labels, p->aff.v[i].topology_key);

			if (!v)
				return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_AFFINITY);
			if (smap_get_int(&s->aff, pair_key(buf, sizeof(buf),
							   p->aff.v[i].topology_key, v)) <= 0)
				exist = false;
		}
		/* the first of a group of pods with affinity to each other may go anywhere */
		if (!exist && !(s->aff.n == 0 && s->self_match))
			return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_AFFINITY);
	}
	for (i = 0; s->anti.n && i < p->anti.n; i++) {
		const char *v = sched_label(n->labels, p->anti.v[i].topology_key);

		if (v && smap_get_int(&s->anti,
				      pair_key(buf, sizeof(buf), p->anti.v[i].topology_key, v)) > 0)
			return fail(st, SCHED_UNSCHEDULABLE, SCHED_MSG_ANTI_AFFINITY);
	}
	for (i = 0; i < s->n_existing_keys; i++) {
		const char *v = sched_label(n->labels, s->existing_keys[i]);

		if (v && smap_get_int(&s->existing,
				      pair_key(buf, sizeof(buf), s->existing_keys[i], v)) > 0)
			return fail(st, SCHED_UNSCHEDULABLE, SCHED_MSG_EXISTING_ANTI);
	}
	return SCHED_OK;
}

void sched_ipa_done(struct sched_ipa *s)
{
	smap_done(&s->aff, NULL);
	smap_done(&s->anti, NULL);
	smap_done(&s->existing, NULL);
	for (size_t i = 0; i < s->n_existing_keys; i++)
		free(s->existing_keys[i]);
	free(s->existing_keys);
	memset(s, 0, sizeof(*s));
}

enum sched_code sched_filter_spread(const struct sched_spread_state *s, const struct sched_node *n,
				    struct sched_status *st)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct sched_spread_counts *sc = &s->v[i];
		const char *v = sched_label(n->labels, sc->c->key);
		int64_t skew;

		if (!v)
			return fail(st, SCHED_UNRESOLVABLE, SCHED_MSG_SPREAD_NO_LABEL);
		/* without any domain upstream's minimum stays at MaxInt32: nothing is skewed */
		if (!sc->counts.n)
			continue;
		skew = smap_get_int(&sc->counts, v) + (sc->self ? 1 : 0) - sc->min;
		if (skew > sc->c->max_skew)
			return fail(st, SCHED_UNSCHEDULABLE, SCHED_MSG_SPREAD);
	}
	return SCHED_OK;
}

void sched_spread_state_done(struct sched_spread_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		smap_done(&s->v[i].counts, NULL);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void sched_diag_add(struct sched_diag *d, const struct sched_status *st)
{
	for (unsigned i = 0; i < st->n; i++)
		smap_add(&d->reasons, st->reasons[i])->v.i++;
	d->n_failed++;
	if (st->code == SCHED_UNRESOLVABLE)
		d->n_unresolvable++;
}

void sched_diag_done(struct sched_diag *d)
{
	smap_done(&d->reasons, NULL);
	memset(d, 0, sizeof(*d));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* " 3 Insufficient memory, 2 node(s) ...": counts joined in upstream's sort.Strings order. */
static void append_histogram(char **msg, char **items, size_t n)
{
	qsort(items, n, sizeof(*items), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char *next = xasprintf("%s%s%s", *msg, i ? ", " : " ", items[i]);

		free(*msg);
		*msg = next;
		free(items[i]);
	}
}

static void append(char **msg, const char *s)
{
	char *next = xasprintf("%s%s", *msg, s);

	free(*msg);
	*msg = next;
}

char *sched_fit_message(size_t n_nodes, const struct sched_diag *d)
{
	char *msg, *items[2];
	char **hist;
	size_t n = 0;

	if (!n_nodes)
		return xstrdup(SCHED_MSG_NO_NODES);
	msg = xasprintf("0/%zu nodes are available:", n_nodes);
	hist = xcalloc(d->reasons.n + 1, sizeof(*hist));
	for (size_t i = 0; i < d->reasons.cap; i++)
		if (d->reasons.ents[i].key)
			hist[n++] = xasprintf("%lld %s", (long long)d->reasons.ents[i].v.i,
					      d->reasons.ents[i].key);
	if (n) {
		append_histogram(&msg, hist, n);
		append(&msg, ".");
	}
	free(hist);
	/* DefaultPreemption's PostFilter message; skiff does not preempt, so every node
	 * where preemption might help is one without victims */
	if (d->preempt_never) {
		append(&msg, " preemption: not eligible due to preemptionPolicy=Never.");
		return msg;
	}
	n = 0;
	if (d->n_unresolvable)
		items[n++] = xasprintf("%zu Preemption is not helpful for scheduling",
				       d->n_unresolvable);
	if (n_nodes > d->n_unresolvable)
		items[n++] = xasprintf("%zu No preemption victims found for incoming pod",
				       n_nodes - d->n_unresolvable);
	{
		char *pre = xasprintf(" preemption: 0/%zu nodes are available:", n_nodes);

		append(&msg, pre);
		free(pre);
	}
	append_histogram(&msg, items, n);
	append(&msg, ".");
	return msg;
}

size_t sched_num_feasible_to_find(size_t n_nodes, int percentage)
{
	size_t num;

	if (n_nodes < 100)
		return n_nodes;
	if (percentage <= 0) {
		long adaptive = 50 - (long)(n_nodes / 125);

		percentage = adaptive < 5 ? 5 : (int)adaptive;
	}
	num = n_nodes * (size_t)percentage / 100;
	return num < 100 ? 100 : num;
}
