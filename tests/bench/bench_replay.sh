#!/usr/bin/env bash
# Replay throughput: shadowdiff replay of a 20,000-exchange corpus against nginx serving a
# static JSON file, next to wrk against the same server with the same connection count, in
# the same run.
#
# usage: tests/bench/bench_replay.sh [BUILD_DIR] [EXCHANGES] [CONNECTIONS]
#
# Needs root (capture on lo) and the benchmark packages of .ci/packages. Loopback only;
# everything started is stopped at exit.
set -euo pipefail
build=${1:-build}
want=${2:-20000}
conns=${3:-16}
bin=$(realpath "$build/shadowdiff")
work=$(mktemp -d /tmp/sdiff-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. "$(dirname "$0")/nginx.sh"
/usr/bin/python3 -c 'import json,sys; print(json.dumps({"items": [{"id": i, "name": "item-%d" % i, "price": i * 1.25} for i in range(30)]}))' > "$work/items.json"
start_nginx "$work" "$work/items.json"

# The corpus: capture wrk's requests (rate-limited so the capture keeps up) until enough.
"$bin" capture --interface lo --port $port --out "$work/corpus.db" --count "$want" 2>"$work/cap.err" & cap=$!; pids+=($cap)
for _ in $(seq 50); do grep -q listening "$work/cap.err" && break; sleep 0.1; done
/usr/bin/python3 - "$port" "$want" <<'PY'
import http.client, sys, threading
port, want = int(sys.argv[1]), int(sys.argv[2])
def run(n):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(n):
        c.request("GET", "/items.json?i=%d" % i)
        c.getresponse().read()
ts = [threading.Thread(target=run, args=(want // 8 + 1,)) for _ in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
wait $cap || true
tail -1 "$work/cap.err" | cut -c1-160 | sed 's/^/# /'

echo "# $want exchanges, $conns connections, nginx static JSON ($(stat -c %s "$work/items.json") bytes)"
wrk -t2 -c"$conns" -d5s "http://127.0.0.1:$port/items.json" > "$work/wrk.out"
wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
start=$(date +%s.%N)
"$bin" replay --corpus "$work/corpus.db" --candidate "http://127.0.0.1:$port" --db "$work/results.db" \
  --concurrency "$conns" 2>"$work/replay.err" || true
end=$(date +%s.%N)
sd_rps=$(awk -v n="$want" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
printf '%-44s %12s\n' tool requests/s
printf '%-44s %12s\n' "wrk -c$conns (no comparison, no storage)" "$wrk_rps"
printf '%-44s %12s\n' "shadowdiff replay --concurrency $conns" "$sd_rps"
awk -v a="$sd_rps" -v b="$wrk_rps" 'BEGIN { printf "# shadowdiff replay reaches %.0f%% of wrk (replay, diff and SQLite included)\n", 100 * a / b }'
sed 's/^/# /' "$work/replay.err"
