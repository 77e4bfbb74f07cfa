#!/usr/bin/python3
"""
gen_bad.py - write the bad-input fixtures of shadowdiff (fixtures/bad/) and, on demand, the
large ones the tests make at run time.

Usage:  /usr/bin/python3 tests/tools/gen_bad.py [--out fixtures/bad]
        /usr/bin/python3 tests/tools/gen_bad.py --large DIR [NAME ...]
                 # million_headers, big_body, many_exchanges (a few MB each: made by the tests)

Packets are built with the TCP model and HTTP builders of gen_pcaps.py (scapy, fixed ISNs,
timestamps from 1700000000.000000, fixed seeds), so rerunning writes byte-identical files.
Where a case has a `.expected.jsonl`, it is written from what the generator put on the wire,
in the format of fixtures/README.md ("Expected-list format"), never from the tool's output.
fixtures/README.md ("Bad inputs") says what each file is for.
"""
import argparse
import gzip
import os
import random
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_pcaps as g  # noqa: E402

CLI4, SRV4 = g.CLI4, g.SRV4


def write(outdir, name, data):
    with open(os.path.join(outdir, name), 'wb') as f:
        f.write(data)
    print(f'{name}: {len(data)} bytes')


def write_case(outdir, name, out, exp=None):
    write(outdir, name, out.data())
    if exp is not None:
        base = name.rsplit('.', 1)[0]
        write(outdir, base + '.expected.jsonl', exp.lines().encode())


# ---------------------------------------------------------------------------------------------
# file-level damage
# ---------------------------------------------------------------------------------------------

def two_exchanges(out, port, isn):
    """One connection with two small exchanges; returns the Expected rows' owner."""
    rng = random.Random(isn)
    exp = g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, port, 8080, isn, isn + 1000)
    c.handshake()
    for i in range(2):
        q = g.request('GET', f'/api/items/{i}')
        r = g.response(200, g.json_of_size(rng, 600 + 100 * i))
        g.exchange(c, exp, i, q, r)
    return c, exp


def case_wrong_magic():
    # a whole pcap whose magic number is not one libpcap knows
    out = g.PcapOut(g.LINKTYPE_ETHERNET)
    two_exchanges(out, 40000, 100)
    return b'\xde\xad\xbe\xef' + out.data()[4:]


def case_short_header():
    # 13 of the 24 bytes of a valid global header
    return g.PcapOut(g.LINKTYPE_ETHERNET).data()[:13]


def case_cut_last_packet():
    # two complete exchanges, then a third request whose record is cut half way: the file
    # ends 30 bytes into that packet's 100-odd bytes (tcpdump killed while writing)
    out = g.PcapOut(g.LINKTYPE_ETHERNET)
    c, exp = two_exchanges(out, 40001, 200)
    c.send(0, g.request('GET', '/api/items/2').wire, final_ack=False)
    data = out.data()
    last = out.recs[-1][1]
    return data[:len(data) - len(last) + 30], exp


