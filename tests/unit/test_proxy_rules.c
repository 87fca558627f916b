/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the service proxy (cluster/proxy): parsing of Services and
 * EndpointSlices, the nft transactions rendered for each kind of service (checked line by
 * line, kernel-free), incremental changes; then, as root inside a network namespace the
 * test unshares, real rulesets applied with libnftables, read back with `nft -j`, and
 * real TCP traffic to ClusterIPs and NodePorts reaching listeners in namespaces of their
 * own, plus a timing of one endpoint change among 1,000 services.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/proxy/internal.h"
#include "cluster/proxy/proxy.h"

#define NODE "node-a"

static json_t *js(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *js(const char *fmt, ...)
{
	json_error_t jerr;
	va_list ap;
	char *text;
	json_t *j;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	j = json_loads(text, 0, &jerr);
	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	free(text);
	return j;
}

/* A service: @extra is more of its spec ("" or ", \"type\": ..."). */
static json_t *service(const char *ns, const char *name, const char *ip, const char *ports,
		       const char *extra)
{
	return js("{\"metadata\": {\"namespace\": \"%s\", \"name\": \"%s\"}, \"spec\": "
		  "{\"clusterIP\": \"%s\", \"ports\": [%s]%s}}",
		  ns, name, ip, ports, extra);
}

/* A slice for service @svc: @eps is the endpoints array's contents. */
static json_t *slice(const char *ns, const char *name, const char *svc, const char *ports,
		     const char *eps)
{
	return js("{\"metadata\": {\"namespace\": \"%s\", \"name\": \"%s\", \"labels\": "
		  "{\"kubernetes.io/service-name\": \"%s\"}}, \"addressType\": \"IPv4\", "
		  "\"ports\": [%s], \"endpoints\": [%s]}",
		  ns, name, svc, ports, eps);
}

#define PORT_HTTP    "{\"name\": \"http\", \"port\": 80, \"protocol\": \"TCP\"}"
#define EP_PORT_HTTP "{\"name\": \"http\", \"port\": 8080, \"protocol\": \"TCP\"}"

static char *ep(const char *ip, const char *node, bool ready)
{
	return xasprintf("{\"addresses\": [\"%s\"], \"nodeName\": \"%s\", \"conditions\": "
			 "{\"ready\": %s}}",
			 ip, node, ready ? "true" : "false");
}

static void model_service(struct sp_model *m, json_t *obj)
{
	cleanup_err struct err err = ERR_INIT;
	struct sp_service *s = NULL;

	if (sp_service_parse(obj, &s, &err) < 0)
		fail_msg("parse service: %s", err.msg);
	if (s)
		sp_model_set_service(m, s->key, s);
	json_decref(obj);
}

static void model_slice(struct sp_model *m, json_t *obj)
{
	cleanup_err struct err err = ERR_INIT;
	struct sp_slice *s = NULL;

	if (sp_slice_parse(obj, NODE, &s, &err) < 0)
		fail_msg("parse slice: %s", err.msg);
	assert_non_null(s);
	sp_model_set_slice(m, s->key, s);
	json_decref(obj);
}

static struct sp_rules_config rules_cfg(const char *table)
{
	cleanup_err struct err err = ERR_INIT;
	struct svcproxy_config c = {.node_name = NODE,
				    .cluster_cidr = "10.42.0.0/16",
				    .service_cidr = "10.43.0.0/16",
				    .table = table};
	struct sp_rules_config rc;

	if (sp_rules_config_init(&c, &rc, &err) < 0)
		fail_msg("config: %s", err.msg);
	return rc;
}

/* Fails unless @text has the whole line @line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return;
	fail_msg("missing line:\n%s\nin:\n%s", line, text);
}

static void lacks(const char *text, const char *part)
{
	if (strstr(text, part))
		fail_msg("unexpected '%s' in:\n%s", part, text);
}

static size_t count_of(const char *text, const char *part)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, part)); p += strlen(part))
		n++;
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Names and parsing */

static void test_chain_names_hash_like_upstream(void **state)
{
	cleanup_free char *a = sp_chain_base("ns1/svc1", "tcp", "p80", NULL, 0);
	cleanup_free char *b = sp_chain_base("ns1/svc1", "tcp", "p80", "10.180.0.1", 80);
	cleanup_free char *c = sp_chain_base("ns2/svc2", "tcp", "p80", NULL, 0);

	(void)state;
	/* the names upstream's proxier_test.go expects */
	assert_string_equal(a, "ULMVA6XW-ns1/svc1/tcp/p80");
	assert_string_equal(b, "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80");
	assert_string_equal(c, "42NFTM6N-ns2/svc2/tcp/p80");
}

static void assert_service_error(json_t *obj, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct sp_service *s = NULL;

	assert_int_equal(sp_service_parse(obj, &s, &err), -EINVAL);
	if (!err.msg || !strstr(err.msg, want))
		fail_msg("error '%s', want it to contain '%s'", err.msg, want);
	assert_null(s);
	json_decref(obj);
}

static void test_service_parse_reads_ports_and_policies(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	json_t *o = service("web", "front", "10.43.0.20",
			    PORT_HTTP ", {\"port\": 53, \"protocol\": \"UDP\", \"name\": "
				      "\"dns\", \"nodePort\": 30053}",
			    ", \"type\": \"NodePort\", \"sessionAffinity\": \"ClientIP\", "
			    "\"externalTrafficPolicy\": \"Local\"");
	struct sp_service *s = NULL;

	(void)state;
	assert_int_equal(sp_service_parse(o, &s, &err), 0);
	assert_string_equal(s->key, "web/front");
	assert_string_equal(s->cluster_ip, "10.43.0.20");
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].proto, "tcp");
	assert_int_equal(s->ports[1].node_port, 30053);
	assert_string_equal(s->ports[1].proto, "udp");
	assert_int_equal(s->affinity_timeout, 10800);
	assert_true(s->etp_local);
	assert_false(s->itp_local);
	sp_service_free(s);
	json_decref(o);
}

