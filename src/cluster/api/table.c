/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table columns and cells for `kubectl get`, kind by kind, following the rules of upstream's
 * printers (kubernetes pkg/printers/internalversion) so the output reads as it does against a
 * real cluster: pod status reasons, restart counts with the age of the last restart, human
 * ages, service ports, node roles. The API server calls these while building a Table.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "cluster/api/quantity.h"
#include "cluster/api/resources.h"
#include "cluster/api/table.h"

/* Growable string for the joined cells ("a,b,c"). */
struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void sb_sep(struct sb *b, const char *sep, const char *s)
{
	if (b->len)
		sb_add(b, sep);
	sb_add(b, s);
}

__attribute__((format(printf, 2, 3))) static void sb_addf(struct sb *b, const char *fmt, ...)
{
	cleanup_free char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	sb_add(b, s);
}

static char *sb_take(struct sb *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

/* The value at a dotted path ("status.nodeInfo.osImage", "status.podIPs.0.ip"), or NULL. */
static const json_t *jget(const json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (json_is_array(o)) {
			char *end;
			unsigned long idx = strtoul(key, &end, 10);

			o = *key && !*end ? json_array_get(o, idx) : NULL;
		} else {
			o = json_object_get(o, key);
		}
		path += dot ? n + 1 : n;
	}
	return o;
}

