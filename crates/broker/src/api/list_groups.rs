//! ListGroups (16): live groups plus groups that only have committed offsets.

use super::{str_bytes, Ctx};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let b = ctx.broker;
    let mut groups: Vec<(String, String, &'static str)> = b.groups.list();
    for g in b.offsets.groups() {
        if !groups.iter().any(|(n, _, _)| *n == g) {
            groups.push((g, "consumer".to_string(), "Empty"));
        }
    }
    groups.sort();
    let listed = groups
        .into_iter()
        .filter(|(_, _, state)| {
            req.states_filter.is_empty() || req.states_filter.iter().any(|s| **s == **state)
        })
        .map(|(id, pt, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&pt))
                .with_group_state(str_bytes(state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
