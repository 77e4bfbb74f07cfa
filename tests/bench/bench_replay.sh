#!/usr/bin/env bash
# Replay throughput: shadowdiff replay of a 20,000-exchange corpus against nginx serving a
# static JSON file, next to wrk against the same server with the same connection count, in
# the same run. A third column is curl_floor.c: libcurl's multi interface alone on the same
# connections (nothing read, compared or stored), the ceiling of any libcurl replayer.
# replay is the default (the native HTTP/1.1 client for http://), replay_curl the same run
# with --transport curl. CPU per exchange is the process's user + system time (from
# /proc, the cutime and cstime of a shell that waited for it) over the exchanges.
#
# The native replay runs twice a round, with --judges 1 and --judges $JUDGES (default: the
# CPUs online; replay's own default is one less), to compare parallel judging with one judge on the
# same corpus and server. The judging cost per exchange is the CPU of the judging threads
# (named sdiff-judge; with one judge it stores too) and, with several, of the writer
# (sdiff-writer), read from /proc/PID/task every 20 ms while replay runs: the last 20 ms of
# a thread are missed, so these are slight underestimates.
#
# With ANSWERS=reordered the server's file is rewritten after the capture with every object's
# keys in reverse order: no answer is byte-equal any more, so every comparison parses and
# compares both bodies, and every result keeps its bodies (they are different: nginx's ETag
# and Last-Modified change with the file): the judging-heavy case.
#
# usage: [ROUNDS=5] [JUDGES=N] [ANSWERS=same|reordered] tests/bench/bench_replay.sh
#        [BUILD_DIR] [EXCHANGES] [CONNECTIONS]
#
# Needs root (capture on lo) and the packages of .ci/packages-bench. Loopback only;
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

if [ "${ANSWERS:-same}" = reordered ]; then
  /usr/bin/python3 -c 'import json, sys
rev = lambda o: {k: rev(o[k]) for k in reversed(list(o))} if isinstance(o, dict) else [rev(v) for v in o] if isinstance(o, list) else o
print(json.dumps(rev(json.load(open(sys.argv[1])))))' "$work/items.json" > "$work/www/items.json"
  echo "# answers: the served file's keys reversed after the capture (no answer byte-equal)"
fi

cc -O2 -o "$work/curl_floor" "$(dirname "$0")/curl_floor.c" -lcurl

