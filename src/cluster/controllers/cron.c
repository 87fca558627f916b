/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cron schedules and time zones for the cronjob controller: parsing follows upstream's
 * parser field by field (bitsets with a "star" flag that decides how day-of-month and
 * day-of-week combine), and zones come from TZif files, whose POSIX footer rule covers
 * the years after the last listed transition.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "cluster/controllers/cron.h"

#define STAR_BIT (UINT64_C(1) << 63)

struct cron_schedule {
	uint64_t minute, hour, dom, month, dow; /* bit n: value n matches; STAR_BIT: "*" */
	int64_t every;                          /* @every: seconds between runs, else 0 */
	char *zone;                             /* TZ= prefix, or NULL */
};

struct cron_bounds {
	int min, max;
	const char *const *names;
};

static const char *const month_names[] = {"",    "jan", "feb", "mar", "apr", "may", "jun",
					  "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_bounds bounds[5] = {
	{0, 59, NULL}, {0, 23, NULL}, {1, 31, NULL}, {1, 12, month_names}, {0, 6, dow_names},
};

static uint64_t bits_range(int min, int max, int step)
{
	uint64_t b = 0;

	for (int i = min; i <= max; i += step)
		b |= UINT64_C(1) << i;
	return b;
}

static uint64_t all_bits(const struct cron_bounds *r)
{
	return bits_range(r->min, r->max, 1) | STAR_BIT;
}

/* Go's strconv.Atoi, with upstream's refusal of negative numbers. */
static int parse_int(const char *s, int *ret, struct err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v > INT_MAX || v < INT_MIN || isspace((unsigned char)*s))
		return err_set(err, EINVAL,
			       "failed to parse int from %s: strconv.Atoi: parsing "
			       "\"%s\": invalid syntax",
			       s, s);
	if (v < 0)
		return err_set(err, EINVAL, "negative number (%ld) not allowed: %s", v, s);
	*ret = (int)v;
	return 0;
}

static int parse_int_or_name(const char *s, const struct cron_bounds *r, int *ret, struct err *err)
{
	if (r->names) {
		for (int i = 0; r->names[i]; i++) {
			if (*r->names[i] && strcasecmp(s, r->names[i]) == 0) {
				*ret = i;
				return 0;
			}
		}
	}
	return parse_int(s, ret, err);
}

/* One comma-separated part: "*", "?", "a", "a-b", each optionally "/step". */
static int parse_range(char *expr, const struct cron_bounds *r, uint64_t *bits, struct err *err)
{
	cleanup_free char *orig = xstrdup(expr);
	char *slash = strchr(expr, '/'), *hyphen;
	int start, end, step = 1, rc;
	uint64_t extra = 0;
	bool single;

	if (slash) {
		*slash++ = '\0';
		if (strchr(slash, '/'))
			return err_set(err, EINVAL, "too many slashes: %s", orig);
	}
	hyphen = strchr(expr, '-');
	single = !hyphen;
	if (strcmp(expr, "*") == 0 || strcmp(expr, "?") == 0 ||
	    (hyphen && hyphen == expr + 1 && (*expr == '*' || *expr == '?'))) {
		start = r->min;
		end = r->max;
		extra = STAR_BIT;
	} else {
		if (hyphen) {
			*hyphen++ = '\0';
			if (strchr(hyphen, '-'))
				return err_set(err, EINVAL, "too many hyphens: %s", orig);
		}
		rc = parse_int_or_name(expr, r, &start, err);
		if (rc < 0)
			return rc;
		end = start;
		if (hyphen && (rc = parse_int_or_name(hyphen, r, &end, err)) < 0)
			return rc;
	}
	if (slash) {
		rc = parse_int(slash, &step, err);
		if (rc < 0)
			return rc;
		if (single)
			end = r->max;
		if (step > 1)
			extra = 0;
	}
	if (start < r->min)
		return err_set(err, EINVAL, "beginning of range (%d) below minimum (%d): %s", start,
			       r->min, orig);
	if (end > r->max)
		return err_set(err, EINVAL, "end of range (%d) above maximum (%d): %s", end, r->max,
			       orig);
	if (start > end)
		return err_set(err, EINVAL, "beginning of range (%d) beyond end of range (%d): %s",
			       start, end, orig);
	if (step == 0)
		return err_set(err, EINVAL, "step of range should be a positive number: %s", orig);
	*bits |= bits_range(start, end, step) | extra;
	return 0;
}

