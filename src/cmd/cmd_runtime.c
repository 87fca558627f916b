/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `skiff runtime` / `skiff-runtime`: the OCI runtime with runc's command line, so engines
 * (podman, containerd, docker) can call it as they call runc or crun.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/flags.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/log.h"
#include "cmd/cmd.h"
#include "runtime/runtime.h"

struct rt_cli {
	struct rt_global g;
	const char *log;
	const char *log_format;
	bool debug;
};

static int need_args(const char *cmd, int n, int min, int max, struct err *err)
{
	if (n < min)
		return err_set(err, EINVAL, "%s: missing container id (see --help)", cmd);
	if (n > max)
		return err_set(err, EINVAL, "%s: too many arguments", cmd);
	return 0;
}

static void print_json(json_t *j)
{
	char *s = jdump_s(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s) {
		printf("%s\n", s);
		free(s);
	}
}

static int parse_create(const char *cmd, int argc, char **argv, struct rt_create_opts *o, bool run,
			const char **ret_id, struct err *err)
{
	bool keep = false, no_subreaper = false;
	const char *criu = NULL;
	struct flag flags[] = {
		{"bundle", 'b', FLAG_STR, &o->bundle},
		{"pid-file", 0, FLAG_STR, &o->pid_file},
		{"console-socket", 0, FLAG_STR, &o->console_socket},
		{"no-pivot", 0, FLAG_BOOL, &o->no_pivot},
		{"no-new-keyring", 0, FLAG_BOOL, &o->no_new_keyring},
		{"preserve-fds", 0, FLAG_INT, &o->preserve_fds},
		{"detach", run ? 'd' : 0, FLAG_BOOL, &o->detach},
		{"keep", 0, FLAG_BOOL, &keep},
		{"no-subreaper", 0, FLAG_BOOL, &no_subreaper},
		{"criu", 0, FLAG_STR, &criu},
		{NULL, 0, 0, NULL},
	};
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "%s", cmd);
	if (need_args(cmd, n, 1, 1, err) < 0)
		return -err->code;
	if (o->preserve_fds < 0)
		return err_set(err, EINVAL, "%s: --preserve-fds must not be negative", cmd);
	*ret_id = argv[0];
	return 0;
}

static int do_create(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	struct rt_create_opts o = {0};
	const char *id;

	if (parse_create("create", argc, argv, &o, false, &id, err) < 0)
		return -err->code;
	return rt_create(&cli->g, id, &o, err);
}

static int do_run(struct rt_cli *cli, int argc, char **argv, int *status, struct err *err)
{
	struct rt_create_opts o = {0};
	const char *id;

	if (parse_create("run", argc, argv, &o, true, &id, err) < 0)
		return -err->code;
	return rt_run(&cli->g, id, &o, status, err);
}

static int do_exec(struct rt_cli *cli, int argc, char **argv, int *status, struct err *err)
{
	struct rt_exec_opts o = {0};
	cleanup_free char **env = NULL, **caps = NULL, **gids = NULL;
	const char *process_label = NULL, *apparmor = NULL;
	struct flag flags[] = {
		{"process", 'p', FLAG_STR, &o.process_file},
		{"tty", 't', FLAG_BOOL, &o.tty},
		{"cwd", 0, FLAG_STR, &o.cwd},
		{"env", 'e', FLAG_LIST, &env},
		{"user", 'u', FLAG_STR, &o.user},
		{"additional-gids", 'g', FLAG_LIST, &gids},
		{"cap", 'c', FLAG_LIST, &caps},
		{"no-new-privs", 0, FLAG_BOOL, &o.no_new_privs},
		{"detach", 'd', FLAG_BOOL, &o.detach},
		{"pid-file", 0, FLAG_STR, &o.pid_file},
		{"console-socket", 0, FLAG_STR, &o.console_socket},
		{"preserve-fds", 0, FLAG_INT, &o.preserve_fds},
		{"process-label", 0, FLAG_STR, &process_label},
		{"apparmor", 0, FLAG_STR, &apparmor},
		{NULL, 0, 0, NULL},
	};
	int n;

	/* everything after the container id is the command and its own flags */
	if (flags_parse(flags, argc, argv, true, &n, err) < 0)
		return err_wrap(err, "exec");
	if (n < 1)
		return err_set(err, EINVAL, "exec: missing container id (see --help)");
	if (process_label || apparmor)
		return err_set(
			err, EOPNOTSUPP,
			"exec: --process-label and --apparmor are not supported on this host");
	if (o.preserve_fds < 0)
		return err_set(err, EINVAL, "exec: --preserve-fds must not be negative");
	argv[n] = NULL;
	o.args = argv + 1;
	o.env = env;
	o.caps = caps;
	o.additional_gids = gids;
	return rt_exec(&cli->g, argv[0], &o, status, err);
}

