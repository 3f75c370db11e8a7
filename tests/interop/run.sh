#!/usr/bin/env bash
# Interop checks of `logferry broker` against kcat (librdkafka) and kafka-python.
# Usage: tests/interop/run.sh path/to/logferry   (after `cargo build --release`)
# Prints one line per check and a closing "N passed, M failed"; exits non-zero on any failure.
set -u
BIN=${1:?usage: run.sh path/to/logferry}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PASSED=0
FAILED=0
BROKER_PID=""

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
