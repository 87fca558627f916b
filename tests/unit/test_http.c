/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the HTTPS server layer (cluster/api/http.c) and the certificates it serves
 * (cluster/api/pki.c), driven over real TLS connections by libcurl that verifies the CA:
 * requests and bodies, the 413 limit, streams written from other threads, disconnects,
 * many idle streams on few threads, and stopping with streams open.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/libcurl.h"
#include "cluster/api/http.h"
#include "cluster/api/pki.h"

#define MAX_STREAMS 256
#define N_IDLE      200

static char tmpdir[64];
static char certdir[96];
static char cafile[128];
static char *cert_pem, *key_pem, *ca_pem;

/* What the handler saw and made, shared with the test thread. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int handler_calls;
	int closes;
	int n_streams;
	struct http_stream *streams[MAX_STREAMS];
	int write_results[3];
	int slow_started; /* /off/slow handlers running */
	bool gate_open;   /* lets them answer */
} st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {NULL}, {0}, 0, false};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_close(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&st.lock);
	st.closes++;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
}

/* Waits until *@counter reaches @want, up to @seconds; returns the value reached. */
static int wait_count(const int *counter, int want, double seconds)
{
	double end = now_s() + seconds;
	int v;

	pthread_mutex_lock(&st.lock);
	while (*counter < want && now_s() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&st.cond, &st.lock, &ts);
	}
	v = *counter;
	pthread_mutex_unlock(&st.lock);
	return v;
}

