/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Answering one query: names of the cluster domain from the zone snapshot (kubernetes/dns
 * specification, CoreDNS's behaviour where the spec leaves room), reverse names of
 * services and headless endpoints, and everything else through dns_forward(). Messages
 * are parsed and built with ldns; its writer compresses names.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/dns/internal.h"
#include "cluster/dns/lib_ldns.h"

#define RCODE_BADVERS 16
#define CHASE_MAX     8

struct query {
	struct dns_server *s;
	const ldns_pkt *q;
	const ldns_rr *qrr;
	const ldns_rdf *qname;
	ldns_rr_type qtype;
	json_t *zone;
	bool tcp, may_block, need_upstream;
};

static void lower(char *p)
{
	for (; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* A header-only answer, for queries too broken (or too strange) to echo their question. */
static uint8_t *header_reply(const uint8_t *q, unsigned rcode, size_t *ret_len)
{
	uint8_t *r = xcalloc(1, DNS_HEADER);

	r[0] = q[0];
	r[1] = q[1];
	r[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, the opcode and RD as asked */
	r[3] = (uint8_t)(0x80 | (rcode & 0x0f));
	*ret_len = DNS_HEADER;
	return r;
}

size_t dns_question_end(const uint8_t *m, size_t len)
{
	size_t pos = DNS_HEADER;

	if (len < DNS_HEADER || (m[4] << 8 | m[5]) != 1)
		return 0;
	while (pos < len && m[pos] != 0) {
		if ((m[pos] & 0xc0) != 0)
			return 0;
		pos += 1 + m[pos];
	}
	pos += 1 + 4;
	return pos <= len ? pos : 0;
}

static ldns_pkt *reply_new(const struct query *x, bool aa, unsigned rcode)
{
	ldns_pkt *p = ldns_pkt_new();

	ldns_pkt_set_id(p, ldns_pkt_id(x->q));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
	ldns_pkt_set_aa(p, aa);
	ldns_pkt_set_rd(p, ldns_pkt_rd(x->q));
	ldns_pkt_set_cd(p, ldns_pkt_cd(x->q));
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)(rcode & 0x0f));
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(x->qrr));
	if (ldns_pkt_edns(x->q)) {
		ldns_pkt_set_edns_udp_size(p, DNS_EDNS_SIZE);
		ldns_pkt_set_edns_do(p, ldns_pkt_edns_do(x->q));
		ldns_pkt_set_edns_extended_rcode(p, (uint8_t)(rcode >> 4));
	}
	return p;
}

/*
 * Adds the record "@owner TTL IN @rest" (@owner NULL: the query's own name, its letter
 * case kept); data that ldns refuses is left out.
 */
static bool push(const struct query *x, ldns_pkt *p, ldns_pkt_section sec, const char *owner,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool push(const struct query *x, ldns_pkt *p, ldns_pkt_section sec, const char *owner,
		 const char *fmt, ...)
{
	cleanup_free char *rest = NULL, *text = NULL;
	ldns_rr *rr = NULL;
	va_list ap;

	va_start(ap, fmt);
	rest = xvasprintf(fmt, ap);
	va_end(ap);
	text = xasprintf("%s %d IN %s", owner ? owner : ".", DNS_TTL, rest);
	if (ldns_rr_new_frm_str(&rr, text, DNS_TTL, NULL, NULL) != LDNS_STATUS_OK)
		return false;
	if (!owner) {
		/* ldns_rr_set_owner() leaves the placeholder's owner to us */
		ldns_rdf_deep_free(ldns_rr_owner(rr));
		ldns_rr_set_owner(rr, ldns_rdf_clone(x->qname));
	}
	ldns_pkt_push_rr(p, sec, rr);
	return true;
}

static void push_soa(const struct query *x, ldns_pkt *p, ldns_pkt_section sec)
{
	const char *d = x->s->domain;
	json_int_t serial = json_integer_value(json_object_get(x->zone, "serial"));
	cleanup_free char *owner = xasprintf("%s.", d);

	/* CoreDNS's SOA: its minimum (the negative TTL) is the record TTL */
	push(x, p, sec, owner, "SOA ns.dns.%s. hostmaster.%s. %lld 7200 1800 86400 %d", d, d,
	     (long long)serial, DNS_TTL);
}

static size_t n_answers(const ldns_pkt *p)
{
	return ldns_rr_list_rr_count(ldns_pkt_answer(p));
}

static void push_addrs(const struct query *x, ldns_pkt *p, ldns_pkt_section sec, const char *owner,
		       const json_t *node, bool v6)
{
	const json_t *v;
	size_t i;

	json_array_foreach (json_object_get(node, v6 ? "aaaa" : "a"), i, v)
		push(x, p, sec, owner, "%s %s", v6 ? "AAAA" : "A", json_string_value(v));
}

static void push_srv(const struct query *x, ldns_pkt *p, const json_t *node)
{
	const json_t *names = json_object_get(x->zone, "names");
	const json_t *srv = json_object_get(node, "srv"), *v;
	cleanup_json json_t *seen = json_object();
	size_t i, n = json_array_size(srv);

	/* CoreDNS spreads a weight of 100 over the records of one priority */
	json_array_foreach (srv, i, v) {
		const char *t = json_string_value(json_array_get(v, 1));

		push(x, p, LDNS_SECTION_ANSWER, NULL, "SRV 0 %zu %lld %s.%s.", 100 / n,
		     (long long)json_integer_value(json_array_get(v, 0)), t, x->s->domain);
	}
	/* the targets' addresses, as the spec allows (2.3.2) and CoreDNS does */
	json_array_foreach (srv, i, v) {
		const char *t = json_string_value(json_array_get(v, 1));
		cleanup_free char *owner = xasprintf("%s.%s.", t, x->s->domain);

		if (json_object_get(seen, t))
			continue;
		json_object_set_new(seen, t, json_true());
		push_addrs(x, p, LDNS_SECTION_ADDITIONAL, owner, json_object_get(names, t), false);
		push_addrs(x, p, LDNS_SECTION_ADDITIONAL, owner, json_object_get(names, t), true);
	}
}

/* The records of @qtype at @node under the owner @owner (NULL: the query's name). */
static void push_node(const struct query *x, ldns_pkt *p, const char *owner, const json_t *node)
{
	const char *txt = json_string_value(json_object_get(node, "txt"));
	bool any = x->qtype == LDNS_RR_TYPE_ANY;

	if (x->qtype == LDNS_RR_TYPE_A || any)
		push_addrs(x, p, LDNS_SECTION_ANSWER, owner, node, false);
	if (x->qtype == LDNS_RR_TYPE_AAAA || any)
		push_addrs(x, p, LDNS_SECTION_ANSWER, owner, node, true);
	if ((x->qtype == LDNS_RR_TYPE_SRV || any) && !owner)
		push_srv(x, p, node);
	if ((x->qtype == LDNS_RR_TYPE_TXT || any) && txt)
		push(x, p, LDNS_SECTION_ANSWER, owner, "TXT \"%s\"", txt);
}

/* The name relative to the domain of @name (lowercase, no final dot): a heap string ("" for
 * the domain itself), or NULL outside the domain. */
static char *in_domain(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n == d && strcmp(name, domain) == 0)
		return xstrdup("");
	if (n > d && name[n - d - 1] == '.' && strcmp(name + n - d, domain) == 0)
		return xstrndup(name, n - d - 1);
	return NULL;
}

/* Whether @rel is a pod name "<ip with dashes>.<ns>.pod"; its address in @ip. */
static bool pod_ip(const char *rel, char *ip, size_t size, bool *v6)
{
	const char *dot = strchr(rel, '.');
	cleanup_free char *a = NULL;
	struct in6_addr a6;
	struct in_addr a4;

	if (!dot || !strchr(dot + 1, '.') || strcmp(strchr(dot + 1, '.'), ".pod") != 0)
		return false;
	a = xstrndup(rel, (size_t)(dot - rel));
	for (char *c = a; *c; c++)
		if (*c == '-')
			*c = '.';
	if (inet_pton(AF_INET, a, &a4) == 1) {
		*v6 = false;
		return inet_ntop(AF_INET, &a4, ip, (socklen_t)size) != NULL;
	}
	for (char *c = a; *c; c++)
		if (*c == '.')
			*c = ':';
	if (inet_pton(AF_INET6, a, &a6) == 1) {
		*v6 = true;
		return inet_ntop(AF_INET6, &a6, ip, (socklen_t)size) != NULL;
	}
	return false;
}

/* "<ns>.pod" and "pod": names that exist without records. */
static bool pod_parent(const char *rel)
{
	const char *dot = strchr(rel, '.');

	return strcmp(rel, "pod") == 0 || (dot && dot > rel && strcmp(dot, ".pod") == 0);
}

/*
 * The addresses of an out-of-zone CNAME target, asked of the upstreams (CoreDNS's
 * kubernetes plugin resolves ExternalName targets the same way): stub resolvers do not
 * chase CNAMEs themselves.
 */
static void chase_upstream(struct query *x, ldns_pkt *p, const char *target)
{
	cleanup_free char *fqdn = xasprintf("%s.", target);
	cleanup_free uint8_t *wire = NULL, *resp = NULL;
	size_t len = 0, rlen = 0;
	ldns_pkt *q, *a = NULL;
	ldns_rdf *name;
	uint16_t id;

	if (!x->may_block) {
		x->need_upstream = true;
		return;
	}
	name = ldns_dname_new_frm_str(fqdn);
	if (!name)
		return;
	q = ldns_pkt_query_new(name, x->qtype, LDNS_RR_CLASS_IN, LDNS_RD);
	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = 0;
	ldns_pkt_set_id(q, id);
	if (ldns_pkt2wire(&wire, q, &len) == LDNS_STATUS_OK &&
	    dns_forward(x->s, wire, len, x->tcp, &resp, &rlen) == 0 &&
	    ldns_wire2pkt(&a, resp, rlen) == LDNS_STATUS_OK) {
		const ldns_rr_list *ans = ldns_pkt_answer(a);

		for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++)
			ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER,
					 ldns_rr_clone(ldns_rr_list_rr(ans, i)));
	}
	if (a)
		ldns_pkt_free(a);
	ldns_pkt_free(q);
}

