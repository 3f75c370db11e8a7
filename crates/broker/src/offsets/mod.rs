//! Committed offsets and group metadata, kept as records of the compacted internal topic
//! `__consumer_offsets` (partition 0) in Kafka's own schema ([`schema`]), so that tools which
//! read that topic (Burrow) see them. The in-memory view answers OffsetFetch; it is rebuilt
//! at start by replaying the topic, and the offsets file of earlier versions is migrated
//! into the topic once ([`legacy_file`]).
//!
//! Invariants: a commit is visible (OffsetFetch, lag) only once its record is durable as the
//! `flush` setting says (`"ack"`: fdatasync'ed); for each key the view holds the value of the
//! record with the highest log offset, so concurrent commits resolve as the log orders them,
//! exactly as a replay would. Undecodable records are skipped, counted and logged.

pub mod legacy_file;
pub mod schema;

use crate::flusher::Flusher;
use crate::log::{AppendError, LogError};
use crate::partition::{wait_flushed, FetchRead, Partition};
use crate::records::compression::{Codec, MAX_DECOMPRESSED};
use crate::records::convert;
use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};
use schema::{GroupValue, Key, OffsetValue};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Records per batch when migrating the old file.
const MIGRATE_BATCH: usize = 1000;
/// Bytes per read when replaying.
const REPLAY_READ: usize = 1 << 20;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    /// When it was committed (ms since the epoch); -1 when unknown (migrated).
    pub commit_timestamp: i64,
    /// OffsetCommit v1–v4's retention (ms since the epoch); -1 for none.
    pub expire_timestamp: i64,
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("append to __consumer_offsets: {0}")]
    Append(#[from] AppendError),
    #[error("encode offset records: {0}")]
    Encode(#[from] convert::ConvertError),
    #[error("__consumer_offsets could not be made durable")]
    NotDurable,
}

/// What the last group metadata record of a group said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub protocol_type: String,
    pub generation: i32,
    pub members: usize,
}

/// A value and the log offset of the record it came from.
#[derive(Debug, Clone)]
struct Versioned<T> {
    log_offset: i64,
    value: T,
}

#[derive(Default)]
struct View {
    /// group → (topic, partition) → committed; BTreeMap for stable listings.
    offsets: HashMap<String, BTreeMap<(String, i32), Versioned<Committed>>>,
    groups: HashMap<String, Versioned<GroupSummary>>,
    /// Records replay could not decode.
    skipped: u64,
}

