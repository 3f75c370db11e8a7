//! Reads the current file through the descriptor the section holds on it (so a file that was
//! renamed, moved away or deleted is still read to its end), from its `read` offset into a
//! bounded buffer. Lines are framed in place, so no line is copied on our side.
//!
//! A plain file is read with `pread` at explicit offsets (the descriptor is shared with the
//! section's table and with scans). A compressed file is read through its decompressor, in
//! offsets of the decompressed content; opening one at an offset decompresses up to it.

use crate::agent::codec::{self, Codec};
use crate::agent::identity::{read_prefix, DevIno, FINGERPRINT_MAX};
use crate::agent::queue::{FileKey, TrackedFile};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path} is no longer the file being shipped (renamed, replaced or rewritten)")]
    Replaced { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// A compressed file ends in the middle of its stream: it is still being written.
    #[error("{path} is still being compressed")]
    Incomplete { path: PathBuf },
}

/// What `fstat` says of an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime: SystemTime,
    /// The inode still has a name (nlink > 0).
    pub linked: bool,
}

/// `fstat` of an open file.
pub fn stat(file: &File) -> io::Result<Stat> {
    let m = file.metadata()?;
    Ok(Stat {
        size: m.len(),
        mtime: m.modified().unwrap_or(std::time::UNIX_EPOCH),
        linked: m.nlink() > 0,
    })
}

/// Bytes zeroed at a time when the buffer grows towards its cap.
const GROW: usize = 64 * 1024;

enum Source {
    /// `pread` at `base + end`.
    Plain,
    /// The decompressed stream, positioned at `base + end`.
    Compressed(Box<dyn Read + Send>),
}

/// An open file and the unconsumed bytes read from it.
/// Invariant: `buf[pos..end]` holds the content's bytes at offsets `base + pos ..`; `buf[end..]`
/// is initialised scratch space that reads land in (kept between fills: zeroing the whole
/// buffer before every read cost a 256 KiB memset per wake-up, 18 % of the agent's CPU at
/// 10,000 lines/s written in small appends).
pub struct Reader {
    pub key: FileKey,
    pub id: DevIno,
    pub path: PathBuf,
    pub codec: Codec,
    file: Arc<File>,
    source: Source,
    buf: Vec<u8>,
    end: usize,
    pub pos: usize,
    pub base: u64,
    cap: usize,
    /// The content's first bytes (up to FINGERPRINT_MAX) as they were when opened, extended
    /// as the file grows. Re-checked after every read of a plain file: a copytruncate followed
    /// by new writes past our offset changes no inode and need not shrink the file below our
    /// offset, so only the content tells that the bytes just read are not the file we were
    /// reading.
    head: Vec<u8>,
    /// Scratch buffer for the re-check of the first bytes, reused across fills.
    now: Vec<u8>,
}

impl Reader {
    /// Start reading `f` at its `read` offset through `file`, a descriptor on it. `cap`
    /// bounds the buffer and must exceed the longest line.
    pub fn open(f: &TrackedFile, file: Arc<File>, cap: usize) -> Result<Reader, ReadError> {
        let path = f.path.clone();
        let open_err = |source| ReadError::Open {
            path: path.clone(),
            source,
        };
        let meta = file.metadata().map_err(open_err)?;
        if DevIno::of(&meta) != f.id {
            return Err(ReadError::Replaced { path });
        }
        let mut head = Vec::new();
        let source = if f.codec.is_compressed() {
            codec::content_prefix(&file, f.codec, FINGERPRINT_MAX as usize, &mut head).map_err(
                |source| ReadError::Read {
                    path: path.clone(),
                    source,
                },
            )?;
            let mut d = codec::decoder(file.clone(), f.codec).map_err(open_err)?;
            let skipped = io::copy(&mut (&mut d).take(f.read), &mut io::sink());
            match skipped {
                Ok(n) if n == f.read => {}
                Ok(_) => return Err(ReadError::Incomplete { path }),
                Err(e) if codec::is_truncated_stream(&e) => {
                    return Err(ReadError::Incomplete { path })
                }
                Err(source) => return Err(ReadError::Read { path, source }),
            }
            Source::Compressed(d)
        } else {
            read_prefix(&file, &mut head).map_err(|source| ReadError::Read {
                path: path.clone(),
                source,
            })?;
            // Taken for plain while too short to tell (`gzip` had just created it): its
            // content is not what the queue believes; a rescan examines it again.
            if Codec::sniff(&head).is_compressed() {
                return Err(ReadError::Replaced { path });
            }
            Source::Plain
        };
        if !f.fp.matches(&head) {
            // Truncated and rewritten since the queue looked: let a rescan sort it out.
            return Err(ReadError::Replaced { path });
        }
        Ok(Reader {
            key: f.key,
            id: f.id,
            path,
            codec: f.codec,
            file,
            source,
            buf: Vec::new(),
            end: 0,
            pos: 0,
            base: f.read,
            cap,
            head,
            now: Vec::new(),
        })
    }

