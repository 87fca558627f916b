/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's CA and serving certificate, made with GnuTLS's X.509 API (loaded on first
 * use, lib_gnutls.h), and the random join/admin tokens. Only `skiff server` start-up
 * calls this; nothing here runs per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/lib_gnutls.h"
#include "cluster/api/pki.h"

#define CA_CRT      "server-ca.crt"
#define CA_KEY      "server-ca.key"
#define SERVING_CRT "serving.crt"
#define SERVING_KEY "serving.key"

#define DAY_SECONDS  (24 * 60 * 60)
#define CA_DAYS      3650
#define SERVING_DAYS 365
#define RENEW_DAYS   30
/* tolerate agents whose clocks run somewhat behind the server's */
#define BACKDATE_SECONDS (60 * 60)

#define MAX_SANS 64

/* One subject alternative name as GnuTLS stores it: a DNS name, or 4/16 address bytes. */
struct san {
	gnutls_x509_subject_alt_name_t type;
	unsigned char data[256];
	size_t len;
};

struct pair {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

static void pair_done(struct pair *p)
{
	if (p->crt)
		gnutls_x509_crt_deinit(p->crt);
	if (p->key)
		gnutls_x509_privkey_deinit(p->key);
	p->crt = NULL;
	p->key = NULL;
}

static int tls_fail(struct err *err, int code, int rc, const char *what, const char *name)
{
	return err_set(err, code, "%s '%s': %s", what, name, gnutls_strerror(rc));
}

static int import_crt(const char *pem, size_t len, const char *name, gnutls_x509_crt_t *ret,
		      struct err *err)
{
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
	gnutls_x509_crt_t crt = NULL;
	int rc;

	rc = gnutls_x509_crt_init(&crt);
	if (rc < 0)
		return tls_fail(err, ENOMEM, rc, "parse certificate", name);
	rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_x509_crt_deinit(crt);
		return tls_fail(err, EINVAL, rc, "parse certificate", name);
	}
	*ret = crt;
	return 0;
}

static int import_key(const char *pem, size_t len, const char *name, gnutls_x509_privkey_t *ret,
		      struct err *err)
{
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned)len};
	gnutls_x509_privkey_t key = NULL;
	int rc;

	rc = gnutls_x509_privkey_init(&key);
	if (rc < 0)
		return tls_fail(err, ENOMEM, rc, "parse key", name);
	rc = gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_x509_privkey_deinit(key);
		return tls_fail(err, EINVAL, rc, "parse key", name);
	}
	*ret = key;
	return 0;
}

static bool key_matches(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);

	if (gnutls_x509_crt_get_key_id(crt, 0, a, &alen) < 0 ||
	    gnutls_x509_privkey_get_key_id(key, 0, b, &blen) < 0)
		return false;
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* Loads a certificate: -ENOENT (err set) when it does not exist. */
static int load_crt(int dirfd, const char *name, gnutls_x509_crt_t *ret, struct err *err)
{
	cleanup_free char *pem = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(dirfd, name, &pem, &len, err);
	if (r < 0)
		return r;
	return import_crt(pem, len, name, ret, err);
}

/* Loads the key of @crt: -EINVAL when it is missing, unreadable or another's. */
static int load_key(int dirfd, const char *name, gnutls_x509_crt_t crt, const char *crt_name,
		    gnutls_x509_privkey_t *ret, struct err *err)
{
	cleanup_free char *pem = NULL;
	gnutls_x509_privkey_t key = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(dirfd, name, &pem, &len, err);
	if (r == -ENOENT) {
		err_clear(err);
		return err_set(err, EINVAL, "key '%s' of certificate '%s' is missing", name,
			       crt_name);
	}
	if (r < 0)
		return r;
	r = import_key(pem, len, name, &key, err);
	explicit_bzero(pem, len);
	if (r < 0)
		return r;
	if (!key_matches(crt, key)) {
		gnutls_x509_privkey_deinit(key);
		return err_set(err, EINVAL, "key '%s' does not belong to certificate '%s'", name,
			       crt_name);
	}
	*ret = key;
	return 0;
}

