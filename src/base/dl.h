/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Libraries loaded on first use. skiff is one binary with many roles; linking everything
 * would make every short-lived command (the OCI runtime above all) pay for loading and
 * initialising libraries it never calls (libcurl and its TLS stack cost ~6 ms per exec).
 * A module lists the functions it uses; dl_load() resolves them into function pointers.
 */
#ifndef SKIFF_BASE_DL_H
#define SKIFF_BASE_DL_H

struct err;

struct dl_sym {
	const char *name;
	void **ptr;
};

/*
 * Loads the first of @sonames (NULL-terminated) that exists and resolves @syms (ended by
 * a NULL name) into their pointers. Idempotent: a later call with the same table returns
 * at once. ELIBACC names the library and the missing package when it cannot be loaded.
 */
int dl_load(const char *const *sonames, const struct dl_sym *syms, const char *package,
	    struct err *err);

#endif
