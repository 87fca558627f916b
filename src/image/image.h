/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images: a content-addressable store of OCI and Docker image blobs with named references,
 * registry pull and push, import and export, layer unpacking into shared snapshots and
 * overlay root file systems for containers. Called by `skiff image` and, later, the node
 * agent.
 */
#ifndef SKIFF_IMAGE_IMAGE_H
#define SKIFF_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct err;

#define IMG_DEFAULT_ROOT "/var/lib/skiff/images"
#define IMG_DIGEST_MAX   80 /* "sha256:" + 64 hex digits + NUL, with room */

/* ---- references (docker's grammar, docker.io defaults) ---- */

struct img_ref {
	char *domain; /* "docker.io", "localhost:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when only a digest was given */
	char *digest; /* "sha256:..." or NULL */
};

/*
 * Parses "busybox", "library/busybox:1.36", "localhost:5000/a/b@sha256:..." as docker
 * does: a first component with a '.' or ':' or equal to "localhost" is a registry,
 * otherwise docker.io (and "library/" for one-component paths); no tag and no digest
 * means ":latest". EINVAL with the reason for anything else.
 */
int img_ref_parse(const char *s, struct img_ref *ret, struct err *err);
/* "domain/path:tag", "domain/path@digest" or "domain/path:tag@digest"; heap string. */
char *img_ref_string(const struct img_ref *r);
/* The shortest form docker prints ("busybox:latest", "localhost:5000/a:b"); heap. */
char *img_ref_familiar(const struct img_ref *r);
void img_ref_done(struct img_ref *r);

/* ---- the store ---- */

struct img_store;

/* Opens (creating) the store under @root; ret is freed with img_store_close(). */
int img_store_open(const char *root, struct img_store **ret, struct err *err);
void img_store_close(struct img_store *s);

/* A named image: its reference and the digest of its manifest (or index). */
struct img_image {
	char *name;   /* img_ref_string() form */
	char *digest; /* of the top manifest or index */
	char *media_type;
	int64_t size;  /* of the top blob */
	char *created; /* RFC 3339, from the image config; may be NULL */
};

/* Every named image, sorted by name. */
int img_list(struct img_store *s, struct img_image **ret, size_t *ret_n, struct err *err);
void img_images_free(struct img_image *v, size_t n);

/* Names @name (a reference string) for the manifest @digest of @media_type. */
int img_tag(struct img_store *s, const char *name, const char *digest, const char *media_type,
	    struct err *err);
/* Looks an image up by name, familiar name, full or short (12+ hex) id. ENOENT if none. */
int img_resolve(struct img_store *s, const char *what, struct img_image *ret, struct err *err);
void img_image_done(struct img_image *im);
/* Removes a name; the blobs stay until img_prune(). */
int img_untag(struct img_store *s, const char *name, struct err *err);
/* Deletes blobs and snapshots no name reaches; reports what it freed. */
int img_prune(struct img_store *s, uint64_t *ret_bytes, size_t *ret_blobs, struct err *err);

#endif