static int simple_id(const char *cmd, int argc, char **argv, const struct flag *flags,
		     const char **ret_id, struct err *err)
{
	static const struct flag none[] = {{NULL, 0, 0, NULL}};
	int n;

	if (flags_parse(flags ? flags : none, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "%s", cmd);
	if (need_args(cmd, n, 1, 1, err) < 0)
		return -err->code;
	*ret_id = argv[0];
	return 0;
}

static int do_state(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	cleanup_json json_t *st = NULL;
	const char *id;

	if (simple_id("state", argc, argv, NULL, &id, err) < 0)
		return -err->code;
	if (rt_state(&cli->g, id, &st, err) < 0)
		return -err->code;
	print_json(st);
	return 0;
}

static int do_kill(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	bool all = false;
	struct flag flags[] = {{"all", 'a', FLAG_BOOL, &all}, {NULL, 0, 0, NULL}};
	int n, sig = 15;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "kill");
	if (need_args("kill", n, 1, 2, err) < 0)
		return -err->code;
	if (n == 2 && (sig = rt_signal_parse(argv[1])) < 0)
		return err_set(err, EINVAL, "kill: unknown signal '%s'", argv[1]);
	return rt_kill(&cli->g, argv[0], sig, all, err);
}

static int do_delete(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	bool force = false;
	struct flag flags[] = {{"force", 'f', FLAG_BOOL, &force}, {NULL, 0, 0, NULL}};
	const char *id;

	if (simple_id("delete", argc, argv, flags, &id, err) < 0)
		return -err->code;
	return rt_delete(&cli->g, id, force, err);
}

static int do_start(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	const char *id;

	if (simple_id("start", argc, argv, NULL, &id, err) < 0)
		return -err->code;
	return rt_start(&cli->g, id, err);
}

static int do_freeze(struct rt_cli *cli, const char *cmd, int argc, char **argv, struct err *err)
{
	const char *id;

	if (simple_id(cmd, argc, argv, NULL, &id, err) < 0)
		return -err->code;
	return !strcmp(cmd, "pause") ? rt_pause(&cli->g, id, err) : rt_resume(&cli->g, id, err);
}

/* "512m", "1g", "1024": runc's update flags take sizes with binary suffixes */
static int parse_size(const char *flag, const char *s, json_int_t *ret, struct err *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return err_set(err, EINVAL, "update --%s: '%s' is not a number", flag, s);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return err_set(err, EINVAL, "update --%s: '%s' is not a size", flag, s);
	*ret = v;
	return 0;
}

static int set_num(json_t *res, const char *section, const char *field, const char *flag,
		   const char *value, bool size, struct err *err)
{
	json_t *o = json_object_get(res, section);
	json_int_t v = 0;

	if (!value)
		return 0;
	if (size) {
		if (parse_size(flag, value, &v, err) < 0)
			return -err->code;
	} else {
		char *end;

		errno = 0;
		v = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return err_set(err, EINVAL, "update --%s: '%s' is not an integer", flag,
				       value);
	}
	if (!o) {
		o = json_object();
		json_object_set_new(res, section, o);
	}
	json_object_set_new(o, field, json_integer(v));
	return 0;
}

