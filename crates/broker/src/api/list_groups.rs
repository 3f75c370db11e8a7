//! ListGroups (16): live groups plus groups known only from `__consumer_offsets` (committed
//! offsets or recorded metadata): those are Empty.

use super::{str_bytes, Ctx};
use crate::acl::Op;
use crate::group::GroupListing;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

pub fn handle(ctx: &Ctx<'_>, req: ListGroupsRequest) -> ListGroupsResponse {
    let b = ctx.broker;
    let mut groups: Vec<GroupListing> = b.groups.list();
    for g in b.offsets.groups() {
        if !groups.iter().any(|l| l.group_id == g) {
            groups.push(GroupListing {
                group_id: g.clone(),
                protocol_type: b
                    .offsets
                    .group_summary(&g)
                    .map_or_else(|| "consumer".to_string(), |s| s.protocol_type),
                state: "Empty",
            });
        }
    }
    groups.sort();
    let listed = groups
        .into_iter()
        // Only the groups this client may describe (Kafka's filtering without cluster
        // DESCRIBE).
        .filter(|l| ctx.group_allowed(Op::Describe, &l.group_id))
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
