/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The list of field errors (causes) that defaulting, validation and strict decoding fill
 * and the API server turns into a Status.
 */
#include <stdarg.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "cluster/api/status.h"

void causes_add(struct causes *c, const char *type, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	va_start(ap, fmt);
	c->v[c->n].message = xvasprintf(fmt, ap);
	va_end(ap);
	c->v[c->n].type = type;
	c->v[c->n].field = xstrdup(field ? field : "");
	c->n++;
}

void causes_free(struct causes *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].field);
		free(c->v[i].message);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}
