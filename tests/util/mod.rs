//! Helpers shared by the integration-test binaries (tests/agent, tests/broker, tests/limits):
//! [`agent`] starts agents against librdkafka's mock cluster or the bundled broker and reads
//! topics back; [`broker`] runs brokers in-process or as child processes (for kill -9) and
//! speaks raw Kafka protocol. Each binary uses part of it.
#![allow(dead_code)]

mod agent;
mod broker;
pub mod pki;

pub use agent::*;
pub use broker::*;
