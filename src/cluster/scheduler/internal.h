/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler's insides, shared by its files and its unit test: pods and nodes parsed
 * once into compact structs, the cache that accounts bound and assumed pods per node, the
 * filters and scores of upstream's default profile as pure functions, and one scheduling
 * decision (sched_schedule) over the cache. Nothing here locks or talks to the API:
 * scheduler.c owns threads, queues and requests.
 */
#ifndef SKIFF_CLUSTER_SCHEDULER_INTERNAL_H
#define SKIFF_CLUSTER_SCHEDULER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HOSTNAME_KEY "kubernetes.io/hostname"

struct selector;

/* Hash maps: string keys (copied) and int32 keys. */

struct smap_ent {
	char *key; /* NULL: empty slot */
	uint64_t hash;
	union {
		int64_t i;
		void *p;
	} v;
};

struct smap {
	struct smap_ent *ents;
	size_t cap, n;
};

struct smap_ent *smap_find(const struct smap *m, const char *key);
/* Finds or inserts @key (value zeroed); the entry is valid until the next smap_add(). */
struct smap_ent *smap_add(struct smap *m, const char *key);
void smap_del(struct smap *m, const char *key);
int64_t smap_get_int(const struct smap *m, const char *key);
void smap_done(struct smap *m, void (*free_val)(void *));

struct imap {
	int32_t *keys; /* -1: empty */
	int32_t *vals;
	size_t cap, n;
};

int32_t imap_get(const struct imap *m, int32_t key);
/* Adds @delta to @key's value; a value reaching 0 removes the key. */
void imap_add(struct imap *m, int32_t key, int32_t delta);
void imap_done(struct imap *m);

/* Parsed objects. */

#define SCHED_MAX_NODE_SCORE 100
/* Requests assumed for scoring when a container asks for none (upstream's non-zero). */
#define SCHED_DEFAULT_MILLI_CPU 100
#define SCHED_DEFAULT_MEMORY    (200LL * 1024 * 1024)

enum sched_op {
	SCHED_OP_IN,
	SCHED_OP_NOT_IN,
	SCHED_OP_EXISTS,
	SCHED_OP_DOES_NOT_EXIST,
	SCHED_OP_GT,
	SCHED_OP_LT,
};

struct sched_expr {
	enum sched_op op;
	bool field; /* matchFields: the key is metadata.name */
	char *key;
	char **values; /* NULL-terminated */
	int64_t num;   /* Gt, Lt */
	bool num_ok;
};

/* A NodeSelectorTerm (its expressions ANDed); weight for preferred terms. */
struct sched_node_term {
	struct sched_expr *exprs;
	size_t n;
	int32_t weight;
};

enum sched_effect {
	SCHED_EFFECT_ANY, /* a toleration without effect */
	SCHED_EFFECT_NO_SCHEDULE,
	SCHED_EFFECT_PREFER_NO_SCHEDULE,
	SCHED_EFFECT_NO_EXECUTE,
	SCHED_EFFECT_OTHER,
};

struct sched_toleration {
	char *key, *value;
	bool exists;
	enum sched_effect effect;
};

struct sched_taint {
	char *key, *value;
	enum sched_effect effect;
};

struct sched_port {
	char *ip; /* "0.0.0.0" when unset */
	char proto[8];
	int32_t port;
	int32_t refs; /* node accounting: pods using it */
};

/* A pod (anti-)affinity term. */
struct sched_term {
	struct selector *sel;
	bool sel_none;     /* no labelSelector: matches no pod */
	char **namespaces; /* NULL-terminated; with !all_ns and none listed: the pod's own */
	bool all_ns;       /* namespaceSelector {} */
	char *topology_key;
	int32_t weight;
};

struct sched_terms {
	struct sched_term *v;
	size_t n;
};

struct sched_spread {
	int32_t max_skew, min_domains;
	char *key;
	bool hard; /* DoNotSchedule */
	bool honor_affinity, honor_taints;
	struct selector *sel;
	bool sel_none;
};

struct sched_scalar {
	char *name;
	int64_t v;
};

