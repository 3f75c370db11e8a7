//! Fetch (1): whole batches from the fetch offset up to the high watermark (never unflushed
//! data). Long-polls up to max_wait_ms for min_bytes, woken when any high watermark moves.
//! No fetch sessions: session id 0 tells clients to send full requests.

use super::{Ctx, ResponseError};
use crate::acl::Op;
use crate::partition::FetchRead;
use crate::records::compression::MAX_DECOMPRESSED;
use crate::records::convert::{self, ConvertError};
use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use std::time::Duration;

/// Upper bound on one response, whatever the client asks for.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Upper bound on a long poll.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: &Ctx<'_>, req: FetchRequest) -> FetchResponse {
    let b = ctx.broker;
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let mut data_rx = b.data_version.subscribe();
    let min_bytes = req.min_bytes.max(1) as usize;
    loop {
        data_rx.borrow_and_update();
        let (resp, bytes, errors) = read_all(ctx, &req);
        if bytes >= min_bytes || errors || b.is_shutting_down() {
            return resp;
        }
        tokio::select! {
            r = data_rx.changed() => { if r.is_err() { return resp; } }
            _ = tokio::time::sleep_until(deadline) => return read_all(ctx, &req).0,
            _ = b.shutdown.cancelled() => return read_all(ctx, &req).0,
        }
    }
}

/// One pass over the requested partitions: (response, bytes returned, any error).
fn read_all(ctx: &Ctx<'_>, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let b = ctx.broker;
    let mut remaining = (req.max_bytes.max(0) as usize).clamp(1, MAX_RESPONSE_BYTES);
    let mut total = 0usize;
    let mut errors = false;
    let mut topics = Vec::with_capacity(req.topics.len());
    for ft in &req.topics {
        // v13+ name topics by id only.
        let topic = if ctx.version >= 13 {
            b.topics.by_id(ft.topic_id)
        } else {
            b.topics.get(&ft.topic.0)
        };
        // Kafka: READ on the topic; a refused topic answers TOPIC_AUTHORIZATION_FAILED for
        // each partition asked, whether it exists or not.
        let refused = topic
            .as_ref()
            .map(|t| t.name.as_str())
            .or((ctx.version < 13).then_some(ft.topic.0.as_str()))
            .is_some_and(|name| !ctx.topic_allowed(Op::Read, name));
        let topic = if refused { None } else { topic };
        let missing = if refused {
            ResponseError::TopicAuthorizationFailed.code()
        } else if ctx.version >= 13 {
            ResponseError::UnknownTopicId.code()
        } else {
            ResponseError::UnknownTopicOrPartition.code()
        };
        let mut parts = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let mut pd = PartitionData::default()
                .with_partition_index(fp.partition)
                .with_high_watermark(-1)
                .with_last_stable_offset(-1)
                .with_log_start_offset(-1)
                .with_preferred_read_replica(BrokerId(-1))
                .with_aborted_transactions(if req.isolation_level == 1 {
                    Some(Vec::new())
                } else {
                    None
                });
            match topic.as_ref().and_then(|t| t.partition(fp.partition)) {
                None => {
                    pd.error_code = missing;
                    errors = true;
                }
                Some(p) => {
                    let hwm = p.high_watermark();
                    let (start, _) = p.offsets();
                    pd.high_watermark = hwm;
                    pd.last_stable_offset = hwm;
                    pd.log_start_offset = start;
                    let max = (fp.partition_max_bytes.max(0) as usize).min(remaining);
                    if max == 0 {
                        pd.records = Some(Default::default());
                    } else {
                        match p.read(fp.fetch_offset, max) {
                            Ok(FetchRead::OutOfRange) => {
                                pd.error_code = ResponseError::OffsetOutOfRange.code();
                                errors = true;
                            }
                            Ok(FetchRead::Data(bytes)) => {
                                total += bytes.len();
                                remaining = remaining.saturating_sub(bytes.len());
                                match for_version(ctx.version, bytes) {
                                    Ok(b) => pd.records = Some(b),
                                    Err(e) => {
                                        tracing::error!(topic = %ft.topic.0,
                                            partition = fp.partition, error = %e,
                                            "down-conversion for an old fetch failed");
                                        pd.error_code = ResponseError::CorruptMessage.code();
                                        errors = true;
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::error!(topic = %ft.topic.0, partition = fp.partition,
                                    error = %e, "fetch read failed");
                                pd.error_code = ResponseError::KafkaStorageError.code();
                                errors = true;
                            }
                        }
                    }
                }
            }
            parts.push(pd);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(ft.topic.clone())
                .with_topic_id(ft.topic_id)
                .with_partitions(parts),
        );
    }
    (
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(topics),
        total,
        errors,
    )
}

/// Fetch v0–v3 clients read the legacy formats: v0–v1 magic 0, v2–v3 magic 1 (Kafka's
/// down-conversion); v4+ get the stored v2 batches as they are.
fn for_version(version: i16, bytes: Bytes) -> Result<Bytes, ConvertError> {
    let magic = match version {
        0 | 1 => 0,
        2 | 3 => 1,
        _ => return Ok(bytes),
    };
    if bytes.is_empty() {
        return Ok(bytes);
    }
    convert::down_convert(&bytes, magic, MAX_DECOMPRESSED).map(Bytes::from)
}
