//! The per-section file queue: which files exist, in which order they ship, how far each is
//! read and acknowledged. A pure state machine: it is fed directory scans ([`reconcile`]) and
//! observations of the files the section holds open, and never touches the file system.
//!
//! Order is by modification time, oldest first (ties: the base file last, then discovery
//! order); the current file ships until it is finished, then the next. A file is finished
//! when it is read to its end, a newer file exists (or it left the directory), and either it
//! has been idle for `rotate_wait` or the writer has visibly moved on (a newer file was
//! written after this one's last write): so a writer that rotates every half second is never
//! left behind, and a late write to a finished file is still shipped (it reactivates).
//!
//! The section holds a descriptor on every file it tracks ([`TrackedFile::held`], bounded by
//! `max_open_files`), so rename-out, delete and compress-and-delete lose nothing: a file that
//! leaves the directory while held stays in the queue and is read to its end through the
//! descriptor. A file that is not held and not listed by a scan is kept for
//! [`VANISH_SCANS`] scans (a rename between a scan's listing and its `stat` hides a file under
//! both names) and recognised by dev+inode+fingerprint wherever it reappears.
//!
//! Rotation cases (see [`reconcile`]): rename and rename chains (dev+ino follow the file);
//! copytruncate (the copy takes over the truncated file's place and offsets, exactly: what was
//! already read is not read again, and only the truncated tail nobody read is lost); inode
//! reuse; compressed rotations (a `.gz` whose content continues a known file is that file).
//!
//! Invariants: `acked <= read` and `acked <= size` for every file; `acked` only moves
//! forward except on identity change (a new file); a file's `acked` never exceeds what the
//! broker acknowledged.

mod reconcile;

use crate::agent::checkpoint::FileCheckpoint;
use crate::agent::codec::Codec;
use crate::agent::identity::{DevIno, Fingerprint};
use crate::config::StartAt;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub use reconcile::VANISH_SCANS;

pub type FileKey = u64;

/// Finished files that left the disk, remembered per section to recognise their compressed
/// copies (logrotate `delaycompress` compresses a file one rotation after it was shipped).
const GONE_MAX: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Has (or may get) bytes to ship.
    Active,
    /// Read to its end and done, unless it grows again.
    Finished,
    /// A copy of a live file (same first bytes, other inode; plain `cp` or compressed): not
    /// shipped while the original lives, adopted in its place if the original is truncated
    /// or vanishes, recognised as already shipped once the original is.
    Shadow(FileKey),
    /// Finished and no longer on disk: never shipped again, remembered (at most
    /// [`GONE_MAX`]) to recognise a compressed copy of it.
    Gone,
    /// Its content can no longer be read (vanished or truncated before it was all read);
    /// kept only while lines read from it are in flight, so their fate is counted exactly.
    Orphaned,
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
    /// Content size as last observed (for a compressed file: of its decompressed content,
    /// as far as known).
    pub size: u64,
    /// Size on disk as last listed (differs from `size` for compressed files).
    pub disk_size: u64,
    pub mtime: SystemTime,
    /// Discovery order, the tie-break for equal mtimes.
    pub order: u64,
    pub status: Status,
    pub codec: Codec,
    /// Listed by the last scan.
    pub present: bool,
    /// The section holds an open descriptor: readable to its end wherever it went.
    pub held: bool,
    /// The inode still has a name (false once deleted: readable only through the descriptor,
    /// its disk space pinned by the agent).
    pub linked: bool,
    /// Scans in a row that did not list it while it was not held.
    pub unseen: u32,
    /// The fingerprint was checked against the file since the agent started.
    pub verified: bool,
    /// A line longer than max_line_bytes was already reported for this file.
    pub split_logged: bool,
    /// The file's first bytes (up to FINGERPRINT_MAX), kept in memory only, to recognise a
    /// copy that is still being written (shorter than the fingerprint).
    pub head: Vec<u8>,
    /// An adopted copy: the end of what was read from the original before it was truncated,
    /// past the copy's end (lines of logrotate's copy→truncate window that we caught). They
    /// are in flight or acknowledged; if they must be re-read, they are lost.
    pub beyond: u64,
    /// An adopted copy: the original's bytes `[from, to)` that were seen (its size as last
    /// observed) but not read when it was truncated. Those past the copy's final size were
    /// only in the truncated original: lost, counted when the copy is finished (its size is
    /// final then; a copy listed while `cp` was still writing it is not).
    pub unread_window: Option<(u64, u64)>,
    /// When it was finished (its descriptor lingers `rotate_wait` for late writes).
    pub finished_at: Option<SystemTime>,
    /// Nothing could be read from it as it was (empty and perhaps a copy to come, or a
    /// compressed file still being written): not current until its size or mtime changes.
    pub blocked: bool,
    /// Its path is the section's base_log_fullpath (kept with the path: the shipping order
    /// compares it for every file, and comparing paths there cost more than shipping).
    pub at_base: bool,
}

