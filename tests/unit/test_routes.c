/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of routes between nodes (cluster/net routes.c, vxlan.c, nodenet.c): peers
 * from Node objects and the annotations published, then, as root and inside network
 * namespaces the test makes for itself, direct routes, the VXLAN device with its
 * neighbours and FDB, the masquerade table, real traffic between two "nodes" (each a
 * namespace with a bridge and a pod namespace behind it, joined by a LAN bridge in the
 * test's own namespace), and the controller following Nodes of an in-process API server.
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"
#include "cluster/net/net.h"
#include "cluster/net/nodenet.h"

#define CLUSTER "10.42.0.0/16"
#define SERVICE "10.43.0.0/16"
#define LAN     "lan0"
#define LAN_GW  "192.168.77.100"
#define A_IP    "192.168.77.1"
#define B_IP    "192.168.77.2"
#define C_IP    "192.168.77.3"
#define A_CIDR  "10.42.1.0/24"
#define B_CIDR  "10.42.2.0/24"
#define C_CIDR  "10.42.3.0/24"
#define B_MAC   "0e:73:c0:a8:4d:02"
#define C_MAC   "0e:73:c0:a8:4d:03"
#define TABLE   "skiff-test-nat"
#define TOKEN   "test-admin-token"

static void must(int r, struct err *err, const char *what)
{
	if (r < 0)
		fail_msg("%s: %s", what, err->msg);
}

static json_t *J(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, jerr.text);
	return j;
}

/* A Node with the fields the routes look at; NULL leaves one out. */
static json_t *node_json(const char *name, const char *cidr, const char *ip, const char *mac,
			 const char *public_ip)
{
	json_t *n = json_pack("{s:s, s:s, s:{s:s, s:{}}, s:{}, s:{s:[]}}", "apiVersion", "v1",
			      "kind", "Node", "metadata", "name", name, "annotations", "spec",
			      "status", "addresses");
	json_t *ann = json_object_get(json_object_get(n, "metadata"), "annotations");

	if (cidr)
		json_object_set_new(json_object_get(n, "spec"), "podCIDR", json_string(cidr));
	if (ip)
		json_array_append_new(json_object_get(json_object_get(n, "status"), "addresses"),
				      json_pack("{s:s, s:s}", "type", "InternalIP", "address", ip));
	json_array_append_new(json_object_get(json_object_get(n, "status"), "addresses"),
			      json_pack("{s:s, s:s}", "type", "Hostname", "address", name));
	if (mac)
		json_object_set_new(ann, NODENET_ANN_VXLAN_MAC, json_string(mac));
	if (public_ip)
		json_object_set_new(ann, NODENET_ANN_PUBLIC_IP, json_string(public_ip));
	return n;
}

static struct nodenet_config node_cfg(const char *mode, const char *ip, const char *cidr)
{
	return (struct nodenet_config){
		.node_name = "node-a",
		.node_ip = ip,
		.pod_cidr = cidr,
		.cluster_cidr = CLUSTER,
		.service_cidr = SERVICE,
		.mode = mode,
		.nft_table = TABLE,
	};
}

/* ------------------------------------------------------------------------------------------ */
/* Peers from Nodes */

static void test_peers_are_the_other_complete_nodes_in_the_cluster(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct nodenet_config cfg = node_cfg("direct", A_IP, A_CIDR);
	cleanup_json json_t *nodes = json_array();
	cleanup_free struct net_peer *peers = NULL;
	size_t n = 99;

	(void)state;
	json_array_append_new(nodes, node_json("node-a", A_CIDR, A_IP, NULL, NULL));
	json_array_append_new(nodes, node_json("node-c", C_CIDR, C_IP, NULL, NULL));
	json_array_append_new(nodes, node_json("node-b", B_CIDR, B_IP, NULL, NULL));
	/* left out: no CIDR, no address, a CIDR outside the cluster (it would take over
	 * the default route), one overlapping ours, an address inside the pod network,
	 * host bits, IPv6, and a second claim of node-b's CIDR by a later name */
	json_array_append_new(nodes, node_json("node-d", NULL, "192.168.77.4", NULL, NULL));
	json_array_append_new(nodes, node_json("node-e", "10.42.5.0/24", NULL, NULL, NULL));
	json_array_append_new(nodes, node_json("node-f", "0.0.0.0/0", "192.168.77.6", NULL, NULL));
	json_array_append_new(nodes,
			      node_json("node-g", "10.42.0.0/20", "192.168.77.7", NULL, NULL));
	json_array_append_new(nodes, node_json("node-h", "10.42.8.0/24", "10.42.9.9", NULL, NULL));
	json_array_append_new(nodes,
			      node_json("node-i", "10.42.9.1/24", "192.168.77.9", NULL, NULL));
	json_array_append_new(nodes, node_json("node-j", "fd00::/64", "192.168.77.10", NULL, NULL));
	json_array_append_new(nodes, node_json("node-z", B_CIDR, "192.168.77.26", NULL, NULL));
	json_array_append_new(nodes, node_json("node-k", "10.42.11.0/24", "fd00::1", NULL, NULL));

	must(nodenet_peers(&cfg, nodes, &peers, &n, &err), &err, "peers");
	assert_int_equal(n, 2);
	assert_string_equal(peers[0].pod_cidr, B_CIDR);
	assert_string_equal(peers[0].ip, B_IP);
	assert_string_equal(peers[0].mac, "");
	assert_string_equal(peers[1].pod_cidr, C_CIDR);
	assert_string_equal(peers[1].ip, C_IP);
}

