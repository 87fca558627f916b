# SPDX-License-Identifier: Apache-2.0
"""The service proxy on one node (a real `skiff server` with its node agent, in a network
namespace of its own; tests/e2e/node_env.py):

1. Data path: HTTP GETs, a new TCP connection each, from several worker processes in the
   node's network namespace, through a ClusterIP to 3 busybox httpd pods, and straight to
   one pod IP. Each path runs DURATION seconds (default 10), alternately, ROUNDS times
   (default 4; which path goes first alternates too); the best run of each is reported,
   with its p99 latency; the cost of the service path is the median of the rounds'
   ratios, each round's two runs being back to back. The paths use disjoint
   ephemeral port ranges (see PORT_RANGES). Every response must be a 200 with the body
   one of the pods serves; anything else counts as an error.
   The node's namespace has no default route, so the benchmark adds one for the service
   CIDR (`ip route add 10.43.0.0/16 dev skiff0`): without it a locally generated packet
   to a ClusterIP fails the route lookup before the nat output hook can DNAT it.
2. Rule sync: SERVICES (default 1000) selector-less Services, each with one EndpointSlice
   of one address in 10.42.x, created through the API by several threads; once the proxy
   has programmed them all (their ClusterIPs in map `service-ips` of table
   `ip skiff-proxy`), one slice's address is changed by a merge patch and the time until
   the DNAT rule to the new address is committed is measured; SYNC_REPEATS times
   (default 10), on different services. The number covers the API write, the watch, the
   proxy's batching (10 ms of quiet) and its transaction. The commit is seen through
   `nft monitor` (the kernel's notification, timestamped as it arrives), then checked
   with `nft list table ip skiff-proxy` (run in-process through libnftables): polling
   the listing cannot time it, since with 1,000 services one listing takes ~200 ms of CPU
   the proxy itself needs.

Env: DURATION, ROUNDS, WORKERS (load processes, default 4), SERVICES, SYNC_REPEATS."""

import base64
import ctypes
import http.client
import json
import multiprocessing
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from node_env import Node  # noqa: E402

CLONE_NEWNET = 0x40000000
SERVICE_CIDR = "10.43.0.0/16"
TABLE = "skiff-proxy"
WEB = ("mkdir -p /www && echo \"skiff bench: served by $HOSTNAME\" > /www/index.html && "
       "exec httpd -f -p 8080 -h /www")
PODS = ["web-0", "web-1", "web-2"]


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Api:
    """A bare HTTPS client of the API server, one connection per thread."""

    def __init__(self, kubeconfig):
        cfg = yaml.safe_load(open(kubeconfig))
        cluster = cfg["clusters"][0]["cluster"]
        self.host, port = cluster["server"][len("https://"):].rsplit(":", 1)
        self.port = int(port)
        self.token = cfg["users"][0]["user"]["token"]
        self.ctx = ssl.create_default_context(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.local = threading.local()

    def request(self, method, path, body=None, ctype="application/json"):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.ctx, timeout=60)
        try:
            c.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Authorization": f"Bearer {self.token}",
                               "Content-Type": ctype, "Accept": "application/json"})
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            c.close()
            self.local.conn = None
            raise
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data)


