/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-container monitor (see shim.h). Single-threaded: one poll loop over the
 * container's output, a signalfd for SIGCHLD and the attach socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/jx.h"
#include "base/log.h"
#include "cluster/agent/crilog.h"
#include "cluster/agent/shim.h"
#include "runtime/runtime.h"

#define MAX_CLIENTS  16
#define DRAIN_MS     2000
#define FRAME_HEADER 5
#define MAX_FRAME    (1 << 20)

struct client {
	int fd;
	char *in;    /* a partial frame from the client */
	size_t n_in; /* bytes held */
};

struct shim {
	const struct shim_opts *o;
	struct crilog_writer *log;
	int sfd;       /* signalfd */
	int out_fd;    /* stdout pipe or pty master */
	int err_fd;    /* stderr pipe, -1 with a tty */
	int stdin_fd;  /* write end of the container's stdin pipe, or the pty master */
	int tty_fd;    /* pty master, -1 without a tty */
	int listen_fd; /* attach socket */
	struct client clients[MAX_CLIENTS];
	pid_t pid; /* the container's process */
	bool exited;
	int status; /* waitpid status */
	struct timespec started, finished;
};

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static char *rfc3339_nano(const struct timespec *ts)
{
	struct tm tm;
	char buf[40];

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%09ldZ", buf, ts->tv_nsec);
}

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;
	size_t off = 0, len;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	len = strlen(msg);
	while (off < len) {
		ssize_t w = write(fd, msg + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* ---- attach clients ---- */

static void client_drop(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	c->fd = -1;
	c->in = NULL;
	c->n_in = 0;
}

static void send_all(struct client *c, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len && c->fd >= 0) {
		ssize_t w = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = c->fd, .events = POLLOUT};

			/* a client that reads nothing for a second is dropped, not waited for */
			if (poll(&p, 1, 1000) <= 0)
				client_drop(c);
			continue;
		}
		if (w <= 0) {
			client_drop(c);
			return;
		}
		off += (size_t)w;
	}
}

static void broadcast(struct shim *s, int channel, const char *data, size_t len)
{
	char hdr[FRAME_HEADER] = {(char)channel, (char)(len >> 24), (char)(len >> 16),
				  (char)(len >> 8), (char)len};

	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &s->clients[i];

		if (c->fd < 0)
			continue;
		send_all(c, hdr, sizeof(hdr));
		send_all(c, data, len);
	}
}

static void write_stdin(struct shim *s, const char *data, size_t len)
{
	size_t off = 0;

	while (s->stdin_fd >= 0 && off < len) {
		ssize_t w = write(s->stdin_fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

static void close_stdin(struct shim *s)
{
	/* a terminal's master also carries output: only a pipe is closed */
	if (s->stdin_fd >= 0 && s->stdin_fd != s->tty_fd)
		close(s->stdin_fd);
	if (s->stdin_fd != s->tty_fd)
		s->stdin_fd = -1;
	else if (s->tty_fd >= 0)
		write_stdin(s, "\004", 1);
}

static void resize(struct shim *s, const char *data, size_t len)
{
	cleanup_json json_t *j = jload_b(data, len, 0, NULL);
	struct winsize ws = {0};

	if (!j || s->tty_fd < 0)
		return;
	ws.ws_col = (unsigned short)json_integer_value(json_object_get(j, "Width"));
	ws.ws_row = (unsigned short)json_integer_value(json_object_get(j, "Height"));
	if (ws.ws_col && ws.ws_row)
		ioctl(s->tty_fd, TIOCSWINSZ, &ws);
}

static void client_input(struct shim *s, struct client *c)
{
	char buf[16384];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_drop(c);
		if (s->o->stdin_once)
			close_stdin(s);
		return;
	}
	c->in = xrealloc(c->in, c->n_in + (size_t)n);
	memcpy(c->in + c->n_in, buf, (size_t)n);
	c->n_in += (size_t)n;
	while (c->n_in >= FRAME_HEADER) {
		const unsigned char *h = (const unsigned char *)c->in;
		size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];

		if (len > MAX_FRAME) {
			client_drop(c);
			return;
		}
		if (c->n_in < FRAME_HEADER + len)
			return;
		if (h[0] == SHIM_STDIN)
			write_stdin(s, c->in + FRAME_HEADER, len);
		else if (h[0] == SHIM_RESIZE)
			resize(s, c->in + FRAME_HEADER, len);
		else if (h[0] == SHIM_CLOSE_STDIN)
			close_stdin(s);
		memmove(c->in, c->in + FRAME_HEADER + len, c->n_in - FRAME_HEADER - len);
		c->n_in -= FRAME_HEADER + len;
	}
}

static void accept_client(struct shim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (s->clients[i].fd < 0) {
			s->clients[i].fd = fd;
			return;
		}
	}
	close(fd);
}

