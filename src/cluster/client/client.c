/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client's requests and watches over its two transports: in-process through the
 * API server's handler (api_local_request, cluster/api/api.h) and HTTP(S). Requests over
 * HTTP(S) go out on HTTP/1.1 connections of the client's own (cluster/api/h1.h), kept
 * alive in a small pool between requests: libcurl's machinery took a quarter of a hollow
 * node's CPU per pod (bench/ab.sh: 0.29 to 0.32 ms against 0.22 to 0.24). When a proxy
 * variable of the environment (https_proxy, all_proxy and the like) could apply, they go
 * through libcurl instead, which honours it and no_proxy as before. Watches always use
 * libcurl.
 *
 * Watches parse newline-delimited JSON events as bytes arrive. An in-process watch gets
 * its bytes from the server's watch dispatcher, which only copies them into the watch's
 * queue: events are decoded and handed to the callback on the watching thread, so a slow
 * callback never holds up the server. A remote watch runs its transfer on a multi handle
 * of its own, so that kc_free() and informer_stop() can wake and end an idle one at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/libcurl.h"
#include "base/log.h"
#include "cluster/api/api.h"
#include "cluster/api/h1.h"
#include "cluster/client/client.h"
#include "cluster/client/internal.h"

/*
 * Idle connections kept (and libcurl handles, each with its connection): as many as
 * threads that send at once (the hollow nodes' workers), or every request past the pool
 * pays a new TLS handshake.
 */
#define POOL_MAX               64
#define CONNECT_TIMEOUT        10L
#define REQUEST_TIMEOUT        60L
#define IDLE_REUSE_MS          60000 /* then closed, well before the server's 300 s would */
#define MAX_HEAD               (64u << 10)
#define MAX_ERROR_BODY         (1u << 20)
#define WATCH_POLL_MS          1000
#define DEFAULT_CONTENT_TYPE   "application/json"
#define WATCH_QUERY            "watch=1&allowWatchBookmarks=1"
#define ERR_BODY_PREVIEW_BYTES 200
/* a drained watch buffer larger than this is freed, so idle watches stay small */
#define SPARE_KEEP_BYTES (1u << 20)

struct watch;

/* A connection of the direct transport. */
struct direct_conn {
	struct h1_conn h;
	int64_t idle_since; /* clock_mono_ms() when it went back to the pool */
};

struct kc {
	struct api *api; /* kc_local */

	/* kc_remote */
	char *server; /* "https://host:6443", without a trailing slash */
	char *token;
	char *ca_pem;
	bool ca_blob; /* libcurl takes the CA from memory; otherwise from ca_fd */
	int ca_fd;
	char ca_path[64];

	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled when active drops to 0 */
	CURL *pool[POOL_MAX];
	size_t n_pool;

	/* requests on connections of our own: no proxy variable applies */
	bool direct;
	struct h1_url url;
	gnutls_certificate_credentials_t trust; /* https: the CA (or the system's) */
	struct direct_conn *conns[POOL_MAX];    /* idle, the most recently used last */
	size_t n_idle;
	struct watch *watches;
	int active; /* requests and watches in flight */
	bool closing;
	struct kc_events *events;
};

/* Helpers shared by the module. */

char *kc_key(const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));

	if (!name)
		name = "";
	if (ns && *ns)
		return xasprintf("%s/%s", ns, name);
	return xstrdup(name);
}

/* Clients. */

static struct kc *kc_new(void)
{
	struct kc *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->idle, NULL);
	c->ca_fd = -1;
	return c;
}

int kc_local(struct api *api, struct kc **ret, struct err *err)
{
	struct kc *c;

	if (!api)
		return err_set(err, EINVAL, "create in-process API client: no API server");
	c = kc_new();
	c->api = api;
	*ret = c;
	return 0;
}

/*
 * libcurl's GnuTLS backend takes no CA from memory before 8.x: it then reads the PEM
 * from a memfd by its /proc path, which costs no file on disk.
 */
static int setup_ca(struct kc *c, CURL *h, struct err *err)
{
	struct curl_blob blob = {c->ca_pem, strlen(c->ca_pem), CURL_BLOB_COPY};
	size_t len = strlen(c->ca_pem), off = 0;

	if (curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob) == CURLE_OK) {
		c->ca_blob = true;
		return 0;
	}
	c->ca_fd = memfd_create("skiff-ca", MFD_CLOEXEC);
	if (c->ca_fd < 0)
		return err_sys(err, "keep the cluster CA for libcurl");
	while (off < len) {
		ssize_t n = write(c->ca_fd, c->ca_pem + off, len - off);

		if (n < 0)
			return err_sys(err, "keep the cluster CA for libcurl");
		off += (size_t)n;
	}
	snprintf(c->ca_path, sizeof(c->ca_path), "/proc/self/fd/%d", c->ca_fd);
	return 0;
}

