//! Crash safety of `logferry broker` as a child process: kill -9 while an idempotent
//! acks=all producer is sending; after restart every acknowledged message is present exactly
//! once, in order. Then torn tails written by hand (half a batch; a batch with a flipped CRC
//! byte) are truncated on the next start, and logged with their path.

use crate::util::{wait_until, ChildBroker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "crashy";
const PARTITIONS: i32 = 2;

/// (partition, offset, payload) of every acknowledged message.
type Acked = Arc<Mutex<Vec<(i32, i64, String)>>>;

struct Ctx(Acked);
impl ClientContext for Ctx {}
impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = r {
            let body = String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8");
            self.0
                .lock()
                .expect("lock")
                .push((m.partition(), m.offset(), body));
        }
    }
}

/// Everything stored, per partition, as (offset, payload), read from the beginning to the
/// high watermark.
fn read_all(bootstrap: &str) -> HashMap<i32, Vec<(i64, String)>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "crash-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut out: HashMap<i32, Vec<(i64, String)>> = HashMap::new();
    {
        let mut tpl = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                .expect("tpl");
            let (_, high) = c
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .expect("watermarks");
            ends.insert(p, high);
            out.insert(p, Vec::new());
        }
        c.assign(&tpl).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(120);
        while out.iter().any(|(p, v)| v.len() as i64 != ends[p]) {
            assert!(Instant::now() < deadline, "reading back timed out");
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.expect("consume");
                let body =
                    String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8");
                out.get_mut(&m.partition())
                    .expect("partition")
                    .push((m.offset(), body));
            }
        }
    }
    out
}

fn segments(dir: &Path, partition: i32) -> Vec<PathBuf> {
    let pdir = dir.join(format!("{TOPIC}-{partition}"));
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&pdir)
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

/// The active (last) segment of a partition, and a copy of the partition's last batch
/// (the active segment may be empty: a kill -9 can tear a write, and recovery cuts it).
fn last_segment_and_batch(dir: &Path, partition: i32) -> (PathBuf, Vec<u8>) {
    let segs = segments(dir, partition);
    let last = segs.last().expect("a segment").clone();
    for seg in segs.iter().rev() {
        let bytes = std::fs::read(seg).expect("read segment");
        if let Some(&(s, e)) = batches(&bytes).last() {
            return (last, bytes[s..e].to_vec());
        }
    }
    panic!("partition {partition} has no batch");
}

/// Byte ranges of the batches in a segment file.
fn batches(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 12 <= bytes.len() {
        let len = i32::from_be_bytes([
            bytes[pos + 8],
            bytes[pos + 9],
            bytes[pos + 10],
            bytes[pos + 11],
        ]) as usize;
        out.push((pos, pos + 12 + len));
        pos += 12 + len;
    }
    out
}

/// A copy of `batch` whose base offset follows the original's last offset, so only the
/// damage done to it (not its numbering) makes recovery reject it.
fn renumbered(batch: &[u8]) -> Vec<u8> {
    let mut copy = batch.to_vec();
    let base = i64::from_be_bytes(copy[0..8].try_into().expect("8 bytes"));
    let delta = i32::from_be_bytes(copy[23..27].try_into().expect("4 bytes"));
    copy[0..8].copy_from_slice(&(base + i64::from(delta) + 1).to_be_bytes());
    copy
}

#[test]
fn kill9_keeps_every_acked_message_and_torn_tails_are_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = dir.path().join("logferry.toml");
    std::fs::write(
        &cfg,
        format!(
            "[broker]\nnum_partitions = {PARTITIONS}\nsegment_bytes = 262144\nflush = \"ack\"\n"
        ),
    )
    .expect("config");
    let cfg_arg = cfg.to_str().expect("utf8 path").to_string();

    let broker = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    let acked: Acked = Arc::default();
    let producer: ThreadedProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "3000")
        .create_with_context(Ctx(acked.clone()))
        .expect("producer");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let p = (i % PARTITIONS as u64) as i32;
                let v = format!("m{i:09}-payload-for-crash-test");
                let rec = BaseRecord::<(), String>::to(TOPIC).partition(p).payload(&v);
                if producer.send(rec).is_ok() {
                    i += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let _ = producer.flush(Duration::from_secs(10));
        })
    };
    // Kill once a good amount is acknowledged, while the producer is still sending.
    wait_until(
        Duration::from_secs(60),
        "20000 acknowledged messages",
        || (acked.lock().expect("lock").len() >= 20_000).then_some(()),
    );
    broker.kill9();
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("sender");
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 20_000);

    // Restart (unclean): every acknowledged message is there, once, at its offset, in order.
    let broker = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    assert!(broker.log_contains("no clean-shutdown marker"));
    let stored = read_all(&broker.addr);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (p, msgs) in &stored {
        let mut last = String::new();
        for (i, (off, body)) in msgs.iter().enumerate() {
            assert_eq!(*off, i as i64, "partition {p} offsets dense");
            assert!(
                *body > last,
                "partition {p} in send order: {body} after {last}"
            );
            last.clone_from(body);
            *count.entry(body.as_str()).or_default() += 1;
        }
    }
    for (p, off, body) in &acked {
        assert_eq!(
            count.get(body.as_str()),
            Some(&1),
            "acked {body} present exactly once"
        );
        assert_eq!(
            stored[p].get(*off as usize).map(|(_, b)| b.as_str()),
            Some(body.as_str()),
            "acked {body} at its acknowledged offset {p}@{off}"
        );
    }
    broker.kill9();

    // Torn tails by hand: half a batch on partition 0; on partition 1 a copy of the last
    // batch, renumbered to follow it, with one flipped byte under the CRC.
    let (seg0, batch0) = last_segment_and_batch(&data, 0);
    let len0 = std::fs::metadata(&seg0).expect("stat").len();
    let mut half = renumbered(&batch0);
    half.truncate(half.len() / 2);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg0)
        .and_then(|mut f| f.write_all(&half))
        .expect("append half batch");
    let (seg1, batch1) = last_segment_and_batch(&data, 1);
    let len1 = std::fs::metadata(&seg1).expect("stat").len();
    let mut copy = renumbered(&batch1);
    let last = copy.len() - 1;
    copy[last] ^= 0x5a;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&seg1)
        .and_then(|mut f| f.write_all(&copy))
        .expect("append corrupt batch");

    let broker = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    for seg in [&seg0, &seg1] {
        let path = seg.display().to_string();
        assert!(
            broker
                .lines
                .lock()
                .expect("lines")
                .iter()
                .any(|l| l.contains("truncating torn tail") && l.contains(&path)),
            "torn tail of {path} truncated and logged"
        );
    }
    assert_eq!(
        std::fs::metadata(&seg0).expect("stat").len(),
        len0,
        "cut back"
    );
    assert_eq!(
        std::fs::metadata(&seg1).expect("stat").len(),
        len1,
        "cut back"
    );
    assert_eq!(read_all(&broker.addr), stored, "same content after repair");
    broker.terminate();
    assert!(
        data.join(".clean-shutdown").exists(),
        "clean-shutdown marker written"
    );
}
