/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the cluster DNS server (cluster/dns/): an in-process API server holds the
 * Services and EndpointSlices, the DNS server runs on 127.0.0.1 with a free port, and
 * queries go over UDP and TCP through ldns: service, headless, SRV, PTR, ExternalName and
 * pod records, negative answers, changes, forwarding to a fake upstream on loopback,
 * truncation, malformed queries and the published kube-dns Service.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/dns/dns.h"
#include "cluster/dns/internal.h"
#include "cluster/dns/lib_ldns.h"

#include "api_fixture.h"

#define TOKEN "test-admin-token"
#define NSP   "dns-test"

static char tmpdir[TEST_API_DIR_MAX];
static struct api *api;
static struct kc *kc;
static struct dns_server *dns;
static uint16_t port;

/* The fake upstream: answers *.example.com, records what it was asked. */

struct upstream {
	int udp, tcp;
	uint16_t port;
	pthread_t thread;
	int stop[2];
	pthread_mutex_t lock;
	char last[256];
	unsigned n_udp, n_tcp;
};

static struct upstream up;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bind_lo(int type, uint16_t p, uint16_t *ret)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p)};
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		fail_msg("bind test socket: %s", strerror(errno));
	if (type == SOCK_STREAM)
		listen(fd, 8);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	if (ret)
		*ret = ntohs(a.sin_port);
	return fd;
}

/* The fake's answer: A 192.0.2.1 for any name; "big.example.com" gets 40 A records, over
 * UDP only their header with TC set. */
static uint8_t *upstream_answer(const uint8_t *q, size_t len, bool tcp, size_t *ret_len)
{
	ldns_pkt *p = NULL, *a;
	cleanup_free char *name = NULL;
	uint8_t *wire = NULL;
	ldns_rr *qrr;
	int n = 1;

	if (ldns_wire2pkt(&p, q, len) != LDNS_STATUS_OK)
		return NULL;
	qrr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	name = ldns_rdf2str(ldns_rr_owner(qrr));
	pthread_mutex_lock(&up.lock);
	snprintf(up.last, sizeof(up.last), "%s", name);
	if (tcp)
		up.n_tcp++;
	else
		up.n_udp++;
	pthread_mutex_unlock(&up.lock);
	a = ldns_pkt_new();
	ldns_pkt_set_id(a, ldns_pkt_id(p));
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_ra(a, true);
	ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	if (strcmp(name, "big.example.com.") == 0) {
		if (!tcp)
			ldns_pkt_set_tc(a, true);
		n = tcp ? 40 : 0;
	}
	for (int i = 0; i < n; i++) {
		cleanup_free char *text = xasprintf("%s 60 IN A 192.0.2.%d", name, i + 1);
		ldns_rr *rr = NULL;

		if (ldns_rr_get_type(qrr) == LDNS_RR_TYPE_A &&
		    ldns_rr_new_frm_str(&rr, text, 60, NULL, NULL) == LDNS_STATUS_OK)
			ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
	}
	ldns_pkt2wire(&wire, a, ret_len);
	ldns_pkt_free(a);
	ldns_pkt_free(p);
	return wire;
}

static bool read_n(int fd, uint8_t *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, buf + done, n - done);

		if (r <= 0)
			return false;
		done += (size_t)r;
	}
	return true;
}

static void *upstream_main(void *arg)
{
	uint8_t buf[65536];

	(void)arg;
	for (;;) {
		struct pollfd p[3] = {
			{up.udp, POLLIN, 0}, {up.tcp, POLLIN, 0}, {up.stop[0], POLLIN, 0}};
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		cleanup_free uint8_t *a = NULL;
		size_t alen = 0;

		if (poll(p, 3, -1) < 0 || p[2].revents)
			return NULL;
		if (p[0].revents) {
			ssize_t n = recvfrom(up.udp, buf, sizeof(buf), 0, (struct sockaddr *)&from,
					     &fl);

			a = n > 0 ? upstream_answer(buf, (size_t)n, false, &alen) : NULL;
			if (a)
				sendto(up.udp, a, alen, 0, (struct sockaddr *)&from, fl);
		}
		if (p[1].revents) {
			int c = accept4(up.tcp, NULL, NULL, SOCK_CLOEXEC);
			uint8_t hdr[2];

			if (c >= 0 && read_n(c, hdr, 2) &&
			    read_n(c, buf, (size_t)(hdr[0] << 8 | hdr[1])))
				a = upstream_answer(buf, (size_t)(hdr[0] << 8 | hdr[1]), true,
						    &alen);
			if (a) {
				hdr[0] = (uint8_t)(alen >> 8);
				hdr[1] = (uint8_t)alen;
				if (write(c, hdr, 2) != 2 || write(c, a, alen) != (ssize_t)alen)
					fprintf(stderr, "fake upstream: short write\n");
			}
			if (c >= 0)
				close(c);
		}
	}
}

