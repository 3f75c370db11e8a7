//! Append-only partition logs: segments of verbatim record batches, a sparse offset index
//! per segment, recovery after an unclean stop, size/age retention.
//!
//! A [`PartitionLog`] is owned by one partition behind a mutex; durability (fdatasync) and
//! the high watermark are driven from outside (see `flusher`), so that one flusher can
//! group-commit many appends.

pub mod batch;
pub mod compact;
pub mod index;
pub mod producer_state;
pub mod recovery;
pub mod segment;

use batch::{BatchError, BatchHeader};
use bytes::Bytes;
use producer_state::{ProducerStates, SeqCheck, SeqError};
use segment::Segment;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Storage errors, with the file they concern.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt batch in {} at position {position}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
}

impl LogError {
    pub fn io(op: &'static str, path: &Path, source: io::Error) -> LogError {
        LogError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Why a produce to this partition was refused; maps onto Kafka error codes.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("{0}")]
    Sequence(#[from] SeqError),
    #[error("unsupported batch: {0}")]
    Unsupported(&'static str),
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("storage: {0}")]
    Storage(#[from] LogError),
}

/// Result of an append: where the batches landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record (of the original append, for a duplicate).
    pub base_offset: i64,
    /// Offset after the last record; the flushed offset must reach this before acking.
    pub end_offset: i64,
}

/// Tunables of a partition log.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    pub segment_bytes: u64,
    /// Largest batch accepted or believed during recovery.
    pub max_batch_bytes: usize,
}

/// A byte range of one segment to read outside the partition lock.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    pub file: Arc<File>,
    pub path: PathBuf,
    pub pos: u64,
    pub len: usize,
}

/// Result of locating a fetch offset.
#[derive(Debug)]
pub enum ReadPlan {
    OutOfRange,
    /// Nothing readable yet at this offset (at or past the high watermark).
    Empty,
    Slice(ReadSlice),
}

/// One partition's log.
///
/// Invariants: `segments` is non-empty and sorted by base offset; every segment but the last
/// has been fdatasync'ed; `segments[i].next_offset <= segments[i+1].base_offset` (equal
/// unless compaction removed the records in between); `start <= next_offset()`.
#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    producers: ProducerStates,
    opts: LogOptions,
    /// Log start offset set by DeleteRecords (persisted); the effective start is the larger
    /// of this and the first segment's base.
    start: i64,
    /// Base offset of the active segment at the last compaction (-1: none yet).
    compacted_through: i64,
}

const RECOVERY_POINT_FILE: &str = "recovery-point";
/// Holds the log start offset DeleteRecords set.
const LOG_START_FILE: &str = "log-start-offset";

