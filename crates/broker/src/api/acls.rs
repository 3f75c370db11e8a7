//! DescribeAcls (29), CreateAcls (30), DeleteAcls (31): Kafka's ACL admin APIs on the same
//! store as the ACL file (`acl_file`; edits are written back to it, so they persist and an
//! operator sees them). Describing needs DESCRIBE on the cluster, changing needs ADMIN
//! (Kafka: ALTER); with `acl_enabled = false` they answer SECURITY_DISABLED, as Kafka without
//! an authorizer.
//!
//! Kafka's operations map onto this broker's four: READ, WRITE, DESCRIBE and ALL as they are;
//! CREATE, DELETE, ALTER, ALTER_CONFIGS and DESCRIBE_CONFIGS are ADMIN (described back as
//! ALTER). Principals are `User:NAME` as Kafka's, plus this broker's `ClientId:ID` and
//! `GroupId:ID` (the seed's rules).

use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::rules::{Binding, HostMatch, Pattern, Permission, Principal, CLUSTER_NAME};
use crate::acl::store::NewBinding;
use crate::acl::{Op, ResourceType};
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

// Kafka's enum codes (org.apache.kafka.common.resource / acl).
const RT_ANY: i8 = 1;
const RT_TOPIC: i8 = 2;
const RT_GROUP: i8 = 3;
const RT_CLUSTER: i8 = 4;
const PT_ANY: i8 = 1;
const PT_MATCH: i8 = 2;
const PT_LITERAL: i8 = 3;
const PT_PREFIXED: i8 = 4;
const OP_ANY: i8 = 1;
const OP_ALL: i8 = 2;
const OP_READ: i8 = 3;
const OP_WRITE: i8 = 4;
const OP_CREATE: i8 = 5;
const OP_DELETE: i8 = 6;
const OP_ALTER: i8 = 7;
const OP_DESCRIBE: i8 = 8;
const OP_DESCRIBE_CONFIGS: i8 = 10;
const OP_ALTER_CONFIGS: i8 = 11;
const PERM_ANY: i8 = 1;
const PERM_DENY: i8 = 2;
const PERM_ALLOW: i8 = 3;

fn rt_code(rt: ResourceType) -> i8 {
    match rt {
        ResourceType::Topic => RT_TOPIC,
        ResourceType::Group => RT_GROUP,
        ResourceType::Cluster => RT_CLUSTER,
    }
}

fn rt_from(code: i8) -> Option<ResourceType> {
    match code {
        RT_TOPIC => Some(ResourceType::Topic),
        RT_GROUP => Some(ResourceType::Group),
        RT_CLUSTER => Some(ResourceType::Cluster),
        _ => None,
    }
}

fn op_code(op: Op) -> i8 {
    match op {
        Op::Read => OP_READ,
        Op::Write => OP_WRITE,
        Op::Describe => OP_DESCRIBE,
        Op::Admin => OP_ALTER,
        Op::All => OP_ALL,
    }
}

fn op_from(code: i8) -> Option<Op> {
    match code {
        OP_ALL => Some(Op::All),
        OP_READ => Some(Op::Read),
        OP_WRITE => Some(Op::Write),
        OP_DESCRIBE => Some(Op::Describe),
        OP_CREATE | OP_DELETE | OP_ALTER | OP_ALTER_CONFIGS | OP_DESCRIBE_CONFIGS => {
            Some(Op::Admin)
        }
        _ => None,
    }
}

fn pattern_code(p: &Pattern) -> (i8, &str) {
    match p {
        Pattern::Literal(n) => (PT_LITERAL, n),
        Pattern::Prefix(n) => (PT_PREFIXED, n),
    }
}

fn perm_code(p: Permission) -> i8 {
    match p {
        Permission::Allow => PERM_ALLOW,
        Permission::Deny => PERM_DENY,
    }
}

/// A Describe/DeleteAcls filter.
struct Filter<'a> {
    resource_type: i8,
    name: Option<&'a str>,
    pattern_type: i8,
    principal: Option<&'a str>,
    host: Option<&'a str>,
    operation: i8,
    permission: i8,
}

