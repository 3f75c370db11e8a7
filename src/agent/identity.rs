//! File identity: device + inode, plus a fingerprint of the file's first bytes.
//!
//! The path is not the identity: a rename keeps dev+ino, so rotation is followed. dev+ino alone
//! is not enough either: a deleted file's inode can be reused by a new file, and a truncated
//! file keeps its inode while its content restarts. The fingerprint (CRC32C of the first
//! `len` bytes, `len` growing up to [`FINGERPRINT_MAX`] as the file grows) tells those apart.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// Bytes covered by a complete fingerprint.
pub const FINGERPRINT_MAX: u64 = 256;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct DevIno {
    pub dev: u64,
    pub ino: u64,
}

impl DevIno {
    pub fn of(meta: &std::fs::Metadata) -> DevIno {
        DevIno {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// CRC32C of the first `len` bytes. Invariant: `len <= FINGERPRINT_MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Fingerprint {
    pub len: u64,
    pub crc: u32,
}

impl Fingerprint {
    /// Fingerprint over the first `min(bytes.len(), FINGERPRINT_MAX)` bytes.
    pub fn of_prefix(bytes: &[u8]) -> Fingerprint {
        let n = bytes.len().min(FINGERPRINT_MAX as usize);
        Fingerprint {
            len: n as u64,
            crc: crc32c::crc32c(&bytes[..n]),
        }
    }

    /// Whether `prefix` (the file's first bytes, at least `self.len` of them) starts with
    /// the bytes this fingerprint was taken over.
    pub fn matches(&self, prefix: &[u8]) -> bool {
        (prefix.len() as u64) >= self.len
            && crc32c::crc32c(&prefix[..self.len as usize]) == self.crc
    }

    pub fn is_complete(&self) -> bool {
        self.len >= FINGERPRINT_MAX
    }
}

/// Read the first up to [`FINGERPRINT_MAX`] bytes of an open file (positional, so the
/// reader's position is untouched).
pub fn read_prefix(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.resize(FINGERPRINT_MAX as usize, 0);
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_grows_and_matches_prefixes() {
        let short = Fingerprint::of_prefix(b"hello\n");
        assert_eq!(short.len, 6);
        assert!(short.matches(b"hello\nworld\n"));
        assert!(!short.matches(b"hellx\nworld\n"));
        assert!(!short.matches(b"hel"));
        let long = vec![b'x'; 1000];
        let fp = Fingerprint::of_prefix(&long);
        assert!(fp.is_complete());
        assert_eq!(fp.len, FINGERPRINT_MAX);
        assert!(fp.matches(&long));
        assert!(Fingerprint::default().matches(b""));
    }
}