/* Follows CNAMEs from @cname (and the records they lead to) into @p. */
static void chase(struct query *x, ldns_pkt *p, const char *cname)
{
	const json_t *names = json_object_get(x->zone, "names");
	cleanup_free char *owner = NULL; /* NULL: the query's name */
	cleanup_free char *target = xstrdup(cname);

	for (int hop = 0; hop < CHASE_MAX; hop++) {
		cleanup_free char *rel = NULL;
		const json_t *node;

		push(x, p, LDNS_SECTION_ANSWER, owner, "CNAME %s.", target);
		if (x->qtype == LDNS_RR_TYPE_CNAME)
			return;
		lower(target);
		rel = in_domain(target, x->s->domain);
		if (!rel) {
			chase_upstream(x, p, target);
			return;
		}
		node = json_object_get(names, rel);
		if (!node)
			return;
		free(owner);
		owner = xasprintf("%s.", target);
		if (!json_object_get(node, "cname")) {
			push_node(x, p, owner, node);
			return;
		}
		free(target);
		target = xstrdup(json_string_value(json_object_get(node, "cname")));
	}
}

/* An answer from the zone for @rel, the query's name relative to the domain. */
static ldns_pkt *answer_local(struct query *x, const char *rel)
{
	const json_t *names = json_object_get(x->zone, "names");
	const json_t *node = json_object_get(names, rel);
	const char *d = x->s->domain;
	char ip[INET6_ADDRSTRLEN];
	ldns_pkt *p;
	bool v6;

	if (!*rel) {
		p = reply_new(x, true, LDNS_RCODE_NOERROR);
		if (x->qtype == LDNS_RR_TYPE_SOA || x->qtype == LDNS_RR_TYPE_ANY)
			push_soa(x, p, LDNS_SECTION_ANSWER);
		if (x->qtype == LDNS_RR_TYPE_NS || x->qtype == LDNS_RR_TYPE_ANY) {
			cleanup_free char *ns = xasprintf("ns.dns.%s.", d);

			push(x, p, LDNS_SECTION_ANSWER, NULL, "NS %s", ns);
			push_addrs(x, p, LDNS_SECTION_ADDITIONAL, ns,
				   json_object_get(names, "ns.dns"), false);
		}
	} else if (pod_ip(rel, ip, sizeof(ip), &v6)) {
		p = reply_new(x, true, LDNS_RCODE_NOERROR);
		if ((x->qtype == LDNS_RR_TYPE_A && !v6) || (x->qtype == LDNS_RR_TYPE_AAAA && v6) ||
		    x->qtype == LDNS_RR_TYPE_ANY)
			push(x, p, LDNS_SECTION_ANSWER, NULL, "%s %s", v6 ? "AAAA" : "A", ip);
	} else if (node) {
		const char *cname = json_string_value(json_object_get(node, "cname"));

		p = reply_new(x, true, LDNS_RCODE_NOERROR);
		if (cname)
			chase(x, p, cname);
		else
			push_node(x, p, NULL, node);
	} else if (pod_parent(rel)) {
		p = reply_new(x, true, LDNS_RCODE_NOERROR);
	} else {
		p = reply_new(x, true, LDNS_RCODE_NXDOMAIN);
	}
	if (n_answers(p) == 0 && !x->need_upstream)
		push_soa(x, p, LDNS_SECTION_AUTHORITY);
	return p;
}

