#!/usr/bin/env bash
# packaging/ci.sh: CI for the systemd units and the .deb, on a fresh Debian 12 machine as root
# (no systemd as PID 1 needed). Builds the .deb, installs it with dpkg, checks the installed
# files, the units (systemd-analyze verify), the logferry user, the sd_notify protocol of the
# installed binary run as that user, then purges the package and checks it is gone.
# Ends with "N passed, M failed"; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR=never
start=$(date +%s)

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

echo "== packaging: install tools"
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v python3 >/dev/null || need+=(python3)
command -v setpriv >/dev/null || need+=(util-linux)
command -v gzip >/dev/null || need+=(gzip)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --locked
fi

# A leftover from an interrupted run would make the checks below test the old package.
if dpkg -s logferry >/dev/null 2>&1; then
    dpkg --purge logferry
fi

# Whatever happens below, leave the machine without the package.
trap 'dpkg --purge logferry >/dev/null 2>&1 || true' EXIT

echo "== packaging: build the .deb"
deb=$(packaging/build-deb.sh)
echo "built $deb"
check "the .deb exists" test -f "$deb"
echo "-- contents"
dpkg-deb --contents "$deb" | awk '{print $1, $6}'

echo "== packaging: dpkg -i"
dpkg -i "$deb"
check "package installed" dpkg -s logferry

echo "== packaging: installed files"
check "/usr/bin/logferry is executable" test -x /usr/bin/logferry
version=$(/usr/bin/logferry --version)
echo "logferry --version: $version"
cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
check "--version prints the crate version" test "$version" = "logferry $cargo_version"
for f in /lib/systemd/system/logferry.service /lib/systemd/system/logferry-broker.service; do
    check "$f is the repository's unit" cmp "$f" "systemd/$(basename "$f")"
done
check "config.toml is the packaged example" cmp /etc/logferry/config.toml packaging/config.toml
conffiles=$(dpkg-query --showformat='${Conffiles}\n' --show logferry)
check "config.toml is a conffile" grep -q '/etc/logferry/config.toml' <<<"$conffiles"
check "broker.toml is a conffile" grep -q '/etc/logferry/broker.toml' <<<"$conffiles"
check "Prometheus rules installed" test -s /usr/share/logferry/prometheus/logferry-rules.yml
check "Prometheus monitor rules installed" test -s /usr/share/logferry/prometheus/logferry-monitor-rules.yml
# man_has PAGE REGEX: the page, read from the .deb itself (a dpkg path-exclude for
# /usr/share/man, as in slim container images, would otherwise make this depend on the
# machine), has a line matching REGEX.
man_has() {
    local text
    # Read whole before grep: with pipefail, grep -q quitting early would fail the pipe.
    text=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/share/man/man1/$1.1.gz" | zcat)
    grep -q -- "$2" <<<"$text"
}
for page in logferry logferry-run logferry-check logferry-broker; do
    check "man page $page.1 (from clap)" man_has "$page" "^\.TH $page"
done
check "man page documents --log-format" man_has logferry 'log\\-format'
check "bash completion parses and completes subcommands" bash -c \
    'bash -n /usr/share/bash-completion/completions/logferry &&
     grep -q "check" /usr/share/bash-completion/completions/logferry'
check "zsh completion installed" test -s /usr/share/zsh/vendor-completions/_logferry
check "fish completion installed" test -s /usr/share/fish/vendor_completions.d/logferry.fish

echo "== packaging: systemd-analyze verify"
# Needs ExecStart's binary at its path, hence after dpkg -i. Any output is a finding.
# Documentation=man:… is checked with man(1) when the installed pages are there to find.
man_opt=--man=yes
if ! man -w logferry >/dev/null 2>&1; then
    echo "(man(1) or the installed man pages unavailable: --man=no)"
    man_opt=--man=no
fi
verify_out=$(systemd-analyze verify "$man_opt" /lib/systemd/system/logferry.service \
    /lib/systemd/system/logferry-broker.service 2>&1) && verify_rc=0 || verify_rc=$?
echo "${verify_out:-(no findings)}"
check "systemd-analyze verify exits 0" test "$verify_rc" -eq 0
check "systemd-analyze verify has no findings on our units" \
    bash -c '! grep -q "logferry" <<<"$0"' "$verify_out"

echo "== packaging: logferry user"
getent passwd logferry || true
id logferry || true
check "user logferry exists" getent passwd logferry
check "user logferry is in group adm" bash -c 'id -nG logferry | tr " " "\n" | grep -qx adm'
check "user logferry has no login shell" \
    bash -c '[ "$(getent passwd logferry | cut -d: -f7)" = /usr/sbin/nologin ]'
