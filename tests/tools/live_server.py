#!/usr/bin/python3
"""A small HTTP/1.1 keep-alive server for the live capture test.

usage: live_server.py PORT

GET /items?n=N     JSON list of N items (Content-Length)
GET /stream?n=N    the same list sent chunked, one item per chunk
GET /status/CODE   that status with a small JSON body
POST /echo         the request body back
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def items(n):
    return [{"id": i, "name": "item-%d" % i, "price": round(i * 1.25, 2),
             "tags": ["a", "b"] if i % 2 else []} for i in range(n)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms wait for a delayed ACK between head and body

    def log_message(self, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj, sort_keys=True).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        n = int(q.get("n", ["3"])[0])
        if url.path == "/items":
            self.send_json(200, {"items": items(n), "count": n})
        elif url.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            parts = [b"["] + [json.dumps(it).encode() + (b"," if i < n - 1 else b"")
                              for i, it in enumerate(items(n))] + [b"]"]
            for p in parts:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            self.wfile.write(b"0\r\n\r\n")
        elif url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            self.send_json(code, {"status": code})
        else:
            self.send_json(404, {"error": "not found", "path": url.path})

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type", "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
