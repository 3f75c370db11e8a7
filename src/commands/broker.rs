//! `logferry broker [--listen ADDR] [--data-dir DIR] [--config FILE]`: the bundled broker on
//! its own, until SIGINT or SIGTERM.

use crate::config::{BrokerConfig, Config, ConfigError, Mode};
use std::path::{Path, PathBuf};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, thiserror::Error)]
pub enum BrokerCommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no data directory: pass --data-dir DIR or set [broker] data_dir in the config")]
    NoDataDir,
    #[error("cannot install signal handlers: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Broker(#[from] logferry_broker::BrokerError),
}

/// The `[broker]` settings (from the config file if given: an agent's config or a broker-only
/// one, relative paths resolved against the file's directory) with the flags applied on top.
/// Returns the settings and the data directory.
pub fn settings(
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    config: Option<&Path>,
) -> Result<(BrokerConfig, PathBuf), BrokerCommandError> {
    let mut cfg = match config {
        None => BrokerConfig::default(),
        Some(path) => Config::load_as(path, Mode::BrokerOnly)?.broker,
    };
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(d) = data_dir {
        cfg.data_dir = Some(d);
    }
    let dir = cfg.data_dir.clone().ok_or(BrokerCommandError::NoDataDir)?;
    Ok((cfg, dir))
}

/// Serve until SIGINT or SIGTERM, then stop cleanly (final flush, clean-shutdown marker).
pub async fn run(cfg: BrokerConfig, data_dir: PathBuf) -> Result<(), BrokerCommandError> {
    let mut term = signal(SignalKind::terminate()).map_err(BrokerCommandError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(BrokerCommandError::Signal)?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    logferry_broker::serve(cfg, data_dir, shutdown).await?;
    Ok(())
}
