#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# podman-env.sh [-r RUNTIME] [PODMAN-ARGS...]: podman (as tests/e2e/test_podman.py
# drives it) on skiff, runc, crun or a runtime's path, in a throwaway environment
# with the busybox image; e.g. `scripts/podman-env.sh --log-level debug run --rm IMAGE true`.
# Without PODMAN-ARGS it opens a shell. Needs root; see tests/e2e/podman_env.py.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/../tests/e2e/podman_env.py" "$@"
