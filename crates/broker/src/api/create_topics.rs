//! CreateTopics (19): single node, so replication factor must be 1 (or -1 = default).

use super::{code, str_bytes, Ctx};
use crate::topics::{valid_topic_name, TopicError, MAX_PARTITIONS};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

pub fn handle(ctx: &Ctx<'_>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let b = ctx.broker;
    let default_partitions = b.cfg.num_partitions.clamp(1, MAX_PARTITIONS as u32) as i32;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else if t.num_partitions == -1 {
                default_partitions
            } else {
                t.num_partitions
            };
            let r = CreatableTopicResult::default()
                .with_name(t.name)
                .with_num_partitions(partitions)
                .with_replication_factor(1);
            let (err, msg) = if t.replication_factor > 1 {
                (
                    code::INVALID_REPLICATION_FACTOR,
                    "single-node broker: replication factor must be 1".to_string(),
                )
            } else if !valid_topic_name(&name) {
                (
                    code::INVALID_TOPIC_EXCEPTION,
                    format!("invalid topic name {name:?}"),
                )
            } else if !(1..=MAX_PARTITIONS).contains(&partitions) {
                (
                    code::INVALID_PARTITIONS,
                    format!("invalid partition count {partitions}"),
                )
            } else if req.validate_only {
                if b.topics.get(&name).is_some() {
                    (
                        code::TOPIC_ALREADY_EXISTS,
                        format!("topic {name} already exists"),
                    )
                } else {
                    (code::NONE, String::new())
                }
            } else {
                match b.topics.create(&name, partitions) {
                    Ok(_) => (code::NONE, String::new()),
                    Err(e @ TopicError::AlreadyExists(_)) => {
                        (code::TOPIC_ALREADY_EXISTS, e.to_string())
                    }
                    Err(e @ TopicError::InvalidName(_)) => {
                        (code::INVALID_TOPIC_EXCEPTION, e.to_string())
                    }
                    Err(e @ TopicError::InvalidPartitions(_)) => {
                        (code::INVALID_PARTITIONS, e.to_string())
                    }
                    Err(e @ TopicError::Storage(_)) => {
                        tracing::error!(topic = %name, error = %e, "create topic failed");
                        (code::KAFKA_STORAGE_ERROR, e.to_string())
                    }
                }
            };
            if err == code::NONE {
                r
            } else {
                r.with_error_code(err)
                    .with_error_message(Some(str_bytes(&msg)))
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}
