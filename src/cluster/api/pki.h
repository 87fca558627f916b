/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's certificates: a self-signed CA kept for the life of a data directory and a
 * serving certificate it signs for the names and addresses the API server answers on,
 * renewed when those change or it nears expiry. `skiff server` calls pki_ensure() at
 * start and hands pki_load()'s PEM strings to the HTTP server and the kubeconfig.
 */
#ifndef SKIFF_CLUSTER_API_PKI_H
#define SKIFF_CLUSTER_API_PKI_H

#include <stddef.h>

struct err;

/*
 * In @dir (created 0700) keeps server-ca.crt/.key (ECDSA P-256, 10 years, CN
 * "skiff-server-ca@<unix time>") and serving.crt/.key (1 year, CN "skiff", signed by that
 * CA, subject alternative names @dns_names and @ips, both NULL-terminated, either may be
 * NULL). An existing CA is never replaced. The serving pair is made again when it is
 * missing or unreadable, its key does not match, the CA did not sign it, its names differ
 * from those wanted (as a set) or it expires within 30 days. Keys are 0600, every file is
 * replaced atomically. The CA's key is read only when the serving pair must be made.
 * EINVAL: an IP that does not parse, or a CA whose key is then missing or not its own
 * (a new CA would break every client that trusts the old one).
 */
int pki_ensure(const char *dir, const char *const *dns_names, const char *const *ips,
	       struct err *err);

/* Reads the serving certificate, its key and the CA certificate (PEM) from @dir. */
int pki_load(const char *dir, char **ret_cert_pem, char **ret_key_pem, char **ret_ca_pem,
	     struct err *err);

/* Fills @buf with @len - 1 random lowercase hex characters and a NUL (@len >= 1). */
int pki_token(char *buf, size_t len, struct err *err);

#endif
