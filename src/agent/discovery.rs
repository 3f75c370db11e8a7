//! Which files belong to a section.
//!
//! A scan lists `log_base_path` (not recursively) and keeps the files whose full path matches
//! `log_name_regx` (anchored at both ends), plus `base_log_fullpath`. The section rescans when
//! [`super::watcher`] wakes it and periodically, the safety net for lost inotify events and
//! network file systems.

use crate::agent::identity::{read_prefix, DevIno};
use crate::agent::queue::{FileQueue, ScanEntry};
use crate::config::SectionConfig;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

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

/// How often a scan is repeated when the directory changed under it.
const SCAN_ATTEMPTS: usize = 3;

/// List the section's files. Files the queue needs to fingerprint get their first bytes read.
///
/// Listing and stat'ing are not atomic: a file renamed between the two (rotation) would be
/// missing from the scan under both names, and look deleted. So a scan in which a listed file
/// vanished, or in which a path was replaced between its stat and the read of its first bytes,
/// is repeated (a few times at most; a directory that never holds still gets the last one).
pub fn scan(
    section: &SectionConfig,
    queue: &FileQueue,
    faults: &mut Vec<Fault>,
) -> Result<Vec<ScanEntry>, DiscoveryError> {
    let mut attempt = 1;
    loop {
        let mut attempt_faults = Vec::new();
        let (entries, raced) = scan_once(section, queue, &mut attempt_faults)?;
        if !raced || attempt >= SCAN_ATTEMPTS {
            faults.append(&mut attempt_faults);
            return Ok(entries);
        }
        attempt += 1;
    }
}

/// One pass; the flag says whether the directory changed during it.
fn scan_once(
    section: &SectionConfig,
    queue: &FileQueue,
    faults: &mut Vec<Fault>,
) -> Result<(Vec<ScanEntry>, bool), DiscoveryError> {
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
    let mut out = Vec::with_capacity(paths.len());
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
        let size = meta.len();
        let prefix_bytes = if queue.needs_prefix(id, size, mtime) {
            let read = File::open(&path).and_then(|f| {
                // The bytes must come from the inode just stat'ed, not from a file that
                // took its name since.
                let same = f.metadata().map(|m| DevIno::of(&m) == id)?;
                read_prefix(&f, &mut prefix)?;
                Ok(same)
            });
            match read {
                Ok(true) => Some(prefix.clone()),
                Ok(false) => {
                    raced = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    raced = true;
                    continue;
                }
                Err(error) => {
                    faults.push(Fault { path, error });
                    continue;
                }
            }
        } else {
            None
        };
        out.push(ScanEntry {
            path,
            id,
            size,
            mtime,
            prefix: prefix_bytes,
        });
    }
    Ok((out, raced))
}
