/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pod and container → OCI config.json for the node agent: what the kubelet and a CRI
 * runtime (containerd) make of a container together: argv, environment, user, security
 * context, resources, namespaces and mounts, on top of skiff's default spec. Also the pod's
 * QoS class and the resources and path of its pod-level cgroup. Nothing here touches the
 * host except reading the image's /etc/passwd and /etc/group and, for privileged
 * containers, listing host devices.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <jansson.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/agent/ocispec.h"
#include "cluster/api/quantity.h"
#include "runtime/runtime.h"

/* pkg/kubelet/cm: CFS period and the bounds of cpu.shares and cpu.cfs_quota_us */
#define QUOTA_PERIOD 100000
#define MIN_QUOTA    1000
#define MIN_SHARES   2
#define MAX_SHARES   262144

/* pkg/kubelet/qos/policy.go */
#define GUARANTEED_OOM_ADJ (-997)
#define BESTEFFORT_OOM_ADJ 1000
#define CRITICAL_PRIORITY  2000000000LL

/*
 * Kubernetes has no rlimit API; containers of other engines inherit the daemon's, which
 * their service units raise to this. The runtime's default spec (1024) is too low for
 * servers.
 */

#define ID_FILE_MAX        (4 << 20) /* an image's /etc/passwd or /etc/group */
#define HOST_DEVICES_MAX   4096
#define HOST_DEVICES_DEPTH 4
#define HOSTNAME_MAX       63

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* jansson returns NULL here only when out of memory: give up, as xmalloc does. */
static json_t *must(json_t *j)
{
	if (!j)
		abort();
	return j;
}

static void set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, must(v)) < 0)
		abort();
}

static void push(json_t *arr, json_t *v)
{
	if (json_array_append_new(arr, must(v)) < 0)
		abort();
}

static const char *str_at(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = str_at(o, key);

	return s && *s ? s : dflt;
}

static bool true_at(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* ---- strings ---- */

struct sb {
	char *s;
	size_t len, cap;
};

static void sb_add(struct sb *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_addc(struct sb *b, char c)
{
	sb_add(b, &c, 1);
}

static char *sb_take(struct sb *b)
{
	char *s = b->s ? b->s : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

/* ---- environment ---- */

/* An ordered KEY=VALUE list where setting a key again replaces it in place (containerd's). */
struct env {
	char **key, **val; /* val NULL: an image entry without '=' */
	size_t n, cap;
};

static void env_done(struct env *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->key[i]);
		free(e->val[i]);
	}
	free(e->key);
	free(e->val);
	e->key = e->val = NULL;
	e->n = e->cap = 0;
}

static const char *env_get(const struct env *e, const char *key, size_t len)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strlen(e->key[i]) == len && !memcmp(e->key[i], key, len))
			return e->val[i] ? e->val[i] : "";
	}
	return NULL;
}

static void env_setn(struct env *e, const char *key, size_t klen, const char *val)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strlen(e->key[i]) == klen && !memcmp(e->key[i], key, klen)) {
			free(e->val[i]);
			e->val[i] = val ? xstrdup(val) : NULL;
			return;
		}
	}
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->key = xrealloc(e->key, e->cap * sizeof(*e->key));
		e->val = xrealloc(e->val, e->cap * sizeof(*e->val));
	}
	e->key[e->n] = xstrndup(key, klen);
	e->val[e->n] = val ? xstrdup(val) : NULL;
	e->n++;
}

static void env_set(struct env *e, const char *key, const char *val)
{
	env_setn(e, key, strlen(key), val);
}

/* "KEY=VALUE" from an image config */
static void env_set_pair(struct env *e, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (eq)
		env_setn(e, kv, (size_t)(eq - kv), eq + 1);
	else
		env_set(e, kv, NULL);
}

static json_t *env_json(const struct env *e)
{
	json_t *a = must(json_array());

	/* Secret values need not be UTF-8: the runtime takes bytes */
	for (size_t i = 0; i < e->n; i++) {
		cleanup_free char *kv =
			e->val[i] ? xasprintf("%s=%s", e->key[i], e->val[i]) : xstrdup(e->key[i]);

		push(a, json_string_nocheck(kv));
	}
	return a;
}

/* IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
static bool env_name_valid(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("-._", *s))
			return false;
	}
	return true;
}

/*
 * Upstream's $(VAR) expansion (third_party/forked/golang/expansion): "$$" is a literal "$",
 * "$(NAME)" is replaced when NAME is defined and kept as written otherwise, an unclosed
 * "$(" and any other "$x" stay as they are.
 */
static char *expand(const char *s, const struct env *vars)
{
	struct sb b = {0};

	while (*s) {
		const char *close, *v;

		if (s[0] != '$' || !s[1]) {
			sb_addc(&b, *s++);
			continue;
		}
		if (s[1] == '$') {
			sb_addc(&b, '$');
			s += 2;
			continue;
		}
		if (s[1] != '(') {
			sb_add(&b, s, 2);
			s += 2;
			continue;
		}
		close = strchr(s + 2, ')');
		if (!close) {
			sb_add(&b, s, 2);
			s += 2;
			continue;
		}
		v = env_get(vars, s + 2, (size_t)(close - s - 2));
		if (v)
			sb_add(&b, v, strlen(v));
		else
			sb_add(&b, s, (size_t)(close + 1 - s));
		s = close + 1;
	}
	return sb_take(&b);
}

/* ---- quantities and resource lists ---- */

static int qty_of(const json_t *v, const char *what, const char *name, struct quantity *ret,
		  struct err *err)
{
	char buf[32];
	const char *s, *why = NULL;

	if (json_is_string(v)) {
		s = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = buf;
	} else {
		return err_set(err, EINVAL, "%s.%s: expected a quantity", what, name);
	}
	if (!quantity_parse(s, ret, &why))
		return err_set(err, EINVAL, "%s.%s: invalid quantity '%s': %s", what, name, s,
			       why ? why : "malformed");
	return 0;
}

static bool qty_zero(const struct quantity *q)
{
	return q->nano == 0;
}

struct rl_entry {
	char *name;
	struct quantity q;
};

/* A ResourceList: resource name -> quantity. */
struct rl {
	struct rl_entry *e;
	size_t n;
};

static void rl_done(struct rl *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	l->e = NULL;
	l->n = 0;
}

static struct quantity *rl_get(const struct rl *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->e[i].name, name))
			return &l->e[i].q;
	}
	return NULL;
}

static struct quantity *rl_slot(struct rl *l, const char *name)
{
	struct quantity *q = rl_get(l, name);

	if (q)
		return q;
	l->e = xrealloc(l->e, (l->n + 1) * sizeof(*l->e));
	l->e[l->n].name = xstrdup(name);
	l->e[l->n].q = (struct quantity){0};
	return &l->e[l->n++].q;
}

static void rl_add(struct rl *dst, const struct rl *src)
{
	for (size_t i = 0; i < src->n; i++)
		rl_slot(dst, src->e[i].name)->nano += src->e[i].q.nano;
}

static void rl_max(struct rl *dst, const struct rl *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct quantity *q = rl_slot(dst, src->e[i].name);

		if (src->e[i].q.nano > q->nano)
			*q = src->e[i].q;
	}
}

/* Adds a JSON resource list (requests or limits); @what names it in errors. */
static int rl_add_json(struct rl *l, const json_t *list, const char *what, struct err *err)
{
	const char *name;
	json_t *v;

	if (list && !json_is_object(list) && !json_is_null(list))
		return err_set(err, EINVAL, "%s: expected object", what);
	json_object_foreach ((json_t *)list, name, v) {
		struct quantity q;

		if (qty_of(v, what, name, &q, err) < 0)
			return -err->code;
		rl_slot(l, name)->nano += q.nano;
	}
	return 0;
}

