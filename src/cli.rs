//! Command-line definitions (clap). `main` dispatches on [`Command`].

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "logferry",
    version,
    about = "Tail rotating log directories and ship every line to Kafka with acks=-1"
)]
pub struct Cli {
    /// Log output format (stderr). RUST_LOG-style filtering via LOGFERRY_LOG or RUST_LOG.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent in the foreground.
    Run {
        /// Path to the TOML config.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the config and print, per section, the files that would ship with their checkpointed offsets.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the bundled Kafka-compatible broker on its own.
    Broker {
        /// Address to listen on (overrides [broker] listen).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides [broker] data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Optional config file; only its [broker] section is used.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}
