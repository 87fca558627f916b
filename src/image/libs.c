/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind libs.h, and their loaders.
 */
#define DL_LIBS_IMPL
#include <errno.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "image/libs.h"

#define IMG_LIB_DEFINE(name) __typeof__(name) *dl_p_##name;
IMG_ARCHIVE_SYMS(IMG_LIB_DEFINE)

#define IMG_LIB_ENTRY(name) {#name, (void **)&dl_p_##name},

static const struct dl_sym archive_syms[] = {IMG_ARCHIVE_SYMS(IMG_LIB_ENTRY){NULL, NULL}};

int img_libs_archive(struct err *err)
{
	static const char *const names[] = {"libarchive.so.13", NULL};

	return dl_load(names, archive_syms, "libarchive13", err);
}
