/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the cgroup manager's pure logic: mountinfo and /proc/self/cgroup parsing,
 * cgroupsPath resolution, systemd notation, unit conversions, value formatting and the
 * state round trip. Nothing here touches /sys/fs/cgroup or needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

/* The layout of the development host: v1 controllers plus a hugetlb-only cgroup2 mount. */
static const char hybrid_mountinfo[] =
	"22 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw\n"
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
	"37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
	"38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
	"39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char hybrid_proc_cgroup[] = "9:name=systemd:/\n"
					 "8:pids:/\n"
					 "7:blkio:/\n"
					 "6:freezer:/\n"
					 "5:devices:/\n"
					 "4:memory:/process_api/16fc\n"
					 "3:cpuset:/\n"
					 "2:cpuacct:/\n"
					 "1:cpu:/\n"
					 "0::/\n";

static void test_cgroup_mountinfo_detects_hybrid_layout(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;
	unsigned all = 0;

	(void)state;
	assert_int_equal(cg_layout_parse(hybrid_mountinfo, &l, &err), 0);
	assert_int_equal(l.mode, CG_MODE_HYBRID);
	assert_int_equal(l.n, 10);
	assert_int_equal(l.unified, 9);
	assert_true(l.hier[9].v2);
	assert_string_equal(l.hier[9].mountpoint, "/sys/fs/cgroup/unified");
	assert_string_equal(l.hier[0].controllers, "cpu");
	assert_int_equal(l.hier[0].mask, CG_CPU);
	assert_string_equal(l.hier[3].mountpoint, "/sys/fs/cgroup/memory");
	assert_string_equal(l.hier[8].controllers, "name=systemd");
	assert_int_equal(l.hier[8].mask, 0);
	for (size_t i = 0; i < l.n; i++)
		all |= l.hier[i].mask;
	/* hugetlb lives only in the unified hierarchy on this layout */
	assert_false(all & CG_HUGETLB);
	cg_layout_done(&l);
}

static void test_cgroup_mountinfo_detects_pure_v2(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;

	(void)state;
	assert_int_equal(cg_layout_parse("30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 "
					 "cgroup2 rw,nsdelegate,memory_recursiveprot\n",
					 &l, &err),
			 0);
	assert_int_equal(l.mode, CG_MODE_V2);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.unified, 0);
	assert_string_equal(l.hier[0].mountpoint, "/sys/fs/cgroup");
	assert_string_equal(l.hier[0].root, "/");
	cg_layout_done(&l);
}

static void test_cgroup_mountinfo_detects_pure_v1_with_comounted_controllers(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;

	(void)state;
	assert_int_equal(
		cg_layout_parse(
			"25 24 0:22 / /sys/fs/cgroup/systemd rw shared:9 - cgroup cgroup "
			"rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd\n"
			"28 24 0:25 / /sys/fs/cgroup/cpu,cpuacct rw shared:10 - cgroup cgroup "
			"rw,cpu,cpuacct\n"
			"29 24 0:26 / /sys/fs/cgroup/net_cls,net_prio rw shared:11 - cgroup cgroup "
			"rw,net_cls,net_prio\n"
			"30 24 0:27 / /sys/fs/cgroup/hugetlb rw shared:12 - cgroup cgroup "
			"rw,hugetlb\n",
			&l, &err),
		0);
	assert_int_equal(l.mode, CG_MODE_V1);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.unified, -1);
	assert_string_equal(l.hier[0].controllers, "name=systemd");
	assert_string_equal(l.hier[1].controllers, "cpu,cpuacct");
	assert_int_equal(l.hier[1].mask, CG_CPU | CG_CPUACCT);
	assert_string_equal(l.hier[1].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
	assert_int_equal(l.hier[2].mask, CG_NET_CLS | CG_NET_PRIO);
	assert_int_equal(l.hier[3].mask, CG_HUGETLB);
	cg_layout_done(&l);
}

static void test_cgroup_mountinfo_v2_ignores_named_v1_hierarchy(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;

	(void)state;
	assert_int_equal(cg_layout_parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
					 "40 30 0:40 / /run/systemd-v1 rw - cgroup cgroup "
					 "rw,name=systemd\n",
					 &l, &err),
			 0);
	assert_int_equal(l.mode, CG_MODE_V2);
	assert_int_equal(l.n, 1);
	assert_true(l.hier[0].v2);
	cg_layout_done(&l);
}

