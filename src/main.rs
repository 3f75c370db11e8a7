//! Thin entry point: parse the command line, set up logging, dispatch, map errors to exit codes.

use clap::Parser;
use logferry::cli::{Cli, Command, LogFormat};
use std::fmt::Display;
use std::io::IsTerminal;
use std::process::ExitCode;

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOGFERRY_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// An error for the user, and the exit code it maps to.
struct Failure {
    message: String,
    code: u8,
}

/// `map_err` helper: exit `code` with `e` as the message.
fn exit_with<E: Display>(code: u8) -> impl Fn(E) -> Failure {
    move |e| Failure {
        message: e.to_string(),
        code,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode, Failure> {
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(exit_with(1))
    };
    match command {
        Command::Run { config } => {
            rt()?.block_on(logferry::agent::run(&config)).map_err(|e| {
                tracing::error!("{e}");
                exit_with(1)(e)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let ok =
                logferry::agent::check(&config, &mut std::io::stdout()).map_err(exit_with(1))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Status { config, json } => {
            // Exit 2 on error, the monitoring-plugin convention.
            let cfg = logferry::config::Config::load(&config).map_err(exit_with(2))?;
            let st = logferry::status::collect(&cfg, std::time::SystemTime::now());
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&st).map_err(exit_with(2))?
                );
            } else {
                print!("{}", logferry::status::render(&cfg, &st));
            }
            Ok(ExitCode::from(logferry::status::exit_code(&st)))
        }
        Command::Consume {
            brokers,
            topic,
            group,
            from_beginning,
            count,
            config,
        } => {
            let brokers = logferry::config::resolve_brokers(&brokers, config.as_deref())
                .map_err(exit_with(2))?;
            let args = logferry::consume::ConsumeArgs {
                brokers,
                topic,
                group,
                from_beginning,
                count,
            };
            logferry::consume::consume(&args, &mut std::io::stdout().lock())
                .map_err(exit_with(1))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lag {
            brokers,
            group,
            config,
        } => {
            let brokers = logferry::config::resolve_brokers(&brokers, config.as_deref())
                .map_err(exit_with(2))?;
            let rows = logferry::lag::lag(&brokers, group.as_deref()).map_err(exit_with(1))?;
            print!("{}", logferry::lag::render(&rows));
            Ok(ExitCode::SUCCESS)
        }
        Command::Broker {
            listen,
            data_dir,
            config,
        } => {
            rt()?
                .block_on(logferry::broker::broker_command(listen, data_dir, config))
                .map_err(exit_with(1))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
