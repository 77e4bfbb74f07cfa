#!/usr/bin/env bash
# Build the seed corpus of every fuzz target from fixtures/, in the input format of each
# target (see the comment at the top of tests/fuzz/fuzz_<name>.c):
#
#   tests/fuzz/seeds.sh OUT_DIR      writes OUT_DIR/<target>/<seed> (OUT_DIR is emptied first)
#
#   packets   fixtures/pcap/*.pcap as length-prefixed frames, in pieces of at most 8 KiB
#   reasm     synthetic segment operations made from the TCP segments of the pcaps
#   http1     fixtures/http/*/*.http, each direction of the pcaps' TCP streams, and requests
#             built to mislead a replay (forged markers, method overrides, token[]=)
#   msg_read  pairs of responses from fixtures/http/ and the pcaps, and of bare bodies
#   codec     gzip, zlib and raw deflate of fixture bodies, and the bodies for round trips
#   jdiff     JSON bodies of the fixtures, each against itself and an edited copy
#   rules     the config examples of README.md, and configs using each key
#   pcapng    the pcaps rewritten as pcapng: both byte orders, a second interface of another
#             link type, nanosecond and power-of-two timestamps, simple, obsolete and unknown
#             blocks, a second section
#
# and then adds the committed regression inputs, fixtures/fuzz/<target>/*. Deterministic;
# needs python3 (standard library only).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:?usage: tests/fuzz/seeds.sh OUT_DIR}"
rm -rf "$out"
mkdir -p "$out"

python3 - "$root" "$out" <<'EOF'
import gzip, json, os, re, struct, sys, zlib

root, out = sys.argv[1], sys.argv[2]
fx = os.path.join(root, "fixtures")
MAX_PACKETS_SEED = 8192

def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# ---- pcap reading -------------------------------------------------------------------------

