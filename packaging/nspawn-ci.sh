#!/usr/bin/env bash
# packaging/nspawn-ci.sh: the .deb under a real systemd, as root on a Debian 12 machine.
#
# Boots a minimal Debian 12 (debootstrap --variant=minbase plus systemd, dbus and sudo) with
# systemd as PID 1 in systemd-nspawn, installs the .deb there and checks, driving the
# container with nsenter (the host needs no systemd and no system bus):
#   install enables and starts nothing; `enable --now` reaches active with a STATUS= line;
#   lines appended to a watched file arrive in the bundled broker (content and order);
#   `reload` (RELOADING=1 -> READY=1, same MainPID) adds a section and rejects an invalid
#   config; the watchdog (drop-in WatchdogSec=2s) restarts a SIGSTOPped agent with nothing
#   lost; `stop` writes the final checkpoint; logferry-broker.service serves the agent;
#   an upgrade to a higher version while lines are written keeps the edited conffile,
#   restarts both services and loses nothing; `dpkg --purge` stops both units and leaves no
#   file and no enablement link; a reinstall after the purge enables nothing.
# The README's "Running as a service" commands are run as written (sudo, sudoedit and
# systemctl edit with a scripted editor).
#
# The base root is cached in target/nspawn/base-<suite>-<hash of the debootstrap options>
# (debootstrap from the Debian mirror apt uses, or $NSPAWN_MIRROR); each run boots it with
# --volatile=overlay (changes go to a tmpfs, the cache stays untouched) and --private-network.
# If the container cannot boot, this says why and fails: there is no skip.
# Ends with "N passed, M failed"; exits non-zero if anything failed.
# Scripts for the container are single-quoted on purpose (they expand there):
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR=never
export LC_ALL=C
start=$(date +%s)
repo=$PWD
t_build=0
t_base=0

suite=bookworm
variant=minbase
# systemd as PID 1 and what a minimal Debian 12 server has around it; sudo so the README's
# commands run as written. Nothing the .deb depends on beyond minbase: dpkg -i below fails
# if the package needs something a minimal system lacks.
include=systemd,systemd-sysv,dbus,sudo
cache=target/nspawn
run_dir=$cache/run

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
# check NAME CMD...: run CMD, count it as passed if it exits 0.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# abort REASON: a failure after which nothing else can be checked.
abort() {
    fail "$1"
    echo "packaging/nspawn-ci.sh took $(($(date +%s) - start)) s"
    echo "$passed passed, $failed failed"
    exit 1
}
now_ms() { date +%s%3N; }
not() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

if [ "$(id -u)" -ne 0 ]; then
    abort "nspawn: must run as root (systemd-nspawn, debootstrap, nsenter)"
fi

