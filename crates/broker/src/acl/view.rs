//! The ACLs as operators see and edit them outside Kafka's protocol (the web console of
//! `logferry`): one page of the rules in force with their generation and the last reload's
//! outcome, and single-rule edits that go through the same store path as CreateAcls and
//! DeleteAcls ([`Authorizer::create`], [`Authorizer::delete`]), so either side sees the
//! other's changes.

use super::rules::{Binding, HostMatch, Op, Pattern, Permission, Principal, ResourceType};
use super::store::{self, NewBinding, StoreError};
use super::{Authorizer, LastReload};
use crate::metrics::BrokerMetrics;
use serde::{Deserialize, Serialize};

/// One binding (one operation), as text. Parsed back by [`AclRule::to_binding`] for edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRule {
    /// 1-based `[[acl]]` entry of the file it comes from (an entry listing several
    /// operations gives several rules). Ignored in edits.
    #[serde(default)]
    pub entry: usize,
    /// "allow" or "deny".
    pub permission: String,
    /// "read", "write", "describe", "admin" or "all".
    pub operation: String,
    /// "topic", "group" or "cluster".
    pub resource_type: String,
    /// "literal" (`*` = every name) or "prefixed".
    pub pattern_type: String,
    /// The topic or group name or prefix; "kafka-cluster" for the cluster.
    pub resource_name: String,
    /// "User:NAME" (SASL user or TLS subject, `User:*` = anyone), "ClientId:ID", "GroupId:ID".
    pub principal: String,
    /// "*", an IP address or a CIDR.
    #[serde(default = "any_host")]
    pub host: String,
}

fn any_host() -> String {
    "*".to_string()
}

impl AclRule {
    pub fn from_binding(b: &Binding) -> AclRule {
        let (pattern_type, name) = match &b.pattern {
            Pattern::Literal(n) => ("literal", n),
            Pattern::Prefix(n) => ("prefixed", n),
        };
        AclRule {
            entry: b.rule,
            permission: match b.permission {
                Permission::Allow => "allow",
                Permission::Deny => "deny",
            }
            .to_string(),
            operation: b.op.as_str().to_string(),
            resource_type: b.resource.as_str().to_string(),
            pattern_type: pattern_type.to_string(),
            resource_name: name.clone(),
            principal: b.principal.to_string(),
            host: b.host.to_string(),
        }
    }

    /// The binding this rule stands for, or why it is not one.
    pub fn to_binding(&self) -> Result<NewBinding, String> {
        let permission = match self.permission.as_str() {
            "allow" => Permission::Allow,
            "deny" => Permission::Deny,
            p => return Err(format!("permission {p:?}: want \"allow\" or \"deny\"")),
        };
        let op = Op::parse(&self.operation).ok_or_else(|| {
            format!(
                "operation {:?}: want read, write, describe, admin or all",
                self.operation
            )
        })?;
        let name = self.resource_name.trim();
        let resource = match self.resource_type.as_str() {
            "topic" => ResourceType::Topic,
            "group" => ResourceType::Group,
            "cluster" => ResourceType::Cluster,
            r => return Err(format!("resource type {r:?}: want topic, group or cluster")),
        };
        let pattern = match (resource, self.pattern_type.as_str()) {
            (ResourceType::Cluster, "literal")
                if name.is_empty() || name == super::rules::CLUSTER_NAME =>
            {
                Pattern::Literal(super::rules::CLUSTER_NAME.to_string())
            }
            (ResourceType::Cluster, _) => {
                return Err(format!(
                    "the cluster resource is literal {:?}",
                    super::rules::CLUSTER_NAME
                ))
            }
            (_, _) if name.is_empty() => return Err("empty resource name".to_string()),
            (_, "literal") => Pattern::Literal(name.to_string()),
            (_, "prefixed") => Pattern::Prefix(name.to_string()),
            (_, p) => return Err(format!("pattern type {p:?}: want literal or prefixed")),
        };
        let principal = self.principal.trim();
        if Principal::parse(principal).is_none() {
            return Err(format!(
                "principal {principal:?}: want User:NAME, ClientId:ID or GroupId:ID"
            ));
        }
        let host = HostMatch::parse(self.host.trim())
            .ok_or_else(|| format!("host {:?}: want \"*\", an IP address or a CIDR", self.host))?;
        Ok(NewBinding {
            permission,
            op,
            resource,
            pattern,
            principal: principal.to_string(),
            host,
        })
    }
}