static int64_t rl_milli(const struct rl *l, const char *name)
{
	struct quantity *q = rl_get(l, name);

	return q ? quantity_milli(q) : 0;
}

static int64_t rl_value(const struct rl *l, const char *name)
{
	struct quantity *q = rl_get(l, name);

	return q ? quantity_value(q) : 0;
}

static const json_t *resources_of(const json_t *c, const char *which)
{
	return json_object_get(json_object_get(c, "resources"), which);
}

static bool restartable_init(const json_t *c)
{
	const char *p = str_at(c, "restartPolicy");

	return p && !strcmp(p, "Always");
}

/*
 * PodRequests/PodLimits (pkg/api/v1/resource): the containers' sum, raised to what any init
 * container needs with the sidecars started before it, plus spec.overhead. @ret_declared
 * (limits): every regular container has a non-zero cpu (bit 0) and memory (bit 1) limit.
 */
static int pod_sum(const json_t *pod, const char *which, struct rl *ret, unsigned *ret_declared,
		   struct err *err)
{
	const json_t *spec = json_object_get(pod, "spec");
	struct rl sum = {0}, sidecars = {0}, init = {0};
	unsigned declared = 3;
	const char *name;
	size_t i;
	json_t *c, *v;
	int r = 0;

	json_array_foreach (json_object_get(spec, "containers"), i, c) {
		cleanup_free char *what = xasprintf("spec.containers[%zu].resources.%s", i, which);
		struct rl one = {0};

		r = rl_add_json(&one, resources_of(c, which), what, err);
		if (r < 0) {
			rl_done(&one);
			goto out;
		}
		if (!rl_get(&one, "cpu") || qty_zero(rl_get(&one, "cpu")))
			declared &= ~1u;
		if (!rl_get(&one, "memory") || qty_zero(rl_get(&one, "memory")))
			declared &= ~2u;
		rl_add(&sum, &one);
		rl_done(&one);
	}
	json_array_foreach (json_object_get(spec, "initContainers"), i, c) {
		cleanup_free char *what =
			xasprintf("spec.initContainers[%zu].resources.%s", i, which);
		struct rl one = {0};

		r = rl_add_json(&one, resources_of(c, which), what, err);
		if (r < 0) {
			rl_done(&one);
			goto out;
		}
		if (restartable_init(c)) {
			/* a sidecar keeps running beside everything that starts after it */
			rl_add(&sum, &one);
			rl_add(&sidecars, &one);
			rl_done(&one);
			rl_add(&one, &sidecars);
		} else {
			rl_add(&one, &sidecars);
		}
		rl_max(&init, &one);
		rl_done(&one);
	}
	rl_max(&sum, &init);
	json_object_foreach (json_object_get(spec, "overhead"), name, v) {
		struct quantity q, *have = rl_get(&sum, name);

		r = qty_of(v, "spec.overhead", name, &q, err);
		if (r < 0)
			goto out;
		/* overhead raises every request, but only limits that are set */
		if (!strcmp(which, "requests"))
			rl_slot(&sum, name)->nano += q.nano;
		else if (have && !qty_zero(have))
			have->nano += q.nano;
	}
	*ret = sum;
	sum = (struct rl){0};
	if (ret_declared)
		*ret_declared = declared;
out:
	rl_done(&sum);
	rl_done(&sidecars);
	rl_done(&init);
	return r;
}

/* ---- QoS, pod cgroup ---- */

static bool qos_resource(const char *name)
{
	return !strcmp(name, "cpu") || !strcmp(name, "memory");
}

/* Adds the positive cpu and memory amounts of @list; malformed ones count as absent. */
static unsigned qos_add(struct rl *sum, const json_t *list)
{
	unsigned found = 0;
	const char *name;
	json_t *v;

	json_object_foreach ((json_t *)list, name, v) {
		cleanup_err struct err ignored = ERR_INIT;
		struct quantity q;

		if (!qos_resource(name) || qty_of(v, "", name, &q, &ignored) < 0 || q.nano <= 0)
			continue;
		rl_slot(sum, name)->nano += q.nano;
		found |= !strcmp(name, "cpu") ? 1u : 2u;
	}
	return found;
}

/* ComputePodQOS (pkg/apis/core/v1/helper/qos). */
static const char *qos_compute(const json_t *pod)
{
	static const char *const lists[] = {"containers", "initContainers"};
	const json_t *spec = json_object_get(pod, "spec");
	struct rl req = {0}, lim = {0};
	bool guaranteed = true;
	const char *qos;

	for (size_t l = 0; l < N_ELEMS(lists); l++) {
		size_t i;
		json_t *c;

		json_array_foreach (json_object_get(spec, lists[l]), i, c) {
			qos_add(&req, resources_of(c, "requests"));
			if (qos_add(&lim, resources_of(c, "limits")) != 3)
				guaranteed = false;
		}
	}
	if (req.n == 0 && lim.n == 0) {
		qos = "BestEffort";
		goto out;
	}
	for (size_t i = 0; guaranteed && i < req.n; i++) {
		struct quantity *l = rl_get(&lim, req.e[i].name);

		if (!l || quantity_cmp(l, &req.e[i].q) != 0)
			guaranteed = false;
	}
	qos = guaranteed && req.n == lim.n ? "Guaranteed" : "Burstable";
out:
	rl_done(&req);
	rl_done(&lim);
	return qos;
}

const char *ocispec_qos_class(const json_t *pod)
{
	const char *s = str_at(json_object_get(pod, "status"), "qosClass");

	if (s && (!strcmp(s, "Guaranteed") || !strcmp(s, "Burstable") || !strcmp(s, "BestEffort")))
		return s;
	return qos_compute(pod);
}

static int64_t milli_to_shares(int64_t milli)
{
	int64_t shares;

	if (milli <= 0)
		return MIN_SHARES;
	shares = milli * 1024 / 1000;
	return shares < MIN_SHARES ? MIN_SHARES : shares > MAX_SHARES ? MAX_SHARES : shares;
}

static int64_t milli_to_quota(int64_t milli)
{
	int64_t quota;

	if (milli <= 0)
		return 0;
	quota = milli * QUOTA_PERIOD / 1000;
	return quota < MIN_QUOTA ? MIN_QUOTA : quota;
}

/* "hugepages-2Mi" -> the runtime-spec page size "2MB"; NULL when not a hugepage resource. */
static char *hugepage_size(const char *resource)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
	struct quantity q;
	const char *why;
	uint64_t size;
	size_t u = 0;

	if (strncmp(resource, "hugepages-", 10) != 0 || !quantity_parse(resource + 10, &q, &why) ||
	    quantity_value(&q) <= 0)
		return NULL;
	size = (uint64_t)quantity_value(&q);
	while (u + 1 < N_ELEMS(units) && size % 1024 == 0) {
		size /= 1024;
		u++;
	}
	return xasprintf("%" PRIu64 "%s", size, units[u]);
}

static json_t *hugepage_limits(const struct rl *l)
{
	json_t *a = must(json_array());

	for (size_t i = 0; i < l->n; i++) {
		cleanup_free char *size = hugepage_size(l->e[i].name);

		if (size)
			push(a, json_pack("{s:s, s:I}", "pageSize", size, "limit",
					  (json_int_t)quantity_value(&l->e[i].q)));
	}
	return a;
}