class SnapOut(g.PcapOut):
    """A pcap whose records keep at most snaplen bytes of each frame (tcpdump -s N)."""

    def data(self):
        out = [struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, self.snaplen, self.linktype)]
        for ts, fr in self.recs:
            cap = fr[:self.snaplen]
            out.append(struct.pack('<IIII', ts // 1_000_000, ts % 1_000_000, len(cap), len(fr)))
            out.append(cap)
        return b''.join(out)


def case_snaplen():
    # snaplen 300: every frame of up to 300 bytes is whole, longer ones lose their tail.
    # Exchange 0: a 4000-byte response body in 1448-byte segments, each cut to 300 bytes of
    # frame (246 of TCP payload): its head is in the first 246 bytes, most of its body is
    # not. Exchange 1: small enough to be whole.
    rng = random.Random(31)
    out, exp = SnapOut(g.LINKTYPE_ETHERNET, snaplen=300), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 40002, 8080, 300, 3000)
    c.handshake()
    q = g.request('GET', '/api/big', minimal=True)
    r = g.response(200, g.json_of_size(rng, 4000), headers=[], ctype='application/json')
    segs = c.send(0, q.wire)
    assert all(54 + len(s) <= 300 for _, s in segs)
    segs = c.send(1, r.wire)
    kept = b''.join(s[:300 - 54] for _, s in segs)
    head_len = len(r.wire) - len(r.body)
    assert head_len < 246
    exp.add(c, 0, q, r, state='gap', resp_body=kept[head_len:])
    q = g.request('GET', '/api/small', minimal=True)
    r = g.response(200, b'{"ok":true}', headers=[])
    g.exchange(c, exp, 1, q, r)
    c.close(0)
    return out, exp


def case_random():
    return random.Random(32).randbytes(4096)


# ---------------------------------------------------------------------------------------------
# pcapng with several interfaces of different link types
# ---------------------------------------------------------------------------------------------

def ng_block(btype, body):
    pad = (-len(body)) % 4
    n = 12 + len(body) + pad
    return struct.pack('<II', btype, n) + body + b'\0' * pad + struct.pack('<I', n)


def ng_option(code, value):
    return struct.pack('<HH', code, len(value)) + value + b'\0' * ((-len(value)) % 4)


class NgOut:
    """pcapng writer: one section, interfaces described as they first appear."""

    def __init__(self, step_us=100):
        self.clock = g.T0_US
        self.step = step_us
        self.blocks = []
        self.conn_order = []
        self.ifaces = []   # (linktype, tsresol_exp)
        self.nrecs = 0

    def tick(self, us):
        self.clock += us

    def iface(self, linktype, tsresol=6):
        self.ifaces.append((linktype, tsresol))
        opts = b''
        if tsresol != 6:
            opts = ng_option(9, bytes([tsresol])) + ng_option(0, b'')
        self.blocks.append(ng_block(1, struct.pack('<HHI', linktype, 0, 262144) + opts))
        return len(self.ifaces) - 1

    def add(self, ifid, frame, conn=None):
        if conn is not None and conn.id is None:
            self.conn_order.append(conn)
            conn.id = len(self.conn_order)
        ts = self.clock * 10 ** (self.ifaces[ifid][1] - 6)
        self.blocks.append(ng_block(6, struct.pack('<IIIII', ifid, ts >> 32, ts & 0xFFFFFFFF,
                                                   len(frame), len(frame)) + frame))
        self.clock += self.step
        self.nrecs += 1

    def data(self):
        shb = ng_block(0x0A0D0D0A, struct.pack('<IHHq', 0x1A2B3C4D, 1, 0, -1) +
                       ng_option(4, b'shadowdiff gen_bad.py') + ng_option(0, b''))
        return shb + b''.join(self.blocks)


class IfOut:
    """What a Conn writes to: the frames of one interface of an NgOut."""

    def __init__(self, ng, ifid):
        self.ng, self.ifid = ng, ifid

    def add(self, frame, conn=None):
        self.ng.add(self.ifid, frame, conn)


def case_multi_if():
    # interface 0 Ethernet, 1 Linux cooked v2 with nanosecond timestamps, 2 raw IP described
    # only after packets of the first two were written; the connections' packets interleave
    rng = random.Random(33)
    ng, exp = NgOut(), g.Expected()
    i_eth = ng.iface(g.LINKTYPE_ETHERNET)
    i_sll2 = ng.iface(g.LINKTYPE_LINUX_SLL2, tsresol=9)
    ce = g.Conn(IfOut(ng, i_eth), g.eth_link(), CLI4, SRV4, 41000, 8080, 0x11110000, 0x22220000)
    cs = g.Conn(IfOut(ng, i_sll2), g.sll2_link(), '10.0.1.10', '10.0.1.20', 41001, 8080,
                0x33330000, 0x44440000)
    ce.handshake()
    cs.handshake()
    i_raw = ng.iface(g.LINKTYPE_RAW)
    cr = g.Conn(IfOut(ng, i_raw), g.raw_link(), 'fd00:20::10', 'fd00:20::20', 41002, 8080,
                0x55550000, 0x66660000)
    cr.handshake()
    for i in range(2):
        for c, name in ((ce, 'eth'), (cs, 'sll2'), (cr, 'raw')):
            ng.tick(5_000)
            q = g.request('GET', f'/api/{name}/{i}')
            c.send(0, q.wire)
            ng.tick(1_000)
            r = g.response(200, g.json_of_size(rng, 2000 + 500 * i))
            c.send(1, r.wire)
            exp.add(c, i, q, r)
    for c in (ce, cs, cr):
        c.close(0)
    return ng, exp


# ---------------------------------------------------------------------------------------------
# what goes wrong on the wire
# ---------------------------------------------------------------------------------------------

def ok_exchange(out, exp, port, isn, rng):
    """A normal connection with one exchange: the capture goes on after a bad one."""
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, port, 8080, isn, isn + 7)
    c.handshake()
    g.exchange(c, exp, 0, g.request('GET', '/api/after'), g.response(200, g.small_json(rng, 1)))
    c.close(0)


