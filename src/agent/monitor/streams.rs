//! What the consume service knows, without the consumer: one [`Tracker`] per stream (this
//! monitor's canaries on each partition; each watched host's pipeline heartbeats), the
//! acknowledged canaries it waits to read (consume availability), the offsets to commit and
//! the tracker states that travel with them. Pure: every call takes `now`.
//!
//! Resume: a commit carries, as its offset metadata, the state of the streams last seen in
//! that partition, so committed offset and sequence state are saved atomically by the broker;
//! a restarted consumer reads on from the offset with exactly the state it had there.

use super::figures::Board;
use super::message::{Canary, DecodeError, Heartbeat, Payload};
use super::metrics::MonitorMetrics;
use super::produce::Acked;
use super::tracker::{Seen, Tracker, TrackerState, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Kafka's default `offset.metadata.max.bytes` is 4096; stay under it.
const MAX_METADATA: usize = 3_500;

/// Whose pipeline heartbeats are evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFilter {
    /// The agent's in-process monitor: its own host only.
    Host(String),
    /// `logferry monitor`: every host whose agent probes into the topic.
    All,
}

impl ProbeFilter {
    fn accepts(&self, host: &str) -> bool {
        match self {
            ProbeFilter::Host(h) => h == host,
            ProbeFilter::All => true,
        }
    }
}

struct HostStream {
    tracker: Tracker,
    /// Partition of its last heartbeat: its state is committed with that partition.
    partition: i32,
}

/// The commit metadata of one partition.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    v: u32,
    /// Producer id and the tracker of its canaries in this partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<TrackerState>,
    /// Heartbeat trackers by host.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    h: BTreeMap<String, TrackerState>,
}

pub struct Streams {
    producer: String,
    run: String,
    probe: ProbeFilter,
    loss_timeout_ms: u64,
    canary: BTreeMap<i32, Tracker>,
    hosts: BTreeMap<String, HostStream>,
    /// Acknowledged canaries not yet read: (partition, seq) → deadline (Unix ms).
    expected: HashMap<(i32, u64), u64>,
    /// Canaries read before their acknowledgement reached us: (partition, seq) → read at.
    early: HashMap<(i32, u64), u64>,
    /// Next offset to commit, per partition, and whether it moved since the last commit.
    positions: BTreeMap<i32, i64>,
    dirty: bool,
}

impl Streams {
    pub fn new(producer: &str, run: &str, probe: ProbeFilter, loss_timeout_ms: u64) -> Streams {
        Streams {
            producer: producer.to_string(),
            run: run.to_string(),
            probe,
            loss_timeout_ms,
            canary: BTreeMap::new(),
            hosts: BTreeMap::new(),
            expected: HashMap::new(),
            early: HashMap::new(),
            positions: BTreeMap::new(),
            dirty: false,
        }
    }

