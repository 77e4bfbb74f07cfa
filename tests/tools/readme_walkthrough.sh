#!/usr/bin/env bash
# The README's "Use it on your own service" commands, run as written against the fixture
# services: the old service's port 8000 and the new one's 8081 become the fixtures' ports,
# the minute of capture a few seconds with traffic driven meanwhile, and the example ids of
# steps 4 and 5 the ids the report printed. Each command must exit as the README's exit
# codes say. Needs root (capture on lo). Everything started is stopped at exit.
#
# usage: tests/tools/readme_walkthrough.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(cd "$1" && pwd)/shadowdiff
work=$(mktemp -d /tmp/sdiff-readme-XXXXXX)
cleanup() {
  fixtures/services/stop.sh "$work/svc" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

GOCACHE="${GOCACHE:-$work/gocache}" fixtures/services/start.sh "$work/svc" >"$work/start.log" 2>&1 ||
  { cat "$work/start.log"; exit 1; }
. "$work/svc/ports.env"

# the block, one command per line, comments dropped
sed -n '/^## Use it on your own service/,/^```$/p' README.md | sed -n '/^```sh$/,/^```$/p' |
  sed '1d;$d' | grep -v '^#' > "$work/steps"
[ "$(wc -l < "$work/steps")" -eq 5 ] || { echo "walkthrough: expected 5 commands"; exit 1; }
subst() { # the README's placeholders -> this run's values
  sed -e "s|^shadowdiff |'$bin' |" -e "s|--port 8000|--port $LEGACY_PORT|" \
      -e "s|127.0.0.1:8081|127.0.0.1:$CANDIDATE_PORT|" -e "s|--duration 60|--duration 8|" \
      -e "s| 17\$| ${EXAMPLE_ID:-17}|" -e "s| 3fa2c4e1b0d9 | ${CLUSTER_ID:-3fa2c4e1b0d9} |"
}
run_step() { # run_step N EXPECTED_EXIT...
  local n=$1; shift
  local line; line=$(sed -n "${n}p" "$work/steps" | subst)
  set +e
  (cd "$work" && eval "$line") >"$work/out.$n" 2>"$work/err.$n"
  local rc=$?
  set -e
  for ok in "$@"; do [ "$rc" = "$ok" ] && { echo "step $n: exit $rc"; return 0; }; done
  echo "walkthrough: step $n exited $rc: $line"; cat "$work/err.$n"; exit 1
}

# 1. capture, while the old service gets traffic
( sleep 2; /usr/bin/python3 fixtures/services/drive.py --port "$LEGACY_PORT" --requests 1500 \
    --seed 3 --seconds 3 >/dev/null 2>&1 ) &
run_step 1 0
wait
# 2. replay (1: the planted bugs differ); 3. report (1: the verdict fails for them)
run_step 2 1
run_step 3 1
grep -q 'verdict: FAIL' "$work/out.3" || { echo "walkthrough: no verdict"; exit 1; }
ids=$({ "$bin" report --db "$work/results.db" --format json || true; } | /usr/bin/python3 -c \
  'import json,sys; c=json.load(sys.stdin)["clusters"][0]; print(c["examples"][0], c["id"])')
EXAMPLE_ID=${ids% *}
CLUSTER_ID=${ids#* }
# 4. inspect one result of the first cluster; 5. accept that cluster
run_step 4 0
grep -q 'curl ' "$work/out.4" || { echo "walkthrough: inspect gave no curl line"; exit 1; }
run_step 5 0
"$bin" accept --db "$work/results.db" --list | grep -q "$CLUSTER_ID" ||
  { echo "walkthrough: the waiver is not listed"; exit 1; }
echo "walkthrough: ok"
