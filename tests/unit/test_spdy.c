/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of SPDY/3.1 and port-forward (cluster/stream/spdy.c, portforward.c): the
 * header dictionary and compression against blocks deflated by another zlib user, every
 * frame type against bytes written out from the spec, malformed frames, and pf_serve
 * driven over a socketpair (plain and WebSocket-tunnelled) by a client session behaving
 * like kubectl: echo through a TCP server, half-closes both ways, concurrent requests,
 * dial failures on the error stream, pings, refused streams, resets and timeouts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/stream/lib_zlib.h"
#include "cluster/stream/portforward.h"
#include "cluster/stream/spdy.h"
#include "cluster/stream/websocket.h"

#define FORWARDED_PORT 8080
#define WAIT_MS        5000

/* ---- frames ---- */

/* kubectl's first two streams of request 0, deflated by Python's zlib with the dictionary */
static const uint8_t syn_error_stream[] = {
	0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0x25, 0x3a, 0x70,
	0x3a, 0x2b, 0x29, 0x4a, 0x4d, 0xcc, 0x85, 0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x86,
	0x14, 0xcb, 0x45, 0xe0, 0x1c, 0x60, 0x61, 0x60, 0x61, 0x00, 0xa4, 0x39, 0x8b, 0x20,
	0xd1, 0x98, 0x09, 0x4a, 0xde, 0x8c, 0x06, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
};
static const uint8_t syn_data_stream[] = {
	0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc2, 0xaa, 0x19, 0x54,
	0x0e, 0x25, 0x12, 0xd6, 0x0b, 0x00, 0x00, 0x00, 0xff, 0xff,
};

static void test_spdy_dictionary_is_the_one_spdystream_uses(void **state)
{
	struct err err = ERR_INIT;
	const uint8_t *d;
	size_t len;

	(void)state;
	assert_int_equal(stream_zlib_load(&err), 0);
	d = spdy_dictionary(&len);
	/* length and Adler-32 of moby/spdystream's spdy/dictionary.go bytes */
	assert_int_equal(len, 1423);
	assert_int_equal(adler32(1, d, len), 0xe3c6a7c2);
	assert_memory_equal(d, "\0\0\0\7options\0\0\0\4head", 19);
	assert_memory_equal(d + len - 6, "enq=0.", 6);
}

static void test_spdy_decodes_syn_streams_deflated_elsewhere(void **state)
{
	struct spdy_codec *c = NULL;
	struct err err = ERR_INIT;
	struct spdy_frame f;

	(void)state;
	assert_int_equal(spdy_codec_new(&c, &err), 0);
	assert_int_equal(spdy_frame_size(syn_error_stream), sizeof(syn_error_stream));
	assert_int_equal(spdy_frame_decode(c, syn_error_stream, sizeof(syn_error_stream), &f, &err),
			 0);
	assert_int_equal(f.type, SPDY_SYN_STREAM);
	assert_int_equal(f.stream_id, 1);
	assert_int_equal(f.headers.n, 3);
	assert_string_equal(spdy_headers_get(&f.headers, "streamtype"), "error");
	assert_string_equal(spdy_headers_get(&f.headers, "Port"), "8080");
	assert_string_equal(spdy_headers_get(&f.headers, "requestid"), "0");
	spdy_frame_done(&f);
	/* the second block refers back into the first: one zlib stream per direction */
	assert_int_equal(spdy_frame_decode(c, syn_data_stream, sizeof(syn_data_stream), &f, &err),
			 0);
	assert_int_equal(f.stream_id, 3);
	assert_string_equal(spdy_headers_get(&f.headers, "streamtype"), "data");
	assert_string_equal(spdy_headers_get(&f.headers, "port"), "8080");
	spdy_frame_done(&f);
	spdy_codec_free(c);
}

static void test_spdy_header_blocks_round_trip_through_the_compressor(void **state)
{
	struct spdy_codec *enc = NULL, *dec = NULL;
	struct err err = ERR_INIT;
	cleanup_free char *big = xmalloc(50001);

	(void)state;
	memset(big, 'x', 50000);
	big[50000] = '\0';
	assert_int_equal(spdy_codec_new(&enc, &err), 0);
	assert_int_equal(spdy_codec_new(&dec, &err), 0);
	for (int round = 0; round < 4; round++) {
		static const uint16_t types[] = {SPDY_SYN_STREAM, SPDY_SYN_REPLY, SPDY_HEADERS,
						 SPDY_SYN_STREAM};
		struct spdy_frame f = {.type = types[round],
				       .flags = SPDY_FLAG_FIN,
				       .stream_id = 2 * round + 1,
				       .priority = 3,
				       .slot = 1};
		cleanup_free uint8_t *buf = NULL;
		cleanup_free char *rid = xasprintf("%d", round);
		struct spdy_frame g;
		size_t len;

		spdy_headers_add(&f.headers, "StreamType", "data");
		spdy_headers_add(&f.headers, "requestid", rid);
		spdy_headers_add(&f.headers, "empty", "");
		if (round == 2)
			spdy_headers_add(&f.headers, "big", big);
		assert_int_equal(spdy_frame_encode(enc, &f, &buf, &len, &err), 0);
		assert_int_equal(spdy_frame_size(buf), len);
		assert_int_equal(spdy_frame_decode(dec, buf, len, &g, &err), 0);
		assert_int_equal(g.type, f.type);
		assert_int_equal(g.flags, SPDY_FLAG_FIN);
		assert_int_equal(g.stream_id, f.stream_id);
		if (f.type == SPDY_SYN_STREAM) {
			assert_int_equal(g.priority, 3);
			assert_int_equal(g.slot, 1);
		}
		assert_int_equal(g.headers.n, f.headers.n);
		assert_string_equal(g.headers.v[0].name, "streamtype");
		assert_string_equal(spdy_headers_get(&g.headers, "streamtype"), "data");
		assert_string_equal(spdy_headers_get(&g.headers, "requestid"), rid);
		assert_string_equal(spdy_headers_get(&g.headers, "empty"), "");
		if (round == 2) {
			assert_string_equal(spdy_headers_get(&g.headers, "big"), big);
			assert_true(len < 2000); /* it was compressed */
		}
		spdy_frame_done(&f);
		spdy_frame_done(&g);
	}
	spdy_codec_free(enc);
	spdy_codec_free(dec);
}

