#!/usr/bin/env python3
"""logferry side by side with kcat -P and rsyslog (imfile + omkafka): issue 6's scenarios.

Run through bench/run.sh (which installs the peers and builds the binaries):

    bench/run.sh [SCENARIO ...]          # 1..8 or names: throughput rotation latency idle scale outage broker steady
    REPS=3 QUICK=1 bench/run.sh 1 3      # QUICK: smaller sizes and shorter runs (REPS defaults to 1)
    CONTENDERS=lf-async,kcat bench/run.sh 1   # scenarios 1-2: only these contenders (A/B runs)

Every contender ships to a fresh broker of the same kind (started the same way) in the same
run; contenders alternate within each repetition (their order rotates from one repetition to
the next). "Done" is the same for all: partition 0's high watermark reaches the line count,
watched every 10 ms by bench-probe (an rdkafka client), timed from the shipper's process
start. CPU seconds and peak RSS come from wait4(2)'s rusage of the shipper (all threads,
until it exits after SIGTERM), RSS samples from /proc/PID/status.

Python 3 standard library only. Results: markdown on stdout, JSON in $OUT (default
$WORK/results.json).
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
# LOGFERRY_BIN: another logferry binary (e.g. an older build, for before/after figures).
BIN = os.environ.get("LOGFERRY_BIN") or os.path.join(TARGET, "release", "logferry")
MOCK = os.path.join(TARGET, "release", "examples", "mock-cluster")
PROBE = os.path.join(TARGET, "release", "examples", "bench-probe")
QUICK = os.environ.get("QUICK", "") == "1"
REPS = int(os.environ.get("REPS") or (1 if QUICK else 3))
WORK = os.environ.get("WORK") or tempfile.mkdtemp(prefix="logferry-bench-", dir="/var/tmp")
os.makedirs(WORK, exist_ok=True)
OUT = os.environ.get("OUT") or os.path.join(WORK, "results.json")
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Sizes (QUICK in brackets).
S1_LINES = 200_000 if QUICK else 1_000_000
S2_FILES = 10
S3_RATE, S3_SECS = 10_000, (10 if QUICK else 60)
S4_SECTIONS, S4_FILES, S4_SECS = 10, 100, (10 if QUICK else 60)
S5_FILES = 10_000
S6_RATE, S6_WARM, S6_OUT = 5_000, (5 if QUICK else 10), (20 if QUICK else 120)
S7_LINES = S1_LINES
S7_INTERVAL_MS = 100
# Scenario 8 (steady state): one write(2) per line at each rate, for S8_SECS seconds.
S8_RATES = [int(r) for r in os.environ.get("S8_RATES", "1000,5000,20000").split(",")]
S8_SECS = int(os.environ.get("S8_SECS") or (10 if QUICK else 30))

# Producer settings shared by every contender in the throughput scenarios (1, 2, 7):
# librdkafka batch.num.messages / linger.ms, and logferry's sender_batch_num_messages /
# sender_waiting_max_ms, which map onto them.
BATCH, LINGER_MS = 10_000, 5
DURABLE = ["acks=all", "enable.idempotence=true"]

results = {"meta": {}, "scenarios": {}}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes and /proc

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def proc_cpu(pid):
    """utime + stime of all threads, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reap(p, sig=signal.SIGTERM, timeout=30):
    """Stop `p` (if still running) and return its rusage: (cpu_s, ru_maxrss in MB). Careful:
    a child's ru_maxrss starts at the parent's RSS (inherited through fork + exec), so peak
    RSS is read from /proc/PID/status VmHWM instead (cpu_rss_at_done)."""
    def try_wait():
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return ru
        return None

    ru = try_wait() if p.returncode is None else None
    if ru is None and p.returncode is None:
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.time() + timeout
        while ru is None and time.time() < deadline:
            time.sleep(0.01)
            ru = try_wait()
        if ru is None:
            os.kill(p.pid, signal.SIGKILL)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
    if ru is None:
        return None, None
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


