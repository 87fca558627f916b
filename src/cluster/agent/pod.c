/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One pod's life on this node, one idempotent pass at a time (pod_sync): the sandbox
 * (pause process, namespaces, IP, /etc/hosts and resolv.conf), volumes, images, init
 * containers in order, then the app containers, restarts with back-off, probes,
 * termination with the grace period, and the status the API sees. Everything a pass
 * learns comes from disk (each attempt's directory, its monitor's exit record), so a
 * restarted agent picks up where the last one stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/log.h"
#include "cluster/agent/crilog.h"
#include "cluster/agent/internal.h"
#include "cluster/agent/localpath.h"
#include "cluster/agent/ocispec.h"
#include "cluster/agent/probe.h"
#include "cluster/agent/shim.h"
#include "cluster/agent/volumes.h"
#include "cluster/client/client.h"
#include "cluster/net/net.h"
#include "image/image.h"
#include "runtime/runtime.h"

#define BACKOFF_START_MS   10000
#define BACKOFF_MAX_MS     300000
#define BACKOFF_RESET_MS   600000
#define SHIM_START_TIMEOUT 120000
#define REFRESH_MS         3000

/* ---- small helpers ---- */

static void set_str(char **dst, const char *v)
{
	char *n = v ? xstrdup(v) : NULL;

	free(*dst);
	*dst = n;
}

static const json_t *jget(const json_t *o, const char *k)
{
	return json_object_get(o, k);
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

char *pod_ns_path(struct apod *p, const char *kind)
{
	return xasprintf("%s/ns/%s", p->dir, kind);
}

struct actr *pod_container(struct apod *p, const char *name)
{
	for (size_t i = 0; i < p->n_c; i++)
		if (!strcmp(p->c[i].name, name))
			return &p->c[i];
	return NULL;
}

static void actr_done(struct actr *c)
{
	free(c->name);
	free(c->id);
	free(c->dir);
	free(c->waiting_reason);
	free(c->waiting_message);
	free(c->started_at);
	free(c->finished_at);
	free(c->term_reason);
	json_decref(c->last_state);
	free(c->image);
	free(c->image_id);
}

void apod_free(struct apod *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_c; i++)
		actr_done(&p->c[i]);
	free(p->c);
	free(p->uid);
	free(p->ns);
	free(p->name);
	free(p->dir);
	free(p->sandbox_error);
	free(p->evicted);
	free(p->start_time);
	json_decref(p->pod);
	json_decref(p->pod_ref);
	json_decref(p->reported);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static pid_t read_pid(const char *path)
{
	cleanup_free char *text = NULL;
	struct err err = ERR_INIT;
	size_t len;

	if (fs_read_file(AT_FDCWD, path, &text, &len, &err) < 0) {
		err_clear(&err);
		return 0;
	}
	return (pid_t)strtol(text, NULL, 10);
}

static const char *container_key(struct apod *p, struct actr *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", p->uid, c->name);
	return buf;
}

/* The runtime id of attempt @attempt of @c: short, unique per pod, readable. */
static char *container_id(struct apod *p, const char *name, int attempt)
{
	char short_uid[13];
	size_t n = 0;

	for (const char *s = p->uid; *s && n < 12; s++)
		if (*s != '-')
			short_uid[n++] = *s;
	short_uid[n] = '\0';
	return xasprintf("%s-%s-%d", short_uid, name, attempt);
}

/* ---- records on disk ---- */

static void save_pod_record(struct apod *p)
{
	cleanup_free char *path = xasprintf("%s/pod.json", p->dir);
	cleanup_json json_t *j =
		json_pack("{s:s, s:s, s:s, s:i, s:s}", "uid", p->uid, "namespace", p->ns, "name",
			  p->name, "pausePid", (int)p->pause_pid, "ip", p->ip);
	cleanup_free char *text = jdump_s(j, JSON_COMPACT);
	struct err err = ERR_INIT;

	if (fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, &err) < 0)
		log_warn("agent: %s, ignoring", err.msg);
	err_clear(&err);
}

struct apod *pod_adopt(struct agent *a, const char *uid)
{
	struct apod *p = xcalloc(1, sizeof(*p));
	cleanup_free char *path = NULL;
	cleanup_json json_t *rec = NULL;

	pthread_mutex_init(&p->mu, NULL);
	p->uid = xstrdup(uid);
	p->dir = xasprintf("%s/%s", a->pods_dir, uid);
	path = xasprintf("%s/pod.json", p->dir);
	rec = json_load_file(path, 0, NULL);
	p->ns = xstrdup(jstr(rec, "namespace") ? jstr(rec, "namespace") : "");
	p->name = xstrdup(jstr(rec, "name") ? jstr(rec, "name") : "");
	p->pause_pid = (pid_t)json_integer_value(jget(rec, "pausePid"));
	snprintf(p->ip, sizeof(p->ip), "%s", jstr(rec, "ip") ? jstr(rec, "ip") : "");
	p->sandbox = pid_alive(p->pause_pid);
	return p;
}

/* Reads attempt @c->attempt's exit record into @c; true when it has exited. */
static bool read_exit(struct actr *c)
{
	cleanup_free char *path = xasprintf("%s/" SHIM_EXIT_FILE, c->dir);
	cleanup_json json_t *j = json_load_file(path, 0, NULL);
	int code;

	if (!j)
		return false;
	code = (int)json_integer_value(jget(j, "exitCode"));
	c->exit_code = code;
	set_str(&c->started_at, jstr(j, "startedAt"));
	set_str(&c->finished_at, jstr(j, "finishedAt"));
	set_str(&c->term_reason, json_is_true(jget(j, "oomKilled")) ? "OOMKilled"
				 : code == 0                        ? "Completed"
								    : "Error");
	c->state = ACTR_EXITED;
	return true;
}

static json_t *terminated_of(struct actr *c)
{
	cleanup_free char *cid = c->id ? xasprintf("skiff://%s", c->id) : NULL;
	json_t *t = json_pack("{s:i, s:s}", "exitCode", c->exit_code, "reason",
			      c->term_reason ? c->term_reason : "Error");

	if (c->started_at)
		json_object_set_new(t, "startedAt", json_string(c->started_at));
	if (c->finished_at)
		json_object_set_new(t, "finishedAt", json_string(c->finished_at));
	if (cid)
		json_object_set_new(t, "containerID", json_string(cid));
	return t;
}

static void save_meta(struct actr *c)
{
	cleanup_free char *path = xasprintf("%s/meta.json", c->dir);
	cleanup_json json_t *j =
		json_pack("{s:s, s:s?, s:s?, s:s?}", "id", c->id, "image", c->image, "imageID",
			  c->image_id, "startedAt", c->started_at);
	cleanup_free char *text = jdump_s(j, JSON_COMPACT);
	struct err err = ERR_INIT;

	if (fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, &err) < 0)
		log_warn("agent: %s, ignoring", err.msg);
	err_clear(&err);
}

/* Finds what earlier runs left of container @c on disk: its latest attempts. */
static void scan_attempts(struct apod *p, struct actr *c)
{
	cleanup_free char *base = xasprintf("%s/containers/%s", p->dir, c->name);
	cleanup_dir DIR *d = opendir(base);
	struct dirent *e;
	int last = -1;

	while (d && (e = readdir(d))) {
		char *end;
		long n = strtol(e->d_name, &end, 10);

		if (e->d_name[0] != '.' && !*end && n > last)
			last = (int)n;
	}
	if (last < 0)
		return;
	if (last > 0) {
		struct actr prev = {0};

		prev.dir = xasprintf("%s/%d", base, last - 1);
		prev.id = container_id(p, c->name, last - 1);
		if (read_exit(&prev))
			c->last_state = json_pack("{s:o}", "terminated", terminated_of(&prev));
		actr_done(&prev);
	}
	c->attempt = last;
	c->dir = xasprintf("%s/%d", base, last);
	{
		cleanup_free char *mpath = xasprintf("%s/meta.json", c->dir);
		cleanup_json json_t *meta = json_load_file(mpath, 0, NULL);
		cleanup_free char *shim_pid = xasprintf("%s/" SHIM_PID_FILE, c->dir);

		if (!meta || !jstr(meta, "id"))
			return; /* the attempt never got started: start it again */
		c->id = xstrdup(jstr(meta, "id"));
		set_str(&c->image, jstr(meta, "image"));
		set_str(&c->image_id, jstr(meta, "imageID"));
		set_str(&c->started_at, jstr(meta, "startedAt"));
		if (!read_exit(c)) {
			c->state = ACTR_RUNNING;
			c->running_since = clock_mono_ms();
			if (!pid_alive(read_pid(shim_pid)))
				c->state = ACTR_NONE;
		}
	}
}