/* The client. */

static uint8_t *exchange(const uint8_t *q, size_t len, bool tcp, uint16_t p, size_t *ret_len)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p)};
	cleanup_close int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	struct timeval tv = {3, 0};
	uint8_t *buf = xmalloc(65536);
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		fail_msg("connect to DNS: %s", strerror(errno));
	if (tcp) {
		uint8_t hdr[2] = {(uint8_t)(len >> 8), (uint8_t)len};

		if (write(fd, hdr, 2) != 2 || write(fd, q, len) != (ssize_t)len ||
		    !read_n(fd, hdr, 2) || !read_n(fd, buf, (size_t)(hdr[0] << 8 | hdr[1])))
			fail_msg("TCP exchange with DNS failed");
		*ret_len = (size_t)(hdr[0] << 8 | hdr[1]);
		return buf;
	}
	if (send(fd, q, len, 0) != (ssize_t)len)
		fail_msg("send to DNS: %s", strerror(errno));
	n = recv(fd, buf, 65536, 0);
	if (n <= 0)
		fail_msg("no UDP answer from DNS: %s", strerror(errno));
	*ret_len = (size_t)n;
	return buf;
}

/* Asks @name/@type of the server on @p; @edns 0: without EDNS. */
static ldns_pkt *ask_on(uint16_t p, const char *name, ldns_rr_type type, bool tcp, uint16_t edns,
			size_t *ret_wire_len)
{
	ldns_pkt *q =
		ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
	cleanup_free uint8_t *wire = NULL, *a = NULL;
	ldns_pkt *r = NULL;
	size_t len = 0, alen = 0;

	ldns_pkt_set_id(q, 4242);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
	ldns_pkt_free(q);
	a = exchange(wire, len, tcp, p, &alen);
	if (ldns_wire2pkt(&r, a, alen) != LDNS_STATUS_OK)
		fail_msg("unparsable answer for %s", name);
	assert_int_equal(ldns_pkt_id(r), 4242);
	if (ret_wire_len)
		*ret_wire_len = alen;
	return r;
}

static ldns_pkt *ask(const char *name, ldns_rr_type type, bool tcp)
{
	return ask_on(port, name, type, tcp, 0, NULL);
}

/* A section as text, one "owner\tttl\tIN\tTYPE\trdata\n" line per record. */
static char *section(const ldns_pkt *p, const ldns_rr_list *l)
{
	char *out = xstrdup("");

	(void)p;
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		cleanup_free char *rr = ldns_rr2str(ldns_rr_list_rr(l, i));
		char *n = xasprintf("%s%s", out, rr);

		free(out);
		out = n;
	}
	return out;
}

#define assert_has(text, needle)                                                                   \
	do {                                                                                       \
		if (!strstr((text), (needle)))                                                     \
			fail_msg("'%s' not in:\n%s", (needle), (text));                            \
	} while (0)

static size_t n_answers(const ldns_pkt *p)
{
	return ldns_rr_list_rr_count(ldns_pkt_answer(p));
}

/* API objects. */

static void create(const char *coll, json_t *obj)
{
	struct err err = ERR_INIT;
	int r = kc_request(kc, "POST", coll, NULL, obj, NULL, &err);

	if (r < 0 || r >= 300)
		fail_msg("POST %s: %d %s", coll, r, err.msg);
	json_decref(obj);
}

