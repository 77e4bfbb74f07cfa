#!/usr/bin/python3
"""
lo_client.py - drive the servers record_lo.sh starts and write the expected exchange list from
what the CLIENTS saw.

Usage (record_lo.sh calls it; the servers and tcpdump must already run):
  /usr/bin/python3 tests/tools/lo_client.py --flask PORT --h11 PORT --h10 PORT \
      --out EXPECTED.jsonl

--flask  gunicorn + lo_app.py (HTTP/1.1 keep-alive, chunked, gzip, 204, 100-continue)
--h11    `python3 -m http.server --protocol HTTP/1.1` over a directory of JSON files
         (keep-alive; the pipelined burst goes here: gunicorn's gthread worker does not answer
         pipelined requests)
--h10    `python3 -m http.server` (HTTP/1.0: one request per connection, server closes)

Connections are made one after another, never two at once, so the order in which the client
opens them is the order of their SYNs in the capture: conn = 1, 2, 3 ... in opening order.
For each exchange the row holds the method and target the client sent, the status it got and
the request and response bodies after transfer decoding (de-chunked) but NOT content-decoded
(the gzip endpoint's row describes the gzip bytes): curl writes exactly that with -o when
--compressed is not given, and http.client's read() de-chunks and never decompresses.
"""
import argparse
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import zlib

HOST = '127.0.0.1'


def crc(b):
    return '%08x' % (zlib.crc32(b) & 0xFFFFFFFF)


class Recorder:
    def __init__(self):
        self.rows = []
        self.nconn = 0

    def new_conn(self):
        self.nconn += 1
        self.seq = 0
        return self.nconn

    def add(self, method, target, status, req_body, resp_body):
        self.rows.append({'conn': self.nconn, 'seq': self.seq, 'method': method,
                          'target': target, 'status': status, 'state': 'complete',
                          'req_body_len': len(req_body), 'resp_body_len': len(resp_body),
                          'req_body_crc32': crc(req_body), 'resp_body_crc32': crc(resp_body)})
        self.seq += 1
        print(f'  conn {self.nconn} seq {self.seq - 1}: {method} {target} -> {status} '
              f'({len(req_body)}/{len(resp_body)} bytes)', file=sys.stderr)


# ---- curl ------------------------------------------------------------------------------------

def curl(rec, port, paths, extra=()):
    """One curl process fetching several URLs (it reuses the connection when it can)."""
    with tempfile.TemporaryDirectory() as td:
        cmd = ['curl', '-sS', '--max-time', '20', '-w',
               '%{num_connects} %{response_code} %{local_port}\\n'] + list(extra)
        files = []
        for i, p in enumerate(paths):
            f = os.path.join(td, f'body{i}')
            files.append(f)
            cmd += [f'http://{HOST}:{port}{p}', '-o', f]
        out = subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout.decode()
        lines = out.strip().split('\n')
        assert len(lines) == len(paths), out
        method = 'GET'
        for p, f, line in zip(paths, files, lines):
            nconn, code, _lport = line.split()
            if int(nconn) > 0:
                rec.new_conn()
            body = b''
            if os.path.exists(f):      # curl creates no file when there is no body
                with open(f, 'rb') as fh:
                    body = fh.read()
            rec.add(method, p, int(code), b'', body)


# ---- http.client -----------------------------------------------------------------------------

