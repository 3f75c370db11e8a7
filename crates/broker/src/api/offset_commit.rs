//! OffsetCommit (8): checked against the group's generation and member, then written to
//! `__consumer_offsets` and made durable (fdatasync with `flush = "ack"`) before the response.
//! v1 may carry a commit timestamp per partition, v2–v4 a retention time (expire timestamp).

use super::{Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::offsets::Committed;
use crate::topics::valid_topic_name;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

/// Longest group id accepted (Kafka's classic string limit).
const MAX_GROUP_ID: usize = i16::MAX as usize;

pub async fn handle(ctx: &Ctx<'_>, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    // The offsets log stores names with a u16 length; longer ones are refused up front.
    let mut err = if group.is_empty() || group.len() > MAX_GROUP_ID {
        ResponseError::InvalidGroupId.code()
    } else if !ctx.group_allowed(Op::Read, &group) {
        // Kafka: READ on the group (then on each topic).
        ResponseError::GroupAuthorizationFailed.code()
    } else {
        ctx.broker
            .groups
            .validate_commit(&group, req.generation_id_or_member_epoch, &req.member_id)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let expire_timestamp = if (2..=4).contains(&ctx.version) && req.retention_time_ms >= 0 {
        now.saturating_add(req.retention_time_ms)
    } else {
        -1
    };
    // Topics refused (READ) are not committed; checked once per topic.
    let group_ok = err == NONE;
    let refused: std::collections::HashSet<String> = if group_ok {
        req.topics
            .iter()
            .filter(|t| !ctx.topic_allowed(Op::Read, &t.name.0))
            .map(|t| t.name.0.to_string())
            .collect()
    } else {
        Default::default()
    };
    let topic_ok =
        |t: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic| {
            !refused.contains(t.name.0.as_str())
        };
    let entries: Vec<(String, i32, Committed)> = req
        .topics
        .iter()
        .filter(|t| valid_topic_name(&t.name.0) && topic_ok(t))
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        commit_timestamp: if ctx.version == 1 && p.commit_timestamp >= 0 {
                            p.commit_timestamp
                        } else {
                            now
                        },
                        expire_timestamp,
                    },
                )
            })
        })
        .collect();
    if err == NONE && !entries.is_empty() {
        let b = ctx.broker;
        let wait = b.acks_wait_for_flush();
        err = match b.offsets.commit(&b.flusher, wait, &group, &entries).await {
            Ok(()) => NONE,
            Err(e) => {
                tracing::error!(group = %group, error = %e, "offset commit failed");
                ResponseError::KafkaStorageError.code()
            }
        };
    }
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(if !valid_topic_name(&t.name.0) {
                                    ResponseError::InvalidTopicException.code()
                                } else if refused.contains(t.name.0.as_str()) {
                                    ResponseError::TopicAuthorizationFailed.code()
                                } else {
                                    err
                                })
                        })
                        .collect(),
                )
                .with_name(t.name)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