impl View {
    /// Applies one record (replay or a fresh append) at `log_offset`.
    fn apply(
        &mut self,
        log_offset: i64,
        key: &Key,
        value: Option<&[u8]>,
    ) -> Result<(), schema::SchemaError> {
        match key {
            Key::Offset {
                group,
                topic,
                partition,
            } => {
                let g = self.offsets.entry(group.clone()).or_default();
                let k = (topic.clone(), *partition);
                if g.get(&k).is_some_and(|v| v.log_offset > log_offset) {
                    return Ok(());
                }
                match value {
                    None => {
                        g.remove(&k);
                        if g.is_empty() {
                            self.offsets.remove(group);
                        }
                    }
                    Some(v) => {
                        let v = OffsetValue::decode(v)?;
                        g.insert(
                            k,
                            Versioned {
                                log_offset,
                                value: Committed {
                                    offset: v.offset,
                                    leader_epoch: v.leader_epoch,
                                    metadata: Some(v.metadata),
                                    commit_timestamp: v.commit_timestamp,
                                    expire_timestamp: v.expire_timestamp,
                                },
                            },
                        );
                    }
                }
            }
            Key::Group(group) => {
                if self
                    .groups
                    .get(group)
                    .is_some_and(|v| v.log_offset > log_offset)
                {
                    return Ok(());
                }
                match value {
                    None => {
                        self.groups.remove(group);
                    }
                    Some(v) => {
                        let v = GroupValue::decode(v)?;
                        self.groups.insert(
                            group.clone(),
                            Versioned {
                                log_offset,
                                value: GroupSummary {
                                    protocol_type: v.protocol_type,
                                    generation: v.generation,
                                    members: v.members.len(),
                                },
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// A group's description as a GroupMetadataValue record.
pub fn group_value(d: &crate::group::GroupDescription) -> GroupValue {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    GroupValue {
        protocol_type: d.protocol_type.clone(),
        generation: d.generation,
        protocol: opt(&d.protocol_name),
        leader: d.leader.clone(),
        members: d
            .members
            .iter()
            .map(|m| schema::Member {
                member_id: m.member_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.metadata.clone(),
                assignment: m.assignment.clone(),
            })
            .collect(),
    }
}

pub struct OffsetStore {
    partition: Arc<Partition>,
    view: Mutex<View>,
}

/// One record to append: key and value (None = tombstone) bytes.
type KeyValue = (Key, Option<Vec<u8>>);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One v2 batch (no producer id, uncompressed, like Kafka's coordinator writes) of `kvs`.
fn encode(kvs: &[KeyValue], timestamp: i64) -> Result<Vec<u8>, convert::ConvertError> {
    let records: Vec<Record> = kvs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Base sequence -1 (see convert::up_convert).
            sequence: i as i32 - 1,
            timestamp,
            key: Some(Bytes::from(k.encode())),
            value: v.clone().map(Bytes::from),
            headers: Default::default(),
        })
        .collect();
    convert::encode_batch(&records, Codec::None)
}

impl OffsetStore {
    /// Replays `partition` (partition 0 of `__consumer_offsets`), then migrates the offsets
    /// file of earlier versions found in `data_dir`, if any. Blocking.
    pub fn open(partition: Arc<Partition>, data_dir: &Path) -> Result<OffsetStore, LogError> {
        let store = OffsetStore {
            partition,
            view: Mutex::new(View::default()),
        };
        let records = store.replay()?;
        let (skipped, offsets, groups) = {
            let v = store.lock();
            let n: usize = v.offsets.values().map(|g| g.len()).sum();
            (v.skipped, n, v.groups.len())
        };
        tracing::info!(
            records,
            offsets,
            groups,
            skipped,
            "replayed __consumer_offsets"
        );
        store.migrate(data_dir)?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partition the records go to (the flusher syncs it).
    pub fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    fn replay(&self) -> Result<u64, LogError> {
        let (mut offset, end) = self.partition.offsets();
        let mut n = 0u64;
        while offset < end {
            let data = match self.partition.read(offset, REPLAY_READ)? {
                FetchRead::OutOfRange => break,
                FetchRead::Data(d) if d.is_empty() => break,
                FetchRead::Data(d) => d,
            };
            // The read holds whole batches (their CRCs were checked when stored or recovered).
            let before = offset;
            let mut pos = 0;
            while pos < data.len() {
                let h = match crate::log::batch::parse_header(&data[pos..], i32::MAX as usize) {
                    Ok(h) if pos + h.total_len <= data.len() => h,
                    _ => break,
                };
                let bytes = &data[pos..pos + h.total_len];
                pos += h.total_len;
                offset = offset.max(h.next_offset());
                let batch = match convert::decode_one(bytes, h, MAX_DECOMPRESSED) {
                    Ok(b) => b,
                    Err(e) => {
                        // E.g. written by a client into an old, ordinary __consumer_offsets.
                        let records = i64::from(h.last_offset_delta) + 1;
                        let mut v = self.lock();
                        v.skipped += records as u64;
                        tracing::warn!(offset = h.base_offset, records, error = %e,
                            "skipping undecodable __consumer_offsets batch");
                        continue;
                    }
                };
                let mut v = self.lock();
                for r in &batch.records {
                    n += 1;
                    let decoded = r
                        .key
                        .as_deref()
                        .ok_or(schema::SchemaError::NoKey)
                        .and_then(Key::decode)
                        .and_then(|k| v.apply(r.offset, &k, r.value.as_deref()));
                    if let Err(e) = decoded {
                        v.skipped += 1;
                        tracing::warn!(offset = r.offset, error = %e,
                            "skipping undecodable __consumer_offsets record");
                    }
                }
            }
            if offset == before {
                break;
            }
        }
        Ok(n)
    }

    /// Appends `kvs` as one batch; returns (base log offset, end offset).
    fn append(&self, kvs: &[KeyValue], timestamp: i64) -> Result<(i64, i64), CommitError> {
        let mut batch = encode(kvs, timestamp)?;
        let a = self.partition.append(&mut batch, usize::MAX)?;
        Ok((a.base_offset, a.end_offset))
    }

    /// Applies appended records to the view (they are durable by now).
    fn apply_appended(&self, base: i64, kvs: &[KeyValue]) {
        let mut v = self.lock();
        for (i, (k, val)) in kvs.iter().enumerate() {
            if let Err(e) = v.apply(base + i as i64, k, val.as_deref()) {
                // Only possible for a value this module just encoded: a bug, not input.
                tracing::error!(error = %e, "cannot apply own __consumer_offsets record");
            }
        }
    }

    /// Records `entries` for `group` and returns once they are durable (`wait`: the flush
    /// setting is "ack") and visible.
    pub async fn commit(
        &self,
        flusher: &Flusher,
        wait: bool,
        group: &str,
        entries: &[(String, i32, Committed)],
    ) -> Result<(), CommitError> {
        let now = now_ms();
        let kvs: Vec<KeyValue> = entries
            .iter()
            .map(|(t, p, c)| {
                let value = OffsetValue {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata.clone().unwrap_or_default(),
                    commit_timestamp: if c.commit_timestamp >= 0 {
                        c.commit_timestamp
                    } else {
                        now
                    },
                    expire_timestamp: c.expire_timestamp,
                };
                (
                    Key::Offset {
                        group: group.to_string(),
                        topic: t.clone(),
                        partition: *p,
                    },
                    Some(value.encode()),
                )
            })
            .collect();
        self.append_durably(flusher, wait, &kvs, now).await
    }

    async fn append_durably(
        &self,
        flusher: &Flusher,
        wait: bool,
        kvs: &[KeyValue],
        timestamp: i64,
    ) -> Result<(), CommitError> {
        if kvs.is_empty() {
            return Ok(());
        }
        let rx = self.partition.subscribe();
        let (base, end) = self.append(kvs, timestamp)?;
        flusher.mark_dirty(&self.partition);
        if wait && !wait_flushed(rx, end).await {
            return Err(CommitError::NotDurable);
        }
        self.apply_appended(base, kvs);
        Ok(())
    }

    /// Writes a group's metadata record (a generation completed, or the group became empty).
    /// Not waited for: it informs tools, the coordinator does not read it back.
    pub fn record_group(&self, flusher: &Flusher, group: &str, value: &GroupValue) {
        let kvs = vec![(Key::Group(group.to_string()), Some(value.encode()))];
        match self.append(&kvs, now_ms()) {
            Ok((base, _)) => {
                flusher.mark_dirty(&self.partition);
                self.apply_appended(base, &kvs);
            }
            Err(e) => tracing::error!(group, error = %e, "cannot record group metadata"),
        }
    }

    /// A deleted topic's committed offsets are gone: tombstones for each, like Kafka.
    pub async fn forget_topic(&self, flusher: &Flusher, wait: bool, topic: &str) {
        let kvs: Vec<KeyValue> = {
            let v = self.lock();
            v.offsets
                .iter()
                .flat_map(|(g, parts)| {
                    parts
                        .keys()
                        .filter(|(t, _)| t == topic)
                        .map(|(t, p)| {
                            let key = Key::Offset {
                                group: g.clone(),
                                topic: t.clone(),
                                partition: *p,
                            };
                            (key, None)
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let n = kvs.len();
        match self.append_durably(flusher, wait, &kvs, now_ms()).await {
            Ok(()) if n > 0 => tracing::info!(
                topic,
                offsets = n,
                "removed committed offsets of deleted topic"
            ),
            Ok(()) => {}
            Err(e) => {
                tracing::error!(topic, error = %e, "cannot remove committed offsets of deleted topic")
            }
        }
    }

    /// Moves the offsets file of earlier versions into the topic (durably), then renames it.
    fn migrate(&self, dir: &Path) -> Result<(), LogError> {
        let path = dir.join(legacy_file::FILE_NAME);
        let Some((entries, torn)) =
            legacy_file::read(dir).map_err(|e| LogError::io("read offsets file", &path, e))?
        else {
            return Ok(());
        };
        if torn > 0 {
            tracing::warn!(path = %path.display(), bytes = torn, "ignoring torn tail of the old offsets file");
        }
        // Only the last value per key matters.
        let mut last: BTreeMap<(String, String, i32), Committed> = BTreeMap::new();
        for (g, t, p, c) in entries {
            last.insert((g, t, p), c);
        }
        let now = now_ms();
        let kvs: Vec<KeyValue> = last
            .into_iter()
            .map(|((group, topic, partition), c)| {
                let v = OffsetValue {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata.unwrap_or_default(),
                    commit_timestamp: now,
                    expire_timestamp: -1,
                };
                (
                    Key::Offset {
                        group,
                        topic,
                        partition,
                    },
                    Some(v.encode()),
                )
            })
            .collect();
        for chunk in kvs.chunks(MIGRATE_BATCH) {
            let (base, _) = self.append(chunk, now).map_err(|e| LogError::Corrupt {
                path: path.clone(),
                position: 0,
                reason: format!("migrating committed offsets: {e}"),
            })?;
            self.apply_appended(base, chunk);
        }
        // Durable before the old file goes: a crash in between only migrates it again.
        let (file, seg, end) = self.partition.log().flush_target();
        file.sync_data()
            .map_err(|e| LogError::io("fdatasync segment", &seg, e))?;
        self.partition.publish_flushed(end);
        let to = dir.join(legacy_file::MIGRATED_NAME);
        std::fs::rename(&path, &to)
            .map_err(|e| LogError::io("rename migrated offsets", &path, e))?;
        crate::log::fsync_dir(dir)?;
        tracing::info!(offsets = kvs.len(), from = %path.display(), to = %to.display(),
            "migrated committed offsets into __consumer_offsets");
        Ok(())
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.lock()
            .offsets
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)))
            .map(|v| v.value.clone())
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    pub fn all_for(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.lock()
            .offsets
            .get(group)
            .map(|g| {
                g.iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Groups that have committed offsets or recorded metadata, sorted.
    pub fn groups(&self) -> Vec<String> {
        let v = self.lock();
        let mut out: Vec<String> = v.offsets.keys().chain(v.groups.keys()).cloned().collect();
        out.sort();
        out.dedup();
        out
    }

    /// The last recorded metadata of a group.
    pub fn group_summary(&self, group: &str) -> Option<GroupSummary> {
        self.lock().groups.get(group).map(|v| v.value.clone())
    }

    /// Records replay skipped (undecodable).
    pub fn skipped(&self) -> u64 {
        self.lock().skipped
    }
}

#[cfg(test)]
mod tests;
