//! CreatePartitions (37): grows a topic. Single node, so an explicit assignment may only name
//! this broker, once per new partition.

use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::state::NODE_ID;
use crate::topics::{TopicError, MAX_PARTITIONS};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub fn handle(ctx: &Ctx<'_>, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let b = ctx.broker;
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let have = b
                .topics
                .get(&name)
                .map(|t| (t.partitions.len() as i32, t.is_internal()));
            let bad_assignment = t.assignments.as_ref().is_some_and(|a| {
                a.len() as i64 != i64::from(t.count) - i64::from(have.map_or(0, |h| h.0))
                    || a.iter().any(|p| {
                        p.broker_ids.iter().any(|id| id.0 != NODE_ID) || p.broker_ids.len() != 1
                    })
            });
            let (code, msg) = match have {
                // Kafka: ALTER on the topic; here ADMIN.
                _ if !ctx.topic_allowed(Op::Admin, &name) => (
                    ResponseError::TopicAuthorizationFailed.code(),
                    format!("not authorized to alter topic {name}"),
                ),
                None => (
                    ResponseError::UnknownTopicOrPartition.code(),
                    format!("unknown topic {name}"),
                ),
                Some((_, true)) => (
                    ResponseError::InvalidRequest.code(),
                    format!("{name} is internal: its partitions are fixed"),
                ),
                Some((n, _)) if t.count <= n => (
                    ResponseError::InvalidPartitions.code(),
                    format!("topic {name} has {n} partitions; asked for {}", t.count),
                ),
                Some(_) if t.count > MAX_PARTITIONS => (
                    ResponseError::InvalidPartitions.code(),
                    format!("at most {MAX_PARTITIONS} partitions"),
                ),
                Some(_) if bad_assignment => (
                    ResponseError::InvalidReplicaAssignment.code(),
                    format!("single node: each new partition is assigned to broker {NODE_ID} only"),
                ),
                Some(_) if req.validate_only => (NONE, String::new()),
                Some(_) => match b.topics.add_partitions(&name, t.count) {
                    Ok(_) => (NONE, String::new()),
                    Err(e @ (TopicError::InvalidPartitions(_) | TopicError::Unknown(_))) => {
                        (ResponseError::InvalidPartitions.code(), e.to_string())
                    }
                    Err(e) => {
                        tracing::error!(topic = %name, error = %e, "adding partitions failed");
                        (ResponseError::KafkaStorageError.code(), e.to_string())
                    }
                },
            };
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(code)
                .with_error_message((code != NONE).then(|| str_bytes(&msg)))
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
