//! Log compaction (`cleanup.policy = compact`), as Kafka's cleaner: in the closed segments,
//! keep only the newest record of each key (the active segment is never rewritten, but its
//! records count as newer); a tombstone (null value) is dropped once its batch is older than
//! the delete retention; records without a key are kept. Offsets never change, so compacted
//! logs have gaps. Consecutive cleaned segments are merged while they fit in one segment.
//!
//! Crash safety of a rewrite of segments `[a, b, c]` into one: the new content is written to
//! `<a>.log.cleaned` and fsynced; a marker file lists `a, b, c` (durable); `<a>.log.cleaned`
//! is renamed over `<a>.log`; `b` and `c` are deleted; the marker is removed. Recovery
//! ([`finish_interrupted`]) completes or undoes an interrupted rewrite: with the `.cleaned`
//! file still there the rename never happened (drop it); without it, delete `b` and `c`.
//!
//! Runs under the partition lock (appends wait): fine for `__consumer_offsets`, whose
//! closed segments shrink to the live set.

use super::segment::{log_file_name, Segment};
use super::{fsync_dir, recovery, remove_segment_files, LogError, PartitionLog};
use crate::records::compression::MAX_DECOMPRESSED;
use crate::records::convert::{self, DecodedBatch};
use bytes::Bytes;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MARKER: &str = "cleaner-swap";
const CLEANED_SUFFIX: &str = ".cleaned";

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    pub records_removed: usize,
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

fn corrupt(seg: &Segment, e: impl std::fmt::Display) -> LogError {
    LogError::Corrupt {
        path: seg.path.clone(),
        position: 0,
        reason: format!("compaction cannot decode: {e}"),
    }
}

/// Every batch of a segment: (its bytes, decoded).
fn read_segment(seg: &Segment) -> Result<Vec<(Vec<u8>, DecodedBatch)>, LogError> {
    let mut buf = vec![0u8; seg.size as usize];
    seg.file
        .read_exact_at(&mut buf, 0)
        .map_err(|e| LogError::io("read segment", &seg.path, e))?;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let h = super::batch::parse_and_verify(&buf[pos..], i32::MAX as usize)
            .map_err(|e| corrupt(seg, e))?;
        let bytes = buf[pos..pos + h.total_len].to_vec();
        let decoded =
            convert::decode_one(&bytes, h, MAX_DECOMPRESSED).map_err(|e| corrupt(seg, e))?;
        out.push((bytes, decoded));
        pos += h.total_len;
    }
    Ok(out)
}

impl PartitionLog {
    /// A segment closed since the last pass (or none ran since the log was opened).
    pub fn needs_compaction(&self) -> bool {
        self.segments.len() >= 2 && self.active_base() > self.compacted_through
    }

    fn active_base(&self) -> i64 {
        self.segments.last().map_or(0, |s| s.base_offset)
    }

    /// One compaction pass over the closed segments.
    pub fn compact(
        &mut self,
        now_ms: i64,
        delete_retention_ms: i64,
    ) -> Result<Compacted, LogError> {
        let mut stats = Compacted {
            segments_before: self.segments.len(),
            bytes_before: self.size_bytes(),
            ..Compacted::default()
        };
        let closed = self.segments.len() - 1;
        // The newest offset of every key, over the whole log. Segments are read one at a
        // time (twice), so memory is one segment plus the keys plus the cleaned output.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in &self.segments {
            for (_, b) in read_segment(seg)? {
                for r in b.records {
                    if let Some(k) = r.key {
                        latest.insert(k, r.offset);
                    }
                }
            }
        }
        let horizon = now_ms.saturating_sub(delete_retention_ms);
        // Cleaned content of each closed segment, and whether it changed.
        let mut cleaned: Vec<(Vec<u8>, bool)> = Vec::with_capacity(closed);
        for seg in &self.segments[..closed] {
            let batches = read_segment(seg)?;
            let mut out = Vec::new();
            let mut changed = false;
            for (bytes, b) in batches {
                let total = b.records.len();
                let expired = b.header.max_timestamp < horizon;
                let mut kept: Vec<_> = b
                    .records
                    .into_iter()
                    .filter(|r| match &r.key {
                        None => true,
                        Some(k) => {
                            latest.get(k) == Some(&r.offset) && (r.value.is_some() || !expired)
                        }
                    })
                    .collect();
                stats.records_removed += total - kept.len();
                if kept.len() == total {
                    out.extend_from_slice(&bytes);
                    continue;
                }
                changed = true;
                if kept.is_empty() {
                    continue;
                }
                if b.header.producer_id < 0 {
                    // The encoder derives the base sequence from the first record: keep -1.
                    let first = kept[0].offset;
                    for r in kept.iter_mut() {
                        r.sequence = (r.offset - first) as i32 - 1;
                    }
                }
                let mut batch =
                    convert::encode_batch(&kept, b.codec).map_err(|e| LogError::Corrupt {
                        path: self.dir.clone(),
                        position: 0,
                        reason: format!("compaction cannot encode: {e}"),
                    })?;
                super::batch::stamp(&mut batch, kept[0].offset);
                out.extend_from_slice(&batch);
            }
            cleaned.push((out, changed));
        }
        // Merge consecutive segments while they fit; rewrite groups that changed.
        let limit = self.opts.segment_bytes;
        let mut groups: Vec<(usize, usize)> = Vec::new(); // [start, end)
        let mut start = 0;
        let mut size = 0u64;
        for (i, (c, _)) in cleaned.iter().enumerate() {
            if i > start && size + c.len() as u64 > limit {
                groups.push((start, i));
                start = i;
                size = 0;
            }
            size += c.len() as u64;
        }
        if closed > 0 {
            groups.push((start, closed));
        }
        let mut new_segments = Vec::with_capacity(self.segments.len());
        let old: Vec<Segment> = std::mem::take(&mut self.segments);
        let mut old = old.into_iter();
        let mut result = Ok(());
        for (a, z) in groups {
            let group: Vec<Segment> = old.by_ref().take(z - a).collect();
            let changed = z - a > 1 || cleaned[a].1;
            if !changed || result.is_err() {
                new_segments.extend(group);
                continue;
            }
            let content: Vec<u8> = cleaned[a..z]
                .iter()
                .flat_map(|(c, _)| c.iter().copied())
                .collect();
            match rewrite(&self.dir, &group, &content, self.opts) {
                Ok(seg) => new_segments.push(seg),
                Err(e) => {
                    // Nothing was replaced (or recovery finishes it): keep the old segments.
                    new_segments.extend(group);
                    result = Err(e);
                }
            }
        }
        new_segments.extend(old);
        self.segments = new_segments;
        result?;
        self.compacted_through = self.active_base();
        stats.segments_after = self.segments.len();
        stats.bytes_after = self.size_bytes();
        Ok(stats)
    }
}

