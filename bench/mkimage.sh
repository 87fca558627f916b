#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/mkimage.sh: the image bench/pull.sh pulls, built once and cached under
# /var/cache/skiff-bench/: a Debian bookworm root (debootstrap --variant=minbase)
# plus real packages to pass 200 MB uncompressed, as an OCI layout of 5 gzip
# layers (bench/pull.py layout). Prints the layout's path; its tag is "1".
# Installs debootstrap with apt-get if it is missing. Needs root and network
# access to deb.debian.org the first time only.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${SKIFF_BENCH_CACHE:-/var/cache/skiff-bench}
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
PACKAGES=(python3 perl)
NAME=$SUITE-minbase+$(IFS=+; echo "${PACKAGES[*]}")
ROOTFS=$CACHE/$NAME/rootfs
LAYOUT=$CACHE/$NAME/oci

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/mkimage.sh: needs root" >&2
	exit 1
fi
mkdir -p "$CACHE/$NAME"

partial=
cleanup() {
	if [ -n "$partial" ]; then rm -rf --one-file-system "$partial"; fi
}
trap cleanup EXIT

if [ ! -d "$ROOTFS" ]; then
	if ! command -v debootstrap >/dev/null; then
		echo "bench/mkimage.sh: installing debootstrap" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2 ||
			{ apt-get update >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >&2; }
	fi
	partial=$ROOTFS.partial
	rm -rf --one-file-system "$partial"
	echo "bench/mkimage.sh: debootstrap $SUITE into $partial" >&2
	# a mount namespace of its own: what debootstrap and apt mount (proc, sys)
	# disappears with it, even when they fail half way
	unshare -m --propagation private \
		debootstrap --variant=minbase "$SUITE" "$partial" "$MIRROR" >&2
	echo "bench/mkimage.sh: apt-get install ${PACKAGES[*]}" >&2
	unshare -m --propagation private sh -ec '
		root=$1; shift
		mount -t proc proc "$root/proc"
		chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -q
		chroot "$root" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "$@"
		chroot "$root" apt-get clean
	' sh "$partial" "${PACKAGES[@]}" >&2
	# what Debian's own images leave out
	rm -rf "$partial"/var/lib/apt/lists/* "$partial"/var/cache/apt/*.bin \
		"$partial"/var/log/apt/* "$partial"/var/cache/debconf/*-old
	mv "$partial" "$ROOTFS"
	partial=
fi

if [ ! -f "$LAYOUT/index.json" ]; then
	partial=$LAYOUT.partial
	rm -rf "$partial"
	echo "bench/mkimage.sh: OCI layout of $ROOTFS into $partial" >&2
	/usr/bin/python3 bench/pull.py layout "$ROOTFS" "$partial" >&2
	mv "$partial" "$LAYOUT"
	partial=
fi
echo "$LAYOUT"
