#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# podman.sh: podman run --rm IMAGE true on skiff, crun and runc side by side (bench/podman.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/podman.py "$@"
