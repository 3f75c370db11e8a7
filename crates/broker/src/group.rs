//! Classic consumer-group coordinator: Empty → PreparingRebalance → CompletingRebalance →
//! Stable. JoinGroup and SyncGroup responses are parked on oneshot channels until the
//! rebalance completes; timers (initial delay, rebalance timeout, session expiry) run as
//! tokio tasks that re-enter the coordinator.
//!
//! All state sits behind one mutex; nothing awaits while holding it.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub const NONE: i16 = 0;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const INVALID_GROUP_ID: i16 = 24;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const MEMBER_ID_REQUIRED: i16 = 79;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// A JoinGroup request, decoupled from the wire types.
#[derive(Debug, Clone)]
pub struct JoinParams {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: an unknown member must first fetch its id (MEMBER_ID_REQUIRED).
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, group instance id, metadata); only the leader gets them.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    fn error(error: i16, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            member_id: member_id.to_string(),
            ..JoinResult::default()
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// DescribeGroups output for one group.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

#[derive(Debug)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    assignment: Bytes,
    last_seen: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// In join order; the first joiner leads when the old leader is gone.
    members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED and not yet used.
    pending_ids: HashSet<String>,
    /// Identifies the current rebalance, so stale timers do nothing.
    rebalance_seq: u64,
    /// During the initial delay of an empty group's first rebalance, joins do not complete it.
    in_initial_delay: bool,
}

impl Group {
    fn new() -> Group {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending_ids: HashSet::new(),
            rebalance_seq: 0,
            in_initial_delay: false,
        }
    }
    fn member(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// A request from `member_id` of `generation` is alive: refresh its session. Err with the
    /// error code when the member is unknown or from another generation.
    fn touch(&mut self, member_id: &str, generation: i32) -> Result<GroupState, i16> {
        let (state, gen) = (self.state, self.generation);
        let m = self.member(member_id).ok_or(UNKNOWN_MEMBER_ID)?;
        m.last_seen = Instant::now();
        if generation != gen {
            return Err(ILLEGAL_GENERATION);
        }
        Ok(state)
    }
}

/// Timer work scheduled while holding the lock and started right after.
enum Timer {
    InitialDelay {
        group: String,
        seq: u64,
        after: Duration,
    },
    RebalanceTimeout {
        group: String,
        seq: u64,
        after: Duration,
    },
}

pub struct Coordinator {
    groups: Mutex<HashMap<String, Group>>,
    initial_delay: Duration,
    next_member: AtomicU64,
}

