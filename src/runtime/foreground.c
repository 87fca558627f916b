/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The foreground side of `run` (and later `exec`): waits for the container process,
 * forwards signals to it and, when the runtime allocated the container's terminal itself,
 * relays between that terminal and the caller's stdio (raw mode, window size).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/internal.h"

int rt_console_connect(const char *path, int *ret_fd, struct err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	cleanup_close int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "console socket '%s': path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, "create socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return err_sys(err, "connect to console socket '%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int rt_recv_fd(int sock, int *ret_fd, struct err *err)
{
	char cbuf[CMSG_SPACE(sizeof(int))], name[256];
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys(err, "receive the container's terminal");
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return err_set(err, EPROTO, "receive the container's terminal: no descriptor");
	memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
	return 0;
}

static void copy_winsize(int from, int to)
{
	struct winsize ws;

	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}

/* Moves what is readable on @from to @to; false at end of file or on error. */
static bool relay(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

int rt_foreground_wait(pid_t pid, int master, int *ret_status, struct err *err)
{
	static const int forwarded[] = {SIGHUP,  SIGINT,   SIGQUIT, SIGTERM, SIGUSR1,
					SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP};
	cleanup_close int sfd = -1, pidfd = -1;
	struct termios saved;
	bool raw = false, in_open = master >= 0, out_open = master >= 0;
	sigset_t set, old;
	int status = 0;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (sfd < 0 || pidfd < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_sys(err, "watch the container process");
	}
	if (master >= 0 && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios t = saved;

		/* keystrokes go to the container's terminal as they are typed */
		cfmakeraw(&t);
		raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
		copy_winsize(STDIN_FILENO, master);
	}
	for (;;) {
		struct pollfd pfd[4] = {{.fd = pidfd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN},
					{.fd = out_open ? master : -1, .events = POLLIN},
					{.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
		struct signalfd_siginfo si;

		if (poll(pfd, 4, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & POLLIN && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGWINCH && master >= 0)
				copy_winsize(STDIN_FILENO, master);
			else
				kill(pid, (int)si.ssi_signo);
		}
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = relay(master, STDOUT_FILENO);
		if (pfd[3].revents & (POLLIN | POLLHUP | POLLERR))
			in_open = relay(STDIN_FILENO, master);
		if (pfd[0].revents & POLLIN)
			break;
	}
	/* what the program wrote just before it exited */
	while (out_open) {
		struct pollfd p = {.fd = master, .events = POLLIN};

		if (poll(&p, 1, 0) <= 0 || !relay(master, STDOUT_FILENO))
			break;
	}
	if (raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigprocmask(SIG_SETMASK, &old, NULL);
	*ret_status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	return 0;
}
