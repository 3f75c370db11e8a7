//! OffsetForLeaderEpoch (23): there is only epoch 0, which ends at the log end. v0 answers
//! carry no epoch field.

use super::{Ctx, ResponseError};
use crate::acl::Op;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

pub fn handle(ctx: &Ctx<'_>, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let allowed = ctx.topic_allowed(Op::Describe, &t.topic.0);
            let topic = if allowed {
                ctx.broker.topics.get(&t.topic.0)
            } else {
                None
            };
            let parts = t
                .partitions
                .into_iter()
                .map(|p| {
                    let r = EpochEndOffset::default().with_partition(p.partition);
                    match topic.as_ref().and_then(|t| t.partition(p.partition)) {
                        None if !allowed => r
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        None => r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                        Some(part) => r
                            .with_leader_epoch(if ctx.version >= 1 { 0 } else { -1 })
                            .with_end_offset(part.offsets().1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(parts)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
