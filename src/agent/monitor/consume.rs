//! The consume service (Kafka Monitor's ConsumeService): reads every partition of the
//! monitor topic and feeds [`Streams`].
//!
//! Kafka Monitor subscribes; this service assigns every partition to itself (a consumer
//! group used for committed offsets and lag tooling, without membership): a rebalance that
//! split the topic between two monitors would make each see the other's share as gaps.
//!
//! Start: from the committed offsets, with the sequence state committed alongside them
//! (see [`Streams::restore`]); a partition without a commit starts at its end, read before
//! the first canary is sent (`ready`), so a new monitor judges only what it sent.
//! Partitions added later are read from their beginning. A committed offset that fell below
//! the log start (deleted records, retention) resets to the earliest offset: the gap is
//! then counted lost after `loss_timeout_ms`.

use super::figures::Board;
use super::metrics::MonitorMetrics;
use super::produce::Acked;
use super::streams::Streams;
use super::topic::TopicView;
use super::{unix_ms, unix_us, MonitorError};
use crate::config::MonitorConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// librdkafka settings of the monitor's consumer, before `[monitor.librdkafka]`.
pub fn consumer_config(bootstrap: &str, group: &str, cfg: &MonitorConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", "logferry-monitor")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("fetch.wait.max.ms", "100")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log.connection.close", "false");
    for (k, v) in &cfg.librdkafka {
        c.set(k, v);
    }
    c
}

pub struct ConsumeService {
    cfg: MonitorConfig,
    consumer: Arc<StreamConsumer>,
    streams: Streams,
    board: Arc<Mutex<Board>>,
    metrics: Arc<MonitorMetrics>,
    /// Commit offsets (false for `--once`: it reads from the end and leaves no trace).
    commit: bool,
    assigned: BTreeSet<i32>,
}

impl ConsumeService {
    pub fn new(
        client: &ClientConfig,
        cfg: MonitorConfig,
        streams: Streams,
        board: Arc<Mutex<Board>>,
        metrics: Arc<MonitorMetrics>,
        commit: bool,
    ) -> Result<ConsumeService, MonitorError> {
        let consumer: StreamConsumer = client.create().map_err(|source| MonitorError::Kafka {
            what: "create the monitor's consumer",
            source,
        })?;
        Ok(ConsumeService {
            cfg,
            consumer: Arc::new(consumer),
            streams,
            board,
            metrics,
            commit,
            assigned: BTreeSet::new(),
        })
    }

