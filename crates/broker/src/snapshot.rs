//! A read-only view of the broker for operators (the web console of `logferry`, served by the
//! agent for its bundled broker and by `logferry broker`): topics and partitions with their
//! offsets and sizes, consumer groups with their members, committed offsets and lag.
//!
//! Bounded: partitions and groups are paged, so a broker with 10,000 partitions answers with
//! one page of rows (and totals), never all of them. Taking a snapshot only reads: it locks
//! each listed partition's log briefly (as a Metadata or ListOffsets request would), and the
//! group coordinator and offset store once per listed group.

use super::state::Broker;
use serde::Serialize;
use std::collections::HashMap;

/// Which rows a snapshot holds: zero-based page numbers and the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub partition_page: usize,
    pub group_page: usize,
    pub per_page: usize,
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            partition_page: 0,
            group_page: 0,
            per_page: 100,
        }
    }
}

/// One page of the broker's state.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BrokerSnapshot {
    /// Every topic, internal ones included.
    pub topics_total: usize,
    /// Partitions of every topic; `partitions` holds page `partition_page` of them.
    pub partitions_total: usize,
    pub groups_total: usize,
    /// The topics with at least one partition on this page, in name order, with totals over
    /// those of their partitions that are on the page.
    pub topics: Vec<TopicSnapshot>,
    /// Sorted by topic, then partition.
    pub partitions: Vec<PartitionSnapshot>,
    /// Sorted by group id.
    pub groups: Vec<GroupSnapshot>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TopicSnapshot {
    pub name: String,
    pub internal: bool,
    /// All of the topic's partitions (not only those on the page).
    pub partitions: usize,
    /// Sum over the topic's partitions on this page.
    pub log_end_offset_sum: i64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    /// The high watermark: what consumers can read (and what lag is measured against).
    pub log_end_offset: i64,
    /// On disk, all segments.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group_id: String,
    /// The coordinator's state ("Stable", "PreparingRebalance", ...); "Empty" for a group
    /// without live members (known from its committed offsets), as Kafka shows it.
    pub state: String,
    pub protocol_type: String,
    pub generation: i32,
    pub members: Vec<MemberSnapshot>,
    /// Committed offsets with the lag behind the high watermark, by topic and partition.
    pub offsets: Vec<GroupOffset>,
    /// Sum of `lag` over `offsets`.
    pub total_lag: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MemberSnapshot {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// None when the topic or partition no longer exists.
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
}

/// The rows of page `page` of size `per` (clamped to at least 1) out of `total`.
fn page_range(total: usize, page: usize, per: usize) -> std::ops::Range<usize> {
    let per = per.max(1);
    let start = page.saturating_mul(per).min(total);
    start..start.saturating_add(per).min(total)
}

/// Every topic with the sum of its partitions' high watermarks, in name order: cheap (no log
/// lock), for sampling write rates.
pub fn end_offsets(broker: &Broker) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = broker
        .topics
        .all()
        .iter()
        .map(|t| {
            let sum = t.partitions.iter().map(|p| p.high_watermark()).sum();
            (t.name.clone(), sum)
        })
        .collect();
    out.sort();
    out
}

/// See the module doc.
pub fn snapshot(broker: &Broker, paging: Paging) -> BrokerSnapshot {
    let mut topics = broker.topics.all();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let partitions_total: usize = topics.iter().map(|t| t.partitions.len()).sum();
    let rows = page_range(partitions_total, paging.partition_page, paging.per_page);
    let mut out = BrokerSnapshot {
        topics_total: topics.len(),
        partitions_total,
        ..BrokerSnapshot::default()
    };
    let mut seen = 0usize;
    for t in &topics {
        let n = t.partitions.len();
        let (first, last) = (seen, seen + n);
        seen = last;
        if last <= rows.start || first >= rows.end {
            continue;
        }
        let mut summary = TopicSnapshot {
            name: t.name.clone(),
            internal: t.is_internal(),
            partitions: n,
            log_end_offset_sum: 0,
            bytes: 0,
        };
        for p in &t.partitions[rows.start.max(first) - first..rows.end.min(last) - first] {
            let (start, bytes) = {
                let log = p.log();
                (log.log_start_offset(), log.size_bytes())
            };
            let end = p.high_watermark();
            summary.log_end_offset_sum += end;
            summary.bytes += bytes;
            out.partitions.push(PartitionSnapshot {
                topic: t.name.clone(),
                partition: p.index,
                log_start_offset: start,
                log_end_offset: end,
                bytes,
            });
        }
        out.topics.push(summary);
    }

    // Groups: those the coordinator knows (live) and those known from committed offsets.
    let live: HashMap<String, &'static str> = broker
        .groups
        .list()
        .into_iter()
        .map(|g| (g.group_id, g.state))
        .collect();
    let mut ids: Vec<String> = broker.offsets.groups();
    ids.extend(live.keys().cloned());
    ids.sort();
    ids.dedup();
    out.groups_total = ids.len();
    let ends: HashMap<&str, &std::sync::Arc<crate::topics::Topic>> =
        topics.iter().map(|t| (t.name.as_str(), t)).collect();
    for id in &ids[page_range(ids.len(), paging.group_page, paging.per_page)] {
        let desc = broker.groups.describe(id);
        let recorded = broker.offsets.group_summary(id);
        let offsets: Vec<GroupOffset> = broker
            .offsets
            .all_for(id)
            .into_iter()
            .map(|(topic, partition, c)| {
                let end = ends
                    .get(topic.as_str())
                    .and_then(|t| t.partition(partition))
                    .map(|p| p.high_watermark());
                GroupOffset {
                    lag: end.map(|e| (e - c.offset).max(0)),
                    log_end_offset: end,
                    topic,
                    partition,
                    committed: c.offset,
                }
            })
            .collect();
        let total_lag = offsets.iter().filter_map(|o| o.lag).sum();
        let (state, protocol_type, generation, members) = match desc {
            Some(d) => (
                d.state.to_string(),
                d.protocol_type,
                d.generation,
                d.members
                    .into_iter()
                    .map(|m| MemberSnapshot {
                        member_id: m.member_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                    })
                    .collect(),
            ),
            // Kafka shows a group known only from its committed offsets as Empty.
            None => (
                live.get(id).copied().unwrap_or("Empty").to_string(),
                recorded
                    .as_ref()
                    .map(|r| r.protocol_type.clone())
                    .unwrap_or_default(),
                recorded.as_ref().map_or(-1, |r| r.generation),
                Vec::new(),
            ),
        };
        out.groups.push(GroupSnapshot {
            group_id: id.clone(),
            state,
            protocol_type,
            generation,
            members,
            offsets,
            total_lag,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::page_range;

    #[test]
    fn pages_are_clamped_to_the_rows() {
        assert_eq!(page_range(10, 0, 4), 0..4);
        assert_eq!(page_range(10, 2, 4), 8..10);
        assert_eq!(page_range(10, 3, 4), 10..10);
        assert_eq!(page_range(10, usize::MAX, 4), 10..10);
        assert_eq!(page_range(3, 0, 0), 0..1);
    }
}
