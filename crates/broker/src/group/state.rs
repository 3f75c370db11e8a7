//! The classic consumer-group state machine, pure: Empty → PreparingRebalance →
//! CompletingRebalance → Stable. It owns no channels, timers or clocks: every call takes
//! `now` and returns [`Effect`]s (answer this parked join, arm that timer) that the
//! coordinator carries out. So every transition is unit-testable with a hand-made clock.
//!
//! Invariants: a member with `awaiting_join` has exactly one parked JoinGroup in the
//! coordinator, one with `awaiting_sync` one parked SyncGroup; every effect that answers a
//! parked request clears the matching flag, so each parked request is answered exactly once.

pub use super::{
    Assignment, GroupDescription, GroupListing, GroupState, JoinParams, JoinResult, JoinedMember,
    MemberDescription, Protocol, SyncResult,
};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::rebalance::{Group, Member};
use super::{code, NONE};

/// Which timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// An empty group's first rebalance waits this long for more members.
    InitialDelay,
    /// Absent members are dropped from a rebalance after this.
    RebalanceTimeout,
}

/// What the coordinator must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer `member`'s parked JoinGroup.
    Join {
        group: String,
        member: String,
        result: JoinResult,
    },
    /// Answer `member`'s parked SyncGroup.
    Sync {
        group: String,
        member: String,
        result: SyncResult,
    },
    /// Call [`Groups::on_timer`] with these arguments after `after`. Stale timers (the
    /// rebalance moved on) do nothing, so they need no cancelling.
    Timer {
        group: String,
        seq: u64,
        kind: TimerKind,
        after: Duration,
    },
    /// The group reached a new generation with assignments (or became Empty): its metadata
    /// should be recorded (Kafka writes a GroupMetadata record here).
    Persist { group: String },
}

/// How a join was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Parked: the answer comes as an [`Effect::Join`] for this member id (possibly among the
    /// effects returned with this outcome).
    Parked { member_id: String },
    /// Answered at once, nothing parked.
    Now(JoinResult),
}

/// How a sync was taken.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Parked until the leader's assignment arrives ([`Effect::Sync`]).
    Parked,
    Now(SyncResult),
}

/// Every group of this coordinator.
#[derive(Debug)]
pub struct Groups {
    groups: HashMap<String, Group>,
    initial_delay: Duration,
}

impl Groups {
    pub fn new(initial_delay: Duration) -> Groups {
        Groups {
            groups: HashMap::new(),
            initial_delay,
        }
    }

    /// JoinGroup. `fresh_id` is the id a new member gets.
    pub fn join(
        &mut self,
        p: &JoinParams,
        fresh_id: String,
        now: Instant,
    ) -> (JoinOutcome, Vec<Effect>) {
        let mut fx = Vec::new();
        let out = self.join_inner(p, fresh_id, now, &mut fx);
        (out, fx)
    }

