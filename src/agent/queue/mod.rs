//! The per-section file queue: which files exist, in which order they ship, how far each is
//! read and acknowledged. A pure state machine: it is fed directory scans and reader
//! observations, and never touches the file system itself.
//!
//! Order is by modification time, oldest first (ties by discovery order); files ship one at
//! a time, front to back. The current file is finished when a newer file exists (or it is
//! gone), it is read to EOF, and it has been idle for `rotate_wait`.
//!
//! Rotation cases handled here:
//! - rename: dev+ino follow the file to its new name; the new base file queues behind it;
//! - copytruncate: the copy (a new inode whose first bytes match the fingerprint of the
//!   truncated file) takes over the truncated file's place and offsets; the truncated base
//!   restarts at 0;
//! - inode reuse: same dev+ino, different fingerprint → a new file starting at 0.
//!
//! Invariants: `acked <= read` for every file; `acked` only moves forward except on
//! identity change (a new file); a file's `acked` never exceeds what the broker acknowledged.

use crate::agent::checkpoint::FileCheckpoint;
use crate::agent::identity::{DevIno, Fingerprint};
use crate::config::StartAt;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub type FileKey = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Has (or may get) bytes to ship.
    Active,
    /// Read to EOF, idle, and a newer file exists: done unless it grows again.
    Finished,
    /// A copy of a live file (same first bytes, other inode): not shipped while the original
    /// lives, adopted in its place if the original is truncated or disappears.
    Shadow(FileKey),
}

#[derive(Debug, Clone)]
pub struct TrackedFile {
    pub key: FileKey,
    pub id: DevIno,
    pub fp: Fingerprint,
    pub path: PathBuf,
    /// Acknowledged by the broker: the checkpoint offset.
    pub acked: u64,
    /// Next byte to hand to the sender.
    pub read: u64,
    pub size: u64,
    pub mtime: SystemTime,
    /// Discovery order, the tie-break for equal mtimes.
    pub order: u64,
    pub status: Status,
    /// Seen in the last scan.
    pub present: bool,
    /// The fingerprint was checked against the file since the agent started.
    pub verified: bool,
    /// A line longer than max_line_bytes was already reported for this file.
    pub split_logged: bool,
    /// The reader holds it open: it can be read to its end even after it vanished.
    pub open: bool,
    /// The file's first bytes (up to FINGERPRINT_MAX), kept in memory only, to recognise a
    /// copy that is still being written (shorter than the fingerprint).
    pub head: Vec<u8>,
}

impl TrackedFile {
    pub fn backlog_bytes(&self) -> u64 {
        self.size.saturating_sub(self.acked)
    }
}

/// One file found by a directory scan.
#[derive(Debug, Clone)]
pub struct ScanEntry {
    pub path: PathBuf,
    pub id: DevIno,
    pub size: u64,
    pub mtime: SystemTime,
    /// The file's first bytes (up to FINGERPRINT_MAX), when [`FileQueue::needs_prefix`] asked.
    pub prefix: Option<Vec<u8>>,
}

/// Something the section should log and count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Bytes that can no longer be read: the file vanished or was truncated before they shipped.
    Lost {
        path: PathBuf,
        bytes: u64,
        reason: &'static str,
    },
    /// A truncated file's unread bytes were found in a copy (copytruncate).
    Adopted {
        from: PathBuf,
        to: PathBuf,
        offset: u64,
    },
    Truncated {
        path: PathBuf,
    },
    GrewAfterFinish {
        path: PathBuf,
    },
    Shadowed {
        path: PathBuf,
        of: PathBuf,
    },
}

/// What is left to ship.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub bytes: u64,
    pub files: u64,
    pub oldest_seconds: u64,
}

/// When the current file may be finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Now,
    /// Not yet idle long enough: ask again at this time.
    At(SystemTime),
    /// No newer file: keep following this one.
    No,
}

/// Whether `path` is the section's base_log_fullpath (a free function so it can be used while
/// a file of the queue is borrowed mutably).
fn is_base(base: &Option<PathBuf>, path: &std::path::Path) -> bool {
    base.as_deref() == Some(path)
}

