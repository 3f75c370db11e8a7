//! Accept loop and per-connection handling. Each connection has a reader, which decodes and
//! handles requests strictly one after another, and a writer, which sends the responses in
//! request order. A Produce is appended by the reader (so pipelined produces keep their
//! order) while its durability wait runs in the writer, so several produces on one
//! connection share one group-committed fdatasync.

use super::api::{self, Ctx, Reply};
use super::codec::{self, Decoded};
use super::state::Broker;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Responses a connection may have queued before its reader stops taking requests.
const MAX_IN_FLIGHT: usize = 32;
/// How long shutdown waits for connections to finish their in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts until shutdown, then waits (bounded) for connections to finish.
pub async fn accept_loop(listener: TcpListener, broker: Arc<Broker>) {
    let mut conns = JoinSet::new();
    let shutdown = broker.shutdown.clone();
    loop {
        tokio::select! {
            // `biased`: a cancelled token wins over a ready accept.
            biased;
            _ = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let b = broker.clone();
                    conns.spawn(async move { serve(b, stream, peer).await });
                }
                Err(e) => {
                    // E.g. EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = conns.len(),
            "connections did not finish in time; closing them"
        );
        conns.shutdown().await;
    }
}

/// One queued response.
struct Outgoing {
    /// When the request was decoded (for the latency metric).
    started: std::time::Instant,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    reply: Reply,
}

async fn serve(broker: Arc<Broker>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let (tx, rx) = mpsc::channel::<Outgoing>(MAX_IN_FLIGHT);
    broker.metrics.connections.inc();
    let writer = tokio::spawn(write_loop(wr, rx, peer, broker.clone()));
    let max = broker.cfg.max_request_bytes;
    let shutdown = broker.shutdown.clone();
    loop {
        let frame = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            f = codec::read_frame(&mut rd, max) => f,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        let out = match dispatch(&broker, frame, peer).await {
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
    peer: SocketAddr,
) -> Result<Option<Outgoing>, String> {
    match codec::decode_request(frame, api::supported) {
        Err(e) => Err(format!("bad request: {e}")),
        Ok(Decoded::ApiVersionsTooNew { correlation_id }) => Ok(Some(Outgoing {
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
            let ctx = Ctx {
                broker,
                version: header.request_api_version,
                client_id: &client_id,
                peer,
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
                Ok(reply) => Ok(Some(Outgoing {
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
    peer: SocketAddr,
) -> Result<Option<bytes::Bytes>, String> {
    let Some(o) = dispatch(broker, frame, peer).await? else {
        return Ok(None);
    };
    let response = match o.reply {
        Reply::Nothing => return Ok(None),
        Reply::Now(r) => *r,
        Reply::Later(f) => f.await,
    };
    codec::encode_response(o.key, o.version, o.correlation_id, &response).map(Some)
}

async fn write_loop(
    wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Outgoing>,
    peer: SocketAddr,
    broker: Arc<Broker>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(o) = rx.recv().await {
        let response = match o.reply {
            Reply::Nothing => continue,
            Reply::Now(r) => *r,
            Reply::Later(f) => f.await,
        };
        broker
            .metrics
            .request(&format!("{:?}", o.key), o.started.elapsed().as_secs_f64());
        let bytes = match codec::encode_response(o.key, o.version, o.correlation_id, &response) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(%peer, error = %e, "closing connection: cannot encode response");
                break;
            }
        };
        tracing::trace!(%peer, key = ?o.key, correlation_id = o.correlation_id, "response");
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
