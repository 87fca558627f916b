/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the config.json parser (config.c) and of the jx helpers it is built on:
 * accepted versions, root.path resolution, every field turned into struct rt_config, and
 * error messages that name the JSON path and the reason. A failing parse must leave *ret
 * untouched and leak nothing; the sanitized build's leak check holds every test to that.
 *
 * Configs are written with single quotes for readability and laid over a minimal valid
 * config (json_object_update_recursive), so each test shows only the fields it is about.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/jx.h"
#include "runtime/internal.h"

#define BUNDLE "/run/bundles/b1"

static const char minimal[] = "{'ociVersion': '1.0.2-dev',"
			      " 'root': {'path': 'rootfs'},"
			      " 'process': {'args': ['sh'], 'cwd': '/'}}";

/* What a failing parse must leave in *ret. */
static struct rt_config untouched;

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
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (!j)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* Parses the minimal config with @overlay laid over it. */
static int parse_overlay(const char *overlay, struct rt_config **ret, struct err *err)
{
	cleanup_json json_t *doc = load(minimal);
	cleanup_json json_t *ov = load(overlay);
	cleanup_free char *text = NULL;

	assert_int_equal(json_object_update_recursive(doc, ov), 0);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	return rt_config_parse(text, strlen(text), BUNDLE, ret, err);
}

static struct rt_config *parse_ok(const char *overlay)
{
	cleanup_err struct err err = ERR_INIT;
	struct rt_config *c = NULL;

	if (parse_overlay(overlay, &c, &err) < 0)
		fail_msg("parse failed: %s\n  overlay: %s", err.msg, overlay);
	assert_non_null(c);
	return c;
}

/* Checks that raw config text fails with @code and a message containing @want. */
static void check_text_rejected(const char *text, int code, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct rt_config *c = &untouched;
	int r = rt_config_parse(text, strlen(text), BUNDLE, &c, &err);

	if (r != -code || err.code != code || !err.msg || !strstr(err.msg, want))
		fail_msg("got %d (%s), want %d with '%s'\n  config: %s", r,
			 err.msg ? err.msg : "no message", -code, want, text);
	assert_ptr_equal(c, &untouched);
}

static void check_rejected_with(const char *overlay, int code, const char *want)
{
	cleanup_json json_t *doc = load(minimal);
	cleanup_json json_t *ov = load(overlay);
	cleanup_free char *text = NULL;

	assert_int_equal(json_object_update_recursive(doc, ov), 0);
	text = json_dumps(doc, JSON_COMPACT);
	check_text_rejected(text, code, want);
}

static void check_rejected(const char *overlay, const char *want)
{
	check_rejected_with(overlay, EINVAL, want);
}

/* ---- versions, root, the document as a whole ---- */

static void test_config_minimal_config_parses_with_defaults(void **state)
{
	struct rt_config *c = parse_ok("{}");

	(void)state;
	assert_string_equal(c->oci_version, "1.0.2-dev");
	assert_string_equal(c->root_path, BUNDLE "/rootfs");
	assert_false(c->root_readonly);
	assert_null(c->hostname);
	assert_string_equal(c->process.args[0], "sh");
	assert_null(c->process.args[1]);
	assert_non_null(c->process.env);
	assert_null(c->process.env[0]);
	assert_string_equal(c->process.cwd, "/");
	assert_int_equal(c->process.uid, 0);
	assert_int_equal(c->process.umask, -1);
	assert_false(c->process.has_caps);
	assert_false(c->process.has_oom_score_adj);
	assert_int_equal(c->process.n_rlimits, 0);
	assert_int_equal(c->n_mounts, 0);
	for (int k = 0; k < RT_HOOK_COUNT; k++)
		assert_int_equal(c->hooks[k].n, 0);
	for (int t = 0; t < RT_NS_COUNT; t++)
		assert_false(c->ns[t].enabled);
	assert_false(c->has_resources);
	assert_true(c->res.mem_limit == RT_UNSET_I64);
	assert_true(c->res.pids_limit == RT_UNSET_I64);
	assert_null(c->sysctl);
	assert_null(c->masked_paths);
	assert_null(c->seccomp);
	assert_null(c->annotations);
	assert_int_equal(c->rootfs_propagation, 0);
	assert_false(c->has_time_offsets);
	assert_false(c->has_personality);
	rt_config_free(c);
}

static void test_config_accepts_oci_versions_1_0_2_dev_and_1_3_0(void **state)
{
	struct rt_config *c;

	(void)state;
	c = parse_ok("{'ociVersion': '1.0.2-dev'}");
	assert_string_equal(c->oci_version, "1.0.2-dev");
	rt_config_free(c);
	c = parse_ok("{'ociVersion': '1.3.0'}");
	assert_string_equal(c->oci_version, "1.3.0");
	rt_config_free(c);
}

static void test_config_rejects_oci_version_2_naming_oci_version(void **state)
{
	(void)state;
	check_rejected("{'ociVersion': '2.0.0'}", "ociVersion: unsupported version '2.0.0'");
	check_rejected("{'ociVersion': '10.0'}", "ociVersion");
	check_rejected("{'ociVersion': 1}", "ociVersion: expected string");
	check_text_rejected("{\"root\": {\"path\": \"r\"}}", EINVAL, "ociVersion: required");
}

static void test_config_errors_start_with_config_json(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct rt_config *c = &untouched;

	(void)state;
	assert_int_equal(parse_overlay("{'process': {'cwd': 'tmp'}}", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "config.json: process.cwd: an absolute path is required");
	assert_ptr_equal(c, &untouched);
}

static void test_config_resolves_relative_root_path_against_the_bundle(void **state)
{
	struct rt_config *c;

	(void)state;
	c = parse_ok("{'root': {'path': 'images/rootfs', 'readonly': true}}");
	assert_string_equal(c->root_path, BUNDLE "/images/rootfs");
	assert_true(c->root_readonly);
	rt_config_free(c);
	c = parse_ok("{'root': {'path': '/var/lib/rootfs'}}");
	assert_string_equal(c->root_path, "/var/lib/rootfs");
	rt_config_free(c);
}

static void test_config_rejects_missing_root_or_root_path(void **state)
{
	(void)state;
	check_rejected("{'root': null}", "root: required");
	check_rejected("{'root': {'path': ''}}", "root.path: required");
	check_rejected("{'root': {'path': 'r', 'readonly': 'yes'}}",
		       "root.readonly: expected boolean");
}

static void test_config_rejects_invalid_json_naming_config_json_line_and_column(void **state)
{
	(void)state;
	check_text_rejected("{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": }\n", EINVAL,
			    "config.json: invalid JSON at line 3 column 11");
	check_text_rejected("", EINVAL, "config.json: invalid JSON at line");
}

static void test_config_rejects_duplicate_keys(void **state)
{
	(void)state;
	check_text_rejected("{\"ociVersion\": \"1.0.2\", \"ociVersion\": \"1.0.2\"}", EINVAL,
			    "config.json: invalid JSON");
	check_text_rejected("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"a\", \"path\": "
			    "\"b\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}",
			    EINVAL, "duplicate");
}

static void test_config_rejects_a_document_that_is_not_an_object(void **state)
{
	(void)state;
	check_text_rejected("[]", EINVAL, "config.json: expected a JSON object");
}

static void test_config_ignores_unknown_fields(void **state)
{
	struct rt_config *c = parse_ok("{'futureField': {'x': 1}, 'root': {'shiny': true},"
				       " 'process': {'newThing': [1, 2]},"
				       " 'mounts': [{'destination': '/tmp', 'type': 'tmpfs',"
				       "             'extra': 'x'}],"
				       " 'linux': {'newFeature': 'on', 'resources': {'gpu': {}}},"
				       " 'windows': {'layerFolders': 7}}");

	(void)state;
	assert_int_equal(c->n_mounts, 1);
	assert_true(c->has_resources);
	rt_config_free(c);
}