static void test_service_parse_skips_headless_and_external_names(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	const char *extras[] = {"", ", \"type\": \"ExternalName\""};
	const char *ips[] = {"None", "10.43.0.3"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		json_t *o = service("a", "b", ips[i], PORT_HTTP, extras[i]);
		struct sp_service *s = (void *)1;

		assert_int_equal(sp_service_parse(o, &s, &err), 0);
		assert_null(s);
		json_decref(o);
	}
}

static void test_service_parse_rejects_bad_fields_naming_them(void **state)
{
	(void)state;
	assert_service_error(service("a", "b", "10.43.0.300", PORT_HTTP, ""),
			     "service 'a/b': spec.clusterIP: '10.43.0.300' is not an IPv4 address");
	assert_service_error(
		service("a", "b", "10.43.0.3", "{\"port\": 80, \"protocol\": \"ICMP\"}", ""),
		"spec.ports[0].protocol: 'ICMP' is not TCP, UDP or SCTP");
	assert_service_error(service("a", "b", "10.43.0.3", "{\"port\": 70000}", ""),
			     "spec.ports[0].port: 70000 is not a port number");
	assert_service_error(service("a", "b", "10.43.0.3",
				     "{\"name\": \"x; flush ruleset\", "
				     "\"port\": 80}",
				     ""),
			     "spec.ports[0].name: 'x; flush ruleset' is not a valid port name");
	assert_service_error(service("a b", "c", "10.43.0.3", PORT_HTTP, ""),
			     "metadata.namespace: 'a b' is not a valid name");
	assert_service_error(
		service("a", "b", "10.43.0.3", PORT_HTTP,
			", \"sessionAffinity\": \"ClientIP\", \"sessionAffinityConfig\": "
			"{\"clientIP\": {\"timeoutSeconds\": 0}}"),
		"timeoutSeconds: 0 is not from 1 to 86400");
	assert_service_error(service("a", "b", "10.43.0.3", "{\"port\": \"80\"}", ""),
			     "spec.ports[0].port: expected integer");
}