/* Whether libcurl would send requests for a @tls server through a proxy variable's proxy. */
static bool proxy_applies(bool tls)
{
	static const char *const https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
					    NULL};
	/* libcurl reads http_proxy only in lowercase */
	static const char *const http[] = {"http_proxy", "all_proxy", "ALL_PROXY", NULL};

	for (const char *const *v = tls ? https : http; *v; v++) {
		const char *e = getenv(*v);

		if (e && *e)
			return true;
	}
	return false;
}

/* The direct transport's address and trust, unless a proxy may apply. */
static int direct_setup(struct kc *c, struct err *err)
{
	int r = h1_url_parse(c->server, &c->url, err);

	if (r < 0)
		return r;
	if (proxy_applies(c->url.tls))
		return 0;
	if (c->url.tls) {
		r = api_gnutls_load(err);
		if (r < 0)
			return r;
		if (gnutls_certificate_allocate_credentials(&c->trust) < 0) {
			c->trust = NULL;
			return err_set(err, ENOMEM, "allocate TLS credentials");
		}
		if (c->ca_pem) {
			gnutls_datum_t pem = {(unsigned char *)c->ca_pem,
					      (unsigned)strlen(c->ca_pem)};

			r = gnutls_certificate_set_x509_trust_mem(c->trust, &pem,
								  GNUTLS_X509_FMT_PEM);
			if (r <= 0)
				return err_set(err, EINVAL, "the CA certificate: %s",
					       r < 0 ? gnutls_strerror(r)
						     : "no certificate in PEM");
		} else {
			r = gnutls_certificate_set_x509_system_trust(c->trust);
			if (r < 0)
				return err_set(err, EIO, "the system's CA certificates: %s",
					       gnutls_strerror(r));
		}
	}
	c->direct = true;
	return 0;
}

int kc_remote(const char *server, const char *token, const char *ca_pem, struct kc **ret,
	      struct err *err)
{
	struct kc *c;
	CURL *h;
	size_t len;
	int r;

	if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0))
		return err_set(err, EINVAL, "API server address '%s': expected https://HOST:PORT",
			       server ? server : "");
	r = base_curl_load(err);
	if (r < 0)
		return err_wrap(err, "connect to the API server '%s'", server);
	h = curl_easy_init();
	if (!h)
		return err_set(err, ENOMEM, "connect to the API server '%s': libcurl failed",
			       server);
	c = kc_new();
	c->server = xstrdup(server);
	len = strlen(c->server);
	while (len > 0 && c->server[len - 1] == '/')
		c->server[--len] = '\0';
	c->token = token ? xstrdup(token) : NULL;
	c->ca_pem = ca_pem ? xstrdup(ca_pem) : NULL;
	if (c->ca_pem) {
		r = setup_ca(c, h, err);
		if (r < 0) {
			curl_easy_cleanup(h);
			kc_free(c);
			return err_wrap(err, "connect to the API server '%s'", server);
		}
	}
	c->pool[c->n_pool++] = h;
	r = direct_setup(c, err);
	if (r < 0) {
		kc_free(c);
		return err_wrap(err, "connect to the API server '%s'", server);
	}
	*ret = c;
	return 0;
}

static void wake_watches(struct kc *c);

void kc_free(struct kc *c)
{
	struct kc_events *ev;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	ev = TAKE_PTR(c->events);
	wake_watches(c);
	pthread_mutex_unlock(&c->lock);
	/* events not sent yet are dropped: the recorder's requests now fail at once */
	kc_events_stop(ev);
	pthread_mutex_lock(&c->lock);
	while (c->active > 0)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	for (size_t i = 0; i < c->n_idle; i++) {
		h1_conn_close(&c->conns[i]->h);
		free(c->conns[i]);
	}
	if (c->trust)
		gnutls_certificate_free_credentials(c->trust);
	h1_url_clear(&c->url);
	if (c->ca_fd >= 0)
		close(c->ca_fd);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->ca_pem);
	free(c->server);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct kc_events *kc_client_events(struct kc *c)
{
	struct kc_events *ev;

	pthread_mutex_lock(&c->lock);
	if (!c->events && !c->closing)
		c->events = kc_events_new(c);
	ev = c->events;
	pthread_mutex_unlock(&c->lock);
	return ev;
}

