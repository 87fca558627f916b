/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of WebSocket framing (cluster/stream/websocket.c) and the remote-command
 * channel protocol (cluster/stream/remotecommand.c): handshake keys, protocol choice,
 * frames of every length class over socketpairs, fragments, pings, close, malformed and
 * oversized frames, and exec sessions against real forked shells (pipes, a pty).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/stream/remotecommand.h"
#include "cluster/stream/websocket.h"

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void write_raw(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void read_raw(int fd, void *data, size_t len)
{
	char *p = data;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* A client frame with the given first byte, masked with a fixed key. */
static void send_client_frame(int fd, uint8_t b0, const void *data, size_t len)
{
	static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
	uint8_t h[14];
	size_t n = 0;
	cleanup_free uint8_t *masked = xmalloc(len + 1);

	h[n++] = b0;
	if (len < 126) {
		h[n++] = 0x80 | (uint8_t)len;
	} else if (len <= 0xffff) {
		h[n++] = 0x80 | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			h[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	memcpy(h + n, key, 4);
	n += 4;
	for (size_t i = 0; i < len; i++)
		masked[i] = ((const uint8_t *)data)[i] ^ key[i & 3];
	write_raw(fd, h, n);
	write_raw(fd, masked, len);
}

static void test_ws_accept_key_matches_rfc_example(void **state)
{
	cleanup_free char *accept = ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==");
	cleanup_free char *key = ws_client_key();
	cleanup_free char *accept2 = NULL;

	(void)state;
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(strlen(key), 24);
	accept2 = ws_accept_key(key);
	assert_non_null(accept2);
	assert_int_equal(strlen(accept2), 28);
}

static void test_ws_accept_key_rejects_malformed_keys(void **state)
{
	(void)state;
	assert_null(ws_accept_key(NULL));
	assert_null(ws_accept_key(""));
	assert_null(ws_accept_key("short"));
	assert_null(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ"));     /* no padding */
	assert_null(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=!"));   /* not base64 */
	assert_null(ws_accept_key("dGhlIHNhbXBsZSBub25jZXh4eA")); /* 19 bytes */
	assert_null(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ_="));   /* URL alphabet */
}

static void test_ws_pick_protocol_prefers_our_order(void **state)
{
	static const char *const mine[] = {"b", "a", NULL};

	(void)state;
	assert_string_equal(ws_pick_protocol("v4.channel.k8s.io, v5.channel.k8s.io", rc_protocols),
			    "v5.channel.k8s.io");
	assert_string_equal(ws_pick_protocol("v4.channel.k8s.io", rc_protocols),
			    "v4.channel.k8s.io");
	assert_string_equal(ws_pick_protocol(" base64.channel.k8s.io ,x", rc_protocols),
			    "base64.channel.k8s.io");
	assert_string_equal(ws_pick_protocol("a,b", mine), "b");
	assert_string_equal(ws_pick_protocol("a", mine), "a");
	assert_ptr_equal(ws_pick_protocol("a", mine), mine[1]);
	assert_null(ws_pick_protocol("v5.channel.k8s.io.x,v6.channel.k8s.io", rc_protocols));
	assert_null(ws_pick_protocol("", rc_protocols));
	assert_null(ws_pick_protocol(",, ,", rc_protocols));
	assert_null(ws_pick_protocol(NULL, rc_protocols));
	assert_null(ws_pick_protocol("ab", mine));
}

struct writer {
	struct ws_conn *c;
	int opcode;
	const char *data;
	size_t len;
	int rc;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	cleanup_err struct err err = ERR_INIT;

	w->rc = ws_write(w->c, w->opcode, w->data, w->len, &err);
	return NULL;
}

/* Sends @len bytes from @from and checks @to receives the same message. */
static void roundtrip(struct ws_conn *from, struct ws_conn *to, int opcode, size_t len)
{
	cleanup_free char *payload = xmalloc(len + 1);
	cleanup_free char *got = NULL;
	cleanup_err struct err err = ERR_INIT;
	struct writer w = {from, opcode, payload, len, -1};
	pthread_t t;
	size_t got_len = 0;
	int op = 0;

	for (size_t i = 0; i < len; i++)
		payload[i] = (char)('a' + i % 23);
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	assert_int_equal(ws_read(to, &op, &got, &got_len, &err), 0);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(op, opcode);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, payload, len);
	assert_int_equal(got[len], '\0');
}

static void test_ws_frames_of_every_length_round_trip_both_ways(void **state)
{
	static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 300000};
	int sv[2];
	struct ws_conn *server, *client;

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	client = ws_conn_new(sv[1], false);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		roundtrip(client, server, WS_BINARY, lens[i]);
		roundtrip(server, client, WS_TEXT, lens[i]);
	}
	ws_conn_free(server);
	ws_conn_free(client);
	close(sv[0]);
	close(sv[1]);
}

static void test_ws_server_frames_are_unmasked_and_client_frames_masked(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	uint8_t buf[16];
	int sv[2];
	struct ws_conn *server, *client;
	char big[300];

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	assert_int_equal(ws_write(server, WS_BINARY, "\x01hi", 3, &err), 0);
	read_raw(sv[1], buf, 5);
	assert_memory_equal(buf, "\x82\x03\x01hi", 5);
	memset(big, 'x', sizeof(big));
	assert_int_equal(ws_write(server, WS_TEXT, big, sizeof(big), &err), 0);
	read_raw(sv[1], buf, 4);
	assert_memory_equal(buf, "\x81\x7e\x01\x2c", 4); /* 16-bit length 300 */
	read_raw(sv[1], big, sizeof(big));
	ws_conn_free(server);

	client = ws_conn_new(sv[1], false);
	assert_int_equal(ws_write(client, WS_TEXT, "abcd", 4, &err), 0);
	read_raw(sv[0], buf, 10);
	assert_int_equal(buf[0], 0x81);
	assert_int_equal(buf[1], 0x84); /* mask bit and length 4 */
	for (int i = 0; i < 4; i++)
		buf[6 + i] ^= buf[2 + i];
	assert_memory_equal(buf + 6, "abcd", 4);
	ws_conn_free(client);
	close(sv[0]);
	close(sv[1]);
}

static void test_ws_reassembles_fragments_and_answers_pings(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	uint8_t pong[6];
	size_t len = 0;
	int op = 0, sv[2];
	struct ws_conn *server;

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	send_client_frame(sv[1], 0x01, "Hel", 3);     /* text, not final */
	send_client_frame(sv[1], 0x89, "ping", 4);    /* ping between fragments */
	send_client_frame(sv[1], 0x8a, "ignored", 7); /* unsolicited pong */
	send_client_frame(sv[1], 0x00, "lo, ", 4);    /* continuation */
	send_client_frame(sv[1], 0x80, "world", 5);   /* final continuation */
	assert_int_equal(ws_read(server, &op, &got, &len, &err), 0);
	assert_int_equal(op, WS_TEXT);
	assert_int_equal(len, 12);
	assert_string_equal(got, "Hello, world");
	read_raw(sv[1], pong, sizeof(pong));
	assert_memory_equal(pong, "\x8a\x04ping", 6);
	ws_conn_free(server);
	close(sv[0]);
	close(sv[1]);
}

static void test_ws_close_handshake_is_answered_once(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	size_t len = 0;
	int op = 0, sv[2];
	struct ws_conn *server, *client;

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	client = ws_conn_new(sv[1], false);
	assert_int_equal(ws_peer_close_code(server), 0);
	assert_int_equal(ws_close(client, 1000, "bye"), 0);
	assert_int_equal(ws_close(client, 1001, "again"), 0); /* only once */
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -EPIPE);
	assert_non_null(strstr(err.msg, "1000"));
	assert_int_equal(ws_peer_close_code(server), 1000);
	err_clear(&err);
	/* the server echoed the close; nothing else may follow it */
	assert_int_equal(ws_write(server, WS_BINARY, "x", 1, &err), -EPIPE);
	err_clear(&err);
	assert_int_equal(ws_write(client, WS_BINARY, "x", 1, &err), -EPIPE);
	err_clear(&err);
	assert_int_equal(ws_read(client, &op, &got, &len, &err), -EPIPE);
	assert_int_equal(ws_peer_close_code(client), 1000);
	err_clear(&err);
	/* then the connection just ends */
	close(sv[1]);
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -ECONNRESET);
	assert_non_null(err.msg);
	ws_conn_free(server);
	ws_conn_free(client);
	close(sv[0]);
}

static void test_ws_close_without_status_reports_1005(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	uint8_t reply[2];
	size_t len = 0;
	int op = 0, sv[2];
	struct ws_conn *server;

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	send_client_frame(sv[1], 0x88, "", 0);
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -EPIPE);
	assert_int_equal(ws_peer_close_code(server), 1005);
	read_raw(sv[1], reply, 2);
	assert_memory_equal(reply, "\x88\x00", 2);
	ws_conn_free(server);
	close(sv[0]);
	close(sv[1]);
}

static const struct bad_frame {
	bool to_server;
	uint8_t bytes[16];
	size_t len;
	const char *why;
} bad_frames[] = {
	{true, {0x82, 0x01, 'x'}, 3, "unmasked frame from the client"},
	{false, {0x82, 0x81, 1, 2, 3, 4, 'x'}, 7, "masked frame from the server"},
	{true, {0xc2, 0x80, 0, 0, 0, 0}, 6, "reserved bits"},
	{true, {0x83, 0x80, 0, 0, 0, 0}, 6, "unknown opcode 3"},
	{true, {0x8b, 0x80, 0, 0, 0, 0}, 6, "unknown opcode 11"},
	{true, {0x80, 0x80, 0, 0, 0, 0}, 6, "continuation frame without a message"},
	{true, {0x09, 0x80, 0, 0, 0, 0}, 6, "fragmented control frame"},
	{true, {0x89, 0xfe, 0x00, 0x7e, 0, 0, 0, 0}, 8, "more than 125"},
	{true, {0x88, 0x81, 0, 0, 0, 0, 3}, 7, "1-byte payload"},
	{true, {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 14, "high bit"},
	{true, {0x01, 0x80, 0, 0, 0, 0, 0x82, 0x80, 0, 0, 0, 0}, 12, "inside a fragmented"},
};

static void test_ws_bad_frames_fail_with_a_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
		const struct bad_frame *b = &bad_frames[i];
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *got = NULL;
		uint8_t reply[8];
		size_t len = 0;
		int op = 0, sv[2];
		struct ws_conn *c;

		make_pair(sv);
		c = ws_conn_new(sv[0], b->to_server);
		write_raw(sv[1], b->bytes, b->len);
		assert_int_equal(ws_read(c, &op, &got, &len, &err), -EPROTO);
		assert_int_equal(err.code, EPROTO);
		if (!strstr(err.msg, b->why))
			fail_msg("frame %zu: '%s' does not say '%s'", i, err.msg, b->why);
		/* the peer is told: a close frame with 1002 (masked when the client sends it) */
		read_raw(sv[1], reply, b->to_server ? 4 : 8);
		assert_int_equal(reply[0], 0x88);
		if (!b->to_server) {
			reply[2] = reply[6] ^ reply[2];
			reply[3] = reply[7] ^ reply[3];
		}
		assert_int_equal(reply[2] << 8 | reply[3], 1002);
		ws_conn_free(c);
		close(sv[0]);
		close(sv[1]);
	}
}

