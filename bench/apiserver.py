#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Load generator for the API server: creates N pods through the API with several
concurrent clients, lists them all and by label, holds W watchers that must each
receive every event of a burst of writes, and reports latencies, throughput and
the server's resident memory.

Usage: apiserver.py --url URL --token T --ca CAFILE --pid PID [--pods N] [--watchers W]
"""

import argparse
import http.client
import json
import socket
import ssl
import statistics
import threading
import time
import urllib.parse


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


class Client:
    def __init__(self, url, token, ctx):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.ctx = ctx
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                        "Accept": "application/json"}
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                        timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def pod(i, ns):
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"bench-{i:06d}", "namespace": ns,
                     "labels": {"app": f"app-{i % 10}", "bench": "yes"}},
        "spec": {"containers": [{
            "name": "main", "image": "registry.local/app:1.0",
            "command": ["/bin/server", "--port", "8080"],
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "MODE", "value": "bench"}, {"name": "INDEX", "value": str(i)}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "500m", "memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}]}})


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def create_pods(args, ctx, ns, start, count, threads):
    lat = []
    lock = threading.Lock()
    failures = []

    def work(t):
        c = Client(args.url, args.token, ctx)
        mine = []
        for i in range(start + t, start + count, threads):
            t0 = time.perf_counter()
            code, data = c.request("POST", f"/api/v1/namespaces/{ns}/pods", pod(i, ns))
            mine.append(time.perf_counter() - t0)
            if code != 201:
                failures.append((code, data[:200]))
        with lock:
            lat.extend(mine)

    t0 = time.perf_counter()
    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} creates failed, first: {failures[0]}")
    return lat, elapsed


def watcher(args, ctx, ns, expect, ready, results, idx, start_rv):
    u = urllib.parse.urlparse(args.url)
    try:
        raw = socket.create_connection((u.hostname, u.port), timeout=60)
        s = ctx.wrap_socket(raw, server_hostname=u.hostname)
        path = (f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={start_rv}"
                f"&labelSelector=bench%3Dwatch")
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: {u.hostname}\r\nAuthorization: Bearer "
                   f"{args.token}\r\nAccept: application/json\r\n\r\n").encode())
    except OSError as e:
        results[idx] = e
        return
    finally:
        ready.release()
    pattern = b'{"type":'
    tail = b""
    got = 0
    times = []
    s.settimeout(120)
    try:
        while got < expect:
            chunk = s.recv(65536)
            if not chunk:
                break
            data = tail + chunk
            n = data.count(pattern)
            now = time.perf_counter()
            got += n
            times.extend([now] * n)
            tail = data[-(len(pattern) - 1):]
    except OSError:
        pass
    results[idx] = times
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--watchers", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    c = Client(args.url, args.token, ctx)
    ns = f"bench-{int(time.time())}"
    code, _ = c.request("POST", "/api/v1/namespaces",
                        json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": ns}}))
    assert code == 201, code
    tag = f"[{args.label}] " if args.label else ""

    # single-object writes
    lat, elapsed = create_pods(args, ctx, ns, 0, args.pods, args.clients)
    print(f"{tag}create {args.pods} pods with {args.clients} clients: "
          f"{args.pods / elapsed:.0f} writes/s, p50 {pct(lat, 50) * 1000:.2f} ms, "
          f"p99 {pct(lat, 99) * 1000:.2f} ms")
    one = Client(args.url, args.token, ctx)
    single = []
    for i in range(200):
        t0 = time.perf_counter()
        code, _ = one.request("POST", f"/api/v1/namespaces/{ns}/pods", pod(args.pods + i, ns))
        single.append(time.perf_counter() - t0)
        assert code == 201
    print(f"{tag}create one at a time (200): p50 {pct(single, 50) * 1000:.2f} ms, "
          f"p99 {pct(single, 99) * 1000:.2f} ms")

    # lists
    for name, path in [("list all pods", f"/api/v1/pods"),
                       ("list pods by label (1/10)",
                        f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dapp-3")]:
        ls = []
        n = 0
        for _ in range(10):
            t0 = time.perf_counter()
            code, data = c.request("GET", path)
            ls.append(time.perf_counter() - t0)
            assert code == 200
            n = len(json.loads(data)["items"])
        print(f"{tag}{name} ({n} items, {len(data) >> 10} KiB): p50 {pct(ls, 50) * 1000:.1f} "
              f"ms, p99 {pct(ls, 99) * 1000:.1f} ms")

    # watchers
    code, data = c.request("GET", f"/api/v1/namespaces/{ns}/pods?limit=1")
    rv = json.loads(data)["metadata"]["resourceVersion"]
    burst = 100
    threading.stack_size(256 << 10)
    ready = threading.Semaphore(0)
    results = [None] * args.watchers
    ths = [threading.Thread(target=watcher, args=(args, ctx, ns, burst, ready, results, i, rv),
                            daemon=True) for i in range(args.watchers)]
    for th in ths:
        th.start()
    for _ in ths:
        ready.acquire()
    time.sleep(2)
    rss_watch = rss_kib(args.pid)
    sent = []
    w = Client(args.url, args.token, ctx)
    t_start = time.perf_counter()
    for i in range(burst):
        body = json.loads(pod(10_000_000 + i, ns))
        body["metadata"]["labels"]["bench"] = "watch"
        code, _ = w.request("POST", f"/api/v1/namespaces/{ns}/pods", json.dumps(body))
        assert code == 201
        sent.append(time.perf_counter())
    for th in ths:
        th.join(timeout=120)
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        print(f"{tag}{len(errors)} watchers failed to connect, first: {errors[0]!r}")
    results = [r for r in results if not isinstance(r, Exception)]
    complete = sum(1 for r in results if r is not None and len(r) == burst)
    delays = []
    for r in results:
        if r:
            delays.extend(t - s for t, s in zip(r, sent))
    total = time.perf_counter() - t_start
    print(f"{tag}{args.watchers} watchers x {burst} events: {complete}/{args.watchers} got "
          f"every event; delivery p50 {pct(delays, 50) * 1000:.1f} ms, "
          f"p99 {pct(delays, 99) * 1000:.1f} ms; {complete * burst / total:.0f} events/s")
    print(f"{tag}server RSS: {rss_kib(args.pid) / 1024:.1f} MiB with "
          f"{args.pods + 200 + burst} pods ({rss_watch / 1024:.1f} MiB with the watchers open)")


if __name__ == "__main__":
    main()
