//! Sequence tracking of one stream (a producer's canary messages on one partition, or one
//! host's pipeline heartbeats): lost, duplicated and reordered messages. Pure: every call
//! takes `now` (Unix ms) and nothing here reads a clock or does I/O.
//!
//! Kafka Monitor's ConsumeService counts `index - nextIndex` as lost the moment a message
//! skips ahead, and anything below `nextIndex` as a duplicate. This tracker differs where
//! that misleads:
//! - a gap is lost only if it is still open `loss_timeout` later: a message that fills it in
//!   time was reordered, one that fills it later was late (neither lost nor duplicated);
//! - a send that failed and was sent again (`attempt` differs) is not a duplicate, and
//!   neither is a restarted producer repeating sequence numbers under a new `run`;
//! - its state (next expected, open gaps) can be saved and restored, so a restarted consumer
//!   resumes without losing or inventing anything.
//!
//! Invariants: gaps are disjoint, sorted, and all below `next`; every sequence number below
//! `next` was either seen, or is in exactly one gap, or was counted lost exactly once.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Open gaps kept per stream; past this the oldest gap is counted lost at once (memory
/// stays bounded however the stream misbehaves).
pub const MAX_GAPS: usize = 256;
/// Lost ranges remembered, to recognise a late arrival instead of calling it a duplicate.
const LOST_MEMORY: usize = 64;

/// The identity of one physical message of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen<'a> {
    pub seq: u64,
    pub run: &'a str,
    pub attempt: u32,
}

/// What one message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first message of the stream: its baseline.
    First,
    InOrder,
    /// Ahead of the next expected: `missing` sequence numbers now wait for the loss timeout.
    Gap {
        missing: u64,
    },
    /// Filled a gap before the loss timeout.
    Reordered,
    /// Filled a gap that had already been counted lost.
    Late,
    /// A sequence number sent again after a failed attempt (`attempt` differs).
    Resent,
    /// A restarted producer repeating sequence numbers (another `run`).
    Replayed,
    /// The same message again.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Gap {
    /// Exclusive.
    end: u64,
    /// Unix ms after which whatever is still missing is lost.
    deadline: u64,
}

/// State of one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    /// Next expected sequence number; None before the first message.
    next: Option<u64>,
    /// Run and attempt of the message with sequence number `next - 1`.
    run: String,
    attempt: u32,
    /// Open gaps by first missing sequence number.
    gaps: BTreeMap<u64, Gap>,
    /// Recently lost ranges [start, end).
    lost: VecDeque<(u64, u64)>,
    /// Lost by forcing out gaps over [`MAX_GAPS`], reported by the next [`Tracker::expire`].
    forced: u64,
}

/// What a tracker saves (in the consumer's committed offset metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackerState {
    /// Next expected sequence number.
    pub n: u64,
    /// Run and attempt of the last message.
    pub r: String,
    pub a: u32,
    /// Open gaps: (start, end exclusive, deadline Unix ms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub g: Vec<(u64, u64, u64)>,
}

impl Tracker {
    /// Feed one message consumed at `now`; gaps it opens are lost at `now + loss_timeout_ms`.
    pub fn observe(&mut self, m: &Seen<'_>, now: u64, loss_timeout_ms: u64) -> Verdict {
        let Some(next) = self.next else {
            self.advance(m);
            return Verdict::First;
        };
        if m.seq >= next {
            let verdict = if m.seq == next {
                Verdict::InOrder
            } else {
                self.gaps.insert(
                    next,
                    Gap {
                        end: m.seq,
                        deadline: now.saturating_add(loss_timeout_ms),
                    },
                );
                while self.gaps.len() > MAX_GAPS {
                    if let Some((start, g)) = self.gaps.pop_first() {
                        self.forced += g.end - start;
                        self.remember_lost(start, g.end);
                    }
                }
                Verdict::Gap {
                    missing: m.seq - next,
                }
            };
            self.advance(m);
            return verdict;
        }
        if self.fill(m.seq) {
            return Verdict::Reordered;
        }
        if self.lost.iter().any(|&(s, e)| (s..e).contains(&m.seq)) {
            return Verdict::Late;
        }
        if m.run != self.run {
            return Verdict::Replayed;
        }
        if m.seq + 1 == next && m.attempt != self.attempt {
            self.attempt = m.attempt;
            return Verdict::Resent;
        }
        Verdict::Duplicate
    }

