//! Metadata (3): this node leads every partition with leader epoch 0; unknown topics are
//! auto-created when the request allows it (never names starting with `__`). v10+ report
//! topic ids and may ask by id; internal topics are flagged.

use super::{str_bytes, Ctx, ResponseError};
use crate::acl::Op;
use crate::state::{CLUSTER_ID, NODE_ID};
use crate::topics::{Topic, TopicError};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

pub fn handle(ctx: &Ctx<'_>, req: MetadataRequest) -> MetadataResponse {
    let b = ctx.broker;
    // v0: an empty list means all topics; v1+: null means all, empty means none.
    let requested: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && ctx.version == 0 => None,
        Some(t) => Some(
            t.into_iter()
                .filter_map(|t| match t.name {
                    Some(n) => Some(n.0.to_string()),
                    // v10+: a topic asked for by id only.
                    None => b.topics.by_id(t.topic_id).map(|t| t.name.clone()),
                })
                .collect(),
        ),
    };
    let auto_create = ctx.version < 4 || req.allow_auto_topic_creation;
    let topics = match requested {
        // All topics: only those this client may describe (Kafka's filtering; not counted
        // as denials).
        None => b
            .topics
            .all()
            .iter()
            .filter(|t| ctx.topic_visible(&t.name))
            .map(|t| describe(t))
            .collect(),
        Some(names) => names
            .into_iter()
            .map(|name| {
                if !ctx.topic_allowed(Op::Describe, &name) {
                    return error_topic(&name, ResponseError::TopicAuthorizationFailed.code());
                }
                let existing = b.topics.get(&name);
                // Kafka: auto-creation needs CREATE, and a client refused it gets
                // TOPIC_AUTHORIZATION_FAILED; here the right to write the topic.
                let found = match existing {
                    Some(t) => Ok(Some(t)),
                    None if auto_create => {
                        if !ctx.topic_allowed(Op::Write, &name) {
                            return error_topic(
                                &name,
                                ResponseError::TopicAuthorizationFailed.code(),
                            );
                        }
                        b.topics.get_or_create(&name).map(Some)
                    }
                    None => Ok(None),
                };
                match found {
                    Ok(Some(t)) => describe(&t),
                    Ok(None) => error_topic(&name, ResponseError::UnknownTopicOrPartition.code()),
                    Err(TopicError::NoAutoCreate(_)) => {
                        error_topic(&name, ResponseError::UnknownTopicOrPartition.code())
                    }
                    Err(TopicError::InvalidName(_)) => {
                        error_topic(&name, ResponseError::InvalidTopicException.code())
                    }
                    Err(e) => {
                        tracing::error!(topic = %name, error = %e, "auto-create failed");
                        error_topic(&name, ResponseError::KafkaStorageError.code())
                    }
                }
            })
            .collect(),
    };
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(BrokerId(NODE_ID))
            .with_host(str_bytes(ctx.host()))
            .with_port(ctx.port())])
        .with_cluster_id(Some(str_bytes(CLUSTER_ID)))
        .with_controller_id(BrokerId(NODE_ID))
        .with_topics(topics)
}

fn error_topic(name: &str, error: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error)
        .with_name(Some(TopicName(str_bytes(name))))
}

fn describe(t: &Topic) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&t.name))))
        .with_topic_id(t.id)
        .with_is_internal(t.is_internal())
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.index)
                        .with_leader_id(BrokerId(NODE_ID))
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![BrokerId(NODE_ID)])
                        .with_isr_nodes(vec![BrokerId(NODE_ID)])
                })
                .collect(),
        )
}
