//! Every advertised (API, version) is handled: a request of that version gets a response
//! that decodes with the same version, on a connection that stays open. Produce and Fetch
//! carry real data at every version: message sets (magic 0/1) for Produce v0–v2 are stored as
//! v2 batches, and Fetch v0–v3 read them back down-converted with the right offsets.

use crate::util::{record_batch, test_config, InProc, Raw};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use logferry_broker::records::{convert, legacy};

const TOPIC: &str = "versions";

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// A plain message set of `magic` holding `values` (what Produce v0–v2 clients send).
fn message_set(magic: i8, values: &[&str]) -> Bytes {
    let mut out = Vec::new();
    for v in values {
        legacy::encode_message(
            &mut out,
            magic,
            0,
            0,
            1_700_000_000_000,
            None,
            Some(v.as_bytes()),
        );
    }
    Bytes::from(out)
}

fn produce(raw: &mut Raw, version: i16, records: Bytes) -> i64 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let r: ProduceResponse = raw.call(ApiKey::Produce, version, &req);
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce v{version}");
    p.base_offset
}

/// Values and offsets of what a Fetch of `version` returns from offset 0.
fn fetch(raw: &mut Raw, version: i16, topic: &MetadataResponseTopic) -> Vec<(i64, String)> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(if version < 13 {
                name()
            } else {
                TopicName::default()
            })
            .with_topic_id(if version >= 13 {
                topic.topic_id
            } else {
                Default::default()
            })
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = raw.call(ApiKey::Fetch, version, &req);
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "fetch v{version}");
    let data = p.records.clone().unwrap_or_default();
    if version <= 3 {
        let set = legacy::decode(&data, 1 << 20).expect("legacy message set");
        assert_eq!(
            set.magic,
            if version <= 1 { 0 } else { 1 },
            "fetch v{version} magic"
        );
        set.messages
            .into_iter()
            .map(|m| {
                (
                    m.offset,
                    String::from_utf8_lossy(&m.value.unwrap_or_default()).into(),
                )
            })
            .collect()
    } else {
        convert::decode_batches(&data, 1 << 20)
            .expect("v2 batches")
            .into_iter()
            .flat_map(|b| b.records)
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8_lossy(&r.value.unwrap_or_default()).into(),
                )
            })
            .collect()
    }
}

