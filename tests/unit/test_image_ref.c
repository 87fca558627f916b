/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of image references (image/ref.c): docker's grammar and normalisation
 * (docker.io, "library/", ":latest", index.docker.io), the canonical and familiar strings,
 * and the reason given for each kind of bad reference. A failing parse must leave *ret
 * untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "image/internal.h"

#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIG   "sha256:" HEX64
#define T16   "0123456789abcdef"
#define T128  T16 T16 T16 T16 T16 T16 T16 T16
#define A50   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct good_ref {
	const char *in;
	const char *domain, *path, *tag, *digest;
	const char *string, *familiar;
} good_refs[] = {
	{"busybox", "docker.io", "library/busybox", "latest", NULL,
	 "docker.io/library/busybox:latest", "busybox:latest"},
	{"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
	 "docker.io/library/busybox:1.36", "busybox:1.36"},
	{"library/busybox", "docker.io", "library/busybox", "latest", NULL,
	 "docker.io/library/busybox:latest", "busybox:latest"},
	{"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
	 "docker.io/library/busybox:latest", "busybox:latest"},
	{"docker.io/library/busybox:musl", "docker.io", "library/busybox", "musl", NULL,
	 "docker.io/library/busybox:musl", "busybox:musl"},
	{"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
	 "docker.io/library/busybox:latest", "busybox:latest"},
	{"index.docker.io/alpine:3", "docker.io", "library/alpine", "3", NULL,
	 "docker.io/library/alpine:3", "alpine:3"},
	{"user/app", "docker.io", "user/app", "latest", NULL, "docker.io/user/app:latest",
	 "user/app:latest"},
	{"index.docker.io/user/app:v2", "docker.io", "user/app", "v2", NULL,
	 "docker.io/user/app:v2", "user/app:v2"},
	{"a/b/c/d", "docker.io", "a/b/c/d", "latest", NULL, "docker.io/a/b/c/d:latest",
	 "a/b/c/d:latest"},
	/* docker keeps "library/" when more components follow */
	{"library/a/b", "docker.io", "library/a/b", "latest", NULL, "docker.io/library/a/b:latest",
	 "library/a/b:latest"},
	{"localhost:5000/a/b@" DIG, "localhost:5000", "a/b", NULL, DIG, "localhost:5000/a/b@" DIG,
	 "localhost:5000/a/b@" DIG},
	{"localhost:5000/a:b", "localhost:5000", "a", "b", NULL, "localhost:5000/a:b",
	 "localhost:5000/a:b"},
	{"localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest",
	 "localhost/app:latest"},
	/* without a '/' the word is a repository, and ":5000" its tag */
	{"localhost", "docker.io", "library/localhost", "latest", NULL,
	 "docker.io/library/localhost:latest", "localhost:latest"},
	{"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
	 "docker.io/library/localhost:5000", "localhost:5000"},
	{"ghcr.io/owner/repo:v1.2.3", "ghcr.io", "owner/repo", "v1.2.3", NULL,
	 "ghcr.io/owner/repo:v1.2.3", "ghcr.io/owner/repo:v1.2.3"},
	{"quay.io/coreos/etcd:v3.5@" DIG, "quay.io", "coreos/etcd", "v3.5", DIG,
	 "quay.io/coreos/etcd:v3.5@" DIG, "quay.io/coreos/etcd:v3.5@" DIG},
	{"busybox@" DIG, "docker.io", "library/busybox", NULL, DIG,
	 "docker.io/library/busybox@" DIG, "busybox@" DIG},
	{"busybox:1.36@" DIG, "docker.io", "library/busybox", "1.36", DIG,
	 "docker.io/library/busybox:1.36@" DIG, "busybox:1.36@" DIG},
	{"registry.example.com:443/team/sub/app:tag_1-x.y", "registry.example.com:443",
	 "team/sub/app", "tag_1-x.y", NULL, "registry.example.com:443/team/sub/app:tag_1-x.y",
	 "registry.example.com:443/team/sub/app:tag_1-x.y"},
	{"127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", NULL, "127.0.0.1:5000/app:latest",
	 "127.0.0.1:5000/app:latest"},
	{"[::1]:5000/app:dev", "[::1]:5000", "app", "dev", NULL, "[::1]:5000/app:dev",
	 "[::1]:5000/app:dev"},
	{"[fe80::1]/app", "[fe80::1]", "app", "latest", NULL, "[fe80::1]/app:latest",
	 "[fe80::1]/app:latest"},
	{"my-host.example/x", "my-host.example", "x", "latest", NULL, "my-host.example/x:latest",
	 "my-host.example/x:latest"},
	/* host names are not case-sensitive; docker keeps them as written */
	{"Example.COM/app", "Example.COM", "app", "latest", NULL, "Example.COM/app:latest",
	 "Example.COM/app:latest"},
	/* an uppercase first component cannot be a namespace, so docker takes it as a host */
	{"Registry/app", "Registry", "app", "latest", NULL, "Registry/app:latest",
	 "Registry/app:latest"},
	{"my-app", "docker.io", "library/my-app", "latest", NULL, "docker.io/library/my-app:latest",
	 "my-app:latest"},
	{"a--b/c__d/e.f/g_h", "docker.io", "a--b/c__d/e.f/g_h", "latest", NULL,
	 "docker.io/a--b/c__d/e.f/g_h:latest", "a--b/c__d/e.f/g_h:latest"},
	{"busybox:LATEST", "docker.io", "library/busybox", "LATEST", NULL,
	 "docker.io/library/busybox:LATEST", "busybox:LATEST"},
	{"busybox:_x", "docker.io", "library/busybox", "_x", NULL, "docker.io/library/busybox:_x",
	 "busybox:_x"},
	{"busybox:" T128, "docker.io", "library/busybox", T128, NULL,
	 "docker.io/library/busybox:" T128, "busybox:" T128},
	{"0", "docker.io", "library/0", "latest", NULL, "docker.io/library/0:latest", "0:latest"},
};

