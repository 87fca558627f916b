/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skiff sim: simulations against a running cluster. `skiff sim nodes` runs hollow nodes
 * (cluster/sim/sim.h), kubemark style: many simulated kubelets in one process, until
 * SIGTERM or SIGINT; killing the process silences them as failed hosts would be.
 * `skiff sim load` (cluster/sim/load.h) creates Deployments, follows their pods to
 * Running and prints the scheduler benchmark's figures (bench/scheduler.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/api/quantity.h"
#include "cluster/sim/load.h"
#include "cluster/sim/sim.h"
#include "cmd/cmd.h"

/* How long to wait for every node before printing how many made it. */
#define SUMMARY_AFTER_S 60

static int usage(FILE *f)
{
	fprintf(f,
		"usage: skiff sim nodes --count N --server URL (--token T | --token-file F) "
		"[flags]\n\n"
		"Simulates N nodes (hollow kubelets) in one process: each registers its Node,\n"
		"renews its Lease, posts status and reports the pods bound to it as running.\n\n"
		"flags:\n"
		"  --count N             nodes to simulate\n"
		"  --server URL          the API server (https://HOST:PORT)\n"
		"  --token T             the cluster's join token\n"
		"  --token-file F        read the join token from F\n"
		"  --ca-file F           the cluster CA (default: the system's trust store)\n"
		"  --name-prefix P       node names are P0, P1, ... (default hollow-node-)\n"
		"  --first-index I       number of the first node (default 0)\n"
		"  --cpu Q               CPU capacity per node (default 4)\n"
		"  --memory Q            memory capacity per node (default 16Gi)\n"
		"  --pods N              pod capacity per node (default 110)\n"
		"  --zones A,B,...       topology zones, given out round robin (repeatable)\n"
		"  --threads N           request workers (default 8)\n"
		"  --heartbeat-interval D  lease renewal period (default 10s; keep it well\n"
		"                        under the server's --node-monitor-grace-period)\n"
		"  --status-interval D   node status period (default 5m: a hollow node's status\n"
		"                        never changes, and the kubelet reports an unchanged\n"
		"                        status every 5 minutes; the Lease is the heartbeat)\n"
		"  --debug               log debug messages\n");
	return f == stderr ? 2 : 0;
}

static int read_first_line(const char *path, char **ret, struct err *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int r = fs_read_file(AT_FDCWD, path, &buf, &len, err);

	if (r < 0)
		return r;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return err_set(err, EINVAL, "token file %s is empty", path);
	*ret = TAKE_PTR(buf);
	return 0;
}

/*
 * What both subcommands do before starting: read the token file (when given and no
 * --token) and the CA file, and block SIGTERM and SIGINT in @set, to be taken by
 * sigtimedwait (every thread started later inherits the mask).
 */
