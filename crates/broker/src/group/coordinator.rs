//! The consumer-group coordinator: the pure [`Groups`] state machine behind one mutex, plus
//! what it cannot do itself — parked JoinGroup/SyncGroup requests (oneshot channels), tokio
//! timers, the clock, member ids, and recording group metadata.
//!
//! Nothing awaits while holding the mutex: each call takes the lock, runs one transition,
//! releases it, then carries out the returned effects.

use super::state::{
    Assignment, Effect, GroupDescription, GroupListing, Groups, JoinOutcome, JoinParams,
    JoinResult, SyncOutcome, SyncResult,
};
use kafka_protocol::ResponseError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// (group, member) → the parked request's answer channel.
type Waiters<T> = HashMap<(String, String), oneshot::Sender<T>>;

/// Called with a group id when its metadata changed (a generation completed or the group
/// became empty); see [`Effect::Persist`].
pub type PersistHook = Box<dyn Fn(&str) + Send + Sync>;

struct Inner {
    groups: Groups,
    joins: Waiters<JoinResult>,
    syncs: Waiters<SyncResult>,
}

pub struct Coordinator {
    inner: Mutex<Inner>,
    next_member: AtomicU64,
    /// Cancelled at shutdown: stops pending timers.
    cancel: CancellationToken,
    persist: Mutex<Option<PersistHook>>,
}

impl Coordinator {
    pub fn new(initial_delay: Duration, cancel: CancellationToken) -> Arc<Coordinator> {
        Arc::new(Coordinator {
            inner: Mutex::new(Inner {
                groups: Groups::new(initial_delay),
                joins: HashMap::new(),
                syncs: HashMap::new(),
            }),
            next_member: AtomicU64::new(0),
            cancel,
            persist: Mutex::new(None),
        })
    }

    /// Installs what runs on [`Effect::Persist`] (set once at start).
    pub fn set_persist_hook(&self, hook: PersistHook) {
        *self.persist.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_member_id(&self, client_id: &str) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{client_id}-{t:x}-{n}")
    }