impl TrackedFile {
    /// Every byte of its content as known is acknowledged by the broker. Read is not
    /// shipped: only this makes a copy of it (its `.gz`) "already shipped".
    pub fn acked_to_end(&self) -> bool {
        self.acked >= self.size
    }

    pub fn backlog_bytes(&self) -> u64 {
        self.size.saturating_sub(self.acked)
    }

    /// Whether it may hold bytes not read yet: below its known size, or, for an active
    /// compressed file, until the reader reaches the end of its stream (its content size is
    /// known only then).
    pub fn unread(&self) -> bool {
        self.read < self.size || (self.codec.is_compressed() && self.status == Status::Active)
    }

    /// Whether its content can be shipped from here (held, or reachable by its name).
    pub fn readable(&self) -> bool {
        self.codec.readable() && (self.held || self.present) && !self.blocked
    }

    /// A tracked file for a listed one, read from `start`. A compressed file's content size
    /// is taken as `start` until the reader reaches its end: the length its trailer gives is
    /// only right once the compressor has finished writing it.
    fn new(key: FileKey, e: &ScanEntry, status: Status, start: u64) -> TrackedFile {
        let prefix = e.prefix.clone().unwrap_or_default();
        let size = if e.codec.is_compressed() {
            start
        } else {
            e.size.max(start)
        };
        TrackedFile {
            key,
            id: e.id,
            fp: Fingerprint::of_prefix(&prefix),
            path: e.path.clone(),
            acked: start,
            read: start,
            size,
            disk_size: e.disk_size,
            mtime: e.mtime,
            order: key,
            status,
            codec: e.codec,
            present: true,
            held: false,
            linked: true,
            unseen: 0,
            verified: true,
            split_logged: false,
            head: prefix,
            beyond: 0,
            unread_window: None,
            finished_at: None,
            blocked: false,
            at_base: false,
        }
    }
}

/// One file found by a directory scan.
#[derive(Debug, Clone)]
pub struct ScanEntry {
    pub path: PathBuf,
    pub id: DevIno,
    /// Content size: the file size, or for a compressed file the length its trailer gives
    /// (0 when unknown).
    pub size: u64,
    pub disk_size: u64,
    pub mtime: SystemTime,
    /// The content's first bytes (up to FINGERPRINT_MAX; decompressed for a compressed
    /// file), when [`FileQueue::needs_prefix`] asked.
    pub prefix: Option<Vec<u8>>,
    pub codec: Codec,
}