/// One page of the ACLs in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclSnapshot {
    /// The ACL file's path or the URL it is read from.
    pub source: String,
    /// Edits are possible (the source is a local file): CreateAcls, DeleteAcls, the console.
    pub editable: bool,
    /// Bumped each time a new set of rules comes into force (reload or edit).
    pub generation: u64,
    /// Principals allowed everything, whatever the rules say.
    pub super_users: Vec<String>,
    /// Rules (bindings) in force; `rules` holds one page of them, in file order.
    pub rules_total: usize,
    pub rules: Vec<AclRule>,
    /// The last reread of the source (None before the first).
    pub last_reload: Option<LastReload>,
}

/// Why an edit was not made.
#[derive(Debug, thiserror::Error)]
pub enum AclEditError {
    #[error("ACLs are not enabled on this broker (acl_enabled = false)")]
    Disabled,
    #[error("invalid rule: {0}")]
    Invalid(String),
    #[error("no rule in the ACL file matches")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Page `page` (zero-based) of `per_page` rules; None when ACLs are off.
pub fn snapshot(authz: &Authorizer, page: usize, per_page: usize) -> Option<AclSnapshot> {
    if !authz.enabled() {
        return None;
    }
    let set = authz.rules();
    let per = per_page.max(1);
    let start = page.saturating_mul(per).min(set.bindings.len());
    let end = start.saturating_add(per).min(set.bindings.len());
    Some(AclSnapshot {
        source: authz.source().map(|s| s.to_string()).unwrap_or_default(),
        editable: matches!(authz.source(), Some(store::Source::File(_))),
        generation: authz.generation(),
        super_users: authz.super_users(),
        rules_total: set.bindings.len(),
        rules: set.bindings[start..end]
            .iter()
            .map(AclRule::from_binding)
            .collect(),
        last_reload: authz.last_reload(),
    })
}

/// Adds `rule` (nothing to do if the same binding is already in force); returns the
/// generation in force after. Blocking (writes the ACL file).
pub fn add(
    authz: &Authorizer,
    rule: &AclRule,
    metrics: &BrokerMetrics,
) -> Result<u64, AclEditError> {
    if !authz.enabled() {
        return Err(AclEditError::Disabled);
    }
    let new = rule.to_binding().map_err(AclEditError::Invalid)?;
    if !authz.rules().bindings.iter().any(|b| store::same(b, &new)) {
        authz.create(std::slice::from_ref(&new), metrics)?;
    }
    Ok(authz.generation())
}

/// Removes every binding of the ACL file equal to `rule`; returns how many and the
/// generation in force after. Blocking (writes the ACL file).
pub fn remove(
    authz: &Authorizer,
    rule: &AclRule,
    metrics: &BrokerMetrics,
) -> Result<(usize, u64), AclEditError> {
    if !authz.enabled() {
        return Err(AclEditError::Disabled);
    }
    let gone = rule.to_binding().map_err(AclEditError::Invalid)?;
    let removed = authz.delete(|b| store::same(b, &gone), metrics)?;
    if removed.is_empty() {
        return Err(AclEditError::NotFound);
    }
    Ok((removed.len(), authz.generation()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# kept by edits
[[acl]]
permission = "allow"
operations = ["write", "read"]
topic_prefix = "logs."
principal = "User:alice"
"#;

    fn rule(op: &str, name: &str) -> AclRule {
        AclRule {
            entry: 0,
            permission: "allow".into(),
            operation: op.into(),
            resource_type: "topic".into(),
            pattern_type: "literal".into(),
            resource_name: name.into(),
            principal: "User:bob".into(),
            host: "*".into(),
        }
    }

    #[test]
    fn pages_edits_and_the_last_reload_are_seen_through_the_view() {
        let d = tempfile::tempdir().expect("tmp");
        let file = d.path().join("acl.toml");
        std::fs::write(&file, FILE).expect("acl");
        let m = BrokerMetrics::default();
        let a = Authorizer::new(
            true,
            &["User:admin".to_string()],
            Some(store::Source::File(file.clone())),
            d.path().join("backup.toml"),
        );
        assert_eq!(a.last_reload(), None);
        a.load_initial(&m);
        let r = a.last_reload().expect("reloaded");
        assert!(r.ok && r.changed && r.error.is_none(), "{r:?}");
        let s = snapshot(&a, 0, 1).expect("enabled");
        assert_eq!((s.generation, s.rules_total, s.rules.len()), (1, 2, 1));
        assert!(s.editable);
        assert_eq!(s.super_users, vec!["User:admin"]);
        assert_eq!(
            s.rules[0],
            AclRule {
                entry: 1,
                pattern_type: "prefixed".into(),
                resource_name: "logs.".into(),
                principal: "User:alice".into(),
                ..rule("write", "")
            }
        );
        assert_eq!(
            snapshot(&a, 1, 1).expect("page 2").rules[0].operation,
            "read"
        );

        // Added twice: one binding, one new generation; the file keeps its comment.
        assert_eq!(add(&a, &rule("write", "billing"), &m).expect("add"), 2);
        assert_eq!(add(&a, &rule("write", "billing"), &m).expect("again"), 2);
        let text = std::fs::read_to_string(&file).expect("file");
        assert!(text.starts_with("# kept by edits"), "{text}");
        assert_eq!(text.matches("billing").count(), 1, "{text}");
        let s = snapshot(&a, 0, 10).expect("enabled");
        assert_eq!(s.rules_total, 3);
        assert_eq!(s.rules[2].resource_name, "billing");
        assert_eq!(s.rules[2].entry, 2);

        assert_eq!(
            remove(&a, &rule("write", "billing"), &m).expect("remove"),
            (1, 3)
        );
        assert!(matches!(
            remove(&a, &rule("write", "billing"), &m),
            Err(AclEditError::NotFound)
        ));
        assert!(matches!(
            add(&a, &rule("fly", "x"), &m),
            Err(AclEditError::Invalid(_))
        ));

        // A broken source: the rules stay, the outcome says why.
        std::fs::write(&file, "[[acl]]\npermission = \"maybe\"\n").expect("broken");
        assert!(matches!(a.reload(&m), super::super::Reload::Failed(_)));
        let s = snapshot(&a, 0, 10).expect("enabled");
        let r = s.last_reload.expect("reloaded");
        assert!(
            !r.ok && r.error.as_deref().is_some_and(|e| e.contains("invalid")),
            "{r:?}"
        );
        assert_eq!((s.generation, s.rules_total), (3, 2));

        assert!(snapshot(&Authorizer::disabled(), 0, 10).is_none());
    }

    #[test]
    fn rules_round_trip_and_bad_ones_are_refused() {
        let set = super::super::rules::parse(
            "[[acl]]\npermission = \"deny\"\noperations = [\"all\"]\ncluster = true\nclient_id = \"x\"\nhost = \"10.0.0.0/8\"\n",
        )
        .expect("valid");
        let r = AclRule::from_binding(&set.bindings[0]);
        assert_eq!(
            (
                r.resource_type.as_str(),
                r.resource_name.as_str(),
                r.host.as_str()
            ),
            ("cluster", "kafka-cluster", "10.0.0.0/8")
        );
        assert!(store::same(
            &set.bindings[0],
            &r.to_binding().expect("valid")
        ));
        for bad in [
            AclRule {
                principal: "bob".into(),
                ..rule("read", "t")
            },
            AclRule {
                host: "nowhere".into(),
                ..rule("read", "t")
            },
            AclRule {
                pattern_type: "match".into(),
                ..rule("read", "t")
            },
            AclRule {
                resource_type: "cluster".into(),
                ..rule("read", "t")
            },
            rule("read", " "),
        ] {
            assert!(bad.to_binding().is_err(), "{bad:?}");
        }
    }
}
