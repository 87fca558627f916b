/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client (OCI distribution spec, Docker token authentication): img_pull
 * fetches an image into the content store and names it, img_push sends one from it,
 * img_login checks credentials and saves them. Blob downloads run in parallel on one curl
 * multi handle, each streamed into a verifying store writer and resumed with a Range
 * request when its connection drops. Called by `skiff image`.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jload.h"
#include "base/jx.h"
#include "base/libcurl.h"
#include "base/log.h"
#include "base/url.h"
#include "image/auth.h"
#include "image/internal.h"

#define MANIFEST_MAX     (16u << 20) /* what the store reads back; the spec suggests 4 MiB */
#define SMALL_BODY_MAX   (1u << 20)  /* tokens and error documents */
#define RETRIES          3           /* after the first attempt, per request or blob */
#define BACKOFF_MS       500         /* before the first retry, doubled for each next */
#define REDIRECTS_MAX    5
#define CHUNK_SIZE       (8 << 20) /* blobs up to this go in one PUT, larger in PATCHes */
#define PARALLEL_DEFAULT 3
#define PARALLEL_MAX     16
#define PROGRESS_STEP    (256 << 10)

#define ACCEPT_MANIFESTS                                                                           \
	"Accept: " IMG_MT_OCI_INDEX ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_LIST               \
	", " IMG_MT_DOCKER_MANIFEST

struct job;

/* One connection (a curl easy handle, kept open across requests) and its last response. */
struct xfer {
	CURL *h;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	/* the response */
	long status;
	char *content_type, *location, *docker_digest, *www_auth, *content_range;
	char *body; /* NUL-terminated */
	size_t len, max;
	/* the request body: @data in memory, or from @fd; at @off, @left bytes to go */
	const char *data;
	int fd;
	int64_t off, left;
	/* a blob download: 2xx bodies stream into the job's writer */
	struct job *job;
	struct err sink; /* why a callback stopped the transfer */
	bool transient;  /* the last failure may go away on retrying */
};

/* A request; the URL and the credentials are passed beside it. */
struct req {
	const char *method; /* GET, HEAD, POST, PUT, PATCH */
	const char *accept; /* whole header lines, or NULL */
	const char *content_type;
	const char *range; /* a whole "Range:" or "Content-Range:" line, or NULL */
	bool has_body;     /* POST, PUT, PATCH: @data or @fd from @off, @len bytes (may be 0) */
	bool from_file;
	const char *data;
	int fd;
	int64_t off, len;
	size_t max; /* of the response body; 0: SMALL_BODY_MAX */
	bool follow;
};

struct client {
	struct img_store *s;
	const struct img_remote_opts *o;
	char *domain;      /* as the reference names it: "docker.io", "127.0.0.1:5000" */
	char *repo;        /* "library/busybox"; NULL for login */
	char *base;        /* "https://registry-1.docker.io" */
	char *user, *pass; /* NULL: anonymous */
	char *mount_from;  /* a repository of the same registry that has our blobs */
	char **scopes;     /* token scopes asked for, NULL-terminated */
	char *authz;       /* "Authorization: ..." for the registry's origin; NULL: none yet */
	struct xfer x;     /* requests one at a time */
};

static const struct img_remote_opts default_opts;

/* ---- time ---- */

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int64_t backoff_ms(int attempt)
{
	return (int64_t)BACKOFF_MS << attempt;
}

/* ---- one connection ---- */

static void response_reset(struct xfer *x)
{
	x->status = 0;
	free(x->content_type);
	free(x->location);
	free(x->docker_digest);
	free(x->www_auth);
	free(x->content_range);
	x->content_type = x->location = x->docker_digest = x->www_auth = x->content_range = NULL;
	x->len = 0;
	if (x->body)
		x->body[0] = '\0';
}

/* The trimmed value of header line @line if it is @name's; heap, NULL otherwise. */
static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	line += n + 1;
	len -= n + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	return xstrndup(line, len);
}

static void header_keep(char **slot, char *value)
{
	if (!value)
		return;
	free(*slot);
	*slot = value;
}

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = size * n;
	char *v;

	/* a status line starts a response: redirects and 100 Continue bring several */
	if (len > 5 && !strncmp(buf, "HTTP/", 5)) {
		const char *p = memchr(buf, ' ', len);
		long status = 0;

		response_reset(x);
		for (p = p ? p + 1 : buf + len; p < buf + len && isdigit((unsigned char)*p); p++)
			status = status * 10 + (*p - '0');
		x->status = status;
		return len;
	}
	header_keep(&x->content_type, header_value(buf, len, "Content-Type"));
	header_keep(&x->location, header_value(buf, len, "Location"));
	header_keep(&x->docker_digest, header_value(buf, len, "Docker-Content-Digest"));
	header_keep(&x->content_range, header_value(buf, len, "Content-Range"));
	v = header_value(buf, len, "WWW-Authenticate");
	if (v && x->www_auth) {
		/* one list, as RFC 9110 section 5.3 combines repeated fields */
		char *joined = xasprintf("%s, %s", x->www_auth, v);

		free(v);
		v = joined;
	}
	header_keep(&x->www_auth, v);
	return len;
}

static int job_write(struct job *j, struct xfer *x, const char *buf, size_t len);

static size_t on_body(char *buf, size_t size, size_t n, void *data)
{
	struct xfer *x = data;
	size_t len = size * n, keep = len;

	if (x->job && x->status / 100 == 2)
		return job_write(x->job, x, buf, len) < 0 ? 0 : len;
	if (x->len + len > x->max) {
		/* a document past the limit is refused; an error document is only cut */
		if (x->status / 100 == 2) {
			err_set(&x->sink, EFBIG, "response larger than %zu bytes", x->max);
			return 0;
		}
		keep = x->max - x->len;
	}
	x->body = xrealloc(x->body, x->len + keep + 1);
	memcpy(x->body + x->len, buf, keep);
	x->len += keep;
	x->body[x->len] = '\0';
	return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *data)
{
	struct xfer *x = data;
	size_t want = size * n;
	ssize_t k;

	if ((int64_t)want > x->left)
		want = (size_t)x->left;
	if (want == 0)
		return 0;
	if (!x->data) {
		do
			k = pread(x->fd, buf, want, (off_t)x->off);
		while (k < 0 && errno == EINTR);
		if (k <= 0) {
			if (k == 0)
				errno = EIO; /* the blob got shorter than its size */
			err_sys(&x->sink, "read blob for upload");
			return CURL_READFUNC_ABORT;
		}
	} else {
		memcpy(buf, x->data + x->off, want);
		k = (ssize_t)want;
	}
	x->off += k;
	x->left -= k;
	return (size_t)k;
}