static void build_containers(struct apod *p, const json_t *pod)
{
	const json_t *spec = jget(pod, "spec");
	const json_t *lists[2] = {jget(spec, "initContainers"), jget(spec, "containers")};
	size_t n = json_array_size(lists[0]) + json_array_size(lists[1]), k = 0;

	p->c = xcalloc(n ? n : 1, sizeof(*p->c));
	for (int l = 0; l < 2; l++) {
		size_t i;
		const json_t *ctr;

		json_array_foreach (lists[l], i, ctr) {
			struct actr *c = &p->c[k++];

			c->name = xstrdup(jstr(ctr, "name") ? jstr(ctr, "name") : "");
			c->init = l == 0;
			c->started = true;
			scan_attempts(p, c);
		}
	}
	p->n_c = k;
}

static const json_t *container_spec(const json_t *pod, const struct actr *c)
{
	const json_t *list = jget(jget(pod, "spec"), c->init ? "initContainers" : "containers");
	size_t i;
	const json_t *ctr;

	json_array_foreach (list, i, ctr)
		if (!strcmp(jstr(ctr, "name") ? jstr(ctr, "name") : "", c->name))
			return ctr;
	return NULL;
}

/* ---- the sandbox ---- */

int agent_pause_main(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGCHLD) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			continue;
		}
		return 0;
	}
}

static const char *pod_hostname(const json_t *pod)
{
	const json_t *spec = jget(pod, "spec");

	return jstr(spec, "hostname") ? jstr(spec, "hostname")
				      : jstr(jget(pod, "metadata"), "name");
}

/*
 * Forks the pause process into new network, IPC and UTS namespaces (only IPC with
 * hostNetwork); it is reparented away from us so that it outlives the agent.
 */
static int spawn_pause(struct agent *a, struct apod *p, bool host_net, struct err *err)
{
	int pfd[2];
	pid_t child, pause_pid = 0;
	const char *host = pod_hostname(p->pod);
	int flags = CLONE_NEWIPC | (host_net ? 0 : CLONE_NEWNET | CLONE_NEWUTS);
	char hostname[65];
	int status;
	ssize_t n;

	snprintf(hostname, sizeof(hostname), "%s", host ? host : p->name);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(err, "create pipe");
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return err_sys(err, "fork the pause process");
	}
	if (child == 0) {
		pid_t gc;
		int devnull = open("/dev/null", O_RDWR);

		setsid();
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		gc = fork();
		if (gc != 0)
			_exit(gc < 0);
		if (unshare(flags) < 0)
			_exit(1);
		if (!host_net && sethostname(hostname, strlen(hostname)) < 0)
			_exit(1);
		gc = getpid();
		if (write(pfd[1], &gc, sizeof(gc)) != (ssize_t)sizeof(gc))
			_exit(1);
		{
			char *const argv[] = {(char *)a->self_exe, "pause", NULL};

			execv(a->self_exe, argv);
		}
		_exit(127);
	}
	close(pfd[1]);
	waitpid(child, &status, 0);
	n = read(pfd[0], &pause_pid, sizeof(pause_pid));
	close(pfd[0]);
	if (n != (ssize_t)sizeof(pause_pid) || pause_pid <= 0)
		return err_set(err, EIO, "the pause process of pod '%s/%s' did not start", p->ns,
			       p->name);
	p->pause_pid = pause_pid;
	return 0;
}

static int bind_ns(struct apod *p, const char *kind, struct err *err)
{
	cleanup_free char *src = xasprintf("/proc/%d/ns/%s", (int)p->pause_pid, kind);
	cleanup_free char *dst = pod_ns_path(p, kind);
	int fd;

	umount2(dst, MNT_DETACH);
	fd = open(dst, O_CREAT | O_RDONLY | O_CLOEXEC, 0444);
	if (fd < 0)
		return err_sys(err, "create '%s'", dst);
	close(fd);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return err_sys(err, "bind '%s' to '%s'", src, dst);
	return 0;
}

static char *hosts_file(struct agent *a, struct apod *p)
{
	const json_t *spec = jget(p->pod, "spec");
	const char *host = pod_hostname(p->pod);
	const char *sub = jstr(spec, "subdomain");
	char *out = xstrdup("# Kubernetes-managed hosts file.\n"
			    "127.0.0.1\tlocalhost\n"
			    "::1\tlocalhost ip6-localhost ip6-loopback\n"
			    "fe00::0\tip6-localnet\n"
			    "fe00::0\tip6-mcastprefix\n"
			    "fe00::1\tip6-allnodes\n"
			    "fe00::2\tip6-allrouters\n");
	size_t i;
	const json_t *ha;

	if (p->ip[0]) {
		char *line = sub ? xasprintf("%s\t%s.%s.%s.svc.%s\t%s\n", p->ip, host, sub, p->ns,
					     a->cluster_domain, host)
				 : xasprintf("%s\t%s\n", p->ip, host);
		char *next = xasprintf("%s%s", out, line);

		free(line);
		free(out);
		out = next;
	}
	json_array_foreach (jget(spec, "hostAliases"), i, ha) {
		const char *ip = jstr(ha, "ip");
		size_t j;
		const json_t *hn;
		char *names = xstrdup("");

		if (!ip)
			continue;
		json_array_foreach (jget(ha, "hostnames"), j, hn) {
			char *n = xasprintf("%s\t%s", names, json_string_value(hn));

			free(names);
			names = n;
		}
		char *next =
			xasprintf("%s\n# Entries added by HostAliases.\n%s%s\n", out, ip, names);

		free(names);
		free(out);
		out = next;
	}
	return out;
}

static char *resolv_file(struct agent *a, struct apod *p)
{
	const json_t *spec = jget(p->pod, "spec");
	const char *policy = jstr(spec, "dnsPolicy") ? jstr(spec, "dnsPolicy") : "ClusterFirst";
	bool host_net = json_is_true(jget(spec, "hostNetwork"));
	const json_t *cfg = jget(spec, "dnsConfig");
	char *ns_lines = NULL, *search = NULL, *opts = NULL, *out;
	size_t i;
	const json_t *v;

	if (!strcmp(policy, "Default") || (host_net && !strcmp(policy, "ClusterFirst"))) {
		cleanup_free char *text = NULL;
		struct err err = ERR_INIT;
		size_t len;

		if (fs_read_file(AT_FDCWD, "/etc/resolv.conf", &text, &len, &err) < 0) {
			err_clear(&err);
			return xstrdup("");
		}
		return TAKE_PTR(text);
	}
	if (strcmp(policy, "None")) {
		ns_lines = xasprintf("nameserver %s\n", a->cluster_dns);
		search = xasprintf(" %s.svc.%s svc.%s %s", p->ns, a->cluster_domain,
				   a->cluster_domain, a->cluster_domain);
		opts = xstrdup(" ndots:5");
	} else {
		ns_lines = xstrdup("");
		search = xstrdup("");
		opts = xstrdup("");
	}
	json_array_foreach (jget(cfg, "nameservers"), i, v) {
		char *n = xasprintf("%snameserver %s\n", ns_lines, json_string_value(v));

		free(ns_lines);
		ns_lines = n;
	}
	json_array_foreach (jget(cfg, "searches"), i, v) {
		char *n = xasprintf("%s %s", search, json_string_value(v));

		free(search);
		search = n;
	}
	json_array_foreach (jget(cfg, "options"), i, v) {
		const char *name = jstr(v, "name"), *value = jstr(v, "value");
		char *n = value ? xasprintf("%s %s:%s", opts, name, value)
				: xasprintf("%s %s", opts, name ? name : "");

		free(opts);
		opts = n;
	}
	out = xasprintf("%s%s%s%s%s%s%s", *search ? "search" : "", search, *search ? "\n" : "",
			ns_lines, *opts ? "options" : "", opts, *opts ? "\n" : "");
	free(ns_lines);
	free(search);
	free(opts);
	return out;
}