echo "# $want exchanges, $conns connections, nginx static JSON ($(stat -c %s "$work/items.json") bytes)"
tck=$(getconf CLK_TCK)
# Run a command; print "seconds cpu_ticks" (wall time, user + system CPU of the command).
timed() {
  bash -c 's=$(date +%s.%N); "$@" >/dev/null || true; e=$(date +%s.%N); read -ra st < /proc/$$/stat
    awk -v a="$s" -v b="$e" -v c="$(( st[15] + st[16] ))" "BEGIN { printf \"%.3f %d\n\", b - a, c }"' _ "$@"
}
# Replay the corpus: "seconds cpu_ticks judge_ticks writer_ticks" (wall time, user + system
# CPU of the process, of its judging threads, of its writer thread).
replay_timed() {
  bash -c 's=$(date +%s.%N); "$@" >/dev/null & p=$!
    declare -A last
    while kill -0 $p 2>/dev/null; do
      for t in /proc/$p/task/*; do
        read -r c < "$t/comm" 2>/dev/null || continue
        case $c in sdiff-judge|sdiff-writer) ;; *) continue ;; esac
        read -ra ts < "$t/stat" 2>/dev/null || continue
        last[${t##*/}]="$c $(( ts[13] + ts[14] ))"
      done
      sleep 0.02
    done
    wait $p || true
    e=$(date +%s.%N); read -ra st < /proc/$$/stat
    j=0; w=0
    for v in "${last[@]}"; do set -- $v; if [ "$1" = sdiff-writer ]; then w=$((w + $2)); else j=$((j + $2)); fi; done
    awk -v a="$s" -v b="$e" -v c="$(( st[15] + st[16] ))" -v j="$j" -v w="$w" "BEGIN { printf \"%.3f %d %d %d\n\", b - a, c, j, w }"' _ "$@"
}
replay_once() { # transport judges -> "req/s cpu_us judge_us writer_us" (per exchange)
  rm -f "$work/results.db"*
  replay_timed "$bin" replay --corpus "$work/corpus.db" --candidate "http://127.0.0.1:$port" \
    --db "$work/results.db" --concurrency "$conns" --transport "$1" --judges "$2" \
    2>"$work/replay-$1-$2.err" |
    awk -v n="$want" -v t="$tck" '{ printf "%.0f %.1f %.1f %.1f", n / $1, $2 * 1e6 / t / n, $3 * 1e6 / t / n, $4 * 1e6 / t / n }'
}
judges=${JUDGES:-$(getconf _NPROCESSORS_ONLN)}
[ "$judges" -gt 8 ] && judges=8
echo "# replay with --judges 1 and --judges $judges; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
# Rounds alternate wrk, the libcurl floor and replay so that all see the same background;
# the medians are compared. A round of wrk lasts about as long as a replay.
rounds=${ROUNDS:-5}
printf '%-5s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s %7s %7s %7s %7s\n' round wrk curl_fl j1_rps jN_rps curl_tr cpu1_us cpuN_us jdg1_us jdgN_us wrtN_us j1/wrk jN/wrk jN/j1 curl/wrk
for r in $(seq "$rounds"); do
  wrk -t2 -c"$conns" -d3s "http://127.0.0.1:$port/items.json" > "$work/wrk.out"
  w=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out")
  c=$("$work/curl_floor" "http://127.0.0.1:$port/items.json" "$want" "$conns" | awk '{printf "%.0f", $(NF-1)}')
  read -r s1 u1 j1 w1 <<< "$(replay_once native 1)"
  read -r sn un jn wn <<< "$(replay_once native "$judges")"
  read -r sc uc jc wc <<< "$(replay_once curl "$judges")"
  echo "$w $c $s1 $sn $sc $u1 $un $j1 $jn $wn" >> "$work/rounds"
  awk -v r="$r" -v w="$w" -v c="$c" -v s1="$s1" -v sn="$sn" -v sc="$sc" -v u1="$u1" -v un="$un" \
      -v j1="$j1" -v jn="$jn" -v wn="$wn" 'BEGIN {
    printf "%-5s %8s %8s %8s %8s %8s %6.1f %6.1f %6.1f %6.1f %6.1f %6.0f%% %6.0f%% %6.2fx %6.0f%%\n", r, w, c, s1, sn, sc, u1, un, j1, jn, wn, 100 * s1 / w, 100 * sn / w, sn / s1, 100 * c / w }'
done
med() { sort -g -k"$1" "$work/rounds" | awk -v k="$1" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }
awk -v w="$(med 1)" -v c="$(med 2)" -v s1="$(med 3)" -v sn="$(med 4)" -v sc="$(med 5)" -v u1="$(med 6)" \
    -v un="$(med 7)" -v j1="$(med 8)" -v jn="$(med 9)" -v wn="$(med 10)" -v n="$judges" 'BEGIN {
  printf "# medians: wrk %d req/s, libcurl floor %d req/s (%.0f%% of wrk); replay --judges 1 %d req/s (%.0f%% of wrk), --judges %d %d req/s (%.0f%% of wrk, %.2fx of one judge); CPU per exchange %.1f us with one judge, %.1f us with %d; judging %.1f us per exchange with one judge (storing included), %.1f us in %d judges + %.1f us in the writer; --transport curl %d req/s (%.0f%% of wrk)\n", w, c, 100 * c / w, s1, 100 * s1 / w, n, sn, 100 * sn / w, sn / s1, u1, un, n, j1, jn, n, wn, sc, 100 * sc / w }'
for f in "$work"/replay-*.err; do sed "s/^/# $(basename "$f" .err): /" "$f"; done
