/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pod volumes (cluster/agent/volumes.c) and the local-path provisioner
 * (cluster/agent/localpath.c). Volumes are made in a temporary directory; the test first
 * unshares a private mount namespace so its tmpfs mounts never reach the host (the tmpfs
 * checks are skipped when that is not allowed). The provisioner runs against an API
 * server started in-process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/localpath.h"
#include "cluster/agent/volumes.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"

#include "api_fixture.h"

#define TMPFS_MAGIC_ 0x01021994
#define TOKEN        "test-admin-token"

static char tmpdir[TEST_API_DIR_MAX];
static bool can_mount;

/* The fake API behind the get/token/claim callbacks. */
static struct {
	json_t *objects; /* "configmaps/ns/name" -> object */
	int token_calls;
	int64_t token_age; /* how old a new token claims to be, in seconds */
	char *claim_path;
} fake;

static int fake_get(void *arg, const char *kind, const char *ns, const char *name, json_t **ret,
		    struct err *err)
{
	cleanup_free char *key = xasprintf("%s/%s/%s", kind, ns, name);
	json_t *o = json_object_get(fake.objects, key);

	(void)arg;
	if (!o)
		return err_set(err, ENOENT, "%s \"%s\" not found", kind, name);
	*ret = json_incref(o);
	return 0;
}

static char *fake_jwt(int64_t iat, int64_t exp)
{
	cleanup_free char *claims =
		xasprintf("{\"iat\":%lld,\"exp\":%lld}", (long long)iat, (long long)exp);
	cleanup_free char *mid = b64_encode(claims, strlen(claims), true);

	return xasprintf("eyJhbGciOiJSUzI1NiJ9.%s.c2ln", mid);
}

static int fake_token(void *arg, const char *ns, const char *sa, const char *audience,
		      int64_t expiration_s, char **ret, struct err *err)
{
	int64_t now = (int64_t)time(NULL);

	(void)arg;
	(void)err;
	assert_string_equal(ns, "web");
	assert_string_equal(sa, "builder");
	assert_string_equal(audience, "vault");
	assert_int_equal(expiration_s, 3600);
	fake.token_calls++;
	*ret = fake_jwt(now - fake.token_age, now - fake.token_age + expiration_s);
	return 0;
}

static int fake_claim(void *arg, const char *ns, const char *claim, char **ret, struct err *err)
{
	(void)arg;
	if (strcmp(claim, "data"))
		return err_set(err, ENOENT, "persistentvolumeclaim \"%s\" not found", claim);
	assert_string_equal(ns, "web");
	*ret = xstrdup(fake.claim_path);
	return 0;
}

static struct vol_ctx ctx;

static void put_object(const char *kind, const char *name, const char *json)
{
	json_error_t je;
	json_t *o = json_loads(json, 0, &je);

	if (!o)
		fail_msg("bad test JSON: %s", je.text);
	{
		cleanup_free char *key = xasprintf("%s/web/%s", kind, name);

		json_object_set_new(fake.objects, key, o);
	}
}

/* A pod in namespace "web" with @volumes (a JSON array) and uid @uid. */
static json_t *pod_with(const char *uid, const char *volumes)
{
	json_error_t je;
	cleanup_free char *text = xasprintf(
		"{\"metadata\":{\"name\":\"p\",\"namespace\":\"web\",\"uid\":\"%s\","
		"\"labels\":{\"app\":\"web\",\"tier\":\"a\\\"b\"},"
		"\"annotations\":{\"z\":\"last\",\"a\":\"multi\\nline\"}},"
		"\"spec\":{\"serviceAccountName\":\"builder\",\"volumes\":%s,"
		"\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"64Mi\"},"
		"\"requests\":{\"cpu\":\"250m\"}}}]}}",
		uid, volumes);
	json_t *p = json_loads(text, 0, &je);

	if (!p)
		fail_msg("bad pod JSON: %s", je.text);
	return p;
}

static char *read_text(const char *path)
{
	struct err err = ERR_INIT;
	char *buf = NULL;

	if (fs_read_file(AT_FDCWD, path, &buf, NULL, &err) < 0) {
		err_clear(&err);
		return NULL;
	}
	return buf;
}

static void assert_file(const char *dir, const char *rel, const char *text, mode_t mode)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, rel);
	cleanup_free char *got = read_text(path);
	struct stat st;

	if (!got)
		fail_msg("missing %s", path);
	assert_string_equal(got, text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

static bool exists(const char *dir, const char *rel)
{
	cleanup_free char *path = *rel ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	struct stat st;

	return lstat(path, &st) == 0;
}

static char *link_of(const char *dir, const char *rel)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, rel);
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

static json_t *setup_ok(const json_t *pod)
{
	struct err err = ERR_INIT;
	json_t *vols = NULL;

	if (vol_setup(&ctx, pod, &vols, &err) < 0)
		fail_msg("vol_setup: %s", err.msg);
	return vols;
}

static void setup_fails(const json_t *pod, int code, const char *msg)
{
	struct err err = ERR_INIT;
	json_t *vols = NULL;

	assert_int_equal(vol_setup(&ctx, pod, &vols, &err), -code);
	assert_null(vols);
	if (!strstr(err.msg, msg))
		fail_msg("error '%s' lacks '%s'", err.msg, msg);
	err_clear(&err);
}

static const char *vpath(const json_t *vols, const char *name)
{
	return json_string_value(json_object_get(json_object_get(vols, name), "path"));
}

static void teardown_ok(const char *uid)
{
	struct err err = ERR_INIT;

	if (vol_teardown(&ctx, uid, &err) < 0)
		fail_msg("vol_teardown: %s", err.msg);
}

/* ---- emptyDir --------------------------------------------------------------------------- */

