#!/usr/bin/env bash
# The main job on the embedded default, as the README's first command runs it: the fixture
# services on loopback (legacy Flask primary and secondary, the Go candidate), shadowdiff
# mirror on lo, 2000 requests of real keep-alive traffic, then parity per route from the
# SQLite results. Needs root (capture on lo). Everything started is stopped at exit.
#
# usage: tests/tools/demo.sh [BUILD_DIR] [DB]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
db=${2:-shadowdiff-demo.db}
work=$(mktemp -d /tmp/sdiff-demo-XXXXXX)
mirror=
cleanup() {
  [ -n "$mirror" ] && kill "$mirror" 2>/dev/null || true
  fixtures/services/stop.sh "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rm -f "$db" "$db-wal" "$db-shm"

echo "== starting the legacy service (primary, secondary) and its Go port on 127.0.0.1"
GOCACHE="${GOCACHE:-$PWD/$build/gocache}" fixtures/services/start.sh "$work" >"$work/start.log" 2>&1 ||
  { cat "$work/start.log"; exit 1; }
. "$work/ports.env"
echo "   legacy :$LEGACY_PORT  secondary :$SECONDARY_PORT  candidate :$CANDIDATE_PORT"

echo "== shadowdiff mirror on lo, replaying to the candidate"
"$build/shadowdiff" mirror --interface lo --port "$LEGACY_PORT" \
  --candidate "http://127.0.0.1:$CANDIDATE_PORT" --secondary "http://127.0.0.1:$SECONDARY_PORT" \
  --db "$db" 2>"$work/mirror.err" &
mirror=$!
for _ in $(seq 100); do grep -q listening "$work/mirror.err" && break; sleep 0.1; done

echo "== 2000 requests of user traffic to the legacy service"
/usr/bin/python3 fixtures/services/drive.py --port "$LEGACY_PORT" --requests 2000 --seed 1
sleep 2
kill -INT "$mirror"
wait "$mirror" || true
mirror=
grep -v 'mirror: [0-9]*s ' "$work/mirror.err" || true

echo "== parity per route (from $db)"
sqlite3 -header -column "$db" "
  SELECT route,
         count(*) AS samples,
         sum(class = 'identical') AS identical,
         sum(class = 'equivalent') AS equivalent,
         sum(class = 'different') AS different,
         sum(class = 'error') AS errors,
         sum(class = 'skipped') AS skipped,
         CASE WHEN sum(class IN ('identical', 'equivalent', 'different')) = 0 THEN '-'
              ELSE printf('%.1f%%', 100.0 * sum(class IN ('identical', 'equivalent')) /
                          sum(class IN ('identical', 'equivalent', 'different'))) END AS parity
  FROM results GROUP BY route ORDER BY different DESC, route;"
echo "== the differences behind them"
sqlite3 -header -column "$db" "
  SELECT r.route, d.path, d.kind, count(*) AS n,
         substr(min(d.primary_value), 1, 30) AS primary_value,
         substr(min(d.candidate_value), 1, 30) AS candidate_value
  FROM differences d JOIN results r ON r.id = d.result_id
  GROUP BY r.route, d.path, d.kind ORDER BY n DESC LIMIT 15;"
