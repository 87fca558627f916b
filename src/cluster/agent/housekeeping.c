/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the agent does to keep its node usable, on the heartbeat thread every few
 * seconds: image garbage collection once the image store's file system fills past a
 * threshold (unused images, oldest first, until below the low mark), and eviction under
 * memory pressure (one pod per round, BestEffort before Burstable before Guaranteed, the
 * heaviest first), as the kubelet's image and eviction managers do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/log.h"
#include "cluster/agent/internal.h"
#include "cluster/agent/ocispec.h"
#include "cluster/client/client.h"
#include "image/image.h"

/* Percent of the file system holding the image store that is used; -1 if unknown. */
static int disk_used_percent(struct agent *a)
{
	cleanup_free char *root = a->cfg.image_root ? xstrdup(a->cfg.image_root)
						    : xasprintf("%s/images", a->cfg.data_dir);
	struct statvfs sv;

	if (statvfs(root, &sv) < 0 || !sv.f_blocks)
		return -1;
	return (int)((sv.f_blocks - sv.f_bfree) * 100 / sv.f_blocks);
}

/* The images the node's containers use, as store names. */
static char **images_in_use(struct agent *a)
{
	size_t n = 0, cap = 16;
	char **v = xcalloc(cap, sizeof(char *));

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->n_apods; i++) {
		struct apod *p = a->apods[i];
		const json_t *lists[2];

		if (!p->pod_ref)
			continue;
		lists[0] = json_object_get(json_object_get(p->pod_ref, "spec"), "containers");
		lists[1] = json_object_get(json_object_get(p->pod_ref, "spec"), "initContainers");
		for (int l = 0; l < 2; l++) {
			size_t j;
			const json_t *c;

			json_array_foreach (lists[l], j, c) {
				const char *image = json_string_value(json_object_get(c, "image"));
				struct img_ref ref = {0};
				struct err err = ERR_INIT;

				if (!image || img_ref_parse(image, &ref, &err) < 0) {
					err_clear(&err);
					continue;
				}
				if (n + 2 > cap) {
					cap *= 2;
					v = xrealloc(v, cap * sizeof(char *));
				}
				v[n++] = img_ref_string(&ref);
				v[n] = NULL;
				img_ref_done(&ref);
			}
		}
	}
	pthread_mutex_unlock(&a->mu);
	return v;
}

static bool listed(char **v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

static int by_created(const void *x, const void *y)
{
	const struct img_image *a = x, *b = y;

	return strcmp(a->created ? a->created : "", b->created ? b->created : "");
}

static void image_gc(struct agent *a)
{
	int used = disk_used_percent(a);
	struct img_image *images = NULL;
	size_t n = 0, removed = 0;
	uint64_t freed = 0;
	cleanup_strv char **in_use = NULL;
	struct err err = ERR_INIT;

	if (used < 0 || used < a->cfg.image_gc_high)
		return;
	in_use = images_in_use(a);
	pthread_mutex_lock(&a->images_mu);
	if (img_list(a->images, &images, &n, &err) < 0) {
		pthread_mutex_unlock(&a->images_mu);
		log_warn("agent: image garbage collection: %s", err.msg);
		err_clear(&err);
		return;
	}
	qsort(images, n, sizeof(*images), by_created);
	for (size_t i = 0; i < n && used >= a->cfg.image_gc_low; i++) {
		uint64_t bytes = 0;
		size_t blobs = 0, snaps = 0;

		if (listed(in_use, images[i].name))
			continue;
		if (img_untag(a->images, images[i].name, &err) < 0 ||
		    img_prune(a->images, &bytes, &blobs, &snaps, &err) < 0) {
			log_warn("agent: image garbage collection: %s, ignoring", err.msg);
			err_clear(&err);
			continue;
		}
		removed++;
		freed += bytes;
		used = disk_used_percent(a);
	}
	pthread_mutex_unlock(&a->images_mu);
	img_images_free(images, n);
	if (removed)
		log_info("agent: image garbage collection removed %zu images, freed %llu bytes "
			 "(disk %d%% used, threshold %d%%)",
			 removed, (unsigned long long)freed, used, a->cfg.image_gc_high);
}

/* ---- eviction ---- */

static int64_t meminfo_available(void)
{
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "MemAvailable:", 13))
			return strtoll(line + 13, NULL, 10) * 1024;
	return -1;
}

static int64_t pod_memory(struct agent *a, const json_t *pod)
{
	cleanup_free char *parent = ocispec_cgroup_parent(a->cgroup_root, pod);
	cleanup_free char *path = NULL, *text = NULL;
	struct err err = ERR_INIT;
	size_t len;

	if (!parent)
		return 0;
	path = xasprintf("/sys/fs/cgroup/memory%s/memory.usage_in_bytes", parent);
	if (fs_read_file(AT_FDCWD, path, &text, &len, &err) < 0) {
		err_clear(&err);
		return 0;
	}
	return strtoll(text, NULL, 10);
}

static int qos_rank(const json_t *pod)
{
	const char *q = ocispec_qos_class(pod);

	return !strcmp(q, "BestEffort") ? 0 : !strcmp(q, "Burstable") ? 1 : 2;
}

static void evict_one(struct agent *a, int64_t available)
{
	struct apod *victim = NULL;
	int best_rank = 3;
	int64_t best_mem = -1;
	cleanup_free char *msg = NULL;
	json_t *pod = NULL;

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->n_apods; i++) {
		struct apod *p = a->apods[i];
		int rank;
		int64_t mem;

		if (!p->pod_ref || p->evicted || p->finished || p->gone)
			continue;
		rank = qos_rank(p->pod_ref);
		mem = pod_memory(a, p->pod_ref);
		if (rank < best_rank || (rank == best_rank && mem > best_mem)) {
			victim = p;
			best_rank = rank;
			best_mem = mem;
		}
	}
	if (victim) {
		msg = xasprintf("The node was low on resource: memory. Threshold quantity: %lldKi, "
				"available: %lldKi. ",
				(long long)(a->cfg.eviction_memory / 1024),
				(long long)(available / 1024));
		victim->evicted = xstrdup(msg);
		pod = json_incref(victim->pod_ref);
		wq_add(a->wq, victim->uid);
	}
	pthread_mutex_unlock(&a->mu);
	if (pod) {
		kc_event(a->kc, pod, "Warning", "Evicted", AGENT_COMPONENT, "%s", msg);
		log_info("agent: evicting pod %s/%s: %s",
			 json_string_value(
				 json_object_get(json_object_get(pod, "metadata"), "namespace")),
			 json_string_value(
				 json_object_get(json_object_get(pod, "metadata"), "name")),
			 msg);
		json_decref(pod);
	}
}

void agent_housekeeping(struct agent *a)
{
	int64_t available = meminfo_available();

	image_gc(a);
	a->memory_pressure = available >= 0 && available < a->cfg.eviction_memory;
	if (a->memory_pressure)
		evict_one(a, available);
}