static int do_update(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	const char *file = NULL, *mem = NULL, *resv = NULL, *swap = NULL, *shares = NULL,
		   *quota = NULL, *period = NULL, *rt_runtime = NULL, *rt_period = NULL,
		   *cpus = NULL, *mems = NULL, *pids = NULL, *blkio = NULL;
	struct flag flags[] = {
		{"resources", 'r', FLAG_STR, &file},
		{"memory", 0, FLAG_STR, &mem},
		{"memory-reservation", 0, FLAG_STR, &resv},
		{"memory-swap", 0, FLAG_STR, &swap},
		{"cpu-shares", 0, FLAG_STR, &shares},
		{"cpu-quota", 0, FLAG_STR, &quota},
		{"cpu-period", 0, FLAG_STR, &period},
		{"cpu-rt-runtime", 0, FLAG_STR, &rt_runtime},
		{"cpu-rt-period", 0, FLAG_STR, &rt_period},
		{"cpuset-cpus", 0, FLAG_STR, &cpus},
		{"cpuset-mems", 0, FLAG_STR, &mems},
		{"pids-limit", 0, FLAG_STR, &pids},
		{"blkio-weight", 0, FLAG_STR, &blkio},
		{NULL, 0, 0, NULL},
	};
	cleanup_json json_t *res = NULL;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "update");
	if (need_args("update", n, 1, 1, err) < 0)
		return -err->code;
	if (file) {
		json_error_t je;

		res = !strcmp(file, "-") ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &je)
					 : json_load_file(file, JSON_REJECT_DUPLICATES, &je);
		if (!res)
			return err_set(err, EINVAL, "update --resources '%s': line %d: %s", file,
				       je.line, je.text);
	} else {
		res = json_object();
	}
	if (set_num(res, "memory", "limit", "memory", mem, true, err) < 0 ||
	    set_num(res, "memory", "reservation", "memory-reservation", resv, true, err) < 0 ||
	    set_num(res, "memory", "swap", "memory-swap", swap, true, err) < 0 ||
	    set_num(res, "cpu", "shares", "cpu-shares", shares, false, err) < 0 ||
	    set_num(res, "cpu", "quota", "cpu-quota", quota, false, err) < 0 ||
	    set_num(res, "cpu", "period", "cpu-period", period, false, err) < 0 ||
	    set_num(res, "cpu", "realtimeRuntime", "cpu-rt-runtime", rt_runtime, false, err) < 0 ||
	    set_num(res, "cpu", "realtimePeriod", "cpu-rt-period", rt_period, false, err) < 0 ||
	    set_num(res, "pids", "limit", "pids-limit", pids, false, err) < 0 ||
	    set_num(res, "blockIO", "weight", "blkio-weight", blkio, false, err) < 0)
		return -err->code;
	if (cpus || mems) {
		json_t *cpu = json_object_get(res, "cpu");

		if (!cpu) {
			cpu = json_object();
			json_object_set_new(res, "cpu", cpu);
		}
		if (cpus)
			json_object_set_new(cpu, "cpus", json_string(cpus));
		if (mems)
			json_object_set_new(cpu, "mems", json_string(mems));
	}
	return rt_update(&cli->g, argv[0], res, err);
}