    fn advance(&mut self, m: &Seen<'_>) {
        self.next = Some(m.seq.saturating_add(1));
        if self.run != m.run {
            self.run = m.run.to_string();
        }
        self.attempt = m.attempt;
    }

    /// Removes `seq` from the gap holding it; false if no gap holds it.
    fn fill(&mut self, seq: u64) -> bool {
        let Some((&start, &gap)) = self.gaps.range(..=seq).next_back() else {
            return false;
        };
        if seq >= gap.end {
            return false;
        }
        self.gaps.remove(&start);
        if start < seq {
            self.gaps.insert(
                start,
                Gap {
                    end: seq,
                    deadline: gap.deadline,
                },
            );
        }
        if seq + 1 < gap.end {
            self.gaps.insert(seq + 1, gap);
        }
        true
    }

    /// Closes the gaps whose deadline passed; returns how many messages they held (lost).
    pub fn expire(&mut self, now: u64) -> u64 {
        let due: Vec<u64> = self
            .gaps
            .iter()
            .filter(|(_, g)| g.deadline <= now)
            .map(|(s, _)| *s)
            .collect();
        let mut lost = std::mem::take(&mut self.forced);
        for start in due {
            if let Some(g) = self.gaps.remove(&start) {
                lost += g.end - start;
                self.remember_lost(start, g.end);
            }
        }
        lost
    }

    fn remember_lost(&mut self, start: u64, end: u64) {
        self.lost.push_back((start, end));
        if self.lost.len() > LOST_MEMORY {
            self.lost.pop_front();
        }
    }

    /// Messages waiting in open gaps.
    pub fn missing(&self) -> u64 {
        self.gaps.iter().map(|(s, g)| g.end - s).sum()
    }

    /// The next expected sequence number (None before the first message).
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    pub fn save(&self) -> Option<TrackerState> {
        Some(TrackerState {
            n: self.next?,
            r: self.run.clone(),
            a: self.attempt,
            g: self
                .gaps
                .iter()
                .map(|(s, g)| (*s, g.end, g.deadline))
                .collect(),
        })
    }

