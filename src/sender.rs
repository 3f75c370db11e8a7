//! rdkafka producer for one section, and its delivery reports.
//!
//! Lines are enqueued with a sequence number as the delivery opaque (no allocation per line);
//! librdkafka copies the bytes, batches them (`batch.num.messages` =
//! sender_batch_num_messages, `linger.ms` = sender_waiting_max_ms) and retries for ever
//! (`message.timeout.ms` = 0): a broker outage never turns into a dropped line. Delivery
//! reports come back on a channel to the section, which alone decides what is acknowledged.

use crate::config::{OutputConfig, SectionConfig};
use crate::metrics::SectionMetrics;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("section [topic.{section}]: cannot create the Kafka producer: {source}")]
    Create { section: String, source: KafkaError },
}

/// What the broker said about one line.
#[derive(Debug)]
pub struct Report {
    pub seq: u64,
    pub result: Result<(), KafkaError>,
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

/// Shared between the section and librdkafka's threads.
struct Link {
    section: String,
    down: AtomicBool,
    metrics: SectionMetrics,
}

impl Link {
    /// Logs the start of an outage once.
    fn mark_down(&self, why: &str) {
        if !self.down.swap(true, Ordering::AcqRel) {
            self.metrics.broker_up.set(0);
            tracing::warn!(
                section = %self.section,
                "brokers unreachable ({why}); lines wait in their files and are retried until the brokers answer"
            );
        }
    }

    /// Logs the end of an outage once.
    fn mark_up(&self) {
        self.metrics.broker_up.set(1);
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!(section = %self.section, "brokers answer again; draining the backlog");
        }
    }
}

pub struct SectionContext {
    reports: mpsc::UnboundedSender<Report>,
    link: Arc<Link>,
}

impl ClientContext for SectionContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        // Connection failures repeat every reconnect backoff; the outage is reported once by
        // `error` below, so librdkafka's own lines stay at debug unless they are errors.
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                tracing::error!(section = %self.link.section, "librdkafka {fac}: {msg}")
            }
            _ => tracing::debug!(section = %self.link.section, "librdkafka {fac}: {msg}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown)
            | Some(RDKafkaErrorCode::BrokerTransportFailure)
            | Some(RDKafkaErrorCode::Resolve)
            | Some(RDKafkaErrorCode::OperationTimedOut) => self.link.mark_down(reason),
            _ => {
                tracing::warn!(section = %self.link.section, "kafka client error: {error}: {reason}")
            }
        }
    }
}

impl ProducerContext for SectionContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let result = match result {
            Ok(_) => {
                // Unconditionally: the gauge starts at 0 and must read 1 after the first
                // acknowledgement too, not only after an outage (mark_up logs only on a change).
                self.link.mark_up();
                Ok(())
            }
            Err((e, _)) => Err(e.clone()),
        };
        // The receiver is gone only when the section stopped; nothing is left to track.
        let _ = self.reports.send(Report {
            seq: seq as u64,
            result,
        });
    }
}

/// The producer of one section.
pub struct Sender {
    producer: ThreadedProducer<SectionContext>,
    topic: String,
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
        .set("linger.ms", s.sender_waiting_max.as_millis().to_string())
        .set(
            "batch.num.messages",
            s.sender_batch_num_messages.to_string(),
        )
        .set(
            "message.max.bytes",
            (s.max_line_bytes + 64 * 1024).max(1_000_000).to_string(),
        )
        .set("log.connection.close", "false");
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
        let producer = client_config(bootstrap, output, s)
            .create_with_context(SectionContext { reports: tx, link })
            .map_err(|source| SenderError::Create {
                section: s.name.clone(),
                source,
            })?;
        Ok((
            Sender {
                producer,
                topic: s.topic.clone(),
                key: s.message_key.clone(),
                host: host.to_string(),
                headers: s.headers,
            },
            rx,
        ))
    }

    /// Enqueue one line. `Err(QueueFull)` means: wait for delivery reports and try again.
    pub fn send(&self, seq: u64, line: &[u8], path: &str, offset: u64) -> Result<(), KafkaError> {
        let rec = BaseRecord::with_opaque_to(&self.topic, seq as usize)
            .key(&self.key[..])
            .payload(line);
        let rec = if self.headers {
            let off = offset.to_string();
            rec.headers(
                OwnedHeaders::new_with_capacity(3)
                    .insert(Header {
                        key: "host",
                        value: Some(&self.host),
                    })
                    .insert(Header {
                        key: "path",
                        value: Some(path),
                    })
                    .insert(Header {
                        key: "offset",
                        value: Some(&off),
                    }),
            )
        } else {
            rec
        };
        self.producer.send(rec).map_err(|(e, _)| e)
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
