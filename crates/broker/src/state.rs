//! Shared broker state handed to every connection.

use super::acl::Authorizer;
use super::auth::{ListenerInfo, Users};
use super::config::BrokerConfig;
use super::flusher::Flusher;
use super::group::Coordinator;
use super::offsets::OffsetStore;
use super::producer_ids::ProducerIds;
use super::topics::Topics;
use super::Flush;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// This broker's node id (single node).
pub const NODE_ID: i32 = 0;
pub const CLUSTER_ID: &str = "logferry-bundled";

pub struct Broker {
    pub cfg: BrokerConfig,
    /// Every listener (advertised host and port per listener: Metadata, FindCoordinator).
    pub listeners: Vec<Arc<ListenerInfo>>,
    /// The ACLs (everything allowed when `acl_enabled` is off).
    pub authz: Authorizer,
    /// The SASL users.
    pub users: Users,
    pub topics: Topics,
    pub groups: Arc<Coordinator>,
    pub offsets: Arc<OffsetStore>,
    pub producer_ids: Arc<ProducerIds>,
    pub flusher: Flusher,
    /// Bumped whenever a high watermark advances; long-polling fetches wait on it.
    pub data_version: watch::Sender<u64>,
    /// Cancelled when shutdown begins; every connection, long poll and background loop
    /// selects on it.
    pub shutdown: CancellationToken,
    pub max_batch_bytes: usize,
    pub metrics: super::metrics::BrokerMetrics,
}

impl Broker {
    /// Produce acks wait for fdatasync only with `flush = "ack"`.
    pub fn acks_wait_for_flush(&self) -> bool {
        matches!(self.cfg.flush, Flush::Ack(_))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
