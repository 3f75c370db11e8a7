//! ACL rules: what the TOML file says, parsed into bindings (one operation each, as Kafka's
//! ACL bindings), and how a request is matched against them.
//!
//! A binding = permission (allow/deny) + operation + resource (topic, group or the cluster;
//! literal name, `*`, or prefix) + who (a principal: `User:NAME` for a SASL user or a TLS
//! subject, `ClientId:ID` or `GroupId:ID` for the seed's client.id / group.id rules) + host
//! (an IP or a CIDR, `*` for any). Deny wins; no matching allow is a denial.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::IpAddr;

/// The cluster resource's name (as Kafka's).
pub const CLUSTER_NAME: &str = "kafka-cluster";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Allow,
    Deny,
}

/// Operations. `Admin` covers topic creation/deletion/configuration and ACL changes (Kafka's
/// CREATE, DELETE, ALTER, ALTER_CONFIGS); `Describe` is implied by read, write and admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Read,
    Write,
    Describe,
    Admin,
    All,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Describe => "describe",
            Op::Admin => "admin",
            Op::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        [Op::Read, Op::Write, Op::Describe, Op::Admin, Op::All]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    /// Does an allow binding for `self` grant `wanted`?
    fn grants(self, wanted: Op) -> bool {
        self == wanted
            || self == Op::All
            || (wanted == Op::Describe && matches!(self, Op::Read | Op::Write | Op::Admin))
    }

    /// Does a deny binding for `self` refuse `wanted`? (Only the operation itself: denying
    /// write does not deny describe, as Kafka.)
    fn refuses(self, wanted: Op) -> bool {
        self == wanted || self == Op::All
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Topic => "topic",
            ResourceType::Group => "group",
            ResourceType::Cluster => "cluster",
        }
    }
}

/// Literal name (`*` = every name) or prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    Literal(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == "*" || l == name,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
        }
    }
}

/// Who a binding is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A SASL user or a TLS subject; `*` = anyone, `ANONYMOUS` = unauthenticated clients.
    User(String),
    /// A request's client.id.
    ClientId(String),
    /// A consumer's group.id.
    GroupId(String),
}

impl Principal {
    /// "User:alice", "ClientId:app-1", "GroupId:billing".
    pub fn parse(s: &str) -> Option<Principal> {
        let (kind, name) = s.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        let name = name.to_string();
        match kind {
            "User" => Some(Principal::User(name)),
            "ClientId" => Some(Principal::ClientId(name)),
            "GroupId" => Some(Principal::GroupId(name)),
            _ => None,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(n) => write!(f, "User:{n}"),
            Principal::ClientId(n) => write!(f, "ClientId:{n}"),
            Principal::GroupId(n) => write!(f, "GroupId:{n}"),
        }
    }
}

/// `*`, an address, or a network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    Any,
    Net(IpNet),
}

impl HostMatch {
    pub fn parse(s: &str) -> Option<HostMatch> {
        if s == "*" {
            return Some(HostMatch::Any);
        }
        if let Ok(n) = s.parse::<IpNet>() {
            return Some(HostMatch::Net(n.trunc()));
        }
        s.parse::<IpAddr>()
            .ok()
            .map(|a| HostMatch::Net(IpNet::from(a)))
    }

    fn matches(&self, ip: IpAddr) -> bool {
        match self {
            HostMatch::Any => true,
            // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
            HostMatch::Net(n) => n.contains(&ip) || canonical(ip).is_some_and(|v| n.contains(&v)),
        }
    }
}

fn canonical(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    }
}

impl std::fmt::Display for HostMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostMatch::Any => f.write_str("*"),
            HostMatch::Net(n) if n.prefix_len() == n.max_prefix_len() => write!(f, "{}", n.addr()),
            HostMatch::Net(n) => write!(f, "{n}"),
        }
    }
}