static void service(const char *name, const char *cluster_ip, json_t *ports)
{
	json_t *svc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:o}}", "apiVersion", "v1", "kind",
				"Service", "metadata", "name", name, "namespace", NSP, "spec",
				"ports", ports);

	if (cluster_ip)
		json_object_set_new(json_object_get(svc, "spec"), "clusterIP",
				    json_string(cluster_ip));
	create("/api/v1/namespaces/" NSP "/services", svc);
}

/* @eps: [{"addresses":[...], "hostname":..., "conditions":{"ready":...}}] */
static void slice(const char *name, const char *svc, json_t *eps, json_t *ports)
{
	create("/apis/discovery.k8s.io/v1/namespaces/" NSP "/endpointslices",
	       json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:o, s:o}", "apiVersion",
			 "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name", name,
			 "namespace", NSP, "labels", "kubernetes.io/service-name", svc,
			 "addressType", "IPv4", "endpoints", eps, "ports", ports));
}

/* Asks until the answer has @want records (changes reach the zone asynchronously). */
static ldns_pkt *ask_until(const char *name, ldns_rr_type type, size_t want, double max_s)
{
	double t0 = now_s();

	for (;;) {
		ldns_pkt *p = ask(name, type, false);

		if (n_answers(p) == want || now_s() - t0 > max_s)
			return p;
		ldns_pkt_free(p);
		usleep(20000);
	}
}

static int setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.service_cidr = "10.43.0.0/16",
		.cluster_cidr = "10.42.0.0/16",
		.threads = 2,
	};
	struct err err = ERR_INIT;
	char upspec[32];
	const char *ups[] = {upspec, NULL};
	struct dns_config dc = {.listen_ip = "127.0.0.1",
				.domain = "cluster.local",
				.cluster_dns_ip = "10.43.0.10",
				.upstreams = ups,
				.publish_service = true};

	(void)state;
	test_api_start("dns", &cfg, tmpdir, &api, &kc);
	if (dns_ldns_load(&err) < 0)
		fail_msg("%s", err.msg);
	create("/api/v1/namespaces", json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
					       "Namespace", "metadata", "name", NSP));
	/* objects that exist before the server starts come with the first list */
	service("web", "10.43.0.50",
		json_pack("[{s:s, s:i, s:s}, {s:s, s:i, s:s}]", "name", "http", "port", 80,
			  "protocol", "TCP", "name", "stats", "port", 8125, "protocol", "UDP"));

	pthread_mutex_init(&up.lock, NULL);
	up.udp = bind_lo(SOCK_DGRAM, 0, &up.port);
	up.tcp = bind_lo(SOCK_STREAM, up.port, NULL);
	if (pipe(up.stop) < 0 || pthread_create(&up.thread, NULL, upstream_main, NULL) != 0)
		fail_msg("start fake upstream");
	snprintf(upspec, sizeof(upspec), "127.0.0.1:%u", up.port);
	if (dns_start(kc, &dc, &dns, &err) < 0)
		fail_msg("start DNS: %s", err.msg);
	port = dns_port(dns);
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dns_stop(dns);
	close(up.stop[1]);
	pthread_join(up.thread, NULL);
	close(up.udp);
	close(up.tcp);
	close(up.stop[0]);
	test_api_stop(tmpdir, api, kc);
	return 0;
}

/* The tests. */

