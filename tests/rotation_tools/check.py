#!/usr/bin/env python3
"""Compares what reached the topic with what the writer wrote, for tests/rotation_tools/run.sh.

    check.py --case NAME --done FILE --topic FILE --metrics FILE [--archive DIR]
             [--agent-log FILE] [--tool-log FILE] [--drained yes|no] [--out FILE]

--done      the writer's "N ELAPSED" (it wrote lines 1..N, see writer.line)
--topic     the topic read back from the beginning, one message per line (kcat -f '%s\\n')
--metrics   the agent's /metrics scraped after draining, before it was stopped
--archive   copytruncate cases: what logrotate really kept (every copy it made, taken in
            postrotate before compression, plus the final base file); lines in none of them
            were destroyed by logrotate in its copy -> truncate window and may be missing

Prints one result line:
  RESULT case written lost dup reordered garbage metric_bytes truth_bytes destroyed PASS|FAIL why
then indented detail lines (lost ranges, loss metric per reason, the agent's warnings/errors).
Pass: every missing line is one logrotate destroyed, no duplicate, no reordering, no garbage
(e.g. gzip bytes shipped as lines), and logferry_bytes_lost_total (all reasons) equals the
bytes (newline included) of the lines that are missing.
"""
import argparse
import os
import re
import sys
from collections import Counter, OrderedDict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from writer import LINE_BYTES, line  # noqa: E402


def parse_lines(data, case):
    """Yield (seq or None, raw) for each newline-terminated line of data."""
    prefix = case.encode() + b" "
    for raw in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        seq = None
        if raw.startswith(prefix) and len(raw) == LINE_BYTES - 1:
            digits = raw[len(prefix):len(prefix) + 9]
            if digits.isdigit():
                n = int(digits)
                if n > 0 and raw == line(case, n).encode():
                    seq = n
        yield seq, raw


def ranges(seqs):
    out = []
    for s in sorted(seqs):
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def fmt_ranges(seqs, limit=8):
    r = ranges(seqs)
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in r[:limit]]
    more = f" ... ({len(r)} runs)" if len(r) > limit else ""
    return ", ".join(parts) + more


def metric_samples(text, name):
    """[(labels dict, value)] of one metric family in Prometheus text format."""
    out = []
    for ln in text.splitlines():
        if not ln.startswith(name):
            continue
        m = re.match(r"^%s(?:\{(.*)\})?\s+(\S+)" % re.escape(name), ln)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1) or ""))
        out.append((labels, float(m.group(2))))
    return out