int ocispec_pod_resources(const json_t *pod, json_t **ret_resources, struct err *err)
{
	const char *qos = ocispec_qos_class(pod);
	struct rl req = {0}, lim = {0};
	unsigned declared = 0;
	json_t *res, *cpu, *hp;
	int r;

	r = pod_sum(pod, "requests", &req, NULL, err);
	if (r >= 0)
		r = pod_sum(pod, "limits", &lim, &declared, err);
	if (r < 0) {
		rl_done(&req);
		return r;
	}
	res = must(json_object());
	cpu = must(json_object());
	set(res, "cpu", cpu);
	if (!strcmp(qos, "BestEffort")) {
		set(cpu, "shares", json_integer(MIN_SHARES));
	} else {
		bool g = !strcmp(qos, "Guaranteed");
		int64_t quota = milli_to_quota(rl_milli(&lim, "cpu"));

		set(cpu, "shares", json_integer(milli_to_shares(rl_milli(&req, "cpu"))));
		/* ResourceConfigForPod: Burstable pods are capped only where every container is */
		if (g || (declared & 1)) {
			set(cpu, "quota", json_integer(quota ? quota : -1));
			set(cpu, "period", json_integer(QUOTA_PERIOD));
		}
		if ((g || (declared & 2)) && rl_value(&lim, "memory") > 0)
			set(res, "memory",
			    json_pack("{s:I}", "limit", (json_int_t)rl_value(&lim, "memory")));
	}
	hp = hugepage_limits(&req);
	if (json_array_size(hp))
		set(res, "hugepageLimits", hp);
	else
		json_decref(hp);
	rl_done(&req);
	rl_done(&lim);
	*ret_resources = res;
	return 0;
}

char *ocispec_cgroup_parent(const char *cgroup_root, const json_t *pod)
{
	const char *uid = str_at(json_object_get(pod, "metadata"), "uid");
	const char *qos = ocispec_qos_class(pod);
	size_t len = strlen(cgroup_root);

	if (!uid || !*uid || strchr(uid, '/'))
		return NULL;
	while (len > 0 && cgroup_root[len - 1] == '/')
		len--;
	if (!strcmp(qos, "Guaranteed"))
		return xasprintf("%.*s/pod%s", (int)len, cgroup_root, uid);
	return xasprintf("%.*s/%s/pod%s", (int)len, cgroup_root,
			 !strcmp(qos, "Burstable") ? "burstable" : "besteffort", uid);
}

/* ---- the build ---- */

struct build {
	const struct ocispec_in *in;
	const json_t *pod, *meta, *spec, *c, *sc, *psc;
	const char *cname, *ns, *pname, *uid;
	char *pod_ref;   /* upstream's format.Pod(): name_namespace(uid) */
	struct env kenv; /* the container's declared variables (envFrom, env) */
};

/* A securityContext field: the container's, else the pod's. */
static json_t *sc_field(const struct build *b, const char *key)
{
	json_t *v = json_object_get(b->sc, key);

	if (!v || json_is_null(v))
		v = json_object_get(b->psc, key);
	return v && !json_is_null(v) ? v : NULL;
}

