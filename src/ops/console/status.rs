//! `GET /api/v1/status`: the JSON document the console page is rendered from and polls.
//! Version 1 is stable: fields may be added, none renamed or removed. Optional panels are
//! absent (not null) when their source does not exist: `agent` on `logferry broker`, `broker`
//! when the agent ships to external brokers, `acls` without a bundled broker with
//! `acl_enabled`, `canary` without the agent's `[monitor]`.

use super::canary::{CanaryPartition, CanaryReport};
use super::history::{History, RateSample, Sample};
use crate::ops::metrics::{Event, Metrics, SectionView};
use logferry_broker::snapshot::{BrokerSnapshot, Paging};
use logferry_broker::BrokerView;
use serde::Serialize;
use std::collections::BTreeMap;

pub const VERSION: u32 = 1;
/// Sections per page unless `per_page` says otherwise (each carries an hour of samples).
pub const SECTIONS_PER_PAGE: usize = 20;
/// Partition and group rows per page unless `per_page` says otherwise.
pub const BROKER_ROWS_PER_PAGE: usize = 100;
/// The largest `per_page` honoured.
pub const MAX_PER_PAGE: usize = 1000;

/// The query string of `/` and `/api/v1/status`. Unknown keys and unparsable values are
/// ignored (a bookmark from an older version still opens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query {
    pub section_page: usize,
    pub partition_page: usize,
    pub group_page: usize,
    pub acl_page: usize,
    pub canary_page: usize,
    /// Rows per page of every table (default: 20 sections, 100 partitions or groups).
    pub per_page: Option<usize>,
    /// Only history samples newer than this (Unix ms): what a poller has not seen yet.
    pub since_ms: u64,
}

impl Query {
    pub fn parse(q: &str) -> Query {
        let mut out = Query::default();
        for (k, v) in q.split('&').filter_map(|kv| kv.split_once('=')) {
            let Ok(n) = v.parse::<u64>() else { continue };
            let u = usize::try_from(n).unwrap_or(usize::MAX);
            match k {
                "section_page" => out.section_page = u,
                "partition_page" => out.partition_page = u,
                "group_page" => out.group_page = u,
                "acl_page" => out.acl_page = u,
                "canary_page" => out.canary_page = u,
                "per_page" => out.per_page = Some(u.clamp(1, MAX_PER_PAGE)),
                "since" => out.since_ms = n,
                _ => {}
            }
        }
        out
    }

    /// The query string that shows this page with `key` set to `page`.
    pub fn with_page(&self, key: &str, page: usize) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("section_page", self.section_page),
            ("partition_page", self.partition_page),
            ("group_page", self.group_page),
            ("acl_page", self.acl_page),
            ("canary_page", self.canary_page),
        ] {
            let v = if k == key { page } else { v };
            if v > 0 {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some(p) = self.per_page {
            parts.push(format!("per_page={p}"));
        }
        parts.join("&")
    }
}

/// Where a paged table is.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PageInfo {
    pub page: usize,
    pub per_page: usize,
    pub pages: usize,
    pub total: usize,
}

