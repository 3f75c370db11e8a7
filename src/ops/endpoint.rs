//! The HTTP endpoint: `GET /metrics` (Prometheus text), `GET /healthz` (200, or 503 with a
//! line per stuck section) and, with a console, `GET /` and `GET /api/v1/status`
//! ([`crate::ops::console`]), and its ACL edits `POST`/`DELETE /api/v1/acls` when it has an
//! admin token. Served from its own thread so a slow scraper or browser never
//! touches the shipping path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::ops::console::{Console, Reply};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot listen on {key} {addr}: {reason}; set {key} to a free address, or \"\" to disable the endpoint")]
    Bind {
        /// The config key naming the address (`[agent] metrics_listen`, `[broker] http_listen`).
        key: &'static str,
        addr: String,
        reason: String,
    },
}

pub type RenderFn = Arc<dyn Fn() -> String + Send + Sync>;
pub type HealthFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Endpoint {
    /// Serve on `addr` (named `key` in the config, for errors).
    pub fn start(
        key: &'static str,
        addr: &str,
        render: RenderFn,
        health: HealthFn,
        console: Option<Arc<Console>>,
    ) -> Result<Endpoint, EndpointError> {
        let bind = |reason: String| EndpointError::Bind {
            key,
            addr: addr.to_string(),
            reason,
        };
        let server = tiny_http::Server::http(addr).map_err(|e| bind(e.to_string()))?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| bind("not an IP address".to_string()))?;
        let server = Arc::new(server);
        let s = server.clone();
        let with_console = console.is_some();
        let thread = std::thread::Builder::new()
            .name("metrics-endpoint".to_string())
            .spawn(move || serve(&s, &render, &health, console.as_deref()))
            .map_err(|e| bind(e.to_string()))?;
        if with_console {
            tracing::info!(%local, "HTTP endpoint listening (/ console, /api/v1/status, /metrics, /healthz)");
        } else {
            tracing::info!(%local, "metrics endpoint listening (/metrics, /healthz)");
        }
        Ok(Endpoint {
            server,
            thread: Some(thread),
            addr: local,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// A console edit (`POST`/`DELETE /api/v1/acls`): its body read up to the console's limit.
fn edit(req: &mut tiny_http::Request, c: &Console, path: &str) -> Option<Reply> {
    let method = req.method().as_str().to_string();
    let auth = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let peer = req.remote_addr().copied();
    let limit = c.max_edit_body();
    let mut body = String::new();
    use std::io::Read;
    match req
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_string(&mut body)
    {
        Ok(n) if n > limit => {
            return Some((
                413,
                format!("request body over {limit} bytes\n"),
                "text/plain; charset=utf-8",
            ))
        }
        Ok(_) => {}
        Err(e) => {
            return Some((
                400,
                format!("request body unreadable: {e}\n"),
                "text/plain; charset=utf-8",
            ))
        }
    }
    c.edit(&method, path, auth.as_deref(), &body, peer)
}

fn serve(
    server: &tiny_http::Server,
    render: &RenderFn,
    health: &HealthFn,
    console: Option<&Console>,
) {
    for mut req in server.incoming_requests() {
        let (path, query) = req.url().split_once('?').unwrap_or((req.url(), ""));
        let (path, query) = (path.to_string(), query.to_string());
        let page = match (req.method(), console) {
            (tiny_http::Method::Get, Some(c)) => c.handle(&path, &query),
            (tiny_http::Method::Post | tiny_http::Method::Delete, Some(c)) => {
                edit(&mut req, c, &path)
            }
            _ => None,
        };
        // Prometheus asks for OpenMetrics; everyone else gets the classic text format.
        let openmetrics = req.headers().iter().any(|h| {
            h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
        });
        let reply = page.unwrap_or_else(|| match (req.method(), path.as_str()) {
            (tiny_http::Method::Get, "/metrics") if openmetrics => (
                200,
                render(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (tiny_http::Method::Get, "/metrics") => (
                200,
                crate::ops::metrics::to_prometheus_text(&render()),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (tiny_http::Method::Get, "/healthz") => match health() {
                Ok(()) => (200, "ok\n".to_string(), "text/plain; charset=utf-8"),
                Err(reasons) => (503, format!("{reasons}\n"), "text/plain; charset=utf-8"),
            },
            _ => (
                404,
                if console.is_some() {
                    "not found: try /, /api/v1/status, /metrics or /healthz\n"
                } else {
                    "not found: try /metrics or /healthz\n"
                }
                .to_string(),
                "text/plain; charset=utf-8",
            ),
        });
        let (status, body, ctype) = reply;
        let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
        if let Some(h) = header("Content-Type", ctype) {
            resp = resp.with_header(h);
        }
        if let Err(e) = req.respond(resp) {
            tracing::debug!("metrics endpoint: response not sent: {e}");
        }
    }
}
