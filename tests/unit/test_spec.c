/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the documents `runtime spec` and `runtime features` print (spec.c): the
 * default config.json in runc's shape, its rootless variant, and the features structure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/cleanup.h"

#include "runtime/internal.h"
#include "runtime/runtime.h"

static bool str_array_has(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static void assert_str_array_equal(const json_t *a, const char *const *want, size_t n)
{
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(a, i)), want[i]);
}

static const char *str_at(const json_t *root, const char *path)
{
	json_t *v = json_object_get(root, path);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* linux.namespaces as a JSON array of type names, for comparison. */
static json_t *namespace_types(const json_t *spec)
{
	json_t *ns = json_object_get(json_object_get(spec, "linux"), "namespaces");
	json_t *types = json_array();
	size_t i;
	json_t *v;

	assert_true(json_is_array(ns));
	json_array_foreach (ns, i, v)
		json_array_append_new(types, json_string(str_at(v, "type")));
	return types;
}

static const json_t *mount_at(const json_t *spec, const char *destination)
{
	json_t *mounts = json_object_get(spec, "mounts");
	size_t i;
	json_t *m;

	json_array_foreach (mounts, i, m)
		if (strcmp(str_at(m, "destination"), destination) == 0)
			return m;
	fail_msg("no mount on '%s'", destination);
	return NULL;
}

static void test_spec_default_has_oci_version_1_3_0(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *rootless = rt_spec_default(true);

	(void)state;
	assert_string_equal(str_at(spec, "ociVersion"), "1.3.0");
	assert_string_equal(str_at(spec, "ociVersion"), RT_OCI_VERSION);
	assert_string_equal(str_at(rootless, "ociVersion"), RT_OCI_VERSION);
}

static void test_spec_default_is_valid_for_runc_fields(void **state)
{
	static const char *const args[] = {"sh"};
	cleanup_json json_t *spec = rt_spec_default(false);
	json_t *process = json_object_get(spec, "process");
	json_t *root = json_object_get(spec, "root");
	json_t *user = json_object_get(process, "user");
	json_t *rlimit = json_array_get(json_object_get(process, "rlimits"), 0);

	(void)state;
	assert_true(json_is_true(json_object_get(process, "terminal")));
	assert_str_array_equal(json_object_get(process, "args"), args, 1);
	assert_string_equal(str_at(process, "cwd"), "/");
	assert_int_equal(json_integer_value(json_object_get(user, "uid")), 0);
	assert_int_equal(json_integer_value(json_object_get(user, "gid")), 0);
	assert_true(str_array_has(json_object_get(process, "env"), "TERM=xterm"));
	assert_true(json_is_true(json_object_get(process, "noNewPrivileges")));
	assert_string_equal(str_at(rlimit, "type"), "RLIMIT_NOFILE");
	assert_int_equal(json_integer_value(json_object_get(rlimit, "soft")), 1024);
	assert_string_equal(str_at(root, "path"), "rootfs");
	assert_true(json_is_true(json_object_get(root, "readonly")));
	assert_true(json_is_string(json_object_get(spec, "hostname")));
	assert_int_equal(json_array_size(json_object_get(spec, "mounts")), 7);
	assert_string_equal(str_at(mount_at(spec, "/sys"), "type"), "sysfs");
	assert_string_equal(str_at(mount_at(spec, "/sys/fs/cgroup"), "type"), "cgroup");
	assert_true(str_array_has(json_object_get(mount_at(spec, "/dev/pts"), "options"), "gid=5"));
	assert_null(json_object_get(mount_at(spec, "/proc"), "options"));
}

static void test_spec_default_capabilities_are_known_and_not_ambient(void **state)
{
	static const char *const sets[] = {"bounding", "effective", "permitted"};
	cleanup_json json_t *spec = rt_spec_default(false);
	json_t *caps = json_object_get(json_object_get(spec, "process"), "capabilities");

	(void)state;
	for (size_t s = 0; s < 3; s++) {
		json_t *set = json_object_get(caps, sets[s]);
		size_t i;
		json_t *v;

		assert_int_equal(json_array_size(set), 3);
		json_array_foreach (set, i, v)
			assert_true(rt_cap_from_name(json_string_value(v)) >= 0);
		assert_true(str_array_has(set, "CAP_KILL"));
	}
	/* An ambient capability cannot be raised unless it is inheritable too. */
	assert_null(json_object_get(caps, "ambient"));
	assert_null(json_object_get(caps, "inheritable"));
}

static void test_spec_default_has_expected_namespaces(void **state)
{
	static const char *const want[] = {"pid", "network", "ipc", "uts", "mount", "cgroup"};
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_json json_t *types = namespace_types(spec);

	(void)state;
	assert_str_array_equal(types, want, 6);
}

static void test_spec_default_denies_all_devices(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
	json_t *rule = json_array_get(json_object_get(res, "devices"), 0);

	(void)state;
	assert_true(json_is_false(json_object_get(rule, "allow")));
	assert_string_equal(str_at(rule, "access"), "rwm");
	assert_true(str_array_has(json_object_get(json_object_get(spec, "linux"), "maskedPaths"),
				  "/proc/kcore"));
	assert_true(str_array_has(json_object_get(json_object_get(spec, "linux"), "readonlyPaths"),
				  "/proc/sys"));
}

static void assert_maps_root_to(const json_t *maps, json_int_t host_id)
{
	json_t *m = json_array_get(maps, 0);

	assert_int_equal(json_array_size(maps), 1);
	assert_int_equal(json_integer_value(json_object_get(m, "containerID")), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "hostID")), host_id);
	assert_int_equal(json_integer_value(json_object_get(m, "size")), 1);
}