static const struct fixed_case {
	struct spdy_frame f;
	const char *bytes;
	size_t len;
} fixed_cases[] = {
	{{.type = SPDY_PING, .ping_id = 1}, "\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", 12},
	{{.type = SPDY_RST_STREAM, .stream_id = 5, .status = SPDY_CANCEL},
	 "\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x05\x00\x00\x00\x05",
	 16},
	{{.type = SPDY_GOAWAY, .stream_id = 7, .status = SPDY_GOAWAY_PROTOCOL_ERROR},
	 "\x80\x03\x00\x07\x00\x00\x00\x08\x00\x00\x00\x07\x00\x00\x00\x01",
	 16},
	{{.type = SPDY_WINDOW_UPDATE, .stream_id = 3, .delta = 0x10000},
	 "\x80\x03\x00\x09\x00\x00\x00\x08\x00\x00\x00\x03\x00\x01\x00\x00",
	 16},
	{{.type = SPDY_WINDOW_UPDATE, .stream_id = 0, .delta = 1},
	 "\x80\x03\x00\x09\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01",
	 16},
	{{.type = SPDY_DATA,
	  .flags = SPDY_FLAG_FIN,
	  .stream_id = 1,
	  .data = (const uint8_t *)"hi",
	  .len = 2},
	 "\x00\x00\x00\x01\x01\x00\x00\x02hi",
	 10},
	{{.type = SPDY_DATA, .stream_id = 0x7fffffff}, "\x7f\xff\xff\xff\x00\x00\x00\x00", 8},
};

static void test_spdy_fixed_frames_match_the_spec_bytes(void **state)
{
	struct spdy_codec *c = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(spdy_codec_new(&c, &err), 0);
	for (size_t i = 0; i < sizeof(fixed_cases) / sizeof(fixed_cases[0]); i++) {
		const struct fixed_case *k = &fixed_cases[i];
		cleanup_free uint8_t *buf = NULL;
		struct spdy_frame g;
		size_t len;

		assert_int_equal(spdy_frame_encode(c, &k->f, &buf, &len, &err), 0);
		assert_int_equal(len, k->len);
		assert_memory_equal(buf, k->bytes, len);
		assert_int_equal(spdy_frame_decode(c, buf, len, &g, &err), 0);
		assert_int_equal(g.type, k->f.type);
		assert_int_equal(g.flags, k->f.flags);
		assert_int_equal(g.stream_id, k->f.stream_id);
		assert_int_equal(g.status, k->f.status);
		assert_int_equal(g.ping_id, k->f.ping_id);
		assert_int_equal(g.delta, k->f.delta);
		assert_int_equal(g.len, k->f.len);
		if (g.len)
			assert_memory_equal(g.data, k->f.data, g.len);
		spdy_frame_done(&g);
	}
	spdy_codec_free(c);
}

