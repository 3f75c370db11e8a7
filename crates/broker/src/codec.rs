//! Framing (4-byte big-endian length + body) and request/response header handling on top
//! of the `kafka-protocol` crate. Lengths from the network are checked against a cap before
//! anything is allocated, and bodies are read incrementally, so a lying length costs at most
//! what the peer actually sends.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a frame was rejected; the connection is closed with a log line.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed mid-frame ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("frame length {len} outside {min}..={max}")]
    BadLength { len: i64, min: usize, max: usize },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("malformed {key:?} v{version} request: {reason}")]
    Malformed {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame body. `Ok(None)` on a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    read_frame_bounded(r, 8, max).await
}

/// [`read_frame`] with another smallest length: raw SASL tokens (after a SaslHandshake v0)
/// are frames without a request header, possibly shorter than one.
pub async fn read_frame_bounded<R: AsyncRead + Unpin>(
    r: &mut R,
    min: usize,
    max: usize,
) -> Result<Option<Bytes>, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len_buf[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated { got, want: 4 })
            };
        }
        got += n;
    }
    let len = i32::from_be_bytes(len_buf);
    // The smallest request header is api key + version + correlation id.
    if len < 0 || (len as usize) < min || len as usize > max {
        return Err(FrameError::BadLength {
            len: i64::from(len),
            min,
            max,
        });
    }
    let want = len as usize;
    // Grows only as bytes arrive (never `with_capacity(want)` from an untrusted length).
    let mut body = Vec::with_capacity(want.min(64 * 1024));
    r.take(want as u64).read_to_end(&mut body).await?;
    if body.len() < want {
        return Err(FrameError::Truncated {
            got: body.len(),
            want,
        });
    }
    Ok(Some(Bytes::from(body)))
}

/// A decoded request, or the ApiVersions-with-too-new-version special case.
pub enum Decoded {
    Request {
        header: RequestHeader,
        key: ApiKey,
        request: Box<RequestKind>,
    },
    /// ApiVersions above what we support: answer a v0 UNSUPPORTED_VERSION body (clients then
    /// retry with a version from our list) instead of disconnecting.
    ApiVersionsTooNew { correlation_id: i32 },
}

/// Decodes header and body of a frame. `supported` gives the version range per api key.
pub fn decode_request(
    mut frame: Bytes,
    supported: impl Fn(ApiKey) -> Option<(i16, i16)>,
) -> Result<Decoded, FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::BadLength {
            len: frame.len() as i64,
            min: 8,
            max: usize::MAX,
        });
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
    let Some((min, max)) = supported(key) else {
        return Err(FrameError::UnsupportedVersion { key, version });
    };
    if key == ApiKey::ApiVersions && version > max {
        return Ok(Decoded::ApiVersionsTooNew { correlation_id });
    }
    if version < min || version > max {
        return Err(FrameError::UnsupportedVersion { key, version });
    }
    let malformed = |reason: String| FrameError::Malformed {
        key,
        version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version))
        .map_err(|e| malformed(e.to_string()))?;
    let request =
        RequestKind::decode(key, &mut frame, version).map_err(|e| malformed(e.to_string()))?;
    // Kafka ignores bytes after a complete request body, and clients rely on it: librdkafka's
    // "brokers only" Metadata v9 request (sent before ListGroups answers are used) carries
    // 3 extra bytes. Closing the connection there breaks `rd_kafka_list_groups`.
    if frame.has_remaining() {
        tracing::debug!(
            ?key,
            version,
            trailing = frame.remaining(),
            "ignoring trailing request bytes"
        );
    }
    Ok(Decoded::Request {
        header,
        key,
        request: Box::new(request),
    })
}

/// Encodes a complete response frame (length prefix, header, body).
pub fn encode_response(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &ResponseKind,
) -> Result<Bytes, String> {
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    // ApiVersions responses always use header v0, whatever the request version.
    let header_version = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| format!("encode {key:?} v{version} response header: {e}"))?;
    response
        .encode(&mut out, version)
        .map_err(|e| format!("encode {key:?} v{version} response: {e}"))?;
    let len = i32::try_from(out.len() - 4).map_err(|_| "response too large".to_string())?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames() {
        let mut ok: &[u8] = &[0, 0, 0, 8, 0, 18, 0, 0, 0, 0, 0, 1];
        assert!(read_frame(&mut ok, 100).await.expect("ok").is_some());
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty, 100).await.expect("eof").is_none());
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut big, 100).await,
            Err(FrameError::BadLength { .. })
        ));
        let mut cut: &[u8] = &[0, 0, 0, 50, 1, 2];
        assert!(matches!(
            read_frame(&mut cut, 100).await,
            Err(FrameError::Truncated { .. })
        ));
    }
}
