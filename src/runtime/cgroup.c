/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container's control groups on cgroup v1, v2 and hybrid hosts (runtime-spec
 * config-linux.md#control-groups): detects the host layout once per process, resolves
 * cgroupsPath, creates and removes the directories, and moves, lists, freezes and signals
 * processes. cgroup_v1.c and cgroup_v2.c write the resource files. Called by the runtime
 * core for create, exec, kill, ps and delete.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

#define WAIT_MS     1000 /* how long destroy and freeze wait for processes to settle */
#define MAX_NESTING 64   /* cgroups below the container's that ps, kill and destroy follow */
#define PROCS_SMALL 64   /* enough of cgroup.procs to tell whether it is empty */

static const char *const controller_names[] = {
	"cpu",     "cpuacct", "cpuset",   "memory",     "devices", "freezer", "blkio", "pids",
	"hugetlb", "net_cls", "net_prio", "perf_event", "rdma",    "misc",    "debug", "io",
};

const struct cg_throttle cg_throttles[4] = {
	{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"},
	{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"},
	{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"},
	{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"},
};

static const char *const mode_names[] = {
	[CG_MODE_V1] = "v1",
	[CG_MODE_V2] = "v2",
	[CG_MODE_HYBRID] = "hybrid",
};

/* ---- pure helpers ---- */

unsigned cg_controller_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(controller_names) / sizeof(controller_names[0]); i++) {
		if (strlen(controller_names[i]) == len && !memcmp(controller_names[i], name, len))
			return 1u << i;
	}
	return 0;
}

const char *cg_controller_name(unsigned bit)
{
	if (!bit)
		return "?";
	return controller_names[__builtin_ctz(bit)];
}

/* The CG_* bits of a list of controller names separated by @sep. */
static unsigned mask_of(const char *list, char sep)
{
	unsigned mask = 0;

	while (*list) {
		const char *end = strchr(list, sep);
		size_t len = end ? (size_t)(end - list) : strlen(list);

		while (len > 0 && (list[len - 1] == '\n' || list[len - 1] == ' '))
			len--;
		mask |= cg_controller_bit(list, len);
		if (!end)
			break;
		list = end + 1;
	}
	return mask;
}

/* Does comma-separated @list (length @len) contain @tok (length @tlen)? */
static bool list_has(const char *list, size_t len, const char *tok, size_t tlen)
{
	const char *end = list + len;

	while (list < end) {
		const char *comma = memchr(list, ',', (size_t)(end - list));
		size_t n = comma ? (size_t)(comma - list) : (size_t)(end - list);

		if (n == tlen && !memcmp(list, tok, n))
			return true;
		if (!comma)
			break;
		list = comma + 1;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			out[o++] = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
					  (s[i + 3] - '0'));
			i += 3;
			continue;
		}
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/* Splits off the next space-separated field of [*p, end); false when none is left. */
static bool next_field(const char **p, const char *end, const char **ret, size_t *ret_len)
{
	const char *s = *p, *sp;

	if (s >= end)
		return false;
	sp = memchr(s, ' ', (size_t)(end - s));
	if (!sp)
		sp = end;
	*ret = s;
	*ret_len = (size_t)(sp - s);
	*p = sp < end ? sp + 1 : end;
	return true;
}

/* The controllers among a v1 mount's super options ("rw,cpu,cpuacct" -> "cpu,cpuacct"). */
static char *v1_controllers(const char *opts, size_t len, unsigned *ret_mask)
{
	char *out = xmalloc(len + 1);
	const char *end = opts + len;
	size_t o = 0;
	unsigned mask = 0;

	while (opts < end) {
		const char *comma = memchr(opts, ',', (size_t)(end - opts));
		size_t n = comma ? (size_t)(comma - opts) : (size_t)(end - opts);
		unsigned bit = cg_controller_bit(opts, n);

		if ((bit && bit != CG_IO) || (n > 5 && !memcmp(opts, "name=", 5))) {
			if (o)
				out[o++] = ',';
			memcpy(out + o, opts, n);
			o += n;
			mask |= bit == CG_IO ? 0 : bit;
		}
		opts += n + (comma ? 1 : 0);
	}
	out[o] = '\0';
	*ret_mask = mask;
	return out;
}

static void hier_done(struct cg_hier *h)
{
	free(h->mountpoint);
	free(h->root);
	free(h->controllers);
	free(h->own);
}

/* Adds one cgroup mount, keeping one per superblock (preferring a mount of the whole tree). */
static void layout_add(struct cg_layout *l, struct cg_hier *h)
{
	for (size_t i = 0; i < l->n; i++) {
		struct cg_hier *o = &l->hier[i];

		if (o->dev_major != h->dev_major || o->dev_minor != h->dev_minor)
			continue;
		if (strcmp(o->root, "/") != 0 && !strcmp(h->root, "/")) {
			hier_done(o);
			*o = *h;
			return;
		}
		hier_done(h);
		return;
	}
	l->hier = xrealloc(l->hier, (l->n + 1) * sizeof(*l->hier));
	l->hier[l->n++] = *h;
}

static void parse_mount_line(const char *line, const char *end, struct cg_layout *l)
{
	const char *sep = memmem(line, (size_t)(end - line), " - ", 3);
	const char *p, *f[6], *fstype, *source, *opts;
	size_t fl[6], fslen, srclen, optlen;
	struct cg_hier h = {0};

	/* id parent major:minor root mountpoint options [optional...] - fstype source superopts */
	if (!sep)
		return;
	p = sep + 3;
	if (!next_field(&p, end, &fstype, &fslen) || !next_field(&p, end, &source, &srclen))
		return;
	opts = p;
	optlen = (size_t)(end - p);
	if (fslen == 7 && !memcmp(fstype, "cgroup2", 7))
		h.v2 = true;
	else if (fslen != 6 || memcmp(fstype, "cgroup", 6) != 0)
		return;
	p = line;
	for (int i = 0; i < 5; i++) {
		if (!next_field(&p, sep, &f[i], &fl[i]))
			return;
	}
	if (sscanf(f[2], "%u:%u", &h.dev_major, &h.dev_minor) != 2)
		return;
	if (h.v2) {
		h.controllers = xstrdup("");
	} else {
		h.controllers = v1_controllers(opts, optlen, &h.mask);
		if (!h.controllers[0]) {
			free(h.controllers);
			return;
		}
	}
	h.root = unescape(f[3], fl[3]);
	h.mountpoint = unescape(f[4], fl[4]);
	layout_add(l, &h);
}

void cg_layout_done(struct cg_layout *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		hier_done(&l->hier[i]);
	free(l->hier);
	l->hier = NULL;
	l->n = 0;
	l->unified = -1;
}

int cg_layout_parse(const char *text, struct cg_layout *ret, struct err *err)
{
	struct cg_layout l = {.unified = -1};
	struct cg_hier unified = {0};
	unsigned v1_mask = 0;
	size_t n = 0;
	int v2 = -1;

	for (const char *line = text; *line;) {
		const char *nl = strchrnul(line, '\n');

		parse_mount_line(line, nl, &l);
		line = *nl ? nl + 1 : nl;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (l.hier[i].v2 && v2 < 0)
			v2 = (int)i;
		v1_mask |= l.hier[i].mask;
	}
	if (!v1_mask && v2 < 0) {
		cg_layout_done(&l);
		return err_set(err, ENOENT, "detect cgroups: no cgroup hierarchy is mounted");
	}
	/*
	 * Without v1 controllers the host is unified, even if a named v1 hierarchy such as
	 * name=systemd is still mounted for old software: only the cgroup2 mount counts then.
	 */
	l.mode = !v1_mask ? CG_MODE_V2 : v2 >= 0 ? CG_MODE_HYBRID : CG_MODE_V1;
	if (v2 >= 0)
		unified = l.hier[v2];
	for (size_t i = 0; i < l.n; i++) {
		struct cg_hier *h = &l.hier[i];

		if (h->v2 ? (int)i != v2 : l.mode == CG_MODE_V2)
			hier_done(h);
		else if (!h->v2)
			l.hier[n++] = *h;
	}
	if (v2 >= 0) {
		l.unified = (int)n;
		l.hier[n++] = unified;
	}
	l.n = n;
	*ret = l;
	return 0;
}

int cg_own_path(const char *text, const struct cg_hier *h, char **ret, struct err *err)
{
	for (const char *line = text; *line;) {
		const char *nl = strchrnul(line, '\n');
		const char *c1 = memchr(line, ':', (size_t)(nl - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(nl - c1 - 1)) : NULL;
		bool match = false;

		if (c2 && h->v2) {
			match = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
		} else if (c2 && c2 > c1 + 1) {
			const char *list = c1 + 1, *t = h->controllers;
			size_t len = (size_t)(c2 - list);

			/* every controller of the mount must be in this line's list */
			match = true;
			while (*t && match) {
				const char *comma = strchrnul(t, ',');

				match = list_has(list, len, t, (size_t)(comma - t));
				t = *comma ? comma + 1 : comma;
			}
		}
		if (match && c2[1] == '/') {
			*ret = xstrndup(c2 + 1, (size_t)(nl - c2 - 1));
			return 0;
		}
		line = *nl ? nl + 1 : nl;
	}
	return err_set(err, ENOENT, "find own cgroup: hierarchy '%s' is not in /proc/self/cgroup",
		       h->v2 ? "unified" : h->controllers);
}

/* Appends the components of @path to @out (at *@len), dropping empty and "." ones. */
static int append_components(char *out, size_t *len, const char *path, unsigned *ret_n)
{
	unsigned n = 0;

	for (const char *p = path; *p;) {
		const char *start, *end;
		size_t clen;

		while (*p == '/')
			p++;
		start = p;
		end = strchrnul(p, '/');
		clen = (size_t)(end - start);
		p = end;
		if (clen == 0 || (clen == 1 && start[0] == '.'))
			continue;
		if (clen == 2 && start[0] == '.' && start[1] == '.')
			return -EINVAL;
		out[(*len)++] = '/';
		memcpy(out + *len, start, clen);
		*len += clen;
		n++;
	}
	out[*len] = '\0';
	*ret_n = n;
	return 0;
}

int cg_path_resolve(const char *path, const char *own, char **ret, struct err *err)
{
	size_t len = 0, cap;
	cleanup_free char *out = NULL;
	unsigned n = 0, own_n = 0;

	if (path[0] == '/' || !own)
		own = "";
	cap = strlen(own) + strlen(path) + 2;
	out = xmalloc(cap);
	if (append_components(out, &len, own, &own_n) < 0)
		return err_set(err, EINVAL, "invalid own cgroup '%s': '..' components", own);
	if (append_components(out, &len, path, &n) < 0)
		return err_set(err, EINVAL,
			       "invalid cgroupsPath '%s': '..' components are not allowed", path);
	if (n == 0)
		return err_set(err, EINVAL, "invalid cgroupsPath '%s': it names no cgroup", path);
	if (len >= PATH_MAX / 2)
		return err_set(err, ENAMETOOLONG, "invalid cgroupsPath '%s': too long", path);
	*ret = TAKE_PTR(out);
	return 0;
}

bool cg_path_is_systemd(const char *path)
{
	const char *c1 = strchr(path, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

	return c2 && !strchr(c2 + 1, ':') && !strchr(path, '/');
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);

	return len >= sl && !memcmp(s + len - sl, suffix, sl);
}

int cg_systemd_path(const char *path, char **ret, struct err *err)
{
	const char *c1 = strchr(path, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *slice = path, *prefix, *name;
	size_t slen, plen, nlen, blen, o = 0;
	cleanup_free char *out = NULL;

	if (!c2)
		return err_set(err, EINVAL,
			       "invalid cgroupsPath '%s': expected 'slice:prefix:name'", path);
	slen = (size_t)(c1 - path);
	prefix = c1 + 1;
	plen = (size_t)(c2 - prefix);
	name = c2 + 1;
	nlen = strlen(name);
	if (!nlen)
		return err_set(err, EINVAL, "invalid cgroupsPath '%s': the unit name is empty",
			       path);
	if (!slen) {
		slice = "system.slice";
		slen = strlen(slice);
	}
	/* a.slice/a-b.slice/a-b-c.slice is at most (dashes + 1) * (slen + 1) long */
	out = xmalloc((slen + 2) * (slen + 2) + plen + nlen + 16);
	if (slen == 7 && !memcmp(slice, "-.slice", 7)) {
		blen = 0; /* the root slice */
	} else {
		if (!ends_with(slice, slen, ".slice") || slen == 6)
			return err_set(err, EINVAL,
				       "invalid cgroupsPath '%s': '%.*s' is not a slice", path,
				       (int)slen, slice);
		blen = slen - 6;
		if (slice[0] == '-' || slice[blen - 1] == '-' || memmem(slice, blen, "--", 2))
			return err_set(err, EINVAL,
				       "invalid cgroupsPath '%s': bad slice name '%.*s'", path,
				       (int)slen, slice);
	}
	/* systemd nests "a-b.slice" inside "a.slice": every dash opens a level */
	for (size_t i = 0; i <= blen && blen; i++) {
		if (i < blen && slice[i] != '-')
			continue;
		o += (size_t)sprintf(out + o, "/%.*s.slice", (int)i, slice);
	}
	if (ends_with(name, nlen, ".slice"))
		o += (size_t)sprintf(out + o, "/%s", name);
	else if (!plen)
		o += (size_t)sprintf(out + o, "/%s.scope", name);
	else
		o += (size_t)sprintf(out + o, "/%.*s-%s.scope", (int)plen, prefix, name);
	return cg_path_resolve(out, NULL, ret, err);
}

char *cg_hier_dir(const struct cg_hier *h, const char *path)
{
	size_t rl = strlen(h->root);

	/* a mount of a subtree (root "/docker/x") shows that subtree at its mount point */
	if (rl > 1 && !strncmp(path, h->root, rl) && (path[rl] == '/' || path[rl] == '\0'))
		path += rl;
	return xasprintf("%s%s", h->mountpoint, path);
}

uint64_t cg_shares_to_weight(uint64_t shares)
{
	if (shares == 0)
		return 0;
	if (shares < 2)
		shares = 2;
	if (shares > 262144)
		shares = 262144;
	return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t cg_blkio_to_io_weight(uint64_t weight)
{
	if (weight == 0)
		return 0;
	if (weight < 10)
		weight = 10;
	if (weight > 1000)
		weight = 1000;
	return 1 + ((weight - 10) * 9999) / 990;
}

void cg_fmt_i64(char buf[CG_NUM_MAX], int64_t v)
{
	snprintf(buf, CG_NUM_MAX, "%" PRId64, v);
}

void cg_fmt_max(char buf[CG_NUM_MAX], int64_t v)
{
	if (v < 0)
		snprintf(buf, CG_NUM_MAX, "max");
	else
		cg_fmt_i64(buf, v);
}

int cg_v2_swap(int64_t limit, int64_t swap, int64_t *ret, struct err *err)
{
	if (swap == -1) {
		*ret = -1;
		return 0;
	}
	if (limit == RT_UNSET_I64 || limit <= 0)
		return err_set(err, EINVAL,
			       "linux.resources.memory.swap: cgroup v2 needs a memory limit to "
			       "limit swap");
	if (swap < limit)
		return err_set(err, EINVAL,
			       "linux.resources.memory.swap: %" PRId64
			       " (memory+swap) is below the memory limit %" PRId64,
			       swap, limit);
	*ret = swap - limit;
	return 0;
}

void cg_fmt_device_rule(char buf[CG_RULE_MAX], const struct rt_device_rule *r)
{
	char maj[CG_NUM_MAX] = "*", min[CG_NUM_MAX] = "*";

	if (r->major >= 0)
		cg_fmt_i64(maj, r->major);
	if (r->minor >= 0)
		cg_fmt_i64(min, r->minor);
	snprintf(buf, CG_RULE_MAX, "%c %s:%s %.3s", r->type ? r->type : 'a', maj, min,
		 r->access[0] ? r->access : "rwm");
}

bool cg_keyed_get(const char *text, const char *key, int64_t *ret)
{
	size_t kl = strlen(key);

	for (const char *p = text; *p;) {
		const char *nl = strchrnul(p, '\n');

		if ((size_t)(nl - p) > kl && !strncmp(p, key, kl) && p[kl] == ' ') {
			char *end = NULL;
			long long v;

			errno = 0;
			v = strtoll(p + kl + 1, &end, 10);
			if (errno || end == p + kl + 1)
				return false;
			*ret = v;
			return true;
		}
		p = *nl ? nl + 1 : nl;
	}
	return false;
}

int cg_pids_parse(const char *text, pid_t **pids, size_t *n, size_t *cap, struct err *err)
{
	for (const char *p = text; *p;) {
		const char *nl = strchrnul(p, '\n');
		char *end = NULL;
		long v;

		if (nl == p) {
			p = *nl ? nl + 1 : nl;
			continue;
		}
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end != nl || v <= 0 || v > INT_MAX)
			return err_set(err, EPROTO, "parse cgroup.procs: bad pid '%.*s'",
				       (int)(nl - p > 32 ? 32 : nl - p), p);
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*pids = xrealloc(*pids, *cap * sizeof(**pids));
		}
		(*pids)[(*n)++] = (pid_t)v;
		p = *nl ? nl + 1 : nl;
	}
	return 0;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

size_t cg_pids_sort_unique(pid_t *pids, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return 0;
	qsort(pids, n, sizeof(*pids), pid_cmp);
	for (size_t i = 1; i < n; i++) {
		if (pids[i] != pids[o])
			pids[++o] = pids[i];
	}
	return o + 1;
}

bool cg_valid_page_size(const char *size)
{
	size_t i = 0;

	while (size[i] >= '0' && size[i] <= '9')
		i++;
	if (i == 0 || i > 12 || !size[i] || !strchr("KMGT", size[i]))
		return false;
	return size[i + 1] == 'B' && size[i + 2] == '\0';
}

bool cg_valid_unified_key(const char *key)
{
	size_t len = strlen(key);

	return len > 0 && len < NAME_MAX && !strchr(key, '/') && strcmp(key, ".") != 0 &&
	       strcmp(key, "..") != 0;
}

/* ---- files in a cgroup directory ---- */

int cg_open(const struct cg_dir *d, const char *file, int flags)
{
	char path[PATH_MAX];
	int fd;

	if (d->fd >= 0) {
		fd = openat(d->fd, file, flags | O_CLOEXEC);
	} else {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", d->path, file) >= sizeof(path))
			return -ENAMETOOLONG;
		fd = open(path, flags | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

int cg_write_raw(const struct cg_dir *d, const char *file, const char *val)
{
	cleanup_close int fd = -1;
	size_t len = strlen(val);
	ssize_t n;

	fd = cg_open(d, file, O_WRONLY);
	if (fd < 0)
		return fd;
	/* a knob takes its value in one write */
	n = write(fd, val, len);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int cg_write_err(const struct cg_dir *d, const char *file, const char *val, int r, struct err *err)
{
	return err_errno(err, r, "write '%s' to '%s/%s'", val, d->path, file);
}

int cg_write(const struct cg_dir *d, const char *file, const char *val, struct err *err)
{
	int r = cg_write_raw(d, file, val);

	return r < 0 ? cg_write_err(d, file, val, r, err) : 0;
}

int cg_write_i64(const struct cg_dir *d, const char *file, int64_t v, struct err *err)
{
	char buf[CG_NUM_MAX];

	cg_fmt_i64(buf, v);
	return cg_write(d, file, buf, err);
}

ssize_t cg_read_raw(const struct cg_dir *d, const char *file, char *buf, size_t size)
{
	cleanup_close int fd = -1;
	ssize_t n;

	fd = cg_open(d, file, O_RDONLY);
	if (fd < 0)
		return fd;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

struct cg_dir *cg_find(const struct rt_cgroup *cg, unsigned bit)
{
	for (size_t i = 0; i < cg->n; i++) {
		if (!cg->dirs[i].v2 && (cg->dirs[i].mask & bit))
			return &cg->dirs[i];
	}
	return NULL;
}

struct cg_dir *cg_unified(const struct rt_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		if (cg->dirs[i].v2)
			return &cg->dirs[i];
	}
	return NULL;
}

int cg_blkio_list(const json_t *blkio, const char *key, json_t **ret, struct err *err)
{
	json_t *a = blkio ? json_object_get(blkio, key) : NULL;

	if (a && !json_is_array(a))
		return err_set(err, EINVAL, "linux.resources.blockIO.%s: expected array", key);
	*ret = a;
	return 0;
}

static int entry_int(const json_t *e, const char *key, size_t i, const char *field, bool optional,
		     int64_t *ret, struct err *err)
{
	json_t *v = json_object_get(e, field);

	if (!v && optional) {
		*ret = RT_UNSET_I64;
		return 0;
	}
	if (!json_is_integer(v))
		return err_set(err, EINVAL, "linux.resources.blockIO.%s[%zu].%s: expected integer",
			       key, i, field);
	if (json_integer_value(v) < 0)
		return err_set(err, EINVAL, "linux.resources.blockIO.%s[%zu].%s: negative", key, i,
			       field);
	*ret = json_integer_value(v);
	return 0;
}

int cg_blkio_entry(const json_t *e, const char *key, size_t i, const char *field, bool optional,
		   int64_t *ret_major, int64_t *ret_minor, int64_t *ret_val, struct err *err)
{
	int64_t major, minor, val;
	int r;

	if (!json_is_object(e))
		return err_set(err, EINVAL, "linux.resources.blockIO.%s[%zu]: expected object", key,
			       i);
	r = entry_int(e, key, i, "major", false, &major, err);
	if (r >= 0)
		r = entry_int(e, key, i, "minor", false, &minor, err);
	if (r >= 0)
		r = entry_int(e, key, i, field, optional, &val, err);
	if (r < 0)
		return r;
	*ret_major = major;
	*ret_minor = minor;
	*ret_val = val;
	return 0;
}

/* ---- the host layout, read once per process ---- */

static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cg_layout layout = {.unified = -1};
static struct rt_cgroup_hier *layout_public; /* the layout as internal.h shows it */
static bool layout_ready, own_ready;

static int layout_load_locked(bool need_own, bool need_avail, struct err *err)
{
	if (!layout_ready) {
		cleanup_free char *text = NULL;
		int r = fs_read_file(AT_FDCWD, "/proc/self/mountinfo", &text, NULL, err);

		if (r < 0)
			return err_wrap(err, "detect cgroups");
		r = cg_layout_parse(text, &layout, err);
		if (r < 0)
			return r;
		layout_public = xcalloc(layout.n, sizeof(*layout_public));
		for (size_t i = 0; i < layout.n; i++) {
			layout_public[i].mount_point = layout.hier[i].mountpoint;
			layout_public[i].controllers =
				layout.hier[i].v2 ? NULL : layout.hier[i].controllers;
			layout_public[i].v2 = layout.hier[i].v2;
		}
		layout_ready = true;
	}
	if (need_own && !own_ready) {
		cleanup_free char *text = NULL;
		int r = fs_read_file(AT_FDCWD, "/proc/self/cgroup", &text, NULL, err);

		if (r < 0)
			return err_wrap(err, "find own cgroup");
		for (size_t i = 0; i < layout.n; i++) {
			if (layout.hier[i].own)
				continue;
			r = cg_own_path(text, &layout.hier[i], &layout.hier[i].own, err);
			if (r < 0)
				return r;
		}
		own_ready = true;
	}
	if (need_avail && !layout.v2_avail_known && layout.unified >= 0) {
		struct cg_dir root = {.path = layout.hier[layout.unified].mountpoint, .fd = -1};
		char buf[512];
		ssize_t n = cg_read_raw(&root, "cgroup.controllers", buf, sizeof(buf));

		if (n < 0)
			return err_errno(err, (int)n, "read '%s/cgroup.controllers'", root.path);
		layout.v2_avail = mask_of(buf, ' ');
		layout.v2_avail_known = true;
	}
	return 0;
}

static int layout_get(bool need_own, bool need_avail, const struct cg_layout **ret, struct err *err)
{
	int r;

	pthread_mutex_lock(&layout_lock);
	r = layout_load_locked(need_own, need_avail, err);
	pthread_mutex_unlock(&layout_lock);
	if (r < 0)
		return r;
	*ret = &layout;
	return 0;
}

int rt_cgroup_hierarchies(const struct rt_cgroup_hier **ret, size_t *ret_n, struct err *err)
{
	const struct cg_layout *l = NULL;
	int r = layout_get(false, false, &l, err);

	if (r < 0)
		return r;
	*ret = layout_public;
	*ret_n = l->n;
	return 0;
}

const char *rt_cgroup_dir(const struct rt_cgroup *cg, const char *mount_point)
{
	size_t len = strlen(mount_point);

	for (size_t i = 0; i < cg->n; i++) {
		const char *p = cg->dirs[i].path;

		if (!strncmp(p, mount_point, len) && p[len] == '/')
			return p;
	}
	return NULL;
}

/* ---- create ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* rmdir of the @n nearest ancestors of @path, which this create made. */
static void rmdir_parents(char *path, unsigned n)
{
	size_t len = strlen(path);

	for (unsigned i = 0; i < n; i++) {
		char *slash = strrchr(path, '/');

		if (!slash || slash == path)
			break;
		*slash = '\0';
		rmdir(path);
	}
	for (size_t i = 0; i < len; i++) {
		if (!path[i])
			path[i] = '/';
	}
}

/*
 * mkdir -p of @path, never above @floor (the mount point), counting the directories it
 * made; on failure it removes them again. The common case, an existing parent, costs one
 * mkdir.
 */
static int mkdir_count(char *path, size_t floor, unsigned *created)
{
	unsigned before = *created;
	char *slash;
	int r;

	if (mkdir(path, 0755) == 0) {
		(*created)++;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) <= floor)
		return -ENOENT;
	*slash = '\0';
	r = mkdir_count(path, floor, created);
	*slash = '/';
	if (r < 0)
		return r;
	if (mkdir(path, 0755) == 0) {
		(*created)++;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	r = -errno;
	rmdir_parents(path, *created - before);
	*created = before;
	return r;
}

static int make_dir(struct cg_dir *d, struct err *err)
{
	unsigned created = 0;
	int r = mkdir_count(d->path, d->floor, &created);

	d->created = created;
	if (r < 0)
		return err_errno(err, r, "create cgroup '%s'", d->path);
	d->fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (d->fd < 0)
		return err_sys(err, "open cgroup '%s'", d->path);
	return 0;
}

/* runtime-spec: a create into a cgroup that already holds processes must fail. */
static int check_unused(const struct cg_dir *d, struct err *err)
{
	char buf[PROCS_SMALL];
	ssize_t n;

	if (d->created || d->optional)
		return 0;
	n = cg_read_raw(d, "cgroup.procs", buf, sizeof(buf));
	if (n < 0)
		return err_errno(err, (int)n, "read '%s/cgroup.procs'", d->path);
	if (n > 0)
		return err_set(err, EBUSY, "create cgroup '%s': it already has processes", d->path);
	return 0;
}

static void dir_done(struct cg_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	free(d->path);
	free(d->controllers);
	d->path = d->controllers = NULL;
}

static int remove_dir(struct cg_dir *d, struct err *err);

static void drop_dir(struct rt_cgroup *cg, size_t i)
{
	cleanup_err struct err ignored = ERR_INIT;

	remove_dir(&cg->dirs[i], &ignored);
	dir_done(&cg->dirs[i]);
	memmove(&cg->dirs[i], &cg->dirs[i + 1], (cg->n - i - 1) * sizeof(*cg->dirs));
	cg->n--;
}

unsigned cg_v2_needed(const struct rt_resources *res, unsigned v1_mask)
{
	unsigned mask = 0;
	const char *key;
	json_t *v;

	if (!res)
		return 0;
	if (res->n_hugepages && !(v1_mask & CG_HUGETLB))
		mask |= CG_HUGETLB;
	json_object_foreach (res->unified, key, v) {
		const char *dot = strchr(key, '.');

		if (dot)
			mask |= cg_controller_bit(key, (size_t)(dot - key));
	}
	return mask;
}

int cg_apply(struct rt_cgroup *cg, const struct rt_resources *res, struct err *err)
{
	struct cg_dir *u = cg_unified(cg);
	int r;

	if (cg->mode == CG_MODE_V2)
		return cg_v2_apply(u, res, err);
	r = cg_v1_apply(cg, res, err);
	if (r < 0 || !res)
		return r;
	if (res->n_hugepages && !cg_find(cg, CG_HUGETLB)) {
		if (!u)
			return err_set(
				err, EOPNOTSUPP,
				"linux.resources.hugepageLimits: no hugetlb cgroup controller");
		r = cg_v2_apply_hugetlb(u, res, err);
		if (r < 0)
			return r;
	}
	if (json_object_size(res->unified) > 0) {
		if (!u)
			return err_set(err, EOPNOTSUPP,
				       "linux.resources.unified: cgroup v2 is not mounted");
		return cg_v2_apply_unified(u, res->unified, err);
	}
	return 0;
}

static int add_dirs(struct rt_cgroup *cg, const struct cg_layout *l, const char *path,
		    const struct rt_resources *res, struct err *err)
{
	cleanup_free char *abs = NULL;
	unsigned v1_mask = 0;
	bool v2_needed;

	if (path[0] == '/' && cg_path_resolve(path, NULL, &abs, err) < 0)
		return -err->code;
	for (size_t i = 0; i < l->n; i++)
		v1_mask |= l->hier[i].mask;
	v2_needed = cg_v2_needed(res, v1_mask) || (res && json_object_size(res->unified) > 0);
	for (size_t i = 0; i < l->n; i++) {
		const struct cg_hier *h = &l->hier[i];
		cleanup_free char *rel = NULL;
		struct cg_dir *d = &cg->dirs[cg->n];

		if (!abs && cg_path_resolve(path, h->own, &rel, err) < 0)
			return -err->code;
		d->path = cg_hier_dir(h, abs ? abs : rel);
		d->controllers = xstrdup(h->controllers);
		d->mask = h->mask;
		d->v2 = h->v2;
		d->optional = h->v2 && l->mode == CG_MODE_HYBRID && !v2_needed;
		d->floor = strlen(h->mountpoint);
		d->fd = -1;
		cg->n++;
	}
	return 0;
}

static int remove_created(struct rt_cgroup *cg)
{
	cleanup_err struct err ignored = ERR_INIT;

	for (size_t i = cg->n; i-- > 0;) {
		remove_dir(&cg->dirs[i], &ignored);
		err_clear(&ignored);
	}
	return 0;
}

int rt_cgroup_create(const char *path, const struct rt_resources *res, struct rt_cgroup **ret,
		     struct err *err)
{
	cleanup_free char *sd = NULL;
	const struct cg_layout *l = NULL;
	struct rt_cgroup *cg = NULL;
	struct cg_dir *d;
	int r;

	if (!path || !*path)
		return err_set(err, EINVAL, "invalid cgroupsPath: empty");
	if (cg_path_is_systemd(path)) {
		r = cg_systemd_path(path, &sd, err);
		if (r < 0)
			return r;
		path = sd;
	}
	r = layout_get(path[0] != '/', false, &l, err);
	if (r < 0)
		return r;
	cg = xcalloc(1, sizeof(*cg));
	cg->mode = l->mode;
	cg->dirs = xcalloc(l->n, sizeof(*cg->dirs));
	r = add_dirs(cg, l, path, res, err);
	if (r < 0)
		goto free_cg;
	for (size_t i = 0; i < cg->n; i++) {
		d = &cg->dirs[i];
		r = make_dir(d, err);
		if (r < 0 && d->optional) {
			log_debug("cgroup: %s, ignoring (hybrid unified hierarchy)", err->msg);
			err_clear(err);
			drop_dir(cg, i--);
			continue;
		}
		if (r >= 0)
			r = check_unused(d, err);
		if (r < 0)
			goto remove_dirs;
	}
	d = cg_find(cg, CG_CPUSET);
	if (d) {
		r = cg_v1_cpuset_prepare(d, res, err);
		if (r < 0)
			goto remove_dirs;
	}
	d = cg_unified(cg);
	if (d && cg->mode == CG_MODE_V2) {
		r = layout_get(false, true, &l, err);
		if (r < 0)
			goto remove_dirs;
		cg_v2_enable(d, l->v2_avail);
	} else if (d && !d->optional) {
		unsigned v1_mask = 0;

		for (size_t i = 0; i < cg->n; i++)
			v1_mask |= cg->dirs[i].mask;
		cg_v2_enable(d, cg_v2_needed(res, v1_mask));
	}
	r = cg_apply(cg, res, err);
	if (r < 0)
		goto remove_dirs;
	*ret = cg;
	return 0;

remove_dirs:
	remove_created(cg);
free_cg:
	rt_cgroup_free(cg);
	return r;
}

/* ---- processes ---- */

int rt_cgroup_enter(struct rt_cgroup *cg, pid_t pid, struct err *err)
{
	char buf[CG_NUM_MAX];

	cg_fmt_i64(buf, pid);
	for (size_t i = 0; i < cg->n; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		int r = cg_write_raw(d, "cgroup.procs", buf);

		if (r < 0 && d->optional) {
			log_debug("cgroup: cannot join '%s': %s, ignoring", d->path, strerror(-r));
			continue;
		}
		if (r < 0)
			return cg_write_err(d, "cgroup.procs", buf, r, err);
	}
	return 0;
}

/* The directory whose cgroup.procs lists the container's processes. */
static const struct cg_dir *procs_dir(const struct rt_cgroup *cg)
{
	const struct cg_dir *d;

	if (cg->mode == CG_MODE_V2)
		return cg_unified(cg);
	d = cg_find(cg, CG_PIDS);
	if (!d)
		d = cg_find(cg, CG_FREEZER);
	for (size_t i = 0; !d && i < cg->n; i++) {
		if (!cg->dirs[i].v2)
			d = &cg->dirs[i];
	}
	return d;
}

static int collect_pids(int dirfd, const char *path, unsigned depth, pid_t **pids, size_t *n,
			size_t *cap, struct err *err)
{
	cleanup_free char *text = NULL;
	cleanup_dir DIR *dir = NULL;
	struct dirent *de;
	int fd, r;

	r = fs_read_file(dirfd, "cgroup.procs", &text, NULL, err);
	if (r < 0)
		return err_wrap(err, "list processes of cgroup '%s'", path);
	r = cg_pids_parse(text, pids, n, cap, err);
	if (r < 0)
		return err_wrap(err, "list processes of cgroup '%s'", path);
	if (depth >= MAX_NESTING)
		return 0;
	/* processes in nested cgroups (a container running systemd) belong to it too */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open cgroup '%s'", path);
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return err_sys(err, "open cgroup '%s'", path);
	}
	while ((de = readdir(dir))) {
		cleanup_close int sub = -1;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT)
			continue;
		if (sub < 0)
			return err_sys(err, "open cgroup '%s/%s'", path, de->d_name);
		r = collect_pids(sub, path, depth + 1, pids, n, cap, err);
		if (r == -ENOENT) {
			err_clear(err);
			continue;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int rt_cgroup_pids(const struct rt_cgroup *cg, pid_t **ret_pids, size_t *ret_n, struct err *err)
{
	const struct cg_dir *d = procs_dir(cg);
	cleanup_close int fd = -1;
	cleanup_free pid_t *pids = NULL;
	size_t n = 0, cap = 0;
	int r;

	if (!d)
		return err_set(err, ENOENT, "list cgroup processes: no cgroup directory");
	fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open cgroup '%s'", d->path);
	r = collect_pids(fd, d->path, 0, &pids, &n, &cap, err);
	if (r < 0)
		return r;
	n = cg_pids_sort_unique(pids, n);
	*ret_pids = pids ? TAKE_PTR(pids) : xmalloc(sizeof(pid_t));
	*ret_n = n;
	return 0;
}

/* Waits until @file's @key reads @want (v2 cgroup.events) or its text starts with @word. */
static int wait_state(const struct cg_dir *d, const char *file, const char *key, int64_t want,
		      const char *word, const char *set_file, const char *set_val, struct err *err)
{
	long start = clock_mono_ms(), delay = 1;
	char buf[256];

	for (;;) {
		ssize_t n = cg_read_raw(d, file, buf, sizeof(buf));
		int64_t v;

		if (n < 0)
			return err_errno(err, (int)n, "read '%s/%s'", d->path, file);
		if (key ? cg_keyed_get(buf, key, &v) && v == want
			: !strncmp(buf, word, strlen(word)))
			return 0;
		if (clock_mono_ms() - start > WAIT_MS)
			return err_set(err, ETIMEDOUT, "write '%s' to '%s/%s': state not reached",
				       set_val, d->path, set_file);
		sleep_ms(delay);
		if (delay < 16)
			delay *= 2;
		/* the v1 freezer retries a freeze that met a forking task only when asked again */
		if (!key) {
			int r = cg_write_raw(d, set_file, set_val);

			if (r < 0)
				return cg_write_err(d, set_file, set_val, r, err);
		}
	}
}

int cg_set_frozen(const struct rt_cgroup *cg, bool frozen, struct err *err)
{
	const struct cg_dir *d;
	const char *val;
	int r;

	if (cg->mode == CG_MODE_V2) {
		d = cg_unified(cg);
		val = frozen ? "1" : "0";
		r = cg_write(d, "cgroup.freeze", val, err);
		if (r < 0)
			return r;
		return wait_state(d, "cgroup.events", "frozen", frozen, NULL, "cgroup.freeze", val,
				  err);
	}
	d = cg_find(cg, CG_FREEZER);
	if (!d)
		return err_set(err, EOPNOTSUPP,
			       "freeze cgroup: the freezer controller is not mounted");
	val = frozen ? "FROZEN" : "THAWED";
	r = cg_write(d, "freezer.state", val, err);
	if (r < 0)
		return r;
	r = wait_state(d, "freezer.state", NULL, 0, val, "freezer.state", val, err);
	if (r < 0 && frozen)
		cg_write_raw(d, "freezer.state", "THAWED");
	return r;
}

/* Is the cgroup frozen already (a paused container)? False when it cannot tell. */
static bool is_frozen(const struct rt_cgroup *cg)
{
	char buf[64];
	const struct cg_dir *d = cg->mode == CG_MODE_V2 ? cg_unified(cg) : cg_find(cg, CG_FREEZER);

	if (!d)
		return false;
	if (cg->mode == CG_MODE_V2)
		return cg_read_raw(d, "cgroup.freeze", buf, sizeof(buf)) > 0 && buf[0] == '1';
	return cg_read_raw(d, "freezer.state", buf, sizeof(buf)) > 0 && !strncmp(buf, "FROZEN", 6);
}

static int signal_all(const struct rt_cgroup *cg, int sig, struct err *err)
{
	cleanup_free pid_t *pids = NULL;
	size_t n = 0;
	int r = rt_cgroup_pids(cg, &pids, &n, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (kill(pids[i], sig) < 0 && errno != ESRCH && r == 0)
			r = err_sys(err, "send signal %d to process %d", sig, (int)pids[i]);
	}
	return r;
}

int rt_cgroup_kill(const struct rt_cgroup *cg, int sig, struct err *err)
{
	cleanup_err struct err ferr = ERR_INIT;
	bool thaw = false;
	int r;

	if (sig == SIGKILL && cg->mode == CG_MODE_V2) {
		/* cgroup.kill (Linux 5.14) kills the whole subtree atomically */
		r = cg_write_raw(cg_unified(cg), "cgroup.kill", "1");
		if (r == 0)
			return 0;
		if (r != -ENOENT)
			return cg_write_err(cg_unified(cg), "cgroup.kill", "1", r, err);
	}
	/* frozen, no process can fork a child that the signal would miss */
	if (!is_frozen(cg)) {
		if (cg_set_frozen(cg, true, &ferr) == 0)
			thaw = true;
		else
			log_debug("cgroup: %s, signalling without freezing", ferr.msg);
	}
	r = signal_all(cg, sig, err);
	if (thaw) {
		err_clear(&ferr);
		if (cg_set_frozen(cg, false, &ferr) < 0 && r == 0)
			r = err_set(err, ferr.code, "%s", ferr.msg);
	}
	return r;
}

bool rt_cgroup_oom_killed(const struct rt_cgroup *cg)
{
	const struct cg_dir *d = cg->mode == CG_MODE_V2 ? cg_unified(cg) : cg_find(cg, CG_MEMORY);
	const char *file = cg->mode == CG_MODE_V2 ? "memory.events" : "memory.oom_control";
	char buf[512];
	int64_t v = 0;

	if (!d || cg_read_raw(d, file, buf, sizeof(buf)) <= 0)
		return false;
	return cg_keyed_get(buf, "oom_kill", &v) && v > 0;
}

/* ---- destroy ---- */

/* Removes cgroups the container made below its own, deepest first; errors show on retry. */
static void remove_children(int dirfd, unsigned depth)
{
	cleanup_dir DIR *dir = NULL;
	struct dirent *de;
	int fd;

	if (depth >= MAX_NESTING)
		return;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		cleanup_close int sub = -1;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		remove_children(sub, depth + 1);
		unlinkat(dirfd, de->d_name, AT_REMOVEDIR);
	}
}

/* rmdir of the container's own directory, waiting for exiting processes to leave. */
static int remove_leaf(const char *path, struct err *err)
{
	long start = clock_mono_ms(), delay = 1;
	bool children = false;

	for (;;) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return err_sys(err, "remove cgroup '%s'", path);
		if (!children) {
			cleanup_close int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

			children = true;
			if (fd >= 0)
				remove_children(fd, 0);
			continue;
		}
		if (clock_mono_ms() - start > WAIT_MS)
			return err_errno(err, EBUSY, "remove cgroup '%s'", path);
		sleep_ms(delay);
		if (delay < 32)
			delay *= 2;
	}
}

static int remove_dir(struct cg_dir *d, struct err *err)
{
	cleanup_free char *path = NULL;
	int r;

	if (!d->created)
		return 0;
	r = remove_leaf(d->path, err);
	if (r < 0)
		return r;
	path = xstrdup(d->path);
	for (unsigned i = 1; i < d->created; i++) {
		char *slash = strrchr(path, '/');

		if (!slash || slash == path)
			break;
		*slash = '\0';
		/* a parent we made may hold another container's cgroup by now: leave it */
		if (rmdir(path) < 0 && errno != ENOENT) {
			if (errno == EBUSY || errno == ENOTEMPTY)
				break;
			return err_sys(err, "remove cgroup '%s'", path);
		}
	}
	d->created = 0;
	return 0;
}

int rt_cgroup_destroy(struct rt_cgroup *cg, struct err *err)
{
	int ret = 0;

	for (size_t i = cg->n; i-- > 0;) {
		cleanup_err struct err e = ERR_INIT;
		struct cg_dir *d = &cg->dirs[i];

		if (d->fd >= 0) {
			close(d->fd);
			d->fd = -1;
		}
		if (remove_dir(d, &e) == 0)
			continue;
		if (d->optional)
			log_debug("cgroup: %s, ignoring", e.msg);
		else if (ret == 0)
			ret = err_set(err, e.code, "%s", e.msg);
	}
	return ret;
}

void rt_cgroup_free(struct rt_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++)
		dir_done(&cg->dirs[i]);
	free(cg->dirs);
	free(cg);
}

/* ---- state ---- */

json_t *rt_cgroup_to_json(const struct rt_cgroup *cg)
{
	json_t *dirs = json_array();

	for (size_t i = 0; i < cg->n; i++) {
		const struct cg_dir *d = &cg->dirs[i];
		json_t *o =
			json_pack("{s:s, s:I}", "path", d->path, "created", (json_int_t)d->created);

		if (d->v2)
			json_object_set_new(o, "v2", json_true());
		else
			json_object_set_new(o, "controllers", json_string(d->controllers));
		if (d->optional)
			json_object_set_new(o, "optional", json_true());
		json_array_append_new(dirs, o);
	}
	return json_pack("{s:s, s:o}", "mode", mode_names[cg->mode], "dirs", dirs);
}

static int load_dir(const json_t *o, size_t i, struct cg_dir *d, struct err *err)
{
	json_t *path = json_object_get(o, "path"), *ctl = json_object_get(o, "controllers");
	json_t *created = json_object_get(o, "created");
	const char *p;
	unsigned depth = 0;

	if (!json_is_string(path) || json_string_value(path)[0] != '/')
		return err_set(err, EINVAL, "cgroup state: dirs[%zu].path: expected absolute path",
			       i);
	p = json_string_value(path);
	if (strstr(p, "/../") || ends_with(p, strlen(p), "/.."))
		return err_set(err, EINVAL, "cgroup state: dirs[%zu].path: '..' in '%s'", i, p);
	for (const char *s = p; *s; s++)
		depth += *s == '/';
	if (!json_is_integer(created) || json_integer_value(created) < 0 ||
	    json_integer_value(created) >= depth)
		return err_set(err, EINVAL, "cgroup state: dirs[%zu].created: out of range", i);
	d->v2 = json_is_true(json_object_get(o, "v2"));
	if (!d->v2 && !json_is_string(ctl))
		return err_set(err, EINVAL, "cgroup state: dirs[%zu].controllers: expected string",
			       i);
	d->path = xstrdup(p);
	d->controllers = xstrdup(d->v2 ? "" : json_string_value(ctl));
	d->mask = d->v2 ? 0 : mask_of(d->controllers, ',');
	d->optional = json_is_true(json_object_get(o, "optional"));
	d->created = (unsigned)json_integer_value(created);
	return 0;
}

int rt_cgroup_load(const json_t *j, struct rt_cgroup **ret, struct err *err)
{
	json_t *mode = json_object_get(j, "mode"), *dirs = json_object_get(j, "dirs");
	struct rt_cgroup *cg;
	int m = -1;

	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (json_is_string(mode) && !strcmp(json_string_value(mode), mode_names[i]))
			m = (int)i;
	}
	if (m < 0)
		return err_set(err, EINVAL, "cgroup state: mode: expected v1, v2 or hybrid");
	if (!json_is_array(dirs) || json_array_size(dirs) == 0)
		return err_set(err, EINVAL, "cgroup state: dirs: expected non-empty array");
	cg = xcalloc(1, sizeof(*cg));
	cg->mode = (enum cg_mode)m;
	cg->dirs = xcalloc(json_array_size(dirs), sizeof(*cg->dirs));
	for (size_t i = 0; i < json_array_size(dirs); i++) {
		cg->dirs[i].fd = -1;
		if (load_dir(json_array_get(dirs, i), i, &cg->dirs[i], err) < 0) {
			cg->n = i + 1;
			rt_cgroup_free(cg);
			return -err->code;
		}
		cg->n = i + 1;
	}
	if (cg->mode == CG_MODE_V2 && !cg_unified(cg)) {
		rt_cgroup_free(cg);
		return err_set(err, EINVAL, "cgroup state: mode v2 without a v2 directory");
	}
	*ret = cg;
	return 0;
}