#[derive(Debug)]
pub struct FileQueue {
    files: BTreeMap<FileKey, TrackedFile>,
    next_key: FileKey,
    current: Option<FileKey>,
    start_at: StartAt,
    /// start_at applies only to files found by the first scan that have no checkpoint.
    first_scan_done: bool,
    rotate_wait: Duration,
    /// dev+ino → file, rebuilt after each reconcile.
    index: HashMap<DevIno, FileKey>,
    /// The section's base_log_fullpath: among files with equal mtimes it ships last.
    base: Option<PathBuf>,
}

impl FileQueue {
    pub fn new(start_at: StartAt, rotate_wait: Duration) -> FileQueue {
        FileQueue {
            base: None,
            index: HashMap::new(),
            files: BTreeMap::new(),
            next_key: 0,
            current: None,
            start_at,
            first_scan_done: false,
            rotate_wait,
        }
    }

    pub fn with_base(mut self, base: Option<PathBuf>) -> FileQueue {
        self.base = base;
        self
    }

    /// Restore files from a checkpoint; they are verified against the file system by the
    /// first scan.
    pub fn restore(&mut self, files: &[FileCheckpoint]) {
        for f in files {
            let key = self.alloc_key();
            let mtime = SystemTime::UNIX_EPOCH
                + Duration::from_nanos(u64::try_from(f.mtime_ns.max(0)).unwrap_or(u64::MAX));
            self.files.insert(
                key,
                TrackedFile {
                    key,
                    id: f.id,
                    fp: f.fingerprint(),
                    path: PathBuf::from(&f.path),
                    acked: f.offset,
                    read: f.offset,
                    size: f.size,
                    mtime,
                    order: key,
                    status: Status::Active,
                    present: false,
                    verified: false,
                    split_logged: false,
                    open: false,
                    head: Vec::new(),
                },
            );
        }
        self.reindex();
    }

    fn alloc_key(&mut self) -> FileKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    pub fn get(&self, key: FileKey) -> Option<&TrackedFile> {
        self.files.get(&key)
    }

    pub fn get_mut(&mut self, key: FileKey) -> Option<&mut TrackedFile> {
        self.files.get_mut(&key)
    }

    pub fn files(&self) -> impl Iterator<Item = &TrackedFile> {
        self.files.values()
    }

    fn by_id(&self, id: DevIno) -> Option<FileKey> {
        self.index.get(&id).copied()
    }

    fn reindex(&mut self) {
        self.index = self.files.values().map(|f| (f.id, f.key)).collect();
    }

    /// An original that `prefix` (the first bytes of the file at `path`) may be a copy of: a
    /// live, unfinished file whose first bytes agree with it. A copy still being written is
    /// shorter than the fingerprint, so the in-memory head is compared where known.
    /// The base file is never a copy: `cp` (copytruncate) writes to a rotated name, and a new
    /// base file that starts with the same header as the previous one (a CSV header, a banner
    /// longer than the fingerprint) is the application's next file, which must not wait.
    fn copy_source(&self, prefix: &[u8], path: &Path, except: FileKey) -> Option<FileKey> {
        if prefix.is_empty() || is_base(&self.base, path) {
            return None;
        }
        self.files
            .values()
            .filter(|f| f.key != except && f.status == Status::Active)
            .find(|f| {
                if f.head.is_empty() {
                    f.fp.len > 0 && f.fp.matches(prefix)
                } else {
                    let n = f.head.len().min(prefix.len());
                    f.head[..n] == prefix[..n]
                }
            })
            .map(|f| f.key)
    }

    /// Whether a scan should read this file's first bytes: new files, files not verified
    /// since start (or since the reader saw them change), shadows, and files whose size or
    /// mtime changed. A changed file is always re-read: copytruncate followed by new writes
    /// can leave a file larger than our offset with other content, and only its first bytes
    /// tell (found by the soak: a rotated file resumed mid-way in content it never had).
    pub fn needs_prefix(&self, id: DevIno, size: u64, mtime: SystemTime) -> bool {
        match self.by_id(id).and_then(|k| self.files.get(&k)) {
            None => true,
            Some(f) => {
                !f.verified
                    || matches!(f.status, Status::Shadow(_))
                    || f.size != size
                    || f.mtime != mtime
            }
        }
    }