/* Finds a ConfigMap or Secret; *ret_skip when it is missing and @optional. */
static int lookup(struct build *b, bool secret, const char *name, bool optional,
		  const json_t **ret_data, bool *ret_skip, struct err *err)
{
	const json_t *data = NULL;
	int r = -ENOENT;

	if (b->in->lookup)
		r = b->in->lookup(b->in->lookup_arg, secret ? "secrets" : "configmaps", b->ns, name,
				  &data, err);
	if (r == -ENOENT) {
		err_clear(err);
		if (optional) {
			*ret_skip = true;
			return 0;
		}
		return err_set(err, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
			       name);
	}
	if (r < 0)
		return r;
	*ret_data = data;
	*ret_skip = false;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int env_from(struct build *b, struct err *err)
{
	const json_t *list = json_object_get(b->c, "envFrom");
	size_t i;
	json_t *ef;

	json_array_foreach (list, i, ef) {
		const json_t *cm = json_object_get(ef, "configMapRef");
		const json_t *ref = json_is_object(cm) ? cm : json_object_get(ef, "secretRef");
		const char *prefix = str_or(ef, "prefix", ""), *name = str_at(ref, "name"), *key;
		cleanup_free const char **keys = NULL;
		const json_t *data = NULL;
		size_t n = 0;
		bool skip;
		json_t *v;

		if (!json_is_object(ref))
			continue;
		if (!name)
			return err_set(err, EINVAL, "container '%s': envFrom[%zu]: name: required",
				       b->cname, i);
		if (lookup(b, ref != cm, name, true_at(ref, "optional"), &data, &skip, err) < 0)
			return -err->code;
		if (skip)
			continue;
		/* upstream walks a Go map; sorted keys make the result reproducible */
		keys = xcalloc(json_object_size(data) + 1, sizeof(*keys));
		json_object_foreach ((json_t *)data, key, v)
			keys[n++] = key;
		qsort(keys, n, sizeof(*keys), cmp_str);
		for (size_t k = 0; k < n; k++) {
			cleanup_free char *full = xasprintf("%s%s", prefix, keys[k]);
			const char *val = str_at(data, keys[k]);

			if (!env_name_valid(full)) {
				log_debug("container '%s': envFrom %s: '%s' is not a valid "
					  "environment variable name, skipping",
					  b->cname, name, full);
				continue;
			}
			env_set(&b->kenv, full, val ? val : "");
		}
	}
	return 0;
}

/* Go's %q for label values: printable bytes as they are, the rest escaped. */
static void quote_go(struct sb *out, const char *s)
{
	sb_addc(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char buf[8];

		if (c == '"' || c == '\\') {
			sb_addc(out, '\\');
			sb_addc(out, (char)c);
		} else if (c == '\n') {
			sb_add(out, "\\n", 2);
		} else if (c == '\t') {
			sb_add(out, "\\t", 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(buf, sizeof(buf), "\\x%02x", c);
			sb_add(out, buf, 4);
		} else {
			sb_addc(out, (char)c);
		}
	}
	sb_addc(out, '"');
}

/* FormatMap: key="value" lines in key order. */
static char *format_map(const json_t *map)
{
	cleanup_free const char **keys = xcalloc(json_object_size(map) + 1, sizeof(*keys));
	struct sb out = {0};
	const char *key;
	size_t n = 0;
	json_t *v;

	json_object_foreach ((json_t *)map, key, v)
		keys[n++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_addc(&out, '\n');
		sb_add(&out, keys[i], strlen(keys[i]));
		sb_addc(&out, '=');
		quote_go(&out, str_or(map, keys[i], ""));
	}
	return sb_take(&out);
}

static const char *node_name(const struct build *b)
{
	const char *n = str_at(b->spec, "nodeName");

	return n && *n ? n : b->in->node_name ? b->in->node_name : "";
}

static const char *pod_ip(const struct build *b)
{
	return b->in->pod_ip ? b->in->pod_ip
			     : str_or(json_object_get(b->pod, "status"), "podIP", "");
}

static const char *host_ip(const struct build *b)
{
	return b->in->host_ip ? b->in->host_ip
			      : str_or(json_object_get(b->pod, "status"), "hostIP", "");
}

/* fieldRef (podFieldSelectorRuntimeValue, ConvertDownwardAPIFieldLabel). */
static int field_value(const struct build *b, const json_t *ref, char **ret, struct err *err)
{
	const char *version = str_or(ref, "apiVersion", "v1"), *path = str_at(ref, "fieldPath");
	const char *open;
	size_t len;

	if (strcmp(version, "v1") != 0)
		return err_set(err, EINVAL, "unsupported pod version: %s", version);
	if (!path)
		return err_set(err, EINVAL, "container '%s': fieldRef.fieldPath: required",
			       b->cname);
	len = strlen(path);
	open = strstr(path, "['");
	if (open && (size_t)(open - path) + 4 <= len && !strcmp(path + len - 2, "']")) {
		size_t plen = (size_t)(open - path);
		cleanup_free char *key = xstrndup(open + 2, len - 2 - plen - 2);
		const json_t *map;

		if (plen == 20 && !strncmp(path, "metadata.annotations", plen))
			map = json_object_get(b->meta, "annotations");
		else if (plen == 15 && !strncmp(path, "metadata.labels", plen))
			map = json_object_get(b->meta, "labels");
		else
			return err_set(err, EINVAL, "field label does not support subscript: %s",
				       path);
		*ret = xstrdup(str_or(map, key, ""));
		return 0;
	}
	if (!strcmp(path, "metadata.name") || !strcmp(path, "metadata.namespace") ||
	    !strcmp(path, "metadata.uid"))
		*ret = xstrdup(str_or(b->meta, path + 9, ""));
	else if (!strcmp(path, "metadata.labels") || !strcmp(path, "metadata.annotations"))
		*ret = format_map(json_object_get(b->meta, path + 9));
	else if (!strcmp(path, "spec.nodeName") || !strcmp(path, "spec.host"))
		*ret = xstrdup(node_name(b));
	else if (!strcmp(path, "spec.serviceAccountName"))
		*ret = xstrdup(str_or(b->spec, "serviceAccountName", ""));
	else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
		*ret = xstrdup(host_ip(b));
	else if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
		*ret = xstrdup(pod_ip(b));
	else if (!strcmp(path, "spec.restartPolicy") || !strcmp(path, "spec.schedulerName") ||
		 !strcmp(path, "status.phase"))
		return err_set(err, EINVAL, "unsupported fieldPath: %s", path);
	else
		return err_set(err, EINVAL, "field label not supported: %s", path);
	return 0;
}

static const json_t *find_container(const json_t *spec, const char *name)
{
	static const char *const lists[] = {"containers", "initContainers"};

	for (size_t l = 0; l < N_ELEMS(lists); l++) {
		size_t i;
		json_t *c;

		json_array_foreach (json_object_get(spec, lists[l]), i, c) {
			const char *n = str_at(c, "name");

			if (n && !strcmp(n, name))
				return c;
		}
	}
	return NULL;
}

static int64_t ceil_div(int64_t a, int64_t d)
{
	if (a <= 0)
		return a / d;
	return a / d + (a % d != 0);
}

/*
 * resourceFieldRef (ExtractContainerResourceValue), with limits that are not set taken from
 * the node's allocatable as the kubelet does for the downward API.
 */
static int resource_value(const struct build *b, const json_t *ref, char **ret, struct err *err)
{
	const char *cname = str_or(ref, "containerName", NULL), *res = str_at(ref, "resource");
	const json_t *c = b->c, *div = json_object_get(ref, "divisor");
	struct quantity q = {0}, d = {0};
	const char *name, *which, *why = NULL;
	bool limits;
	json_t *v;

	if (cname && strcmp(cname, b->cname) != 0) {
		c = find_container(b->spec, cname);
		if (!c)
			return err_set(err, EINVAL, "container %s not found", cname);
	}
	if (!res)
		return err_set(err, EINVAL, "container '%s': resourceFieldRef.resource: required",
			       b->cname);
	limits = !strncmp(res, "limits.", 7);
	if (!limits && strncmp(res, "requests.", 9) != 0)
		return err_set(err, EINVAL, "unsupported container resource : %s", res);
	which = limits ? "limits" : "requests";
	name = res + (limits ? 7 : 9);
	if (strcmp(name, "cpu") && strcmp(name, "memory") && strcmp(name, "ephemeral-storage") &&
	    strncmp(name, "hugepages-", 10))
		return err_set(err, EINVAL, "unsupported container resource : %s", res);
	if (div && !json_is_null(div) && qty_of(div, "resourceFieldRef", "divisor", &d, err) < 0)
		return -err->code;
	if (d.nano < 0)
		return err_set(err, EINVAL, "container '%s': resourceFieldRef.divisor: negative",
			       b->cname);
	if (qty_zero(&d))
		quantity_parse("1", &d, &why);
	v = json_object_get(resources_of(c, which), name);
	if (v && qty_of(v, which, name, &q, err) < 0)
		return -err->code;
	if (limits && qty_zero(&q) && strncmp(name, "hugepages-", 10) != 0) {
		v = json_object_get(b->in->allocatable, name);
		if (v && qty_of(v, "allocatable", name, &q, err) < 0)
			return -err->code;
	}
	if (!strcmp(name, "cpu"))
		*ret = xasprintf("%" PRId64, ceil_div(quantity_milli(&q), quantity_milli(&d)));
	else
		*ret = xasprintf("%" PRId64, ceil_div(quantity_value(&q), quantity_value(&d)));
	return 0;
}

/* configMapKeyRef / secretKeyRef; *ret NULL when optional and missing. */
static int key_value(struct build *b, const json_t *ref, bool secret, char **ret, struct err *err)
{
	const char *name = str_at(ref, "name"), *key = str_at(ref, "key"), *val;
	bool optional = true_at(ref, "optional"), skip;
	const json_t *data = NULL;

	if (!name || !key)
		return err_set(err, EINVAL, "container '%s': %s: name and key are required",
			       b->cname, secret ? "secretKeyRef" : "configMapKeyRef");
	if (lookup(b, secret, name, optional, &data, &skip, err) < 0)
		return -err->code;
	*ret = NULL;
	if (skip)
		return 0;
	val = str_at(data, key);
	if (!val) {
		if (optional)
			return 0;
		return err_set(err, ENOENT, "couldn't find key %s in %s %s/%s", key,
			       secret ? "Secret" : "ConfigMap", b->ns, name);
	}
	*ret = xstrdup(val);
	return 0;
}

/* The env list (makeEnvironmentVariables): a value expands earlier ones; valueFrom sources. */
static int env_declared(struct build *b, struct err *err)
{
	size_t i;
	json_t *e;

	json_array_foreach (json_object_get(b->c, "env"), i, e) {
		const char *name = str_at(e, "name"), *value = str_at(e, "value");
		const json_t *from = json_object_get(e, "valueFrom"), *ref;
		cleanup_free char *val = NULL;
		int r = 0;

		if (!name || !*name)
			return err_set(err, EINVAL, "container '%s': env[%zu].name: required",
				       b->cname, i);
		if (value && *value) {
			val = expand(value, &b->kenv);
		} else if (json_is_object(from)) {
			if (json_is_object(ref = json_object_get(from, "fieldRef")))
				r = field_value(b, ref, &val, err);
			else if (json_is_object(ref = json_object_get(from, "resourceFieldRef")))
				r = resource_value(b, ref, &val, err);
			else if (json_is_object(ref = json_object_get(from, "configMapKeyRef")))
				r = key_value(b, ref, false, &val, err);
			else if (json_is_object(ref = json_object_get(from, "secretKeyRef")))
				r = key_value(b, ref, true, &val, err);
			else
				val = xstrdup("");
			if (r < 0)
				return r;
			if (!val)
				continue; /* optional and missing: the variable is left out */
		} else {
			val = xstrdup("");
		}
		env_set(&b->kenv, name, val);
	}
	return 0;
}

static char *pod_hostname(const struct build *b)
{
	const char *h = b->in->hostname;
	char buf[HOST_NAME_MAX + 1];
	size_t len;

	if (h)
		return xstrdup(h);
	if (true_at(b->spec, "hostNetwork")) {
		if (gethostname(buf, sizeof(buf)) < 0)
			return xstrdup(node_name(b));
		buf[sizeof(buf) - 1] = '\0';
		return xstrdup(buf);
	}
	h = str_or(b->spec, "hostname", b->pname);
	/* truncatePodHostnameIfNeeded */
	len = strlen(h);
	if (len > HOSTNAME_MAX)
		len = HOSTNAME_MAX;
	while (len > 0 && (h[len - 1] == '-' || h[len - 1] == '.'))
		len--;
	return xstrndup(h, len);
}

static void strv_push(json_t *arr, const json_t *src, const struct env *vars)
{
	size_t i;
	json_t *v;

	json_array_foreach (src, i, v) {
		if (!json_is_string(v))
			continue;
		cleanup_free char *s =
			vars ? expand(json_string_value(v), vars) : xstrdup(json_string_value(v));

		push(arr, json_string_nocheck(s));
	}
}

/* The argv (containerd's WithProcessArgs after the kubelet's expansion). */
static int build_args(const struct build *b, json_t *proc, struct err *err)
{
	const json_t *cmd = json_object_get(b->c, "command"), *args = json_object_get(b->c, "args");
	const json_t *img = b->in->image_config, *ep = json_object_get(img, "Entrypoint");
	const json_t *ep0 = json_array_get(ep, 0);
	json_t *argv = must(json_array());

	if (cmd && !json_is_array(cmd) && !json_is_null(cmd))
		goto bad;
	if (args && !json_is_array(args) && !json_is_null(args))
		goto bad;
	if (json_array_size(cmd)) {
		strv_push(argv, cmd, &b->kenv);
		strv_push(argv, args, &b->kenv);
	} else {
		/* an image entrypoint of [""] is Docker's way of saying "none" */
		if (!(json_array_size(ep) == 1 && json_is_string(ep0) && !*json_string_value(ep0)))
			strv_push(argv, ep, NULL);
		if (json_array_size(args))
			strv_push(argv, args, &b->kenv);
		else
			strv_push(argv, json_object_get(img, "Cmd"), NULL);
	}
	if (!json_array_size(argv)) {
		json_decref(argv);
		return err_set(err, EINVAL, "container '%s': no command specified", b->cname);
	}
	set(proc, "args", argv);
	return 0;
bad:
	json_decref(argv);
	return err_set(err, EINVAL, "container '%s': command and args: expected arrays of strings",
		       b->cname);
}

/* ---- users and groups ---- */

/* Reads etc/@name inside @rootfs, resolving symlinks as the container would; NULL if absent. */
static char *read_in_root(const char *rootfs, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	cleanup_close int root = -1, fd = -1;
	struct stat st;
	char *buf;
	ssize_t n;

	if (!rootfs)
		return NULL;
	root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return NULL;
	fd = (int)syscall(SYS_openat2, root, name, &how, sizeof(how));
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > ID_FILE_MAX)
		return NULL;
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Splits one line into at most @max ':'-separated fields; returns how many. */
static size_t fields_of(const char *line, const char *end, const char **f, size_t *flen, size_t max)
{
	size_t n = 0;

	while (n < max) {
		const char *colon = memchr(line, ':', (size_t)(end - line));

		f[n] = line;
		flen[n] = (size_t)((colon ? colon : end) - line);
		n++;
		if (!colon)
			break;
		line = colon + 1;
	}
	return n;
}

static bool parse_id(const char *s, size_t len, uint32_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*ret = (uint32_t)v;
	return true;
}

struct id_entry {
	char *name;
	uint32_t id, gid; /* gid: passwd only */
};

/*
 * Finds a passwd (@group false) or group entry by @name or, when @name is NULL, by @id.
 * Returns false when there is none.
 */
static bool id_find(const char *text, bool group, const char *name, uint32_t id,
		    struct id_entry *ret)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchrnul(line, '\n'), *f[4];
		size_t fl[4], n = fields_of(line, nl, f, fl, 4);
		uint32_t eid, egid = 0;

		line = *nl ? nl + 1 : nl;
		if (n < 3 || !parse_id(f[2], fl[2], &eid) || (!group && n < 4) ||
		    (!group && !parse_id(f[3], fl[3], &egid)))
			continue;
		if (name ? strlen(name) != fl[0] || memcmp(name, f[0], fl[0]) : eid != id)
			continue;
		ret->name = xstrndup(f[0], fl[0]);
		ret->id = eid;
		ret->gid = egid;
		return true;
	}
	return false;
}

