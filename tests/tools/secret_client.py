#!/usr/bin/python3
"""Send secret_server.py requests that carry credentials, for tests/it_privacy.c.

usage: secret_client.py PORT CANARY

Every secret starts with CANARY: an Authorization bearer token, a session cookie, an API key
header, a ?token= query parameter, a Referer with an access_token, and a JSON password. One
keep-alive connection; exit 0 when every request got a 200, 1 otherwise.
"""
import http.client
import json
import sys

port, canary = int(sys.argv[1]), sys.argv[2]
common = {
    "Authorization": "Bearer %s-bearer" % canary,
    "Cookie": "session=%s-cookie; theme=dark" % canary,
    "X-Api-Key": "%s-apikey" % canary,
    "Referer": "http://app.test/start?access_token=%s-referer&step=1" % canary,
}
plan = [
    ("GET", "/api/me?page=2&token=%s-query" % canary, None),
    ("GET", "/api/rotate?token=%s-query2" % canary, None),
    ("GET", "/api/echo", None),
    ("POST", "/api/login", json.dumps({"user": "ada", "password": canary + "-password"})),
]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
bad = 0
for method, target, body in plan:
    headers = dict(common)
    if body is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, target, body=body, headers=headers)
    r = c.getresponse()
    r.read()
    bad += r.status != 200
c.close()
sys.exit(1 if bad else 0)
