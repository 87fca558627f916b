/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed access to JSON documents (jansson) for validating parsers: each getter names the
 * field's full path in its error ("linux.resources.memory.limit: expected integer").
 * Getters return 1 when the field is present and valid, 0 when absent (output untouched),
 * -EINVAL when present with the wrong type or range.
 */
#ifndef SKIFF_BASE_JX_H
#define SKIFF_BASE_JX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct err;

/* Parses @len bytes of JSON text; @what names the document in errors. */
int jx_parse(const char *text, size_t len, const char *what, json_t **ret, struct err *err);

int jx_str(const json_t *obj, const char *path, const char *key, const char **ret, struct err *err);
int jx_int(const json_t *obj, const char *path, const char *key, int64_t *ret, struct err *err);
int jx_uint(const json_t *obj, const char *path, const char *key, uint64_t *ret, struct err *err);
int jx_u32(const json_t *obj, const char *path, const char *key, uint32_t *ret, struct err *err);
int jx_bool(const json_t *obj, const char *path, const char *key, bool *ret, struct err *err);
int jx_obj(const json_t *obj, const char *path, const char *key, json_t **ret, struct err *err);
int jx_arr(const json_t *obj, const char *path, const char *key, json_t **ret, struct err *err);
/* An array of strings as a NULL-terminated heap vector of heap strings. */
int jx_strv(const json_t *obj, const char *path, const char *key, char ***ret, struct err *err);

/* Frees a NULL-terminated string vector; NULL-tolerant. */
void strv_free(char **v);
size_t strv_len(char *const *v);

#endif