    /// Assigns the partitions of the first topic view (retrying until it works or
    /// `shutdown`), signals `ready`, then reads until `shutdown`; commits on every interval
    /// that read something, and once more at the end.
    pub async fn run(
        mut self,
        mut topic: watch::Receiver<TopicView>,
        mut acked: mpsc::UnboundedReceiver<Acked>,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Initial assignment.
        loop {
            let parts = topic.borrow_and_update().partitions.clone();
            if !parts.is_empty() {
                match self.assign_initial(&parts).await {
                    Ok(()) => break,
                    Err(e) => tracing::warn!("monitor consumer: {e}; retrying"),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                _ = topic.changed() => {}
            }
        }
        let _ = ready.send(true);
        let consumer = self.consumer.clone();
        let mut errors_logged = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                r = consumer.recv() => match r {
                    Ok(msg) => {
                        let mut b = lock(&self.board);
                        self.streams.on_message(
                            msg.partition(),
                            msg.offset(),
                            msg.payload().unwrap_or_default(),
                            unix_us(),
                            &mut b,
                            &self.metrics,
                        );
                    }
                    Err(e) => {
                        // Brokers down: librdkafka retries by itself; say so once in a while.
                        if errors_logged % 100 == 0 {
                            tracing::debug!("monitor consumer: {e}");
                        }
                        errors_logged = errors_logged.wrapping_add(1);
                    }
                },
                Some(a) = acked.recv() => {
                    let mut b = lock(&self.board);
                    self.streams.on_acked(&a, &mut b);
                }
                _ = tick.tick() => {
                    {
                        let mut b = lock(&self.board);
                        self.streams.tick(unix_ms(), &mut b, &self.metrics);
                    }
                    self.commit();
                }
                Ok(()) = topic.changed() => {
                    let parts = topic.borrow_and_update().partitions.clone();
                    self.assign_new(&parts);
                }
            }
        }
        // The last commit waits for the broker, off the runtime's threads.
        if let Some(tpl) = self.commit_list() {
            let c = self.consumer.clone();
            let done = tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync)).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("monitor consumer: final commit failed: {e}"),
                Err(e) => tracing::warn!("monitor consumer: final commit failed: {e}"),
            }
        }
    }

    async fn assign_initial(&mut self, parts: &[i32]) -> Result<(), MonitorError> {
        let topic = self.cfg.topic.clone();
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(&topic, p);
        }
        let c = self.consumer.clone();
        let commit = self.commit;
        let t = topic.clone();
        let parts = parts.to_vec();
        let watermark_timeout = self.cfg.produce_timeout.min(CALL_TIMEOUT);
        let positions = tokio::task::spawn_blocking(move || {
            let mut committed = std::collections::HashMap::new();
            if commit {
                for e in c.committed_offsets(tpl, CALL_TIMEOUT)?.elements() {
                    if let Offset::Offset(o) = e.offset() {
                        committed.insert(e.partition(), (o, e.metadata().to_string()));
                    }
                }
            }
            let mut out = Vec::new();
            for p in parts {
                match committed.remove(&p) {
                    Some((o, meta)) => out.push((p, Offset::Offset(o), Some(meta))),
                    None => match c.fetch_watermarks(&t, p, watermark_timeout) {
                        Ok((_, high)) => out.push((p, Offset::Offset(high), None)),
                        // Its leader is unreachable, so no canary reaches it either: the end
                        // is resolved when it is back (a broker down at start must not keep
                        // the monitor from measuring the others).
                        Err(e) => {
                            tracing::warn!(partition = p, "monitor consumer: no watermarks ({e}); reading from the end once its leader answers");
                            out.push((p, Offset::End, None));
                        }
                    },
                }
            }
            Ok::<_, rdkafka::error::KafkaError>(out)
        })
        .await
        .map_err(|e| MonitorError::Task(e.to_string()))?
        .map_err(|source| MonitorError::Kafka {
            what: "read the committed offsets and watermarks of the monitor topic",
            source,
        })?;
        let mut tpl = TopicPartitionList::new();
        for (p, offset, meta) in &positions {
            if let (Some(meta), Offset::Offset(o)) = (meta, offset) {
                self.streams.restore(*p, *o, meta);
            }
            tpl.add_partition_offset(&topic, *p, *offset)
                .map_err(|source| MonitorError::Kafka {
                    what: "build the assignment",
                    source,
                })?;
            self.assigned.insert(*p);
        }
        self.consumer
            .assign(&tpl)
            .map_err(|source| MonitorError::Kafka {
                what: "assign the monitor topic's partitions",
                source,
            })?;
        tracing::info!(topic = %topic, partitions = positions.len(), "monitor consumer assigned");
        Ok(())
    }

    /// Partitions added to the topic: read them from their beginning.
    fn assign_new(&mut self, parts: &[i32]) {
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            if !self.assigned.contains(&p) {
                if let Err(e) = tpl.add_partition_offset(&self.cfg.topic, p, Offset::Beginning) {
                    tracing::error!("monitor consumer: {e}");
                    return;
                }
            }
        }
        if tpl.count() == 0 {
            return;
        }
        match self.consumer.incremental_assign(&tpl) {
            Ok(()) => {
                self.assigned.extend(parts.iter().copied());
                tracing::info!(
                    added = tpl.count(),
                    "monitor consumer reads the new partitions"
                );
            }
            Err(e) => tracing::error!("monitor consumer: cannot read the new partitions: {e}"),
        }
    }

    /// What moved since the last commit, with the streams' state as metadata.
    fn commit_list(&mut self) -> Option<TopicPartitionList> {
        if !self.commit {
            return None;
        }
        let offsets = self.streams.take_commit()?;
        let mut tpl = TopicPartitionList::new();
        for (p, off, meta) in offsets {
            let mut e = tpl.add_partition(&self.cfg.topic, p);
            if e.set_offset(Offset::Offset(off)).is_ok() {
                e.set_metadata(meta);
            }
        }
        Some(tpl)
    }

    /// An asynchronous commit (librdkafka sends it; a failure is retried next interval).
    fn commit(&mut self) {
        if let Some(tpl) = self.commit_list() {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                tracing::debug!("monitor consumer: commit failed (retried next interval): {e}");
            }
        }
    }
}

fn lock(b: &Mutex<Board>) -> std::sync::MutexGuard<'_, Board> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}
