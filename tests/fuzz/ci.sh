#!/usr/bin/env bash
# Short libFuzzer run of every fuzz target, for CI: a fixed number of inputs each, starting
# from the seeds that tests/fuzz/seeds.sh makes from fixtures/, with a fixed random seed.
# Any crash, sanitizer report, broken check, leak, timeout or out-of-memory fails the run.
#
#   tests/fuzz/ci.sh BUILD_DIR [RUNS [TARGET...]]
#
# BUILD_DIR was configured with -DSDIFF_FUZZ=ON -DCMAKE_C_COMPILER=clang and built (target
# "fuzzers"). RUNS defaults to 20000; TARGET defaults to all of them. Logs, corpora and any
# crashing input go to BUILD_DIR/fuzz-ci/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:?usage: tests/fuzz/ci.sh BUILD_DIR [RUNS [TARGET...]]}" && pwd)"
runs="${2:-20000}"
shift $(($# < 2 ? $# : 2))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(packets reasm http1 codec jdiff rules msg_read pcapng text)

# Input size caps keep every target in the thousands of runs a second (README.md here).
max_len() {
  case "$1" in
    packets | msg_read | pcapng) echo 8192 ;;
    http1) echo 2048 ;;
    *) echo 4096 ;;
  esac
}

work="$build/fuzz-ci"
rm -rf "$work"
mkdir -p "$work"
"$root/tests/fuzz/seeds.sh" "$work/seeds" > /dev/null

status=0
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz_$t: not built ($exe); configure with -DSDIFF_FUZZ=ON and build target fuzzers"
    status=1
    continue
  fi
  opts=(-runs="$runs" -max_len="$(max_len "$t")" -seed=1 -timeout=60 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$work/$t-")
  [ -f "$root/tests/fuzz/$t.dict" ] && opts+=(-dict="$root/tests/fuzz/$t.dict")
  mkdir -p "$work/corpus/$t"
  start=$(date +%s)
  if "$exe" "${opts[@]}" "$work/corpus/$t" "$work/seeds/$t" > "$work/$t.log" 2>&1; then
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t.log")
    echo "fuzz_$t: ok, $runs runs in $(($(date +%s) - start)) s ($rate/s)"
  else
    echo "fuzz_$t: FAILED (log $work/$t.log, input $work/$t-*)"
    tail -n 30 "$work/$t.log"
    status=1
  fi
done
exit $status
