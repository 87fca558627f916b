/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A recursive-descent JSON reader building jansson trees (see jload.h). jansson's own
 * reader takes each byte through a stream callback and a token buffer; this one scans
 * the buffer in place, copies a string only when it holds escapes, and gives up (NULL)
 * on anything it does not decide exactly as jansson would, for jansson to read instead.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/jload.h"

/* below jansson's JSON_PARSER_MAX_DEPTH: deeper documents are jansson's to refuse */
#define MAX_DEPTH 512
/* integers of up to 18 digits cannot overflow int64; longer ones are jansson's */
#define MAX_INT_DIGITS 18
/* longest number text converted here */
#define MAX_NUMBER 64

struct reader {
	const char *p, *end;
	size_t flags;
	int depth;
	char *tmp; /* unescaped string values */
	size_t tmp_cap;
	struct jload_memo *memo;
};

/* The memo (jload.h): a direct-mapped table of texts and their trees. */
#define MEMO_SLOTS 4096
/* hashes of texts seen once: only a text seen again takes a slot */
#define MEMO_SEEN 8192
/*
 * Bounds on what the slots hold, whatever the documents: a text longer than MEMO_TEXT_MAX
 * is never kept, and one that would take the texts kept past MEMO_BUDGET bytes waits for
 * room (its tree takes a few times its text's size)
 */
#define MEMO_TEXT_MAX (16 * 1024)
#define MEMO_BUDGET   (8 * 1024 * 1024)

struct memo_slot {
	uint64_t hash;
	size_t len;
	char *text;
	json_t *v;
};

struct jload_memo {
	int from, to;
	uint64_t lookups, hits;
	size_t kept; /* bytes of the texts in the slots */
	struct memo_slot slots[MEMO_SLOTS];
	uint64_t seen[MEMO_SEEN];
};

static json_t *read_value(struct reader *r);

/*
 * String values that Kubernetes objects repeat everywhere: field values the API defines
 * or defaults (policies, phases, condition types and statuses, well-known keys and
 * taints) and the kinds and versions of the objects skiff serves. A pod carries some 30
 * of them. Each is decoded as one shared string that lives as long as the process,
 * instead of two allocations per occurrence. Its reference count is (size_t)-1, which
 * json_incref() and json_decref() leave alone, as for json_true(). jansson changes a
 * value in place only through its setters for strings, integers and reals, which skiff
 * does not call (`make check-lint` refuses them): a tree takes a new value instead.
 */
