/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skiff agent: the node agent joining a cluster (cluster/agent/agent.h). Also the two
 * helpers it starts, which are not for users: `skiff shim` (the monitor of one container)
 * and `skiff pause` (the process holding a pod sandbox's namespaces).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/agent/agent.h"
#include "cluster/agent/shim.h"
#include "cluster/api/auth.h"
#include "cluster/client/client.h"
#include "cmd/cmd.h"
#include "runtime/runtime.h"

#define DEFAULT_DATA_DIR "/var/lib/skiff"

static int usage(FILE *f)
{
	fprintf(f,
		"usage: skiff agent --server URL (--token T | --token-file F) [flags]\n\n"
		"Runs this machine as a node of the cluster: registers it, runs the pods the\n"
		"scheduler binds to it, and serves their logs, exec and port-forward.\n\n"
		"flags:\n"
		"  --server URL            the API server (https://HOST:6443)\n"
		"  --token T               the cluster's join token\n"
		"  --token-file F          read the join token from F\n"
		"  --ca-file F             the cluster CA (default: the system's trust store)\n"
		"  --data-dir DIR          state, images and volumes (default /var/lib/skiff)\n"
		"  --node-name NAME        the Node's name (default: the host name)\n"
		"  --node-ip IP            the node's address (default: the one that reaches\n"
		"                          the server)\n"
		"  --kubelet-port N        the agent's HTTPS port (default 10250)\n"
		"  --pod-log-dir DIR       container logs (default /var/log/skiff/pods)\n"
		"  --cgroup-root PATH      parent cgroup of all pods (default /kubepods)\n"
		"  --cluster-dns IP        the pods' nameserver (default 10.43.0.10)\n"
		"  --cluster-domain D      the cluster's DNS domain (default cluster.local)\n"
		"  --insecure-registry H   pull from registry H (host:port) over plain HTTP\n"
		"                          (repeatable)\n"
		"  --image-gc-high-threshold P  disk use (%%) that starts image GC (default 85)\n"
		"  --image-gc-low-threshold P   disk use (%%) where it stops (default 80)\n"
		"  --eviction-hard memory.available<Q  evict pods below Q available (100Mi)\n"
		"  --housekeeping-interval D    image GC and eviction checks (default 10s)\n"
		"  --debug                 log debug messages\n");
	return f == stderr ? 2 : 0;
}

static int read_token(const char *path, char **ret, struct err *err)
{
	cleanup_free char *buf = NULL;
	size_t len;

	if (fs_read_file(AT_FDCWD, path, &buf, &len, err) < 0)
		return -err->code;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return err_set(err, EINVAL, "token file %s is empty", path);
	*ret = TAKE_PTR(buf);
	return 0;
}

/* The local address the kernel would use to reach the server: the node's IP. */
static char *route_source(const char *server)
{
	cleanup_free char *host = NULL;
	const char *h = strstr(server, "://") ? strstr(server, "://") + 3 : server;
	const char *end;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char buf[INET6_ADDRSTRLEN] = "";
	int fd;

	if (*h == '[') {
		h++;
		end = strchr(h, ']');
	} else {
		end = h + strcspn(h, ":/");
	}
	if (!end)
		return NULL;
	host = xstrndup(h, (size_t)(end - h));
	if (getaddrinfo(host, "6443", &hints, &ai) != 0)
		return NULL;
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf,
				  sizeof(buf));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf,
				  sizeof(buf));
	}
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return buf[0] ? xstrdup(buf) : NULL;
}

