/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pods and nodes as the scheduler needs them, parsed once per informer event: effective
 * requests (upstream's rule for init and sidecar containers), host ports, tolerations,
 * node selectors and affinity, pod (anti-)affinity terms and spread constraints; for
 * nodes allocatable, taints and labels. Also the matching rules these share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/err.h"
#include "cluster/api/quantity.h"
#include "cluster/api/selector.h"
#include "cluster/scheduler/internal.h"

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static char *jdup(const json_t *o, const char *key)
{
	const char *s = jstr(o, key);

	return s && *s ? xstrdup(s) : NULL;
}

static char **jstrv(const json_t *arr)
{
	size_t i, n = json_array_size(arr), k = 0;
	char **v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));

		if (s)
			v[k++] = xstrdup(s);
	}
	return v;
}

static void strv_release(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

const char *sched_label(const json_t *labels, const char *key)
{
	return labels ? json_string_value(json_object_get(labels, key)) : NULL;
}

/* Resource lists. */

static int64_t *res_slot(struct sched_res *r, const char *name)
{
	if (strcmp(name, "cpu") == 0)
		return &r->cpu;
	if (strcmp(name, "memory") == 0)
		return &r->mem;
	if (strcmp(name, "ephemeral-storage") == 0)
		return &r->eph;
	for (size_t i = 0; i < r->n_sc; i++)
		if (strcmp(r->sc[i].name, name) == 0)
			return &r->sc[i].v;
	r->sc = xrealloc(r->sc, (r->n_sc + 1) * sizeof(*r->sc));
	r->sc[r->n_sc].name = xstrdup(name);
	r->sc[r->n_sc].v = 0;
	return &r->sc[r->n_sc++].v;
}

int64_t sched_res_get(const struct sched_res *r, const char *name)
{
	if (strcmp(name, "cpu") == 0)
		return r->cpu;
	if (strcmp(name, "memory") == 0)
		return r->mem;
	if (strcmp(name, "ephemeral-storage") == 0)
		return r->eph;
	for (size_t i = 0; i < r->n_sc; i++)
		if (strcmp(r->sc[i].name, name) == 0)
			return r->sc[i].v;
	return 0;
}

static void res_done(struct sched_res *r)
{
	for (size_t i = 0; i < r->n_sc; i++)
		free(r->sc[i].name);
	free(r->sc);
	memset(r, 0, sizeof(*r));
}

static void res_add(struct sched_res *dst, const struct sched_res *src, int sign)
{
	dst->cpu += sign * src->cpu;
	dst->mem += sign * src->mem;
	dst->eph += sign * src->eph;
	for (size_t i = 0; i < src->n_sc; i++)
		*res_slot(dst, src->sc[i].name) += sign * src->sc[i].v;
}

static void res_max(struct sched_res *dst, const struct sched_res *src)
{
	if (src->cpu > dst->cpu)
		dst->cpu = src->cpu;
	if (src->mem > dst->mem)
		dst->mem = src->mem;
	if (src->eph > dst->eph)
		dst->eph = src->eph;
	for (size_t i = 0; i < src->n_sc; i++) {
		int64_t *v = res_slot(dst, src->sc[i].name);

		if (src->sc[i].v > *v)
			*v = src->sc[i].v;
	}
}

static void res_copy(struct sched_res *dst, const struct sched_res *src)
{
	memset(dst, 0, sizeof(*dst));
	res_add(dst, src, 1);
}

/* @nonzero: upstream's scoring view, where a container without a cpu or memory request
 * counts as asking for a default amount. */
static void res_parse(const json_t *list, bool nonzero, struct sched_res *r, bool pods_too,
		      int64_t *ret_pods)
{
	const char *name;
	json_t *v;

	memset(r, 0, sizeof(*r));
	if (nonzero) {
		r->cpu = json_object_get(list, "cpu") ? 0 : SCHED_DEFAULT_MILLI_CPU;
		r->mem = json_object_get(list, "memory") ? 0 : SCHED_DEFAULT_MEMORY;
	}
	json_object_foreach ((json_t *)list, name, v) {
		struct quantity q;
		const char *why;
		const char *s = json_string_value(v);

		if (!s || !quantity_parse(s, &q, &why))
			continue;
		if (strcmp(name, "cpu") == 0) {
			r->cpu = quantity_milli(&q);
		} else if (strcmp(name, "pods") == 0) {
			if (pods_too && ret_pods)
				*ret_pods = quantity_value(&q);
		} else if (nonzero) {
			if (strcmp(name, "memory") == 0)
				r->mem = quantity_value(&q);
		} else {
			*res_slot(r, name) = quantity_value(&q);
		}
	}
}

static void container_requests(const json_t *c, bool nonzero, struct sched_res *r)
{
	res_parse(json_object_get(json_object_get(c, "resources"), "requests"), nonzero, r, false,
		  NULL);
}

static void pod_requests(const json_t *spec, bool nonzero, struct sched_res *ret)
{
	struct sched_res sum = {0}, sidecars = {0}, init_max = {0}, cur;
	const json_t *c;
	size_t i;

	json_array_foreach (json_object_get(spec, "containers"), i, c) {
		container_requests(c, nonzero, &cur);
		res_add(&sum, &cur, 1);
		res_done(&cur);
	}
	json_array_foreach (json_object_get(spec, "initContainers"), i, c) {
		struct sched_res need;
		const char *policy = jstr(c, "restartPolicy");

		container_requests(c, nonzero, &cur);
		if (policy && strcmp(policy, "Always") == 0) {
			/* a sidecar keeps running next to everything after it */
			res_add(&sum, &cur, 1);
			res_add(&sidecars, &cur, 1);
			res_copy(&need, &sidecars);
		} else {
			res_copy(&need, &cur);
			res_add(&need, &sidecars, 1);
		}
		res_max(&init_max, &need);
		res_done(&need);
		res_done(&cur);
	}
	res_max(&sum, &init_max);
	if (!nonzero && json_object_get(spec, "overhead")) {
		res_parse(json_object_get(spec, "overhead"), false, &cur, false, NULL);
		res_add(&sum, &cur, 1);
		res_done(&cur);
	}
	res_done(&sidecars);
	res_done(&init_max);
	*ret = sum;
}

static enum sched_effect parse_effect(const char *s)
{
	if (!s || !*s)
		return SCHED_EFFECT_ANY;
	if (strcmp(s, "NoSchedule") == 0)
		return SCHED_EFFECT_NO_SCHEDULE;
	if (strcmp(s, "PreferNoSchedule") == 0)
		return SCHED_EFFECT_PREFER_NO_SCHEDULE;
	if (strcmp(s, "NoExecute") == 0)
		return SCHED_EFFECT_NO_EXECUTE;
	return SCHED_EFFECT_OTHER;
}

static bool parse_i64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

static void parse_expr(const json_t *j, bool field, struct sched_expr *e)
{
	const char *op = jstr(j, "operator");

	memset(e, 0, sizeof(*e));
	e->field = field;
	e->key = xstrdup(jstr(j, "key") ? jstr(j, "key") : "");
	e->values = jstrv(json_object_get(j, "values"));
	if (!op || strcmp(op, "In") == 0)
		e->op = SCHED_OP_IN;
	else if (strcmp(op, "NotIn") == 0)
		e->op = SCHED_OP_NOT_IN;
	else if (strcmp(op, "Exists") == 0)
		e->op = SCHED_OP_EXISTS;
	else if (strcmp(op, "DoesNotExist") == 0)
		e->op = SCHED_OP_DOES_NOT_EXIST;
	else if (strcmp(op, "Gt") == 0)
		e->op = SCHED_OP_GT;
	else if (strcmp(op, "Lt") == 0)
		e->op = SCHED_OP_LT;
	else
		e->op = SCHED_OP_IN; /* unknown operators match nothing: values stay empty */
	if ((e->op == SCHED_OP_GT || e->op == SCHED_OP_LT) && e->values[0] && !e->values[1])
		e->num_ok = parse_i64(e->values[0], &e->num);
}

static void expr_done(struct sched_expr *e)
{
	free(e->key);
	strv_release(e->values);
}

static void parse_node_term(const json_t *j, struct sched_node_term *t)
{
	const json_t *exprs = json_object_get(j, "matchExpressions");
	const json_t *fields = json_object_get(j, "matchFields");
	size_t i, ne = json_array_size(exprs), nf = json_array_size(fields);

	t->n = ne + nf;
	t->exprs = xcalloc(t->n + 1, sizeof(*t->exprs));
	for (i = 0; i < ne; i++)
		parse_expr(json_array_get(exprs, i), false, &t->exprs[i]);
	for (i = 0; i < nf; i++)
		parse_expr(json_array_get(fields, i), true, &t->exprs[ne + i]);
}

static void node_terms_done(struct sched_node_term *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].n; j++)
			expr_done(&v[i].exprs[j]);
		free(v[i].exprs);
	}
	free(v);
}

