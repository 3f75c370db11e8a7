//! Durable file primitives shared by the logferry agent (checkpoints, state-dir lock) and the
//! bundled broker (index, recovery point, committed offsets, producer ids, data-dir lock).
//!
//! One implementation of each, because each is easy to get subtly wrong:
//! - [`replace`]: write `PATH.tmp`, (fsync), rename over `PATH`, (fsync the directory). A crash
//!   at any point leaves either the old or the new content under `PATH`, never a mix.
//! - [`fsync_dir`]: makes created, renamed and deleted entries survive power loss.
//! - [`DirLock`]: an exclusive `flock` on a file in a directory, held while the value lives,
//!   so two processes never share a state or data directory.

use fs2::FileExt;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How far [`replace`] goes to make the new content survive a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it: the new content survives
    /// power loss once `replace` returns.
    Durable,
    /// Rename only (atomic against kill -9, not against power loss): for caches that are
    /// rebuilt or re-verified when lost (a segment index, a recovery point).
    Cache,
}

/// The temporary name [`replace`] writes before renaming: `PATH.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Atomically replace `path` with `contents` (see the module doc). The directory of `path`
/// must exist.
pub fn replace(path: &Path, contents: &[u8], durability: Durability) -> io::Result<()> {
    replace_with(path, durability, |f| f.write_all(contents))
}

/// [`replace`], with the new content written by `write` into the temporary file.
pub fn replace_with(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = tmp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    write(&mut f)?;
    if durability == Durability::Durable {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, path)?;
    if durability == Durability::Durable {
        if let Some(dir) = parent_dir(path) {
            fsync_dir(dir)?;
        }
    }
    Ok(())
}

fn parent_dir(path: &Path) -> Option<&Path> {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(Path::new(".")),
        other => other,
    }
}

/// fsync a directory, so entries created, renamed or deleted in it survive power loss.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Why a [`DirLock`] could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("{} is locked by another process", path.display())]
    Busy { path: PathBuf },
    /// The directory or the lock file could not be created or opened.
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// An exclusive lock on a directory: `flock` on `DIR/NAME`, released when dropped (or when
/// the process dies, whatever the signal).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Create `dir` if needed and lock `dir/name` without waiting. With `write_pid`, the lock
    /// file then holds this process's id (for an operator wondering who holds it).
    pub fn acquire(dir: &Path, name: &str, write_pid: bool) -> Result<DirLock, LockError> {
        let io_err = |source| LockError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let path = dir.join(name);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        if file.try_lock_exclusive().is_err() {
            return Err(LockError::Busy { path });
        }
        if write_pid {
            // Informational only: a failure here does not weaken the lock.
            let _ = file.set_len(0);
            let _ = writeln!(file, "{}", std::process::id());
        }
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_swaps_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("state.json");
        replace(&p, b"one", Durability::Durable).expect("first");
        replace(&p, b"two", Durability::Cache).expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert!(!tmp_path(&p).exists());
        // A failed write leaves the old content in place.
        let r = replace_with(&p, Durability::Durable, |_| {
            Err(io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
    }

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let sub = dir.path().join("state");
        let first = DirLock::acquire(&sub, "lock", true).expect("first");
        assert_eq!(
            std::fs::read_to_string(first.path()).expect("pid").trim(),
            std::process::id().to_string()
        );
        assert!(matches!(
            DirLock::acquire(&sub, "lock", true),
            Err(LockError::Busy { .. })
        ));
        drop(first);
        DirLock::acquire(&sub, "lock", false).expect("free again");
    }
}