/* The address of a reverse name ("4.3.2.1.in-addr.arpa", 32 nibbles ".ip6.arpa"), or false. */
static bool reverse_ip(const char *name, char *ip, size_t size)
{
	size_t n = strlen(name);

	if (n > 13 && strcmp(name + n - 13, ".in-addr.arpa") == 0) {
		unsigned b[4];
		char tail[16];
		struct in_addr a;

		if (sscanf(name, "%3u.%3u.%3u.%3u.%15s", &b[3], &b[2], &b[1], &b[0], tail) != 5 ||
		    strcmp(tail, "in-addr.arpa") != 0 || b[0] > 255 || b[1] > 255 || b[2] > 255 ||
		    b[3] > 255)
			return false;
		a.s_addr = htonl(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
		return inet_ntop(AF_INET, &a, ip, (socklen_t)size) != NULL;
	}
	if (n == 72 && strcmp(name + 63, ".ip6.arpa") == 0) {
		struct in6_addr a6;

		for (int i = 0; i < 32; i++) {
			char c = name[2 * i];
			int v = isdigit((unsigned char)c) ? c - '0'
				: (c >= 'a' && c <= 'f')  ? c - 'a' + 10
							  : -1;

			if (v < 0 || (i < 31 && name[2 * i + 1] != '.'))
				return false;
			if (i % 2 == 0)
				a6.s6_addr[15 - i / 2] = (uint8_t)v;
			else
				a6.s6_addr[15 - i / 2] |= (uint8_t)(v << 4);
		}
		return inet_ntop(AF_INET6, &a6, ip, (socklen_t)size) != NULL;
	}
	return false;
}

/* PTR answers for services' and headless endpoints' addresses; NULL: not ours. */
static ldns_pkt *answer_reverse(struct query *x, const char *name)
{
	char ip[INET6_ADDRSTRLEN];
	const json_t *targets, *t;
	ldns_pkt *p;
	size_t i;

	if (x->qtype != LDNS_RR_TYPE_PTR || !reverse_ip(name, ip, sizeof(ip)))
		return NULL;
	targets = json_object_get(json_object_get(x->zone, "ptr"), ip);
	if (!json_array_size(targets))
		return NULL;
	p = reply_new(x, true, LDNS_RCODE_NOERROR);
	json_array_foreach (targets, i, t)
		push(x, p, LDNS_SECTION_ANSWER, NULL, "PTR %s.%s.", json_string_value(t),
		     x->s->domain);
	return p;
}

/* The answer on the wire, cut to the question with TC set when it exceeds @limit. */
static bool to_wire(const struct query *x, ldns_pkt *p, size_t limit, uint8_t **ret,
		    size_t *ret_len)
{
	uint8_t *wire = NULL;
	size_t len = 0;

	if (ldns_pkt2wire(&wire, p, &len) != LDNS_STATUS_OK)
		return false;
	if (len > limit) {
		ldns_pkt *t = reply_new(x, true, ldns_pkt_get_rcode(p));

		free(wire);
		wire = NULL;
		ldns_pkt_set_tc(t, true);
		if (ldns_pkt2wire(&wire, t, &len) != LDNS_STATUS_OK) {
			ldns_pkt_free(t);
			return false;
		}
		ldns_pkt_free(t);
	}
	*ret = wire;
	*ret_len = len;
	return true;
}

/* A forwarded answer too large for the client's UDP buffer: its header and question, TC. */
static uint8_t *truncate_raw(const uint8_t *q, size_t qlen, const uint8_t *a, size_t *ret_len)
{
	size_t qend = dns_question_end(q, qlen);
	uint8_t *r;

	if (!qend)
		return header_reply(q, LDNS_RCODE_SERVFAIL, ret_len);
	r = xmalloc(qend);
	memcpy(r, q, qend);
	memcpy(r, a, 4);
	r[2] |= 0x02;
	memset(r + 6, 0, 6);
	*ret_len = qend;
	return r;
}

static size_t udp_limit(const ldns_pkt *q)
{
	size_t n = ldns_pkt_edns(q) ? ldns_pkt_edns_udp_size(q) : DNS_UDP_MIN;

	return n < DNS_UDP_MIN ? DNS_UDP_MIN : n;
}

static enum dns_verdict forward(struct query *x, const uint8_t *q, size_t len, size_t limit,
				uint8_t **ret, size_t *ret_len)
{
	cleanup_free uint8_t *a = NULL;
	size_t alen = 0;
	ldns_pkt *p;

	if (!x->may_block)
		return DNS_UPSTREAM;
	if (dns_forward(x->s, q, len, x->tcp, &a, &alen) == 0) {
		if (alen > limit) {
			*ret = truncate_raw(q, len, a, ret_len);
		} else {
			*ret = TAKE_PTR(a);
			*ret_len = alen;
		}
		return DNS_ANSWERED;
	}
	p = reply_new(x, false, LDNS_RCODE_SERVFAIL);
	if (!to_wire(x, p, limit, ret, ret_len))
		*ret = header_reply(q, LDNS_RCODE_SERVFAIL, ret_len);
	ldns_pkt_free(p);
	return DNS_ANSWERED;
}

static enum dns_verdict answer_parsed(struct query *x, const uint8_t *q, size_t len, uint8_t **ret,
				      size_t *ret_len)
{
	size_t limit = x->tcp ? 65535 : udp_limit(x->q);
	cleanup_free char *name = NULL, *rel = NULL;
	ldns_pkt *p = NULL;
	size_t n;

	if (ldns_pkt_edns(x->q) && ldns_pkt_edns_version(x->q) > 0) {
		p = reply_new(x, false, RCODE_BADVERS);
	} else {
		name = ldns_rdf2str(x->qname);
		if (!name)
			abort();
		lower(name);
		n = strlen(name);
		if (n > 1 && name[n - 1] == '.')
			name[n - 1] = '\0';
		rel = in_domain(name, x->s->domain);
		if (rel) {
			p = answer_local(x, rel);
			if (x->need_upstream) {
				ldns_pkt_free(p);
				return DNS_UPSTREAM;
			}
		} else {
			p = answer_reverse(x, name);
		}
	}
	if (!p)
		return forward(x, q, len, limit, ret, ret_len);
	if (!to_wire(x, p, limit, ret, ret_len))
		*ret = header_reply(q, LDNS_RCODE_SERVFAIL, ret_len);
	ldns_pkt_free(p);
	return DNS_ANSWERED;
}

enum dns_verdict dns_answer(struct dns_server *s, const uint8_t *q, size_t len, bool tcp,
			    bool may_block, uint8_t **ret, size_t *ret_len)
{
	struct query x = {.s = s, .tcp = tcp, .may_block = may_block};
	ldns_pkt *pkt = NULL;
	enum dns_verdict v;

	if (len < DNS_HEADER || (q[2] & 0x80))
		return DNS_DROP;
	if (((q[2] >> 3) & 0x0f) != LDNS_PACKET_QUERY) {
		*ret = header_reply(q, LDNS_RCODE_NOTIMPL, ret_len);
		return DNS_ANSWERED;
	}
	if (ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK ||
	    ldns_rr_list_rr_count(ldns_pkt_question(pkt)) != 1) {
		if (pkt)
			ldns_pkt_free(pkt);
		*ret = header_reply(q, LDNS_RCODE_FORMERR, ret_len);
		return DNS_ANSWERED;
	}
	x.q = pkt;
	x.qrr = ldns_rr_list_rr(ldns_pkt_question(pkt), 0);
	x.qname = ldns_rr_owner(x.qrr);
	x.qtype = ldns_rr_get_type(x.qrr);
	x.zone = dns_zone_get(s);
	v = answer_parsed(&x, q, len, ret, ret_len);
	json_decref(x.zone);
	ldns_pkt_free(pkt);
	return v;
}