static bool is_mountpoint(const char *path)
{
	cleanup_free char *parent = xasprintf("%s/..", path);
	struct stat a, b;

	return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int write_pod_files(struct agent *a, struct apod *p, struct err *err)
{
	cleanup_free char *hosts = hosts_file(a, p), *resolv = resolv_file(a, p);
	cleanup_free char *hosts_path = xasprintf("%s/etc-hosts", p->dir);
	cleanup_free char *resolv_path = xasprintf("%s/resolv.conf", p->dir);
	cleanup_free char *host_path = xasprintf("%s/hostname", p->dir);
	cleanup_free char *hostname = xasprintf("%s\n", pod_hostname(p->pod));
	cleanup_free char *shm = xasprintf("%s/shm", p->dir);

	if (fs_write_atomic(AT_FDCWD, hosts_path, hosts, strlen(hosts), 0644, err) < 0 ||
	    fs_write_atomic(AT_FDCWD, resolv_path, resolv, strlen(resolv), 0644, err) < 0 ||
	    fs_write_atomic(AT_FDCWD, host_path, hostname, strlen(hostname), 0644, err) < 0)
		return -err->code;
	if (mkdir(shm, 01777) < 0 && errno != EEXIST)
		return err_sys(err, "create '%s'", shm);
	/* the pod's containers share one /dev/shm, as they share the IPC namespace */
	if (!is_mountpoint(shm) && mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
					 "mode=1777,size=65536k") < 0)
		return err_sys(err, "mount tmpfs on '%s'", shm);
	return 0;
}

static void host_veth(struct apod *p, char buf[16])
{
	size_t n = 0;

	memcpy(buf, "veth", 4);
	for (const char *s = p->uid; *s && n < 11; s++)
		if (*s != '-')
			buf[4 + n++] = *s;
	buf[4 + n] = '\0';
}

static int ensure_sandbox(struct agent *a, struct apod *p, struct err *err)
{
	bool host_net = json_is_true(jget(jget(p->pod, "spec"), "hostNetwork"));
	cleanup_free char *ns_dir = xasprintf("%s/ns", p->dir);

	if (p->sandbox && pid_alive(p->pause_pid))
		return 0;
	if (p->pause_pid && !pid_alive(p->pause_pid))
		log_warn("agent: the sandbox of pod %s/%s died; making a new one", p->ns, p->name);
	if (fs_mkdir_p(ns_dir, 0755, err) < 0)
		return -err->code;
	if (spawn_pause(a, p, host_net, err) < 0)
		return -err->code;
	if (bind_ns(p, "ipc", err) < 0)
		return -err->code;
	if (!host_net) {
		cleanup_free char *netns = pod_ns_path(p, "net");
		cleanup_free char *ip_cidr = NULL;
		char veth[16];
		unsigned prefix = 24;
		const char *slash = strchr(a->pod_cidr, '/');

		if (bind_ns(p, "net", err) < 0 || bind_ns(p, "uts", err) < 0)
			return -err->code;
		if (!a->ipam)
			return err_set(err, EAGAIN, "the node has no pod network yet");
		if (net_ipam_alloc(a->ipam, p->uid, p->ip, err) < 0)
			return -err->code;
		if (slash)
			prefix = (unsigned)atoi(slash + 1);
		ip_cidr = xasprintf("%s/%u", p->ip, prefix);
		host_veth(p, veth);
		struct net_pod_attach at = {.bridge = a->bridge,
					    .host_veth = veth,
					    .netns = netns,
					    .ifname = "eth0",
					    .ip_cidr = ip_cidr,
					    .gateway = a->gateway};

		if (net_pod_attach(&at, err) < 0)
			return -err->code;
	} else {
		snprintf(p->ip, sizeof(p->ip), "%s", a->cfg.node_ip);
	}
	if (write_pod_files(a, p, err) < 0)
		return -err->code;
	p->sandbox = true;
	save_pod_record(p);
	return 0;
}

static void release_sandbox(struct agent *a, struct apod *p)
{
	static const char *const kinds[] = {"net", "ipc", "uts"};
	struct err err = ERR_INIT;
	char veth[16];
	cleanup_free char *shm = xasprintf("%s/shm", p->dir);

	host_veth(p, veth);
	if (net_pod_detach(veth, &err) < 0)
		log_warn("agent: pod %s/%s: %s, ignoring", p->ns, p->name, err.msg);
	err_clear(&err);
	if (a->ipam && net_ipam_release(a->ipam, p->uid, &err) < 0)
		log_warn("agent: pod %s/%s: %s, ignoring", p->ns, p->name, err.msg);
	err_clear(&err);
	if (pid_alive(p->pause_pid))
		kill(p->pause_pid, SIGKILL);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		cleanup_free char *path = pod_ns_path(p, kinds[i]);

		umount2(path, MNT_DETACH);
	}
	umount2(shm, MNT_DETACH);
	p->sandbox = false;
	p->pause_pid = 0;
}

/* ---- API objects the pod refers to ---- */

static int get_object(void *arg, const char *kind, const char *ns, const char *name, json_t **ret,
		      struct err *err)
{
	struct agent *a = arg;
	cleanup_free char *path = xasprintf("/api/v1/namespaces/%s/%s/%s", ns, kind, name);
	json_t *resp = NULL;
	int r = kc_request(a->kc, "GET", path, NULL, NULL, &resp, err);

	if (r == 200) {
		*ret = resp;
		return 0;
	}
	json_decref(resp);
	if (r == 404) {
		err_clear(err);
		return err_set(err, ENOENT, "%s \"%s\" not found",
			       !strcmp(kind, "secrets") ? "secret" : "configmap", name);
	}
	return r < 0 ? r : -EIO;
}

