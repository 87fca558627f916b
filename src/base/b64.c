/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Base64 encoding and decoding (b64.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/b64.h"

char *b64_encode(const void *data, size_t n, bool url)
{
	static const char std[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char web[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *tbl = url ? web : std;
	const unsigned char *p = data;
	char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);

		*o++ = tbl[v >> 18 & 63];
		*o++ = tbl[v >> 12 & 63];
		if (i + 1 < n)
			*o++ = tbl[v >> 6 & 63];
		else if (!url)
			*o++ = '=';
		if (i + 2 < n)
			*o++ = tbl[v & 63];
		else if (!url)
			*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

char *b64_decode(const char *s, size_t *ret_len)
{
	size_t len = strlen(s), n = 0;
	char *out = xmalloc(len / 4 * 3 + 4);
	uint32_t acc = 0;
	int bits = 0;

	while (len && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = value(s[i]);

		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits & 0xff);
		}
	}
	out[n] = '\0';
	*ret_len = n;
	return out;
}
