/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation wrappers that abort on exhaustion.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/alloc.h"

static void __attribute__((noreturn)) oom(void)
{
	static const char msg[] = "skiff: out of memory\n";

	/* write(2), not stdio: stdio may itself need memory */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		abort();
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom();
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

/*
 * A conversion of the formats xasprintf() writes itself: %s, %.*s, %c, %% and decimal
 * integers (d, i and u, plain or with l, ll or z). Anything else (a flag, a width,
 * another precision, modifier or conversion) goes to vasprintf().
 */
enum conv {
	C_NONE,
	C_PCT,
	C_STR,
	C_STR_PREC,
	C_CHAR,
	C_INT,
	C_LONG,
	C_LLONG,
	C_SIZE,
	C_UINT,
	C_ULONG,
	C_ULLONG,
	C_USIZE
};

/* The conversion at @f (just after its '%'), and its length in *@n; C_NONE if not ours. */
static enum conv conv_at(const char *f, size_t *n)
{
	bool prec = f[0] == '.' && f[1] == '*';
	const char *c = prec ? f + 2 : f;
	int l = 0;

	if (prec) {
		*n = 3;
		return *c == 's' ? C_STR_PREC : C_NONE;
	}
	if (*c == 'z') {
		*n = 2;
		return c[1] == 'u' ? C_USIZE : (c[1] == 'd' || c[1] == 'i') ? C_SIZE : C_NONE;
	}
	while (c[l] == 'l' && l < 2)
		l++;
	*n = (size_t)l + 1;
	switch (c[l]) {
	case '%':
		return l ? C_NONE : C_PCT;
	case 's':
		return l ? C_NONE : C_STR;
	case 'c':
		return l ? C_NONE : C_CHAR;
	case 'd':
	case 'i':
		return l == 0 ? C_INT : l == 1 ? C_LONG : C_LLONG;
	case 'u':
		return l == 0 ? C_UINT : l == 1 ? C_ULONG : C_ULLONG;
	default:
		return C_NONE;
	}
}

/* Writes @v's digits ending at @end; returns where they start. */
static char *digits(char *end, unsigned long long v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

/*
 * One pass over @fmt with @ap: writes into @out when it is not NULL, and returns the
 * length. A conversion not ours, and a NULL string under a precision (whose output
 * depends on it in glibc; a plain %s of NULL prints "(null)" here as there), stop the
 * pass with *@fallback set: the whole format goes to vasprintf() instead.
 */
static size_t format(char *out, const char *fmt, va_list ap, bool *fallback)
{
	size_t len = 0;
	const char *f = fmt;

	for (;;) {
		const char *pct = strchrnul(f, '%');
		char num[24], *s;
		const char *str;
		size_t n, sl;
		unsigned long long u;
		long long d;
		enum conv c;
		int prec;

		if (out)
			memcpy(out + len, f, (size_t)(pct - f));
		len += (size_t)(pct - f);
		if (!*pct)
			return len;
		c = conv_at(pct + 1, &n);
		switch (c) {
		case C_NONE:
			*fallback = true;
			return 0;
		case C_PCT:
			str = "%";
			sl = 1;
			break;
		case C_STR:
			str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			sl = strlen(str);
			break;
		case C_STR_PREC:
			prec = va_arg(ap, int);
			str = va_arg(ap, const char *);
			if (!str) {
				*fallback = true;
				return 0;
			}
			sl = prec < 0 ? strlen(str) : strnlen(str, (size_t)prec);
			break;
		case C_CHAR:
			num[0] = (char)va_arg(ap, int);
			str = num;
			sl = 1;
			break;
		case C_INT:
		case C_LONG:
		case C_LLONG:
		case C_SIZE:
			d = c == C_INT    ? va_arg(ap, int)
			    : c == C_LONG ? va_arg(ap, long)
			    : c == C_SIZE ? va_arg(ap, ssize_t)
					  : va_arg(ap, long long);
			/* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
			s = digits(num + sizeof(num),
				   d < 0 ? 0ULL - (unsigned long long)d : (unsigned long long)d);
			if (d < 0)
				*--s = '-';
			str = s;
			sl = (size_t)(num + sizeof(num) - s);
			break;
		default: /* the unsigned ones */
			u = c == C_UINT    ? va_arg(ap, unsigned)
			    : c == C_ULONG ? va_arg(ap, unsigned long)
			    : c == C_USIZE ? va_arg(ap, size_t)
					   : va_arg(ap, unsigned long long);
			s = digits(num + sizeof(num), u);
			str = s;
			sl = (size_t)(num + sizeof(num) - s);
			break;
		}
		if (out)
			memcpy(out + len, str, sl);
		len += sl;
		f = pct + 1 + n;
	}
}

/*
 * glibc's vasprintf() sets up a stream, grows a buffer and shrinks it at the end: most of
 * the time of the short keys and paths the server formats by the hundred per request.
 * The formats above are measured and written directly instead, in two passes.
 */
char *xvasprintf(const char *fmt, va_list ap)
{
	bool fallback = false;
	char *p = NULL;
	size_t len;
	va_list a;

	/* the measuring pass decides: the writing pass meets what it met */
	va_copy(a, ap);
	len = format(NULL, fmt, a, &fallback);
	va_end(a);
	if (!fallback) {
		p = xmalloc(len + 1);
		va_copy(a, ap);
		format(p, fmt, a, &fallback);
		va_end(a);
		p[len] = '\0';
		return p;
	}
	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}