/// One permission for one operation on a resource pattern, for one principal and host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Binding {
    pub permission: Permission,
    pub op: Op,
    pub resource: ResourceType,
    pub pattern: Pattern,
    pub principal: Principal,
    pub host: HostMatch,
    /// 1-based position of the `[[acl]]` entry it came from (for log lines).
    pub rule: usize,
}

/// Who is asking: the request's identity as the broker sees it.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    /// SASL user or TLS subject; "ANONYMOUS" otherwise.
    pub user: &'a str,
    pub client_id: &'a str,
    /// The consumer's group.id(s): the group the request names, and the group this client
    /// (same connection, or same address and client.id) last used.
    pub groups: &'a [&'a str],
    pub ip: IpAddr,
}

impl Binding {
    fn who_matches(&self, r: &Requester<'_>) -> bool {
        let who = match &self.principal {
            Principal::User(u) => u == "*" || u == r.user,
            Principal::ClientId(c) => c == "*" || c == r.client_id,
            // The seed: a consumer's client.id defaults to its group.id.
            Principal::GroupId(g) => g == "*" || r.groups.contains(&g.as_str()) || g == r.client_id,
        };
        who && self.host.matches(r.ip)
    }

    fn resource_matches(&self, rt: ResourceType, name: &str) -> bool {
        self.resource == rt && self.pattern.matches(name)
    }
}

/// Why a request was allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed { rule: usize },
    DeniedByRule { rule: usize },
    NoMatchingAllow,
}

impl Verdict {
    pub fn allowed(self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Allowed { rule } => write!(f, "allowed by rule {rule}"),
            Verdict::DeniedByRule { rule } => write!(f, "denied by rule {rule}"),
            Verdict::NoMatchingAllow => f.write_str("no allow rule matches"),
        }
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AclSet {
    pub bindings: Vec<Binding>,
}

impl AclSet {
    /// Deny wins; then the first matching allow; else denied.
    pub fn check(&self, op: Op, rt: ResourceType, name: &str, who: &Requester<'_>) -> Verdict {
        let mut allow = None;
        for b in &self.bindings {
            if !b.resource_matches(rt, name) || !b.who_matches(who) {
                continue;
            }
            match b.permission {
                Permission::Deny if b.op.refuses(op) => {
                    return Verdict::DeniedByRule { rule: b.rule }
                }
                Permission::Allow if allow.is_none() && b.op.grants(op) => allow = Some(b.rule),
                _ => {}
            }
        }
        match allow {
            Some(rule) => Verdict::Allowed { rule },
            None => Verdict::NoMatchingAllow,
        }
    }

    /// May `who` do `op` on some resource of type `rt` (Kafka's authorizeByResourceType, for
    /// InitProducerId = write on any topic)? An allow counts unless a deny of the operation
    /// covers everything it allows.
    pub fn check_any(&self, op: Op, rt: ResourceType, who: &Requester<'_>) -> bool {
        let applies = |b: &&Binding| b.resource == rt && b.who_matches(who);
        let denies: Vec<&Binding> = self
            .bindings
            .iter()
            .filter(applies)
            .filter(|b| b.permission == Permission::Deny && b.op.refuses(op))
            .collect();
        self.bindings
            .iter()
            .filter(applies)
            .filter(|b| b.permission == Permission::Allow && b.op.grants(op))
            .any(|a| !denies.iter().any(|d| covers(&d.pattern, &a.pattern)))
    }
}

/// Does `outer` match every name `inner` matches?
fn covers(outer: &Pattern, inner: &Pattern) -> bool {
    match (outer, inner) {
        (Pattern::Literal(o), _) if o == "*" => true,
        (Pattern::Literal(o), Pattern::Literal(i)) => o == i,
        (Pattern::Prefix(o), Pattern::Literal(i)) => i != "*" && i.starts_with(o.as_str()),
        (Pattern::Prefix(o), Pattern::Prefix(i)) => i.starts_with(o.as_str()),
        (Pattern::Literal(_), Pattern::Prefix(_)) => false,
    }
}

/// One `[[acl]]` entry of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    pub permission: String,
    pub operations: Vec<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub topic_prefix: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub group_prefix: Option<String>,
    #[serde(default)]
    pub cluster: Option<bool>,
    #[serde(default)]
    pub principal: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AclFile {
    #[serde(default)]
    acl: Vec<RuleEntry>,
}

/// A file that is not a valid ACL file: nothing of it is used.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("[[acl]] entry {rule}: {reason}")]
    Rule { rule: usize, reason: String },
}