static int prepare(const char *token_file, char **ret_token, const char *ca_file, char **ret_ca,
		   sigset_t *set, struct err *err)
{
	size_t len;

	if (token_file && read_first_line(token_file, ret_token, err) < 0)
		return -err->code;
	if (ca_file && fs_read_file(AT_FDCWD, ca_file, ret_ca, &len, err) < 0)
		return -err->code;
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Splits every --zones value at commas into one NULL-terminated list. */
static char **split_zones(char **vals)
{
	size_t n = 0, cap = 8;
	char **out = xcalloc(cap, sizeof(*out));

	for (char **v = vals; v && *v; v++) {
		cleanup_free char *copy = xstrdup(*v);
		char *save = NULL;

		for (char *z = strtok_r(copy, ",", &save); z; z = strtok_r(NULL, ",", &save)) {
			if (!*z)
				continue;
			if (n + 2 > cap) {
				cap *= 2;
				out = xrealloc(out, cap * sizeof(*out));
			}
			out[n++] = xstrdup(z);
			out[n] = NULL;
		}
	}
	return out;
}

/* A hollow node's period flag @flag = @value in milliseconds; -1 (said) when out of range. */
static int64_t interval_ms(const char *flag, const char *value)
{
	int64_t ms = cmd_duration_ms(value);

	if (ms >= 100 && ms <= 3600000)
		return ms;
	fprintf(stderr, "skiff sim nodes: %s takes a duration from 100ms to 1h, not '%s'\n", flag,
		value);
	return -1;
}

static void print_summary(const struct sim_config *cfg, size_t registered)
{
	const char *p = cfg->name_prefix;

	printf("skiff sim: %zu of %zu hollow nodes registered (%s%zu..%s%zu) with %s\n", registered,
	       cfg->count, p, cfg->first_index, p, cfg->first_index + cfg->count - 1, cfg->server);
	fflush(stdout);
}

static int sim_nodes(int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *server = NULL, *token = NULL, *token_file = NULL, *ca_file = NULL;
	const char *prefix = "hollow-node-", *cpu = "4", *memory = "16Gi", *pods = "110";
	const char *heartbeat = "10s", *status_every = "5m";
	int64_t lease_ms, status_ms;
	cleanup_free char **zone_vals = NULL;
	cleanup_strv char **zones = NULL;
	cleanup_free char *ca = NULL, *tok = NULL;
	int count = 0, first = 0, threads = 0, n, sig = 0;
	bool debug = false, help = false, summarized = false;
	struct flag flags[] = {
		{"count", 'n', FLAG_INT, &count},
		{"server", 's', FLAG_STR, &server},
		{"token", 't', FLAG_STR, &token},
		{"token-file", 0, FLAG_STR, &token_file},
		{"ca-file", 0, FLAG_STR, &ca_file},
		{"name-prefix", 0, FLAG_STR, &prefix},
		{"first-index", 0, FLAG_INT, &first},
		{"cpu", 0, FLAG_STR, &cpu},
		{"memory", 0, FLAG_STR, &memory},
		{"pods", 0, FLAG_STR, &pods},
		{"zones", 0, FLAG_LIST, &zone_vals},
		{"threads", 0, FLAG_INT, &threads},
		{"heartbeat-interval", 0, FLAG_STR, &heartbeat},
		{"status-interval", 0, FLAG_STR, &status_every},
		{"debug", 0, FLAG_BOOL, &debug},
		{"help", 'h', FLAG_BOOL, &help},
		{NULL, 0, 0, NULL},
	};
	struct sim_config cfg = {0};
	struct sim *s = NULL;
	struct timespec tmo = {1, 0};
	time_t started = time(NULL);
	sigset_t set;

	if (flags_parse(flags, argc - 1, argv + 1, false, &n, &err) < 0) {
		cmd_fail("sim", &err);
		return usage(stderr);
	}
	if (help)
		return usage(stdout);
	if (n > 0) {
		fprintf(stderr, "skiff sim nodes: unexpected argument '%s'\n", argv[1]);
		return usage(stderr);
	}
	if (count <= 0 || first < 0 || threads < 0 || !server || (!token && !token_file)) {
		fprintf(stderr, "skiff sim nodes: --count (> 0), --server and --token or "
				"--token-file are required\n");
		return usage(stderr);
	}
	lease_ms = interval_ms("--heartbeat-interval", heartbeat);
	status_ms = interval_ms("--status-interval", status_every);
	if (lease_ms < 0 || status_ms < 0)
		return 2;
	log_setup(NULL, LOG_FORMAT_TEXT, debug ? LOG_DEBUG : LOG_INFO);
	log_set_component("sim");
	if (prepare(token ? NULL : token_file, &tok, ca_file, &ca, &set, &err) < 0)
		return cmd_fail("sim", &err);
	if (!token)
		token = tok;
	zones = split_zones(zone_vals);

	cfg.server = server;
	cfg.join_token = token;
	cfg.ca_pem = ca;
	cfg.name_prefix = prefix;
	cfg.count = (size_t)count;
	cfg.first_index = (size_t)first;
	cfg.cpu = cpu;
	cfg.memory = memory;
	cfg.pods = pods;
	cfg.zones = (const char *const *)zones;
	cfg.threads = (unsigned)threads;
	cfg.lease_ms = (unsigned)lease_ms;
	cfg.status_ms = (unsigned)status_ms;
	if (sim_start(&cfg, &s, &err) < 0)
		return cmd_fail("sim", &err);
	log_info("simulating %d nodes against %s", count, server);

	for (;;) {
		size_t reg = sim_registered(s);

		if (!summarized && (reg == cfg.count || time(NULL) - started >= SUMMARY_AFTER_S)) {
			print_summary(&cfg, reg);
			summarized = true;
		}
		sig = sigtimedwait(&set, NULL, &tmo);
		if (sig > 0)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
	log_info("signal %d: stopping %d hollow nodes", sig, count);
	sim_stop(s);
	return 0;
}

static int load_usage(FILE *f)
{
	fprintf(f,
		"usage: skiff sim load --server URL (--token T | --token-file F) --pods N "
		"[flags]\n\n"
		"Creates Deployments totalling N pods in a new namespace load-<unix time>, "
		"follows\n"
		"every pod through one watch (created -> bound -> Running) and prints scheduling\n"
		"throughput, pod start latency, and the CPU and peak memory of the server and the\n"
		"hollow nodes (bench/scheduler.sh). The namespace is left in place.\n\n"
		"flags:\n"
		"  --server URL          the API server (https://HOST:PORT)\n"
		"  --token T             the cluster's admin token\n"
		"  --token-file F        read the admin token from F\n"
		"  --ca-file F           the cluster CA (default: the system's trust store)\n"
		"  --pods N              pods to create\n"
		"  --per-deployment N    replicas per Deployment (default 1000)\n"
		"  --image I             container image (default registry.local/app:1)\n"
		"  --cpu-request Q       CPU request per pod (default 10m)\n"
		"  --memory-request Q    memory request per pod (default 16Mi)\n"
		"  --server-pid P        the server process, for its CPU time and peak RSS\n"
		"  --sim-pid P           the hollow nodes' process (skiff sim nodes), likewise\n"
		"  --stall D             give up when no pod starts running for D (default 60s)\n"
		"  --latency-pods N      then create N pods one at a time in a namespace of their\n"
		"                        own and report their start latency apart (default 0)\n"
		"  --latency-qps R       latency pods created per second (default 10)\n"
		"  --debug               log debug messages\n");
	return f == stderr ? 2 : 0;
}

static int sim_usage(FILE *f)
{
	usage(f);
	fprintf(f, "\n");
	return load_usage(f);
}

static bool load_interrupted(void *arg, int timeout_ms)
{
	const sigset_t *set = arg;
	struct timespec tmo = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};

	return sigtimedwait(set, NULL, &tmo) > 0;
}

/* "server 12.3 s (0.08 ms per pod)" */
static void print_cpu(const char *what, double s, size_t pods, bool *first)
{
	printf("%s%s %.1f s (%.2f ms per pod)", *first ? " " : ", ", what, s,
	       s / (double)pods * 1000);
	*first = false;
}

static void print_load(const struct simload_config *cfg, const struct simload_result *r)
{
	const struct simload_stats *s = &r->stats;
	size_t per = s->running ? s->running : 1;
	bool first = true;

	if (r->stalled)
		printf("scheduler: stalled at %zu bound, %zu running\n", s->bound, s->running);
	if (r->interrupted)
		printf("scheduler: interrupted at %zu bound, %zu running\n", s->bound, s->running);
	printf("scheduler: %zu/%zu pods Running in %.1f s; scheduling %.0f pods/s; pod start "
	       "(created -> Running) p50 %.0f ms, p99 %.0f ms\n",
	       s->running, r->pods, r->total_s, s->sched_rate, s->start_p50_ms, s->start_p99_ms);
	printf("scheduler: created -> bound p50 %.0f ms, p99 %.0f ms; bound -> Running p50 %.0f "
	       "ms, "
	       "p99 %.0f ms; pods created over %.1f s\n",
	       s->bind_p50_ms, s->bind_p99_ms, s->run_p50_ms, s->run_p99_ms, s->created_over_s);
	printf("scheduler: CPU");
	if (cfg->server_pid > 0)
		print_cpu("server", r->cpu_server_s, per, &first);
	if (cfg->sim_pid > 0)
		print_cpu("hollow nodes", r->cpu_sim_s, per, &first);
	printf("%sthis follower %.1f s\n", first ? " " : ", ", r->cpu_self_s);
	if (cfg->server_pid > 0 && cfg->sim_pid > 0)
		printf("scheduler: peak RSS server %.0f MiB, hollow nodes %.0f MiB, together %.2f "
		       "GiB\n",
		       r->rss_server_mib, r->rss_sim_mib,
		       (r->rss_server_mib + r->rss_sim_mib) / 1024);
	else if (cfg->server_pid > 0)
		printf("scheduler: peak RSS server %.0f MiB\n", r->rss_server_mib);
	else if (cfg->sim_pid > 0)
		printf("scheduler: peak RSS hollow nodes %.0f MiB\n", r->rss_sim_mib);
	if (r->latency_ran) {
		const struct simload_stats *l = &r->latency;

		printf("scheduler: latency pods (%zu, created %g/s on the loaded cluster): %zu "
		       "Running%s; pod start p50 %.0f ms, p99 %.0f ms; created -> bound p50 %.0f "
		       "ms, p99 %.0f ms; bound -> Running p50 %.0f ms, p99 %.0f ms\n",
		       cfg->latency_pods, cfg->latency_qps, l->running,
		       r->latency_stalled ? " (stalled)" : "", l->start_p50_ms, l->start_p99_ms,
		       l->bind_p50_ms, l->bind_p99_ms, l->run_p50_ms, l->run_p99_ms);
	}
	fflush(stdout);
}

static bool quantity_ok(const char *flag, const char *q)
{
	struct quantity v;
	const char *why = NULL;

	if (quantity_parse(q, &v, &why))
		return true;
	fprintf(stderr, "skiff sim load: %s '%s': %s\n", flag, q, why ? why : "not a quantity");
	return false;
}

static int sim_load(int argc, char **argv)
{
	struct err err = ERR_INIT;
	const char *server = NULL, *token = NULL, *token_file = NULL, *ca_file = NULL;
	const char *image = "registry.local/app:1", *cpu = "10m", *memory = "16Mi";
	const char *stall = "60s", *latency_qps = "10";
	cleanup_free char *ca = NULL, *tok = NULL;
	int pods = 0, per = 1000, server_pid = 0, sim_pid = 0, latency_pods = 0, n;
	double qps;
	char *end;
	int64_t stall_ms;
	bool debug = false, help = false;
	struct flag flags[] = {
		{"server", 's', FLAG_STR, &server},
		{"token", 't', FLAG_STR, &token},
		{"token-file", 0, FLAG_STR, &token_file},
		{"ca-file", 0, FLAG_STR, &ca_file},
		{"pods", 0, FLAG_INT, &pods},
		{"per-deployment", 0, FLAG_INT, &per},
		{"image", 0, FLAG_STR, &image},
		{"cpu-request", 0, FLAG_STR, &cpu},
		{"memory-request", 0, FLAG_STR, &memory},
		{"server-pid", 0, FLAG_INT, &server_pid},
		{"sim-pid", 0, FLAG_INT, &sim_pid},
		{"stall", 0, FLAG_STR, &stall},
		{"latency-pods", 0, FLAG_INT, &latency_pods},
		{"latency-qps", 0, FLAG_STR, &latency_qps},
		{"debug", 0, FLAG_BOOL, &debug},
		{"help", 'h', FLAG_BOOL, &help},
		{NULL, 0, 0, NULL},
	};
	struct simload_config cfg = {0};
	struct simload_result res = {0};
	sigset_t set;
	int status = 0;

	if (flags_parse(flags, argc - 1, argv + 1, false, &n, &err) < 0) {
		cmd_fail("sim", &err);
		return load_usage(stderr);
	}
	if (help)
		return load_usage(stdout);
	if (n > 0) {
		fprintf(stderr, "skiff sim load: unexpected argument '%s'\n", argv[1]);
		return load_usage(stderr);
	}
	if (pods <= 0 || per <= 0 || !server || (!token && !token_file)) {
		fprintf(stderr,
			"skiff sim load: --pods (> 0), --server and --token or --token-file "
			"are required; --per-deployment must be > 0\n");
		return load_usage(stderr);
	}
	if (server_pid < 0 || sim_pid < 0) {
		fprintf(stderr, "skiff sim load: --server-pid and --sim-pid take process ids\n");
		return 2;
	}
	stall_ms = cmd_duration_ms(stall);
	if (stall_ms < 1000) {
		fprintf(stderr,
			"skiff sim load: --stall takes a duration of 1s or more, not '%s'\n",
			stall);
		return 2;
	}
	if (!image[0]) {
		fprintf(stderr, "skiff sim load: --image is empty\n");
		return 2;
	}
	if (latency_pods < 0) {
		fprintf(stderr, "skiff sim load: --latency-pods %d: expected a count >= 0\n",
			latency_pods);
		return 2;
	}
	qps = strtod(latency_qps, &end);
	if (*end || end == latency_qps || !(qps > 0 && qps <= 10000)) {
		fprintf(stderr,
			"skiff sim load: --latency-qps '%s': expected a rate in (0, 10000] per "
			"second\n",
			latency_qps);
		return 2;
	}
	if (!quantity_ok("--cpu-request", cpu) || !quantity_ok("--memory-request", memory))
		return 2;
	log_setup(NULL, LOG_FORMAT_TEXT, debug ? LOG_DEBUG : LOG_INFO);
	log_set_component("sim");
	if (prepare(token ? NULL : token_file, &tok, ca_file, &ca, &set, &err) < 0)
		return cmd_fail("sim", &err);
	if (!token)
		token = tok;

	cfg.server = server;
	cfg.token = token;
	cfg.ca_pem = ca;
	cfg.pods = (size_t)pods;
	cfg.per_deployment = (size_t)per;
	cfg.image = image;
	cfg.cpu_request = cpu;
	cfg.memory_request = memory;
	cfg.server_pid = server_pid;
	cfg.sim_pid = sim_pid;
	cfg.stall_ms = stall_ms;
	cfg.latency_pods = (size_t)latency_pods;
	cfg.latency_qps = qps;
	cfg.interrupted = load_interrupted;
	cfg.arg = &set;
	if (simload_run(&cfg, &res, &err) < 0)
		return cmd_fail("sim", &err);
	log_debug("load: namespace %s, %u watch restarts", res.ns, res.watch_restarts);
	print_load(&cfg, &res);
	if (res.watch_err.code)
		status = cmd_fail("sim", &res.watch_err);
	simload_result_done(&res);
	return status;
}

int cmd_sim(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help"))
		return sim_usage(argc < 2 ? stderr : stdout);
	if (strcmp(argv[1], "nodes") == 0)
		return sim_nodes(argc - 1, argv + 1);
	if (strcmp(argv[1], "load") == 0)
		return sim_load(argc - 1, argv + 1);
	fprintf(stderr, "skiff sim: unknown simulation '%s'\n", argv[1]);
	return sim_usage(stderr);
}
