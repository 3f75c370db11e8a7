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
    /// Backlog per section from the checkpoints and files (works whether or not the agent
    /// runs). Exit code 0 OK, 1 if a section is over a threshold, 2 on error.
    Status {
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print messages of a topic, one per line.
    Consume {
        /// Bootstrap servers, or "bundled" with --config to use the bundled broker's address.
        #[arg(long)]
        brokers: String,
        #[arg(long)]
        topic: String,
        /// Consume as this consumer group (offsets are committed).
        #[arg(long)]
        group: Option<String>,
        /// Start at the oldest message instead of new ones.
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Config file, to resolve --brokers bundled.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Committed offset, log end and lag per consumer group, topic and partition.
    Lag {
        /// Bootstrap servers, or "bundled" with --config.
        #[arg(long)]
        brokers: String,
        /// Only this group (default: every group).
        #[arg(long)]
        group: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The end-to-end monitor (Kafka Monitor built in): canaries on every partition of a
    /// monitor topic, read back for availability, loss, duplicates and latency. Runs until
    /// SIGTERM/SIGINT serving /metrics; with --once, prints a table and exits 0 (SLA met),
    /// 1 (violated) or 2 (error).
    Monitor {
        /// Bootstrap servers, or "bundled" with --config.
        #[arg(long)]
        brokers: String,
        /// Monitor topic (overrides [monitor] topic; default logferry-monitor).
        #[arg(long)]
        topic: Option<String>,
        /// Config file: its [monitor] keys, [agent] alert_command and state_dir are used.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where the producer id and sequence numbers live (default
        /// <state_dir>/monitor-standalone).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// /metrics and /healthz address (overrides [monitor] metrics_listen; "" disables).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Measure once, print the table and exit with a Nagios-style code.
        #[arg(long)]
        once: bool,
        /// With --once: how long to measure (default: 10 intervals, at least the produce
        /// timeout and two intervals).
        #[arg(long)]
        duration_ms: Option<u64>,
        /// With --once: print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the bundled Kafka-compatible broker on its own (SIGHUP rereads its ACLs and users),
    /// or manage its SASL users.
    #[command(args_conflicts_with_subcommands = true)]
    Broker {
        #[command(subcommand)]
        action: Option<BrokerAction>,
        /// Address to listen on (overrides [broker] listen).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides [broker] data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Serve the web console, /api/v1/status, /metrics and /healthz on this address
        /// (overrides [broker] http_listen; "" disables).
        #[arg(long)]
        http_listen: Option<String>,
        /// Optional config file; only its [broker] section is used.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// `logferry broker user ...`.
#[derive(Debug, Subcommand)]
pub enum BrokerAction {
    /// SASL users of the bundled broker ([broker] credentials_file).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user, or replace its password. The password is read from standard input (its
    /// first line); only salted, iterated SCRAM-SHA-256/512 credentials are stored.
    Add {
        name: String,
        /// Config file whose [broker] credentials_file is used.
        #[arg(long, short, required_unless_present = "credentials_file")]
        config: Option<PathBuf>,
        /// The users file itself (instead of --config).
        #[arg(long, conflicts_with = "config")]
        credentials_file: Option<PathBuf>,
    },
    /// Remove a user (its connections stay; new logins are refused).
    Remove {
        name: String,
        #[arg(long, short, required_unless_present = "credentials_file")]
        config: Option<PathBuf>,
        #[arg(long, conflicts_with = "config")]
        credentials_file: Option<PathBuf>,
    },
}