class Nft:
    """libnftables in this process (no fork and exec per command)."""

    def __init__(self):
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)

    def run(self, cmd):
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, cmd.encode())
        out = self.lib.nft_ctx_get_output_buffer(self.ctx) or b""
        if rc != 0:
            err = self.lib.nft_ctx_get_error_buffer(self.ctx) or b""
            raise RuntimeError(f"nft {cmd}: {err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    def close(self):
        self.lib.nft_ctx_free(self.ctx)


class Monitor:
    """`nft monitor` in the node's namespace, each line timestamped as it arrives: the
    kernel notifies once a transaction is committed, and nft flushes every event."""

    def __init__(self, node):
        self.proc = node.popen("nft", "monitor", stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        for line in self.proc.stdout:
            now = time.perf_counter()
            with self.cond:
                self.lines.append((now, line))
                self.cond.notify_all()

    def ready(self, nft, timeout=30):
        """Waits until the monitor is subscribed (nft reads the whole ruleset first): a
        change made before would go unseen."""
        end = time.monotonic() + timeout
        while True:
            since = self.mark()
            nft.run("add table ip skiff-bench-probe")
            nft.run("delete table ip skiff-bench-probe")
            if self.wait(since, "skiff-bench-probe", 0.5) is not None:
                return
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("nft monitor does not report changes: "
                                   + "".join(line for _, line in self.lines[-5:]))

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait(self, since, text, timeout):
        """The arrival time of the first line from index @since containing @text."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines[since:]:
                    if text in line:
                        return t
                since = len(self.lines)
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.thread.join(5)


def service_ips(node):
    """The elements of map service-ips, through the nft command."""
    p = node.run("nft", "-j", "list", "map", "ip", TABLE, "service-ips")
    if p.returncode:
        return []
    for obj in json.loads(p.stdout)["nftables"]:
        if "map" in obj:
            return obj["map"].get("elem", [])
    return []


# ---- data path ---------------------------------------------------------------------------

# Each path gets its own half of the ephemeral port range: the pods close the connections,
# so their sockets wait in TIME_WAIT for 60 s, and the client's TCP timestamps and initial
# sequence numbers follow its address pair (node -> ClusterIP, node -> pod IP). A SYN from a
# port the other path used moments ago reaches a TIME_WAIT socket of the same 4-tuple in the
# pod, with timestamps of another series: the pod takes it for an old duplicate, the client
# waits a second to send its SYN again. That would measure one client hammering both paths
# from the same ports, not the service path.
PORT_RANGES = {"direct": "10000 37499", "service": "37500 64999"}


def set_port_range(path):
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write(PORT_RANGES[path])


def get_once(addr, request, bodies):
    """One GET on a new connection: (latency s, body) or raises."""
    t0 = time.perf_counter()
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    dt = time.perf_counter() - t0
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"status {head[:40]!r}")
    if body not in bodies:
        raise ValueError(f"unexpected body {body[:60]!r}")
    return dt, body


def load_worker(addr, bodies, start, duration, out):
    request = f"GET / HTTP/1.0\r\nHost: {addr[0]}\r\n\r\n".encode()
    lat = []
    seen = {}
    errors = {}
    while time.monotonic() < start:
        time.sleep(0.001)
    end = start + duration
    while time.monotonic() < end:
        try:
            dt, body = get_once(addr, request, bodies)
        except (OSError, ValueError) as e:
            k = type(e).__name__ + (f": {e}" if isinstance(e, ValueError) else "")
            errors[k] = errors.get(k, 0) + 1
            continue
        lat.append(dt)
        seen[body] = seen.get(body, 0) + 1
    out.send((lat, seen, errors))
    out.close()


def load(addr, bodies, workers, duration):
    """Runs @workers processes against @addr for @duration s; returns a result dict."""
    mp = multiprocessing.get_context("fork")
    start = time.monotonic() + 0.2
    procs, pipes = [], []
    for _ in range(workers):
        r, w = mp.Pipe(duplex=False)
        p = mp.Process(target=load_worker, args=(addr, bodies, start, duration, w))
        p.start()
        w.close()
        procs.append(p)
        pipes.append(r)
    lat, seen, errors = [], {}, {}
    for r in pipes:
        wl, ws, we = r.recv()
        lat += wl
        for k, v in ws.items():
            seen[k] = seen.get(k, 0) + v
        for k, v in we.items():
            errors[k] = errors.get(k, 0) + v
    for p in procs:
        p.join()
    return {"rps": len(lat) / duration, "p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000,
            "ok": len(lat), "errors": errors, "seen": seen}


def web_pod(node, name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench-web"}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "web", "image": node.image, "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", WEB],
                "ports": [{"containerPort": 8080, "name": "http"}]}]}}


def data_path(node, api, workers, duration, rounds):
    for name in PODS:
        api.request("POST", "/api/v1/namespaces/default/pods", web_pod(node, name))
    api.request("POST", "/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench-web"},
        "spec": {"selector": {"app": "bench-web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    ips = {}
    for name in PODS:
        pod = node.wait_running(name, timeout=120)
        ips[name] = pod["status"]["podIP"]
    cip = api.request("GET", "/api/v1/namespaces/default/services/bench-web")["spec"][
        "clusterIP"]
    bodies = {f"skiff bench: served by {n}\n".encode(): n for n in PODS}
    p = node.run("ip", "route", "add", SERVICE_CIDR, "dev", "skiff0")
    if p.returncode and "exists" not in p.stderr:
        raise RuntimeError(f"ip route add {SERVICE_CIDR} dev skiff0: {p.stderr.strip()}")
    request = f"GET / HTTP/1.0\r\nHost: {cip}\r\n\r\n".encode()

    def all_answer():
        for ip in ips.values():
            get_once((ip, 8080), request, bodies)
        seen = set()
        for _ in range(30):
            seen.add(get_once((cip, 80), request, bodies)[1])
        return len(seen) == len(PODS)
    deadline = time.monotonic() + 60
    while True:
        try:
            if all_answer():
                break
        except (OSError, ValueError) as e:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the pods or ClusterIP {cip} do not answer: {e!r}\n"
                                   f"{node.logs()}") from None
        if time.monotonic() > deadline:
            raise RuntimeError(f"ClusterIP {cip} does not spread over the 3 pods")
        time.sleep(0.2)
    direct = (ips[PODS[0]], 8080)
    runs = {"direct": [], "service": []}
    paths = [("direct", direct), ("service", (cip, 80))]
    for rnd in range(rounds):
        # alternate which path goes first, so a drift over the rounds favours neither
        for path, addr in (paths if rnd % 2 == 0 else paths[::-1]):
            log(f"round {rnd + 1}/{rounds}: {path} {addr[0]}:{addr[1]}, {workers} workers, "
                f"{duration:g} s")
            set_port_range(path)
            r = load(addr, bodies, workers, duration)
            r["seen"] = {bodies[k]: v for k, v in r["seen"].items()}
            runs[path].append(r)
            log(f"  {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                f"errors {sum(r['errors'].values())}")
    return cip, direct[0], runs


# ---- rule sync ---------------------------------------------------------------------------

def sync_service(i):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"sync-{i:04d}"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]}}


def sync_slice(i, ip):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"sync-{i:04d}-1",
                         "labels": {"kubernetes.io/service-name": f"sync-{i:04d}"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def sync_ip(i):
    return f"10.42.{100 + i // 250}.{i % 250 + 1}"


def rule_sync(node, api, n, repeats, threads=8):
    base = len(service_ips(node))
    errors = []

    def work(t):
        try:
            for i in range(t, n, threads):
                api.request("POST", "/api/v1/namespaces/default/services", sync_service(i))
                api.request("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                            sync_slice(i, sync_ip(i)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    log(f"creating {n} services with an endpoint slice each ({threads} threads)...")
    t0 = time.monotonic()
    ths = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    created = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} creating threads failed, first: {errors[0]}")
    deadline = time.monotonic() + 120
    while (have := len(service_ips(node))) < base + n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the proxy programmed {have - base} of {n} services\n"
                               f"{node.logs()}")
        time.sleep(0.1)
    programmed = time.monotonic() - t0
    log(f"  created in {created:.1f} s, all in service-ips {programmed:.1f} s after the first")
    mon = Monitor(node)
    nft = None
    try:
        nft = Nft()
        mon.ready(nft)
        t1 = time.perf_counter()
        listing = nft.run(f"list table ip {TABLE}")
        list_ms = (time.perf_counter() - t1) * 1000
        times, api_ms = [], []
        # the first change is not counted
        for k in range(-1, repeats):
            i = (k * 97 + 13) % n if k >= 0 else n - 1
            ip = f"10.42.250.{101 + k}"
            if re.search(re.escape(ip) + r"\b", listing):
                raise RuntimeError(f"{ip} is already in the ruleset")
            patch = {"endpoints": [{"addresses": [ip], "conditions": {"ready": True}}]}
            mark = mon.mark()
            t0 = time.perf_counter()
            api.request("PATCH", f"/apis/discovery.k8s.io/v1/namespaces/default/"
                        f"endpointslices/sync-{i:04d}-1", patch,
                        ctype="application/merge-patch+json")
            answered = time.perf_counter()
            seen = mon.wait(mark, f"dnat to {ip}:", 10)
            if seen is None:
                now = f"dnat to {ip}:" in nft.run(f"list table ip {TABLE}")
                tail = "".join(line for _, line in mon.lines[-20:])
                raise RuntimeError(f"no DNAT rule to {ip} (service sync-{i:04d}) seen in 10 s "
                                   f"(in the table now: {now}; nft monitor exit status "
                                   f"{mon.proc.poll()}, last lines:\n{tail})\n{node.logs()}")
            listing = nft.run(f"list table ip {TABLE}")
            if f"dnat to {ip}:" not in listing:
                raise RuntimeError(f"nft monitor showed {ip} but the table has no rule for it")
            # the old endpoint chain may stay a while, flushed: look for its rule
            if f"dnat to {sync_ip(i)}:" in listing:
                raise RuntimeError(f"the old address {sync_ip(i)} of sync-{i:04d} is still "
                                   "DNATed to beside the new one")
            if k >= 0:
                times.append((seen - t0) * 1000)
                api_ms.append((answered - t0) * 1000)
                log(f"  sync-{i:04d} -> {ip}: {times[-1]:.1f} ms (PATCH answered after "
                    f"{api_ms[-1]:.1f} ms)")
            time.sleep(0.3)  # let the proxy go idle: each change is measured on its own
    finally:
        if nft:
            nft.close()
        mon.close()
    return {"created_s": created, "programmed_s": programmed, "list_ms": list_ms,
            "times": times, "api_ms": api_ms, "elements": base + n}


# ---- main --------------------------------------------------------------------------------

def main():
    if os.geteuid() != 0:
        print("bench/service.py: needs root", file=sys.stderr)
        return 1
    duration = float(os.environ.get("DURATION", "10"))
    rounds = int(os.environ.get("ROUNDS", "4"))
    workers = int(os.environ.get("WORKERS", "4"))
    n = int(os.environ.get("SERVICES", "1000"))
    repeats = int(os.environ.get("SYNC_REPEATS", "10"))
    log("starting a single-node cluster...")
    node = Node()
    own = target = None
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{node.netns}", os.O_RDONLY)
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {node.netns}")
        api = Api(node.kubeconfig)
        cip, pod_ip, runs = data_path(node, api, workers, duration, rounds)
        sync = rule_sync(node, api, n, repeats)
    finally:
        if own is not None:
            libc.setns(own, CLONE_NEWNET)
            os.close(own)
        if target is not None:
            os.close(target)
        node.cleanup()

    best = {k: max(v, key=lambda r: r["rps"]) for k, v in runs.items()}
    d, s = best["direct"], best["service"]
    cost = (1 - s["rps"] / d["rps"]) * 100
    print(f"\nservice proxy on one node: HTTP GET, a new connection each, {workers} worker "
          f"processes, {duration:g} s per run, best of {rounds}")
    print(f"{'':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  "
          "all runs (req/s / p99 ms)")
    for label, key in ((f"pod IP {pod_ip}:8080", "direct"),
                       (f"ClusterIP {cip}:80 (3 pods)", "service")):
        b = best[key]
        errs = sum(sum(r["errors"].values()) for r in runs[key])
        print(f"{label:<34} {b['rps']:>8.0f} {b['p50']:>8.2f} {b['p99']:>8.2f} {errs:>7}  "
              + ", ".join(f"{r['rps']:.0f} / {r['p99']:.2f}" for r in runs[key]))
    spread = s["seen"]
    print("ClusterIP spread over the pods (best run): "
          + ", ".join(f"{k} {v}" for k, v in sorted(spread.items())))
    for key in ("direct", "service"):
        for r in runs[key]:
            if r["errors"]:
                print(f"errors ({key}): {r['errors']}")
    print(f"ClusterIP / pod IP: req/s {s['rps'] / d['rps']:.3f}x, p50 {s['p50'] / d['p50']:.2f}x, "
          f"p99 {s['p99'] / d['p99']:.2f}x")
    ratios = sorted(s_["rps"] / d_["rps"] for d_, s_ in zip(runs["direct"], runs["service"]))
    med = (ratios[(len(ratios) - 1) // 2] + ratios[len(ratios) // 2]) / 2
    print(f"service path cost: {(1 - med) * 100:.1f}% of throughput, the median over the "
          f"{len(ratios)} rounds of ClusterIP against pod IP (target < 10%); best run against "
          f"best run {cost:.1f}%")
    t = sync["times"]
    print(f"\nrule sync with {n} services ({sync['elements']} elements in service-ips): "
          f"created in {sync['created_s']:.1f} s, all programmed {sync['programmed_s']:.1f} s "
          "after the first create")
    print(f"endpoint change (PATCH sent) -> DNAT rule committed, {len(t)} changes: "
          f"p50 {pct(t, 50):.1f} ms, max {max(t):.1f} ms (target < 50 ms)")
    print("  " + ", ".join(f"{x:.1f}" for x in t))
    print(f"  of which the PATCH round trip: p50 {pct(sync['api_ms'], 50):.1f} ms; the commit "
          f"seen by nft monitor (one `nft list table` of it takes {sync['list_ms']:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
