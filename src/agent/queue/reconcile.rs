//! Bringing the queue in line with a directory scan: which tracked file each listed file is
//! (dev+ino, checked by the fingerprint of the content's first bytes), which tracked files
//! left, and what a new file is: a copy or compressed form of a known file, or new content.
//!
//! - rename (and rename chains): dev+ino follow the file to its new name;
//! - a file that left the directory while the section holds it is read to its end through
//!   the descriptor (delete, move to an `olddir`, compress-and-delete);
//! - a file not held and not listed is kept for [`VANISH_SCANS`] scans before it counts as
//!   gone: a rename between a scan's listing and its `stat` hides it under both names;
//! - copytruncate: the copy (a new inode whose first bytes match the truncated file) takes over
//!   the truncated file's place and offsets: reading resumes in the copy where reading of the
//!   original had got to (what was read is in flight, not read again), acknowledged offsets stop
//!   at the copy's end, and only the original's truncated tail that nobody read is lost;
//! - a compressed file whose content continues a known file (truncated, vanished, held back
//!   behind, or already shipped and gone) is that file, in decompressed offsets;
//! - inode reuse: same dev+ino, other content → a new file from 0.

use super::{
    is_base, CompressedPolicy, FileKey, FileQueue, Notice, ScanEntry, Status, TrackedFile,
};
use crate::agent::codec::Codec;
use crate::agent::identity::{DevIno, Fingerprint};
use crate::config::StartAt;
use std::collections::HashSet;
use std::path::Path;

/// Scans in a row that must miss a file that is not held before it counts as gone.
pub const VANISH_SCANS: u32 = 3;

