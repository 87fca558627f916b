#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Scheduling load on hollow nodes: creates Deployments totalling PODS pods through the
API, follows every pod through one watch (created → bound → Running), and reports
scheduling throughput, pod start latency and the memory of the server and the nodes.

Usage: scheduler.py --url URL --token T --ca CAFILE --server-pid P --sim-pid P --pods N
"""

import argparse
import http.client
import json
import ssl
import threading
import time
import urllib.parse


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


DECODER = json.JSONDecoder()


def field(line, key):
    """The string value of the first "key":"value" in a raw event line (no full parse:
    the watch carries hundreds of thousands of events; use for keys that occur once)."""
    k = b'"' + key + b'":"'
    i = line.find(k)
    if i < 0:
        return None
    i += len(k)
    return line[i:line.find(b'"', i)]


def pod_name(line):
    """metadata.name of the pod in an event line: only the metadata object is decoded
    (owner references carry names too)."""
    i = line.find(b'"metadata":{')
    if i < 0:
        return None
    text = line.decode(errors="replace")
    j = text.find('"metadata":{') + len('"metadata":')
    meta, _ = DECODER.raw_decode(text, j)
    return meta.get("name")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--sim-pid", type=int, required=True)
    ap.add_argument("--pods", type=int, default=150000)
    ap.add_argument("--per-deployment", type=int, default=1000)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    ctx = ssl.create_default_context(cafile=args.ca)
    hdr = {"Authorization": f"Bearer {args.token}", "Content-Type": "application/json"}
    ns = f"load-{int(time.time())}"

    def req(method, path, body=None):
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=300)
        c.request(method, path, body=json.dumps(body) if body else None, headers=hdr)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    code, _ = req("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": ns}})
    assert code == 201, code
    code, data = req("GET", f"/api/v1/namespaces/{ns}/pods?limit=1")
    rv = json.loads(data)["metadata"]["resourceVersion"]

    created, bound, running = {}, {}, {}
    done = threading.Event()

    def follow():
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=600)
        c.request("GET", f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}",
                  headers=hdr)
        r = c.getresponse()
        buf = b""
        while len(running) < args.pods:
            chunk = r.read1(1 << 20)
            if not chunk:
                break
            now = time.perf_counter()
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                name = pod_name(line)
                if name is None:
                    continue
                created.setdefault(name, now)
                if name not in bound and field(line, b"nodeName"):
                    bound[name] = now
                if name not in running and b'"phase":"Running"' in line:
                    running[name] = now
        done.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.5)

    t0 = time.perf_counter()
    left, i = args.pods, 0
    while left > 0:
        n = min(left, args.per_deployment)
        d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"load-{i}"},
             "spec": {"replicas": n, "selector": {"matchLabels": {"app": f"load-{i}"}},
                      "template": {"metadata": {"labels": {"app": f"load-{i}"}},
                                   "spec": {"containers": [{
                                       "name": "main", "image": "registry.local/app:1",
                                       "resources": {"requests": {"cpu": "10m",
                                                                  "memory": "16Mi"}}}]}}}}
        code, data = req("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", d)
        assert code == 201, (code, data[:300])
        left -= n
        i += 1
    peak_server, peak_sim = 0.0, 0.0
    last = -1
    stall = time.perf_counter()
    while not done.wait(1):
        peak_server = max(peak_server, rss_mib(args.server_pid))
        peak_sim = max(peak_sim, rss_mib(args.sim_pid))
        if len(running) != last:
            last, stall = len(running), time.perf_counter()
        elif time.perf_counter() - stall > 60:
            print(f"scheduler: stalled at {len(bound)} bound, {len(running)} running")
            break
    peak_server = max(peak_server, rss_mib(args.server_pid))
    peak_sim = max(peak_sim, rss_mib(args.sim_pid))
    total = time.perf_counter() - t0
    b = sorted(bound.values())
    sched_rate = len(b) / (b[-1] - min(created.values())) if len(b) > 1 else 0.0
    start = [running[n] - created[n] for n in running if n in created]
    print(f"scheduler: {len(running)}/{args.pods} pods Running in {total:.1f} s; "
          f"scheduling {sched_rate:.0f} pods/s; pod start (created -> Running) "
          f"p50 {pct(start, 50) * 1000:.0f} ms, p99 {pct(start, 99) * 1000:.0f} ms")
    print(f"scheduler: peak RSS server {peak_server:.0f} MiB, hollow nodes {peak_sim:.0f} MiB, "
          f"together {(peak_server + peak_sim) / 1024:.2f} GiB")


if __name__ == "__main__":
    main()
