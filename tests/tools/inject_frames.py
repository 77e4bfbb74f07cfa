#!/usr/bin/python3
"""
inject_frames.py - send every frame of pcap files out of an interface with an AF_PACKET
socket, as a mirror or a switch would deliver them (used by tests/it_tunnel_live.c on a veth
pair inside a network namespace).

Usage:  /usr/bin/python3 tests/tools/inject_frames.py IFACE FILE.pcap...

Only classic little-endian microsecond pcap files with Ethernet frames. Frames go out in file
order, 1 ms apart, so a receiving ring never overflows.
"""
import socket
import struct
import sys
import time


def frames(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic, _, _, _, _, _, linktype = struct.unpack('<IHHiIII', data[:24])
    if magic != 0xA1B2C3D4 or linktype != 1:
        sys.exit(f'{path}: not a little-endian Ethernet pcap')
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack('<IIII', data[off:off + 16])
        off += 16
        yield data[off:off + incl]
        off += incl


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().split('\n')[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((sys.argv[1], 0))
    n = 0
    for path in sys.argv[2:]:
        for fr in frames(path):
            s.send(fr)
            n += 1
            time.sleep(0.001)
    print(f'{n} frames sent')


if __name__ == '__main__':
    main()
