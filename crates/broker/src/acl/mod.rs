//! Authorization: the ACLs in force (`rules`), where they come from (`store`), and the
//! [`Authorizer`] every request is checked with.
//!
//! The rules are one `Arc<AclSet>` swapped whole on a reload: a request is checked against
//! one generation, a reload never touches connections, and the next request sees the new
//! rules. A source that is unreadable or invalid never opens anything: the last good rules
//! stay (at start, the backup copy; without one, nothing is allowed but to super users).

pub mod rules;
pub mod store;
pub mod view;

pub use rules::{Op, Principal, ResourceType, Verdict};

use crate::metrics::BrokerMetrics;
use rules::{AclSet, Requester};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use store::{NewBinding, Source, StoreError};

/// Distinct (IP, client.id) → group.id associations kept (a bounded map: cleared when full).
const MAX_ASSOCIATIONS: usize = 10_000;
/// Distinct denials logged at warn (then only counted).
const MAX_LOGGED_DENIALS: usize = 10_000;

/// Who is asking, as a connection knows it.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// SASL user, TLS subject, or "ANONYMOUS".
    pub user: &'a str,
    pub client_id: &'a str,
    /// The group this connection last named, if any.
    pub conn_group: Option<&'a str>,
    pub ip: IpAddr,
}

/// The outcome of the last reread of the source, kept for operators (the web console shows
/// it next to the rules in force).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastReload {
    /// When it finished, Unix ms.
    pub at_ms: u64,
    /// The source was read and valid (its rules are in force).
    pub ok: bool,
    /// It made a new generation (false: same text as before, or failed).
    pub changed: bool,
    /// Why it failed; the rules in force stayed.
    pub error: Option<String>,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The outcome of one reload, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The source's rules are in force (`changed`: a new generation).
    Ok { changed: bool },
    /// The source failed; the rules in force stay.
    Failed(String),
}

pub struct Authorizer {
    enabled: bool,
    super_users: HashSet<String>,
    source: Option<Source>,
    backup: PathBuf,
    set: RwLock<Arc<AclSet>>,
    /// The text the rules in force were parsed from (reloads of the same text change nothing).
    text: Mutex<Option<String>>,
    generation: AtomicU64,
    /// Set by every reread of the source (never by admin edits, which answer for themselves).
    last_reload: Mutex<Option<LastReload>>,
    /// Serializes reloads and admin edits.
    edit: Mutex<()>,
    groups: Mutex<HashMap<(IpAddr, String), String>>,
    logged: Mutex<HashSet<String>>,
}

impl Authorizer {
    /// ACLs off: everything is allowed.
    pub fn disabled() -> Authorizer {
        Authorizer::new(false, &[], None, PathBuf::new())
    }

