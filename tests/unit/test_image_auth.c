/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the registry client's pure helpers (image/auth.c): registry keys, base
 * URLs and loopback detection, URL origins and resolution, WWW-Authenticate parsing and
 * token URLs, base64, and reading and updating docker-compatible auth.json files.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/url.h"
#include "image/auth.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- registries and URLs ---- */

static void test_registry_key_folds_docker_hub_spellings_and_drops_url_paths(void **state)
{
	static const char *const cases[][2] = {
		{"docker.io", "docker.io"},
		{"https://index.docker.io/v1/", "docker.io"},
		{"index.docker.io", "docker.io"},
		{"registry-1.docker.io", "docker.io"},
		{"https://registry-1.docker.io", "docker.io"},
		{"localhost:5000", "localhost:5000"},
		{"http://localhost:5000/v2/", "localhost:5000"},
		{"quay.io/org/repo", "quay.io/org/repo"},
		{"quay.io/org/", "quay.io/org"},
		{"127.0.0.1:5000", "127.0.0.1:5000"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *key = img_registry_key(cases[i][0]);

		assert_string_equal(key, cases[i][1]);
	}
}

static void test_registry_url_is_plain_http_only_when_insecure_or_loopback(void **state)
{
	static const struct {
		const char *domain;
		bool insecure;
		const char *url;
	} cases[] = {
		{"docker.io", false, "https://registry-1.docker.io"},
		{"quay.io", false, "https://quay.io"},
		{"quay.io", true, "http://quay.io"},
		{"localhost", false, "http://localhost"},
		{"localhost:5000", false, "http://localhost:5000"},
		{"127.0.0.1:5000", false, "http://127.0.0.1:5000"},
		{"127.10.20.30", false, "http://127.10.20.30"},
		{"[::1]:5000", false, "http://[::1]:5000"},
		{"128.0.0.1:5000", false, "https://128.0.0.1:5000"},
		{"127.0.0.1.nip.io", false, "https://127.0.0.1.nip.io"},
		{"localhost.example.com", false, "https://localhost.example.com"},
		{"[::2]:5000", false, "https://[::2]:5000"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *url = img_registry_url(cases[i].domain, cases[i].insecure);

		assert_string_equal(url, cases[i].url);
	}
}

static void test_url_origin_ignores_case_userinfo_and_default_ports(void **state)
{
	(void)state;
	assert_true(
		img_url_same_origin("https://Registry.example/v2/a", "https://registry.example"));
	assert_true(img_url_same_origin("https://r.example:443/x", "https://r.example/y?z"));
	assert_true(img_url_same_origin("http://u:p@r.example:80/x", "http://r.example/"));
	assert_false(img_url_same_origin("https://r.example/x", "http://r.example/x"));
	assert_false(img_url_same_origin("http://127.0.0.1:5000/x", "http://localhost:5000/x"));
	assert_false(img_url_same_origin("http://r.example:5000/", "http://r.example:5001/"));
	assert_false(img_url_same_origin("/v2/", "/v2/"));
	assert_null(img_url_origin("ftp://r.example/"));
}

static void test_url_resolve_makes_upload_locations_absolute(void **state)
{
	static const char *const cases[][3] = {
		{"http://r:5000", "/v2/a/blobs/uploads/u?_state=x",
		 "http://r:5000/v2/a/blobs/uploads/u?_state=x"},
		{"http://r:5000/v2/a/", "https://s3.example/b?sig=1", "https://s3.example/b?sig=1"},
		{"https://r/v2/a/blobs/x", "//cdn.example/b", "https://cdn.example/b"},
		{"https://r/v2/a/blobs/x?q=1", "y", "https://r/v2/a/blobs/y"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *url = img_url_resolve(cases[i][0], cases[i][1]);

		assert_string_equal(url, cases[i][2]);
	}
}

static void test_url_escape_keeps_only_unreserved_characters(void **state)
{
	cleanup_free char *e = url_escape("repository:library/busybox:pull,push a~b_c.d-e");

	(void)state;
	assert_string_equal(e, "repository%3Alibrary%2Fbusybox%3Apull%2Cpush%20a~b_c.d-e");
}

/* ---- challenges ---- */

static void test_challenge_parse_reads_a_docker_hub_bearer_challenge(void **state)
{
	struct img_challenge c = {0};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(img_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
					     "service=\"registry.docker.io\","
					     "scope=\"repository:library/busybox:pull\"",
					     &c, &err),
			 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://auth.docker.io/token");
	assert_string_equal(c.service, "registry.docker.io");
	assert_string_equal(c.scope, "repository:library/busybox:pull");
	assert_null(c.error);
	img_challenge_done(&c);
}

static void test_challenge_parse_accepts_tokens_spaces_escapes_and_any_case(void **state)
{
	struct img_challenge c = {0};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(img_challenge_parse("  BEARER Realm = \"http://a/t?x=\\\"1\\\"\" , "
					     "Service=reg.example, error=\"insufficient_scope\","
					     "scope=\"repository:a:pull repository:b:pull\"",
					     &c, &err),
			 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "http://a/t?x=\"1\"");
	assert_string_equal(c.service, "reg.example");
	assert_string_equal(c.error, "insufficient_scope");
	assert_string_equal(c.scope, "repository:a:pull repository:b:pull");
	img_challenge_done(&c);
}

static void test_challenge_parse_reads_basic_and_prefers_bearer(void **state)
{
	struct img_challenge c = {0};
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(img_challenge_parse("Basic realm=\"Registry Realm\"", &c, &err), 0);
	assert_string_equal(c.scheme, "basic");
	assert_string_equal(c.realm, "Registry Realm");
	img_challenge_done(&c);

	assert_int_equal(img_challenge_parse("Negotiate, Basic realm=\"r\", Bearer "
					     "realm=\"https://t\",service=\"s\"",
					     &c, &err),
			 0);
	assert_string_equal(c.scheme, "bearer");
	assert_string_equal(c.realm, "https://t");
	assert_string_equal(c.service, "s");
	img_challenge_done(&c);
}

static void test_challenge_parse_rejects_bad_headers_with_the_reason(void **state)
{
	static const struct {
		const char *header;
		int code;
		const char *msg;
	} cases[] = {
		{"", EPROTO, "WWW-Authenticate: empty challenge"},
		{"Bearer realm=\"https://t", EPROTO,
		 "WWW-Authenticate 'Bearer realm=\"https://t': unterminated quoted string"},
		{"Bearer service=\"s\"", EPROTO,
		 "WWW-Authenticate 'Bearer service=\"s\"': bearer challenge without realm"},
		{"Negotiate abc==", ENOTSUP, "unsupported authentication scheme 'negotiate'"},
		{"\"quoted\"", EPROTO, "WWW-Authenticate '\"quoted\"': unexpected '\"'"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct img_challenge c = {0};
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(img_challenge_parse(cases[i].header, &c, &err), -cases[i].code);
		assert_int_equal(err.code, cases[i].code);
		assert_string_equal(err.msg, cases[i].msg);
		assert_null(c.scheme);
	}
}

static void test_token_url_escapes_service_and_each_scope(void **state)
{
	struct img_challenge c = {.realm = "https://auth.example/token", .service = "reg x"};
	struct img_challenge q = {.realm = "https://auth.example/token?account=a"};
	char *scopes[] = {"repository:a/b:pull,push", "repository:c:pull", NULL};
	cleanup_free char *url = img_token_url(&c, scopes);
	cleanup_free char *bare = img_token_url(&q, NULL);

	(void)state;
	assert_string_equal(url, "https://auth.example/token?service=reg%20x"
				 "&scope=repository%3Aa%2Fb%3Apull%2Cpush"
				 "&scope=repository%3Ac%3Apull");
	assert_string_equal(bare, "https://auth.example/token?account=a");
}

/* ---- base64 ---- */

static void test_base64_round_trips_rfc_4648_vectors(void **state)
{
	static const char *const vectors[][2] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
		{"alice:wonder:land", "YWxpY2U6d29uZGVyOmxhbmQ="},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
		cleanup_free char *enc = img_base64_encode(vectors[i][0], strlen(vectors[i][0]));
		cleanup_free char *dec = NULL;
		cleanup_err struct err err = ERR_INIT;
		size_t len = 0;

		assert_string_equal(enc, vectors[i][1]);
		assert_int_equal(img_base64_decode(vectors[i][1], &dec, &len, &err), 0);
		assert_int_equal(len, strlen(vectors[i][0]));
		assert_string_equal(dec, vectors[i][0]);
	}
}

static void test_base64_decode_rejects_other_text(void **state)
{
	static const char *const bad[] = {"Zm9v!", "Zg", "Z===", "Zm9 v", "Zg=a"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_free char *dec = NULL;
		cleanup_err struct err err = ERR_INIT;
		size_t len = 0;

		assert_int_equal(img_base64_decode(bad[i], &dec, &len, &err), -EINVAL);
		assert_null(dec);
	}
}

/* ---- auth.json ---- */

/* user:pass pairs in base64 */
#define AUTH_ALICE "YWxpY2U6c2VjcmV0"     /* alice:secret */
#define AUTH_BOB   "Ym9iOnBhOnNz"         /* bob:pa:ss */
#define AUTH_CAROL "Y2Fyb2w6aHVudGVyMg==" /* carol:hunter2 */

static int lookup(const char *text, const char *registry, const char *repo, char **user,
		  char **pass)
{
	cleanup_err struct err err = ERR_INIT;
	int r = img_auth_json_lookup(text, strlen(text), "auth.json", registry, repo, user, pass,
				     &err);

	if (r < 0)
		fail_msg("lookup failed: %s", err.msg);
	return r;
}

static void test_auth_lookup_finds_docker_and_podman_spellings(void **state)
{
	const char *text = "{\"auths\": {"
			   "\"https://index.docker.io/v1/\": {\"auth\": \"" AUTH_ALICE "\"},"
			   "\"localhost:5000\": {\"auth\": \"" AUTH_BOB "\"},"
			   "\"quay.io\": {}"
			   "}, \"credsStore\": \"desktop\"}";
	cleanup_free char *user = NULL, *pass = NULL;

	(void)state;
	assert_int_equal(lookup(text, "docker.io", "library/busybox", &user, &pass), 1);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "secret");
	free(user);
	free(pass);
	user = pass = NULL;
	assert_int_equal(lookup(text, "localhost:5000", NULL, &user, &pass), 1);
	assert_string_equal(user, "bob");
	assert_string_equal(pass, "pa:ss");
	free(user);
	free(pass);
	user = pass = NULL;
	/* an entry without "auth" (a credential helper's) is no credentials */
	assert_int_equal(lookup(text, "quay.io", "a/b", &user, &pass), 0);
	assert_int_equal(lookup(text, "localhost:5001", NULL, &user, &pass), 0);
	assert_int_equal(lookup("{}", "docker.io", NULL, &user, &pass), 0);
	assert_null(user);
	assert_null(pass);
}

static void test_auth_lookup_prefers_the_most_specific_repository_key(void **state)
{
	const char *text = "{\"auths\": {"
			   "\"quay.io\": {\"auth\": \"" AUTH_ALICE "\"},"
			   "\"quay.io/team\": {\"auth\": \"" AUTH_BOB "\"},"
			   "\"quay.io/team/app\": {\"auth\": \"" AUTH_CAROL "\"}"
			   "}}";
	static const char *const cases[][2] = {
		{"team/app", "carol"},  {"team/app/sub", "carol"}, {"team/other", "bob"},
		{"teams/app", "alice"}, {"other", "alice"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *user = NULL, *pass = NULL;

		assert_int_equal(lookup(text, "quay.io", cases[i][0], &user, &pass), 1);
		assert_string_equal(user, cases[i][1]);
	}
}

static void test_auth_lookup_rejects_malformed_files(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"[]", "auth.json: expected a JSON object"},
		{"{\"auths\": []}", "auth.json: auths: expected object"},
		{"{\"auths\": {\"r\": {\"auth\": \"bm9jb2xvbg==\"}}}",
		 "auth.json: auths.r.auth: expected base64 of user:password"},
		{"{\"auths\": {\"r\": {\"auth\": \"!!\"}}}",
		 "auth.json: auths.r.auth: invalid base64: unexpected character at 0"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cleanup_free char *user = NULL, *pass = NULL;
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(img_auth_json_lookup(cases[i].text, strlen(cases[i].text),
						      "auth.json", "r", NULL, &user, &pass, &err),
				 -EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
		assert_null(user);
	}
}

static void test_auth_update_sets_replaces_and_removes_entries(void **state)
{
	const char *text = "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"x\"},"
			   "\"quay.io\": {\"auth\": \"" AUTH_BOB "\"}}, \"credHelpers\": {}}";
	cleanup_free char *set = NULL, *removed = NULL, *fresh = NULL;
	cleanup_free char *user = NULL, *pass = NULL;
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(img_auth_json_update(text, strlen(text), "auth.json", "docker.io", "alice",
					      "secret", &set, &err),
			 0);
	/* the old spelling is gone, the other entries and keys stay */
	assert_null(strstr(set, "index.docker.io"));
	assert_non_null(strstr(set, "\"docker.io\""));
	assert_non_null(strstr(set, "credHelpers"));
	assert_int_equal(lookup(set, "docker.io", NULL, &user, &pass), 1);
	assert_string_equal(user, "alice");
	assert_string_equal(pass, "secret");

	assert_int_equal(img_auth_json_update(set, strlen(set), "auth.json", "quay.io", NULL, NULL,
					      &removed, &err),
			 0);
	assert_null(strstr(removed, "quay.io"));
	assert_non_null(strstr(removed, "\"docker.io\""));

	assert_int_equal(img_auth_json_update(NULL, 0, "auth.json", "http://localhost:5000/", "bob",
					      "pw", &fresh, &err),
			 0);
	assert_string_equal(fresh, "{\n \"auths\": {\n  \"localhost:5000\": {\n   \"auth\": "
				   "\"Ym9iOnB3\"\n  }\n }\n}\n");
}

static void test_auth_update_refuses_missing_entries_and_colon_users(void **state)
{
	cleanup_free char *out = NULL;
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(
		img_auth_json_update("{}", 2, "auth.json", "quay.io", NULL, NULL, &out, &err),
		-ENOENT);
	assert_string_equal(err.msg, "not logged in to 'quay.io'");
	err_clear(&err);
	assert_int_equal(
		img_auth_json_update("{}", 2, "auth.json", "quay.io", "a:b", "c", &out, &err),
		-EINVAL);
	assert_string_equal(err.msg, "user name 'a:b' contains ':'");
	assert_null(out);
}

static void test_auth_file_update_writes_mode_0600_and_lookup_reads_it(void **state)
{
	char dir[] = "/tmp/skiff-auth-XXXXXX";
	cleanup_free char *path = NULL, *user = NULL, *pass = NULL;
	cleanup_err struct err err = ERR_INIT;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/sub/auth.json", dir);
	assert_int_equal(img_auth_file_update(path, "localhost:5000", "bob", "pw", &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(img_auth_file_lookup(path, "localhost:5000", "a", &user, &pass, &err), 1);
	assert_string_equal(user, "bob");
	assert_string_equal(pass, "pw");
	assert_int_equal(img_auth_file_update(path, "localhost:5000", NULL, NULL, &err), 0);
	assert_int_equal(img_auth_file_update(path, "localhost:5000", NULL, NULL, &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(fs_remove_tree(AT_FDCWD, dir, &err), 0);
}

static void test_auth_file_path_follows_podman_defaults(void **state)
{
	cleanup_free char *explicit_path = img_auth_file_path("/x/auth.json");
	cleanup_free char *from_env = NULL, *from_xdg = NULL, *fallback = NULL, *want = NULL;

	(void)state;
	assert_string_equal(explicit_path, "/x/auth.json");
	setenv("REGISTRY_AUTH_FILE", "/e/auth.json", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	from_env = img_auth_file_path(NULL);
	assert_string_equal(from_env, "/e/auth.json");
	unsetenv("REGISTRY_AUTH_FILE");
	from_xdg = img_auth_file_path(NULL);
	assert_string_equal(from_xdg, "/run/user/7/containers/auth.json");
	unsetenv("XDG_RUNTIME_DIR");
	fallback = img_auth_file_path(NULL);
	want = xasprintf("/run/containers/%u/auth.json", (unsigned)getuid());
	assert_string_equal(fallback, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_key_folds_docker_hub_spellings_and_drops_url_paths),
		cmocka_unit_test(test_registry_url_is_plain_http_only_when_insecure_or_loopback),
		cmocka_unit_test(test_url_origin_ignores_case_userinfo_and_default_ports),
		cmocka_unit_test(test_url_resolve_makes_upload_locations_absolute),
		cmocka_unit_test(test_url_escape_keeps_only_unreserved_characters),
		cmocka_unit_test(test_challenge_parse_reads_a_docker_hub_bearer_challenge),
		cmocka_unit_test(test_challenge_parse_accepts_tokens_spaces_escapes_and_any_case),
		cmocka_unit_test(test_challenge_parse_reads_basic_and_prefers_bearer),
		cmocka_unit_test(test_challenge_parse_rejects_bad_headers_with_the_reason),
		cmocka_unit_test(test_token_url_escapes_service_and_each_scope),
		cmocka_unit_test(test_base64_round_trips_rfc_4648_vectors),
		cmocka_unit_test(test_base64_decode_rejects_other_text),
		cmocka_unit_test(test_auth_lookup_finds_docker_and_podman_spellings),
		cmocka_unit_test(test_auth_lookup_prefers_the_most_specific_repository_key),
		cmocka_unit_test(test_auth_lookup_rejects_malformed_files),
		cmocka_unit_test(test_auth_update_sets_replaces_and_removes_entries),
		cmocka_unit_test(test_auth_update_refuses_missing_entries_and_colon_users),
		cmocka_unit_test(test_auth_file_update_writes_mode_0600_and_lookup_reads_it),
		cmocka_unit_test(test_auth_file_path_follows_podman_defaults),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("image_auth", tests, NULL, NULL);
}
