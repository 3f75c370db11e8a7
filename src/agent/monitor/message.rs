//! The monitor's wire format: one small, versioned JSON object per Kafka message (readable
//! with `logferry consume`), in the spirit of Kafka Monitor's `{topic, index, time,
//! producerId, content}`.
//!
//! ```text
//! {"lfmon":1,"kind":"canary","producer":"8c1f…","run":"53ab…","partition":3,"seq":17,"attempt":0,"sent_us":1732600000123456}
//! {"lfmon":1,"kind":"heartbeat","host":"app-01","run":"77e0…","seq":4,"interval_ms":1000,"written_us":1732600000123456}
//! ```
//!
//! Invariants:
//! - `seq` counts per stream (a canary stream is one producer id on one partition; a
//!   heartbeat stream is one host) and moves only when a message was acknowledged: a failed
//!   send is sent again with the same `seq` and `attempt + 1`.
//! - `run` is random per process start. A restarted producer may repeat sequence numbers it
//!   had not yet persisted; the consumer tells such replays from duplicates by `run`.
//! - A heartbeat is one line of the probe file, so its encoding never contains `\n`.

use serde::{Deserialize, Serialize};

/// Format version written by this build; others are reported, never guessed at.
pub const VERSION: u32 = 1;

/// Kafka key of the pipeline heartbeats of `host` (the probe section's `message_key`).
pub fn heartbeat_key(host: &str) -> String {
    format!("logferry-probe:{host}")
}

/// One canary message of the produce service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// Producer id, random at the first start and persisted (hex).
    pub producer: String,
    /// Random per process start (hex).
    pub run: String,
    pub partition: i32,
    pub seq: u64,
    /// 0 for the first send of `seq`, then one more per failed send.
    pub attempt: u32,
    /// Wall clock at send, µs since the Unix epoch.
    pub sent_us: u64,
}

/// One pipeline heartbeat: a line the agent wrote to its probe file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub host: String,
    pub run: String,
    pub seq: u64,
    /// The writer's interval: how often the next one is due.
    pub interval_ms: u64,
    /// Wall clock at the write to the file, µs since the Unix epoch.
    pub written_us: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Payload {
    Canary(Canary),
    Heartbeat(Heartbeat),
}

#[derive(Serialize, Deserialize)]
struct Wire {
    lfmon: u32,
    #[serde(flatten)]
    body: Payload,
}

/// Why a message of the monitor topic was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a monitor message")]
    Foreign,
    #[error("monitor message format version {0}; this build reads version {VERSION}")]
    Version(u32),
    #[error("malformed monitor message: {0}")]
    Malformed(String),
}

impl Payload {
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            lfmon: VERSION,
            body: self.clone(),
        };
        // Plain structs of strings and integers always serialize.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Payload, DecodeError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| DecodeError::Foreign)?;
        let version = match v.get("lfmon").and_then(|x| x.as_u64()) {
            None => return Err(DecodeError::Foreign),
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        };
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        serde_json::from_value::<Wire>(v)
            .map(|w| w.body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

/// A random 64-bit id as 16 hex digits (std only: a randomly keyed hasher over the time and
/// the pid; ids need to be unique, not secret).
pub fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary() -> Payload {
        Payload::Canary(Canary {
            producer: "00aa".into(),
            run: "r1".into(),
            partition: 3,
            seq: 17,
            attempt: 1,
            sent_us: 1_732_600_000_123_456,
        })
    }

    #[test]
    fn round_trip_and_exact_layout() {
        let c = canary();
        let bytes = c.encode();
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf8"),
            r#"{"lfmon":1,"kind":"canary","producer":"00aa","run":"r1","partition":3,"seq":17,"attempt":1,"sent_us":1732600000123456}"#
        );
        assert_eq!(Payload::decode(&bytes), Ok(c));
        let h = Payload::Heartbeat(Heartbeat {
            host: "app\n01".into(),
            run: "r".into(),
            seq: 0,
            interval_ms: 1000,
            written_us: 5,
        });
        let bytes = h.encode();
        assert!(!bytes.contains(&b'\n'), "a heartbeat is one line");
        assert_eq!(Payload::decode(&bytes), Ok(h));
    }

    #[test]
    fn foreign_newer_and_broken_messages_are_told_apart() {
        assert_eq!(Payload::decode(b"GET /x 200"), Err(DecodeError::Foreign));
        assert_eq!(Payload::decode(br#"{"a":1}"#), Err(DecodeError::Foreign));
        assert_eq!(
            Payload::decode(br#"{"lfmon":2,"kind":"canary"}"#),
            Err(DecodeError::Version(2))
        );
        assert!(matches!(
            Payload::decode(br#"{"lfmon":1,"kind":"canary","seq":"x"}"#),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn ids_differ() {
        let a = random_id();
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_id());
    }
}
