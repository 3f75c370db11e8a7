//! The console's memory of the last hour: per running section a ring of samples (backlog
//! bytes and lines/s), and for the broker the write rate per topic and in total. Fixed
//! capacity per section and per topic, and sections that stop are forgotten, so memory
//! depends on the configuration, never on uptime.

use std::collections::{BTreeMap, HashSet, VecDeque};

/// One point of a section's charts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Unix time, milliseconds (kept to the second).
    pub t_ms: u64,
    /// Kept as an f32: exact up to 16 MiB, within 1e-7 of the truth above.
    pub backlog_bytes: u64,
    /// Lines acknowledged per second since the previous sample (0 for the first one).
    pub lines_per_s: f32,
}

/// A [`Sample`] as the ring keeps it: 12 bytes instead of 24, since the rings are most of
/// the console's memory (720 samples per section). Seconds since the Unix epoch (enough
/// until 2106) and f32 values: a chart's precision, not a counter's (the tables show the
/// live values from the metrics, not these).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Packed {
    t_s: u32,
    backlog: f32,
    rate: f32,
}

impl Packed {
    fn new(t_ms: u64, backlog_bytes: u64, lines_per_s: f64) -> Packed {
        Packed {
            t_s: u32::try_from(t_ms / 1000).unwrap_or(u32::MAX),
            backlog: backlog_bytes as f32,
            rate: lines_per_s as f32,
        }
    }

    fn sample(self) -> Sample {
        Sample {
            t_ms: u64::from(self.t_s) * 1000,
            backlog_bytes: self.backlog as u64,
            lines_per_s: self.rate,
        }
    }
}

/// One point of the broker's chart.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RateSample {
    pub t_ms: u64,
    pub messages_per_s: f64,
}

/// A ring of at most `cap` values: the oldest goes when a new one comes.
#[derive(Debug, Clone)]
struct Ring<T> {
    buf: VecDeque<T>,
    cap: usize,
}

impl<T> Ring<T> {
    fn new(cap: usize) -> Self {
        Ring {
            buf: VecDeque::with_capacity(cap),
            cap,
        }
    }

    fn push(&mut self, v: T) {
        if self.buf.len() >= self.cap {
            self.buf.pop_front();
        }
        self.buf.push_back(v);
    }
}

#[derive(Debug)]
struct SectionHistory {
    samples: Ring<Packed>,
    /// (t_ms, lines shipped) at the previous sample: the base of the next rate.
    last: (u64, u64),
}

/// Last observation of a topic: its summed end offsets and the rate since the one before.
#[derive(Debug, Clone, Copy)]
struct TopicRate {
    t_ms: u64,
    end_sum: i64,
    per_s: f64,
}

/// See the module doc. Not thread-safe by itself: the console holds it behind a mutex.
#[derive(Debug)]
pub struct History {
    cap: usize,
    sections: BTreeMap<String, SectionHistory>,
    topics: BTreeMap<String, TopicRate>,
    broker: Ring<RateSample>,
}

fn rate(delta: f64, from_ms: u64, to_ms: u64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    delta.max(0.0) * 1000.0 / (to_ms - from_ms) as f64
}

