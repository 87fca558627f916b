#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-e2e.sh [PYTEST-ARGS...]: run the end-to-end suite against build/skiff-runtime
# (or $SKIFF_BIN / $E2E_RUNTIME, see tests/e2e/conftest.py). Called by `make e2e`.
# Exits with pytest's status; a run that collects no test fails. pytest's
# summary line is the last line printed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# The engine suites are first run on runc, the reference, so a failure there shows
# the suite (not skiff) is wrong. E2E_REFERENCE=0 skips this.
if [ "${E2E_REFERENCE:-1}" != 0 ] && [ "$#" -eq 0 ]; then
	echo "run-e2e: reference run of the engine suites with runc"
	if ! E2E_PODMAN_RUNTIME=runc E2E_CONTAINERD_RUNTIME=runc E2E_DOCKER_RUNTIME=runc \
		/usr/bin/python3 -m pytest -q tests/e2e/test_podman.py tests/e2e/test_containerd.py \
		tests/e2e/test_docker.py; then
		echo "run-e2e: the engine suites fail with runc too: fix the suite first"
		exit 1
	fi
fi

PYTHONUNBUFFERED=1 /usr/bin/python3 -m pytest -q tests/e2e "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

if [ "$rc" -eq 5 ]; then
	echo "run-e2e: pytest collected no tests; that is a failure"
	tail -n 1 "$log"
	exit 1
fi
exit "$rc"
