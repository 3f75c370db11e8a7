//! Conversion both ways, checked field by field: legacy messages built by hand (magic 0 and 1,
//! plain and compressed wrappers) up to v2, and v2 batches (built by the kafka-protocol
//! crate, as clients build them) down to magic 0 and 1.

use super::*;
use crate::log::batch::parse_and_verify;
use crate::records::legacy::{decode, encode_message, Message};

const LIMIT: usize = 1 << 20;

fn msg(offset: i64, ts: i64, key: Option<&str>, value: &str) -> Message {
    Message {
        offset,
        timestamp: ts,
        log_append_time: false,
        key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
    }
}

/// A plain message set of `magic`.
fn plain(magic: i8, msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        encode_message(
            &mut out,
            magic,
            m.offset,
            0,
            m.timestamp,
            m.key.as_deref(),
            m.value.as_deref(),
        );
    }
    out
}

/// A wrapper message of `codec` around `msgs` (inner offsets as given).
fn wrapped(magic: i8, codec: Codec, wrapper_offset: i64, msgs: &[Message]) -> Vec<u8> {
    let inner = plain(magic, msgs);
    let z = compression::compress(codec, &inner).expect("compress");
    let mut out = Vec::new();
    let ts = msgs.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    encode_message(
        &mut out,
        magic,
        wrapper_offset,
        codec.id() as i8,
        ts,
        None,
        Some(&z),
    );
    out
}

fn record(offset: i64, ts: i64, value: &str) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: offset as i32 - 1,
        timestamp: ts,
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    }
}

/// A v2 batch of `values` stamped at `base`, as the log would store it.
fn stored_batch(base: i64, codec: Codec, values: &[&str]) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as i64, 1_700_000_000_000 + i as i64, v))
        .collect();
    let mut b = encode_batch(&records, codec).expect("encode");
    crate::log::batch::stamp(&mut b, base);
    b
}

#[test]
fn legacy_roundtrip_and_crc() {
    for magic in [0i8, 1] {
        let ts = if magic == 0 { -1 } else { 1234 };
        let msgs = vec![msg(0, ts, Some("k"), "a"), msg(1, ts, None, "bb")];
        let set = decode(&plain(magic, &msgs), LIMIT).expect("decode");
        assert_eq!((set.magic, set.codec), (magic, Codec::None));
        assert_eq!(set.messages, msgs);
    }
    let mut bad = plain(1, &[msg(0, 5, None, "x")]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        decode(&bad, LIMIT),
        Err(LegacyError::BadCrc { .. })
    ));
    // Mixed magic in one set.
    let mut mixed = plain(0, &[msg(0, -1, None, "x")]);
    mixed.extend(plain(1, &[msg(1, 5, None, "y")]));
    assert!(matches!(
        decode(&mixed, LIMIT),
        Err(LegacyError::BadMagic { .. })
    ));
    // A truncated tail.
    let set = plain(0, &[msg(0, -1, None, "x")]);
    assert!(matches!(
        decode(&set[..set.len() - 1], LIMIT),
        Err(LegacyError::Truncated(_))
    ));
}

#[test]
fn wrappers_decompress_with_relative_offsets_in_magic_1() {
    // Magic 1: inner offsets 0..2, wrapper at 41 → absolute 39, 40, 41.
    let msgs = vec![
        msg(0, 10, None, "a"),
        msg(1, 11, None, "b"),
        msg(2, 12, None, "c"),
    ];
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4] {
        let set = decode(&wrapped(1, codec, 41, &msgs), LIMIT).expect("decode");
        assert_eq!(set.codec, codec);
        let offs: Vec<i64> = set.messages.iter().map(|m| m.offset).collect();
        assert_eq!(offs, vec![39, 40, 41], "{codec:?}");
        assert_eq!(set.messages[2].value.as_deref(), Some(&b"c"[..]));
    }
    // Magic 0: inner offsets are absolute; lz4 and zstd are not allowed.
    let msgs0 = vec![msg(7, -1, None, "a"), msg(8, -1, None, "b")];
    let set = decode(&wrapped(0, Codec::Gzip, 8, &msgs0), LIMIT).expect("decode");
    assert_eq!(set.messages, msgs0);
    assert!(matches!(
        decode(&wrapped(0, Codec::Lz4, 8, &msgs0), LIMIT),
        Err(LegacyError::CodecForMagic { .. })
    ));
    // Compression inside compression is refused.
    let inner = wrapped(1, Codec::Gzip, 0, &msgs);
    let z = compression::compress(Codec::Gzip, &inner).expect("gzip");
    let mut nested = Vec::new();
    encode_message(&mut nested, 1, 0, 1, 0, None, Some(&z));
    assert!(matches!(
        decode(&nested, LIMIT),
        Err(LegacyError::NestedCompression(_))
    ));
}

