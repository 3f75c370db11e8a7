//! `logferry monitor`: the end-to-end monitor on its own (until SIGTERM/SIGINT, serving
//! `/metrics` and `/healthz`), or `--once`: one short run that prints the figures as a table
//! and exits 0 (SLA met), 1 (SLA violated) or 2 (error), like `logferry status`.

use crate::agent::alert::AlertCommand;
use crate::agent::monitor::streams::ProbeFilter;
use crate::agent::monitor::{Monitor, MonitorError, MonitorOptions, Report};
use crate::config::{Config, ConfigError, Mode, MonitorConfig};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, thiserror::Error)]
pub enum MonitorCmdError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Endpoint(#[from] crate::ops::endpoint::EndpointError),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    #[error("no figures: the monitor could not reach the cluster within {0} s (see the log)")]
    NoFigures(u64),
}

/// The command line of `logferry monitor`.
#[derive(Debug, Clone, Default)]
pub struct MonitorArgs {
    /// Bootstrap servers, or "bundled" with `config`.
    pub brokers: String,
    pub topic: Option<String>,
    pub config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
    pub once: bool,
    pub duration: Option<Duration>,
}

/// Resolved settings: the monitor's options and where to serve metrics.
pub struct Settings {
    pub opts: MonitorOptions,
    pub metrics_listen: Option<String>,
    /// `--once`: how long to measure.
    pub duration: Duration,
}

pub fn settings(a: &MonitorArgs) -> Result<Settings, ConfigError> {
    let config = match &a.config {
        Some(p) => Config::load_as(p, Mode::BrokerOnly)?,
        None => Config::parse_as("", std::path::Path::new("."), Mode::BrokerOnly)?,
    };
    let bootstrap = crate::config::resolve_brokers(&a.brokers, a.config.as_deref())?;
    let mut cfg: MonitorConfig = config.monitor.clone();
    if let Some(t) = &a.topic {
        cfg.topic = t.clone();
    }
    let duration = a
        .duration
        .unwrap_or_else(|| (cfg.interval * 10).max(cfg.produce_timeout + cfg.interval * 2));
    if a.once {
        // One run is one window.
        cfg.window = cfg.window.max(duration);
    }
    let metrics_listen = match &a.metrics_listen {
        Some(l) if l.trim().is_empty() => None,
        Some(l) => Some(l.clone()),
        None => cfg.metrics_listen.clone(),
    };
    let state_dir = if a.once {
        None
    } else {
        Some(
            a.state_dir
                .clone()
                .unwrap_or_else(|| config.agent.state_dir.join("monitor-standalone")),
        )
    };
    Ok(Settings {
        opts: MonitorOptions {
            bootstrap,
            cfg,
            host: config.agent.host.clone(),
            state_dir,
            lock: true,
            alert: config
                .agent
                .alert_command
                .clone()
                .map(|command| AlertCommand {
                    command,
                    timeout: config.agent.alert_command_timeout,
                }),
            probe: ProbeFilter::All,
        },
        metrics_listen,
        duration,
    })
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(s: Settings) -> Result<(), MonitorCmdError> {
    let mut term = signal(SignalKind::terminate()).map_err(MonitorCmdError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(MonitorCmdError::Signal)?;
    let monitor = Arc::new(Monitor::start(s.opts).await?);
    let endpoint = match &s.metrics_listen {
        None => None,
        Some(addr) => {
            let mut reg = prometheus_client::registry::Registry::default();
            monitor.register_metrics(&mut reg);
            let render: crate::ops::endpoint::RenderFn =
                Arc::new(move || crate::ops::metrics::encode(&reg));
            let m = monitor.clone();
            // /healthz: 503 with the failed SLA checks.
            let health: crate::ops::endpoint::HealthFn = Arc::new(move || match m.report() {
                Some(r) if !r.violations.is_empty() => Err(r
                    .violations
                    .iter()
                    .map(|v| v.detail.clone())
                    .collect::<Vec<_>>()
                    .join("\n")),
                _ => Ok(()),
            });
            Some(crate::ops::endpoint::Endpoint::start(
                "[monitor] metrics_listen",
                addr,
                render,
                health,
                None,
            )?)
        }
    };
    tracing::info!("logferry monitor running");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    drop(endpoint);
    match Arc::try_unwrap(monitor) {
        Ok(m) => m.stop().await,
        Err(_) => tracing::error!("monitor still referenced at shutdown"),
    }
    Ok(())
}

/// `--once`: measures for `s.duration`, then returns the last figures.
pub async fn once(s: Settings) -> Result<Report, MonitorCmdError> {
    let interval = s.opts.cfg.interval;
    let mut monitor = Monitor::start(s.opts).await?;
    let ready = tokio::time::timeout(s.duration, monitor.wait_ready()).await;
    if ready.is_ok() {
        tokio::time::sleep(s.duration).await;
        // One more evaluation after the last round's outcomes.
        tokio::time::sleep(interval).await;
    }
    let report = monitor.report();
    monitor.stop().await;
    match (ready, report) {
        (Ok(()), Some(r)) => Ok(r),
        _ => Err(MonitorCmdError::NoFigures(s.duration.as_secs())),
    }
}

/// 0: every SLA check passes; 1: some fail.
pub fn exit_code(r: &Report) -> u8 {
    u8::from(!r.violations.is_empty())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0))
}