    pub fn new(
        enabled: bool,
        super_users: &[String],
        source: Option<Source>,
        backup: PathBuf,
    ) -> Authorizer {
        let super_users = super_users
            .iter()
            .filter_map(|s| match Principal::parse(s) {
                Some(Principal::User(u)) => Some(u),
                _ => None,
            })
            .collect();
        Authorizer {
            enabled,
            super_users,
            source,
            backup,
            set: RwLock::new(Arc::new(AclSet::default())),
            text: Mutex::new(None),
            generation: AtomicU64::new(0),
            last_reload: Mutex::new(None),
            edit: Mutex::new(()),
            groups: Mutex::new(HashMap::new()),
            logged: Mutex::new(HashSet::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn rules(&self) -> Arc<AclSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn source(&self) -> Option<&Source> {
        self.source.as_ref()
    }

    /// The principals allowed everything (`super_users`), sorted.
    pub fn super_users(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .super_users
            .iter()
            .map(|u| format!("User:{u}"))
            .collect();
        v.sort();
        v
    }

    /// The outcome of the last reread of the source (None before the first, and without a
    /// source).
    pub fn last_reload(&self) -> Option<LastReload> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, r: &Reload) {
        let (ok, changed, error) = match r {
            Reload::Ok { changed } => (true, *changed, None),
            Reload::Failed(e) => (false, false, Some(e.clone())),
        };
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastReload {
            at_ms: unix_ms(),
            ok,
            changed,
            error,
        });
    }

    /// The first load: the source, else the last good copy, else no rules at all (nothing
    /// allowed). Blocking.
    pub fn load_initial(&self, metrics: &BrokerMetrics) {
        if !self.enabled {
            return;
        }
        if let Reload::Failed(why) = self.reload(metrics) {
            match store::read_backup(&self.backup) {
                Ok((set, text)) => {
                    tracing::error!(error = %why, backup = %self.backup.display(),
                        rules = set.bindings.len(), "ACL source unusable at start: using the last good copy");
                    self.install(set, text, metrics);
                }
                Err(e) => tracing::error!(error = %why, backup_error = %e,
                    "ACL source unusable at start and no last good copy: nothing is allowed (but to super users) until the source is fixed"),
            }
        }
    }

    /// Rereads the source; a good new text becomes the rules in force and the last good copy.
    /// Blocking.
    pub fn reload(&self, metrics: &BrokerMetrics) -> Reload {
        let Some(source) = &self.source else {
            return Reload::Ok { changed: false };
        };
        let _g = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let r = self.reread(source, metrics);
        self.remember(&r);
        r
    }

    fn reread(&self, source: &Source, metrics: &BrokerMetrics) -> Reload {
        let read = store::read_source(source)
            .and_then(|text| store::parse(&text, &source.to_string()).map(|s| (s, text)));
        match read {
            Ok((set, text)) => {
                metrics.acl_reloaded(true);
                let same = self
                    .text
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_deref()
                    == Some(text.as_str());
                if same {
                    return Reload::Ok { changed: false };
                }
                self.install(set, text, metrics);
                Reload::Ok { changed: true }
            }
            Err(e) => {
                metrics.acl_reloaded(false);
                Reload::Failed(e.to_string())
            }
        }
    }

    fn install(&self, set: AclSet, text: String, metrics: &BrokerMetrics) {
        let n = set.bindings.len();
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        metrics.acl_installed(generation, n);
        if let Err(e) = store::write_backup(&self.backup, &text) {
            tracing::error!(error = %e, "cannot keep the last good ACL copy");
        }
        *self.text.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
        // Denials logged under the old rules may be worth a line again.
        self.logged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        tracing::info!(generation, bindings = n, "ACLs in force");
    }

    /// Remembers that this client (address + client.id) uses `group`: its fetches are then
    /// checked as that group's (librdkafka fetches on another connection than its group
    /// requests).
    pub fn associate(&self, ip: IpAddr, client_id: &str, group: &str) {
        if !self.enabled || group.is_empty() {
            return;
        }
        let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ip, client_id.to_string());
        if g.get(&key).map(String::as_str) == Some(group) {
            return;
        }
        if g.len() >= MAX_ASSOCIATIONS {
            tracing::warn!(
                entries = g.len(),
                "client → group.id associations full: forgetting them all"
            );
            g.clear();
        }
        g.insert(key, group.to_string());
    }

    /// Checks one operation on one resource. Denials are counted (and the first of each
    /// kind logged).
    pub fn check(
        &self,
        who: &Identity<'_>,
        op: Op,
        rt: ResourceType,
        name: &str,
        request_group: Option<&str>,
        metrics: &BrokerMetrics,
    ) -> bool {
        let v = self.verdict(who, op, rt, name, request_group);
        if !v.allowed() {
            self.denied(who, op, rt, name, v, metrics);
        }
        v.allowed()
    }

    /// [`Authorizer::check`] without counting or logging a denial: for filtering (the topics
    /// of an all-topics Metadata) and for what a request may do besides what it asks.
    pub fn permits(
        &self,
        who: &Identity<'_>,
        op: Op,
        rt: ResourceType,
        name: &str,
        request_group: Option<&str>,
    ) -> bool {
        self.verdict(who, op, rt, name, request_group).allowed()
    }

    fn verdict(
        &self,
        who: &Identity<'_>,
        op: Op,
        rt: ResourceType,
        name: &str,
        request_group: Option<&str>,
    ) -> Verdict {
        if !self.enabled {
            return Verdict::Allowed { rule: 0 };
        }
        if self.super_users.contains(who.user) {
            return Verdict::Allowed { rule: 0 };
        }
        let set = self.rules();
        let assoc = self.associated(who);
        let mut groups: [&str; 3] = [""; 3];
        let mut n = 0;
        for g in [request_group, who.conn_group, assoc.as_deref()]
            .into_iter()
            .flatten()
        {
            groups[n] = g;
            n += 1;
        }
        let r = Requester {
            user: who.user,
            client_id: who.client_id,
            groups: &groups[..n],
            ip: who.ip,
        };
        set.check(op, rt, name, &r)
    }

