//! What the services record, and the figures derived from it once per interval: per
//! partition produce and consume availability, loss, duplicates, reorders and latency
//! percentiles, per host the pipeline delay. Pure: [`evaluate`] takes `now` (Unix ms).
//!
//! Definitions (README "Monitoring" maps them to Kafka Monitor's):
//! - produce availability of a partition = acknowledged / attempted sends over the window,
//!   an attempt resolving when acknowledged or failed (`produce_timeout_ms`);
//! - consume availability = acknowledged canaries consumed within `loss_timeout_ms` /
//!   acknowledged canaries whose outcome is known, over the window; 1 with nothing to judge;
//! - loss rate = lost / (consumed + lost) over the window;
//! - pipeline delay of a host = the larger of the last heartbeat's write → consume latency
//!   and how overdue the next heartbeat is (`now - last write - interval`): it grows while
//!   nothing arrives, so a stopped agent shows.

use super::window::{Quantiles, Window};
use std::collections::BTreeMap;

/// Per partition, from the produce service.
#[derive(Debug, Clone)]
pub struct ProducePartition {
    /// true: acknowledged; false: failed.
    pub outcomes: Window<bool>,
    pub acked: u64,
    pub failed: u64,
}

/// Per partition, from the consume service.
#[derive(Debug, Clone)]
pub struct ConsumePartition {
    /// true: consumed within the loss timeout of its acknowledgement; false: not.
    pub on_time: Window<bool>,
    /// Send → consume, seconds, of this monitor's canaries.
    pub latency: Window<f64>,
    pub consumed_w: Window<u64>,
    pub lost_w: Window<u64>,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Sequence numbers in open gaps, waiting for the loss timeout (set each interval).
    pub missing: u64,
}

/// Per host, from the probe writer (acknowledged side) and the consume service.
#[derive(Debug, Clone)]
pub struct PipelineHost {
    pub interval_ms: u64,
    /// Write time of the newest heartbeat consumed.
    pub last_written_ms: Option<u64>,
    /// Its write → consume latency, seconds.
    pub last_latency: f64,
    pub consumed_latency: Window<f64>,
    /// Write → acknowledged-and-checkpointed, seconds (only for the agent's own host).
    pub acked_latency: Window<f64>,
    /// Write time of the oldest heartbeat not yet acknowledged (own host only).
    pub unacked_since_ms: Option<u64>,
    /// This process writes the host's heartbeats (the acknowledged side is known).
    pub probed: bool,
    pub lost: u64,
    pub duplicated: u64,
}

/// Everything recorded, shared by the services behind one mutex.
#[derive(Debug, Clone)]
pub struct Board {
    pub window_ms: u64,
    pub produce: BTreeMap<i32, ProducePartition>,
    pub consume: BTreeMap<i32, ConsumePartition>,
    pub pipeline: BTreeMap<String, PipelineHost>,
    /// Leader broker of each partition (None: leaderless), from topic management.
    pub leaders: BTreeMap<i32, Option<i32>>,
    pub brokers: Vec<i32>,
}

impl Board {
    pub fn new(window_ms: u64) -> Board {
        Board {
            window_ms,
            produce: BTreeMap::new(),
            consume: BTreeMap::new(),
            pipeline: BTreeMap::new(),
            leaders: BTreeMap::new(),
            brokers: Vec::new(),
        }
    }

    pub fn produce(&mut self, partition: i32) -> &mut ProducePartition {
        let w = self.window_ms;
        self.produce
            .entry(partition)
            .or_insert_with(|| ProducePartition {
                outcomes: Window::new(w),
                acked: 0,
                failed: 0,
            })
    }

    pub fn consume(&mut self, partition: i32) -> &mut ConsumePartition {
        let w = self.window_ms;
        self.consume
            .entry(partition)
            .or_insert_with(|| ConsumePartition {
                on_time: Window::new(w),
                latency: Window::new(w),
                consumed_w: Window::new(w),
                lost_w: Window::new(w),
                consumed: 0,
                lost: 0,
                duplicated: 0,
                reordered: 0,
                missing: 0,
            })
    }

