//! The bundled broker and the agent under faults:
//! - kill -9 of `logferry broker` during acks=all produce, in a loop: every acknowledged
//!   record is present after the last restart, in send order;
//! - the broker's data dir fills up: produce answers KAFKA_STORAGE_ERROR (the client retries),
//!   nothing acknowledged is lost, and producing resumes when space returns;
//! - the agent's state_dir fills up: shipping continues, the failure is logged, the checkpoint
//!   on disk never moves past what could be written, and it catches up when space returns.
//!
//! The disk-full cases mount a small tmpfs; where mounting is not permitted they print why and
//! return (they are not ignored: CI runs as root and mounts).

use crate::util::{
    append, as_strings, checkpoint_offsets, config_file, config_text, dirs, lines, mock_cluster,
    read_topic, spawn_agent, terminate, Tmpfs,
};
use crate::util::{record_batch, wait_until, ChildBroker, Raw};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "faults";
/// Delivery reports with an error (messages never time out, so only fatal errors count).
static FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// (offset, payload) of every acknowledged message (one partition).
type Acked = Arc<Mutex<Vec<(i64, String)>>>;

struct AckCtx(Acked);
impl ClientContext for AckCtx {}
impl ProducerContext for AckCtx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(m) => {
                let body = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                self.0.lock().expect("lock").push((m.offset(), body));
            }
            Err((e, _)) => {
                let n = FAILED.fetch_add(1, Ordering::Relaxed);
                if n < 3 {
                    eprintln!("delivery failed: {e}");
                }
            }
        }
    }
}

/// An idempotent acks=all producer sending numbered messages from a thread until stopped;
/// messages never time out (the broker may be down for a while).
struct Sender {
    acked: Acked,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Sender {
    fn start(bootstrap: &str, payload_pad: usize) -> Sender {
        let acked: Acked = Arc::default();
        let producer: ThreadedProducer<AckCtx> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "0")
            .set("queue.buffering.max.messages", "20000")
            .set("reconnect.backoff.max.ms", "200")
            .set("log_level", "4")
            .create_with_context(AckCtx(acked.clone()))
            .expect("producer");
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let pad = "p".repeat(payload_pad);
        let thread = std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !s.load(Ordering::Relaxed) {
                let v = format!("m{i:09}-{pad}");
                if producer
                    .send(BaseRecord::<(), String>::to(TOPIC).payload(&v))
                    .is_ok()
                {
                    i += 1;
                } else {
                    std::thread::sleep(Duration::from_millis(2));
                }
                if i % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let _ = producer.flush(Duration::from_secs(60));
            i
        });
        Sender {
            acked,
            stop,
            thread: Some(thread),
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().expect("lock").len()
    }

    /// Stop sending, wait for outstanding deliveries; returns (sent, acknowledged).
    fn finish(mut self) -> (u64, Vec<(i64, String)>) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self
            .thread
            .take()
            .map(|t| t.join().expect("sender thread"))
            .unwrap_or(0);
        let acked = self.acked.lock().expect("lock").clone();
        (sent, acked)
    }
}

/// Everything stored in partition 0 of TOPIC, from the beginning to the high watermark.
fn read_all(bootstrap: &str) -> Vec<(i64, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "faults-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let (_, high) = c
        .fetch_watermarks(TOPIC, 0, Duration::from_secs(10))
        .expect("watermarks");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .expect("tpl");
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while (out.len() as i64) < high {
        assert!(Instant::now() < deadline, "reading back timed out");
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.expect("consume");
            out.push((
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            ));
        }
    }
    out
}

