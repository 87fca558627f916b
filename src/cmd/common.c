/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every command shares: reporting an error and turning it into an exit status.
 */
#include <stdio.h>

#include "base/err.h"
#include "base/log.h"
#include "cmd/cmd.h"

int cmd_fail(const char *prog, struct err *err)
{
	const char *msg = err->msg ? err->msg : "unknown error";

	(void)prog;
	/* engines read the log file; people read stderr: runc writes both */
	log_error("%s", msg);
	if (log_to_file())
		fprintf(stderr, "%s\n", msg);
	err_clear(err);
	return 1;
}