static void test_config_treats_null_fields_as_absent(void **state)
{
	struct rt_config *c = parse_ok(
		"{'hostname': null, 'domainname': null, 'mounts': null, 'hooks': null,"
		" 'annotations': null,"
		" 'root': {'readonly': null},"
		" 'process': {'terminal': null, 'user': null, 'env': null, 'capabilities': null,"
		"             'rlimits': null, 'oomScoreAdj': null, 'apparmorProfile': null},"
		" 'linux': {'namespaces': null, 'uidMappings': null, 'resources': null,"
		"           'devices': null, 'sysctl': null, 'maskedPaths': null,"
		"           'seccomp': null, 'intelRdt': null, 'timeOffsets': null}}");

	(void)state;
	assert_null(c->hostname);
	assert_int_equal(c->n_mounts, 0);
	assert_non_null(c->process.env);
	assert_null(c->process.env[0]);
	assert_false(c->process.has_caps);
	assert_false(c->process.has_oom_score_adj);
	assert_false(c->has_resources);
	assert_null(c->seccomp);
	assert_null(c->masked_paths);
	rt_config_free(c);

	/* null inside resources too */
	c = parse_ok("{'linux': {'resources': {'memory': {'limit': null, 'swap': 1024},"
		     "                          'cpu': null, 'devices': null}}}");
	assert_true(c->has_resources);
	assert_true(c->res.mem_limit == RT_UNSET_I64);
	assert_int_equal(c->res.mem_swap, 1024);
	assert_int_equal(c->res.n_devices, 0);
	rt_config_free(c);
}

/* ---- process ---- */

static void test_config_rejects_missing_or_empty_process_args(void **state)
{
	(void)state;
	check_rejected("{'process': {'args': []}}", "process.args: at least one argument required");
	check_rejected("{'process': {'args': null}}",
		       "process.args: at least one argument required");
	check_rejected("{'process': {'args': 'sh'}}", "process.args: expected array");
	check_rejected("{'process': {'args': ['sh', 7]}}", "process.args[1]: expected string");
	check_rejected("{'process': null}", "process: required");
}

static void test_config_rejects_relative_process_cwd(void **state)
{
	(void)state;
	check_rejected("{'process': {'cwd': 'home/user'}}",
		       "process.cwd: an absolute path is required");
	check_rejected("{'process': {'cwd': null}}", "process.cwd: an absolute path is required");
}

static void test_config_parses_process_env_terminal_and_labels(void **state)
{
	struct rt_config *c = parse_ok(
		"{'process': {'terminal': true, 'consoleSize': {'height': 24, 'width': 80},"
		" 'env': ['PATH=/bin', 'TERM=xterm'], 'noNewPrivileges': true,"
		" 'apparmorProfile': 'skiff-default', 'selinuxLabel': ''}}");

	(void)state;
	assert_true(c->process.terminal);
	assert_int_equal(c->process.console_height, 24);
	assert_int_equal(c->process.console_width, 80);
	assert_int_equal(strv_len(c->process.env), 2);
	assert_string_equal(c->process.env[1], "TERM=xterm");
	assert_true(c->process.no_new_privileges);
	assert_string_equal(c->process.apparmor_profile, "skiff-default");
	assert_null(c->process.selinux_label); /* empty means none */
	rt_config_free(c);
}

static void test_config_parses_user_ids_additional_gids_and_umask(void **state)
{
	struct rt_config *c = parse_ok("{'process': {'user': {'uid': 1000, 'gid': 100, 'umask': 18,"
				       " 'additionalGids': [5, 4294967295], 'username': 'me'}}}");

	(void)state;
	assert_int_equal(c->process.uid, 1000);
	assert_int_equal(c->process.gid, 100);
	assert_int_equal(c->process.umask, 022);
	assert_int_equal(c->process.n_additional_gids, 2);
	assert_int_equal(c->process.additional_gids[0], 5);
	assert_int_equal(c->process.additional_gids[1], UINT32_MAX);
	rt_config_free(c);
}

static void test_config_rejects_bad_user_fields_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'process': {'user': {'uid': -1}}}",
		       "process.user.uid: expected integer from 0 to 4294967295");
	check_rejected("{'process': {'user': {'gid': 4294967296}}}",
		       "process.user.gid: expected integer from 0 to 4294967295");
	check_rejected("{'process': {'user': {'umask': 512}}}",
		       "process.user.umask: 512 out of range 0-0777");
	check_rejected("{'process': {'user': {'umask': '022'}}}",
		       "process.user.umask: expected integer");
	check_rejected("{'process': {'user': {'additionalGids': [1, -2]}}}",
		       "process.user.additionalGids[1]: expected integer from 0 to 4294967295");
	check_rejected("{'process': {'user': {'username': 0}}}",
		       "process.user.username: expected string");
}

static void test_config_accepts_oom_score_adj_from_minus_1000_to_1000(void **state)
{
	struct rt_config *c;

	(void)state;
	c = parse_ok("{'process': {'oomScoreAdj': -1000}}");
	assert_true(c->process.has_oom_score_adj);
	assert_int_equal(c->process.oom_score_adj, -1000);
	rt_config_free(c);
	c = parse_ok("{'process': {'oomScoreAdj': 1000}}");
	assert_int_equal(c->process.oom_score_adj, 1000);
	rt_config_free(c);
	check_rejected("{'process': {'oomScoreAdj': 1001}}",
		       "process.oomScoreAdj: 1001 out of range -1000 to 1000");
	check_rejected("{'process': {'oomScoreAdj': -1001}}",
		       "process.oomScoreAdj: -1001 out of range");
	check_rejected("{'process': {'oomScoreAdj': 1.5}}",
		       "process.oomScoreAdj: expected integer");
}

static void test_config_parses_capability_sets_into_bitmasks(void **state)
{
	struct rt_config *c = parse_ok("{'process': {'capabilities': {"
				       " 'bounding': ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'],"
				       " 'effective': ['CAP_KILL'],"
				       " 'permitted': [],"
				       " 'ambient': ['CAP_NET_BIND_SERVICE']}}}");
	uint64_t *caps = c->process.caps;

	(void)state;
	assert_true(c->process.has_caps);
	assert_int_equal(caps[RT_CAP_BOUNDING],
			 (1ULL << CAP_CHOWN) | (1ULL << CAP_KILL) | (1ULL << CAP_SYS_ADMIN));
	assert_int_equal(caps[RT_CAP_EFFECTIVE], 1ULL << CAP_KILL);
	assert_int_equal(caps[RT_CAP_PERMITTED], 0);
	assert_int_equal(caps[RT_CAP_INHERITABLE], 0);
	assert_int_equal(caps[RT_CAP_AMBIENT], 1ULL << CAP_NET_BIND_SERVICE);
	rt_config_free(c);
}

static void test_config_ignores_unknown_capabilities_and_rejects_bad_types(void **state)
{
	struct rt_config *c =
		parse_ok("{'process': {'capabilities': {'bounding': ['CAP_NOPE', 'CAP_KILL']}}}");

	(void)state;
	assert_int_equal(c->process.caps[RT_CAP_BOUNDING], 1ULL << CAP_KILL);
	rt_config_free(c);
	check_rejected("{'process': {'capabilities': {'effective': [21]}}}",
		       "process.capabilities.effective[0]: expected string");
	check_rejected("{'process': {'capabilities': {'permitted': 'CAP_KILL'}}}",
		       "process.capabilities.permitted: expected array");
}

