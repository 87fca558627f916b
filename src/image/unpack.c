/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer unpacking: applies one layer (tar, plain, gzip or zstd) to a snapshot directory in
 * overlayfs form, hashing the uncompressed stream into its diff id on the way. Every path is
 * resolved below the directory without following a symlink. Called by the snapshotter
 * (img_snapshots_prepare) and the importers.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "image/internal.h"
#include "image/libs.h"

#define READ_BLOCK      (1 << 20) /* compressed bytes per read(2) */
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META   ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* The uncompressed stream: hashed and counted on its way from the decompressor to tar. */
struct stream {
	struct archive *outer; /* filters + "raw" format: yields the decompressed bytes */
	struct img_hash *hash;
	uint64_t total, max;
	bool eof;
	struct err err; /* why the stream failed, reported instead of tar's own message */
};

/* A directory whose mode and times are set once everything inside it is written. */
struct dir_fix {
	char *path; /* clean, "" for the root */
	mode_t mode;
	struct timespec times[2]; /* UTIME_OMIT for directories the layer does not list */
	size_t depth, seq;
	bool implicit; /* a parent the layer does not list, no lower layer to copy */
};

struct unpacker {
	int root;
	const int *lower_fds; /* the layers below, top first */
	size_t n_lower;
	FILE *implicit_out;
	bool rootless;
	/* what a new file gets without fchown/fchmod, to skip those calls when they match */
	uid_t uid;
	gid_t gid;
	bool owner_inherited; /* a setgid root: new files take its group */
	mode_t umask;
	bool umask_known;
	const char *opaque_xattr;
	struct archive *tar;
	struct stream *stream;
	bool no_openat2;
	char path[PATH_MAX];   /* the current entry, clean */
	char target[PATH_MAX]; /* its hardlink target, clean */
	/* the parent directory of the last entry: entries come grouped by directory */
	char parent[PATH_MAX];
	int parent_fd;
	struct dir_fix *dirs;
	size_t n_dirs, cap_dirs;
};

static void archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

static void hash_freep(struct img_hash **h)
{
	char unused[IMG_DIGEST_MAX];

	if (*h)
		img_hash_final(*h, unused);
}

#define cleanup_archive __attribute__((cleanup(archive_freep)))
#define cleanup_hash    __attribute__((cleanup(hash_freep)))

/* Moves a set error from @src into the clear @dst. */
static int err_move(struct err *dst, struct err *src)
{
	*dst = *src;
	*src = (struct err)ERR_INIT;
	return -dst->code;
}

/* libarchive reports format errors with its own pseudo-errnos: those are bad data. */
static int archive_code(struct archive *a)
{
	int e = archive_errno(a);

	return e == EIO || e == ENOMEM ? e : EPROTO;
}

static la_ssize_t stream_read(struct archive *a, void *data, const void **ret_buf)
{
	struct stream *s = data;
	const void *buf = NULL;
	size_t n = 0;
	la_int64_t off;
	int r;

	(void)a;
	if (s->err.code)
		return -1;
	while (!s->eof && n == 0) {
		r = archive_read_data_block(s->outer, &buf, &n, &off);
		if (r == ARCHIVE_EOF) {
			s->eof = true;
			n = 0;
		} else if (r < ARCHIVE_WARN) {
			err_set(&s->err, archive_code(s->outer), "decompress: %s",
				archive_error_string(s->outer) ?: "unknown error");
			return -1;
		}
	}
	if (n == 0)
		return 0;
	s->total += n;
	if (s->max && s->total > s->max) {
		err_set(&s->err, EFBIG, "the uncompressed layer exceeds the limit of %llu bytes",
			(unsigned long long)s->max);
		return -1;
	}
	img_hash_update(s->hash, buf, n);
	*ret_buf = buf;
	return (la_ssize_t)n;
}