/// The figures as a table.
pub fn render(r: &Report) -> String {
    let s = &r.snapshot;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "topic {}: {} brokers, {} partitions, window {} s",
        r.topic,
        s.brokers.len(),
        s.partitions.len(),
        s.window_ms / 1000
    );
    let _ = writeln!(
        out,
        "{:>9} {:>6} {:>8} {:>8} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8} {:>8}",
        "partition",
        "leader",
        "produce",
        "consume",
        "acked",
        "failed",
        "lost",
        "dup",
        "reord",
        "p50 ms",
        "p99 ms"
    );
    for p in &s.partitions {
        let _ = writeln!(
            out,
            "{:>9} {:>6} {:>8.3} {:>8.3} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8} {:>8}",
            p.partition,
            p.leader.map_or("-".to_string(), |l| l.to_string()),
            p.produce_availability,
            p.consume_availability,
            p.acked,
            p.failed,
            p.lost,
            p.duplicated,
            p.reordered,
            ms(p.latency_p50),
            ms(p.latency_p99)
        );
    }
    if let Some(q) = &s.latency {
        let _ = writeln!(
            out,
            "all partitions: p50 {} ms, p99 {} ms, max {} ms; loss rate {:.4}",
            ms(Some(q.p50)),
            ms(Some(q.p99)),
            ms(Some(q.max)),
            s.loss_rate
        );
    }
    if !s.brokers_without_leadership.is_empty() {
        let _ = writeln!(
            out,
            "brokers leading no partition of the topic: {:?}",
            s.brokers_without_leadership
        );
    }
    for p in &s.pipeline {
        let _ = writeln!(
            out,
            "pipeline {}: delay {} ms, write→acked p99 {} ms, write→consumed p99 {} ms, lost {}, dup {}",
            p.host,
            ms(p.delay),
            ms(p.acked_p99),
            ms(p.consumed_p99),
            p.lost,
            p.duplicated
        );
    }
    if r.violations.is_empty() {
        out.push_str("SLA OK\n");
    } else {
        out.push_str("SLA VIOLATED\n");
        for v in &r.violations {
            let _ = writeln!(out, "  {}", v.detail);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::monitor::figures::{PartitionRow, Snapshot};
    use crate::agent::monitor::sla::Violation;

    #[test]
    fn table_and_exit_code() {
        let row = |p: i32, produce: f64| PartitionRow {
            partition: p,
            leader: Some(p + 1),
            produce_availability: produce,
            consume_availability: 1.0,
            acked: 10,
            failed: u64::from(produce < 1.0) * 3,
            consumed: 10,
            lost: 0,
            duplicated: 0,
            reordered: 0,
            missing: 0,
            latency_p50: Some(0.0012),
            latency_p99: Some(0.0034),
        };
        let mut r = Report {
            topic: "mon".into(),
            snapshot: Snapshot {
                at_ms: 0,
                window_ms: 10_000,
                brokers: vec![1, 2],
                brokers_without_leadership: vec![],
                partitions: vec![row(0, 1.0), row(1, 0.0)],
                pipeline: vec![],
                loss_rate: 0.0,
                latency: None,
            },
            violations: vec![],
        };
        assert_eq!(exit_code(&r), 0);
        r.violations.push(Violation {
            check: "produce_availability",
            detail: "produce availability of partition 1 (leader 2) 0.000 < 0.99".into(),
        });
        assert_eq!(exit_code(&r), 1);
        let t = render(&r);
        assert_eq!(
            t.lines().nth(3).expect("row 1"),
            "        1      2    0.000    1.000     10      3     0     0     0      1.2      3.4"
        );
        assert!(
            t.ends_with(
                "SLA VIOLATED\n  produce availability of partition 1 (leader 2) 0.000 < 0.99\n"
            ),
            "{t}"
        );
    }

    #[test]
    fn once_measures_for_a_window_without_state() {
        let a = MonitorArgs {
            brokers: "k1:9092".into(),
            topic: Some("t".into()),
            once: true,
            ..MonitorArgs::default()
        };
        let s = settings(&a).expect("settings");
        assert_eq!(s.opts.cfg.topic, "t");
        assert_eq!(s.opts.state_dir, None);
        assert_eq!(s.duration, Duration::from_secs(10));
        assert_eq!(s.opts.cfg.window, Duration::from_secs(60));
        let a = MonitorArgs { once: false, ..a };
        let s = settings(&a).expect("settings");
        assert_eq!(
            s.opts.state_dir,
            Some(PathBuf::from("/var/lib/logferry/monitor-standalone"))
        );
    }
}
