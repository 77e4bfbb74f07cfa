#!/usr/bin/python3
"""A keep-alive HTTP/1.1 server with misbehaving endpoints, for tests/it_replay.c.

usage: fault_server.py PORT        (listens on 127.0.0.1:PORT; stdlib only)

The request parser is hand-written so that the server sees exactly what was sent: header
names in their wire case and order, duplicates kept, the body as framed by Content-Length
or chunked encoding.

  ANY  /echo          200 JSON: {"method", "target", "version", "headers": [[name, value]...],
                      "body_len", "body"} describing the request as received (body as
                      Latin-1); any path ending in /echo too, for path prefixes
  ANY  /slow?ms=N     200 after N milliseconds
  ANY  /hang          reads the request and never answers (until the client goes away)
  ANY  /reset         headers announcing 1000 bytes, 100 of them, then a TCP RST (SO_LINGER 0)
  ANY  /dribble       a 200 response written one byte at a time, ?ms=N apart (default 2)
  ANY  /endless       200 chunked, 4 KiB chunks forever
  ANY  /garbage       bytes that are not HTTP, then close
  ANY  /chunked       200 chunked: "hello, " "chunked " "world", then a trailer
  ANY  /gzip          200 with Content-Encoding: gzip; X-Plain-Length tells the plain size
  ANY  /redirect      302 Location: /echo
  ANY  /continue      an interim 100 Continue (with an X-Interim header) then 200 "done"
  POST /__stats       JSON {"methods": {method: count}, "paths": {path: count},
                      "connections": accepted}; ?reset=1 zeroes the counters afterwards.
                      /__stats itself is not counted.
  else                404

Expect: 100-continue is honoured. HTTP/1.0 requests and "Connection: close" close the
connection after the response.
"""
import gzip
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
STATS = {"methods": {}, "paths": {}, "connections": 0}

CHUNKED_PARTS = [b"hello, ", b"chunked ", b"world"]
GZIP_PLAIN = b'{"message": "compressed on purpose", "pad": "' + b"x" * 200 + b'"}'
GZIP_BODY = gzip.compress(GZIP_PLAIN, mtime=0)


class BadRequest(Exception):
    pass


def count(method, path):
    with LOCK:
        STATS["methods"][method] = STATS["methods"].get(method, 0) + 1
        STATS["paths"][path] = STATS["paths"].get(path, 0) + 1


def read_request(rfile, wfile):
    """One request as (method, target, version, headers, body), or None at a clean EOF."""
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):  # RFC 9112 2.2: ignore empty lines before a request
        line = rfile.readline(65537)
    if not line:
        return None
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3:
        raise BadRequest("bad request line")
    method, target, version = (p.decode("latin-1") for p in parts)
    headers = []
    while True:
        h = rfile.readline(65537)
        if not h:
            raise BadRequest("eof in headers")
        if h in (b"\r\n", b"\n"):
            break
        name, sep, value = h.rstrip(b"\r\n").partition(b":")
        if not sep:
            raise BadRequest("header without colon")
        headers.append([name.decode("latin-1"), value.strip(b" \t").decode("latin-1")])
    lower = {}
    for n, v in headers:
        lower.setdefault(n.lower(), v)
    if lower.get("expect", "").lower() == "100-continue":
        wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = b""
    if "chunked" in lower.get("transfer-encoding", "").lower():
        while True:
            size = int(rfile.readline(4096).split(b";")[0].strip(), 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += rfile.read(size)
            rfile.readline(8)
    elif "content-length" in lower:
        body = rfile.read(int(lower["content-length"]))
    return method, target, version, headers, body, lower


def head(status, reason, headers):
    out = "HTTP/1.1 %d %s\r\n" % (status, reason)
    for n, v in headers:
        out += "%s: %s\r\n" % (n, v)
    return (out + "\r\n").encode("latin-1")


class Handler(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with LOCK:
            STATS["connections"] += 1

    def send(self, status, reason, body, ctype="text/plain", extra=(), method="GET"):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra)
        self.wfile.write(head(status, reason, hdrs) + (b"" if method == "HEAD" else body))

    def handle(self):
        try:
            while self.one():
                pass
        except (BadRequest, ValueError):
            try:
                self.wfile.write(head(400, "Bad Request", [("Content-Length", "0"),
                                                           ("Connection", "close")]))
            except OSError:
                pass
        except OSError:
            pass

    def one(self):
        req = read_request(self.rfile, self.wfile)
        if req is None:
            return False
        method, target, version, headers, body, lower = req
        url = urlsplit(target)
        path = url.path
        query = parse_qs(url.query)
        keep = version == "HTTP/1.1"
        if "close" in lower.get("connection", "").lower():
            keep = False
        elif "keep-alive" in lower.get("connection", "").lower():
            keep = True
        if path != "/__stats":
            count(method, path)

        if path == "/echo" or path.endswith("/echo"):
            doc = {"method": method, "target": target, "version": version,
                   "headers": headers, "body_len": len(body),
                   "body": body.decode("latin-1")}
            self.send(200, "OK", json.dumps(doc).encode(), "application/json", method=method)
        elif path == "/slow":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000.0)
            self.send(200, "OK", b"slow", method=method)
        elif path == "/hang":
            while self.request.recv(4096):
                pass
            return False
        elif path == "/reset":
            self.wfile.write(head(200, "OK", [("Content-Length", "1000")]) + b"r" * 100)
            time.sleep(0.05)
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            self.request.close()
            return False
        elif path == "/dribble":
            gap = int(query.get("ms", ["2"])[0]) / 1000.0
            data = head(200, "OK", [("Content-Type", "text/plain"),
                                    ("Content-Length", "16")]) + b"dribbled slowly\n"
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                time.sleep(gap)
        elif path == "/endless":
            self.wfile.write(head(200, "OK", [("Transfer-Encoding", "chunked")]))
            chunk = b"1000\r\n" + b"e" * 4096 + b"\r\n"
            while True:
                self.wfile.write(chunk)
        elif path == "/garbage":
            self.wfile.write(b"\x00\x01garbage, not http at all\r\n\r\n")
            return False
        elif path == "/chunked":
            out = head(200, "OK", [("Content-Type", "text/plain"),
                                   ("Transfer-Encoding", "chunked")])
            for p in CHUNKED_PARTS:
                out += b"%x\r\n%s\r\n" % (len(p), p)
            self.wfile.write(out + b"0\r\nX-Trailer: t\r\n\r\n")
        elif path == "/gzip":
            self.send(200, "OK", GZIP_BODY, "application/json",
                      [("Content-Encoding", "gzip"),
                       ("X-Plain-Length", str(len(GZIP_PLAIN)))], method=method)
        elif path == "/redirect":
            self.send(302, "Found", b"moved", extra=[("Location", "/echo")], method=method)
        elif path == "/continue":
            self.wfile.write(head(100, "Continue", [("X-Interim", "1")]))
            self.send(200, "OK", b"done", method=method)
        elif path == "/__stats" and method == "POST":
            with LOCK:
                doc = json.dumps(STATS).encode()
                if query.get("reset"):
                    STATS["methods"], STATS["paths"], STATS["connections"] = {}, {}, 0
            self.send(200, "OK", doc, "application/json")
        else:
            self.send(404, "Not Found", b"not found", method=method)
        return keep


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256


def main():
    port = int(sys.argv[1])
    with Server(("127.0.0.1", port), Handler) as srv:
        srv.serve_forever()


if __name__ == "__main__":
    main()