static void test_spec_rootless_maps_root_to_the_caller(void **state)
{
	static const char *const want[] = {"pid", "ipc", "uts", "mount", "cgroup", "user"};
	cleanup_json json_t *spec = rt_spec_default(true);
	cleanup_json json_t *types = namespace_types(spec);
	json_t *lx = json_object_get(spec, "linux");

	(void)state;
	assert_str_array_equal(types, want, 6);
	assert_maps_root_to(json_object_get(lx, "uidMappings"), geteuid());
	assert_maps_root_to(json_object_get(lx, "gidMappings"), getegid());
	assert_null(json_object_get(lx, "resources"));
}

static void test_spec_rootless_binds_sys_and_drops_id_options(void **state)
{
	static const char *const sys_opts[] = {"rbind", "nosuid", "noexec", "nodev", "ro"};
	cleanup_json json_t *spec = rt_spec_default(true);
	const json_t *sys = mount_at(spec, "/sys");
	json_t *mounts = json_object_get(spec, "mounts");
	size_t i, j;
	json_t *m, *o;

	(void)state;
	assert_string_equal(str_at(sys, "type"), "none");
	assert_string_equal(str_at(sys, "source"), "/sys");
	assert_str_array_equal(json_object_get(sys, "options"), sys_opts, 5);
	assert_int_equal(json_array_size(mounts), 7);
	json_array_foreach (mounts, i, m) {
		json_array_foreach (json_object_get(m, "options"), j, o) {
			assert_int_not_equal(strncmp(json_string_value(o), "uid=", 4), 0);
			assert_int_not_equal(strncmp(json_string_value(o), "gid=", 4), 0);
		}
	}
	assert_true(str_array_has(json_object_get(mount_at(spec, "/dev/pts"), "options"),
				  "ptmxmode=0666"));
}

static void test_spec_default_serializes_in_runc_key_order(void **state)
{
	cleanup_json json_t *spec = rt_spec_default(false);
	cleanup_free char *text = json_dumps(spec, JSON_COMPACT);
	const char *head = "{\"ociVersion\":\"1.3.0\",\"process\":{\"terminal\":true,";

	(void)state;
	assert_non_null(text);
	assert_int_equal(strncmp(text, head, strlen(head)), 0);
	assert_true(strstr(text, "\"mounts\"") < strstr(text, "\"linux\""));
}

static void test_features_reports_the_supported_version_range(void **state)
{
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_string_equal(str_at(f, "ociVersionMin"), "1.0.0");
	assert_string_equal(str_at(f, "ociVersionMax"), RT_OCI_VERSION);
}

static void test_features_lists_every_hook(void **state)
{
	static const char *const want[] = {"prestart",       "createRuntime", "createContainer",
					   "startContainer", "poststart",     "poststop"};
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_str_array_equal(json_object_get(f, "hooks"), want, 6);
}

static void test_features_lists_every_namespace(void **state)
{
	static const char *const want[] = {"cgroup", "ipc",  "mount", "network",
					   "pid",    "time", "user",  "uts"};
	cleanup_json json_t *f = rt_features();

	(void)state;
	assert_str_array_equal(json_object_get(json_object_get(f, "linux"), "namespaces"), want, 8);
}

static void test_features_capabilities_match_the_cap_table(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *caps = json_object_get(json_object_get(f, "linux"), "capabilities");
	size_t i;
	json_t *v;

	(void)state;
	assert_int_equal(json_array_size(caps), 41);
	json_array_foreach (caps, i, v)
		assert_int_equal(rt_cap_from_name(json_string_value(v)), (int)i);
}