class Broker:
    """A fresh broker: `logferry broker` (flush "ack" or an interval in ms) or librdkafka's
    mock cluster (one broker, in memory; topics created at start with one partition)."""

    def __init__(self, kind, topics=(), flush="ack", strace_out=None, port=None):
        self.kind, self.flush, self.strace_out = kind, flush, strace_out
        self.dir = tempfile.mkdtemp(prefix=f"broker-{kind}-", dir=WORK)
        self.port = port or free_port()
        self.p = None
        if kind == "mock":
            self.p = subprocess.Popen([MOCK, "--brokers", "1", *topics], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            self.addr = self.p.stdout.readline().strip()
        else:
            self.addr = f"127.0.0.1:{self.port}"
            flush_toml = '"ack"' if flush == "ack" else str(int(flush))
            with open(f"{self.dir}/broker.toml", "w") as f:
                f.write(f"[broker]\nflush = {flush_toml}\n")
            self.start()

    def start(self):
        cmd = [BIN, "broker", "--listen", self.addr, "--data-dir", f"{self.dir}/data",
               "--config", f"{self.dir}/broker.toml"]
        if self.strace_out:
            cmd = ["strace", "-f", "-c", "--seccomp-bpf", "-e", "trace=fdatasync,fsync",
                   "-o", self.strace_out] + cmd
        self.p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(f"{self.dir}/broker.log", "a"),
                                  env=dict(os.environ, LOGFERRY_LOG="warn"))
        wait_port(self.port)

    def broker_pid(self):
        if not self.strace_out:
            return self.p.pid
        try:
            with open(f"/proc/{self.p.pid}/task/{self.p.pid}/children") as f:
                return int(f.read().split()[0])
        except (OSError, IndexError):
            return None

    def kill9(self):
        os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()

    def stop(self, keep=False):
        if self.p and self.p.poll() is None:
            if self.kind == "mock":
                self.p.kill()
            else:
                pid = self.broker_pid()
                if pid:
                    os.kill(pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


class Watch:
    """bench-probe watch: partition 0's high watermark, with the time of each change."""

    def __init__(self, addr, topic):
        self.p = subprocess.Popen([PROBE, "watch", "--brokers", addr, "--topic", topic],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.samples = []  # (unix_ns, hwm)
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_ge(0, 30)  # the topic exists (created on first metadata where allowed)

    def _read(self):
        for line in self.p.stdout:
            try:
                ns, hwm = map(int, line.split())
            except ValueError:
                continue
            with self.cv:
                self.samples.append((ns, hwm))
                self.cv.notify_all()

    def wait_ge(self, n, timeout):
        """Time (unix ns) at which the high watermark first reached n, or None."""
        deadline = time.time() + timeout
        with self.cv:
            while True:
                for ns, hwm in self.samples:
                    if hwm >= n:
                        return ns
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cv.wait(min(left, 0.5))

    def wait_ge_or_stall(self, n, timeout, stall):
        """wait_ge, giving up early once the high watermark has not moved for `stall` s."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            t = self.wait_ge(n, min(1, deadline - time.time()))
            if t:
                return t
            with self.cv:
                last_change = self.samples[-1][0] / 1e9 if self.samples else time.time()
            if time.time() - last_change > stall:
                return None
        return None

    def last(self):
        with self.cv:
            return self.samples[-1][1] if self.samples else 0

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---------------------------------------------------------------- contenders

def logferry_config(d, addr, sections, agent_extra=""):
    """sections: dicts with name, dir, base, regx, topic, producer_type, batch, wait_ms,
    rotate_wait_ms (None: logferry's default)."""
    os.makedirs(d, exist_ok=True)
    lines = ["[agent]", f'state_dir = "{d}/state"', 'metrics_listen = ""', 'host = "bench"',
             agent_extra, "[output]", f'brokers = "{addr}"']
    for s in sections:
        lines += [f"[topic.{s['name']}]", f"log_base_path = \"{s['dir']}\"",
                  f"topic = \"{s['topic']}\"", f"producer_type = \"{s.get('producer_type', 'sync')}\""]
        if s.get("base"):
            lines.append(f"base_log_fullpath = \"{s['base']}\"")
        if s.get("regx"):
            lines.append(f"log_name_regx = '{s['regx']}'")
        if s.get("batch"):
            lines.append(f"sender_batch_num_messages = {s['batch']}")
        if s.get("wait_ms"):
            lines.append(f"sender_waiting_max_ms = {s['wait_ms']}")
        if s.get("rotate_wait_ms"):
            lines.append(f"rotate_wait_ms = {s['rotate_wait_ms']}")
    path = f"{d}/logferry.toml"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [BIN, "run", "--config", path]


def rsyslog_config(d, addr, inputs, topic, params):
    """A private rsyslogd: imfile inputs (path globs) bound to one ruleset with one omkafka
    action that sends the bare message (template "%msg%", no syslog header)."""
    os.makedirs(f"{d}/work", exist_ok=True)
    conf = [f'global(workDirectory="{d}/work" maxMessageSize="64k")',
            'module(load="imfile" mode="inotify")',
            'module(load="omkafka")',
            'template(name="msgonly" type="string" string="%msg%")']
    for i, path in enumerate(inputs):
        conf.append(f'input(type="imfile" File="{path}" Tag="bench{i}" ruleset="tokafka" '
                    'freshStartTail="off")')
    plist = ",".join(f'"{p}"' for p in params)
    conf.append('ruleset(name="tokafka") {\n'
                f'  action(type="omkafka" broker=["{addr}"] topic="{topic}" template="msgonly" '
                f'confParam=[{plist}])\n}}')
    path = f"{d}/rsyslog.conf"
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n")
    return ["rsyslogd", "-n", "-f", path, "-i", f"{d}/rsyslogd.pid"]


def shipper_cmd(contender, d, addr, topic, logdir, base, regx=None, corpus=None):
    """Command line of one contender in the throughput scenarios."""
    if contender == "kcat":
        return ["kcat", "-P", "-b", addr, "-t", topic, "-X", "acks=all", "-X",
                "enable.idempotence=true", "-X", f"linger.ms={LINGER_MS}",
                "-X", f"batch.num.messages={BATCH}", "-l", corpus]
    if contender.startswith("rsyslog"):
        # Under rotation, "rsyslog" watches access.log* (like logferry's regex) and
        # "rsyslog-name" only the name access.log (imfile follows the renamed inode).
        glob = "*" if regx and contender == "rsyslog" else ""
        return rsyslog_config(d, addr, [base + glob], topic,
                              DURABLE + [f"linger.ms={LINGER_MS}", f"batch.num.messages={BATCH}"])
    ptype = "async" if "async" in contender else "sync"
    sec = {"name": "bench", "dir": logdir, "base": base, "regx": regx, "topic": topic,
           "producer_type": ptype}
    if not contender.endswith("-defaults"):
        sec.update(batch=BATCH, wait_ms=LINGER_MS)
    if regx:
        sec["rotate_wait_ms"] = 1000
    return logferry_config(d, addr, [sec])


LABELS = {
    "lf-sync": f"logferry sync (batch {BATCH}, {LINGER_MS} ms)",
    "lf-async": f"logferry async (batch {BATCH}, {LINGER_MS} ms)",
    "lf-sync-defaults": "logferry sync (defaults: batch 200, 50 ms)",
    "lf-async-defaults": "logferry async (defaults: batch 200, 50 ms)",
    "kcat": f"kcat -P -l (batch {BATCH}, linger {LINGER_MS} ms)",
    "rsyslog": f"rsyslog imfile+omkafka (batch {BATCH}, linger {LINGER_MS} ms)",
    "rsyslog-defaults": "rsyslog imfile+omkafka (librdkafka defaults)",
    "rsyslog-name": f"rsyslog, File=access.log only (batch {BATCH}, linger {LINGER_MS} ms)",
}


def rotate(seq, k):
    k %= len(seq)
    return list(seq[k:]) + list(seq[:k])


def cpu_rss_at_done(p):
    """CPU seconds and peak RSS (VmHWM) of a running shipper, read from /proc."""
    return proc_cpu(p.pid), proc_status(p.pid, "VmHWM")


def last_lines(corpus, n=3):
    """The corpus's last n lines (every scenario ships the whole corpus file)."""
    with open(corpus, "rb") as f:
        f.seek(max(0, os.path.getsize(corpus) - 4096))
        return f.read().splitlines()[-n:]


def tail_lines(addr, topic, n=3):
    r = subprocess.run(["kcat", "-C", "-b", addr, "-t", topic, "-o", f"-{n}", "-c", str(n),
                        "-e", "-q"], capture_output=True, timeout=30)
    return r.stdout.splitlines()


# ---------------------------------------------------------------- formatting

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(xs, f="{:,.0f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    m = f.format(statistics.median(xs))
    if len(xs) == 1:
        return m
    return f"{m} ({f.format(min(xs))}–{f.format(max(xs))})"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def emit(title, text):
    print(f"\n### {title}\n\n{text}\n", flush=True)


# ---------------------------------------------------------------- scenarios

def corpus_file(lines):
    path = f"{WORK}/corpus-{lines}.log"
    if not os.path.exists(path):
        subprocess.run([sys.executable, f"{ROOT}/bench/corpus.py", str(lines), path], check=True)
    return path


def throughput_once(broker_kind, contender, corpus, lines, size, rotation=False, tag=""):
    topic = f"t{int(time.time() * 1000) % 10**9}"
    b = Broker(broker_kind, topics=[topic])
    d = tempfile.mkdtemp(prefix=f"{contender}-", dir=WORK)
    logdir = f"{d}/logs"
    os.makedirs(logdir)
    base = f"{logdir}/access.log"
    w = Watch(b.addr, topic)
    writer = None
    if rotation:
        open(base, "w").close()
        cmd = shipper_cmd(contender, d, b.addr, topic, logdir, base,
                          regx=f"{logdir}/access\\.log(\\.[0-9]+)?")
    else:
        if contender != "kcat":
            os.link(corpus, base)  # same bytes, no copy; read-only use
        cmd = shipper_cmd(contender, d, b.addr, topic, logdir, base, corpus=corpus)
    timeout = 120 if QUICK else 300
    timed = f"{d}/time.txt"
    if contender == "kcat":
        # kcat exits by itself: GNU time reports its peak RSS (a child's ru_maxrss would
        # start at this Python process's RSS, inherited through fork + exec).
        cmd = ["/usr/bin/time", "-f", "%M %U %S", "-o", timed] + cmd
    t0 = time.time_ns()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=open(f"{d}/shipper.log", "w"),
                         env=dict(os.environ, LOGFERRY_LOG="warn"))
    if rotation:
        writer = subprocess.Popen([sys.executable, f"{ROOT}/bench/writer.py", "--out", base,
                                   "--corpus", corpus, "--lines", str(lines),
                                   "--rotate-every", str(lines // S2_FILES)],
                                  stdout=subprocess.DEVNULL)
    done = w.wait_ge_or_stall(lines, timeout, stall=20)
    if writer:
        writer.wait()
    cpu, rss = cpu_rss_at_done(p)
    if contender == "kcat":
        p.wait(timeout=120)  # exits once its last delivery report is in
        with open(timed) as f:
            kb, user, sys_ = f.read().split()[-3:]
        cpu, rss = float(user) + float(sys_), int(kb) / 1024
    else:
        reap(p)
    time.sleep(0.3)
    final = w.last()
    w.stop()
    content_ok = None
    if final:
        expect = last_lines(corpus)
        got = tail_lines(b.addr, topic)
        content_ok = got == expect
        if not content_ok:
            log(f"  last lines differ: expected {expect!r}, got {got!r}")
    b.stop()
    if done and content_ok:
        shutil.rmtree(d, ignore_errors=True)
    else:
        log(f"  kept {d} (shipper.log) for inspection")
    secs = (done - t0) / 1e9 if done else None
    # Start-up (connection, metadata, producer id) differs between librdkafka versions: with
    # 2.12 (logferry) the idempotent producer's id request sometimes waits for its 500 ms
    # retry timer; Debian's 2.0.2 (kcat, rsyslog) does not. So the rate after the first
    # acknowledged batch is reported beside the rate from process start.
    first = next(((ns, h) for ns, h in w.samples if h > 0), None)
    start_s = (first[0] - t0) / 1e9 if first else None
    steady = ((lines - first[1]) / ((done - first[0]) / 1e9)
              if done and first and done > first[0] else None)
    r = {"contender": contender, "broker": broker_kind, "secs": secs,
         "lines_s": lines / secs if secs else None, "mb_s": size / secs / 1e6 if secs else None,
         "start_s": start_s, "steady_lines_s": steady,
         "cpu_s": cpu, "rss_mb": rss, "final_hwm": final, "content_ok": content_ok}
    log(f"  {tag}{broker_kind:9} {contender:17} " + (
        f"{secs:6.2f} s {lines / secs:>10,.0f} lines/s (first ack {start_s:.2f} s, then "
        f"{steady or 0:,.0f} lines/s)" if secs else f"TIMEOUT hwm={final}")
        + f"  cpu {cpu:.2f} s  rss {rss:.1f} MB  hwm {final}  tail ok {content_ok}")
    return r


def scenario_throughput(rotation=False):
    key = "2_rotation" if rotation else "1_throughput"
    lines = S1_LINES
    corpus = corpus_file(lines)
    size = os.path.getsize(corpus)
    if rotation:
        brokers = ["lfbroker"]
        contenders = ["lf-sync", "lf-async", "lf-sync-defaults", "rsyslog", "rsyslog-name"]
    else:
        brokers = ["lfbroker", "mock"]
        contenders = ["lf-sync", "lf-async", "lf-sync-defaults", "kcat", "rsyslog"]
    if os.environ.get("CONTENDERS"):
        contenders = [c for c in contenders if c in os.environ["CONTENDERS"].split(",")]
    runs = []
    for rep in range(REPS):
        for bk in brokers:
            for c in rotate(contenders, rep):
                runs.append(throughput_once(bk, c, corpus, lines, size, rotation,
                                            tag=f"rep {rep + 1}/{REPS} "))
    results["scenarios"][key] = {"lines": lines, "bytes": size, "runs": runs}
    bname = {"lfbroker": '`logferry broker` (flush = "ack")', "mock": "librdkafka mock cluster"}
    for bk in brokers:
        rows, med_rate, med_steady = [], {}, {}
        for c in contenders:
            rs = [r for r in runs if r["broker"] == bk and r["contender"] == c]
            med_rate[c] = med([r["lines_s"] for r in rs])
            med_steady[c] = med([r["steady_lines_s"] for r in rs])
            bad = [r for r in rs if r["secs"] is None or r["final_hwm"] != lines
                   or not r["content_ok"]]
            note = "" if not bad else (
                f"{len(bad)} of {len(rs)} runs: hwm " + ", ".join(str(r["final_hwm"]) for r in bad)
                + (", last 3 lines differ (order)" if any(r["content_ok"] is False for r in bad) else ""))
            rows.append([LABELS[c], fmt([r["lines_s"] for r in rs]),
                         fmt([r["start_s"] for r in rs], "{:.2f}"),
                         fmt([r["steady_lines_s"] for r in rs]),
                         fmt([r["mb_s"] for r in rs], "{:.1f}"),
                         fmt([r["cpu_s"] for r in rs], "{:.2f}"),
                         fmt([r["rss_mb"] for r in rs], "{:.1f}"), note or "ok"])
        title = ("2. Throughput under rotation" if rotation else "1. Throughput, one file") + \
            f" — {lines:,} lines ({size / lines:.0f} B/line), {bname[bk]}, {REPS} reps"
        emit(title, table(["contender", "lines/s median (min–max)", "first ack s",
                           "lines/s after first ack", "MB/s", "CPU s", "peak RSS MB",
                           "check (hwm == lines, last 3 lines verbatim)"], rows))
        ratio_rows = []
        for c in [c for c in contenders if c.startswith("lf-")]:
            row = [LABELS[c]]
            for peer in [p for p in ("kcat", "rsyslog") if p in contenders]:
                for rate in (med_rate, med_steady):
                    if rate.get(c) and rate.get(peer):
                        row.append(f"{rate[c] / rate[peer]:.2f}")
                    else:
                        row.append("n/a")
            ratio_rows.append(row)
        peers = [p for p in ("kcat", "rsyslog") if p in contenders]
        emit(f"ratios (medians), {bname[bk]}",
             table(["logferry"] + [h for p in peers for h in
                                   (f"÷ {p}", f"÷ {p}, after first ack")], ratio_rows))


def scenario_latency():
    count = S3_RATE * S3_SECS
    corpus = corpus_file(S1_LINES)
    contenders = ["lf-sync-defaults", "lf-async-defaults", "rsyslog-defaults"]
    runs = []
    for rep in range(REPS):
        for c in rotate(contenders, rep):
            topic = f"lat{int(time.time() * 1000) % 10**9}"
            b = Broker("lfbroker")
            d = tempfile.mkdtemp(prefix=f"lat-{c}-", dir=WORK)
            logdir = f"{d}/logs"
            os.makedirs(logdir)
            base = f"{logdir}/access.log"
            open(base, "w").close()
            if c == "rsyslog-defaults":
                cmd = rsyslog_config(d, b.addr, [base], topic, DURABLE)
            else:
                cmd = logferry_config(d, b.addr, [{
                    "name": "bench", "dir": logdir, "base": base, "topic": topic,
                    "producer_type": "async" if "async" in c else "sync"}])
            w = Watch(b.addr, topic)  # creates the topic
            w.stop()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(f"{d}/shipper.log", "w"),
                                 env=dict(os.environ, LOGFERRY_LOG="warn"))
            time.sleep(2)
            probe = subprocess.Popen([PROBE, "latency", "--brokers", b.addr, "--topic", topic,
                                      "--count", str(count), "--timeout-s", str(S3_SECS + 60)],
                                     stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            subprocess.run([sys.executable, f"{ROOT}/bench/writer.py", "--out", base,
                            "--corpus", corpus, "--lines", str(count), "--rate", str(S3_RATE),
                            "--stamp"], stdout=subprocess.DEVNULL, check=True)
            out, _ = probe.communicate(timeout=120)
            cpu, rss = cpu_rss_at_done(p)
            reap(p)
            b.stop()
            shutil.rmtree(d, ignore_errors=True)
            try:
                r = json.loads(out)
            except ValueError:
                r = {"received": 0}
            r.update(contender=c, cpu_s=cpu, rss_mb=rss)
            runs.append(r)
            log(f"  rep {rep + 1}/{REPS} {c:18} p50 {r.get('p50_ms')} p99 {r.get('p99_ms')} "
                f"max {r.get('max_ms')} ms, {r['received']}/{count} lines, cpu {cpu:.2f} s, "
                f"rss {rss:.1f} MB")
    results["scenarios"]["3_latency"] = {"rate": S3_RATE, "secs": S3_SECS, "runs": runs}
    rows = []
    for c in contenders:
        rs = [r for r in runs if r["contender"] == c]
        rows.append([LABELS[c]] + [fmt([r.get(k) for r in rs], "{:.1f}")
                                   for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms")]
                    + [fmt([r["cpu_s"] for r in rs], "{:.2f}"), fmt([r["rss_mb"] for r in rs], "{:.1f}"),
                       f"{min(r['received'] for r in rs):,}/{count:,}, out of order "
                       f"{max(r.get('out_of_order', 0) for r in rs)}"])
    emit(f"3. Latency — write → consume, {S3_RATE:,} lines/s for {S3_SECS} s, "
         f'`logferry broker` (flush = "ack"), {REPS} reps',
         table(["contender", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU s", "peak RSS MB",
                "lines received (min)"], rows))


def syslogng_config(d, addr, base, topic, follow_freq):
    """A private syslog-ng: file() source (no parsing: the whole line is $MSG), polled every
    `follow_freq` seconds (syslog-ng's default is 1), to kafka-c() with the same librdkafka
    settings as the other contenders, flow control on (it never drops)."""
    ver = subprocess.run(["syslog-ng", "--version"], capture_output=True, text=True).stdout
    m = [w.strip("()") for w in ver.split() if w.startswith("(")]
    version = ".".join(m[0].split(".")[:2]) if m else "3.38"
    conf = f"""@version: {version}
options {{ stats_freq(0); }};
source s_file {{ file("{base}" flags(no-parse) follow-freq({follow_freq})); }};
destination d_kafka {{
  kafka-c(bootstrap-servers("{addr}") topic("{topic}")
    config("acks" => "all" "enable.idempotence" => "true" "linger.ms" => "{LINGER_MS}"
           "batch.num.messages" => "{BATCH}")
    message("$MSG"));
}};
log {{ source(s_file); destination(d_kafka); flags(flow-control); }};
"""
    path = f"{d}/syslog-ng.conf"
    with open(path, "w") as f:
        f.write(conf)
    return ["syslog-ng", "-F", "-f", path, "-R", f"{d}/persist", "-p", f"{d}/pid",
            "-c", f"{d}/ctl", "--no-caps"]


def ctx_switches(pid):
    """Context switches of all threads (voluntary: wake-ups after sleeping; involuntary)."""
    vol = invol = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vol += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            invol += int(line.split()[1])
            except OSError:
                pass
    except OSError:
        return None
    return vol, invol


def perf_syscalls(pid, secs, out):
    """`perf stat` counting the syscalls of every thread of `pid` for `secs` s (None without
    perf). Started in the background; read the count with read_perf(out)."""
    if not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "stat", "-e", "raw_syscalls:sys_enter", "-x,", "-o", out,
                             "-p", str(pid), "--", "sleep", str(secs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_perf(out):
    try:
        with open(out) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and "raw_syscalls:sys_enter" in line:
                    return int(parts[0])
    except (OSError, ValueError):
        pass
    return None


STEADY = {
    "lf-async": "logferry async (batch 10,000, 5 ms)",
    # The latency budget of the steady target (p99 ≤ 20 ms) spent on batching instead.
    "lf-async-15ms": "logferry async (batch 10,000, 15 ms)",
    "lf-sync-defaults": "logferry sync, defaults (batch 200, 50 ms)",
    "syslog-ng": "syslog-ng file() → kafka-c(), default follow-freq(1)",
    "syslog-ng-10ms": "syslog-ng, follow-freq(0.01)",
}


def scenario_steady():
    """Steady state: a line-buffered logger (one write(2) per line) at realistic rates.
    CPU, wake-ups and syscalls of the shipper during the run (from the writer's first line
    until the last line is consumed), and write → consumable latency (bench-probe)."""
    corpus = corpus_file(S1_LINES)
    wanted = os.environ.get("CONTENDERS")
    contenders = [c for c in STEADY if not wanted or c in wanted.split(",")]
    if not shutil.which("syslog-ng"):
        log("  syslog-ng not installed: its rows are skipped")
        contenders = [c for c in contenders if not c.startswith("syslog-ng")]
    runs = []
    for rep in range(REPS):
        for rate in S8_RATES:
            count = rate * S8_SECS
            for c in rotate(contenders, rep):
                topic = f"steady{int(time.time() * 1000) % 10**9}"
                b = Broker("lfbroker")
                d = tempfile.mkdtemp(prefix=f"steady-{c}-", dir=WORK)
                logdir = f"{d}/logs"
                os.makedirs(logdir)
                base = f"{logdir}/access.log"
                open(base, "w").close()
                if c.startswith("syslog-ng"):
                    cmd = syslogng_config(d, b.addr, base, topic, 0.01 if c.endswith("10ms") else 1)
                elif c.startswith("lf-async"):
                    cmd = logferry_config(d, b.addr, [{
                        "name": "bench", "dir": logdir, "base": base, "topic": topic,
                        "producer_type": "async", "batch": BATCH,
                        "wait_ms": 15 if c.endswith("15ms") else LINGER_MS}])
                else:
                    cmd = logferry_config(d, b.addr, [{
                        "name": "bench", "dir": logdir, "base": base, "topic": topic,
                        "producer_type": "sync"}])
                w = Watch(b.addr, topic)  # creates the topic
                w.stop()
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(f"{d}/shipper.log", "w"),
                                     env=dict(os.environ, LOGFERRY_LOG="warn"))
                time.sleep(2)
                probe = subprocess.Popen([PROBE, "latency", "--brokers", b.addr, "--topic", topic,
                                          "--count", str(count), "--timeout-s", str(S8_SECS + 60)],
                                         stdout=subprocess.PIPE, text=True)
                time.sleep(1)
                cpu0, ctx0, t0 = proc_cpu(p.pid), ctx_switches(p.pid), time.time()
                perf = perf_syscalls(p.pid, S8_SECS, f"{d}/perf.txt")
                subprocess.run([sys.executable, f"{ROOT}/bench/writer.py", "--out", base,
                                "--corpus", corpus, "--lines", str(count), "--rate", str(rate),
                                "--stamp", "--per-line"], stdout=subprocess.DEVNULL, check=True)
                out, _ = probe.communicate(timeout=S8_SECS + 120)
                cpu1, ctx1, t1 = proc_cpu(p.pid), ctx_switches(p.pid), time.time()
                syscalls = None
                if perf:
                    perf.wait(timeout=S8_SECS + 30)
                    syscalls = read_perf(f"{d}/perf.txt")
                _, rss = cpu_rss_at_done(p)
                reap(p)
                b.stop()
                try:
                    r = json.loads(out)
                except ValueError:
                    r = {"received": 0}
                shutil.rmtree(d, ignore_errors=True)
                secs = t1 - t0
                cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
                r.update(contender=c, rate=rate, lines=count, cpu_s=cpu,
                         cpu_per_m=cpu / count * 1e6 if cpu is not None else None,
                         wakeups_s=(ctx1[0] - ctx0[0]) / secs if ctx0 and ctx1 else None,
                         syscalls_s=syscalls / S8_SECS if syscalls else None, rss_mb=rss)
                runs.append(r)
                log(f"  rep {rep + 1}/{REPS} {rate:>6}/s {c:17} cpu {r['cpu_per_m'] or 0:.1f} s/1M, "
                    f"p99 {r.get('p99_ms')} ms, wake-ups {r['wakeups_s'] or 0:.0f}/s, syscalls "
                    f"{r['syscalls_s'] or 0:.0f}/s, {r['received']}/{count} lines, "
                    f"out of order {r.get('out_of_order')}")
    results["scenarios"]["8_steady"] = {"rates": S8_RATES, "secs": S8_SECS, "runs": runs}
    rows = []
    for rate in S8_RATES:
        for c in contenders:
            rs = [r for r in runs if r["contender"] == c and r["rate"] == rate]
            if not rs:
                continue
            rows.append([f"{rate:,}", STEADY[c],
                         fmt([r["cpu_per_m"] for r in rs], "{:.1f}"),
                         fmt([r.get("p50_ms") for r in rs], "{:.1f}"),
                         fmt([r.get("p99_ms") for r in rs], "{:.1f}"),
                         fmt([r["wakeups_s"] for r in rs]),
                         fmt([r["syscalls_s"] for r in rs]),
                         fmt([r["rss_mb"] for r in rs], "{:.1f}"),
                         f"{min(r['received'] for r in rs):,}/{rs[0]['lines']:,}, out of order "
                         f"{max(r.get('out_of_order', 0) for r in rs)}"])
    emit(f"8. Steady state — one write(2) per line for {S8_SECS} s, `logferry broker` "
         f'(flush = "ack"), acks=all + idempotence, {REPS} reps',
         table(["lines/s", "contender", "CPU s per 1M lines", "p50 ms", "p99 ms",
                "wake-ups/s", "syscalls/s", "peak RSS MB", "lines received (min)"], rows))


def make_files(d, prefix, n, lines_each, corpus_lines, base=True):
    """n rotated files prefix.1..n (oldest first, mtimes one second apart in the past) and the
    base file `prefix` (newest)."""
    os.makedirs(d, exist_ok=True)
    now = time.time()
    k = 0
    width = len(str(n))
    for i in range(1, n + 1):
        path = f"{d}/{prefix}.{i:0{width}d}"
        with open(path, "wb") as f:
            for _ in range(lines_each):
                f.write(corpus_lines[k % len(corpus_lines)])
                k += 1
        os.utime(path, (now - 2 * n - 100 + i, now - 2 * n - 100 + i))
    if base:
        with open(f"{d}/{prefix}", "wb") as f:
            for _ in range(lines_each):
                f.write(corpus_lines[k % len(corpus_lines)])
                k += 1
    return k


def scenario_idle():
    with open(corpus_file(S1_LINES), "rb") as f:
        corpus_lines = f.read().splitlines(keepends=True)[:10000]
    contenders = ["logferry", "rsyslog"]
    runs = []
    for rep in range(REPS):
        for c in rotate(contenders, rep):
            topic = f"idle{int(time.time() * 1000) % 10**9}"
            b = Broker("lfbroker")
            d = tempfile.mkdtemp(prefix=f"idle-{c}-", dir=WORK)
            total = 0
            sections = []
            for s in range(S4_SECTIONS):
                sd = f"{d}/logs/sec{s}"
                total += make_files(sd, "app.log", S4_FILES - 1, 5, corpus_lines)
                sections.append({"name": f"sec{s}", "dir": sd, "base": f"{sd}/app.log",
                                 "regx": f"{sd}/app\\.log(\\.[0-9]+)?", "topic": topic})
            if c == "logferry":
                cmd = logferry_config(d, b.addr, sections)
            else:
                cmd = rsyslog_config(d, b.addr, [f"{s['dir']}/app.log*" for s in sections],
                                     topic, DURABLE)
            w = Watch(b.addr, topic)
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(f"{d}/shipper.log", "w"),
                                 env=dict(os.environ, LOGFERRY_LOG="warn"))
            shipped = w.wait_ge(total, 120)
            time.sleep(10)  # past rotate_wait_ms (5 s): every rotated file finished
            c0, t0 = proc_cpu(p.pid), time.time()
            time.sleep(S4_SECS)
            c1, t1 = proc_cpu(p.pid), time.time()
            rss = proc_status(p.pid, "VmRSS")
            threads = len(os.listdir(f"/proc/{p.pid}/task"))
            fds = len(os.listdir(f"/proc/{p.pid}/fd"))
            reap(p)
            final = w.last()
            w.stop()
            b.stop()
            shutil.rmtree(d, ignore_errors=True)
            cpu = c1 - c0
            r = {"contender": c, "idle_s": t1 - t0, "cpu_s": cpu,
                 "cpu_pct": 100 * cpu / (t1 - t0), "rss_mb": rss, "threads": threads,
                 "fds": fds, "shipped_all": shipped is not None, "final_hwm": final,
                 "lines": total}
            runs.append(r)
            log(f"  rep {rep + 1}/{REPS} {c:9} idle cpu {cpu:.2f} s ({r['cpu_pct']:.2f} %), rss "
                f"{rss:.1f} MB, {threads} threads, {fds} fds, hwm {final}/{total}")
    results["scenarios"]["4_idle"] = {"sections": S4_SECTIONS, "files": S4_SECTIONS * S4_FILES,
                                      "secs": S4_SECS, "runs": runs}
    rows = []
    for c in contenders:
        rs = [r for r in runs if r["contender"] == c]
        rows.append([c, fmt([r["cpu_s"] for r in rs], "{:.2f}"),
                     fmt([r["cpu_pct"] for r in rs], "{:.2f}"),
                     fmt([r["rss_mb"] for r in rs], "{:.1f}"),
                     fmt([r["threads"] for r in rs]), fmt([r["fds"] for r in rs]),
                     "ok" if all(r["final_hwm"] == r["lines"] for r in rs) else
                     "hwm " + ", ".join(str(r["final_hwm"]) for r in rs)])
    emit(f"4. Idle cost — {S4_SECTIONS * S4_FILES:,} idle files in {S4_SECTIONS} sections "
         f"(directories), {S4_SECS} s after everything shipped, {REPS} reps",
         table(["agent", "CPU s", "% of a core", "RSS MB", "threads", "open fds",
                "all shipped"], rows))


def scenario_scale():
    with open(corpus_file(S1_LINES), "rb") as f:
        corpus_lines = f.read().splitlines(keepends=True)[:S5_FILES * 10]  # distinct files: identical ones would be held back as copies
    files_dir = f"{WORK}/scale/logs"
    shutil.rmtree(f"{WORK}/scale", ignore_errors=True)
    total = make_files(files_dir, "app.log", S5_FILES, 10, corpus_lines, base=False)
    runs = []
    for rep in range(REPS):
        topic = f"scale{int(time.time() * 1000) % 10**9}"
        b = Broker("lfbroker")
        d = tempfile.mkdtemp(prefix="scale-", dir=WORK)
        cmd = logferry_config(d, b.addr, [{"name": "bench", "dir": files_dir,
                                           "regx": f"{files_dir}/app\\.log(\\.[0-9]+)?",
                                           "topic": topic}])
        w = Watch(b.addr, topic)
        t0 = time.time_ns()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(f"{d}/shipper.log", "w"),
                             env=dict(os.environ, LOGFERRY_LOG="warn"))
        first = w.wait_ge(1, 120)
        rss_first = proc_status(p.pid, "VmRSS")
        done = w.wait_ge(total, 300)
        rss_done = proc_status(p.pid, "VmRSS")
        cpu, peak = cpu_rss_at_done(p)
        reap(p)
        final = w.last()
        w.stop()
        b.stop()
        shutil.rmtree(d, ignore_errors=True)
        r = {"first_s": (first - t0) / 1e9 if first else None,
             "all_s": (done - t0) / 1e9 if done else None, "rss_first_mb": rss_first,
             "rss_done_mb": rss_done, "peak_rss_mb": peak, "cpu_s": cpu, "final_hwm": final,
             "lines": total}
        runs.append(r)
        log(f"  rep {rep + 1}/{REPS} first line {r['first_s']} s, all {r['all_s']} s, rss "
            f"{rss_first} / {rss_done} MB, peak {peak:.1f} MB, cpu {cpu:.2f} s, hwm {final}/{total}")
    shutil.rmtree(f"{WORK}/scale", ignore_errors=True)
    results["scenarios"]["5_scale"] = {"files": S5_FILES, "lines": total, "runs": runs}
    emit(f"5. Scale — start with {S5_FILES:,} rotated files (10 lines each) in one directory, "
         f"{REPS} reps",
         table(["first line shipped s", f"all {total:,} lines shipped s", "RSS at first line MB",
                "RSS when all shipped MB", "peak RSS MB", "CPU s", "check"],
               [[fmt([r["first_s"] for r in runs], "{:.3f}"),
                 fmt([r["all_s"] for r in runs], "{:.2f}"),
                 fmt([r["rss_first_mb"] for r in runs], "{:.1f}"),
                 fmt([r["rss_done_mb"] for r in runs], "{:.1f}"),
                 fmt([r["peak_rss_mb"] for r in runs], "{:.1f}"),
                 fmt([r["cpu_s"] for r in runs], "{:.2f}"),
                 "ok" if all(r["final_hwm"] == total for r in runs) else
                 "hwm " + ", ".join(str(r["final_hwm"]) for r in runs)]]))


def scenario_outage():
    corpus = corpus_file(S1_LINES)
    runs = []
    for rep in range(REPS):
        topic = f"out{int(time.time() * 1000) % 10**9}"
        b = Broker("lfbroker")
        d = tempfile.mkdtemp(prefix="outage-", dir=WORK)
        logdir = f"{d}/logs"
        os.makedirs(logdir)
        base = f"{logdir}/access.log"
        open(base, "w").close()
        cmd = logferry_config(d, b.addr, [{"name": "bench", "dir": logdir, "base": base,
                                           "topic": topic}])
        w = Watch(b.addr, topic)
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(f"{d}/shipper.log", "w"),
                             env=dict(os.environ, LOGFERRY_LOG="warn"))
        total = S6_RATE * (S6_WARM + S6_OUT + 300)
        writer = subprocess.Popen([sys.executable, f"{ROOT}/bench/writer.py", "--out", base,
                                   "--corpus", corpus, "--lines", str(total),
                                   "--rate", str(S6_RATE)], stdout=subprocess.PIPE, text=True)
        written = [0]

        def follow():
            for line in writer.stdout:
                try:
                    written[0] = int(line)
                except ValueError:
                    pass
        threading.Thread(target=follow, daemon=True).start()
        time.sleep(S6_WARM)
        rss_before = proc_status(p.pid, "VmRSS")
        lag_before = written[0] - w.last()
        b.kill9()
        t_down = time.time()
        samples = []
        while time.time() < t_down + S6_OUT:
            time.sleep(1 - (time.time() - t_down) % 1)
            samples.append((time.time() - t_down, proc_status(p.pid, "VmRSS")))
        b.start()
        t_up = time.time()
        backlog = written[0]
        drained = w.wait_ge(backlog, 300)
        drain_s = drained / 1e9 - t_up if drained else None
        rss_after = proc_status(p.pid, "VmRSS")
        writer.kill()
        writer.wait()
        cpu, peak = cpu_rss_at_done(p)
        reap(p)
        w.stop()
        b.stop()
        shutil.rmtree(d, ignore_errors=True)
        rss = [s[1] for s in samples if s[1] is not None]
        # least-squares slope of RSS over the outage, MB per minute
        xs = [s[0] for s in samples if s[1] is not None]
        mx, my = statistics.mean(xs), statistics.mean(rss)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, rss)) / \
            sum((x - mx) ** 2 for x in xs) * 60
        r = {"rss_before_mb": rss_before, "rss_first_mb": rss[0], "rss_max_mb": max(rss),
             "rss_last_mb": rss[-1], "rss_slope_mb_per_min": slope, "rss_after_mb": rss_after,
             "peak_rss_mb": peak, "backlog_lines": backlog - (written[0] - backlog) * 0,
             "drain_s": drain_s, "lag_before": lag_before, "cpu_s": cpu, "samples": samples}
        runs.append(r)
        log(f"  rep {rep + 1}/{REPS} rss before {rss_before:.1f}, outage {rss[0]:.1f}..{max(rss):.1f}"
            f" (last {rss[-1]:.1f}, slope {slope:+.2f} MB/min), drain of {backlog:,} written lines "
            f"{drain_s} s after restart, peak {peak:.1f} MB")
    results["scenarios"]["6_outage"] = {"rate": S6_RATE, "outage_s": S6_OUT, "runs": runs}
    emit(f"6. Outage — `logferry broker` killed (-9) for {S6_OUT} s while {S6_RATE:,} lines/s are "
         f"written, restarted on the same port and data dir; logferry sync (defaults), {REPS} reps",
         table(["RSS before MB", "RSS during outage: first / max / last MB", "slope MB/min",
                "drain s (restart → every line written before it acked)", "peak RSS MB"],
               [[fmt([r["rss_before_mb"] for r in runs], "{:.1f}"),
                 f"{fmt([r['rss_first_mb'] for r in runs], '{:.1f}')} / "
                 f"{fmt([r['rss_max_mb'] for r in runs], '{:.1f}')} / "
                 f"{fmt([r['rss_last_mb'] for r in runs], '{:.1f}')}",
                 fmt([r["rss_slope_mb_per_min"] for r in runs], "{:+.2f}"),
                 fmt([r["drain_s"] for r in runs], "{:.2f}"),
                 fmt([r["peak_rss_mb"] for r in runs], "{:.1f}")]]))


def scenario_broker():
    lines = S7_LINES
    corpus = corpus_file(lines)
    size = os.path.getsize(corpus)
    modes = ["ack", S7_INTERVAL_MS]
    runs = []
    for rep in range(REPS):
        for mode in rotate(modes, rep):
            topic = f"br{int(time.time() * 1000) % 10**9}"
            trace = f"{WORK}/strace-{rep}-{mode}.txt"
            b = Broker("lfbroker", flush=mode, strace_out=trace)
            t0 = time.time()
            subprocess.run(["kcat", "-P", "-b", b.addr, "-t", topic, "-X", "acks=all", "-X",
                            "enable.idempotence=true", "-X", f"linger.ms={LINGER_MS}",
                            "-X", f"batch.num.messages={BATCH}", "-l", corpus], check=True)
            secs = time.time() - t0
            w = Watch(b.addr, topic)
            hwm = w.wait_ge(lines, 10) and w.last()
            w.stop()
            bpid = b.broker_pid()
            brss = proc_status(bpid, "VmHWM") if bpid else None
            b.stop()
            calls = 0
            with open(trace) as f:
                for line in f:
                    parts = line.split()
                    if parts and parts[-1] in ("fdatasync", "fsync") and parts[0][0].isdigit():
                        calls += int(parts[3])
            os.unlink(trace)
            r = {"flush": mode, "secs": secs, "lines_s": lines / secs, "mb_s": size / secs / 1e6,
                 "fsyncs": calls, "fsync_s": calls / secs, "hwm": hwm, "broker_rss_mb": brss}
            runs.append(r)
            log(f"  rep {rep + 1}/{REPS} flush={mode}: {lines / secs:,.0f} lines/s, {calls} fsyncs "
                f"({calls / secs:,.0f}/s), hwm {hwm}, broker peak RSS {brss} MB")
    results["scenarios"]["7_broker"] = {"lines": lines, "runs": runs}
    rows = []
    for mode in modes:
        rs = [r for r in runs if r["flush"] == mode]
        rows.append([f'flush = "ack"' if mode == "ack" else f"flush = {mode} (ms)",
                     fmt([r["lines_s"] for r in rs]), fmt([r["mb_s"] for r in rs], "{:.1f}"),
                     fmt([r["fsyncs"] for r in rs]), fmt([r["fsync_s"] for r in rs], "{:,.1f}"),
                     fmt([r["broker_rss_mb"] for r in rs], "{:.1f}"),
                     "ok" if all(r["hwm"] == lines for r in rs) else "hwm mismatch"])
    emit(f"7. Broker alone — `kcat -P -l` {lines:,} lines into `logferry broker` under "
         f"`strace -f -c --seccomp-bpf -e trace=fdatasync,fsync`, {REPS} reps",
         table(["broker", "lines/s", "MB/s", "fdatasync+fsync calls", "per second",
                "broker peak RSS MB", "check"], rows))


SCENARIOS = {
    "1": ("throughput", lambda: scenario_throughput(False)),
    "2": ("rotation", lambda: scenario_throughput(True)),
    "3": ("latency", scenario_latency),
    "4": ("idle", scenario_idle),
    "5": ("scale", scenario_scale),
    "6": ("outage", scenario_outage),
    "7": ("broker", scenario_broker),
    "8": ("steady", scenario_steady),
}


def machine():
    def sh(cmd):
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"), "cores": os.cpu_count(),
        "mem": sh("free -h | awk '/Mem/{print $2}'"),
        "disk": sh(f"df -h {WORK} | tail -1") + "; " + sh("lsblk -dno NAME,SIZE,ROTA,TYPE | tr '\\n' ';'"),
        "kernel": sh("uname -r"), "os": sh(". /etc/os-release; echo $PRETTY_NAME"),
        "loadavg_start": sh("cat /proc/loadavg"),
        "logferry": sh(f"{BIN} --version"), "kcat": sh("kcat -V 2>&1 | grep -o 'Version [^ ]*'"),
        "librdkafka_system": sh("dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null"),
        "rsyslog": sh("rsyslogd -v | head -1 | awk '{print $2}'"),
        "syslog-ng": sh("syslog-ng --version 2>/dev/null | head -1"),
        "quick": QUICK, "reps": REPS,
    }


