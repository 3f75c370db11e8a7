//! The `[broker]` config section, shared by `logferry broker` and the agent's bundled broker.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// When appended record batches are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flush {
    /// `flush = "ack"`: fdatasync (group-committed) before answering acks=-1/1.
    Ack(FlushAck),
    /// `flush = 1000`: fsync every N ms; acks are answered once the batch is in the page cache.
    IntervalMs(u64),
}

/// The literal string "ack".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlushAck {
    Ack,
}

impl Default for Flush {
    fn default() -> Self {
        Flush::Ack(FlushAck::Ack)
    }
}

/// `[broker]`. Every key is optional.
///
/// Listeners: `listen` is the PLAINTEXT listener (named "PLAINTEXT"); `[[broker.listener]]`
/// entries add more (TLS, SASL). When entries are given and `listen` is not, only the entries
/// listen (e.g. a SASL_SSL-only broker); `listen = ""` says the same explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawBrokerConfig")]
pub struct BrokerConfig {
    /// PLAINTEXT address to bind, e.g. "127.0.0.1:9092" (port 0 picks a free port); "" for
    /// none.
    pub listen: String,
    /// host:port advertised in Metadata; defaults to the bound address.
    pub advertised_listener: Option<String>,
    /// Where topics and committed offsets live. For the bundled broker it defaults to
    /// `<state_dir>/broker`.
    pub data_dir: Option<PathBuf>,
    /// Partitions of auto-created topics.
    pub num_partitions: u32,
    pub flush: Flush,
    /// Delete whole old segments once a partition exceeds this many bytes.
    pub retention_bytes: Option<u64>,
    /// Delete whole old segments whose newest record is older than this.
    pub retention_ms: Option<u64>,
    /// Roll a new segment past this size.
    pub segment_bytes: u64,
    /// Largest request frame accepted; a longer length prefix closes the connection.
    pub max_request_bytes: usize,
    /// How long an empty group waits for more members before its first rebalance completes
    /// (Kafka's group.initial.rebalance.delay.ms).
    pub group_initial_rebalance_delay_ms: u64,
    /// Where `logferry broker` serves its web console, `/api/v1/status`, `/metrics` and
    /// `/healthz` (e.g. "127.0.0.1:9465"); None: not served. Not used by this crate (it
    /// speaks only Kafka), nor by the agent's bundled broker (its `metrics_listen` serves
    /// the same pages).
    pub http_listen: Option<String>,
    /// A file holding the web console's admin token (one line, at least 16 characters):
    /// with it, the console offers ACL edits to whoever presents the token (`Authorization:
    /// Bearer`); without it, the console is read-only. Read at start. Not used by this crate
    /// (the console is the `logferry` binary's), as `http_listen`.
    pub admin_token_file: Option<PathBuf>,
    /// More listeners: `[[broker.listener]]`.
    pub listener: Vec<ListenerConfig>,
    /// SCRAM credentials of the SASL users (`logferry broker user add|remove`), reread with
    /// the ACLs. Needed by any SASL listener.
    pub credentials_file: Option<PathBuf>,
    /// Principals allowed everything, whatever the ACLs say (Kafka's super.users), e.g.
    /// "User:admin".
    pub super_users: Vec<String>,
    /// Authorize every request against the ACLs. Off: any client may do anything (as before).
    pub acl_enabled: bool,
    /// The ACL file (TOML); the ACL admin APIs edit it in place.
    pub acl_file: Option<PathBuf>,
    /// A remote ACL source (plain HTTP GET of the same TOML) instead of `acl_file`; read-only.
    pub acl_url: Option<String>,
    /// How often the ACL source (and the credentials file) is reread.
    pub acl_refresh_ms: u64,
    /// The last good ACL copy, used when the source is unreadable or invalid. Defaults to
    /// `<data_dir>/acl-backup.toml`.
    pub acl_backup_path: Option<PathBuf>,
}

