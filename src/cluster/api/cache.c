/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server's cache: every current object of every resource, ordered by key, the
 * recent history of changes, and the watchers. It is fed by the store's watch (one
 * callback per change, in revision order), so reads and watches never reach the backend
 * and the same code serves SQLite and etcd.
 *
 * Objects stay serialized (api_obj): a list copies stored bytes to the socket, a watch
 * event is the stored bytes in a small envelope. Labels and the fields selectors may ask
 * about are extracted once when a change arrives.
 *
 * Watch fan-out runs on its own thread so that a write is acknowledged as soon as the
 * cache holds it: each watcher remembers the last revision it was sent and the
 * dispatcher sends it what follows from the history. A watcher whose client does not
 * keep up (its stream queue reaches a bound) is paused: it is sent the rest once its
 * client has read what waits, so a slow client costs a bounded queue and catches up at
 * its own pace. A watcher that falls out of the history gets 410 Gone and relists.
 */
#include <errno.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/jdump.h"
#include "base/jload.h"
#include "base/jx.h"
#include "base/keyidx.h"
#include "base/log.h"
#include "cluster/api/http.h"
#include "cluster/api/internal.h"
#include "cluster/api/selector.h"
#include "cluster/store/store.h"

/*
 * A stream's queue may hold this much: a client that lets more wait is sent nothing more
 * until it has read some, and gets 410 Gone if the history moves past it meanwhile.
 */
#define WATCH_MAX_QUEUED (16u << 20)
/*
 * The server's own controllers may fall further behind under a burst: their backlog
 * waiting here costs what the history would, where a 410 would cost a relist of
 * everything (150,000 pods) on the thread that is behind already.
 */
#define WATCH_MAX_QUEUED_LOCAL (256u << 20)
#define BOOKMARK_EVERY         10 /* seconds */
/* how soon the dispatcher tries again to send to a watcher whose queue was full */
#define PAUSED_RETRY_MS 20
/* history events taken for one watcher in one round */
#define CATCH_UP_BATCH 4096

enum ev_type { EV_PUT, EV_DELETE };

struct cache_event {
	enum ev_type type;
	int64_t rev;
	struct api_obj *obj;  /* PUT: the new version; DELETE: the last one, at rev */
	struct api_obj *prev; /* the version before (NULL for a creation) */
	bool prev_unknown;    /* replayed history from before the start: no prev */
};

struct watcher {
	struct watcher *next;
	struct cache *cache;
	struct watch_spec spec;
	char *ns;
	char peer[64];
	size_t max_queued;
	bool paused; /* its queue was full: the rest waits for the next round */
	bool behind; /* more history waits than one round sends */
	struct http_stream *st;
	int64_t sent_rev;
	time_t deadline;
	time_t next_bookmark;
	bool columns_sent;
	bool initial; /* sending the current state */
	atomic_bool closed;
	atomic_int refs; /* the dispatcher's and the stream's (dropped by on_close) */
};

struct cache {
	struct api *api;
	struct store *store;

	pthread_rwlock_t lock; /* indexes, ring */
	struct keyidx *idx;    /* one per resource: key -> struct api_obj * */
	int64_t rev;

	struct cache_event *ring;
	size_t cap;
	int64_t loaded; /* revision of the state loaded at start */
	void *hist;     /* while history before it is replayed: the last version per key */
	uint64_t head;  /* events ever appended; ring[i % cap] */

	pthread_mutex_t rev_lock; /* rev waiters and the dispatcher's wake-up */
	pthread_cond_t rev_cond;
	int64_t published;
	bool kick; /* a new watcher has more history waiting than it was sent */

	pthread_mutex_t watch_lock;
	struct watcher *watchers;
	pthread_t dispatcher;
	bool stop;
};

/* Objects. */

struct api_obj *api_obj_ref(struct api_obj *o)
{
	if (o)
		atomic_fetch_add(&o->refs, 1);
	return o;
}

