/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmicrohttpd (with its GnuTLS), loaded on first use by the HTTP server layer (http.c)
 * only: every other skiff process, above all the OCI runtime, never pays for loading it.
 * The names below are redirected to pointers that api_mhd_load() fills in.
 */
#ifndef SKIFF_CLUSTER_API_LIB_MHD_H
#define SKIFF_CLUSTER_API_LIB_MHD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

struct err;

#define API_MHD_SYMS(X)                                                                            \
	X(MHD_start_daemon)                                                                        \
	X(MHD_stop_daemon)                                                                         \
	X(MHD_get_daemon_info)                                                                     \
	X(MHD_is_feature_supported)                                                                \
	X(MHD_get_connection_info)                                                                 \
	X(MHD_lookup_connection_value)                                                             \
	X(MHD_lookup_connection_value_n)                                                           \
	X(MHD_create_response_from_buffer)                                                         \
	X(MHD_create_response_from_callback)                                                       \
	X(MHD_add_response_header)                                                                 \
	X(MHD_queue_response)                                                                      \
	X(MHD_destroy_response)                                                                    \
	X(MHD_suspend_connection)                                                                  \
	X(MHD_resume_connection)                                                                   \
	X(MHD_get_connection_values)                                                               \
	X(MHD_create_response_for_upgrade)                                                         \
	X(MHD_upgrade_action)

#define API_MHD_DECLARE(name) extern __typeof__(name) *dl_p_##name;
API_MHD_SYMS(API_MHD_DECLARE)
#undef API_MHD_DECLARE

/* Loads libmicrohttpd (ELIBACC naming the package when it is missing). */
int api_mhd_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/api/lib_mhd_redirect.h"
#endif

#endif
