/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scope-bound resource release: variables declared with a cleanup_* attribute are freed,
 * closed or unreferenced when they leave scope, so early returns cannot leak. Hand a
 * resource on with TAKE_PTR()/TAKE_FD(), which return it and reset the variable.
 */
#ifndef SKIFF_BASE_CLEANUP_H
#define SKIFF_BASE_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"

static inline void cleanup_free_fn(void *p)
{
	free(*(void **)p);
}

static inline void cleanup_close_fn(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void cleanup_fclose_fn(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void cleanup_dir_fn(DIR **d)
{
	if (*d)
		closedir(*d);
}

static inline void cleanup_json_fn(json_t **j)
{
	json_decref(*j);
}

static inline void cleanup_strv_fn(char ***v)
{
	if (*v) {
		for (char **p = *v; *p; p++)
			free(*p);
		free(*v);
	}
}

static inline void cleanup_err_fn(struct err *e)
{
	err_clear(e);
}

#define cleanup_free   __attribute__((cleanup(cleanup_free_fn)))
#define cleanup_close  __attribute__((cleanup(cleanup_close_fn)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclose_fn)))
#define cleanup_dir    __attribute__((cleanup(cleanup_dir_fn)))
#define cleanup_json   __attribute__((cleanup(cleanup_json_fn)))
#define cleanup_strv   __attribute__((cleanup(cleanup_strv_fn)))
#define cleanup_err    __attribute__((cleanup(cleanup_err_fn)))

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) take_ptr_tmp_ = (p);                                                 \
		(p) = NULL;                                                                        \
		take_ptr_tmp_;                                                                     \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int take_fd_tmp_ = (fd);                                                           \
		(fd) = -1;                                                                         \
		take_fd_tmp_;                                                                      \
	})

#endif
