/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references in Docker's grammar (distribution/reference): "[domain/]path[:tag]
 * [@digest]", normalised the way docker does it (docker.io, "library/", ":latest"), and
 * the familiar form docker prints. Used by `skiff image`, the store's names and the
 * registry client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "image/internal.h"

#define DEFAULT_DOMAIN  "docker.io"
#define LEGACY_DOMAIN   "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG     "latest"
#define NAME_MAX_LEN    255 /* reference.NameTotalLengthMax, domain included */
#define TAG_MAX_LEN     128
#define REF_MAX_LEN     512 /* name, tag and digest with room; longer input is not echoed */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

/* path-component: [a-z0-9]+ separated by one '.', one or two '_', or any run of '-'. */
static bool component_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start = i;

		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n)
			return false;
	}
	return false;
}

/* One DNS label as docker allows it: alphanumerics, inner dashes. */
static size_t label_len(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (is_alnum(s[i]) || s[i] == '-'))
		i++;
	if (i == 0 || s[0] == '-' || s[i - 1] == '-')
		return 0;
	return i;
}

/* host (dotted labels, or an IPv6 address in brackets) and an optional ":port". */
static bool domain_valid(const char *s)
{
	size_t n = strlen(s), i = 0;

	if (n > 0 && s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close == s + 1)
			return false;
		i = (size_t)(close - s);
		if (strspn(s + 1, "0123456789abcdefABCDEF:") != i - 1)
			return false;
		i++;
	} else {
		for (;;) {
			size_t l = label_len(s + i, n - i);

			if (l == 0)
				return false;
			i += l;
			if (i == n || s[i] != '.')
				break;
			i++;
		}
	}
	if (i == n)
		return true;
	if (s[i] != ':' || i + 1 == n)
		return false;
	return strspn(s + i + 1, "0123456789") == n - i - 1;
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

static int check_tag(const char *ref, const char *tag, struct err *err)
{
	size_t n = strlen(tag);

	if (n == 0)
		return err_set(err, EINVAL, "invalid reference '%s': empty tag", ref);
	if (n > TAG_MAX_LEN)
		return err_set(err, EINVAL,
			       "invalid reference '%s': tag is longer than %d characters", ref,
			       TAG_MAX_LEN);
	if (!is_word(tag[0]))
		return err_set(err, EINVAL,
			       "invalid reference '%s': tag '%s' must start with a letter, digit "
			       "or '_'",
			       ref, tag);
	for (size_t i = 1; i < n; i++)
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return err_set(err, EINVAL,
				       "invalid reference '%s': tag '%s' may only contain letters, "
				       "digits, '_', '.' and '-'",
				       ref, tag);
	return 0;
}

static int check_digest(const char *ref, const char *digest, struct err *err)
{
	if (img_digest_valid(digest))
		return 0;
	if (strncmp(digest, "sha256:", strlen("sha256:")) == 0)
		return err_set(err, EINVAL,
			       "invalid reference '%s': digest '%s' must be 'sha256:' and 64 "
			       "lowercase hex digits",
			       ref, digest);
	return err_set(err, EINVAL, "invalid reference '%s': unsupported digest '%s' (only sha256)",
		       ref, digest);
}

static int check_path(const char *ref, const char *path, struct err *err)
{
	const char *p = path;

	if (has_upper(path, strlen(path)))
		return err_set(err, EINVAL,
			       "invalid reference '%s': repository name must be lowercase", ref);
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0)
			return err_set(
				err, EINVAL,
				"invalid reference '%s': repository name has an empty component",
				ref);
		if (!component_valid(p, n))
			return err_set(
				err, EINVAL,
				"invalid reference '%s': repository name component '%.*s' must "
				"be lowercase letters and digits separated by '.', '_', '__' "
				"or '-'",
				ref, (int)n, p);
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/*
 * Docker's splitDockerDomain: the first component names a registry when it contains '.'
 * or ':', is "localhost", or has an uppercase letter (namespaces cannot); "library/" is
 * added only on Docker Hub.
 */