    /// A tracker resumed from `st`; gaps that are not below `n`, empty or overlapping are
    /// dropped (a tampered or truncated state never breaks the invariants).
    pub fn restore(st: &TrackerState) -> Tracker {
        let mut gaps = BTreeMap::new();
        let mut floor = 0;
        let mut sorted = st.g.clone();
        sorted.sort_unstable();
        for (s, e, d) in sorted {
            if s >= floor && s < e && e <= st.n && gaps.len() < MAX_GAPS {
                gaps.insert(
                    s,
                    Gap {
                        end: e,
                        deadline: d,
                    },
                );
                floor = e;
            }
        }
        Tracker {
            next: Some(st.n),
            run: st.r.clone(),
            attempt: st.a,
            gaps,
            lost: VecDeque::new(),
            forced: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 10_000;

    fn seen(seq: u64) -> Seen<'static> {
        Seen {
            seq,
            run: "r1",
            attempt: 0,
        }
    }

    fn feed(t: &mut Tracker, seqs: &[u64], now: u64) -> Vec<Verdict> {
        seqs.iter().map(|&s| t.observe(&seen(s), now, T)).collect()
    }

    #[test]
    fn in_order_stream_has_nothing_to_report() {
        let mut t = Tracker::default();
        let v = feed(&mut t, &[5, 6, 7, 8], 0);
        assert_eq!(
            v,
            [
                Verdict::First,
                Verdict::InOrder,
                Verdict::InOrder,
                Verdict::InOrder
            ]
        );
        assert_eq!(t.expire(u64::MAX), 0);
        assert_eq!(t.next(), Some(9));
    }

    #[test]
    fn a_gap_is_lost_only_once_its_deadline_passed() {
        let mut t = Tracker::default();
        feed(&mut t, &[0, 1], 1_000);
        assert_eq!(t.observe(&seen(5), 2_000, T), Verdict::Gap { missing: 3 });
        assert_eq!(t.missing(), 3);
        assert_eq!(t.expire(2_000 + T - 1), 0);
        assert_eq!(t.expire(2_000 + T), 3);
        assert_eq!(t.expire(u64::MAX), 0, "counted once");
        assert_eq!(t.missing(), 0);
        // A message of the lost range arriving later is late, not a duplicate.
        assert_eq!(t.observe(&seen(3), 50_000, T), Verdict::Late);
    }

    #[test]
    fn filling_a_gap_in_time_is_a_reorder_and_splits_the_gap() {
        let mut t = Tracker::default();
        feed(&mut t, &[0], 0);
        assert_eq!(t.observe(&seen(6), 0, T), Verdict::Gap { missing: 5 });
        assert_eq!(t.observe(&seen(3), 1, T), Verdict::Reordered);
        assert_eq!(t.observe(&seen(1), 1, T), Verdict::Reordered);
        assert_eq!(t.observe(&seen(5), 1, T), Verdict::Reordered);
        assert_eq!(t.missing(), 2, "2 and 4 still open");
        assert_eq!(t.observe(&seen(3), 1, T), Verdict::Duplicate);
        assert_eq!(t.expire(T), 2);
    }

    #[test]
    fn duplicates_resends_and_replays() {
        let mut t = Tracker::default();
        feed(&mut t, &[0, 1, 2], 0);
        // librdkafka retrying the same bytes (no idempotence): same run, same attempt.
        assert_eq!(t.observe(&seen(2), 0, T), Verdict::Duplicate);
        assert_eq!(t.observe(&seen(1), 0, T), Verdict::Duplicate);
        // The producer's own resend of seq 2 after a timed-out (but written) attempt.
        let resend = Seen {
            seq: 2,
            run: "r1",
            attempt: 1,
        };
        assert_eq!(t.observe(&resend, 0, T), Verdict::Resent);
        assert_eq!(t.observe(&resend, 0, T), Verdict::Duplicate);
        // A restarted producer repeats 1 and 2 (not yet persisted), then goes on.
        for (seq, want) in [
            (1, Verdict::Replayed),
            (2, Verdict::Replayed),
            (3, Verdict::InOrder),
        ] {
            let m = Seen {
                seq,
                run: "r2",
                attempt: 0,
            };
            assert_eq!(t.observe(&m, 0, T), want, "seq {seq}");
        }
        // Now r2 is the stream's run: r1's old messages again are replays of another run.
        assert_eq!(t.observe(&seen(0), 0, T), Verdict::Replayed);
        assert_eq!(t.expire(u64::MAX), 0);
    }

    #[test]
    fn save_and_restore_resume_exactly() {
        let mut t = Tracker::default();
        feed(&mut t, &[0, 4], 100);
        let st = t.save().expect("started");
        assert_eq!(
            st,
            TrackerState {
                n: 5,
                r: "r1".into(),
                a: 0,
                g: vec![(1, 4, 100 + T)]
            }
        );
        let json = serde_json::to_string(&st).expect("json");
        assert_eq!(json, r#"{"n":5,"r":"r1","a":0,"g":[[1,4,10100]]}"#);
        let mut r = Tracker::restore(&serde_json::from_str(&json).expect("parse"));
        assert_eq!(r.observe(&seen(2), 200, T), Verdict::Reordered);
        assert_eq!(r.observe(&seen(5), 200, T), Verdict::InOrder);
        assert_eq!(r.expire(100 + T), 2);
        assert_eq!(Tracker::default().save(), None);
    }

    #[test]
    fn restore_drops_impossible_gaps() {
        let st = TrackerState {
            n: 10,
            r: "r".into(),
            a: 0,
            g: vec![(2, 5, 1), (4, 6, 1), (8, 8, 1), (9, 12, 1), (6, 7, 1)],
        };
        let mut t = Tracker::restore(&st);
        assert_eq!(t.missing(), 4, "(2,5) and (6,7) kept");
        assert_eq!(t.expire(1), 4);
    }

    #[test]
    fn gaps_stay_bounded() {
        let mut t = Tracker::default();
        t.observe(&seen(0), 0, T);
        for i in 0..(MAX_GAPS as u64 + 10) {
            t.observe(&seen(2 * i + 2), 0, T);
        }
        // The 10 oldest gaps (one message each) were forced out at once; the rest wait for
        // their deadline.
        assert_eq!(t.expire(1), 10);
        assert_eq!(t.missing(), MAX_GAPS as u64);
    }
}
