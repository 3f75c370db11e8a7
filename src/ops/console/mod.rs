//! The web console: `GET /` (one self-contained page: server-rendered tables and SVG charts,
//! a small script that polls the JSON to keep them live) and `GET /api/v1/status` (the JSON,
//! [`status`]). Served by the metrics endpoint of the agent and by `logferry broker`'s
//! `[broker] http_listen`; nothing is fetched from anywhere else, so it works offline.
//!
//! The sampler ([`Console::run_sampler`]) records the charts' history every
//! [`SAMPLE_INTERVAL`] into fixed rings ([`history`]): an hour per section and for the broker.

pub mod history;
pub mod page;
pub mod status;

use crate::ops::metrics::Metrics;
use history::History;
use logferry_broker::BrokerView;
use status::{Query, Status};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One sample of every chart this often.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept per series: an hour.
pub const HISTORY_SAMPLES: usize = 720;

/// An HTTP answer: status code, body, content type.
pub type Reply = (u16, String, &'static str);

/// What the console shows: the agent's sections (`metrics`) and/or a broker (`broker`).
pub struct Console {
    host: String,
    metrics: Option<Arc<Metrics>>,
    broker: Option<BrokerView>,
    history: Mutex<History>,
    interval: Duration,
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Console {
    pub fn new(host: String, metrics: Option<Arc<Metrics>>, broker: Option<BrokerView>) -> Console {
        Console::with_history(host, metrics, broker, SAMPLE_INTERVAL, HISTORY_SAMPLES)
    }

    pub fn with_history(
        host: String,
        metrics: Option<Arc<Metrics>>,
        broker: Option<BrokerView>,
        interval: Duration,
        samples: usize,
    ) -> Console {
        Console {
            host,
            metrics,
            broker,
            history: Mutex::new(History::new(samples)),
            interval,
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record one sample of every series at `t_ms` (Unix ms).
    pub fn sample(&self, t_ms: u64) {
        let sections = self.metrics.as_ref().map(|m| m.section_samples());
        let topics = self.broker.as_ref().map(|b| b.end_offsets());
        let mut h = self.history();
        if let Some(s) = sections {
            h.record_sections(t_ms, &s);
        }
        if let Some(t) = topics {
            h.record_topics(t_ms, &t);
        }
    }

    /// Samples every interval until `stop`. Sample times are the wall clock at the start plus
    /// the (tokio) time elapsed since, so a paused clock drives it in tests.
    pub async fn run_sampler(self: Arc<Self>, stop: CancellationToken) {
        let start_ms = wall_ms();
        let start = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    let t = start_ms + start.elapsed().as_millis() as u64;
                    self.sample(t);
                }
            }
        }
    }

    /// Samples held in all series (bounded: (sections + 1) × [`HISTORY_SAMPLES`]).
    pub fn history_len(&self) -> usize {
        self.history().len()
    }

    /// The document behind `/api/v1/status` for `q`.
    pub fn status(&self, q: &Query) -> Status {
        let h = self.history();
        Status {
            version: status::VERSION,
            host: self.host.clone(),
            generated_at_ms: wall_ms(),
            sample_interval_ms: self.interval.as_millis() as u64,
            history_capacity: h.capacity(),
            agent: self
                .metrics
                .as_ref()
                .map(|m| status::agent_status(m, &h, q)),
            broker: self
                .broker
                .as_ref()
                .map(|b| status::broker_status(b, &h, q)),
        }
    }

    /// Answers `GET path?query` when it is the console's; None for other paths.
    pub fn handle(&self, path: &str, query: &str) -> Option<Reply> {
        match path {
            "/" => {
                let q = Query::parse(query);
                Some((
                    200,
                    page::render(&self.status(&q), &q),
                    "text/html; charset=utf-8",
                ))
            }
            "/api/v1/status" => {
                let q = Query::parse(query);
                Some(match serde_json::to_string(&self.status(&q)) {
                    Ok(body) => (200, body, "application/json"),
                    Err(e) => (
                        500,
                        format!("status not encodable: {e}\n"),
                        "text/plain; charset=utf-8",
                    ),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_sampler_keeps_an_hour_and_no_more() {
        let m = Metrics::new();
        let a = m.section("a", "t");
        let c = Arc::new(Console::new("h".into(), Some(m.clone()), None));
        let stop = CancellationToken::new();
        let task = tokio::spawn(c.clone().run_sampler(stop.clone()));
        // 5 lines/s for two hours.
        for _ in 0..(2 * 3600 / 5) {
            a.lines_shipped.inc_by(25);
            tokio::time::sleep(SAMPLE_INTERVAL).await;
        }
        let st = c.status(&Query::default());
        let s = &st.agent.expect("agent").sections[0];
        assert_eq!(s.history.len(), HISTORY_SAMPLES);
        assert_eq!(c.history_len(), HISTORY_SAMPLES);
        let steps: Vec<u64> = s
            .history
            .windows(2)
            .map(|w| w[1].t_ms - w[0].t_ms)
            .collect();
        assert!(steps.iter().all(|d| *d == 5_000), "{steps:?}");
        assert!(s.history.iter().all(|x| x.lines_per_s == 5.0));
        assert_eq!(s.lines_per_s, 5.0);
        // A stopped section's history goes at the next sample.
        a.retire();
        tokio::time::sleep(SAMPLE_INTERVAL).await;
        assert_eq!(c.history_len(), 0);
        stop.cancel();
        task.await.expect("sampler");
    }

    #[test]
    fn a_thousand_sections_with_full_histories_make_pages_of_twenty() {
        let m = Metrics::new();
        let handles: Vec<_> = (0..1000)
            .map(|i| m.section(&format!("s{i:04}"), "t"))
            .collect();
        let c = Console::new("h".into(), Some(m), None);
        for t in 0..HISTORY_SAMPLES as u64 + 10 {
            for h in &handles {
                h.lines_shipped.inc();
            }
            c.sample(t * 5_000);
        }
        assert_eq!(c.history_len(), 1000 * HISTORY_SAMPLES);
        let q = Query::parse("section_page=49");
        let st = c.status(&q);
        let a = st.agent.as_ref().expect("agent");
        assert_eq!((a.sections_page.pages, a.sections.len()), (50, 20));
        assert_eq!(a.sections[19].name, "s0999");
        assert!(a
            .sections
            .iter()
            .all(|s| s.history.len() == HISTORY_SAMPLES));
        let html = page::render(&st, &q);
        assert_eq!(html.matches("<tr data-section=").count(), 20);
        assert!(html.contains("?section_page=48\">previous</a>"));
        assert!(!html.contains(">next</a>"));
        // A poller asking only for what is new gets one sample per section.
        let newer = c.status(&Query {
            since_ms: (HISTORY_SAMPLES as u64 + 8) * 5_000,
            ..q
        });
        assert!(newer
            .agent
            .expect("agent")
            .sections
            .iter()
            .all(|s| s.history.len() == 1));
    }

    #[test]
    fn sections_report_the_most_urgent_state_and_their_losses() {
        let m = Metrics::new();
        let a = m.section("a", "t");
        let b = m.section("b", "t");
        let _idle = m.section("c", "t");
        a.broker_up.set(0);
        a.backlog_alert.set(1);
        b.backlog_alert.set(1);
        a.bytes_lost("truncated", 7);
        let c = Console::new("h".into(), Some(m), None);
        c.sample(1);
        let st = c.status(&Query::default());
        let agent = st.agent.expect("agent");
        let states: Vec<_> = agent.sections.iter().map(|s| s.status).collect();
        use status::SectionState::*;
        assert_eq!(states, vec![BrokerDown, AlertFiring, Idle]);
        assert!(agent.sections[0].alert);
        assert_eq!(agent.sections[0].bytes_lost, 7);
        assert_eq!(agent.totals.bytes_lost, 7);
        assert_eq!(agent.totals.lost.get("truncated"), Some(&7));
        // In red on the page, with its reason, in the totals and on the section's row.
        let html = page::render(&c.status(&Query::default()), &Query::default());
        assert!(html.contains("<span id=\"lost\" class=\"bad\">7 B (truncated: 7 B)</span>"));
        assert!(html.contains("<td class=\"num bad\">7 B (truncated: 7 B)</td>"));
        let paged = c.status(&Query {
            section_page: 1,
            per_page: Some(2),
            ..Query::default()
        });
        let names: Vec<_> = paged
            .agent
            .expect("agent")
            .sections
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, vec!["c"]);
    }
}