static void test_config_parses_rlimits(void **state)
{
	struct rt_config *c = parse_ok("{'process': {'rlimits': ["
				       " {'type': 'RLIMIT_NOFILE', 'hard': 4096, 'soft': 1024},"
				       " {'type': 'RLIMIT_CORE', 'hard': 0, 'soft': 0},"
				       " {'type': 'RLIMIT_AS', 'hard': 9223372036854775807,"
				       "  'soft': 9223372036854775807}]}}");

	(void)state;
	assert_int_equal(c->process.n_rlimits, 3);
	assert_int_equal(c->process.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(c->process.rlimits[0].soft, 1024);
	assert_int_equal(c->process.rlimits[0].hard, 4096);
	assert_int_equal(c->process.rlimits[1].resource, RLIMIT_CORE);
	assert_int_equal(c->process.rlimits[1].hard, 0);
	assert_int_equal(c->process.rlimits[2].resource, RLIMIT_AS);
	assert_true(c->process.rlimits[2].soft == INT64_MAX);
	rt_config_free(c);
}

static void test_config_rejects_rlimit_soft_above_hard(void **state)
{
	(void)state;
	check_rejected("{'process': {'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 4096, "
		       "'soft': 1024}, {'type': 'RLIMIT_NPROC', 'soft': 2048, 'hard': 1024}]}}",
		       "process.rlimits[1]: soft limit 2048 above hard limit 1024");
}

static void test_config_rejects_bad_rlimits_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'process': {'rlimits': [{'type': 'RLIMIT_BOGUS', 'soft': 1, 'hard': 1}]}}",
		       "process.rlimits[0].type: unknown resource 'RLIMIT_BOGUS'");
	check_rejected("{'process': {'rlimits': [{'type': 'RLIMIT_CORE', 'soft': 1, 'hard': 1},"
		       " {'type': 'RLIMIT_CORE', 'soft': 1, 'hard': 1}]}}",
		       "process.rlimits[1].type: 'RLIMIT_CORE' given twice");
	check_rejected("{'process': {'rlimits': [{'type': 'RLIMIT_CORE', 'soft': 1}]}}",
		       "process.rlimits[0]: soft and hard required");
	check_rejected("{'process': {'rlimits': [{'type': 'RLIMIT_CORE', 'soft': -1, "
		       "'hard': 1}]}}",
		       "process.rlimits[0].soft: expected non-negative integer");
	check_rejected("{'process': {'rlimits': [{'soft': 1, 'hard': 1}]}}",
		       "process.rlimits[0].type: required");
	check_rejected("{'process': {'rlimits': ['RLIMIT_CORE']}}",
		       "process.rlimits[0]: expected object");
}

/* ---- mounts ---- */

static void test_config_mount_ro_sets_rdonly_and_rw_clears_it(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': ["
		" {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs',"
		"  'options': ['nosuid', 'noexec', 'nodev', 'ro']},"
		" {'destination': '/tmp', 'type': 'tmpfs', 'options': ['ro', 'rw', 'suid']},"
		" {'destination': '/run', 'type': 'tmpfs', 'options': ['rw', 'ro']}]}");

	(void)state;
	assert_int_equal(c->n_mounts, 3);
	assert_string_equal(c->mounts[0].destination, "/sys");
	assert_string_equal(c->mounts[0].type, "sysfs");
	assert_string_equal(c->mounts[0].source, "sysfs");
	assert_int_equal(c->mounts[0].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
	assert_int_equal(c->mounts[0].clear_flags, 0);
	assert_false(c->mounts[0].bind);
	assert_null(c->mounts[0].data);

	assert_int_equal(c->mounts[1].flags, 0);
	assert_int_equal(c->mounts[1].clear_flags, MS_RDONLY | MS_NOSUID);
	/* the source defaults to the type */
	assert_string_equal(c->mounts[1].source, "tmpfs");

	assert_int_equal(c->mounts[2].flags, MS_RDONLY);
	assert_int_equal(c->mounts[2].clear_flags, 0);
	rt_config_free(c);
}

static void test_config_mount_rbind_makes_a_recursive_bind_mount(void **state)
{
	struct rt_config *c =
		parse_ok("{'mounts': [{'destination': '/data', 'type': 'none',"
			 " 'source': '/srv/data', 'options': ['rbind', 'rprivate']}]}");
	const struct rt_mount *m = &c->mounts[0];

	(void)state;
	assert_true(m->bind);
	assert_null(m->type);
	assert_string_equal(m->source, "/srv/data");
	assert_int_equal(m->flags, MS_BIND | MS_REC);
	assert_int_equal(m->propagation, MS_PRIVATE | MS_REC);
	assert_null(m->data);
	rt_config_free(c);
}

static void test_config_mount_propagation_options_set_propagation_only(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': [{'destination': '/a', 'type': 'tmpfs', 'options': ['shared']},"
		"            {'destination': '/b', 'type': 'tmpfs', 'options': ['rslave']},"
		"            {'destination': '/c', 'type': 'tmpfs', 'options': ['runbindable']}]}");

	(void)state;
	assert_int_equal(c->mounts[0].propagation, MS_SHARED);
	assert_int_equal(c->mounts[0].flags, 0);
	assert_int_equal(c->mounts[1].propagation, MS_SLAVE | MS_REC);
	assert_int_equal(c->mounts[1].flags, 0);
	assert_int_equal(c->mounts[2].propagation, MS_UNBINDABLE | MS_REC);
	rt_config_free(c);
}

static void test_config_mount_rro_sets_recursive_readonly_attribute(void **state)
{
	struct rt_config *c =
		parse_ok("{'mounts': [{'destination': '/a', 'source': '/host/a', 'type': 'bind',"
			 "             'options': ['rbind', 'rro', 'rnosuid']},"
			 "            {'destination': '/b', 'source': '/host/b', 'type': 'bind',"
			 "             'options': ['rro', 'rrw', 'rnoexec']}]}");

	(void)state;
	assert_int_equal(c->mounts[0].rec_attr_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
	assert_int_equal(c->mounts[0].rec_attr_clr, 0);
	/* rro is an attribute, not MS_RDONLY */
	assert_int_equal(c->mounts[0].flags, MS_BIND | MS_REC);
	assert_int_equal(c->mounts[1].rec_attr_set, MOUNT_ATTR_NOEXEC);
	assert_int_equal(c->mounts[1].rec_attr_clr, MOUNT_ATTR_RDONLY);
	rt_config_free(c);
}

static void test_config_mount_joins_unknown_options_into_data_in_order(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': [{'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs',"
		"             'options': ['nosuid', 'mode=755', 'strictatime', 'size=65536k']},"
		"            {'destination': '/dev/pts', 'type': 'devpts',"
		"             'options': ['newinstance', 'ptmxmode=0666', 'gid=5', 'defaults']}]}");

	(void)state;
	assert_string_equal(c->mounts[0].data, "mode=755,size=65536k");
	assert_int_equal(c->mounts[0].flags, MS_NOSUID | MS_STRICTATIME);
	assert_string_equal(c->mounts[1].data, "newinstance,ptmxmode=0666,gid=5");
	rt_config_free(c);
}

static void test_config_idmap_mount_takes_its_own_mappings(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': [{'destination': '/data', 'type': 'bind', 'source': '/srv',"
		"             'options': ['ridmap'],"
		"             'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 10}],"
		"             'gidMappings': [{'containerID': 0, 'hostID': 2000, 'size': 10}]}]}");

	(void)state;
	assert_true(c->mounts[0].idmap);
	assert_true(c->mounts[0].idmap_recursive);
	assert_int_equal(c->mounts[0].n_uid_maps, 1);
	assert_int_equal(c->mounts[0].uid_maps[0].host_id, 1000);
	assert_int_equal(c->mounts[0].gid_maps[0].host_id, 2000);
	rt_config_free(c);
}

static void test_config_rejects_idmap_on_other_than_bind_mounts(void **state)
{
	(void)state;
	check_rejected("{'mounts': [{'destination': '/dev/pts', 'type': 'devpts',"
		       " 'options': ['idmap']}]}",
		       "mounts[0].options: idmap is supported on bind mounts only");
	check_rejected("{'mounts': [{'destination': '/d', 'type': 'bind', 'source': '/s',"
		       " 'options': ['idmap']}]}",
		       "mounts[0]: idmap needs uidMappings and gidMappings");
}

static void test_config_bind_mount_by_type_bind(void **state)
{
	struct rt_config *c = parse_ok("{'mounts': [{'destination': '/etc/hosts', 'type': 'bind',"
				       " 'source': '/var/lib/hosts', 'options': ['ro']}]}");
	const struct rt_mount *m = &c->mounts[0];

	(void)state;
	assert_true(m->bind);
	assert_null(m->type);
	assert_int_equal(m->flags, MS_BIND | MS_RDONLY);
	assert_string_equal(m->source, "/var/lib/hosts");
	rt_config_free(c);
}

