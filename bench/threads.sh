#!/usr/bin/env bash
# Where a steady trickle's CPU goes, per thread: one `logferry broker`, one agent section
# following one file, bench/writer.py writing one write(2) per line at RATE for SECS. Prints
# the agent's CPU s per 1M lines, each thread's voluntary context switches (wake-ups) and CPU
# ticks, and the p50/p99 of CreateTime - write stamp (write -> handed to librdkafka).
#   bench/threads.sh [BIN] [MODE=async|sync] [RATE=1000] [SECS=20] [BATCH] [WAIT_MS]
# Options: STRACE=1 (strace -c of the agent), PERF=1 (perf record -g; PF=frequency).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/logferry}; MODE=${2:-async}; RATE=${3:-1000}; SECS=${4:-20}
BATCH=${5:-10000}; WAIT=${6:-5}
W=$(mktemp -d /var/tmp/lf-threads-XXXX)
python3 bench/corpus.py 200000 "$W/corpus" >/dev/null
PORT=$((20000 + RANDOM % 20000))
"$BIN" broker --listen 127.0.0.1:$PORT --data-dir "$W/broker" --http-listen "" 2>"$W/broker.log" &
BP=$!
trap 'kill $BP 2>/dev/null || true' EXIT
sleep 1
mkdir -p "$W/logs"
cat >"$W/cfg.toml" <<CFG
[agent]
state_dir = "$W/state"
metrics_listen = ""
host = "bench"
[output]
brokers = "127.0.0.1:$PORT"
[topic.bench]
log_base_path = "$W/logs"
base_log_fullpath = "$W/logs/access.log"
topic = "steady"
producer_type = "$MODE"
sender_batch_num_messages = $BATCH
sender_waiting_max_ms = $WAIT
CFG
touch "$W/logs/access.log"
"$BIN" run --config "$W/cfg.toml" 2>"$W/agent.log" &
AP=$!
sleep 2
t0=$(awk '{print $14+$15}' /proc/$AP/stat)
N=$((RATE * SECS))
python3 bench/writer.py --out "$W/logs/access.log" --corpus "$W/corpus" --lines $N --rate $RATE \
  --per-line --stamp >/dev/null &
WP=$!
if [ -n "${STRACE:-}" ]; then timeout $((SECS - 2)) strace -c -f -p $AP -o "$W/strace.txt" || true; fi
if [ -n "${PERF:-}" ]; then
  perf record -F "${PF:-999}" -g -p $AP -o "$W/perf.data" -- sleep $((SECS - 2)) 2>/dev/null || true
fi
wait $WP
sleep 1
t1=$(awk '{print $14+$15}' /proc/$AP/stat)
python3 -c "t=($t1-$t0)/$(getconf CLK_TCK); print(f'mode=$MODE rate=$RATE lines=$N cpu_s={t:.2f} cpu_s_per_1M={t/$N*1e6:.1f}')"
for t in /proc/$AP/task/*; do
  echo "$(cat "$t/comm") vcs=$(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status") cpu_ticks=$(awk '{print $14+$15}' "$t/stat")"
done
kill $AP
wait $AP 2>/dev/null || true
kcat -C -b 127.0.0.1:$PORT -t steady -e -q -f '%T %s\n' 2>/dev/null | python3 -c "
import sys
lat = []
for l in sys.stdin:
    p = l.split(' ', 2)
    try:
        lat.append(int(p[0]) - int(p[1]) // 1000000)
    except (ValueError, IndexError):
        pass
s = sorted(lat)
if s:
    print('messages', len(s), 'p50_ms', s[len(s) // 2], 'p99_ms', s[int(len(s) * 0.99)], '(write -> CreateTime)')
"
[ -f "$W/strace.txt" ] && head -25 "$W/strace.txt"
echo "work dir $W"