static void test_cgroup_mountinfo_keeps_one_mount_per_hierarchy(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;

	(void)state;
	/* a bind mount of a subtree first, then the whole tree; escaped spaces in the path */
	assert_int_equal(
		cg_layout_parse(
			"50 40 0:32 /docker/abc /run/c/memory rw - cgroup cgroup rw,memory\n"
			"51 40 0:32 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup "
			"rw,memory\n"
			"52 40 0:32 /x /mnt rw - cgroup cgroup rw,memory\n"
			"53 40 0:99 / /proc rw - proc proc rw\n",
			&l, &err),
		0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.hier[0].root, "/");
	assert_string_equal(l.hier[0].mountpoint, "/sys/fs/cgroup/my memory");
	cg_layout_done(&l);
}

static void test_cgroup_mountinfo_without_cgroups_is_enoent(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;

	(void)state;
	assert_int_equal(cg_layout_parse("22 1 8:1 / / rw - ext4 /dev/vda1 rw\n", &l, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "no cgroup hierarchy"));
}

static void test_cgroup_own_path_matches_v1_and_unified_lines(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_layout l;
	cleanup_free char *mem = NULL, *uni = NULL, *sd = NULL;

	(void)state;
	assert_int_equal(cg_layout_parse(hybrid_mountinfo, &l, &err), 0);
	assert_int_equal(cg_own_path(hybrid_proc_cgroup, &l.hier[3], &mem, &err), 0);
	assert_string_equal(mem, "/process_api/16fc");
	assert_int_equal(cg_own_path(hybrid_proc_cgroup, &l.hier[9], &uni, &err), 0);
	assert_string_equal(uni, "/");
	assert_int_equal(cg_own_path(hybrid_proc_cgroup, &l.hier[8], &sd, &err), 0);
	assert_string_equal(sd, "/");
	cg_layout_done(&l);
}

static void test_cgroup_own_path_matches_comounted_controllers(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_hier h = {.controllers = "cpu,cpuacct"};
	cleanup_free char *own = NULL;

	(void)state;
	assert_int_equal(
		cg_own_path("3:memory:/a\n2:cpuacct,cpu:/user.slice/x:y\n0::/z\n", &h, &own, &err),
		0);
	/* the path is everything after the second colon */
	assert_string_equal(own, "/user.slice/x:y");
}

static void test_cgroup_own_path_missing_is_enoent(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_hier h = {.controllers = "pids"};
	char *own = NULL;

	(void)state;
	assert_int_equal(cg_own_path("4:memory:/\n0::/\n", &h, &own, &err), -ENOENT);
	assert_null(own);
}

static void test_cgroup_path_resolve_normalizes_absolute_paths(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *p = NULL;

	(void)state;
	assert_int_equal(cg_path_resolve("//skiff/./web-1//", "/ignored", &p, &err), 0);
	assert_string_equal(p, "/skiff/web-1");
}

static void test_cgroup_path_resolve_puts_relative_paths_below_own_cgroup(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *p = NULL, *q = NULL;

	(void)state;
	assert_int_equal(cg_path_resolve("skiff/web-1", "/process_api/16fc", &p, &err), 0);
	assert_string_equal(p, "/process_api/16fc/skiff/web-1");
	assert_int_equal(cg_path_resolve("web-1", "/", &q, &err), 0);
	assert_string_equal(q, "/web-1");
}

static void test_cgroup_path_resolve_rejects_dotdot_components(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char *p = NULL;

	(void)state;
	assert_int_equal(cg_path_resolve("/skiff/../../etc", NULL, &p, &err), -EINVAL);
	assert_null(p);
	assert_non_null(strstr(err.msg, "cgroupsPath"));
	err_clear(&err);
	assert_int_equal(cg_path_resolve("..", "/own", &p, &err), -EINVAL);
	err_clear(&err);
	/* a name merely containing dots is fine */
	assert_int_equal(cg_path_resolve("/a..b/...", NULL, &p, &err), 0);
	assert_string_equal(p, "/a..b/...");
	free(p);
}

