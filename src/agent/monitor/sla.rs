//! The SLA: thresholds from `[monitor]`, the checks a [`Snapshot`] fails (pure), and the
//! alert that flips `logferry_monitor_sla_ok` and runs `[agent] alert_command` on each
//! transition, as backlog alerts do.

use super::figures::Snapshot;
use crate::config::MonitorConfig;

/// The checks, in the order they are reported (also the `check` label).
pub const CHECKS: [&str; 5] = [
    "produce_availability",
    "consume_availability",
    "loss_rate",
    "latency_p99",
    "pipeline_latency",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub min_availability: f64,
    pub max_loss_rate: f64,
    /// Seconds.
    pub max_latency_p99: f64,
    /// Seconds.
    pub max_pipeline_latency: f64,
}

impl Thresholds {
    pub fn from_config(c: &MonitorConfig) -> Thresholds {
        Thresholds {
            min_availability: c.min_availability,
            max_loss_rate: c.max_loss_rate,
            max_latency_p99: c.max_latency_p99.as_secs_f64(),
            max_pipeline_latency: c.max_pipeline_latency.as_secs_f64(),
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
}

/// Every check `s` fails. Availability is judged per partition, so one bad broker's
/// partitions fail the SLA however many healthy partitions there are.
pub fn violations(s: &Snapshot, t: &Thresholds) -> Vec<Violation> {
    let mut out = Vec::new();
    let leader = |l: Option<i32>| l.map_or("none".to_string(), |b| b.to_string());
    for r in &s.partitions {
        if r.produce_availability < t.min_availability {
            out.push(Violation {
                check: CHECKS[0],
                detail: format!(
                    "produce availability of partition {} (leader {}) {:.3} < {}",
                    r.partition,
                    leader(r.leader),
                    r.produce_availability,
                    t.min_availability
                ),
            });
        }
    }
    for r in &s.partitions {
        if r.consume_availability < t.min_availability {
            out.push(Violation {
                check: CHECKS[1],
                detail: format!(
                    "consume availability of partition {} (leader {}) {:.3} < {}",
                    r.partition,
                    leader(r.leader),
                    r.consume_availability,
                    t.min_availability
                ),
            });
        }
    }
    if s.loss_rate > t.max_loss_rate {
        out.push(Violation {
            check: CHECKS[2],
            detail: format!("loss rate {:.4} > {}", s.loss_rate, t.max_loss_rate),
        });
    }
    if let Some(q) = s.latency.filter(|q| q.p99 > t.max_latency_p99) {
        out.push(Violation {
            check: CHECKS[3],
            detail: format!("latency p99 {:.3} s > {} s", q.p99, t.max_latency_p99),
        });
    }
    for p in &s.pipeline {
        if let Some(d) = p.delay.filter(|d| *d > t.max_pipeline_latency) {
            out.push(Violation {
                check: CHECKS[4],
                detail: format!(
                    "pipeline of host {}: delay {:.1} s > {} s",
                    p.host, d, t.max_pipeline_latency
                ),
            });
        }
    }
    out
}

/// The SLA alert state; logs, and reports transitions.
#[derive(Debug, Default)]
pub struct SlaAlert {
    firing: bool,
}

impl SlaAlert {
    pub fn firing(&self) -> bool {
        self.firing
    }

    /// Feeds the current violations; Some(firing) on a transition.
    pub fn update(&mut self, v: &[Violation]) -> Option<bool> {
        let over = !v.is_empty();
        if over == self.firing {
            return None;
        }
        self.firing = over;
        Some(over)
    }
}

/// The alert command's environment for a transition of the monitor's SLA alert.
pub fn alert_env(firing: bool, topic: &str, v: &[Violation]) -> Vec<(&'static str, String)> {
    vec![
        (
            "LOGFERRY_ALERT",
            if firing { "firing" } else { "resolved" }.to_string(),
        ),
        ("LOGFERRY_SECTION", "monitor".to_string()),
        ("LOGFERRY_TOPIC", topic.to_string()),
        (
            "LOGFERRY_MONITOR_VIOLATIONS",
            v.iter()
                .map(|v| v.detail.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::monitor::figures::{PartitionRow, PipelineRow};
    use crate::agent::monitor::window::Quantiles;

    fn row(p: i32, produce: f64, consume: f64) -> PartitionRow {
        PartitionRow {
            partition: p,
            leader: Some(p + 1),
            produce_availability: produce,
            consume_availability: consume,
            acked: 0,
            failed: 0,
            consumed: 0,
            lost: 0,
            duplicated: 0,
            reordered: 0,
            missing: 0,
            latency_p50: None,
            latency_p99: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            at_ms: 0,
            window_ms: 60_000,
            brokers: vec![1, 2, 3],
            brokers_without_leadership: vec![],
            partitions: vec![row(0, 1.0, 1.0), row(1, 1.0, 1.0)],
            pipeline: vec![PipelineRow {
                host: "h".into(),
                delay: Some(0.1),
                consumed_p99: None,
                acked_p99: None,
                unacked_age: None,
                lost: 0,
                duplicated: 0,
            }],
            loss_rate: 0.0,
            latency: Some(Quantiles {
                p50: 0.001,
                p99: 0.002,
                max: 0.003,
            }),
        }
    }

    const T: Thresholds = Thresholds {
        min_availability: 0.99,
        max_loss_rate: 0.0,
        max_latency_p99: 1.0,
        max_pipeline_latency: 10.0,
    };

    #[test]
    fn healthy_figures_pass() {
        assert_eq!(violations(&snapshot(), &T), vec![]);
    }

    #[test]
    fn each_check_names_what_failed() {
        let mut s = snapshot();
        s.partitions[1] = row(1, 0.5, 0.98);
        s.loss_rate = 0.01;
        s.latency = Some(Quantiles {
            p50: 0.5,
            p99: 1.5,
            max: 2.0,
        });
        s.pipeline[0].delay = Some(12.0);
        let v = violations(&s, &T);
        let details: Vec<&str> = v.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "produce availability of partition 1 (leader 2) 0.500 < 0.99",
                "consume availability of partition 1 (leader 2) 0.980 < 0.99",
                "loss rate 0.0100 > 0",
                "latency p99 1.500 s > 1 s",
                "pipeline of host h: delay 12.0 s > 10 s",
            ]
        );
        let checks: Vec<&str> = v.iter().map(|v| v.check).collect();
        assert_eq!(checks, CHECKS);
    }

    #[test]
    fn the_alert_reports_transitions_only() {
        let mut a = SlaAlert::default();
        assert_eq!(a.update(&[]), None);
        let v = vec![Violation {
            check: CHECKS[2],
            detail: "loss".into(),
        }];
        assert_eq!(a.update(&v), Some(true));
        assert_eq!(a.update(&v), None);
        assert!(a.firing());
        assert_eq!(a.update(&[]), Some(false));
        let env = alert_env(true, "t", &v);
        assert_eq!(env[0], ("LOGFERRY_ALERT", "firing".to_string()));
        assert_eq!(env[3], ("LOGFERRY_MONITOR_VIOLATIONS", "loss".to_string()));
    }
}
