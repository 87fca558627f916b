/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind libs.h, and their loaders.
 */
#define IMG_LIBS_IMPL
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "image/libs.h"

#define IMG_LIB_DEFINE(name) __typeof__(name) *img_dl_##name;
IMG_ARCHIVE_SYMS(IMG_LIB_DEFINE)
IMG_CURL_SYMS(IMG_LIB_DEFINE)

#define IMG_LIB_ENTRY(name) {#name, (void **)&img_dl_##name},

static const struct dl_sym archive_syms[] = {IMG_ARCHIVE_SYMS(IMG_LIB_ENTRY){NULL, NULL}};
static const struct dl_sym curl_syms[] = {IMG_CURL_SYMS(IMG_LIB_ENTRY){NULL, NULL}};

int img_libs_archive(struct err *err)
{
	static const char *const names[] = {"libarchive.so.13", NULL};

	return dl_load(names, archive_syms, "libarchive13", err);
}

int img_libs_curl(struct err *err)
{
	static const char *const names[] = {"libcurl-gnutls.so.4", "libcurl.so.4", NULL};
	static bool initialized;
	int r = dl_load(names, curl_syms, "libcurl3-gnutls", err);

	/* before any other use, while the process has one thread: not thread safe */
	if (r == 0 && !initialized) {
		if (img_dl_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return err_set(err, EIO, "initialise libcurl");
		initialized = true;
	}
	return r;
}