    /// The reader found `key`'s content is not what the queue believes: make the next scan
    /// read its first bytes again.
    pub fn unverify(&mut self, key: FileKey) {
        if let Some(f) = self.files.get_mut(&key) {
            f.verified = false;
        }
    }

    /// Bring the queue in line with a directory scan.
    pub fn reconcile(&mut self, scan: Vec<ScanEntry>) -> Vec<Notice> {
        let mut notices = Vec::new();
        for f in self.files.values_mut() {
            f.present = false;
        }
        // Files whose old content is gone from their inode (truncated or replaced): their
        // unshipped bytes survive only in a copy.
        let mut orphans: Vec<(TrackedFile, &'static str)> = Vec::new();
        let mut new_files: Vec<ScanEntry> = Vec::new();
        for e in scan {
            let Some(key) = self.by_id(e.id) else {
                new_files.push(e);
                continue;
            };
            let Some(f) = self.files.get_mut(&key) else {
                continue;
            };
            let prefix_ok = e.prefix.as_deref().map(|p| f.fp.matches(p)).unwrap_or(true);
            if let Status::Shadow(of) = f.status {
                f.present = true;
                f.path = e.path.clone();
                f.size = e.size;
                f.mtime = e.mtime;
                if let Some(p) = &e.prefix {
                    f.head.clone_from(p);
                    // Diverged from its original: an independent file after all.
                    if self.files.contains_key(&of) && self.copy_source(p, &e.path, key) != Some(of)
                    {
                        new_files.push(e);
                        self.files.remove(&key);
                    }
                }
                continue;
            }
            if e.size < f.read || !prefix_ok {
                let old = self.files.remove(&key);
                if let Some(old) = old {
                    notices.push(Notice::Truncated {
                        path: old.path.clone(),
                    });
                    if self.current == Some(key) {
                        self.current = None;
                    }
                    orphans.push((old, "truncated"));
                }
                new_files.push(e);
                continue;
            }
            f.present = true;
            f.verified |= e.prefix.is_some();
            let grew = e.size > f.size;
            f.path.clone_from(&e.path);
            f.size = e.size;
            f.mtime = e.mtime;
            if let Some(p) = &e.prefix {
                let fp = Fingerprint::of_prefix(p);
                if fp.len > f.fp.len {
                    f.fp = fp;
                }
                f.head.clone_from(p);
            }
            // Nothing shipped from it yet, and it turns out to be a copy of a live file (it
            // was first seen empty, while `cp` had only just created it): hold it back.
            if f.status == Status::Active && f.read == 0 && !f.open {
                if let Some(of) = e
                    .prefix
                    .as_deref()
                    .and_then(|p| self.copy_source(p, &e.path, key))
                {
                    let orig = self
                        .files
                        .get(&of)
                        .map(|o| o.path.clone())
                        .unwrap_or_default();
                    if let Some(f) = self.files.get_mut(&key) {
                        f.status = Status::Shadow(of);
                        notices.push(Notice::Shadowed {
                            path: f.path.clone(),
                            of: orig,
                        });
                    }
                    continue;
                }
            }
            let Some(f) = self.files.get_mut(&key) else {
                continue;
            };
            if f.status == Status::Finished && grew {
                f.status = Status::Active;
                notices.push(Notice::GrewAfterFinish {
                    path: f.path.clone(),
                });
            } else if f.status == Status::Finished
                && f.size > f.read
                && !is_base(&self.base, &f.path)
            {
                // It finished at the base path with its incomplete last line held back and has
                // since been rotated away: nothing will complete that line now, so it ships.
                f.status = Status::Active;
            }
        }

        // Files no longer found. The current file keeps being read through its open
        // descriptor; others can no longer be read.
        let gone: Vec<FileKey> = self
            .files
            .values()
            .filter(|f| !(f.present || f.open && Some(f.key) == self.current))
            .map(|f| f.key)
            .collect();
        for key in gone {
            if let Some(f) = self.files.remove(&key) {
                // A finished file may still hold an unshipped incomplete last line.
                if f.status == Status::Active || f.size > f.read.max(f.acked) {
                    orphans.push((f, "deleted_before_read"));
                }
            }
        }

        // Files found by one scan are numbered in name order: on an mtime tie (a fresh
        // checkout, a copy with preserved times) date-suffixed rotations then ship in date order.
        new_files.sort_by(|a, b| a.path.cmp(&b.path));
        for e in new_files {
            self.add_new(e, &mut orphans, &mut notices);
        }
        // Shadows whose original is now an orphan take over its place.
        let shadows: Vec<(FileKey, FileKey)> = self
            .files
            .values()
            .filter_map(|f| match f.status {
                Status::Shadow(of) if !self.files.contains_key(&of) => Some((f.key, of)),
                _ => None,
            })
            .collect();
        for (skey, of) in shadows {
            let Some(s) = self.files.remove(&skey) else {
                continue;
            };
            if let Some(pos) = orphans
                .iter()
                .position(|(o, _)| o.key == of && o.acked <= s.size)
            {
                let (o, _) = orphans.swap_remove(pos);
                notices.push(Notice::Adopted {
                    from: o.path.clone(),
                    to: s.path.clone(),
                    offset: o.acked,
                });
                self.insert_adopted(o, &s);
            } else {
                let key = self.alloc_key();
                self.files.insert(
                    key,
                    TrackedFile {
                        key,
                        order: key,
                        status: Status::Active,
                        acked: 0,
                        read: 0,
                        ..s
                    },
                );
            }
        }
        for (o, reason) in orphans {
            let bytes = o.size.saturating_sub(o.read.max(o.acked));
            if bytes > 0 {
                notices.push(Notice::Lost {
                    path: o.path.clone(),
                    bytes,
                    reason,
                });
            }
        }
        self.first_scan_done = true;
        self.reindex();
        notices
    }

    /// The copy `s` continues the orphan `o`: same place in the queue, same offsets.
    fn insert_adopted(&mut self, o: TrackedFile, s: &TrackedFile) {
        let read = if o.read <= s.size { o.read } else { o.acked };
        self.files.insert(
            o.key,
            TrackedFile {
                id: s.id,
                path: s.path.clone(),
                size: s.size,
                present: true,
                verified: true,
                status: Status::Active,
                open: false,
                head: s.head.clone(),
                read,
                ..o
            },
        );
    }

    fn add_new(
        &mut self,
        e: ScanEntry,
        orphans: &mut Vec<(TrackedFile, &'static str)>,
        notices: &mut Vec<Notice>,
    ) {
        let prefix = e.prefix.clone().unwrap_or_default();
        let fp = Fingerprint::of_prefix(&prefix);
        if !prefix.is_empty() {
            // A copy of an orphan (copytruncate, or a move across file systems)?
            if let Some(pos) = orphans
                .iter()
                .position(|(o, _)| o.fp.len > 0 && o.fp.matches(&prefix) && o.acked <= e.size)
            {
                let (o, _) = orphans.swap_remove(pos);
                notices.push(Notice::Adopted {
                    from: o.path.clone(),
                    to: e.path.clone(),
                    offset: o.acked,
                });
                let s = TrackedFile {
                    key: 0,
                    id: e.id,
                    fp,
                    path: e.path,
                    acked: 0,
                    read: 0,
                    size: e.size,
                    mtime: e.mtime,
                    order: 0,
                    status: Status::Active,
                    present: true,
                    verified: true,
                    split_logged: false,
                    open: false,
                    head: prefix.clone(),
                };
                self.insert_adopted(o, &s);
                return;
            }
            // A copy of a live file: hold it back while the original lives.
            if let Some(of) = self.copy_source(&prefix, &e.path, FileKey::MAX) {
                let orig = self
                    .files
                    .get(&of)
                    .map(|o| o.path.clone())
                    .unwrap_or_default();
                notices.push(Notice::Shadowed {
                    path: e.path.clone(),
                    of: orig,
                });
                let key = self.alloc_key();
                self.files.insert(
                    key,
                    TrackedFile {
                        key,
                        id: e.id,
                        fp,
                        path: e.path,
                        acked: 0,
                        read: 0,
                        size: e.size,
                        mtime: e.mtime,
                        order: key,
                        status: Status::Shadow(of),
                        present: true,
                        verified: true,
                        split_logged: false,
                        open: false,
                        head: prefix.clone(),
                    },
                );
                return;
            }
        }
        let start = if !self.first_scan_done && self.start_at == StartAt::End {
            e.size
        } else {
            0
        };
        let key = self.alloc_key();
        self.files.insert(
            key,
            TrackedFile {
                key,
                id: e.id,
                fp,
                path: e.path,
                acked: start,
                read: start,
                size: e.size,
                mtime: e.mtime,
                order: key,
                status: Status::Active,
                present: true,
                verified: true,
                split_logged: false,
                open: false,
                head: prefix.clone(),
            },
        );
    }

    /// The reader saw `head` as the file's first bytes: extend the fingerprint and the
    /// in-memory head to it. Keeps the invariant that a file's fingerprint covers
    /// `min(read, FINGERPRINT_MAX)` bytes, so a checkpoint never pairs an offset with a
    /// fingerprint shorter than the bytes it skips (an empty fingerprint matches any file:
    /// after a kill -9, a copytruncated and rewritten file would be resumed mid-way).
    pub fn observe_head(&mut self, key: FileKey, head: &[u8]) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        if (head.len() as u64) > f.fp.len && f.fp.matches(head) {
            f.fp = Fingerprint::of_prefix(head);
        }
        if head.len() > f.head.len() && head.starts_with(&f.head) {
            f.head = head.to_vec();
        }
    }

    /// Shipping order: mtime, then the base file last (it is the one still written to),
    /// then discovery order. Ties are common: many file systems keep mtimes at the kernel's
    /// tick granularity, and a rotation storm touches several files within one tick.
    fn sort_key(&self, f: &TrackedFile) -> (SystemTime, bool, u64) {
        (f.mtime, is_base(&self.base, &f.path), f.order)
    }

    /// The file being shipped: kept until finished, else the oldest active file.
    pub fn current(&mut self) -> Option<FileKey> {
        if let Some(k) = self.current {
            if self
                .files
                .get(&k)
                .is_some_and(|f| f.status == Status::Active)
            {
                return Some(k);
            }
        }
        self.current = self
            .files
            .values()
            .filter(|f| f.status == Status::Active)
            .min_by_key(|f| self.sort_key(f))
            .map(|f| f.key);
        self.current
    }

    /// Files in shipping order (shadows excluded).
    pub fn ordered(&self) -> Vec<&TrackedFile> {
        let mut v: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|f| !matches!(f.status, Status::Shadow(_)))
            .collect();
        v.sort_by_key(|f| self.sort_key(f));
        v
    }