static void test_spdy_settings_frames_carry_flags_ids_and_values(void **state)
{
	struct spdy_setting set[] = {{1, 7, 65536}, {0, 4, 100}};
	struct spdy_frame f = {.type = SPDY_SETTINGS, .settings = set, .n_settings = 2};
	static const char want[] =
		"\x80\x03\x00\x04\x00\x00\x00\x14\x00\x00\x00\x02"
		"\x01\x00\x00\x07\x00\x01\x00\x00\x00\x00\x00\x04\x00\x00\x00\x64";
	struct spdy_codec *c = NULL;
	cleanup_free uint8_t *buf = NULL;
	struct err err = ERR_INIT;
	struct spdy_frame g;
	size_t len;

	(void)state;
	assert_int_equal(spdy_codec_new(&c, &err), 0);
	assert_int_equal(spdy_frame_encode(c, &f, &buf, &len, &err), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(buf, want, len);
	assert_int_equal(spdy_frame_decode(c, buf, len, &g, &err), 0);
	assert_int_equal(g.n_settings, 2);
	assert_int_equal(g.settings[0].flags, 1);
	assert_int_equal(g.settings[0].id, 7);
	assert_int_equal(g.settings[0].value, 65536);
	assert_int_equal(g.settings[1].id, 4);
	assert_int_equal(g.settings[1].value, 100);
	spdy_frame_done(&g);
	spdy_codec_free(c);
}

/* Deflates a hand-made raw block as a peer's compressor would. */
static size_t deflate_raw(z_stream *z, const void *raw, size_t len, uint8_t *out, size_t cap)
{
	z->next_in = (Bytef *)raw;
	z->avail_in = len;
	z->next_out = out;
	z->avail_out = cap;
	assert_int_equal(deflate(z, Z_SYNC_FLUSH), Z_OK);
	assert_int_equal(z->avail_in, 0);
	return cap - z->avail_out;
}

static void expect_bad_block(const void *raw, size_t rawlen, const char *why)
{
	struct spdy_codec *c = NULL;
	struct err err = ERR_INIT;
	uint8_t frame[512] = {0x80, 0x03, 0x00, 0x02};
	z_stream z = {0};
	const uint8_t *d;
	struct spdy_frame f;
	size_t dl, n;

	assert_int_equal(spdy_codec_new(&c, &err), 0);
	d = spdy_dictionary(&dl);
	assert_int_equal(deflateInit(&z, Z_DEFAULT_COMPRESSION), Z_OK);
	assert_int_equal(deflateSetDictionary(&z, d, dl), Z_OK);
	n = deflate_raw(&z, raw, rawlen, frame + 12, sizeof(frame) - 12);
	deflateEnd(&z);
	frame[7] = 4 + n;
	frame[11] = 1;
	assert_int_equal(spdy_frame_decode(c, frame, 12 + n, &f, &err), -EPROTO);
	assert_non_null(strstr(err.msg, why));
	err_clear(&err);
	spdy_codec_free(c);
}

static void test_spdy_decode_rejects_malformed_frames(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *why;
	} cases[] = {
		{"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", 12, "version 2"},
		{"\x80\x03\x00\x06\x00\x00\x00\x05\x00\x00\x00\x01\x00", 13, "PING frame has"},
		{"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00", 11, "length field"},
		{"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x05\x00\x00\x00\x00", 16,
		 "status 0"},
		{"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x05", 16,
		 "stream id 0"},
		{"\x00\x00\x00\x00\x00\x00\x00\x00", 8, "stream id 0"},
		{"\x80\x03\x00\x09\x00\x00\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00", 16, "delta 0"},
		{"\x80\x03\x00\x04\x00\x00\x00\x0c\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01",
		 20, "claims 2 entries"},
		{"\x80\x03\x00\x02\x00\x00\x00\x08\x00\x00\x00\x01garb", 16, "does not inflate"},
		{"\x80\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00", 14, "payload of 6"},
		{"\x80", 1, "short of a header"},
	};
	struct spdy_codec *c = NULL;
	struct err err = ERR_INIT;
	struct spdy_frame f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(spdy_codec_new(&c, &err), 0);
		assert_int_equal(spdy_frame_decode(c, (const uint8_t *)cases[i].bytes, cases[i].len,
						   &f, &err),
				 -EPROTO);
		if (!strstr(err.msg, cases[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].why);
		err_clear(&err);
		spdy_codec_free(c);
	}
	expect_bad_block("\0\0\0\1\0\0\0\4Port\0\0\0\0018", 17, "'Port' is not lowercase");
	expect_bad_block("\0\0\0\2\0\0\0\1a\0\0\0\0\0\0\0\1a\0\0\0\0", 22, "'a' appears twice");
	expect_bad_block("\0\0\0\1\0\0\0\0\0\0\0\0", 12, "empty name");
	expect_bad_block("\0\0\0\1\0\0\0\11port", 12, "truncated");
	expect_bad_block("\0\0\0\1\0\0\0\1a\0\0\0\0xx", 15, "2 bytes after");
	expect_bad_block("\0\0\1\0", 4, "claims 256 pairs");
}

static void test_spdy_decode_passes_over_unknown_control_frames(void **state)
{
	static const uint8_t cred[] = {0x80, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb};
	struct spdy_codec *c = NULL;
	struct err err = ERR_INIT;
	struct spdy_frame f;

	(void)state;
	assert_int_equal(spdy_codec_new(&c, &err), 0);
	assert_int_equal(spdy_frame_decode(c, cred, sizeof(cred), &f, &err), 0);
	assert_int_equal(f.type, 10);
	spdy_frame_done(&f);
	spdy_codec_free(c);
}

/* ---- a TCP echo server standing for the pod ---- */

static int echo_listen = -1;
static uint16_t echo_port;
static pthread_t echo_thread;
static int sink_ended; /* connections in sink mode closed by their handler */

/*
 * Echoes; at the client's half-close says "bye" and closes. A connection whose first byte
 * is 'S' is a sink instead: after the half-close it keeps talking until the other side
 * is really gone (it notices when a write fails), like a server that never hangs up.
 */