static const char *const common_strings[] = {
	/* object kinds, versions, namespaces */
	"v1",
	"apps/v1",
	"batch/v1",
	"coordination.k8s.io/v1",
	"discovery.k8s.io/v1",
	"events.k8s.io/v1",
	"policy/v1",
	"networking.k8s.io/v1",
	"Pod",
	"Node",
	"ReplicaSet",
	"Deployment",
	"DaemonSet",
	"StatefulSet",
	"Job",
	"CronJob",
	"Lease",
	"Service",
	"Endpoints",
	"EndpointSlice",
	"Event",
	"ControllerRevision",
	"Namespace",
	"Binding",
	"default",
	"kube-system",
	"kube-node-lease",
	"kube-public",
	"",
	/* pod spec: defaults and enumerations */
	"/dev/termination-log",
	"File",
	"FallbackToLogsOnError",
	"IfNotPresent",
	"Always",
	"Never",
	"OnFailure",
	"ClusterFirst",
	"ClusterFirstWithHostNet",
	"Default",
	"None",
	"default-scheduler",
	"PreemptLowerPriority",
	"Exists",
	"Equal",
	"NoExecute",
	"NoSchedule",
	"PreferNoSchedule",
	"node.kubernetes.io/not-ready",
	"node.kubernetes.io/unreachable",
	"node.kubernetes.io/unschedulable",
	"TCP",
	"UDP",
	"SCTP",
	"BestEffort",
	"Burstable",
	"Guaranteed",
	"kubernetes.io/hostname",
	"topology.kubernetes.io/zone",
	"topology.kubernetes.io/region",
	"DoNotSchedule",
	"ScheduleAnyway",
	"In",
	"NotIn",
	"DoesNotExist",
	"Gt",
	"Lt",
	"RuntimeDefault",
	"Unconfined",
	/* pod status */
	"Pending",
	"Running",
	"Succeeded",
	"Failed",
	"Unknown",
	"True",
	"False",
	"Initialized",
	"Ready",
	"ContainersReady",
	"PodScheduled",
	"PodReadyToStartContainers",
	"DisruptionTarget",
	"Unschedulable",
	"ContainersNotReady",
	"PodCompleted",
	"Completed",
	"Error",
	"ContainerCreating",
	"CrashLoopBackOff",
	"OOMKilled",
	"ImagePullBackOff",
	"ErrImagePull",
	"Evicted",
	/* nodes */
	"MemoryPressure",
	"DiskPressure",
	"PIDPressure",
	"NetworkUnavailable",
	"KubeletReady",
	"KubeletNotReady",
	"KubeletHasSufficientMemory",
	"KubeletHasNoDiskPressure",
	"KubeletHasSufficientPID",
	"NodeStatusUnknown",
	"kubelet is posting ready status",
	"kubelet has sufficient memory available",
	"kubelet has no disk pressure",
	"kubelet has sufficient PID available",
	"Kubelet stopped posting node status.",
	"InternalIP",
	"ExternalIP",
	"Hostname",
	"amd64",
	"arm64",
	"linux",
	"kubernetes.io/arch",
	"kubernetes.io/os",
	"beta.kubernetes.io/arch",
	"beta.kubernetes.io/os",
	"node-role.kubernetes.io/control-plane",
	/* workloads */
	"RollingUpdate",
	"Recreate",
	"OnDelete",
	"OrderedReady",
	"Parallel",
	"Retain",
	"Delete",
	"Allow",
	"Forbid",
	"Replace",
	"25%",
	"Available",
	"Progressing",
	"ReplicaFailure",
	"Complete",
	"Suspended",
	"FailureTarget",
	"SuccessCriteriaMet",
	"MinimumReplicasAvailable",
	"MinimumReplicasUnavailable",
	"NewReplicaSetAvailable",
	"ReplicaSetUpdated",
	"NewReplicaSetCreated",
	"FoundNewReplicaSet",
	"ProgressDeadlineExceeded",
	"DeploymentPaused",
	"DeploymentResumed",
	"Deployment has minimum availability.",
	"Deployment does not have minimum availability.",
	"pod-template-hash",
	"controller-revision-hash",
	"NonIndexed",
	"Indexed",
	/* services and events */
	"ClusterIP",
	"NodePort",
	"LoadBalancer",
	"ExternalName",
	"SingleStack",
	"PreferDualStack",
	"IPv4",
	"IPv6",
	"Cluster",
	"Local",
	"http",
	"https",
	"Normal",
	"Warning",
	"Scheduled",
	"FailedScheduling",
	"SuccessfulCreate",
	"SuccessfulDelete",
	"ScalingReplicaSet",
	"Pulled",
	"Created",
	"Started",
	"Killing",
};

/* An open-addressed table of common_strings; built once, then only read. */
#define COMMON_SLOTS   512
#define COMMON_MAX_LEN 48

static struct {
	const char *s;
	size_t n;
	json_t *v;
} common_table[COMMON_SLOTS];
static pthread_once_t common_once = PTHREAD_ONCE_INIT;

/* Cheap on purpose: most strings looked up are not common, and leave at the first slot. */
static size_t common_hash(const char *s, size_t n)
{
	size_t h = n * 0x9e3779b1u;

	if (n > 0)
		h ^= (size_t)(unsigned char)s[0] * 0x85ebca6bu ^
		     (size_t)(unsigned char)s[n - 1] * 0xc2b2ae35u ^
		     (size_t)(unsigned char)s[n / 2] * 0x27d4eb2fu;
	return (h ^ h >> 15) & (COMMON_SLOTS - 1);
}

static void common_build(void)
{
	for (size_t i = 0; i < sizeof(common_strings) / sizeof(common_strings[0]); i++) {
		const char *v = common_strings[i];
		size_t n = strlen(v), slot = common_hash(v, n);
		json_t *str;

		if (n > COMMON_MAX_LEN)
			abort(); /* would never be looked up */
		while (common_table[slot].v && strcmp(common_table[slot].s, v) != 0)
			slot = (slot + 1) & (COMMON_SLOTS - 1);
		if (common_table[slot].v)
			continue; /* listed twice */
		str = json_stringn_nocheck(v, n);
		if (!str)
			abort();
		str->refcount = (size_t)-1;
		common_table[slot].s = v;
		common_table[slot].n = n;
		common_table[slot].v = str;
	}
}

