//! DescribeGroups (15).

use super::{str_bytes, Ctx, ResponseError};
use crate::acl::Op;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let b = ctx.broker;
    let groups = req
        .groups
        .into_iter()
        .map(|gid| {
            let d = DescribedGroup::default().with_group_id(gid.clone());
            if !ctx.group_allowed(Op::Describe, &gid.0) {
                return d.with_error_code(ResponseError::GroupAuthorizationFailed.code());
            }
            match b.groups.describe(&gid.0) {
                Some(g) => d
                    .with_group_state(str_bytes(g.state))
                    .with_protocol_type(str_bytes(&g.protocol_type))
                    .with_protocol_data(str_bytes(&g.protocol_name))
                    .with_members(
                        g.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_group_instance_id(
                                        m.group_instance_id.as_deref().map(str_bytes),
                                    )
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment)
                            })
                            .collect(),
                    ),
                // Only committed offsets left: an empty consumer group; else it does not exist.
                None if b.offsets.groups().iter().any(|g| **g == *gid.0) => d
                    .with_group_state(str_bytes("Empty"))
                    .with_protocol_type(str_bytes("consumer")),
                None => d.with_group_state(str_bytes("Dead")),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