    /// One message of the monitor topic, read at `now_us` (Unix µs).
    pub fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        payload: &[u8],
        now_us: u64,
        board: &mut Board,
        m: &MonitorMetrics,
    ) {
        self.positions.insert(partition, offset + 1);
        self.dirty = true;
        match Payload::decode(payload) {
            Ok(Payload::Canary(c)) if c.producer == self.producer => {
                if c.partition == partition {
                    self.canary_read(&c, now_us, board, m);
                } else {
                    invalid(m, "wrong_partition");
                }
            }
            // Another monitor's canaries (each monitor judges its own).
            Ok(Payload::Canary(_)) => {}
            Ok(Payload::Heartbeat(h)) if self.probe.accepts(&h.host) => {
                self.heartbeat_read(partition, &h, now_us, board, m);
            }
            Ok(Payload::Heartbeat(_)) => {}
            Err(DecodeError::Foreign) => invalid(m, "foreign"),
            Err(DecodeError::Version(_)) => invalid(m, "version"),
            Err(DecodeError::Malformed(_)) => invalid(m, "malformed"),
        }
    }

    fn canary_read(&mut self, c: &Canary, now_us: u64, board: &mut Board, m: &MonitorMetrics) {
        let now = now_us / 1000;
        let p = c.partition;
        let l = m.partition_labels(p);
        let seen = Seen {
            seq: c.seq,
            run: &c.run,
            attempt: c.attempt,
        };
        let tracker = self.canary.entry(p).or_default();
        let verdict = tracker.observe(&seen, now, self.loss_timeout_ms);
        let cp = board.consume(p);
        // The board never lags the tracker: a burst that opens a gap shows it as missing at
        // once, not only at the next tick (a reader would otherwise see "consumed, nothing
        // missing, nothing lost" while the gap waits for its loss timeout).
        cp.missing = tracker.missing();
        match verdict {
            Verdict::Duplicate => {
                cp.duplicated += 1;
                m.records_duplicated.get_or_create(&l).inc();
                return;
            }
            Verdict::First
            | Verdict::InOrder
            | Verdict::Gap { .. }
            | Verdict::Reordered
            | Verdict::Late => {
                let latency = now_us.saturating_sub(c.sent_us) as f64 / 1e6;
                cp.consumed += 1;
                cp.consumed_w.push(now, 1);
                cp.latency.push(now, latency);
                m.records_consumed.get_or_create(&l).inc();
                m.latency.get_or_create(&l).observe(latency);
                if verdict == Verdict::Reordered {
                    cp.reordered += 1;
                    m.records_reordered.get_or_create(&l).inc();
                }
            }
            Verdict::Resent | Verdict::Replayed => {}
        }
        // Consume availability: only this run's acknowledged canaries are expected.
        if c.run == self.run {
            let key = (p, c.seq);
            match self.expected.remove(&key) {
                Some(deadline) => cp.on_time.push(now, now <= deadline),
                None => {
                    self.early.insert(key, now);
                }
            }
        }
    }

    fn heartbeat_read(
        &mut self,
        partition: i32,
        h: &Heartbeat,
        now_us: u64,
        board: &mut Board,
        m: &MonitorMetrics,
    ) {
        let now = now_us / 1000;
        let s = self
            .hosts
            .entry(h.host.clone())
            .or_insert_with(|| HostStream {
                tracker: Tracker::default(),
                partition,
            });
        s.partition = partition;
        let seen = Seen {
            seq: h.seq,
            run: &h.run,
            attempt: 0,
        };
        let verdict = s.tracker.observe(&seen, now, self.loss_timeout_ms);
        let ph = board.pipeline(&h.host, h.interval_ms);
        let l = MonitorMetrics::host_labels(&h.host);
        match verdict {
            Verdict::Duplicate => {
                ph.duplicated += 1;
                m.pipeline_lines_duplicated.get_or_create(&l).inc();
            }
            Verdict::Resent | Verdict::Replayed => {}
            _ => {
                let latency = now_us.saturating_sub(h.written_us) as f64 / 1e6;
                let written = h.written_us / 1000;
                if ph.last_written_ms.is_none_or(|w| written >= w) {
                    ph.last_written_ms = Some(written);
                    ph.last_latency = latency;
                }
                ph.consumed_latency.push(now, latency);
                let mut sl = l.clone();
                sl.push(("stage", "consumed".to_string()));
                m.pipeline_latency.get_or_create(&sl).observe(latency);
            }
        }
    }

    /// The produce service's acknowledgement of a canary.
    pub fn on_acked(&mut self, a: &Acked, board: &mut Board) {
        let key = (a.partition, a.seq);
        match self.early.remove(&key) {
            Some(read_at) => board.consume(a.partition).on_time.push(read_at, true),
            None => {
                self.expected
                    .insert(key, a.at_ms.saturating_add(self.loss_timeout_ms));
            }
        }
    }

    /// Closes what timed out at `now`: gaps become lost, expected canaries not read in time
    /// count against consume availability.
    pub fn tick(&mut self, now: u64, board: &mut Board, m: &MonitorMetrics) {
        for (&p, t) in &mut self.canary {
            let lost = t.expire(now);
            let cp = board.consume(p);
            cp.missing = t.missing();
            if lost > 0 {
                cp.lost += lost;
                cp.lost_w.push(now, lost);
                m.records_lost
                    .get_or_create(&m.partition_labels(p))
                    .inc_by(lost);
                tracing::warn!(partition = p, lost, "monitor: canaries lost");
            }
        }
        for (host, s) in &mut self.hosts {
            let lost = s.tracker.expire(now);
            if lost > 0 {
                if let Some(ph) = board.pipeline.get_mut(host) {
                    ph.lost += lost;
                }
                m.pipeline_lines_lost
                    .get_or_create(&MonitorMetrics::host_labels(host))
                    .inc_by(lost);
                tracing::warn!(%host, lost, "monitor: pipeline heartbeats lost");
            }
        }
        let late: Vec<(i32, u64)> = self
            .expected
            .iter()
            .filter(|(_, d)| **d < now)
            .map(|(k, _)| *k)
            .collect();
        for k in late {
            self.expected.remove(&k);
            board.consume(k.0).on_time.push(now, false);
        }
        let horizon = now.saturating_sub(self.loss_timeout_ms);
        self.early.retain(|_, at| *at >= horizon);
    }

    /// Restores the streams saved with `partition`'s committed offset.
    pub fn restore(&mut self, partition: i32, offset: i64, metadata: &str) {
        self.positions.insert(partition, offset);
        let Ok(saved) = serde_json::from_str::<Saved>(metadata) else {
            return;
        };
        if saved.v != 1 {
            return;
        }
        if let (Some(p), Some(c)) = (&saved.p, &saved.c) {
            if *p == self.producer {
                self.canary.insert(partition, Tracker::restore(c));
            }
        }
        for (host, st) in &saved.h {
            let newer = self
                .hosts
                .get(host)
                .and_then(|s| s.tracker.next())
                .is_none_or(|n| st.n > n);
            if self.probe.accepts(host) && newer {
                self.hosts.insert(
                    host.clone(),
                    HostStream {
                        tracker: Tracker::restore(st),
                        partition,
                    },
                );
            }
        }
    }

    /// Offsets to commit with their metadata, if anything moved since the last call.
    pub fn take_commit(&mut self) -> Option<Vec<(i32, i64, String)>> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(
            self.positions
                .iter()
                .map(|(&p, &off)| (p, off, self.metadata(p)))
                .collect(),
        )
    }

    fn metadata(&self, partition: i32) -> String {
        let c = self.canary.get(&partition).and_then(|t| t.save());
        let mut hosts: Vec<(&String, TrackerState)> = self
            .hosts
            .iter()
            .filter(|(_, s)| s.partition == partition)
            .filter_map(|(h, s)| s.tracker.save().map(|st| (h, st)))
            .collect();
        loop {
            let saved = Saved {
                v: 1,
                p: c.as_ref().map(|_| self.producer.clone()),
                c: c.clone(),
                h: hosts
                    .iter()
                    .map(|(h, st)| ((*h).clone(), st.clone()))
                    .collect(),
            };
            let text = serde_json::to_string(&saved).unwrap_or_default();
            // Over the limit: drop hosts (they start a new baseline after a restart).
            if text.len() <= MAX_METADATA || hosts.is_empty() {
                return text;
            }
            hosts.pop();
        }
    }
}

