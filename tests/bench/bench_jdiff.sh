#!/bin/sh
# bench_jdiff.sh - throughput of the JSON differ against Python's json.loads(a) == json.loads(b),
# on the same generated bodies in the same run.
#
#   tests/bench/bench_jdiff.sh [build-dir]
#
# Without a build dir the bench is compiled here with ${CC:-cc} -O2 from the lib sources; with
# one it links <build-dir>/lib/libshadowdiff.a (use a Release/RelWithDebInfo build without
# sanitizers). Environment: PYTHON (default /usr/bin/python3), BENCH_SECONDS (default 2 per
# measurement), BENCH_KEEP=dir keeps the generated bodies there. Both sides time single
# comparisons and report the best (the code's own speed: other processes on a shared machine
# only slow calls down) and the median.
#
# Bodies are a product listing API response (ids, names, prices, nested tags and dimensions)
# at about 10, 100 and 500 KB, printed twice: as Flask does (sorted keys, non-ASCII escaped as
# \u00e9, 1.0, compact separators, final newline) and as Go's encoding/json does (struct
# order, raw UTF-8, <>& escaped as \u003c \u003e \u0026, 1 for 1.0, 0.00001 for 1e-05, null
# fields with omitempty dropped, final newline). Each Go body also has one price changed, so
# every pair differs slightly and the byte-equal fast path never applies. A last pair compares
# two Go bodies that differ in one value (same serialiser).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
secs=${BENCH_SECONDS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

if [ $# -ge 1 ]; then
    ${CC:-cc} -O2 -I"$root/include" "$here/bench_jdiff.c" "$1/lib/libshadowdiff.a" -lm \
        -o "$work/bench_jdiff"
else
    ${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$root/include" "$here/bench_jdiff.c" \
        "$root/lib/jdiff/jread.c" "$root/lib/jdiff/jdiff.c" "$root/lib/core/core.c" -lm \
        -o "$work/bench_jdiff"
fi

"$py" - "$work" <<'EOF'
import json, random, sys
from decimal import Decimal

out = sys.argv[1]
random.seed(7)
NAMES = ["Café crème", "Widget <Pro> & Co", "Gadget", "Naïve façade", "Thing \"quoted\"",
         "Smørrebrød", "Bolt M6", "Über-Kabel"]
TAGS = ["red", "blue", "sale", "new", "eco", "b&w", "<limited>", "kids", "outdoor"]

def item(i):
    # insertion order = the Go struct's field order
    d = {
        "id": 9007199254740993 + i if i % 97 == 0 else 100000 + i,
        "sku": "SKU-%06d" % i,
        "name": "%s %d" % (random.choice(NAMES), i),
        "description": "Hand-made & tested <b>%s</b> item; ships in %d days." % (
            random.choice(NAMES), random.randint(1, 9)),
        "price": float(random.randint(1, 99)) if i % 4 == 0 else round(random.uniform(1, 500), 2),
        "currency": "EUR",
        "in_stock": i % 3 != 0,
        "rating": None if i % 7 == 0 else round(random.uniform(0, 5), 1),
        "discount": 1e-05 if i % 11 == 0 else 0.15,
        "tags": random.sample(TAGS, 3),
        "dims": {"w": random.randint(1, 100), "h": random.randint(1, 100),
                 "d": round(random.uniform(0.5, 20), 1), "unit": "cm"},
        "created_at": "2024-05-%02dT12:%02d:00Z" % (i % 28 + 1, i % 60),
    }
    return d

def go_num(v):
    if isinstance(v, bool) or isinstance(v, int):
        return json.dumps(v)
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = repr(v)                      # exponent form, Go drops the leading 0 of e-07
        return s.replace("e-0", "e-")
    return format(Decimal(repr(v)).normalize(), "f")

def go_str(s):
    s = json.dumps(s, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

def go(v):
    if v is None:
        return "null"
    if isinstance(v, (bool, int, float)):
        return go_num(v)
    if isinstance(v, str):
        return go_str(v)
    if isinstance(v, list):
        return "[" + ",".join(go(x) for x in v) + "]"
    # omitempty on the nullable rating
    return "{" + ",".join(go_str(k) + ":" + go(x) for k, x in v.items()
                          if not (k == "rating" and x is None)) + "}"

for label, n in (("10KB", 25), ("100KB", 250), ("500KB", 1250)):
    doc = {"page": 1, "per_page": n, "total": 100000, "items": [item(i) for i in range(n)],
           "next": "/products?page=2&sort=<price>"}
    flask = json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"
    doc["items"][n // 2]["price"] = doc["items"][n // 2]["price"] + 0.01
    gobody = go(doc) + "\n"
    open("%s/flask_%s.json" % (out, label), "w", encoding="utf-8").write(flask)
    open("%s/go_%s.json" % (out, label), "w", encoding="utf-8").write(gobody)
    if label == "500KB":
        doc["items"][n - 3]["sku"] = "SKU-CHANGED"
        open("%s/go2_%s.json" % (out, label), "w", encoding="utf-8").write(go(doc) + "\n")
EOF

cat > "$work/py_bench.py" <<'EOF'
import json, sys, time
a = open(sys.argv[1], "rb").read()
b = open(sys.argv[2], "rb").read()
secs = float(sys.argv[3])
json.loads(a) == json.loads(b)
# time single comparisons, as the C bench does: best and median
times, start = [], time.perf_counter()
while time.perf_counter() - start < secs:
    t0 = time.perf_counter()
    json.loads(a) == json.loads(b)
    times.append(time.perf_counter() - t0)
times.sort()
n = len(a) + len(b)
print("%.1f %.1f" % (n / times[0] / 1e6, n / times[len(times) // 2] / 1e6))
EOF

printf '%-22s %9s | %9s %9s %9s | %9s %9s | %6s %6s | %s\n' "pair (primary/candidate)" \
    "bytes" "ours best" "median" "one-shot" "py best" "median" "best" "median" "verdict"
for pair in flask_10KB:go_10KB flask_100KB:go_100KB flask_500KB:go_500KB go_500KB:go2_500KB; do
    a=$work/${pair%%:*}.json
    b=$work/${pair##*:}.json
    bytes=$(($(wc -c < "$a") + $(wc -c < "$b")))
    set -- $("$work/bench_jdiff" "$a" "$b" "$secs")
    ours=$1 ourmed=$2 oneshot=$3 equal=$4 found=$5
    set -- $("$py" "$work/py_bench.py" "$a" "$b" "$secs")
    pyb=$1 pym=$2
    rb=$(awk -v o="$ours" -v p="$pyb" 'BEGIN { printf "%.1fx", o / p }')
    rm=$(awk -v o="$ourmed" -v p="$pym" 'BEGIN { printf "%.1fx", o / p }')
    verdict=$([ "$equal" = 1 ] && echo equal || echo "differs ($found)")
    printf '%-22s %9s | %9s %9s %9s | %9s %9s | %6s %6s | %s\n' "${pair%%:*}/${pair##*:}" \
        "$bytes" "$ours" "$ourmed" "$oneshot" "$pyb" "$pym" "$rb" "$rm" "$verdict"
done
echo "MB/s = bytes of both bodies per comparison; ratios are ours / Python (best, median)"
if [ -n "${BENCH_KEEP:-}" ]; then
    mkdir -p "$BENCH_KEEP" && cp "$work"/*.json "$BENCH_KEEP"/
fi
