/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An API server of a test's own: a scratch directory /tmp/skiff-test-NAME-XXXXXX holding
 * its data, the server on loopback as @cfg says, and an in-process client. A failure to
 * start fails the test; stopping removes the directory. Include after cmocka.h.
 */
#ifndef SKIFF_TESTS_API_FIXTURE_H
#define SKIFF_TESTS_API_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"
#include "cluster/api/api.h"
#include "cluster/client/client.h"

#define TEST_API_DIR_MAX 64

static inline void test_api_start(const char *name, struct api_config *cfg,
				  char dir[TEST_API_DIR_MAX], struct api **api, struct kc **kc)
{
	cleanup_free char *data = NULL;
	cleanup_err struct err err = ERR_INIT;

	/* a client that goes away mid-answer must not end the test */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, TEST_API_DIR_MAX, "/tmp/skiff-test-%s-XXXXXX", name);
	if (!mkdtemp(dir))
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
	data = xasprintf("%s/data", dir);
	cfg->data_dir = data;
	if (api_start(cfg, api, &err) < 0 || kc_local(*api, kc, &err) < 0)
		fail_msg("start the API server: %s", err.msg);
	cfg->data_dir = NULL;
}

static inline void test_api_stop(const char *dir, struct api *api, struct kc *kc)
{
	cleanup_err struct err err = ERR_INIT;

	kc_free(kc);
	api_stop(api);
	if (fs_remove_tree(AT_FDCWD, dir, &err) < 0)
		fprintf(stderr, "remove %s: %s\n", dir, err.msg);
}

#endif
