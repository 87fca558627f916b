#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# service.sh: the service proxy on one node: HTTP through a ClusterIP against a pod IP,
# and the time an endpoint change takes to reach nftables (bench/service.py).
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/service.py "$@"
