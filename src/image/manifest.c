/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests, indexes and image configs: validating parsers for the OCI image-spec
 * documents (manifest.md, image-index.md, config.md, descriptor.md) and their Docker
 * schema 2 twins (manifest, manifest list, container image config), and the choice of an
 * index entry by platform. Called by the registry client, the store and the importers;
 * errors name the field's JSON path, callers add which blob it was.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "image/internal.h"

#define DOC_MAX     (4u << 20) /* bytes of one manifest, index or config */
#define ENTRIES_MAX 1000       /* layers of a manifest, entries of an index */
#define QUOTE_MAX   100        /* of a bad value echoed in a message */

/* Every getter below returns <0 on a bad field, which we pass straight up. */
#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int try_r_ = (expr);                                                               \
		if (try_r_ < 0)                                                                    \
			return try_r_;                                                             \
	} while (0)

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

#define cleanup_manifest __attribute__((cleanup(manifest_freep)))
#define cleanup_index    __attribute__((cleanup(index_freep)))
#define cleanup_config   __attribute__((cleanup(config_freep)))

/* ---- media types ---- */

enum kind { KIND_OTHER, KIND_INDEX, KIND_MANIFEST, KIND_CONFIG, KIND_LAYER };

static bool prefixed(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static enum kind kind_of(const char *mt)
{
	if (img_media_is_index(mt))
		return KIND_INDEX;
	if (!strcmp(mt, IMG_MT_OCI_MANIFEST) || !strcmp(mt, IMG_MT_DOCKER_MANIFEST))
		return KIND_MANIFEST;
	if (!strcmp(mt, IMG_MT_OCI_CONFIG) || !strcmp(mt, IMG_MT_DOCKER_CONFIG))
		return KIND_CONFIG;
	if (prefixed(mt, "application/vnd.oci.image.layer.") ||
	    prefixed(mt, "application/vnd.docker.image.rootfs."))
		return KIND_LAYER;
	return KIND_OTHER;
}

static const char *kind_name(enum kind k)
{
	switch (k) {
	case KIND_INDEX:
		return "an index";
	case KIND_MANIFEST:
		return "an image manifest";
	case KIND_CONFIG:
		return "an image config";
	case KIND_LAYER:
		return "a layer";
	case KIND_OTHER:
		break;
	}
	return "unknown";
}

bool img_media_is_index(const char *media_type)
{
	return media_type &&
	       (!strcmp(media_type, IMG_MT_OCI_INDEX) || !strcmp(media_type, IMG_MT_DOCKER_LIST));
}

/* RFC 6838 in outline: "type/subtype", printable, at most 255 characters. */
static bool media_type_valid(const char *mt)
{
	size_t n = strlen(mt);
	const char *slash = strchr(mt, '/');

	if (n == 0 || n > 255 || !slash || slash == mt || slash[1] == '\0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isgraph((unsigned char)mt[i]))
			return false;
	return true;
}

/* ---- fields ---- */

static int missing(const char *path, const char *key, struct err *err)
{
	if (path && *path)
		return err_set(err, EINVAL, "%s.%s: required", path, key);
	return err_set(err, EINVAL, "%s: required", key);
}

static int req_str(const json_t *o, const char *path, const char *key, const char **ret,
		   struct err *err)
{
	int r = jx_str(o, path, key, ret, err);

	if (r == 0)
		return missing(path, key, err);
	return r < 0 ? r : 0;
}

/* An optional string, copied; "" is the same as absent. */
static int opt_str(const json_t *o, const char *path, const char *key, char **ret, struct err *err)
{
	const char *s = NULL;

	TRY(jx_str(o, path, key, &s, err));
	if (s && *s)
		*ret = xstrdup(s);
	return 0;
}

/* A JSON object kept as it is (ports, labels, volumes). */
static int opt_obj(const json_t *o, const char *path, const char *key, json_t **ret,
		   struct err *err)
{
	json_t *v = NULL;

	TRY(jx_obj(o, path, key, &v, err));
	if (v)
		*ret = json_incref(v);
	return 0;
}

/* Parses a document that must be a JSON object of at most DOC_MAX bytes. */
static int load(const char *text, size_t len, const char *what, json_t **ret, struct err *err)
{
	json_t *doc = NULL;

	if (len > DOC_MAX)
		return err_set(err, EFBIG, "%s: %zu bytes is more than the limit of %u", what, len,
			       DOC_MAX);
	TRY(jx_parse(text, len, what, &doc, err));
	if (!json_is_object(doc)) {
		json_decref(doc);
		return err_set(err, EINVAL, "%s: expected a JSON object", what);
	}
	*ret = doc;
	return 0;
}

static int check_schema_version(const json_t *doc, struct err *err)
{
	int64_t v = 0;
	int r = jx_int(doc, "", "schemaVersion", &v, err);

	if (r < 0)
		return r;
	if (r == 0)
		return missing("", "schemaVersion", err);
	if (v == 1)
		return err_set(
			err, EINVAL,
			"schemaVersion: expected 2, got 1 (docker schema 1 manifests are not "
			"supported)");
	if (v != 2)
		return err_set(err, EINVAL, "schemaVersion: expected 2, got %lld", (long long)v);
	return 0;
}

static int check_count(const json_t *arr, const char *key, struct err *err)
{
	if (json_array_size(arr) > ENTRIES_MAX)
		return err_set(err, EINVAL, "%s: %zu entries, more than the limit of %d", key,
			       json_array_size(arr), ENTRIES_MAX);
	return 0;
}

/* image-index.md#platform, also the top level of an image config (config.md). */
static int parse_platform(const json_t *o, const char *path, struct img_platform *p,
			  struct err *err)
{
	const char *os = NULL, *arch = NULL, *os_version = NULL;
	cleanup_strv char **os_features = NULL;

	TRY(req_str(o, path, "architecture", &arch, err));
	TRY(req_str(o, path, "os", &os, err));
	TRY(jx_str(o, path, "os.version", &os_version, err));
	TRY(jx_strv(o, path, "os.features", &os_features, err));
	if (!*arch)
		return err_set(err, EINVAL, "%s%sarchitecture: must not be empty", path,
			       *path ? "." : "");
	if (!*os)
		return err_set(err, EINVAL, "%s%sos: must not be empty", path, *path ? "." : "");
	TRY(opt_str(o, path, "variant", &p->variant, err));
	p->os = xstrdup(os);
	p->arch = xstrdup(arch);
	return 0;
}

/* descriptor.md: mediaType, digest and size are required; urls optional. */
static int parse_descriptor(const json_t *v, const char *path, bool in_index,
			    struct img_descriptor *d, struct err *err)
{
	const char *mt = NULL, *digest = NULL;
	json_t *platform = NULL;
	int64_t size = 0;
	int r;

	if (!json_is_object(v))
		return err_set(err, EINVAL, "%s: expected object", path);
	TRY(req_str(v, path, "mediaType", &mt, err));
	if (!media_type_valid(mt))
		return err_set(err, EINVAL, "%s.mediaType: invalid media type '%.*s'", path,
			       QUOTE_MAX, mt);
	TRY(req_str(v, path, "digest", &digest, err));
	if (!img_digest_valid(digest))
		return err_set(err, EINVAL, "%s.digest: invalid digest '%.*s'", path, QUOTE_MAX,
			       digest);
	r = jx_int(v, path, "size", &size, err);
	if (r < 0)
		return r;
	if (r == 0)
		return missing(path, "size", err);
	if (size < 0)
		return err_set(err, EINVAL, "%s.size: must not be negative, got %lld", path,
			       (long long)size);
	TRY(jx_strv(v, path, "urls", &d->urls, err));
	if (in_index) {
		TRY(jx_obj(v, path, "platform", &platform, err));
		if (platform) {
			cleanup_free char *sub = xasprintf("%s.platform", path);

			TRY(parse_platform(platform, sub, &d->platform, err));
		}
	}
	d->media_type = xstrdup(mt);
	d->digest = xstrdup(digest);
	d->size = size;
	return 0;
}

static void descriptor_done(struct img_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	img_platform_done(&d->platform);
	strv_free(d->urls);
}

/* ---- documents ---- */

int img_media_type_of(const char *text, size_t len, char **ret, struct err *err)
{
	cleanup_json json_t *doc = NULL;
	const char *mt = NULL;

	TRY(load(text, len, "manifest", &doc, err));
	TRY(jx_str(doc, "", "mediaType", &mt, err));
	if (mt && *mt) {
		*ret = xstrdup(mt);
		return 0;
	}
	if (json_object_get(doc, "fsLayers"))
		return err_set(err, EINVAL,
			       "manifest: docker schema 1 manifests are not supported");
	/* image-index.md and manifest.md leave mediaType optional: go by the shape */
	if (json_is_array(json_object_get(doc, "manifests"))) {
		*ret = xstrdup(IMG_MT_OCI_INDEX);
		return 0;
	}
	if (json_is_array(json_object_get(doc, "layers"))) {
		*ret = xstrdup(IMG_MT_OCI_MANIFEST);
		return 0;
	}
	return err_set(err, EINVAL,
		       "manifest: no mediaType, and neither manifests nor layers to tell it by");
}

/* The document's own mediaType must be of @want; absent means @fallback. */
static int doc_media_type(const json_t *doc, enum kind want, const char *fallback, char **ret,
			  struct err *err)
{
	const char *mt = NULL;
	enum kind k;

	TRY(jx_str(doc, "", "mediaType", &mt, err));
	if (!mt || !*mt) {
		*ret = xstrdup(fallback);
		return 0;
	}
	k = kind_of(mt);
	if (k == want) {
		*ret = xstrdup(mt);
		return 0;
	}
	if (k == KIND_OTHER)
		return err_set(err, EINVAL, "mediaType: unsupported media type '%.*s'", QUOTE_MAX,
			       mt);
	return err_set(err, EINVAL, "mediaType: '%s' is %s, not %s", mt, kind_name(k),
		       kind_name(want));
}

int img_manifest_parse(const char *text, size_t len, struct img_manifest **ret, struct err *err)
{
	cleanup_manifest struct img_manifest *m = NULL;
	cleanup_json json_t *doc = NULL;
	json_t *config = NULL, *layers = NULL, *v;
	enum kind k;
	size_t i;
	int r;

	TRY(load(text, len, "manifest", &doc, err));
	TRY(check_schema_version(doc, err));
	m = xcalloc(1, sizeof(*m));
	TRY(doc_media_type(doc, KIND_MANIFEST, IMG_MT_OCI_MANIFEST, &m->media_type, err));
	if (json_object_get(doc, "manifests") && !json_object_get(doc, "layers"))
		return err_set(err, EINVAL,
			       "manifests: the document is an index, not an image manifest");

	r = jx_obj(doc, "", "config", &config, err);
	if (r <= 0)
		return r < 0 ? r : missing("", "config", err);
	TRY(parse_descriptor(config, "config", false, &m->config, err));
	k = kind_of(m->config.media_type);
	if (k == KIND_INDEX || k == KIND_MANIFEST || k == KIND_LAYER)
		return err_set(err, EINVAL, "config.mediaType: '%s' is %s, not an image config",
			       m->config.media_type, kind_name(k));

	r = jx_arr(doc, "", "layers", &layers, err);
	if (r <= 0)
		return r < 0 ? r : missing("", "layers", err);
	TRY(check_count(layers, "layers", err));
	m->layers = xcalloc(json_array_size(layers) + 1, sizeof(*m->layers));
	json_array_foreach (layers, i, v) {
		char path[32];
		struct img_descriptor *d = &m->layers[i];

		snprintf(path, sizeof(path), "layers[%zu]", i);
		m->n_layers = i + 1;
		TRY(parse_descriptor(v, path, false, d, err));
		k = kind_of(d->media_type);
		if (k == KIND_INDEX || k == KIND_MANIFEST || k == KIND_CONFIG)
			return err_set(err, EINVAL, "%s.mediaType: '%s' is %s, not a layer", path,
				       d->media_type, kind_name(k));
	}
	*ret = TAKE_PTR(m);
	return 0;
}

void img_manifest_free(struct img_manifest *m)
{
	if (!m)
		return;
	free(m->media_type);
	descriptor_done(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		descriptor_done(&m->layers[i]);
	free(m->layers);
	free(m);
}

int img_index_parse(const char *text, size_t len, struct img_index **ret, struct err *err)
{
	cleanup_index struct img_index *ix = NULL;
	cleanup_json json_t *doc = NULL;
	json_t *manifests = NULL, *v;
	size_t i;
	int r;

	TRY(load(text, len, "index", &doc, err));
	TRY(check_schema_version(doc, err));
	ix = xcalloc(1, sizeof(*ix));
	TRY(doc_media_type(doc, KIND_INDEX, IMG_MT_OCI_INDEX, &ix->media_type, err));
	r = jx_arr(doc, "", "manifests", &manifests, err);
	if (r <= 0)
		return r < 0 ? r : missing("", "manifests", err);
	TRY(check_count(manifests, "manifests", err));
	ix->manifests = xcalloc(json_array_size(manifests) + 1, sizeof(*ix->manifests));
	json_array_foreach (manifests, i, v) {
		char path[32];

		snprintf(path, sizeof(path), "manifests[%zu]", i);
		ix->n = i + 1;
		TRY(parse_descriptor(v, path, true, &ix->manifests[i], err));
	}
	*ret = TAKE_PTR(ix);
	return 0;
}

void img_index_free(struct img_index *ix)
{
	if (!ix)
		return;
	free(ix->media_type);
	for (size_t i = 0; i < ix->n; i++)
		descriptor_done(&ix->manifests[i]);
	free(ix->manifests);
	free(ix);
}

/* ---- platforms ---- */

/* Spellings of uname(2) machines and distribution names, as GOARCH and variant. */
static const struct {
	const char *alias, *arch, *variant;
} arch_aliases[] = {
	{"x86_64", "amd64", NULL},
	{"x86-64", "amd64", NULL},
	{"aarch64", "arm64", NULL},
	{"armhf", "arm", "v7"},
	{"armel", "arm", "v6"},
	{"armv7l", "arm", "v7"},
	{"armv7", "arm", "v7"},
	{"armv6l", "arm", "v6"},
	{"armv5tel", "arm", "v5"},
	{"armv5l", "arm", "v5"},
	/* a 32-bit userland on an ARMv8 kernel runs v7 code; few images offer arm/v8 */
	{"armv8l", "arm", "v7"},
	{"i386", "386", NULL},
	{"i486", "386", NULL},
	{"i586", "386", NULL},
	{"i686", "386", NULL},
};

static void platform_set(struct img_platform *p, const char *os, const char *arch,
			 const char *variant)
{
	for (size_t i = 0; i < sizeof(arch_aliases) / sizeof(arch_aliases[0]); i++) {
		if (strcmp(arch, arch_aliases[i].alias) != 0)
			continue;
		arch = arch_aliases[i].arch;
		if (!variant)
			variant = arch_aliases[i].variant;
		break;
	}
	p->os = xstrdup(os);
	p->arch = xstrdup(arch);
	/* containerd's spelling: "linux/arm/7" is arm/v7 */
	if (variant && isdigit((unsigned char)variant[0]) &&
	    (!strcmp(arch, "arm") || !strcmp(arch, "arm64")))
		p->variant = xasprintf("v%s", variant);
	else
		p->variant = variant ? xstrdup(variant) : NULL;
}

static int host_platform(struct img_platform *ret, struct err *err)
{
	struct utsname u;

	if (uname(&u) < 0)
		return err_sys(err, "uname");
	platform_set(ret, "linux", u.machine, NULL);
	return 0;
}

int img_platform_parse(const char *s, struct img_platform *ret, struct err *err)
{
	cleanup_free char *copy = NULL;
	char *parts[3] = {NULL, NULL, NULL};
	char *p, *slash;
	size_t n = 0;

	if (!s || !*s)
		return host_platform(ret, err);
	if (strlen(s) > 128 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789._-/") != strlen(s))
		return err_set(err, EINVAL,
			       "invalid platform '%.*s': expected os/arch[/variant] of letters, "
			       "digits, '.', '_' and '-'",
			       QUOTE_MAX, s);
	copy = xstrdup(s);
	for (p = copy; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (p = copy; n < 3; p = slash + 1) {
		parts[n++] = p;
		slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	if (n < 2 || slash || !*parts[0] || !*parts[1] || (n == 3 && !*parts[2]))
		return err_set(err, EINVAL, "invalid platform '%s': expected os/arch[/variant]", s);
	platform_set(ret, parts[0], parts[1], parts[2]);
	return 0;
}

void img_platform_done(struct img_platform *p)
{
	if (!p)
		return;
	free(p->os);
	free(p->arch);
	free(p->variant);
	*p = (struct img_platform){0};
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* The variant an entry or a request without one means (containerd's normalisation). */
static const char *variant_of(const char *arch, const char *variant)
{
	if (variant)
		return variant;
	if (!strcmp(arch, "arm64"))
		return "v8";
	if (!strcmp(arch, "arm"))
		return "v7";
	return NULL;
}

/*
 * How well @p serves @want: 0 best, -1 not at all. An asked-for variant must match; with
 * none asked, arm64 takes v8 (or none) and arm v7, then the older v6 and v5 it also runs.
 * An entry without a platform comes last (the config says what it is).
 */
static int platform_rank(const struct img_platform *p, const struct img_platform *want)
{
	const char *v;

	if (!p->os)
		return 4;
	if (strcmp(p->os, want->os) != 0 || strcmp(p->arch, want->arch) != 0)
		return -1;
	v = variant_of(p->arch, p->variant);
	if (str_eq(v, variant_of(want->arch, want->variant)))
		return 0;
	if (want->variant || strcmp(want->arch, "arm") != 0 || !v)
		return -1;
	if (!strcmp(v, "v6"))
		return 1;
	if (!strcmp(v, "v5"))
		return 2;
	return -1;
}

static char *platform_string(const struct img_platform *p)
{
	return xasprintf("%s/%s%s%s", p->os, p->arch, p->variant ? "/" : "",
			 p->variant ? p->variant : "");
}

/* "linux/amd64, linux/arm64/v8": each platform once, attestations ("unknown") left out. */
static char *platforms_list(const struct img_index *ix)
{
	char *list = NULL;

	for (size_t i = 0; i < ix->n; i++) {
		const struct img_platform *p = &ix->manifests[i].platform;
		cleanup_free char *s = NULL;
		bool seen = false;
		char *joined;

		if (!p->os || !strcmp(p->os, "unknown"))
			continue;
		for (size_t j = 0; j < i && !seen; j++) {
			const struct img_platform *q = &ix->manifests[j].platform;

			seen = str_eq(p->os, q->os) && str_eq(p->arch, q->arch) &&
			       str_eq(p->variant, q->variant);
		}
		if (seen)
			continue;
		s = platform_string(p);
		joined = list ? xasprintf("%s, %s", list, s) : xstrdup(s);
		free(list);
		list = joined;
	}
	return list;
}

int img_index_select(const struct img_index *ix, const struct img_platform *want,
		     const struct img_descriptor **ret, struct err *err)
{
	const struct img_descriptor *best = NULL;
	cleanup_free char *wanted = NULL;
	cleanup_free char *list = NULL;
	int best_rank = -1;

	for (size_t i = 0; i < ix->n; i++) {
		const struct img_descriptor *d = &ix->manifests[i];
		int rank = platform_rank(&d->platform, want);

		/* without a platform only an image manifest can be taken on trust */
		if (rank == 4 && kind_of(d->media_type) != KIND_MANIFEST)
			continue;
		if (rank >= 0 && (best_rank < 0 || rank < best_rank)) {
			best = d;
			best_rank = rank;
		}
	}
	if (best) {
		*ret = best;
		return 0;
	}
	wanted = platform_string(want);
	list = platforms_list(ix);
	if (!list)
		return err_set(err, ENOENT,
			       "no manifest for %s in the index (it names no platforms)", wanted);
	return err_set(err, ENOENT, "no manifest for %s in the index (has %s)", wanted, list);
}

/* ---- image configs ---- */

/* config.md#properties, "config": what a container runs. */
static int parse_exec_config(struct img_config *c, const json_t *o, struct err *err)
{
	const char *key;
	json_t *v;

	TRY(opt_str(o, "config", "User", &c->user, err));
	TRY(opt_str(o, "config", "WorkingDir", &c->workdir, err));
	TRY(opt_str(o, "config", "StopSignal", &c->stop_signal, err));
	/* null Entrypoint or Cmd: none (jx treats null as absent) */
	TRY(jx_strv(o, "config", "Env", &c->env, err));
	TRY(jx_strv(o, "config", "Entrypoint", &c->entrypoint, err));
	TRY(jx_strv(o, "config", "Cmd", &c->cmd, err));
	TRY(opt_obj(o, "config", "ExposedPorts", &c->exposed_ports, err));
	TRY(opt_obj(o, "config", "Volumes", &c->volumes, err));
	TRY(opt_obj(o, "config", "Labels", &c->labels, err));
	json_object_foreach (c->labels, key, v)
		if (!json_is_string(v))
			return err_set(err, EINVAL, "config.Labels.%s: expected string", key);
	return 0;
}

/* config.md#properties, "rootfs": the uncompressed layer digests, in order. */
static int parse_rootfs(struct img_config *c, const json_t *doc, struct err *err)
{
	const char *type = NULL;
	json_t *rootfs = NULL, *ids = NULL, *v;
	size_t i;
	int r;

	r = jx_obj(doc, "", "rootfs", &rootfs, err);
	if (r <= 0)
		return r < 0 ? r : missing("", "rootfs", err);
	TRY(req_str(rootfs, "rootfs", "type", &type, err));
	if (strcmp(type, "layers") != 0)
		return err_set(err, EINVAL, "rootfs.type: expected 'layers', got '%.*s'", QUOTE_MAX,
			       type);
	r = jx_arr(rootfs, "rootfs", "diff_ids", &ids, err);
	if (r <= 0)
		return r < 0 ? r : missing("rootfs", "diff_ids", err);
	TRY(check_count(ids, "rootfs.diff_ids", err));
	c->diff_ids = xcalloc(json_array_size(ids) + 1, sizeof(char *));
	json_array_foreach (ids, i, v) {
		if (!json_is_string(v))
			return err_set(err, EINVAL, "rootfs.diff_ids[%zu]: expected string", i);
		if (!img_digest_valid(json_string_value(v)))
			return err_set(err, EINVAL, "rootfs.diff_ids[%zu]: invalid digest '%.*s'",
				       i, QUOTE_MAX, json_string_value(v));
		c->diff_ids[i] = xstrdup(json_string_value(v));
		c->n_diff_ids = i + 1;
	}
	return 0;
}

int img_config_parse(const char *text, size_t len, struct img_config **ret, struct err *err)
{
	cleanup_config struct img_config *c = NULL;
	cleanup_json json_t *doc = NULL;
	json_t *exec = NULL, *history = NULL;

	TRY(load(text, len, "image config", &doc, err));
	c = xcalloc(1, sizeof(*c));
	TRY(parse_platform(doc, "", &c->platform, err));
	TRY(opt_str(doc, "", "created", &c->created, err));
	TRY(jx_obj(doc, "", "config", &exec, err));
	if (exec)
		TRY(parse_exec_config(c, exec, err));
	TRY(parse_rootfs(c, doc, err));
	TRY(jx_arr(doc, "", "history", &history, err));
	if (history)
		c->history = json_incref(history);
	*ret = TAKE_PTR(c);
	return 0;
}

void img_config_free(struct img_config *c)
{
	if (!c)
		return;
	img_platform_done(&c->platform);
	free(c->created);
	free(c->user);
	free(c->workdir);
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->stop_signal);
	json_decref(c->exposed_ports);
	json_decref(c->labels);
	json_decref(c->volumes);
	strv_free(c->diff_ids);
	json_decref(c->history);
	free(c);
}
