//! Behaviour of the agent against real brokers (librdkafka's mock cluster, the bundled broker,
//! `logferry broker` as a child process), read back and compared line by line. One binary,
//! so librdkafka is linked once; each module is one concern.

#[path = "../util/mod.rs"]
mod util;

mod acl;
mod bundled;
mod console;
mod faults;
mod limits;
mod model;
mod monitor;
mod monitoring;
mod packaging;
mod reload;
mod restart;
mod rotation;
mod status;
