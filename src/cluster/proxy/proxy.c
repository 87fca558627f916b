/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The running proxy: informer handlers feed the model (rules.c) under a lock, and one
 * thread renders and applies transactions, coalescing bursts of changes, retrying
 * failures with a full resync. Started by every node agent (svcproxy_start).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/client/client.h"
#include "cluster/proxy/internal.h"
#include "cluster/proxy/proxy.h"

#define QUIET_MS     10   /* a burst ends after this long without changes */
#define MAX_DELAY_MS 100  /* ... or this long after its first change */
#define RETRY_MIN_MS 1000 /* after a failed transaction */
#define RETRY_MAX_MS 30000

struct svcproxy {
	char *node;
	char *table;
	struct sp_rules_config cfg;
	struct sp_nft *nft;
	struct informer *services, *slices;
	pthread_t thread;
	bool thread_started;

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;
	struct sp_model *model;
	bool stop;
	bool need_full;
	bool busy;
	bool synced; /* the first full sync is done */
	int64_t first_change, last_change;
	uint64_t seq, applied_seq;
	struct svcproxy_stats stats;
};

static void changed(struct svcproxy *p)
{
	int64_t now = clock_mono_ms();

	p->seq++;
	if (!p->first_change)
		p->first_change = now;
	p->last_change = now;
	pthread_cond_broadcast(&p->cond);
}

/* ------------------------------------------------------------------------------------------ */
/* Informer handlers */

static void service_set(void *arg, json_t *obj)
{
	struct svcproxy *p = arg;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *key = kc_key(obj);
	struct sp_service *s = NULL;

	if (sp_service_parse(obj, &s, &err) < 0)
		log_warn("service proxy: %s, giving it no rules", err.msg);
	pthread_mutex_lock(&p->lock);
	sp_model_set_service(p->model, key, s);
	changed(p);
	pthread_mutex_unlock(&p->lock);
}

static void service_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	service_set(arg, obj);
}

static void service_del(void *arg, json_t *obj)
{
	struct svcproxy *p = arg;
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&p->lock);
	sp_model_set_service(p->model, key, NULL);
	changed(p);
	pthread_mutex_unlock(&p->lock);
}

static void slice_set(void *arg, json_t *obj)
{
	struct svcproxy *p = arg;
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *key = kc_key(obj);
	struct sp_slice *s = NULL;

	if (sp_slice_parse(obj, p->node, &s, &err) < 0)
		log_warn("service proxy: %s, ignoring its endpoints", err.msg);
	pthread_mutex_lock(&p->lock);
	sp_model_set_slice(p->model, key, s);
	changed(p);
	pthread_mutex_unlock(&p->lock);
}

static void slice_update(void *arg, json_t *old, json_t *obj)
{
	(void)old;
	slice_set(arg, obj);
}

