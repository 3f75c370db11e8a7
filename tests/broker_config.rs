//! `[broker]` config parsing and the interval flush mode.

mod broker_common;

use broker_common::{test_config, InProc};
use logferry::broker::{load_config, Flush};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

#[test]
fn broker_section_is_read_from_a_full_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("logferry.toml");
    std::fs::write(
        &path,
        r#"
[output]
brokers = "bundled"

[broker]
listen = "127.0.0.1:0"
num_partitions = 3
flush = 250
retention_bytes = 1000000
segment_bytes = 65536
"#,
    )
    .expect("write");
    let cfg = load_config(&path).expect("parse");
    assert_eq!(cfg.num_partitions, 3);
    assert_eq!(cfg.flush, Flush::IntervalMs(250));
    assert_eq!(cfg.retention_bytes, Some(1_000_000));
    assert_eq!(cfg.segment_bytes, 65536);

    std::fs::write(&path, "[broker]\nflush = \"ack\"\nbogus = 1\n").expect("write");
    let err = load_config(&path).expect_err("unknown key rejected");
    assert!(err.to_string().contains("bogus"), "{err}");
    std::fs::write(&path, "[output]\nbrokers = \"x:9092\"\n").expect("write");
    assert_eq!(
        load_config(&path).expect("defaults").flush,
        Flush::default()
    );
}

#[test]
fn interval_flush_acks_and_serves_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = test_config(1);
    cfg.flush = Flush::IntervalMs(20);
    let b = InProc::start(cfg, dir.path());
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("acks", "all")
        .create()
        .expect("producer");
    for i in 0..100 {
        let v = format!("interval-{i:03}");
        p.send(BaseRecord::<(), String>::to("iv").payload(&v))
            .expect("enqueue");
    }
    p.flush(Duration::from_secs(20)).expect("all acknowledged");
    drop(p);
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b.bootstrap())
        .set("group.id", "iv-reader")
        .create()
        .expect("consumer");
    {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("iv", 0, Offset::Beginning)
            .expect("tpl");
        c.assign(&tpl).expect("assign");
        let mut got = Vec::new();
        while got.len() < 100 {
            if let Some(m) = c.poll(Duration::from_secs(10)) {
                let m = m.expect("message");
                got.push(
                    String::from_utf8(m.payload().unwrap_or_default().to_vec()).expect("utf8"),
                );
            } else {
                panic!("timed out after {} messages", got.len());
            }
        }
        let want: Vec<String> = (0..100).map(|i| format!("interval-{i:03}")).collect();
        assert_eq!(got, want);
    }
    drop(c);
    b.shutdown();
}