void api_obj_unref(struct api_obj *o)
{
	if (!o || atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	/* key, ns, name and uid share the object's allocation */
	free(o->json);
	free(o->pod_cidr);
	strv_free(o->owners);
	json_decref(o->labels);
	free(o->fields);
	free(o);
}

char *api_json_with_rev(const char *json, size_t len, int64_t rev, size_t *ret_len)
{
	static const char meta[] = "\"metadata\":{";
	const char *at = memmem(json, len, meta, sizeof(meta) - 1);
	char ins[48];
	size_t off, n;
	char *out;

	if (!at) {
		out = xstrndup(json, len);
		*ret_len = len;
		return out;
	}
	off = (size_t)(at - json) + sizeof(meta) - 1;
	n = (size_t)snprintf(ins, sizeof(ins), "\"resourceVersion\":\"%lld\"%s", (long long)rev,
			     off < len && json[off] == '}' ? "" : ",");
	out = xmalloc(len + n + 1);
	memcpy(out, json, off);
	memcpy(out + off, ins, n);
	memcpy(out + off + n, json + off, len - off);
	out[len + n] = '\0';
	*ret_len = len + n;
	return out;
}

/*
 * Selectable fields that are not their object's path, or whose value when unset is not
 * "": upstream's field sets format a bool or a count whatever the object holds.
 */
static const struct {
	const char *field, *path, *unset;
} field_paths[] = {
	{"source", "source.component", ""},
	{"status.successful", "status.succeeded", "0"},
	{"status.replicas", "status.replicas", "0"},
	{"spec.unschedulable", "spec.unschedulable", "false"},
	{"spec.hostNetwork", "spec.hostNetwork", "false"},
};

/* The most fields a resource offers to field selectors (resources.c: events' 11). */
#define MAX_FIELDS 16
/* The most names in a field's path ("involvedObject.namespace": 2). */
#define MAX_FIELD_DEPTH 4

/* A selectable field as resolved once: the names of its path, and its unset value. */
struct field_spec {
	const char *seg[MAX_FIELD_DEPTH];
	size_t seg_len[MAX_FIELD_DEPTH];
	size_t nseg;
	const char *unset;
};

static struct field_spec (*field_specs)[MAX_FIELDS]; /* per resource, as api_resources */
static pthread_once_t field_specs_once = PTHREAD_ONCE_INIT;

static void field_specs_init(void)
{
	field_specs = xcalloc(api_nresources, sizeof(*field_specs));
	for (size_t r = 0; r < api_nresources; r++) {
		const char *const *fields = api_resources[r].fields;

		for (size_t n = 0; fields[n]; n++) {
			struct field_spec *f = &field_specs[r][n];
			const char *p = fields[n];

			if (n == MAX_FIELDS)
				abort(); /* resources.c grew a longer list than MAX_FIELDS */
			f->unset = "";
			for (size_t i = 0; i < sizeof(field_paths) / sizeof(field_paths[0]); i++)
				if (strcmp(p, field_paths[i].field) == 0) {
					p = field_paths[i].path;
					f->unset = field_paths[i].unset;
					break;
				}
			while (*p) {
				const char *dot = strchr(p, '.');
				size_t len = dot ? (size_t)(dot - p) : strlen(p);

				if (f->nseg == MAX_FIELD_DEPTH)
					abort(); /* a deeper path than MAX_FIELD_DEPTH */
				f->seg[f->nseg] = p;
				f->seg_len[f->nseg++] = len;
				p = dot ? dot + 1 : p + len;
			}
		}
	}
}

/* The value of field @f in @doc as a selector sees it: @doc's own, @num's, or a constant. */
static const char *field_value(const json_t *doc, const struct field_spec *f, char num[24])
{
	const json_t *v = doc;

	for (size_t i = 0; v && i < f->nseg; i++)
		v = json_is_object(v) ? json_object_getn(v, f->seg[i], f->seg_len[i]) : NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	if (json_is_integer(v)) {
		snprintf(num, 24, "%lld", (long long)json_integer_value(v));
		return num;
	}
	return f->unset;
}

/* @n values as one allocation: the pointers, NULL, then the strings. */
static char **pack_fields(const char *const *vals, size_t n)
{
	size_t lens[MAX_FIELDS], bytes = 0;
	char **out, *at;

	for (size_t i = 0; i < n; i++) {
		lens[i] = strlen(vals[i]);
		bytes += lens[i] + 1;
	}
	out = xmalloc((n + 1) * sizeof(char *) + bytes);
	at = (char *)(out + n + 1);
	for (size_t i = 0; i < n; i++) {
		out[i] = at;
		memcpy(at, vals[i], lens[i] + 1);
		at += lens[i] + 1;
	}
	out[n] = NULL;
	return out;
}

/* The values of @r's fields in @doc. */
static char **field_values(const struct api_resource *r, const json_t *doc)
{
	const char *vals[MAX_FIELDS];
	char nums[MAX_FIELDS][24];
	size_t n = 0;

	pthread_once(&field_specs_once, field_specs_init);
	for (; r->fields[n]; n++)
		vals[n] = field_value(doc, &field_specs[r - api_resources][n], nums[n]);
	return pack_fields(vals, n);
}

/*
 * A new entry of revision @rev for @json, in one allocation with its key, namespace, name
 * and uid (NULL for ""); the rest is the caller's to fill.
 */
static struct api_obj *obj_alloc(const struct api_resource *r, const char *key, const char *ns,
				 const char *name, const char *uid, const char *json, size_t len,
				 int64_t rev, int64_t create_rev)
{
	const char *parts[4] = {key ?: "", ns ?: "", name ?: "", uid ?: ""};
	size_t lens[4], total = 0;
	struct api_obj *o;
	char *at, **dst[4];

	for (size_t i = 0; i < 4; i++) {
		lens[i] = strlen(parts[i]);
		total += lens[i] + 1;
	}
	o = xcalloc(1, sizeof(*o) + total);
	dst[0] = &o->key;
	dst[1] = &o->ns;
	dst[2] = &o->name;
	dst[3] = &o->uid;
	at = (char *)(o + 1);
	for (size_t i = 0; i < 4; i++) {
		*dst[i] = memcpy(at, parts[i], lens[i] + 1);
		at += lens[i] + 1;
	}
	atomic_init(&o->refs, 1);
	o->res = r;
	o->rev = rev;
	o->create_rev = create_rev;
	o->json = api_json_with_rev(json, len, rev, &o->len);
	return o;
}

/*
 * @doc is the object @json encodes, read only. With @shared (a writer's hint, which stays
 * the writer's) the new object keeps no part of it. @prev, the version it replaces (or
 * NULL), lends its labels when they are the same, as they mostly are.
 */
static struct api_obj *obj_from_doc(const struct api_resource *r, const char *key, const char *json,
				    size_t len, int64_t rev, int64_t create_rev, const json_t *doc,
				    bool shared, const struct api_obj *prev)
{
	json_t *meta = json_object_get(doc, "metadata"), *labels;
	struct api_obj *o = obj_alloc(r, key, json_string_value(json_object_get(meta, "namespace")),
				      json_string_value(json_object_get(meta, "name")),
				      json_string_value(json_object_get(meta, "uid")), json, len,
				      rev, create_rev);

	labels = json_object_get(meta, "labels");
	if (labels && prev && prev->labels && json_equal(labels, prev->labels))
		o->labels = json_incref(prev->labels);
	else
		o->labels = shared ? json_deep_copy(labels) : json_incref(labels);
	o->has_finalizers = json_array_size(json_object_get(meta, "finalizers")) > 0;
	{
		json_t *refs = json_object_get(meta, "ownerReferences"), *ref;
		size_t i, n = 0;

		if (json_array_size(refs)) {
			o->owners = xcalloc(json_array_size(refs) + 1, sizeof(char *));
			json_array_foreach (refs, i, ref) {
				const char *ouid = json_string_value(json_object_get(ref, "uid"));

				if (ouid)
					o->owners[n++] = xstrdup(ouid);
			}
		}
	}
	o->deleting = json_object_get(meta, "deletionTimestamp") != NULL;
	if (strcmp(r->plural, "nodes") == 0 && !*r->group) {
		const char *cidr =
			json_string_value(json_object_get(json_object_get(doc, "spec"), "podCIDR"));

		o->pod_cidr = cidr ? xstrdup(cidr) : NULL;
	}
	o->fields = field_values(r, doc);
	return o;
}

/*
 * The version after @prev whose text is @json, when it differs from @prev only as @h says
 * (struct api_hint): the rest is @prev's.
 */
static struct api_obj *obj_derive(const struct api_obj *prev, const char *json, size_t len,
				  int64_t rev, int64_t create_rev, const struct api_hint *h)
{
	const struct api_resource *r = prev->res;
	struct api_obj *o = obj_alloc(r, prev->key, prev->ns, prev->name, prev->uid, json, len, rev,
				      create_rev);
	const char *vals[MAX_FIELDS];
	char nums[MAX_FIELDS][24];
	size_t n = 0;

	o->labels = json_incref(prev->labels);
	o->has_finalizers = prev->has_finalizers;
	if (prev->owners) {
		size_t k = strv_len(prev->owners);

		o->owners = xcalloc(k + 1, sizeof(char *));
		for (size_t i = 0; i < k; i++)
			o->owners[i] = xstrdup(prev->owners[i]);
	}
	o->deleting = prev->deleting;
	o->pod_cidr = prev->pod_cidr ? xstrdup(prev->pod_cidr) : NULL;
	pthread_once(&field_specs_once, field_specs_init);
	for (; r->fields[n]; n++) {
		const struct field_spec *f = &field_specs[r - api_resources][n];

		if (h->field && strcmp(r->fields[n], h->field) == 0)
			vals[n] = h->value;
		else if (h->part && json_object_getn(h->part, f->seg[0], f->seg_len[0]))
			vals[n] = field_value(h->part, f, nums[n]);
		else
			vals[n] = prev->fields[n];
	}
	o->fields = pack_fields(vals, n);
	return o;
}

struct api_obj *api_obj_new(const char *key, const char *json, size_t len, int64_t rev,
			    int64_t create_rev)
{
	const struct api_resource *r = api_key_resource(key);
	json_error_t jerr;
	cleanup_json json_t *doc = NULL;

	if (!r)
		return NULL;
	doc = jload_b(json, len, 0, &jerr);
	if (!json_is_object(doc)) {
		log_error("store: %s: not a JSON object: %s", key, jerr.text);
		return NULL;
	}
	return obj_from_doc(r, key, json, len, rev, create_rev, doc, false, NULL);
}

const char *api_obj_field(const struct api_obj *o, const char *field)
{
	if (strcmp(field, "metadata.name") == 0)
		return o->name;
	if (strcmp(field, "metadata.namespace") == 0)
		return o->ns;
	for (size_t i = 0; o->res->fields[i]; i++)
		if (strcmp(o->res->fields[i], field) == 0)
			return o->fields[i];
	return "";
}

static const char *obj_field_fn(void *ctx, const char *field)
{
	return api_obj_field(ctx, field);
}

/* Keys. */

char *api_key_prefix(const struct api_resource *r, const char *ns)
{
	const char *g = r->group[0] ? r->group : NULL;

	if (ns && api_namespaced(r))
		return xasprintf("/registry/%s%s%s/%s/", g ? g : "", g ? "/" : "", r->plural, ns);
	return xasprintf("/registry/%s%s%s/", g ? g : "", g ? "/" : "", r->plural);
}

char *api_key(const struct api_resource *r, const char *ns, const char *name)
{
	cleanup_free char *prefix = api_key_prefix(r, api_namespaced(r) ? ns : NULL);

	return xasprintf("%s%s", prefix, name);
}

const struct api_resource *api_key_resource(const char *key)
{
	static const char reg[] = "/registry/";

	if (strncmp(key, reg, sizeof(reg) - 1) != 0)
		return NULL;
	key += sizeof(reg) - 1;
	for (size_t i = 0; i < api_nresources; i++) {
		const struct api_resource *r = &api_resources[i];
		size_t gl = strlen(r->group), pl = strlen(r->plural);
		const char *p = key;

		if (gl) {
			if (strncmp(p, r->group, gl) != 0 || p[gl] != '/')
				continue;
			p += gl + 1;
		}
		if (strncmp(p, r->plural, pl) == 0 && p[pl] == '/')
			return r;
	}
	return NULL;
}

/* The indexes. */

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct api_obj *)a)->key, ((const struct api_obj *)b)->key);
}