static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	bool sink = false, first = true;
	char buf[16384];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first)
			sink = buf[0] == 'S';
		first = false;
		if (send(fd, buf, n, MSG_NOSIGNAL) != n)
			break;
	}
	if (n == 0 && !sink)
		send(fd, "bye", 3, MSG_NOSIGNAL);
	/* seldom, so that only the server's own shutdown can end the connection quickly */
	while (n == 0 && sink && send(fd, ".", 1, MSG_NOSIGNAL) == 1)
		usleep(500000);
	close(fd);
	if (sink)
		__atomic_add_fetch(&sink_ended, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void *echo_accept(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(echo_listen, NULL, NULL, SOCK_CLOEXEC);
		pthread_t t;

		if (fd < 0)
			return NULL;
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}

static int group_setup(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	(void)state;
	echo_listen = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (echo_listen < 0 || bind(echo_listen, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(echo_listen, 16) < 0 || getsockname(echo_listen, (struct sockaddr *)&a, &al) < 0)
		return -1;
	echo_port = ntohs(a.sin_port);
	return pthread_create(&echo_thread, NULL, echo_accept, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	shutdown(echo_listen, SHUT_RDWR);
	pthread_join(echo_thread, NULL);
	close(echo_listen);
	return 0;
}

static int test_dial(void *arg, uint16_t port, int *ret_fd, char **ret_msg)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(echo_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd;

	(void)arg;
	if (port != FORWARDED_PORT) {
		*ret_msg = xasprintf("failed to connect to localhost:%u inside namespace "
				     "\"sandbox-1\": connection refused",
				     port);
		return -ECONNREFUSED;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		*ret_msg = xasprintf("connect: %m");
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- the client side, as kubectl drives it ---- */

struct harness {
	int sv[2];
	bool ws;
	struct ws_conn *wc; /* client end of the tunnel */
	char *msg;
	size_t len, off;
	struct pf_ops ops;
	pthread_t server, reader;
	int server_rc;
	struct err server_err;
	struct spdy_session *client;
};

static ssize_t client_read(void *arg, void *buf, size_t cap)
{
	struct harness *h = arg;
	ssize_t n;

	if (!h->ws) {
		do
			n = read(h->sv[1], buf, cap);
		while (n < 0 && errno == EINTR);
		return n < 0 ? -errno : n;
	}
	while (h->off >= h->len) {
		struct err err = ERR_INIT;
		int op, r;

		free(h->msg);
		h->msg = NULL;
		h->len = h->off = 0;
		r = ws_read(h->wc, &op, &h->msg, &h->len, &err);
		err_clear(&err);
		if (r == -EPIPE)
			return 0;
		if (r < 0)
			return r;
		if (op != WS_BINARY)
			return -EPROTO;
	}
	n = cap < h->len - h->off ? cap : h->len - h->off;
	memcpy(buf, h->msg + h->off, n);
	h->off += n;
	return n;
}

static int client_write(void *arg, const void *buf, size_t len)
{
	struct harness *h = arg;
	struct err err = ERR_INIT;
	const uint8_t *p = buf;
	int r = 0;

	if (h->ws) {
		r = ws_write(h->wc, WS_BINARY, buf, len, &err);
		err_clear(&err);
		return r;
	}
	while (len > 0) {
		ssize_t w = send(h->sv[1], p, len, MSG_NOSIGNAL);

		if (w < 0)
			return -errno;
		p += w;
		len -= w;
	}
	return 0;
}

static void client_shutdown(void *arg)
{
	struct harness *h = arg;

	shutdown(h->sv[1], SHUT_RDWR);
}

static void *server_main(void *arg)
{
	struct harness *h = arg;

	if (h->ws)
		h->server_rc = pf_serve_ws(h->sv[0], &h->ops, &h->server_err);
	else
		h->server_rc = pf_serve_fd(h->sv[0], &h->ops, &h->server_err);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct harness *h = arg;
	struct err err = ERR_INIT;

	spdy_session_serve(h->client, NULL, NULL, &err);
	err_clear(&err);
	return NULL;
}

static struct harness *harness_start(bool ws, int stream_timeout_ms)
{
	struct spdy_transport t = {client_read, client_write, client_shutdown, NULL};
	struct harness *h = xcalloc(1, sizeof(*h));
	struct err err = ERR_INIT;

	h->ws = ws;
	h->ops = (struct pf_ops){.dial = test_dial,
				 .pod = "sandbox-1",
				 .uid = "",
				 .stream_timeout_ms = stream_timeout_ms};
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, h->sv), 0);
	if (ws)
		h->wc = ws_conn_new(h->sv[1], false);
	t.arg = h;
	assert_int_equal(spdy_session_new(&t, false, &h->client, &err), 0);
	assert_int_equal(pthread_create(&h->server, NULL, server_main, h), 0);
	assert_int_equal(pthread_create(&h->reader, NULL, reader_main, h), 0);
	return h;
}

/* Ends the session from the client side; returns what pf_serve returned. */
static int harness_stop(struct harness *h)
{
	struct err err = ERR_INIT;
	int rc;

	spdy_session_goaway(h->client, SPDY_GOAWAY_OK, &err);
	err_clear(&err);
	if (h->ws)
		ws_close(h->wc, 1000, "");
	pthread_join(h->server, NULL);
	shutdown(h->sv[1], SHUT_RDWR);
	pthread_join(h->reader, NULL);
	rc = h->server_rc;
	err_clear(&h->server_err);
	spdy_session_free(h->client);
	ws_conn_free(h->wc);
	free(h->msg);
	close(h->sv[0]);
	close(h->sv[1]);
	free(h);
	return rc;
}

static struct spdy_stream *open_stream(struct harness *h, const char *type, const char *port,
				       const char *request_id)
{
	struct spdy_headers hd = {NULL, 0};
	struct spdy_stream *st = NULL;
	struct err err = ERR_INIT;

	spdy_headers_add(&hd, "streamtype", type);
	if (port)
		spdy_headers_add(&hd, "port", port);
	if (request_id)
		spdy_headers_add(&hd, "requestid", request_id);
	assert_int_equal(spdy_session_open(h->client, &hd, false, &st, &err), 0);
	spdy_headers_done(&hd);
	if (spdy_stream_wait_reply(st, WAIT_MS, &err) < 0)
		fail_msg("%s", err.msg);
	return st;
}

/* kubectl's error stream: opened, closed for writing at once, read to its end */
static struct spdy_stream *open_error_stream(struct harness *h, const char *port,
					     const char *request_id)
{
	struct spdy_stream *st = open_stream(h, "error", port, request_id);
	struct err err = ERR_INIT;

	assert_int_equal(spdy_stream_close(st, &err), 0);
	return st;
}

static bool readable(struct spdy_stream *st)
{
	struct pollfd p = {.fd = spdy_stream_fd(st), .events = POLLIN};

	return poll(&p, 1, WAIT_MS) == 1;
}

/* Reads until the peer's FIN; the count (NUL-terminated in @buf). */
static size_t read_to_end(struct spdy_stream *st, char *buf, size_t cap)
{
	struct err err = ERR_INIT;
	size_t got = 0;

	for (;;) {
		ssize_t n;

		if (!readable(st))
			fail_msg("stream %u: nothing within %d ms", spdy_stream_id(st), WAIT_MS);
		n = spdy_stream_read(st, buf + got, cap - 1 - got, &err);
		if (n < 0)
			fail_msg("%s", err.msg);
		if (n == 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	return got;
}

static void read_exact(struct spdy_stream *st, char *buf, size_t len)
{
	struct err err = ERR_INIT;
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (!readable(st))
			fail_msg("stream %u: nothing within %d ms", spdy_stream_id(st), WAIT_MS);
		n = spdy_stream_read(st, buf + got, len - got, &err);
		if (n <= 0)
			fail_msg("stream %u ended after %zu of %zu bytes", spdy_stream_id(st), got,
				 len);
		got += n;
	}
}

static void test_pf_echoes_and_half_closes_both_ways(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	struct spdy_stream *e = open_error_stream(h, "8080", "0");
	struct spdy_stream *d = open_stream(h, "data", "8080", "0");
	struct err err = ERR_INIT;
	char buf[64];

	assert_int_equal(spdy_stream_write(d, "hello", 5, &err), 0);
	read_exact(d, buf, 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(spdy_stream_write(d, " again", 6, &err), 0);
	read_exact(d, buf, 6);
	assert_memory_equal(buf, " again", 6);
	/* our FIN half-closes the pod connection; the pod still answers, then its FIN */
	assert_int_equal(spdy_stream_close(d, &err), 0);
	assert_int_equal(read_to_end(d, buf, sizeof(buf)), 3);
	assert_string_equal(buf, "bye");
	/* a request that went well ends its error stream empty */
	assert_int_equal(read_to_end(e, buf, sizeof(buf)), 0);
	spdy_stream_unref(d);
	spdy_stream_unref(e);
	assert_int_equal(harness_stop(h), 0);
}

struct pumper {
	struct spdy_stream *d;
	size_t len;
	char seed;
};

static void *pump(void *arg)
{
	struct pumper *p = arg;
	cleanup_free char *buf = xmalloc(p->len);
	struct err err = ERR_INIT;

	for (size_t i = 0; i < p->len; i++)
		buf[i] = p->seed + i % 23;
	if (spdy_stream_write(p->d, buf, p->len, &err) < 0 || spdy_stream_close(p->d, &err) < 0)
		fail_msg("%s", err.msg);
	return NULL;
}

struct drainer {
	struct spdy_stream *st;
	char *buf;
	size_t cap, got;
};

static void *drain(void *arg)
{
	struct drainer *d = arg;

	d->got = read_to_end(d->st, d->buf, d->cap);
	return NULL;
}

static void test_pf_serves_concurrent_requests_on_one_session(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	/* interleaved like two local connections accepted at once */
	struct spdy_stream *e1 = open_error_stream(h, "8080", "1");
	struct spdy_stream *e2 = open_error_stream(h, "8080", "2");
	struct spdy_stream *d2 = open_stream(h, "data", "8080", "2");
	struct spdy_stream *d1 = open_stream(h, "data", "8080", "1");
	struct pumper p1 = {d1, 300000, 'a'}, p2 = {d2, 200000, 'A'};
	size_t cap = 400000;
	cleanup_free char *b1 = xmalloc(cap);
	cleanup_free char *b2 = xmalloc(cap);
	struct drainer r2 = {d2, b2, cap, 0};
	pthread_t t1, t2, t3;

	assert_int_equal(pthread_create(&t1, NULL, pump, &p1), 0);
	assert_int_equal(pthread_create(&t2, NULL, pump, &p2), 0);
	/* both read at once, as kubectl does: a stream nobody reads holds up the others */
	assert_int_equal(pthread_create(&t3, NULL, drain, &r2), 0);
	assert_int_equal(read_to_end(d1, b1, cap), p1.len + 3);
	pthread_join(t3, NULL);
	assert_int_equal(r2.got, p2.len + 3);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	for (size_t i = 0; i < p1.len; i++)
		if (b1[i] != (char)('a' + i % 23))
			fail_msg("request 1: byte %zu differs", i);
	for (size_t i = 0; i < p2.len; i++)
		if (b2[i] != (char)('A' + i % 23))
			fail_msg("request 2: byte %zu differs", i);
	assert_string_equal(b1 + p1.len, "bye");
	assert_int_equal(read_to_end(e1, b1, cap), 0);
	assert_int_equal(read_to_end(e2, b2, cap), 0);
	spdy_stream_unref(d1);
	spdy_stream_unref(d2);
	spdy_stream_unref(e1);
	spdy_stream_unref(e2);
	assert_int_equal(harness_stop(h), 0);
}

static void test_pf_reports_dial_failures_on_the_error_stream(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	struct spdy_stream *e = open_error_stream(h, "9999", "4");
	struct spdy_stream *d = open_stream(h, "data", "9999", "4");
	char buf[512];

	read_to_end(e, buf, sizeof(buf));
	assert_string_equal(buf, "error forwarding port 9999 to pod sandbox-1, uid : failed to "
				 "connect to localhost:9999 inside namespace \"sandbox-1\": "
				 "connection refused");
	assert_int_equal(read_to_end(d, buf, sizeof(buf)), 0);
	spdy_stream_unref(d);
	spdy_stream_unref(e);
	assert_int_equal(harness_stop(h), 0);
}

static void test_pf_answers_pings(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	struct err err = ERR_INIT;

	for (int i = 0; i < 3; i++)
		if (spdy_session_ping(h->client, WAIT_MS, &err) < 0)
			fail_msg("%s", err.msg);
	assert_int_equal(harness_stop(h), 0);
}

static void test_pf_refuses_streams_with_bad_headers(void **state)
{
	static const char *const bad[][2] = {
		{"data", NULL}, {"data", "http"}, {"data", "0"}, {"data", "70000"}, {"stdin", "80"},
	};
	struct harness *h = harness_start(*(bool *)*state, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spdy_headers hd = {NULL, 0};
		struct spdy_stream *st = NULL;
		struct err err = ERR_INIT;

		spdy_headers_add(&hd, "streamtype", bad[i][0]);
		if (bad[i][1])
			spdy_headers_add(&hd, "port", bad[i][1]);
		assert_int_equal(spdy_session_open(h->client, &hd, false, &st, &err), 0);
		assert_int_equal(spdy_stream_wait_reply(st, WAIT_MS, &err), -ECONNRESET);
		assert_int_equal(spdy_stream_reset_status(st), SPDY_REFUSED_STREAM);
		err_clear(&err);
		spdy_headers_done(&hd);
		spdy_stream_unref(st);
	}
	assert_int_equal(harness_stop(h), 0);
}

static void test_pf_reports_a_duplicate_stream_and_a_missing_one(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 300);
	struct spdy_stream *e = open_error_stream(h, "8080", "7");
	struct spdy_headers hd = {NULL, 0};
	struct spdy_stream *dup = NULL;
	struct err err = ERR_INIT;
	char buf[512];

	spdy_headers_add(&hd, "streamtype", "error");
	spdy_headers_add(&hd, "port", "8080");
	spdy_headers_add(&hd, "requestid", "7");
	assert_int_equal(spdy_session_open(h->client, &hd, false, &dup, &err), 0);
	assert_int_equal(spdy_stream_wait_reply(dup, WAIT_MS, &err), -ECONNRESET);
	err_clear(&err);
	spdy_headers_done(&hd);
	/* no data stream comes: the request gives up after the stream timeout */
	read_to_end(e, buf, sizeof(buf));
	assert_string_equal(buf, "error processing stream for request 7: error stream already "
				 "assigned"
				 "request 7: timed out waiting for streams");
	spdy_stream_unref(dup);
	spdy_stream_unref(e);
	assert_int_equal(harness_stop(h), 0);
}

static void wait_sink_ended(int before)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (__atomic_load_n(&sink_ended, __ATOMIC_SEQ_CST) > before)
			return;
		usleep(10000);
	}
	fail_msg("the pod connection was not closed");
}

static void test_pf_drops_the_pod_connection_on_reset(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	struct spdy_stream *e = open_error_stream(h, "8080", "9");
	struct spdy_stream *d = open_stream(h, "data", "8080", "9");
	int before = __atomic_load_n(&sink_ended, __ATOMIC_SEQ_CST);
	struct err err = ERR_INIT;
	char buf[64];

	assert_int_equal(spdy_stream_write(d, "Sping", 5, &err), 0);
	read_exact(d, buf, 5);
	assert_int_equal(spdy_stream_reset(d, SPDY_CANCEL, &err), 0);
	wait_sink_ended(before);
	assert_int_equal(read_to_end(e, buf, sizeof(buf)), 0);
	spdy_stream_unref(d);
	spdy_stream_unref(e);
	assert_int_equal(harness_stop(h), 0);
}

static void test_pf_cuts_open_connections_when_the_session_ends(void **state)
{
	struct harness *h = harness_start(*(bool *)*state, 0);
	struct spdy_stream *e = open_error_stream(h, "8080", "11");
	struct spdy_stream *d = open_stream(h, "data", "8080", "11");
	int before = __atomic_load_n(&sink_ended, __ATOMIC_SEQ_CST);
	struct timespec t0, t1;
	struct err err = ERR_INIT;
	char buf[8];

	assert_int_equal(spdy_stream_write(d, "S", 1, &err), 0);
	read_exact(d, buf, 1);
	/* a half-closed connection whose pod stays silent must not outlive the session */
	assert_int_equal(spdy_stream_close(d, &err), 0);
	read_exact(d, buf, 1);
	assert_int_equal(buf[0], '.');
	spdy_stream_unref(d);
	spdy_stream_unref(e);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(harness_stop(h), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 250);
	wait_sink_ended(before);
}

/* ---- raw bytes against the server, no client session ---- */

static void read_bytes(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += n;
	}
}

/* ---- two sessions pumping data both ways ---- */

#define PUMP_BYTES (4u << 20)

struct duplex_end {
	int fd;
	bool server;
	struct spdy_session *s;
	pthread_t serve;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spdy_stream *accepted; /* server: the stream the peer opened */
};

static ssize_t duplex_read(void *arg, void *buf, size_t cap)
{
	struct duplex_end *e = arg;
	ssize_t n;

	do
		n = read(e->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int duplex_write(void *arg, const void *buf, size_t len)
{
	struct duplex_end *e = arg;
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = send(e->fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= w;
	}
	return 0;
}

static void duplex_shutdown(void *arg)
{
	shutdown(((struct duplex_end *)arg)->fd, SHUT_RDWR);
}

static int duplex_accept(void *arg, struct spdy_stream *st, const struct spdy_headers *h)
{
	struct duplex_end *e = arg;

	(void)h;
	pthread_mutex_lock(&e->lock);
	e->accepted = spdy_stream_ref(st);
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static void *duplex_serve(void *arg)
{
	struct duplex_end *e = arg;
	struct err err = ERR_INIT;

	spdy_session_serve(e->s, e->server ? duplex_accept : NULL, e, &err);
	err_clear(&err);
	return NULL;
}

struct duplex_io {
	struct spdy_stream *st;
	char seed;
	size_t done;
	bool failed;
	pthread_t t;
};

static void *duplex_send(void *arg)
{
	struct duplex_io *io = arg;
	struct err err = ERR_INIT;
	char buf[16384];

	while (io->done < PUMP_BYTES) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = io->seed + (io->done + i) % 29;
		if (spdy_stream_write(io->st, buf, sizeof(buf), &err) < 0) {
			io->failed = true;
			break;
		}
		io->done += sizeof(buf);
	}
	err_clear(&err);
	return NULL;
}

static void *duplex_recv(void *arg)
{
	struct duplex_io *io = arg;
	struct err err = ERR_INIT;
	char buf[16384];

	while (io->done < PUMP_BYTES) {
		struct pollfd p = {.fd = spdy_stream_fd(io->st), .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) != 1)
			break; /* stalled: the test reports how far it got */
		n = spdy_stream_read(io->st, buf, sizeof(buf), &err);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != (char)(io->seed + (io->done + i) % 29))
				io->failed = true;
		io->done += n;
	}
	err_clear(&err);
	return NULL;
}

static void duplex_start(struct duplex_end *e, int fd, bool server)
{
	struct spdy_transport t = {duplex_read, duplex_write, duplex_shutdown, e};
	struct err err = ERR_INIT;
	int small = 4096;

	e->fd = fd;
	e->server = server;
	/* small socket buffers fill at once, so writers block inside their frames */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	assert_int_equal(spdy_session_new(&t, server, &e->s, &err), 0);
	assert_int_equal(pthread_create(&e->serve, NULL, duplex_serve, e), 0);
}

static void duplex_stop(struct duplex_end *e)
{
	shutdown(e->fd, SHUT_RDWR);
	pthread_join(e->serve, NULL);
	spdy_stream_unref(e->accepted);
	spdy_session_free(e->s);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	close(e->fd);
}

/*
 * Both ends write a stream full while reading the other's: each reader acknowledges
 * what it read with window updates while its own writer is blocked on a full socket.
 */
static void test_spdy_sessions_pump_both_ways_at_once(void **state)
{
	struct duplex_end a = {0}, b = {0};
	struct duplex_io io[4] = {{.seed = 'a'}, {.seed = 'A'}, {.seed = 'a'}, {.seed = 'A'}};
	struct spdy_headers hd = {NULL, 0};
	struct spdy_stream *st = NULL;
	struct err err = ERR_INIT;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	duplex_start(&a, sv[0], false);
	duplex_start(&b, sv[1], true);
	spdy_headers_add(&hd, "streamtype", "data");
	assert_int_equal(spdy_session_open(a.s, &hd, false, &st, &err), 0);
	spdy_headers_done(&hd);
	if (spdy_stream_wait_reply(st, WAIT_MS, &err) < 0)
		fail_msg("%s", err.msg);
	pthread_mutex_lock(&b.lock);
	while (!b.accepted)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	/* a sends 'a'..., b sends 'A'...; each reads what the other sends */
	io[0].st = io[3].st = st;
	io[1].st = io[2].st = b.accepted;
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			pthread_create(&io[i].t, NULL, i < 2 ? duplex_send : duplex_recv, &io[i]),
			0);
	pthread_join(io[2].t, NULL);
	pthread_join(io[3].t, NULL);
	/* a stalled pump leaves writers blocked: ending the connection frees them */
	if (io[2].done < PUMP_BYTES || io[3].done < PUMP_BYTES) {
		shutdown(sv[0], SHUT_RDWR);
		shutdown(sv[1], SHUT_RDWR);
	}
	pthread_join(io[0].t, NULL);
	pthread_join(io[1].t, NULL);
	spdy_stream_unref(st);
	duplex_stop(&a);
	duplex_stop(&b);
	if (io[2].done < PUMP_BYTES || io[3].done < PUMP_BYTES)
		fail_msg("stalled: server read %zu and client read %zu of %u bytes", io[2].done,
			 io[3].done, PUMP_BYTES);
	assert_false(io[0].failed || io[1].failed || io[2].failed || io[3].failed);
}

