//! CreateTopics (19): single node, so replication factor must be 1 (or -1 = default). Topic
//! configs given at creation are validated and stored as the topic's overrides.

use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::topic_config::{self, TopicOverrides};
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
            let mut overrides = TopicOverrides::default();
            let mut config_error = None;
            for c in &t.configs {
                let value = c.value.as_deref().unwrap_or("");
                match topic_config::validate(&c.name, value) {
                    Ok(()) => {
                        overrides
                            .0
                            .insert(c.name.to_string(), value.trim().to_string());
                    }
                    Err(e) => config_error = Some(e.to_string()),
                }
            }
            let r = CreatableTopicResult::default()
                .with_name(t.name)
                .with_num_partitions(partitions)
                .with_replication_factor(1);
            // Kafka: CREATE on the cluster or the topic; here ADMIN on the topic.
            let (err, msg) = if !ctx.topic_allowed(Op::Admin, &name) {
                (
                    ResponseError::TopicAuthorizationFailed.code(),
                    format!("not authorized to create topic {name}"),
                )
            } else if t.replication_factor > 1 {
                (
                    ResponseError::InvalidReplicationFactor.code(),
                    "single-node broker: replication factor must be 1".to_string(),
                )
            } else if !valid_topic_name(&name) {
                (
                    ResponseError::InvalidTopicException.code(),
                    format!("invalid topic name {name:?}"),
                )
            } else if !(1..=MAX_PARTITIONS).contains(&partitions) {
                (
                    ResponseError::InvalidPartitions.code(),
                    format!("invalid partition count {partitions}"),
                )
            } else if let Some(msg) = config_error {
                (ResponseError::InvalidConfig.code(), msg)
            } else if req.validate_only {
                if b.topics.get(&name).is_some() {
                    (
                        ResponseError::TopicAlreadyExists.code(),
                        format!("topic {name} already exists"),
                    )
                } else {
                    (NONE, String::new())
                }
            } else {
                match b.topics.create(&name, partitions, overrides) {
                    Ok(_) => (NONE, String::new()),
                    Err(e @ TopicError::AlreadyExists(_)) => {
                        (ResponseError::TopicAlreadyExists.code(), e.to_string())
                    }
                    Err(e @ (TopicError::InvalidName(_) | TopicError::NoAutoCreate(_))) => {
                        (ResponseError::InvalidTopicException.code(), e.to_string())
                    }
                    Err(e @ TopicError::InvalidPartitions(_)) => {
                        (ResponseError::InvalidPartitions.code(), e.to_string())
                    }
                    Err(e @ TopicError::Config(_)) => {
                        (ResponseError::InvalidConfig.code(), e.to_string())
                    }
                    Err(e @ (TopicError::Unknown(_) | TopicError::Internal(_))) => {
                        (ResponseError::InvalidRequest.code(), e.to_string())
                    }
                    Err(e @ TopicError::Storage(_)) => {
                        tracing::error!(topic = %name, error = %e, "create topic failed");
                        (ResponseError::KafkaStorageError.code(), e.to_string())
                    }
                }
            };
            if err == NONE {
                r
            } else {
                r.with_error_code(err)
                    .with_error_message(Some(str_bytes(&msg)))
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}
