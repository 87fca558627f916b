/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File-system helpers shared by every module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"

#define FS_READ_LIMIT (64u << 20) /* no file we read as a whole is legitimately larger */

int fs_read_file(int dirfd, const char *path, char **ret_buf, size_t *ret_len, struct err *err)
{
	cleanup_close int fd = -1;
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = 4096;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open '%s'", path);
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			if (cap >= FS_READ_LIMIT)
				return err_set(err, EFBIG, "read '%s': larger than %u bytes", path,
					       FS_READ_LIMIT);
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, "read '%s'", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	*ret_buf = TAKE_PTR(buf);
	return 0;
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

int fs_write_knob(int dirfd, const char *path, const char *buf, size_t len, struct err *err)
{
	cleanup_close int fd = -1;

	fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open '%s'", path);
	/* knobs take one write: a short write would be a partial value */
	if (write(fd, buf, len) != (ssize_t)len)
		return err_sys(err, "write '%.*s' to '%s'", (int)(len > 64 ? 64 : len), buf, path);
	return 0;
}

int fs_write_atomic(int dirfd, const char *path, const char *buf, size_t len, mode_t mode,
		    struct err *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp%d", path, (int)getpid());
	cleanup_close int fd = -1;

	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return err_sys(err, "create '%s'", tmp);
	if (write_all(fd, buf, len) < 0) {
		err_sys(err, "write '%s'", tmp);
		unlinkat(dirfd, tmp, 0);
		return -err->code;
	}
	if (renameat(dirfd, tmp, dirfd, path) < 0) {
		err_sys(err, "rename '%s' to '%s'", tmp, path);
		unlinkat(dirfd, tmp, 0);
		return -err->code;
	}
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *err)
{
	cleanup_free char *p = xstrdup(path);

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_sys(err, "create directory '%s'", p);
		*s = c;
		if (c == '\0')
			break;
	}
	return 0;
}

static int remove_at(int dirfd, const char *name, dev_t dev, struct err *err)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_sys(err, "stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return err_sys(err, "remove '%s'", name);
		return 0;
	}
	if (st.st_dev != dev)
		return err_set(err, EBUSY, "remove '%s': a file system is mounted there", name);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "open '%s'", name);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_sys(err, "open '%s'", name);
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (remove_at(fd, de->d_name, dev, err) < 0)
			return err_wrap(err, "remove '%s'", name);
	}
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_sys(err, "remove '%s'", name);
	return 0;
}

int fs_remove_tree(int dirfd, const char *path, struct err *err)
{
	struct stat st;

	if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_sys(err, "stat '%s'", path);
	return remove_at(dirfd, path, st.st_dev, err);
}
