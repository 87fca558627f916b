# SPDX-License-Identifier: Apache-2.0
"""The node agent as its own process: `skiff agent --server URL --token-file F` joins a
`skiff server` that runs none, with only a node's credentials (its own Node, Lease and
pods' status; PersistentVolumes it provisions), and the same behaviours hold; killing
that agent with SIGKILL leaves its pods running, adopted by the next agent; the agent
rides out a restart of the server."""

import os
import signal

import pytest

from node_env import Node
from test_agent import ctr, delete, pod
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


def test_agent_rides_out_a_server_restart(node):
    """The agent's pooled connections die with the server: its next requests go out on
    new ones, its watches resume, and pods made after the restart run and report."""
    node.apply(pod("before-restart", [ctr(node, "main", "sleep 3600")]))
    node.wait_running("before-restart")
    node.proc.send_signal(signal.SIGTERM)
    node.proc.wait(timeout=20)
    node.log.close()
    node.start()
    assert node.agent.poll() is None, node.logs()
    node.apply(pod("after-restart", [ctr(node, "main", "echo up after; sleep 3600")]))
    node.wait_running("after-restart")
    assert node.kubectl("logs", "after-restart").stdout == "up after\n"
    for name in ("before-restart", "after-restart"):
        delete(node, name)
