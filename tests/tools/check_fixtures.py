#!/usr/bin/python3
"""
check_fixtures.py - sanity-check the golden fixtures with an independent decoder.

Usage:  /usr/bin/python3 tests/tools/check_fixtures.py [NAME ...]

For every case in fixtures/golden.list (or the names given) it lets tshark reassemble each TCP
stream (`-z follow,tcp,raw,N`: Wireshark's reassembly, which handles link types, out-of-order
segments, retransmissions and sequence wrap), then parses the two byte streams with Python:
requests with a small parser here, responses with http.client.HTTPResponse (given the request
method, so HEAD is right; 1xx interim responses skipped). tshark numbers streams in order of
first packet, so conn = stream + 1.

It compares every "complete" and "truncated" row of the expected list with what the streams
hold (method, target, status, body lengths and CRCs, the max-body cut), and checks that no
stream holds more exchanges than expected. Rows in the other states (gap, no_response,
unparsable) and connections whose stream could not be parsed to the end are printed for a human
to read, not judged.

This checks the fixtures (that the bytes on the wire say what the expected list says); it is not
where expectations come from - those come from gen_pcaps.py and record_lo.sh, from what was
sent. Exit status 1 on a mismatch.
"""
import http.client
import io
import json
import os
import re
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.normpath(os.path.join(HERE, '..', '..', 'fixtures'))
REQ_LINE = re.compile(rb'([A-Z]+) (\S+) HTTP/1\.[01]\r\n')
STATUS_LINE = re.compile(rb'HTTP/1\.[01] \d{3} ')


def crc(b):
    return '%08x' % (zlib.crc32(b) & 0xFFFFFFFF)


# VXLAN on Linux's port too (tshark only knows 4789)
DECODE_AS = ['-d', 'udp.port==8472,vxlan']

# Where this checker and the fixture disagree by design: {case: {conn: why}}, or {case: why}.
TSHARK_DIFFERS = {
    'tunnel_nested': {4: 'five tunnels deep: counted and not decoded, by design'},
    'tunnel_two_sources': 'tshark keys TCP streams by the inner addresses only, so the three '
                          'mirrored copies mix in its reassembly',
    'refused_request_line': "the checker's own request parser refuses these request lines too",
}


def follow_streams(pcap, n):
    """{stream: [node0_bytes, node1_bytes]} for streams 0..n-1."""
    cmd = ['tshark', '-r', pcap, '-q', '-o', 'tcp.reassemble_out_of_order:TRUE'] + DECODE_AS
    for i in range(n):
        cmd += ['-z', f'follow,tcp,raw,{i}']
    out = subprocess.run(cmd, capture_output=True, timeout=600, check=True).stdout.decode()
    streams, cur = {}, None
    for line in out.split('\n'):
        m = re.match(r'Filter: tcp.stream eq (\d+)', line)
        if m:
            cur = streams.setdefault(int(m.group(1)), [bytearray(), bytearray()])
            continue
        if cur is None or not line.strip() or line.startswith(('=', 'Follow:', 'Node ')):
            continue
        side = 1 if line.startswith('\t') else 0
        cur[side] += bytes.fromhex(line.strip())
    return {k: [bytes(v[0]), bytes(v[1])] for k, v in streams.items()}


class _Sock:
    def __init__(self, f):
        self.f = f

    def makefile(self, *a, **k):
        return self.f


class _NoClose(io.BufferedReader):
    def close(self):
        pass


def parse_requests(data):
    """[(method, target, body)], rest_unparsed_bytes"""
    out = []
    pos = 0
    while pos < len(data):
        m = REQ_LINE.match(data, pos)
        if not m:
            break
        end = data.find(b'\r\n\r\n', pos)
        if end < 0:
            break
        head = data[pos:end].decode('latin-1').split('\r\n')
        hdrs = {}
        for h in head[1:]:
            k, _, v = h.partition(':')
            hdrs[k.strip().lower()] = v.strip()
        pos = end + 4
        body = b''
        if 'chunked' in hdrs.get('transfer-encoding', '').lower():
            while True:
                eol = data.index(b'\r\n', pos)
                size = int(data[pos:eol].split(b';')[0], 16)
                pos = eol + 2
                if size == 0:
                    tend = data.index(b'\r\n\r\n', pos - 2) if data[pos:pos + 2] != b'\r\n' \
                        else pos - 2
                    pos = tend + 4
                    break
                body += data[pos:pos + size]
                pos += size + 2
        elif 'content-length' in hdrs:
            n = int(hdrs['content-length'])
            body = data[pos:pos + n]
            if len(body) < n:
                break
            pos += n
        out.append((m.group(1).decode(), m.group(2).decode('latin-1'), body))
    return out, data[pos:]


