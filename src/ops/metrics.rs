//! Counters and gauges every stage reports to. The core holds cheap handles (atomics);
//! only this module knows the registry. Also the health table behind /healthz.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// All agent metrics, registered once.
pub struct Metrics {
    pub lines_shipped: Family<Labels, Counter>,
    pub bytes_shipped: Family<Labels, Counter>,
    pub lines_split: Family<Labels, Counter>,
    pub send_errors: Family<Labels, Counter>,
    pub bytes_lost: Family<Labels, Counter>,
    pub file_errors: Family<Labels, Counter>,
    pub files_skipped: Family<Labels, Counter>,
    pub broker_up: Family<Labels, Gauge>,
    pub backlog_bytes: Family<Labels, Gauge>,
    pub backlog_files: Family<Labels, Gauge>,
    pub backlog_oldest_seconds: Family<Labels, Gauge>,
    pub backlog_alert: Family<Labels, Gauge>,
    pub checkpoint_age_seconds: Family<Labels, Gauge>,
    pub open_files: Family<Labels, Gauge>,
    pub deleted_open_bytes: Family<Labels, Gauge>,
    pub delivery_latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// Per section: health and the handles the STATUS summary reads.
    sections: Mutex<BTreeMap<String, SectionEntry>>,
    /// The `logferry_bytes_lost` handles that counted, by (section, topic, reason): the
    /// family itself cannot be listed, and a reloaded section keeps its losses.
    lost: Mutex<BTreeMap<(String, String, String), Counter>>,
}

/// What [`Metrics`] keeps of each section it handed out handles for.
struct SectionEntry {
    topic: String,
    /// None while shipping or idle, else why it is stuck (/healthz).
    health: Option<String>,
    /// False once the section stopped (its counters still count towards the totals).
    running: bool,
    lines_shipped: Counter,
    bytes_shipped: Counter,
    backlog_bytes: Gauge,
    backlog_files: Gauge,
    backlog_oldest_seconds: Gauge,
    backlog_alert: Gauge,
    broker_up: Gauge,
    /// The file being shipped (the oldest with unread bytes), for the web console.
    current_file: Option<String>,
    /// The last [`MAX_EVENTS`] notable changes, oldest first (web console's timeline).
    events: std::collections::VecDeque<Event>,
}

/// Events kept per section: the timeline shows recent history, memory stays bounded.
pub const MAX_EVENTS: usize = 64;

/// A notable change of a section, for the web console's timeline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    /// Unix time, milliseconds.
    pub t_ms: u64,
    pub kind: EventKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    AlertFiring,
    AlertResolved,
    BrokerDown,
    BrokerUp,
    /// The writer moved on from a file (it was rotated away) or a file continues in its copy.
    Rotation,
}

/// One section as the web console shows it, read from the same handles /metrics encodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionView {
    pub name: String,
    pub topic: String,
    pub health: Option<String>,
    pub broker_up: bool,
    pub alert: bool,
    pub lines_shipped: u64,
    pub bytes_shipped: u64,
    pub backlog_bytes: u64,
    pub backlog_files: u64,
    pub backlog_oldest_seconds: u64,
    pub current_file: Option<String>,
    /// By reason; only reasons that counted.
    pub lost: Vec<(String, u64)>,
    pub events: Vec<Event>,
}

