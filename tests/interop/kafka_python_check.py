#!/usr/bin/env python3
"""kafka-python against `logferry broker`: producer with acks=all, a consumer group that
reads everything back (content compared), commits, and resumes at the committed offsets.

Usage: kafka_python_check.py BOOTSTRAP. Prints one `PASS <name>` / `FAIL <name>: why` line
per check; exits non-zero if any check failed.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

BOOTSTRAP = sys.argv[1]
TOPIC = "py-interop"
GROUP = "py-group"
results = []


def check(name, ok, why=""):
    results.append(ok)
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)), flush=True)


def produce(values):
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5, retries=5)
    futures = [p.send(TOPIC, key=v.split("-")[1].encode(), value=v.encode()) for v in values]
    p.flush(timeout=30)
    metas = [f.get(timeout=30) for f in futures]
    p.close(timeout=10)
    return metas


def consume(n, timeout_s=60):
    c = KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    got = []
    deadline = time.time() + timeout_s
    while len(got) < n and time.time() < deadline:
        for m in c:
            got.append((m.partition, m.offset, m.value.decode()))
            if len(got) >= n:
                break
    # Anything beyond n would be a duplicate or a stray message.
    extra = c.poll(timeout_ms=1500)
    extra_n = sum(len(v) for v in extra.values())
    c.commit()
    parts = c.assignment()
    committed = {tp.partition: c.committed(tp) for tp in parts}
    ends = c.end_offsets(list(parts))
    c.close()
    return got, extra_n, committed, {tp.partition: o for tp, o in ends.items()}


first = ["v-%05d-kafka-python" % i for i in range(500)]
metas = produce(first)
check("producer acks=all: 500 acknowledged", len(metas) == 500 and all(m.offset >= 0 for m in metas))

got, extra, committed, ends = consume(len(first))
check("group consumer read all 500", len(got) == 500, "read %d" % len(got))
check("content identical", sorted(v for _, _, v in got) == sorted(first))
per_part = {}
for p, o, v in got:
    per_part.setdefault(p, []).append((o, v))
in_order = all([o for o, _ in l] == sorted(o for o, _ in l) for l in per_part.values())
check("in order per partition", in_order)
check("no extra messages", extra == 0, "%d extra" % extra)
check("committed == end offsets (3 partitions)", committed == ends and len(ends) == 3,
      "committed %r ends %r" % (committed, ends))

second = ["v-%05d-after-commit" % i for i in range(500, 600)]
produce(second)
got2, extra2, _, _ = consume(len(second))
check("group resumes at committed offsets", sorted(v for _, _, v in got2) == sorted(second),
      "read %d: %r..." % (len(got2), [v for _, _, v in got2][:3]))
check("no re-reads after resume", extra2 == 0, "%d extra" % extra2)

sys.exit(0 if all(results) else 1)
