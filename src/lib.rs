//! logferry: tails rotating log directories and ships every line to Kafka with acks=-1,
//! resuming from durable checkpoints.
//!
//! Data flow, one owner per stage (one task per section, see [`section`]):
//!
//! ```text
//! discovery ──► queue ──► reader ──► framing ──► sender ──► bundled broker | Kafka cluster
//! (notify +     (mtime    (open,     (bytes →    (rdkafka,            │ delivery reports
//!  rescan)       order,    seek,      lines)      batches)            ▼
//!                identity) follow)                          checkpoint (highest contiguous
//!                                                           acknowledged offset per file)
//! ```
//!
//! Offsets are saved only after the broker acknowledged the lines, never on read. When the
//! broker is slow or down, reading pauses and the files on disk are the buffer.

pub mod agent;
pub mod broker;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod consume;
pub mod discovery;
pub mod endpoint;
pub mod framing;
pub mod identity;
pub mod lag;
pub mod metrics;
pub mod queue;
pub mod reader;
pub mod section;
pub mod sender;
pub mod status;
pub mod systemd;