static void test_empty_dir_is_created_and_adopted_with_its_data(void **state)
{
	cleanup_json json_t *pod = pod_with("u-empty", "[{\"name\":\"scratch\",\"emptyDir\":{}}]");
	cleanup_json json_t *v1 = NULL, *v2 = NULL;
	cleanup_free char *want =
		xasprintf("%s/pods/u-empty/volumes/kubernetes.io~empty-dir/scratch", tmpdir);
	cleanup_free char *file = xasprintf("%s/keep", want);
	cleanup_free char *got = NULL;
	struct err err = ERR_INIT;
	struct stat st;

	(void)state;
	v1 = setup_ok(pod);
	assert_string_equal(vpath(v1, "scratch"), want);
	assert_false(json_is_true(json_object_get(json_object_get(v1, "scratch"), "readOnly")));
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0777);
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, "data", 4, 0644, &err), 0);
	v2 = setup_ok(pod);
	assert_true(json_equal(v1, v2));
	got = read_text(file);
	assert_string_equal(got, "data");
	teardown_ok("u-empty");
	assert_false(exists(tmpdir, "pods/u-empty/volumes"));
}

static void test_memory_empty_dir_is_a_sized_tmpfs_kept_across_setups(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-mem",
		"[{\"name\":\"m\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"1Mi\"}}]");
	cleanup_json json_t *v1 = NULL, *v2 = NULL;
	cleanup_free char *file = NULL, *got = NULL;
	struct err err = ERR_INIT;
	struct statfs sf;

	(void)state;
	if (!can_mount)
		skip();
	v1 = setup_ok(pod);
	assert_int_equal(statfs(vpath(v1, "m"), &sf), 0);
	assert_int_equal((unsigned long)sf.f_type, TMPFS_MAGIC_);
	assert_int_equal((long long)sf.f_blocks * sf.f_bsize, 1024 * 1024);
	file = xasprintf("%s/f", vpath(v1, "m"));
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, "mem", 3, 0644, &err), 0);
	v2 = setup_ok(pod);
	got = read_text(file);
	assert_string_equal(got, "mem");
	teardown_ok("u-mem");
	assert_false(exists(tmpdir, "pods/u-mem/volumes"));
}

/* ---- hostPath ------------------------------------------------------------------------------- */

static void host_path_case(const char *path, const char *type, int code, const char *msg)
{
	cleanup_free char *vols = xasprintf(
		"[{\"name\":\"h\",\"hostPath\":{\"path\":\"%s\",\"type\":\"%s\"}}]", path, type);
	cleanup_json json_t *pod = pod_with("u-host", vols);

	if (code) {
		setup_fails(pod, code, msg);
	} else {
		cleanup_json json_t *v = setup_ok(pod);

		assert_string_equal(vpath(v, "h"), path);
	}
}

