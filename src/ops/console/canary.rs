//! The canary panel's figures: what the agent's in-process monitor (`[monitor]`) measured at
//! its last evaluation, per partition of the monitor topic. The console knows nothing of the
//! monitor: the agent hands it a [`CanaryFn`] (made by the monitor) that returns the latest
//! figures in these types, so the dependency runs one way (agent → console).

use serde::Serialize;
use std::sync::Arc;

/// Returns the monitor's latest figures (cheap: a clone of the last evaluation).
pub type CanaryFn = Arc<dyn Fn() -> CanaryReport + Send + Sync>;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CanaryReport {
    /// The monitor topic.
    pub topic: String,
    /// When the figures were evaluated, Unix ms; None before the monitor's first interval.
    pub evaluated_at_ms: Option<u64>,
    /// The sliding window rates and percentiles are taken over.
    pub window_ms: u64,
    /// Over all partitions: lost / (consumed + lost) in the window.
    pub loss_rate: f64,
    /// End-to-end latency over all partitions in the window, seconds.
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
    /// The SLA checks failed at that evaluation (empty: the SLA is met).
    pub violations: Vec<CanaryViolation>,
    /// By partition.
    pub partitions: Vec<CanaryPartition>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryPartition {
    pub partition: i32,
    /// The leader's broker id, if the partition has one.
    pub leader: Option<i32>,
    /// Share of canaries produced (acknowledged) in the window, 0..1.
    pub produce_availability: f64,
    /// Share of canaries consumed in time in the window, 0..1.
    pub consume_availability: f64,
    /// Counts since the monitor started.
    pub acked: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Sequence numbers not seen yet, not yet counted lost (they may still arrive).
    pub missing: u64,
    /// End-to-end latency in the window, seconds.
    pub latency_p50_s: Option<f64>,
    pub latency_p99_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryViolation {
    /// The SLA check's name, e.g. "produce_availability".
    pub check: String,
    pub detail: String,
}
