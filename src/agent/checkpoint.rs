//! Durable per-section checkpoints.
//!
//! A checkpoint file holds every known file of one section: identity, path, acknowledged
//! offset, size and mtime. It is replaced atomically: write `NAME.tmp`, fsync, rename over
//! `NAME`, fsync the directory. A crash at any point leaves either the old or the new file.
//! Invariant: an offset in a checkpoint never exceeds what the broker acknowledged.

use crate::agent::identity::{DevIno, Fingerprint};
use logferry_fsutil::Durability;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Format version written by this build. Older versions are migrated on load; newer ones are
/// refused so a downgrade never misreads state.
/// - 1: identity, path, offset, size, mtime.
/// - 2: adds `codec` (offsets of a compressed file are offsets in its decompressed content: a
///   build without it would resume a `.gz` as bytes) and `gone` (finished files that vanished,
///   remembered to recognise their compressed copies). A version 1 file reads as all plain and
///   none gone.
pub const VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "checkpoint {path} is corrupt ({reason}). logferry will not guess where to resume: \
         inspect the file, then move it aside (mv {path} {path}.bad) to start this section over \
         according to its start_at setting"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("checkpoint {path} has format version {found}, newer than this logferry ({VERSION}); upgrade logferry or move the file aside")]
    TooNew { path: PathBuf, found: u32 },
    #[error("cannot write checkpoint {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// One file's resume point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    #[serde(flatten)]
    pub id: DevIno,
    pub fp_len: u64,
    pub fp_crc: u32,
    /// Last known path (informational; identity is dev+ino+fingerprint).
    pub path: String,
    /// Bytes acknowledged by the broker: resume reading here.
    pub offset: u64,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// "plain", or the compression of the file ("gzip", "zstd"): `offset` and `size` are then
    /// offsets in the decompressed content.
    /// (Borrowed when written: one snapshot of 10,000 files is not 10,000 allocations.)
    #[serde(default = "plain", skip_serializing_if = "is_plain")]
    pub codec: Cow<'static, str>,
    /// Finished and no longer on disk: kept (a bounded number) to recognise its compressed
    /// copy (logrotate `delaycompress`) as already shipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

fn plain() -> Cow<'static, str> {
    Cow::Borrowed("plain")
}

fn is_plain(c: &str) -> bool {
    c == "plain"
}

impl FileCheckpoint {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            len: self.fp_len,
            crc: self.fp_crc,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionCheckpoint {
    pub version: u32,
    pub section: String,
    pub topic: String,
    pub files: Vec<FileCheckpoint>,
}

/// Where one section's checkpoint lives.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
    tmp: PathBuf,
}

