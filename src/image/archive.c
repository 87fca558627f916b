/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Images in and out of files: `skiff image import` (a root file system tarball becomes a
 * one-layer OCI image), `save` (docker-archive, oci-archive, oci-dir) and `load` (any of
 * the three, detected). Archives are streamed through libarchive, never held in memory;
 * every blob entering the store goes through its verifying writer. Called by
 * cmd/cmd_image.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/jx.h"
#include "image/internal.h"
#include "image/libs.h"

#define BUF_SIZE   (128u << 10)
#define META_MAX   (16u << 20) /* manifest.json, index.json and the like */
#define LINK_HOPS  8           /* symlinks followed to a docker archive's file */
#define IMAGES_MAX 1000        /* entries of manifest.json or index.json */
#define TAR_BLOCK  512

#define MT_DOCKER_LAYER_TAR "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_FOREIGN   "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_OCI_NONDIST_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define ANN_REF_NAME        "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD_NAME "io.containerd.image.name"
#define OCI_LAYOUT_CONTENT  "{\"imageLayoutVersion\":\"1.0.0\"}"
#define BLOBS_PREFIX        "blobs/sha256/"
#define IMPORT_CREATED_BY   "skiff image import"

static void ar_read_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static void writer_abortp(struct img_writer **w)
{
	img_writer_abort(*w, true);
}

static void manifest_freep(struct img_manifest **m)
{
	img_manifest_free(*m);
}

static void index_freep(struct img_index **ix)
{
	img_index_free(*ix);
}

static void config_freep(struct img_config **c)
{
	img_config_free(*c);
}

#define cleanup_ar_read  __attribute__((cleanup(ar_read_freep)))
#define cleanup_writer   __attribute__((cleanup(writer_abortp)))
#define cleanup_manifest __attribute__((cleanup(manifest_freep)))
#define cleanup_index    __attribute__((cleanup(index_freep)))
#define cleanup_config   __attribute__((cleanup(config_freep)))

static bool ar_ok(int r)
{
	return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

static const char *ar_msg(struct archive *a)
{
	const char *m = archive_error_string(a);

	return m ? m : "unknown error";
}

/* libarchive's errno, or EINVAL for what it reports as bad data */
static int ar_code(struct archive *a)
{
	int e = archive_errno(a);

	return e > 0 && e != EILSEQ ? e : EINVAL;
}

/* ---- streams ---- */

/* Where a stream's bytes come from: a descriptor, else an archive's current entry. */
struct source {
	int fd;
	struct archive *ar;
	const char *what; /* names the stream in errors */
};

static ssize_t source_read(struct source *src, void *buf, size_t n, struct err *err)
{
	ssize_t k;

	if (src->fd < 0) {
		k = archive_read_data(src->ar, buf, n);
		if (k < 0)
			return err_set(err, ar_code(src->ar), "read '%s': %s", src->what,
				       ar_msg(src->ar));
		return k;
	}
	do
		k = read(src->fd, buf, n);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return err_sys(err, "read '%s'", src->what);
	return k;
}

/* Reads @n bytes, fewer only at the end of the stream. */
static ssize_t source_fill(struct source *src, void *buf, size_t n, struct err *err)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = source_read(src, (char *)buf + got, n - got, err);

		if (k < 0)
			return k;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* The compression of a stream, from its first bytes. */
static int sniff(const unsigned char *p, size_t n, const char *what, enum img_compression *ret,
		 struct err *err)
{
	static const unsigned char gzip[] = {0x1f, 0x8b}, zstd[] = {0x28, 0xb5, 0x2f, 0xfd},
				   xz[] = {0xfd, '7', 'z', 'X', 'Z', 0}, bzip2[] = {'B', 'Z', 'h'};

	*ret = IMG_COMP_NONE;
	if (n >= sizeof(gzip) && !memcmp(p, gzip, sizeof(gzip)))
		*ret = IMG_COMP_GZIP;
	else if (n >= sizeof(zstd) && !memcmp(p, zstd, sizeof(zstd)))
		*ret = IMG_COMP_ZSTD;
	else if ((n >= sizeof(xz) && !memcmp(p, xz, sizeof(xz))) ||
		 (n >= sizeof(bzip2) && !memcmp(p, bzip2, sizeof(bzip2))))
		return err_set(err, EINVAL,
			       "'%s' is compressed with %s: only gzip and zstd are supported", what,
			       p[0] == 'B' ? "bzip2" : "xz");
	return 0;
}

/* A tar header block (by its checksum, which every tar dialect has) or an end block. */
static bool tar_header_valid(const unsigned char *h, size_t n)
{
	unsigned long sum = 0, want = 0;
	size_t i = 148;
	bool zero = true;

	if (n < TAR_BLOCK)
		return false;
	for (size_t k = 0; k < TAR_BLOCK; k++) {
		sum += k >= 148 && k < 156 ? ' ' : h[k];
		zero = zero && h[k] == 0;
	}
	if (zero)
		return true;
	while (i < 156 && (h[i] == ' ' || h[i] == '\0'))
		i++;
	if (i == 156)
		return false;
	while (i < 156 && h[i] >= '0' && h[i] <= '7')
		want = want * 8 + (unsigned long)(h[i++] - '0');
	return sum == want;
}

/* What a sink receives: the decompressed stream. */
typedef int (*sink_fn)(void *data, const void *buf, size_t n, struct err *err);

/*
 * Feeds a compressed stream to libarchive and copies what it reads into a blob writer,
 * so the stored blob holds exactly the bytes decompressed.
 */
struct tee {
	struct source *src;
	struct img_writer *w; /* may be NULL */
	unsigned char *buf;   /* BUF_SIZE */
	size_t pending;       /* bytes at buf's start read before the first call */
	struct err *err;
	bool failed; /* err is set */
};

static ssize_t tee_read(struct archive *a, void *data, const void **ret)
{
	struct tee *t = data;
	ssize_t n = (ssize_t)t->pending;

	(void)a;
	if (t->failed)
		return ARCHIVE_FATAL;
	t->pending = 0;
	if (n == 0)
		n = source_read(t->src, t->buf, BUF_SIZE, t->err);
	if (n > 0 && t->w && img_writer_write(t->w, t->buf, (size_t)n, t->err) < 0)
		n = -1;
	if (n < 0) {
		t->failed = true;
		return ARCHIVE_FATAL;
	}
	*ret = t->buf;
	return n;
}

/* Reads what is left of the stream through the tee (into its writer). */
static int tee_drain(struct tee *t, struct err *err)
{
	const void *p;
	ssize_t n;

	while ((n = tee_read(NULL, t, &p)) > 0)
		;
	return n < 0 ? -err->code : 0;
}

/* Decompresses the gzip or zstd stream @t reads into @sink. */
static int decompress(struct tee *t, sink_fn sink, void *data, struct err *err)
{
	cleanup_ar_read struct archive *a = archive_read_new();
	cleanup_free char *out = xmalloc(BUF_SIZE);
	struct archive_entry *e;
	ssize_t n;
	int r;

	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_raw(a);
	r = archive_read_open(a, t, NULL, tee_read, NULL);
	if (ar_ok(r))
		r = archive_read_next_header(a, &e);
	if (r == ARCHIVE_EOF)
		return 0;
	while (ar_ok(r)) {
		n = archive_read_data(a, out, BUF_SIZE);
		if (n == 0)
			return 0;
		if (n < 0)
			break;
		if (sink(data, out, (size_t)n, err) < 0)
			return -err->code;
	}
	if (t->failed)
		return -err->code;
	return err_set(err, ar_code(a), "decompress '%s': %s", t->src->what, ar_msg(a));
}

/* Hashes and counts a decompressed stream, keeping its first block. */
struct tar_hash {
	struct img_hash *h;
	int64_t size;
	unsigned char head[TAR_BLOCK];
	size_t nhead;
};

static int tar_hash_sink(void *data, const void *buf, size_t n, struct err *err)
{
	struct tar_hash *th = data;
	size_t k = n < TAR_BLOCK - th->nhead ? n : TAR_BLOCK - th->nhead;

	(void)err;
	memcpy(th->head + th->nhead, buf, k);
	th->nhead += k;
	img_hash_update(th->h, buf, n);
	th->size += (int64_t)n;
	return 0;
}

static void tar_hash_done(struct tar_hash *th, char out[IMG_DIGEST_MAX])
{
	char sink[IMG_DIGEST_MAX];

	if (th->h)
		img_hash_final(th->h, out ? out : sink);
	th->h = NULL;
}

/* ---- layers into the store ---- */

struct layer_blob {
	char digest[IMG_DIGEST_MAX];
	char diff_id[IMG_DIGEST_MAX]; /* of the uncompressed tar */
	int64_t size;
	enum img_compression comp;
};

static const char *layer_media_type(enum img_compression c)
{
	return c == IMG_COMP_GZIP   ? IMG_MT_OCI_LAYER_GZIP
	       : c == IMG_COMP_ZSTD ? IMG_MT_OCI_LAYER_ZSTD
				    : IMG_MT_OCI_LAYER;
}

static int ingest_compressed(struct tee *t, struct layer_blob *ret, struct err *err)
{
	struct tar_hash th = {.h = img_hash_new()};
	int r;

	r = decompress(t, tar_hash_sink, &th, err);
	if (r == 0 && !tar_header_valid(th.head, th.nhead))
		r = err_set(err, EINVAL, "'%s' does not hold a tar archive", t->src->what);
	/* the compressed stream may go on after the end libarchive needed */
	if (r == 0)
		r = tee_drain(t, err);
	tar_hash_done(&th, r == 0 ? ret->diff_id : NULL);
	return r;
}

/*
 * Stores a layer (tar, gzip or zstd) read from @src as it is, with its digest checked
 * against @expected (may be NULL) and @expected_size (-1: unknown), and computes its
 * diff id. EINVAL if it is not a tar archive.
 */
static int ingest_layer(struct img_store *s, struct source *src, const char *expected,
			int64_t expected_size, struct layer_blob *ret, struct err *err)
{
	cleanup_free unsigned char *buf = xmalloc(BUF_SIZE);
	cleanup_writer struct img_writer *w = NULL;
	struct layer_blob lb = {0};
	struct tee t;
	ssize_t n;

	n = source_fill(src, buf, TAR_BLOCK, err);
	if (n < 0 || sniff(buf, (size_t)n, src->what, &lb.comp, err) < 0)
		return -err->code;
	if (lb.comp == IMG_COMP_NONE && !tar_header_valid(buf, (size_t)n))
		return err_set(err, EINVAL, "'%s' is not a tar archive", src->what);
	if (img_blob_writer(s, expected, expected_size, NULL, &w, err) < 0)
		return -err->code;
	t = (struct tee){.src = src, .w = w, .buf = buf, .pending = (size_t)n, .err = err};
	if (lb.comp == IMG_COMP_NONE ? tee_drain(&t, err) < 0 : ingest_compressed(&t, &lb, err) < 0)
		return -err->code;
	lb.size = img_writer_offset(w);
	if (img_writer_commit(TAKE_PTR(w), lb.digest, err) < 0)
		return -err->code;
	if (lb.comp == IMG_COMP_NONE)
		memcpy(lb.diff_id, lb.digest, IMG_DIGEST_MAX);
	*ret = lb;
	return 0;
}

/* Stores any blob read from @src, checked against @expected and @expected_size if given. */
static int ingest_blob(struct img_store *s, struct source *src, const char *expected,
		       int64_t expected_size, char ret_digest[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_free unsigned char *buf = xmalloc(BUF_SIZE);
	cleanup_writer struct img_writer *w = NULL;
	struct tee t = {.src = src, .buf = buf, .err = err};

	if (img_blob_writer(s, expected, expected_size, NULL, &w, err) < 0)
		return -err->code;
	t.w = w;
	if (tee_drain(&t, err) < 0)
		return -err->code;
	return img_writer_commit(TAKE_PTR(w), ret_digest, err);
}

/* ---- documents ---- */

static json_t *descriptor_json(const char *media_type, const char *digest, int64_t size)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t)size);
}