/* GnuTLS's two-call export: ask for the size, then fill a buffer of that size. */
static char *export_crt(gnutls_x509_crt_t crt, size_t *ret_len)
{
	size_t size = 0;
	char *buf;

	gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_PEM, NULL, &size);
	buf = xmalloc(size + 1);
	if (gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_PEM, buf, &size) < 0) {
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	*ret_len = strlen(buf);
	return buf;
}

static char *export_key(gnutls_x509_privkey_t key, size_t *ret_len)
{
	size_t size = 0;
	char *buf;

	gnutls_x509_privkey_export(key, GNUTLS_X509_FMT_PEM, NULL, &size);
	buf = xmalloc(size + 1);
	if (gnutls_x509_privkey_export(key, GNUTLS_X509_FMT_PEM, buf, &size) < 0) {
		free(buf);
		return NULL;
	}
	buf[size] = '\0';
	*ret_len = strlen(buf);
	return buf;
}

/* Writes the key (0600) before the certificate, so a certificate never lacks its key. */
static int save_pair(int dirfd, const struct pair *p, const char *crt_name, const char *key_name,
		     struct err *err)
{
	cleanup_free char *crt_pem = NULL, *key_pem = NULL;
	size_t crt_len = 0, key_len = 0;
	int r;

	crt_pem = export_crt(p->crt, &crt_len);
	key_pem = export_key(p->key, &key_len);
	if (!crt_pem || !key_pem)
		return err_set(err, EIO, "encode certificate '%s'", crt_name);
	r = fs_write_atomic(dirfd, key_name, key_pem, key_len, 0600, err);
	explicit_bzero(key_pem, key_len);
	if (r < 0)
		return r;
	return fs_write_atomic(dirfd, crt_name, crt_pem, crt_len, 0644, err);
}

/* A new key and a certificate for it with everything but the issuer-specific parts. */
static int new_pair(const char *cn, unsigned days, struct pair *ret, struct err *err)
{
	struct pair p = {NULL, NULL};
	unsigned char serial[16] = {0}, id[64];
	size_t id_len = sizeof(id);
	time_t now = time(NULL);
	int rc;

	rc = gnutls_x509_privkey_init(&p.key);
	if (rc >= 0)
		rc = gnutls_x509_privkey_generate(p.key, GNUTLS_PK_ECDSA,
						  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
						  0);
	if (rc >= 0)
		rc = gnutls_x509_crt_init(&p.crt);
	if (rc >= 0)
		rc = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
	/* a positive serial of constant length: DER integers are signed */
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_version(p.crt, 3);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_serial(p.crt, serial, sizeof(serial));
	if (rc >= 0)
		rc = gnutls_x509_crt_set_activation_time(p.crt, now - BACKDATE_SECONDS);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_expiration_time(p.crt, now + (time_t)days * DAY_SECONDS);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_dn_by_oid(p.crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
						   (unsigned)strlen(cn));
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key(p.crt, p.key);
	if (rc >= 0)
		rc = gnutls_x509_crt_get_key_id(p.crt, 0, id, &id_len);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_subject_key_id(p.crt, id, id_len);
	if (rc < 0) {
		pair_done(&p);
		return tls_fail(err, EIO, rc, "create certificate", cn);
	}
	*ret = p;
	return 0;
}