/* Writes 17 binary fragments (masked with a zero key) of 1 MiB until the peer goes away. */
static void *fragments_main(void *arg)
{
	int fd = *(int *)arg;
	char *chunk = calloc(1, 1 << 20);

	for (int i = 0; i < 17 && chunk; i++) {
		uint8_t h[14] = {i == 0 ? 0x02 : 0x00, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0};
		size_t off = 0;

		if (send(fd, h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
			break;
		while (off < (1u << 20)) {
			ssize_t n = send(fd, chunk + off, (1u << 20) - off, MSG_NOSIGNAL);

			if (n <= 0)
				goto out;
			off += (size_t)n;
		}
	}
out:
	free(chunk);
	return NULL;
}

static void test_ws_oversized_messages_fail_with_emsgsize(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	uint8_t huge[] = {0x82, 0xff, 0, 0, 0, 0, 0x01, 0, 0, 0x01, 0, 0, 0, 0};
	pthread_t t;
	size_t len = 0;
	int op = 0, sv[2];
	struct ws_conn *server;

	(void)state;
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	write_raw(sv[1], huge, sizeof(huge)); /* 16 MiB + 1 in one frame */
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -EMSGSIZE);
	assert_non_null(strstr(err.msg, "larger than"));
	ws_conn_free(server);
	close(sv[0]);
	close(sv[1]);
	err_clear(&err);

	/* the limit holds across fragments too: 17 fragments of 1 MiB */
	make_pair(sv);
	server = ws_conn_new(sv[0], true);
	assert_int_equal(pthread_create(&t, NULL, fragments_main, &sv[1]), 0);
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -EMSGSIZE);
	shutdown(sv[0], SHUT_RDWR); /* unblocks the writer */
	pthread_join(t, NULL);
	ws_conn_free(server);
	close(sv[0]);
	close(sv[1]);
}

