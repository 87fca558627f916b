/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's HTTPS API on port 10250, with the kubelet's paths, for the API server to
 * proxy to: container logs (following them as they grow), exec and attach over the
 * WebSocket channel protocol, and port-forward over SPDY (plain or tunnelled in a
 * WebSocket). Every request but /healthz must carry the API server's kubelet-client token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jx.h"
#include "base/log.h"
#include "cluster/agent/crilog.h"
#include "cluster/agent/internal.h"
#include "cluster/agent/shim.h"
#include "cluster/api/http.h"
#include "cluster/api/pki.h"
#include "cluster/stream/portforward.h"
#include "cluster/stream/remotecommand.h"
#include "cluster/stream/websocket.h"

#define MAX_COMMAND 256

static void reply_text(struct http_request *req, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_text(struct http_request *req, unsigned code, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	http_respond_take(req, code, "text/plain; charset=utf-8", msg, strlen(msg));
}

static bool query_true(struct http_request *req, const char *name)
{
	const char *v = http_query(req, name);

	return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "True"));
}

/* Splits "<prefix>/a/b/c" into exactly @n non-empty parts; false otherwise. */
static bool split_path(const char *path, const char *prefix, char **parts, size_t n)
{
	size_t pl = strlen(prefix), k = 0;
	const char *s;

	if (strncmp(path, prefix, pl) || path[pl] != '/')
		return false;
	s = path + pl + 1;
	while (k < n && *s) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);

		if (!len)
			break;
		parts[k++] = xstrndup(s, len);
		s += len;
		if (*s == '/' && k < n)
			s++;
	}
	if (k == n && !*s)
		return true;
	for (size_t i = 0; i < k; i++) {
		free(parts[i]);
		parts[i] = NULL;
	}
	return false;
}

static void free_parts(char **parts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
}

/* ---- logs ---- */

struct follow {
	struct agent *a;
	struct http_stream *st;
	struct crilog_reader *r;
	char *exit_path; /* the attempt's exit record: following ends after it appears */
	atomic_bool closed;
	atomic_int refs;
};

