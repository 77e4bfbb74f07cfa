#!/usr/bin/python3
"""
gen_pcaps.py - write the crafted golden pcaps of shadowdiff and their expected exchange lists.

Usage:  /usr/bin/python3 tests/tools/gen_pcaps.py [--out fixtures/pcap] [--only NAME ...]

Every case is built packet by packet with scapy (headers and checksums) and written with a
small pcap writer of our own (integer-microsecond timestamps from 1700000000.000000, fixed
ISNs, fixed random seeds), so rerunning produces byte-identical files.

The expected list of each case is derived from what the generator itself put on the wire (the
HTTP messages it built, the framing it chose, the segments it dropped), never from the output
of the tool under test. See fixtures/README.md for the format and the semantics.

TCP model: a three-way handshake, data split into segments, the receiver ACKs (every second
segment and at the end of a send; the ACK number is the highest byte the receiver holds
contiguously, so an ACK never covers bytes that are not in the capture unless the case drops a
segment *from the capture only* - then the peer's ACK covers the hole, as in real loss at the
capture point), FIN/ACK teardown. Server port 8080 unless the case says otherwise.
"""
import argparse
import json
import os
import random
import re
import struct
import sys
import zlib

from scapy.all import (IP, TCP, IPv6, Raw, Ether, Dot1Q, IPv6ExtHdrHopByHop,  # noqa: E402
                       RouterAlert, PadN, IPOption_Router_Alert, IPOption_NOP)
from scapy.layers.l2 import Dot1AD, CookedLinux, CookedLinuxV2, GRE
from scapy.layers.inet import UDP
from scapy.layers.vxlan import VXLAN
from scapy.contrib.geneve import GENEVE
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific

M32 = 0xFFFFFFFF
T0_US = 1_700_000_000 * 1_000_000

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276


# ---------------------------------------------------------------------------------------------
# pcap writer
# ---------------------------------------------------------------------------------------------

class PcapOut:
    """Collects frames with timestamps; conn ids are assigned in order of first frame."""

    def __init__(self, linktype, step_us=100, snaplen=262144):
        self.linktype = linktype
        self.snaplen = snaplen
        self.clock = T0_US
        self.step = step_us
        self.recs = []
        self.conn_order = []

    def tick(self, us):
        self.clock += us

    def add(self, frame, conn=None):
        if conn is not None and conn.id is None:
            self.conn_order.append(conn)
            conn.id = len(self.conn_order)
        self.recs.append((self.clock, frame))
        self.clock += self.step

    def data(self):
        out = [struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, self.linktype)]
        for ts, fr in self.recs:
            out.append(struct.pack('<IIII', ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
            out.append(fr)
        return b''.join(out)


# ---------------------------------------------------------------------------------------------
# link layers: each returns f(direction, scapy_ip_packet) -> frame bytes
# direction 0 = client to server, 1 = server to client
# ---------------------------------------------------------------------------------------------

CLI_MAC = '02:00:5e:10:00:01'
SRV_MAC = '02:00:5e:20:00:02'


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(':'))


def eth_link(tags=()):
    """tags: list of ('q', vid) for 802.1Q or ('ad', vid) for 802.1ad, outermost first."""
    def f(d, ip):
        src, dst = (CLI_MAC, SRV_MAC) if d == 0 else (SRV_MAC, CLI_MAC)
        p = Ether(src=src, dst=dst)
        for kind, vid in tags:
            p = p / (Dot1AD(vlan=vid) if kind == 'ad' else Dot1Q(vlan=vid))
        return bytes(p / ip)
    return f


def _ethertype(ip):
    return 0x86DD if ip.version == 6 else 0x0800


def sll_link():
    # captured on the client host: what it sends is OUTGOING (4), what it gets is HOST (0)
    def f(d, ip):
        mac = mac_bytes(CLI_MAC if d == 0 else SRV_MAC) + b'\0\0'
        hdr = CookedLinux(pkttype=4 if d == 0 else 0, lladdrtype=1, lladdrlen=6, src=mac,
                          proto=_ethertype(ip))
        return bytes(hdr / ip)
    return f


def sll2_link(ifindex=2):
    def f(d, ip):
        mac = mac_bytes(CLI_MAC if d == 0 else SRV_MAC) + b'\0\0'
        hdr = CookedLinuxV2(proto=_ethertype(ip), reserved=0, ifindex=ifindex, lladdrtype=1,
                            pkttype=4 if d == 0 else 0, lladdrlen=6, src=mac)
        b = bytes(hdr / ip)
        assert len(bytes(hdr)) == 20
        return b
    return f


def null_link():
    # BSD loopback: 4-byte address family in the capturing host's byte order (little-endian
    # here); AF_INET = 2, AF_INET6 = 30 (the macOS value; 24 and 28 are the other BSDs')
    def f(d, ip):
        return struct.pack('<I', 30 if ip.version == 6 else 2) + bytes(ip)
    return f


def raw_link():
    def f(d, ip):
        return bytes(ip)
    return f


# ---------------------------------------------------------------------------------------------
# TCP connection model
# ---------------------------------------------------------------------------------------------

class Intervals:
    def __init__(self):
        self.iv = []

    def add(self, a, b):
        self.iv.append((a, b))
        self.iv.sort()
        merged = []
        for x, y in self.iv:
            if merged and x <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], y))
            else:
                merged.append((x, y))
        self.iv = merged

    def covers(self, a, b):
        return any(x <= a and b <= y for x, y in self.iv)

    def contig(self):
        return self.iv[0][1] if self.iv and self.iv[0][0] <= 0 else 0


class Conn:
    """One TCP connection. Data offsets are relative to ISN+1 of each direction."""

    def __init__(self, out, link, cli, srv, cport, sport, c_isn, s_isn, ip_extra=None,
                 ip_options=None, mss=1448, window=64240):
        self.out = out            # object with .add(frame, conn)
        self.link = link
        self.addr = (cli, srv)
        self.port = (cport, sport)
        self.v6 = ':' in cli
        self.isn = [c_isn & M32, s_isn & M32]
        self.next = [0, 0]
        self.got = [Intervals(), Intervals()]
        self.fin = [None, None]
        self.ipid = [0x3a00 + (cport & 0xff), 0x7c00 + (cport & 0xff)]
        self.ip_extra = ip_extra      # callable -> scapy layer between IPv6 and TCP
        self.ip_options = ip_options  # IPv4 options list
        self.mss = mss
        self.window = window
        self.capturing = True
        self.only_dir = None          # capture one direction only (a one-way mirror)
        self.seen_c2s = []            # (offset, bytes) of client data the capture shows
        self.too_deep = False         # in the file, but in tunnels nested deeper than the
                                      # decoder goes: counted as packets, never as requests
        self.id = None

    # -- numbers ---------------------------------------------------------------------------
    def seq_at(self, d, off):
        return (self.isn[d] + 1 + off) & M32

    def ackval(self, d):
        o = 1 - d
        n = self.got[o].contig()
        v = self.isn[o] + 1 + n
        if self.fin[o] is not None and n >= self.fin[o]:
            v += 1
        return v & M32

    def ctl_off(self, d):
        return self.next[d] + (1 if self.fin[d] is not None else 0)

    # -- packets ---------------------------------------------------------------------------
    def emit(self, d, flags, seqoff=None, payload=b'', capture=True, options=None, seq=None,
             bad_csum=False):
        if seq is None:
            seq = self.seq_at(d, seqoff)
        ack = self.ackval(d) if 'A' in flags else 0
        sport, dport = (self.port[0], self.port[1]) if d == 0 else (self.port[1], self.port[0])
        src, dst = (self.addr[0], self.addr[1]) if d == 0 else (self.addr[1], self.addr[0])
        tcp = TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, window=self.window,
                  options=options or [])
        if self.v6:
            ip = IPv6(src=src, dst=dst, hlim=64)
            if self.ip_extra:
                ip = ip / self.ip_extra()
        else:
            ip = IP(src=src, dst=dst, id=self.ipid[d], ttl=64, flags='DF',
                    options=self.ip_options or [])
            self.ipid[d] = (self.ipid[d] + 1) & 0xFFFF
        pkt = ip / tcp
        if payload:
            pkt = pkt / Raw(payload)
        if bad_csum:
            # what the receiving kernel drops: the right checksum with some bits flipped
            good = pkt.__class__(bytes(pkt))[TCP].chksum
            pkt[TCP].chksum = good ^ 0x0F0F
        if capture and self.capturing and self.only_dir in (None, d):
            self.out.add(self.link(d, pkt), self)

    def handshake(self):
        self.emit(0, 'S', seq=self.isn[0], options=[('MSS', self.mss + 12)])
        self.emit(1, 'SA', seq=self.isn[1], options=[('MSS', self.mss + 12)])
        self.emit(0, 'A', seqoff=0)

    def ack(self, d):
        self.emit(d, 'A', seqoff=self.ctl_off(d))

    def send(self, d, data, seg=None, sizes=None, order=None, lost=(), ack_every=2,
             final_ack=True):
        """
        Send data from direction d. Segments of `seg` bytes (default mss), or the sizes in
        `sizes` (cycled). `order`: list of items, each a segment index, or ('ovl', rel_off, n)
        for a retransmission of n bytes starting at rel_off (same bytes; may overlap several
        segments). Default: every segment once, in order. `lost`: indices of segments that
        the receiver gets but the capture misses.
        Returns the list of (rel_off, bytes) segments.
        """
        base = self.next[d]
        self.next[d] += len(data)
        segs = []
        pos = 0
        i = 0
        while pos < len(data):
            n = (sizes[i % len(sizes)] if sizes else (seg or self.mss))
            segs.append((pos, data[pos:pos + n]))
            pos += n
            i += 1
        if order is None:
            order = list(range(len(segs)))
        last_idx = len(segs) - 1
        count = 0
        for k, item in enumerate(order):
            if isinstance(item, tuple):
                _, rel, n = item
                off, chunk, captured, flags = rel, data[rel:rel + n], True, 'A'
                if rel + n >= len(data):
                    flags = 'PA'
            else:
                off, chunk = segs[item]
                captured = item not in lost
                flags = 'PA' if item == last_idx else 'A'
            self.emit(d, flags, seqoff=base + off, payload=chunk, capture=captured)
            if d == 0 and captured and self.capturing and self.only_dir in (None, 0):
                self.seen_c2s.append((base + off, chunk))
            self.got[d].add(base + off, base + off + len(chunk))
            count += 1
            if ack_every and count % ack_every == 0 and k != len(order) - 1:
                self.ack(1 - d)
        assert self.got[d].covers(base, base + len(data)), 'order leaves a hole'
        if final_ack:
            self.ack(1 - d)
        return segs

    def fin_(self, d):
        self.emit(d, 'FA', seqoff=self.next[d])
        self.fin[d] = self.next[d]
        self.got[d].add(self.next[d], self.next[d])

    def close(self, first=0):
        """FIN from `first`, FIN/ACK from the peer, last ACK."""
        self.fin_(first)
        self.fin_(1 - first)
        self.ack(first)

    def rst(self, d):
        self.emit(d, 'R', seqoff=self.ctl_off(d))


