//! Thin entry point: parse the command line, set up logging, dispatch, map errors to exit codes.

use clap::Parser;
use logferry::cli::{Cli, Command, LogFormat};
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

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Run { config } => match rt.block_on(logferry::agent::run(&config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        Command::Check { config } => {
            let mut out = std::io::stdout();
            match logferry::agent::check(&config, &mut out) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Status { config, json } => {
            let cfg = match logferry::config::Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let st = logferry::status::collect(&cfg, std::time::SystemTime::now());
            if json {
                match serde_json::to_string_pretty(&st) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", logferry::status::render(&cfg, &st));
            }
            ExitCode::from(logferry::status::exit_code(&st))
        }
        Command::Consume {
            brokers,
            topic,
            group,
            from_beginning,
            count,
            config,
        } => {
            let brokers = match logferry::config::resolve_brokers(&brokers, config.as_deref()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let args = logferry::consume::ConsumeArgs {
                brokers,
                topic,
                group,
                from_beginning,
                count,
            };
            match logferry::consume::consume(&args, &mut std::io::stdout().lock()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Lag {
            brokers,
            group,
            config,
        } => {
            let brokers = match logferry::config::resolve_brokers(&brokers, config.as_deref()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            match logferry::lag::lag(&brokers, group.as_deref()) {
                Ok(rows) => {
                    print!("{}", logferry::lag::render(&rows));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Broker {
            listen,
            data_dir,
            config,
        } => match rt.block_on(logferry::broker::broker_command(listen, data_dir, config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}
