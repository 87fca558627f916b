/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod volumes on the node (see volumes.h): directories and tmpfs instances under the pod's
 * state directory, host paths checked as the kubelet checks them, and projections of
 * ConfigMaps, Secrets, pod metadata and tokens written with the kubelet's atomic-writer
 * layout so that readers never see a half-written update.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/b64.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/jload.h"
#include "cluster/agent/volumes.h"
#include "cluster/api/quantity.h"

#define DATA_LINK                "..data"
#define DATA_LINK_TMP            "..data_tmp"
#define DEFAULT_MODE             0644
#define MAX_PATH_LEN             4096
#define MAX_NAME_LEN             255
#define TOKEN_DEFAULT_EXPIRATION 3600

/* One file of a projection: a path relative to the volume and its bytes. */
struct pfile {
	char *path;
	char *data;
	size_t len;
	mode_t mode;
};

struct payload {
	struct pfile *v;
	size_t n, cap;
};

static void payload_done(struct payload *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].data);
	}
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* Takes @data; a later file with the same path replaces an earlier one, as upstream's map. */
static void payload_add(struct payload *p, const char *path, char *data, size_t len, mode_t mode)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].path, path)) {
			free(p->v[i].data);
			p->v[i].data = data;
			p->v[i].len = len;
			p->v[i].mode = mode;
			return;
		}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 8;
		p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n++] = (struct pfile){xstrdup(path), data, len, mode};
}

#define cleanup_payload __attribute__((cleanup(payload_done)))

/* A growable list of heap strings. */
struct strs {
	char **v;
	size_t n, cap;
};

static void strs_add(struct strs *s, char *str)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = str;
}

static bool strs_has(const struct strs *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], str))
			return true;
	return false;
}

static void strs_done(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

#define cleanup_strs __attribute__((cleanup(strs_done)))

/* A growable byte string for the few texts built here. */
struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

/* The string built so far (never NULL), handed to the caller. */
static char *sb_take(struct sbuf *b, size_t *ret_len)
{
	char *p = b->p ? b->p : xstrdup("");

	if (ret_len)
		*ret_len = b->n;
	b->p = NULL;
	b->n = b->cap = 0;
	return p;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static bool jtrue(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A name the API would accept as one path element of ours: never "", ".", ".." or with '/'. */
static bool safe_name(const char *s)
{
	return *s && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') &&
	       strlen(s) <= MAX_NAME_LEN;
}

/* ---- atomic writer ---------------------------------------------------------------------- */

/* Upstream's payload path rules: relative, no ".." element, not starting with "..". */
static int aw_check_path(const char *path, struct err *err)
{
	const char *s = path;

	if (!*path)
		return err_set(err, EINVAL, "invalid path: must not be empty");
	if (*path == '/')
		return err_set(err, EINVAL, "invalid path: must be relative path: %s", path);
	if (strlen(path) > MAX_PATH_LEN)
		return err_set(err, EINVAL,
			       "invalid path: must be less than or equal to %d characters",
			       MAX_PATH_LEN);
	if (!strncmp(path, "..", 2) && path[2] != '/' && path[2] != '\0')
		return err_set(err, EINVAL, "invalid path: must not start with '..': %s", path);
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n == 2 && !strncmp(s, "..", 2))
			return err_set(err, EINVAL, "invalid path: must not contain '..': %s",
				       path);
		if (n > MAX_NAME_LEN)
			return err_set(err, EINVAL,
				       "invalid path: filenames must be less than or equal to %d "
				       "characters",
				       MAX_NAME_LEN);
		if (n == 0 || (n == 1 && *s == '.'))
			return err_set(err, EINVAL, "invalid path: must be a clean path: %s", path);
		s += n;
		if (*s == '/')
			s++;
	}
	if (path[strlen(path) - 1] == '/')
		return err_set(err, EINVAL, "invalid path: must be a clean path: %s", path);
	return 0;
}

/* Every path below @rel in the directory @fd ("a", "a/b", ...), for stale-path detection. */
static int aw_walk(int fd, const char *rel, struct strs *out, struct err *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int dfd = dup(fd);

	if (dfd < 0)
		return err_sys(err, "duplicate directory descriptor");
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return err_sys(err, "read directory '%s'", *rel ? rel : ".");
	}
	while ((de = readdir(d))) {
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		strs_add(out, p);
		if (de->d_type == DT_DIR) {
			cleanup_close int sub = openat(
				fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				return err_sys(err, "open '%s'", p);
			if (aw_walk(sub, p, out, err) < 0)
				return -err->code;
		}
	}
	return 0;
}

/* Whether @f differs from what the current data directory holds. */
static bool aw_file_differs(int dfd, const char *old_ts, const struct pfile *f)
{
	cleanup_free char *rel = xasprintf("%s/%s", old_ts, f->path);
	cleanup_close int fd = openat(dfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	struct err e = ERR_INIT;
	struct stat st;
	size_t len = 0;
	bool differs;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return true;
	if ((st.st_mode & 07777) != f->mode || (size_t)st.st_size != f->len)
		return true;
	if (fs_read_file(dfd, rel, &buf, &len, &e) < 0) {
		err_clear(&e);
		return true;
	}
	differs = len != f->len || memcmp(buf, f->data, len) != 0;
	return differs;
}

/* The user-visible paths of the payload: every file and every directory above one. */
static void aw_new_paths(const struct payload *p, struct strs *out)
{
	for (size_t i = 0; i < p->n; i++) {
		cleanup_free char *s = xstrdup(p->v[i].path);

		for (;;) {
			char *slash;

			if (!strs_has(out, s))
				strs_add(out, xstrdup(s));
			slash = strrchr(s, '/');
			if (!slash)
				break;
			*slash = '\0';
		}
	}
}

/* Top-level links "name" -> "..data/name" that are missing (a first write, or a crash). */
static int aw_link_names(int dfd, const struct payload *p, struct err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		cleanup_free char *top = xstrndup(p->v[i].path, strcspn(p->v[i].path, "/"));
		cleanup_free char *target = xasprintf(DATA_LINK "/%s", top);
		struct stat st;

		if (fstatat(dfd, top, &st, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (errno != ENOENT)
			return err_sys(err, "stat '%s'", top);
		if (symlinkat(target, dfd, top) < 0)
			return err_sys(err, "link '%s' to '%s'", top, target);
	}
	return 0;
}

static int aw_mkdirs(int tsfd, const char *path, struct err *err)
{
	cleanup_free char *p = xstrdup(path);

	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		struct stat st;

		*s = '\0';
		if (mkdirat(tsfd, p, 0755) < 0 && errno != EEXIST)
			return err_sys(err, "create directory '%s'", p);
		if (fstatat(tsfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return err_set(err, EINVAL, "project '%s': '%s' is also a file", path, p);
		/* mkdir's mode is filtered by the umask; readers of any uid need 0755 */
		if (fchmodat(tsfd, p, 0755, 0) < 0)
			return err_sys(err, "chmod '%s'", p);
		*s = '/';
	}
	return 0;
}

static int aw_write_files(int tsfd, const struct payload *p, struct err *err)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct pfile *f = &p->v[i];
		cleanup_close int fd = -1;

		if (aw_mkdirs(tsfd, f->path, err) < 0)
			return -err->code;
		fd = openat(tsfd, f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    f->mode);
		if (fd < 0 && errno == EEXIST)
			return err_set(err, EINVAL, "project '%s': the path is also a directory",
				       f->path);
		if (fd < 0)
			return err_sys(err, "create '%s'", f->path);
		if (write_all(fd, f->data, f->len) < 0)
			return err_sys(err, "write '%s'", f->path);
		if (fchmod(fd, f->mode) < 0)
			return err_sys(err, "set mode of '%s'", f->path);
	}
	return 0;
}

static int aw_new_ts_dir(int dfd, char *name, size_t size, struct err *err)
{
	for (int tries = 0; tries < 100; tries++) {
		struct timespec ts;
		struct tm tm;
		uint32_t rnd = 0;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y_%m_%d_%H_%M_%S", &tm);
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)ts.tv_nsec;
		snprintf(name, size, "..%s.%u", stamp, rnd);
		if (mkdirat(dfd, name, 0755) == 0) {
			if (fchmodat(dfd, name, 0755, 0) < 0)
				return err_sys(err, "chmod '%s'", name);
			return 0;
		}
		if (errno != EEXIST)
			return err_sys(err, "create directory '%s'", name);
	}
	return err_set(err, EEXIST, "create a timestamped directory: all names taken");
}

/*
 * Data directories other than @keep and @prev: older ones and leftovers of interrupted
 * writes. The one just replaced stays until the next change, so that a reader who
 * resolved "..data" to it a moment before the switch still finds its files.
 */
static int aw_remove_old(int dfd, const char *keep, const char *prev, struct err *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd = dup(dfd);

	if (fd < 0)
		return err_sys(err, "duplicate directory descriptor");
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(err, "read volume directory");
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "..", 2) || de->d_name[2] < '0' || de->d_name[2] > '9')
			continue;
		if (!strcmp(de->d_name, keep) || !strcmp(de->d_name, prev))
			continue;
		if (fs_remove_tree(dfd, de->d_name, err) < 0)
			return -err->code;
	}
	return 0;
}

