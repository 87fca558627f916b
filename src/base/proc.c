/* SPDX-License-Identifier: Apache-2.0 */
#include <libgen.h>
#include <stdio.h>
#include <sys/prctl.h>

#include "base/proc.h"

void proc_name_after(const char *argv0)
{
	char copy[4096];

	if (!argv0 || !*argv0)
		return;
	snprintf(copy, sizeof(copy), "%s", argv0);
	/* the kernel keeps the first 15 bytes */
	prctl(PR_SET_NAME, basename(copy), 0, 0, 0);
}