static void follow_unref(struct follow *f)
{
	if (atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	crilog_reader_close(f->r);
	free(f->exit_path);
	free(f);
}

static void follow_closed(void *arg)
{
	struct follow *f = arg;

	atomic_store(&f->closed, true);
	follow_unref(f);
}

static void *follow_main(void *arg)
{
	struct follow *f = arg;
	char *buf = xmalloc(65536);
	bool exited = false;

	while (!atomic_load(&f->closed)) {
		struct err err = ERR_INIT;
		size_t n = 0;

		if (crilog_read(f->r, buf, 65536, &n, &err) < 0) {
			err_clear(&err);
			break;
		}
		if (n && http_stream_write(f->st, buf, n, 0) < 0)
			break;
		if (n)
			continue;
		if (crilog_reader_eof(f->r))
			break;
		if (!exited && access(f->exit_path, F_OK) == 0) {
			exited = true;
			crilog_reader_done(f->r, true);
			continue;
		}
		{
			struct pollfd pf = {.fd = crilog_reader_fd(f->r), .events = POLLIN};

			poll(&pf, pf.fd >= 0 ? 1 : 0, 1000);
		}
	}
	free(buf);
	http_stream_close(f->st);
	follow_unref(f);
	return NULL;
}

static int64_t parse_rfc3339_ns(const char *s)
{
	struct tm tm = {0};
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t ns = 0;

	if (!rest)
		return -1;
	if (*rest == '.') {
		int64_t scale = 100000000;

		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			ns += (*rest - '0') * scale;
	}
	return (int64_t)timegm(&tm) * 1000000000LL + ns;
}

static void do_logs(struct agent *a, struct http_request *req, const char *ns, const char *pod,
		    const char *name)
{
	struct crilog_read_opts o = {.tail_lines = -1};
	struct crilog_reader *r = NULL;
	struct err err = ERR_INIT;
	struct apod *p = agent_lookup_pod(a, ns, pod);
	struct actr *c;
	cleanup_free char *path = NULL, *exit_path = NULL;
	bool previous = query_true(req, "previous");
	const char *v;
	int attempt;

	if (!p) {
		reply_text(req, 404, "pod \"%s\" in namespace \"%s\" is not on this node", pod, ns);
		return;
	}
	c = pod_container(p, name);
	if (!c) {
		pthread_mutex_unlock(&p->mu);
		reply_text(req, 400, "container \"%s\" in pod \"%s\" is not valid", name, pod);
		return;
	}
	if (previous && (!c->last_state || c->attempt == 0)) {
		pthread_mutex_unlock(&p->mu);
		reply_text(req, 400, "previous terminated container \"%s\" in pod \"%s\" not found",
			   name, pod);
		return;
	}
	if (!previous && !c->id) {
		reply_text(req, 400, "container \"%s\" in pod \"%s\" is waiting to start: %s", name,
			   pod, c->waiting_reason ? c->waiting_reason : "ContainerCreating");
		pthread_mutex_unlock(&p->mu);
		return;
	}
	attempt = previous ? c->attempt - 1 : c->attempt;
	path = crilog_path(a->log_dir, p->ns, p->name, p->uid, c->name, (unsigned)attempt);
	exit_path = xasprintf("%s/containers/%s/%d/" SHIM_EXIT_FILE, p->dir, c->name, attempt);
	pthread_mutex_unlock(&p->mu);

	if ((v = http_query(req, "tailLines")))
		o.tail_lines = strtoll(v, NULL, 10);
	if ((v = http_query(req, "limitBytes")))
		o.limit_bytes = strtoll(v, NULL, 10);
	if ((v = http_query(req, "sinceSeconds"))) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		o.since_ns = ((int64_t)ts.tv_sec - strtoll(v, NULL, 10)) * 1000000000LL;
	} else if ((v = http_query(req, "sinceTime"))) {
		int64_t t = parse_rfc3339_ns(v);

		if (t > 0)
			o.since_ns = t;
	}
	o.timestamps = query_true(req, "timestamps");
	o.follow = query_true(req, "follow") && !previous;
	if (crilog_reader_open(path, &o, &r, &err) < 0) {
		reply_text(req, err.code == ENOENT ? 404 : 500, "%s", err.msg);
		err_clear(&err);
		return;
	}
	if (!o.follow) {
		size_t cap = 65536, len = 0;
		char *body = xmalloc(cap);

		for (;;) {
			size_t n = 0;

			if (cap - len < 16384) {
				cap *= 2;
				body = xrealloc(body, cap);
			}
			if (crilog_read(r, body + len, cap - len, &n, &err) < 0) {
				err_clear(&err);
				break;
			}
			len += n;
			if (!n && crilog_reader_eof(r))
				break;
			if (!n) {
				/* not following: what is there now is the answer */
				crilog_reader_done(r, true);
				if (crilog_read(r, body + len, cap - len, &n, &err) < 0)
					err_clear(&err);
				len += n;
				if (!n)
					break;
			}
		}
		crilog_reader_close(r);
		http_respond_take(req, 200, "text/plain", body, len);
		return;
	}
	{
		struct follow *f = xcalloc(1, sizeof(*f));
		pthread_t t;

		f->a = a;
		f->r = r;
		f->exit_path = TAKE_PTR(exit_path);
		atomic_store(&f->refs, 2);
		f->st = http_respond_stream(req, 200, "text/plain", follow_closed, f);
		if (!f->st || pthread_create(&t, NULL, follow_main, f) != 0) {
			http_stream_close(f->st);
			follow_unref(f);
			return;
		}
		pthread_detach(t);
	}
}

/* ---- exec and attach ---- */

struct session {
	struct agent *a;
	char *protocol;
	char **argv;  /* exec; NULL for attach */
	char *id;     /* container */
	char *attach; /* the shim's attach socket path (attach) */
	char *exit_path;
	bool tty, want_in, want_out, want_err, stdin_once;
	pid_t pid;
	int status;
};

static void session_free(struct session *s)
{
	if (!s)
		return;
	strv_free(s->argv);
	free(s->protocol);
	free(s->id);
	free(s->attach);
	free(s->exit_path);
	free(s);
}

