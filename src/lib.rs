//! logferry: tails rotating log directories and ships every line to Kafka with acks=-1,
//! resuming from durable checkpoints.
//!
//! Data flow, one owner per stage (one task per section, see [`agent::section`]):
//!
//! ```text
//! discovery ──► queue ──► reader ──► framing ──► sender ──► bundled broker | Kafka cluster
//! (watcher +    (mtime    (open,     (bytes →    (rdkafka,            │ delivery reports
//!  rescan)       order,    seek,      lines)      batches)            ▼
//!                identity) follow)                          inflight (acks move only over
//!                                                           the contiguous front)
//!                                                                     │
//!                                                                     ▼
//!                                                           checkpoint (acknowledged offset
//!                                                           per file, written atomically)
//! every stage reports through ops::metrics ──► /metrics, /healthz, alerts, systemd STATUS
//! ```
//!
//! Offsets are saved only after the broker acknowledged the lines, never on read. When the
//! broker is slow or down, reading pauses and the files on disk are the buffer.
//!
//! Module map:
//! - [`config`]: the TOML file → validated [`config::Config`] (agent, output, topic and broker
//!   sections; a broker-only mode for `logferry broker`, `consume` and `lag`).
//! - [`agent`]: the pipeline above: state-dir lock, sections, reload and ordered shutdown.
//! - [`commands`]: one module per subcommand (signals and sd_notify live in `run`).
//! - [`ops`]: what operators look at: metrics, the HTTP endpoint, systemd notifications.
//! - [`clock`]: wall-clock readings shared by all of them.
//! - The bundled broker is the `logferry_broker` crate (crates/broker); it knows nothing of
//!   files, and the agent talks to it over the Kafka protocol through rdkafka, exactly as it
//!   talks to a Kafka cluster.

pub mod agent;
pub mod clock;
pub mod commands;
pub mod config;
pub mod ops;
