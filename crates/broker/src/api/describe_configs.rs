//! DescribeConfigs (32): a topic's settings (its overrides, else the broker's) and the
//! broker's own settings, as Kafka names them. Only settings this broker acts on are listed,
//! and every value is the one in force.

use super::{str_bytes, Ctx, ResponseError};
use crate::acl::Op;
use crate::config::{BrokerConfig, Flush};
use crate::state::NODE_ID;
use crate::topic_config::{self, ConfigType, TOPIC_KEYS};
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

/// Config resource types (Kafka's `ConfigResource.Type`).
pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

/// Config sources (DescribeConfigs v1+).
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// One described setting before it is put in the response.
struct Entry {
    name: String,
    value: String,
    source: i8,
    config_type: ConfigType,
    read_only: bool,
    /// (broker config name, value, source) behind a topic setting.
    synonyms: Vec<(String, String, i8)>,
}

pub fn handle(ctx: &Ctx<'_>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let b = ctx.broker;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let wanted = |k: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|ks| ks.iter().any(|w| **w == *k))
            };
            let res = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let entries = match r.resource_type {
                // Kafka: DESCRIBE_CONFIGS on the topic / cluster; here DESCRIBE.
                TOPIC if !ctx.topic_allowed(Op::Describe, &r.resource_name) => {
                    return res
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        .with_error_message(Some(str_bytes("not authorized")))
                }
                BROKER if !ctx.cluster_allowed(Op::Describe) => {
                    return res
                        .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                        .with_error_message(Some(str_bytes("not authorized")))
                }
                TOPIC => match b.topics.get(&r.resource_name) {
                    Some(t) => topic_entries(&t.overrides(), &b.cfg),
                    None => {
                        return res
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(str_bytes(&format!(
                                "unknown topic {}",
                                &*r.resource_name
                            ))))
                    }
                },
                BROKER
                    if r.resource_name.is_empty() || *r.resource_name == *NODE_ID.to_string() =>
                {
                    broker_entries(&b.cfg, ctx.host(), ctx.port())
                }
                _ => {
                    return res
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(str_bytes(&format!(
                        "unsupported resource type {} / name {:?} (topics, and broker {NODE_ID})",
                        r.resource_type, &*r.resource_name
                    ))))
                }
            };
            let configs = entries
                .into_iter()
                .filter(|e| wanted(&e.name))
                .map(|e| encode(e, ctx.version, req.include_synonyms))
                .collect();
            res.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn encode(e: Entry, version: i16, synonyms: bool) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(&e.name))
        .with_value(Some(str_bytes(&e.value)))
        .with_read_only(e.read_only)
        .with_is_sensitive(false);
    if version == 0 {
        r = r.with_is_default(e.source == DEFAULT_CONFIG);
    } else {
        r = r.with_config_source(e.source);
    }
    if version >= 1 && synonyms {
        r = r.with_synonyms(
            e.synonyms
                .into_iter()
                .map(|(n, v, s)| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(&n))
                        .with_value(Some(str_bytes(&v)))
                        .with_source(s)
                })
                .collect(),
        );
    }
    if version >= 3 {
        r = r.with_config_type(e.config_type as i8);
    }
    r
}

/// The source of a broker-level value: set in `[broker]` or the built-in default.
fn broker_source(value: &str, default: &str) -> i8 {
    if value == default {
        DEFAULT_CONFIG
    } else {
        STATIC_BROKER_CONFIG
    }
}

