/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy's model and the nft transactions rendered from it, kernel-free so tests can
 * read them. The layout is upstream's nftables kube-proxy (pkg/proxy/nftables): verdict
 * maps keyed by address, protocol and port dispatch to per-service chains, which pick an
 * endpoint chain with numgen; services without endpoints are rejected from filter chains;
 * a mark asks the postrouting chain to masquerade. Per service the model remembers what
 * the kernel holds (chains, affinity sets, map elements), so a change rewrites only that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/proxy/internal.h"

#define MARK_MASQ_CHAIN "mark-for-masquerade"
#define REJECT_CHAIN    "reject-chain"
#define STALE_CHAIN_MS  1000
#define CHAIN_BASE_MAX  240 /* NFT_NAME_MAXLEN less room for the longest prefix */
#define TABLE_COMMENT   "rules for skiff's service proxy"

/* ------------------------------------------------------------------------------------------ */
/* Growing strings */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

static void sb_cat(struct sbuf *b, const struct sbuf *o)
{
	if (o->len)
		sb_add(b, "%s", o->s);
}

/* ------------------------------------------------------------------------------------------ */
/* What the kernel holds for one service */

struct sp_elem {
	char *set;     /* set or map */
	char *key;     /* "10.43.0.5 . tcp . 80" */
	char *value;   /* "goto service-...", "drop"; NULL in sets */
	char *comment; /* NULL or "ns/name:port" */
};

struct sp_aset {
	char *name;
	uint32_t timeout;
};

struct sp_applied {
	char **chains;
	size_t n_chains;
	struct sp_aset *sets;
	size_t n_sets;
	struct sp_elem *elems;
	size_t n_elems;
	char *rules; /* the chains' rules as rendered, to skip rewriting identical ones */
	struct svcproxy_stats counts;
};

static void applied_free(struct sp_applied *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_chains; i++)
		free(a->chains[i]);
	for (size_t i = 0; i < a->n_sets; i++)
		free(a->sets[i].name);
	for (size_t i = 0; i < a->n_elems; i++) {
		free(a->elems[i].set);
		free(a->elems[i].key);
		free(a->elems[i].value);
		free(a->elems[i].comment);
	}
	free(a->chains);
	free(a->sets);
	free(a->elems);
	free(a->rules);
	free(a);
}

static bool has_chain(const struct sp_applied *a, const char *name)
{
	for (size_t i = 0; a && i < a->n_chains; i++)
		if (!strcmp(a->chains[i], name))
			return true;
	return false;
}

static const struct sp_aset *find_set(const struct sp_applied *a, const char *name)
{
	for (size_t i = 0; a && i < a->n_sets; i++)
		if (!strcmp(a->sets[i].name, name))
			return &a->sets[i];
	return NULL;
}