# ---------------------------------------------------------------------------------------------
# HTTP message builders
# ---------------------------------------------------------------------------------------------

def _head(start, headers):
    return (start + '\r\n' + ''.join(f'{k}: {v}\r\n' for k, v in headers) + '\r\n').encode()


def chunk_encode(body, sizes, ext=None, trailers=()):
    """sizes cycled; ext: {chunk_index: ';name=value'}; returns the chunked bytes."""
    out = []
    pos = 0
    i = 0
    ext = ext or {}
    while pos < len(body):
        n = sizes[i % len(sizes)]
        piece = body[pos:pos + n]
        out.append(f'{len(piece):x}{ext.get(i, "")}\r\n'.encode() + piece + b'\r\n')
        pos += len(piece)
        i += 1
    out.append(b'0' + ext.get('last', '').encode() + b'\r\n')
    out.append(''.join(f'{k}: {v}\r\n' for k, v in trailers).encode())
    out.append(b'\r\n')
    return b''.join(out)


class Msg:
    """A built HTTP message: wire bytes and the transfer-decoded body."""

    def __init__(self, wire, body, method=None, target=None, status=None):
        self.wire = wire
        self.body = body
        self.method = method
        self.target = target
        self.status = status


def request(method, target, host='api.example.test', headers=(), body=b'', chunked=None,
            version='1.1', ctype='application/json', minimal=False):
    h = [('Host', host)]
    if not minimal:
        h += [('User-Agent', 'shadowdiff-gen/1.0'), ('Accept', '*/*')]
    h += list(headers)
    if chunked is not None:
        h += [('Content-Type', ctype), ('Transfer-Encoding', 'chunked')]
        wire = _head(f'{method} {target} HTTP/{version}', h) + chunk_encode(body, chunked)
    elif body or method in ('POST', 'PUT', 'PATCH'):
        h += [('Content-Type', ctype), ('Content-Length', str(len(body)))]
        wire = _head(f'{method} {target} HTTP/{version}', h) + body
    else:
        wire = _head(f'{method} {target} HTTP/{version}', h)
    return Msg(wire, body, method=method, target=target)


REASONS = {100: 'Continue', 103: 'Early Hints', 200: 'OK', 201: 'Created', 202: 'Accepted',
           204: 'No Content', 304: 'Not Modified', 404: 'Not Found', 500: 'Internal Server Error'}


def response(status, body=b'', headers=(), framing='cl', chunks=(1024,), ext=None,
             trailers=(), version='1.1', ctype='application/json', head_len=None):
    """
    framing: 'cl' Content-Length, 'chunked', 'close' (no length: ends at FIN), 'none' (no body
    and no length field: 1xx/204/304), 'head' (response to HEAD: Content-Length = head_len,
    no body on the wire).
    """
    h = [] if status < 200 else [('Date', 'Tue, 14 Nov 2023 22:13:20 GMT'),
                                 ('Server', 'gen-httpd/2.4')]
    if framing not in ('none',) and (body or framing == 'head'):
        h.append(('Content-Type', ctype))
    h += list(headers)
    start = f'HTTP/{version} {status} {REASONS.get(status, "Unknown")}'
    if framing == 'cl':
        h.append(('Content-Length', str(len(body))))
        wire = _head(start, h) + body
    elif framing == 'chunked':
        h.append(('Transfer-Encoding', 'chunked'))
        wire = _head(start, h) + chunk_encode(body, chunks, ext, trailers)
    elif framing == 'close':
        wire = _head(start, h) + body
    elif framing == 'head':
        h.append(('Content-Length', str(head_len)))
        wire = _head(start, h)
        body = b''
    elif framing == 'none':
        assert not body
        wire = _head(start, h)
    else:
        raise ValueError(framing)
    return Msg(wire, body, status=status)


# ---------------------------------------------------------------------------------------------
# realistic JSON bodies
# ---------------------------------------------------------------------------------------------

FIRST = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Radia', 'Dennis', 'Margaret', 'Edsger',
         'Frances', 'Donald', 'Sophie', 'Alan', 'Hedy', 'Tim', 'Katherine']
LAST = ['Lovelace', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Perlman', 'Ritchie',
        'Hamilton', 'Dijkstra', 'Allen', 'Knuth', 'Wilson', 'Turing', 'Lamarr', 'Berners-Lee']


def jbytes(obj):
    return json.dumps(obj, separators=(',', ':'), sort_keys=True).encode()


def user(rng, uid):
    f, l = rng.choice(FIRST), rng.choice(LAST)
    return {'id': uid, 'name': f'{f} {l}', 'email': f'{f.lower()}.{l.lower()}@example.test',
            'active': rng.random() < 0.8, 'roles': rng.sample(['admin', 'dev', 'ops', 'qa',
                                                                'billing'], rng.randint(1, 3)),
            'created_at': f'2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T'
                          f'{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z',
            'score': round(rng.uniform(0, 100), 2)}


