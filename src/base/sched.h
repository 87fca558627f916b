/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control plane's processes (server, hollow nodes) run their threads under
 * SCHED_BATCH: a thread that wakes another (a store commit waking the requests it
 * answers, a watch event waking an informer) keeps its CPU until its time slice ends or
 * it waits, instead of being preempted by the thread it woke. The server hands work
 * between threads several times per write, and each such preemption is one more context
 * switch. Processes they start (the agent's shims, and through them the runtime and
 * containers) run under the default policy.
 */
#ifndef SKIFF_BASE_SCHED_H
#define SKIFF_BASE_SCHED_H

/*
 * Called by a daemon's main thread before it starts any other: switches the process to
 * SCHED_BATCH when it runs under the default policy (one chosen for it, as by chrt or
 * systemd's CPUSchedulingPolicy=, is kept), and has every fork()ed child switch back.
 */
void sched_daemon_batch(void);

#endif