static size_t res_index(const struct api_resource *r)
{
	return (size_t)(r - api_resources);
}

/* Replaces the object under @o->key (or adds it); returns the previous one. */
static struct api_obj *idx_put(struct cache *c, struct api_obj *o)
{
	return keyidx_put(&c->idx[res_index(o->res)], o->key, o);
}

static struct api_obj *idx_del(struct cache *c, const struct api_resource *r, const char *key)
{
	return keyidx_del(&c->idx[res_index(r)], key);
}

/* Appends to the history ring, dropping the oldest event when full. Lock held. */
static void ring_push(struct cache *c, enum ev_type type, int64_t rev, struct api_obj *obj,
		      struct api_obj *prev)
{
	struct cache_event *e = &c->ring[c->head % c->cap];

	if (c->head >= c->cap) {
		api_obj_unref(e->obj);
		api_obj_unref(e->prev);
	}
	*e = (struct cache_event){type, rev, obj, prev, false};
	c->head++;
}

/* The oldest revision a watch may resume from. Lock held. */
static int64_t ring_floor(struct cache *c)
{
	if (c->head <= c->cap)
		return c->head ? c->ring[0].rev - 1 : c->rev;
	return c->ring[c->head % c->cap].rev - 1;
}

static void publish(struct cache *c, int64_t rev)
{
	pthread_mutex_lock(&c->rev_lock);
	c->published = rev;
	pthread_cond_broadcast(&c->rev_cond);
	pthread_mutex_unlock(&c->rev_lock);
}

