/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exec/attach sessions over WebSocket in Kubernetes' channel protocol. The calling thread
 * polls the process's output and exit and writes them to the client; a reader thread
 * feeds channel 0 to stdin, applies resizes and notices the client leaving. Wording of
 * the statuses follows the kubelet (pkg/kubelet/cri/streaming/remotecommand) since
 * kubectl prints them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "cluster/stream/remotecommand.h"
#include "cluster/stream/websocket.h"

#define OUTPUT_CHUNK     32768
#define DRAIN_IDLE_MS    1000  /* after the exit: output silent this long counts as drained */
#define DRAIN_MAX_MS     10000 /* a background child holding the pipes cannot stall us longer */
#define CLOSE_REPLY_MS   2000  /* how long to wait for the client to answer our close */
#define RESIZE_MAX_BYTES 4096

const char *const rc_protocols[] = {
	"v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io", "v3.channel.k8s.io",
	"v2.channel.k8s.io", "channel.k8s.io",    "base64.channel.k8s.io",    NULL,
};

struct proto {
	const char *name;
	int version; /* 5: CLOSE signal; >= 4: JSON status on channel 3 */
	bool base64;
};

static const struct proto protos[] = {
	{"v5.channel.k8s.io", 5, false},       {"v4.channel.k8s.io", 4, false},
	{"v4.base64.channel.k8s.io", 4, true}, {"v3.channel.k8s.io", 3, false},
	{"v2.channel.k8s.io", 2, false},       {"channel.k8s.io", 1, false},
	{"base64.channel.k8s.io", 1, true},    {"", 1, false},
};

struct session {
	struct ws_conn *ws;
	const struct rc_io *io;
	const struct proto *proto;
	int stdin_fd; /* the reader thread's */
	int stdin_flags;
	int wake[2];   /* reader → server: the reader ended */
	int cancel[2]; /* server → reader: stop */
	int reader_rc;
	struct err reader_err;
	char *resize;
	size_t resize_len;
};

/* Sends @len bytes on @channel, raw or base64 by protocol; @buf[0] is free for the channel. */
static int send_channel(struct session *s, uint8_t channel, char *buf, size_t len, struct err *err)
{
	cleanup_free char *enc = NULL;
	cleanup_free char *text = NULL;

	if (!s->proto->base64) {
		buf[0] = (char)channel;
		return ws_write(s->ws, WS_BINARY, buf, len + 1, err);
	}
	enc = b64_encode(buf + 1, len, false);
	text = xasprintf("%c%s", '0' + channel, enc);
	return ws_write(s->ws, WS_TEXT, text, strlen(text), err);
}

static void close_stdin(struct session *s)
{
	if (s->stdin_fd < 0)
		return;
	fcntl(s->stdin_fd, F_SETFL, s->stdin_flags);
	close(s->stdin_fd);
	s->stdin_fd = -1;
}

/* Writes client input to stdin without blocking the reader past a cancel. */
static void write_stdin(struct session *s, const char *data, size_t len)
{
	while (len > 0 && s->stdin_fd >= 0) {
		struct pollfd p[2] = {{.fd = s->stdin_fd, .events = POLLOUT},
				      {.fd = s->cancel[0], .events = POLLIN}};
		ssize_t n = write(s->stdin_fd, data, len);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents)
				return;
		} else if (n < 0 && errno == EPIPE) {
			sigset_t pipe_set;
			struct timespec zero = {0, 0};

			/* consume the SIGPIPE this thread has blocked so it never fires later;
			 * nobody reads any more, so later input is dropped like upstream does */
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			sigtimedwait(&pipe_set, NULL, &zero);
			break;
		} else if (!(n < 0 && errno == EINTR)) {
			/* EIO from a pty whose process is gone, or another hard error */
			break;
		}
	}
	if (len > 0)
		close_stdin(s);
}

