//! The HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /healthz` (200, or 503 with a
//! line per stuck section). Served from its own thread so a slow scraper never touches the
//! shipping path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot listen on metrics_listen {addr}: {reason}; set [agent] metrics_listen to a free address, or \"\" to disable the endpoint")]
    Bind { addr: String, reason: String },
}

pub type RenderFn = Arc<dyn Fn() -> String + Send + Sync>;
pub type HealthFn = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

pub struct Endpoint {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Endpoint {
    pub fn start(
        addr: &str,
        render: RenderFn,
        health: HealthFn,
    ) -> Result<Endpoint, EndpointError> {
        let server = tiny_http::Server::http(addr).map_err(|e| EndpointError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| EndpointError::Bind {
                addr: addr.to_string(),
                reason: "not an IP address".to_string(),
            })?;
        let server = Arc::new(server);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-endpoint".to_string())
            .spawn(move || serve(&s, &render, &health))
            .map_err(|e| EndpointError::Bind {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        tracing::info!(%local, "metrics endpoint listening (/metrics, /healthz)");
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

fn serve(server: &tiny_http::Server, render: &RenderFn, health: &HealthFn) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("").to_string();
        // Prometheus asks for OpenMetrics; everyone else gets the classic text format.
        let openmetrics = req.headers().iter().any(|h| {
            h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
        });
        let (status, body, ctype) = match (req.method(), path.as_str()) {
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
                "not found: try /metrics or /healthz\n".to_string(),
                "text/plain; charset=utf-8",
            ),
        };
        let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
        if let Some(h) = header("Content-Type", ctype) {
            resp = resp.with_header(h);
        }
        if let Err(e) = req.respond(resp) {
            tracing::debug!("metrics endpoint: response not sent: {e}");
        }
    }
}