/// Replaces `group` (consecutive closed segments) by one segment holding `content`, named
/// after the first; see the module doc for the crash protocol.
fn rewrite(
    dir: &Path,
    group: &[Segment],
    content: &[u8],
    opts: super::LogOptions,
) -> Result<Segment, LogError> {
    let first = &group[0];
    let target = dir.join(log_file_name(first.base_offset));
    let tmp = dir.join(format!(
        "{}{CLEANED_SUFFIX}",
        log_file_name(first.base_offset)
    ));
    std::fs::write(&tmp, content)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .map_err(|e| LogError::io("write cleaned segment", &tmp, e))?;
    let marker = dir.join(MARKER);
    let list: String = group
        .iter()
        .map(|s| format!("{}\n", s.base_offset))
        .collect();
    logferry_fsutil::replace(
        &marker,
        list.as_bytes(),
        logferry_fsutil::Durability::Durable,
    )
    .map_err(|e| LogError::io("write cleaner marker", &marker, e))?;
    std::fs::rename(&tmp, &target).map_err(|e| LogError::io("install cleaned segment", &tmp, e))?;
    fsync_dir(dir)?;
    for s in &group[1..] {
        remove_segment_files(s)?;
    }
    let _ = std::fs::remove_file(first.index_path());
    fsync_dir(dir)?;
    std::fs::remove_file(&marker).map_err(|e| LogError::io("remove cleaner marker", &marker, e))?;
    let mut seg = Segment::open(target, first.base_offset)?;
    recovery::rebuild(&mut seg, opts)?;
    if let Err(e) = seg.save_index() {
        tracing::warn!(error = %e, "could not write index; it will be rebuilt");
    }
    Ok(seg)
}

/// At open: completes or undoes a rewrite a crash interrupted (see the module doc), and
/// removes a `.cleaned` file whose marker was never written.
pub fn finish_interrupted(dir: &Path) -> Result<(), LogError> {
    let marker = dir.join(MARKER);
    let listed: Vec<i64> = match std::fs::read_to_string(&marker) {
        Ok(s) => s.lines().filter_map(|l| l.trim().parse().ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(LogError::io("read cleaner marker", &marker, e)),
    };
    if let Some(&first) = listed.first() {
        let tmp = dir.join(format!("{}{CLEANED_SUFFIX}", log_file_name(first)));
        if tmp.exists() {
            tracing::warn!(dir = %dir.display(), "compaction interrupted before its swap; undoing");
        } else {
            tracing::warn!(dir = %dir.display(), "compaction interrupted after its swap; finishing");
            for base in &listed[1..] {
                let p = dir.join(log_file_name(*base));
                match std::fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(LogError::io("delete compacted segment", &p, e))
                    }
                    _ => {}
                }
                let _ = std::fs::remove_file(p.with_extension("index"));
            }
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io("list partition dir", dir, e))?;
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .ends_with(CLEANED_SUFFIX)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if !listed.is_empty() {
        fsync_dir(dir)?;
        std::fs::remove_file(&marker)
            .map_err(|e| LogError::io("remove cleaner marker", &marker, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