static char *json_text(const json_t *doc)
{
	char *text = jdump_s(doc, JSON_COMPACT);

	/* jansson fails only on allocation or on invalid UTF-8, which no caller builds */
	if (!text)
		abort();
	return text;
}

static int put_json(struct img_store *s, const json_t *doc, char ret_digest[IMG_DIGEST_MAX],
		    int64_t *ret_size, struct err *err)
{
	cleanup_free char *text = json_text(doc);

	if (img_blob_put(s, text, strlen(text), ret_digest, err) < 0)
		return -err->code;
	if (ret_size)
		*ret_size = (int64_t)strlen(text);
	return 0;
}

/* Stores an OCI manifest for a config and @layers (takes them, a descriptor array). */
static int put_manifest(struct img_store *s, const char *config_digest, int64_t config_size,
			json_t *layers, char ret_digest[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_json json_t *m = json_pack(
		"{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType", IMG_MT_OCI_MANIFEST,
		"config", descriptor_json(IMG_MT_OCI_CONFIG, config_digest, config_size), "layers",
		layers);

	return put_json(s, m, ret_digest, NULL, err);
}

/* A name as the store keeps it (img_ref_string() form); EINVAL for digest references. */
static int store_name(const char *name, char **ret, struct err *err)
{
	struct img_ref ref = {0};

	if (img_ref_parse(name, &ref, err) < 0)
		return -err->code;
	if (ref.digest) {
		img_ref_done(&ref);
		return err_set(err, EINVAL, "image name '%s': a digest cannot name an image", name);
	}
	*ret = img_ref_string(&ref);
	img_ref_done(&ref);
	return 0;
}

/* ---- import: Dockerfile-like changes to the image config ---- */

/*
 * Splits @s into words at blanks, with "double" and 'single' quotes and backslash
 * escapes as the Dockerfile reads ENV and LABEL.
 */
static int split_words(const char *s, const char *change, char ***ret, struct err *err)
{
	cleanup_strv char **v = xcalloc(1, sizeof(char *));
	cleanup_free char *word = xmalloc(strlen(s) + 1);
	size_t n = 0;

	while (*s) {
		size_t len = 0;
		char quote = 0;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
			if (quote && *s == quote)
				quote = 0;
			else if (!quote && (*s == '"' || *s == '\''))
				quote = *s;
			else if (*s == '\\' && quote != '\'' && s[1])
				word[len++] = *++s;
			else
				word[len++] = *s;
		}
		if (quote)
			return err_set(err, EINVAL, "change '%s': unterminated %c quote", change,
				       quote);
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrndup(word, len);
		v[n] = NULL;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

/* CMD and ENTRYPOINT: a JSON array of strings, else the shell form. */
static json_t *command_json(const char *args)
{
	json_t *j = jload_s(args, JSON_REJECT_DUPLICATES, NULL);
	size_t i;
	json_t *v;

	if (json_is_array(j)) {
		json_array_foreach (j, i, v)
			if (!json_is_string(v))
				break;
		if (i == json_array_size(j))
			return j;
	}
	json_decref(j);
	return json_pack("[s, s, s]", "/bin/sh", "-c", args);
}

static void env_set(json_t *cfg, const char *key, size_t klen, const char *value)
{
	cleanup_free char *kv = xasprintf("%.*s=%s", (int)klen, key, value);
	json_t *env = json_object_get(cfg, "Env");
	size_t i;
	json_t *v;

	if (!env) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	json_array_foreach (env, i, v) {
		const char *old = json_string_value(v);

		if (old && !strncmp(old, key, klen) && old[klen] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static int change_env(json_t *cfg, const char *args, const char *change, struct err *err)
{
	cleanup_strv char **words = NULL;
	const char *eq;
	size_t klen;

	klen = strcspn(args, " \t=");
	if (args[klen] != '=') {
		/* the old form: ENV KEY the rest of the line */
		const char *value = args + klen;

		while (isspace((unsigned char)*value))
			value++;
		if (!*value)
			return err_set(err, EINVAL, "change '%s': ENV needs KEY=VALUE", change);
		env_set(cfg, args, klen, value);
		return 0;
	}
	if (split_words(args, change, &words, err) < 0)
		return -err->code;
	for (char **w = words; *w; w++) {
		eq = strchr(*w, '=');
		if (!eq || eq == *w)
			return err_set(err, EINVAL, "change '%s': '%s' is not KEY=VALUE", change,
				       *w);
		env_set(cfg, *w, (size_t)(eq - *w), eq + 1);
	}
	return 0;
}

static int change_label(json_t *cfg, const char *args, const char *change, struct err *err)
{
	cleanup_strv char **words = NULL;
	json_t *labels = json_object_get(cfg, "Labels");

	if (split_words(args, change, &words, err) < 0)
		return -err->code;
	if (!words[0])
		return err_set(err, EINVAL, "change '%s': LABEL needs KEY=VALUE", change);
	if (!labels) {
		labels = json_object();
		json_object_set_new(cfg, "Labels", labels);
	}
	for (char **w = words; *w; w++) {
		char *eq = strchr(*w, '=');

		if (!eq || eq == *w)
			return err_set(err, EINVAL, "change '%s': '%s' is not KEY=VALUE", change,
				       *w);
		*eq = '\0';
		json_object_set_new(labels, *w, json_string(eq + 1));
	}
	return 0;
}

static bool port_parse(const char *s, size_t n, unsigned *ret)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*ret = v;
	return v >= 1 && v <= 65535;
}

/* EXPOSE PORT[-PORT][/tcp|udp|sctp]...: "PORT/proto" keys of ExposedPorts. */
static int change_expose(json_t *cfg, const char *args, const char *change, struct err *err)
{
	cleanup_strv char **words = NULL;
	json_t *ports = json_object_get(cfg, "ExposedPorts");

	if (split_words(args, change, &words, err) < 0)
		return -err->code;
	if (!words[0])
		return err_set(err, EINVAL, "change '%s': EXPOSE needs a port", change);
	if (!ports) {
		ports = json_object();
		json_object_set_new(cfg, "ExposedPorts", ports);
	}
	for (char **w = words; *w; w++) {
		const char *slash = strchr(*w, '/'), *proto = slash ? slash + 1 : "tcp";
		size_t n = slash ? (size_t)(slash - *w) : strlen(*w), dash = strcspn(*w, "-");
		unsigned lo = 0, hi = 0;
		bool ok;

		if (dash < n) {
			ok = port_parse(*w, dash, &lo) &&
			     port_parse(*w + dash + 1, n - dash - 1, &hi) && lo <= hi;
		} else {
			ok = port_parse(*w, n, &lo);
			hi = lo;
		}
		if (!ok)
			return err_set(err, EINVAL, "change '%s': invalid port '%s'", change, *w);
		if (strcasecmp(proto, "tcp") && strcasecmp(proto, "udp") &&
		    strcasecmp(proto, "sctp"))
			return err_set(err, EINVAL,
				       "change '%s': invalid protocol '%s' (tcp, udp or sctp)",
				       change, proto);
		for (unsigned p = lo; p <= hi; p++) {
			cleanup_free char *key = xasprintf("%u/%s", p, proto);

			for (char *c = key; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			json_object_set_new(ports, key, json_object());
		}
	}
	return 0;
}

static int change_workdir(json_t *cfg, const char *args, const char *change, struct err *err)
{
	const char *old = json_string_value(json_object_get(cfg, "WorkingDir"));
	cleanup_free char *path = NULL;

	if (!*args)
		return err_set(err, EINVAL, "change '%s': WORKDIR needs a path", change);
	/* relative to the one before, as in a Dockerfile */
	path = args[0] == '/' ? xstrdup(args)
			      : xasprintf("%s/%s", old && strcmp(old, "/") ? old : "", args);
	json_object_set_new(cfg, "WorkingDir", json_string(path));
	return 0;
}

/* Applies one "INSTRUCTION arguments" to the "config" object of an image config. */
static int apply_change(json_t *cfg, const char *change, struct err *err)
{
	cleanup_free char *args = NULL;
	const char *p = change;
	json_t *utf8 = json_string(change);
	size_t klen, alen;

	/* jansson keeps only UTF-8: check once here rather than at every json_string() */
	if (!utf8)
		return err_set(err, EINVAL, "change '%s': not valid UTF-8", change);
	json_decref(utf8);
	while (isspace((unsigned char)*p))
		p++;
	klen = strcspn(p, " \t");
	args = xstrdup(p + klen + strspn(p + klen, " \t"));
	alen = strlen(args);
	while (alen > 0 && isspace((unsigned char)args[alen - 1]))
		args[--alen] = '\0';
#define IS(word) (klen == strlen(word) && !strncasecmp(p, word, klen))
	if (IS("CMD") || IS("ENTRYPOINT")) {
		if (!*args)
			return err_set(err, EINVAL, "change '%s': %.*s needs a command", change,
				       (int)klen, p);
		json_object_set_new(cfg, IS("CMD") ? "Cmd" : "Entrypoint", command_json(args));
		return 0;
	}
	if (IS("ENV"))
		return change_env(cfg, args, change, err);
	if (IS("LABEL"))
		return change_label(cfg, args, change, err);
	if (IS("EXPOSE"))
		return change_expose(cfg, args, change, err);
	if (IS("WORKDIR"))
		return change_workdir(cfg, args, change, err);
	if (IS("USER")) {
		if (!*args)
			return err_set(err, EINVAL, "change '%s': USER needs a user", change);
		json_object_set_new(cfg, "User", json_string(args));
		return 0;
	}
#undef IS
	return err_set(err, EINVAL,
		       "change '%s': unsupported instruction '%.*s' (CMD, ENTRYPOINT, ENV, "
		       "EXPOSE, LABEL, USER and WORKDIR are)",
		       change, (int)klen, p);
}

/*
 * config.md: platform, created, the changes, history; rootfs.diff_ids stays empty for the
 * caller. Built before the tarball is read, so bad options cost nothing.
 */
static int import_config(const struct img_import_opts *o, json_t **ret, struct err *err)
{
	cleanup_json json_t *doc = NULL, *cfg = json_object();
	cleanup_free char *created = clock_rfc3339(NULL);
	struct img_platform plat = {0};

	for (char **c = o ? o->changes : NULL; c && *c; c++)
		if (apply_change(cfg, *c, err) < 0)
			return -err->code;
	if (img_platform_parse(o ? o->platform : NULL, &plat, err) < 0)
		return -err->code;
	doc = json_pack("{s:s, s:s, s:s}", "created", created, "architecture", plat.arch, "os",
			plat.os);
	if (plat.variant)
		json_object_set_new(doc, "variant", json_string(plat.variant));
	img_platform_done(&plat);
	json_object_set_new(doc, "config", TAKE_PTR(cfg));
	json_object_set_new(doc, "rootfs", json_pack("{s:s, s:[]}", "type", "layers", "diff_ids"));
	json_object_set_new(
		doc, "history",
		json_pack("[{s:s, s:s}]", "created", created, "created_by", IMPORT_CREATED_BY));
	*ret = TAKE_PTR(doc);
	return 0;
}

int img_import_rootfs(struct img_store *s, int fd, const char *name,
		      const struct img_import_opts *o, char ret_digest[IMG_DIGEST_MAX],
		      struct err *err)
{
	cleanup_free char *full = NULL;
	cleanup_json json_t *cfg = NULL;
	struct source src = {.fd = fd, .what = "rootfs tarball"};
	struct layer_blob lb;
	char config[IMG_DIGEST_MAX], manifest[IMG_DIGEST_MAX];
	int64_t config_size = 0;

	if (img_libs_archive(err) < 0 || store_name(name, &full, err) < 0)
		return err_wrap(err, "import '%s'", name);
	if (import_config(o, &cfg, err) < 0 || ingest_layer(s, &src, NULL, -1, &lb, err) < 0)
		return err_wrap(err, "import '%s'", full);
	json_array_append_new(json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"),
			      json_string(lb.diff_id));
	if (put_json(s, cfg, config, &config_size, err) < 0 ||
	    put_manifest(s, config, config_size,
			 json_pack("[o]",
				   descriptor_json(layer_media_type(lb.comp), lb.digest, lb.size)),
			 manifest, err) < 0 ||
	    img_tag(s, full, manifest, IMG_MT_OCI_MANIFEST, err) < 0)
		return err_wrap(err, "import '%s'", full);
	memcpy(ret_digest, manifest, IMG_DIGEST_MAX);
	return 0;
}

int img_archive_format_parse(const char *s, enum img_archive_format *ret, struct err *err)
{
	if (!strcmp(s, "docker-archive"))
		*ret = IMG_ARCHIVE_DOCKER;
	else if (!strcmp(s, "oci-archive"))
		*ret = IMG_ARCHIVE_OCI;
	else if (!strcmp(s, "oci-dir"))
		*ret = IMG_ARCHIVE_OCI_DIR;
	else
		return err_set(err, EINVAL,
			       "unknown archive format '%s' (docker-archive, oci-archive or "
			       "oci-dir)",
			       s);
	return 0;
}

/* ---- output: a tar stream or a directory ---- */

struct out {
	struct archive *ar; /* writing a tar; NULL: a directory */
	struct archive_entry *entry;
	int fd;          /* the tar file, or the directory */
	int file;        /* the file being written in the directory */
	char *tmp;       /* the tar's temporary name, renamed over path at the end */
	char *name;      /* the entry being written */
	char *part;      /* its temporary name in the directory */
	int64_t size;    /* of the entry, announced */
	int64_t written; /* of the entry, so far */
	const char *path;
	bool created; /* the directory was made here */
	bool done;
};

static int write_all(int fd, const void *buf, size_t n, const char *what, struct err *err)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return err_sys(err, "write '%s'", what);
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int out_open_tar(struct out *o, const char *path, struct err *err)
{
	const char *slash = strrchr(path, '/');
	int dlen = slash ? (int)(slash - path + 1) : 0;
	struct stat st;

	o->path = path;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(err, EISDIR, "'%s' is a directory", path);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* a device or a pipe (/dev/stdout): written in place */
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
	} else {
		/* a file appears whole or not at all */
		o->tmp = xasprintf("%.*s.%s.tmp-XXXXXX", dlen, path, path + dlen);
		o->fd = mkostemp(o->tmp, O_CLOEXEC);
		if (o->fd < 0) {
			free(o->tmp);
			o->tmp = NULL;
		} else if (fchmod(o->fd, 0644) < 0) {
			return err_sys(err, "chmod '%s'", o->tmp);
		}
	}
	if (o->fd < 0)
		return err_sys(err, "create '%s'", path);
	o->ar = archive_write_new();
	o->entry = archive_entry_new();
	if (archive_write_set_format_pax_restricted(o->ar) != ARCHIVE_OK ||
	    archive_write_add_filter_none(o->ar) != ARCHIVE_OK ||
	    archive_write_open_fd(o->ar, o->fd) != ARCHIVE_OK)
		return err_set(err, ar_code(o->ar), "write '%s': %s", path, ar_msg(o->ar));
	return 0;
}

static int out_open_dir(struct out *o, const char *path, struct err *err)
{
	cleanup_close int dirfd = -1;
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	o->path = path;
	if (mkdir(path, 0755) == 0)
		o->created = true;
	else if (errno != EEXIST)
		return err_sys(err, "create '%s'", path);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_sys(err, "open '%s'", path);
	if (!o->created) {
		fd = dup(dirfd);
		if (fd < 0 || !(d = fdopendir(fd))) {
			if (fd >= 0)
				close(fd);
			return err_sys(err, "read '%s'", path);
		}
		/* writing into a layout someone else keeps would need merging its index.json */
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				return err_set(err, EEXIST, "'%s' exists and is not empty", path);
	}
	/* only now is the directory ours to clean up on failure */
	o->fd = TAKE_FD(dirfd);
	return 0;
}

static int out_begin(struct out *o, const char *name, int64_t size, struct err *err)
{
	free(o->name);
	o->name = xstrdup(name);
	o->size = size;
	o->written = 0;
	if (!o->ar) {
		free(o->part);
		o->part = xasprintf("%s.partial", name);
		o->file = openat(o->fd, o->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o->file < 0)
			return err_sys(err, "create '%s' in '%s'", o->part, o->path);
		return 0;
	}
	archive_entry_clear(o->entry);
	archive_entry_copy_pathname(o->entry, name);
	archive_entry_set_filetype(o->entry, AE_IFREG);
	archive_entry_set_perm(o->entry, 0644);
	archive_entry_set_size(o->entry, size);
	/* no dates: the same images make the same archive */
	archive_entry_set_mtime(o->entry, 0, 0);
	if (!ar_ok(archive_write_header(o->ar, o->entry)))
		return err_set(err, ar_code(o->ar), "write '%s' in '%s': %s", name, o->path,
			       ar_msg(o->ar));
	return 0;
}

static int out_write(struct out *o, const void *buf, size_t n, struct err *err)
{
	if (o->written + (int64_t)n > o->size)
		return err_set(err, EIO, "write '%s' in '%s': more than the %lld bytes announced",
			       o->name, o->path, (long long)o->size);
	o->written += (int64_t)n;
	if (!o->ar)
		return write_all(o->file, buf, n, o->part, err);
	if (archive_write_data(o->ar, buf, n) != (ssize_t)n)
		return err_set(err, ar_code(o->ar), "write '%s' in '%s': %s", o->name, o->path,
			       ar_msg(o->ar));
	return 0;
}

static int out_sink(void *data, const void *buf, size_t n, struct err *err)
{
	return out_write(data, buf, n, err);
}

static int out_end(struct out *o, struct err *err)
{
	int fd;

	/* a blob that changed under us would otherwise leave a corrupt entry */
	if (o->written != o->size)
		return err_set(err, EIO, "write '%s' in '%s': %lld of the %lld bytes announced",
			       o->name, o->path, (long long)o->written, (long long)o->size);
	if (o->ar)
		return 0;
	fd = TAKE_FD(o->file);
	if (close(fd) < 0)
		return err_sys(err, "write '%s' in '%s'", o->part, o->path);
	if (renameat(o->fd, o->part, o->fd, o->name) < 0)
		return err_sys(err, "rename '%s' in '%s'", o->part, o->path);
	return 0;
}

static int out_data(struct out *o, const char *name, const void *buf, size_t n, struct err *err)
{
	if (out_begin(o, name, (int64_t)n, err) < 0 || out_write(o, buf, n, err) < 0)
		return -err->code;
	return out_end(o, err);
}

static int out_dir(struct out *o, const char *name, struct err *err)
{
	if (!o->ar) {
		if (mkdirat(o->fd, name, 0755) < 0 && errno != EEXIST)
			return err_sys(err, "create '%s' in '%s'", name, o->path);
		return 0;
	}
	archive_entry_clear(o->entry);
	archive_entry_copy_pathname(o->entry, name);
	archive_entry_set_filetype(o->entry, AE_IFDIR);
	archive_entry_set_perm(o->entry, 0755);
	archive_entry_set_mtime(o->entry, 0, 0);
	if (!ar_ok(archive_write_header(o->ar, o->entry)))
		return err_set(err, ar_code(o->ar), "write '%s' in '%s': %s", name, o->path,
			       ar_msg(o->ar));
	return 0;
}

/* Copies a blob from the store into the entry @name. */
static int out_blob(struct out *o, struct img_store *s, const char *name, const char *digest,
		    struct err *err)
{
	cleanup_free char *buf = NULL;
	cleanup_close int fd = -1;
	struct source src = {.what = digest};
	struct stat st;
	ssize_t n;

	if (img_blob_open(s, digest, &fd, err) < 0)
		return -err->code;
	if (fstat(fd, &st) < 0)
		return err_sys(err, "stat blob '%s'", digest);
	if (out_begin(o, name, st.st_size, err) < 0)
		return -err->code;
	src.fd = fd;
	buf = xmalloc(BUF_SIZE);
	while ((n = source_read(&src, buf, BUF_SIZE, err)) > 0)
		if (out_write(o, buf, (size_t)n, err) < 0)
			return -err->code;
	if (n < 0)
		return -err->code;
	return out_end(o, err);
}

static int out_finish(struct out *o, struct err *err)
{
	if (!o->ar) {
		if (fsync(o->fd) < 0)
			return err_sys(err, "sync '%s'", o->path);
	} else if (archive_write_close(o->ar) != ARCHIVE_OK) {
		return err_set(err, ar_code(o->ar), "write '%s': %s", o->path, ar_msg(o->ar));
	} else if (o->tmp && fsync(o->fd) < 0) {
		return err_sys(err, "sync '%s'", o->tmp);
	} else if (o->tmp && rename(o->tmp, o->path) < 0) {
		return err_sys(err, "rename '%s' to '%s'", o->tmp, o->path);
	}
	o->done = true;
	return 0;
}

/* Releases @o; unless finished, removes what it wrote. */
static void out_free(struct out *o)
{
	struct err ignored = ERR_INIT;

	if (o->file >= 0)
		close(o->file);
	if (!o->done && !o->ar && o->fd >= 0) {
		if (o->part)
			unlinkat(o->fd, o->part, 0);
		unlinkat(o->fd, "oci-layout", 0);
		unlinkat(o->fd, "index.json", 0);
		fs_remove_tree(o->fd, "blobs", &ignored);
		err_clear(&ignored);
		if (o->created)
			rmdir(o->path);
	}
	/* a failed archive gets no end-of-archive blocks: on a pipe it must not look whole */
	if (o->ar && !o->done)
		archive_write_fail(o->ar);
	if (o->ar)
		archive_write_free(o->ar);
	if (o->entry)
		archive_entry_free(o->entry);
	if (!o->done && o->tmp)
		unlink(o->tmp);
	if (o->fd >= 0)
		close(o->fd);
	free(o->tmp);
	free(o->name);
	free(o->part);
}

/* ---- reading what the store holds ---- */

/* The blob @digest and its media type (@media_type if known, else from its content). */
static int read_doc(struct img_store *s, const char *digest, const char *media_type,
		    char **ret_text, size_t *ret_len, char **ret_mt, struct err *err)
{
	cleanup_free char *text = NULL;
	size_t len;

	if (img_blob_read(s, digest, &text, &len, err) < 0)
		return -err->code;
	if (media_type && *media_type)
		*ret_mt = xstrdup(media_type);
	else if (img_media_type_of(text, len, ret_mt, err) < 0)
		return err_wrap(err, "blob '%s'", digest);
	*ret_text = TAKE_PTR(text);
	*ret_len = len;
	return 0;
}

/* The manifest of an image for this host: its own, or its index's entry for the host. */
static int host_manifest(struct img_store *s, const struct img_image *im, char **ret_text,
			 size_t *ret_len, struct err *err)
{
	cleanup_free char *text = NULL, *mt = NULL;
	cleanup_index struct img_index *ix = NULL;
	struct img_platform host = {0};
	const struct img_descriptor *d;
	size_t len;
	int r;

	if (read_doc(s, im->digest, im->media_type, &text, &len, &mt, err) < 0)
		return -err->code;
	if (!img_media_is_index(mt)) {
		*ret_text = TAKE_PTR(text);
		*ret_len = len;
		return 0;
	}
	if (img_index_parse(text, len, &ix, err) < 0)
		return err_wrap(err, "index '%s'", im->digest);
	if (img_platform_parse(NULL, &host, err) < 0)
		return -err->code;
	r = img_index_select(ix, &host, &d, err);
	img_platform_done(&host);
	if (r < 0)
		return err_wrap(err, "index '%s'", im->digest);
	return img_blob_read(s, d->digest, ret_text, ret_len, err);
}

static const char *hex_of(const char *digest)
{
	return digest + strlen("sha256:");
}

/* ---- save: docker-archive ---- */

/*
 * docker save's layout, the one `docker load` and containers/image read: manifest.json
 * ([{Config, RepoTags, Layers}]), repositories, the config as <hex>.json and each layer
 * uncompressed as <diff id hex>/layer.tar.
 */
struct docker_save {
	json_t *manifest; /* manifest.json */
	json_t *repos;    /* repositories: {repo: {tag: top layer id}} */
	json_t *files;    /* path → {"digest"[, "diff_id" for a layer]}, in writing order */
};

/*
 * Full names ("docker.io/library/busybox:1.36"), as skopeo and podman write them: docker
 * reads them as well, while podman would put a short "busybox:1.36" under localhost/.
 */
static void docker_add_name(struct docker_save *ds, json_t *entry, const char *name,
			    const char *top_layer)
{
	cleanup_free char *repo = NULL;
	struct err err = ERR_INIT;
	struct img_ref ref = {0};
	json_t *repos, *tags, *v;
	size_t i;

	/* a name the store holds always parses with a tag; anything else is left out */
	if (img_ref_parse(name, &ref, &err) < 0 || !ref.tag || ref.digest) {
		err_clear(&err);
		img_ref_done(&ref);
		return;
	}
	tags = json_object_get(entry, "RepoTags");
	json_array_foreach (tags, i, v)
		if (!strcmp(json_string_value(v), name))
			break;
	if (i == json_array_size(tags))
		json_array_append_new(tags, json_string(name));
	repo = xasprintf("%s/%s", ref.domain, ref.path);
	repos = json_object_get(ds->repos, repo);
	if (!repos) {
		repos = json_object();
		json_object_set_new(ds->repos, repo, repos);
	}
	if (top_layer)
		json_object_set_new(repos, ref.tag, json_string(top_layer));
	img_ref_done(&ref);
}

static int docker_plan(struct img_store *s, const struct img_image *im, struct docker_save *ds,
		       struct err *err)
{
	cleanup_free char *mtext = NULL, *ctext = NULL, *config_path = NULL;
	cleanup_manifest struct img_manifest *m = NULL;
	cleanup_config struct img_config *c = NULL;
	cleanup_json json_t *layers = json_array();
	json_t *entry = NULL, *v;
	size_t mlen, clen, i;

	if (host_manifest(s, im, &mtext, &mlen, err) < 0 ||
	    img_manifest_parse(mtext, mlen, &m, err) < 0 ||
	    img_blob_read(s, m->config.digest, &ctext, &clen, err) < 0 ||
	    img_config_parse(ctext, clen, &c, err) < 0)
		return err_wrap(err, "image '%s'", im->name);
	if (c->n_diff_ids != m->n_layers)
		return err_set(err, EINVAL,
			       "image '%s': config '%s' has %zu diff ids for %zu layers", im->name,
			       m->config.digest, c->n_diff_ids, m->n_layers);
	config_path = xasprintf("%s.json", hex_of(m->config.digest));
	json_object_set_new(ds->files, config_path, json_pack("{s:s}", "digest", m->config.digest));
	for (i = 0; i < m->n_layers; i++) {
		cleanup_free char *path = xasprintf("%s/layer.tar", hex_of(c->diff_ids[i]));

		if (!img_blob_exists(s, m->layers[i].digest))
			return err_set(err, ENOENT, "image '%s': layer '%s' is not in the store",
				       im->name, m->layers[i].digest);
		json_array_append_new(layers, json_string(path));
		if (!json_object_get(ds->files, path))
			json_object_set_new(ds->files, path,
					    json_pack("{s:s, s:s}", "digest", m->layers[i].digest,
						      "diff_id", c->diff_ids[i]));
	}
	/* one entry per image, with all its names, as docker writes it */
	json_array_foreach (ds->manifest, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "Config")), config_path))
			entry = v;
	if (!entry) {
		entry = json_pack("{s:s, s:[], s:O}", "Config", config_path, "RepoTags", "Layers",
				  layers);
		json_array_append_new(ds->manifest, entry);
	}
	docker_add_name(ds, entry, im->name,
			m->n_layers ? hex_of(c->diff_ids[m->n_layers - 1]) : NULL);
	return 0;
}

static int docker_write_layer(struct out *o, struct img_store *s, const char *path,
			      const char *digest, const char *diff_id, struct err *err)
{
	cleanup_free unsigned char *buf = xmalloc(BUF_SIZE);
	cleanup_free char *dir = NULL;
	cleanup_close int fd = -1;
	struct source src = {.what = digest};
	struct tar_hash th = {0};
	char got[IMG_DIGEST_MAX];
	enum img_compression comp;
	struct tee t;
	ssize_t n;
	int r;

	/* <diff id hex>/ first, as docker writes it */
	dir = xstrndup(path, strcspn(path, "/"));
	if (out_dir(o, dir, err) < 0 || img_blob_open(s, digest, &fd, err) < 0)
		return -err->code;
	src.fd = fd;
	n = pread(fd, buf, 8, 0);
	if (n < 0)
		return err_sys(err, "read blob '%s'", digest);
	if (sniff(buf, (size_t)n, digest, &comp, err) < 0)
		return -err->code;
	if (comp == IMG_COMP_NONE) {
		if (strcmp(digest, diff_id))
			return err_set(err, EBADMSG,
				       "layer '%s' is an uncompressed tar but not its diff id '%s'",
				       digest, diff_id);
		return out_blob(o, s, path, digest, err);
	}
	/* a tar entry's size comes first: decompress once to learn it, once to write */
	t = (struct tee){.src = &src, .buf = buf, .err = err};
	th.h = img_hash_new();
	r = decompress(&t, tar_hash_sink, &th, err);
	tar_hash_done(&th, got);
	if (r < 0)
		return r;
	if (strcmp(got, diff_id))
		return err_set(err, EBADMSG,
			       "layer '%s' decompresses to '%s', not its diff id '%s'", digest, got,
			       diff_id);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_sys(err, "rewind blob '%s'", digest);
	t = (struct tee){.src = &src, .buf = buf, .err = err};
	if (out_begin(o, path, th.size, err) < 0 || decompress(&t, out_sink, o, err) < 0)
		return -err->code;
	return out_end(o, err);
}

static int docker_write(struct out *o, struct img_store *s, const struct docker_save *ds,
			struct err *err)
{
	cleanup_free char *manifest = json_text(ds->manifest), *repos = json_text(ds->repos);
	const char *path;
	json_t *v;

	json_object_foreach (ds->files, path, v) {
		const char *digest = json_string_value(json_object_get(v, "digest"));
		const char *diff_id = json_string_value(json_object_get(v, "diff_id"));

		if (diff_id ? docker_write_layer(o, s, path, digest, diff_id, err) < 0
			    : out_blob(o, s, path, digest, err) < 0)
			return -err->code;
	}
	if (out_data(o, "manifest.json", manifest, strlen(manifest), err) < 0 ||
	    out_data(o, "repositories", repos, strlen(repos), err) < 0)
		return -err->code;
	return 0;
}

static int save_docker(struct img_store *s, const struct img_image *images, size_t n,
		       const char *path, struct err *err)
{
	struct docker_save ds = {json_array(), json_object(), json_object()};
	struct out o = {.fd = -1, .file = -1};
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++)
		r = docker_plan(s, &images[i], &ds, err);
	if (r == 0)
		r = out_open_tar(&o, path, err);
	if (r == 0)
		r = docker_write(&o, s, &ds, err);
	if (r == 0)
		r = out_finish(&o, err);
	out_free(&o);
	json_decref(ds.manifest);
	json_decref(ds.repos);
	json_decref(ds.files);
	return r;
}

