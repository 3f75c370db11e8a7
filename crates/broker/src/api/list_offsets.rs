//! ListOffsets (2): latest (-1) = high watermark, earliest (-2) = log start, otherwise the
//! first batch whose max timestamp is >= the given one. Leader epoch is always 0.

use super::{Ctx, ResponseError};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub fn handle(ctx: &Ctx<'_>, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let b = ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = b.topics.get(&t.name.0);
            let parts = t
                .partitions
                .into_iter()
                .map(|lp| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(lp.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        // The field exists from v4 on; the encoder refuses it earlier.
                        .with_leader_epoch(if ctx.version >= 4 { 0 } else { -1 });
                    let Some(p) = topic.as_ref().and_then(|t| t.partition(lp.partition_index))
                    else {
                        r.error_code = ResponseError::UnknownTopicOrPartition.code();
                        return r;
                    };
                    let hwm = p.high_watermark();
                    r.offset = match lp.timestamp {
                        LATEST | MAX_TIMESTAMP => hwm,
                        EARLIEST => p.offsets().0,
                        ts => match p.log().offset_for_timestamp(ts) {
                            Ok(Some(o)) if o < hwm => {
                                r.timestamp = ts;
                                o
                            }
                            Ok(_) => -1,
                            Err(e) => {
                                tracing::error!(error = %e, "offset for timestamp failed");
                                r.error_code = ResponseError::KafkaStorageError.code();
                                -1
                            }
                        },
                    };
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(parts)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