def bad_response(c, exp, target, wire, status=None):
    """
    A request answered by a response that RFC 9112 rejects; the server closes. status: None
    when the head itself is rejected, its code when only the body's framing is (the head was
    valid, so the status is known).
    """
    q = g.request('GET', target)
    c.send(0, q.wire)
    c.send(1, wire)
    c.close(1)
    exp.add(c, 0, q, None, state='unparsable', status=status)


def bad_request(c, exp, wire, resp, method=None, target=None):
    """
    A request whose request line is valid but whose fields are not (too large, too many, a
    bad length): it is HTTP, so an `unparsable` exchange paired with the response that
    answered it; the server closes. A bad length keeps the request line (method, target);
    a header block the parser could not take in keeps nothing of it.
    """
    c.send(0, wire)
    c.send(1, resp.wire)
    c.close(1)
    exp.add(c, 0, g.Msg(wire, b'', method=method, target=target), resp, state='unparsable')


def case_garbage():
    # conn 1: binary garbage both ways instead of HTTP; conn 2: a normal exchange
    rng = random.Random(34)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 42000, 8080, 10, 20)
    c.handshake()
    c.send(0, bytes(rng.randrange(256) for _ in range(700)))
    c.send(1, bytes(rng.randrange(256) for _ in range(3000)))
    c.close(0)
    ok_exchange(out, exp, 42001, 30, rng)
    return out, exp


def case_header_over_limit():
    # conn 1: a request whose header block is 70,000 bytes (the limit is 64 KiB);
    # conn 2: a response whose header block is 70,000 bytes; conn 3: a normal exchange
    rng = random.Random(35)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    big = [('X-Padding', 'p' * 70_000)]
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 43000, 8080, 10, 20)
    c.handshake()
    bad_request(c, exp, g.request('GET', '/api/bighead', headers=big).wire,
                g.response(431, b'{"error":"too large"}'))
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 43001, 8080, 30, 40)
    c.handshake()
    bad_response(c, exp, '/api/bigresponsehead', g.response(200, b'{}', headers=big).wire)
    ok_exchange(out, exp, 43002, 50, rng)
    return out, exp


def case_chunk_size_huge():
    # a chunk size of 18 hex digits (more than 64 bits)
    rng = random.Random(36)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 44000, 8080, 10, 20)
    c.handshake()
    bad_response(c, exp, '/api/hugechunk',
                 b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'FFFFFFFFFFFFFFFFFF\r\n' + b'x' * 500 + b'\r\n0\r\n\r\n', status=200)
    ok_exchange(out, exp, 44001, 30, rng)
    return out, exp


def case_negative_length():
    # conn 1: a response with Content-Length: -1; conn 2: a request with Content-Length: -5;
    # conn 3: normal
    rng = random.Random(37)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 45000, 8080, 10, 20)
    c.handshake()
    bad_response(c, exp, '/api/negative',
                 b'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{"a":1}')
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 45001, 8080, 30, 40)
    c.handshake()
    wire = b'POST /api/negative HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello'
    bad_request(c, exp, wire, g.response(400, b'', headers=[('Connection', 'close')]),
                method='POST', target='/api/negative')
    ok_exchange(out, exp, 45002, 50, rng)
    return out, exp


