//! Delivery reports: librdkafka's producer context for one section. Successful deliveries
//! are coalesced into runs (one channel message per librdkafka event, not per line); failures
//! go one per line. Also tracks whether the brokers answer (outage start and end, logged once).

use crate::ops::metrics::SectionMetrics;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the broker said about `count` consecutive lines from sequence number `seq`. Runs of
/// successful deliveries come as one report per librdkafka event; failures, one per line
/// (`count` = 1).
#[derive(Debug)]
pub struct Report {
    pub seq: u64,
    pub count: u64,
    pub result: Result<(), KafkaError>,
    /// When the report was taken from librdkafka: the section may read it later (it does
    /// not wake for reports while a read is due), delivery latency is measured to here.
    pub at: std::time::Instant,
}

/// Shared between the section and librdkafka's threads.
pub(super) struct Link {
    pub(super) section: String,
    pub(super) down: AtomicBool,
    pub(super) metrics: SectionMetrics,
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
    pub(super) reports: mpsc::UnboundedSender<Report>,
    /// Successful deliveries not yet reported: (first sequence number, count). Sent by
    /// `flush_run` after each served event, so one channel message carries a whole batch.
    pub(super) run: std::sync::Mutex<Option<(u64, u64)>>,
    pub(super) link: Arc<Link>,
}

impl SectionContext {
    /// Report the pending run of successful deliveries.
    pub(super) fn flush_run(&self) {
        let run = self.lock_run().take();
        if let Some((seq, count)) = run {
            self.send_run(seq, count);
        }
    }

    /// The pending run; a panic elsewhere while holding it leaves valid data (a plain pair).
    fn lock_run(&self) -> std::sync::MutexGuard<'_, Option<(u64, u64)>> {
        self.run
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send_run(&self, seq: u64, count: u64) {
        // The receiver is gone only when the section stopped; nothing is left to track.
        let _ = self.reports.send(Report {
            seq,
            count,
            result: Ok(()),
            at: std::time::Instant::now(),
        });
    }
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

    /// librdkafka statistics (every 5 s): a broker connection that is up ends an outage even
    /// when the section has nothing to send.
    fn stats(&self, stats: rdkafka::Statistics) {
        if self.link.down.load(Ordering::Relaxed) && stats.brokers.values().any(|b| b.state == "UP")
        {
            self.link.mark_up();
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
        let seq = seq as u64;
        match result {
            Ok(_) => {
                if self.link.down.load(Ordering::Relaxed) {
                    self.link.mark_up();
                }
                // One critical section per report: a second poller (librdkafka's flush on
                // drop) can never overwrite a run the other has not sent yet.
                let mut run = self.lock_run();
                match *run {
                    Some((first, n)) if first + n == seq => *run = Some((first, n + 1)),
                    prev => {
                        *run = Some((seq, 1));
                        if let Some((first, count)) = prev {
                            self.send_run(first, count);
                        }
                    }
                }
            }
            Err((e, _)) => {
                self.flush_run();
                let _ = self.reports.send(Report {
                    seq,
                    count: 1,
                    result: Err(e.clone()),
                    at: std::time::Instant::now(),
                });
            }
        }
    }
}
