//! `logferry consume`: print a topic's messages, one per line, to check what arrived.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kafka ({brokers}): {source}")]
    Kafka { brokers: String, source: KafkaError },
    #[error("topic {topic} not found on {brokers}")]
    NoTopic { topic: String, brokers: String },
    #[error("cannot write to stdout: {0}")]
    Output(std::io::Error),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}

pub struct ConsumeArgs {
    pub brokers: String,
    pub topic: String,
    pub group: Option<String>,
    pub from_beginning: bool,
    pub count: Option<u64>,
}

pub fn kafka_err(brokers: &str) -> impl Fn(KafkaError) -> ClientError + '_ {
    move |source| ClientError::Kafka {
        brokers: brokers.to_string(),
        source,
    }
}

/// Consume until `count` messages were printed or SIGINT/SIGTERM.
pub fn consume(a: &ConsumeArgs, out: &mut dyn Write) -> Result<u64, ClientError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(ClientError::Signal)?;
    }
    let kerr = kafka_err(&a.brokers);
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &a.brokers)
        .set("enable.partition.eof", "false")
        .set(
            "auto.offset.reset",
            if a.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        );
    match &a.group {
        // Only printed messages count as consumed: offsets are stored by hand.
        Some(g) => cfg
            .set("group.id", g)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false"),
        // Without a group nothing is committed; librdkafka still wants an id.
        None => cfg
            .set("group.id", "logferry-consume")
            .set("enable.auto.commit", "false"),
    };
    let c: BaseConsumer = cfg.create().map_err(&kerr)?;
    if a.group.is_some() {
        c.subscribe(&[&a.topic]).map_err(&kerr)?;
    } else {
        let md = c
            .fetch_metadata(Some(&a.topic), Duration::from_secs(10))
            .map_err(&kerr)?;
        let parts = md
            .topics()
            .iter()
            .find(|t| t.name() == a.topic)
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if parts == 0 {
            return Err(ClientError::NoTopic {
                topic: a.topic.clone(),
                brokers: a.brokers.clone(),
            });
        }
        let mut tpl = TopicPartitionList::new();
        let start = if a.from_beginning {
            Offset::Beginning
        } else {
            Offset::End
        };
        for p in 0..parts as i32 {
            tpl.add_partition_offset(&a.topic, p, start)
                .map_err(&kerr)?;
        }
        c.assign(&tpl).map_err(&kerr)?;
    }
    let mut n = 0u64;
    // Next offset to commit per partition.
    let mut next: std::collections::BTreeMap<i32, i64> = std::collections::BTreeMap::new();
    while !stop.load(Ordering::Relaxed) && a.count.is_none_or(|c| n < c) {
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => tracing::warn!("consume: {e}"),
            Some(Ok(m)) => {
                let mut line = m.payload().unwrap_or_default().to_vec();
                line.push(b'\n');
                out.write_all(&line).map_err(ClientError::Output)?;
                n += 1;
                if a.group.is_some() {
                    next.insert(m.partition(), m.offset() + 1);
                    let _ = c.store_offset_from_message(&m);
                }
            }
        }
    }
    out.flush().map_err(ClientError::Output)?;
    if !next.is_empty() {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &next {
            tpl.add_partition_offset(&a.topic, *p, Offset::Offset(*o))
                .map_err(&kerr)?;
        }
        c.commit(&tpl, CommitMode::Sync).map_err(&kerr)?;
    }
    Ok(n)
}
