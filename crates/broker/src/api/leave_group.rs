//! LeaveGroup (13): v0–2 name one member, v3+ a list.

use super::{Ctx, NONE};
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

pub fn handle(ctx: &Ctx<'_>, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let ids: Vec<String> = if ctx.version >= 3 {
        req.members
            .iter()
            .map(|m| m.member_id.to_string())
            .collect()
    } else {
        vec![req.member_id.to_string()]
    };
    let errors = ctx.broker.groups.leave(&req.group_id.0, &ids);
    if ctx.version >= 3 {
        let members = req
            .members
            .into_iter()
            .zip(errors)
            .map(|(m, e)| {
                MemberResponse::default()
                    .with_member_id(m.member_id)
                    .with_group_instance_id(m.group_instance_id)
                    .with_error_code(e)
            })
            .collect();
        LeaveGroupResponse::default()
            .with_error_code(NONE)
            .with_members(members)
    } else {
        LeaveGroupResponse::default().with_error_code(errors.first().copied().unwrap_or(NONE))
    }
}
