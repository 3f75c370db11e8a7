//! DeleteRecords (21): moves a partition's log start offset forward (offset -1 = the high
//! watermark); whole segments below it are deleted. Not on compacted or internal topics
//! (Kafka's policy violation).

use super::{Ctx, ResponseError};
use crate::acl::Op;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

/// "Up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub fn handle(ctx: &Ctx<'_>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let b = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            // Kafka: DELETE on the topic; here ADMIN.
            let allowed = ctx.topic_allowed(Op::Admin, &t.name.0);
            let topic = if allowed {
                b.topics.get(&t.name.0)
            } else {
                None
            };
            let policy_ok = topic
                .as_ref()
                .is_some_and(|tp| !tp.is_internal() && tp.effective(&b.cfg).cleanup.delete);
            let parts = t
                .partitions
                .iter()
                .map(|dp| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(dp.partition_index)
                        .with_low_watermark(-1);
                    let Some(p) = topic
                        .as_ref()
                        .and_then(|tp| tp.partition(dp.partition_index))
                    else {
                        if !allowed {
                            return r
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if !policy_ok {
                        return r.with_error_code(ResponseError::PolicyViolation.code());
                    }
                    let hwm = p.high_watermark();
                    let offset = if dp.offset == HIGH_WATERMARK {
                        hwm
                    } else {
                        dp.offset
                    };
                    if offset < 0 || offset > hwm {
                        return r.with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    match p.log().delete_records(offset) {
                        Ok(start) => {
                            tracing::info!(topic = %&*t.name.0, partition = dp.partition_index,
                                log_start = start, "records deleted");
                            r.with_low_watermark(start)
                        }
                        Err(e) => {
                            tracing::error!(topic = %&*t.name.0, partition = dp.partition_index,
                                error = %e, "delete records failed");
                            r.with_error_code(ResponseError::KafkaStorageError.code())
                        }
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(parts)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