struct sched_res {
	int64_t cpu; /* millicores */
	int64_t mem, eph;
	struct sched_scalar *sc;
	size_t n_sc;
};

struct sched_pod {
	char *ns, *name, *uid;
	char *owner;     /* uid of the controller owner, NULL without one */
	char *node_name; /* spec.nodeName, NULL when unset */
	char *scheduler; /* spec.schedulerName, NULL when unset */
	json_t *labels;  /* a reference, NULL without labels */
	int32_t priority;
	bool preempt_never;
	bool terminating; /* deletionTimestamp set */
	bool terminal;    /* phase Succeeded or Failed */
	bool gated;       /* spec.schedulingGates not empty */

	struct sched_res req;
	int64_t nz_cpu, nz_mem;

	struct sched_port *ports;
	size_t n_ports;
	struct sched_toleration *tols;
	size_t n_tols;

	struct sched_expr *node_sel; /* spec.nodeSelector as In expressions */
	size_t n_node_sel;
	bool has_required;
	struct sched_node_term *required; /* ORed */
	size_t n_required;
	struct sched_node_term *preferred;
	size_t n_preferred;

	struct sched_terms aff, anti, aff_pref, anti_pref;
	struct sched_spread *spread;
	size_t n_spread;

	/* cache bookkeeping */
	int node;      /* accounted on this node index, -1: not accounted */
	size_t ns_pos; /* position in its namespace's list */
	size_t aff_pos;
};

struct sched_node {
	char *name;
	json_t *labels;    /* a reference, NULL without labels */
	char *zone;        /* topology.kubernetes.io/zone, NULL without */
	bool has_hostname; /* labelled kubernetes.io/hostname (looked up once: per pod it is
			    * a cache miss on each of hundreds of nodes) */
	bool present;      /* false: a placeholder for pods bound to an unknown node */
	bool unschedulable;
	struct sched_res alloc;
	int64_t alloc_pods;
	struct sched_taint *taints;
	size_t n_taints;

	/* accounting of bound and assumed pods */
	struct sched_res used;
	int64_t nz_cpu, nz_mem;
	int64_t n_pods;
	struct sched_port *ports;
	size_t n_ports;
};

/* Parses a pod; never fails (malformed parts are ignored, as the API validated them). */
struct sched_pod *sched_pod_parse(const json_t *obj);
void sched_pod_free(struct sched_pod *p);
/* Whether the pod waits for this scheduler: no node, our schedulerName, still alive. */
bool sched_pod_pending(const struct sched_pod *p);
bool sched_pod_has_affinity(const struct sched_pod *p);

/* Parses a node (accounting fields zero). */
struct sched_node *sched_node_parse(const json_t *obj);
void sched_node_free(struct sched_node *n);
/* Frees what @n holds, not @n itself. */
void sched_node_done(struct sched_node *n);
/* Moves @from's spec (takes @from) into @to, keeping @to's accounting; true when the change
 * could make a pending pod fit. */
bool sched_node_take_spec(struct sched_node *to, struct sched_node *from);
/* Adds (@sign 1) or removes (-1) @p's requests to @n's. */
void sched_node_res_account(struct sched_node *n, const struct sched_pod *p, int sign);

const char *sched_label(const json_t *labels, const char *key);
bool sched_tolerates(const struct sched_toleration *t, size_t n, const char *key, const char *value,
		     enum sched_effect effect);
bool sched_node_term_match(const struct sched_node_term *t, const struct sched_node *n);
/* nodeSelector and required node affinity. */
bool sched_node_affinity_match(const struct sched_pod *p, const struct sched_node *n);
/* Whether @term (of a pod in @term_ns) selects @p. */
bool sched_term_match(const struct sched_term *term, const char *term_ns,
		      const struct sched_pod *p);
/* A resource of a list by name ("cpu" in millicores); 0 when absent. */
int64_t sched_res_get(const struct sched_res *r, const char *name);

/* Filters: return SCHED_OK or fill @st with upstream's reasons. */

