//! Opening a partition directory: find segments, walk their batch headers to rebuild the
//! offset index, end offsets and producer state, and — after an unclean stop — verify every
//! batch past the recovery point (length, magic 2, CRC32C, increasing offsets) and cut a torn
//! tail, like Kafka's `LogSegment.recover`. Offsets may jump forward (compaction removes
//! records) but never back.

use super::batch::{self, HEADER_LEN};
use super::index::OffsetIndex;
use super::producer_state::ProducerStates;
use super::segment::{parse_log_file_name, Segment};
use super::{fsync_dir, read_recovery_point, LogError, LogOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What recovery hands to the partition log.
pub struct Recovered {
    pub segments: Vec<Segment>,
    pub producers: ProducerStates,
}

/// Where a segment stopped being valid.
struct Torn {
    position: u64,
    offset: i64,
    reason: String,
}

/// Opens and repairs the log in `dir`. `clean` says the broker stopped cleanly (then CRCs are
/// not re-verified; headers are still checked).
pub fn recover(dir: &Path, opts: LogOptions, clean: bool) -> Result<Recovered, LogError> {
    std::fs::create_dir_all(dir).map_err(|e| LogError::io("create partition dir", dir, e))?;
    super::compact::finish_interrupted(dir)?;
    let recovery_point = if clean {
        i64::MAX
    } else {
        read_recovery_point(dir)
    };
    let mut bases = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| LogError::io("list partition dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("list partition dir", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_log_file_name(name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            // Leftover of an interrupted index/recovery-point write.
            let _ = std::fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();

    let mut producers = ProducerStates::default();
    let mut segments: Vec<Segment> = Vec::new();
    let mut expected: Option<i64> = None;
    let mut buf = Vec::new();
    let mut iter = bases.into_iter();
    while let Some(base) = iter.next() {
        let path = dir.join(super::segment::log_file_name(base));
        let mut seg = Segment::open(path, base)?;
        if let Some(exp) = expected {
            if base < exp {
                // Overlaps the previous segment: everything from here on cannot be trusted.
                // (A gap is fine: compaction leaves them.)
                tracing::warn!(path = %seg.path.display(), expected = exp, base,
                    "segment overlaps the log before it; deleting it and later segments");
                delete_segment(&seg)?;
                for later in iter.by_ref() {
                    let p = dir.join(super::segment::log_file_name(later));
                    delete_segment(&Segment::open(p, later)?)?;
                }
                break;
            }
        }
        let torn = walk(&mut seg, recovery_point, opts, &mut producers, &mut buf)?;
        let cut = torn.is_some();
        if let Some(t) = torn {
            tracing::warn!(
                path = %seg.path.display(),
                position = t.position,
                offset = t.offset,
                reason = %t.reason,
                "truncating torn tail of segment"
            );
            seg.truncate(t.position, t.offset)?;
        }
        persist_index(&seg);
        expected = Some(seg.next_offset);
        segments.push(seg);
        if cut {
            for later in iter.by_ref() {
                let p = dir.join(super::segment::log_file_name(later));
                let s = Segment::open(p, later)?;
                tracing::warn!(path = %s.path.display(), "deleting segment after torn tail");
                delete_segment(&s)?;
            }
        }
    }
    if segments.is_empty() {
        segments.push(Segment::create(dir, 0)?);
        fsync_dir(dir)?;
    }
    Ok(Recovered {
        segments,
        producers,
    })
}

fn delete_segment(seg: &Segment) -> Result<(), LogError> {
    std::fs::remove_file(&seg.path).map_err(|e| LogError::io("delete segment", &seg.path, e))?;
    let _ = std::fs::remove_file(seg.index_path());
    Ok(())
}

/// Walks the batches of `seg`, filling its index, end offset and max timestamp and the
/// producer state. Returns where it stopped being valid, if it did.
fn walk(
    seg: &mut Segment,
    recovery_point: i64,
    opts: LogOptions,
    producers: &mut ProducerStates,
    buf: &mut Vec<u8>,
) -> Result<Option<Torn>, LogError> {
    let mut pos = 0u64;
    let mut next = seg.base_offset;
    let mut index = OffsetIndex::default();
    let mut max_ts = -1;
    let torn = loop {
        if pos >= seg.size {
            break None;
        }
        let torn_here = |reason: String| Torn {
            position: pos,
            offset: next,
            reason,
        };
        if seg.size - pos < HEADER_LEN as u64 {
            break Some(torn_here(format!("{} trailing bytes", seg.size - pos)));
        }
        let mut hdr = [0u8; HEADER_LEN];
        seg.file
            .read_exact_at(&mut hdr, pos)
            .map_err(|e| LogError::io("read batch header", &seg.path, e))?;
        let h = match batch::parse_header(&hdr, opts.max_batch_bytes) {
            Ok(h) => h,
            Err(e) => break Some(torn_here(e.to_string())),
        };
        if h.base_offset < next {
            break Some(torn_here(format!(
                "batch base offset {} goes back before {}",
                h.base_offset, next
            )));
        }
        if pos + h.total_len as u64 > seg.size {
            break Some(torn_here(format!(
                "batch of {} bytes cut at {} bytes",
                h.total_len,
                seg.size - pos
            )));
        }
        if h.base_offset >= recovery_point {
            buf.resize(h.total_len, 0);
            seg.file
                .read_exact_at(buf, pos)
                .map_err(|e| LogError::io("read batch", &seg.path, e))?;
            if let Err(e) = batch::verify_crc(&h, buf) {
                break Some(torn_here(e.to_string()));
            }
        }
        index.maybe_add((h.base_offset - seg.base_offset) as u32, pos);
        producers.record(&h);
        max_ts = max_ts.max(h.max_timestamp);
        next = h.next_offset();
        pos += h.total_len as u64;
    };
    seg.index = index;
    seg.next_offset = next;
    seg.max_timestamp = max_ts;
    Ok(torn)
}

/// Rebuilds a segment's index, end offset and max timestamp from its batches (a segment
/// compaction just wrote, so it must be whole).
pub fn rebuild(seg: &mut Segment, opts: LogOptions) -> Result<(), LogError> {
    let mut buf = Vec::new();
    let mut producers = ProducerStates::default();
    if let Some(t) = walk(seg, i64::MAX, opts, &mut producers, &mut buf)? {
        return Err(LogError::Corrupt {
            path: seg.path.clone(),
            position: t.position,
            reason: t.reason,
        });
    }
    Ok(())
}

/// Rewrites the on-disk index when it is missing or differs from the one just rebuilt.
fn persist_index(seg: &Segment) {
    let path = seg.index_path();
    let fresh = seg.index.to_bytes();
    let current = std::fs::read(&path).ok();
    let ok = current
        .as_deref()
        .and_then(|b| OffsetIndex::from_bytes(b, seg.size))
        .is_some_and(|i| i.to_bytes() == fresh);
    if !ok {
        if current.is_some() {
            tracing::info!(path = %path.display(), "offset index invalid; rebuilt");
        }
        if let Err(e) = seg.save_index() {
            tracing::warn!(error = %e, "could not write index");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PartitionLog, ReadPlan};
    use super::*;
    use std::io::Write;

    fn batch(delta: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + 16];
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[16] = 2;
        b[23..27].copy_from_slice(&delta.to_be_bytes());
        b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
        b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        for (i, x) in b[HEADER_LEN..].iter_mut().enumerate() {
            *x = i as u8;
        }
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    const OPTS: LogOptions = LogOptions {
        segment_bytes: 400,
        max_batch_bytes: 1 << 20,
    };

    #[test]
    fn append_roll_recover_truncate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t-0");
        {
            let mut log = PartitionLog::open(&p, OPTS, false).expect("open");
            for _ in 0..10 {
                let mut b = batch(2);
                log.append(&mut b, usize::MAX).expect("append");
            }
            assert_eq!(log.next_offset(), 30);
            assert!(log.segments.len() > 1, "rolled");
        }
        // Tear the tail: half a batch, then reopen uncleanly.
        let last = {
            let mut names: Vec<_> = std::fs::read_dir(&p)
                .expect("ls")
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect();
            names.sort();
            names.pop().expect("a segment")
        };
        let half = &batch(2)[..40];
        std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .and_then(|mut f| f.write_all(half))
            .expect("tear");
        let log = PartitionLog::open(&p, OPTS, false).expect("reopen");
        assert_eq!(log.next_offset(), 30);
        assert!(matches!(log.read_plan(30, 30, 100), Ok(ReadPlan::Empty)));
        match log.read_plan(4, 30, 10) {
            Ok(ReadPlan::Slice(s)) => {
                let bytes = super::super::read_slice(&s, 30, 1 << 20).expect("read");
                let h = batch::parse_header(&bytes, 1 << 20).expect("hdr");
                assert_eq!(h.base_offset, 3);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn retention_deletes_whole_old_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t-0");
        let mut log = PartitionLog::open(&p, OPTS, false).expect("open");
        for _ in 0..20 {
            let mut b = batch(0);
            log.append(&mut b, usize::MAX).expect("append");
        }
        let segments = log.segments.len();
        assert!(segments >= 4);
        // Age: the batches carry timestamp 0, so everything but the active segment is old.
        let deleted = log
            .apply_retention(1_000_000, None, Some(1000))
            .expect("retention");
        assert_eq!(deleted.len(), segments - 1);
        assert_eq!(log.segments.len(), 1);
        assert!(deleted.iter().all(|d| !d.exists()));
        let start = log.log_start_offset();
        assert!(start > 0);
        assert!(matches!(
            log.read_plan(0, 20, 100),
            Ok(ReadPlan::OutOfRange)
        ));
        assert!(matches!(
            log.read_plan(start, 20, 100),
            Ok(ReadPlan::Slice(_))
        ));
        // Size: nothing more to delete (the active segment is never deleted).
        assert!(log
            .apply_retention(0, Some(1), None)
            .expect("retention")
            .is_empty());
        drop(log);
        let log = PartitionLog::open(&p, OPTS, true).expect("reopen");
        assert_eq!(log.log_start_offset(), start);
        assert_eq!(log.next_offset(), 20);
    }

    #[test]
    fn bad_index_is_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t-0");
        let mut log = PartitionLog::open(
            &p,
            LogOptions {
                segment_bytes: 1 << 20,
                ..OPTS
            },
            false,
        )
        .expect("open");
        for _ in 0..300 {
            let mut b = batch(0);
            log.append(&mut b, usize::MAX).expect("append");
        }
        log.close().expect("close");
        drop(log);
        let idx = p.join("00000000000000000000.index");
        let good = std::fs::read(&idx).expect("index written at close");
        assert!(good.len() >= 16, "sparse entries present");
        std::fs::write(&idx, b"garbage!garbage!x").expect("corrupt index");
        let log = PartitionLog::open(
            &p,
            LogOptions {
                segment_bytes: 1 << 20,
                ..OPTS
            },
            true,
        )
        .expect("reopen");
        assert_eq!(std::fs::read(&idx).expect("index"), good, "index rebuilt");
        match log.read_plan(250, 300, 10) {
            Ok(ReadPlan::Slice(s)) => {
                let bytes = super::super::read_slice(&s, 300, 1 << 20).expect("read");
                let h = batch::parse_header(&bytes, 1 << 20).expect("hdr");
                assert_eq!(h.base_offset, 250);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn timestamp_lookup_finds_the_record_inside_a_batch() {
        use crate::records::{compression::Codec, convert};
        use kafka_protocol::records::{Record, TimestampType};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = PartitionLog::open(&dir.path().join("t-0"), OPTS, false).expect("open");
        let records: Vec<Record> = [100i64, 200, 300]
            .iter()
            .enumerate()
            .map(|(i, &ts)| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32 - 1,
                timestamp: ts,
                key: None,
                value: Some(bytes::Bytes::from_static(b"v")),
                headers: Default::default(),
            })
            .collect();
        let mut b = convert::encode_batch(&records, Codec::Gzip).expect("encode");
        log.append(&mut b, usize::MAX).expect("append");
        assert_eq!(log.offset_for_timestamp(0).expect("lookup"), Some((100, 0)));
        assert_eq!(
            log.offset_for_timestamp(150).expect("lookup"),
            Some((200, 1))
        );
        assert_eq!(
            log.offset_for_timestamp(300).expect("lookup"),
            Some((300, 2))
        );
        assert_eq!(log.offset_for_timestamp(301).expect("lookup"), None);
    }
}
