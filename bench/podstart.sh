#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# podstart.sh: pod start latency and the node agent's memory on one node, beside
# `podman run -d` on crun (bench/podstart.py). N=100 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/podstart.py "$@"
