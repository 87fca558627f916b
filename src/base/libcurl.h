/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl (the GnuTLS build), loaded on first use like image/libs.h: the registry client,
 * the etcd store and remote API clients call curl's functions by their usual names, which
 * the list below redirects to pointers that base_curl_load() fills in.
 */
#ifndef SKIFF_BASE_LIBCURL_H
#define SKIFF_BASE_LIBCURL_H

/* curl's type-checking macros would shadow the redirects below */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

struct err;

#define BASE_CURL_SYMS(X)                                                                          \
	X(curl_global_init)                                                                        \
	X(curl_easy_init)                                                                          \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_reset)                                                                         \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_multi_init)                                                                         \
	X(curl_multi_cleanup)                                                                      \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_perform)                                                                      \
	X(curl_multi_poll)                                                                         \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_strerror)                                                                     \
	X(curl_multi_wakeup)                                                                       \
	X(curl_easy_escape)                                                                        \
	X(curl_free)

#define BASE_CURL_DECLARE(name) extern __typeof__(name) *dl_p_##name;
BASE_CURL_SYMS(BASE_CURL_DECLARE)
#undef BASE_CURL_DECLARE

/* Loads libcurl and initialises it once (ELIBACC names the package when it is missing). */
int base_curl_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "base/libcurl_redirect.h"
#endif

#endif