static void test_slice_parse_reads_conditions_and_locality(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *e1 = ep("10.42.0.5", NODE, true);
	json_t *o = slice("web", "front-abc", "front", EP_PORT_HTTP,
			  "{\"addresses\": [\"10.42.1.5\"], \"nodeName\": \"other\", "
			  "\"conditions\": {\"ready\": false, \"serving\": true, \"terminating\": "
			  "true}}, {\"addresses\": [\"10.42.1.6\"]}");
	struct sp_slice *s = NULL;

	(void)state;
	assert_int_equal(sp_slice_parse(o, NODE, &s, &err), 0);
	assert_string_equal(s->service, "web/front");
	assert_int_equal(s->n_eps, 2);
	assert_false(s->eps[0].ready);
	assert_true(s->eps[0].serving && s->eps[0].terminating);
	assert_false(s->eps[0].local);
	/* absent conditions mean ready and serving (EndpointConditions' docs) */
	assert_true(s->eps[1].ready && s->eps[1].serving && !s->eps[1].terminating);
	sp_slice_free(s);
	json_decref(o);

	o = slice("web", "s2", "front", EP_PORT_HTTP, e1);
	assert_int_equal(sp_slice_parse(o, NODE, &s, &err), 0);
	assert_true(s->eps[0].local);
	sp_slice_free(s);
	json_decref(o);

	o = js("{\"metadata\": {\"namespace\": \"a\", \"name\": \"b\"}, \"addressType\": "
	       "\"IPv6\"}");
	assert_int_equal(sp_slice_parse(o, NODE, &s, &err), 0);
	assert_null(s);
	json_decref(o);

	o = slice("web", "s3", "front", EP_PORT_HTTP, "{\"addresses\": [\"fe80::1\"]}");
	assert_int_equal(sp_slice_parse(o, NODE, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "endpoint slice 'web/s3': endpoints[0].addresses[0]: "
					"'fe80::1' is not an IPv4 address"));
	json_decref(o);
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering */

static void test_render_full_builds_base_chains_and_replaces_the_table(void **state)
{
	struct sp_rules_config rc = rules_cfg("t1");
	struct sp_model *m = sp_model_new();
	cleanup_free char *tx = sp_render_full(m, &rc);

	(void)state;
	has_line(tx, "add table ip t1 { comment \"rules for skiff's service proxy\" ; }");
	has_line(tx, "delete table ip t1");
	has_line(tx, "add chain ip t1 nat-prerouting { type nat hook prerouting priority -100 ; }");
	has_line(tx,
		 "add chain ip t1 nat-postrouting { type nat hook postrouting priority 100 ; }");
	has_line(tx, "add rule ip t1 mark-for-masquerade mark set mark or 0x4000");
	has_line(tx, "add rule ip t1 masquerading mark and 0x4000 == 0 return");
	has_line(tx, "add rule ip t1 masquerading masquerade fully-random");
	has_line(tx, "add rule ip t1 reject-chain meta l4proto tcp counter reject with tcp reset");
	has_line(tx, "add rule ip t1 cluster-ips-check ip daddr { 10.43.0.0/16 } drop comment "
		     "\"Drop traffic to unallocated ClusterIPs\"");
	has_line(tx, "add rule ip t1 services fib daddr type local meta l4proto . th dport vmap "
		     "@service-nodeports");
	has_line(tx, "add rule ip t1 filter-prerouting iifname != \"lo\" ip daddr 127.0.0.0/8 drop "
		     "comment \"route_localnet is on for NodePorts only\"");
	sp_model_commit(m, true, 0);
	sp_model_free(m);
}

static void test_render_cluster_ip_picks_a_random_ready_endpoint(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep("10.42.0.5", NODE, true), *e2 = ep("10.42.1.6", "b", true);
	cleanup_free char *e3 = ep("10.42.1.7", "b", false);
	cleanup_free char *eps = xasprintf("%s, %s, %s", e2, e1, e3);
	cleanup_free char *tx = NULL;
	struct svcproxy_stats st = {0};

	(void)state;
	model_service(m, service("ns1", "svc1", "10.43.0.41", PORT_HTTP, ""));
	model_slice(m, slice("ns1", "svc1-x", "svc1", EP_PORT_HTTP, eps));
	tx = sp_render_full(m, &rc);
	has_line(tx, "add element ip t cluster-ips { 10.43.0.41 }");
	has_line(tx, "add element ip t service-ips { 10.43.0.41 . tcp . 80 : goto "
		     "service-VTO5ESCN-ns1/svc1/tcp/http }");
	has_line(
		tx,
		"add rule ip t service-VTO5ESCN-ns1/svc1/tcp/http ip daddr 10.43.0.41 tcp dport 80 "
		"ip saddr != 10.42.0.0/16 jump mark-for-masquerade");
	/* sorted by address; the not-ready endpoint is left out */
	has_line(tx, "add rule ip t service-VTO5ESCN-ns1/svc1/tcp/http numgen random mod 2 vmap { "
		     "0 : goto endpoint-OHXGV3U4-ns1/svc1/tcp/http__10.42.0.5/8080 , 1 : goto "
		     "endpoint-EZIRXNDS-ns1/svc1/tcp/http__10.42.1.6/8080 }");
	/* the pick ends the chain: the masquerade rule must come before it */
	assert_true(strstr(tx, "tcp/http ip daddr 10.43.0.41 tcp dport 80 ip saddr") <
		    strstr(tx, "tcp/http numgen random"));
	has_line(tx, "add rule ip t endpoint-OHXGV3U4-ns1/svc1/tcp/http__10.42.0.5/8080 ip saddr "
		     "10.42.0.5 jump mark-for-masquerade");
	has_line(tx,
		 "add rule ip t endpoint-OHXGV3U4-ns1/svc1/tcp/http__10.42.0.5/8080 meta l4proto "
		 "tcp dnat to 10.42.0.5:8080");
	lacks(tx, "10.42.1.7");
	lacks(tx, "element ip t no-endpoint-services");
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.service_ports, 1);
	assert_int_equal(st.endpoints, 2);
	assert_int_equal(st.no_endpoints, 0);
	sp_model_free(m);
}

static void test_render_service_without_endpoints_rejects(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e3 = ep("10.42.1.7", "b", false);
	cleanup_free char *tx = NULL;
	struct svcproxy_stats st = {0};

	(void)state;
	model_service(m, service("ns6", "svc6", "10.43.0.46", "{\"port\": 80}", ""));
	model_slice(m, slice("ns6", "svc6-x", "svc6", "{\"port\": 80}", e3));
	tx = sp_render_full(m, &rc);
	has_line(tx, "add element ip t cluster-ips { 10.43.0.46 }");
	has_line(tx, "add element ip t no-endpoint-services { 10.43.0.46 . tcp . 80 comment "
		     "\"ns6/svc6\" : goto reject-chain }");
	lacks(tx, "element ip t service-ips");
	lacks(tx, "-ns6/svc6/");
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.no_endpoints, 1);
	sp_model_free(m);
}

static void test_render_terminating_endpoints_serve_when_none_is_ready(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *tx = NULL;

	(void)state;
	model_service(m, service("a", "s", "10.43.0.9", PORT_HTTP, ""));
	model_slice(m, slice("a", "s-1", "s", EP_PORT_HTTP,
			     "{\"addresses\": [\"10.42.3.3\"], \"conditions\": {\"ready\": false, "
			     "\"serving\": true, \"terminating\": true}}, {\"addresses\": "
			     "[\"10.42.3.4\"], \"conditions\": {\"ready\": false, \"serving\": "
			     "false, \"terminating\": true}}"));
	tx = sp_render_full(m, &rc);
	assert_non_null(strstr(tx, "numgen random mod 1 vmap"));
	assert_non_null(strstr(tx, "dnat to 10.42.3.3:8080"));
	lacks(tx, "10.42.3.4");
	sp_model_commit(m, true, 0);
	sp_model_free(m);
}

