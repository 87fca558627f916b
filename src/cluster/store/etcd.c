/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd v3 backend, spoken through etcd's JSON gateway (served under /v3/ since etcd
 * 3.4) with libcurl, so no gRPC or protobuf code is needed. In the gateway's JSON, keys
 * and values are base64, 64-bit integers are strings, and fields holding a zero value
 * (a PUT event's type, a false "succeeded") are left out.
 *
 * Writes are transactions whose compare carries the store's preconditions: CREATE needs
 * create_revision == 0, UPDATE/DELETE need mod_revision == expect_rev (or, with no
 * expected revision, create_revision > 0); the failure branch reads the key, which tells
 * -ENOENT from -ESTALE and gives the caller the current value.
 *
 * The watch is a thread holding one streaming POST /v3/watch over the whole keyspace
 * with prev_kv, reading newline-delimited JSON messages. When the stream breaks it
 * reconnects from the last delivered revision, so each change is delivered once; if etcd
 * compacted past that revision meanwhile, the watch ends and store_watch_status() says
 * so. store_close() wakes its curl_multi_poll() to end it.
 *
 * Of the comma-separated endpoints, requests go to the one that last answered; an
 * endpoint that refuses connections hands over to the next. Only failures to connect
 * fail over: a write whose answer was lost may have been applied and is not resent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/base64.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/libcurl.h"
#include "cluster/store/internal.h"
#include "cluster/store/store.h"

#define CONNECT_TIMEOUT_MS 3000
#define REQUEST_TIMEOUT_MS 60000
/* pause between attempts to re-establish a broken watch */
#define WATCH_RETRY_MS 500

/* FAILED: before the stream was set up; ENDED: after, for good (werr says why) */
enum watch_state { WATCH_STARTING, WATCH_RUNNING, WATCH_FAILED, WATCH_ENDED };

struct buf {
	char *p;
	size_t len, cap;
};

struct etcd_store {
	struct store base;
	char **endpoints;
	size_t nendpoints;
	atomic_size_t current; /* the endpoint that answered last */
	struct curl_slist *headers;

	pthread_mutex_t lock; /* idle, compacted */
	struct handle *idle;
	int64_t compacted;

	/* the watch: its thread alone touches fn, arg, last and line */
	pthread_mutex_t wlock; /* state, werr, stopping */
	pthread_cond_t wcond;
	enum watch_state state;
	struct err werr;
	bool stopping;
	bool watching;
	pthread_t watcher;
	CURLM *multi;
	store_watch_fn fn;
	void *arg;
	int64_t last;
	struct buf line;
};

struct handle {
	CURL *curl;
	struct handle *next;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = b->len + n + 1 > 2 * b->cap ? b->len + n + 1 : 2 * b->cap;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static size_t write_buf(char *p, size_t size, size_t n, void *arg)
{
	buf_add(arg, p, size * n);
	return size * n;
}

static json_t *b64_json(const char *p, size_t len)
{
	size_t n = BASE64_ENCODE_RAW_LENGTH(len);
	cleanup_free char *out = xmalloc(n + 1);

	base64_encode_raw(out, len, (const uint8_t *)p);
	out[n] = '\0';
	return json_stringn_nocheck(out, n);
}

/* Decodes base64 @in into a NUL-terminated heap buffer. */
static int unb64(const char *in, size_t in_len, char **ret, size_t *ret_len)
{
	struct base64_decode_ctx ctx;
	cleanup_free char *out = xmalloc(BASE64_DECODE_LENGTH(in_len) + 1);
	size_t n = 0;

	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &n, (uint8_t *)out, in_len, in) ||
	    !base64_decode_final(&ctx))
		return -EPROTO;
	out[n] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = n;
	return 0;
}

/* A base64 field of @obj, empty when absent (the gateway omits empty bytes). */
static int json_bytes(const json_t *obj, const char *name, char **ret, size_t *ret_len)
{
	const json_t *v = json_object_get(obj, name);

	if (!v) {
		*ret = xstrdup("");
		*ret_len = 0;
		return 0;
	}
	if (!json_is_string(v))
		return -EPROTO;
	return unb64(json_string_value(v), json_string_length(v), ret, ret_len);
}