static int do_ps(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	const char *format = "table";
	struct flag flags[] = {{"format", 'f', FLAG_STR, &format}, {NULL, 0, 0, NULL}};
	cleanup_free pid_t *pids = NULL;
	FILE *ps = NULL;
	int r = 0;
	cleanup_free char *cmd = NULL;
	char line[4096];
	size_t n = 0;
	int npos, pid_col = -1;

	/* runc ps ID [ps options]: options after the id go to ps(1) */
	if (flags_parse(flags, argc, argv, true, &npos, err) < 0)
		return err_wrap(err, "ps");
	if (npos < 1)
		return err_set(err, EINVAL, "ps: missing container id (see --help)");
	if (strcmp(format, "table") && strcmp(format, "json"))
		return err_set(err, EINVAL, "ps: --format must be 'table' or 'json', not '%s'",
			       format);
	if (rt_pids(&cli->g, argv[0], &pids, &n, err) < 0)
		return -err->code;
	if (!strcmp(format, "json")) {
		printf("[");
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int)pids[i]);
		printf("]\n");
		return 0;
	}
	cmd = xstrdup("ps");
	if (npos == 1) {
		free(cmd);
		cmd = xstrdup("ps -ef");
	}
	for (int i = 1; i < npos; i++) {
		char *next;

		/* arguments are passed to the shell quoted, one by one */
		if (strchr(argv[i], '\''))
			return err_set(err, EINVAL, "ps: argument '%s' has a quote", argv[i]);
		next = xasprintf("%s '%s'", cmd, argv[i]);
		free(cmd);
		cmd = next;
	}
	ps = popen(cmd, "re");
	if (!ps)
		return err_sys(err, "ps: run '%s'", cmd);
	while (fgets(line, sizeof(line), ps)) {
		char copy[sizeof(line)], *tok, *save = NULL;
		int col = 0;

		if (pid_col < 0) {
			/* the header names the PID column */
			snprintf(copy, sizeof(copy), "%s", line);
			for (tok = strtok_r(copy, " \t\n", &save); tok;
			     tok = strtok_r(NULL, " \t\n", &save), col++)
				if (!strcmp(tok, "PID"))
					pid_col = col;
			if (pid_col < 0)
				return err_set(err, EPROTO,
					       "ps: no PID column in the output of '%s'", cmd);
			fputs(line, stdout);
			continue;
		}
		snprintf(copy, sizeof(copy), "%s", line);
		for (tok = strtok_r(copy, " \t\n", &save); tok && col < pid_col;
		     tok = strtok_r(NULL, " \t\n", &save))
			col++;
		for (size_t i = 0; tok && i < n; i++)
			if (atoi(tok) == (int)pids[i]) {
				fputs(line, stdout);
				break;
			}
	}
	pclose(ps);
	return r;
}

static void print_event(json_t *ev, void *data)
{
	char *s = jdump_s(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

	(void)data;
	if (s) {
		printf("%s\n", s);
		fflush(stdout);
		free(s);
	}
	json_decref(ev);
}

static int do_events(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	const char *interval = "5s";
	bool stats = false;
	struct flag flags[] = {{"stats", 0, FLAG_BOOL, &stats},
			       {"interval", 0, FLAG_STR, &interval},
			       {NULL, 0, 0, NULL}};
	char *end;
	double secs;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "events");
	if (need_args("events", n, 1, 1, err) < 0)
		return -err->code;
	secs = strtod(interval, &end);
	if (end != interval && !strcmp(end, "ms"))
		secs /= 1000;
	else if (end != interval && !strcmp(end, "m"))
		secs *= 60;
	else if (end == interval || (*end && strcmp(end, "s")) || secs <= 0)
		return err_set(err, EINVAL, "events --interval '%s': expected a duration like 5s",
			       interval);
	return rt_events(&cli->g, argv[0], stats, (int)(secs * 1000), print_event, NULL, err);
}

