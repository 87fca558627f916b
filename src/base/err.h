/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Errors that carry an errno and a complete, human-readable message naming the failed
 * action and its object. Fallible functions return -errno and fill the struct err passed
 * last; callers add context with err_wrap() and branch on err->code, never on the text.
 */
#ifndef SKIFF_BASE_ERR_H
#define SKIFF_BASE_ERR_H

struct err {
	int code;  /* errno value > 0; 0 when clear */
	char *msg; /* heap string, NULL when clear */
};

#define ERR_INIT                                                                                   \
	{                                                                                          \
		0, NULL                                                                            \
	}

/* Sets code and message; returns -code. The error must be clear on entry. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set() with code = errno, appending ": strerror(errno)". */
int err_sys(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_sys() for an explicit errno value (for APIs that return one). */
int err_errno(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to a set error; returns -code. */
int err_wrap(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Releases the message and clears the error; NULL-tolerant. */
void err_clear(struct err *e);

#endif