enum sched_code {
	SCHED_OK = 0,
	SCHED_UNSCHEDULABLE = 1,
	SCHED_UNRESOLVABLE = 2, /* preemption would not help */
};

struct sched_status {
	enum sched_code code;
	unsigned n;
	const char *reasons[8];
	char buf[400];
};

#define SCHED_MSG_UNSCHEDULABLE   "node(s) were unschedulable"
#define SCHED_MSG_NODE_NAME       "node(s) didn't match the requested node name"
#define SCHED_MSG_NODE_AFFINITY   "node(s) didn't match Pod's node affinity/selector"
#define SCHED_MSG_PORTS           "node(s) didn't have free ports for the requested pod ports"
#define SCHED_MSG_AFFINITY        "node(s) didn't match pod affinity rules"
#define SCHED_MSG_ANTI_AFFINITY   "node(s) didn't match pod anti-affinity rules"
#define SCHED_MSG_EXISTING_ANTI   "node(s) didn't satisfy existing pods anti-affinity rules"
#define SCHED_MSG_SPREAD          "node(s) didn't match pod topology spread constraints"
#define SCHED_MSG_SPREAD_NO_LABEL SCHED_MSG_SPREAD " (missing required label)"
#define SCHED_MSG_NO_NODES        "no nodes available to schedule pods"

enum sched_code sched_filter_unschedulable(const struct sched_pod *p, const struct sched_node *n,
					   struct sched_status *st);
enum sched_code sched_filter_node_name(const struct sched_pod *p, const struct sched_node *n,
				       struct sched_status *st);
enum sched_code sched_filter_taints(const struct sched_pod *p, const struct sched_node *n,
				    struct sched_status *st);
enum sched_code sched_filter_node_affinity(const struct sched_pod *p, const struct sched_node *n,
					   struct sched_status *st);
enum sched_code sched_filter_ports(const struct sched_pod *p, const struct sched_node *n,
				   struct sched_status *st);
enum sched_code sched_filter_resources(const struct sched_pod *p, const struct sched_node *n,
				       struct sched_status *st);

/* InterPodAffinity: counts computed once per pod (PreFilter), then a check per node. */
struct sched_ipa {
	bool active;
	struct smap aff;      /* "key\x1fvalue" -> pods matching all required affinity terms */
	struct smap anti;     /* "key\x1fvalue" -> pods matching a required anti-affinity term */
	struct smap existing; /* domains where an existing pod's anti-affinity rejects the pod */
	char **existing_keys; /* the topology keys in @existing */
	size_t n_existing_keys;
	bool self_match; /* the pod matches all its own required affinity terms */
};

enum sched_code sched_filter_inter_pod_affinity(const struct sched_ipa *s,
						const struct sched_pod *p,
						const struct sched_node *n,
						struct sched_status *st);
void sched_ipa_done(struct sched_ipa *s);

/* PodTopologySpread: per constraint, matching pods per domain of the eligible nodes. */
struct sched_spread_counts {
	const struct sched_spread *c;
	struct smap counts; /* topology value -> matching pods */
	int64_t min;        /* global minimum, minDomains applied */
	bool self;          /* the pod matches the constraint's selector */
};

struct sched_spread_state {
	struct sched_spread_counts *v;
	size_t n;
};

enum sched_code sched_filter_spread(const struct sched_spread_state *s, const struct sched_node *n,
				    struct sched_status *st);
void sched_spread_state_done(struct sched_spread_state *s);

/* Why nodes failed: counts per reason, and how many nodes preemption could help. */
struct sched_diag {
	struct smap reasons;
	size_t n_failed, n_unresolvable;
	bool preempt_never;
};

void sched_diag_add(struct sched_diag *d, const struct sched_status *st);
void sched_diag_done(struct sched_diag *d);
/*
 * Upstream's FitError text: "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had
 * untolerated taint {k: v}. preemption: 0/5 nodes are available: 5 No preemption victims
 * found for incoming pod." (counts per reason sorted as strings, as upstream). Heap string.
 */
char *sched_fit_message(size_t n_nodes, const struct sched_diag *d);

