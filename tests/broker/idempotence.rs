//! Idempotent produce driven with raw frames: a retried batch (same producer id, epoch and
//! sequence) is appended once; gaps and stale epochs are refused.

use crate::util::{record_batch as batch, test_config, InProc, Raw};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

fn produce(raw: &mut Raw, records: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("idem")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let resp: ProduceResponse = raw.call(ApiKey::Produce, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch_values(raw: &mut Raw) -> Vec<String> {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("idem")))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let resp: FetchResponse = raw.call(ApiKey::Fetch, 11, &req);
    let mut records = resp.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut records).expect("decode fetched batches");
    sets.into_iter()
        .flat_map(|s| s.records)
        .map(|r| String::from_utf8(r.value.unwrap_or_default().to_vec()).expect("utf8"))
        .collect()
}

#[test]
fn retried_batch_is_appended_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let mut raw = Raw::connect(&b.bootstrap());

    let init: InitProducerIdResponse = raw.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    let epoch = init.producer_epoch;

    let first = batch(pid, epoch, 0, &["a", "b", "c"]);
    assert_eq!(produce(&mut raw, first.clone()), (0, 0));
    // The retry (identical bytes) answers success with the original offset, appends nothing.
    assert_eq!(produce(&mut raw, first), (0, 0));
    assert_eq!(produce(&mut raw, batch(pid, epoch, 3, &["d"])), (0, 3));
    // Retry of an older (but remembered) batch is still a duplicate.
    assert_eq!(
        produce(&mut raw, batch(pid, epoch, 0, &["a", "b", "c"])),
        (0, 0)
    );
    // A gap in the sequence is refused.
    assert_eq!(produce(&mut raw, batch(pid, epoch, 9, &["x"])).0, 45);
    // A bumped epoch must restart at sequence 0; afterwards the old epoch is fenced.
    assert_eq!(produce(&mut raw, batch(pid, epoch + 1, 0, &["e"])), (0, 4));
    assert_eq!(produce(&mut raw, batch(pid, epoch, 4, &["y"])).0, 47);

    assert_eq!(fetch_values(&mut raw), vec!["a", "b", "c", "d", "e"]);
    let lo: ListOffsetsResponse = raw.call(
        ApiKey::ListOffsets,
        5,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("idem")))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]),
    );
    assert_eq!(lo.topics[0].partitions[0].offset, 5);

    // Producer state survives a restart (rebuilt from batch headers): the retry is still a
    // duplicate, and a new producer id differs from the old one.
    drop(raw);
    b.shutdown();
    let b = InProc::start(test_config(1), dir.path());
    let mut raw = Raw::connect(&b.bootstrap());
    assert_eq!(produce(&mut raw, batch(pid, epoch + 1, 0, &["e"])), (0, 4));
    assert_eq!(fetch_values(&mut raw), vec!["a", "b", "c", "d", "e"]);
    let init2: InitProducerIdResponse = raw.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_ne!(
        init2.producer_id.0, pid,
        "producer ids unique across restarts"
    );
    // A corrupted batch (flipped byte in the CRC-covered area) is refused as CORRUPT_MESSAGE.
    let mut bad = batch(-1, -1, -1, &["z"]).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(produce(&mut raw, Bytes::from(bad)).0, 2);
    b.shutdown();
}
