/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Commands in running containers (exec probes, lifecycle hooks, `kubectl exec`): each runs
 * as a child `skiff runtime exec`, so the agent's threads never fork into a container's
 * namespaces themselves; its exit status is the command's.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/internal.h"

#define CAPTURE_MAX (64 * 1024)

static const char **exec_argv(struct agent *a, const char *id, char *const *argv,
			      const char *console)
{
	size_t n = 0, k = 0;
	const char **v;

	while (argv[n])
		n++;
	v = xcalloc(n + 12, sizeof(char *));
	v[k++] = a->self_exe;
	v[k++] = "runtime";
	v[k++] = "--root";
	v[k++] = a->runtime_root;
	v[k++] = "exec";
	if (console) {
		v[k++] = "--tty";
		v[k++] = "--console-socket";
		v[k++] = console;
	}
	/* the runtime stops parsing its flags at the id: the command follows as is */
	v[k++] = id;
	for (size_t i = 0; i < n; i++)
		v[k++] = argv[i];
	v[k] = NULL;
	return v;
}

/* A listening socket for the runtime to hand us the terminal of an exec with a tty. */
static int console_listen(char **ret_dir, char **ret_path, int *ret_fd, struct err *err)
{
	char tmpl[] = "/tmp/skiff-exec-XXXXXX";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (!mkdtemp(tmpl))
		return err_sys(err, "create a directory for the exec's terminal");
	*ret_dir = xstrdup(tmpl);
	*ret_path = xasprintf("%s/console.sock", tmpl);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", *ret_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		if (fd >= 0)
			close(fd);
		return err_sys(err, "listen on '%s'", *ret_path);
	}
	*ret_fd = fd;
	return 0;
}

static int recv_fd(int lfd, int timeout_ms, int *ret, struct err *err)
{
	struct pollfd pf = {.fd = lfd, .events = POLLIN};
	char data[1];
	char ctrl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl,
			     .msg_controllen = sizeof(ctrl)};
	struct cmsghdr *cm;
	cleanup_close int fd = -1;

	if (poll(&pf, 1, timeout_ms) <= 0)
		return err_set(err, ETIMEDOUT, "the runtime sent no terminal for the exec");
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "accept the exec's terminal");
	if (recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) <= 0)
		return err_sys(err, "receive the exec's terminal");
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return err_set(err, EPROTO, "the runtime sent no terminal for the exec");
	memcpy(ret, CMSG_DATA(cm), sizeof(int));
	return 0;
}

int agent_exec_spawn(struct agent *a, const char *id, char *const *argv, bool tty, bool want_in,
		     pid_t *ret_pid, int *ret_in, int *ret_out, int *ret_err, struct err *err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
	cleanup_free char *cdir = NULL, *cpath = NULL;
	cleanup_close int lfd = -1;
	cleanup_free const char **v = NULL;
	pid_t pid;
	int r = 0;

	if (tty) {
		if (console_listen(&cdir, &cpath, &lfd, err) < 0)
			goto out;
	} else if ((want_in && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
		   pipe2(errp, O_CLOEXEC) < 0) {
		r = err_sys(err, "create pipes");
		goto out;
	}
	v = exec_argv(a, id, argv, cpath);
	pid = fork();
	if (pid < 0) {
		r = err_sys(err, "fork 'runtime exec'");
		goto out;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		dup2(in[0] >= 0 ? in[0] : devnull, 0);
		dup2(out[1] >= 0 ? out[1] : devnull, 1);
		dup2(errp[1] >= 0 ? errp[1] : devnull, 2);
		execv(a->self_exe, (char *const *)v);
		_exit(127);
	}
	if (tty) {
		int master = -1;

		if (recv_fd(lfd, 30000, &master, err) < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			r = -err->code;
			goto out;
		}
		*ret_in = master;
		*ret_out = fcntl(master, F_DUPFD_CLOEXEC, 0);
		*ret_err = -1;
	} else {
		*ret_in = in[1];
		*ret_out = out[0];
		*ret_err = errp[0];
		in[1] = out[0] = errp[0] = -1;
	}
	*ret_pid = pid;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (cpath)
		unlink(cpath);
	if (cdir)
		rmdir(cdir);
	return r;
}

int agent_exec_capture(struct agent *a, const char *id, char *const *argv, int timeout_ms,
		       int *ret_status, char **ret_output, struct err *err)
{
	int fds[3] = {-1, -1, -1};
	char *buf = xmalloc(CAPTURE_MAX + 1);
	size_t len = 0;
	pid_t pid;
	int status = 0, open_fds = 2;
	int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 1000);
	bool timed_out = false;

	if (agent_exec_spawn(a, id, argv, false, false, &pid, &fds[0], &fds[1], &fds[2], err) < 0) {
		free(buf);
		return -err->code;
	}
	while (open_fds > 0) {
		struct pollfd pf[2] = {{.fd = fds[1], .events = POLLIN},
				       {.fd = fds[2], .events = POLLIN}};
		int64_t left = deadline - clock_mono_ms();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (poll(pf, 2, (int)left) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			char tmp[4096];
			ssize_t n;

			if (!pf[i].revents || pf[i].fd < 0)
				continue;
			n = read(pf[i].fd, tmp, sizeof(tmp));
			if (n <= 0) {
				close(fds[i + 1]);
				fds[i + 1] = -1;
				open_fds--;
				continue;
			}
			if (len + (size_t)n > CAPTURE_MAX)
				n = (ssize_t)(CAPTURE_MAX - len);
			memcpy(buf + len, tmp, (size_t)n);
			len += (size_t)n;
		}
	}
	for (int i = 1; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (timed_out)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	buf[len] = '\0';
	if (timed_out) {
		free(buf);
		return err_set(err, ETIMEDOUT, "command timed out after %dms", timeout_ms);
	}
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (ret_output)
		*ret_output = buf;
	else
		free(buf);
	return 0;
}