    /// Whether `key` is the file at base_log_fullpath, the one the application writes to:
    /// its incomplete last line is still being written, so it is never shipped on finish.
    pub fn is_live_base(&self, key: FileKey) -> bool {
        self.files
            .get(&key)
            .is_some_and(|f| f.present && is_base(&self.base, &f.path))
    }

    /// May the current file `key`, read to EOF, be finished at `now`?
    pub fn can_finish(&self, key: FileKey, now: SystemTime) -> Finish {
        let Some(cur) = self.files.get(&key) else {
            return Finish::Now;
        };
        // The newer file must have content: `cp` (copytruncate) creates its copy empty before
        // filling it, and an empty newer file that finished the original would let the copy
        // become current and be read from 0 before it is recognised as a copy.
        // The live base file counts even when empty: after a copytruncate the copy is done
        // once idle, whether or not the application wrote to the truncated base yet.
        // A file held back as a copy of this one counts once it cannot be a copytruncate in
        // progress: this one is not the live base, and the copy grew past it (the next file of
        // an application whose files start with the same long header) or is idle and complete
        // (an identical file, or a finished backup). Otherwise it would keep this file, and
        // itself, from ever finishing.
        let cur_is_base = is_base(&self.base, &cur.path);
        let newer = !cur.present
            || self.files.values().any(|f| {
                f.key != key
                    && self.sort_key(f) > self.sort_key(cur)
                    && match f.status {
                        Status::Shadow(of) => {
                            of == key
                                && !cur_is_base
                                && (f.size > cur.size
                                    || f.size == cur.size && now >= f.mtime + self.rotate_wait)
                        }
                        _ => f.size > 0 || is_base(&self.base, &f.path),
                    }
            });
        if !newer {
            return Finish::No;
        }
        let idle_at = cur.mtime + self.rotate_wait;
        if now >= idle_at {
            Finish::Now
        } else {
            Finish::At(idle_at)
        }
    }

