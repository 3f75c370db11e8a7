//! One module per Kafka API. [`handle`] dispatches a decoded request; the advertised version
//! ranges live in [`SUPPORTED`] and nothing else is advertised.

pub mod acls;
pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use super::acl::{Identity, Op, ResourceType};
use super::auth::Session;
use super::state::Broker;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// (api, min version, max version) this broker implements: exactly Apache Kafka 3.9's
/// `validVersions` for each API (clients/src/main/resources/common/message/*.json), which are
/// also the kafka-protocol crate's ranges (a unit test checks both stay in step). Older
/// clients (sarama, kafka-go, Burrow) send the low versions; Kafka 4.0 dropped some of them.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 0, 17),
    (ApiKey::ListOffsets, 0, 9),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 0, 9),
    (ApiKey::OffsetFetch, 0, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 0, 4),
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteTopics, 0, 6),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
];

pub fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, lo, hi)| (lo, hi))
}

/// Error codes come from the kafka-protocol crate's table (one source of truth).
pub use kafka_protocol::ResponseError;

/// Error code 0 (no error).
pub const NONE: i16 = 0;

/// Per-request context.
pub struct Ctx<'a> {
    pub broker: &'a Arc<Broker>,
    pub version: i16,
    pub client_id: &'a str,
    pub peer: SocketAddr,
    /// The connection: listener, principal, group.
    pub session: &'a Session,
}

impl Ctx<'_> {
    /// The advertised host of the listener this request came in on.
    pub fn host(&self) -> &str {
        &self.session.listener.host
    }

    pub fn port(&self) -> i32 {
        self.session.listener.port
    }

    fn identity(&self) -> Identity<'_> {
        Identity {
            user: &self.session.user,
            client_id: self.client_id,
            conn_group: self.session.group.as_deref(),
            ip: self.peer.ip(),
        }
    }

    /// May this client do `op` on topic `name`?
    pub fn topic_allowed(&self, op: Op, name: &str) -> bool {
        self.broker.authz.check(
            &self.identity(),
            op,
            ResourceType::Topic,
            name,
            None,
            &self.broker.metrics,
        )
    }

    /// May this client describe topic `name`? Not counted as a denial (filtering).
    pub fn topic_visible(&self, name: &str) -> bool {
        self.broker.authz.permits(
            &self.identity(),
            Op::Describe,
            ResourceType::Topic,
            name,
            None,
        )
    }

    /// May this client do `op` on group `name` (which is also its group.id)?
    pub fn group_allowed(&self, op: Op, name: &str) -> bool {
        self.broker.authz.check(
            &self.identity(),
            op,
            ResourceType::Group,
            name,
            Some(name),
            &self.broker.metrics,
        )
    }

    /// May this client do `op` on the cluster?
    pub fn cluster_allowed(&self, op: Op) -> bool {
        self.broker.authz.check(
            &self.identity(),
            op,
            ResourceType::Cluster,
            crate::acl::rules::CLUSTER_NAME,
            None,
            &self.broker.metrics,
        )
    }

    /// May this client write some topic (InitProducerId without a transactional id)?
    pub fn any_topic_writable(&self) -> bool {
        self.broker.authz.check_any(
            &self.identity(),
            Op::Write,
            ResourceType::Topic,
            &self.broker.metrics,
        )
    }
}

pub type LaterResponse = Pin<Box<dyn Future<Output = ResponseKind> + Send>>;

/// What to send back, in request order.
pub enum Reply {
    /// acks=0 produce: nothing at all.
    Nothing,
    Now(Box<ResponseKind>),
    /// Ready once the appended data is durable; the connection keeps reading meanwhile.
    Later(LaterResponse),
}

