#!/usr/bin/env bash
# Interop checks of `logferry broker` against kcat (librdkafka), kafka-python, Go sarama (Debian's,
# default protocol version and 2.1.0), kafkajs (npm) and LinkedIn's Burrow (Debian's, with a
# ZooKeeper it needs for itself) reading the group's lag from __consumer_offsets.
# Usage: tests/interop/run.sh path/to/logferry   (after `cargo build --release`)
# Prints one line per check and a closing "N passed, M failed"; exits non-zero on any failure.
set -u
BIN=${1:?usage: run.sh path/to/logferry}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PASSED=0
FAILED=0
BROKER_PID=""
ZK_PID=""
BURROW_PID=""

pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $1"; }
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}

stop_broker() {
    if [ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null; then
        kill -TERM "$BROKER_PID"
        wait "$BROKER_PID"
        local rc=$?
        BROKER_PID=""
        return $rc
    fi
    BROKER_PID=""
    return 0
}

cleanup() {
    for p in $BURROW_PID $ZK_PID; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stop_broker >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v kcat >/dev/null || { echo "kcat not found"; echo "0 passed, 1 failed"; exit 1; }

cat >"$WORK/logferry.toml" <<TOML
[broker]
num_partitions = 3
group_initial_rebalance_delay_ms = 200
TOML

"$BIN" broker --listen 127.0.0.1:0 --data-dir "$WORK/data" --config "$WORK/logferry.toml" \
    2>"$WORK/broker.log" &
BROKER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
    ADDR=$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$WORK/broker.log" | head -1)
    [ -n "$ADDR" ] && break
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ADDR" ]; then
    cat "$WORK/broker.log"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "broker at $ADDR (pid $BROKER_PID)"

# kcat -L: metadata lists this broker.
kcat -b "$ADDR" -L >"$WORK/meta.txt" 2>&1
check "kcat -L lists broker 0" grep -q "broker 0 at $ADDR" "$WORK/meta.txt"

# kcat -P with acks=all + idempotence; topic auto-created with 3 partitions.
seq -f "kcat-line-%06g" 1 5000 >"$WORK/lines.txt"
kcat -b "$ADDR" -P -t kcat-topic -X acks=all -X enable.idempotence=true -l "$WORK/lines.txt"
check "kcat -P exit status" test $? -eq 0
kcat -b "$ADDR" -L -t kcat-topic >"$WORK/meta2.txt" 2>&1
check "kcat -L shows 3 partitions" grep -q 'with 3 partitions' "$WORK/meta2.txt"

# kcat -C from the beginning: every line back, content compared.
timeout 60 kcat -b "$ADDR" -C -t kcat-topic -o beginning -e -q >"$WORK/read.txt" 2>"$WORK/read.err"
check "kcat -C reads every line" cmp -s <(sort "$WORK/lines.txt") <(sort "$WORK/read.txt")
# Per partition, the order of the input is kept.
ok=1
for p in 0 1 2; do
    timeout 60 kcat -b "$ADDR" -C -t kcat-topic -p "$p" -o beginning -e -q >"$WORK/p$p.txt" 2>/dev/null
    cmp -s "$WORK/p$p.txt" <(sort "$WORK/p$p.txt") || ok=0
done
check "kcat -C per-partition order" test $ok -eq 1

# kcat -C -G: a consumer group reads everything, commits; a second run resumes after it.
timeout 60 kcat -b "$ADDR" -G kcat-group kcat-topic -o beginning -e -q \
    -X auto.offset.reset=earliest >"$WORK/group1.txt" 2>"$WORK/group1.err"
check "kcat -G reads every line" cmp -s <(sort "$WORK/lines.txt") <(sort "$WORK/group1.txt")
seq -f "kcat-more-%06g" 1 300 >"$WORK/more.txt"
kcat -b "$ADDR" -P -t kcat-topic -X acks=all -l "$WORK/more.txt"
timeout 60 kcat -b "$ADDR" -G kcat-group kcat-topic -e -q \
    -X auto.offset.reset=earliest >"$WORK/group2.txt" 2>"$WORK/group2.err"
check "kcat -G resumes at committed offsets" cmp -s <(sort "$WORK/more.txt") <(sort "$WORK/group2.txt")

# kafka-python: producer + consumer group + committed offsets.
if python3 -c 'import kafka' 2>/dev/null; then
    python3 "$HERE/kafka_python_check.py" "$ADDR" >"$WORK/py.txt" 2>"$WORK/py.err"
    pyrc=$?
    while read -r line; do
        case "$line" in
        PASS*) pass "kafka-python: ${line#PASS }" ;;
        FAIL*) fail "kafka-python: ${line#FAIL }" ;;
        esac
    done <"$WORK/py.txt"
    if [ $pyrc -ne 0 ] && ! grep -q '^FAIL' "$WORK/py.txt"; then
        tail -20 "$WORK/py.err"
        fail "kafka-python script exit status $pyrc"
    fi