static void test_vxlan_peers_need_a_mac_and_prefer_the_public_ip(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct nodenet_config cfg = node_cfg("vxlan", A_IP, A_CIDR);
	cleanup_json json_t *nodes = json_array();
	cleanup_free struct net_peer *peers = NULL;
	size_t n = 0;

	(void)state;
	json_array_append_new(nodes, node_json("node-b", B_CIDR, "172.16.0.2", B_MAC, B_IP));
	json_array_append_new(nodes, node_json("node-c", C_CIDR, C_IP, C_MAC, NULL));
	json_array_append_new(nodes,
			      node_json("node-d", "10.42.4.0/24", "192.168.77.4", NULL, NULL));
	must(nodenet_peers(&cfg, nodes, &peers, &n, &err), &err, "peers");
	assert_int_equal(n, 2);
	assert_string_equal(peers[0].ip, B_IP);
	assert_string_equal(peers[0].mac, B_MAC);
	assert_string_equal(peers[1].ip, C_IP);
	assert_string_equal(peers[1].mac, C_MAC);
}

static void test_node_patch_publishes_the_mac_only_in_vxlan_mode(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct nodenet_config cfg = node_cfg("vxlan", A_IP, A_CIDR);
	cleanup_json json_t *p = NULL;
	cleanup_json json_t *want = NULL;
	char mac[NET_MAC_STRLEN];

	(void)state;
	must(net_vxlan_mac(A_IP, mac, &err), &err, "mac");
	assert_string_equal(mac, "0e:73:c0:a8:4d:01");
	must(nodenet_node_patch(&cfg, &p, &err), &err, "patch");
	want = J("{\"metadata\": {\"annotations\": {\"skiff.io/public-ip\": \"192.168.77.1\", "
		 "\"skiff.io/vxlan-mac\": \"0e:73:c0:a8:4d:01\"}}}");
	assert_true(json_equal(p, want));
	json_decref(p);
	json_decref(want);
	cfg.mode = "direct";
	must(nodenet_node_patch(&cfg, &p, &err), &err, "patch");
	want = J("{\"metadata\": {\"annotations\": {\"skiff.io/public-ip\": \"192.168.77.1\", "
		 "\"skiff.io/vxlan-mac\": null}}}");
	assert_true(json_equal(p, want));
}