def json_of_size(rng, n, kind='items'):
    """A JSON document of exactly n bytes (n >= 40): a list of records padded with a note."""
    items = []
    doc = {kind: items, 'next': None, 'note': ''}
    uid = rng.randint(1000, 9000)
    while True:
        u = user(rng, uid)
        uid += 1
        items.append(u)
        if len(jbytes(doc)) > n:
            items.pop()
            break
    if not items:
        # too small for a user record: compact product records instead
        sku = rng.randint(10000, 99999)
        while True:
            items.append({'sku': f'SKU-{sku}', 'qty': rng.randint(1, 50),
                          'price': round(rng.uniform(1, 500), 2)})
            sku += 1
            if len(jbytes(doc)) > n:
                items.pop()
                break
    base = len(jbytes(doc))
    if base > n:
        doc = {'note': ''}
        base = len(jbytes(doc))
    pad = n - base
    words = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod '
    doc['note'] = (words * (pad // len(words) + 1))[:pad]
    b = jbytes(doc)
    assert len(b) == n, (len(b), n)
    return b


def small_json(rng, i):
    return jbytes({'id': i, 'status': rng.choice(['ok', 'queued', 'done']),
                   'v': rng.randint(0, 99999)})


# ---------------------------------------------------------------------------------------------
# expected list
# ---------------------------------------------------------------------------------------------

def crc(b):
    return '%08x' % (zlib.crc32(b) & 0xFFFFFFFF)


class Expected:
    def __init__(self):
        self.rows = []

    def add(self, conn, seq, req, resp, state='complete', req_body=None, resp_body=None,
            status='auto', note=None):
        rb = req.body if req_body is None else req_body
        if resp is None:
            sb = b'' if resp_body is None else resp_body
        else:
            sb = resp.body if resp_body is None else resp_body
        if status == 'auto':
            status = resp.status if resp is not None else None
        self.rows.append((conn, seq, {
            'method': req.method, 'target': req.target, 'status': status, 'state': state,
            'req_body_len': len(rb), 'resp_body_len': len(sb),
            'req_body_crc32': crc(rb), 'resp_body_crc32': crc(sb)}))
        if note is not None:
            self.rows[-1][2]['note'] = note

    def lines(self):
        out = []
        for conn, seq, r in self.rows:
            assert conn.id is not None, 'expected row for a connection never captured'
            row = {'conn': conn.id, 'seq': seq}
            row.update(r)
            out.append(row)
        out.sort(key=lambda r: (r['conn'], r['seq']))
        keys = [(r['conn'], r['seq']) for r in out]
        assert len(set(keys)) == len(keys), 'duplicate (conn, seq)'
        # seq must be 0..n-1 per conn
        per = {}
        for c, s in keys:
            per.setdefault(c, []).append(s)
        for c, ss in per.items():
            assert ss == list(range(len(ss))), (c, ss)
        return ''.join(json.dumps(r) + '\n' for r in out)


def exchange(c, exp, seq, req, resp, req_kw=None, resp_kw=None):
    """Client sends req, server answers resp; both fully captured."""
    c.send(0, req.wire, **(req_kw or {}))
    c.send(1, resp.wire, **(resp_kw or {}))
    exp.add(c, seq, req, resp)


# A line that reads `METHOD target HTTP/1.x`, valid or not: a request line the parser refuses
# (a space inside the target, a method that is not a token) is still one the client sent, and
# the capture keeps it as an unparsable exchange. One match per such line.
REQUEST_LINE = re.compile(rb'[!-~]+ [^\r\n]+ HTTP/1\.[01]\r\n')


def request_lines(out):
    """Request lines the capture shows whole, over every connection: the client bytes the
    generator sent and captured, joined where contiguous, searched for request lines."""
    n = 0
    for c in out.conn_order:
        if c.too_deep:
            continue
        have = {}
        for off, chunk in c.seen_c2s:
            for i, b in enumerate(chunk):
                have.setdefault(off + i, b)
        run = bytearray()
        prev = None
        for off in sorted(have):
            if prev is not None and off != prev + 1:
                n += len(REQUEST_LINE.findall(bytes(run)))
                run = bytearray()
            run.append(have[off])
            prev = off
        n += len(REQUEST_LINE.findall(bytes(run)))
    return n


# ---------------------------------------------------------------------------------------------
# cases. Each returns (PcapOut, Expected).
# ---------------------------------------------------------------------------------------------

CLI4, SRV4 = '10.0.0.10', '10.0.0.20'
CLI6, SRV6 = 'fd00:10::10', 'fd00:10::20'


def case_basic_keepalive():
    rng = random.Random(1)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 51000, 8080, 0x1A2B3C4D, 0x5E6F7081)
    c.handshake()
    reqs = [request('GET', '/api/users?page=1&per_page=10'),
            request('GET', '/api/users/4242', headers=[('Accept-Language', 'en')]),
            request('GET', '/api/health')]
    resps = [response(200, json_of_size(rng, 2900)),
             response(200, jbytes(user(rng, 4242)), headers=[('ETag', '"u4242-7"')]),
             response(200, b'{"status":"ok","uptime_s":86400}')]
    for i, (q, r) in enumerate(zip(reqs, resps)):
        out.tick(20_000)
        exchange(c, exp, i, q, r)
    out.tick(50_000)
    c.close(0)
    return out, exp


def case_out_of_order():
    rng = random.Random(2)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 51010, 8080, 0x00C0FFEE, 0x0BADF00D)
    c.handshake()

    # 0: request in 3 segments delivered 1,2,0; response segments swapped pairwise plus an
    #    exact duplicate of segment 3
    q = request('GET', '/api/reports/2023/q4?format=json&include=lines,totals',
                headers=[('Authorization', 'Bearer ' + 'x' * 120),
                         ('X-Request-Id', '5b8f1c2e-6a0d-4c1e-9f1b-2a7d3e4c5f60')])
    n = len(q.wire)
    c.send(0, q.wire, sizes=[n // 3, n // 3, n], order=[1, 2, 0])
    r = response(200, json_of_size(rng, 14000))
    segs = (len(r.wire) + c.mss - 1) // c.mss
    order = []
    for i in range(0, segs, 2):
        order += [i + 1, i] if i + 1 < segs else [i]
    order.insert(6, 3)  # duplicate of segment 3 after it was delivered
    c.send(1, r.wire, order=order)
    exp.add(c, 0, q, r)

    # 1: response: block reversed, overlapping retransmits (one after both overlapped segments
    #    were seen, one that arrives ahead of them, covering a hole partially), last segment
    #    first
    out.tick(30_000)
    q = request('GET', '/api/reports/2023/q4/lines?offset=0&limit=500')
    c.send(0, q.wire)
    r = response(200, json_of_size(rng, 20000), headers=[('Cache-Control', 'no-store')])
    segs = (len(r.wire) + c.mss - 1) // c.mss
    assert segs >= 12
    m = c.mss
    order = [segs - 1, 0, 4, 3, 2, 1, 5, 6,
             ('ovl', 5 * m + 700, m),           # tail of 5 + head of 6, both already seen
             ('ovl', 8 * m + 300, m + 500),     # ahead: middle of 8 + part of 9
             7, 9, 8]
    order += list(range(10, segs - 1))
    order += [('ovl', 10 * m - 100, 200)]      # straddles 9/10 again
    c.send(1, r.wire, order=order)
    exp.add(c, 1, q, r)

    # 2: POST whose body segments come before its header segment; response headers last
    out.tick(30_000)
    body = json_of_size(rng, 5000, kind='users')
    q = request('POST', '/api/users/bulk', body=body)
    segs = (len(q.wire) + c.mss - 1) // c.mss
    c.send(0, q.wire, order=list(range(1, segs)) + [0, 2])  # and a duplicate of segment 2
    r = response(201, json_of_size(rng, 6000, kind='created'),
                 headers=[('Location', '/api/users/bulk/77')])
    segs = (len(r.wire) + c.mss - 1) // c.mss
    c.send(1, r.wire, order=list(range(1, segs)) + [0])
    exp.add(c, 2, q, r)

    # 3: small request resent whole (duplicate) before the response
    out.tick(30_000)
    q = request('GET', '/api/ping')
    c.send(0, q.wire, order=[0, 0])
    r = response(200, b'{"pong":true}')
    c.send(1, r.wire)
    exp.add(c, 3, q, r)
    out.tick(40_000)
    c.close(0)
    return out, exp


def case_pipelining_mixed():
    rng = random.Random(3)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 51020, 8080, 0x11111111, 0x22222222)
    c.handshake()

    item = json_of_size(rng, 180, kind='item')
    reqs = [request('GET', '/v1/items?limit=2'),
            request('POST', '/v1/items', body=item),
            request('HEAD', '/v1/items/7'),
            request('DELETE', '/v1/items/9')]
    chunk_body = json_of_size(rng, 1500, kind='created')
    resps = [response(200, json_of_size(rng, 700)),
             response(201, chunk_body, framing='chunked', chunks=[400, 333, 1024],
                      ext={0: ';sig=abc123', 2: ';name="quoted;value"'},
                      trailers=[('X-Checksum', 'sha256-9f86d081'), ('X-Items', '1')],
                      headers=[('Trailer', 'X-Checksum, X-Items')]),
             response(200, framing='head', head_len=4821),
             response(204, framing='none')]
    burst = b''.join(q.wire for q in reqs)
    # odd segment sizes so segments split across message boundaries
    c.send(0, burst, sizes=[70, 150, 23, 200, 400])
    stream = b''.join(r.wire for r in resps)
    c.send(1, stream, sizes=[100, 333, 47, 512, 777])
    for i, (q, r) in enumerate(zip(reqs, resps)):
        exp.add(c, i, q, r)

    # second burst: a chunked PUT, a GET answered with many small chunks (chunk extension on
    # the last-chunk too), a GET with Content-Length; all in a single request segment and a
    # single-ish response stream
    out.tick(25_000)
    put_body = json_of_size(rng, 900, kind='item')
    reqs = [request('PUT', '/v1/items/7', body=put_body, chunked=[256, 100]),
            request('GET', '/v1/stream?since=1700000000'),
            request('GET', '/v1/items/7')]
    resps = [response(200, b'{"updated":true,"id":7}'),
             response(200, b''.join(jbytes({'event': 'tick', 'n': i}) + b'\n' for i in range(40)),
                      framing='chunked', chunks=[37, 5, 64], ext={'last': ';done'},
                      ctype='application/x-ndjson'),
             response(200, put_body, headers=[('ETag', '"i7-2"')])]
    c.send(0, b''.join(q.wire for q in reqs), seg=4000)
    c.send(1, b''.join(r.wire for r in resps), sizes=[1448, 9, 1448])
    for i, (q, r) in enumerate(zip(reqs, resps)):
        exp.add(c, 4 + i, q, r)
    out.tick(40_000)
    c.close(1)
    return out, exp


def case_vlan_ipv6():
    rng = random.Random(4)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    hbh = lambda: IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b'')])  # noqa
    conns = [
        Conn(out, eth_link([('q', 100)]), '10.1.0.10', '10.1.0.20', 52000, 80, 1000, 900000),
        Conn(out, eth_link([('ad', 200), ('q', 300)]), '10.2.0.10', '10.2.0.20', 52001, 80,
             2000, 800000),
        Conn(out, eth_link(), CLI6, SRV6, 52002, 80, 3000, 700000, ip_extra=hbh),
        Conn(out, eth_link([('q', 42)]), 'fd00:42::10', 'fd00:42::20', 52003, 80, 4000,
             600000, ip_extra=hbh),
    ]
    for k, c in enumerate(conns):
        c.handshake()
        out.tick(1000)
        for i in range(2):
            q = request('GET', f'/status/{k}/{i}?verbose=1', host='edge.example.test')
            r = response(200, json_of_size(rng, 600 + 1500 * i))
            exchange(c, exp, i, q, r)
            out.tick(5000)
        c.close(0)
        out.tick(10_000)
    return out, exp


def _cooked(linkfn, linktype, seed):
    rng = random.Random(seed)
    out, exp = PcapOut(linktype), Expected()
    c4 = Conn(out, linkfn, '127.0.0.1', '127.0.0.1', 53000, 8080, 0x10000000, 0x20000000)
    c6 = Conn(out, linkfn, '::1', '::1', 53001, 8080, 0x30000000, 0x40000000)
    c4.handshake()
    c6.handshake()
    q = request('POST', '/api/login', body=b'{"user":"ada","password":"hunter2"}')
    r = response(200, jbytes({'token': 'eyJhbGciOiJIUzI1NiJ9.' + 'a' * 80, 'ttl': 3600}))
    exchange(c4, exp, 0, q, r)
    q = request('GET', '/api/profile/me', headers=[('Authorization', 'Bearer abc')])
    r = response(200, json_of_size(rng, 3000))
    exchange(c6, exp, 0, q, r)
    q = request('GET', '/api/profile/me/avatar?size=64')
    r = response(404, b'{"error":"not found"}')
    exchange(c4, exp, 1, q, r)
    c4.close(0)
    c6.close(1)
    return out, exp


def case_cooked_v1():
    return _cooked(sll_link(), LINKTYPE_LINUX_SLL, 5)


def case_cooked_v2():
    return _cooked(sll2_link(), LINKTYPE_LINUX_SLL2, 6)


def case_null_loopback():
    rng = random.Random(7)
    out, exp = PcapOut(LINKTYPE_NULL), Expected()
    c = Conn(out, null_link(), '127.0.0.1', '127.0.0.1', 54000, 8080, 77, 99)
    c.handshake()
    for i in range(2):
        q = request('GET', f'/api/items/{i}', host='localhost:8080')
        r = response(200, json_of_size(rng, 400 + 2000 * i))
        exchange(c, exp, i, q, r)
    c.close(0)
    c = Conn(out, null_link(), '::1', '::1', 54001, 8080, 777, 999)
    c.handshake()
    q = request('PUT', '/api/items/1', host='[::1]:8080', body=json_of_size(rng, 300))
    r = response(200, b'{"ok":true}')
    exchange(c, exp, 0, q, r)
    c.close(0)
    return out, exp


def case_raw_ip():
    rng = random.Random(8)
    out, exp = PcapOut(LINKTYPE_RAW), Expected()
    conns = [Conn(out, raw_link(), '192.168.7.10', '192.168.7.20', 55000, 8080, 5, 6),
             Conn(out, raw_link(), 'fd00:7::10', 'fd00:7::20', 55001, 8080, 7, 8),
             Conn(out, raw_link(), '192.168.7.11', '192.168.7.20', 55002, 8080, 9, 10,
                  ip_options=[IPOption_Router_Alert(), IPOption_NOP(), IPOption_NOP(),
                              IPOption_NOP(), IPOption_NOP()])]
    for k, c in enumerate(conns):
        c.handshake()
        q = request('GET', f'/raw/{k}')
        r = response(200, json_of_size(rng, 1000 + 1000 * k))
        exchange(c, exp, 0, q, r)
        c.close(0)
    return out, exp


