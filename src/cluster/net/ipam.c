/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPAM for a node's pod CIDR and the IPv4 CIDR helpers. Allocations live in a directory,
 * one file per address holding its owner, so that they outlive the agent; the agent opens
 * it at start and allocates a pod's address before wiring the pod (netlink.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/net/net.h"

/* The hint for round-robin allocation, as host-local IPAM keeps "last_reserved_ip". */
#define IPAM_LAST_FILE "last"

#define IPAM_OWNER_MAX 253

/* Smallest pod CIDR accepted: bounds the scan for a free address to 65534 files. */
#define IPAM_PREFIX_MIN 16
#define IPAM_PREFIX_MAX 30

struct net_ipam {
	pthread_mutex_t lock; /* flock() does not exclude threads sharing one descriptor */
	int dirfd;
	char *dir;
	char cidr[NET_CIDR_STRLEN];
	uint32_t first; /* host order; first and last address handed out */
	uint32_t last;
};

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
}

static void ip_format(uint32_t ip, char ret[INET_ADDRSTRLEN])
{
	struct in_addr a = {.s_addr = htonl(ip)};

	inet_ntop(AF_INET, &a, ret, INET_ADDRSTRLEN);
}

static bool ip_parse(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ret = ntohl(a.s_addr);
	return true;
}

int net_cidr_parse(const char *cidr, struct in_addr *ret_addr, unsigned *ret_prefix,
		   struct err *err)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = NULL;
	const char *p = NULL;
	unsigned prefix = 0;
	struct in_addr a;

	if (!cidr || !*cidr)
		return err_set(err, EINVAL, "parse CIDR '': empty value");
	slash = strchr(cidr, '/');
	if (!slash)
		return err_set(err, EINVAL, "parse CIDR '%s': missing '/<prefix length>'", cidr);
	if ((size_t)(slash - cidr) >= sizeof(addr))
		return err_set(err, EINVAL, "parse CIDR '%s': '%.*s' is not an IPv4 address", cidr,
			       (int)(slash - cidr), cidr);
	memcpy(addr, cidr, slash - cidr);
	addr[slash - cidr] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return err_set(err, EINVAL, "parse CIDR '%s': '%s' is not an IPv4 address", cidr,
			       addr);
	p = slash + 1;
	if (!*p || strlen(p) > 2)
		goto bad_prefix;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad_prefix;
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > 32)
		goto bad_prefix;
	*ret_addr = a;
	*ret_prefix = prefix;
	return 0;

bad_prefix:
	return err_set(err, EINVAL,
		       "parse CIDR '%s': prefix length '%s' is not a number from 0 to 32", cidr,
		       slash + 1);
}

int net_cidr_gateway(const char *cidr, char ret_gateway[INET_ADDRSTRLEN],
		     char ret_gateway_cidr[NET_CIDR_STRLEN], struct err *err)
{
	struct in_addr a;
	unsigned prefix;
	char gw[INET_ADDRSTRLEN];
	int r;

	r = net_cidr_parse(cidr, &a, &prefix, err);
	if (r < 0)
		return r;
	if (prefix > IPAM_PREFIX_MAX)
		return err_set(err, EINVAL, "CIDR '%s' has no room for a gateway and a pod", cidr);
	ip_format((ntohl(a.s_addr) & prefix_mask(prefix)) + 1, gw);
	memcpy(ret_gateway, gw, sizeof(gw));
	if (ret_gateway_cidr)
		snprintf(ret_gateway_cidr, NET_CIDR_STRLEN, "%s/%u", gw, prefix);
	return 0;
}

bool net_cidr_contains(const char *cidr, const char *ip)
{
	cleanup_err struct err err = ERR_INIT;
	struct in_addr a;
	unsigned prefix;
	uint32_t v;

	if (!ip || !ip_parse(ip, &v) || net_cidr_parse(cidr, &a, &prefix, &err) < 0)
		return false;
	return ((v ^ ntohl(a.s_addr)) & prefix_mask(prefix)) == 0;
}

