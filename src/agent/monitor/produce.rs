//! The produce service (Kafka Monitor's ProduceService): every interval, one canary per
//! partition, acks=-1 and idempotent, sent to that partition explicitly.
//!
//! Invariants:
//! - at most one canary per partition is in flight: the next round skips a partition whose
//!   previous send has not resolved, so a partition without a leader costs one attempt per
//!   `produce_timeout_ms`, not a growing queue;
//! - `seq` moves only on acknowledgement; a failed send is sent again with the same `seq`
//!   and `attempt + 1`, so a failure never looks like loss to the consumer;
//! - the next `seq` per partition is saved (`<state>/producer.json`, atomic rename) after
//!   each round that acknowledged something; after a kill -9 the producer repeats at most one
//!   round's sequence numbers under a new `run`, which the consumer counts as replays.

use super::figures::Board;
use super::message::{Canary, Payload};
use super::metrics::MonitorMetrics;
use super::{unix_ms, unix_us, MonitorError};
use crate::config::MonitorConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::topic::TopicView;

/// The producer's saved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    pub version: u32,
    /// Random at the first start, kept for the life of the state directory.
    pub producer: String,
    pub topic: String,
    /// Next sequence number per partition.
    pub next: BTreeMap<i32, u64>,
}

impl ProducerState {
    /// Loads `path`, or starts a new producer id when there is none (or it is for another
    /// topic: sequence numbers are per topic).
    pub fn load_or_new(path: &Path, topic: &str) -> Result<ProducerState, MonitorError> {
        let fresh = || ProducerState {
            version: 1,
            producer: super::message::random_id(),
            topic: topic.to_string(),
            next: BTreeMap::new(),
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let st: ProducerState =
                    serde_json::from_slice(&bytes).map_err(|e| MonitorError::State {
                        path: path.to_path_buf(),
                        reason: format!(
                            "not a producer state ({e}); move it aside to start a new producer id"
                        ),
                    })?;
                if st.version != 1 {
                    return Err(MonitorError::State {
                        path: path.to_path_buf(),
                        reason: format!("version {} is not 1", st.version),
                    });
                }
                Ok(if st.topic == topic { st } else { fresh() })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(fresh()),
            Err(e) => Err(MonitorError::State {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn save(&self, path: &Path) -> Result<(), MonitorError> {
        let body = serde_json::to_vec(self).map_err(|e| MonitorError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        // Atomic against kill -9; after a power loss an older state only means replays.
        logferry_fsutil::replace(path, &body, logferry_fsutil::Durability::Cache).map_err(|e| {
            MonitorError::State {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        })
    }
}

/// A canary the broker acknowledged: the consume service expects to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub partition: i32,
    pub seq: u64,
    pub at_ms: u64,
}

struct Outcome {
    partition: i32,
    seq: u64,
    result: Result<(), String>,
}

#[derive(Default)]
struct Slot {
    attempt: u32,
    in_flight: bool,
}

pub struct ProduceService {
    cfg: MonitorConfig,
    client: ClientConfig,
    producer: FutureProducer,
    state: ProducerState,
    /// None: an ephemeral producer (`--once`), nothing saved.
    path: Option<PathBuf>,
    run: String,
    slots: BTreeMap<i32, Slot>,
    board: Arc<Mutex<Board>>,
    metrics: Arc<MonitorMetrics>,
    acked: mpsc::UnboundedSender<Acked>,
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    dirty: bool,
}

/// librdkafka settings of the canary producer, before `[monitor.librdkafka]`.
pub fn producer_config(bootstrap: &str, cfg: &MonitorConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "logferry-monitor")
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            cfg.produce_timeout.as_millis().to_string(),
        )
        .set("linger.ms", "0")
        .set("reconnect.backoff.max.ms", "1000")
        .set("log.connection.close", "false");
    for (k, v) in &cfg.librdkafka {
        c.set(k, v);
    }
    c
}

impl ProduceService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bootstrap: &str,
        cfg: MonitorConfig,
        state: ProducerState,
        path: Option<PathBuf>,
        run: String,
        board: Arc<Mutex<Board>>,
        metrics: Arc<MonitorMetrics>,
        acked: mpsc::UnboundedSender<Acked>,
    ) -> Result<ProduceService, MonitorError> {
        let client = producer_config(bootstrap, &cfg);
        let producer = create(&client)?;
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        Ok(ProduceService {
            cfg,
            client,
            producer,
            state,
            path,
            run,
            slots: BTreeMap::new(),
            board,
            metrics,
            acked,
            outcomes_tx,
            outcomes,
            dirty: false,
        })
    }

    /// Sends a round every interval until `shutdown`; then waits (at most the produce
    /// timeout) for the last round's outcomes and saves the state.
    pub async fn run(mut self, mut topic: watch::Receiver<TopicView>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let partitions = topic.borrow_and_update().partitions.clone();
                    self.round(&partitions);
                    self.save();
                }
                Some(o) = self.outcomes.recv() => self.on_outcome(o),
            }
        }
        let limit = tokio::time::Instant::now() + self.cfg.produce_timeout;
        while self.slots.values().any(|s| s.in_flight) {
            match tokio::time::timeout_at(limit, self.outcomes.recv()).await {
                Ok(Some(o)) => self.on_outcome(o),
                _ => break,
            }
        }
        self.save();
    }

    fn round(&mut self, partitions: &[i32]) {
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            tracing::warn!(?code, %reason, "monitor producer hit a fatal error; replacing it");
            match create(&self.client) {
                Ok(p) => {
                    self.producer = p;
                    for s in self.slots.values_mut() {
                        s.in_flight = false;
                    }
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
        for &p in partitions {
            let slot = self.slots.entry(p).or_default();
            if slot.in_flight {
                continue;
            }
            let seq = *self.state.next.entry(p).or_insert(0);
            let payload = Payload::Canary(Canary {
                producer: self.state.producer.clone(),
                run: self.run.clone(),
                partition: p,
                seq,
                attempt: slot.attempt,
                sent_us: unix_us(),
            })
            .encode();
            let rec = FutureRecord::to(&self.cfg.topic)
                .partition(p)
                .key(&self.state.producer)
                .payload(&payload);
            match self.producer.send_result(rec) {
                Ok(fut) => {
                    slot.in_flight = true;
                    let tx = self.outcomes_tx.clone();
                    tokio::spawn(async move {
                        let result = match fut.await {
                            Ok(Ok(_)) => Ok(()),
                            Ok(Err((e, _))) => Err(e.to_string()),
                            Err(_) => Err("producer dropped".to_string()),
                        };
                        let _ = tx.send(Outcome {
                            partition: p,
                            seq,
                            result,
                        });
                    });
                }
                Err((e, _)) => self.on_outcome(Outcome {
                    partition: p,
                    seq,
                    result: Err(e.to_string()),
                }),
            }
        }
    }

    fn on_outcome(&mut self, o: Outcome) {
        let now = unix_ms();
        let l = self.metrics.partition_labels(o.partition);
        let slot = self.slots.entry(o.partition).or_default();
        slot.in_flight = false;
        let ok = o.result.is_ok();
        match o.result {
            Ok(()) => {
                slot.attempt = 0;
                self.state.next.insert(o.partition, o.seq + 1);
                self.dirty = true;
                self.metrics.records_produced.get_or_create(&l).inc();
                let _ = self.acked.send(Acked {
                    partition: o.partition,
                    seq: o.seq,
                    at_ms: now,
                });
            }
            Err(e) => {
                slot.attempt += 1;
                self.metrics.produce_errors.get_or_create(&l).inc();
                tracing::debug!(
                    partition = o.partition,
                    seq = o.seq,
                    "canary send failed: {e}"
                );
            }
        }
        let mut b = self.board.lock().unwrap_or_else(|p| p.into_inner());
        let pp = b.produce(o.partition);
        pp.outcomes.push(now, ok);
        if ok {
            pp.acked += 1;
        } else {
            pp.failed += 1;
        }
    }

    fn save(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let Some(path) = &self.path {
            if let Err(e) = self.state.save(path) {
                tracing::error!("{e}");
            }
        }
    }
}

fn create(c: &ClientConfig) -> Result<FutureProducer, MonitorError> {
    c.create().map_err(|source| MonitorError::Kafka {
        what: "create the monitor's producer",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_is_per_topic() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("producer.json");
        let mut st = ProducerState::load_or_new(&path, "mon").expect("new");
        assert_eq!(st.producer.len(), 16);
        st.next.insert(3, 42);
        st.save(&path).expect("save");
        assert_eq!(ProducerState::load_or_new(&path, "mon").expect("load"), st);
        let other = ProducerState::load_or_new(&path, "other").expect("other topic");
        assert_ne!(other.producer, st.producer);
        assert!(other.next.is_empty());
        std::fs::write(&path, b"{not json").expect("write");
        let e = ProducerState::load_or_new(&path, "mon").expect_err("corrupt");
        assert!(e.to_string().contains("move it aside"), "{e}");
    }
}
