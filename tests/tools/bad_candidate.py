#!/usr/bin/python3
"""A candidate that misbehaves on every request, for fault tests.

usage: bad_candidate.py MODE PORT [ARG]
  hang         accept, read the request, never answer
  reset        accept, read the request, reset the connection (RST)
  garbage      answer with bytes that are not HTTP
  slow MS      a valid 200 JSON response written one byte at a time, MS milliseconds apart
  reset_body   a head announcing 1000 body bytes, 100 of them, then a reset (RST)
  endless      a 200 chunked response whose body never ends
  file PATH    answer with the bytes of PATH (a whole HTTP response), then close

Each connection serves one request and is closed after the answer.
"""
import socket
import struct
import sys
import threading
import time

mode, port = sys.argv[1], int(sys.argv[2])
arg = sys.argv[3] if len(sys.argv) > 3 else None
SLOW_BODY = b'{"slow":true,"items":[1,2,3]}'
SLOW = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n'
        b'Content-Length: %d\r\n\r\n' % len(SLOW_BODY)) + SLOW_BODY
FILE = open(arg, 'rb').read() if mode == 'file' else b''


def rst(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))


def serve(conn):
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.recv(65536)
        if mode == 'hang':
            threading.Event().wait(3600)
        elif mode == 'reset':
            rst(conn)
        elif mode == 'garbage':
            conn.sendall(b'\x00\x01garbage, not http\r\n\r\n')
        elif mode == 'slow':
            for i in range(len(SLOW)):
                conn.sendall(SLOW[i:i + 1])
                time.sleep(int(arg) / 1000.0)
        elif mode == 'reset_body':
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'r' * 100)
            time.sleep(0.05)
            rst(conn)
        elif mode == 'endless':
            conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
            chunk = b'1000\r\n' + b'e' * 4096 + b'\r\n'
            while True:
                conn.sendall(chunk)
        elif mode == 'file':
            conn.sendall(FILE)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass
    except OSError:
        pass
    finally:
        conn.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(128)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