#[test]
fn up_convert_plain_and_compressed() {
    // v0 plain: timestamps -1, keys kept, one uncompressed batch from offset 0.
    let msgs = vec![msg(0, -1, Some("k1"), "one"), msg(0, -1, None, "two")];
    let b = up_convert(&plain(0, &msgs), LIMIT).expect("up");
    let h = parse_and_verify(&b, LIMIT).expect("valid v2 batch");
    assert_eq!(
        (h.base_offset, h.last_offset_delta, h.record_count),
        (0, 1, 2)
    );
    assert_eq!((h.producer_id, h.base_sequence), (-1, -1));
    let d = decode_one(&b, h, LIMIT).expect("decode");
    assert_eq!(d.codec, Codec::None);
    let vals: Vec<_> = d.records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(vals, vec![msgs[0].value.clone(), msgs[1].value.clone()]);
    assert_eq!(d.records[0].key.as_deref(), Some(&b"k1"[..]));
    assert!(d.records.iter().all(|r| r.timestamp == -1));

    // v1 gzip wrapper: stays gzip, timestamps kept.
    let msgs = vec![
        msg(0, 100, None, "a"),
        msg(1, 200, None, "b"),
        msg(2, 150, None, "c"),
    ];
    let b = up_convert(&wrapped(1, Codec::Gzip, 2, &msgs), LIMIT).expect("up");
    let h = parse_and_verify(&b, LIMIT).expect("valid");
    assert_eq!((h.record_count, h.max_timestamp), (3, 200));
    let d = decode_one(&b, h, LIMIT).expect("decode");
    assert_eq!(d.codec, Codec::Gzip);
    let ts: Vec<i64> = d.records.iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, vec![100, 200, 150]);
    let offs: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
    assert_eq!(offs, vec![0, 1, 2]);
}

#[test]
fn down_convert_keeps_absolute_offsets() {
    let mut log = stored_batch(100, Codec::None, &["a", "b"]);
    log.extend(stored_batch(102, Codec::Gzip, &["c", "d", "e"]));
    log.extend(stored_batch(105, Codec::Zstd, &["f"]));
    for magic in [0i8, 1] {
        let set = down_convert(&log, magic, LIMIT).expect("down");
        // Decoding checks every CRC; wrappers are expanded to absolute offsets.
        let got = decode(&set, LIMIT).expect("decode converted");
        assert_eq!(got.magic, magic);
        let pairs: Vec<(i64, String)> = got
            .messages
            .iter()
            .map(|m| {
                (
                    m.offset,
                    String::from_utf8(m.value.clone().expect("value").to_vec()).expect("utf8"),
                )
            })
            .collect();
        let want: Vec<(i64, String)> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .enumerate()
            .map(|(i, v)| (100 + i as i64, v.to_string()))
            .collect();
        assert_eq!(pairs, want, "magic {magic}");
        let ts: Vec<i64> = got.messages.iter().map(|m| m.timestamp).collect();
        if magic == 0 {
            assert!(ts.iter().all(|&t| t == -1));
        } else {
            assert_eq!(ts[0], 1_700_000_000_000);
            assert_eq!(ts[3], 1_700_000_000_001);
        }
        assert!(got
            .messages
            .iter()
            .all(|m| m.key.as_deref() == Some(&b"k"[..])));
    }
    // The gzip batch became one gzip wrapper whose offset is its last record (104).
    let set =
        down_convert(&stored_batch(102, Codec::Gzip, &["c", "d", "e"]), 1, LIMIT).expect("down");
    assert_eq!(i64::from_be_bytes(set[..8].try_into().expect("8")), 104);
    assert_eq!(set[17] & 0x07, 1, "gzip wrapper");
}

#[test]
fn v2_roundtrip_through_legacy_and_back() {
    let log = stored_batch(0, Codec::Snappy, &["x", "y"]);
    let set = down_convert(&log, 1, LIMIT).expect("down");
    let up = up_convert(&set, LIMIT).expect("up");
    let h = parse_and_verify(&up, LIMIT).expect("valid");
    let d = decode_one(&up, h, LIMIT).expect("decode");
    assert_eq!(d.codec, Codec::Snappy);
    let vals: Vec<_> = d
        .records
        .iter()
        .map(|r| r.value.clone().expect("v"))
        .collect();
    assert_eq!(
        vals,
        vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]
    );
}

#[test]
fn lying_record_counts_are_refused_before_allocating() {
    let mut b = stored_batch(0, Codec::None, &["a"]);
    // record count (bytes 57..61) = i32::MAX, CRC recomputed so only the count lies.
    b[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(down_convert(&b, 1, LIMIT).is_err());
}