/* An int64 field: the gateway writes them as strings; 0 when absent. */
static int64_t json_i64(const json_t *obj, const char *name)
{
	const json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

static json_t *i64_json(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

static int parse_kv(const json_t *j, struct store_kv *kv, struct err *err)
{
	cleanup_free char *key = NULL;
	cleanup_free char *value = NULL;
	size_t klen, vlen;

	if (!json_is_object(j) || json_bytes(j, "key", &key, &klen) < 0 ||
	    json_bytes(j, "value", &value, &vlen) < 0)
		return err_set(err, EPROTO, "etcd: malformed key-value in answer");
	kv->key = TAKE_PTR(key);
	kv->value = TAKE_PTR(value);
	kv->len = vlen;
	kv->create_rev = json_i64(j, "create_revision");
	kv->mod_rev = json_i64(j, "mod_revision");
	return 0;
}

/* gRPC status codes the gateway passes on, as errno values */
static int grpc_errno(int64_t code, const char *msg)
{
	if (strstr(msg, "required revision has been compacted"))
		return EOVERFLOW;
	if (strstr(msg, "request is too large"))
		return E2BIG;
	switch (code) {
	case 3:  /* INVALID_ARGUMENT */
	case 11: /* OUT_OF_RANGE */
		return EINVAL;
	case 4: /* DEADLINE_EXCEEDED */
		return ETIMEDOUT;
	case 5: /* NOT_FOUND */
		return ENOENT;
	case 6: /* ALREADY_EXISTS */
		return EEXIST;
	case 7:  /* PERMISSION_DENIED */
	case 16: /* UNAUTHENTICATED */
		return EACCES;
	case 8: /* RESOURCE_EXHAUSTED */
		return E2BIG;
	case 14: /* UNAVAILABLE */
		return EAGAIN;
	default:
		return EIO;
	}
}

static bool connect_failed(CURLcode c)
{
	return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
	       c == CURLE_COULDNT_RESOLVE_PROXY;
}

/* True when @code left the request unsent, so another endpoint may safely take it. */
static bool unsent(CURL *c, CURLcode code)
{
	curl_off_t pretransfer = 0;

	if (connect_failed(code))
		return true;
	/* a connect timeout: the request never reached the wire */
	return code == CURLE_OPERATION_TIMEDOUT &&
	       curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) == CURLE_OK &&
	       pretransfer == 0;
}

static CURL *handle_get(struct etcd_store *s, struct handle **ret)
{
	struct handle *h;

	pthread_mutex_lock(&s->lock);
	h = s->idle;
	if (h)
		s->idle = h->next;
	pthread_mutex_unlock(&s->lock);
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		h->curl = curl_easy_init();
		if (!h->curl)
			abort();
	} else {
		/* keeps the connection open for reuse, drops the last request's options */
		curl_easy_reset(h->curl);
	}
	*ret = h;
	return h->curl;
}

static void handle_put(struct etcd_store *s, struct handle *h)
{
	pthread_mutex_lock(&s->lock);
	h->next = s->idle;
	s->idle = h;
	pthread_mutex_unlock(&s->lock);
}

static void set_request(struct etcd_store *s, CURL *c, const char *url, const char *body,
			size_t len)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers);
	/* libcurl's timeouts must not raise SIGALRM in a threaded server */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
}

/* Turns a non-200 answer's body ({"error", "code", "message"}) into @err. */
static int answer_error(const char *url, long status, const struct buf *body, struct err *err)
{
	cleanup_json json_t *j = jload_b(body->p ? body->p : "", body->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(j, "message"));

	if (!msg)
		msg = json_string_value(json_object_get(j, "error"));
	if (!msg)
		return err_set(err, EIO, "etcd '%s': HTTP status %ld", url, status);
	return err_set(err, grpc_errno(json_i64(j, "code"), msg), "etcd '%s': %s", url, msg);
}

