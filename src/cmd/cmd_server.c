/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skiff server: the control plane. Flags follow k3s so that habits carry over. On first
 * start it makes the cluster's CA and serving certificate, the admin token and the join
 * token under --data-dir; it writes a kubeconfig for the admin and serves the Kubernetes
 * API until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/agent/agent.h"
#include "cluster/api/api.h"
#include "cluster/api/pki.h"
#include "cluster/client/client.h"
#include "cluster/controllers/controllers.h"
#include "cluster/dns/dns.h"
#include "cluster/scheduler/scheduler.h"
#include "cmd/cmd.h"

#define DEFAULT_DATA_DIR   "/var/lib/skiff"
#define DEFAULT_KUBECONFIG "/etc/skiff/kubeconfig.yaml"

static int usage(FILE *f)
{
	fprintf(f,
		"usage: skiff server [flags]\n\n"
		"Runs the control plane: the Kubernetes API on HTTPS (kubectl is the client).\n\n"
		"flags:\n"
		"  --data-dir DIR              state (default %s, or $SKIFF_DATA_DIR)\n"
		"  --bind-address ADDR         address to listen on (default all)\n"
		"  --https-listen-port PORT    API port (default 6443)\n"
		"  --advertise-address ADDR    address clients and agents use (default 127.0.0.1)\n"
		"  --tls-san NAME              extra name or address for the certificate "
		"(repeatable)\n"
		"  --write-kubeconfig PATH     admin kubeconfig (default %s)\n"
		"  --token TOKEN               join token for agents (default: generated)\n"
		"  --token-file PATH           read the join token from PATH\n"
		"  --datastore-endpoint URL    etcd (http://HOST:2379,...); default embedded "
		"SQLite\n"
		"  --service-cidr CIDR         service addresses (default 10.43.0.0/16)\n"
		"  --cluster-cidr CIDR         pod addresses (default 10.42.0.0/16)\n"
		"  --cluster-dns ADDR          cluster DNS address (default 10.43.0.10)\n"
		"  --node-name NAME            this node's name (default the hostname)\n"
		"  --disable-agent             run no node agent on this machine\n"
		"  --node-ip IP                the node's address (default: --advertise-address)\n"
		"  --kubelet-port N            the node agent's HTTPS port (default 10250)\n"
		"  --pod-log-dir DIR           container logs (default /var/log/skiff/pods)\n"
		"  --cgroup-root PATH          parent cgroup of all pods (default /kubepods)\n"
		"  --insecure-registry H       pull from registry H (host:port) over plain HTTP\n"
		"  --flannel-backend B         between nodes: vxlan (default) or host-gw\n"
		"  --cluster-domain D          the cluster's DNS domain (default cluster.local)\n"
		"  --dns-upstream HOST[:PORT]  where the cluster DNS forwards other names\n"
		"                              (repeatable; default: /etc/resolv.conf's)\n"
		"  --disable-dns               run no cluster DNS\n"
		"  --disable-kube-proxy        run no service proxy on this node\n"
		"  --image-gc-high-threshold P, --image-gc-low-threshold P, --eviction-hard\n"
		"  memory.available<Q, --housekeeping-interval D: as for skiff agent\n"
		"  --watch-cache-size N        changes kept for watches to resume from "
		"(default 65536)\n"
		"  --disable-scheduler         run no scheduler\n"
		"  --disable-controller-manager  run no controllers\n"
		"  --node-monitor-grace-period D  silence before a node is NotReady (default "
		"40s)\n"
		"  --node-monitor-period D     how often nodes are checked (default 5s)\n"
		"  --default-not-ready-toleration-seconds N   (default 300)\n"
		"  --default-unreachable-toleration-seconds N (default 300)\n"
		"  --node-eviction-rate R      nodes a second tainted NoExecute per zone "
		"(default 0.1)\n"
		"  --secondary-node-eviction-rate R  the same in a zone with most nodes not "
		"Ready\n"
		"                              (default 0.01; 0 there for a zone of at most\n"
		"                              --large-cluster-size-threshold N nodes, default "
		"50)\n"
		"  --unhealthy-zone-threshold F  share of a zone's nodes not Ready that slows "
		"it\n"
		"                              (default 0.55); with none Ready anywhere, no "
		"node\n"
		"                              is tainted NoExecute\n"
		"  --debug                     log debug messages\n",
		DEFAULT_DATA_DIR, DEFAULT_KUBECONFIG);
	return f == stderr ? 2 : 0;
}