def parse_responses(data, methods):
    """[(status, body)] answering `methods` in order; stops at the first failure."""
    out = []
    f = _NoClose(io.BytesIO(data))
    for method in methods:
        if f.peek(1) == b'':
            break
        try:
            while True:
                r = http.client.HTTPResponse(_Sock(f), method=method)
                r.begin()
                if 100 <= r.status < 200:
                    r.read()
                    continue
                body = r.read()
                out.append((r.status, body))
                break
        except Exception as e:  # noqa: BLE001 - we report and stop
            out.append(('error', repr(e)))
            break
    return out


def check(name, pcap, expected, opts):
    rows = [json.loads(line) for line in open(expected)]
    differs = TSHARK_DIFFERS.get(name, {})
    if isinstance(differs, str):
        print(f'{name}: not judged: {differs}')
        return 0
    max_body = int(opts[opts.index('--max-body') + 1]) if '--max-body' in opts else None
    nconv = int(subprocess.run(['tshark', '-r', pcap, '-q', '-z', 'conv,tcp'] + DECODE_AS,
                               capture_output=True, timeout=120, check=True)
                .stdout.decode().count('<->'))
    streams = follow_streams(pcap, nconv)
    by_conn = {}
    for r in rows:
        by_conn.setdefault(r['conn'], []).append(r)
    bad = 0
    informational = 0
    for sid in sorted(streams):
        conn = sid + 1
        a, b = streams[sid]
        if REQ_LINE.match(b) and not REQ_LINE.match(a):
            a, b = b, a
        exp = by_conn.get(conn, [])
        if conn in differs:
            informational += 1
            print(f'  info {name} conn {conn}: not judged: {differs[conn]}')
            continue
        # a mid-stream start: skip a partial response at the front
        if exp and b and not b.startswith(b'HTTP/1.'):
            m = STATUS_LINE.search(b)
            b = b[m.start():] if m else b''
        reqs, rest = parse_requests(a)
        resps = parse_responses(b, [q[0] for q in reqs])
        if any(r['state'] == 'gap' for r in exp):
            # tshark's follow output has no marker where bytes are missing: do not judge
            informational += 1
            print(f'  info {name} conn {conn}: stream with a gap, {len(reqs)} requests '
                  f'parsed, {len(exp)} expected (not judged)')
            continue
        if len(reqs) != len(exp):
            bad += 1
            print(f'  MISMATCH {name} conn {conn}: {len(reqs)} requests in the stream, '
                  f'{len(exp)} expected')
            continue
        for r in exp:
            k = r['seq']
            method, target, qbody = reqs[k]
            sresp = resps[k] if k < len(resps) else None
            if r['state'] not in ('complete', 'truncated'):
                informational += 1
                print(f'  info {name} conn {conn} seq {k} [{r["state"]}]: stream has '
                      f'{method} {target} -> '
                      f'{"no response" if sresp is None else sresp[0]}; expected status '
                      f'{r["status"]}')
                continue
            problems = []
            if (method, target) != (r['method'], r['target']):
                problems.append(f'request line {method} {target}')
            if sresp is None or sresp[0] == 'error':
                problems.append(f'response {sresp}')
            else:
                status, sbody = sresp
                if status != r['status']:
                    problems.append(f'status {status}')
                cut = False
                for key, body in (('req', qbody), ('resp', sbody)):
                    if max_body is not None and len(body) > max_body:
                        body, cut = body[:max_body], True
                    if len(body) != r[key + '_body_len'] or crc(body) != r[key + '_body_crc32']:
                        problems.append(f'{key} body len {len(body)} crc {crc(body)}')
                if cut != (r['state'] == 'truncated'):
                    problems.append(f'truncation {cut}')
            if problems:
                bad += 1
                print(f'  MISMATCH {name} conn {conn} seq {k}: {"; ".join(problems)}')
    extra = set(by_conn) - {s + 1 for s in streams}
    for c in sorted(extra):
        bad += 1
        print(f'  MISMATCH {name}: expected rows for conn {c}, which has no stream')
    print(f'{name}: {len(rows)} rows, {nconv} TCP streams, {bad} mismatches, '
          f'{informational} not judged')
    return bad


def main():
    only = set(sys.argv[1:])
    bad = 0
    for line in open(os.path.join(FIX, 'golden.list')):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.split()
        name, pcap, expected, opts = parts[0], parts[1], parts[2], parts[3:]
        if only and name not in only:
            continue
        bad += check(name, os.path.join(FIX, pcap), os.path.join(FIX, expected), opts)
    print('FAIL' if bad else 'OK')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