static int sa_token(void *arg, const char *ns, const char *sa, const char *audience,
		    int64_t expiration_s, char **ret, struct err *err)
{
	struct agent *a = arg;
	cleanup_free char *path =
		xasprintf("/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
	cleanup_json json_t *req =
		json_pack("{s:s, s:s, s:{s:I}}", "apiVersion", "authentication.k8s.io/v1", "kind",
			  "TokenRequest", "spec", "expirationSeconds", (json_int_t)expiration_s);
	cleanup_json json_t *resp = NULL;
	int r;

	if (audience && *audience)
		json_object_set_new(jget(req, "spec") ? (json_t *)jget(req, "spec") : req,
				    "audiences", json_pack("[s]", audience));
	r = kc_request(a->kc, "POST", path, NULL, req, &resp, err);
	if (r < 0 || r >= 300)
		return err_wrap(err, "token of service account %s/%s", ns, sa);
	if (!jstr(jget(resp, "status"), "token"))
		return err_set(err, EPROTO, "token request for %s/%s returned no token", ns, sa);
	*ret = xstrdup(jstr(jget(resp, "status"), "token"));
	return 0;
}

static int claim_path(void *arg, const char *ns, const char *claim, char **ret, struct err *err)
{
	struct agent *a = arg;
	cleanup_free char *root = xasprintf("%s/storage", a->cfg.data_dir);

	return localpath_claim(a->kc, root, a->cfg.node_name, ns, claim, ret, err);
}

static void vol_ctx_of(struct agent *a, struct vol_ctx *ctx)
{
	*ctx = (struct vol_ctx){.pods_dir = a->pods_dir,
				.node = a->cfg.node_name,
				.get = get_object,
				.token = sa_token,
				.claim = claim_path,
				.arg = a};
}

/* Lookups for env: decoded data maps, kept until the build is done. */
struct lookup_ctx {
	struct agent *a;
	json_t *keep; /* array of what we handed out */
};

static int env_lookup(void *arg, const char *kind, const char *ns, const char *name,
		      const json_t **ret_data, struct err *err)
{
	struct lookup_ctx *lc = arg;
	cleanup_json json_t *obj = NULL;
	json_t *data;
	const char *k;
	json_t *v;

	if (get_object(lc->a, kind, ns, name, &obj, err) < 0)
		return -err->code;
	data = json_object();
	json_object_foreach (json_object_get(obj, "data"), k, v) {
		if (!strcmp(kind, "secrets")) {
			size_t len;
			cleanup_free char *dec = b64_decode(json_string_value(v), &len);

			if (dec)
				json_object_set_new(data, k, json_stringn(dec, len));
		} else {
			json_object_set(data, k, v);
		}
	}
	if (!strcmp(kind, "secrets")) {
		json_object_foreach (json_object_get(obj, "stringData"), k, v)
			json_object_set(data, k, v);
	}
	json_array_append_new(lc->keep, data);
	*ret_data = data;
	return 0;
}

/* ---- events ---- */

static void event(struct agent *a, struct apod *p, const char *type, const char *reason,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void event(struct agent *a, struct apod *p, const char *type, const char *reason,
		  const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	if (!p->pod)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	kc_event(a->kc, p->pod, type, reason, AGENT_COMPONENT, "%s", msg);
}

/* ---- images ---- */

static bool insecure_registry(struct agent *a, const char *domain)
{
	for (const char *const *r = a->cfg.insecure_registries; r && *r; r++)
		if (!strcmp(*r, domain))
			return true;
	return false;
}

/* Writes the pod's imagePullSecrets as one auth file; NULL when it has none. */
static char *pull_auth_file(struct agent *a, struct apod *p)
{
	const json_t *secrets = jget(jget(p->pod, "spec"), "imagePullSecrets");
	cleanup_json json_t *auths = json_object();
	cleanup_json json_t *doc = NULL;
	cleanup_free char *text = NULL;
	char *path;
	size_t i;
	const json_t *ref;
	struct err err = ERR_INIT;

	json_array_foreach (secrets, i, ref) {
		cleanup_json json_t *s = NULL;
		const json_t *data;
		const char *key;
		const char *enc;

		if (!jstr(ref, "name") ||
		    get_object(a, "secrets", p->ns, jstr(ref, "name"), &s, &err) < 0) {
			err_clear(&err);
			continue;
		}
		data = jget(s, "data");
		key = jget(data, ".dockerconfigjson") ? ".dockerconfigjson" : ".dockercfg";
		enc = jstr(data, key);
		if (!enc)
			continue;
		size_t len;
		cleanup_free char *dec = b64_decode(enc, &len);
		cleanup_json json_t *cfg = dec ? jload_b(dec, len, 0, NULL) : NULL;
		json_t *map =
			!strcmp(key, ".dockerconfigjson") ? json_object_get(cfg, "auths") : cfg;

		if (json_is_object(map))
			json_object_update_missing(auths, map);
	}
	if (!json_object_size(auths))
		return NULL;
	doc = json_pack("{s:O}", "auths", auths);
	text = jdump_s(doc, JSON_COMPACT);
	path = xasprintf("%s/auth.json", p->dir);
	if (fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0600, &err) < 0) {
		log_warn("agent: %s, ignoring", err.msg);
		err_clear(&err);
		free(path);
		return NULL;
	}
	return path;
}

static double seconds_since(int64_t start_ms)
{
	return (double)(clock_mono_ms() - start_ms) / 1000.0;
}

/* Makes sure @c's image is in the store (per imagePullPolicy); fills @ret. */
static int ensure_image(struct agent *a, struct apod *p, struct actr *c, const json_t *spec,
			struct img_image *ret, struct err *err)
{
	const char *image = jstr(spec, "image");
	const char *policy = jstr(spec, "imagePullPolicy");
	struct img_ref ref = {0};
	cleanup_free char *name = NULL, *auth = NULL;
	char digest[IMG_DIGEST_MAX];
	bool present, always;
	int64_t t0;
	int r;

	if (!image || !*image)
		return err_set(err, EINVAL, "container %s has no image", c->name);
	if (img_ref_parse(image, &ref, err) < 0)
		return -err->code;
	name = img_ref_string(&ref);
	always = policy ? !strcmp(policy, "Always") : !ref.tag || !strcmp(ref.tag, "latest");
	pthread_mutex_lock(&a->images_mu);
	present = img_resolve(a->images, name, ret, err) == 0;
	pthread_mutex_unlock(&a->images_mu);
	if (!present)
		err_clear(err);
	if (present && !always) {
		if (!c->image || strcmp(c->image, image))
			event(a, p, "Normal", "Pulled",
			      "Container image \"%s\" already present on machine", image);
		img_ref_done(&ref);
		return 0;
	}
	if (present)
		img_image_done(ret);
	if (policy && !strcmp(policy, "Never")) {
		img_ref_done(&ref);
		return err_set(err, ENOENT,
			       "Container image \"%s\" is not present with pull policy of Never",
			       image);
	}
	event(a, p, "Normal", "Pulling", "Pulling image \"%s\"", image);
	auth = pull_auth_file(a, p);
	struct img_remote_opts o = {.auth_file = auth,
				    .insecure = insecure_registry(a, ref.domain)};

	t0 = clock_mono_ms();
	pthread_mutex_lock(&a->images_mu);
	r = img_pull(a->images, &ref, &o, digest, err);
	if (r == 0)
		r = img_resolve(a->images, name, ret, err);
	pthread_mutex_unlock(&a->images_mu);
	img_ref_done(&ref);
	if (r < 0)
		return r;
	event(a, p, "Normal", "Pulled", "Successfully pulled image \"%s\" in %.3fs", image,
	      seconds_since(t0));
	return 0;
}

/* ---- starting a container ---- */

static int64_t grace_ms(const json_t *pod);
static void stop_container(struct agent *a, struct apod *p, struct actr *c, int sig);
static bool run_hook(struct agent *a, struct apod *p, struct actr *c, const char *which,
		     int64_t timeout_ms);

static void waiting(struct actr *c, const char *reason, const char *message)
{
	set_str(&c->waiting_reason, reason);
	set_str(&c->waiting_message, message);
}

static int write_config(struct agent *a, struct apod *p, struct actr *c, const json_t *spec,
			const struct img_image *im, const char *rootfs, json_t *mounts,
			struct err *err)
{
	cleanup_json json_t *imgcfg = NULL, *config = NULL, *node = NULL;
	cleanup_free char *parent = ocispec_cgroup_parent(a->cgroup_root, p->pod);
	cleanup_free char *cg = NULL, *text = NULL, *path = NULL;
	cleanup_free char *ns_net = pod_ns_path(p, "net"), *ns_ipc = pod_ns_path(p, "ipc");
	cleanup_free char *ns_uts = pod_ns_path(p, "uts");
	cleanup_free char *hosts = xasprintf("%s/etc-hosts", p->dir);
	cleanup_free char *resolv = xasprintf("%s/resolv.conf", p->dir);
	cleanup_free char *hostname = xasprintf("%s/hostname", p->dir);
	cleanup_free char *shm = xasprintf("%s/shm", p->dir);
	cleanup_free char *termlog = xasprintf("%s/termination-log", c->dir);
	char image_id[IMG_DIGEST_MAX];
	struct lookup_ctx lc = {.a = a, .keep = json_array()};
	bool host_net = json_is_true(jget(jget(p->pod, "spec"), "hostNetwork"));
	int r, fd;

	if (img_config_json(a->images, im, &imgcfg, image_id, err) < 0) {
		json_decref(lc.keep);
		return -err->code;
	}
	set_str(&c->image_id, im->digest);
	cg = xasprintf("%s/%s", parent ? parent : a->cgroup_root, c->id);
	fd = open(termlog, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
	if (fd >= 0)
		close(fd);
	struct ocispec_in in = {
		.pod = p->pod,
		.container = spec,
		.image_config = jget(imgcfg, "config"),
		.rootfs = rootfs,
		.cgroups_path = cg,
		.ns_net = host_net ? NULL : ns_net,
		.ns_ipc = ns_ipc,
		.ns_uts = host_net ? NULL : ns_uts,
		.volume_mounts = mounts,
		.hosts_path = hosts,
		.resolv_conf_path = resolv,
		.hostname_path = hostname,
		.termination_log_path = termlog,
		.shm_path = shm,
		.pod_ip = p->ip,
		.host_ip = a->cfg.node_ip,
		.node_name = a->cfg.node_name,
		.host_dev_dir = "/dev",
		.lookup = env_lookup,
		.lookup_arg = &lc,
	};
	r = ocispec_build(&in, &config, err);
	json_decref(lc.keep);
	if (r < 0)
		return r;
	text = jdump_s(config, JSON_INDENT(1));
	path = xasprintf("%s/config.json", c->dir);
	return fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, err);
}

/* Spawns the container's monitor and waits for it to report the start. */
static int spawn_shim(struct agent *a, struct apod *p, struct actr *c, const json_t *spec,
		      struct err *err)
{
	cleanup_free char *log =
		crilog_path(a->log_dir, p->ns, p->name, p->uid, c->name, (unsigned)c->attempt);
	cleanup_free char *fd_arg = NULL;
	char buf[4096];
	size_t got = 0;
	int pfd[2];
	pid_t child;
	int status;
	int64_t deadline = clock_mono_ms() + SHIM_START_TIMEOUT;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return err_sys(err, "create pipe");
	fd_arg = xasprintf("%d", pfd[1]);
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return err_sys(err, "fork the container monitor");
	}
	if (child == 0) {
		int devnull = open("/dev/null", O_RDWR);
		const char *argv[20];
		int n = 0;

		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		fcntl(pfd[1], F_SETFD, 0);
		/* the monitor is reparented away from us: it outlives the agent */
		if (fork() != 0)
			_exit(0);
		argv[n++] = a->self_exe;
		argv[n++] = "shim";
		argv[n++] = "--root";
		argv[n++] = a->runtime_root;
		argv[n++] = "--bundle";
		argv[n++] = c->dir;
		argv[n++] = "--log";
		argv[n++] = log;
		argv[n++] = "--status-fd";
		argv[n++] = fd_arg;
		if (json_is_true(jget(spec, "stdin")))
			argv[n++] = "--stdin";
		if (json_is_true(jget(spec, "stdinOnce")))
			argv[n++] = "--stdin-once";
		argv[n++] = c->id;
		argv[n] = NULL;
		execv(a->self_exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	waitpid(child, &status, 0);
	while (got < sizeof(buf) - 1) {
		struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
		int64_t left = deadline - clock_mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	close(pfd[0]);
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strncmp(buf, "ok ", 3))
		return 0;
	if (!strncmp(buf, "error ", 6))
		return err_set(err, EIO, "%s", buf + 6);
	return err_set(err, EIO, "the container monitor exited without starting the container");
}

/* Removes attempt directories older than the previous one, with their containers. */
static void prune_attempts(struct agent *a, struct apod *p, struct actr *c)
{
	struct rt_global g = {.root = a->runtime_root};

	for (int n = c->attempt - 2; n >= 0; n--) {
		cleanup_free char *dir = xasprintf("%s/containers/%s/%d", p->dir, c->name, n);
		cleanup_free char *id = container_id(p, c->name, n);
		cleanup_free char *rootfs = xasprintf("%s/rootfs", dir);
		struct stat st;
		struct err err = ERR_INIT;

		if (stat(dir, &st) < 0)
			break;
		rt_delete(&g, id, true, &err);
		err_clear(&err);
		pthread_mutex_lock(&a->images_mu);
		img_unmount(a->images, id, rootfs, true, &err);
		pthread_mutex_unlock(&a->images_mu);
		err_clear(&err);
		fs_remove_tree(AT_FDCWD, dir, &err);
		err_clear(&err);
	}
}

/* Starts the next attempt of @c; on failure @c is left waiting with the reason. */
static int start_container(struct agent *a, struct apod *p, struct actr *c, json_t *volumes,
			   struct err *err)
{
	const json_t *spec = container_spec(p->pod, c);
	struct img_image im = {0};
	cleanup_json json_t *mounts = NULL;
	cleanup_free char *rootfs = NULL;
	struct rt_global g = {.root = a->runtime_root};
	const char *image = spec ? jstr(spec, "image") : NULL;
	int r;

	if (!spec)
		return err_set(err, ENOENT, "container %s is not in the pod's spec", c->name);
	if (c->pull_backoff_until > clock_mono_ms()) {
		cleanup_free char *m = xasprintf("Back-off pulling image \"%s\"", image);

		waiting(c, "ImagePullBackOff", m);
		return 0;
	}
	if (ensure_image(a, p, c, spec, &im, err) < 0) {
		cleanup_free char *m =
			xasprintf("Failed to pull image \"%s\": %s", image, err->msg);

		event(a, p, "Warning", "Failed", "%s", m);
		waiting(c, "ErrImagePull", m);
		c->pull_backoff_ms = c->pull_backoff_ms ? c->pull_backoff_ms * 2 : BACKOFF_START_MS;
		if (c->pull_backoff_ms > BACKOFF_MAX_MS)
			c->pull_backoff_ms = BACKOFF_MAX_MS;
		c->pull_backoff_until = clock_mono_ms() + c->pull_backoff_ms;
		return -err->code;
	}
	c->pull_backoff_ms = 0;
	set_str(&c->image, image);
	if (c->id)
		c->attempt++;
	prune_attempts(a, p, c);
	free(c->id);
	c->id = container_id(p, c->name, c->attempt);
	free(c->dir);
	c->dir = xasprintf("%s/containers/%s/%d", p->dir, c->name, c->attempt);
	rootfs = xasprintf("%s/rootfs", c->dir);
	c->state = ACTR_NONE;
	if (fs_mkdir_p(rootfs, 0755, err) < 0)
		goto config_error;
	{
		struct err e2 = ERR_INIT;

		/* a leftover of an attempt that never started */
		rt_delete(&g, c->id, true, &e2);
		err_clear(&e2);
	}
	if (vol_container_mounts(volumes, spec, &mounts, err) < 0)
		goto config_error;
	pthread_mutex_lock(&a->images_mu);
	r = img_mount(a->images, &im, c->id, rootfs, err);
	pthread_mutex_unlock(&a->images_mu);
	if (r < 0)
		goto config_error;
	if (write_config(a, p, c, spec, &im, rootfs, mounts, err) < 0)
		goto config_error;
	save_meta(c);
	if (spawn_shim(a, p, c, spec, err) < 0) {
		event(a, p, "Warning", "Failed", "Error: %s", err->msg);
		/* a failed start counts as an exit, for back-off and restartCount */
		c->state = ACTR_EXITED;
		c->exit_code = 128;
		set_str(&c->term_reason, "StartError");
		set_str(&c->started_at, NULL);
		{
			cleanup_free char *now = agent_time_rfc3339();

			set_str(&c->finished_at, now);
		}
		img_image_done(&im);
		return -err->code;
	}
	img_image_done(&im);
	event(a, p, "Normal", "Created", "Created container %s", c->name);
	event(a, p, "Normal", "Started", "Started container %s", c->name);
	c->state = ACTR_RUNNING;
	c->running_since = clock_mono_ms();
	c->ready = false;
	c->unhealthy = false;
	c->probed = false;
	c->started = !jget(spec, "startupProbe");
	set_str(&c->waiting_reason, NULL);
	set_str(&c->waiting_message, NULL);
	{
		cleanup_free char *now = agent_time_rfc3339();

		set_str(&c->started_at, now);
	}
	save_meta(c);
	if (!run_hook(a, p, c, "postStart", grace_ms(p->pod) ? grace_ms(p->pod) : 30000)) {
		/* as the kubelet does: a failed postStart hook kills the container */
		stop_container(a, p, c, SIGKILL);
	}
	return 0;

config_error:
	img_image_done(&im);
	event(a, p, "Warning", "Failed", "Error: %s", err->msg);
	waiting(c, "CreateContainerConfigError", err->msg);
	/* the attempt never ran: the next try reuses its number */
	free(c->id);
	c->id = NULL;
	if (c->attempt > 0 && c->last_state)
		c->attempt--;
	return -err->code;
}

/* ---- stopping ---- */

static void stop_container(struct agent *a, struct apod *p, struct actr *c, int sig)
{
	struct rt_global g = {.root = a->runtime_root};
	struct err err = ERR_INIT;

	if (c->state != ACTR_RUNNING || !c->id)
		return;
	if (rt_kill(&g, c->id, sig, sig == SIGKILL, &err) < 0)
		log_debug("agent: kill %s of pod %s/%s: %s", c->name, p->ns, p->name, err.msg);
	err_clear(&err);
}

static void remove_container(struct agent *a, struct apod *p, struct actr *c)
{
	struct rt_global g = {.root = a->runtime_root};
	struct err err = ERR_INIT;
	char key[256];

	prober_remove(a->prober, container_key(p, c, key, sizeof(key)));
	for (int n = c->attempt; n >= 0 && c->id; n--) {
		cleanup_free char *id = container_id(p, c->name, n);
		cleanup_free char *rootfs =
			xasprintf("%s/containers/%s/%d/rootfs", p->dir, c->name, n);

		rt_delete(&g, id, true, &err);
		err_clear(&err);
		pthread_mutex_lock(&a->images_mu);
		img_unmount(a->images, id, rootfs, true, &err);
		pthread_mutex_unlock(&a->images_mu);
		err_clear(&err);
	}
}

/* Runs lifecycle hook @which ("preStop", "postStart") of @c; false when it failed. */
static bool run_hook(struct agent *a, struct apod *p, struct actr *c, const char *which,
		     int64_t timeout_ms)
{
	const json_t *spec = container_spec(p->pod, c);
	const json_t *h = jget(jget(spec, "lifecycle"), which);
	cleanup_free char *what = xasprintf("lifecycle.%s", which);
	cleanup_free char *msg = NULL;
	struct probe_action act;
	struct err err = ERR_INIT;
	char key[256];
	enum probe_result r;

	if (!h || timeout_ms <= 0)
		return true;
	if (probe_action_parse(h, what, spec, &act, &err) < 0) {
		event(a, p, "Warning",
		      !strcmp(which, "preStop") ? "FailedPreStopHook" : "FailedPostStartHook", "%s",
		      err.msg);
		err_clear(&err);
		return false;
	}
	r = probe_action_run(&act, p->ip, &a->pops, container_key(p, c, key, sizeof(key)),
			     (int)timeout_ms, true, &msg);
	probe_action_done(&act);
	if (r == PROBE_SUCCESS)
		return true;
	event(a, p, "Warning",
	      !strcmp(which, "preStop") ? "FailedPreStopHook" : "FailedPostStartHook",
	      "%s hook for Container \"%s\" in Pod \"%s_%s(%s)\" failed - error: %s",
	      !strcmp(which, "preStop") ? "PreStop" : "PostStart", c->name, p->name, p->ns, p->uid,
	      msg ? msg : "failed");
	return false;
}

static void run_prestop(struct agent *a, struct apod *p, struct actr *c, int64_t deadline)
{
	if (c->state == ACTR_RUNNING)
		run_hook(a, p, c, "preStop", deadline - clock_mono_ms());
}

static int64_t grace_ms(const json_t *pod)
{
	const json_t *g = jget(jget(pod, "metadata"), "deletionGracePeriodSeconds");

	if (!g)
		g = jget(jget(pod, "spec"), "terminationGracePeriodSeconds");
	return json_is_integer(g) ? json_integer_value(g) * 1000 : 30000;
}

/* Kills every container within the grace period; true once none runs. */
static bool terminate(struct agent *a, struct apod *p)
{
	bool running = false;

	if (!p->sigterm_sent) {
		int64_t deadline = clock_mono_ms() + grace_ms(p->pod);

		p->kill_deadline = deadline;
		p->sigterm_sent = true;
		for (size_t i = 0; i < p->n_c; i++) {
			struct actr *c = &p->c[i];

			if (c->state != ACTR_RUNNING)
				continue;
			event(a, p, "Normal", "Killing", "Stopping container %s", c->name);
			run_prestop(a, p, c, deadline);
			stop_container(a, p, c, grace_ms(p->pod) ? SIGTERM : SIGKILL);
		}
	}
	for (size_t i = 0; i < p->n_c; i++) {
		struct actr *c = &p->c[i];

		if (c->state == ACTR_RUNNING && !read_exit(c)) {
			cleanup_free char *shim = xasprintf("%s/" SHIM_PID_FILE, c->dir);

			if (pid_alive(read_pid(shim)))
				running = true;
			else
				c->state = ACTR_EXITED;
		}
	}
	if (running && clock_mono_ms() >= p->kill_deadline) {
		for (size_t i = 0; i < p->n_c; i++)
			stop_container(a, p, &p->c[i], SIGKILL);
	}
	return !running;
}

static void remove_logs(struct agent *a, struct apod *p)
{
	cleanup_free char *dir = xasprintf("%s/%s_%s_%s", a->log_dir, p->ns, p->name, p->uid);
	struct err err = ERR_INIT;

	fs_remove_tree(AT_FDCWD, dir, &err);
	err_clear(&err);
}

/* Removes containers, sandbox, volumes and the pod's directory. */
static void teardown(struct agent *a, struct apod *p)
{
	struct vol_ctx vc;
	struct err err = ERR_INIT;
	cleanup_free char *parent = p->pod ? ocispec_cgroup_parent(a->cgroup_root, p->pod) : NULL;

	for (size_t i = 0; i < p->n_c; i++)
		remove_container(a, p, &p->c[i]);
	release_sandbox(a, p);
	vol_ctx_of(a, &vc);
	if (vol_teardown(&vc, p->uid, &err) < 0)
		log_warn("agent: pod %s/%s: %s, ignoring", p->ns, p->name, err.msg);
	err_clear(&err);
	if (parent && rt_cgroup_remove(parent, &err) < 0)
		log_debug("agent: pod %s/%s: %s", p->ns, p->name, err.msg);
	err_clear(&err);
	if (fs_remove_tree(AT_FDCWD, p->dir, &err) < 0)
		log_warn("agent: pod %s/%s: %s, ignoring", p->ns, p->name, err.msg);
	err_clear(&err);
}

bool pod_cleanup(struct agent *a, struct apod *p)
{
	if (!p->c && !p->pod) {
		/* adopted from disk and no longer in the API: find its containers to kill */
		cleanup_free char *base = xasprintf("%s/containers", p->dir);
		cleanup_dir DIR *d = opendir(base);
		struct dirent *e;
		size_t n = 0;

		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		p->c = xcalloc(n ? n : 1, sizeof(*p->c));
		if (d)
			rewinddir(d);
		while (d && (e = readdir(d)) && p->n_c < n) {
			if (e->d_name[0] == '.')
				continue;
			p->c[p->n_c].name = xstrdup(e->d_name);
			p->c[p->n_c].started = true;
			scan_attempts(p, &p->c[p->n_c]);
			p->n_c++;
		}
	}
	if (!p->sigterm_sent)
		p->kill_deadline = clock_mono_ms() + 2000;
	p->sigterm_sent = true;
	for (size_t i = 0; i < p->n_c; i++)
		stop_container(a, p, &p->c[i], SIGKILL);
	if (!terminate(a, p))
		return false;
	teardown(a, p);
	remove_logs(a, p);
	return true;
}

/* ---- status ---- */

static json_t *container_status(struct apod *p, struct actr *c)
{
	const json_t *spec = container_spec(p->pod, c);
	json_t *st = json_object(), *state;
	cleanup_free char *cid = c->id ? xasprintf("skiff://%s", c->id) : NULL;
	const char *image = c->image ? c->image : jstr(spec, "image");

	(void)p;
	if (c->state == ACTR_RUNNING) {
		state = json_pack("{s:{s:s?}}", "running", "startedAt", c->started_at);
	} else if (c->state == ACTR_EXITED && !c->waiting_reason) {
		state = json_pack("{s:o}", "terminated", terminated_of(c));
	} else {
		state = json_pack("{s:{s:s}}", "waiting", "reason",
				  c->waiting_reason ? c->waiting_reason : "ContainerCreating");
		if (c->waiting_message)
			json_object_set_new(json_object_get(state, "waiting"), "message",
					    json_string(c->waiting_message));
	}
	json_object_set_new(st, "name", json_string(c->name));
	json_object_set_new(st, "state", state);
	json_object_set_new(st, "lastState",
			    c->last_state ? json_incref(c->last_state) : json_object());
	json_object_set_new(st, "ready", json_boolean(c->state == ACTR_RUNNING && c->ready));
	json_object_set_new(st, "restartCount", json_integer(c->attempt));
	json_object_set_new(st, "image", json_string(image ? image : ""));
	json_object_set_new(st, "imageID", json_string(c->image_id ? c->image_id : ""));
	if (cid)
		json_object_set_new(st, "containerID", json_string(cid));
	json_object_set_new(st, "started", json_boolean(c->state == ACTR_RUNNING && c->started));
	return st;
}

static const char *phase_of(struct apod *p, bool *ret_init_done)
{
	const char *policy = jstr(jget(p->pod, "spec"), "restartPolicy");
	bool never = policy && !strcmp(policy, "Never");
	bool always = !policy || !strcmp(policy, "Always");
	size_t running = 0, waiting = 0, stopped = 0, succeeded = 0, n_app = 0;
	bool init_done = true, init_failed = false;

	for (size_t i = 0; i < p->n_c; i++) {
		struct actr *c = &p->c[i];

		if (c->init) {
			if (c->state == ACTR_EXITED && c->exit_code == 0)
				continue;
			init_done = false;
			if (c->state == ACTR_EXITED && never)
				init_failed = true;
			continue;
		}
		n_app++;
		if (c->state == ACTR_RUNNING) {
			running++;
		} else if (c->state == ACTR_EXITED && !c->waiting_reason) {
			stopped++;
			if (c->exit_code == 0)
				succeeded++;
		} else if (c->last_state) {
			stopped++;
		} else {
			waiting++;
		}
	}
	*ret_init_done = init_done;
	if (init_failed)
		return "Failed";
	if (!init_done || waiting)
		return "Pending";
	if (running)
		return "Running";
	if (stopped == n_app && n_app) {
		if (always)
			return "Running";
		if (stopped == succeeded)
			return "Succeeded";
		if (never)
			return "Failed";
		return "Running";
	}
	return "Pending";
}

static json_t *cond(const json_t *old_conds, const char *type, bool ok, const char *reason,
		    const char *message)
{
	const char *status = ok ? "True" : "False";
	size_t i;
	const json_t *o;
	cleanup_free char *now = agent_time_rfc3339();
	const char *since = now;
	json_t *c;

	json_array_foreach (old_conds, i, o)
		if (!strcmp(jstr(o, "type") ? jstr(o, "type") : "", type) &&
		    !strcmp(jstr(o, "status") ? jstr(o, "status") : "", status) &&
		    jstr(o, "lastTransitionTime"))
			since = jstr(o, "lastTransitionTime");
	c = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status", status, "lastProbeTime",
		      "lastTransitionTime", since);
	if (reason)
		json_object_set_new(c, "reason", json_string(reason));
	if (message)
		json_object_set_new(c, "message", json_string(message));
	return c;
}

static json_t *pod_status(struct agent *a, struct apod *p)
{
	const json_t *old = jget(p->pod, "status");
	const json_t *old_conds = jget(old, "conditions");
	json_t *st = json_object(), *conds = json_array();
	json_t *ics = json_array(), *cs = json_array();
	bool init_done, all_ready = true;
	const char *phase = phase_of(p, &init_done);
	bool terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	cleanup_free char *unready = xstrdup(""), *uninit = xstrdup("");
	size_t i;
	const json_t *o;

	for (i = 0; i < p->n_c; i++) {
		struct actr *c = &p->c[i];

		json_array_append_new(c->init ? ics : cs, container_status(p, c));
		if (c->init && !(c->state == ACTR_EXITED && c->exit_code == 0)) {
			char *n = xasprintf("%s%s%s", uninit, *uninit ? " " : "", c->name);

			free(uninit);
			uninit = n;
		}
		if (!c->init && !(c->state == ACTR_RUNNING && c->ready)) {
			char *n = xasprintf("%s%s%s", unready, *unready ? " " : "", c->name);

			free(unready);
			unready = n;
			all_ready = false;
		}
	}
	json_array_foreach (old_conds, i, o)
		if (!strcmp(jstr(o, "type") ? jstr(o, "type") : "", "PodScheduled"))
			json_array_append(conds, (json_t *)o);
	json_array_append_new(conds, cond(old_conds, "PodReadyToStartContainers",
					  p->sandbox || terminal, NULL, NULL));
	{
		cleanup_free char *m = xasprintf("containers with incomplete status: [%s]", uninit);

		json_array_append_new(conds, cond(old_conds, "Initialized", init_done,
						  init_done ? NULL : "ContainersNotInitialized",
						  init_done ? NULL : m));
	}
	{
		cleanup_free char *m = xasprintf("containers with unready status: [%s]", unready);
		const char *reason = terminal ? "PodCompleted" : "ContainersNotReady";
		bool ok = all_ready && !terminal;

		json_array_append_new(conds, cond(old_conds, "ContainersReady", ok,
						  ok ? NULL : reason, ok || terminal ? NULL : m));
		json_array_append_new(conds, cond(old_conds, "Ready", ok, ok ? NULL : reason,
						  ok || terminal ? NULL : m));
	}
	if (p->evicted) {
		phase = "Failed";
		json_object_set_new(st, "reason", json_string("Evicted"));
		json_object_set_new(st, "message", json_string(p->evicted));
	}
	json_object_set_new(st, "phase", json_string(phase));
	json_object_set_new(st, "conditions", conds);
	json_object_set_new(st, "hostIP", json_string(a->cfg.node_ip));
	json_object_set_new(st, "hostIPs", json_pack("[{s:s}]", "ip", a->cfg.node_ip));
	if (p->ip[0] && !terminal) {
		json_object_set_new(st, "podIP", json_string(p->ip));
		json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", p->ip));
	}
	if (!p->start_time)
		p->start_time = jstr(old, "startTime") ? xstrdup(jstr(old, "startTime"))
						       : agent_time_rfc3339();
	json_object_set_new(st, "startTime", json_string(p->start_time));
	if (json_array_size(ics))
		json_object_set_new(st, "initContainerStatuses", ics);
	else
		json_decref(ics);
	json_object_set_new(st, "containerStatuses", cs);
	json_object_set_new(st, "qosClass", json_string(ocispec_qos_class(p->pod)));
	return st;
}

/* Conditions carry times: compare statuses without lastTransitionTime churn. */
static bool same_status(const json_t *a, const json_t *b)
{
	return a && b && json_equal((json_t *)a, (json_t *)b);
}

static void report_status(struct agent *a, struct apod *p)
{
	cleanup_json json_t *st = pod_status(a, p);
	cleanup_free char *path = NULL;
	cleanup_json json_t *patch = NULL;
	struct err err = ERR_INIT;
	int r;

	if (same_status(st, p->reported))
		return;
	path = xasprintf("/api/v1/namespaces/%s/pods/%s/status", p->ns, p->name);
	/* the uid precondition: never write a status onto a new pod of the same name */
	patch = json_pack("{s:{s:s}, s:O}", "metadata", "uid", p->uid, "status", st);
	r = kc_request(a->kc, "PATCH", path, "application/merge-patch+json", patch, NULL, &err);
	if (r >= 200 && r < 300) {
		json_decref(p->reported);
		p->reported = json_incref(st);
	} else {
		log_debug("agent: status of pod %s/%s: %s", p->ns, p->name,
			  err.msg ? err.msg : "failed");
	}
	err_clear(&err);
}

/* ---- probes ---- */

static void sync_probes(struct agent *a, struct apod *p, struct actr *c)
{
	const json_t *spec = container_spec(p->pod, c);
	static const struct {
		const char *field;
		int kind;
	} kinds[] = {{"startupProbe", PROBE_STARTUP},
		     {"livenessProbe", PROBE_LIVENESS},
		     {"readinessProbe", PROBE_READINESS}};
	char key[256];

	container_key(p, c, key, sizeof(key));
	if (c->state != ACTR_RUNNING) {
		if (c->probed)
			prober_remove(a->prober, key);
		c->probed = false;
		c->ready = false;
		return;
	}
	if (!c->probed && !c->init) {
		int64_t since = c->running_since;

		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			const json_t *pj = jget(spec, kinds[i].field);
			struct probe_spec ps;
			struct err err = ERR_INIT;

			if (!pj)
				continue;
			if (probe_parse(pj, spec, &ps, &err) < 0) {
				log_warn("agent: pod %s/%s container %s: %s, ignoring the probe",
					 p->ns, p->name, c->name, err.msg);
				err_clear(&err);
				continue;
			}
			prober_add(a->prober, key, kinds[i].kind, &ps, p->ip, since);
			probe_spec_done(&ps);
		}
		c->probed = true;
	}
	if (c->init)
		return;
	c->started = !jget(spec, "startupProbe") ||
		     prober_result(a->prober, key, PROBE_STARTUP) == PROBE_SUCCESS;
	c->ready = c->started && (!jget(spec, "readinessProbe") ||
				  prober_result(a->prober, key, PROBE_READINESS) == PROBE_SUCCESS);
	if (jget(spec, "livenessProbe") &&
	    prober_result(a->prober, key, PROBE_LIVENESS) == PROBE_FAILURE && !c->unhealthy) {
		c->unhealthy = true;
		event(a, p, "Normal", "Killing",
		      "Container %s failed liveness probe, will be restarted", c->name);
		c->kill_deadline = clock_mono_ms() + grace_ms(p->pod);
		stop_container(a, p, c, SIGTERM);
		c->ready = false;
	}
	/* a PID 1 without a SIGTERM handler ignores it: the grace period ends in SIGKILL */
	if (c->unhealthy && c->state == ACTR_RUNNING && clock_mono_ms() >= c->kill_deadline)
		stop_container(a, p, c, SIGKILL);
}

