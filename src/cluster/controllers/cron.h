/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CronJob schedules for the cronjob controller: the standard five-field syntax (with
 * names, ranges, steps, "?", the @hourly family, @every and a TZ=/CRON_TZ= prefix) as
 * upstream's parser (robfig/cron v3 ParseStandard) reads it, and the next activation
 * time in a time zone read from the TZ database (TZif files and their POSIX footer).
 */
#ifndef SKIFF_CLUSTER_CONTROLLERS_CRON_H
#define SKIFF_CLUSTER_CONTROLLERS_CRON_H

#include <stdint.h>

struct err;
struct cron_schedule;
struct cron_zone;

/* Parses @spec; EINVAL with the upstream parser's message ("expected exactly 5 fields..."). */
int cron_parse(const char *spec, struct cron_schedule **ret, struct err *err);
/* The zone named by the spec's TZ=/CRON_TZ= prefix (borrowed), or NULL. */
const char *cron_schedule_zone(const struct cron_schedule *s);
void cron_schedule_free(struct cron_schedule *s);

/*
 * Loads zone @name ("UTC", "Europe/Berlin", "Etc/GMT-3") from @dir (NULL: the system's
 * /usr/share/zoneinfo); NULL or "" means the process's local zone (/etc/localtime, else
 * UTC), as upstream uses the controller manager's zone. ENOENT for an unknown zone,
 * EINVAL for a malformed name or file.
 */
int cron_zone_load(const char *dir, const char *name, struct cron_zone **ret, struct err *err);
/* Seconds east of UTC in effect at Unix time @t. */
int32_t cron_zone_offset(const struct cron_zone *z, int64_t t);
void cron_zone_free(struct cron_zone *z);

/*
 * The first activation strictly after Unix time @after, in zone @z (NULL: UTC), or -1 when
 * there is none within five years (a schedule such as "0 0 30 2 *").
 */
int64_t cron_next(const struct cron_schedule *s, const struct cron_zone *z, int64_t after);

#endif
