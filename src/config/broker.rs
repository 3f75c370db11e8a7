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
    // Every file the section names is relative to the config file, as data_dir.
    for p in [
        &mut b.credentials_file,
        &mut b.acl_file,
        &mut b.acl_backup_path,
        &mut b.admin_token_file,
    ] {
        if let Some(f) = p.as_mut() {
            *f = resolve(base, &*f);
        }
    }
    for l in &mut b.listener {
        for p in [&mut l.tls_cert, &mut l.tls_key, &mut l.tls_client_ca] {
            if let Some(f) = p.as_mut() {
                *f = resolve(base, &*f);
            }
        }
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
    // Listeners, TLS files, SASL credentials, ACL source: the broker's own checks.
    b.check()
        .map_err(|e| section_err("broker", e.to_string()))?;
    Ok(b)
}
