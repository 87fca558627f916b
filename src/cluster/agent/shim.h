/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The container monitor: one small process per container (`skiff shim`), started by the
 * node agent, which outlives the agent. It creates and starts the container through the
 * runtime, holds its stdout/stderr (pipes, or the pty master of a tty container) and
 * writes them to the container's CRI log, is the subreaper that collects the container's
 * exit status, and records that exit in a file the agent reads, so that containers,
 * their logs and their exit codes survive a restart of the agent.
 *
 * Attach: the shim listens on `<bundle>/attach.sock`. Every message either way is a
 * frame: one byte of channel, four bytes of big-endian length, the payload. From the
 * shim: SHIM_STDOUT / SHIM_STDERR output as it is logged. To the shim: SHIM_STDIN bytes
 * for the container's stdin (or terminal), SHIM_RESIZE `{"Width":W,"Height":H}` for a
 * terminal, SHIM_CLOSE_STDIN to close the container's stdin.
 */
#ifndef SKIFF_CLUSTER_AGENT_SHIM_H
#define SKIFF_CLUSTER_AGENT_SHIM_H

#include <stdbool.h>
#include <stdint.h>

struct err;

enum {
	SHIM_STDIN = 0,
	SHIM_STDOUT = 1,
	SHIM_STDERR = 2,
	SHIM_RESIZE = 4,
	SHIM_CLOSE_STDIN = 255,
};

struct shim_opts {
	const char *runtime_root; /* the runtime's --root */
	const char *id;           /* container id */
	const char *bundle;       /* holds config.json; the shim's files go here too */
	const char *log_path;     /* the CRI log file */
	int64_t log_max_size;     /* bytes before rotation; 0: 10 MiB */
	int log_max_files;        /* 0: 5 */
	bool stdin_open;          /* keep a stdin for attach (container.stdin) */
	bool stdin_once;          /* close it when the first attached client leaves */
	int status_fd; /* "ok <pid> <started-ns>\n" or "error <message>\n" once started */
};

/*
 * Runs the monitor until the container has exited and its output is drained. The exit
 * record `<bundle>/exit` is JSON: exitCode, signal, startedAt, finishedAt (RFC 3339 with
 * nanoseconds) and oomKilled.
 */
int shim_main(const struct shim_opts *o, struct err *err);

#define SHIM_EXIT_FILE   "exit"
#define SHIM_ATTACH_SOCK "attach.sock"
#define SHIM_PID_FILE    "shim.pid"

#endif