/* ---- save: OCI image layout ---- */

/*
 * image-layout.md: oci-layout, index.json naming each image (ref.name annotation, and
 * containerd's io.containerd.image.name, both the full name) and blobs/sha256/<hex>.
 * Docker manifests and lists are written as their OCI twins, as skopeo and podman do:
 * OCI layout readers (umoci) take OCI media types only. The blobs are the same bytes;
 * the manifest digests then differ from the store's.
 */
struct oci_save {
	json_t *blobs;     /* digest → document text, or null: copied from the store */
	json_t *manifests; /* index.json's */
};

struct desc {
	char media_type[128];
	char digest[IMG_DIGEST_MAX];
	int64_t size;
};

static void desc_set(struct desc *d, const char *media_type, const char *digest, int64_t size)
{
	snprintf(d->media_type, sizeof(d->media_type), "%s", media_type);
	snprintf(d->digest, sizeof(d->digest), "%s", digest);
	d->size = size;
}

static void oci_add_doc(struct oci_save *p, const char *digest, const char *text, size_t len)
{
	json_object_set_new(p->blobs, digest, json_stringn_nocheck(text, len));
}

static const char *oci_layer_type(const char *mt)
{
	if (!strcmp(mt, IMG_MT_DOCKER_LAYER))
		return IMG_MT_OCI_LAYER_GZIP;
	if (!strcmp(mt, MT_DOCKER_LAYER_TAR))
		return IMG_MT_OCI_LAYER;
	if (!strcmp(mt, MT_DOCKER_FOREIGN))
		return MT_OCI_NONDIST_GZIP;
	return mt;
}

