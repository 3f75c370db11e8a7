//! `logferry broker [--listen ADDR] [--data-dir DIR] [--config FILE]`: the bundled broker on
//! its own, until SIGINT or SIGTERM (SIGHUP: reread the ACLs and the users file now).
//! `logferry broker user add|remove NAME`: the SASL users file.

use super::cli::UserAction;
use crate::config::{BrokerConfig, Config, ConfigError, Mode};
use logferry_broker::auth::credentials::{self, CredentialsError};
use std::io::BufRead;
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
    #[error("{0} has no [broker] credentials_file: set it, or pass --credentials-file")]
    NoCredentialsFile(PathBuf),
    #[error("read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
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
/// SIGHUP rereads the ACL source and the users file at once (they are also reread every
/// `acl_refresh_ms`).
pub async fn run(cfg: BrokerConfig, data_dir: PathBuf) -> Result<(), BrokerCommandError> {
    let mut term = signal(SignalKind::terminate()).map_err(BrokerCommandError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(BrokerCommandError::Signal)?;
    let mut hup = signal(SignalKind::hangup()).map_err(BrokerCommandError::Signal)?;
    let handle = logferry_broker::start(cfg, data_dir).await?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: rereading the ACLs and the users file");
                handle.reload_security();
            }
        }
    }
    handle.shutdown().await?;
    Ok(())
}

/// `logferry broker user add|remove NAME`: returns what was done, for the user.
pub fn user(action: UserAction) -> Result<String, BrokerCommandError> {
    let file = |config: Option<PathBuf>, direct: Option<PathBuf>| match (config, direct) {
        (_, Some(f)) => Ok(f),
        (Some(c), None) => Config::load_as(&c, Mode::BrokerOnly)?
            .broker
            .credentials_file
            .ok_or(BrokerCommandError::NoCredentialsFile(c)),
        (None, None) => Err(BrokerCommandError::NoCredentialsFile(PathBuf::from("-"))),
    };
    match action {
        UserAction::Add {
            name,
            config,
            credentials_file,
        } => {
            let path = file(config, credentials_file)?;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(BrokerCommandError::Stdin)?;
            let password = line.strip_suffix('\n').unwrap_or(&line);
            let password = password.strip_suffix('\r').unwrap_or(password);
            let existed = credentials::add_user(&path, &name, password)?;
            Ok(format!(
                "{} user {name} in {} (a running broker picks it up within acl_refresh_ms, or at once on SIGHUP)",
                if existed { "replaced the password of" } else { "added" },
                path.display()
            ))
        }
        UserAction::Remove {
            name,
            config,
            credentials_file,
        } => {
            let path = file(config, credentials_file)?;
            if credentials::remove_user(&path, &name)? {
                Ok(format!("removed user {name} from {}", path.display()))
            } else {
                Ok(format!("no user {name} in {}", path.display()))
            }
        }
    }
}