static void test_render_node_port_masquerades_and_dispatches(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep("10.42.1.6", "b", true);
	cleanup_free char *tx = NULL;

	(void)state;
	model_service(m, service("ns3", "svc3", "10.43.0.43",
				 "{\"name\": \"p80\", \"port\": 80, \"nodePort\": 30080}",
				 ", \"type\": \"NodePort\""));
	model_slice(m, slice("ns3", "svc3-x", "svc3", "{\"name\": \"p80\", \"port\": 80}", e1));
	tx = sp_render_full(m, &rc);
	has_line(tx, "add element ip t service-nodeports { tcp . 30080 : goto "
		     "external-4AT6LBPK-ns3/svc3/tcp/p80 }");
	has_line(tx, "add rule ip t external-4AT6LBPK-ns3/svc3/tcp/p80 jump mark-for-masquerade");
	has_line(tx, "add rule ip t external-4AT6LBPK-ns3/svc3/tcp/p80 goto "
		     "service-4AT6LBPK-ns3/svc3/tcp/p80");
	lacks(tx, "element ip t no-endpoint-nodeports");
	sp_model_commit(m, true, 0);
	sp_model_free(m);
}

static void test_render_local_external_policy_drops_without_local_endpoints(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *remote = ep("10.42.1.6", "b", true),
			  *local = ep("10.42.0.9", NODE, true);
	cleanup_free char *tx = NULL, *tx2 = NULL;
	struct svcproxy_stats st = {0};

	(void)state;
	model_service(
		m, service("ns2", "svc2", "10.43.0.42",
			   "{\"name\": \"p80\", \"port\": 80, \"nodePort\": 30001}",
			   ", \"type\": \"LoadBalancer\", \"externalTrafficPolicy\": \"Local\""));
	model_slice(m, slice("ns2", "svc2-x", "svc2", "{\"name\": \"p80\", \"port\": 80}", remote));
	tx = sp_render_full(m, &rc);
	/* pods and the node itself still get through, to any endpoint */
	has_line(tx, "add rule ip t external-42NFTM6N-ns2/svc2/tcp/p80 ip saddr 10.42.0.0/16 goto "
		     "service-42NFTM6N-ns2/svc2/tcp/p80 comment \"short-circuit pod traffic\"");
	has_line(tx, "add rule ip t external-42NFTM6N-ns2/svc2/tcp/p80 fib saddr type local jump "
		     "mark-for-masquerade comment \"masquerade local traffic\"");
	has_line(tx,
		 "add element ip t no-endpoint-nodeports { tcp . 30001 comment \"ns2/svc2:p80\" "
		 ": drop }");
	lacks(tx, "add rule ip t external-42NFTM6N-ns2/svc2/tcp/p80 goto local-");
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.no_local_external, 1);

	/* a local endpoint appears: outside traffic goes to it alone */
	model_slice(m, slice("ns2", "svc2-y", "svc2", "{\"name\": \"p80\", \"port\": 80}", local));
	tx2 = sp_render_changes(m, &rc, 0);
	has_line(tx2, "add rule ip t external-42NFTM6N-ns2/svc2/tcp/p80 goto "
		      "local-42NFTM6N-ns2/svc2/tcp/p80");
	has_line(tx2,
		 "add rule ip t local-42NFTM6N-ns2/svc2/tcp/p80 numgen random mod 1 vmap { 0 : "
		 "goto endpoint-F3SM5C3R-ns2/svc2/tcp/p80__10.42.0.9/80 }");
	has_line(tx2, "delete element ip t no-endpoint-nodeports { tcp . 30001 }");
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.no_local_external, 0);
	sp_model_free(m);
}

static void test_render_local_internal_policy_uses_local_endpoints_only(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *remote = ep("10.42.1.6", "b", true);
	cleanup_free char *tx = NULL;
	struct svcproxy_stats st = {0};

	(void)state;
	model_service(m, service("a", "s", "10.43.0.50", PORT_HTTP,
				 ", \"internalTrafficPolicy\": \"Local\""));
	model_slice(m, slice("a", "s-1", "s", EP_PORT_HTTP, remote));
	tx = sp_render_full(m, &rc);
	has_line(tx, "add element ip t no-endpoint-services { 10.43.0.50 . tcp . 80 comment "
		     "\"a/s:http\" : drop }");
	lacks(tx, "add chain ip t endpoint-");
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.no_local_internal, 1);
	sp_model_free(m);
}

static void test_render_client_ip_affinity_uses_timed_sets(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep("10.42.0.5", NODE, true);
	cleanup_free char *tx = NULL;

	(void)state;
	model_service(m, service("a", "s", "10.43.0.51", PORT_HTTP,
				 ", \"sessionAffinity\": \"ClientIP\", \"sessionAffinityConfig\": "
				 "{\"clientIP\": {\"timeoutSeconds\": 60}}"));
	model_slice(m, slice("a", "s-1", "s", EP_PORT_HTTP, e1));
	tx = sp_render_full(m, &rc);
	has_line(tx,
		 "add set ip t affinity-YEGKGBLI-a/s/tcp/http__10.42.0.5/8080 { type ipv4_addr ; "
		 "flags dynamic,timeout ; timeout 60s ; }");
	has_line(tx, "add rule ip t service-GPGPIXVZ-a/s/tcp/http ip saddr "
		     "@affinity-YEGKGBLI-a/s/tcp/http__10.42.0.5/8080 goto "
		     "endpoint-YEGKGBLI-a/s/tcp/http__10.42.0.5/8080");
	has_line(tx, "add rule ip t endpoint-YEGKGBLI-a/s/tcp/http__10.42.0.5/8080 update "
		     "@affinity-YEGKGBLI-a/s/tcp/http__10.42.0.5/8080 { ip saddr }");
	sp_model_commit(m, true, 0);
	sp_model_free(m);
}

