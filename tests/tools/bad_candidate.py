#!/usr/bin/python3
"""A candidate that misbehaves on every request, for fault tests.

usage: bad_candidate.py MODE PORT
  hang    accept, read the request, never answer
  reset   accept, read the request, reset the connection (RST)
  garbage answer with bytes that are not HTTP
"""
import socket
import struct
import sys
import threading

mode, port = sys.argv[1], int(sys.argv[2])


def serve(conn):
    try:
        conn.recv(65536)
        if mode == "hang":
            threading.Event().wait(3600)
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "garbage":
            conn.sendall(b"\x00\x01garbage, not http\r\n\r\n")
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