fn topic_entries(o: &topic_config::TopicOverrides, cfg: &BrokerConfig) -> Vec<Entry> {
    let defaults = BrokerConfig::default();
    TOPIC_KEYS
        .iter()
        .filter_map(|&key| {
            let (broker_name, broker_value) = topic_config::broker_default(key, cfg)?;
            let (_, builtin) = topic_config::broker_default(key, &defaults)?;
            let broker_src = broker_source(&broker_value, &builtin);
            let mut synonyms = Vec::new();
            let (value, source) = match o.get(key) {
                Some(v) => {
                    synonyms.push((key.to_string(), v.to_string(), DYNAMIC_TOPIC_CONFIG));
                    (v.to_string(), DYNAMIC_TOPIC_CONFIG)
                }
                None => (broker_value.clone(), broker_src),
            };
            synonyms.push((broker_name.to_string(), broker_value, broker_src));
            Some(Entry {
                name: key.to_string(),
                value,
                // Kafka reports a topic value inherited from the broker as that source.
                source,
                config_type: topic_config::config_type(key),
                read_only: false,
                synonyms,
            })
        })
        .collect()
}

fn broker_entries(cfg: &BrokerConfig, host: &str, port: i32) -> Vec<Entry> {
    let d = BrokerConfig::default();
    let opt = |v: Option<u64>| v.map_or("-1".to_string(), |v| v.to_string());
    let flush_ms = |f: Flush| match f {
        Flush::Ack(_) => "0".to_string(),
        Flush::IntervalMs(ms) => ms.to_string(),
    };
    let mut v: Vec<(&str, String, String, ConfigType)> = vec![
        (
            "broker.id",
            NODE_ID.to_string(),
            NODE_ID.to_string(),
            ConfigType::Int,
        ),
        (
            "node.id",
            NODE_ID.to_string(),
            NODE_ID.to_string(),
            ConfigType::Int,
        ),
        (
            "listeners",
            format!("PLAINTEXT://{}", cfg.listen),
            format!("PLAINTEXT://{}", d.listen),
            ConfigType::List,
        ),
        (
            "advertised.listeners",
            format!("PLAINTEXT://{host}:{port}"),
            String::new(),
            ConfigType::List,
        ),
        (
            "num.partitions",
            cfg.num_partitions.to_string(),
            d.num_partitions.to_string(),
            ConfigType::Int,
        ),
        (
            "auto.create.topics.enable",
            "true".into(),
            "true".into(),
            ConfigType::Boolean,
        ),
        (
            "default.replication.factor",
            "1".into(),
            "1".into(),
            ConfigType::Int,
        ),
        (
            "min.insync.replicas",
            "1".into(),
            "1".into(),
            ConfigType::Int,
        ),
        (
            "offsets.topic.num.partitions",
            "1".into(),
            "1".into(),
            ConfigType::Int,
        ),
        (
            "offsets.topic.replication.factor",
            "1".into(),
            "1".into(),
            ConfigType::Short,
        ),
        (
            "log.retention.ms",
            opt(cfg.retention_ms),
            opt(d.retention_ms),
            ConfigType::Long,
        ),
        (
            "log.retention.bytes",
            opt(cfg.retention_bytes),
            opt(d.retention_bytes),
            ConfigType::Long,
        ),
        (
            "log.segment.bytes",
            cfg.segment_bytes.to_string(),
            d.segment_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "log.cleanup.policy",
            "delete".into(),
            "delete".into(),
            ConfigType::List,
        ),
        (
            "message.max.bytes",
            cfg.max_request_bytes.to_string(),
            d.max_request_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "socket.request.max.bytes",
            cfg.max_request_bytes.to_string(),
            d.max_request_bytes.to_string(),
            ConfigType::Int,
        ),
        // flush = "ack": every acknowledged batch is fsynced (0 = no timer); else the interval.
        (
            "log.flush.interval.ms",
            flush_ms(cfg.flush),
            flush_ms(d.flush),
            ConfigType::Long,
        ),
        (
            "group.initial.rebalance.delay.ms",
            cfg.group_initial_rebalance_delay_ms.to_string(),
            d.group_initial_rebalance_delay_ms.to_string(),
            ConfigType::Int,
        ),
    ];
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.into_iter()
        .map(|(name, value, default, config_type)| Entry {
            name: name.to_string(),
            source: broker_source(&value, &default),
            value,
            config_type,
            read_only: true,
            synonyms: Vec::new(),
        })
        .collect()
}
