//! The bundled single-node Kafka-compatible broker. It knows nothing about log files.

pub mod config;
pub mod log;
pub use config::{BrokerConfig, Flush};