/* ---- the sync pass ---- */

static void refresh(struct apod *p)
{
	for (size_t i = 0; i < p->n_c; i++) {
		struct actr *c = &p->c[i];

		if (c->state == ACTR_RUNNING && !read_exit(c)) {
			cleanup_free char *shim = xasprintf("%s/" SHIM_PID_FILE, c->dir);

			if (!pid_alive(read_pid(shim))) {
				/* the monitor was killed: the container's fate is unknown */
				c->state = ACTR_EXITED;
				c->exit_code = 137;
				set_str(&c->term_reason, "ContainerStatusUnknown");
			}
		}
	}
}

static bool should_restart(const json_t *pod, const struct actr *c)
{
	const char *policy = jstr(jget(pod, "spec"), "restartPolicy");

	if (c->init)
		return c->exit_code != 0 && !(policy && !strcmp(policy, "Never"));
	if (!policy || !strcmp(policy, "Always"))
		return true;
	if (!strcmp(policy, "OnFailure"))
		return c->exit_code != 0;
	return false;
}

/*
 * An exited container that is to run again: at once unless it is backing off (10 s,
 * doubling to 5 min, reset after 10 min of running), as the kubelet does. Returns the
 * ms to wait, 0 to start now.
 */
static int64_t restart_delay(struct agent *a, struct apod *p, struct actr *c)
{
	int64_t now = clock_mono_ms();

	if (c->backoff_until > now) {
		cleanup_free char *m = xasprintf(
			"back-off %llds restarting failed container=%s pod=%s_%s(%s)",
			(long long)(c->backoff_ms / 1000), c->name, p->name, p->ns, p->uid);

		if (!c->waiting_reason || strcmp(c->waiting_reason, "CrashLoopBackOff"))
			event(a, p, "Warning", "BackOff",
			      "Back-off restarting failed container %s in pod %s_%s(%s)", c->name,
			      p->name, p->ns, p->uid);
		waiting(c, "CrashLoopBackOff", m);
		return c->backoff_until - now;
	}
	if (c->running_since && now - c->running_since > BACKOFF_RESET_MS)
		c->backoff_ms = 0;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_START_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->backoff_until = now + c->backoff_ms;
	return 0;
}

