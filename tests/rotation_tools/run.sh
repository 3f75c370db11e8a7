#!/usr/bin/env bash
# Acceptance harness of issue 12: the agent against the rotation tools people really run.
#
#   tests/rotation_tools/run.sh path/to/logferry [CASE ...]     (all cases when none is named)
#
# Each case, in a fresh directory: the agent (`logferry run`, default section settings, bundled
# broker on a free port, /metrics on a free port), a writer of numbered lines (writer.py:
# "<case> <seq:09d> <padding>", 100 bytes, ROT_RATE lines/s for ROT_SECONDS s, written the way
# applications write), and the real tool rotating under it: Debian's logrotate run as
# `logrotate -f -s STATE CONF` every ~2 s (0.5 s for lr_create_rotate3_fast), Python's
# RotatingFileHandler / TimedRotatingFileHandler, or Apache's rotatelogs. After the writer
# stops, the agent drains (logferry_backlog_bytes 0 and lines shipped stable), /metrics is
# scraped, the topic is read back from the beginning with kcat, the agent gets SIGTERM, and
# check.py compares line by line: lost, duplicated, reordered, garbage (e.g. gzip bytes
# shipped as lines), and logferry_bytes_lost_total against the bytes of the missing lines.
#
# Pass, per case: every missing line is one logrotate itself destroyed (copytruncate's
# copy -> truncate window, measured from copies of what logrotate kept), 0 duplicates,
# 0 reordered, 0 garbage, the loss metric equal to the bytes of the missing lines.
#
# Prints one block per case as it finishes, a table, and "N passed, M failed"; exits 1 if a
# case failed. Work directories of failed cases are kept (their path is printed).
#
# Environment: ROT_SECONDS (20) and ROT_RATE (3000): how long and how fast the writer writes;
# ROT_JOBS (2): cases run in parallel; ROT_DRAIN_TIMEOUT (60 s); ROT_KEEP=1 keeps every work
# directory; ROT_TMP: where work directories go (default /tmp).
# Needs logrotate, apache2-utils (rotatelogs), kcat, python3, curl, gzip: installed with
# apt-get when missing and running as root.
set -u
BIN=${1:?usage: run.sh path/to/logferry [CASE ...]}
shift
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROT_SECONDS=${ROT_SECONDS:-20}
ROT_RATE=${ROT_RATE:-3000}
ROT_JOBS=${ROT_JOBS:-2}
ROT_DRAIN_TIMEOUT=${ROT_DRAIN_TIMEOUT:-60}
ROT_KEEP=${ROT_KEEP:-0}

ALL_CASES="lr_create_dateext lr_copytruncate lr_create_compress_delaycompress"
ALL_CASES+=" lr_ccd_readme_regex lr_ccd_nogz_regex lr_create_compress"
ALL_CASES+=" lr_copytruncate_compress_delaycompress lr_create_rotate3_fast lr_olddir"
ALL_CASES+=" py_rotating py_timed rotatelogs brokers_down"

if [ ! -x "$BIN" ]; then
    echo "not an executable: $BIN"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ $# -gt 0 ]; then CASES="$*"; else CASES=$ALL_CASES; fi
for c in $CASES; do
    case " $ALL_CASES " in
    *" $c "*) ;;
    *) echo "unknown case $c; cases: $ALL_CASES"; exit 2 ;;
    esac
done

# ---- tools --------------------------------------------------------------------------------
MISSING=""
need() { # need COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || MISSING="$MISSING $2"
}
need logrotate logrotate
need rotatelogs apache2-utils
need kcat kcat
need python3 python3
need curl curl
need gzip gzip
if [ -n "$MISSING" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing:$MISSING"
        # shellcheck disable=SC2086
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                $MISSING >/dev/null; }; then
            echo "apt-get install$MISSING failed"
            echo "0 passed, 1 failed"
            exit 1
        fi
    else
        echo "missing:$MISSING; install them (Debian: apt-get install$MISSING) or run as root"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi
LOGROTATE=$(command -v logrotate 2>/dev/null || echo /usr/sbin/logrotate)

WORK=$(mktemp -d "${ROT_TMP:-/tmp}/rotation_tools-XXXXXX")
chmod 755 "$WORK" # logrotate refuses logs under a directory that looks insecure