static int enter(struct kc *c)
{
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->closing)
		r = -ESHUTDOWN;
	else
		c->active++;
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void leave(struct kc *c)
{
	pthread_mutex_lock(&c->lock);
	if (--c->active == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

/* Responses. */

static int status_errno(unsigned status)
{
	switch (status) {
	case 400:
	case 422:
		return EINVAL;
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 405:
		return EOPNOTSUPP;
	case 409:
		return EEXIST;
	case 410:
		return ESTALE;
	case 413:
		return EFBIG;
	case 429:
	case 503:
		return EAGAIN;
	case 504:
		return ETIMEDOUT;
	default:
		return status >= 500 ? EIO : EPROTO;
	}
}

/*
 * Decodes a response; takes @body. Sets @err for a status >= 400 (with the Status
 * object's message) and for a body that does not parse. With @failure_only, a success's
 * body is not parsed and *@ret_body is set to NULL.
 */
static int decode(const char *method, const char *path, unsigned status, const char *ctype,
		  char *body, size_t len, json_t **ret_body, bool failure_only, struct err *err)
{
	cleanup_free char *owned = body;
	json_t *doc = NULL;

	/* a success nobody reads is not parsed: most writes answer with the whole object */
	if ((!ret_body || failure_only) && status < 400) {
		if (ret_body)
			*ret_body = NULL;
		return (int)status;
	}
	if (len > 0 && ctype && !strstr(ctype, "json")) {
		doc = json_stringn_nocheck(body, len);
	} else if (len > 0) {
		json_error_t je;

		doc = jload_b(body, len, 0, &je);
		if (!doc && status < 400)
			return err_set(err, EPROTO, "%s %s: invalid JSON in the response: %s",
				       method, path, je.text);
	}
	if (status >= 400) {
		const char *msg = json_string_value(json_object_get(doc, "message"));

		if (msg)
			err_set(err, status_errno(status), "%s %s: %s", method, path, msg);
		else
			err_set(err, status_errno(status), "%s %s: HTTP %u%s%.*s", method, path,
				status, len ? ": " : "",
				(int)(len < ERR_BODY_PREVIEW_BYTES ? len : ERR_BODY_PREVIEW_BYTES),
				body ? body : "");
	}
	if (ret_body)
		*ret_body = doc;
	else
		json_decref(doc);
	return (int)status;
}

/* In-process requests. */

struct local_answer {
	unsigned status;
	char *ctype;
	char *body;
	size_t len;
	struct http_stream *st;
};

static void la_respond(void *arg, unsigned status, const char *ctype, char *body, size_t len)
{
	struct local_answer *a = arg;

	a->status = status;
	a->ctype = ctype ? xstrdup(ctype) : NULL;
	a->body = body;
	a->len = len;
}

static void la_stream(void *arg, unsigned status, const char *ctype, struct http_stream *st)
{
	struct local_answer *a = arg;

	(void)ctype;
	a->status = status;
	a->st = st;
}

/* A plain request that got a stream (a watch asked for through kc_request) wants no bytes. */
static int la_write(void *arg, const char *data, size_t len, size_t max_queued)
{
	(void)arg;
	(void)data;
	(void)len;
	(void)max_queued;
	return -EPIPE;
}

static void la_end(void *arg)
{
	(void)arg;
}

static int local_request(struct kc *c, const char *token, const char *method, const char *path,
			 const char *ctype, const char *body, size_t len, json_t **ret_body,
			 bool failure_only, struct err *err)
{
	struct local_answer a = {0};
	const struct api_local_sink sink = {la_respond, la_stream, la_write, la_end, &a};
	const struct api_local_request r = {method, path, token, body ? ctype : NULL, body, len};
	cleanup_free char *ct = NULL;
	int rc;

	rc = api_local_request(c->api, &r, &sink);
	if (rc < 0)
		return err_set(err, -rc, "%s %s: the API server is stopping", method, path);
	if (a.st)
		api_local_release(a.st);
	ct = a.ctype;
	return decode(method, path, a.status, ct, a.body, a.len, ret_body, failure_only, err);
}

/* Remote requests. */

struct remote_xfer {
	char *data;
	size_t len, cap;
	size_t max;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct remote_xfer *x = arg;
	size_t len = size * n;

	if (x->max && x->len + len > x->max)
		return len;
	if (x->len + len + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;

		while (cap < x->len + len + 1)
			cap *= 2;
		x->data = xrealloc(x->data, cap);
		x->cap = cap;
	}
	memcpy(x->data + x->len, p, len);
	x->len += len;
	x->data[x->len] = '\0';
	return len;
}

static CURL *pool_get(struct kc *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->n_pool > 0)
		h = c->pool[--c->n_pool];
	pthread_mutex_unlock(&c->lock);
	return h ? h : curl_easy_init();
}

static void pool_put(struct kc *c, CURL *h)
{
	pthread_mutex_lock(&c->lock);
	if (c->n_pool < POOL_MAX) {
		c->pool[c->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (h)
		curl_easy_cleanup(h);
}

static struct curl_slist *remote_headers(struct kc *c, const char *token, const char *ctype)
{
	struct curl_slist *l = NULL;
	cleanup_free char *auth = NULL;
	cleanup_free char *ct = NULL;

	if (!token)
		token = c->token;
	if (token) {
		auth = xasprintf("Authorization: Bearer %s", token);
		l = curl_slist_append(l, auth);
	}
	if (ctype) {
		ct = xasprintf("Content-Type: %s", ctype);
		l = curl_slist_append(l, ct);
	}
	l = curl_slist_append(l, "Accept: application/json");
	/* no 100-continue round trip before bodies */
	l = curl_slist_append(l, "Expect:");
	return l;
}

static void remote_setup(struct kc *c, CURL *h, const char *url, struct curl_slist *hdrs,
			 bool watch)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "skiff");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	/* a watch may be quiet for long: no overall or low-speed limit */
	curl_easy_setopt(h, CURLOPT_TIMEOUT, watch ? 0L : REQUEST_TIMEOUT);
	if (c->ca_pem && c->ca_blob) {
		struct curl_blob blob = {c->ca_pem, strlen(c->ca_pem), CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else if (c->ca_pem) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_path);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
		return EPROTO;
	default:
		return EIO;
	}
}

static int remote_request(struct kc *c, const char *token, const char *method, const char *path,
			  const char *ctype, const char *body, size_t len, json_t **ret_body,
			  bool failure_only, struct err *err)
{
	cleanup_free char *url = xasprintf("%s%s", c->server, path);
	struct curl_slist *hdrs = remote_headers(c, token, body ? ctype : NULL);
	struct remote_xfer x = {0};
	char *ctype_resp = NULL;
	cleanup_free char *ct = NULL;
	long status = 0;
	CURLcode rc;
	CURL *h = pool_get(c);

	if (!h) {
		curl_slist_free_all(hdrs);
		return err_set(err, ENOMEM, "%s %s: libcurl failed", method, path);
	}
	remote_setup(c, h, url, hdrs, false);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x.errbuf);
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype_resp) == CURLE_OK &&
		    ctype_resp)
			ct = xstrdup(ctype_resp);
	}
	/* the handle keeps no pointers to this frame past the next reset */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	pool_put(c, h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		free(x.data);
		return err_set(err, curl_errno(rc), "%s %s%s: %s", method, c->server, path,
			       x.errbuf[0] ? x.errbuf : curl_easy_strerror(rc));
	}
	return decode(method, path, (unsigned)status, ct, x.data, x.len, ret_body, failure_only,
		      err);
}

