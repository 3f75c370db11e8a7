//! One module per subcommand. Only this layer turns errors into a message and an exit code;
//! everything below returns typed errors with their context.

pub mod broker;
pub mod check;
pub mod cli;
pub mod consume;
pub mod lag;
pub mod monitor;
pub mod run;
pub mod status;

use cli::{Cli, Command, LogFormat};
use std::fmt::Display;
use std::io::IsTerminal;

/// An error for the user, and the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: u8,
}

/// `map_err` helper: exit `code` with `e` as the message.
fn exit_with<E: Display>(code: u8) -> impl Fn(E) -> Failure {
    move |e| Failure {
        message: e.to_string(),
        code,
    }
}

/// Logs to stderr, filtered by `LOGFERRY_LOG` (else `RUST_LOG`, else info). Colours only on
/// a terminal (journald shows escape codes verbatim). Safe to call twice: the second call
/// keeps the first subscriber.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGFERRY_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(exit_with(1))
}

/// Run a parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<u8, Failure> {
    init_tracing(cli.log_format);
    match cli.command {
        Command::Run { config } => {
            runtime()?.block_on(run::run(&config)).map_err(|e| {
                tracing::error!("{e}");
                exit_with(1)(e)
            })?;
            Ok(0)
        }
        Command::Check { config } => {
            let ok = check::check(&config, &mut std::io::stdout()).map_err(exit_with(1))?;
            Ok(if ok { 0 } else { 1 })
        }
        Command::Status { config, json } => {
            // Exit 2 on error, the monitoring-plugin convention.
            let cfg = crate::config::Config::load(&config).map_err(exit_with(2))?;
            let st = status::collect(&cfg, std::time::SystemTime::now());
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&st).map_err(exit_with(2))?
                );
            } else {
                print!("{}", status::render(&cfg, &st));
            }
            Ok(status::exit_code(&st))
        }
        Command::Consume {
            brokers,
            topic,
            group,
            from_beginning,
            count,
            config,
        } => {
            let brokers = crate::config::resolve_brokers(&brokers, config.as_deref())
                .map_err(exit_with(2))?;
            let args = consume::ConsumeArgs {
                brokers,
                topic,
                group,
                from_beginning,
                count,
            };
            consume::consume(&args, &mut std::io::stdout().lock()).map_err(exit_with(1))?;
            Ok(0)
        }
        Command::Lag {
            brokers,
            group,
            config,
        } => {
            let brokers = crate::config::resolve_brokers(&brokers, config.as_deref())
                .map_err(exit_with(2))?;
            let rows = lag::lag(&brokers, group.as_deref()).map_err(exit_with(1))?;
            print!("{}", lag::render(&rows));
            Ok(0)
        }
        Command::Monitor {
            brokers,
            topic,
            config,
            state_dir,
            metrics_listen,
            once,
            duration_ms,
            json,
        } => {
            // Exit 2 on error, the monitoring-plugin convention.
            let args = monitor::MonitorArgs {
                brokers,
                topic,
                config,
                state_dir,
                metrics_listen,
                once,
                duration: duration_ms.map(std::time::Duration::from_millis),
            };
            let settings = monitor::settings(&args).map_err(exit_with(2))?;
            if !once {
                runtime()?
                    .block_on(monitor::run(settings))
                    .map_err(exit_with(2))?;
                return Ok(0);
            }
            let report = runtime()?
                .block_on(monitor::once(settings))
                .map_err(exit_with(2))?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(exit_with(2))?
                );
            } else {
                print!("{}", monitor::render(&report));
            }
            Ok(monitor::exit_code(&report))
        }
        Command::Broker {
            action: Some(cli::BrokerAction::User { action }),
            ..
        } => {
            let msg = broker::user(action).map_err(exit_with(2))?;
            println!("{msg}");
            Ok(0)
        }
        Command::Broker {
            action: None,
            listen,
            data_dir,
            http_listen,
            config,
        } => {
            let (cfg, dir) = broker::settings(listen, data_dir, http_listen, config.as_deref())
                .map_err(exit_with(2))?;
            runtime()?
                .block_on(broker::run(cfg, dir))
                .map_err(exit_with(1))?;
            Ok(0)
        }
    }
}