/* ---- output ---- */

/* Reads what @fd holds into the log; false at EOF or error. */
static bool pump(struct shim *s, int fd, enum crilog_stream stream)
{
	char buf[65536];
	struct err err = ERR_INIT;
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false; /* EOF, or EIO from a pty whose last slave closed */
	if (crilog_write(s->log, stream, buf, (size_t)n, &err) < 0) {
		log_warn("shim %s: %s, ignoring", s->o->id, err.msg);
		err_clear(&err);
	}
	broadcast(s, stream == CRILOG_STDERR ? SHIM_STDERR : SHIM_STDOUT, buf, (size_t)n);
	return true;
}

/* ---- exit ---- */

static void reap(struct shim *s)
{
	struct signalfd_siginfo si;
	int status;
	pid_t p;

	while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p == s->pid && !s->exited) {
			s->exited = true;
			s->status = status;
			clock_gettime(CLOCK_REALTIME, &s->finished);
		}
	}
}

/* Whether the kernel's OOM killer killed a process of the container's cgroup. */
static bool oom_killed(const char *bundle)
{
	cleanup_free char *cfg_path = xasprintf("%s/config.json", bundle);
	cleanup_json json_t *cfg = json_load_file(cfg_path, 0, NULL);
	const char *cg =
		json_string_value(json_object_get(json_object_get(cfg, "linux"), "cgroupsPath"));
	static const char *const files[][2] = {
		{"/sys/fs/cgroup/memory", "memory.oom_control"},
		{"/sys/fs/cgroup", "memory.events"},
	};

	if (!cg)
		return false;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		cleanup_free char *path = xasprintf("%s%s%s/%s", files[i][0],
						    cg[0] == '/' ? "" : "/", cg, files[i][1]);
		cleanup_free char *text = NULL;
		struct err err = ERR_INIT;
		size_t len;
		const char *k;

		if (fs_read_file(AT_FDCWD, path, &text, &len, &err) < 0) {
			err_clear(&err);
			continue;
		}
		k = strstr(text, "oom_kill ");
		if (k && strtoll(k + 9, NULL, 10) > 0)
			return true;
	}
	return false;
}

static int write_exit(struct shim *s, struct err *err)
{
	cleanup_free char *started = rfc3339_nano(&s->started);
	cleanup_free char *finished = rfc3339_nano(&s->finished);
	cleanup_free char *path = xasprintf("%s/" SHIM_EXIT_FILE, s->o->bundle);
	cleanup_free char *text = NULL;
	cleanup_json json_t *j = NULL;
	int code = 0, sig = 0;

	if (WIFEXITED(s->status)) {
		code = WEXITSTATUS(s->status);
	} else if (WIFSIGNALED(s->status)) {
		sig = WTERMSIG(s->status);
		code = 128 + sig;
	}
	j = json_pack("{s:i, s:i, s:s, s:s, s:b}", "exitCode", code, "signal", sig, "startedAt",
		      started, "finishedAt", finished, "oomKilled", oom_killed(s->o->bundle));
	text = jdump_s(j, JSON_COMPACT);
	return fs_write_atomic(AT_FDCWD, path, text, strlen(text), 0644, err);
}

/* ---- start ---- */

