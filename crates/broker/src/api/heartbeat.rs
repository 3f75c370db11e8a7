//! Heartbeat (12).

use super::Ctx;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

pub fn handle(ctx: &Ctx<'_>, req: HeartbeatRequest) -> HeartbeatResponse {
    let e = ctx
        .broker
        .groups
        .heartbeat(&req.group_id.0, req.generation_id, &req.member_id);
    HeartbeatResponse::default().with_error_code(e)
}