/* Opens the decompressing reader over @fd; plain tar passes through unfiltered. */
static int stream_open(struct stream *s, int fd, struct err *err)
{
	struct archive_entry *e;
	int r;

	s->outer = archive_read_new();
	if (!s->outer)
		return err_set(err, ENOMEM, "read layer: out of memory");
	/* only what layers use: the "all" set would run external programs (lrzip, lzop) */
	archive_read_support_filter_gzip(s->outer);
	archive_read_support_filter_zstd(s->outer);
	archive_read_support_format_raw(s->outer);
	archive_read_support_format_empty(s->outer);
	if (archive_read_open_fd(s->outer, fd, READ_BLOCK) != ARCHIVE_OK)
		return err_set(err, archive_code(s->outer), "read layer: %s",
			       archive_error_string(s->outer) ?: "unknown error");
	r = archive_read_next_header(s->outer, &e);
	if (r == ARCHIVE_EOF)
		s->eof = true;
	else if (r < ARCHIVE_WARN)
		return err_set(err, archive_code(s->outer), "read layer: %s",
			       archive_error_string(s->outer) ?: "unknown error");
	return 0;
}

/* Reads what tar left after its end-of-archive blocks: the diff id covers all of it. */
static int stream_drain(struct stream *s, struct err *err)
{
	const void *buf;
	la_ssize_t n;

	do
		n = stream_read(NULL, s, &buf);
	while (n > 0);
	if (n < 0) {
		err_move(err, &s->err);
		return err_wrap(err, "read layer");
	}
	return 0;
}

/* A read failure of the tar reader, with the stream's own reason when it has one. */
static int read_error(struct unpacker *u, const char *entry, struct err *err)
{
	if (u->stream->err.code) {
		err_move(err, &u->stream->err);
		return entry ? err_wrap(err, "read layer entry '%s'", entry)
			     : err_wrap(err, "read layer");
	}
	if (entry)
		return err_set(err, archive_code(u->tar), "read layer entry '%s': %s", entry,
			       archive_error_string(u->tar) ?: "unknown error");
	return err_set(err, archive_code(u->tar), "read layer: %s",
		       archive_error_string(u->tar) ?: "unknown error");
}

/*
 * Cleans @in into @out: "/" runs, "." and a leading "/" dropped (docker's reading of
 * absolute names), ".." resolved lexically. "" is the root. -EPERM when ".." climbs above
 * the root, -ENAMETOOLONG past PATH_MAX.
 */
static int clean_path(const char *in, char out[PATH_MAX])
{
	size_t len = 0;

	while (*in) {
		size_t n = strcspn(in, "/");

		if (n == 2 && in[0] == '.' && in[1] == '.') {
			if (len == 0)
				return -EPERM;
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else if (n > 0 && !(n == 1 && in[0] == '.')) {
			if (len + n + 2 > PATH_MAX)
				return -ENAMETOOLONG;
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, in, n);
			len += n;
		}
		in += n;
		in += strspn(in, "/");
	}
	out[len] = '\0';
	return 0;
}

/* Splits a clean, non-empty @path in place into its parent ("" for the root) and name. */
static const char *split_path(char *path, const char **ret_parent)
{
	char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_parent = "";
		return path;
	}
	*slash = '\0';
	*ret_parent = path;
	return slash + 1;
}

