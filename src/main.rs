//! The `mauved` command: `serve` runs the daemon, `check-config` checks a file.
//! This file only reads arguments and turns signals into the daemon's
//! shutdown; `mauved::daemon` does the rest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mauved::clock::Clock;
use mauved::config::Config;

#[derive(Parser)]
#[command(
    name = "mauved",
    version,
    about = "An alert server for mauvealert's mauvesend"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon (with the built-in configuration unless --config is given).
    Serve {
        /// The TOML configuration file (see `mauved default-config`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Check a configuration file: every invalid value is reported (a syntax
    /// or type error stops the check where it is); warnings do not fail it.
    CheckConfig {
        /// The TOML configuration file to check.
        file: PathBuf,
    },
    /// Print the built-in configuration.
    DefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Cmd::Serve { config } => {
            let config = match config {
                Some(path) => match Config::load(&path) {
                    Ok(config) => config,
                    Err(err) => {
                        eprintln!("mauved: {err}");
                        return ExitCode::from(2);
                    }
                },
                None => Config::embedded(),
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(err) => {
                    eprintln!("mauved: cannot start the runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let served = runtime.block_on(mauved::daemon::run(&config, Clock::system(), signal()));
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("mauved: {err:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                for warning in config.warnings() {
                    println!("{}: warning: {warning}", file.display());
                }
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::from(2)
            }
        },
        Cmd::DefaultConfig => {
            print!("{}", mauved::config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
