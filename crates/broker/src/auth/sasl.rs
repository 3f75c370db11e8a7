//! SASL on a connection, as Kafka's SaslServerAuthenticator: before authentication only
//! ApiVersions and SaslHandshake are answered (anything else closes the connection). After
//! SaslHandshake v1 the tokens come in SaslAuthenticate requests; after v0 they come as raw
//! length-prefixed frames (older clients). A failed authentication is answered with
//! SASL_AUTHENTICATION_FAILED (raw mode: no answer) and the connection is closed.

use super::credentials::Credentials;
use super::scram::{Hash, ScramError, ScramServer};
use super::{ListenerInfo, Users};
use crate::codec::{self, Decoded};
use crate::config::SaslMechanism;
use crate::metrics::BrokerMetrics;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::sync::Arc;

/// What the connection does with a frame.
pub enum Gate {
    /// An ordinary request (authentication is done, or it is ApiVersions): dispatch it.
    Pass(Bytes),
    /// Send `frame` (complete, length-prefixed); `user` is set once authenticated; `close`
    /// after sending.
    Reply {
        frame: Bytes,
        user: Option<String>,
        close: bool,
    },
    /// Close without an answer.
    Close(String),
}

enum Stage {
    Handshake,
    Authenticate {
        mechanism: SaslMechanism,
        raw: bool,
        /// Boxed: the exchange's state is large, and most of a connection's life is `Done`.
        scram: Option<Box<ScramServer>>,
    },
    Done,
}

/// The SASL progress of one connection.
pub struct SaslState {
    stage: Stage,
}

/// The message every failed authentication gets (as Kafka: nothing about which part failed).
fn failed_message(m: SaslMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        m.as_str()
    )
}

impl SaslState {
    /// `sasl`: the listener wants SASL; otherwise the connection is done at once.
    pub fn new(sasl: bool) -> SaslState {
        SaslState {
            stage: if sasl { Stage::Handshake } else { Stage::Done },
        }
    }

    pub fn done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Raw tokens are frames of any length (a PLAIN token may be shorter than a header).
    pub fn expects_raw(&self) -> bool {
        matches!(self.stage, Stage::Authenticate { raw: true, .. })
    }

    /// One frame before authentication is complete.
    pub async fn on_frame(
        &mut self,
        frame: Bytes,
        listener: &ListenerInfo,
        users: &Users,
        metrics: &BrokerMetrics,
    ) -> Gate {
        if let Stage::Authenticate { raw: true, .. } = self.stage {
            return self.raw_token(frame, users, metrics).await;
        }
        if frame.len() < 8 {
            return Gate::Close("short frame before SASL authentication".to_string());
        }
        let decoded = match codec::decode_request(frame.clone(), crate::api::supported) {
            Ok(d) => d,
            Err(e) => return Gate::Close(format!("bad request before SASL authentication: {e}")),
        };
        let (header, key, request) = match decoded {
            // ApiVersions with a version from the future: the ordinary path answers it.
            Decoded::ApiVersionsTooNew { .. } => return Gate::Pass(frame),
            Decoded::Request {
                header,
                key,
                request,
            } => (header, key, request),
        };
        let version = header.request_api_version;
        let corr = header.correlation_id;
        match (*request, &mut self.stage) {
            (RequestKind::ApiVersions(_), _) => Gate::Pass(frame),
            (RequestKind::SaslHandshake(r), Stage::Handshake) => {
                let offered: Vec<StrBytes> = listener
                    .mechanisms
                    .iter()
                    .map(|m| StrBytes::from_static_str(m.as_str()))
                    .collect();
                let wanted = SaslMechanism::parse(r.mechanism.as_str())
                    .filter(|m| listener.mechanisms.contains(m));
                let resp = SaslHandshakeResponse::default().with_mechanisms(offered);
                let (resp, close) = match wanted {
                    Some(m) => {
                        self.stage = Stage::Authenticate {
                            mechanism: m,
                            raw: version == 0,
                            scram: None,
                        };
                        (resp, false)
                    }
                    None => {
                        // The label is one of ours: a client's string never becomes one.
                        metrics.authentication_failed(
                            SaslMechanism::parse(r.mechanism.as_str())
                                .map_or("unsupported", SaslMechanism::as_str),
                        );
                        tracing::warn!(listener = %listener.name, mechanism = %r.mechanism.as_str(),
                            "SASL mechanism not offered here");
                        (
                            resp.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
                            true,
                        )
                    }
                };
                reply(
                    key,
                    version,
                    corr,
                    ResponseKind::SaslHandshake(resp),
                    None,
                    close,
                )
            }
            (RequestKind::SaslAuthenticate(r), Stage::Authenticate { raw: false, .. }) => {
                let step = self.token(&r.auth_bytes, users).await;
                let mut resp = SaslAuthenticateResponse::default();
                let (user, close) = match step {
                    Ok((out, user)) => {
                        resp.auth_bytes = Bytes::from(out);
                        (user, false)
                    }
                    Err((m, e)) => {
                        metrics.authentication_failed(m.as_str());
                        tracing::warn!(listener = %listener.name, mechanism = m.as_str(), error = %e,
                            "SASL authentication failed");
                        resp.error_code = ResponseError::SaslAuthenticationFailed.code();
                        resp.error_message = Some(StrBytes::from_string(failed_message(m)));
                        (None, true)
                    }
                };
                reply(
                    key,
                    version,
                    corr,
                    ResponseKind::SaslAuthenticate(resp),
                    user,
                    close,
                )
            }
            (_, _) => Gate::Close(format!(
                "unexpected {key:?} request during SASL authentication"
            )),
        }
    }

