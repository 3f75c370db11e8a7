//! Accept loop and per-connection handling. Each connection has a reader, which decodes and
//! handles requests strictly one after another, and a writer, which sends the responses in
//! request order. A Produce is appended by the reader (so pipelined produces keep their
//! order) while its durability wait runs in the writer, so several produces on one
//! connection share one group-committed fdatasync.

use super::api::{self, Ctx, Reply};
use super::auth::sasl::{Gate, SaslState};
use super::auth::{ListenerInfo, Session, ANONYMOUS};
use super::codec::{self, Decoded};
use super::state::Broker;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Responses a connection may have queued before its reader stops taking requests.
const MAX_IN_FLIGHT: usize = 32;
/// How long shutdown waits for connections to finish their in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener: its socket, what it advertises, and its TLS acceptor if any.
pub struct Bound {
    pub socket: TcpListener,
    pub info: Arc<ListenerInfo>,
    pub tls: Option<TlsAcceptor>,
}

/// Accepts until shutdown, then waits (bounded) for connections to finish.
pub async fn accept_loop(bound: Bound, broker: Arc<Broker>) {
    let Bound { socket, info, tls } = bound;
    let mut conns = JoinSet::new();
    let shutdown = broker.shutdown.clone();
    loop {
        tokio::select! {
            // `biased`: a cancelled token wins over a ready accept.
            biased;
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    let b = broker.clone();
                    let info = info.clone();
                    let tls = tls.clone();
                    conns.spawn(async move {
                        let _ = stream.set_nodelay(true);
                        serve_stream(b, stream, peer, info, tls).await
                    });
                }
                Err(e) => {
                    // E.g. EMFILE: back off instead of spinning.
                    tracing::warn!(listener = %info.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(socket);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            listener = %info.name,
            remaining = conns.len(),
            "connections did not finish in time; closing them"
        );
        conns.shutdown().await;
    }
}

/// Serves one connection of a listener: the TLS handshake first on TLS listeners (the
/// client certificate's subject is the principal of an SSL listener), then requests.
pub async fn serve_stream<S>(
    broker: Arc<Broker>,
    stream: S,
    peer: SocketAddr,
    info: Arc<ListenerInfo>,
    tls: Option<TlsAcceptor>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(acceptor) = tls else {
        let session = Session::new(info, peer, ANONYMOUS.to_string());
        return serve(broker, stream, session).await;
    };
    let handshake = tokio::select! {
        _ = broker.shutdown.cancelled() => return,
        r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => r,
    };
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            broker.metrics.tls_handshake_failed(&info.name);
            tracing::warn!(%peer, listener = %info.name, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            broker.metrics.tls_handshake_failed(&info.name);
            tracing::warn!(%peer, listener = %info.name, "TLS handshake timed out");
            return;
        }
    };
    let subject = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| super::auth::tls::subject_name(c));
    let user = match subject {
        // On SASL_SSL the SASL user is the principal; the certificate only gets in.
        Some(s) if !info.protocol.sasl() => s,
        _ => ANONYMOUS.to_string(),
    };
    let session = Session::new(info, peer, user);
    serve(broker, stream, session).await
}

/// One queued answer.
enum Outgoing {
    Response {
        /// When the request was decoded (for the latency metric).
        started: std::time::Instant,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
        reply: Reply,
    },
    /// A complete frame (SASL exchange).
    Frame(Bytes),
}

async fn serve<S>(broker: Arc<Broker>, stream: S, mut session: Session)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = session.peer;
    let (rd, wr) = tokio::io::split(stream);
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let (tx, rx) = mpsc::channel::<Outgoing>(MAX_IN_FLIGHT);
    broker.metrics.connections.inc();
    let writer = tokio::spawn(write_loop(wr, rx, peer, broker.clone()));
    let max = broker.cfg.max_request_bytes;
    let shutdown = broker.shutdown.clone();
    let mut sasl = SaslState::new(session.listener.protocol.sasl());
    loop {
        let min = if sasl.expects_raw() { 0 } else { 8 };
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            f = codec::read_frame_bounded(&mut rd, min, max) => f,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        let frame = if sasl.done() {
            frame
        } else {
            match sasl
                .on_frame(frame, &session.listener, &broker.users, &broker.metrics)
                .await
            {
                Gate::Pass(f) => f,
                Gate::Reply { frame, user, close } => {
                    if let Some(u) = user {
                        tracing::debug!(%peer, user = %u, "SASL authenticated");
                        session.user = u;
                    }
                    if tx.send(Outgoing::Frame(frame)).await.is_err() || close {
                        break;
                    }
                    continue;
                }
                Gate::Close(why) => {
                    tracing::warn!(%peer, listener = %session.listener.name, "closing connection: {why}");
                    break;
                }
            }
        };
        let out = match dispatch(&broker, frame, &mut session).await {
            Ok(Some(out)) => out,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                break;
            }
        };
        if tx.send(out).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
    broker.metrics.connections.dec();
}