/* A Docker schema 2 manifest as an OCI manifest of the same config and layers. */
static char *docker_to_oci(const char *text, size_t len)
{
	cleanup_json json_t *doc = jload_b(text, len, 0, NULL);
	json_t *layers = json_object_get(doc, "layers"), *v;
	size_t i;

	json_object_set_new(doc, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(json_object_get(doc, "config"), "mediaType",
			    json_string(IMG_MT_OCI_CONFIG));
	json_array_foreach (layers, i, v) {
		const char *mt = json_string_value(json_object_get(v, "mediaType"));

		if (mt)
			json_object_set_new(v, "mediaType", json_string(oci_layer_type(mt)));
	}
	return json_text(doc);
}

/* Adds a manifest, its config and layers; ret: the manifest as the layout holds it. */
static int oci_plan_manifest(struct img_store *s, struct oci_save *p, const char *digest,
			     struct desc *ret, struct err *err)
{
	cleanup_manifest struct img_manifest *m = NULL;
	cleanup_free char *text = NULL, *oci = NULL;
	char d[IMG_DIGEST_MAX];
	size_t len;

	if (img_blob_read(s, digest, &text, &len, err) < 0)
		return -err->code;
	if (img_manifest_parse(text, len, &m, err) < 0)
		return err_wrap(err, "manifest '%s'", digest);
	if (!img_blob_exists(s, m->config.digest))
		return err_set(err, ENOENT, "config '%s' is not in the store", m->config.digest);
	json_object_set_new(p->blobs, m->config.digest, json_null());
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct img_descriptor *l = &m->layers[i];

		if (img_blob_exists(s, l->digest))
			json_object_set_new(p->blobs, l->digest, json_null());
		else if (!l->urls) /* a foreign layer stays out, as its media type says */
			return err_set(err, ENOENT, "layer '%s' is not in the store", l->digest);
	}
	if (strcmp(m->media_type, IMG_MT_DOCKER_MANIFEST)) {
		oci_add_doc(p, digest, text, len);
		desc_set(ret, m->media_type, digest, (int64_t)len);
		return 0;
	}
	oci = docker_to_oci(text, len);
	img_digest_of(oci, strlen(oci), d);
	oci_add_doc(p, d, oci, strlen(oci));
	desc_set(ret, IMG_MT_OCI_MANIFEST, d, (int64_t)strlen(oci));
	return 0;
}

