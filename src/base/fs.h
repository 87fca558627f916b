/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small file-system helpers: whole-file reads and writes, atomic replacement,
 * directory creation and recursive removal.
 */
#ifndef SKIFF_BASE_FS_H
#define SKIFF_BASE_FS_H

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Reads all of @path (relative to @dirfd) into a NUL-terminated heap buffer. */
int fs_read_file(int dirfd, const char *path, char **ret_buf, size_t *ret_len, struct err *err);

/* Writes @len bytes to an existing file (no O_CREAT), as sysfs/procfs knobs want. */
int fs_write_knob(int dirfd, const char *path, const char *buf, size_t len, struct err *err);

/* Writes @buf to a temporary file beside @path and renames it over @path. */
int fs_write_atomic(int dirfd, const char *path, const char *buf, size_t len, mode_t mode,
		    struct err *err);

/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode, struct err *err);

/* rm -r of @path below @dirfd, not crossing mount points; missing is fine. */
int fs_remove_tree(int dirfd, const char *path, struct err *err);

#endif