static void test_render_changes_touch_only_the_changed_service(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep("10.42.0.5", NODE, true), *e2 = ep("10.42.0.6", NODE, true);
	cleanup_free char *tx = NULL, *tx2 = NULL, *tx3 = NULL, *tx4 = NULL;

	(void)state;
	model_service(m, service("a", "one", "10.43.0.61", PORT_HTTP, ""));
	model_service(m, service("a", "two", "10.43.0.62", PORT_HTTP, ""));
	model_slice(m, slice("a", "one-1", "one", EP_PORT_HTTP, e1));
	model_slice(m, slice("a", "two-1", "two", EP_PORT_HTTP, e1));
	tx = sp_render_full(m, &rc);
	sp_model_commit(m, true, 0);
	assert_false(sp_model_dirty(m));
	assert_null(sp_render_changes(m, &rc, 0));

	/* the endpoint of "one" moves: its chains are refilled, the old endpoint's flushed */
	model_slice(m, slice("a", "one-1", "one", EP_PORT_HTTP, e2));
	assert_true(sp_model_dirty(m));
	tx2 = sp_render_changes(m, &rc, 100);
	lacks(tx2, "a/two");
	lacks(tx2, "delete table");
	has_line(tx2, "flush chain ip t service-SAJG73SJ-a/one/tcp/http");
	has_line(tx2, "flush chain ip t endpoint-6WHQSIC3-a/one/tcp/http__10.42.0.5/8080");
	has_line(tx2, "add chain ip t endpoint-T7GGNL62-a/one/tcp/http__10.42.0.6/8080");
	has_line(tx2, "add rule ip t endpoint-T7GGNL62-a/one/tcp/http__10.42.0.6/8080 meta l4proto "
		      "tcp dnat to 10.42.0.6:8080");
	lacks(tx2, "delete chain");
	lacks(tx2, "element ip t service-ips");
	sp_model_commit(m, true, 100);

	/* the flushed chain is deleted a second later, on its own */
	assert_int_equal(sp_model_stale_due_ms(m, 600), 500);
	assert_null(sp_render_changes(m, &rc, 600));
	tx3 = sp_render_changes(m, &rc, 1100);
	assert_string_equal(tx3,
			    "delete chain ip t endpoint-6WHQSIC3-a/one/tcp/http__10.42.0.5/8080\n");
	sp_model_commit(m, true, 1100);
	assert_int_equal(sp_model_stale_due_ms(m, 1200), -1);

	/* a deleted service takes its elements and chains along */
	sp_model_set_service(m, "a/two", NULL);
	tx4 = sp_render_changes(m, &rc, 2000);
	has_line(tx4, "delete element ip t service-ips { 10.43.0.62 . tcp . 80 }");
	has_line(tx4, "delete element ip t cluster-ips { 10.43.0.62 }");
	has_line(tx4, "flush chain ip t service-BOBQNWLJ-a/two/tcp/http");
	lacks(tx4, "add ");
	sp_model_commit(m, true, 2000);
	sp_model_free(m);
}

static void test_render_failed_commit_forgets_the_transaction(void **state)
{
	struct sp_rules_config rc = rules_cfg("t");
	struct sp_model *m = sp_model_new();
	cleanup_free char *tx = NULL, *tx2 = NULL;
	struct svcproxy_stats st = {0};

	(void)state;
	model_service(m, service("a", "one", "10.43.0.61", PORT_HTTP, ""));
	tx = sp_render_full(m, &rc);
	sp_model_commit(m, false, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.service_ports, 0);
	tx2 = sp_render_full(m, &rc);
	assert_string_equal(tx, tx2);
	sp_model_commit(m, true, 0);
	sp_model_counts(m, &st);
	assert_int_equal(st.service_ports, 1);
	sp_model_free(m);
}

static void test_config_rejects_bad_values(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct svcproxy_config c = {.node_name = NODE,
				    .cluster_cidr = "10.42.0.0/16",
				    .service_cidr = "10.43.0.0/16",
				    .table = "bad table"};
	struct sp_rules_config rc;

	(void)state;
	assert_int_equal(sp_rules_config_init(&c, &rc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "table name 'bad table' is not valid"));
	err_clear(&err);
	c.table = NULL;
	c.cluster_cidr = "10.42.0.0";
	assert_int_equal(sp_rules_config_init(&c, &rc, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cluster CIDR '10.42.0.0' is not an IPv4 CIDR"));
	err_clear(&err);
	c.cluster_cidr = "10.42.3.7/16";
	assert_int_equal(sp_rules_config_init(&c, &rc, &err), 0);
	assert_string_equal(rc.cluster_cidr, "10.42.0.0/16");
	assert_string_equal(rc.table, "skiff-proxy");
}

/* ------------------------------------------------------------------------------------------ */
/* In the kernel, inside a network namespace of the test's own */

static const char *kern_skip;
static struct sp_nft *nft;

struct endpoint_ns {
	pid_t pid;
	const char *name;
	const char *host_if, *host_ip, *ip;
};

static struct endpoint_ns ep1 = {0, "ep1", "skp1", "10.42.7.1", "10.42.7.2"};
static struct endpoint_ns ep2 = {0, "ep2", "skp2", "10.42.8.1", "10.42.8.2"};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int r;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	r = system(cmd);
	free(cmd);
	return r;
}

static void write_knob(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0)
			fd = fd + 0;
		close(fd);
	}
}

