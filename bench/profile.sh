#!/usr/bin/env bash
# Profile logferry in scenario 1 (one file of LINES lines, acks=all, idempotence) against
# librdkafka's mock cluster with `perf record -g`, and print the top of the report.
#
#   bench/profile.sh [sync|async] [LINES] [BATCH] [WAIT_MS]     (default async 1000000 10000 5)
#   REPS=N  ship the file N times in a row under one perf session (default 3), for more samples
#
# Needs perf (Debian: linux-perf). Output: $WORK/perf.data, $WORK/report.txt (children and
# self), where WORK defaults to a new /var/tmp/logferry-profile-* directory.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-async}
LINES=${2:-1000000}
BATCH=${3:-10000}
WAIT_MS=${4:-5}
REPS=${REPS:-3}
TARGET=${CARGO_TARGET_DIR:-target}
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }
# Frame pointers are not needed: perf uses DWARF unwinding (--call-graph dwarf) below.
cargo build --release --quiet --bin logferry --example mock-cluster --example bench-probe
BIN=$TARGET/release/logferry
WORK=${WORK:-$(mktemp -d /var/tmp/logferry-profile-XXXX)}
mkdir -p "$WORK/logs"
[ -s "$WORK/corpus" ] || python3 bench/corpus.py "$LINES" "$WORK/corpus"
coproc MOCKP { exec "$TARGET/release/examples/mock-cluster" --brokers 1 $(seq -f 'prof%g' 1 "$REPS"); }
trap 'kill $MOCKP_PID 2>/dev/null || true' EXIT
read -r ADDR <&"${MOCKP[0]}"

cfg() { # $1 = rep
    cat > "$WORK/cfg$1.toml" <<CFG
[agent]
state_dir = "$WORK/state$1"
metrics_listen = ""
host = "bench"
[output]
brokers = "$ADDR"
[topic.bench]
log_base_path = "$WORK/logs"
base_log_fullpath = "$WORK/logs/access.log"
topic = "prof$1"
producer_type = "$MODE"
sender_batch_num_messages = $BATCH
sender_waiting_max_ms = $WAIT_MS
CFG
}
ln -f "$WORK/corpus" "$WORK/logs/access.log"
# One script under perf: each rep starts the agent, waits for the topic's high watermark to
# reach LINES (bench-probe), stops it.
cat > "$WORK/reps.sh" <<'SH'
set -eu
for r in $(seq 1 "$REPS"); do
    rm -rf "$WORK/state$r"
    LOGFERRY_LOG=warn "$BIN" run --config "$WORK/cfg$r.toml" &
    pid=$!
    t0=$(date +%s.%N)
    ns=$("$PROBE" watch --brokers "$ADDR" --topic "prof$r" --until "$LINES" </dev/null | tail -1 | cut -d' ' -f1)
    echo "rep $r: $(python3 -c "print(f'{$LINES/($ns/1e9-$t0):,.0f} lines/s')")" >&2
    kill -TERM $pid; wait $pid || true
done
SH
for r in $(seq 1 "$REPS"); do cfg "$r"; done
export WORK BIN ADDR LINES REPS PROBE=$TARGET/release/examples/bench-probe
perf record -F 499 --call-graph dwarf,8192 -o "$WORK/perf.data" -- bash "$WORK/reps.sh" 2>&1 | grep -v '^\[ perf' >&2 || true
perf report -i "$WORK/perf.data" --comm logferry --no-children --percent-limit 1 --stdio \
    -g none 2>/dev/null | grep -v '^$' > "$WORK/report.txt" || true
perf report -i "$WORK/perf.data" --comm logferry --children --percent-limit 3 --stdio \
    -g none 2>/dev/null | grep -v '^$' > "$WORK/report-children.txt" || true
echo "== self (logferry process, all threads), top entries; full: $WORK/report.txt"
grep -v '^#' "$WORK/report.txt" | head -40
echo "== per thread"
perf report -i "$WORK/perf.data" --comm logferry --sort tid --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