    pub fn finish(&mut self, key: FileKey) {
        if let Some(f) = self.files.get_mut(&key) {
            f.status = Status::Finished;
            f.open = false;
        }
        if self.current == Some(key) {
            self.current = None;
        }
        self.release_shadows(key);
        // A finished file that is gone has nothing more to give once acknowledged.
        if self
            .files
            .get(&key)
            .is_some_and(|f| !f.present && f.acked >= f.read)
        {
            self.files.remove(&key);
        }
    }

    /// `of` was read to its end without being truncated, so files held back as its copies
    /// are independent files (a backup, or rotated files that start alike): they queue now,
    /// or wait for another live original they match, instead of waiting for the next scan.
    fn release_shadows(&mut self, of: FileKey) {
        let mut shadows: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|f| f.status == Status::Shadow(of))
            .collect();
        // Oldest first: a younger one that matches an older one is held back behind it.
        shadows.sort_by_key(|f| self.sort_key(f));
        let shadows: Vec<FileKey> = shadows.iter().map(|f| f.key).collect();
        for key in shadows {
            let next = self
                .files
                .get(&key)
                .and_then(|f| self.copy_source(&f.head, &f.path, key));
            if let Some(f) = self.files.get_mut(&key) {
                f.status = next.map_or(Status::Active, Status::Shadow);
            }
        }
    }

    /// After a failed delivery: everything not acknowledged is read again, in order.
    pub fn rewind(&mut self) {
        for f in self.files.values_mut() {
            if f.read > f.acked {
                f.read = f.acked;
                if f.status == Status::Finished {
                    f.status = Status::Active;
                }
            }
        }
        self.current = None;
    }

    /// Drop finished files that are gone and fully acknowledged.
    pub fn prune(&mut self) {
        self.files
            .retain(|_, f| f.present || f.status == Status::Active || f.acked < f.read);
    }

    pub fn files_mut(&mut self) -> impl Iterator<Item = &mut TrackedFile> {
        self.files.values_mut()
    }

    /// Unshipped bytes and files, and the age (by mtime, at `now`) of the oldest of them.
    pub fn backlog(&self, now: SystemTime) -> Backlog {
        let mut b = Backlog::default();
        let mut oldest: Option<SystemTime> = None;
        for f in self
            .files
            .values()
            .filter(|f| !matches!(f.status, Status::Shadow(_)))
        {
            let n = f.backlog_bytes();
            if n > 0 {
                b.bytes += n;
                b.files += 1;
                oldest = Some(oldest.map_or(f.mtime, |o| o.min(f.mtime)));
            }
        }
        b.oldest_seconds = oldest
            .and_then(|o| now.duration_since(o).ok())
            .map_or(0, |d| d.as_secs());
        b
    }

    /// Checkpoint entries: every file except shadows.
    pub fn checkpoint_entries(&self) -> Vec<FileCheckpoint> {
        self.ordered()
            .into_iter()
            .map(|f| FileCheckpoint {
                id: f.id,
                fp_len: f.fp.len,
                fp_crc: f.fp.crc,
                path: f.path.to_string_lossy().into_owned(),
                offset: f.acked,
                size: f.size.max(f.acked),
                mtime_ns: f
                    .mtime
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i128)
                    .unwrap_or(0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