def case_seq_wrap():
    rng = random.Random(9)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: client data starts 40 bytes before the wrap (the request straddles it), server
    # data 3000 bytes before it (the first response's body straddles it)
    c = Conn(out, eth_link(), CLI4, SRV4, 56000, 8080, 0xFFFFFFFF - 40, 0xFFFFFFFF - 3000)
    c.handshake()
    q = request('GET', '/api/export?from=2023-01-01&to=2023-12-31')
    r = response(200, json_of_size(rng, 8000))
    assert len(r.wire) - len(r.body) < 3000 < len(r.wire)
    exchange(c, exp, 0, q, r)
    q = request('GET', '/api/export/summary')
    r = response(200, json_of_size(rng, 2500))
    exchange(c, exp, 1, q, r)
    c.close(0)
    # conn 2: client ISN 0xFFFFFFFF (first data byte is seq 0); server body straddles the wrap
    # and the segments around it arrive out of order
    c = Conn(out, eth_link(), CLI4, SRV4, 56001, 8080, 0xFFFFFFFF, 0xFFFFFFFF - 5000)
    c.handshake()
    q = request('POST', '/api/export', body=b'{"format":"csv","compress":false}')
    r = response(200, json_of_size(rng, 9000))
    # segment 3 holds byte offset 5000-1 .. the wrap falls inside segment 3 (offsets 4344..5791)
    c.send(0, q.wire)
    c.send(1, r.wire, order=[0, 1, 2, 4, 3, 5, 6])
    exp.add(c, 0, q, r)
    c.close(1)
    return out, exp


def _midstream(eol):
    rng = random.Random(10 if eol else 18)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 57000, 8080, 0x01020304, 0x05060708)
    c.capturing = False
    c.handshake()
    q0 = request('GET', '/api/logs?tail=500')
    c.send(0, q0.wire)
    # with eol, every JSON body ends in a newline (as Flask's jsonify writes them), so the next
    # status line starts a line; without, the next status line follows the '}' directly
    nl = b'\n' if eol else b''
    r0 = response(200, json_of_size(rng, 9000) + nl)
    head = 4 * c.mss                              # capture starts in the body, at segment 4
    assert len(r0.wire) - len(r0.body) < head
    c.send(1, r0.wire[:head], final_ack=False)
    c.capturing = True
    c.send(1, r0.wire[head:])                    # first captured packet: server data
    out.tick(20_000)
    q = request('GET', '/api/logs?tail=500&after=9001')
    r = response(200, json_of_size(rng, 1200) + nl)
    exchange(c, exp, 0, q, r)
    q = request('POST', '/api/logs/ack', body=b'{"upto":9123}')
    r = response(202, b'{"accepted":true}' + nl)
    exchange(c, exp, 1, q, r)
    c.close(0)
    assert b'HTTP/' not in r0.wire[head:]
    return out, exp


def case_midstream():
    return _midstream(True)


def case_midstream_noeol():
    return _midstream(False)


def case_lost_segment():
    rng = random.Random(11)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: Content-Length body, segment 3 of the response missing from the capture
    c = Conn(out, eth_link(), CLI4, SRV4, 58000, 8080, 424242, 434343)
    c.handshake()
    q = request('GET', '/api/catalog?full=1')
    r = response(200, json_of_size(rng, 8000))
    hl = len(r.wire) - len(r.body)
    c.send(0, q.wire)
    segs = c.send(1, r.wire, lost={3})
    off, lost = segs[3]
    assert off > hl
    kept = r.body[:off - hl] + r.body[off - hl + len(lost):]
    exp.add(c, 0, q, r, state='gap', resp_body=kept)
    q = request('GET', '/api/catalog/version')
    r = response(200, b'{"version":"2023.11.14","items":512}')
    exchange(c, exp, 1, q, r)
    c.close(0)

    # conn 2: one large chunk; a segment inside the chunk data missing
    c = Conn(out, eth_link(), CLI4, SRV4, 58001, 8080, 525252, 535353)
    c.handshake()
    q = request('GET', '/api/catalog/stream')
    body = json_of_size(rng, 7000)
    r = response(200, body, framing='chunked', chunks=[7000])
    hl = r.wire.index(b'\r\n\r\n') + 4 + len('1b58\r\n')
    assert r.wire[hl - 6:hl] == b'1b58\r\n'
    c.send(0, q.wire)
    segs = c.send(1, r.wire, lost={2})
    off, lost = segs[2]
    assert hl < off and off + len(lost) < hl + 7000
    kept = body[:off - hl] + body[off - hl + len(lost):]
    exp.add(c, 0, q, r, state='gap', resp_body=kept)
    q = request('GET', '/api/catalog/version')
    r = response(200, b'{"version":"2023.11.14","items":512}')
    exchange(c, exp, 1, q, r)
    c.close(0)

    # conn 3: a segment of a POST body missing (the server's ACK covers it)
    c = Conn(out, eth_link(), CLI4, SRV4, 58002, 8080, 626262, 636363)
    c.handshake()
    body = json_of_size(rng, 5000, kind='users')
    q = request('POST', '/api/users/import', body=body)
    hl = len(q.wire) - len(body)
    segs = c.send(0, q.wire, lost={1})
    off, lost = segs[1]
    assert off > hl
    kept = body[:off - hl] + body[off - hl + len(lost):]
    r = response(200, b'{"imported":17,"skipped":0}')
    c.send(1, r.wire)
    exp.add(c, 0, q, r, state='gap', req_body=kept)
    q = request('GET', '/api/users/import/status')
    r = response(200, b'{"state":"done"}')
    exchange(c, exp, 1, q, r)
    c.close(0)
    return out, exp


ALL = set(range(64))  # every segment of a message