/* Reads a token file (first line) or makes and saves a new token. */
static int token_at(const char *path, bool create, char **ret, struct err *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	char tok[65];
	int r = fs_read_file(AT_FDCWD, path, &buf, &len, err);

	if (r == 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!buf[0])
			return err_set(err, EINVAL, "token file %s is empty", path);
		*ret = TAKE_PTR(buf);
		return 0;
	}
	if (r != -ENOENT || !create)
		return r;
	err_clear(err);
	r = pki_token(tok, sizeof(tok), err);
	if (r < 0)
		return r;
	r = fs_write_atomic(AT_FDCWD, path, tok, strlen(tok), 0600, err);
	if (r < 0)
		return r;
	*ret = xstrdup(tok);
	return 0;
}

static int write_kubeconfig(const char *path, const char *server, const char *ca_pem,
			    const char *token, struct err *err)
{
	cleanup_free char *ca = b64_encode(ca_pem, strlen(ca_pem), false);
	cleanup_free char *dir = xstrdup(path);
	cleanup_free char *doc = NULL;
	char *slash = strrchr(dir, '/');

	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_mkdir_p(dir, 0755, err) < 0)
			return err_wrap(err, "write the kubeconfig %s", path);
	}
	doc = xasprintf("apiVersion: v1\n"
			"kind: Config\n"
			"clusters:\n"
			"- name: skiff\n"
			"  cluster:\n"
			"    server: %s\n"
			"    certificate-authority-data: %s\n"
			"users:\n"
			"- name: admin\n"
			"  user:\n"
			"    token: %s\n"
			"contexts:\n"
			"- name: skiff\n"
			"  context:\n"
			"    cluster: skiff\n"
			"    user: admin\n"
			"current-context: skiff\n",
			server, ca, token);
	if (fs_write_atomic(AT_FDCWD, path, doc, strlen(doc), 0600, err) < 0)
		return err_wrap(err, "write the kubeconfig %s", path);
	return 0;
}

/* A period flag @flag = @value in whole seconds, at least 1; -1 (said) otherwise. */
static int64_t period_seconds(const char *flag, const char *value, const char *example)
{
	int64_t ms = cmd_duration_ms(value);

	if (ms >= 1000)
		return ms / 1000;
	fprintf(stderr, "skiff server: %s takes a duration of 1s or more such as %s, not '%s'\n",
		flag, example, value ? value : "");
	return -1;
}

/* A number in [@min, @max] (HUGE_VAL: no bound) for @flag, or -1 after saying why not. */
static double number_flag(const char *flag, const char *value, double min, double max)
{
	char *end = NULL;
	double v = value && *value ? strtod(value, &end) : -1;

	if (end && !*end && v >= min && v <= max && !isinf(v))
		return v;
	if (!isinf(max))
		fprintf(stderr, "skiff server: %s takes a number from %g to %g, not '%s'\n", flag,
			min, max, value ? value : "");
	else
		fprintf(stderr, "skiff server: %s takes a number of %g or more, not '%s'\n", flag,
			min, value ? value : "");
	return -1;
}

static bool is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* The first address of the service network: the "kubernetes" service's ClusterIP. */
static char *first_service_ip(const char *cidr)
{
	char buf[64];
	struct in_addr a;
	const char *slash = strchr(cidr, '/');

	if (!slash || (size_t)(slash - cidr) >= sizeof(buf))
		return NULL;
	memcpy(buf, cidr, (size_t)(slash - cidr));
	buf[slash - cidr] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return NULL;
	a.s_addr = htonl(ntohl(a.s_addr) + 1);
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return xstrdup(buf);
}

