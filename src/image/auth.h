/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry addresses and credentials for the registry client (registry.c): host names and
 * base URLs, WWW-Authenticate challenges and token URLs (Docker token authentication),
 * and docker-compatible auth.json files. Everything but the img_auth_file_* functions is
 * pure; tests/unit/test_image_auth.c covers it. Only src/image/ includes this file.
 */
#ifndef SKIFF_IMAGE_AUTH_H
#define SKIFF_IMAGE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct err;

/* ---- registries and URLs ---- */

/*
 * The auth.json key for a registry as users spell it: "https://index.docker.io/v1/",
 * "index.docker.io" and "registry-1.docker.io" become "docker.io"; a scheme and with it
 * any path is dropped ("https://r:5000/v2/" is "r:5000"); without a scheme a path is
 * kept (podman's per-repository keys, "quay.io/org"). Heap string.
 */
char *img_registry_key(const char *registry);
/* The host serving the registry API: "registry-1.docker.io" for "docker.io"; borrowed. */
const char *img_registry_host(const char *domain);
/* True for localhost, 127.0.0.0/8 and [::1], with or without a port. */
bool img_registry_is_loopback(const char *domain);
/* "https://HOST" (or "http://HOST" when @insecure or loopback) for @domain; heap. */
char *img_registry_url(const char *domain, bool insecure);
/* "scheme://authority" of an absolute http(s) URL, lowercased; heap, NULL if not one. */
char *img_url_origin(const char *url);
/* True when both URLs have the same scheme, host and port. */
bool img_url_same_origin(const char *a, const char *b);
/* @location (absolute, or a path as upload Locations often are) made absolute; heap. */
char *img_url_resolve(const char *base, const char *location);

/* ---- challenges and tokens ---- */

struct img_challenge {
	char *scheme;  /* "bearer" or "basic" (lowercased) */
	char *realm;   /* may be NULL for basic */
	char *service; /* NULL when absent */
	char *scope;   /* NULL when absent */
	char *error;   /* "invalid_token", "insufficient_scope"; NULL when absent */
};

/*
 * Parses a WWW-Authenticate value (several challenges may be listed: Bearer is preferred
 * over Basic). EPROTO when it cannot be parsed or a Bearer challenge has no realm,
 * ENOTSUP when it offers neither scheme.
 */
int img_challenge_parse(const char *header, struct img_challenge *ret, struct err *err);
void img_challenge_done(struct img_challenge *c);
/* realm?service=S&scope=A&scope=B (the token request); @scopes NULL-terminated, may be NULL. */
char *img_token_url(const struct img_challenge *c, char *const *scopes);

/* ---- base64 (RFC 4648, with padding) ---- */

char *img_base64_encode(const void *buf, size_t n);
/* Decodes into a NUL-terminated heap buffer; EINVAL for anything but base64. */
int img_base64_decode(const char *s, char **ret, size_t *ret_len, struct err *err);

/* ---- auth.json ---- */

/*
 * Finds credentials for @registry (a domain) and @repo (may be NULL) in the auth.json text
 * @text; @what names the file in errors. The most specific key wins ("r/a/b", "r/a", "r"),
 * keys compared after img_registry_key(). Returns 1 and the user and password (heap) when
 * found, 0 when not (entries without "auth", as credential helpers leave them, don't
 * count), EINVAL for a malformed file or entry.
 */
int img_auth_json_lookup(const char *text, size_t len, const char *what, const char *registry,
			 const char *repo, char **ret_user, char **ret_pass, struct err *err);
/*
 * Returns @text (may be NULL: an empty file) with the entry for @registry set to @user and
 * @pass, or removed when @user is NULL (ENOENT when there was none). Other keys and
 * entries stay. Heap string.
 */
int img_auth_json_update(const char *text, size_t len, const char *what, const char *registry,
			 const char *user, const char *pass, char **ret_text, struct err *err);

/*
 * The auth file login writes: $REGISTRY_AUTH_FILE, else podman's
 * ${XDG_RUNTIME_DIR}/containers/auth.json (/run/containers/UID/auth.json without
 * XDG_RUNTIME_DIR). @auth_file, when not NULL, overrides. Heap string.
 */
char *img_auth_file_path(const char *auth_file);
/*
 * Looks credentials up in @auth_file if given, else in img_auth_file_path() and then in
 * docker's $DOCKER_CONFIG/config.json or ~/.docker/config.json. Missing files are fine.
 * Returns 1 with heap strings when found, 0 when not.
 */
int img_auth_file_lookup(const char *auth_file, const char *registry, const char *repo,
			 char **ret_user, char **ret_pass, struct err *err);
/*
 * Sets (@user not NULL) or removes the entry of @registry in the auth file, replacing the
 * file atomically with mode 0600 (its directory is created 0700). ENOENT when removing an
 * entry that is not there.
 */
int img_auth_file_update(const char *auth_file, const char *registry, const char *user,
			 const char *pass, struct err *err);

#endif