# Every process a case starts is recorded in its pids file, so that an interrupted run ends
# exactly those (by id).
kill_recorded() { # kill_recorded PIDFILE...
    local f p
    for f in "$@"; do
        [ -f "$f" ] || continue
        while read -r p; do
            [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
        done <"$f"
    done
}
on_interrupt() {
    trap - INT TERM
    kill_recorded "$WORK"/*/pids
    echo "interrupted; work directory kept: $WORK"
    exit 130
}
trap on_interrupt INT TERM

re_escape() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

# ---- cases --------------------------------------------------------------------------------
# setup_case NAME L: sets, for the logs directory L:
#   TOOL       logrotate | python | rotatelogs
#   WRITER     writer.py --mode (append, watched, rotating, timed, stdout)
#   WARGS      more writer.py arguments
#   LR_BODY    logrotate directives (besides missingok and the harness's postrotate)
#   LR_EVERY   seconds between logrotate runs
#   RX         log_name_regx;  BASE: 1 if the section has base_log_fullpath = L/app.log
#   OLD        logrotate olddir ("" for none);  ARCHIVE: 1 to keep copies of what logrotate
#              kept (copytruncate truth);  OUTAGE: 1 for the brokers-down case
setup_case() {
    local name=$1 L=$2 LRX BK
    LRX=$(re_escape "$L")
    # logrotate `create` races a WatchedFileHandler writer: when the writer recreates app.log
    # between logrotate's rename and its create, logrotate renames the writer's new file to
    # app.log-YYYYMMDDHH.backup ("destination ... already exists, renaming to ...") and creates
    # its own. That name is one the tool produces, so the sections match it too.
    BK='-[0-9]{10}\.backup'
    TOOL=logrotate WRITER=watched WARGS="" LR_EVERY=2 BASE=1 OLD="" ARCHIVE=0 OUTAGE=0
    RX="$LRX/app\\.log(\\.[0-9]+|$BK)"
    case $name in
    lr_create_dateext)
        LR_BODY=$'create\ndateext\ndateformat -%s\nrotate 3'
        RX="$LRX/app\\.log-[0-9]+(\\.backup)?" ;;
    lr_copytruncate)
        LR_BODY=$'copytruncate\nrotate 3'
        RX="$LRX/app\\.log\\.[0-9]+"
        WRITER=append ARCHIVE=1 ;;
    lr_create_compress_delaycompress)
        LR_BODY=$'create\ncompress\ndelaycompress\nrotate 2'
        RX="$LRX/app\\.log(\\.[0-9]+(\\.gz)?|$BK)" ;;
    lr_ccd_readme_regex) # the README's example regex as a user copies it (matches .gz too)
        LR_BODY=$'create\ncompress\ndelaycompress\nrotate 2'
        RX="$L/app.log.*(?<!swp\$)" ;;
    lr_ccd_nogz_regex) # a regex that leaves the .gz files out
        LR_BODY=$'create\ncompress\ndelaycompress\nrotate 2' ;;
    lr_create_compress)
        LR_BODY=$'create\ncompress\nrotate 3'
        RX="$LRX/app\\.log(\\.[0-9]+(\\.gz)?|$BK)" ;;
    lr_copytruncate_compress_delaycompress)
        LR_BODY=$'copytruncate\ncompress\ndelaycompress\nrotate 3'
        RX="$LRX/app\\.log\\.[0-9]+(\\.gz)?"
        WRITER=append ARCHIVE=1 ;;
    lr_create_rotate3_fast)
        LR_BODY=$'create\nrotate 3'
        LR_EVERY=0.5 ;;
    lr_olddir)
        # Rotated files move to a sibling directory the section does not scan (a section has
        # one log_base_path, not recursive): the agent must finish them through the
        # descriptor it holds.
        OLD="$(dirname "$L")/old"
        LR_BODY=$'create\nolddir '"$OLD"$'\ncreateolddir 0755 root root\nrotate 3' ;;
    py_rotating)
        TOOL=python WRITER=rotating
        WARGS="--max-bytes $((ROT_RATE * 100 * 2)) --backup-count 20"
        RX="$LRX/app\\.log\\.[0-9]+" ;;
    py_timed)
        TOOL=python WRITER=timed WARGS="--interval 2 --backup-count 3"
        RX="$LRX/app\\.log\\.[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}-[0-9]{2}-[0-9]{2}" ;;
    rotatelogs) # `rotatelogs FILE.%s 2`: a new file every 2 s, no stable base file
        TOOL=rotatelogs WRITER=stdout BASE=0
        RX="$LRX/app\\.log\\.[0-9]+" ;;
    brokers_down)
        LR_BODY=$'create\ncompress\ndelaycompress\nrotate 2'
        RX="$LRX/app\\.log(\\.[0-9]+(\\.gz)?|$BK)"
        OUTAGE=1 ;;
    esac
}

# wait_for_log FILE SED_EXPR PID [FROM_LINE]: prints the first match in FILE from line
# FROM_LINE on (up to 15 s, while PID lives), "" if none.
wait_for_log() {
    local f=$1 expr=$2 pid=$3 from=${4:-1} v=""
    for _ in $(seq 1 150); do
        v=$(tail -n "+$from" "$f" 2>/dev/null | sed -n "$expr" | head -1)
        [ -n "$v" ] && break
        alive "$pid" || break
        sleep 0.1
    done
    printf '%s' "$v"
}

alive() { # alive PID: running (a zombie not yet reaped counts as gone)
    kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

metric_sum() { # metric_sum FILE NAME
    awk -v n="$2" 'index($0, n "{") == 1 || index($0, n " ") == 1 { s += $NF } END { printf "%d", s }' "$1"
}

start_broker() { # start_broker C LISTEN -> prints the address it listens on
    local C=$1 listen=$2 pid from
    touch "$C/broker.log"
    from=$(($(wc -l <"$C/broker.log") + 1))
    "$BIN" broker --listen "$listen" --data-dir "$C/broker-data" >>"$C/broker.log" 2>&1 &
    pid=$!
    echo "$pid" >>"$C/pids"
    echo "$pid" >"$C/broker.pid"
    wait_for_log "$C/broker.log" 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$pid" "$from"
}

stop_pid() { # stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 30)
    local pid=$1 t=${2:-30}
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $((t * 10))); do
        alive "$pid" || return 0
        sleep 0.1
    done
    echo "pid $pid did not stop within $t s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
}

write_logrotate_conf() { # C L
    local C=$1 L=$2
    {
        echo "$L/app.log {"
        echo "    missingok"
        printf '    %s\n' "${LR_BODY//$'\n'/$'\n'    }"
        if [ "$ARCHIVE" = 1 ]; then
            # The new copy, as logrotate made it (postrotate runs before any compression).
            echo "    postrotate"
            echo "        cp \"${OLD:-$L}/app.log.1\" \"$C/archive/copy-\$(date +%s%N)\""
            echo "    endscript"
        fi
        echo "}"
    } >"$C/logrotate.conf"
}

run_case() {
    local name=$1 C=$WORK/$1 t0=$SECONDS
    local L=$C/logs addr="" maddr="" kaddr="" agent_pid wpid rpid="" opid="" drained=no
    mkdir -p "$L" "$C/state" "$C/archive"
    : >"$C/pids"
    setup_case "$name" "$L"
    [ -n "$OLD" ] && mkdir -p "$OLD"
    [ "$BASE" = 1 ] && : >"$L/app.log" # the application's log exists when the agent starts

    if [ "$OUTAGE" = 1 ]; then
        addr=$(start_broker "$C" 127.0.0.1:0)
        if [ -z "$addr" ]; then
            echo "RESULT $name 0 0 0 0 0 0 - FAIL broker-did-not-start" >"$C/result.txt"
            tail -20 "$C/broker.log" >>"$C/result.txt"
            kill_recorded "$C/pids"
            return
        fi
    fi
    {
        echo "[agent]"
        echo "state_dir = \"$C/state\""
        echo 'metrics_listen = "127.0.0.1:0"'
        echo "[output]"
        if [ "$OUTAGE" = 1 ]; then
            echo "brokers = \"$addr\""
        else
            echo 'brokers = "bundled"'
            echo "[broker]"
            echo 'listen = "127.0.0.1:0"'
        fi
        echo "[topic.app]"
        echo "log_base_path = \"$L\""
        [ "$BASE" = 1 ] && echo "base_log_fullpath = \"$L/app.log\""
        echo "log_name_regx = '$RX'"
        echo 'topic = "app"'
    } >"$C/logferry.toml"

    "$BIN" run --config "$C/logferry.toml" 2>"$C/agent.log" &
    agent_pid=$!
    echo "$agent_pid" >>"$C/pids"
    maddr=$(wait_for_log "$C/agent.log" \
        's/.*endpoint listening.*local=\([0-9.]*:[0-9]*\).*/\1/p' "$agent_pid")
    if [ "$OUTAGE" = 1 ]; then
        kaddr=$addr
    else
        kaddr=$(wait_for_log "$C/agent.log" \
            's/.*bundled broker listening.*bootstrap=\([0-9.]*:[0-9]*\).*/\1/p' "$agent_pid")
    fi
    if [ -z "$maddr" ] || [ -z "$kaddr" ]; then
        {
            echo "RESULT $name 0 0 0 0 0 0 - FAIL agent-did-not-start"
            sed 's/^/    agent: /' "$C/agent.log" | tail -20
        } >"$C/result.txt"
        kill_recorded "$C/pids"
        return
    fi

    # The writer, and the tool rotating under it.
    local wcmd=(python3 "$HERE/writer.py" --mode "$WRITER" --path "$L/app.log" --case "$name"
        --rate "$ROT_RATE" --seconds "$ROT_SECONDS" --done "$C/written")
    # shellcheck disable=SC2206
    wcmd+=($WARGS)
    if [ "$TOOL" = rotatelogs ]; then
        ( "${wcmd[@]}" | rotatelogs "$L/app.log.%s" 2 ) 2>"$C/writer.log" &
    else
        "${wcmd[@]}" 2>"$C/writer.log" &
    fi
    wpid=$!
    echo "$wpid" >>"$C/pids"
    if [ "$TOOL" = logrotate ]; then
        write_logrotate_conf "$C" "$L"
        (
            sleep "$LR_EVERY"
            while [ ! -e "$C/stop-rotating" ]; do
                echo "== rotation $(date +%s.%N)" >>"$C/logrotate.log"
                "$LOGROTATE" -f -s "$C/logrotate.state" "$C/logrotate.conf" >>"$C/logrotate.log" 2>&1
                sleep "$LR_EVERY"
            done
        ) &
        rpid=$!
        echo "$rpid" >>"$C/pids"
    fi
    if [ "$OUTAGE" = 1 ]; then
        # Brokers down for at least 3 rotations, then back on the same port and data dir.
        (
            sleep $((ROT_SECONDS / 4))
            {
                echo "== broker stopping $(date +%s.%N)"
                stop_pid "$(cat "$C/broker.pid")"
                echo "== broker stopped $(date +%s.%N)"
            } >>"$C/outage.log"
            sleep 8
            a=$(start_broker "$C" "$addr")
            echo "== broker back $(date +%s.%N) at ${a:-NOT STARTED}" >>"$C/outage.log"
        ) &
        opid=$!
        echo "$opid" >>"$C/pids"
    fi

    wait "$wpid"
    [ -n "$opid" ] && wait "$opid"
    if [ -n "$rpid" ]; then
        touch "$C/stop-rotating"
        wait "$rpid"
    fi
    [ -f "$C/written" ] || echo "0 0" >"$C/written"

    # Drain: backlog 0 and lines shipped unchanged for 3 scrapes a second apart.
    local deadline=$((SECONDS + ROT_DRAIN_TIMEOUT)) last="" stable=0 backlog shipped
    while [ $SECONDS -lt $deadline ]; do
        if curl -s --max-time 5 "http://$maddr/metrics" >"$C/metrics.txt"; then
            backlog=$(metric_sum "$C/metrics.txt" logferry_backlog_bytes)
            shipped=$(metric_sum "$C/metrics.txt" logferry_lines_shipped_total)
            if [ "$backlog" = 0 ] && [ "$shipped" = "$last" ]; then
                stable=$((stable + 1))
                if [ $stable -ge 3 ]; then drained=yes; break; fi
            else
                stable=0
            fi
            last=$shipped
        fi
        alive "$agent_pid" || break
        sleep 1
    done
    timeout 120 kcat -C -b "$kaddr" -t app -o beginning -e -q -f '%s\n' \
        >"$C/topic.txt" 2>"$C/kcat.err"
    stop_pid "$agent_pid" 30 >>"$C/agent.log"
    wait "$agent_pid" 2>/dev/null
    echo "agent exit status $?" >>"$C/agent.log"
    [ "$OUTAGE" = 1 ] && stop_pid "$(cat "$C/broker.pid")" 10 >/dev/null

    local args=(--case "$name" --done "$C/written" --topic "$C/topic.txt"
        --metrics "$C/metrics.txt" --agent-log "$C/agent.log" --drained "$drained"
        --out "$C/result.txt")
    if [ "$ARCHIVE" = 1 ]; then
        cp "$L/app.log" "$C/archive/final-base"
        args+=(--archive "$C/archive")
    fi
    [ -f "$C/logrotate.log" ] && args+=(--tool-log "$C/logrotate.log")
    python3 "$HERE/check.py" "${args[@]}" >/dev/null 2>"$C/check.err" ||
        echo "RESULT $name 0 0 0 0 0 0 - FAIL check.py-failed" >"$C/result.txt"
    {
        if [ -f "$C/logrotate.log" ]; then
            echo "    rotations: $(grep -c '^== rotation' "$C/logrotate.log") logrotate runs every $LR_EVERY s;" \
                "create collisions (writer's new app.log renamed to *.backup by logrotate):" \
                "$(grep -c 'already exists, renaming to' "$C/logrotate.log")"
        fi
        if [ -f "$C/outage.log" ]; then
            sed -n 's/^== /    /p' "$C/outage.log"
            awk '/^== broker stopped/ { a = $4 } /^== broker back/ { b = $4 } END { print a, b }' \
                "$C/outage.log" | {
                read -r a b
                echo "    logrotate runs while the broker was down: $(awk -v a="$a" -v b="$b" \
                    '/^== rotation/ && $3 > a && $3 < b { n++ } END { print n + 0 }' "$C/logrotate.log")"
            }
        fi
        [ "$drained" = yes ] || echo "    not drained within $ROT_DRAIN_TIMEOUT s"
        [ -s "$C/check.err" ] && sed 's/^/    check.py: /' "$C/check.err" | tail -5
        grep -qi error "$C/kcat.err" && sed 's/^/    kcat: /' "$C/kcat.err" | head -3
        echo "    wall time $((SECONDS - t0)) s"
    } >>"$C/result.txt"
    kill_recorded "$C/pids"
}

# ---- run ----------------------------------------------------------------------------------
echo "rotation_tools: $(echo "$CASES" | wc -w) cases, ${ROT_SECONDS} s at ${ROT_RATE} lines/s," \
    "$ROT_JOBS at a time; $("$BIN" --version 2>/dev/null); work dir $WORK"
T0=$SECONDS
report_case() { # prints a finished case's block; on failure the end of its agent log
    local c=$1 C=$WORK/$1
    {
        read -r _ name written lost dup reo garb mb tb destroyed verdict why
        printf '%-40s lost=%s dup=%s reordered=%s garbage=%s metric_bytes=%s truth_bytes=%s destroyed_by_tool=%s written=%s %s%s\n' \
            "$name" "$lost" "$dup" "$reo" "$garb" "$mb" "$tb" "$destroyed" "$written" "$verdict" \
            "$([ "$verdict" = PASS ] || echo " ($why)")"
        cat
    } <"$C/result.txt"
    if ! grep -q '^RESULT .* PASS ' "$C/result.txt"; then
        echo "    --- last lines of the agent log ($C/agent.log):"
        tail -15 "$C/agent.log" 2>/dev/null | cut -c1-400 | sed 's/^/    | /'
    fi
}
for c in $CASES; do
    while [ "$(jobs -rp | wc -l)" -ge "$ROT_JOBS" ]; do wait -n; done
    (
        run_case "$c" >"$WORK/$c.out" 2>&1
        [ -f "$WORK/$c/result.txt" ] ||
            echo "RESULT $c 0 0 0 0 0 0 - FAIL harness-error" >"$WORK/$c/result.txt"
        report_case "$c"
    ) &
done
wait

PASSED=0
FAILED=0
echo
printf '%-40s %8s %7s %7s %9s %8s %12s %12s %9s  %s\n' case written lost dup reordered garbage \
    metric_bytes truth_bytes destroyed verdict
for c in $CASES; do
    read -r _ name written lost dup reo garb mb tb destroyed verdict why <"$WORK/$c/result.txt"
    printf '%-40s %8s %7s %7s %9s %8s %12s %12s %9s  %s\n' "$name" "$written" "$lost" "$dup" \
        "$reo" "$garb" "$mb" "$tb" "$destroyed" "$verdict$([ "$verdict" = PASS ] || echo " ($why)")"
    if [ "$verdict" = PASS ]; then
        PASSED=$((PASSED + 1))
        [ "$ROT_KEEP" = 1 ] || rm -rf "${WORK:?}/$c"
    else
        FAILED=$((FAILED + 1))
    fi
done
echo "wall time $((SECONDS - T0)) s"
if [ "$FAILED" -gt 0 ] || [ "$ROT_KEEP" = 1 ]; then
    echo "work directories kept in $WORK"
else
    rm -rf "$WORK"
fi
echo "rotation_tools: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