def case_conflicting_length():
    # two Content-Length fields that disagree (10 and 12); equal duplicates are allowed
    # (RFC 9110 8.6) and the third connection has them
    rng = random.Random(38)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 46000, 8080, 10, 20)
    c.handshake()
    bad_response(c, exp, '/api/twolengths',
                 b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 12\r\n\r\n'
                 b'0123456789ab')
    ok_exchange(out, exp, 46001, 30, rng)
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 46002, 8080, 50, 60)
    c.handshake()
    q = g.request('GET', '/api/samelength')
    body = b'0123456789'
    wire = b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n' + body
    c.send(0, q.wire)
    c.send(1, wire)
    exp.add(c, 0, q, g.Msg(wire, body, status=200))
    c.close(0)
    return out, exp


def case_orphan_response():
    # the server sends a response nobody asked for, then the client asks and gets its own
    # answer: one orphan counted, and the request pairs with the second response only
    rng = random.Random(39)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 47000, 8080, 10, 20)
    c.handshake()
    c.send(1, g.response(200, b'{"unsolicited":true}').wire)
    out.tick(10_000)
    g.exchange(c, exp, 0, g.request('GET', '/api/asked'),
               g.response(200, g.json_of_size(rng, 800)))
    c.close(0)
    return out, exp


def case_retransmissions_only():
    # conn 1: every data segment is sent 25 times (the same bytes, the same sequence numbers):
    # one exchange. conn 2: no handshake, only one server segment repeated 25 times.
    rng = random.Random(40)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 48000, 8080, 10, 20)
    c.handshake()
    q = g.request('GET', '/api/again')
    r = g.response(200, g.json_of_size(rng, 1000))
    c.send(0, q.wire, order=[0] * 25)
    c.send(1, r.wire, order=[0] * 25)
    exp.add(c, 0, q, r)
    c.close(0)
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 48001, 8080, 30, 40)
    c.capturing = False
    c.handshake()
    c.capturing = True
    c.send(1, g.response(200, b'{"late":1}').wire, order=[0] * 25, final_ack=False)
    return out, exp


# ---------------------------------------------------------------------------------------------
# bodies for `shadowdiff diff` and the candidate
# ---------------------------------------------------------------------------------------------

def bomb_response():
    # 1 GiB of zeros, gzip'd (about 1 MB), gzip'd again (a few KB): Content-Encoding names
    # both layers, which are undone right to left
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = b'\0' * (1 << 20)
    inner = b''.join([z.compress(zero) for _ in range(1024)] + [z.flush()])
    outer = gzip.compress(inner, 9, mtime=0)
    return (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
            b'Content-Encoding: gzip, gzip\r\nContent-Length: %d\r\n\r\n' % len(outer)) + outer


# ---------------------------------------------------------------------------------------------
# large inputs, made at test time
# ---------------------------------------------------------------------------------------------

def large_million_headers():
    # a request with 1,000,000 header fields (about 9 MB), then a normal exchange on the
    # next connection; segments as large as loopback's (MSS 65483)
    rng = random.Random(41)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 49000, 8080, 10, 20, mss=65483)
    c.handshake()
    head = b'GET /api/million HTTP/1.1\r\nHost: a\r\n' + b'X-H: v\r\n' * 1_000_000 + b'\r\n'
    bad_request(c, exp, head, g.response(431, b'{}'))
    ok_exchange(out, exp, 49001, 30, rng)
    return out, exp


def large_big_body():
    # a 1.5 MB response body, over the default --max-body of 1 MiB: kept up to the limit
    rng = random.Random(42)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 49500, 8080, 10, 20, mss=65483)
    c.handshake()
    recs = b','.join(g.jbytes(g.user(rng, 5000 + i)) for i in range(7000))
    body = b'{"users":[' + recs + b'],"note":"'
    body += b'n' * (1_500_000 - len(body) - 2) + b'"}'
    assert len(body) == 1_500_000
    q, r = g.request('GET', '/api/export'), g.response(200, body)
    c.send(0, q.wire)
    c.send(1, r.wire, ack_every=8)
    exp.add(c, 0, q, r, state='truncated', resp_body=body[:1 << 20])
    q, r = g.request('GET', '/api/small'), g.response(200, b'{"n":1}')
    g.exchange(c, exp, 1, q, r)
    c.close(0)
    return out, exp


