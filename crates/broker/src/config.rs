//! The `[broker]` config section, shared by `logferry broker` and the agent's bundled broker.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// When appended record batches are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flush {
    /// `flush = "ack"`: fdatasync (group-committed) before answering acks=-1/1.
    Ack(FlushAck),
    /// `flush = 1000`: fsync every N ms; acks are answered once the batch is in the page cache.
    IntervalMs(u64),
}

/// The literal string "ack".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushAck {
    Ack,
}

impl Default for Flush {
    fn default() -> Self {
        Flush::Ack(FlushAck::Ack)
    }
}

/// `[broker]`. Every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Address to bind, e.g. "127.0.0.1:9092". Port 0 picks a free port.
    pub listen: String,
    /// host:port advertised in Metadata; defaults to the bound address.
    pub advertised_listener: Option<String>,
    /// Where topics and committed offsets live. For the bundled broker it defaults to
    /// `<state_dir>/broker`.
    pub data_dir: Option<PathBuf>,
    /// Partitions of auto-created topics.
    pub num_partitions: u32,
    pub flush: Flush,
    /// Delete whole old segments once a partition exceeds this many bytes.
    pub retention_bytes: Option<u64>,
    /// Delete whole old segments whose newest record is older than this.
    pub retention_ms: Option<u64>,
    /// Roll a new segment past this size.
    pub segment_bytes: u64,
    /// Largest request frame accepted; a longer length prefix closes the connection.
    pub max_request_bytes: usize,
    /// How long an empty group waits for more members before its first rebalance completes
    /// (Kafka's group.initial.rebalance.delay.ms).
    pub group_initial_rebalance_delay_ms: u64,
    /// Where `logferry broker` serves its web console, `/api/v1/status`, `/metrics` and
    /// `/healthz` (e.g. "127.0.0.1:9465"); None: not served. Not used by this crate (it
    /// speaks only Kafka), nor by the agent's bundled broker (its `metrics_listen` serves
    /// the same pages).
    pub http_listen: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: "127.0.0.1:9092".to_string(),
            advertised_listener: None,
            data_dir: None,
            num_partitions: 1,
            flush: Flush::default(),
            retention_bytes: None,
            retention_ms: None,
            segment_bytes: 128 * 1024 * 1024,
            max_request_bytes: 100 * 1024 * 1024,
            group_initial_rebalance_delay_ms: 3000,
            http_listen: None,
        }
    }
}