/* POSTs @body (taken) to @path and parses the answer. */
static int call(struct etcd_store *s, const char *path, json_t *body, json_t **ret, struct err *err)
{
	cleanup_json json_t *req = body;
	cleanup_free char *text = jdump_s(req, JSON_COMPACT);
	size_t text_len = strlen(text);
	size_t first = atomic_load(&s->current);
	struct buf out = {0};
	CURLcode c = CURLE_OK;
	struct handle *h;
	long status = 0;
	char url[512];
	CURL *curl;
	int r = 0;

	curl = handle_get(s, &h);
	for (size_t i = 0; i < s->nendpoints; i++) {
		size_t e = (first + i) % s->nendpoints;

		snprintf(url, sizeof(url), "%s%s", s->endpoints[e], path);
		out.len = 0;
		set_request(s, curl, url, text, text_len);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_buf);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
		c = curl_easy_perform(curl);
		if (!unsent(curl, c)) {
			if (e != first)
				atomic_store(&s->current, e);
			break;
		}
	}
	if (c != CURLE_OK) {
		r = err_set(err, unsent(curl, c) ? ECONNREFUSED : EIO, "etcd '%s': %s", url,
			    curl_easy_strerror(c));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		r = answer_error(url, status, &out, err);
		goto out;
	}
	*ret = jload_b(out.p ? out.p : "", out.len, 0, NULL);
	if (!json_is_object(*ret)) {
		json_decref(*ret);
		*ret = NULL;
		r = err_set(err, EPROTO, "etcd '%s': answer is not a JSON object", url);
	}
out:
	handle_put(s, h);
	free(out.p);
	return r;
}

static int64_t header_rev(const json_t *answer)
{
	return json_i64(json_object_get(answer, "header"), "revision");
}