/// `[[broker.listener]]`: one more address to serve on, with its security protocol (Kafka's
/// listeners + listener.security.protocol.map + advertised.listeners, per entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Name in logs and metrics, e.g. "external"; unique.
    pub name: String,
    /// Address to bind, e.g. "0.0.0.0:9093".
    pub listen: String,
    /// host:port given to clients in Metadata when they connect here; defaults to the bound
    /// address.
    #[serde(default)]
    pub advertised: Option<String>,
    pub security_protocol: SecurityProtocol,
    /// PEM certificate chain (SSL, SASL_SSL).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (SSL, SASL_SSL).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: client certificates signed by them are required (mutual TLS);
    /// the client's subject becomes its principal on SSL listeners.
    #[serde(default)]
    pub tls_client_ca: Option<PathBuf>,
    /// SASL mechanisms offered (SASL_PLAINTEXT, SASL_SSL).
    #[serde(default = "default_mechanisms")]
    pub sasl_mechanisms: Vec<SaslMechanism>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SaslMechanism {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
    pub fn parse(s: &str) -> Option<SaslMechanism> {
        [
            SaslMechanism::Plain,
            SaslMechanism::ScramSha256,
            SaslMechanism::ScramSha512,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// PLAIN sends the password itself: offered only when asked for.
fn default_mechanisms() -> Vec<SaslMechanism> {
    vec![SaslMechanism::ScramSha512, SaslMechanism::ScramSha256]
}

/// One listener after resolution: `listen` (PLAINTEXT) first, then the entries in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub listen: String,
    pub advertised: Option<String>,
    pub protocol: SecurityProtocol,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
    pub sasl_mechanisms: Vec<SaslMechanism>,
}

/// Why a `[broker]` section cannot work.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigCheckError(pub String);

impl BrokerConfig {
    /// Every listener, the PLAINTEXT `listen` first: the first one is what the agent's
    /// bundled broker hands to its own producers (`bootstrap_servers`).
    pub fn listeners(&self) -> Vec<Listener> {
        let mut out = Vec::new();
        if !self.listen.trim().is_empty() {
            out.push(Listener {
                name: "PLAINTEXT".to_string(),
                listen: self.listen.clone(),
                advertised: self.advertised_listener.clone(),
                protocol: SecurityProtocol::Plaintext,
                tls_cert: None,
                tls_key: None,
                tls_client_ca: None,
                sasl_mechanisms: Vec::new(),
            });
        }
        for l in &self.listener {
            out.push(Listener {
                name: l.name.clone(),
                listen: l.listen.clone(),
                advertised: l.advertised.clone(),
                protocol: l.security_protocol,
                tls_cert: l.tls_cert.clone(),
                tls_key: l.tls_key.clone(),
                tls_client_ca: l.tls_client_ca.clone(),
                sasl_mechanisms: l.sasl_mechanisms.clone(),
            });
        }
        out
    }

    /// The address clients of the first listener are given (`--brokers bundled`), if any
    /// listener is configured.
    pub fn bootstrap_address(&self) -> Option<String> {
        self.listeners()
            .into_iter()
            .next()
            .map(|l| l.advertised.unwrap_or(l.listen))
    }

    /// Checks what serde cannot: listeners present, unique names, TLS files for TLS
    /// protocols, mechanisms and credentials for SASL, an ACL source when ACLs are on.
    pub fn check(&self) -> Result<(), ConfigCheckError> {
        let bad = |m: String| Err(ConfigCheckError(m));
        let listeners = self.listeners();
        if listeners.is_empty() {
            return bad("no listener: set listen or add a [[broker.listener]] entry".to_string());
        }
        let mut names = std::collections::HashSet::new();
        for l in &listeners {
            if !names.insert(l.name.as_str()) {
                return bad(format!("listener name {:?} is used twice", l.name));
            }
            if l.listen.trim().is_empty() {
                return bad(format!("listener {:?}: listen must be an address", l.name));
            }
            if l.protocol.tls() && (l.tls_cert.is_none() || l.tls_key.is_none()) {
                return bad(format!(
                    "listener {:?} ({}): tls_cert and tls_key are required",
                    l.name,
                    l.protocol.as_str()
                ));
            }
            if !l.protocol.tls()
                && (l.tls_cert.is_some() || l.tls_key.is_some() || l.tls_client_ca.is_some())
            {
                return bad(format!(
                    "listener {:?} ({}): tls_* settings need SSL or SASL_SSL",
                    l.name,
                    l.protocol.as_str()
                ));
            }
            if l.protocol.sasl() {
                if l.sasl_mechanisms.is_empty() {
                    return bad(format!("listener {:?}: sasl_mechanisms is empty", l.name));
                }
                if self.credentials_file.is_none() {
                    return bad(format!(
                        "listener {:?} ({}) needs credentials_file (logferry broker user add)",
                        l.name,
                        l.protocol.as_str()
                    ));
                }
            }
        }
        for u in &self.super_users {
            if crate::acl::Principal::parse(u).is_none() {
                return bad(format!(
                    "super_users: {u:?} is not a principal like \"User:admin\""
                ));
            }
        }
        if self.acl_enabled {
            match (&self.acl_file, &self.acl_url) {
                (None, None) => {
                    return bad("acl_enabled needs acl_file or acl_url".to_string());
                }
                (Some(_), Some(_)) => {
                    return bad("set acl_file or acl_url, not both".to_string());
                }
                _ => {}
            }
            if let Some(u) = &self.acl_url {
                if !u.starts_with("http://") {
                    return bad(format!("acl_url {u:?}: only http:// URLs are read"));
                }
            }
            if self.acl_refresh_ms == 0 {
                return bad("acl_refresh_ms must be at least 1".to_string());
            }
        }
        Ok(())
    }
}

/// What the file says, before the listener default is applied: `listen` absent and
/// `[[broker.listener]]` entries present means no PLAINTEXT listener.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBrokerConfig {
    listen: Option<String>,
    advertised_listener: Option<String>,
    data_dir: Option<PathBuf>,
    num_partitions: u32,
    flush: Flush,
    retention_bytes: Option<u64>,
    retention_ms: Option<u64>,
    segment_bytes: u64,
    max_request_bytes: usize,
    group_initial_rebalance_delay_ms: u64,
    http_listen: Option<String>,
    admin_token_file: Option<PathBuf>,
    listener: Vec<ListenerConfig>,
    credentials_file: Option<PathBuf>,
    super_users: Vec<String>,
    acl_enabled: bool,
    acl_file: Option<PathBuf>,
    acl_url: Option<String>,
    acl_refresh_ms: u64,
    acl_backup_path: Option<PathBuf>,
}

impl Default for RawBrokerConfig {
    fn default() -> Self {
        let d = BrokerConfig::default();
        RawBrokerConfig {
            listen: None,
            advertised_listener: d.advertised_listener,
            data_dir: d.data_dir,
            num_partitions: d.num_partitions,
            flush: d.flush,
            retention_bytes: d.retention_bytes,
            retention_ms: d.retention_ms,
            segment_bytes: d.segment_bytes,
            max_request_bytes: d.max_request_bytes,
            group_initial_rebalance_delay_ms: d.group_initial_rebalance_delay_ms,
            http_listen: d.http_listen,
            admin_token_file: d.admin_token_file,
            listener: d.listener,
            credentials_file: d.credentials_file,
            super_users: d.super_users,
            acl_enabled: d.acl_enabled,
            acl_file: d.acl_file,
            acl_url: d.acl_url,
            acl_refresh_ms: d.acl_refresh_ms,
            acl_backup_path: d.acl_backup_path,
        }
    }
}

impl From<RawBrokerConfig> for BrokerConfig {
    fn from(r: RawBrokerConfig) -> Self {
        let listen = match r.listen {
            Some(l) => l,
            None if r.listener.is_empty() => BrokerConfig::default().listen,
            None => String::new(),
        };
        BrokerConfig {
            listen,
            advertised_listener: r.advertised_listener,
            data_dir: r.data_dir,
            num_partitions: r.num_partitions,
            flush: r.flush,
            retention_bytes: r.retention_bytes,
            retention_ms: r.retention_ms,
            segment_bytes: r.segment_bytes,
            max_request_bytes: r.max_request_bytes,
            group_initial_rebalance_delay_ms: r.group_initial_rebalance_delay_ms,
            http_listen: r.http_listen,
            admin_token_file: r.admin_token_file,
            listener: r.listener,
            credentials_file: r.credentials_file,
            super_users: r.super_users,
            acl_enabled: r.acl_enabled,
            acl_file: r.acl_file,
            acl_url: r.acl_url,
            acl_refresh_ms: r.acl_refresh_ms,
            acl_backup_path: r.acl_backup_path,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: "127.0.0.1:9092".to_string(),
            advertised_listener: None,
            data_dir: None,
            num_partitions: 1,
            flush: Flush::default(),
            retention_bytes: None,
            retention_ms: None,
            segment_bytes: 128 * 1024 * 1024,
            max_request_bytes: 100 * 1024 * 1024,
            group_initial_rebalance_delay_ms: 3000,
            http_listen: None,
            admin_token_file: None,
            listener: Vec::new(),
            credentials_file: None,
            super_users: Vec::new(),
            acl_enabled: false,
            acl_file: None,
            acl_url: None,
            acl_refresh_ms: 30_000,
            acl_backup_path: None,
        }
    }
}
