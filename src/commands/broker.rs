//! `logferry broker [--listen ADDR] [--data-dir DIR] [--http-listen ADDR] [--config FILE]`:
//! the bundled broker on its own, until SIGINT or SIGTERM (SIGHUP: reread the ACLs and the
//! users file now); with `http_listen`, also its web console, `/api/v1/status`, `/metrics`
//! and `/healthz`. `logferry broker user add|remove NAME`: the SASL users file.

use super::cli::UserAction;
use crate::config::{BrokerConfig, Config, ConfigError, Mode};
use crate::ops::console::admin::AdminToken;
use crate::ops::console::Console;
use crate::ops::endpoint::{Endpoint, EndpointError};
use logferry_broker::auth::credentials::{self, CredentialsError};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

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
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{0} has no [broker] credentials_file: set it, or pass --credentials-file")]
    NoCredentialsFile(PathBuf),
    #[error("read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    AdminToken(#[from] crate::ops::console::admin::AdminTokenError),
}

/// The `[broker]` settings (from the config file if given: an agent's config or a broker-only
/// one, relative paths resolved against the file's directory) with the flags applied on top.
/// Returns the settings and the data directory.
pub fn settings(
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    http_listen: Option<String>,
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
    if let Some(h) = http_listen {
        cfg.http_listen = Some(h).filter(|h| !h.trim().is_empty());
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
    let http = cfg.http_listen.clone();
    // Read first: a bad token file fails the start before the broker runs.
    let admin_token = match (&http, &cfg.admin_token_file) {
        (Some(_), Some(f)) => Some(AdminToken::load(f)?),
        (None, Some(_)) => {
            tracing::warn!(
                "[broker] admin_token_file without http_listen: no console to edit from, ignored"
            );
            None
        }
        (_, None) => None,
    };
    let handle = logferry_broker::start(cfg, data_dir).await?;
    let served = match http {
        None => None,
        Some(addr) => match serve_http(&addr, &handle, admin_token) {
            Ok(s) => Some(s),
            Err(e) => {
                // Stop the broker cleanly before reporting: its data dir stays consistent.
                if let Err(stop) = handle.shutdown().await {
                    tracing::error!("broker shutdown: {stop}");
                }
                return Err(e.into());
            }
        },
    };
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
    // The endpoint and the sampler hold views of the broker: release them first.
    if let Some((endpoint, stop)) = served {
        drop(endpoint);
        stop.cancel();
    }
    handle.shutdown().await?;
    Ok(())
}

/// The console for the broker alone (no agent sections), with `/metrics` of the broker's
/// families and a `/healthz` that answers while the broker runs.
fn serve_http(
    addr: &str,
    handle: &logferry_broker::BrokerHandle,
    admin_token: Option<AdminToken>,
) -> Result<(Endpoint, CancellationToken), EndpointError> {
    let view = handle.view();
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".to_string());
    let mut console = Console::new(host, None, Some(view.clone()));
    if let Some(t) = admin_token {
        console = console.with_admin_token(t);
    }
    let console = Arc::new(console);
    let stop = CancellationToken::new();
    tokio::spawn(console.clone().run_sampler(stop.clone()));
    let mut reg = prometheus_client::registry::Registry::default();
    view.register_metrics(&mut reg);
    let render: crate::ops::endpoint::RenderFn = Arc::new(move || {
        view.refresh_metrics();
        crate::ops::metrics::encode(&reg)
    });
    match Endpoint::start(
        "[broker] http_listen",
        addr,
        render,
        Arc::new(|| Ok(())),
        Some(console),
    ) {
        Ok(e) => Ok((e, stop)),
        Err(e) => {
            stop.cancel();
            Err(e)
        }
    }
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
