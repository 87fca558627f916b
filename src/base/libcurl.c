/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind libcurl.h and their loader.
 */
#define DL_LIBS_IMPL
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "base/libcurl.h"

#define CURL_DEFINE(name) __typeof__(name) *dl_p_##name;
BASE_CURL_SYMS(CURL_DEFINE)

#define CURL_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym curl_syms[] = {BASE_CURL_SYMS(CURL_ENTRY){NULL, NULL}};

static pthread_mutex_t curl_lock = PTHREAD_MUTEX_INITIALIZER;

int base_curl_load(struct err *err)
{
	static const char *const names[] = {"libcurl-gnutls.so.4", "libcurl.so.4", NULL};
	static bool initialized;
	int r;

	pthread_mutex_lock(&curl_lock);
	r = dl_load(names, curl_syms, "libcurl3-gnutls", err);
	if (r == 0 && !initialized) {
		if (dl_p_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			r = err_set(err, EIO, "initialise libcurl");
		else
			initialized = true;
	}
	pthread_mutex_unlock(&curl_lock);
	return r;
}
