//! FindCoordinator (10): this node coordinates every group; transactions are unsupported.

use super::{str_bytes, Ctx, ResponseError};
use crate::state::NODE_ID;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

pub fn handle(ctx: &Ctx<'_>, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let resp = FindCoordinatorResponse::default();
    if req.key_type != 0 {
        return resp
            .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    resp.with_node_id(BrokerId(NODE_ID))
        .with_host(str_bytes(&ctx.broker.host))
        .with_port(ctx.broker.port)
}