/// Something the section should log and count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Bytes that can no longer be read: the file vanished or was truncated before they
    /// were read.
    Lost {
        path: PathBuf,
        bytes: u64,
        reason: &'static str,
    },
    /// A file whose content was truncated or vanished continues in a copy (copytruncate, a
    /// compressed rotation).
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
    /// A compressed file whose content was already shipped from its original.
    AlreadyShipped {
        path: PathBuf,
        of: PathBuf,
    },
    /// A compressed file that continues nothing: shipped decompressed, or skipped.
    Compressed {
        path: PathBuf,
        codec: Codec,
        shipped: bool,
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

/// What to do with a compressed file that continues nothing the section knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressedPolicy {
    /// Ship its decompressed content (like any new file).
    Decompress,
    /// Skip it, with a warning.
    Skip,
}

/// Whether `path` is the section's base_log_fullpath (a free function so it can be used while
/// a file of the queue is borrowed mutably).
fn is_base(base: &Option<PathBuf>, path: &Path) -> bool {
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
    /// dev+ino → file, rebuilt after each reconcile (orphans excluded).
    index: HashMap<DevIno, FileKey>,
    /// The section's base_log_fullpath: among files with equal mtimes it ships last.
    base: Option<PathBuf>,
    compressed: CompressedPolicy,
    /// Something that orders files changed (a scan, a size or mtime observed, a file
    /// finished): the next [`FileQueue::current`] looks for the oldest file with unread
    /// bytes again instead of keeping on with the current one.
    reorder: bool,
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
            compressed: CompressedPolicy::Decompress,
            reorder: true,
        }
    }

    pub fn with_base(mut self, base: Option<PathBuf>) -> FileQueue {
        self.base = base;
        self
    }

    pub fn with_compressed(mut self, policy: CompressedPolicy) -> FileQueue {
        self.compressed = policy;
        self
    }

    /// Restore files from a checkpoint; they are verified against the file system by the
    /// first scans. Entries with a codec this build does not know were refused by the parser.
    pub fn restore(&mut self, files: &[FileCheckpoint]) {
        for f in files {
            let key = self.alloc_key();
            let mtime = SystemTime::UNIX_EPOCH
                + Duration::from_nanos(u64::try_from(f.mtime_ns.max(0)).unwrap_or(u64::MAX));
            let codec = Codec::from_name(&f.codec).unwrap_or_default();
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
                    disk_size: 0,
                    mtime,
                    order: key,
                    status: if f.gone { Status::Gone } else { Status::Active },
                    codec,
                    present: false,
                    held: false,
                    linked: !f.gone,
                    unseen: 0,
                    verified: false,
                    split_logged: false,
                    head: Vec::new(),
                    beyond: 0,
                    unread_window: None,
                    finished_at: None,
                    blocked: false,
                    at_base: false,
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

    pub fn files_mut(&mut self) -> impl Iterator<Item = &mut TrackedFile> {
        self.files.values_mut()
    }

    /// The tracked file with this identity (orphans excluded).
    pub fn by_id(&self, id: DevIno) -> Option<FileKey> {
        self.index.get(&id).copied()
    }

    /// The codec and content size the queue knows for a file, for a scan that does not read
    /// its first bytes again.
    pub fn known(&self, id: DevIno) -> Option<(Codec, u64)> {
        let f = self.files.get(&self.by_id(id)?)?;
        Some((f.codec, f.size))
    }

    /// Rebuild the dev+ino index and each file's `at_base` after paths changed.
    fn reindex(&mut self) {
        let base = &self.base;
        for f in self.files.values_mut() {
            f.at_base = is_base(base, &f.path);
        }
        self.index = self
            .files
            .values()
            .filter(|f| f.status != Status::Orphaned)
            .map(|f| (f.id, f.key))
            .collect();
    }

    /// Whether the section should hold a descriptor on `f`: while it may still be shipped
    /// from or adopted (active, a copy held back), and after it finished until it is fully
    /// acknowledged and `rotate_wait` passed (late writes).
    pub fn wants_held(&self, f: &TrackedFile, now: SystemTime) -> bool {
        match f.status {
            Status::Active | Status::Shadow(_) => f.codec.readable(),
            Status::Finished => {
                let since = f.finished_at.unwrap_or(f.mtime).max(f.mtime);
                f.acked < f.read || now < since + self.rotate_wait
            }
            Status::Gone | Status::Orphaned => false,
        }
    }

    /// The section opened (or closed) the descriptor of `key`.
    pub fn set_held(&mut self, key: FileKey, held: bool) {
        if let Some(f) = self.files.get_mut(&key) {
            self.reorder |= f.held != held;
            f.held = held;
            if held {
                f.unseen = 0;
            }
        }
    }

    /// What `fstat` says of a held file: its size, mtime and whether it still has a name.
    /// A finished file that grew is active again (a late write after the writer seemed to
    /// have moved on).
    pub fn observe_stat(
        &mut self,
        key: FileKey,
        size: u64,
        mtime: SystemTime,
        linked: bool,
    ) -> Option<Notice> {
        let f = self.files.get_mut(&key)?;
        if f.status == Status::Orphaned || f.status == Status::Gone {
            return None;
        }
        f.linked = linked;
        let changed = f.mtime != mtime || size > f.size;
        self.reorder |= changed;
        f.blocked &= !changed;
        if f.codec.is_compressed() {
            f.mtime = mtime;
            return None;
        }
        let grew = size > f.size;
        f.size = f.size.max(size);
        f.mtime = mtime;
        if grew && f.status == Status::Finished && size > f.read {
            f.status = Status::Active;
            f.finished_at = None;
            return Some(Notice::GrewAfterFinish {
                path: f.path.clone(),
            });
        }
        None
    }

    /// Whether `key` is young: nothing read from it yet and its fingerprint short of what it
    /// now holds, so it may yet turn out to be a copy being written (`cp` of copytruncate,
    /// first seen empty). Its first bytes must be looked at before it is read.
    pub fn is_young(&self, key: FileKey, size: u64) -> bool {
        self.files.get(&key).is_some_and(|f| {
            f.status == Status::Active
                && f.codec == Codec::Plain
                && f.read == 0
                && f.acked == 0
                && f.fp.len < crate::agent::identity::FINGERPRINT_MAX
                && size > f.fp.len
        })
    }

    /// The first bytes of a young file (see [`FileQueue::is_young`]), read through its
    /// descriptor between scans: extend its fingerprint, and hold it back if it is a copy of
    /// a live file, before it can become current and be shipped twice.
    pub fn observe_young(&mut self, key: FileKey, prefix: &[u8]) -> Option<Notice> {
        let f = self.files.get_mut(&key)?;
        if !f.fp.matches(prefix) {
            f.verified = false;
            return None;
        }
        f.fp = Fingerprint::of_prefix(prefix);
        f.head = prefix.to_vec();
        let path = f.path.clone();
        let of = self.copy_source(prefix, &path, key)?;
        self.reorder = true;
        let orig = self
            .files
            .get(&of)
            .map(|o| o.path.clone())
            .unwrap_or_default();
        self.files.get_mut(&key)?.status = Status::Shadow(of);
        Some(Notice::Shadowed { path, of: orig })
    }

    /// Whether a file is skipped until it changes (see [`FileQueue::block`]).
    pub fn any_blocked(&self) -> bool {
        self.files.values().any(|f| f.blocked)
    }

    /// Nothing can be read from `key` as it is now: skip it until it changes.
    pub fn block(&mut self, key: FileKey) {
        if let Some(f) = self.files.get_mut(&key) {
            f.blocked = true;
            self.reorder = true;
        }
    }

    /// The reader found `key`'s content is not what the queue believes: make the next scan
    /// read its first bytes again.
    pub fn unverify(&mut self, key: FileKey) {
        if let Some(f) = self.files.get_mut(&key) {
            f.verified = false;
        }
    }

    /// Whether a scan should read this file's first bytes: new files, files not verified
    /// since start (or since the reader saw them change), shadows, and files whose size or
    /// mtime changed. A changed file is always re-read: copytruncate followed by new writes
    /// can leave a file larger than our offset with other content, and only its first bytes
    /// tell (found by the soak: a rotated file resumed mid-way in content it never had).
    pub fn needs_prefix(&self, id: DevIno, disk_size: u64, mtime: SystemTime) -> bool {
        match self.by_id(id).and_then(|k| self.files.get(&k)) {
            None => true,
            Some(f) => {
                !f.verified
                    || matches!(f.status, Status::Shadow(_) | Status::Gone)
                    || f.disk_size != disk_size
                    || f.mtime != mtime
            }
        }
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

    /// The reader reached the end of a compressed file's content: its size is now known.
    pub fn observe_content_end(&mut self, key: FileKey, len: u64) {
        self.reorder = true;
        if let Some(f) = self.files.get_mut(&key) {
            f.size = len.max(f.acked);
        }
    }

    /// Shipping order: mtime, then the base file last (it is the one still written to),
    /// then discovery order. Ties are common: many file systems keep mtimes at the kernel's
    /// tick granularity, and a rotation storm touches several files within one tick.
    fn sort_key(&self, f: &TrackedFile) -> (SystemTime, bool, u64) {
        (f.mtime, f.at_base, f.order)
    }

    /// The file being shipped: the oldest readable active file with unread bytes, else the
    /// oldest readable active file (to be finished). So an older file that appears or becomes
    /// active again (a file renamed aside by logrotate's `create` collision, an adopted copy,
    /// a late write) ships before newer lines, and a file waiting out `rotate_wait` does not
    /// hold up newer ones. The choice is kept until something that orders files changes (a
    /// scan, an observed size or mtime, a finish), so this is cheap on every line.
    pub fn current(&mut self) -> Option<FileKey> {
        if !self.reorder {
            if let Some(k) = self.current {
                if self
                    .files
                    .get(&k)
                    .is_some_and(|f| f.status == Status::Active && f.readable() && f.unread())
                {
                    return Some(k);
                }
            }
        }
        self.reorder = false;
        let active = || {
            self.files
                .values()
                .filter(|f| f.status == Status::Active && f.readable())
        };
        self.current = active()
            .filter(|f| f.unread())
            .min_by_key(|f| self.sort_key(f))
            .or_else(|| active().min_by_key(|f| self.sort_key(f)))
            .map(|f| f.key);
        self.current
    }

    /// Files in shipping order (shadows, gone and orphaned files excluded).
    pub fn ordered(&self) -> Vec<&TrackedFile> {
        let mut v: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|f| matches!(f.status, Status::Active | Status::Finished))
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

    /// May the current file `key`, read to its end, be finished at `now`?
    pub fn can_finish(&self, key: FileKey, now: SystemTime) -> Finish {
        let Some(cur) = self.files.get(&key) else {
            return Finish::Now;
        };
        // Nothing was ever in it: there is nothing to finish, and an empty file may be a copy
        // `cp` has only just created (copytruncate), to be recognised once it has content.
        if cur.size == 0 && cur.read == 0 && cur.present {
            return Finish::No;
        }
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
        let cur_is_base = cur.at_base;
        let live_base = cur.present && cur_is_base;
        let newer_files = || {
            self.files.values().filter(move |f| {
                f.key != key
                    && self.sort_key(f) > self.sort_key(cur)
                    && matches!(
                        f.status,
                        Status::Active | Status::Finished | Status::Shadow(_)
                    )
            })
        };
        let newer = !cur.present
            || newer_files().any(|f| match f.status {
                Status::Shadow(of) => {
                    of == key
                        && !cur_is_base
                        && (f.size > cur.size
                            || f.size == cur.size && now >= f.mtime + self.rotate_wait)
                }
                _ => f.size > 0 || f.at_base,
            });
        if !newer {
            return Finish::No;
        }
        let idle_at = cur.mtime + self.rotate_wait;
        if now >= idle_at {
            return Finish::Now;
        }
        // The writer has moved on: a newer file was written after this one's last write.
        // Waiting out rotate_wait would fall behind a writer that rotates faster than that;
        // a late write to this file reactivates it (its descriptor lingers).
        let moved_on = !live_base
            && newer_files().any(|f| {
                !matches!(f.status, Status::Shadow(_)) && f.size > 0 && f.mtime > cur.mtime
            });
        if moved_on {
            Finish::Now
        } else {
            Finish::At(idle_at)
        }
    }

    /// The current file `key` is done (see [`FileQueue::can_finish`]). Returns what became
    /// of the copies held back behind it.
    pub fn finish(&mut self, key: FileKey, now: SystemTime) -> Vec<Notice> {
        let mut lost = None;
        if let Some(f) = self.files.get_mut(&key) {
            f.status = Status::Finished;
            f.finished_at = Some(now);
            if let Some((from, to)) = f.unread_window.take() {
                let bytes = to.saturating_sub(from.max(f.size));
                if bytes > 0 {
                    lost = Some(Notice::Lost {
                        path: f.path.clone(),
                        bytes,
                        reason: "truncated",
                    });
                }
            }
        }
        self.reorder = true;
        if self.current == Some(key) {
            self.current = None;
        }
        let mut notices = self.release_shadows(key);
        notices.extend(lost);
        notices
    }

    /// `of` was read to its end without being truncated, so files held back as its copies
    /// are either its compressed form (already shipped: finished at its size) or independent
    /// files (a backup, or rotated files that start alike): they queue now, or wait for
    /// another live original they match, instead of waiting for the next scan.
    ///
    /// Read is not shipped: while `of`'s lines are not all acknowledged (brokers down), its
    /// compressed form stays held back. Marked shipped now, it was checkpointed so; a restart
    /// before the acknowledgement then found the original deleted and the `.gz` done, and its
    /// lines were lost (model test). It is resolved by a later scan (the original gone:
    /// shipped with it; orphaned: continued by it) or, after a restart, continues the
    /// original's checkpoint.
    fn release_shadows(&mut self, of: FileKey) -> Vec<Notice> {
        let mut notices = Vec::new();
        let Some((of_size, of_path, of_shipped)) = self
            .files
            .get(&of)
            .map(|o| (o.size, o.path.clone(), o.acked_to_end()))
        else {
            return notices;
        };
        let mut shadows: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|f| f.status == Status::Shadow(of))
            .collect();
        // Oldest first: a younger one that matches an older one is held back behind it.
        shadows.sort_by_key(|f| self.sort_key(f));
        let shadows: Vec<FileKey> = shadows.iter().map(|f| f.key).collect();
        for key in shadows {
            let compressed = self
                .files
                .get(&key)
                .is_some_and(|f| f.codec.is_compressed());
            if compressed {
                if !of_shipped {
                    continue;
                }
                if let Some(f) = self.files.get_mut(&key) {
                    let done = if f.size > 0 {
                        f.size.min(of_size)
                    } else {
                        of_size
                    };
                    f.acked = done;
                    f.read = done;
                    f.size = f.size.max(done);
                    f.status = if f.size > done {
                        Status::Active
                    } else {
                        Status::Finished
                    };
                    notices.push(Notice::AlreadyShipped {
                        path: f.path.clone(),
                        of: of_path.clone(),
                    });
                }
                continue;
            }
            let next = self
                .files
                .get(&key)
                .and_then(|f| self.copy_source(&f.head, &f.path, key));
            if let Some(f) = self.files.get_mut(&key) {
                f.status = next.map_or(Status::Active, Status::Shadow);
            }
        }
        notices
    }

    /// After a failed delivery: everything not acknowledged is read again, in order. Bytes
    /// that can no longer be read again (an orphan's, or an adopted copy's past its end) are
    /// lost and returned.
    pub fn rewind(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        let mut drop = Vec::new();
        for f in self.files.values_mut() {
            if f.status == Status::Orphaned {
                if f.read > f.acked {
                    notices.push(Notice::Lost {
                        path: f.path.clone(),
                        bytes: f.read - f.acked,
                        reason: "truncated",
                    });
                }
                drop.push(f.key);
                continue;
            }
            if f.beyond > f.size.max(f.acked) {
                notices.push(Notice::Lost {
                    path: f.path.clone(),
                    bytes: f.beyond - f.size.max(f.acked),
                    reason: "truncated",
                });
            }
            f.beyond = 0;
            if f.read > f.acked {
                f.read = f.acked;
                if f.status == Status::Finished {
                    f.status = Status::Active;
                }
            }
        }
        for k in drop {
            self.files.remove(&k);
        }
        self.current = None;
        self.reorder = true;
        notices
    }

    /// Lines of `key` up to `end` were acknowledged. An adopted copy's offsets stop at its
    /// end: lines read from the original past it are shipped, but not in this file.
    /// Everything up to `end` of `key` is acknowledged. Returns whether that shipped the
    /// file: finished (or orphaned) and now acknowledged to where it was read.
    pub fn set_acked(&mut self, key: FileKey, end: u64) -> bool {
        let Some(f) = self.files.get_mut(&key) else {
            return false;
        };
        let before = f.acked;
        if end >= f.beyond {
            f.beyond = 0;
        }
        let cap = if f.status == Status::Orphaned {
            f.read
        } else {
            f.read.max(f.size)
        };
        f.acked = f.acked.max(end.min(cap));
        let shipped = matches!(f.status, Status::Finished | Status::Orphaned)
            && f.acked >= f.read
            && before < f.read;
        if f.status == Status::Orphaned && f.acked >= f.read {
            // Orphans are not in the index.
            self.files.remove(&key);
        }
        shipped
    }

    /// Forget what no longer matters: orphans and gone files beyond the memory bound.
    pub fn prune(&mut self) {
        let mut gone: Vec<(SystemTime, FileKey)> = self
            .files
            .values()
            .filter(|f| f.status == Status::Gone)
            .map(|f| (f.finished_at.unwrap_or(f.mtime), f.key))
            .collect();
        if gone.len() > GONE_MAX {
            gone.sort();
            for (_, k) in &gone[..gone.len() - GONE_MAX] {
                self.files.remove(k);
                self.index.retain(|_, v| v != k);
            }
        }
        let before = self.files.len();
        self.files
            .retain(|_, f| f.status != Status::Orphaned || f.acked < f.read);
        if self.files.len() != before {
            self.index.retain(|_, k| self.files.contains_key(k));
        }
    }

    /// Unshipped bytes and files (including files the agent holds after they were deleted),
    /// and the age (by mtime, at `now`) of the oldest of them.
    pub fn backlog(&self, now: SystemTime) -> Backlog {
        let mut b = Backlog::default();
        let mut oldest: Option<SystemTime> = None;
        for f in self
            .files
            .values()
            .filter(|f| matches!(f.status, Status::Active | Status::Finished))
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

    /// Bytes of deleted files the agent still holds open (disk space it pins).
    pub fn deleted_held_bytes(&self) -> u64 {
        self.files
            .values()
            .filter(|f| f.held && !f.linked && !f.codec.is_compressed())
            .map(|f| f.size)
            .sum()
    }

    /// Checkpoint entries: every file in shipping order, then the gone ones (shadows and
    /// orphans excluded).
    pub fn checkpoint_entries(&self) -> Vec<FileCheckpoint> {
        let mut gone: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|f| f.status == Status::Gone)
            .collect();
        gone.sort_by_key(|f| self.sort_key(f));
        self.ordered()
            .into_iter()
            .chain(gone)
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
                codec: std::borrow::Cow::Borrowed(f.codec.name()),
                gone: f.status == Status::Gone,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