    fn join_inner(
        &mut self,
        p: &JoinParams,
        fresh_id: String,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) -> JoinOutcome {
        let fail = |e: ResponseError| JoinOutcome::Now(JoinResult::error(e, &p.member_id));
        if p.group_id.is_empty() {
            return fail(ResponseError::InvalidGroupId);
        }
        if p.session_timeout_ms <= 0 {
            return fail(ResponseError::InvalidSessionTimeout);
        }
        let initial_delay = self.initial_delay;
        let g = self
            .groups
            .entry(p.group_id.clone())
            .or_insert_with(|| Group::new(&p.group_id));
        if p.protocol_type.is_empty() || p.protocols.is_empty() {
            return fail(ResponseError::InconsistentGroupProtocol);
        }
        let others: Vec<&Member> = g.members.iter().filter(|m| m.id != p.member_id).collect();
        if !others.is_empty() {
            let same_type = g.protocol_type.as_deref() == Some(p.protocol_type.as_str());
            let common = p
                .protocols
                .iter()
                .any(|pr| others.iter().all(|m| m.supports(&pr.name)));
            if !same_type || !common {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
        let member_id = if p.member_id.is_empty() {
            if p.require_known_member_id {
                g.pending_ids.insert(fresh_id.clone());
                return JoinOutcome::Now(JoinResult::error(
                    ResponseError::MemberIdRequired,
                    &fresh_id,
                ));
            }
            fresh_id
        } else {
            p.member_id.clone()
        };
        let session_timeout = Duration::from_millis(p.session_timeout_ms as u64);
        let rebalance_timeout =
            Duration::from_millis(p.rebalance_timeout_ms.max(p.session_timeout_ms) as u64);
        if let Some(m) = g.member(&member_id) {
            m.protocols = p.protocols.clone();
            m.session_timeout = session_timeout;
            m.rebalance_timeout = rebalance_timeout;
            m.last_seen = now;
            // A second parked join from the same member supersedes the first (the coordinator
            // drops the older waiter).
            m.awaiting_join = true;
        } else if p.member_id.is_empty() || g.pending_ids.remove(&member_id) {
            g.members.push(Member {
                id: member_id.clone(),
                instance_id: p.group_instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout,
                rebalance_timeout,
                protocols: p.protocols.clone(),
                awaiting_join: true,
                awaiting_sync: false,
                assignment: Bytes::new(),
                last_seen: now,
            });
        } else {
            return fail(ResponseError::UnknownMemberId);
        }
        if g.protocol_type.is_none() || g.members.len() == 1 {
            g.protocol_type = Some(p.protocol_type.clone());
        }
        match g.state {
            GroupState::Empty => {
                g.state = GroupState::PreparingRebalance;
                g.rebalance_seq += 1;
                if initial_delay.is_zero() {
                    g.in_initial_delay = false;
                } else {
                    g.in_initial_delay = true;
                    fx.push(Effect::Timer {
                        group: p.group_id.clone(),
                        seq: g.rebalance_seq,
                        kind: TimerKind::InitialDelay,
                        after: initial_delay,
                    });
                }
                fx.push(Effect::Timer {
                    group: p.group_id.clone(),
                    seq: g.rebalance_seq,
                    kind: TimerKind::RebalanceTimeout,
                    after: rebalance_timeout.max(initial_delay),
                });
            }
            GroupState::Stable | GroupState::CompletingRebalance => g.prepare_rebalance(fx),
            GroupState::PreparingRebalance => {}
        }
        g.maybe_complete_join(false, now, fx);
        JoinOutcome::Parked { member_id }
    }

    /// A timer armed by an [`Effect::Timer`] fired.
    pub fn on_timer(
        &mut self,
        group: &str,
        seq: u64,
        kind: TimerKind,
        now: Instant,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(g) = self.groups.get_mut(group) {
            if g.rebalance_seq == seq && g.state == GroupState::PreparingRebalance {
                g.in_initial_delay = false;
                g.maybe_complete_join(kind == TimerKind::RebalanceTimeout, now, &mut fx);
            }
        }
        fx
    }

    /// SyncGroup: the leader's call completes the rebalance; followers wait for it.
    pub fn sync(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: &[Assignment],
        now: Instant,
    ) -> (SyncOutcome, Vec<Effect>) {
        let mut fx = Vec::new();
        let now_err = |e| (SyncOutcome::Now(SyncResult::error(e)), Vec::new());
        let Some(g) = self.groups.get_mut(group_id) else {
            return now_err(ResponseError::UnknownMemberId);
        };
        let Some(m) = g.member(member_id) else {
            return now_err(ResponseError::UnknownMemberId);
        };
        m.last_seen = now;
        if generation != g.generation {
            return now_err(ResponseError::IllegalGeneration);
        }
        match g.state {
            GroupState::Empty => return now_err(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => return now_err(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                let a = g.member(member_id).map(|m| m.assignment.clone());
                return (SyncOutcome::Now(g.sync_ok(a.unwrap_or_default())), fx);
            }
            GroupState::CompletingRebalance => {}
        }
        if g.leader.as_deref() != Some(member_id) {
            if let Some(m) = g.member(member_id) {
                m.awaiting_sync = true;
            }
            return (SyncOutcome::Parked, fx);
        }
        for m in g.members.iter_mut() {
            m.assignment = assignments
                .iter()
                .find(|a| a.member_id == m.id)
                .map(|a| a.assignment.clone())
                .unwrap_or_default();
        }
        g.state = GroupState::Stable;
        for i in 0..g.members.len() {
            if g.members[i].awaiting_sync {
                g.members[i].awaiting_sync = false;
                let result = g.sync_ok(g.members[i].assignment.clone());
                fx.push(Effect::Sync {
                    group: g.name.clone(),
                    member: g.members[i].id.clone(),
                    result,
                });
            }
        }
        fx.push(Effect::Persist {
            group: g.name.clone(),
        });
        let a = g.member(member_id).map(|m| m.assignment.clone());
        (SyncOutcome::Now(g.sync_ok(a.unwrap_or_default())), fx)
    }

    /// Heartbeat: tells members whether a rebalance is going on.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        now: Instant,
    ) -> i16 {
        let Some(g) = self.groups.get_mut(group_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        match g.touch(member_id, generation, now) {
            Err(e) => code(e),
            Ok(GroupState::PreparingRebalance) => code(ResponseError::RebalanceInProgress),
            Ok(GroupState::Empty) => code(ResponseError::UnknownMemberId),
            Ok(GroupState::Stable | GroupState::CompletingRebalance) => NONE,
        }
    }

    /// LeaveGroup: per member id, its error code.
    pub fn leave(
        &mut self,
        group_id: &str,
        member_ids: &[String],
        now: Instant,
    ) -> (Vec<i16>, Vec<Effect>) {
        let mut fx = Vec::new();
        let Some(g) = self.groups.get_mut(group_id) else {
            let unknown = code(ResponseError::UnknownMemberId);
            return (member_ids.iter().map(|_| unknown).collect(), fx);
        };
        let out: Vec<i16> = member_ids
            .iter()
            .map(|id| {
                if g.remove_member(id, &mut fx) {
                    tracing::info!(group = group_id, member = %id, "member left group");
                    NONE
                } else {
                    code(ResponseError::UnknownMemberId)
                }
            })
            .collect();
        if out.contains(&NONE) {
            g.on_members_removed(now, &mut fx);
        }
        (out, fx)
    }

    /// Removes members whose session expired by `now` (not counting members parked in a join
    /// or sync, whose liveness is bounded by the rebalance timeout instead).
    pub fn expire_sessions(&mut self, now: Instant) -> Vec<Effect> {
        let mut fx = Vec::new();
        for (name, g) in self.groups.iter_mut() {
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| {
                    !m.awaiting_join
                        && !m.awaiting_sync
                        && now.saturating_duration_since(m.last_seen) > m.session_timeout
                })
                .map(|m| m.id.clone())
                .collect();
            if expired.is_empty() {
                continue;
            }
            for id in &expired {
                tracing::info!(group = %name, member = %id, "member session expired");
                g.remove_member(id, &mut fx);
            }
            g.on_members_removed(now, &mut fx);
        }
        fx
    }

    /// OffsetCommit admission: NONE when `member_id` of `generation` may commit.
    pub fn validate_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        now: Instant,
    ) -> i16 {
        let Some(g) = self.groups.get_mut(group_id) else {
            // No live group: only "simple" commits (no generation) are allowed.
            return if generation < 0 {
                NONE
            } else {
                code(ResponseError::IllegalGeneration)
            };
        };
        if generation < 0 && member_id.is_empty() {
            return if g.members.is_empty() {
                NONE
            } else {
                code(ResponseError::IllegalGeneration)
            };
        }
        match g.touch(member_id, generation, now) {
            Err(e) => code(e),
            Ok(GroupState::CompletingRebalance) => code(ResponseError::RebalanceInProgress),
            Ok(_) => NONE,
        }
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let proto = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state.name(),
            generation: g.generation,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol_name: if g.state == GroupState::Stable {
                proto.clone()
            } else {
                String::new()
            },
            leader: g.leader.clone(),
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis() as i32,
                    session_timeout_ms: m.session_timeout.as_millis() as i32,
                    metadata: m.metadata_for(&proto),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Every live group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|(n, g)| GroupListing {
                group_id: n.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect();
        v.sort();
        v
    }

    /// Forgets every parked request (broker shutdown: the coordinator drops the waiters).
    pub fn clear_parked(&mut self) {
        for g in self.groups.values_mut() {
            for m in g.members.iter_mut() {
                m.awaiting_join = false;
                m.awaiting_sync = false;
            }
        }
    }
}

#[cfg(test)]
mod tests;