/*
 * Projects @p into the directory @dir (upstream's AtomicWriter.Write): nothing happens
 * when every file is already there with the same bytes and mode and nothing is stale.
 */
static int aw_write(const char *dir, const struct payload *p, bool *ret_changed, struct err *err)
{
	cleanup_close int dfd = -1, tsfd = -1;
	cleanup_strs struct strs old = {0};
	cleanup_strs struct strs now = {0};
	char old_ts[PATH_MAX] = "", ts[64];
	bool need = false;
	ssize_t n;

	for (size_t i = 0; i < p->n; i++)
		if (aw_check_path(p->v[i].path, err) < 0)
			return -err->code;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_sys(err, "open '%s'", dir);
	n = readlinkat(dfd, DATA_LINK, old_ts, sizeof(old_ts) - 1);
	if (n < 0 && errno != ENOENT)
		return err_sys(err, "read link '%s/" DATA_LINK "'", dir);
	aw_new_paths(p, &now);
	if (n > 0) {
		cleanup_close int ofd = -1;

		old_ts[n] = '\0';
		ofd = openat(dfd, old_ts, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ofd < 0 || aw_walk(ofd, "", &old, err) < 0) {
			err_clear(err);
			need = true;
		}
		for (size_t i = 0; !need && i < old.n; i++)
			need = !strs_has(&now, old.v[i]);
		for (size_t i = 0; !need && i < p->n; i++)
			need = aw_file_differs(dfd, old_ts, &p->v[i]);
	} else {
		need = true;
	}
	if (!need) {
		*ret_changed = false;
		return aw_link_names(dfd, p, err);
	}

	if (aw_new_ts_dir(dfd, ts, sizeof(ts), err) < 0)
		return -err->code;
	tsfd = openat(dfd, ts, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tsfd < 0) {
		err_sys(err, "open '%s'", ts);
		goto remove_ts;
	}
	if (aw_write_files(tsfd, p, err) < 0 || aw_link_names(dfd, p, err) < 0)
		goto remove_ts;
	if (unlinkat(dfd, DATA_LINK_TMP, 0) < 0 && errno != ENOENT) {
		err_sys(err, "remove '" DATA_LINK_TMP "'");
		goto remove_ts;
	}
	if (symlinkat(ts, dfd, DATA_LINK_TMP) < 0) {
		err_sys(err, "link '" DATA_LINK_TMP "' to '%s'", ts);
		goto remove_ts;
	}
	/* rename(2) replaces the link in one step: readers see the old or the new data */
	if (renameat(dfd, DATA_LINK_TMP, dfd, DATA_LINK) < 0) {
		err_sys(err, "rename '" DATA_LINK_TMP "' to '" DATA_LINK "'");
		unlinkat(dfd, DATA_LINK_TMP, 0);
		goto remove_ts;
	}
	for (size_t i = 0; i < old.n; i++) {
		struct stat st;

		if (strchr(old.v[i], '/') || strs_has(&now, old.v[i]))
			continue;
		if (fstatat(dfd, old.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
		    unlinkat(dfd, old.v[i], 0) < 0 && errno != ENOENT)
			return err_sys(err, "remove stale '%s'", old.v[i]);
	}
	if (aw_remove_old(dfd, ts, old_ts, err) < 0)
		return -err->code;
	*ret_changed = true;
	return 0;

remove_ts : {
	struct err e2 = ERR_INIT;

	fs_remove_tree(dfd, ts, &e2);
	err_clear(&e2);
}
	return -err->code;
}

/* ---- mounts --------------------------------------------------------------------------------- */

static bool is_mount_point(const char *path)
{
	cleanup_free char *parent = xasprintf("%s/..", path);
	struct stat a, b;

	if (lstat(path, &a) < 0 || !S_ISDIR(a.st_mode) || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

/* A tmpfs at @dir unless one is there already (an agent restart adopts it with its data). */
static int ensure_tmpfs(const char *dir, const char *opts, struct err *err)
{
	if (is_mount_point(dir))
		return 0;
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return err_sys(err, "mount tmpfs on '%s'", dir);
	return 0;
}

/* ---- volume directories --------------------------------------------------------------------- */

static char *volume_dir(const struct vol_ctx *ctx, const char *uid, const char *plugin,
			const char *name)
{
	return xasprintf("%s/%s/volumes/kubernetes.io~%s/%s", ctx->pods_dir, uid, plugin, name);
}

static int make_volume_dir(const char *dir, mode_t mode, struct err *err)
{
	struct stat st;

	if (lstat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return err_set(err, EEXIST, "'%s' exists and is not a directory", dir);
		return 0;
	}
	if (fs_mkdir_p(dir, 0750, err) < 0)
		return -err->code;
	if (chmod(dir, mode) < 0)
		return err_sys(err, "set mode of '%s'", dir);
	return 0;
}

static json_t *result(const char *path, bool ro, const char *type)
{
	return json_pack("{s:s, s:b, s:s}", "path", path, "readOnly", ro, "type", type);
}

/* ---- emptyDir, hostPath, persistentVolumeClaim ----------------------------------------------- */

static int setup_empty_dir(const char *dir, const json_t *src, json_t **ret, struct err *err)
{
	const char *medium = jstr(src, "medium");
	const char *limit = jstr(src, "sizeLimit");
	cleanup_free char *opts = NULL;
	struct quantity q;
	const char *why = NULL;

	if (*medium && strcmp(medium, "Memory"))
		return err_set(err, EINVAL, "emptyDir medium \"%s\" is not supported", medium);
	if (*limit && !quantity_parse(limit, &q, &why))
		return err_set(err, EINVAL, "emptyDir sizeLimit \"%s\": %s", limit, why);
	if (make_volume_dir(dir, 0777, err) < 0)
		return -err->code;
	if (*medium) {
		if (*limit)
			opts = xasprintf("size=%lld", (long long)quantity_value(&q));
		if (ensure_tmpfs(dir, opts, err) < 0)
			return -err->code;
	}
	*ret = result(dir, false, "emptyDir");
	if (*limit)
		json_object_set_new(*ret, "sizeLimit", json_string(limit));
	return 0;
}

static int host_path_type_check(const char *path, const char *type, struct err *err)
{
	struct stat st;
	bool exists = stat(path, &st) == 0;

	if (!*type)
		return 0;
	if (!strcmp(type, "DirectoryOrCreate")) {
		if (!exists)
			return fs_mkdir_p(path, 0755, err);
		type = "Directory";
	} else if (!strcmp(type, "FileOrCreate")) {
		if (!exists) {
			cleanup_close int fd = open(
				path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);

			if (fd < 0 && errno != EEXIST)
				return err_sys(err, "create '%s'", path);
			exists = stat(path, &st) == 0;
		}
		type = "File";
	}
	if (!strcmp(type, "Directory")) {
		if (!exists || !S_ISDIR(st.st_mode))
			return err_set(err, EINVAL,
				       "hostPath type check failed: %s is not a directory", path);
	} else if (!strcmp(type, "File")) {
		if (!exists || !S_ISREG(st.st_mode))
			return err_set(err, EINVAL, "hostPath type check failed: %s is not a file",
				       path);
	} else if (!strcmp(type, "Socket")) {
		if (!exists || !S_ISSOCK(st.st_mode))
			return err_set(err, EINVAL,
				       "hostPath type check failed: %s is not a socket file", path);
	} else if (!strcmp(type, "CharDevice")) {
		if (!exists || !S_ISCHR(st.st_mode))
			return err_set(err, EINVAL,
				       "hostPath type check failed: %s is not a character device",
				       path);
	} else if (!strcmp(type, "BlockDevice")) {
		if (!exists || !S_ISBLK(st.st_mode))
			return err_set(err, EINVAL,
				       "hostPath type check failed: %s is not a block device",
				       path);
	} else {
		return err_set(err, EINVAL, "%s is an invalid volume type", type);
	}
	return 0;
}

static int setup_host_path(const json_t *src, json_t **ret, struct err *err)
{
	const char *path = jstr(src, "path");

	if (*path != '/')
		return err_set(err, EINVAL, "hostPath.path \"%s\" must be an absolute path", path);
	if (host_path_type_check(path, jstr(src, "type"), err) < 0)
		return -err->code;
	*ret = result(path, false, "hostPath");
	return 0;
}

static int setup_claim(const struct vol_ctx *ctx, const char *ns, const json_t *src, json_t **ret,
		       struct err *err)
{
	const char *claim = jstr(src, "claimName");
	cleanup_free char *path = NULL;

	if (!*claim)
		return err_set(err, EINVAL, "persistentVolumeClaim.claimName is required");
	if (!ctx->claim)
		return err_set(err, ENOTSUP,
			       "persistentvolumeclaim \"%s\": no provisioner on this node", claim);
	if (ctx->claim(ctx->arg, ns, claim, &path, err) < 0)
		return -err->code;
	*ret = result(path, jtrue(src, "readOnly"), "persistentVolumeClaim");
	return 0;
}

/* ---- projections ------------------------------------------------------------------------------
 */

static int mode_of(const json_t *o, const char *key, mode_t dflt, mode_t *ret, struct err *err)
{
	json_t *v = json_object_get(o, key);
	json_int_t m;

	if (!v || json_is_null(v)) {
		*ret = dflt;
		return 0;
	}
	m = json_integer_value(v);
	if (!json_is_integer(v) || m < 0 || m > 0777)
		return err_set(err, EINVAL, "%s: must be a number between 0 and 0777 (octal)", key);
	*ret = (mode_t)m;
	return 0;
}

/* Fetches a ConfigMap or Secret; *ret stays NULL for a missing optional one. */
static int get_object(const struct vol_ctx *ctx, bool secret, const char *ns, const char *name,
		      bool optional, json_t **ret, struct err *err)
{
	const char *kind = secret ? "secret" : "configmap";
	int r;

	if (!*name)
		return err_set(err, EINVAL, "%s name is required", kind);
	if (!ctx->get)
		return err_set(err, ENOTSUP, "get %s \"%s\": no API client", kind, name);
	r = ctx->get(ctx->arg, secret ? "secrets" : "configmaps", ns, name, ret, err);
	if (r == -ENOENT) {
		err_clear(err);
		if (optional) {
			*ret = NULL;
			return 0;
		}
		return err_set(err, ENOENT, "%s \"%s\" not found", kind, name);
	}
	if (r < 0)
		return err_wrap(err, "get %s \"%s\"", kind, name);
	return 0;
}

/* The bytes of @key in a ConfigMap (data, binaryData) or Secret (data, stringData). */
static int object_value(const json_t *obj, bool secret, const char *key, char **ret,
			size_t *ret_len, struct err *err)
{
	const char *b64 = json_string_value(
		json_object_get(json_object_get(obj, secret ? "data" : "binaryData"), key));
	const char *plain = json_string_value(
		json_object_get(json_object_get(obj, secret ? "stringData" : "data"), key));

	if (plain) {
		*ret = xstrdup(plain);
		*ret_len = strlen(plain);
		return 1;
	}
	if (b64) {
		*ret = b64_decode(b64, ret_len);
		if (!*ret)
			return err_set(err, EINVAL, "%s key %s: value is not base64",
				       secret ? "secret" : "configmap", key);
		return 1;
	}
	return 0;
}

static void object_keys(const json_t *obj, bool secret, struct strs *out)
{
	static const char *const cm_fields[] = {"data", "binaryData", NULL};
	static const char *const sec_fields[] = {"data", "stringData", NULL};
	const char *const *fields = secret ? sec_fields : cm_fields;

	for (size_t i = 0; fields[i]; i++) {
		const char *key;
		json_t *v;

		json_object_foreach (json_object_get(obj, fields[i]), key, v) {
			(void)v;
			if (!strs_has(out, key))
				strs_add(out, xstrdup(key));
		}
	}
}

/* configMap / secret keys into @p, with upstream's items, modes and optional rules. */
static int project_keys(const struct vol_ctx *ctx, bool secret, const char *ns, const json_t *src,
			mode_t dflt, struct payload *p, struct err *err)
{
	const char *name = jstr(src, secret ? "secretName" : "name");
	const json_t *items = json_object_get(src, "items");
	bool optional = jtrue(src, "optional");
	cleanup_json json_t *obj = NULL;
	size_t i;
	json_t *it;

	if (secret && !*name)
		name = jstr(src, "name"); /* a projected secret source names it "name" */
	if (get_object(ctx, secret, ns, name, optional, &obj, err) < 0)
		return -err->code;
	if (!obj)
		return 0;
	if (json_array_size(items) == 0) {
		cleanup_strs struct strs keys = {0};

		object_keys(obj, secret, &keys);
		for (size_t k = 0; k < keys.n; k++) {
			char *data = NULL;
			size_t len = 0;

			if (object_value(obj, secret, keys.v[k], &data, &len, err) < 0)
				return -err->code;
			payload_add(p, keys.v[k], data, len, dflt);
		}
		return 0;
	}
	json_array_foreach (items, i, it) {
		const char *key = jstr(it, "key"), *path = jstr(it, "path");
		char *data = NULL;
		size_t len = 0;
		mode_t mode;
		int r;

		if (mode_of(it, "mode", dflt, &mode, err) < 0)
			return err_wrap(err, "items[%zu]", i);
		r = object_value(obj, secret, key, &data, &len, err);
		if (r < 0)
			return -err->code;
		if (r == 0) {
			if (optional)
				continue;
			return secret ? err_set(err, ENOENT,
						"secret references non-existent secret key: %s",
						key)
				      : err_set(err, ENOENT,
						"configmap references non-existent config key: %s",
						key);
		}
		payload_add(p, path, data, len, mode);
	}
	return 0;
}

/* Go's %q for the strings upstream's FormatMap prints. */
static void go_quote(struct sbuf *b, const char *s)
{
	static const char esc[] = {
		['"'] = '"',  ['\\'] = '\\', ['\a'] = 'a', ['\b'] = 'b', ['\f'] = 'f',
		['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't', ['\v'] = 'v'};
	const unsigned char *u = (const unsigned char *)s;

	sb_putc(b, '"');
	while (*u) {
		size_t n = 0;

		if (*u >= 0xc2 && *u <= 0xf4) {
			n = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : 2;
			for (size_t k = 1; k < n; k++)
				if ((u[k] & 0xc0) != 0x80)
					n = 0;
		}
		if (n > 1) {
			sb_putn(b, (const char *)u, n);
			u += n;
			continue;
		}
		if (*u < sizeof(esc) && esc[*u]) {
			sb_putc(b, '\\');
			sb_putc(b, esc[*u]);
		} else if (*u < 0x20 || *u >= 0x7f) {
			char hex[8];

			snprintf(hex, sizeof(hex), "\\x%02x", *u);
			sb_puts(b, hex);
		} else {
			sb_putc(b, (char)*u);
		}
		u++;
	}
	sb_putc(b, '"');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Labels or annotations as upstream's fieldpath.FormatMap: sorted `k="v"` lines. */
static char *format_map(const json_t *map, size_t *ret_len)
{
	cleanup_strs struct strs keys = {0};
	struct sbuf b = {0};
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)map, key, v) {
		(void)v;
		strs_add(&keys, xstrdup(key));
	}
	if (keys.n)
		qsort(keys.v, keys.n, sizeof(*keys.v), cmp_str);
	for (size_t i = 0; i < keys.n; i++) {
		if (i)
			sb_putc(&b, '\n');
		sb_puts(&b, keys.v[i]);
		sb_putc(&b, '=');
		go_quote(&b, jstr(map, keys.v[i]));
	}
	return sb_take(&b, ret_len);
}

/* "metadata.labels['key']" -> "key" when @path names one entry of @field. */
static char *subscript(const char *path, const char *field)
{
	size_t n = strlen(field), len = strlen(path);

	if (strncmp(path, field, n) || strncmp(path + n, "['", 2) || len < n + 4 ||
	    strcmp(path + len - 2, "']"))
		return NULL;
	return xstrndup(path + n + 2, len - n - 4);
}

static int field_value(const json_t *pod, const char *fp, char **ret, size_t *ret_len,
		       struct err *err)
{
	const json_t *meta = json_object_get(pod, "metadata");
	static const char *const plain[] = {"name", "namespace", "uid", NULL};
	cleanup_free char *key = NULL;

	for (size_t i = 0; plain[i]; i++) {
		if (strncmp(fp, "metadata.", 9) || strcmp(fp + 9, plain[i]))
			continue;
		*ret = xstrdup(jstr(meta, plain[i]));
		*ret_len = strlen(*ret);
		return 0;
	}
	if (!strcmp(fp, "metadata.labels") || !strcmp(fp, "metadata.annotations")) {
		*ret = format_map(json_object_get(meta, fp + 9), ret_len);
		return 0;
	}
	key = subscript(fp, "metadata.labels");
	if (key) {
		*ret = xstrdup(jstr(json_object_get(meta, "labels"), key));
		*ret_len = strlen(*ret);
		return 0;
	}
	key = subscript(fp, "metadata.annotations");
	if (key) {
		*ret = xstrdup(jstr(json_object_get(meta, "annotations"), key));
		*ret_len = strlen(*ret);
		return 0;
	}
	return err_set(err, EINVAL, "fieldRef.fieldPath \"%s\" is not supported in volumes", fp);
}

static const json_t *find_container(const json_t *pod, const char *name)
{
	static const char *const lists[] = {"containers", "initContainers", NULL};
	const json_t *spec = json_object_get(pod, "spec");

	for (size_t l = 0; lists[l]; l++) {
		size_t i;
		json_t *c;

		json_array_foreach (json_object_get(spec, lists[l]), i, c)
			if (!strcmp(jstr(c, "name"), name))
				return c;
	}
	return NULL;
}

/* resourceFieldRef as upstream's ExtractContainerResourceValue (limits default to allocatable). */
static int resource_value(const struct vol_ctx *ctx, const json_t *pod, const json_t *ref,
			  char **ret, size_t *ret_len, struct err *err)
{
	const char *cname = jstr(ref, "containerName"), *res = jstr(ref, "resource");
	const char *div_s = *jstr(ref, "divisor") ? jstr(ref, "divisor") : "1";
	const json_t *c = find_container(pod, cname);
	const char *dot = strchr(res, '.'), *why = NULL, *val;
	struct quantity q = {0, QUANTITY_DECIMAL_SI}, div;
	cleanup_free char *group = NULL;
	bool cpu;
	int64_t a, b, out;

	if (!c)
		return err_set(err, EINVAL, "resourceFieldRef: container \"%s\" not found", cname);
	if (!dot || (strncmp(res, "limits.", 7) && strncmp(res, "requests.", 9)))
		return err_set(err, EINVAL, "resourceFieldRef: unsupported resource \"%s\"", res);
	group = xstrndup(res, (size_t)(dot - res));
	if (!quantity_parse(div_s, &div, &why))
		return err_set(err, EINVAL, "resourceFieldRef divisor \"%s\": %s", div_s, why);
	val = json_string_value(
		json_object_get(json_object_get(json_object_get(c, "resources"), group), dot + 1));
	if (!val && !strcmp(group, "limits"))
		val = json_string_value(json_object_get(ctx->allocatable, dot + 1));
	if (val && !quantity_parse(val, &q, &why))
		return err_set(err, EINVAL, "resource %s \"%s\": %s", res, val, why);
	cpu = !strcmp(dot + 1, "cpu");
	a = cpu ? quantity_milli(&q) : quantity_value(&q);
	b = cpu ? quantity_milli(&div) : quantity_value(&div);
	if (b <= 0)
		return err_set(err, EINVAL, "resourceFieldRef divisor \"%s\" must be positive",
			       div_s);
	out = a / b + (a % b != 0 && a > 0);
	*ret = xasprintf("%lld", (long long)out);
	*ret_len = strlen(*ret);
	return 0;
}

static int project_downward(const struct vol_ctx *ctx, const json_t *pod, const json_t *src,
			    mode_t dflt, struct payload *p, struct err *err)
{
	size_t i;
	json_t *it;

	json_array_foreach (json_object_get(src, "items"), i, it) {
		const json_t *fr = json_object_get(it, "fieldRef");
		const json_t *rr = json_object_get(it, "resourceFieldRef");
		char *data = NULL;
		size_t len = 0;
		mode_t mode;
		int r;

		if (mode_of(it, "mode", dflt, &mode, err) < 0)
			return err_wrap(err, "items[%zu]", i);
		if (fr)
			r = field_value(pod, jstr(fr, "fieldPath"), &data, &len, err);
		else if (rr)
			r = resource_value(ctx, pod, rr, &data, &len, err);
		else
			r = err_set(err, EINVAL, "needs fieldRef or resourceFieldRef");
		if (r < 0)
			return err_wrap(err, "items[%zu]", i);
		payload_add(p, jstr(it, "path"), data, len, mode);
	}
	return 0;
}

/* The "iat" and "exp" claims of a JWT; false when @tok is not one. */
static bool jwt_times(const char *tok, int64_t *iat, int64_t *exp)
{
	const char *a = strchr(tok, '.'), *b = a ? strchr(a + 1, '.') : NULL;
	cleanup_free char *part = NULL, *json = NULL;
	cleanup_json json_t *claims = NULL;
	size_t len = 0;

	if (!b)
		return false;
	part = xstrndup(a + 1, (size_t)(b - a - 1));
	json = b64_decode(part, &len);
	if (!json)
		return false;
	claims = jload_b(json, len, 0, NULL);
	if (!json_is_integer(json_object_get(claims, "iat")) ||
	    !json_is_integer(json_object_get(claims, "exp")))
		return false;
	*iat = json_integer_value(json_object_get(claims, "iat"));
	*exp = json_integer_value(json_object_get(claims, "exp"));
	return *exp > *iat;
}

/*
 * A service account token: the one already projected while less than 80% of its life has
 * passed (the kubelet's token manager rule), else a new one.
 */
static int project_token(const struct vol_ctx *ctx, const char *dir, const json_t *pod,
			 const json_t *src, mode_t dflt, struct payload *p, struct err *err)
{
	const json_t *spec = json_object_get(pod, "spec");
	const char *ns = jstr(json_object_get(pod, "metadata"), "namespace");
	const char *sa =
		*jstr(spec, "serviceAccountName") ? jstr(spec, "serviceAccountName") : "default";
	const char *path = jstr(src, "path");
	json_t *e = json_object_get(src, "expirationSeconds");
	int64_t expiration = e ? json_integer_value(e) : TOKEN_DEFAULT_EXPIRATION;
	cleanup_free char *old_path = NULL, *tok = NULL;
	struct err e2 = ERR_INIT;
	int64_t iat, exp;
	size_t len = 0;

	if (!*path)
		return err_set(err, EINVAL, "serviceAccountToken.path is required");
	if (aw_check_path(path, err) < 0)
		return -err->code;
	old_path = xasprintf("%s/" DATA_LINK "/%s", dir, path);
	if (fs_read_file(AT_FDCWD, old_path, &tok, &len, &e2) == 0 && jwt_times(tok, &iat, &exp) &&
	    (int64_t)time(NULL) < iat + (exp - iat) * 8 / 10) {
		payload_add(p, path, TAKE_PTR(tok), len, dflt);
		return 0;
	}
	err_clear(&e2);
	free(TAKE_PTR(tok));
	if (!ctx->token)
		return err_set(err, ENOTSUP, "service account token: no token source");
	if (ctx->token(ctx->arg, ns, sa, jstr(src, "audience"), expiration, &tok, err) < 0)
		return err_wrap(err, "get token of service account \"%s/%s\"", ns, sa);
	len = strlen(tok);
	payload_add(p, path, TAKE_PTR(tok), len, dflt);
	return 0;
}

static int project_sources(const struct vol_ctx *ctx, const char *dir, const json_t *pod,
			   const json_t *src, mode_t dflt, struct payload *p, struct err *err)
{
	const char *ns = jstr(json_object_get(pod, "metadata"), "namespace");
	size_t i;
	json_t *s;

	json_array_foreach (json_object_get(src, "sources"), i, s) {
		const json_t *v;
		int r;

		if ((v = json_object_get(s, "configMap")))
			r = project_keys(ctx, false, ns, v, dflt, p, err);
		else if ((v = json_object_get(s, "secret")))
			r = project_keys(ctx, true, ns, v, dflt, p, err);
		else if ((v = json_object_get(s, "downwardAPI")))
			r = project_downward(ctx, pod, v, dflt, p, err);
		else if ((v = json_object_get(s, "serviceAccountToken")))
			r = project_token(ctx, dir, pod, v, dflt, p, err);
		else
			r = err_set(err, EINVAL, "unsupported projection source");
		if (r < 0)
			return err_wrap(err, "sources[%zu]", i);
	}
	return 0;
}

enum proj_kind { PROJ_CONFIGMAP, PROJ_SECRET, PROJ_DOWNWARD, PROJ_PROJECTED };

static const struct {
	const char *field, *plugin;
	bool tmpfs;
} proj_kinds[] = {
	[PROJ_CONFIGMAP] = {"configMap", "configmap", false},
	[PROJ_SECRET] = {"secret", "secret", true},
	[PROJ_DOWNWARD] = {"downwardAPI", "downward-api", false},
	[PROJ_PROJECTED] = {"projected", "projected", true},
};

/* Creates (or adopts) the volume directory and writes the projection when it changed. */
static int setup_projection(const struct vol_ctx *ctx, const json_t *pod, const char *uid,
			    const char *name, enum proj_kind kind, const json_t *src, json_t **ret,
			    bool *ret_changed, struct err *err)
{
	const char *ns = jstr(json_object_get(pod, "metadata"), "namespace");
	cleanup_free char *dir = volume_dir(ctx, uid, proj_kinds[kind].plugin, name);
	cleanup_payload struct payload p = {0};
	mode_t dflt;
	int r = 0;

	if (mode_of(src, "defaultMode", DEFAULT_MODE, &dflt, err) < 0)
		return -err->code;
	if (make_volume_dir(dir, 0755, err) < 0)
		return -err->code;
	/* secrets and tokens must never reach the disk: the tmpfs comes before any byte */
	if (proj_kinds[kind].tmpfs && ensure_tmpfs(dir, "mode=0755", err) < 0)
		return -err->code;
	switch (kind) {
	case PROJ_CONFIGMAP:
		r = project_keys(ctx, false, ns, src, dflt, &p, err);
		break;
	case PROJ_SECRET:
		r = project_keys(ctx, true, ns, src, dflt, &p, err);
		break;
	case PROJ_DOWNWARD:
		r = project_downward(ctx, pod, src, dflt, &p, err);
		break;
	case PROJ_PROJECTED:
		r = project_sources(ctx, dir, pod, src, dflt, &p, err);
		break;
	}
	if (r < 0 || aw_write(dir, &p, ret_changed, err) < 0)
		return -err->code;
	if (ret)
		*ret = result(dir, true, proj_kinds[kind].field);
	return 0;
}

/* ---- entry points ------------------------------------------------------------------------------
 */

static const char *const unsupported_types[] = {
	"nfs",
	"iscsi",
	"csi",
	"ephemeral",
	"gcePersistentDisk",
	"awsElasticBlockStore",
	"gitRepo",
	"glusterfs",
	"rbd",
	"flexVolume",
	"cinder",
	"cephfs",
	"flocker",
	"fc",
	"azureFile",
	"vsphereVolume",
	"quobyte",
	"azureDisk",
	"photonPersistentDisk",
	"portworxVolume",
	"scaleIO",
	"storageos",
	"image",
	NULL,
};

static const char *volume_type(const json_t *vol)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)vol, key, v) {
		(void)v;
		if (strcmp(key, "name"))
			return key;
	}
	return "";
}

static int pod_ids(const json_t *pod, const char **uid, struct err *err)
{
	*uid = jstr(json_object_get(pod, "metadata"), "uid");
	if (!safe_name(*uid))
		return err_set(err, EINVAL,
			       "pod metadata.uid \"%s\" is not usable as a directory name", *uid);
	return 0;
}

static int setup_one(const struct vol_ctx *ctx, const json_t *pod, const char *uid,
		     const json_t *vol, bool only_projections, json_t **ret, bool *changed,
		     struct err *err)
{
	const char *name = jstr(vol, "name");
	const char *ns = jstr(json_object_get(pod, "metadata"), "namespace");
	const json_t *src;
	cleanup_free char *dir = NULL;

	for (size_t k = 0; k < sizeof(proj_kinds) / sizeof(proj_kinds[0]); k++)
		if ((src = json_object_get(vol, proj_kinds[k].field)))
			return setup_projection(ctx, pod, uid, name, (enum proj_kind)k, src, ret,
						changed, err);
	if (only_projections)
		return 0;
	if ((src = json_object_get(vol, "emptyDir"))) {
		dir = volume_dir(ctx, uid, "empty-dir", name);
		return setup_empty_dir(dir, src, ret, err);
	}
	if ((src = json_object_get(vol, "hostPath")))
		return setup_host_path(src, ret, err);
	if ((src = json_object_get(vol, "persistentVolumeClaim")))
		return setup_claim(ctx, ns, src, ret, err);
	for (size_t i = 0; unsupported_types[i]; i++)
		if (json_object_get(vol, unsupported_types[i]))
			return err_set(err, EINVAL,
				       "volume type \"%s\" is not supported on this node",
				       unsupported_types[i]);
	return err_set(err, EINVAL, "unknown volume type \"%s\"", volume_type(vol));
}

static int for_each_volume(const struct vol_ctx *ctx, const json_t *pod, bool only_projections,
			   json_t *out, bool *ret_changed, struct err *err)
{
	const char *uid;
	size_t i;
	json_t *vol;

	if (!ctx->pods_dir || !*ctx->pods_dir)
		return err_set(err, EINVAL, "volumes: no pods directory");
	if (pod_ids(pod, &uid, err) < 0)
		return -err->code;
	json_array_foreach (json_object_get(json_object_get(pod, "spec"), "volumes"), i, vol) {
		const char *name = jstr(vol, "name");
		json_t *res = NULL;
		bool changed = false;

		if (!safe_name(name) || name[0] == '.')
			return err_set(err, EINVAL, "spec.volumes[%zu]: invalid name \"%s\"", i,
				       name);
		if (setup_one(ctx, pod, uid, vol, only_projections, out ? &res : NULL, &changed,
			      err) < 0)
			return err_wrap(err, "volume \"%s\"", name);
		if (res)
			json_object_set_new(out, name, res);
		if (changed)
			*ret_changed = true;
	}
	return 0;
}

int vol_setup(const struct vol_ctx *ctx, const json_t *pod, json_t **ret_volumes, struct err *err)
{
	cleanup_json json_t *out = json_object();
	bool changed = false;

	if (for_each_volume(ctx, pod, false, out, &changed, err) < 0)
		return -err->code;
	*ret_volumes = TAKE_PTR(out);
	return 0;
}

int vol_refresh(const struct vol_ctx *ctx, const json_t *pod, bool *ret_changed, struct err *err)
{
	bool changed = false;

	if (for_each_volume(ctx, pod, true, NULL, &changed, err) < 0)
		return -err->code;
	*ret_changed = changed;
	return 0;
}

/* ---- container mounts ----------------------------------------------------------------------- */

/* $(VAR) from the container's env, $$ as a literal $, unknown references kept as upstream does. */
static char *expand_env(const char *s, const json_t *container)
{
	struct sbuf b = {0};

	while (*s) {
		const char *end;

		if (s[0] == '$' && s[1] == '$') {
			sb_putc(&b, '$');
			s += 2;
			continue;
		}
		if (s[0] == '$' && s[1] == '(' && (end = strchr(s + 2, ')'))) {
			cleanup_free char *var = xstrndup(s + 2, (size_t)(end - s - 2));
			const char *val = NULL;
			size_t i;
			json_t *e;

			json_array_foreach (json_object_get(container, "env"), i, e)
				if (!strcmp(jstr(e, "name"), var) &&
				    json_is_string(json_object_get(e, "value")))
					val = jstr(e, "value");
			if (val)
				sb_puts(&b, val);
			else
				sb_putn(&b, s, (size_t)(end - s + 1));
			s = end + 1;
			continue;
		}
		sb_putc(&b, *s++);
	}
	return sb_take(&b, NULL);
}

static int check_sub_path(const char *sub, struct err *err)
{
	const char *s = sub;

	if (*sub == '/')
		return err_set(err, EINVAL, "subPath \"%s\" must be a relative path", sub);
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n == 2 && !strncmp(s, "..", 2))
			return err_set(err, EINVAL, "subPath \"%s\" must not contain '..'", sub);
		s += n;
		if (*s)
			s++;
	}
	return 0;
}

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static char *fd_path(int fd)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/*
 * The host path of @sub inside @root with every symlink resolved as if @root were "/", so
 * a link a container planted in a volume cannot point a later mount at the host; missing
 * directories are made with the volume's mode, as the kubelet does.
 */
