//! `[topic.NAME]`: one stream of files shipped to one topic (the seed's per-topic section).

use super::{resolve, section_err, ConfigError};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProducerType {
    Sync,
    Async,
}

/// `compressed_files`: what to do with a compressed file that continues no known file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressedFiles {
    Decompress,
    Skip,
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
    /// A compressed file (gzip, zstd) that continues no file the section knows: ship its
    /// decompressed content, or skip it with a warning.
    pub compressed_files: CompressedFiles,
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
pub(super) struct RawTopic {
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
    #[serde(default = "default_compressed_files")]
    compressed_files: CompressedFiles,
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
fn default_compressed_files() -> CompressedFiles {
    CompressedFiles::Decompress
}
fn default_rotate_wait_ms() -> u64 {
    5_000
}

/// Largest line (message) accepted; librdkafka's message.max.bytes tops out near 1 GB, but a
/// log line this long is a misconfiguration.
const MAX_LINE_BYTES_LIMIT: usize = 64 * 1024 * 1024;

/// Kafka's legal topic names: 1..=249 of [a-zA-Z0-9._-].
fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 249
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

pub(super) fn validate_topic(
    name: &str,
    raw: RawTopic,
    base: &Path,
) -> Result<SectionConfig, ConfigError> {
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
        compressed_files: raw.compressed_files,
        message_key,
        headers: raw.headers,
        backlog_alert_bytes: raw.backlog_alert_bytes,
        backlog_alert_seconds: raw.backlog_alert_seconds,
    })
}
