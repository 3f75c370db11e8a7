//! `[agent]`: the process-wide settings (state directory, endpoint, alert command).

use super::{resolve, section_err, ConfigError};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub state_dir: PathBuf,
    pub host: String,
    pub shutdown_timeout: Duration,
    pub rescan_interval: Duration,
    /// Address of the /metrics and /healthz endpoint; None when disabled ("").
    pub metrics_listen: Option<String>,
    /// Run on each backlog alert transition (via `sh -c`), with LOGFERRY_* variables.
    pub alert_command: Option<String>,
    pub alert_command_timeout: Duration,
    /// Descriptors each section may hold on the files it follows (see README "How files are
    /// followed").
    pub max_open_files: usize,
    /// Least time between two checkpoint writes of a section (each is a write, two fsyncs
    /// and a rename); the effective interval is never below the section's
    /// `sender_waiting_max_ms`.
    pub checkpoint_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    #[serde(default = "default_state_dir")]
    state_dir: String,
    host: Option<String>,
    #[serde(default = "default_shutdown_timeout_ms")]
    shutdown_timeout_ms: u64,
    #[serde(default = "default_rescan_interval_ms")]
    rescan_interval_ms: u64,
    #[serde(default = "default_metrics_listen")]
    metrics_listen: String,
    alert_command: Option<String>,
    #[serde(default = "default_alert_command_timeout_ms")]
    alert_command_timeout_ms: u64,
    #[serde(default = "default_max_open_files")]
    max_open_files: usize,
    #[serde(default = "default_checkpoint_interval_ms")]
    checkpoint_interval_ms: u64,
}

fn default_metrics_listen() -> String {
    "127.0.0.1:9464".to_string()
}
/// Filebeat's `filebeat.registry.flush` default (elastic/beats#31473, for the same reason:
/// each write is two fsyncs and a rename; a crash re-sends at most this much).
fn default_checkpoint_interval_ms() -> u64 {
    1000
}
fn default_max_open_files() -> usize {
    1024
}
fn default_alert_command_timeout_ms() -> u64 {
    10_000
}

fn default_state_dir() -> String {
    "/var/lib/logferry".to_string()
}
fn default_shutdown_timeout_ms() -> u64 {
    10_000
}
fn default_rescan_interval_ms() -> u64 {
    5_000
}

pub(super) fn validate_agent(raw: RawAgent, base: &Path) -> Result<AgentConfig, ConfigError> {
    if raw.state_dir.is_empty() {
        return Err(section_err("agent", "state_dir must not be empty"));
    }
    let host = match raw.host {
        Some(h) if !h.is_empty() => h,
        Some(_) => {
            return Err(section_err(
                "agent",
                "host must not be empty (omit it to use the hostname)",
            ))
        }
        None => hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string()),
    };
    if !(1..=1_000_000).contains(&raw.max_open_files) {
        return Err(section_err(
            "agent",
            format!(
                "max_open_files = {} must be between 1 and 1000000 (descriptors per section; the unit's LimitNOFILE must allow them)",
                raw.max_open_files
            ),
        ));
    }
    if raw.checkpoint_interval_ms > 60_000 {
        return Err(section_err(
            "agent",
            format!(
                "checkpoint_interval_ms = {} must be at most 60000 (lines acknowledged after the last checkpoint are sent again after a crash)",
                raw.checkpoint_interval_ms
            ),
        ));
    }
    if raw.rescan_interval_ms == 0 {
        return Err(section_err(
            "agent",
            "rescan_interval_ms must be at least 1",
        ));
    }
    let metrics_listen = match raw.metrics_listen.trim() {
        "" => None,
        addr => {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(section_err(
                    "agent",
                    format!("metrics_listen \"{addr}\" is not an address like \"127.0.0.1:9464\" (\"\" disables the endpoint)"),
                ));
            }
            Some(addr.to_string())
        }
    };
    Ok(AgentConfig {
        state_dir: resolve(base, &raw.state_dir),
        host,
        shutdown_timeout: Duration::from_millis(raw.shutdown_timeout_ms),
        rescan_interval: Duration::from_millis(raw.rescan_interval_ms),
        metrics_listen,
        alert_command: raw.alert_command.filter(|c| !c.trim().is_empty()),
        alert_command_timeout: Duration::from_millis(raw.alert_command_timeout_ms),
        max_open_files: raw.max_open_files,
        checkpoint_interval: Duration::from_millis(raw.checkpoint_interval_ms),
    })
}