/* A string field, "" when absent, like a Go zero value. */
static const char *jstr(const json_t *o, const char *path)
{
	const json_t *v = jget(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

static int64_t jint(const json_t *o, const char *path)
{
	const json_t *v = jget(o, path);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Set pointer fields (*int32, *Time, *string): present and not null. */
static bool jset(const json_t *o, const char *path)
{
	const json_t *v = jget(o, path);

	return v && !json_is_null(v);
}

/* Entries of an array or map field. */
static size_t jsize(const json_t *o, const char *path)
{
	const json_t *v = jget(o, path);

	if (json_is_array(v))
		return json_array_size(v);
	if (json_is_object(v))
		return json_object_size(v);
	return 0;
}

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, drops duplicates and joins with ","; frees the strings and @v. */
static char *join_sorted_set(char **v, size_t n)
{
	struct sb b = {0};

	qsort(v, n, sizeof(*v), cmp_strp);
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			sb_sep(&b, ",", v[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return sb_take(&b);
}

/* A metav1.Time; unset is Go's zero time, which prints as "<unknown>". */
struct ktime {
	int64_t sec;
	long nsec;
	bool set;
};

/* Seconds from 1970 to Go's zero time, 0001-01-01T00:00:00Z. */
#define GO_ZERO_TIME (-62135596800LL)
/* time.Since saturates at the largest time.Duration, 2^63-1 ns: 292 years and a bit. */
#define MAX_DURATION_SEC 9223372036LL

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* RFC 3339 with optional fraction and a Z or numeric offset, as metav1.Time decodes it. */
static bool parse_time(const char *s, struct ktime *ret)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, off = 0;
	long nsec = 0, scale = 100000000;
	time_t t;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return false;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 59)
		return false;
	s += 19;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return false;
		for (s++; *s >= '0' && *s <= '9'; s++) {
			nsec += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == '+' || *s == '-') {
		int oh = digits(s + 1, 2), om = s[3] == ':' ? digits(s + 4, 2) : -1;

		if (oh < 0 || oh > 23 || om < 0 || om > 59 || s[6] != '\0')
			return false;
		off = (oh * 60 + om) * 60 * (*s == '-' ? -1 : 1);
	} else if (!streq(s, "Z")) {
		return false;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	ret->sec = (int64_t)t - off;
	ret->nsec = nsec;
	ret->set = !(ret->sec == GO_ZERO_TIME && nsec == 0);
	return true;
}

static struct ktime jtime(const json_t *o, const char *path)
{
	struct ktime t = {0};
	const json_t *v = jget(o, path);

	if (!json_is_string(v) || !parse_time(json_string_value(v), &t))
		t.set = false;
	return t;
}

static bool time_before(const struct ktime *a, const struct ktime *b)
{
	if (!b->set)
		return false;
	if (!a->set)
		return true;
	return a->sec < b->sec || (a->sec == b->sec && a->nsec < b->nsec);
}

/* Whole seconds from @from to @to, truncated toward zero like Duration.Seconds() in Go. */
static int64_t seconds_between(int64_t from_sec, long from_nsec, int64_t to_sec, long to_nsec)
{
	int64_t sec = to_sec - from_sec;
	long nsec = to_nsec - from_nsec;

	if (sec > 0 && nsec < 0)
		sec--;
	else if (sec < 0 && nsec > 0)
		sec++;
	if (sec > MAX_DURATION_SEC)
		sec = MAX_DURATION_SEC;
	if (sec < -MAX_DURATION_SEC)
		sec = -MAX_DURATION_SEC;
	return sec;
}

char *table_human_duration(int64_t s)
{
	int64_t minutes, hours, days;

	if (s < -1)
		return xstrdup("<invalid>");
	if (s < 0)
		return xstrdup("0s");
	if (s < 2 * 60)
		return xasprintf("%" PRId64 "s", s);
	minutes = s / 60;
	if (minutes < 10) {
		if (s % 60 == 0)
			return xasprintf("%" PRId64 "m", minutes);
		return xasprintf("%" PRId64 "m%" PRId64 "s", minutes, s % 60);
	}
	if (minutes < 3 * 60)
		return xasprintf("%" PRId64 "m", minutes);
	hours = s / 3600;
	if (hours < 8) {
		if (minutes % 60 == 0)
			return xasprintf("%" PRId64 "h", hours);
		return xasprintf("%" PRId64 "h%" PRId64 "m", hours, minutes % 60);
	}
	if (hours < 48)
		return xasprintf("%" PRId64 "h", hours);
	days = hours / 24;
	if (hours < 24 * 8) {
		if (hours % 24 == 0)
			return xasprintf("%" PRId64 "d", days);
		return xasprintf("%" PRId64 "d%" PRId64 "h", days, hours % 24);
	}
	if (hours < 24 * 365 * 2)
		return xasprintf("%" PRId64 "d", days);
	if (hours < 24 * 365 * 8 && days % 365 != 0)
		return xasprintf("%" PRId64 "y%" PRId64 "d", days / 365, days % 365);
	return xasprintf("%" PRId64 "y", days / 365);
}

struct ctx {
	struct timespec now;
};

/* translateTimestampSince: the age of a timestamp, "<unknown>" when unset. */
static char *since(const struct ctx *c, const struct ktime *t)
{
	if (!t->set)
		return xstrdup("<unknown>");
	return table_human_duration(
		seconds_between(t->sec, t->nsec, (int64_t)c->now.tv_sec, c->now.tv_nsec));
}

static char *since_field(const struct ctx *c, const json_t *o, const char *path)
{
	struct ktime t = jtime(o, path);

	return since(c, &t);
}

static void put_str(json_t *row, const char *s)
{
	json_t *v = json_string(s);

	/* only a string that is not UTF-8 fails, and a row must keep one cell per column */
	json_array_append_new(row, v ? v : json_string(""));
}

static void put_take(json_t *row, char *s)
{
	put_str(row, s);
	free(s);
}

static void put_int(json_t *row, int64_t v)
{
	json_array_append_new(row, json_integer(v));
}

static void put_name(json_t *row, const json_t *obj)
{
	put_str(row, jstr(obj, "metadata.name"));
}

static void put_age(json_t *row, const json_t *obj, const struct ctx *c)
{
	put_take(row, since_field(c, obj, "metadata.creationTimestamp"));
}

/* labels.FormatLabels: "k=v" pairs sorted as strings, "<none>" when empty. */
static char *format_labels(const json_t *map)
{
	size_t n = json_is_object(map) ? json_object_size(map) : 0, i = 0;
	const char *k;
	json_t *v;
	char **pairs;

	if (n == 0)
		return xstrdup("<none>");
	pairs = xcalloc(n, sizeof(*pairs));
	json_object_foreach ((json_t *)map, k, v)
		pairs[i++] = xasprintf("%s=%s", k, json_is_string(v) ? json_string_value(v) : "");
	return join_sorted_set(pairs, i);
}

struct req {
	const char *key;
	char *text;
	size_t order;
};

static int cmp_req(const void *a, const void *b)
{
	const struct req *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	if (r)
		return r;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* "key in (a,b)": the values sorted, as Requirement.String() prints them. */
static char *set_requirement(const char *key, const char *op, const json_t *values)
{
	size_t n = json_array_size(values), i;
	struct sb b = {0};
	json_t *v;
	char **vals;

	if (n == 0)
		return NULL;
	vals = xcalloc(n, sizeof(*vals));
	json_array_foreach (values, i, v)
		vals[i] = xstrdup(json_is_string(v) ? json_string_value(v) : "");
	qsort(vals, n, sizeof(*vals), cmp_strp);
	sb_addf(&b, "%s %s (", key, op);
	for (i = 0; i < n; i++) {
		if (i)
			sb_add(&b, ",");
		sb_add(&b, vals[i]);
		free(vals[i]);
	}
	free(vals);
	sb_add(&b, ")");
	return sb_take(&b);
}

static char *expression_requirement(const json_t *e)
{
	const char *key = jstr(e, "key"), *op = jstr(e, "operator");
	const json_t *values = jget(e, "values");

	if (streq(op, "In"))
		return set_requirement(key, "in", values);
	if (streq(op, "NotIn"))
		return set_requirement(key, "notin", values);
	if (json_array_size(values) != 0)
		return NULL;
	if (streq(op, "Exists"))
		return xstrdup(key);
	if (streq(op, "DoesNotExist"))
		return xasprintf("!%s", key);
	return NULL;
}

/*
 * LabelSelectorAsSelector(sel).String(): requirements sorted by key and joined with ",";
 * "" for a missing or empty selector; NULL when the selector does not convert.
 */
static char *selector_string(const json_t *sel)
{
	const json_t *ml = jget(sel, "matchLabels"), *me = jget(sel, "matchExpressions");
	size_t n = jsize(sel, "matchLabels") + jsize(sel, "matchExpressions"), i = 0, j;
	struct sb b = {0};
	struct req *reqs;
	bool ok = true;
	const char *k;
	json_t *v;

	if (n == 0)
		return xstrdup("");
	reqs = xcalloc(n, sizeof(*reqs));
	if (json_is_object(ml)) {
		json_object_foreach ((json_t *)ml, k, v) {
			const char *val = json_is_string(v) ? json_string_value(v) : "";

			ok = ok && json_is_string(v);
			reqs[i] = (struct req){k, xasprintf("%s=%s", k, val), i};
			i++;
		}
	}
	if (json_is_array(me)) {
		json_array_foreach (me, j, v) {
			reqs[i] = (struct req){jstr(v, "key"), expression_requirement(v), i};
			ok = ok && reqs[i].text;
			i++;
		}
	}
	qsort(reqs, i, sizeof(*reqs), cmp_req);
	for (j = 0; j < i; j++) {
		if (ok)
			sb_sep(&b, ",", reqs[j].text);
		free(reqs[j].text);
	}
	free(reqs);
	if (!ok) {
		free(b.s);
		return NULL;
	}
	return sb_take(&b);
}

/* metav1.FormatLabelSelector. */
static char *format_selector(const json_t *sel)
{
	char *s = selector_string(sel);

	if (!s)
		return xstrdup("<error>");
	if (!*s) {
		free(s);
		return xstrdup("<none>");
	}
	return s;
}

/* The wide Containers and Images cells of a pod template. */
static void put_containers(json_t *row, const json_t *containers)
{
	struct sb names = {0}, images = {0};
	size_t i;
	json_t *ct;

	json_array_foreach (containers, i, ct) {
		if (i) {
			sb_add(&names, ",");
			sb_add(&images, ",");
		}
		sb_add(&names, jstr(ct, "name"));
		sb_add(&images, jstr(ct, "image"));
	}
	put_take(row, sb_take(&names));
	put_take(row, sb_take(&images));
}

static const char *bool_ptr(const json_t *o, const char *path)
{
	const json_t *v = jget(o, path);

	if (!json_is_boolean(v))
		return "<unset>";
	return json_is_true(v) ? "True" : "False";
}

/* Quantity.String() of a resource list entry: canonical form, "0" when absent. */
static char *quantity_cell(const json_t *list, const char *name)
{
	const json_t *v = json_object_get(list, name);
	struct quantity q;
	const char *why;

	if (!json_is_string(v))
		return xstrdup("0");
	if (!quantity_parse(json_string_value(v), &q, &why))
		return xstrdup(json_string_value(v));
	return quantity_format(&q);
}

/* ---- pods ---- */

static bool cond_status(const json_t *conds, const char *type, const char *status)
{
	size_t i;
	json_t *cd;

	json_array_foreach (conds, i, cd) {
		if (streq(jstr(cd, "type"), type))
			return streq(jstr(cd, "status"), status);
	}
	return false;
}

static bool any_cond_true(const json_t *conds, const char *type)
{
	size_t i;
	json_t *cd;

	json_array_foreach (conds, i, cd) {
		if (streq(jstr(cd, "type"), type) && streq(jstr(cd, "status"), "True"))
			return true;
	}
	return false;
}

/* A sidecar: an init container with restartPolicy Always. */
static bool restartable_init(const json_t *pod, const char *name)
{
	const json_t *inits = jget(pod, "spec.initContainers");
	size_t i;
	json_t *ct;

	json_array_foreach (inits, i, ct) {
		if (streq(jstr(ct, "name"), name))
			return streq(jstr(ct, "restartPolicy"), "Always");
	}
	return false;
}

static void note_restart(const json_t *cs, struct ktime *last)
{
	const json_t *term = jget(cs, "lastState.terminated");
	struct ktime t;

	if (!json_is_object(term))
		return;
	t = jtime(term, "finishedAt");
	if (time_before(last, &t))
		*last = t;
}

/* Takes @s in place of *@p. */
static void replace_str(char **p, char *s)
{
	free(*p);
	*p = s;
}

/* "Init:Error", "Init:ExitCode:1", "Signal:9"... from a terminated state. */
static char *terminated_reason(const json_t *term, const char *prefix)
{
	const char *r = jstr(term, "reason");

	if (*r)
		return xasprintf("%s%s", prefix, r);
	if (jint(term, "signal"))
		return xasprintf("%sSignal:%" PRId64, prefix, jint(term, "signal"));
	return xasprintf("%sExitCode:%" PRId64, prefix, jint(term, "exitCode"));
}

struct pod_state {
	char *reason;
	int64_t restarts, sidecar_restarts, ready;
	struct ktime last, sidecar_last;
};

/* Walks the init containers; true while the pod is still initializing. */
static bool pod_init_status(const json_t *pod, struct pod_state *ps)
{
	const json_t *statuses = jget(pod, "status.initContainerStatuses");
	size_t i, ninit = jsize(pod, "spec.initContainers");
	json_t *cs;

	json_array_foreach (statuses, i, cs) {
		const json_t *term = jget(cs, "state.terminated");
		const char *waiting = jstr(cs, "state.waiting.reason");
		bool sidecar = restartable_init(pod, jstr(cs, "name"));

		ps->restarts += jint(cs, "restartCount");
		note_restart(cs, &ps->last);
		if (sidecar) {
			ps->sidecar_restarts += jint(cs, "restartCount");
			note_restart(cs, &ps->sidecar_last);
		}
		if (json_is_object(term) && jint(term, "exitCode") == 0)
			continue;
		if (sidecar && json_is_true(jget(cs, "started"))) {
			if (json_is_true(jget(cs, "ready")))
				ps->ready++;
			continue;
		}
		if (json_is_object(term))
			replace_str(&ps->reason, terminated_reason(term, "Init:"));
		else if (*waiting && !streq(waiting, "PodInitializing"))
			replace_str(&ps->reason, xasprintf("Init:%s", waiting));
		else
			replace_str(&ps->reason, xasprintf("Init:%zu/%zu", i, ninit));
		return true;
	}
	return false;
}

/* Walks the app containers from the last to the first, so the first one's reason wins. */
static void pod_container_status(const json_t *pod, struct pod_state *ps)
{
	const json_t *statuses = jget(pod, "status.containerStatuses");
	bool running = false;

	ps->restarts = ps->sidecar_restarts;
	ps->last = ps->sidecar_last;
	for (size_t i = json_array_size(statuses); i-- > 0;) {
		const json_t *cs = json_array_get(statuses, i);
		const json_t *term = jget(cs, "state.terminated");
		const char *waiting = jstr(cs, "state.waiting.reason");

		ps->restarts += jint(cs, "restartCount");
		note_restart(cs, &ps->last);
		if (json_is_object(jget(cs, "state.waiting")) && *waiting) {
			replace_str(&ps->reason, xstrdup(waiting));
		} else if (json_is_object(term)) {
			replace_str(&ps->reason, terminated_reason(term, ""));
		} else if (json_is_true(jget(cs, "ready")) &&
			   json_is_object(jget(cs, "state.running"))) {
			running = true;
			ps->ready++;
		}
	}
	if (streq(ps->reason, "Completed") && running) {
		const char *r = any_cond_true(jget(pod, "status.conditions"), "Ready") ? "Running"
										       : "NotReady";

		replace_str(&ps->reason, xstrdup(r));
	}
}

static char *readiness_gates(const json_t *pod)
{
	const json_t *gates = jget(pod, "spec.readinessGates");
	const json_t *conds = jget(pod, "status.conditions");
	size_t i, j, ok = 0;
	json_t *g, *cd;

	if (json_array_size(gates) == 0)
		return xstrdup("<none>");
	json_array_foreach (gates, i, g) {
		json_array_foreach (conds, j, cd) {
			if (streq(jstr(cd, "type"), jstr(g, "conditionType"))) {
				ok += streq(jstr(cd, "status"), "True");
				break;
			}
		}
	}
	return xasprintf("%zu/%zu", ok, json_array_size(gates));
}

static const char *or_none(const char *s)
{
	return *s ? s : "<none>";
}

static void pod_cells(json_t *row, const json_t *pod, const struct ctx *c)
{
	const json_t *st = jget(pod, "status"), *conds = jget(st, "conditions");
	const char *phase = jstr(st, "phase"), *ip = jstr(st, "podIPs.0.ip");
	int64_t total = (int64_t)jsize(pod, "spec.containers");
	struct pod_state ps = {0};
	size_t i;
	json_t *cd;

	ps.reason = xstrdup(*jstr(st, "reason") ? jstr(st, "reason") : phase);
	json_array_foreach (conds, i, cd) {
		if (streq(jstr(cd, "type"), "PodScheduled") &&
		    streq(jstr(cd, "reason"), "SchedulingGated"))
			replace_str(&ps.reason, xstrdup("SchedulingGated"));
	}
	json_array_foreach (jget(pod, "spec.initContainers"), i, cd)
		total += streq(jstr(cd, "restartPolicy"), "Always");

	if (!pod_init_status(pod, &ps) || cond_status(conds, "Initialized", "True"))
		pod_container_status(pod, &ps);

	if (jset(pod, "metadata.deletionTimestamp")) {
		if (streq(jstr(st, "reason"), "NodeLost"))
			replace_str(&ps.reason, xstrdup("Unknown"));
		else if (!streq(phase, "Failed") && !streq(phase, "Succeeded"))
			replace_str(&ps.reason, xstrdup("Terminating"));
	}

	put_name(row, pod);
	put_take(row, xasprintf("%" PRId64 "/%" PRId64, ps.ready, total));
	put_take(row, ps.reason);
	if (ps.restarts != 0 && ps.last.set) {
		cleanup_free char *ago = since(c, &ps.last);

		put_take(row, xasprintf("%" PRId64 " (%s ago)", ps.restarts, ago));
	} else {
		put_take(row, xasprintf("%" PRId64, ps.restarts));
	}
	put_age(row, pod, c);

	/* podIPs wins; a pod written with only podIP converts to podIPs of that one address */
	if (!*ip)
		ip = jstr(st, "podIP");
	put_str(row, or_none(ip));
	put_str(row, or_none(jstr(pod, "spec.nodeName")));
	put_str(row, or_none(jstr(st, "nominatedNodeName")));
	put_take(row, readiness_gates(pod));
}

/* ---- services and endpoints ---- */

static char *join_strings(const json_t *arr, const char *sep)
{
	struct sb b = {0};
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		if (i)
			sb_add(&b, sep);
		sb_add(&b, json_is_string(v) ? json_string_value(v) : "");
	}
	return sb_take(&b);
}

/* The load balancer's addresses (IP, else hostname), sorted and unique. */
static char *lb_ingress(const json_t *svc)
{
	const json_t *ing = jget(svc, "status.loadBalancer.ingress");
	size_t i, n = 0;
	char **v = xcalloc(json_array_size(ing) + 1, sizeof(*v));
	json_t *e;

	json_array_foreach (ing, i, e) {
		if (*jstr(e, "ip"))
			v[n++] = xstrdup(jstr(e, "ip"));
		else if (*jstr(e, "hostname"))
			v[n++] = xstrdup(jstr(e, "hostname"));
	}
	return join_sorted_set(v, n);
}

static char *service_external_ip(const json_t *svc)
{
	const char *type = jstr(svc, "spec.type");
	const json_t *ext = jget(svc, "spec.externalIPs");

	if (streq(type, "ClusterIP") || streq(type, "NodePort"))
		return json_array_size(ext) ? join_strings(ext, ",") : xstrdup("<none>");
	if (streq(type, "LoadBalancer")) {
		char *lb = lb_ingress(svc);
		cleanup_free char *ips = NULL;

		if (json_array_size(ext) == 0) {
			if (*lb)
				return lb;
			free(lb);
			return xstrdup("<pending>");
		}
		ips = join_strings(ext, ",");
		if (!*lb) {
			free(lb);
			return TAKE_PTR(ips);
		}
		replace_str(&lb, xasprintf("%s,%s", lb, ips));
		return lb;
	}
	if (streq(type, "ExternalName"))
		return xstrdup(jstr(svc, "spec.externalName"));
	return xstrdup("<unknown>");
}

static char *service_ports(const json_t *svc)
{
	struct sb b = {0};
	size_t i;
	json_t *p;

	json_array_foreach (jget(svc, "spec.ports"), i, p) {
		if (i)
			sb_add(&b, ",");
		if (jint(p, "nodePort") > 0)
			sb_addf(&b, "%" PRId64 ":%" PRId64 "/%s", jint(p, "port"),
				jint(p, "nodePort"), jstr(p, "protocol"));
		else
			sb_addf(&b, "%" PRId64 "/%s", jint(p, "port"), jstr(p, "protocol"));
	}
	if (!b.len) {
		free(b.s);
		return xstrdup("<none>");
	}
	return sb_take(&b);
}

static void service_cells(json_t *row, const json_t *svc, const struct ctx *c)
{
	const char *ip = jstr(svc, "spec.clusterIPs.0");

	/* clusterIPs mirrors clusterIP once defaulted; an object without it still has one */
	if (!*ip)
		ip = jstr(svc, "spec.clusterIP");
	put_name(row, svc);
	put_str(row, jstr(svc, "spec.type"));
	put_str(row, or_none(ip));
	put_take(row, service_external_ip(svc));
	put_take(row, service_ports(svc));
	put_age(row, svc, c);
	put_take(row, format_labels(jget(svc, "spec.selector")));
}

/* net.JoinHostPort: brackets around IPv6 addresses. */
static char *host_port(const char *ip, int64_t port)
{
	if (strchr(ip, ':'))
		return xasprintf("[%s]:%" PRId64, ip, port);
	return xasprintf("%s:%" PRId64, ip, port);
}

/* At most three entries then " + N more...", as upstream shortens long lists. */
struct shortlist {
	struct sb b;
	size_t shown, count;
	bool more;
};

#define SHORTLIST_MAX 3

static void shortlist_add(struct shortlist *l, char *s)
{
	if (l->shown < SHORTLIST_MAX) {
		sb_sep(&l->b, ",", s);
		l->shown++;
	} else {
		l->more = true;
	}
	free(s);
}

static char *shortlist_take(struct shortlist *l, const char *empty)
{
	char *s = sb_take(&l->b);

	if (l->more) {
		char *r = xasprintf("%s + %zu more...", s, l->count - SHORTLIST_MAX);

		free(s);
		return r;
	}
	if (!*s && empty) {
		free(s);
		return xstrdup(empty);
	}
	return s;
}

static char *format_endpoints(const json_t *ep)
{
	const json_t *subsets = jget(ep, "subsets");
	struct shortlist l = {0};
	size_t i, j, k;
	json_t *ss, *port, *addr;

	if (json_array_size(subsets) == 0)
		return xstrdup("<none>");
	json_array_foreach (subsets, i, ss) {
		const json_t *addrs = jget(ss, "addresses"), *ports = jget(ss, "ports");

		if (json_array_size(ports) == 0) {
			/* a headless service may have no ports */
			l.count += json_array_size(addrs);
			json_array_foreach (addrs, k, addr)
				shortlist_add(&l, xstrdup(jstr(addr, "ip")));
			continue;
		}
		json_array_foreach (ports, j, port) {
			l.count += json_array_size(addrs);
			json_array_foreach (addrs, k, addr)
				shortlist_add(&l, host_port(jstr(addr, "ip"), jint(port, "port")));
		}
	}
	return shortlist_take(&l, NULL);
}

static void endpoints_cells(json_t *row, const json_t *ep, const struct ctx *c)
{
	put_name(row, ep);
	put_take(row, format_endpoints(ep));
	put_age(row, ep, c);
}

static void endpointslice_cells(json_t *row, const json_t *es, const struct ctx *c)
{
	struct shortlist ports = {0}, addrs = {0};
	size_t i, j;
	json_t *p, *e, *a;

	json_array_foreach (jget(es, "ports"), i, p) {
		if (jset(p, "port"))
			shortlist_add(&ports, xasprintf("%" PRId64, jint(p, "port")));
		else if (jset(p, "name"))
			shortlist_add(&ports, xstrdup(jstr(p, "name")));
		else
			shortlist_add(&ports, xstrdup("*"));
		ports.count++;
	}
	json_array_foreach (jget(es, "endpoints"), i, e) {
		json_array_foreach (jget(e, "addresses"), j, a) {
			shortlist_add(&addrs,
				      xstrdup(json_is_string(a) ? json_string_value(a) : ""));
			addrs.count++;
		}
	}
	put_name(row, es);
	put_str(row, jstr(es, "addressType"));
	put_take(row, shortlist_take(&ports, "<unset>"));
	put_take(row, shortlist_take(&addrs, "<unset>"));
	put_age(row, es, c);
}

/* ---- workloads ---- */

/* spec.replicas defaults to 1 when the object leaves it out. */
static int64_t replicas(const json_t *o)
{
	return jset(o, "spec.replicas") ? jint(o, "spec.replicas") : 1;
}

static void deployment_cells(json_t *row, const json_t *d, const struct ctx *c)
{
	char *sel = selector_string(jget(d, "spec.selector"));

	put_name(row, d);
	put_take(row,
		 xasprintf("%" PRId64 "/%" PRId64, jint(d, "status.readyReplicas"), replicas(d)));
	put_int(row, jint(d, "status.updatedReplicas"));
	put_int(row, jint(d, "status.availableReplicas"));
	put_age(row, d, c);
	put_containers(row, jget(d, "spec.template.spec.containers"));
	put_take(row, sel ? sel : xstrdup("<invalid>"));
}

static void replicaset_cells(json_t *row, const json_t *rs, const struct ctx *c)
{
	put_name(row, rs);
	put_int(row, replicas(rs));
	put_int(row, jint(rs, "status.replicas"));
	put_int(row, jint(rs, "status.readyReplicas"));
	put_age(row, rs, c);
	put_containers(row, jget(rs, "spec.template.spec.containers"));
	put_take(row, format_selector(jget(rs, "spec.selector")));
}

static void daemonset_cells(json_t *row, const json_t *ds, const struct ctx *c)
{
	put_name(row, ds);
	put_int(row, jint(ds, "status.desiredNumberScheduled"));
	put_int(row, jint(ds, "status.currentNumberScheduled"));
	put_int(row, jint(ds, "status.numberReady"));
	put_int(row, jint(ds, "status.updatedNumberScheduled"));
	put_int(row, jint(ds, "status.numberAvailable"));
	put_take(row, format_labels(jget(ds, "spec.template.spec.nodeSelector")));
	put_age(row, ds, c);
	put_containers(row, jget(ds, "spec.template.spec.containers"));
	put_take(row, format_selector(jget(ds, "spec.selector")));
}

static void statefulset_cells(json_t *row, const json_t *ss, const struct ctx *c)
{
	put_name(row, ss);
	put_take(row,
		 xasprintf("%" PRId64 "/%" PRId64, jint(ss, "status.readyReplicas"), replicas(ss)));
	put_age(row, ss, c);
	put_containers(row, jget(ss, "spec.template.spec.containers"));
}

static const char *job_status(const json_t *job)
{
	const json_t *conds = jget(job, "status.conditions");

	if (cond_status(conds, "Complete", "True"))
		return "Complete";
	if (cond_status(conds, "Failed", "True"))
		return "Failed";
	if (jset(job, "metadata.deletionTimestamp"))
		return "Terminating";
	if (cond_status(conds, "Suspended", "True"))
		return "Suspended";
	if (cond_status(conds, "FailureTarget", "True"))
		return "FailureTarget";
	return "Running";
}

static char *job_completions(const json_t *job)
{
	int64_t ok = jint(job, "status.succeeded");

	if (jset(job, "spec.completions"))
		return xasprintf("%" PRId64 "/%" PRId64, ok, jint(job, "spec.completions"));
	if (jint(job, "spec.parallelism") > 1)
		return xasprintf("%" PRId64 "/1 of %" PRId64, ok, jint(job, "spec.parallelism"));
	return xasprintf("%" PRId64 "/1", ok);
}

static char *job_duration(const json_t *job, const struct ctx *c)
{
	struct ktime start = jtime(job, "status.startTime");
	struct ktime done = jtime(job, "status.completionTime");

	if (!jset(job, "status.startTime"))
		return xstrdup("");
	if (!jset(job, "status.completionTime"))
		return since(c, &start);
	return table_human_duration(seconds_between(start.sec, start.nsec, done.sec, done.nsec));
}

static void job_cells(json_t *row, const json_t *job, const struct ctx *c)
{
	put_name(row, job);
	put_str(row, job_status(job));
	put_take(row, job_completions(job));
	put_take(row, job_duration(job, c));
	put_age(row, job, c);
	put_containers(row, jget(job, "spec.template.spec.containers"));
	put_take(row, format_selector(jget(job, "spec.selector")));
}

static void cronjob_cells(json_t *row, const json_t *cj, const struct ctx *c)
{
	put_name(row, cj);
	put_str(row, jstr(cj, "spec.schedule"));
	put_str(row, jset(cj, "spec.timeZone") ? jstr(cj, "spec.timeZone") : "<none>");
	put_str(row, bool_ptr(cj, "spec.suspend"));
	put_int(row, (int64_t)jsize(cj, "status.active"));
	if (jset(cj, "status.lastScheduleTime"))
		put_take(row, since_field(c, cj, "status.lastScheduleTime"));
	else
		put_str(row, "<none>");
	put_age(row, cj, c);
	put_containers(row, jget(cj, "spec.jobTemplate.spec.template.spec.containers"));
	put_take(row, format_selector(jget(cj, "spec.jobTemplate.spec.selector")));
}

/* "daemonset.apps/web" for a controller owner reference, "<none>" without one. */
static char *controller_of(const json_t *obj)
{
	size_t i;
	json_t *ref;

	json_array_foreach (jget(obj, "metadata.ownerReferences"), i, ref) {
		const char *av = jstr(ref, "apiVersion"), *slash = strchr(av, '/');
		cleanup_free char *kind = xstrdup(jstr(ref, "kind"));

		if (!json_is_true(jget(ref, "controller")))
			continue;
		for (char *p = kind; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		if (slash && slash != av)
			return xasprintf("%s.%.*s/%s", kind, (int)(slash - av), av,
					 jstr(ref, "name"));
		if (!*kind)
			return xstrdup(jstr(ref, "name"));
		return xasprintf("%s/%s", kind, jstr(ref, "name"));
	}
	return xstrdup("<none>");
}

static void controllerrevision_cells(json_t *row, const json_t *cr, const struct ctx *c)
{
	put_name(row, cr);
	put_take(row, controller_of(cr));
	put_int(row, jint(cr, "revision"));
	put_age(row, cr, c);
}

/* ---- nodes and cluster objects ---- */

#define NODE_ROLE_PREFIX "node-role.kubernetes.io/"

static char *node_roles(const json_t *node)
{
	const json_t *labels = jget(node, "metadata.labels");
	size_t n = 0, plen = strlen(NODE_ROLE_PREFIX);
	char **roles = xcalloc(jsize(node, "metadata.labels") + 1, sizeof(*roles));
	const char *k;
	json_t *v;
	char *s;

	if (json_is_object(labels)) {
		json_object_foreach ((json_t *)labels, k, v) {
			const char *val = json_is_string(v) ? json_string_value(v) : "";

			if (strncmp(k, NODE_ROLE_PREFIX, plen) == 0 && k[plen])
				roles[n++] = xstrdup(k + plen);
			else if (streq(k, "kubernetes.io/role") && *val)
				roles[n++] = xstrdup(val);
		}
	}
	s = join_sorted_set(roles, n);
	if (!*s) {
		free(s);
		return xstrdup("<none>");
	}
	return s;
}

static char *node_status(const json_t *node)
{
	const json_t *conds = jget(node, "status.conditions"), *ready = NULL;
	struct sb b = {0};
	size_t i;
	json_t *cd;

	/* upstream keys conditions by type, so the last Ready condition counts */
	json_array_foreach (conds, i, cd) {
		if (streq(jstr(cd, "type"), "Ready"))
			ready = cd;
	}
	if (!ready)
		sb_add(&b, "Unknown");
	else if (streq(jstr(ready, "status"), "True"))
		sb_add(&b, "Ready");
	else
		sb_add(&b, "NotReady");
	if (json_is_true(jget(node, "spec.unschedulable")))
		sb_add(&b, ",SchedulingDisabled");
	return sb_take(&b);
}

static const char *node_address(const json_t *node, const char *type)
{
	size_t i;
	json_t *a;

	json_array_foreach (jget(node, "status.addresses"), i, a) {
		if (streq(jstr(a, "type"), type))
			return jstr(a, "address");
	}
	return "<none>";
}

static const char *or_unknown(const char *s)
{
	return *s ? s : "<unknown>";
}

static void node_cells(json_t *row, const json_t *node, const struct ctx *c)
{
	put_name(row, node);
	put_take(row, node_status(node));
	put_take(row, node_roles(node));
	put_age(row, node, c);
	put_str(row, jstr(node, "status.nodeInfo.kubeletVersion"));
	put_str(row, node_address(node, "InternalIP"));
	put_str(row, node_address(node, "ExternalIP"));
	put_str(row, or_unknown(jstr(node, "status.nodeInfo.osImage")));
	put_str(row, or_unknown(jstr(node, "status.nodeInfo.kernelVersion")));
	put_str(row, or_unknown(jstr(node, "status.nodeInfo.containerRuntimeVersion")));
}

static void namespace_cells(json_t *row, const json_t *ns, const struct ctx *c)
{
	put_name(row, ns);
	put_str(row, jstr(ns, "status.phase"));
	put_age(row, ns, c);
}

static void configmap_cells(json_t *row, const json_t *cm, const struct ctx *c)
{
	put_name(row, cm);
	put_int(row, (int64_t)(jsize(cm, "data") + jsize(cm, "binaryData")));
	put_age(row, cm, c);
}

static void secret_cells(json_t *row, const json_t *s, const struct ctx *c)
{
	put_name(row, s);
	put_str(row, jstr(s, "type"));
	put_int(row, (int64_t)jsize(s, "data"));
	put_age(row, s, c);
}

static void serviceaccount_cells(json_t *row, const json_t *sa, const struct ctx *c)
{
	put_name(row, sa);
	put_int(row, (int64_t)jsize(sa, "secrets"));
	put_age(row, sa, c);
}

static void lease_cells(json_t *row, const json_t *l, const struct ctx *c)
{
	put_name(row, l);
	put_str(row, jstr(l, "spec.holderIdentity"));
	put_age(row, l, c);
}

/* ---- events ---- */

static char *trim_space(const char *s)
{
	size_t n;

	while (*s && strchr(" \t\n\v\f\r", *s))
		s++;
	n = strlen(s);
	while (n && strchr(" \t\n\v\f\r", s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static char *event_source(const json_t *ev)
{
	const char *comp = jstr(ev, "source.component"), *host = jstr(ev, "source.host");

	if (!*comp)
		comp = jstr(ev, "reportingComponent");
	if (!*host)
		host = jstr(ev, "reportingInstance");
	if (!*host)
		return xstrdup(comp);
	return xasprintf("%s, %s", comp, host);
}

static char *event_object(const json_t *ev)
{
	cleanup_free char *kind = xstrdup(jstr(ev, "involvedObject.kind"));
	const char *name = jstr(ev, "involvedObject.name");

	for (char *p = kind; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (!*name)
		return TAKE_PTR(kind);
	return xasprintf("%s/%s", kind, name);
}

static void event_cells(json_t *row, const json_t *ev, const struct ctx *c)
{
	struct ktime first_t = jtime(ev, "firstTimestamp"), last_t = jtime(ev, "lastTimestamp");
	char *first = first_t.set ? since(c, &first_t) : since_field(c, ev, "eventTime");
	char *last = last_t.set ? since(c, &last_t) : xstrdup(first);
	int64_t count = jint(ev, "count");

	if (jset(ev, "series")) {
		replace_str(&last, since_field(c, ev, "series.lastObservedTime"));
		count = jint(ev, "series.count");
	} else if (count == 0) {
		/* events of the events.k8s.io API leave count unset when they happened once */
		count = 1;
	}
	put_take(row, last);
	put_str(row, jstr(ev, "type"));
	put_str(row, jstr(ev, "reason"));
	put_take(row, event_object(ev));
	put_str(row, jstr(ev, "involvedObject.fieldPath"));
	put_take(row, event_source(ev));
	put_take(row, trim_space(jstr(ev, "message")));
	put_take(row, first);
	put_int(row, count);
	put_name(row, ev);
}

/* ---- storage ---- */

static char *access_modes(const json_t *modes)
{
	static const struct {
		const char *mode, *abbrev;
	} order[] = {
		{"ReadWriteOnce", "RWO"},
		{"ReadOnlyMany", "ROX"},
		{"ReadWriteMany", "RWX"},
		{"ReadWriteOncePod", "RWOP"},
	};
	struct sb b = {0};
	size_t i, j;
	json_t *m;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		json_array_foreach (modes, j, m) {
			if (json_is_string(m) && streq(json_string_value(m), order[i].mode)) {
				sb_sep(&b, ",", order[i].abbrev);
				break;
			}
		}
	}
	return sb_take(&b);
}

#define BETA_STORAGE_CLASS "volume.beta.kubernetes.io/storage-class"

/* The beta annotation wins over spec.storageClassName. */
static const char *storage_class(const json_t *obj)
{
	const json_t *ann = json_object_get(jget(obj, "metadata.annotations"), BETA_STORAGE_CLASS);

	if (ann)
		return json_is_string(ann) ? json_string_value(ann) : "";
	return jstr(obj, "spec.storageClassName");
}

static const char *deleting_phase(const json_t *obj)
{
	return jset(obj, "metadata.deletionTimestamp") ? "Terminating" : jstr(obj, "status.phase");
}

static const char *unset_or(const json_t *obj, const char *path)
{
	return jset(obj, path) ? jstr(obj, path) : "<unset>";
}

static void pv_cells(json_t *row, const json_t *pv, const struct ctx *c)
{
	struct sb claim = {0};

	if (jset(pv, "spec.claimRef")) {
		sb_add(&claim, jstr(pv, "spec.claimRef.namespace"));
		sb_add(&claim, "/");
		sb_add(&claim, jstr(pv, "spec.claimRef.name"));
	}
	put_name(row, pv);
	put_take(row, quantity_cell(jget(pv, "spec.capacity"), "storage"));
	put_take(row, access_modes(jget(pv, "spec.accessModes")));
	put_str(row, jstr(pv, "spec.persistentVolumeReclaimPolicy"));
	put_str(row, deleting_phase(pv));
	put_take(row, sb_take(&claim));
	put_str(row, storage_class(pv));
	put_str(row, unset_or(pv, "spec.volumeAttributesClassName"));
	put_str(row, jstr(pv, "status.reason"));
	put_age(row, pv, c);
	put_str(row, unset_or(pv, "spec.volumeMode"));
}

static void pvc_cells(json_t *row, const json_t *pvc, const struct ctx *c)
{
	bool bound = *jstr(pvc, "spec.volumeName") != '\0';

	put_name(row, pvc);
	put_str(row, deleting_phase(pvc));
	put_str(row, jstr(pvc, "spec.volumeName"));
	/* capacity and access modes show only once the claim is bound to a volume */
	put_take(row, bound ? quantity_cell(jget(pvc, "status.capacity"), "storage") : xstrdup(""));
	put_take(row, bound ? access_modes(jget(pvc, "status.accessModes")) : xstrdup(""));
	put_str(row, storage_class(pvc));
	put_str(row, unset_or(pvc, "spec.volumeAttributesClassName"));
	put_age(row, pvc, c);
	put_str(row, unset_or(pvc, "spec.volumeMode"));
}

static void default_cells(json_t *row, const json_t *obj, const struct ctx *c)
{
	put_name(row, obj);
	put_age(row, obj, c);
}

/* ---- column definitions ---- */

struct col {
	const char *name, *type, *format, *desc;
	int priority;
};

#define STR(n, d)                                                                                  \
	{                                                                                          \
		n, "string", "", d, 0                                                              \
	}
#define INT(n, d)                                                                                  \
	{                                                                                          \
		n, "integer", "", d, 0                                                             \
	}
#define WIDE(n, d)                                                                                 \
	{                                                                                          \
		n, "string", "", d, 1                                                              \
	}
#define NAME_COL                                                                                   \
	{                                                                                          \
		"Name", "string", "name", "Name of the object, unique in its namespace.", 0        \
	}
#define AGE_COL        STR("Age", "Time since the object was created.")
#define CONTAINERS_COL WIDE("Containers", "Names of the containers in the pod template.")
#define IMAGES_COL     WIDE("Images", "Images of the containers in the pod template.")
#define SELECTOR_COL   WIDE("Selector", "Label selector of the pods this object manages.")

static const struct col pod_cols[] = {
	NAME_COL,
	STR("Ready", "Ready containers out of all containers."),
	STR("Status", "Summary of the pod's phase and container states."),
	STR("Restarts", "Container restarts, with the time since the last one."),
	AGE_COL,
	WIDE("IP", "The pod's IP address."),
	WIDE("Node", "The node the pod is bound to."),
	WIDE("Nominated Node", "The node the scheduler nominated while preempting."),
	WIDE("Readiness Gates", "Readiness gates whose condition is true, out of all."),
};

static const struct col service_cols[] = {
	NAME_COL,
	STR("Type", "How the service is exposed."),
	STR("Cluster-IP", "The virtual IP address inside the cluster."),
	STR("External-IP", "Addresses the service is reachable at from outside."),
	STR("Port(s)", "Service ports, with node ports, and protocols."),
	AGE_COL,
	WIDE("Selector", "Labels of the pods that back the service."),
};

static const struct col deployment_cols[] = {
	NAME_COL,
	STR("Ready", "Ready pods out of desired pods."),
	STR("Up-to-date", "Pods running the current template."),
	STR("Available", "Pods ready for at least minReadySeconds."),
	AGE_COL,
	CONTAINERS_COL,
	IMAGES_COL,
	SELECTOR_COL,
};

static const struct col replicaset_cols[] = {
	NAME_COL,
	INT("Desired", "Pods the replica set should run."),
	INT("Current", "Pods the replica set runs."),
	INT("Ready", "Pods that are ready."),
	AGE_COL,
	CONTAINERS_COL,
	IMAGES_COL,
	SELECTOR_COL,
};

static const struct col daemonset_cols[] = {
	NAME_COL,
	INT("Desired", "Nodes that should run the daemon pod."),
	INT("Current", "Nodes that run the daemon pod."),
	INT("Ready", "Nodes whose daemon pod is ready."),
	INT("Up-to-date", "Nodes running the current template."),
	INT("Available", "Nodes whose daemon pod is available."),
	STR("Node Selector", "Labels a node needs to run the pod."),
	AGE_COL,
	CONTAINERS_COL,
	IMAGES_COL,
	SELECTOR_COL,
};

static const struct col statefulset_cols[] = {
	NAME_COL,   STR("Ready", "Ready pods out of desired pods."), AGE_COL, CONTAINERS_COL,
	IMAGES_COL,
};

static const struct col job_cols[] = {
	NAME_COL,
	STR("Status", "Whether the job runs, completed, failed or is suspended."),
	STR("Completions", "Succeeded pods out of the completions wanted."),
	STR("Duration", "Time the job ran, or has been running."),
	AGE_COL,
	CONTAINERS_COL,
	IMAGES_COL,
	SELECTOR_COL,
};

static const struct col cronjob_cols[] = {
	NAME_COL,
	STR("Schedule", "The cron schedule."),
	STR("Timezone", "Time zone the schedule is read in."),
	{"Suspend", "boolean", "", "Whether new runs are suspended.", 0},
	INT("Active", "Jobs running now."),
	STR("Last Schedule", "Time since a job was last scheduled."),
	AGE_COL,
	CONTAINERS_COL,
	IMAGES_COL,
	SELECTOR_COL,
};

static const struct col node_cols[] = {
	NAME_COL,
	STR("Status", "Readiness of the node, and whether it takes new pods."),
	STR("Roles", "Roles from the node's node-role.kubernetes.io labels."),
	AGE_COL,
	STR("Version", "Version of the node agent."),
	WIDE("Internal-IP", "The node's internal address."),
	WIDE("External-IP", "The node's external address."),
	WIDE("OS-Image", "Operating system of the node."),
	WIDE("Kernel-Version", "Kernel version of the node."),
	WIDE("Container-Runtime", "Container runtime and its version."),
};

static const struct col namespace_cols[] = {
	NAME_COL,
	STR("Status", "Whether the namespace is active or terminating."),
	AGE_COL,
};

static const struct col endpoints_cols[] = {
	NAME_COL,
	STR("Endpoints", "Addresses and ports of the ready endpoints."),
	AGE_COL,
};

static const struct col endpointslice_cols[] = {
	NAME_COL,
	STR("AddressType", "Family of the addresses in the slice."),
	STR("Ports", "Ports of the endpoints."),
	STR("Endpoints", "Addresses of the endpoints."),
	AGE_COL,
};

static const struct col configmap_cols[] = {
	NAME_COL,
	STR("Data", "Number of data entries."),
	AGE_COL,
};

static const struct col secret_cols[] = {
	NAME_COL,
	STR("Type", "Type of the secret's data."),
	STR("Data", "Number of data entries."),
	AGE_COL,
};

static const struct col serviceaccount_cols[] = {
	NAME_COL,
	STR("Secrets", "Number of secrets the account references."),
	AGE_COL,
};

static const struct col event_cols[] = {
	STR("Last Seen", "Time since the event last happened."),
	STR("Type", "Normal or Warning."),
	STR("Reason", "Short machine-readable cause."),
	STR("Object", "The object the event is about."),
	WIDE("Subobject", "The part of the object, such as a container."),
	WIDE("Source", "The component, and host, that reported the event."),
	STR("Message", "Human-readable description."),
	WIDE("First Seen", "Time since the event first happened."),
	WIDE("Count", "Times the event happened."),
	{"Name", "string", "name", "Name of the event object.", 1},
};

static const struct col pv_cols[] = {
	NAME_COL,
	STR("Capacity", "Storage capacity of the volume."),
	STR("Access Modes", "Ways the volume can be mounted."),
	STR("Reclaim Policy", "What happens to the volume when its claim is released."),
	STR("Status", "Phase of the volume."),
	STR("Claim", "Namespace and name of the claim bound to the volume."),
	STR("StorageClass", "Storage class of the volume."),
	STR("VolumeAttributesClass", "Volume attributes class of the volume."),
	STR("Reason", "Why the volume is in its phase."),
	AGE_COL,
	WIDE("VolumeMode", "Filesystem or Block."),
};

static const struct col pvc_cols[] = {
	NAME_COL,
	STR("Status", "Phase of the claim."),
	STR("Volume", "The volume bound to the claim."),
	STR("Capacity", "Storage capacity of the bound volume."),
	STR("Access Modes", "Ways the bound volume can be mounted."),
	STR("StorageClass", "Storage class the claim asks for."),
	STR("VolumeAttributesClass", "Volume attributes class the claim asks for."),
	AGE_COL,
	WIDE("VolumeMode", "Filesystem or Block."),
};

static const struct col lease_cols[] = {
	NAME_COL,
	STR("Holder", "Identity of the current holder."),
	AGE_COL,
};

static const struct col controllerrevision_cols[] = {
	NAME_COL,
	STR("Controller", "The object that owns the revision."),
	STR("Revision", "Revision number."),
	AGE_COL,
};

static const struct col default_cols[] = {
	NAME_COL,
	AGE_COL,
};

static const struct printer {
	const char *group, *kind;
	const struct col *cols;
	size_t ncols;
	void (*cells)(json_t *row, const json_t *obj, const struct ctx *c);
} printers[] = {
#define P(group, kind, cols, fn)                                                                   \
	{                                                                                          \
		group, kind, cols, sizeof(cols) / sizeof(cols[0]), fn                              \
	}
	P("", "Pod", pod_cols, pod_cells),
	P("", "Service", service_cols, service_cells),
	P("", "Endpoints", endpoints_cols, endpoints_cells),
	P("", "Node", node_cols, node_cells),
	P("", "Namespace", namespace_cols, namespace_cells),
	P("", "ConfigMap", configmap_cols, configmap_cells),
	P("", "Secret", secret_cols, secret_cells),
	P("", "ServiceAccount", serviceaccount_cols, serviceaccount_cells),
	P("", "Event", event_cols, event_cells),
	P("", "PersistentVolume", pv_cols, pv_cells),
	P("", "PersistentVolumeClaim", pvc_cols, pvc_cells),
	P("apps", "Deployment", deployment_cols, deployment_cells),
	P("apps", "ReplicaSet", replicaset_cols, replicaset_cells),
	P("apps", "DaemonSet", daemonset_cols, daemonset_cells),
	P("apps", "StatefulSet", statefulset_cols, statefulset_cells),
	P("apps", "ControllerRevision", controllerrevision_cols, controllerrevision_cells),
	P("batch", "Job", job_cols, job_cells),
	P("batch", "CronJob", cronjob_cols, cronjob_cells),
	P("coordination.k8s.io", "Lease", lease_cols, lease_cells),
	P("discovery.k8s.io", "EndpointSlice", endpointslice_cols, endpointslice_cells),
#undef P
};

static const struct printer default_printer = {
	"", "", default_cols, sizeof(default_cols) / sizeof(default_cols[0]), default_cells,
};

static const struct printer *printer_for(const struct api_resource *r)
{
	for (size_t i = 0; i < sizeof(printers) / sizeof(printers[0]); i++) {
		if (streq(printers[i].group, r->group) && streq(printers[i].kind, r->kind))
			return &printers[i];
	}
	return &default_printer;
}

json_t *table_columns(const struct api_resource *r)
{
	const struct printer *p = printer_for(r);
	json_t *cols = json_array();

	for (size_t i = 0; i < p->ncols; i++) {
		const struct col *c = &p->cols[i];

		json_array_append_new(cols,
				      json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", c->name,
						"type", c->type, "format", c->format, "description",
						c->desc, "priority", c->priority));
	}
	return cols;
}

json_t *table_cells(const struct api_resource *r, const json_t *obj, const struct timespec *now)
{
	struct ctx c;
	json_t *row = json_array();

	if (now)
		c.now = *now;
	else
		clock_gettime(CLOCK_REALTIME, &c.now);
	printer_for(r)->cells(row, obj, &c);
	return row;
}
