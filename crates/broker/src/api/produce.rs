//! Produce (0): validate and append each partition's batches in request order, then answer
//! once the appended data is durable (`flush = "ack"`), or at once (`flush = N ms`). acks=0
//! gets no response at all.

use super::{Ctx, Reply, ResponseError};
use crate::acl::Op;
use crate::log::batch::BatchError;
use crate::log::producer_state::SeqError;
use crate::log::AppendError;
use crate::partition::wait_flushed;
use crate::records::compression::MAX_DECOMPRESSED;
use crate::records::{convert, legacy};
use crate::topics::TopicError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use tokio::sync::watch;

fn error_code(e: &AppendError) -> i16 {
    match e {
        AppendError::InvalidBatch(BatchError::BadMagic(_)) => {
            ResponseError::UnsupportedForMessageFormat.code()
        }
        AppendError::InvalidBatch(_) => ResponseError::CorruptMessage.code(),
        AppendError::Sequence(SeqError::OutOfOrder { .. }) => {
            ResponseError::OutOfOrderSequenceNumber.code()
        }
        AppendError::Sequence(SeqError::InvalidEpoch { .. }) => {
            ResponseError::InvalidProducerEpoch.code()
        }
        AppendError::Unsupported(_) => ResponseError::InvalidRecord.code(),
        AppendError::TooLarge { .. } => ResponseError::MessageTooLarge.code(),
        AppendError::Storage(_) => ResponseError::KafkaStorageError.code(),
    }
}

/// A partition response waiting for its data to become durable.
struct Pending {
    topic: usize,
    partition: usize,
    rx: watch::Receiver<crate::partition::FlushState>,
    end: i64,
}

pub fn handle(ctx: &Ctx<'_>, req: ProduceRequest) -> Reply {
    let b = ctx.broker;
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut pending = Vec::new();
    for (ti, td) in req.topic_data.into_iter().enumerate() {
        let name = td.name.0.to_string();
        let mut max_message_bytes = b.cfg.max_request_bytes;
        let topic = if !matches!(req.acks, -1..=1) {
            Err(ResponseError::InvalidRequiredAcks.code())
        } else if req
            .transactional_id
            .as_ref()
            .is_some_and(|t| !t.0.is_empty())
        {
            // No transaction coordinator here.
            Err(ResponseError::TransactionalIdAuthorizationFailed.code())
        } else if !ctx.topic_allowed(Op::Write, &name) {
            // Checked before the topic is looked up or auto-created: a refused write leaves
            // no trace, not even a topic.
            Err(ResponseError::TopicAuthorizationFailed.code())
        } else {
            match b.topics.get_or_create(&name) {
                // Only the broker writes internal topics (Kafka: "Cannot append to internal
                // topic").
                Ok(t) if t.is_internal() => Err(ResponseError::InvalidTopicException.code()),
                Ok(t) => {
                    max_message_bytes = t.effective(&b.cfg).max_message_bytes;
                    Ok(t)
                }
                Err(TopicError::InvalidName(_)) => Err(ResponseError::InvalidTopicException.code()),
                Err(TopicError::NoAutoCreate(_)) => {
                    Err(ResponseError::UnknownTopicOrPartition.code())
                }
                Err(e) => {
                    tracing::error!(topic = %name, error = %e, "auto-create failed");
                    Err(ResponseError::KafkaStorageError.code())
                }
            }
        };
        let mut parts = Vec::with_capacity(td.partition_data.len());
        for (pi, pd) in td.partition_data.into_iter().enumerate() {
            let mut resp = PartitionProduceResponse::default()
                .with_index(pd.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let partition = match &topic {
                Err(c) => Err(*c),
                Ok(t) => t
                    .partition(pd.index)
                    .cloned()
                    .ok_or(ResponseError::UnknownTopicOrPartition.code()),
            };
            match partition {
                Err(c) => resp.error_code = c,
                Ok(p) => {
                    // Copy out of the shared request buffer: offsets are patched in place.
                    let raw = pd.records.unwrap_or_default();
                    let converted =
                        if ctx.version <= 2 && legacy::magic_of(&raw).is_some_and(|m| m < 2) {
                            // Produce v0-v2 carry message sets (magic 0/1): store them as v2.
                            convert::up_convert(&raw, MAX_DECOMPRESSED).map_err(|e| {
                                tracing::debug!(topic = %name, partition = pd.index, error = %e,
                                "legacy message set refused");
                                ResponseError::CorruptMessage.code()
                            })
                        } else {
                            Ok(raw.to_vec())
                        };
                    let mut records = match converted {
                        Ok(r) => r,
                        Err(c) => {
                            resp.error_code = c;
                            parts.push(resp);
                            continue;
                        }
                    };
                    match p.append(&mut records, max_message_bytes) {
                        Ok(a) => {
                            b.metrics.appended(
                                &name,
                                pd.index,
                                a.end_offset - a.base_offset,
                                records.len(),
                            );
                            b.flusher.mark_dirty(&p);
                            resp.base_offset = a.base_offset;
                            resp.log_start_offset = p.offsets().0;
                            pending.push(Pending {
                                topic: ti,
                                partition: pi,
                                rx: p.subscribe(),
                                end: a.end_offset,
                            });
                        }
                        Err(e) => {
                            tracing::debug!(topic = %name, partition = pd.index, error = %e,
                                "produce rejected");
                            resp.error_code = error_code(&e);
                        }
                    }
                }
            }
            parts.push(resp);
        }
        topics.push(
            TopicProduceResponse::default()
                .with_name(td.name)
                .with_partition_responses(parts),
        );
    }
    if req.acks == 0 {
        return Reply::Nothing;
    }
    let response = ProduceResponse::default().with_responses(topics);
    if !b.acks_wait_for_flush() || pending.is_empty() {
        return Reply::Now(Box::new(ResponseKind::Produce(response)));
    }
    Reply::Later(Box::pin(async move {
        let mut response = response;
        for p in pending {
            if !wait_flushed(p.rx, p.end).await {
                let r = &mut response.responses[p.topic].partition_responses[p.partition];
                r.error_code = ResponseError::KafkaStorageError.code();
                r.base_offset = -1;
            }
        }
        ResponseKind::Produce(response)
    }))
}
