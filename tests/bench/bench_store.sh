#!/usr/bin/env bash
# Results store speed, PostgreSQL against SQLite in the same run on the same machine:
# - writing: 4 writers at once into one PostgreSQL database (one named run, as a fleet
#   writes it) against 4 writers each into a SQLite file of its own; results per second per
#   writer and the ratio (target: at least 50%);
# - reading: `report --format json` on that PostgreSQL run against `report` on the same run
#   merged into a SQLite file (the same rows); seconds and the ratio (target: within 2x).
#
# usage: tests/bench/bench_store.sh [BUILD_DIR] [RESULTS_PER_WRITER]
#
# BUILD_DIR is a Release/RelWithDebInfo build without sanitizers (its lib/libshadowdiff.a is
# linked). PostgreSQL is a throwaway cluster of Debian's postgresql (`pg_config --bindir`),
# run as the postgres user in a temporary directory with its defaults (fsync on), stopped
# by its PID at the end. Needs root (to run as postgres).
set -euo pipefail
build=$(realpath "${1:-build}")
n=${2:-200000}
writers=4
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/sdiff-bench-XXXXXX)
pgpid=
cleanup() {
    if [ -n "$pgpid" ]; then kill -INT "$pgpid" 2>/dev/null || true; wait "$pgpid" 2>/dev/null || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

deps="sqlite3 libpq jansson zlib libcrypto libpcap libcurl libbrotlidec libmicrohttpd"
# shellcheck disable=SC2046
${CC:-cc} -O2 -std=c11 -I"$root/include" "$here/bench_store.c" "$build/lib/libshadowdiff.a" \
    $(pkg-config --libs $deps) -lpthread -lm -o "$work/bench_store"

bindir=$(pg_config --bindir)
chown postgres:postgres "$work" && chmod 0700 "$work"
setpriv --reuid=postgres --regid=postgres --clear-groups "$bindir/initdb" -D "$work/data" \
    -A trust -U postgres -E UTF8 --locale=C >"$work/initdb.log" 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setpriv --reuid=postgres --regid=postgres --clear-groups "$bindir/postgres" -D "$work/data" \
    -p "$port" -k "$work" -c listen_addresses=127.0.0.1 >"$work/postgres.log" 2>&1 &
pgpid=$!
for _ in $(seq 300); do "$bindir/pg_isready" -q -h "$work" -p "$port" && break; sleep 0.1; done
"$bindir/psql" -X -q -h "$work" -p "$port" -U postgres -d postgres -c "CREATE DATABASE bench"
url="postgresql://postgres@127.0.0.1:$port/bench"
# the schema first, so that the writers measure writing
"$work/bench_store" "$url" 1 warmup >/dev/null

run4() { # run4 NAME TARGET...: 4 writers at once; prints each one's results/s
    local name=$1; shift
    local pids=() i=0
    for t in "$@"; do
        "$work/bench_store" "$t" "$n" "$name" >"$work/out.$i" &
        pids+=($!)
        i=$((i + 1))
    done
    for p in "${pids[@]}"; do wait "$p"; done
    cat "$work"/out.*
    rm -f "$work"/out.*
}

pg=$(run4 fleet "$url" "$url" "$url" "$url")
lite=$(run4 fleet "$work/w0.db" "$work/w1.db" "$work/w2.db" "$work/w3.db")
stored=$("$bindir/psql" -X -q -A -t -h "$work" -p "$port" -U postgres -d bench \
         -c "SELECT count(*) FROM results r JOIN runs u ON u.id = r.run_id WHERE u.name = 'fleet'")
[ "$stored" = $((writers * n)) ] || { echo "PostgreSQL holds $stored results, not $((writers * n))" >&2; exit 1; }

# the same run in a SQLite file, for report
"$build/shadowdiff" merge --into "$work/fleet.db" "$url" --run fleet 2>/dev/null
measure() { /usr/bin/time -f "%e" -o "$work/t" "$@" >/dev/null 2>&1 || true; tail -n 1 "$work/t"; }
rep_pg=$(measure "$build/shadowdiff" report --db "$url" --run fleet --format json)
rep_lite=$(measure "$build/shadowdiff" report --db "$work/fleet.db" --run fleet --format json)

avg() { awk '{ s += $1 } END { printf "%.0f", s / NR }'; }
pg_rate=$(echo "$pg" | avg)
lite_rate=$(echo "$lite" | avg)
printf '%-46s %12s\n' "$writers writers x $n results" "results/s per writer"
printf '%-46s %12s\n' "PostgreSQL (one database, one named run)" "$pg_rate"
printf '%-46s %12s\n' "SQLite (a file per writer)" "$lite_rate"
awk -v a="$pg_rate" -v b="$lite_rate" \
    'BEGIN { printf "# PostgreSQL writes at %.0f%% of SQLite'"'"'s per-writer rate (target: 50%%)\n", 100 * a / b }'
printf '%-46s %12s\n' "report on $((writers * n)) results" "seconds"
printf '%-46s %12s\n' "PostgreSQL" "$rep_pg"
printf '%-46s %12s\n' "SQLite (the same run, merged into a file)" "$rep_lite"
awk -v a="$rep_pg" -v b="$rep_lite" \
    'BEGIN { printf "# report on PostgreSQL takes %.2fx the time of SQLite (target: within 2x)\n", a / b }'