/// A request kind this broker decodes but does not implement (never advertised).
#[derive(Debug, thiserror::Error)]
#[error("unsupported request {0:?}")]
pub struct Unimplemented(pub ApiKey);

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Handles one request to completion (except the durability wait of Produce).
pub async fn handle(ctx: &Ctx<'_>, key: ApiKey, req: RequestKind) -> Result<Reply, Unimplemented> {
    use ResponseKind as R;
    if let Some(refused) = refused_group_request(ctx, &req) {
        return Ok(Reply::Now(Box::new(refused)));
    }
    Ok(Reply::Now(Box::new(match req {
        RequestKind::ApiVersions(_) => R::ApiVersions(api_versions::handle(ctx.version)),
        RequestKind::Metadata(r) => R::Metadata(metadata::handle(ctx, r)),
        RequestKind::Produce(r) => return Ok(produce::handle(ctx, r)),
        RequestKind::Fetch(r) => R::Fetch(fetch::handle(ctx, r).await),
        RequestKind::ListOffsets(r) => R::ListOffsets(list_offsets::handle(ctx, r)),
        RequestKind::InitProducerId(r) => R::InitProducerId(init_producer_id::handle(ctx, r).await),
        RequestKind::FindCoordinator(r) => R::FindCoordinator(find_coordinator::handle(ctx, r)),
        RequestKind::JoinGroup(r) => R::JoinGroup(join_group::handle(ctx, r).await),
        RequestKind::SyncGroup(r) => R::SyncGroup(sync_group::handle(ctx, r).await),
        RequestKind::Heartbeat(r) => R::Heartbeat(heartbeat::handle(ctx, r)),
        RequestKind::LeaveGroup(r) => R::LeaveGroup(leave_group::handle(ctx, r)),
        RequestKind::OffsetCommit(r) => R::OffsetCommit(offset_commit::handle(ctx, r).await),
        RequestKind::OffsetFetch(r) => R::OffsetFetch(offset_fetch::handle(ctx, r)),
        RequestKind::OffsetForLeaderEpoch(r) => {
            R::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(ctx, r))
        }
        RequestKind::DescribeGroups(r) => R::DescribeGroups(describe_groups::handle(ctx, r)),
        RequestKind::ListGroups(r) => R::ListGroups(list_groups::handle(ctx, r)),
        RequestKind::CreateTopics(r) => R::CreateTopics(create_topics::handle(ctx, r)),
        RequestKind::DescribeConfigs(r) => R::DescribeConfigs(describe_configs::handle(ctx, r)),
        RequestKind::AlterConfigs(r) => R::AlterConfigs(alter_configs::handle_alter(ctx, r)),
        RequestKind::IncrementalAlterConfigs(r) => {
            R::IncrementalAlterConfigs(alter_configs::handle_incremental(ctx, r))
        }
        RequestKind::CreatePartitions(r) => R::CreatePartitions(create_partitions::handle(ctx, r)),
        RequestKind::DeleteTopics(r) => R::DeleteTopics(delete_topics::handle(ctx, r).await),
        RequestKind::DescribeCluster(r) => R::DescribeCluster(describe_cluster::handle(ctx, r)),
        RequestKind::DeleteRecords(r) => R::DeleteRecords(delete_records::handle(ctx, r)),
        RequestKind::DescribeAcls(r) => R::DescribeAcls(acls::describe(ctx, r)),
        RequestKind::CreateAcls(r) => R::CreateAcls(acls::create(ctx, r).await),
        RequestKind::DeleteAcls(r) => R::DeleteAcls(acls::delete(ctx, r).await),
        // Authentication is over (or was never asked for) on this connection.
        RequestKind::SaslHandshake(_) => R::SaslHandshake(
            kafka_protocol::messages::SaslHandshakeResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code()),
        ),
        RequestKind::SaslAuthenticate(_) => R::SaslAuthenticate(
            kafka_protocol::messages::SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code())
                .with_error_message(Some(str_bytes("already authenticated"))),
        ),
        _ => return Err(Unimplemented(key)),
    })))
}