static void test_config_bind_mount_by_option_with_type_none_or_no_type(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': [{'destination': '/a', 'type': 'none', 'source': '/x',"
		"             'options': ['bind', 'nodev']},"
		"            {'destination': '/b', 'source': '/y', 'options': ['bind']}]}");

	(void)state;
	assert_true(c->mounts[0].bind);
	assert_null(c->mounts[0].type);
	assert_int_equal(c->mounts[0].flags, MS_BIND | MS_NODEV);
	assert_true(c->mounts[1].bind);
	assert_null(c->mounts[1].type);
	assert_int_equal(c->mounts[1].flags, MS_BIND);
	rt_config_free(c);
}

static void test_config_takes_relative_mount_paths_from_root_and_bundle(void **state)
{
	struct rt_config *c = parse_ok(
		"{'mounts': [{'destination': 'tmp', 'type': 'tmpfs'},"
		"            {'destination': '/data', 'type': 'bind', 'source': 'shared'}]}");

	(void)state;
	assert_string_equal(c->mounts[0].destination, "/tmp");
	assert_string_equal(c->mounts[1].source, BUNDLE "/shared");
	rt_config_free(c);
	check_rejected("{'mounts': [{'type': 'tmpfs'}]}", "mounts[0].destination: required");
}

static void test_config_rejects_bad_mounts_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'mounts': [{'destination': '/a'}]}",
		       "mounts[0].type: required for a mount that is not a bind mount");
	check_rejected("{'mounts': [{'destination': '/a', 'type': 'none', 'source': 'x'}]}",
		       "mounts[0].type: required");
	check_rejected("{'mounts': [{'destination': '/a', 'type': 'bind'}]}",
		       "mounts[0].source: required for a bind mount");
	check_rejected("{'mounts': [{'destination': '/a', 'type': 'tmpfs', 'options': 'ro'}]}",
		       "mounts[0].options: expected array");
	check_rejected("{'mounts': [{'destination': '/a', 'type': 'tmpfs', "
		       "'options': ['ro', 5]}]}",
		       "mounts[0].options[1]: expected string");
	check_rejected("{'mounts': ['/a']}", "mounts[0]: expected object");
	check_rejected("{'mounts': {}}", "mounts: expected array");
}

/* ---- hooks ---- */

static void test_config_parses_hooks_with_args_env_and_timeout(void **state)
{
	struct rt_config *c =
		parse_ok("{'hooks': {'prestart': [{'path': '/bin/hook', 'args': ['hook', 'pre'],"
			 "                         'env': ['A=1'], 'timeout': 5}],"
			 "           'createRuntime': [{'path': '/bin/a'}, {'path': '/bin/b'}],"
			 "           'poststop': [{'path': '/bin/cleanup'}]}}");
	const struct rt_hook *h = &c->hooks[RT_HOOK_PRESTART].list[0];

	(void)state;
	assert_int_equal(c->hooks[RT_HOOK_PRESTART].n, 1);
	assert_string_equal(h->path, "/bin/hook");
	assert_string_equal(h->args[1], "pre");
	assert_null(h->args[2]);
	assert_string_equal(h->env[0], "A=1");
	assert_int_equal(h->timeout, 5);
	assert_int_equal(c->hooks[RT_HOOK_CREATE_RUNTIME].n, 2);
	assert_string_equal(c->hooks[RT_HOOK_CREATE_RUNTIME].list[1].path, "/bin/b");
	assert_null(c->hooks[RT_HOOK_CREATE_RUNTIME].list[1].args);
	assert_int_equal(c->hooks[RT_HOOK_CREATE_RUNTIME].list[1].timeout, 0);
	assert_int_equal(c->hooks[RT_HOOK_START_CONTAINER].n, 0);
	assert_int_equal(c->hooks[RT_HOOK_POSTSTOP].n, 1);
	rt_config_free(c);
}

static void test_config_rejects_relative_hook_path(void **state)
{
	(void)state;
	check_rejected("{'hooks': {'poststart': [{'path': '/bin/ok'}, {'path': 'bin/hook'}]}}",
		       "hooks.poststart[1].path: an absolute path is required");
	check_rejected("{'hooks': {'createContainer': [{'args': ['x']}]}}",
		       "hooks.createContainer[0].path: an absolute path is required");
}

static void test_config_rejects_bad_hooks_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'hooks': {'prestart': [{'path': '/bin/h', 'timeout': 0}]}}",
		       "hooks.prestart[0].timeout: must be from 1 to 2147483647 seconds");
	check_rejected("{'hooks': {'prestart': [{'path': '/bin/h', 'args': ['h', 1]}]}}",
		       "hooks.prestart[0].args[1]: expected string");
	check_rejected("{'hooks': {'prestart': [{'path': '/bin/h', 'env': 'A=1'}]}}",
		       "hooks.prestart[0].env: expected array");
	check_rejected("{'hooks': {'poststop': {'path': '/bin/h'}}}",
		       "hooks.poststop: expected array");
	check_rejected("{'hooks': {'poststop': ['/bin/h']}}", "hooks.poststop[0]: expected object");
}

/* ---- linux: namespaces and id maps ---- */

static void test_config_parses_namespaces_with_paths(void **state)
{
	struct rt_config *c =
		parse_ok("{'hostname': 'box', 'linux': {'namespaces': ["
			 " {'type': 'pid'}, {'type': 'network', 'path': '/run/netns/n1'},"
			 " {'type': 'mount'}, {'type': 'uts'}, {'type': 'ipc', 'path': ''},"
			 " {'type': 'cgroup'}]}}");

	(void)state;
	assert_true(c->ns[RT_NS_PID].enabled);
	assert_null(c->ns[RT_NS_PID].path);
	assert_true(c->ns[RT_NS_NET].enabled);
	assert_string_equal(c->ns[RT_NS_NET].path, "/run/netns/n1");
	assert_true(c->ns[RT_NS_IPC].enabled);
	assert_null(c->ns[RT_NS_IPC].path); /* empty path: a new namespace */
	assert_true(c->ns[RT_NS_UTS].enabled);
	assert_true(c->ns[RT_NS_MNT].enabled);
	assert_true(c->ns[RT_NS_CGROUP].enabled);
	assert_false(c->ns[RT_NS_USER].enabled);
	assert_false(c->ns[RT_NS_TIME].enabled);
	assert_string_equal(c->hostname, "box");
	rt_config_free(c);
}

static void test_config_rejects_unknown_namespace_type(void **state)
{
	(void)state;
	check_rejected("{'linux': {'namespaces': [{'type': 'pid'}, {'type': 'net'}]}}",
		       "linux.namespaces[1].type: unknown namespace type 'net'");
	check_rejected("{'linux': {'namespaces': [{'path': '/proc/1/ns/pid'}]}}",
		       "linux.namespaces[0].type: required");
	check_rejected("{'linux': {'namespaces': [{'type': 'pid', 'path': 'proc/1/ns/pid'}]}}",
		       "linux.namespaces[0].path: an absolute path is required");
}

static void test_config_rejects_duplicate_namespace(void **state)
{
	(void)state;
	check_rejected("{'linux': {'namespaces': [{'type': 'network', 'path': '/run/netns/a'},"
		       " {'type': 'mount'}, {'type': 'network'}]}}",
		       "linux.namespaces[2].type: namespace 'network' listed twice");
}

static void test_config_rejects_hostname_without_a_new_uts_namespace(void **state)
{
	(void)state;
	check_rejected("{'hostname': 'box'}", "hostname: setting it needs a new uts namespace");
	check_rejected("{'hostname': 'box', 'linux': {'namespaces': [{'type': 'uts', 'path': "
		       "'/proc/1/ns/uts'}]}}",
		       "hostname: cannot be set when joining an existing uts namespace");
}

