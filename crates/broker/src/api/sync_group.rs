//! SyncGroup (14): the leader hands out assignments; followers wait for them.

use super::{str_bytes, Ctx};
use crate::group::Assignment;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

pub async fn handle(ctx: &Ctx<'_>, req: SyncGroupRequest) -> SyncGroupResponse {
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| Assignment {
            member_id: a.member_id.to_string(),
            assignment: a.assignment,
        })
        .collect();
    let r = ctx
        .broker
        .groups
        .sync(
            &req.group_id.0,
            req.generation_id,
            &req.member_id,
            assignments,
        )
        .await;
    SyncGroupResponse::default()
        .with_error_code(r.error)
        .with_protocol_type(r.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(r.protocol_name.as_deref().map(str_bytes))
        .with_assignment(r.assignment)
}
