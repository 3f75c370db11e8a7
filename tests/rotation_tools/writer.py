#!/usr/bin/env python3
"""Numbered-line writers for tests/rotation_tools/run.sh, each writing the way an application
really does (one write(2) per line, paced at --rate lines per second for --seconds seconds).

    writer.py --mode MODE --path PATH --case NAME [--rate R] [--seconds S] --done FILE
              [--max-bytes N] [--backup-count N] [--interval S]

Modes:
  append     an O_APPEND fd opened once and never reopened (what copytruncate is for)
  watched    logging.handlers.WatchedFileHandler: reopens PATH when its dev/inode changes
             (logrotate `create`: no signal needed)
  rotating   logging.handlers.RotatingFileHandler(maxBytes=--max-bytes, backupCount=--backup-count)
  timed      logging.handlers.TimedRotatingFileHandler(when="S", interval=--interval,
             backupCount=--backup-count)
  stdout     lines to stdout (a pipe into Apache's rotatelogs); PATH is unused

Line n (n = 1, 2, ...) is line(case, n): "<case> <n:09d> <padding>\\n", LINE_BYTES bytes.
When done, writes the number of lines written to --done (atomically: temp file + rename).
"""
import argparse
import logging
import logging.handlers
import os
import sys
import time

LINE_BYTES = 100  # including the newline
PAD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def line(case, n):
    """Line n of a case, without its newline (LINE_BYTES - 1 bytes)."""
    head = f"{case} {n:09d} "
    k = n % len(PAD)
    pad = (PAD[k:] + PAD[:k]) * 2
    return (head + pad)[: LINE_BYTES - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True,
                    choices=["append", "watched", "rotating", "timed", "stdout"])
    ap.add_argument("--path")
    ap.add_argument("--case", required=True)
    ap.add_argument("--rate", type=float, default=3000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--done", required=True)
    ap.add_argument("--max-bytes", type=int, default=600_000)
    ap.add_argument("--backup-count", type=int, default=20)
    ap.add_argument("--interval", type=int, default=2)
    a = ap.parse_args()

    if a.mode == "append":
        fd = os.open(a.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

        def emit(s):
            b = (s + "\n").encode()
            while b:
                b = b[os.write(fd, b):]
    elif a.mode == "stdout":
        out = sys.stdout.buffer

        def emit(s):
            out.write((s + "\n").encode())
            out.flush()
    else:
        if a.mode == "watched":
            h = logging.handlers.WatchedFileHandler(a.path)
        elif a.mode == "rotating":
            h = logging.handlers.RotatingFileHandler(
                a.path, maxBytes=a.max_bytes, backupCount=a.backup_count)
        else:
            h = logging.handlers.TimedRotatingFileHandler(
                a.path, when="S", interval=a.interval, backupCount=a.backup_count)
        h.setFormatter(logging.Formatter("%(message)s"))
        log = logging.getLogger("rotation_tools")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(h)
        # A handler error must not pass silently (logging prints and goes on by default).
        logging.raiseExceptions = True

        def emit(s):
            log.info(s)

    total = int(a.rate * a.seconds)
    n = 0
    t0 = time.monotonic()
    while n < total:
        target = min(total, int(a.rate * (time.monotonic() - t0)) + 1)
        if target <= n:
            time.sleep(0.001)
            continue
        while n < target:
            n += 1
            emit(line(a.case, n))
    elapsed = time.monotonic() - t0
    if a.mode == "append":
        os.close(fd)
    elif a.mode == "stdout":
        sys.stdout.buffer.flush()
    else:
        logging.shutdown()
    tmp = a.done + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{n} {elapsed:.2f}\n")
    os.rename(tmp, a.done)


if __name__ == "__main__":
    main()