static int etcd_revision(struct store *base, int64_t *rev, int64_t *compacted, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	int r;

	/* any read carries the revision; a key that cannot exist costs the least */
	r = call(s, "/v3/kv/range", json_pack("{s:o}", "key", b64_json("\0", 1)), &answer, err);
	if (r < 0)
		return err_wrap(err, "read store revision");
	if (rev)
		*rev = header_rev(answer);
	if (compacted) {
		pthread_mutex_lock(&s->lock);
		*compacted = s->compacted;
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

static int etcd_get(struct store *base, const char *key, struct store_kv *ret, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	json_t *kvs;
	int r;

	r = call(s, "/v3/kv/range", json_pack("{s:o}", "key", b64_json(key, strlen(key))), &answer,
		 err);
	if (r < 0)
		return err_wrap(err, "get '%s'", key);
	kvs = json_object_get(answer, "kvs");
	if (!json_array_size(kvs))
		return err_set(err, ENOENT, "get '%s': not found", key);
	r = parse_kv(json_array_get(kvs, 0), ret, err);
	if (r < 0)
		return err_wrap(err, "get '%s'", key);
	return 0;
}

/* The smallest key above every key starting with @prefix ("\0": no end), etcd's way. */
static size_t prefix_end(const char *prefix, char *out)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	while (n > 0 && (unsigned char)out[n - 1] == 0xff)
		n--;
	if (n == 0) {
		out[0] = '\0';
		return 1;
	}
	out[n - 1]++;
	return n;
}

static int etcd_range(struct store *base, const char *prefix, const char *after, size_t limit,
		      struct store_kvs *ret, int64_t *rev, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	cleanup_free char *end = xmalloc(strlen(prefix) + 1);
	struct store_kvs out = {0};
	size_t end_len = prefix_end(prefix, end), cap = 0, i;
	json_t *body, *kvs, *kv;
	int r;

	/* keys above @after start at @after followed by a zero byte */
	if (after && strcmp(after, prefix) >= 0)
		body = json_pack("{s:o}", "key", b64_json(after, strlen(after) + 1));
	else if (*prefix)
		body = json_pack("{s:o}", "key", b64_json(prefix, strlen(prefix)));
	else
		body = json_pack("{s:o}", "key", b64_json("\0", 1));
	json_object_set_new(body, "range_end", b64_json(end, end_len));
	if (limit)
		json_object_set_new(body, "limit", i64_json((int64_t)limit));
	r = call(s, "/v3/kv/range", body, &answer, err);
	if (r < 0)
		return err_wrap(err, "list '%s'", prefix);
	kvs = json_object_get(answer, "kvs");
	json_array_foreach (kvs, i, kv) {
		r = parse_kv(kv, store_kvs_push(&out, &cap), err);
		if (r < 0) {
			store_kvs_clear(&out);
			return err_wrap(err, "list '%s'", prefix);
		}
	}
	*ret = out;
	if (rev)
		*rev = header_rev(answer);
	return 0;
}

static json_t *txn_body(const struct store_op *op)
{
	json_t *key = b64_json(op->key, strlen(op->key));
	json_t *compare, *success;

	if (op->kind == STORE_CREATE)
		compare = json_pack("{s:O, s:s, s:s, s:s}", "key", key, "target", "CREATE",
				    "result", "EQUAL", "create_revision", "0");
	else if (op->expect_rev)
		compare = json_pack("{s:O, s:s, s:s, s:o}", "key", key, "target", "MOD", "result",
				    "EQUAL", "mod_revision", i64_json(op->expect_rev));
	else
		compare = json_pack("{s:O, s:s, s:s, s:s}", "key", key, "target", "CREATE",
				    "result", "GREATER", "create_revision", "0");
	if (op->kind == STORE_DELETE)
		success = json_pack("{s:{s:O}}", "request_delete_range", "key", key);
	else
		success = json_pack("{s:{s:O, s:o}}", "request_put", "key", key, "value",
				    b64_json(op->value ? op->value : "", op->len));
	return json_pack("{s:[o], s:[o], s:[{s:{s:o}}]}", "compare", compare, "success", success,
			 "failure", "request_range", "key", key);
}

static const char *op_verb(enum store_op_kind kind)
{
	switch (kind) {
	case STORE_CREATE:
		return "create";
	case STORE_UPDATE:
		return "update";
	case STORE_DELETE:
		return "delete";
	}
	return "apply";
}

static int etcd_apply(struct store *base, const struct store_op *op, int64_t *rev,
		      struct store_kv *current, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	struct store_kv kv = {0};
	json_t *kvs;
	int r;

	r = call(s, "/v3/kv/txn", txn_body(op), &answer, err);
	if (r < 0)
		return err_wrap(err, "%s '%s'", op_verb(op->kind), op->key);
	if (json_is_true(json_object_get(answer, "succeeded"))) {
		if (rev)
			*rev = header_rev(answer);
		return 0;
	}
	kvs = json_object_get(
		json_object_get(json_array_get(json_object_get(answer, "responses"), 0),
				"response_range"),
		"kvs");
	if (!json_array_size(kvs)) {
		if (op->kind == STORE_CREATE)
			return err_set(err, EPROTO, "create '%s': etcd refused, key absent",
				       op->key);
		return err_set(err, ENOENT, "%s '%s': not found", op_verb(op->kind), op->key);
	}
	r = parse_kv(json_array_get(kvs, 0), &kv, err);
	if (r < 0)
		return err_wrap(err, "%s '%s'", op_verb(op->kind), op->key);
	if (op->kind == STORE_CREATE)
		r = err_set(err, EEXIST, "create '%s': already exists", op->key);
	else
		r = err_set(err, ESTALE, "%s '%s': modified at revision %lld, not %lld",
			    op_verb(op->kind), op->key, (long long)kv.mod_rev,
			    (long long)op->expect_rev);
	if (current)
		*current = kv;
	else
		store_kv_clear(&kv);
	return r;
}

static void note_compacted(struct etcd_store *s, int64_t rev)
{
	pthread_mutex_lock(&s->lock);
	if (rev > s->compacted)
		s->compacted = rev;
	pthread_mutex_unlock(&s->lock);
}

static int etcd_compact(struct store *base, int64_t rev, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	int r;

	r = call(s, "/v3/kv/compaction", json_pack("{s:o}", "revision", i64_json(rev)), &answer,
		 err);
	if (r == -EOVERFLOW) {
		/* already compacted at or past @rev: the goal holds */
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return err_wrap(err, "compact store to revision %lld", (long long)rev);
	note_compacted(s, rev);
	return 0;
}

/* ---- watch ---- */

static void watch_set_state(struct etcd_store *s, enum watch_state state, const struct err *e)
{
	pthread_mutex_lock(&s->wlock);
	if (s->state == WATCH_STARTING) {
		s->state = state;
		if (e)
			err_set(&s->werr, e->code, "%s", e->msg);
		pthread_cond_broadcast(&s->wcond);
	}
	pthread_mutex_unlock(&s->wlock);
}

static bool watch_stopping(struct etcd_store *s)
{
	bool stop;

	pthread_mutex_lock(&s->wlock);
	stop = s->stopping;
	pthread_mutex_unlock(&s->wlock);
	return stop;
}

static int deliver_event(struct etcd_store *s, const json_t *e)
{
	const json_t *kv = json_object_get(e, "kv");
	const json_t *prev = json_object_get(e, "prev_kv");
	bool del = json_is_string(json_object_get(e, "type")) &&
		   strcmp(json_string_value(json_object_get(e, "type")), "DELETE") == 0;
	cleanup_free char *key = NULL;
	cleanup_free char *value = NULL;
	struct store_event ev = {.type = del ? STORE_EV_DELETE : STORE_EV_PUT};
	size_t klen;

	if (!json_is_object(kv) || json_bytes(kv, "key", &key, &klen) < 0 ||
	    json_bytes(del ? prev : kv, "value", &value, &ev.len) < 0)
		return -EPROTO;
	ev.key = key;
	ev.value = value;
	ev.rev = json_i64(kv, "mod_revision");
	/* a deletion's kv holds only the key and the revision: the rest is in prev_kv */
	ev.create_rev = json_i64(del ? prev : kv, "create_revision");
	ev.prev_rev = json_i64(prev, "mod_revision");
	/* a transaction's changes share a revision; only older ones are repeats */
	if (ev.rev < s->last)
		return 0;
	s->fn(s->arg, &ev);
	s->last = ev.rev;
	return 0;
}

/*
 * One message of the stream. Returns 0 to go on, -EOVERFLOW when etcd has compacted
 * the history we still need, another -errno when the stream must be re-established.
 */
static int watch_message(struct etcd_store *s, const char *text, size_t len, struct err *err)
{
	cleanup_json json_t *j = jload_b(text, len, 0, NULL);
	const json_t *res = json_object_get(j, "result");
	const json_t *events, *e;
	size_t i;

	if (!json_is_object(res)) {
		const char *msg = json_string_value(json_object_get(j, "message"));

		if (!msg)
			msg = json_string_value(json_object_get(j, "error"));
		return err_set(err, EPROTO, "etcd watch: %s", msg ? msg : "malformed message");
	}
	if (json_i64(res, "compact_revision")) {
		int64_t compacted = json_i64(res, "compact_revision");

		note_compacted(s, compacted);
		return err_set(err, EOVERFLOW,
			       "watch from revision %lld: history compacted up to revision %lld",
			       (long long)s->last, (long long)compacted);
	}
	if (json_is_true(json_object_get(res, "canceled")))
		return err_set(err, EIO, "etcd watch: canceled: %s",
			       json_string_value(json_object_get(res, "cancel_reason")) ?: "");
	if (json_is_true(json_object_get(res, "created")))
		watch_set_state(s, WATCH_RUNNING, NULL);
	events = json_object_get(res, "events");
	json_array_foreach (events, i, e) {
		if (deliver_event(s, e) < 0)
			return err_set(err, EPROTO, "etcd watch: malformed event");
	}
	return 0;
}

struct stream {
	struct etcd_store *s;
	struct err err;
};

static size_t watch_write(char *p, size_t size, size_t n, void *arg)
{
	struct stream *st = arg;
	struct etcd_store *s = st->s;
	struct buf *b = &s->line;
	size_t start = 0;
	char *nl;

	buf_add(b, p, size * n);
	while ((nl = memchr(b->p + start, '\n', b->len - start))) {
		size_t len = (size_t)(nl - (b->p + start));

		if (len && watch_message(s, b->p + start, len, &st->err) < 0)
			return 0; /* ends the transfer */
		start += len + 1;
	}
	memmove(b->p, b->p + start, b->len - start);
	b->len -= start;
	return size * n;
}

/* One streaming request, until it ends, fails or the store closes. */
static int watch_stream(struct etcd_store *s, const char *endpoint, struct err *err)
{
	cleanup_json json_t *body = json_pack(
		"{s:{s:o, s:o, s:o, s:b}}", "create_request", "key", b64_json("\0", 1), "range_end",
		b64_json("\0", 1), "start_revision", i64_json(s->last + 1), "prev_kv", 1);
	cleanup_free char *text = jdump_s(body, JSON_COMPACT);
	cleanup_free char *url = xasprintf("%s/v3/watch", endpoint);
	struct stream st = {.s = s};
	CURL *c = curl_easy_init();
	CURLcode code = CURLE_OK;
	CURLMsg *msg;
	long status = 0;
	int running = 1, left;

	if (!c)
		abort();
	s->line.len = 0;
	set_request(s, c, url, text, strlen(text));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
	curl_multi_add_handle(s->multi, c);
	while (running && !watch_stopping(s)) {
		if (curl_multi_perform(s->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(s->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			code = msg->data.result;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(s->multi, c);
	curl_easy_cleanup(c);

	if (st.err.code) {
		*err = st.err;
		return -err->code;
	}
	if (watch_stopping(s))
		return 0;
	if (code != CURLE_OK)
		return err_set(err, connect_failed(code) ? ECONNREFUSED : EIO,
			       "etcd watch '%s': %s", url, curl_easy_strerror(code));
	if (status != 200)
		return err_set(err, EIO, "etcd watch '%s': HTTP status %ld", url, status);
	return err_set(err, EPIPE, "etcd watch '%s': stream ended", url);
}

static void *watch_main(void *arg)
{
	struct etcd_store *s = arg;
	size_t e = atomic_load(&s->current);

	while (!watch_stopping(s)) {
		struct err err = ERR_INIT;
		struct timespec until;
		int r;

		r = watch_stream(s, s->endpoints[e], &err);
		if (r == 0)
			break;
		if (s->state == WATCH_STARTING) {
			/* store_watch() reports it */
			watch_set_state(s, WATCH_FAILED, &err);
			err_clear(&err);
			break;
		}
		if (r == -EOVERFLOW) {
			/*
			 * Changes we have not delivered are gone; only listing again can rebuild
			 * the watcher's view, which this interface cannot ask for.
			 */
			pthread_mutex_lock(&s->wlock);
			err_clear(&s->werr);
			s->werr = err;
			s->state = WATCH_ENDED;
			pthread_mutex_unlock(&s->wlock);
			break;
		}
		if (r == -ECONNREFUSED)
			e = (e + 1) % s->nendpoints;
		err_clear(&err);
		clock_deadline(&until, WATCH_RETRY_MS);
		pthread_mutex_lock(&s->wlock);
		if (!s->stopping)
			clock_timedwait(&s->wcond, &s->wlock, &until);
		pthread_mutex_unlock(&s->wlock);
	}
	return NULL;
}

static int etcd_watch(struct store *base, int64_t after, store_watch_fn fn, void *arg,
		      struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	cleanup_json json_t *answer = NULL;
	int r;

	if (s->watching) {
		bool ended;

		pthread_mutex_lock(&s->wlock);
		ended = s->state == WATCH_ENDED;
		pthread_mutex_unlock(&s->wlock);
		if (!ended)
			return err_set(err, EBUSY, "watch store: already watched");
		pthread_join(s->watcher, NULL);
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
		s->watching = false;
		err_clear(&s->werr);
	}
	/*
	 * A read at revision @after fails when compaction has passed it; etcd's first revision
	 * is 1, so a watch from 0 misses nothing when 1 is kept.
	 */
	r = call(s, "/v3/kv/range",
		 json_pack("{s:o, s:o, s:b}", "key", b64_json("\0", 1), "revision",
			   i64_json(after > 1 ? after : 1), "count_only", 1),
		 &answer, err);
	if (r == -EOVERFLOW) {
		note_compacted(s, after + 1);
		err_clear(err);
		return err_set(err, EOVERFLOW,
			       "watch from revision %lld: history compacted past it",
			       (long long)after);
	}
	/* a revision still to come is fine to wait for */
	if (r == -EINVAL && strstr(err->msg, "future revision"))
		err_clear(err);
	else if (r < 0)
		return err_wrap(err, "watch store");

	s->multi = curl_multi_init();
	if (!s->multi)
		abort();
	s->fn = fn;
	s->arg = arg;
	s->last = after;
	s->state = WATCH_STARTING;
	r = -pthread_create(&s->watcher, NULL, watch_main, s);
	if (r < 0) {
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
		return err_errno(err, -r, "watch store: start thread");
	}
	s->watching = true;

	pthread_mutex_lock(&s->wlock);
	while (s->state == WATCH_STARTING)
		pthread_cond_wait(&s->wcond, &s->wlock);
	if (s->state == WATCH_FAILED) {
		*err = s->werr;
		s->werr = (struct err)ERR_INIT;
	}
	pthread_mutex_unlock(&s->wlock);
	if (err->code) {
		/* the thread has given up: the caller may try again */
		pthread_join(s->watcher, NULL);
		curl_multi_cleanup(s->multi);
		s->multi = NULL;
		s->watching = false;
		return err_wrap(err, "watch store");
	}
	return 0;
}

static int etcd_watch_status(struct store *base, struct err *err)
{
	struct etcd_store *s = (struct etcd_store *)base;
	int r = 0;

	pthread_mutex_lock(&s->wlock);
	if (s->state == WATCH_ENDED)
		r = err_set(err, s->werr.code, "%s", s->werr.msg);
	pthread_mutex_unlock(&s->wlock);
	return r;
}

static void etcd_close(struct store *base)
{
	struct etcd_store *s = (struct etcd_store *)base;

	if (s->watching) {
		pthread_mutex_lock(&s->wlock);
		s->stopping = true;
		pthread_cond_broadcast(&s->wcond);
		pthread_mutex_unlock(&s->wlock);
		curl_multi_wakeup(s->multi);
		pthread_join(s->watcher, NULL);
	}
	if (s->multi)
		curl_multi_cleanup(s->multi);
	while (s->idle) {
		struct handle *h = s->idle;

		s->idle = h->next;
		curl_easy_cleanup(h->curl);
		free(h);
	}
	if (s->headers)
		curl_slist_free_all(s->headers);
	for (size_t i = 0; i < s->nendpoints; i++)
		free(s->endpoints[i]);
	free(s->endpoints);
	free(s->line.p);
	err_clear(&s->werr);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->wlock);
	pthread_cond_destroy(&s->wcond);
	free(s);
}

static const struct store_ops etcd_ops = {
	.name = "etcd",
	.close = etcd_close,
	.revision = etcd_revision,
	.get = etcd_get,
	.range = etcd_range,
	.apply = etcd_apply,
	.watch = etcd_watch,
	.watch_status = etcd_watch_status,
	.compact = etcd_compact,
};

int store_etcd_open(const char *endpoints, struct store **ret, struct err *err)
{
	cleanup_free char *list = xstrdup(endpoints);
	struct etcd_store *s;
	char *save = NULL;
	int r;

	r = base_curl_load(err);
	if (r < 0)
		return err_wrap(err, "open store '%s'", endpoints);
	s = xcalloc(1, sizeof(*s));
	s->base.ops = &etcd_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_cond_init(&s->wcond, NULL);
	for (char *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(e);

		while (n && e[n - 1] == '/')
			n--;
		if (!n)
			continue;
		s->endpoints = xrealloc(s->endpoints, (s->nendpoints + 1) * sizeof(char *));
		s->endpoints[s->nendpoints++] = xstrndup(e, n);
	}
	if (!s->nendpoints) {
		etcd_close(&s->base);
		return err_set(err, EINVAL, "open store '%s': no endpoint", endpoints);
	}
	s->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* curl would wait a second for "100 Continue" before sending a large value */
	s->headers = curl_slist_append(s->headers, "Expect:");

	/* the first endpoint that answers serves from now on */
	r = etcd_revision(&s->base, NULL, NULL, err);
	if (r < 0) {
		etcd_close(&s->base);
		return err_wrap(err, "open store");
	}
	*ret = &s->base;
	return 0;
}
