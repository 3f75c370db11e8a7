//! Sliding windows over timestamped events: availability ratios, counts and latency
//! percentiles over the last `window_ms`. Pure: every call takes `now` (Unix ms).
//!
//! At the monitor's rates (one event per partition per interval) keeping every event is
//! cheaper and exact compared with bucketed estimates: 60 s × 12 partitions is 720 entries.
//! Invariant: after any call taking `now`, only events with `at > now - span` remain.

use std::collections::VecDeque;

/// Events of the last `span` ms.
#[derive(Debug, Clone)]
pub struct Window<T> {
    span: u64,
    events: VecDeque<(u64, T)>,
}

impl<T> Window<T> {
    pub fn new(span_ms: u64) -> Window<T> {
        Window {
            span: span_ms.max(1),
            events: VecDeque::new(),
        }
    }

    /// Records `v` at `at` (events arrive in time order; an older one is kept in place).
    pub fn push(&mut self, at: u64, v: T) {
        self.prune(at);
        self.events.push_back((at, v));
    }

    /// Drops what fell out of the window at `now`.
    pub fn prune(&mut self, now: u64) {
        // `at + span <= now`, not `at <= now - span`: before one span has passed since the
        // epoch nothing has left (a saturating subtraction would drop events at 0).
        let span = self.span;
        while self
            .events
            .front()
            .is_some_and(|(at, _)| at.saturating_add(span) <= now)
        {
            self.events.pop_front();
        }
    }

    pub fn values(&mut self, now: u64) -> impl Iterator<Item = &T> {
        self.prune(now);
        self.events.iter().map(|(_, v)| v)
    }

    pub fn len(&mut self, now: u64) -> usize {
        self.prune(now);
        self.events.len()
    }

    pub fn is_empty(&mut self, now: u64) -> bool {
        self.len(now) == 0
    }
}

impl Window<bool> {
    /// Share of `true` events; None when the window is empty.
    pub fn ratio(&mut self, now: u64) -> Option<f64> {
        let mut n = 0u64;
        let mut ok = 0u64;
        for v in self.values(now) {
            n += 1;
            ok += u64::from(*v);
        }
        (n > 0).then(|| ok as f64 / n as f64)
    }
}

impl Window<u64> {
    pub fn sum(&mut self, now: u64) -> u64 {
        self.values(now).sum()
    }
}

/// p50 and p99 of a latency window (seconds).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Window<f64> {
    /// Nearest-rank p50 / p99 / max; None when the window is empty.
    pub fn quantiles(&mut self, now: u64) -> Option<Quantiles> {
        let mut v: Vec<f64> = self.values(now).copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Quantiles {
            p50: nearest_rank(&v, 0.50),
            p99: nearest_rank(&v, 0.99),
            max: v[v.len() - 1],
        })
    }
}

/// The smallest value with at least `q` of the values at or below it; `sorted` is not empty.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_leave_exactly_one_span_later() {
        let mut w = Window::new(1_000);
        w.push(100, true);
        w.push(600, false);
        assert_eq!(w.ratio(600), Some(0.5));
        assert_eq!(w.ratio(1_099), Some(0.5));
        assert_eq!(w.ratio(1_100), Some(0.0), "the event at 100 left at 1100");
        assert_eq!(w.ratio(1_600), None);
        let mut c = Window::new(1_000);
        c.push(0, 3u64);
        c.push(10, 4u64);
        assert_eq!(c.sum(999), 7);
        assert_eq!(c.sum(1_000), 4);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut w = Window::new(60_000);
        for i in 1..=100 {
            w.push(i, i as f64 / 1000.0);
        }
        let q = w.quantiles(100).expect("values");
        assert_eq!(q.p50, 0.050);
        assert_eq!(q.p99, 0.099);
        assert_eq!(q.max, 0.100);
        assert_eq!(nearest_rank(&[7.0], 0.99), 7.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 0.5), 1.0);
        assert_eq!(nearest_rank(&[1.0, 2.0], 0.99), 2.0);
        assert!(Window::<f64>::new(10).quantiles(0).is_none());
    }
}
