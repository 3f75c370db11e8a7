//! `[monitor]`: the end-to-end canary (see README "Monitoring", "The end-to-end monitor").
//! The agent runs it in-process when `enabled = true`; `logferry monitor` runs it on its own
//! with the same keys (`enabled` is then ignored).

use super::section_err;
use super::ConfigError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The validated `[monitor]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Run the monitor inside the agent (`logferry run`).
    pub enabled: bool,
    /// The monitor topic: created when missing, never shared with shipped data.
    pub topic: String,
    /// One canary message per partition, and one pipeline heartbeat, every interval.
    pub interval: Duration,
    /// A gap in a partition's sequence that is not filled within this long counts as lost;
    /// a message not consumed within this long after its acknowledgement counts against
    /// consume availability.
    pub loss_timeout: Duration,
    /// A canary send not acknowledged within this long fails (librdkafka
    /// `message.timeout.ms`): it counts against produce availability and is sent again.
    pub produce_timeout: Duration,
    /// Sliding window of availability, loss rate and latency percentiles.
    pub window: Duration,
    /// The topic keeps at least `brokers × partitions_per_broker` partitions.
    pub partitions_per_broker: u32,
    /// Replication factor of a topic the monitor creates (capped at the broker count).
    pub replication_factor: u32,
    /// How often topic management re-reads the cluster (brokers added, leaders moved).
    pub topic_check_interval: Duration,
    /// Consumer group of the consume service; None: `logferry-monitor-<host>`.
    pub group: Option<String>,
    /// In the agent: also probe the agent's own pipeline (file → section → topic).
    pub pipeline_probe: bool,
    /// SLA: produce and consume availability at least this (0..=1).
    pub min_availability: f64,
    /// SLA: lost / produced over the window at most this (0..=1).
    pub max_loss_rate: f64,
    /// SLA: p99 of send → consume latency over the window at most this.
    pub max_latency_p99: Duration,
    /// SLA: the pipeline delay (file write → consumable, growing while nothing arrives) at
    /// most this.
    pub max_pipeline_latency: Duration,
    /// `/metrics` of `logferry monitor` run on its own (the agent uses `[agent]
    /// metrics_listen`); None when disabled ("").
    pub metrics_listen: Option<String>,
    /// librdkafka properties for the monitor's producer, consumer and admin client, applied
    /// after the monitor's own (TLS/SASL for an external cluster, or test faults).
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for MonitorConfig {
    /// What an absent or empty `[monitor]` means.
    fn default() -> Self {
        MonitorConfig {
            enabled: false,
            topic: default_topic(),
            interval: Duration::from_millis(default_interval_ms()),
            loss_timeout: Duration::from_millis(default_loss_timeout_ms()),
            produce_timeout: Duration::from_millis(default_produce_timeout_ms()),
            window: Duration::from_millis(default_window_ms()),
            partitions_per_broker: default_partitions_per_broker(),
            replication_factor: default_replication_factor(),
            topic_check_interval: Duration::from_millis(default_topic_check_interval_ms()),
            group: None,
            pipeline_probe: true,
            min_availability: default_min_availability(),
            max_loss_rate: 0.0,
            max_latency_p99: Duration::from_millis(default_max_latency_p99_ms()),
            max_pipeline_latency: Duration::from_millis(default_max_pipeline_latency_ms()),
            metrics_listen: Some(default_metrics_listen()),
            librdkafka: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonitor {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "default_topic")]
    topic: String,
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_loss_timeout_ms")]
    loss_timeout_ms: u64,
    #[serde(default = "default_produce_timeout_ms")]
    produce_timeout_ms: u64,
    #[serde(default = "default_window_ms")]
    window_ms: u64,
    #[serde(default = "default_partitions_per_broker")]
    partitions_per_broker: u32,
    #[serde(default = "default_replication_factor")]
    replication_factor: u32,
    #[serde(default = "default_topic_check_interval_ms")]
    topic_check_interval_ms: u64,
    group: Option<String>,
    #[serde(default = "default_true")]
    pipeline_probe: bool,
    #[serde(default = "default_min_availability")]
    min_availability: f64,
    #[serde(default)]
    max_loss_rate: f64,
    #[serde(default = "default_max_latency_p99_ms")]
    max_latency_p99_ms: u64,
    #[serde(default = "default_max_pipeline_latency_ms")]
    max_pipeline_latency_ms: u64,
    #[serde(default = "default_metrics_listen")]
    metrics_listen: String,
    #[serde(default)]
    librdkafka: BTreeMap<String, toml::Value>,
}

fn default_topic() -> String {
    "logferry-monitor".to_string()
}
fn default_interval_ms() -> u64 {
    1_000
}
fn default_loss_timeout_ms() -> u64 {
    10_000
}
fn default_produce_timeout_ms() -> u64 {
    5_000
}
fn default_window_ms() -> u64 {
    60_000
}
fn default_partitions_per_broker() -> u32 {
    2
}
fn default_replication_factor() -> u32 {
    3
}
fn default_topic_check_interval_ms() -> u64 {
    60_000
}
fn default_true() -> bool {
    true
}
fn default_min_availability() -> f64 {
    0.99
}
fn default_max_latency_p99_ms() -> u64 {
    1_000
}
fn default_max_pipeline_latency_ms() -> u64 {
    10_000
}
fn default_metrics_listen() -> String {
    "127.0.0.1:9465".to_string()
}

pub(super) fn validate_monitor(raw: RawMonitor) -> Result<MonitorConfig, ConfigError> {
    let err = |m: String| section_err("monitor", m);
    if !logferry_broker::topics::valid_topic_name(&raw.topic) {
        return Err(err(format!(
            "topic \"{}\" is not a valid Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -)",
            raw.topic
        )));
    }
    let ms = |name: &str, v: u64, min: u64, max: u64| -> Result<Duration, ConfigError> {
        if (min..=max).contains(&v) {
            Ok(Duration::from_millis(v))
        } else {
            Err(err(format!("{name} = {v} must be between {min} and {max}")))
        }
    };
    let interval = ms("interval_ms", raw.interval_ms, 10, 3_600_000)?;
    let loss_timeout = ms("loss_timeout_ms", raw.loss_timeout_ms, 1, 86_400_000)?;
    let produce_timeout = ms("produce_timeout_ms", raw.produce_timeout_ms, 1, 3_600_000)?;
    let window = ms("window_ms", raw.window_ms, 1, 86_400_000)?;
    let topic_check_interval = ms(
        "topic_check_interval_ms",
        raw.topic_check_interval_ms,
        10,
        86_400_000,
    )?;
    let max_latency_p99 = ms("max_latency_p99_ms", raw.max_latency_p99_ms, 1, 86_400_000)?;
    let max_pipeline_latency = ms(
        "max_pipeline_latency_ms",
        raw.max_pipeline_latency_ms,
        1,
        86_400_000,
    )?;
    if window < interval {
        return Err(err(format!(
            "window_ms = {} must be at least interval_ms = {} (a window holds whole rounds)",
            raw.window_ms, raw.interval_ms
        )));
    }
    if !(1..=1000).contains(&raw.partitions_per_broker) {
        return Err(err(format!(
            "partitions_per_broker = {} must be between 1 and 1000",
            raw.partitions_per_broker
        )));
    }
    if !(1..=32).contains(&raw.replication_factor) {
        return Err(err(format!(
            "replication_factor = {} must be between 1 and 32",
            raw.replication_factor
        )));
    }
    for (name, v) in [
        ("min_availability", raw.min_availability),
        ("max_loss_rate", raw.max_loss_rate),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(err(format!("{name} = {v} must be between 0 and 1")));
        }
    }
    if raw.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
        return Err(err(
            "group must not be empty (omit it for logferry-monitor-<host>)".into(),
        ));
    }
    let metrics_listen = match raw.metrics_listen.trim() {
        "" => None,
        addr => {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(err(format!(
                    "metrics_listen \"{addr}\" is not an address like \"127.0.0.1:9465\" (\"\" disables the endpoint)"
                )));
            }
            Some(addr.to_string())
        }
    };
    let librdkafka = super::output::librdkafka_properties("monitor.librdkafka", raw.librdkafka)?;
    Ok(MonitorConfig {
        enabled: raw.enabled,
        topic: raw.topic,
        interval,
        loss_timeout,
        produce_timeout,
        window,
        partitions_per_broker: raw.partitions_per_broker,
        replication_factor: raw.replication_factor,
        topic_check_interval,
        group: raw.group,
        pipeline_probe: raw.pipeline_probe,
        min_availability: raw.min_availability,
        max_loss_rate: raw.max_loss_rate,
        max_latency_p99,
        max_pipeline_latency,
        metrics_listen,
        librdkafka,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MonitorConfig, ConfigError> {
        let raw: RawMonitor =
            toml::from_str(text).map_err(|e| section_err("monitor", e.to_string()))?;
        validate_monitor(raw)
    }

    #[test]
    fn defaults() {
        let c = MonitorConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.topic, "logferry-monitor");
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.loss_timeout, Duration::from_secs(10));
        assert_eq!(c.window, Duration::from_secs(60));
        assert_eq!(c.partitions_per_broker, 2);
        assert_eq!(c.min_availability, 0.99);
        assert_eq!(c.max_loss_rate, 0.0);
        assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9465"));
        assert_eq!(parse("").expect("empty is valid"), c);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, needle) in [
            ("topic = \"a b\"", "topic"),
            ("interval_ms = 0", "interval_ms"),
            ("window_ms = 500", "window_ms"),
            ("min_availability = 1.5", "min_availability"),
            ("max_loss_rate = -0.1", "max_loss_rate"),
            ("partitions_per_broker = 0", "partitions_per_broker"),
            ("group = \" \"", "group"),
            ("metrics_listen = \"nowhere\"", "metrics_listen"),
            ("intervl_ms = 5", "intervl_ms"),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains("[monitor]") && e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn librdkafka_overrides_are_strings() {
        let c = parse("enabled = true\n[librdkafka]\n\"enable.idempotence\" = false\n\"request.timeout.ms\" = 500\n")
            .expect("valid");
        assert!(c.enabled);
        assert_eq!(c.librdkafka["enable.idempotence"], "false");
        assert_eq!(c.librdkafka["request.timeout.ms"], "500");
    }
}