    /// The content's first bytes as read so far (up to FINGERPRINT_MAX): what the queue's
    /// fingerprint of this file must cover once bytes past it were read.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The bytes read and not yet dropped: `data()[pos..]` is unconsumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// Content offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Content offset just past the bytes read so far.
    pub fn read_end(&self) -> u64 {
        self.base + self.end as u64
    }

    pub fn consume_to(&mut self, end: u64) {
        self.pos = (end - self.base) as usize;
    }

    /// Read more bytes; returns how many (0 at the end of the file, or of a compressed
    /// file's content).
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
        let at = self.base + old as u64;
        let r = loop {
            let r = match &mut self.source {
                Source::Plain => self.file.read_at(&mut self.buf[old..], at),
                Source::Compressed(d) => d.read(&mut self.buf[old..]),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(n) => {
                self.end = old + n;
                if n > 0 && !self.codec.is_compressed() {
                    self.check_head(old)?;
                }
                Ok(n)
            }
            Err(e) if self.codec.is_compressed() && codec::is_truncated_stream(&e) => {
                Err(ReadError::Incomplete {
                    path: self.path.clone(),
                })
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
        if !now.starts_with(&self.head)
            || (self.head.len() < codec::MAGIC_LEN && Codec::sniff(now).is_compressed())
        {
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

    /// `fstat` of the open file (it may have been renamed, moved or unlinked).
    pub fn stat(&self) -> Result<Stat, ReadError> {
        stat(&self.file).map_err(|source| ReadError::Read {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::identity::Fingerprint;
    use crate::agent::queue::Status;
    use std::io::Write;

    fn tracked(path: &std::path::Path, read: u64, codec: Codec) -> TrackedFile {
        let meta = std::fs::metadata(path).expect("stat");
        TrackedFile {
            key: 1,
            id: DevIno::of(&meta),
            fp: Fingerprint::of_prefix(b""),
            path: path.to_path_buf(),
            acked: read,
            read,
            size: meta.len(),
            disk_size: meta.len(),
            mtime: SystemTime::UNIX_EPOCH,
            order: 1,
            status: Status::Active,
            codec,
            present: true,
            held: true,
            linked: true,
            unseen: 0,
            verified: true,
            split_logged: false,
            head: Vec::new(),
            beyond: 0,
            unread_window: None,
            finished_at: None,
            blocked: false,
            at_base: false,
        }
    }

    fn open(path: &std::path::Path) -> Arc<File> {
        Arc::new(File::open(path).expect("open"))
    }

    #[test]
    fn fills_keep_unconsumed_bytes_and_offsets_across_appends_and_a_full_buffer() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.log");
        let mut w = std::fs::File::create(&path).expect("create");
        let content: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        w.write_all(&content[..10]).expect("write");
        let mut r =
            Reader::open(&tracked(&path, 3, Codec::Plain), open(&path), 100_000).expect("open");
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

    #[test]
    fn a_deleted_file_is_read_to_its_end_through_the_held_descriptor() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.log.1");
        std::fs::write(&path, b"one\ntwo\n").expect("write");
        let held = open(&path);
        let f = tracked(&path, 4, Codec::Plain);
        std::fs::remove_file(&path).expect("rm");
        let mut r = Reader::open(&f, held, 1024).expect("open via the descriptor");
        assert_eq!(r.fill().expect("fill"), 4);
        assert_eq!(&r.data()[r.pos..], b"two\n");
        let st = r.stat().expect("fstat");
        assert!(!st.linked, "deleted: no name left");
        assert_eq!(st.size, 8);
    }

    #[test]
    fn a_gzip_file_is_read_in_decompressed_offsets_from_any_point() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("a.log.2.gz");
        let content: Vec<u8> = (0..5000u32)
            .flat_map(|i| format!("line {i:05}\n").into_bytes())
            .collect();
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&content).expect("gzip");
        std::fs::write(&path, e.finish().expect("gzip")).expect("write");
        let mut r =
            Reader::open(&tracked(&path, 12 * 1000, Codec::Gzip), open(&path), 8192).expect("open");
        let mut got = Vec::new();
        while r.fill().expect("fill") > 0 {
            got.extend_from_slice(&r.data()[r.pos..]);
            r.consume_to(r.read_end());
        }
        assert_eq!(got, &content[12 * 1000..]);
        assert_eq!(r.read_end(), content.len() as u64);
    }
}
