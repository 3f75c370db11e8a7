use super::super::{LogOptions, PartitionLog, ReadPlan};
use super::*;
use crate::records::compression::Codec;
use kafka_protocol::records::{Record, TimestampType};

const OPTS: LogOptions = LogOptions {
    segment_bytes: 1024,
    max_batch_bytes: 1 << 20,
};

fn keyed(key: &str, value: Option<&str>, ts: i64) -> Vec<u8> {
    let r = Record {
        transactional: false,
        control: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: ts,
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        headers: Default::default(),
    };
    convert::encode_batch(&[r], Codec::None).expect("encode")
}

/// Every record from the log start: (offset, key, value).
fn read_all(log: &PartitionLog) -> Vec<(i64, String, Option<String>)> {
    let end = log.next_offset();
    let mut offset = log.log_start_offset();
    let mut out = Vec::new();
    while offset < end {
        let ReadPlan::Slice(s) = log.read_plan(offset, end, 1 << 20).expect("plan") else {
            break;
        };
        let bytes = super::super::read_slice(&s, end, 1 << 20).expect("read");
        for b in convert::decode_batches(&bytes, 1 << 20).expect("decode") {
            for r in b.records {
                if r.offset >= offset {
                    let s = |b: Option<Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
                    out.push((r.offset, s(r.key).unwrap_or_default(), s(r.value)));
                }
            }
            offset = b.header.next_offset();
        }
    }
    out
}

#[test]
fn keeps_the_newest_record_per_key_with_offsets_and_survives_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c-0");
    let mut log = PartitionLog::open(&p, OPTS, false).expect("open");
    let now = 10 * DAY;
    for i in 0..60 {
        let k = format!("k{}", i % 3);
        let v = format!("v{i}");
        log.append(&mut keyed(&k, Some(&v), now), usize::MAX)
            .expect("append");
    }
    // A tombstone for k0 (recent: kept) and an old one for a key never seen again.
    log.append(&mut keyed("k0", None, now), usize::MAX)
        .expect("append");
    log.append(&mut keyed("gone", None, 0), usize::MAX)
        .expect("append");
    for i in 0..20 {
        log.append(&mut keyed("k9", Some(&format!("w{i}")), now), usize::MAX)
            .expect("append");
    }
    let before = log.segments.len();
    assert!(before > 4, "rolled into {before} segments");
    assert!(log.needs_compaction());
    let stats = log.compact(now, DAY).expect("compact");
    assert!(!log.needs_compaction(), "nothing new closed since");
    assert!(stats.segments_after < before, "{stats:?}");
    assert!(stats.bytes_after < stats.bytes_before);
    let got = read_all(&log);
    let latest = |k: &str| got.iter().rfind(|r| r.1 == k).cloned();
    assert_eq!(latest("k1"), Some((58, "k1".into(), Some("v58".into()))));
    assert_eq!(latest("k2"), Some((59, "k2".into(), Some("v59".into()))));
    assert_eq!(
        latest("k0"),
        Some((60, "k0".into(), None)),
        "recent tombstone kept"
    );
    assert!(latest("gone").is_none(), "old tombstone dropped");
    assert_eq!(latest("k9").map(|r| r.2), Some(Some("w19".into())));
    // Offsets only increase; the log end is unchanged.
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(log.next_offset(), 82);
    // Outside the active segment, at most one record per key.
    let active = log.active_base();
    let closed: Vec<_> = got.iter().filter(|r| r.0 < active).collect();
    let mut keys: Vec<_> = closed.iter().map(|r| &r.1).collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), n, "one record per key: {closed:?}");
    drop(log);
    // Unclean reopen: the gaps are accepted, nothing is cut.
    let log = PartitionLog::open(&p, OPTS, false).expect("reopen");
    assert_eq!(read_all(&log), got);
    assert_eq!(log.next_offset(), 82);
}

const DAY: i64 = 24 * 60 * 60 * 1000;

fn segment_names(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    v.sort();
    v
}

#[test]
fn interrupted_rewrite_is_undone_or_finished_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c-0");
    let mut log = PartitionLog::open(&p, OPTS, false).expect("open");
    for i in 0..40 {
        log.append(&mut keyed("k", Some(&format!("v{i}")), 0), usize::MAX)
            .expect("append");
    }
    let all = read_all(&log);
    drop(log);
    let names = segment_names(&p);
    assert!(names.len() >= 3);
    let bases: Vec<i64> = names
        .iter()
        .filter_map(|n| super::super::segment::parse_log_file_name(n))
        .collect();
    // Before the swap: a .cleaned file and the marker. Open undoes it: data as before.
    let cleaned = p.join(format!("{}{CLEANED_SUFFIX}", names[0]));
    std::fs::write(&cleaned, b"partial").expect("write");
    std::fs::write(p.join(MARKER), format!("{}\n{}\n", bases[0], bases[1])).expect("marker");
    let log = PartitionLog::open(&p, OPTS, false).expect("reopen");
    assert_eq!(read_all(&log), all);
    assert!(!cleaned.exists() && !p.join(MARKER).exists());
    drop(log);
    // After the swap: the first segment was replaced by (here) its own content and the second
    // must go; open deletes it, and the log continues (with a gap) from the third.
    std::fs::write(p.join(MARKER), format!("{}\n{}\n", bases[0], bases[1])).expect("marker");
    let log = PartitionLog::open(&p, OPTS, false).expect("reopen");
    assert_eq!(segment_names(&p).len(), names.len() - 1);
    let got = read_all(&log);
    assert!(got.len() < all.len());
    assert_eq!(got.last(), all.last(), "newest record kept");
    assert_eq!(log.next_offset(), 40);
}