/* The direct transport. */

/* An idle connection young enough to reuse, or NULL. */
static struct direct_conn *direct_take(struct kc *c)
{
	int64_t now = clock_mono_ms();
	struct direct_conn *d = NULL, *old[POOL_MAX];
	size_t n_old = 0;

	pthread_mutex_lock(&c->lock);
	while (c->n_idle > 0 && !d) {
		d = c->conns[--c->n_idle];
		if (now - d->idle_since > IDLE_REUSE_MS) {
			old[n_old++] = d;
			d = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n_old; i++) {
		h1_conn_close(&old[i]->h);
		free(old[i]);
	}
	return d;
}

static void direct_drop(struct direct_conn *d)
{
	if (!d)
		return;
	h1_conn_close(&d->h);
	free(d);
}

static void direct_put(struct kc *c, struct direct_conn *d)
{
	d->idle_since = clock_mono_ms();
	pthread_mutex_lock(&c->lock);
	if (c->n_idle < POOL_MAX && !c->closing) {
		c->conns[c->n_idle++] = d;
		d = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	direct_drop(d);
}

static struct direct_conn *direct_dial(struct kc *c, struct err *err)
{
	struct direct_conn *d = xcalloc(1, sizeof(*d));

	d->h.fd = -1;
	if (h1_dial(c->url.host, c->url.target, c->url.port, CONNECT_TIMEOUT * 1000, &d->h.fd,
		    err) < 0) {
		direct_drop(d);
		return NULL;
	}
	h1_set_timeout(d->h.fd, REQUEST_TIMEOUT * 1000);
	if (c->url.tls && h1_tls_start(&d->h, c->trust, c->url.host, c->url.target,
				       CONNECT_TIMEOUT * 1000, err) < 0) {
		direct_drop(d);
		return NULL;
	}
	return d;
}

/* The request's bytes: head and body in one buffer, so TLS sends them in one record. */
static char *direct_message(struct kc *c, const char *token, const char *method, const char *path,
			    const char *ctype, const char *body, size_t len, size_t *ret_len)
{
	cleanup_free char *head = NULL;
	size_t n;
	char *out;

	if (!token)
		token = c->token;
	head = xasprintf("%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: skiff\r\n"
			 "Accept: application/json\r\n%s%s%s%s%s%s",
			 method, c->url.prefix, path, c->url.target,
			 token ? "Authorization: Bearer " : "", token ? token : "",
			 token ? "\r\n" : "", body ? "Content-Type: " : "", body ? ctype : "",
			 body ? "\r\n" : "");
	n = strlen(head);
	out = xmalloc(n + 48 + len);
	memcpy(out, head, n);
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	    strcmp(method, "PATCH") == 0)
		n += (size_t)sprintf(out + n, "Content-Length: %zu\r\n", len);
	memcpy(out + n, "\r\n", 2);
	n += 2;
	if (len)
		memcpy(out + n, body, len);
	*ret_len = n + len;
	explicit_bzero(head, strlen(head));
	return out;
}

/* The whole body as @h frames it, NUL-terminated; -errno (h1's) on failure. */
static int direct_body(struct h1_conn *conn, struct h1_head *h, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = h->remaining >= 0 && h->remaining < (64 << 20)
				      ? (size_t)h->remaining + 1
				      : 16384;
	char *data = xmalloc(cap);

	for (;;) {
		ssize_t n;

		/* grown only when full, and not for the end of a body of known length */
		if (len + 1 == cap) {
			if (!h->chunked && h->remaining == 0)
				break;
			cap *= 2;
			data = xrealloc(data, cap);
		}
		n = h1_body_read(conn, h, data + len, cap - len - 1);
		if (n == 0)
			break;
		if (n < 0) {
			free(data);
			return (int)n;
		}
		len += (size_t)n;
	}
	data[len] = '\0';
	*ret = data;
	*ret_len = len;
	return 0;
}

/*
 * A request on a pooled connection, or a new one. A reused connection the server closed
 * meanwhile fails before any byte of an answer: the request then goes out once more on a
 * new connection, as libcurl does.
 */
static int direct_request(struct kc *c, const char *token, const char *method, const char *path,
			  const char *ctype, const char *body, size_t len, json_t **ret_body,
			  bool failure_only, struct err *err)
{
	bool head_only = strcmp(method, "HEAD") == 0;
	size_t msg_len;
	cleanup_free char *msg = direct_message(c, token, method, path, ctype, body, len, &msg_len);
	struct h1_head h = {0};
	struct err why = ERR_INIT;
	char *data = NULL;
	size_t data_len = 0;
	int r = 0, code;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct direct_conn *d = attempt == 0 ? direct_take(c) : NULL;
		bool reused = d != NULL, nothing = false;

		err_clear(&why);
		if (!d && !(d = direct_dial(c, &why)))
			break;
		r = h1_send(&d->h, msg, msg_len);
		if (r < 0) {
			direct_drop(d);
			err_set(&why, -r, "send: %s", h1_io_error(r));
			if (reused && r == -EPIPE)
				continue;
			break;
		}
		r = h1_read_head(&d->h, MAX_HEAD, head_only, NULL, NULL, &h, &nothing, &why);
		if (r < 0) {
			direct_drop(d);
			h1_head_clear(&h);
			if (reused && nothing)
				continue;
			err_wrap(&why, "read the answer");
			break;
		}
		r = direct_body(&d->h, &h, &data, &data_len);
		if (r < 0) {
			direct_drop(d);
			h1_head_clear(&h);
			err_set(&why, -r, "read the answer: %s", h1_io_error(r));
			break;
		}
		if (h.close)
			direct_drop(d);
		else
			direct_put(c, d);
		explicit_bzero(msg, msg_len);
		r = decode(method, path, h.status, h.content_type, data, data_len, ret_body,
			   failure_only, err);
		h1_head_clear(&h);
		return r;
	}
	explicit_bzero(msg, msg_len);
	/* a connection that broke is EIO, as the libcurl transport reported it */
	code = why.code == EPIPE || !why.code ? EIO : why.code;
	r = err_set(err, code, "%s %s%s: %s", method, c->server, path,
		    why.msg ? why.msg : "failed");
	err_clear(&why);
	return r;
}