else
    fail "kafka-python not installed (pip install kafka-python)"
fi

# Lines "PASS x" / "FAIL x" of a check program, prefixed with its name.
collect() { # collect NAME FILE EXIT_STATUS ERRFILE
    local name=$1 out=$2 rc=$3 err=$4
    while read -r line; do
        case "$line" in
        PASS*) pass "$name: ${line#PASS }" ;;
        FAIL*) fail "$name: ${line#FAIL }" ;;
        esac
    done <"$out"
    if [ "$rc" -ne 0 ] && ! grep -q '^FAIL' "$out"; then
        tail -20 "$err"
        fail "$name exit status $rc"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Go sarama (Debian's golang-github-shopify-sarama-dev, GOPATH mode, no network): produce
# acks=all (plain, gzip), consume, commit through the offset manager (OffsetCommit v1) and
# resume, ClusterAdmin.ListTopics; at 2.1.0 also a consumer group: read all + commit, restart
# resumes, a second member rebalances.
if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/Shopify/sarama ]; then
    if (cd "$HERE/sarama" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$WORK/gocache" \
        go build -o "$WORK/sarama-check" . 2>"$WORK/go-build.err"); then
        for v in default 2.1.0; do
            timeout 180 "$WORK/sarama-check" "$ADDR" "$v" "sarama-$v" >"$WORK/sarama-$v.txt" 2>"$WORK/sarama-$v.err"
            collect "sarama $v" "$WORK/sarama-$v.txt" $? "$WORK/sarama-$v.err"
        done
    else
        grep -v -e zstd -e ZSTD -e cgo-gcc "$WORK/go-build.err" | tail -20
        fail "sarama check builds"
    fi
else
    fail "go + sarama not installed (apt-get install golang-go golang-github-shopify-sarama-dev)"
fi

# kafkajs (npm, pinned by package-lock.json): admin createTopics/listTopics/fetchOffsets/
# describeGroups, producer, consumer group, resume.
if command -v npm >/dev/null; then
    mkdir -p "$WORK/kafkajs"
    cp "$HERE/kafkajs/package.json" "$HERE/kafkajs/package-lock.json" "$HERE/kafkajs/check.js" "$WORK/kafkajs/"
    if (cd "$WORK/kafkajs" && npm ci --no-audit --no-fund --silent >"$WORK/npm.log" 2>&1); then
        timeout 180 node "$WORK/kafkajs/check.js" "$ADDR" >"$WORK/kafkajs.txt" 2>"$WORK/kafkajs.err"
        collect "kafkajs" "$WORK/kafkajs.txt" $? "$WORK/kafkajs.err"
    else
        tail -20 "$WORK/npm.log"
        fail "npm ci kafkajs"
    fi
else
    fail "npm not installed (apt-get install nodejs npm)"
fi

# Burrow: a group with known lag (committed = log end - 7 / - 11 / - 0 on kcat-topic's three
# partitions); Burrow reads the commits from __consumer_offsets and the log ends with
# ListOffsets, and its HTTP API must report exactly that lag.
if [ -x /usr/bin/Burrow ] && [ -f /usr/share/java/zookeeper.jar ]; then
    python3 - "$ADDR" >"$WORK/burrow-setup.txt" 2>&1 <<'PY'
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id="burrow-lag", enable_auto_commit=False)
parts = [TopicPartition("kcat-topic", p) for p in range(3)]
ends = c.end_offsets(parts)
lags = {0: 7, 1: 11, 2: 0}
c.commit({tp: OffsetAndMetadata(ends[tp] - lags[tp.partition], "") for tp in parts})
print(" ".join(f"{tp.partition}:{lags[tp.partition]}" for tp in parts))
c.close()
PY
    ZK_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    java -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar -Dzookeeper.admin.enableServer=false \
        org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_PORT" "$WORK/zk" >"$WORK/zk.log" 2>&1 &
    ZK_PID=$!
    # Burrow gives up at once when its ZooKeeper is not serving yet: wait for an answer to
    # "srvr" (the one four-letter command ZooKeeper allows by default).
    python3 - "$ZK_PORT" <<'PY'
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
            s.sendall(b"srvr")
            if b"Mode:" in s.recv(4096):
                break
    except OSError:
        pass
    time.sleep(0.2)