int cmd_server(int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *data_dir = getenv("SKIFF_DATA_DIR"), *bind = NULL, *advertise = NULL;
	const char *kubeconfig = DEFAULT_KUBECONFIG, *token_opt = NULL, *token_file = NULL;
	const char *endpoint = NULL, *service_cidr = "10.43.0.0/16";
	const char *cluster_cidr = "10.42.0.0/16", *cluster_dns = "10.43.0.10";
	const char *node_name = NULL, *node_ip = NULL, *pod_log_dir = NULL, *cgroup_root = NULL;
	cleanup_free char **sans = NULL, **insecure = NULL;
	int agent_port = 10250;
	struct cmd_agent_flags tuning = {.gc_high = 85, .gc_low = 80};
	const char *flannel = NULL, *domain = "cluster.local";
	cleanup_free char **upstreams = NULL;
	bool no_dns = false, no_proxy = false;
	struct dns_server *dns_srv = NULL;
	int port = 6443, watch_cache = 0;
	bool disable_agent = false, debug = false, help = false;
	bool no_scheduler = false, no_controllers = false;
	const char *grace_s = "40s", *period_s = "5s";
	const char *rate_s = "0.1", *secondary_s = "0.01", *unhealthy_s = "0.55";
	int not_ready_tol = 300, unreachable_tol = 300, large_cluster = 50;
	struct flag flags[] = {
		{"data-dir", 'd', FLAG_STR, &data_dir},
		{"bind-address", 0, FLAG_STR, &bind},
		{"https-listen-port", 0, FLAG_INT, &port},
		{"advertise-address", 0, FLAG_STR, &advertise},
		{"tls-san", 0, FLAG_LIST, &sans},
		{"write-kubeconfig", 'o', FLAG_STR, &kubeconfig},
		{"token", 't', FLAG_STR, &token_opt},
		{"token-file", 0, FLAG_STR, &token_file},
		{"datastore-endpoint", 0, FLAG_STR, &endpoint},
		{"service-cidr", 0, FLAG_STR, &service_cidr},
		{"cluster-cidr", 0, FLAG_STR, &cluster_cidr},
		{"cluster-dns", 0, FLAG_STR, &cluster_dns},
		{"node-name", 0, FLAG_STR, &node_name},
		{"disable-agent", 0, FLAG_BOOL, &disable_agent},
		{"node-ip", 0, FLAG_STR, &node_ip},
		{"kubelet-port", 0, FLAG_INT, &agent_port},
		{"pod-log-dir", 0, FLAG_STR, &pod_log_dir},
		{"cgroup-root", 0, FLAG_STR, &cgroup_root},
		{"insecure-registry", 0, FLAG_LIST, &insecure},
		{"flannel-backend", 0, FLAG_STR, &flannel},
		{"cluster-domain", 0, FLAG_STR, &domain},
		{"dns-upstream", 0, FLAG_LIST, &upstreams},
		{"disable-dns", 0, FLAG_BOOL, &no_dns},
		{"disable-kube-proxy", 0, FLAG_BOOL, &no_proxy},
		{"image-gc-high-threshold", 0, FLAG_INT, &tuning.gc_high},
		{"image-gc-low-threshold", 0, FLAG_INT, &tuning.gc_low},
		{"eviction-hard", 0, FLAG_STR, &tuning.eviction},
		{"housekeeping-interval", 0, FLAG_STR, &tuning.housekeeping},
		{"watch-cache-size", 0, FLAG_INT, &watch_cache},
		{"disable-scheduler", 0, FLAG_BOOL, &no_scheduler},
		{"disable-controller-manager", 0, FLAG_BOOL, &no_controllers},
		{"node-monitor-grace-period", 0, FLAG_STR, &grace_s},
		{"node-monitor-period", 0, FLAG_STR, &period_s},
		{"node-eviction-rate", 0, FLAG_STR, &rate_s},
		{"secondary-node-eviction-rate", 0, FLAG_STR, &secondary_s},
		{"unhealthy-zone-threshold", 0, FLAG_STR, &unhealthy_s},
		{"large-cluster-size-threshold", 0, FLAG_INT, &large_cluster},
		{"default-not-ready-toleration-seconds", 0, FLAG_INT, &not_ready_tol},
		{"default-unreachable-toleration-seconds", 0, FLAG_INT, &unreachable_tol},
		{"debug", 0, FLAG_BOOL, &debug},
		{"help", 'h', FLAG_BOOL, &help},
		{NULL, 0, 0, NULL},
	};
	cleanup_free char *server_dir = NULL, *tls_dir = NULL, *admin_token = NULL;
	cleanup_free char *join_token = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	cleanup_free char *url = NULL, *svc_ip = NULL, *sa_key = NULL;
	char host[256] = "localhost";
	const char *dns[16], *ips[16];
	size_t nd = 0, ni = 0;
	struct api_config cfg = {0};
	struct controllers_config ctl_cfg = {0};
	struct api *api = NULL;
	struct kc *client = NULL;
	struct scheduler *sched = NULL;
	struct controllers *ctl = NULL;
	struct agent *agent = NULL;
	struct agent_config agent_cfg = {0};
	sigset_t set;
	int n, sig;

	if (flags_parse(flags, argc - 1, argv + 1, false, &n, &err) < 0) {
		cmd_fail("server", &err);
		return usage(stderr);
	}
	if (help)
		return usage(stdout);
	if (n > 0) {
		fprintf(stderr, "skiff server: unexpected argument '%s'\n", argv[1]);
		return usage(stderr);
	}
	log_setup(NULL, LOG_FORMAT_TEXT, debug ? LOG_DEBUG : LOG_INFO);
	log_set_component("server");
	/*
	 * Lists and watch queues take buffers of many MiB on any of the request workers.
	 * glibc's mmap threshold rises after each such buffer is freed, and the next ones
	 * then stay in the freeing thread's arena: a fixed 1 MiB threshold gives them back
	 * (bench/apiserver.sh: 212 -> 97 MiB at 10,300 pods). Only for glibc's allocator:
	 * without mimalloc (base/allocator.h), or with SKIFF_MALLOC=libc.
	 */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (port < 0 || port > 65535) {
		fprintf(stderr, "skiff server: --https-listen-port %d: expected 0 to 65535\n",
			port);
		return 2;
	}
	if (!data_dir || !*data_dir)
		data_dir = DEFAULT_DATA_DIR;
	if (!advertise)
		advertise = "127.0.0.1";
	if (!is_ip(advertise)) {
		fprintf(stderr, "skiff server: --advertise-address %s: not an IP address\n",
			advertise);
		return 2;
	}
	ctl_cfg.node_monitor_grace_period =
		period_seconds("--node-monitor-grace-period", grace_s, "40s or 2m");
	if (ctl_cfg.node_monitor_grace_period < 0)
		return 2;
	ctl_cfg.node_monitor_period = period_seconds("--node-monitor-period", period_s, "5s");
	if (ctl_cfg.node_monitor_period < 0)
		return 2;
	if (not_ready_tol < 0 || unreachable_tol < 0) {
		fprintf(stderr,
			"skiff server: --default-%s-toleration-seconds must not be "
			"negative, not %d\n",
			not_ready_tol < 0 ? "not-ready" : "unreachable",
			not_ready_tol < 0 ? not_ready_tol : unreachable_tol);
		return 2;
	}
	ctl_cfg.default_unreachable_toleration = unreachable_tol;
	ctl_cfg.rates_set = true;
	ctl_cfg.node_eviction_rate = number_flag("--node-eviction-rate", rate_s, 0, HUGE_VAL);
	ctl_cfg.secondary_node_eviction_rate =
		number_flag("--secondary-node-eviction-rate", secondary_s, 0, HUGE_VAL);
	ctl_cfg.unhealthy_zone_threshold =
		number_flag("--unhealthy-zone-threshold", unhealthy_s, 0, 1);
	if (ctl_cfg.node_eviction_rate < 0 || ctl_cfg.secondary_node_eviction_rate < 0 ||
	    ctl_cfg.unhealthy_zone_threshold < 0)
		return 2;
	if (large_cluster < 0) {
		fprintf(stderr,
			"skiff server: --large-cluster-size-threshold must not be negative, not "
			"%d\n",
			large_cluster);
		return 2;
	}
	ctl_cfg.large_cluster_size_threshold = large_cluster;
	ctl_cfg.workers = 2;
	svc_ip = first_service_ip(service_cidr);
	if (!svc_ip) {
		fprintf(stderr, "skiff server: --service-cidr %s: expected an IPv4 network\n",
			service_cidr);
		return 2;
	}
	if (cmd_agent_tuning(&agent_cfg, &tuning, &err) < 0) {
		cmd_fail("server", &err);
		return 2;
	}
	if (agent_port <= 0 || agent_port > 65535) {
		fprintf(stderr, "skiff server: --kubelet-port %d: expected 1 to 65535\n",
			agent_port);
		return 2;
	}

	server_dir = xasprintf("%s/server", data_dir);
	tls_dir = xasprintf("%s/server/tls", data_dir);
	if (fs_mkdir_p(server_dir, 0700, &err) < 0)
		return cmd_fail("server", &err);

	gethostname(host, sizeof(host) - 1);
	dns[nd++] = "localhost";
	dns[nd++] = "kubernetes";
	dns[nd++] = "kubernetes.default";
	dns[nd++] = "kubernetes.default.svc";
	dns[nd++] = "kubernetes.default.svc.cluster.local";
	dns[nd++] = host;
	ips[ni++] = "127.0.0.1";
	ips[ni++] = "::1";
	ips[ni++] = svc_ip;
	if (strcmp(advertise, "127.0.0.1") != 0)
		ips[ni++] = advertise;
	for (char **s = sans; s && *s && nd < 15 && ni < 15; s++) {
		if (is_ip(*s))
			ips[ni++] = *s;
		else
			dns[nd++] = *s;
	}
	dns[nd] = NULL;
	ips[ni] = NULL;
	if (pki_ensure(tls_dir, dns, ips, &err) < 0 ||
	    pki_load(tls_dir, &cert, &key, &ca, &err) < 0)
		return cmd_fail("server", &err);

	{
		cleanup_free char *p = xasprintf("%s/admin-token", server_dir);

		if (token_at(p, true, &admin_token, &err) < 0)
			return cmd_fail("server", &err);
	}
	if (token_opt && *token_opt) {
		cleanup_free char *p = xasprintf("%s/token", server_dir);

		join_token = xstrdup(token_opt);
		if (fs_write_atomic(AT_FDCWD, p, join_token, strlen(join_token), 0600, &err) < 0)
			return cmd_fail("server", &err);
	} else if (token_file) {
		if (token_at(token_file, false, &join_token, &err) < 0)
			return cmd_fail("server", &err);
	} else {
		cleanup_free char *p = xasprintf("%s/token", server_dir);

		if (token_at(p, true, &join_token, &err) < 0)
			return cmd_fail("server", &err);
	}

	{
		cleanup_free char *p = xasprintf("%s/service-account.key", server_dir);

		if (token_at(p, true, &sa_key, &err) < 0)
			return cmd_fail("server", &err);
	}

	/* signals are taken by sigwait below; every thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	cfg.data_dir = data_dir;
	cfg.datastore_endpoint = endpoint;
	cfg.bind_address = bind;
	cfg.port = (uint16_t)port;
	cfg.advertise_address = advertise;
	cfg.admin_token = admin_token;
	cfg.node_token = join_token;
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	cfg.ca_pem = ca;
	cfg.sa_key = sa_key;
	cfg.service_cidr = service_cidr;
	cfg.cluster_cidr = cluster_cidr;
	cfg.watch_history = watch_cache > 0 ? (size_t)watch_cache : 0;
	cfg.not_ready_toleration = not_ready_tol ? not_ready_tol : 1;
	cfg.unreachable_toleration = unreachable_tol ? unreachable_tol : 1;
	if (api_start(&cfg, &api, &err) < 0)
		return cmd_fail("server", &err);

	url = xasprintf("https://%s%s%s:%u", strchr(advertise, ':') ? "[" : "", advertise,
			strchr(advertise, ':') ? "]" : "", api_port(api));
	if (write_kubeconfig(kubeconfig, url, ca, admin_token, &err) < 0) {
		api_stop(api);
		return cmd_fail("server", &err);
	}
	if ((!no_scheduler || !no_controllers || !disable_agent || !no_dns) &&
	    kc_local(api, &client, &err) < 0)
		goto fail;
	if (!no_scheduler && scheduler_start(client, &sched, &err) < 0)
		goto fail;
	if (!no_controllers && controllers_start(client, &ctl_cfg, &ctl, &err) < 0)
		goto fail;
	if (!disable_agent) {
		agent_cfg.node_name = node_name ? node_name : host;
		agent_cfg.node_ip = node_ip ? node_ip : advertise;
		agent_cfg.data_dir = data_dir;
		agent_cfg.log_dir = pod_log_dir;
		agent_cfg.cgroup_root = cgroup_root;
		agent_cfg.cluster_dns = cluster_dns;
		agent_cfg.join_token = join_token;
		agent_cfg.port = (uint16_t)agent_port;
		agent_cfg.insecure_registries = (const char *const *)insecure;
		agent_cfg.network_mode = flannel;
		agent_cfg.no_proxy = no_proxy;
		agent_cfg.cluster_cidr = cluster_cidr;
		agent_cfg.service_cidr = service_cidr;
		agent_cfg.cluster_domain = domain;
		if (agent_start(client, &agent_cfg, &agent, &err) < 0)
			goto fail;
	}
	if (!no_dns) {
		/*
		 * The DNS answers on this node's pod bridge when an agent runs here: every pod
		 * of the cluster reaches that address (other nodes route to this node's pod
		 * network), and kube-dns (10.43.0.10) is proxied to it on every node.
		 */
		const char *gw = agent_pod_gateway(agent);
		struct dns_config dc = {
			.listen_ip = gw ? gw : advertise,
			.port = 53,
			.domain = domain,
			.cluster_dns_ip = cluster_dns,
			.upstreams = (const char *const *)upstreams,
			.publish_service = true,
		};

		if (dns_start(client, &dc, &dns_srv, &err) < 0) {
			err_wrap(&err, "cluster DNS");
			goto fail;
		}
		log_info("cluster DNS on %s:53 (service %s)", dc.listen_ip, cluster_dns);
	}
	log_info("API server listening on %s (store: %s)", url,
		 endpoint && *endpoint ? endpoint : "sqlite");
	log_info("kubeconfig written to %s: export KUBECONFIG=%s", kubeconfig, kubeconfig);
	log_info("join agents with: skiff agent --server %s --token-file %s/token", url,
		 server_dir);

	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGHUP);
	log_info("signal %d: shutting down", sig);
	dns_stop(dns_srv);
	agent_stop(agent);
	controllers_stop(ctl);
	scheduler_stop(sched);
	kc_free(client);
	api_stop(api);
	return 0;
fail:
	dns_stop(dns_srv);
	agent_stop(agent);
	controllers_stop(ctl);
	scheduler_stop(sched);
	kc_free(client);
	api_stop(api);
	return cmd_fail("server", &err);
}