/// Every acknowledged message is stored at its acknowledged offset, and the log is in send
/// order. Returns the number of duplicates (a message stored twice).
fn check_acked_present(stored: &[(i64, String)], acked: &[(i64, String)]) -> usize {
    let mut first: HashMap<&str, i64> = HashMap::new();
    let mut dups = 0;
    let mut last = "";
    for (i, (off, body)) in stored.iter().enumerate() {
        assert_eq!(*off, i as i64, "offsets are dense");
        if first.insert(body.as_str(), *off).is_some() {
            dups += 1;
        } else {
            assert!(body.as_str() > last, "send order: {body} after {last}");
            last = body.as_str();
        }
    }
    for (off, body) in acked {
        assert_eq!(
            stored.get(*off as usize).map(|(_, b)| b.as_str()),
            Some(body.as_str()),
            "acknowledged {body} at offset {off}"
        );
    }
    dups
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn broker_kill_9_during_produce_in_a_loop_keeps_every_acked_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = dir.path().join("broker.toml");
    std::fs::write(&cfg, "[broker]\nsegment_bytes = 262144\nflush = \"ack\"\n").expect("config");
    let cfg_arg = cfg.to_str().expect("utf8").to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let rounds: usize = std::env::var("LOGFERRY_BROKER_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xb40c);
    let broker = ChildBroker::spawn_on(&listen, &data, &["--config", &cfg_arg]);
    let sender = Sender::start(&listen, 40);
    let mut broker = Some(broker);
    for round in 0..rounds {
        // Let some acknowledgements through, then kill at a random moment of the stream.
        let before = sender.acked();
        wait_until(Duration::from_secs(60), "acks after restart", || {
            (sender.acked() > before).then_some(())
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..400)));
        if let Some(b) = broker.take() {
            b.kill9();
        }
        eprintln!("round {round}: killed with {} acknowledged", sender.acked());
        broker = Some(ChildBroker::spawn_on(
            &listen,
            &data,
            &["--config", &cfg_arg],
        ));
    }
    let (sent, acked) = sender.finish();
    let stored = read_all(&listen);
    let dups = check_acked_present(&stored, &acked);
    eprintln!(
        "broker kill -9 x{rounds}: {sent} sent, {} acknowledged, {} stored, {dups} duplicates",
        acked.len(),
        stored.len()
    );
    assert!(
        acked.len() as u64 == sent,
        "every message eventually acknowledged"
    );
    if let Some(b) = broker.take() {
        b.terminate();
    }
}

/// A raw acks=-1 produce of one batch; returns the partition's error code.
fn raw_produce(addr: &str, values: &[&str]) -> i16 {
    let mut raw = Raw::connect(addr);
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(-1, -1, -1, values)))])]);
    let resp: ProduceResponse = raw.call(ApiKey::Produce, 9, &req);
    resp.responses[0].partition_responses[0].error_code
}

const KAFKA_STORAGE_ERROR: i16 = 56;

#[test]
fn broker_disk_full_answers_storage_error_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 16 MiB: the test's own data (a few MiB) must fit once the ballast is gone.
    let fs = match Tmpfs::mount(&dir.path().join("fs"), 16 * 1024) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED broker disk-full test: {why}");
            return;
        }
    };
    let data = fs.dir.join("data");
    let cfg = dir.path().join("broker.toml");
    std::fs::write(&cfg, "[broker]\nsegment_bytes = 1048576\nflush = \"ack\"\n").expect("config");
    let cfg_arg = cfg.to_str().expect("utf8").to_string();
    let broker = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    let sender = Sender::start(&broker.addr, 40);
    wait_until(Duration::from_secs(60), "2000 acknowledged", || {
        (sender.acked() >= 2000).then_some(())
    });
    fs.fill();
    // The producer stalls (its requests get KAFKA_STORAGE_ERROR and are retried): the
    // acknowledged count stops moving once what was in flight settles.
    std::thread::sleep(Duration::from_millis(500));
    let stalled = sender.acked();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        sender.acked(),
        stalled,
        "no acknowledgement while the disk is full"
    );
    // What the client sees, first hand.
    let big = "x".repeat(64 * 1024);
    let code = raw_produce(&broker.addr, &[&big, &big]);
    assert_eq!(code, KAFKA_STORAGE_ERROR, "produce on a full disk");
    // The broker is alive and answering while full.
    assert_eq!(raw_produce(&broker.addr, &[&big]), KAFKA_STORAGE_ERROR);
    fs.free();
    wait_until(
        Duration::from_secs(60),
        "acks resume after space returns",
        || (sender.acked() >= stalled + 1000).then_some(()),
    );
    assert_eq!(raw_produce(&broker.addr, &["after the disk was full"]), 0);
    let (sent, acked) = sender.finish();
    assert_eq!(
        acked.len() as u64,
        sent,
        "every message acknowledged in the end"
    );
    let stored = read_all(&broker.addr);
    // Raw produces (no idempotence) are in the log too; check the sender's messages.
    let from_sender: Vec<(i64, String)> = stored
        .iter()
        .filter(|(_, b)| b.starts_with('m'))
        .cloned()
        .collect();
    let offsets: HashMap<&str, i64> = stored.iter().map(|(o, b)| (b.as_str(), *o)).collect();
    // Delivery reports can arrive out of send order (flush() polls alongside the producer's
    // own poll thread), so order is checked in send order: the zero-padded sequence number.
    let mut in_send_order = acked.clone();
    in_send_order.sort_by(|a, b| a.1.cmp(&b.1));
    let mut last = -1;
    for (off, body) in &in_send_order {
        assert_eq!(
            offsets.get(body.as_str()),
            Some(off),
            "acknowledged {body} kept"
        );
        assert!(*off > last, "in send order: {body} at {off} after {last}");
        last = *off;
    }
    eprintln!(
        "broker disk full: {sent} sent, {} acknowledged, {} stored ({} from the producer), \
         stalled at {stalled} while full",
        acked.len(),
        stored.len(),
        from_sender.len()
    );
    // Restart after the episode: the log recovers cleanly with everything in it.
    broker.kill9();
    let broker = ChildBroker::spawn(&data, &["--config", &cfg_arg]);
    assert_eq!(
        read_all(&broker.addr),
        stored,
        "same content after a restart"
    );
    broker.terminate();
}

