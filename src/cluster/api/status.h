/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Field errors collected by defaulting, validation and strict decoding, reported as the
 * causes of a 422 Invalid (or 400 BadRequest) Status exactly as upstream names them.
 */
#ifndef SKIFF_CLUSTER_API_STATUS_H
#define SKIFF_CLUSTER_API_STATUS_H

#include <stddef.h>

/* The reason strings of upstream's field.ErrorType. */
#define CAUSE_REQUIRED      "FieldValueRequired"
#define CAUSE_INVALID       "FieldValueInvalid"
#define CAUSE_NOT_SUPPORTED "FieldValueNotSupported"
#define CAUSE_DUPLICATE     "FieldValueDuplicate"
#define CAUSE_FORBIDDEN     "FieldValueForbidden"
#define CAUSE_TOO_LONG      "FieldValueTooLong"
#define CAUSE_TOO_MANY      "FieldValueTooMany"
#define CAUSE_TYPE_INVALID  "FieldValueTypeInvalid"
#define CAUSE_NOT_FOUND     "FieldValueNotFound"
#define CAUSE_UNKNOWN_FIELD "FieldValueUnknown" /* strict decoding: field not in the schema */

struct cause {
	const char *type; /* one of the CAUSE_ constants (static) */
	char *field;      /* "spec.template.spec.containers[0].image" */
	char *message;    /* "Required value", "Invalid value: \"X\": must be ..." */
};

struct causes {
	struct cause *v;
	size_t n, cap;
};

/* Appends a cause; @message is a printf format. */
void causes_add(struct causes *c, const char *type, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void causes_free(struct causes *c);

#endif
