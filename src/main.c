/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skiff: one multi-call binary. argv[0] ("skiff-runtime") or the first word ("runtime")
 * picks the command from one table.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/allocator.h"
#include "base/sched.h"
#include "cmd/cmd.h"

char **skiff_argv;

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	bool daemon; /* the control plane: mimalloc and SCHED_BATCH (base/allocator.h, sched.h) */
};

static const struct cmd commands[] = {
	{"runtime", cmd_runtime, false}, {"image", cmd_image, false}, {"server", cmd_server, true},
	{"sim", cmd_sim, true},          {"agent", cmd_agent, false}, {"shim", cmd_shim, false},
	{"pause", cmd_pause, false},
};

static const struct cmd *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int usage(FILE *f)
{
	fprintf(f, "usage: skiff <command> [flags] ...\n\n"
		   "commands:\n"
		   "  runtime   OCI runtime with runc's command line (also as 'skiff-runtime')\n"
		   "  image     images: pull, push, import, save, load, mount, bundle ...\n"
		   "  server    control plane: the Kubernetes API (kubectl is the client)\n"
		   "  agent     node agent: runs this machine's pods for a cluster\n"
		   "  sim       simulated (hollow) nodes for tests and benchmarks\n"
		   "\n"
		   "skiff --version prints the version.\n");
	return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const struct cmd *c;

	if (argc >= 2 && (c = find(argv[1])) && c->daemon) {
		allocator_daemon(argv);
		sched_daemon_batch();
	}
	/* commands reorder their argv while parsing flags: keep the original for re-exec */
	skiff_argv = xcalloc((size_t)argc + 1, sizeof(char *));
	memcpy(skiff_argv, argv, (size_t)argc * sizeof(char *));
	/* skiff-runtime behaves exactly like "skiff runtime" */
	if (!strncmp(base, "skiff-", 6) && (c = find(base + 6)))
		return c->fn(argc, argv);
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("skiff version %s\n", SKIFF_VERSION_STRING);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return usage(stdout);
	c = find(argv[1]);
	if (!c) {
		fprintf(stderr, "skiff: unknown command '%s'\n", argv[1]);
		return usage(stderr);
	}
	return c->fn(argc - 1, argv + 1);
}
