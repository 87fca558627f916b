/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the running service proxy (cluster/proxy/proxy.c) against an in-process
 * API server: Services and EndpointSlices written through the API reach the nftables
 * table through the informers, a restart resyncs, stop leaves the rules. As root, inside
 * a network namespace the test unshares.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/proxy/proxy.h"

#define NS    "proxy-test"
#define TABLE "skiff-svcproxy-test"

static const char *skip_reason;
static char tmpdir[64];
static struct api *api;
static struct kc *kc;

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

static void request(const char *method, const char *path, json_t *body, int want)
{
	cleanup_err struct err err = ERR_INIT;
	int r = kc_request(kc, method, path, NULL, body, NULL, &err);

	json_decref(body);
	if (r != want)
		fail_msg("%s %s: %d, want %d: %s", method, path, r, want, err.msg);
}

static char *nft_list(void)
{
	FILE *f = popen("nft list table ip " TABLE " 2>&1", "r");
	char *out = xcalloc(1, 1 << 20);
	size_t n = 0, r;

	assert_non_null(f);
	while ((r = fread(out + n, 1, (1 << 20) - 1 - n, f)) > 0)
		n += r;
	pclose(f);
	return out;
}

static struct svcproxy *start_proxy(void)
{
	cleanup_err struct err err = ERR_INIT;
	struct svcproxy_config cfg = {.node_name = "node-a",
				      .cluster_cidr = "10.42.0.0/16",
				      .service_cidr = "10.43.0.0/16",
				      .table = TABLE,
				      .no_sysctls = true};
	struct svcproxy *p = NULL;

	if (svcproxy_start(kc, &cfg, &p, &err) < 0)
		fail_msg("start proxy: %s", err.msg);
	if (!svcproxy_wait_idle(p, 10000))
		fail_msg("proxy did not sync");
	return p;
}

static json_t *endpoint_slice(const char *ip)
{
	return js("{\"apiVersion\": \"discovery.k8s.io/v1\", \"kind\": \"EndpointSlice\", "
		  "\"metadata\": {\"name\": \"web-1\", \"namespace\": \"" NS "\", \"labels\": "
		  "{\"kubernetes.io/service-name\": \"web\"}}, \"addressType\": \"IPv4\", "
		  "\"ports\": [{\"name\": \"http\", \"port\": 8080, \"protocol\": \"TCP\"}], "
		  "\"endpoints\": [{\"addresses\": [\"%s\"], \"nodeName\": \"node-a\", "
		  "\"conditions\": {\"ready\": true}}]}",
		  ip);
}

static void test_proxy_follows_services_and_slices(void **state)
{
	cleanup_free char *first = NULL, *second = NULL, *third = NULL, *fourth = NULL;
	struct svcproxy_stats st;
	struct svcproxy *p;

	(void)state;
	if (skip_reason) {
		print_message("# skip: %s\n", skip_reason);
		skip();
	}
	request("POST", "/api/v1/namespaces/" NS "/services",
		js("{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": "
		   "\"web\"}, \"spec\": {\"clusterIP\": \"10.43.7.7\", \"ports\": [{\"name\": "
		   "\"http\", \"port\": 80, \"targetPort\": 8080}]}}"),
		201);
	p = start_proxy();
	first = nft_list();
	/* no slice yet: rejected */
	assert_non_null(strstr(first, "10.43.7.7 . tcp . 80 comment \"proxy-test/web:http\" : goto "
				      "reject-chain"));

	request("POST", "/apis/discovery.k8s.io/v1/namespaces/" NS "/endpointslices",
		endpoint_slice("10.42.0.17"), 201);
	/* wait_idle only knows of changes already delivered: wait for the change to arrive */
	for (int i = 0; i < 200; i++) {
		svcproxy_sync_stats(p, &st);
		if (st.endpoints == 1)
			break;
		usleep(10000);
	}
	assert_true(svcproxy_wait_idle(p, 5000));
	second = nft_list();
	assert_non_null(strstr(second, "dnat to 10.42.0.17:8080"));
	assert_null(strstr(second, "reject-chain }"));
	svcproxy_sync_stats(p, &st);
	assert_int_equal(st.full_syncs, 1);
	assert_true(st.syncs >= 2);
	assert_int_equal(st.failures, 0);
	assert_int_equal(st.service_ports, 1);
	assert_int_equal(st.endpoints, 1);
	print_message("# last transaction %.2f ms\n", st.last_ms);

	/* stop leaves the rules; a new proxy resyncs to the same table */
	svcproxy_stop(p);
	third = nft_list();
	assert_string_equal(second, third);
	p = start_proxy();
	fourth = nft_list();
	assert_string_equal(third, fourth);
	svcproxy_stop(p);
	{
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(svcproxy_cleanup(TABLE, &err), 0);
	}
}

static void test_proxy_start_rejects_bad_config(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct svcproxy_config cfg = {
		.node_name = "n", .cluster_cidr = "10.42.0.0/16", .service_cidr = "bogus"};
	struct svcproxy *p = NULL;

	(void)state;
	if (skip_reason)
		skip();
	assert_int_equal(svcproxy_start(kc, &cfg, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "service CIDR 'bogus' is not an IPv4 CIDR"));
	assert_null(p);
	err_clear(&err);
	cfg.node_name = NULL;
	assert_int_equal(svcproxy_start(kc, &cfg, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node name: missing"));
}

static int setup(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *dir = NULL;
	struct api_config cfg = {.bind_address = "127.0.0.1",
				 .admin_token = "admin",
				 .node_token = "node",
				 .threads = 2};

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0 ||
	    system("nft --version >/dev/null 2>&1") || system("ip link set lo up")) {
		skip_reason = "needs root, a network namespace and the nft command";
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skiff-test-svcproxy-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	dir = xasprintf("%s/server", tmpdir);
	cfg.data_dir = dir;
	if (api_start(&cfg, &api, &err) < 0 || kc_local(api, &kc, &err) < 0) {
		fail_msg("API server: %s", err.msg);
		return -1;
	}
	request("POST", "/api/v1/namespaces",
		js("{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": "
		   "\"" NS "\"}}"),
		201);
	return 0;
}

static int teardown(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	kc_free(kc);
	if (api)
		api_stop(api);
	if (tmpdir[0])
		fs_remove_tree(AT_FDCWD, tmpdir, &err);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proxy_follows_services_and_slices),
		cmocka_unit_test(test_proxy_start_rejects_bad_config),
	};

	return cmocka_run_group_tests_name("svcproxy", tests, setup, teardown);
}
