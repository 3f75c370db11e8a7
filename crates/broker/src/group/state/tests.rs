//! The pure state machine driven with a hand-made clock: every answer a parked request gets
//! is an effect, so the tests read them directly.

use super::*;

fn c(e: ResponseError) -> i16 {
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
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"m"),
        }],
        require_known_member_id: false,
    }
}

/// The join answers among `fx`, by member.
fn joins(fx: &[Effect]) -> HashMap<String, JoinResult> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Join { member, result, .. } => Some((member.clone(), result.clone())),
            _ => None,
        })
        .collect()
}

fn syncs(fx: &[Effect]) -> HashMap<String, SyncResult> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Sync { member, result, .. } => Some((member.clone(), result.clone())),
            _ => None,
        })
        .collect()
}

fn timers(fx: &[Effect]) -> Vec<(u64, TimerKind, Duration)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Timer {
                seq, kind, after, ..
            } => Some((*seq, *kind, *after)),
            _ => None,
        })
        .collect()
}

fn parked(out: JoinOutcome) -> String {
    match out {
        JoinOutcome::Parked { member_id } => member_id,
        JoinOutcome::Now(r) => panic!("expected a parked join, got {r:?}"),
    }
}

fn assign(member: &str, a: &'static [u8]) -> Assignment {
    Assignment {
        member_id: member.to_string(),
        assignment: Bytes::from_static(a),
    }
}

/// A one-member Stable group at generation 1; returns the member id.
fn stable_one(g: &mut Groups, t0: Instant) -> String {
    let (out, fx) = g.join(&params(""), "a".into(), t0);
    let a = parked(out);
    assert_eq!(joins(&fx)[&a].generation, 1);
    let (out, _) = g.sync("g", 1, &a, &[assign(&a, b"A")], t0);
    assert!(matches!(out, SyncOutcome::Now(ref r) if r.assignment == Bytes::from_static(b"A")));
    a
}

#[test]
fn member_id_required_then_join_completes_at_once_without_delay() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let mut p = params("");
    p.require_known_member_id = true;
    let (out, fx) = g.join(&p, "m-1".into(), t0);
    assert_eq!(
        out,
        JoinOutcome::Now(JoinResult::error(ResponseError::MemberIdRequired, "m-1"))
    );
    assert!(fx.is_empty());
    // An id never handed out is refused.
    let (out, _) = g.join(&params("forged"), "x".into(), t0);
    assert!(matches!(out, JoinOutcome::Now(r) if r.error == c(ResponseError::UnknownMemberId)));
    let (out, fx) = g.join(&params("m-1"), "unused".into(), t0);
    assert_eq!(parked(out), "m-1");
    let j = &joins(&fx)["m-1"];
    assert_eq!((j.error, j.generation, j.leader.as_str()), (0, 1, "m-1"));
    assert_eq!(j.members.len(), 1);
    assert_eq!(
        timers(&fx),
        vec![(1, TimerKind::RebalanceTimeout, Duration::from_secs(30))]
    );
}

#[test]
fn initial_delay_holds_the_first_rebalance_until_its_timer() {
    let mut g = Groups::new(Duration::from_secs(3));
    let t0 = Instant::now();
    let (out, fx) = g.join(&params(""), "a".into(), t0);
    let a = parked(out);
    assert!(joins(&fx).is_empty(), "held by the initial delay");
    assert_eq!(
        timers(&fx),
        vec![
            (1, TimerKind::InitialDelay, Duration::from_secs(3)),
            (1, TimerKind::RebalanceTimeout, Duration::from_secs(30)),
        ]
    );
    let (out, fx) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    assert!(joins(&fx).is_empty());
    // A stale timer (wrong seq) does nothing.
    assert!(g.on_timer("g", 0, TimerKind::InitialDelay, t0).is_empty());
    let fx = g.on_timer("g", 1, TimerKind::InitialDelay, t0 + Duration::from_secs(3));
    let j = joins(&fx);
    assert_eq!(j.len(), 2);
    assert_eq!(j[&a].leader, a, "first joiner leads");
    assert_eq!(j[&a].members.len(), 2);
    assert!(j[&b].members.is_empty());
    assert_eq!(
        g.describe("g").map(|d| d.state),
        Some("CompletingRebalance")
    );
}

#[test]
fn followers_wait_for_the_leaders_sync() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let a = stable_one(&mut g, t0);
    let (out, fx) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    assert!(joins(&fx).is_empty(), "waits for a to rejoin");
    assert_eq!(
        g.heartbeat("g", 1, &a, t0),
        c(ResponseError::RebalanceInProgress)
    );
    let (_, fx) = g.join(&params(&a), "unused".into(), t0);
    let j = joins(&fx);
    assert_eq!((j[&a].generation, j[&b].generation), (2, 2));
    let (out, fx) = g.sync("g", 2, &b, &[], t0);
    assert_eq!(out, SyncOutcome::Parked);
    assert!(fx.is_empty());
    let (out, fx) = g.sync("g", 2, &a, &[assign(&a, b"1"), assign(&b, b"2")], t0);
    assert!(matches!(out, SyncOutcome::Now(ref r) if r.assignment == Bytes::from_static(b"1")));
    assert_eq!(syncs(&fx)[&b].assignment, Bytes::from_static(b"2"));
    assert!(fx.contains(&Effect::Persist { group: "g".into() }));
    assert_eq!(g.heartbeat("g", 2, &b, t0), 0);
    assert_eq!(
        g.heartbeat("g", 1, &b, t0),
        c(ResponseError::IllegalGeneration)
    );
    assert_eq!(g.validate_commit("g", 2, &b, t0), 0);
    assert_eq!(
        g.validate_commit("g", 1, &b, t0),
        c(ResponseError::IllegalGeneration)
    );
}

