/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes' remote-command channel protocol over WebSocket (v5/v4/v3/v2/v1
 * channel.k8s.io and the base64 variants): serves one exec or attach session between an
 * upgraded client connection and a process's stdio. The agent's kubelet API calls it on
 * a thread per session.
 */
#ifndef SKIFF_CLUSTER_STREAM_REMOTECOMMAND_H
#define SKIFF_CLUSTER_STREAM_REMOTECOMMAND_H

struct err;

/* Channel numbers: the first byte of every message. */
enum {
	RC_STDIN = 0,
	RC_STDOUT = 1,
	RC_STDERR = 2,
	RC_ERROR = 3,
	RC_RESIZE = 4,
	RC_CLOSE = 255, /* v5: payload is the channel the client finished sending */
};

struct rc_io {
	/*
	 * Bytes from channel 0 are written here; -1 when stdin was not asked for. Closed by
	 * rc_serve on the client's close of stdin or of the socket, and always before it
	 * returns. It is made non-blocking while served (the original flags are restored
	 * before the close), so give it a descriptor of its own (a dup of a pty master).
	 */
	int stdin_fd;
	int stdout_fd; /* readable; its bytes go to channel 1 (-1: none). Not closed. */
	int stderr_fd; /* readable; channel 2 (-1: none, e.g. with a tty). Not closed. */
	int tty_fd;    /* a pty master for resize (TIOCSWINSZ) from channel 4; -1 without tty */
	/* Becomes readable when the process has ended (a pidfd); then exit_status() is called. */
	int done_fd;
	/* >= 0 exit code, or -errno when it cannot be known (→ a Failure status with that message)
	 */
	int (*exit_status)(void *arg);
	void *arg;
	/*
	 * The exec'd argv (NULL-terminated), quoted in the status of a non-zero exit the way
	 * container runtimes word it; NULL for attach.
	 */
	const char *const *command;
};

/*
 * Serves one exec/attach session on an upgraded connection @fd (not closed) speaking
 * @protocol (one of rc_protocols; NULL or "" is the unversioned channel.k8s.io) until the
 * process ended and its output is drained (then sends the status on channel 3 and a close
 * frame), or the client went away. Blocking; the caller runs it on a thread. Returns 0
 * when the status was sent; -EPIPE/-ECONNRESET when the client closed first (the process
 * may still run: its stdin is closed); -EPROTO on bad framing; -EINVAL for an unknown
 * @protocol; another -errno when the socket failed.
 */
int rc_serve(int fd, const char *protocol, const struct rc_io *io, struct err *err);

/* The protocols rc_serve speaks, in preference order (for ws_pick_protocol); NULL-terminated. */
extern const char *const rc_protocols[];

#endif