/// Parses an ACL file. Any invalid entry makes the whole file invalid (never half a file).
pub fn parse(text: &str) -> Result<AclSet, ParseError> {
    let f: AclFile = toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
    let mut bindings = Vec::new();
    for (i, e) in f.acl.iter().enumerate() {
        let rule = i + 1;
        entry_bindings(e, rule, &mut bindings)
            .map_err(|reason| ParseError::Rule { rule, reason })?;
    }
    Ok(AclSet { bindings })
}

fn entry_bindings(e: &RuleEntry, rule: usize, out: &mut Vec<Binding>) -> Result<(), String> {
    let permission = match e.permission.as_str() {
        "allow" => Permission::Allow,
        "deny" => Permission::Deny,
        p => return Err(format!("permission {p:?}: want \"allow\" or \"deny\"")),
    };
    if e.operations.is_empty() {
        return Err("operations is empty".to_string());
    }
    let mut ops = Vec::new();
    for o in &e.operations {
        ops.push(
            Op::parse(o).ok_or_else(|| {
                format!("operation {o:?}: want read, write, describe, admin or all")
            })?,
        );
    }
    let (resource, pattern) = entry_resource(e)?;
    let principal = match (&e.principal, &e.client_id, &e.group_id) {
        (None, None, None) => Principal::User("*".to_string()),
        (Some(p), None, None) => Principal::parse(p).ok_or_else(|| {
            format!("principal {p:?}: want \"User:NAME\", \"ClientId:ID\" or \"GroupId:ID\"")
        })?,
        (None, Some(c), None) if !c.is_empty() => Principal::ClientId(c.clone()),
        (None, None, Some(g)) if !g.is_empty() => Principal::GroupId(g.clone()),
        _ => {
            return Err(
                "give at most one of principal, client_id, group_id (non-empty)".to_string(),
            )
        }
    };
    let host = match &e.host {
        None => HostMatch::Any,
        Some(h) => HostMatch::parse(h)
            .ok_or_else(|| format!("host {h:?}: want an IP address, a CIDR or \"*\""))?,
    };
    for op in ops {
        out.push(Binding {
            permission,
            op,
            resource,
            pattern: pattern.clone(),
            principal: principal.clone(),
            host: host.clone(),
            rule,
        });
    }
    Ok(())
}

fn entry_resource(e: &RuleEntry) -> Result<(ResourceType, Pattern), String> {
    let mut found = Vec::new();
    let nonempty = |what: &str, v: &String| {
        if v.is_empty() {
            Err(format!("{what} must not be empty"))
        } else {
            Ok(v.clone())
        }
    };
    if let Some(t) = &e.topic {
        found.push((ResourceType::Topic, Pattern::Literal(nonempty("topic", t)?)));
    }
    if let Some(t) = &e.topic_prefix {
        found.push((
            ResourceType::Topic,
            Pattern::Prefix(nonempty("topic_prefix", t)?),
        ));
    }
    if let Some(g) = &e.group {
        found.push((ResourceType::Group, Pattern::Literal(nonempty("group", g)?)));
    }
    if let Some(g) = &e.group_prefix {
        found.push((
            ResourceType::Group,
            Pattern::Prefix(nonempty("group_prefix", g)?),
        ));
    }
    match e.cluster {
        Some(true) => found.push((
            ResourceType::Cluster,
            Pattern::Literal(CLUSTER_NAME.to_string()),
        )),
        Some(false) => return Err("cluster = false: omit it".to_string()),
        None => {}
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(
            "give exactly one of topic, topic_prefix, group, group_prefix, cluster = true"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests;