static void record_last_state(struct actr *c)
{
	json_decref(c->last_state);
	c->last_state = json_pack("{s:o}", "terminated", terminated_of(c));
}

/* Runs (or restarts) one container; returns ms until it wants another look, 0 none. */
static int64_t drive(struct agent *a, struct apod *p, struct actr *c, json_t *volumes,
		     bool *ret_blocked)
{
	struct err err = ERR_INIT;
	int64_t wait = 0;

	*ret_blocked = false;
	if (c->state == ACTR_RUNNING) {
		*ret_blocked = c->init;
		return 0;
	}
	if (c->state == ACTR_EXITED && !c->waiting_reason) {
		if (!should_restart(p->pod, c)) {
			*ret_blocked = c->init && c->exit_code != 0;
			return 0;
		}
	}
	if (c->state == ACTR_EXITED ||
	    (c->waiting_reason && !strcmp(c->waiting_reason, "CrashLoopBackOff"))) {
		wait = restart_delay(a, p, c);
		if (wait > 0) {
			*ret_blocked = c->init;
			return wait;
		}
		if (c->state == ACTR_EXITED)
			record_last_state(c);
	}
	if (start_container(a, p, c, volumes, &err) < 0) {
		log_debug("agent: pod %s/%s container %s: %s", p->ns, p->name, c->name, err.msg);
		err_clear(&err);
		*ret_blocked = c->init;
		if (c->state == ACTR_EXITED) {
			record_last_state(c);
			return restart_delay(a, p, c) ?: 1000;
		}
		return c->pull_backoff_until > clock_mono_ms()
			       ? c->pull_backoff_until - clock_mono_ms()
			       : 2000;
	}
	*ret_blocked = c->init && c->state == ACTR_RUNNING;
	return 0;
}