class RawConn:
    """
    A keep-alive IPv4 connection written without scapy (LINKTYPE_RAW, checksums left 0, as
    on a capture with checksum offload), for inputs with thousands of packets.
    """

    def __init__(self, out, cport, isn=1000, s_isn=900000):
        self.out, self.cport = out, cport
        self.seq = [isn, s_isn]
        self.cli, self.srv = bytes([10, 0, 2, 10]), bytes([10, 0, 2, 20])

    def pkt(self, d, flags, payload=b''):
        src, dst = (self.cli, self.srv) if d == 0 else (self.srv, self.cli)
        sport, dport = (self.cport, 8080) if d == 0 else (8080, self.cport)
        tcp = struct.pack('!HHIIBBHHH', sport, dport, self.seq[d] & g.M32,
                          self.seq[1 - d] & g.M32, 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0,
                         src, dst)
        self.out.add(ip + tcp + payload, self)
        self.seq[d] += len(payload) + (1 if flags & 0x03 else 0)

    def handshake(self):
        self.pkt(0, 0x02)
        self.pkt(1, 0x12)
        self.pkt(0, 0x10)

    def send(self, d, data):
        self.pkt(d, 0x18, data)

    id = None


def large_many_exchanges(n=2500, size=1000):
    # n exchanges of `size`-byte JSON bodies on one keep-alive connection (raw IP)
    out, exp = g.PcapOut(g.LINKTYPE_RAW, step_us=10), g.Expected()
    c = RawConn(out, 50000)
    c.handshake()
    for i in range(n):
        q = g.request('GET', f'/api/many/{i}', minimal=True)
        body = (b'{"i":%d,"pad":"' % i).ljust(size - 2, b'x') + b'"}'
        r = g.response(200, body)
        c.send(0, q.wire)
        c.send(1, r.wire)
        c.pkt(0, 0x10)
        exp.add(c, i, q, r)
    return out, exp


# ---------------------------------------------------------------------------------------------
# valid HTTP built to mislead what prints it
# ---------------------------------------------------------------------------------------------

# C1 controls as UTF-8 (U+009B CSI, U+009D OSC, U+009C ST) and as raw bytes, Latin-1, U+FFFE
CSI, OSC, ST = b'\xc2\x9b', b'\xc2\x9d', b'\xc2\x9c'
HOSTILE_TARGET = b'/api/' + CSI + b'2J/t\xe9t\xe9/\x9b31m/a|b\\|c/\xef\xbf\xbe?x=1'
HOSTILE_NOTE = OSC + b'52;c;Y3VybCB4IHwgc2g=' + ST + b' \x9b31m\xe9'
GLOB_TARGET = b'/api/upload/[1-3]/{a,b}'
# a body curl would read as a file name after --data-binary '@...'; one with CR and escapes
AT_BODY = b'@secret.txt'
CTL_BODY = b'@secret.txt\r\x1b[2K' + CSI + b'31mhidden\n\x7f'
# 3-byte characters, so a cut 40 bytes before the difference falls inside one
EURO_A = '\u20ac'.encode() * 30 + b'X' + '\u20ac'.encode() * 30
EURO_B = '\u20ac'.encode() * 30 + b'Y' + '\u20ac'.encode() * 30


def raw_request(method, target, headers=(), body=b'', ctype=b'text/plain'):
    h = [(b'Host', b'api.example.test')] + list(headers)
    if body or method == b'POST':
        h += [(b'Content-Type', ctype), (b'Content-Length', str(len(body)).encode())]
    wire = method + b' ' + target + b' HTTP/1.1\r\n' + b''.join(k + b': ' + v + b'\r\n'
                                                              for k, v in h) + b'\r\n' + body
    return g.Msg(wire, body, method=method.decode(), target=target.decode('latin-1'))