/*
 * How many feasible nodes to look for among @n_nodes: upstream's percentageOfNodesToScore,
 * adaptive when @percentage is 0 (50% minus 1% per 125 nodes, at least 5%), never fewer
 * than 100 nodes.
 */
size_t sched_num_feasible_to_find(size_t n_nodes, int percentage);

/* Scores (before normalization) and normalizations. */

int64_t sched_score_least_allocated(const struct sched_pod *p, const struct sched_node *n);
int64_t sched_score_balanced(const struct sched_pod *p, const struct sched_node *n);
/* PreferNoSchedule taints the pod does not tolerate. */
int64_t sched_score_taints(const struct sched_pod *p, const struct sched_node *n);
/* Sum of the weights of matching preferred node affinity terms. */
int64_t sched_score_node_affinity(const struct sched_pod *p, const struct sched_node *n);

/* Scale to 0..100 by the maximum (reversed: fewer is better). */
void sched_normalize_default(int64_t *scores, size_t n, bool reverse);
/* Scale to 0..100 between minimum and maximum (InterPodAffinity). */
void sched_normalize_min_max(int64_t *scores, size_t n);
/* PodTopologySpread: fewer matching pods is better; @ignored nodes get 0. */
void sched_normalize_spread(int64_t *scores, const bool *ignored, size_t n);
/* PodTopologySpread's per-constraint weight for @domains topology domains. */
double sched_spread_weight(size_t domains);

/* The cache: nodes in an array, bound and assumed pods accounted per node. */

struct sched_plist {
	struct sched_pod **v;
	size_t n, cap;
};

/* The bound pods of one controller, for the default spreading of its pods. */
struct sched_owner {
	struct imap nodes; /* node index -> pods */
	size_t n;
};

struct sched_cache {
	/*
	 * Nodes by index. The structures lie in chunks of consecutive indices that never
	 * move: the filter loop walks indices in order, and nodes scattered over the heap
	 * made each one a cache miss (most of the loop's time at 5,000 nodes).
	 */
	struct sched_node **nodes;
	struct sched_node **chunks;
	size_t n_nodes, cap_nodes, n_present;
	struct smap node_idx; /* name -> index */
	struct smap ns_pods;  /* namespace -> struct sched_plist * */
	struct smap owners;   /* owner uid -> struct sched_owner * */
	struct sched_plist aff_pods;
	size_t next_start;
	uint64_t rng;
	/* upstream's percentageOfNodesToScore; 0: adaptive */
	int percentage;
};

struct sched_cache *sched_cache_new(uint64_t seed);
void sched_cache_free(struct sched_cache *c);
/*
 * Adds or replaces a node (takes @n), keeping the pods accounted on it; returns true when
 * a change could make a pending pod fit (new node, allocatable, labels, taints,
 * unschedulable).
 */
bool sched_cache_set_node(struct sched_cache *c, struct sched_node *n);
void sched_cache_remove_node(struct sched_cache *c, const char *name);
/* Accounts @p on @node_name (a placeholder node is made if unknown). */
void sched_cache_add_pod(struct sched_cache *c, struct sched_pod *p, const char *node_name);
void sched_cache_remove_pod(struct sched_cache *c, struct sched_pod *p);
const struct sched_node *sched_cache_node(const struct sched_cache *c, int idx);

struct sched_result {
	int node;      /* the chosen node index, -1 when none fits */
	char *message; /* the failure's text (heap), NULL on success */
	bool unresolvable_only;
	bool pod_sensitive; /* a failure that other pods' changes could lift */
	size_t evaluated, feasible;
};

/* upstream's pod backoff: 1 s after the first failed attempt, doubling up to 10 s */
#define SCHED_BACKOFF_INIT_MS 1000
#define SCHED_BACKOFF_MAX_MS  10000
int64_t sched_backoff_ms(int attempts);

/* One decision for @p; the caller assumes the pod on success. */
void sched_schedule(struct sched_cache *c, const struct sched_pod *p, struct sched_result *res);
void sched_result_done(struct sched_result *r);

#endif