static void test_config_parses_id_maps(void **state)
{
	struct rt_config *c =
		parse_ok("{'linux': {'namespaces': [{'type': 'user'}],"
			 " 'uidMappings': [{'containerID': 0, 'hostID': 100000, 'size': 65536}],"
			 " 'gidMappings': [{'containerID': 0, 'hostID': 100000, 'size': 1},"
			 "                 {'containerID': 1, 'hostID': 200001, 'size': 65535}]}}");

	(void)state;
	assert_true(c->ns[RT_NS_USER].enabled);
	assert_int_equal(c->n_uid_maps, 1);
	assert_int_equal(c->uid_maps[0].container_id, 0);
	assert_int_equal(c->uid_maps[0].host_id, 100000);
	assert_int_equal(c->uid_maps[0].size, 65536);
	assert_int_equal(c->n_gid_maps, 2);
	assert_int_equal(c->gid_maps[1].container_id, 1);
	assert_int_equal(c->gid_maps[1].host_id, 200001);
	assert_int_equal(c->gid_maps[1].size, 65535);
	rt_config_free(c);
}

static void test_config_rejects_uid_mappings_without_user_namespace(void **state)
{
	(void)state;
	check_rejected("{'linux': {'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}],"
		       " 'gidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}]}}",
		       "linux.uidMappings: given without a user namespace");
}

static void test_config_rejects_user_namespace_without_mappings(void **state)
{
	(void)state;
	check_rejected("{'linux': {'namespaces': [{'type': 'user'}]}}",
		       "linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
	check_rejected("{'linux': {'namespaces': [{'type': 'user'}],"
		       " 'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}]}}",
		       "a new user namespace needs uidMappings and gidMappings");
}

static void test_config_joined_user_namespace_needs_no_mappings(void **state)
{
	struct rt_config *c = parse_ok(
		"{'linux': {'namespaces': [{'type': 'user', 'path': '/proc/7/ns/user'}]}}");

	(void)state;
	assert_string_equal(c->ns[RT_NS_USER].path, "/proc/7/ns/user");
	assert_int_equal(c->n_uid_maps, 0);
	rt_config_free(c);
}

static void test_config_rejects_bad_id_maps_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'linux': {'namespaces': [{'type': 'user'}],"
		       " 'uidMappings': [{'containerID': 0, 'hostID': 1000}]}}",
		       "linux.uidMappings[0]: containerID, hostID and size are required");
	check_rejected("{'linux': {'namespaces': [{'type': 'user'}],"
		       " 'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}],"
		       " 'gidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 0}]}}",
		       "linux.gidMappings[0].size: must be greater than zero");
	check_rejected("{'linux': {'namespaces': [{'type': 'user'}],"
		       " 'uidMappings': [{'containerID': 0, 'hostID': -5, 'size': 1}]}}",
		       "linux.uidMappings[0].hostID: expected integer from 0 to 4294967295");
}

/* ---- linux: devices, resources, sysctl, paths ---- */

static void test_config_parses_linux_devices(void **state)
{
	struct rt_config *c =
		parse_ok("{'linux': {'devices': [{'path': '/dev/fuse', 'type': 'c', 'major': 10,"
			 " 'minor': 229, 'fileMode': 438, 'uid': 0, 'gid': 5},"
			 " {'path': '/dev/fifo0', 'type': 'p'}]}}");

	(void)state;
	assert_int_equal(c->n_devices, 2);
	assert_string_equal(c->devices[0].path, "/dev/fuse");
	assert_int_equal(c->devices[0].type, 'c');
	assert_int_equal(c->devices[0].major, 10);
	assert_int_equal(c->devices[0].minor, 229);
	assert_true(c->devices[0].has_mode);
	assert_int_equal(c->devices[0].file_mode, 0666);
	assert_true(c->devices[0].has_uid);
	assert_true(c->devices[0].has_gid);
	assert_int_equal(c->devices[0].gid, 5);
	assert_int_equal(c->devices[1].type, 'p');
	assert_false(c->devices[1].has_mode);
	assert_false(c->devices[1].has_uid);
	rt_config_free(c);
}

static void test_config_rejects_bad_linux_device_type_with_its_index(void **state)
{
	(void)state;
	check_rejected("{'linux': {'devices': [{'path': '/dev/x', 'type': 'x', 'major': 1,"
		       " 'minor': 1}]}}",
		       "linux.devices[0].type: expected one of c, b, u, p");
	check_rejected("{'linux': {'devices': [{'path': '/dev/x', 'major': 1, 'minor': 1}]}}",
		       "linux.devices[0].type: expected one of c, b, u, p");
	check_rejected("{'linux': {'devices': [{'path': '/dev/x', 'type': 'cb'}]}}",
		       "linux.devices[0].type");
	check_rejected("{'linux': {'devices': [{'path': '/dev/x', 'type': 'b', 'major': 8}]}}",
		       "linux.devices[0]: major and minor are required for type 'b'");
	check_rejected("{'linux': {'devices': [{'path': 'dev/x', 'type': 'p'}]}}",
		       "linux.devices[0].path: an absolute path is required");
}

static void test_config_parses_resources_and_leaves_unset_fields_unset(void **state)
{
	struct rt_config *c =
		parse_ok("{'linux': {'cgroupsPath': '/skiff/b1', 'resources': {"
			 " 'memory': {'limit': 33554432, 'swap': -1, 'swappiness': 60,"
			 "            'disableOOMKiller': true},"
			 " 'cpu': {'shares': 512, 'quota': 50000, 'cpus': '0-1', 'mems': ''},"
			 " 'pids': {'limit': 64},"
			 " 'blockIO': {'weight': 500, 'throttleReadBpsDevice': []},"
			 " 'hugepageLimits': [{'pageSize': '2MB', 'limit': 1048576}],"
			 " 'unified': {'memory.high': 'max'}}}}");
	const struct rt_resources *r = &c->res;

	(void)state;
	assert_string_equal(c->cgroups_path, "/skiff/b1");
	assert_true(c->has_resources);
	assert_int_equal(r->mem_limit, 33554432);
	assert_int_equal(r->mem_swap, -1);
	assert_int_equal(r->mem_swappiness, 60);
	assert_int_equal(r->disable_oom_killer, 1);
	assert_int_equal(r->use_hierarchy, -1);
	assert_int_equal(r->cpu_shares, 512);
	assert_int_equal(r->cpu_quota, 50000);
	assert_string_equal(r->cpuset_cpus, "0-1");
	assert_null(r->cpuset_mems);
	assert_int_equal(r->pids_limit, 64);
	assert_int_equal(r->blkio_weight, 500);
	assert_non_null(r->blkio);
	assert_int_equal(r->n_hugepages, 1);
	assert_string_equal(r->hugepages[0].page_size, "2MB");
	assert_int_equal(r->hugepages[0].limit, 1048576);
	assert_non_null(r->unified);
	assert_null(r->network);
	assert_int_equal(r->n_devices, 0);

	assert_true(r->mem_reservation == RT_UNSET_I64);
	assert_true(r->mem_kernel == RT_UNSET_I64);
	assert_true(r->mem_kernel_tcp == RT_UNSET_I64);
	assert_true(r->cpu_period == RT_UNSET_I64);
	assert_true(r->cpu_burst == RT_UNSET_I64);
	assert_true(r->cpu_rt_runtime == RT_UNSET_I64);
	assert_true(r->cpu_rt_period == RT_UNSET_I64);
	assert_true(r->cpu_idle == RT_UNSET_I64);
	assert_true(r->blkio_leaf_weight == RT_UNSET_I64);
	rt_config_free(c);
}

static void test_config_rejects_string_memory_limit_with_its_path(void **state)
{
	(void)state;
	check_rejected("{'linux': {'resources': {'memory': {'limit': '32M'}}}}",
		       "linux.resources.memory.limit: expected integer");
}

