/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry addresses and credentials: the pure helpers the registry client (registry.c)
 * builds its requests with (hosts, URLs, WWW-Authenticate challenges, token URLs, base64)
 * and the docker-compatible auth.json files that `skiff image login` writes and every
 * registry request reads.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jx.h"
#include "base/url.h"
#include "image/auth.h"

#define DOCKER_HUB     "docker.io"
#define DOCKER_HUB_API "registry-1.docker.io"
#define QUOTE_MAX      200 /* of untrusted text quoted in a message */

/* ---- registries and URLs ---- */

static bool prefix_nocase(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The length of "http://" or "https://" at the start of @s, 0 if neither. */
static size_t scheme_len(const char *s)
{
	if (prefix_nocase(s, "https://"))
		return strlen("https://");
	if (prefix_nocase(s, "http://"))
		return strlen("http://");
	return 0;
}

char *img_registry_key(const char *registry)
{
	const char *p = registry;
	size_t skip = scheme_len(registry), len, host_len;
	cleanup_free char *host = NULL;

	p += skip;
	/* a URL ("https://index.docker.io/v1/") names a registry: its path is the API's */
	len = skip ? strcspn(p, "/") : strlen(p);
	while (len > 0 && p[len - 1] == '/')
		len--;
	host_len = strcspn(p, "/");
	if (host_len > len)
		host_len = len;
	host = xstrndup(p, host_len);
	if (!strcasecmp(host, "index.docker.io") || !strcasecmp(host, DOCKER_HUB_API)) {
		free(host);
		host = xstrdup(DOCKER_HUB);
	}
	return xasprintf("%s%.*s", host, (int)(len - host_len), p + host_len);
}

const char *img_registry_host(const char *domain)
{
	return strcmp(domain, DOCKER_HUB) == 0 ? DOCKER_HUB_API : domain;
}

bool img_registry_is_loopback(const char *domain)
{
	cleanup_free char *host = NULL;
	struct in_addr a;

	if (domain[0] == '[') {
		size_t n = strcspn(domain, "]");

		return domain[n] == ']' && n == strlen("[::1") && !strncmp(domain, "[::1", n);
	}
	host = xstrndup(domain, strcspn(domain, ":"));
	if (!strcasecmp(host, "localhost"))
		return true;
	/* 127.0.0.0/8 (RFC 1122): the whole block loops back, not only 127.0.0.1 */
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

char *img_registry_url(const char *domain, bool insecure)
{
	bool plain = insecure || img_registry_is_loopback(domain);

	return xasprintf("%s://%s", plain ? "http" : "https", img_registry_host(domain));
}

char *img_url_origin(const char *url)
{
	size_t skip = scheme_len(url), n;
	const char *auth = url + skip, *at;
	char *origin;

	if (!skip)
		return NULL;
	n = strcspn(auth, "/?#");
	/* userinfo is not part of the origin */
	at = memrchr(auth, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	if (n == 0)
		return NULL;
	origin = xasprintf("%.*s%.*s", (int)skip, url, (int)n, auth);
	for (char *p = origin; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	/* the default port is the same origin as none */
	n = strlen(origin);
	if (!strncmp(origin, "https://", 8) && n > 4 && !strcmp(origin + n - 4, ":443"))
		origin[n - 4] = '\0';
	else if (!strncmp(origin, "http://", 7) && n > 3 && !strcmp(origin + n - 3, ":80"))
		origin[n - 3] = '\0';
	return origin;
}

bool img_url_same_origin(const char *a, const char *b)
{
	cleanup_free char *oa = img_url_origin(a);
	cleanup_free char *ob = img_url_origin(b);

	return oa && ob && strcmp(oa, ob) == 0;
}

char *img_url_resolve(const char *base, const char *location)
{
	cleanup_free char *origin = img_url_origin(base);
	const char *path, *slash;
	size_t dir_len;

	if (scheme_len(location) || !origin)
		return xstrdup(location);
	if (!strncmp(location, "//", 2))
		return xasprintf("%.*s%s", (int)(strchr(origin, ':') - origin + 1), origin,
				 location);
	if (location[0] == '/')
		return xasprintf("%s%s", origin, location);
	/* relative to the base's directory (RFC 3986 section 5.2.3) */
	path = base + scheme_len(base);
	path += strcspn(path, "/?#");
	dir_len = strcspn(path, "?#");
	slash = memrchr(path, '/', dir_len);
	dir_len = slash ? (size_t)(slash - path) : 0;
	return xasprintf("%s%.*s/%s", origin, (int)dir_len, path, location);
}

/* ---- challenges (RFC 7235 section 2.1, Docker token authentication) ---- */

static bool is_tchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_len(const char *p)
{
	size_t n = 0;

	while (is_tchar(p[n]))
		n++;
	return n;
}

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static const char *skip_list(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	return p;
}

/* A token or quoted-string (with backslash escapes) at *@p. */
static int read_value(const char *header, const char **p, char **ret, struct err *err)
{
	const char *s = *p;
	char *out, *o;
	size_t n;

	if (*s != '"') {
		n = token_len(s);
		*ret = xstrndup(s, n);
		*p = s + n;
		return 0;
	}
	out = o = xmalloc(strlen(s) + 1);
	for (s++; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1])
			s++;
		*o++ = *s;
	}
	*o = '\0';
	if (*s != '"') {
		free(out);
		return err_set(err, EPROTO, "WWW-Authenticate '%.*s': unterminated quoted string",
			       QUOTE_MAX, header);
	}
	*ret = out;
	*p = s + 1;
	return 0;
}

static void param_set(struct img_challenge *c, const char *key, size_t n, char *value)
{
	char **slot = NULL;

	if (n == 5 && !strncasecmp(key, "realm", n))
		slot = &c->realm;
	else if (n == 7 && !strncasecmp(key, "service", n))
		slot = &c->service;
	else if (n == 5 && !strncasecmp(key, "scope", n))
		slot = &c->scope;
	else if (n == 5 && !strncasecmp(key, "error", n))
		slot = &c->error;
	if (!slot) {
		free(value);
		return;
	}
	free(*slot);
	*slot = value;
}

/* Reads one challenge's auth-params at *@p, up to the next scheme or the end. */
static int read_params(const char *header, const char **p, struct img_challenge *c, struct err *err)
{
	for (;;) {
		const char *key = skip_list(*p), *s;
		size_t n = token_len(key);
		char *value = NULL;

		s = skip_space(key + n);
		if (n == 0 || *s != '=') {
			/* the next challenge's scheme, the end, or a token68 (not used here) */
			*p = key;
			return 0;
		}
		s = skip_space(s + 1);
		if (read_value(header, &s, &value, err) < 0)
			return -err->code;
		param_set(c, key, n, value);
		/* token68 padding and stray characters up to the next list separator */
		while (*s == '=')
			s++;
		*p = s;
	}
}

int img_challenge_parse(const char *header, struct img_challenge *ret, struct err *err)
{
	struct img_challenge best = {0};
	cleanup_free char *first = NULL;
	const char *p = header;

	for (;;) {
		struct img_challenge cur = {0};
		size_t n;

		p = skip_list(p);
		if (!*p)
			break;
		n = token_len(p);
		if (n == 0) {
			img_challenge_done(&best);
			return err_set(err, EPROTO, "WWW-Authenticate '%.*s': unexpected '%c'",
				       QUOTE_MAX, header, *p);
		}
		cur.scheme = xstrndup(p, n);
		for (char *q = cur.scheme; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (!first)
			first = xstrdup(cur.scheme);
		p += n;
		if (read_params(header, &p, &cur, err) < 0) {
			img_challenge_done(&cur);
			img_challenge_done(&best);
			return -err->code;
		}
		/* Bearer gets a scoped token; Basic is the fallback */
		if (!strcmp(cur.scheme, "bearer") &&
		    !(best.scheme && !strcmp(best.scheme, "bearer"))) {
			img_challenge_done(&best);
			best = cur;
		} else if (!strcmp(cur.scheme, "basic") && !best.scheme) {
			best = cur;
		} else {
			img_challenge_done(&cur);
		}
	}
	if (!first)
		return err_set(err, EPROTO, "WWW-Authenticate: empty challenge");
	if (!best.scheme)
		return err_set(err, ENOTSUP, "unsupported authentication scheme '%.*s'", QUOTE_MAX,
			       first);
	if (!strcmp(best.scheme, "bearer") && (!best.realm || !*best.realm)) {
		img_challenge_done(&best);
		return err_set(err, EPROTO,
			       "WWW-Authenticate '%.*s': bearer challenge without realm", QUOTE_MAX,
			       header);
	}
	*ret = best;
	return 0;
}

void img_challenge_done(struct img_challenge *c)
{
	if (!c)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	free(c->error);
	memset(c, 0, sizeof(*c));
}

/* Appends "&key=escaped(value)" (or "?..." for the first parameter) to *@url. */
static void add_param(char **url, const char *key, const char *value)
{
	cleanup_free char *e = url_escape(value);
	char *joined = xasprintf("%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', key, e);

	free(*url);
	*url = joined;
}

char *img_token_url(const struct img_challenge *c, char *const *scopes)
{
	char *url = xstrdup(c->realm);

	if (c->service && *c->service)
		add_param(&url, "service", c->service);
	for (char *const *s = scopes; s && *s; s++)
		add_param(&url, "scope", *s);
	return url;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *img_base64_encode(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int img_base64_decode(const char *s, char **ret, size_t *ret_len, struct err *err)
{
	size_t len = strlen(s), n = 0, pad = 0;
	cleanup_free char *out = xmalloc(len / 4 * 3 + 4);
	unsigned v = 0;
	int bits = 0;

	while (len > 0 && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	for (size_t i = 0; i < len; i++) {
		const char *c = s[i] ? strchr(b64, s[i]) : NULL;

		if (!c)
			return err_set(err, EINVAL, "invalid base64: unexpected character at %zu",
				       i);
		v = (v << 6) | (unsigned)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)((v >> bits) & 0xff);
		}
	}
	/* padded to whole quanta of 4, as docker and podman write it */
	if ((len + pad) % 4 != 0)
		return err_set(err, EINVAL, "invalid base64: truncated");
	out[n] = '\0';
	*ret_len = n;
	*ret = TAKE_PTR(out);
	return 0;
}

/* ---- auth.json ---- */

/* The "auth" of the entry whose key names @want; NULL when none has one. */
static const char *find_auth(json_t *auths, const char *want, const char **ret_key)
{
	const char *key;
	json_t *entry;

	json_object_foreach (auths, key, entry) {
		cleanup_free char *norm = img_registry_key(key);
		const char *auth = json_string_value(json_object_get(entry, "auth"));

		if (!strcmp(norm, want) && auth && *auth) {
			*ret_key = key;
			return auth;
		}
	}
	return NULL;
}

static int load_auths(const char *text, size_t len, const char *what, json_t **ret_doc,
		      json_t **ret_auths, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	json_t *auths;

	if (text && len > 0) {
		if (jx_parse(text, len, what, &doc, err) < 0)
			return -err->code;
		if (!json_is_object(doc))
			return err_set(err, EINVAL, "%s: expected a JSON object", what);
	} else {
		doc = json_object();
	}
	auths = json_object_get(doc, "auths");
	if (auths && !json_is_object(auths))
		return err_set(err, EINVAL, "%s: auths: expected object", what);
	*ret_auths = auths;
	*ret_doc = TAKE_PTR(doc);
	return 0;
}

int img_auth_json_lookup(const char *text, size_t len, const char *what, const char *registry,
			 const char *repo, char **ret_user, char **ret_pass, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	cleanup_free char *host = img_registry_key(registry);
	cleanup_free char *want = NULL;
	cleanup_free char *plain = NULL;
	const char *auth = NULL, *key = NULL;
	json_t *auths = NULL;
	size_t plain_len;
	char *colon;

	if (load_auths(text, len, what, &doc, &auths, err) < 0)
		return -err->code;
	if (!auths)
		return 0;
	want = repo && *repo ? xasprintf("%s/%s", host, repo) : xstrdup(host);
	/* the most specific key first: "r/a/b", then "r/a", then "r" */
	for (;;) {
		char *slash;

		auth = find_auth(auths, want, &key);
		if (auth || strlen(want) <= strlen(host))
			break;
		slash = strrchr(want, '/');
		*slash = '\0';
	}
	if (!auth)
		return 0;
	if (img_base64_decode(auth, &plain, &plain_len, err) < 0)
		return err_wrap(err, "%s: auths.%s.auth", what, key);
	colon = strchr(plain, ':');
	if (!colon || strlen(plain) != plain_len)
		return err_set(err, EINVAL, "%s: auths.%s.auth: expected base64 of user:password",
			       what, key);
	*ret_user = xstrndup(plain, (size_t)(colon - plain));
	*ret_pass = xstrdup(colon + 1);
	return 1;
}

int img_auth_json_update(const char *text, size_t len, const char *what, const char *registry,
			 const char *user, const char *pass, char **ret_text, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	cleanup_free char *want = img_registry_key(registry);
	cleanup_free char *out = NULL;
	json_t *auths = NULL, *entry;
	const char *key;
	void *tmp;
	bool removed = false;

	if (user && strchr(user, ':'))
		return err_set(err, EINVAL, "user name '%s' contains ':'", user);
	if (load_auths(text, len, what, &doc, &auths, err) < 0)
		return -err->code;
	if (!auths) {
		auths = json_object();
		json_object_set_new(doc, "auths", auths);
	}
	/* every spelling of the registry goes, so an old one cannot shadow the new */
	json_object_foreach_safe (auths, tmp, key, entry) {
		cleanup_free char *norm = img_registry_key(key);

		if (!strcmp(norm, want)) {
			json_object_del(auths, key);
			removed = true;
		}
	}
	if (user) {
		cleanup_free char *plain = xasprintf("%s:%s", user, pass ? pass : "");
		cleanup_free char *enc = img_base64_encode(plain, strlen(plain));

		json_object_set_new(auths, want, json_pack("{s:s}", "auth", enc));
	} else if (!removed) {
		return err_set(err, ENOENT, "not logged in to '%s'", want);
	}
	out = jdump_s(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!out)
		return err_set(err, ENOMEM, "encode %s", what);
	*ret_text = xasprintf("%s\n", out);
	return 0;
}

/* ---- auth files ---- */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

char *img_auth_file_path(const char *auth_file)
{
	if (auth_file && *auth_file)
		return xstrdup(auth_file);
	if (env("REGISTRY_AUTH_FILE"))
		return xstrdup(env("REGISTRY_AUTH_FILE"));
	if (env("XDG_RUNTIME_DIR"))
		return xasprintf("%s/containers/auth.json", env("XDG_RUNTIME_DIR"));
	return xasprintf("/run/containers/%u/auth.json", (unsigned)getuid());
}

/* Reads @path; a missing file is an empty one (*ret NULL). */
static int read_optional(const char *path, char **ret, size_t *ret_len, struct err *err)
{
	int r = fs_read_file(AT_FDCWD, path, ret, ret_len, err);

	if (r == -ENOENT) {
		err_clear(err);
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	return r < 0 ? err_wrap(err, "read auth file") : 0;
}

int img_auth_file_lookup(const char *auth_file, const char *registry, const char *repo,
			 char **ret_user, char **ret_pass, struct err *err)
{
	char *paths[3] = {img_auth_file_path(auth_file), NULL, NULL};
	int r = 0;

	/* an explicit file is the only one, as in podman */
	if (!(auth_file && *auth_file) && !env("REGISTRY_AUTH_FILE")) {
		if (env("DOCKER_CONFIG"))
			paths[1] = xasprintf("%s/config.json", env("DOCKER_CONFIG"));
		else if (env("HOME"))
			paths[1] = xasprintf("%s/.docker/config.json", env("HOME"));
	}
	for (size_t i = 0; r == 0 && paths[i]; i++) {
		cleanup_free char *text = NULL;
		size_t len = 0;

		r = read_optional(paths[i], &text, &len, err);
		if (r == 0 && text)
			r = img_auth_json_lookup(text, len, paths[i], registry, repo, ret_user,
						 ret_pass, err);
	}
	for (size_t i = 0; i < 3; i++)
		free(paths[i]);
	return r;
}

int img_auth_file_update(const char *auth_file, const char *registry, const char *user,
			 const char *pass, struct err *err)
{
	cleanup_free char *path = img_auth_file_path(auth_file);
	cleanup_free char *dir = xstrdup(path), *base = xstrdup(path);
	cleanup_free char *text = NULL, *out = NULL;
	cleanup_close int dirfd = -1;
	const char *dname = dirname(dir), *bname = basename(base);
	size_t len = 0;

	if (read_optional(path, &text, &len, err) < 0 ||
	    img_auth_json_update(text, len, path, registry, user, pass, &out, err) < 0)
		return -err->code;
	if (fs_mkdir_p(dname, 0700, err) < 0)
		return err_wrap(err, "update auth file '%s'", path);
	dirfd = open(dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_sys(err, "open '%s'", dname);
	if (fs_write_atomic(dirfd, bname, out, strlen(out), 0600, err) < 0)
		return err_wrap(err, "update auth file '%s'", path);
	return 0;
}