/// The agent at a glance, read from the counters (systemd's STATUS= line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub sections: usize,
    /// Since the agent started, all sections (also those stopped by a reload).
    pub lines_shipped: u64,
    pub bytes_shipped: u64,
    pub backlog_bytes: u64,
    /// Running sections whose brokers do not answer.
    pub brokers_down: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            lines_shipped: Family::default(),
            bytes_shipped: Family::default(),
            lines_split: Family::default(),
            send_errors: Family::default(),
            bytes_lost: Family::default(),
            file_errors: Family::default(),
            files_skipped: Family::default(),
            broker_up: Family::default(),
            backlog_bytes: Family::default(),
            backlog_files: Family::default(),
            backlog_oldest_seconds: Family::default(),
            backlog_alert: Family::default(),
            open_files: Family::default(),
            deleted_open_bytes: Family::default(),
            checkpoint_age_seconds: Family::default(),
            delivery_latency: Family::new_with_constructor(latency_histogram),
            sections: Mutex::default(),
            lost: Mutex::default(),
        }
    }
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
            "Failed deliveries (re-sent from the checkpoint), by reason",
            self.send_errors.clone(),
        );
        reg.register(
            "logferry_bytes_lost",
            "Bytes that could not be shipped, by reason",
            self.bytes_lost.clone(),
        );
        reg.register(
            "logferry_file_errors",
            "Files that could not be read, by reason",
            self.file_errors.clone(),
        );
        reg.register(
            "logferry_files_skipped",
            "Compressed files whose content continues no known file and was not shipped, by reason",
            self.files_skipped.clone(),
        );
        reg.register(
            "logferry_broker_up",
            "1 while the section's brokers answer, else 0",
            self.broker_up.clone(),
        );
        reg.register(
            "logferry_backlog_bytes",
            "Bytes of the section's files past their checkpoints",
            self.backlog_bytes.clone(),
        );
        reg.register(
            "logferry_backlog_files",
            "Files not yet fully shipped",
            self.backlog_files.clone(),
        );
        reg.register(
            "logferry_backlog_oldest_seconds",
            "Age by mtime of the oldest file with unshipped bytes",
            self.backlog_oldest_seconds.clone(),
        );
        reg.register(
            "logferry_open_files",
            "Descriptors the section holds on the files it follows (deleted ones included)",
            self.open_files.clone(),
        );
        reg.register(
            "logferry_deleted_open_bytes",
            "Bytes of deleted files the section still holds open to ship them (disk space it pins)",
            self.deleted_open_bytes.clone(),
        );
        reg.register(
            "logferry_backlog_alert",
            "1 while a backlog threshold is exceeded",
            self.backlog_alert.clone(),
        );
        reg.register(
            "logferry_checkpoint_age_seconds",
            "Seconds since the section's checkpoint was last written",
            self.checkpoint_age_seconds.clone(),
        );
        reg.register(
            "logferry_delivery_latency_seconds",
            "Time from reading a line to its broker acknowledgement",
            self.delivery_latency.clone(),
        );
    }

    /// Handles for one section.
    pub fn section(self: &Arc<Self>, section: &str, topic: &str) -> SectionMetrics {
        let l = vec![
            ("section", section.to_string()),
            ("topic", topic.to_string()),
        ];
        let up = self.broker_up.get_or_create(&l).clone();
        up.set(1);
        let lines_shipped = self.lines_shipped.get_or_create(&l).clone();
        let bytes_shipped = self.bytes_shipped.get_or_create(&l).clone();
        let backlog_bytes = self.backlog_bytes.get_or_create(&l).clone();
        let backlog_files = self.backlog_files.get_or_create(&l).clone();
        let backlog_oldest_seconds = self.backlog_oldest_seconds.get_or_create(&l).clone();
        let backlog_alert = self.backlog_alert.get_or_create(&l).clone();
        self.lock_sections().insert(
            section.to_string(),
            SectionEntry {
                topic: topic.to_string(),
                health: None,
                running: true,
                lines_shipped: lines_shipped.clone(),
                bytes_shipped: bytes_shipped.clone(),
                backlog_bytes: backlog_bytes.clone(),
                backlog_files: backlog_files.clone(),
                backlog_oldest_seconds: backlog_oldest_seconds.clone(),
                backlog_alert: backlog_alert.clone(),
                broker_up: up.clone(),
                current_file: None,
                events: std::collections::VecDeque::new(),
            },
        );
        SectionMetrics {
            lines_shipped,
            bytes_shipped,
            lines_split: self.lines_split.get_or_create(&l).clone(),
            broker_up: up,
            backlog_bytes,
            backlog_files,
            backlog_oldest_seconds,
            backlog_alert,
            open_files: self.open_files.get_or_create(&l).clone(),
            deleted_open_bytes: self.deleted_open_bytes.get_or_create(&l).clone(),
            checkpoint_age_seconds: self.checkpoint_age_seconds.get_or_create(&l).clone(),
            delivery_latency: self.delivery_latency.get_or_create(&l).clone(),
            checkpoint_written_ms: Arc::new(AtomicU64::new(0)),
            section: section.to_string(),
            labels: l,
            all: self.clone(),
        }
    }

    /// The metrics in Prometheus text format (agent families only).
    pub fn render(&self) -> String {
        let mut reg = Registry::default();
        self.register(&mut reg);
        encode(&reg)
    }

    /// The section table; a panic elsewhere while holding it leaves valid entries.
    fn lock_sections(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, SectionEntry>> {
        self.sections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// /healthz: `Ok(())` while every section ships or idles, else one line per stuck section.
    pub fn health(&self) -> Result<(), String> {
        let stuck: Vec<String> = self
            .lock_sections()
            .iter()
            .filter(|(_, e)| e.running)
            .filter_map(|(s, e)| e.health.as_ref().map(|r| format!("section {s}: {r}")))
            .collect();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(stuck.join("\n"))
        }
    }

    /// Totals for the STATUS= line, read from the section handles (no text rendering).
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for e in self.lock_sections().values() {
            s.lines_shipped += e.lines_shipped.get();
            s.bytes_shipped += e.bytes_shipped.get();
            if e.running {
                s.sections += 1;
                s.backlog_bytes += e.backlog_bytes.get().max(0) as u64;
                s.brokers_down += usize::from(e.broker_up.get() == 0);
            }
        }
        s
    }

    /// `logferry_bytes_lost` summed over every section (stopped ones too), by reason; only
    /// reasons that counted.
    pub fn lost_totals(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, _, r), c) in self.lock_lost().iter() {
            *out.entry(r.clone()).or_insert(0) += c.get();
        }
        out
    }

    fn lock_lost(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String, String), Counter>> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This section's losses (its current topic), by reason.
    fn lost_of(&self, section: &str, topic: &str) -> Vec<(String, u64)> {
        self.lock_lost()
            .iter()
            .filter(|((s, t, _), _)| s == section && t == topic)
            .map(|((_, _, r), c)| (r.clone(), c.get()))
            .collect()
    }

    /// Running sections.
    pub fn running_sections(&self) -> usize {
        self.lock_sections().values().filter(|e| e.running).count()
    }

    /// The running sections in name order, rows `range` of them (the web console's page).
    pub fn section_views(&self, range: std::ops::Range<usize>) -> Vec<SectionView> {
        let mut views: Vec<SectionView> = self
            .lock_sections()
            .iter()
            .filter(|(_, e)| e.running)
            .skip(range.start)
            .take(range.len())
            .map(|(name, e)| SectionView {
                name: name.clone(),
                topic: e.topic.clone(),
                health: e.health.clone(),
                broker_up: e.broker_up.get() != 0,
                alert: e.backlog_alert.get() != 0,
                lines_shipped: e.lines_shipped.get(),
                bytes_shipped: e.bytes_shipped.get(),
                backlog_bytes: e.backlog_bytes.get().max(0) as u64,
                backlog_files: e.backlog_files.get().max(0) as u64,
                backlog_oldest_seconds: e.backlog_oldest_seconds.get().max(0) as u64,
                current_file: e.current_file.clone(),
                lost: Vec::new(),
                events: e.events.iter().cloned().collect(),
            })
            .collect();
        for v in &mut views {
            v.lost = self.lost_of(&v.name, &v.topic);
        }
        views
    }

    /// (name, backlog bytes, lines shipped) of every running section: what the console's
    /// history samples.
    pub fn section_samples(&self) -> Vec<(String, u64, u64)> {
        self.lock_sections()
            .iter()
            .filter(|(_, e)| e.running)
            .map(|(n, e)| {
                (
                    n.clone(),
                    e.backlog_bytes.get().max(0) as u64,
                    e.lines_shipped.get(),
                )
            })
            .collect()
    }

    fn with_entry(&self, section: &str, f: impl FnOnce(&mut SectionEntry)) {
        if let Some(e) = self.lock_sections().get_mut(section) {
            f(e);
        }
    }

    fn set_health(&self, section: &str, reason: Option<String>) {
        if let Some(e) = self.lock_sections().get_mut(section) {
            e.health = reason;
        }
    }

    fn retire_section(&self, section: &str) {
        if let Some(e) = self.lock_sections().get_mut(section) {
            e.running = false;
            e.health = None;
        }
    }
}