static void gid_add(json_t *gids, uint32_t gid)
{
	size_t i;
	json_t *v;

	json_array_foreach (gids, i, v) {
		if (json_integer_value(v) == gid)
			return;
	}
	push(gids, json_integer(gid));
}

/* The groups whose member list names @user (containerd's WithAdditionalGIDs). */
static void member_gids(const char *text, const char *user, json_t *gids)
{
	size_t ulen = strlen(user);

	for (const char *line = text; line && *line;) {
		const char *nl = strchrnul(line, '\n'), *f[4];
		size_t fl[4], n = fields_of(line, nl, f, fl, 4);
		const char *m, *end;
		uint32_t gid;

		line = *nl ? nl + 1 : nl;
		if (n < 4 || !parse_id(f[2], fl[2], &gid))
			continue;
		for (m = f[3], end = f[3] + fl[3]; m < end;) {
			const char *comma = memchr(m, ',', (size_t)(end - m));
			size_t len = (size_t)((comma ? comma : end) - m);

			if (len == ulen && !memcmp(m, user, len))
				gid_add(gids, gid);
			m += len + 1;
		}
	}
}

static int int_field(const struct build *b, const char *key, int64_t *ret, struct err *err)
{
	json_t *v = sc_field(b, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= UINT32_MAX)
		return err_set(err, EINVAL, "container '%s': securityContext.%s: expected an id",
			       b->cname, key);
	*ret = json_integer_value(v);
	return 1;
}

static int non_root_error(const struct build *b, const char *what, struct err *err)
{
	return err_set(err, EPERM, "%s (pod: \"%s\", container: %s)", what, b->pod_ref, b->cname);
}

/*
 * process.user: runAsUser/runAsGroup, else the image's USER (names resolved in the image's
 * /etc/passwd and /etc/group), plus the groups the user belongs to there, supplementalGroups
 * and fsGroup. Enforces runAsNonRoot.
 */
static int build_user(const struct build *b, json_t *proc, struct err *err)
{
	const char *iu = str_or(b->in->image_config, "User", "");
	cleanup_free char *passwd = read_in_root(b->in->rootfs, "etc/passwd");
	cleanup_free char *group = read_in_root(b->in->rootfs, "etc/group");
	cleanup_free char *uname = NULL, *ipart = NULL;
	json_t *nr = sc_field(b, "runAsNonRoot"), *gids, *v;
	int64_t run_uid = -1, run_gid = -1;
	bool non_root = json_is_true(nr), has_uid, has_gid;
	const char *policy = str_or(b->psc, "supplementalGroupsPolicy", "Merge");
	struct id_entry e = {0};
	uint32_t uid = 0, gid = 0;
	char *gpart = NULL;
	size_t i;
	int r;

	r = int_field(b, "runAsUser", &run_uid, err);
	if (r < 0)
		return r;
	has_uid = r > 0;
	r = int_field(b, "runAsGroup", &run_gid, err);
	if (r < 0)
		return r;
	has_gid = r > 0;
	if (has_uid) {
		if (non_root && run_uid == 0)
			return non_root_error(b, "container's runAsUser breaks non-root policy",
					      err);
		uid = (uint32_t)run_uid;
	} else if (*iu) {
		ipart = xstrdup(iu);
		gpart = strchr(ipart, ':');
		if (gpart)
			*gpart++ = '\0';
		if (!parse_id(ipart, strlen(ipart), &uid)) {
			if (!id_find(passwd, false, ipart, 0, &e)) {
				if (non_root)
					return err_set(
						err, EPERM,
						"container has runAsNonRoot and image has "
						"non-numeric user (%s), cannot verify user is "
						"non-root (pod: \"%s\", container: %s)",
						ipart, b->pod_ref, b->cname);
				return err_set(
					err, ENOENT,
					"unable to find user %s: no matching entries in passwd "
					"file",
					ipart);
			}
			uid = e.id;
			uname = e.name;
			gid = e.gid;
			e.name = NULL;
		}
	}
	if (!has_uid && non_root && uid == 0)
		return non_root_error(b, "container has runAsNonRoot and image will run as root",
				      err);
	if (!uname && id_find(passwd, false, NULL, uid, &e)) {
		uname = e.name;
		gid = e.gid;
	}
	if (gpart && *gpart && !parse_id(gpart, strlen(gpart), &gid)) {
		struct id_entry g = {0};

		if (!id_find(group, true, gpart, 0, &g))
			return err_set(err, ENOENT,
				       "unable to find group %s: no matching entries in group file",
				       gpart);
		gid = g.id;
		free(g.name);
	}
	if (has_gid)
		gid = (uint32_t)run_gid;
	gids = must(json_array());
	gid_add(gids, gid);
	if (uname && strcmp(policy, "Strict") != 0)
		member_gids(group, uname, gids);
	json_array_foreach (json_object_get(b->psc, "supplementalGroups"), i, v) {
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) < UINT32_MAX)
			gid_add(gids, (uint32_t)json_integer_value(v));
	}
	v = json_object_get(b->psc, "fsGroup");
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < UINT32_MAX)
		gid_add(gids, (uint32_t)json_integer_value(v));
	set(proc, "user",
	    json_pack("{s:I, s:I, s:o}", "uid", (json_int_t)uid, "gid", (json_int_t)gid,
		      "additionalGids", gids));
	return 0;
}