static void test_host_path_checks_every_type_as_upstream(void **state)
{
	cleanup_free char *base = xasprintf("%s/host", tmpdir);
	cleanup_free char *dir = xasprintf("%s/dir", base), *file = xasprintf("%s/file", base);
	cleanup_free char *sock = xasprintf("%s/sock", base), *blk = xasprintf("%s/blk", base);
	cleanup_free char *newdir = xasprintf("%s/new/a/b", base);
	cleanup_free char *newfile = xasprintf("%s/newfile", base);
	cleanup_free char *orphan = xasprintf("%s/nope/newfile", base);
	cleanup_free char *msg = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct err err = ERR_INIT;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct stat st;

	(void)state;
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, "x", 1, 0644, &err), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);

	host_path_case(dir, "", 0, NULL);
	host_path_case("/nonexistent-skiff", "", 0, NULL);
	host_path_case(dir, "Directory", 0, NULL);
	msg = xasprintf("hostPath type check failed: %s is not a directory", file);
	host_path_case(file, "Directory", EINVAL, msg);
	free(msg);
	host_path_case(file, "File", 0, NULL);
	msg = xasprintf("hostPath type check failed: %s is not a file", dir);
	host_path_case(dir, "File", EINVAL, msg);
	free(msg);
	host_path_case(sock, "Socket", 0, NULL);
	msg = xasprintf("hostPath type check failed: %s is not a socket file", file);
	host_path_case(file, "Socket", EINVAL, msg);
	free(msg);
	host_path_case("/dev/null", "CharDevice", 0, NULL);
	msg = xasprintf("hostPath type check failed: %s is not a character device", file);
	host_path_case(file, "CharDevice", EINVAL, msg);
	free(msg);
	msg = xasprintf("hostPath type check failed: %s is not a block device", dir);
	host_path_case(dir, "BlockDevice", EINVAL, msg);
	free(msg);
	if (mknod(blk, S_IFBLK | 0600, makedev(7, 250)) == 0)
		host_path_case(blk, "BlockDevice", 0, NULL);

	host_path_case(newdir, "DirectoryOrCreate", 0, NULL);
	assert_int_equal(stat(newdir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0755);
	msg = xasprintf("hostPath type check failed: %s is not a directory", file);
	host_path_case(file, "DirectoryOrCreate", EINVAL, msg);
	free(msg);
	host_path_case(newfile, "FileOrCreate", 0, NULL);
	assert_int_equal(stat(newfile, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	host_path_case(orphan, "FileOrCreate", ENOENT, "create '");
	msg = xasprintf("hostPath type check failed: %s is not a file", dir);
	host_path_case(dir, "FileOrCreate", EINVAL, msg);
	free(msg);
	host_path_case(dir, "Pipe", EINVAL, "Pipe is an invalid volume type");
	host_path_case("relative", "", EINVAL, "must be an absolute path");
	msg = NULL;
	close(s);
	teardown_ok("u-host");
	/* the host's files are never the pod's to remove */
	assert_true(exists(file, ""));
	assert_true(exists(newdir, ""));
}

/* ---- configMap and secret -------------------------------------------------------------- */

static const char *cm_v1 = "{\"data\":{\"a\":\"one\",\"b\":\"two\",\"old\":\"gone soon\"},"
			   "\"binaryData\":{\"bin\":\"AAEC\"}}";

static void test_config_map_projects_keys_items_and_modes(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-cm", "[{\"name\":\"all\",\"configMap\":{\"name\":\"cfg\"}},"
			"{\"name\":\"some\",\"configMap\":{\"name\":\"cfg\",\"defaultMode\":256,"
			"\"items\":[{\"key\":\"a\",\"path\":\"sub/dir/a.txt\",\"mode\":384},"
			"{\"key\":\"b\",\"path\":\"b.txt\"}]}}]");
	cleanup_json json_t *v = NULL;
	cleanup_free char *ts = NULL, *la = NULL, *lsub = NULL, *bin = NULL;
	const char *all, *some;
	struct stat st;

	(void)state;
	put_object("configmaps", "cfg", cm_v1);
	v = setup_ok(pod);
	all = vpath(v, "all");
	some = vpath(v, "some");
	assert_non_null(strstr(all, "/volumes/kubernetes.io~configmap/all"));
	assert_true(json_is_true(json_object_get(json_object_get(v, "all"), "readOnly")));
	assert_file(all, "a", "one", 0644);
	assert_file(all, "b", "two", 0644);
	bin = xasprintf("%s/bin", all);
	assert_int_equal(stat(bin, &st), 0);
	assert_int_equal(st.st_size, 3);

	/* the upstream layout: key -> ..data/key, ..data -> ..<timestamp> */
	la = link_of(all, "a");
	assert_string_equal(la, "..data/a");
	ts = link_of(all, "..data");
	assert_non_null(ts);
	assert_int_equal(strncmp(ts, "..", 2), 0);
	/* "..2026_11_25_10_00_00.<digits>" */
	assert_true(strlen(ts) > 23);
	assert_true(ts[6] == '_' && ts[9] == '_' && ts[12] == '_' && ts[21] == '.');
	assert_int_equal(strspn(ts + 2, "0123456789_"), 19);
	assert_int_equal(strspn(ts + 22, "0123456789"), strlen(ts + 22));

	assert_file(some, "sub/dir/a.txt", "one", 0600);
	assert_file(some, "b.txt", "two", 0400);
	assert_false(exists(some, "a"));
	lsub = link_of(some, "sub");
	assert_string_equal(lsub, "..data/sub");
	teardown_ok("u-cm");
}

static void test_config_map_optional_and_missing_keys_follow_upstream(void **state)
{
	cleanup_json json_t *opt = pod_with(
		"u-opt",
		"[{\"name\":\"o\",\"configMap\":{\"name\":\"absent\",\"optional\":true}}]");
	cleanup_json json_t *req = pod_with("u-req", "[{\"name\":\"r\",\"configMap\":{\"name\":"
						     "\"absent\"}}]");
	cleanup_json json_t *badkey = pod_with(
		"u-key", "[{\"name\":\"k\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":"
			 "\"zzz\",\"path\":\"z\"}]}}]");
	cleanup_json json_t *optkey = pod_with(
		"u-okey",
		"[{\"name\":\"k\",\"configMap\":{\"name\":\"cfg\",\"optional\":true,"
		"\"items\":[{\"key\":\"zzz\",\"path\":\"z\"},{\"key\":\"a\",\"path\":\"a\"}]}}]");
	cleanup_json json_t *badsec = pod_with(
		"u-skey",
		"[{\"name\":\"s\",\"secret\":{\"secretName\":\"creds\",\"items\":[{\"key\":"
		"\"nope\",\"path\":\"n\"}]}}]");
	cleanup_json json_t *escape = pod_with(
		"u-esc", "[{\"name\":\"k\",\"configMap\":{\"name\":\"cfg\",\"items\":[{\"key\":"
			 "\"a\",\"path\":\"../x\"}]}}]");
	cleanup_json json_t *v = NULL, *v2 = NULL;
	cleanup_free char *ts = NULL;
	const char *o;

	(void)state;
	put_object("configmaps", "cfg", cm_v1);
	put_object("secrets", "creds", "{\"data\":{\"user\":\"YWRtaW4=\"}}");
	v = setup_ok(opt);
	o = vpath(v, "o");
	ts = link_of(o, "..data");
	assert_non_null(ts);
	setup_fails(req, ENOENT, "volume \"r\": configmap \"absent\" not found");
	setup_fails(badkey, ENOENT, "configmap references non-existent config key: zzz");
	if (can_mount) {
		setup_fails(badsec, ENOENT, "secret references non-existent secret key: nope");
		teardown_ok("u-skey");
	}
	setup_fails(escape, EINVAL, "invalid path: must not contain '..': ../x");
	v2 = setup_ok(optkey);
	assert_file(vpath(v2, "k"), "a", "one", 0644);
	assert_false(exists(vpath(v2, "k"), "z"));
	teardown_ok("u-opt");
	teardown_ok("u-req");
	teardown_ok("u-key");
	teardown_ok("u-okey");
	teardown_ok("u-esc");
}

struct reader {
	const char *path;
	volatile bool stop;
	int reads, bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	while (!r->stop) {
		char buf[64];
		int fd = open(r->path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

		if (fd >= 0)
			close(fd);
		r->reads++;
		if (n < 0) {
			r->bad++;
			continue;
		}
		buf[n] = '\0';
		if (strcmp(buf, "one") && strcmp(buf, "ONE"))
			r->bad++;
	}
	return NULL;
}

static void test_config_map_update_swaps_data_atomically_and_drops_stale_keys(void **state)
{
	cleanup_json json_t *pod = pod_with("u-upd", "[{\"name\":\"c\",\"configMap\":{\"name\":"
						     "\"cfg\"}}]");
	cleanup_json json_t *v = NULL;
	cleanup_free char *ts1 = NULL, *ts2 = NULL, *ts3 = NULL, *apath = NULL, *old = NULL;
	struct err err = ERR_INIT;
	struct reader rd = {0};
	pthread_t t;
	bool changed = true;
	const char *dir;

	(void)state;
	put_object("configmaps", "cfg", cm_v1);
	v = setup_ok(pod);
	dir = vpath(v, "c");
	ts1 = link_of(dir, "..data");

	/* unchanged content: no new data directory */
	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_false(changed);
	ts2 = link_of(dir, "..data");
	assert_string_equal(ts1, ts2);

	put_object("configmaps", "cfg", "{\"data\":{\"a\":\"ONE\",\"b\":\"two\",\"new\":\"n\"}}");
	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_true(changed);
	ts3 = link_of(dir, "..data");
	assert_string_not_equal(ts1, ts3);
	assert_file(dir, "a", "ONE", 0644);
	assert_file(dir, "new", "n", 0644);
	assert_false(exists(dir, "old"));
	assert_false(exists(dir, "bin"));
	/* the replaced data directory stays until the next change, for readers inside it */
	assert_true(exists(dir, ts1));
	old = xasprintf("%s/%s", dir, ts1);

	/* a reader through the key's link sees the old or the new value, never nothing */
	apath = xasprintf("%s/a", dir);
	rd.path = apath;
	assert_int_equal(pthread_create(&t, NULL, reader_main, &rd), 0);
	for (int i = 0; i < 60; i++) {
		put_object("configmaps", "cfg",
			   i % 2 ? "{\"data\":{\"a\":\"ONE\",\"x\":\"1\"}}"
				 : "{\"data\":{\"a\":\"one\",\"y\":\"2\"}}");
		if (vol_refresh(&ctx, pod, &changed, &err) < 0)
			fail_msg("refresh: %s", err.msg);
		assert_true(changed);
	}
	rd.stop = true;
	pthread_join(t, NULL);
	assert_true(rd.reads > 0);
	assert_int_equal(rd.bad, 0);
	/* only the current data directory and the one before are left */
	{
		cleanup_dir DIR *d = opendir(dir);
		struct dirent *de;
		int stamps = 0;

		while ((de = readdir(d)))
			if (de->d_name[0] == '.' && de->d_name[1] == '.' && de->d_name[2] >= '0' &&
			    de->d_name[2] <= '9')
				stamps++;
		assert_int_equal(stamps, 2);
	}
	assert_false(exists(dir, ts1));
	/* the last update (i = 59) has "x" and not "y" */
	assert_true(exists(dir, "x"));
	assert_false(exists(dir, "y"));
	teardown_ok("u-upd");
}

static void test_secret_is_decoded_onto_a_tmpfs(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-sec", "[{\"name\":\"s\",\"secret\":{\"secretName\":\"creds\",\"defaultMode\":"
			 "288}}]");
	cleanup_json json_t *v = NULL;
	struct statfs sf;
	const char *dir;

	(void)state;
	if (!can_mount)
		skip();
	put_object("secrets", "creds",
		   "{\"data\":{\"user\":\"YWRtaW4=\",\"pass\":\"czNjcjN0\"},\"type\":\"Opaque\"}");
	v = setup_ok(pod);
	dir = vpath(v, "s");
	assert_non_null(strstr(dir, "/volumes/kubernetes.io~secret/s"));
	assert_int_equal(statfs(dir, &sf), 0);
	assert_int_equal((unsigned long)sf.f_type, TMPFS_MAGIC_);
	assert_file(dir, "user", "admin", 0440);
	assert_file(dir, "pass", "s3cr3t", 0440);
	put_object("secrets", "creds", "{\"data\":{\"user\":\"!!not base64!!\"}}");
	{
		struct err err = ERR_INIT;
		bool changed = false;

		assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not base64"));
		err_clear(&err);
	}
	assert_file(dir, "user", "admin", 0440);
	teardown_ok("u-sec");
	assert_false(exists(tmpdir, "pods/u-sec/volumes"));
}

/* ---- downwardAPI and projected ---------------------------------------------------------- */

static void test_downward_api_formats_metadata_and_resources(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-dw",
		"[{\"name\":\"d\",\"downwardAPI\":{\"items\":["
		"{\"path\":\"labels\",\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}},"
		"{\"path\":\"annotations\",\"fieldRef\":{\"fieldPath\":\"metadata.annotations\"}},"
		"{\"path\":\"name\",\"fieldRef\":{\"fieldPath\":\"metadata.name\"}},"
		"{\"path\":\"meta/ns\",\"fieldRef\":{\"fieldPath\":\"metadata.namespace\"}},"
		"{\"path\":\"uid\",\"fieldRef\":{\"fieldPath\":\"metadata.uid\"},\"mode\":256},"
		"{\"path\":\"app\",\"fieldRef\":{\"fieldPath\":\"metadata.labels['app']\"}},"
		"{\"path\":\"mem\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":"
		"\"limits.memory\",\"divisor\":\"1Mi\"}},"
		"{\"path\":\"cpu\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":"
		"\"requests.cpu\",\"divisor\":\"1m\"}},"
		"{\"path\":\"cpulim\",\"resourceFieldRef\":{\"containerName\":\"c\",\"resource\":"
		"\"limits.cpu\"}}]}}]");
	cleanup_json json_t *v = NULL;
	cleanup_json json_t *bad = pod_with(
		"u-dwbad",
		"[{\"name\":\"d\",\"downwardAPI\":{\"items\":[{\"path\":\"x\",\"fieldRef\":"
		"{\"fieldPath\":\"spec.nodeName\"}}]}}]");
	struct err err = ERR_INIT;
	bool changed = true;
	const char *dir;

	(void)state;
	v = setup_ok(pod);
	dir = vpath(v, "d");
	assert_non_null(strstr(dir, "/volumes/kubernetes.io~downward-api/d"));
	assert_file(dir, "labels", "app=\"web\"\ntier=\"a\\\"b\"", 0644);
	assert_file(dir, "annotations", "a=\"multi\\nline\"\nz=\"last\"", 0644);
	assert_file(dir, "name", "p", 0644);
	assert_file(dir, "meta/ns", "web", 0644);
	assert_file(dir, "uid", "u-dw", 0400);
	assert_file(dir, "app", "web", 0644);
	assert_file(dir, "mem", "64", 0644);
	assert_file(dir, "cpu", "250", 0644);
	/* an unset limit reports the node's allocatable, rounded up to whole cores */
	assert_file(dir, "cpulim", "4", 0644);

	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_false(changed);
	json_object_set_new(json_object_get(json_object_get(pod, "metadata"), "labels"), "new",
			    json_string("1"));
	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_true(changed);
	assert_file(dir, "labels", "app=\"web\"\nnew=\"1\"\ntier=\"a\\\"b\"", 0644);
	setup_fails(bad, EINVAL, "fieldRef.fieldPath \"spec.nodeName\" is not supported");
	teardown_ok("u-dw");
	teardown_ok("u-dwbad");
}

static void test_projected_mixes_sources_and_renews_tokens_late_in_life(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-proj",
		"[{\"name\":\"kube-api-access\",\"projected\":{\"defaultMode\":420,\"sources\":["
		"{\"serviceAccountToken\":{\"path\":\"token\",\"audience\":\"vault\","
		"\"expirationSeconds\":3600}},"
		"{\"configMap\":{\"name\":\"root-ca\",\"items\":[{\"key\":\"ca.crt\",\"path\":"
		"\"ca.crt\"}]}},"
		"{\"secret\":{\"name\":\"creds\",\"items\":[{\"key\":\"user\",\"path\":\"s/user\","
		"\"mode\":256}]}},"
		"{\"downwardAPI\":{\"items\":[{\"path\":\"namespace\",\"fieldRef\":{\"fieldPath\":"
		"\"metadata.namespace\"}}]}}]}}]");
	cleanup_json json_t *v = NULL;
	cleanup_free char *tok1 = NULL, *tok2 = NULL, *tpath = NULL;
	struct err err = ERR_INIT;
	struct statfs sf;
	bool changed = false;
	const char *dir;

	(void)state;
	if (!can_mount)
		skip();
	put_object("configmaps", "root-ca", "{\"data\":{\"ca.crt\":\"PEM\"}}");
	put_object("secrets", "creds", "{\"data\":{\"user\":\"YWRtaW4=\"}}");
	fake.token_calls = 0;
	fake.token_age = 3000; /* 83% of 3600 s: due for renewal at the next refresh */
	v = setup_ok(pod);
	dir = vpath(v, "kube-api-access");
	assert_non_null(strstr(dir, "/volumes/kubernetes.io~projected/kube-api-access"));
	assert_int_equal(statfs(dir, &sf), 0);
	assert_int_equal((unsigned long)sf.f_type, TMPFS_MAGIC_);
	assert_file(dir, "ca.crt", "PEM", 0644);
	assert_file(dir, "s/user", "admin", 0400);
	assert_file(dir, "namespace", "web", 0644);
	tpath = xasprintf("%s/token", dir);
	tok1 = read_text(tpath);
	assert_non_null(tok1);
	assert_int_equal(fake.token_calls, 1);

	fake.token_age = 0;
	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_true(changed);
	assert_int_equal(fake.token_calls, 2);
	tok2 = read_text(tpath);
	assert_string_not_equal(tok1, tok2);

	/* a fresh token is kept */
	assert_int_equal(vol_refresh(&ctx, pod, &changed, &err), 0);
	assert_false(changed);
	assert_int_equal(fake.token_calls, 2);
	teardown_ok("u-proj");
	assert_false(exists(tmpdir, "pods/u-proj/volumes"));
}

static void test_claims_and_unsupported_types(void **state)
{
	cleanup_json json_t *pod = pod_with(
		"u-pvc", "[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"data\","
			 "\"readOnly\":true}}]");
	cleanup_json json_t *missing = pod_with(
		"u-pvc2", "[{\"name\":\"d\",\"persistentVolumeClaim\":{\"claimName\":\"nope\"}}]");
	cleanup_json json_t *nfs = pod_with(
		"u-nfs", "[{\"name\":\"share\",\"nfs\":{\"server\":\"x\",\"path\":\"/\"}}]");
	cleanup_json json_t *v = NULL;

	(void)state;
	v = setup_ok(pod);
	assert_string_equal(vpath(v, "d"), fake.claim_path);
	assert_true(json_is_true(json_object_get(json_object_get(v, "d"), "readOnly")));
	setup_fails(missing, ENOENT, "volume \"d\": persistentvolumeclaim \"nope\" not found");
	setup_fails(nfs, EINVAL, "volume \"share\": volume type \"nfs\" is not supported");
	teardown_ok("u-pvc");
	teardown_ok("u-pvc2");
	teardown_ok("u-nfs");
}

/* ---- container mounts ------------------------------------------------------------------- */

static json_t *mounts_of(const json_t *vols, const char *container, int code, const char *msg)
{
	json_error_t je;
	cleanup_json json_t *c = json_loads(container, 0, &je);
	struct err err = ERR_INIT;
	json_t *m = NULL;
	int r;

	if (!c)
		fail_msg("bad container JSON: %s", je.text);
	r = vol_container_mounts(vols, c, &m, &err);
	if (!code) {
		if (r < 0)
			fail_msg("vol_container_mounts: %s", err.msg);
		return m;
	}
	assert_int_equal(r, -code);
	assert_null(m);
	if (!strstr(err.msg, msg))
		fail_msg("error '%s' lacks '%s'", err.msg, msg);
	err_clear(&err);
	return NULL;
}

static void assert_mount(const json_t *m, const char *dest, const char *src, const char *rw,
			 const char *prop)
{
	const json_t *o = json_object_get(m, "options");

	assert_string_equal(json_string_value(json_object_get(m, "destination")), dest);
	assert_string_equal(json_string_value(json_object_get(m, "type")), "bind");
	assert_string_equal(json_string_value(json_object_get(m, "source")), src);
	assert_int_equal(json_array_size(o), 3);
	assert_string_equal(json_string_value(json_array_get(o, 0)), "rbind");
	assert_string_equal(json_string_value(json_array_get(o, 1)), rw);
	assert_string_equal(json_string_value(json_array_get(o, 2)), prop);
}

static void test_container_mounts_bind_sub_paths_inside_the_volume(void **state)
{
	cleanup_json json_t *pod =
		pod_with("u-mnt", "[{\"name\":\"data\",\"emptyDir\":{}},"
				  "{\"name\":\"cfg\",\"configMap\":{\"name\":\"cfg\"}}]");
	cleanup_json json_t *v = NULL, *m = NULL;
	cleanup_free char *sub = NULL, *link = NULL, *esc = NULL, *real = NULL;
	const char *data;

	(void)state;
	put_object("configmaps", "cfg", cm_v1);
	v = setup_ok(pod);
	data = vpath(v, "data");
	m = mounts_of(
		v,
		"{\"name\":\"c\",\"env\":[{\"name\":\"POD\",\"value\":\"p-1\"}],"
		"\"volumeMounts\":["
		"{\"name\":\"data\",\"mountPath\":\"/data\"},"
		"{\"name\":\"data\",\"mountPath\":\"/logs\",\"subPath\":\"logs/app\","
		"\"readOnly\":true,\"mountPropagation\":\"HostToContainer\"},"
		"{\"name\":\"data\",\"mountPath\":\"/per-pod\",\"subPathExpr\":\"pods/$(POD)\"},"
		"{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\"}]}",
		0, NULL);
	assert_int_equal(json_array_size(m), 4);
	assert_mount(json_array_get(m, 0), "/data", data, "rw", "rprivate");
	sub = xasprintf("%s/logs/app", data);
	assert_mount(json_array_get(m, 1), "/logs", sub, "ro", "rslave");
	assert_true(exists(sub, ""));
	free(sub);
	sub = xasprintf("%s/pods/p-1", data);
	assert_mount(json_array_get(m, 2), "/per-pod", sub, "rw", "rprivate");
	assert_true(exists(sub, ""));
	/* projections are always read-only */
	assert_mount(json_array_get(m, 3), "/etc/cfg", vpath(v, "cfg"), "ro", "rprivate");
	json_decref(TAKE_PTR(m));

	/* a link planted in the volume resolves inside it, never on the host */
	link = xasprintf("%s/escape", data);
	esc = xasprintf("%s/etc", data);
	assert_int_equal(mkdir(esc, 0755), 0);
	assert_int_equal(symlink("/etc", link), 0);
	m = mounts_of(v,
		      "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\","
		      "\"subPath\":\"escape/sub\"}]}",
		      0, NULL);
	real = xasprintf("%s/etc/sub", data);
	assert_mount(json_array_get(m, 0), "/x", real, "rw", "rprivate");
	assert_true(exists(real, ""));
	json_decref(TAKE_PTR(m));
	/* a link that leads nowhere inside the volume is an error, not a way out */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/usr", link), 0);
	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/x\","
		  "\"subPath\":\"escape/sub\"}]}",
		  ENOENT, "resolve subPath 'escape/sub'");

	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"other\",\"mountPath\":\"/o\"}]}",
		  EINVAL, "cannot find volume \"other\" to mount into container \"c\"");
	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/o\","
		  "\"subPath\":\"/abs\"}]}",
		  EINVAL, "subPath \"/abs\" must be a relative path");
	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/o\","
		  "\"subPath\":\"a/../../b\"}]}",
		  EINVAL, "must not contain '..'");
	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/o\","
		  "\"mountPropagation\":\"Bidirectional\"}]}",
		  EINVAL, "Bidirectional mount propagation is available only to privileged");
	json_decref(TAKE_PTR(m));
	m = mounts_of(v,
		      "{\"name\":\"c\",\"securityContext\":{\"privileged\":true},\"volumeMounts\":"
		      "[{\"name\":\"data\",\"mountPath\":\"/o\",\"mountPropagation\":"
		      "\"Bidirectional\"}]}",
		      0, NULL);
	assert_mount(json_array_get(m, 0), "/o", data, "rw", "rshared");
	mounts_of(v,
		  "{\"name\":\"c\",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/o\","
		  "\"mountPropagation\":\"Sideways\"}]}",
		  EINVAL, "unsupported mountPropagation \"Sideways\"");
	teardown_ok("u-mnt");
}

