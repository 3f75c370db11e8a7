//! The monitor's Prometheus families (`logferry_monitor_*`), registered next to the agent's
//! own in the same endpoint, or alone by `logferry monitor`. Counters and histograms move at
//! the events; gauges are set from each [`Snapshot`].

use super::figures::Snapshot;
use super::sla::{Violation, CHECKS};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

pub type Labels = Vec<(&'static str, String)>;
type FGauge = Gauge<f64, AtomicU64>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~33 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

pub struct MonitorMetrics {
    topic: String,
    pub produce_availability: Family<Labels, FGauge>,
    pub consume_availability: Family<Labels, FGauge>,
    pub records_produced: Family<Labels, Counter>,
    pub produce_errors: Family<Labels, Counter>,
    pub records_consumed: Family<Labels, Counter>,
    pub records_lost: Family<Labels, Counter>,
    pub records_duplicated: Family<Labels, Counter>,
    pub records_reordered: Family<Labels, Counter>,
    pub latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub latency_p50: Family<Labels, FGauge>,
    pub latency_p99: Family<Labels, FGauge>,
    pub partition_leader: Family<Labels, Gauge>,
    pub brokers: Family<Labels, Gauge>,
    pub brokers_without_leadership: Family<Labels, Gauge>,
    pub pipeline_latency: Family<Labels, Histogram, fn() -> Histogram>,
    pub pipeline_delay: Family<Labels, FGauge>,
    pub pipeline_unacked_seconds: Family<Labels, FGauge>,
    pub pipeline_lines_lost: Family<Labels, Counter>,
    pub pipeline_lines_duplicated: Family<Labels, Counter>,
    pub sla_ok: Family<Labels, Gauge>,
    pub sla_check_ok: Family<Labels, Gauge>,
    pub invalid_messages: Family<Labels, Counter>,
}

impl MonitorMetrics {
    pub fn new(topic: &str) -> MonitorMetrics {
        MonitorMetrics {
            topic: topic.to_string(),
            produce_availability: Family::default(),
            consume_availability: Family::default(),
            records_produced: Family::default(),
            produce_errors: Family::default(),
            records_consumed: Family::default(),
            records_lost: Family::default(),
            records_duplicated: Family::default(),
            records_reordered: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            latency_p50: Family::default(),
            latency_p99: Family::default(),
            partition_leader: Family::default(),
            brokers: Family::default(),
            brokers_without_leadership: Family::default(),
            pipeline_latency: Family::new_with_constructor(latency_histogram),
            pipeline_delay: Family::default(),
            pipeline_unacked_seconds: Family::default(),
            pipeline_lines_lost: Family::default(),
            pipeline_lines_duplicated: Family::default(),
            sla_ok: Family::default(),
            sla_check_ok: Family::default(),
            invalid_messages: Family::default(),
        }
    }

    pub fn topic_labels(&self) -> Labels {
        vec![("topic", self.topic.clone())]
    }

    pub fn partition_labels(&self, partition: i32) -> Labels {
        vec![
            ("topic", self.topic.clone()),
            ("partition", partition.to_string()),
        ]
    }

    pub fn host_labels(host: &str) -> Labels {
        vec![("host", host.to_string())]
    }

    pub fn register(&self, reg: &mut Registry) {
        let r = reg.sub_registry_with_prefix("logferry_monitor");
        r.register(
            "produce_availability",
            "Acknowledged / attempted canary sends over the window",
            self.produce_availability.clone(),
        );
        r.register(
            "consume_availability",
            "Acknowledged canaries consumed within loss_timeout_ms / acknowledged, over the window",
            self.consume_availability.clone(),
        );
        r.register(
            "records_produced",
            "Canaries acknowledged (acks=-1)",
            self.records_produced.clone(),
        );
        r.register(
            "produce_errors",
            "Canary sends that failed (sent again with the same sequence number)",
            self.produce_errors.clone(),
        );
        r.register(
            "records_consumed",
            "Canaries of this monitor consumed (first copies)",
            self.records_consumed.clone(),
        );
        r.register(
            "records_lost",
            "Sequence numbers missing for longer than loss_timeout_ms",
            self.records_lost.clone(),
        );
        r.register(
            "records_duplicated",
            "Canaries consumed more than once",
            self.records_duplicated.clone(),
        );
        r.register(
            "records_reordered",
            "Canaries that filled a gap within loss_timeout_ms",
            self.records_reordered.clone(),
        );
        r.register(
            "latency_seconds",
            "Canary send → consume",
            self.latency.clone(),
        );
        r.register(
            "latency_p50_seconds",
            "Median canary send → consume latency over the window",
            self.latency_p50.clone(),
        );
        r.register(
            "latency_p99_seconds",
            "99th percentile of canary send → consume latency over the window",
            self.latency_p99.clone(),
        );
        r.register(
            "partition_leader",
            "Leader broker id of the partition (-1: none)",
            self.partition_leader.clone(),
        );
        r.register(
            "brokers",
            "Brokers in the cluster's metadata",
            self.brokers.clone(),
        );
        r.register(
            "brokers_without_leadership",
            "Brokers leading no partition of the monitor topic",
            self.brokers_without_leadership.clone(),
        );
        r.register(
            "pipeline_latency_seconds",
            "Probe line written to its file → acknowledged and checkpointed (stage=acked) or consumable from Kafka (stage=consumed)",
            self.pipeline_latency.clone(),
        );
        r.register(
            "pipeline_delay_seconds",
            "Current delay of the agent's pipeline: the last heartbeat's write → consume latency, or how overdue the next one is",
            self.pipeline_delay.clone(),
        );
        r.register(
            "pipeline_unacked_seconds",
            "Age of the oldest probe line written but not acknowledged (0: none)",
            self.pipeline_unacked_seconds.clone(),
        );
        r.register(
            "pipeline_lines_lost",
            "Probe lines missing for longer than loss_timeout_ms",
            self.pipeline_lines_lost.clone(),
        );
        r.register(
            "pipeline_lines_duplicated",
            "Probe lines consumed more than once (the pipeline is at-least-once across crashes)",
            self.pipeline_lines_duplicated.clone(),
        );
        r.register(
            "sla_ok",
            "1 while every SLA check passes",
            self.sla_ok.clone(),
        );
        r.register(
            "sla_check_ok",
            "1 while this SLA check passes",
            self.sla_check_ok.clone(),
        );
        r.register(
            "invalid_messages",
            "Messages of the monitor topic that are not monitor messages of this version",
            self.invalid_messages.clone(),
        );
    }

    /// Sets the gauges from `s` and `violations`.
    pub fn publish(&self, s: &Snapshot, violations: &[Violation]) {
        for r in &s.partitions {
            let l = self.partition_labels(r.partition);
            // Counters exist at 0 from the first evaluation, so that increase() in the rules
            // sees their first increment.
            for c in [
                &self.records_produced,
                &self.produce_errors,
                &self.records_consumed,
                &self.records_lost,
                &self.records_duplicated,
                &self.records_reordered,
            ] {
                let _ = c.get_or_create(&l);
            }
            self.produce_availability
                .get_or_create(&l)
                .set(r.produce_availability);
            self.consume_availability
                .get_or_create(&l)
                .set(r.consume_availability);
            self.latency_p50
                .get_or_create(&l)
                .set(r.latency_p50.unwrap_or(0.0));
            self.latency_p99
                .get_or_create(&l)
                .set(r.latency_p99.unwrap_or(0.0));
            self.partition_leader
                .get_or_create(&l)
                .set(r.leader.map_or(-1, i64::from));
        }
        let t = self.topic_labels();
        self.brokers.get_or_create(&t).set(s.brokers.len() as i64);
        self.brokers_without_leadership
            .get_or_create(&t)
            .set(s.brokers_without_leadership.len() as i64);
        for p in &s.pipeline {
            let l = Self::host_labels(&p.host);
            let _ = self.pipeline_lines_lost.get_or_create(&l);
            let _ = self.pipeline_lines_duplicated.get_or_create(&l);
            self.pipeline_delay
                .get_or_create(&l)
                .set(p.delay.unwrap_or(0.0));
            if let Some(age) = p.unacked_age {
                self.pipeline_unacked_seconds.get_or_create(&l).set(age);
            }
        }
        self.sla_ok
            .get_or_create(&t)
            .set(i64::from(violations.is_empty()));
        for check in CHECKS {
            let mut l = t.clone();
            l.push(("check", check.to_string()));
            let ok = !violations.iter().any(|v| v.check == check);
            self.sla_check_ok.get_or_create(&l).set(i64::from(ok));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_the_monitor_prefix() {
        let m = MonitorMetrics::new("mon");
        m.records_lost
            .get_or_create(&m.partition_labels(2))
            .inc_by(3);
        m.produce_availability
            .get_or_create(&m.partition_labels(2))
            .set(0.5);
        let mut reg = Registry::default();
        m.register(&mut reg);
        let text = crate::ops::metrics::encode(&reg);
        assert!(
            text.contains("logferry_monitor_records_lost_total{topic=\"mon\",partition=\"2\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "logferry_monitor_produce_availability{topic=\"mon\",partition=\"2\"} 0.5"
            ),
            "{text}"
        );
    }
}
