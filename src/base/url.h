/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Percent-encoding for URL query values and path segments (RFC 3986).
 */
#ifndef SKIFF_BASE_URL_H
#define SKIFF_BASE_URL_H

/* @s with every byte but the unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX; heap. */
char *url_escape(const char *s);

#endif
