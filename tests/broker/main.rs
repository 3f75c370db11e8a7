//! Behaviour of the bundled broker (crates/broker) as real clients see it: librdkafka
//! producers and consumer groups, raw protocol requests, kill -9 of `logferry broker`.

#[path = "../util/mod.rs"]
mod util;

mod admin;
mod commit_crash;
mod config;
mod crash;
mod faults;
mod groups;
mod idempotence;
mod malformed;
mod security;
mod through_librdkafka;
mod versions;
