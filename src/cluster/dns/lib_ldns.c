/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pointers behind lib_ldns.h and their loader, dns_ldns_load() of internal.h.
 */
#define DL_LIBS_IMPL
#include <pthread.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"
#include "cluster/dns/internal.h"
#include "cluster/dns/lib_ldns.h"

#define LDNS_DEFINE(name) __typeof__(name) *dl_p_##name;
DNS_LDNS_SYMS(LDNS_DEFINE)

#define LDNS_ENTRY(name) {#name, (void **)&dl_p_##name},
static const struct dl_sym ldns_syms[] = {DNS_LDNS_SYMS(LDNS_ENTRY){NULL, NULL}};

static pthread_mutex_t ldns_lock = PTHREAD_MUTEX_INITIALIZER;

int dns_ldns_load(struct err *err)
{
	static const char *const names[] = {"libldns.so.3", NULL};
	int r;

	pthread_mutex_lock(&ldns_lock);
	r = dl_load(names, ldns_syms, "libldns3", err);
	pthread_mutex_unlock(&ldns_lock);
	return r;
}
