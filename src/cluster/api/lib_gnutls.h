/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GnuTLS, loaded on first use: the certificate code (pki.c) makes and checks the server's
 * CA and serving certificates with its X.509 functions; HTTP/1.1 client connections (h1.c)
 * carry the pod proxy's requests to node agents and the API client's to the API server,
 * and the agent's HTTPS probes (agent/probe.c) talk to pods, with its client sessions.
 * The names below are redirected to pointers that api_gnutls_load() fills in.
 */
#ifndef SKIFF_CLUSTER_API_LIB_GNUTLS_H
#define SKIFF_CLUSTER_API_LIB_GNUTLS_H

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

struct err;

#define API_GNUTLS_SYMS(X)                                                                         \
	X(gnutls_strerror)                                                                         \
	X(gnutls_rnd)                                                                              \
	X(gnutls_x509_privkey_init)                                                                \
	X(gnutls_x509_privkey_deinit)                                                              \
	X(gnutls_x509_privkey_generate)                                                            \
	X(gnutls_x509_privkey_import)                                                              \
	X(gnutls_x509_privkey_export)                                                              \
	X(gnutls_x509_privkey_get_key_id)                                                          \
	X(gnutls_x509_crt_init)                                                                    \
	X(gnutls_x509_crt_deinit)                                                                  \
	X(gnutls_x509_crt_import)                                                                  \
	X(gnutls_x509_crt_export)                                                                  \
	X(gnutls_x509_crt_set_version)                                                             \
	X(gnutls_x509_crt_set_serial)                                                              \
	X(gnutls_x509_crt_set_activation_time)                                                     \
	X(gnutls_x509_crt_set_expiration_time)                                                     \
	X(gnutls_x509_crt_get_expiration_time)                                                     \
	X(gnutls_x509_crt_set_dn_by_oid)                                                           \
	X(gnutls_x509_crt_set_key)                                                                 \
	X(gnutls_x509_crt_set_basic_constraints)                                                   \
	X(gnutls_x509_crt_set_key_usage)                                                           \
	X(gnutls_x509_crt_set_key_purpose_oid)                                                     \
	X(gnutls_x509_crt_set_subject_alt_name)                                                    \
	X(gnutls_x509_crt_get_subject_alt_name)                                                    \
	X(gnutls_x509_crt_get_key_id)                                                              \
	X(gnutls_x509_crt_set_subject_key_id)                                                      \
	X(gnutls_x509_crt_get_subject_key_id)                                                      \
	X(gnutls_x509_crt_set_authority_key_id)                                                    \
	X(gnutls_x509_crt_sign2)                                                                   \
	X(gnutls_x509_crt_verify)                                                                  \
	X(gnutls_init)                                                                             \
	X(gnutls_deinit)                                                                           \
	X(gnutls_set_default_priority)                                                             \
	X(gnutls_certificate_allocate_credentials)                                                 \
	X(gnutls_certificate_free_credentials)                                                     \
	X(gnutls_certificate_set_x509_trust_mem)                                                   \
	X(gnutls_certificate_set_x509_system_trust)                                                \
	X(gnutls_session_set_verify_cert)                                                          \
	X(gnutls_session_get_verify_cert_status)                                                   \
	X(gnutls_credentials_set)                                                                  \
	X(gnutls_transport_set_int2)                                                               \
	X(gnutls_transport_set_ptr)                                                                \
	X(gnutls_transport_set_push_function)                                                      \
	X(gnutls_transport_set_pull_function)                                                      \
	X(gnutls_transport_set_pull_timeout_function)                                              \
	X(gnutls_transport_set_errno)                                                              \
	X(gnutls_handshake)                                                                        \
	X(gnutls_handshake_set_timeout)                                                            \
	X(gnutls_record_send)                                                                      \
	X(gnutls_record_recv)                                                                      \
	X(gnutls_record_check_pending)                                                             \
	X(gnutls_record_get_direction)                                                             \
	X(gnutls_server_name_set)                                                                  \
	X(gnutls_error_is_fatal)                                                                   \
	X(gnutls_bye)

#define API_GNUTLS_DECLARE(name) extern __typeof__(name) *dl_p_##name;
API_GNUTLS_SYMS(API_GNUTLS_DECLARE)
#undef API_GNUTLS_DECLARE

/* Loads GnuTLS (ELIBACC naming the package when it is missing). */
int api_gnutls_load(struct err *err);

#ifndef DL_LIBS_IMPL
#include "cluster/api/lib_gnutls_redirect.h"
#endif

#endif