impl Filter<'_> {
    fn matches(&self, b: &Binding) -> bool {
        let rt_ok = self.resource_type == RT_ANY || self.resource_type == rt_code(b.resource);
        let (pt, name) = pattern_code(&b.pattern);
        let name_ok = match (self.pattern_type, self.name) {
            (PT_MATCH, Some(n)) => match &b.pattern {
                Pattern::Literal(l) => l == n || l == "*",
                Pattern::Prefix(p) => n.starts_with(p.as_str()),
            },
            (PT_MATCH | PT_ANY, None) => true,
            (PT_ANY, Some(n)) => name == n,
            (code, n) => code == pt && n.is_none_or(|n| n == name),
        };
        let principal_ok = self.principal.is_none_or(|p| p == b.principal.to_string());
        let host_ok = self.host.is_none_or(|h| h == b.host.to_string());
        let op_ok = self.operation == OP_ANY || op_from(self.operation) == Some(b.op);
        let perm_ok = self.permission == PERM_ANY || self.permission == perm_code(b.permission);
        rt_ok && name_ok && principal_ok && host_ok && op_ok && perm_ok
    }
}

/// The refusal of the whole request, if any.
fn gate(ctx: &Ctx<'_>, op: Op) -> Option<(i16, &'static str)> {
    if !ctx.broker.authz.enabled() {
        return Some((
            ResponseError::SecurityDisabled.code(),
            "ACLs are not enabled on this broker (acl_enabled = false)",
        ));
    }
    if !ctx.cluster_allowed(op) {
        return Some((
            ResponseError::ClusterAuthorizationFailed.code(),
            "not authorized on the cluster",
        ));
    }
    None
}

pub fn describe(ctx: &Ctx<'_>, req: DescribeAclsRequest) -> DescribeAclsResponse {
    let resp = DescribeAclsResponse::default();
    if let Some((code, msg)) = gate(ctx, Op::Describe) {
        return resp
            .with_error_code(code)
            .with_error_message(Some(str_bytes(msg)));
    }
    let f = Filter {
        resource_type: req.resource_type_filter,
        name: req.resource_name_filter.as_deref(),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.as_deref(),
        host: req.host_filter.as_deref(),
        operation: req.operation,
        permission: req.permission_type,
    };
    let set = ctx.broker.authz.rules();
    let mut by_resource: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for b in set.bindings.iter().filter(|b| f.matches(b)) {
        let (pt, name) = pattern_code(&b.pattern);
        by_resource
            .entry((rt_code(b.resource), name.to_string(), pt))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&b.principal.to_string()))
                    .with_host(str_bytes(&b.host.to_string()))
                    .with_operation(op_code(b.op))
                    .with_permission_type(perm_code(b.permission)),
            );
    }
    resp.with_error_code(NONE).with_resources(
        by_resource
            .into_iter()
            .map(|((rt, name, pt), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(rt)
                    .with_resource_name(str_bytes(&name))
                    .with_pattern_type(pt)
                    .with_acls(acls)
            })
            .collect(),
    )
}

/// One creation as the store takes it, or why not.
fn new_binding(
    rt: i8,
    name: &str,
    pt: i8,
    principal: &str,
    host: &str,
    op: i8,
    perm: i8,
) -> Result<NewBinding, String> {
    let resource = rt_from(rt).ok_or_else(|| format!("resource type {rt} is not supported"))?;
    let pattern = match (resource, pt) {
        (ResourceType::Cluster, PT_LITERAL) if name == CLUSTER_NAME => {
            Pattern::Literal(CLUSTER_NAME.to_string())
        }
        (ResourceType::Cluster, _) => {
            return Err(format!("the cluster resource is literal {CLUSTER_NAME:?}"))
        }
        (_, _) if name.is_empty() => return Err("empty resource name".to_string()),
        (_, PT_LITERAL) => Pattern::Literal(name.to_string()),
        (_, PT_PREFIXED) => Pattern::Prefix(name.to_string()),
        _ => return Err(format!("pattern type {pt}: want LITERAL or PREFIXED")),
    };
    if Principal::parse(principal).is_none() {
        return Err(format!(
            "principal {principal:?}: want User:NAME, ClientId:ID or GroupId:ID"
        ));
    }
    let host = HostMatch::parse(host)
        .ok_or_else(|| format!("host {host:?}: want \"*\", an IP address or a CIDR"))?;
    let op = op_from(op).ok_or_else(|| format!("operation {op} is not supported"))?;
    let permission = match perm {
        PERM_ALLOW => Permission::Allow,
        PERM_DENY => Permission::Deny,
        _ => return Err(format!("permission type {perm}: want ALLOW or DENY")),
    };
    Ok(NewBinding {
        permission,
        op,
        resource,
        pattern,
        principal: principal.to_string(),
        host,
    })
}

