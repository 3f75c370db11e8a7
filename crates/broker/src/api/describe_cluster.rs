//! DescribeCluster (60): this node is the whole cluster and its controller.

use super::{str_bytes, Ctx, ResponseError, NONE};
use crate::acl::Op;
use crate::state::{CLUSTER_ID, NODE_ID};
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

/// Endpoint types (v1+): brokers; controllers are not a separate endpoint here.
const BROKERS: i8 = 1;
/// Kafka's MISMATCHED_ENDPOINT_TYPE: a broker asked for the controllers' view (not in the
/// kafka-protocol crate's error table).
const MISMATCHED_ENDPOINT_TYPE: i16 = 114;
/// "Authorized operations not requested / unknown" (no ACLs here).
const NO_OPERATIONS: i32 = i32::MIN;

pub fn handle(ctx: &Ctx<'_>, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let resp = DescribeClusterResponse::default()
        .with_endpoint_type(BROKERS)
        .with_cluster_id(str_bytes(CLUSTER_ID))
        .with_controller_id(BrokerId(NODE_ID))
        .with_cluster_authorized_operations(NO_OPERATIONS);
    if ctx.version >= 1 && req.endpoint_type != BROKERS {
        return resp
            .with_error_code(MISMATCHED_ENDPOINT_TYPE)
            .with_error_message(Some(str_bytes("this node serves the broker endpoint only")))
            .with_controller_id(BrokerId(-1));
    }
    if !ctx.cluster_allowed(Op::Describe) {
        return resp
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(str_bytes("not authorized to describe the cluster")));
    }
    resp.with_error_code(NONE)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(NODE_ID))
            .with_host(str_bytes(ctx.host()))
            .with_port(ctx.port())])
}
