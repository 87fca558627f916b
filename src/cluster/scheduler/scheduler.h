/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler: binds pods without a node to the node that fits them best, through
 * the pods/binding subresource, as a client of the API like any controller.
 */
#ifndef SKIFF_CLUSTER_SCHEDULER_SCHEDULER_H
#define SKIFF_CLUSTER_SCHEDULER_SCHEDULER_H

struct err;
struct kc;
struct scheduler;

int scheduler_start(struct kc *c, struct scheduler **ret, struct err *err);
void scheduler_stop(struct scheduler *s);

#endif