static int resolve_sub_path(const char *root, const char *sub, char **ret, struct err *err)
{
	cleanup_close int rootfd = -1, fd = -1;
	cleanup_free char *p = xstrdup(sub);
	cleanup_free char *root_real = NULL, *real = NULL;
	struct stat st;

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_sys(err, "open volume '%s'", root);
	if (fstat(rootfd, &st) < 0)
		return err_sys(err, "stat volume '%s'", root);
	for (char *s = p;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (*p) {
			cleanup_close int cur = open_in_root(rootfd, p);

			if (cur < 0 && errno == ENOENT) {
				char *slash = strrchr(p, '/');
				cleanup_close int parent = -1;

				if (slash)
					*slash = '\0';
				parent = slash ? open_in_root(rootfd, p) : dup(rootfd);
				if (slash)
					*slash = '/';
				if (parent < 0)
					return err_sys(err, "resolve subPath '%s' in '%s'", sub,
						       root);
				if (mkdirat(parent, slash ? slash + 1 : p, st.st_mode & 07777) <
					    0 &&
				    errno != EEXIST)
					return err_sys(err, "create subPath '%s' in '%s'", sub,
						       root);
			} else if (cur < 0) {
				return err_sys(err, "resolve subPath '%s' in '%s'", sub, root);
			}
		}
		*s = c;
		if (c == '\0')
			break;
	}
	fd = open_in_root(rootfd, sub);
	if (fd < 0)
		return err_sys(err, "resolve subPath '%s' in '%s'", sub, root);
	root_real = fd_path(rootfd);
	real = fd_path(fd);
	if (!root_real || !real)
		return err_sys(err, "resolve subPath '%s' in '%s'", sub, root);
	if (strcmp(real, root_real) && (strncmp(real, root_real, strlen(root_real)) ||
					(real[strlen(root_real)] != '/' && strcmp(root_real, "/"))))
		return err_set(err, EINVAL, "subPath '%s' resolves outside the volume '%s'", sub,
			       root);
	*ret = TAKE_PTR(real);
	return 0;
}

