/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON decoding, as json_loadb()/json_loads() decode it but about four times faster on
 * the documents the cluster passes around (objects of ASCII keys and strings, integers,
 * the usual escapes). The same tree comes out: same types, values and key order, later
 * duplicates replacing earlier ones. Whatever the fast path does not handle itself
 * (\u escapes, bytes beyond ASCII, integers of 19 digits or more, deep nesting, the
 * flags other than JSON_DECODE_ANY and JSON_REJECT_DUPLICATES) and every malformed
 * document go to jansson, so errors are jansson's, word for word.
 */
#ifndef SKIFF_BASE_JLOAD_H
#define SKIFF_BASE_JLOAD_H

#include <stddef.h>

#include <jansson.h>

json_t *jload_b(const char *buf, size_t len, size_t flags, json_error_t *error);
json_t *jload_s(const char *s, size_t flags, json_error_t *error);

#endif