static int do_list(struct rt_cli *cli, int argc, char **argv, struct err *err)
{
	const char *format = "table";
	bool quiet = false;
	struct flag flags[] = {{"format", 'f', FLAG_STR, &format},
			       {"quiet", 'q', FLAG_BOOL, &quiet},
			       {NULL, 0, 0, NULL}};
	cleanup_json json_t *list = NULL;
	json_t *c;
	size_t i;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "list");
	if (strcmp(format, "table") && strcmp(format, "json"))
		return err_set(err, EINVAL, "list: --format must be 'table' or 'json', not '%s'",
			       format);
	if (rt_list(&cli->g, &list, err) < 0)
		return -err->code;
	if (!strcmp(format, "json")) {
		char *s = jdump_s(list, JSON_COMPACT | JSON_PRESERVE_ORDER);

		printf("%s\n", s ? s : "[]");
		free(s);
		return 0;
	}
	if (!quiet)
		printf("%-12s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE",
		       "CREATED", "OWNER");
	json_array_foreach (list, i, c) {
		if (quiet) {
			printf("%s\n", json_string_value(json_object_get(c, "id")));
			continue;
		}
		printf("%-12s %-8lld %-10s %-40s %-30s %s\n",
		       json_string_value(json_object_get(c, "id")),
		       (long long)json_integer_value(json_object_get(c, "pid")),
		       json_string_value(json_object_get(c, "status")),
		       json_string_value(json_object_get(c, "bundle")),
		       json_string_value(json_object_get(c, "created")),
		       json_string_value(json_object_get(c, "owner")));
	}
	return 0;
}

static int do_spec(int argc, char **argv, struct err *err)
{
	const char *bundle = ".";
	bool rootless = false;
	struct flag flags[] = {{"bundle", 'b', FLAG_STR, &bundle},
			       {"rootless", 0, FLAG_BOOL, &rootless},
			       {NULL, 0, 0, NULL}};
	cleanup_json json_t *spec = NULL;
	cleanup_free char *path = NULL, *text = NULL;
	cleanup_close int fd = -1;
	int n;

	if (flags_parse(flags, argc, argv, false, &n, err) < 0)
		return err_wrap(err, "spec");
	if (n > 0)
		return err_set(err, EINVAL, "spec: takes no arguments");
	path = xasprintf("%s/config.json", bundle);
	spec = rt_spec_default(rootless);
	text = jdump_s(spec, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST)
		return err_set(err, EEXIST, "spec: '%s' exists: remove it first", path);
	if (fd < 0)
		return err_sys(err, "spec: create '%s'", path);
	if (dprintf(fd, "%s\n", text) < 0)
		return err_sys(err, "spec: write '%s'", path);
	return 0;
}

static int help(void)
{
	printf("usage: skiff-runtime [global flags] <command> [flags] <container-id>\n\n"
	       "An OCI runtime (runtime-spec %s) with runc's command line.\n\n"
	       "commands:\n"
	       "  create    create a container from a bundle; its process waits for start\n"
	       "  start     start the process of a created container\n"
	       "  run       create and start a container, wait for it and delete it\n"
	       "  state     print the state of a container as JSON\n"
	       "  exec      run another process in a container\n"
	       "  kill      send a signal to a container (default SIGTERM)\n"
	       "  delete    delete a stopped container (--force: any container)\n"
	       "  list      list containers (--format table|json)\n"
	       "  ps        list the processes of a container (--format table|json)\n"
	       "  pause     freeze every process of a container\n"
	       "  resume    thaw a paused container\n"
	       "  update    change a container's resources (--resources FILE or flags)\n"
	       "  events    print a container's stats and OOM events (--stats, --interval)\n"
	       "  spec      write a default config.json\n"
	       "  features  print the features this runtime supports as JSON\n\n"
	       "global flags:\n"
	       "  --root DIR            state directory (default %s)\n"
	       "  --log FILE            write log messages to FILE\n"
	       "  --log-format text|json\n"
	       "  --debug               log debug messages\n"
	       "  --systemd-cgroup      cgroupsPath is slice:prefix:name\n"
	       "  --version             print the version\n",
	       RT_OCI_VERSION, RT_DEFAULT_ROOT);
	return 0;
}