static int propagation(const json_t *container, const char *prop, const char **ret, struct err *err)
{
	const json_t *sc = json_object_get(container, "securityContext");

	if (!*prop || !strcmp(prop, "None")) {
		*ret = "rprivate";
	} else if (!strcmp(prop, "HostToContainer")) {
		*ret = "rslave";
	} else if (!strcmp(prop, "Bidirectional")) {
		if (!jtrue(sc, "privileged"))
			return err_set(err, EINVAL,
				       "Bidirectional mount propagation is available only to "
				       "privileged containers");
		*ret = "rshared";
	} else {
		return err_set(err, EINVAL, "unsupported mountPropagation \"%s\"", prop);
	}
	return 0;
}

static int one_mount(const json_t *volumes, const json_t *container, const json_t *vm, json_t **ret,
		     struct err *err)
{
	const char *name = jstr(vm, "name"), *dest = jstr(vm, "mountPath");
	const char *sub = jstr(vm, "subPath"), *expr = jstr(vm, "subPathExpr");
	const json_t *vol = json_object_get(volumes, name);
	cleanup_free char *expanded = NULL, *source = NULL;
	const char *prop = "rprivate";
	bool ro;

	if (!vol)
		return err_set(err, EINVAL,
			       "cannot find volume \"%s\" to mount into container \"%s\"", name,
			       jstr(container, "name"));
	if (*dest != '/')
		return err_set(err, EINVAL, "mountPath \"%s\" must be an absolute path", dest);
	if (*sub && *expr)
		return err_set(err, EINVAL, "subPath and subPathExpr are mutually exclusive");
	if (*expr)
		sub = expanded = expand_env(expr, container);
	if (propagation(container, jstr(vm, "mountPropagation"), &prop, err) < 0)
		return -err->code;
	if (*sub) {
		if (check_sub_path(sub, err) < 0 ||
		    resolve_sub_path(jstr(vol, "path"), sub, &source, err) < 0)
			return -err->code;
	} else {
		source = xstrdup(jstr(vol, "path"));
	}
	ro = jtrue(vm, "readOnly") || jtrue(vol, "readOnly");
	*ret = json_pack("{s:s, s:s, s:s, s:[s, s, s]}", "destination", dest, "type", "bind",
			 "source", source, "options", "rbind", ro ? "ro" : "rw", prop);
	return 0;
}