/* Serves "<name>\n" to every TCP connection on port 8080, in a namespace of its own. */
static int endpoint_start(struct endpoint_ns *e)
{
	int up[2], go[2];
	char c;

	if (pipe(up) < 0 || pipe(go) < 0)
		return -1;
	e->pid = fork();
	if (e->pid == 0) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080)};
		int one = 1, s;

		if (unshare(CLONE_NEWNET) < 0 || write(up[1], "u", 1) != 1 ||
		    read(go[0], &c, 1) != 1)
			_exit(1);
		if (sh("ip link set lo up && ip addr add %s/24 dev eth0 && ip link set eth0 up && "
		       "ip route add default via %s",
		       e->ip, e->host_ip))
			_exit(2);
		s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0)
			_exit(3);
		if (write(up[1], "r", 1) != 1)
			_exit(4);
		for (;;) {
			int cs = accept(s, NULL, NULL);

			if (cs < 0)
				continue;
			if (write(cs, e->name, strlen(e->name)) < 0 || write(cs, "\n", 1) < 0)
				cs = cs + 0;
			close(cs);
		}
	}
	if (e->pid < 0 || read(up[0], &c, 1) != 1)
		return -1;
	if (sh("ip link add %s type veth peer name eth0 netns %d && ip addr add %s/24 dev %s && "
	       "ip link set %s up",
	       e->host_if, (int)e->pid, e->host_ip, e->host_if, e->host_if))
		return -1;
	if (write(go[1], "g", 1) != 1 || read(up[0], &c, 1) != 1 || c != 'r')
		return -1;
	close(up[0]);
	close(up[1]);
	close(go[0]);
	close(go[1]);
	return 0;
}

static int kern_setup(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	if (geteuid() != 0) {
		kern_skip = "nftables tests need root (they unshare a network namespace)";
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		kern_skip = "cannot unshare a network namespace";
		return 0;
	}
	if (sp_nft_new(&nft, &err) < 0) {
		kern_skip = "libnftables is not installed";
		return 0;
	}
	if (system("ip -V >/dev/null 2>&1") || system("nft --version >/dev/null 2>&1")) {
		kern_skip = "the ip and nft commands are needed";
		return 0;
	}
	if (sh("ip link set lo up") || endpoint_start(&ep1) < 0 || endpoint_start(&ep2) < 0 ||
	    sh("ip route add 10.43.0.0/16 dev skp1"))
		return -1;
	write_knob("/proc/sys/net/ipv4/ip_forward", "1");
	write_knob("/proc/sys/net/ipv4/conf/all/route_localnet", "1");
	return 0;
}

static int kern_teardown(void **state)
{
	(void)state;
	for (struct endpoint_ns *e = &ep1; e; e = e == &ep1 ? &ep2 : NULL)
		if (e->pid > 0) {
			kill(e->pid, SIGKILL);
			waitpid(e->pid, NULL, 0);
		}
	sp_nft_free(nft);
	return 0;
}

#define KERN_REQUIRE()                                                                             \
	do {                                                                                       \
		if (kern_skip) {                                                                   \
			print_message("# skip: %s\n", kern_skip);                                  \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void apply(const char *tx)
{
	cleanup_err struct err err = ERR_INIT;

	if (sp_nft_run(nft, tx, NULL, &err) < 0)
		fail_msg("%s\ntransaction:\n%s", err.msg, tx);
}

static void full_sync(struct sp_model *m, const struct sp_rules_config *rc)
{
	cleanup_free char *tx = sp_render_full(m, rc);

	apply(tx);
	sp_model_commit(m, true, 0);
}

static void change_sync(struct sp_model *m, const struct sp_rules_config *rc, int64_t now)
{
	cleanup_free char *tx = sp_render_changes(m, rc, now);

	if (tx)
		apply(tx);
	sp_model_commit(m, true, now);
}

/* What `nft` prints for @args (the CLI, as an operator would look). */
static char *nft_cli(const char *args)
{
	cleanup_free char *cmd = xasprintf("nft %s 2>&1", args);
	FILE *f = popen(cmd, "r");
	char *out = xcalloc(1, 1 << 20);
	size_t n = 0, r;

	assert_non_null(f);
	while ((r = fread(out + n, 1, (1 << 20) - 1 - n, f)) > 0)
		n += r;
	out[n] = 0;
	pclose(f);
	return out;
}

/*
 * Connects to @ip:@port and returns what the server says (heap), or NULL with *ret_errno
 * set; gives up after 2 s.
 */
static char *fetch(const char *ip, uint16_t port, int *ret_errno)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd = {.fd = s, .events = POLLOUT};
	char buf[64] = {0};
	socklen_t len = sizeof(int);
	int e = 0;
	ssize_t n;

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		e = errno;
	if (!e && poll(&pfd, 1, 2000) != 1)
		e = ETIMEDOUT;
	if (!e)
		getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len);
	pfd.events = POLLIN;
	if (!e && poll(&pfd, 1, 2000) != 1)
		e = ETIMEDOUT;
	n = e ? -1 : read(s, buf, sizeof(buf) - 1);
	close(s);
	*ret_errno = e;
	if (n <= 0)
		return NULL;
	buf[strcspn(buf, "\n")] = 0;
	return xstrdup(buf);
}