static uint32_t fnv1a(const char *p, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static const char *or_null(const char *s)
{
	return s ? s : "(null)";
}

static void handler(void *ctx, struct http_request *req)
{
	const char *path = http_path(req);
	struct http_stream *s;
	char *out;

	(void)ctx;
	pthread_mutex_lock(&st.lock);
	st.handler_calls++;
	pthread_mutex_unlock(&st.lock);

	/* /off/...: offloaded (offload_off), otherwise as without the prefix */
	if (strncmp(path, "/off/", 5) == 0)
		path += 4;
	if (strcmp(path, "/slow") == 0) {
		/* blocks its thread until the test opens the gate */
		pthread_mutex_lock(&st.lock);
		st.slow_started++;
		pthread_cond_broadcast(&st.cond);
		while (!st.gate_open)
			pthread_cond_wait(&st.cond, &st.lock);
		pthread_mutex_unlock(&st.lock);
		out = xasprintf("slow local=%d", http_is_local(req));
		http_add_header(req, "X-Slow", "done");
		http_respond_take(req, 201, "text/plain", out, strlen(out));
	} else if (strncmp(path, "/echo", 5) == 0) {
		out = xasprintf("method=%s path=%s a=%s b=%s flag=%s missing=%s hdr=%s peer=%s",
				http_method(req), path, or_null(http_query(req, "a")),
				or_null(http_query(req, "b")), or_null(http_query(req, "flag")),
				or_null(http_query(req, "missing")),
				or_null(http_header(req, "x-test")), http_peer(req));
		http_add_header(req, "X-Echo", "yes");
		http_respond_take(req, 200, "text/plain", out, strlen(out));
	} else if (strcmp(path, "/upload") == 0) {
		size_t len = 0;
		const char *body = http_body(req, &len);

		out = xasprintf("len=%zu hash=%08x", len, fnv1a(body, len));
		http_respond_take(req, 200, "text/plain", out, strlen(out));
	} else if (strcmp(path, "/stream") == 0) {
		s = http_respond_stream(req, 200, "application/json", on_close, NULL);
		pthread_mutex_lock(&st.lock);
		if (st.n_streams < MAX_STREAMS)
			st.streams[st.n_streams++] = s;
		else
			http_stream_close(s);
		pthread_cond_broadcast(&st.cond);
		pthread_mutex_unlock(&st.lock);
	} else if (strcmp(path, "/nobufs") == 0) {
		/* the queue is not drained while the handler runs: the second write overflows */
		char block[1000];

		memset(block, 'n', sizeof(block));
		s = http_respond_stream(req, 200, "text/plain", on_close, NULL);
		pthread_mutex_lock(&st.lock);
		st.write_results[0] = http_stream_write(s, block, sizeof(block), 1500);
		st.write_results[1] = http_stream_write(s, block, sizeof(block), 1500);
		st.write_results[2] = http_stream_write(s, block, 400, 1500);
		pthread_mutex_unlock(&st.lock);
		http_stream_close(s);
	} else if (strcmp(path, "/silent") == 0) {
		/* answers nothing: the server must */
	} else {
		http_respond(req, 404, "text/plain", "no", 2);
	}
}

static bool offload_off(void *ctx, const struct http_request *req)
{
	(void)ctx;
	return strncmp(http_path(req), "/off/", 5) == 0;
}

static void open_gate(bool open)
{
	pthread_mutex_lock(&st.lock);
	st.gate_open = open;
	pthread_cond_broadcast(&st.cond);
	pthread_mutex_unlock(&st.lock);
}

static void *delayed_open(void *arg)
{
	(void)arg;
	usleep(200 * 1000);
	open_gate(true);
	return NULL;
}

static void reset_state(void)
{
	pthread_mutex_lock(&st.lock);
	st.slow_started = 0;
	st.gate_open = false;
	st.handler_calls = st.closes = st.n_streams = 0;
	memset(st.streams, 0, sizeof(st.streams));
	pthread_mutex_unlock(&st.lock);
}

static struct http_server *start(bool tls, const char *address)
{
	struct http_config cfg = {
		.address = address,
		.port = 0,
		.cert_pem = tls ? cert_pem : NULL,
		.key_pem = tls ? key_pem : NULL,
		.threads = 2,
		.handler = handler,
	};
	struct http_server *srv = NULL;
	struct err err = ERR_INIT;

	reset_state();
	if (http_server_start(&cfg, &srv, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_non_null(srv);
	assert_int_not_equal(http_server_port(srv), 0);
	return srv;
}

struct resp {
	char *data;
	size_t len;
	char *headers;
	size_t hlen;
	double first_data;  /* when the first body bytes arrived */
	size_t abort_after; /* >0: fail the transfer once this many bytes arrived */
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	if (r->len == 0)
		r->first_data = now_s();
	r->data = xrealloc(r->data, r->len + size * n + 1);
	memcpy(r->data + r->len, p, size * n);
	r->len += size * n;
	r->data[r->len] = '\0';
	if (r->abort_after && r->len >= r->abort_after)
		return 0;
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;

	r->headers = xrealloc(r->headers, r->hlen + size * n + 1);
	memcpy(r->headers + r->hlen, p, size * n);
	r->hlen += size * n;
	r->headers[r->hlen] = '\0';
	return size * n;
}

static void resp_done(struct resp *r)
{
	free(r->data);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

static CURL *client(struct http_server *srv, bool tls, const char *path, struct resp *r)
{
	CURL *c = curl_easy_init();
	char url[256];

	assert_non_null(c);
	snprintf(url, sizeof(url), "%s://127.0.0.1:%u%s", tls ? "https" : "http",
		 http_server_port(srv), path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	/* only our CA: loading the system's for each of 200 handshakes takes seconds */
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	return c;
}

static long perform(CURL *c)
{
	long code = 0;
	CURLcode rc = curl_easy_perform(c);

	if (rc != CURLE_OK)
		fail_msg("curl: %s", curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static void test_http_get_echoes_decoded_query_and_headers(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct curl_slist *hdrs = NULL, *resolve = NULL;
	struct resp r = {0};
	char url[256], host[64];
	CURL *c;

	(void)state;
	c = client(srv, true, "/", &r);
	/* by name, so the DNS name in the certificate is what curl checks */
	snprintf(host, sizeof(host), "localhost:%u:127.0.0.1", http_server_port(srv));
	resolve = curl_slist_append(resolve, host);
	snprintf(url, sizeof(url), "https://localhost:%u/echo/x%%20y?a=1&b=hello%%20world&flag",
		 http_server_port(srv));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	hdrs = curl_slist_append(hdrs, "X-Test: abc");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

	assert_int_equal(perform(c), 200);
	assert_non_null(strstr(r.data, "method=GET path=/echo/x y a=1 b=hello world flag= "
				       "missing=(null) hdr=abc peer=127.0.0.1:"));
	assert_non_null(strstr(r.headers, "X-Echo: yes"));
	assert_non_null(strstr(r.headers, "Content-Type: text/plain"));
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(resolve);
	resp_done(&r);
	http_server_stop(srv);
}

static void test_http_post_of_one_mib_arrives_intact(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	size_t len = 1 << 20;
	cleanup_free char *body = xmalloc(len);
	char want[64];
	struct resp r = {0};
	CURL *c;

	(void)state;
	for (size_t i = 0; i < len; i++)
		body[i] = (char)((i * 7 + i / 251) & 0xff);
	snprintf(want, sizeof(want), "len=%zu hash=%08x", len, fnv1a(body, len));
	c = client(srv, true, "/upload", &r);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(perform(c), 200);
	assert_string_equal(r.data, want);
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static const char too_large_status[] =
	"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
	"\"message\":\"Request entity too large: limit is 3145728\","
	"\"reason\":\"RequestEntityTooLarge\",\"code\":413}";

static void test_http_body_over_the_limit_gets_413_without_the_handler(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	size_t len = 4 << 20;
	cleanup_free char *body = xcalloc(1, len);
	struct resp r = {0};
	CURL *c;

	(void)state;
	memset(body, 'x', len);
	c = client(srv, true, "/upload", &r);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	assert_int_equal(perform(c), 413);
	assert_string_equal(r.data, too_large_status);
	assert_non_null(strstr(r.headers, "Content-Type: application/json"));
	curl_easy_cleanup(c);
	resp_done(&r);
	assert_int_equal(st.handler_calls, 0);
	http_server_stop(srv);
}

struct upload {
	size_t left;
};

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = size * n < u->left ? size * n : u->left;

	memset(p, 'y', k);
	u->left -= k;
	return k;
}

static void test_http_chunked_body_over_the_limit_gets_413_without_the_handler(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct curl_slist *hdrs = NULL;
	struct upload u = {4 << 20};
	struct resp r = {0};
	CURL *c;

	(void)state;
	c = client(srv, true, "/upload", &r);
	hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	assert_int_equal(perform(c), 413);
	assert_string_equal(r.data, too_large_status);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	resp_done(&r);
	assert_int_equal(st.handler_calls, 0);
	http_server_stop(srv);
}

/* NULL after 10 s without stream @i; no cmocka assertions: writers call this too */
static struct http_stream *wait_stream(int i)
{
	struct http_stream *s;

	wait_count(&st.n_streams, i + 1, 10);
	pthread_mutex_lock(&st.lock);
	s = st.streams[i];
	pthread_mutex_unlock(&st.lock);
	return s;
}

static void *write_three_chunks(void *arg)
{
	static const char *const chunks[] = {"{\"n\":1}\n", "{\"n\":2}\n", "{\"n\":3}\n"};
	struct http_stream *s = wait_stream(0);

	(void)arg;
	if (!s)
		return (void *)1;
	for (int i = 0; i < 3; i++) {
		if (i > 0)
			usleep(150 * 1000);
		if (http_stream_write(s, chunks[i], strlen(chunks[i]), 0) != 0)
			return (void *)1;
	}
	http_stream_close(s);
	return NULL;
}

static void test_http_stream_delivers_chunks_written_from_another_thread(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {0};
	pthread_t writer;
	void *res = NULL;
	double end;
	CURL *c;

	(void)state;
	assert_int_equal(pthread_create(&writer, NULL, write_three_chunks, NULL), 0);
	c = client(srv, true, "/stream", &r);
	assert_int_equal(perform(c), 200);
	end = now_s();
	pthread_join(writer, &res);
	assert_null(res);
	assert_string_equal(r.data, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
	assert_non_null(strstr(r.headers, "Transfer-Encoding: chunked"));
	/* the first chunk arrived while the writer still slept: streamed, not buffered */
	assert_true(end - r.first_data > 0.2);
	assert_int_equal(wait_count(&st.closes, 1, 5), 1);
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
	assert_int_equal(st.closes, 1);
}

#define BURST_LINES 20000

static void *write_burst(void *arg)
{
	struct http_stream *s = wait_stream(0);
	char line[16];

	(void)arg;
	if (!s)
		return (void *)1;
	for (int i = 0; i < BURST_LINES; i++) {
		snprintf(line, sizeof(line), "%06d\n", i);
		if (http_stream_write(s, line, 7, 0) != 0)
			return (void *)1;
		/* let the server drain now and then, so the queue empties and refills */
		if (i % 1000 == 0)
			usleep(2000);
	}
	http_stream_close(s);
	return NULL;
}

static void test_http_stream_keeps_order_through_a_burst_of_small_writes(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {0};
	pthread_t writer;
	void *res = NULL;
	char line[16];
	CURL *c;

	(void)state;
	assert_int_equal(pthread_create(&writer, NULL, write_burst, NULL), 0);
	c = client(srv, true, "/stream", &r);
	assert_int_equal(perform(c), 200);
	pthread_join(writer, &res);
	assert_null(res);
	assert_int_equal(r.len, BURST_LINES * 7);
	for (int i = 0; i < BURST_LINES; i += 997) {
		snprintf(line, sizeof(line), "%06d\n", i);
		assert_memory_equal(r.data + (size_t)i * 7, line, 7);
	}
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static void test_http_stream_refuses_writes_beyond_the_queue_limit(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {0};
	CURL *c;

	(void)state;
	c = client(srv, true, "/nobufs", &r);
	assert_int_equal(perform(c), 200);
	assert_int_equal(st.write_results[0], 0);
	assert_int_equal(st.write_results[1], -ENOBUFS);
	assert_int_equal(st.write_results[2], 0);
	assert_int_equal(r.len, 1400);
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static void test_http_handler_without_a_response_gets_500(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {0};
	CURL *c;

	(void)state;
	c = client(srv, true, "/silent", &r);
	assert_int_equal(perform(c), 500);
	assert_non_null(strstr(r.data, "\"code\":500"));
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static void *read_until_first_chunk(void *arg)
{
	CURL *c = arg;

	/* fails with CURLE_WRITE_ERROR on purpose: the client leaves mid-stream */
	curl_easy_perform(c);
	return NULL;
}

static void test_http_client_leaving_an_idle_stream_closes_it(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {.abort_after = 1};
	struct http_stream *s;
	pthread_t reader;
	CURL *c;

	(void)state;
	c = client(srv, true, "/stream", &r);
	assert_int_equal(pthread_create(&reader, NULL, read_until_first_chunk, c), 0);
	s = wait_stream(0);
	assert_non_null(s);
	assert_int_equal(http_stream_write(s, "hello\n", 6, 0), 0);
	pthread_join(reader, NULL);
	curl_easy_cleanup(c);
	assert_string_equal(r.data, "hello\n");

	/* no further writes: the idle, suspended stream still notices the client left */
	assert_int_equal(wait_count(&st.closes, 1, 5), 1);
	assert_int_equal(http_stream_write(s, "more\n", 5, 0), -EPIPE);
	assert_int_equal(http_stream_write(s, "more\n", 5, 0), -EPIPE);
	http_stream_close(s);
	resp_done(&r);
	http_server_stop(srv);
	assert_int_equal(st.closes, 1);
}

static void *write_and_close(void *arg)
{
	struct http_stream *s = wait_stream(*(int *)arg);

	if (!s)
		return (void *)1;
	if (http_stream_write(s, "done\n", 5, 0) != 0)
		return (void *)1;
	http_stream_close(s);
	return NULL;
}

/*
 * A finished stream leaves its connection open for the next request; a second stream on
 * that connection must still notice its client leaving.
 */
static void test_http_connection_outlives_a_finished_stream(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	struct resp r = {0};
	struct http_stream *s;
	pthread_t t;
	void *res = NULL;
	long conns = -1;
	int first = 0;
	CURL *c;

	(void)state;
	c = client(srv, true, "/stream", &r);
	assert_int_equal(pthread_create(&t, NULL, write_and_close, &first), 0);
	assert_int_equal(perform(c), 200);
	pthread_join(t, &res);
	assert_null(res);
	assert_string_equal(r.data, "done\n");
	assert_int_equal(wait_count(&st.closes, 1, 5), 1);

	resp_done(&r);
	r.abort_after = 1;
	assert_int_equal(pthread_create(&t, NULL, read_until_first_chunk, c), 0);
	s = wait_stream(1);
	assert_non_null(s);
	assert_int_equal(http_stream_write(s, "x", 1, 0), 0);
	pthread_join(t, NULL);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
	assert_int_equal(conns, 0); /* the same connection served both */
	assert_int_equal(wait_count(&st.closes, 2, 5), 2);
	assert_int_equal(http_stream_write(s, "x", 1, 0), -EPIPE);
	http_stream_close(s);
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static int count_threads(void)
{
	cleanup_dir DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	return n;
}

/* Opens @n streams with curl multi and drives them until the server holds them all. */
static CURLM *open_streams(struct http_server *srv, int n, CURL **easy, struct resp *resps)
{
	CURLM *m = curl_multi_init();
	double end = now_s() + 15;
	int running = 0;

	assert_non_null(m);
	for (int i = 0; i < n; i++) {
		easy[i] = client(srv, true, "/stream", &resps[i]);
		curl_multi_add_handle(m, easy[i]);
	}
	while (wait_count(&st.n_streams, n, 0) < n && now_s() < end) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	assert_int_equal(wait_count(&st.n_streams, n, 0), n);
	return m;
}

static void close_streams(CURLM *m, int n, CURL **easy)
{
	for (int i = 0; i < n; i++) {
		curl_multi_remove_handle(m, easy[i]);
		curl_easy_cleanup(easy[i]);
	}
	curl_multi_cleanup(m);
}

static void test_http_idle_streams_use_no_thread_each(void **state)
{
	int before = count_threads();
	struct http_server *srv = start(true, "127.0.0.1");
	CURL *easy[N_IDLE];
	struct resp *resps = xcalloc(N_IDLE, sizeof(*resps));
	double end = now_s() + 15;
	int running = 1, threads;
	CURLM *m;

	(void)state;
	m = open_streams(srv, N_IDLE, easy, resps);
	threads = count_threads();
	/* two event-loop threads, the disconnect monitor, and MHD's master thread */
	assert_true(threads - before <= 6);

	/* every one of them still works */
	for (int i = 0; i < N_IDLE; i++) {
		assert_int_equal(http_stream_write(st.streams[i], "bye\n", 4, 0), 0);
		http_stream_close(st.streams[i]);
	}
	while (running > 0 && now_s() < end) {
		curl_multi_perform(m, &running);
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	assert_int_equal(running, 0);
	for (int i = 0; i < N_IDLE; i++) {
		assert_non_null(resps[i].data);
		assert_string_equal(resps[i].data, "bye\n");
		resp_done(&resps[i]);
	}
	assert_int_equal(wait_count(&st.closes, N_IDLE, 5), N_IDLE);
	close_streams(m, N_IDLE, easy);
	free(resps);
	http_server_stop(srv);
}

/* Keeps writing to every other stream until all of those refuse; the rest stay idle. */
static void *write_until_refused(void *arg)
{
	int n = *(int *)arg;
	int refused = 0;

	while (refused < n / 2) {
		refused = 0;
		for (int i = 0; i < n; i += 2) {
			int r = http_stream_write(st.streams[i], "{\"tick\":1}\n", 11, 1 << 16);

			if (r == -EPIPE)
				refused++;
			else if (r != 0 && r != -ENOBUFS)
				return (void *)1;
		}
		usleep(1000);
	}
	return refused == n / 2 ? NULL : (void *)1;
}

static void test_http_stop_with_open_streams_is_prompt(void **state)
{
	struct http_server *srv = start(true, "127.0.0.1");
	int n = 10;
	CURL *easy[10];
	struct resp resps[10] = {{0}};
	pthread_t writer;
	void *res = NULL;
	double t0;
	CURLM *m;

	(void)state;
	m = open_streams(srv, n, easy, resps);
	assert_int_equal(pthread_create(&writer, NULL, write_until_refused, &n), 0);
	usleep(100 * 1000);
	t0 = now_s();
	http_server_stop(srv);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(st.closes, n);
	pthread_join(writer, &res);
	assert_null(res);
	for (int i = 0; i < n; i++) {
		assert_int_equal(http_stream_write(st.streams[i], "x", 1, 0), -EPIPE);
		http_stream_close(st.streams[i]);
		resp_done(&resps[i]);
	}
	close_streams(m, n, easy);
}

static void test_http_serves_plain_http_on_all_addresses(void **state)
{
	struct http_server *srv = start(false, NULL);
	struct resp r = {0};
	CURL *c;

	(void)state;
	c = client(srv, false, "/echo?a=%C3%A9", &r);
	assert_int_equal(perform(c), 200);
	assert_non_null(strstr(r.data, "a=\xc3\xa9 "));
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

/* Offloaded requests. */

static struct http_server *start_offloading(void)
{
	struct http_config cfg = {
		.address = "127.0.0.1",
		.cert_pem = cert_pem,
		.key_pem = key_pem,
		.threads = 1, /* one event loop: a handler blocking it would hold up everything */
		.handler = handler,
		.offload = offload_off,
		.workers = 2,
	};
	struct http_server *srv = NULL;
	struct err err = ERR_INIT;

	reset_state();
	if (http_server_start(&cfg, &srv, &err) < 0)
		fail_msg("start: %s", err.msg);
	return srv;
}

struct slow_call {
	struct http_server *srv;
	struct resp r;
	long code;
	long timeout_ms;
	CURLcode rc;
};

static void *slow_call_main(void *arg)
{
	struct slow_call *sc = arg;
	CURL *c = client(sc->srv, true, "/off/slow", &sc->r);

	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x");
	if (sc->timeout_ms)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, sc->timeout_ms);
	sc->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &sc->code);
	curl_easy_cleanup(c);
	return NULL;
}

static void test_http_offloaded_handler_blocks_without_holding_up_the_loop(void **state)
{
	struct http_server *srv = start_offloading();
	struct slow_call sc = {.srv = srv};
	struct resp r = {0};
	pthread_t t;
	CURL *c;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, slow_call_main, &sc), 0);
	assert_int_equal(wait_count(&st.slow_started, 1, 10), 1);

	/* the only event loop still answers while the slow handler waits */
	c = client(srv, true, "/echo?a=1", &r);
	assert_int_equal(perform(c), 200);
	assert_non_null(strstr(r.data, "a=1 "));
	curl_easy_cleanup(c);
	resp_done(&r);

	/* an offloaded handler reads what the loop would: path, query, headers, peer */
	{
		struct curl_slist *hdrs = curl_slist_append(NULL, "X-Test: abc");

		c = client(srv, true, "/off/echo?a=x%20y&flag", &r);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		assert_int_equal(perform(c), 200);
		assert_non_null(strstr(r.data, "method=GET path=/echo a=x y b=(null) flag= "));
		assert_non_null(strstr(r.data, "hdr=abc peer=127.0.0.1:"));
		assert_non_null(strstr(r.headers, "X-Echo: yes"));
		curl_easy_cleanup(c);
		curl_slist_free_all(hdrs);
		resp_done(&r);
	}

	open_gate(true);
	pthread_join(t, NULL);
	assert_int_equal(sc.rc, CURLE_OK);
	assert_int_equal(sc.code, 201);
	assert_string_equal(sc.r.data, "slow local=0");
	assert_non_null(strstr(sc.r.headers, "X-Slow: done"));
	resp_done(&sc.r);

	/* a handler that streams cannot answer an offloaded request: 500, not a crash */
	c = client(srv, true, "/off/stream", &r);
	assert_int_equal(perform(c), 500);
	assert_non_null(strstr(r.data, "streaming is not available"));
	curl_easy_cleanup(c);
	resp_done(&r);
	/* the handler's own reference to its stream */
	assert_int_equal(st.n_streams, 1);
	http_stream_close(st.streams[0]);
	http_server_stop(srv);
}

static void test_http_offloaded_request_survives_its_client_and_the_stop(void **state)
{
	struct http_server *srv = start_offloading();
	struct slow_call gone = {.srv = srv, .timeout_ms = 300}, stopped = {.srv = srv};
	struct resp r = {0};
	pthread_t t;
	CURL *c;

	(void)state;
	/* the client gives up while the handler runs: the answer has nowhere to go */
	assert_int_equal(pthread_create(&t, NULL, slow_call_main, &gone), 0);
	pthread_join(t, NULL);
	assert_int_equal(gone.rc, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(wait_count(&st.slow_started, 1, 10), 1);
	open_gate(true);
	c = client(srv, true, "/off/upload", &r);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "abc");
	assert_int_equal(perform(c), 200);
	assert_string_equal(r.data, "len=3 hash=1a47e90b");
	curl_easy_cleanup(c);
	resp_done(&r);
	resp_done(&gone.r);

	/* stopping waits for a running handler; its client gets an answer either way */
	open_gate(false);
	assert_int_equal(pthread_create(&t, NULL, slow_call_main, &stopped), 0);
	assert_int_equal(wait_count(&st.slow_started, 2, 10), 2);
	{
		pthread_t opener;

		assert_int_equal(pthread_create(&opener, NULL, delayed_open, NULL), 0);
		http_server_stop(srv);
		pthread_join(opener, NULL);
	}
	pthread_join(t, NULL);
	assert_true(stopped.code == 503 || stopped.code == 201 || stopped.rc != CURLE_OK);
	resp_done(&stopped.r);
}

static void test_http_serves_on_an_ipv6_address(void **state)
{
	struct http_config cfg = {.address = "::1", .handler = handler};
	struct http_server *srv = NULL;
	struct err err = ERR_INIT;
	struct resp r = {0};
	char url[128];
	CURL *c;

	(void)state;
	reset_state();
	if (http_server_start(&cfg, &srv, &err) < 0) {
		err_clear(&err);
		skip(); /* no IPv6 loopback here */
	}
	c = client(srv, false, "/echo", &r);
	snprintf(url, sizeof(url), "http://[::1]:%u/echo", http_server_port(srv));
	curl_easy_setopt(c, CURLOPT_URL, url);
	assert_int_equal(perform(c), 200);
	assert_non_null(strstr(r.data, "peer=[::1]:"));
	curl_easy_cleanup(c);
	resp_done(&r);
	http_server_stop(srv);
}

static void test_http_start_rejects_a_bad_or_busy_address(void **state)
{
	struct http_config cfg = {.address = "nowhere", .handler = handler};
	struct http_server *srv = NULL, *busy;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(http_server_start(&cfg, &srv, &err), -EINVAL);
	assert_null(srv);
	assert_non_null(strstr(err.msg, "'nowhere'"));
	err_clear(&err);

	busy = start(true, "127.0.0.1");
	cfg.address = "127.0.0.1";
	cfg.port = http_server_port(busy);
	assert_int_equal(http_server_start(&cfg, &srv, &err), -EADDRINUSE);
	assert_null(srv);
	assert_non_null(strstr(err.msg, "listen on '127.0.0.1' port"));
	err_clear(&err);
	http_server_stop(busy);

	cfg.port = 0;
	cfg.cert_pem = "not a certificate";
	cfg.key_pem = key_pem;
	assert_int_equal(http_server_start(&cfg, &srv, &err), -EINVAL);
	assert_null(srv);
	assert_non_null(strstr(err.msg, "TLS certificate"));
	err_clear(&err);
}

static char *read_at(const char *dir, const char *name)
{
	char path[256];
	char *buf = NULL;
	struct err err = ERR_INIT;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fs_read_file(AT_FDCWD, path, &buf, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	return buf;
}

static mode_t mode_at(const char *dir, const char *name)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static void test_pki_keeps_the_ca_and_reissues_the_serving_cert_when_names_change(void **state)
{
	static const char *const dns1[] = {"localhost", "skiff.local", NULL};
	static const char *const dns1_reordered[] = {"skiff.local", "localhost", NULL};
	static const char *const dns2[] = {"localhost", "skiff.local", "api.example", NULL};
	static const char *const ips[] = {"127.0.0.1", "::1", NULL};
	char dir[128];
	struct err err = ERR_INIT;
	cleanup_free char *ca1 = NULL, *crt1 = NULL, *ca2 = NULL, *crt2 = NULL, *ca3 = NULL,
			  *crt3 = NULL, *key3 = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pki/sub", tmpdir);
	assert_int_equal(pki_ensure(dir, dns1, ips, &err), 0);
	assert_int_equal(mode_at(dir, "."), 0700);
	assert_int_equal(mode_at(dir, "server-ca.key"), 0600);
	assert_int_equal(mode_at(dir, "serving.key"), 0600);
	ca1 = read_at(dir, "server-ca.crt");
	crt1 = read_at(dir, "serving.crt");

	/* the same names in another order: nothing changes */
	assert_int_equal(pki_ensure(dir, dns1_reordered, ips, &err), 0);
	ca2 = read_at(dir, "server-ca.crt");
	crt2 = read_at(dir, "serving.crt");
	assert_string_equal(ca1, ca2);
	assert_string_equal(crt1, crt2);

	/* a new name: a new serving certificate from the same CA */
	assert_int_equal(pki_ensure(dir, dns2, ips, &err), 0);
	ca3 = read_at(dir, "server-ca.crt");
	crt3 = read_at(dir, "serving.crt");
	assert_string_equal(ca1, ca3);
	assert_string_not_equal(crt1, crt3);

	free(ca2);
	free(crt2);
	ca2 = crt2 = NULL;
	assert_int_equal(pki_load(dir, &crt2, &key3, &ca2, &err), 0);
	assert_string_equal(crt2, crt3);
	assert_string_equal(ca2, ca1);
	assert_non_null(strstr(key3, "PRIVATE KEY"));
}

static void test_pki_replaces_a_lost_serving_key_but_never_the_ca(void **state)
{
	static const char *const dns[] = {"localhost", NULL};
	char dir[128], path[192];
	struct err err = ERR_INIT;
	cleanup_free char *ca1 = NULL, *crt1 = NULL, *ca2 = NULL, *crt2 = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pki-lost", tmpdir);
	assert_int_equal(pki_ensure(dir, dns, NULL, &err), 0);
	ca1 = read_at(dir, "server-ca.crt");
	crt1 = read_at(dir, "serving.crt");

	snprintf(path, sizeof(path), "%s/serving.key", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pki_ensure(dir, dns, NULL, &err), 0);
	ca2 = read_at(dir, "server-ca.crt");
	crt2 = read_at(dir, "serving.crt");
	assert_string_equal(ca1, ca2);
	assert_string_not_equal(crt1, crt2);

	/* a current serving pair needs no CA key */
	snprintf(path, sizeof(path), "%s/server-ca.key", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pki_ensure(dir, dns, NULL, &err), 0);

	/* a new one does; replacing the CA would orphan its clients */
	snprintf(path, sizeof(path), "%s/serving.key", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(pki_ensure(dir, dns, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "server-ca.key"));
	err_clear(&err);
	free(ca2);
	ca2 = read_at(dir, "server-ca.crt");
	assert_string_equal(ca1, ca2);
}

static void test_pki_rejects_a_bad_ip(void **state)
{
	static const char *const ips[] = {"300.1.1.1", NULL};
	char dir[128];
	struct err err = ERR_INIT;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/pki-bad", tmpdir);
	assert_int_equal(pki_ensure(dir, NULL, ips, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'300.1.1.1'"));
	err_clear(&err);
}

static void test_pki_token_is_random_hex_of_the_requested_length(void **state)
{
	char a[33], b[33], one[1];
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(pki_token(a, sizeof(a), &err), 0);
	assert_int_equal(pki_token(b, sizeof(b), &err), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(pki_token(one, sizeof(one), &err), 0);
	assert_string_equal(one, "");
}

/* In-process requests: the same handler, answered into a sink. */

struct local_sink {
	unsigned status;
	char *body;
	size_t len;
	struct http_stream *st;
	char bytes[256];
	size_t n_bytes;
	int ends;
};

static void ls_respond(void *arg, unsigned status, const char *content_type, char *body, size_t len)
{
	struct local_sink *s = arg;

	(void)content_type;
	s->status = status;
	s->body = body;
	s->len = len;
}

static void ls_stream(void *arg, unsigned status, const char *content_type, struct http_stream *hs)
{
	struct local_sink *s = arg;

	(void)content_type;
	s->status = status;
	s->st = hs;
}

static int ls_write(void *arg, const char *data, size_t len, size_t max_queued)
{
	struct local_sink *s = arg;

	if (s->n_bytes > 0 && s->n_bytes + len > max_queued)
		return -ENOBUFS;
	assert_true(s->n_bytes + len <= sizeof(s->bytes));
	memcpy(s->bytes + s->n_bytes, data, len);
	s->n_bytes += len;
	return 0;
}

static void ls_end(void *arg)
{
	struct local_sink *s = arg;

	s->ends++;
}

static void local_run(const char *method, const char *path, const char *query, struct local_sink *s)
{
	static const char *const headers[] = {"X-Test", "local value", NULL};
	const struct http_local_sink sink = {ls_respond, ls_stream, ls_write, ls_end, s};
	const struct http_local_request lr = {method, path, query, headers, NULL, 0};
	struct http_request *req = http_local_new(&lr, &sink);

	handler(NULL, req);
	http_local_finish(req);
}

static void test_http_local_request_reads_like_one_from_a_socket(void **state)
{
	struct local_sink s = {0};

	(void)state;
	reset_state();
	local_run("GET", "/echo", "a=1&b=x%20y+z&flag", &s);
	assert_int_equal(s.status, 200);
	assert_string_equal(s.body, "method=GET path=/echo a=1 b=x y z flag= missing=(null) "
				    "hdr=local value peer=in-process");
	free(s.body);

	memset(&s, 0, sizeof(s));
	local_run("GET", "/silent", NULL, &s);
	assert_int_equal(s.status, 500);
	free(s.body);
}

static void test_http_local_stream_ends_once_by_close_or_release(void **state)
{
	struct local_sink s = {0};
	struct http_stream *owner;

	(void)state;
	/* the owner closes first: the sink sees the bytes and the end, on_close runs once */
	reset_state();
	local_run("GET", "/stream", NULL, &s);
	assert_int_equal(s.status, 200);
	assert_non_null(s.st);
	owner = st.streams[0];
	assert_int_equal(http_stream_write(owner, "abc", 3, 0), 0);
	assert_int_equal(http_stream_write(owner, "def", 3, 4), -ENOBUFS);
	http_stream_close(owner);
	assert_int_equal(s.n_bytes, 3);
	assert_int_equal(s.ends, 1);
	assert_int_equal(st.closes, 1);
	http_local_release(s.st);
	assert_int_equal(st.closes, 1);

	/* the sink releases first: writes fail, on_close has run, close adds nothing */
	memset(&s, 0, sizeof(s));
	reset_state();
	local_run("GET", "/stream", NULL, &s);
	owner = st.streams[0];
	http_local_release(s.st);
	assert_int_equal(st.closes, 1);
	assert_int_equal(http_stream_write(owner, "abc", 3, 0), -EPIPE);
	http_stream_close(owner);
	assert_int_equal(s.ends, 0);
	assert_int_equal(st.closes, 1);
}

static int group_setup(void **state)
{
	static const char *const dns[] = {"localhost", NULL};
	static const char *const ips[] = {"127.0.0.1", NULL};
	struct err err = ERR_INIT;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/skiff-test-http-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(certdir, sizeof(certdir), "%s/tls", tmpdir);
	snprintf(cafile, sizeof(cafile), "%s/server-ca.crt", certdir);
	if (pki_ensure(certdir, dns, ips, &err) < 0 ||
	    pki_load(certdir, &cert_pem, &key_pem, &ca_pem, &err) < 0 || base_curl_load(&err) < 0) {
		fail_msg("setup: %s", err.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	free(cert_pem);
	free(key_pem);
	free(ca_pem);
	fs_remove_tree(AT_FDCWD, tmpdir, &err);
	err_clear(&err);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_get_echoes_decoded_query_and_headers),
		cmocka_unit_test(test_http_post_of_one_mib_arrives_intact),
		cmocka_unit_test(test_http_body_over_the_limit_gets_413_without_the_handler),
		cmocka_unit_test(
			test_http_chunked_body_over_the_limit_gets_413_without_the_handler),
		cmocka_unit_test(test_http_stream_delivers_chunks_written_from_another_thread),
		cmocka_unit_test(test_http_stream_keeps_order_through_a_burst_of_small_writes),
		cmocka_unit_test(test_http_stream_refuses_writes_beyond_the_queue_limit),
		cmocka_unit_test(test_http_handler_without_a_response_gets_500),
		cmocka_unit_test(test_http_client_leaving_an_idle_stream_closes_it),
		cmocka_unit_test(test_http_connection_outlives_a_finished_stream),
		cmocka_unit_test(test_http_idle_streams_use_no_thread_each),
		cmocka_unit_test(test_http_stop_with_open_streams_is_prompt),
		cmocka_unit_test(test_http_serves_plain_http_on_all_addresses),
		cmocka_unit_test(test_http_serves_on_an_ipv6_address),
		cmocka_unit_test(test_http_start_rejects_a_bad_or_busy_address),
		cmocka_unit_test(test_http_local_request_reads_like_one_from_a_socket),
		cmocka_unit_test(test_http_local_stream_ends_once_by_close_or_release),
		cmocka_unit_test(
			test_pki_keeps_the_ca_and_reissues_the_serving_cert_when_names_change),
		cmocka_unit_test(test_pki_replaces_a_lost_serving_key_but_never_the_ca),
		cmocka_unit_test(test_pki_rejects_a_bad_ip),
		cmocka_unit_test(test_http_offloaded_handler_blocks_without_holding_up_the_loop),
		cmocka_unit_test(test_http_offloaded_request_survives_its_client_and_the_stop),
		cmocka_unit_test(test_pki_token_is_random_hex_of_the_requested_length),
	};

	return cmocka_run_group_tests_name("http", tests, group_setup, group_teardown);
}
