//! Wires the sections, owns their tasks, and orders shutdown: sections drain and write their
//! final checkpoints first, then the bundled broker (if any) stops.

use crate::broker;
use crate::config::{Brokers, Config, ConfigError, SectionConfig};
use crate::discovery::{DirWatcher, DiscoveryError};
use crate::metrics::Metrics;
use crate::section::{Section, SectionEnv, SectionError};
use fs2::FileExt;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state directory {path} is locked by another logferry agent (pid in {path}/lock); run one agent per state_dir")]
    Locked { path: PathBuf },
    #[error(transparent)]
    Section(#[from] SectionError),
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error("bundled broker: {0}")]
    Broker(#[from] broker::BrokerError),
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
}

/// An exclusive lock on `state_dir`, held for the agent's lifetime.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    pub fn acquire(dir: &Path) -> Result<StateLock, AgentError> {
        std::fs::create_dir_all(dir).map_err(|source| AgentError::StateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| AgentError::StateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        if file.try_lock_exclusive().is_err() {
            return Err(AgentError::Locked {
                path: dir.to_path_buf(),
            });
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(StateLock { _file: file })
    }
}

struct Running {
    cfg: SectionConfig,
    shutdown: watch::Sender<bool>,
    join: JoinHandle<Result<(), SectionError>>,
}

/// A running agent: its sections and, with `brokers = "bundled"`, its broker.
pub struct Agent {
    config: Config,
    env: SectionEnv,
    metrics: Arc<Metrics>,
    sections: BTreeMap<String, Running>,
    broker: Option<Arc<broker::BrokerHandle>>,
    endpoint: Option<crate::endpoint::Endpoint>,
    _lock: StateLock,
}

