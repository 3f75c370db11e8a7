//! rdkafka producer for one section, and its delivery reports.
//!
//! Lines are enqueued with a sequence number as the delivery opaque (no allocation per line);
//! librdkafka copies the bytes, batches them (`batch.num.messages` =
//! sender_batch_num_messages, `linger.ms` = [`LINGER`]) and retries for ever
//! (`message.timeout.ms` = 0): a broker outage never turns into a dropped line. Delivery
//! reports come back on a channel to the section, which alone decides what is acknowledged.

mod delivery;
mod kick;
mod poller;
mod topic;

pub use delivery::Report;

/// librdkafka's `linger.ms`. `sender_waiting_max_ms` is spent in the section, which reads a
/// file at most once per that interval while lines trickle in and hands each read's lines
/// over at once; librdkafka only has to keep them together. Not 0: librdkafka would wake
/// its broker thread at the first line of a read and send it alone, and a sync batch of 200
/// lines would go out as many small requests (bulk, seed defaults: 218,000 → 95,000
/// lines/s and 4.6× the CPU, bench/RESULTS.md).
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

use crate::config::{OutputConfig, SectionConfig};
use crate::ops::metrics::SectionMetrics;
use delivery::{Link, SectionContext};
use poller::Poller;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use topic::{LineHeaders, TopicHandle};

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("section [topic.{section}]: cannot create the Kafka producer: {source}")]
    Create { section: String, source: KafkaError },
}

/// How a failed delivery is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The broker will never take this message (e.g. too large): count it lost, move on.
    Rejected,
    /// Anything else: re-send everything not acknowledged, in order.
    Retry,
}

pub fn classify(e: &KafkaError) -> FailureKind {
    match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord,
        ) => FailureKind::Rejected,
        _ => FailureKind::Retry,
    }
}

/// The producer of one section.
pub struct Sender {
    // Declared first: dropped (thread stopped) before the producer's last reference goes.
    _poller: Poller,
    producer: Arc<BaseProducer<SectionContext>>,
    topic: TopicHandle,
    key: Vec<u8>,
    host: String,
    headers: bool,
}

/// librdkafka settings for a section, before `[output.librdkafka]` overrides.
pub fn client_config(bootstrap: &str, output: &OutputConfig, s: &SectionConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    let acks = match s.request_required_acks {
        -1 => "all",
        0 => "0",
        _ => "1",
    };
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", &s.client_id)
        .set("acks", acks)
        // Idempotence needs acks=all; with it, retries never duplicate or reorder.
        .set(
            "enable.idempotence",
            if s.request_required_acks == -1 {
                "true"
            } else {
                "false"
            },
        )
        .set("message.timeout.ms", "0")
        .set("linger.ms", LINGER.as_millis().to_string())
        .set(
            "batch.num.messages",
            s.sender_batch_num_messages.to_string(),
        )
        .set(
            "message.max.bytes",
            (s.max_line_bytes + 64 * 1024).max(1_000_000).to_string(),
        )
        // librdkafka backs off reconnects up to 10 s by default, so a backlog waited a further
        // 0-10 s after the brokers came back (bench scenario 6: drain 4.7-7.9 s). One attempt
        // a second per broker costs nothing while they are down.
        .set("reconnect.backoff.max.ms", "1000")
        .set("log.connection.close", "false")
        .set("statistics.interval.ms", "5000");
    for (k, v) in &output.librdkafka {
        c.set(k, v);
    }
    c
}

impl Sender {
    pub fn new(
        bootstrap: &str,
        output: &OutputConfig,
        s: &SectionConfig,
        host: &str,
        metrics: SectionMetrics,
    ) -> Result<(Sender, mpsc::UnboundedReceiver<Report>), SenderError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            section: s.name.clone(),
            down: AtomicBool::new(false),
            metrics,
        });
        let producer: Arc<BaseProducer<SectionContext>> = Arc::new(
            client_config(bootstrap, output, s)
                .create_with_context(SectionContext {
                    reports: tx,
                    run: std::sync::Mutex::new(None),
                    link,
                })
                .map_err(|source| SenderError::Create {
                    section: s.name.clone(),
                    source,
                })?,
        );
        let poller = Poller::start(producer.clone()).map_err(|e| SenderError::Create {
            section: s.name.clone(),
            source: KafkaError::ClientCreation(format!("polling thread: {e}")),
        })?;
        if s.request_required_acks == -1 {
            kick::start(&producer, &s.topic);
        }
        let topic =
            TopicHandle::new(producer.clone(), &s.topic).map_err(|source| SenderError::Create {
                section: s.name.clone(),
                source,
            })?;
        Ok((
            Sender {
                _poller: poller,
                producer,
                topic,
                key: s.message_key.clone(),
                host: host.to_string(),
                headers: s.headers,
            },
            rx,
        ))
    }

    /// Enqueue one line, read at `timestamp_ms` (its CreateTime: one clock reading per read
    /// from the file, not one per line). `Err(QueueFull)` means: wait for delivery reports and
    /// try again.
    pub fn send(
        &self,
        seq: u64,
        line: &[u8],
        timestamp_ms: i64,
        path: &str,
        offset: u64,
    ) -> Result<(), KafkaError> {
        if !self.headers {
            return self
                .topic
                .produce(seq as usize, &self.key, line, timestamp_ms, None);
        }
        let mut digits = itoa::Buffer::new();
        let headers = LineHeaders {
            host: self.host.as_bytes(),
            path: path.as_bytes(),
            offset: digits.format(offset).as_bytes(),
        };
        self.topic
            .produce(seq as usize, &self.key, line, timestamp_ms, Some(&headers))
    }

    /// True between an "all brokers down" error and the next sign of life.
    pub fn broker_down(&self) -> bool {
        self.producer.context().link.down.load(Ordering::Relaxed)
    }

    /// A fatal client error (idempotence state lost): the producer must be replaced.
    pub fn fatal(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(c, s)| format!("{c:?}: {s}"))
    }

    /// Drop whatever librdkafka still holds; its delivery reports come back as errors and
    /// nothing of it is checkpointed.
    pub fn purge(&self) {
        self.producer
            .purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
    }
}

/// Is `e` the local queue being full (back-pressure, not a failure)?
pub fn is_queue_full(e: &KafkaError) -> bool {
    matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::QueueFull))
}
