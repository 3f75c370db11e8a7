//! Sparse offset index of one segment: (offset relative to the segment base, byte position)
//! pairs, one entry every [`INDEX_INTERVAL_BYTES`] of log. The index is a cache: it is
//! rebuilt from the segment whenever it is missing or fails validation.

use std::path::Path;

/// Bytes of log between two index entries.
pub const INDEX_INTERVAL_BYTES: u64 = 4096;

/// In-memory sparse index.
///
/// Invariant: entries are strictly increasing in both relative offset and position, and the
/// first entry (if any) is at position 0.
#[derive(Debug, Default, Clone)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
    /// Log position at the last entry; a new entry is due once a batch starts
    /// `INDEX_INTERVAL_BYTES` past it.
    last_indexed_pos: Option<u64>,
}

impl OffsetIndex {
    /// Records that a batch with `rel_offset` starts at `pos`, if an entry is due.
    pub fn maybe_add(&mut self, rel_offset: u32, pos: u64) {
        let due = match self.last_indexed_pos {
            None => true,
            Some(last) => pos >= last + INDEX_INTERVAL_BYTES,
        };
        // Positions beyond u32 cannot be indexed; segments are capped well below 4 GiB.
        if due && pos <= u64::from(u32::MAX) {
            if let Some(&(o, p)) = self.entries.last() {
                if rel_offset <= o || pos as u32 <= p {
                    return;
                }
            }
            self.entries.push((rel_offset, pos as u32));
            self.last_indexed_pos = Some(pos);
        }
    }

    /// Largest indexed position whose offset is <= `rel_offset` (0 when none).
    pub fn lookup(&self, rel_offset: u32) -> u64 {
        let idx = self.entries.partition_point(|&(o, _)| o <= rel_offset);
        if idx == 0 {
            0
        } else {
            u64::from(self.entries[idx - 1].1)
        }
    }

    /// Drops entries at or after `pos` (after a truncation).
    pub fn truncate_to_pos(&mut self, pos: u64) {
        self.entries.retain(|&(_, p)| u64::from(p) < pos);
        self.last_indexed_pos = self.entries.last().map(|&(_, p)| u64::from(p));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialized form: big-endian (u32 relative offset, u32 position) pairs.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 8);
        for &(o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Parses and validates a serialized index against the segment's size. `None` when the
    /// bytes are not a plausible index (odd size, not increasing, beyond the segment).
    pub fn from_bytes(bytes: &[u8], segment_len: u64) -> Option<OffsetIndex> {
        if bytes.len() % 8 != 0 {
            return None;
        }
        let mut idx = OffsetIndex::default();
        for chunk in bytes.chunks_exact(8) {
            let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if u64::from(p) >= segment_len {
                return None;
            }
            if let Some(&(lo, lp)) = idx.entries.last() {
                if o <= lo || p <= lp {
                    return None;
                }
            } else if p != 0 {
                return None;
            }
            idx.entries.push((o, p));
        }
        idx.last_indexed_pos = idx.entries.last().map(|&(_, p)| u64::from(p));
        Some(idx)
    }

    /// Writes the index next to its segment (tmp + rename; no fsync: it is a cache).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        logferry_fsutil::replace(path, &self.to_bytes(), logferry_fsutil::Durability::Cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_lookup_and_roundtrip() {
        let mut idx = OffsetIndex::default();
        for i in 0..100u32 {
            idx.maybe_add(i * 10, u64::from(i) * 1000);
        }
        // One entry every >= 4096 bytes: positions 0, 5000, 10000, ...
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(49), 0);
        assert_eq!(idx.lookup(50), 5000);
        assert_eq!(idx.lookup(57), 5000);
        let bytes = idx.to_bytes();
        let back = OffsetIndex::from_bytes(&bytes, 100_000).expect("valid");
        assert_eq!(back.lookup(57), 5000);
        assert!(OffsetIndex::from_bytes(&bytes, 6000).is_none());
        assert!(OffsetIndex::from_bytes(&bytes[..7], 100_000).is_none());
    }
}