static void test_config_rejects_bad_resource_fields_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'linux': {'resources': {'memory': {'swappiness': 101}}}}",
		       "linux.resources.memory.swappiness: 101 out of range 0-100");
	check_rejected("{'linux': {'resources': {'memory': {'disableOOMKiller': 1}}}}",
		       "linux.resources.memory.disableOOMKiller: expected boolean");
	check_rejected("{'linux': {'resources': {'cpu': {'quota': 1.5}}}}",
		       "linux.resources.cpu.quota: expected integer");
	check_rejected("{'linux': {'resources': {'cpu': {'cpus': 3}}}}",
		       "linux.resources.cpu.cpus: expected string");
	check_rejected("{'linux': {'resources': {'pids': {'limit': '64'}}}}",
		       "linux.resources.pids.limit: expected integer");
	check_rejected("{'linux': {'resources': {'blockIO': {'leafWeight': true}}}}",
		       "linux.resources.blockIO.leafWeight: expected integer");
	check_rejected("{'linux': {'resources': {'unified': {'memory.max': 5}}}}",
		       "linux.resources.unified.memory.max: expected string");
	check_rejected("{'linux': {'resources': {'unified': {'../x': '1'}}}}",
		       "linux.resources.unified: invalid key '../x'");
	check_rejected("{'linux': {'resources': {'memory': 5}}}",
		       "linux.resources.memory: expected object");
	check_rejected("{'linux': {'resources': []}}", "linux.resources: expected object");
}

static void test_config_device_rules_default_to_all_types_and_rwm_access(void **state)
{
	struct rt_config *c =
		parse_ok("{'linux': {'resources': {'devices': ["
			 " {'allow': false},"
			 " {'allow': true, 'type': 'c', 'major': 1, 'minor': 3},"
			 " {'allow': true, 'type': 'b', 'major': 8, 'access': 'r'}]}}}");
	const struct rt_device_rule *d = c->res.devices;

	(void)state;
	assert_int_equal(c->res.n_devices, 3);
	assert_false(d[0].allow);
	assert_int_equal(d[0].type, 'a');
	assert_int_equal(d[0].major, -1);
	assert_int_equal(d[0].minor, -1);
	assert_string_equal(d[0].access, "rwm");
	assert_true(d[1].allow);
	assert_int_equal(d[1].type, 'c');
	assert_int_equal(d[1].major, 1);
	assert_int_equal(d[1].minor, 3);
	assert_string_equal(d[1].access, "rwm");
	assert_int_equal(d[2].type, 'b');
	assert_int_equal(d[2].major, 8);
	assert_int_equal(d[2].minor, -1);
	assert_string_equal(d[2].access, "r");
	rt_config_free(c);
}

static void test_config_rejects_device_rule_access_with_bad_letters(void **state)
{
	(void)state;
	check_rejected("{'linux': {'resources': {'devices': [{'allow': true},"
		       " {'allow': true, 'access': 'rwx'}]}}}",
		       "linux.resources.devices[1].access: expected letters of 'rwm', got 'rwx'");
	check_rejected("{'linux': {'resources': {'devices': [{'allow': true, 'access': 'rwmr'}]}}}",
		       "linux.resources.devices[0].access: expected letters of 'rwm'");
	check_rejected("{'linux': {'resources': {'devices': [{'allow': true, 'type': 'p'}]}}}",
		       "linux.resources.devices[0].type: expected one of a, c, b");
	check_rejected("{'linux': {'resources': {'devices': [{'type': 'a'}]}}}",
		       "linux.resources.devices[0].allow: required");
}

static void test_config_rejects_hugepage_limit_without_page_size(void **state)
{
	(void)state;
	check_rejected("{'linux': {'resources': {'hugepageLimits': ["
		       " {'pageSize': '2MB', 'limit': 1}, {'limit': 1048576}]}}}",
		       "linux.resources.hugepageLimits[1].pageSize: required, like '2MB'");
	check_rejected("{'linux': {'resources': {'hugepageLimits': ["
		       " {'pageSize': '../2MB', 'limit': 1}]}}}",
		       "linux.resources.hugepageLimits[0].pageSize: required");
	check_rejected("{'linux': {'resources': {'hugepageLimits': [{'pageSize': '1GB'}]}}}",
		       "linux.resources.hugepageLimits[0].limit: required");
}

static void test_config_parses_sysctl_pairs_in_order(void **state)
{
	struct rt_config *c = parse_ok("{'linux': {'sysctl': {'net.ipv4.ip_forward': '1',"
				       " 'kernel.shm_rmid_forced': '0'}}}");

	(void)state;
	assert_int_equal(strv_len(c->sysctl), 4);
	assert_string_equal(c->sysctl[0], "net.ipv4.ip_forward");
	assert_string_equal(c->sysctl[1], "1");
	assert_string_equal(c->sysctl[2], "kernel.shm_rmid_forced");
	assert_string_equal(c->sysctl[3], "0");
	rt_config_free(c);
}

static void test_config_rejects_sysctl_value_that_is_not_a_string(void **state)
{
	(void)state;
	check_rejected("{'linux': {'sysctl': {'net.core.somaxconn': '1024',"
		       " 'net.ipv4.ip_forward': 1}}}",
		       "linux.sysctl.net.ipv4.ip_forward: expected string");
	check_rejected("{'linux': {'sysctl': {'../../etc/passwd': 'x'}}}",
		       "linux.sysctl: invalid key '../../etc/passwd'");
}

static void test_config_parses_masked_and_readonly_paths(void **state)
{
	struct rt_config *c = parse_ok("{'linux': {'maskedPaths': ['/proc/kcore', '/sys/firmware'],"
				       " 'readonlyPaths': ['/proc/sys']}}");

	(void)state;
	assert_int_equal(strv_len(c->masked_paths), 2);
	assert_string_equal(c->masked_paths[0], "/proc/kcore");
	assert_string_equal(c->masked_paths[1], "/sys/firmware");
	assert_int_equal(strv_len(c->readonly_paths), 1);
	assert_string_equal(c->readonly_paths[0], "/proc/sys");
	check_rejected("{'linux': {'maskedPaths': ['/proc/kcore', null]}}",
		       "linux.maskedPaths[1]: expected string");
	rt_config_free(c);
}

static void test_config_parses_propagation_time_offsets_and_personality(void **state)
{
	struct rt_config *c = parse_ok(
		"{'linux': {'rootfsPropagation': 'rslave', 'mountLabel': 'system_u:object_r:x',"
		" 'namespaces': [{'type': 'time'}],"
		" 'timeOffsets': {'monotonic': {'secs': -10, 'nanosecs': 5},"
		"                 'boottime': {'secs': 100}},"
		" 'personality': {'domain': 'LINUX32'},"
		" 'seccomp': {'defaultAction': 'SCMP_ACT_ALLOW'}}}");

	(void)state;
	assert_int_equal(c->rootfs_propagation, MS_SLAVE | MS_REC);
	assert_string_equal(c->mount_label, "system_u:object_r:x");
	assert_true(c->has_time_offsets);
	assert_int_equal(c->time_offsets[0][0], -10);
	assert_int_equal(c->time_offsets[0][1], 5);
	assert_int_equal(c->time_offsets[1][0], 100);
	assert_int_equal(c->time_offsets[1][1], 0);
	assert_true(c->has_personality);
	assert_int_equal(c->personality, PER_LINUX32);
	assert_non_null(c->seccomp);
	rt_config_free(c);
}

static void test_config_rejects_time_offsets_without_time_namespace(void **state)
{
	(void)state;
	check_rejected("{'linux': {'timeOffsets': {'boottime': {'secs': 1}}}}",
		       "linux.timeOffsets: given without a time namespace");
	check_rejected("{'linux': {'namespaces': [{'type': 'time'}],"
		       " 'timeOffsets': {'boottime': {'secs': 1, 'nanosecs': 1000000000}}}}",
		       "linux.timeOffsets.boottime.nanosecs: must be below 1000000000");
}

static void test_config_rejects_other_bad_linux_fields_with_their_paths(void **state)
{
	(void)state;
	check_rejected("{'linux': {'rootfsPropagation': 'sideways'}}",
		       "linux.rootfsPropagation: unknown propagation 'sideways'");
	check_rejected("{'linux': {'personality': {'domain': 'BSD'}}}",
		       "linux.personality.domain: expected 'LINUX' or 'LINUX32'");
	check_rejected("{'linux': {'seccomp': []}}", "linux.seccomp: expected object");
	check_rejected("{'linux': 'yes'}", "linux: expected object");
}

