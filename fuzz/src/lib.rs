//! The logferry modules the fuzz targets drive, compiled from the main crate's sources (same
//! module paths, so their `crate::` references resolve) without linking librdkafka.
#![allow(dead_code)]

#[path = "../../src/broker/mod.rs"]
pub mod broker;
#[path = "../../src/checkpoint.rs"]
pub mod checkpoint;
#[path = "../../src/config.rs"]
pub mod config;
#[path = "../../src/framing.rs"]
pub mod framing;
#[path = "../../src/identity.rs"]
pub mod identity;
