/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private interfaces of the image module: digests, blobs, manifests and configs,
 * layer unpacking, snapshots and the registry client. Only src/image/ includes this file.
 */
#ifndef SKIFF_IMAGE_INTERNAL_H
#define SKIFF_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "image/image.h"

struct err;

/* ---- media types ---- */

#define IMG_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define IMG_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define IMG_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define IMG_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMG_MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMG_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define IMG_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* ---- digests (sha256 through nettle) ---- */

struct img_hash; /* running sha256 */
struct img_hash *img_hash_new(void);
void img_hash_update(struct img_hash *h, const void *buf, size_t n);
/* Writes "sha256:<hex>" into @out and frees @h. */
void img_hash_final(struct img_hash *h, char out[IMG_DIGEST_MAX]);
void img_digest_of(const void *buf, size_t n, char out[IMG_DIGEST_MAX]);
/* "sha256:" and 64 lowercase hex digits (the only algorithm accepted). */
bool img_digest_valid(const char *digest);

/* ---- blobs ---- */

/* A blob being written: hashed as it streams, committed under its digest atomically. */
struct img_writer;

/*
 * Starts a blob. With @expected (may be NULL) the commit fails with EBADMSG unless the
 * content hashes to it; @expected_size (-1: unknown) likewise, and writing past it fails.
 * @resume_key (may be NULL) names a partial download kept across attempts: writing then
 * continues at img_writer_offset() (the partial content is re-hashed on open).
 */
int img_blob_writer(struct img_store *s, const char *expected, int64_t expected_size,
		    const char *resume_key, struct img_writer **ret, struct err *err);
int64_t img_writer_offset(const struct img_writer *w);
int img_writer_write(struct img_writer *w, const void *buf, size_t n, struct err *err);
/* Verifies, fsyncs and renames into place; frees @w either way. */
int img_writer_commit(struct img_writer *w, char ret_digest[IMG_DIGEST_MAX], struct err *err);
/* Drops the blob (a resumable partial is kept unless @discard). NULL-tolerant. */
void img_writer_abort(struct img_writer *w, bool discard);

int img_blob_put(struct img_store *s, const void *buf, size_t n, char ret_digest[IMG_DIGEST_MAX],
		 struct err *err);
bool img_blob_exists(struct img_store *s, const char *digest);
int img_blob_size(struct img_store *s, const char *digest, int64_t *ret, struct err *err);
/* Opens a blob read-only (ENOENT: "blob 'sha256:...' is not in the store"). */
int img_blob_open(struct img_store *s, const char *digest, int *ret_fd, struct err *err);
/* Reads a small blob (manifests, configs: at most 16 MiB) into memory. */
int img_blob_read(struct img_store *s, const char *digest, char **ret, size_t *ret_len,
		  struct err *err);
/* The store's root directory (for snapshots and locks). */
const char *img_store_root(const struct img_store *s);

/* ---- manifests, indexes and configs (OCI image-spec, Docker schema 2) ---- */

struct img_platform {
	char *os, *arch, *variant; /* variant may be NULL */
};

struct img_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
	struct img_platform platform; /* in an index; all NULL otherwise */
	char **urls;                  /* foreign layers; NULL-terminated, may be NULL */
};

struct img_manifest {
	char *media_type; /* OCI or Docker manifest */
	struct img_descriptor config;
	struct img_descriptor *layers;
	size_t n_layers;
};

struct img_index {
	char *media_type; /* OCI index or Docker manifest list */
	struct img_descriptor *manifests;
	size_t n;
};

/* True for an index / manifest list media type. */
bool img_media_is_index(const char *media_type);
/*
 * The media type of a manifest document: its mediaType field, else guessed from its
 * shape (manifests[] → OCI index, layers[] → OCI manifest). EINVAL if neither.
 */
int img_media_type_of(const char *text, size_t len, char **ret, struct err *err);
int img_manifest_parse(const char *text, size_t len, struct img_manifest **ret, struct err *err);
void img_manifest_free(struct img_manifest *m);
int img_index_parse(const char *text, size_t len, struct img_index **ret, struct err *err);
void img_index_free(struct img_index *ix);
/* Parses "os/arch[/variant]" (default: the host's, linux/amd64 here). */
int img_platform_parse(const char *s, struct img_platform *ret, struct err *err);
void img_platform_done(struct img_platform *p);
/* The index entry for @want (arm64 matches v8 if no variant asked). ENOENT names the platforms. */
int img_index_select(const struct img_index *ix, const struct img_platform *want,
		     const struct img_descriptor **ret, struct err *err);