static void ensure_pod_cgroup(struct agent *a, struct apod *p)
{
	cleanup_free char *parent = ocispec_cgroup_parent(a->cgroup_root, p->pod);
	cleanup_json json_t *res = NULL;
	struct err err = ERR_INIT;

	if (!parent)
		return;
	if (ocispec_pod_resources(p->pod, &res, &err) < 0 ||
	    rt_cgroup_ensure(parent, res, &err) < 0)
		log_warn("agent: pod %s/%s: %s, ignoring", p->ns, p->name, err.msg);
	err_clear(&err);
}

static int64_t min_wait(int64_t a, int64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

int64_t pod_sync(struct agent *a, struct apod *p, json_t *pod)
{
	struct err err = ERR_INIT;
	cleanup_json json_t *volumes = NULL;
	const json_t *meta = jget(pod, "metadata");
	struct vol_ctx vc;
	int64_t again = 0;
	bool any_running = false, init_done, terminal;

	json_decref(p->pod);
	p->pod = json_incref(pod);
	set_str(&p->ns, jstr(meta, "namespace"));
	set_str(&p->name, jstr(meta, "name"));
	if (!p->c)
		build_containers(p, pod);
	refresh(p);
	if (jget(meta, "deletionTimestamp")) {
		cleanup_free char *path = NULL;
		cleanup_json json_t *body = NULL;
		int r;

		if (!terminate(a, p)) {
			report_status(a, p);
			return 200;
		}
		teardown(a, p);
		report_status(a, p);
		path = xasprintf("/api/v1/namespaces/%s/pods/%s", p->ns, p->name);
		body = json_pack("{s:s, s:s, s:i, s:{s:s}}", "kind", "DeleteOptions", "apiVersion",
				 "v1", "gracePeriodSeconds", 0, "preconditions", "uid", p->uid);
		r = kc_request(a->kc, "DELETE", path, NULL, body, NULL, &err);
		if (r < 0 || (r >= 300 && r != 404 && r != 409)) {
			log_warn("agent: delete pod %s/%s: %s", p->ns, p->name,
				 err.msg ? err.msg : "failed");
			err_clear(&err);
			return 1000;
		}
		err_clear(&err);
		return 0;
	}
	if (p->evicted && !p->finished) {
		/* a hard eviction threshold: no grace period, as the kubelet's default */
		for (size_t i = 0; i < p->n_c; i++)
			stop_container(a, p, &p->c[i], SIGKILL);
		release_sandbox(a, p);
		p->finished = true;
	}
	if (p->finished) {
		refresh(p);
		report_status(a, p);
		return 0;
	}
	if (fs_mkdir_p(p->dir, 0700, &err) < 0) {
		log_warn("agent: %s", err.msg);
		err_clear(&err);
		return 2000;
	}
	if (!p->sandbox)
		save_pod_record(p);
	ensure_pod_cgroup(a, p);
	if (ensure_sandbox(a, p, &err) < 0) {
		if (!p->sandbox_error || strcmp(p->sandbox_error, err.msg))
			event(a, p, "Warning", "FailedCreatePodSandBox",
			      "Failed to create pod sandbox: %s", err.msg);
		set_str(&p->sandbox_error, err.msg);
		err_clear(&err);
		report_status(a, p);
		return 2000;
	}
	set_str(&p->sandbox_error, NULL);
	vol_ctx_of(a, &vc);
	if (vol_setup(&vc, pod, &volumes, &err) < 0) {
		event(a, p, "Warning", "FailedMount", "MountVolume.SetUp failed: %s", err.msg);
		err_clear(&err);
		for (size_t i = 0; i < p->n_c; i++)
			if (p->c[i].state == ACTR_NONE)
				waiting(&p->c[i], "ContainerCreating", NULL);
		report_status(a, p);
		return 2000;
	}
	/* projected content follows its objects: checked every few seconds */
	if (clock_mono_ms() - p->refreshed >= REFRESH_MS) {
		bool changed = false;

		p->refreshed = clock_mono_ms();
		if (vol_refresh(&vc, pod, &changed, &err) < 0) {
			log_debug("agent: pod %s/%s: %s", p->ns, p->name, err.msg);
			err_clear(&err);
		}
	}
	/* init containers one at a time, in order; then every app container */
	{
		bool blocked = false;

		for (size_t i = 0; i < p->n_c && !blocked; i++) {
			if (!p->c[i].init)
				continue;
			again = min_wait(again, drive(a, p, &p->c[i], volumes, &blocked));
		}
		phase_of(p, &init_done);
		for (size_t i = 0; i < p->n_c && init_done; i++) {
			bool b;

			if (p->c[i].init)
				continue;
			again = min_wait(again, drive(a, p, &p->c[i], volumes, &b));
		}
	}
	for (size_t i = 0; i < p->n_c; i++) {
		sync_probes(a, p, &p->c[i]);
		if (p->c[i].state == ACTR_RUNNING)
			any_running = true;
	}
	{
		const char *phase = phase_of(p, &init_done);

		terminal = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	}
	if (terminal) {
		/* a finished pod keeps its record but gives back its sandbox */
		for (size_t i = 0; i < p->n_c; i++)
			stop_container(a, p, &p->c[i], SIGKILL);
		release_sandbox(a, p);
		p->finished = true;
	}
	report_status(a, p);
	/* running containers: look again for exits and probe results */
	if (any_running)
		again = min_wait(again, 1000);
	return again;
}