/* True when the store holds the manifest @digest and everything it needs. */
static bool manifest_complete(struct img_store *s, const char *digest)
{
	cleanup_manifest struct img_manifest *m = NULL;
	cleanup_free char *text = NULL;
	struct err err = ERR_INIT;
	size_t len;
	bool ok;

	ok = img_blob_read(s, digest, &text, &len, &err) == 0 &&
	     img_manifest_parse(text, len, &m, &err) == 0 && img_blob_exists(s, m->config.digest);
	for (size_t i = 0; ok && i < m->n_layers; i++)
		ok = img_blob_exists(s, m->layers[i].digest) || m->layers[i].urls;
	err_clear(&err);
	return ok;
}

/*
 * Adds an index with every manifest it lists; when the store lacks some (a pull takes
 * one platform), only the host's manifest, which is what the store can stand for.
 */
static int oci_plan_index(struct img_store *s, struct oci_save *p, const char *digest,
			  const char *text, size_t len, const char *mt, struct desc *ret,
			  struct err *err)
{
	cleanup_index struct img_index *ix = NULL;
	cleanup_json json_t *doc = NULL;
	cleanup_free char *out = NULL;
	struct img_platform host = {0};
	const struct img_descriptor *d;
	bool complete = true, changed = strcmp(mt, IMG_MT_OCI_INDEX) != 0;
	json_t *v;
	size_t i;
	int r;

	if (img_index_parse(text, len, &ix, err) < 0)
		return err_wrap(err, "index '%s'", digest);
	for (i = 0; i < ix->n && complete; i++)
		complete = !img_media_is_index(ix->manifests[i].media_type) &&
			   manifest_complete(s, ix->manifests[i].digest);
	if (!complete) {
		if (img_platform_parse(NULL, &host, err) < 0)
			return -err->code;
		r = img_index_select(ix, &host, &d, err);
		img_platform_done(&host);
		if (r < 0)
			return err_wrap(err, "index '%s'", digest);
		return oci_plan_manifest(s, p, d->digest, ret, err);
	}
	doc = jload_b(text, len, 0, NULL);
	json_array_foreach (json_object_get(doc, "manifests"), i, v) {
		struct desc cd;

		if (oci_plan_manifest(s, p, ix->manifests[i].digest, &cd, err) < 0)
			return -err->code;
		if (!strcmp(cd.digest, ix->manifests[i].digest))
			continue;
		json_object_set_new(v, "mediaType", json_string(cd.media_type));
		json_object_set_new(v, "digest", json_string(cd.digest));
		json_object_set_new(v, "size", json_integer(cd.size));
		changed = true;
	}
	if (!changed) {
		oci_add_doc(p, digest, text, len);
		desc_set(ret, mt, digest, (int64_t)len);
		return 0;
	}
	json_object_set_new(doc, "mediaType", json_string(IMG_MT_OCI_INDEX));
	out = json_text(doc);
	desc_set(ret, IMG_MT_OCI_INDEX, "", (int64_t)strlen(out));
	img_digest_of(out, strlen(out), ret->digest);
	oci_add_doc(p, ret->digest, out, strlen(out));
	return 0;
}

