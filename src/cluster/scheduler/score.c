/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scores of upstream's default profile that depend on one pod and one node, and the
 * normalizations that bring every plugin's scores to 0..100 before they are weighted
 * (NodeResourcesFit 1, BalancedAllocation 1, TaintToleration 3, NodeAffinity 2,
 * InterPodAffinity 2, PodTopologySpread 2). Scores over the cluster are in cache.c.
 */
#include <math.h>
#include <stdint.h>

#include "cluster/scheduler/internal.h"

static int64_t least_requested(int64_t req, int64_t cap)
{
	if (req > cap)
		return 0;
	return (cap - req) * SCHED_MAX_NODE_SCORE / cap;
}

/* Scoring sees every container ask for at least upstream's default cpu and memory, so
 * that pods without requests do not all pile onto one node. */
int64_t sched_score_least_allocated(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t sum = 0, weights = 0;

	if (n->alloc.cpu > 0) {
		sum += least_requested(n->nz_cpu + p->nz_cpu, n->alloc.cpu);
		weights++;
	}
	if (n->alloc.mem > 0) {
		sum += least_requested(n->nz_mem + p->nz_mem, n->alloc.mem);
		weights++;
	}
	return weights ? sum / weights : 0;
}

int64_t sched_score_balanced(const struct sched_pod *p, const struct sched_node *n)
{
	double f[2], std = 0;
	size_t k = 0;

	if (n->alloc.cpu > 0)
		f[k++] = fmin(1.0, (double)(n->nz_cpu + p->nz_cpu) / (double)n->alloc.cpu);
	if (n->alloc.mem > 0)
		f[k++] = fmin(1.0, (double)(n->nz_mem + p->nz_mem) / (double)n->alloc.mem);
	if (k == 2)
		std = fabs((f[0] - f[1]) / 2);
	return (int64_t)((1 - std) * SCHED_MAX_NODE_SCORE);
}

int64_t sched_score_taints(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t count = 0;

	for (size_t i = 0; i < n->n_taints; i++) {
		const struct sched_taint *t = &n->taints[i];

		if (t->effect != SCHED_EFFECT_PREFER_NO_SCHEDULE)
			continue;
		/* tolerations for another effect do not count, and sched_tolerates() only
		 * accepts those with this effect or none */
		if (!sched_tolerates(p->tols, p->n_tols, t->key, t->value, t->effect))
			count++;
	}
	return count;
}

int64_t sched_score_node_affinity(const struct sched_pod *p, const struct sched_node *n)
{
	int64_t sum = 0;

	for (size_t i = 0; i < p->n_preferred; i++)
		if (p->preferred[i].weight && sched_node_term_match(&p->preferred[i], n))
			sum += p->preferred[i].weight;
	return sum;
}

void sched_normalize_default(int64_t *scores, size_t n, bool reverse)
{
	int64_t max = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (scores[i] > max)
			max = scores[i];
	if (!max) {
		for (i = 0; reverse && i < n; i++)
			scores[i] = SCHED_MAX_NODE_SCORE;
		return;
	}
	for (i = 0; i < n; i++) {
		int64_t s = SCHED_MAX_NODE_SCORE * scores[i] / max;

		scores[i] = reverse ? SCHED_MAX_NODE_SCORE - s : s;
	}
}

void sched_normalize_min_max(int64_t *scores, size_t n)
{
	int64_t min = INT64_MAX, max = INT64_MIN;
	size_t i;

	for (i = 0; i < n; i++) {
		if (scores[i] < min)
			min = scores[i];
		if (scores[i] > max)
			max = scores[i];
	}
	for (i = 0; i < n; i++) {
		double f = 0;

		if (max > min)
			f = SCHED_MAX_NODE_SCORE *
			    ((double)(scores[i] - min) / (double)(max - min));
		scores[i] = (int64_t)f;
	}
}

void sched_normalize_spread(int64_t *scores, const bool *ignored, size_t n)
{
	int64_t min = INT64_MAX, max = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (ignored && ignored[i])
			continue;
		if (scores[i] < min)
			min = scores[i];
		if (scores[i] > max)
			max = scores[i];
	}
	for (i = 0; i < n; i++) {
		if (ignored && ignored[i])
			scores[i] = 0;
		else if (!max)
			scores[i] = SCHED_MAX_NODE_SCORE;
		else
			scores[i] = SCHED_MAX_NODE_SCORE * (max + min - scores[i]) / max;
	}
}

double sched_spread_weight(size_t domains)
{
	return log((double)domains + 2);
}