fn invalid(m: &MonitorMetrics, reason: &str) {
    let mut l = m.topic_labels();
    l.push(("reason", reason.to_string()));
    m.invalid_messages.get_or_create(&l).inc();
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_000;

    fn canary(p: i32, seq: u64, run: &str, sent_ms: u64) -> Vec<u8> {
        Payload::Canary(Canary {
            producer: "me".into(),
            run: run.into(),
            partition: p,
            seq,
            attempt: 0,
            sent_us: sent_ms * 1000,
        })
        .encode()
    }

    fn setup() -> (Streams, Board, MonitorMetrics) {
        (
            Streams::new("me", "r1", ProbeFilter::Host("h1".into()), T),
            Board::new(60_000),
            MonitorMetrics::new("mon"),
        )
    }

    #[test]
    fn consume_availability_counts_acknowledged_canaries_read_in_time() {
        let (mut s, mut b, m) = setup();
        // seq 0: acked, then read in time. seq 1: read before its ack arrives.
        s.on_acked(
            &Acked {
                partition: 0,
                seq: 0,
                at_ms: 100,
            },
            &mut b,
        );
        s.on_message(0, 10, &canary(0, 0, "r1", 90), 120_000, &mut b, &m);
        s.on_message(0, 11, &canary(0, 1, "r1", 150), 160_000, &mut b, &m);
        s.on_acked(
            &Acked {
                partition: 0,
                seq: 1,
                at_ms: 170,
            },
            &mut b,
        );
        // seq 2: acked, never read.
        s.on_acked(
            &Acked {
                partition: 0,
                seq: 2,
                at_ms: 200,
            },
            &mut b,
        );
        s.tick(200 + T, &mut b, &m);
        assert_eq!(b.consume(0).on_time.ratio(1_200), Some(1.0));
        s.tick(201 + T, &mut b, &m);
        let c = b.consume(0);
        assert_eq!(c.on_time.ratio(1_201), Some(2.0 / 3.0));
        assert_eq!((c.consumed, c.lost, c.duplicated), (2, 0, 0));
        assert_eq!(c.latency.quantiles(1_201).map(|q| q.max), Some(0.030));
    }

    #[test]
    fn gaps_duplicates_and_foreign_messages() {
        let (mut s, mut b, m) = setup();
        for (off, seq) in [(0, 0), (1, 1), (2, 4), (3, 4), (4, 2)] {
            s.on_message(0, off, &canary(0, seq, "r1", 0), 5_000, &mut b, &m);
        }
        s.on_message(0, 5, b"plain log line", 5_000, &mut b, &m);
        let other = Payload::Canary(Canary {
            producer: "someone-else".into(),
            run: "x".into(),
            partition: 0,
            seq: 99,
            attempt: 0,
            sent_us: 0,
        })
        .encode();
        s.on_message(0, 6, &other, 5_000, &mut b, &m);
        s.tick(5 + T, &mut b, &m);
        let c = b.consume(0);
        assert_eq!(
            (c.consumed, c.duplicated, c.reordered, c.lost),
            (4, 1, 1, 1)
        );
        assert_eq!(c.lost_w.sum(5 + T), 1);
    }

    #[test]
    fn a_gap_shows_as_missing_as_soon_as_it_is_read_not_at_the_next_tick() {
        let (mut s, mut b, m) = setup();
        s.on_message(0, 0, &canary(0, 0, "r1", 0), 1_000_000, &mut b, &m);
        s.on_message(0, 5, &canary(0, 5, "r1", 0), 1_000_000, &mut b, &m);
        let c = b.consume(0);
        assert_eq!((c.consumed, c.missing, c.lost), (2, 4, 0));
        s.on_message(0, 2, &canary(0, 2, "r1", 0), 1_000_000, &mut b, &m);
        assert_eq!(
            b.consume(0).missing,
            3,
            "a reordered arrival fills its gap at once"
        );
        s.tick(1_000 + T, &mut b, &m);
        let c = b.consume(0);
        assert_eq!((c.consumed, c.missing, c.lost), (3, 0, 3));
    }

    #[test]
    fn commit_metadata_restores_the_same_state() {
        let (mut s, mut b, m) = setup();
        let hb = |seq: u64| {
            Payload::Heartbeat(Heartbeat {
                host: "h1".into(),
                run: "w1".into(),
                seq,
                interval_ms: 1000,
                written_us: 1_000,
            })
            .encode()
        };
        s.on_message(0, 0, &canary(0, 0, "r1", 0), 10_000_000, &mut b, &m);
        s.on_message(0, 1, &canary(0, 3, "r1", 0), 10_000_000, &mut b, &m);
        s.on_message(1, 7, &hb(5), 10_000_000, &mut b, &m);
        // Another host's heartbeat is not this agent's business.
        let foreign = Payload::Heartbeat(Heartbeat {
            host: "h2".into(),
            run: "w".into(),
            seq: 0,
            interval_ms: 1000,
            written_us: 0,
        })
        .encode();
        s.on_message(1, 8, &foreign, 10_000_000, &mut b, &m);
        let commit = s.take_commit().expect("moved");
        assert_eq!(
            commit,
            vec![
                (
                    0,
                    2,
                    r#"{"v":1,"p":"me","c":{"n":4,"r":"r1","a":0,"g":[[1,3,11000]]}}"#.to_string()
                ),
                (
                    1,
                    9,
                    r#"{"v":1,"h":{"h1":{"n":6,"r":"w1","a":0}}}"#.to_string()
                ),
            ]
        );
        assert!(s.take_commit().is_none(), "nothing moved since");
        let (mut r, mut b2, m2) = setup();
        for (p, off, meta) in &commit {
            r.restore(*p, *off, meta);
        }
        r.on_message(0, 2, &canary(0, 2, "r1", 0), 10_500_000, &mut b2, &m2);
        r.on_message(1, 9, &hb(6), 10_500_000, &mut b2, &m2);
        r.tick(11_000, &mut b2, &m2);
        assert_eq!((b2.consume(0).reordered, b2.consume(0).lost), (1, 1));
        assert_eq!(b2.pipeline["h1"].lost, 0);
        // A restore for another producer id keeps nothing of its canaries.
        let mut other = Streams::new("new-id", "r", ProbeFilter::All, T);
        other.restore(0, 2, &commit[0].2);
        assert!(other.canary.is_empty());
    }
}