static void parse_pod_term(const json_t *j, int32_t weight, struct sched_term *t)
{
	const json_t *sel = json_object_get(j, "labelSelector");
	const json_t *nss = json_object_get(j, "namespaceSelector");
	struct err err = ERR_INIT;

	memset(t, 0, sizeof(*t));
	t->weight = weight;
	t->topology_key = xstrdup(jstr(j, "topologyKey") ? jstr(j, "topologyKey") : "");
	/* upstream: a missing selector selects nothing, an empty one everything */
	t->sel_none = !json_is_object(sel);
	if (!t->sel_none && selector_from_json(sel, "labelSelector", &t->sel, &err) < 0) {
		t->sel_none = true;
		err_clear(&err);
	}
	t->namespaces = jstrv(json_object_get(j, "namespaces"));
	/* Namespace labels are not tracked: a non-empty namespaceSelector without a list of
	 * namespaces limits the term to the pod's own namespace. */
	t->all_ns = json_is_object(nss) && json_object_size(nss) == 0;
}

static void parse_pod_terms(const json_t *arr, bool weighted, struct sched_terms *ts)
{
	size_t i, n = json_array_size(arr);

	ts->v = n ? xcalloc(n, sizeof(*ts->v)) : NULL;
	ts->n = 0;
	for (i = 0; i < n; i++) {
		const json_t *j = json_array_get(arr, i);

		if (weighted)
			parse_pod_term(json_object_get(j, "podAffinityTerm"),
				       (int32_t)json_integer_value(json_object_get(j, "weight")),
				       &ts->v[ts->n++]);
		else
			parse_pod_term(j, 1, &ts->v[ts->n++]);
	}
}