static void test_features_mount_options_are_sorted_unique_and_complete(void **state)
{
	static const char *const required[] = {
		"bind",     "rbind",     "ro",      "rw",          "rro",
		"rrw",      "nosuid",    "nodev",   "noexec",      "private",
		"rprivate", "rshared",   "rslave",  "runbindable", "idmap",
		"ridmap",   "tmpcopyup", "remount", "strictatime", "nosymfollow"};
	cleanup_json json_t *f = rt_features();
	json_t *opts = json_object_get(f, "mountOptions");
	const char *prev = "";
	size_t i;
	json_t *v;

	(void)state;
	assert_true(json_array_size(opts) >= 60);
	json_array_foreach (opts, i, v) {
		assert_true(strcmp(prev, json_string_value(v)) < 0);
		assert_null(strchr(json_string_value(v), '='));
		prev = json_string_value(v);
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		assert_true(str_array_has(opts, required[i]));
}

static void test_features_seccomp_names_libseccomp_values(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *sc = json_object_get(json_object_get(f, "linux"), "seccomp");

	(void)state;
	assert_true(json_is_true(json_object_get(sc, "enabled")));
	assert_int_equal(json_array_size(json_object_get(sc, "actions")), 8);
	/* refused by rt_seccomp_build: no seccomp agent support */
	assert_false(str_array_has(json_object_get(sc, "actions"), "SCMP_ACT_NOTIFY"));
	assert_int_equal(json_array_size(json_object_get(sc, "operators")), 7);
	assert_true(str_array_has(json_object_get(sc, "archs"), "SCMP_ARCH_X86_64"));
	assert_true(str_array_has(json_object_get(sc, "archs"), "SCMP_ARCH_AARCH64"));
	assert_true(str_array_has(json_object_get(sc, "knownFlags"), "SECCOMP_FILTER_FLAG_LOG"));
	assert_true(json_equal(json_object_get(sc, "knownFlags"),
			       json_object_get(sc, "supportedFlags")));
}

static void test_features_describe_unsupported_modules_as_disabled(void **state)
{
	cleanup_json json_t *f = rt_features();
	json_t *lx = json_object_get(f, "linux");
	json_t *cg = json_object_get(lx, "cgroup");
	json_t *idmap = json_object_get(json_object_get(lx, "mountExtensions"), "idmap");

	(void)state;
	assert_true(json_is_true(json_object_get(cg, "v1")));
	assert_true(json_is_true(json_object_get(cg, "v2")));
	assert_true(json_is_false(json_object_get(cg, "systemd")));
	assert_true(json_is_false(json_object_get(json_object_get(lx, "apparmor"), "enabled")));
	assert_true(json_is_false(json_object_get(json_object_get(lx, "selinux"), "enabled")));
	assert_true(json_is_true(json_object_get(idmap, "enabled")));
	assert_non_null(json_string_value(
		json_object_get(json_object_get(f, "annotations"), "io.github.skiff.version")));
}

/* features.md: no properties beyond those the reported ociVersionMax defines. */
static void test_features_use_only_properties_of_runtime_spec_1_3(void **state)
{
	static const char *const top[] = {"ociVersionMin",
					  "ociVersionMax",
					  "hooks",
					  "mountOptions",
					  "linux",
					  "annotations",
					  "potentiallyUnsafeConfigAnnotations"};
	static const char *const lin[] = {
		"namespaces", "capabilities", "cgroup",          "seccomp",    "apparmor",
		"selinux",    "intelRdt",     "mountExtensions", "netDevices", "memoryPolicy"};
	cleanup_json json_t *f = rt_features();
	cleanup_json json_t *top_names = json_array();
	cleanup_json json_t *lin_names = json_array();
	const char *key;
	json_t *v;

	(void)state;
	for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
		json_array_append_new(top_names, json_string(top[i]));
	for (size_t i = 0; i < sizeof(lin) / sizeof(lin[0]); i++)
		json_array_append_new(lin_names, json_string(lin[i]));
	json_object_foreach (f, key, v)
		assert_true(str_array_has(top_names, key));
	json_object_foreach (json_object_get(f, "linux"), key, v)
		assert_true(str_array_has(lin_names, key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_default_has_oci_version_1_3_0),
		cmocka_unit_test(test_spec_default_is_valid_for_runc_fields),
		cmocka_unit_test(test_spec_default_capabilities_are_known_and_not_ambient),
		cmocka_unit_test(test_spec_default_has_expected_namespaces),
		cmocka_unit_test(test_spec_default_denies_all_devices),
		cmocka_unit_test(test_spec_rootless_maps_root_to_the_caller),
		cmocka_unit_test(test_spec_rootless_binds_sys_and_drops_id_options),
		cmocka_unit_test(test_spec_default_serializes_in_runc_key_order),
		cmocka_unit_test(test_features_reports_the_supported_version_range),
		cmocka_unit_test(test_features_lists_every_hook),
		cmocka_unit_test(test_features_lists_every_namespace),
		cmocka_unit_test(test_features_capabilities_match_the_cap_table),
		cmocka_unit_test(test_features_mount_options_are_sorted_unique_and_complete),
		cmocka_unit_test(test_features_seccomp_names_libseccomp_values),
		cmocka_unit_test(test_features_describe_unsupported_modules_as_disabled),
		cmocka_unit_test(test_features_use_only_properties_of_runtime_spec_1_3),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
