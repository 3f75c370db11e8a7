//! Counters and gauges every stage reports to. The core holds cheap handles (atomics);
//! only this module knows the registry.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

/// All agent metrics, registered once.
#[derive(Clone, Default)]
pub struct Metrics {
    pub lines_shipped: Family<Labels, Counter>,
    pub bytes_shipped: Family<Labels, Counter>,
    pub lines_split: Family<Labels, Counter>,
    pub send_errors: Family<Labels, Counter>,
    pub bytes_lost: Family<Labels, Counter>,
    pub file_errors: Family<Labels, Counter>,
    pub broker_up: Family<Labels, Gauge>,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    pub fn register(&self, reg: &mut Registry) {
        reg.register(
            "logferry_lines_shipped",
            "Lines acknowledged by the broker",
            self.lines_shipped.clone(),
        );
        reg.register(
            "logferry_bytes_shipped",
            "Line bytes acknowledged by the broker",
            self.bytes_shipped.clone(),
        );
        reg.register(
            "logferry_lines_split",
            "Lines longer than max_line_bytes, split into pieces",
            self.lines_split.clone(),
        );
        reg.register(
            "logferry_send_errors",
            "Failed deliveries (re-sent from the checkpoint)",
            self.send_errors.clone(),
        );
        reg.register(
            "logferry_bytes_lost",
            "Bytes that could not be shipped, by reason",
            self.bytes_lost.clone(),
        );
        reg.register(
            "logferry_file_errors",
            "Files that could not be read (permission, I/O)",
            self.file_errors.clone(),
        );
        reg.register(
            "logferry_broker_up",
            "1 while the section's brokers answer",
            self.broker_up.clone(),
        );
    }

    /// Handles for one section.
    pub fn section(self: &Arc<Self>, section: &str, topic: &str) -> SectionMetrics {
        let l = vec![
            ("section", section.to_string()),
            ("topic", topic.to_string()),
        ];
        SectionMetrics {
            lines_shipped: self.lines_shipped.get_or_create(&l).clone(),
            bytes_shipped: self.bytes_shipped.get_or_create(&l).clone(),
            lines_split: self.lines_split.get_or_create(&l).clone(),
            broker_up: self.broker_up.get_or_create(&l).clone(),
            labels: l,
            all: self.clone(),
        }
    }
}

/// One section's metric handles.
#[derive(Clone)]
pub struct SectionMetrics {
    pub lines_shipped: Counter,
    pub bytes_shipped: Counter,
    pub lines_split: Counter,
    pub broker_up: Gauge,
    labels: Labels,
    all: Arc<Metrics>,
}

impl SectionMetrics {
    fn with_reason(&self, reason: &str) -> Labels {
        let mut l = self.labels.clone();
        l.push(("reason", reason.to_string()));
        l
    }

    pub fn send_error(&self, reason: &str) {
        self.all
            .send_errors
            .get_or_create(&self.with_reason(reason))
            .inc();
    }

    pub fn bytes_lost(&self, reason: &str, bytes: u64) {
        self.all
            .bytes_lost
            .get_or_create(&self.with_reason(reason))
            .inc_by(bytes);
    }

    pub fn file_error(&self, reason: &str) {
        self.all
            .file_errors
            .get_or_create(&self.with_reason(reason))
            .inc();
    }
}

impl Metrics {
    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut reg = Registry::default();
        self.register(&mut reg);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}
