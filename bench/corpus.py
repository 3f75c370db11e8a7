#!/usr/bin/env python3
"""Deterministic access-log-like corpus: `corpus.py LINES PATH` writes LINES lines of ~105 bytes."""
import random
import sys

n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as f:
    for i in range(n):
        f.write(
            f'10.0.{i % 250}.{i % 199} - - [21/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
            f'"GET /api/v1/items/{i} HTTP/1.1" 200 {random.randint(100, 9999)} "-" "curl/8.5.0"\n'
        )