static void test_bad_configuration_is_named(void **state)
{
	static const struct {
		const char *field, *value, *msg;
	} cases[] = {
		{"mode", "host-gw", "network mode 'host-gw': want 'direct' or 'vxlan'"},
		{"node_ip", "node-a", "node address 'node-a' is not an IPv4 address"},
		{"node_ip", NULL, "node address '' is not an IPv4 address"},
		{"pod_cidr", "10.42.1.0", "pod CIDR: parse CIDR '10.42.1.0'"},
		{"pod_cidr", "10.42.1.1/24", "pod CIDR '10.42.1.1/24' has host bits set"},
		{"pod_cidr", "10.99.1.0/24", "pod CIDR '10.99.1.0/24' is not inside the cluster"},
		{"cluster_cidr", "10.42.0.1/16", "cluster CIDR '10.42.0.1/16' has host bits set"},
		{"service_cidr", "ten", "service CIDR: parse CIDR 'ten'"},
		{"node_name", "", "node name '': want 1 to 253 characters"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_err struct err err = ERR_INIT;
		struct nodenet_config cfg = node_cfg("direct", A_IP, A_CIDR);
		struct net_peer *peers = NULL;
		size_t n = 0;

		if (!strcmp(cases[i].field, "mode"))
			cfg.mode = cases[i].value;
		else if (!strcmp(cases[i].field, "node_ip"))
			cfg.node_ip = cases[i].value;
		else if (!strcmp(cases[i].field, "pod_cidr"))
			cfg.pod_cidr = cases[i].value;
		else if (!strcmp(cases[i].field, "cluster_cidr"))
			cfg.cluster_cidr = cases[i].value;
		else if (!strcmp(cases[i].field, "service_cidr"))
			cfg.service_cidr = cases[i].value;
		else
			cfg.node_name = cases[i].value;
		assert_int_equal(nodenet_peers(&cfg, NULL, &peers, &n, &err), -EINVAL);
		assert_null(peers);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: error '%s', want '%s'", i, err.msg, cases[i].msg);
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Kernel state, in namespaces of the test's own */

static const char *skip_reason;
static char ns_dir[64];
static char a_ns[96], b_ns[96], pa_ns[96], pb_ns[96];
static int root_ns = -1;

#define REQUIRE()                                                                                  \
	do {                                                                                       \
		if (skip_reason) {                                                                 \
			print_message("# skip: %s\n", skip_reason);                                \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static int ioctl_up(const char *name)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = -1;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

static int make_netns(const char *path)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int r = -1;

	if (self < 0 || fd < 0)
		goto out;
	if (unshare(CLONE_NEWNET) < 0)
		goto out;
	r = mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL);
	if (setns(self, CLONE_NEWNET) < 0)
		abort();
out:
	if (self >= 0)
		close(self);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Moves the calling (main) thread into @ns; NULL: back to the test's namespace. */
static void enter(const char *ns)
{
	int fd = ns ? open(ns, O_RDONLY | O_CLOEXEC) : root_ns;

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		fail_msg("enter network namespace '%s': %s", ns ? ns : "(test)", strerror(errno));
	if (ns)
		close(fd);
}

static int kernel_setup(void **state)
{
	cleanup_err struct err err = ERR_INIT;

	(void)state;
	if (geteuid() != 0) {
		skip_reason = "routing tests need root (they unshare network namespaces)";
		return 0;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		skip_reason = "cannot unshare network and mount namespaces";
		return 0;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	if (net_nl_load(&err) < 0) {
		skip_reason = "libnl-route-3 is not installed";
		return 0;
	}
	if (ioctl_up("lo") < 0)
		return -1;
	root_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	snprintf(ns_dir, sizeof(ns_dir), "/tmp/skiff-test-routes-XXXXXX");
	if (root_ns < 0 || !mkdtemp(ns_dir))
		return -1;
	if (mount("tmpfs", ns_dir, "tmpfs", 0, "size=1m") < 0)
		return -1;
	snprintf(a_ns, sizeof(a_ns), "%s/node-a", ns_dir);
	snprintf(b_ns, sizeof(b_ns), "%s/node-b", ns_dir);
	snprintf(pa_ns, sizeof(pa_ns), "%s/pod-a", ns_dir);
	snprintf(pb_ns, sizeof(pb_ns), "%s/pod-b", ns_dir);
	if (make_netns(a_ns) < 0 || make_netns(b_ns) < 0 || make_netns(pa_ns) < 0 ||
	    make_netns(pb_ns) < 0)
		return -1;
	/* the shared link of the nodes, and the "outside" host at its .100 */
	if (net_bridge_ensure(LAN, LAN_GW "/24", 1500, &err) < 0) {
		print_error("%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int kernel_teardown(void **state)
{
	(void)state;
	if (!ns_dir[0])
		return 0;
	umount2(a_ns, MNT_DETACH);
	umount2(b_ns, MNT_DETACH);
	umount2(pa_ns, MNT_DETACH);
	umount2(pb_ns, MNT_DETACH);
	umount2(ns_dir, MNT_DETACH);
	rmdir(ns_dir);
	if (root_ns >= 0)
		close(root_ns);
	return 0;
}

/* The output of a shell command run in the caller's namespace. */
static char *run(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char *out = xcalloc(1, 8192);
	size_t n = 0, r;

	if (!f)
		fail_msg("run '%s': %s", cmd, strerror(errno));
	while (n < 8191 && (r = fread(out + n, 1, 8191 - n, f)) > 0)
		n += r;
	pclose(f);
	return out;
}

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("want '%s' in:\n%s", want, text);
}

static void assert_lacks(const char *text, const char *bad)
{
	if (strstr(text, bad))
		fail_msg("do not want '%s' in:\n%s", bad, text);
}

static struct net_overlay overlay(enum net_overlay_mode mode, const char *ip, const char *cidr)
{
	return (struct net_overlay){
		.mode = mode,
		.node_ip = ip,
		.pod_cidr = cidr,
		.cluster_cidr = CLUSTER,
		.service_cidr = SERVICE,
		.nft_table = TABLE,
	};
}

static struct net_peer peer(const char *cidr, const char *ip, const char *mac)
{
	struct net_peer p;

	memset(&p, 0, sizeof(p));
	snprintf(p.pod_cidr, sizeof(p.pod_cidr), "%s", cidr);
	snprintf(p.ip, sizeof(p.ip), "%s", ip);
	snprintf(p.mac, sizeof(p.mac), "%s", mac ? mac : "");
	return p;
}

static void cleanup_ok(const struct net_overlay *o)
{
	cleanup_err struct err err = ERR_INIT;

	must(net_overlay_cleanup(o, &err), &err, "clean up");
}

static void test_direct_routes_follow_the_peers_and_come_back(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_overlay o = overlay(NET_OVERLAY_DIRECT, LAN_GW, A_CIDR);
	struct net_peer peers[] = {peer(B_CIDR, B_IP, NULL), peer(C_CIDR, C_IP, NULL)};
	cleanup_free struct net_peer_route *v = NULL;
	cleanup_free char *out = NULL;
	size_t n = 0;

	(void)state;
	REQUIRE();
	/* someone else's route in the pod network: never ours to touch */
	must(net_route_replace("10.42.99.0/24", "192.168.77.99", NULL, &err), &err, "foreign");
	must(net_overlay_apply(&o, peers, 2, &err), &err, "apply");
	must(net_peer_route_list(&v, &n, &err), &err, "list");
	assert_int_equal(n, 2);
	assert_string_equal(v[0].dst, B_CIDR);
	assert_string_equal(v[0].via, B_IP);
	assert_string_equal(v[0].dev, LAN);
	assert_false(v[0].onlink);
	out = run("ip route show proto 83");
	assert_has(out, "10.42.2.0/24 via 192.168.77.2 dev lan0");
	assert_has(out, "10.42.3.0/24 via 192.168.77.3 dev lan0");
	free(out);

	/* a node goes: its route goes; a deleted route comes back; an address changes */
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply one");
	must(net_route_delete(B_CIDR, &err), &err, "delete by hand");
	peers[0] = peer(B_CIDR, "192.168.77.12", NULL);
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply again");
	out = run("ip route show proto 83");
	assert_has(out, "10.42.2.0/24 via 192.168.77.12 dev lan0");
	assert_lacks(out, "10.42.3.0/24");
	free(out);
	out = run("ip route show 10.42.99.0/24");
	assert_has(out, "via 192.168.77.99");

	/* a peer off the shared link cannot be routed to directly: said, others still made */
	peers[1] = peer(C_CIDR, "172.31.0.3", NULL);
	assert_true(net_overlay_apply(&o, peers, 2, &err) < 0);
	assert_has(err.msg, "route '10.42.3.0/24' via '172.31.0.3'");
	err_clear(&err);
	free(out);
	out = run("ip route show proto 83");
	assert_has(out, "10.42.2.0/24 via 192.168.77.12");

	/* bad peers are refused before anything is touched */
	peers[1] = peer("0.0.0.0/0", C_IP, NULL);
	assert_int_equal(net_overlay_apply(&o, peers, 2, &err), -EINVAL);
	assert_has(err.msg, "peer 1: pod CIDR '0.0.0.0/0' is not inside the cluster CIDR");
	err_clear(&err);
	peers[1] = peer("10.42.1.128/25", C_IP, NULL);
	assert_int_equal(net_overlay_apply(&o, peers, 2, &err), -EINVAL);
	assert_has(err.msg, "overlaps this node's '10.42.1.0/24'");
	err_clear(&err);

	cleanup_ok(&o);
	free(out);
	out = run("ip route show proto 83");
	assert_string_equal(out, "");
	must(net_route_delete("10.42.99.0/24", &err), &err, "delete foreign");
}

static void test_vxlan_device_neighbours_fdb_and_routes_follow_the_peers(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_overlay o = overlay(NET_OVERLAY_VXLAN, LAN_GW, A_CIDR);
	struct net_peer peers[] = {peer(B_CIDR, B_IP, B_MAC), peer(C_CIDR, C_IP, C_MAC)};
	cleanup_free struct net_vxlan_entry *neigh = NULL;
	cleanup_free struct net_vxlan_entry *fdb = NULL;
	struct net_link_info info;
	size_t nn = 0, nf = 0;
	char *out;
	int ifindex;

	(void)state;
	REQUIRE();
	must(net_overlay_apply(&o, peers, 2, &err), &err, "apply");
	must(net_link_get(NULL, NET_VXLAN_DEV, &info, &err), &err, "read device");
	assert_string_equal(info.kind, "vxlan");
	assert_true(info.up);
	assert_int_equal(info.mtu, 1450);
	assert_string_equal(info.mac, "0e:73:c0:a8:4d:64");
	assert_string_equal(info.ipv4, "10.42.1.0/32");
	assert_int_equal(info.n_ipv4, 1);
	ifindex = info.ifindex;
	out = run("ip -d link show skiff.vxlan");
	assert_has(out, "vxlan id 1 local 192.168.77.100");
	assert_has(out, "dstport 8472");
	assert_has(out, "nolearning");
	free(out);

	must(net_vxlan_list(NET_VXLAN_DEV, &neigh, &nn, &fdb, &nf, &err), &err, "list");
	assert_int_equal(nn, 2);
	assert_int_equal(nf, 2);
	out = run("ip neigh show dev skiff.vxlan");
	assert_has(out, "10.42.2.0 lladdr 0e:73:c0:a8:4d:02 PERMANENT");
	assert_has(out, "10.42.3.0 lladdr 0e:73:c0:a8:4d:03 PERMANENT");
	free(out);
	out = run("bridge fdb show dev skiff.vxlan");
	assert_has(out, "0e:73:c0:a8:4d:02 dst 192.168.77.2 self permanent");
	assert_has(out, "0e:73:c0:a8:4d:03 dst 192.168.77.3 self permanent");
	free(out);
	out = run("ip route show proto 83");
	assert_has(out, "10.42.2.0/24 via 10.42.2.0 dev skiff.vxlan onlink");
	assert_has(out, "10.42.3.0/24 via 10.42.3.0 dev skiff.vxlan onlink");
	free(out);

	/* node-c goes, node-b moves to another address with a new MAC */
	peers[0] = peer(B_CIDR, "192.168.77.22", "0e:73:c0:a8:4d:16");
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply one");
	out = run("ip neigh show dev skiff.vxlan");
	assert_has(out, "10.42.2.0 lladdr 0e:73:c0:a8:4d:16 PERMANENT");
	assert_lacks(out, "10.42.3.0");
	free(out);
	out = run("bridge fdb show dev skiff.vxlan");
	assert_has(out, "0e:73:c0:a8:4d:16 dst 192.168.77.22 self permanent");
	assert_lacks(out, "0e:73:c0:a8:4d:02");
	assert_lacks(out, "0e:73:c0:a8:4d:03");
	free(out);
	out = run("ip route show proto 83");
	assert_lacks(out, "10.42.3.0/24");
	free(out);

	/* the same again changes nothing: the device is not made anew */
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply again");
	must(net_link_get(NULL, NET_VXLAN_DEV, &info, &err), &err, "read device");
	assert_int_equal(info.ifindex, ifindex);

	/* a device made with another port is replaced */
	o.vxlan_port = 4789;
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply with port 4789");
	out = run("ip -d link show skiff.vxlan");
	assert_has(out, "dstport 4789");
	free(out);
	out = run("bridge fdb show dev skiff.vxlan");
	assert_has(out, "0e:73:c0:a8:4d:16 dst 192.168.77.22 self permanent");
	free(out);

	/* switching to direct mode removes the device and routes directly */
	o.mode = NET_OVERLAY_DIRECT;
	peers[0] = peer(B_CIDR, B_IP, NULL);
	must(net_overlay_apply(&o, peers, 1, &err), &err, "apply direct");
	assert_false(net_link_exists(NULL, NET_VXLAN_DEV));
	out = run("ip route show proto 83");
	assert_has(out, "10.42.2.0/24 via 192.168.77.2 dev lan0");
	free(out);

	/* a foreign link with the device's name is not taken over */
	must(net_bridge_ensure("skiff.vxlan", "10.99.0.1/24", 0, &err), &err, "foreign link");
	o.mode = NET_OVERLAY_VXLAN;
	peers[0] = peer(B_CIDR, B_IP, B_MAC);
	assert_int_equal(net_overlay_apply(&o, peers, 1, &err), -EEXIST);
	assert_has(err.msg, "ensure VXLAN device 'skiff.vxlan': a link of type 'bridge'");
	err_clear(&err);
	must(net_link_delete(NULL, "skiff.vxlan", &err), &err, "delete foreign link");
	cleanup_ok(&o);
	assert_false(net_link_exists(NULL, NET_VXLAN_DEV));
}

static void test_vxlan_pieces_reject_bad_input(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	struct net_vxlan v = {
		.name = "vx-test",
		.vni = 1,
		.port = 8472,
		.local = LAN_GW,
		.addr = "10.42.1.0/32",
		.mac = "0e:73:00:00:00:01",
	};

	(void)state;
	REQUIRE();
	v.vni = 1 << 24;
	assert_int_equal(net_vxlan_ensure(&v, &err), -EINVAL);
	assert_has(err.msg, "ensure VXLAN device 'vx-test': VNI 16777216");
	err_clear(&err);
	v.vni = 1;
	v.mac = "01:00:5e:00:00:01";
	assert_int_equal(net_vxlan_ensure(&v, &err), -EINVAL);
	assert_has(err.msg, "MAC address '01:00:5e:00:00:01' is not a unicast address");
	err_clear(&err);
	assert_false(net_link_exists(NULL, "vx-test"));
	assert_int_equal(net_vxlan_fdb_replace("nodev0", B_MAC, B_IP, &err), -ENODEV);
	assert_has(err.msg, "FDB entry '0e:73:c0:a8:4d:02' on 'nodev0': link 'nodev0' does not");
	err_clear(&err);
	assert_int_equal(net_vxlan_neigh_replace(LAN, "10.42.2.0", "zz", &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(net_peer_route_replace(B_CIDR, B_IP, NULL, true, &err), -EINVAL);
	assert_has(err.msg, "an onlink route needs a device");
}

static void test_masquerade_table_is_replaced_whole_and_deleted(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char *out;

	(void)state;
	REQUIRE();
	if (access("/usr/sbin/nft", X_OK) != 0 && access("/sbin/nft", X_OK) != 0)
		skip();
	must(net_masquerade_apply(TABLE, CLUSTER, SERVICE, &err), &err, "apply");
	must(net_masquerade_apply(TABLE, CLUSTER, SERVICE, &err), &err, "apply again");
	out = run("nft list table ip " TABLE);
	assert_has(out, "type nat hook postrouting priority srcnat; policy accept;");
	/* nft shows adjacent networks merged: 10.42.0.0/16 and 10.43.0.0/16 as one /15 */
	assert_has(out, "ip saddr 10.42.0.0/16 ip daddr != { 10.42.0.0/15, 224.0.0.0/4 } "
			"masquerade fully-random");
	/* once, not twice */
	assert_null(strstr(strstr(out, "masquerade") + 1, "masquerade"));
	free(out);

	assert_int_equal(net_masquerade_apply("bad name", CLUSTER, SERVICE, &err), -EINVAL);
	assert_has(err.msg, "nftables table name 'bad name': ' ' is not allowed");
	err_clear(&err);
	assert_int_equal(net_masquerade_apply(TABLE, "10.42.0.1/16", NULL, &err), -EINVAL);
	assert_has(err.msg, "cluster CIDR '10.42.0.1/16' has host bits set");
	err_clear(&err);

	must(net_masquerade_delete(TABLE, &err), &err, "delete");
	must(net_masquerade_delete(TABLE, &err), &err, "delete absent");
	out = run("nft list tables");
	assert_lacks(out, TABLE);
	free(out);
}

/* ---- two nodes with a pod each ---- */

static void node_up(const char *ns, const char *lan_veth, const char *ip, const char *pod_ns,
		    const char *pod_veth, const char *gw_cidr, const char *pod_ip_cidr,
		    const char *gw)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *ip_cidr = xasprintf("%s/24", ip);
	struct net_pod_attach wire = {
		.bridge = LAN,
		.host_veth = lan_veth,
		.netns = ns,
		.ifname = "eth0",
		.ip_cidr = ip_cidr,
		.gateway = LAN_GW,
	};
	struct net_pod_attach pod = {
		.bridge = "skiff0",
		.host_veth = pod_veth,
		.netns = pod_ns,
		.ifname = "eth0",
		.ip_cidr = pod_ip_cidr,
		.gateway = gw,
	};

	/* the node's link to the LAN is "a pod" of the test's bridge, with the outside
	 * host as its default gateway */
	must(net_pod_attach(&wire, &err), &err, "wire node");
	enter(ns);
	must(net_bridge_ensure("skiff0", gw_cidr, 1500, &err), &err, "node bridge");
	must(fs_write_knob(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", "1", 1, &err), &err,
	     "ip_forward");
	must(net_pod_attach(&pod, &err), &err, "attach pod");
	enter(NULL);
}

struct probe {
	int ready[2];
	int result[2];
	pid_t server;
};

/* In @ns (NULL: the test's), serves one connection on @ip:@port, answering with the
 * client's address as seen here. */
static void probe_serve(struct probe *p, const char *ns, const char *ip, int port)
{
	assert_int_equal(pipe(p->ready), 0);
	p->server = fork();
	assert_true(p->server >= 0);
	if (p->server == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		struct sockaddr_in peer_sa;
		socklen_t len = sizeof(peer_sa);
		struct pollfd pfd;
		char buf[INET_ADDRSTRLEN] = "";
		int fd = ns ? open(ns, O_RDONLY | O_CLOEXEC) : -1;
		int s, c, one = 1;

		alarm(10);
		if (ns && (fd < 0 || setns(fd, CLONE_NEWNET) < 0))
			_exit(100);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
			_exit(101);
		if (write(p->ready[1], "r", 1) != 1)
			_exit(102);
		pfd = (struct pollfd){.fd = s, .events = POLLIN};
		if (poll(&pfd, 1, 6000) != 1)
			_exit(103);
		c = accept(s, (struct sockaddr *)&peer_sa, &len);
		if (c < 0)
			_exit(104);
		inet_ntop(AF_INET, &peer_sa.sin_addr, buf, sizeof(buf));
		if (write(c, buf, strlen(buf)) != (ssize_t)strlen(buf))
			_exit(105);
		close(c);
		_exit(0);
	}
	close(p->ready[1]);
	{
		char b;

		assert_int_equal(read(p->ready[0], &b, 1), 1);
	}
	close(p->ready[0]);
}

/* From @ns, connects to @ip:@port and returns what the server saw as our address. */
static char *probe_connect(struct probe *p, const char *ns, const char *ip, int port)
{
	char buf[64] = "";
	pid_t pid;
	int status;
	ssize_t n;

	assert_int_equal(pipe(p->result), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		int fd = open(ns, O_RDONLY | O_CLOEXEC);
		char got[64] = "";
		ssize_t k;
		int s;

		struct timeval tv = {.tv_sec = 2};

		alarm(8);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(100);
		inet_pton(AF_INET, ip, &sa.sin_addr);
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* an unroutable peer is an expected outcome: do not wait the kernel's minutes */
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			snprintf(got, sizeof(got), "connect: %s", strerror(errno));
		} else {
			k = read(s, got, sizeof(got) - 1);
			if (k < 0)
				snprintf(got, sizeof(got), "read: %s", strerror(errno));
		}
		if (write(p->result[1], got, strlen(got)) < 0)
			_exit(101);
		_exit(0);
	}
	close(p->result[1]);
	n = read(p->result[0], buf, sizeof(buf) - 1);
	close(p->result[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (n <= 0)
		snprintf(buf, sizeof(buf), "no answer (client status %d)", status);
	/* a server that got nothing is ended; one that answered has exited */
	kill(p->server, SIGKILL);
	waitpid(p->server, &status, 0);
	return xstrdup(buf);
}

static char *probe(const char *server_ns, const char *server_ip, int port, const char *client_ns)
{
	struct probe p;

	probe_serve(&p, server_ns, server_ip, port);
	return probe_connect(&p, client_ns, server_ip, port);
}

static unsigned long tx_packets(const char *ns, const char *dev)
{
	cleanup_fclose FILE *f = NULL;
	unsigned long rx_b, rx_p, rx_e, rx_d, rx_f, rx_fr, rx_c, rx_m, tx_b, tx_p = 0;
	char line[512];

	enter(ns);
	f = fopen("/proc/thread-self/net/dev", "re");
	enter(NULL);
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		char *name = line;

		if (!colon)
			continue;
		*colon = '\0';
		while (*name == ' ')
			name++;
		if (strcmp(name, dev))
			continue;
		if (sscanf(colon + 1, "%lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", &rx_b, &rx_p,
			   &rx_e, &rx_d, &rx_f, &rx_fr, &rx_c, &rx_m, &tx_b, &tx_p) == 10)
			return tx_p;
	}
	return 0;
}

static void apply_in(const char *ns, const struct net_overlay *o, const struct net_peer *p)
{
	cleanup_err struct err err = ERR_INIT;
	int r;

	enter(ns);
	r = net_overlay_apply(o, p, 1, &err);
	enter(NULL);
	must(r, &err, "apply in node");
}

static void test_pods_on_two_nodes_reach_each_other_and_the_outside(void **state)
{
	struct net_overlay oa = overlay(NET_OVERLAY_DIRECT, A_IP, A_CIDR);
	struct net_overlay ob = overlay(NET_OVERLAY_DIRECT, B_IP, B_CIDR);
	char a_mac[NET_MAC_STRLEN], b_mac[NET_MAC_STRLEN];
	struct net_peer to_b, to_a;
	cleanup_err struct err err = ERR_INIT;
	char *got;
	unsigned long tx0;

	(void)state;
	REQUIRE();
	node_up(a_ns, "lan-a", A_IP, pa_ns, "vpod-a", "10.42.1.1/24", "10.42.1.5/24", "10.42.1.1");
	node_up(b_ns, "lan-b", B_IP, pb_ns, "vpod-b", "10.42.2.1/24", "10.42.2.5/24", "10.42.2.1");

	/* no routes yet: pod A cannot reach pod B */
	got = probe(pb_ns, "10.42.2.5", 8080, pa_ns);
	assert_lacks(got, "10.42.1.5");
	free(got);

	/* direct: pod addresses travel unchanged between the nodes */
	to_b = peer(B_CIDR, B_IP, NULL);
	to_a = peer(A_CIDR, A_IP, NULL);
	apply_in(a_ns, &oa, &to_b);
	apply_in(b_ns, &ob, &to_a);
	got = probe(pb_ns, "10.42.2.5", 8080, pa_ns);
	assert_string_equal(got, "10.42.1.5");
	free(got);

	/* leaving the cluster, pod traffic takes the node's address */
	got = probe(NULL, LAN_GW, 8081, pa_ns);
	assert_string_equal(got, A_IP);
	free(got);

	/* vxlan: the same, encapsulated over the LAN */
	must(net_vxlan_mac(A_IP, a_mac, &err), &err, "mac");
	must(net_vxlan_mac(B_IP, b_mac, &err), &err, "mac");
	oa.mode = ob.mode = NET_OVERLAY_VXLAN;
	to_b = peer(B_CIDR, B_IP, b_mac);
	to_a = peer(A_CIDR, A_IP, a_mac);
	apply_in(a_ns, &oa, &to_b);
	apply_in(b_ns, &ob, &to_a);
	enter(a_ns);
	got = run("ip route show 10.42.2.0/24");
	enter(NULL);
	assert_has(got, "via 10.42.2.0 dev skiff.vxlan proto 83 onlink");
	free(got);
	tx0 = tx_packets(a_ns, NET_VXLAN_DEV);
	got = probe(pb_ns, "10.42.2.5", 8080, pa_ns);
	assert_string_equal(got, "10.42.1.5");
	free(got);
	assert_true(tx_packets(a_ns, NET_VXLAN_DEV) > tx0);
	got = probe(NULL, LAN_GW, 8081, pb_ns);
	assert_string_equal(got, B_IP);
	free(got);

	/* without masquerading, the outside would see the pod's address (and not answer) */
	enter(a_ns);
	must(net_masquerade_delete(TABLE, &err), &err, "delete table");
	enter(NULL);
	got = probe(NULL, LAN_GW, 8081, pa_ns);
	assert_string_not_equal(got, A_IP);
	free(got);

	enter(a_ns);
	cleanup_ok(&oa);
	enter(b_ns);
	cleanup_ok(&ob);
	enter(NULL);
	got = probe(pb_ns, "10.42.2.5", 8080, pa_ns);
	assert_lacks(got, "10.42.1.5");
	free(got);
}

/* ---- the controller ---- */

static bool wait_for(const char *cmd, const char *want, bool present)
{
	for (int i = 0; i < 100; i++) {
		cleanup_free char *out = run(cmd);

		if (!!strstr(out, want) == present)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static int node_request(struct kc *c, const char *method, const char *path, json_t *body)
{
	cleanup_err struct err err = ERR_INIT;
	int r = kc_request(c, method, path, NULL, body, NULL, &err);

	json_decref(body);
	return r;
}

static void test_controller_follows_nodes_and_heals(void **state)
{
	cleanup_err struct err err = ERR_INIT;
	char dir[] = "/tmp/skiff-test-nodenet-XXXXXX";
	struct api_config acfg = {
		.bind_address = "127.0.0.1",
		.admin_token = TOKEN,
		.node_token = "node-token",
		.threads = 2,
		.cluster_cidr = CLUSTER,
		.service_cidr = SERVICE,
	};
	struct nodenet_config cfg = node_cfg("vxlan", LAN_GW, A_CIDR);
	struct api *api = NULL;
	struct kc *c = NULL;
	struct nodenet *nn = NULL;
	cleanup_json json_t *self = NULL;
	cleanup_json json_t *patch = NULL;
	const char *mac;
	char *out;

	(void)state;
	REQUIRE();
	assert_non_null(mkdtemp(dir));
	acfg.data_dir = dir;
	must(api_start(&acfg, &api, &err), &err, "start API server");
	must(kc_local(api, &c, &err), &err, "client");
	assert_int_equal(node_request(c, "POST", "/api/v1/nodes",
				      node_json("node-a", A_CIDR, LAN_GW, NULL, NULL)),
			 201);
	assert_int_equal(node_request(c, "POST", "/api/v1/nodes",
				      node_json("node-b", B_CIDR, B_IP, B_MAC, NULL)),
			 201);
	/* not ready for VXLAN yet: no MAC published */
	assert_int_equal(node_request(c, "POST", "/api/v1/nodes",
				      node_json("node-c", C_CIDR, C_IP, NULL, NULL)),
			 201);
	cfg.resync_ms = 200;
	must(nodenet_start(c, &cfg, &nn, &err), &err, "start");

	assert_true(wait_for("ip route show proto 83", "10.42.2.0/24 via 10.42.2.0", true));
	assert_true(wait_for("bridge fdb show dev skiff.vxlan", B_MAC " dst 192.168.77.2", true));
	out = run("ip route show proto 83");
	assert_lacks(out, "10.42.3.0/24");
	free(out);

	/* this node's annotations were published */
	assert_int_equal(kc_request(c, "GET", "/api/v1/nodes/node-a", NULL, NULL, &self, &err),
			 200);
	mac = json_string_value(
		json_object_get(json_object_get(json_object_get(self, "metadata"), "annotations"),
				NODENET_ANN_VXLAN_MAC));
	assert_non_null(mac);
	assert_string_equal(mac, "0e:73:c0:a8:4d:64");

	/* node-c publishes its MAC: routed to */
	patch = J("{\"metadata\": {\"annotations\": {\"skiff.io/vxlan-mac\": \"" C_MAC "\"}}}");
	assert_int_equal(kc_request(c, "PATCH", "/api/v1/nodes/node-c",
				    "application/merge-patch+json", patch, NULL, &err),
			 200);
	assert_true(wait_for("ip route show proto 83", "10.42.3.0/24 via 10.42.3.0", true));

	/* a route deleted behind its back comes back at the next resync */
	must(net_route_delete(B_CIDR, &err), &err, "delete by hand");
	assert_true(wait_for("ip route show proto 83", "10.42.2.0/24 via 10.42.2.0", true));

	/* node-b goes: its route, neighbour and FDB entry go */
	assert_int_equal(node_request(c, "DELETE", "/api/v1/nodes/node-b", NULL), 200);
	assert_true(wait_for("ip route show proto 83", "10.42.2.0/24", false));
	assert_true(wait_for("bridge fdb show dev skiff.vxlan", B_MAC, false));
	assert_true(wait_for("ip neigh show dev skiff.vxlan", "10.42.2.0", false));

	/* stopping leaves the routes; cleaning up removes everything */
	nodenet_stop(nn);
	assert_true(wait_for("ip route show proto 83", "10.42.3.0/24", true));
	must(nodenet_cleanup(&cfg, &err), &err, "clean up");
	assert_false(net_link_exists(NULL, NET_VXLAN_DEV));
	assert_true(wait_for("ip route show proto 83", "10.42.3.0/24", false));

	kc_free(c);
	api_stop(api);
	fs_remove_tree(AT_FDCWD, dir, &err);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_peers_are_the_other_complete_nodes_in_the_cluster),
		cmocka_unit_test(test_vxlan_peers_need_a_mac_and_prefer_the_public_ip),
		cmocka_unit_test(test_node_patch_publishes_the_mac_only_in_vxlan_mode),
		cmocka_unit_test(test_bad_configuration_is_named),
	};
	const struct CMUnitTest kernel[] = {
		cmocka_unit_test(test_direct_routes_follow_the_peers_and_come_back),
		cmocka_unit_test(test_vxlan_device_neighbours_fdb_and_routes_follow_the_peers),
		cmocka_unit_test(test_vxlan_pieces_reject_bad_input),
		cmocka_unit_test(test_masquerade_table_is_replaced_whole_and_deleted),
		cmocka_unit_test(test_pods_on_two_nodes_reach_each_other_and_the_outside),
		cmocka_unit_test(test_controller_follows_nodes_and_heals),
	};
	int r = cmocka_run_group_tests_name("routes", pure, NULL, NULL);

	return r |
	       cmocka_run_group_tests_name("routes_kernel", kernel, kernel_setup, kernel_teardown);
}
