//! AlterConfigs (33) and IncrementalAlterConfigs (44) for topic settings. AlterConfigs
//! replaces a topic's overrides with the given set (Kafka's semantics: what is not listed
//! returns to the broker's value); IncrementalAlterConfigs sets, deletes, appends to or
//! subtracts from single settings. Every change is validated as a whole before anything is
//! written; `validate_only` writes nothing. Broker settings are static (`[broker]`).

use super::describe_configs::{BROKER, TOPIC};
use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::topic_config::{self, ConfigError, ConfigType, TopicOverrides};
use crate::topics::TopicError;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// (error code, message) of one resource.
type Outcome = (i16, Option<String>);

pub fn handle_alter(ctx: &Ctx<'_>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let (code, msg) = apply(
                ctx,
                r.resource_type,
                &r.resource_name,
                req.validate_only,
                |_| {
                    let mut next = TopicOverrides::default();
                    for c in &r.configs {
                        if let Some(v) = &c.value {
                            next.0.insert(c.name.to_string(), v.trim().to_string());
                        }
                    }
                    Ok(next)
                },
            );
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg.as_deref().map(str_bytes))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

pub fn handle_incremental(
    ctx: &Ctx<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let (code, msg) = apply(
                ctx,
                r.resource_type,
                &r.resource_name,
                req.validate_only,
                |cur| {
                    let mut next = cur.clone();
                    for c in &r.configs {
                        // A list without an override starts from the broker's value (as
                        // Kafka does).
                        let base = topic_config::broker_default(&c.name, &ctx.broker.cfg);
                        let op = c.config_operation;
                        let value = c.value.as_deref();
                        incremental_op(&mut next, &c.name, op, value, base.map(|d| d.1))?;
                    }
                    Ok(next)
                },
            );
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(msg.as_deref().map(str_bytes))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// One IncrementalAlterConfigs operation on `o`.
fn incremental_op(
    o: &mut TopicOverrides,
    key: &str,
    op: i8,
    value: Option<&str>,
    base: Option<String>,
) -> Result<(), ConfigError> {
    let bad = |why| ConfigError::BadValue {
        key: key.to_string(),
        value: value.unwrap_or("").to_string(),
        why,
    };
    match op {
        SET => {
            o.0.insert(key.to_string(), value.unwrap_or("").trim().to_string());
        }
        DELETE => {
            o.0.remove(key);
        }
        APPEND | SUBTRACT => {
            if topic_config::config_type(key) != ConfigType::List {
                return Err(bad("APPEND and SUBTRACT need a list setting"));
            }
            let mut items: Vec<String> = o
                .get(key)
                .map(str::to_string)
                .or(base)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default();
            for item in value.unwrap_or("").split(',').map(str::trim) {
                if item.is_empty() {
                    continue;
                }
                if op == APPEND && !items.iter().any(|i| i == item) {
                    items.push(item.to_string());
                } else if op == SUBTRACT {
                    items.retain(|i| i != item);
                }
            }
            items.retain(|i| !i.is_empty());
            if items.is_empty() {
                o.0.remove(key);
            } else {
                o.0.insert(key.to_string(), items.join(","));
            }
        }
        _ => return Err(bad("unknown operation")),
    }
    Ok(())
}

/// Validates and (unless `validate_only`) stores the overrides `change` makes of the topic's
/// current ones.
fn apply(
    ctx: &Ctx<'_>,
    resource_type: i8,
    name: &StrBytes,
    validate_only: bool,
    change: impl FnOnce(&TopicOverrides) -> Result<TopicOverrides, ConfigError>,
) -> Outcome {
    let b = ctx.broker;
    match resource_type {
        // Kafka: ALTER_CONFIGS on the topic; here ADMIN.
        TOPIC if !ctx.topic_allowed(Op::Admin, name) => {
            return (
                ResponseError::TopicAuthorizationFailed.code(),
                Some(format!("not authorized to alter topic {}", &**name)),
            )
        }
        TOPIC => {}
        BROKER => {
            return (
                ResponseError::InvalidRequest.code(),
                Some("broker settings are static: set them in [broker] of the config file".into()),
            )
        }
        t => {
            return (
                ResponseError::InvalidRequest.code(),
                Some(format!("unsupported resource type {t}")),
            )
        }
    }
    let Some(topic) = b.topics.get(name) else {
        return (
            ResponseError::UnknownTopicOrPartition.code(),
            Some(format!("unknown topic {}", &**name)),
        );
    };
    if topic.is_internal() {
        return (
            ResponseError::InvalidRequest.code(),
            Some(format!("{} is internal: its settings are fixed", &**name)),
        );
    }
    let next = match change(&topic.overrides()) {
        Ok(n) => n,
        Err(e) => return (ResponseError::InvalidConfig.code(), Some(e.to_string())),
    };
    for (k, v) in &next.0 {
        if let Err(e) = topic_config::validate(k, v) {
            return (ResponseError::InvalidConfig.code(), Some(e.to_string()));
        }
    }
    if validate_only {
        return (NONE, None);
    }
    match b.topics.set_overrides(name, next) {
        Ok(()) => (NONE, None),
        Err(TopicError::Unknown(n)) => (
            ResponseError::UnknownTopicOrPartition.code(),
            Some(format!("unknown topic {n}")),
        ),
        Err(e) => {
            tracing::error!(topic = %&**name, error = %e, "storing topic config failed");
            (ResponseError::KafkaStorageError.code(), Some(e.to_string()))
        }
    }
}