int vol_container_mounts(const json_t *volumes, const json_t *container, json_t **ret_mounts,
			 struct err *err)
{
	cleanup_json json_t *out = json_array();
	size_t i;
	json_t *vm;

	json_array_foreach (json_object_get(container, "volumeMounts"), i, vm) {
		json_t *m = NULL;

		if (one_mount(volumes, container, vm, &m, err) < 0)
			return err_wrap(err, "container \"%s\": volumeMounts[%zu]",
					jstr(container, "name"), i);
		json_array_append_new(out, m);
	}
	*ret_mounts = TAKE_PTR(out);
	return 0;
}

/* ---- teardown ----------------------------------------------------------------------------------
 */

/* Decodes mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static int cmp_len_desc(const void *a, const void *b)
{
	size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Mount points at or below @dir, deepest first. */
static int mounts_below(const char *dir, struct strs *out, struct err *err)
{
	cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
	cleanup_free char *line = NULL;
	size_t cap = 0, n = strlen(dir);

	if (!f)
		return err_sys(err, "open '/proc/self/mountinfo'");
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *tok = strtok_r(line, " ", &save);

		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape_octal(tok);
		if (!strncmp(tok, dir, n) && (tok[n] == '/' || tok[n] == '\0'))
			strs_add(out, xstrdup(tok));
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_len_desc);
	return 0;
}