static void pod_terms_done(struct sched_terms *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		selector_free(ts->v[i].sel);
		strv_release(ts->v[i].namespaces);
		free(ts->v[i].topology_key);
	}
	free(ts->v);
}

static void parse_spread(const json_t *j, struct sched_spread *c)
{
	const json_t *sel = json_object_get(j, "labelSelector");
	const char *when = jstr(j, "whenUnsatisfiable");
	const char *aff = jstr(j, "nodeAffinityPolicy");
	const char *taints = jstr(j, "nodeTaintsPolicy");
	struct err err = ERR_INIT;

	memset(c, 0, sizeof(*c));
	c->max_skew = (int32_t)json_integer_value(json_object_get(j, "maxSkew"));
	if (c->max_skew < 1)
		c->max_skew = 1;
	c->min_domains = (int32_t)json_integer_value(json_object_get(j, "minDomains"));
	c->key = xstrdup(jstr(j, "topologyKey") ? jstr(j, "topologyKey") : "");
	c->hard = !when || strcmp(when, "ScheduleAnyway") != 0;
	c->honor_affinity = !aff || strcmp(aff, "Ignore") != 0;
	c->honor_taints = taints && strcmp(taints, "Honor") == 0;
	c->sel_none = !json_is_object(sel);
	if (!c->sel_none && selector_from_json(sel, "labelSelector", &c->sel, &err) < 0) {
		c->sel_none = true;
		err_clear(&err);
	}
}