static int request_text(struct kc *c, const char *token, const char *method, const char *path,
			const char *content_type, const char *data, size_t len, json_t **ret_body,
			bool failure_only, struct err *err)
{
	int r;

	if (!content_type)
		content_type = DEFAULT_CONTENT_TYPE;
	r = enter(c);
	if (r < 0)
		return err_set(err, -r, "%s %s: the client is closing", method, path);
	if (c->api)
		r = local_request(c, token, method, path, content_type, data, len, ret_body,
				  failure_only, err);
	else if (c->direct)
		r = direct_request(c, token, method, path, content_type, data, len, ret_body,
				   failure_only, err);
	else
		r = remote_request(c, token, method, path, content_type, data, len, ret_body,
				   failure_only, err);
	leave(c);
	return r;
}

static int request(struct kc *c, const char *token, const char *method, const char *path,
		   const char *content_type, const json_t *body, json_t **ret_body,
		   bool failure_only, struct err *err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;

	if (body) {
		data = jdump_s(body, JSON_COMPACT);
		if (!data)
			return err_set(err, EINVAL, "%s %s: the body does not serialize", method,
				       path);
		len = strlen(data);
	}
	return request_text(c, token, method, path, content_type, data, len, ret_body, failure_only,
			    err);
}

int kc_send(struct kc *c, const struct kc_req *r, json_t **ret_body, struct err *err)
{
	if (r->text)
		return request_text(c, r->token, r->method, r->path, r->content_type, r->text,
				    r->len, ret_body, r->failure_only, err);
	return request(c, r->token, r->method, r->path, r->content_type, r->body, ret_body,
		       r->failure_only, err);
}

