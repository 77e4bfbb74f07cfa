#!/usr/bin/env bash
# Replay throughput: shadowdiff replay of a 20,000-exchange corpus against nginx serving a
# static JSON file, next to wrk against the same server with the same connection count, in
# the same run. A third column is curl_floor.c: libcurl's multi interface alone on the same
# connections (nothing read, compared or stored), the ceiling of any libcurl replayer.
# replay is the default (the native HTTP/1.1 client for http://), replay_curl the same run
# with --transport curl. CPU per exchange is the process's user + system time (from
# /proc, the cutime and cstime of a shell that waited for it) over the exchanges.
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
tck=$(getconf CLK_TCK)
# Run a command; print "seconds cpu_ticks" (wall time, user + system CPU of the command).
timed() {
  bash -c 's=$(date +%s.%N); "$@" >/dev/null || true; e=$(date +%s.%N); read -ra st < /proc/$$/stat
    awk -v a="$s" -v b="$e" -v c="$(( st[15] + st[16] ))" "BEGIN { printf \"%.3f %d\n\", b - a, c }"' _ "$@"
}
replay_once() { # transport -> "req/s cpu_us_per_exchange"
  rm -f "$work/results.db"*
  timed "$bin" replay --corpus "$work/corpus.db" --candidate "http://127.0.0.1:$port" --db "$work/results.db" \
    --concurrency "$conns" --transport "$1" 2>"$work/replay-$1.err" |
    awk -v n="$want" -v t="$tck" '{ printf "%.0f %.1f", n / $1, $2 * 1e6 / t / n }'
}
# Rounds alternate wrk, the libcurl floor and replay so that all see the same background;
# the medians are compared. A round of wrk lasts about as long as a replay.
rounds=${ROUNDS:-5}
printf '%-6s %9s %9s %10s %11s %7s %7s %10s %10s %10s\n' round wrk_rps curl_rps replay_rps replay_curl cpu_us cpu_c_us replay/wrk curl/wrk replay/curl
for r in $(seq "$rounds"); do
  wrk -t2 -c"$conns" -d3s "http://127.0.0.1:$port/items.json" > "$work/wrk.out"
  w=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out")
  c=$("$work/curl_floor" "http://127.0.0.1:$port/items.json" "$want" "$conns" | awk '{printf "%.0f", $(NF-1)}')
  read -r s su <<< "$(replay_once native)"
  read -r sc scu <<< "$(replay_once curl)"
  echo "$w $c $s $sc $su $scu" >> "$work/rounds"
  awk -v r="$r" -v w="$w" -v c="$c" -v s="$s" -v sc="$sc" -v su="$su" -v scu="$scu" 'BEGIN {
    printf "%-6s %9s %9s %10s %11s %7s %7s %9.0f%% %9.0f%% %9.0f%%\n", r, w, c, s, sc, su, scu, 100 * s / w, 100 * c / w, 100 * s / c }'
done
med() { sort -g -k"$1" "$work/rounds" | awk -v k="$1" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }
awk -v w="$(med 1)" -v c="$(med 2)" -v s="$(med 3)" -v sc="$(med 4)" -v su="$(med 5)" -v scu="$(med 6)" 'BEGIN {
  printf "# medians: wrk %d req/s, libcurl floor %d req/s (%.0f%% of wrk); shadowdiff replay %d req/s: %.0f%% of wrk, %.0f%% of the libcurl floor, %.1f us CPU per exchange; with --transport curl %d req/s (%.0f%% of wrk), %.1f us (replay, diff and SQLite included)\n", w, c, 100 * c / w, s, 100 * s / w, 100 * s / c, su, sc, 100 * sc / w, scu }'
sed 's/^/# native: /' "$work/replay-native.err"
sed 's/^/# curl: /' "$work/replay-curl.err"