static void test_pf_echoes_raw_pings_and_goes_away_on_garbage(void **state)
{
	static const uint8_t ping[] = {0x80, 0x03, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 0x2b};
	static const uint8_t v2[] = {0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1};
	static const uint8_t goaway[] = {0x80, 0x03, 0x00, 0x07, 0, 0, 0, 8,
					 0,    0,    0,    0,    0, 0, 0, 1};
	struct pf_ops ops = {.dial = test_dial, .pod = "p"};
	struct harness h = {.ops = ops};
	uint8_t buf[16];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, h.sv), 0);
	assert_int_equal(pthread_create(&h.server, NULL, server_main, &h), 0);
	assert_int_equal(write(h.sv[1], ping, sizeof(ping)), sizeof(ping));
	read_bytes(h.sv[1], buf, sizeof(ping));
	assert_memory_equal(buf, ping, sizeof(ping));
	/* kubectl's streams with Python-deflated headers get their replies */
	assert_int_equal(write(h.sv[1], syn_error_stream, sizeof(syn_error_stream)),
			 sizeof(syn_error_stream));
	read_bytes(h.sv[1], buf, 12);
	assert_memory_equal(buf, "\x80\x03\x00\x02", 4);
	assert_memory_equal(buf + 8, "\x00\x00\x00\x01", 4);
	read_bytes(h.sv[1], buf, (buf[6] << 8 | buf[7]) - 4);
	assert_int_equal(write(h.sv[1], v2, sizeof(v2)), sizeof(v2));
	read_bytes(h.sv[1], buf, sizeof(goaway));
	buf[11] = 0; /* last good stream id */
	assert_memory_equal(buf, goaway, sizeof(goaway));
	pthread_join(h.server, NULL);
	assert_int_equal(h.server_rc, -EPROTO);
	assert_non_null(strstr(h.server_err.msg, "version 2"));
	err_clear(&h.server_err);
	close(h.sv[0]);
	close(h.sv[1]);
}