static int parse_field(const char *field, const struct cron_bounds *r, uint64_t *ret,
		       struct err *err)
{
	cleanup_free char *copy = xstrdup(field);
	char *save = NULL;
	uint64_t bits = 0;

	for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		int rc = parse_range(part, r, &bits, err);

		if (rc < 0)
			return rc;
	}
	*ret = bits;
	return 0;
}

/* Go's time.ParseDuration for the units a schedule can use; whole seconds result. */
static int parse_duration(const char *s, int64_t *ret)
{
	static const struct {
		const char *unit;
		double seconds;
	} units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3},
		     {"s", 1},     {"m", 60},    {"h", 3600}};
	double total = 0;
	const char *p = s;

	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	while (*p) {
		char *end;
		double v;
		size_t best = 0, i, bi = 0;

		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		v = strtod(p, &end);
		if (end == p)
			return -EINVAL;
		p = end;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);

			if (strncmp(p, units[i].unit, n) == 0 && n > best) {
				best = n;
				bi = i;
			}
		}
		if (!best)
			return -EINVAL;
		total += v * units[bi].seconds;
		p += best;
	}
	*ret = (int64_t)total;
	return 0;
}

static int parse_descriptor(const char *d, struct cron_schedule *s, struct err *err)
{
	static const struct {
		const char *name;
		int minute, hour, dom, month, dow; /* -1: every value */
	} descs[] = {
		{"@yearly", 0, 0, 1, 1, -1},    {"@annually", 0, 0, 1, 1, -1},
		{"@monthly", 0, 0, 1, -1, -1},  {"@weekly", 0, 0, -1, -1, 0},
		{"@daily", 0, 0, -1, -1, -1},   {"@midnight", 0, 0, -1, -1, -1},
		{"@hourly", 0, -1, -1, -1, -1},
	};

	for (size_t i = 0; i < sizeof(descs) / sizeof(descs[0]); i++) {
		if (strcmp(d, descs[i].name) != 0)
			continue;
		s->minute = UINT64_C(1) << descs[i].minute;
		s->hour = descs[i].hour < 0 ? all_bits(&bounds[1]) : UINT64_C(1) << descs[i].hour;
		s->dom = descs[i].dom < 0 ? all_bits(&bounds[2]) : UINT64_C(1) << descs[i].dom;
		s->month =
			descs[i].month < 0 ? all_bits(&bounds[3]) : UINT64_C(1) << descs[i].month;
		s->dow = descs[i].dow < 0 ? all_bits(&bounds[4]) : UINT64_C(1) << descs[i].dow;
		return 0;
	}
	if (strncmp(d, "@every ", 7) == 0) {
		int64_t secs;

		if (parse_duration(d + 7, &secs) < 0)
			return err_set(err, EINVAL,
				       "failed to parse duration %s: time: invalid "
				       "duration \"%s\"",
				       d, d + 7);
		s->every = secs < 1 ? 1 : secs;
		return 0;
	}
	return err_set(err, EINVAL, "unrecognized descriptor: %s", d);
}

