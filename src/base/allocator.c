/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mimalloc for the control plane's processes (see allocator.h). Linking it would make
 * every process of the binary pay its start-up: measured here, about 3 ms and 300 KiB more
 * per container run by the runtime. So such a process re-executes itself once with mimalloc in
 * LD_PRELOAD, found beside the C library the binary runs with, and the re-executed
 * process puts the environment back at once: what it starts never inherits the preload.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/allocator.h"
#include "base/clock.h"
#include "base/proc.h"

/* how long a pool worker stays idle before it gives back what it freed */
#define TRIM_AFTER_MS 200

/*
 * The resident size past which mimalloc's new segments get transparent huge pages
 * (madvise): a few faults on huge pages instead of many on small ones. Under the
 * scheduler benchmark's load (bench/ab.sh, 15,000 pods a server, two rounds) that took
 * B/A 0.984 and 0.956 of the server's CPU per pod at the same peak RSS. From the start
 * (B/A 0.972 and 0.952) it also cost 11 MiB at that peak and an idle single-node server
 * 5.5 MiB (32.4 against 26.9 MiB), which a small cluster has no use paying.
 */
#define LARGE_PAGES_FROM (256UL << 20)
/* mi_option_large_os_pages in mimalloc 2's options, kept stable for its ABI */
#define MI_OPTION_LARGE_OS_PAGES 6

#if defined(__SANITIZE_ADDRESS__)
/* the sanitizers' runtime must stay the first library and keeps its allocator */
void allocator_daemon(char **argv)
{
	(void)argv;
}

void allocator_thread_idle(void)
{
}

void allocator_check_growth(void)
{
}
#else
#define LIB          "libmimalloc.so.2"
#define MARK         "SKIFF_ALLOCATOR_PRELOADED"
#define SAVED        "SKIFF_ALLOCATOR_SAVED_PRELOAD"
#define ENV_CHOICE   "SKIFF_MALLOC"
#define MAX_PATH_LEN 4096

struct find_libc {
	char dir[MAX_PATH_LEN];
	bool found;
};

static int find_libc_dir(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_libc *f = arg;
	const char *name = info->dlpi_name, *slash;

	(void)size;
	if (!name || !*name)
		return 0;
	slash = strrchr(name, '/');
	if (!slash || strncmp(slash + 1, "libc.so.", 8) != 0 ||
	    (size_t)(slash - name) >= sizeof(f->dir))
		return 0;
	memcpy(f->dir, name, (size_t)(slash - name));
	f->dir[slash - name] = '\0';
	f->found = true;
	return 1;
}

/* After the re-execution: LD_PRELOAD as it was before it. */
static void restore_env(void)
{
	const char *saved = getenv(SAVED);

	if (saved)
		setenv("LD_PRELOAD", saved, 1);
	else
		unsetenv("LD_PRELOAD");
	unsetenv(SAVED);
	unsetenv(MARK);
}

void allocator_daemon(char **argv)
{
	struct find_libc f = {.found = false};
	const char *choice = getenv(ENV_CHOICE), *old;
	char lib[MAX_PATH_LEN + sizeof(LIB) + 1];
	char *preload;

	if (getenv(MARK)) {
		restore_env();
		/* executed through /proc/self/exe, the process would be named "exe" */
		proc_name_after(argv[0]);
		return;
	}
	if (choice && strcmp(choice, "libc") == 0)
		return;
	dl_iterate_phdr(find_libc_dir, &f);
	if (!f.found || snprintf(lib, sizeof(lib), "%s/%s", f.dir, LIB) >= (int)sizeof(lib) ||
	    access(lib, R_OK) != 0)
		return;
	old = getenv("LD_PRELOAD");
	if (old && strstr(old, LIB))
		return;
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0)
		return;
	if (old)
		setenv(SAVED, old, 1);
	setenv(MARK, "1", 1);
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	execv("/proc/self/exe", argv);
	/* not re-executed: go on with the C library's allocator */
	restore_env();
}

static void (*mi_collect_fn)(bool force);
static pthread_once_t mi_once = PTHREAD_ONCE_INIT;

static void find_mi_collect(void)
{
	/* present only when the process runs with the library preloaded */
	*(void **)&mi_collect_fn = dlsym(RTLD_DEFAULT, "mi_collect");
}

void allocator_thread_idle(void)
{
	pthread_once(&mi_once, find_mi_collect);
	if (mi_collect_fn)
		mi_collect_fn(false);
}

/* The process's resident bytes, or 0 when unknown. */
static size_t resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long size, resident;
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

void allocator_check_growth(void)
{
	static bool done;
	void (*option_enable)(int option);

	if (done || resident_bytes() < LARGE_PAGES_FROM)
		return;
	done = true;
	/* mimalloc's own variable, when set, says what to do */
	if (getenv("MIMALLOC_LARGE_OS_PAGES"))
		return;
	*(void **)&option_enable = dlsym(RTLD_DEFAULT, "mi_option_enable");
	if (option_enable)
		option_enable(MI_OPTION_LARGE_OS_PAGES);
}
#endif

void allocator_idle_wait(pthread_cond_t *cond, pthread_mutex_t *lock, bool *dirty)
{
	struct timespec ts;

	if (!*dirty) {
		pthread_cond_wait(cond, lock);
		return;
	}
	clock_deadline(&ts, TRIM_AFTER_MS);
	if (clock_timedwait(cond, lock, &ts) == ETIMEDOUT) {
		pthread_mutex_unlock(lock);
		allocator_thread_idle();
		pthread_mutex_lock(lock);
		*dirty = false;
	}
}
