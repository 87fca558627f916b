#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bench/json.sh: skiff's JSON reader and writer against jansson's (bench/json.c), built
# from the same sources as skiff with the same optimisation. Called by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=gnu11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags jansson) bench/json.c \
	src/base/jload.c src/base/jdump.c -o "$tmp/json" $(pkg-config --libs jansson)
"$tmp/json"