int cron_parse(const char *spec, struct cron_schedule **ret, struct err *err)
{
	struct cron_schedule *s = xcalloc(1, sizeof(*s));
	cleanup_free char *copy = NULL;
	char *fields[6], *save = NULL, *p;
	uint64_t *out[5];
	int n = 0, rc;

	if (strncmp(spec, "TZ=", 3) == 0 || strncmp(spec, "CRON_TZ=", 8) == 0) {
		const char *sp = strchr(spec, ' '), *eq = strchr(spec, '=');

		if (!sp) {
			rc = err_set(err, EINVAL, "provided bad location %s: unknown time zone",
				     eq + 1);
			goto fail;
		}
		s->zone = xstrndup(eq + 1, (size_t)(sp - eq - 1));
		spec = sp;
	}
	while (isspace((unsigned char)*spec))
		spec++;
	if (!*spec) {
		rc = err_set(err, EINVAL, "empty spec string");
		goto fail;
	}
	if (*spec == '@') {
		rc = parse_descriptor(spec, s, err);
		if (rc < 0)
			goto fail;
		*ret = s;
		return 0;
	}
	copy = xstrdup(spec);
	for (p = strtok_r(copy, " \t\n\r\v\f", &save); p; p = strtok_r(NULL, " \t\n\r\v\f", &save))
		if (n++ < 6)
			fields[n - 1] = p;
	if (n != 5) {
		rc = err_set(err, EINVAL, "expected exactly 5 fields, found %d: %s", n, spec);
		goto fail;
	}
	out[0] = &s->minute;
	out[1] = &s->hour;
	out[2] = &s->dom;
	out[3] = &s->month;
	out[4] = &s->dow;
	for (int i = 0; i < 5; i++) {
		rc = parse_field(fields[i], &bounds[i], out[i], err);
		if (rc < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	cron_schedule_free(s);
	return rc;
}

const char *cron_schedule_zone(const struct cron_schedule *s)
{
	return s->zone;
}

void cron_schedule_free(struct cron_schedule *s)
{
	if (!s)
		return;
	free(s->zone);
	free(s);
}

/* ---- time zones ------------------------------------------------------------------------ */

struct tz_rule {
	char kind; /* 'M' month/week/day, 'J' julian 1..365 without leap days, 'D' 0..365 */
	int month, week, day, jday;
	int32_t time; /* seconds after local midnight */
};

struct cron_zone {
	size_t n;          /* transitions */
	int64_t *at;       /* transition times */
	int32_t *off;      /* offset in effect from at[i] */
	int32_t first_off; /* before the first transition */
	bool has_rule;     /* POSIX footer */
	int32_t std_off, dst_off;
	bool has_dst;
	struct tz_rule start, end;
};

static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Local seconds since the epoch (wall clock read as UTC) at which @r fires in year @y. */
static int64_t rule_time(const struct tz_rule *r, int64_t y)
{
	int64_t day;

	if (r->kind == 'M') {
		int64_t first = days_from_civil(y, r->month, 1);
		int wd = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
		int d = 1 + (r->day - wd + 7) % 7 + (r->week - 1) * 7;

		while (d > month_days(y, r->month))
			d -= 7;
		day = first + d - 1;
	} else if (r->kind == 'J') {
		day = days_from_civil(y, 1, 1) + r->jday - 1;
		if (leap(y) && r->jday >= 60)
			day++;
	} else {
		day = days_from_civil(y, 1, 1) + r->jday;
	}
	return day * 86400 + r->time;
}

static int64_t year_of(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	return (int64_t)tm.tm_year + 1900;
}

static int32_t rule_offset(const struct cron_zone *z, int64_t t)
{
	int64_t y, start, end;

	if (!z->has_dst)
		return z->std_off;
	y = year_of(t + z->std_off);
	start = rule_time(&z->start, y) - z->std_off;
	end = rule_time(&z->end, y) - z->dst_off;
	if (start < end)
		return t >= start && t < end ? z->dst_off : z->std_off;
	return t >= end && t < start ? z->std_off : z->dst_off;
}

int32_t cron_zone_offset(const struct cron_zone *z, int64_t t)
{
	size_t lo = 0, hi;

	if (!z)
		return 0;
	if (z->n == 0 || t < z->at[0])
		return z->n == 0 && z->has_rule ? rule_offset(z, t) : z->first_off;
	if (t >= z->at[z->n - 1] && z->has_rule)
		return rule_offset(z, t);
	hi = z->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (z->at[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return z->off[lo];
}

/* POSIX TZ parsing ("EST5EDT,M3.2.0,M11.1.0", "<+03>-3"). */
static bool tz_name(const char **p)
{
	const char *s = *p;

	if (*s == '<') {
		const char *e = strchr(s, '>');

		if (!e)
			return false;
		*p = e + 1;
		return true;
	}
	while (isalpha((unsigned char)**p))
		(*p)++;
	return *p - s >= 3;
}

static bool tz_hms(const char **p, int32_t *ret)
{
	int sign = 1;
	long h = 0, m = 0, sec = 0;
	char *e;

	if (**p == '+' || **p == '-')
		sign = *(*p)++ == '-' ? -1 : 1;
	if (!isdigit((unsigned char)**p))
		return false;
	h = strtol(*p, &e, 10);
	*p = e;
	if (**p == ':') {
		m = strtol(*p + 1, &e, 10);
		*p = e;
		if (**p == ':') {
			sec = strtol(*p + 1, &e, 10);
			*p = e;
		}
	}
	*ret = (int32_t)(sign * (h * 3600 + m * 60 + sec));
	return true;
}

static bool tz_rule(const char **p, struct tz_rule *r)
{
	char *e;

	if (**p == 'M') {
		r->kind = 'M';
		r->month = (int)strtol(*p + 1, &e, 10);
		if (*e != '.')
			return false;
		r->week = (int)strtol(e + 1, &e, 10);
		if (*e != '.')
			return false;
		r->day = (int)strtol(e + 1, &e, 10);
		if (r->month < 1 || r->month > 12 || r->week < 1 || r->week > 5 || r->day < 0 ||
		    r->day > 6)
			return false;
	} else {
		r->kind = **p == 'J' ? 'J' : 'D';
		r->jday = (int)strtol(*p + (r->kind == 'J'), &e, 10);
	}
	*p = e;
	r->time = 7200;
	if (**p == '/') {
		(*p)++;
		if (!tz_hms(p, &r->time))
			return false;
	}
	return true;
}

static bool parse_posix_tz(const char *s, struct cron_zone *z)
{
	int32_t off;

	if (!tz_name(&s) || !tz_hms(&s, &off))
		return false;
	z->std_off = -off;
	z->has_rule = true;
	if (!*s)
		return true;
	if (!tz_name(&s))
		return false;
	z->dst_off = z->std_off + 3600;
	if (*s && *s != ',') {
		if (!tz_hms(&s, &off))
			return false;
		z->dst_off = -off;
	}
	if (*s != ',')
		return false; /* no rule: upstream defaults aside, refuse rather than guess */
	s++;
	if (!tz_rule(&s, &z->start) || *s != ',')
		return false;
	s++;
	if (!tz_rule(&s, &z->end) || *s)
		return false;
	z->has_dst = true;
	return true;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* RFC 8536: the 64-bit block of a version 2+ file (or the 32-bit one of version 1). */
static int parse_tzif(const unsigned char *b, size_t len, struct cron_zone *z)
{
	size_t tsize = 4, pos = 0;
	uint32_t isut, isstd, leapc, timec, typec, charc;

	for (int pass = 0; pass < 2; pass++) {
		size_t need;

		if (len - pos < 44 || memcmp(b + pos, "TZif", 4) != 0)
			return -EINVAL;
		isut = be32(b + pos + 20);
		isstd = be32(b + pos + 24);
		leapc = be32(b + pos + 28);
		timec = be32(b + pos + 32);
		typec = be32(b + pos + 36);
		charc = be32(b + pos + 40);
		if (typec == 0 || typec > 256 || timec > 100000 || leapc > 10000 || charc > 10000 ||
		    isut > 256 || isstd > 256)
			return -EINVAL;
		need = 44 + timec * (tsize + 1) + typec * 6 + charc + leapc * (tsize + 4) + isstd +
		       isut;
		if (len - pos < need)
			return -EINVAL;
		if (pass == 0 && b[pos + 4] >= '2') {
			pos += need;
			tsize = 8;
			continue;
		}
		const unsigned char *times = b + pos + 44, *idx = times + timec * tsize;
		const unsigned char *types = idx + timec;

		z->n = timec;
		z->at = xcalloc(timec + 1, sizeof(*z->at));
		z->off = xcalloc(timec + 1, sizeof(*z->off));
		for (uint32_t i = 0; i < timec; i++) {
			if (idx[i] >= typec)
				return -EINVAL;
			z->at[i] = tsize == 8 ? be64(times + i * 8) : (int32_t)be32(times + i * 4);
			z->off[i] = (int32_t)be32(types + idx[i] * 6);
		}
		z->first_off = (int32_t)be32(types);
		pos += need;
		break;
	}
	if (tsize == 8 && pos < len && b[pos] == '\n') {
		const unsigned char *e = memchr(b + pos + 1, '\n', len - pos - 1);

		if (e && e > b + pos + 1) {
			cleanup_free char *footer =
				xstrndup((const char *)b + pos + 1, (size_t)(e - b - pos - 1));
			struct cron_zone tmp = *z;

			if (parse_posix_tz(footer, &tmp))
				*z = tmp;
		}
	}
	return 0;
}

static bool zone_name_ok(const char *name)
{
	if (*name == '/' || strstr(name, "..") || strlen(name) > 255)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_-+", *p))
			return false;
	return true;
}

int cron_zone_load(const char *dir, const char *name, struct cron_zone **ret, struct err *err)
{
	cleanup_free char *path = NULL;
	cleanup_free unsigned char *buf = NULL;
	cleanup_close int fd = -1;
	struct cron_zone *z;
	size_t len = 0, cap = 0;
	ssize_t n;

	if (!name || !*name) {
		path = xstrdup("/etc/localtime");
		if (access(path, R_OK) != 0) {
			*ret = xcalloc(1, sizeof(**ret));
			return 0;
		}
	} else if (strcmp(name, "UTC") == 0) {
		*ret = xcalloc(1, sizeof(**ret));
		return 0;
	} else {
		if (strcmp(name, "Local") == 0 || !zone_name_ok(name))
			return err_set(err, EINVAL, "invalid time zone '%s'", name);
		path = xasprintf("%s/%s", dir ? dir : "/usr/share/zoneinfo", name);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return err_set(err, ENOENT, "unknown time zone %s", name ? name : "Local");
		return err_sys(err, "open time zone '%s'", path);
	}
	for (;;) {
		if (len == cap) {
			if (cap >= 1 << 20)
				return err_set(err, EINVAL, "time zone '%s': file too large", path);
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0)
			return err_sys(err, "read time zone '%s'", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	z = xcalloc(1, sizeof(*z));
	if (parse_tzif(buf, len, z) < 0) {
		cron_zone_free(z);
		return err_set(err, EINVAL, "time zone '%s': not a TZif file", path);
	}
	*ret = z;
	return 0;
}

void cron_zone_free(struct cron_zone *z)
{
	if (!z)
		return;
	free(z->at);
	free(z->off);
	free(z);
}

/* ---- next activation ------------------------------------------------------------------- */

static bool has(uint64_t bits, int v)
{
	return bits & (UINT64_C(1) << v);
}

static bool day_matches(const struct cron_schedule *s, const struct tm *tm)
{
	bool dom = has(s->dom, tm->tm_mday), dow = has(s->dow, tm->tm_wday);

	/* A restricted day-of-month and day-of-week are alternatives, as in Vixie cron. */
	if ((s->dom & STAR_BIT) || (s->dow & STAR_BIT))
		return dom && dow;
	return dom || dow;
}

/* The UTC instant of local wall time @l after @after, or -1 (in a gap, or too early). */
static int64_t local_to_utc(const struct cron_zone *z, int64_t l, int64_t after)
{
	int32_t cand[2] = {cron_zone_offset(z, l - 86400), cron_zone_offset(z, l + 86400)};
	int64_t best = -1;

	for (int i = 0; i < 2; i++) {
		int64_t u = l - cand[i];

		if (cron_zone_offset(z, u) == cand[i] && u > after && (best < 0 || u < best))
			best = u;
	}
	return best;
}

int64_t cron_next(const struct cron_schedule *s, const struct cron_zone *z, int64_t after)
{
	int64_t l, limit;

	if (s->every)
		return after + s->every;
	l = after + cron_zone_offset(z, after);
	l = (l >= 0 ? l / 60 : (l - 59) / 60) * 60 + 60;
	limit = l + 5 * 366 * INT64_C(86400);
	while (l < limit) {
		time_t tt = (time_t)l;
		struct tm tm;
		int64_t u;

		gmtime_r(&tt, &tm);
		if (!has(s->month, tm.tm_mon + 1)) {
			int64_t y = tm.tm_year + 1900;
			int m = tm.tm_mon + 2;

			if (m > 12) {
				m = 1;
				y++;
			}
			l = days_from_civil(y, m, 1) * 86400;
			continue;
		}
		if (!day_matches(s, &tm)) {
			l = (l / 86400 + 1) * 86400;
			continue;
		}
		if (!has(s->hour, tm.tm_hour)) {
			l = (l / 3600 + 1) * 3600;
			continue;
		}
		if (!has(s->minute, tm.tm_min)) {
			l += 60;
			continue;
		}
		u = local_to_utc(z, l, after);
		if (u >= 0)
			return u;
		l += 60;
	}
	return -1;
}