static int setup_log(struct rt_cli *cli, struct err *err)
{
	enum log_format fmt = LOG_FORMAT_TEXT;

	if (cli->log_format && !strcmp(cli->log_format, "json"))
		fmt = LOG_FORMAT_JSON;
	else if (cli->log_format && strcmp(cli->log_format, "text"))
		return err_set(err, EINVAL, "--log-format must be 'text' or 'json', not '%s'",
			       cli->log_format);
	if (log_setup(cli->log, fmt, cli->debug ? LOG_DEBUG : LOG_WARN) < 0)
		return err_sys(err, "open log file '%s'", cli->log);
	return 0;
}

int cmd_runtime(int argc, char **argv)
{
	struct rt_cli cli = {0};
	cleanup_free char *root_buf = NULL;
	bool version = false, help_flag = false;
	const char *criu = NULL, *rootless = NULL;
	struct flag flags[] = {
		{"root", 0, FLAG_STR, &cli.g.root},
		{"log", 0, FLAG_STR, &cli.log},
		{"log-format", 0, FLAG_STR, &cli.log_format},
		{"debug", 0, FLAG_BOOL, &cli.debug},
		{"systemd-cgroup", 0, FLAG_BOOL, &cli.g.systemd_cgroup},
		{"version", 'v', FLAG_BOOL, &version},
		{"help", 'h', FLAG_BOOL, &help_flag},
		{"criu", 0, FLAG_STR, &criu},
		{"rootless", 0, FLAG_STR, &rootless},
		{NULL, 0, 0, NULL},
	};
	struct err err = ERR_INIT;
	const char *cmd;
	int n, r, status = 0;

	log_set_component("runtime");
	if (flags_parse(flags, argc - 1, argv + 1, true, &n, &err) < 0)
		return cmd_fail(argv[0], &err);
	if (setup_log(&cli, &err) < 0)
		return cmd_fail(argv[0], &err);
	/* an unprivileged user keeps state in its own runtime directory, as runc does */
	if (!cli.g.root && geteuid() != 0 && getenv("XDG_RUNTIME_DIR") &&
	    *getenv("XDG_RUNTIME_DIR"))
		cli.g.root = root_buf = xasprintf("%s/skiff-runtime", getenv("XDG_RUNTIME_DIR"));
	if (version) {
		printf("skiff-runtime version %s\nspec: %s\n", SKIFF_VERSION_STRING,
		       RT_OCI_VERSION);
		return 0;
	}
	if (help_flag || n == 0)
		return help() + (n == 0 && !help_flag ? 2 : 0);
	cmd = argv[1];
	argc = n - 1;
	argv = argv + 2;
	/* commands that put a process into a container run from a sealed copy of skiff */
	if (!strcmp(cmd, "create") || !strcmp(cmd, "run") || !strcmp(cmd, "exec")) {
		if (rt_exe_seal(skiff_argv, &err) < 0) {
			log_warn("%s, continuing unsealed", err.msg);
			err_clear(&err);
		}
	}
	if (!strcmp(cmd, "create"))
		r = do_create(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "start"))
		r = do_start(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "state"))
		r = do_state(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "kill"))
		r = do_kill(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "delete"))
		r = do_delete(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "run"))
		r = do_run(&cli, argc, argv, &status, &err);
	else if (!strcmp(cmd, "exec"))
		r = do_exec(&cli, argc, argv, &status, &err);
	else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
		r = do_freeze(&cli, cmd, argc, argv, &err);
	else if (!strcmp(cmd, "update"))
		r = do_update(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "ps"))
		r = do_ps(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "events"))
		r = do_events(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "list") || !strcmp(cmd, "ps-all"))
		r = do_list(&cli, argc, argv, &err);
	else if (!strcmp(cmd, "spec"))
		r = do_spec(argc, argv, &err);
	else if (!strcmp(cmd, "features")) {
		cleanup_json json_t *f = rt_features();

		print_json(f);
		r = 0;
	} else if (!strcmp(cmd, "help"))
		return help();
	else
		r = err_set(&err, EINVAL, "unknown command '%s' (see --help)", cmd);
	if (r < 0)
		return cmd_fail(argv[0], &err);
	return status;
}