static const struct bad_ref {
	const char *in;
	const char *want; /* a substring of the message */
} bad_refs[] = {
	{"", "invalid reference '': empty"},
	{"BusyBox", "invalid reference 'BusyBox': repository name must be lowercase"},
	{"user/App", "repository name must be lowercase"},
	{"localhost:5000/A/b", "repository name must be lowercase"},
	{"docker.io/Library/busybox", "repository name must be lowercase"},
	{"busybox:" T128 "x", "tag is longer than 128 characters"},
	{"busybox:", "empty tag"},
	{"busybox:.x", "tag '.x' must start with a letter, digit or '_'"},
	{"busybox:-x", "tag '-x' must start with"},
	{"busybox:a+b", "tag 'a+b' may only contain letters, digits, '_', '.' and '-'"},
	{"busybox@sha256:xyz", "digest 'sha256:xyz' must be 'sha256:' and 64 lowercase hex"},
	{"busybox@sha256:" T16 T16 T16, "digest 'sha256:" T16 T16 T16 "' must be"},
	{"busybox@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
	 "must be 'sha256:' and 64 lowercase hex digits"},
	{"busybox@sha512:" T128, "unsupported digest 'sha512:" T128 "' (only sha256)"},
	{"busybox@", "unsupported digest '' (only sha256)"},
	{"busybox@" DIG "@" DIG, "must be 'sha256:'"},
	{"a//b", "repository name has an empty component"},
	{"a/", "repository name has an empty component"},
	{"/a", "repository name has an empty component"},
	{"-a", "repository name component '-a' must be lowercase letters and digits"},
	{"a-", "repository name component 'a-' must be"},
	{"a..b", "repository name component 'a..b' must be"},
	{"a___b", "repository name component 'a___b' must be"},
	{"a._b", "repository name component 'a._b' must be"},
	{"a b", "repository name component 'a b' must be"},
	{"a/b:c:d", "repository name component 'b:c' must be"},
	{":tag", "invalid reference ':tag': missing repository name"},
	{"@" DIG, "missing repository name"},
	{HEX64, "a repository name cannot be a 64-digit hex string"},
	{"exa_mple.com/app", "invalid registry host 'exa_mple.com'"},
	{"example.com:/app", "invalid registry host 'example.com:'"},
	{"example.com:50a/app", "invalid registry host 'example.com:50a'"},
	{"-bad.com/app", "invalid registry host '-bad.com'"},
	{"bad-.com/app", "invalid registry host 'bad-.com'"},
	{"example..com/app", "invalid registry host 'example..com'"},
	{"[::1/app", "invalid registry host '[::1'"},
	{"[]:5000/app", "invalid registry host '[]:5000'"},
	{"[::g]/app", "invalid registry host '[::g]'"},
	{A50 A50 A50 A50 A50 "/b", "repository name is longer than 255 characters"},
};