static size_t path_depth(const char *path)
{
	size_t d = *path ? 1 : 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* The directory @path in the topmost lower layer that has it, never through symlinks. */
static bool lower_dir(const struct unpacker *u, const char *path, struct stat *ret)
{
	for (size_t i = 0; i < u->n_lower; i++) {
		struct open_how how = {.flags = O_PATH | O_CLOEXEC,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
						  RESOLVE_NO_MAGICLINKS};
		cleanup_close int fd =
			(int)syscall(SYS_openat2, u->lower_fds[i], path, &how, sizeof(how));

		if (fd < 0)
			continue;
		/* a whiteout device or a file in a higher layer hides what is below */
		if (fstat(fd, ret) < 0 || !S_ISDIR(ret->st_mode))
			return false;
		return true;
	}
	return false;
}

static void dir_fix_add(struct unpacker *u, const char *path, mode_t mode,
			const struct timespec times[2])
{
	struct dir_fix *d;

	if (u->n_dirs == u->cap_dirs) {
		u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 64;
		u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
	}
	d = &u->dirs[u->n_dirs];
	d->path = xstrdup(path);
	d->mode = mode;
	d->times[0] = times[0];
	d->times[1] = times[1];
	d->depth = path_depth(path);
	d->implicit = false;
	d->seq = u->n_dirs++;
}

static int open_beneath(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static bool is_whiteout_dev(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int set_opaque(struct unpacker *u, int dirfd, const char *name, const char *entry,
		      struct err *err)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, "layer entry '%s': open directory '%s'", entry, name);
	if (fsetxattr(fd, u->opaque_xattr, "y", 1, 0) < 0)
		return err_sys(err, "layer entry '%s': set xattr '%s'", entry, u->opaque_xattr);
	return 0;
}

/*
 * Component by component with O_NOFOLLOW, for kernels without openat2 and to say which
 * component is wrong. With @create, missing directories are made and a whiteout in the
 * way (hiding the lower layers' directory) becomes an opaque directory.
 */
static int walk_dir(struct unpacker *u, const char *path, int flags, bool create, const char *entry,
		    int *ret_fd, struct err *err)
{
	static const struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	char buf[PATH_MAX];
	cleanup_close int cur = -1;
	char *comp = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	for (;;) {
		char *slash = strchr(comp, '/');
		int base = cur >= 0 ? cur : u->root;
		int oflags, fd;
		bool whiteout = false;
		struct stat st;

		if (slash)
			*slash = '\0';
		oflags = (slash ? O_PATH : flags) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
		fd = openat(base, comp, oflags);
		if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) && create &&
		    fstatat(base, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && is_whiteout_dev(&st)) {
			if (unlinkat(base, comp, 0) < 0)
				return err_sys(err, "layer entry '%s': remove whiteout '%s'", entry,
					       buf);
			whiteout = true;
			errno = ENOENT;
		}
		if (fd < 0 && errno == ENOENT && create) {
			struct stat low;
			bool from_lower = !whiteout && lower_dir(u, buf, &low);
			mode_t mode = from_lower ? low.st_mode & 07777 : 0755;
			uid_t owner = from_lower ? low.st_uid : 0;
			gid_t group = from_lower ? low.st_gid : 0;

			if (mkdirat(base, comp, 0755) < 0 && errno != EEXIST)
				return err_sys(err, "layer entry '%s': create directory '%s'",
					       entry, buf);
			/*
			 * a parent the layer does not list: as the layers below have it (as
			 * containerd does), else owned by the layer's root (as docker does)
			 */
			if (!u->rootless &&
			    (owner || group || u->owner_inherited || u->uid || u->gid) &&
			    fchownat(base, comp, owner, group, AT_SYMLINK_NOFOLLOW) < 0)
				return err_sys(err, "layer entry '%s': set owner of '%s'", entry,
					       buf);
			if (whiteout && set_opaque(u, base, comp, entry, err) < 0)
				return -err->code;
			if (from_lower) {
				struct timespec times[2] = {low.st_atim, low.st_mtim};

				dir_fix_add(u, buf, mode, times);
			} else {
				dir_fix_add(u, buf, mode, omit);
				u->dirs[u->n_dirs - 1].implicit = !whiteout;
			}
			fd = openat(base, comp, oflags);
		}
		if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
			if (fstatat(base, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				return err_set(err, EPERM,
					       "layer entry '%s': '%s' is a symlink (paths through "
					       "symlinks are refused)",
					       entry, buf);
			return err_set(err, ENOTDIR, "layer entry '%s': '%s' is not a directory",
				       entry, buf);
		}
		if (fd < 0)
			return err_sys(err, "layer entry '%s': open directory '%s'", entry, buf);
		if (cur >= 0)
			close(cur);
		cur = fd;
		if (!slash)
			break;
		*slash = '/';
		comp = slash + 1;
	}
	*ret_fd = TAKE_FD(cur);
	return 0;
}

/* Opens the directory @path (clean, "" the root) below the root, never through a symlink. */
static int open_dir(struct unpacker *u, const char *path, int flags, bool create, const char *entry,
		    int *ret_fd, struct err *err)
{
	if (!u->no_openat2) {
		int fd = open_beneath(u->root, path, flags | O_DIRECTORY | O_NOFOLLOW);

		if (fd >= 0) {
			*ret_fd = fd;
			return 0;
		}
		if (fd == -ENOSYS)
			u->no_openat2 = true;
	}
	if (!*path) {
		int fd = openat(u->root, ".", flags | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return err_sys(err, "open the layer directory");
		*ret_fd = fd;
		return 0;
	}
	return walk_dir(u, path, flags, create, entry, ret_fd, err);
}

/*
 * Stops reusing the cached parent (what it names may be gone). The descriptor stays open
 * until the next lookup: the entry being applied still works in it.
 */
static void parent_forget(struct unpacker *u)
{
	u->parent[0] = '\0';
}

/* The entry's parent directory (borrowed), created if missing. */
static int open_parent(struct unpacker *u, const char *parent, const char *entry, int *ret_fd,
		       struct err *err)
{
	int fd = -1;
	int r;

	if (!*parent) {
		*ret_fd = u->root;
		return 0;
	}
	if (u->parent[0] && !strcmp(parent, u->parent)) {
		*ret_fd = u->parent_fd;
		return 0;
	}
	if (u->parent_fd >= 0)
		close(u->parent_fd);
	u->parent_fd = -1;
	u->parent[0] = '\0';
	r = open_dir(u, parent, O_PATH, true, entry, &fd, err);
	if (r < 0)
		return r;
	snprintf(u->parent, sizeof(u->parent), "%s", parent);
	u->parent_fd = fd;
	*ret_fd = fd;
	return 0;
}

/*
 * Makes room for a new entry where @name exists (layer.md "Changeset over existing
 * files"): a directory meeting a directory stays (returns 1), anything else is removed
 * (returns 0; 2 when it was a whiteout, so a directory taking its place must be opaque).
 */
static int replace_existing(struct unpacker *u, int dirfd, const char *name, bool dir,
			    const char *entry, struct err *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, "layer entry '%s': stat existing file", entry);
	if (S_ISDIR(st.st_mode)) {
		if (dir)
			return 1;
		/* the cached parent may lie inside what goes */
		parent_forget(u);
		if (fs_remove_tree(dirfd, name, err) < 0)
			return err_wrap(err, "layer entry '%s': replace directory", entry);
		return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0)
		return err_sys(err, "layer entry '%s': replace existing file", entry);
	return is_whiteout_dev(&st) ? 2 : 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	ts[0].tv_sec = archive_entry_atime(e);
	ts[0].tv_nsec = archive_entry_atime_nsec(e);
	/* ustar has no atime: never older than the mtime, as docker does */
	if (ts[0].tv_sec < ts[1].tv_sec ||
	    (ts[0].tv_sec == ts[1].tv_sec && ts[0].tv_nsec < ts[1].tv_nsec))
		ts[0] = ts[1];
}

/*
 * The owner an entry wants: 1 when it must be set, 0 when there is nothing to do (rootless,
 * or a file just made by us already has it).
 */
static int entry_owner(struct unpacker *u, struct archive_entry *e, bool fresh, const char *entry,
		       uid_t *ret_uid, gid_t *ret_gid, struct err *err)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	if (u->rootless)
		return 0;
	if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
		return err_set(err, EPROTO, "layer entry '%s': invalid owner %lld:%lld", entry,
			       (long long)uid, (long long)gid);
	*ret_uid = (uid_t)uid;
	*ret_gid = (gid_t)gid;
	return !fresh || u->owner_inherited || *ret_uid != u->uid || *ret_gid != u->gid;
}

