//! Committed offsets survive kill -9: a librdkafka client commits in a loop (acks = the
//! commit call returned success) against `logferry broker` as a child process; the broker is
//! killed with SIGKILL mid-loop and restarted on the same address; every acknowledged commit
//! is there (the value read back is the last acknowledged one, or the one in flight at the
//! kill, which librdkafka retries against the restarted broker).

use crate::util::ChildBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const GROUPS: usize = 3;
const PARTITIONS: i32 = 4;
const TOPIC: &str = "committed";

fn consumer(addr: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("socket.timeout.ms", "3000")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .expect("consumer")
}

#[test]
fn kill9_during_commits_keeps_every_acknowledged_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = ChildBroker::spawn(dir.path(), &[]);
    let addr = b.addr.clone();
    // (group, partition) → (last acknowledged, last sent).
    let acked = Arc::new(std::sync::Mutex::new(
        HashMap::<(usize, i32), (i64, i64)>::new(),
    ));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for g in 0..GROUPS {
        let acked = acked.clone();
        let done = done.clone();
        let stop = stop.clone();
        let addr = addr.clone();
        workers.push(std::thread::spawn(move || {
            let c = consumer(&addr, &format!("group-{g}"));
            for i in 1..=100_000i64 {
                let part = (i % i64::from(PARTITIONS)) as i32;
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(TOPIC, part, Offset::Offset(i))
                    .expect("tpl");
                acked
                    .lock()
                    .expect("lock")
                    .entry((g, part))
                    .or_insert((0, 0))
                    .1 = i;
                if stop.load(Ordering::Relaxed) || c.commit(&tpl, CommitMode::Sync).is_err() {
                    break;
                }
                acked
                    .lock()
                    .expect("lock")
                    .entry((g, part))
                    .or_insert((0, 0))
                    .0 = i;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    crate::util::wait_until(Duration::from_secs(60), "300 acknowledged commits", || {
        (done.load(Ordering::Relaxed) >= 300).then_some(())
    });
    b.kill9();
    stop.store(true, Ordering::Relaxed);
    // A commit in flight at the kill is retried by librdkafka: restart on the same address so
    // it completes (either way its value is the one it sent).
    let b = ChildBroker::spawn_on(&addr, dir.path(), &[]);
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.values().all(|(a, _)| *a > 0),
        "every key committed before the kill"
    );

    for g in 0..GROUPS {
        let c = consumer(&b.addr, &format!("group-{g}"));
        let mut tpl = TopicPartitionList::new();
        for part in 0..PARTITIONS {
            tpl.add_partition(TOPIC, part);
        }
        let got = c
            .committed_offsets(tpl, Duration::from_secs(20))
            .expect("committed");
        for e in got.elements() {
            let (ack, sent) = acked[&(g, e.partition())];
            let Offset::Offset(o) = e.offset() else {
                panic!("group {g} partition {}: no committed offset", e.partition());
            };
            assert!(
                o == ack || o == sent,
                "group {g} partition {}: committed {o}, acknowledged {ack}, in flight {sent}",
                e.partition()
            );
        }
    }
    b.terminate();
}