static void parse_ports(const json_t *spec, struct sched_pod *p)
{
	const json_t *c, *port;
	size_t i, k;

	json_array_foreach (json_object_get(spec, "containers"), i, c) {
		json_array_foreach (json_object_get(c, "ports"), k, port) {
			int64_t hp = json_integer_value(json_object_get(port, "hostPort"));
			const char *ip = jstr(port, "hostIP");
			const char *proto = jstr(port, "protocol");
			struct sched_port *sp;

			if (hp <= 0)
				continue;
			p->ports = xrealloc(p->ports, (p->n_ports + 1) * sizeof(*p->ports));
			sp = &p->ports[p->n_ports++];
			memset(sp, 0, sizeof(*sp));
			sp->ip = xstrdup(ip && *ip ? ip : "0.0.0.0");
			snprintf(sp->proto, sizeof(sp->proto), "%s",
				 proto && *proto ? proto : "TCP");
			sp->port = (int32_t)hp;
		}
	}
}

static void parse_tolerations(const json_t *arr, struct sched_pod *p)
{
	const json_t *t;
	size_t i;

	p->n_tols = 0;
	p->tols = json_array_size(arr) ? xcalloc(json_array_size(arr), sizeof(*p->tols)) : NULL;
	json_array_foreach (arr, i, t) {
		struct sched_toleration *o = &p->tols[p->n_tols++];
		const char *op = jstr(t, "operator");

		o->key = xstrdup(jstr(t, "key") ? jstr(t, "key") : "");
		o->value = xstrdup(jstr(t, "value") ? jstr(t, "value") : "");
		o->exists = op && strcmp(op, "Exists") == 0;
		o->effect = parse_effect(jstr(t, "effect"));
	}
}

static void parse_node_affinity(const json_t *spec, struct sched_pod *p)
{
	const json_t *sel = json_object_get(spec, "nodeSelector");
	const json_t *na = json_object_get(json_object_get(spec, "affinity"), "nodeAffinity");
	const json_t *req = json_object_get(na, "requiredDuringSchedulingIgnoredDuringExecution");
	const json_t *pref = json_object_get(na, "preferredDuringSchedulingIgnoredDuringExecution");
	const char *key;
	json_t *v;
	size_t i;

	if (json_object_size(sel)) {
		p->node_sel = xcalloc(json_object_size(sel), sizeof(*p->node_sel));
		json_object_foreach ((json_t *)sel, key, v) {
			struct sched_expr *e = &p->node_sel[p->n_node_sel++];

			e->op = SCHED_OP_IN;
			e->key = xstrdup(key);
			e->values = xcalloc(2, sizeof(*e->values));
			e->values[0] = xstrdup(json_string_value(v) ? json_string_value(v) : "");
		}
	}
	if (json_is_object(req)) {
		const json_t *terms = json_object_get(req, "nodeSelectorTerms");

		p->has_required = true;
		p->n_required = json_array_size(terms);
		p->required = xcalloc(p->n_required + 1, sizeof(*p->required));
		for (i = 0; i < p->n_required; i++)
			parse_node_term(json_array_get(terms, i), &p->required[i]);
	}
	p->n_preferred = json_array_size(pref);
	p->preferred = xcalloc(p->n_preferred + 1, sizeof(*p->preferred));
	for (i = 0; i < p->n_preferred; i++) {
		const json_t *t = json_array_get(pref, i);

		parse_node_term(json_object_get(t, "preference"), &p->preferred[i]);
		p->preferred[i].weight = (int32_t)json_integer_value(json_object_get(t, "weight"));
	}
}