static int listen_attach(struct shim *s, struct err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	/* relative to the bundle (our cwd): bundle paths may be longer than sun_path */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", SHIM_ATTACH_SOCK);
	unlink(SHIM_ATTACH_SOCK);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return err_sys(err, "create attach socket");
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s->listen_fd, 8) < 0)
		return err_sys(err, "listen on '%s/%s'", s->o->bundle, SHIM_ATTACH_SOCK);
	return 0;
}

static int recv_pty(int lfd, int *ret, struct err *err)
{
	char data[1];
	char ctrl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl,
			     .msg_controllen = sizeof(ctrl)};
	struct cmsghdr *cm;
	cleanup_close int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return err_sys(err, "accept the container's terminal");
	if (recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) < 0)
		return err_sys(err, "receive the container's terminal");
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return err_set(err, EPROTO, "the runtime sent no terminal");
	memcpy(ret, CMSG_DATA(cm), sizeof(int));
	return 0;
}

/* Creates and starts the container with our pipes (or a terminal) as its stdio. */
static int start_container(struct shim *s, const struct rt_global *g, bool tty, struct err *err)
{
	struct rt_create_opts co = {.bundle = s->o->bundle};
	cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	cleanup_close int console = -1;
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1};
	cleanup_json json_t *state = NULL;
	int r;

	if (devnull < 0)
		return err_sys(err, "open /dev/null");
	if (tty) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(sa.sun_path, sizeof(sa.sun_path), "console.sock");
		unlink("console.sock");
		console = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (console < 0 || bind(console, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(console, 1) < 0)
			return err_sys(err, "listen for the container's terminal");
		co.console_socket = "console.sock";
	} else {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
			return err_sys(err, "create output pipes");
		if (s->o->stdin_open && pipe2(in, O_CLOEXEC) < 0)
			return err_sys(err, "create stdin pipe");
		/* the container inherits 0-2 (dup2 clears close-on-exec) */
		if (dup2(in[0] >= 0 ? in[0] : devnull, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(errp[1], 2) < 0)
			return err_sys(err, "set up the container's stdio");
	}
	r = rt_create(g, s->o->id, &co, err);
	/* our own stdio is /dev/null again, whatever happened */
	dup2(devnull, 0);
	dup2(devnull, 1);
	dup2(devnull, 2);
	if (!tty) {
		close(out[1]);
		close(errp[1]);
		if (in[0] >= 0)
			close(in[0]);
		s->out_fd = out[0];
		s->err_fd = errp[0];
		s->stdin_fd = in[1];
	}
	if (r < 0)
		return r;
	if (tty) {
		if (recv_pty(console, &s->tty_fd, err) < 0)
			return -err->code;
		s->out_fd = s->tty_fd;
		s->stdin_fd = s->tty_fd;
		unlink("console.sock");
	}
	fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
	if (s->err_fd >= 0)
		fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
	if (rt_state(g, s->o->id, &state, err) < 0)
		return -err->code;
	s->pid = (pid_t)json_integer_value(json_object_get(state, "pid"));
	clock_gettime(CLOCK_REALTIME, &s->started);
	return rt_start(g, s->o->id, err);
}

static bool tty_requested(const char *bundle)
{
	cleanup_free char *path = xasprintf("%s/config.json", bundle);
	cleanup_json json_t *cfg = json_load_file(path, 0, NULL);

	return json_is_true(json_object_get(json_object_get(cfg, "process"), "terminal"));
}