static void free_node(void *node)
{
	api_obj_unref(node);
}

/*
 * A change from before the state loaded at start, replayed so that watches resume across
 * a restart: it goes to the history only. Its previous version is known when the replay
 * saw it; otherwise the event is marked so watchers decide by the object alone.
 */
static void history_event(struct cache *c, const struct store_event *ev, struct api_obj *o)
{
	struct api_obj probe = {.key = (char *)ev->key}, **slot, *prev = NULL;
	bool known;

	if (!o)
		return;
	slot = tfind(&probe, &c->hist, key_cmp);
	known = slot != NULL || ev->prev_rev == 0;
	if (slot) {
		prev = *slot;
		tdelete(&probe, &c->hist, key_cmp);
	}
	if (ev->type == STORE_EV_PUT && !tsearch(api_obj_ref(o), &c->hist, key_cmp))
		abort();
	ring_push(c, ev->type == STORE_EV_PUT ? EV_PUT : EV_DELETE, ev->rev, o, prev);
	c->ring[(c->head - 1) % c->cap].prev_unknown = !known;
}

static void on_store_event(void *arg, const struct store_event *ev)
{
	struct cache *c = arg;
	const struct api_resource *r = api_key_resource(ev->key);
	const struct api_hint *hint = ev->hint;
	struct api_obj *o, *prev;

	if (!r) {
		publish(c, ev->rev);
		return;
	}
	/* a write of this server: what it knows of the bytes (struct api_hint) */
	if (hint) {
		/* the index changes only on this thread, which may read it unlocked */
		prev = keyidx_get(&c->idx[res_index(r)], ev->key);
		if (json_is_object(hint->doc))
			o = obj_from_doc(r, ev->key, ev->value, ev->len, ev->rev, ev->create_rev,
					 hint->doc, true, prev);
		else if (!hint->doc && prev && prev->rev == hint->from_rev)
			o = obj_derive(prev, ev->value, ev->len, ev->rev, ev->create_rev, hint);
		else
			o = api_obj_new(ev->key, ev->value, ev->len, ev->rev, ev->create_rev);
	} else {
		o = api_obj_new(ev->key, ev->value, ev->len, ev->rev, ev->create_rev);
	}
	pthread_rwlock_wrlock(&c->lock);
	if (ev->rev <= c->loaded) {
		history_event(c, ev, o);
		pthread_rwlock_unlock(&c->lock);
		return;
	}
	if (c->hist) {
		tdestroy(c->hist, free_node);
		c->hist = NULL;
	}
	if (ev->type == STORE_EV_PUT) {
		prev = o ? idx_put(c, api_obj_ref(o)) : NULL;
		if (o)
			ring_push(c, EV_PUT, ev->rev, o, prev);
	} else {
		prev = idx_del(c, r, ev->key);
		if (o)
			ring_push(c, EV_DELETE, ev->rev, o, prev);
		else
			api_obj_unref(prev);
	}
	c->rev = ev->rev;
	pthread_rwlock_unlock(&c->lock);
	publish(c, ev->rev);
}

