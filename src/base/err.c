/* SPDX-License-Identifier: Apache-2.0 */
/*
 * struct err: formatting of error messages. Used by every module; never logs.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

static int set_va(struct err *e, int code, const char *suffix, const char *fmt, va_list ap)
{
	char *msg = NULL;

	assert(e->code == 0 && e->msg == NULL);
	if (code <= 0)
		code = EIO;
	msg = xvasprintf(fmt, ap);
	if (suffix) {
		char *full = xasprintf("%s: %s", msg, suffix);
		free(msg);
		msg = full;
	}
	e->code = code;
	e->msg = msg;
	return -code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = set_va(e, code, NULL, fmt, ap);
	va_end(ap);
	return r;
}

int err_sys(struct err *e, const char *fmt, ...)
{
	int code = errno;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = set_va(e, code, strerror(code), fmt, ap);
	va_end(ap);
	return r;
}

int err_errno(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (code < 0)
		code = -code;
	va_start(ap, fmt);
	r = set_va(e, code, strerror(code), fmt, ap);
	va_end(ap);
	return r;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	char *ctx = NULL;
	char *full = NULL;
	va_list ap;

	assert(e->code > 0);
	va_start(ap, fmt);
	ctx = xvasprintf(fmt, ap);
	va_end(ap);
	full = xasprintf("%s: %s", ctx, e->msg ? e->msg : "unknown error");
	free(ctx);
	free(e->msg);
	e->msg = full;
	return -e->code;
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	free(e->msg);
	e->msg = NULL;
	e->code = 0;
}