static char *host_name(void)
{
	char buf[256] = "";

	gethostname(buf, sizeof(buf) - 1);
	for (char *c = buf; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return xstrdup(buf[0] ? buf : "localhost");
}

int cmd_agent(int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *server = NULL, *token = NULL, *token_file = NULL, *ca_file = NULL;
	const char *data_dir = getenv("SKIFF_DATA_DIR"), *node_name = NULL, *node_ip = NULL;
	const char *log_dir = NULL, *cgroup_root = NULL, *dns = NULL, *domain = NULL;
	cleanup_free char **insecure = NULL;
	struct cmd_agent_flags tuning = {.gc_high = 85, .gc_low = 80};
	struct agent_config cfg = {0};
	cleanup_free char *tok = NULL, *ca = NULL, *cred = NULL, *name_buf = NULL, *ip_buf = NULL;
	int port = 10250, n, sig;
	bool debug = false, help = false;
	struct flag flags[] = {
		{"server", 's', FLAG_STR, &server},
		{"token", 't', FLAG_STR, &token},
		{"token-file", 0, FLAG_STR, &token_file},
		{"ca-file", 0, FLAG_STR, &ca_file},
		{"data-dir", 'd', FLAG_STR, &data_dir},
		{"node-name", 0, FLAG_STR, &node_name},
		{"node-ip", 0, FLAG_STR, &node_ip},
		{"kubelet-port", 0, FLAG_INT, &port},
		{"pod-log-dir", 0, FLAG_STR, &log_dir},
		{"cgroup-root", 0, FLAG_STR, &cgroup_root},
		{"cluster-dns", 0, FLAG_STR, &dns},
		{"cluster-domain", 0, FLAG_STR, &domain},
		{"insecure-registry", 0, FLAG_LIST, &insecure},
		{"flannel-backend", 0, FLAG_STR, &cfg.network_mode},
		{"cluster-cidr", 0, FLAG_STR, &cfg.cluster_cidr},
		{"service-cidr", 0, FLAG_STR, &cfg.service_cidr},
		{"disable-kube-proxy", 0, FLAG_BOOL, &cfg.no_proxy},
		{"image-gc-high-threshold", 0, FLAG_INT, &tuning.gc_high},
		{"image-gc-low-threshold", 0, FLAG_INT, &tuning.gc_low},
		{"eviction-hard", 0, FLAG_STR, &tuning.eviction},
		{"housekeeping-interval", 0, FLAG_STR, &tuning.housekeeping},
		{"debug", 0, FLAG_BOOL, &debug},
		{"help", 'h', FLAG_BOOL, &help},
		{NULL, 0, 0, NULL},
	};
	struct kc *client = NULL;
	struct agent *agent = NULL;
	sigset_t set;

	if (flags_parse(flags, argc - 1, argv + 1, false, &n, &err) < 0) {
		cmd_fail("agent", &err);
		return usage(stderr);
	}
	if (help)
		return usage(stdout);
	if (n > 0) {
		fprintf(stderr, "skiff agent: unexpected argument '%s'\n", argv[1]);
		return usage(stderr);
	}
	log_setup(NULL, LOG_FORMAT_TEXT, debug ? LOG_DEBUG : LOG_INFO);
	log_set_component("agent");
	if (!server || (!token && !token_file)) {
		fprintf(stderr, "skiff agent: --server and --token or --token-file are required\n");
		return usage(stderr);
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "skiff agent: --kubelet-port %d: expected 1 to 65535\n", port);
		return 2;
	}
	if (cmd_agent_tuning(&cfg, &tuning, &err) < 0) {
		cmd_fail("agent", &err);
		return 2;
	}
	if (token_file && read_token(token_file, &tok, &err) < 0)
		return cmd_fail("agent", &err);
	if (!tok)
		tok = xstrdup(token);
	if (ca_file) {
		size_t len;

		if (fs_read_file(AT_FDCWD, ca_file, &ca, &len, &err) < 0)
			return cmd_fail("agent", &err);
	}
	if (!data_dir || !*data_dir)
		data_dir = DEFAULT_DATA_DIR;
	if (!node_name)
		node_name = name_buf = host_name();
	if (!node_ip) {
		node_ip = ip_buf = route_source(server);
		if (!node_ip) {
			fprintf(stderr,
				"skiff agent: cannot tell this node's address; give --node-ip\n");
			return 2;
		}
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	cred = api_node_credential(tok, node_name);
	if (kc_remote(server, cred, ca, &client, &err) < 0)
		return cmd_fail("agent", &err);
	cfg.node_name = node_name;
	cfg.node_ip = node_ip;
	cfg.data_dir = data_dir;
	cfg.log_dir = log_dir;
	cfg.cgroup_root = cgroup_root;
	cfg.cluster_dns = dns;
	cfg.cluster_domain = domain;
	cfg.join_token = tok;
	cfg.port = (uint16_t)port;
	cfg.insecure_registries = (const char *const *)insecure;
	if (agent_start(client, &cfg, &agent, &err) < 0) {
		kc_free(client);
		return cmd_fail("agent", &err);
	}
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGHUP);
	log_info("signal %d: stopping (pods keep running)", sig);
	agent_stop(agent);
	kc_free(client);
	return 0;
}

int cmd_shim(int argc, char **argv)
{
	struct err err = ERR_INIT;
	struct shim_opts o = {.status_fd = -1};
	int n, r, max_size = 0;
	struct flag flags[] = {
		{"root", 0, FLAG_STR, &o.runtime_root},
		{"bundle", 'b', FLAG_STR, &o.bundle},
		{"log", 0, FLAG_STR, &o.log_path},
		{"log-max-size", 0, FLAG_INT, &max_size},
		{"log-max-files", 0, FLAG_INT, &o.log_max_files},
		{"status-fd", 0, FLAG_INT, &o.status_fd},
		{"stdin", 0, FLAG_BOOL, &o.stdin_open},
		{"stdin-once", 0, FLAG_BOOL, &o.stdin_once},
		{NULL, 0, 0, NULL},
	};

	if (flags_parse(flags, argc - 1, argv + 1, false, &n, &err) < 0)
		return cmd_fail("shim", &err);
	if (n != 1 || !o.bundle || !o.log_path || !o.runtime_root) {
		fprintf(stderr, "usage: skiff shim --root DIR --bundle DIR --log FILE "
				"[--status-fd N] ID\n(started by the node agent)\n");
		return 2;
	}
	o.id = argv[1];
	o.log_max_size = max_size;
	/* the container process is cloned from us: run from a sealed copy (CVE-2019-5736) */
	if (rt_exe_seal(skiff_argv, &err) < 0)
		err_clear(&err);
	{
		cleanup_free char *log = xasprintf("%s/shim.log", o.bundle);

		log_setup(log, LOG_FORMAT_TEXT, LOG_INFO);
	}
	log_set_component("shim");
	r = shim_main(&o, &err);
	if (r < 0) {
		log_error("container %s: %s", o.id, err.msg);
		err_clear(&err);
		return 1;
	}
	return 0;
}

int cmd_pause(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return agent_pause_main();
}