/// Group membership requests (Kafka: READ on the group) the ACLs refuse, answered with
/// GROUP_AUTHORIZATION_FAILED before the coordinator sees them.
fn refused_group_request(ctx: &Ctx<'_>, req: &RequestKind) -> Option<ResponseKind> {
    use kafka_protocol::messages::{
        HeartbeatResponse, JoinGroupResponse, LeaveGroupResponse, SyncGroupResponse,
    };
    let code = ResponseError::GroupAuthorizationFailed.code();
    let (group, refusal) = match req {
        RequestKind::JoinGroup(r) => (
            &r.group_id,
            ResponseKind::JoinGroup(
                JoinGroupResponse::default()
                    .with_error_code(code)
                    .with_generation_id(-1),
            ),
        ),
        RequestKind::SyncGroup(r) => (
            &r.group_id,
            ResponseKind::SyncGroup(SyncGroupResponse::default().with_error_code(code)),
        ),
        RequestKind::Heartbeat(r) => (
            &r.group_id,
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code)),
        ),
        RequestKind::LeaveGroup(r) => (
            &r.group_id,
            ResponseKind::LeaveGroup(LeaveGroupResponse::default().with_error_code(code)),
        ),
        _ => return None,
    };
    (!ctx.group_allowed(Op::Read, &group.0)).then_some(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Apache Kafka 3.9's validVersions of every API this broker implements, read from
    /// clients/src/main/resources/common/message/*Request.json at the 3.9 branch.
    const KAFKA_3_9: &[(ApiKey, i16, i16)] = &[
        (ApiKey::Produce, 0, 11),
        (ApiKey::Fetch, 0, 17),
        (ApiKey::ListOffsets, 0, 9),
        (ApiKey::Metadata, 0, 12),
        (ApiKey::OffsetCommit, 0, 9),
        (ApiKey::OffsetFetch, 0, 9),
        (ApiKey::FindCoordinator, 0, 6),
        (ApiKey::JoinGroup, 0, 9),
        (ApiKey::Heartbeat, 0, 4),
        (ApiKey::LeaveGroup, 0, 5),
        (ApiKey::SyncGroup, 0, 5),
        (ApiKey::DescribeGroups, 0, 5),
        (ApiKey::ListGroups, 0, 5),
        (ApiKey::ApiVersions, 0, 4),
        (ApiKey::CreateTopics, 0, 7),
        (ApiKey::InitProducerId, 0, 5),
        (ApiKey::OffsetForLeaderEpoch, 0, 4),
        (ApiKey::DescribeConfigs, 0, 4),
        (ApiKey::AlterConfigs, 0, 2),
        (ApiKey::IncrementalAlterConfigs, 0, 1),
        (ApiKey::CreatePartitions, 0, 3),
        (ApiKey::DeleteTopics, 0, 6),
        (ApiKey::DescribeCluster, 0, 1),
        (ApiKey::DeleteRecords, 0, 2),
        (ApiKey::SaslHandshake, 0, 1),
        (ApiKey::SaslAuthenticate, 0, 2),
        (ApiKey::DescribeAcls, 0, 3),
        (ApiKey::CreateAcls, 0, 3),
        (ApiKey::DeleteAcls, 0, 3),
    ];

    #[test]
    fn advertised_ranges_are_kafka_3_9s_and_the_crates() {
        for &(key, lo, hi) in SUPPORTED {
            let k = KAFKA_3_9.iter().find(|(k, _, _)| *k == key);
            assert_eq!(k, Some(&(key, lo, hi)), "{key:?} differs from Kafka 3.9");
            let c = key.valid_versions();
            assert_eq!(
                (c.min, c.max),
                (lo, hi),
                "{key:?}: crate decodes another range"
            );
        }
        let mut keys: Vec<i16> = SUPPORTED.iter().map(|(k, _, _)| *k as i16).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SUPPORTED.len(), "each API once");
    }
}
