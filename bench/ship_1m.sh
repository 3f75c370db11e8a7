#!/usr/bin/env bash
# Throughput of one file shipped with acks=-1: logferry (sync and async) next to
# `kcat -P -l` on the same file into the same single-broker mock cluster, in one run.
# Usage: bench/ship_1m.sh [LINES]   (default 1000000; lines are ~110 bytes)
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
cargo build --release --quiet --bin logferry --example mock-cluster
BIN=target/release/logferry
MOCK=target/release/examples/mock-cluster
WORK=$(mktemp -d)
trap 'kill $MOCK_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/logs"
python3 bench/corpus.py "$LINES" "$WORK/logs/access.log"
SIZE=$(stat -c %s "$WORK/logs/access.log")
echo "corpus: $LINES lines, $SIZE bytes ($(( SIZE / LINES )) bytes/line)"

coproc MOCKP { exec "$MOCK" --brokers 1 kcat1m lfsync lfasync; }
MOCK_PID=$MOCKP_PID
read -r ADDR <&"${MOCKP[0]}"
echo "mock cluster: $ADDR"

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):,.0f} lines/s  ({$4/($3-$2)/1e6:.1f} MB/s, {$3-$2:.2f} s)')"; }

t0=$(now)
kcat -P -b "$ADDR" -t kcat1m -X acks=all -X enable.idempotence=true -X linger.ms=5 -l "$WORK/logs/access.log"
t1=$(now)
KCAT=$(python3 -c "print($LINES/($t1-$t0))")
echo "kcat -P -l:        $(rate "$LINES" "$t0" "$t1" "$SIZE")"

run_logferry() { # $1 = producer_type, $2 = topic
    local dir="$WORK/$1"
    rm -rf "$dir"; mkdir -p "$dir"
    cat > "$dir/cfg.toml" <<CFG
[agent]
state_dir = "$dir/state"
[output]
brokers = "$ADDR"
[topic.bench]
log_base_path = "$WORK/logs"
base_log_fullpath = "$WORK/logs/access.log"
topic = "$2"
producer_type = "$1"
sender_batch_num_messages = ${BATCH:-10000}
sender_waiting_max_ms = 5
CFG
    local t0 t1
    t0=$(now)
    LOGFERRY_LOG=warn "$BIN" run --config "$dir/cfg.toml" &
    local pid=$!
    until python3 - "$dir/state/topic_bench" "$SIZE" <<'PY' 2>/dev/null
import json, sys
cp = json.load(open(sys.argv[1]))
sys.exit(0 if any(f["offset"] == int(sys.argv[2]) for f in cp["files"]) else 1)
PY
    do sleep 0.02; done
    t1=$(now)
    kill -TERM $pid; wait $pid
    echo "logferry $1 (batch ${BATCH:-10000}): $(rate "$LINES" "$t0" "$t1" "$SIZE")  ratio vs kcat: $(python3 -c "print(f'{$LINES/($t1-$t0)/$KCAT:.2f}')")"
}
run_logferry sync lfsync
run_logferry async lfasync