def case_lost_messages():
    """Whole messages and message ends lost by the capture, the way kernel drops lose them."""
    rng = random.Random(21)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: the last segment of a response body lost, the gap ends where the body ends;
    # then the same for the last segment of a POST body
    c = Conn(out, eth_link(), CLI4, SRV4, 58100, 8080, 717171, 727272)
    c.handshake()
    q = request('GET', '/api/catalog?page=2')
    r = response(200, json_of_size(rng, 5000))
    c.send(0, q.wire)
    segs = c.send(1, r.wire, lost={len(r.wire) // c.mss})
    off, lost = segs[-1]
    hl = len(r.wire) - len(r.body)
    assert off > hl and off + len(lost) == len(r.wire)
    exp.add(c, 0, q, r, state='gap', resp_body=r.body[:off - hl])
    body = json_of_size(rng, 4000, kind='users')
    q = request('POST', '/api/users/import', body=body)
    segs = c.send(0, q.wire, lost={len(q.wire) // c.mss})
    off, lost = segs[-1]
    hl = len(q.wire) - len(body)
    assert off > hl and off + len(lost) == len(q.wire)
    r = response(200, b'{"imported":12,"skipped":0}')
    c.send(1, r.wire)
    exp.add(c, 1, q, r, state='gap', req_body=body[:off - hl])
    q = request('GET', '/api/catalog/version')
    r = response(200, b'{"version":"2023.11.14","items":512}')
    exchange(c, exp, 2, q, r)
    c.close(0)

    # conn 2: a request and its response lost whole; the next request waits behind that hole
    # until the server acknowledges it, and its own response is lost too. It must not take the
    # response of the request after it.
    c = Conn(out, eth_link(), CLI4, SRV4, 58101, 8080, 818181, 828282)
    c.handshake()
    exchange(c, exp, 0, request('GET', '/api/products/11'),
             response(200, b'{"id":11,"name":"Compact Shovel 11"}'))
    c.send(0, request('GET', '/api/users/66').wire, lost=ALL, final_ack=False)
    c.send(1, response(200, b'{"id":66,"name":"Ada Lovelace"}').wire, lost=ALL, final_ack=False)
    c.ack(0)
    q = request('GET', '/api/products/12')
    c.send(0, q.wire, final_ack=False)
    c.send(1, response(200, b'{"id":12,"name":"Compact Shovel 12"}').wire, lost=ALL,
           final_ack=False)
    c.ack(0)
    exp.add(c, 1, q, None, state='gap')
    exchange(c, exp, 2, request('POST', '/api/orders', body=b'{"customer_id":5,"items":[]}'),
             response(400, b'{"error":"invalid product_id"}'))
    c.close(0)

    # conn 3: the SYN+ACK lost, then the first response lost whole: the server's position is
    # known only from the client's acks
    c = Conn(out, eth_link(), CLI4, SRV4, 58102, 8080, 919191, 929292)
    c.emit(0, 'S', seq=c.isn[0], options=[('MSS', c.mss + 12)])
    c.emit(1, 'SA', seq=c.isn[1], options=[('MSS', c.mss + 12)], capture=False)
    c.emit(0, 'A', seqoff=0)
    q = request('GET', '/api/search?q=Mug+1')
    c.send(0, q.wire)
    c.send(1, response(200, b'{"q":"Mug 1","results":[]}').wire, lost=ALL, final_ack=False)
    exp.add(c, 0, q, None, state='gap')
    exchange(c, exp, 1, request('GET', '/api/products/739'),
             response(200, b'{"id":739,"name":"Classic Lamp 739"}'))
    c.close(0)

    # conn 4: a POST body lost and the head of its response lost; the server's packet that
    # shows the body lost carries the rest of the response
    c = Conn(out, eth_link(), CLI4, SRV4, 58103, 8080, 101010, 202020)
    c.handshake()
    body = b'{"customer_id":489,"items":[{"product_id":516,"qty":1}]}'
    q = request('POST', '/api/orders', body=body)
    c.send(0, q.wire, sizes=[len(q.wire) - len(body), len(body)], lost={1}, final_ack=False)
    r = response(201, b'{"customer_id":489,"id":"ord_35d5b96d51b7b243","total":17.24}')
    c.send(1, r.wire, sizes=[len(r.wire) - len(r.body), len(r.body)], lost={0},
           final_ack=False)
    exp.add(c, 0, q, None, state='gap', req_body=b'')
    exchange(c, exp, 1, request('GET', '/api/products?limit=10&offset=100'),
             response(200, b'{"items":[],"limit":10,"offset":100}'))
    c.close(0)
    return out, exp


def case_close_delimited():
    rng = random.Random(12)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: HTTP/1.0 request and response, no Content-Length, body ends with the server FIN
    c = Conn(out, eth_link(), CLI4, SRV4, 59000, 8080, 100, 200)
    c.handshake()
    q = request('GET', '/legacy/report.json', version='1.0')
    r = response(200, json_of_size(rng, 4000), framing='close', version='1.0')
    c.send(0, q.wire)
    c.send(1, r.wire)
    c.close(1)
    exp.add(c, 0, q, r)
    # conn 2: HTTP/1.1 request with Connection: close; response with Content-Length and
    # Connection: close, then the server closes
    c = Conn(out, eth_link(), CLI4, SRV4, 59001, 8080, 300, 400)
    c.handshake()
    q = request('GET', '/api/once', headers=[('Connection', 'close')])
    r = response(200, json_of_size(rng, 1500), headers=[('Connection', 'close')])
    c.send(0, q.wire)
    c.send(1, r.wire)
    c.close(1)
    exp.add(c, 0, q, r)
    # conn 3: HTTP/1.1, Connection: close, response without Content-Length or chunked:
    # delimited by the server's close. The client half-closes (FIN) right after its request,
    # before the response: that FIN ends the request stream, not the response
    c = Conn(out, eth_link(), CLI4, SRV4, 59002, 8080, 500, 600)
    c.handshake()
    q = request('GET', '/api/dump', headers=[('Connection', 'close')])
    r = response(200, json_of_size(rng, 3000), framing='close', headers=[('Connection', 'close')])
    c.send(0, q.wire, final_ack=False)
    c.fin_(0)
    c.ack(1)
    c.send(1, r.wire)
    c.fin_(1)
    c.ack(0)
    exp.add(c, 0, q, r)
    return out, exp


def case_expect_continue():
    rng = random.Random(13)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 60000, 8080, 0xABCDEF01, 0x10FEDCBA)
    c.handshake()
    body = json_of_size(rng, 3000, kind='documents')
    q = request('POST', '/api/upload?dedupe=1', body=body, headers=[('Expect', '100-continue')])
    hl = len(q.wire) - len(body)
    c.send(0, q.wire[:hl])                        # headers only
    c.send(1, response(100, framing='none').wire, final_ack=False)
    c.send(0, q.wire[hl:])                        # then the body
    r = response(201, b'{"id":"doc-7f3a","bytes":3000}', headers=[('Location', '/api/doc/7f3a')])
    c.send(1, r.wire)
    exp.add(c, 0, q, r)
    # a 103 Early Hints interim response in the same segment as the final response
    q = request('GET', '/app/index.json')
    r = response(200, json_of_size(rng, 900))
    hint = response(103, framing='none', headers=[('Link', '</app.css>; rel=preload; as=style')])
    c.send(0, q.wire)
    c.send(1, hint.wire + r.wire)
    exp.add(c, 1, q, r)
    c.close(0)
    return out, exp


def case_interleaved_many():
    rng = random.Random(14)
    out, exp = PcapOut(LINKTYPE_ETHERNET, step_us=37), Expected()

    class Buf:
        def __init__(self):
            self.frames = []

        def add(self, frame, conn):
            self.frames.append(frame)

    pending = []
    for k in range(300):
        buf = Buf()
        cli = f'10.9.{k // 200}.{k % 200 + 10}'
        c = Conn(buf, eth_link(), cli, '10.9.255.1', 40000 + k, 8080,
                 rng.getrandbits(32), rng.getrandbits(32))
        c.handshake()
        for i in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.6:
                q = request('GET', f'/o/{k}/{i}?x={rng.randint(0, 999)}', host='svc',
                            minimal=True)
            else:
                q = request('POST', f'/o/{k}', host='svc', body=small_json(rng, k),
                            minimal=True)
            if rng.random() < 0.7:
                r = response(200, small_json(rng, i))
            else:
                r = response(200, small_json(rng, i) + small_json(rng, i + 1),
                             framing='chunked', chunks=[20])
            c.send(0, q.wire, final_ack=False)
            c.send(1, r.wire, final_ack=False)
            exp.add(c, i, q, r)
        c.close(0)
        pending.append((c, buf.frames))
    # interleave: up to 40 connections open at once, next packet from a random open one
    active, waiting = [], list(pending)
    while active or waiting:
        while waiting and len(active) < 40 and (not active or rng.random() < 0.3):
            c, frames = waiting.pop(0)
            active.append([c, frames, 0])
        a = rng.choice(active)
        out.add(a[1][a[2]], a[0])
        a[2] += 1
        if a[2] == len(a[1]):
            active.remove(a)
    return out, exp


def case_no_response():
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: request acknowledged, then the server resets the connection
    c1 = Conn(out, eth_link(), CLI4, SRV4, 61000, 8080, 11, 22)
    c1.handshake()
    q = request('POST', '/api/jobs', body=b'{"kind":"reindex","priority":5}')
    c1.send(0, q.wire)
    c1.rst(1)
    exp.add(c1, 0, q, None, state='no_response')
    # conn 2: request; both sides close without a response
    c2 = Conn(out, eth_link(), CLI4, SRV4, 61001, 8080, 33, 44)
    c2.handshake()
    q = request('GET', '/api/jobs/17')
    c2.send(0, q.wire)
    out.tick(2_000_000)
    c2.close(0)
    exp.add(c2, 0, q, None, state='no_response')
    # conn 3: one complete exchange, then a request still unanswered when the capture ends
    c3 = Conn(out, eth_link(), CLI4, SRV4, 61002, 8080, 55, 66)
    c3.handshake()
    q = request('GET', '/api/jobs?state=running')
    r = response(200, b'{"jobs":[{"id":17,"state":"running"}]}')
    exchange(c3, exp, 0, q, r)
    q = request('GET', '/api/jobs/17/log?follow=1')
    c3.send(0, q.wire)
    exp.add(c3, 1, q, None, state='no_response')
    return out, exp


def case_truncated_body():
    rng = random.Random(15)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 62000, 8080, 1234567, 7654321)
    c.handshake()
    LIM = 1000
    q = request('GET', '/api/small')
    r = response(200, json_of_size(rng, 300))
    exchange(c, exp, 0, q, r)
    q = request('GET', '/api/big')
    r = response(200, json_of_size(rng, 5000))
    c.send(0, q.wire)
    c.send(1, r.wire)
    exp.add(c, 1, q, r, state='truncated', resp_body=r.body[:LIM])
    q = request('GET', '/api/exactly-limit')          # exactly max-body: not truncated
    r = response(200, json_of_size(rng, LIM))
    exchange(c, exp, 2, q, r)
    body = json_of_size(rng, 2500, kind='users')        # request body over the limit
    q = request('POST', '/api/users/bulk', body=body)
    r = response(201, b'{"created":9}')
    c.send(0, q.wire)
    c.send(1, r.wire)
    exp.add(c, 3, q, r, state='truncated', req_body=body[:LIM])
    q = request('GET', '/api/big/stream')              # chunked, over the limit
    r = response(200, json_of_size(rng, 3000), framing='chunked', chunks=[700])
    c.send(0, q.wire)
    c.send(1, r.wire)
    exp.add(c, 4, q, r, state='truncated', resp_body=r.body[:LIM])
    q = request('GET', '/api/small?again=1')
    r = response(200, json_of_size(rng, 999))
    exchange(c, exp, 5, q, r)
    c.close(0)
    return out, exp


def case_malformed_response():
    rng = random.Random(16)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 63000, 8080, 1, 2)
    c.handshake()
    q = request('GET', '/api/ok')
    r = response(200, json_of_size(rng, 500))
    exchange(c, exp, 0, q, r)
    c.close(0)
    # conn 2: Content-Length together with Transfer-Encoding: chunked
    c = Conn(out, eth_link(), CLI4, SRV4, 63001, 8080, 3, 4)
    c.handshake()
    q = request('GET', '/api/smuggle')
    body = json_of_size(rng, 400)
    r = response(200, body, framing='chunked', chunks=[200],
                 headers=[('Content-Length', str(len(body)))])
    c.send(0, q.wire)
    c.send(1, r.wire)
    c.close(1)
    exp.add(c, 0, q, None, state='unparsable', status=None)
    # conn 3: invalid Content-Length value
    c = Conn(out, eth_link(), CLI4, SRV4, 63002, 8080, 5, 6)
    c.handshake()
    q = request('GET', '/api/badlen')
    body = b'{"hello":"world"}'
    wire = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17abc\r\n'
            b'\r\n' + body)
    c.send(0, q.wire)
    c.send(1, wire)
    c.close(1)
    exp.add(c, 0, q, None, state='unparsable', status=None)
    return out, exp


def tls_client_hello(rng, sni):
    sni_b = sni.encode()
    ext_sni = struct.pack('>HHHBH', 0, len(sni_b) + 5, len(sni_b) + 3, 0, len(sni_b)) + sni_b
    ext_alpn_list = b'\x02h2\x08http/1.1'
    ext_alpn = struct.pack('>HHH', 16, len(ext_alpn_list) + 2, len(ext_alpn_list)) + ext_alpn_list
    ext_sv = struct.pack('>HHB', 43, 5, 4) + b'\x03\x04\x03\x03'
    exts = ext_sni + ext_alpn + ext_sv
    ciphers = b'\x13\x01\x13\x02\x13\x03\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30'
    rand = bytes(rng.getrandbits(8) for _ in range(32))
    sid = bytes(rng.getrandbits(8) for _ in range(32))
    body = (b'\x03\x03' + rand + bytes([len(sid)]) + sid + struct.pack('>H', len(ciphers)) +
            ciphers + b'\x01\x00' + struct.pack('>H', len(exts)) + exts)
    hs = b'\x01' + struct.pack('>I', len(body))[1:] + body
    return b'\x16\x03\x01' + struct.pack('>H', len(hs)) + hs


