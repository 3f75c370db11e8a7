//! Kafka's record schema of `__consumer_offsets` (group-coordinator's OffsetCommitKey,
//! OffsetCommitValue, GroupMetadataKey and GroupMetadataValue JSON schemas, Kafka 3.9): a
//! record key is an int16 version then the key struct, a value an int16 version then the
//! value struct; a null value is a tombstone. These schemas are not in the kafka-protocol
//! crate (it generates `clients/.../message` only, and its field codecs are crate-private), so
//! they are encoded here, field by field from the JSON, and tested against bytes written out
//! by hand from it.
//!
//! What is written (what Burrow 1.2 and Kafka 3.9 both read): OffsetCommitKey v1,
//! OffsetCommitValue v3 (v1 when an expire timestamp is set, as Kafka), GroupMetadataKey v2,
//! GroupMetadataValue v1 (Kafka's choice for inter.broker.protocol 0.10.1–2.0: Burrow reads
//! group metadata v0/v1 only). Every version Kafka 3.9 defines is read (non-flexible ones;
//! v4 values are flexible and only written by Kafka's new coordinator: skipped, logged).

use bytes::{Buf, BufMut, Bytes};

/// Key versions: offset commits use 0 and 1 (same layout), group metadata 2.
pub const OFFSET_KEY_VERSION: i16 = 1;
pub const GROUP_KEY_VERSION: i16 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("record has no key")]
    NoKey,
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("invalid UTF-8 in {0}")]
    Utf8(&'static str),
    #[error("unsupported {what} version {version}")]
    Version { what: &'static str, version: i16 },
}

/// A record key of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group(String),
}

/// OffsetCommitValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    /// -1 when unknown (and in versions before 3).
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in version 1; -1 for none.
    pub expire_timestamp: i64,
}

/// GroupMetadataValue's MemberMetadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// GroupMetadataValue (fields of version 1; later versions' extra fields are read and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: Vec<Member>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Kafka strings are at most i16::MAX bytes; callers check names (group ids, topics).
    let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.put_i16(b.len() as i16);
    out.put_slice(b);
}

fn put_nullable_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.put_i16(-1),
        Some(s) => put_str(out, s),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_i32(b.len() as i32);
    out.put_slice(b);
}

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        match self {
            Key::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_i16(OFFSET_KEY_VERSION);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.put_i32(*partition);
            }
            Key::Group(group) => {
                out.put_i16(GROUP_KEY_VERSION);
                put_str(&mut out, group);
            }
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<Key, SchemaError> {
        let r = &mut b;
        match i16(r, "key version")? {
            0 | 1 => Ok(Key::Offset {
                group: string(r, "group")?,
                topic: string(r, "topic")?,
                partition: i32(r, "partition")?,
            }),
            2 => Ok(Key::Group(string(r, "group")?)),
            version => Err(SchemaError::Version {
                what: "key",
                version,
            }),
        }
    }
}

impl OffsetValue {
    /// Version 3, or 1 when an expire timestamp is set (Kafka's rule).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.metadata.len());
        if self.expire_timestamp >= 0 {
            out.put_i16(1);
            out.put_i64(self.offset);
            put_str(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp);
            out.put_i64(self.expire_timestamp);
        } else {
            out.put_i16(3);
            out.put_i64(self.offset);
            out.put_i32(self.leader_epoch);
            put_str(&mut out, &self.metadata);
            out.put_i64(self.commit_timestamp);
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<OffsetValue, SchemaError> {
        let r = &mut b;
        let version = i16(r, "value version")?;
        if !(0..=3).contains(&version) {
            return Err(SchemaError::Version {
                what: "offset commit value",
                version,
            });
        }
        let offset = i64(r, "offset")?;
        let leader_epoch = if version >= 3 {
            i32(r, "leader epoch")?
        } else {
            -1
        };
        let metadata = string(r, "metadata")?;
        let commit_timestamp = i64(r, "commit timestamp")?;
        let expire_timestamp = if version == 1 {
            i64(r, "expire timestamp")?
        } else {
            -1
        };
        Ok(OffsetValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
            expire_timestamp,
        })
    }
}

