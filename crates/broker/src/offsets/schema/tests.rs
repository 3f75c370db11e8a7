//! Bytes written out by hand from Kafka 3.9's JSON schemas (group-coordinator/src/main/
//! resources/common/message/{OffsetCommitKey,OffsetCommitValue,GroupMetadataKey,
//! GroupMetadataValue}.json): int16 version, then the fields in schema order, strings as
//! int16 length + UTF-8 (-1 = null), bytes as int32 length + bytes, arrays as int32 count.

use super::*;

#[test]
fn offset_commit_key_v1() {
    let k = Key::Offset {
        group: "g1".into(),
        topic: "tp".into(),
        partition: 7,
    };
    let want = [0, 1, 0, 2, b'g', b'1', 0, 2, b't', b'p', 0, 0, 0, 7];
    assert_eq!(k.encode(), want);
    assert_eq!(Key::decode(&want), Ok(k.clone()));
    // Version 0 has the same fields.
    let mut v0 = want;
    v0[1] = 0;
    assert_eq!(Key::decode(&v0), Ok(k));
}

#[test]
fn group_metadata_key_v2() {
    let want = [0, 2, 0, 3, b'g', b'r', b'p'];
    assert_eq!(Key::Group("grp".into()).encode(), want);
    assert_eq!(Key::decode(&want), Ok(Key::Group("grp".into())));
    assert!(matches!(
        Key::decode(&[0, 3, 0, 0]),
        Err(SchemaError::Version { version: 3, .. })
    ));
    assert_eq!(
        Key::decode(&[0, 1, 0, 5, b'x']),
        Err(SchemaError::Truncated("group"))
    );
}

#[test]
fn offset_commit_value_v3_and_v1() {
    let v = OffsetValue {
        offset: 0x0102,
        leader_epoch: 5,
        metadata: "m".into(),
        commit_timestamp: 0x0A0B,
        expire_timestamp: -1,
    };
    let want3 = [
        0, 3, // version
        0, 0, 0, 0, 0, 0, 1, 2, // offset
        0, 0, 0, 5, // leaderEpoch (3+)
        0, 1, b'm', // metadata
        0, 0, 0, 0, 0, 0, 0x0A, 0x0B, // commitTimestamp
    ];
    assert_eq!(v.encode(), want3);
    assert_eq!(OffsetValue::decode(&want3), Ok(v.clone()));
    let v1 = OffsetValue {
        expire_timestamp: 9,
        leader_epoch: -1,
        ..v
    };
    let want1 = [
        0, 1, // version
        0, 0, 0, 0, 0, 0, 1, 2, // offset
        0, 1, b'm', // metadata
        0, 0, 0, 0, 0, 0, 0x0A, 0x0B, // commitTimestamp
        0, 0, 0, 0, 0, 0, 0, 9, // expireTimestamp (1 only)
    ];
    assert_eq!(v1.encode(), want1);
    assert_eq!(OffsetValue::decode(&want1), Ok(v1));
    // Version 0 and 2: offset, metadata, commitTimestamp.
    let v0 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let d = OffsetValue::decode(&v0).expect("v0");
    assert_eq!(
        (d.offset, d.metadata.as_str(), d.commit_timestamp),
        (4, "", 1)
    );
    let mut v2 = v0;
    v2[1] = 2;
    assert_eq!(OffsetValue::decode(&v2).expect("v2").offset, 4);
    assert!(
        OffsetValue::decode(&[0, 4]).is_err(),
        "flexible v4 is not read"
    );
}

#[test]
fn group_metadata_value_v1_and_v3() {
    let g = GroupValue {
        protocol_type: "consumer".into(),
        generation: 3,
        protocol: Some("range".into()),
        leader: None,
        members: vec![Member {
            member_id: "m".into(),
            client_id: "c".into(),
            client_host: "/h".into(),
            rebalance_timeout: 300,
            session_timeout: 10,
            subscription: Bytes::from_static(&[1]),
            assignment: Bytes::from_static(&[2, 3]),
        }],
    };
    let mut want = vec![0, 1];
    want.extend_from_slice(&[0, 8]);
    want.extend_from_slice(b"consumer");
    want.extend_from_slice(&[0, 0, 0, 3]); // generation
    want.extend_from_slice(&[0, 5]);
    want.extend_from_slice(b"range");
    want.extend_from_slice(&[0xff, 0xff]); // leader: null
    want.extend_from_slice(&[0, 0, 0, 1]); // one member
    want.extend_from_slice(&[0, 1, b'm', 0, 1, b'c', 0, 2, b'/', b'h']);
    want.extend_from_slice(&[0, 0, 1, 44]); // rebalanceTimeout (1+)
    want.extend_from_slice(&[0, 0, 0, 10]); // sessionTimeout
    want.extend_from_slice(&[0, 0, 0, 1, 1, 0, 0, 0, 2, 2, 3]);
    assert_eq!(g.encode(), want);
    assert_eq!(GroupValue::decode(&want), Ok(g.clone()));

    // v3 as Kafka 2.3+ writes it: currentStateTimestamp and groupInstanceId added.
    let mut v3 = vec![0, 3, 0, 8];
    v3.extend_from_slice(b"consumer");
    v3.extend_from_slice(&[0, 0, 0, 3, 0, 5]);
    v3.extend_from_slice(b"range");
    v3.extend_from_slice(&[0xff, 0xff]);
    v3.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]); // currentStateTimestamp (2+)
    v3.extend_from_slice(&[0, 0, 0, 1, 0, 1, b'm']);
    v3.extend_from_slice(&[0xff, 0xff]); // groupInstanceId (3+): null
    v3.extend_from_slice(&[0, 1, b'c', 0, 2, b'/', b'h', 0, 0, 1, 44, 0, 0, 0, 10]);
    v3.extend_from_slice(&[0, 0, 0, 1, 1, 0, 0, 0, 2, 2, 3]);
    assert_eq!(GroupValue::decode(&v3), Ok(g));
}