PY
    mkdir -p "$WORK/burrow"
    cat >"$WORK/burrow/burrow.toml" <<TOML
[general]
pidfile="$WORK/burrow/burrow.pid"
[logging]
level="info"
[zookeeper]
servers=["127.0.0.1:$ZK_PORT"]
root-path="/burrow"
[client-profile.default]
client-id="burrow-interop"
[cluster.logferry]
class-name="kafka"
servers=["$ADDR"]
client-profile="default"
topic-refresh=5
offset-refresh=2
[consumer.logferry]
class-name="kafka"
cluster="logferry"
servers=["$ADDR"]
client-profile="default"
[httpserver.default]
address="127.0.0.1:$HTTP_PORT"
[storage.default]
class-name="inmemory"
workers=2
intervals=10
min-distance=1
TOML
    /usr/bin/Burrow --config-dir "$WORK/burrow" >"$WORK/burrow.log" 2>&1 &
    BURROW_PID=$!
    lag=""
    for _ in $(seq 1 120); do
        lag=$(curl -s "http://127.0.0.1:$HTTP_PORT/v3/kafka/logferry/consumer/burrow-lag/lag" | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)["status"]
    parts = sorted((p["partition"], p["current_lag"]) for p in s["partitions"] if p["topic"] == "kcat-topic")
    print(" ".join(f"{p}:{l}" for p, l in parts), s["totallag"])
except Exception:
    pass' 2>/dev/null)
        [ "$lag" = "0:7 1:11 2:0 18" ] && break
        sleep 0.5
    done
    if [ "$lag" = "0:7 1:11 2:0 18" ]; then
        pass "Burrow: /v3/kafka/logferry/consumer/burrow-lag/lag reports the exact lag ($lag)"
    else
        cat "$WORK/burrow-setup.txt"
        grep -iE "error|warn|fail" "$WORK/burrow.log" | head -10
        fail "Burrow: lag of burrow-lag is 0:7 1:11 2:0 total 18 (got '${lag}')"
    fi
    # Burrow decoded every __consumer_offsets record it read.
    if grep -q "failed to decode" "$WORK/burrow.log"; then
        grep "failed to decode" "$WORK/burrow.log" | head -5
        fail "Burrow decodes every __consumer_offsets record"
    else
        pass "Burrow decodes every __consumer_offsets record"
    fi
    kill "$BURROW_PID" "$ZK_PID" 2>/dev/null
    wait "$BURROW_PID" "$ZK_PID" 2>/dev/null
    BURROW_PID=""
    ZK_PID=""
else
    fail "Burrow or ZooKeeper not installed (apt-get install burrow zookeeper)"
fi

# Clean stop: SIGTERM → exit 0 and the clean-shutdown marker.
stop_broker
check "broker stops cleanly on SIGTERM" test $? -eq 0
check "clean-shutdown marker written" test -f "$WORK/data/.clean-shutdown"
if grep -qE "ERROR|panicked" "$WORK/broker.log"; then
    grep -E "ERROR|panicked" "$WORK/broker.log" | head -5
    fail "broker log has no errors"
else
    pass "broker log has no errors"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
