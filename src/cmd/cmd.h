/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The user-facing commands: each parses its flags, calls module APIs, prints results and
 * returns the process exit status. Dispatched from main.c.
 */
#ifndef SKIFF_CMD_CMD_H
#define SKIFF_CMD_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "base/version.h"

struct err;

/* The process's original argument vector, for re-executing it. */
extern char **skiff_argv;

int cmd_runtime(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_shim(int argc, char **argv);
int cmd_pause(int argc, char **argv);

struct agent_config;

/* The node agent's tuning flags (NULL: not given). */
struct cmd_agent_flags {
	int gc_high, gc_low;  /* --image-gc-high-threshold (85), --image-gc-low-threshold (80) */
	const char *eviction; /* --eviction-hard memory.available<Q */
	const char *housekeeping; /* --housekeeping-interval D */
};

/* Checks @f and applies it to @cfg; EINVAL names the flag. */
int cmd_agent_tuning(struct agent_config *cfg, const struct cmd_agent_flags *f, struct err *err);

/*
 * A duration flag as Go writes them ("1h30m", "40s", "500ms") or a bare number of seconds,
 * in milliseconds; -1 when malformed.
 */
int64_t cmd_duration_ms(const char *s);

/* Prints @err's message (and logs it), clears it and returns exit status 1. */
int cmd_fail(const char *prog, struct err *err);

#endif