static int xfer_init(struct xfer *x, struct err *err)
{
	memset(x, 0, sizeof(*x));
	x->fd = -1;
	x->h = curl_easy_init();
	if (!x->h)
		return err_set(err, ENOMEM, "create a curl handle");
	return 0;
}

static void xfer_done(struct xfer *x)
{
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->headers);
	response_reset(x);
	free(x->body);
	err_clear(&x->sink);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

static void add_header(struct xfer *x, const char *line)
{
	if (line)
		x->headers = curl_slist_append(x->headers, line);
}

/* Sets the handle up for @q to @url; @authz is a whole header line or NULL. */
static void xfer_setup(struct xfer *x, const struct req *q, const char *url, const char *authz)
{
	CURL *h = x->h;
	cleanup_free char *ctype = NULL;

	/* options only: the connection stays open for the next request */
	curl_easy_reset(h);
	response_reset(x);
	err_clear(&x->sink);
	x->job = NULL;
	x->transient = false;
	x->errbuf[0] = '\0';
	x->max = q->max ? q->max : SMALL_BODY_MAX;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
	/* no "100 Continue" round trip before uploads */
	add_header(x, "Expect:");
	add_header(x, q->accept);
	add_header(x, q->range);
	if (q->content_type) {
		ctype = xasprintf("Content-Type: %s", q->content_type);
		add_header(x, ctype);
	}
	add_header(x, authz);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "skiff");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled connection counts as dropped: under 1 byte/s for a minute */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (q->has_body) {
		x->data = q->from_file ? NULL : q->data;
		x->fd = q->from_file ? q->fd : -1;
		x->off = q->off;
		x->left = q->len;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->len);
		if (strcmp(q->method, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	}
}

static bool curl_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* The error of a transfer that ended with @rc: a callback's, or curl's own. */
static int transfer_error(struct xfer *x, CURLcode rc, const char *method, const char *url,
			  struct err *err)
{
	int code = EIO;