impl GroupValue {
    /// Version 1.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.put_i16(1);
        put_str(&mut out, &self.protocol_type);
        out.put_i32(self.generation);
        put_nullable_str(&mut out, self.protocol.as_deref());
        put_nullable_str(&mut out, self.leader.as_deref());
        out.put_i32(self.members.len() as i32);
        for m in &self.members {
            put_str(&mut out, &m.member_id);
            put_str(&mut out, &m.client_id);
            put_str(&mut out, &m.client_host);
            out.put_i32(m.rebalance_timeout);
            out.put_i32(m.session_timeout);
            put_bytes(&mut out, &m.subscription);
            put_bytes(&mut out, &m.assignment);
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<GroupValue, SchemaError> {
        let r = &mut b;
        let version = i16(r, "value version")?;
        if !(0..=3).contains(&version) {
            return Err(SchemaError::Version {
                what: "group metadata value",
                version,
            });
        }
        let protocol_type = string(r, "protocol type")?;
        let generation = i32(r, "generation")?;
        let protocol = nullable_string(r, "protocol")?;
        let leader = nullable_string(r, "leader")?;
        if version >= 2 {
            i64(r, "current state timestamp")?;
        }
        let count = i32(r, "member count")?;
        let mut members = Vec::new();
        for _ in 0..count.max(0) {
            let member_id = string(r, "member id")?;
            if version >= 3 {
                nullable_string(r, "group instance id")?;
            }
            let client_id = string(r, "client id")?;
            let client_host = string(r, "client host")?;
            let rebalance_timeout = if version >= 1 {
                i32(r, "rebalance timeout")?
            } else {
                -1
            };
            members.push(Member {
                member_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout: i32(r, "session timeout")?,
                subscription: bytes(r, "subscription")?,
                assignment: bytes(r, "assignment")?,
            });
        }
        Ok(GroupValue {
            protocol_type,
            generation,
            protocol,
            leader,
            members,
        })
    }
}

fn need(r: &[u8], n: usize, what: &'static str) -> Result<(), SchemaError> {
    if r.remaining() < n {
        return Err(SchemaError::Truncated(what));
    }
    Ok(())
}

fn i16(r: &mut &[u8], what: &'static str) -> Result<i16, SchemaError> {
    need(r, 2, what)?;
    Ok(r.get_i16())
}

fn i32(r: &mut &[u8], what: &'static str) -> Result<i32, SchemaError> {
    need(r, 4, what)?;
    Ok(r.get_i32())
}

fn i64(r: &mut &[u8], what: &'static str) -> Result<i64, SchemaError> {
    need(r, 8, what)?;
    Ok(r.get_i64())
}

fn nullable_string(r: &mut &[u8], what: &'static str) -> Result<Option<String>, SchemaError> {
    let n = i16(r, what)?;
    if n < 0 {
        return Ok(None);
    }
    need(r, n as usize, what)?;
    let s = std::str::from_utf8(&r[..n as usize]).map_err(|_| SchemaError::Utf8(what))?;
    let s = s.to_string();
    r.advance(n as usize);
    Ok(Some(s))
}

fn string(r: &mut &[u8], what: &'static str) -> Result<String, SchemaError> {
    Ok(nullable_string(r, what)?.unwrap_or_default())
}

fn bytes(r: &mut &[u8], what: &'static str) -> Result<Bytes, SchemaError> {
    let n = i32(r, what)?;
    if n < 0 {
        return Ok(Bytes::new());
    }
    need(r, n as usize, what)?;
    let b = Bytes::copy_from_slice(&r[..n as usize]);
    r.advance(n as usize);
    Ok(b)
}

#[cfg(test)]
mod tests;