static void test_teardown_leaves_host_data_and_stops_at_foreign_mounts(void **state)
{
	cleanup_free char *host = xasprintf("%s/hostdata", tmpdir);
	cleanup_free char *vols = xasprintf(
		"[{\"name\":\"h\",\"hostPath\":{\"path\":\"%s\",\"type\":\"DirectoryOrCreate\"}},"
		"{\"name\":\"e\",\"emptyDir\":{}}]",
		host);
	cleanup_json json_t *pod = pod_with("u-td", vols);
	cleanup_json json_t *v = NULL;
	cleanup_free char *keep = xasprintf("%s/keep", host);
	cleanup_free char *inner = NULL;
	struct err err = ERR_INIT;

	(void)state;
	v = setup_ok(pod);
	assert_int_equal(fs_write_atomic(AT_FDCWD, keep, "k", 1, 0644, &err), 0);
	if (can_mount) {
		/*
		 * host data bind-mounted into a volume (as a Bidirectional container can): the
		 * same st_dev, so teardown must unmount it, never remove through it
		 */
		inner = xasprintf("%s/bound", vpath(v, "e"));
		assert_int_equal(mkdir(inner, 0755), 0);
		assert_int_equal(mount(host, inner, NULL, MS_BIND, NULL), 0);
	}
	teardown_ok("u-td");
	assert_true(exists(keep, ""));
	assert_false(exists(tmpdir, "pods/u-td/volumes"));
	/* tearing down twice is fine */
	teardown_ok("u-td");
	assert_int_equal(vol_teardown(&ctx, "../x", &err), -EINVAL);
	err_clear(&err);
}

