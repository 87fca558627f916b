/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pod networking (cluster/net): CIDR parsing, IPAM allocation (round robin,
 * idempotence, persistence, two handles and two processes on one directory), and, as root,
 * the bridge, veth and route calls inside network namespaces the test makes for itself
 * (unshare), so the host's network is never touched.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
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
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/net/net.h"

/* ------------------------------------------------------------------------------------------ */
/* CIDR helpers */

static void assert_cidr_error(const char *cidr, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	struct in_addr a;
	unsigned prefix;

	assert_int_equal(net_cidr_parse(cidr, &a, &prefix, &err), -EINVAL);
	assert_int_equal(err.code, EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("error for '%s' is '%s', want it to contain '%s'", cidr, err.msg, want);
}

static void test_cidr_parse_reads_address_and_prefix(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct in_addr a;
	unsigned prefix = 99;

	(void)state;
	assert_int_equal(net_cidr_parse("10.42.3.0/24", &a, &prefix, &err), 0);
	assert_int_equal(ntohl(a.s_addr), 0x0a2a0300);
	assert_int_equal(prefix, 24);
	assert_int_equal(net_cidr_parse("0.0.0.0/0", &a, &prefix, &err), 0);
	assert_int_equal(prefix, 0);
	assert_int_equal(net_cidr_parse("10.42.3.7/32", &a, &prefix, &err), 0);
	assert_int_equal(ntohl(a.s_addr), 0x0a2a0307);
	assert_int_equal(prefix, 32);
}

static void test_cidr_parse_rejects_malformed_values_naming_them(void **state)
{
	(void)state;
	assert_cidr_error("", "parse CIDR '': empty");
	assert_cidr_error("10.42.3.0", "parse CIDR '10.42.3.0': missing '/<prefix length>'");
	assert_cidr_error("10.42.3/24", "'10.42.3' is not an IPv4 address");
	assert_cidr_error("10.42.3.256/24", "'10.42.3.256' is not an IPv4 address");
	assert_cidr_error("fd00::/64", "'fd00::' is not an IPv4 address");
	assert_cidr_error("10.42.3.0.0.0.0.0.0/24", "is not an IPv4 address");
	assert_cidr_error("10.42.3.0/33", "prefix length '33' is not a number from 0 to 32");
	assert_cidr_error("10.42.3.0/", "prefix length '' is not a number");
	assert_cidr_error("10.42.3.0/-1", "prefix length '-1'");
	assert_cidr_error("10.42.3.0/2a", "prefix length '2a'");
	assert_cidr_error("10.42.3.0/024", "prefix length '024'");
	assert_cidr_error("10.42.3.0/24 ", "prefix length '24 '");
}

static void test_cidr_gateway_is_the_first_host(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char gw[INET_ADDRSTRLEN];
	char gw_cidr[NET_CIDR_STRLEN];

	(void)state;
	assert_int_equal(net_cidr_gateway("10.42.3.0/24", gw, gw_cidr, &err), 0);
	assert_string_equal(gw, "10.42.3.1");
	assert_string_equal(gw_cidr, "10.42.3.1/24");
	assert_int_equal(net_cidr_gateway("10.42.200.0/30", gw, NULL, &err), 0);
	assert_string_equal(gw, "10.42.200.1");
	assert_int_equal(net_cidr_gateway("10.42.3.0/31", gw, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'10.42.3.0/31' has no room for a gateway"));
	err_clear(&err);
	assert_int_equal(net_cidr_gateway("10.42.3.0", gw, NULL, &err), -EINVAL);
}

static void test_cidr_contains_checks_the_network_bits(void **state)
{
	(void)state;
	assert_true(net_cidr_contains("10.42.3.0/24", "10.42.3.0"));
	assert_true(net_cidr_contains("10.42.3.0/24", "10.42.3.255"));
	assert_false(net_cidr_contains("10.42.3.0/24", "10.42.4.1"));
	assert_true(net_cidr_contains("10.42.0.0/16", "10.42.250.3"));
	assert_false(net_cidr_contains("10.42.0.0/16", "10.43.0.10"));
	assert_true(net_cidr_contains("0.0.0.0/0", "192.168.1.1"));
	assert_false(net_cidr_contains("10.42.3.0/24", "10.42.3"));
	assert_false(net_cidr_contains("bogus", "10.42.3.1"));
	assert_false(net_cidr_contains("10.42.3.0/24", NULL));
}

/* ------------------------------------------------------------------------------------------ */
/* IPAM */

struct ipam_fixture {
	char dir[64];
};

static int ipam_setup(void **state)
{
	struct ipam_fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/skiff-test-ipam-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int ipam_teardown(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct ipam_fixture *f = *state;

	fs_remove_tree(AT_FDCWD, f->dir, &err);
	free(f);
	return 0;
}

static struct net_ipam *ipam_open_ok(const char *dir, const char *cidr)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_ipam *ipam = NULL;

	if (net_ipam_open(dir, cidr, &ipam, &err) < 0)
		fail_msg("net_ipam_open: %s", err.msg);
	return ipam;
}

static void alloc_expect(struct net_ipam *ipam, const char *owner, const char *want)
{
	cleanup_err struct err err = ERR_INIT;
	char ip[INET_ADDRSTRLEN];

	if (net_ipam_alloc(ipam, owner, ip, &err) < 0)
		fail_msg("allocate for '%s': %s", owner, err.msg);
	if (strcmp(ip, want) != 0)
		fail_msg("allocate for '%s' gave %s, want %s", owner, ip, want);
}

static void release_ok(struct net_ipam *ipam, const char *owner)
{
	cleanup_err struct err err = ERR_INIT;

	if (net_ipam_release(ipam, owner, &err) < 0)
		fail_msg("release '%s': %s", owner, err.msg);
}

static void test_ipam_open_rejects_bad_cidrs(void **state)
{
	struct ipam_fixture *f = *state;
	static const struct {
		const char *cidr;
		const char *msg;
	} cases[] = {
		{"10.42.3.5/24", "pod CIDR '10.42.3.5/24' has host bits set (want '10.42.3.0/24')"},
		{"10.0.0.0/8", "pod CIDR '10.0.0.0/8' must have a prefix from /16 to /30"},
		{"10.42.3.0/31", "must have a prefix from /16 to /30"},
		{"10.42.3.0", "missing '/<prefix length>'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		struct net_ipam *ipam = NULL;

		assert_int_equal(net_ipam_open(f->dir, cases[i].cidr, &ipam, &err), -EINVAL);
		assert_null(ipam);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("error '%s', want '%s'", err.msg, cases[i].msg);
	}
}

static void test_ipam_skips_network_gateway_and_broadcast_until_full(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/29");
	cleanup_err struct err err = ERR_INIT;
	char ip[INET_ADDRSTRLEN] = "unset";

	/* .0 network, .1 gateway, .7 broadcast */
	alloc_expect(ipam, "pod-a", "10.42.3.2");
	alloc_expect(ipam, "pod-b", "10.42.3.3");
	alloc_expect(ipam, "pod-c", "10.42.3.4");
	alloc_expect(ipam, "pod-d", "10.42.3.5");
	alloc_expect(ipam, "pod-e", "10.42.3.6");
	assert_int_equal(net_ipam_alloc(ipam, "pod-f", ip, &err), -ENOSPC);
	assert_string_equal(ip, "unset");
	assert_non_null(strstr(err.msg, "no free address in 10.42.3.0/29"));
	assert_non_null(strstr(err.msg, "'pod-f'"));
	err_clear(&err);
	/* a full range still gives an owner its own address back */
	alloc_expect(ipam, "pod-c", "10.42.3.4");
	net_ipam_free(ipam);
}

static void test_ipam_allocates_round_robin_and_does_not_reuse_at_once(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/29");

	alloc_expect(ipam, "a", "10.42.3.2");
	alloc_expect(ipam, "b", "10.42.3.3");
	release_ok(ipam, "a");
	/* .2 is free again, but the next address comes after the last one given */
	alloc_expect(ipam, "c", "10.42.3.4");
	alloc_expect(ipam, "d", "10.42.3.5");
	alloc_expect(ipam, "e", "10.42.3.6");
	/* wraps past the broadcast address to the first free one */
	alloc_expect(ipam, "f", "10.42.3.2");
	release_ok(ipam, "c");
	alloc_expect(ipam, "g", "10.42.3.4");
	net_ipam_free(ipam);
}

static void test_ipam_alloc_is_idempotent_and_lookup_finds_it(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	char ip[INET_ADDRSTRLEN] = "";

	alloc_expect(ipam, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "10.42.3.2");
	alloc_expect(ipam, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", "10.42.3.2");
	alloc_expect(ipam, "0f1e2d3c-aaaa-bbbb-cccc-000000000002", "10.42.3.3");
	assert_true(net_ipam_lookup(ipam, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", ip));
	assert_string_equal(ip, "10.42.3.2");
	assert_false(net_ipam_lookup(ipam, "nobody", ip));
	assert_false(net_ipam_lookup(ipam, "", ip));
	net_ipam_free(ipam);
}

static void test_ipam_release_frees_and_tolerates_unknown_owners(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	cleanup_err struct err err = ERR_INIT;
	char ip[INET_ADDRSTRLEN];
	struct stat st;

	alloc_expect(ipam, "a", "10.42.3.2");
	release_ok(ipam, "a");
	assert_false(net_ipam_lookup(ipam, "a", ip));
	assert_int_equal(stat(f->dir, &st), 0);
	release_ok(ipam, "a");
	release_ok(ipam, "never-seen");
	assert_int_equal(net_ipam_release(ipam, "has space", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "IPAM owner 'has space' is invalid"));
	err_clear(&err);
	assert_int_equal(net_ipam_alloc(ipam, "", ip, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(net_ipam_alloc(ipam, "line\nbreak", ip, &err), -EINVAL);
	net_ipam_free(ipam);
}

static void test_ipam_allocations_survive_reopen(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	char ip[INET_ADDRSTRLEN];

	alloc_expect(ipam, "a", "10.42.3.2");
	alloc_expect(ipam, "b", "10.42.3.3");
	release_ok(ipam, "a");
	net_ipam_free(ipam);

	ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	assert_true(net_ipam_lookup(ipam, "b", ip));
	assert_string_equal(ip, "10.42.3.3");
	assert_false(net_ipam_lookup(ipam, "a", ip));
	alloc_expect(ipam, "b", "10.42.3.3");
	/* the round-robin position is kept too */
	alloc_expect(ipam, "c", "10.42.3.4");
	net_ipam_free(ipam);

	/* a different CIDR in the same directory ignores the old entries */
	ipam = ipam_open_ok(f->dir, "10.42.9.0/24");
	assert_false(net_ipam_lookup(ipam, "b", ip));
	alloc_expect(ipam, "b", "10.42.9.2");
	net_ipam_free(ipam);
}

static void test_ipam_reclaims_an_entry_left_empty_by_a_crash(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/10.42.3.2", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	alloc_expect(ipam, "a", "10.42.3.2");
	net_ipam_free(ipam);
}

static void test_ipam_list_returns_entries_in_address_order(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
	cleanup_err struct err err = ERR_INIT;
	struct net_ipam_entry *v = NULL;
	char path[128];
	size_t n = 0;
	int fd;

	/* .10 sorts after .9 numerically, before it as text */
	for (int i = 0; i < 9; i++) {
		char owner[16];

		snprintf(owner, sizeof(owner), "o%d", i);
		alloc_expect(ipam, owner,
			     (const char *[]){"10.42.3.2", "10.42.3.3", "10.42.3.4", "10.42.3.5",
					      "10.42.3.6", "10.42.3.7", "10.42.3.8", "10.42.3.9",
					      "10.42.3.10"}[i]);
	}
	release_ok(ipam, "o3");
	/* a file outside the range is not an allocation */
	snprintf(path, sizeof(path), "%s/10.42.4.2", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x\n", 2), 2);
	close(fd);

	assert_int_equal(net_ipam_list(ipam, &v, &n, &err), 0);
	assert_int_equal(n, 8);
	assert_string_equal(v[0].ip, "10.42.3.2");
	assert_string_equal(v[0].owner, "o0");
	assert_string_equal(v[2].ip, "10.42.3.4");
	assert_string_equal(v[2].owner, "o2");
	assert_string_equal(v[3].ip, "10.42.3.6");
	assert_string_equal(v[6].ip, "10.42.3.9");
	assert_string_equal(v[7].ip, "10.42.3.10");
	assert_string_equal(v[7].owner, "o8");
	net_ipam_entries_free(v, n);
	net_ipam_free(ipam);
}

static void test_ipam_two_handles_never_share_an_address(void **state)
{
	struct ipam_fixture *f = *state;
	struct net_ipam *h1 = ipam_open_ok(f->dir, "10.42.3.0/24");
	struct net_ipam *h2 = ipam_open_ok(f->dir, "10.42.3.0/24");
	char ip[INET_ADDRSTRLEN];

	alloc_expect(h1, "a", "10.42.3.2");
	alloc_expect(h2, "b", "10.42.3.3");
	alloc_expect(h2, "a", "10.42.3.2");
	release_ok(h2, "a");
	assert_false(net_ipam_lookup(h1, "a", ip));
	alloc_expect(h1, "c", "10.42.3.4");
	net_ipam_free(h1);
	net_ipam_free(h2);
}

#define RACE_CHILDREN 3
#define RACE_OWNERS   60

/* Each child allocates with a handle of its own and reports "owner ip" lines. */
static void race_child(const char *dir, int id, int out)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_ipam *ipam = NULL;

	if (net_ipam_open(dir, "10.42.3.0/24", &ipam, &err) < 0)
		_exit(2);
	for (int i = 0; i < RACE_OWNERS; i++) {
		char owner[32], ip[INET_ADDRSTRLEN], line[64];
		int n;

		/* every child also asks for the shared owners, which must get one address */
		if (i % 10 == 0)
			snprintf(owner, sizeof(owner), "shared-%d", i);
		else
			snprintf(owner, sizeof(owner), "c%d-%d", id, i);
		if (net_ipam_alloc(ipam, owner, ip, &err) < 0)
			_exit(3);
		n = snprintf(line, sizeof(line), "%s %s\n", owner, ip);
		if (write(out, line, (size_t)n) != n)
			_exit(4);
	}
	net_ipam_free(ipam);
	_exit(0);
}

static void test_ipam_processes_racing_never_get_one_address(void **state)
{
	struct ipam_fixture *f = *state;
	char buf[RACE_CHILDREN * RACE_OWNERS * 64];
	char owners[256][32] = {{0}};
	size_t len = 0;
	pid_t pids[RACE_CHILDREN];
	int p[2];
	ssize_t n;
	int lines = 0;

	assert_int_equal(pipe(p), 0);
	for (int c = 0; c < RACE_CHILDREN; c++) {
		pids[c] = fork();
		assert_true(pids[c] >= 0);
		if (pids[c] == 0) {
			close(p[0]);
			race_child(f->dir, c, p[1]);
		}
	}
	close(p[1]);
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(p[0]);
	buf[len] = '\0';
	for (int c = 0; c < RACE_CHILDREN; c++) {
		int status;

		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char owner[32], ip[INET_ADDRSTRLEN];
		unsigned a, b, c, d;

		assert_int_equal(sscanf(line, "%31s %15s", owner, ip), 2);
		assert_int_equal(sscanf(ip, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
		assert_true(d >= 2 && d <= 254);
		/* one address, one owner: a shared owner is the only one seen twice */
		if (owners[d][0] && strcmp(owners[d], owner) != 0)
			fail_msg("%s given to both '%s' and '%s'", ip, owners[d], owner);
		snprintf(owners[d], sizeof(owners[d]), "%s", owner);
		lines++;
	}
	assert_int_equal(lines, RACE_CHILDREN * RACE_OWNERS);
	{
		cleanup_err struct err err = ERR_INIT;
		struct net_ipam *ipam = ipam_open_ok(f->dir, "10.42.3.0/24");
		struct net_ipam_entry *v = NULL;
		size_t count = 0;

		assert_int_equal(net_ipam_list(ipam, &v, &count, &err), 0);
		/* 6 shared owners once, plus 54 own owners per child */
		assert_int_equal(count, RACE_OWNERS / 10 + RACE_CHILDREN * (RACE_OWNERS - 6));
		net_ipam_entries_free(v, count);
		net_ipam_free(ipam);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Links, in namespaces of the test's own */

static const char *nl_skip_reason;
static char nl_dir[64];
static char pod1_ns[128];
static char pod2_ns[128];

#define BRIDGE   "skiff0"
#define POD_IP   "10.42.3.7"
#define POD_CIDR "10.42.3.7/24"
#define GATEWAY  "10.42.3.1"
#define POD_MAC  "0a:58:0a:2a:03:07"

static int ioctl_flags(const char *name, short set)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= set;
		r = set ? ioctl(fd, SIOCSIFFLAGS, &ifr) : ifr.ifr_flags;
	}
	close(fd);
	return r;
}

/* Binds a new network namespace at @path: enter one, bind it, come back. */
static int make_netns(const char *path)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int r = -1;

	if (self < 0 || fd < 0)
		goto out;
	if (unshare(CLONE_NEWNET) < 0)
		goto out;
	r = mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
out:
	if (self >= 0)
		close(self);
	if (fd >= 0)
		close(fd);
	return r;
}

static int nl_group_setup(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	if (geteuid() != 0) {
		nl_skip_reason = "netlink tests need root (they unshare network namespaces)";
		return 0;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		nl_skip_reason = "cannot unshare network and mount namespaces";
		return 0;
	}
	/* keep the bind mounts below out of the host's mount namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (net_nl_load(&err) < 0) {
		nl_skip_reason = "libnl-route-3 is not installed";
		return 0;
	}
	if (ioctl_flags("lo", IFF_UP) < 0)
		return -1;
	snprintf(nl_dir, sizeof(nl_dir), "/tmp/skiff-test-net-XXXXXX");
	if (!mkdtemp(nl_dir))
		return -1;
	if (mount("tmpfs", nl_dir, "tmpfs", 0, "size=1m") < 0)
		return -1;
	snprintf(pod1_ns, sizeof(pod1_ns), "%s/pod1", nl_dir);
	snprintf(pod2_ns, sizeof(pod2_ns), "%s/pod2", nl_dir);
	if (make_netns(pod1_ns) < 0 || make_netns(pod2_ns) < 0)
		return -1;
	return 0;
}

static int nl_group_teardown(void **state)
{
	(void)state;
	if (!nl_dir[0])
		return 0;
	umount2(pod1_ns, MNT_DETACH);
	umount2(pod2_ns, MNT_DETACH);
	umount2(nl_dir, MNT_DETACH);
	rmdir(nl_dir);
	return 0;
}

#define NL_REQUIRE()                                                                               \
	do {                                                                                       \
		if (nl_skip_reason) {                                                              \
			print_message("# skip: %s\n", nl_skip_reason);                             \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void must(int r, struct err *err, const char *what)
{
	if (r < 0)
		fail_msg("%s: %s", what, err->msg);
}

/* Runs @fn in a child inside network namespace @ns; returns its exit status. */
static int in_netns(const char *ns, int (*fn)(const void *), const void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open(ns, O_RDONLY | O_CLOEXEC);

		alarm(10);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(100);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* 0 when this namespace's /proc route table has @dst/@gw (hex as the kernel prints) on @dev. */
static int route_present(const char *dev, uint32_t dst, uint32_t gw)
{
	cleanup_fclose FILE *f = fopen("/proc/self/net/route", "re");
	char line[256];

	if (!f)
		return 10;
	while (fgets(line, sizeof(line), f)) {
		char iface[IFNAMSIZ + 1];
		unsigned d, g;

		if (sscanf(line, "%16s %x %x", iface, &d, &g) != 3)
			continue;
		if (d == htonl(dst) && g == htonl(gw) && (!dev || !strcmp(iface, dev)))
			return 0;
	}
	return 11;
}

static int ifaddr_of(const char *name, char ret[INET_ADDRSTRLEN])
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	r = ioctl(fd, SIOCGIFADDR, &ifr);
	close(fd);
	if (r < 0)
		return -1;
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr, ret, INET_ADDRSTRLEN);
	return 0;
}

/* Checks, from inside the pod, what net_pod_attach() promises. */
static int pod_check(const void *arg)
{
	const char *want_ip = arg;
	char ip[INET_ADDRSTRLEN];
	int flags;

	if (ifaddr_of("eth0", ip) < 0 || strcmp(ip, want_ip) != 0)
		return 1;
	flags = ioctl_flags("eth0", 0);
	if (flags < 0 || !(flags & IFF_UP))
		return 2;
	flags = ioctl_flags("lo", 0);
	if (flags < 0 || !(flags & IFF_UP))
		return 3;
	if (route_present("eth0", 0, 0x0a2a0301) != 0)
		return 4;
	return 0;
}

static int pod_has_no_eth0(const void *arg)
{
	(void)arg;
	return ioctl_flags("eth0", 0) < 0 ? 0 : 1;
}

static int pod_delete_default_route(const void *arg)
{
	cleanup_err struct err err = ERR_INIT;

	(void)arg;
	if (net_route_delete("0.0.0.0/0", &err) < 0)
		return 1;
	return route_present("eth0", 0, 0x0a2a0301) == 0 ? 2 : 0;
}

static struct net_pod_attach pod_attach(const char *ns, const char *veth)
{
	return (struct net_pod_attach){
		.bridge = BRIDGE,
		.host_veth = veth,
		.netns = ns,
		.ifname = "eth0",
		.ip_cidr = POD_CIDR,
		.gateway = GATEWAY,
		.mac = POD_MAC,
	};
}

static void bridge_ok(void)
{
	cleanup_err struct err err = ERR_INIT;

	must(net_bridge_ensure(BRIDGE, GATEWAY "/24", 0, &err), &err, "ensure bridge");
}

static void test_bridge_ensure_creates_an_addressed_bridge_that_is_up(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_link_info info;
	char ip[INET_ADDRSTRLEN];

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_link_get(NULL, BRIDGE, &info, &err), &err, "read bridge");
	assert_string_equal(info.kind, "bridge");
	assert_true(info.up);
	assert_string_equal(info.ipv4, "10.42.3.1/24");
	assert_int_equal(info.n_ipv4, 1);
	/* seen from outside the module too */
	assert_int_equal(ifaddr_of(BRIDGE, ip), 0);
	assert_string_equal(ip, "10.42.3.1");
	assert_true(ioctl_flags(BRIDGE, 0) & IFF_UP);
	assert_int_equal(route_present(BRIDGE, 0x0a2a0300, 0), 0);

	/* idempotent, and a different address replaces the old one */
	bridge_ok();
	must(net_bridge_ensure(BRIDGE, "10.42.5.1/24", 1400, &err), &err, "re-address bridge");
	must(net_link_get(NULL, BRIDGE, &info, &err), &err, "read bridge");
	assert_string_equal(info.ipv4, "10.42.5.1/24");
	assert_int_equal(info.n_ipv4, 1);
	assert_int_equal(info.mtu, 1400);
	must(net_bridge_ensure(BRIDGE, GATEWAY "/24", 1500, &err), &err, "re-address bridge");
	must(net_link_get(NULL, BRIDGE, &info, &err), &err, "read bridge");
	assert_string_equal(info.ipv4, "10.42.3.1/24");
	assert_int_equal(info.n_ipv4, 1);
}

static void test_bridge_ensure_rejects_bad_input_and_foreign_links(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	NL_REQUIRE();
	assert_int_equal(net_bridge_ensure("lo", GATEWAY "/24", 0, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "ensure bridge 'lo'"));
	err_clear(&err);
	assert_int_equal(net_bridge_ensure("a-name-that-is-too-long", GATEWAY "/24", 0, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "want 1 to 15 characters"));
	err_clear(&err);
	assert_int_equal(net_bridge_ensure("br1", "10.42.3.1", 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing '/<prefix length>'"));
	assert_false(net_link_exists(NULL, "br1"));
}

static void test_pod_attach_wires_the_pod_to_the_bridge(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_pod_attach a = pod_attach(pod1_ns, "veth0a1b2c3d");
	struct net_link_info host, pod;

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_pod_attach(&a, &err), &err, "attach");
	must(net_link_get(NULL, "veth0a1b2c3d", &host, &err), &err, "read host veth");
	assert_string_equal(host.kind, "veth");
	assert_string_equal(host.master, BRIDGE);
	assert_true(host.up);
	assert_int_equal(host.mtu, 1500);
	must(net_link_get(pod1_ns, "eth0", &pod, &err), &err, "read pod eth0");
	assert_string_equal(pod.ipv4, POD_CIDR);
	assert_string_equal(pod.mac, POD_MAC);
	assert_true(pod.up);
	assert_false(net_link_exists(NULL, "eth0") && net_link_exists(pod1_ns, "veth0a1b2c3d"));
	assert_int_equal(in_netns(pod1_ns, pod_check, POD_IP), 0);
}

static int pod_serve(const void *arg)
{
	const int *ready = arg;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
	struct pollfd pfd;
	int s, c;

	inet_pton(AF_INET, POD_IP, &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
		return 1;
	if (write(ready[1], "r", 1) != 1)
		return 2;
	pfd = (struct pollfd){.fd = s, .events = POLLIN};
	if (poll(&pfd, 1, 5000) != 1)
		return 3;
	c = accept(s, NULL, NULL);
	if (c < 0 || write(c, "pong", 4) != 4)
		return 4;
	close(c);
	close(s);
	return 0;
}

static void test_pod_is_reachable_over_the_bridge(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_pod_attach a = pod_attach(pod1_ns, "veth0a1b2c3d");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(8080)};
	char buf[8] = "";
	int ready[2];
	pid_t pid;
	int status;
	int s;

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_pod_attach(&a, &err), &err, "attach");
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(pod1_ns, O_RDONLY | O_CLOEXEC);

		alarm(10);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(100);
		_exit(pod_serve(ready));
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], buf, 1), 1);
	close(ready[0]);

	inet_pton(AF_INET, POD_IP, &sa.sin_addr);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect to %s:8080 from the host side: %s", POD_IP, strerror(errno));
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(s, buf, sizeof(buf) - 1), 4);
	assert_string_equal(buf, "pong");
	close(s);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_pod_attach_is_idempotent_and_repairs(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_pod_attach a = pod_attach(pod1_ns, "veth0a1b2c3d");
	struct net_link_info before, after;

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_pod_attach(&a, &err), &err, "attach");
	must(net_link_get(NULL, "veth0a1b2c3d", &before, &err), &err, "read host veth");
	must(net_pod_attach(&a, &err), &err, "attach again");
	must(net_link_get(NULL, "veth0a1b2c3d", &after, &err), &err, "read host veth");
	/* the same pair, not a new one */
	assert_int_equal(after.ifindex, before.ifindex);

	/* lost configuration is put back on the existing pair */
	assert_int_equal(in_netns(pod1_ns, pod_delete_default_route, NULL), 0);
	must(net_pod_attach(&a, &err), &err, "attach after losing the route");
	must(net_link_get(NULL, "veth0a1b2c3d", &after, &err), &err, "read host veth");
	assert_int_equal(after.ifindex, before.ifindex);
	assert_int_equal(in_netns(pod1_ns, pod_check, POD_IP), 0);

	/* a host veth paired with another namespace is made again for this one */
	a.netns = pod2_ns;
	must(net_pod_attach(&a, &err), &err, "attach to the second pod");
	must(net_link_get(NULL, "veth0a1b2c3d", &after, &err), &err, "read host veth");
	assert_int_not_equal(after.ifindex, before.ifindex);
	assert_string_equal(after.master, BRIDGE);
	assert_int_equal(in_netns(pod2_ns, pod_check, POD_IP), 0);
	assert_int_equal(in_netns(pod1_ns, pod_has_no_eth0, NULL), 0);

	/* a different MAC asked for: the pair is remade with it */
	a.mac = "0a:58:0a:2a:03:99";
	must(net_pod_attach(&a, &err), &err, "attach with a new MAC");
	must(net_link_get(pod2_ns, "eth0", &after, &err), &err, "read pod eth0");
	assert_string_equal(after.mac, "0a:58:0a:2a:03:99");
	must(net_pod_detach("veth0a1b2c3d", &err), &err, "detach");
}

static void test_pod_detach_removes_both_ends(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_pod_attach a = pod_attach(pod1_ns, "veth0a1b2c3d");

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_pod_attach(&a, &err), &err, "attach");
	assert_true(net_link_exists(NULL, "veth0a1b2c3d"));
	assert_true(net_link_exists(pod1_ns, "eth0"));
	must(net_pod_detach("veth0a1b2c3d", &err), &err, "detach");
	assert_false(net_link_exists(NULL, "veth0a1b2c3d"));
	assert_false(net_link_exists(pod1_ns, "eth0"));
	assert_int_equal(in_netns(pod1_ns, pod_has_no_eth0, NULL), 0);
	/* absent is fine */
	must(net_pod_detach("veth0a1b2c3d", &err), &err, "detach again");
	must(net_link_delete(pod1_ns, "eth0", &err), &err, "delete absent link");
}

static void test_pod_attach_rejects_bad_fields_and_leaves_nothing(void **state)
{
	static const struct {
		const char *field;
		const char *value;
		int code;
		const char *msg;
	} cases[] = {
		{"host_veth", "veth-name-too-long", EINVAL, "host veth name 'veth-name-too-long'"},
		{"host_veth", BRIDGE, EEXIST, "link 'skiff0' exists and is not a veth"},
		{"ifname", "lo", EINVAL, "pod interface name 'lo'"},
		{"ifname", "eth/0", EINVAL, "'/' is not allowed"},
		{"ip_cidr", "10.42.3.7", EINVAL, "pod address: parse CIDR '10.42.3.7'"},
		{"gateway", "10.42.4.1", EINVAL, "gateway '10.42.4.1' is outside"},
		{"gateway", "gw", EINVAL, "gateway 'gw' is not an IPv4 address"},
		{"gateway", POD_IP, EINVAL, "pod address '10.42.3.7/24' is the gateway's"},
		{"mac", "0a:58:0a:2a:03", EINVAL, "MAC address '0a:58:0a:2a:03'"},
		{"mac", "01:00:5e:00:00:01", EINVAL, "not multicast"},
		{"bridge", "nobridge", ENODEV, "bridge 'nobridge' does not exist"},
		{"bridge", "lo", EINVAL, "link 'lo' is not a bridge"},
		{"netns", "/nonexistent/ns/net", ENOENT, "open network namespace"},
	};

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		struct net_pod_attach a = pod_attach(pod1_ns, "vethbad");

		if (!strcmp(cases[i].field, "host_veth"))
			a.host_veth = cases[i].value;
		else if (!strcmp(cases[i].field, "ifname"))
			a.ifname = cases[i].value;
		else if (!strcmp(cases[i].field, "ip_cidr"))
			a.ip_cidr = cases[i].value;
		else if (!strcmp(cases[i].field, "gateway"))
			a.gateway = cases[i].value;
		else if (!strcmp(cases[i].field, "mac"))
			a.mac = cases[i].value;
		else if (!strcmp(cases[i].field, "bridge"))
			a.bridge = cases[i].value;
		else
			a.netns = cases[i].value;
		assert_int_equal(net_pod_attach(&a, &err), -cases[i].code);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: error '%s', want '%s'", i, err.msg, cases[i].msg);
		assert_non_null(strstr(err.msg, "attach pod network namespace"));
		assert_false(net_link_exists(NULL, "vethbad"));
	}
	assert_int_equal(in_netns(pod1_ns, pod_has_no_eth0, NULL), 0);
	assert_true(net_link_exists(NULL, BRIDGE));
}

static void test_routes_are_replaced_and_deleted(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	NL_REQUIRE();
	bridge_ok();
	must(net_route_replace("10.42.7.0/24", "10.42.3.9", NULL, &err), &err, "add route");
	assert_int_equal(route_present(BRIDGE, 0x0a2a0700, 0x0a2a0309), 0);
	must(net_route_replace("10.42.7.0/24", "10.42.3.10", BRIDGE, &err), &err, "replace");
	assert_int_equal(route_present(BRIDGE, 0x0a2a0700, 0x0a2a030a), 0);
	assert_int_not_equal(route_present(BRIDGE, 0x0a2a0700, 0x0a2a0309), 0);
	must(net_route_replace("10.42.8.0/24", NULL, BRIDGE, &err), &err, "device route");
	assert_int_equal(route_present(BRIDGE, 0x0a2a0800, 0), 0);

	must(net_route_delete("10.42.7.0/24", &err), &err, "delete route");
	assert_int_not_equal(route_present(NULL, 0x0a2a0700, 0x0a2a030a), 0);
	must(net_route_delete("10.42.7.0/24", &err), &err, "delete absent route");
	must(net_route_delete("10.42.8.0/24", &err), &err, "delete device route");
	assert_int_not_equal(route_present(NULL, 0x0a2a0800, 0), 0);
	/* the bridge's own subnet route is another prefix and stays */
	assert_int_equal(route_present(BRIDGE, 0x0a2a0300, 0), 0);

	assert_int_equal(net_route_replace("10.42.7.1/24", "10.42.3.9", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "route '10.42.7.1/24': route destination"));
	err_clear(&err);
	assert_int_equal(net_route_replace("10.42.7.0/24", NULL, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "neither a gateway nor a device"));
	err_clear(&err);
	assert_int_equal(net_route_replace("10.42.7.0/24", "ten", NULL, &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(net_route_replace("10.42.7.0/24", NULL, "nodev0", &err), -ENODEV);
	assert_non_null(strstr(err.msg, "link 'nodev0' does not exist"));
}

static void test_link_delete_and_exists(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	NL_REQUIRE();
	must(net_bridge_ensure("skifftmp", "10.99.0.1/24", 0, &err), &err, "ensure bridge");
	assert_true(net_link_exists(NULL, "skifftmp"));
	assert_false(net_link_exists(pod1_ns, "skifftmp"));
	must(net_link_delete(NULL, "skifftmp", &err), &err, "delete");
	assert_false(net_link_exists(NULL, "skifftmp"));
	must(net_link_delete(NULL, "skifftmp", &err), &err, "delete absent");
	assert_int_equal(net_link_get(NULL, "skifftmp", &(struct net_link_info){0}, &err), -ENODEV);
	err_clear(&err);
	assert_int_equal(net_link_delete("/nonexistent", "x", &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_cidr_parse_reads_address_and_prefix),
		cmocka_unit_test(test_cidr_parse_rejects_malformed_values_naming_them),
		cmocka_unit_test(test_cidr_gateway_is_the_first_host),
		cmocka_unit_test(test_cidr_contains_checks_the_network_bits),
		cmocka_unit_test_setup_teardown(test_ipam_open_rejects_bad_cidrs, ipam_setup,
						ipam_teardown),
		cmocka_unit_test_setup_teardown(
			test_ipam_skips_network_gateway_and_broadcast_until_full, ipam_setup,
			ipam_teardown),
		cmocka_unit_test_setup_teardown(
			test_ipam_allocates_round_robin_and_does_not_reuse_at_once, ipam_setup,
			ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_alloc_is_idempotent_and_lookup_finds_it,
						ipam_setup, ipam_teardown),
		cmocka_unit_test_setup_teardown(
			test_ipam_release_frees_and_tolerates_unknown_owners, ipam_setup,
			ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_allocations_survive_reopen, ipam_setup,
						ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_reclaims_an_entry_left_empty_by_a_crash,
						ipam_setup, ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_list_returns_entries_in_address_order,
						ipam_setup, ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_two_handles_never_share_an_address,
						ipam_setup, ipam_teardown),
		cmocka_unit_test_setup_teardown(test_ipam_processes_racing_never_get_one_address,
						ipam_setup, ipam_teardown),
	};
	const struct CMUnitTest links[] = {
		cmocka_unit_test(test_bridge_ensure_creates_an_addressed_bridge_that_is_up),
		cmocka_unit_test(test_bridge_ensure_rejects_bad_input_and_foreign_links),
		cmocka_unit_test(test_pod_attach_wires_the_pod_to_the_bridge),
		cmocka_unit_test(test_pod_is_reachable_over_the_bridge),
		cmocka_unit_test(test_pod_attach_is_idempotent_and_repairs),
		cmocka_unit_test(test_pod_detach_removes_both_ends),
		cmocka_unit_test(test_pod_attach_rejects_bad_fields_and_leaves_nothing),
		cmocka_unit_test(test_routes_are_replaced_and_deleted),
		cmocka_unit_test(test_link_delete_and_exists),
	};
	int r = cmocka_run_group_tests_name("net", pure, NULL, NULL);

	return r |
	       cmocka_run_group_tests_name("net_links", links, nl_group_setup, nl_group_teardown);
}
