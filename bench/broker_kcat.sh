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
cleanup() { kill "${MOCK_PID:-}" "${BROKER_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
python3 - "$LINES" "$WORK/corpus" <<'PY'
import sys, random
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as f:
    for i in range(n):
        f.write(f'10.0.{i%250}.{i%199} - - [21/Nov/2026:10:{i//60%60:02d}:{i%60:02d} +0000] "GET /api/v1/items/{i} HTTP/1.1" 200 {random.randint(100,9999)} "-" "curl/8.5.0 x"\n')
PY
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
kill -TERM $BROKER_PID; wait $BROKER_PID || true
echo "logferry broker peak RSS: $(awk -F': ' '/Maximum resident/{printf "%.1f MB", $2/1024}' "$WORK/broker.time")"
coproc MOCKP { exec "$MOCK" --brokers 1 bench; }
MOCK_PID=$MOCKP_PID
read -r ADDR <&"${MOCKP[0]}"
produce "$ADDR" 'kcat -P -l -> librdkafka mock cluster'
