#!/usr/bin/env bash
# Soak: `shadowdiff mirror` beside a service under the most load wrk can put on loopback, for
# DURATION seconds (default 600). Samples the mirror's RSS every 5 s, then checks: RSS under
# the bound the README documents for the settings used, no growth over the second half of
# the run, drops counted, and a database that passes PRAGMA integrity_check and reports.
#
# usage: tests/bench/bench_soak.sh [BUILD_DIR] [DURATION_S]
#
# Needs root (capture on lo) and the packages of .ci/packages-bench (nginx, wrk).
# Loopback only; everything started is stopped at exit.
set -euo pipefail
build=${1:-build}
dur=${2:-600}
bin=$(realpath "$build/shadowdiff")
work=$(mktemp -d /tmp/sdiff-soak-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. "$(dirname "$0")/nginx.sh"
# primary and candidate: the same JSON, so most exchanges are identical; the candidate's copy
# of /other.json differs in one field, so the differences path is soaked too
/usr/bin/python3 -c 'import json; print(json.dumps({"items": [{"id": i, "name": "item-%d" % i, "price": i * 1.25} for i in range(30)]}))' > "$work/items.json"
mkdir -p "$work/p" "$work/c"
start_nginx "$work/p" "$work/items.json"; primary=$port
echo '{"version": 1, "ok": true}' > "$work/p/www/other.json"
start_nginx "$work/c" "$work/items.json"; candidate=$port
echo '{"version": 2, "ok": true}' > "$work/c/www/other.json"
chmod 644 "$work"/*/www/other.json
# same mtimes on both sides, or nginx's ETag and Last-Modified would differ everywhere
touch -d '2026-01-01 00:00:00' "$work"/*/www/*.json

# settings whose bound the README formula gives: queue 1024 and 64 KiB bodies
queue=1024 conc=16 maxbody=65536
# (in flight: twice the concurrency; waiting for a judge or the writer: eight times, plus one
# record per judge, at most 64)
bound_mib=$(( (queue * 2 * maxbody + (conc * 10 + 64) * (2 * maxbody + 8 * 1048576) + 256 * 1048576 + 2 * 4 * 1048576) / 1048576 + 64 ))
# MIRROR_ARGS: more options, e.g. MIRROR_ARGS="--judges 1"
"$bin" mirror --interface lo --port "$primary" --candidate "http://127.0.0.1:$candidate" \
  --db "$work/soak.db" --queue $queue --concurrency $conc --max-body $maxbody ${MIRROR_ARGS:-} \
  2>"$work/mirror.err" & mirror=$!; pids+=($mirror)
for _ in $(seq 50); do grep -q listening "$work/mirror.err" && break; sleep 0.1; done

cat > "$work/paths.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then return wrk.format("GET", "/other.json") end
  return wrk.format("GET", "/items.json?i=" .. n)
end
LUA
wrk -t1 -c8 -d"${dur}s" -s "$work/paths.lua" "http://127.0.0.1:$primary" > "$work/wrk.out" & load=$!; pids+=($load)

echo "# seconds rss_kib"
t0=$(date +%s)
: > "$work/rss"
while kill -0 "$load" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$mirror/status")
  t=$(( $(date +%s) - t0 ))
  echo "$t $rss" | tee -a "$work/rss"
  sleep 5
done
wait "$load" || true
kill -INT "$mirror"; wait "$mirror" || true
grep -E "Requests/sec|requests in" "$work/wrk.out" | sed 's/^ */# wrk: /'
tail -2 "$work/mirror.err" | cut -c1-400 | sed 's/^/# /'
# the share of what capture saw that was judged (the rest dropped at the full queue)
tail -2 "$work/mirror.err" | awk '/capture:/ { for (i = 1; i < NF; i++) if ($(i + 1) == "exchanges") c = $i }
  /run [0-9]+:/ { for (i = 1; i < NF; i++) if ($(i + 1) == "exchanges:") j = $i }
  END { if (c > 0) printf "# judged %d of %d captured exchanges: %.0f%%\n", j, c, 100 * j / c }'

awk -v bound="$bound_mib" '
  { t[NR] = $1; r[NR] = $2; if ($2 > max) max = $2 }
  END {
    h = int(NR / 2) + 1; n = NR - h + 1; st = 0; sr = 0; stt = 0; str = 0
    for (i = h; i <= NR; i++) { st += t[i]; sr += r[i]; stt += t[i] * t[i]; str += t[i] * r[i] }
    slope = (n * str - st * sr) / (n * stt - st * st) * 60 / 1024
    printf "# RSS: first %.1f MiB, peak %.1f MiB, last %.1f MiB; bound %d MiB\n", r[1] / 1024, max / 1024, r[NR] / 1024, bound
    printf "# RSS trend over the second half: %+.2f MiB/min\n", slope
    if (max / 1024 > bound) { print "FAIL: RSS over the documented bound"; exit 1 }
    if (slope > 1.0) { print "FAIL: RSS keeps growing"; exit 1 }
  }' "$work/rss"

ok=$(sqlite3 "$work/soak.db" 'PRAGMA integrity_check')
results=$(sqlite3 "$work/soak.db" 'SELECT count(*) FROM results')
echo "# database: integrity_check $ok, $results results"
[ "$ok" = ok ] || { echo "FAIL: integrity_check"; exit 1; }
"$bin" report --db "$work/soak.db" --format text > "$work/report.txt" || [ $? -eq 1 ] || { echo "FAIL: report"; exit 1; }
head -12 "$work/report.txt" | sed 's/^/# report: /'
