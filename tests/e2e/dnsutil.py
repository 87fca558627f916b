# SPDX-License-Identifier: Apache-2.0
"""A small DNS client and a fake upstream server for the cluster DNS tests, run inside a
node's network namespace (`python3 dnsutil.py query SERVER PORT NAME TYPE [tcp]` prints
the answer as JSON; `python3 dnsutil.py upstream IP PORT LOG` answers every A query with
192.0.2.53 and appends each query name to LOG). Nothing here contacts other addresses."""

import json
import random
import socket
import struct
import sys

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33}
NAMES = {v: k for k, v in TYPES.items()}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_name(msg, off):
    labels, jumped, end = [], False, off
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        if n == 0:
            if not jumped:
                end = off + 1
            return ".".join(labels) + ".", end
        labels.append(msg[off + 1:off + 1 + n].decode())
        off += n + 1


def build_query(name, qtype, qid=None):
    qid = qid if qid is not None else random.randint(0, 65535)
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack(">HH", TYPES[qtype], 1)


def parse(msg):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = decode_name(msg, off)
        off += 4
    sections = []
    for count in (an, ns, ar):
        recs = []
        for _ in range(count):
            name, off = decode_name(msg, off)
            rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
            off += 10
            rdata = msg[off:off + rdlen]
            value = rdata.hex()
            if rtype == 1:
                value = socket.inet_ntoa(rdata)
            elif rtype in (2, 5, 12):
                value, _ = decode_name(msg, off)
            elif rtype == 33:
                prio, weight, port = struct.unpack(">HHH", rdata[:6])
                target, _ = decode_name(msg, off + 6)
                value = {"priority": prio, "weight": weight, "port": port, "target": target}
            elif rtype == 6:
                mname, o = decode_name(msg, off)
                value = {"mname": mname}
            recs.append({"name": name, "type": NAMES.get(rtype, rtype), "ttl": ttl,
                         "value": value})
            off += rdlen
        sections.append(recs)
    return {"id": qid, "rcode": flags & 0xF, "tc": bool(flags & 0x200),
            "answer": sections[0], "authority": sections[1]}


def query(server, port, name, qtype, tcp=False):
    q = build_query(name, qtype)
    if tcp:
        with socket.create_connection((server, port), timeout=5) as s:
            s.sendall(struct.pack(">H", len(q)) + q)
            n = struct.unpack(">H", s.recv(2))[0]
            data = b""
            while len(data) < n:
                data += s.recv(n - len(data))
            return parse(data)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(q, (server, port))
        return parse(s.recv(4096))


def upstream(ip, port, log):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    while True:
        msg, addr = s.recvfrom(4096)
        name, off = decode_name(msg, 12)
        with open(log, "a") as f:
            f.write(name + "\n")
        qid = msg[:2]
        question = msg[12:off + 4]
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("192.0.2.53")
        s.sendto(qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + answer, addr)


if __name__ == "__main__":
    if sys.argv[1] == "query":
        print(json.dumps(query(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5],
                               tcp=len(sys.argv) > 6 and sys.argv[6] == "tcp")))
    elif sys.argv[1] == "upstream":
        upstream(sys.argv[2], int(sys.argv[3]), sys.argv[4])
