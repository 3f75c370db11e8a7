//! Topic management, as Kafka Monitor's TopicManagementService: create the monitor topic
//! when it is missing, and keep at least `brokers × partitions_per_broker` partitions
//! (CreatePartitions when brokers were added), so that every broker can lead one and a
//! single bad broker shows in its partitions' figures. Kafka Monitor also reassigns replicas
//! and triggers preferred leader elections; librdkafka's admin API has neither, so brokers
//! leading nothing are reported (`logferry_monitor_brokers_without_leadership`) instead.

use super::MonitorError;
use crate::config::MonitorConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The monitor topic as the cluster describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicView {
    /// Partition ids, sorted.
    pub partitions: Vec<i32>,
    /// Leader broker per partition (None: leaderless).
    pub leaders: BTreeMap<i32, Option<i32>>,
    /// Broker ids, sorted.
    pub brokers: Vec<i32>,
}

/// What topic management does next (pure: see [`plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Create {
        partitions: usize,
        replication: usize,
    },
    Grow {
        to: usize,
    },
    Keep,
}

/// `partitions`: the topic's partition count, None when it does not exist.
pub fn plan(brokers: usize, partitions: Option<usize>, cfg: &MonitorConfig) -> Plan {
    let brokers = brokers.max(1);
    let wanted = brokers * cfg.partitions_per_broker as usize;
    match partitions {
        None => Plan::Create {
            partitions: wanted,
            replication: brokers.min(cfg.replication_factor as usize),
        },
        Some(n) if n < wanted => Plan::Grow { to: wanted },
        Some(_) => Plan::Keep,
    }
}

/// The admin side of the monitor.
pub struct TopicManager {
    admin: Arc<AdminClient<DefaultClientContext>>,
    cfg: MonitorConfig,
}

impl TopicManager {
    pub fn new(admin: AdminClient<DefaultClientContext>, cfg: MonitorConfig) -> TopicManager {
        TopicManager {
            admin: Arc::new(admin),
            cfg,
        }
    }

    /// Reads the cluster's view of the topic (None: the topic does not exist).
    pub async fn describe(&self) -> Result<(Vec<i32>, Option<TopicView>), MonitorError> {
        let admin = self.admin.clone();
        let topic = self.cfg.topic.clone();
        let md = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .map(|md| {
                    let mut brokers: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
                    brokers.sort_unstable();
                    let t = md
                        .topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .and_then(|t| {
                            if t.error().is_some() || t.partitions().is_empty() {
                                return None;
                            }
                            let leaders: BTreeMap<i32, Option<i32>> = t
                                .partitions()
                                .iter()
                                .map(|p| (p.id(), (p.leader() >= 0).then_some(p.leader())))
                                .collect();
                            Some(TopicView {
                                partitions: leaders.keys().copied().collect(),
                                leaders,
                                brokers: brokers.clone(),
                            })
                        });
                    (brokers, t)
                })
        })
        .await
        .map_err(|e| MonitorError::Task(e.to_string()))?;
        md.map_err(|source| MonitorError::Kafka {
            what: "read the cluster metadata",
            source,
        })
    }

    /// Creates or grows the topic as [`plan`] says; returns the view afterwards (after a
    /// change, as soon as the metadata shows it).
    pub async fn ensure(&self) -> Result<TopicView, MonitorError> {
        let (brokers, view) = self.describe().await?;
        let current = view.as_ref().map(|v| v.partitions.len());
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        match plan(brokers.len(), current, &self.cfg) {
            Plan::Keep => return view.ok_or(MonitorError::TopicMissing),
            Plan::Create {
                partitions,
                replication,
            } => {
                tracing::info!(topic = %self.cfg.topic, partitions, replication, "creating the monitor topic");
                let nt = NewTopic::new(
                    &self.cfg.topic,
                    partitions as i32,
                    TopicReplication::Fixed(replication as i32),
                );
                let res = self
                    .admin
                    .create_topics([&nt], &opts)
                    .await
                    .map_err(|source| MonitorError::Kafka {
                        what: "create the monitor topic",
                        source,
                    })?;
                for r in res {
                    match r {
                        Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((t, code)) => {
                            return Err(MonitorError::Admin {
                                what: "create",
                                topic: t,
                                code,
                            })
                        }
                    }
                }
            }
            Plan::Grow { to } => {
                tracing::info!(topic = %self.cfg.topic, from = current.unwrap_or(0), to, brokers = brokers.len(), "adding partitions to the monitor topic");
                let np = NewPartitions::new(&self.cfg.topic, to);
                let res = self
                    .admin
                    .create_partitions([&np], &opts)
                    .await
                    .map_err(|source| MonitorError::Kafka {
                        what: "add partitions to the monitor topic",
                        source,
                    })?;
                for r in res {
                    match r {
                        // Another monitor grew it first.
                        Ok(_) | Err((_, RDKafkaErrorCode::InvalidPartitions)) => {}
                        Err((t, code)) => {
                            return Err(MonitorError::Admin {
                                what: "add partitions to",
                                topic: t,
                                code,
                            })
                        }
                    }
                }
            }
        }
        // The metadata may lag the change by a moment.
        for _ in 0..50 {
            if let (_, Some(v)) = self.describe().await? {
                if plan(v.brokers.len(), Some(v.partitions.len()), &self.cfg) == Plan::Keep {
                    return Ok(v);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.describe().await?.1.ok_or(MonitorError::TopicMissing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_broker_count() {
        let cfg = MonitorConfig {
            partitions_per_broker: 2,
            replication_factor: 3,
            ..MonitorConfig::default()
        };
        assert_eq!(
            plan(1, None, &cfg),
            Plan::Create {
                partitions: 2,
                replication: 1
            }
        );
        assert_eq!(
            plan(5, None, &cfg),
            Plan::Create {
                partitions: 10,
                replication: 3
            }
        );
        assert_eq!(plan(3, Some(6), &cfg), Plan::Keep);
        assert_eq!(plan(3, Some(12), &cfg), Plan::Keep, "never shrinks");
        // A fourth broker joined: it must be able to lead a partition.
        assert_eq!(plan(4, Some(6), &cfg), Plan::Grow { to: 8 });
        assert_eq!(plan(0, Some(1), &cfg), Plan::Grow { to: 2 });
    }
}
