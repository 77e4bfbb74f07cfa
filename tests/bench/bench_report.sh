#!/usr/bin/env bash
# Report speed on a synthetic results database of a million exchanges, next to a Python
# equivalent (sqlite3 module: the same per-route counts and latency percentiles) on the same
# file in the same run.
#
# usage: tests/bench/bench_report.sh [BUILD_DIR] [ROWS]
set -euo pipefail
build=${1:-build}
rows=${2:-1000000}
bin=$(realpath "$build/shadowdiff")
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/sdiff-bench-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
db="$work/big.db"

# the schema, from the tool itself
"$bin" capture --pcap "$here/fixtures/pcap/basic_keepalive.pcap" --out "$db" 2>/dev/null
start=$(date +%s.%N)
sqlite3 "$db" <<SQL
PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
INSERT INTO runs(kind, candidate) VALUES('mirror', 'http://127.0.0.1:9');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO results(run_id, method, route, target, class, primary_status, candidate_status,
                    primary_ms, candidate_ms, bytes_equal, ndiffs, t_req_start)
SELECT 1, 'GET', '/api/r' || (i % 40) || '/{id}', '/api/r' || (i % 40) || '/' || i,
       CASE WHEN i % 997 = 0 THEN 'different' WHEN i % 13 = 0 THEN 'equivalent'
            WHEN i % 5003 = 0 THEN 'error' ELSE 'identical' END,
       200, 200, 5 + (i * 7919 % 1000) / 10.0, 6 + (i * 104729 % 1000) / 9.0,
       i % 13 <> 0, i % 997 = 0, 1700000000000000 + i * 1000
FROM n;
INSERT INTO differences(result_id, idx, path, kind, primary_value, candidate_value)
SELECT id, 0, '\$.items[' || (id % 7) || '].price', 'changed', '1.5', '1.50001'
FROM results WHERE class = 'different';
SQL
echo "# built $rows results in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s ($(du -h "$db" | cut -f1))"

measure() { /usr/bin/time -f '%e' -o "$work/t" "$@" >/dev/null 2>&1 || true; cat "$work/t"; }
sd=$(measure "$bin" report --db "$db" --format json)
py=$(measure /usr/bin/python3 - "$db" <<'PY'
import sqlite3, sys, collections
db = sqlite3.connect(sys.argv[1])
counts = collections.defaultdict(collections.Counter)
for route, cls, n in db.execute("SELECT route, class, count(*) FROM results WHERE run_id = 1 GROUP BY 1, 2"):
    counts[route][cls] = n
for col in ("primary_ms", "candidate_ms"):
    cur, vals = None, []
    def pct(v):
        return [v[min(len(v) - 1, int(len(v) * p))] for p in (0.5, 0.95, 0.99)] if v else []
    for route, ms in db.execute(f"SELECT route, {col} FROM results WHERE run_id = 1 AND {col} IS NOT NULL ORDER BY route, {col}"):
        if route != cur:
            pct(vals); cur, vals = route, []
        vals.append(ms)
    pct(vals)
clusters = collections.Counter(db.execute("SELECT r.route || ' ' || d.path || ' ' || d.kind FROM differences d JOIN results r ON r.id = d.result_id WHERE r.run_id = 1").fetchall())
PY
)
printf '%-42s %8s\n' tool seconds
printf '%-42s %8s\n' "shadowdiff report --format json" "$sd"
printf '%-42s %8s\n' "python3 sqlite3: counts + percentiles only" "$py"
awk -v a="$sd" -v b="$py" 'BEGIN { printf "# shadowdiff report takes %.2fx the time of the Python subset\n", a / b }'
