//! One module per Kafka API. [`handle`] dispatches a decoded request; the advertised version
//! ranges live in [`SUPPORTED`] and nothing else is advertised.

pub mod api_versions;
pub mod create_topics;
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

use super::state::Broker;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// (api, min version, max version) this broker implements; see the protocol notes for why
/// each range stops where it does (e.g. no topic-id versions).
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 9),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 3),
    (ApiKey::LeaveGroup, 0, 3),
    (ApiKey::SyncGroup, 0, 3),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 0, 7),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
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
        _ => return Err(Unimplemented(key)),
    })))
}