#[test]
fn leave_rebalances_and_the_last_leave_empties_the_group() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let a = stable_one(&mut g, t0);
    let (out, _) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    g.join(&params(&a), "unused".into(), t0);
    g.sync("g", 2, &a, &[assign(&a, b"1"), assign(&b, b"2")], t0);
    let (codes, fx) = g.leave("g", &[b.clone(), "nobody".into()], t0);
    assert_eq!(codes, vec![0, c(ResponseError::UnknownMemberId)]);
    assert_eq!(timers(&fx).len(), 1, "rebalance timeout armed");
    assert_eq!(
        g.heartbeat("g", 2, &a, t0),
        c(ResponseError::RebalanceInProgress)
    );
    let (_, fx) = g.join(&params(&a), "unused".into(), t0);
    assert_eq!(joins(&fx)[&a].generation, 3);
    let (codes, fx) = g.leave("g", &[a], t0);
    assert_eq!(codes, vec![0]);
    assert!(fx.contains(&Effect::Persist { group: "g".into() }));
    let d = g.describe("g").expect("group");
    assert_eq!((d.state, d.generation), ("Empty", 4));
    // An empty group takes simple commits again.
    assert_eq!(g.validate_commit("g", -1, "", t0), 0);
}

#[test]
fn leaving_while_parked_answers_the_parked_join() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let a = stable_one(&mut g, t0);
    let (out, _) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    let (_, fx) = g.leave("g", std::slice::from_ref(&b), t0);
    assert_eq!(
        joins(&fx)[&b],
        JoinResult::error(ResponseError::UnknownMemberId, "")
    );
    // Only a remains and has not rejoined yet.
    let (_, fx) = g.join(&params(&a), "unused".into(), t0);
    assert_eq!(joins(&fx)[&a].members.len(), 1);
}

#[test]
fn sessions_expire_by_the_given_clock_but_not_while_parked() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let a = stable_one(&mut g, t0);
    let (out, _) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    // 10 s session: not yet at +9 s; b is parked in a join and never expires.
    assert!(g.expire_sessions(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(
        g.heartbeat("g", 1, &a, t0 + Duration::from_secs(5)),
        c(ResponseError::RebalanceInProgress)
    );
    // The heartbeat at +5 s refreshed a: still alive at +14 s, gone at +16 s.
    assert!(g.expire_sessions(t0 + Duration::from_secs(14)).is_empty());
    let fx = g.expire_sessions(t0 + Duration::from_secs(16));
    // a's departure completes the rebalance with b alone.
    let j = joins(&fx);
    assert_eq!(j[&b].generation, 2);
    assert_eq!(j[&b].leader, b);
    let d = g.describe("g").expect("group");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, b);
}

#[test]
fn rebalance_timeout_drops_members_that_did_not_rejoin() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let a = stable_one(&mut g, t0);
    let (out, fx) = g.join(&params(""), "b".into(), t0);
    let b = parked(out);
    let (seq, kind, after) = timers(&fx)[0];
    assert_eq!(
        (kind, after),
        (TimerKind::RebalanceTimeout, Duration::from_secs(30))
    );
    let fx = g.on_timer("g", seq, kind, t0 + after);
    let j = joins(&fx);
    assert_eq!(j.len(), 1, "only b is answered");
    assert_eq!((j[&b].generation, j[&b].leader.as_str()), (2, b.as_str()));
    assert_eq!(
        g.heartbeat("g", 1, &a, t0),
        c(ResponseError::UnknownMemberId)
    );
}

#[test]
fn no_common_protocol_is_refused() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    stable_one(&mut g, t0);
    let mut p = params("");
    p.protocols = vec![Protocol {
        name: "roundrobin".into(),
        metadata: Bytes::new(),
    }];
    let (out, fx) = g.join(&p, "b".into(), t0);
    assert!(
        matches!(out, JoinOutcome::Now(r) if r.error == c(ResponseError::InconsistentGroupProtocol))
    );
    assert!(fx.is_empty());
    let mut p = params("");
    p.protocol_type = "connect".into();
    let (out, _) = g.join(&p, "b".into(), t0);
    assert!(
        matches!(out, JoinOutcome::Now(r) if r.error == c(ResponseError::InconsistentGroupProtocol))
    );
}

#[test]
fn invalid_joins() {
    let mut g = Groups::new(Duration::ZERO);
    let t0 = Instant::now();
    let mut p = params("");
    p.group_id = String::new();
    assert!(
        matches!(g.join(&p, "x".into(), t0).0, JoinOutcome::Now(r) if r.error == c(ResponseError::InvalidGroupId))
    );
    let mut p = params("");
    p.session_timeout_ms = 0;
    assert!(
        matches!(g.join(&p, "x".into(), t0).0, JoinOutcome::Now(r) if r.error == c(ResponseError::InvalidSessionTimeout))
    );
    assert_eq!(
        g.heartbeat("nope", 1, "x", t0),
        c(ResponseError::UnknownMemberId)
    );
    assert_eq!(g.validate_commit("nope", -1, "", t0), 0);
    assert_eq!(
        g.validate_commit("nope", 3, "x", t0),
        c(ResponseError::IllegalGeneration)
    );
}