/// A tracked file whose content can no longer be read where it was, and why.
type Orphan = (TrackedFile, &'static str);

impl FileQueue {
    /// An original that `prefix` (the content's first bytes of the file at `path`) may be a
    /// copy of: a live file whose first bytes agree with it, i.e. an unfinished one or the
    /// base file even when it finished (a quiet base beside a newer file, e.g. the previous
    /// copy, finishes once idle, and is exactly what copytruncate copies next; the model test
    /// shipped such a copy twice). A finished rotated file is not a source: a new file starting
    /// with the same long header as last hour's would wait until it outgrew it. A copy still
    /// being written is shorter than the fingerprint, so the in-memory head is compared where
    /// known. The base file is never a copy: `cp` (copytruncate) writes to a rotated name, and
    /// a new base file that starts with the same header as the previous one (a CSV header, a
    /// banner longer than the fingerprint) is the application's next file, which must not
    /// wait.
    pub(super) fn copy_source(
        &self,
        prefix: &[u8],
        path: &Path,
        except: FileKey,
    ) -> Option<FileKey> {
        if prefix.is_empty() || is_base(&self.base, path) {
            return None;
        }
        self.files
            .values()
            .filter(|f| {
                f.key != except
                    && (f.status == Status::Active
                        || f.status == Status::Finished && is_base(&self.base, &f.path))
            })
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

    /// [`FileQueue::reconcile`], plus `unlisted`: held files the scan did not list, described
    /// through their descriptors, whose content changed in a way only a scan sorts out
    /// (`OpenFiles::examine_unlisted`): rewritten since they were read — reconciled as a
    /// listed file that was rewritten is: the old content orphaned (continued by its copy if
    /// one is listed, else its unread bytes counted lost), the new content shipped from its
    /// start —, or young — a copy of a file truncated in this scan is adopted in its place
    /// instead of shipping again. They stay unlisted. Without this, the reader refused a
    /// rewritten one as "replaced" and the scan, which cannot see it, never sorted it out;
    /// and a copytruncate copy deleted before a scan saw its content was shipped twice.
    pub fn reconcile_with_held(
        &mut self,
        mut scan: Vec<ScanEntry>,
        unlisted: Vec<ScanEntry>,
    ) -> Vec<Notice> {
        if unlisted.is_empty() {
            // The usual case: no set of the scan's identities to build.
            return self.reconcile(scan);
        }
        let listed: HashSet<DevIno> = scan.iter().map(|e| e.id).collect();
        let ids: Vec<DevIno> = unlisted
            .iter()
            .map(|e| e.id)
            .filter(|id| !listed.contains(id))
            .collect();
        scan.extend(unlisted.into_iter().filter(|e| !listed.contains(&e.id)));
        let notices = self.reconcile(scan);
        for id in ids {
            if let Some(f) = self.by_id(id).and_then(|k| self.files.get_mut(&k)) {
                f.present = false;
            }
        }
        notices
    }

    /// Bring the queue in line with a directory scan.
    pub fn reconcile(&mut self, scan: Vec<ScanEntry>) -> Vec<Notice> {
        let mut notices = Vec::new();
        for f in self.files.values_mut() {
            f.present = false;
        }
        let mut orphans: Vec<Orphan> = Vec::new();
        let mut new_files: Vec<ScanEntry> = Vec::new();
        for e in scan {
            match self.by_id(e.id) {
                None => new_files.push(e),
                Some(key) => self.rescanned(key, e, &mut orphans, &mut new_files, &mut notices),
            }
        }
        self.unlisted(&mut orphans);
        self.adopt_unread(&mut orphans, &mut notices);

        // Files found by one scan are numbered in name order: on an mtime tie (a fresh
        // checkout, a copy with preserved times) date-suffixed rotations then ship in date order.
        new_files.sort_by(|a, b| a.path.cmp(&b.path));
        for e in new_files {
            self.add_new(e, &mut orphans, &mut notices);
        }
        self.resolve_shadows(&mut orphans, &mut notices);
        for (mut o, reason) in orphans {
            let bytes = o.size.saturating_sub(o.read.max(o.acked));
            if bytes > 0 {
                notices.push(Notice::Lost {
                    path: o.path.clone(),
                    bytes,
                    reason,
                });
            }
            // Lines read from it are still in flight: keep it until they are acknowledged,
            // or counted lost if they must be read again.
            if o.read > o.acked {
                o.status = Status::Orphaned;
                o.size = o.read;
                o.held = false;
                self.files.insert(o.key, o);
            }
        }
        self.first_scan_done = true;
        self.reorder = true;
        self.reindex();
        notices
    }

    /// A listed file the queue knows by dev+ino.
    fn rescanned(
        &mut self,
        key: FileKey,
        e: ScanEntry,
        orphans: &mut Vec<Orphan>,
        new_files: &mut Vec<ScanEntry>,
        notices: &mut Vec<Notice>,
    ) {
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        let prefix_ok = e.prefix.as_deref().is_none_or(|p| f.fp.matches(p));
        match f.status {
            Status::Gone => {
                // Listed again: renamed back or linked, or its inode reused by a new file.
                if prefix_ok && e.codec == f.codec && (e.codec.is_compressed() || e.size >= f.size)
                {
                    f.present = true;
                    f.linked = true;
                    f.path.clone_from(&e.path);
                    f.disk_size = e.disk_size;
                    f.mtime = e.mtime;
                    f.status = if e.codec == Codec::Plain && e.size > f.read {
                        Status::Active
                    } else {
                        Status::Finished
                    };
                    if e.codec == Codec::Plain {
                        f.size = f.size.max(e.size);
                    }
                } else {
                    self.files.remove(&key);
                    new_files.push(e);
                }
                return;
            }
            Status::Shadow(of) => {
                f.present = true;
                f.linked = true;
                f.path.clone_from(&e.path);
                if !f.codec.is_compressed() {
                    f.size = e.size;
                }
                f.disk_size = e.disk_size;
                f.mtime = e.mtime;
                if let Some(p) = &e.prefix {
                    f.head.clone_from(p);
                    f.fp = Fingerprint::of_prefix(p);
                    // Diverged from its original: an independent file after all.
                    if self.files.contains_key(&of) && self.copy_source(p, &e.path, key) != Some(of)
                    {
                        new_files.push(e);
                        self.files.remove(&key);
                    }
                }
                return;
            }
            Status::Orphaned => return,
            Status::Active | Status::Finished => {}
        }
        if e.codec != f.codec && f.read == 0 && f.acked == 0 {
            // First seen before its first bytes told its format (`gzip` had just created it):
            // nothing was read from it, so it is simply examined again as a new file.
            self.files.remove(&key);
            if self.current == Some(key) {
                self.current = None;
            }
            new_files.push(e);
            return;
        }
        let replaced =
            e.codec != f.codec || !prefix_ok || (!f.codec.is_compressed() && e.size < f.read);
        tracing::debug!(path = %e.path.display(), ino = e.id.ino, size = e.size, read = f.read, acked = f.acked, status = ?f.status, replaced, prefix = e.prefix.as_ref().map(|p| p.len()), "listed file");
        if replaced {
            if let Some(old) = self.files.remove(&key) {
                notices.push(Notice::Truncated {
                    path: old.path.clone(),
                });
                if self.current == Some(key) {
                    self.current = None;
                }
                // A held inode cannot have been reused: its content was truncated in place.
                // Without a descriptor, other content under the same inode is most likely a
                // new file that got the inode of a deleted one.
                let reason = if old.held || prefix_ok {
                    "truncated"
                } else {
                    "deleted_before_read"
                };
                orphans.push((old, reason));
            }
            new_files.push(e);
            return;
        }
        f.present = true;
        f.linked = true;
        f.unseen = 0;
        f.verified |= e.prefix.is_some();
        let grew = !f.codec.is_compressed() && e.size > f.size;
        f.path.clone_from(&e.path);
        f.size = if f.codec.is_compressed() {
            f.size.max(f.read)
        } else {
            e.size
        };
        f.blocked &= f.disk_size == e.disk_size && f.mtime == e.mtime;
        f.disk_size = e.disk_size;
        f.mtime = e.mtime;
        if let Some(p) = &e.prefix {
            let fp = Fingerprint::of_prefix(p);
            if fp.len > f.fp.len {
                f.fp = fp;
            }
            f.head.clone_from(p);
        }
        // Nothing read from it yet, and it turns out to be a copy of a live file (it was
        // first seen empty, while `cp` had only just created it): hold it back.
        if f.status == Status::Active && f.read == 0 && f.acked == 0 {
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
                if self.current == Some(key) {
                    self.current = None;
                }
                return;
            }
        }
        let Some(f) = self.files.get_mut(&key) else {
            return;
        };
        if f.status == Status::Finished && grew && f.size > f.read {
            f.status = Status::Active;
            f.finished_at = None;
            notices.push(Notice::GrewAfterFinish {
                path: f.path.clone(),
            });
        } else if f.status == Status::Finished && f.size > f.read && !is_base(&self.base, &f.path) {
            // It finished at the base path with its incomplete last line held back and has
            // since been rotated away: nothing will complete that line now, so it ships.
            f.status = Status::Active;
        }
    }

    /// Tracked files the scan did not list: held ones are read on through their descriptor;
    /// others count scans, and after [`VANISH_SCANS`] are gone (nothing lost) or orphans
    /// (their unread bytes lost, unless a copy or compressed form turns up in this scan).
    fn unlisted(&mut self, orphans: &mut Vec<Orphan>) {
        let keys: Vec<FileKey> = self
            .files
            .values()
            .filter(|f| {
                !f.present
                    && matches!(
                        f.status,
                        Status::Active | Status::Finished | Status::Shadow(_)
                    )
            })
            .map(|f| f.key)
            .collect();
        for key in keys {
            let Some(f) = self.files.get_mut(&key) else {
                continue;
            };
            if f.held {
                continue;
            }
            f.unseen += 1;
            if f.unseen < VANISH_SCANS {
                continue;
            }
            let done = f.status == Status::Finished && f.read >= f.size && f.acked >= f.read;
            if done || matches!(f.status, Status::Shadow(_)) {
                if matches!(f.status, Status::Shadow(_)) {
                    self.files.remove(&key);
                } else {
                    f.status = Status::Gone;
                    f.linked = false;
                }
                continue;
            }
            if let Some(o) = self.files.remove(&key) {
                if self.current == Some(key) {
                    self.current = None;
                }
                orphans.push((o, "deleted_before_read"));
            }
        }
    }

    /// Files already known but never read from (first seen empty: `cp` had only created
    /// them) that turn out to continue an orphan of this scan: the copy of copytruncate, seen
    /// before its original was truncated but after the original stopped being a live file
    /// it could be held back behind (both can happen within one scan).
    fn adopt_unread(&mut self, orphans: &mut Vec<Orphan>, notices: &mut Vec<Notice>) {
        if orphans.is_empty() {
            return;
        }
        let unread: Vec<FileKey> = self
            .files
            .values()
            .filter(|f| {
                f.status == Status::Active
                    && f.present
                    && f.read == 0
                    && f.acked == 0
                    && f.codec == Codec::Plain
                    && !f.head.is_empty()
            })
            .map(|f| f.key)
            .collect();
        for key in unread {
            let Some(f) = self.files.get(&key) else {
                continue;
            };
            let Some(pos) = orphans.iter().position(|(o, why)| {
                o.id != f.id
                    && o.fp.len > 0
                    && o.fp.matches(&f.head)
                    && may_continue(o, why, f.size, false)
            }) else {
                continue;
            };
            let Some(f) = self.files.remove(&key) else {
                continue;
            };
            if self.current == Some(key) {
                self.current = None;
            }
            let (o, _) = orphans.swap_remove(pos);
            notices.push(Notice::Adopted {
                from: o.path.clone(),
                to: f.path.clone(),
                offset: o.acked,
            });
            let e = ScanEntry {
                path: f.path.clone(),
                id: f.id,
                size: f.size,
                disk_size: f.disk_size,
                mtime: f.mtime,
                prefix: Some(f.head.clone()),
                codec: f.codec,
            };
            let held = f.held;
            self.insert_adopted(o, &e);
            if let Some(a) = self.files.values_mut().find(|a| a.id == e.id) {
                a.held = held;
            }
        }
    }

    /// The known file whose content `e` continues, if any: an orphan of this scan (plain or
    /// compressed), or, for a compressed file, a tracked file not listed lately (compressed
    /// and deleted while the agent was away or not holding it). Removed from where it was.
    fn continued(
        &mut self,
        e: &ScanEntry,
        prefix: &[u8],
        orphans: &mut Vec<Orphan>,
    ) -> Option<TrackedFile> {
        // Never the file's own inode: new content written into a truncated file is not a copy
        // of what it held (the soak found such a file resumed mid-way in content it never had).
        let fits = |o: &TrackedFile, why: &str| {
            o.id != e.id
                && o.fp.len > 0
                && o.fp.matches(prefix)
                && may_continue(o, why, e.size, e.codec.is_compressed())
                && o.codec == Codec::Plain
        };
        if let Some(pos) = orphans.iter().position(|(o, why)| fits(o, why)) {
            return Some(orphans.swap_remove(pos).0);
        }
        if !e.codec.is_compressed() {
            return None;
        }
        let key = self
            .files
            .values()
            .filter(|f| {
                !f.present
                    && !f.held
                    && matches!(f.status, Status::Active | Status::Finished)
                    && fits(f, "deleted_before_read")
            })
            .min_by_key(|f| self.sort_key(f))
            .map(|f| f.key)?;
        if self.current == Some(key) {
            self.current = None;
        }
        self.files.remove(&key)
    }

    fn add_new(&mut self, e: ScanEntry, orphans: &mut Vec<Orphan>, notices: &mut Vec<Notice>) {
        let prefix = e.prefix.clone().unwrap_or_default();
        tracing::debug!(path = %e.path.display(), ino = e.id.ino, size = e.size, prefix = prefix.len(), codec = e.codec.name(), orphans = orphans.len(), "new file");
        if !e.codec.readable() {
            // Never read as lines; tracked so it is not examined again at every scan.
            notices.push(Notice::Compressed {
                path: e.path.clone(),
                codec: e.codec,
                shipped: false,
            });
            let key = self.alloc_key();
            self.files
                .insert(key, TrackedFile::new(key, &e, Status::Finished, 0));
            return;
        }
        if !prefix.is_empty() {
            if let Some(o) = self.continued(&e, &prefix, orphans) {
                notices.push(Notice::Adopted {
                    from: o.path.clone(),
                    to: e.path.clone(),
                    offset: o.acked,
                });
                self.insert_adopted(o, &e);
                return;
            }
            if e.codec.is_compressed() {
                if self.add_compressed_copy(&e, &prefix, notices) {
                    return;
                }
            } else if let Some(of) = self.copy_source(&prefix, &e.path, FileKey::MAX) {
                // A copy of a live file: hold it back while the original lives.
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
                self.files
                    .insert(key, TrackedFile::new(key, &e, Status::Shadow(of), 0));
                return;
            }
        }
        let first = !self.first_scan_done && self.start_at == StartAt::End;
        if e.codec.is_compressed() {
            let ship = self.compressed == CompressedPolicy::Decompress && !first;
            notices.push(Notice::Compressed {
                path: e.path.clone(),
                codec: e.codec,
                shipped: ship,
            });
            let key = self.alloc_key();
            let f = if ship {
                TrackedFile::new(key, &e, Status::Active, 0)
            } else {
                TrackedFile::new(key, &e, Status::Finished, e.size)
            };
            self.files.insert(key, f);
            return;
        }
        let start = if first { e.size } else { 0 };
        let key = self.alloc_key();
        self.files
            .insert(key, TrackedFile::new(key, &e, Status::Active, start));
    }

    /// A compressed file whose content is a plain file the section knows (logrotate
    /// `compress`: the rotated file, gzipped): while the original is being read or shipped
    /// it is held back behind it; if the original was shipped (every line acknowledged, or
    /// gone from disk since) its content is already shipped. Returns false if it is no such
    /// file.
    fn add_compressed_copy(
        &mut self,
        e: &ScanEntry,
        prefix: &[u8],
        notices: &mut Vec<Notice>,
    ) -> bool {
        let candidates: Vec<&TrackedFile> = self
            .files
            .values()
            .filter(|o| {
                o.codec == Codec::Plain
                    && matches!(o.status, Status::Active | Status::Finished | Status::Gone)
                    && starts_alike(o, prefix)
            })
            .collect();
        // Files alike in their first bytes (a long common header): the length, when the
        // compressed file's trailer gives it, tells which; else the oldest.
        let by_size = candidates
            .iter()
            .find(|o| e.size > 0 && o.status != Status::Active && o.size == e.size);
        let Some(o) = by_size
            .or_else(|| candidates.iter().find(|o| o.status == Status::Active))
            .or(candidates.first())
        else {
            return false;
        };
        // Finished is not shipped: a finished file whose lines are not all acknowledged (the
        // brokers down, or a last line without a newline still to go) is read on through its
        // descriptor, its copy waiting behind it as behind a file still written to.
        let shipped = o.status == Status::Gone || o.acked_to_end();
        let (of, status, size, path, order, mtime) =
            (o.key, o.status, o.size, o.path.clone(), o.order, o.mtime);
        let key = self.alloc_key();
        if status == Status::Active || !shipped {
            notices.push(Notice::Shadowed {
                path: e.path.clone(),
                of: path,
            });
            self.files
                .insert(key, TrackedFile::new(key, e, Status::Shadow(of), 0));
            return true;
        }
        notices.push(Notice::AlreadyShipped {
            path: e.path.clone(),
            of: path,
        });
        // Its trailer says it holds more than the original had when it was shipped (written
        // after the agent last looked): read on from there. (A trailer read while the
        // compressor still writes is garbage: then the read finds nothing more.)
        let more = e.size > size;
        let mut f = TrackedFile::new(
            key,
            e,
            if more {
                Status::Active
            } else {
                Status::Finished
            },
            size,
        );
        f.order = order;
        f.mtime = mtime;
        self.files.insert(key, f);
        if status == Status::Gone {
            // The record has served: the compressed file now stands for it.
            self.files.remove(&of);
        }
        true
    }

    /// The new file `e` continues the orphan `o`: same place in the queue, same offsets.
    /// A plain copy ends where `cp` stopped: reading resumes there at most (what was read
    /// from the original past it is in flight, or lost if it must be read again), and the
    /// acknowledged offset is capped by it. A compressed form holds all of the content.
    fn insert_adopted(&mut self, o: TrackedFile, e: &ScanEntry) {
        let prefix = e.prefix.clone().unwrap_or_default();
        let (read, acked, beyond, size, unread_window) = if e.codec.is_compressed() {
            (o.read, o.acked, 0, o.size.max(o.read), None)
        } else {
            let c = e.size;
            let beyond = if o.read > c { o.read } else { 0 };
            let unread = (o.size > o.read).then_some((o.read, o.size));
            (o.read.min(c), o.acked.min(c), beyond, c, unread)
        };
        self.files.insert(
            o.key,
            TrackedFile {
                id: e.id,
                fp: Fingerprint::of_prefix(&prefix).max_by_len(o.fp),
                path: e.path.clone(),
                size,
                disk_size: e.disk_size,
                present: true,
                held: false,
                linked: true,
                unseen: 0,
                verified: true,
                status: Status::Active,
                codec: e.codec,
                head: prefix,
                read,
                acked,
                beyond,
                unread_window,
                finished_at: None,
                ..o
            },
        );
    }

    /// Copies held back behind an original that is no longer live: an orphan (truncated or
    /// vanished) is continued by its copy; a compressed copy of a gone original was shipped
    /// with it; a plain copy of a gone original ships as a file of its own (a backup).
    fn resolve_shadows(&mut self, orphans: &mut Vec<Orphan>, notices: &mut Vec<Notice>) {
        let shadows: Vec<(FileKey, FileKey)> =
            self.files
                .values()
                .filter_map(|f| match f.status {
                    Status::Shadow(of)
                        if !self.files.get(&of).is_some_and(|o| {
                            matches!(o.status, Status::Active | Status::Finished)
                        }) =>
                    {
                        Some((f.key, of))
                    }
                    _ => None,
                })
                .collect();
        for (skey, of) in shadows {
            let Some(s) = self.files.remove(&skey) else {
                continue;
            };
            let e = ScanEntry {
                path: s.path.clone(),
                id: s.id,
                size: s.size,
                disk_size: s.disk_size,
                mtime: s.mtime,
                prefix: Some(s.head.clone()),
                codec: s.codec,
            };
            if let Some(pos) = orphans.iter().position(|(o, why)| {
                o.key == of && may_continue(o, why, s.size, s.codec.is_compressed())
            }) {
                let (o, _) = orphans.swap_remove(pos);
                notices.push(Notice::Adopted {
                    from: o.path.clone(),
                    to: s.path.clone(),
                    offset: o.acked,
                });
                self.insert_adopted(o, &e);
                continue;
            }
            let gone = self
                .files
                .get(&of)
                .filter(|o| o.status == Status::Gone)
                .map(|o| (o.size, o.path.clone(), o.order, o.mtime));
            let key = self.alloc_key();
            let mut f = match gone {
                Some((size, path, order, mtime)) if s.codec.is_compressed() => {
                    notices.push(Notice::AlreadyShipped {
                        path: s.path.clone(),
                        of: path,
                    });
                    let status = if s.size > size {
                        Status::Active
                    } else {
                        Status::Finished
                    };
                    let mut f = TrackedFile::new(key, &e, status, size);
                    f.order = order;
                    f.mtime = mtime;
                    f
                }
                _ => TrackedFile::new(key, &e, Status::Active, 0),
            };
            f.held = s.held;
            self.files.insert(key, f);
        }
    }
}

impl Fingerprint {
    /// The longer of two fingerprints of the same content.
    fn max_by_len(self, other: Fingerprint) -> Fingerprint {
        if other.len > self.len {
            other
        } else {
            self
        }
    }
}

/// Whether a file of `size` bytes (of content) whose first bytes match the orphan `o` may
/// continue it. A compressed file holds all of it. A copy of a truncated file may end before
/// what was read, even acknowledged, from the original: logrotate copies, the application
/// writes on, we read those lines, then logrotate truncates (its copy→truncate window). A file
/// that vanished is continued only by a file holding at least what was acknowledged.
fn may_continue(o: &TrackedFile, why: &str, size: u64, compressed: bool) -> bool {
    compressed || why == "truncated" || o.acked <= size
}

/// Whether `prefix`, the first bytes of a file's content (perhaps only the part a
/// compressor has written so far), agrees with what is known of `o`'s first bytes: its
/// in-memory head where known, else its fingerprint (which needs the whole prefix).
fn starts_alike(o: &TrackedFile, prefix: &[u8]) -> bool {
    if o.head.is_empty() {
        o.fp.len > 0 && o.fp.matches(prefix)
    } else {
        let n = o.head.len().min(prefix.len());
        n > 0 && o.head[..n] == prefix[..n]
    }
}