static int exec_status(void *arg)
{
	struct session *s = arg;
	int status;

	if (waitpid(s->pid, &status, 0) != s->pid)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void exec_upgraded(void *arg, int fd, const char *extra, size_t extra_len)
{
	struct session *s = arg;
	struct err err = ERR_INIT;
	int in = -1, out = -1, errfd = -1, pidfd = -1;

	(void)extra;
	(void)extra_len;
	if (fd < 0) {
		session_free(s);
		return;
	}
	if (agent_exec_spawn(s->a, s->id, s->argv, s->tty, s->want_in, &s->pid, &in, &out, &errfd,
			     &err) < 0) {
		struct ws_conn *ws = ws_conn_new(fd, true);
		cleanup_free char *msg = xasprintf("%c%s", RC_ERROR, err.msg);

		ws_write(ws, WS_BINARY, msg, strlen(msg), &err);
		ws_close(ws, 1000, "");
		ws_conn_free(ws);
		err_clear(&err);
		session_free(s);
		return;
	}
	pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	{
		struct rc_io io = {
			.stdin_fd = s->want_in ? (s->tty ? fcntl(in, F_DUPFD_CLOEXEC, 0) : in) : -1,
			.stdout_fd = out,
			.stderr_fd = s->tty ? -1 : errfd,
			.tty_fd = s->tty ? in : -1,
			.done_fd = pidfd,
			.exit_status = exec_status,
			.arg = s,
			.command = (const char *const *)s->argv,
		};

		if (!s->want_in && in >= 0 && !s->tty) {
			close(in);
			in = -1;
		}
		if (rc_serve(fd, s->protocol, &io, &err) < 0)
			log_debug("agent: exec in %s: %s", s->id, err.msg);
		err_clear(&err);
		if (!s->tty)
			in = -1; /* rc_serve closed it */
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	if (pidfd >= 0)
		close(pidfd);
	/* the client left early: the command goes on in the container, but no zombie here */
	if (waitpid(s->pid, NULL, WNOHANG) == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	session_free(s);
}

/*
 * Attach: the shim's attach socket speaks frames (shim.h); rc_serve wants plain fds. A
 * relay thread turns the shim's frames into the two output pipes, and our stdin pipe
 * into frames; the shim closing the socket (the container exited) ends it all.
 */
struct relay {
	int sock;
	int out_w, err_w; /* write ends of the output pipes */
	int in_r;         /* read end of the stdin pipe, -1 without stdin */
	int done_w;       /* closed when the shim's socket ends */
	bool stdin_once;  /* the session ends once the client closed stdin */
};

static bool write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_frame(int sock, int channel, const void *data, size_t len)
{
	unsigned char hdr[5] = {(unsigned char)channel, (unsigned char)(len >> 24),
				(unsigned char)(len >> 16), (unsigned char)(len >> 8),
				(unsigned char)len};

	return write_full(sock, hdr, sizeof(hdr)) && write_full(sock, data, len);
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	char *buf = xmalloc(65536 + 5);
	size_t have = 0;
	int64_t end_at = -1;

	for (;;) {
		struct pollfd pf[2] = {{.fd = r->sock, .events = POLLIN},
				       {.fd = r->in_r, .events = POLLIN}};
		int timeout = -1;

		if (end_at >= 0) {
			timeout = (int)(end_at - clock_mono_ms());
			if (timeout <= 0)
				break;
		}
		if (poll(pf, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			char in[16384];
			ssize_t n = read(r->in_r, in, sizeof(in));

			if (n > 0) {
				send_frame(r->sock, SHIM_STDIN, in, (size_t)n);
			} else {
				send_frame(r->sock, SHIM_CLOSE_STDIN, "", 0);
				close(r->in_r);
				r->in_r = -1;
				/* stdinOnce: what the container answers still goes out, then the
				 * end */
				if (r->stdin_once)
					end_at = clock_mono_ms() + 500;
			}
		}
		if (pf[0].revents) {
			ssize_t n = read(r->sock, buf + have, 65536 + 5 - have);

			if (n <= 0)
				break;
			have += (size_t)n;
			while (have >= 5) {
				const unsigned char *h = (const unsigned char *)buf;
				size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 |
					     (size_t)h[3] << 8 | h[4];

				if (len > 65536) {
					have = 0;
					break;
				}
				if (have < 5 + len)
					break;
				write_full(h[0] == SHIM_STDERR ? r->err_w : r->out_w, buf + 5, len);
				memmove(buf, buf + 5 + len, have - 5 - len);
				have -= 5 + len;
			}
		}
	}
	free(buf);
	close(r->sock);
	close(r->out_w);
	close(r->err_w);
	if (r->in_r >= 0)
		close(r->in_r);
	close(r->done_w);
	free(r);
	return NULL;
}

static int attach_status(void *arg)
{
	struct session *s = arg;
	cleanup_json json_t *j = json_load_file(s->exit_path, 0, NULL);

	/* upstream reports an attach session that ended as a success */
	(void)j;
	return 0;
}

static int connect_attach(const char *path, struct err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int dir = -1;
	cleanup_free char *dirpath = xstrdup(path);
	char *slash = strrchr(dirpath, '/');
	int fd;

	if (!slash)
		return err_set(err, EINVAL, "bad attach path '%s'", path);
	*slash = '\0';
	/* bundle paths may be longer than sun_path: reach the socket through an fd */
	dir = open(dirpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return err_sys(err, "open '%s'", dirpath);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir, slash + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, "create socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return err_sys(err, "connect to the container's monitor");
	}
	return fd;
}

static void attach_upgraded(void *arg, int fd, const char *extra, size_t extra_len)
{
	struct session *s = arg;
	struct err err = ERR_INIT;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, donep[2] = {-1, -1};
	int sock;
	pthread_t t;

	(void)extra;
	(void)extra_len;
	if (fd < 0) {
		session_free(s);
		return;
	}
	sock = connect_attach(s->attach, &err);
	if (sock < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(donep, O_CLOEXEC) < 0 || (s->want_in && pipe2(inp, O_CLOEXEC) < 0)) {
		struct ws_conn *ws = ws_conn_new(fd, true);
		cleanup_free char *msg =
			xasprintf("%c%s", RC_ERROR, err.msg ? err.msg : "attach failed");

		ws_write(ws, WS_BINARY, msg, strlen(msg), &err);
		ws_close(ws, 1000, "");
		ws_conn_free(ws);
		err_clear(&err);
		if (sock >= 0)
			close(sock);
		for (int i = 0; i < 2; i++) {
			if (outp[i] >= 0)
				close(outp[i]);
			if (errp[i] >= 0)
				close(errp[i]);
			if (donep[i] >= 0)
				close(donep[i]);
			if (inp[i] >= 0)
				close(inp[i]);
		}
		session_free(s);
		return;
	}
	{
		struct relay *r = xcalloc(1, sizeof(*r));

		*r = (struct relay){.sock = sock,
				    .out_w = outp[1],
				    .err_w = errp[1],
				    .in_r = inp[0],
				    .done_w = donep[1],
				    .stdin_once = s->stdin_once};
		if (pthread_create(&t, NULL, relay_main, r) != 0) {
			close(sock);
			free(r);
		} else {
			pthread_detach(t);
		}
	}
	{
		struct rc_io io = {
			.stdin_fd = inp[1],
			.stdout_fd = outp[0],
			.stderr_fd = s->tty ? -1 : errp[0],
			.tty_fd = -1,
			.done_fd = donep[0],
			.exit_status = attach_status,
			.arg = s,
			.command = NULL,
		};

		if (rc_serve(fd, s->protocol, &io, &err) < 0)
			log_debug("agent: attach to %s: %s", s->id, err.msg);
		err_clear(&err);
	}
	close(outp[0]);
	close(errp[0]);
	close(donep[0]);
	session_free(s);
}

static void do_stream(struct agent *a, struct http_request *req, const char *ns, const char *pod,
		      const char *name, bool attach)
{
	const char *offered = http_header(req, "Sec-WebSocket-Protocol");
	const char *key = http_header(req, "Sec-WebSocket-Key");
	const char *upgrade = http_header(req, "Upgrade");
	const char *cmd[MAX_COMMAND];
	size_t n_cmd = 0;
	const char *proto;
	cleanup_free char *accept = NULL;
	struct session *s;
	struct apod *p;
	struct actr *c;

	if (!upgrade || strcasecmp(upgrade, "websocket") || !key) {
		reply_text(req, 400,
			   "%s needs a WebSocket upgrade (SPDY is not served for it here)",
			   attach ? "attach" : "exec");
		return;
	}
	proto = ws_pick_protocol(offered ? offered : "", rc_protocols);
	if (!proto) {
		reply_text(req, 400, "none of the offered protocols (%s) is supported",
			   offered ? offered : "");
		return;
	}
	if (!attach) {
		n_cmd = http_query_values(req, "command", cmd, MAX_COMMAND);
		if (!n_cmd) {
			reply_text(req, 400,
				   "you must specify at least one command for the container");
			return;
		}
	}
	p = agent_lookup_pod(a, ns, pod);
	if (!p) {
		reply_text(req, 404, "pod \"%s\" in namespace \"%s\" is not on this node", pod, ns);
		return;
	}
	c = pod_container(p, name);
	if (!c || c->state != ACTR_RUNNING || !c->id) {
		pthread_mutex_unlock(&p->mu);
		reply_text(req, 400, "container %s is not running in pod %s", name, pod);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->a = a;
	s->protocol = xstrdup(proto);
	s->id = xstrdup(c->id);
	s->tty = query_true(req, "tty");
	s->want_in = query_true(req, "stdin") || query_true(req, "input");
	if (attach) {
		s->attach = xasprintf("%s/" SHIM_ATTACH_SOCK, c->dir);
		s->exit_path = xasprintf("%s/" SHIM_EXIT_FILE, c->dir);
		{
			cleanup_free char *cfg_path = xasprintf("%s/config.json", c->dir);
			cleanup_json json_t *cfg = json_load_file(cfg_path, 0, NULL);

			s->tty = json_is_true(
				json_object_get(json_object_get(cfg, "process"), "terminal"));
		}
		{
			const json_t *list =
				json_object_get(json_object_get(p->pod, "spec"), "containers");
			size_t i;
			const json_t *ctr;

			json_array_foreach (list, i, ctr)
				if (!strcmp(json_string_value(json_object_get(ctr, "name")) ?: "",
					    name))
					s->stdin_once =
						json_is_true(json_object_get(ctr, "stdinOnce"));
		}
	} else {
		s->argv = xcalloc(n_cmd + 1, sizeof(char *));
		for (size_t i = 0; i < n_cmd; i++)
			s->argv[i] = xstrdup(cmd[i]);
	}
	pthread_mutex_unlock(&p->mu);
	accept = ws_accept_key(key);
	if (!accept) {
		session_free(s);
		reply_text(req, 400, "malformed Sec-WebSocket-Key");
		return;
	}
	{
		const char *headers[] = {"Upgrade",
					 "websocket",
					 "Sec-WebSocket-Accept",
					 accept,
					 "Sec-WebSocket-Protocol",
					 proto,
					 NULL};

		http_respond_upgrade(req, headers, attach ? attach_upgraded : exec_upgraded, s);
	}
}

/* ---- port-forward ---- */

struct forward {
	struct agent *a;
	char *netns;
	char *pod;
	char *uid;
	bool ws;
};

static int dial(void *arg, uint16_t port, int *ret_fd, char **ret_msg)
{
	struct forward *f = arg;
	cleanup_close int target = open(f->netns, O_RDONLY | O_CLOEXEC);
	cleanup_close int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, e;

	if (target < 0 || self < 0) {
		*ret_msg = xasprintf("open network namespace: %s", strerror(errno));
		return -errno;
	}
	/* the socket belongs to the namespace it is made in: the pod's loopback is reachable */
	if (setns(target, CLONE_NEWNET) < 0) {
		*ret_msg = xasprintf("enter the pod's network namespace: %s", strerror(errno));
		return -errno;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* a thread stuck in a pod's namespace must not go on */
	if (fd < 0) {
		*ret_msg = xasprintf("socket: %s", strerror(e));
		return -e;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		close(fd);
		*ret_msg = xasprintf("failed to connect to localhost:%u inside namespace \"%s\", "
				     "IPv4: dial tcp4 127.0.0.1:%u: connect: %s ",
				     port, f->pod, port, strerror(e));
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

static void forward_free(struct forward *f)
{
	if (!f)
		return;
	free(f->netns);
	free(f->pod);
	free(f->uid);
	free(f);
}

static void forward_upgraded(void *arg, int fd, const char *extra, size_t extra_len)
{
	struct forward *f = arg;
	struct err err = ERR_INIT;
	struct pf_ops ops = {.dial = dial, .arg = f, .pod = f->pod, .uid = ""};

	(void)extra;
	(void)extra_len;
	if (fd >= 0) {
		int r = f->ws ? pf_serve_ws(fd, &ops, &err) : pf_serve_fd(fd, &ops, &err);

		if (r < 0)
			log_debug("agent: port-forward to %s: %s", f->pod, err.msg);
		err_clear(&err);
	}
	forward_free(f);
}

static void do_portforward(struct agent *a, struct http_request *req, const char *ns,
			   const char *pod)
{
	const char *upgrade = http_header(req, "Upgrade");
	const char *offered = http_header(req, "Sec-WebSocket-Protocol");
	const char *key = http_header(req, "Sec-WebSocket-Key");
	struct apod *p = agent_lookup_pod(a, ns, pod);
	struct forward *f;

	if (!p) {
		reply_text(req, 404, "pod \"%s\" in namespace \"%s\" is not on this node", pod, ns);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->a = a;
	f->netns = json_is_true(json_object_get(json_object_get(p->pod, "spec"), "hostNetwork"))
			   ? xstrdup("/proc/1/ns/net")
			   : pod_ns_path(p, "net");
	f->pod = xasprintf("%s_%s", p->name, p->ns);
	f->uid = xstrdup(p->uid);
	pthread_mutex_unlock(&p->mu);
	if (upgrade && !strcasecmp(upgrade, "websocket")) {
		const char *const want[] = {PF_WS_PROTOCOL, NULL};
		const char *proto = ws_pick_protocol(offered ? offered : "", want);
		cleanup_free char *accept = key ? ws_accept_key(key) : NULL;

		if (!proto || !accept) {
			forward_free(f);
			reply_text(req, 400, "port-forward over WebSocket needs the %s subprotocol",
				   PF_WS_PROTOCOL);
			return;
		}
		f->ws = true;
		const char *headers[] = {"Upgrade",
					 "websocket",
					 "Sec-WebSocket-Accept",
					 accept,
					 "Sec-WebSocket-Protocol",
					 proto,
					 NULL};

		http_respond_upgrade(req, headers, forward_upgraded, f);
		return;
	}
	if (upgrade && !strcasecmp(upgrade, "SPDY/3.1")) {
		const char *headers[] = {"Upgrade", "SPDY/3.1", "X-Stream-Protocol-Version",
					 PF_PROTOCOL, NULL};

		http_respond_upgrade(req, headers, forward_upgraded, f);
		return;
	}
	forward_free(f);
	reply_text(req, 400, "port-forward needs a WebSocket or SPDY/3.1 upgrade");
}

/* ---- the server ---- */

static bool authorized(struct agent *a, struct http_request *req)
{
	const char *h = http_header(req, "Authorization");

	if (!a->kubelet_token)
		return true;
	return h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, a->kubelet_token);
}

static void handler(void *ctx, struct http_request *req)
{
	struct agent *a = ctx;
	const char *path = http_path(req);
	char *parts[3] = {NULL, NULL, NULL};

	if (!strcmp(path, "/healthz")) {
		http_respond(req, 200, "text/plain", "ok", 2);
		return;
	}
	if (!authorized(a, req)) {
		reply_text(req, 401, "Unauthorized");
		return;
	}
	if (split_path(path, "/containerLogs", parts, 3)) {
		do_logs(a, req, parts[0], parts[1], parts[2]);
		free_parts(parts, 3);
	} else if (split_path(path, "/exec", parts, 3)) {
		do_stream(a, req, parts[0], parts[1], parts[2], false);
		free_parts(parts, 3);
	} else if (split_path(path, "/attach", parts, 3)) {
		do_stream(a, req, parts[0], parts[1], parts[2], true);
		free_parts(parts, 3);
	} else if (split_path(path, "/portForward", parts, 2)) {
		do_portforward(a, req, parts[0], parts[1]);
		free_parts(parts, 2);
	} else {
		reply_text(req, 404, "404 page not found");
	}
}

int kubelet_start(struct agent *a, struct err *err)
{
	cleanup_free char *tls = xasprintf("%s/tls", a->dir);
	cleanup_free char *ca = NULL;
	const char *names[] = {a->cfg.node_name, "localhost", NULL};
	const char *ips[] = {a->cfg.node_ip, "127.0.0.1", NULL};
	struct http_config hc = {0};

	if (!strcmp(a->cfg.node_ip, "127.0.0.1"))
		ips[1] = NULL;
	if (pki_ensure(tls, names, ips, err) < 0 ||
	    pki_load(tls, &a->tls_cert, &a->tls_key, &ca, err) < 0)
		return err_wrap(err, "agent's serving certificate");
	hc.port = a->cfg.port ? a->cfg.port : 10250;
	hc.cert_pem = a->tls_cert;
	hc.key_pem = a->tls_key;
	hc.threads = 2;
	hc.max_body = 64 * 1024;
	hc.handler = handler;
	hc.ctx = a;
	if (http_server_start(&hc, &a->http, err) < 0)
		return err_wrap(err, "agent API on port %u", hc.port);
	return 0;
}

void kubelet_stop(struct agent *a)
{
	http_server_stop(a->http);
	a->http = NULL;
}