static int create_ca(int dirfd, struct pair *ret, struct err *err)
{
	char cn[64];
	struct pair p;
	int r, rc;

	snprintf(cn, sizeof(cn), "skiff-server-ca@%lld", (long long)time(NULL));
	r = new_pair(cn, CA_DAYS, &p, err);
	if (r < 0)
		return r;
	rc = gnutls_x509_crt_set_basic_constraints(p.crt, 1, -1);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_usage(p.crt, GNUTLS_KEY_KEY_CERT_SIGN |
								  GNUTLS_KEY_CRL_SIGN |
								  GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc >= 0)
		rc = gnutls_x509_crt_sign2(p.crt, p.crt, p.key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0) {
		pair_done(&p);
		return tls_fail(err, EIO, rc, "sign certificate", cn);
	}
	r = save_pair(dirfd, &p, CA_CRT, CA_KEY, err);
	if (r < 0) {
		pair_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

static int create_serving(int dirfd, const struct pair *ca, const struct san *sans, size_t n,
			  struct err *err)
{
	unsigned char aki[64];
	size_t aki_len = sizeof(aki);
	struct pair p;
	int r, rc;

	r = new_pair("skiff", SERVING_DAYS, &p, err);
	if (r < 0)
		return r;
	rc = gnutls_x509_crt_set_basic_constraints(p.crt, 0, -1);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_usage(p.crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
	if (rc >= 0)
		rc = gnutls_x509_crt_set_key_purpose_oid(p.crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	for (size_t i = 0; i < n && rc >= 0; i++)
		rc = gnutls_x509_crt_set_subject_alt_name(p.crt, sans[i].type, sans[i].data,
							  (unsigned)sans[i].len,
							  GNUTLS_FSAN_APPEND);
	if (rc >= 0 && gnutls_x509_crt_get_subject_key_id(ca->crt, aki, &aki_len, NULL) >= 0)
		rc = gnutls_x509_crt_set_authority_key_id(p.crt, aki, aki_len);
	if (rc >= 0)
		rc = gnutls_x509_crt_sign2(p.crt, ca->crt, ca->key, GNUTLS_DIG_SHA256, 0);
	if (rc < 0) {
		pair_done(&p);
		return tls_fail(err, EIO, rc, "sign certificate", SERVING_CRT);
	}
	r = save_pair(dirfd, &p, SERVING_CRT, SERVING_KEY, err);
	pair_done(&p);
	return r;
}

static int wanted_sans(const char *const *dns_names, const char *const *ips, struct san *sans,
		       size_t *ret_n, struct err *err)
{
	size_t n = 0;

	for (const char *const *d = dns_names; d && *d; d++) {
		size_t len = strlen(*d);

		if (n == MAX_SANS)
			return err_set(err, EINVAL, "more than %d certificate names", MAX_SANS);
		if (len == 0 || len >= sizeof(sans[n].data))
			return err_set(err, EINVAL, "invalid certificate DNS name '%s'", *d);
		sans[n].type = GNUTLS_SAN_DNSNAME;
		memcpy(sans[n].data, *d, len);
		sans[n++].len = len;
	}
	for (const char *const *a = ips; a && *a; a++) {
		if (n == MAX_SANS)
			return err_set(err, EINVAL, "more than %d certificate names", MAX_SANS);
		sans[n].type = GNUTLS_SAN_IPADDRESS;
		if (inet_pton(AF_INET, *a, sans[n].data) == 1)
			sans[n].len = 4;
		else if (inet_pton(AF_INET6, *a, sans[n].data) == 1)
			sans[n].len = 16;
		else
			return err_set(err, EINVAL, "invalid certificate IP address '%s'", *a);
		n++;
	}
	*ret_n = n;
	return 0;
}

static bool san_equal(const struct san *a, gnutls_x509_subject_alt_name_t type,
		      const unsigned char *data, size_t len)
{
	if (a->type != type || a->len != len)
		return false;
	if (type == GNUTLS_SAN_DNSNAME)
		return strncasecmp((const char *)a->data, (const char *)data, len) == 0;
	return memcmp(a->data, data, len) == 0;
}

/* The certificate's names equal @sans as sets (order and repetition do not count). */
static bool sans_match(gnutls_x509_crt_t crt, const struct san *sans, size_t n)
{
	bool seen[MAX_SANS] = {false};

	for (unsigned seq = 0;; seq++) {
		unsigned char data[256];
		size_t len = sizeof(data);
		bool found = false;
		int type;

		type = gnutls_x509_crt_get_subject_alt_name(crt, seq, data, &len, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type < 0)
			return false;
		for (size_t i = 0; i < n; i++) {
			if (san_equal(&sans[i], (gnutls_x509_subject_alt_name_t)type, data, len)) {
				seen[i] = true;
				found = true;
			}
		}
		if (!found)
			return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!seen[i])
			return false;
	return true;
}

static bool serving_is_current(int dirfd, const struct pair *ca, const struct san *sans, size_t n)
{
	struct err e = ERR_INIT;
	struct pair p = {NULL, NULL};
	unsigned status = 0;
	bool ok;

	if (load_crt(dirfd, SERVING_CRT, &p.crt, &e) < 0 ||
	    load_key(dirfd, SERVING_KEY, p.crt, SERVING_CRT, &p.key, &e) < 0) {
		err_clear(&e);
		pair_done(&p);
		return false;
	}
	ok = gnutls_x509_crt_get_expiration_time(p.crt) >
		     time(NULL) + (time_t)RENEW_DAYS * DAY_SECONDS &&
	     gnutls_x509_crt_verify(p.crt, &ca->crt, 1, 0, &status) >= 0 && status == 0 &&
	     sans_match(p.crt, sans, n);
	pair_done(&p);
	return ok;
}

int pki_ensure(const char *dir, const char *const *dns_names, const char *const *ips,
	       struct err *err)
{
	struct san sans[MAX_SANS];
	struct pair ca = {NULL, NULL};
	cleanup_close int dirfd = -1;
	size_t n = 0;
	int r;

	r = api_gnutls_load(err);
	if (r < 0)
		return r;
	r = wanted_sans(dns_names, ips, sans, &n, err);
	if (r < 0)
		return r;
	r = fs_mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_sys(err, "open '%s'", dir);

	r = load_crt(dirfd, CA_CRT, &ca.crt, err);
	if (r == -ENOENT) {
		err_clear(err);
		r = create_ca(dirfd, &ca, err);
	}
	/* the CA's key is read only to sign: a current serving pair does not need it */
	if (r == 0 && !serving_is_current(dirfd, &ca, sans, n)) {
		if (!ca.key)
			r = load_key(dirfd, CA_KEY, ca.crt, CA_CRT, &ca.key, err);
		if (r == 0)
			r = create_serving(dirfd, &ca, sans, n, err);
	}
	pair_done(&ca);
	if (r < 0)
		return err_wrap(err, "certificates in '%s'", dir);
	return 0;
}

int pki_load(const char *dir, char **ret_cert_pem, char **ret_key_pem, char **ret_ca_pem,
	     struct err *err)
{
	cleanup_free char *cert = NULL, *key = NULL, *ca = NULL;
	cleanup_close int dirfd = -1;
	int r;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_sys(err, "open '%s'", dir);
	r = fs_read_file(dirfd, SERVING_CRT, &cert, NULL, err);
	if (r == 0)
		r = fs_read_file(dirfd, SERVING_KEY, &key, NULL, err);
	if (r == 0)
		r = fs_read_file(dirfd, CA_CRT, &ca, NULL, err);
	if (r < 0)
		return err_wrap(err, "certificates in '%s'", dir);
	*ret_cert_pem = TAKE_PTR(cert);
	*ret_key_pem = TAKE_PTR(key);
	*ret_ca_pem = TAKE_PTR(ca);
	return 0;
}

int pki_token(char *buf, size_t len, struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[128];
	size_t want = len ? len - 1 : 0;

	if (len == 0)
		return err_set(err, EINVAL, "make token: empty buffer");
	for (size_t done = 0; done < want;) {
		size_t chunk = (want - done + 1) / 2;
		ssize_t got;

		if (chunk > sizeof(raw))
			chunk = sizeof(raw);
		got = getrandom(raw, chunk, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_sys(err, "make token: getrandom");
		for (ssize_t i = 0; i < got && done < want; i++) {
			buf[done++] = hex[raw[i] >> 4];
			if (done < want)
				buf[done++] = hex[raw[i] & 0xf];
		}
	}
	buf[want] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}
