#!/usr/bin/env bash
# Start-up latency (issue 16): milliseconds from spawning `logferry run` to its first
# acknowledged line being checkpointed, on a file holding one line, for each broker kind:
#   external  `logferry broker` as its own process (flush = "ack"), already listening
#   bundled   brokers = "bundled" (the broker starts inside the agent)
#   mock      librdkafka's mock cluster (bench/mock_cluster.rs), 1 broker
# acks=all + idempotence (the defaults). The checkpoint's first offset > 0 is the first
# acknowledgement (written at once: its leading edge); polled every 2 ms.
#
#   bench/startup.sh [RUNS]        (default 10 per broker kind)
#   LOGFERRY_BIN=PATH              measure this binary (before/after figures)
# Prints one line per broker kind: median, min, max in ms. Never run by cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${LOGFERRY_BIN:-}" ]; then
    cargo build --release --quiet --bin logferry --example mock-cluster
    LOGFERRY_BIN=$TARGET/release/logferry
fi
MOCK=$TARGET/release/examples/mock-cluster
[ -x "$MOCK" ] || cargo build --release --quiet --example mock-cluster
W=$(mktemp -d /var/tmp/logferry-startup.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/logs" "$W/state"
printf '[broker]\nflush = "ack"\n' >"$W/broker.toml"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

config() { # BROKERS [extra]
    cat <<EOF
[agent]
state_dir = "$W/state"
metrics_listen = "127.0.0.1:0"
[output]
brokers = "$1"
[topic.access]
log_base_path = "$W/logs"
base_log_fullpath = "$W/logs/access.log"
log_name_regx = '$W/logs/access.log.*'
topic = "startup"
${2:-}
EOF
}

# One run: ms from spawn to the first acknowledged offset in the checkpoint.
one() {
    rm -rf "$W/state"/* "$W/logs"/* "$W/bdata"
    echo "one line $(date +%s%N)" >"$W/logs/access.log"
    local t0 t1 pid
    t0=$(date +%s%N)
    LOGFERRY_LOG=warn "$LOGFERRY_BIN" run --config "$W/agent.toml" 2>>"$W/agent.log" &
    pid=$!
    local deadline=$((t0 + 10000000000))
    until grep -q '"offset": [1-9]' "$W/state/topic_access" 2>/dev/null; do
        if [ "$(date +%s%N)" -gt $deadline ]; then echo "timeout" >&2; break; fi
        sleep 0.002
    done
    t1=$(date +%s%N)
    kill "$pid"
    wait "$pid" || true
    echo $(((t1 - t0) / 1000000))
}

summary() { # NAME values...
    local name=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v n="$name" '{v[NR]=$1} END {
        printf "%-9s first ack after start: median %d ms, min %d, max %d (%d runs)\n",
            n, v[int((NR+1)/2)], v[1], v[NR], NR }'
}

# external: logferry broker in its own process
port=$(free_port)
"$LOGFERRY_BIN" broker --listen "127.0.0.1:$port" --data-dir "$W/bdata-ext" \
    --config "$W/broker.toml" 2>"$W/broker.log" &
bpid=$!
until grep -q "listening on" "$W/broker.log" 2>/dev/null; do sleep 0.01; done
config "127.0.0.1:$port" >"$W/agent.toml"
vals=()
for _ in $(seq "$RUNS"); do vals+=("$(one)"); done
kill $bpid
wait $bpid || true
summary external "${vals[@]}"

# bundled
config bundled "$(printf '[broker]\nlisten = "127.0.0.1:0"\ndata_dir = "%s/bdata"' "$W")" >"$W/agent.toml"
vals=()
for _ in $(seq "$RUNS"); do vals+=("$(one)"); done
summary bundled "${vals[@]}"

# librdkafka's mock cluster
coproc MOCKC { "$MOCK" startup; }
read -r bootstrap <&"${MOCKC[0]}"
config "$bootstrap" >"$W/agent.toml"
vals=()
for _ in $(seq "$RUNS"); do vals+=("$(one)"); done
summary mock "${vals[@]}"
