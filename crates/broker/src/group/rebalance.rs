//! One group's data and the transitions that touch only that group (remove a member,
//! prepare or complete a rebalance, become empty). [`super::state::Groups`] routes calls here.

use super::state::{Effect, TimerKind};
use super::{GroupState, JoinResult, JoinedMember, Protocol, SyncResult, NONE};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) session_timeout: Duration,
    pub(super) rebalance_timeout: Duration,
    pub(super) protocols: Vec<Protocol>,
    pub(super) awaiting_join: bool,
    pub(super) awaiting_sync: bool,
    pub(super) assignment: Bytes,
    pub(super) last_seen: Instant,
}

impl Member {
    pub(super) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }
    pub(super) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) name: String,
    pub(super) state: GroupState,
    pub(super) generation: i32,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) leader: Option<String>,
    /// In join order; the first joiner leads when the old leader is gone.
    pub(super) members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED and not yet used.
    pub(super) pending_ids: HashSet<String>,
    /// Identifies the current rebalance, so stale timers do nothing.
    pub(super) rebalance_seq: u64,
    /// During the initial delay of an empty group's first rebalance, joins do not complete it.
    pub(super) in_initial_delay: bool,
}

impl Group {
    pub(super) fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
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

    pub(super) fn member(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// A request from `member_id` of `generation` is alive: refresh its session. Err with the
    /// error when the member is unknown or from another generation.
    pub(super) fn touch(
        &mut self,
        member_id: &str,
        generation: i32,
        now: Instant,
    ) -> Result<GroupState, ResponseError> {
        let (state, gen) = (self.state, self.generation);
        let m = self
            .member(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        m.last_seen = now;
        if generation != gen {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(state)
    }

    pub(super) fn sync_ok(&self, assignment: Bytes) -> SyncResult {
        SyncResult {
            error: NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    /// Removes a member, answering its parked requests as if its channel had been dropped.
    pub(super) fn remove_member(&mut self, id: &str, fx: &mut Vec<Effect>) -> bool {
        let Some(i) = self.members.iter().position(|m| m.id == id) else {
            return false;
        };
        let m = self.members.remove(i);
        if m.awaiting_join {
            fx.push(Effect::Join {
                group: self.name.clone(),
                member: m.id.clone(),
                result: JoinResult::error(ResponseError::UnknownMemberId, ""),
            });
        }
        if m.awaiting_sync {
            fx.push(Effect::Sync {
                group: self.name.clone(),
                member: m.id,
                result: SyncResult::error(ResponseError::RebalanceInProgress),
            });
        }
        true
    }

    /// After members left or expired: rebalance (or become Empty).
    pub(super) fn on_members_removed(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.become_empty(fx);
                } else {
                    self.prepare_rebalance(fx);
                }
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(false, now, fx),
            GroupState::Empty => {}
        }
    }

    pub(super) fn become_empty(&mut self, fx: &mut Vec<Effect>) {
        self.generation += 1;
        self.state = GroupState::Empty;
        self.leader = None;
        self.protocol_name = None;
        self.rebalance_seq += 1;
        fx.push(Effect::Persist {
            group: self.name.clone(),
        });
    }

    /// Stable/CompletingRebalance → PreparingRebalance: parked syncs are told to rejoin and a
    /// rebalance timeout bounds how long absent members are waited for.
    pub(super) fn prepare_rebalance(&mut self, fx: &mut Vec<Effect>) {
        self.state = GroupState::PreparingRebalance;
        self.rebalance_seq += 1;
        self.in_initial_delay = false;
        let mut timeout = Duration::from_secs(1);
        for m in self.members.iter_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                fx.push(Effect::Sync {
                    group: self.name.clone(),
                    member: m.id.clone(),
                    result: SyncResult::error(ResponseError::RebalanceInProgress),
                });
            }
            timeout = timeout.max(m.rebalance_timeout);
        }
        tracing::debug!(
            group = %self.name,
            generation = self.generation,
            "preparing rebalance"
        );
        fx.push(Effect::Timer {
            group: self.name.clone(),
            seq: self.rebalance_seq,
            kind: TimerKind::RebalanceTimeout,
            after: timeout,
        });
    }

    /// Completes the join phase when every member has rejoined (or, when `force`, drops those
    /// that have not): bumps the generation, picks the protocol and leader, answers the joins.
    pub(super) fn maybe_complete_join(&mut self, force: bool, now: Instant, fx: &mut Vec<Effect>) {
        if self.state != GroupState::PreparingRebalance || self.in_initial_delay {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.awaiting_join);
        if !all_joined && !force {
            return;
        }
        // Members that did not rejoin in time have no parked request to answer.
        self.members.retain(|m| m.awaiting_join);
        if self.members.is_empty() {
            self.become_empty(fx);
            return;
        }
        // The first protocol (in the first member's preference order) that everyone supports.
        let protocol = self.members[0]
            .protocols
            .iter()
            .map(|p| p.name.clone())
            .find(|n| self.members.iter().all(|m| m.supports(n)));
        let Some(protocol) = protocol else {
            for m in self.members.drain(..) {
                fx.push(Effect::Join {
                    group: self.name.clone(),
                    result: JoinResult::error(ResponseError::InconsistentGroupProtocol, &m.id),
                    member: m.id,
                });
            }
            self.become_empty(fx);
            return;
        };
        self.generation += 1;
        self.protocol_name = Some(protocol.clone());
        let leader = match &self.leader {
            Some(l) if self.members.iter().any(|m| &m.id == l) => l.clone(),
            _ => self.members[0].id.clone(),
        };
        self.leader = Some(leader.clone());
        self.state = GroupState::CompletingRebalance;
        let all: Vec<JoinedMember> = self
            .members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect();
        tracing::info!(group = %self.name, generation = self.generation, members = all.len(),
            leader = %leader, protocol = %protocol, "rebalance completed join phase");
        for m in self.members.iter_mut() {
            // The rebalance just heard from every member: restart their session clocks.
            m.last_seen = now;
            m.awaiting_join = false;
            fx.push(Effect::Join {
                group: self.name.clone(),
                member: m.id.clone(),
                result: JoinResult {
                    error: NONE,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: Some(protocol.clone()),
                    leader: leader.clone(),
                    member_id: m.id.clone(),
                    members: if m.id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    },
                },
            });
        }
    }
}
