#!/usr/bin/python3
"""A keep-alive HTTP/1.1 server whose answers carry credentials, for tests/it_privacy.c.

usage: secret_server.py PORT ROLE CANARY

ROLE is primary or candidate; CANARY is a unique prefix of every secret the server hands out,
so a test can look for it in everything shadowdiff writes.

GET  /api/me       200 {"user", "api_token", "page"} with Set-Cookie: sid=...; the same
                   secrets for both roles (equal secrets must compare equal)
GET  /api/rotate   200 {"user", "api_token"} with Set-Cookie: sid=...; secrets that depend on
                   the role (a difference shown as two hashes)
GET  /api/echo     200 {"seen_auth": the Authorization header as received}
POST /api/login    200 {"ok": true, "token": ...} (the same for both roles); the JSON request
                   body (with its password) is read and not echoed
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

PORT, ROLE, CANARY = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def send_json(self, obj, cookie=None):
        body = json.dumps(obj, sort_keys=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if cookie:
            self.send_header("Set-Cookie", "sid=%s; Path=/; HttpOnly" % cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urlparse(self.path).path
        if path == "/api/me":
            self.send_json({"user": "ada", "api_token": CANARY + "-apitoken-same", "page": 2},
                           cookie=CANARY + "-sid-same")
        elif path == "/api/rotate":
            self.send_json({"user": "ada", "api_token": CANARY + "-apitoken-" + ROLE},
                           cookie=CANARY + "-sid-" + ROLE)
        elif path == "/api/echo":
            self.send_json({"seen_auth": self.headers.get("Authorization", "")})
        else:
            self.send_json({"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_json({"ok": True, "token": CANARY + "-login-token"})


if __name__ == "__main__":
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
