//! logferry
pub mod broker;
pub mod cli;
