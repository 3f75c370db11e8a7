//! `logferry run`: the agent in the foreground until SIGTERM/SIGINT; SIGHUP reloads the
//! config. The only place that installs the agent's signal handlers and talks to systemd.

use crate::agent::{Agent, AgentError};
use crate::config::{Config, ConfigError};
use crate::ops::systemd;
use std::path::Path;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
}

pub async fn run(config_path: &Path) -> Result<(), RunError> {
    let config = Config::load(config_path)?;
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
    let mut agent = Agent::start(config).await?;
    tracing::info!(sections = agent.section_count(), "logferry agent running");
    systemd::ready();
    let watchdog = systemd::spawn_watchdog();
    let mut status_tick = tokio::time::interval(systemd::STATUS_INTERVAL);
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading {}", config_path.display());
                systemd::reloading();
                agent.reload(config_path).await;
                systemd::ready();
            }
            _ = status_tick.tick() => systemd::status(&agent.status_line()),
        }
    }
    systemd::stopping();
    systemd::status("stopping: draining sections, writing final checkpoints");
    agent.stop().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
