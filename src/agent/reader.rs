//! Reads the current file: open by path, check it is the expected inode, seek, and fill a
//! bounded buffer. Lines are framed in place, so no line is copied on our side.

use crate::agent::identity::{read_prefix, DevIno};
use crate::agent::queue::{FileKey, TrackedFile};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path} is no longer the file being shipped (renamed or replaced)")]
    Replaced { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
}

/// Bytes zeroed at a time when the buffer grows towards its cap.
const GROW: usize = 64 * 1024;

/// An open file and the unconsumed bytes read from it.
/// Invariant: `buf[pos..end]` holds the file's bytes at offsets `base + pos ..`; `buf[end..]`
/// is initialised scratch space that reads land in (kept between fills: zeroing the whole
/// buffer before every read cost a 256 KiB memset per wake-up, 18 % of the agent's CPU at
/// 10,000 lines/s written in small appends).
pub struct Reader {
    pub key: FileKey,
    pub id: DevIno,
    pub path: PathBuf,
    file: File,
    buf: Vec<u8>,
    end: usize,
    pub pos: usize,
    pub base: u64,
    cap: usize,
    /// The file's first bytes (up to FINGERPRINT_MAX) as they were when opened, extended as
    /// the file grows. Re-checked after every read: a copytruncate followed by new writes
    /// past our offset changes no inode and need not shrink the file below our offset, so
    /// only the content tells that the bytes just read are not the file we were reading.
    head: Vec<u8>,
    /// Scratch buffer for the re-check of the first bytes, reused across fills.
    now: Vec<u8>,
}

impl Reader {
    /// Open `f` at its `read` offset. `cap` bounds the buffer and must exceed the longest line.
    pub fn open(f: &TrackedFile, cap: usize) -> Result<Reader, ReadError> {
        let path = f.path.clone();
        let mut file = File::open(&path).map_err(|source| ReadError::Open {
            path: path.clone(),
            source,
        })?;
        let meta = file.metadata().map_err(|source| ReadError::Open {
            path: path.clone(),
            source,
        })?;
        if DevIno::of(&meta) != f.id {
            return Err(ReadError::Replaced { path });
        }
        let mut head = Vec::new();
        read_prefix(&file, &mut head).map_err(|source| ReadError::Read {
            path: path.clone(),
            source,
        })?;
        if !f.fp.matches(&head) {
            // Truncated and rewritten since the queue looked: let a rescan sort it out.
            return Err(ReadError::Replaced { path });
        }
        file.seek(SeekFrom::Start(f.read))
            .map_err(|source| ReadError::Read {
                path: path.clone(),
                source,
            })?;
        Ok(Reader {
            key: f.key,
            id: f.id,
            path,
            file,
            buf: Vec::new(),
            end: 0,
            pos: 0,
            base: f.read,
            cap,
            head,
            now: Vec::new(),
        })
    }

    /// The file's first bytes as read so far (up to FINGERPRINT_MAX): what the queue's
    /// fingerprint of this file must cover once bytes past it were read.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The bytes read and not yet dropped: `data()[pos..]` is unconsumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// File offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn consume_to(&mut self, end: u64) {
        self.pos = (end - self.base) as usize;
    }

    /// Read more bytes; returns how many (0 at EOF).
    pub fn fill(&mut self) -> Result<usize, ReadError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let old = self.end;
        if old >= self.cap {
            return Ok(0);
        }
        if self.buf.len() < self.cap && self.buf.len() - old < GROW {
            let len = (self.buf.len() * 2).max(old + GROW).min(self.cap);
            self.buf.resize(len, 0);
        }
        let r = loop {
            match self.file.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(n) => {
                self.end = old + n;
                if n > 0 {
                    self.check_head(old)?;
                }
                Ok(n)
            }
            Err(source) => Err(ReadError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// After a read: the file must still start with the bytes it started with when opened.
    /// If not, it was truncated (copytruncate) and written again, and what was just read
    /// belongs to the new content: drop it (`end` back to `old`) and report the file
    /// replaced, so the rescan maps our offsets onto the copy instead of shipping new bytes
    /// under old offsets (which skipped the copy's first bytes: lines lost, found by the soak).
    fn check_head(&mut self, old: usize) -> Result<(), ReadError> {
        let now = &mut self.now;
        if let Err(source) = read_prefix(&self.file, now) {
            self.end = old;
            return Err(ReadError::Read {
                path: self.path.clone(),
                source,
            });
        }
        if !now.starts_with(&self.head) {
            self.end = old;
            return Err(ReadError::Replaced {
                path: self.path.clone(),
            });
        }
        if now.len() > self.head.len() {
            self.head.clone_from(now);
        }
        Ok(())
    }

    /// Size and mtime of the open file (it may have been renamed or unlinked).
    pub fn stat(&self) -> Result<(u64, SystemTime), ReadError> {
        let m = self.file.metadata().map_err(|source| ReadError::Read {
            path: self.path.clone(),
            source,
        })?;
        Ok((m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::identity::Fingerprint;
    use crate::agent::queue::Status;
    use std::io::Write;

    fn tracked(path: &std::path::Path, read: u64) -> TrackedFile {
        let meta = std::fs::metadata(path).expect("stat");
        TrackedFile {
            key: 1,
            id: DevIno::of(&meta),
            fp: Fingerprint::of_prefix(b""),
            path: path.to_path_buf(),
            acked: read,
            read,
            size: meta.len(),
            mtime: SystemTime::UNIX_EPOCH,
            order: 1,
            status: Status::Active,
            present: true,
            verified: true,
            split_logged: false,
            open: false,
            head: Vec::new(),
        }
    }

    #[test]
    fn fills_keep_unconsumed_bytes_and_offsets_across_appends_and_a_full_buffer() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.log");
        let mut w = std::fs::File::create(&path).expect("create");
        let content: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        w.write_all(&content[..10]).expect("write");
        let mut r = Reader::open(&tracked(&path, 3), 100_000).expect("open");
        assert_eq!(r.fill().expect("fill"), 7);
        assert_eq!(&r.data()[r.pos..], &content[3..10]);
        r.consume_to(8);
        w.write_all(&content[10..]).expect("write");
        let mut got = Vec::new();
        loop {
            let before = r.offset();
            let n = r.fill().expect("fill");
            assert_eq!(r.offset(), before, "offsets survive compaction");
            assert!(r.data().len() <= 100_000, "bounded by the cap");
            if n == 0 {
                break;
            }
            // Consume all but the last 5 bytes, as a framer holding a partial line would.
            let keep = 5.min(r.data().len() - r.pos);
            let upto = r.data().len() - keep;
            got.extend_from_slice(&r.data()[r.pos..upto]);
            r.consume_to(r.base + upto as u64);
        }
        got.extend_from_slice(&r.data()[r.pos..]);
        assert_eq!(got, &content[8..]);
    }
}
