/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The table of controllers `skiff server` runs, started in order with one shared client
 * and stopped in reverse.
 */
#include <stdlib.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "cluster/controllers/controllers.h"

static const struct {
	const char *name;
	ctrl_start_fn start;
	ctrl_stop_fn stop;
} table[] = {
	{"replicaset", replicaset_start, replicaset_stop},
	{"deployment", deployment_start, deployment_stop},
	{"daemonset", daemonset_start, daemonset_stop},
	{"statefulset", statefulset_start, statefulset_stop},
	{"job", job_start, job_stop},
	{"cronjob", cronjob_start, cronjob_stop},
	{"endpoints", endpoints_start, endpoints_stop},
	{"nodelifecycle", nodelifecycle_start, nodelifecycle_stop},
	{"garbagecollector", gc_start, gc_stop},
	{"namespace", namespace_start, namespace_stop},
};

#define NCONTROLLERS (sizeof(table) / sizeof(table[0]))

struct controllers {
	void *state[NCONTROLLERS];
	size_t started;
};

int controllers_start(struct kc *c, const struct controllers_config *cfg, struct controllers **ret,
		      struct err *err)
{
	struct controllers *ctl = xcalloc(1, sizeof(*ctl));

	for (; ctl->started < NCONTROLLERS; ctl->started++) {
		size_t i = ctl->started;

		if (table[i].start(c, cfg, &ctl->state[i], err) < 0) {
			int r = err_wrap(err, "start the %s controller", table[i].name);

			controllers_stop(ctl);
			return r;
		}
		log_debug("controllers: %s started", table[i].name);
	}
	*ret = ctl;
	return 0;
}

void controllers_stop(struct controllers *ctl)
{
	if (!ctl)
		return;
	while (ctl->started > 0) {
		ctl->started--;
		table[ctl->started].stop(ctl->state[ctl->started]);
	}
	free(ctl);
}