impl PartitionLog {
    /// Opens (and, after an unclean stop, validates and repairs) the log in `dir`, creating
    /// the directory for a new partition.
    pub fn open(dir: &Path, opts: LogOptions, clean: bool) -> Result<PartitionLog, LogError> {
        let recovered = recovery::recover(dir, opts, clean)?;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            segments: recovered.segments,
            producers: recovered.producers,
            opts,
            start: 0,
            compacted_through: -1,
        };
        let start = read_offset_file(dir, LOG_START_FILE).min(log.next_offset());
        if start > 0 {
            log.start = start;
            log.delete_segments_below(start)?;
        }
        Ok(log)
    }

    /// Segment size for the next roll (a topic's `segment.bytes` changed).
    pub fn set_segment_bytes(&mut self, bytes: u64) {
        self.opts.segment_bytes = bytes;
    }

    /// DeleteRecords: records below `offset` are gone for readers; whole segments below it
    /// are deleted. `offset` must lie in `[log start, log end]` (the caller checks it against
    /// the high watermark). Durable before it returns. Returns the new log start offset.
    pub fn delete_records(&mut self, offset: i64) -> Result<i64, LogError> {
        if offset <= self.log_start_offset() {
            return Ok(self.log_start_offset());
        }
        let offset = offset.min(self.next_offset());
        let path = self.dir.join(LOG_START_FILE);
        logferry_fsutil::replace(
            &path,
            offset.to_string().as_bytes(),
            logferry_fsutil::Durability::Durable,
        )
        .map_err(|e| LogError::io("write", &path, e))?;
        self.start = offset;
        self.delete_segments_below(offset)?;
        Ok(self.log_start_offset())
    }

    /// Deletes segments (never the active one) whose records all lie below `offset`.
    fn delete_segments_below(&mut self, offset: i64) -> Result<(), LogError> {
        let mut deleted = false;
        while self.segments.len() > 1 && self.segments[0].next_offset <= offset {
            let seg = self.segments.remove(0);
            remove_segment_files(&seg)?;
            tracing::info!(path = %seg.path.display(), "deleted segment below log start");
            deleted = true;
        }
        if deleted {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// First offset readers may ask for.
    pub fn log_start_offset(&self) -> i64 {
        self.segments
            .first()
            .map_or(0, |s| s.base_offset)
            .max(self.start)
    }

    /// Offset the next appended record gets (log end offset).
    pub fn next_offset(&self) -> i64 {
        self.segments.last().map_or(0, |s| s.next_offset)
    }

    /// Total bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Validates every batch in `records` (a produce request's partition payload), applies
    /// the idempotence rules, assigns offsets and writes the new batches to the active
    /// segment (page cache only; durability is the flusher's job). A batch larger than
    /// `max_message_bytes` (the topic's `max.message.bytes`) refuses the whole append.
    pub fn append(
        &mut self,
        records: &mut [u8],
        max_message_bytes: usize,
    ) -> Result<Appended, AppendError> {
        // Validate everything first so a bad batch leaves the log untouched.
        let mut headers: Vec<(usize, BatchHeader)> = Vec::new();
        let mut pos = 0usize;
        while pos < records.len() {
            let h = batch::parse_and_verify(&records[pos..], self.opts.max_batch_bytes)?;
            if h.is_transactional() || h.is_control() {
                return Err(AppendError::Unsupported("transactional batches"));
            }
            if h.total_len > max_message_bytes {
                return Err(AppendError::TooLarge {
                    size: h.total_len,
                    max: max_message_bytes,
                });
            }
            headers.push((pos, h));
            pos += h.total_len;
        }
        if headers.is_empty() {
            return Err(AppendError::InvalidBatch(BatchError::Incomplete {
                need: batch::HEADER_LEN,
                have: 0,
            }));
        }
        let mut first: Option<i64> = None;
        let mut end = self.next_offset();
        for (pos, mut h) in headers {
            match self.producers.check(&h)? {
                SeqCheck::Duplicate {
                    base_offset,
                    last_offset,
                } => {
                    first.get_or_insert(base_offset);
                    end = end.max(last_offset + 1);
                    continue;
                }
                SeqCheck::Fresh => {}
            }
            let base = self.next_offset();
            let bytes = &mut records[pos..pos + h.total_len];
            batch::stamp(bytes, base);
            h.base_offset = base;
            self.maybe_roll(h.total_len as u64)?;
            let active = self.active_mut();
            active.append(bytes, &h)?;
            self.producers.record(&h);
            first.get_or_insert(base);
            end = h.next_offset();
        }
        Ok(Appended {
            base_offset: first.unwrap_or(end),
            end_offset: end,
        })
    }

    fn active_mut(&mut self) -> &mut Segment {
        // `segments` is never empty (see invariants); recovery creates the first one.
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Starts a new segment when the active one would grow past `segment_bytes`. The old one
    /// is fdatasync'ed first so that only the active segment can hold unflushed data.
    fn maybe_roll(&mut self, incoming: u64) -> Result<(), LogError> {
        let limit = self.opts.segment_bytes;
        let active = self.active_mut();
        if active.size == 0 || active.size + incoming <= limit {
            return Ok(());
        }
        active.sync()?;
        if let Err(e) = active.save_index() {
            tracing::warn!(error = %e, "could not write index; it will be rebuilt");
        }
        let base = active.next_offset;
        let seg = Segment::create(&self.dir, base)?;
        fsync_dir(&self.dir)?;
        self.segments.push(seg);
        write_recovery_point(&self.dir, base)?;
        Ok(())
    }

    /// The active segment's file and the offset it covers, for the flusher.
    pub fn flush_target(&self) -> (Arc<File>, PathBuf, i64) {
        let active = &self.segments[self.segments.len() - 1];
        (active.file.clone(), active.path.clone(), active.next_offset)
    }

    /// Locates `offset` for a fetch of at most `max_bytes` (at least one whole batch).
    pub fn read_plan(&self, offset: i64, hwm: i64, max_bytes: usize) -> Result<ReadPlan, LogError> {
        if offset < self.log_start_offset() || offset > self.next_offset() {
            return Ok(ReadPlan::OutOfRange);
        }
        if offset >= hwm {
            return Ok(ReadPlan::Empty);
        }
        let start = self
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        for seg in &self.segments[start..] {
            let Some(pos) = seg.find_position(offset, self.opts.max_batch_bytes)? else {
                continue;
            };
            let first_len = seg
                .header_at(pos, self.opts.max_batch_bytes)?
                .map_or(0, |h| h.total_len);
            let available = (seg.size - pos) as usize;
            let len = max_bytes.max(first_len).min(available);
            return Ok(ReadPlan::Slice(ReadSlice {
                file: seg.file.clone(),
                path: seg.path.clone(),
                pos,
                len,
            }));
        }
        Ok(ReadPlan::Empty)
    }

    /// (timestamp, offset) of the first record (from the log start) whose timestamp is at
    /// least `ts`, as Kafka answers ListOffsets for a timestamp: the first batch whose max
    /// timestamp reaches `ts`, and in it the first such record (the batch's base offset if
    /// it cannot be decoded).
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.max_timestamp < ts || seg.next_offset <= self.start {
                continue;
            }
            let mut pos = 0;
            while let Some(h) = seg.header_at(pos, self.opts.max_batch_bytes)? {
                if h.max_timestamp >= ts && h.last_offset() >= self.start {
                    let mut buf = vec![0u8; h.total_len];
                    seg.file
                        .read_exact_at(&mut buf, pos)
                        .map_err(|e| LogError::io("read batch", &seg.path, e))?;
                    let limit = crate::records::compression::MAX_DECOMPRESSED;
                    let found = match crate::records::convert::decode_one(&buf, h, limit) {
                        Ok(b) => b
                            .records
                            .iter()
                            .find(|r| r.timestamp >= ts && r.offset >= self.start)
                            .map(|r| (r.timestamp, r.offset)),
                        Err(e) => {
                            tracing::warn!(path = %seg.path.display(), position = pos, error = %e,
                                "cannot decode batch for a timestamp lookup; using its base offset");
                            None
                        }
                    };
                    return Ok(Some(
                        found.unwrap_or((h.max_timestamp, h.base_offset.max(self.start))),
                    ));
                }
                pos += h.total_len as u64;
            }
        }
        Ok(None)
    }

    /// Timestamp and offset of the first record with the largest timestamp below `hwm`
    /// (ListOffsets -3, KIP-734): the newest segment holding the largest batch max timestamp,
    /// its first batch with that max, and in it the first record with that timestamp.
    pub fn max_timestamp_offset(&self, hwm: i64) -> Result<Option<(i64, i64)>, LogError> {
        let mut best: Option<&Segment> = None;
        for seg in &self.segments {
            if seg.max_timestamp >= 0 && best.is_none_or(|b| seg.max_timestamp > b.max_timestamp) {
                best = Some(seg);
            }
        }
        let Some(seg) = best else { return Ok(None) };
        let mut pos = 0;
        while let Some(h) = seg.header_at(pos, self.opts.max_batch_bytes)? {
            if h.base_offset >= hwm {
                break;
            }
            if h.max_timestamp == seg.max_timestamp {
                let mut buf = vec![0u8; h.total_len];
                seg.file
                    .read_exact_at(&mut buf, pos)
                    .map_err(|e| LogError::io("read batch", &seg.path, e))?;
                let limit = crate::records::compression::MAX_DECOMPRESSED;
                let offset = match crate::records::convert::decode_one(&buf, h, limit) {
                    Ok(b) => b
                        .records
                        .iter()
                        .find(|r| r.timestamp == h.max_timestamp)
                        .map_or(h.last_offset(), |r| r.offset),
                    Err(e) => {
                        // The batch header alone still answers, one offset less precise.
                        tracing::warn!(path = %seg.path.display(), position = pos, error = %e,
                            "cannot decode batch for max timestamp; using its last offset");
                        h.last_offset()
                    }
                };
                return Ok((offset < hwm).then_some((h.max_timestamp, offset)));
            }
            pos += h.total_len as u64;
        }
        Ok(None)
    }

    /// Deletes whole old segments (never the active one) while the log is larger than
    /// `retention_bytes` or a segment's newest record is older than `retention_ms`.
    /// Returns the deleted segment paths.
    pub fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_bytes: Option<u64>,
        retention_ms: Option<u64>,
    ) -> Result<Vec<PathBuf>, LogError> {
        let mut deleted = Vec::new();
        let mut total = self.size_bytes();
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            let too_big = retention_bytes.is_some_and(|max| total > max);
            let too_old = retention_ms.is_some_and(|ms| {
                oldest.max_timestamp >= 0 && oldest.max_timestamp < now_ms.saturating_sub(ms as i64)
            });
            if !(too_big || too_old) {
                break;
            }
            let seg = self.segments.remove(0);
            total -= seg.size;
            remove_segment_files(&seg)?;
            deleted.push(seg.path);
        }
        if !deleted.is_empty() {
            fsync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// Clean close: fdatasync the active segment, persist indexes and the recovery point.
    pub fn close(&mut self) -> Result<(), LogError> {
        for seg in &self.segments {
            seg.sync()?;
            if let Err(e) = seg.save_index() {
                tracing::warn!(error = %e, "could not write index; it will be rebuilt");
            }
        }
        write_recovery_point(&self.dir, self.next_offset())
    }
}