/*
 * Small integers (grace periods, toleration seconds, priorities, restart counts, ports)
 * are shared the same way, each made on its first use.
 */
#define SMALL_INTS 1024

static json_t *small_ints[SMALL_INTS];

static json_t *integer(int64_t v)
{
	json_t *cur, *mine;

	if (v < 0 || v >= SMALL_INTS)
		return json_integer(v);
	cur = __atomic_load_n(&small_ints[v], __ATOMIC_ACQUIRE);
	if (cur)
		return cur;
	mine = json_integer(v);
	if (!mine)
		return NULL;
	mine->refcount = (size_t)-1;
	if (__atomic_compare_exchange_n(&small_ints[v], &cur, mine, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return mine;
	/* another thread made it first: ours goes, by the count jansson frees at */
	mine->refcount = 1;
	json_decref(mine);
	return cur;
}

/* The shared string of @s if it is a common one, else NULL (jload_b built the table). */
static json_t *common_string(const char *s, size_t n)
{
	if (n > COMMON_MAX_LEN)
		return NULL;
	for (size_t slot = common_hash(s, n); common_table[slot].v;
	     slot = (slot + 1) & (COMMON_SLOTS - 1))
		if (common_table[slot].n == n && memcmp(common_table[slot].s, s, n) == 0)
			return common_table[slot].v;
	return NULL;
}

static void skip_space(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

static void tmp_reserve(struct reader *r, size_t n)
{
	if (n <= r->tmp_cap)
		return;
	r->tmp_cap = r->tmp_cap ? r->tmp_cap : 256;
	while (r->tmp_cap < n)
		r->tmp_cap *= 2;
	r->tmp = realloc(r->tmp, r->tmp_cap);
	if (!r->tmp)
		abort();
}

/*
 * A string after its opening quote: 0 with its bytes in @ret and @len (the input itself when
 * it has no escapes, else the reader's buffer), -1 to give up. Keys come with
 * @no_escapes: an unescaped key would have to outlive the value read after it.
 */
static int read_string(struct reader *r, bool no_escapes, const char **ret, size_t *len)
{
	const char *start = r->p;
	size_t n = 0;

	while (r->p < r->end) {
		unsigned char c = (unsigned char)*r->p;

		if (c == '"') {
			*ret = start;
			*len = (size_t)(r->p - start);
			r->p++;
			return 0;
		}
		if (c == '\\')
			break;
		if (c < 0x20 || c >= 0x80)
			return -1; /* control characters refused, UTF-8 checked: by jansson */
		r->p++;
	}
	if (r->p >= r->end || no_escapes)
		return -1;
	n = (size_t)(r->p - start);
	tmp_reserve(r, n + 64);
	memcpy(r->tmp, start, n);
	while (r->p < r->end) {
		unsigned char c = (unsigned char)*r->p++;

		if (c == '"') {
			*ret = r->tmp;
			*len = n;
			return 0;
		}
		if (c < 0x20 || c >= 0x80)
			return -1;
		if (c == '\\') {
			if (r->p >= r->end)
				return -1;
			switch (*r->p++) {
			case '"':
				c = '"';
				break;
			case '\\':
				c = '\\';
				break;
			case '/':
				c = '/';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			default: /* \u and invalid escapes */
				return -1;
			}
		}
		tmp_reserve(r, n + 1);
		r->tmp[n++] = (char)c;
	}
	return -1;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static json_t *read_number(struct reader *r)
{
	const char *start = r->p;
	bool neg = false, real = false;
	size_t digits = 0;
	char buf[MAX_NUMBER + 1];
	int64_t v = 0;
	double d;
	char *endp;

	if (r->p < r->end && *r->p == '-') {
		neg = true;
		r->p++;
	}
	if (r->p >= r->end || !is_digit(*r->p))
		return NULL;
	if (*r->p == '0' && r->p + 1 < r->end && is_digit(r->p[1]))
		return NULL; /* leading zeros */
	while (r->p < r->end && is_digit(*r->p)) {
		if (++digits > MAX_INT_DIGITS)
			return NULL;
		v = v * 10 + (*r->p++ - '0');
	}
	if (r->p < r->end && *r->p == '.') {
		real = true;
		r->p++;
		if (r->p >= r->end || !is_digit(*r->p))
			return NULL;
		while (r->p < r->end && is_digit(*r->p))
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		real = true;
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || !is_digit(*r->p))
			return NULL;
		while (r->p < r->end && is_digit(*r->p))
			r->p++;
	}
	if (!real)
		return integer(neg ? -v : v);
	if ((size_t)(r->p - start) > MAX_NUMBER)
		return NULL;
	memcpy(buf, start, (size_t)(r->p - start));
	buf[r->p - start] = '\0';
	errno = 0;
	d = strtod(buf, &endp);
	/* overflow is jansson's error; underflow too, to be exact about what it accepts */
	if (errno || *endp)
		return NULL;
	return json_real(d);
}

/*
 * After a member or element: 1 at a comma (spaces after it skipped), 0 at @close (passed),
 * -1 at anything else.
 */
static int next_item(struct reader *r, char close)
{
	skip_space(r);
	if (r->p < r->end && *r->p == ',') {
		r->p++;
		skip_space(r);
		return 1;
	}
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return 0;
	}
	return -1;
}

/* An empty container (spaces skipped): true, its closing byte passed. */
static bool empty(struct reader *r, char close)
{
	skip_space(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	return false;
}

static json_t *read_object(struct reader *r)
{
	json_t *obj = json_object();
	int more = !empty(r, '}');

	while (more > 0) {
		const char *key;
		size_t klen;
		json_t *v;

		if (r->p >= r->end || *r->p != '"')
			goto fail;
		r->p++;
		if (read_string(r, true, &key, &klen) < 0)
			goto fail;
		skip_space(r);
		if (r->p >= r->end || *r->p != ':')
			goto fail;
		r->p++;
		skip_space(r);
		v = read_value(r);
		if (!v)
			goto fail;
		if ((r->flags & JSON_REJECT_DUPLICATES) && json_object_getn(obj, key, klen)) {
			json_decref(v);
			goto fail;
		}
		if (json_object_setn_new_nocheck(obj, key, klen, v) < 0)
			goto fail;
		more = next_item(r, '}');
	}
	if (more == 0)
		return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *read_array(struct reader *r)
{
	json_t *arr = json_array();
	int more = !empty(r, ']');

	while (more > 0) {
		json_t *v = read_value(r);

		if (!v || json_array_append_new(arr, v) < 0)
			goto fail;
		more = next_item(r, ']');
	}
	if (more == 0)
		return arr;
fail:
	json_decref(arr);
	return NULL;
}

static bool literal(struct reader *r, const char *word, size_t n)
{
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

/* @p after a string's opening quote: past its closing quote (one no backslash escapes). */
static const char *skip_string(const char *p, const char *end)
{
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(end - p)), *b;

		if (!q)
			return NULL;
		/* escaped when an odd run of backslashes precedes it */
		for (b = q; b > p && b[-1] == '\\'; b--)
			;
		if ((q - b) % 2 == 0)
			return q + 1;
		p = q + 1;
	}
}

const char *jload_skip(const char *p, const char *end)
{
	int depth = 0;

	if (p >= end)
		return NULL;
	if (*p == '"')
		return skip_string(p + 1, end);
	if (*p != '{' && *p != '[') {
		const char *s = p;

		while (p < end && !strchr(",}] \t\r\n", *p))
			p++;
		return p > s ? p : NULL;
	}
	for (; p < end; p++) {
		switch (*p) {
		case '"':
			p = skip_string(p + 1, end);
			if (!p)
				return NULL;
			p--;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return p + 1;
			break;
		default:
			break;
		}
	}
	return NULL;
}

static uint64_t memo_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ h >> 29;
}

static json_t *read_container(struct reader *r)
{
	return *r->p++ == '{' ? read_object(r) : read_array(r);
}

/* An object or array at a depth the memo covers (r->depth counts it already). */
static json_t *memo_value(struct reader *r)
{
	struct jload_memo *m = r->memo;
	const char *start = r->p, *end = jload_skip(r->p, r->end);
	size_t n = end ? (size_t)(end - start) : 0;
	struct memo_slot *slot;
	uint64_t h, *seen;
	json_t *v;

	if (n < JLOAD_MEMO_MIN || n > MEMO_TEXT_MAX)
		return read_container(r);
	h = memo_hash(start, n);
	slot = &m->slots[h & (MEMO_SLOTS - 1)];
	m->lookups++;
	if (slot->v && slot->hash == h && slot->len == n && memcmp(slot->text, start, n) == 0) {
		m->hits++;
		r->p = end;
		return json_incref(slot->v);
	}
	v = read_container(r);
	if (!v || r->p != end)
		return v;
	seen = &m->seen[h & (MEMO_SEEN - 1)];
	if (*seen != h) {
		*seen = h;
		return v;
	}
	if (m->kept - slot->len + n > MEMO_BUDGET)
		return v;
	m->kept = m->kept - slot->len + n;
	json_decref(slot->v);
	free(slot->text);
	slot->text = malloc(n);
	if (!slot->text)
		abort();
	memcpy(slot->text, start, n);
	slot->hash = h;
	slot->len = n;
	slot->v = json_incref(v);
	return v;
}

/* At a value's first byte (spaces skipped). */
static json_t *read_value(struct reader *r)
{
	json_t *v = NULL;

	if (r->p >= r->end)
		return NULL;
	switch (*r->p) {
	case '{':
	case '[':
		if (++r->depth > MAX_DEPTH)
			return NULL;
		if (r->memo && r->depth >= r->memo->from && r->depth <= r->memo->to)
			v = memo_value(r);
		else
			v = read_container(r);
		r->depth--;
		return v;
	case '"': {
		const char *s;
		size_t n;

		r->p++;
		if (read_string(r, false, &s, &n) < 0)
			return NULL;
		if ((v = common_string(s, n)))
			return v;
		return json_stringn_nocheck(s, n);
	}
	case 't':
		return literal(r, "true", 4) ? json_true() : NULL;
	case 'f':
		return literal(r, "false", 5) ? json_false() : NULL;
	case 'n':
		return literal(r, "null", 4) ? json_null() : NULL;
	default:
		return read_number(r);
	}
}

static json_t *load(const char *buf, size_t len, size_t flags, struct jload_memo *memo,
		    json_error_t *error)
{
	struct reader r = {.p = buf, .end = buf + len, .flags = flags, .memo = memo};
	json_t *v = NULL;

	if (buf && !(flags & ~(size_t)(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES))) {
		pthread_once(&common_once, common_build);
		skip_space(&r);
		if ((flags & JSON_DECODE_ANY) || (r.p < r.end && (*r.p == '{' || *r.p == '[')))
			v = read_value(&r);
		skip_space(&r);
		if (v && r.p != r.end) {
			json_decref(v);
			v = NULL;
		}
	}
	free(r.tmp);
	if (v) {
		if (error) {
			memset(error, 0, sizeof(*error));
			error->line = error->column = -1;
			strcpy(error->source, "<buffer>");
		}
		return v;
	}
	return json_loadb(buf, len, flags, error);
}

json_t *jload_b(const char *buf, size_t len, size_t flags, json_error_t *error)
{
	return load(buf, len, flags, NULL, error);
}

json_t *jload_s(const char *s, size_t flags, json_error_t *error)
{
	if (!s)
		return json_loads(s, flags, error);
	return jload_b(s, strlen(s), flags, error);
}

struct jload_memo *jload_memo_new(unsigned from, unsigned to)
{
	struct jload_memo *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->from = (int)from;
	m->to = (int)to;
	return m;
}

void jload_memo_free(struct jload_memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < MEMO_SLOTS; i++) {
		json_decref(m->slots[i].v);
		free(m->slots[i].text);
	}
	free(m);
}

json_t *jload_memo_b(struct jload_memo *m, const char *buf, size_t len, json_error_t *error)
{
	return load(buf, len, 0, m, error);
}

void jload_memo_stats(const struct jload_memo *m, uint64_t *lookups, uint64_t *hits, size_t *kept)
{
	*lookups = m ? m->lookups : 0;
	*hits = m ? m->hits : 0;
	*kept = m ? m->kept : 0;
}
