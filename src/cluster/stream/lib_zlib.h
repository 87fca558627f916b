/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zlib, loaded on first use by the SPDY framer (spdy.c), whose header blocks are deflated
 * with a preset dictionary. Only the agent's streaming endpoints need it, so no other
 * skiff process loads it. The names below are redirected to pointers that
 * stream_zlib_load() fills in.
 */
#ifndef SKIFF_CLUSTER_STREAM_LIB_ZLIB_H
#define SKIFF_CLUSTER_STREAM_LIB_ZLIB_H

#include <zlib.h>

struct err;

#define STREAM_ZLIB_SYMS(X)                                                                        \
	X(deflateInit_)                                                                            \
	X(deflateSetDictionary)                                                                    \
	X(deflate)                                                                                 \
	X(deflateEnd)                                                                              \
	X(inflateInit_)                                                                            \
	X(inflateSetDictionary)                                                                    \
	X(inflate)                                                                                 \
	X(inflateEnd)                                                                              \
	X(adler32)

#define STREAM_ZLIB_DECLARE(name) extern __typeof__(name) *dl_p_##name;
STREAM_ZLIB_SYMS(STREAM_ZLIB_DECLARE)
#undef STREAM_ZLIB_DECLARE

/* Loads zlib; thread-safe and idempotent (ELIBACC names the package when it is missing). */
int stream_zlib_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/stream/lib_zlib_redirect.h"
#endif

#endif