/* ---- local-path provisioner --------------------------------------------------------------- */

static struct api *api;
static struct kc *kc;

static void create(const char *path, const char *json)
{
	json_error_t je;
	cleanup_json json_t *o = json_loads(json, 0, &je);
	struct err err = ERR_INIT;
	int r;

	if (!o)
		fail_msg("bad JSON: %s", je.text);
	r = kc_request(kc, "POST", path, NULL, o, NULL, &err);
	if (r != 201)
		fail_msg("create %s: %d %s", path, r, err.msg);
}

static json_t *get(const char *path)
{
	struct err err = ERR_INIT;
	json_t *o = NULL;
	int r = kc_request(kc, "GET", path, NULL, NULL, &o, &err);

	err_clear(&err);
	if (r != 200) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void create_claim(const char *name, const char *cls)
{
	cleanup_free char *extra =
		cls ? xasprintf(",\"storageClassName\":\"%s\"", cls) : xstrdup("");
	cleanup_free char *json = xasprintf(
		"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":"
		"\"%s\",\"namespace\":\"lp\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],"
		"\"resources\":{\"requests\":{\"storage\":\"2Gi\"}}%s}}",
		name, extra);

	create("/api/v1/namespaces/lp/persistentvolumeclaims", json);
}

static const char *at(const json_t *o, const char *a, const char *b)
{
	const char *s = json_string_value(json_object_get(json_object_get(o, a), b));

	return s ? s : "";
}

static void test_localpath_provisions_and_binds_a_claim_both_ways(void **state)
{
	cleanup_free char *root = xasprintf("%s/storage", tmpdir);
	cleanup_free char *path = NULL, *again = NULL, *want = NULL, *pvpath = NULL;
	cleanup_json json_t *pvc = NULL, *pv = NULL;
	struct err err = ERR_INIT;
	const json_t *expr;
	struct stat st;

	(void)state;
	create_claim("data", NULL);
	if (localpath_claim(kc, root, "n1", "lp", "data", &path, &err) < 0)
		fail_msg("claim: %s", err.msg);
	pvc = get("/api/v1/namespaces/lp/persistentvolumeclaims/data");
	want = xasprintf("%s/pvc-%s_lp_data", root, at(pvc, "metadata", "uid"));
	assert_string_equal(path, want);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0777);

	pvpath = xasprintf("/api/v1/persistentvolumes/pvc-%s", at(pvc, "metadata", "uid"));
	pv = get(pvpath);
	assert_non_null(pv);
	assert_string_equal(at(pv, "status", "phase"), "Bound");
	assert_string_equal(at(json_object_get(pv, "spec"), "hostPath", "path"), want);
	assert_string_equal(at(json_object_get(pv, "spec"), "hostPath", "type"),
			    "DirectoryOrCreate");
	assert_string_equal(at(pv, "spec", "storageClassName"), "local-path");
	assert_string_equal(at(pv, "spec", "persistentVolumeReclaimPolicy"), "Delete");
	assert_string_equal(at(json_object_get(pv, "spec"), "capacity", "storage"), "2Gi");
	assert_string_equal(at(json_object_get(pv, "spec"), "claimRef", "uid"),
			    at(pvc, "metadata", "uid"));
	assert_string_equal(at(json_object_get(pv, "spec"), "claimRef", "name"), "data");
	assert_string_equal(at(json_object_get(pv, "metadata"), "annotations",
			       "pv.kubernetes.io/provisioned-by"),
			    "skiff.io/local-path");
	expr = json_array_get(
		json_object_get(
			json_array_get(
				json_object_get(
					json_object_get(json_object_get(json_object_get(pv, "spec"),
									"nodeAffinity"),
							"required"),
					"nodeSelectorTerms"),
				0),
			"matchExpressions"),
		0);
	assert_string_equal(json_string_value(json_object_get(expr, "key")),
			    "kubernetes.io/hostname");
	assert_string_equal(json_string_value(json_object_get(expr, "operator")), "In");
	assert_string_equal(json_string_value(json_array_get(json_object_get(expr, "values"), 0)),
			    "n1");

	assert_string_equal(at(pvc, "spec", "volumeName"), at(pv, "metadata", "name"));
	assert_string_equal(at(pvc, "status", "phase"), "Bound");
	assert_string_equal(at(json_object_get(pvc, "status"), "capacity", "storage"), "2Gi");
	assert_string_equal(at(json_object_get(pvc, "metadata"), "annotations",
			       "pv.kubernetes.io/bind-completed"),
			    "yes");
	assert_string_equal(at(json_object_get(pvc, "metadata"), "annotations",
			       "volume.kubernetes.io/selected-node"),
			    "n1");

	/* claiming again returns the same directory, and keeps its data */
	assert_int_equal(localpath_claim(kc, root, "n1", "lp", "data", &again, &err), 0);
	assert_string_equal(again, path);

	free(TAKE_PTR(again));
	assert_int_equal(localpath_claim(kc, root, "n2", "lp", "data", &again, &err), -EXDEV);
	{
		cleanup_free char *msg = xasprintf("volume %s is bound to node n1, not n2",
						   at(pv, "metadata", "name"));

		assert_string_equal(err.msg, msg);
	}
	err_clear(&err);
	assert_null(again);
}