def case_non_http():
    rng = random.Random(17)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: an ordinary exchange
    c = Conn(out, eth_link(), CLI4, SRV4, 64000, 8080, 10, 20)
    c.handshake()
    q = request('GET', '/api/version')
    r = response(200, b'{"version":"1.4.2","commit":"9f2c1e7"}')
    exchange(c, exp, 0, q, r)
    c.close(0)
    # conn 2: HTTP/2 with prior knowledge on 8080: preface + SETTINGS, server SETTINGS + ACK,
    # a HEADERS frame and a response HEADERS+DATA (binary)
    c = Conn(out, eth_link(), CLI4, SRV4, 64001, 8080, 30, 40)
    c.handshake()
    settings = lambda payload, flags=0: (struct.pack('>I', len(payload))[1:] +  # noqa
                                         bytes([4, flags]) + b'\0\0\0\0' + payload)
    preface = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
    c_settings = settings(struct.pack('>HI', 3, 100) + struct.pack('>HI', 4, 65535))
    hpack = b'\x82\x86\x84\x41\x8a\xa0\xe4\x1d\x13\x9d\x09\xb8\xf0\x1e\x07'  # GET / https ...
    headers = struct.pack('>I', len(hpack))[1:] + bytes([1, 5]) + struct.pack('>I', 1) + hpack
    c.send(0, preface + c_settings + headers)
    s_data = b'{"h2":true}'
    c.send(1, settings(struct.pack('>HI', 3, 250)) + settings(b'', 1) +
           struct.pack('>I', 1)[1:] + bytes([1, 4]) + struct.pack('>I', 1) + b'\x88' +
           struct.pack('>I', len(s_data))[1:] + bytes([0, 1]) + struct.pack('>I', 1) + s_data)
    c.send(0, settings(b'', 1))
    c.close(0)
    # conn 3: TLS ClientHello on 443 and a server handshake record
    c = Conn(out, eth_link(), CLI4, SRV4, 64002, 443, 50, 60)
    c.handshake()
    c.send(0, tls_client_hello(rng, 'api.example.test'))
    sh_body = b'\x03\x03' + bytes(rng.getrandbits(8) for _ in range(32)) + b'\x00\x13\x01\x00'
    sh = b'\x02' + struct.pack('>I', len(sh_body))[1:] + sh_body
    c.send(1, b'\x16\x03\x03' + struct.pack('>H', len(sh)) + sh +
           b'\x17\x03\x03\x00\x40' + bytes(rng.getrandbits(8) for _ in range(64)))
    c.rst(0)
    return out, exp


# ---------------------------------------------------------------------------------------------
# tunnels: the way mirrored traffic arrives (VPC traffic mirroring, load balancers, switches)
# ---------------------------------------------------------------------------------------------

COLLECTOR4, COLLECTOR6 = '10.99.0.1', 'fd00:99::1'


def _ip_of(src, dst, proto_layer):
    if ':' in src:
        return IPv6(src=src, dst=dst, hlim=64) / proto_layer
    return IP(src=src, dst=dst, ttl=64, flags='DF', id=0x4d00) / proto_layer


def vxlan(src, dst, vni, dport=4789):
    """VXLAN (RFC 7348) over UDP; carries an Ethernet frame."""
    return 'eth', lambda d, inner: _ip_of(src, dst, UDP(sport=49152 + d, dport=dport) /
                                          VXLAN(flags=0x08, vni=vni) / Raw(inner))


