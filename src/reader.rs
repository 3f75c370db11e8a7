//! Reads the current file: open by path, check it is the expected inode, seek, and fill a
//! bounded buffer. Lines are framed in place, so no line is copied on our side.

use crate::identity::{read_prefix, DevIno};
use crate::queue::{FileKey, TrackedFile};
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

/// An open file and the unconsumed bytes read from it.
/// Invariant: `buf[pos..]` holds the file's bytes at offsets `base + pos ..`.
pub struct Reader {
    pub key: FileKey,
    pub id: DevIno,
    pub path: PathBuf,
    file: File,
    pub buf: Vec<u8>,
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
            buf: Vec::with_capacity(cap),
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
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        let old = self.buf.len();
        if old >= self.cap {
            return Ok(0);
        }
        self.buf.resize(self.cap, 0);
        let r = loop {
            match self.file.read(&mut self.buf[old..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(n) => {
                self.buf.truncate(old + n);
                if n > 0 {
                    self.check_head(old)?;
                }
                Ok(n)
            }
            Err(source) => {
                self.buf.truncate(old);
                Err(ReadError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        }
    }

    /// After a read: the file must still start with the bytes it started with when opened.
    /// If not, it was truncated (copytruncate) and written again, and what was just read
    /// belongs to the new content: drop it (`buf` back to `old` bytes) and report the file
    /// replaced, so the rescan maps our offsets onto the copy instead of shipping new bytes
    /// under old offsets (which skipped the copy's first bytes: lines lost, found by the soak).
    fn check_head(&mut self, old: usize) -> Result<(), ReadError> {
        let now = &mut self.now;
        if let Err(source) = read_prefix(&self.file, now) {
            self.buf.truncate(old);
            return Err(ReadError::Read {
                path: self.path.clone(),
                source,
            });
        }
        if !now.starts_with(&self.head) {
            self.buf.truncate(old);
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
