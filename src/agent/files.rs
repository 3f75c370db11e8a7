//! The descriptors a section holds: one on every file it follows, opened when a scan
//! discovers the file and kept until the file is shipped (and a little longer, for late
//! writes). While a descriptor is held, whatever happens to the file's name (renamed, moved
//! to an `olddir`, deleted, compressed and deleted) its bytes stay readable, so nothing queued
//! is lost to logrotate.
//!
//! Bounded by `[agent] max_open_files` per section: past it, the oldest files in shipping
//! order are held and the others are followed by name only (as without descriptors: one of
//! them deleted or moved away before its turn loses its unread bytes, counted in
//! `logferry_bytes_lost_total`). The current file is always readable: it is opened by name
//! when it holds no descriptor.

use crate::agent::codec::Codec;
use crate::agent::identity::{read_prefix, DevIno};
use crate::agent::queue::{FileKey, FileQueue, Notice, ScanEntry, Status, TrackedFile};
use crate::agent::reader;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug)]
pub struct OpenFiles {
    held: HashMap<DevIno, Arc<File>>,
    max: usize,
    /// Files wanted but not held at the last sync (over the limit).
    pub over_limit: usize,
}

impl OpenFiles {
    pub fn new(max: usize) -> OpenFiles {
        OpenFiles {
            held: HashMap::new(),
            max: max.max(1),
            over_limit: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn get(&self, id: DevIno) -> Option<Arc<File>> {
        self.held.get(&id).cloned()
    }

    /// Bring the held descriptors in line with the queue: hold the files it wants, up to the
    /// limit, in priority order: files still to ship (oldest first), then shipped files whose
    /// descriptors linger for late writes. Descriptors a scan just opened (`opened`) are taken
    /// over; known files are opened by name. Everything else is released, except the
    /// descriptor of `current` (the file being read).
    pub fn sync(
        &mut self,
        queue: &mut FileQueue,
        mut opened: HashMap<DevIno, Arc<File>>,
        current: Option<DevIno>,
        now: SystemTime,
    ) {
        let mut wanted: Vec<(bool, SystemTime, u64, FileKey)> = queue
            .files()
            .filter(|f| queue.wants_held(f, now))
            .map(|f| (f.status == Status::Finished, f.mtime, f.order, f.key))
            .collect();
        wanted.sort();
        let hold: HashSet<DevIno> = wanted
            .iter()
            .take(self.max)
            .filter_map(|w| queue.get(w.3).map(|f| f.id))
            .chain(current)
            .collect();
        let release: Vec<DevIno> = self
            .held
            .keys()
            .filter(|id| !hold.contains(id))
            .copied()
            .collect();
        for id in release {
            self.held.remove(&id);
            if let Some(k) = queue.by_id(id) {
                queue.set_held(k, false);
            }
        }
        self.over_limit = wanted.len().saturating_sub(self.max);
        for (_, _, _, key) in wanted.into_iter().take(self.max) {
            let Some(f) = queue.get(key) else {
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(slot) = self.held.entry(f.id) {
                let fd = match opened.remove(&f.id) {
                    Some(fd) => Some(fd),
                    None if f.present => open_verified(f).ok(),
                    None => None,
                };
                match fd {
                    Some(fd) => {
                        slot.insert(fd);
                    }
                    None => continue,
                }
            }
            queue.set_held(key, true);
        }
    }

    /// `key` (identity `id`) was just finished: past the limit, its descriptor goes at once
    /// (a shipped file is the last thing worth holding) rather than at the next sync.
    pub fn finished(&mut self, queue: &mut FileQueue, key: FileKey, id: DevIno) {
        if self.held.len() > self.max && self.held.remove(&id).is_some() {
            queue.set_held(key, false);
        }
    }

    /// A descriptor for the current file `key`: the held one, or one opened by name now and
    /// held from then on. At the limit, a lower-priority descriptor makes room: a shipped
    /// file's, else the newest waiting file's (it is reopened by name when its turn comes).
    pub fn for_reading(&mut self, queue: &mut FileQueue, key: FileKey) -> io::Result<Arc<File>> {
        let Some(f) = queue.get(key) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no longer tracked"));
        };
        if let Some(fd) = self.held.get(&f.id) {
            return Ok(fd.clone());
        }
        let fd = open_verified(f)?;
        let id = f.id;
        if self.held.len() >= self.max {
            let victim = self
                .held
                .keys()
                .filter_map(|h| queue.by_id(*h).and_then(|k| queue.get(k)))
                .filter(|h| h.key != key)
                .max_by_key(|h| (h.status == Status::Finished, h.mtime, h.order))
                .map(|h| (h.id, h.key));
            if let Some((vid, vkey)) = victim {
                self.held.remove(&vid);
                queue.set_held(vkey, false);
            }
        }
        self.held.insert(id, fd.clone());
        Ok(fd)
    }

    /// Held files that `scan` did not list (moved away, deleted) whose content the queue
    /// must look at as a scan would, through their descriptors: **rewritten** ones (shorter
    /// than what was read, or other first bytes: truncated and rewritten after they left the
    /// directory), and **young** ones (nothing read yet, grown past their fingerprint: e.g. the
    /// copy of copytruncate, first seen empty and deleted before a scan saw its content, which
    /// must continue its truncated original rather than ship again). Described as a scan
    /// would list them, for [`FileQueue::reconcile_with_held`]. One `fstat` and one `pread` of
    /// the first bytes per held, unlisted plain file, per scan.
    pub fn examine_unlisted(&self, queue: &FileQueue, scan: &[ScanEntry]) -> Vec<ScanEntry> {
        let mut found = Vec::new();
        let listed: HashSet<DevIno> = scan.iter().map(|e| e.id).collect();
        let mut prefix = Vec::new();
        for (id, fd) in &self.held {
            let Some((key, f)) = queue.by_id(*id).and_then(|k| Some((k, queue.get(k)?))) else {
                continue;
            };
            if listed.contains(id)
                || f.codec != Codec::Plain
                || !matches!(f.status, Status::Active | Status::Finished)
            {
                continue;
            }
            let Ok(st) = reader::stat(fd) else {
                continue;
            };
            if read_prefix(fd, &mut prefix).is_err() {
                continue;
            }
            let rewritten = st.size < f.read || !f.fp.matches(&prefix);
            if !rewritten && !queue.is_young(key, st.size) {
                continue;
            }
            found.push(ScanEntry {
                path: f.path.clone(),
                id: *id,
                size: st.size,
                disk_size: st.size,
                mtime: st.mtime,
                prefix: Some(std::mem::take(&mut prefix)),
                codec: Codec::Plain,
            });
        }
        found
    }

    /// `fstat` every held file and tell the queue (size and mtime of files that left the
    /// directory, whether they still have a name, late writes to finished files).
    /// A young file that grew gets its first bytes read too (it may be a copy being written).
    pub fn refresh(&self, queue: &mut FileQueue) -> Vec<Notice> {
        let mut notices = Vec::new();
        let mut prefix = Vec::new();
        for (id, fd) in &self.held {
            let Some(key) = queue.by_id(*id) else {
                continue;
            };
            let Ok(st) = reader::stat(fd) else {
                continue;
            };
            if queue.is_young(key, st.size) && read_prefix(fd, &mut prefix).is_ok() {
                if let Some(n) = queue.observe_young(key, &prefix) {
                    notices.push(n);
                }
            }
            if let Some(n) = queue.observe_stat(key, st.size, st.mtime, st.linked) {
                notices.push(n);
            }
        }
        notices
    }
}

/// Open `f` by its path, checking it is still the same inode.
fn open_verified(f: &TrackedFile) -> io::Result<Arc<File>> {
    let file = File::open(&f.path)?;
    if DevIno::of(&file.metadata()?) != f.id {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the name now belongs to another file",
        ));
    }
    Ok(Arc::new(file))
}
