/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libarchive, loaded on first use (base/dl.h). Code calls the functions by their usual
 * names: each name below is redirected to a pointer that img_libs_archive() fills in, so a
 * function missing from the list fails to link rather than pulling the library into every
 * skiff process. Call the loader once before the first use; it is cheap afterwards.
 */
#ifndef SKIFF_IMAGE_LIBS_H
#define SKIFF_IMAGE_LIBS_H

#include <archive.h>
#include <archive_entry.h>

struct err;

/* libarchive: the unpacker and the importers/exporters. */
#define IMG_ARCHIVE_SYMS(X)                                                                        \
	X(archive_read_new)                                                                        \
	X(archive_read_free)                                                                       \
	X(archive_read_support_filter_all)                                                         \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_filter_zstd)                                                        \
	X(archive_read_support_filter_none)                                                        \
	X(archive_read_support_format_tar)                                                         \
	X(archive_read_support_format_raw)                                                         \
	X(archive_read_support_format_empty)                                                       \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_open)                                                                       \
	X(archive_read_open_memory)                                                                \
	X(archive_read_next_header)                                                                \
	X(archive_read_data)                                                                       \
	X(archive_read_data_block)                                                                 \
	X(archive_read_data_skip)                                                                  \
	X(archive_error_string)                                                                    \
	X(archive_errno)                                                                           \
	X(archive_filter_code)                                                                     \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_mode)                                                                      \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_uid)                                                                       \
	X(archive_entry_gid)                                                                       \
	X(archive_entry_size)                                                                      \
	X(archive_entry_size_is_set)                                                               \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_mtime_nsec)                                                                \
	X(archive_entry_atime)                                                                     \
	X(archive_entry_atime_nsec)                                                                \
	X(archive_entry_rdevmajor)                                                                 \
	X(archive_entry_rdevminor)                                                                 \
	X(archive_entry_xattr_reset)                                                               \
	X(archive_entry_xattr_next)                                                                \
	X(archive_entry_xattr_count)                                                               \
	X(archive_write_new)                                                                       \
	X(archive_write_free)                                                                      \
	X(archive_write_close)                                                                     \
	X(archive_write_fail)                                                                      \
	X(archive_write_set_format_pax_restricted)                                                 \
	X(archive_write_set_format_raw)                                                            \
	X(archive_write_add_filter_gzip)                                                           \
	X(archive_write_add_filter_zstd)                                                           \
	X(archive_write_add_filter_none)                                                           \
	X(archive_write_open_fd)                                                                   \
	X(archive_write_open)                                                                      \
	X(archive_write_header)                                                                    \
	X(archive_write_data)                                                                      \
	X(archive_entry_new)                                                                       \
	X(archive_entry_free)                                                                      \
	X(archive_entry_clear)                                                                     \
	X(archive_entry_copy_pathname)                                                             \
	X(archive_entry_copy_symlink)                                                              \
	X(archive_entry_copy_hardlink)                                                             \
	X(archive_entry_set_filetype)                                                              \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_uid)                                                                   \
	X(archive_entry_set_gid)                                                                   \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_set_mtime)                                                                 \
	X(archive_entry_set_rdevmajor)                                                             \
	X(archive_entry_set_rdevminor)                                                             \
	X(archive_entry_copy_stat)                                                                 \
	X(archive_entry_xattr_add_entry)

#define IMG_LIB_DECLARE(name) extern __typeof__(name) *dl_p_##name;
IMG_ARCHIVE_SYMS(IMG_LIB_DECLARE)
#undef IMG_LIB_DECLARE

/* Loads libarchive (ELIBACC with the package to install when missing). */
int img_libs_archive(struct err *err);

/* From here on the library's names call through the pointers. */
#ifndef DL_LIBS_IMPL
#include "image/libs_redirect.h"
#endif

#endif