impl PageInfo {
    fn new(page: usize, per_page: usize, total: usize) -> PageInfo {
        PageInfo {
            page,
            per_page,
            pages: total.div_ceil(per_page.max(1)),
            total,
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        let start = self.page.saturating_mul(self.per_page).min(self.total);
        start..start.saturating_add(self.per_page).min(self.total)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: u32,
    pub host: String,
    /// When this document was made, Unix ms.
    pub generated_at_ms: u64,
    pub sample_interval_ms: u64,
    /// Samples each history keeps (an hour's worth).
    pub history_capacity: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<BrokerStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acls: Option<AclStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
}

/// The broker's ACLs in force (one page of rules), their generation, the last reload.
#[derive(Debug, Clone, Serialize)]
pub struct AclStatus {
    pub rules_page: PageInfo,
    /// The page offers edits: an admin token is configured and the ACL source is a file.
    pub admin: bool,
    #[serde(flatten)]
    pub acls: logferry_broker::acl::view::AclSnapshot,
}

/// The canary monitor's last evaluation (one page of partitions).
#[derive(Debug, Clone, Serialize)]
pub struct CanaryStatus {
    pub partitions_page: PageInfo,
    #[serde(flatten)]
    pub report: CanaryReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentStatus {
    pub sections_page: PageInfo,
    pub totals: Totals,
    pub sections: Vec<SectionStatus>,
}

/// Over every section since the agent started (losses of stopped sections included).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub sections: usize,
    pub lines_shipped: u64,
    pub bytes_shipped: u64,
    pub backlog_bytes: u64,
    pub brokers_down: usize,
    pub bytes_lost: u64,
    /// By reason, only reasons that counted.
    pub lost: BTreeMap<String, u64>,
}

/// What a section is doing, most urgent first.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SectionState {
    BrokerDown,
    AlertFiring,
    Shipping,
    Idle,
}

impl SectionState {
    pub fn label(self) -> &'static str {
        match self {
            SectionState::BrokerDown => "broker down",
            SectionState::AlertFiring => "alert firing",
            SectionState::Shipping => "shipping",
            SectionState::Idle => "idle",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionStatus {
    pub name: String,
    pub topic: String,
    pub status: SectionState,
    /// The backlog alert (`backlog_alert_bytes` / `backlog_alert_seconds`) is firing.
    pub alert: bool,
    pub broker_up: bool,
    /// Why /healthz reports the section (None: healthy).
    pub health: Option<String>,
    pub current_file: Option<String>,
    pub backlog_bytes: u64,
    pub backlog_files: u64,
    pub backlog_oldest_seconds: u64,
    /// Over the last sampling interval.
    pub lines_per_s: f64,
    pub lines_shipped: u64,
    pub bytes_shipped: u64,
    pub bytes_lost: u64,
    pub lost: BTreeMap<String, u64>,
    /// Oldest first.
    pub history: Vec<Sample>,
    /// Oldest first, the last [`crate::ops::metrics::MAX_EVENTS`].
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BrokerStatus {
    pub partitions_page: PageInfo,
    pub groups_page: PageInfo,
    pub topics_total: usize,
    pub topics: Vec<TopicStatus>,
    pub partitions: Vec<logferry_broker::snapshot::PartitionSnapshot>,
    pub groups: Vec<logferry_broker::snapshot::GroupSnapshot>,
    /// Messages per second written to every topic, oldest first.
    pub history: Vec<RateSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicStatus {
    #[serde(flatten)]
    pub topic: logferry_broker::snapshot::TopicSnapshot,
    /// Over the last sampling interval, all partitions.
    pub messages_per_s: f64,
}

fn section_status(v: SectionView, history: &History, since_ms: u64) -> SectionStatus {
    let samples = history.section(&v.name, 0);
    let lines_per_s = samples.last().map_or(0.0, |s| f64::from(s.lines_per_s));
    let status = if !v.broker_up {
        SectionState::BrokerDown
    } else if v.alert {
        SectionState::AlertFiring
    } else if v.backlog_bytes > 0 || lines_per_s > 0.0 {
        SectionState::Shipping
    } else {
        SectionState::Idle
    };
    let lost: BTreeMap<String, u64> = v.lost.into_iter().collect();
    SectionStatus {
        status,
        alert: v.alert,
        broker_up: v.broker_up,
        health: v.health,
        current_file: v.current_file,
        backlog_bytes: v.backlog_bytes,
        backlog_files: v.backlog_files,
        backlog_oldest_seconds: v.backlog_oldest_seconds,
        lines_per_s,
        lines_shipped: v.lines_shipped,
        bytes_shipped: v.bytes_shipped,
        bytes_lost: lost.values().sum(),
        lost,
        history: samples.into_iter().filter(|s| s.t_ms > since_ms).collect(),
        events: v.events,
        name: v.name,
        topic: v.topic,
    }
}

pub fn agent_status(m: &Metrics, history: &History, q: &Query) -> AgentStatus {
    let total = m.running_sections();
    let page = PageInfo::new(
        q.section_page,
        q.per_page.unwrap_or(SECTIONS_PER_PAGE),
        total,
    );
    let s = m.summary();
    let lost = m.lost_totals();
    AgentStatus {
        sections_page: page,
        totals: Totals {
            sections: s.sections,
            lines_shipped: s.lines_shipped,
            bytes_shipped: s.bytes_shipped,
            backlog_bytes: s.backlog_bytes,
            brokers_down: s.brokers_down,
            bytes_lost: lost.values().sum(),
            lost,
        },
        sections: m
            .section_views(page.range())
            .into_iter()
            .map(|v| section_status(v, history, q.since_ms))
            .collect(),
    }
}

pub fn broker_status(b: &BrokerView, history: &History, q: &Query) -> BrokerStatus {
    let per_page = q.per_page.unwrap_or(BROKER_ROWS_PER_PAGE);
    let snap: BrokerSnapshot = b.snapshot(Paging {
        partition_page: q.partition_page,
        group_page: q.group_page,
        per_page,
    });
    BrokerStatus {
        partitions_page: PageInfo::new(q.partition_page, per_page, snap.partitions_total),
        groups_page: PageInfo::new(q.group_page, per_page, snap.groups_total),
        topics_total: snap.topics_total,
        topics: snap
            .topics
            .into_iter()
            .map(|t| TopicStatus {
                messages_per_s: history.topic_rate(&t.name).unwrap_or(0.0),
                topic: t,
            })
            .collect(),
        partitions: snap.partitions,
        groups: snap.groups,
        history: history.broker(q.since_ms),
    }
}

pub fn acl_status(b: &BrokerView, admin: bool, q: &Query) -> Option<AclStatus> {
    let per_page = q.per_page.unwrap_or(BROKER_ROWS_PER_PAGE);
    let acls = b.acls(q.acl_page, per_page)?;
    Some(AclStatus {
        rules_page: PageInfo::new(q.acl_page, per_page, acls.rules_total),
        admin: admin && acls.editable,
        acls,
    })
}

pub fn canary_status(mut report: CanaryReport, q: &Query) -> CanaryStatus {
    let page = PageInfo::new(
        q.canary_page,
        q.per_page.unwrap_or(BROKER_ROWS_PER_PAGE),
        report.partitions.len(),
    );
    let rows: Vec<CanaryPartition> = report.partitions.drain(page.range()).collect();
    report.partitions = rows;
    CanaryStatus {
        partitions_page: page,
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_leniently_and_pages_clamp() {
        let q = Query::parse("section_page=2&per_page=5000&since=17&x=1&group_page=zz");
        assert_eq!(
            q,
            Query {
                section_page: 2,
                partition_page: 0,
                group_page: 0,
                acl_page: 0,
                canary_page: 0,
                per_page: Some(MAX_PER_PAGE),
                since_ms: 17
            }
        );
        assert_eq!(
            q.with_page("partition_page", 3),
            "section_page=2&partition_page=3&per_page=1000"
        );
        let p = PageInfo::new(4, 10, 35);
        assert_eq!((p.pages, p.range()), (4, 35..35));
        assert_eq!(PageInfo::new(3, 10, 35).range(), 30..35);
    }
}
