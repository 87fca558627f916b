/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capability names ("CAP_SYS_ADMIN", as config.json spells them) and numbers, and the
 * highest capability the running kernel knows. Used by the config parser, the process
 * setup that applies the capability sets, and `features`.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/err.h"
#include "base/fs.h"

#include "runtime/internal.h"

/* The highest capability this table names (linux/capability.h, Linux 5.9). */
#define CAP_LAST_KNOWN 40

/* Indexed by number: the kernel ABI fixes these, so they do not come from build headers. */
static const char *const cap_names[CAP_LAST_KNOWN + 1] = {
	[0] = "CAP_CHOWN",
	[1] = "CAP_DAC_OVERRIDE",
	[2] = "CAP_DAC_READ_SEARCH",
	[3] = "CAP_FOWNER",
	[4] = "CAP_FSETID",
	[5] = "CAP_KILL",
	[6] = "CAP_SETGID",
	[7] = "CAP_SETUID",
	[8] = "CAP_SETPCAP",
	[9] = "CAP_LINUX_IMMUTABLE",
	[10] = "CAP_NET_BIND_SERVICE",
	[11] = "CAP_NET_BROADCAST",
	[12] = "CAP_NET_ADMIN",
	[13] = "CAP_NET_RAW",
	[14] = "CAP_IPC_LOCK",
	[15] = "CAP_IPC_OWNER",
	[16] = "CAP_SYS_MODULE",
	[17] = "CAP_SYS_RAWIO",
	[18] = "CAP_SYS_CHROOT",
	[19] = "CAP_SYS_PTRACE",
	[20] = "CAP_SYS_PACCT",
	[21] = "CAP_SYS_ADMIN",
	[22] = "CAP_SYS_BOOT",
	[23] = "CAP_SYS_NICE",
	[24] = "CAP_SYS_RESOURCE",
	[25] = "CAP_SYS_TIME",
	[26] = "CAP_SYS_TTY_CONFIG",
	[27] = "CAP_MKNOD",
	[28] = "CAP_LEASE",
	[29] = "CAP_AUDIT_WRITE",
	[30] = "CAP_AUDIT_CONTROL",
	[31] = "CAP_SETFCAP",
	[32] = "CAP_MAC_OVERRIDE",
	[33] = "CAP_MAC_ADMIN",
	[34] = "CAP_SYSLOG",
	[35] = "CAP_WAKE_ALARM",
	[36] = "CAP_BLOCK_SUSPEND",
	[37] = "CAP_AUDIT_READ",
	[38] = "CAP_PERFMON",
	[39] = "CAP_BPF",
	[40] = "CAP_CHECKPOINT_RESTORE",
};

/*
 * Exact match only: runtime-spec config.md#linux-process lists capabilities by their
 * upper-case CAP_ names, and runc rejects other spellings too.
 */
int rt_cap_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i <= CAP_LAST_KNOWN; i++)
		if (strcmp(cap_names[i], name) == 0)
			return i;
	return -1;
}

/* NULL for numbers this table does not name, including ones a newer kernel may know. */
const char *rt_cap_name(int cap)
{
	if (cap < 0 || cap > CAP_LAST_KNOWN)
		return NULL;
	return cap_names[cap];
}

static int read_cap_last_cap(void)
{
	cleanup_err struct err err = ERR_INIT;
	cleanup_free char *buf = NULL;
	char *end = NULL;
	long v;

	if (fs_read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &buf, NULL, &err) < 0)
		return CAP_LAST_KNOWN;
	v = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0'))
		return CAP_LAST_KNOWN;
	/* Capability sets are 64-bit masks (struct rt_process.caps). */
	if (v < 0 || v > 63)
		return CAP_LAST_KNOWN;
	return (int)v;
}

/*
 * The kernel's value as it is, which may exceed CAP_LAST_KNOWN on a newer kernel (dropping
 * the bounding set must cover those too) or be lower on an older one. Without /proc it is
 * CAP_LAST_KNOWN. Read once; a race between first callers only reads the file twice.
 */
int rt_cap_last(void)
{
	static int cached = -1;
	int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);

	if (v < 0) {
		v = read_cap_last_cap();
		__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	}
	return v;
}