ANSI = re.compile(r"\x1b\[[0-9;]*m")
FIELD = re.compile(r'\s(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def agent_log_summary(path, limit=12):
    """The agent's WARN/ERROR messages and its section's INFO messages (how it followed the
    files), grouped by text, with counts, reasons, bytes and file names."""
    groups = OrderedDict()
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    for ln in text.splitlines():
        ln = ANSI.sub("", ln)
        m = re.match(r"^\S+\s+(INFO|WARN|ERROR)\s+(\S+?):\s(.*)$", ln)
        if not m:
            continue
        level, target, rest = m.group(1), m.group(2), m.group(3)
        # INFO only from the section (how files were followed), not start/stop chatter.
        if level == "INFO" and (target != "logferry::section" or "section st" in rest):
            continue
        fields = dict((k, v.strip('"')) for k, v in FIELD.findall(" " + rest))
        msg = FIELD.sub("", " " + rest).strip()
        # Group by the message's start (librdkafka's messages end in varying counts).
        msg = re.sub(r"\d+", "N", msg)[:120]
        key = (level, msg)
        g = groups.setdefault(key, {"n": 0, "reasons": Counter(), "paths": Counter(), "bytes": 0})
        g["n"] += 1
        if "reason" in fields:
            g["reasons"][fields["reason"]] += 1
        if "bytes" in fields and fields["bytes"].isdigit():
            g["bytes"] += int(fields["bytes"])
        if "path" in fields:
            g["paths"][re.sub(r".*/", "", fields["path"])] += 1
    out = []
    for (level, msg), g in list(groups.items())[:limit]:
        extra = []
        if g["reasons"]:
            extra.append("reasons " + ", ".join(f"{r} x{n}" for r, n in g["reasons"].most_common()))
        if g["bytes"]:
            extra.append(f"{g['bytes']} bytes")
        if g["paths"]:
            extra.append("files " + ", ".join(f"{p} x{n}" if n > 1 else p
                                              for p, n in g["paths"].most_common(6))
                         + (" ..." if len(g["paths"]) > 6 else ""))
        out.append(f"{level} x{g['n']}: {msg}" + (f" [{'; '.join(extra)}]" if extra else ""))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--done", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--archive")
    ap.add_argument("--agent-log")
    ap.add_argument("--tool-log")
    ap.add_argument("--drained", default="yes")
    ap.add_argument("--out")
    a = ap.parse_args()
    case = a.case
    details = []

    with open(a.done) as f:
        fields = f.read().split()
    written, elapsed = int(fields[0]), float(fields[1])

    with open(a.topic, "rb") as f:
        topic = f.read()
    seen = set()
    dup = reordered = garbage = binary = 0
    dup_seqs = []
    reorder_examples = []
    garbage_examples = []
    max_seen = 0
    messages = 0
    for seq, raw in parse_lines(topic, case):
        messages += 1
        if seq is None or seq > written:
            garbage += 1
            if b"\x1f\x8b" in raw or any(c < 9 or 13 < c < 32 or c > 126 for c in raw[:200]):
                binary += 1
            if len(garbage_examples) < 3:
                garbage_examples.append(raw[:60])
            continue
        if seq in seen:
            dup += 1
            dup_seqs.append(seq)
            continue
        if seq < max_seen:
            reordered += 1
            if len(reorder_examples) < 3:
                reorder_examples.append((seq, max_seen))
        seen.add(seq)
        max_seen = max(max_seen, seq)
    missing = set(range(1, written + 1)) - seen
    lost = len(missing)
    truth_bytes = lost * LINE_BYTES

    # Lines logrotate itself destroyed (copytruncate): in none of the files it kept.
    destroyed = set()
    if a.archive:
        kept = set()
        for name in sorted(os.listdir(a.archive)):
            with open(os.path.join(a.archive, name), "rb") as f:
                for seq, _ in parse_lines(f.read(), case):
                    if seq is not None:
                        kept.add(seq)
        destroyed = set(range(1, written + 1)) - kept
    unexplained = missing - destroyed

    with open(a.metrics, encoding="utf-8", errors="replace") as f:
        metrics = f.read()
    lost_by_reason = Counter()
    for labels, v in metric_samples(metrics, "logferry_bytes_lost_total"):
        lost_by_reason[labels.get("reason", "?")] += int(v)
    metric_bytes = sum(lost_by_reason.values())
    shipped = sum(v for _, v in metric_samples(metrics, "logferry_lines_shipped_total"))
    backlog = sum(v for _, v in metric_samples(metrics, "logferry_backlog_bytes"))

    why = []
    if unexplained:
        why.append("lost")
    if dup:
        why.append("dup")
    if reordered:
        why.append("reordered")
    if garbage:
        why.append("garbage")
    if a.archive:
        # copytruncate: lines written in logrotate's copy->truncate window that the agent
        # never saw (it read the live file up to some point, logrotate destroyed the rest)
        # cannot be counted by anyone but logrotate. The agent counts what it saw go: the
        # metric is at most the truth, never more, and only as "truncated".
        if metric_bytes > truth_bytes or set(lost_by_reason) - {"truncated"}:
            why.append("metric")
    elif metric_bytes != truth_bytes:
        why.append("metric")
    if a.drained != "yes":
        why.append("not-drained")
    verdict = "FAIL" if why else "PASS"

    rate = written / elapsed if elapsed > 0 else 0
    details.append(f"writer: {written} lines in {elapsed:.1f} s ({rate:.0f} lines/s); "
                   f"topic: {messages} messages; agent: {int(shipped)} lines shipped, "
                   f"backlog {int(backlog)} bytes at the end")
    if missing:
        details.append(f"missing seqs: {fmt_ranges(missing)}")
    if a.archive:
        details.append(f"destroyed by logrotate (copy->truncate window): {len(destroyed)} lines"
                       + (f": {fmt_ranges(destroyed)}" if destroyed else "")
                       + f"; missing but not destroyed: {len(unexplained)}")
    if dup:
        details.append(f"duplicated seqs: {fmt_ranges(set(dup_seqs))}")
    if reordered:
        details.append("reordered, e.g. " + ", ".join(f"{s} after {m}" for s, m in reorder_examples))
    if garbage:
        details.append(f"garbage: {garbage} messages ({binary} binary, e.g. gzip bytes); e.g. "
                       + " | ".join(repr(g) for g in garbage_examples))
    details.append("logferry_bytes_lost_total: "
                   + (", ".join(f"{r}={n}" for r, n in sorted(lost_by_reason.items())) or "0")
                   + f" (sum {metric_bytes}); truth {truth_bytes} = {lost} lines x {LINE_BYTES}")
    if a.tool_log and os.path.exists(a.tool_log):
        with open(a.tool_log, errors="replace") as f:
            errs = [ln.strip() for ln in f
                    if "error" in ln.lower() and "already exists, renaming" not in ln]
        if errs:
            details.append(f"rotation tool errors: {len(errs)}, e.g. {errs[0][:160]}")
    if a.agent_log:
        for s in agent_log_summary(a.agent_log):
            details.append("agent " + s)

    result = (f"RESULT {case} {written} {lost} {dup} {reordered} {garbage} {metric_bytes} "
              f"{truth_bytes} {len(destroyed) if a.archive else '-'} {verdict} "
              f"{','.join(why) or '-'}")
    text = result + "\n" + "".join(f"    {d}\n" for d in details)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
