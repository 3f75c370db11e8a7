#!/usr/bin/env python3
"""Log writer for bench/harness.py: appends lines of a corpus file to a log file.

    writer.py --out PATH --corpus FILE --lines N [--rate R] [--rotate-every K] [--stamp] [--per-line]

--rate R        lines per second (0: as fast as possible, in chunks of 1,000 lines)
--rotate-every  after every K lines, rename PATH to PATH.1, PATH.2, ... and continue in a new PATH
--stamp         prefix every line with the wall-clock time of its write, in ns, and a space
--per-line      one write(2) per line (a line-buffered logger), paced to --rate
Each write(2) holds whole lines. Prints the number of lines written so far on stdout
(about every 100 ms, and once at the end).
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--lines", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--rotate-every", type=int, default=0)
    ap.add_argument("--stamp", action="store_true")
    ap.add_argument("--per-line", action="store_true")
    a = ap.parse_args()

    with open(a.corpus, "rb") as f:
        corpus = f.read().splitlines(keepends=True)
    n = a.lines
    fd = os.open(a.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    written = 0
    rotations = 0
    in_file = 0
    t0 = time.monotonic()
    last_report = t0

    def report(force=False):
        nonlocal last_report
        now = time.monotonic()
        if force or now - last_report >= 0.1:
            last_report = now
            sys.stdout.write(f"{written}\n")
            sys.stdout.flush()

    while written < n:
        if a.rate > 0:
            target = min(n, int(a.rate * (time.monotonic() - t0)) + 1)
            if target <= written:
                time.sleep(0.0005)
                report()
                continue
            chunk = target - written
        else:
            chunk = min(1000, n - written)
        if a.rotate_every:
            chunk = min(chunk, a.rotate_every - in_file)
        if a.stamp:
            stamp = b"%d " % time.time_ns()
            data = b"".join(stamp + corpus[(written + i) % len(corpus)] for i in range(chunk))
        else:
            data = b"".join(corpus[(written + i) % len(corpus)] for i in range(chunk))
        if a.per_line:
            # One line per write(2), paced: line i is due at t0 + i / rate.
            for i in range(chunk):
                line = corpus[(written + i) % len(corpus)]
                if a.rate > 0:
                    due = t0 + (written + i) / a.rate
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                if a.stamp:
                    line = b"%d " % time.time_ns() + line
                os.write(fd, line)
        else:
            view = memoryview(data)
            while view:
                k = os.write(fd, view)
                view = view[k:]
        written += chunk
        in_file += chunk
        if a.rotate_every and in_file >= a.rotate_every and written < n:
            os.close(fd)
            rotations += 1
            os.rename(a.out, f"{a.out}.{rotations}")
            fd = os.open(a.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            in_file = 0
        report()
    os.close(fd)
    report(force=True)


if __name__ == "__main__":
    main()
