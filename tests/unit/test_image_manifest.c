/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of digests (image/digest.c) and of the manifest, index and image config
 * parsers (image/manifest.c): known sha256 vectors, OCI and Docker schema 2 documents,
 * errors that name the JSON path, the size and count limits, and the choice of an index
 * entry by platform. A failing parse must leave *ret untouched and leak nothing; the
 * sanitized build's leak check holds every test to that.
 *
 * Documents are written with single quotes for readability; a bad document is a good
 * one with one value replaced or removed ("layers/2/digest"), so each case shows only
 * what it is about.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "image/internal.h"

#define D_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D_ABC   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D_1     "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D_2     "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D_3     "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D_4     "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define D_5     "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define D_6     "sha256:6666666666666666666666666666666666666666666666666666666666666666"

/* What a failing parse must leave in *ret. */
static char untouched;
#define UNTOUCHED ((void *)&untouched)

/* JSON text from single-quoted JSON (no test string needs a literal quote). */
static char *dq(const char *s)
{
	char *t = xstrdup(s);

	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static json_t *load(const char *squoted)
{
	cleanup_free char *text = dq(squoted);
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	if (!j)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* Replaces the value at @ptr ("layers/2/digest") in @doc, or removes it if @squoted is NULL. */
static void edit(json_t *doc, const char *ptr, const char *squoted)
{
	cleanup_free char *copy = xstrdup(ptr);
	json_t *parent = doc;
	char *seg = copy, *slash;

	while ((slash = strchr(seg, '/'))) {
		*slash = '\0';
		if (json_is_array(parent))
			parent = json_array_get(parent, strtoul(seg, NULL, 10));
		else
			parent = json_object_get(parent, seg);
		if (!parent)
			fail_msg("no '%s' in the test document", ptr);
		seg = slash + 1;
	}
	if (json_is_array(parent)) {
		size_t i = strtoul(seg, NULL, 10);

		assert_int_equal(squoted ? json_array_set_new(parent, i, load(squoted))
					 : json_array_remove(parent, i),
				 0);
	} else {
		assert_int_equal(squoted ? json_object_set_new(parent, seg, load(squoted))
					 : json_object_del(parent, seg),
				 0);
	}
}

/* @base with one edit, as JSON text. */
static char *edited(const char *base, const char *ptr, const char *squoted)
{
	cleanup_json json_t *doc = load(base);
	char *text;

	edit(doc, ptr, squoted);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	return text;
}

/* ---- digests ---- */

static void test_digest_of_matches_known_sha256_vectors(void **state)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char out[IMG_DIGEST_MAX];

	(void)state;
	img_digest_of("", 0, out);
	assert_string_equal(out, D_EMPTY);
	img_digest_of("abc", 3, out);
	assert_string_equal(out, D_ABC);
	img_digest_of(two_blocks, strlen(two_blocks), out);
	assert_string_equal(
		out, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hash_streamed_in_pieces_equals_one_shot(void **state)
{
	static const size_t pieces[] = {0, 1, 63, 64, 65, 1000, 4096, 7};
	cleanup_free char *buf = xmalloc(1000000);
	char streamed[IMG_DIGEST_MAX], whole[IMG_DIGEST_MAX];
	struct img_hash *h = img_hash_new();
	size_t off = 0, k = 0;

	(void)state;
	memset(buf, 'a', 1000000);
	while (off < 1000000) {
		size_t n = pieces[k++ % (sizeof(pieces) / sizeof(pieces[0]))];

		if (n > 1000000 - off)
			n = 1000000 - off;
		img_hash_update(h, buf + off, n);
		off += n;
	}
	img_hash_final(h, streamed);
	img_digest_of(buf, 1000000, whole);
	assert_string_equal(streamed, whole);
	/* FIPS 180-2 appendix B.3: one million 'a' */
	assert_string_equal(
		whole, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_hash_with_no_input_is_the_empty_digest(void **state)
{
	char out[IMG_DIGEST_MAX];

	(void)state;
	img_hash_final(img_hash_new(), out);
	assert_string_equal(out, D_EMPTY);
}

static void test_digest_valid_accepts_only_lowercase_sha256(void **state)
{
	(void)state;
	assert_true(img_digest_valid(D_EMPTY));
	assert_true(img_digest_valid(D_1));
	assert_false(img_digest_valid(NULL));
	assert_false(img_digest_valid(""));
	assert_false(img_digest_valid("sha256:"));
	assert_false(img_digest_valid("sha256:xyz"));
	assert_false(img_digest_valid(D_EMPTY "0"));
	assert_false(img_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
	assert_false(img_digest_valid(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(img_digest_valid(
		"SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(img_digest_valid(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_false(img_digest_valid(
		"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g"));
	assert_false(img_digest_valid(
		"sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d8"
		"5f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"));
	assert_false(img_digest_valid(
		"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

/* ---- manifests ---- */

static const char oci_manifest[] =
	"{'schemaVersion': 2,"
	" 'mediaType': 'application/vnd.oci.image.manifest.v1+json',"
	" 'config': {'mediaType': 'application/vnd.oci.image.config.v1+json',"
	"            'digest': '" D_1 "', 'size': 1470},"
	" 'layers': ["
	"  {'mediaType': 'application/vnd.oci.image.layer.v1.tar+gzip',"
	"   'digest': '" D_2 "', 'size': 2479},"
	"  {'mediaType': 'application/vnd.oci.image.layer.v1.tar+zstd',"
	"   'digest': '" D_3 "', 'size': 0},"
	"  {'mediaType': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',"
	"   'digest': '" D_4 "', 'size': 1234567890123,"
	"   'urls': ['https://example.com/layer.tar.gz', 'https://mirror.example/l']}],"
	" 'annotations': {'org.opencontainers.image.created': '2024-01-01T00:00:00Z'}}";

static const char docker_manifest[] =
	"{'schemaVersion': 2,"
	" 'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',"
	" 'config': {'mediaType': 'application/vnd.docker.container.image.v1+json',"
	"            'size': 1457, 'digest': '" D_1 "'},"
	" 'layers': [{'mediaType': 'application/vnd.docker.image.rootfs.diff.tar.gzip',"
	"             'size': 2152262, 'digest': '" D_2 "'}]}";

static struct img_manifest *manifest_ok(const char *squoted)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *text = dq(squoted);
	struct img_manifest *m = NULL;

	if (img_manifest_parse(text, strlen(text), &m, &err) < 0)
		fail_msg("img_manifest_parse: %s", err.msg);
	return m;
}

static void check_manifest_text_rejected(const char *text, size_t len, int code, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_manifest *m = UNTOUCHED;

	assert_int_equal(img_manifest_parse(text, len, &m, &err), -code);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, want);
	assert_ptr_equal(m, UNTOUCHED);
}

/* The OCI manifest with the value at @ptr replaced (or removed: NULL) must fail with @want. */
static void check_manifest_rejected(const char *ptr, const char *value, const char *want)
{
	cleanup_free char *text = edited(oci_manifest, ptr, value);

	check_manifest_text_rejected(text, strlen(text), EINVAL, want);
}

static void test_manifest_parse_reads_an_oci_manifest(void **state)
{
	struct img_manifest *m = manifest_ok(oci_manifest);

	(void)state;
	assert_string_equal(m->media_type, IMG_MT_OCI_MANIFEST);
	assert_string_equal(m->config.media_type, IMG_MT_OCI_CONFIG);
	assert_string_equal(m->config.digest, D_1);
	assert_int_equal(m->config.size, 1470);
	assert_null(m->config.urls);
	assert_null(m->config.platform.os);
	assert_int_equal(m->n_layers, 3);
	assert_string_equal(m->layers[0].media_type, IMG_MT_OCI_LAYER_GZIP);
	assert_string_equal(m->layers[0].digest, D_2);
	assert_int_equal(m->layers[0].size, 2479);
	assert_string_equal(m->layers[1].media_type, IMG_MT_OCI_LAYER_ZSTD);
	assert_int_equal(m->layers[1].size, 0);
	assert_true(m->layers[2].size == 1234567890123LL);
	assert_non_null(m->layers[2].urls);
	assert_string_equal(m->layers[2].urls[0], "https://example.com/layer.tar.gz");
	assert_string_equal(m->layers[2].urls[1], "https://mirror.example/l");
	assert_null(m->layers[2].urls[2]);
	img_manifest_free(m);
}

static void test_manifest_parse_reads_a_docker_schema2_manifest(void **state)
{
	struct img_manifest *m = manifest_ok(docker_manifest);

	(void)state;
	assert_string_equal(m->media_type, IMG_MT_DOCKER_MANIFEST);
	assert_string_equal(m->config.media_type, IMG_MT_DOCKER_CONFIG);
	assert_int_equal(m->n_layers, 1);
	assert_string_equal(m->layers[0].media_type, IMG_MT_DOCKER_LAYER);
	assert_int_equal(m->layers[0].size, 2152262);
	img_manifest_free(m);
}

static void test_manifest_parse_takes_a_manifest_without_media_type_as_oci(void **state)
{
	cleanup_free char *text = edited(oci_manifest, "mediaType", NULL);
	cleanup_err struct err err = ERR_INIT;
	struct img_manifest *m = NULL;

	(void)state;
	assert_int_equal(img_manifest_parse(text, strlen(text), &m, &err), 0);
	assert_string_equal(m->media_type, IMG_MT_OCI_MANIFEST);
	img_manifest_free(m);
}

static void test_manifest_parse_accepts_no_layers_and_artifact_configs(void **state)
{
	cleanup_free char *text = NULL;
	cleanup_json json_t *doc = load(oci_manifest);
	cleanup_err struct err err = ERR_INIT;
	struct img_manifest *m = NULL;

	(void)state;
	edit(doc, "layers", "[]");
	edit(doc, "config/mediaType", "'application/vnd.oci.empty.v1+json'");
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(img_manifest_parse(text, strlen(text), &m, &err), 0);
	assert_int_equal(m->n_layers, 0);
	assert_string_equal(m->config.media_type, "application/vnd.oci.empty.v1+json");
	img_manifest_free(m);
}

static void test_manifest_parse_rejects_other_schema_versions(void **state)
{
	(void)state;
	check_manifest_rejected("schemaVersion", NULL, "schemaVersion: required");
	check_manifest_rejected("schemaVersion", "3", "schemaVersion: expected 2, got 3");
	check_manifest_rejected("schemaVersion", "0", "schemaVersion: expected 2, got 0");
	check_manifest_rejected(
		"schemaVersion", "1",
		"schemaVersion: expected 2, got 1 (docker schema 1 manifests are not supported)");
	check_manifest_rejected("schemaVersion", "'2'", "schemaVersion: expected integer");
	check_manifest_rejected("schemaVersion", "2.5", "schemaVersion: expected integer");
}

static void test_manifest_parse_rejects_missing_fields(void **state)
{
	(void)state;
	check_manifest_rejected("config", NULL, "config: required");
	check_manifest_rejected("layers", NULL, "layers: required");
	check_manifest_rejected("config/mediaType", NULL, "config.mediaType: required");
	check_manifest_rejected("config/digest", NULL, "config.digest: required");
	check_manifest_rejected("config/size", NULL, "config.size: required");
	check_manifest_rejected("layers/0/mediaType", NULL, "layers[0].mediaType: required");
	check_manifest_rejected("layers/1/digest", NULL, "layers[1].digest: required");
	check_manifest_rejected("layers/2/size", NULL, "layers[2].size: required");
	/* null is absent, as Go peers read it */
	check_manifest_rejected("layers/2/digest", "null", "layers[2].digest: required");
}

static void test_manifest_parse_rejects_wrong_types(void **state)
{
	(void)state;
	check_manifest_rejected("config", "[]", "config: expected object");
	check_manifest_rejected("layers", "{}", "layers: expected array");
	check_manifest_rejected("layers/1", "'layer'", "layers[1]: expected object");
	check_manifest_rejected("mediaType", "7", "mediaType: expected string");
	check_manifest_rejected("config/mediaType", "true", "config.mediaType: expected string");
	check_manifest_rejected("layers/0/digest", "42", "layers[0].digest: expected string");
	check_manifest_rejected("layers/0/size", "'12'", "layers[0].size: expected integer");
	check_manifest_rejected("layers/0/urls", "'https://x'", "layers[0].urls: expected array");
	check_manifest_rejected("layers/2/urls", "['https://x', 1]",
				"layers[2].urls[1]: expected string");
}

static void test_manifest_parse_rejects_bad_digests_and_sizes(void **state)
{
	(void)state;
	check_manifest_rejected("layers/2/digest", "'sha256:xyz'",
				"layers[2].digest: invalid digest 'sha256:xyz'");
	check_manifest_rejected("config/digest", "'" D_1 "0'",
				"config.digest: invalid digest '" D_1 "0'");
	check_manifest_rejected(
		"layers/0/digest",
		"'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce'",
		"layers[0].digest: invalid digest "
		"'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce'");
	check_manifest_rejected("layers/1/size", "-1",
				"layers[1].size: must not be negative, got -1");
	check_manifest_rejected("config/size", "-4096",
				"config.size: must not be negative, got -4096");
}

static void test_manifest_parse_rejects_wrong_media_types(void **state)
{
	(void)state;
	check_manifest_rejected("mediaType", "'application/vnd.oci.image.index.v1+json'",
				"mediaType: 'application/vnd.oci.image.index.v1+json' is an "
				"index, not an image manifest");
	check_manifest_rejected("mediaType",
				"'application/vnd.docker.distribution.manifest.list.v2+json'",
				"mediaType: 'application/vnd.docker.distribution.manifest.list."
				"v2+json' is an index, not an image manifest");
	check_manifest_rejected("mediaType", "'application/x-foo'",
				"mediaType: unsupported media type 'application/x-foo'");
	check_manifest_rejected("mediaType",
				"'application/vnd.docker.distribution.manifest.v1+prettyjws'",
				"mediaType: unsupported media type "
				"'application/vnd.docker.distribution.manifest.v1+prettyjws'");
	check_manifest_rejected("config/mediaType", "'application/vnd.oci.image.index.v1+json'",
				"config.mediaType: 'application/vnd.oci.image.index.v1+json' is "
				"an index, not an image config");
	check_manifest_rejected(
		"config/mediaType", "'application/vnd.oci.image.manifest.v1+json'",
		"config.mediaType: 'application/vnd.oci.image.manifest.v1+json' is an image "
		"manifest, not an image config");
	check_manifest_rejected(
		"config/mediaType", "'application/vnd.oci.image.layer.v1.tar'",
		"config.mediaType: 'application/vnd.oci.image.layer.v1.tar' is a layer, not an "
		"image config");
	check_manifest_rejected(
		"layers/0/mediaType", "'application/vnd.oci.image.config.v1+json'",
		"layers[0].mediaType: 'application/vnd.oci.image.config.v1+json' is an image "
		"config, not a layer");
	check_manifest_rejected("layers/0/mediaType", "'tar'",
				"layers[0].mediaType: invalid media type 'tar'");
	check_manifest_rejected("layers/0/mediaType", "''",
				"layers[0].mediaType: invalid media type ''");
	check_manifest_rejected("layers/0/mediaType", "'application/ tar'",
				"layers[0].mediaType: invalid media type 'application/ tar'");
}

static void test_manifest_parse_rejects_an_index(void **state)
{
	static const char ix[] = "{'schemaVersion': 2, 'manifests': []}";
	cleanup_free char *text = dq(ix);

	(void)state;
	check_manifest_text_rejected(text, strlen(text), EINVAL,
				     "manifests: the document is an index, not an image manifest");
}

static void test_manifest_parse_rejects_documents_that_are_not_json_objects(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_manifest *m = UNTOUCHED;

	(void)state;
	check_manifest_text_rejected("[1, 2]", 6, EINVAL, "manifest: expected a JSON object");
	assert_int_equal(img_manifest_parse("{\"schemaVersion\": 2,", 20, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "manifest: invalid JSON at line 1"));
	assert_ptr_equal(m, UNTOUCHED);
	err_clear(&err);
	/* jansson refuses a bare value at the top */
	assert_int_equal(img_manifest_parse("\"x\"", 3, &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "manifest: invalid JSON at line 1"));
	err_clear(&err);
	/* duplicate keys could mean different things to different readers */
	assert_int_equal(img_manifest_parse("{\"a\": 1, \"a\": 2}", 16, &m, &err), -EINVAL);
	assert_ptr_equal(m, UNTOUCHED);
}

static void test_manifest_parse_rejects_documents_over_4_mib(void **state)
{
	size_t len = (4u << 20) + 1;
	cleanup_free char *text = xmalloc(len);

	(void)state;
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	check_manifest_text_rejected(text, len, EFBIG,
				     "manifest: 4194305 bytes is more than the limit of 4194304");
}

/* A manifest of @n identical layers. */
static char *manifest_with_layers(size_t n)
{
	cleanup_json json_t *doc = load(oci_manifest);
	json_t *layers = json_array();
	json_t *layer = json_array_get(json_object_get(doc, "layers"), 0);

	for (size_t i = 0; i < n; i++)
		json_array_append(layers, layer);
	json_object_set_new(doc, "layers", layers);
	return json_dumps(doc, JSON_COMPACT);
}

static void test_manifest_parse_allows_1000_layers_and_no_more(void **state)
{
	cleanup_free char *ok = manifest_with_layers(1000);
	cleanup_free char *over = manifest_with_layers(1001);
	cleanup_err struct err err = ERR_INIT;
	struct img_manifest *m = NULL;

	(void)state;
	assert_int_equal(img_manifest_parse(ok, strlen(ok), &m, &err), 0);
	assert_int_equal(m->n_layers, 1000);
	img_manifest_free(m);
	check_manifest_text_rejected(over, strlen(over), EINVAL,
				     "layers: 1001 entries, more than the limit of 1000");
}

static void test_manifest_free_accepts_null(void **state)
{
	(void)state;
	img_manifest_free(NULL);
	img_index_free(NULL);
	img_config_free(NULL);
	img_platform_done(NULL);
}

/* ---- media types ---- */

static void check_media_type_of(const char *squoted, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *text = dq(squoted);
	cleanup_free char *mt = NULL;

	if (img_media_type_of(text, strlen(text), &mt, &err) < 0)
		fail_msg("img_media_type_of: %s", err.msg);
	assert_string_equal(mt, want);
}

static void test_media_type_of_reads_the_field_or_the_shape(void **state)
{
	(void)state;
	check_media_type_of(docker_manifest, IMG_MT_DOCKER_MANIFEST);
	check_media_type_of(oci_manifest, IMG_MT_OCI_MANIFEST);
	check_media_type_of("{'schemaVersion': 2, 'manifests': []}", IMG_MT_OCI_INDEX);
	check_media_type_of("{'schemaVersion': 2, 'config': {}, 'layers': []}",
			    IMG_MT_OCI_MANIFEST);
	check_media_type_of("{'mediaType': 'application/vnd.docker.distribution.manifest.list."
			    "v2+json', 'manifests': []}",
			    IMG_MT_DOCKER_LIST);
}

static void test_media_type_of_rejects_shapeless_and_schema1_documents(void **state)
{
	static const char *const docs[] = {
		"{'schemaVersion': 2}",
		"{'schemaVersion': 1, 'fsLayers': [], 'history': []}",
		"{'mediaType': 5}",
		"[]",
	};
	static const char *const wants[] = {
		"manifest: no mediaType, and neither manifests nor layers to tell it by",
		"manifest: docker schema 1 manifests are not supported",
		"mediaType: expected string",
		"manifest: expected a JSON object",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *text = dq(docs[i]);
		char *mt = UNTOUCHED;

		assert_int_equal(img_media_type_of(text, strlen(text), &mt, &err), -EINVAL);
		assert_string_equal(err.msg, wants[i]);
		assert_ptr_equal(mt, UNTOUCHED);
	}
}

static void test_media_is_index_knows_oci_and_docker_lists(void **state)
{
	(void)state;
	assert_true(img_media_is_index(IMG_MT_OCI_INDEX));
	assert_true(img_media_is_index(IMG_MT_DOCKER_LIST));
	assert_false(img_media_is_index(IMG_MT_OCI_MANIFEST));
	assert_false(img_media_is_index(IMG_MT_DOCKER_MANIFEST));
	assert_false(img_media_is_index(""));
	assert_false(img_media_is_index(NULL));
}

/* ---- indexes ---- */

static const char oci_index[] =
	"{'schemaVersion': 2,"
	" 'mediaType': 'application/vnd.oci.image.index.v1+json',"
	" 'manifests': ["
	"  {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': '" D_1 "',"
	"   'size': 1000, 'platform': {'architecture': 'amd64', 'os': 'linux'}},"
	"  {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': '" D_2 "',"
	"   'size': 1001,"
	"   'platform': {'architecture': 'arm64', 'os': 'linux', 'variant': 'v8'}},"
	"  {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': '" D_3 "',"
	"   'size': 1002, 'platform': {'architecture': 'unknown', 'os': 'unknown'},"
	"   'annotations': {'vnd.docker.reference.type': 'attestation-manifest'}},"
	"  {'mediaType': 'application/vnd.oci.image.manifest.v1+json', 'digest': '" D_4 "',"
	"   'size': 1003, 'platform': {'architecture': 'amd64', 'os': 'windows',"
	"   'os.version': '10.0.17763.1234', 'os.features': ['win32k']}}]}";

static struct img_index *index_ok(const char *squoted)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *text = dq(squoted);
	struct img_index *ix = NULL;

	if (img_index_parse(text, strlen(text), &ix, &err) < 0)
		fail_msg("img_index_parse: %s", err.msg);
	return ix;
}

static void check_index_text_rejected(const char *text, int code, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_index *ix = UNTOUCHED;

	assert_int_equal(img_index_parse(text, strlen(text), &ix, &err), -code);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, want);
	assert_ptr_equal(ix, UNTOUCHED);
}

static void check_index_rejected(const char *ptr, const char *value, const char *want)
{
	cleanup_free char *text = edited(oci_index, ptr, value);

	check_index_text_rejected(text, EINVAL, want);
}

static void test_index_parse_reads_entries_and_platforms(void **state)
{
	struct img_index *ix = index_ok(oci_index);

	(void)state;
	assert_string_equal(ix->media_type, IMG_MT_OCI_INDEX);
	assert_int_equal(ix->n, 4);
	assert_string_equal(ix->manifests[0].digest, D_1);
	assert_int_equal(ix->manifests[0].size, 1000);
	assert_string_equal(ix->manifests[0].platform.os, "linux");
	assert_string_equal(ix->manifests[0].platform.arch, "amd64");
	assert_null(ix->manifests[0].platform.variant);
	assert_string_equal(ix->manifests[1].platform.arch, "arm64");
	assert_string_equal(ix->manifests[1].platform.variant, "v8");
	assert_string_equal(ix->manifests[3].platform.os, "windows");
	img_index_free(ix);
}

static void test_index_parse_reads_a_docker_manifest_list(void **state)
{
	static const char list[] =
		"{'schemaVersion': 2,"
		" 'mediaType': 'application/vnd.docker.distribution.manifest.list.v2+json',"
		" 'manifests': [{'mediaType': "
		"'application/vnd.docker.distribution.manifest.v2+json',"
		"  'size': 7143, 'digest': '" D_5 "',"
		"  'platform': {'architecture': 'ppc64le', 'os': 'linux'}},"
		" {'mediaType': 'application/vnd.docker.distribution.manifest.v2+json',"
		"  'size': 7682, 'digest': '" D_6 "',"
		"  'platform': {'architecture': 'arm', 'os': 'linux', 'variant': 'v6',"
		"   'features': ['sse4']}}]}";
	struct img_index *ix = index_ok(list);

	(void)state;
	assert_string_equal(ix->media_type, IMG_MT_DOCKER_LIST);
	assert_int_equal(ix->n, 2);
	assert_string_equal(ix->manifests[0].media_type, IMG_MT_DOCKER_MANIFEST);
	assert_string_equal(ix->manifests[0].platform.arch, "ppc64le");
	assert_string_equal(ix->manifests[1].platform.variant, "v6");
	img_index_free(ix);
}

static void test_index_parse_takes_an_index_without_media_type_as_oci(void **state)
{
	struct img_index *ix = index_ok("{'schemaVersion': 2, 'manifests': []}");

	(void)state;
	assert_string_equal(ix->media_type, IMG_MT_OCI_INDEX);
	assert_int_equal(ix->n, 0);
	img_index_free(ix);
}

static void test_index_parse_rejects_bad_entries_with_their_path(void **state)
{
	(void)state;
	check_index_rejected("schemaVersion", "1",
			     "schemaVersion: expected 2, got 1 (docker schema 1 manifests are not "
			     "supported)");
	check_index_rejected("manifests", NULL, "manifests: required");
	check_index_rejected("manifests", "{}", "manifests: expected array");
	check_index_rejected("manifests/1", "[]", "manifests[1]: expected object");
	check_index_rejected("manifests/0/mediaType", NULL, "manifests[0].mediaType: required");
	check_index_rejected("manifests/3/digest", "'sha256:1234'",
			     "manifests[3].digest: invalid digest 'sha256:1234'");
	check_index_rejected("manifests/1/size", "-2",
			     "manifests[1].size: must not be negative, got -2");
	check_index_rejected("manifests/1/platform", "'linux/arm64'",
			     "manifests[1].platform: expected object");
	check_index_rejected("manifests/1/platform/architecture", NULL,
			     "manifests[1].platform.architecture: required");
	check_index_rejected("manifests/0/platform/os", "''",
			     "manifests[0].platform.os: must not be empty");
	check_index_rejected("manifests/1/platform/variant", "8",
			     "manifests[1].platform.variant: expected string");
	check_index_rejected("manifests/3/platform/os.version", "10",
			     "manifests[3].platform.os.version: expected string");
	check_index_rejected("manifests/3/platform/os.features", "[true]",
			     "manifests[3].platform.os.features[0]: expected string");
	check_index_rejected("mediaType", "'application/vnd.oci.image.manifest.v1+json'",
			     "mediaType: 'application/vnd.oci.image.manifest.v1+json' is an image "
			     "manifest, not an index");
	check_index_rejected("mediaType", "'text/plain'",
			     "mediaType: unsupported media type 'text/plain'");
}

static void test_index_parse_allows_1000_entries_and_no_more(void **state)
{
	cleanup_json json_t *doc = load(oci_index);
	json_t *entry = json_array_get(json_object_get(doc, "manifests"), 0);
	json_t *entries = json_array();
	cleanup_free char *text = NULL;
	struct img_index *ix;

	(void)state;
	for (size_t i = 0; i < 1000; i++)
		json_array_append(entries, entry);
	json_object_set_new(doc, "manifests", entries);
	text = json_dumps(doc, JSON_COMPACT);
	ix = index_ok(text);
	assert_int_equal(ix->n, 1000);
	img_index_free(ix);
	free(text);
	json_array_append(entries, entry);
	text = json_dumps(doc, JSON_COMPACT);
	check_index_text_rejected(text, EINVAL,
				  "manifests: 1001 entries, more than the limit of 1000");
}

/* ---- platforms and selection ---- */

static void check_platform(const char *s, const char *os, const char *arch, const char *variant)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_platform p = {0};

	if (img_platform_parse(s, &p, &err) < 0)
		fail_msg("img_platform_parse('%s'): %s", s, err.msg);
	assert_string_equal(p.os, os);
	assert_string_equal(p.arch, arch);
	if (variant)
		assert_string_equal(p.variant, variant);
	else
		assert_null(p.variant);
	img_platform_done(&p);
	assert_null(p.os);
}

static void test_platform_parse_reads_os_arch_and_variant(void **state)
{
	(void)state;
	check_platform("linux/amd64", "linux", "amd64", NULL);
	check_platform("linux/arm64/v8", "linux", "arm64", "v8");
	check_platform("linux/arm/v6", "linux", "arm", "v6");
	check_platform("windows/amd64", "windows", "amd64", NULL);
	check_platform("linux/s390x", "linux", "s390x", NULL);
}

static void test_platform_parse_normalises_common_spellings(void **state)
{
	(void)state;
	check_platform("linux/x86_64", "linux", "amd64", NULL);
	check_platform("linux/aarch64", "linux", "arm64", NULL);
	check_platform("Linux/AMD64", "linux", "amd64", NULL);
	check_platform("linux/armhf", "linux", "arm", "v7");
	check_platform("linux/arm/7", "linux", "arm", "v7");
	check_platform("linux/i686", "linux", "386", NULL);
}

static void test_platform_parse_defaults_to_the_host(void **state)
{
	struct utsname u;
	const char *want = NULL;

	(void)state;
	assert_int_equal(uname(&u), 0);
	if (!strcmp(u.machine, "x86_64"))
		want = "amd64";
	else if (!strcmp(u.machine, "aarch64"))
		want = "arm64";
	if (want) {
		check_platform("", "linux", want, NULL);
		check_platform(NULL, "linux", want, NULL);
	} else {
		struct img_platform p = {0};
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(img_platform_parse(NULL, &p, &err), 0);
		assert_string_equal(p.os, "linux");
		img_platform_done(&p);
	}
}

static void test_platform_parse_rejects_malformed_platforms(void **state)
{
	static const char *const bad[] = {"linux",        "linux/",    "/amd64",
					  "linux/amd64/", "linux//v7", "linux/arm/v7/x"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *want =
			xasprintf("invalid platform '%s': expected os/arch[/variant]", bad[i]);
		struct img_platform p = {UNTOUCHED, NULL, NULL};

		assert_int_equal(img_platform_parse(bad[i], &p, &err), -EINVAL);
		assert_string_equal(err.msg, want);
		assert_ptr_equal(p.os, UNTOUCHED);
	}
}

static void test_platform_parse_rejects_odd_characters(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_platform p = {0};

	(void)state;
	assert_int_equal(img_platform_parse("linux/amd 64", &p, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid platform 'linux/amd 64': expected "
				     "os/arch[/variant] of letters, digits, '.', '_' and '-'");
}

/* An index of entries "os/arch[/variant]" (NULL: no platform), digests D_1, D_2, ... */
static struct img_index *index_of(const char *const *platforms, size_t n)
{
	static const char *const digests[] = {D_1, D_2, D_3, D_4, D_5, D_6};
	cleanup_json json_t *doc = load("{'schemaVersion': 2, 'manifests': []}");
	json_t *entries = json_object_get(doc, "manifests");
	cleanup_free char *text = NULL;

	assert_true(n <= sizeof(digests) / sizeof(digests[0]));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:s, s:s, s:i}", "mediaType", IMG_MT_OCI_MANIFEST, "digest",
				      digests[i], "size", 100);

		if (platforms[i]) {
			cleanup_free char *copy = xstrdup(platforms[i]);
			char *arch = strchr(copy, '/'), *variant;

			*arch++ = '\0';
			variant = strchr(arch, '/');
			if (variant)
				*variant++ = '\0';
			json_object_set_new(
				e, "platform",
				json_pack("{s:s, s:s}", "os", copy, "architecture", arch));
			if (variant)
				json_object_set_new(json_object_get(e, "platform"), "variant",
						    json_string(variant));
		}
		json_array_append_new(entries, e);
	}
	text = json_dumps(doc, JSON_COMPACT);
	return index_ok(text);
}

#define INDEX_OF(...)                                                                              \
	index_of((const char *const[]){__VA_ARGS__},                                               \
		 sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Selecting @want from @ix gives the entry with digest @digest. */
static void check_select(struct img_index *ix, const char *want, const char *digest)
{
	cleanup_err struct err err = ERR_INIT;
	const struct img_descriptor *d = NULL;
	struct img_platform p = {0};

	if (img_platform_parse(want, &p, &err) < 0)
		fail_msg("%s", err.msg);
	if (img_index_select(ix, &p, &d, &err) < 0)
		fail_msg("select %s: %s", want, err.msg);
	assert_string_equal(d->digest, digest);
	img_platform_done(&p);
}

static void check_select_fails(struct img_index *ix, const char *want, const char *msg)
{
	cleanup_err struct err err = ERR_INIT;
	const struct img_descriptor *d = UNTOUCHED;
	struct img_platform p = {0};

	if (img_platform_parse(want, &p, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(img_index_select(ix, &p, &d, &err), -ENOENT);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, msg);
	assert_ptr_equal(d, UNTOUCHED);
	img_platform_done(&p);
}

static void test_index_select_matches_os_and_architecture_exactly(void **state)
{
	struct img_index *ix = index_ok(oci_index);

	(void)state;
	check_select(ix, "linux/amd64", D_1);
	check_select(ix, "windows/amd64", D_4);
	check_select(ix, "linux/arm64", D_2);
	check_select(ix, "linux/arm64/v8", D_2);
	img_index_free(ix);
}

static void test_index_select_names_the_platforms_it_has(void **state)
{
	struct img_index *ix =
		INDEX_OF("linux/amd64", "linux/arm64/v8", "unknown/unknown", "linux/amd64");

	(void)state;
	check_select_fails(
		ix, "linux/s390x",
		"no manifest for linux/s390x in the index (has linux/amd64, linux/arm64/v8)");
	check_select_fails(ix, "linux/arm64/v9",
			   "no manifest for linux/arm64/v9 in the index (has linux/amd64, "
			   "linux/arm64/v8)");
	check_select_fails(
		ix, "darwin/amd64",
		"no manifest for darwin/amd64 in the index (has linux/amd64, linux/arm64/v8)");
	img_index_free(ix);
}

static void test_index_select_without_platforms_says_so(void **state)
{
	struct img_index *ix = index_ok("{'schemaVersion': 2, 'manifests': []}");

	(void)state;
	check_select_fails(ix, "linux/amd64",
			   "no manifest for linux/amd64 in the index (it names no platforms)");
	img_index_free(ix);
}

static void test_index_select_takes_arm64_with_or_without_v8(void **state)
{
	struct img_index *plain = INDEX_OF("linux/amd64", "linux/arm64");
	struct img_index *v8 = INDEX_OF("linux/arm64/v9", "linux/arm64/v8");

	(void)state;
	check_select(plain, "linux/arm64", D_2);
	check_select(plain, "linux/arm64/v8", D_2);
	check_select(v8, "linux/arm64", D_2);
	check_select(v8, "linux/arm64/v9", D_1);
	img_index_free(plain);
	img_index_free(v8);
}

static void test_index_select_takes_arm_v7_by_default(void **state)
{
	struct img_index *ix = INDEX_OF("linux/arm/v6", "linux/arm/v7", "linux/arm64/v8");
	struct img_index *bare = INDEX_OF("linux/arm/v6", "linux/arm");

	(void)state;
	check_select(ix, "linux/arm", D_2);
	check_select(ix, "linux/arm/v7", D_2);
	check_select(ix, "linux/arm/v6", D_1);
	/* an arm entry without a variant is v7 */
	check_select(bare, "linux/arm", D_2);
	check_select(bare, "linux/arm/v7", D_2);
	img_index_free(ix);
	img_index_free(bare);
}

static void test_index_select_falls_back_to_older_arm_only_unasked(void **state)
{
	struct img_index *ix = INDEX_OF("linux/arm/v5", "linux/arm/v6");

	(void)state;
	check_select(ix, "linux/arm", D_2);
	check_select_fails(
		ix, "linux/arm/v7",
		"no manifest for linux/arm/v7 in the index (has linux/arm/v5, linux/arm/v6)");
	check_select(ix, "linux/arm/v5", D_1);
	img_index_free(ix);
}

static void test_index_select_requires_an_asked_variant(void **state)
{
	struct img_index *ix = INDEX_OF("linux/amd64", "linux/amd64/v3");

	(void)state;
	check_select(ix, "linux/amd64", D_1);
	check_select(ix, "linux/amd64/v3", D_2);
	check_select_fails(
		ix, "linux/amd64/v2",
		"no manifest for linux/amd64/v2 in the index (has linux/amd64, linux/amd64/v3)");
	img_index_free(ix);
}

static void test_index_select_takes_an_entry_without_platform_last(void **state)
{
	struct img_index *ix = INDEX_OF(NULL, "linux/amd64");
	struct img_index *only = INDEX_OF(NULL);

	(void)state;
	check_select(ix, "linux/amd64", D_2);
	check_select(only, "linux/riscv64", D_1);
	img_index_free(ix);
	img_index_free(only);
}

/* ---- image configs ---- */

static const char oci_config[] =
	"{'architecture': 'arm64', 'os': 'linux', 'variant': 'v8',"
	" 'created': '2024-05-01T12:00:00.123456789Z', 'author': 'someone',"
	" 'config': {'User': '1000:1000', 'WorkingDir': '/srv',"
	"  'Env': ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8'],"
	"  'Entrypoint': ['/bin/app', '--serve'], 'Cmd': ['--port', '80'],"
	"  'ExposedPorts': {'80/tcp': {}, '53/udp': {}},"
	"  'Labels': {'org.opencontainers.image.source': 'https://example.com/app'},"
	"  'Volumes': {'/data': {}}, 'StopSignal': 'SIGQUIT'},"
	" 'rootfs': {'type': 'layers', 'diff_ids': ['" D_1 "', '" D_2 "']},"
	" 'history': [{'created': '2024-05-01T12:00:00Z', 'created_by': 'ADD rootfs.tar /'},"
	"  {'created_by': 'ENV LANG=C.UTF-8', 'empty_layer': true}]}";

/* Docker's config: the same keys plus container_config; null Entrypoint from the builder. */
static const char docker_config[] =
	"{'architecture': 'amd64', 'os': 'linux', 'docker_version': '24.0.5',"
	" 'created': '2023-07-18T23:19:33.655005962Z',"
	" 'config': {'Hostname': '', 'User': '', 'Env': ['PATH=/bin'], 'Cmd': ['sh'],"
	"  'Image': 'sha256:abc', 'Volumes': null, 'WorkingDir': '', 'Entrypoint': null,"
	"  'OnBuild': null, 'Labels': null},"
	" 'container_config': {'Cmd': ['/bin/sh', '-c', '#(nop) CMD [\\u0022sh\\u0022]']},"
	" 'rootfs': {'type': 'layers', 'diff_ids': ['" D_3 "']}}";

static struct img_config *config_ok(const char *squoted)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *text = dq(squoted);
	struct img_config *c = NULL;

	if (img_config_parse(text, strlen(text), &c, &err) < 0)
		fail_msg("img_config_parse: %s", err.msg);
	return c;
}

static void check_config_rejected(const char *ptr, const char *value, const char *want)
{
	cleanup_free char *text = edited(oci_config, ptr, value);
	cleanup_err struct err err = ERR_INIT;
	struct img_config *c = UNTOUCHED;

	assert_int_equal(img_config_parse(text, strlen(text), &c, &err), -EINVAL);
	assert_string_equal(err.msg, want);
	assert_ptr_equal(c, UNTOUCHED);
}

static void test_config_parse_reads_an_oci_config(void **state)
{
	struct img_config *c = config_ok(oci_config);

	(void)state;
	assert_string_equal(c->platform.os, "linux");
	assert_string_equal(c->platform.arch, "arm64");
	assert_string_equal(c->platform.variant, "v8");
	assert_string_equal(c->created, "2024-05-01T12:00:00.123456789Z");
	assert_string_equal(c->user, "1000:1000");
	assert_string_equal(c->workdir, "/srv");
	assert_int_equal(strv_len(c->env), 2);
	assert_string_equal(c->env[0], "PATH=/usr/local/bin:/usr/bin");
	assert_string_equal(c->entrypoint[0], "/bin/app");
	assert_string_equal(c->entrypoint[1], "--serve");
	assert_null(c->entrypoint[2]);
	assert_string_equal(c->cmd[1], "80");
	assert_string_equal(c->stop_signal, "SIGQUIT");
	assert_int_equal(json_object_size(c->exposed_ports), 2);
	assert_non_null(json_object_get(c->exposed_ports, "53/udp"));
	assert_string_equal(
		json_string_value(json_object_get(c->labels, "org.opencontainers.image.source")),
		"https://example.com/app");
	assert_non_null(json_object_get(c->volumes, "/data"));
	assert_int_equal(c->n_diff_ids, 2);
	assert_string_equal(c->diff_ids[0], D_1);
	assert_string_equal(c->diff_ids[1], D_2);
	assert_null(c->diff_ids[2]);
	assert_int_equal(json_array_size(c->history), 2);
	img_config_free(c);
}

static void test_config_parse_reads_a_docker_config_with_null_entrypoint(void **state)
{
	struct img_config *c = config_ok(docker_config);

	(void)state;
	assert_string_equal(c->platform.arch, "amd64");
	assert_null(c->platform.variant);
	assert_null(c->entrypoint);
	assert_string_equal(c->cmd[0], "sh");
	assert_null(c->cmd[1]);
	/* empty strings are the same as absent */
	assert_null(c->user);
	assert_null(c->workdir);
	assert_null(c->volumes);
	assert_null(c->labels);
	assert_null(c->exposed_ports);
	assert_null(c->history);
	assert_int_equal(c->n_diff_ids, 1);
	img_config_free(c);
}

static void test_config_parse_reads_a_minimal_config(void **state)
{
	struct img_config *c = config_ok(
		"{'architecture': 'amd64', 'os': 'linux', 'rootfs': {'type': 'layers', 'diff_ids': "
		"[]}}");

	(void)state;
	assert_null(c->created);
	assert_null(c->env);
	assert_null(c->cmd);
	assert_null(c->stop_signal);
	assert_int_equal(c->n_diff_ids, 0);
	assert_non_null(c->diff_ids);
	assert_null(c->diff_ids[0]);
	img_config_free(c);
}

static void test_config_parse_rejects_bad_fields_with_their_path(void **state)
{
	(void)state;
	check_config_rejected("architecture", NULL, "architecture: required");
	check_config_rejected("os", "5", "os: expected string");
	check_config_rejected("variant", "[]", "variant: expected string");
	check_config_rejected("created", "0", "created: expected string");
	check_config_rejected("config", "[]", "config: expected object");
	check_config_rejected("config/User", "1000", "config.User: expected string");
	check_config_rejected("config/Env", "'A=b'", "config.Env: expected array");
	check_config_rejected("config/Cmd", "[1]", "config.Cmd[0]: expected string");
	check_config_rejected("config/Entrypoint", "['sh', null]",
			      "config.Entrypoint[1]: expected string");
	check_config_rejected("config/ExposedPorts", "['80/tcp']",
			      "config.ExposedPorts: expected object");
	check_config_rejected("config/Labels", "{'a': 1}", "config.Labels.a: expected string");
	check_config_rejected("config/StopSignal", "9", "config.StopSignal: expected string");
	check_config_rejected("rootfs", NULL, "rootfs: required");
	check_config_rejected("rootfs", "'layers'", "rootfs: expected object");
	check_config_rejected("rootfs/type", NULL, "rootfs.type: required");
	check_config_rejected("rootfs/type", "'tarball'",
			      "rootfs.type: expected 'layers', got 'tarball'");
	check_config_rejected("rootfs/diff_ids", NULL, "rootfs.diff_ids: required");
	check_config_rejected("rootfs/diff_ids/1", "'sha256:xyz'",
			      "rootfs.diff_ids[1]: invalid digest 'sha256:xyz'");
	check_config_rejected("rootfs/diff_ids/0", "{}", "rootfs.diff_ids[0]: expected string");
	check_config_rejected("history", "{}", "history: expected array");
}

static void test_config_parse_rejects_more_than_1000_layers(void **state)
{
	cleanup_json json_t *doc = load(oci_config);
	json_t *ids = json_array();
	cleanup_free char *text = NULL;
	cleanup_err struct err err = ERR_INIT;
	struct img_config *c = UNTOUCHED;

	(void)state;
	for (size_t i = 0; i < 1001; i++)
		json_array_append_new(ids, json_string(D_1));
	json_object_set_new(json_object_get(doc, "rootfs"), "diff_ids", ids);
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(img_config_parse(text, strlen(text), &c, &err), -EINVAL);
	assert_string_equal(err.msg, "rootfs.diff_ids: 1001 entries, more than the limit of 1000");
	assert_ptr_equal(c, UNTOUCHED);
}

static void test_config_parse_rejects_documents_over_4_mib(void **state)
{
	size_t len = (5u << 20);
	cleanup_free char *text = xmalloc(len);
	cleanup_err struct err err = ERR_INIT;
	struct img_config *c = UNTOUCHED;

	(void)state;
	memset(text, ' ', len);
	assert_int_equal(img_config_parse(text, len, &c, &err), -EFBIG);
	assert_string_equal(err.msg,
			    "image config: 5242880 bytes is more than the limit of 4194304");
	assert_ptr_equal(c, UNTOUCHED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_of_matches_known_sha256_vectors),
		cmocka_unit_test(test_hash_streamed_in_pieces_equals_one_shot),
		cmocka_unit_test(test_hash_with_no_input_is_the_empty_digest),
		cmocka_unit_test(test_digest_valid_accepts_only_lowercase_sha256),
		cmocka_unit_test(test_manifest_parse_reads_an_oci_manifest),
		cmocka_unit_test(test_manifest_parse_reads_a_docker_schema2_manifest),
		cmocka_unit_test(test_manifest_parse_takes_a_manifest_without_media_type_as_oci),
		cmocka_unit_test(test_manifest_parse_accepts_no_layers_and_artifact_configs),
		cmocka_unit_test(test_manifest_parse_rejects_other_schema_versions),
		cmocka_unit_test(test_manifest_parse_rejects_missing_fields),
		cmocka_unit_test(test_manifest_parse_rejects_wrong_types),
		cmocka_unit_test(test_manifest_parse_rejects_bad_digests_and_sizes),
		cmocka_unit_test(test_manifest_parse_rejects_wrong_media_types),
		cmocka_unit_test(test_manifest_parse_rejects_an_index),
		cmocka_unit_test(test_manifest_parse_rejects_documents_that_are_not_json_objects),
		cmocka_unit_test(test_manifest_parse_rejects_documents_over_4_mib),
		cmocka_unit_test(test_manifest_parse_allows_1000_layers_and_no_more),
		cmocka_unit_test(test_manifest_free_accepts_null),
		cmocka_unit_test(test_media_type_of_reads_the_field_or_the_shape),
		cmocka_unit_test(test_media_type_of_rejects_shapeless_and_schema1_documents),
		cmocka_unit_test(test_media_is_index_knows_oci_and_docker_lists),
		cmocka_unit_test(test_index_parse_reads_entries_and_platforms),
		cmocka_unit_test(test_index_parse_reads_a_docker_manifest_list),
		cmocka_unit_test(test_index_parse_takes_an_index_without_media_type_as_oci),
		cmocka_unit_test(test_index_parse_rejects_bad_entries_with_their_path),
		cmocka_unit_test(test_index_parse_allows_1000_entries_and_no_more),
		cmocka_unit_test(test_platform_parse_reads_os_arch_and_variant),
		cmocka_unit_test(test_platform_parse_normalises_common_spellings),
		cmocka_unit_test(test_platform_parse_defaults_to_the_host),
		cmocka_unit_test(test_platform_parse_rejects_malformed_platforms),
		cmocka_unit_test(test_platform_parse_rejects_odd_characters),
		cmocka_unit_test(test_index_select_matches_os_and_architecture_exactly),
		cmocka_unit_test(test_index_select_names_the_platforms_it_has),
		cmocka_unit_test(test_index_select_without_platforms_says_so),
		cmocka_unit_test(test_index_select_takes_arm64_with_or_without_v8),
		cmocka_unit_test(test_index_select_takes_arm_v7_by_default),
		cmocka_unit_test(test_index_select_falls_back_to_older_arm_only_unasked),
		cmocka_unit_test(test_index_select_requires_an_asked_variant),
		cmocka_unit_test(test_index_select_takes_an_entry_without_platform_last),
		cmocka_unit_test(test_config_parse_reads_an_oci_config),
		cmocka_unit_test(test_config_parse_reads_a_docker_config_with_null_entrypoint),
		cmocka_unit_test(test_config_parse_reads_a_minimal_config),
		cmocka_unit_test(test_config_parse_rejects_bad_fields_with_their_path),
		cmocka_unit_test(test_config_parse_rejects_more_than_1000_layers),
		cmocka_unit_test(test_config_parse_rejects_documents_over_4_mib),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("image_manifest", tests, NULL, NULL);
}
