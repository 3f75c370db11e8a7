//! ApiVersions (18): the advertised API table.

use super::{ResponseError, NONE, SUPPORTED};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

/// The response for a supported version.
pub fn handle(_version: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(NONE)
        .with_api_keys(api_keys())
}

/// The answer to an ApiVersions request newer than we support: a v0 body with
/// UNSUPPORTED_VERSION and our table, so the client retries with a version we know.
pub fn too_new() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys())
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(k, lo, hi)| {
            ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(lo)
                .with_max_version(hi)
        })
        .collect()
}