static void test_localpath_refuses_missing_claims_and_other_classes(void **state)
{
	cleanup_free char *root = xasprintf("%s/storage", tmpdir);
	cleanup_free char *path = NULL;
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(localpath_claim(kc, root, "n1", "lp", "ghost", &path, &err), -ENOENT);
	assert_string_equal(err.msg, "persistentvolumeclaim \"ghost\" not found");
	err_clear(&err);
	create_claim("fast", "ssd");
	assert_int_equal(localpath_claim(kc, root, "n1", "lp", "fast", &path, &err), -EINVAL);
	assert_string_equal(err.msg, "persistentvolumeclaim \"fast\" uses storage class \"ssd\", "
				     "which no provisioner on this node serves");
	err_clear(&err);
	assert_null(path);
	create_claim("named", "local-path");
	assert_int_equal(localpath_claim(kc, root, "n1", "lp", "named", &path, &err), 0);
	assert_non_null(strstr(path, "_lp_named"));
}

static void test_localpath_release_deletes_volumes_whose_claim_is_gone(void **state)
{
	cleanup_free char *root = xasprintf("%s/storage", tmpdir);
	cleanup_free char *path = NULL, *pvpath = NULL, *file = NULL;
	cleanup_json json_t *pvc = NULL, *pv = NULL, *gone = NULL;
	struct err err = ERR_INIT;
	json_t *st;

	(void)state;
	create_claim("tmp", NULL);
	assert_int_equal(localpath_claim(kc, root, "n1", "lp", "tmp", &path, &err), 0);
	file = xasprintf("%s/f", path);
	assert_int_equal(fs_write_atomic(AT_FDCWD, file, "x", 1, 0644, &err), 0);
	pvc = get("/api/v1/namespaces/lp/persistentvolumeclaims/tmp");
	pvpath = xasprintf("/api/v1/persistentvolumes/pvc-%s", at(pvc, "metadata", "uid"));
	pv = get(pvpath);

	/* still claimed, on another node, or under another root: not ours to delete */
	assert_int_equal(localpath_release(kc, root, "n1", pv, &err), 0);
	assert_int_equal(localpath_release(kc, root, "n2", pv, &err), 0);
	assert_int_equal(localpath_release(kc, "/elsewhere", "n1", pv, &err), 0);
	/* a Released volume with Retain stays */
	st = json_object_get(pv, "spec");
	json_object_set_new(st, "persistentVolumeReclaimPolicy", json_string("Retain"));
	json_object_set_new(json_object_get(pv, "status"), "phase", json_string("Released"));
	assert_int_equal(localpath_release(kc, root, "n1", pv, &err), 0);
	assert_true(exists(file, ""));
	json_object_set_new(st, "persistentVolumeReclaimPolicy", json_string("Delete"));
	json_object_set_new(json_object_get(pv, "status"), "phase", json_string("Bound"));

	assert_int_equal(kc_request(kc, "DELETE",
				    "/api/v1/namespaces/lp/persistentvolumeclaims/tmp", NULL, NULL,
				    NULL, &err),
			 200);
	if (localpath_release(kc, root, "n1", pv, &err) != 1)
		fail_msg("release: %s", err.msg);
	assert_false(exists(path, ""));
	gone = get(pvpath);
	assert_null(gone);
}

