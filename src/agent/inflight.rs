//! The in-flight window: lines handed to the producer whose delivery reports are not all back,
//! and the flow control that bounds them. The heart of the at-least-once guarantee, kept pure
//! (no I/O, no clock reads: callers pass `now`) so that it is unit-tested on its own.
//!
//! Invariants:
//! - a file's acknowledged offset moves only to the end of the highest contiguous run of
//!   lines at the front whose reports are in (the ring is popped from the front only), so a
//!   checkpoint never skips a line whose delivery is unknown, whatever order reports come in;
//! - after a failed delivery nothing more may be sent until every outstanding report is back
//!   ([`InFlight::ready_to_restart`]); then the caller re-reads everything unacknowledged, in
//!   order, from the acknowledged offsets, and [`InFlight::restart`] empties the ring;
//! - memory is bounded: at most `max_lines` lines (async) or one batch (sync), and at most
//!   `max_bytes` bytes are in flight.

use crate::agent::queue::FileKey;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// How many lines may be in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The seed's `producer_type = "sync"`: a batch is sealed once it has `batch` lines or
    /// `linger` has passed since its first line; the next batch starts only after every
    /// report of the sealed one is back.
    Sync { batch: usize, linger: Duration },
    /// Batches are pipelined: up to `max_lines` lines in flight.
    Async { max_lines: usize },
}

/// What the broker (or the client) said about one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: stored with the configured acks.
    Acked,
    /// Refused for good (e.g. larger than the topic allows): counted lost, passed over.
    Rejected,
    /// Anything else: everything unacknowledged is sent again, in order.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Acked,
    /// Rejected: the front moves over it, but it was not shipped.
    Skipped,
    Failed,
}

/// A line handed to the producer.
#[derive(Debug, Clone, Copy)]
struct Pending {
    key: FileKey,
    /// File offset just past the line.
    end: u64,
    len: u32,
    state: State,
    /// When the line was handed to the producer.
    sent_at: Instant,
    /// Acknowledged: how long after `sent_at` the report was taken from librdkafka, in µs
    /// (saturating; the delivery latency metric).
    latency_us: u32,
}

/// What [`InFlight::report`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Not for a line in flight (already reported, or before a restart): nothing changed.
    Ignored,
    /// Recorded (acknowledged, or failed: the window is now closed).
    Recorded,
    /// Rejected for good: the caller counts `len` bytes of file `key` lost.
    Rejected { key: FileKey, len: u32 },
}

/// What [`InFlight::advance`] moved over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advanced {
    /// Lines acknowledged (rejected lines are passed over but not counted).
    pub lines: u64,
    pub bytes: u64,
    /// Whether the front moved at all (acknowledged or rejected lines): the checkpoint is dirty.
    pub moved: bool,
}

#[derive(Debug)]
pub struct InFlight {
    ring: VecDeque<Pending>,
    /// Sequence number of `ring[0]`.
    base_seq: u64,
    next_seq: u64,
    outstanding: usize,
    bytes: u64,
    max_bytes: u64,
    flow: Flow,
    /// Sync: lines of the batch being filled, and when its first line was sent.
    batch_lines: usize,
    batch_started: Option<Instant>,
    failed: bool,
}

impl InFlight {
    pub fn new(flow: Flow, max_bytes: u64) -> InFlight {
        InFlight {
            ring: VecDeque::new(),
            base_seq: 0,
            next_seq: 0,
            outstanding: 0,
            bytes: 0,
            max_bytes,
            flow,
            batch_lines: 0,
            batch_started: None,
            failed: false,
        }
    }