static void test_config_rejects_intel_rdt(void **state)
{
	(void)state;
	check_rejected_with("{'linux': {'intelRdt': {'closID': 'c1'}}}", EOPNOTSUPP,
			    "linux.intelRdt: Intel RDT is not supported");
}

/* A config using every section, valid; late failures are added to it. */
static const char everything[] =
	"{'hostname': 'box', 'domainname': 'example.org', 'annotations': {'a': 'b'},"
	" 'process': {'env': ['A=1'], 'apparmorProfile': 'p', 'selinuxLabel': 'l',"
	"  'user': {'uid': 1, 'additionalGids': [1, 2]},"
	"  'capabilities': {'bounding': ['CAP_KILL']},"
	"  'rlimits': [{'type': 'RLIMIT_NOFILE', 'soft': 1, 'hard': 2}]},"
	" 'mounts': [{'destination': '/dev', 'type': 'tmpfs', 'options': ['mode=755', 'size=1k']},"
	"            {'destination': '/b', 'type': 'bind', 'source': '/x'}],"
	" 'hooks': {'prestart': [{'path': '/h', 'args': ['h'], 'env': ['E=1']}],"
	"           'poststop': [{'path': '/p'}]},"
	" 'linux': {'namespaces': [{'type': 'network', 'path': '/run/netns/n'}, {'type': 'uts'},"
	"                          {'type': 'user'}, {'type': 'time'}],"
	"  'uidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}],"
	"  'gidMappings': [{'containerID': 0, 'hostID': 1000, 'size': 1}],"
	"  'devices': [{'path': '/dev/fuse', 'type': 'c', 'major': 10, 'minor': 229}],"
	"  'cgroupsPath': 'skiff:b1',"
	"  'resources': {'cpu': {'cpus': '0', 'mems': '0'},"
	"                'hugepageLimits': [{'pageSize': '2MB', 'limit': 0}],"
	"                'devices': [{'allow': false}]},"
	"  'sysctl': {'kernel.domainname': 'example.org'},"
	"  'maskedPaths': ['/proc/kcore'], 'readonlyPaths': ['/proc/sys'],"
	"  'timeOffsets': {'monotonic': {'secs': 1}},"
	"  'mountLabel': 'm', 'personality': {'domain': 'LINUX'}}}";

/* Config text: the minimal config with @a and then @b laid over it. */
static char *merged(const char *a, const char *b)
{
	cleanup_json json_t *doc = load(minimal);
	cleanup_json json_t *ja = load(a);
	cleanup_json json_t *jb = load(b);

	assert_int_equal(json_object_update_recursive(doc, ja), 0);
	assert_int_equal(json_object_update_recursive(doc, jb), 0);
	return json_dumps(doc, JSON_COMPACT);
}

/* Everything parsed before a late error is freed (the leak check is the assertion). */
static void test_config_late_failures_free_everything_parsed_before(void **state)
{
	cleanup_free char *rdt = merged(everything, "{'linux': {'intelRdt': {'closID': 'c'}}}");
	cleanup_free char *joined_uts =
		merged(everything, "{'linux': {'namespaces': [{'type': 'network'},"
				   " {'type': 'uts', 'path': '/proc/1/ns/uts'}, {'type': 'user'},"
				   " {'type': 'time'}]}}");
	struct rt_config *c = parse_ok(everything);

	(void)state;
	assert_int_equal(c->n_mounts, 2);
	assert_int_equal(c->res.n_hugepages, 1);
	rt_config_free(c);
	/* intelRdt is checked near the end of linux, the hostname after everything */
	check_text_rejected(rdt, EOPNOTSUPP, "linux.intelRdt");
	check_text_rejected(joined_uts, EINVAL, "hostname: cannot be set when joining");

	/* an error in a later array element after earlier ones were filled in */
	check_rejected("{'mounts': [{'destination': '/a', 'type': 'tmpfs', 'options': ['x=1']},"
		       " {'destination': '/b', 'type': 'bind', 'options': ['y=2']}]}",
		       "mounts[1].source");
	check_rejected("{'hooks': {'prestart': [{'path': '/a', 'args': ['a']}],"
		       " 'poststop': [{'path': '/b', 'args': ['b'], 'timeout': -1}]}}",
		       "hooks.poststop[0].timeout");
	check_rejected("{'linux': {'sysctl': {'a.b': 'x', 'c.d': 'y', '/e': 'z'}}}",
		       "linux.sysctl: invalid key '/e'");
	check_rejected("{'linux': {'resources': {'hugepageLimits': [{'pageSize': '2MB',"
		       " 'limit': 1}, {'pageSize': '1GB', 'limit': -1}]}}}",
		       "linux.resources.hugepageLimits[1].limit: expected non-negative integer");
	check_rejected("{'linux': {'devices': [{'path': '/dev/a', 'type': 'p'},"
		       " {'path': '/dev/b', 'type': 'c', 'major': 1, 'minor': 1, 'uid': -1}]}}",
		       "linux.devices[1].uid");
	check_rejected("{'process': {'args': ['a', 'b'], 'env': ['X=1'], 'cwd': 'rel'}}",
		       "process.cwd");
}

/* ---- jx helpers ---- */

static void test_jx_uint_accepts_values_above_int64_max(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *o = json_pack("{s:f, s:f, s:I}", "a", 9223372036854775808.0, "b",
					   18446744073709549568.0, "c", (json_int_t)INT64_MAX);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(jx_uint(o, "x", "a", &v, &err), 1);
	assert_true(v == 9223372036854775808ULL);
	/* the largest double below 2^64 */
	assert_int_equal(jx_uint(o, "x", "b", &v, &err), 1);
	assert_true(v == 18446744073709549568ULL);
	assert_int_equal(jx_uint(o, "x", "c", &v, &err), 1);
	assert_true(v == INT64_MAX);
	assert_int_equal(err.code, 0);
}

static void test_jx_uint_rejects_negatives_and_fractions(void **state)
{
	cleanup_json json_t *o = json_pack("{s:I, s:f, s:f, s:n}", "neg", (json_int_t)-1, "negreal",
					   -1e19, "frac", 1.5, "none");
	const char *keys[] = {"neg", "negreal", "frac"};
	uint64_t v = 42;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_free char *want =
			xasprintf("x.y.%s: expected non-negative integer", keys[i]);

		assert_int_equal(jx_uint(o, "x.y", keys[i], &v, &err), -EINVAL);
		assert_string_equal(err.msg, want);
		assert_int_equal(v, 42);
	}
	/* null and absent are the same: 0, output untouched */
	assert_int_equal(jx_uint(o, "x.y", "none", &v, &(struct err)ERR_INIT), 0);
	assert_int_equal(jx_uint(o, "x.y", "missing", &v, &(struct err)ERR_INIT), 0);
	assert_int_equal(v, 42);
}

static void test_jx_strv_names_the_index_of_a_non_string_element(void **state)
{
	cleanup_json json_t *o = load("{'y': ['a', 'b', 3], 'z': ['p', 'q']}");
	cleanup_err struct err err = ERR_INIT;
	cleanup_err struct err top = ERR_INIT;
	cleanup_strv char **v = NULL;

	(void)state;
	assert_int_equal(jx_strv(o, "x", "y", &v, &err), -EINVAL);
	assert_string_equal(err.msg, "x.y[2]: expected string");
	assert_null(v);
	/* at the top level the path is the key alone */
	assert_int_equal(jx_strv(o, "", "y", &v, &top), -EINVAL);
	assert_string_equal(top.msg, "y[2]: expected string");
	assert_null(v);
	assert_int_equal(jx_strv(o, "x", "z", &v, &(struct err)ERR_INIT), 1);
	assert_int_equal(strv_len(v), 2);
	assert_string_equal(v[1], "q");
	assert_null(v[2]);
}