impl CheckpointStore {
    pub fn new(state_dir: &Path, name: &str) -> CheckpointStore {
        CheckpointStore {
            path: state_dir.join(name),
            tmp: logferry_fsutil::tmp_path(&state_dir.join(name)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Load the checkpoint; `Ok(None)` if there is none yet. A leftover `.tmp` from a write
    /// interrupted by a crash is ignored (the rename never happened, so the main file holds
    /// the last complete state) and removed.
    pub fn load(&self) -> Result<Option<SectionCheckpoint>, CheckpointError> {
        let _ = std::fs::remove_file(&self.tmp);
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        parse_bytes(&self.path, &bytes).map(Some)
    }

    /// Atomically replace the checkpoint (tmp + fsync + rename + directory fsync).
    pub fn save(&self, cp: &SectionCheckpoint) -> Result<(), CheckpointError> {
        let werr = |source| CheckpointError::Write {
            path: self.path.clone(),
            source,
        };
        // Streamed into the file: with 10,000 files the JSON is ~3 MB, and a buffer that size
        // (built on a blocking-pool thread, in its own malloc arena) stayed in the agent's RSS.
        logferry_fsutil::replace_with(&self.path, Durability::Durable, |f| {
            let mut w = io::BufWriter::with_capacity(64 * 1024, f);
            serde_json::to_writer_pretty(&mut w, cp).map_err(io::Error::other)?;
            w.write_all(b"\n")?;
            w.flush()
        })
        .map_err(werr)
    }
}

/// Writes the newest published checkpoint, coalescing: while a write is in progress, later
/// snapshots replace each other and only the newest is written next, at most one write per
/// `min_interval`. Snapshots are shared (`Arc`), never copied: with 10,000 files one is
/// ~1 MB. Returns once the sender is dropped and its last snapshot is on disk (an
/// error only if that last write failed). `written_ms` gets the time of each successful write;
/// `failing` is set while writes fail (shipping goes on; /healthz reports it).
pub async fn writer(
    store: CheckpointStore,
    mut rx: watch::Receiver<Option<Arc<SectionCheckpoint>>>,
    min_interval: Duration,
    section: String,
    written_ms: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
) -> Result<(), CheckpointError> {
    let mut logged_failure = false;
    let mut last: Option<Arc<SectionCheckpoint>> = None;
    loop {
        let changed = rx.changed().await;
        let snap = rx.borrow_and_update().clone();
        if let Some(cp) = snap {
            if last.as_deref() != Some(&*cp) {
                let s = store.clone();
                let c = Arc::clone(&cp);
                match tokio::task::spawn_blocking(move || s.save(&c)).await {
                    Ok(Ok(())) => {
                        if logged_failure {
                            tracing::info!(section = %section, "checkpoint written again");
                        }
                        logged_failure = false;
                        failing.store(false, Ordering::Relaxed);
                        written_ms.store(unix_ms(SystemTime::now()), Ordering::Relaxed);
                        last = Some(cp);
                    }
                    Ok(Err(e)) => {
                        failing.store(true, Ordering::Relaxed);
                        if !logged_failure {
                            tracing::error!(section = %section, "{e}; shipping continues, the checkpoint stays at its last written state");
                        }
                        logged_failure = true;
                        if changed.is_err() {
                            return Err(e);
                        }
                    }
                    Err(e) => {
                        tracing::error!(section = %section, "checkpoint write task failed: {e}")
                    }
                }
            }
        }
        if changed.is_err() {
            return Ok(());
        }
        tokio::time::sleep(min_interval).await;
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug)]
enum ParseError {
    Corrupt(String),
    TooNew(u32),
}

/// Parse checkpoint bytes as [`CheckpointStore::load`] does, with `path` named in the error.
/// Pure (no I/O), so the fuzzer can drive it: any input gives a checkpoint or a
/// `Corrupt`/`TooNew` error carrying the recovery advice, never a default "start from 0".
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<SectionCheckpoint, CheckpointError> {
    parse(bytes).map_err(|e| match e {
        ParseError::Corrupt(reason) => CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason,
        },
        ParseError::TooNew(found) => CheckpointError::TooNew {
            path: path.to_path_buf(),
            found,
        },
    })
}

/// Parse checkpoint bytes. Pure, so the fuzzer and tests need no files.
fn parse(bytes: &[u8]) -> Result<SectionCheckpoint, ParseError> {
    #[derive(Deserialize)]
    struct Probe {
        version: u32,
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| ParseError::Corrupt(e.to_string()))?;
    if probe.version > VERSION {
        return Err(ParseError::TooNew(probe.version));
    }
    let cp: SectionCheckpoint =
        serde_json::from_slice(bytes).map_err(|e| ParseError::Corrupt(e.to_string()))?;
    for f in &cp.files {
        if crate::agent::codec::Codec::from_name(&f.codec).is_none() {
            return Err(ParseError::Corrupt(format!(
                "file {} has an unknown codec \"{}\"",
                f.path, f.codec
            )));
        }
        if f.offset > f.size {
            return Err(ParseError::Corrupt(format!(
                "file {} has offset {} past its size {}",
                f.path, f.offset, f.size
            )));
        }
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn sample() -> SectionCheckpoint {
        SectionCheckpoint {
            version: VERSION,
            section: "s".into(),
            topic: "t".into(),
            files: vec![FileCheckpoint {
                id: DevIno { dev: 1, ino: 2 },
                fp_len: 10,
                fp_crc: 99,
                path: "/l/a.log".into(),
                offset: 5,
                size: 10,
                mtime_ns: 1_700_000_000_000_000_000,
                codec: "gzip".into(),
                gone: false,
            }],
        }
    }

    #[test]
    fn round_trip_and_atomic_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::new(dir.path(), "topic_s");
        assert_eq!(store.load().expect("load"), None);
        let mut cp = sample();
        store.save(&cp).expect("save");
        assert_eq!(store.load().expect("load"), Some(cp.clone()));
        cp.files[0].offset = 10;
        store.save(&cp).expect("save");
        assert_eq!(store.load().expect("load"), Some(cp));
        assert!(!dir.path().join("topic_s.tmp").exists());
    }

    #[test]
    fn corrupt_and_future_files_are_refused_with_advice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::new(dir.path(), "topic_s");
        fs::write(store.path(), b"{\"version\":1,\"sect").expect("write");
        let e = store.load().expect_err("corrupt").to_string();
        assert!(e.contains("corrupt") && e.contains("mv "), "{e}");
        fs::write(store.path(), b"{\"version\":7}").expect("write");
        let e = store.load().expect_err("too new").to_string();
        assert!(e.contains("version 7"), "{e}");
        let mut bad = sample();
        bad.files[0].offset = 11;
        fs::write(store.path(), serde_json::to_vec(&bad).expect("json")).expect("write");
        assert!(store.load().is_err());
    }

    #[test]
    fn version_1_files_read_as_plain_and_not_gone() {
        let v1 = br#"{"version":1,"section":"s","topic":"t","files":[{"dev":1,"ino":2,"fp_len":3,"fp_crc":4,"path":"/l/a","offset":5,"size":6,"mtime_ns":7}]}"#;
        let cp = parse_bytes(Path::new("/x"), v1).expect("v1");
        assert_eq!(cp.files[0].codec, "plain");
        assert!(!cp.files[0].gone);
        let text = String::from_utf8(serde_json::to_vec(&cp).expect("json")).expect("utf8");
        assert!(
            !text.contains("codec") && !text.contains("gone"),
            "defaults not written: {text}"
        );
        let bad = String::from_utf8(v1.to_vec())
            .expect("utf8")
            .replace("\"mtime_ns\":7", "\"mtime_ns\":7,\"codec\":\"rar\"");
        assert!(parse_bytes(Path::new("/x"), bad.as_bytes()).is_err());
    }

    #[test]
    fn leftover_tmp_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::new(dir.path(), "topic_s");
        store.save(&sample()).expect("save");
        fs::write(dir.path().join("topic_s.tmp"), b"garbage").expect("write");
        assert_eq!(store.load().expect("load"), Some(sample()));
    }
}
