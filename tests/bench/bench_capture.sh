#!/usr/bin/env bash
# Capture throughput benchmark: shadowdiff capture --pcap FILE --out - against tshark -Y http,
# tcpflow, and the read floor (tcpdump -r FILE -w /dev/null), on the same file in the same run.
#
# usage: tests/bench/bench_capture.sh [BUILD_DIR] [EXCHANGES]
#
# Records a loopback capture of nginx serving a 4 KiB JSON file under wrk (keep-alive, 16
# connections) until it holds at least EXCHANGES (default 100000) exchanges, then times each
# tool and reports exchanges/s, peak RSS and the ratios. Needs root (tcpdump on lo) and the
# packages of .ci/packages-bench. Everything runs on 127.0.0.1 and is stopped at exit.
set -euo pipefail
build=${1:-build}
want=${2:-100000}
bin=$(realpath "$build/shadowdiff")
work=$(mktemp -d /tmp/sdiff-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. "$(dirname "$0")/nginx.sh"
/usr/bin/python3 - "$work/items.json" <<'PY'
import json, sys
items = [{"id": i, "name": "item-%d" % i, "price": i * 1.25, "tags": ["a", "b"]} for i in range(60)]
open(sys.argv[1], "w").write(json.dumps({"items": items})[:4096].ljust(4096))
PY
start_nginx "$work" "$work/items.json"

pcap="$work/bench.pcap"
tcpdump -i lo -s 0 -B 262144 -w "$pcap" "tcp port $port" 2>"$work/tcpdump.err" & tcpdump_pid=$!; pids+=($tcpdump_pid)
sleep 1
secs=$(( want / 15000 + 2 ))
wrk -t2 -c16 -d"${secs}s" "http://127.0.0.1:$port/items.json" > "$work/wrk.out"
sleep 1
kill -INT $tcpdump_pid; wait $tcpdump_pid 2>/dev/null || true
grep -E 'requests in|captured|dropped' "$work/wrk.out" "$work/tcpdump.err" | sed 's/^/# /'
size=$(stat -c %s "$pcap")

# time one command: prints "seconds peak_rss_kib"
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" || true
  cat "$work/time.out" | tail -1
}
n_ex=$("$bin" capture --pcap "$pcap" --port $port --out - 2>"$work/sd.err" | wc -l)
echo "# file: $((size / 1000000)) MB, $n_ex exchanges recovered by shadowdiff"
echo "# shadowdiff summary: $(cat "$work/sd.err")"

printf '%-34s %10s %14s %12s %10s\n' tool seconds exchanges/s peak_MiB vs_floor
row() { # name seconds rss
  local name=$1 s=$2 rss=$3
  local rate ratio
  rate=$(awk -v n="$n_ex" -v s="$s" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  ratio=$(awk -v s="$s" -v f="$floor" 'BEGIN { printf "%.2fx", (f > 0 ? s / f : 0) }')
  printf '%-34s %10s %14s %12s %10s\n' "$name" "$s" "$rate" "$((rss / 1024))" "$ratio"
}
read -r floor floor_rss < <(measure tcpdump -r "$pcap" -w /dev/null)
row "tcpdump -r -w /dev/null (floor)" "$floor" "$floor_rss"
read -r sd sd_rss < <(measure "$bin" capture --pcap "$pcap" --port $port --out -)
row "shadowdiff capture --out -" "$sd" "$sd_rss"
read -r sddb sddb_rss < <(measure "$bin" capture --pcap "$pcap" --port $port --out "$work/c.db")
row "shadowdiff capture --out FILE.db" "$sddb" "$sddb_rss"
mkdir -p "$work/flow"
read -r tf tf_rss < <(measure tcpflow -r "$pcap" -o "$work/flow")
row "tcpflow -r" "$tf" "$tf_rss"
if [ "${SKIP_TSHARK:-0}" != 1 ]; then
  read -r ts ts_rss < <(measure tshark -r "$pcap" -Y http -T fields -e http.request.method -e http.response.code)
  row "tshark -Y http" "$ts" "$ts_rss"
  awk -v a="$ts" -v b="$sd" 'BEGIN { printf "# shadowdiff is %.1fx faster than tshark\n", a / b }'
fi

# Peak memory must not grow with the file: half the file against the whole.
packets=$(capinfos -c -M "$pcap" 2>/dev/null | awk '/Number of packets/ {print $NF}')
if [ -n "$packets" ]; then
  tcpdump -r "$pcap" -c $((packets / 2)) -w "$work/half.pcap" 2>/dev/null
  read -r _ half_rss < <(measure "$bin" capture --pcap "$work/half.pcap" --port $port --out -)
  echo "# peak RSS: half file $((half_rss / 1024)) MiB, whole file $((sd_rss / 1024)) MiB"
fi