def geneve(src, dst, vni, proto=0x6558, opts=b''):
    """Geneve (RFC 8926); opts: raw option bytes (a multiple of 4)."""
    assert len(opts) % 4 == 0
    carries = 'eth' if proto == 0x6558 else 'ip'
    return carries, lambda d, inner: _ip_of(
        src, dst, UDP(sport=50000 + d, dport=6081) /
        GENEVE(version=0, optionlen=len(opts) // 4, proto=proto, vni=vni) / Raw(opts + inner))


def gre(src, dst, proto=None, key=None, seq=None, csum=False):
    """GRE (RFC 2784, key and sequence number of RFC 2890); proto None: the inner IP's."""
    carries = 'eth' if proto == 0x6558 else 'ip'

    def mk(d, inner):
        p = proto if proto is not None else (0x86DD if inner[0] >> 4 == 6 else 0x0800)
        g = GRE(proto=p, chksum_present=int(csum), key_present=int(key is not None),
                key=key or 0, seqnum_present=int(seq is not None), sequence_number=seq or 0)
        return _ip_of(src, dst, g / Raw(inner))
    return carries, mk


def erspan(src, dst, version, session, platform=False):
    """ERSPAN type 1, 2 or 3 (draft-foschiano-erspan-03) inside GRE; carries Ethernet."""
    def mk(d, inner):
        if version == 1:
            g = GRE(proto=0x88BE) / Raw(inner)
        elif version == 2:
            g = GRE(proto=0x88BE, seqnum_present=1, sequence_number=7) / \
                ERSPAN_II(ver=1, vlan=10, session_id=session, index=3) / Raw(inner)
        else:
            e = ERSPAN_III(ver=2, vlan=10, session_id=session, timestamp=123456, ft=0,
                           o=int(platform))
            extra = ERSPAN_PlatformSpecific(platf_id=3) if platform else b''
            g = GRE(proto=0x22EB, seqnum_present=1, sequence_number=9) / e / Raw(bytes(extra) + inner)
        return _ip_of(src, dst, g)
    return 'eth', mk


def tun_link(layers, tags=(), outer_mac=('02:00:5e:90:00:01', '02:00:5e:99:00:01')):
    """A link whose frames are the connection's packets inside the tunnels `layers` (outermost
    first), on an outer Ethernet with optional 802.1Q tags."""
    def f(d, ip):
        cur = bytes(ip)
        for carries, mk in reversed(layers):
            if carries == 'eth':
                src, dst = (CLI_MAC, SRV_MAC) if d == 0 else (SRV_MAC, CLI_MAC)
                cur = bytes(Ether(src=src, dst=dst, type=_ethertype(IP(cur) if cur[0] >> 4 == 4
                                                                    else IPv6(cur))) / Raw(cur))
            cur = bytes(mk(d, cur))
        p = Ether(src=outer_mac[0], dst=outer_mac[1])
        for vid in tags:
            p = p / Dot1Q(vlan=vid)
        p = p / Raw(cur)
        etype = 0x86DD if cur[0] >> 4 == 6 else 0x0800
        b = bytearray(bytes(p))
        b[12 + 4 * len(tags):14 + 4 * len(tags)] = struct.pack('>H', etype)
        return bytes(b)
    return f


def _tunnel_conns(out, exp, rng, specs, host='shop.example.test'):
    """specs: (layers, tags, cli, srv, cport, sport); two exchanges on each connection."""
    conns = []
    for k, (layers, tags, cli, srv, cport, sport) in enumerate(specs):
        c = Conn(out, tun_link(layers, tags), cli, srv, cport, sport, 0x100000 * (k + 1),
                 0x7000000 + 0x10000 * k)
        conns.append(c)
    for c in conns:
        c.handshake()
    for i in range(2):
        for k, c in enumerate(conns):
            q = request('GET', f'/api/items/{k}/{i}', host=host)
            r = response(200, json_of_size(rng, 500 + 1700 * i))
            exchange(c, exp, i, q, r)
            out.tick(2000)
    for c in conns:
        c.close(0)
    return out, exp


def case_tunnel_vxlan():
    rng = random.Random(21)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    return _tunnel_conns(out, exp, rng, [
        ([vxlan('10.9.0.1', COLLECTOR4, 100)], (), CLI4, SRV4, 55000, 8000),
        ([vxlan('10.9.0.1', COLLECTOR4, 100, dport=8472)], (), CLI4, SRV4, 55001, 8000),
    ])


def case_tunnel_geneve():
    rng = random.Random(22)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # one option: class 0x0103, type 0x80, 4 bytes of data (RFC 8926 section 3.5)
    opt = struct.pack('>HBB', 0x0103, 0x80, 1) + b'\x00\x00\x00\x2a'
    return _tunnel_conns(out, exp, rng, [
        ([geneve('10.9.0.2', COLLECTOR4, 0x123456, opts=opt)], (), CLI4, SRV4, 55100, 8000),
        ([geneve('10.9.0.2', COLLECTOR4, 7, proto=0x0800)], (), CLI4, SRV4, 55101, 8000),
        ([geneve('10.9.0.2', COLLECTOR4, 8, proto=0x86DD)], (), CLI6, SRV6, 55102, 8000),
    ])


def case_tunnel_gre():
    rng = random.Random(23)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    return _tunnel_conns(out, exp, rng, [
        ([gre('10.9.0.3', COLLECTOR4)], (), CLI4, SRV4, 55200, 8000),
        ([gre('10.9.0.3', COLLECTOR4, key=77)], (), CLI4, SRV4, 55201, 8000),
        ([gre('10.9.0.3', COLLECTOR4, key=78, seq=1000)], (), CLI4, SRV4, 55202, 8000),
        ([gre('10.9.0.3', COLLECTOR4, seq=5, csum=True)], (), CLI4, SRV4, 55203, 8000),
        ([gre('10.9.0.3', COLLECTOR4, proto=0x6558, key=79)], (), CLI4, SRV4, 55204, 8000),
        ([gre('10.9.0.3', COLLECTOR4)], (), CLI6, SRV6, 55205, 8000),
    ])


def case_tunnel_erspan():
    rng = random.Random(24)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    return _tunnel_conns(out, exp, rng, [
        ([erspan('10.9.0.4', COLLECTOR4, 1, 0)], (), CLI4, SRV4, 55300, 8000),
        ([erspan('10.9.0.4', COLLECTOR4, 2, 17)], (), CLI4, SRV4, 55301, 8000),
        ([erspan('10.9.0.4', COLLECTOR4, 3, 18)], (), CLI4, SRV4, 55302, 8000),
        ([erspan('10.9.0.4', COLLECTOR4, 3, 19, platform=True)], (), CLI4, SRV4, 55303, 8000),
    ])


def case_tunnel_ipv6_outer():
    rng = random.Random(25)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    return _tunnel_conns(out, exp, rng, [
        ([vxlan('fd00:9::1', COLLECTOR6, 300)], (), CLI4, SRV4, 55400, 8000),
        ([gre('fd00:9::1', COLLECTOR6, key=301)], (), CLI6, SRV6, 55401, 8000),
    ])


def case_tunnel_vlan_outer():
    rng = random.Random(26)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    return _tunnel_conns(out, exp, rng, [
        ([vxlan('10.9.0.6', COLLECTOR4, 400)], (120,), CLI4, SRV4, 55500, 8000),
        ([erspan('10.9.0.6', COLLECTOR4, 2, 5)], (120, 7), CLI4, SRV4, 55501, 8000),
    ])


def case_tunnel_nested():
    """VXLAN in GRE, Geneve in VXLAN in GRE, and the deepest accepted: four levels. A fifth
    level is counted (tunnels nested too deep) and never reaches reassembly."""
    rng = random.Random(27)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    g = gre('10.8.0.1', '10.8.0.2', key=1)
    v = vxlan('10.9.0.7', COLLECTOR4, 500)
    n = geneve('10.7.0.1', '10.7.0.2', 501)
    e = erspan('10.6.0.1', '10.6.0.2', 2, 9)
    out, exp = _tunnel_conns(out, exp, rng, [
        ([g, v], (), CLI4, SRV4, 55600, 8000),
        ([g, v, n], (), CLI4, SRV4, 55601, 8000),
        ([g, v, n, e], (), CLI4, SRV4, 55602, 8000),
    ])
    too_deep = Conn(out, tun_link([g, v, n, e, gre('10.5.0.1', '10.5.0.2')]), CLI4, SRV4,
                    55603, 8000, 1, 2)
    too_deep.too_deep = True
    too_deep.handshake()
    too_deep.send(0, request('GET', '/never/seen').wire)
    return out, exp


def case_tunnel_two_sources():
    """Two mirrored instances (different outer sources and VNIs) whose inner connections have
    the same addresses and ports, interleaved packet by packet; and a third copy from the
    first source under another VNI. Each must stay its own connection."""
    rng = random.Random(28)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    conns = [Conn(out, tun_link([vxlan(src, COLLECTOR4, vni)]), CLI4, SRV4, 56000, 8000,
                  0x1000 + k, 0x9000 + k)
             for k, (src, vni) in enumerate([('10.9.1.1', 100), ('10.9.1.2', 200),
                                             ('10.9.1.1', 300)])]
    for c in conns:
        c.handshake()
    # one segment at a time from each, so a mixed-up flow table would interleave the streams
    for i in range(2):
        qs = [request('POST', f'/api/orders?source={k}&n={i}',
                      body=jbytes({'source': k, 'n': i, 'pad': 'x' * (100 * k)}))
              for k in range(len(conns))]
        rs = [response(201 + k, json_of_size(rng, 1800 + 300 * k)) for k in range(len(conns))]
        for k, c in enumerate(conns):
            c.send(0, qs[k].wire)
        for k, c in enumerate(conns):
            c.send(1, rs[k].wire)
        for k, c in enumerate(conns):
            exp.add(c, i, qs[k], rs[k])
    for c in conns:
        c.close(0)
    return out, exp


# ---------------------------------------------------------------------------------------------
# requests that cannot be trusted keep what was seen
# ---------------------------------------------------------------------------------------------

SMUGGLE_NOTE = ('request: content-length and transfer-encoding both present (a smuggling '
                'risk): framed by transfer-encoding')


def _raw_request(start, headers, body=b''):
    return Msg(_head(start, headers) + body, body, method=start.split(' ')[0],
               target=start[len(start.split(' ')[0]) + 1:start.rindex(' ')])


def case_smuggling_framing():
    """conn 1: between two plain GETs, a POST with Content-Length 5 and Transfer-Encoding:
    chunked whose chunked body is 3 bytes: framed by Transfer-Encoding (RFC 9112 6.3), so the
    next GET still pairs; the POST is unparsable with its line, body and answer. conn 2:
    conflicting Content-Length values, answered 400 and closed. conn 3: Content-Length with a
    Transfer-Encoding that does not end in chunked, answered 400 and closed."""
    rng = random.Random(31)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    bad = response(400, b'{"error":"bad request"}', headers=[('Connection', 'close')])
    c = Conn(out, eth_link(), CLI4, SRV4, 57000, 8080, 0x100, 0x200)
    c.handshake()
    exchange(c, exp, 0, request('GET', '/api/balance'), response(200, small_json(rng, 1)))
    body = b'abc'
    q = Msg(_head('POST /api/transfer HTTP/1.1', [
        ('Host', 'api.example.test'), ('Content-Type', 'application/json'),
        ('Content-Length', '5'), ('Transfer-Encoding', 'chunked')]) + chunk_encode(body, [3]),
        body, method='POST', target='/api/transfer')
    r = response(200, small_json(rng, 2))
    c.send(0, q.wire)
    c.send(1, r.wire)
    exp.add(c, 1, q, r, state='unparsable', note=SMUGGLE_NOTE)
    exchange(c, exp, 2, request('GET', '/api/after'), response(200, small_json(rng, 3)))
    c.close(0)

    c = Conn(out, eth_link(), CLI4, SRV4, 57001, 8080, 0x300, 0x400)
    c.handshake()
    q = _raw_request('POST /api/upload HTTP/1.1', [
        ('Host', 'api.example.test'), ('Content-Length', '10'), ('Content-Length', '12')],
        b'0123456789ab')
    c.send(0, q.wire)
    c.send(1, bad.wire)
    c.close(1)
    exp.add(c, 0, q, bad, state='unparsable', req_body=b'',
            note='request: conflicting content-length values')

    c = Conn(out, eth_link(), CLI4, SRV4, 57002, 8080, 0x500, 0x600)
    c.handshake()
    q = _raw_request('POST /api/import HTTP/1.1', [
        ('Host', 'api.example.test'), ('Content-Length', '4'),
        ('Transfer-Encoding', 'gzip')], b'\x1f\x8b\x08\x00')
    c.send(0, q.wire)
    c.send(1, bad.wire)
    c.close(1)
    exp.add(c, 0, q, bad, state='unparsable', req_body=b'',
            note='request: content-length and transfer-encoding both present, and '
                 'transfer-encoding does not end in chunked')
    return out, exp


def case_refused_request_line():
    """conn 1: the first request line has a space inside the target; the server answers 400
    and the connection goes on with a valid GET. conn 2: after a valid GET, a method that is
    not a token; 400 and close. Both connections carry HTTP: never counted as not-http."""
    rng = random.Random(32)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    bad = response(400, b'{"error":"bad request line"}')
    c = Conn(out, eth_link(), CLI4, SRV4, 57100, 8080, 0x700, 0x800)
    c.handshake()
    q = _raw_request('GET /search?q=red shoes HTTP/1.1', [('Host', 'shop.example.test')])
    c.send(0, q.wire)
    c.send(1, bad.wire)
    exp.add(c, 0, q, bad, state='unparsable',
            note='request: space inside the request target')
    exchange(c, exp, 1, request('GET', '/search?q=red%20shoes'), response(200, small_json(rng, 4)))
    c.close(0)

    c = Conn(out, eth_link(), CLI4, SRV4, 57101, 8080, 0x900, 0xa00)
    c.handshake()
    exchange(c, exp, 0, request('GET', '/api/ok'), response(200, small_json(rng, 5)))
    q = _raw_request('GE{T /api/x HTTP/1.1', [('Host', 'api.example.test')])
    closing = response(400, b'{"error":"bad method"}', headers=[('Connection', 'close')])
    c.send(0, q.wire)
    c.send(1, closing.wire)
    c.close(1)
    exp.add(c, 1, q, closing, state='unparsable',
            note='request: invalid method in request line')
    return out, exp


def case_rst_out_of_window():
    """Blind resets: an RST outside the receive window is dropped by the real stack."""
    rng = random.Random(22)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 58200, 8080, 0x3C3C0000, 0x4D4D0000)
    c.handshake()
    q = request('GET', '/api/orders?status=open')
    r = response(200, json_of_size(rng, 3000))
    c.send(0, q.wire)
    # the window is 64240 bytes and unscaled (no window scale option in the handshake): a
    # reset 100000 bytes ahead of the server's next byte, one just behind it, and one from
    # the client side far ahead; the client's stack would drop all three
    c.emit(1, 'R', seq=c.seq_at(1, c.next[1] + 100_000))
    c.emit(1, 'RA', seq=c.seq_at(1, c.next[1] - 1))
    c.emit(0, 'R', seq=c.seq_at(0, c.next[0] + 70_000))
    c.send(1, r.wire)
    exp.add(c, 0, q, r)
    q = request('GET', '/api/orders/7')
    r = response(200, jbytes({'id': 7, 'status': 'open'}))
    exchange(c, exp, 1, q, r)
    c.close(0)
    return out, exp


def case_unacknowledged():
    """Requests the capture shows but no server ever acknowledged: reported, marked."""
    rng = random.Random(23)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    # conn 1: a made-up connection: no handshake, no server, pipelined POSTs with bodies
    c = Conn(out, eth_link(), '10.66.0.9', SRV4, 58400, 8080, 0x0F0F0000, 0x0E0E0000)
    burst = []
    for i in range(3):
        q = request('POST', f'/api/import?part={i}', body=json_of_size(rng, 2000))
        burst.append(q)
        exp.add(c, i, q, None, state='unacknowledged')
    c.send(0, b''.join(q.wire for q in burst), ack_every=0, final_ack=False)
    # conn 2: a one-way mirror: only what the client sends is captured, a whole keep-alive
    # connection of two exchanges
    c = Conn(out, eth_link(), CLI4, SRV4, 58401, 8080, 0x1F1F0000, 0x1E1E0000)
    c.only_dir = 0
    c.handshake()
    for i in range(2):
        q = request('GET', f'/api/items/{i}')
        exp.add(c, i, q, None, state='unacknowledged')
        exchange_wire = response(200, small_json(rng, i))
        c.send(0, q.wire)
        c.send(1, exchange_wire.wire)
    c.close(0)
    # conn 3: a complete exchange, then a request the capture stops before the server's ACK
    c = Conn(out, eth_link(), CLI4, SRV4, 58402, 8080, 0x2F2F0000, 0x2E2E0000)
    c.handshake()
    exchange(c, exp, 0, request('GET', '/api/ping'), response(200, b'{"pong":true}'))
    q = request('DELETE', '/api/items/7')
    c.send(0, q.wire, final_ack=False)
    exp.add(c, 1, q, None, state='unacknowledged')
    return out, exp


def case_syn_storm():
    """SYNs with many ISNs on one 4-tuple, then the real handshake and an unanswered POST."""
    rng = random.Random(24)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 58500, 8080, 0x600DF00D, 0x5EA5EA00)
    for _ in range(40):
        c.emit(0, 'S', seq=rng.getrandbits(32), options=[('MSS', c.mss + 12)])
    c.handshake()
    q = request('POST', '/api/payments', body=jbytes({'amount': 1250, 'currency': 'EUR'}))
    c.send(0, q.wire)
    exp.add(c, 0, q, None, state='no_response')
    # the same again on a second 4-tuple, where the server also answers two of the storm's
    # SYNs (with ISNs it then forgets) before the handshake that holds
    c = Conn(out, eth_link(), CLI4, SRV4, 58501, 8080, 0x700DF00D, 0x6EA5EA00)
    for i in range(20):
        isn = rng.getrandbits(32)
        c.emit(0, 'S', seq=isn, options=[('MSS', c.mss + 12)])
        if i in (3, 11):
            tcp_ack = (isn + 1) & M32
            saved = c.isn[0]
            c.isn[0] = isn
            c.emit(1, 'SA', seq=rng.getrandbits(32), options=[('MSS', c.mss + 12)])
            c.isn[0] = saved
            assert tcp_ack == (isn + 1) & M32
    c.handshake()
    q = request('POST', '/api/payments', body=jbytes({'amount': 990, 'currency': 'EUR'}))
    c.send(0, q.wire)
    exp.add(c, 0, q, None, state='no_response')
    return out, exp