#[test]
fn agent_state_dir_full_keeps_shipping_and_checkpoint_catches_up() {
    crate::util::init_logs();
    let topic = "statefull";
    let mock = mock_cluster(topic);
    let bootstrap = mock.bootstrap_servers();
    let d = dirs();
    let fs = match Tmpfs::mount(&d.state, 256) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED agent state_dir disk-full test: {why}");
            return;
        }
    };
    let cfg = config_file(&d, &config_text(&d, &bootstrap, topic, ""));
    let base = d.logs.join("access.log");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let cp_offset = || {
        checkpoint_offsets(&d.state, "topic_access")
            .first()
            .map(|(_, o)| *o)
    };
    let mut child = spawn_agent(&d, &cfg);
    let a = lines("before", 0..1000);
    append(&base, &a);
    wait_until(Duration::from_secs(60), "checkpoint at end of file", || {
        (cp_offset() == Some(size(&base))).then_some(())
    });
    let c0 = cp_offset();
    let cp_bytes = std::fs::read(d.state.join("topic_access")).expect("checkpoint");

    fs.fill();
    let b = lines("while-full", 0..3000);
    append(&base, &b);
    let mut expected = a.clone();
    expected.extend(b.iter().cloned());
    let got = as_strings(&read_topic(
        &bootstrap,
        topic,
        expected.len(),
        Duration::from_secs(60),
    ));
    crate::util::assert_lines(&got, &expected);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cp_offset(), c0, "the checkpoint on disk did not move");
    assert_eq!(
        std::fs::read(d.state.join("topic_access")).expect("checkpoint"),
        cp_bytes,
        "the checkpoint file is intact while the disk is full"
    );
    let log = std::fs::read_to_string(d.tmp.path().join("agent.log")).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("checkpoint") && (l.contains("ERROR") || l.contains("error"))),
        "the checkpoint failure is logged"
    );

    fs.free();
    wait_until(Duration::from_secs(30), "checkpoint catches up", || {
        (cp_offset() == Some(size(&base))).then_some(())
    });

    // And it is a real checkpoint: kill -9, write more, restart: nothing lost, nothing
    // repeated (everything up to the checkpoint was acknowledged).
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let c = lines("after", 0..500);
    append(&base, &c);
    expected.extend(c);
    let mut child = spawn_agent(&d, &cfg);
    let got = as_strings(&read_topic(
        &bootstrap,
        topic,
        expected.len(),
        Duration::from_secs(60),
    ));
    let status = terminate(&mut child);
    assert!(status.success(), "clean exit: {status:?}");
    crate::util::assert_lines(&got, &expected);
    drop(fs);
}