static char *controller_uid(const json_t *meta)
{
	const json_t *ref;
	size_t i;

	json_array_foreach (json_object_get(meta, "ownerReferences"), i, ref) {
		if (json_is_true(json_object_get(ref, "controller")))
			return jdup(ref, "uid");
	}
	return NULL;
}

struct sched_pod *sched_pod_parse(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *spec = json_object_get(obj, "spec");
	const json_t *aff = json_object_get(spec, "affinity");
	const json_t *pa = json_object_get(aff, "podAffinity");
	const json_t *paa = json_object_get(aff, "podAntiAffinity");
	const json_t *spread = json_object_get(spec, "topologySpreadConstraints");
	const char *phase = jstr(json_object_get(obj, "status"), "phase");
	const char *policy = jstr(spec, "preemptionPolicy");
	struct sched_pod *p = xcalloc(1, sizeof(*p));
	struct sched_res nz;
	size_t i;

	p->node = -1;
	p->ns = xstrdup(jstr(meta, "namespace") ? jstr(meta, "namespace") : "default");
	p->name = xstrdup(jstr(meta, "name") ? jstr(meta, "name") : "");
	p->uid = xstrdup(jstr(meta, "uid") ? jstr(meta, "uid") : "");
	p->owner = controller_uid(meta);
	p->node_name = jdup(spec, "nodeName");
	p->scheduler = jdup(spec, "schedulerName");
	if (json_object_size(json_object_get(meta, "labels")))
		p->labels = json_incref(json_object_get(meta, "labels"));
	p->priority = (int32_t)json_integer_value(json_object_get(spec, "priority"));
	p->preempt_never = policy && strcmp(policy, "Never") == 0;
	p->terminating = json_object_get(meta, "deletionTimestamp") &&
			 !json_is_null(json_object_get(meta, "deletionTimestamp"));
	p->terminal = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
	p->gated = json_array_size(json_object_get(spec, "schedulingGates")) > 0;

	pod_requests(spec, false, &p->req);
	pod_requests(spec, true, &nz);
	p->nz_cpu = nz.cpu;
	p->nz_mem = nz.mem;
	res_done(&nz);
	parse_ports(spec, p);
	parse_tolerations(json_object_get(spec, "tolerations"), p);
	parse_node_affinity(spec, p);
	parse_pod_terms(json_object_get(pa, "requiredDuringSchedulingIgnoredDuringExecution"),
			false, &p->aff);
	parse_pod_terms(json_object_get(paa, "requiredDuringSchedulingIgnoredDuringExecution"),
			false, &p->anti);
	parse_pod_terms(json_object_get(pa, "preferredDuringSchedulingIgnoredDuringExecution"),
			true, &p->aff_pref);
	parse_pod_terms(json_object_get(paa, "preferredDuringSchedulingIgnoredDuringExecution"),
			true, &p->anti_pref);
	p->n_spread = json_array_size(spread);
	p->spread = p->n_spread ? xcalloc(p->n_spread, sizeof(*p->spread)) : NULL;
	for (i = 0; i < p->n_spread; i++)
		parse_spread(json_array_get(spread, i), &p->spread[i]);
	return p;
}

void sched_pod_free(struct sched_pod *p)
{
	size_t i;

	if (!p)
		return;
	free(p->ns);
	free(p->name);
	free(p->uid);
	free(p->owner);
	free(p->node_name);
	free(p->scheduler);
	json_decref(p->labels);
	res_done(&p->req);
	for (i = 0; i < p->n_ports; i++)
		free(p->ports[i].ip);
	free(p->ports);
	for (i = 0; i < p->n_tols; i++) {
		free(p->tols[i].key);
		free(p->tols[i].value);
	}
	free(p->tols);
	for (i = 0; i < p->n_node_sel; i++)
		expr_done(&p->node_sel[i]);
	free(p->node_sel);
	node_terms_done(p->required, p->n_required);
	node_terms_done(p->preferred, p->n_preferred);
	pod_terms_done(&p->aff);
	pod_terms_done(&p->anti);
	pod_terms_done(&p->aff_pref);
	pod_terms_done(&p->anti_pref);
	for (i = 0; i < p->n_spread; i++) {
		free(p->spread[i].key);
		selector_free(p->spread[i].sel);
	}
	free(p->spread);
	free(p);
}

