/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dlopen-based lazy binding of optional libraries.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>

#include "base/dl.h"
#include "base/err.h"

int dl_load(const char *const *sonames, const struct dl_sym *syms, const char *package,
	    struct err *err)
{
	void *h = NULL;

	/* already resolved: the first pointer is set */
	if (syms[0].name && *syms[0].ptr)
		return 0;
	for (const char *const *n = sonames; *n && !h; n++)
		h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return err_set(err, ELIBACC, "load %s: %s (install the %s package)", sonames[0],
			       dlerror(), package);
	for (const struct dl_sym *s = syms; s->name; s++) {
		*s->ptr = dlsym(h, s->name);
		if (!*s->ptr)
			return err_set(err, ELIBACC, "load %s: no symbol '%s'", sonames[0],
				       s->name);
	}
	return 0;
}
