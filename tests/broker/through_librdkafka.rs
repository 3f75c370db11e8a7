//! End to end through librdkafka (the agent's client): an idempotent acks=all producer
//! writes 1,000,000 messages over 4 partitions; a consumer group reads them all back in
//! order with identical content, commits, and after a broker restart resumes exactly at the
//! committed offsets.

use crate::util::{test_config, InProc};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use rdkafka::Offset;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "lines";
const PARTITIONS: i32 = 4;
const TOTAL_DEFAULT: u64 = 1_000_000;

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    failed: AtomicU64,
}

struct Ctx(Arc<Counts>);
impl ClientContext for Ctx {}
impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.0.ok.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                eprintln!("delivery failed: {e}");
                self.0.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

fn payload(partition: i32, seq: u64) -> String {
    format!("p{partition}-{seq:08}-the quick brown fox jumps over the lazy dog")
}

/// Sends `per_partition` messages to each partition starting at sequence `from`.
fn produce(bootstrap: &str, from: u64, per_partition: u64) {
    let counts = Arc::new(Counts::default());
    let producer: ThreadedProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(Ctx(counts.clone()))
        .expect("producer");
    for seq in from..from + per_partition {
        for p in 0..PARTITIONS {
            let value = payload(p, seq);
            let mut rec: BaseRecord<(), String> =
                BaseRecord::to(TOPIC).partition(p).payload(&value);
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        // Queue full: let deliveries drain.
                        rec = r;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    let expected = per_partition * PARTITIONS as u64;
    assert_eq!(
        counts.failed.load(Ordering::Relaxed),
        0,
        "no failed deliveries"
    );
    assert_eq!(
        counts.ok.load(Ordering::Relaxed),
        expected,
        "all acknowledged"
    );
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut cfg = ClientConfig::new();
    if let Ok(d) = std::env::var("RDKAFKA_DEBUG") {
        cfg.set("debug", d);
    }
    if let Ok(extra) = std::env::var("RDKAFKA_EXTRA") {
        for kv in extra.split(',') {
            if let Some((k, v)) = kv.split_once('=') {
                cfg.set(k, v);
            }
        }
    }
    let c: BaseConsumer = cfg
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create()
        .expect("consumer");
    c.subscribe(&[TOPIC]).expect("subscribe");
    c
}

/// Reads until every partition has `per_partition` messages from `from`, checking offsets
/// and content in order.
fn consume_and_check(c: &BaseConsumer, from: u64, first_offset: i64, per_partition: u64) {
    let mut next: Vec<u64> = vec![from; PARTITIONS as usize];
    let mut got = 0u64;
    let want = per_partition * PARTITIONS as u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while got < want {
        assert!(Instant::now() < deadline, "consumed only {got} of {want}");
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            continue;
        };
        let m = m.expect("consumer error");
        let p = m.partition();
        let i = p as usize;
        let seq = next[i];
        assert!(
            seq < from + per_partition,
            "partition {p}: more messages than produced"
        );
        assert_eq!(
            m.offset(),
            first_offset + (seq - from) as i64,
            "partition {p} offsets are dense and ordered"
        );
        let body = std::str::from_utf8(m.payload().expect("payload")).expect("utf8");
        assert_eq!(body, payload(p, seq), "partition {p} content in order");
        next[i] += 1;
        got += 1;
    }
}

#[test]
fn million_messages_in_order_and_group_resumes_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = test_config(PARTITIONS as u32);
    // LOGFERRY_TEST_MESSAGES overrides the count for quick local runs.
    let total: u64 = std::env::var("LOGFERRY_TEST_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(TOTAL_DEFAULT);
    let per_partition = total / PARTITIONS as u64;

    let b = InProc::start(cfg.clone(), dir.path());
    let t0 = Instant::now();
    produce(&b.bootstrap(), 0, per_partition);
    eprintln!("produced {total} in {:?}", t0.elapsed());

    let t1 = Instant::now();
    let c = consumer(&b.bootstrap(), "g1");
    consume_and_check(&c, 0, 0, per_partition);
    eprintln!("consumed {total} in {:?}", t1.elapsed());
    eprintln!("committing");
    c.commit_consumer_state(CommitMode::Sync).expect("commit");
    eprintln!("committed");
    {
        // Scoped: the list holds partition references that must be released before the
        // consumer is destroyed, or librdkafka's destroy waits for them forever.
        let committed = c.committed(Duration::from_secs(10)).expect("committed");
        assert_eq!(committed.count(), PARTITIONS as usize);
        for e in committed.elements() {
            assert_eq!(
                e.offset(),
                Offset::Offset(per_partition as i64),
                "committed end of {e:?}"
            );
        }
    }
    drop(c);
    eprintln!("consumer closed");
    b.shutdown();
    eprintln!("broker stopped");

    // Restart on the same data dir (new port); more messages arrive; the group resumes at
    // its committed offsets and sees only the new messages.
    let b = InProc::start(cfg, dir.path());
    produce(&b.bootstrap(), per_partition, 1000);
    let c = consumer(&b.bootstrap(), "g1");
    consume_and_check(&c, per_partition, per_partition as i64, 1000);
    // Nothing beyond what was produced.
    let extra = c.poll(Duration::from_millis(1500));
    assert!(
        extra.is_none(),
        "no extra messages: {:?}",
        extra.map(|m| m.map(|m| m.offset()))
    );
    drop(c);
    b.shutdown();
}
