//! OffsetFetch (9), v1–7 layout (one group per request). Partitions never committed get -1.

use super::{str_bytes, Ctx};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use std::collections::BTreeMap;

pub fn handle(ctx: &Ctx<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let store = &ctx.broker.offsets;
    let group = req.group_id.0.to_string();
    let partition = |topic: &str, p: i32| {
        let r = OffsetFetchResponsePartition::default()
            .with_partition_index(p)
            .with_metadata(Some(str_bytes("")));
        match store.get(&group, topic, p) {
            Some(c) => r
                .with_committed_offset(c.offset)
                .with_committed_leader_epoch(0)
                .with_metadata(Some(str_bytes(c.metadata.as_deref().unwrap_or("")))),
            None => r.with_committed_offset(-1).with_committed_leader_epoch(-1),
        }
    };
    let topics = match req.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| {
                let parts = t
                    .partition_indexes
                    .iter()
                    .map(|&p| partition(&t.name.0, p))
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(parts)
            })
            .collect(),
        // null topics (v2+): everything the group committed.
        None => {
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p, _) in store.all_for(&group) {
                by_topic.entry(t).or_default().push(p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    let parts = ps.iter().map(|&p| partition(&t, p)).collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(str_bytes(&t)))
                        .with_partitions(parts)
                })
                .collect()
        }
    };
    OffsetFetchResponse::default().with_topics(topics)
}