/*
 * Regression: RLIM_INFINITY written as the integer 18446744073709551615 (what Go's uint64
 * encoding produces) fails as invalid JSON: jansson rejects integers above INT64_MAX with
 * "too big integer" unless decoding them as reals, so jx_uint's real branch is unreachable
 * from jx_parse.
 */
static void test_config_accepts_rlimit_of_uint64_max(void **state)
{
	static const char text[] = "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"r\"},"
				   " \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\":"
				   " [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 18446744073709551615,"
				   " \"hard\": 18446744073709551615}]}}";
	cleanup_err struct err err = ERR_INIT;
	struct rt_config *c = NULL;

	(void)state;
	if (rt_config_parse(text, strlen(text), BUNDLE, &c, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(c->process.rlimits[0].soft == UINT64_MAX);
	assert_true(c->process.rlimits[0].hard == UINT64_MAX);
	rt_config_free(c);
}

/*
 * Regression: the real 18446744073709551615.0 is 2^64 (the nearest double), which passes
 * jx_uint's "<= 18446744073709551615.0" check; converting it to uint64_t is undefined and
 * yields 0 on x86-64, so "unlimited" becomes 0.
 */
static void test_jx_uint_reads_the_real_uint64_max_as_uint64_max(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *o = json_pack("{s:f}", "soft", 18446744073709551615.0);
	uint64_t v = 0;
	int r;

	(void)state;
	r = jx_uint(o, "rl", "soft", &v, &err);
	if (r == 1 && v != UINT64_MAX)
		fail_msg("18446744073709551615.0 read as %llu", (unsigned long long)v);
}

/*
 * Regression: two bad booleans in linux.resources.memory: after disableOOMKiller fails, the
 * useHierarchy getter runs with the error already set and err_set() asserts (SIGABRT)
 * instead of returning the first error.
 */
static void test_config_rejects_two_bad_memory_booleans_with_the_first(void **state)
{
	(void)state;
	check_rejected("{'linux': {'resources': {'memory': {'disableOOMKiller': 'yes',"
		       " 'useHierarchy': 'no'}}}}",
		       "linux.resources.memory.disableOOMKiller: expected boolean");
}

/* Regression: gidMappings without a user namespace is reported as uidMappings. */
static void test_config_names_gid_mappings_given_without_user_namespace(void **state)
{
	(void)state;
	check_rejected("{'linux': {'gidMappings': [{'containerID': 0, 'hostID': 1, 'size': 1}]}}",
		       "linux.gidMappings: given without a user namespace");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_minimal_config_parses_with_defaults),
		cmocka_unit_test(test_config_accepts_oci_versions_1_0_2_dev_and_1_3_0),
		cmocka_unit_test(test_config_rejects_oci_version_2_naming_oci_version),
		cmocka_unit_test(test_config_errors_start_with_config_json),
		cmocka_unit_test(test_config_resolves_relative_root_path_against_the_bundle),
		cmocka_unit_test(test_config_rejects_missing_root_or_root_path),
		cmocka_unit_test(
			test_config_rejects_invalid_json_naming_config_json_line_and_column),
		cmocka_unit_test(test_config_rejects_duplicate_keys),
		cmocka_unit_test(test_config_rejects_a_document_that_is_not_an_object),
		cmocka_unit_test(test_config_ignores_unknown_fields),
		cmocka_unit_test(test_config_treats_null_fields_as_absent),
		cmocka_unit_test(test_config_rejects_missing_or_empty_process_args),
		cmocka_unit_test(test_config_rejects_relative_process_cwd),
		cmocka_unit_test(test_config_parses_process_env_terminal_and_labels),
		cmocka_unit_test(test_config_parses_user_ids_additional_gids_and_umask),
		cmocka_unit_test(test_config_rejects_bad_user_fields_with_their_paths),
		cmocka_unit_test(test_config_accepts_oom_score_adj_from_minus_1000_to_1000),
		cmocka_unit_test(test_config_parses_capability_sets_into_bitmasks),
		cmocka_unit_test(test_config_ignores_unknown_capabilities_and_rejects_bad_types),
		cmocka_unit_test(test_config_parses_rlimits),
		cmocka_unit_test(test_config_rejects_rlimit_soft_above_hard),
		cmocka_unit_test(test_config_rejects_bad_rlimits_with_their_paths),
		cmocka_unit_test(test_config_mount_ro_sets_rdonly_and_rw_clears_it),
		cmocka_unit_test(test_config_mount_rbind_makes_a_recursive_bind_mount),
		cmocka_unit_test(test_config_mount_propagation_options_set_propagation_only),
		cmocka_unit_test(test_config_mount_rro_sets_recursive_readonly_attribute),
		cmocka_unit_test(test_config_mount_joins_unknown_options_into_data_in_order),
		cmocka_unit_test(test_config_idmap_mount_takes_its_own_mappings),
		cmocka_unit_test(test_config_rejects_idmap_on_other_than_bind_mounts),
		cmocka_unit_test(test_config_bind_mount_by_type_bind),
		cmocka_unit_test(test_config_bind_mount_by_option_with_type_none_or_no_type),
		cmocka_unit_test(test_config_takes_relative_mount_paths_from_root_and_bundle),
		cmocka_unit_test(test_config_rejects_bad_mounts_with_their_paths),
		cmocka_unit_test(test_config_parses_hooks_with_args_env_and_timeout),
		cmocka_unit_test(test_config_rejects_relative_hook_path),
		cmocka_unit_test(test_config_rejects_bad_hooks_with_their_paths),
		cmocka_unit_test(test_config_parses_namespaces_with_paths),
		cmocka_unit_test(test_config_rejects_unknown_namespace_type),
		cmocka_unit_test(test_config_rejects_duplicate_namespace),
		cmocka_unit_test(test_config_rejects_hostname_without_a_new_uts_namespace),
		cmocka_unit_test(test_config_parses_id_maps),
		cmocka_unit_test(test_config_rejects_uid_mappings_without_user_namespace),
		cmocka_unit_test(test_config_rejects_user_namespace_without_mappings),
		cmocka_unit_test(test_config_joined_user_namespace_needs_no_mappings),
		cmocka_unit_test(test_config_rejects_bad_id_maps_with_their_paths),
		cmocka_unit_test(test_config_parses_linux_devices),
		cmocka_unit_test(test_config_rejects_bad_linux_device_type_with_its_index),
		cmocka_unit_test(test_config_parses_resources_and_leaves_unset_fields_unset),
		cmocka_unit_test(test_config_rejects_string_memory_limit_with_its_path),
		cmocka_unit_test(test_config_rejects_bad_resource_fields_with_their_paths),
		cmocka_unit_test(test_config_device_rules_default_to_all_types_and_rwm_access),
		cmocka_unit_test(test_config_rejects_device_rule_access_with_bad_letters),
		cmocka_unit_test(test_config_rejects_hugepage_limit_without_page_size),
		cmocka_unit_test(test_config_parses_sysctl_pairs_in_order),
		cmocka_unit_test(test_config_rejects_sysctl_value_that_is_not_a_string),
		cmocka_unit_test(test_config_parses_masked_and_readonly_paths),
		cmocka_unit_test(test_config_parses_propagation_time_offsets_and_personality),
		cmocka_unit_test(test_config_rejects_time_offsets_without_time_namespace),
		cmocka_unit_test(test_config_rejects_other_bad_linux_fields_with_their_paths),
		cmocka_unit_test(test_config_rejects_intel_rdt),
		cmocka_unit_test(test_config_late_failures_free_everything_parsed_before),
		cmocka_unit_test(test_jx_uint_accepts_values_above_int64_max),
		cmocka_unit_test(test_jx_uint_rejects_negatives_and_fractions),
		cmocka_unit_test(test_jx_strv_names_the_index_of_a_non_string_element),
		cmocka_unit_test(test_config_accepts_rlimit_of_uint64_max),
		cmocka_unit_test(test_jx_uint_reads_the_real_uint64_max_as_uint64_max),
		cmocka_unit_test(test_config_names_gid_mappings_given_without_user_namespace),
		cmocka_unit_test(test_config_rejects_two_bad_memory_booleans_with_the_first),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
