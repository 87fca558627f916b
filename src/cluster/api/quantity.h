/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource quantities ("500m", "128Mi", "1e3", "1.5Gi") as upstream's resource.Quantity
 * parses, compares and prints them. Values are kept exactly as a multiple of 10^-9 (nano
 * units) in 128 bits. As upstream, amounts finer than 1n round up (away from zero) and
 * binary-suffixed amounts are capped at 2^63-1 units; decimal amounts of 10^28 units or
 * more are rejected as too large.
 */
#ifndef SKIFF_CLUSTER_API_QUANTITY_H
#define SKIFF_CLUSTER_API_QUANTITY_H

#include <stdbool.h>
#include <stdint.h>

enum quantity_format {
	QUANTITY_DECIMAL_SI,       /* m, k, M, G, T, P, E or none */
	QUANTITY_BINARY_SI,        /* Ki, Mi, Gi, Ti, Pi, Ei */
	QUANTITY_DECIMAL_EXPONENT, /* 1e3, 1E-3 */
};

struct quantity {
	__int128 nano; /* value * 10^9 */
	enum quantity_format format;
};

/*
 * Parses a quantity string; false (and @why, a static string with upstream's wording) when
 * it is not one, leaving @ret untouched. Stricter than upstream in one way: a string
 * without any digit ("Ki", ".", "-") is refused, where upstream reads zero.
 */
bool quantity_parse(const char *s, struct quantity *ret, const char **why);

/*
 * Canonical form as upstream prints it ("100m", "128Mi", "1k", "2"); heap string. A binary
 * amount below 1024 or with a fraction prints in decimal ("512", "1024m").
 */
char *quantity_format(const struct quantity *q);

int quantity_cmp(const struct quantity *a, const struct quantity *b);

/* Rounded up (towards +inf) to whole units / milli-units (cpu), saturating at INT64_MAX/MIN. */
int64_t quantity_value(const struct quantity *q);
int64_t quantity_milli(const struct quantity *q);

#endif