static void apply_resize(struct session *s, const json_t *size)
{
	json_t *w = json_object_get(size, "Width");
	json_t *h = json_object_get(size, "Height");
	struct winsize ws = {0};

	if (s->io->tty_fd < 0 || !json_is_integer(w) || !json_is_integer(h))
		return;
	/* the kubelet skips zero sizes (a client that does not know its terminal yet) */
	if (json_integer_value(w) < 1 || json_integer_value(h) < 1 ||
	    json_integer_value(w) > UINT16_MAX || json_integer_value(h) > UINT16_MAX)
		return;
	ws.ws_col = (unsigned short)json_integer_value(w);
	ws.ws_row = (unsigned short)json_integer_value(h);
	ioctl(s->io->tty_fd, TIOCSWINSZ, &ws);
}

/* Channel 4 is a stream of JSON objects; a message may hold part of one, or several. */
static void handle_resize(struct session *s, const char *data, size_t len)
{
	size_t off = 0;

	if (s->resize_len + len > RESIZE_MAX_BYTES)
		s->resize_len = 0;
	if (len > RESIZE_MAX_BYTES)
		return;
	s->resize = xrealloc(s->resize, s->resize_len + len + 1);
	memcpy(s->resize + s->resize_len, data, len);
	s->resize_len += len;
	for (;;) {
		json_error_t jerr;
		json_t *size;

		off += strspn(s->resize + off, " \t\r\n");
		if (off >= s->resize_len)
			break;
		size = jload_b(s->resize + off, s->resize_len - off, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!size) {
			/* incomplete: keep it for the next message; garbage: drop everything */
			if (json_error_code(&jerr) != json_error_premature_end_of_input)
				off = s->resize_len;
			break;
		}
		apply_resize(s, size);
		json_decref(size);
		off += jerr.position;
	}
	memmove(s->resize, s->resize + off, s->resize_len - off);
	s->resize_len -= off;
	s->resize[s->resize_len] = '\0';
}

static void handle_message(struct session *s, const char *data, size_t len)
{
	cleanup_free char *decoded = NULL;
	int channel;

	if (len == 0)
		return;
	channel = (uint8_t)data[0];
	data++;
	len--;
	if (s->proto->base64) {
		channel -= '0';
		decoded = b64_decode(data, &len);
		if (!decoded)
			return;
		data = decoded;
	}
	switch (channel) {
	case RC_STDIN:
		write_stdin(s, data, len);
		break;
	case RC_RESIZE:
		handle_resize(s, data, len);
		break;
	case RC_CLOSE:
		if (s->proto->version >= 5 && len >= 1 && (uint8_t)data[0] == RC_STDIN)
			close_stdin(s);
		break;
	default:
		/* upstream discards frames for channels it does not read */
		break;
	}
}

static void *reader_main(void *arg)
{
	struct session *s = arg;
	sigset_t pipe_set;

	/* stdin writes to a gone process must fail with EPIPE, not kill the daemon */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	for (;;) {
		cleanup_free char *data = NULL;
		size_t len = 0;
		int opcode = 0;

		s->reader_rc = ws_read(s->ws, &opcode, &data, &len, &s->reader_err);
		if (s->reader_rc < 0)
			break;
		handle_message(s, data, len);
	}
	close_stdin(s);
	close(s->wake[1]);
	s->wake[1] = -1;
	return NULL;
}

static char *command_text(const char *const *argv)
{
	size_t len = 3;
	char *out, *p;

	for (const char *const *a = argv; *a; a++)
		len += strlen(*a) + 1;
	out = p = xmalloc(len);
	*p++ = '[';
	for (const char *const *a = argv; *a; a++)
		p += sprintf(p, "%s%s", a == argv ? "" : " ", *a);
	*p++ = ']';
	*p = '\0';
	return out;
}