static void loop(struct shim *s)
{
	int64_t drain_until = -1;

	for (;;) {
		struct pollfd p[4 + MAX_CLIENTS];
		int n = 0, idx_out = -1, idx_err = -1, timeout = -1;
		struct timespec now;

		if (s->exited && s->out_fd < 0 && s->err_fd < 0)
			return;
		if (s->exited) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (drain_until < 0)
				drain_until = ts_ns(&now) / 1000000 + DRAIN_MS;
			/* a daemonized grandchild may hold the pipe open forever */
			timeout = (int)(drain_until - ts_ns(&now) / 1000000);
			if (timeout <= 0)
				return;
		}
		p[n++] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
		p[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		if (s->out_fd >= 0) {
			idx_out = n;
			p[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
		}
		if (s->err_fd >= 0) {
			idx_err = n;
			p[n++] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
		}
		int first_client = n;

		for (int i = 0; i < MAX_CLIENTS; i++)
			p[n++] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			return;
		if (p[0].revents)
			reap(s);
		if (p[1].revents)
			accept_client(s);
		if (idx_out >= 0 && p[idx_out].revents && !pump(s, s->out_fd, CRILOG_STDOUT)) {
			if (s->out_fd != s->tty_fd)
				close(s->out_fd);
			s->out_fd = -1;
		}
		if (idx_err >= 0 && p[idx_err].revents && !pump(s, s->err_fd, CRILOG_STDERR)) {
			close(s->err_fd);
			s->err_fd = -1;
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (s->clients[i].fd >= 0 && p[first_client + i].revents)
				client_input(s, &s->clients[i]);
	}
}

int shim_main(const struct shim_opts *o, struct err *err)
{
	struct rt_global g = {.root = o->runtime_root};
	struct shim s = {.o = o,
			 .sfd = -1,
			 .out_fd = -1,
			 .err_fd = -1,
			 .stdin_fd = -1,
			 .tty_fd = -1,
			 .listen_fd = -1};
	cleanup_free char *pid_path = xasprintf("%s/" SHIM_PID_FILE, o->bundle);
	cleanup_free char *pid_text = xasprintf("%d\n", (int)getpid());
	cleanup_free char *log_dir = xstrdup(o->log_path);
	char *slash = strrchr(log_dir, '/');
	sigset_t set;
	int r;

	for (int i = 0; i < MAX_CLIENTS; i++)
		s.clients[i].fd = -1;
	/* the agent's signals and terminal are not ours: containers outlive it */
	setsid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return err_sys(err, "become the container's subreaper");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0)
		return err_sys(err, "create signalfd");
	if (chdir(o->bundle) < 0)
		return err_sys(err, "enter bundle '%s'", o->bundle);
	if (fs_write_atomic(AT_FDCWD, pid_path, pid_text, strlen(pid_text), 0644, err) < 0)
		return -err->code;
	if (!slash)
		return err_set(err, EINVAL, "log path '%s' is not absolute", o->log_path);
	*slash = '\0';
	if (fs_mkdir_p(log_dir, 0755, err) < 0 ||
	    crilog_writer_open(log_dir, slash + 1, o->log_max_size ? o->log_max_size : 10 << 20,
			       o->log_max_files ? o->log_max_files : 5, &s.log, err) < 0)
		goto fail;
	if (listen_attach(&s, err) < 0)
		goto fail;
	r = start_container(&s, &g, tty_requested(o->bundle), err);
	if (r < 0)
		goto fail;
	report(o->status_fd, "ok %d %" PRId64 "\n", (int)s.pid, ts_ns(&s.started));
	if (o->status_fd >= 0)
		close(o->status_fd);
	loop(&s);
	if (!s.exited) {
		/* the loop ended early (poll failed): wait for the exit all the same */
		int status;

		if (waitpid(s.pid, &status, 0) == s.pid) {
			s.status = status;
			s.exited = true;
			clock_gettime(CLOCK_REALTIME, &s.finished);
		}
	}
	if (crilog_flush(s.log, err) < 0) {
		log_warn("shim %s: %s, ignoring", o->id, err->msg);
		err_clear(err);
	}
	crilog_writer_close(s.log);
	for (int i = 0; i < MAX_CLIENTS; i++)
		client_drop(&s.clients[i]);
	unlink(SHIM_ATTACH_SOCK);
	return write_exit(&s, err);

fail:
	report(o->status_fd, "error %s\n", err->msg ? err->msg : "failed");
	{
		struct err derr = ERR_INIT;

		rt_delete(&g, o->id, true, &derr);
		err_clear(&derr);
	}
	if (s.log)
		crilog_writer_close(s.log);
	unlink(SHIM_ATTACH_SOCK);
	return -err->code;
}
