//! Which files belong to a section.
//!
//! A scan lists `log_base_path` (not recursively) and keeps the files whose full path matches
//! `log_name_regx` (anchored at both ends), plus `base_log_fullpath`. The section rescans when
//! [`super::watcher`] wakes it and periodically, the safety net for lost inotify events and
//! network file systems.

use crate::agent::codec::{self, Codec};
use crate::agent::identity::{read_prefix, DevIno, FINGERPRINT_MAX};
use crate::agent::queue::{FileQueue, ScanEntry};
use crate::config::SectionConfig;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("directory {path} does not exist yet; the section starts shipping when it appears")]
    Missing { path: PathBuf },
    #[error("cannot list directory {path}: {source}")]
    List { path: PathBuf, source: io::Error },
}

/// A file that could not be inspected (permission denied, vanished mid-scan, ...).
#[derive(Debug)]
pub struct Fault {
    pub path: PathBuf,
    pub error: io::Error,
}

/// Does `path_as_written` belong to the section?
pub fn matches(section: &SectionConfig, path_as_written: &Path) -> bool {
    match &section.log_name_regx {
        Some(re) => re
            .is_match(&path_as_written.to_string_lossy())
            .unwrap_or(false),
        None => false,
    }
}

/// What a scan found: the section's files, and the descriptors it opened on the way (every
/// file whose first bytes it read, new files included), which the section keeps for the files
/// it follows, so a file is held from the moment it is discovered.
#[derive(Debug, Default)]
pub struct Scan {
    pub entries: Vec<ScanEntry>,
    pub opened: HashMap<DevIno, Arc<File>>,
}

/// How often a scan is repeated when the directory changed under it.
const SCAN_ATTEMPTS: usize = 3;

/// List the section's files. Files the queue needs to fingerprint get their first bytes read.
///
/// Listing and stat'ing are not atomic: a file renamed between the two (rotation) would be
/// missing from the scan under both names, and look deleted. So a scan in which a listed file
/// vanished, or in which a path was replaced between its stat and the read of its first bytes,
/// is repeated (a few times at most; a directory that never holds still gets the last one).
///
/// At most `keep` of the descriptors opened on the way are kept in [`Scan::opened`] (the free
/// slots under `max_open_files`); the others are closed once their first bytes are read, so a
/// directory of 10,000 files never has 10,000 open at once.
pub fn scan(
    section: &SectionConfig,
    queue: &FileQueue,
    faults: &mut Vec<Fault>,
    keep: usize,
) -> Result<Scan, DiscoveryError> {
    let mut attempt = 1;
    loop {
        let mut attempt_faults = Vec::new();
        let (found, raced) = scan_once(section, queue, &mut attempt_faults, keep)?;
        if !raced || attempt >= SCAN_ATTEMPTS {
            faults.append(&mut attempt_faults);
            return Ok(found);
        }
        attempt += 1;
    }
}

/// One pass; the flag says whether the directory changed during it.
fn scan_once(
    section: &SectionConfig,
    queue: &FileQueue,
    faults: &mut Vec<Fault>,
    keep: usize,
) -> Result<(Scan, bool), DiscoveryError> {
    let dir = &section.log_base_path;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DiscoveryError::Missing { path: dir.clone() })
        }
        Err(source) => {
            return Err(DiscoveryError::List {
                path: dir.clone(),
                source,
            })
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let written = Path::new(&section.log_base_path_raw);
    for ent in rd {
        let ent = ent.map_err(|source| DiscoveryError::List {
            path: dir.clone(),
            source,
        })?;
        let name = ent.file_name();
        if matches(section, &written.join(&name)) {
            paths.push(dir.join(&name));
        }
    }
    let listed = paths.len();
    if let Some(base) = &section.base_log_fullpath {
        if !paths.iter().any(|p| p == base) {
            paths.push(base.clone());
        }
    }
    let mut raced = false;
    let mut found = Scan {
        entries: Vec::with_capacity(paths.len()),
        opened: HashMap::new(),
    };
    let mut seen = HashSet::new();
    let mut prefix = Vec::new();
    for (i, path) in paths.into_iter().enumerate() {
        // A base path that was not listed is simply absent (between rename and re-creation).
        let was_listed = i < listed;
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                raced |= was_listed;
                continue;
            }
            Err(error) => {
                faults.push(Fault { path, error });
                continue;
            }
        };
        if !meta.is_file() {
            continue;
        }
        let id = DevIno::of(&meta);
        if !seen.insert(id) {
            continue; // hard link or the base path also matched by the regex
        }
        let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let disk_size = meta.len();
        if !queue.needs_prefix(id, disk_size, mtime) {
            let (codec, known) = queue.known(id).unwrap_or((Codec::Plain, 0));
            found.entries.push(ScanEntry {
                path,
                id,
                size: if codec.is_compressed() {
                    known
                } else {
                    disk_size
                },
                disk_size,
                mtime,
                prefix: None,
                codec,
            });
            continue;
        }
        match inspect(&path, id, &mut prefix) {
            Ok(Some((file, codec))) => {
                let size = if codec.is_compressed() {
                    codec::content_len_hint(&file, codec, disk_size).unwrap_or(0)
                } else {
                    disk_size
                };
                found.entries.push(ScanEntry {
                    path,
                    id,
                    size,
                    disk_size,
                    mtime,
                    prefix: Some(prefix.clone()),
                    codec,
                });
                if found.opened.len() < keep {
                    found.opened.insert(id, file);
                }
            }
            // Another file took the name since the stat: the directory changed under us.
            Ok(None) => raced = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => raced = true,
            Err(error) => faults.push(Fault { path, error }),
        }
    }
    Ok((found, raced))
}

/// Open `path`, check it is still the inode `id` just stat'ed, and read its format and its
/// content's first bytes (decompressed for a compressed file) into `prefix`. None if the name
/// now belongs to another inode.
fn inspect(
    path: &Path,
    id: DevIno,
    prefix: &mut Vec<u8>,
) -> io::Result<Option<(Arc<File>, Codec)>> {
    let file = File::open(path)?;
    if DevIno::of(&file.metadata()?) != id {
        return Ok(None);
    }
    let codec = codec::sniff_file(&file)?;
    let file = Arc::new(file);
    if codec.is_compressed() {
        codec::content_prefix(&file, codec, FINGERPRINT_MAX as usize, prefix)?;
    } else {
        read_prefix(&file, prefix)?;
    }
    Ok(Some((file, codec)))
}