struct img_config {
	struct img_platform platform;
	char *created;
	char *user, *workdir;
	char **env, **entrypoint, **cmd; /* NULL-terminated; may be NULL */
	char *stop_signal;
	json_t *exposed_ports; /* owned; may be NULL */
	json_t *labels;        /* owned; may be NULL */
	json_t *volumes;       /* owned; may be NULL */
	char **diff_ids;       /* rootfs.diff_ids, NULL-terminated */
	size_t n_diff_ids;
	json_t *history; /* owned; may be NULL */
};

int img_config_parse(const char *text, size_t len, struct img_config **ret, struct err *err);
void img_config_free(struct img_config *c);

/*
 * The image manifest behind @digest: itself, or for an index the entry for @platform
 * (NULL: the host's), falling back to an entry the store has when that one was not
 * pulled. Returns the manifest's text and digest.
 */
int img_manifest_of(struct img_store *s, const char *digest, const char *platform, char **ret_text,
		    size_t *ret_len, char ret_digest[IMG_DIGEST_MAX], struct err *err);

/* ---- layers and snapshots ---- */

enum img_compression { IMG_COMP_NONE, IMG_COMP_GZIP, IMG_COMP_ZSTD };

struct img_unpack_opts {
	bool rootless;     /* device nodes refused, ownership not applied */
	uint64_t max_size; /* of the uncompressed stream; 0: no limit */
	/*
	 * The layers below, top first (directory fds): a parent directory the layer does
	 * not list is created with the attributes it has there, so that overlay shows it
	 * unchanged (a /tmp keeps its sticky bit).
	 */
	const int *lower_fds;
	size_t n_lower;
	/*
	 * Without lower_fds (layers unpacked side by side): the parents created that way are
	 * written here, one path a line, for img_layer_fix_parents() once the lowers exist.
	 */
	FILE *implicit_out;
};

/*
 * Applies one layer (tar, optionally compressed: detected from the stream) read from
 * @layer_fd into the empty directory @dirfd, in overlayfs form: a ".wh.NAME" whiteout
 * becomes a 0:0 character device NAME, an opaque ".wh..wh..opq" marker the
 * trusted.overlay.opaque="y" xattr on its directory. Ownership, modes, xattrs, hardlinks,
 * symlinks, device nodes and timestamps are kept. Entries that would reach outside the
 * directory (".." paths above it, through symlinks, hardlinks to outside) are refused
 * with EPERM and the layer is not applied (the caller removes the directory); a leading
 * "/" is dropped, as docker does. EFBIG past o->max_size, EPROTO for corrupt or truncated input,
 * ENOENT for a hardlink to a missing target, EOPNOTSUPP for a whiteout a rootless caller
 * cannot create. Rootless, the opaque marker is the user.overlay.opaque xattr and
 * ownership is not applied. Sets @ret_diff_id to the sha256 of the uncompressed stream.
 */
int img_layer_apply(int layer_fd, int dirfd, const struct img_unpack_opts *o,
		    char ret_diff_id[IMG_DIGEST_MAX], struct err *err);

/* Gives the parents listed in @list the attributes the layers below have for them. */
int img_layer_fix_parents(int dirfd, FILE *list, const int *lower_fds, size_t n_lower,
			  struct err *err);

/*
 * Makes sure the snapshot for each layer of @m exists (unpacking what is missing, each
 * layer into its own directory keyed by chain id, shared between images) and returns the
 * lower directories top first (a NULL-terminated heap vector of heap strings).
 */
int img_snapshots_prepare(struct img_store *s, const struct img_manifest *m,
			  const struct img_config *c, const struct img_unpack_opts *o,
			  char ***ret_lowers, struct err *err);

/* ---- registry: img_pull() and its options are in image.h ---- */

/* Pushes the local image @local to @dest. */
int img_push(struct img_store *s, const struct img_image *local, const struct img_ref *dest,
	     const struct img_remote_opts *o, struct err *err);
/* Checks credentials against the registry and saves them in the auth file. */
int img_login(const char *registry, const char *user, const char *password,
	      const struct img_remote_opts *o, struct err *err);
int img_logout(const char *registry, const struct img_remote_opts *o, struct err *err);

#endif