/* Whether a node made with @perm & 0777 needs a chmod to get @perm exactly. */
static bool mode_needs_chmod(const struct unpacker *u, mode_t perm)
{
	return !u->umask_known || (perm & 07000) || (perm & u->umask);
}

/* overlayfs' own attributes would let a layer fake whiteouts, redirects or metacopy */
static bool xattr_is_overlay(const char *name)
{
	return !strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13);
}

/*
 * Sets the entry's xattrs on @fd, or on @name in @dirfd when @fd < 0 (symlinks, devices
 * and fifos, which cannot be opened for it). Unsupported attributes are skipped; so are
 * privileged ones in rootless mode and user.* ones on those special files, which the
 * kernel refuses.
 */
static int apply_xattrs(struct unpacker *u, struct archive_entry *e, int fd, int dirfd,
			const char *name, const char *entry, struct err *err)
{
	char proc[64];
	const char *key;
	const void *value;
	size_t size;

	if (archive_entry_xattr_reset(e) == 0)
		return 0;
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
	while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
		cleanup_free char *path = NULL;
		int r;

		if (xattr_is_overlay(key)) {
			log_debug("layer entry '%s': xattr '%s' is overlayfs' own, ignoring", entry,
				  key);
			continue;
		}
		if (fd >= 0) {
			r = fsetxattr(fd, key, value, size, 0);
		} else {
			/* the final component is not followed: the link itself gets it */
			path = xasprintf("%s/%s", proc, name);
			r = lsetxattr(path, key, value, size, 0);
		}
		if (r == 0 || errno == EOPNOTSUPP || (errno == EPERM && (u->rootless || fd < 0)))
			continue;
		return err_sys(err, "layer entry '%s': set xattr '%s'", entry, key);
	}
	return 0;
}

