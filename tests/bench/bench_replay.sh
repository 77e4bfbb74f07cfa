#!/usr/bin/env bash
# Replay throughput: shadowdiff replay of a 20,000-exchange corpus against nginx serving a
# static JSON file, next to wrk against the same server with the same connection count, in
# the same run. A third column is curl_floor.c: libcurl's multi interface alone on the same
# connections (nothing read, compared or stored), the ceiling of any libcurl replayer.
#
# usage: [ROUNDS=5] tests/bench/bench_replay.sh [BUILD_DIR] [EXCHANGES] [CONNECTIONS]
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

cc -O2 -o "$work/curl_floor" "$(dirname "$0")/curl_floor.c" -lcurl

echo "# $want exchanges, $conns connections, nginx static JSON ($(stat -c %s "$work/items.json") bytes)"
# Rounds alternate wrk, the libcurl floor and replay so that all see the same background;
# the medians are compared. A round of wrk lasts about as long as a replay.
rounds=${ROUNDS:-5}
printf '%-6s %10s %10s %10s %11s %11s %12s\n' round wrk_rps curl_rps replay_rps replay/wrk curl/wrk replay/curl
for r in $(seq "$rounds"); do
  wrk -t2 -c"$conns" -d3s "http://127.0.0.1:$port/items.json" > "$work/wrk.out"
  w=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out")
  c=$("$work/curl_floor" "http://127.0.0.1:$port/items.json" "$want" "$conns" | awk '{printf "%.0f", $(NF-1)}')
  rm -f "$work/results.db"*
  start=$(date +%s.%N)
  "$bin" replay --corpus "$work/corpus.db" --candidate "http://127.0.0.1:$port" --db "$work/results.db" \
    --concurrency "$conns" 2>"$work/replay.err" || true
  end=$(date +%s.%N)
  s=$(awk -v n="$want" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
  echo "$w $c $s" >> "$work/rounds"
  awk -v r="$r" -v w="$w" -v c="$c" -v s="$s" 'BEGIN {
    printf "%-6s %10s %10s %10s %10.0f%% %10.0f%% %11.0f%%\n", r, w, c, s, 100 * s / w, 100 * c / w, 100 * s / c }'
done
med() { sort -n -k"$1" "$work/rounds" | awk -v k="$1" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }
awk -v w="$(med 1)" -v c="$(med 2)" -v s="$(med 3)" 'BEGIN {
  printf "# medians: wrk %d req/s, libcurl floor %d req/s (%.0f%% of wrk), shadowdiff replay %d req/s: %.0f%% of wrk, %.0f%% of the libcurl floor (replay, diff and SQLite included)\n", w, c, 100 * c / w, s, 100 * s / w, 100 * s / c }'
sed 's/^/# /' "$work/replay.err"
