#!/usr/bin/python3
"""
hostile_server.py - an HTTP/1.1 server on loopback that answers every request with bytes
built to mislead what prints them (C1 controls, Latin-1, U+FFFE, CR) and records each request
it gets, so a test can check what a client really sent.

Usage:  /usr/bin/python3 tests/tools/hostile_server.py PORT LOG [--seconds S]

LOG gets one JSON line per request: method, target_hex, headers_hex, body_hex. The server
stops by itself after --seconds (default 120). Raw sockets, not http.server: the answers carry
bytes that a library would refuse or re-encode.
"""
import json
import socket
import sys
import threading
import time

CSI, OSC, ST = b'\xc2\x9b', b'\xc2\x9d', b'\xc2\x9c'
EURO = '\u20ac'.encode()


def answer(target):
    if target.startswith(b'/text'):
        body = EURO * 30 + b'Y' + EURO * 30
        ctype = b'text/plain; charset=utf-8'
    else:
        body = (b'{"name":"' + CSI + b'31m\\u001b]0;pwned\\u0007 t\xc3\xa9t\xc3\xa9 \xef\xbf\xbe'
                + OSC + b'52;c;eA==' + ST + b'","n":2}')
        ctype = b'application/json'
    # /text: no extra header, so its body is the first difference (the report's sample)
    evil = b'' if target.startswith(b'/text') else b'X-Evil: ' + OSC + b'0;title' + ST + b'\xe9\r\n'
    return (b'HTTP/1.1 200 O' + CSI + b'K\r\nContent-Type: ' + ctype + b'\r\n' + evil
            + b'Content-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)


def serve(conn, log, lock):
    buf = b''
    conn.settimeout(10)
    try:
        while True:
            while b'\r\n\r\n' not in buf:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b'\r\n\r\n', 1)
            lines = head.split(b'\r\n')
            method, target = lines[0].split(b' ')[0], lines[0].split(b' ')[1]
            length = 0
            for ln in lines[1:]:
                k, _, v = ln.partition(b':')
                if k.strip().lower() == b'content-length':
                    length = int(v.strip())
            while len(buf) < length:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            body, buf = buf[:length], buf[length:]
            with lock, open(log, 'a') as f:
                f.write(json.dumps({'method': method.decode('latin-1'), 'target_hex': target.hex(),
                                    'headers_hex': b'\r\n'.join(lines[1:]).hex(),
                                    'body_hex': body.hex()}) + '\n')
            conn.sendall(answer(target))
    except (OSError, ValueError, IndexError):
        pass
    finally:
        conn.close()


def main():
    port, log = int(sys.argv[1]), sys.argv[2]
    seconds = float(sys.argv[sys.argv.index('--seconds') + 1]) if '--seconds' in sys.argv else 120
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port))
    s.listen(64)
    s.settimeout(0.5)
    lock = threading.Lock()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, log, lock), daemon=True).start()
    return 0


if __name__ == '__main__':
    sys.exit(main())
