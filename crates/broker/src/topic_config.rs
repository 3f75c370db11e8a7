//! Per-topic configuration: the overrides a topic carries (set at CreateTopics or through
//! AlterConfigs/IncrementalAlterConfigs) on top of the broker's `[broker]` settings, and the
//! effective values the log applies. Only settings this broker acts on are accepted; the
//! names and value syntax are Kafka's.

use crate::config::BrokerConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const RETENTION_MS: &str = "retention.ms";
pub const RETENTION_BYTES: &str = "retention.bytes";
pub const SEGMENT_BYTES: &str = "segment.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";

/// Every topic config key this broker knows, in DescribeConfigs order.
pub const TOPIC_KEYS: &[&str] = &[
    CLEANUP_POLICY,
    MAX_MESSAGE_BYTES,
    RETENTION_BYTES,
    RETENTION_MS,
    SEGMENT_BYTES,
];

/// How long compaction keeps a tombstone (Kafka's `delete.retention.ms` default: a day), so
/// readers that saw the old value also see its deletion.
pub const DELETE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Segment size of `__consumer_offsets`: small, so compaction (which works on closed
/// segments) keeps it near the live set.
pub const OFFSETS_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Smallest segment size honoured (Kafka's own minimum is 14 bytes; tiny segments only make
/// files).
pub const MIN_SEGMENT_BYTES: u64 = 1024;

/// Kafka's config types (DescribeConfigs v3+ `config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    Int = 3,
    Short = 4,
    Long = 5,
    List = 7,
}

/// Log cleanup: delete old segments (retention), keep the last record per key (compaction),
/// or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };

    pub fn parse(s: &str) -> Option<CleanupPolicy> {
        let mut p = CleanupPolicy::default();
        for part in s.split(',').map(str::trim) {
            match part {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                _ => return None,
            }
        }
        (p.delete || p.compact).then_some(p)
    }

    pub fn render(self) -> String {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete".into(),
            (true, false) => "compact".into(),
            _ => "delete".into(),
        }
    }
}

/// Why a config change was refused (INVALID_CONFIG).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown or unsupported topic config {0:?}")]
    UnknownKey(String),
    #[error("invalid value {value:?} for {key}: {why}")]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
}

/// A topic's overrides, as strings in Kafka syntax (validated on the way in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicOverrides(pub BTreeMap<String, String>);

/// Checks one key/value pair.
pub fn validate(key: &str, value: &str) -> Result<(), ConfigError> {
    let bad = |why| ConfigError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        why,
    };
    match key {
        RETENTION_MS | RETENTION_BYTES => match value.trim().parse::<i64>() {
            Ok(v) if v >= -1 => Ok(()),
            _ => Err(bad("want an integer >= -1")),
        },
        SEGMENT_BYTES => match value.trim().parse::<i64>() {
            Ok(v) if v >= 14 && v <= i64::from(i32::MAX) => Ok(()),
            _ => Err(bad("want an integer in 14..=2147483647")),
        },
        MAX_MESSAGE_BYTES => match value.trim().parse::<i32>() {
            Ok(v) if v >= 0 => Ok(()),
            _ => Err(bad("want an integer >= 0")),
        },
        CLEANUP_POLICY => CleanupPolicy::parse(value)
            .map(|_| ())
            .ok_or_else(|| bad("want delete, compact or compact,delete")),
        _ => Err(ConfigError::UnknownKey(key.to_string())),
    }
}

/// Effective settings of a topic: overrides, else the broker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
    pub segment_bytes: u64,
    pub cleanup: CleanupPolicy,
    pub max_message_bytes: usize,
}

/// -1 (or any negative) means "no limit".
fn limit(v: i64) -> Option<u64> {
    u64::try_from(v).ok()
}