    /// The sequence number (delivery opaque) the next sent line gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Lines handed to the producer whose reports are not back.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    pub fn failed(&self) -> bool {
        self.failed
    }

    /// May another line be sent at `now`? Never after a failure until [`InFlight::restart`].
    pub fn window_open(&mut self, now: Instant) -> bool {
        if self.failed || self.bytes >= self.max_bytes {
            return false;
        }
        match self.flow {
            Flow::Async { max_lines } => self.ring.len() < max_lines,
            Flow::Sync { .. } => {
                if self.outstanding == 0 && self.batch_lines > 0 && self.batch_sealed(now) {
                    self.batch_lines = 0;
                    self.batch_started = None;
                }
                !self.batch_sealed(now)
            }
        }
    }

    fn batch_sealed(&self, now: Instant) -> bool {
        match self.flow {
            Flow::Sync { batch, linger } => {
                self.batch_lines >= batch || self.batch_started.is_some_and(|s| now >= s + linger)
            }
            Flow::Async { .. } => false,
        }
    }

    /// Sync: when the batch being filled, all of whose lines are already acknowledged, seals
    /// by time (the caller wakes then to start the next one). None otherwise.
    pub fn batch_deadline(&self) -> Option<Instant> {
        match self.flow {
            Flow::Sync { linger, .. } if self.batch_lines > 0 && self.outstanding == 0 => {
                self.batch_started.map(|s| s + linger)
            }
            _ => None,
        }
    }

    /// A line of `len` bytes of file `key`, ending at offset `end`, was handed to the producer
    /// with sequence number [`InFlight::next_seq`].
    pub fn sent(&mut self, key: FileKey, end: u64, len: u32, now: Instant) {
        self.next_seq += 1;
        self.outstanding += 1;
        self.bytes += u64::from(len);
        self.ring.push_back(Pending {
            key,
            end,
            len,
            state: State::Waiting,
            sent_at: now,
            latency_us: 0,
        });
        if let Flow::Sync { .. } = self.flow {
            self.batch_lines += 1;
            self.batch_started.get_or_insert(now);
        }
    }

    /// A line the client refused before sending (counted lost by the caller): it takes a
    /// sequence number and is passed over in order, so the offsets behind it still advance.
    pub fn skipped(&mut self, key: FileKey, end: u64, now: Instant) {
        self.next_seq += 1;
        self.ring.push_back(Pending {
            key,
            end,
            len: 0,
            state: State::Skipped,
            sent_at: now,
            latency_us: 0,
        });
    }

    /// The report for `seq`. Reports for lines already passed (a resent window) or for
    /// lines not in flight are ignored.
    /// `at`: when the report was taken from the producer.
    pub fn report(&mut self, seq: u64, outcome: Outcome, at: Instant) -> Reported {
        let Some(idx) = seq
            .checked_sub(self.base_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return Reported::Ignored;
        };
        let Some(p) = self.ring.get_mut(idx) else {
            return Reported::Ignored;
        };
        if p.state != State::Waiting {
            return Reported::Ignored;
        }
        self.outstanding -= 1;
        self.bytes -= u64::from(p.len);
        match outcome {
            Outcome::Acked => {
                p.state = State::Acked;
                let latency = at.saturating_duration_since(p.sent_at).as_micros();
                p.latency_us = u32::try_from(latency).unwrap_or(u32::MAX);
                Reported::Recorded
            }
            Outcome::Rejected => {
                p.state = State::Skipped;
                Reported::Rejected {
                    key: p.key,
                    len: p.len,
                }
            }
            Outcome::Failed => {
                p.state = State::Failed;
                self.failed = true;
                Reported::Recorded
            }
        }
    }

    /// Handing a line to the producer failed with an error that may pass (it was not
    /// enqueued, so no report will come): close the window as a failed report would.
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Pop the contiguous run of reported lines at the front. `ack(key, end)` is called once
    /// per file of the run, with the end of its last line in the run (in file order);
    /// `latency` once per acknowledged line.
    pub fn advance(
        &mut self,
        mut ack: impl FnMut(FileKey, u64),
        mut latency: impl FnMut(Duration),
    ) -> Advanced {
        let mut a = Advanced::default();
        let mut last: Option<(FileKey, u64)> = None;
        while let Some(p) = self.ring.front().copied() {
            match p.state {
                State::Acked => {
                    a.lines += 1;
                    a.bytes += u64::from(p.len);
                    latency(Duration::from_micros(u64::from(p.latency_us)));
                }
                State::Skipped => {}
                State::Waiting | State::Failed => break,
            }
            if let Some((k, e)) = last {
                if k != p.key {
                    ack(k, e);
                }
            }
            last = Some((p.key, p.end));
            a.moved = true;
            self.ring.pop_front();
            self.base_seq += 1;
        }
        if let Some((k, e)) = last {
            ack(k, e);
        }
        a
    }

    /// After a failure, every outstanding report is back: time to re-read and resend.
    pub fn ready_to_restart(&self) -> bool {
        self.failed && self.outstanding == 0
    }

    /// Forget everything in flight (the caller rewinds its files to their acknowledged
    /// offsets); sending may resume.
    pub fn restart(&mut self) {
        self.ring.clear();
        self.base_seq = self.next_seq;
        self.outstanding = 0;
        self.bytes = 0;
        self.batch_lines = 0;
        self.batch_started = None;
        self.failed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASYNC: Flow = Flow::Async { max_lines: 4 };

    /// Acks of one `advance`, in call order.
    fn advance(w: &mut InFlight) -> (Vec<(FileKey, u64)>, Advanced) {
        let mut acks = Vec::new();
        let a = w.advance(|k, e| acks.push((k, e)), |_| {});
        (acks, a)
    }

    /// Send `n` lines of 10 bytes of file `key`, ending at 10, 20, ...
    fn send(w: &mut InFlight, key: FileKey, from: u64, n: u64, now: Instant) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let seq = w.next_seq();
                w.sent(key, (from + i + 1) * 10, 10, now);
                seq
            })
            .collect()
    }

    #[test]
    fn acks_move_only_over_the_contiguous_front_whatever_the_report_order() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 4, now);
        assert_eq!(
            w.report(s[2], Outcome::Acked, Instant::now()),
            Reported::Recorded
        );
        assert_eq!(
            w.report(s[1], Outcome::Acked, Instant::now()),
            Reported::Recorded
        );
        // Line 0 is not back: nothing may be acknowledged, though 1 and 2 are.
        assert_eq!(advance(&mut w), (vec![], Advanced::default()));
        w.report(s[0], Outcome::Acked, Instant::now());
        let (acks, a) = advance(&mut w);
        assert_eq!(acks, vec![(1, 30)]);
        assert_eq!((a.lines, a.bytes, a.moved), (3, 30, true));
        w.report(s[3], Outcome::Acked, Instant::now());
        assert_eq!(advance(&mut w).0, vec![(1, 40)]);
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn one_ack_per_file_in_file_order_when_a_run_spans_files() {
        let now = Instant::now();
        let mut w = InFlight::new(Flow::Async { max_lines: 10 }, 1 << 20);
        let a = send(&mut w, 7, 0, 2, now);
        let b = send(&mut w, 8, 0, 3, now);
        for s in b.iter().chain(&a) {
            w.report(*s, Outcome::Acked, Instant::now());
        }
        assert_eq!(advance(&mut w).0, vec![(7, 20), (8, 30)]);
    }

    #[test]
    fn duplicate_stale_and_unknown_reports_are_ignored() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 2, now);
        w.report(s[0], Outcome::Acked, Instant::now());
        // A second report for the same line.
        assert_eq!(
            w.report(s[0], Outcome::Failed, Instant::now()),
            Reported::Ignored
        );
        assert!(!w.failed());
        assert_eq!(
            w.report(99, Outcome::Acked, Instant::now()),
            Reported::Ignored
        );
        advance(&mut w);
        w.report(s[0], Outcome::Acked, Instant::now()); // below the front now
        assert_eq!(w.outstanding(), 1);
    }

    #[test]
    fn a_failure_closes_the_window_until_every_outstanding_report_is_back() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 3, now);
        w.report(s[0], Outcome::Acked, Instant::now());
        w.report(s[1], Outcome::Failed, Instant::now());
        assert!(!w.window_open(now), "nothing is sent after a failure");
        // The acknowledged line before the failure still moves the checkpoint.
        assert_eq!(advance(&mut w).0, vec![(1, 10)]);
        assert!(!w.ready_to_restart(), "line 2 is still outstanding");
        w.report(s[2], Outcome::Acked, Instant::now());
        // Line 2 was acknowledged but follows the failed one: it must not move the offset.
        assert_eq!(advance(&mut w).0, vec![]);
        assert!(w.ready_to_restart());
        w.restart();
        assert!(w.window_open(now));
        // Resent from the acknowledged offset (10): new sequence numbers, old ones ignored.
        let again = send(&mut w, 1, 1, 2, now);
        assert!(again[0] > s[2]);
        w.report(s[2], Outcome::Acked, Instant::now());
        assert_eq!(w.outstanding(), 2);
        for q in again {
            w.report(q, Outcome::Acked, Instant::now());
        }
        assert_eq!(advance(&mut w).0, vec![(1, 30)]);
    }

    #[test]
    fn a_failure_before_sending_closes_the_window_without_a_report() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 1, now);
        w.fail();
        assert!(!w.window_open(now));
        assert!(
            !w.ready_to_restart(),
            "the sent line's report is outstanding"
        );
        w.report(s[0], Outcome::Acked, Instant::now());
        assert_eq!(advance(&mut w).0, vec![(1, 10)]);
        assert!(w.ready_to_restart());
    }

    #[test]
    fn rejected_lines_are_passed_over_in_order_but_not_counted_shipped() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 2, now);
        w.skipped(1, 25, now); // refused by the client before sending
        let t = send(&mut w, 1, 3, 1, now);
        assert_eq!(
            w.report(s[1], Outcome::Rejected, Instant::now()),
            Reported::Rejected { key: 1, len: 10 }
        );
        w.report(s[0], Outcome::Acked, Instant::now());
        w.report(t[0], Outcome::Acked, Instant::now());
        let (acks, a) = advance(&mut w);
        assert_eq!(acks, vec![(1, 40)]);
        assert_eq!((a.lines, a.bytes), (2, 20));
        assert!(!w.failed());
    }

    #[test]
    fn async_window_is_bounded_by_lines_and_bytes() {
        let now = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        send(&mut w, 1, 0, 4, now);
        assert!(!w.window_open(now), "4 lines in flight");
        let mut w = InFlight::new(Flow::Async { max_lines: 100 }, 25);
        send(&mut w, 1, 0, 2, now);
        assert!(w.window_open(now), "20 of 25 bytes");
        let s = send(&mut w, 1, 2, 1, now);
        assert!(!w.window_open(now), "30 bytes");
        w.report(s[0], Outcome::Acked, Instant::now());
        assert!(w.window_open(now), "acknowledged bytes leave the window");
    }

    #[test]
    fn sync_batch_seals_by_size_or_time_and_waits_for_its_reports() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(50);
        let mut w = InFlight::new(Flow::Sync { batch: 3, linger }, 1 << 20);
        assert!(w.window_open(t0));
        let s = send(&mut w, 1, 0, 3, t0);
        assert!(!w.window_open(t0), "sealed by size");
        w.report(s[0], Outcome::Acked, Instant::now());
        w.report(s[1], Outcome::Acked, Instant::now());
        assert!(!w.window_open(t0), "one report outstanding");
        w.report(s[2], Outcome::Acked, Instant::now());
        advance(&mut w);
        assert!(w.window_open(t0), "all back: the next batch starts");
        // A batch of one line seals once its linger passed.
        let s = send(&mut w, 1, 3, 1, t0);
        assert!(w.window_open(t0 + Duration::from_millis(10)));
        assert!(!w.window_open(t0 + linger), "sealed by time");
        w.report(s[0], Outcome::Acked, Instant::now());
        advance(&mut w);
        assert!(w.window_open(t0 + linger));
    }

    #[test]
    fn sync_deadline_only_for_an_open_batch_whose_lines_are_all_acknowledged() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(50);
        let mut w = InFlight::new(Flow::Sync { batch: 10, linger }, 1 << 20);
        assert_eq!(w.batch_deadline(), None);
        let s = send(&mut w, 1, 0, 1, t0);
        assert_eq!(w.batch_deadline(), None, "a report will wake the caller");
        w.report(s[0], Outcome::Acked, Instant::now());
        assert_eq!(w.batch_deadline(), Some(t0 + linger));
        let mut a = InFlight::new(ASYNC, 1 << 20);
        send(&mut a, 1, 0, 1, t0);
        assert_eq!(a.batch_deadline(), None);
    }

    /// Delivery latency runs to when the report was taken from the producer, not to when
    /// the section got round to it (it may read reports only at its next read).
    #[test]
    fn latency_is_measured_to_the_report_not_to_the_advance() {
        let t0 = Instant::now();
        let mut w = InFlight::new(ASYNC, 1 << 20);
        let s = send(&mut w, 1, 0, 2, t0);
        w.report(s[0], Outcome::Acked, t0 + Duration::from_millis(3));
        w.report(s[1], Outcome::Acked, t0 + Duration::from_millis(7));
        let mut seen = Vec::new();
        w.advance(|_, _| {}, |d| seen.push(d));
        assert_eq!(
            seen,
            [Duration::from_millis(3), Duration::from_millis(7)],
            "latencies of the two lines, in order"
        );
    }
}