static void test_ws_read_stops_when_cancelled(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *got = NULL;
	size_t len = 0;
	int op = 0, sv[2], cancel[2];
	struct ws_conn *server;

	(void)state;
	make_pair(sv);
	assert_int_equal(pipe(cancel), 0);
	server = ws_conn_new(sv[0], true);
	ws_conn_set_cancel_fd(server, cancel[0]);
	close(cancel[1]);
	assert_int_equal(ws_read(server, &op, &got, &len, &err), -ECANCELED);
	ws_conn_free(server);
	close(cancel[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_ws_write_rejects_bad_opcodes_and_big_pings(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char big[126] = {0};
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	c = ws_conn_new(sv[0], true);
	assert_int_equal(ws_write(c, WS_CLOSE, "", 0, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(ws_write(c, 3, "", 0, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(ws_write(c, WS_PING, big, sizeof(big), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "125"));
	ws_conn_free(c);
	close(sv[0]);
	close(sv[1]);
}

/* Exec sessions: a forked shell, rc_serve on a thread, a ws client in the test. */

struct proc {
	pid_t pid;
	int pidfd;
	int in, out, errfd; /* our ends: stdin writer, stdout and stderr readers */
	int master;         /* with a tty */
};

static int proc_exit_status(void *arg)
{
	struct proc *p = arg;
	siginfo_t si = {0};

	if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED) < 0)
		return -errno;
	p->pid = 0;
	return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static void proc_start(struct proc *p, const char *script, bool tty)
{
	int in[2], out[2], errp[2], slave = -1;

	memset(p, 0, sizeof(*p));
	p->master = p->in = p->out = p->errfd = -1;
	if (tty) {
		struct winsize ws = {.ws_row = 24, .ws_col = 80};

		assert_int_equal(openpty(&p->master, &slave, NULL, NULL, &ws), 0);
		fcntl(p->master, F_SETFD, FD_CLOEXEC);
	} else {
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
		assert_int_equal(pipe2(out, O_CLOEXEC), 0);
		assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	}
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		if (tty) {
			setsid();
			ioctl(slave, TIOCSCTTY, 0);
			dup2(slave, 0);
			dup2(slave, 1);
			dup2(slave, 2);
		} else {
			dup2(in[0], 0);
			dup2(out[1], 1);
			dup2(errp[1], 2);
		}
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	p->pidfd = pidfd_open(p->pid, 0);
	assert_true(p->pidfd >= 0);
	if (tty) {
		close(slave);
		return;
	}
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	p->in = in[1];
	p->out = out[0];
	p->errfd = errp[0];
}

static void proc_done(struct proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->out >= 0)
		close(p->out);
	if (p->errfd >= 0)
		close(p->errfd);
	if (p->master >= 0)
		close(p->master);
	close(p->pidfd);
}

struct server {
	int fd;
	const char *protocol;
	struct rc_io io;
	int rc;
	char *msg;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct err err = ERR_INIT;

	s->rc = rc_serve(s->fd, s->protocol, &s->io, &err);
	s->msg = err.msg;
	return NULL;
}

struct session_out {
	char *out;
	size_t out_len;
	char *errs;
	size_t errs_len;
	char *status;
	int first_channel;
	int messages;
};

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static void client_send(struct ws_conn *c, uint8_t channel, const char *data, size_t len)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *buf = xmalloc(len + 1);

	buf[0] = (char)channel;
	memcpy(buf + 1, data, len);
	assert_int_equal(ws_write(c, WS_BINARY, buf, len + 1, &err), 0);
}

/* Reads messages until the server's close; collects output and the status. */
static void client_collect(struct ws_conn *c, struct session_out *o)
{
	size_t status_len = 0;

	memset(o, 0, sizeof(*o));
	o->first_channel = -1;
	for (;;) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *data = NULL;
		size_t len = 0;
		int op = 0, r;

		r = ws_read(c, &op, &data, &len, &err);
		if (r == -EPIPE)
			break;
		if (r < 0)
			fail_msg("client read: %s", err.msg);
		assert_int_equal(op, WS_BINARY);
		assert_true(len >= 1);
		if (o->first_channel < 0)
			o->first_channel = (uint8_t)data[0];
		o->messages++;
		if (data[0] == RC_STDOUT)
			append(&o->out, &o->out_len, data + 1, len - 1);
		else if (data[0] == RC_STDERR)
			append(&o->errs, &o->errs_len, data + 1, len - 1);
		else if (data[0] == RC_ERROR)
			append(&o->status, &status_len, data + 1, len - 1);
		else
			fail_msg("message on channel %d", data[0]);
	}
	assert_int_equal(ws_peer_close_code(c), 1000);
}

static void session_out_done(struct session_out *o)
{
	free(o->out);
	free(o->errs);
	free(o->status);
}

static void start_server(struct server *s, struct proc *p, const char *protocol, int fd,
			 const char *const *command, pthread_t *t)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->protocol = protocol;
	s->io = (struct rc_io){
		.stdin_fd = p->in,
		.stdout_fd = p->out,
		.stderr_fd = p->errfd,
		.tty_fd = -1,
		.done_fd = p->pidfd,
		.exit_status = proc_exit_status,
		.arg = p,
		.command = command,
	};
	p->in = -1; /* rc_serve owns it now */
	assert_int_equal(pthread_create(t, NULL, server_main, s), 0);
}

static void test_rc_exec_delivers_stdio_and_exit_code(void **state)
{
	static const char *const cmd[] = {"sh", "-c", "read x; echo out:$x; echo err >&2; exit 3",
					  NULL};
	struct session_out o;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	proc_start(&p, cmd[2], false);
	start_server(&s, &p, "v5.channel.k8s.io", sv[0], cmd, &t);
	c = ws_conn_new(sv[1], false);
	client_send(c, RC_STDIN, "hello\n", 6);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_null(s.msg);
	assert_int_equal(o.first_channel, RC_STDOUT);
	assert_string_equal(o.out, "out:hello\n");
	assert_string_equal(o.errs, "err\n");
	assert_string_equal(
		o.status,
		"{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with "
		"non-zero exit code: error executing command [sh -c read x; echo out:$x; echo err "
		">&2; exit 3], exit code 3\",\"reason\":\"NonZeroExitCode\",\"details\":{"
		"\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]}}");
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_v5_close_of_stdin_reaches_the_process(void **state)
{
	struct session_out o;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	/* cat ends only at EOF on stdin, then the exit code tells what it saw */
	proc_start(&p, "n=$(cat | wc -c); echo got $n; exit 0", false);
	start_server(&s, &p, "v5.channel.k8s.io", sv[0], NULL, &t);
	c = ws_conn_new(sv[1], false);
	client_send(c, RC_STDIN, "abc", 3);
	client_send(c, RC_STDIN, "de", 2);
	client_send(c, RC_CLOSE, "\x00", 1);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_string_equal(o.out, "got 5\n");
	assert_null(o.errs);
	assert_string_equal(o.status, "{\"metadata\":{},\"status\":\"Success\"}");
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_stdin_for_a_gone_process_is_dropped_without_sigpipe(void **state)
{
	cleanup_free char *input = xcalloc(1, 300000);
	struct session_out o;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	/* more input than a pipe holds, for a process that never reads it */
	proc_start(&p, "exec sleep 0.2", false);
	start_server(&s, &p, "v5.channel.k8s.io", sv[0], NULL, &t);
	c = ws_conn_new(sv[1], false);
	client_send(c, RC_STDIN, input, 300000);
	client_send(c, RC_STDIN, "more", 4);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_string_equal(o.status, "{\"metadata\":{},\"status\":\"Success\"}");
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_fast_exit_output_is_drained_before_the_status(void **state)
{
	static const char *const protos[] = {"v4.channel.k8s.io", "v5.channel.k8s.io"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct session_out o;
		struct server s;
		struct proc p;
		pthread_t t;
		int sv[2];
		struct ws_conn *c;
		char want[64];
		size_t n;

		make_pair(sv);
		/* no stdin asked for; 200000+ bytes of output outlive the process */
		proc_start(&p, "echo hi; seq 1 40000", false);
		close(p.in);
		p.in = -1;
		start_server(&s, &p, protos[i], sv[0], NULL, &t);
		c = ws_conn_new(sv[1], false);
		client_collect(c, &o);
		pthread_join(t, NULL);
		assert_int_equal(s.rc, 0);
		assert_true(o.out_len > 200000);
		assert_memory_equal(o.out, "hi\n1\n2\n", 7);
		n = (size_t)snprintf(want, sizeof(want), "\n39999\n40000\n");
		assert_memory_equal(o.out + o.out_len - n, want, n);
		assert_string_equal(o.status, "{\"metadata\":{},\"status\":\"Success\"}");
		session_out_done(&o);
		ws_conn_free(c);
		proc_done(&p);
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_rc_pre_v4_protocols_send_only_failures_as_text(void **state)
{
	static const char *const cmd[] = {"sh", "-c", "exit 7", NULL};
	struct session_out o;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	proc_start(&p, "exit 7", false);
	close(p.in);
	p.in = -1;
	start_server(&s, &p, "channel.k8s.io", sv[0], cmd, &t);
	c = ws_conn_new(sv[1], false);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_string_equal(o.status, "command terminated with non-zero exit code: error "
				      "executing command [sh -c exit 7], exit code 7");
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_base64_protocol_encodes_channels_as_text(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;
	bool saw_out = false, saw_status = false;

	(void)state;
	make_pair(sv);
	proc_start(&p, "read x; echo $x", false);
	start_server(&s, &p, "v4.base64.channel.k8s.io", sv[0], NULL, &t);
	c = ws_conn_new(sv[1], false);
	/* "0" + base64("yo\n") */
	assert_int_equal(ws_write(c, WS_TEXT, "0eW8K", 5, &err), 0);
	for (;;) {
		cleanup_free char *data = NULL;
		size_t len = 0;
		int op = 0;

		if (ws_read(c, &op, &data, &len, &err) == -EPIPE)
			break;
		assert_int_equal(op, WS_TEXT);
		if (strcmp(data, "1eW8K") == 0)
			saw_out = true;
		if (data[0] == '3') {
			assert_string_equal(data,
					    "3eyJtZXRhZGF0YSI6e30sInN0YXR1cyI6IlN1Y2Nlc3MifQ==");
			saw_status = true;
		}
	}
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_true(saw_out);
	assert_true(saw_status);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_tty_resize_sets_the_window_size(void **state)
{
	struct session_out o;
	struct server s;
	struct proc p;
	struct winsize ws = {0};
	pthread_t t;
	int sv[2];
	struct ws_conn *c;
	const char *resize = "{\"Width\":132,\"Height\":43}\n";

	(void)state;
	make_pair(sv);
	proc_start(&p, "read x; stty size; exit 0", true);
	memset(&s, 0, sizeof(s));
	s.fd = sv[0];
	s.protocol = "v5.channel.k8s.io";
	s.io = (struct rc_io){
		.stdin_fd = dup(p.master),
		.stdout_fd = p.master,
		.stderr_fd = -1,
		.tty_fd = p.master,
		.done_fd = p.pidfd,
		.exit_status = proc_exit_status,
		.arg = &p,
	};
	assert_int_equal(pthread_create(&t, NULL, server_main, &s), 0);
	c = ws_conn_new(sv[1], false);
	/* zero sizes are skipped, a size may arrive split over two messages */
	client_send(c, RC_RESIZE, "{\"Width\":0,\"Height\":0}", 22);
	client_send(c, RC_RESIZE, resize, 10);
	client_send(c, RC_RESIZE, resize + 10, strlen(resize) - 10);
	client_send(c, RC_STDIN, "go\r", 3);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_non_null(o.out);
	if (!strstr(o.out, "43 132"))
		fail_msg("stty size printed '%s'", o.out);
	assert_int_equal(ioctl(p.master, TIOCGWINSZ, &ws), 0);
	assert_int_equal(ws.ws_col, 132);
	assert_int_equal(ws.ws_row, 43);
	assert_string_equal(o.status, "{\"metadata\":{},\"status\":\"Success\"}");
	/* the pty master's flags are as they were */
	assert_int_equal(fcntl(p.master, F_GETFL) & O_NONBLOCK, 0);
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

static void test_rc_client_disconnect_ends_the_session(void **state)
{
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *data = NULL;
	size_t len = 0;
	int op = 0;
	struct timespec a, b;

	(void)state;
	make_pair(sv);
	/* runs until its stdin closes */
	proc_start(&p, "exec cat >/dev/null", false);
	start_server(&s, &p, "v5.channel.k8s.io", sv[0], NULL, &t);
	c = ws_conn_new(sv[1], false);
	assert_int_equal(ws_read(c, &op, &data, &len, &err), 0); /* the hello */
	assert_int_equal(len, 1);
	assert_int_equal(data[0], RC_STDOUT);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ws_conn_free(c);
	close(sv[1]);
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(s.rc, -ECONNRESET);
	assert_non_null(strstr(s.msg, "client left"));
	assert_true(b.tv_sec - a.tv_sec < 3);
	/* the session closed the process's stdin, so it ends */
	assert_int_equal(proc_exit_status(&p), 0);
	free(s.msg);
	proc_done(&p);
	close(sv[0]);
}

static void test_rc_unknown_protocol_is_rejected(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct rc_io io = {
		.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .tty_fd = -1, .done_fd = -1};
	int sv[2];

	(void)state;
	make_pair(sv);
	assert_int_equal(rc_serve(sv[0], "v9.channel.k8s.io", &io, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "v9.channel.k8s.io"));
	close(sv[0]);
	close(sv[1]);
}

static int lost_exit_status(void *arg)
{
	proc_exit_status(arg);
	return -ECHILD;
}

static void test_rc_unknown_exit_status_is_an_internal_error(void **state)
{
	struct session_out o;
	struct server s;
	struct proc p;
	pthread_t t;
	int sv[2];
	struct ws_conn *c;

	(void)state;
	make_pair(sv);
	proc_start(&p, "exit 0", false);
	close(p.in);
	memset(&s, 0, sizeof(s));
	s.fd = sv[0];
	s.protocol = "v4.channel.k8s.io";
	s.io = (struct rc_io){.stdin_fd = -1,
			      .stdout_fd = p.out,
			      .stderr_fd = p.errfd,
			      .tty_fd = -1,
			      .done_fd = p.pidfd,
			      .exit_status = lost_exit_status,
			      .arg = &p};
	assert_int_equal(pthread_create(&t, NULL, server_main, &s), 0);
	c = ws_conn_new(sv[1], false);
	client_collect(c, &o);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_string_equal(
		o.status,
		"{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error occurred: "
		"error executing command in container: No child processes\",\"reason\":"
		"\"InternalError\",\"details\":{\"causes\":[{\"message\":\"error executing "
		"command in container: No child processes\"}]},\"code\":500}");
	session_out_done(&o);
	ws_conn_free(c);
	proc_done(&p);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ws_accept_key_matches_rfc_example),
		cmocka_unit_test(test_ws_accept_key_rejects_malformed_keys),
		cmocka_unit_test(test_ws_pick_protocol_prefers_our_order),
		cmocka_unit_test(test_ws_frames_of_every_length_round_trip_both_ways),
		cmocka_unit_test(test_ws_server_frames_are_unmasked_and_client_frames_masked),
		cmocka_unit_test(test_ws_reassembles_fragments_and_answers_pings),
		cmocka_unit_test(test_ws_close_handshake_is_answered_once),
		cmocka_unit_test(test_ws_close_without_status_reports_1005),
		cmocka_unit_test(test_ws_bad_frames_fail_with_a_reason),
		cmocka_unit_test(test_ws_oversized_messages_fail_with_emsgsize),
		cmocka_unit_test(test_ws_read_stops_when_cancelled),
		cmocka_unit_test(test_ws_write_rejects_bad_opcodes_and_big_pings),
		cmocka_unit_test(test_rc_exec_delivers_stdio_and_exit_code),
		cmocka_unit_test(test_rc_v5_close_of_stdin_reaches_the_process),
		cmocka_unit_test(test_rc_stdin_for_a_gone_process_is_dropped_without_sigpipe),
		cmocka_unit_test(test_rc_fast_exit_output_is_drained_before_the_status),
		cmocka_unit_test(test_rc_pre_v4_protocols_send_only_failures_as_text),
		cmocka_unit_test(test_rc_base64_protocol_encodes_channels_as_text),
		cmocka_unit_test(test_rc_tty_resize_sets_the_window_size),
		cmocka_unit_test(test_rc_client_disconnect_ends_the_session),
		cmocka_unit_test(test_rc_unknown_protocol_is_rejected),
		cmocka_unit_test(test_rc_unknown_exit_status_is_an_internal_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
