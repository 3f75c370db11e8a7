//! `logferry run`: the agent in the foreground until SIGTERM/SIGINT; SIGHUP reloads the
//! config. The only place that installs the agent's signal handlers and talks to systemd.

use crate::agent::{Agent, AgentError};
use crate::config::{Config, ConfigError};
use crate::ops::systemd;
use std::path::Path;
use std::time::Duration;
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

/// What a stop may take beyond `shutdown_timeout_ms` (final checkpoints, the bundled
/// broker's flush, librdkafka handles destroyed) before it counts as stuck.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Sections drain for at most `shutdown_timeout_ms`, and the rest of a stop takes moments;
/// should any of it never return (librdkafka's destroy can wait forever on a reference that
/// is never released: librdkafka#4362), exit anyway after `limit` rather than hang systemd's
/// stop and the restart behind it. What was not checkpointed is sent again at the next start,
/// as after kill -9. A plain thread: the runtime may be the thing that is stuck.
fn exit_if_stuck(limit: Duration) {
    let spawned = std::thread::Builder::new()
        .name("stop-limit".into())
        .spawn(move || {
            std::thread::sleep(limit);
            tracing::error!(
                limit_ms = limit.as_millis() as u64,
                "stop did not finish in time (shutdown_timeout_ms + {} s); exiting without it",
                STOP_GRACE.as_secs()
            );
            std::process::exit(EXIT_STUCK);
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the stop time limit: {e}");
    }
}

/// Exit status of a stop that did not finish (systemd shows it; 70 is EX_SOFTWARE).
const EXIT_STUCK: i32 = 70;

pub async fn run(config_path: &Path) -> Result<(), RunError> {
    let config = Config::load(config_path)?;
    let stop_limit = config.agent.shutdown_timeout + STOP_GRACE;
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
    exit_if_stuck(stop_limit);
    agent.stop().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopped");
    Ok(())
}