def case_hostile():
    """Requests whose target, headers and bodies carry terminal controls (see it_sinks.c)."""
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 42100, 8080, 500, 900)
    c.handshake()
    ok = g.response(200, b'{"name":"ok","n":1}')
    c.send(0, raw_request(b'GET', HOSTILE_TARGET, [(b'X-Note', HOSTILE_NOTE)]).wire)
    c.send(1, ok.wire)
    c.send(0, raw_request(b'GET', b'/text').wire)
    c.send(1, g.response(200, EURO_A, ctype='text/plain; charset=utf-8').wire)
    c.send(0, raw_request(b'POST', GLOB_TARGET, body=AT_BODY).wire)
    c.send(1, ok.wire)
    c.send(0, raw_request(b'POST', b'/api/notes', body=CTL_BODY).wire)
    c.send(1, ok.wire)
    c.close(0)
    return out, None


def case_guard_requests():
    # valid requests built to mislead a replay: markers that claim the request is one of
    # ours (several copies, any case), method overrides (three headers, _method in the query
    # and in a form body), a token in array syntax; then a plain request
    rng = random.Random(41)
    out, exp = g.PcapOut(g.LINKTYPE_ETHERNET), g.Expected()
    c = g.Conn(out, g.eth_link(), CLI4, SRV4, 48000, 8080, 10, 20)
    c.handshake()
    reqs = [
        g.request('GET', '/api/forged', headers=[('X-Shadowdiff', '0'), ('x-shadowdiff', '1')]),
        g.request('GET', '/api/o1', headers=[('X-HTTP-Method-Override', 'DELETE')]),
        g.request('GET', '/api/o2', headers=[('X-HTTP-Method', 'PUT')]),
        g.request('GET', '/api/o3', headers=[('X-Method-Override', 'PATCH')]),
        g.request('GET', '/api/o4?_method=DELETE'),
        g.request('POST', '/api/o5', body=b'a=1&_method=DELETE',
                  ctype='application/x-www-form-urlencoded'),
        g.request('GET', '/api/plain'),
    ]
    for i, q in enumerate(reqs):
        g.exchange(c, exp, i, q, g.response(200, g.small_json(rng, i + 1)))
    c.close(0)
    return out, exp


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--out', default=os.path.join(here, '..', '..', 'fixtures', 'bad'))
    ap.add_argument('--large', metavar='DIR', help='write the large inputs to DIR instead')
    ap.add_argument('names', nargs='*', help='with --large: only these (default: all)')
    args = ap.parse_args()
    if args.large:
        large = {'million_headers': large_million_headers, 'big_body': large_big_body,
                 'many_exchanges': large_many_exchanges}
        for name in args.names or large:
            write_case(args.large, name + '.pcap', *large[name]())
        return 0
    d = args.out
    os.makedirs(d, exist_ok=True)
    write(d, 'wrong_magic.pcap', case_wrong_magic())
    write(d, 'short_header.pcap', case_short_header())
    data, exp = case_cut_last_packet()
    write(d, 'cut_last_packet.pcap', data)
    write(d, 'cut_last_packet.expected.jsonl', exp.lines().encode())
    write_case(d, 'snaplen.pcap', *case_snaplen())
    write(d, 'random.bin', case_random())
    write_case(d, 'multi_if.pcapng', *case_multi_if())
    write_case(d, 'garbage.pcap', *case_garbage())
    write_case(d, 'header_over_limit.pcap', *case_header_over_limit())
    write_case(d, 'chunk_size_huge.pcap', *case_chunk_size_huge())
    write_case(d, 'negative_length.pcap', *case_negative_length())
    write_case(d, 'conflicting_length.pcap', *case_conflicting_length())
    write_case(d, 'orphan_response.pcap', *case_orphan_response())
    write_case(d, 'retransmissions_only.pcap', *case_retransmissions_only())
    write_case(d, 'guard_requests.pcap', *case_guard_requests())
    write(d, 'bomb.http', bomb_response())
    write_case(d, 'hostile.pcap', *case_hostile())
    return 0


if __name__ == '__main__':
    sys.exit(main())
