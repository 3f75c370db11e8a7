#!/usr/bin/env bash
# logferry side by side with its peers (kcat -P, rsyslog imfile+omkafka): issue 6's benchmarks.
#
#   bench/run.sh [SCENARIO ...]     1 throughput  2 rotation  3 latency  4 idle  5 scale
#                                   6 outage      7 broker    8 steady (one write per line;
#                                   S8_RATES=1000,5000,20000 S8_SECS=30)   (default: all, in that order)
#   REPS=3        repetitions (default 3; 1 with QUICK=1)
#   QUICK=1       smaller sizes and shorter runs (200k lines, 10 s latency, 20 s outage)
#   WORK=DIR      scratch directory (default: a new /var/tmp/logferry-bench-*; needs ~1 GB)
#   OUT=FILE      raw results as JSON (default: $WORK/results.json)
#   LOGFERRY_BIN=PATH  run this logferry binary instead of the one built (before/after figures)
#   CONTENDERS=a,b  scenarios 1-2: only these (lf-sync lf-async lf-sync-defaults kcat rsyslog rsyslog-name);
#                   scenario 8: lf-async lf-async-15ms lf-sync-defaults syslog-ng syslog-ng-10ms
#
# On a fresh Debian machine (as root) it installs what is missing (kcat, rsyslog,
# rsyslog-kafka, strace, python3, time), builds logferry and the bench helpers in release
# mode (CARGO_TARGET_DIR is honoured), then runs bench/harness.py, which prints markdown
# tables (medians, min–max, ratios) on stdout and progress on stderr. Never run by cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v kcat >/dev/null || need+=(kcat)
# Debian's rsyslog and syslog-ng packages conflict (both are the system logger): scenario 8
# alone ("bench/run.sh 8") gets syslog-ng, any other selection rsyslog (scenario 8 then
# skips its syslog-ng rows unless syslog-ng is already there).
if [ "$*" = 8 ] || [ "$*" = steady ]; then
    command -v syslog-ng >/dev/null || need+=(syslog-ng-core syslog-ng-mod-rdkafka)
else
    command -v rsyslogd >/dev/null || need+=(rsyslog)
    [ -e /usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so ] || ls /usr/lib/*/rsyslog/omkafka.so >/dev/null 2>&1 || need+=(rsyslog-kafka)
fi
command -v strace >/dev/null || need+=(strace)
command -v perf >/dev/null || need+=(linux-perf)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/time ] || need+=(time)
command -v cc >/dev/null || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    if [ "$(id -u)" != 0 ]; then
        echo "bench/run.sh: missing ${need[*]}; run as root or install them" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
# The packaged syslog-ng service would read /dev/log and the journal: the harness runs
# private instances only.
if command -v systemctl >/dev/null && systemctl is-active --quiet syslog-ng 2>/dev/null; then
    echo "note: the system syslog-ng service is running; the harness uses its own instances" >&2
fi
# The packaged rsyslog service is not used (the harness runs private rsyslogd instances);
# stop it if the package just started one, so it does not read our files or ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet rsyslog 2>/dev/null; then
    echo "note: the system rsyslog service is running; the harness uses its own instances" >&2
fi

command -v cargo >/dev/null || { echo "bench/run.sh: needs a Rust toolchain (cargo)" >&2; exit 1; }
cargo build --release --quiet --bin logferry --example mock-cluster --example bench-probe

# Several shippers, brokers and probes at once; rsyslog's imfile watches 1,000 files.
ulimit -n 65536 2>/dev/null || true
exec python3 bench/harness.py "$@"
