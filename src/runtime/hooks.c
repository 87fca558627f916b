/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI hooks (runtime-spec config.md#posix-platform-hooks): each hook is a program run with
 * the container state on its stdin, killed when it outlives its timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "base/log.h"
#include "runtime/internal.h"

extern char **environ;

static void hook_child(const struct rt_hook *h, int in_fd)
{
	char *fallback[] = {h->path, NULL};
	char *empty_env[] = {NULL};

	if (dup2(in_fd, STDIN_FILENO) < 0)
		_exit(127);
	/* hooks inherit nothing of ours but stdio */
	syscall(SYS_close_range, 3, ~0U, 0);
	execve(h->path, h->args && h->args[0] ? h->args : fallback, h->env ? h->env : empty_env);
	_exit(127);
}

static int wait_hook(pid_t pid, int timeout, int *ret_status, struct err *err)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd;
	int status, r;

	if (pidfd >= 0 && timeout > 0) {
		pfd.fd = pidfd;
		pfd.events = POLLIN;
		do
			r = poll(&pfd, 1, timeout * 1000);
		while (r < 0 && errno == EINTR);
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pidfd);
			return err_set(err, ETIMEDOUT, "timed out after %d s", timeout);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(err, "wait");
	*ret_status = status;
	return 0;
}

static int run_one(const struct rt_hook *h, const char *state_json, struct err *err)
{
	cleanup_close int rd = -1, wr = -1;
	int fds[2], status = 0;
	size_t len = strlen(state_json);
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, "create pipe");
	rd = fds[0];
	wr = fds[1];
	/* the state is small: it fits the pipe buffer, so writing first cannot block */
	if (len < 65536 && write(wr, state_json, len) != (ssize_t)len)
		return err_sys(err, "write state to hook");
	close(TAKE_FD(wr));
	pid = fork();
	if (pid < 0)
		return err_sys(err, "fork");
	if (pid == 0)
		hook_child(h, rd);
	if (wait_hook(pid, h->timeout, &status, err) < 0)
		return -err->code;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && access(h->path, X_OK) < 0)
		return err_sys(err, "exec");
	if (WIFEXITED(status))
		return err_set(err, EIO, "exited with status %d", WEXITSTATUS(status));
	return err_set(err, EIO, "killed by signal %d", WTERMSIG(status));
}

int rt_hooks_run(const struct rt_hooks *hs, enum rt_hook_kind kind, const char *state_json,
		 struct err *err)
{
	for (size_t i = 0; i < hs->n; i++)
		if (run_one(&hs->list[i], state_json, err) < 0)
			return err_wrap(err, "run %s hook %zu '%s'", rt_hook_name(kind), i,
					hs->list[i].path);
	return 0;
}

int rt_hooks_run_all(const struct rt_hooks *hs, enum rt_hook_kind kind, const char *state_json,
		     const char *id)
{
	struct err err = ERR_INIT;
	int failed = 0;

	for (size_t i = 0; i < hs->n; i++) {
		if (run_one(&hs->list[i], state_json, &err) == 0)
			continue;
		/* runtime-spec: a failing poststop hook is a warning, the others still run */
		log_warn("container '%s': run %s hook %zu '%s': %s, continuing", id,
			 rt_hook_name(kind), i, hs->list[i].path, err.msg);
		err_clear(&err);
		failed++;
	}
	return failed;
}

int rt_hooks_from_json(const json_t *hooks, enum rt_hook_kind kind, struct rt_hooks *ret,
		       struct err *err)
{
	json_t *arr, *v;
	size_t i;

	memset(ret, 0, sizeof(*ret));
	if (!hooks || jx_arr(hooks, "hooks", rt_hook_name(kind), &arr, err) <= 0)
		return err->code ? -err->code : 0;
	ret->list = xcalloc(json_array_size(arr), sizeof(*ret->list));
	json_array_foreach (arr, i, v) {
		struct rt_hook *h = &ret->list[ret->n];
		const char *p = NULL;
		int64_t t = 0;

		if (jx_str(v, "hook", "path", &p, err) <= 0 || !p)
			continue;
		h->path = xstrdup(p);
		jx_strv(v, "hook", "args", &h->args, err);
		jx_strv(v, "hook", "env", &h->env, err);
		jx_int(v, "hook", "timeout", &t, err);
		h->timeout = t > 0 && t < INT32_MAX ? (int)t : 0;
		ret->n++;
		err_clear(err);
	}
	return 0;
}

void rt_hooks_done(struct rt_hooks *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		free(hs->list[i].path);
		strv_free(hs->list[i].args);
		strv_free(hs->list[i].env);
	}
	free(hs->list);
	memset(hs, 0, sizeof(*hs));
}
