/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allocator of the control plane's processes (server, hollow nodes): their threads
 * allocate and free each other's JSON all the time, where glibc's arenas cost a fifth of
 * the API server's CPU and mimalloc much less. The others keep glibc's, which starts
 * faster and smaller: the runtime, the shim and image commands are short-lived, and a
 * standalone node agent held 4 MiB more on mimalloc (bench/podstart.sh: 25.8 against
 * 21.5 MiB at its peak).
 */
#ifndef SKIFF_BASE_ALLOCATOR_H
#define SKIFF_BASE_ALLOCATOR_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Called first thing by a daemon with the process's original @argv: re-executes the
 * binary with mimalloc preloaded when the system has libmimalloc.so.2 beside its C
 * library, and, once re-executed, puts the environment back as it was. Returns when the
 * process goes on as it is (re-executed, or no mimalloc, or SKIFF_MALLOC=libc, or a
 * sanitizer build). Nothing may have started a thread or opened a file to keep before it.
 */
void allocator_daemon(char **argv);

/*
 * For a thread about to wait idle: gives back the memory it freed, which mimalloc keeps
 * for the thread until it allocates again. Nothing under glibc's allocator.
 */
void allocator_thread_idle(void);

/*
 * pthread_cond_wait() for a pool's worker waiting for work on @cond under @lock. A worker
 * that worked since it last gave back memory (*@dirty) waits at most 200 ms first and,
 * if nothing came, calls allocator_thread_idle() (with @lock released) and clears
 * *@dirty: a busy worker pays nothing, an idle one holds nothing. Returns with @lock held,
 * on a signal or after that trim; the caller rechecks its queue either way.
 */
void allocator_idle_wait(pthread_cond_t *cond, pthread_mutex_t *lock, bool *dirty);

/*
 * For a daemon's periodic loop, from one thread: once the process holds 256 MiB, the
 * memory mimalloc takes from then on comes in transparent huge pages, unless
 * MIMALLOC_LARGE_OS_PAGES is set. Nothing under glibc's allocator.
 */
void allocator_check_growth(void);

#endif
