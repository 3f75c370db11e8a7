//! `logferry lag`: committed offset, log end and lag per group, topic and partition — the
//! seed's ConsumerOffsetChecker, for any Kafka cluster (ListGroups + OffsetFetch +
//! ListOffsets).

use super::consume::{kafka_err, ClientError};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Lag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    pub log_end: i64,
    pub lag: i64,
}

pub fn lag(brokers: &str, group: Option<&str>) -> Result<Vec<Lag>, ClientError> {
    let kerr = kafka_err(brokers);
    let admin: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(&kerr)?;
    let groups: Vec<String> = match group {
        Some(g) => vec![g.to_string()],
        None => admin
            .fetch_group_list(None, TIMEOUT)
            .map_err(&kerr)?
            .groups()
            .iter()
            .map(|g| g.name().to_string())
            .collect(),
    };
    let md = admin.fetch_metadata(None, TIMEOUT).map_err(&kerr)?;
    let mut all = TopicPartitionList::new();
    for t in md.topics() {
        if t.name().starts_with("__") {
            continue;
        }
        for p in t.partitions() {
            all.add_partition(t.name(), p.id());
        }
    }
    let mut out = Vec::new();
    for g in groups {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", &g)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(&kerr)?;
        let committed: Vec<(String, i32, i64)> = {
            // The returned list must be dropped before its consumer (librdkafka destroy waits).
            let tpl = c.committed_offsets(all.clone(), TIMEOUT).map_err(&kerr)?;
            tpl.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
                    _ => None,
                })
                .collect()
        };
        for (topic, partition, committed) in committed {
            let (_, log_end) = admin
                .fetch_watermarks(&topic, partition, TIMEOUT)
                .map_err(&kerr)?;
            out.push(Lag {
                group: g.clone(),
                topic,
                partition,
                committed,
                log_end,
                lag: (log_end - committed).max(0),
            });
        }
    }
    out.sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    Ok(out)
}

pub fn render(rows: &[Lag]) -> String {
    let mut s = format!(
        "{:<24} {:<24} {:>9} {:>12} {:>12} {:>10}\n",
        "GROUP", "TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<24} {:<24} {:>9} {:>12} {:>12} {:>10}\n",
            r.group, r.topic, r.partition, r.committed, r.log_end, r.lag
        ));
    }
    s
}
