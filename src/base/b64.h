/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 (RFC 4648): the standard alphabet with padding for kubeconfigs and continue
 * tokens, the URL alphabet without padding for JSON Web Tokens.
 */
#ifndef SKIFF_BASE_B64_H
#define SKIFF_BASE_B64_H

#include <stdbool.h>
#include <stddef.h>

/* Encodes @n bytes; heap string. */
char *b64_encode(const void *data, size_t n, bool url);

/*
 * Decodes either alphabet, padding optional; heap buffer NUL-terminated after @ret_len
 * bytes, or NULL when @s is not base64.
 */
char *b64_decode(const char *s, size_t *ret_len);

#endif