    async fn raw_token(&mut self, token: Bytes, users: &Users, metrics: &BrokerMetrics) -> Gate {
        match self.token(&token, users).await {
            Ok((out, user)) => {
                let mut b = BytesMut::with_capacity(4 + out.len());
                b.put_u32(out.len() as u32);
                b.extend_from_slice(&out);
                Gate::Reply {
                    frame: b.freeze(),
                    user,
                    close: false,
                }
            }
            Err((m, e)) => {
                metrics.authentication_failed(m.as_str());
                tracing::warn!(mechanism = m.as_str(), error = %e, "SASL authentication failed");
                Gate::Close(format!("SASL authentication failed: {e}"))
            }
        }
    }

    /// One token of the exchange: the answer, and the user once authenticated.
    async fn token(
        &mut self,
        token: &[u8],
        users: &Users,
    ) -> Result<(Vec<u8>, Option<String>), (SaslMechanism, String)> {
        let Stage::Authenticate {
            mechanism, scram, ..
        } = &mut self.stage
        else {
            return Err((SaslMechanism::Plain, "no SASL handshake".to_string()));
        };
        let m = *mechanism;
        let fail = |e: String| Err((m, e));
        let creds = users.get();
        match m {
            SaslMechanism::Plain => {
                let (user, password) = match parse_plain(token) {
                    Some(p) => p,
                    None => return fail("malformed PLAIN token".to_string()),
                };
                let ok = check_plain(creds, user.clone(), password).await;
                if !ok {
                    return fail(format!("invalid credentials for user {user:?}"));
                }
                self.stage = Stage::Done;
                Ok((Vec::new(), Some(user)))
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let hash = if m == SaslMechanism::ScramSha256 {
                    Hash::Sha256
                } else {
                    Hash::Sha512
                };
                match scram {
                    None => {
                        let mut s = Box::new(ScramServer::new(hash));
                        let out = s
                            .first(token, |u| creds.scram(u, hash))
                            .map_err(|e| (m, e.to_string()))?;
                        *scram = Some(s);
                        Ok((out, None))
                    }
                    Some(s) => {
                        let (out, user) =
                            s.last(token).map_err(|e: ScramError| (m, e.to_string()))?;
                        self.stage = Stage::Done;
                        Ok((out, Some(user)))
                    }
                }
            }
        }
    }
}

/// PLAIN: authzid NUL authcid NUL passwd; authzid empty or the same user.
fn parse_plain(token: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(token).ok()?;
    let mut parts = s.split('\0');
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    Some((user.to_string(), password.to_string()))
}

/// One PBKDF2 per PLAIN login: off the async workers.
async fn check_plain(creds: Arc<Credentials>, user: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || creds.check_password(&user, &password))
        .await
        .unwrap_or(false)
}

fn reply(
    key: ApiKey,
    version: i16,
    corr: i32,
    resp: ResponseKind,
    user: Option<String>,
    close: bool,
) -> Gate {
    match codec::encode_response(key, version, corr, &resp) {
        Ok(frame) => Gate::Reply { frame, user, close },
        Err(e) => Gate::Close(format!("cannot encode {key:?} response: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tokens() {
        assert_eq!(
            parse_plain(b"\0alice\0pw"),
            Some(("alice".into(), "pw".into()))
        );
        assert_eq!(
            parse_plain(b"alice\0alice\0pw"),
            Some(("alice".into(), "pw".into()))
        );
        assert_eq!(parse_plain(b"bob\0alice\0pw"), None);
        assert_eq!(parse_plain(b"\0\0pw"), None);
        assert_eq!(parse_plain(b"\0alice"), None);
        assert_eq!(parse_plain(b"\0a\0b\0c"), None);
        assert_eq!(parse_plain(&[0xff, 0, 0]), None);
    }
}
