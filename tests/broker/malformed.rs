//! Malformed frames close only their own connection; the broker and other connections
//! carry on.

use crate::util::{test_config, InProc, Raw};
use bytes::BufMut;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
use std::io::Write;

fn api_versions_ok(raw: &mut Raw) {
    let r: ApiVersionsResponse = raw.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);
    assert!(r
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16));
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let addr = b.bootstrap();
    let mut healthy = Raw::connect(&addr);
    api_versions_ok(&mut healthy);

    // Truncated: a length of 100 followed by 10 bytes and a half-close.
    let mut c = Raw::connect(&addr);
    c.send_bytes(&[0, 0, 0, 100, 0, 18, 0, 3, 0, 0, 0, 1, 0, 0])
        .expect("send");
    c.stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    assert!(
        c.is_closed_by_peer(),
        "truncated frame closes the connection"
    );

    // Oversized length (2 GiB - 1) and negative length: closed without allocating.
    for len in [i32::MAX, -5, 3] {
        let mut c = Raw::connect(&addr);
        c.send_bytes(&len.to_be_bytes()).expect("send");
        assert!(
            c.is_closed_by_peer(),
            "bad length {len} closes the connection"
        );
    }

    // Unknown API key 999.
    let mut c = Raw::connect(&addr);
    let mut f = Vec::new();
    f.put_i32(10);
    f.put_i16(999);
    f.put_i16(0);
    f.put_i32(7);
    f.put_i16(-1);
    c.send_bytes(&f).expect("send");
    assert!(
        c.is_closed_by_peer(),
        "unknown api key closes the connection"
    );

    // Garbage body: a Metadata v1 header whose topic array claims 2^31-1 entries.
    let mut c = Raw::connect(&addr);
    let mut f = Vec::new();
    f.put_i32(2 + 2 + 4 + 2 + 4 + 3);
    f.put_i16(ApiKey::Metadata as i16);
    f.put_i16(1);
    f.put_i32(9);
    f.put_i16(-1);
    f.put_i32(i32::MAX);
    f.put_slice(&[1, 2, 3]);
    c.send_bytes(&f).expect("send");
    assert!(c.is_closed_by_peer(), "garbage body closes the connection");

    // Random bytes after a valid Produce header.
    let mut c = Raw::connect(&addr);
    let mut f = Vec::new();
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    f.put_i32((10 + garbage.len()) as i32);
    f.put_i16(ApiKey::Produce as i16);
    f.put_i16(7);
    f.put_i32(11);
    f.put_i16(-1);
    f.put_slice(&garbage);
    c.send_bytes(&f).expect("send");
    assert!(
        c.is_closed_by_peer(),
        "garbage produce closes the connection"
    );

    // Unsupported version of a known API: Metadata v13, past Kafka 3.9's 0-12 (a v12 body
    // with the version field raised). Kafka closes the connection too.
    let mut c = Raw::connect(&addr);
    let frame = c.frame(ApiKey::Metadata, 12, &MetadataRequest::default());
    let mut frame = frame.to_vec();
    frame[6..8].copy_from_slice(&13i16.to_be_bytes());
    c.stream.write_all(&frame).expect("send");
    assert!(
        c.is_closed_by_peer(),
        "unsupported version closes the connection"
    );

    // ApiVersions newer than supported: v0 answer with UNSUPPORTED_VERSION, connection kept.
    let mut c = Raw::connect(&addr);
    let mut f = Vec::new();
    f.put_i32(10);
    f.put_i16(ApiKey::ApiVersions as i16);
    f.put_i16(99);
    f.put_i32(5);
    f.put_i16(-1);
    c.send_bytes(&f).expect("send");
    let (corr, mut body) = c
        .read_response(ApiKey::ApiVersions, 0)
        .expect("fallback response");
    assert_eq!(corr, 5);
    let r = <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0)
        .expect("v0 body");
    assert_eq!(r.error_code, 35);
    assert!(!r.api_keys.is_empty());
    api_versions_ok(&mut c);

    // The healthy connection and new ones still work.
    api_versions_ok(&mut healthy);
    api_versions_ok(&mut Raw::connect(&addr));
    b.shutdown();
}

/// Random bodies behind valid headers for every advertised API and version: whatever the
/// decoder makes of them, the broker stays up and keeps serving.
#[test]
fn random_bodies_never_take_the_broker_down() {
    use rand::{Rng, SeedableRng};
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let b = InProc::start(test_config(1), dir.path());
    let addr = b.bootstrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x10_6f_e2_27);
    let mut healthy = Raw::connect(&addr);
    let versions: ApiVersionsResponse =
        healthy.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    for k in &versions.api_keys {
        for v in k.min_version..=k.max_version {
            for _ in 0..4 {
                let len = rng.gen_range(0..160usize);
                let mut body: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                // Often start with a huge array/string count, the classic allocation bomb.
                if len >= 4 && rng.gen_bool(0.5) {
                    body[..4].copy_from_slice(&[0x7f, 0xff, 0xff, 0xf0]);
                }
                let mut f = Vec::new();
                f.put_i32((10 + body.len()) as i32);
                f.put_i16(k.api_key);
                f.put_i16(v);
                f.put_i32(1);
                f.put_i16(-1);
                f.put_slice(&body);
                let mut c = Raw::connect(&addr);
                c.stream
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .expect("timeout");
                let _ = c.send_bytes(&f);
                let _ = c.stream.shutdown(std::net::Shutdown::Write);
                let _ = c.is_closed_by_peer();
            }
        }
        api_versions_ok(&mut healthy);
    }
    api_versions_ok(&mut Raw::connect(&addr));
    b.shutdown();
}
