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
    /// Show who would be told of an alert, and how (the configuration's alert groups).
    Route {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The alert's source.
        #[arg(long)]
        source: String,
        /// The alert's id.
        #[arg(long)]
        id: String,
        /// The alert's subject (default: the source).
        #[arg(long)]
        subject: Option<String>,
        /// The alert's summary.
        #[arg(long, default_value = "")]
        summary: String,
        /// The alert's importance.
        #[arg(long, default_value_t = mauved::alert::DEFAULT_IMPORTANCE)]
        importance: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
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
        Cmd::Route {
            config,
            source,
            id,
            subject,
            summary,
            importance,
            json,
        } => match Config::load(&config) {
            Ok(config) => {
                let key = mauved::alert::AlertKey::new(source, id);
                let record = mauved::alert::Record {
                    subject: subject.unwrap_or_else(|| key.source.clone()),
                    summary,
                    importance,
                    ..Default::default()
                };
                let router = mauved::routing::Router::new(&config);
                print!("{}", route_report(&router, &config, &key, &record, json));
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::from(2)
            }
        },
    }
}

/// `mauved route`: the explanation as text or JSON.
fn route_report(
    router: &mauved::routing::Router,
    config: &Config,
    key: &mauved::alert::AlertKey,
    record: &mauved::alert::Record,
    json: bool,
) -> String {
    let all: Vec<&str> = config.notifiers.iter().map(|n| n.name()).collect();
    let explained = router.explain(key, record);
    if json {
        let value = match &explained {
            None => serde_json::json!({
                "group": null, "level": null, "recipients": [],
                "every_notifier": all, "deferred_until": null,
            }),
            Some(e) => serde_json::json!({
                "group": e.group,
                "level": e.level,
                "recipients": e.recipients.iter().map(|r| serde_json::json!({
                    "person": r.person,
                    "notifiers": r.notifiers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                    "addresses": r.notifiers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                })).collect::<Vec<_>>(),
                "deferred_until": null,
            }),
        };
        return format!("{value}\n");
    }
    match explained {
        None => format!(
            "no [[alert_group]]: every notifier is told ({})\n",
            all.join(", ")
        ),
        Some(e) => match (&e.group, e.level) {
            (Some(group), Some(level)) => {
                let mut out = format!("{key}: group {group:?}, level {}\n", level.as_str());
                if e.recipients.is_empty() {
                    out.push_str("  nobody: the group names no one with a notifier at this level\n");
                }
                for r in &e.recipients {
                    let via: Vec<String> =
                        r.notifiers.iter().map(|(n, a)| format!("{n} {a}")).collect();
                    out.push_str(&format!("  {}: {}\n", r.person, via.join(", ")));
                }
                out
            }
            _ => format!(
                "{key}: no alert group matches; nobody is told (end the file with a catch-all group)\n"
            ),
        },
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