/* Owner, then mode (chown clears setuid), then xattrs (chown clears capabilities). */
static int apply_meta_fd(struct unpacker *u, struct archive_entry *e, int fd, const char *entry,
			 struct err *err)
{
	mode_t perm = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(u, e, true, entry, &uid, &gid, err);
	if (r < 0)
		return r;
	if (r > 0 && fchown(fd, uid, gid) < 0)
		return err_sys(err, "layer entry '%s': set owner", entry);
	if (mode_needs_chmod(u, perm) && fchmod(fd, perm) < 0)
		return err_sys(err, "layer entry '%s': set mode", entry);
	if (apply_xattrs(u, e, fd, -1, NULL, entry, err) < 0)
		return -err->code;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return err_sys(err, "layer entry '%s': set times", entry);
	return 0;
}

/* The same for what cannot be opened: symlinks, devices and fifos just made. */
static int apply_meta_at(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name,
			 bool symlink, const char *entry, struct err *err)
{
	mode_t perm = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;
	int r;

	r = entry_owner(u, e, true, entry, &uid, &gid, err);
	if (r < 0)
		return r;
	if (r > 0 && fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, "layer entry '%s': set owner", entry);
	/* we just made it and it is no symlink: following cannot leave the directory */
	if (!symlink && mode_needs_chmod(u, perm) && fchmodat(dirfd, name, perm, 0) < 0)
		return err_sys(err, "layer entry '%s': set mode", entry);
	if (apply_xattrs(u, e, -1, dirfd, name, entry, err) < 0)
		return -err->code;
	entry_times(e, ts);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, "layer entry '%s': set times", entry);
	return 0;
}

static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int unpack_file(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name,
		       const char *entry, struct err *err)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	const mode_t mode = archive_entry_perm(e) & 0777;
	cleanup_close int fd = openat(dirfd, name, flags, mode);
	la_int64_t pos = 0, size = archive_entry_size(e);

	if (fd < 0 && errno == EEXIST) {
		if (replace_existing(u, dirfd, name, false, entry, err) < 0)
			return -err->code;
		fd = openat(dirfd, name, flags, mode);
	}
	if (fd < 0)
		return err_sys(err, "layer entry '%s': create file", entry);
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t off;
		int r = archive_read_data_block(u->tar, &buf, &n, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return read_error(u, entry, err);
		/* a hole in a sparse file: skipped, the file system reads it as zeros */
		if (off != pos && lseek(fd, off, SEEK_SET) < 0)
			return err_sys(err, "layer entry '%s': seek", entry);
		r = write_all(fd, buf, n);
		if (r < 0)
			return err_errno(err, r, "layer entry '%s': write", entry);
		pos = off + (la_int64_t)n;
	}
	if (pos < size && ftruncate(fd, size) < 0)
		return err_sys(err, "layer entry '%s': set size", entry);
	return apply_meta_fd(u, e, fd, entry, err);
}

