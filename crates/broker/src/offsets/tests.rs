use super::*;
use crate::config::{Flush, FlushAck};
use crate::log::LogOptions;
use tokio::sync::watch;

const OPTS: LogOptions = LogOptions {
    segment_bytes: 1 << 20,
    max_batch_bytes: 1 << 20,
};

fn c(offset: i64, meta: &str) -> Committed {
    Committed {
        offset,
        leader_epoch: 0,
        metadata: Some(meta.into()),
        commit_timestamp: 1000,
        expire_timestamp: -1,
    }
}

fn open(dir: &Path) -> OffsetStore {
    let p = Partition::open(
        "__consumer_offsets",
        0,
        &dir.join("__consumer_offsets-0"),
        OPTS,
        false,
    )
    .expect("partition");
    OffsetStore::open(Arc::new(p), dir).expect("store")
}

fn flusher() -> Flusher {
    Flusher::start(Flush::Ack(FlushAck::Ack), watch::Sender::new(0)).expect("flusher")
}

#[tokio::test]
async fn commits_are_kafka_records_replayed_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = flusher();
    {
        let s = open(dir.path());
        s.commit(
            &f,
            true,
            "g",
            &[("t".into(), 0, c(5, "a")), ("t".into(), 1, c(7, "b"))],
        )
        .await
        .expect("commit");
        s.commit(&f, true, "g", &[("t".into(), 0, c(9, "c"))])
            .await
            .expect("commit");
        s.commit(&f, true, "h", &[("u".into(), 0, c(1, ""))])
            .await
            .expect("commit");
        s.record_group(
            &f,
            "g",
            &GroupValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: Some("range".into()),
                leader: None,
                members: vec![],
            },
        );
        s.forget_topic(&f, true, "u").await;
        assert_eq!(s.get("g", "t", 0), Some(c(9, "c")));
        assert_eq!(s.get("h", "u", 0), None);
        // What is on disk is Kafka's schema: offset keys v1, values v3, group key v2.
        let (start, end) = s.partition().offsets();
        let data = match s
            .partition()
            .log()
            .read_plan(start, end, 1 << 20)
            .expect("plan")
        {
            crate::log::ReadPlan::Slice(sl) => {
                crate::log::read_slice(&sl, end, 1 << 20).expect("read")
            }
            other => panic!("{other:?}"),
        };
        let recs: Vec<_> = convert::decode_batches(&data, 1 << 20)
            .expect("batches")
            .into_iter()
            .flat_map(|b| b.records)
            .collect();
        assert_eq!(recs.len(), 6);
        let k = recs[0].key.clone().expect("key");
        assert_eq!(&k[..2], &[0, 1]);
        assert_eq!(
            Key::decode(&k),
            Ok(Key::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 0
            })
        );
        let v = recs[0].value.clone().expect("value");
        assert_eq!(&v[..2], &[0, 3]);
        assert_eq!(OffsetValue::decode(&v).expect("v").offset, 5);
        assert_eq!(&recs[4].key.clone().expect("key")[..2], &[0, 2]);
        assert_eq!(recs[5].value, None, "tombstone");
    }
    let s = open(dir.path());
    assert_eq!(s.get("g", "t", 0), Some(c(9, "c")));
    assert_eq!(s.get("g", "t", 1), Some(c(7, "b")));
    assert_eq!(s.get("h", "u", 0), None, "tombstone replayed");
    assert_eq!(s.groups(), vec!["g".to_string()]);
    assert_eq!(
        s.group_summary("g"),
        Some(GroupSummary {
            protocol_type: "consumer".into(),
            generation: 4,
            members: 0
        })
    );
    assert_eq!(s.skipped(), 0);
    f.stop();
}

#[tokio::test]
async fn old_offsets_file_is_migrated_once_and_garbage_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = |o| Committed {
        offset: o,
        leader_epoch: 0,
        metadata: Some("m".into()),
        commit_timestamp: -1,
        expire_timestamp: -1,
    };
    legacy_file::write_for_test(
        dir.path(),
        &[
            ("g".into(), "t".into(), 0, old(3)),
            ("g".into(), "t".into(), 0, old(4)),
            ("g2".into(), "t".into(), 1, old(8)),
        ],
    )
    .expect("old file");
    {
        let s = open(dir.path());
        assert_eq!(s.get("g", "t", 0).map(|c| c.offset), Some(4));
        assert_eq!(s.get("g2", "t", 1).map(|c| c.offset), Some(8));
        // A record that is not Kafka's schema (e.g. produced by an old version to an
        // auto-created topic) is skipped and counted at replay.
        let mut junk = encode(&[(Key::Group("x".into()), Some(vec![0, 9]))], 0).expect("junk");
        s.partition().append(&mut junk, usize::MAX).expect("append");
        // A batch that claims gzip but is not: CRC-valid, undecodable; skipped whole.
        let mut bad = encode(&[(Key::Group("y".into()), None)], 0).expect("bad");
        bad[22] |= 1;
        let crc = crc32c::crc32c(&bad[21..]);
        bad[17..21].copy_from_slice(&crc.to_be_bytes());
        s.partition().append(&mut bad, usize::MAX).expect("append");
        s.partition().log().close().expect("close");
    }
    assert!(!dir.path().join(legacy_file::FILE_NAME).exists());
    assert!(dir.path().join(legacy_file::MIGRATED_NAME).exists());
    let s = open(dir.path());
    assert_eq!(s.get("g", "t", 0).map(|c| c.offset), Some(4));
    assert_eq!(s.skipped(), 2);
    let (_, end) = s.partition().offsets();
    assert_eq!(
        end, 4,
        "migrated once: two offsets and the two junk records"
    );
}

#[tokio::test]
async fn compaction_keeps_the_topic_near_the_live_set_and_replay_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = LogOptions {
        segment_bytes: 4096,
        max_batch_bytes: 1 << 20,
    };
    let pdir = dir.path().join("__consumer_offsets-0");
    let f = flusher();
    let open_small = || {
        let p = Partition::open("__consumer_offsets", 0, &pdir, small, false).expect("partition");
        OffsetStore::open(Arc::new(p), dir.path()).expect("store")
    };
    let s = open_small();
    // 2,000 commits over 12 keys (3 groups x 4 partitions).
    for i in 0..2000i64 {
        let g = format!("g{}", i % 3);
        let p = (i % 4) as i32;
        s.commit(&f, false, &g, &[("t".into(), p, c(i, "m"))])
            .await
            .expect("commit");
    }
    let before = s.partition().log().size_bytes();
    let stats = {
        let mut log = s.partition().log();
        assert!(log.needs_compaction());
        log.compact(now_ms(), crate::topic_config::DELETE_RETENTION_MS)
            .expect("compact")
    };
    let after = s.partition().log().size_bytes();
    assert!(stats.records_removed > 1800, "{stats:?}");
    // At most the active segment plus one record per key.
    assert!(after <= 4096 + 12 * 200, "{before} -> {after} bytes");
    let view: Vec<_> = (0..3).map(|g| s.all_for(&format!("g{g}"))).collect();
    s.partition().log().close().expect("close");
    drop(s);
    let s = open_small();
    let replayed: Vec<_> = (0..3).map(|g| s.all_for(&format!("g{g}"))).collect();
    assert_eq!(replayed, view);
    assert_eq!(s.get("g1", "t", 3).map(|c| c.offset), Some(1999));
    f.stop();
}
