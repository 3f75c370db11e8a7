//! TOML config → validated, typed [`Config`].
//!
//! Each section is deserialized on its own so that every error names the section it is in;
//! unknown keys are rejected (`deny_unknown_fields`). Relative paths are resolved against the
//! directory of the config file, so `config.example.toml` works from a fresh clone.

mod agent;
mod broker;
mod monitor;
mod output;
mod topic;

pub use agent::AgentConfig;
pub use logferry_broker::{BrokerConfig, Flush};
pub use monitor::MonitorConfig;
pub use output::{Brokers, OutputConfig};
pub use topic::{CompressedFiles, ProducerType, SectionConfig, StartAt};

use agent::{validate_agent, RawAgent};
use output::{validate_output, RawOutput};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use topic::{validate_topic, RawTopic};

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
    #[error(
        "unknown section [{0}]; expected [agent], [output], [broker], [monitor] or [topic.NAME]"
    )]
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
    /// `[monitor]`: the end-to-end canary (off unless `enabled`).
    pub monitor: MonitorConfig,
}

/// What a config file must describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `logferry run`, `check`, `status`: at least one `[topic.NAME]`.
    Agent,
    /// `logferry broker`, and `consume`/`lag` with `--brokers bundled`: only `[broker]`
    /// matters (e.g. packaging/broker.toml). Sections that are present are still validated.
    BrokerOnly,
}

impl Config {
    /// Read and validate an agent config file (at least one section).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_as(path, Mode::Agent)
    }

    /// Read and validate a config file. Relative paths resolve against the file's directory,
    /// whatever the working directory.
    pub fn load_as(path: &Path, mode: Mode) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config::parse_as(&text, &base, mode).map_err(|e| match e {
            ConfigError::Syntax { source, .. } => ConfigError::Syntax {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parse agent config text; relative paths are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Config::parse_as(text, base_dir, Mode::Agent)
    }

    /// Parse config text for `mode`; relative paths are resolved against `base_dir`.
    pub fn parse_as(text: &str, base_dir: &Path, mode: Mode) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e| ConfigError::Syntax {
            path: PathBuf::new(),
            source: Box::new(e),
        })?;
        let mut agent = None;
        let mut output = None;
        let mut broker = None;
        let mut monitor = None;
        let mut sections = Vec::new();
        for (key, value) in table {
            match key.as_str() {
                "agent" => agent = Some(de::<RawAgent>("agent", value)?),
                "output" => output = Some(de::<RawOutput>("output", value)?),
                "broker" => broker = Some(de::<BrokerConfig>("broker", value)?),
                "monitor" => {
                    monitor = Some(monitor::validate_monitor(de("monitor", value)?)?);
                }
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
        let output = match output {
            Some(o) => o,
            None => de::<RawOutput>("output", toml::Value::Table(toml::Table::new()))?,
        };
        let output = validate_output(output)?;
        let broker = broker::validate_broker(broker.unwrap_or_default(), base_dir)?;
        if sections.is_empty() && mode == Mode::Agent {
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
            monitor: monitor.unwrap_or_default(),
        })
    }

    /// Data directory of the bundled broker: `[broker] data_dir`, else `<state_dir>/broker`.
    pub fn bundled_data_dir(&self) -> PathBuf {
        self.broker
            .data_dir
            .clone()
            .unwrap_or_else(|| self.agent.state_dir.join("broker"))
    }
}

/// `--brokers` of the client commands: a bootstrap list, or "bundled" to use the address of
/// the bundled broker described by `config` (`[broker] advertised_listener`, else `listen`).
/// The config may be an agent's or a broker-only one (packaging/broker.toml).
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
    let c = Config::load_as(path, Mode::BrokerOnly)?;
    // The first listener (validated: there is one).
    Ok(c.broker.bootstrap_address().unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn checkpoint_interval_defaults_to_1_s_and_is_bounded() {
        let c = parse(SEED).expect("valid");
        assert_eq!(c.agent.checkpoint_interval, Duration::from_secs(1));
        let every_batch = SEED.replace("[agent]\n", "[agent]\ncheckpoint_interval_ms = 0\n");
        let c = parse(&every_batch).expect("valid");
        assert_eq!(c.agent.checkpoint_interval, Duration::ZERO);
        let bad = SEED.replace("[agent]\n", "[agent]\ncheckpoint_interval_ms = 60001\n");
        let e = parse(&bad).expect_err("too long").to_string();
        assert!(
            e.contains("[agent]") && e.contains("checkpoint_interval_ms = 60001"),
            "{e}"
        );
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
        let c = Config::parse(
            include_str!("../../config.example.toml"),
            Path::new("/repo"),
        )
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
    fn broker_http_listen_is_an_address_or_empty() {
        let at = |v: &str| {
            Config::parse_as(
                &format!("[broker]\nhttp_listen = \"{v}\"\n"),
                Path::new("/"),
                Mode::BrokerOnly,
            )
            .map(|c| c.broker.http_listen)
        };
        assert_eq!(
            at("127.0.0.1:9465").ok(),
            Some(Some("127.0.0.1:9465".into()))
        );
        assert_eq!(at("").ok(), Some(None));
        let e = at("localhost").expect_err("not an address").to_string();
        assert!(e.contains("http_listen"), "{e}");
    }

    #[test]
    fn duplicate_checkpoint_names_rejected() {
        let two = "[topic.a]\nlog_base_path=\"/l\"\nbase_log_fullpath=\"/l/a\"\ntopic=\"a\"\ncheckpoint_name=\"c\"\n[topic.b]\nlog_base_path=\"/l\"\nbase_log_fullpath=\"/l/b\"\ntopic=\"b\"\ncheckpoint_name=\"c\"\n";
        let e = parse(two).expect_err("dup").to_string();
        assert!(e.contains("checkpoint_name"), "{e}");
    }
}