static int unpack_dir(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name,
		      const char *entry, struct err *err)
{
	struct timespec ts[2];
	int kept = 0, r;
	uid_t uid;
	gid_t gid;

	if (mkdirat(dirfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return err_sys(err, "layer entry '%s': create directory", entry);
		kept = replace_existing(u, dirfd, name, true, entry, err);
		if (kept < 0)
			return kept;
		if (kept != 1 && mkdirat(dirfd, name, 0700) < 0)
			return err_sys(err, "layer entry '%s': create directory", entry);
		/* this layer deleted the lower directory, then made a new one */
		if (kept == 2 && set_opaque(u, dirfd, name, entry, err) < 0)
			return -err->code;
	}
	r = entry_owner(u, e, kept != 1, entry, &uid, &gid, err);
	if (r < 0)
		return r;
	if (r > 0 && fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return err_sys(err, "layer entry '%s': set owner", entry);
	if (archive_entry_xattr_count(e) > 0) {
		cleanup_close int fd =
			openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (fd < 0)
			return err_sys(err, "layer entry '%s': open directory", entry);
		if (apply_xattrs(u, e, fd, -1, NULL, entry, err) < 0)
			return -err->code;
	}
	/* mode and times last: a read-only directory must still take its contents */
	entry_times(e, ts);
	dir_fix_add(u, u->path, archive_entry_perm(e) & 07777, ts);
	return 0;
}

/* Symlinks, devices and fifos: made by one call that fails with EEXIST when taken. */
static int unpack_node(struct unpacker *u, struct archive_entry *e, int dirfd, const char *name,
		       const char *entry, struct err *err)
{
	mode_t type = archive_entry_filetype(e);
	const char *target = NULL;
	dev_t dev = 0;
	int r;

	if (type == AE_IFLNK) {
		target = archive_entry_symlink(e);
		if (!target || !*target)
			return err_set(err, EPROTO, "layer entry '%s': symlink without a target",
				       entry);
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		if (u->rootless)
			return err_set(err, EPERM,
				       "layer entry '%s': device nodes are not allowed in rootless "
				       "mode",
				       entry);
		dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	}
	for (int attempt = 0;; attempt++) {
		if (target)
			r = symlinkat(target, dirfd, name);
		else
			r = mknodat(dirfd, name, type | (archive_entry_perm(e) & 0777), dev);
		if (r == 0)
			break;
		if (errno != EEXIST || attempt > 0)
			return err_sys(err, "layer entry '%s': create %s", entry,
				       target ? "symlink" : "node");
		if (replace_existing(u, dirfd, name, false, entry, err) < 0)
			return -err->code;
	}
	return apply_meta_at(u, e, dirfd, name, target != NULL, entry, err);
}

/* Hardlinks point at an entry this layer already made, below the root, not via symlinks. */
static int unpack_hardlink(struct unpacker *u, const char *link, int dirfd, const char *name,
			   const char *entry, struct err *err)
{
	cleanup_close int tfd = -1;
	const char *tparent, *tname;
	int r = clean_path(link, u->target);

	if (r == -EPERM)
		return err_set(err, EPERM,
			       "layer entry '%s': hardlink target '%s' escapes the "
			       "layer directory",
			       entry, link);
	if (r < 0 || !*u->target)
		return err_set(err, EPROTO, "layer entry '%s': invalid hardlink target '%s'", entry,
			       link);
	if (!strcmp(u->target, u->path))
		return 0; /* a link to itself: the file is already there */
	tname = split_path(u->target, &tparent);
	r = open_dir(u, tparent, O_PATH, false, entry, &tfd, err);
	if (r == -ENOENT || r == -ENOTDIR || r == -EPERM) {
		err_clear(err);
		if (r == -EPERM)
			return err_set(err, EPERM,
				       "layer entry '%s': hardlink target '%s' is behind a symlink "
				       "(paths through symlinks are refused)",
				       entry, link);
		return err_set(err, ENOENT,
			       "layer entry '%s': hardlink target '%s' is not in the "
			       "layer",
			       entry, link);
	}
	if (r < 0)
		return r;
	for (int attempt = 0;; attempt++) {
		if (linkat(tfd, tname, dirfd, name, 0) == 0)
			return 0;
		if (errno == ENOENT)
			return err_set(err, ENOENT,
				       "layer entry '%s': hardlink target '%s' is not in the layer",
				       entry, link);
		if (errno != EEXIST || attempt > 0)
			return err_sys(err, "layer entry '%s': link to '%s'", entry, link);
		if (replace_existing(u, dirfd, name, false, entry, err) < 0)
			return -err->code;
	}
}

/*
 * ".wh.NAME" becomes a 0:0 character device, which overlayfs reads as "deleted". It only
 * hides lower layers (layer.md#whiteouts): a NAME this layer already has stays, and a
 * directory then must be opaque, since its lower namesake is gone.
 */
static int unpack_whiteout(struct unpacker *u, int dirfd, const char *name, const char *entry,
			   struct err *err)
{
	struct stat st;

	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return err_set(err, EPERM, "layer entry '%s': invalid whiteout", entry);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISDIR(st.st_mode) ? set_opaque(u, dirfd, name, entry, err) : 0;
	if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) == 0)
		return 0;
	if (errno == EPERM && u->rootless)
		return err_set(err, EOPNOTSUPP,
			       "layer entry '%s': whiteouts need a 0:0 character device, which "
			       "this kernel does not let unprivileged users create",
			       entry);
	return err_sys(err, "layer entry '%s': create whiteout", entry);
}

