//! DeleteTopics (20): v0–v5 name topics, v6 names or ids. A deleted topic's data and
//! committed offsets are gone; internal topics cannot be deleted.

use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::topics::TopicError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

pub async fn handle(ctx: &Ctx<'_>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let b = ctx.broker;
    // (name as asked, id as asked)
    let asked: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(asked.len());
    for (name, id) in asked {
        let found = match &name {
            Some(n) => b.topics.get(n),
            None => b.topics.by_id(id),
        };
        let r = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(str_bytes(&n))))
            .with_topic_id(id);
        // Kafka: DELETE on the topic; here ADMIN. Refused whether the topic exists or not.
        let refused = match (&name, &found) {
            (Some(n), _) => !ctx.topic_allowed(Op::Admin, n),
            (None, Some(t)) => !ctx.topic_allowed(Op::Admin, &t.name),
            (None, None) => false,
        };
        if refused {
            responses.push(r.with_error_code(ResponseError::TopicAuthorizationFailed.code()));
            continue;
        }
        let Some(topic) = found else {
            let code = if name.is_none() {
                ResponseError::UnknownTopicId.code()
            } else {
                ResponseError::UnknownTopicOrPartition.code()
            };
            responses.push(r.with_error_code(code));
            continue;
        };
        let r = r
            .with_name(Some(TopicName(str_bytes(&topic.name))))
            .with_topic_id(topic.id);
        let b2 = b.clone();
        let topic_name = topic.name.clone();
        let deleted = tokio::task::spawn_blocking(move || b2.topics.delete(&topic_name)).await;
        let (code, msg) = match deleted {
            Ok(Ok(_)) => {
                let wait = b.acks_wait_for_flush();
                b.offsets.forget_topic(&b.flusher, wait, &topic.name).await;
                (NONE, None)
            }
            Ok(Err(e @ TopicError::Internal(_))) => (
                ResponseError::InvalidTopicException.code(),
                Some(e.to_string()),
            ),
            Ok(Err(e @ TopicError::Unknown(_))) => (
                ResponseError::UnknownTopicOrPartition.code(),
                Some(e.to_string()),
            ),
            Ok(Err(e)) => {
                tracing::error!(topic = %topic.name, error = %e, "delete topic failed");
                (ResponseError::KafkaStorageError.code(), Some(e.to_string()))
            }
            Err(e) => {
                tracing::error!(topic = %topic.name, error = %e, "delete topic task failed");
                (ResponseError::KafkaStorageError.code(), Some(e.to_string()))
            }
        };
        responses.push(
            r.with_error_code(code)
                .with_error_message(msg.as_deref().map(str_bytes)),
        );
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
