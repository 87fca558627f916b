#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# mkrootfs-tar.sh OUT.tar: a tarball of the busybox rootfs that mkbundle.sh
# makes (paths relative to the root, numeric owners), for the image tests.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUT.tar" >&2
	exit 2
fi
out=$(realpath -m "$1")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/mkbundle.sh" "$tmp/bundle"
tar -C "$tmp/bundle/rootfs" --numeric-owner --sort=name -cf "$out.partial" .
mv "$out.partial" "$out"