int main(void)
{
	static bool plain = false, tunnel = true;
	/* a hang is a failure too */
	alarm(60);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spdy_dictionary_is_the_one_spdystream_uses),
		cmocka_unit_test(test_spdy_decodes_syn_streams_deflated_elsewhere),
		cmocka_unit_test(test_spdy_header_blocks_round_trip_through_the_compressor),
		cmocka_unit_test(test_spdy_fixed_frames_match_the_spec_bytes),
		cmocka_unit_test(test_spdy_settings_frames_carry_flags_ids_and_values),
		cmocka_unit_test(test_spdy_decode_rejects_malformed_frames),
		cmocka_unit_test(test_spdy_decode_passes_over_unknown_control_frames),
		cmocka_unit_test(test_pf_echoes_raw_pings_and_goes_away_on_garbage),
		cmocka_unit_test(test_spdy_sessions_pump_both_ways_at_once),
#define BOTH(t) cmocka_unit_test_prestate(t, &plain), cmocka_unit_test_prestate(t, &tunnel)
		BOTH(test_pf_echoes_and_half_closes_both_ways),
		BOTH(test_pf_serves_concurrent_requests_on_one_session),
		BOTH(test_pf_reports_dial_failures_on_the_error_stream),
		BOTH(test_pf_answers_pings),
		BOTH(test_pf_refuses_streams_with_bad_headers),
		BOTH(test_pf_reports_a_duplicate_stream_and_a_missing_one),
		BOTH(test_pf_drops_the_pod_connection_on_reset),
		BOTH(test_pf_cuts_open_connections_when_the_session_ends),
#undef BOTH
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