static bool owner_valid(const char *owner)
{
	size_t n = owner ? strlen(owner) : 0;

	if (n == 0 || n > IPAM_OWNER_MAX)
		return false;
	for (const char *p = owner; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static int owner_check(const char *owner, struct err *err)
{
	if (owner_valid(owner))
		return 0;
	return err_set(
		err, EINVAL,
		"IPAM owner '%.64s' is invalid: want 1 to %d printable characters, no spaces",
		owner ? owner : "", IPAM_OWNER_MAX);
}

int net_ipam_open(const char *dir, const char *cidr, struct net_ipam **ret_ipam, struct err *err)
{
	struct net_ipam *ipam = NULL;
	char net_s[INET_ADDRSTRLEN];
	struct in_addr a;
	unsigned prefix;
	uint32_t net;
	int fd;
	int r;

	r = net_cidr_parse(cidr, &a, &prefix, err);
	if (r < 0)
		return err_wrap(err, "open IPAM");
	if (prefix < IPAM_PREFIX_MIN || prefix > IPAM_PREFIX_MAX)
		return err_set(err, EINVAL,
			       "open IPAM: pod CIDR '%s' must have a prefix from /%d to /%d", cidr,
			       IPAM_PREFIX_MIN, IPAM_PREFIX_MAX);
	net = ntohl(a.s_addr) & prefix_mask(prefix);
	ip_format(net, net_s);
	if (net != ntohl(a.s_addr))
		return err_set(err, EINVAL,
			       "open IPAM: pod CIDR '%s' has host bits set (want '%s/%u')", cidr,
			       net_s, prefix);
	r = fs_mkdir_p(dir, 0700, err);
	if (r < 0)
		return err_wrap(err, "open IPAM");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open IPAM directory '%s'", dir);

	ipam = xcalloc(1, sizeof(*ipam));
	pthread_mutex_init(&ipam->lock, NULL);
	ipam->dirfd = fd;
	ipam->dir = xstrdup(dir);
	snprintf(ipam->cidr, sizeof(ipam->cidr), "%s/%u", net_s, prefix);
	ipam->first = net + 2; /* net + 1 is the gateway */
	ipam->last = (net | ~prefix_mask(prefix)) - 1;
	*ret_ipam = ipam;
	return 0;
}

void net_ipam_free(struct net_ipam *ipam)
{
	if (!ipam)
		return;
	close(ipam->dirfd);
	pthread_mutex_destroy(&ipam->lock);
	free(ipam->dir);
	free(ipam);
}

static void ipam_lock(struct net_ipam *ipam)
{
	pthread_mutex_lock(&ipam->lock);
	/* other processes' handles wait here; a signal handler without SA_RESTART interrupts */
	while (flock(ipam->dirfd, LOCK_EX) < 0 && errno == EINTR)
		;
}

static void ipam_unlock(struct net_ipam *ipam)
{
	flock(ipam->dirfd, LOCK_UN);
	pthread_mutex_unlock(&ipam->lock);
}

/*
 * Reads the owner recorded in address file @name into @buf. Returns its length (0 for an
 * empty file) or -errno.
 */
static ssize_t owner_read(int dirfd, const char *name, char buf[IPAM_OWNER_MAX + 2])
{
	cleanup_close int fd = -1;
	ssize_t n;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, IPAM_OWNER_MAX + 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

/* Called for each allocation in range; returns < 0 to stop the scan with that value. */
typedef int (*ipam_visit_fn)(uint32_t ip, const char *name, const char *owner, void *data);

/*
 * Visits every address file in the CIDR. Must hold the lock: an empty file is then never
 * one being written, but the leftover of an allocator killed between create and write, so
 * it is removed (its owner, on retry, allocates afresh).
 */
static int ipam_scan(struct net_ipam *ipam, ipam_visit_fn fn, void *data, struct err *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	/* a descriptor of its own: one dup()ed from dirfd would share the read position */
	fd = openat(ipam->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open IPAM directory '%s'", ipam->dir);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(err, "open IPAM directory '%s'", ipam->dir);
	}
	while ((errno = 0, de = readdir(d))) {
		char owner[IPAM_OWNER_MAX + 2];
		uint32_t ip;
		ssize_t n;
		int r;

		if (!ip_parse(de->d_name, &ip) || ip < ipam->first || ip > ipam->last)
			continue;
		n = owner_read(ipam->dirfd, de->d_name, owner);
		if (n == -ENOENT)
			continue;
		if (n < 0)
			return err_errno(err, (int)-n, "read IPAM entry '%s/%s'", ipam->dir,
					 de->d_name);
		if (n == 0) {
			log_debug("IPAM '%s': removing empty entry '%s' left by a crash", ipam->dir,
				  de->d_name);
			unlinkat(ipam->dirfd, de->d_name, 0);
			continue;
		}
		r = fn(ip, de->d_name, owner, data);
		if (r < 0)
			return r;
	}
	if (errno)
		return err_sys(err, "read IPAM directory '%s'", ipam->dir);
	return 0;
}

struct find_ctx {
	const char *owner;
	char ip[INET_ADDRSTRLEN];
	bool found;
};

static int find_visit(uint32_t ip, const char *name, const char *owner, void *data)
{
	struct find_ctx *c = data;

	(void)name;
	if (strcmp(owner, c->owner) != 0)
		return 0;
	ip_format(ip, c->ip);
	c->found = true;
	return -1;
}

static int ipam_find(struct net_ipam *ipam, struct find_ctx *c, struct err *err)
{
	int r = ipam_scan(ipam, find_visit, c, err);

	return r < 0 && !c->found ? r : 0;
}

/* The address after the last one handed out, or the first when there is no valid hint. */
static uint32_t ipam_start(struct net_ipam *ipam)
{
	char buf[INET_ADDRSTRLEN + 2];
	cleanup_close int fd = -1;
	uint32_t ip;
	ssize_t n;

	fd = openat(ipam->dirfd, IPAM_LAST_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ipam->first;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return ipam->first;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!ip_parse(buf, &ip) || ip < ipam->first || ip >= ipam->last)
		return ipam->first;
	return ip + 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Claims @ip for @owner: 1 claimed, 0 taken already, < 0 error. */
static int ipam_claim(struct net_ipam *ipam, uint32_t ip, const char *owner, struct err *err)
{
	cleanup_free char *content = xasprintf("%s\n", owner);
	char name[INET_ADDRSTRLEN];
	int fd;
	int r;

	ip_format(ip, name);
	fd = openat(ipam->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0)
		return err_sys(err, "create IPAM entry '%s/%s'", ipam->dir, name);
	r = write_all(fd, content, strlen(content));
	if (r == 0 && close(fd) < 0)
		r = -errno;
	else if (r < 0)
		close(fd);
	if (r < 0) {
		unlinkat(ipam->dirfd, name, 0);
		return err_errno(err, -r, "write IPAM entry '%s/%s'", ipam->dir, name);
	}
	return 1;
}

int net_ipam_alloc(struct net_ipam *ipam, const char *owner, char ret_ip[INET_ADDRSTRLEN],
		   struct err *err)
{
	struct find_ctx c = {.owner = owner};
	uint32_t count = ipam->last - ipam->first + 1;
	uint32_t start;
	int r;

	r = owner_check(owner, err);
	if (r < 0)
		return r;
	ipam_lock(ipam);
	r = ipam_find(ipam, &c, err);
	if (r < 0 || c.found)
		goto out;
	start = ipam_start(ipam) - ipam->first;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t ip = ipam->first + (start + i) % count;
		struct err werr = ERR_INIT;

		r = ipam_claim(ipam, ip, owner, err);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		ip_format(ip, c.ip);
		c.found = true;
		/* only a hint: without it allocation restarts at the first address */
		if (fs_write_atomic(ipam->dirfd, IPAM_LAST_FILE, c.ip, strlen(c.ip), 0644, &werr) <
		    0) {
			log_debug("IPAM '%s': %s, ignoring", ipam->dir, werr.msg);
			err_clear(&werr);
		}
		r = 0;
		goto out;
	}
	r = err_set(err, ENOSPC, "no free address in %s", ipam->cidr);
out:
	ipam_unlock(ipam);
	if (r == 0)
		memcpy(ret_ip, c.ip, INET_ADDRSTRLEN);
	else if (err->code)
		err_wrap(err, "allocate an address for '%s'", owner);
	return r;
}

struct release_ctx {
	struct net_ipam *ipam;
	const char *owner;
};

static int release_visit(uint32_t ip, const char *name, const char *owner, void *data)
{
	struct release_ctx *c = data;

	(void)ip;
	if (strcmp(owner, c->owner) == 0)
		unlinkat(c->ipam->dirfd, name, 0);
	return 0;
}

int net_ipam_release(struct net_ipam *ipam, const char *owner, struct err *err)
{
	struct release_ctx c = {.ipam = ipam, .owner = owner};
	int r;

	r = owner_check(owner, err);
	if (r < 0)
		return r;
	ipam_lock(ipam);
	r = ipam_scan(ipam, release_visit, &c, err);
	ipam_unlock(ipam);
	if (r < 0)
		return err_wrap(err, "release the address of '%s'", owner);
	return 0;
}

bool net_ipam_lookup(struct net_ipam *ipam, const char *owner, char ret_ip[INET_ADDRSTRLEN])
{
	cleanup_err struct err err = ERR_INIT;
	struct find_ctx c = {.owner = owner};

	if (!owner_valid(owner))
		return false;
	ipam_lock(ipam);
	ipam_find(ipam, &c, &err);
	ipam_unlock(ipam);
	if (c.found)
		memcpy(ret_ip, c.ip, INET_ADDRSTRLEN);
	return c.found;
}

struct list_ctx {
	struct net_ipam_entry *v;
	size_t n;
};

static int list_visit(uint32_t ip, const char *name, const char *owner, void *data)
{
	struct list_ctx *c = data;

	(void)ip;
	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	snprintf(c->v[c->n].ip, sizeof(c->v[c->n].ip), "%s", name);
	c->v[c->n].owner = xstrdup(owner);
	c->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct net_ipam_entry *x = a, *y = b;
	uint32_t ix = 0, iy = 0;

	ip_parse(x->ip, &ix);
	ip_parse(y->ip, &iy);
	return ix < iy ? -1 : ix > iy;
}

int net_ipam_list(struct net_ipam *ipam, struct net_ipam_entry **ret_entries, size_t *ret_n,
		  struct err *err)
{
	struct list_ctx c = {0};
	int r;

	ipam_lock(ipam);
	r = ipam_scan(ipam, list_visit, &c, err);
	ipam_unlock(ipam);
	if (r < 0) {
		net_ipam_entries_free(c.v, c.n);
		return err_wrap(err, "list addresses of %s", ipam->cidr);
	}
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), entry_cmp);
	*ret_entries = c.v;
	*ret_n = c.n;
	return 0;
}

void net_ipam_entries_free(struct net_ipam_entry *entries, size_t n)
{
	for (size_t i = 0; entries && i < n; i++)
		free(entries[i].owner);
	free(entries);
}