    /// Carries out effects; `inner` is the still-held lock (answers go through channels, so
    /// sending under the lock is fine), timers are spawned.
    fn apply(self: &Arc<Self>, inner: &mut Inner, fx: Vec<Effect>) -> Vec<String> {
        let mut persist = Vec::new();
        for e in fx {
            match e {
                Effect::Join {
                    group,
                    member,
                    result,
                } => {
                    if let Some(tx) = inner.joins.remove(&(group, member)) {
                        let _ = tx.send(result);
                    }
                }
                Effect::Sync {
                    group,
                    member,
                    result,
                } => {
                    if let Some(tx) = inner.syncs.remove(&(group, member)) {
                        let _ = tx.send(result);
                    }
                }
                Effect::Timer {
                    group,
                    seq,
                    kind,
                    after,
                } => {
                    let me = self.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = me.cancel.cancelled() => {}
                            _ = tokio::time::sleep(after) => {
                                let mut inner = me.lock();
                                let fx = inner.groups.on_timer(&group, seq, kind, Instant::now());
                                let p = me.apply(&mut inner, fx);
                                drop(inner);
                                me.persist(p);
                            }
                        }
                    });
                }
                Effect::Persist { group } => persist.push(group),
            }
        }
        persist
    }

    /// Runs the persist hook for each group, outside the state lock.
    fn persist(&self, groups: Vec<String>) {
        if groups.is_empty() {
            return;
        }
        let hook = self.persist.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = hook.as_ref() {
            for g in groups {
                h(&g);
            }
        }
    }

    /// JoinGroup: returns once the rebalance this join takes part in has completed.
    pub async fn join(self: &Arc<Self>, p: JoinParams) -> JoinResult {
        let fresh = self.new_member_id(&p.client_id);
        let rx = {
            let mut inner = self.lock();
            let (out, fx) = inner.groups.join(&p, fresh, Instant::now());
            let rx = match out {
                JoinOutcome::Now(r) => {
                    let persist = self.apply(&mut inner, fx);
                    drop(inner);
                    self.persist(persist);
                    return r;
                }
                JoinOutcome::Parked { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    // Replaces (drops) an older parked join of the same member.
                    inner.joins.insert((p.group_id.clone(), member_id), tx);
                    rx
                }
            };
            let persist = self.apply(&mut inner, fx);
            drop(inner);
            self.persist(persist);
            rx
        };
        match rx.await {
            Ok(r) => r,
            // Superseded, or the broker is stopping, before the rebalance ended.
            Err(_) => JoinResult::error(ResponseError::UnknownMemberId, ""),
        }
    }

    /// SyncGroup: the leader's call completes the rebalance; followers wait for it.
    pub async fn sync(
        self: &Arc<Self>,
        group_id: &str,
        generation: i32,
        member_id: &str,
        assignments: Vec<Assignment>,
    ) -> SyncResult {
        let rx = {
            let mut inner = self.lock();
            let (out, fx) = inner.groups.sync(
                group_id,
                generation,
                member_id,
                &assignments,
                Instant::now(),
            );
            let rx = match out {
                SyncOutcome::Parked => {
                    let (tx, rx) = oneshot::channel();
                    inner
                        .syncs
                        .insert((group_id.to_string(), member_id.to_string()), tx);
                    Some(rx)
                }
                SyncOutcome::Now(r) => {
                    let persist = self.apply(&mut inner, fx);
                    drop(inner);
                    self.persist(persist);
                    return r;
                }
            };
            let persist = self.apply(&mut inner, fx);
            drop(inner);
            self.persist(persist);
            rx
        };
        match rx {
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| SyncResult::error(ResponseError::RebalanceInProgress)),
            None => SyncResult::error(ResponseError::RebalanceInProgress),
        }
    }

    /// Heartbeat: tells members whether a rebalance is going on.
    pub fn heartbeat(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        self.lock()
            .groups
            .heartbeat(group_id, generation, member_id, Instant::now())
    }

    /// LeaveGroup: per member id, its error code.
    pub fn leave(self: &Arc<Self>, group_id: &str, member_ids: &[String]) -> Vec<i16> {
        let mut inner = self.lock();
        let (out, fx) = inner.groups.leave(group_id, member_ids, Instant::now());
        let persist = self.apply(&mut inner, fx);
        drop(inner);
        self.persist(persist);
        out
    }

    /// Removes members whose session expired.
    pub fn expire_sessions(self: &Arc<Self>) {
        let mut inner = self.lock();
        let fx = inner.groups.expire_sessions(Instant::now());
        let persist = self.apply(&mut inner, fx);
        drop(inner);
        self.persist(persist);
    }

    /// OffsetCommit admission: NONE when `member_id` of `generation` may commit.
    pub fn validate_commit(&self, group_id: &str, generation: i32, member_id: &str) -> i16 {
        self.lock()
            .groups
            .validate_commit(group_id, generation, member_id, Instant::now())
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        self.lock().groups.describe(group_id)
    }

    /// Every live group, sorted by id.
    pub fn list(&self) -> Vec<GroupListing> {
        self.lock().groups.list()
    }

    /// Drops every parked join/sync (broker shutdown): their requests are answered with the
    /// errors of a closed channel.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.joins.clear();
        inner.syncs.clear();
        inner.groups.clear_parked();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::state::Protocol;
    use bytes::Bytes;

    fn code(e: ResponseError) -> i16 {
        e.code()
    }

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
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: Bytes::from_static(b"m"),
            }],
            require_known_member_id: true,
        }
    }

    fn assign(member: &str, a: &'static [u8]) -> Assignment {
        Assignment {
            member_id: member.to_string(),
            assignment: Bytes::from_static(a),
        }
    }

    #[tokio::test]
    async fn join_sync_rejoin_leave() {
        let c = Coordinator::new(Duration::ZERO, CancellationToken::new());
        let r = c.join(params("")).await;
        assert_eq!(r.error, code(ResponseError::MemberIdRequired));
        let a = r.member_id;
        let r = c.join(params(&a)).await;
        assert_eq!(
            (r.error, r.generation, r.leader.as_str()),
            (0, 1, a.as_str())
        );
        assert_eq!(r.members.len(), 1);
        let s = c.sync("g", 1, &a, vec![assign(&a, b"A")]).await;
        assert_eq!(s.assignment, Bytes::from_static(b"A"));
        assert_eq!(c.heartbeat("g", 1, &a), 0);

        // Second member joins → rebalance; the first learns via heartbeat and rejoins.
        let b = c.join(params("")).await.member_id;
        let c2 = c.clone();
        let bj = tokio::spawn({
            let b = b.clone();
            async move { c2.join(params(&b)).await }
        });
        tokio::task::yield_now().await;
        while c.heartbeat("g", 1, &a) != code(ResponseError::RebalanceInProgress) {
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
            .sync("g", 2, &a, vec![assign(&a, b"1"), assign(&b, b"2")])
            .await;
        assert_eq!(sa.assignment, Bytes::from_static(b"1"));
        assert_eq!(bs.await.expect("sync").assignment, Bytes::from_static(b"2"));
        assert_eq!(c.validate_commit("g", 2, &b), 0);
        assert_eq!(
            c.validate_commit("g", 1, &b),
            code(ResponseError::IllegalGeneration)
        );
        assert_eq!(c.leave("g", std::slice::from_ref(&b)), vec![0]);
        assert_eq!(
            c.heartbeat("g", 2, &a),
            code(ResponseError::RebalanceInProgress)
        );
        let ra = c.join(params(&a)).await;
        assert_eq!(ra.generation, 3);
    }
}
