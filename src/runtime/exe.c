/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protection of the runtime's own binary (CVE-2019-5736): before a command that puts a
 * process into a container, re-execute from a sealed in-memory copy, so that nothing
 * inside the container can reach the host's file through /proc/<pid>/exe and write it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/proc.h"
#include "runtime/runtime.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static bool running_sealed(void)
{
	cleanup_close int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int seals;

	if (fd < 0)
		return false;
	seals = fcntl(fd, F_GET_SEALS);
	return seals >= 0 && (seals & SEALS) == SEALS;
}

int rt_exe_seal(char **argv, struct err *err)
{
	cleanup_close int src = -1, mfd = -1;
	struct stat st;
	off_t off = 0;

	if (running_sealed()) {
		/* executed from the memfd, the process would be named "memfd:skiff" */
		proc_name_after(argv[0]);
		return 0;
	}
	src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (src < 0 || fstat(src, &st) < 0)
		return err_sys(err, "open the runtime's own binary");
	mfd = memfd_create("skiff", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return err_sys(err, "create a sealed copy of the runtime");
	while (off < st.st_size) {
		ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_sys(err, "copy the runtime's binary");
	}
	if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
		return err_sys(err, "seal the runtime's copy");
	syscall(SYS_execveat, mfd, "", argv, environ, AT_EMPTY_PATH);
	return err_sys(err, "execute the sealed copy of the runtime");
}