def keepalive(rec, port, steps):
    """steps: (method, path, body or None, headers, chunked) on one HTTPConnection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=20)
    last_sock = None
    for method, path, body, headers, chunked in steps:
        if chunked:
            parts = [body[i:i + 700] for i in range(0, len(body), 700)]
            conn.request(method, path, body=iter(parts), headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        if conn.sock is not last_sock:
            rec.new_conn()
            last_sock = conn.sock
        resp = conn.getresponse()
        data = resp.read()
        rec.add(method, path, resp.status, body or b'', data)
    conn.close()


class _Shared(io.BufferedReader):
    """One buffered reader shared by successive HTTPResponse objects (pipelining)."""

    def close(self):
        pass


class _FakeSock:
    def __init__(self, f):
        self.f = f

    def makefile(self, *_a, **_k):
        return self.f


def read_response(f, method):
    """Read one final response from f (1xx skipped): (status, body)."""
    while True:
        r = http.client.HTTPResponse(_FakeSock(f), method=method)
        r.begin()
        if 100 <= r.status < 200:
            continue
        return r.status, r.read()


def pipeline(rec, port, reqs):
    """Send every request in one write, then read the responses in order."""
    s = socket.create_connection((HOST, port), timeout=20)
    rec.new_conn()
    wire = b''
    for method, path, body in reqs:
        head = f'{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: lo-client\r\n'
        if body is not None:
            head += f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n'
        wire += head.encode() + b'\r\n' + (body or b'')
    s.sendall(wire)
    f = _Shared(s.makefile('rb', buffering=0))
    for method, path, body in reqs:
        status, data = read_response(f, method)
        rec.add(method, path, status, body or b'', data)
    s.close()


def expect_continue(rec, port, path, body):
    """POST with Expect: 100-continue: headers, wait for 100 (up to 2 s), body, response."""
    s = socket.create_connection((HOST, port), timeout=20)
    rec.new_conn()
    head = (f'POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: lo-client\r\n'
            f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n'
            f'Expect: 100-continue\r\n\r\n').encode()
    s.sendall(head)
    s.settimeout(2)
    try:
        got100 = s.recv(12, socket.MSG_PEEK).startswith(b'HTTP/1.1 100')
    except socket.timeout:
        got100 = False
    s.settimeout(20)
    s.sendall(body)
    f = _Shared(s.makefile('rb', buffering=0))
    status, data = read_response(f, 'POST')   # skips the 100 Continue
    rec.add('POST', path, status, body, data)
    print(f'  (100 Continue received: {got100})', file=sys.stderr)
    s.close()


# ---- the session -----------------------------------------------------------------------------

def json_body(n):
    items = [{'sku': f'SKU-{10000 + i}', 'qty': i % 7 + 1, 'note': 'lo-client test item'}
             for i in range(n)]
    return json.dumps({'items': items}).encode()


def session(args):
    rec = Recorder()
    fp, h11, h10 = args.flask, args.h11, args.h10
    # 1. curl, several URLs on one command line: one keep-alive connection to gunicorn
    curl(rec, fp, ['/api/users?page=1&per_page=15', '/api/users/7', '/api/gzip?n=40',
                   '/api/stream?n=25', '/api/no/such/thing', '/api/empty'])
    # 2. curl asking for Connection: close
    curl(rec, fp, ['/api/users/8'], extra=['-H', 'Connection: close'])
    # 3. curl --http1.0 on the streaming endpoint: gunicorn answers close-delimited
    curl(rec, fp, ['/api/stream?n=12'], extra=['--http1.0'])
    # 4. http.client keep-alive: GET, POST with a body, HEAD, chunked PUT, 204, gzip
    keepalive(rec, fp, [
        ('GET', '/api/users?page=2&per_page=10', None, {}, False),
        ('POST', '/api/echo', json_body(30), {'Content-Type': 'application/json'}, False),
        ('HEAD', '/api/users/5', None, {}, False),
        ('PUT', '/api/echo', json_body(60), {'Content-Type': 'application/json'}, True),
        ('GET', '/api/empty', None, {}, False),
        ('GET', '/api/gzip?n=10', None, {'Accept-Encoding': 'gzip'}, False),
    ])
    # 5. Expect: 100-continue against gunicorn
    expect_continue(rec, fp, '/api/echo', json_body(80))
    # 6. pipelined burst against http.server (HTTP/1.1); the 404 comes last because
    #    http.server closes the connection after an error reply
    pipeline(rec, h11, [('GET', '/users.json', None), ('HEAD', '/catalog.json', None),
                        ('GET', '/catalog.json', None), ('GET', '/small.json', None),
                        ('GET', '/missing.json', None)])
    # 7. curl keep-alive against http.server HTTP/1.1
    curl(rec, h11, ['/small.json', '/users.json'])
    # 8. curl against the HTTP/1.0 http.server: the server closes after each response
    curl(rec, h10, ['/small.json', '/catalog.json'])
    with open(args.out, 'w') as f:
        for r in rec.rows:
            f.write(json.dumps(r) + '\n')
    print(f'{len(rec.rows)} exchanges on {rec.nconn} connections -> {args.out}',
          file=sys.stderr)


def make_docroot(d):
    """The files the two http.server instances serve."""
    users = [{'id': i, 'name': f'user{i}', 'email': f'user{i}@example.test', 'tags': ['a', 'b']}
             for i in range(40)]
    files = {'users.json': {'users': users},
             'catalog.json': {'items': [{'sku': f'SKU-{i}', 'price': i * 1.25}
                                        for i in range(120)]},
             'small.json': {'ok': True, 'version': '1.0.0'}}
    for name, obj in files.items():
        with open(os.path.join(d, name), 'w') as f:
            json.dump(obj, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--flask', type=int)
    ap.add_argument('--h11', type=int)
    ap.add_argument('--h10', type=int)
    ap.add_argument('--out')
    ap.add_argument('--make-docroot')
    args = ap.parse_args()
    if args.make_docroot:
        make_docroot(args.make_docroot)
        return 0
    session(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