int kc_request_as(struct kc *c, const char *token, const char *method, const char *path,
		  const char *content_type, const json_t *body, json_t **ret_body, struct err *err)
{
	return request(c, token, method, path, content_type, body, ret_body, false, err);
}

int kc_request(struct kc *c, const char *method, const char *path, const char *content_type,
	       const json_t *body, json_t **ret_body, struct err *err)
{
	return request(c, NULL, method, path, content_type, body, ret_body, false, err);
}

int kc_request_failure_body(struct kc *c, const char *method, const char *path,
			    const char *content_type, const json_t *body, json_t **ret_body,
			    struct err *err)
{
	return request(c, NULL, method, path, content_type, body, ret_body, true, err);
}

/* Watches. */

struct watch {
	struct watch *next; /* the client's list of watches in flight */
	struct kc *c;
	struct kc_cancel *cancel;
	kc_watch_fn fn;
	void *arg;
	const char *path;
	struct jload_memo *memo;
	unsigned status;
	bool stop; /* fn asked to stop */

	/* a line split across chunks */
	char *line;
	size_t line_len, line_cap;

	/* in-process: filled by the server's dispatcher, drained by the watching thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *q;
	size_t q_len, q_cap;
	bool ended;
	bool cancelled;
	struct http_stream *st;
	struct local_answer answer; /* when the server answered without a stream */

	/* remote */
	CURLM *multi;
	CURL *h;
	atomic_bool remote_cancel;
	struct remote_xfer ebody; /* the body of a failed watch */
};

