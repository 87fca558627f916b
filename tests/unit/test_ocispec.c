/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the pod → OCI config translation (cluster/agent/ocispec.c): argv and $(VAR)
 * expansion, environment order and every valueFrom source with upstream's error messages,
 * users resolved in an image's /etc/passwd, security context, resources, QoS, the pod cgroup;
 * and, as root with a v1 memory controller, pod-level cgroups (runtime/cgroup_pod.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/agent/ocispec.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

static char rootfs[64];

/* JSON text with ' for " (and \u0027 for a real single quote). */
static json_t *J(const char *text)
{
	cleanup_free char *s = xstrdup(text);
	json_error_t jerr;
	json_t *j;

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(s, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("bad test JSON '%s': %s", s, jerr.text);
	return j;
}

static void assert_json(const json_t *got, const char *want_text)
{
	cleanup_json json_t *want = J(want_text);

	if (!json_equal((json_t *)got, want)) {
		cleanup_free char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
		cleanup_free char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT);

		fail_msg("got  %s\nwant %s", g ? g : "(null)", w);
	}
}

static const json_t *at(const json_t *j, const char *path)
{
	cleanup_free char *p = xstrdup(path);
	char *save = NULL;

	for (char *k = strtok_r(p, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = json_object_get(j, k);
	return j;
}

/* ConfigMaps and Secrets for the lookup callback. */
static const char db_text[] =
	"{'configmaps': {'cm1': {'b': '2', 'a': '1', 'bad key': 'x'}, 'empty': {}},"
	" 'secrets': {'s1': {'TOKEN': 't0k', 'SHARED': 'secret'}}}";

static int lookup(void *arg, const char *kind, const char *ns, const char *name,
		  const json_t **ret_data, struct err *err)
{
	const json_t *obj = json_object_get(json_object_get(arg, kind), name);

	assert_string_equal(ns, "ns");
	if (!obj)
		return err_set(err, ENOENT, "%s '%s' not found in test db", kind, name);
	*ret_data = obj;
	return 0;
}

struct fixture {
	json_t *pod, *image, *db;
	struct ocispec_in in;
};

/* Takes @pod. */
static void fixture_init_json(struct fixture *f, json_t *pod, const char *image)
{
	memset(f, 0, sizeof(*f));
	f->pod = pod;
	f->image = image ? J(image) : NULL;
	f->db = J(db_text);
	f->in.pod = f->pod;
	f->in.container = json_array_get(at(f->pod, "spec.containers"), 0);
	f->in.image_config = f->image;
	f->in.rootfs = rootfs;
	f->in.lookup = lookup;
	f->in.lookup_arg = f->db;
}

static void fixture_init(struct fixture *f, const char *pod, const char *image)
{
	fixture_init_json(f, J(pod), image);
}

static void fixture_done(struct fixture *f)
{
	json_decref(f->pod);
	json_decref(f->image);
	json_decref(f->db);
}

static json_t *build_ok(const struct ocispec_in *in)
{
	cleanup_err struct err err = ERR_INIT;
	json_t *cfg = NULL;

	if (ocispec_build(in, &cfg, &err) < 0)
		fail_msg("ocispec_build: %s", err.msg);
	return cfg;
}

static void build_fails(const struct ocispec_in *in, int code, const char *msg)
{
	cleanup_err struct err err = ERR_INIT;
	json_t *cfg = NULL;

	assert_int_equal(ocispec_build(in, &cfg, &err), -code);
	assert_null(cfg);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, msg);
}

/* A pod with one container given as JSON (single quotes). */
static json_t *pod_with(const char *container)
{
	cleanup_free char *text =
		xasprintf("{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'}, "
			  "'spec': {'containers': [%s]}}",
			  container);

	return J(text);
}

/* Builds the config of @container (JSON) in a minimal pod with @image (may be NULL). */
static json_t *build_container(const char *container, const char *image)
{
	struct fixture f;
	json_t *cfg;

	fixture_init_json(&f, pod_with(container), image);
	cfg = build_ok(&f.in);
	fixture_done(&f);
	return cfg;
}

static void container_fails(const char *container, const char *image, int code, const char *msg)
{
	struct fixture f;

	fixture_init_json(&f, pod_with(container), image);
	build_fails(&f.in, code, msg);
	fixture_done(&f);
}

/* ---- argv ---- */

static void test_ocispec_command_and_args_replace_entrypoint_and_cmd(void **state)
{
	static const char image[] = "{'Entrypoint': ['/ep'], 'Cmd': ['c1', 'c2']}";
	static const struct {
		const char *container, *args;
	} cases[] = {
		{"{'name': 'c'}", "['/ep', 'c1', 'c2']"},
		{"{'name': 'c', 'args': ['a']}", "['/ep', 'a']"},
		{"{'name': 'c', 'command': ['/bin/x']}", "['/bin/x']"},
		{"{'name': 'c', 'command': ['/bin/x'], 'args': ['a', 'b']}",
		 "['/bin/x', 'a', 'b']"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_json json_t *cfg = build_container(cases[i].container, image);

		assert_json(at(cfg, "process.args"), cases[i].args);
	}
}

static void test_ocispec_empty_entrypoint_means_none_and_no_command_fails(void **state)
{
	cleanup_json json_t *cfg =
		build_container("{'name': 'c'}", "{'Entrypoint': [''], 'Cmd': ['sh']}");

	(void)state;
	assert_json(at(cfg, "process.args"), "['sh']");
	container_fails("{'name': 'c'}", NULL, EINVAL, "container 'c': no command specified");
}

/* third_party/forked/golang/expansion's cases, through command and args */
static void test_ocispec_expands_variables_as_upstream(void **state)
{
	static const char *const cases[][2] = {
		{"$(VAR_A)", "A"},
		{"$(VAR_A)-$(VAR_A)", "A-A"},
		{"___$(VAR_B)___", "___B___"},
		{"$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"},
		{"$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
		{"$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"},
		{"f000-$$VAR_A", "f000-$VAR_A"},
		{"foo\\$(VAR_C)bar", "foo\\Cbar"},
		{"$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"},
		{"$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"},
		{"$(VAR_REF)", "$(VAR_A)"},
		{"%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"},
		{"foo$(VAR_EMPTY)bar", "foobar"},
		{"foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"},
		{"f00__(VAR_A)__", "f00__(VAR_A)__"},
		{"$?_boo_$!", "$?_boo_$!"},
		{"$VAR_A", "$VAR_A"},
		{"$(VAR_DNE)", "$(VAR_DNE)"},
		{"$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
		{"$$$$$$(VAR_A)", "$$$(VAR_A)"},
		{"$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"},
		{"$$$$$$$(VAR_A)", "$$$A"},
		{"$VAR_A)", "$VAR_A)"},
		{"${VAR_A}", "${VAR_A}"},
		{"$(VAR_B)_______$(A", "B_______$(A"},
		{"$(VAR_C)_______$(", "C_______$("},
		{"$(VAR_A)foobarzab$", "Afoobarzab$"},
		{"--$($($($($--", "--$($($($($--"},
		{"$($($($($--foo$(", "$($($($($--foo$("},
		{"$(foo$$var)", "$(foo$$var)"},
		{"\n", "\n"},
	};
	cleanup_json json_t *c =
		J("{'name': 'c', 'env': ["
		  "{'name': 'VAR_A', 'value': 'A'}, {'name': 'VAR_B', 'value': 'B'},"
		  "{'name': 'VAR_C', 'value': 'C'},"
		  "{'name': 'VAR_REF', 'value': '$$(VAR_A)'},"
		  "{'name': 'VAR_EMPTY', 'value': ''},"
		  "{'name': 'X', 'value': '$(VAR_A)-x-$(LATER)'},"
		  "{'name': 'LATER', 'value': 'l'}]}");
	json_t *cmd = json_array(), *args = json_array();
	cleanup_json json_t *cfg = NULL;
	cleanup_free char *text = NULL;
	const json_t *argv, *env;
	size_t n = sizeof(cases) / sizeof(cases[0]);

	(void)state;
	json_array_append_new(cmd, json_string(cases[0][0]));
	for (size_t i = 1; i < n; i++)
		json_array_append_new(args, json_string(cases[i][0]));
	json_object_set_new(c, "command", cmd);
	json_object_set_new(c, "args", args);
	text = json_dumps(c, 0);
	for (char *p = text; *p; p++)
		if (*p == '"')
			*p = '\'';
	cfg = build_container(text, NULL);
	argv = at(cfg, "process.args");
	assert_int_equal(json_array_size(argv), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(argv, i)), cases[i][1]);
	env = at(cfg, "process.env");
	/* an env value sees only the variables declared before it */
	assert_string_equal(json_string_value(json_array_get(env, 7)), "X=A-x-$(LATER)");
}

/* ---- environment ---- */

static const char env_pod[] =
	"{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1',"
	"  'labels': {'tier': 'fe', 'app': 'web'}, 'annotations': {'a1': 'x\\'y'}},"
	" 'spec': {'nodeName': 'n1', 'serviceAccountName': 'sa', 'containers': [{"
	"  'name': 'c', 'command': ['run'],"
	"  'resources': {'requests': {'cpu': '250m', 'memory': '32Mi'},"
	"                'limits': {'memory': '64Mi'}},"
	"  'envFrom': [{'configMapRef': {'name': 'cm1'}, 'prefix': 'CM_'},"
	"              {'secretRef': {'name': 's1'}},"
	"              {'configMapRef': {'name': 'gone', 'optional': true}}],"
	"  'env': ["
	"   {'name': 'NAME', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.name'}}},"
	"   {'name': 'NS', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.namespace'}}},"
	"   {'name': 'UID', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.uid'}}},"
	"   {'name': 'APP', 'valueFrom': {'fieldRef': {'apiVersion': 'v1',"
	"     'fieldPath': 'metadata.labels[\\u0027app\\u0027]'}}},"
	"   {'name': 'ANN', 'valueFrom': {'fieldRef':"
	"     {'fieldPath': 'metadata.annotations[\\u0027a1\\u0027]'}}},"
	"   {'name': 'LABELS', 'valueFrom': {'fieldRef': {'fieldPath': 'metadata.labels'}}},"
	"   {'name': 'NODE', 'valueFrom': {'fieldRef': {'fieldPath': 'spec.nodeName'}}},"
	"   {'name': 'SA', 'valueFrom': {'fieldRef': {'fieldPath': 'spec.serviceAccountName'}}},"
	"   {'name': 'HOSTIP', 'valueFrom': {'fieldRef': {'fieldPath': 'status.hostIP'}}},"
	"   {'name': 'HOSTIPS', 'valueFrom': {'fieldRef': {'fieldPath': 'status.hostIPs'}}},"
	"   {'name': 'PODIP', 'valueFrom': {'fieldRef': {'fieldPath': 'status.podIP'}}},"
	"   {'name': 'PODIPS', 'valueFrom': {'fieldRef': {'fieldPath': 'status.podIPs'}}},"
	"   {'name': 'MEM', 'valueFrom': {'resourceFieldRef':"
	"     {'resource': 'limits.memory', 'divisor': '1Mi'}}},"
	"   {'name': 'CPU_LIM', 'valueFrom': {'resourceFieldRef': {'resource': 'limits.cpu'}}},"
	"   {'name': 'MEM_REQ', 'valueFrom': {'resourceFieldRef':"
	"     {'resource': 'requests.memory', 'divisor': '1M'}}},"
	"   {'name': 'CPU_REQ', 'valueFrom': {'resourceFieldRef':"
	"     {'containerName': 'c', 'resource': 'requests.cpu', 'divisor': '1m'}}},"
	"   {'name': 'CM', 'valueFrom': {'configMapKeyRef': {'name': 'cm1', 'key': 'a'}}},"
	"   {'name': 'SEC', 'valueFrom': {'secretKeyRef': {'name': 's1', 'key': 'TOKEN'}}},"
	"   {'name': 'OPT', 'valueFrom': {'configMapKeyRef':"
	"     {'name': 'cm1', 'key': 'nokey', 'optional': true}}},"
	"   {'name': 'OPT2', 'valueFrom': {'secretKeyRef':"
	"     {'name': 'gone', 'key': 'k', 'optional': true}}},"
	"   {'name': 'SHARED', 'value': '$(TOKEN)-x'},"
	"   {'name': 'EMPTY', 'value': ''}]}]}}";

static void test_ocispec_env_order_and_value_sources(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *alloc = J("{'cpu': '4', 'memory': '8Gi'}");

	(void)state;
	fixture_init(&f, env_pod, "{'Env': ['PATH=/img/bin', 'IMG=1', 'SHARED=image']}");
	f.in.pod_ip = "10.42.0.5";
	f.in.host_ip = "192.168.1.2";
	f.in.allocatable = alloc;
	cfg = build_ok(&f.in);
	assert_json(at(cfg, "process.env"),
		    "['PATH=/img/bin', 'HOSTNAME=p', 'IMG=1', 'SHARED=t0k-x', 'CM_a=1', 'CM_b=2',"
		    " 'TOKEN=t0k', 'NAME=p', 'NS=ns', 'UID=u1', 'APP=web', 'ANN=x\\'y',"
		    " 'LABELS=app=\\'web\\'\\ntier=\\'fe\\'', 'NODE=n1', 'SA=sa',"
		    " 'HOSTIP=192.168.1.2', 'HOSTIPS=192.168.1.2', 'PODIP=10.42.0.5',"
		    " 'PODIPS=10.42.0.5', 'MEM=64', 'CPU_LIM=4', 'MEM_REQ=34', 'CPU_REQ=250',"
		    " 'CM=1', 'SEC=t0k', 'EMPTY=']");
	fixture_done(&f);
}

static void test_ocispec_missing_sources_fail_with_upstream_messages(void **state)
{
	static const struct {
		const char *env, *msg;
		int code;
	} cases[] = {
		{"'envFrom': [{'configMapRef': {'name': 'nope'}}]", "configmap \"nope\" not found",
		 ENOENT},
		{"'envFrom': [{'secretRef': {'name': 'nope'}}]", "secret \"nope\" not found",
		 ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'configMapKeyRef': {'name': 'cm1', 'key': "
		 "'zz'}}}]",
		 "couldn't find key zz in ConfigMap ns/cm1", ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'configMapKeyRef': {'name': 'nope', 'key': "
		 "'zz'}}}]",
		 "configmap \"nope\" not found", ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 's1', 'key': "
		 "'zz'}}}]",
		 "couldn't find key zz in Secret ns/s1", ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'secretKeyRef': {'name': 'nope', 'key': "
		 "'k'}}}]",
		 "secret \"nope\" not found", ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'configMapKeyRef': {'name': 'empty', 'key': "
		 "'k'}}}]",
		 "couldn't find key k in ConfigMap ns/empty", ENOENT},
		{"'env': [{'name': 'X', 'valueFrom': {'fieldRef': {'fieldPath': 'spec.foo'}}}]",
		 "field label not supported: spec.foo", EINVAL},
		{"'env': [{'name': 'X', 'valueFrom': {'fieldRef': {'fieldPath': "
		 "'metadata.name[\\u0027x\\u0027]'}}}]",
		 "field label does not support subscript: metadata.name['x']", EINVAL},
		{"'env': [{'name': 'X', 'valueFrom': {'resourceFieldRef': {'resource': "
		 "'limits.gpu'}}}]",
		 "unsupported container resource : limits.gpu", EINVAL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *c =
			xasprintf("{'name': 'c', 'command': ['x'], %s}", cases[i].env);

		container_fails(c, NULL, cases[i].code, cases[i].msg);
	}
}

/* ---- users ---- */

static void assert_user(const json_t *cfg, unsigned uid, unsigned gid, const char *gids)
{
	assert_int_equal(json_integer_value(at(cfg, "process.user.uid")), uid);
	assert_int_equal(json_integer_value(at(cfg, "process.user.gid")), gid);
	assert_json(at(cfg, "process.user.additionalGids"), gids);
}

static void test_ocispec_user_resolved_in_image_passwd_and_group(void **state)
{
	static const struct {
		const char *image_user, *sc;
		unsigned uid, gid;
		const char *gids;
	} cases[] = {
		{"", "", 0, 0, "[0]"},
		{"app", "", 1000, 1000, "[1000, 50]"},
		{"app:video", "", 1000, 44, "[44, 50]"},
		{"1001", "", 1001, 1002, "[1002, 50, 44]"},
		{"4242:7", "", 4242, 7, "[7]"},
		{"app", ", 'securityContext': {'runAsUser': 2000, 'runAsGroup': 3000}", 2000, 3000,
		 "[3000]"},
		{"", ", 'securityContext': {'runAsUser': 1001}", 1001, 1002, "[1002, 50, 44]"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *c = xasprintf("{'name': 'c', 'command': ['x']%s}", cases[i].sc);
		cleanup_free char *img = xasprintf("{'User': '%s'}", cases[i].image_user);
		cleanup_json json_t *cfg = build_container(c, img);

		assert_user(cfg, cases[i].uid, cases[i].gid, cases[i].gids);
	}
}

static void test_ocispec_pod_groups_and_strict_policy(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *strict = NULL;

	(void)state;
	fixture_init(
		&f,
		"{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		" 'spec': {'securityContext': {'runAsUser': 1000, 'supplementalGroups': [5, 6],"
		"  'fsGroup': 7}, 'containers': [{'name': 'c', 'command': ['x'],"
		"  'securityContext': {'runAsGroup': 9}}]}}",
		NULL);
	cfg = build_ok(&f.in);
	assert_user(cfg, 1000, 9, "[9, 50, 5, 6, 7]");
	json_object_set_new((json_t *)at(f.pod, "spec.securityContext"), "supplementalGroupsPolicy",
			    json_string("Strict"));
	strict = build_ok(&f.in);
	assert_user(strict, 1000, 9, "[9, 5, 6, 7]");
	fixture_done(&f);
}

static void test_ocispec_unknown_image_user_or_group_fails(void **state)
{
	(void)state;
	container_fails("{'name': 'c', 'command': ['x']}", "{'User': 'nobody'}", ENOENT,
			"unable to find user nobody: no matching entries in passwd file");
	container_fails("{'name': 'c', 'command': ['x']}", "{'User': 'app:nogroup'}", ENOENT,
			"unable to find group nogroup: no matching entries in group file");
}

static void test_ocispec_run_as_non_root_refuses_root(void **state)
{
	static const char nr[] = "{'name': 'c', 'command': ['x'], 'securityContext': "
				 "{'runAsNonRoot': true%s}}";
	cleanup_free char *plain = xasprintf(nr, "");
	cleanup_free char *uid0 = xasprintf(nr, ", 'runAsUser': 0");
	cleanup_json json_t *cfg = NULL;

	(void)state;
	container_fails(plain, NULL, EPERM,
			"container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", "
			"container: c)");
	container_fails(plain, "{'User': 'root'}", EPERM,
			"container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", "
			"container: c)");
	container_fails(plain, "{'User': '0:50'}", EPERM,
			"container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", "
			"container: c)");
	container_fails(uid0, "{'User': 'app'}", EPERM,
			"container's runAsUser breaks non-root policy (pod: \"p_ns(u1)\", "
			"container: c)");
	container_fails(plain, "{'User': 'ghost'}", EPERM,
			"container has runAsNonRoot and image has non-numeric user (ghost), cannot "
			"verify user is non-root (pod: \"p_ns(u1)\", container: c)");
	cfg = build_container(plain, "{'User': 'app'}");
	assert_int_equal(json_integer_value(at(cfg, "process.user.uid")), 1000);
}

/* ---- security context ---- */

static bool has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		if (!strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

static size_t all_caps_count(void)
{
	cleanup_json json_t *f = rt_features();

	return json_array_size(at(f, "linux.capabilities"));
}

static void test_ocispec_capabilities_add_drop_and_all(void **state)
{
	cleanup_json json_t *dflt = build_container("{'name': 'c', 'command': ['x']}", NULL);
	cleanup_json json_t *some = build_container(
		"{'name': 'c', 'command': ['x'], 'securityContext': {'capabilities': "
		"{'add': ['SYS_ADMIN', 'CAP_NET_ADMIN'], 'drop': ['KILL', 'cap_chown']}}}",
		NULL);
	cleanup_json json_t *only = build_container(
		"{'name': 'c', 'command': ['x'], 'securityContext': {'capabilities': "
		"{'add': ['NET_BIND_SERVICE'], 'drop': ['ALL']}}}",
		NULL);
	cleanup_json json_t *all = build_container(
		"{'name': 'c', 'command': ['x'], 'securityContext': {'capabilities': "
		"{'add': ['ALL'], 'drop': ['NET_RAW']}}}",
		NULL);
	const json_t *b = at(dflt, "process.capabilities.bounding");

	(void)state;
	assert_int_equal(json_array_size(b), 14);
	assert_true(has_string(b, "CAP_AUDIT_WRITE") && has_string(b, "CAP_NET_RAW"));
	assert_true(json_equal((json_t *)b, (json_t *)at(dflt, "process.capabilities.effective")));
	b = at(some, "process.capabilities.permitted");
	assert_int_equal(json_array_size(b), 14);
	assert_true(has_string(b, "CAP_SYS_ADMIN") && has_string(b, "CAP_NET_ADMIN"));
	assert_false(has_string(b, "CAP_KILL") || has_string(b, "CAP_CHOWN"));
	assert_json(at(only, "process.capabilities.bounding"), "['CAP_NET_BIND_SERVICE']");
	b = at(all, "process.capabilities.bounding");
	assert_int_equal(json_array_size(b), all_caps_count() - 1);
	assert_false(has_string(b, "CAP_NET_RAW"));
	container_fails("{'name': 'c', 'command': ['x'], 'securityContext': {'capabilities': "
			"{'add': ['BOGUS']}}}",
			NULL, EINVAL,
			"container 'c': securityContext.capabilities.add[0]: unknown capability "
			"'BOGUS'");
}

static const json_t *mount_at(const json_t *cfg, const char *dest)
{
	size_t i;
	json_t *m;

	json_array_foreach (json_object_get(cfg, "mounts"), i, m) {
		if (!strcmp(json_string_value(json_object_get(m, "destination")), dest))
			return m;
	}
	return NULL;
}

static void test_ocispec_privileged_gets_everything(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL;
	const json_t *devs, *d;
	size_t i;
	bool null_found = false;

	(void)state;
	fixture_init(&f,
		     "{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		     " 'spec': {'securityContext': {'seccompProfile': {'type': 'RuntimeDefault'}},"
		     "  'containers': [{'name': 'c', 'command': ['x'],"
		     "  'securityContext': {'privileged': true}}]}}",
		     NULL);
	f.in.host_dev_dir = "/dev";
	cfg = build_ok(&f.in);
	assert_int_equal(json_array_size(at(cfg, "process.capabilities.bounding")),
			 all_caps_count());
	assert_null(at(cfg, "linux.seccomp"));
	assert_null(at(cfg, "linux.maskedPaths"));
	assert_null(at(cfg, "linux.readonlyPaths"));
	assert_false(json_is_true(at(cfg, "process.noNewPrivileges")));
	assert_json(at(cfg, "linux.resources.devices"), "[{'allow': true, 'access': 'rwm'}]");
	assert_true(has_string(json_object_get(mount_at(cfg, "/sys"), "options"), "rw"));
	assert_false(has_string(json_object_get(mount_at(cfg, "/sys"), "options"), "ro"));
	devs = at(cfg, "linux.devices");
	json_array_foreach (devs, i, d) {
		if (!strcmp(json_string_value(json_object_get(d, "path")), "/dev/null")) {
			null_found = true;
			assert_int_equal(json_integer_value(json_object_get(d, "major")), 1);
			assert_int_equal(json_integer_value(json_object_get(d, "minor")), 3);
		}
	}
	assert_true(null_found);
	fixture_done(&f);
}

static void test_ocispec_read_only_root_and_no_new_privileges(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *dflt = NULL;

	(void)state;
	dflt = build_container("{'name': 'c', 'command': ['x']}", NULL);
	assert_false(json_is_true(at(dflt, "root.readonly")));
	assert_false(json_is_true(at(dflt, "process.noNewPrivileges")));
	assert_string_equal(json_string_value(at(dflt, "root.path")), rootfs);
	assert_non_null(at(dflt, "linux.maskedPaths"));
	assert_true(has_string(json_object_get(mount_at(dflt, "/sys"), "options"), "ro"));
	fixture_init(&f,
		     "{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		     " 'spec': {'containers': [{'name': 'c', 'command': ['x'],"
		     "  'securityContext': {'readOnlyRootFilesystem': true,"
		     "   'allowPrivilegeEscalation': false}}]}}",
		     NULL);
	f.in.resolv_conf_path = "/run/p/resolv.conf";
	f.in.hosts_path = "/run/p/hosts";
	cfg = build_ok(&f.in);
	assert_true(json_is_true(at(cfg, "root.readonly")));
	assert_true(json_is_true(at(cfg, "process.noNewPrivileges")));
	assert_json(mount_at(cfg, "/etc/resolv.conf"),
		    "{'destination': '/etc/resolv.conf', 'type': 'bind', 'source': "
		    "'/run/p/resolv.conf', 'options': ['rbind', 'rprivate', 'ro']}");
	assert_json(mount_at(cfg, "/etc/hosts"),
		    "{'destination': '/etc/hosts', 'type': 'bind', 'source': '/run/p/hosts',"
		    " 'options': ['rbind', 'rprivate', 'rw']}");
	fixture_done(&f);
}

static void test_ocispec_seccomp_runtime_default_and_unconfined(void **state)
{
	cleanup_json json_t *none = build_container("{'name': 'c', 'command': ['x']}", NULL);
	cleanup_json json_t *rd =
		build_container("{'name': 'c', 'command': ['x'], 'securityContext': "
				"{'seccompProfile': {'type': 'RuntimeDefault'}}}",
				NULL);
	cleanup_json json_t *unc =
		build_container("{'name': 'c', 'command': ['x'], 'securityContext': "
				"{'seccompProfile': {'type': 'Unconfined'}}}",
				NULL);

	(void)state;
	assert_null(at(none, "linux.seccomp"));
	assert_string_equal(json_string_value(at(rd, "linux.seccomp.defaultAction")),
			    "SCMP_ACT_ERRNO");
	assert_true(json_array_size(at(rd, "linux.seccomp.syscalls")) > 0);
	assert_null(at(unc, "linux.seccomp"));
	container_fails("{'name': 'c', 'command': ['x'], 'securityContext': "
			"{'seccompProfile': {'type': 'Localhost', 'localhostProfile': 'x.json'}}}",
			NULL, EOPNOTSUPP,
			"container 'c': seccompProfile type 'Localhost' is not supported (use "
			"RuntimeDefault or Unconfined)");
}

/* ---- resources ---- */

static void test_ocispec_resources_become_shares_quota_and_limit(void **state)
{
	static const struct {
		const char *resources, *want;
		int oom;
	} cases[] = {
		{"{}", "{'shares': 2}", 1000},
		{"{'requests': {'cpu': '250m', 'memory': '64Mi'}, 'limits': {'cpu': '500m', "
		 "'memory': '128Mi'}}",
		 "{'shares': 256, 'quota': 50000, 'period': 100000}", 938},
		{"{'requests': {'cpu': '1', 'memory': '1Gi'}, 'limits': {'cpu': '1', 'memory': "
		 "'1Gi'}}",
		 "{'shares': 1024, 'quota': 100000, 'period': 100000}", -997},
		{"{'limits': {'cpu': '200m'}}", "{'shares': 204, 'quota': 20000, 'period': 100000}",
		 999},
		{"{'requests': {'cpu': '1m'}, 'limits': {'cpu': '1m'}}",
		 "{'shares': 2, 'quota': 1000, 'period': 100000}", 999},
		{"{'requests': {'memory': '2Gi'}}", "{'shares': 2}", 3},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture f;
		cleanup_json json_t *cfg = NULL;
		cleanup_free char *c = xasprintf("{'name': 'c', 'command': ['x'], 'resources': %s}",
						 cases[i].resources);

		fixture_init_json(&f, pod_with(c), NULL);
		f.in.memory_capacity = 1073741824;
		cfg = build_ok(&f.in);
		assert_json(at(cfg, "linux.resources.cpu"), cases[i].want);
		assert_int_equal(json_integer_value(at(cfg, "process.oomScoreAdj")), cases[i].oom);
		fixture_done(&f);
	}
	{
		cleanup_json json_t *cfg = build_container(
			"{'name': 'c', 'command': ['x'], 'resources': {'limits': {'memory': "
			"'128Mi', 'hugepages-2Mi': '4Mi'}}}",
			NULL);

		assert_json(at(cfg, "linux.resources.memory"), "{'limit': 134217728}");
		assert_json(at(cfg, "linux.resources.hugepageLimits"),
			    "[{'pageSize': '2MB', 'limit': 4194304}]");
		/* the default spec's device rules stay */
		assert_json(at(cfg, "linux.resources.devices"),
			    "[{'allow': false, 'access': 'rwm'}]");
	}
	container_fails("{'name': 'c', 'command': ['x'], 'resources': {'limits': {'cpu': "
			"'lots'}}}",
			NULL, EINVAL,
			"container 'c': resources.limits.cpu: invalid quantity 'lots': quantities "
			"must match the regular expression "
			"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

/* ---- QoS and the pod cgroup ---- */

static json_t *qos_pod(const char *containers, const char *init)
{
	cleanup_free char *text =
		xasprintf("{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
			  " 'spec': {'containers': [%s], 'initContainers': [%s]}}",
			  containers, init ? init : "");

	return J(text);
}

/* newContainer(name, requests(cpu, mem), limits(cpu, mem)) of upstream's qos_test.go */
static char *qc(const char *rc, const char *rm, const char *lc, const char *lm)
{
	struct {
		const char *k, *v;
	} r[] = {{"cpu", rc}, {"memory", rm}}, l[] = {{"cpu", lc}, {"memory", lm}};
	cleanup_json json_t *req = json_object(), *lim = json_object();
	json_t *c;
	char *s;

	for (size_t i = 0; i < 2; i++) {
		if (*r[i].v)
			json_object_set_new(req, r[i].k, json_string(r[i].v));
		if (*l[i].v)
			json_object_set_new(lim, l[i].k, json_string(l[i].v));
	}
	c = json_pack("{s:s, s:{s:O, s:O}}", "name", "c", "resources", "requests", req, "limits",
		      lim);
	s = json_dumps(c, JSON_COMPACT);
	json_decref(c);
	for (char *p = s; *p; p++)
		if (*p == '"')
			*p = '\'';
	return s;
}

static void test_ocispec_qos_class_matches_upstream_examples(void **state)
{
	static const struct {
		const char *c[2][4];
		const char *init[4];
		const char *want;
	} cases[] = {
		{{{"100m", "100Mi", "100m", "100Mi"}}, {NULL}, "Guaranteed"},
		{{{"100m", "100Mi", "100m", "100Mi"}, {"100m", "100Mi", "100m", "100Mi"}},
		 {NULL},
		 "Guaranteed"},
		{{{"", "", "", ""}, {"", "", "", ""}}, {NULL}, "BestEffort"},
		{{{"", "", "", ""}}, {NULL}, "BestEffort"},
		{{{"", "", "", ""}, {"1", "", "2", ""}}, {NULL}, "Burstable"},
		{{{"", "", "", ""}, {"10m", "100Mi", "10m", "100Mi"}}, {NULL}, "Burstable"},
		{{{"", "100Mi", "", "100Mi"}}, {NULL}, "Burstable"},
		{{{"100m", "100Mi", "", ""}}, {NULL}, "Burstable"},
		{{{"1", "100Mi", "2", "100Mi"}, {"100m", "100Mi", "100m", "100Mi"}},
		 {NULL},
		 "Burstable"},
		{{{"100m", "100Mi", "200m", "200Mi"}, {"100m", "100Mi", "", ""}},
		 {NULL},
		 "Burstable"},
		{{{"10m", "100Mi", "100m", "200Mi"}}, {NULL}, "Burstable"},
		{{{"0", "0", "100m", "200Mi"}}, {NULL}, "Burstable"},
		{{{"", "", "", ""}}, {"10m", "100Mi", "100m", "200Mi"}, "Burstable"},
		{{{"100m", "100Mi", "100m", "100Mi"}},
		 {"50m", "50Mi", "50m", "50Mi"},
		 "Guaranteed"},
		{{{"100m", "100Mi", "100m", "100Mi"}}, {"50m", "50Mi", "", "50Mi"}, "Burstable"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *c0 =
			qc(cases[i].c[0][0], cases[i].c[0][1], cases[i].c[0][2], cases[i].c[0][3]);
		cleanup_free char *c1 = cases[i].c[1][0] ? qc(cases[i].c[1][0], cases[i].c[1][1],
							      cases[i].c[1][2], cases[i].c[1][3])
							 : NULL;
		cleanup_free char *in = cases[i].init[0] ? qc(cases[i].init[0], cases[i].init[1],
							      cases[i].init[2], cases[i].init[3])
							 : NULL;
		cleanup_free char *list = c1 ? xasprintf("%s, %s", c0, c1) : xstrdup(c0);
		cleanup_json json_t *pod = qos_pod(list, in);

		if (strcmp(ocispec_qos_class(pod), cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, ocispec_qos_class(pod),
				 cases[i].want);
	}
	{
		/* hugepages alone do not make a pod Burstable */
		cleanup_json json_t *pod =
			qos_pod("{'name': 'c', 'resources': {'requests': {'hugepages-2Mi': '1Gi'}, "
				"'limits': {'hugepages-2Mi': '1Gi'}}}",
				NULL);
		cleanup_json json_t *set = qos_pod("{'name': 'c'}", NULL);

		assert_string_equal(ocispec_qos_class(pod), "BestEffort");
		json_object_set_new(set, "status", J("{'qosClass': 'Burstable'}"));
		assert_string_equal(ocispec_qos_class(set), "Burstable");
	}
}

static void pod_resources_are(const char *containers, const char *init, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *pod = qos_pod(containers, init), *res = NULL;

	if (ocispec_pod_resources(pod, &res, &err) < 0)
		fail_msg("ocispec_pod_resources: %s", err.msg);
	assert_json(res, want);
}

static void test_ocispec_pod_resources_sum_containers_and_max_init(void **state)
{
	(void)state;
	pod_resources_are("{'name': 'a', 'resources': {'requests': {'cpu': '100m', 'memory': "
			  "'100Mi'}, 'limits': {'cpu': '100m', 'memory': '100Mi'}}},"
			  "{'name': 'b', 'resources': {'requests': {'cpu': '100m', 'memory': "
			  "'100Mi'}, 'limits': {'cpu': '100m', 'memory': '100Mi'}}}",
			  NULL,
			  "{'cpu': {'shares': 204, 'quota': 20000, 'period': 100000},"
			  " 'memory': {'limit': 209715200}}");
	/* the largest init container wins over the containers' sum */
	pod_resources_are("{'name': 'a', 'resources': {'requests': {'cpu': '100m', 'memory': "
			  "'64Mi'}, 'limits': {'cpu': '200m', 'memory': '128Mi'}}}",
			  "{'name': 'i', 'resources': {'requests': {'cpu': '500m'}, 'limits': "
			  "{'cpu': '1', 'memory': '256Mi'}}}",
			  "{'cpu': {'shares': 512, 'quota': 100000, 'period': 100000},"
			  " 'memory': {'limit': 268435456}}");
	/* Burstable: no memory cap when one container has none */
	pod_resources_are("{'name': 'a', 'resources': {'requests': {'cpu': '100m'}, 'limits': "
			  "{'cpu': '200m', 'memory': '128Mi'}}},"
			  "{'name': 'b', 'resources': {'limits': {'cpu': '300m'}}}",
			  NULL, "{'cpu': {'shares': 102, 'quota': 50000, 'period': 100000}}");
	pod_resources_are("{'name': 'a', 'resources': {'requests': {'cpu': '200m'}}}",
			  "{'name': 's', 'restartPolicy': 'Always', 'resources': {'requests': "
			  "{'cpu': '100m'}}}",
			  "{'cpu': {'shares': 307}}");
	pod_resources_are("{'name': 'a'}", NULL, "{'cpu': {'shares': 2}}");
}

static void test_ocispec_cgroup_parent_by_qos(void **state)
{
	cleanup_json json_t *g = qos_pod("{'name': 'c', 'resources': {'limits': {'cpu': '1', "
					 "'memory': '1Gi'}, 'requests': {'cpu': '1', 'memory': "
					 "'1Gi'}}}",
					 NULL);
	cleanup_json json_t *b =
		qos_pod("{'name': 'c', 'resources': {'requests': {'cpu': '1'}}}", NULL);
	cleanup_json json_t *be = qos_pod("{'name': 'c'}", NULL);
	cleanup_json json_t *nouid = J("{'metadata': {'name': 'p'}, 'spec': {}}");
	cleanup_free char *pg = ocispec_cgroup_parent("/kubepods", g);
	cleanup_free char *pb = ocispec_cgroup_parent("/kubepods/", b);
	cleanup_free char *pbe = ocispec_cgroup_parent("/kubepods", be);

	(void)state;
	assert_string_equal(pg, "/kubepods/podu1");
	assert_string_equal(pb, "/kubepods/burstable/podu1");
	assert_string_equal(pbe, "/kubepods/besteffort/podu1");
	assert_null(ocispec_cgroup_parent("/kubepods", nouid));
}

/* ---- namespaces, mounts, the rest ---- */

static const json_t *ns_of(const json_t *cfg, const char *type)
{
	size_t i;
	json_t *n;

	json_array_foreach (at(cfg, "linux.namespaces"), i, n) {
		if (!strcmp(json_string_value(json_object_get(n, "type")), type))
			return n;
	}
	return NULL;
}

static void test_ocispec_namespaces_join_the_sandbox_unless_host(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *host = NULL;

	(void)state;
	fixture_init(&f,
		     "{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		     " 'spec': {'hostname': 'web-0', 'shareProcessNamespace': true,"
		     "  'containers': [{'name': 'c', 'command': ['x']}]}}",
		     NULL);
	f.in.ns_net = "/pods/u1/ns/net";
	f.in.ns_ipc = "/pods/u1/ns/ipc";
	f.in.ns_uts = "/pods/u1/ns/uts";
	f.in.ns_pid = "/proc/42/ns/pid";
	f.in.cgroups_path = "/kubepods/besteffort/podu1/abc";
	cfg = build_ok(&f.in);
	assert_json(at(cfg, "linux.namespaces"),
		    "[{'type': 'pid', 'path': '/proc/42/ns/pid'},"
		    " {'type': 'network', 'path': '/pods/u1/ns/net'},"
		    " {'type': 'ipc', 'path': '/pods/u1/ns/ipc'},"
		    " {'type': 'uts', 'path': '/pods/u1/ns/uts'}, {'type': 'mount'},"
		    " {'type': 'cgroup'}]");
	/* the sandbox's UTS namespace carries the name: the runtime must not set it again */
	assert_null(at(cfg, "hostname"));
	assert_true(has_string(at(cfg, "process.env"), "HOSTNAME=web-0"));
	assert_string_equal(json_string_value(at(cfg, "linux.cgroupsPath")),
			    "/kubepods/besteffort/podu1/abc");
	json_object_set_new((json_t *)at(f.pod, "spec"), "hostNetwork", json_true());
	json_object_set_new((json_t *)at(f.pod, "spec"), "hostPID", json_true());
	f.in.hostname = "node1";
	host = build_ok(&f.in);
	assert_null(ns_of(host, "network"));
	assert_null(ns_of(host, "uts"));
	assert_null(ns_of(host, "pid"));
	assert_non_null(ns_of(host, "ipc"));
	assert_null(at(host, "hostname"));
	assert_true(has_string(at(host, "process.env"), "HOSTNAME=node1"));
	fixture_done(&f);
}

static void test_ocispec_mounts_defaults_files_and_volumes_in_order(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *vols = NULL, *dests = json_array();
	size_t i;
	json_t *m;

	(void)state;
	fixture_init(&f,
		     "{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		     " 'spec': {'containers': [{'name': 'c', 'command': ['x'],"
		     "  'terminationMessagePath': '/tmp/term'}]}}",
		     NULL);
	vols = J("[{'destination': '/data/sub', 'type': 'bind', 'source': '/v/sub',"
		 "  'options': ['rbind']},"
		 " {'destination': '/data', 'type': 'bind', 'source': '/v/data', 'options': "
		 "['rbind']},"
		 " {'destination': '/etc/hosts', 'type': 'bind', 'source': '/v/hosts', 'options': "
		 "['rbind']}]");
	f.in.volume_mounts = vols;
	f.in.hosts_path = "/run/p/hosts";
	f.in.resolv_conf_path = "/run/p/resolv.conf";
	f.in.termination_log_path = "/run/p/c/term";
	f.in.shm_path = "/run/p/shm";
	cfg = build_ok(&f.in);
	json_array_foreach (json_object_get(cfg, "mounts"), i, m)
		json_array_append(dests, json_object_get(m, "destination"));
	assert_json(dests, "['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys',"
			   " '/sys/fs/cgroup', '/data', '/etc/resolv.conf', '/tmp/term',"
			   " '/data/sub', '/etc/hosts']");
	assert_json(mount_at(cfg, "/dev/shm"),
		    "{'destination': '/dev/shm', 'type': 'bind', 'source': '/run/p/shm',"
		    " 'options': ['rbind', 'nosuid', 'nodev', 'noexec']}");
	assert_string_equal(
		json_string_value(json_object_get(mount_at(cfg, "/etc/hosts"), "source")),
		"/v/hosts");
	assert_string_equal(
		json_string_value(json_object_get(mount_at(cfg, "/tmp/term"), "source")),
		"/run/p/c/term");
	fixture_done(&f);
}

static void test_ocispec_process_basics_and_annotations(void **state)
{
	struct fixture f;
	cleanup_json json_t *cfg = NULL, *img = NULL;

	(void)state;
	fixture_init(&f,
		     "{'metadata': {'name': 'p', 'namespace': 'ns', 'uid': 'u1'},"
		     " 'spec': {'securityContext': {'sysctls': [{'name': 'net/ipv4/ip_forward',"
		     "  'value': '1'}, {'name': 'kernel.shm_rmid_forced', 'value': '0'}]},"
		     "  'containers': [{'name': 'c', 'command': ['x'], 'tty': true,"
		     "  'workingDir': '/srv'}]}}",
		     "{'WorkingDir': '/img'}");
	cfg = build_ok(&f.in);
	assert_true(json_is_true(at(cfg, "process.terminal")));
	assert_string_equal(json_string_value(at(cfg, "process.cwd")), "/srv");
	assert_null(at(cfg, "process.rlimits"));
	assert_json(at(cfg, "annotations"),
		    "{'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'ns',"
		    " 'io.kubernetes.pod.uid': 'u1', 'io.kubernetes.container.name': 'c'}");
	assert_json(at(cfg, "linux.sysctl"),
		    "{'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '0'}");
	json_object_del((json_t *)f.in.container, "workingDir");
	img = build_ok(&f.in);
	assert_string_equal(json_string_value(at(img, "process.cwd")), "/img");
	fixture_done(&f);
}

/* ---- pod cgroups (root only) ---- */

static char cg_base[64], cg_pod[96], cg_child[128];
static pid_t cg_sleeper = -1;

static void cgroup_cleanup(void)
{
	cleanup_err struct err err = ERR_INIT;

	if (cg_sleeper > 0) {
		kill(cg_sleeper, SIGKILL);
		waitpid(cg_sleeper, NULL, 0);
		cg_sleeper = -1;
	}
	if (!cg_base[0])
		return;
	rt_cgroup_remove(cg_base, &err);
}

static long read_long(const char *dir, const char *file)
{
	cleanup_free char *path = xasprintf("/sys/fs/cgroup/%s/%s", dir, file);
	cleanup_free char *text = NULL;
	cleanup_err struct err err = ERR_INIT;

	if (fs_read_file(AT_FDCWD, path, &text, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	return strtol(text, NULL, 10);
}

static void test_cgroup_pod_ensure_applies_limits_and_remove_cleans_up(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_json json_t *res = J("{'memory': {'limit': 67108864}, 'cpu': {'shares': 512}}");
	cleanup_json json_t *res2 = J("{'memory': {'limit': 33554432}}");
	cleanup_json json_t *cres = J("{'memory': {'limit': 16777216}}");
	cleanup_free char *mem = NULL, *child = NULL, *procs = NULL;
	struct rt_resources r;
	struct rt_cgroup *cg = NULL;
	char pid[32];
	struct stat st;

	(void)state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/memory/memory.limit_in_bytes", W_OK) < 0)
		skip();
	snprintf(cg_base, sizeof(cg_base), "/skiff-test-%d", (int)getpid());
	snprintf(cg_pod, sizeof(cg_pod), "%s/pod1", cg_base);
	snprintf(cg_child, sizeof(cg_child), "%s/c1", cg_pod);
	mem = xasprintf("memory%s", cg_pod);

	if (rt_cgroup_ensure(cg_pod, res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(read_long(mem, "memory.limit_in_bytes"), 67108864);
	if (access("/sys/fs/cgroup/cpu/cpu.shares", F_OK) == 0) {
		cleanup_free char *cpu = xasprintf("cpu%s", cg_pod);

		assert_int_equal(read_long(cpu, "cpu.shares"), 512);
	}
	/* again: idempotent, and the new limit applies */
	if (rt_cgroup_ensure(cg_pod, res2, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(read_long(mem, "memory.limit_in_bytes"), 33554432);

	/* a container's cgroup nests below the pod's, which limits it (use_hierarchy) */
	assert_int_equal(rt_resources_parse(cres, &r, &err), 0);
	if (rt_cgroup_create(cg_child, &r, &cg, &err) < 0)
		fail_msg("%s", err.msg);
	rt_resources_done(&r);
	child = xasprintf("memory%s", cg_child);
	assert_int_equal(read_long(child, "memory.limit_in_bytes"), 16777216);
	assert_int_equal(read_long(child, "memory.use_hierarchy"), 1);
	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	rt_cgroup_free(cg);

	/* a process left in the pod cgroup makes removal fail with EBUSY */
	cg_sleeper = fork();
	assert_true(cg_sleeper >= 0);
	if (cg_sleeper == 0) {
		pause();
		_exit(0);
	}
	snprintf(pid, sizeof(pid), "%d", (int)cg_sleeper);
	procs = xasprintf("/sys/fs/cgroup/%s/cgroup.procs", mem);
	assert_int_equal(fs_write_knob(AT_FDCWD, procs, pid, strlen(pid), &err), 0);
	assert_int_equal(rt_cgroup_remove(cg_pod, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "remove cgroup '"));
	assert_non_null(strstr(err.msg, "': processes remain ("));
	err_clear(&err);
	kill(cg_sleeper, SIGKILL);
	waitpid(cg_sleeper, NULL, 0);
	cg_sleeper = -1;

	assert_int_equal(rt_cgroup_remove(cg_pod, &err), 0);
	{
		cleanup_free char *dir = xasprintf("/sys/fs/cgroup/%s", mem);

		assert_int_equal(stat(dir, &st), -1);
	}
	/* removing what is gone is fine */
	assert_int_equal(rt_cgroup_remove(cg_pod, &err), 0);
	assert_int_equal(rt_cgroup_remove(cg_base, &err), 0);
	cg_base[0] = '\0';
}

static int cgroup_teardown(void **state)
{
	(void)state;
	cgroup_cleanup();
	return 0;
}

/* ---- setup ---- */

static int write_file(const char *dir, const char *name, const char *text)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	cleanup_fclose FILE *f = fopen(path, "we");

	return f && fputs(text, f) >= 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	cleanup_free char *etc = NULL;

	(void)state;
	snprintf(rootfs, sizeof(rootfs), "/tmp/test-ocispec-XXXXXX");
	if (!mkdtemp(rootfs))
		return -1;
	etc = xasprintf("%s/etc", rootfs);
	if (mkdir(etc, 0755) < 0)
		return -1;
	if (write_file(etc, "passwd",
		       "root:x:0:0:root:/root:/bin/sh\n"
		       "app:x:1000:1000::/home/app:/bin/sh\n"
		       "svc:x:1001:1002::/:/bin/false\n") < 0 ||
	    write_file(etc, "group",
		       "root:x:0:\n"
		       "app:x:1000:\n"
		       "staff:x:50:app,svc\n"
		       "video:x:44:svc\n") < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	if (rootfs[0] && fs_remove_tree(AT_FDCWD, rootfs, &err) < 0)
		return -1;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ocispec_command_and_args_replace_entrypoint_and_cmd),
		cmocka_unit_test(test_ocispec_empty_entrypoint_means_none_and_no_command_fails),
		cmocka_unit_test(test_ocispec_expands_variables_as_upstream),
		cmocka_unit_test(test_ocispec_env_order_and_value_sources),
		cmocka_unit_test(test_ocispec_missing_sources_fail_with_upstream_messages),
		cmocka_unit_test(test_ocispec_user_resolved_in_image_passwd_and_group),
		cmocka_unit_test(test_ocispec_pod_groups_and_strict_policy),
		cmocka_unit_test(test_ocispec_unknown_image_user_or_group_fails),
		cmocka_unit_test(test_ocispec_run_as_non_root_refuses_root),
		cmocka_unit_test(test_ocispec_capabilities_add_drop_and_all),
		cmocka_unit_test(test_ocispec_privileged_gets_everything),
		cmocka_unit_test(test_ocispec_read_only_root_and_no_new_privileges),
		cmocka_unit_test(test_ocispec_seccomp_runtime_default_and_unconfined),
		cmocka_unit_test(test_ocispec_resources_become_shares_quota_and_limit),
		cmocka_unit_test(test_ocispec_qos_class_matches_upstream_examples),
		cmocka_unit_test(test_ocispec_pod_resources_sum_containers_and_max_init),
		cmocka_unit_test(test_ocispec_cgroup_parent_by_qos),
		cmocka_unit_test(test_ocispec_namespaces_join_the_sandbox_unless_host),
		cmocka_unit_test(test_ocispec_mounts_defaults_files_and_volumes_in_order),
		cmocka_unit_test(test_ocispec_process_basics_and_annotations),
		cmocka_unit_test_teardown(
			test_cgroup_pod_ensure_applies_limits_and_remove_cleans_up,
			cgroup_teardown),
	};

	return cmocka_run_group_tests_name("ocispec", tests, group_setup, group_teardown);
}