    pub fn pipeline(&mut self, host: &str, interval_ms: u64) -> &mut PipelineHost {
        let w = self.window_ms;
        let h = self
            .pipeline
            .entry(host.to_string())
            .or_insert_with(|| PipelineHost {
                interval_ms,
                last_written_ms: None,
                last_latency: 0.0,
                consumed_latency: Window::new(w),
                acked_latency: Window::new(w),
                unacked_since_ms: None,
                probed: false,
                lost: 0,
                duplicated: 0,
            });
        h.interval_ms = interval_ms;
        h
    }
}

/// One partition's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PartitionRow {
    pub partition: i32,
    pub leader: Option<i32>,
    pub produce_availability: f64,
    pub consume_availability: f64,
    pub acked: u64,
    pub failed: u64,
    pub consumed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Sequence numbers missing, not yet counted lost (they may still arrive).
    pub missing: u64,
    /// Over the window, seconds.
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
}

/// One host's pipeline figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PipelineRow {
    pub host: String,
    /// Seconds; None before the first heartbeat was consumed.
    pub delay: Option<f64>,
    pub consumed_p99: Option<f64>,
    pub acked_p99: Option<f64>,
    /// Age of the oldest heartbeat not yet acknowledged, seconds (own host; 0 when none).
    pub unacked_age: Option<f64>,
    pub lost: u64,
    pub duplicated: u64,
}

/// The figures at one instant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub at_ms: u64,
    pub window_ms: u64,
    pub brokers: Vec<i32>,
    /// Brokers that lead no partition of the monitor topic (a bad one would go unseen).
    pub brokers_without_leadership: Vec<i32>,
    pub partitions: Vec<PartitionRow>,
    pub pipeline: Vec<PipelineRow>,
    /// Over all partitions: lost / (consumed + lost) in the window.
    pub loss_rate: f64,
    /// Over all partitions, seconds.
    pub latency: Option<Quantiles>,
}