static void expect_reply(const char *ip, uint16_t port, const char *want)
{
	int e = 0;
	cleanup_free char *got = fetch(ip, port, &e);

	if (!got || strcmp(got, want))
		fail_msg("%s:%u answered '%s' (%s), want '%s'", ip, port, got ? got : "",
			 strerror(e), want);
}

/* Runs fetch() from inside endpoint @e's namespace; 0 when the answer is @want. */
static int fetch_from(const struct endpoint_ns *e, const char *ip, uint16_t port, const char *want)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		char *path = xasprintf("/proc/%d/ns/net", (int)e->pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
		char *got;

		alarm(10);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(100);
		got = fetch(ip, port, &err);
		_exit(got && !strcmp(got, want) ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void test_kernel_cluster_ip_reaches_endpoints_and_follows_changes(void **state)
{
	struct sp_rules_config rc = rules_cfg("skiff-test");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep(ep1.ip, NODE, true), *e2 = ep(ep2.ip, "other", true);
	cleanup_free char *listing = NULL;
	int e = 0;
	char *got;

	(void)state;
	KERN_REQUIRE();
	model_service(m, service("default", "web", "10.43.0.80", PORT_HTTP, ""));
	model_slice(m, slice("default", "web-1", "web", EP_PORT_HTTP, e1));
	full_sync(m, &rc);
	expect_reply("10.43.0.80", 80, "ep1");

	/* read back as an operator would */
	listing = nft_cli("-j list table ip skiff-test");
	assert_non_null(strstr(listing, "\"name\": \"service-ips\""));
	assert_non_null(strstr(listing, "endpoint-34S3JDDJ-default/web/tcp/http__10.42.7.2/8080"));

	/* the endpoint moves to another namespace */
	model_slice(m, slice("default", "web-1", "web", EP_PORT_HTTP, e2));
	change_sync(m, &rc, 10);
	expect_reply("10.43.0.80", 80, "ep2");

	/* no endpoints: refused at once, not timed out */
	model_slice(m, slice("default", "web-1", "web", EP_PORT_HTTP, ""));
	change_sync(m, &rc, 20);
	got = fetch("10.43.0.80", 80, &e);
	assert_null(got);
	assert_int_equal(e, ECONNREFUSED);
	/* a port the ClusterIP does not serve is refused too */
	got = fetch("10.43.0.80", 81, &e);
	assert_null(got);
	assert_int_equal(e, ECONNREFUSED);

	/* back again, and the stale chains go after their second */
	model_slice(m, slice("default", "web-1", "web", EP_PORT_HTTP, e1));
	change_sync(m, &rc, 30);
	expect_reply("10.43.0.80", 80, "ep1");
	change_sync(m, &rc, 2000);
	free(listing);
	listing = nft_cli("list table ip skiff-test");
	assert_null(strstr(listing, "10.42.8.2/8080"));
	sp_model_free(m);
}

static void test_kernel_hairpin_is_masqueraded(void **state)
{
	struct sp_rules_config rc = rules_cfg("skiff-test");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e1 = ep(ep1.ip, NODE, true);

	(void)state;
	KERN_REQUIRE();
	model_service(m, service("default", "self", "10.43.0.81", PORT_HTTP, ""));
	model_slice(m, slice("default", "self-1", "self", EP_PORT_HTTP, e1));
	full_sync(m, &rc);
	/* the endpoint reaches itself through its service and gets the reply */
	assert_int_equal(fetch_from(&ep1, "10.43.0.81", 80, "ep1"), 0);
	/* a pod elsewhere reaches it too, through the node's routing */
	assert_int_equal(fetch_from(&ep2, "10.43.0.81", 80, "ep1"), 0);
	sp_model_free(m);
}

static void test_kernel_node_port_answers_on_local_addresses(void **state)
{
	struct sp_rules_config rc = rules_cfg("skiff-test");
	struct sp_model *m = sp_model_new();
	cleanup_free char *e2 = ep(ep2.ip, "other", true);

	(void)state;
	KERN_REQUIRE();
	model_service(m, service("default", "np", "10.43.0.82",
				 "{\"name\": \"http\", \"port\": 80, \"nodePort\": 30080}",
				 ", \"type\": \"NodePort\""));
	model_slice(m, slice("default", "np-1", "np", EP_PORT_HTTP, e2));
	full_sync(m, &rc);
	expect_reply("10.43.0.82", 80, "ep2");
	expect_reply("10.42.7.1", 30080, "ep2");
	expect_reply("127.0.0.1", 30080, "ep2");
	/* from a pod to the node's address */
	assert_int_equal(fetch_from(&ep1, "10.42.8.1", 30080, "ep2"), 0);
	sp_model_free(m);
}

static void test_kernel_restart_replaces_the_table_without_duplicates(void **state)
{
	struct sp_rules_config rc = rules_cfg("skiff-test");
	struct sp_model *a = sp_model_new(), *b = sp_model_new();
	cleanup_free char *e1 = ep(ep1.ip, NODE, true);
	cleanup_free char *first = NULL, *second = NULL, *third = NULL;

	(void)state;
	KERN_REQUIRE();
	model_service(a, service("default", "web", "10.43.0.80", PORT_HTTP,
				 ", \"sessionAffinity\": \"ClientIP\""));
	model_slice(a, slice("default", "web-1", "web", EP_PORT_HTTP, e1));
	full_sync(a, &rc);
	first = nft_cli("list table ip skiff-test");
	/* a leftover of an earlier run that the new one knows nothing of */
	apply("add chain ip skiff-test service-XXXXXXXX-old/gone/tcp/x\n");
	/* a restart: a new model with the same objects */
	model_service(b, service("default", "web", "10.43.0.80", PORT_HTTP,
				 ", \"sessionAffinity\": \"ClientIP\""));
	model_slice(b, slice("default", "web-1", "web", EP_PORT_HTTP, e1));
	full_sync(b, &rc);
	second = nft_cli("list table ip skiff-test");
	assert_string_equal(first, second);
	assert_int_equal(count_of(second, "dnat to 10.42.7.2:8080"), 1);
	expect_reply("10.43.0.80", 80, "ep1");

	/* stop leaves rules; cleanup removes them, twice without complaint */
	{
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(svcproxy_cleanup("skiff-test", &err), 0);
		assert_int_equal(svcproxy_cleanup("skiff-test", &err), 0);
	}
	third = nft_cli("list tables");
	lacks(third, "skiff-test");
	sp_model_free(a);
	sp_model_free(b);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_kernel_one_change_among_a_thousand_services(void **state)
{
	struct sp_rules_config rc = rules_cfg("skiff-bench");
	struct sp_model *m = sp_model_new();
	cleanup_free char *full = NULL, *change = NULL;
	cleanup_err struct err err = ERR_INIT;
	struct timespec t0;
	double full_ms, change_ms;

	(void)state;
	KERN_REQUIRE();
	for (unsigned i = 0; i < 1000; i++) {
		char name[32], ip[32], slice_name[40];
		cleanup_free char *a1 = ep("10.42.20.1", "b", true),
				  *a2 = ep("10.42.20.2", "b", true);
		cleanup_free char *e = NULL;

		snprintf(name, sizeof(name), "svc-%u", i);
		snprintf(slice_name, sizeof(slice_name), "svc-%u-1", i);
		snprintf(ip, sizeof(ip), "10.43.%u.%u", 10 + i / 200, 1 + i % 200);
		model_service(m, service("bench", name, ip, PORT_HTTP, ""));
		e = xasprintf("%s, %s", a1, a2);
		model_slice(m, slice("bench", slice_name, name, EP_PORT_HTTP, e));
	}
	full = sp_render_full(m, &rc);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sp_nft_run(nft, full, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	full_ms = ms_since(&t0);
	sp_model_commit(m, true, 0);

	{
		cleanup_free char *e = xasprintf("%s", "{\"addresses\": [\"10.42.20.3\"]}");

		model_slice(m, slice("bench", "svc-500-1", "svc-500", EP_PORT_HTTP, e));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	change = sp_render_changes(m, &rc, 10);
	assert_non_null(change);
	if (sp_nft_run(nft, change, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	change_ms = ms_since(&t0);
	sp_model_commit(m, true, 10);
	print_message("# 1,000 services: full sync %.1f ms (%zu bytes), one endpoint change "
		      "%.1f ms (%zu bytes)\n",
		      full_ms, strlen(full), change_ms, strlen(change));
	assert_int_equal(svcproxy_cleanup("skiff-bench", &err), 0);
	sp_model_free(m);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_chain_names_hash_like_upstream),
		cmocka_unit_test(test_service_parse_reads_ports_and_policies),
		cmocka_unit_test(test_service_parse_skips_headless_and_external_names),
		cmocka_unit_test(test_service_parse_rejects_bad_fields_naming_them),
		cmocka_unit_test(test_slice_parse_reads_conditions_and_locality),
		cmocka_unit_test(test_render_full_builds_base_chains_and_replaces_the_table),
		cmocka_unit_test(test_render_cluster_ip_picks_a_random_ready_endpoint),
		cmocka_unit_test(test_render_service_without_endpoints_rejects),
		cmocka_unit_test(test_render_terminating_endpoints_serve_when_none_is_ready),
		cmocka_unit_test(test_render_node_port_masquerades_and_dispatches),
		cmocka_unit_test(test_render_local_external_policy_drops_without_local_endpoints),
		cmocka_unit_test(test_render_local_internal_policy_uses_local_endpoints_only),
		cmocka_unit_test(test_render_client_ip_affinity_uses_timed_sets),
		cmocka_unit_test(test_render_changes_touch_only_the_changed_service),
		cmocka_unit_test(test_render_failed_commit_forgets_the_transaction),
		cmocka_unit_test(test_config_rejects_bad_values),
	};
	const struct CMUnitTest kernel[] = {
		cmocka_unit_test(test_kernel_cluster_ip_reaches_endpoints_and_follows_changes),
		cmocka_unit_test(test_kernel_hairpin_is_masqueraded),
		cmocka_unit_test(test_kernel_node_port_answers_on_local_addresses),
		cmocka_unit_test(test_kernel_restart_replaces_the_table_without_duplicates),
		cmocka_unit_test(test_kernel_one_change_among_a_thousand_services),
	};
	int r = cmocka_run_group_tests_name("proxy_rules", pure, NULL, NULL);

	return r | cmocka_run_group_tests_name("proxy_kernel", kernel, kern_setup, kern_teardown);
}