check "no unit enabled by the install" \
    bash -c '! ls /etc/systemd/system/*.wants/logferry*.service 2>/dev/null | grep -q .'

echo "== packaging: logferry check --config /etc/logferry/config.toml"
check_out=$(/usr/bin/logferry check --config /etc/logferry/config.toml 2>&1) \
    && check_rc=0 || check_rc=$?
echo "$check_out"
check "installed config passes check (exit 0)" test "$check_rc" -eq 0
check "check reports the config valid" grep -q "is valid" <<<"$check_out"

echo "== packaging: sd_notify protocol of the installed binary, as user logferry"
# What systemd would see from Type=notify: the installed config with its state and the
# bundled broker's port moved aside (so nothing on this machine is touched), run as the
# service user with NOTIFY_SOCKET and a 2 s watchdog; then SIGHUP and SIGTERM.
work=$(mktemp -d)
chmod 755 "$work"
install -d -o logferry -g logferry "$work/state"
sed -e "s|^state_dir = .*|state_dir = \"$work/state\"|" \
    -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    -e "s|^data_dir = .*|data_dir = \"$work/state/broker\"|" \
    /etc/logferry/config.toml >"$work/config.toml"
python3 - "$work" <<'PY' && notify_rc=0 || notify_rc=$?
import os, signal, socket, subprocess, sys, time

work = sys.argv[1]
sock_path = os.path.join(work, "notify.sock")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
os.chmod(sock_path, 0o777)  # the agent runs as logferry
env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="2000000")
agent = subprocess.Popen(
    ["setpriv", "--reuid", "logferry", "--regid", "logferry", "--init-groups",
     "/usr/bin/logferry", "run", "--config", os.path.join(work, "config.toml")],
    env=env, stderr=open(os.path.join(work, "agent.log"), "wb"))

def collect(until, seconds):
    """Messages received until one contains `until`, or `seconds` pass."""
    got = []
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.05, end - time.time()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        print("  notify:", msg.strip().replace("\n", " | "))
        got.append(msg)
        if until in msg:
            break
    return got

failures = []
def expect(what, cond):
    print(("PASS " if cond else "FAIL ") + "sd_notify: " + what)
    if not cond:
        failures.append(what)

start = collect("READY=1", 30)
expect("READY=1 after start", any("READY=1" in m for m in start))
# The first STATUS follows READY at once; watchdog pings every WATCHDOG_USEC/2 = 1 s.
later = collect("never", 3.5)
everything = start + later
expect("STATUS= with a summary",
       any(m.startswith("STATUS=") and "running" in m for m in everything))
expect("WATCHDOG=1 pings (>= 2 in 3.5 s)",
       sum(m.count("WATCHDOG=1") for m in later) >= 2)
agent.send_signal(signal.SIGHUP)
reload = collect("READY=1", 15)
expect("RELOADING=1 then READY=1 on SIGHUP",
       any("RELOADING=1" in m and "MONOTONIC_USEC=" in m for m in reload)
       and "READY=1" in reload[-1] if reload else False)
agent.send_signal(signal.SIGTERM)
stop = collect("STOPPING=1", 15)
expect("STOPPING=1 on SIGTERM", any("STOPPING=1" in m for m in stop))
rc = agent.wait(timeout=60)
expect("agent exits 0 after SIGTERM", rc == 0)
if failures:
    sys.stdout.write(open(os.path.join(work, "agent.log")).read())
sys.exit(len(failures))
PY
# The python block printed one PASS/FAIL line per expectation; fold them into the totals.
sd_checks=6
failed=$((failed + notify_rc))
passed=$((passed + sd_checks - notify_rc))
echo "-- agent log (as user logferry, no TTY: no ANSI colours expected)"
cat "$work/agent.log"
check "journald-style log has no ANSI escapes" bash -c "! grep -q $'\x1b\\[' '$work/agent.log'"
rm -rf "$work"

echo "== packaging: dpkg --purge"
dpkg --purge logferry
check "package gone" bash -c '! dpkg -s logferry >/dev/null 2>&1'
check "binary gone" test ! -e /usr/bin/logferry
check "units gone" bash -c '! ls /lib/systemd/system/logferry*.service 2>/dev/null | grep -q .'
check "/etc/logferry gone" test ! -e /etc/logferry
check "/var/lib/logferry gone" test ! -e /var/lib/logferry
check "man pages gone" test ! -e /usr/share/man/man1/logferry.1.gz

echo "packaging/ci.sh took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