/* The metav1.Status the kubelet writes for @status (an exit code or -errno). */
static json_t *status_json(const struct rc_io *io, int status)
{
	json_t *j = json_object();
	json_t *cause = json_object();
	cleanup_free char *msg = NULL;
	cleanup_free char *cmd = NULL;

	json_object_set_new(j, "metadata", json_object());
	if (status == 0) {
		json_decref(cause);
		json_object_set_new(j, "status", json_string("Success"));
		return j;
	}
	json_object_set_new(j, "status", json_string("Failure"));
	if (status > 0) {
		if (io->command) {
			cmd = command_text(io->command);
			msg = xasprintf(
				"command terminated with non-zero exit code: error executing "
				"command %s, exit code %d",
				cmd, status);
		} else {
			msg = xasprintf("command terminated with non-zero exit code: exit code %d",
					status);
		}
		json_object_set_new(j, "message", json_string(msg));
		json_object_set_new(j, "reason", json_string("NonZeroExitCode"));
		json_object_set_new(cause, "reason", json_string("ExitCode"));
		json_object_set_new(cause, "message", json_sprintf("%d", status));
	} else {
		cleanup_free char *why =
			xasprintf("error executing command in container: %s", strerror(-status));

		msg = xasprintf("Internal error occurred: %s", why);
		json_object_set_new(j, "message", json_string(msg));
		json_object_set_new(j, "reason", json_string("InternalError"));
		json_object_set_new(cause, "message", json_string(why));
	}
	json_object_set_new(j, "details", json_pack("{s:[o]}", "causes", cause));
	if (status < 0)
		json_object_set_new(j, "code", json_integer(500));
	return j;
}

static int send_status(struct session *s, struct err *err)
{
	int status = s->io->exit_status ? s->io->exit_status(s->io->arg) : 0;
	cleanup_json json_t *j = status_json(s->io, status);
	cleanup_free char *text = NULL;
	cleanup_free char *buf = NULL;
	size_t len;

	if (s->proto->version >= 4) {
		text = jdump_s(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	} else {
		/* before v4 only a failure is reported, as the bare message */
		if (status == 0)
			return 0;
		text = xstrdup(json_string_value(json_object_get(j, "message")));
	}
	len = strlen(text);
	buf = xmalloc(len + 1);
	memcpy(buf + 1, text, len);
	return send_channel(s, RC_ERROR, buf, len, err);
}

struct output {
	int fd;
	uint8_t channel;
};

/* Forwards what @o has; false at its end (EOF, or EIO from a pty whose slave closed). */
static bool pump(struct session *s, struct output *o, char *buf, int *send_rc, struct err *err)
{
	ssize_t n = read(o->fd, buf + 1, OUTPUT_CHUNK);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	*send_rc = send_channel(s, o->channel, buf, (size_t)n, err);
	return true;
}

/*
 * Forwards output until the process ended and its output is drained (0), the reader
 * ended (1: the client went away or broke the protocol), or a write failed (-errno).
 */
static int serve_output(struct session *s, struct err *err)
{
	struct output outs[2] = {{s->io->stdout_fd, RC_STDOUT}, {s->io->stderr_fd, RC_STDERR}};
	cleanup_free char *buf = xmalloc(OUTPUT_CHUNK + 1);
	bool done = s->io->done_fd < 0;
	int64_t done_at = done ? clock_mono_ms() : 0, last_data = done_at;

	for (;;) {
		struct pollfd p[4];
		struct output *po[4] = {NULL};
		int n = 0, timeout = -1, r, send_rc = 0;

		for (int i = 0; i < 2; i++) {
			if (outs[i].fd < 0)
				continue;
			po[n] = &outs[i];
			p[n++] = (struct pollfd){.fd = outs[i].fd, .events = POLLIN};
		}
		if (done && n == 0)
			return 0;
		if (done) {
			int64_t now = clock_mono_ms();
			int64_t left = last_data + DRAIN_IDLE_MS - now;

			if (done_at + DRAIN_MAX_MS - now < left)
				left = done_at + DRAIN_MAX_MS - now;
			if (left <= 0)
				return 0;
			timeout = (int)left;
		}
		p[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
		if (!done)
			p[n++] = (struct pollfd){.fd = s->io->done_fd, .events = POLLIN};
		r = poll(p, (nfds_t)n, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(err, "poll exec session");
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (po[i]) {
				if (!pump(s, po[i], buf, &send_rc, err))
					po[i]->fd = -1;
				if (send_rc < 0)
					return send_rc;
				last_data = clock_mono_ms();
			} else if (p[i].fd == s->wake[0]) {
				return 1;
			} else {
				done = true;
				done_at = last_data = clock_mono_ms();
			}
		}
	}
}

/* After our close frame, gives the client a moment to answer it, then stops the reader. */
static void stop_reader(struct session *s, pthread_t reader, bool wait_reply)
{
	struct pollfd p = {.fd = s->wake[0], .events = POLLIN};

	if (wait_reply)
		while (poll(&p, 1, CLOSE_REPLY_MS) < 0 && errno == EINTR)
			;
	close(s->cancel[1]);
	s->cancel[1] = -1;
	pthread_join(reader, NULL);
}

static const struct proto *proto_find(const char *name)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(protos[i].name, name ? name : "") == 0)
			return &protos[i];
	return NULL;
}

