//! The end-to-end monitor: LinkedIn's Kafka Monitor built in, plus a probe of the agent's own
//! pipeline. Services, each one task:
//!
//! ```text
//! topic (create, grow) ──TopicView──► produce ──canaries──► monitor topic ──► consume
//!                                        │ acked (seq)                           │
//!                                        └───────────────► consume ◄─────────────┘
//! probe writer ──heartbeat lines──► probe file ──internal section──► monitor topic
//!
//! every service records into one Board ──► evaluate (each interval) ──► Snapshot
//!   ──► gauges, SLA checks, alert_command, `logferry monitor --once` table
//! ```
//!
//! The detection logic is pure and clock-free ([`tracker`], [`window`], [`figures`],
//! [`sla`], [`streams`]); the services ([`topic`], [`produce`], [`consume`], [`probe`]) are
//! thin rdkafka and file wrappers around it.
//!
//! Sequence state across restarts: the producer saves its next sequence number per
//! partition (`<state>/producer.json`, atomic rename) and its producer id; the consumer
//! resumes from its committed offsets, whose metadata carries the sequence state at exactly
//! that offset (see [`streams`]).

pub mod consume;
pub mod figures;
pub mod message;
pub mod metrics;
pub mod probe;
pub mod produce;
pub mod sla;
pub mod streams;
pub mod topic;
pub mod tracker;
pub mod window;

use crate::agent::alert::AlertCommand;
use crate::agent::section::{SectionEnv, SectionError};
use crate::config::{Config, MonitorConfig};
use crate::ops::metrics::Metrics;
use figures::{Board, Snapshot};
use metrics::MonitorMetrics;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use sla::{SlaAlert, Thresholds, Violation};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use streams::{ProbeFilter, Streams};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("monitor: cannot {what}: {source}")]
    Kafka {
        what: &'static str,
        source: KafkaError,
    },
    #[error("monitor: cannot {what} topic {topic}: {code}")]
    Admin {
        what: &'static str,
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("monitor: the monitor topic is not in the cluster's metadata")]
    TopicMissing,
    #[error("monitor state {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("monitor state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("monitor state directory {path} is locked by another logferry monitor; give each its own --state-dir")]
    Locked { path: PathBuf },
    #[error("monitor: a task failed: {0}")]
    Task(String),
    #[error("monitor: pipeline probe: {0}")]
    Section(#[from] SectionError),
}

/// Message timestamps cross processes and hosts: Unix wall clock.
pub use crate::clock::{unix_ms, unix_us};

/// How to run a monitor.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub bootstrap: String,
    pub cfg: MonitorConfig,
    pub host: String,
    /// Producer id and sequence numbers live here; None: an ephemeral monitor (`--once`):
    /// a fresh producer id, no commits, reading from the end.
    pub state_dir: Option<PathBuf>,
    /// Lock `state_dir` (`logferry monitor`; the agent's own lock covers its state dir).
    pub lock: bool,
    pub alert: Option<AlertCommand>,
    pub probe: ProbeFilter,
}

/// The figures at one evaluation, and the SLA checks they fail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub topic: String,
    pub snapshot: Snapshot,
    pub violations: Vec<Violation>,
}

/// A running monitor.
pub struct Monitor {
    shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    metrics: Arc<MonitorMetrics>,
    board: Arc<Mutex<Board>>,
    report: Arc<Mutex<Option<Report>>>,
    ready: watch::Receiver<bool>,
    topic: String,
    probe: Option<probe::Probe>,
    _lock: Option<logferry_fsutil::DirLock>,
}