/// Deletes a segment's log and index files (the caller fsyncs the directory).
fn remove_segment_files(seg: &Segment) -> Result<(), LogError> {
    std::fs::remove_file(&seg.path).map_err(|e| LogError::io("delete segment", &seg.path, e))?;
    let idx = seg.index_path();
    match std::fs::remove_file(&idx) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LogError::io("delete index", &idx, e)),
        _ => Ok(()),
    }
}

/// Reads a planned slice and keeps only whole batches that start below `hwm`.
pub fn read_slice(slice: &ReadSlice, hwm: i64, max_batch: usize) -> Result<Bytes, LogError> {
    let mut buf = vec![0u8; slice.len];
    slice
        .file
        .read_exact_at(&mut buf, slice.pos)
        .map_err(|e| LogError::io("read segment", &slice.path, e))?;
    let mut keep = 0usize;
    while keep < buf.len() {
        match batch::parse_header(&buf[keep..], max_batch) {
            Ok(h) if h.base_offset < hwm && keep + h.total_len <= buf.len() => keep += h.total_len,
            _ => break,
        }
    }
    buf.truncate(keep);
    Ok(Bytes::from(buf))
}

/// fsync of a directory, so created/renamed/deleted entries survive power loss.
pub fn fsync_dir(dir: &Path) -> Result<(), LogError> {
    logferry_fsutil::fsync_dir(dir).map_err(|e| LogError::io("fsync directory", dir, e))
}

/// Not fsynced: a recovery point lost to power loss only means more batches are verified.
fn write_recovery_point(dir: &Path, offset: i64) -> Result<(), LogError> {
    let path = dir.join(RECOVERY_POINT_FILE);
    logferry_fsutil::replace(
        &path,
        offset.to_string().as_bytes(),
        logferry_fsutil::Durability::Cache,
    )
    .map_err(|e| LogError::io("write", &path, e))
}

/// Offset below which all data was fdatasync'ed at some point (0 when unknown).
fn read_recovery_point(dir: &Path) -> i64 {
    read_offset_file(dir, RECOVERY_POINT_FILE)
}

/// An offset kept as decimal text in `dir/name` (0 when missing or unreadable).
fn read_offset_file(dir: &Path, name: &str) -> i64 {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
