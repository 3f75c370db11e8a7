//! rdkafka producer for one section, and its delivery reports.
//!
//! Lines are enqueued with a sequence number as the delivery opaque (no allocation per line);
//! librdkafka copies the bytes, batches them (`batch.num.messages` =
//! sender_batch_num_messages, `linger.ms` = sender_waiting_max_ms) and retries for ever
//! (`message.timeout.ms` = 0): a broker outage never turns into a dropped line. Delivery
//! reports come back on a channel to the section, which alone decides what is acknowledged.

use crate::config::{OutputConfig, SectionConfig};
use crate::metrics::SectionMetrics;
use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("section [topic.{section}]: cannot create the Kafka producer: {source}")]
    Create { section: String, source: KafkaError },
}

/// What the broker said about `count` consecutive lines from sequence number `seq`. Runs of
/// successful deliveries come as one report per librdkafka event; failures, one per line
/// (`count` = 1).
#[derive(Debug)]
pub struct Report {
    pub seq: u64,
    pub count: u64,
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
    /// Successful deliveries not yet reported: (first sequence number, count). Sent by
    /// `flush_run` after each served event, so one channel message carries a whole batch.
    run: std::sync::Mutex<Option<(u64, u64)>>,
    link: Arc<Link>,
}

impl SectionContext {
    /// Report the pending run of successful deliveries.
    fn flush_run(&self) {
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
                });
            }
        }
    }
}

/// Serves librdkafka's event queue (delivery reports, errors, statistics, logs) on its own
/// thread, in place of rdkafka's `ThreadedProducer`, whose `poll(100 ms)` loop busy-polls
/// through the last millisecond of every call (rdkafka 0.39 rounds the remaining time down to
/// whole milliseconds and polls again with 0): about 0.6 % of a core per idle producer.
/// This thread parks until librdkafka enqueues an event (a queue event callback unparks it),
/// then drains the queue with non-blocking polls.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Called by librdkafka, with the queue locked, whenever an op is enqueued: only unparks.
unsafe extern "C" fn wake_poller(_rk: *mut rdsys::rd_kafka_t, opaque: *mut std::ffi::c_void) {
    // SAFETY: `opaque` is the `Box<Thread>` leaked in `Poller::start`, freed only after
    // this callback was disabled (under the same queue lock).
    unsafe { (*(opaque as *const std::thread::Thread)).unpark() };
}

impl Poller {
    fn start(producer: Arc<BaseProducer<SectionContext>>) -> std::io::Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rdk:poller".into())
            .spawn(move || {
                // SAFETY: the client outlives this thread (it holds an Arc to the producer).
                let queue =
                    unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) };
                // Freed below, after the callback that reads it is disabled.
                let waker = Box::into_raw(Box::new(std::thread::current()));
                unsafe {
                    rdsys::rd_kafka_queue_cb_event_enable(
                        queue,
                        Some(wake_poller),
                        waker as *mut std::ffi::c_void,
                    )
                };
                while !s.load(Ordering::Acquire) {
                    // One op per zero-timeout poll; a delivery report op carries a whole batch.
                    while unsafe { rdsys::rd_kafka_queue_length(queue) } > 0 {
                        producer.poll(Duration::ZERO);
                        producer.context().flush_run();
                    }
                    // Woken by the callback (an unpark before this park is not lost); the
                    // timeout is only a safety net.
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                unsafe {
                    rdsys::rd_kafka_queue_cb_event_enable(queue, None, std::ptr::null_mut());
                    rdsys::rd_kafka_queue_destroy(queue);
                    drop(Box::from_raw(waker));
                }
            })?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// The producer of one section.
pub struct Sender {
    // Declared first: dropped (thread stopped) before the producer's last reference goes.
    _poller: Poller,
    producer: Arc<BaseProducer<SectionContext>>,
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
        Ok((
            Sender {
                _poller: poller,
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
