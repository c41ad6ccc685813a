//! `mauvesend`: a drop-in for mauvealert's client. See `mauvesend --manual`.

use std::process::ExitCode;

use mauved::send::cli::{self, Invocation};
use mauved::send::{self, SystemResolver};
use mauved::wire;

const DESTINATION_FILE: &str = "/etc/mauvealert/mauvesend.destination";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mauvesend: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let now = mauved::clock::Clock::system().now();
    let request = match cli::parse(args, now)? {
        Invocation::Help => {
            print!("{}", cli::USAGE);
            return Ok(());
        }
        Invocation::Manual => {
            print!("{}", cli::MANUAL);
            return Ok(());
        }
        Invocation::Version => {
            println!(
                "mauvesend version {} (mauved; speaks mauvealert 3.15.15's protocol)",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(());
        }
        Invocation::Send(request) => request,
    };
    let mut words = request.destinations.clone();
    if words.is_empty() {
        words = default_destinations();
    }
    if words.is_empty() {
        return Err(format!(
            "No destinations specified on the command line, in $MAUVESEND_DESTINATION or in {DESTINATION_FILE}"
        ));
    }
    let destinations = words
        .iter()
        .map(|w| send::parse_destination(w))
        .collect::<Result<Vec<_>, _>>()?;

    let update = send::prepare(request.source, request.replace, request.alerts, now, None);
    if request.verbose >= 1 {
        println!(
            "Sending {} from {} to {}",
            update.transmission_id,
            update.source,
            words.join(", ")
        );
    }
    if request.verbose >= 2 {
        println!("{update:#?}");
    }
    let report = send::send(
        &wire::encode(&update),
        &destinations,
        &SystemResolver::new(),
    );
    for destination in &report.unresolved {
        eprintln!("mauvesend: no address found for {destination}");
    }
    for (addr, err) in &report.failed {
        // mauve ignores unreachable networks; anything else is worth a word.
        if err.kind() != std::io::ErrorKind::NetworkUnreachable || request.verbose > 0 {
            eprintln!("mauvesend: sending to {addr} failed: {err}");
        }
    }
    if report.sent.is_empty() {
        return Err("Failed to send any packets to any destinations!".into());
    }
    Ok(())
}

/// `$MAUVESEND_DESTINATION`, else the destination file: white-space separated.
fn default_destinations() -> Vec<String> {
    let text = std::env::var("MAUVESEND_DESTINATION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::fs::read_to_string(DESTINATION_FILE).ok())
        .unwrap_or_default();
    text.split_whitespace().map(String::from).collect()
}
