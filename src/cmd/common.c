/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every command shares: reporting an error and turning it into an exit status; the
 * node agent's tuning flags, which `skiff agent` and `skiff server` both take.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "cluster/agent/agent.h"
#include "cluster/api/quantity.h"
#include "cmd/cmd.h"

int cmd_fail(const char *prog, struct err *err)
{
	const char *msg = err->msg ? err->msg : "unknown error";

	(void)prog;
	/* engines read the log file; people read stderr: runc writes both */
	log_error("%s", msg);
	if (log_to_file())
		fprintf(stderr, "%s\n", msg);
	err_clear(err);
	return 1;
}

int64_t cmd_duration_ms(const char *s)
{
	int64_t total = 0;
	const char *start = s;
	char *end;

	if (!s || !*s)
		return -1;
	for (;;) {
		long long v;

		if (*s < '0' || *s > '9')
			return -1;
		v = strtoll(s, &end, 10);
		if (v > 100000000)
			return -1;
		if (!*end)
			/* a bare number is seconds, alone */
			return s == start ? v * 1000 : -1;
		if (!strncmp(end, "ms", 2)) {
			total += v;
			end += 2;
		} else if (*end == 'h' || *end == 'm' || *end == 's') {
			total += v * (*end == 'h' ? 3600000 : *end == 'm' ? 60000 : 1000);
			end++;
		} else {
			return -1;
		}
		if (!*end)
			return total;
		s = end;
	}
}

int cmd_agent_tuning(struct agent_config *cfg, const struct cmd_agent_flags *f, struct err *err)
{
	const char *prefix = "memory.available<";
	struct quantity q;
	const char *why = NULL;

	if (f->gc_high < 0 || f->gc_high > 100 || f->gc_low < 0 || f->gc_low > 100)
		return err_set(err, EINVAL,
			       "--image-gc-high-threshold and --image-gc-low-threshold are "
			       "percentages from 0 to 100");
	if (f->gc_low > f->gc_high)
		return err_set(err, EINVAL,
			       "--image-gc-low-threshold %d is above --image-gc-high-threshold %d",
			       f->gc_low, f->gc_high);
	cfg->image_gc_high = f->gc_high;
	cfg->image_gc_low = f->gc_low;
	cfg->image_gc_set = true;
	if (f->eviction) {
		if (strncmp(f->eviction, prefix, strlen(prefix)) ||
		    !quantity_parse(f->eviction + strlen(prefix), &q, &why))
			return err_set(err, EINVAL,
				       "--eviction-hard '%s': expected memory.available<QUANTITY "
				       "(e.g. memory.available<100Mi)%s%s",
				       f->eviction, why ? ": " : "", why ? why : "");
		cfg->eviction_memory = quantity_value(&q);
	}
	if (f->housekeeping) {
		int64_t ms = cmd_duration_ms(f->housekeeping);

		if (ms <= 0)
			return err_set(
				err, EINVAL,
				"--housekeeping-interval '%s': expected a duration such as 10s",
				f->housekeeping);
		cfg->housekeeping_ms = (int)ms;
	}
	return 0;
}