int64_t cache_rev(struct cache *c)
{
	int64_t rev;

	pthread_rwlock_rdlock(&c->lock);
	rev = c->rev;
	pthread_rwlock_unlock(&c->lock);
	return rev;
}

void cache_wait(struct cache *c, int64_t rev)
{
	struct timespec until;

	clock_deadline(&until, 10000);
	pthread_mutex_lock(&c->rev_lock);
	while (c->published < rev && !c->stop)
		if (clock_timedwait(&c->rev_cond, &c->rev_lock, &until) == ETIMEDOUT) {
			log_warn("api: the cache did not reach revision %lld in 10 s",
				 (long long)rev);
			break;
		}
	pthread_mutex_unlock(&c->rev_lock);
}

struct api_obj *cache_get(struct cache *c, const char *key)
{
	const struct api_resource *r = api_key_resource(key);
	struct api_obj *o;

	if (!r)
		return NULL;
	pthread_rwlock_rdlock(&c->lock);
	o = api_obj_ref(keyidx_get(&c->idx[res_index(r)], key));
	pthread_rwlock_unlock(&c->lock);
	return o;
}

static bool obj_matches(const struct api_obj *o, const struct selector *labels,
			const struct selector *fields)
{
	if (labels && !selector_match_labels(labels, o->labels))
		return false;
	if (fields && !selector_match_fields(fields, obj_field_fn, (void *)o))
		return false;
	return true;
}

/*
 * How many keys sort before the end of @prefix, which ends in '/': its keys all sort
 * before the prefix with '0' (the character after '/') in the slash's place.
 */
static size_t rank_past_prefix(const struct keyidx *ix, const char *prefix)
{
	cleanup_free char *end = xstrdup(prefix);

	end[strlen(end) - 1]++;
	return keyidx_rank(ix, end);
}

/*
 * The page starts at the first key after @after (or of the prefix) and ends at the limit
 * or the end of the prefix: its cost is what it returns (and, with selectors, what it
 * skips), not the number of objects of the resource.
 */
void cache_list(struct cache *c, const struct api_resource *r, const char *ns,
		const struct selector *labels, const struct selector *fields, const char *after,
		size_t limit, struct cache_list *ret)
{
	cleanup_free char *prefix = ns && api_namespaced(r) ? api_key_prefix(r, ns) : NULL;
	size_t prefix_len = prefix ? strlen(prefix) : 0, cap = 0;
	bool selecting;
	const struct keyidx *ix;
	struct keyidx_iter it;
	const char *key;
	void *v;

	if (labels && selector_empty(labels))
		labels = NULL;
	if (fields && selector_empty(fields))
		fields = NULL;
	selecting = labels || fields;
	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_rdlock(&c->lock);
	ix = &c->idx[res_index(r)];
	ret->rev = c->rev;
	if (after && (!prefix || strcmp(after, prefix) >= 0))
		keyidx_seek(ix, after, &it);
	else
		keyidx_seek(ix, prefix, &it);
	while (keyidx_next(&it, &key, &v)) {
		struct api_obj *o = v;

		if (prefix && strncmp(key, prefix, prefix_len) != 0)
			break;
		if (after && strcmp(key, after) <= 0)
			continue;
		if (!obj_matches(o, labels, fields))
			continue;
		if (limit && ret->n >= limit) {
			ret->more = true;
			break;
		}
		if (ret->n == cap) {
			cap = cap ? cap * 2 : 64;
			ret->v = xrealloc(ret->v, cap * sizeof(*ret->v));
		}
		ret->v[ret->n++] = api_obj_ref(o);
	}
	if (ret->more && !selecting) {
		/* the keys of the prefix after the page, from ranks in the index: no walk */
		const char *last = ret->v[ret->n - 1]->key;
		size_t upto = prefix ? rank_past_prefix(ix, prefix) : keyidx_len(ix);

		ret->counted = true;
		ret->remaining = upto - keyidx_rank(ix, last) - 1;
	}
	pthread_rwlock_unlock(&c->lock);
}