impl TopicOverrides {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Java-properties-like text: one `key=value` per line, keys sorted.
    pub fn to_properties(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    /// Parses [`TopicOverrides::to_properties`]' output. Lines that are blank, comments, not
    /// `key=value` or not valid settings are skipped and returned, so the caller can log them.
    pub fn from_properties(text: &str) -> (TopicOverrides, Vec<String>) {
        let mut o = TopicOverrides::default();
        let mut skipped = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((k, v)) if validate(k.trim(), v.trim()).is_ok() => {
                    o.0.insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => skipped.push(line.to_string()),
            }
        }
        (o, skipped)
    }

    pub fn effective(&self, cfg: &BrokerConfig) -> Effective {
        let num = |k: &str| self.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        Effective {
            retention_ms: num(RETENTION_MS).map_or(cfg.retention_ms, limit),
            retention_bytes: num(RETENTION_BYTES).map_or(cfg.retention_bytes, limit),
            segment_bytes: num(SEGMENT_BYTES)
                .and_then(limit)
                .unwrap_or(cfg.segment_bytes)
                .clamp(MIN_SEGMENT_BYTES, 1 << 31),
            cleanup: self
                .get(CLEANUP_POLICY)
                .and_then(CleanupPolicy::parse)
                .unwrap_or(CleanupPolicy::DELETE),
            max_message_bytes: num(MAX_MESSAGE_BYTES)
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(cfg.max_request_bytes)
                .min(cfg.max_request_bytes),
        }
    }
}

/// The broker-level value behind a topic key (what a topic without an override gets), in
/// Kafka syntax, with the broker config name it comes from.
pub fn broker_default(key: &str, cfg: &BrokerConfig) -> Option<(&'static str, String)> {
    let opt = |v: Option<u64>| v.map_or("-1".to_string(), |v| v.to_string());
    Some(match key {
        RETENTION_MS => ("log.retention.ms", opt(cfg.retention_ms)),
        RETENTION_BYTES => ("log.retention.bytes", opt(cfg.retention_bytes)),
        SEGMENT_BYTES => ("log.segment.bytes", cfg.segment_bytes.to_string()),
        CLEANUP_POLICY => ("log.cleanup.policy", "delete".to_string()),
        MAX_MESSAGE_BYTES => ("message.max.bytes", cfg.max_request_bytes.to_string()),
        _ => return None,
    })
}

pub fn config_type(key: &str) -> ConfigType {
    match key {
        CLEANUP_POLICY => ConfigType::List,
        MAX_MESSAGE_BYTES => ConfigType::Int,
        _ => ConfigType::Long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_and_effective() {
        assert!(validate(RETENTION_MS, "-1").is_ok());
        assert!(validate(RETENTION_MS, "-2").is_err());
        assert!(validate(SEGMENT_BYTES, "10").is_err());
        assert!(validate(CLEANUP_POLICY, "compact, delete").is_ok());
        assert!(validate(CLEANUP_POLICY, "keep").is_err());
        assert_eq!(
            validate("min.insync.replicas", "1"),
            Err(ConfigError::UnknownKey("min.insync.replicas".into()))
        );
        let cfg = BrokerConfig {
            retention_ms: Some(1000),
            ..BrokerConfig::default()
        };
        let mut o = TopicOverrides::default();
        assert_eq!(o.effective(&cfg).retention_ms, Some(1000));
        o.0.insert(RETENTION_MS.into(), "-1".into());
        o.0.insert(SEGMENT_BYTES.into(), "20".into());
        o.0.insert(CLEANUP_POLICY.into(), "compact".into());
        let (back, skipped) =
            TopicOverrides::from_properties(&(o.to_properties() + "# c\nbogus\nx.y=1\n"));
        assert_eq!(back, o);
        assert_eq!(skipped, vec!["bogus".to_string(), "x.y=1".to_string()]);
        let e = o.effective(&cfg);
        assert_eq!(e.retention_ms, None);
        assert_eq!(e.segment_bytes, MIN_SEGMENT_BYTES);
        assert_eq!(e.cleanup, CleanupPolicy::COMPACT);
        assert_eq!(e.max_message_bytes, cfg.max_request_bytes);
    }
}