/* ---- capabilities, seccomp, devices ---- */

static int cap_index(const json_t *all, const char *name)
{
	char buf[64];
	size_t i, o = 0;
	json_t *v;

	if (strncasecmp(name, "CAP_", 4) != 0)
		o = (size_t)snprintf(buf, sizeof(buf), "CAP_");
	for (; *name && o < sizeof(buf) - 1; name++)
		buf[o++] = (char)toupper((unsigned char)*name);
	buf[o] = '\0';
	json_array_foreach (all, i, v) {
		if (!strcmp(json_string_value(v), buf))
			return (int)i;
	}
	return -1;
}

static bool list_has_all(const json_t *list)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v) {
		if (json_is_string(v) && !strcasecmp(json_string_value(v), "ALL"))
			return true;
	}
	return false;
}

/* Applies an add (@on) or drop list to @have, indexed like @all. */
static int caps_apply(const struct build *b, const json_t *all, const json_t *list,
		      const char *which, bool on, bool *have, struct err *err)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v) {
		int idx;

		if (!json_is_string(v))
			return err_set(err, EINVAL,
				       "container '%s': securityContext.capabilities.%s[%zu]: "
				       "expected string",
				       b->cname, which, i);
		if (!strcasecmp(json_string_value(v), "ALL"))
			continue;
		idx = cap_index(all, json_string_value(v));
		if (idx < 0)
			return err_set(err, EINVAL,
				       "container '%s': securityContext.capabilities.%s[%zu]: "
				       "unknown capability '%s'",
				       b->cname, which, i, json_string_value(v));
		have[idx] = on;
	}
	return 0;
}

/*
 * The bounding, effective and permitted sets: the runtime default, "ALL" added, then "ALL"
 * dropped, then single names added and dropped (containerd's order). Privileged: all.
 */
static int build_caps(const struct build *b, bool privileged, const json_t *dflt, json_t *proc,
		      struct err *err)
{
	cleanup_json json_t *features = rt_features();
	const json_t *all = json_object_get(json_object_get(features, "linux"), "capabilities");
	const json_t *caps = json_object_get(b->sc, "capabilities");
	const json_t *add = json_object_get(caps, "add"), *drop = json_object_get(caps, "drop");
	size_t n = json_array_size(all), i;
	cleanup_free bool *have = xcalloc(n + 1, sizeof(bool));
	json_t *list, *v;

	json_array_foreach (dflt, i, v) {
		int idx = cap_index(all, json_string_value(v));

		if (idx >= 0)
			have[idx] = true;
	}
	if (privileged || list_has_all(add)) {
		for (i = 0; i < n; i++)
			have[i] = true;
	}
	if (!privileged) {
		if (list_has_all(drop))
			memset(have, 0, n * sizeof(bool));
		if (caps_apply(b, all, add, "add", true, have, err) < 0 ||
		    caps_apply(b, all, drop, "drop", false, have, err) < 0)
			return -err->code;
	}
	list = must(json_array());
	for (i = 0; i < n; i++) {
		if (have[i])
			push(list, json_string(json_string_value(json_array_get(all, i))));
	}
	set(proc, "capabilities",
	    json_pack("{s:o, s:o, s:o}", "bounding", json_deep_copy(list), "effective",
		      json_deep_copy(list), "permitted", list));
	return 0;
}

/* The device nodes below @dir (runc's HostDevices), as linux.devices entries under /dev. */
static void host_devices(json_t *out, int dirfd, const char *rel, unsigned depth)
{
	static const char *const skip[] = {"pts", "shm", "fd", "mqueue", "console"};
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) && json_array_size(out) < HOST_DEVICES_MAX) {
		cleanup_free char *path = NULL;
		struct stat st;
		bool skipped = false;

		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; depth == 0 && i < N_ELEMS(skip); i++)
			skipped |= !strcmp(de->d_name, skip[i]);
		if (skipped || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		path = xasprintf("%s/%s", rel, de->d_name);
		if (S_ISDIR(st.st_mode) && depth < HOST_DEVICES_DEPTH) {
			cleanup_close int sub = openat(
				dirfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				host_devices(out, sub, path, depth + 1);
			continue;
		}
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			continue;
		push(out, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "path", path, "type",
				    S_ISCHR(st.st_mode) ? "c" : "b", "major",
				    (json_int_t)major(st.st_rdev), "minor",
				    (json_int_t)minor(st.st_rdev), "fileMode",
				    (json_int_t)(st.st_mode & 07777), "uid", (json_int_t)st.st_uid,
				    "gid", (json_int_t)st.st_gid));
	}
}

static int build_seccomp(const struct build *b, bool privileged, json_t *linux_, struct err *err)
{
	const json_t *p = sc_field(b, "seccompProfile");
	const char *type = str_or(p, "type", "Unconfined");

	/* a privileged container is never filtered (containerd) */
	if (privileged || !strcmp(type, "Unconfined")) {
		json_object_del(linux_, "seccomp");
		return 0;
	}
	if (!strcmp(type, "RuntimeDefault"))
		return 0; /* the default spec's profile: Docker's, for the default capabilities */
	return err_set(err, EOPNOTSUPP,
		       "container '%s': seccompProfile type '%s' is not supported (use "
		       "RuntimeDefault or Unconfined)",
		       b->cname, type);
}

/* ---- resources ---- */

