//! One segment file: `<20-digit base offset>.log` holding verbatim record batches, plus its
//! sparse `.index`.

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::index::OffsetIndex;
use super::LogError;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the segment starting at `base_offset`.
pub fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses `00000000000000001234.log` → 1234.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// An open segment.
///
/// Invariants: `size` is the file length and ends on a batch boundary; batches in
/// `[0, size)` have contiguous offsets from `base_offset` to `next_offset - 1`.
#[derive(Debug)]
pub struct Segment {
    pub base_offset: i64,
    pub path: PathBuf,
    /// Shared so readers can pread outside the partition lock; a deleted segment's file
    /// stays readable until the last reader drops it.
    pub file: Arc<File>,
    pub size: u64,
    pub next_offset: i64,
    /// Largest batch maxTimestamp seen (-1 when none); drives time-based retention.
    pub max_timestamp: i64,
    pub index: OffsetIndex,
}

impl Segment {
    /// Creates a new empty segment file (fails if it already exists).
    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment, LogError> {
        let path = dir.join(log_file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| LogError::io("create segment", &path, e))?;
        Ok(Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            index: OffsetIndex::default(),
        })
    }

    /// Opens an existing segment without validating its contents (see recovery).
    pub fn open(path: PathBuf, base_offset: i64) -> Result<Segment, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| LogError::io("open segment", &path, e))?;
        let size = file
            .metadata()
            .map_err(|e| LogError::io("stat segment", &path, e))?
            .len();
        Ok(Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            index: OffsetIndex::default(),
        })
    }

    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension("index")
    }

    /// Reads the batch header at `pos`. `Ok(None)` at or past the end of the file.
    pub fn header_at(&self, pos: u64, max_batch: usize) -> Result<Option<BatchHeader>, LogError> {
        if pos >= self.size {
            return Ok(None);
        }
        let mut buf = [0u8; HEADER_LEN];
        self.file
            .read_exact_at(&mut buf, pos)
            .map_err(|e| LogError::io("read batch header", &self.path, e))?;
        batch::parse_header(&buf, max_batch)
            .map(Some)
            .map_err(|e| LogError::Corrupt {
                path: self.path.clone(),
                position: pos,
                reason: e.to_string(),
            })
    }

    /// Position of the batch containing `offset` (its last offset >= `offset`), if any.
    pub fn find_position(&self, offset: i64, max_batch: usize) -> Result<Option<u64>, LogError> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let rel = offset
            .saturating_sub(self.base_offset)
            .clamp(0, i64::from(u32::MAX)) as u32;
        let mut pos = self.index.lookup(rel);
        while let Some(h) = self.header_at(pos, max_batch)? {
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_len as u64;
        }
        Ok(None)
    }

    /// Appends one already-validated, stamped batch.
    pub fn append(&mut self, bytes: &[u8], header: &BatchHeader) -> Result<(), LogError> {
        let pos = self.size;
        if let Err(e) = self.file.write_all_at(bytes, pos) {
            // Best effort: cut a partial write so the file still ends on a batch boundary.
            let _ = self.file.set_len(pos);
            return Err(LogError::io("append to segment", &self.path, e));
        }
        self.index
            .maybe_add((header.base_offset - self.base_offset) as u32, pos);
        self.size += bytes.len() as u64;
        self.next_offset = header.next_offset();
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        Ok(())
    }

    /// fdatasync of the segment file.
    pub fn sync(&self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(|e| LogError::io("fdatasync segment", &self.path, e))
    }

    /// Cuts the file at `pos` (a batch boundary) and fsyncs the new length.
    pub fn truncate(&mut self, pos: u64, next_offset: i64) -> Result<(), LogError> {
        self.file
            .set_len(pos)
            .map_err(|e| LogError::io("truncate segment", &self.path, e))?;
        self.file
            .sync_all()
            .map_err(|e| LogError::io("fsync segment", &self.path, e))?;
        self.size = pos;
        self.next_offset = next_offset;
        self.index.truncate_to_pos(pos);
        Ok(())
    }

    /// Persists the sparse index (a cache; not fsynced).
    pub fn save_index(&self) -> Result<(), LogError> {
        let p = self.index_path();
        self.index
            .save(&p)
            .map_err(|e| LogError::io("write index", &p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(log_file_name(42), "00000000000000000042.log");
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
    }
}
