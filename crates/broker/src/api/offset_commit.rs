//! OffsetCommit (8): checked against the group's generation and member, then made durable
//! (fdatasync) before the response.

use super::{Ctx, ResponseError, NONE};
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
    } else {
        ctx.broker
            .groups
            .validate_commit(&group, req.generation_id_or_member_epoch, &req.member_id)
    };
    let entries: Vec<(String, i32, Committed)> = req
        .topics
        .iter()
        .filter(|t| valid_topic_name(&t.name.0))
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    },
                )
            })
        })
        .collect();
    if err == NONE && !entries.is_empty() {
        let store = ctx.broker.offsets.clone();
        let g = group.clone();
        err = match tokio::task::spawn_blocking(move || store.commit(&g, &entries)).await {
            Ok(Ok(())) => NONE,
            Ok(Err(e)) => {
                tracing::error!(group = %group, error = %e, "offset commit failed");
                ResponseError::KafkaStorageError.code()
            }
            Err(e) => {
                tracing::error!(group = %group, error = %e, "offset commit task failed");
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
                                .with_error_code(if valid_topic_name(&t.name.0) {
                                    err
                                } else {
                                    ResponseError::InvalidTopicException.code()
                                })
                        })
                        .collect(),
                )
                .with_name(t.name)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
