/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mimalloc for the long-running commands (see allocator.h). Linking it would make every
 * process of the binary pay its start-up: measured here, about 3 ms and 300 KiB more per
 * container run by the runtime. So a daemon re-executes itself once with mimalloc in
 * LD_PRELOAD, found beside the C library the binary runs with, and the re-executed
 * process puts the environment back at once: what it starts never inherits the preload.
 */
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/allocator.h"

#if defined(__SANITIZE_ADDRESS__)
/* the sanitizers' runtime must stay the first library and keeps its allocator */
void allocator_daemon(char **argv)
{
	(void)argv;
}
#else
#define LIB          "libmimalloc.so.2"
#define MARK         "SKIFF_ALLOCATOR_PRELOADED"
#define SAVED        "SKIFF_ALLOCATOR_SAVED_PRELOAD"
#define SET          "SKIFF_ALLOCATOR_SET_OPTIONS"
#define ENV_CHOICE   "SKIFF_MALLOC"
#define MAX_PATH_LEN 4096

/*
 * mimalloc gives memory back when it frees a page or a segment, not after a delay: the
 * delayed decommit runs only when the freeing thread allocates again, and a request
 * worker that built a 14 MiB list and went idle held it (bench/apiserver.sh, 10,300
 * pods: 247 MiB against 80 MiB). Options the caller set are left alone; mimalloc reads
 * them all while loading, so they can leave the environment right after.
 */
static const char *const options[] = {
	"MIMALLOC_SEGMENT_DECOMMIT_DELAY=0",
	"MIMALLOC_DECOMMIT_DELAY=0",
	"MIMALLOC_DECOMMIT_EXTEND_DELAY=0",
};

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
	if (getenv(SET)) {
		char *set = strdup(getenv(SET)), *save = NULL;

		for (char *name = set ? strtok_r(set, ",", &save) : NULL; name;
		     name = strtok_r(NULL, ",", &save))
			unsetenv(name);
		free(set);
		unsetenv(SET);
	}
}

/* Sets the options the environment does not name, and lists them in SET. */
static void set_options(void)
{
	char set[512] = "";

	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const char *eq = strchr(options[i], '=');
		char name[64];

		if ((size_t)(eq - options[i]) >= sizeof(name))
			continue;
		memcpy(name, options[i], (size_t)(eq - options[i]));
		name[eq - options[i]] = '\0';
		if (getenv(name))
			continue;
		setenv(name, eq + 1, 1);
		if (strlen(set) + strlen(name) + 2 < sizeof(set)) {
			if (*set)
				strcat(set, ",");
			strcat(set, name);
		}
	}
	if (*set)
		setenv(SET, set, 1);
}

void allocator_daemon(char **argv)
{
	struct find_libc f = {.found = false};
	const char *choice = getenv(ENV_CHOICE), *old;
	char lib[MAX_PATH_LEN + sizeof(LIB) + 1];
	char *preload;

	if (getenv(MARK)) {
		restore_env();
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
	set_options();
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	execv("/proc/self/exe", argv);
	/* not re-executed: go on with the C library's allocator */
	restore_env();
}
#endif