bool sched_pod_pending(const struct sched_pod *p)
{
	return !p->node_name && (!p->scheduler || strcmp(p->scheduler, "default-scheduler") == 0) &&
	       !p->terminating && !p->terminal && !p->gated;
}

bool sched_pod_has_affinity(const struct sched_pod *p)
{
	return p->aff.n || p->anti.n || p->aff_pref.n || p->anti_pref.n;
}

struct sched_node *sched_node_parse(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *spec = json_object_get(obj, "spec");
	const json_t *status = json_object_get(obj, "status");
	const json_t *alloc = json_object_get(status, "allocatable");
	const json_t *t;
	struct sched_node *n = xcalloc(1, sizeof(*n));
	const char *zone;
	size_t i;

	n->name = xstrdup(jstr(meta, "name") ? jstr(meta, "name") : "");
	n->present = true;
	if (json_object_size(json_object_get(meta, "labels")))
		n->labels = json_incref(json_object_get(meta, "labels"));
	zone = sched_label(n->labels, "topology.kubernetes.io/zone");
	n->zone = zone ? xstrdup(zone) : NULL;
	n->has_hostname = sched_label(n->labels, HOSTNAME_KEY) != NULL;
	n->unschedulable = json_is_true(json_object_get(spec, "unschedulable"));
	/* the API copies capacity into an absent allocatable; do the same for older writers */
	if (!json_object_size(alloc))
		alloc = json_object_get(status, "capacity");
	res_parse(alloc, false, &n->alloc, true, &n->alloc_pods);
	n->n_taints = json_array_size(json_object_get(spec, "taints"));
	n->taints = n->n_taints ? xcalloc(n->n_taints, sizeof(*n->taints)) : NULL;
	json_array_foreach (json_object_get(spec, "taints"), i, t) {
		n->taints[i].key = xstrdup(jstr(t, "key") ? jstr(t, "key") : "");
		n->taints[i].value = xstrdup(jstr(t, "value") ? jstr(t, "value") : "");
		n->taints[i].effect = parse_effect(jstr(t, "effect"));
	}
	return n;
}

static void node_spec_done(struct sched_node *n)
{
	free(n->name);
	json_decref(n->labels);
	free(n->zone);
	res_done(&n->alloc);
	for (size_t i = 0; i < n->n_taints; i++) {
		free(n->taints[i].key);
		free(n->taints[i].value);
	}
	free(n->taints);
}

void sched_node_done(struct sched_node *n)
{
	node_spec_done(n);
	res_done(&n->used);
	for (size_t i = 0; i < n->n_ports; i++)
		free(n->ports[i].ip);
	free(n->ports);
}

void sched_node_free(struct sched_node *n)
{
	if (!n)
		return;
	sched_node_done(n);
	free(n);
}

static bool labels_equal(const json_t *a, const json_t *b)
{
	if (!a || !b)
		return a == b;
	return json_equal((json_t *)a, (json_t *)b);
}