pub async fn create(ctx: &Ctx<'_>, req: CreateAclsRequest) -> CreateAclsResponse {
    let n = req.creations.len();
    let all = |code: i16, msg: &str| {
        CreateAclsResponse::default().with_results(
            (0..n)
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(msg)))
                })
                .collect(),
        )
    };
    if let Some((code, msg)) = gate(ctx, Op::Admin) {
        return all(code, msg);
    }
    let parsed: Vec<Result<NewBinding, String>> = req
        .creations
        .iter()
        .map(|c| {
            new_binding(
                c.resource_type,
                &c.resource_name,
                c.resource_pattern_type,
                &c.principal,
                &c.host,
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let good: Vec<NewBinding> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let stored = if good.is_empty() {
        Ok(())
    } else {
        let b = ctx.broker.clone();
        tokio::task::spawn_blocking(move || {
            b.authz.create(&good, &b.metrics).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    };
    if let Err(e) = &stored {
        tracing::error!(error = %e, "CreateAcls: the ACL file was not changed");
    }
    CreateAclsResponse::default().with_results(
        parsed
            .into_iter()
            .map(|p| match (p, &stored) {
                (Err(why), _) => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(why))),
                (Ok(_), Err(e)) => AclCreationResult::default()
                    .with_error_code(ResponseError::UnknownServerError.code())
                    .with_error_message(Some(str_bytes(e))),
                (Ok(_), Ok(())) => AclCreationResult::default().with_error_code(NONE),
            })
            .collect(),
    )
}

pub async fn delete(ctx: &Ctx<'_>, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let n = req.filters.len();
    if let Some((code, msg)) = gate(ctx, Op::Admin) {
        return DeleteAclsResponse::default().with_filter_results(
            (0..n)
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(msg)))
                })
                .collect(),
        );
    }
    let filters: Vec<_> = req
        .filters
        .iter()
        .map(|f| {
            (
                f.resource_type_filter,
                f.resource_name_filter.as_ref().map(|s| s.to_string()),
                f.pattern_type_filter,
                f.principal_filter.as_ref().map(|s| s.to_string()),
                f.host_filter.as_ref().map(|s| s.to_string()),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let as_filter = |f: &(
        i8,
        Option<String>,
        i8,
        Option<String>,
        Option<String>,
        i8,
        i8,
    )| {
        Filter {
            resource_type: f.0,
            name: f.1.as_deref(),
            pattern_type: f.2,
            principal: f.3.as_deref(),
            host: f.4.as_deref(),
            operation: f.5,
            permission: f.6,
        }
        .matches_owned()
    };
    let matchers: Vec<_> = filters.iter().map(as_filter).collect();
    let b = ctx.broker.clone();
    let ms = matchers.clone();
    let removed = tokio::task::spawn_blocking(move || {
        b.authz
            .delete(|x| ms.iter().any(|m| m.matches(x)), &b.metrics)
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    DeleteAclsResponse::default().with_filter_results(
        matchers
            .iter()
            .map(|m| match &removed {
                Err(e) => DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::UnknownServerError.code())
                    .with_error_message(Some(str_bytes(e))),
                Ok(gone) => DeleteAclsFilterResult::default()
                    .with_error_code(NONE)
                    .with_matching_acls(
                        gone.iter()
                            .filter(|x| m.matches(x))
                            .map(|x| {
                                let (pt, name) = pattern_code(&x.pattern);
                                DeleteAclsMatchingAcl::default()
                                    .with_error_code(NONE)
                                    .with_resource_type(rt_code(x.resource))
                                    .with_resource_name(str_bytes(name))
                                    .with_pattern_type(pt)
                                    .with_principal(str_bytes(&x.principal.to_string()))
                                    .with_host(str_bytes(&x.host.to_string()))
                                    .with_operation(op_code(x.op))
                                    .with_permission_type(perm_code(x.permission))
                            })
                            .collect(),
                    ),
            })
            .collect(),
    )
}

/// A filter that owns its strings (moved into the blocking delete).
#[derive(Clone)]
struct OwnedFilter {
    resource_type: i8,
    name: Option<String>,
    pattern_type: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission: i8,
}

impl OwnedFilter {
    fn matches(&self, b: &Binding) -> bool {
        Filter {
            resource_type: self.resource_type,
            name: self.name.as_deref(),
            pattern_type: self.pattern_type,
            principal: self.principal.as_deref(),
            host: self.host.as_deref(),
            operation: self.operation,
            permission: self.permission,
        }
        .matches(b)
    }
}

impl Filter<'_> {
    fn matches_owned(&self) -> OwnedFilter {
        OwnedFilter {
            resource_type: self.resource_type,
            name: self.name.map(str::to_string),
            pattern_type: self.pattern_type,
            principal: self.principal.map(str::to_string),
            host: self.host.map(str::to_string),
            operation: self.operation,
            permission: self.permission,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::rules::parse;

    fn filter(rt: i8, name: Option<&str>, pt: i8) -> OwnedFilter {
        OwnedFilter {
            resource_type: rt,
            name: name.map(str::to_string),
            pattern_type: pt,
            principal: None,
            host: None,
            operation: OP_ANY,
            permission: PERM_ANY,
        }
    }

    #[test]
    fn filters_match_as_kafka() {
        let set = parse(
            r#"
[[acl]]
permission = "allow"
operations = ["write", "read"]
topic_prefix = "logs."
principal = "User:alice"
[[acl]]
permission = "deny"
operations = ["all"]
topic = "logs.secret"
host = "10.0.0.0/8"
"#,
        )
        .expect("valid");
        let count = |f: &OwnedFilter| set.bindings.iter().filter(|b| f.matches(b)).count();
        assert_eq!(count(&filter(RT_ANY, None, PT_ANY)), 3);
        assert_eq!(count(&filter(RT_TOPIC, Some("logs.secret"), PT_MATCH)), 3);
        assert_eq!(count(&filter(RT_TOPIC, Some("logs.secret"), PT_LITERAL)), 1);
        assert_eq!(count(&filter(RT_TOPIC, Some("logs."), PT_PREFIXED)), 2);
        assert_eq!(count(&filter(RT_GROUP, None, PT_ANY)), 0);
        let mut f = filter(RT_ANY, None, PT_ANY);
        f.operation = OP_WRITE;
        f.principal = Some("User:alice".into());
        assert_eq!(count(&f), 1);
        f.operation = OP_ANY;
        f.principal = None;
        f.host = Some("10.0.0.0/8".into());
        f.permission = PERM_DENY;
        assert_eq!(count(&f), 1);
    }

    #[test]
    fn creations_are_validated() {
        let ok = new_binding(
            RT_TOPIC,
            "t",
            PT_PREFIXED,
            "User:bob",
            "*",
            OP_CREATE,
            PERM_ALLOW,
        )
        .expect("valid");
        assert_eq!(ok.op, Op::Admin);
        assert_eq!(ok.pattern, Pattern::Prefix("t".into()));
        assert!(
            new_binding(RT_TOPIC, "t", PT_MATCH, "User:bob", "*", OP_READ, PERM_ALLOW).is_err()
        );
        assert!(new_binding(RT_TOPIC, "t", PT_LITERAL, "bob", "*", OP_READ, PERM_ALLOW).is_err());
        assert!(
            new_binding(RT_TOPIC, "t", PT_LITERAL, "User:b", "x", OP_READ, PERM_ALLOW).is_err()
        );
        assert!(
            new_binding(RT_CLUSTER, "c", PT_LITERAL, "User:b", "*", OP_ALL, PERM_ALLOW).is_err()
        );
        assert!(new_binding(7, "u", PT_LITERAL, "User:b", "*", OP_ALL, PERM_ALLOW).is_err());
        assert!(new_binding(RT_TOPIC, "t", PT_LITERAL, "User:b", "*", 12, PERM_ALLOW).is_err());
    }
}
