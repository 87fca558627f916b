/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource quantities: parsing, canonical printing and comparison with upstream's rules
 * (resource.Quantity). Validation, defaulting, the scheduler and the agent's cgroup limits
 * call these. Arithmetic is exact on decimal digits, so "0.1" or "1.5Gi" never pass
 * through floating point.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"

#include "cluster/api/quantity.h"

typedef unsigned __int128 u128;

#define NANO 1000000000ull
/* Parsed magnitudes stay below 10^37 nano so that printing may scale a mantissa by 100. */
#define MAX_DIGITS 37
/* upstream caps binary quantities at 2^63-1 units */
#define BINARY_CAP ((u128)INT64_MAX * NANO)

static const char *const why_format = "quantities must match the regular expression "
				      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
static const char *const why_suffix = "unable to parse quantity's suffix";
static const char *const why_large = "quantity is too large";

static const struct {
	const char *suffix;
	int exp;
} decimal_suffixes[] = {
	{"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
	{"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18},
};

static const char *const binary_suffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Base (10 or 2), power and format for a suffix; false when it is none. */
static bool interpret_suffix(const char *suf, int *ret_base, long *ret_exp,
			     enum quantity_format *ret_fmt)
{
	const char *p = NULL;
	long e = 0;
	bool neg = false;

	for (size_t i = 0; i < sizeof(decimal_suffixes) / sizeof(decimal_suffixes[0]); i++)
		if (strcmp(suf, decimal_suffixes[i].suffix) == 0) {
			*ret_base = 10;
			*ret_exp = decimal_suffixes[i].exp;
			*ret_fmt = QUANTITY_DECIMAL_SI;
			return true;
		}
	for (size_t i = 1; i < sizeof(binary_suffixes) / sizeof(binary_suffixes[0]); i++)
		if (strcmp(suf, binary_suffixes[i]) == 0) {
			*ret_base = 2;
			*ret_exp = (long)i * 10;
			*ret_fmt = QUANTITY_BINARY_SI;
			return true;
		}
	if ((suf[0] != 'e' && suf[0] != 'E') || suf[1] == '\0')
		return false;
	p = suf + 1;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		return false;
	for (; *p; p++) {
		if (!is_digit(*p))
			return false;
		/* beyond this every non-zero value overflows or rounds up to 1n anyway */
		if (e < 100000)
			e = e * 10 + (*p - '0');
	}
	*ret_base = 10;
	*ret_exp = neg ? -e : e;
	*ret_fmt = QUANTITY_DECIMAL_EXPONENT;
	return true;
}

/* Multiplies the decimal digits d[0..*n) (with *point integer digits) by two. */
static void digits_double(unsigned char *d, size_t *n, long *point)
{
	int carry = 0;

	for (size_t i = *n; i-- > 0;) {
		int v = d[i] * 2 + carry;

		d[i] = (unsigned char)(v % 10);
		carry = v / 10;
	}
	if (carry) {
		memmove(d + 1, d, *n);
		d[0] = (unsigned char)carry;
		(*n)++;
		(*point)++;
	}
}

/*
 * The magnitude in nano units of the digits d[0..n) with @point integer digits, rounded
 * up (upstream rounds sub-nano amounts up so a request never becomes zero); false when
 * it does not fit.
 */
static bool digits_to_nano(const unsigned char *d, size_t n, long point, u128 *ret)
{
	const u128 limit = (u128)1 << 126;
	long whole = point + 9;
	bool frac = false;
	u128 acc = 0;

	for (size_t i = 0; i < n; i++) {
		if ((long)i >= whole) {
			frac |= d[i] != 0;
			continue;
		}
		if (acc > (limit - d[i]) / 10)
			return false;
		acc = acc * 10 + d[i];
	}
	for (long i = (long)n; i < whole && acc; i++) {
		if (acc > limit / 10)
			return false;
		acc *= 10;
	}
	*ret = acc + frac;
	return true;
}

static u128 pow10_u128(int n)
{
	u128 v = 1;

	while (n-- > 0)
		v *= 10;
	return v;
}

bool quantity_parse(const char *s, struct quantity *ret, const char **why)
{
	cleanup_free unsigned char *d = NULL;
	const char *p = s, *num = NULL, *denom = NULL, *suf = NULL;
	size_t nnum = 0, ndenom = 0, n = 0;
	enum quantity_format fmt;
	bool neg = false, any = false;
	long exp = 0, point = 0;
	int base = 10;
	u128 mag = 0;

	if (!s || !*s) {
		*why = why_format;
		return false;
	}
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	while (*p == '0') {
		p++;
		any = true;
	}
	for (num = p; is_digit(*p); p++)
		nnum++;
	if (*p == '.') {
		for (denom = ++p; is_digit(*p); p++)
			ndenom++;
	}
	suf = p;
	while (*p && strchr("eEinumkKMGTP", *p))
		p++;
	if (*p == '+' || *p == '-')
		p++;
	while (is_digit(*p))
		p++;
	/* upstream takes "." or "Ki" alone as zero; a quantity without a digit is refused */
	if (*p || !(any || nnum || ndenom)) {
		*why = why_format;
		return false;
	}
	if (!interpret_suffix(suf, &base, &exp, &fmt)) {
		*why = why_suffix;
		return false;
	}

	d = xmalloc(nnum + ndenom + 24);
	for (size_t i = 0; i < nnum; i++)
		d[n++] = (unsigned char)(num[i] - '0');
	for (size_t i = 0; i < ndenom; i++)
		d[n++] = (unsigned char)(denom[i] - '0');
	point = (long)nnum;
	if (base == 2) {
		for (long i = 0; i < exp; i++)
			digits_double(d, &n, &point);
	} else {
		point += exp;
	}
	if (!digits_to_nano(d, n, point, &mag) ||
	    (fmt != QUANTITY_BINARY_SI && mag >= pow10_u128(MAX_DIGITS))) {
		if (fmt != QUANTITY_BINARY_SI) {
			*why = why_large;
			return false;
		}
		mag = BINARY_CAP;
	}
	if (fmt == QUANTITY_BINARY_SI && mag > BINARY_CAP)
		mag = BINARY_CAP;
	/* as upstream: a binary amount below one unit prints in decimal */
	if (fmt == QUANTITY_BINARY_SI && mag > 0 && mag < NANO)
		fmt = QUANTITY_DECIMAL_SI;
	ret->nano = neg ? -(__int128)mag : (__int128)mag;
	ret->format = fmt;
	return true;
}

/* Decimal digits of @v, most significant first, into @buf (at least 40 bytes). */
static char *u128_str(u128 v, char *buf)
{
	char tmp[48];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return buf;
}

static char *format_binary(bool neg, u128 mag)
{
	u128 units = mag / NANO;
	size_t e = 0;
	char buf[48];

	while (e + 1 < sizeof(binary_suffixes) / sizeof(binary_suffixes[0]) && units % 1024 == 0) {
		units /= 1024;
		e++;
	}
	return xasprintf("%s%s%s", neg ? "-" : "", u128_str(units, buf), binary_suffixes[e]);
}

static char *format_decimal(bool neg, u128 mag, enum quantity_format fmt)
{
	const char *suffix = "";
	u128 mant = mag;
	int e = -9;
	char buf[48];

	while (mant % 10 == 0) {
		mant /= 10;
		e++;
	}
	/* the exponent goes down to a multiple of three; no digit is lost */
	while (e % 3 != 0) {
		mant *= 10;
		e--;
	}
	if (fmt == QUANTITY_DECIMAL_EXPONENT) {
		if (e == 0)
			return xasprintf("%s%s", neg ? "-" : "", u128_str(mant, buf));
		return xasprintf("%s%se%d", neg ? "-" : "", u128_str(mant, buf), e);
	}
	for (; e > 18; e--)
		mant *= 10;
	for (size_t i = 0; i < sizeof(decimal_suffixes) / sizeof(decimal_suffixes[0]); i++)
		if (decimal_suffixes[i].exp == e)
			suffix = decimal_suffixes[i].suffix;
	return xasprintf("%s%s%s", neg ? "-" : "", u128_str(mant, buf), suffix);
}

char *quantity_format(const struct quantity *q)
{
	bool neg = q->nano < 0;
	u128 mag = neg ? -(u128)q->nano : (u128)q->nano;

	if (mag == 0)
		return xstrdup("0");
	/* upstream prints small or fractional binary amounts in decimal rather than round */
	if (q->format == QUANTITY_BINARY_SI && mag >= 1024 * (u128)NANO && mag % NANO == 0)
		return format_binary(neg, mag);
	if (q->format == QUANTITY_DECIMAL_EXPONENT)
		return format_decimal(neg, mag, QUANTITY_DECIMAL_EXPONENT);
	return format_decimal(neg, mag, QUANTITY_DECIMAL_SI);
}

int quantity_cmp(const struct quantity *a, const struct quantity *b)
{
	return a->nano < b->nano ? -1 : a->nano > b->nano;
}

/* @q divided by @unit nano, rounded towards positive infinity, saturated to int64. */
static int64_t scaled_ceil(const struct quantity *q, int64_t unit)
{
	__int128 v = q->nano / unit;

	if (q->nano % unit > 0)
		v++;
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (int64_t)v;
}

int64_t quantity_value(const struct quantity *q)
{
	return scaled_ceil(q, (int64_t)NANO);
}

int64_t quantity_milli(const struct quantity *q)
{
	return scaled_ceil(q, 1000000);
}