impl Coordinator {
    pub fn new(initial_delay: Duration) -> Arc<Coordinator> {
        Arc::new(Coordinator {
            groups: Mutex::new(HashMap::new()),
            initial_delay,
            next_member: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_member_id(&self, client_id: &str) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{client_id}-{t:x}-{n}")
    }

    fn spawn_timers(self: &Arc<Self>, timers: Vec<Timer>) {
        for t in timers {
            let me = self.clone();
            tokio::spawn(async move {
                match t {
                    Timer::InitialDelay { group, seq, after } => {
                        tokio::time::sleep(after).await;
                        me.on_initial_delay(&group, seq);
                    }
                    Timer::RebalanceTimeout { group, seq, after } => {
                        tokio::time::sleep(after).await;
                        me.on_rebalance_timeout(&group, seq);
                    }
                }
            });
        }
    }

    /// JoinGroup: returns once the rebalance this join takes part in has completed.
    pub async fn join(self: &Arc<Self>, p: JoinParams) -> JoinResult {
        let rx = {
            let mut timers = Vec::new();
            let mut groups = self.lock();
            let r = self.join_locked(&mut groups, &p, &mut timers);
            drop(groups);
            self.spawn_timers(timers);
            match r {
                Ok(rx) => rx,
                Err(res) => return *res,
            }
        };
        match rx.await {
            Ok(r) => r,
            // Removed (left, expired, or the broker is stopping) before the rebalance ended.
            Err(_) => JoinResult::error(UNKNOWN_MEMBER_ID, ""),
        }
    }

    fn join_locked(
        &self,
        groups: &mut HashMap<String, Group>,
        p: &JoinParams,
        timers: &mut Vec<Timer>,
    ) -> Result<oneshot::Receiver<JoinResult>, Box<JoinResult>> {
        if p.group_id.is_empty() {
            return Err(Box::new(JoinResult::error(INVALID_GROUP_ID, &p.member_id)));
        }
        if p.session_timeout_ms <= 0 {
            return Err(Box::new(JoinResult::error(
                INVALID_SESSION_TIMEOUT,
                &p.member_id,
            )));
        }
        let g = groups.entry(p.group_id.clone()).or_insert_with(Group::new);
        if p.protocol_type.is_empty() || p.protocols.is_empty() {
            return Err(Box::new(JoinResult::error(
                INCONSISTENT_GROUP_PROTOCOL,
                &p.member_id,
            )));
        }
        let others: Vec<&Member> = g.members.iter().filter(|m| m.id != p.member_id).collect();
        if !others.is_empty() {
            let same_type = g.protocol_type.as_deref() == Some(p.protocol_type.as_str());
            let common = p
                .protocols
                .iter()
                .any(|(n, _)| others.iter().all(|m| m.supports(n)));
            if !same_type || !common {
                return Err(Box::new(JoinResult::error(
                    INCONSISTENT_GROUP_PROTOCOL,
                    &p.member_id,
                )));
            }
        }
        let now = Instant::now();
        let member_id = if p.member_id.is_empty() {
            let id = self.new_member_id(&p.client_id);
            if p.require_known_member_id {
                g.pending_ids.insert(id.clone());
                return Err(Box::new(JoinResult::error(MEMBER_ID_REQUIRED, &id)));
            }
            id
        } else {
            p.member_id.clone()
        };
        let (tx, rx) = oneshot::channel();
        let session_timeout = Duration::from_millis(p.session_timeout_ms as u64);
        let rebalance_timeout =
            Duration::from_millis(p.rebalance_timeout_ms.max(p.session_timeout_ms) as u64);
        if let Some(m) = g.member(&member_id) {
            m.protocols = p.protocols.clone();
            m.session_timeout = session_timeout;
            m.rebalance_timeout = rebalance_timeout;
            m.last_seen = now;
            // A second parked join from the same member supersedes the first.
            m.join_waiter = Some(tx);
        } else if p.member_id.is_empty() || g.pending_ids.remove(&member_id) {
            g.members.push(Member {
                id: member_id.clone(),
                instance_id: p.group_instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout,
                rebalance_timeout,
                protocols: p.protocols.clone(),
                join_waiter: Some(tx),
                sync_waiter: None,
                assignment: Bytes::new(),
                last_seen: now,
            });
        } else {
            return Err(Box::new(JoinResult::error(UNKNOWN_MEMBER_ID, &p.member_id)));
        }
        if g.protocol_type.is_none() || g.members.len() == 1 {
            g.protocol_type = Some(p.protocol_type.clone());
        }
        match g.state {
            GroupState::Empty => {
                g.state = GroupState::PreparingRebalance;
                g.rebalance_seq += 1;
                if self.initial_delay.is_zero() {
                    g.in_initial_delay = false;
                } else {
                    g.in_initial_delay = true;
                    timers.push(Timer::InitialDelay {
                        group: p.group_id.clone(),
                        seq: g.rebalance_seq,
                        after: self.initial_delay,
                    });
                }
                timers.push(Timer::RebalanceTimeout {
                    group: p.group_id.clone(),
                    seq: g.rebalance_seq,
                    after: rebalance_timeout.max(self.initial_delay),
                });
            }
            GroupState::Stable | GroupState::CompletingRebalance => {
                prepare_rebalance(&p.group_id, g, timers);
            }
            GroupState::PreparingRebalance => {}
        }
        maybe_complete_join(g, false);
        Ok(rx)
    }

    fn on_initial_delay(&self, group: &str, seq: u64) {
        let mut groups = self.lock();
        if let Some(g) = groups.get_mut(group) {
            if g.rebalance_seq == seq && g.state == GroupState::PreparingRebalance {
                g.in_initial_delay = false;
                maybe_complete_join(g, false);
            }
        }
    }

    fn on_rebalance_timeout(&self, group: &str, seq: u64) {
        let mut groups = self.lock();
        if let Some(g) = groups.get_mut(group) {
            if g.rebalance_seq == seq && g.state == GroupState::PreparingRebalance {
                g.in_initial_delay = false;
                maybe_complete_join(g, true);
            }
        }
    }

    /// SyncGroup: the leader's call completes the rebalance; followers wait for it.
    pub async fn sync(
        self: &Arc<Self>,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let rx = {
            let mut groups = self.lock();
            let Some(g) = groups.get_mut(group_id) else {
                return sync_error(UNKNOWN_MEMBER_ID);
            };
            let Some(m) = g.member(member_id) else {
                return sync_error(UNKNOWN_MEMBER_ID);
            };
            m.last_seen = Instant::now();
            if generation != g.generation {
                return sync_error(ILLEGAL_GENERATION);
            }
            match g.state {
                GroupState::Empty => return sync_error(UNKNOWN_MEMBER_ID),
                GroupState::PreparingRebalance => return sync_error(REBALANCE_IN_PROGRESS),
                GroupState::Stable => {
                    let a = g.member(member_id).map(|m| m.assignment.clone());
                    return sync_ok(g, a.unwrap_or_default());
                }
                GroupState::CompletingRebalance => {}
            }
            if g.leader.as_deref() == Some(member_id) {
                for m in g.members.iter_mut() {
                    m.assignment = assignments
                        .iter()
                        .find(|(id, _)| *id == m.id)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default();
                }
                g.state = GroupState::Stable;
                let (pt, pn) = (g.protocol_type.clone(), g.protocol_name.clone());
                for m in g.members.iter_mut() {
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncResult {
                            error: NONE,
                            protocol_type: pt.clone(),
                            protocol_name: pn.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
                let a = g.member(member_id).map(|m| m.assignment.clone());
                return sync_ok(g, a.unwrap_or_default());
            }
            let (tx, rx) = oneshot::channel();
            if let Some(m) = g.member(member_id) {
                m.sync_waiter = Some(tx);
            }
            rx
        };
        rx.await
            .unwrap_or_else(|_| sync_error(REBALANCE_IN_PROGRESS))
    }

    /// Heartbeat: tells members whether a rebalance is going on.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut groups = self.lock();
        let Some(g) = groups.get_mut(group_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        let state = match g.touch(member_id, generation) {
            Ok(state) => state,
            Err(code) => return code,
        };
        match state {
            GroupState::PreparingRebalance => REBALANCE_IN_PROGRESS,
            GroupState::Empty => UNKNOWN_MEMBER_ID,
            GroupState::Stable | GroupState::CompletingRebalance => NONE,
        }
    }

    /// LeaveGroup: per member id, its error code.
    pub fn leave(self: &Arc<Self>, group_id: &str, member_ids: &[String]) -> Vec<i16> {
        let mut timers = Vec::new();
        let mut groups = self.lock();
        let out = match groups.get_mut(group_id) {
            None => member_ids.iter().map(|_| UNKNOWN_MEMBER_ID).collect(),
            Some(g) => {
                let out: Vec<i16> = member_ids
                    .iter()
                    .map(|id| {
                        if remove_member(g, id) {
                            tracing::info!(group = group_id, member = %id, "member left group");
                            NONE
                        } else {
                            UNKNOWN_MEMBER_ID
                        }
                    })
                    .collect();
                if out.contains(&NONE) {
                    on_members_removed(group_id, g, &mut timers);
                }
                out
            }
        };
        drop(groups);
        self.spawn_timers(timers);
        out
    }

    /// Removes members whose session expired (not counting members parked in a join or sync,
    /// whose liveness is bounded by the rebalance timeout instead).
    pub fn expire_sessions(self: &Arc<Self>) {
        let now = Instant::now();
        let mut timers = Vec::new();
        let mut groups = self.lock();
        for (name, g) in groups.iter_mut() {
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| {
                    m.join_waiter.is_none()
                        && m.sync_waiter.is_none()
                        && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|m| m.id.clone())
                .collect();
            if expired.is_empty() {
                continue;
            }
            for id in &expired {
                tracing::info!(group = %name, member = %id, "member session expired");
                remove_member(g, id);
            }
            on_members_removed(name, g, &mut timers);
        }
        drop(groups);
        self.spawn_timers(timers);
    }

    /// OffsetCommit admission: NONE when `member_id` of `generation` may commit.
    pub fn validate_commit(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        let mut groups = self.lock();
        let Some(g) = groups.get_mut(group_id) else {
            // No live group: only "simple" commits (no generation) are allowed.
            return if generation < 0 {
                NONE
            } else {
                ILLEGAL_GENERATION
            };
        };
        if generation < 0 && member_id.is_empty() {
            return if g.members.is_empty() {
                NONE
            } else {
                ILLEGAL_GENERATION
            };
        }
        match g.touch(member_id, generation) {
            Err(code) => code,
            Ok(GroupState::CompletingRebalance) => REBALANCE_IN_PROGRESS,
            Ok(_) => NONE,
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let groups = self.lock();
        let g = groups.get(group_id)?;
        let proto = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if g.state == GroupState::Stable {
                proto.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .iter()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                        m.metadata_for(&proto),
                        m.assignment.clone(),
                    )
                })
                .collect(),
        })
    }

    /// (group id, protocol type, state) of every live group.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let groups = self.lock();
        let mut v: Vec<_> = groups
            .iter()
            .map(|(n, g)| {
                (
                    n.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Drops every parked join/sync (broker shutdown).
    pub fn close(&self) {
        let mut groups = self.lock();
        for g in groups.values_mut() {
            for m in g.members.iter_mut() {
                m.join_waiter = None;
                m.sync_waiter = None;
            }
        }
    }
}

fn sync_error(error: i16) -> SyncResult {
    SyncResult {
        error,
        ..SyncResult::default()
    }
}

fn sync_ok(g: &Group, assignment: Bytes) -> SyncResult {
    SyncResult {
        error: NONE,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        assignment,
    }
}

fn remove_member(g: &mut Group, id: &str) -> bool {
    let before = g.members.len();
    g.members.retain(|m| m.id != id);
    before != g.members.len()
}

/// After members left or expired: rebalance (or become Empty).
fn on_members_removed(name: &str, g: &mut Group, timers: &mut Vec<Timer>) {
    match g.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            if g.members.is_empty() {
                become_empty(g);
            } else {
                prepare_rebalance(name, g, timers);
            }
        }
        GroupState::PreparingRebalance => maybe_complete_join(g, false),
        GroupState::Empty => {}
    }
}

fn become_empty(g: &mut Group) {
    g.generation += 1;
    g.state = GroupState::Empty;
    g.leader = None;
    g.protocol_name = None;
    g.rebalance_seq += 1;
}

/// Stable/CompletingRebalance → PreparingRebalance: parked syncs are told to rejoin and a
/// rebalance timeout bounds how long absent members are waited for.
fn prepare_rebalance(name: &str, g: &mut Group, timers: &mut Vec<Timer>) {
    g.state = GroupState::PreparingRebalance;
    g.rebalance_seq += 1;
    g.in_initial_delay = false;
    let mut timeout = Duration::from_secs(1);
    for m in g.members.iter_mut() {
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(sync_error(REBALANCE_IN_PROGRESS));
        }
        timeout = timeout.max(m.rebalance_timeout);
    }
    tracing::debug!(
        group = name,
        generation = g.generation,
        "preparing rebalance"
    );
    timers.push(Timer::RebalanceTimeout {
        group: name.to_string(),
        seq: g.rebalance_seq,
        after: timeout,
    });
}

/// Completes the join phase when every member has rejoined (or, when `force`, drops those
/// that have not): bumps the generation, picks the protocol and leader, answers the joins.
fn maybe_complete_join(g: &mut Group, force: bool) {
    if g.state != GroupState::PreparingRebalance || g.in_initial_delay {
        return;
    }
    let all_joined = g.members.iter().all(|m| m.join_waiter.is_some());
    if !all_joined && !force {
        return;
    }
    g.members.retain(|m| m.join_waiter.is_some());
    if g.members.is_empty() {
        become_empty(g);
        return;
    }
    // The first protocol (in the first member's preference order) that everyone supports.
    let protocol = g.members[0]
        .protocols
        .iter()
        .map(|(n, _)| n.clone())
        .find(|n| g.members.iter().all(|m| m.supports(n)));
    let Some(protocol) = protocol else {
        for m in g.members.iter_mut() {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult::error(INCONSISTENT_GROUP_PROTOCOL, &m.id));
            }
        }
        g.members.clear();
        become_empty(g);
        return;
    };
    g.generation += 1;
    g.protocol_name = Some(protocol.clone());
    let leader = match &g.leader {
        Some(l) if g.members.iter().any(|m| &m.id == l) => l.clone(),
        _ => g.members[0].id.clone(),
    };
    g.leader = Some(leader.clone());
    g.state = GroupState::CompletingRebalance;
    let now = Instant::now();
    let all: Vec<(String, Option<String>, Bytes)> = g
        .members
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                m.instance_id.clone(),
                m.metadata_for(&protocol),
            )
        })
        .collect();
    tracing::info!(generation = g.generation, members = all.len(), leader = %leader,
        protocol = %protocol, "rebalance completed join phase");
    let pt = g.protocol_type.clone();
    for m in g.members.iter_mut() {
        m.last_seen = now;
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(JoinResult {
                error: NONE,
                generation: g.generation,
                protocol_type: pt.clone(),
                protocol_name: Some(protocol.clone()),
                leader: leader.clone(),
                member_id: m.id.clone(),
                members: if m.id == leader {
                    all.clone()
                } else {
                    Vec::new()
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(member: &str) -> JoinParams {
        JoinParams {
            group_id: "g".into(),
            member_id: member.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: true,
        }
    }

    #[tokio::test]
    async fn join_sync_rejoin_leave() {
        let c = Coordinator::new(Duration::ZERO);
        let r = c.join(params("")).await;
        assert_eq!(r.error, MEMBER_ID_REQUIRED);
        let a = r.member_id;
        let r = c.join(params(&a)).await;
        assert_eq!(
            (r.error, r.generation, r.leader.as_str()),
            (NONE, 1, a.as_str())
        );
        assert_eq!(r.members.len(), 1);
        let s = c
            .sync("g", 1, &a, vec![(a.clone(), Bytes::from_static(b"A"))])
            .await;
        assert_eq!(s.assignment, Bytes::from_static(b"A"));
        assert_eq!(c.heartbeat("g", 1, &a), NONE);

        // Second member joins → rebalance; the first learns via heartbeat and rejoins.
        let b = c.join(params("")).await.member_id;
        let c2 = c.clone();
        let bj = tokio::spawn({
            let b = b.clone();
            async move { c2.join(params(&b)).await }
        });
        tokio::task::yield_now().await;
        while c.heartbeat("g", 1, &a) != REBALANCE_IN_PROGRESS {
            tokio::task::yield_now().await;
        }
        let ra = c.join(params(&a)).await;
        let rb = bj.await.expect("join task");
        assert_eq!((ra.generation, rb.generation), (2, 2));
        assert_eq!(ra.members.len(), 2, "leader sees all members");
        assert!(rb.members.is_empty());
        let c3 = c.clone();
        let bs = tokio::spawn({
            let b = b.clone();
            async move { c3.sync("g", 2, &b, vec![]).await }
        });
        let sa = c
            .sync(
                "g",
                2,
                &a,
                vec![
                    (a.clone(), Bytes::from_static(b"1")),
                    (b.clone(), Bytes::from_static(b"2")),
                ],
            )
            .await;
        assert_eq!(sa.assignment, Bytes::from_static(b"1"));
        assert_eq!(bs.await.expect("sync").assignment, Bytes::from_static(b"2"));
        assert_eq!(c.validate_commit("g", 2, &b), NONE);
        assert_eq!(c.validate_commit("g", 1, &b), ILLEGAL_GENERATION);
        assert_eq!(c.leave("g", std::slice::from_ref(&b)), vec![NONE]);
        assert_eq!(c.heartbeat("g", 2, &a), REBALANCE_IN_PROGRESS);
        let ra = c.join(params(&a)).await;
        assert_eq!(ra.generation, 3);
    }
}