def read_pcap(path):
    """(linktype, [(ts_us, caplen bytes, wirelen)]) or None when not a classic pcap."""
    d = open(path, "rb").read()
    if len(d) < 24:
        return None
    magic = d[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", d[20:24])[0] & 0x0fffffff
    frames, off = [], 24
    while off + 16 <= len(d):
        sec, frac, cap, wire = struct.unpack(e + "IIII", d[off:off + 16])
        if cap > len(d) - off - 16 or cap > 262144:
            break
        ts = sec * 1000000 + (frac // 1000 if nano else frac)
        frames.append((ts, d[off + 16:off + 16 + cap], max(wire, cap)))
        off += 16 + cap
    return linktype, frames

LINK_INDEX = {1: 0, 113: 1, 276: 2, 0: 3, 101: 4, 108: 5, 228: 6, 229: 7}

def tstep(delta):
    if delta < 12800:
        return max(0, (delta + 50) // 100)
    return 128 + min(127, delta // 100000)

def packets_seeds(name, linktype, frames):
    if linktype not in LINK_INDEX:
        return
    pieces, cur, last = [], b"", None
    for ts, data, wire in frames:
        rec = struct.pack(">HBB", len(data), tstep(0 if last is None else ts - last),
                          min(255, wire - len(data))) + data
        last = ts
        if cur and len(cur) + len(rec) > MAX_PACKETS_SEED - 2:
            pieces.append(cur)
            cur = b""
        cur += rec
    if cur:
        pieces.append(cur)
    idx = LINK_INDEX[linktype]
    for i, p in enumerate(pieces[:4]):
        put("packets", "%s-%d" % (name, i), bytes([idx | 0x40, 0]) + p)
    # the first piece again with tight limits, and with bodies discarded
    put("packets", "%s-tight" % name, bytes([idx | 0x08 | 0x20, 0]) + pieces[0])
    put("packets", "%s-discard" % name, bytes([idx | 0x10 | 0x40, 0]) + pieces[0])

# ---- TCP segments of a pcap (for streams and the reassembler) -------------------------------

def link_off(linktype, fr):
    if linktype == 1:
        off, et = 12, None
        while off + 2 <= len(fr):
            et = struct.unpack(">H", fr[off:off + 2])[0]
            off += 2
            if et in (0x8100, 0x88a8, 0x9100):
                off += 2
                continue
            break
        return off
    return {113: 16, 276: 20, 0: 4, 108: 4, 101: 0, 228: 0, 229: 0, 12: 0, 14: 0}.get(linktype)

def tcp_segments(linktype, frames):
    """[(key, side, seq, flags, payload)]; key is the sorted 4-tuple, side 0 = key's first."""
    segs = []
    for ts, fr, wire in frames:
        off = link_off(linktype, fr)
        if off is None or off >= len(fr):
            continue
        v = fr[off] >> 4
        if v == 4:
            ihl = (fr[off] & 15) * 4
            total = struct.unpack(">H", fr[off + 2:off + 4])[0] or len(fr) - off
            if fr[off + 9] != 6:
                continue
            src, dst = fr[off + 12:off + 16], fr[off + 16:off + 20]
            t = off + ihl
            end = min(len(fr), off + total)
        elif v == 6:
            if fr[off + 6] != 6:
                continue  # extension headers: not needed for seeds
            src, dst = fr[off + 8:off + 24], fr[off + 24:off + 40]
            t = off + 40
            end = min(len(fr), t + struct.unpack(">H", fr[off + 4:off + 6])[0])
        else:
            continue
        if t + 20 > len(fr):
            continue
        sp, dp, seq = struct.unpack(">HHI", fr[t:t + 8])
        doff = (fr[t + 12] >> 4) * 4
        flags = fr[t + 13]
        a, b = (src, sp), (dst, dp)
        key = (min(a, b), max(a, b))
        segs.append((key, 0 if a == key[0] else 1, seq, flags, fr[t + doff:end]))
    return segs

def streams(segs):
    """{(key, side): bytes} in sequence order, duplicates dropped."""
    parts = {}
    for key, side, seq, flags, pl in segs:
        if pl:
            parts.setdefault((key, side), {}).setdefault(seq, pl)
    res = {}
    for k, m in parts.items():
        seqs = sorted(m)
        base, buf = seqs[0], bytearray()
        for s in seqs:
            o = (s - base) & 0xffffffff
            if o > len(buf) + 65536:
                continue
            if o > len(buf):
                buf += b"\0" * (o - len(buf))
            buf[o:o + len(m[s])] = m[s]
        res[k] = bytes(buf)
    return res

def reasm_ops(segs):
    """The reassembler target's 6-byte operations, one per segment of the first 4 flows."""
    keys, ops, isn = [], bytearray(), {}
    for key, side, seq, flags, pl in segs:
        if key not in keys:
            keys.append(key)
        t = keys.index(key)
        if t >= 4:
            continue
        syn = 1 if flags & 0x02 else 0
        isn.setdefault((t, side), seq + syn)  # the target puts a SYN at base - 1
        rel = (seq + syn - isn[(t, side)]) & 0xffffffff
        op1 = (flags & 0x1b) | (0x24 if flags & 0x04 else 0)  # FIN SYN PSH ACK, RST
        ops += bytes([t | side << 2, op1, rel & 0xff, min(len(pl), 63), 1, 0])
        if len(ops) >= 4000:
            break
    return bytes(ops)

# ---- HTTP helpers ---------------------------------------------------------------------------

def split_messages(stream):
    """Split a response stream into whole messages (Content-Length or chunked framing)."""
    msgs, off = [], 0
    while off < len(stream):
        h = stream.find(b"\r\n\r\n", off)
        if h < 0:
            break
        head = stream[off:h + 4].decode("latin-1")
        body_start = h + 4
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        if re.search(r"(?im)^transfer-encoding:.*chunked", head):
            p, body = body_start, b""
            while True:
                e = stream.find(b"\r\n", p)
                if e < 0:
                    return msgs
                try:
                    n = int(stream[p:e].split(b";")[0], 16)
                except ValueError:
                    return msgs
                p = e + 2
                if n == 0:
                    t = stream.find(b"\r\n\r\n", p - 2)
                    end = len(stream) if t < 0 else t + 4
                    break
                body += stream[p:p + n]
                p += n + 2
        elif m:
            end = body_start + int(m.group(1))
            body = stream[body_start:end]
        elif re.match(r"HTTP/1\.\d 1\d\d|HTTP/1\.\d (204|304)", head):
            end, body = body_start, b""
        else:
            end, body = len(stream), stream[body_start:]
        msgs.append((stream[off:end], head, body))
        off = end
    return msgs

http_files = []
for case in sorted(os.listdir(os.path.join(fx, "http"))):
    for part in ("request.http", "response.http"):
        p = os.path.join(fx, "http", case, part)
        if os.path.exists(p):
            http_files.append((case, part, open(p, "rb").read()))

responses, bodies = [], []   # whole single responses; bodies (de-chunked)
for case, part, data in http_files:
    if part == "response.http":
        for i, (raw, head, body) in enumerate(split_messages(data)):
            responses.append(("%s-%d" % (case, i), raw))
            if body:
                bodies.append(("%s-%d" % (case, i), body))

pcaps = sorted(f for f in os.listdir(os.path.join(fx, "pcap")) if f.endswith(".pcap"))
for f in pcaps:
    name = f[:-5]
    r = read_pcap(os.path.join(fx, "pcap", f))
    if r is None:
        continue
    linktype, frames = r
    packets_seeds(name, linktype, frames)
    segs = tcp_segments(linktype, frames)
    ops = reasm_ops(segs)
    if ops:
        put("reasm", name, bytes([0x20]) + ops)
    for n, ((key, side), data) in enumerate(sorted(streams(segs).items())[:4]):
        put("http1", "%s-%d" % (name, n), data[:4096])
        if data.startswith(b"HTTP/1."):
            for i, (raw, head, body) in enumerate(split_messages(data)[:3]):
                responses.append(("%s-%d-%d" % (name, n, i), raw))
                if body:
                    bodies.append(("%s-%d-%d" % (name, n, i), body))

# pcapng: the first frames of each pcap as pcapng files of several shapes
def pcapng(linktype, frames, be=False, shape=0):
    e = ">" if be else "<"
    def block(t, body):
        body += b"\0" * ((4 - len(body) % 4) % 4)
        n = len(body) + 12
        return struct.pack(e + "II", t, n) + body + struct.pack(e + "I", n)
    def opt(code, value):
        return struct.pack(e + "HH", code, len(value)) + value + b"\0" * ((4 - len(value) % 4) % 4)
    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    units = 10**6
    opts = b""
    if shape & 1:  # nanoseconds, and a second interface of another link type first
        out += block(1, struct.pack(e + "HHI", 101, 0, 65535))
        opts = opt(9, bytes([9])) + opt(0, b"")
        units = 10**9
    elif shape & 2:  # 2^-20 s and a time offset
        opts = opt(9, bytes([0x80 | 20])) + opt(14, struct.pack(e + "q", 3600)) + opt(0, b"")
        units = 1 << 20
    out += block(1, struct.pack(e + "HHI", linktype, 0, 65535) + opts)
    ifid = 1 if shape & 1 else 0
    for i, (ts, data, wire) in enumerate(frames):
        t = ts * units // 10**6
        if shape & 4 and i % 3 == 1 and ifid == 0:
            out += block(3, struct.pack(e + "I", wire) + data)  # simple packet block
        elif shape & 4 and i % 3 == 2:
            out += block(2, struct.pack(e + "HHIIII", ifid, 0, t >> 32, t & 0xffffffff, len(data), wire) + data)
        else:
            out += block(6, struct.pack(e + "IIIII", ifid, t >> 32, t & 0xffffffff, len(data), wire) + data)
        if shape & 4 and i == 0:
            out += block(0x0BAD, b"custom")  # unknown: skipped
    if shape & 8:  # a second section, which forgets the interfaces
        out += block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        out += block(1, struct.pack(e + "HHI", linktype, 0, 65535))
        for ts, data, wire in frames[:2]:
            out += block(6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xffffffff, len(data), wire) + data)
    return out

for f in pcaps[:12]:
    r = read_pcap(os.path.join(fx, "pcap", f))
    if r is None:
        continue
    linktype, frames = r
    small, used = [], 0
    for fr in frames:
        if used + len(fr[1]) + 32 > 6000:
            break
        small.append(fr)
        used += len(fr[1]) + 32
    for shape in (0, 1, 2, 4, 8, 15):
        put("pcapng", "%s-%d-le" % (f[:-5], shape), pcapng(linktype, small, False, shape))
        if shape in (0, 15):
            put("pcapng", "%s-%d-be" % (f[:-5], shape), pcapng(linktype, small, True, shape))
bad = os.path.join(fx, "bad")
for f in sorted(os.listdir(bad)) if os.path.isdir(bad) else []:
    if f.endswith(".pcapng"):
        with open(os.path.join(bad, f), "rb") as fh:
            put("pcapng", "bad-" + f[:-7], fh.read()[:8192])

# reasm: a few hand-made sequences too (handshake, data both ways, reordering, FIN, RST)
put("reasm", "handshake", bytes([0x20,
    0, 0x02, 0, 0, 1, 0,   4, 0x12, 0, 0, 1, 1,   0, 0x10, 1, 0, 1, 1,
    0, 0x18, 1, 10, 1, 1,  4, 0x18, 1, 20, 1, 11,  0, 0x11, 11, 0, 1, 21,
    4, 0x11, 21, 0, 1, 12]))
put("reasm", "reorder", bytes([0x20,
    0, 0x02, 0, 0, 1, 0,   0, 0x18, 21, 10, 1, 0,  0, 0x18, 1, 10, 1, 0,
    0, 0x18, 11, 10, 1, 0, 0, 0x18, 11, 0x4a, 1, 0, 0, 0x24, 40, 0, 1, 0]))

# ---- http1 and msg_read ---------------------------------------------------------------------

for case, part, data in http_files:
    put("http1", "%s-%s" % (case, part.split(".")[0]), data)

# requests built to mislead a replay: forged markers, method overrides, array-syntax secrets
guard = [
    b"GET /a HTTP/1.1\r\nHost: h\r\nX-Shadowdiff: 0\r\nx-shadowdiff: 1\r\nX-SHADOWDIFF:\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: h\r\nX-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: PUT\r\n"
    b"X-Method-Override: PATCH\r\n\r\n",
    b"GET /a?x=1&%5Fmethod=DEL%45TE&_method&token[]=s1&token%5B%5D=s2&api_key[0]=s3 HTTP/1.1\r\n"
    b"Host: h\r\nReferer: http://r/?access_token[]=s4\r\n\r\n",
    b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 37\r\n\r\n_method=DELETE&password[]=s5&_method=",
    b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=B\r\n"
    b"Content-Length: 61\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nPUT\r\n--B--",
]
for i, data in enumerate(guard):
    put("http1", "guard-%d" % i, data)

resp_uniq = {}
for name, raw in responses:
    resp_uniq.setdefault(raw[:8192], name)
resp = sorted((n, r) for r, n in resp_uniq.items())[:24]

def msg_pair(cfg, a, b):
    a = a[:4000]
    return bytes([cfg]) + struct.pack(">H", len(a)) + a + b[:4000]

for i, (name, raw) in enumerate(resp):
    put("msg_read", "%s-self" % name, msg_pair(0, raw, raw))
    other = resp[(i + 1) % len(resp)][1]
    put("msg_read", "%s-next" % name, msg_pair(4 if i % 2 else 0, raw, other))
    if i < 6:
        put("msg_read", "%s-cut16" % name, msg_pair(3, raw, raw.replace(b"200 OK", b"201 Created")))
for i, (name, body) in enumerate(bodies[:6]):
    put("msg_read", "%s-bare" % name, msg_pair(0, body, body.replace(b"1", b"2")))

# ---- codec ----------------------------------------------------------------------------------

def zlib_raw(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()

uniq_bodies = []
for name, body in bodies:
    if body not in [b for _, b in uniq_bodies]:
        uniq_bodies.append((name, body[:3000]))
# option byte: encoding index in bits 0-3, output bound index in bits 4-6 (fuzz_codec.c)
for name, body in uniq_bodies[:8]:
    put("codec", "%s-gzip" % name, bytes([0 | 7 << 4]) + gzip.compress(body, mtime=0))
    put("codec", "%s-zlib" % name, bytes([1 | 7 << 4]) + zlib.compress(body))
    put("codec", "%s-raw" % name, bytes([11 | 5 << 4]) + zlib_raw(body))
    put("codec", "%s-xgzip-small" % name, bytes([2 | 3 << 4]) + gzip.compress(body, mtime=0))
    put("codec", "%s-chain" % name,
        bytes([5 | 7 << 4]) + gzip.compress(zlib.compress(body), mtime=0))
    put("codec", "%s-roundtrip" % name, bytes([0x80 | 0x40 | 0x10]) + body)
    put("codec", "%s-roundtrip2" % name, bytes([0x80 | 0x20 | 1 << 2 | 0]) + body)
put("codec", "bomb", bytes([0 | 4 << 4]) + gzip.compress(b"\0" * 200000, mtime=0))

# ---- jdiff ----------------------------------------------------------------------------------

def edit(doc):
    """A changed copy: one value changed, one key added, arrays reversed."""
    if isinstance(doc, dict):
        d = {k: edit(v) for k, v in reversed(list(doc.items()))}
        d["_extra"] = 1
        return d
    if isinstance(doc, list):
        return [edit(v) for v in reversed(doc)]
    if isinstance(doc, bool) or doc is None:
        return doc
    if isinstance(doc, (int, float)):
        return doc + 1
    return doc + "!"

docs = []
for name, body in bodies:
    try:
        doc = json.loads(body)
    except ValueError:
        continue
    if body not in [b for _, b, _ in docs]:
        docs.append((name, body, doc))
for i, (name, body, doc) in enumerate(docs[:12]):
    compact = json.dumps(doc, separators=(",", ":")).encode()
    put("jdiff", "%s-self" % name, bytes([0]) + body + b"\0" + compact)
    edited = json.dumps(edit(doc)).encode()
    put("jdiff", "%s-edit" % name, bytes([i * 37 & 0x7f]) + body + b"\0" + edited)
put("jdiff", "numbers", bytes([3]) + b'{"a":1.0,"b":[1e2,100,-0]}\0{"b":[100.0,1E2,0],"a":1}')
put("jdiff", "unordered", bytes([4]) + b'[{"b":[1,2]},{"b":[2,1]}]\0[{"b":[2,1]},{"b":[1,2]}]')

# ---- rules ----------------------------------------------------------------------------------

def json_blocks(path):
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"```json\n(.*?)```", text, re.S):
        yield m.group(1)

n = 0
for block in json_blocks(os.path.join(root, "README.md")):
    put("rules", "readme-%d.json" % n, block.encode())
    n += 1
put("rules", "empty.json", b"{}")
put("rules", "thresholds.json",
    b'{"thresholds": {"min_samples": 100, "max_mismatch": 0.005, "max_p99_ratio": 2}}')
put("rules", "masks.json",
    b'{"text_masks": [{"pattern": "[0-9]{2}:[0-9]{2}:[0-9]{2}", "replace": "<t>"},'
    b' {"pattern": "by [a-z0-9]+"}], "ignore_headers": ["X-Served-By"]}')
put("rules", "paths.json",
    b'{"ignore_paths": ["$.meta.at", "$.items[*].p"], "unordered_paths": ["$.tags"],'
    b' "float_tolerance": {"absolute": 0.001, "relative": 0}}')
put("rules", "routes.json",
    b'{"allow_methods": ["POST"], "secret_headers": ["X-Internal-Token"],'
    b' "compare_headers": ["Server"], "routes": {"GET /api/report": {"ignore_paths":'
    b' ["$.generated_at"], "text_masks": [{"pattern": "a|b"}]}, "POST /api/orders":'
    b' {"allow": true, "unordered_paths": ["$[*]"]}}}')
put("rules", "waivers.json",
    b'{"waivers": [{"cluster": "0123456789AB", "reason": "r", "expires": "2024-02-29"},'
    b' {"cluster": {"route": "GET /a", "signature": "$.x changed"}, "reason": "s"}]}')
EOF

# the committed regression inputs are seeds as well
for d in "$root"/fixtures/fuzz/*/; do
  [ -d "$d" ] || continue
  t="$(basename "$d")"
  mkdir -p "$out/$t"
  for f in "$d"*; do
    [ -f "$f" ] && cp "$f" "$out/$t/regress-$(basename "$f")"
  done
done
for t in "$out"/*/; do
  printf '%-9s %4d seeds\n' "$(basename "$t")" "$(find "$t" -type f | wc -l)"
done
