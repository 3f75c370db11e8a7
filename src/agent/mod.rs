//! The agent: locks the state directory, starts the bundled broker when configured, runs one
//! task per section, applies reloads, and orders shutdown: sections drain and write their
//! final checkpoints first, then the bundled broker stops. Installs no signal handlers: the
//! caller (`commands::run`, or a test) decides when to reload and when to stop.
//!
//! Stages of a section, in data-flow order: [`discovery`] (which files; [`watcher`] wakes it)
//! → [`queue`] (order, identity via [`identity`]) → [`reader`] → [`framing`] → [`sender`]
//! → delivery reports → [`inflight`] (ordered acknowledgement) → [`checkpoint`]; [`section`]
//! is the task that drives them, [`alert`] the backlog thresholds and health.

pub mod alert;
pub mod checkpoint;
pub mod codec;
pub mod discovery;
pub mod files;
pub mod framing;
pub mod identity;
pub mod inflight;
pub mod monitor;
pub mod queue;
pub mod reader;
pub mod section;
pub mod sender;
pub mod watcher;

use crate::agent::section::{Section, SectionEnv, SectionError};
use crate::agent::watcher::{DirWatcher, WatchError};
use crate::config::{Brokers, Config, ConfigError, SectionConfig};
use crate::ops::console::Console;
use crate::ops::metrics::Metrics;
use logferry_fsutil::{DirLock, LockError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create or lock state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state directory {path} is locked by another logferry agent (pid in {path}/lock); run one agent per state_dir")]
    Locked { path: PathBuf },
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("bundled broker: {0}")]
    Broker(#[from] logferry_broker::BrokerError),
    #[error(transparent)]
    Endpoint(#[from] crate::ops::endpoint::EndpointError),
    #[error(transparent)]
    Monitor(#[from] monitor::MonitorError),
    #[error(transparent)]
    AdminToken(#[from] crate::ops::console::admin::AdminTokenError),
}

/// The lock file in `state_dir`: one agent per state directory.
const LOCK_FILE: &str = "lock";

struct Running {
    cfg: SectionConfig,
    shutdown: CancellationToken,
    join: JoinHandle<Result<(), SectionError>>,
}

/// A running agent: its sections and, with `brokers = "bundled"`, its broker.
pub struct Agent {
    config: Config,
    env: SectionEnv,
    metrics: Arc<Metrics>,
    sections: BTreeMap<String, Running>,
    broker: Option<Arc<logferry_broker::BrokerHandle>>,
    endpoint: Option<crate::ops::endpoint::Endpoint>,
    /// The web console on the endpoint, and the stop of its sampler.
    console: Option<(Arc<Console>, CancellationToken)>,
    /// `[monitor] enabled`: the end-to-end canary and pipeline probe.
    monitor: Option<monitor::Monitor>,
    _lock: DirLock,
}

impl Agent {
    /// Lock the state dir, start the bundled broker if configured, start every section.
    pub async fn start(config: Config) -> Result<Agent, AgentError> {
        let lock = lock_state_dir(&config.agent.state_dir)?;
        // Read first: a bad token file fails the start before anything runs. It only means
        // something for the bundled broker's ACLs, on the console of metrics_listen.
        let admin_token = match (&config.output.brokers, &config.broker.admin_token_file) {
            (Brokers::Bundled, Some(f)) if config.agent.metrics_listen.is_some() => {
                Some(crate::ops::console::admin::AdminToken::load(f)?)
            }
            (_, Some(_)) => {
                tracing::warn!("[broker] admin_token_file is used only with brokers = \"bundled\" and metrics_listen (or by `logferry broker` with http_listen): ignored");
                None
            }
            (_, None) => None,
        };
        let (bootstrap, broker) = match &config.output.brokers {
            Brokers::External(list) => (list.clone(), None),
            Brokers::Bundled => {
                if config.broker.http_listen.is_some() {
                    tracing::warn!("[broker] http_listen is for `logferry broker`; the agent shows its bundled broker on metrics_listen");
                }
                let handle =
                    logferry_broker::start(config.broker.clone(), config.bundled_data_dir())
                        .await?;
                let b = handle.bootstrap_servers();
                tracing::info!(bootstrap = %b, "bundled broker listening");
                (b, Some(Arc::new(handle)))
            }
        };
        let env =
            SectionEnv {
                bootstrap,
                output: config.output.clone(),
                host: config.agent.host.clone(),
                state_dir: config.agent.state_dir.clone(),
                rescan_interval: config.agent.rescan_interval,
                shutdown_timeout: config.agent.shutdown_timeout,
                watcher: Arc::new(DirWatcher::new()?),
                alert_command: config.agent.alert_command.clone().map(|command| {
                    alert::AlertCommand {
                        command,
                        timeout: config.agent.alert_command_timeout,
                    }
                }),
                max_open_files: config.agent.max_open_files,
                checkpoint_interval: config.agent.checkpoint_interval,
            };
        let metrics = Metrics::new();
        let monitor =
            monitor::Monitor::start_in_agent(&config, &env.bootstrap, &env, &metrics).await?;
        let mut console = None;
        let endpoint = match &config.agent.metrics_listen {
            None => None,
            Some(addr) => {
                let mut c = Console::new(
                    config.agent.host.clone(),
                    Some(metrics.clone()),
                    broker.as_ref().map(|b| b.view()),
                );
                if let Some(m) = &monitor {
                    c = c.with_canary(m.console_feed());
                }
                if let Some(t) = admin_token {
                    c = c.with_admin_token(t);
                }
                let c = Arc::new(c);
                let stop = CancellationToken::new();
                tokio::spawn(c.clone().run_sampler(stop.clone()));
                console = Some((c.clone(), stop));
                let mut reg = prometheus_client::registry::Registry::default();
                metrics.register(&mut reg);
                if let Some(b) = &broker {
                    b.register_metrics(&mut reg);
                }
                if let Some(m) = &monitor {
                    m.register_metrics(&mut reg);
                }
                let reg = Arc::new(reg);
                let b = broker.clone();
                let render: crate::ops::endpoint::RenderFn = Arc::new(move || {
                    if let Some(b) = &b {
                        b.refresh_metrics();
                    }
                    crate::ops::metrics::encode(&reg)
                });
                let m = metrics.clone();
                Some(crate::ops::endpoint::Endpoint::start(
                    "[agent] metrics_listen",
                    addr,
                    render,
                    Arc::new(move || m.health()),
                    Some(c),
                )?)
            }
        };
        let mut agent = Agent {
            config: config.clone(),
            env,
            metrics,
            sections: BTreeMap::new(),
            broker,
            endpoint,
            console,
            monitor,
            _lock: lock,
        };
        for s in config.sections {
            if let Err(e) = agent.start_section(s) {
                agent.stop().await;
                return Err(e);
            }
        }
        Ok(agent)
    }

    /// Sections running.
    pub fn section_count(&self) -> usize {
        self.sections.len()
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.env.bootstrap
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The in-process end-to-end monitor (`[monitor] enabled`).
    pub fn monitor(&self) -> Option<&monitor::Monitor> {
        self.monitor.as_ref()
    }

    /// Where /metrics and /healthz are served, if enabled.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.as_ref().map(|e| e.local_addr())
    }

    /// Record a sample of the console's charts now (besides the one every 5 s), e.g. so a
    /// test sees a point at a moment of its choosing. No-op without `metrics_listen`.
    pub fn sample_console(&self) {
        if let Some((c, _)) = &self.console {
            c.sample(crate::clock::unix_ms());
        }
    }

    /// One-line summary for systemd's STATUS= (`systemctl status logferry`).
    pub fn status_line(&self) -> String {
        crate::ops::systemd::summary(&self.metrics.summary())
    }

    fn start_section(&mut self, cfg: SectionConfig) -> Result<(), AgentError> {
        let m = self.metrics.section(&cfg.name, &cfg.topic);
        let section = Section::new(cfg.clone(), self.env.clone(), m)?;
        let shutdown = CancellationToken::new();
        tracing::info!(section = %cfg.name, topic = %cfg.topic, dir = %cfg.log_base_path.display(), "section started");
        let join = tokio::spawn(section.run(shutdown.clone()));
        self.sections.insert(
            cfg.name.clone(),
            Running {
                cfg,
                shutdown,
                join,
            },
        );
        Ok(())
    }

    async fn stop_sections(&mut self, names: &[String]) {
        let mut joins = Vec::new();
        for n in names {
            if let Some(r) = self.sections.remove(n) {
                r.shutdown.cancel();
                joins.push((n.clone(), r.join));
            }
        }
        for (n, j) in joins {
            match j.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(section = %n, "section stopped with an error: {e}"),
                Err(e) => tracing::error!(section = %n, "section task failed: {e}"),
            }
        }
    }

    /// SIGHUP: apply a new config. An invalid config is rejected and the running one goes on.
    pub async fn reload(&mut self, path: &Path) {
        let new = match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("reload rejected, the running config stays in effect: {e}");
                return;
            }
        };
        if new.agent != self.config.agent
            || new.output != self.config.output
            || new.broker != self.config.broker
            || new.monitor != self.config.monitor
        {
            tracing::warn!("changes to [agent], [output], [broker] or [monitor] take effect at the next restart; applying [topic.*] changes now");
        }
        let wanted: BTreeMap<String, SectionConfig> = new
            .sections
            .iter()
            .map(|s| (s.name.clone(), s.clone()))
            .collect();
        let stale: Vec<String> = self
            .sections
            .iter()
            .filter(|(n, r)| wanted.get(*n).is_none_or(|w| !w.same_as(&r.cfg)))
            .map(|(n, _)| n.clone())
            .collect();
        self.stop_sections(&stale).await;
        for (name, cfg) in wanted {
            if !self.sections.contains_key(&name) {
                if let Err(e) = self.start_section(cfg) {
                    tracing::error!(section = %name, "cannot start section: {e}");
                }
            }
        }
        self.config.sections = new.sections;
        tracing::info!(sections = self.sections.len(), "config reloaded");
    }

    /// Stop every section (each drains and writes its final checkpoint), then the broker.
    pub async fn stop(mut self) {
        if let Some(m) = self.monitor.take() {
            m.stop().await;
        }
        let names: Vec<String> = self.sections.keys().cloned().collect();
        self.stop_sections(&names).await;
        // The endpoint and the console hold handles on the broker: release them first.
        drop(self.endpoint.take());
        if let Some((_, stop)) = self.console.take() {
            stop.cancel();
        }
        if let Some(b) = self.broker.take() {
            match Arc::try_unwrap(b) {
                Ok(b) => {
                    if let Err(e) = b.shutdown().await {
                        tracing::error!("bundled broker shutdown: {e}");
                    }
                }
                Err(_) => tracing::error!(
                    "bundled broker still referenced at shutdown; it stops with the process"
                ),
            }
        }
    }
}

/// Lock `state_dir` (created if missing) for this agent's lifetime.
fn lock_state_dir(dir: &Path) -> Result<DirLock, AgentError> {
    match DirLock::acquire(dir, LOCK_FILE, true) {
        Ok(l) => Ok(l),
        Err(LockError::Busy { .. }) => Err(AgentError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(LockError::Io { source, .. }) => Err(AgentError::StateDir {
            path: dir.to_path_buf(),
            source,
        }),
    }
}
