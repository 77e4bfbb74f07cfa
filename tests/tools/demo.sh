#!/usr/bin/env bash
# The main job on the embedded default, as the README's first command runs it: the fixture
# services on loopback (legacy Flask primary and secondary, the Go candidate), shadowdiff
# mirror on lo, 5000 requests of real keep-alive traffic, then parity per route from the
# SQLite results: the busiest routes where the candidate matches get enough samples (381 or
# more without a difference) to be ready, the planted bugs are blocked, and the run fails for
# them. Needs root (capture on lo). Everything started is stopped at exit.
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

# capture on lo needs root or CAP_NET_RAW on the binary: say so before starting anything
if [ "$(id -u)" != 0 ] &&
   ! { command -v getcap >/dev/null && getcap "$build/shadowdiff" 2>/dev/null | grep -q cap_net_raw; }; then
  echo "demo: the demo captures on lo, which needs root or CAP_NET_RAW on the binary:" >&2
  echo "demo:   sudo tests/tools/demo.sh $build   or   sudo setcap cap_net_raw+ep $build/shadowdiff" >&2
  exit 2
fi
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
if ! kill -0 "$mirror" 2>/dev/null || ! grep -q listening "$work/mirror.err"; then
  echo "demo: shadowdiff mirror did not start:" >&2
  cat "$work/mirror.err" >&2
  exit 1
fi

echo "== 5000 requests of user traffic to the legacy service"
/usr/bin/python3 fixtures/services/drive.py --port "$LEGACY_PORT" --requests 5000 --seed 1 --seconds 3
sleep 2
kill -INT "$mirror"
wait "$mirror" || true
mirror=
grep -v 'mirror: [0-9]*s ' "$work/mirror.err" || true

echo "== shadowdiff report --db $db"
"$build/shadowdiff" report --db "$db" || true
echo
echo "Look closer: $build/shadowdiff inspect --db $db ID  (an example id from a cluster above)"