	if (x->sink.code) {
		*err = x->sink;
		x->sink = (struct err)ERR_INIT;
		return -err->code;
	}
	x->transient = curl_transient(rc);
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		code = EHOSTUNREACH;
		break;
	case CURLE_COULDNT_CONNECT:
		code = ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		code = ETIMEDOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		code = EPROTO;
		break;
	default:
		break;
	}
	return err_set(err, code, "%s '%s': %s", method, url,
		       x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static bool is_retryable(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

/*
 * Runs @q against @url, following redirects when @q asks to. @authz goes to @url's origin
 * only: registries redirect blobs to storage hosts that must not see the credentials.
 */
static int xfer_follow(struct xfer *x, const struct req *q, const char *url, const char *authz,
		       struct err *err)
{
	cleanup_free char *cur = xstrdup(url);

	for (int hops = 0;; hops++) {
		char *next = NULL;
		CURLcode rc;

		xfer_setup(x, q, cur, authz && img_url_same_origin(cur, url) ? authz : NULL);
		rc = curl_easy_perform(x->h);
		if (rc != CURLE_OK)
			return transfer_error(x, rc, q->method, cur, err);
		if (!q->follow || !is_redirect(x->status))
			return 0;
		if (hops == REDIRECTS_MAX)
			return err_set(err, ELOOP, "%s '%s': more than %d redirects", q->method,
				       url, REDIRECTS_MAX);
		if (curl_easy_getinfo(x->h, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
			return 0;
		free(cur);
		cur = xstrdup(next);
	}
}

/* ---- registry errors ---- */

/* The registry's errors[].message texts joined by "; " (heap), NULL if there are none. */
static char *registry_messages(const struct xfer *x)
{
	cleanup_json json_t *doc = NULL;
	char *out = NULL;
	json_t *e;
	size_t i;

	if (!x->body || x->len == 0)
		return NULL;
	doc = jload_b(x->body, x->len, 0, NULL);
	json_array_foreach (json_object_get(doc, "errors"), i, e) {
		const char *m = json_string_value(json_object_get(e, "message"));
		char *joined;

		if (!m || !*m)
			m = json_string_value(json_object_get(e, "code"));
		if (!m || !*m || (out && strlen(out) > 512))
			continue;
		joined = out ? xasprintf("%s; %s", out, m) : xstrdup(m);
		free(out);
		out = joined;
	}
	return out;
}

/* The error for a response with an unexpected status; @kind and @object name what was asked. */
static int status_error(const struct client *c, const struct xfer *x, const char *kind,
			const char *object, struct err *err)
{
	cleanup_free char *msg = registry_messages(x);
	cleanup_free char *where =
		c->repo ? xasprintf("%s/%s", c->domain, c->repo) : xstrdup(c->domain);

	/* docker's registry says no more than the status; anything else is worth passing on */
	if (msg && (!strcasecmp(msg, "authentication required") ||
		    !strcasecmp(msg, "manifest unknown") || !strcasecmp(msg, "blob unknown"))) {
		free(msg);
		msg = NULL;
	}
	if (!msg)
		msg = xstrdup("");
	switch (x->status) {
	case 401:
	case 403:
		return err_set(err, EACCES, "authentication required for '%s'%s%s", where,
			       *msg ? ": " : "", msg);
	case 404:
		return err_set(err, ENOENT, "%s unknown: %s%s%s", kind, object, *msg ? ": " : "",
			       msg);
	case 429:
		return err_set(err, EAGAIN, "%s %s: too many requests to '%s'%s%s", kind, object,
			       c->domain, *msg ? ": " : "", msg);
	default:
		return err_set(err, x->status >= 500 ? EIO : EPROTO,
			       "%s %s: registry '%s' answered %ld%s%s", kind, object, c->domain,
			       x->status, *msg ? ": " : "", msg);
	}
}

/* ---- the client and authentication ---- */

static void client_free(struct client *c)
{
	if (!c)
		return;
	xfer_done(&c->x);
	free(c->domain);
	free(c->repo);
	free(c->base);
	free(c->user);
	free(c->pass);
	free(c->mount_from);
	strv_free(c->scopes);
	free(c->authz);
	free(c);
}

static void client_freep(struct client **c)
{
	client_free(*c);
}

#define cleanup_client __attribute__((cleanup(client_freep)))

static void strv_push(char ***v, char *s)
{
	size_t n = 0;

	while (*v && (*v)[n])
		n++;
	*v = xrealloc(*v, (n + 2) * sizeof(**v));
	(*v)[n] = s;
	(*v)[n + 1] = NULL;
}

static bool strv_has(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

/*
 * A client for @repo (NULL: the registry only) at @domain. Credentials: @user and @pass
 * when given, else the auth files'. @push asks for push access, @mount_from (may be NULL)
 * for pulling from that repository as well.
 */
static int client_new(struct img_store *s, const char *domain, const char *repo,
		      const struct img_remote_opts *o, bool push, const char *mount_from,
		      const char *user, const char *pass, struct client **ret, struct err *err)
{
	cleanup_client struct client *c = NULL;

	if (base_curl_load(err) < 0)
		return -err->code;
	c = xcalloc(1, sizeof(*c));
	c->s = s;
	c->o = o ? o : &default_opts;
	c->domain = xstrdup(domain);
	c->repo = repo ? xstrdup(repo) : NULL;
	c->base = img_registry_url(domain, c->o->insecure);
	if (xfer_init(&c->x, err) < 0)
		return -err->code;
	if (user) {
		c->user = xstrdup(user);
		c->pass = xstrdup(pass ? pass : "");
	} else if (img_auth_file_lookup(c->o->auth_file, domain, repo, &c->user, &c->pass, err) <
		   0) {
		return -err->code;
	}
	if (repo)
		strv_push(&c->scopes,
			  xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull"));
	if (mount_from) {
		c->mount_from = xstrdup(mount_from);
		strv_push(&c->scopes, xasprintf("repository:%s:pull", mount_from));
	}
	*ret = TAKE_PTR(c);
	return 0;
}

static char *basic_authz(const struct client *c)
{
	cleanup_free char *plain = xasprintf("%s:%s", c->user, c->pass);
	cleanup_free char *enc = img_base64_encode(plain, strlen(plain));

	return xasprintf("Authorization: Basic %s", enc);
}

/* A bearer token from the challenge's realm (docs: Docker token authentication). */
static int fetch_token(struct client *c, const struct img_challenge *ch, struct err *err)
{
	const struct req q = {.method = "GET", .follow = true};
	cleanup_strv char **scopes = NULL;
	cleanup_free char *url = NULL, *basic = NULL;
	cleanup_json json_t *doc = NULL;
	const char *token;

	for (char **s = c->scopes; s && *s; s++)
		strv_push(&scopes, xstrdup(*s));
	/* the challenge names what the failed request needed; ask for that too */
	if (ch->scope) {
		cleanup_free char *copy = xstrdup(ch->scope);
		char *save = NULL;

		for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (!strv_has(scopes, t))
				strv_push(&scopes, xstrdup(t));
	}
	url = img_token_url(ch, scopes);
	if (c->user)
		basic = basic_authz(c);
	if (xfer_follow(&c->x, &q, url, basic, err) < 0)
		return err_wrap(err, "authenticate to '%s'", c->domain);
	if ((c->x.status == 401 || c->x.status == 403) && c->user)
		return err_set(err, EACCES,
			       "authenticate to '%s' as '%s': invalid username or password",
			       c->domain, c->user);
	if (c->x.status == 401 || c->x.status == 403)
		return err_set(err, EACCES, "authentication required for '%s%s%s'", c->domain,
			       c->repo ? "/" : "", c->repo ? c->repo : "");
	if (c->x.status != 200) {
		cleanup_free char *msg = registry_messages(&c->x);

		return err_set(err, c->x.status >= 500 ? EIO : EPROTO,
			       "authenticate to '%s': token server '%s' answered %ld%s%s",
			       c->domain, ch->realm, c->x.status, msg ? ": " : "", msg ? msg : "");
	}
	doc = jload_b(c->x.body ? c->x.body : "", c->x.len, 0, NULL);
	token = json_string_value(json_object_get(doc, "token"));
	if (!token || !*token)
		token = json_string_value(json_object_get(doc, "access_token"));
	if (!token || !*token)
		return err_set(err, EPROTO, "authenticate to '%s': token server '%s' sent no token",
			       c->domain, ch->realm);
	free(c->authz);
	c->authz = xasprintf("Authorization: Bearer %s", token);
	return 0;
}

/*
 * Answers a 401 with WWW-Authenticate @header: a token for a Bearer challenge, the
 * credentials for Basic. Returns 1 when there is something new to try, 0 when not.
 */
static int client_authorize(struct client *c, const char *header, struct err *err)
{
	struct img_challenge ch = {0};
	int r = 0;

	if (!header)
		return 0;
	if (img_challenge_parse(header, &ch, err) < 0)
		return err_wrap(err, "authenticate to '%s'", c->domain);
	if (!strcmp(ch.scheme, "bearer")) {
		r = fetch_token(c, &ch, err);
		r = r < 0 ? r : 1;
	} else if (c->user) {
		free(c->authz);
		c->authz = basic_authz(c);
		r = 1;
	}
	img_challenge_done(&ch);
	return r;
}

/*
 * Sends @q to @target (a path under the registry, or a URL) and leaves the response in
 * c->x, whatever its status. A 401 is answered once (token or credentials); GET and HEAD
 * are retried with backoff on dropped connections, 408, 429 and 5xx.
 */
static int client_do(struct client *c, const struct req *q, const char *target, struct err *err)
{
	cleanup_free char *url = img_url_resolve(c->base, target);
	bool idempotent = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
	bool reauthorized = false;
	int attempt = 0;

	for (;;) {
		int r = xfer_follow(&c->x, q, url, c->authz, err);

		if (r < 0) {
			if (!idempotent || !c->x.transient || attempt >= RETRIES)
				return r;
			log_debug("%s, retrying", err->msg);
			err_clear(err);
			sleep_ms(backoff_ms(attempt++));
			continue;
		}
		if (c->x.status == 401 && !reauthorized) {
			cleanup_free char *challenge =
				c->x.www_auth ? xstrdup(c->x.www_auth) : NULL;

			reauthorized = true;
			r = client_authorize(c, challenge, err);
			if (r < 0)
				return r;
			if (r > 0)
				continue;
			return 0;
		}
		if (idempotent && is_retryable(c->x.status) && attempt < RETRIES) {
			log_debug("%s '%s': status %ld, retrying", q->method, url, c->x.status);
			sleep_ms(backoff_ms(attempt++));
			continue;
		}
		return 0;
	}
}

static void progress(const struct client *c, const char *digest, int64_t done, int64_t total)
{
	const struct img_progress *p = c->o->progress;

	if (p && p->blob)
		p->blob(p->data, digest, done, total);
}

/* ---- manifests ---- */

struct doc {
	char *text;
	size_t len;
	char *media_type;
	char digest[IMG_DIGEST_MAX];
};

static void doc_done(struct doc *d)
{
	free(d->text);
	free(d->media_type);
	memset(d, 0, sizeof(*d));
}

static bool media_known(const char *mt)
{
	return !strcmp(mt, IMG_MT_OCI_INDEX) || !strcmp(mt, IMG_MT_OCI_MANIFEST) ||
	       !strcmp(mt, IMG_MT_DOCKER_LIST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST);
}

/* "domain/repo:tag" or "domain/repo@digest", for messages; heap. */
static char *object_name(const struct client *c, const char *reference)
{
	return xasprintf("%s/%s%c%s", c->domain, c->repo, img_digest_valid(reference) ? '@' : ':',
			 reference);
}

/* GETs the manifest or index @reference; @want (may be NULL) is the digest it must have. */
static int fetch_manifest(struct client *c, const char *reference, const char *want,
			  struct doc *ret, struct err *err)
{
	const struct req q = {
		.method = "GET", .accept = ACCEPT_MANIFESTS, .max = MANIFEST_MAX, .follow = true};
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", c->repo, reference);
	cleanup_free char *object = object_name(c, reference);
	cleanup_free char *ctype = NULL;
	struct doc d = {0};

	if (client_do(c, &q, path, err) < 0)
		return err_wrap(err, "fetch manifest %s", object);
	if (c->x.status != 200)
		return status_error(c, &c->x, "manifest", object, err);
	/* Docker-Content-Digest is advisory: the digest is the hash of the bytes */
	img_digest_of(c->x.body ? c->x.body : "", c->x.len, d.digest);
	if (want && strcmp(d.digest, want) != 0)
		return err_set(err, EBADMSG, "manifest %s: content has digest %s", object,
			       d.digest);
	ctype = xstrndup(c->x.content_type ? c->x.content_type : "",
			 strcspn(c->x.content_type ? c->x.content_type : "", "; "));
	if (media_known(ctype)) {
		d.media_type = TAKE_PTR(ctype);
	} else if (img_media_type_of(c->x.body ? c->x.body : "", c->x.len, &d.media_type, err) <
		   0) {
		return err_wrap(err, "manifest %s", object);
	}
	if (!media_known(d.media_type)) {
		err_set(err, ENOTSUP, "manifest %s: unsupported media type '%s'", object,
			d.media_type);
		doc_done(&d);
		return -err->code;
	}
	d.len = c->x.len;
	d.text = c->x.body ? TAKE_PTR(c->x.body) : xstrdup("");
	c->x.len = 0;
	*ret = d;
	return 0;
}

/* ---- blob downloads ---- */

struct pull;

struct job {
	struct pull *p;
	const struct img_descriptor *d;
	struct img_writer *w;
	char *url;          /* the blob's, or a redirect's target while one is followed */
	int attempts;       /* failed so far */
	int redirects;      /* in the current attempt */
	int64_t not_before; /* clock_mono_ms() before which it waits (backoff) */
	int64_t reported;   /* bytes last passed to the progress callback */
	bool reauthorized;  /* answered a 401 already */
	bool resumed;       /* content of an earlier connection or process is in the writer */
	bool restarted;     /* began again from byte 0 after a failed verification */
	bool started;       /* the current response's body has begun */
	bool running, done;
};

struct slot {
	struct xfer x;
	struct job *job;
};

struct pull {
	struct client *c;
	CURLM *m;
	struct slot *slots;
	size_t n_slots;
	struct job *jobs;
	size_t n_jobs, n_done;
};

/* Parses the first byte position of "bytes FIRST-LAST/TOTAL"; -1 if malformed. */
static int64_t range_first(const char *content_range)
{
	const char *p = content_range;
	int64_t v = 0;

	if (!p || strncasecmp(p, "bytes ", 6) != 0)
		return -1;
	for (p += 6; isdigit((unsigned char)*p); p++)
		v = v * 10 + (*p - '0');
	return *p == '-' ? v : -1;
}

static int job_write(struct job *j, struct xfer *x, const char *buf, size_t len)
{
	struct pull *p = j->p;
	int64_t done;

	if (!j->started) {
		int64_t off = img_writer_offset(j->w);

		j->started = true;
		if (x->status == 200 && off > 0) {
			/* the server ignored the Range: take the whole blob again */
			log_debug("blob %s: no range support, starting over", j->d->digest);
			img_writer_abort(j->w, true);
			j->w = NULL;
			if (img_blob_writer(p->c->s, j->d->digest, j->d->size, j->d->digest, &j->w,
					    &x->sink) < 0)
				return -1;
		} else if (x->status == 206 && range_first(x->content_range) != off) {
			err_set(&x->sink, EPROTO, "blob %s: asked for bytes from %lld, got '%s'",
				j->d->digest, (long long)off,
				x->content_range ? x->content_range : "");
			return -1;
		}
	}
	if (img_writer_write(j->w, buf, len, &x->sink) < 0)
		return -1;
	done = img_writer_offset(j->w);
	/* the last report comes after verification, from job_commit() */
	if (done - j->reported >= PROGRESS_STEP && done < j->d->size) {
		j->reported = done;
		progress(p->c, j->d->digest, done, j->d->size);
	}
	return 0;
}

static char *blob_url(const struct client *c, const char *digest)
{
	return xasprintf("%s/v2/%s/blobs/%s", c->base, c->repo, digest);
}

static int job_start(struct pull *p, struct slot *sl, struct job *j, struct err *err)
{
	struct req q = {.method = "GET"};
	char range[64];
	int64_t off;
	CURLMcode mc;

	off = img_writer_offset(j->w);
	if (off > 0) {
		snprintf(range, sizeof(range), "Range: bytes=%lld-", (long long)off);
		q.range = range;
		j->resumed = true;
	}
	xfer_setup(&sl->x, &q, j->url,
		   img_url_same_origin(j->url, p->c->base) ? p->c->authz : NULL);
	sl->x.job = j;
	sl->job = j;
	j->started = false;
	j->running = true;
	mc = curl_multi_add_handle(p->m, sl->x.h);
	if (mc != CURLM_OK)
		return err_set(err, EIO, "fetch blob %s: %s", j->d->digest,
			       curl_multi_strerror(mc));
	return 0;
}

/* Schedules another attempt after @why (consumed), or gives up with it. */
static int job_retry(struct pull *p, struct job *j, struct err *why, struct err *err)
{
	if (j->attempts >= RETRIES) {
		*err = *why;
		*why = (struct err)ERR_INIT;
		return err_wrap(err, "fetch blob %s/%s@%s (gave up after %d attempts)",
				p->c->domain, p->c->repo, j->d->digest, j->attempts + 1);
	}
	log_debug("fetch blob %s: %s, retrying from byte %lld", j->d->digest, why->msg,
		  (long long)(j->w ? img_writer_offset(j->w) : 0));
	err_clear(why);
	j->not_before = clock_mono_ms() + backoff_ms(j->attempts++);
	/* redirect targets are often signed for a short while: ask the registry again */
	free(j->url);
	j->url = blob_url(p->c, j->d->digest);
	j->redirects = 0;
	return 0;
}

static int job_commit(struct pull *p, struct job *j, struct err *err)
{
	char got[IMG_DIGEST_MAX];
	int r;

	r = img_writer_commit(j->w, got, err);
	j->w = NULL;
	if (r == -EBADMSG && j->resumed && !j->restarted) {
		/* the bytes of an earlier connection may be the bad ones: once more from 0 */
		log_debug("fetch blob %s: %s, starting over", j->d->digest, err->msg);
		err_clear(err);
		j->restarted = true;
		j->resumed = false;
		j->not_before = 0;
		return 0;
	}
	if (r < 0)
		return err_wrap(err, "fetch blob %s/%s@%s", p->c->domain, p->c->repo, j->d->digest);
	progress(p->c, j->d->digest, j->d->size, j->d->size);
	j->done = true;
	p->n_done++;
	return 0;
}

/* Takes in the end of @sl's transfer: done, retried, redirected or a fatal error. */
static int job_finished(struct pull *p, struct slot *sl, CURLcode rc, struct err *err)
{
	struct job *j = sl->job;
	struct xfer *x = &sl->x;
	cleanup_free char *object = xasprintf("%s/%s@%s", p->c->domain, p->c->repo, j->d->digest);
	struct err why = ERR_INIT;
	char *next = NULL;
	int r;

	sl->job = NULL;
	x->job = NULL;
	j->running = false;
	if (rc != CURLE_OK) {
		transfer_error(x, rc, "GET", j->url, &why);
		if (!x->transient) {
			*err = why;
			return err_wrap(err, "fetch blob %s", object);
		}
		return job_retry(p, j, &why, err);
	}
	if (is_redirect(x->status)) {
		if (curl_easy_getinfo(x->h, CURLINFO_REDIRECT_URL, &next) != CURLE_OK || !next)
			return status_error(p->c, x, "blob", object, err);
		if (++j->redirects > REDIRECTS_MAX)
			return err_set(err, ELOOP, "fetch blob %s: more than %d redirects", object,
				       REDIRECTS_MAX);
		free(j->url);
		j->url = xstrdup(next);
		return 0;
	}
	if (x->status == 401 && !j->reauthorized && img_url_same_origin(j->url, p->c->base)) {
		cleanup_free char *challenge = x->www_auth ? xstrdup(x->www_auth) : NULL;

		j->reauthorized = true;
		r = client_authorize(p->c, challenge, err);
		if (r < 0)
			return r;
		if (r > 0)
			return 0;
	}
	if (is_retryable(x->status)) {
		status_error(p->c, x, "blob", object, &why);
		return job_retry(p, j, &why, err);
	}
	if (x->status / 100 != 2)
		return status_error(p->c, x, "blob", object, err);
	if (img_writer_offset(j->w) < j->d->size) {
		err_set(&why, EIO, "GET '%s': connection closed after %lld of %lld bytes", j->url,
			(long long)img_writer_offset(j->w), (long long)j->d->size);
		return job_retry(p, j, &why, err);
	}
	return job_commit(p, j, err);
}

static struct slot *slot_of(struct pull *p, CURL *h)
{
	for (size_t i = 0; i < p->n_slots; i++)
		if (p->slots[i].x.h == h)
			return &p->slots[i];
	return NULL;
}

/* The next job ready to start; *@wait shortened to when a backing-off one will be. */
static struct job *next_job(struct pull *p, int64_t now, int64_t *wait)
{
	for (size_t i = 0; i < p->n_jobs; i++) {
		struct job *j = &p->jobs[i];

		if (j->done || j->running)
			continue;
		if (j->not_before <= now)
			return j;
		if (j->not_before - now < *wait)
			*wait = j->not_before - now;
	}
	return NULL;
}

/* Starts jobs on idle slots; a blob whose partial is already complete is committed. */
static int fill_slots(struct pull *p, int64_t *wait, struct err *err)
{
	for (size_t i = 0; i < p->n_slots; i++) {
		struct slot *sl = &p->slots[i];
		struct job *j;

		while (!sl->job && (j = next_job(p, clock_mono_ms(), wait))) {
			if (!j->w && img_blob_writer(p->c->s, j->d->digest, j->d->size,
						     j->d->digest, &j->w, err) < 0)
				return -err->code;
			if (img_writer_offset(j->w) == j->d->size) {
				j->resumed = true;
				if (job_commit(p, j, err) < 0)
					return -err->code;
				continue;
			}
			if (job_start(p, sl, j, err) < 0)
				return -err->code;
		}
	}
	return 0;
}

static int pull_run(struct pull *p, struct err *err)
{
	while (p->n_done < p->n_jobs) {
		int64_t wait = 1000;
		struct CURLMsg *msg;
		CURLMcode mc;
		int running, left;

		if (fill_slots(p, &wait, err) < 0)
			return -err->code;
		mc = curl_multi_perform(p->m, &running);
		if (mc != CURLM_OK)
			return err_set(err, EIO, "fetch blobs: %s", curl_multi_strerror(mc));
		while ((msg = curl_multi_info_read(p->m, &left))) {
			struct slot *sl;

			if (msg->msg != CURLMSG_DONE || !(sl = slot_of(p, msg->easy_handle)))
				continue;
			curl_multi_remove_handle(p->m, sl->x.h);
			if (job_finished(p, sl, msg->data.result, err) < 0)
				return -err->code;
		}
		if (p->n_done == p->n_jobs)
			break;
		mc = curl_multi_poll(p->m, NULL, 0, (int)(wait > 0 ? wait : 0), NULL);
		if (mc != CURLM_OK)
			return err_set(err, EIO, "fetch blobs: %s", curl_multi_strerror(mc));
	}
	return 0;
}

/*
 * Downloads @descs (n) into the store, o->parallel at a time. On failure the partial
 * downloads are kept, so the next pull resumes them.
 */
static int fetch_blobs(struct client *c, const struct img_descriptor *const *descs, size_t n,
		       struct err *err)
{
	struct pull p = {.c = c};
	int parallel = c->o->parallel > 0 ? c->o->parallel : PARALLEL_DEFAULT;
	int r = 0;

	if (n == 0)
		return 0;
	if (parallel > PARALLEL_MAX)
		parallel = PARALLEL_MAX;
	p.n_slots = (size_t)parallel < n ? (size_t)parallel : n;
	p.m = curl_multi_init();
	if (!p.m)
		return err_set(err, ENOMEM, "create a curl multi handle");
	p.jobs = xcalloc(n, sizeof(*p.jobs));
	p.n_jobs = n;
	for (size_t i = 0; i < n; i++) {
		p.jobs[i].p = &p;
		p.jobs[i].d = descs[i];
		p.jobs[i].url = blob_url(c, descs[i]->digest);
		progress(c, descs[i]->digest, 0, descs[i]->size);
	}
	p.slots = xcalloc(p.n_slots, sizeof(*p.slots));
	for (size_t i = 0; i < p.n_slots && r == 0; i++)
		r = xfer_init(&p.slots[i].x, err);
	if (r == 0)
		r = pull_run(&p, err);
	for (size_t i = 0; i < p.n_slots; i++) {
		if (p.slots[i].job)
			curl_multi_remove_handle(p.m, p.slots[i].x.h);
		xfer_done(&p.slots[i].x);
	}
	for (size_t i = 0; i < n; i++) {
		img_writer_abort(p.jobs[i].w, false);
		free(p.jobs[i].url);
	}
	free(p.slots);
	free(p.jobs);
	curl_multi_cleanup(p.m);
	return r;
}

/* ---- pull ---- */

/* Queues the config and layers of @m that the store lacks (each digest once). */
static void manifest_blobs(struct client *c, const struct img_manifest *m,
			   const struct img_descriptor ***ret, size_t *ret_n)
{
	const struct img_descriptor **v = xcalloc(m->n_layers + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i <= m->n_layers; i++) {
		const struct img_descriptor *d = i == 0 ? &m->config : &m->layers[i - 1];
		bool dup = false;

		for (size_t k = 0; k < n && !dup; k++)
			dup = !strcmp(v[k]->digest, d->digest);
		if (dup)
			continue;
		if (img_blob_exists(c->s, d->digest)) {
			progress(c, d->digest, d->size, d->size);
			continue;
		}
		v[n++] = d;
	}
	*ret = v;
	*ret_n = n;
}

/* Picks @top's entry for the wanted platform and fetches that manifest into @ret. */
static int fetch_platform_manifest(struct client *c, const struct doc *top, struct doc *ret,
				   struct err *err)
{
	struct img_index *ix = NULL;
	struct img_platform want = {0};
	const struct img_descriptor *d = NULL;
	cleanup_free char *object = object_name(c, top->digest);
	int r;

	r = img_index_parse(top->text, top->len, &ix, err);
	if (r == 0)
		r = img_platform_parse(c->o->platform, &want, err);
	if (r == 0)
		r = img_index_select(ix, &want, &d, err);
	if (r < 0)
		err_wrap(err, "index %s", object);
	else
		r = fetch_manifest(c, d->digest, d->digest, ret, err);
	if (r == 0 && img_media_is_index(ret->media_type)) {
		r = err_set(err, ENOTSUP, "index %s: entry %s is an index itself", object,
			    d->digest);
		doc_done(ret);
	}
	img_platform_done(&want);
	img_index_free(ix);
	return r;
}

static int pull_image(struct client *c, const struct doc *m_doc, struct err *err)
{
	struct img_manifest *m = NULL;
	const struct img_descriptor **blobs = NULL;
	cleanup_free char *object = object_name(c, m_doc->digest);
	size_t n = 0;
	int r;

	r = img_manifest_parse(m_doc->text, m_doc->len, &m, err);
	if (r < 0)
		return err_wrap(err, "manifest %s", object);
	manifest_blobs(c, m, &blobs, &n);
	r = fetch_blobs(c, blobs, n, err);
	free(blobs);
	img_manifest_free(m);
	return r;
}

int img_pull(struct img_store *s, const struct img_ref *ref, const struct img_remote_opts *o,
	     char ret_digest[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_client struct client *c = NULL;
	cleanup_free char *name = img_ref_string(ref);
	const char *reference = ref->digest ? ref->digest : ref->tag ? ref->tag : "latest";
	struct doc top = {0}, child = {0};
	char digest[IMG_DIGEST_MAX];
	int r;

	if (client_new(s, ref->domain, ref->path, o, false, NULL, NULL, NULL, &c, err) < 0)
		return -err->code;
	r = fetch_manifest(c, reference, ref->digest, &top, err);
	if (r == 0 && img_media_is_index(top.media_type))
		r = fetch_platform_manifest(c, &top, &child, err);
	if (r == 0)
		r = pull_image(c, child.text ? &child : &top, err);
	/* the blobs first, then what refers to them, the name last: no partial image is named */
	if (r == 0 && child.text)
		r = img_blob_put(s, child.text, child.len, digest, err);
	if (r == 0)
		r = img_blob_put(s, top.text, top.len, digest, err);
	if (r == 0)
		r = img_tag(s, name, top.digest, top.media_type, err);
	if (r == 0)
		memcpy(ret_digest, top.digest, IMG_DIGEST_MAX);
	doc_done(&top);
	doc_done(&child);
	return r;
}

/* ---- push ---- */

/* A 202's Location made absolute; EPROTO if there is none. */
static int upload_location(struct client *c, const char *digest, char **ret, struct err *err)
{
	if (!c->x.location || !*c->x.location)
		return err_set(err, EPROTO, "upload blob %s to '%s/%s': no Location in the answer",
			       digest, c->domain, c->repo);
	free(*ret);
	*ret = img_url_resolve(c->base, c->x.location);
	return 0;
}

/*
 * Opens an upload session for @digest (ret_location) or mounts it from c->mount_from
 * (ret_location NULL: nothing left to send).
 */
static int upload_start(struct client *c, const char *digest, char **ret_location, struct err *err)
{
	const struct req q = {.method = "POST", .has_body = true, .data = ""};
	cleanup_free char *object = xasprintf("%s/%s@%s", c->domain, c->repo, digest);
	cleanup_free char *path = xasprintf("/v2/%s/blobs/uploads/", c->repo);

	*ret_location = NULL;
	if (c->mount_from) {
		cleanup_free char *from = url_escape(c->mount_from);
		cleanup_free char *mount = xasprintf("%s?mount=%s&from=%s", path, digest, from);

		if (client_do(c, &q, mount, err) < 0)
			return err_wrap(err, "upload blob %s", object);
		if (c->x.status == 201)
			return 0;
		if (c->x.status == 202)
			return upload_location(c, digest, ret_location, err);
		/* a mount is only a shortcut: fall back to uploading */
		log_debug("mount blob %s from '%s': status %ld", digest, c->mount_from,
			  c->x.status);
	}
	if (client_do(c, &q, path, err) < 0)
		return err_wrap(err, "upload blob %s", object);
	if (c->x.status != 202)
		return status_error(c, &c->x, "blob upload", object, err);
	return upload_location(c, digest, ret_location, err);
}

static char *with_digest(const char *location, const char *digest)
{
	return xasprintf("%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?', digest);
}

/* Sends @size bytes of @fd to the upload session at *@location and closes it. */
static int upload_send(struct client *c, const char *digest, int fd, int64_t size, char **location,
		       struct err *err)
{
	cleanup_free char *object = xasprintf("%s/%s@%s", c->domain, c->repo, digest);
	cleanup_free char *final = NULL;
	struct req q = {.method = "PUT",
			.has_body = true,
			.from_file = true,
			.fd = fd,
			.content_type = "application/octet-stream"};
	int64_t off = 0;

	/* monolithic for small blobs; chunks (spec: "Chunked upload") otherwise */
	while (size > CHUNK_SIZE && off < size) {
		int64_t n = size - off < CHUNK_SIZE ? size - off : CHUNK_SIZE;
		char range[96];

		snprintf(range, sizeof(range), "Content-Range: %lld-%lld", (long long)off,
			 (long long)(off + n - 1));
		q.method = "PATCH";
		q.range = range;
		q.off = off;
		q.len = n;
		if (client_do(c, &q, *location, err) < 0)
			return err_wrap(err, "upload blob %s", object);
		if (c->x.status != 202)
			return status_error(c, &c->x, "blob upload", object, err);
		if (upload_location(c, digest, location, err) < 0)
			return -err->code;
		off += n;
		progress(c, digest, off, size);
	}
	q.method = "PUT";
	q.range = NULL;
	q.off = off;
	q.len = size - off;
	final = with_digest(*location, digest);
	if (client_do(c, &q, final, err) < 0)
		return err_wrap(err, "upload blob %s", object);
	if (c->x.status != 201)
		return status_error(c, &c->x, "blob upload", object, err);
	return 0;
}

/* One attempt at a blob: nothing when the registry has it, a mount if it can, else an upload. */
static int push_blob_once(struct client *c, const char *digest, int64_t size, struct err *err)
{
	const struct req head = {.method = "HEAD", .follow = true};
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", c->repo, digest);
	cleanup_free char *object = xasprintf("%s/%s@%s", c->domain, c->repo, digest);
	cleanup_free char *location = NULL;
	cleanup_close int fd = -1;

	if (client_do(c, &head, path, err) < 0)
		return err_wrap(err, "check blob %s", object);
	if (c->x.status == 200)
		return 0;
	if (c->x.status != 404)
		return status_error(c, &c->x, "blob", object, err);
	if (upload_start(c, digest, &location, err) < 0)
		return -err->code;
	if (location && (img_blob_open(c->s, digest, &fd, err) < 0 ||
			 upload_send(c, digest, fd, size, &location, err) < 0))
		return -err->code;
	return 0;
}

static int push_blob(struct client *c, const char *digest, struct err *err)
{
	int64_t size;

	if (img_blob_size(c->s, digest, &size, err) < 0)
		return -err->code;
	progress(c, digest, 0, size);
	for (int attempt = 0;; attempt++) {
		int r = push_blob_once(c, digest, size, err);

		if (r == 0)
			break;
		/* a broken upload session cannot be trusted to resume: open a new one */
		if (attempt >= RETRIES || !(c->x.transient || is_retryable(c->x.status)))
			return r;
		log_debug("%s, retrying", err->msg);
		err_clear(err);
		sleep_ms(backoff_ms(attempt));
	}
	progress(c, digest, size, size);
	return 0;
}

static int put_manifest(struct client *c, const char *text, size_t len, const char *media_type,
			const char *digest, const char *reference, struct err *err)
{
	const struct req q = {.method = "PUT",
			      .has_body = true,
			      .data = text,
			      .len = (int64_t)len,
			      .content_type = media_type};
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", c->repo, reference);
	cleanup_free char *object = object_name(c, reference);

	if (client_do(c, &q, path, err) < 0)
		return err_wrap(err, "push manifest %s", object);
	if (c->x.status != 201 && c->x.status != 200)
		return status_error(c, &c->x, "manifest", object, err);
	if (c->x.docker_digest && strcmp(c->x.docker_digest, digest) != 0)
		log_debug("manifest %s: registry says digest %s, ours is %s", object,
			  c->x.docker_digest, digest);
	return 0;
}

/* Pushes the manifest @digest's blobs, then the manifest itself as @reference. */
static int push_manifest(struct client *c, const char *digest, const char *reference,
			 struct err *err)
{
	cleanup_free char *text = NULL, *mt = NULL;
	struct img_manifest *m = NULL;
	size_t len;
	int r;

	if (img_blob_read(c->s, digest, &text, &len, err) < 0 ||
	    img_media_type_of(text, len, &mt, err) < 0 ||
	    img_manifest_parse(text, len, &m, err) < 0)
		return err_wrap(err, "push manifest %s", digest);
	r = push_blob(c, m->config.digest, err);
	for (size_t i = 0; r == 0 && i < m->n_layers; i++)
		r = push_blob(c, m->layers[i].digest, err);
	img_manifest_free(m);
	if (r == 0)
		r = put_manifest(c, text, len, mt, digest, reference, err);
	return r;
}

/* The one entry of @ix whose manifest the store has; NULL if none or several. */
static const struct img_descriptor *only_present(struct client *c, const struct img_index *ix)
{
	const struct img_descriptor *found = NULL;

	for (size_t i = 0; i < ix->n; i++) {
		if (!img_blob_exists(c->s, ix->manifests[i].digest))
			continue;
		if (found)
			return NULL;
		found = &ix->manifests[i];
	}
	return found;
}

/*
 * The entry of a partly pulled index to push: the platform asked for, else the host's,
 * else the only one the store has.
 */
static int pick_present(struct client *c, const struct img_index *ix, const char *digest,
			const struct img_descriptor **ret, struct err *err)
{
	struct img_platform want = {0};
	const struct img_descriptor *d = NULL;
	int r;

	r = img_platform_parse(c->o->platform, &want, err);
	if (r == 0 && img_index_select(ix, &want, &d, err) < 0) {
		if (c->o->platform)
			r = -err->code;
		else
			err_clear(err);
	}
	if (r == 0 && !c->o->platform && (!d || !img_blob_exists(c->s, d->digest)))
		d = only_present(c, ix);
	if (r == 0 && (!d || !img_blob_exists(c->s, d->digest)))
		r = err_set(err, ENOENT, "the store has no manifest of index %s for %s", digest,
			    c->o->platform ? c->o->platform : "this host's platform");
	img_platform_done(&want);
	if (r == 0)
		*ret = d;
	return r;
}

/*
 * Pushes an index: every entry and then the index when the store has them all, else only
 * one image (see pick_present()) under @reference, as podman pushes an image.
 */
static int push_index(struct client *c, const char *digest, const char *text, size_t len,
		      const char *media_type, const char *reference, struct err *err)
{
	struct img_index *ix = NULL;
	const struct img_descriptor *d = NULL;
	bool all = true;
	int r = 0;

	if (img_index_parse(text, len, &ix, err) < 0)
		return err_wrap(err, "push index %s", digest);
	for (size_t i = 0; i < ix->n; i++)
		all = all && img_blob_exists(c->s, ix->manifests[i].digest);
	if (all) {
		for (size_t i = 0; r == 0 && i < ix->n; i++)
			r = push_manifest(c, ix->manifests[i].digest, ix->manifests[i].digest, err);
		if (r == 0)
			r = put_manifest(c, text, len, media_type, digest, reference, err);
	} else {
		r = pick_present(c, ix, digest, &d, err);
		if (r == 0)
			r = push_manifest(c, d->digest, reference, err);
	}
	img_index_free(ix);
	return r;
}

/* The repository @local came from when it is on @dest's registry too; heap or NULL. */
static char *mount_source(const struct img_image *local, const struct img_ref *dest)
{
	struct img_ref r = {0};
	struct err e = ERR_INIT;
	char *from = NULL;

	if (!local->name || img_ref_parse(local->name, &r, &e) < 0) {
		err_clear(&e);
		return NULL;
	}
	if (!strcmp(r.domain, dest->domain) && strcmp(r.path, dest->path) != 0)
		from = xstrdup(r.path);
	img_ref_done(&r);
	return from;
}

int img_push(struct img_store *s, const struct img_image *local, const struct img_ref *dest,
	     const struct img_remote_opts *o, struct err *err)
{
	cleanup_client struct client *c = NULL;
	cleanup_free char *from = mount_source(local, dest);
	cleanup_free char *text = NULL, *mt = NULL;
	const char *reference = dest->tag ? dest->tag : dest->digest ? dest->digest : "latest";
	size_t len;

	if (dest->digest && strcmp(dest->digest, local->digest) != 0)
		return err_set(err, EINVAL, "push '%s' to '%s@%s': the image has digest %s",
			       local->name, dest->path, dest->digest, local->digest);
	if (client_new(s, dest->domain, dest->path, o, true, from, NULL, NULL, &c, err) < 0)
		return -err->code;
	if (img_blob_read(s, local->digest, &text, &len, err) < 0)
		return err_wrap(err, "push '%s'", local->name);
	if (local->media_type && *local->media_type)
		mt = xstrdup(local->media_type);
	else if (img_media_type_of(text, len, &mt, err) < 0)
		return err_wrap(err, "push '%s'", local->name);
	if (img_media_is_index(mt))
		return push_index(c, local->digest, text, len, mt, reference, err);
	return push_manifest(c, local->digest, reference, err);
}

/* ---- credentials ---- */

int img_login(const char *registry, const char *user, const char *password,
	      const struct img_remote_opts *o, struct err *err)
{
	cleanup_client struct client *c = NULL;
	cleanup_free char *key = img_registry_key(registry);
	cleanup_free char *domain = xstrndup(key, strcspn(key, "/"));
	const struct req q = {.method = "GET"};

	if (!*domain)
		return err_set(err, EINVAL, "log in: invalid registry '%s'", registry);
	if (client_new(NULL, domain, NULL, o, false, NULL, user, password, &c, err) < 0)
		return -err->code;
	/* the API base answers 200 once the credentials (or the token they got) are good */
	if (client_do(c, &q, "/v2/", err) < 0)
		return err_wrap(err, "log in to '%s'", domain);
	if (c->x.status == 401 || c->x.status == 403)
		return err_set(err, EACCES, "log in to '%s' as '%s': invalid username or password",
			       domain, user);
	if (c->x.status != 200)
		return status_error(c, &c->x, "registry", domain, err);
	return img_auth_file_update(o ? o->auth_file : NULL, key, user, password, err);
}

int img_logout(const char *registry, const struct img_remote_opts *o, struct err *err)
{
	return img_auth_file_update(o ? o->auth_file : NULL, registry, NULL, NULL, err);
}
