#!/usr/bin/python3
"""Drive live_server.py with keep-alive connections and write what the client saw.

usage: live_client.py PORT OUT.jsonl [ROUNDS]

ROUNDS (default 1): how many times the plan of 10 requests runs, on the same connections.

Each line of OUT: {"method", "target", "status", "resp_body_len", "resp_body_crc32"}, the
body as received after de-chunking (http.client does not content-decode).
"""
import http.client
import json
import sys
import zlib

port, out = int(sys.argv[1]), sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
plan = [
    # (connection, method, target, body)
    (0, "GET", "/items?n=3", None),
    (0, "GET", "/items?n=200", None),
    (0, "GET", "/stream?n=50", None),
    (0, "HEAD", "/items?n=10", None),
    (0, "POST", "/echo", b'{"hello": "world", "n": 1}'),
    (1, "GET", "/status/404", None),
    (1, "GET", "/items?n=1000", None),
    (1, "POST", "/echo", b"x" * 20000),
    (2, "GET", "/stream?n=300", None),
    (2, "GET", "/status/201", None),
]
conns = {}
with open(out, "w") as f:
    for cid, method, target, body in plan * rounds:
        if cid not in conns:
            conns[cid] = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c = conns[cid]
        headers = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, target, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        f.write(json.dumps({"method": method, "target": target, "status": r.status,
                            "resp_body_len": len(data),
                            "resp_body_crc32": "%08x" % (zlib.crc32(data) & 0xffffffff)}) + "\n")
    for c in conns.values():
        c.close()