/// Encode a registry in the Prometheus text format.
pub fn encode(reg: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, reg).is_err() {
        out.clear();
    }
    out
}

/// One section's metric handles.
#[derive(Clone)]
pub struct SectionMetrics {
    pub lines_shipped: Counter,
    pub bytes_shipped: Counter,
    pub lines_split: Counter,
    pub broker_up: Gauge,
    pub backlog_bytes: Gauge,
    pub backlog_files: Gauge,
    pub backlog_oldest_seconds: Gauge,
    pub backlog_alert: Gauge,
    pub checkpoint_age_seconds: Gauge,
    pub open_files: Gauge,
    pub deleted_open_bytes: Gauge,
    pub delivery_latency: Histogram,
    /// Unix time in ms of the last successful checkpoint write (0: none yet).
    pub checkpoint_written_ms: Arc<AtomicU64>,
    section: String,
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
        let c = self
            .all
            .bytes_lost
            .get_or_create(&self.with_reason(reason))
            .clone();
        c.inc_by(bytes);
        let topic = self
            .labels
            .iter()
            .find(|(k, _)| *k == "topic")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.all
            .lock_lost()
            .entry((self.section.clone(), topic, reason.to_string()))
            .or_insert(c);
    }

    /// Record a notable change for the web console's timeline (the last [`MAX_EVENTS`]).
    pub fn event(&self, kind: EventKind, detail: String) {
        self.all.with_entry(&self.section, |e| {
            if e.events.len() >= MAX_EVENTS {
                e.events.pop_front();
            }
            e.events.push_back(Event {
                t_ms: crate::clock::unix_ms(),
                kind,
                detail,
            });
        });
    }

    /// The file being shipped now (None: nothing to ship).
    pub fn set_current_file(&self, path: Option<&std::path::Path>) {
        self.all.with_entry(&self.section, |e| {
            let now = path.map(|p| p.display().to_string());
            if e.current_file != now {
                e.current_file = now;
            }
        });
    }

    pub fn file_skipped(&self, reason: &str) {
        self.all
            .files_skipped
            .get_or_create(&self.with_reason(reason))
            .inc();
    }

    pub fn file_error(&self, reason: &str) {
        self.all
            .file_errors
            .get_or_create(&self.with_reason(reason))
            .inc();
    }

    /// Why the section is stuck (None: shipping or idle), for /healthz.
    pub fn set_health(&self, reason: Option<String>) {
        self.all.set_health(&self.section, reason);
    }

    /// The section stopped: it no longer counts for /healthz.
    pub fn retire(&self) {
        self.all.retire_section(&self.section);
    }
}

