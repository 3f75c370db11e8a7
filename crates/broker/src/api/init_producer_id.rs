//! InitProducerId (22): idempotent producers only (no transactions). Ids come from the
//! persisted allocator, so they are unique across restarts.

use super::{Ctx, ResponseError};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

pub async fn handle(ctx: &Ctx<'_>, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req
        .transactional_id
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        return resp.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    // Kafka 3.x: an idempotent producer needs WRITE on some topic.
    if !ctx.any_topic_writable() {
        return resp.with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    // v3+: an existing producer asks for an epoch bump (keeps its id).
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    let ids = ctx.broker.producer_ids.clone();
    match tokio::task::spawn_blocking(move || ids.allocate()).await {
        Ok(Ok(id)) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "producer id allocation failed");
            resp.with_error_code(ResponseError::KafkaStorageError.code())
        }
        Err(e) => {
            tracing::error!(error = %e, "producer id allocation task failed");
            resp.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