/// Decodes and handles one frame body. `Ok(None)`: no response is due (acks=0 produce);
/// `Err`: the connection must be closed (the message says why).
async fn dispatch(
    broker: &Arc<Broker>,
    frame: bytes::Bytes,
    session: &mut Session,
) -> Result<Option<Outgoing>, String> {
    let peer = session.peer;
    match codec::decode_request(frame, api::supported) {
        Err(e) => Err(format!("bad request: {e}")),
        Ok(Decoded::ApiVersionsTooNew { correlation_id }) => Ok(Some(Outgoing::Response {
            started: std::time::Instant::now(),
            key: ApiKey::ApiVersions,
            version: 0,
            correlation_id,
            reply: Reply::Now(Box::new(ResponseKind::ApiVersions(
                api::api_versions::too_new(),
            ))),
        })),
        Ok(Decoded::Request {
            header,
            key,
            request,
        }) => {
            let client_id = header
                .client_id
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default();
            if let Some(g) = named_group(&request) {
                broker.authz.associate(peer.ip(), &client_id, &g);
                session.group = Some(g);
            }
            let ctx = Ctx {
                broker,
                version: header.request_api_version,
                client_id: &client_id,
                peer,
                session,
            };
            tracing::trace!(%peer, ?key, version = header.request_api_version,
                correlation_id = header.correlation_id, "request");
            let started = std::time::Instant::now();
            match api::handle(&ctx, key, *request).await {
                Ok(Reply::Nothing) => {
                    broker
                        .metrics
                        .request(&format!("{key:?}"), started.elapsed().as_secs_f64());
                    Ok(None)
                }
                Ok(reply) => Ok(Some(Outgoing::Response {
                    started,
                    key,
                    version: header.request_api_version,
                    correlation_id: header.correlation_id,
                    reply,
                })),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

/// One request frame body (without its length prefix) → its encoded response frame, exactly
/// as a connection handles it but without a socket: the entry point of the request fuzzer.
/// `Ok(None)`: no response is due; `Err`: a connection would be closed.
pub async fn handle_frame(
    broker: &Arc<Broker>,
    frame: bytes::Bytes,
    info: Arc<ListenerInfo>,
    peer: SocketAddr,
) -> Result<Option<bytes::Bytes>, String> {
    let mut session = Session::new(info, peer, ANONYMOUS.to_string());
    let Some(o) = dispatch(broker, frame, &mut session).await? else {
        return Ok(None);
    };
    let (key, version, correlation_id, reply) = match o {
        Outgoing::Frame(f) => return Ok(Some(f)),
        Outgoing::Response {
            key,
            version,
            correlation_id,
            reply,
            ..
        } => (key, version, correlation_id, reply),
    };
    let response = match reply {
        Reply::Nothing => return Ok(None),
        Reply::Now(r) => *r,
        Reply::Later(f) => f.await,
    };
    codec::encode_response(key, version, correlation_id, &response).map(Some)
}

/// The group a request names (its consumer's group.id), if it names one.
fn named_group(req: &RequestKind) -> Option<String> {
    let g = match req {
        RequestKind::JoinGroup(r) => &r.group_id,
        RequestKind::SyncGroup(r) => &r.group_id,
        RequestKind::Heartbeat(r) => &r.group_id,
        RequestKind::LeaveGroup(r) => &r.group_id,
        RequestKind::OffsetCommit(r) => &r.group_id,
        RequestKind::OffsetFetch(r) if r.groups.is_empty() => &r.group_id,
        RequestKind::OffsetFetch(r) => &r.groups.first()?.group_id,
        RequestKind::FindCoordinator(r) if r.key_type == 0 && r.coordinator_keys.is_empty() => {
            return Some(r.key.to_string()).filter(|k| !k.is_empty())
        }
        RequestKind::FindCoordinator(r) if r.key_type == 0 => {
            return r.coordinator_keys.first().map(|k| k.to_string())
        }
        _ => return None,
    };
    Some(g.0.to_string()).filter(|g| !g.is_empty())
}

async fn write_loop<W>(
    wr: W,
    mut rx: mpsc::Receiver<Outgoing>,
    peer: SocketAddr,
    broker: Arc<Broker>,
) where
    W: AsyncWrite + Unpin,
{
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(o) = rx.recv().await {
        let bytes = match o {
            Outgoing::Frame(f) => f,
            Outgoing::Response {
                started,
                key,
                version,
                correlation_id,
                reply,
            } => {
                let response = match reply {
                    Reply::Nothing => continue,
                    Reply::Now(r) => *r,
                    Reply::Later(f) => f.await,
                };
                broker
                    .metrics
                    .request(&format!("{key:?}"), started.elapsed().as_secs_f64());
                match codec::encode_response(key, version, correlation_id, &response) {
                    Ok(b) => {
                        tracing::trace!(%peer, ?key, correlation_id, "response");
                        b
                    }
                    Err(e) => {
                        tracing::error!(%peer, error = %e, "closing connection: cannot encode response");
                        break;
                    }
                }
            }
        };
        if w.write_all(&bytes).await.is_err() {
            break;
        }
        // Batch writes while more responses are ready; flush when caught up.
        if rx.is_empty() && w.flush().await.is_err() {
            break;
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}