/// OpenMetrics text (what prometheus-client encodes) → Prometheus text format 0.0.4, for
/// scrapers that don't ask for OpenMetrics (curl, promtool, older agents). The differences
/// that matter: a counter family is named with its `_total` suffix, and there is no `# EOF`
/// or `# UNIT` line.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(rewritten.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_counters_become_total_families() {
        let om = "# HELP a_lines Lines.\n# TYPE a_lines counter\na_lines_total{s=\"x\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_lines_total Lines.\n# TYPE a_lines_total counter\na_lines_total{s=\"x\"} 3\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }

    #[test]
    fn health_lists_stuck_sections() {
        let m = Metrics::new();
        let a = m.section("a", "t");
        let _b = m.section("b", "t");
        assert_eq!(m.health(), Ok(()));
        a.set_health(Some("brokers unreachable".into()));
        assert_eq!(
            m.health(),
            Err("section a: brokers unreachable".to_string())
        );
        a.lines_shipped.inc_by(3);
        a.backlog_bytes.set(10);
        a.broker_up.set(0);
        assert_eq!(
            m.summary(),
            Summary {
                sections: 2,
                lines_shipped: 3,
                bytes_shipped: 0,
                backlog_bytes: 10,
                brokers_down: 1
            }
        );
        a.retire();
        assert_eq!(m.health(), Ok(()));
        let after = m.summary();
        assert_eq!(
            (after.sections, after.lines_shipped, after.brokers_down),
            (1, 3, 0)
        );
    }
}
