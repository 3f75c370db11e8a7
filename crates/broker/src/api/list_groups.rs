//! ListGroups (16): live groups plus groups that only have committed offsets.

use super::{str_bytes, Ctx};
use crate::group::GroupListing;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let b = ctx.broker;
    let mut groups: Vec<GroupListing> = b.groups.list();
    for g in b.offsets.groups() {
        if !groups.iter().any(|l| l.group_id == g) {
            groups.push(GroupListing {
                group_id: g,
                protocol_type: "consumer".to_string(),
                state: "Empty",
            });
        }
    }
    groups.sort();
    let listed = groups
        .into_iter()
        .filter(|l| {
            req.states_filter.is_empty() || req.states_filter.iter().any(|s| **s == *l.state)
        })
        .map(|l| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&l.group_id)))
                .with_protocol_type(str_bytes(&l.protocol_type))
                .with_group_state(str_bytes(l.state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