static int unpack_entry(struct unpacker *u, struct archive_entry *e, struct err *err)
{
	const char *raw = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
	const char *parent, *name;
	char *slash;
	int dirfd = -1;
	int r;

	if (!raw)
		return err_set(err, EPROTO, "read layer: entry without a path");
	r = clean_path(raw, u->path);
	if (r == -EPERM)
		return err_set(err, EPERM, "layer entry '%s': path escapes the layer directory",
			       raw);
	if (r < 0)
		return err_set(err, ENAMETOOLONG, "layer entry '%.64s...': path too long", raw);
	if (!*u->path) {
		/* "./": the layer directory itself */
		if (link || archive_entry_filetype(e) != AE_IFDIR)
			return err_set(err, EPERM, "layer entry '%s': the root must be a directory",
				       raw);
		return unpack_dir(u, e, u->root, ".", raw, err);
	}
	slash = strrchr(u->path, '/');
	name = slash ? slash + 1 : u->path;
	if (slash) {
		*slash = '\0';
		parent = u->path;
	} else {
		parent = "";
	}
	r = open_parent(u, parent, raw, &dirfd, err);
	if (slash)
		*slash = '/';
	if (r < 0)
		return r;
	if (!strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
		if (!strcmp(name, WHITEOUT_OPAQUE))
			return set_opaque(u, dirfd, ".", raw, err);
		if (!strncmp(name, WHITEOUT_META, strlen(WHITEOUT_META)))
			return 0; /* aufs' own (.wh..wh.plnk, .wh..wh.aufs): not content */
		return unpack_whiteout(u, dirfd, name + strlen(WHITEOUT_PREFIX), raw, err);
	}
	if (link)
		return unpack_hardlink(u, link, dirfd, name, raw, err);
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return unpack_file(u, e, dirfd, name, raw, err);
	case AE_IFDIR:
		return unpack_dir(u, e, dirfd, name, raw, err);
	case AE_IFLNK:
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		return unpack_node(u, e, dirfd, name, raw, err);
	default:
		return err_set(err, EPROTO, "layer entry '%s': unsupported file type 0%o", raw,
			       (unsigned)archive_entry_filetype(e));
	}
}

static int dir_fix_cmp(const void *a, const void *b)
{
	const struct dir_fix *x = a, *y = b;
	int c;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	c = strcmp(x->path, y->path);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : 1;
}

/*
 * Directory modes and times, deepest first so that nothing written afterwards changes
 * them and a read-only parent is still open to us; the last entry for a path wins. A
 * directory a later entry replaced is skipped.
 */
static int dirs_finish(struct unpacker *u, struct err *err)
{
	if (u->n_dirs > 1)
		qsort(u->dirs, u->n_dirs, sizeof(*u->dirs), dir_fix_cmp);
	for (size_t i = 0; i < u->n_dirs; i++) {
		const struct dir_fix *d = &u->dirs[i];
		cleanup_close int fd = -1;
		int r;

		if (i + 1 < u->n_dirs && !strcmp(d->path, u->dirs[i + 1].path))
			continue;
		/* a data file for publish(), not output */
		if (d->implicit && u->implicit_out) {
			fputs(d->path, u->implicit_out);
			fputc('\n', u->implicit_out);
		}
		r = open_dir(u, d->path, O_RDONLY, false, d->path, &fd, err);
		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP || r == -EPERM) {
			err_clear(err);
			continue;
		}
		if (r < 0)
			return r;
		if (fchmod(fd, d->mode) < 0)
			return err_sys(err, "layer entry '%s': set mode", d->path);
		if (futimens(fd, d->times) < 0)
			return err_sys(err, "layer entry '%s': set times", d->path);
	}
	return 0;
}