static int oom_score_adj(const struct build *b, const char *qos, const struct rl *req)
{
	const json_t *ann = json_object_get(b->meta, "annotations");
	const json_t *prio = json_object_get(b->spec, "priority");
	const char *source = str_at(ann, "kubernetes.io/config.source");
	int64_t cap = b->in->memory_capacity, mem = rl_value(req, "memory"), adj;
	bool critical = (json_is_integer(prio) && json_integer_value(prio) >= CRITICAL_PRIORITY) ||
			json_object_get(ann, "kubernetes.io/config.mirror") ||
			(source && strcmp(source, "api") != 0);

	if (critical && !strcmp(str_or(b->spec, "priorityClassName", ""), "system-node-critical"))
		return GUARANTEED_OOM_ADJ;
	if (!strcmp(qos, "Guaranteed"))
		return GUARANTEED_OOM_ADJ;
	if (!strcmp(qos, "BestEffort"))
		return BESTEFFORT_OOM_ADJ;
	if (cap <= 0) {
		const json_t *v = json_object_get(b->in->allocatable, "memory");
		struct quantity q;
		cleanup_err struct err ignored = ERR_INIT;

		if (v && qty_of(v, "allocatable", "memory", &q, &ignored) == 0)
			cap = quantity_value(&q);
	}
	if (cap <= 0)
		return BESTEFFORT_OOM_ADJ - 1;
	adj = 1000 - (1000 * mem) / cap;
	/* a sidecar is not killed before the smallest regular container (policy.go) */
	if (restartable_init(b->c)) {
		int64_t min = -1;
		size_t i;
		json_t *c;

		json_array_foreach (json_object_get(b->spec, "containers"), i, c) {
			struct rl one = {0};
			cleanup_err struct err ignored = ERR_INIT;

			if (rl_add_json(&one, resources_of(c, "requests"), "", &ignored) == 0 &&
			    (min < 0 || rl_value(&one, "memory") < min))
				min = rl_value(&one, "memory");
			rl_done(&one);
		}
		if (min > 0 && adj > 1000 - (1000 * min) / cap)
			adj = 1000 - (1000 * min) / cap;
	}
	if (adj < 1000 + GUARANTEED_OOM_ADJ)
		return 1000 + GUARANTEED_OOM_ADJ;
	if (adj == BESTEFFORT_OOM_ADJ)
		return (int)adj - 1;
	return (int)adj;
}

/* linux.resources of the container (calculateLinuxResources); keeps the devices rules. */
static int build_resources(const struct build *b, json_t *linux_, json_t *proc, bool privileged,
			   struct err *err)
{
	cleanup_free char *wreq = xasprintf("container '%s': resources.requests", b->cname);
	cleanup_free char *wlim = xasprintf("container '%s': resources.limits", b->cname);
	json_t *res = json_object_get(linux_, "resources"), *cpu = must(json_object()), *hp;
	struct rl req = {0}, lim = {0};
	int64_t cpu_req, cpu_lim, mem;
	int r;

	r = rl_add_json(&req, resources_of(b->c, "requests"), wreq, err);
	if (r >= 0)
		r = rl_add_json(&lim, resources_of(b->c, "limits"), wlim, err);
	if (r < 0) {
		json_decref(cpu);
		goto out;
	}
	if (!json_is_object(res)) {
		res = must(json_object());
		set(linux_, "resources", res);
	}
	if (privileged)
		set(res, "devices", json_pack("[{s:b, s:s}]", "allow", 1, "access", "rwm"));
	cpu_req = rl_milli(&req, "cpu");
	cpu_lim = rl_milli(&lim, "cpu");
	/* a request left out defaults to the limit (the API server does so for new pods) */
	set(cpu, "shares", json_integer(milli_to_shares(cpu_req == 0 ? cpu_lim : cpu_req)));
	if (cpu_lim > 0) {
		set(cpu, "quota", json_integer(milli_to_quota(cpu_lim)));
		set(cpu, "period", json_integer(QUOTA_PERIOD));
	}
	set(res, "cpu", cpu);
	mem = rl_value(&lim, "memory");
	if (mem > 0)
		set(res, "memory", json_pack("{s:I}", "limit", (json_int_t)mem));
	hp = hugepage_limits(&lim);
	if (json_array_size(hp))
		set(res, "hugepageLimits", hp);
	else
		json_decref(hp);
	set(proc, "oomScoreAdj", json_integer(oom_score_adj(b, ocispec_qos_class(b->pod), &req)));
out:
	rl_done(&req);
	rl_done(&lim);
	return r;
}

/* ---- mounts ---- */

static size_t path_depth(const char *p)
{
	size_t n = 0;

	for (; *p; p++) {
		if (*p != '/' && (p[1] == '/' || p[1] == '\0'))
			n++;
	}
	return n;
}

static bool same_path(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && !memcmp(a, b, la);
}

static bool has_dest(const json_t *mounts, const char *dest)
{
	size_t i;
	json_t *m;

	json_array_foreach (mounts, i, m) {
		const char *d = str_at(m, "destination");

		if (d && same_path(d, dest))
			return true;
	}
	return false;
}

static json_t *bind_mount(const char *dest, const char *src, bool ro)
{
	return json_pack("{s:s, s:s, s:s, s:[s, s, s]}", "destination", dest, "type", "bind",
			 "source", src, "options", "rbind", "rprivate", ro ? "ro" : "rw");
}

/* Replaces option @from by @to in a mount's options (sysfs/cgroup "ro" -> "rw"). */
static void option_swap(json_t *m, const char *from, const char *to)
{
	json_t *opts = json_object_get(m, "options"), *v;
	size_t i;

	json_array_foreach (opts, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), from))
			json_array_set_new(opts, i, must(json_string(to)));
	}
}

/*
 * The default mounts (adjusted for privileged, the pod's /dev/shm), without those a pod's
 * mount replaces (the same destination, or anything below a /dev of its own), then the
 * pod's mounts, parents before children (containerd's WithMounts).
 */
static int build_mounts(const struct build *b, json_t *cfg, bool privileged, bool ro,
			struct err *err)
{
	const struct ocispec_in *in = b->in;
	const json_t *vols = in->volume_mounts;
	const char *tlog = str_or(b->c, "terminationMessagePath", "/dev/termination-log");
	json_t *base = json_object_get(cfg, "mounts"), *user = must(json_array());
	json_t *out = must(json_array()), *m;
	const struct {
		const char *dest, *src;
		bool ro;
	} files[] = {
		{"/etc/hosts", in->hosts_path, false},
		{"/etc/hostname", in->hostname_path, ro},
		{"/etc/resolv.conf", in->resolv_conf_path, ro},
		{tlog, in->termination_log_path, false},
	};
	bool user_dev;
	size_t i;

	if (vols && !json_is_array(vols))
		goto bad;
	for (i = 0; i < N_ELEMS(files); i++) {
		if (files[i].src && !has_dest(vols, files[i].dest))
			push(user, bind_mount(files[i].dest, files[i].src, files[i].ro));
	}
	json_array_foreach (vols, i, m) {
		const char *d = str_at(m, "destination");

		if (!json_is_object(m) || !d || d[0] != '/') {
			json_decref(user);
			json_decref(out);
			return err_set(
				err, EINVAL,
				"container '%s': volume mount %zu: expected an OCI mount with "
				"an absolute destination",
				b->cname, i);
		}
		push(user, json_deep_copy(m));
	}
	/* a stable insertion sort: mounts of the same depth keep the order they were given */
	for (i = 1; i < json_array_size(user); i++) {
		size_t j = i;
		json_t *cur = json_incref(json_array_get(user, i));
		size_t depth = path_depth(str_at(cur, "destination"));

		while (j > 0 &&
		       path_depth(str_at(json_array_get(user, j - 1), "destination")) > depth) {
			json_array_set(user, j, json_array_get(user, j - 1));
			j--;
		}
		json_array_set_new(user, j, cur);
	}
	user_dev = has_dest(user, "/dev");
	json_array_foreach (base, i, m) {
		const char *d = str_at(m, "destination");

		if (!d || has_dest(user, d) || (user_dev && !strncmp(d, "/dev/", 5)))
			continue;
		if (!strcmp(d, "/dev/shm") && (in->shm_path || true_at(b->spec, "hostIPC"))) {
			push(out, json_pack("{s:s, s:s, s:s, s:[s, s, s, s]}", "destination",
					    "/dev/shm", "type", "bind", "source",
					    in->shm_path ? in->shm_path : "/dev/shm", "options",
					    "rbind", "nosuid", "nodev", "noexec"));
			continue;
		}
		if (privileged && (!strcmp(d, "/sys") || !strcmp(d, "/sys/fs/cgroup")))
			option_swap(m, "ro", "rw");
		push(out, json_incref(m));
	}
	json_array_extend(out, user);
	json_decref(user);
	set(cfg, "mounts", out);
	return 0;
bad:
	json_decref(user);
	json_decref(out);
	return err_set(err, EINVAL, "container '%s': volume mounts: expected an array", b->cname);
}