/* With the client's lock held. */
static void watch_wake(struct watch *w)
{
	if (w->multi) {
		atomic_store(&w->remote_cancel, true);
		curl_multi_wakeup(w->multi);
		return;
	}
	pthread_mutex_lock(&w->lock);
	w->cancelled = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void wake_watches(struct kc *c)
{
	for (struct watch *w = c->watches; w; w = w->next)
		watch_wake(w);
}

void kc_cancel_fire(struct kc *c, struct kc_cancel *cancel)
{
	pthread_mutex_lock(&c->lock);
	cancel->fired = true;
	for (struct watch *w = c->watches; w; w = w->next)
		if (w->cancel == cancel)
			watch_wake(w);
	pthread_mutex_unlock(&c->lock);
}

bool kc_cancel_reset(struct kc *c, struct kc_cancel *cancel)
{
	bool fired;

	pthread_mutex_lock(&c->lock);
	fired = cancel->fired;
	cancel->fired = false;
	pthread_mutex_unlock(&c->lock);
	return fired;
}

static int watch_register(struct watch *w)
{
	struct kc *c = w->c;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	if (c->closing)
		r = -ESHUTDOWN;
	else if (w->cancel && w->cancel->fired)
		r = -ECANCELED;
	if (r == 0) {
		w->next = c->watches;
		c->watches = w;
		c->active++;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void watch_unregister(struct watch *w)
{
	struct kc *c = w->c;

	pthread_mutex_lock(&c->lock);
	for (struct watch **p = &c->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	if (--c->active == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->lock);
}

/* The object text of the event being handled on this thread (kc_watch_object_text). */
static __thread const char *event_text;
static __thread size_t event_text_len;

const char *kc_watch_object_text(size_t *len)
{
	*len = event_text_len;
	return event_text;
}

/*
 * Where the object's text lies in the event line @s: the server writes
 * {"type":"T","object":OBJECT}, and an event of exactly those two members in that order
 * leaves OBJECT between the prefix and the last brace.
 */
static const char *object_text(const char *s, size_t n, const json_t *ev, const char *type,
			       size_t *len)
{
	static const char head[] = "{\"type\":\"", mid[] = "\",\"object\":";
	size_t tl = strlen(type), pre = sizeof(head) - 1 + tl + sizeof(mid) - 1;

	if (json_object_size(ev) != 2 || n <= pre + 1 || s[n - 1] != '}' ||
	    memcmp(s, head, sizeof(head) - 1) != 0 || memcmp(s + sizeof(head) - 1, type, tl) != 0 ||
	    memcmp(s + sizeof(head) - 1 + tl, mid, sizeof(mid) - 1) != 0 || s[pre] != '{')
		return NULL;
	*len = n - pre - 1;
	return s + pre;
}

static void watch_event(struct watch *w, const char *s, size_t n)
{
	json_t *ev;
	const char *type;
	json_t *obj;

	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	if (n == 0 || w->stop)
		return;
	ev = jload_memo_b(w->memo, s, n, NULL);
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (!type || !json_is_object(obj)) {
		log_debug("client: watch %s: malformed event, ignoring", w->path);
	} else {
		event_text = object_text(s, n, ev, type, &event_text_len);
		if (w->fn(w->arg, type, obj) < 0)
			w->stop = true;
		event_text = NULL;
		event_text_len = 0;
	}
	json_decref(ev);
}

/* Feeds bytes of the stream, which may end or start anywhere in an event. */
static void watch_feed(struct watch *w, const char *data, size_t len)
{
	while (len > 0 && !w->stop) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (!nl || w->line_len > 0) {
			if (w->line_len + n + 1 > w->line_cap) {
				size_t cap = w->line_cap ? w->line_cap : 4096;

				while (cap < w->line_len + n + 1)
					cap *= 2;
				w->line = xrealloc(w->line, cap);
				w->line_cap = cap;
			}
			memcpy(w->line + w->line_len, data, n);
			w->line_len += n;
			if (!nl)
				return;
			watch_event(w, w->line, w->line_len);
			w->line_len = 0;
		} else {
			watch_event(w, data, n);
		}
		data += n + 1;
		len -= n + 1;
	}
}

static void lw_respond(void *arg, unsigned status, const char *ctype, char *body, size_t len)
{
	struct watch *w = arg;

	la_respond(&w->answer, status, ctype, body, len);
}

static void lw_stream(void *arg, unsigned status, const char *ctype, struct http_stream *st)
{
	struct watch *w = arg;

	(void)ctype;
	w->status = status;
	w->st = st;
}

static int lw_write(void *arg, const char *data, size_t len, size_t max_queued)
{
	struct watch *w = arg;
	int r = 0;

	pthread_mutex_lock(&w->lock);
	if (w->q_len > 0 && w->q_len + len > max_queued) {
		r = -ENOBUFS;
	} else {
		if (w->q_len + len > w->q_cap) {
			size_t cap = w->q_cap ? w->q_cap : 16384;

			while (cap < w->q_len + len)
				cap *= 2;
			w->q = xrealloc(w->q, cap);
			w->q_cap = cap;
		}
		memcpy(w->q + w->q_len, data, len);
		w->q_len += len;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

static void lw_end(void *arg)
{
	struct watch *w = arg;

	pthread_mutex_lock(&w->lock);
	w->ended = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int local_watch(struct watch *w, const char *target, struct err *err)
{
	const struct api_local_sink sink = {lw_respond, lw_stream, lw_write, lw_end, w};
	const struct api_local_request r = {"GET", target, NULL, NULL, NULL, 0};
	char *spare = NULL;
	size_t spare_cap = 0;
	int rc;

	rc = api_local_request(w->c->api, &r, &sink);
	if (rc < 0)
		return err_set(err, -rc, "watch %s: the API server is stopping", w->path);
	if (!w->st) {
		cleanup_free char *ct = w->answer.ctype;

		return decode("GET", target, w->answer.status, ct, w->answer.body, w->answer.len,
			      NULL, false, err);
	}
	for (;;) {
		char *buf;
		size_t n, cap;
		bool end, cancelled;

		pthread_mutex_lock(&w->lock);
		while (w->q_len == 0 && !w->ended && !w->cancelled)
			pthread_cond_wait(&w->cond, &w->lock);
		/* swap buffers: the dispatcher fills one while this thread parses the other */
		buf = w->q;
		n = w->q_len;
		cap = w->q_cap;
		w->q = spare;
		w->q_cap = spare_cap;
		w->q_len = 0;
		end = w->ended;
		cancelled = w->cancelled;
		pthread_mutex_unlock(&w->lock);

		watch_feed(w, buf, n);
		if (cap > SPARE_KEEP_BYTES) {
			free(buf);
			buf = NULL;
			cap = 0;
		}
		spare = buf;
		spare_cap = cap;
		if (end || cancelled || w->stop)
			break;
	}
	api_local_release(w->st);
	free(spare);
	return (int)w->status;
}

static size_t rw_body(char *p, size_t size, size_t n, void *arg)
{
	struct watch *w = arg;
	size_t len = size * n;

	if (atomic_load(&w->remote_cancel))
		return 0;
	if (w->status == 0) {
		long code = 0;

		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
		w->status = (unsigned)code;
	}
	if (w->status != 200)
		return on_body(p, size, n, &w->ebody);
	watch_feed(w, p, len);
	/* a short count ends the transfer */
	return w->stop ? 0 : len;
}

static int remote_watch(struct watch *w, const char *target, struct err *err)
{
	struct kc *c = w->c;
	cleanup_free char *url = xasprintf("%s%s", c->server, target);
	struct curl_slist *hdrs = remote_headers(c, NULL, NULL);
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode rc = CURLE_OK;
	CURLMcode mc = CURLM_OK;
	CURLMsg *msg;
	int running = 1, left;
	int r;

	remote_setup(c, w->h, url, hdrs, true);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, rw_body);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_ERRORBUFFER, errbuf);
	w->ebody.max = MAX_ERROR_BODY;
	curl_multi_add_handle(w->multi, w->h);
	while (running && mc == CURLM_OK && !atomic_load(&w->remote_cancel) && !w->stop) {
		mc = curl_multi_perform(w->multi, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(w->multi, NULL, 0, WATCH_POLL_MS, NULL);
	}
	while ((msg = curl_multi_info_read(w->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			rc = msg->data.result;
	curl_multi_remove_handle(w->multi, w->h);
	curl_slist_free_all(hdrs);
	if (w->status == 0 && !running && mc == CURLM_OK) {
		long code = 0;

		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &code);
		w->status = (unsigned)code;
	}
	if (mc != CURLM_OK)
		r = err_set(err, EIO, "watch %s%s: %s", c->server, w->path,
			    curl_multi_strerror(mc));
	else if (w->status == 0 && atomic_load(&w->remote_cancel))
		r = err_set(err, ECANCELED, "watch %s%s: cancelled", c->server, w->path);
	else if (w->status == 0)
		r = err_set(err, curl_errno(rc), "watch %s%s: %s", c->server, w->path,
			    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (w->status != 200)
		r = decode("GET", target, w->status, "application/json", TAKE_PTR(w->ebody.data),
			   w->ebody.len, NULL, false, err);
	else
		/* the stream ended: by the server, the callback or a broken connection */
		r = 200;
	free(w->ebody.data);
	return r;
}

int kc_watch_cancellable(struct kc *c, const char *path, kc_watch_fn fn, void *arg,
			 struct kc_cancel *cancel, struct jload_memo *memo, struct err *err)
{
	cleanup_free char *target =
		xasprintf("%s%s" WATCH_QUERY, path, strchr(path, '?') ? "&" : "?");
	struct watch w = {
		.c = c, .cancel = cancel, .fn = fn, .arg = arg, .path = path, .memo = memo};
	int r;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	atomic_init(&w.remote_cancel, false);
	if (!c->api) {
		w.multi = curl_multi_init();
		w.h = curl_easy_init();
		if (!w.multi || !w.h) {
			r = err_set(err, ENOMEM, "watch %s: libcurl failed", path);
			goto out;
		}
	}
	r = watch_register(&w);
	if (r < 0) {
		err_set(err, -r, "watch %s: %s", path,
			r == -ECANCELED ? "cancelled" : "the client is closing");
		goto out;
	}
	if (c->api)
		r = local_watch(&w, target, err);
	else
		r = remote_watch(&w, target, err);
	watch_unregister(&w);
out:
	if (w.h)
		curl_easy_cleanup(w.h);
	if (w.multi)
		curl_multi_cleanup(w.multi);
	free(w.q);
	free(w.line);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return r;
}

int kc_watch(struct kc *c, const char *path, kc_watch_fn fn, void *arg, struct err *err)
{
	return kc_watch_cancellable(c, path, fn, arg, NULL, NULL, err);
}
