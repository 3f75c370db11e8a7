//! The web console: `GET /` (one self-contained page: server-rendered tables and SVG charts,
//! a small script that polls the JSON to keep them live) and `GET /api/v1/status` (the JSON,
//! [`status`]). Served by the metrics endpoint of the agent and by `logferry broker`'s
//! `[broker] http_listen`; nothing is fetched from anywhere else, so it works offline.
//!
//! The sampler ([`Console::run_sampler`]) records the charts' history every
//! [`SAMPLE_INTERVAL`] into fixed rings ([`history`]): an hour per section and for the broker.
//!
//! Optional panels appear when their source exists: the broker's ACLs (through
//! [`BrokerView::acls`]), the canary (a [`canary::CanaryFn`] from the agent's monitor). With
//! an [`admin::AdminToken`], `POST`/`DELETE /api/v1/acls` ([`Console::edit`]) change the ACLs
//! through the broker's own store; without one, the console is read-only.

pub mod admin;
pub mod canary;
pub mod history;
pub mod page;
pub mod status;

use crate::ops::metrics::Metrics;
use admin::{Access, AdminToken};
use canary::CanaryFn;
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
    /// The in-process monitor's figures (`[monitor]`), for the canary panel.
    canary: Option<CanaryFn>,
    /// With it, ACL edits are offered to whoever presents it.
    admin: Option<AdminToken>,
    history: Mutex<History>,
    interval: Duration,
}

/// Largest body an edit request may have.
const MAX_EDIT_BODY: usize = 64 * 1024;

fn text(code: u16, body: impl Into<String>) -> Reply {
    let mut b: String = body.into();
    b.push('\n');
    (code, b, "text/plain; charset=utf-8")
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
            canary: None,
            admin: None,
            history: Mutex::new(History::new(samples)),
            interval,
        }
    }

    /// Shows the canary panel with the figures `feed` returns.
    pub fn with_canary(mut self, feed: CanaryFn) -> Console {
        self.canary = Some(feed);
        self
    }

    /// Offers ACL edits (`POST`/`DELETE /api/v1/acls`) to requests bearing `token`.
    pub fn with_admin_token(mut self, token: AdminToken) -> Console {
        self.admin = Some(token);
        self
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
        let start_ms = crate::clock::unix_ms();
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
            generated_at_ms: crate::clock::unix_ms(),
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
            acls: self
                .broker
                .as_ref()
                .and_then(|b| status::acl_status(b, self.admin.is_some(), q)),
            canary: self.canary.as_ref().map(|f| status::canary_status(f(), q)),
        }
    }

    /// The size limit of [`Console::edit`]'s body.
    pub fn max_edit_body(&self) -> usize {
        MAX_EDIT_BODY
    }

    /// Answers an ACL edit: `POST /api/v1/acls` (add) or `DELETE /api/v1/acls` (remove), a
    /// JSON rule as in `acls.rules` for body. None (so 404) unless an admin token is
    /// configured and the console shows a broker with ACLs on. Blocking (writes the ACL
    /// file, through the same store as Kafka's CreateAcls and DeleteAcls).
    pub fn edit(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &str,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<Reply> {
        if path != "/api/v1/acls" {
            return None;
        }
        let (admin, broker) = (self.admin.as_ref()?, self.broker.as_ref()?);
        broker.acls(0, 1)?;
        let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        match admin.check(authorization) {
            Access::Granted => {}
            Access::Missing => {
                tracing::warn!(%peer, method, "console ACL edit refused: no admin token");
                return Some(text(
                    401,
                    "an admin token is needed: Authorization: Bearer TOKEN",
                ));
            }
            Access::Wrong => {
                tracing::warn!(%peer, method, "console ACL edit refused: wrong admin token");
                return Some(text(403, "wrong admin token"));
            }
        }
        let rule: logferry_broker::acl::view::AclRule = match serde_json::from_str(body) {
            Ok(r) => r,
            Err(e) => return Some(text(400, format!("the body is not an ACL rule: {e}"))),
        };
        use logferry_broker::acl::store::StoreError;
        use logferry_broker::acl::view::AclEditError;
        let result = match method {
            "POST" => broker
                .add_acl(&rule)
                .map(|generation| serde_json::json!({ "generation": generation })),
            "DELETE" => broker.remove_acl(&rule).map(|(removed, generation)| {
                serde_json::json!({ "removed": removed, "generation": generation })
            }),
            _ => return Some(text(405, "use POST (add) or DELETE (remove)")),
        };
        Some(match result {
            Ok(v) => {
                tracing::info!(%peer, method, rule = ?rule, answer = %v, "ACLs edited from the console");
                (200, v.to_string(), "application/json")
            }
            Err(e) => {
                let code = match &e {
                    AclEditError::Disabled | AclEditError::NotFound => 404,
                    AclEditError::Invalid(_) => 400,
                    // acl_url, or an ACL file broken on disk: nothing to edit safely.
                    AclEditError::Store(StoreError::ReadOnly(_) | StoreError::Invalid { .. }) => {
                        409
                    }
                    AclEditError::Store(_) => 500,
                };
                if code == 500 {
                    tracing::error!(%peer, method, error = %e, "console ACL edit failed");
                }
                text(code, e.to_string())
            }
        })
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

    fn rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// What the console's memory costs with every history ring and timeline full, for the
    /// RSS targets of bench/RESULTS.md. Measured, not asserted (CONSOLE_MEM=1, run alone:
    /// `CONSOLE_MEM=1 cargo test --release --lib console::tests::memory -- --nocapture`).
    #[test]
    fn memory_with_every_history_full() {
        if std::env::var("CONSOLE_MEM").as_deref() != Ok("1") {
            eprintln!("CONSOLE_MEM=1 measures it");
            return;
        }
        for n in [10usize, 1000] {
            let m = Metrics::new();
            let handles: Vec<_> = (0..n)
                .map(|i| m.section(&format!("section-{i:04}"), "topic"))
                .collect();
            let c = Console::new("h".into(), Some(m.clone()), None);
            let before = rss_kib();
            for (i, h) in handles.iter().enumerate() {
                for e in 0..crate::ops::metrics::MAX_EVENTS {
                    h.event(
                        crate::ops::metrics::EventKind::Rotation,
                        format!("/var/log/app/section-{i:04}/access.log.{e} finished"),
                    );
                }
            }
            let events = rss_kib();
            for t in 1..=HISTORY_SAMPLES as u64 {
                for h in &handles {
                    h.lines_shipped.inc_by(t);
                }
                c.sample(1_700_000_000_000 + t * 5_000);
            }
            let after = rss_kib();
            assert_eq!(c.history_len(), n * HISTORY_SAMPLES);
            eprintln!(
                "{n} sections: timelines full +{} KiB, history rings full +{} KiB, total +{} KiB ({} B per section)",
                events - before,
                after - events,
                after - before,
                (after - before) * 1024 / n as u64
            );
        }
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
