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
/*
 * Deletes blobs and unpacked snapshots no name reaches (snapshots a mounted overlay uses
 * stay); reports what it freed.
 */
int img_prune(struct img_store *s, uint64_t *ret_bytes, size_t *ret_blobs, size_t *ret_snapshots,
	      struct err *err);

/* ---- registry (OCI distribution spec) ---- */

struct img_progress {
	/* called with bytes done/total of one blob; total -1 when unknown; may be NULL */
	void (*blob)(void *data, const char *digest, int64_t done, int64_t total);
	void *data;
};

struct img_remote_opts {
	const char *platform;  /* "linux/amd64" default */
	const char *auth_file; /* docker-compatible auth.json; NULL: the default paths */
	bool insecure;         /* plain HTTP (always for loopback registries) */
	int parallel;          /* blob transfers at once; 0: 3 */
	const struct img_progress *progress;
};

/* Pulls @ref into the store and names it; ret_digest: the manifest (or index) digest. */
int img_pull(struct img_store *s, const struct img_ref *ref, const struct img_remote_opts *o,
	     char ret_digest[IMG_DIGEST_MAX], struct err *err);
/* ---- import and export ---- */

struct img_import_opts {
	const char *platform; /* "os/arch[/variant]" for the config; NULL: the host's */
	char **changes; /* Dockerfile-like "CMD [...]", "ENV K=V", "WORKDIR /x"; may be NULL */
};

/*
 * Imports a root file system tarball (plain, gzip or zstd) read from @fd as a one-layer
 * OCI image named @name. ret_digest: the manifest's digest.
 */
int img_import_rootfs(struct img_store *s, int fd, const char *name,
		      const struct img_import_opts *o, char ret_digest[IMG_DIGEST_MAX],
		      struct err *err);

enum img_archive_format {
	IMG_ARCHIVE_DOCKER,  /* docker save / docker load tarball */
	IMG_ARCHIVE_OCI,     /* OCI image layout in a tarball */
	IMG_ARCHIVE_OCI_DIR, /* OCI image layout directory */
};

/* Parses "docker-archive", "oci-archive", "oci-dir" (podman's names). */
int img_archive_format_parse(const char *s, enum img_archive_format *ret, struct err *err);
/* Writes @images (with their names) to @path in @format. */
int img_save(struct img_store *s, const struct img_image *images, size_t n,
	     enum img_archive_format format, const char *path, struct err *err);
/*
 * Loads every image of a docker archive, OCI archive or OCI layout directory at @path
 * (the format is detected) into the store; returns the names given to them.
 */
int img_load(struct img_store *s, const char *path, char ***ret_names, struct err *err);

/* ---- containers' root file systems ---- */

/*
 * Mounts an overlay of @image's layers (unpacked on demand into shared snapshots) with a
 * writable layer of its own at @target; @id names that layer (reused if it exists).
 */
int img_mount(struct img_store *s, const struct img_image *image, const char *id,
	      const char *target, struct err *err);
/* Unmounts @target and, with @remove, deletes the writable layer @id. */
int img_unmount(struct img_store *s, const char *id, const char *target, bool remove,
		struct err *err);
/*
 * Writes an OCI bundle in @dir: rootfs/ (an overlay mount of the image, writable layer
 * named after @dir's path) and config.json from the image config (entrypoint, cmd, env,
 * working dir, user, exposed ports as annotations) on top of the runtime's default spec.
 */
int img_bundle(struct img_store *s, const struct img_image *image, const char *dir,
	       json_t *base_spec, struct err *err);
/*
 * The image config document of @image (for the host's platform): the whole JSON blob,
 * whose "config" holds Entrypoint, Cmd, Env, WorkingDir, User. ret_id: its digest, which
 * is the image's ID.
 */
int img_config_json(struct img_store *s, const struct img_image *image, json_t **ret_config,
		    char ret_id[IMG_DIGEST_MAX], struct err *err);
/* The writable-layer id img_bundle() uses for @dir (which must exist); heap, or NULL. */
char *img_bundle_id(const char *dir);

#endif