static int serve(struct session *s, struct err *err)
{
	char hello[1];
	uint8_t first;
	pthread_t reader;
	int r;

	/* the kubelet's first message, empty on the lowest channel it writes, tells the
	 * client the streams are set up */
	first = s->io->stdout_fd >= 0 ? RC_STDOUT : s->io->stderr_fd >= 0 ? RC_STDERR : RC_ERROR;
	r = send_channel(s, first, hello, 0, err);
	if (r < 0)
		return r;
	r = pthread_create(&reader, NULL, reader_main, s);
	if (r != 0)
		return err_errno(err, r, "start exec session reader");
	r = serve_output(s, err);
	if (r == 1) {
		stop_reader(s, reader, false);
		if (s->reader_rc == -EPIPE || s->reader_rc == -ECONNRESET)
			return err_set(err, -s->reader_rc,
				       "exec session: the client left before the command ended");
		if (!s->reader_err.code)
			return err_set(err, EIO, "exec session: the connection reader stopped");
		*err = s->reader_err;
		s->reader_err = (struct err)ERR_INIT;
		return err_wrap(err, "exec session");
	}
	if (r == 0)
		r = send_status(s, err);
	if (r == 0)
		ws_close(s->ws, 1000, "");
	stop_reader(s, reader, r == 0);
	return r;
}

int rc_serve(int fd, const char *protocol, const struct rc_io *io, struct err *err)
{
	struct session s = {.io = io, .stdin_fd = -1, .wake = {-1, -1}, .cancel = {-1, -1}};
	int r;

	s.proto = proto_find(protocol);
	if (!s.proto) {
		if (io->stdin_fd >= 0)
			close(io->stdin_fd);
		return err_set(err, EINVAL, "serve exec session: unsupported protocol '%s'",
			       protocol);
	}
	s.stdin_fd = io->stdin_fd;
	if (s.stdin_fd >= 0) {
		s.stdin_flags = fcntl(s.stdin_fd, F_GETFL);
		if (s.stdin_flags < 0 ||
		    fcntl(s.stdin_fd, F_SETFL, s.stdin_flags | O_NONBLOCK) < 0) {
			r = err_sys(err, "serve exec session: set stdin non-blocking");
			close(s.stdin_fd);
			return r;
		}
	}
	if (pipe2(s.wake, O_CLOEXEC) < 0 || pipe2(s.cancel, O_CLOEXEC) < 0) {
		r = err_sys(err, "serve exec session: create pipe");
		goto out;
	}
	s.ws = ws_conn_new(fd, true);
	ws_conn_set_cancel_fd(s.ws, s.cancel[0]);
	r = serve(&s, err);
out:
	close_stdin(&s);
	ws_conn_free(s.ws);
	for (int i = 0; i < 2; i++) {
		if (s.wake[i] >= 0)
			close(s.wake[i]);
		if (s.cancel[i] >= 0)
			close(s.cancel[i]);
	}
	err_clear(&s.reader_err);
	free(s.resize);
	return r;
}
