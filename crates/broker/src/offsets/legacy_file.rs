//! The committed-offsets file of earlier versions (`<data_dir>/__consumer_offsets.log`), read
//! once to migrate it into the `__consumer_offsets` topic.
//!
//! Record: `u32 payload length | u32 crc32c(payload) | payload`, payload =
//! `str group | str topic | i32 partition | i64 offset | i32 leader epoch | nullable str metadata`
//! with `str` = u16 length + UTF-8 and nullable str = i32 length (-1 = null) + UTF-8. Replay
//! stops at the first torn or corrupt record (that tail was never acknowledged).

use super::Committed;
use std::path::Path;

pub const FILE_NAME: &str = "__consumer_offsets.log";
/// What the file is renamed to once migrated (kept as a backup, never read again).
pub const MIGRATED_NAME: &str = "__consumer_offsets.log.migrated";

/// One migrated entry: (group, topic, partition, committed).
pub type Entry = (String, String, i32, Committed);

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

fn decode(p: &[u8]) -> Option<Entry> {
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
        group,
        topic,
        partition,
        Committed {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp: -1,
            expire_timestamp: -1,
        },
    ))
}

/// Every record of the file in order (later ones win), and how many trailing bytes were
/// unreadable. `Ok(None)` when there is no file.
pub fn read(dir: &Path) -> std::io::Result<Option<(Vec<Entry>, usize)>> {
    let bytes = match std::fs::read(dir.join(FILE_NAME)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    while bytes.len() - pos >= 8 {
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let len = word(pos) as usize;
        let crc = word(pos + 4);
        let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let Some(e) = decode(payload) else { break };
        out.push(e);
        pos += 8 + len;
    }
    Ok(Some((out, bytes.len() - pos)))
}

/// Writes a file in the old format (tests of the migration).
pub fn write_for_test(dir: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let mut out = Vec::new();
    for (g, t, p, c) in entries {
        let mut b = Vec::new();
        for s in [g, t] {
            b.extend_from_slice(&(s.len() as u16).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b.extend_from_slice(&p.to_be_bytes());
        b.extend_from_slice(&c.offset.to_be_bytes());
        b.extend_from_slice(&c.leader_epoch.to_be_bytes());
        match &c.metadata {
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(m) => {
                b.extend_from_slice(&(m.len() as i32).to_be_bytes());
                b.extend_from_slice(m.as_bytes());
            }
        }
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&b).to_be_bytes());
        out.extend_from_slice(&b);
    }
    std::fs::write(dir.join(FILE_NAME), out)
}
