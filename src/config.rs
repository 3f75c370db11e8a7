//! TOML config → validated, typed [`Config`].
//!
//! Each section is deserialized on its own so that every error names the section it is in;
//! unknown keys are rejected (`deny_unknown_fields`). Relative paths are resolved against the
//! directory of the config file, so `config.example.toml` works from a fresh clone.

use crate::broker::BrokerConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {source}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("section [{section}]: {message}")]
    Section { section: String, message: String },
    #[error("unknown section [{0}]; expected [agent], [output], [broker] or [topic.NAME]")]
    UnknownSection(String),
    #[error("no [topic.NAME] section: add at least one section describing the files to ship")]
    NoSections,
}

fn section_err(section: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Section {
        section: section.to_string(),
        message: message.into(),
    }
}

/// The whole validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub agent: AgentConfig,
    pub output: OutputConfig,
    /// `[broker]`, used when `output.brokers` is "bundled" and by `logferry broker`.
    pub broker: BrokerConfig,
    /// Sections in name order.
    pub sections: Vec<SectionConfig>,
}

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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Brokers {
    /// Start the bundled broker in-process and ship to it.
    Bundled,
    /// `bootstrap.servers` of an external cluster.
    External(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    pub brokers: Brokers,
    /// Passed to librdkafka verbatim, after logferry's own settings.
    pub librdkafka: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProducerType {
    Sync,
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    Beginning,
    End,
}

/// One `[topic.NAME]` section: a stream of files shipped to one topic.
#[derive(Debug, Clone)]
pub struct SectionConfig {
    pub name: String,
    /// Directory scanned (not recursively), resolved.
    pub log_base_path: PathBuf,
    /// `log_base_path` as written; candidate paths are matched against it joined with the file name.
    pub log_base_path_raw: String,
    pub base_log_fullpath: Option<PathBuf>,
    /// Full-path match, anchored at both ends.
    pub log_name_regx: Option<fancy_regex::Regex>,
    pub log_name_regx_src: Option<String>,
    pub topic: String,
    pub client_id: String,
    pub request_required_acks: i32,
    pub producer_type: ProducerType,
    pub sender_batch_num_messages: usize,
    pub sender_waiting_max: Duration,
    pub checkpoint_name: String,
    pub start_at: StartAt,
    pub max_line_bytes: usize,
    pub rotate_wait: Duration,
    /// Kafka message key; the same for every line so the stream stays in one partition.
    pub message_key: Vec<u8>,
    /// Add `host`, `path` and `offset` headers to each message.
    pub headers: bool,
    /// Alert while the backlog is at least this many bytes.
    pub backlog_alert_bytes: Option<u64>,
    /// Alert while the oldest unshipped file is at least this old (by mtime).
    pub backlog_alert_seconds: Option<u64>,
}

impl SectionConfig {
    /// Whether two configs would ship the same way (used by SIGHUP reload to restart only
    /// changed sections). Regexes compare by source.
    pub fn same_as(&self, other: &SectionConfig) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
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
}

fn default_metrics_listen() -> String {
    "127.0.0.1:9464".to_string()
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    #[serde(default = "default_brokers")]
    brokers: String,
    #[serde(default)]
    librdkafka: BTreeMap<String, toml::Value>,
}

fn default_brokers() -> String {
    "bundled".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    log_base_path: String,
    base_log_fullpath: Option<String>,
    log_name_regx: Option<String>,
    topic: String,
    client_id: Option<String>,
    #[serde(default = "default_acks")]
    request_required_acks: i32,
    #[serde(default = "default_producer_type")]
    producer_type: ProducerType,
    #[serde(default = "default_batch")]
    sender_batch_num_messages: usize,
    #[serde(default = "default_waiting_ms")]
    sender_waiting_max_ms: u64,
    checkpoint_name: Option<String>,
    #[serde(default = "default_start_at")]
    start_at: StartAt,
    #[serde(default = "default_max_line_bytes")]
    max_line_bytes: usize,
    #[serde(default = "default_rotate_wait_ms")]
    rotate_wait_ms: u64,
    message_key: Option<String>,
    #[serde(default)]
    headers: bool,
    backlog_alert_bytes: Option<u64>,
    backlog_alert_seconds: Option<u64>,
}

fn default_acks() -> i32 {
    -1
}
fn default_producer_type() -> ProducerType {
    ProducerType::Sync
}
fn default_batch() -> usize {
    200
}
fn default_waiting_ms() -> u64 {
    50
}
fn default_start_at() -> StartAt {
    StartAt::Beginning
}
/// Below Kafka's default max.message.bytes (1048588) with room for the record batch
/// overhead, so a maximal line is never rejected by a stock broker.
fn default_max_line_bytes() -> usize {
    1_000_000
}
fn default_rotate_wait_ms() -> u64 {
    5_000
}

/// Largest line (message) accepted; librdkafka's message.max.bytes tops out near 1 GB, but a
/// log line this long is a misconfiguration.
const MAX_LINE_BYTES_LIMIT: usize = 64 * 1024 * 1024;

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Config::parse(&text, &base).map_err(|e| match e {
            ConfigError::Syntax { source, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parse config text; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            source: Box::new(e),
        })?;
        let mut agent = None;
        let mut output = None;
        let mut broker = BrokerConfig::default();
        let mut sections = Vec::new();
        for (key, value) in table {
            match key.as_str() {
                "agent" => agent = Some(de::<RawAgent>("agent", value)?),
                "output" => output = Some(de::<RawOutput>("output", value)?),
                "broker" => broker = de::<BrokerConfig>("broker", value)?,
                "topic" => {
                    let toml::Value::Table(topics) = value else {
                        return Err(section_err(
                            "topic",
                            "must hold sub-sections like [topic.NAME]",
                        ));
                    };
                    for (name, v) in topics {
                        let section = format!("topic.{name}");
                        let raw = de::<RawTopic>(&section, v)?;
                        sections.push(validate_topic(&name, raw, base_dir)?);
                    }
                }
                other => return Err(ConfigError::UnknownSection(other.to_string())),
            }
        }
        let agent = match agent {
            Some(a) => a,
            None => de::<RawAgent>("agent", toml::Value::Table(toml::Table::new()))?,
        };
        let agent = validate_agent(agent, base_dir)?;
        let output = validate_output(output.unwrap_or(RawOutput {
            brokers: default_brokers(),
            librdkafka: BTreeMap::new(),
        }))?;
        if let Some(dir) = &broker.data_dir {
            broker.data_dir = Some(resolve(base_dir, dir));
        }
        if sections.is_empty() {
            return Err(ConfigError::NoSections);
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for s in &sections {
            if let Some(other) = seen.insert(&s.checkpoint_name, &s.name) {
                return Err(section_err(
                    &format!("topic.{}", s.name),
                    format!(
                        "checkpoint_name \"{}\" is also used by [topic.{other}]; each section needs its own",
                        s.checkpoint_name
                    ),
                ));
            }
        }
        Ok(Config {
            agent,
            output,
            broker,
            sections,
        })
    }
}

/// `--brokers` of the client commands: a bootstrap list, or "bundled" to use the address of
/// the bundled broker described by `config` (`[broker] advertised_listener`, else `listen`).
pub fn resolve_brokers(brokers: &str, config: Option<&Path>) -> Result<String, ConfigError> {
    if brokers != "bundled" {
        return Ok(brokers.to_string());
    }
    let Some(path) = config else {
        return Err(section_err(
            "broker",
            "--brokers bundled needs --config FILE to find the bundled broker's address",
        ));
    };
    let c = Config::load(path)?;
    Ok(c.broker.advertised_listener.unwrap_or(c.broker.listen))
}

fn de<T: serde::de::DeserializeOwned>(section: &str, value: toml::Value) -> Result<T, ConfigError> {
    T::deserialize(value).map_err(|e| section_err(section, e.to_string()))
}

fn resolve(base: &Path, p: impl AsRef<Path>) -> PathBuf {
    let p = p.as_ref();
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn validate_agent(raw: RawAgent, base: &Path) -> Result<AgentConfig, ConfigError> {
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
    })
}

fn validate_output(raw: RawOutput) -> Result<OutputConfig, ConfigError> {
    let brokers = match raw.brokers.trim() {
        "" => {
            return Err(section_err(
                "output",
                "brokers must be \"bundled\" or a list like \"k1:9092,k2:9092\"",
            ))
        }
        "bundled" => Brokers::Bundled,
        list => Brokers::External(list.to_string()),
    };
    let mut librdkafka = BTreeMap::new();
    for (k, v) in raw.librdkafka {
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(section_err(
                    "output.librdkafka",
                    format!(
                        "\"{k}\" must be a string, number or boolean, not {}",
                        other.type_str()
                    ),
                ))
            }
        };
        librdkafka.insert(k, s);
    }
    Ok(OutputConfig {
        brokers,
        librdkafka,
    })
}