impl Agent {
    /// Lock the state dir, start the bundled broker if configured, start every section.
    pub async fn start(config: Config) -> Result<Agent, AgentError> {
        let lock = StateLock::acquire(&config.agent.state_dir)?;
        let (bootstrap, broker) = match &config.output.brokers {
            Brokers::External(list) => (list.clone(), None),
            Brokers::Bundled => {
                let data_dir = config
                    .broker
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| config.agent.state_dir.join("broker"));
                let handle = broker::start(config.broker.clone(), data_dir).await?;
                let b = handle.bootstrap_servers();
                tracing::info!(bootstrap = %b, "bundled broker listening");
                (b, Some(Arc::new(handle)))
            }
        };
        let env = SectionEnv {
            bootstrap,
            output: config.output.clone(),
            host: config.agent.host.clone(),
            state_dir: config.agent.state_dir.clone(),
            rescan_interval: config.agent.rescan_interval,
            shutdown_timeout: config.agent.shutdown_timeout,
            watcher: Arc::new(DirWatcher::new()?),
            alert_command: config.agent.alert_command.clone(),
            alert_command_timeout: config.agent.alert_command_timeout,
        };
        let metrics = Metrics::new();
        let endpoint = match &config.agent.metrics_listen {
            None => None,
            Some(addr) => {
                let mut reg = prometheus_client::registry::Registry::default();
                metrics.register(&mut reg);
                if let Some(b) = &broker {
                    b.register_metrics(&mut reg);
                }
                let reg = Arc::new(reg);
                let b = broker.clone();
                let render: crate::endpoint::RenderFn = Arc::new(move || {
                    if let Some(b) = &b {
                        b.refresh_metrics();
                    }
                    crate::metrics::encode(&reg)
                });
                let m = metrics.clone();
                Some(crate::endpoint::Endpoint::start(
                    addr,
                    render,
                    Arc::new(move || m.health()),
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

    pub fn bootstrap_servers(&self) -> &str {
        &self.env.bootstrap
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Where /metrics and /healthz are served, if enabled.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.as_ref().map(|e| e.local_addr())
    }

    /// One-line summary for systemd's STATUS= (`systemctl status logferry`).
    pub fn status_line(&self) -> String {
        crate::systemd::summary(self.sections.len(), &self.metrics.render())
    }

    fn start_section(&mut self, cfg: SectionConfig) -> Result<(), AgentError> {
        let m = self.metrics.section(&cfg.name, &cfg.topic);
        let section = Section::new(cfg.clone(), self.env.clone(), m)?;
        let (tx, rx) = watch::channel(false);
        tracing::info!(section = %cfg.name, topic = %cfg.topic, dir = %cfg.log_base_path.display(), "section started");
        let join = tokio::spawn(section.run(rx));
        self.sections.insert(
            cfg.name.clone(),
            Running {
                cfg,
                shutdown: tx,
                join,
            },
        );
        Ok(())
    }

    async fn stop_sections(&mut self, names: &[String]) {
        let mut joins = Vec::new();
        for n in names {
            if let Some(r) = self.sections.remove(n) {
                let _ = r.shutdown.send(true);
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
        {
            tracing::warn!("changes to [agent], [output] or [broker] take effect at the next restart; applying [topic.*] changes now");
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
        let names: Vec<String> = self.sections.keys().cloned().collect();
        self.stop_sections(&names).await;
        // The endpoint holds a handle on the broker's metrics: release it first.
        drop(self.endpoint.take());
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

/// `logferry run`: run until SIGTERM/SIGINT; SIGHUP reloads the config.
pub async fn run(config_path: &Path) -> Result<(), AgentError> {
    let config = Config::load(config_path)?;
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(AgentError::Signal)?;
    let mut agent = Agent::start(config).await?;
    tracing::info!(sections = agent.sections.len(), "logferry agent running");
    crate::systemd::ready();
    let watchdog = crate::systemd::spawn_watchdog();
    let mut status_tick = tokio::time::interval(crate::systemd::STATUS_INTERVAL);
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading {}", config_path.display());
                crate::systemd::reloading();
                agent.reload(config_path).await;
                crate::systemd::ready();
            }
            _ = status_tick.tick() => crate::systemd::status(&agent.status_line()),
        }
    }
    crate::systemd::stopping();
    crate::systemd::status("stopping: draining sections, writing final checkpoints");
    agent.stop().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// `logferry check`: validate, then list per section the files that would ship, in order,
/// with their checkpointed offsets. Returns false if any section has a problem; a missing
/// `log_base_path` is a warning, not a problem.
pub fn check(config_path: &Path, out: &mut dyn Write) -> Result<bool, AgentError> {
    let config = Config::load(config_path)?;
    let mut ok = true;
    let _ = writeln!(out, "config {} is valid", config_path.display());
    for s in &config.sections {
        let store =
            crate::checkpoint::CheckpointStore::new(&config.agent.state_dir, &s.checkpoint_name);
        let _ = writeln!(
            out,
            "\n[topic.{}] -> topic \"{}\", checkpoint {}",
            s.name,
            s.topic,
            store.path().display()
        );
        let offline = match crate::status::offline_queue(s, &config) {
            Ok(q) => q,
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "  ERROR {e}");
                continue;
            }
        };
        if let Some(w) = &offline.missing_dir {
            // Not an error: the running agent waits for the directory and starts shipping
            // when it appears, so a packaged config with sections for logs this host does
            // not have yet still passes.
            let _ = writeln!(out, "  WARNING {w}");
        }
        let (queue, faults) = (offline.queue, offline.faults);
        for f in faults {
            ok = false;
            let _ = writeln!(out, "  ERROR {f}");
        }
        let files = queue.ordered();
        if files.is_empty() {
            let _ = writeln!(out, "  (no matching files yet)");
        }
        for f in files {
            let state = if f.acked >= f.size {
                "shipped"
            } else {
                "to ship"
            };
            let _ = writeln!(
                out,
                "  {:<60} offset {:>12} / {:<12} {}",
                f.path.display(),
                f.acked,
                f.size,
                state
            );
        }
    }
    Ok(ok)
}