static void test_dns_answers_a_service_clusterip_and_nodata_for_aaaa(void **state)
{
	ldns_pkt *p;
	cleanup_free char *ans = NULL, *auth = NULL;

	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		p = ask("web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, tcp);
		ans = section(p, ldns_pkt_answer(p));
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_true(ldns_pkt_aa(p));
		assert_has(ans, "web.dns-test.svc.cluster.local.\t5\tIN\tA\t10.43.0.50");
		assert_int_equal(n_answers(p), 1);
		ldns_pkt_free(p);
		free(TAKE_PTR(ans));
	}
	/* letter case is ignored and kept */
	p = ask("WEB.Dns-Test.svc.Cluster.Local.", LDNS_RR_TYPE_A, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_has(ans, "WEB.Dns-Test.svc.Cluster.Local.\t5\tIN\tA\t10.43.0.50");
	ldns_pkt_free(p);

	p = ask("web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_AAAA, false);
	auth = section(p, ldns_pkt_authority(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(n_answers(p), 0);
	assert_has(auth,
		   "cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local.");
	ldns_pkt_free(p);

	/* the namespace and svc are names without records */
	p = ask(NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(n_answers(p), 0);
	ldns_pkt_free(p);
}

static void test_dns_answers_srv_for_named_ports_only(void **state)
{
	cleanup_free char *ans = NULL, *add = NULL;
	ldns_pkt *p;

	(void)state;
	p = ask("_http._tcp.web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_SRV, false);
	ans = section(p, ldns_pkt_answer(p));
	add = section(p, ldns_pkt_additional(p));
	assert_int_equal(n_answers(p), 1);
	assert_has(ans, "_http._tcp.web.dns-test.svc.cluster.local.\t5\tIN\tSRV\t0 100 80 "
			"web.dns-test.svc.cluster.local.");
	assert_has(add, "web.dns-test.svc.cluster.local.\t5\tIN\tA\t10.43.0.50");
	ldns_pkt_free(p);
	p = ask("_http._udp.web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_SRV, false);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

static void test_dns_answers_headless_services_per_ready_endpoint(void **state)
{
	cleanup_free char *ans = NULL;
	ldns_pkt *p;

	(void)state;
	service("db", "None", json_pack("[{s:s, s:i}]", "name", "pg", "port", 5432));
	slice("db-a", "db",
	      json_pack("[{s:[s], s:s, s:{s:b}}, {s:[s], s:{s:b}}, {s:[s], s:{s:b}}]", "addresses",
			"10.42.0.5", "hostname", "db-0", "conditions", "ready", true, "addresses",
			"10.42.1.6", "conditions", "ready", true, "addresses", "10.42.1.7",
			"conditions", "ready", false),
	      json_pack("[{s:s, s:s, s:i}]", "name", "pg", "protocol", "TCP", "port", 5432));
	p = ask_until("db." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, 2, 2.0);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(n_answers(p), 2);
	assert_has(ans, "db.dns-test.svc.cluster.local.\t5\tIN\tA\t10.42.0.5");
	assert_has(ans, "db.dns-test.svc.cluster.local.\t5\tIN\tA\t10.42.1.6");
	assert_null(strstr(ans, "10.42.1.7"));
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));

	p = ask("db-0.db." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, true);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(n_answers(p), 1);
	assert_has(ans, "db-0.db.dns-test.svc.cluster.local.\t5\tIN\tA\t10.42.0.5");
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));

	/* an endpoint without hostname is known by its address with dashes */
	p = ask("10-42-1-6.db." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false);
	assert_int_equal(n_answers(p), 1);
	ldns_pkt_free(p);

	p = ask("_pg._tcp.db." NSP ".svc.cluster.local.", LDNS_RR_TYPE_SRV, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(n_answers(p), 2);
	assert_has(ans, "SRV\t0 50 5432 db-0.db.dns-test.svc.cluster.local.");
	assert_has(ans, "SRV\t0 50 5432 10-42-1-6.db.dns-test.svc.cluster.local.");
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));

	p = ask("5.0.42.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_has(ans, "5.0.42.10.in-addr.arpa.\t5\tIN\tPTR\tdb-0.db.dns-test.svc.cluster.local.");
	ldns_pkt_free(p);

	/* without ready endpoints the headless name does not exist (spec 2.4.1) */
	service("empty", "None", json_pack("[{s:i}]", "port", 1));
	p = ask("empty." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

static void test_dns_answers_ptr_for_cluster_ips(void **state)
{
	cleanup_free char *ans = NULL;
	ldns_pkt *p;

	(void)state;
	p = ask("50.0.43.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_true(ldns_pkt_aa(p));
	assert_has(ans, "50.0.43.10.in-addr.arpa.\t5\tIN\tPTR\tweb.dns-test.svc.cluster.local.");
	ldns_pkt_free(p);
}

static void test_dns_answers_externalname_with_a_chased_cname(void **state)
{
	cleanup_free char *ans = NULL;
	ldns_pkt *p;
	json_t *svc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "apiVersion", "v1",
				"kind", "Service", "metadata", "name", "ext", "namespace", NSP,
				"spec", "type", "ExternalName", "externalName", "www.example.com");

	(void)state;
	create("/api/v1/namespaces/" NSP "/services", svc);
	p = ask_until("ext." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, 2, 2.0);
	ans = section(p, ldns_pkt_answer(p));
	assert_has(ans, "ext.dns-test.svc.cluster.local.\t5\tIN\tCNAME\twww.example.com.");
	/* the target's address comes from the upstream, as stub resolvers need it */
	assert_has(ans, "www.example.com.\t60\tIN\tA\t192.0.2.1");
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));
	p = ask("ext." NSP ".svc.cluster.local.", LDNS_RR_TYPE_CNAME, true);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(n_answers(p), 1);
	assert_has(ans, "CNAME\twww.example.com.");
	ldns_pkt_free(p);
}

static void test_dns_answers_pod_names(void **state)
{
	cleanup_free char *ans = NULL;
	ldns_pkt *p;

	(void)state;
	p = ask("10-42-3-4." NSP ".pod.cluster.local.", LDNS_RR_TYPE_A, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_has(ans, "10-42-3-4.dns-test.pod.cluster.local.\t5\tIN\tA\t10.42.3.4");
	ldns_pkt_free(p);
	p = ask("10-42-3-4." NSP ".pod.cluster.local.", LDNS_RR_TYPE_AAAA, false);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(n_answers(p), 0);
	ldns_pkt_free(p);
	p = ask("10-42-3-999." NSP ".pod.cluster.local.", LDNS_RR_TYPE_A, false);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

static void test_dns_answers_nxdomain_with_soa_and_the_domain_soa_and_ns(void **state)
{
	cleanup_free char *auth = NULL, *ans = NULL, *add = NULL;
	ldns_pkt *p;

	(void)state;
	p = ask("nope." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false);
	auth = section(p, ldns_pkt_authority(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_true(ldns_pkt_aa(p));
	assert_has(auth,
		   "cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. ");
	assert_has(auth, " 7200 1800 86400 5\n");
	ldns_pkt_free(p);

	p = ask("cluster.local.", LDNS_RR_TYPE_SOA, true);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(n_answers(p), 1);
	assert_has(ans, "cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local.");
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));

	p = ask("cluster.local.", LDNS_RR_TYPE_NS, false);
	ans = section(p, ldns_pkt_answer(p));
	add = section(p, ldns_pkt_additional(p));
	assert_has(ans, "cluster.local.\t5\tIN\tNS\tns.dns.cluster.local.");
	assert_has(add, "ns.dns.cluster.local.\t5\tIN\tA\t10.43.0.10");
	ldns_pkt_free(p);
	free(TAKE_PTR(ans));

	p = ask("dns-version.cluster.local.", LDNS_RR_TYPE_TXT, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_has(ans, "TXT\t\"1.1.0\"");
	ldns_pkt_free(p);
}

static void test_dns_sees_api_changes_within_a_second(void **state)
{
	struct err err = ERR_INIT;
	ldns_pkt *p;
	double t0;
	int r;

	(void)state;
	t0 = now_s();
	service("late", "10.43.0.77", json_pack("[{s:i}]", "port", 80));
	p = ask_until("late." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, 1, 1.0);
	assert_int_equal(n_answers(p), 1);
	assert_true(now_s() - t0 < 1.0);
	ldns_pkt_free(p);

	t0 = now_s();
	r = kc_request(kc, "DELETE", "/api/v1/namespaces/" NSP "/services/late", NULL, NULL, NULL,
		       &err);
	assert_int_equal(r, 200);
	p = ask_until("late." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, 0, 1.0);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_true(now_s() - t0 < 1.0);
	ldns_pkt_free(p);
}

static void test_dns_forwards_other_names_and_relays_the_answer(void **state)
{
	cleanup_free char *ans = NULL;
	unsigned udp0, tcp0;
	ldns_pkt *p;

	(void)state;
	pthread_mutex_lock(&up.lock);
	udp0 = up.n_udp;
	tcp0 = up.n_tcp;
	pthread_mutex_unlock(&up.lock);
	p = ask("host.example.com.", LDNS_RR_TYPE_A, false);
	ans = section(p, ldns_pkt_answer(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_has(ans, "host.example.com.\t60\tIN\tA\t192.0.2.1");
	ldns_pkt_free(p);
	pthread_mutex_lock(&up.lock);
	assert_string_equal(up.last, "host.example.com.");
	assert_int_equal(up.n_udp, udp0 + 1);
	pthread_mutex_unlock(&up.lock);

	/* a query over TCP goes on over TCP */
	p = ask("other.example.com.", LDNS_RR_TYPE_A, true);
	assert_int_equal(n_answers(p), 1);
	ldns_pkt_free(p);
	pthread_mutex_lock(&up.lock);
	assert_string_equal(up.last, "other.example.com.");
	assert_int_equal(up.n_tcp, tcp0 + 1);
	pthread_mutex_unlock(&up.lock);

	/* reverse names the cluster does not know are forwarded too */
	p = ask("1.2.0.192.in-addr.arpa.", LDNS_RR_TYPE_PTR, false);
	ldns_pkt_free(p);
	pthread_mutex_lock(&up.lock);
	assert_string_equal(up.last, "1.2.0.192.in-addr.arpa.");
	pthread_mutex_unlock(&up.lock);
}

static void test_dns_retries_truncated_upstream_answers_over_tcp(void **state)
{
	ldns_pkt *p;
	unsigned tcp0;

	(void)state;
	pthread_mutex_lock(&up.lock);
	tcp0 = up.n_tcp;
	pthread_mutex_unlock(&up.lock);
	/* 40 records do not fit the client's 512 bytes: TC, then the whole over TCP */
	p = ask("big.example.com.", LDNS_RR_TYPE_A, false);
	assert_true(ldns_pkt_tc(p));
	assert_int_equal(n_answers(p), 0);
	ldns_pkt_free(p);
	p = ask_on(port, "big.example.com.", LDNS_RR_TYPE_A, false, 4096, NULL);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(n_answers(p), 40);
	ldns_pkt_free(p);
	p = ask("big.example.com.", LDNS_RR_TYPE_A, true);
	assert_int_equal(n_answers(p), 40);
	ldns_pkt_free(p);
	pthread_mutex_lock(&up.lock);
	assert_true(up.n_tcp >= tcp0 + 3);
	pthread_mutex_unlock(&up.lock);
}

static void test_dns_truncates_big_local_answers_over_udp_only(void **state)
{
	json_t *eps = json_array();
	size_t wire_len = 0;
	ldns_pkt *p;

	(void)state;
	for (int i = 0; i < 60; i++) {
		cleanup_free char *ip = xasprintf("10.42.9.%d", i + 1);

		json_array_append_new(eps, json_pack("{s:[s]}", "addresses", ip));
	}
	service("many", "None", json_pack("[{s:i}]", "port", 80));
	slice("many-a", "many", eps, json_pack("[{s:i}]", "port", 80));
	p = ask_on(port, "many." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, true, 0, NULL);
	for (double t0 = now_s(); n_answers(p) != 60 && now_s() - t0 < 2.0;) {
		ldns_pkt_free(p);
		usleep(20000);
		p = ask_on(port, "many." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, true, 0, NULL);
	}
	assert_int_equal(n_answers(p), 60);
	ldns_pkt_free(p);

	p = ask_on(port, "many." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false, 0, &wire_len);
	assert_true(ldns_pkt_tc(p));
	assert_true(wire_len <= 512);
	ldns_pkt_free(p);
	/* with EDNS the client's buffer size counts; names are compressed (60 x 16 bytes) */
	p = ask_on(port, "many." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false, 1400, &wire_len);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(n_answers(p), 60);
	assert_true(wire_len < 12 + 40 + 60 * 16 + 11 + 20);
	ldns_pkt_free(p);
}

static void test_dns_answers_formerr_and_notimp(void **state)
{
	/* a header saying one question, then garbage */
	const uint8_t bad[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 'x'};
	/* opcode 2 (STATUS) */
	const uint8_t status[] = {0xab, 0xcd, 0x10, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
	cleanup_free uint8_t *a = NULL, *b = NULL;
	size_t len = 0;

	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		free(a);
		a = exchange(bad, sizeof(bad), tcp, port, &len);
		assert_true(len >= 12);
		assert_int_equal(a[0], 0x12);
		assert_int_equal(a[1], 0x34);
		assert_true(a[2] & 0x80);
		assert_int_equal(a[3] & 0x0f, LDNS_RCODE_FORMERR);
	}
	b = exchange(status, sizeof(status), false, port, &len);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[3] & 0x0f, LDNS_RCODE_NOTIMPL);
	/* still serving */
	ldns_pkt_free(ask("web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false));
}

static void test_dns_answers_servfail_when_no_upstream_answers(void **state)
{
	struct err err = ERR_INIT;
	uint16_t dead_port;
	int dead = bind_lo(SOCK_DGRAM, 0, &dead_port);
	char spec[32];
	const char *ups[] = {spec, NULL};
	struct dns_config dc = {
		.listen_ip = "127.0.0.1", .upstreams = ups, .upstream_timeout_ms = 200};
	struct dns_server *s = NULL;
	ldns_pkt *p;
	double t0;

	(void)state;
	/* the port is bound but never read: the query times out */
	snprintf(spec, sizeof(spec), "127.0.0.1:%u", dead_port);
	if (dns_start(kc, &dc, &s, &err) < 0)
		fail_msg("start DNS: %s", err.msg);
	t0 = now_s();
	p = ask_on(dns_port(s), "x.example.org.", LDNS_RR_TYPE_A, false, 0, NULL);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	/* local names meanwhile answer at once */
	p = ask_on(dns_port(s), "web." NSP ".svc.cluster.local.", LDNS_RR_TYPE_A, false, 0, NULL);
	assert_int_equal(n_answers(p), 1);
	ldns_pkt_free(p);
	assert_true(now_s() - t0 < 2.0);
	p = ask_on(dns_port(s), "x.example.org.", LDNS_RR_TYPE_A, true, 0, NULL);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	dns_stop(s);
	close(dead);
}

static json_t *get(const char *path)
{
	struct err err = ERR_INIT;
	json_t *body = NULL;
	int r = kc_request(kc, "GET", path, NULL, NULL, &body, &err);

	if (r != 200)
		fail_msg("GET %s: %d %s", path, r, err.msg);
	return body;
}

static void test_dns_publishes_kube_dns_and_corrects_it(void **state)
{
	cleanup_json json_t *svc = get("/api/v1/namespaces/kube-system/services/kube-dns");
	cleanup_json json_t *sl = get(
		"/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/kube-dns-server");
	cleanup_json json_t *eps = get("/api/v1/namespaces/kube-system/endpoints/kube-dns");
	cleanup_json json_t *again = NULL;
	struct err err = ERR_INIT;
	json_t *ep;
	ldns_pkt *p;
	int r;

	(void)state;
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(svc, "spec"), "clusterIP")),
		"10.43.0.10");
	assert_null(json_object_get(json_object_get(svc, "spec"), "selector"));
	assert_string_equal(
		json_string_value(json_object_get(
			json_object_get(json_object_get(svc, "metadata"), "labels"), "k8s-app")),
		"kube-dns");
	assert_int_equal(
		json_integer_value(json_object_get(
			json_array_get(json_object_get(json_object_get(svc, "spec"), "ports"), 1),
			"targetPort")),
		port);
	ep = json_array_get(json_object_get(sl, "endpoints"), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
			    "127.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(sl, "ports"), 0), "port")),
			 port);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(
				json_object_get(json_array_get(json_object_get(eps, "subsets"), 0),
						"addresses"),
				0),
			"ip")),
		"127.0.0.1");
	/* the service answers by name like any other */
	p = ask("kube-dns.kube-system.svc.cluster.local.", LDNS_RR_TYPE_A, false);
	assert_int_equal(n_answers(p), 1);
	ldns_pkt_free(p);

	/* someone breaks the slice: it is put right */
	json_object_set_new(ep, "addresses", json_pack("[s]", "10.9.9.9"));
	r = kc_request(kc, "PUT",
		       "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/"
		       "kube-dns-server",
		       NULL, sl, NULL, &err);
	assert_int_equal(r, 200);
	for (double t0 = now_s(); now_s() - t0 < 3.0; usleep(50000)) {
		json_decref(again);
		again = get("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/"
			    "kube-dns-server");
		ep = json_array_get(json_object_get(again, "endpoints"), 0);
		if (strcmp(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
			   "127.0.0.1") == 0)
			break;
	}
	assert_string_equal(json_string_value(json_array_get(json_object_get(ep, "addresses"), 0)),
			    "127.0.0.1");
}

static void test_dns_parses_upstreams_and_skips_itself_in_resolv_conf(void **state)
{
	struct dns_upstream u, *v = NULL;
	struct err err = ERR_INIT;
	struct sockaddr_in self = {.sin_family = AF_INET, .sin_port = htons(53)};
	cleanup_free char *path = xasprintf("%s/resolv.conf", tmpdir);
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(dns_upstream_parse("10.0.0.2", &u, &err), 0);
	assert_string_equal(u.text, "10.0.0.2:53");
	free(u.text);
	assert_int_equal(dns_upstream_parse("[fd00::1]:5353", &u, &err), 0);
	assert_string_equal(u.text, "[fd00::1]:5353");
	free(u.text);
	assert_int_equal(dns_upstream_parse("dns.google:53", &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'dns.google' is not an IP address"));
	err_clear(&err);
	assert_int_equal(dns_upstream_parse("10.0.0.2:99999", &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad port '99999'"));
	err_clear(&err);

	f = fopen(path, "w");
	fprintf(f, "# comment\nsearch example.com\nnameserver 127.0.0.1\nnameserver 127.0.0.53\n"
		   "nameserver ::1\nnameserver 192.0.2.53\noptions ndots:5\n");
	fclose(f);
	/* listening on 0.0.0.0:53, 127.0.0.1 is this server; 127.0.0.53 is another */
	n = dns_upstreams_from_resolv(path, (struct sockaddr *)&self, &v);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].text, "127.0.0.53:53");
	assert_string_equal(v[1].text, "[::1]:53");
	assert_string_equal(v[2].text, "192.0.2.53:53");
	for (size_t i = 0; i < n; i++)
		free(v[i].text);
	free(v);
	assert_int_equal(dns_upstreams_from_resolv("/nonexistent/resolv.conf", NULL, &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_answers_a_service_clusterip_and_nodata_for_aaaa),
		cmocka_unit_test(test_dns_answers_srv_for_named_ports_only),
		cmocka_unit_test(test_dns_answers_headless_services_per_ready_endpoint),
		cmocka_unit_test(test_dns_answers_ptr_for_cluster_ips),
		cmocka_unit_test(test_dns_answers_externalname_with_a_chased_cname),
		cmocka_unit_test(test_dns_answers_pod_names),
		cmocka_unit_test(test_dns_answers_nxdomain_with_soa_and_the_domain_soa_and_ns),
		cmocka_unit_test(test_dns_sees_api_changes_within_a_second),
		cmocka_unit_test(test_dns_forwards_other_names_and_relays_the_answer),
		cmocka_unit_test(test_dns_retries_truncated_upstream_answers_over_tcp),
		cmocka_unit_test(test_dns_truncates_big_local_answers_over_udp_only),
		cmocka_unit_test(test_dns_answers_formerr_and_notimp),
		cmocka_unit_test(test_dns_answers_servfail_when_no_upstream_answers),
		cmocka_unit_test(test_dns_publishes_kube_dns_and_corrects_it),
		cmocka_unit_test(test_dns_parses_upstreams_and_skips_itself_in_resolv_conf),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