/*
 * Unmounts everything at or below @vdir: our tmpfs instances, and anything a container
 * with Bidirectional propagation mounted into a volume (a bind mount of host data on the
 * same file system would have the same st_dev, so removal must not rely on that alone).
 */
static int unmount_volumes(const char *vdir, struct err *err)
{
	char real[PATH_MAX];

	if (!realpath(vdir, real))
		return errno == ENOENT ? 0 : err_sys(err, "resolve '%s'", vdir);
	/* stacked mounts show up again after the top one is gone: a few rounds, bounded */
	for (int round = 0; round < 8; round++) {
		cleanup_strs struct strs mps = {0};

		if (mounts_below(real, &mps, err) < 0)
			return -err->code;
		if (mps.n == 0)
			return 0;
		for (size_t i = 0; i < mps.n; i++) {
			if (umount2(mps.v[i], UMOUNT_NOFOLLOW) == 0 || errno == EINVAL ||
			    errno == ENOENT)
				continue;
			if (errno == EBUSY && umount2(mps.v[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
				continue;
			return err_sys(err, "unmount '%s'", mps.v[i]);
		}
	}
	return err_set(err, EBUSY, "unmount below '%s': mounts keep reappearing", vdir);
}

int vol_teardown(const struct vol_ctx *ctx, const char *pod_uid, struct err *err)
{
	cleanup_free char *vdir = NULL;

	if (!safe_name(pod_uid))
		return err_set(err, EINVAL, "tear down volumes: invalid pod uid \"%s\"", pod_uid);
	vdir = xasprintf("%s/%s/volumes", ctx->pods_dir, pod_uid);
	if (unmount_volumes(vdir, err) < 0 || fs_remove_tree(AT_FDCWD, vdir, err) < 0)
		return err_wrap(err, "tear down volumes of pod %s", pod_uid);
	return 0;
}