static void split_domain(const char *name, char **ret_domain, char **ret_path)
{
	const char *slash = strchr(name, '/');
	const char *rest = name;
	char *domain = NULL;

	if (slash) {
		size_t n = (size_t)(slash - name);

		if ((n == strlen("localhost") && !strncmp(name, "localhost", n)) ||
		    memchr(name, '.', n) || memchr(name, ':', n) || has_upper(name, n)) {
			domain = xstrndup(name, n);
			rest = slash + 1;
		}
	}
	if (domain && !strcmp(domain, LEGACY_DOMAIN)) {
		free(domain);
		domain = NULL;
	}
	if (!domain)
		domain = xstrdup(DEFAULT_DOMAIN);
	if (!strcmp(domain, DEFAULT_DOMAIN) && !strchr(rest, '/'))
		*ret_path = xasprintf(OFFICIAL_PREFIX "%s", rest);
	else
		*ret_path = xstrdup(rest);
	*ret_domain = domain;
}

static bool is_identifier(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct err *err)
{
	cleanup_free char *name = NULL;
	cleanup_free char *domain = NULL;
	cleanup_free char *path = NULL;
	const char *tag = NULL, *digest = NULL;
	char *at, *colon, *slash;

	if (!s || !*s)
		return err_set(err, EINVAL, "invalid reference '': empty");
	if (strlen(s) > REF_MAX_LEN)
		return err_set(err, EINVAL, "invalid reference: longer than %d characters",
			       REF_MAX_LEN);
	if (is_identifier(s))
		return err_set(err, EINVAL,
			       "invalid reference '%s': a repository name cannot be a 64-digit "
			       "hex string (an image id)",
			       s);

	name = xstrdup(s);
	at = strchr(name, '@');
	if (at) {
		*at = '\0';
		digest = at + 1;
		if (check_digest(s, digest, err) < 0)
			return -err->code;
	}
	/* a ':' after the last '/' starts the tag; before it, it is the registry's port */
	colon = strrchr(name, ':');
	slash = strrchr(name, '/');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		tag = colon + 1;
		if (check_tag(s, tag, err) < 0)
			return -err->code;
	}
	if (!*name)
		return err_set(err, EINVAL, "invalid reference '%s': missing repository name", s);

	split_domain(name, &domain, &path);
	if (!domain_valid(domain))
		return err_set(err, EINVAL, "invalid reference '%s': invalid registry host '%s'", s,
			       domain);
	if (check_path(s, path, err) < 0)
		return -err->code;
	if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
		return err_set(
			err, EINVAL,
			"invalid reference '%s': repository name is longer than %d characters", s,
			NAME_MAX_LEN);

	*ret = (struct img_ref){
		.domain = TAKE_PTR(domain),
		.path = TAKE_PTR(path),
		.tag = tag ? xstrdup(tag) : (digest ? NULL : xstrdup(DEFAULT_TAG)),
		.digest = digest ? xstrdup(digest) : NULL,
	};
	return 0;
}

static char *ref_format(const char *domain, const char *path, const struct img_ref *r)
{
	return xasprintf("%s%s%s%s%s%s%s", domain ? domain : "", domain ? "/" : "", path,
			 r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
			 r->digest ? r->digest : "");
}

char *img_ref_string(const struct img_ref *r)
{
	return ref_format(r->domain, r->path, r);
}

char *img_ref_familiar(const struct img_ref *r)
{
	const char *path = r->path;

	if (strcmp(r->domain, DEFAULT_DOMAIN) != 0)
		return ref_format(r->domain, path, r);
	/* only one level under "library/": "library/a/b" keeps its prefix, as docker does */
	if (!strncmp(path, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) &&
	    !strchr(path + strlen(OFFICIAL_PREFIX), '/'))
		path += strlen(OFFICIAL_PREFIX);
	return ref_format(NULL, path, r);
}

void img_ref_done(struct img_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (struct img_ref){0};
}