static int oci_plan(struct img_store *s, const struct img_image *im, struct oci_save *p,
		    struct err *err)
{
	cleanup_free char *text = NULL, *mt = NULL;
	struct desc d;
	size_t len;
	int r;

	r = read_doc(s, im->digest, im->media_type, &text, &len, &mt, err);
	if (r == 0)
		r = img_media_is_index(mt)
			    ? oci_plan_index(s, p, im->digest, text, len, mt, &d, err)
			    : oci_plan_manifest(s, p, im->digest, &d, err);
	if (r < 0)
		return err_wrap(err, "image '%s'", im->name);
	json_array_append_new(p->manifests,
			      json_pack("{s:s, s:s, s:I, s:{s:s, s:s}}", "mediaType", d.media_type,
					"digest", d.digest, "size", (json_int_t)d.size,
					"annotations", ANN_CONTAINERD_NAME, im->name, ANN_REF_NAME,
					im->name));
	return 0;
}

static int oci_write(struct out *o, struct img_store *s, const struct oci_save *p, struct err *err)
{
	cleanup_json json_t *index = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
					       IMG_MT_OCI_INDEX, "manifests", p->manifests);
	cleanup_free char *text = json_text(index);
	const char *digest;
	json_t *v;

	if (out_data(o, "oci-layout", OCI_LAYOUT_CONTENT, strlen(OCI_LAYOUT_CONTENT), err) < 0 ||
	    out_dir(o, "blobs", err) < 0 || out_dir(o, "blobs/sha256", err) < 0)
		return -err->code;
	json_object_foreach (p->blobs, digest, v) {
		cleanup_free char *name = xasprintf(BLOBS_PREFIX "%s", hex_of(digest));
		int r = json_is_string(v) ? out_data(o, name, json_string_value(v),
						     json_string_length(v), err)
					  : out_blob(o, s, name, digest, err);

		if (r < 0)
			return r;
	}
	/* last: a layout directory is complete once it has index.json */
	return out_data(o, "index.json", text, strlen(text), err);
}

static int save_oci(struct img_store *s, const struct img_image *images, size_t n, bool dir,
		    const char *path, struct err *err)
{
	struct oci_save p = {json_object(), json_array()};
	struct out o = {.fd = -1, .file = -1};
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++)
		r = oci_plan(s, &images[i], &p, err);
	if (r == 0)
		r = dir ? out_open_dir(&o, path, err) : out_open_tar(&o, path, err);
	if (r == 0)
		r = oci_write(&o, s, &p, err);
	if (r == 0)
		r = out_finish(&o, err);
	out_free(&o);
	json_decref(p.blobs);
	json_decref(p.manifests);
	return r;
}

int img_save(struct img_store *s, const struct img_image *images, size_t n,
	     enum img_archive_format format, const char *path, struct err *err)
{
	int r;

	if (n == 0)
		return err_set(err, EINVAL, "save '%s': no images given", path);
	if (img_libs_archive(err) < 0)
		return err_wrap(err, "save '%s'", path);
	if (format == IMG_ARCHIVE_DOCKER)
		r = save_docker(s, images, n, path, err);
	else
		r = save_oci(s, images, n, format == IMG_ARCHIVE_OCI_DIR, path, err);
	return r < 0 ? err_wrap(err, "save '%s'", path) : 0;
}

/* ---- load ---- */

/* Images found, named once all of them are in the store. */
struct loaded {
	json_t *named;   /* [[name, digest, mediaType]] */
	json_t *unnamed; /* [[digest, mediaType]] */
};

static void loaded_add(struct loaded *l, const char *name, const char *digest, const char *mt)
{
	if (name)
		json_array_append_new(l->named, json_pack("[s, s, s]", name, digest, mt));
	else
		json_array_append_new(l->unnamed, json_pack("[s, s]", digest, mt));
}

/*
 * @p (relative to the archive directory @dir, or to the top when @dir is NULL or @p
 * starts with '/') without empty, "." and ".." components; NULL when it climbs out of
 * the archive or names its top.
 */
static char *clean_path(const char *dir, const char *p)
{
	cleanup_free char *joined = dir && *p != '/' ? xasprintf("%s/%s", dir, p) : xstrdup(p);
	cleanup_free char *out = xmalloc(strlen(joined) + 1);
	char *save = NULL;
	size_t n = 0;

	for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			if (n == 0)
				return NULL;
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n)
			out[n++] = '/';
		memcpy(out + n, c, strlen(c));
		n += strlen(c);
	}
	if (n == 0)
		return NULL;
	out[n] = '\0';
	return TAKE_PTR(out);
}

/* "blobs/sha256/<hex>" → "sha256:<hex>"; false for other paths. */
static bool blob_path_digest(const char *path, char out[IMG_DIGEST_MAX])
{
	if (strncmp(path, BLOBS_PREFIX, strlen(BLOBS_PREFIX)))
		return false;
	snprintf(out, IMG_DIGEST_MAX, "sha256:%.70s", path + strlen(BLOBS_PREFIX));
	return img_digest_valid(out);
}

