//! `[broker]`: the bundled broker's settings. One loader for every user of the section (the
//! agent's bundled broker, `logferry broker`, `consume`/`lag --brokers bundled`), so a
//! relative `data_dir` means the same directory to all of them: relative to the config file.

use super::{resolve, section_err, ConfigError};
use logferry_broker::BrokerConfig;
use std::path::Path;

pub(super) fn validate_broker(
    mut b: BrokerConfig,
    base: &Path,
) -> Result<BrokerConfig, ConfigError> {
    if let Some(dir) = &b.data_dir {
        if dir.as_os_str().is_empty() {
            return Err(section_err(
                "broker",
                "data_dir must not be empty (omit it to use <state_dir>/broker)",
            ));
        }
        b.data_dir = Some(resolve(base, dir));
    }
    if b.listen.trim().is_empty() {
        return Err(section_err(
            "broker",
            "listen must be an address like \"127.0.0.1:9092\"",
        ));
    }
    // "" disables the endpoint, as `metrics_listen = ""` does.
    if b.http_listen
        .as_deref()
        .is_some_and(|a| a.trim().is_empty())
    {
        b.http_listen = None;
    }
    if let Some(a) = &b.http_listen {
        if a.parse::<std::net::SocketAddr>().is_err() {
            return Err(section_err(
                "broker",
                format!("http_listen \"{a}\" is not an address like \"127.0.0.1:9465\" (\"\" disables it)"),
            ));
        }
    }
    if b.num_partitions == 0 {
        return Err(section_err("broker", "num_partitions must be at least 1"));
    }
    Ok(b)
}
