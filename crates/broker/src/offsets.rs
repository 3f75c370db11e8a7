//! Committed consumer-group offsets: an append-only log of CRC'd records
//! (`<data_dir>/__consumer_offsets.log`), fdatasync'ed per commit, replayed at start (a torn
//! or corrupt tail is cut), compacted by tmp + fsync + rename + dir fsync.
//!
//! Record: `u32 payload length | u32 crc32c(payload) | payload`, payload =
//! `str group | str topic | i32 partition | i64 offset | i32 leader epoch | nullable str metadata`
//! with `str` = u16 length + UTF-8 and nullable str = i32 length (-1 = null) + UTF-8.

use super::log::LogError;
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE_NAME: &str = "__consumer_offsets.log";
/// Compact once the file holds this many more records than live entries.
const COMPACT_SLACK: usize = 100_000;

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

type Key = (String, String, i32);

struct Inner {
    file: File,
    /// group → (topic, partition) → committed; BTreeMap for stable listings.
    map: HashMap<String, BTreeMap<(String, i32), Committed>>,
    records: usize,
}

pub struct OffsetStore {
    path: PathBuf,
    inner: Mutex<Inner>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Group and topic names are bounded (topics 249, groups checked by the caller).
    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn encode(key: &Key, c: &Committed, out: &mut Vec<u8>) {
    let mut p = Vec::with_capacity(64);
    put_str(&mut p, &key.0);
    put_str(&mut p, &key.1);
    p.extend_from_slice(&key.2.to_be_bytes());
    p.extend_from_slice(&c.offset.to_be_bytes());
    p.extend_from_slice(&c.leader_epoch.to_be_bytes());
    match &c.metadata {
        None => p.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(m) => {
            p.extend_from_slice(&(m.len() as i32).to_be_bytes());
            p.extend_from_slice(m.as_bytes());
        }
    }
    out.extend_from_slice(&(p.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&p).to_be_bytes());
    out.extend_from_slice(&p);
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            i64::from_be_bytes(a)
        })
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u16()? as usize;
        self.take(n)
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
    }
}

fn decode(p: &[u8]) -> Option<(Key, Committed)> {
    let mut c = Cursor(p);
    let group = c.str()?;
    let topic = c.str()?;
    let partition = c.i32()?;
    let offset = c.i64()?;
    let leader_epoch = c.i32()?;
    let mlen = c.i32()?;
    let metadata = if mlen < 0 {
        None
    } else {
        Some(String::from_utf8(c.take(mlen as usize)?.to_vec()).ok()?)
    };
    Some((
        (group, topic, partition),
        Committed {
            offset,
            leader_epoch,
            metadata,
        },
    ))
}

impl OffsetStore {
    /// Opens the store in `dir`, replaying it and cutting a torn tail.
    pub fn open(dir: &Path) -> Result<OffsetStore, LogError> {
        let path = dir.join(FILE_NAME);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(|e| LogError::io("read offsets", &path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LogError::io("open offsets", &path, e)),
        }
        let mut map: HashMap<String, BTreeMap<(String, i32), Committed>> = HashMap::new();
        let mut pos = 0usize;
        let mut records = 0usize;
        while bytes.len() - pos >= 8 {
            let len =
                u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                    as usize;
            let crc = u32::from_be_bytes([
                bytes[pos + 4],
                bytes[pos + 5],
                bytes[pos + 6],
                bytes[pos + 7],
            ]);
            let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if crc32c::crc32c(payload) != crc {
                break;
            }
            let Some((key, c)) = decode(payload) else {
                break;
            };
            map.entry(key.0).or_default().insert((key.1, key.2), c);
            records += 1;
            pos += 8 + len;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| LogError::io("open offsets", &path, e))?;
        if pos < bytes.len() {
            tracing::warn!(path = %path.display(), position = pos,
                "truncating torn tail of committed offsets");
            file.set_len(pos as u64)
                .and_then(|_| file.sync_all())
                .map_err(|e| LogError::io("truncate offsets", &path, e))?;
        }
        Ok(OffsetStore {
            path,
            inner: Mutex::new(Inner { file, map, records }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Durably records `entries` for `group` (one write + fdatasync). Blocking.
    pub fn commit(
        &self,
        group: &str,
        entries: &[(String, i32, Committed)],
    ) -> Result<(), LogError> {
        let mut buf = Vec::new();
        for (t, p, c) in entries {
            encode(&(group.to_string(), t.clone(), *p), c, &mut buf);
        }
        let mut inner = self.lock();
        inner
            .file
            .write_all(&buf)
            .and_then(|_| inner.file.sync_data())
            .map_err(|e| LogError::io("append offsets", &self.path, e))?;
        let g = inner.map.entry(group.to_string()).or_default();
        for (t, p, c) in entries {
            g.insert((t.clone(), *p), c.clone());
        }
        inner.records += entries.len();
        let live: usize = inner.map.values().map(|g| g.len()).sum();
        if inner.records > live + COMPACT_SLACK {
            self.compact(&mut inner)?;
        }
        Ok(())
    }

    fn compact(&self, inner: &mut Inner) -> Result<(), LogError> {
        let mut buf = Vec::new();
        let mut n = 0;
        for (g, parts) in &inner.map {
            for ((t, p), c) in parts {
                encode(&(g.clone(), t.clone(), *p), c, &mut buf);
                n += 1;
            }
        }
        logferry_fsutil::replace(&self.path, &buf, logferry_fsutil::Durability::Durable)
            .map_err(|e| LogError::io("compact", &self.path, e))?;
        inner.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| LogError::io("open offsets", &self.path, e))?;
        inner.records = n;
        Ok(())
    }

    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.lock()
            .map
            .get(group)
            .and_then(|g| g.get(&(topic.to_string(), partition)))
            .cloned()
    }

    /// Every committed offset of `group`, sorted by topic and partition.
    pub fn all_for(&self, group: &str) -> Vec<(String, i32, Committed)> {
        self.lock()
            .map
            .get(group)
            .map(|g| {
                g.iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().map.keys().cloned().collect();
        v.sort();
        v
    }

    /// fdatasync (used at shutdown; commits are already synced).
    pub fn sync(&self) -> Result<(), LogError> {
        self.lock()
            .file
            .sync_all()
            .map_err(|e| LogError::io("fsync offsets", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replay_and_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = |o| Committed {
            offset: o,
            leader_epoch: 0,
            metadata: Some("m".into()),
        };
        {
            let s = OffsetStore::open(dir.path()).expect("open");
            s.commit("g", &[("t".into(), 0, c(5)), ("t".into(), 1, c(7))])
                .expect("commit");
            s.commit("g", &[("t".into(), 0, c(9))]).expect("commit");
        }
        // Torn tail: garbage appended.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .and_then(|mut f| f.write_all(&[0, 0, 0, 40, 1, 2, 3]))
            .expect("tear");
        let s = OffsetStore::open(dir.path()).expect("reopen");
        assert_eq!(s.get("g", "t", 0), Some(c(9)));
        assert_eq!(s.get("g", "t", 1), Some(c(7)));
        assert_eq!(s.get("g", "t", 2), None);
        s.commit("g", &[("t".into(), 2, c(1))])
            .expect("commit after repair");
        let s = OffsetStore::open(dir.path()).expect("reopen");
        assert_eq!(s.get("g", "t", 2), Some(c(1)));
    }
}
