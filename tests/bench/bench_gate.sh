#!/usr/bin/env bash
# Gate wall time for 1000 sampled requests next to a plain keep-alive client sending the
# same requests to the same two services (primary and candidate) with the same concurrency,
# in the same run. The fixture services run on loopback.
#
# usage: tests/bench/bench_gate.sh [BUILD_DIR] [SAMPLE]
set -euo pipefail
build=${1:-build}
n=${2:-1000}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(realpath "$build/shadowdiff")
work=$(mktemp -d /tmp/sdiff-bench-XXXXXX)
cap=
trap '[ -n "$cap" ] && kill "$cap" 2>/dev/null; "$here/fixtures/services/stop.sh" "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
GOCACHE="${GOCACHE:-$here/$build/gocache}" "$here/fixtures/services/start.sh" "$work" >/dev/null
. "$work/ports.env"

# a corpus of real traffic
"$bin" capture --interface lo --port "$LEGACY_PORT" --out "$work/corpus.db" 2>"$work/cap.err" & cap=$!
for _ in $(seq 50); do grep -q listening "$work/cap.err" && break; sleep 0.1; done
/usr/bin/python3 "$here/fixtures/services/drive.py" --port "$LEGACY_PORT" --requests 3000 --seed 3 >/dev/null
sleep 1; kill -INT "$cap"; wait "$cap" || true; cap=

P="http://127.0.0.1:$LEGACY_PORT" C="http://127.0.0.1:$CANDIDATE_PORT"
start=$(date +%s.%N)
"$bin" gate --corpus "$work/corpus.db" --primary "$P" --candidate "$C" --sample "$n" \
  --concurrency 16 --db "$work/gate.db" >/dev/null 2>"$work/gate.err" || true
gate_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

# the same requests, to both services, by a plain Python keep-alive client, 16 threads
plain_s=$(/usr/bin/python3 - "$work/gate.db" "$LEGACY_PORT" "$CANDIDATE_PORT" <<'PY'
import http.client, queue, sqlite3, sys, threading, time
db, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
reqs = sqlite3.connect(db).execute("SELECT method, target FROM results").fetchall()
work = queue.Queue()
for m, t in reqs:
    for p in ports:
        work.put((p, m, t))
def run():
    conns = {}
    while True:
        try:
            p, m, t = work.get_nowait()
        except queue.Empty:
            return
        c = conns.get(p) or conns.setdefault(p, http.client.HTTPConnection("127.0.0.1", p))
        c.request(m, t)
        c.getresponse().read()
start = time.time()
ts = [threading.Thread(target=run) for _ in range(16)]
[t.start() for t in ts]; [t.join() for t in ts]
print("%.2f" % (time.time() - start))
PY
)
echo "# $(tail -1 "$work/gate.err" | cut -c1-150)"
printf '%-52s %8s\n' what seconds
printf '%-52s %8s\n' "shadowdiff gate --sample $n (sample, replay, diff, store, report)" "$gate_s"
printf '%-52s %8s\n' "python keep-alive client, same requests to both" "$plain_s"
awk -v a="$gate_s" -v b="$plain_s" 'BEGIN { printf "# gate takes %.2fx the plain client\n", a / b }'