static const struct sp_elem *find_elem(const struct sp_applied *a, const char *set, const char *key)
{
	for (size_t i = 0; a && i < a->n_elems; i++)
		if (!strcmp(a->elems[i].set, set) && !strcmp(a->elems[i].key, key))
			return &a->elems[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* ------------------------------------------------------------------------------------------ */
/* The model */

struct sp_stale {
	char *name;
	int64_t since;
};

struct sp_model {
	struct sp_map services; /* key -> sp_service */
	struct sp_map slices;   /* slice key -> sp_slice */
	struct sp_map applied;  /* service key -> sp_applied: what the kernel holds */
	struct sp_map dirty;    /* service keys to render again */
	struct sp_stale *stale; /* flushed chains waiting to be deleted */
	size_t n_stale;

	/* the transaction rendered last, until sp_model_commit() */
	struct sp_map pending;   /* service key -> sp_applied (empty: deleted) */
	struct sp_map tx_chains; /* chain names the transaction defines */
	char **tx_stale;         /* chains it flushes and leaves */
	size_t n_tx_stale;
	bool tx_full;
	bool tx_open;
};

struct sp_model *sp_model_new(void)
{
	return xcalloc(1, sizeof(struct sp_model));
}

static void free_service_cb(void *arg, const char *key, void *v)
{
	(void)arg;
	(void)key;
	sp_service_free(v);
}

static void free_slice_cb(void *arg, const char *key, void *v)
{
	(void)arg;
	(void)key;
	sp_slice_free(v);
}

static void free_applied_cb(void *arg, const char *key, void *v)
{
	(void)arg;
	(void)key;
	applied_free(v);
}

static void tx_reset(struct sp_model *m)
{
	sp_map_foreach(&m->pending, free_applied_cb, NULL);
	sp_map_done(&m->pending);
	sp_map_done(&m->tx_chains);
	for (size_t i = 0; i < m->n_tx_stale; i++)
		free(m->tx_stale[i]);
	free(m->tx_stale);
	m->tx_stale = NULL;
	m->n_tx_stale = 0;
	m->tx_full = false;
	m->tx_open = false;
}

void sp_model_free(struct sp_model *m)
{
	if (!m)
		return;
	tx_reset(m);
	sp_map_foreach(&m->services, free_service_cb, NULL);
	sp_map_foreach(&m->slices, free_slice_cb, NULL);
	sp_map_foreach(&m->applied, free_applied_cb, NULL);
	sp_map_done(&m->services);
	sp_map_done(&m->slices);
	sp_map_done(&m->applied);
	sp_map_done(&m->dirty);
	for (size_t i = 0; i < m->n_stale; i++)
		free(m->stale[i].name);
	free(m->stale);
	free(m);
}

void sp_model_touch(struct sp_model *m, const char *key)
{
	sp_map_put(&m->dirty, key, (void *)1);
}

bool sp_model_dirty(const struct sp_model *m)
{
	return m->dirty.n > 0;
}

int64_t sp_model_stale_due_ms(const struct sp_model *m, int64_t now_ms)
{
	int64_t due = -1;

	for (size_t i = 0; i < m->n_stale; i++) {
		int64_t left = m->stale[i].since + STALE_CHAIN_MS - now_ms;

		if (left < 0)
			left = 0;
		if (due < 0 || left < due)
			due = left;
	}
	return due;
}

void sp_model_set_service(struct sp_model *m, const char *key, struct sp_service *svc)
{
	struct sp_service *old;

	old = svc ? sp_map_put(&m->services, key, svc) : sp_map_del(&m->services, key);
	sp_service_free(old);
	sp_model_touch(m, key);
}

void sp_model_set_slice(struct sp_model *m, const char *key, struct sp_slice *slice)
{
	struct sp_slice *old;

	old = slice ? sp_map_put(&m->slices, key, slice) : sp_map_del(&m->slices, key);
	if (old)
		sp_model_touch(m, old->service);
	if (slice)
		sp_model_touch(m, slice->service);
	sp_slice_free(old);
}

static void count_cb(void *arg, const char *key, void *v)
{
	struct svcproxy_stats *s = arg;
	const struct sp_applied *a = v;

	(void)key;
	s->service_ports += a->counts.service_ports;
	s->endpoints += a->counts.endpoints;
	s->no_endpoints += a->counts.no_endpoints;
	s->no_local_internal += a->counts.no_local_internal;
	s->no_local_external += a->counts.no_local_external;
}

void sp_model_counts(const struct sp_model *m, struct svcproxy_stats *ret)
{
	ret->service_ports = ret->endpoints = ret->no_endpoints = 0;
	ret->no_local_internal = ret->no_local_external = 0;
	sp_map_foreach(&m->applied, count_cb, ret);
}

/* ------------------------------------------------------------------------------------------ */
/* Names */

/* Upstream's: the first 8 base32 characters of the name's sha256, then the name. */
static char *hashed(const char *name)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256_ctx ctx;
	char h[9];
	char *r;

	sha256_init(&ctx);
	sha256_update(&ctx, strlen(name), (const uint8_t *)name);
	sha256_digest(&ctx, sizeof(d), d);
	/* 40 bits = 8 characters of 5 bits */
	for (int i = 0; i < 8; i++) {
		unsigned bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (d[byte] << 8 | d[byte + 1]) >> (11 - shift);

		h[i] = b32[v & 31];
	}
	h[8] = 0;
	r = xasprintf("%s-%s", h, name);
	if (strlen(r) > CHAIN_BASE_MAX)
		strcpy(r + CHAIN_BASE_MAX - 3, "...");
	return r;
}

char *sp_chain_base(const char *svc_key, const char *proto, const char *port_name,
		    const char *ep_ip, uint16_t ep_port)
{
	char *name, *r;

	if (ep_ip)
		name = xasprintf("%s/%s/%s__%s/%u", svc_key, proto, port_name, ep_ip, ep_port);
	else
		name = xasprintf("%s/%s/%s", svc_key, proto, port_name);
	r = hashed(name);
	free(name);
	return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration */

static int cidr_norm(const char *what, const char *cidr, char *ret, size_t size, struct err *err)
{
	char addr[INET_ADDRSTRLEN];
	unsigned prefix;
	struct in_addr a;
	int n = -1;

	if (!cidr || sscanf(cidr, "%15[0-9.]/%u%n", addr, &prefix, &n) != 2 ||
	    n != (int)strlen(cidr) || prefix > 32 || inet_pton(AF_INET, addr, &a) != 1)
		return err_set(err, EINVAL, "service proxy: %s '%s' is not an IPv4 CIDR", what,
			       cidr ? cidr : "");
	/* nft refuses a prefix with host bits set */
	if (prefix < 32)
		a.s_addr &= htonl(prefix ? ~((1u << (32 - prefix)) - 1) : 0);
	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	snprintf(ret, size, "%s/%u", addr, prefix);
	return 0;
}

int sp_rules_config_init(const struct svcproxy_config *cfg, struct sp_rules_config *ret,
			 struct err *err)
{
	const char *table = cfg->table ? cfg->table : SVCPROXY_TABLE;
	unsigned bit = cfg->masquerade_bit ? cfg->masquerade_bit : 14;

	if (!*table || strlen(table) > 64 ||
	    !((table[0] >= 'a' && table[0] <= 'z') || (table[0] >= 'A' && table[0] <= 'Z')))
		return err_set(err, EINVAL, "service proxy: table name '%s' is not valid", table);
	for (const char *p = table; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return err_set(err, EINVAL, "service proxy: table name '%s' is not valid",
				       table);
	if (bit > 31)
		return err_set(err, EINVAL, "service proxy: masquerade bit %u is not from 0 to 31",
			       bit);
	if (cidr_norm("cluster CIDR", cfg->cluster_cidr, ret->cluster_cidr,
		      sizeof(ret->cluster_cidr), err) < 0 ||
	    cidr_norm("service CIDR", cfg->service_cidr, ret->service_cidr,
		      sizeof(ret->service_cidr), err) < 0)
		return -EINVAL;
	ret->table = table;
	ret->masq_mark = 1u << bit;
	ret->localhost_nodeports = !cfg->no_localhost_nodeports;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering one service */

/* The parts of a transaction, concatenated in this order so references always resolve. */
struct tx {
	const struct sp_rules_config *cfg;
	struct sbuf pre;    /* flushes, element and stale chain deletions */
	struct sbuf unsets; /* affinity sets deleted (after the flushes that free them) */
	struct sbuf sets;   /* affinity sets added */
	struct sbuf chains; /* chains added */
	struct sbuf rules;  /* rules, per service */
	struct sbuf elems;  /* elements added */
};

/* One endpoint of a service port, merged from its slices. */
struct ep {
	char ip[INET_ADDRSTRLEN];
	uint16_t port;
	bool ready, serving, terminating, local;
	bool cluster, in_local; /* in the cluster / local policy's set */
	char *chain, *set;
};

struct gather {
	struct ep *eps;
	size_t n;
	const struct sp_port *sp;
	const char *key;
};

static void gather_slice(void *arg, const char *key, void *v)
{
	struct gather *g = arg;
	const struct sp_slice *s = v;
	const struct sp_port *port = NULL;

	(void)key;
	if (strcmp(s->service, g->key))
		return;
	for (size_t i = 0; i < s->n_ports && !port; i++)
		if (!strcmp(s->ports[i].name, g->sp->name) &&
		    !strcmp(s->ports[i].proto, g->sp->proto) && s->ports[i].port)
			port = &s->ports[i];
	if (!port)
		return;
	g->eps = xrealloc(g->eps, (g->n + s->n_eps + 1) * sizeof(*g->eps));
	for (size_t i = 0; i < s->n_eps; i++) {
		const struct sp_endpoint *e = &s->eps[i];
		bool dup = false;

		/* the same address may sit in two slices while one is being rewritten */
		for (size_t j = 0; j < g->n && !dup; j++)
			dup = !strcmp(g->eps[j].ip, e->ip) && g->eps[j].port == port->port;
		if (dup)
			continue;
		g->eps[g->n] = (struct ep){.port = port->port,
					   .ready = e->ready,
					   .serving = e->serving,
					   .terminating = e->terminating,
					   .local = e->local};
		memcpy(g->eps[g->n].ip, e->ip, sizeof(e->ip));
		g->n++;
	}
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	struct in_addr ax, ay;

	inet_pton(AF_INET, x->ip, &ax);
	inet_pton(AF_INET, y->ip, &ay);
	if (ax.s_addr != ay.s_addr)
		return ntohl(ax.s_addr) < ntohl(ay.s_addr) ? -1 : 1;
	return (int)x->port - (int)y->port;
}

/* What upstream's CategorizeEndpoints decides, without topology hints. */
struct policy {
	bool ext;          /* reachable from outside: a NodePort */
	bool etp_local;    /* external traffic only to local endpoints */
	bool uses_cluster; /* some traffic goes to any node's endpoints */
	bool uses_local;   /* some traffic goes to this node's endpoints only */
	size_t n_cluster, n_local;
	bool has_any; /* usable endpoints anywhere */
};

static void categorize(const struct sp_service *s, const struct sp_port *sp, struct ep *eps,
		       size_t n, struct policy *p)
{
	bool local_ready = false, local_st = false, any_ready = false;

	p->ext = sp->node_port != 0;
	p->etp_local = s->etp_local && p->ext;
	p->uses_cluster = !s->itp_local || p->ext;
	p->uses_local = s->itp_local || p->etp_local;
	for (size_t i = 0; i < n; i++)
		any_ready |= eps[i].ready;
	/* with no ready endpoint, serving terminating ones take over (KEP-1669) */
	for (size_t i = 0; p->uses_cluster && i < n; i++) {
		eps[i].cluster = any_ready ? eps[i].ready : eps[i].serving && eps[i].terminating;
		p->n_cluster += eps[i].cluster;
	}
	p->has_any = p->n_cluster > 0;
	if (!p->uses_local)
		return;
	for (size_t i = 0; i < n; i++) {
		if (eps[i].ready) {
			p->has_any = true;
			local_ready |= eps[i].local;
		} else if (eps[i].serving && eps[i].terminating) {
			p->has_any = true;
			local_st |= eps[i].local;
		}
	}
	for (size_t i = 0; i < n; i++) {
		eps[i].in_local = eps[i].local && (local_ready ? eps[i].ready
						   : local_st ? eps[i].serving && eps[i].terminating
							      : false);
		p->n_local += eps[i].in_local;
	}
}

/* Everything rendered for one service. */
struct svc_render {
	struct tx *tx;
	struct sp_model *m;
	const struct sp_service *s;
	const struct sp_applied *old;
	struct sp_applied *new;
	struct sbuf rules;
};

static void add_chain(struct svc_render *r, const char *name)
{
	struct sp_applied *a = r->new;

	if (has_chain(a, name))
		return;
	a->chains = xrealloc(a->chains, (a->n_chains + 1) * sizeof(*a->chains));
	a->chains[a->n_chains++] = xstrdup(name);
	sp_map_put(&r->m->tx_chains, name, (void *)1);
}

static void __attribute__((format(printf, 3, 4)))
add_rule(struct svc_render *r, const char *chain, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	sb_add(&r->rules, "add rule ip %s %s %s\n", r->tx->cfg->table, chain, text);
	free(text);
}

static void add_elem(struct svc_render *r, const char *set, const char *key, const char *value,
		     const char *comment)
{
	struct sp_applied *a = r->new;

	if (find_elem(a, set, key))
		return;
	a->elems = xrealloc(a->elems, (a->n_elems + 1) * sizeof(*a->elems));
	a->elems[a->n_elems++] =
		(struct sp_elem){xstrdup(set), xstrdup(key), value ? xstrdup(value) : NULL,
				 comment ? xstrdup(comment) : NULL};
}

static void add_set(struct svc_render *r, const char *name, uint32_t timeout)
{
	struct sp_applied *a = r->new;

	if (find_set(a, name))
		return;
	a->sets = xrealloc(a->sets, (a->n_sets + 1) * sizeof(*a->sets));
	a->sets[a->n_sets++] = (struct sp_aset){xstrdup(name), timeout};
}

/* Rules of a policy chain: affinity first, then a random pick among @eps marked in @which. */
static void policy_chain(struct svc_render *r, const char *chain, struct ep *eps, size_t n,
			 bool local)
{
	struct sbuf vmap = {0};
	size_t k = 0;

	add_chain(r, chain);
	for (size_t i = 0; r->s->affinity_timeout && i < n; i++)
		if (local ? eps[i].in_local : eps[i].cluster)
			add_rule(r, chain, "ip saddr @%s goto %s", eps[i].set, eps[i].chain);
	for (size_t i = 0; i < n; i++)
		if (local ? eps[i].in_local : eps[i].cluster) {
			sb_add(&vmap, "%s%zu : goto %s", k ? " , " : "", k, eps[i].chain);
			k++;
		}
	add_rule(r, chain, "numgen random mod %zu vmap { %s }", k, vmap.s);
	free(vmap.s);
}

static void render_port(struct svc_render *r, const struct sp_port *sp)
{
	const struct sp_service *s = r->s;
	const struct sp_rules_config *cfg = r->tx->cfg;
	struct gather g = {.sp = sp, .key = s->key};
	char *base, *svc_chain, *local_chain, *ext_chain, *name, *key, *np_key, *verdict;
	const char *int_chain, *ext_policy;
	bool has_int, has_ext;
	struct policy p = {0};

	sp_map_foreach(&r->m->slices, gather_slice, &g);
	if (g.n)
		qsort(g.eps, g.n, sizeof(*g.eps), ep_cmp);
	categorize(s, sp, g.eps, g.n, &p);

	base = sp_chain_base(s->key, sp->proto, sp->name, NULL, 0);
	svc_chain = xasprintf("service-%s", base);
	local_chain = xasprintf("local-%s", base);
	ext_chain = xasprintf("external-%s", base);
	name = *sp->name ? xasprintf("%s:%s", s->key, sp->name) : xstrdup(s->key);
	key = xasprintf("%s . %s . %u", s->cluster_ip, sp->proto, sp->port);
	np_key = xasprintf("%s . %u", sp->proto, sp->node_port);

	int_chain = s->itp_local ? local_chain : svc_chain;
	has_int = p.has_any && (!s->itp_local || p.n_local > 0);
	ext_policy = p.etp_local ? local_chain : svc_chain;
	has_ext = p.has_any && (!p.etp_local || p.n_local > 0);
	r->new->counts.service_ports++;
	r->new->counts.no_endpoints += !p.has_any;
	r->new->counts.no_local_internal += p.has_any && !has_int;
	r->new->counts.no_local_external += p.has_any &&p.ext && !has_ext;

	/* the verdict maps: dispatch, or drop/reject in the filter chains */
	add_elem(r, "cluster-ips", s->cluster_ip, NULL, NULL);
	verdict = p.has_any ? "drop" : "goto " REJECT_CHAIN;
	if (has_int) {
		char *v = xasprintf("goto %s", int_chain);

		add_elem(r, "service-ips", key, v, NULL);
		free(v);
	} else {
		add_elem(r, "no-endpoint-services", key, verdict, name);
	}
	if (p.ext && p.has_any) {
		char *v = xasprintf("goto %s", ext_chain);

		add_elem(r, "service-nodeports", np_key, v, NULL);
		free(v);
	}
	if (p.ext && !has_ext)
		add_elem(r, "no-endpoint-nodeports", np_key, verdict, name);

	/* endpoint chains and affinity sets */
	for (size_t i = 0; i < g.n; i++) {
		struct ep *e = &g.eps[i];
		char *eb;

		if (!e->cluster && !e->in_local)
			continue;
		eb = sp_chain_base(s->key, sp->proto, sp->name, e->ip, e->port);
		e->chain = xasprintf("endpoint-%s", eb);
		e->set = xasprintf("affinity-%s", eb);
		free(eb);
		r->new->counts.endpoints++;
		add_chain(r, e->chain);
		/* hairpin: an endpoint reaching itself through the service */
		add_rule(r, e->chain, "ip saddr %s jump " MARK_MASQ_CHAIN, e->ip);
		if (s->affinity_timeout) {
			add_set(r, e->set, s->affinity_timeout);
			add_rule(r, e->chain, "update @%s { ip saddr }", e->set);
		}
		add_rule(r, e->chain, "meta l4proto %s dnat to %s:%u", sp->proto, e->ip, e->port);
	}

	/*
	 * Policy chains. Traffic from outside the pod network to a ClusterIP is masqueraded:
	 * that rule comes first, before the pick that ends the chain.
	 */
	if (has_int) {
		add_chain(r, int_chain);
		add_rule(r, int_chain,
			 "ip daddr %s %s dport %u ip saddr != %s jump " MARK_MASQ_CHAIN,
			 s->cluster_ip, sp->proto, sp->port, cfg->cluster_cidr);
	}
	if (p.n_cluster && p.uses_cluster)
		policy_chain(r, svc_chain, g.eps, g.n, false);
	if (p.n_local && p.uses_local)
		policy_chain(r, local_chain, g.eps, g.n, true);

	/* NodePort traffic */
	if (p.ext && p.has_any) {
		add_chain(r, ext_chain);
		if (!p.etp_local) {
			add_rule(r, ext_chain, "jump " MARK_MASQ_CHAIN);
		} else {
			add_rule(r, ext_chain,
				 "ip saddr %s goto %s comment \"short-circuit pod traffic\"",
				 cfg->cluster_cidr, svc_chain);
			add_rule(r, ext_chain,
				 "fib saddr type local jump " MARK_MASQ_CHAIN
				 " comment \"masquerade local traffic\"");
			add_rule(r, ext_chain,
				 "fib saddr type local goto %s comment \"short-circuit local "
				 "traffic\"",
				 svc_chain);
		}
		if (has_ext)
			add_rule(r, ext_chain, "goto %s", ext_policy);
	}

	for (size_t i = 0; i < g.n; i++) {
		free(g.eps[i].chain);
		free(g.eps[i].set);
	}
	free(g.eps);
	free(base);
	free(svc_chain);
	free(local_chain);
	free(ext_chain);
	free(name);
	free(key);
	free(np_key);
}

static void print_elem(struct sbuf *b, const char *verb, const char *table, const struct sp_elem *e,
		       bool with_value)
{
	sb_add(b, "%s element ip %s %s { %s", verb, table, e->set, e->key);
	if (with_value && e->comment)
		sb_add(b, " comment \"%s\"", e->comment);
	if (with_value && e->value)
		sb_add(b, " : %s", e->value);
	sb_add(b, " }\n");
}

static void add_stale(struct sp_model *m, const char *chain)
{
	m->tx_stale = xrealloc(m->tx_stale, (m->n_tx_stale + 1) * sizeof(*m->tx_stale));
	m->tx_stale[m->n_tx_stale++] = xstrdup(chain);
}

/* Renders service @key against what the kernel holds for it (@old, NULL: nothing). */
static void render_service(struct sp_model *m, struct tx *tx, const char *key,
			   const struct sp_applied *old)
{
	const char *t = tx->cfg->table;
	struct svc_render r = {.tx = tx, .m = m, .old = old};
	bool same;

	r.s = sp_map_get(&m->services, key);
	r.new = xcalloc(1, sizeof(*r.new));
	for (size_t i = 0; r.s && i < r.s->n_ports; i++)
		render_port(&r, &r.s->ports[i]);
	r.new->rules = r.rules.s ? r.rules.s : xstrdup("");

	/* identical chains are left alone; otherwise flushed and filled again */
	same = old && !strcmp(old->rules, r.new->rules);
	for (size_t i = 0; old && i < old->n_sets && same; i++) {
		const struct sp_aset *n = find_set(r.new, old->sets[i].name);

		same = n && n->timeout == old->sets[i].timeout;
	}
	same = same && (!old || old->n_sets == r.new->n_sets);
	for (size_t i = 0; old && !same && i < old->n_chains; i++) {
		sb_add(&tx->pre, "flush chain ip %s %s\n", t, old->chains[i]);
		if (!has_chain(r.new, old->chains[i]))
			add_stale(m, old->chains[i]);
	}
	for (size_t i = 0; old && !same && i < old->n_sets; i++) {
		const struct sp_aset *n = find_set(r.new, old->sets[i].name);

		if (!n || n->timeout != old->sets[i].timeout)
			sb_add(&tx->unsets, "delete set ip %s %s\n", t, old->sets[i].name);
	}
	for (size_t i = 0; !same && i < r.new->n_sets; i++) {
		const struct sp_aset *o = find_set(old, r.new->sets[i].name);

		if (!o || o->timeout != r.new->sets[i].timeout)
			sb_add(&tx->sets,
			       "add set ip %s %s { type ipv4_addr ; flags dynamic,timeout ; "
			       "timeout %us ; }\n",
			       t, r.new->sets[i].name, r.new->sets[i].timeout);
	}
	for (size_t i = 0; !same && i < r.new->n_chains; i++)
		if (!has_chain(old, r.new->chains[i]))
			sb_add(&tx->chains, "add chain ip %s %s\n", t, r.new->chains[i]);
	if (!same)
		sb_add(&tx->rules, "%s", r.new->rules);

	/* map elements: delete what went or changed, add what is new or changed */
	for (size_t i = 0; old && i < old->n_elems; i++) {
		const struct sp_elem *o = &old->elems[i], *n = find_elem(r.new, o->set, o->key);

		if (!n || !str_eq(n->value, o->value) || !str_eq(n->comment, o->comment))
			print_elem(&tx->pre, "delete", t, o, false);
	}
	for (size_t i = 0; i < r.new->n_elems; i++) {
		const struct sp_elem *n = &r.new->elems[i], *o = find_elem(old, n->set, n->key);

		if (!o || !str_eq(n->value, o->value) || !str_eq(n->comment, o->comment))
			print_elem(&tx->elems, "add", t, n, true);
	}
	applied_free(sp_map_put(&m->pending, key, r.new));
}

/* ------------------------------------------------------------------------------------------ */
/* Transactions */

static void tx_done(struct tx *tx)
{
	free(tx->pre.s);
	free(tx->unsets.s);
	free(tx->sets.s);
	free(tx->chains.s);
	free(tx->rules.s);
	free(tx->elems.s);
}

static char *tx_text(struct tx *tx, struct sbuf *head)
{
	sb_cat(head, &tx->pre);
	sb_cat(head, &tx->unsets);
	sb_cat(head, &tx->sets);
	sb_cat(head, &tx->chains);
	sb_cat(head, &tx->rules);
	sb_cat(head, &tx->elems);
	tx_done(tx);
	return head->s ? head->s : xstrdup("");
}

/*
 * The fixed part, upstream's layout: filter chains before DNAT (dstnat - 10 = -110) see
 * service addresses and reject or drop for want of endpoints; nat chains dispatch; the
 * postrouting chain masquerades what was marked.
 */
static void render_base(struct sbuf *b, const struct sp_rules_config *cfg)
{
	const char *t = cfg->table;
	static const char *const base_chains[][2] = {
		{"filter-prerouting", "type filter hook prerouting priority -110"},
		{"filter-input", "type filter hook input priority -110"},
		{"filter-forward", "type filter hook forward priority -110"},
		{"filter-output", "type filter hook output priority -110"},
		{"filter-output-post-dnat", "type filter hook output priority -90"},
		{"nat-prerouting", "type nat hook prerouting priority -100"},
		{"nat-output", "type nat hook output priority -100"},
		{"nat-postrouting", "type nat hook postrouting priority 100"},
	};
	static const char *const chains[] = {
		"services",
		"masquerading",
		MARK_MASQ_CHAIN,
		"cluster-ips-check",
		REJECT_CHAIN,
		"service-endpoints-check",
		"nodeport-endpoints-check",
	};
	static const char *const maps[][3] = {
		{"no-endpoint-services", "ipv4_addr . inet_proto . inet_service : verdict",
		 "vmap to drop or reject packets to services with no endpoints"},
		{"no-endpoint-nodeports", "inet_proto . inet_service : verdict",
		 "vmap to drop or reject packets to service nodeports with no endpoints"},
		{"service-ips", "ipv4_addr . inet_proto . inet_service : verdict",
		 "ClusterIP traffic"},
		{"service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"},
	};
	/* the 127.0.0.0/8 test keeps NodePorts off loopback unless route_localnet is on */
	const char *lo = cfg->localhost_nodeports ? "" : "ip daddr != 127.0.0.0/8 ";

	sb_add(b,
	       "add set ip %s cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n",
	       t);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		sb_add(b, "add map ip %s %s { type %s ; comment \"%s\" ; }\n", t, maps[i][0],
		       maps[i][1], maps[i][2]);
	for (size_t i = 0; i < sizeof(base_chains) / sizeof(base_chains[0]); i++)
		sb_add(b, "add chain ip %s %s { %s ; }\n", t, base_chains[i][0], base_chains[i][1]);
	for (size_t i = 0; i < sizeof(chains) / sizeof(chains[0]); i++)
		sb_add(b, "add chain ip %s %s\n", t, chains[i]);

	sb_add(b, "add rule ip %s filter-input ct state new jump nodeport-endpoints-check\n", t);
	sb_add(b, "add rule ip %s filter-input ct state new jump service-endpoints-check\n", t);
	sb_add(b, "add rule ip %s filter-forward ct state new jump service-endpoints-check\n", t);
	sb_add(b, "add rule ip %s filter-forward ct state new jump cluster-ips-check\n", t);
	sb_add(b, "add rule ip %s filter-output ct state new jump service-endpoints-check\n", t);
	sb_add(b, "add rule ip %s filter-output-post-dnat ct state new jump cluster-ips-check\n",
	       t);
	if (cfg->localhost_nodeports)
		sb_add(b,
		       "add rule ip %s filter-prerouting iifname != \"lo\" ip daddr 127.0.0.0/8 "
		       "drop comment \"route_localnet is on for NodePorts only\"\n",
		       t);
	sb_add(b, "add rule ip %s nat-prerouting jump services\n", t);
	sb_add(b, "add rule ip %s nat-output jump services\n", t);
	sb_add(b, "add rule ip %s nat-postrouting jump masquerading\n", t);
	sb_add(b, "add rule ip %s " MARK_MASQ_CHAIN " mark set mark or 0x%x\n", t, cfg->masq_mark);
	sb_add(b, "add rule ip %s masquerading mark and 0x%x == 0 return\n", t, cfg->masq_mark);
	sb_add(b, "add rule ip %s masquerading mark set mark xor 0x%x\n", t, cfg->masq_mark);
	sb_add(b, "add rule ip %s masquerading masquerade fully-random\n", t);
	sb_add(b,
	       "add rule ip %s cluster-ips-check ip daddr @cluster-ips reject comment \"Reject "
	       "traffic to invalid ports of ClusterIPs\"\n",
	       t);
	sb_add(b,
	       "add rule ip %s cluster-ips-check ip daddr { %s } drop comment \"Drop traffic to "
	       "unallocated ClusterIPs\"\n",
	       t, cfg->service_cidr);
	/* TCP gets a reset rather than ICMP, so connect() fails at once with ECONNREFUSED */
	sb_add(b,
	       "add rule ip %s " REJECT_CHAIN " meta l4proto tcp counter reject with tcp reset\n",
	       t);
	sb_add(b, "add rule ip %s " REJECT_CHAIN " counter reject\n", t);
	sb_add(b,
	       "add rule ip %s service-endpoints-check ip daddr . meta l4proto . th dport vmap "
	       "@no-endpoint-services\n",
	       t);
	sb_add(b,
	       "add rule ip %s nodeport-endpoints-check %sfib daddr type local meta l4proto . "
	       "th dport vmap @no-endpoint-nodeports\n",
	       t, lo);
	sb_add(b, "add rule ip %s services ip daddr . meta l4proto . th dport vmap @service-ips\n",
	       t);
	sb_add(b,
	       "add rule ip %s services fib daddr type local %smeta l4proto . th dport vmap "
	       "@service-nodeports\n",
	       t, lo);
}

static void render_all_cb(void *arg, const char *key, void *v)
{
	void **a = arg;

	(void)v;
	render_service(a[0], a[1], key, NULL);
}

char *sp_render_full(struct sp_model *m, const struct sp_rules_config *cfg)
{
	struct tx tx = {.cfg = cfg};
	struct sbuf head = {0};
	void *args[2] = {m, &tx};

	tx_reset(m);
	m->tx_open = true;
	m->tx_full = true;
	/* "add" first so the "delete" cannot fail: the table goes and comes back atomically */
	sb_add(&head, "add table ip %s { comment \"" TABLE_COMMENT "\" ; }\n", cfg->table);
	sb_add(&head, "delete table ip %s\n", cfg->table);
	sb_add(&head, "add table ip %s { comment \"" TABLE_COMMENT "\" ; }\n", cfg->table);
	render_base(&head, cfg);
	sp_map_foreach(&m->services, render_all_cb, args);
	sp_map_done(&m->dirty);
	return tx_text(&tx, &head);
}

static void render_dirty_cb(void *arg, const char *key, void *v)
{
	void **a = arg;
	struct sp_model *m = a[0];

	(void)v;
	render_service(m, a[1], key, sp_map_get(&m->applied, key));
}

char *sp_render_changes(struct sp_model *m, const struct sp_rules_config *cfg, int64_t now_ms)
{
	struct tx tx = {.cfg = cfg};
	struct sbuf head = {0};
	void *args[2] = {m, &tx};
	bool stale_due = false;
	char *text;

	for (size_t i = 0; i < m->n_stale; i++)
		stale_due |= m->stale[i].since + STALE_CHAIN_MS <= now_ms;
	if (!m->dirty.n && !stale_due)
		return NULL;
	tx_reset(m);
	m->tx_open = true;
	sp_map_foreach(&m->dirty, render_dirty_cb, args);
	sp_map_done(&m->dirty);
	for (size_t i = 0; i < m->n_stale; i++)
		if (m->stale[i].since + STALE_CHAIN_MS <= now_ms &&
		    !sp_map_get(&m->tx_chains, m->stale[i].name))
			sb_add(&tx.pre, "delete chain ip %s %s\n", cfg->table, m->stale[i].name);
	text = tx_text(&tx, &head);
	if (!*text) {
		/* nothing differs from what the kernel holds */
		free(text);
		sp_model_commit(m, true, now_ms);
		return NULL;
	}
	return text;
}

static void commit_cb(void *arg, const char *key, void *v)
{
	struct sp_model *m = arg;
	struct sp_applied *a = v;

	/* a service gone for good leaves nothing to remember */
	if (!a->n_chains && !a->n_elems && !a->n_sets && !sp_map_get(&m->services, key)) {
		applied_free(a);
		applied_free(sp_map_del(&m->applied, key));
		return;
	}
	applied_free(sp_map_put(&m->applied, key, a));
}

void sp_model_commit(struct sp_model *m, bool ok, int64_t now_ms)
{
	size_t k = 0;

	if (!m->tx_open)
		return;
	if (!ok) {
		/* the kernel's state is unknown now: only a full sync can follow */
		tx_reset(m);
		return;
	}
	if (m->tx_full) {
		sp_map_foreach(&m->applied, free_applied_cb, NULL);
		sp_map_done(&m->applied);
		for (size_t i = 0; i < m->n_stale; i++)
			free(m->stale[i].name);
		m->n_stale = 0;
	}
	sp_map_foreach(&m->pending, commit_cb, m);
	sp_map_done(&m->pending);
	/* stale chains deleted now, or defined again, are stale no more */
	for (size_t i = 0; i < m->n_stale; i++) {
		bool gone = m->stale[i].since + STALE_CHAIN_MS <= now_ms ||
			    sp_map_get(&m->tx_chains, m->stale[i].name);

		if (gone)
			free(m->stale[i].name);
		else
			m->stale[k++] = m->stale[i];
	}
	m->n_stale = k;
	m->stale = xrealloc(m->stale, (m->n_stale + m->n_tx_stale + 1) * sizeof(*m->stale));
	for (size_t i = 0; i < m->n_tx_stale; i++)
		m->stale[m->n_stale++] = (struct sp_stale){TAKE_PTR(m->tx_stale[i]), now_ms};
	tx_reset(m);
}