/* ---- main -------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	struct api_config cfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.threads = 2,
	};

	(void)state;
	test_api_start("volumes", &cfg, tmpdir, &api, &kc);
	fake.objects = json_object();
	fake.claim_path = xasprintf("%s/claimed", tmpdir);
	ctx.pods_dir = xasprintf("%s/pods", tmpdir);
	ctx.node = "n1";
	ctx.allocatable = json_pack("{s:s, s:s}", "cpu", "3500m", "memory", "8Gi");
	ctx.get = fake_get;
	ctx.token = fake_token;
	ctx.claim = fake_claim;
	create("/api/v1/namespaces",
	       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"lp\"}}");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	test_api_stop(tmpdir, api, kc);
	json_decref(fake.objects);
	json_decref((json_t *)ctx.allocatable);
	free(fake.claim_path);
	free((char *)ctx.pods_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_dir_is_created_and_adopted_with_its_data),
		cmocka_unit_test(test_memory_empty_dir_is_a_sized_tmpfs_kept_across_setups),
		cmocka_unit_test(test_host_path_checks_every_type_as_upstream),
		cmocka_unit_test(test_config_map_projects_keys_items_and_modes),
		cmocka_unit_test(test_config_map_optional_and_missing_keys_follow_upstream),
		cmocka_unit_test(test_config_map_update_swaps_data_atomically_and_drops_stale_keys),
		cmocka_unit_test(test_secret_is_decoded_onto_a_tmpfs),
		cmocka_unit_test(test_downward_api_formats_metadata_and_resources),
		cmocka_unit_test(test_projected_mixes_sources_and_renews_tokens_late_in_life),
		cmocka_unit_test(test_claims_and_unsupported_types),
		cmocka_unit_test(test_container_mounts_bind_sub_paths_inside_the_volume),
		cmocka_unit_test(test_teardown_leaves_host_data_and_stops_at_foreign_mounts),
		cmocka_unit_test(test_localpath_provisions_and_binds_a_claim_both_ways),
		cmocka_unit_test(test_localpath_refuses_missing_claims_and_other_classes),
		cmocka_unit_test(test_localpath_release_deletes_volumes_whose_claim_is_gone),
	};

	/*
	 * A private mount namespace before any thread exists (unshare needs a single-threaded
	 * caller for some flags), so the tmpfs mounts of these tests never reach the host.
	 */
	can_mount =
		unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	return cmocka_run_group_tests_name("volumes", tests, group_setup, group_teardown);
}