/// Sends a default request of `key` at `version` and decodes the response.
fn default_call(raw: &mut Raw, key: ApiKey, version: i16) {
    macro_rules! call {
        ($req:ty, $resp:ty) => {{
            let _: $resp = raw.call(key, version, &<$req>::default());
        }};
    }
    match key {
        ApiKey::ListOffsets => {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name())
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1)
                        .with_max_num_offsets(1)])]);
            let r: ListOffsetsResponse = raw.call(key, version, &req);
            let p = &r.topics[0].partitions[0];
            assert_eq!(p.error_code, 0);
            let end = if version == 0 {
                p.old_style_offsets[0]
            } else {
                p.offset
            };
            assert!(end > 0, "ListOffsets v{version} latest");
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name())),
            ]));
            let r: MetadataResponse = raw.call(key, version, &req);
            assert_eq!(r.topics[0].error_code, 0, "Metadata v{version}");
        }
        ApiKey::OffsetCommit => call!(OffsetCommitRequest, OffsetCommitResponse),
        ApiKey::OffsetFetch => call!(OffsetFetchRequest, OffsetFetchResponse),
        ApiKey::FindCoordinator => call!(FindCoordinatorRequest, FindCoordinatorResponse),
        ApiKey::JoinGroup => call!(JoinGroupRequest, JoinGroupResponse),
        ApiKey::Heartbeat => call!(HeartbeatRequest, HeartbeatResponse),
        ApiKey::LeaveGroup => call!(LeaveGroupRequest, LeaveGroupResponse),
        ApiKey::SyncGroup => call!(SyncGroupRequest, SyncGroupResponse),
        ApiKey::DescribeGroups => call!(DescribeGroupsRequest, DescribeGroupsResponse),
        ApiKey::ListGroups => call!(ListGroupsRequest, ListGroupsResponse),
        ApiKey::ApiVersions => call!(ApiVersionsRequest, ApiVersionsResponse),
        ApiKey::CreateTopics => call!(CreateTopicsRequest, CreateTopicsResponse),
        ApiKey::InitProducerId => call!(InitProducerIdRequest, InitProducerIdResponse),
        ApiKey::OffsetForLeaderEpoch => {
            call!(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse)
        }
        ApiKey::DescribeConfigs => call!(DescribeConfigsRequest, DescribeConfigsResponse),
        ApiKey::AlterConfigs => call!(AlterConfigsRequest, AlterConfigsResponse),
        ApiKey::IncrementalAlterConfigs => {
            call!(
                IncrementalAlterConfigsRequest,
                IncrementalAlterConfigsResponse
            )
        }
        ApiKey::CreatePartitions => call!(CreatePartitionsRequest, CreatePartitionsResponse),
        ApiKey::DeleteTopics => call!(DeleteTopicsRequest, DeleteTopicsResponse),
        ApiKey::DescribeCluster => call!(DescribeClusterRequest, DescribeClusterResponse),
        ApiKey::DeleteRecords => call!(DeleteRecordsRequest, DeleteRecordsResponse),
        // On a PLAINTEXT listener: ILLEGAL_SASL_STATE; ACLs off: SECURITY_DISABLED.
        ApiKey::SaslHandshake => call!(SaslHandshakeRequest, SaslHandshakeResponse),
        ApiKey::SaslAuthenticate => call!(SaslAuthenticateRequest, SaslAuthenticateResponse),
        ApiKey::DescribeAcls => call!(DescribeAclsRequest, DescribeAclsResponse),
        ApiKey::CreateAcls => call!(CreateAclsRequest, CreateAclsResponse),
        ApiKey::DeleteAcls => call!(DeleteAclsRequest, DeleteAclsResponse),
        other => panic!("advertised but not covered by this test: {other:?}"),
    }
}

#[test]
fn every_advertised_version_is_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let mut raw = Raw::connect(&b.bootstrap());
    let versions: ApiVersionsResponse =
        raw.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());

    // Produce at every version: v0–v1 magic 0, v2 magic 1, v3+ record batches.
    let mut want: Vec<(i64, String)> = Vec::new();
    let produce_range = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16);
    let produce_range = produce_range.expect("Produce advertised");
    assert_eq!(
        (produce_range.min_version, produce_range.max_version),
        (0, 11)
    );
    for v in produce_range.min_version..=produce_range.max_version {
        let values = [format!("p{v}-a"), format!("p{v}-b")];
        let vals: Vec<&str> = values.iter().map(String::as_str).collect();
        let records = match v {
            0 | 1 => message_set(0, &vals),
            2 => message_set(1, &vals),
            _ => record_batch(-1, -1, -1, &vals),
        };
        let base = produce(&mut raw, v, records);
        assert_eq!(base, want.len() as i64, "produce v{v} base offset");
        for (i, s) in values.iter().enumerate() {
            want.push((base + i as i64, s.clone()));
        }
    }
    let meta: MetadataResponse = raw.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name()))
        ])),
    );
    let topic = &meta.topics[0];
    assert_ne!(
        topic.topic_id,
        MetadataResponseTopic::default().topic_id,
        "Metadata v12 reports a topic id"
    );

    for k in &versions.api_keys {
        let key = ApiKey::try_from(k.api_key).expect("known key");
        for v in k.min_version..=k.max_version {
            match key {
                ApiKey::Produce => {}
                ApiKey::Fetch => {
                    assert_eq!(fetch(&mut raw, v, topic), want, "Fetch v{v}");
                }
                _ => default_call(&mut raw, key, v),
            }
        }
    }
    // Still the same connection.
    let _: ApiVersionsResponse = raw.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    drop(raw);
    b.shutdown();
}
