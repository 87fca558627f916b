# SPDX-License-Identifier: Apache-2.0
"""What the API server acknowledged survives `kill -9`, and watches resume across
restarts from the last revision a client saw, with no gap and no duplicate."""

import http.client
import json
import random
import threading
import time

import pytest

from cluster_env import ETCD, Etcd, Server

ROUNDS = 6


@pytest.fixture(params=["sqlite", "etcd"])
def backend(request):
    if request.param == "etcd":
        if not ETCD.exists():
            pytest.skip("etcd is not installed")
        etcd = Etcd()
        yield etcd.url
        etcd.stop()
    else:
        yield None


def writer(server, prefix, acked, stop):
    """Creates configmaps one after another until the server goes away."""
    i = 0
    while not stop.is_set():
        name = f"{prefix}-{i}"
        try:
            code, _ = server.request("POST", "/api/v1/namespaces/default/configmaps",
                                     {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": name}, "data": {"i": str(i)}})
        except (OSError, http.client.HTTPException):
            # the server died before the answer was whole: not acknowledged
            return
        if code == 201:
            acked.append(name)
        i += 1


def test_acknowledged_writes_survive_kill9(backend):
    s = Server(datastore=backend)
    try:
        acked = []
        for rnd in range(ROUNDS):
            stop = threading.Event()
            mine = [[] for _ in range(4)]
            threads = [threading.Thread(target=writer, args=(s, f"r{rnd}w{t}", mine[t], stop))
                       for t in range(4)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.3, 1.2))
            s.kill9()
            stop.set()
            for t in threads:
                t.join(timeout=30)
            for m in mine:
                acked.extend(m)
            s.start()
            code, lst = s.request("GET", "/api/v1/namespaces/default/configmaps")
            assert code == 200
            have = {o["metadata"]["name"] for o in lst["items"]}
            missing = [n for n in acked if n not in have]
            assert not missing, f"round {rnd}: {len(missing)} acknowledged writes lost"
        assert len(acked) > ROUNDS * 10
    finally:
        s.cleanup()


def test_watch_resumes_across_restart(backend):
    s = Server(datastore=backend)
    try:
        base = "/api/v1/namespaces/default/configmaps"
        for i in range(3):
            s.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": f"before-{i}"}})
        code, lst = s.request("GET", base)
        seen = lst["metadata"]["resourceVersion"]
        for i in range(3):
            s.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": f"gap-{i}"}})
        s.request("DELETE", f"{base}/before-0")
        s.kill9()
        s.start()
        s.request("POST", base, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "after"}})
        # kube-root-ca.crt is the server's own, created when it first looks
        events = [e for e in s.watch(f"{base}?watch=1&resourceVersion={seen}&timeoutSeconds=2")
                  if e["object"]["metadata"]["name"] != "kube-root-ca.crt"]
        got = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        assert got == [("ADDED", "gap-0"), ("ADDED", "gap-1"), ("ADDED", "gap-2"),
                       ("DELETED", "before-0"), ("ADDED", "after")]
        revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert revs == sorted(set(revs)) and revs[0] > int(seen)
        assert json.loads(json.dumps(events))  # every event decoded
    finally:
        s.cleanup()


def test_concurrent_writers_all_acknowledged(backend):
    s = Server(datastore=backend)
    try:
        failures, revs = [], []
        lock = threading.Lock()

        def work(t):
            c = s.connection()
            for i in range(150):
                body = json.dumps({"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": f"p{t}-{i}", "labels": {"t": str(t)}},
                                   "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
                c.request("POST", "/api/v1/namespaces/default/pods", body=body,
                          headers={"Authorization": f"Bearer {s.token}",
                                   "Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                with lock:
                    if r.status != 201:
                        failures.append((r.status, data[:200]))
                    else:
                        revs.append(int(json.loads(data)["metadata"]["resourceVersion"]))
            c.close()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[:3]
        assert len(revs) == 1200 and len(set(revs)) == 1200
        code, lst = s.request("GET", "/api/v1/namespaces/default/pods?labelSelector=t%3D3")
        assert code == 200 and len(lst["items"]) == 150
    finally:
        s.cleanup()