impl History {
    /// Keeps `cap` samples per series (an hour at one sample per 5 s is 720).
    pub fn new(cap: usize) -> History {
        History {
            cap: cap.max(1),
            sections: BTreeMap::new(),
            topics: BTreeMap::new(),
            broker: Ring::new(cap.max(1)),
        }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// One sample per running section at `t_ms`: (name, backlog bytes, lines shipped so far).
    /// Sections not listed have stopped: their history goes.
    pub fn record_sections(&mut self, t_ms: u64, now: &[(String, u64, u64)]) {
        let running: HashSet<&str> = now.iter().map(|(n, _, _)| n.as_str()).collect();
        self.sections
            .retain(|name, _| running.contains(name.as_str()));
        for (name, backlog, lines) in now {
            let cap = self.cap;
            let h = self
                .sections
                .entry(name.clone())
                .or_insert_with(|| SectionHistory {
                    samples: Ring::new(cap),
                    last: (t_ms, *lines),
                });
            let lines_per_s = rate(lines.saturating_sub(h.last.1) as f64, h.last.0, t_ms);
            h.last = (t_ms, *lines);
            h.samples.push(Packed::new(t_ms, *backlog, lines_per_s));
        }
    }

    /// The broker's topics at `t_ms`: (topic, sum of its partitions' end offsets). Topics
    /// not listed were deleted.
    pub fn record_topics(&mut self, t_ms: u64, now: &[(String, i64)]) {
        let live: HashSet<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
        self.topics.retain(|t, _| live.contains(t.as_str()));
        let mut total = 0.0;
        for (topic, end_sum) in now {
            let r = self.topics.entry(topic.clone()).or_insert(TopicRate {
                t_ms,
                end_sum: *end_sum,
                per_s: 0.0,
            });
            r.per_s = rate((end_sum - r.end_sum) as f64, r.t_ms, t_ms);
            r.t_ms = t_ms;
            r.end_sum = *end_sum;
            total += r.per_s;
        }
        self.broker.push(RateSample {
            t_ms,
            messages_per_s: total,
        });
    }

    /// A section's samples newer than `since_ms`, oldest first.
    pub fn section(&self, name: &str, since_ms: u64) -> Vec<Sample> {
        self.sections
            .get(name)
            .map(|h| {
                h.samples
                    .buf
                    .iter()
                    .map(|p| p.sample())
                    .filter(|s| s.t_ms > since_ms)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Messages per second written to `topic` over the last sampling interval.
    pub fn topic_rate(&self, topic: &str) -> Option<f64> {
        self.topics.get(topic).map(|r| r.per_s)
    }

    /// The broker's total write rate, newer than `since_ms`, oldest first.
    pub fn broker(&self, since_ms: u64) -> Vec<RateSample> {
        self.broker
            .buf
            .iter()
            .filter(|s| s.t_ms > since_ms)
            .copied()
            .collect()
    }

    /// Samples held, all series: bounded by (sections + 1) × capacity.
    pub fn len(&self) -> usize {
        self.sections
            .values()
            .map(|h| h.samples.buf.len())
            .sum::<usize>()
            + self.broker.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, backlog: u64, lines: u64) -> (String, u64, u64) {
        (name.to_string(), backlog, lines)
    }

    #[test]
    fn rates_come_from_the_counter_deltas() {
        let mut h = History::new(10);
        h.record_sections(1_000, &[row("a", 5, 100)]);
        h.record_sections(6_000, &[row("a", 7, 600)]);
        assert_eq!(
            h.section("a", 0),
            vec![
                Sample {
                    t_ms: 1_000,
                    backlog_bytes: 5,
                    lines_per_s: 0.0
                },
                Sample {
                    t_ms: 6_000,
                    backlog_bytes: 7,
                    lines_per_s: 100.0
                }
            ]
        );
        assert_eq!(h.section("a", 1_000).len(), 1);
    }

    #[test]
    fn samples_are_packed_to_chart_precision() {
        assert_eq!(std::mem::size_of::<Packed>(), 12);
        let p = Packed::new(1_700_000_000_123, 16 * 1024 * 1024, 1234.5);
        assert_eq!(
            p.sample(),
            Sample {
                t_ms: 1_700_000_000_000,
                backlog_bytes: 16 * 1024 * 1024,
                lines_per_s: 1234.5
            }
        );
        let big = Packed::new(0, 5_000_000_017, 0.0).sample().backlog_bytes;
        assert!(
            big.abs_diff(5_000_000_017) <= 5_000_000_017 / 10_000_000,
            "{big}"
        );
    }

    #[test]
    fn rings_are_bounded_and_stopped_sections_forgotten() {
        let mut h = History::new(3);
        for i in 0..10u64 {
            h.record_sections(i * 5_000, &[row("a", i, i * 10), row("b", 0, 0)]);
            h.record_topics(i * 5_000, &[("t".to_string(), (i * 50) as i64)]);
        }
        let a = h.section("a", 0);
        assert_eq!(
            a.iter().map(|s| s.t_ms).collect::<Vec<_>>(),
            vec![35_000, 40_000, 45_000]
        );
        assert_eq!(h.len(), 3 * 3);
        assert_eq!(h.topic_rate("t"), Some(10.0));
        assert_eq!(h.broker(0).last().map(|s| s.messages_per_s), Some(10.0));
        h.record_sections(50_000, &[row("b", 0, 0)]);
        assert!(h.section("a", 0).is_empty());
        h.record_topics(50_000, &[]);
        assert_eq!(h.topic_rate("t"), None);
    }
}
