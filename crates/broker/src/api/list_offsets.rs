//! ListOffsets (2), v0–v9: latest (-1) = high watermark, earliest (-2) and earliest-local (-4)
//! = log start, max timestamp (-3, KIP-734) = the record with the largest timestamp,
//! latest-tiered (-5) = none (no tiered storage: offset -1, as Kafka), otherwise the first
//! record whose timestamp is >= the given one (with its timestamp). v0 answers a list of offsets
//! (`old_style_offsets`, at most `max_num_offsets`). Leader epoch is always 0.

use super::{Ctx, ResponseError};
use crate::acl::Op;
use crate::partition::Partition;
use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(ctx: &Ctx<'_>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let b = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            // Kafka: DESCRIBE on the topic.
            let allowed = ctx.topic_allowed(Op::Describe, &t.name.0);
            let topic = if allowed {
                b.topics.get(&t.name.0)
            } else {
                None
            };
            let parts = t
                .partitions
                .into_iter()
                .map(|lp| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(lp.partition_index);
                    match topic.as_ref().and_then(|t| t.partition(lp.partition_index)) {
                        None if !allowed => {
                            r.with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        }
                        None => r.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                        Some(p) => answer(ctx.version, p, &lp, r),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(parts)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

fn answer(
    version: i16,
    p: &Partition,
    lp: &ListOffsetsPartition,
    r: ListOffsetsPartitionResponse,
) -> ListOffsetsPartitionResponse {
    let (timestamp, offset) = match lookup(p, lp.timestamp) {
        Ok(found) => found,
        Err(()) => return r.with_error_code(ResponseError::KafkaStorageError.code()),
    };
    if version == 0 {
        let offsets = if offset < 0 || lp.max_num_offsets < 1 {
            Vec::new()
        } else {
            vec![offset]
        };
        return r.with_old_style_offsets(offsets);
    }
    r.with_timestamp(timestamp)
        .with_offset(offset)
        // The field exists from v4 on; the encoder refuses it earlier.
        .with_leader_epoch(if version >= 4 && offset >= 0 { 0 } else { -1 })
}

/// (timestamp, offset) for a ListOffsets target; -1 for "none".
fn lookup(p: &Partition, target: i64) -> Result<(i64, i64), ()> {
    let hwm = p.high_watermark();
    Ok(match target {
        LATEST => (-1, hwm),
        EARLIEST | EARLIEST_LOCAL => (-1, p.offsets().0),
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => match p.log().max_timestamp_offset(hwm) {
            Ok(Some((ts, o))) => (ts, o),
            Ok(None) => (-1, -1),
            Err(e) => {
                tracing::error!(error = %e, "max timestamp lookup failed");
                return Err(());
            }
        },
        ts => match p.log().offset_for_timestamp(ts) {
            Ok(Some((found_ts, o))) if o < hwm => (found_ts, o),
            Ok(_) => (-1, -1),
            Err(e) => {
                tracing::error!(error = %e, "offset for timestamp failed");
                return Err(());
            }
        },
    })
}