static int tar_open(int fd, const char *path, struct archive **ret, struct err *err)
{
	struct archive *a;
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_sys(err, "rewind '%s'", path);
	a = archive_read_new();
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, BUF_SIZE) != ARCHIVE_OK) {
		r = err_set(err, ar_code(a), "read '%s': %s", path, ar_msg(a));
		archive_read_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

/*
 * The next entry and its clean path (NULL for paths to ignore): 1, or 0 at the end.
 */
static int tar_next(struct archive *a, const char *path, struct archive_entry **ret,
		    char **ret_name, struct err *err)
{
	int r = archive_read_next_header(a, ret);

	if (r == ARCHIVE_EOF)
		return 0;
	if (!ar_ok(r))
		return err_set(err, ar_code(a), "read '%s': %s", path, ar_msg(a));
	*ret_name = clean_path(NULL, archive_entry_pathname(*ret) ?: "");
	return 1;
}

/* What the first pass over a tar finds: the documents that say what it is. */
struct scan {
	char *manifest_json, *index_json, *oci_layout;
	size_t manifest_len, index_len, oci_layout_len;
	json_t *links; /* path → the path it stands for (symlinks and hard links) */
};

static void scan_done(struct scan *sc)
{
	free(sc->manifest_json);
	free(sc->index_json);
	free(sc->oci_layout);
	json_decref(sc->links);
}

static int read_meta(struct archive *a, struct archive_entry *e, const char *name, char **ret,
		     size_t *ret_len, struct err *err)
{
	int64_t size = archive_entry_size(e);
	struct source src = {.fd = -1, .ar = a, .what = name};
	cleanup_free char *buf = NULL;
	ssize_t n;

	if (size < 0 || size > (int64_t)META_MAX)
		return err_set(err, EFBIG, "'%s': %lld bytes is too large", name, (long long)size);
	buf = xmalloc((size_t)size + 1);
	n = source_fill(&src, buf, (size_t)size, err);
	if (n < 0)
		return -err->code;
	buf[n] = '\0';
	free(*ret);
	*ret = TAKE_PTR(buf);
	*ret_len = (size_t)n;
	return 0;
}

static void scan_link(struct scan *sc, struct archive_entry *e, const char *name)
{
	const char *hard = archive_entry_hardlink(e);
	cleanup_free char *dir = xstrdup(name), *target = NULL;
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
	if (hard)
		target = clean_path(NULL, hard);
	else if (archive_entry_filetype(e) == AE_IFLNK && archive_entry_symlink(e))
		target = clean_path(slash ? dir : NULL, archive_entry_symlink(e));
	if (target)
		json_object_set_new(sc->links, name, json_string(target));
}

static int scan_tar(int fd, const char *path, struct scan *sc, struct err *err)
{
	cleanup_ar_read struct archive *a = NULL;
	struct archive_entry *e;
	int r;

	if (tar_open(fd, path, &a, err) < 0)
		return -err->code;
	for (;;) {
		cleanup_free char *name = NULL;

		r = tar_next(a, path, &e, &name, err);
		if (r <= 0)
			return r;
		if (!name)
			continue;
		if (archive_entry_hardlink(e) || archive_entry_filetype(e) == AE_IFLNK)
			scan_link(sc, e, name);
		else if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		else if (!strcmp(name, "manifest.json"))
			r = read_meta(a, e, name, &sc->manifest_json, &sc->manifest_len, err);
		else if (!strcmp(name, "index.json"))
			r = read_meta(a, e, name, &sc->index_json, &sc->index_len, err);
		else if (!strcmp(name, "oci-layout"))
			r = read_meta(a, e, name, &sc->oci_layout, &sc->oci_layout_len, err);
		if (r < 0)
			return r;
	}
}

/* Follows the archive's links from @p to the entry holding the data. */
static char *resolve_link(const json_t *links, const char *p)
{
	char *cur = clean_path(NULL, p);

	for (int hop = 0; cur && hop < LINK_HOPS; hop++) {
		const char *next = json_string_value(json_object_get(links, cur));

		if (!next)
			break;
		free(cur);
		cur = xstrdup(next);
	}
	return cur;
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n <= 128 && (isalnum((unsigned char)t[0]) || t[0] == '_') &&
	       strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* The archive's file name as a repository name: "/tmp/My App.tar" → "my-app". */
static char *archive_stem(const char *path)
{
	static const char *const suffixes[] = {".tar.gz", ".tar.zst", ".tar.zstd", ".tar.xz",
					       ".tgz",    ".tar",     ".oci"};
	cleanup_free char *copy = xstrdup(path);
	size_t len = strlen(copy), a = 0, b;
	char *base, *slash;

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	len = strlen(base);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t k = strlen(suffixes[i]);

		if (len > k && !strcasecmp(base + len - k, suffixes[i])) {
			base[len - k] = '\0';
			break;
		}
	}
	for (char *c = base; *c; c++)
		*c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '-';
	b = strlen(base);
	while (base[a] == '-')
		a++;
	while (b > a && base[b - 1] == '-')
		b--;
	return b > a ? xstrndup(base + a, b - a) : xstrdup("image");
}

/*
 * An OCI index.json entry's name: containerd's io.containerd.image.name, else the
 * ref.name annotation when it is a name ("busybox:1.36", "quay.io/a/b"), else a bare tag
 * ("1.36", "latest") under "localhost/<archive stem>". NULL: no name.
 */
static int oci_entry_name(const json_t *desc, const char *stem, char **ret, struct err *err)
{
	const json_t *ann = json_object_get(desc, "annotations");
	const char *full = json_string_value(json_object_get(ann, ANN_CONTAINERD_NAME));
	const char *ref = json_string_value(json_object_get(ann, ANN_REF_NAME));
	cleanup_free char *local = NULL;

	*ret = NULL;
	if (full && *full)
		return store_name(full, ret, err);
	if (!ref || !*ref)
		return 0;
	if (strpbrk(ref, "/:@"))
		return store_name(ref, ret, err);
	if (!tag_valid(ref))
		return err_set(
			err, EINVAL,
			"annotation " ANN_REF_NAME " '%s' is neither an image name nor a tag", ref);
	local = xasprintf("localhost/%s:%s", stem, ref);
	return store_name(local, ret, err);
}

/* An OCI layout's blobs: in a directory, else already copied into the store. */
struct layout {
	int dirfd; /* -1: an archive */
	const char *path;
};

static bool layout_has(struct img_store *s, const struct layout *l, const char *digest)
{
	cleanup_free char *name = NULL;

	if (img_blob_exists(s, digest) || l->dirfd < 0)
		return img_blob_exists(s, digest);
	name = xasprintf(BLOBS_PREFIX "%s", hex_of(digest));
	return faccessat(l->dirfd, name, F_OK, 0) == 0;
}

/* Makes sure the store has @digest, copying (and verifying) it from the layout. */
static int layout_fetch(struct img_store *s, const struct layout *l, const char *digest,
			int64_t size, struct err *err)
{
	cleanup_free char *name = NULL;
	cleanup_close int fd = -1;
	char got[IMG_DIGEST_MAX];
	struct source src = {.fd = -1};

	if (!img_digest_valid(digest))
		return err_set(err, EINVAL, "invalid digest '%s'", digest);
	if (img_blob_exists(s, digest))
		return 0;
	if (l->dirfd < 0)
		return err_set(err, ENOENT, "blob '%s' is not in the archive", digest);
	name = xasprintf(BLOBS_PREFIX "%s", hex_of(digest));
	fd = openat(l->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT
			       ? err_set(err, ENOENT, "blob '%s' is not in '%s'", digest, l->path)
			       : err_sys(err, "open '%s' in '%s'", name, l->path);
	src.fd = fd;
	src.what = name;
	return ingest_blob(s, &src, digest, size, got, err);
}

static int load_manifest_tree(struct img_store *s, const struct layout *l, const char *digest,
			      int64_t size, struct err *err)
{
	cleanup_manifest struct img_manifest *m = NULL;
	cleanup_free char *text = NULL;
	size_t len;

	if (layout_fetch(s, l, digest, size, err) < 0 ||
	    img_blob_read(s, digest, &text, &len, err) < 0)
		return -err->code;
	if (img_manifest_parse(text, len, &m, err) < 0)
		return err_wrap(err, "manifest '%s'", digest);
	if (layout_fetch(s, l, m->config.digest, m->config.size, err) < 0)
		return -err->code;
	for (size_t i = 0; i < m->n_layers; i++) {
		const struct img_descriptor *d = &m->layers[i];

		/* a foreign (non-distributable) layer may be left out */
		if (d->urls && !layout_has(s, l, d->digest))
			continue;
		if (layout_fetch(s, l, d->digest, d->size, err) < 0)
			return -err->code;
	}
	return 0;
}

/* An index with the manifests the layout has (containerd exports one platform's). */
static int load_index_tree(struct img_store *s, const struct layout *l, const char *digest,
			   const char *text, size_t len, struct err *err)
{
	cleanup_index struct img_index *ix = NULL;
	size_t loaded = 0;

	if (img_index_parse(text, len, &ix, err) < 0)
		return err_wrap(err, "index '%s'", digest);
	for (size_t i = 0; i < ix->n; i++) {
		const struct img_descriptor *d = &ix->manifests[i];

		if (!layout_has(s, l, d->digest))
			continue;
		if (img_media_is_index(d->media_type))
			return err_set(err, EINVAL, "index '%s': nested indexes are not supported",
				       digest);
		if (load_manifest_tree(s, l, d->digest, d->size, err) < 0)
			return -err->code;
		loaded++;
	}
	if (!loaded)
		return err_set(err, ENOENT, "index '%s': none of its manifests is in the layout",
			       digest);
	return 0;
}

static int load_oci_entry(struct img_store *s, const struct layout *l, const json_t *v,
			  const char *stem, struct loaded *ld, struct err *err)
{
	cleanup_free char *text = NULL, *mt = NULL, *name = NULL;
	const char *digest = NULL, *dmt = NULL;
	int64_t size = -1;
	size_t len;

	if (jx_str(v, "", "digest", &digest, err) < 0 ||
	    jx_str(v, "", "mediaType", &dmt, err) < 0 || jx_int(v, "", "size", &size, err) < 0)
		return -err->code;
	if (!digest)
		return err_set(err, EINVAL, "digest: missing");
	if (layout_fetch(s, l, digest, size, err) < 0 ||
	    read_doc(s, digest, dmt, &text, &len, &mt, err) < 0)
		return -err->code;
	if (img_media_is_index(mt) ? load_index_tree(s, l, digest, text, len, err) < 0
				   : load_manifest_tree(s, l, digest, size, err) < 0)
		return -err->code;
	if (oci_entry_name(v, stem, &name, err) < 0)
		return -err->code;
	loaded_add(ld, name, digest, mt);
	return 0;
}

static int layout_version_check(const char *text, size_t len, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	const char *v = NULL;

	if (jx_parse(text, len, "oci-layout", &doc, err) < 0 ||
	    jx_str(doc, "oci-layout", "imageLayoutVersion", &v, err) < 0)
		return -err->code;
	if (!v)
		return err_set(err, EINVAL, "oci-layout: imageLayoutVersion: missing");
	if (strncmp(v, "1.", 2))
		return err_set(err, EINVAL, "oci-layout: unsupported imageLayoutVersion '%s'", v);
	return 0;
}

/* Every image index.json lists, each with what it references. */
static int load_oci_index(struct img_store *s, const struct layout *l, const char *text, size_t len,
			  const char *stem, struct loaded *ld, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	json_t *manifests = NULL, *v;
	size_t i;

	if (jx_parse(text, len, "index.json", &doc, err) < 0 ||
	    jx_arr(doc, "index.json", "manifests", &manifests, err) < 0)
		return -err->code;
	if (!manifests || !json_array_size(manifests))
		return err_set(err, EINVAL, "index.json lists no images");
	if (json_array_size(manifests) > IMAGES_MAX)
		return err_set(err, EINVAL, "index.json: %zu images, more than the limit of %d",
			       json_array_size(manifests), IMAGES_MAX);
	json_array_foreach (manifests, i, v)
		if (load_oci_entry(s, l, v, stem, ld, err) < 0)
			return err_wrap(err, "index.json manifests[%zu]", i);
	return 0;
}

static int load_oci_dir(struct img_store *s, int dirfd, const char *path, const char *stem,
			struct loaded *ld, struct err *err)
{
	cleanup_free char *layout = NULL, *index = NULL;
	struct layout l = {dirfd, path};
	size_t layout_len, index_len;
	int r;

	r = fs_read_file(dirfd, "oci-layout", &layout, &layout_len, err);
	if (r == -ENOENT) {
		err_clear(err);
		return err_set(err, EINVAL, "'%s' has no oci-layout file: not an OCI image layout",
			       path);
	}
	if (r < 0 || layout_version_check(layout, layout_len, err) < 0 ||
	    fs_read_file(dirfd, "index.json", &index, &index_len, err) < 0)
		return -err->code;
	return load_oci_index(s, &l, index, index_len, stem, ld, err);
}

/* Copies every blobs/sha256/<hex> of the archive into the store, verified. */
static int load_oci_blobs(struct img_store *s, int fd, const char *path, struct err *err)
{
	cleanup_ar_read struct archive *a = NULL;
	struct archive_entry *e;
	int r;

	if (tar_open(fd, path, &a, err) < 0)
		return -err->code;
	for (;;) {
		cleanup_free char *name = NULL;
		char digest[IMG_DIGEST_MAX], got[IMG_DIGEST_MAX];
		struct source src = {.fd = -1, .ar = a};

		r = tar_next(a, path, &e, &name, err);
		if (r <= 0)
			return r;
		if (!name || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
		    !blob_path_digest(name, digest) || img_blob_exists(s, digest))
			continue;
		src.what = name;
		if (ingest_blob(s, &src, digest,
				archive_entry_size_is_set(e) ? archive_entry_size(e) : -1, got,
				err) < 0)
			return -err->code;
	}
}

/*
 * A docker archive: what manifest.json lists is read in a second pass (configs as they
 * are, layers with their diff ids computed), then each image gets an OCI manifest. The
 * config keeps its bytes (a Docker config is an OCI config with more fields) under the
 * OCI config media type; layers keep theirs (uncompressed, or as compressed as they
 * came) under the OCI layer media types.
 */
static int docker_ingest(struct img_store *s, int fd, const char *path, const json_t *want,
			 json_t *got, struct err *err)
{
	cleanup_ar_read struct archive *a = NULL;
	struct archive_entry *e;
	int r;

	if (tar_open(fd, path, &a, err) < 0)
		return -err->code;
	for (;;) {
		cleanup_free char *name = NULL;
		char expected[IMG_DIGEST_MAX], digest[IMG_DIGEST_MAX];
		struct source src = {.fd = -1, .ar = a};
		struct layer_blob lb;
		const char *role;
		int64_t size;

		r = tar_next(a, path, &e, &name, err);
		if (r <= 0)
			return r;
		if (!name || archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e) ||
		    json_object_get(got, name))
			continue;
		role = json_string_value(json_object_get(want, name));
		if (!role)
			continue;
		src.what = name;
		size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
		if (!blob_path_digest(name, expected))
			*expected = '\0';
		if (!strcmp(role, "config")) {
			if (ingest_blob(s, &src, *expected ? expected : NULL, size, digest, err) <
			    0)
				return -err->code;
			json_object_set_new(got, name,
					    json_pack("{s:s, s:I}", "digest", digest, "size",
						      (json_int_t)size));
			continue;
		}
		if (ingest_layer(s, &src, *expected ? expected : NULL, size, &lb, err) < 0)
			return -err->code;
		json_object_set_new(got, name,
				    json_pack("{s:s, s:s, s:I, s:s}", "digest", lb.digest,
					      "diff_id", lb.diff_id, "size", (json_int_t)lb.size,
					      "mediaType", layer_media_type(lb.comp)));
	}
}

/* The stored entry manifest.json's @key (a path) stands for; ENOENT if missing. */
static int docker_file(const json_t *got, const json_t *links, const char *p, const char *what,
		       const json_t **ret, struct err *err)
{
	cleanup_free char *target = resolve_link(links, p);
	const json_t *v = target ? json_object_get(got, target) : NULL;

	if (!v)
		return err_set(err, ENOENT, "%s '%s' is not in the archive", what, p);
	*ret = v;
	return 0;
}

static int docker_image(struct img_store *s, const json_t *entry, const json_t *got,
			const json_t *links, struct loaded *ld, struct err *err)
{
	cleanup_config struct img_config *c = NULL;
	cleanup_json json_t *layers = json_array();
	cleanup_free char *ctext = NULL;
	const json_t *cfg = NULL, *tags = json_object_get(entry, "RepoTags"), *paths, *v;
	const char *config_digest;
	char digest[IMG_DIGEST_MAX];
	size_t clen, i;

	paths = json_object_get(entry, "Layers");
	if (docker_file(got, links, json_string_value(json_object_get(entry, "Config")), "config",
			&cfg, err) < 0)
		return -err->code;
	config_digest = json_string_value(json_object_get(cfg, "digest"));
	if (img_blob_read(s, config_digest, &ctext, &clen, err) < 0)
		return -err->code;
	if (img_config_parse(ctext, clen, &c, err) < 0)
		return err_wrap(err, "config '%s'", config_digest);
	if (c->n_diff_ids != json_array_size(paths))
		return err_set(err, EINVAL, "config '%s' has %zu diff ids for %zu layers",
			       config_digest, c->n_diff_ids, json_array_size(paths));
	json_array_foreach (paths, i, v) {
		const json_t *l = NULL;
		const char *diff_id;

		if (docker_file(got, links, json_string_value(v), "layer", &l, err) < 0)
			return -err->code;
		diff_id = json_string_value(json_object_get(l, "diff_id"));
		if (strcmp(diff_id, c->diff_ids[i]))
			return err_set(err, EBADMSG,
				       "layer '%s' has diff id '%s', the config says '%s'",
				       json_string_value(v), diff_id, c->diff_ids[i]);
		json_array_append_new(
			layers, descriptor_json(json_string_value(json_object_get(l, "mediaType")),
						json_string_value(json_object_get(l, "digest")),
						json_integer_value(json_object_get(l, "size"))));
	}
	if (put_manifest(s, config_digest, (int64_t)clen, json_incref(layers), digest, err) < 0)
		return -err->code;
	if (!json_array_size(tags))
		loaded_add(ld, NULL, digest, IMG_MT_OCI_MANIFEST);
	json_array_foreach (tags, i, v) {
		cleanup_free char *name = NULL;

		if (!json_is_string(v))
			return err_set(err, EINVAL, "RepoTags[%zu]: expected string", i);
		if (store_name(json_string_value(v), &name, err) < 0)
			return -err->code;
		loaded_add(ld, name, digest, IMG_MT_OCI_MANIFEST);
	}
	return 0;
}

/* manifest.json: each entry has a Config path and Layers paths (strings). */
static int docker_manifest_check(const json_t *doc, struct err *err)
{
	const json_t *v, *l;
	size_t i, k;

	if (!json_is_array(doc) || !json_array_size(doc))
		return err_set(err, EINVAL, "manifest.json: expected a non-empty array");
	if (json_array_size(doc) > IMAGES_MAX)
		return err_set(err, EINVAL, "manifest.json: %zu images, more than the limit of %d",
			       json_array_size(doc), IMAGES_MAX);
	json_array_foreach (doc, i, v) {
		if (!json_is_string(json_object_get(v, "Config")))
			return err_set(err, EINVAL, "manifest.json[%zu].Config: expected string",
				       i);
		if (!json_is_array(json_object_get(v, "Layers")))
			return err_set(err, EINVAL, "manifest.json[%zu].Layers: expected array", i);
		json_array_foreach (json_object_get(v, "Layers"), k, l)
			if (!json_is_string(l))
				return err_set(err, EINVAL,
					       "manifest.json[%zu].Layers[%zu]: expected string", i,
					       k);
	}
	return 0;
}

static int load_docker(struct img_store *s, int fd, const char *path, const struct scan *sc,
		       struct loaded *ld, struct err *err)
{
	cleanup_json json_t *doc = NULL, *want = json_object(), *got = json_object();
	const json_t *v, *l;
	size_t i, k;

	if (jx_parse(sc->manifest_json, sc->manifest_len, "manifest.json", &doc, err) < 0 ||
	    docker_manifest_check(doc, err) < 0)
		return -err->code;
	json_array_foreach (doc, i, v) {
		char *target =
			resolve_link(sc->links, json_string_value(json_object_get(v, "Config")));

		if (target)
			json_object_set_new(want, target, json_string("config"));
		free(target);
		json_array_foreach (json_object_get(v, "Layers"), k, l) {
			target = resolve_link(sc->links, json_string_value(l));
			if (target)
				json_object_set_new(want, target, json_string("layer"));
			free(target);
		}
	}
	if (docker_ingest(s, fd, path, want, got, err) < 0)
		return -err->code;
	json_array_foreach (doc, i, v)
		if (docker_image(s, v, got, sc->links, ld, err) < 0)
			return err_wrap(err, "manifest.json[%zu]", i);
	return 0;
}

static int load_tar(struct img_store *s, int fd, const char *path, const char *stem,
		    struct loaded *ld, struct err *err)
{
	struct scan sc = {.links = json_object()};
	struct layout l = {-1, path};
	int r;

	r = scan_tar(fd, path, &sc, err);
	/* docker 25 writes both: the OCI index names what the docker manifest cannot */
	if (r == 0 && sc.oci_layout && sc.index_json) {
		r = layout_version_check(sc.oci_layout, sc.oci_layout_len, err);
		if (r == 0)
			r = load_oci_blobs(s, fd, path, err);
		if (r == 0)
			r = load_oci_index(s, &l, sc.index_json, sc.index_len, stem, ld, err);
	} else if (r == 0 && sc.manifest_json) {
		r = load_docker(s, fd, path, &sc, ld, err);
	} else if (r == 0) {
		r = err_set(err, EINVAL,
			    "neither a docker archive (no manifest.json) nor an OCI archive (no "
			    "oci-layout and index.json)");
	}
	scan_done(&sc);
	return r;
}

/* A pipe cannot be read twice: it is copied to an unnamed file in the store first. */
static int spool(struct img_store *s, int in, const char *path, int *ret, struct err *err)
{
	cleanup_free char *dir = xasprintf("%s/ingest", img_store_root(s));
	cleanup_free char *buf = xmalloc(BUF_SIZE);
	cleanup_close int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	struct source src = {.fd = in, .what = path};
	ssize_t n;

	if (fd < 0)
		return err_sys(err, "create a temporary file in '%s'", dir);
	while ((n = source_read(&src, buf, BUF_SIZE, err)) > 0)
		if (write_all(fd, buf, (size_t)n, dir, err) < 0)
			return -err->code;
	if (n < 0)
		return -err->code;
	*ret = TAKE_FD(fd);
	return 0;
}

/*
 * Names what was loaded. An image without a name becomes "localhost/<archive stem>:latest",
 * or ":1", ":2"... when there are several.
 */
static int name_loaded(struct img_store *s, const struct loaded *ld, const char *stem,
		       char ***ret_names, struct err *err)
{
	cleanup_json json_t *names = json_object();
	size_t n_unnamed = json_array_size(ld->unnamed), i, k = 0;
	cleanup_strv char **v = NULL;
	const char *name;
	json_t *e;

	json_array_foreach (ld->unnamed, i, e) {
		cleanup_free char *local = n_unnamed == 1
						   ? xasprintf("localhost/%s:latest", stem)
						   : xasprintf("localhost/%s:%zu", stem, i + 1);

		json_array_append_new(ld->named, json_pack("[s, O, O]", local, json_array_get(e, 0),
							   json_array_get(e, 1)));
	}
	json_array_foreach (ld->named, i, e) {
		name = json_string_value(json_array_get(e, 0));
		if (img_tag(s, name, json_string_value(json_array_get(e, 1)),
			    json_string_value(json_array_get(e, 2)), err) < 0)
			return -err->code;
		json_object_set_new(names, name, json_true());
	}
	v = xcalloc(json_object_size(names) + 1, sizeof(char *));
	json_object_foreach (names, name, e)
		v[k++] = xstrdup(name);
	*ret_names = TAKE_PTR(v);
	return 0;
}

int img_load(struct img_store *s, const char *path, char ***ret_names, struct err *err)
{
	cleanup_json json_t *named = json_array(), *unnamed = json_array();
	struct loaded ld = {named, unnamed};
	cleanup_free char *stem = archive_stem(path);
	cleanup_close int fd = -1;
	struct stat st;
	int r;

	if (img_libs_archive(err) < 0)
		return err_wrap(err, "load '%s'", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, "load '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		r = load_oci_dir(s, fd, path, stem, &ld, err);
	} else {
		if (!S_ISREG(st.st_mode)) {
			int copy = -1;

			if (spool(s, fd, path, &copy, err) < 0)
				return err_wrap(err, "load '%s'", path);
			close(fd);
			fd = copy;
		}
		r = load_tar(s, fd, path, stem, &ld, err);
	}
	if (r == 0)
		r = name_loaded(s, &ld, stem, ret_names, err);
	return r < 0 ? err_wrap(err, "load '%s'", path) : 0;
}