impl Monitor {
    /// Starts the services. Fails only on local problems (state, client config); an
    /// unreachable cluster is retried in the background.
    pub async fn start(opts: MonitorOptions) -> Result<Monitor, MonitorError> {
        let cfg = opts.cfg.clone();
        let lock = match (&opts.state_dir, opts.lock) {
            (Some(dir), true) => Some(lock_dir(dir)?),
            (Some(dir), false) => {
                std::fs::create_dir_all(dir).map_err(|source| MonitorError::StateDir {
                    path: dir.clone(),
                    source,
                })?;
                None
            }
            (None, _) => None,
        };
        let state_path = opts.state_dir.as_ref().map(|d| d.join("producer.json"));
        let state = match &state_path {
            Some(p) => produce::ProducerState::load_or_new(p, &cfg.topic)?,
            None => produce::ProducerState {
                version: 1,
                producer: message::random_id(),
                topic: cfg.topic.clone(),
                next: Default::default(),
            },
        };
        let run = message::random_id();
        let metrics = Arc::new(MonitorMetrics::new(&cfg.topic));
        let board = Arc::new(Mutex::new(Board::new(cfg.window.as_millis() as u64)));
        let report = Arc::new(Mutex::new(None));
        let shutdown = CancellationToken::new();
        let group = cfg
            .group
            .clone()
            .unwrap_or_else(|| format!("logferry-monitor-{}", opts.host));
        let group = if opts.state_dir.is_some() {
            group
        } else {
            format!("{group}-once-{run}")
        };
        tracing::info!(topic = %cfg.topic, producer = %state.producer, %group, "monitor starting");

        let admin = admin_config(&opts.bootstrap, &cfg)
            .create()
            .map_err(|source| MonitorError::Kafka {
                what: "create the monitor's admin client",
                source,
            })?;
        let topics = topic::TopicManager::new(admin, cfg.clone());
        let (view_tx, view_rx) = watch::channel(topic::TopicView::default());
        let (acked_tx, acked_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = watch::channel(false);
        let streams = Streams::new(
            &state.producer,
            &run,
            opts.probe.clone(),
            cfg.loss_timeout.as_millis() as u64,
        );
        let consumer = consume::ConsumeService::new(
            &consume::consumer_config(&opts.bootstrap, &group, &cfg),
            cfg.clone(),
            streams,
            board.clone(),
            metrics.clone(),
            opts.state_dir.is_some(),
        )?;
        let producer = produce::ProduceService::new(
            &opts.bootstrap,
            cfg.clone(),
            state,
            state_path,
            run,
            board.clone(),
            metrics.clone(),
            acked_tx,
        )?;
        let mut tasks = Vec::new();
        tasks.push((
            "topic",
            tokio::spawn(manage_topic(
                topics,
                cfg.clone(),
                view_tx,
                board.clone(),
                shutdown.clone(),
            )),
        ));
        tasks.push((
            "consume",
            tokio::spawn(consumer.run(view_rx.clone(), acked_rx, ready_tx, shutdown.clone())),
        ));
        let mut ready = ready_rx.clone();
        let sd = shutdown.clone();
        tasks.push((
            "produce",
            tokio::spawn(async move {
                // The consumer's positions first: a new monitor reads from the end.
                tokio::select! {
                    _ = sd.cancelled() => return,
                    r = ready.wait_for(|r| *r) => if r.is_err() { return },
                }
                producer.run(view_rx, sd).await;
            }),
        ));
        tasks.push((
            "evaluate",
            tokio::spawn(evaluate_loop(
                cfg.clone(),
                opts.alert.clone(),
                board.clone(),
                metrics.clone(),
                report.clone(),
                shutdown.clone(),
            )),
        ));
        Ok(Monitor {
            shutdown,
            tasks,
            metrics,
            board,
            report,
            ready: ready_rx,
            topic: cfg.topic.clone(),
            probe: None,
            _lock: lock,
        })
    }

    /// The agent's in-process monitor (`[monitor] enabled = true`), with the pipeline probe
    /// shipped by an internal section; None when disabled.
    pub async fn start_in_agent(
        config: &Config,
        bootstrap: &str,
        env: &SectionEnv,
        agent_metrics: &Arc<Metrics>,
    ) -> Result<Option<Monitor>, MonitorError> {
        let cfg = &config.monitor;
        if !cfg.enabled {
            return Ok(None);
        }
        let dir = config.agent.state_dir.join("monitor");
        let host = config.agent.host.clone();
        let mut m = Monitor::start(MonitorOptions {
            bootstrap: bootstrap.to_string(),
            cfg: cfg.clone(),
            host: host.clone(),
            state_dir: Some(dir.clone()),
            lock: false,
            alert: env.alert_command.clone(),
            probe: ProbeFilter::Host(host.clone()),
        })
        .await?;
        if cfg.pipeline_probe {
            match probe::Probe::start(
                &dir,
                cfg,
                &host,
                env,
                agent_metrics,
                m.board.clone(),
                m.metrics.clone(),
            ) {
                Ok(p) => m.probe = Some(p),
                Err(e) => {
                    m.stop().await;
                    return Err(e);
                }
            }
        }
        Ok(Some(m))
    }

    pub fn metrics(&self) -> &Arc<MonitorMetrics> {
        &self.metrics
    }

    pub fn register_metrics(&self, reg: &mut prometheus_client::registry::Registry) {
        self.metrics.register(reg);
    }

    /// The latest evaluation (None before the first interval).
    pub fn report(&self) -> Option<Report> {
        self.report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The latest figures for the web console's canary panel: a function the console calls
    /// on each request, holding only the report (not the monitor).
    pub fn console_feed(&self) -> crate::ops::console::canary::CanaryFn {
        let report = self.report.clone();
        let topic = self.topic.clone();
        Arc::new(move || {
            let r = report.lock().unwrap_or_else(|p| p.into_inner());
            canary_report(&topic, r.as_ref())
        })
    }

    /// Waits until the consumer has its partitions (the producer starts then).
    pub async fn wait_ready(&mut self) {
        let _ = self.ready.wait_for(|r| *r).await;
    }

    /// Stops the probe (writer, then its section's drain and checkpoint) and the services
    /// (the producer saves its state, the consumer commits).
    pub async fn stop(mut self) {
        if let Some(p) = self.probe.take() {
            p.stop().await;
        }
        self.shutdown.cancel();
        for (name, t) in self.tasks.drain(..) {
            if let Err(e) = t.await {
                tracing::error!("monitor {name} task failed: {e}");
            }
        }
    }
}

impl Drop for Monitor {
    /// A monitor dropped without [`Monitor::stop`] (an agent that failed to start) stops its
    /// tasks without waiting for them.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The console's view of a report (None: not evaluated yet).
pub fn canary_report(topic: &str, r: Option<&Report>) -> crate::ops::console::canary::CanaryReport {
    use crate::ops::console::canary::{CanaryPartition, CanaryReport, CanaryViolation};
    let Some(r) = r else {
        return CanaryReport {
            topic: topic.to_string(),
            ..CanaryReport::default()
        };
    };
    let s = &r.snapshot;
    CanaryReport {
        topic: r.topic.clone(),
        evaluated_at_ms: Some(s.at_ms),
        window_ms: s.window_ms,
        loss_rate: s.loss_rate,
        latency_p50_s: s.latency.as_ref().map(|q| q.p50),
        latency_p99_s: s.latency.as_ref().map(|q| q.p99),
        violations: r
            .violations
            .iter()
            .map(|v| CanaryViolation {
                check: v.check.to_string(),
                detail: v.detail.clone(),
            })
            .collect(),
        partitions: s
            .partitions
            .iter()
            .map(|p| CanaryPartition {
                partition: p.partition,
                leader: p.leader,
                produce_availability: p.produce_availability,
                consume_availability: p.consume_availability,
                acked: p.acked,
                consumed: p.consumed,
                lost: p.lost,
                duplicated: p.duplicated,
                missing: p.missing,
                latency_p50_s: p.latency_p50,
                latency_p99_s: p.latency_p99,
            })
            .collect(),
    }
}

fn admin_config(bootstrap: &str, cfg: &MonitorConfig) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "logferry-monitor-admin")
        .set("allow.auto.create.topics", "false")
        .set("log.connection.close", "false");
    for (k, v) in &cfg.librdkafka {
        c.set(k, v);
    }
    c
}

fn lock_dir(dir: &std::path::Path) -> Result<logferry_fsutil::DirLock, MonitorError> {
    use logferry_fsutil::{DirLock, LockError};
    match DirLock::acquire(dir, "lock", true) {
        Ok(l) => Ok(l),
        Err(LockError::Busy { .. }) => Err(MonitorError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(LockError::Io { source, .. }) => Err(MonitorError::StateDir {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Topic management: at start (retried every interval until it works), then every
/// `topic_check_interval`.
async fn manage_topic(
    topics: topic::TopicManager,
    cfg: MonitorConfig,
    view: watch::Sender<topic::TopicView>,
    board: Arc<Mutex<Board>>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        let wait = match topics.ensure().await {
            Ok(v) => {
                if failing {
                    tracing::info!(topic = %cfg.topic, "monitor topic management works again");
                }
                failing = false;
                {
                    let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
                    b.leaders = v.leaders.clone();
                    b.brokers = v.brokers.clone();
                }
                view.send_if_modified(|old| {
                    let changed = *old != v;
                    *old = v;
                    changed
                });
                cfg.topic_check_interval
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(topic = %cfg.topic, "monitor topic management: {e}; retrying");
                }
                failing = true;
                cfg.interval
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Each interval: figures → gauges → SLA → alert transitions.
async fn evaluate_loop(
    cfg: MonitorConfig,
    alert_cmd: Option<AlertCommand>,
    board: Arc<Mutex<Board>>,
    metrics: Arc<MonitorMetrics>,
    report: Arc<Mutex<Option<Report>>>,
    shutdown: CancellationToken,
) {
    let thresholds = Thresholds::from_config(&cfg);
    let mut alert = SlaAlert::default();
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let snapshot = {
            let mut b = board.lock().unwrap_or_else(|p| p.into_inner());
            figures::evaluate(&mut b, unix_ms())
        };
        let violations = sla::violations(&snapshot, &thresholds);
        metrics.publish(&snapshot, &violations);
        if let Some(firing) = alert.update(&violations) {
            let detail: Vec<&str> = violations.iter().map(|v| v.detail.as_str()).collect();
            if firing {
                tracing::warn!(topic = %cfg.topic, violations = %detail.join("; "), "monitor SLA alert firing");
            } else {
                tracing::info!(topic = %cfg.topic, "monitor SLA alert resolved");
            }
            if let Some(c) = &alert_cmd {
                let env = sla::alert_env(firing, &cfg.topic, &violations);
                tokio::spawn(crate::agent::alert::run_command(c.clone(), env));
            }
        }
        *report.lock().unwrap_or_else(|p| p.into_inner()) = Some(Report {
            topic: cfg.topic.clone(),
            snapshot,
            violations,
        });
    }
}