def case_midstream_inflight():
    """Capture starts inside a busy keep-alive connection on a port nobody names, where the
    server's port is the higher one: the port guess takes the server for the client."""
    rng = random.Random(25)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 40123, 50999, 0x0BADCAFE, 0x0DDBA11)
    c.capturing = False
    c.handshake()
    q0 = request('GET', '/v2/export?page=1')
    s0 = response(200, json_of_size(rng, 6000) + b'\n')
    c.send(0, q0.wire)
    head = 2 * c.mss
    c.send(1, s0.wire[:head], final_ack=False)
    c.capturing = True                          # capture starts inside the first body
    c.send(1, s0.wire[head:])
    for i in range(6):
        if i == 2:
            q = request('POST', '/v2/export/jobs', body=jbytes({'pages': [2, 3]}))
            r = response(202, jbytes({'job': 'j-7', 'state': 'queued'}))
        elif i == 4:
            q = request('GET', '/v2/export/stream?page=4')
            r = response(200, json_of_size(rng, 2500), framing='chunked', chunks=[700])
        else:
            q = request('GET', f'/v2/export?page={i + 2}')
            r = response(200, json_of_size(rng, 500 + 400 * i) + b'\n')
        out.tick(3_000)
        exchange(c, exp, i, q, r)
    c.close(0)
    return out, exp


def case_midstream_pipelined():
    """Capture starts inside the body of a POST (A) on a keep-alive connection whose client
    pipelines three more POSTs right behind it, each glued to the end of the body before (no
    line end between them); the server answers all four in order, its answers glued the same
    way. A's answer pairs with nothing (its request line was before the capture); the three
    others pair with their own answers."""
    rng = random.Random(33)
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    c = Conn(out, eth_link(), CLI4, SRV4, 41000, 8080, 0x51515151, 0x61616161)
    c.capturing = False
    c.handshake()
    qa = request('POST', '/v1/events', body=jbytes({'events': [user(rng, k) for k in range(12)]}))
    head = len(qa.wire) - 700
    c.send(0, qa.wire[:head], final_ack=False)
    c.capturing = True                          # capture starts inside A's body
    qs = [request('POST', f'/v1/events?batch={k}',
                  body=jbytes({'batch': k, 'events': [user(rng, 10 * k + j) for j in range(3)]}))
          for k in range(1, 4)]
    c.send(0, qa.wire[head:] + b''.join(q.wire for q in qs))
    rs = [response(202, jbytes({'accepted': n, 'batch': k})) for k, n in enumerate([12, 3, 3, 3])]
    out.tick(2_000)
    c.send(1, b''.join(r.wire for r in rs))
    for k, q in enumerate(qs):
        exp.add(c, k, q, rs[k + 1])
    c.close(0)
    return out, exp


def case_desync_bad_checksum():
    """A corrupt or forged copy of the client's next segment, same sequence numbers, other
    bytes, seen first: the server's kernel drops it for its checksum and takes the real one."""
    out, exp = PcapOut(LINKTYPE_ETHERNET), Expected()
    for k, (cli, srv) in enumerate([(CLI4, SRV4), (CLI6, SRV6)]):
        c = Conn(out, eth_link(), cli, srv, 58300 + k, 8080, 0x5EED0000 + k, 0x7EED0000 + k)
        c.handshake()
        q0 = request('GET', '/api/version')
        exchange(c, exp, 0, q0, response(200, b'{"version":"2.1.0"}'))
        real = request('GET', '/api/health?pad=' + 'x' * 7)
        fake = request('GET', '/api/admin/export?all=1')
        assert len(real.wire) == len(fake.wire)
        c.emit(0, 'PA', seqoff=c.next[0], payload=fake.wire, bad_csum=True)
        r = response(200, b'{"status":"ok"}')
        c.send(0, real.wire)
        c.send(1, r.wire)
        exp.add(c, 1, real, r)
        c.close(0)
    return out, exp


CASES = [
    ('basic_keepalive', case_basic_keepalive, ''),
    ('out_of_order', case_out_of_order, ''),
    ('pipelining_mixed', case_pipelining_mixed, ''),
    ('vlan_ipv6', case_vlan_ipv6, ''),
    ('cooked_v1', case_cooked_v1, ''),
    ('cooked_v2', case_cooked_v2, ''),
    ('null_loopback', case_null_loopback, ''),
    ('raw_ip', case_raw_ip, ''),
    ('seq_wrap', case_seq_wrap, ''),
    ('midstream', case_midstream, '--port 8080'),
    ('midstream_noeol', case_midstream_noeol, '--port 8080'),
    ('lost_segment', case_lost_segment, ''),
    ('lost_messages', case_lost_messages, ''),
    ('close_delimited', case_close_delimited, ''),
    ('expect_continue', case_expect_continue, ''),
    ('interleaved_many', case_interleaved_many, ''),
    ('no_response', case_no_response, ''),
    ('truncated_body', case_truncated_body, '--max-body 1000'),
    ('malformed_response', case_malformed_response, ''),
    ('non_http', case_non_http, ''),
    ('tunnel_vxlan', case_tunnel_vxlan, '--port 8000'),
    ('tunnel_geneve', case_tunnel_geneve, '--port 8000'),
    ('tunnel_gre', case_tunnel_gre, '--port 8000'),
    ('tunnel_erspan', case_tunnel_erspan, '--port 8000'),
    ('tunnel_ipv6_outer', case_tunnel_ipv6_outer, '--port 8000'),
    ('tunnel_vlan_outer', case_tunnel_vlan_outer, '--port 8000'),
    ('tunnel_nested', case_tunnel_nested, '--port 8000'),
    ('tunnel_two_sources', case_tunnel_two_sources, '--port 8000'),
    ('smuggling_framing', case_smuggling_framing, ''),
    ('refused_request_line', case_refused_request_line, ''),
    ('rst_out_of_window', case_rst_out_of_window, ''),
    ('unacknowledged', case_unacknowledged, ''),
    ('syn_storm', case_syn_storm, ''),
    ('midstream_inflight', case_midstream_inflight, ''),
    ('midstream_pipelined', case_midstream_pipelined, '--port 8080'),
    ('desync_bad_checksum', case_desync_bad_checksum, '--verify-tcp-checksums on'),
]


def bad_inputs(outdir):
    # corrupt.pcap: valid global header, one valid record (a SYN), then a record header whose
    # lengths are absurd (incl_len 0xFFFFFFF0 > snaplen), then a few junk bytes
    out = PcapOut(LINKTYPE_ETHERNET)
    c = Conn(out, eth_link(), CLI4, SRV4, 65000, 8080, 1, 2)
    c.emit(0, 'S', seq=1)
    data = out.data() + struct.pack('<IIII', 1700000001, 0, 0xFFFFFFF0, 0xFFFFFFF0) + \
        b'\xde\xad\xbe\xef' * 4
    with open(os.path.join(outdir, 'corrupt.pcap'), 'wb') as f:
        f.write(data)
    with open(os.path.join(outdir, 'empty.pcap'), 'wb'):
        pass
    with open(os.path.join(outdir, 'notapcap.pcap'), 'wb') as f:
        f.write(b'This is not a pcap file. It is plain text that happens to have a .pcap\n'
                b'extension, so shadowdiff capture must reject it with a clear error\n'
                b'instead of crashing or reading garbage.\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--out', default=os.path.join(here, '..', '..', 'fixtures', 'pcap'))
    ap.add_argument('--only', nargs='*')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # request_lines.txt: how many request lines each capture shows, for the summary check
    lines_path = os.path.join(args.out, 'request_lines.txt')
    counts = {}
    if os.path.exists(lines_path):
        for line in open(lines_path):
            if line.strip() and not line.startswith('#'):
                k, v = line.split()
                counts[k] = int(v)
    for name, fn, _opts in CASES:
        if args.only and name not in args.only:
            continue
        out, exp = fn()
        # every connection the expected list names must be one the capture shows
        text = exp.lines()
        with open(os.path.join(args.out, name + '.pcap'), 'wb') as f:
            f.write(out.data())
        with open(os.path.join(args.out, name + '.expected.jsonl'), 'w') as f:
            f.write(text)
        counts[name] = request_lines(out)
        print(f'{name}: {len(out.recs)} packets, {len(out.conn_order)} connections, '
              f'{len(exp.rows)} exchanges, {counts[name]} request lines, '
              f'{len(out.data())} bytes')
    with open(lines_path, 'w') as f:
        f.write('# case  request lines the capture shows (written by gen_pcaps.py)\n')
        for name, _fn, _opts in CASES:
            if name in counts:
                f.write(f'{name} {counts[name]}\n')
    if not args.only:
        bad_inputs(args.out)


if __name__ == '__main__':
    sys.exit(main())