static void unpacker_done(struct unpacker *u)
{
	if (u->parent_fd >= 0)
		close(u->parent_fd);
	for (size_t i = 0; i < u->n_dirs; i++)
		free(u->dirs[i].path);
	free(u->dirs);
}

/* What new files get by themselves: our ids (or a setgid root's group), the umask. */
static void creator_init(struct unpacker *u)
{
	cleanup_err struct err ignored = ERR_INIT;
	cleanup_free char *status = NULL;
	struct stat st;
	const char *p;
	size_t len;

	u->uid = geteuid();
	u->gid = getegid();
	u->owner_inherited = fstat(u->root, &st) < 0 || (st.st_mode & S_ISGID);
	/* the umask cannot be read without setting it, which races with other threads */
	if (fs_read_file(AT_FDCWD, "/proc/self/status", &status, &len, &ignored) < 0)
		return;
	p = strstr(status, "\nUmask:");
	if (p) {
		u->umask = (mode_t)strtoul(p + 7, NULL, 8);
		u->umask_known = true;
	}
}

static int unpack_all(struct unpacker *u, struct err *err)
{
	struct archive_entry *e;
	int r;

	if (archive_read_open(u->tar, u->stream, NULL, stream_read, NULL) != ARCHIVE_OK)
		return read_error(u, NULL, err);
	for (;;) {
		r = archive_read_next_header(u->tar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return read_error(u, NULL, err);
		if (unpack_entry(u, e, err) < 0)
			return -err->code;
	}
	return dirs_finish(u, err);
}

int img_layer_apply(int layer_fd, int dirfd, const struct img_unpack_opts *o,
		    char ret_diff_id[IMG_DIGEST_MAX], struct err *err)
{
	cleanup_archive struct archive *outer = NULL, *tar = NULL;
	cleanup_hash struct img_hash *hash = NULL;
	struct stream s = {.max = o->max_size};
	struct unpacker *u = NULL;
	int r;

	r = img_libs_archive(err);
	if (r < 0)
		return r;
	hash = s.hash = img_hash_new();
	r = stream_open(&s, layer_fd, err);
	outer = s.outer;
	if (r < 0)
		return r;
	tar = archive_read_new();
	if (!tar)
		return err_set(err, ENOMEM, "read layer: out of memory");
	archive_read_support_format_tar(tar);
	archive_read_support_format_empty(tar);

	u = xcalloc(1, sizeof(*u));
	u->root = dirfd;
	u->lower_fds = o->lower_fds;
	u->n_lower = o->n_lower;
	u->implicit_out = o->implicit_out;
	u->rootless = o->rootless;
	u->opaque_xattr = o->rootless ? "user.overlay.opaque" : "trusted.overlay.opaque";
	u->tar = tar;
	u->stream = &s;
	u->parent_fd = -1;
	creator_init(u);
	r = unpack_all(u, err);
	unpacker_done(u);
	free(u);
	if (r == 0)
		r = stream_drain(&s, err);
	if (r < 0) {
		err_clear(&s.err);
		return r;
	}
	img_hash_final(TAKE_PTR(hash), ret_diff_id);
	return 0;
}

int img_layer_fix_parents(int dirfd, FILE *list, const int *lower_fds, size_t n_lower,
			  struct err *err)
{
	struct unpacker u = {.root = dirfd, .lower_fds = lower_fds, .n_lower = n_lower};
	char line[PATH_MAX];

	while (fgets(line, sizeof(line), list)) {
		cleanup_close int fd = -1;
		struct stat low;

		line[strcspn(line, "\n")] = '\0';
		if (!*line || !lower_dir(&u, line, &low))
			continue;
		fd = open_beneath(dirfd, line, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			continue;
		{
			struct timespec times[2] = {low.st_atim, low.st_mtim};

			if (fchown(fd, low.st_uid, low.st_gid) < 0 && errno != EPERM)
				return err_sys(err, "layer directory '%s': set owner", line);
			if (fchmod(fd, low.st_mode & 07777) < 0)
				return err_sys(err, "layer directory '%s': set mode", line);
			if (futimens(fd, times) < 0)
				return err_sys(err, "layer directory '%s': set times", line);
		}
	}
	return 0;
}