def main():
    names = {v[0]: k for k, v in SCENARIOS.items()}
    wanted = [names.get(a, a) for a in sys.argv[1:]] or list(SCENARIOS)
    for s in wanted:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s}; use 1-8 or " + ", ".join(names))
    results["meta"] = machine()
    m = results["meta"]
    print(f"## {m['date']} — bench/run.sh {' '.join(sys.argv[1:])} (REPS={REPS}{', QUICK' if QUICK else ''})\n")
    print(f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem']} RAM, disk {m['disk']}; {m['os']}, "
          f"kernel {m['kernel']}; load average at start {m['loadavg_start']}.  ")
    print(f"{m['logferry']} (librdkafka 2.12.1 via rdkafka-sys), kcat {m['kcat']} and rsyslog "
          f"{m['rsyslog']} with Debian's librdkafka {m['librdkafka_system']}.", flush=True)
    log(f"work dir {WORK}")
    for s in wanted:
        log(f"scenario {s}: {SCENARIOS[s][0]}")
        t = time.time()
        SCENARIOS[s][1]()
        log(f"scenario {s} took {time.time() - t:.0f} s")
        results["meta"]["loadavg_end"] = open("/proc/loadavg").read().strip()
        with open(OUT, "w") as f:
            json.dump(results, f, indent=1)
    print(f"\nLoad average at the end: {results['meta']['loadavg_end']}. Raw results: {OUT}")


if __name__ == "__main__":
    main()