void cache_list_free(struct cache_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		api_obj_unref(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

size_t cache_count(struct cache *c, const struct api_resource *r, const char *ns)
{
	cleanup_free char *prefix = ns && api_namespaced(r) ? api_key_prefix(r, ns) : NULL;
	const struct keyidx *ix = &c->idx[res_index(r)];
	size_t n;

	pthread_rwlock_rdlock(&c->lock);
	n = prefix ? rank_past_prefix(ix, prefix) - keyidx_rank(ix, prefix) : keyidx_len(ix);
	pthread_rwlock_unlock(&c->lock);
	return n;
}

/* Watches. */

static void watcher_free(struct watcher *w)
{
	selector_free(w->spec.labels);
	selector_free(w->spec.fields);
	free(w->ns);
	free(w);
}

static void watcher_unref(struct watcher *w)
{
	if (atomic_fetch_sub(&w->refs, 1) == 1)
		watcher_free(w);
}

/* The stream ended (client gone or server stopping): runs once, on a server thread. */
static void watcher_on_close(void *arg)
{
	struct watcher *w = arg;

	atomic_store(&w->closed, true);
	watcher_unref(w);
}

/* {"type":"@type","object":@obj}\n, its length in *len (heap string). */
static char *event_line(const char *type, const char *obj, size_t obj_len, size_t *len)
{
	static const char head[] = "{\"type\":\"", mid[] = "\",\"object\":", tail[] = "}\n";
	size_t tl = strlen(type), n = 0;
	char *line;

	*len = sizeof(head) - 1 + tl + sizeof(mid) - 1 + obj_len + sizeof(tail) - 1;
	line = xmalloc(*len + 1);
	memcpy(line + n, head, sizeof(head) - 1);
	n += sizeof(head) - 1;
	memcpy(line + n, type, tl);
	n += tl;
	memcpy(line + n, mid, sizeof(mid) - 1);
	n += sizeof(mid) - 1;
	memcpy(line + n, obj, obj_len);
	n += obj_len;
	memcpy(line + n, tail, sizeof(tail));
	return line;
}

static int watcher_send(struct watcher *w, const char *type, const struct api_obj *o)
{
	cleanup_free char *line = NULL;
	size_t len;
	int r;

	if (w->spec.format == WATCH_TABLE) {
		struct api_obj *one = (struct api_obj *)o;
		cleanup_json json_t *table = api_table(
			o->res, &one, 1, o->rev, w->spec.table_object, !w->columns_sent, NULL);
		cleanup_free char *body = jdump_s(table, JSON_COMPACT);

		w->columns_sent = true;
		line = event_line(type, body, strlen(body), &len);
	} else {
		/* the object's text as stored, copied as it is (a pod is a few kilobytes) */
		line = event_line(type, o->json, o->len, &len);
	}
	/* the initial state is queued at once before the client can read any of it */
	r = http_stream_write(w->st, line, len, w->initial ? SIZE_MAX : w->max_queued);
	if (r == -ENOBUFS) {
		/* nothing was queued: the same event goes again once the client has read */
		if (!w->paused)
			log_debug(
				"api: watch of %s from %s: %zu MiB wait for the client; pausing at "
				"revision %lld",
				w->spec.res->plural, w->peer, w->max_queued >> 20,
				(long long)w->sent_rev);
		w->paused = true;
	} else if (r < 0) {
		atomic_store(&w->closed, true);
	}
	return r;
}

static void watcher_bookmark(struct watcher *w, int64_t rev)
{
	cleanup_free char *line = xasprintf(
		"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
		"\"metadata\":{\"resourceVersion\":\"%lld\",\"annotations\":{"
		"\"k8s.io/initial-events-end\":\"false\"}}}}\n",
		w->spec.res->kind, w->spec.res->api_version, (long long)rev);

	int r = http_stream_write(w->st, line, strlen(line), w->max_queued);

	/* a full queue skips a bookmark: the next one carries a later revision */
	if (r < 0 && r != -ENOBUFS)
		atomic_store(&w->closed, true);
}

static bool watcher_wants(const struct watcher *w, const struct api_obj *o)
{
	if (!o || o->res != w->spec.res)
		return false;
	if (w->ns && strcmp(o->ns, w->ns) != 0)
		return false;
	return obj_matches(o, w->spec.labels, w->spec.fields);
}

/*
 * Sends one history event to @w as upstream filters it: entering and leaving the
 * selected set are ADDED and DELETED. False when the client's queue is full: the event
 * was not sent.
 */
static bool watcher_event(struct watcher *w, const struct cache_event *e)
{
	bool now = watcher_wants(w, e->obj), before = watcher_wants(w, e->prev);
	const char *type = NULL;

	if (e->prev_unknown) {
		/* replayed from before a restart: judged by the object alone */
		if (now)
			type = e->type == EV_DELETE           ? "DELETED"
			       : e->obj->create_rev == e->rev ? "ADDED"
							      : "MODIFIED";
	} else if (e->type == EV_DELETE) {
		if (now)
			type = "DELETED";
	} else if (now && before) {
		type = "MODIFIED";
	} else if (now) {
		type = "ADDED";
	} else if (before) {
		type = "DELETED";
	}
	if (type && watcher_send(w, type, e->obj) == -ENOBUFS)
		return false;
	w->sent_rev = e->rev;
	return true;
}

static void watcher_gone(struct watcher *w, int64_t floor)
{
	cleanup_free char *line = xasprintf(
		"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
		"\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: "
		"%lld (%lld)\",\"reason\":\"Expired\",\"code\":410}}\n",
		(long long)w->sent_rev, (long long)floor + 1);

	log_warn("api: watch of %s from %s at revision %lld: older than the history kept "
		 "(%lld); 410 Gone",
		 w->spec.res->plural, w->peer, (long long)w->sent_rev, (long long)floor + 1);
	http_stream_write(w->st, line, strlen(line), w->max_queued);
	atomic_store(&w->closed, true);
}

/*
 * Brings @w up to the cache's revision from the history. Called with watch_lock held (one
 * dispatcher at a time per watcher).
 */
static void watcher_catch_up(struct cache *c, struct watcher *w)
{
	struct cache_event *batch = NULL;
	size_t n = 0;
	int64_t floor;

	pthread_rwlock_rdlock(&c->lock);
	floor = ring_floor(c);
	if (w->sent_rev < floor) {
		pthread_rwlock_unlock(&c->lock);
		watcher_gone(w, floor);
		return;
	}
	w->behind = false;
	if (w->sent_rev < c->rev) {
		uint64_t lo = c->head > c->cap ? c->head - c->cap : 0, hi = c->head, end;

		/* the first event after sent_rev: the ring is in revision order */
		while (lo < hi) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (c->ring[mid % c->cap].rev > w->sent_rev)
				hi = mid;
			else
				lo = mid + 1;
		}
		/* a watcher far behind takes its backlog a batch per round */
		end = c->head - lo > CATCH_UP_BATCH ? lo + CATCH_UP_BATCH : c->head;
		w->behind = end < c->head;
		batch = xcalloc(end - lo + 1, sizeof(*batch));
		for (uint64_t i = lo; i < end; i++) {
			struct cache_event *e = &c->ring[i % c->cap];

			batch[n] = *e;
			api_obj_ref(batch[n].obj);
			api_obj_ref(batch[n].prev);
			n++;
		}
	}
	pthread_rwlock_unlock(&c->lock);
	w->paused = false;
	for (size_t i = 0; i < n; i++) {
		if (!atomic_load(&w->closed) && !w->paused && !watcher_event(w, &batch[i]))
			w->paused = true;
		api_obj_unref(batch[i].obj);
		api_obj_unref(batch[i].prev);
	}
	free(batch);
}

/*
 * When @w's next bookmark is due: BOOKMARK_EVERY seconds on, or, as upstream, 2 s before
 * its deadline when that comes first, so that a client watching a quiet collection in
 * short spells resumes each from a recent revision, not one the history has dropped.
 */
static time_t next_bookmark(const struct watcher *w, time_t now)
{
	time_t at = now + BOOKMARK_EVERY;

	if (w->deadline && w->deadline - 2 < at && w->deadline - 2 > now)
		at = w->deadline - 2;
	return at;
}

static void *dispatcher_main(void *arg)
{
	struct cache *c = arg;
	int64_t seen = 0;
	bool soon = false; /* a watcher is paused or behind: come back soon */

	for (;;) {
		struct timespec until;
		time_t now;

		pthread_mutex_lock(&c->rev_lock);
		clock_deadline(&until, soon ? PAUSED_RETRY_MS : 1000);
		while (!c->stop && c->published == seen && !c->kick)
			if (clock_timedwait(&c->rev_cond, &c->rev_lock, &until) == ETIMEDOUT)
				break;
		c->kick = false;
		seen = c->published;
		pthread_mutex_unlock(&c->rev_lock);
		if (c->stop)
			break;

		now = time(NULL);
		soon = false;
		pthread_mutex_lock(&c->watch_lock);
		for (struct watcher **p = &c->watchers; *p;) {
			struct watcher *w = *p;

			if (!atomic_load(&w->closed))
				watcher_catch_up(c, w);
			soon |= w->paused || w->behind;
			if (!atomic_load(&w->closed) && w->spec.bookmarks &&
			    now >= w->next_bookmark) {
				watcher_bookmark(w, w->sent_rev);
				w->next_bookmark = next_bookmark(w, now);
			}
			if (w->deadline && now >= w->deadline)
				atomic_store(&w->closed, true);
			if (atomic_load(&w->closed)) {
				*p = w->next;
				http_stream_close(w->st);
				watcher_unref(w);
				continue;
			}
			p = &w->next;
		}
		pthread_mutex_unlock(&c->watch_lock);
	}
	return NULL;
}

void cache_watch(struct cache *c, struct http_request *req, struct watch_spec *spec)
{
	struct watcher *w = xcalloc(1, sizeof(*w));
	const char *ctype = spec->format == WATCH_TABLE
				    ? "application/json;as=Table;v=v1;g=meta.k8s.io"
				    : "application/json";
	time_t now = time(NULL);
	bool behind;

	w->cache = c;
	snprintf(w->peer, sizeof(w->peer), "%s", http_peer(req));
	w->max_queued = http_is_local(req) ? WATCH_MAX_QUEUED_LOCAL : WATCH_MAX_QUEUED;
	w->spec = *spec;
	spec->labels = spec->fields = NULL;
	w->ns = spec->ns ? xstrdup(spec->ns) : NULL;
	w->spec.ns = w->ns;
	atomic_init(&w->closed, false);
	atomic_init(&w->refs, 2);
	w->deadline = spec->timeout > 0 ? now + spec->timeout : 0;
	w->next_bookmark = next_bookmark(w, now);
	w->st = http_respond_stream(req, 200, ctype, watcher_on_close, w);
	if (!w->st) {
		/* refused: on_close has run and dropped its reference */
		watcher_unref(w);
		return;
	}

	pthread_mutex_lock(&c->watch_lock);
	if (spec->from_rev > 0) {
		w->sent_rev = spec->from_rev;
	} else {
		struct cache_list l;

		/* the current state first, then the changes after it */
		cache_list(c, w->spec.res, w->ns, w->spec.labels, w->spec.fields, NULL, 0, &l);
		w->initial = true;
		for (size_t i = 0; i < l.n && !atomic_load(&w->closed); i++)
			watcher_send(w, "ADDED", l.v[i]);
		w->initial = false;
		w->sent_rev = l.rev;
		cache_list_free(&l);
	}
	watcher_catch_up(c, w);
	behind = w->behind;
	w->next = c->watchers;
	c->watchers = w;
	/* from here on the dispatcher owns @w */
	pthread_mutex_unlock(&c->watch_lock);
	if (behind) {
		pthread_mutex_lock(&c->rev_lock);
		c->kick = true;
		pthread_cond_broadcast(&c->rev_cond);
		pthread_mutex_unlock(&c->rev_lock);
	}
}

/* Start and stop. */

static int load(struct cache *c, int64_t *rev, struct err *err)
{
	struct store_kvs kvs = {0};
	int r = store_range(c->store, "/registry/", NULL, 0, &kvs, rev, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < kvs.n; i++) {
		struct store_kv *kv = &kvs.v[i];
		struct api_obj *o =
			api_obj_new(kv->key, kv->value, kv->len, kv->mod_rev, kv->create_rev);

		if (o)
			api_obj_unref(idx_put(c, o));
	}
	store_kvs_clear(&kvs);
	c->rev = *rev;
	c->published = *rev;
	return 0;
}

int cache_start(struct api *api, struct store *s, size_t history, struct cache **ret,
		struct err *err)
{
	struct cache *c = xcalloc(1, sizeof(*c));
	int64_t rev = 0;
	int r;

	c->api = api;
	c->store = s;
	c->cap = history ? history : 65536;
	c->ring = xcalloc(c->cap, sizeof(*c->ring));
	c->idx = xcalloc(api_nresources, sizeof(*c->idx));
	pthread_rwlock_init(&c->lock, NULL);
	pthread_mutex_init(&c->rev_lock, NULL);
	pthread_cond_init(&c->rev_cond, NULL);
	pthread_mutex_init(&c->watch_lock, NULL);

	r = load(c, &rev, err);
	if (r >= 0) {
		/* replay recent history too, so that watches resume across a restart */
		int64_t now, compacted, after;
		struct err ignored = ERR_INIT;

		after = rev;
		if (store_revision(s, &now, &compacted, &ignored) == 0) {
			int64_t keep = (int64_t)(c->cap < 10000 ? c->cap : 10000);

			after = rev - keep > compacted ? rev - keep : compacted;
			if (after < 0)
				after = 0;
		}
		err_clear(&ignored);
		c->loaded = rev;
		r = store_watch(s, after, on_store_event, c, err);
		if (r == -EOVERFLOW && after < rev) {
			err_clear(err);
			r = store_watch(s, rev, on_store_event, c, err);
		}
	}
	if (r < 0) {
		cache_stop(c);
		return err_wrap(err, "load the cluster state");
	}
	r = pthread_create(&c->dispatcher, NULL, dispatcher_main, c);
	if (r == 0)
		pthread_setname_np(c->dispatcher, "watch-dispatch");
	if (r != 0) {
		cache_stop(c);
		return err_errno(err, r, "start the watch dispatcher");
	}
	*ret = c;
	return 0;
}

void cache_stop(struct cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->rev_lock);
	c->stop = true;
	pthread_cond_broadcast(&c->rev_cond);
	pthread_mutex_unlock(&c->rev_lock);
	if (c->dispatcher)
		pthread_join(c->dispatcher, NULL);
	while (c->watchers) {
		struct watcher *w = c->watchers;

		c->watchers = w->next;
		http_stream_close(w->st);
		watcher_unref(w);
	}
	for (size_t i = 0; c->idx && i < api_nresources; i++)
		keyidx_done(&c->idx[i], free_node);
	if (c->hist)
		tdestroy(c->hist, free_node);
	for (uint64_t i = 0; i < c->head && i < c->cap; i++) {
		api_obj_unref(c->ring[i].obj);
		api_obj_unref(c->ring[i].prev);
	}
	free(c->ring);
	free(c->idx);
	free(c);
}
