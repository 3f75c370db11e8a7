use clap::Parser;
use logferry::cli::{Cli, Command};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Broker {
            listen,
            data_dir,
            config,
        } => logferry::broker::broker_command(listen, data_dir, config).await,
        _ => {
            eprintln!("logferry: only the `broker` subcommand is wired on this branch");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("logferry: {e}");
        std::process::exit(1);
    }
}