static void slice_del(void *arg, json_t *obj)
{
	struct svcproxy *p = arg;
	cleanup_free char *key = kc_key(obj);

	pthread_mutex_lock(&p->lock);
	sp_model_set_slice(p->model, key, NULL);
	changed(p);
	pthread_mutex_unlock(&p->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* The sync thread */

static void timed_wait(struct svcproxy *p, int64_t ms)
{
	struct timespec ts;

	if (ms < 0) {
		pthread_cond_wait(&p->cond, &p->lock);
		return;
	}
	clock_deadline(&ts, ms);
	clock_timedwait(&p->cond, &p->lock, &ts);
}

/* Milliseconds until the thread should render (0: now, -1: nothing to do). */
static int64_t next_due(struct svcproxy *p, int64_t now, int64_t retry_at)
{
	int64_t due = -1, stale;

	/* after a failure nothing is tried before the backoff ends, stale chains included */
	if (retry_at > now)
		return retry_at - now;
	if (p->need_full || sp_model_dirty(p->model)) {
		if (p->first_change && p->synced) {
			int64_t quiet = p->last_change + QUIET_MS - now;
			int64_t cap = p->first_change + MAX_DELAY_MS - now;

			due = quiet < cap ? quiet : cap;
			if (due < 0)
				due = 0;
		} else
			due = 0;
	}
	stale = sp_model_stale_due_ms(p->model, now);
	if (stale >= 0 && (due < 0 || stale < due))
		due = stale;
	return due;
}

/* Applies one transaction; called and returning with the lock held. */
static void sync_once(struct svcproxy *p, int64_t *backoff, int64_t *retry_at)
{
	cleanup_err struct err err = ERR_INIT;
	bool full = p->need_full;
	uint64_t seq = p->seq;
	struct timespec t0, t1;
	char *script;
	int r;

	p->first_change = p->last_change = 0;
	script = full ? sp_render_full(p->model, &p->cfg)
		      : sp_render_changes(p->model, &p->cfg, clock_mono_ms());
	if (!script) {
		p->applied_seq = seq;
		pthread_cond_broadcast(&p->cond);
		return;
	}
	p->busy = true;
	pthread_mutex_unlock(&p->lock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sp_nft_run(p->nft, script, NULL, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(script);
	pthread_mutex_lock(&p->lock);
	p->busy = false;
	sp_model_commit(p->model, r == 0, clock_mono_ms());
	if (r == 0) {
		if (*backoff)
			log_info("service proxy: table 'ip %s' is in step again", p->table);
		p->stats.syncs++;
		p->stats.full_syncs += full;
		p->stats.last_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		p->need_full = false;
		p->synced = true;
		p->applied_seq = seq;
		*backoff = 0;
		*retry_at = 0;
	} else {
		p->stats.failures++;
		*backoff = *backoff ? *backoff * 2 : RETRY_MIN_MS;
		if (*backoff > RETRY_MAX_MS)
			*backoff = RETRY_MAX_MS;
		log_warn("service proxy: %s, resyncing table 'ip %s' in %lld ms", err.msg, p->table,
			 (long long)*backoff);
		p->need_full = true;
		*retry_at = clock_mono_ms() + *backoff;
	}
	sp_model_counts(p->model, &p->stats);
	pthread_cond_broadcast(&p->cond);
}

static void *sync_main(void *arg)
{
	struct svcproxy *p = arg;
	int64_t backoff = 0, retry_at = 0;

	/* a partial list would drop rules of services not yet seen */
	for (;;) {
		bool stop;

		pthread_mutex_lock(&p->lock);
		stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			return NULL;
		if (informer_wait_synced(p->services, 100) && informer_wait_synced(p->slices, 100))
			break;
	}
	pthread_mutex_lock(&p->lock);
	p->need_full = true;
	while (!p->stop) {
		int64_t due = next_due(p, clock_mono_ms(), retry_at);

		if (due != 0)
			timed_wait(p, due);
		else
			sync_once(p, &backoff, &retry_at);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Host settings */

static void sysctl_set(const char *path, const char *why)
{
	cleanup_err struct err err = ERR_INIT;

	if (fs_write_knob(AT_FDCWD, path, "1", 1, &err) < 0)
		log_warn("service proxy: %s, so %s", err.msg, why);
}

static void host_settings(const struct svcproxy_config *cfg)
{
	if (cfg->no_sysctls)
		return;
	if (!cfg->no_localhost_nodeports)
		sysctl_set("/proc/sys/net/ipv4/conf/all/route_localnet",
			   "NodePorts on 127.0.0.1 will not answer");
	if (access("/proc/sys/net/bridge/bridge-nf-call-iptables", F_OK) < 0)
		log_warn("service proxy: the br_netfilter module is not loaded (modprobe "
			 "br_netfilter), so pods reaching a service backed by another pod on the "
			 "same node get no replies");
	else
		sysctl_set("/proc/sys/net/bridge/bridge-nf-call-iptables",
			   "pods reaching a service backed by another pod on the same node get "
			   "no replies");
}

/* ------------------------------------------------------------------------------------------ */
/* Life cycle */

static void proxy_free(struct svcproxy *p)
{
	informer_stop(p->services);
	informer_stop(p->slices);
	sp_nft_free(p->nft);
	sp_model_free(p->model);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->node);
	free(p->table);
	free(p);
}

int svcproxy_start(struct kc *c, const struct svcproxy_config *cfg, struct svcproxy **ret,
		   struct err *err)
{
	static const char *const svc_path = "/api/v1/services";
	static const char *const eps_path = "/apis/discovery.k8s.io/v1/endpointslices";
	struct svcproxy *p;
	int r;

	if (!cfg->node_name || !*cfg->node_name)
		return err_set(err, EINVAL, "service proxy: node name: missing");
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->model = sp_model_new();
	p->node = xstrdup(cfg->node_name);
	if (sp_rules_config_init(cfg, &p->cfg, err) < 0 || sp_nft_new(&p->nft, err) < 0) {
		proxy_free(p);
		return -err->code;
	}
	p->table = xstrdup(p->cfg.table);
	p->cfg.table = p->table;
	host_settings(cfg);

	struct informer_handlers sh = {
		.add = service_set, .update = service_update, .del = service_del, .arg = p};
	struct informer_handlers eh = {
		.add = slice_set, .update = slice_update, .del = slice_del, .arg = p};

	if (informer_start(c, svc_path, &sh, &p->services, err) < 0 ||
	    informer_start(c, eps_path, &eh, &p->slices, err) < 0) {
		proxy_free(p);
		return err_wrap(err, "start service proxy");
	}
	r = pthread_create(&p->thread, NULL, sync_main, p);
	if (r) {
		proxy_free(p);
		return err_errno(err, r, "start service proxy thread");
	}
	p->thread_started = true;
	*ret = p;
	return 0;
}

void svcproxy_stop(struct svcproxy *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	/* handlers may still run until their informers stop; they only touch the model */
	proxy_free(p);
}

void svcproxy_sync_stats(struct svcproxy *p, struct svcproxy_stats *ret)
{
	pthread_mutex_lock(&p->lock);
	*ret = p->stats;
	pthread_mutex_unlock(&p->lock);
}

bool svcproxy_wait_idle(struct svcproxy *p, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms;
	bool idle;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		idle = p->synced && !p->busy && !p->need_full && p->applied_seq == p->seq &&
		       !sp_model_dirty(p->model);
		if (idle || clock_mono_ms() >= end)
			break;
		timed_wait(p, end - clock_mono_ms());
	}
	pthread_mutex_unlock(&p->lock);
	return idle;
}