static void test_cgroup_path_resolve_rejects_the_root_cgroup(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char *p = NULL;

	(void)state;
	assert_int_equal(cg_path_resolve("/", NULL, &p, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(cg_path_resolve("/./", NULL, &p, &err), -EINVAL);
	assert_null(p);
}

static void test_cgroup_path_is_systemd_needs_two_colons_and_no_slash(void **state)
{
	(void)state;
	assert_true(cg_path_is_systemd("system.slice:skiff:abc"));
	assert_true(cg_path_is_systemd("::abc"));
	assert_false(cg_path_is_systemd("/system.slice:skiff:abc"));
	assert_false(cg_path_is_systemd("skiff:abc"));
	assert_false(cg_path_is_systemd("a:b:c:d"));
	assert_false(cg_path_is_systemd("/skiff/abc"));
}

static void test_cgroup_systemd_path_converts_scope(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *p = NULL;

	(void)state;
	assert_int_equal(cg_systemd_path("system.slice:skiff:abc", &p, &err), 0);
	assert_string_equal(p, "/system.slice/skiff-abc.scope");
}

static void test_cgroup_systemd_path_expands_nested_slices(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *p = NULL, *q = NULL;

	(void)state;
	assert_int_equal(cg_systemd_path("a-b-c.slice:skiff:abc", &p, &err), 0);
	assert_string_equal(p, "/a.slice/a-b.slice/a-b-c.slice/skiff-abc.scope");
	assert_int_equal(cg_systemd_path("machine-libpod_pod_1.slice:libpod:x", &q, &err), 0);
	assert_string_equal(q, "/machine.slice/machine-libpod_pod_1.slice/libpod-x.scope");
}

static void test_cgroup_systemd_path_defaults(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	(void)state;
	assert_int_equal(cg_systemd_path(":skiff:abc", &a, &err), 0);
	assert_string_equal(a, "/system.slice/skiff-abc.scope");
	assert_int_equal(cg_systemd_path("-.slice:skiff:abc", &b, &err), 0);
	assert_string_equal(b, "/skiff-abc.scope");
	assert_int_equal(cg_systemd_path("system.slice::abc", &c, &err), 0);
	assert_string_equal(c, "/system.slice/abc.scope");
	/* a name that is a slice is used as it is */
	assert_int_equal(cg_systemd_path("machine.slice:skiff:pod-1.slice", &d, &err), 0);
	assert_string_equal(d, "/machine.slice/pod-1.slice");
}

static void test_cgroup_systemd_path_rejects_bad_names(void **state)
{
	static const char *const bad[] = {"foo:skiff:abc",      "a--b.slice:skiff:abc",
					  "-a.slice:skiff:abc", "a-.slice:skiff:abc",
					  ".slice:skiff:abc",   "system.slice:skiff:"};
	char *p = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct err err = ERR_INIT;

		assert_int_equal(cg_systemd_path(bad[i], &p, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "cgroupsPath"));
		assert_null(p);
	}
}

static void test_cgroup_hier_dir_strips_the_mount_root(void **state)
{
	struct cg_hier whole = {.mountpoint = "/sys/fs/cgroup/memory", .root = "/"};
	struct cg_hier sub = {.mountpoint = "/sys/fs/cgroup/memory", .root = "/docker/abc"};
	cleanup_free char *a = cg_hier_dir(&whole, "/skiff/x");
	cleanup_free char *b = cg_hier_dir(&sub, "/docker/abc/skiff/x");
	cleanup_free char *c = cg_hier_dir(&sub, "/docker/abcd/x");

	(void)state;
	assert_string_equal(a, "/sys/fs/cgroup/memory/skiff/x");
	assert_string_equal(b, "/sys/fs/cgroup/memory/skiff/x");
	assert_string_equal(c, "/sys/fs/cgroup/memory/docker/abcd/x");
}

static void test_cgroup_shares_to_weight_matches_known_points(void **state)
{
	(void)state;
	assert_int_equal(cg_shares_to_weight(0), 0);
	assert_int_equal(cg_shares_to_weight(2), 1);
	assert_int_equal(cg_shares_to_weight(1), 1);
	assert_int_equal(cg_shares_to_weight(1024), 39);
	assert_int_equal(cg_shares_to_weight(262144), 10000);
	assert_int_equal(cg_shares_to_weight(1000000), 10000);
}

static void test_cgroup_blkio_weight_to_io_weight(void **state)
{
	(void)state;
	assert_int_equal(cg_blkio_to_io_weight(0), 0);
	assert_int_equal(cg_blkio_to_io_weight(10), 1);
	assert_int_equal(cg_blkio_to_io_weight(5), 1);
	assert_int_equal(cg_blkio_to_io_weight(500), 4950);
	assert_int_equal(cg_blkio_to_io_weight(1000), 10000);
	assert_int_equal(cg_blkio_to_io_weight(5000), 10000);
}

static void test_cgroup_fmt_max_writes_max_for_negative_values(void **state)
{
	char buf[CG_NUM_MAX];

	(void)state;
	cg_fmt_max(buf, -1);
	assert_string_equal(buf, "max");
	cg_fmt_max(buf, 33554432);
	assert_string_equal(buf, "33554432");
	cg_fmt_i64(buf, -1);
	assert_string_equal(buf, "-1");
	cg_fmt_i64(buf, INT64_MAX);
	assert_string_equal(buf, "9223372036854775807");
}

static void test_cgroup_v2_swap_is_memory_plus_swap_minus_limit(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	int64_t v = 0;

	(void)state;
	assert_int_equal(cg_v2_swap(100, 300, &v, &err), 0);
	assert_int_equal(v, 200);
	assert_int_equal(cg_v2_swap(100, 100, &v, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cg_v2_swap(RT_UNSET_I64, -1, &v, &err), 0);
	assert_int_equal(v, -1);
}

static void test_cgroup_v2_swap_rejects_swap_below_limit_or_without_limit(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	int64_t v = 7;

	(void)state;
	assert_int_equal(cg_v2_swap(300, 100, &v, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "swap"));
	err_clear(&err);
	assert_int_equal(cg_v2_swap(RT_UNSET_I64, 100, &v, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(cg_v2_swap(-1, 100, &v, &err), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_cgroup_device_rule_format(void **state)
{
	struct rt_device_rule all = {false, 'a', -1, -1, ""};
	struct rt_device_rule null = {true, 'c', 1, 3, "rwm"};
	struct rt_device_rule disks = {true, 'b', 8, -1, "r"};
	char buf[CG_RULE_MAX];

	(void)state;
	cg_fmt_device_rule(buf, &all);
	assert_string_equal(buf, "a *:* rwm");
	cg_fmt_device_rule(buf, &null);
	assert_string_equal(buf, "c 1:3 rwm");
	cg_fmt_device_rule(buf, &disks);
	assert_string_equal(buf, "b 8:* r");
}

static void test_cgroup_keyed_get_reads_exact_keys(void **state)
{
	int64_t v = -5;

	(void)state;
	assert_true(cg_keyed_get("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill", &v));
	assert_int_equal(v, 3);
	assert_true(cg_keyed_get("populated 1\nfrozen 0\n", "frozen", &v));
	assert_int_equal(v, 0);
	assert_false(cg_keyed_get("oom_kill_disable 1\n", "oom_kill", &v));
	assert_false(cg_keyed_get("", "oom_kill", &v));
}

static void test_cgroup_pids_parse_sorts_and_removes_duplicates(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	assert_int_equal(cg_pids_parse("30\n4\n", &pids, &n, &cap, &err), 0);
	assert_int_equal(cg_pids_parse("", &pids, &n, &cap, &err), 0);
	assert_int_equal(cg_pids_parse("4\n1000\n2\n", &pids, &n, &cap, &err), 0);
	assert_int_equal(n, 5);
	n = cg_pids_sort_unique(pids, n);
	assert_int_equal(n, 4);
	assert_int_equal(pids[0], 2);
	assert_int_equal(pids[1], 4);
	assert_int_equal(pids[2], 30);
	assert_int_equal(pids[3], 1000);
}

static void test_cgroup_pids_parse_rejects_garbage(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0, cap = 0;

	(void)state;
	assert_int_equal(cg_pids_parse("12\nabc\n", &pids, &n, &cap, &err), -EPROTO);
	err_clear(&err);
	assert_int_equal(cg_pids_parse("-3\n", &pids, &n, &cap, &err), -EPROTO);
	assert_int_equal(n, 1);
}

static void test_cgroup_validates_page_sizes_and_unified_keys(void **state)
{
	(void)state;
	assert_true(cg_valid_page_size("2MB"));
	assert_true(cg_valid_page_size("1GB"));
	assert_true(cg_valid_page_size("64KB"));
	assert_false(cg_valid_page_size("MB"));
	assert_false(cg_valid_page_size("2M"));
	assert_false(cg_valid_page_size("2MB/../x"));
	assert_false(cg_valid_page_size("2XB"));
	assert_false(cg_valid_page_size("2"));
	assert_true(cg_valid_unified_key("memory.max"));
	assert_false(cg_valid_unified_key("../memory.max"));
	assert_false(cg_valid_unified_key("a/b"));
	assert_false(cg_valid_unified_key(".."));
	assert_false(cg_valid_unified_key(""));
}

static void test_cgroup_v2_needed_counts_hugetlb_and_unified_keys(void **state)
{
	struct rt_hugepage_limit hp = {"2MB", 1 << 21};
	struct rt_resources res = {0};
	cleanup_json json_t *unified =
		json_pack("{s:s, s:s}", "io.max", "8:0 rbps=1", "cgroup.max.depth", "3");

	(void)state;
	assert_int_equal(cg_v2_needed(NULL, 0), 0);
	res.hugepages = &hp;
	res.n_hugepages = 1;
	assert_int_equal(cg_v2_needed(&res, 0), CG_HUGETLB);
	assert_int_equal(cg_v2_needed(&res, CG_HUGETLB), 0);
	res.unified = unified;
	assert_int_equal(cg_v2_needed(&res, CG_HUGETLB), CG_IO);
}

static void test_cgroup_state_round_trips_through_json(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct cg_dir dirs[] = {
		{.path = "/sys/fs/cgroup/cpu/skiff/a",
		 .controllers = "cpu,cpuacct",
		 .mask = CG_CPU | CG_CPUACCT,
		 .created = 2,
		 .fd = -1},
		{.path = "/sys/fs/cgroup/unified/skiff/a",
		 .controllers = "",
		 .v2 = true,
		 .optional = true,
		 .created = 1,
		 .fd = -1},
	};
	struct rt_cgroup cg = {.mode = CG_MODE_HYBRID, .dirs = dirs, .n = 2};
	cleanup_json json_t *j = rt_cgroup_to_json(&cg);
	struct rt_cgroup *back = NULL;

	(void)state;
	assert_non_null(j);
	assert_int_equal(rt_cgroup_load(j, &back, &err), 0);
	assert_int_equal(back->mode, CG_MODE_HYBRID);
	assert_int_equal(back->n, 2);
	assert_string_equal(back->dirs[0].path, dirs[0].path);
	assert_string_equal(back->dirs[0].controllers, "cpu,cpuacct");
	assert_int_equal(back->dirs[0].mask, CG_CPU | CG_CPUACCT);
	assert_int_equal(back->dirs[0].created, 2);
	assert_false(back->dirs[0].v2);
	assert_true(back->dirs[1].v2);
	assert_true(back->dirs[1].optional);
	assert_int_equal(back->dirs[1].fd, -1);
	assert_ptr_equal(cg_find(back, CG_CPU), &back->dirs[0]);
	assert_ptr_equal(cg_unified(back), &back->dirs[1]);
	assert_null(cg_find(back, CG_MEMORY));
	rt_cgroup_free(back);
}

static void test_cgroup_load_rejects_bad_state(void **state)
{
	static const char *const bad[] = {
		"{\"mode\":\"v3\",\"dirs\":[{\"path\":\"/a/b\",\"created\":0,\"v2\":true}]}",
		"{\"mode\":\"v2\",\"dirs\":[]}",
		"{\"mode\":\"v2\",\"dirs\":[{\"path\":\"a/b\",\"created\":0,\"v2\":true}]}",
		"{\"mode\":\"v2\",\"dirs\":[{\"path\":\"/a/../b\",\"created\":0,\"v2\":true}]}",
		"{\"mode\":\"v2\",\"dirs\":[{\"path\":\"/a/b\",\"created\":2,\"v2\":true}]}",
		"{\"mode\":\"v1\",\"dirs\":[{\"path\":\"/a/b\",\"created\":1}]}",
		"{\"mode\":\"v2\",\"dirs\":[{\"path\":\"/a/b\",\"created\":1,"
		"\"controllers\":\"memory\"}]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		cleanup_json json_t *j = json_loads(bad[i], 0, NULL);
		struct rt_cgroup *cg = NULL;

		assert_non_null(j);
		assert_int_equal(rt_cgroup_load(j, &cg, &err), -EINVAL);
		assert_null(cg);
	}
}

static void put(const char *dir, const char *file, const char *text)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	cleanup_err struct err err = ERR_INIT;

	assert_int_equal(fs_write_atomic(AT_FDCWD, p, text, strlen(text), 0644, &err), 0);
}

static char *get(const char *dir, const char *file)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	cleanup_err struct err err = ERR_INIT;
	char *text = NULL;

	assert_int_equal(fs_read_file(AT_FDCWD, p, &text, NULL, &err), 0);
	return text;
}

static void test_cgroup_cpuset_prepare_copies_from_nearest_nonempty_ancestor(void **state)
{
	char root[] = "/tmp/skiff-test-cgroup-XXXXXX";
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *a = NULL, *b = NULL, *a_cpus = NULL, *a_mems = NULL, *b_cpus = NULL,
			  *b_mems = NULL;
	struct cg_dir d = {.fd = -1, .created = 1};

	(void)state;
	assert_non_null(mkdtemp(root));
	a = xasprintf("%s/a", root);
	b = xasprintf("%s/a/b", root);
	assert_int_equal(mkdir(a, 0755), 0);
	assert_int_equal(mkdir(b, 0755), 0);
	/* root: both set; a (pre-existing): cpus empty, mems set; b: new, empty */
	put(root, "cpuset.cpus", "0-3\n");
	put(root, "cpuset.mems", "0-1\n");
	put(a, "cpuset.cpus", "");
	put(a, "cpuset.mems", "1\n");
	put(b, "cpuset.cpus", "");
	put(b, "cpuset.mems", "");
	d.path = b;
	d.floor = strlen(root);
	assert_int_equal(cg_v1_cpuset_prepare(&d, NULL, &err), 0);
	a_cpus = get(a, "cpuset.cpus");
	a_mems = get(a, "cpuset.mems");
	b_cpus = get(b, "cpuset.cpus");
	b_mems = get(b, "cpuset.mems");
	assert_string_equal(a_cpus, "0-3");
	assert_string_equal(a_mems, "1\n");
	assert_string_equal(b_cpus, "0-3");
	assert_string_equal(b_mems, "1");
	assert_string_equal(d.path, b);
	assert_int_equal(fs_remove_tree(AT_FDCWD, root, &err), 0);
}

static void test_cgroup_destroy_removes_only_created_dirs(void **state)
{
	char root[] = "/tmp/skiff-test-cgroup-XXXXXX";
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *leaf = NULL, *kept = NULL;
	struct rt_cgroup *cg = xcalloc(1, sizeof(*cg));
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(root));
	kept = xasprintf("%s/kept", root);
	leaf = xasprintf("%s/kept/made/leaf", root);
	assert_int_equal(fs_mkdir_p(leaf, 0755, &err), 0);
	cg->mode = CG_MODE_V2;
	cg->n = 1;
	cg->dirs = xcalloc(1, sizeof(*cg->dirs));
	cg->dirs[0] = (struct cg_dir){.path = xstrdup(leaf),
				      .controllers = xstrdup(""),
				      .v2 = true,
				      .created = 2,
				      .fd = -1};
	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	assert_int_equal(stat(kept, &st), 0);
	assert_int_equal(rmdir(kept), 0);
	/* a second destroy has nothing left to do */
	assert_int_equal(rt_cgroup_destroy(cg, &err), 0);
	rt_cgroup_free(cg);
	assert_int_equal(rmdir(root), 0);
}

static void test_cgroup_dir_matches_the_whole_mount_point(void **state)
{
	struct cg_dir dirs[] = {
		{.path = "/sys/fs/cgroup/cpuacct/skiff/a", .controllers = "cpuacct", .fd = -1},
		{.path = "/sys/fs/cgroup/cpu/skiff/a", .controllers = "cpu", .fd = -1},
	};
	struct rt_cgroup cg = {.mode = CG_MODE_V1, .dirs = dirs, .n = 2};

	(void)state;
	assert_string_equal(rt_cgroup_dir(&cg, "/sys/fs/cgroup/cpu"), dirs[1].path);
	assert_string_equal(rt_cgroup_dir(&cg, "/sys/fs/cgroup/cpuacct"), dirs[0].path);
	assert_null(rt_cgroup_dir(&cg, "/sys/fs/cgroup/memory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cgroup_mountinfo_detects_hybrid_layout),
		cmocka_unit_test(test_cgroup_mountinfo_detects_pure_v2),
		cmocka_unit_test(test_cgroup_mountinfo_detects_pure_v1_with_comounted_controllers),
		cmocka_unit_test(test_cgroup_mountinfo_v2_ignores_named_v1_hierarchy),
		cmocka_unit_test(test_cgroup_mountinfo_keeps_one_mount_per_hierarchy),
		cmocka_unit_test(test_cgroup_mountinfo_without_cgroups_is_enoent),
		cmocka_unit_test(test_cgroup_own_path_matches_v1_and_unified_lines),
		cmocka_unit_test(test_cgroup_own_path_matches_comounted_controllers),
		cmocka_unit_test(test_cgroup_own_path_missing_is_enoent),
		cmocka_unit_test(test_cgroup_path_resolve_normalizes_absolute_paths),
		cmocka_unit_test(test_cgroup_path_resolve_puts_relative_paths_below_own_cgroup),
		cmocka_unit_test(test_cgroup_path_resolve_rejects_dotdot_components),
		cmocka_unit_test(test_cgroup_path_resolve_rejects_the_root_cgroup),
		cmocka_unit_test(test_cgroup_path_is_systemd_needs_two_colons_and_no_slash),
		cmocka_unit_test(test_cgroup_systemd_path_converts_scope),
		cmocka_unit_test(test_cgroup_systemd_path_expands_nested_slices),
		cmocka_unit_test(test_cgroup_systemd_path_defaults),
		cmocka_unit_test(test_cgroup_systemd_path_rejects_bad_names),
		cmocka_unit_test(test_cgroup_hier_dir_strips_the_mount_root),
		cmocka_unit_test(test_cgroup_shares_to_weight_matches_known_points),
		cmocka_unit_test(test_cgroup_blkio_weight_to_io_weight),
		cmocka_unit_test(test_cgroup_fmt_max_writes_max_for_negative_values),
		cmocka_unit_test(test_cgroup_v2_swap_is_memory_plus_swap_minus_limit),
		cmocka_unit_test(test_cgroup_v2_swap_rejects_swap_below_limit_or_without_limit),
		cmocka_unit_test(test_cgroup_device_rule_format),
		cmocka_unit_test(test_cgroup_keyed_get_reads_exact_keys),
		cmocka_unit_test(test_cgroup_pids_parse_sorts_and_removes_duplicates),
		cmocka_unit_test(test_cgroup_pids_parse_rejects_garbage),
		cmocka_unit_test(test_cgroup_validates_page_sizes_and_unified_keys),
		cmocka_unit_test(test_cgroup_v2_needed_counts_hugetlb_and_unified_keys),
		cmocka_unit_test(test_cgroup_state_round_trips_through_json),
		cmocka_unit_test(test_cgroup_load_rejects_bad_state),
		cmocka_unit_test(test_cgroup_dir_matches_the_whole_mount_point),
		cmocka_unit_test(test_cgroup_cpuset_prepare_copies_from_nearest_nonempty_ancestor),
		cmocka_unit_test(test_cgroup_destroy_removes_only_created_dirs),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
