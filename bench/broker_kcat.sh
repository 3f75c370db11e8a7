#!/usr/bin/env bash
# Produce throughput of `kcat -P -l` (acks=all, idempotence) of one corpus into
# `logferry broker` (flush = "ack") and into librdkafka's mock cluster, in one run; peak RSS of
# the broker. Usage: bench/broker_kcat.sh [LINES]   (default 1000000, ~110 bytes each)
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-1000000}
cargo build --release --quiet --bin logferry --example mock-cluster
BIN=target/release/logferry
MOCK=target/release/examples/mock-cluster
WORK=$(mktemp -d)
cleanup() {
  [ -n "${BROKER_PID:-}" ] && pkill -TERM -P "$BROKER_PID" 2>/dev/null
  kill "${MOCK_PID:-}" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
python3 bench/corpus.py "$LINES" "$WORK/corpus"
SIZE=$(stat -c %s "$WORK/corpus")
echo "corpus: $LINES lines, $SIZE bytes ($(( SIZE / LINES )) bytes/line); $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB"
now() { date +%s.%N; }
produce() { # $1 = bootstrap, $2 = label
  local t0 t1
  t0=$(now)
  kcat -P -b "$1" -t bench -X acks=all -X enable.idempotence=true -l "$WORK/corpus"
  t1=$(now)
  python3 -c "print(f'$2: {$LINES/($t1-$t0):,.0f} lines/s ({$SIZE/($t1-$t0)/1e6:.1f} MB/s, {$t1-$t0:.2f} s)')"
}
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/time -v -o "$WORK/broker.time" "$BIN" broker --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" 2>"$WORK/broker.log" &
BROKER_PID=$!
until kcat -L -b "127.0.0.1:$PORT" -m 1 >/dev/null 2>&1; do sleep 0.1; done
produce "127.0.0.1:$PORT" 'kcat -P -l -> logferry broker (flush="ack")'
# BROKER_PID is /usr/bin/time; the broker is its child.
pkill -TERM -P "$BROKER_PID" || true
wait "$BROKER_PID" || true
echo "logferry broker peak RSS: $(awk -F': ' '/Maximum resident/{printf "%.1f MB", $2/1024}' "$WORK/broker.time")"
coproc MOCKP { exec "$MOCK" --brokers 1 bench; }
MOCK_PID=$MOCKP_PID
read -r ADDR <&"${MOCKP[0]}"
produce "$ADDR" 'kcat -P -l -> librdkafka mock cluster'
