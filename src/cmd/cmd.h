/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The user-facing commands: each parses its flags, calls module APIs, prints results and
 * returns the process exit status. Dispatched from main.c.
 */
#ifndef SKIFF_CMD_CMD_H
#define SKIFF_CMD_CMD_H

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

/* Prints @err's message (and logs it), clears it and returns exit status 1. */
int cmd_fail(const char *prog, struct err *err);

#endif
