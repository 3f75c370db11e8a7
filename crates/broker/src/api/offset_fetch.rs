//! OffsetFetch (9): v0–v7 ask for one group, v8+ for a batch of groups. Partitions never
//! committed get offset -1; null topics (v2+) mean everything the group committed.

use super::{str_bytes, Ctx, ResponseError};
use crate::acl::Op;
use crate::offsets::OffsetStore;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use std::collections::BTreeMap;

/// (offset, leader epoch, metadata) of one partition as OffsetFetch reports it.
struct Answer {
    offset: i64,
    leader_epoch: i32,
    metadata: String,
}

fn lookup(store: &OffsetStore, group: &str, topic: &str, partition: i32) -> Answer {
    match store.get(group, topic, partition) {
        Some(c) => Answer {
            offset: c.offset,
            leader_epoch: 0,
            metadata: c.metadata.unwrap_or_default(),
        },
        None => Answer {
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        },
    }
}

/// The (topic, partitions) a request names, or everything the group committed.
fn wanted(
    store: &OffsetStore,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<(String, Vec<i32>)> {
    match topics {
        Some(t) => t,
        None => {
            let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p, _) in store.all_for(group) {
                by_topic.entry(t).or_default().push(p);
            }
            by_topic.into_iter().collect()
        }
    }
}

pub fn handle(ctx: &Ctx<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let store = &ctx.broker.offsets;
    if ctx.version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let group = g.group_id.0.to_string();
                if !ctx.group_allowed(Op::Describe, &group) {
                    return OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id)
                        .with_error_code(ResponseError::GroupAuthorizationFailed.code());
                }
                let names = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name.0.to_string(), t.partition_indexes))
                        .collect()
                });
                let topics = wanted(store, &group, names)
                    .into_iter()
                    .map(|(t, ps)| {
                        let parts = ps
                            .iter()
                            .map(|&p| {
                                let a = lookup(store, &group, &t, p);
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(a.offset)
                                    .with_committed_leader_epoch(a.leader_epoch)
                                    .with_metadata(Some(str_bytes(&a.metadata)))
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(TopicName(str_bytes(&t)))
                            .with_partitions(parts)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id)
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let group = req.group_id.0.to_string();
    if !ctx.group_allowed(Op::Describe, &group) {
        // v2+ carry a top-level error; v0/v1 clients see it per partition.
        let code = ResponseError::GroupAuthorizationFailed.code();
        let topics = req
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
                    .with_name(t.name)
            })
            .collect();
        return OffsetFetchResponse::default()
            .with_error_code(code)
            .with_topics(topics);
    }
    let names = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let topics = wanted(store, &group, names)
        .into_iter()
        .map(|(t, ps)| {
            let parts = ps
                .iter()
                .map(|&p| {
                    let a = lookup(store, &group, &t, p);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(a.offset)
                        .with_committed_leader_epoch(a.leader_epoch)
                        .with_metadata(Some(str_bytes(&a.metadata)))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t)))
                .with_partitions(parts)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
