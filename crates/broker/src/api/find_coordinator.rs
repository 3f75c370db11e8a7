//! FindCoordinator (10): this node coordinates every group; transactions are unsupported.
//! v0–v3 ask for one key, v4+ for a batch (`coordinator_keys`).

use super::{str_bytes, Ctx, ResponseError};
use crate::acl::Op;
use crate::state::NODE_ID;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

/// Key type 0: consumer group (1 = transaction, 2 = share group: not served here).
const GROUP: i8 = 0;

pub fn handle(ctx: &Ctx<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let resp = FindCoordinatorResponse::default();
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                if req.key_type == GROUP && !ctx.group_allowed(Op::Describe, &key) {
                    c.with_error_code(ResponseError::GroupAuthorizationFailed.code())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                } else if req.key_type != GROUP {
                    c.with_error_code(ResponseError::CoordinatorNotAvailable.code())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                } else {
                    c.with_node_id(BrokerId(NODE_ID))
                        .with_host(str_bytes(ctx.host()))
                        .with_port(ctx.port())
                }
            })
            .collect();
        return resp.with_coordinators(coordinators);
    }
    if req.key_type == GROUP && !ctx.group_allowed(Op::Describe, &req.key) {
        return resp
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    if req.key_type != GROUP {
        return resp
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    resp.with_node_id(BrokerId(NODE_ID))
        .with_host(str_bytes(ctx.host()))
        .with_port(ctx.port())
}