/* ---- namespaces, sysctls ---- */

static json_t *ns_entry(const char *type, const char *path)
{
	if (path)
		return json_pack("{s:s, s:s}", "type", type, "path", path);
	return json_pack("{s:s}", "type", type);
}

static void build_namespaces(const struct build *b, json_t *linux_)
{
	const struct ocispec_in *in = b->in;
	bool host_net = true_at(b->spec, "hostNetwork");
	json_t *ns = must(json_array());

	if (!true_at(b->spec, "hostPID"))
		push(ns, ns_entry("pid",
				  true_at(b->spec, "shareProcessNamespace") ? in->ns_pid : NULL));
	if (!host_net)
		push(ns, ns_entry("network", in->ns_net));
	if (!true_at(b->spec, "hostIPC"))
		push(ns, ns_entry("ipc", in->ns_ipc));
	if (!host_net)
		push(ns, ns_entry("uts", in->ns_uts));
	push(ns, ns_entry("mount", NULL));
	push(ns, ns_entry("cgroup", NULL));
	set(linux_, "namespaces", ns);
}

static int build_sysctls(const struct build *b, json_t *linux_, struct err *err)
{
	const json_t *list = json_object_get(b->psc, "sysctls");
	json_t *out, *s;
	size_t i;

	if (!json_array_size(list))
		return 0;
	out = must(json_object());
	json_array_foreach (list, i, s) {
		const char *name = str_at(s, "name"), *value = str_at(s, "value");
		cleanup_free char *key = NULL;

		if (!name || !value) {
			json_decref(out);
			return err_set(err, EINVAL,
				       "pod securityContext.sysctls[%zu]: name and value are "
				       "required",
				       i);
		}
		key = xstrdup(name);
		/* "net/ipv4/ip_forward" is the same sysctl as "net.ipv4.ip_forward" */
		if (strcspn(key, "./") < strlen(key) && key[strcspn(key, "./")] == '/') {
			for (char *p = key; *p; p++)
				*p = *p == '/' ? '.' : *p == '.' ? '/' : *p;
		}
		set(out, key, json_string(value));
	}
	set(linux_, "sysctl", out);
	return 0;
}

/* ---- ocispec_build ---- */

static int build_config(struct build *b, json_t *cfg, struct err *err)
{
	const struct ocispec_in *in = b->in;
	json_t *proc = json_object_get(cfg, "process"), *linux_ = json_object_get(cfg, "linux");
	cleanup_json json_t *dflt_caps =
		json_incref(json_object_get(json_object_get(proc, "capabilities"), "bounding"));
	cleanup_free char *hostname = pod_hostname(b);
	json_t *priv = json_object_get(b->sc, "privileged");
	bool privileged = json_is_true(priv);
	bool ro = true_at(b->sc, "readOnlyRootFilesystem");
	json_t *ape = json_object_get(b->sc, "allowPrivilegeEscalation"), *v;
	struct env env = {0};
	const char *wd;
	size_t i;
	int r;

	if (!json_is_object(proc) || !json_is_object(linux_))
		return err_set(err, EINVAL, "default spec: process and linux: expected objects");
	if (env_from(b, err) < 0 || env_declared(b, err) < 0)
		return -err->code;
	/* containerd: a default PATH, HOSTNAME, the image's, then the pod's variables */
	env_set(&env, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_set(&env, "HOSTNAME", hostname);
	json_array_foreach (json_object_get(in->image_config, "Env"), i, v) {
		if (json_is_string(v))
			env_set_pair(&env, json_string_value(v));
	}
	for (i = 0; i < b->kenv.n; i++)
		env_set(&env, b->kenv.key[i], b->kenv.val[i]);
	set(proc, "env", env_json(&env));
	env_done(&env);
	r = build_args(b, proc, err);
	if (r < 0)
		return r;
	wd = str_or(b->c, "workingDir", str_or(in->image_config, "WorkingDir", "/"));
	set(proc, "cwd", json_string(wd));
	set(proc, "terminal", json_boolean(true_at(b->c, "tty")));
	r = build_user(b, proc, err);
	if (r < 0)
		return r;
	r = build_caps(b, privileged, dflt_caps, proc, err);
	if (r < 0)
		return r;
	/* AddNoNewPrivileges: only an explicit allowPrivilegeEscalation: false sets it */
	set(proc, "noNewPrivileges", json_boolean(json_is_false(ape) && !privileged));
	/* containers inherit the agent's limits, as under containerd: no rlimits entry */
	json_object_del(proc, "rlimits");
	set(cfg, "root", json_pack("{s:s, s:b}", "path", in->rootfs, "readonly", ro));
	/* joining the sandbox's UTS namespace: its pause process set the name already */
	if (true_at(b->spec, "hostNetwork") || in->ns_uts)
		json_object_del(cfg, "hostname");
	else
		set(cfg, "hostname", json_string(hostname));
	r = build_mounts(b, cfg, privileged, ro, err);
	if (r < 0)
		return r;
	set(cfg, "annotations",
	    json_pack("{s:s, s:s, s:s, s:s}", "io.kubernetes.pod.name", b->pname,
		      "io.kubernetes.pod.namespace", b->ns, "io.kubernetes.pod.uid", b->uid,
		      "io.kubernetes.container.name", b->cname));
	build_namespaces(b, linux_);
	r = build_resources(b, linux_, proc, privileged, err);
	if (r < 0)
		return r;
	if (in->cgroups_path)
		set(linux_, "cgroupsPath", json_string(in->cgroups_path));
	r = build_seccomp(b, privileged, linux_, err);
	if (r < 0)
		return r;
	if (privileged) {
		json_t *devs = must(json_array());
		cleanup_close int fd = -1;

		json_object_del(linux_, "maskedPaths");
		json_object_del(linux_, "readonlyPaths");
		if (in->host_dev_dir)
			fd = open(in->host_dev_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			host_devices(devs, fd, "/dev", 0);
		set(linux_, "devices", devs);
	}
	return build_sysctls(b, linux_, err);
}

int ocispec_build(const struct ocispec_in *in, json_t **ret_config, struct err *err)
{
	struct build b = {.in = in, .pod = in->pod, .c = in->container};
	cleanup_json json_t *cfg = NULL;
	int r;

	b.meta = json_object_get(in->pod, "metadata");
	b.spec = json_object_get(in->pod, "spec");
	b.cname = str_at(in->container, "name");
	b.pname = str_at(b.meta, "name");
	b.ns = str_or(b.meta, "namespace", "default");
	b.uid = str_or(b.meta, "uid", "");
	if (!json_is_object(b.spec) || !b.pname || !*b.pname)
		return err_set(err, EINVAL, "pod: metadata.name and spec are required");
	if (!json_is_object(in->container) || !b.cname || !*b.cname)
		return err_set(err, EINVAL, "pod '%s/%s': container: name is required", b.ns,
			       b.pname);
	if (!in->rootfs || in->rootfs[0] != '/')
		return err_set(err, EINVAL, "container '%s': rootfs: expected an absolute path",
			       b.cname);
	if (in->image_config && !json_is_object(in->image_config))
		return err_set(err, EINVAL, "container '%s': image config: expected object",
			       b.cname);
	b.sc = json_object_get(in->container, "securityContext");
	b.psc = json_object_get(b.spec, "securityContext");
	b.pod_ref = xasprintf("%s_%s(%s)", b.pname, b.ns, b.uid);
	cfg = rt_spec_default(false);
	r = build_config(&b, cfg, err);
	env_done(&b.kenv);
	free(b.pod_ref);
	if (r < 0)
		return r;
	*ret_config = TAKE_PTR(cfg);
	return 0;
}