    /// May `who` do `op` on any resource of type `rt`?
    pub fn check_any(
        &self,
        who: &Identity<'_>,
        op: Op,
        rt: ResourceType,
        metrics: &BrokerMetrics,
    ) -> bool {
        if !self.enabled || self.super_users.contains(who.user) {
            return true;
        }
        let set = self.rules();
        let assoc = self.associated(who);
        let groups: Vec<&str> = [who.conn_group, assoc.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let r = Requester {
            user: who.user,
            client_id: who.client_id,
            groups: &groups,
            ip: who.ip,
        };
        let ok = set.check_any(op, rt, &r);
        if !ok {
            self.denied(who, op, rt, "*", Verdict::NoMatchingAllow, metrics);
        }
        ok
    }

    fn associated(&self, who: &Identity<'_>) -> Option<String> {
        let g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_empty() {
            return None;
        }
        g.get(&(who.ip, who.client_id.to_string())).cloned()
    }

    fn denied(
        &self,
        who: &Identity<'_>,
        op: Op,
        rt: ResourceType,
        name: &str,
        v: Verdict,
        metrics: &BrokerMetrics,
    ) {
        let label = if rt == ResourceType::Topic {
            name.to_string()
        } else {
            format!("{}:{name}", rt.as_str())
        };
        metrics.denied(op.as_str(), &label);
        let key = format!(
            "{}|{}|{}|{}|{label}",
            who.user,
            who.client_id,
            who.ip,
            op.as_str()
        );
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() < MAX_LOGGED_DENIALS && logged.insert(key) {
            tracing::warn!(principal = %format!("User:{}", who.user), client_id = who.client_id,
                host = %who.ip, group = who.conn_group.unwrap_or(""), operation = op.as_str(),
                resource = rt.as_str(), name, outcome = %v,
                "request denied by the ACLs (logged once per client, operation and resource until the ACLs change)");
        }
    }

    /// Adds bindings through the ACL admin APIs (local file source only). Blocking.
    pub fn create(&self, new: &[NewBinding], metrics: &BrokerMetrics) -> Result<(), StoreError> {
        let path = self.editable()?;
        let _g = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let text = store::append(&path, new)?;
        let set = store::parse(&text, &path.display().to_string())?;
        self.install(set, text, metrics);
        Ok(())
    }

    /// Removes every binding of the ACL file that `matches` (the file as it is on disk, which
    /// becomes the rules in force); returns the removed bindings. Blocking.
    pub fn delete(
        &self,
        matches: impl Fn(&rules::Binding) -> bool,
        metrics: &BrokerMetrics,
    ) -> Result<Vec<rules::Binding>, StoreError> {
        let path = self.editable()?;
        let _g = self.edit.lock().unwrap_or_else(|p| p.into_inner());
        let current = store::read_source(&Source::File(path.clone())).or_else(|e| match e {
            StoreError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(String::new())
            }
            e => Err(e),
        })?;
        let set = store::parse(&current, &path.display().to_string())?;
        let gone: Vec<rules::Binding> = set.bindings.into_iter().filter(|b| matches(b)).collect();
        if gone.is_empty() {
            return Ok(gone);
        }
        let pairs: Vec<(usize, Op)> = gone.iter().map(|b| (b.rule, b.op)).collect();
        let text = store::remove(&path, &pairs)?;
        let set = store::parse(&text, &path.display().to_string())?;
        self.install(set, text, metrics);
        Ok(gone)
    }

    fn editable(&self) -> Result<PathBuf, StoreError> {
        match &self.source {
            Some(Source::File(p)) => Ok(p.clone()),
            Some(s @ Source::Url(_)) => Err(StoreError::ReadOnly(s.to_string())),
            None => Err(StoreError::Edit("ACLs are not enabled".to_string())),
        }
    }
}
