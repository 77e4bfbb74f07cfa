#!/bin/bash
# record_lo.sh - record real HTTP/1.x traffic on loopback with tcpdump, for the golden tests.
#
# Usage (as root, or with CAP_NET_RAW for tcpdump):
#   tests/tools/record_lo.sh [OUTDIR]          # default OUTDIR: fixtures/pcap
#
# Writes, each with the expected list the CLIENT side observed (lo_client.py):
#   real_flask_lo.pcap  + .expected.jsonl   tcpdump -i lo   (LINKTYPE_ETHERNET on Linux lo)
#   real_any_sll2.pcap  + .expected.jsonl   tcpdump -i any -y LINUX_SLL2 (skipped, with a
#                                           message, when tcpdump cannot do that)
#
# Servers, all on 127.0.0.1 and free ports chosen at run time:
#   gunicorn (2 gthread workers) running tests/tools/lo_app.py (Flask)
#   /usr/bin/python3 -m http.server --protocol HTTP/1.1   (keep-alive + the pipelined burst)
#   /usr/bin/python3 -m http.server                       (HTTP/1.0, closes after each reply)
# Every process this script starts runs under `timeout` and is stopped by its PID on exit.
# Loopback only; nothing leaves the host. Not deterministic (ports, timestamps, Date headers):
# rerunning replaces the recordings AND their expected lists together.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=$ROOT/tests/tools
OUT=${1:-$ROOT/fixtures/pcap}
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1     # no __pycache__ in tests/tools from gunicorn's import
WORK=$(mktemp -d /tmp/record_lo.XXXXXX)
PIDS=()

log() { printf '[record_lo] %s\n' "$*" >&2; }

stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop on TERM; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    set +e
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

wait_http() { # url
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.1
    done
    log "server at $1 did not come up"
    return 1
}

FLASK_PORT=$(free_port)
H11_PORT=$(free_port)
while [ "$H11_PORT" = "$FLASK_PORT" ]; do H11_PORT=$(free_port); done
H10_PORT=$(free_port)
while [ "$H10_PORT" = "$FLASK_PORT" ] || [ "$H10_PORT" = "$H11_PORT" ]; do
    H10_PORT=$(free_port)
done

mkdir -p "$WORK/docroot" "$OUT"
"$PY" "$TOOLS/lo_client.py" --make-docroot "$WORK/docroot"

log "gunicorn on 127.0.0.1:$FLASK_PORT, http.server HTTP/1.1 on $H11_PORT, HTTP/1.0 on $H10_PORT"
timeout 900 "$PY" -m gunicorn --chdir "$TOOLS" -w 2 -k gthread --threads 4 \
    -b "127.0.0.1:$FLASK_PORT" --log-level warning lo_app:app >"$WORK/gunicorn.log" 2>&1 &
PIDS+=($!)
timeout 900 "$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/docroot" \
    --protocol HTTP/1.1 "$H11_PORT" >"$WORK/h11.log" 2>&1 &
PIDS+=($!)
timeout 900 "$PY" -m http.server --bind 127.0.0.1 --directory "$WORK/docroot" \
    "$H10_PORT" >"$WORK/h10.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FLASK_PORT/api/users/1"
wait_http "http://127.0.0.1:$H11_PORT/small.json"
wait_http "http://127.0.0.1:$H10_PORT/small.json"

FILTER="tcp port $FLASK_PORT or tcp port $H11_PORT or tcp port $H10_PORT"

record() { # name tcpdump-args...
    local name=$1 tpid
    shift
    log "recording $name: tcpdump $* -s 0 -U -w ... '$FILTER'"
    timeout 300 tcpdump "$@" -s 0 -U -w "$WORK/$name.pcap" "$FILTER" 2>"$WORK/$name.tcpdump" &
    tpid=$!
    PIDS+=("$tpid")
    for _ in $(seq 1 100); do
        grep -q 'listening on' "$WORK/$name.tcpdump" && break
        kill -0 "$tpid" 2>/dev/null || { cat "$WORK/$name.tcpdump" >&2; return 1; }
        sleep 0.1
    done
    sleep 0.5
    timeout 180 "$PY" "$TOOLS/lo_client.py" --flask "$FLASK_PORT" --h11 "$H11_PORT" \
        --h10 "$H10_PORT" --out "$WORK/$name.expected.jsonl"
    sleep 1.5                       # let the last FIN/ACKs through
    kill -INT "$tpid"               # timeout(1) passes SIGINT on to tcpdump
    for _ in $(seq 1 50); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$tpid"
    cat "$WORK/$name.tcpdump" >&2
    if ! grep -q '^0 packets dropped by kernel' "$WORK/$name.tcpdump"; then
        log "tcpdump dropped packets; not keeping $name"
        return 1
    fi
    cp "$WORK/$name.pcap" "$OUT/$name.pcap"
    cp "$WORK/$name.expected.jsonl" "$OUT/$name.expected.jsonl"
    log "$name: $(stat -c %s "$OUT/$name.pcap") bytes," \
        "$(wc -l <"$OUT/$name.expected.jsonl") exchanges"
}

record real_flask_lo -i lo

if tcpdump -i any -L 2>&1 | grep -q LINUX_SLL2; then   # tcpdump prints the list on stderr
    record real_any_sll2 -i any -y LINUX_SLL2
else
    log "tcpdump cannot capture LINUX_SLL2 on 'any' here; real_any_sll2 skipped"
fi
log "finished"
