//! Generates the man pages and shell completions that the .deb ships, from the clap
//! definitions in `logferry::commands::cli`, so they never drift from `logferry --help`.
//!
//! `cargo run --release --example logferry-gen -- OUT_DIR` writes:
//!   OUT_DIR/man/logferry.1, logferry-run.1, logferry-check.1, logferry-broker.1
//!   OUT_DIR/completions/logferry.bash, _logferry (zsh), logferry.fish
//!
//! An example rather than a build.rs: it runs only when packaging, not on every build.

use clap::CommandFactory;
use clap_complete::Shell;
use logferry::commands::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
enum GenError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), GenError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| GenError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| GenError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn render_man(cmd: clap::Command) -> Result<Vec<u8>, std::io::Error> {
    let mut buf = Vec::new();
    // The footer names the package and version on every page, subcommands included
    // (their own name and no version otherwise).
    clap_mangen::Man::new(cmd)
        .source(concat!("logferry ", env!("CARGO_PKG_VERSION")))
        .manual("logferry manual")
        .render(&mut buf)?;
    Ok(buf)
}

fn generate(out: &Path) -> Result<(), GenError> {
    let mut cmd = Cli::command();
    // Resolve the subcommands' display and bin names for their own pages; the generated
    // help subcommand gets no page.
    cmd.build();
    let man = out.join("man");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenError::Write { path, source }
    };
    let page = man.join("logferry.1");
    write(&page, &render_man(cmd.clone()).map_err(io(&page))?)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("logferry-{}", sub.get_name());
        let page = man.join(format!("{name}.1"));
        // After build(), a subcommand's display name is "logferry-run" and its bin name
        // "logferry run": the page's title and synopsis.
        write(&page, &render_man(sub.clone()).map_err(io(&page))?)?;
    }
    let comp = out.join("completions");
    for (shell, file) in [
        (Shell::Bash, "logferry.bash"),
        (Shell::Zsh, "_logferry"),
        (Shell::Fish, "logferry.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "logferry", &mut buf);
        write(&comp.join(file), &buf)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: logferry-gen OUT_DIR");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => {
            println!("wrote man pages and completions to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
