#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# mkbundle.sh DIR: make an OCI bundle at DIR from Debian's busybox-static.
# DIR/rootfs holds busybox with every applet linked in /bin; DIR/config.json is
# a default spec close to what `runc spec` writes (not read-only, no terminal),
# written here so the script works before any runtime is installed.
# Used by tests/e2e, bench/runtime.sh, scripts/demo-runtime.sh and scripts/mkrootfs-tar.sh.
set -euo pipefail

usage() {
	echo "usage: $0 DIR" >&2
	exit 2
}

[ $# -eq 1 ] || usage
dir=$1
busybox=${BUSYBOX:-/bin/busybox}

if ! "$busybox" --list >/dev/null 2>&1; then
	echo "mkbundle: '$busybox' is not a busybox binary (install busybox-static)" >&2
	exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkbundle: '$busybox' is dynamically linked; install busybox-static" >&2
	exit 1
fi
if [ -e "$dir/rootfs" ] || [ -e "$dir/config.json" ]; then
	echo "mkbundle: '$dir' already holds a bundle" >&2
	exit 1
fi

mkdir -p "$dir"
rootfs=$dir/rootfs
mkdir -p "$rootfs"/{bin,dev,etc,mnt,proc,root,sys,tmp,usr,var}
chmod 0755 "$dir" "$rootfs"
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
# Scripts that hard-code /usr/bin or /sbin still find the applets.
ln -s ../bin "$rootfs/usr/bin"
ln -s bin "$rootfs/sbin"
ln -s ../bin "$rootfs/usr/sbin"

cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
# `busybox --install -s` would point the links at the host's path, so link by
# hand; one `ln` per batch keeps this well under a second.
(cd "$rootfs/bin" && "$busybox" --list | grep -vx busybox | xargs -n 64 sh -c \
	'for a; do ln -s busybox "$a"; done' sh)

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
wheel:x:10:root
tty:x:5:
nogroup:x:65534:
GROUP
echo "skiff" >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hosts"

cat >"$dir/config.json" <<'JSON'
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": { "uid": 0, "gid": 0 },
		"args": [ "sh" ],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [
			{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
		],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": false },
	"hostname": "skiff",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{
			"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
			"options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ]
		},
		{
			"destination": "/dev/pts", "type": "devpts", "source": "devpts",
			"options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ]
		},
		{
			"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
			"options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ]
		},
		{
			"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
			"options": [ "nosuid", "noexec", "nodev" ]
		},
		{
			"destination": "/sys", "type": "sysfs", "source": "sysfs",
			"options": [ "nosuid", "noexec", "nodev", "ro" ]
		},
		{
			"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
			"options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ]
		}
	],
	"linux": {
		"resources": {
			"devices": [ { "allow": false, "access": "rwm" } ]
		},
		"namespaces": [
			{ "type": "pid" },
			{ "type": "network" },
			{ "type": "ipc" },
			{ "type": "uts" },
			{ "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
JSON