/// Derives the figures at `now` (prunes the windows).
pub fn evaluate(b: &mut Board, now: u64) -> Snapshot {
    let mut parts: Vec<i32> = b.leaders.keys().copied().collect();
    parts.extend(b.produce.keys().copied());
    parts.sort_unstable();
    parts.dedup();
    let mut rows = Vec::with_capacity(parts.len());
    let mut all_latency = Window::new(b.window_ms);
    let (mut lost_w, mut consumed_w) = (0u64, 0u64);
    for p in parts {
        let leader = b.leaders.get(&p).copied().flatten();
        let (produce_availability, acked, failed) = match b.produce.get_mut(&p) {
            Some(pp) => (pp.outcomes.ratio(now).unwrap_or(1.0), pp.acked, pp.failed),
            None => (1.0, 0, 0),
        };
        let c = b.consume(p);
        let q = c.latency.quantiles(now);
        for v in c.latency.values(now) {
            all_latency.push(now, *v);
        }
        lost_w += c.lost_w.sum(now);
        consumed_w += c.consumed_w.sum(now);
        rows.push(PartitionRow {
            partition: p,
            leader,
            produce_availability,
            consume_availability: c.on_time.ratio(now).unwrap_or(1.0),
            acked,
            failed,
            consumed: c.consumed,
            lost: c.lost,
            duplicated: c.duplicated,
            reordered: c.reordered,
            missing: c.missing,
            latency_p50: q.map(|q| q.p50),
            latency_p99: q.map(|q| q.p99),
        });
    }
    let pipeline = b
        .pipeline
        .iter_mut()
        .map(|(host, h)| PipelineRow {
            host: host.clone(),
            delay: h.last_written_ms.map(|w| {
                let overdue = now.saturating_sub(w).saturating_sub(h.interval_ms);
                h.last_latency.max(overdue as f64 / 1000.0)
            }),
            consumed_p99: h.consumed_latency.quantiles(now).map(|q| q.p99),
            acked_p99: h.acked_latency.quantiles(now).map(|q| q.p99),
            unacked_age: h.probed.then(|| {
                h.unacked_since_ms
                    .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0)
            }),
            lost: h.lost,
            duplicated: h.duplicated,
        })
        .collect();
    let led: std::collections::BTreeSet<i32> = b.leaders.values().flatten().copied().collect();
    Snapshot {
        at_ms: now,
        window_ms: b.window_ms,
        brokers: b.brokers.clone(),
        brokers_without_leadership: b
            .brokers
            .iter()
            .filter(|id| !led.contains(id))
            .copied()
            .collect(),
        partitions: rows,
        pipeline,
        loss_rate: if lost_w + consumed_w == 0 {
            0.0
        } else {
            lost_w as f64 / (lost_w + consumed_w) as f64
        },
        latency: all_latency.quantiles(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_loss_and_latency_per_partition() {
        let mut b = Board::new(10_000);
        b.brokers = vec![1, 2, 3];
        b.leaders = BTreeMap::from([(0, Some(1)), (1, Some(2)), (2, None)]);
        for t in 0..10u64 {
            let at = t * 1000;
            b.produce(0).outcomes.push(at, true);
            b.produce(1).outcomes.push(at, t < 5);
            let c = b.consume(0);
            c.on_time.push(at, true);
            c.latency.push(at, 0.001 * (t + 1) as f64);
            c.consumed_w.push(at, 1);
        }
        b.consume(1).lost_w.push(9_000, 2);
        b.consume(1).lost = 2;
        let s = evaluate(&mut b, 9_500);
        assert_eq!(s.brokers_without_leadership, vec![3]);
        let r: Vec<(i32, Option<i32>, f64, f64, u64)> = s
            .partitions
            .iter()
            .map(|r| {
                (
                    r.partition,
                    r.leader,
                    r.produce_availability,
                    r.consume_availability,
                    r.lost,
                )
            })
            .collect();
        assert_eq!(
            r,
            vec![
                (0, Some(1), 1.0, 1.0, 0),
                (1, Some(2), 0.5, 1.0, 2),
                (2, None, 1.0, 1.0, 0)
            ]
        );
        assert_eq!(s.partitions[0].latency_p50, Some(0.005));
        assert_eq!(s.partitions[0].latency_p99, Some(0.010));
        assert_eq!(s.loss_rate, 2.0 / 12.0);
        // Ten seconds later everything left the window: nothing to judge.
        let s = evaluate(&mut b, 20_000);
        assert_eq!(s.partitions[1].produce_availability, 1.0);
        assert_eq!(s.loss_rate, 0.0);
        assert_eq!(s.latency, None);
    }

    #[test]
    fn pipeline_delay_grows_while_heartbeats_are_overdue() {
        let mut b = Board::new(60_000);
        b.pipeline("app-01", 1_000);
        assert_eq!(evaluate(&mut b, 0).pipeline[0].delay, None);
        let h = b.pipeline("app-01", 1_000);
        h.last_written_ms = Some(10_000);
        h.last_latency = 0.050;
        let d = |b: &mut Board, now| evaluate(b, now).pipeline[0].delay;
        assert_eq!(d(&mut b, 10_050), Some(0.050));
        assert_eq!(d(&mut b, 11_000), Some(0.050), "next one not due yet");
        assert_eq!(d(&mut b, 11_030), Some(0.050));
        assert_eq!(d(&mut b, 14_000), Some(3.0), "three seconds overdue");
        assert_eq!(
            evaluate(&mut b, 14_000).pipeline[0].unacked_age,
            None,
            "not ours"
        );
        b.pipeline("app-01", 1_000).probed = true;
        assert_eq!(evaluate(&mut b, 14_000).pipeline[0].unacked_age, Some(0.0));
        b.pipeline("app-01", 1_000).unacked_since_ms = Some(12_000);
        assert_eq!(evaluate(&mut b, 14_000).pipeline[0].unacked_age, Some(2.0));
    }
}