/// Kafka's legal topic names: 1..=249 of [a-zA-Z0-9._-].
fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

fn validate_topic(name: &str, raw: RawTopic, base: &Path) -> Result<SectionConfig, ConfigError> {
    let section = format!("topic.{name}");
    let err = |m: String| section_err(&section, m);
    if raw.log_base_path.is_empty() {
        return Err(err("log_base_path must not be empty".into()));
    }
    if !valid_topic(&raw.topic) {
        return Err(err(format!(
            "topic \"{}\" is not a valid Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -)",
            raw.topic
        )));
    }
    if raw.base_log_fullpath.is_none() && raw.log_name_regx.is_none() {
        return Err(err("set base_log_fullpath, log_name_regx, or both".into()));
    }
    let log_name_regx = match &raw.log_name_regx {
        Some(src) => Some(
            fancy_regex::Regex::new(&format!("^(?:{src})$")).map_err(|e| {
                err(format!(
                    "log_name_regx '{src}' is not a valid regular expression: {e}"
                ))
            })?,
        ),
        None => None,
    };
    if !matches!(raw.request_required_acks, -1..=1) {
        return Err(err(format!(
            "request_required_acks = {} is not allowed; use -1 (all in-sync replicas), 1 (leader) or 0 (no acknowledgement)",
            raw.request_required_acks
        )));
    }
    if !(1..=1_000_000).contains(&raw.sender_batch_num_messages) {
        return Err(err(format!(
            "sender_batch_num_messages = {} must be between 1 and 1000000",
            raw.sender_batch_num_messages
        )));
    }
    if raw.sender_waiting_max_ms > 900_000 {
        return Err(err(format!(
            "sender_waiting_max_ms = {} must be at most 900000",
            raw.sender_waiting_max_ms
        )));
    }
    if !(1..=MAX_LINE_BYTES_LIMIT).contains(&raw.max_line_bytes) {
        return Err(err(format!(
            "max_line_bytes = {} must be between 1 and {MAX_LINE_BYTES_LIMIT}",
            raw.max_line_bytes
        )));
    }
    let checkpoint_name = raw
        .checkpoint_name
        .unwrap_or_else(|| format!("topic_{name}"));
    if checkpoint_name.is_empty()
        || checkpoint_name.contains('/')
        || checkpoint_name.starts_with('.')
        || checkpoint_name.ends_with(".tmp")
    {
        return Err(err(format!(
            "checkpoint_name \"{checkpoint_name}\" must be a plain file name (no '/', not starting with '.', not ending in .tmp)"
        )));
    }
    let client_id = raw.client_id.unwrap_or_else(|| format!("logferry-{name}"));
    let message_key = raw
        .message_key
        .unwrap_or_else(|| name.to_string())
        .into_bytes();
    Ok(SectionConfig {
        name: name.to_string(),
        log_base_path: resolve(base, &raw.log_base_path),
        base_log_fullpath: raw.base_log_fullpath.map(|p| resolve(base, p)),
        log_name_regx,
        log_name_regx_src: raw.log_name_regx,
        log_base_path_raw: raw.log_base_path,
        topic: raw.topic,
        client_id,
        request_required_acks: raw.request_required_acks,
        producer_type: raw.producer_type,
        sender_batch_num_messages: raw.sender_batch_num_messages,
        sender_waiting_max: Duration::from_millis(raw.sender_waiting_max_ms),
        checkpoint_name,
        start_at: raw.start_at,
        max_line_bytes: raw.max_line_bytes,
        rotate_wait: Duration::from_millis(raw.rotate_wait_ms),
        message_key,
        headers: raw.headers,
        backlog_alert_bytes: raw.backlog_alert_bytes,
        backlog_alert_seconds: raw.backlog_alert_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
[agent]
state_dir = "/var/lib/logferry"
host = "app-01"

[output]
brokers = "k1:9092,k2:9092"
[output.librdkafka]
"compression.type" = "lz4"
"queue.buffering.max.kbytes" = 4096

[topic.dubheapi_access]
log_base_path = "/opt/logs/dubhe-api"
base_log_fullpath = "/opt/logs/dubhe-api/access.log"
log_name_regx = '/opt/logs/dubhe-api/access.log.*(?<!swp$)'
topic = "dubheapi_access"
client_id = "dubhe-api"
request_required_acks = -1
producer_type = "sync"
sender_batch_num_messages = 200
sender_waiting_max_ms = 50
checkpoint_name = "topic_dubheapi_access"
"#;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("/etc/logferry"))
    }

    #[test]
    fn seed_config_parses() {
        let c = parse(SEED).expect("valid");
        assert_eq!(c.agent.host, "app-01");
        assert_eq!(
            c.output.brokers,
            Brokers::External("k1:9092,k2:9092".into())
        );
        assert_eq!(c.output.librdkafka["queue.buffering.max.kbytes"], "4096");
        let s = &c.sections[0];
        assert_eq!(s.name, "dubheapi_access");
        assert_eq!(s.request_required_acks, -1);
        assert_eq!(s.producer_type, ProducerType::Sync);
        assert_eq!(s.checkpoint_name, "topic_dubheapi_access");
        assert_eq!(s.start_at, StartAt::Beginning);
        let re = s.log_name_regx.as_ref().expect("regex");
        for (p, want) in [
            ("/opt/logs/dubhe-api/access.log", true),
            ("/opt/logs/dubhe-api/access.log.2015-09-06", true),
            ("/opt/logs/dubhe-api/access.log.2015-09-06.swp", false),
            ("/opt/logs/dubhe-api/access.log.swp", false),
            ("/opt/logs/dubhe-api/error.log", false),
            ("/x/opt/logs/dubhe-api/access.log", false),
        ] {
            assert_eq!(re.is_match(p).expect("match"), want, "{p}");
        }
    }

    #[test]
    fn unknown_key_names_key_and_section() {
        let bad = SEED.replace("topic = \"dubheapi_access\"", "topic = \"t\"\ntopik = 1");
        let e = parse(&bad).expect_err("unknown key").to_string();
        assert!(
            e.contains("topic.dubheapi_access") && e.contains("topik"),
            "{e}"
        );
        let e = parse("[agent]\nstate_dirr = \"x\"\n")
            .expect_err("unknown")
            .to_string();
        assert!(e.contains("[agent]") && e.contains("state_dirr"), "{e}");
        let e = parse("[outptu]\n").expect_err("unknown").to_string();
        assert!(e.contains("outptu"), "{e}");
    }

    #[test]
    fn bad_regex_shows_pattern() {
        let bad = SEED.replace("(?<!swp$)'", "(?<!swp$'");
        let e = parse(&bad).expect_err("bad regex").to_string();
        assert!(
            e.contains("/opt/logs/dubhe-api/access.log.*(?<!swp$") && e.contains("log_name_regx"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_explained() {
        for (from, to, needle) in [
            (
                "request_required_acks = -1",
                "request_required_acks = 2",
                "request_required_acks",
            ),
            (
                "producer_type = \"sync\"",
                "producer_type = \"fast\"",
                "producer_type",
            ),
            (
                "sender_batch_num_messages = 200",
                "sender_batch_num_messages = 0",
                "sender_batch_num_messages",
            ),
            (
                "topic = \"dubheapi_access\"",
                "topic = \"bad topic\"",
                "topic",
            ),
            (
                "checkpoint_name = \"topic_dubheapi_access\"",
                "checkpoint_name = \"../x\"",
                "checkpoint_name",
            ),
        ] {
            let e = parse(&SEED.replace(from, to)).expect_err(to).to_string();
            assert!(
                e.contains("topic.dubheapi_access") && e.contains(needle),
                "{to}: {e}"
            );
        }
        let e = parse("[agent]\n").expect_err("no sections").to_string();
        assert!(e.contains("[topic.NAME]"), "{e}");
    }

    #[test]
    fn defaults_and_relative_paths() {
        let c = parse("[agent]\nstate_dir = \"state\"\n[topic.a]\nlog_base_path = \"logs\"\nbase_log_fullpath = \"logs/a.log\"\ntopic = \"a\"\n")
            .expect("valid");
        assert_eq!(c.agent.state_dir, PathBuf::from("/etc/logferry/state"));
        assert_eq!(c.output.brokers, Brokers::Bundled);
        let s = &c.sections[0];
        assert_eq!(s.log_base_path, PathBuf::from("/etc/logferry/logs"));
        assert_eq!(s.checkpoint_name, "topic_a");
        assert_eq!(s.sender_batch_num_messages, 200);
        assert_eq!(s.max_line_bytes, 1_000_000);
        assert_eq!(s.message_key, b"a");
    }

    #[test]
    fn example_config_is_valid() {
        let c = Config::parse(include_str!("../config.example.toml"), Path::new("/repo"))
            .expect("valid");
        assert_eq!(c.output.brokers, Brokers::Bundled);
        assert_eq!(c.agent.state_dir, PathBuf::from("/repo/.logferry/state"));
        assert_eq!(
            c.broker.data_dir,
            Some(PathBuf::from("/repo/.logferry/broker"))
        );
        let re = c.sections[0].log_name_regx.as_ref().expect("regex");
        assert!(re
            .is_match("samples/logs/access.log.2026-11-19")
            .expect("match"));
        assert!(!re.is_match("samples/logs/access.log.swp").expect("match"));
    }

    #[test]
    fn duplicate_checkpoint_names_rejected() {
        let two = "[topic.a]\nlog_base_path=\"/l\"\nbase_log_fullpath=\"/l/a\"\ntopic=\"a\"\ncheckpoint_name=\"c\"\n[topic.b]\nlog_base_path=\"/l\"\nbase_log_fullpath=\"/l/b\"\ntopic=\"b\"\ncheckpoint_name=\"c\"\n";
        let e = parse(two).expect_err("dup").to_string();
        assert!(e.contains("checkpoint_name"), "{e}");
    }
}
