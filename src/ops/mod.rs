//! What operators look at: counters and gauges ([`metrics`]), the HTTP endpoint serving them
//! with the health check ([`endpoint`]) and the web console ([`console`]), and systemd
//! service notifications ([`systemd`]). The pipeline only holds cheap metric handles; nothing
//! here is on its hot path.

pub mod console;
pub mod endpoint;
pub mod metrics;
pub mod systemd;