echo "== nspawn: install tools"
need=()
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v nsenter >/dev/null || need+=(util-linux)
command -v script >/dev/null || need+=(bsdutils)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== nspawn: build the .deb and an upgrade to a higher version"
t=$(now_ms)
deb=$(packaging/build-deb.sh)
echo "built $deb"
version=$(dpkg-deb --field "$deb" Version)
upgrade_version="$version+nspawn1"
rm -rf "$run_dir"
mkdir -p "$run_dir/debs" "$run_dir/upgrade"
cp "$deb" "$run_dir/debs/"
# The same binary and files under a higher version (cargo-deb reuses the build and the
# generated assets).
cargo deb --no-build --deb-version "$upgrade_version" --output "$run_dir/upgrade" >/dev/null
upgrade_deb=$(ls "$run_dir"/upgrade/*.deb)
echo "upgrade: $upgrade_deb"
check "the upgrade's version $upgrade_version is higher than $version" \
    dpkg --compare-versions "$upgrade_version" gt "$version"
t_build=$(($(now_ms) - t))
echo "(build: $t_build ms)"

echo "== nspawn: base root ($suite, $variant, $include)"
# The mirror apt uses for the suite, unless $NSPAWN_MIRROR says otherwise.
mirror=${NSPAWN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' \
    'Identifier: Packages' 2>/dev/null | awk -v s="$suite" '$2 == s {print $1; exit}')}
mirror=${mirror:-http://deb.debian.org/debian}
# What the installer would have set up: a host name that resolves (sudo asks).
base_setup='echo logferry-ci >/etc/hostname
printf "127.0.0.1\tlocalhost\n127.0.1.1\tlogferry-ci\n::1\tlocalhost ip6-localhost ip6-loopback\n" >/etc/hosts
rm -f /etc/resolv.conf'
key=$(printf '%s\n' "$suite" "$variant" "$include" "$base_setup" | sha256sum | cut -c1-12)
base=$cache/base-$suite-$key
if [ -f "$base.ok" ] && [ -d "$base" ]; then
    echo "cached: $base (made $(date -r "$base.ok" '+%F %T'))"
else
    t=$(now_ms)
    echo "debootstrap from $mirror into $base (cold cache)"
    rm -rf "$base" "$base.tmp" "$base.ok"
    for old in "$cache"/base-*; do
        # Roots for other include lists: not needed any more.
        [ -e "$old" ] && rm -rf "$old"
    done
    mkdir -p "$cache"
    if ! debootstrap --variant="$variant" --include="$include" "$suite" "$base.tmp" "$mirror" \
        >"$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log"
        abort "nspawn: debootstrap $suite from $mirror failed (log: $cache/debootstrap.log)"
    fi
    # No network in the container (--private-network): no resolv.conf either.
    chroot "$base.tmp" /bin/sh -c "$base_setup"
    mv "$base.tmp" "$base"
    touch "$base.ok"
    t_base=$(($(now_ms) - t))
    echo "(debootstrap: $t_base ms)"
fi

echo "== nspawn: boot"
machine=logferry-ci-$$
nspawn_log=$run_dir/nspawn.log
ct_pid=
nspawn_pid=
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM makes nspawn shut the container down cleanly (SIGRTMIN+3 to its PID 1).
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
t=$(now_ms)
t_boot=$t
# --volatile=overlay: the cached root is the lower layer of an overlay on a tmpfs, so every
# run starts from the same untouched minimal system. The .debs come in read-only, at the
# path the README's `dpkg -i target/debian/logferry_*.deb` expects.
systemd-nspawn --boot --directory="$base" --volatile=overlay --machine="$machine" \
    --register=no --keep-unit --console=passive --private-network \
    --bind-ro="$repo/$run_dir/debs:/root/logferry/target/debian" \
    --bind-ro="$repo/$run_dir/upgrade:/root/upgrade" \
    >"$nspawn_log" 2>&1 &
nspawn_pid=$!
# The container's PID 1 is nspawn's child running systemd.
for _ in $(seq 1 300); do
    if ! kill -0 "$nspawn_pid" 2>/dev/null; then
        cat "$nspawn_log"
        abort "nspawn: systemd-nspawn exited before the container booted (see above)"
    fi
    for c in $(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null); do
        if [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ]; then
            ct_pid=$c
        fi
    done
    [ -n "$ct_pid" ] && break
    sleep 0.1
done
[ -n "$ct_pid" ] || { cat "$nspawn_log"; abort "nspawn: no systemd PID 1 in the container after 30 s"; }
ct_root=/proc/$ct_pid/root

# ct CMD...: run CMD inside the container (all its namespaces), as root, clean environment.
ct() {
    nsenter --target "$ct_pid" --all -- env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}
# ct_sh SCRIPT [ARGS...]: a bash script inside the container.
ct_sh() { local s=$1; shift; ct bash -c "$s" ct_sh "$@"; }

# systemctl talks to PID 1 on its private socket, which appears early in the boot.
for _ in $(seq 1 300); do
    [ -S "$ct_root/run/systemd/private" ] && break
    sleep 0.1
done
state=$(ct timeout 60 systemctl is-system-running --wait 2>&1) || true
if [ "$state" != running ] && [ "$state" != degraded ]; then
    cat "$nspawn_log"
    ct systemctl --no-pager --failed 2>&1 || true
    abort "nspawn: the container did not finish booting (is-system-running: '${state:-no answer}')"
fi
echo "booted in $(($(now_ms) - t)) ms: $(ct systemctl --version | head -n 1), state $state"
if [ "$state" = degraded ]; then
    ct systemctl --no-pager --failed || true
fi
check "container: systemd is PID 1" test "$(ct cat /proc/1/comm)" = systemd

# The journal from a cursor on: cursor (prints one), journal_since CURSOR [ARGS...].
cursor() { ct journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p'; }
journal_since() { local c=$1; shift; ct journalctl --no-pager -q -o short-precise --after-cursor "$c" "$@"; }
# excerpt REGEX N CURSOR [ARGS...]: at most N journal lines since CURSOR matching REGEX, as
# evidence in the output (never fails: no match is for the checks to judge).
excerpt() {
    local re=$1 n=$2 text
    shift 2
    text=$(journal_since "$@") || true
    grep -E "$re" <<<"$text" | head -n "$n" | cut -c 1-220 || true
}
# journal_has REGEX CURSOR [ARGS...]: a journal line since CURSOR matches REGEX. (Read whole
# before grep: with pipefail, grep -q quitting early could fail the pipe.)
journal_has() {
    local re=$1 text
    shift
    text=$(journal_since "$@") || return 1
    grep -qE -- "$re" <<<"$text"
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it exits 0; fails after SECONDS.
wait_for() {
    local end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.2
    done
}
show() { ct systemctl show -P "$2" "$1"; }
main_pid() { show "$1" MainPID; }
# edit_with FILE SCRIPT: the README's `sudoedit FILE`, with SCRIPT (sh, the file as $1)
# as the editor.
edit_with() {
    printf '#!/bin/sh\nset -e\n%s\n' "$2" >"$ct_root/root/editor.sh"
    chmod 755 "$ct_root/root/editor.sh"
    ct env SUDO_EDITOR=/root/editor.sh sudoedit "$1"
}
# write_lines FILE PREFIX FROM TO: append PREFIX-000001 ... lines inside the container.
write_lines() {
    ct_sh 'for ((i = $3; i <= $4; i++)); do printf "%s-%06d\n" "$2" "$i"; done >>"$1"' "$@"
}
# writer FILE PREFIX N: in the background, N lines at a steady 200 lines/s (10 every 50 ms).
writer() {
    ct_sh 'for ((i = 1; i <= $3;)); do
               for ((k = 0; k < 10 && i <= $3; k++, i++)); do printf "%s-%06d\n" "$2" "$i"; done >>"$1"
               sleep 0.05
           done' "$@" &
    writer_pid=$!
}
expected() { for ((i = $2; i <= $3; i++)); do printf '%s-%06d\n' "$1" "$i"; done; }

# received NAME TOPIC PREFIX N MAX_DUPS BROKER_ARGS...: consume TOPIC from the beginning
# inside the container until every line PREFIX-000001..N has arrived (60 s at most), then
# compare line by line: none lost, in order, nothing unexpected, at most MAX_DUPS duplicates
# ("-" for any number, counted and reported).
received() {
    local name=$1 topic=$2 prefix=$3 n=$4 max_dups=$5
    shift 5
    local out=$run_dir/consume-$topic-$prefix.out
    expected "$prefix" 1 "$n" >"$run_dir/expected"
    rm -f "$ct_root/run/consume.pid"
    # The topic appears with the agent's first line: until then consume says "not found".
    ct_sh 'for _ in $(seq 1 100); do logferry consume --topic "$@" --count 0 2>/dev/null && break; sleep 0.2; done
           echo $$ >/run/consume.pid; exec timeout 120 logferry consume --topic "$@" --from-beginning' \
        "$topic" "$@" >"$out" 2>"$out.err" &
    local consumer=$!
    local t0
    t0=$(now_ms)
    all_arrived() {
        local missing
        missing=$(comm -23 "$run_dir/expected" <(grep "^$prefix-" "$out" | sort -u) | wc -l)
        [ "$missing" -eq 0 ]
    }
    consuming() { kill -0 "$consumer" 2>/dev/null; }
    wait_for 60 eval 'all_arrived || ! consuming' || true
    local waited=$(($(now_ms) - t0))
    ct_sh 'kill -TERM "$(cat /run/consume.pid)"' 2>/dev/null || true
    wait "$consumer" || true
    grep "^$prefix-" "$out" >"$out.prefix" || true
    local total unique lost extra dups
    total=$(wc -l <"$out.prefix")
    awk '!seen[$0]++' "$out.prefix" >"$out.unique"
    unique=$(wc -l <"$out.unique")
    lost=$(comm -23 <(sort "$run_dir/expected") <(sort "$out.unique") | wc -l)
    extra=$(comm -13 <(sort "$run_dir/expected") <(sort "$out.unique") | wc -l)
    dups=$((total - unique))
    echo "$name: $n written, $total received ($unique distinct, $dups duplicates, $lost lost, $extra unexpected) in $waited ms"
    check "$name: 0 lines lost" test "$lost" -eq 0
    check "$name: every line, in file order (first occurrences)" cmp -s "$run_dir/expected" "$out.unique"
    check "$name: nothing unexpected" test "$extra" -eq 0
    if [ "$max_dups" != - ]; then
        check "$name: at most $max_dups duplicates" test "$dups" -le "$max_dups"
    fi
    if [ "$lost" -ne 0 ]; then
        comm -23 <(sort "$run_dir/expected") <(sort "$out.unique") | head -n 5 || true
        cat "$out.err"
    fi
    last_dups=$dups
}

config=/etc/logferry/config.toml

echo "== nspawn: install (README: sudo dpkg -i target/debian/logferry_*.deb)"
check "minimal system: no /bin/kill (procps is not installed)" ct test ! -e /bin/kill
ct_sh 'cd /root/logferry && sudo dpkg -i target/debian/logferry_*.deb' </dev/null \
    || abort "install: dpkg -i failed on a minimal Debian 12 (dependencies?)"
check "install: package installed" quiet ct dpkg -s logferry
verify_out=$(ct systemd-analyze verify --man=no logferry.service logferry-broker.service 2>&1) && rc=0 || rc=$?
echo "systemd-analyze verify: ${verify_out:-(no findings)}"
check "install: systemd-analyze verify of both units, no findings" test "$rc-$verify_out" = 0-
check "install: logferry.service is disabled" test "$(ct systemctl is-enabled logferry)" = disabled
check "install: logferry-broker.service is disabled" \
    test "$(ct systemctl is-enabled logferry-broker)" = disabled
check "install: nothing started" test "$(ct systemctl is-active logferry logferry-broker | sort -u)" = inactive
dsh=/var/lib/systemd/deb-systemd-helper-enabled
echo "deb-systemd-helper state: $(cat "$ct_root$dsh/logferry.service.dsh-also" "$ct_root$dsh/logferry-broker.service.dsh-also" 2>/dev/null | tr '\n' ' ')"
check "install: enablement links recorded for purge (update-state)" \
    grep -qx /etc/systemd/system/multi-user.target.wants/logferry.service "$ct_root$dsh/logferry.service.dsh-also"
check "install: broker links recorded for purge (update-state)" \
    grep -qx /etc/systemd/system/multi-user.target.wants/logferry-broker.service "$ct_root$dsh/logferry-broker.service.dsh-also"

echo "== nspawn: configure (README: sudoedit, logferry check)"
# The application log: 500 lines before the agent starts, 500 appended while it runs.
ct_sh 'install -d -m 755 /var/log/app && : >/var/log/app/app.log'
write_lines /var/log/app/app.log ship 1 500
edit_with $config "cat >>\"\$1\" <<'EOF'

[topic.app]
log_base_path = \"/var/log/app\"
base_log_fullpath = \"/var/log/app/app.log\"
log_name_regx = '/var/log/app/app\\.log(\\.1)?'
topic = \"app\"
EOF"
# As in the README, without sudo: any user may check the config before the first start.
check_out=$(ct runuser -u nobody -- logferry check --config $config 2>&1) && rc=0 || rc=$?
echo "$check_out" | sed -n '1,12p'
check "logferry check: exit 0 with [topic.app]" \
    bash -c '[ "$0" -eq 0 ] && grep -q "topic.app" <<<"$1"' "$rc" "$check_out"

echo "== nspawn: enable --now (README: sudo systemctl enable --now logferry)"
c0=$(cursor)
t=$(now_ms)
check "enable --now: exit 0" ct sudo systemctl enable --now logferry
echo "(enable --now returned after $(($(now_ms) - t)) ms)"
check "enable --now: active" test "$(ct systemctl is-active logferry)" = active
check "enable --now: enabled (multi-user.target.wants link)" \
    test -L "$ct_root/etc/systemd/system/multi-user.target.wants/logferry.service"
has_status() { [[ "$(show logferry StatusText)" == *running* ]]; }
check "STATUS= line set" wait_for 10 has_status
status_out=$(ct systemctl status logferry --no-pager -n 0 2>&1) || true
echo "$status_out"
check "systemctl status shows the STATUS line" grep -q 'Status: ".* running, .* shipped' <<<"$status_out"
pid_a=$(main_pid logferry)
nofile=$(ct grep 'open files' "/proc/$pid_a/limits" | awk '{print $4}')
echo "MainPID $pid_a, open files limit $nofile"
if [ "$nofile" != 65536 ]; then
    # systemd clamps LimitNOFILE= to what it may set: a machine whose bounding set lacks
    # CAP_SYS_RESOURCE (some VMs and CI sandboxes) keeps its own hard limit.
    echo "(LimitNOFILE=65536 clamped to this machine's hard limit $(ulimit -Hn))"
fi
excerpt . 20 "$c0" -u logferry
security=$(ct systemd-analyze security --no-pager logferry.service 2>&1 | tail -n 1)
echo "$security"
score=$(sed -n 's/.*: \([0-9.]*\) .*/\1/p' <<<"$security")
check "systemd-analyze security: exposure ${score:-?} <= 2.0" \
    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'

echo "== nspawn: shipping into the bundled broker"
write_lines /var/log/app/app.log ship 501 1000
received "bundled broker" app ship 1000 0 --brokers bundled --config $config
jf=$(ct timeout 2 journalctl -u logferry -f --no-pager 2>&1) || true
check "README: journalctl -u logferry -f follows the agent's log" grep -q "logferry agent running" <<<"$jf"

echo "== nspawn: reload (README: sudo systemctl reload logferry)"
ct_sh 'install -d -m 755 /var/log/app2 && : >/var/log/app2/app2.log'
write_lines /var/log/app2/app2.log second 1 100
edit_with $config "cat >>\"\$1\" <<'EOF'

[topic.app2]
log_base_path = \"/var/log/app2\"
base_log_fullpath = \"/var/log/app2/app2.log\"
topic = \"app2\"
EOF"
# systemd logs each sd_notify message of the service at debug level.
ct systemctl log-level debug
# reload_ok WHAT PATTERN: systemctl reload, then the agent's PATTERN line in the journal and
# RELOADING=1 -> READY=1 from the same MainPID.
reload_ok() {
    local what=$1 pattern=$2 pid c rc
    pid=$(main_pid logferry)
    c=$(cursor)
    ct sudo systemctl reload logferry && rc=0 || rc=$?
    check "$what: systemctl reload exits 0" test "$rc" -eq 0
    agent_done() { journal_has "$pattern" "$c" -u logferry; }
    check "$what: the agent logs '$pattern'" wait_for 15 agent_done
    ready_again() {
        local text
        text=$(journal_since "$c" _PID=1) || return 1
        grep "Got notification message from PID $pid" <<<"$text" | grep -E 'RELOADING=1|READY=1' |
            tr '\n' ' ' | grep 'RELOADING=1.*READY=1' >/dev/null
    }
    check "$what: RELOADING=1 then READY=1 from PID $pid" wait_for 10 ready_again
    excerpt "from PID $pid \((RELOADING|READY)|Changed (running -> reload|reload -> running)|Reload|reload|SIGHUP|exited|203" 20 "$c"
    check "$what: same MainPID, still active" \
        test "$(main_pid logferry) $(ct systemctl is-active logferry)" = "$pid active"
}
reload_ok "reload (new section)" "config reloaded"
received "reload: the new section ships" app2 second 100 0 --brokers bundled --config $config
edit_with $config "printf '\\n[topic.bad]\\nlog_base_path = \"/var/log\"\\ntopic = \"bad\"\\nno_such_key = 1\\n' >>\"\$1\""
reload_ok "reload (invalid config)" "reload rejected, the running config stays in effect"
write_lines /var/log/app/app.log after 1 50
# (not --brokers bundled --config: consume would reject the invalid config too)
received "invalid reload: the running config still ships" app after 50 0 --brokers 127.0.0.1:9092
edit_with $config 'sed -i "/^\[topic.bad\]/,\$d" "$1"'
reload_ok "reload (config repaired)" "config reloaded"
ct systemctl log-level info

echo "== nspawn: watchdog (systemctl edit: WatchdogSec=2s; SIGSTOP the agent)"
printf '#!/bin/sh\nprintf "[Service]\\nWatchdogSec=2s\\n" >"$1"\n' >"$ct_root/root/watchdog-editor.sh"
chmod 755 "$ct_root/root/watchdog-editor.sh"
# systemctl edit wants a terminal: script(1) gives it one.
script -qec "nsenter --target $ct_pid --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb SYSTEMD_EDITOR=/root/watchdog-editor.sh systemctl edit logferry" /dev/null >/dev/null
ct systemctl restart logferry
ct systemctl cat logferry | tail -n 3
check "drop-in: the restarted agent runs with WatchdogUSec=2s" test "$(show logferry WatchdogUSec)" = 2s
pid_w=$(main_pid logferry)
restarts0=$(show logferry NRestarts)
c=$(cursor)
writer /var/log/app/app.log wd 1200
sleep 1
t=$(now_ms)
ct_sh 'kill -STOP "$1"' "$pid_w"
restarted() {
    local p
    p=$(main_pid logferry)
    [ "$p" != 0 ] && [ "$p" != "$pid_w" ] && [ "$(ct systemctl is-active logferry)" = active ]
}
check "watchdog: the stopped agent is restarted" wait_for 30 restarted
echo "(SIGSTOP -> active again: $(($(now_ms) - t)) ms; NRestarts $restarts0 -> $(show logferry NRestarts))"
wait "$writer_pid"
excerpt "Watchdog|watchdog|SIGABRT|ABRT|Scheduled restart|Started|running" 10 "$c" -u logferry
watchdog_fired() { journal_has "Watchdog timeout \(limit 2s\)" "$c" -u logferry; }
check "watchdog: journal says 'Watchdog timeout (limit 2s)'" watchdog_fired
check "watchdog: result 'watchdog' counted as a restart" test "$(show logferry NRestarts)" -gt "$restarts0"
received "watchdog restart" app wd 1200 - --brokers bundled --config $config
ct systemctl revert logferry >/dev/null
ct systemctl restart logferry
check "drop-in reverted: WatchdogUSec=30s" test "$(show logferry WatchdogUSec)" = 30s

echo "== nspawn: stop writes the final checkpoint"
write_lines /var/log/app/app.log stop 1 300
c=$(cursor)
check "stop: exit 0" ct systemctl stop logferry
excerpt "SIGTERM|final checkpoint|stopped|Stopp|Deactivated" 8 "$c" -u logferry
check "stop: journal 'section stopped; final checkpoint written'" \
    bash -c 'grep -q "section stopped; final checkpoint written" <<<"$0"' "$(journal_since "$c" -u logferry)"
check "stop: the unit stopped cleanly (Result=success, status 0)" \
    test "$(show logferry Result) $(show logferry ExecMainStatus)" = "success 0"
cp_check=$(python3 - "$ct_root/var/lib/logferry/topic_app" "$ct_root/var/log/app/app.log" <<'PY'
import json, os, sys
cp = json.load(open(sys.argv[1]))
size = os.path.getsize(sys.argv[2])
for f in cp["files"]:
    if f["path"] == "/var/log/app/app.log":
        print(f"checkpoint {f['path']}: offset {f['offset']} of {size} bytes")
        sys.exit(0 if f["offset"] == size else 1)
print("no checkpoint entry for /var/log/app/app.log"); sys.exit(1)
PY
) && rc=0 || rc=$?
echo "$cp_check"
check "stop: the final checkpoint covers the whole file (lines written just before stop)" test "$rc" -eq 0
status_out=$(ct logferry status --config $config 2>&1) && rc=0 || rc=$?
sed -n '1,7p' <<<"$status_out"
check "logferry status after stop: exit 0, backlog 0 bytes" \
    bash -c '[ "$0" -eq 0 ] && grep -q "backlog *0 bytes in 0 files" <<<"$1"' "$rc" "$status_out"

echo "== nspawn: logferry-broker.service serves the agent"
edit_with $config 'sed -i "s/^brokers = \"bundled\"/brokers = \"127.0.0.1:9092\"/" "$1"'
check "config: agent ships to 127.0.0.1:9092" grep -q '^brokers = "127.0.0.1:9092"' "$ct_root$config"
check "enable --now logferry-broker: exit 0" ct sudo systemctl enable --now logferry-broker
check "logferry-broker: active" test "$(ct systemctl is-active logferry-broker)" = active
check "start logferry: exit 0" ct sudo systemctl start logferry
write_lines /var/log/app/app.log broker 1 300
received "standalone broker" app broker 300 0 --brokers 127.0.0.1:9092
ct journalctl -u logferry-broker --no-pager -q -n 3 -o cat || true
broker_security=$(ct systemd-analyze security --no-pager logferry-broker.service 2>&1 | tail -n 1)
echo "$broker_security"

echo "== nspawn: upgrade to $upgrade_version while lines are written"
conf_sum=$(ct md5sum $config)
pid_a=$(main_pid logferry)
pid_b=$(main_pid logferry-broker)
c=$(cursor)
writer /var/log/app/app.log upg 2000
sleep 2
t=$(now_ms)
ct_sh 'dpkg -i /root/upgrade/logferry_*.deb' </dev/null >"$run_dir/upgrade.log" 2>&1 && rc=0 || rc=$?
echo "(dpkg -i of the upgrade: $(($(now_ms) - t)) ms, exit $rc)"
check "upgrade: dpkg -i exits 0" test "$rc" -eq 0
wait "$writer_pid"
check "upgrade: version $upgrade_version installed" \
    test "$(ct dpkg-query -W -f='${Version}' logferry)" = "$upgrade_version"
check "upgrade: the edited conffile is kept" test "$(ct md5sum $config)" = "$conf_sum"
check "upgrade: no .dpkg-dist/.dpkg-new beside it" not compgen -G "$ct_root/etc/logferry/*.dpkg-*"
check "upgrade: logferry restarted (new MainPID, active)" \
    bash -c '[ "$0" != "$1" ] && [ "$2" = active ]' "$pid_a" "$(main_pid logferry)" "$(ct systemctl is-active logferry)"
check "upgrade: logferry-broker restarted (new MainPID, active)" \
    bash -c '[ "$0" != "$1" ] && [ "$2" = active ]' "$pid_b" "$(main_pid logferry-broker)" "$(ct systemctl is-active logferry-broker)"
check "upgrade: the agent's stop finished its drain (no 'shutdown timeout' in the journal)" \
    not journal_has "shutdown timeout" "$c" -u logferry
check "upgrade: both units still enabled" \
    test "$(ct systemctl is-enabled logferry logferry-broker | sort -u)" = enabled
excerpt "logferry(-broker)?\.service" 12 "$c" _PID=1
received "upgrade" app upg 2000 - --brokers 127.0.0.1:9092
upgrade_dups=$last_dups
# The STATUS= line is refreshed every 10 s: wait for one that counts the lines shipped.
status_counts() { [[ "$(show logferry StatusText)" =~ \ [1-9][0-9]*\ lines ]]; }
check "upgrade: STATUS= counts the lines shipped since the restart" wait_for 15 status_counts
ct systemctl status logferry --no-pager -n 0 | sed -n '1,7p' || true

echo "== nspawn: purge (README: sudo dpkg --purge logferry)"
c=$(cursor)
ct sudo dpkg --purge logferry </dev/null >"$run_dir/purge.log" 2>&1 && rc=0 || rc=$?
check "purge: exit 0" test "$rc" -eq 0
excerpt "logferry(-broker)?\.service" 8 "$c" _PID=1
agents_left() {
    local p n=0
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$(readlink "/proc/$ct_pid/ns/pid")" ] || continue
        [ "$(cat "$p/comm" 2>/dev/null)" = logferry ] && n=$((n + 1))
    done
    echo "$n"
}
check "purge: no logferry process left" test "$(agents_left)" -eq 0
check "purge: both units stopped" test "$(ct systemctl is-active logferry logferry-broker | sort -u)" = inactive
check "purge: package gone" not quiet ct dpkg -s logferry
for f in /usr/bin/logferry /lib/systemd/system/logferry.service /lib/systemd/system/logferry-broker.service \
    /etc/logferry /var/lib/logferry /var/lib/logferry-broker /usr/share/logferry /usr/share/doc/logferry \
    /usr/share/man/man1/logferry.1.gz /usr/share/bash-completion/completions/logferry; do
    check "purge: $f removed" test ! -e "$ct_root$f"
done
left=$(cd "$ct_root" && find etc/systemd var/lib/systemd -name '*logferry*' 2>/dev/null)
echo "left under /etc/systemd and /var/lib/systemd: ${left:-nothing}"
check "purge: no enablement link, drop-in or helper state left" test -z "$left"
check "purge: the logferry user is kept (documented)" ct getent passwd logferry

echo "== nspawn: reinstall after purge"
ct dpkg -i "/root/upgrade/$(basename "$upgrade_deb")" </dev/null >/dev/null
check "reinstall: logferry.service disabled" test "$(ct systemctl is-enabled logferry)" = disabled
check "reinstall: logferry-broker.service disabled" test "$(ct systemctl is-enabled logferry-broker)" = disabled
check "reinstall: nothing started" test "$(ct systemctl is-active logferry logferry-broker | sort -u)" = inactive
left=$(cd "$ct_root" && find etc/systemd -name '*logferry*' 2>/dev/null)
check "reinstall: no link under /etc/systemd (${left:-none})" test -z "$left"
# dpkg -i of the installed version runs the postinst as an upgrade: stopped units stay stopped.
ct dpkg -i "/root/upgrade/$(basename "$upgrade_deb")" </dev/null >/dev/null
check "reinstall over itself: nothing started, nothing enabled" \
    test "$(ct systemctl is-active logferry logferry-broker | sort -u) $(ct systemctl is-enabled logferry logferry-broker | sort -u)" = "inactive disabled"

echo "upgrade duplicates: $upgrade_dups"
echo "timings: build $((t_build / 1000)) s, debootstrap $((t_base / 1000)) s (0: cached), container and checks $((($(now_ms) - t_boot) / 1000)) s"
echo "packaging/nspawn-ci.sh took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