/* Moves the spec part of @from into @to, keeping @to's accounting. */
bool sched_node_take_spec(struct sched_node *to, struct sched_node *from)
{
	bool relevant = !to->present || to->unschedulable != from->unschedulable ||
			to->alloc.cpu != from->alloc.cpu || to->alloc.mem != from->alloc.mem ||
			to->alloc.eph != from->alloc.eph || to->alloc_pods != from->alloc_pods ||
			to->n_taints != from->n_taints || to->alloc.n_sc != from->alloc.n_sc ||
			!labels_equal(to->labels, from->labels);
	size_t i;

	for (i = 0; !relevant && i < from->n_taints; i++)
		relevant = strcmp(to->taints[i].key, from->taints[i].key) != 0 ||
			   strcmp(to->taints[i].value, from->taints[i].value) != 0 ||
			   to->taints[i].effect != from->taints[i].effect;
	for (i = 0; !relevant && i < from->alloc.n_sc; i++)
		relevant = sched_res_get(&to->alloc, from->alloc.sc[i].name) != from->alloc.sc[i].v;
	node_spec_done(to);
	to->name = from->name;
	to->labels = from->labels;
	to->zone = from->zone;
	to->present = true;
	to->unschedulable = from->unschedulable;
	to->alloc = from->alloc;
	to->alloc_pods = from->alloc_pods;
	to->taints = from->taints;
	to->n_taints = from->n_taints;
	from->name = NULL;
	from->labels = NULL;
	from->zone = NULL;
	memset(&from->alloc, 0, sizeof(from->alloc));
	from->taints = NULL;
	from->n_taints = 0;
	sched_node_free(from);
	return relevant;
}

void sched_node_res_account(struct sched_node *n, const struct sched_pod *p, int sign)
{
	res_add(&n->used, &p->req, sign);
	n->nz_cpu += sign * p->nz_cpu;
	n->nz_mem += sign * p->nz_mem;
	n->n_pods += sign;
}

/* Matching. */

static bool tolerates_one(const struct sched_toleration *t, const char *key, const char *value,
			  enum sched_effect effect)
{
	if (t->effect != SCHED_EFFECT_ANY && t->effect != effect)
		return false;
	if (*t->key && strcmp(t->key, key) != 0)
		return false;
	return t->exists || strcmp(t->value, value) == 0;
}

bool sched_tolerates(const struct sched_toleration *t, size_t n, const char *key, const char *value,
		     enum sched_effect effect)
{
	for (size_t i = 0; i < n; i++)
		if (tolerates_one(&t[i], key, value, effect))
			return true;
	return false;
}

static bool in_values(char *const *values, const char *s)
{
	for (; *values; values++)
		if (strcmp(*values, s) == 0)
			return true;
	return false;
}

static bool expr_match(const struct sched_expr *e, const struct sched_node *n)
{
	const char *v = e->field ? (strcmp(e->key, "metadata.name") == 0 ? n->name : NULL)
				 : sched_label(n->labels, e->key);
	int64_t num;

	switch (e->op) {
	case SCHED_OP_IN:
		return v && in_values(e->values, v);
	case SCHED_OP_NOT_IN:
		return !v || !in_values(e->values, v);
	case SCHED_OP_EXISTS:
		return v != NULL;
	case SCHED_OP_DOES_NOT_EXIST:
		return v == NULL;
	case SCHED_OP_GT:
		return v && e->num_ok && parse_i64(v, &num) && num > e->num;
	case SCHED_OP_LT:
		return v && e->num_ok && parse_i64(v, &num) && num < e->num;
	}
	return false;
}

bool sched_node_term_match(const struct sched_node_term *t, const struct sched_node *n)
{
	/* an empty term matches no node */
	if (!t->n)
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (!expr_match(&t->exprs[i], n))
			return false;
	return true;
}

bool sched_node_affinity_match(const struct sched_pod *p, const struct sched_node *n)
{
	size_t i;

	for (i = 0; i < p->n_node_sel; i++)
		if (!expr_match(&p->node_sel[i], n))
			return false;
	if (!p->has_required)
		return true;
	for (i = 0; i < p->n_required; i++)
		if (sched_node_term_match(&p->required[i], n))
			return true;
	return false;
}

bool sched_term_match(const struct sched_term *term, const char *term_ns, const struct sched_pod *p)
{
	if (term->sel_none)
		return false;
	if (!term->all_ns) {
		if (term->namespaces[0] ? !in_values(term->namespaces, p->ns)
					: strcmp(term_ns, p->ns) != 0)
			return false;
	}
	return selector_match_labels(term->sel, p->labels);
}
