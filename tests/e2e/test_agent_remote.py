# SPDX-License-Identifier: Apache-2.0
"""The node agent as its own process: `skiff agent --server URL --token-file F` joins a
`skiff server` that runs none, with only a node's credentials (its own Node, Lease and
pods' status; PersistentVolumes it provisions), and the same behaviours hold; killing
that agent with SIGKILL leaves its pods running, adopted by the next agent."""

import os

import pytest

from node_env import Node
from test_agent import (  # noqa: F401  (collected here against the remote agent)
    test_agent_kill9_adopts_running_pods,
    test_exec_and_cp,
    test_pod_runs_and_logs,
    test_port_forward,
    test_pvc_data_survives_pod_recreation,
    test_volumes,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture(scope="module")
def node():
    n = Node(remote_agent=True)
    yield n
    n.cleanup()