static void test_ref_parse_normalises_good_references(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_refs) / sizeof(good_refs[0]); i++) {
		const struct good_ref *c = &good_refs[i];
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *s = NULL;
		cleanup_free char *f = NULL;
		struct img_ref r = {0};

		if (img_ref_parse(c->in, &r, &err) < 0)
			fail_msg("'%s': %s", c->in, err.msg);
		assert_string_equal(r.domain, c->domain);
		assert_string_equal(r.path, c->path);
		if (c->tag)
			assert_string_equal(r.tag, c->tag);
		else
			assert_null(r.tag);
		if (c->digest)
			assert_string_equal(r.digest, c->digest);
		else
			assert_null(r.digest);
		s = img_ref_string(&r);
		f = img_ref_familiar(&r);
		assert_string_equal(s, c->string);
		assert_string_equal(f, c->familiar);
		img_ref_done(&r);
		assert_null(r.domain);
	}
}

static void test_ref_parse_rejects_bad_references_with_the_reason(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_refs) / sizeof(bad_refs[0]); i++) {
		const struct bad_ref *c = &bad_refs[i];
		cleanup_err struct err err = ERR_INIT;
		struct img_ref r = {(char *)"untouched", NULL, NULL, NULL};

		if (img_ref_parse(c->in, &r, &err) == 0)
			fail_msg("'%s' parsed as %s/%s", c->in, r.domain, r.path);
		assert_int_equal(err.code, EINVAL);
		if (!strstr(err.msg, c->want))
			fail_msg("'%s': message '%s' lacks '%s'", c->in, err.msg, c->want);
		assert_string_equal(r.domain, "untouched");
		assert_null(r.path);
	}
}

static void test_ref_parse_rejects_null(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_ref r = {0};

	(void)state;
	assert_int_equal(img_ref_parse(NULL, &r, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid reference '': empty");
}

static void test_ref_parse_error_names_the_reference(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct img_ref r = {0};

	(void)state;
	assert_int_equal(img_ref_parse("user/App:1", &r, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "invalid reference 'user/App:1': repository name must be lowercase");
}

static void test_ref_parse_does_not_echo_overlong_input(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *s = xmalloc(2000);
	struct img_ref r = {0};

	(void)state;
	memset(s, 'a', 1999);
	s[1999] = '\0';
	assert_int_equal(img_ref_parse(s, &r, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid reference: longer than 512 characters");
}

static void test_ref_parse_accepts_a_name_of_255_characters(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *name = xmalloc(247);
	cleanup_free char *longer = NULL;
	struct img_ref r = {0};

	(void)state;
	/* "docker.io/" and two components of 122: 255 in all */
	memset(name, 'a', 245);
	name[122] = '/';
	name[245] = '\0';
	longer = xasprintf("%sa", name);
	if (img_ref_parse(name, &r, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(strlen(r.domain) + 1 + strlen(r.path), 255);
	img_ref_done(&r);
	assert_int_equal(img_ref_parse(longer, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "repository name is longer than 255 characters"));
}

static void test_ref_string_round_trips_through_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_refs) / sizeof(good_refs[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		struct img_ref r = {0};
		cleanup_free char *again = NULL;

		if (img_ref_parse(good_refs[i].string, &r, &err) < 0)
			fail_msg("'%s': %s", good_refs[i].string, err.msg);
		again = img_ref_string(&r);
		assert_string_equal(again, good_refs[i].string);
		img_ref_done(&r);
		if (img_ref_parse(good_refs[i].familiar, &r, &err) < 0)
			fail_msg("'%s': %s", good_refs[i].familiar, err.msg);
		free(again);
		again = img_ref_string(&r);
		/* "localhost:5000" stays a tag of docker.io/library/localhost both ways */
		assert_string_equal(again, good_refs[i].string);
		img_ref_done(&r);
	}
}

static void test_ref_done_accepts_null_and_cleared_refs(void **state)
{
	struct img_ref r = {0};

	(void)state;
	img_ref_done(NULL);
	img_ref_done(&r);
	img_ref_done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_parse_normalises_good_references),
		cmocka_unit_test(test_ref_parse_rejects_bad_references_with_the_reason),
		cmocka_unit_test(test_ref_parse_rejects_null),
		cmocka_unit_test(test_ref_parse_error_names_the_reference),
		cmocka_unit_test(test_ref_parse_does_not_echo_overlong_input),
		cmocka_unit_test(test_ref_parse_accepts_a_name_of_255_characters),
		cmocka_unit_test(test_ref_string_round_trips_through_parse),
		cmocka_unit_test(test_ref_done_accepts_null_and_cleared_refs),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("image_ref", tests, NULL, NULL);
}
