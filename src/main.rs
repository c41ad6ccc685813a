//! The `mauved` command line (its subcommands: `mauved --help`, or
//! docs/man). This file reads arguments and turns signals into the
//! daemon's shutdown; the library does the rest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mauved::clock::Clock;
use mauved::config::Config;
use mauved::routing::{self, explain};

/// jemalloc: a burst of new alerts allocates on several threads at once
/// (docs/performance.md, target 7).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Check a configuration file: every problem is reported, each with its
    /// line and key (only a TOML syntax error stops the check where it is);
    /// warnings do not fail it.
    CheckConfig {
        /// The TOML configuration file to check.
        file: PathBuf,
    },
    /// Print the built-in configuration.
    DefaultConfig,
    /// Take a consistent copy of a running station's store into FILE
    /// (POST /api/backup: a change, so a token with `act`, or JSON from
    /// this host in open mode).
    Backup {
        /// The station's HTTP address.
        #[arg(long, default_value = "http://127.0.0.1:1288")]
        url: String,
        /// A token (`Authorization: Bearer`), when the station has them.
        #[arg(long)]
        token: Option<String>,
        /// Where the copy goes (written whole, then renamed).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Send one test message to a person through one notifier of a
    /// configuration, with the daemon's own code (no daemon needed): exit 0
    /// if the notifier took it, 1 if not (with why).
    TestNotify {
        /// The TOML configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The person (`[person.<name>]`).
        #[arg(long)]
        person: String,
        /// The notifier (`[[notifier]] name`).
        #[arg(long)]
        notifier: String,
    },
    /// Put a backup back as a new store (the daemon stopped), in an empty
    /// or missing data directory (store.path).
    Restore {
        /// The backup `mauved backup` wrote.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The data directory to make.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Write the manual pages (mauved.1 and one per command) into a folder.
    Man {
        /// Where to write them (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Translate a mauve server configuration (its Ruby DSL, read without
    /// running it) into a mauved configuration on stdout, with a report on
    /// stderr: what was translated, what differs, what was left out, by
    /// line. Exit 0: all translated; 1: something left out; 2: unreadable.
    ImportMauve {
        /// mauve's configuration file (mauveserver.conf).
        file: PathBuf,
        /// The IANA time zone mauve's host ran in (default: this host's).
        #[arg(long)]
        timezone: Option<String>,
    },
    /// Show who would be told of an alert, and how (the configuration's alert groups).
    Route {
        /// The TOML configuration file (default: the built-in one, as `serve`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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
        /// The moment to route at: RFC 3339, a local date-time in
        /// `oncall.timezone` (2026-12-24T22:00) or Unix seconds; default now.
        #[arg(long)]
        at: Option<String>,
        /// When the alert was raised (read as --at); default: at --at. With
        /// `--event reminder`, the escalations due by then are included.
        #[arg(long)]
        raised_at: Option<String>,
        /// The event: raised, cleared, acknowledged, re-raised or reminder.
        #[arg(long, default_value = "raised")]
        event: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// A running daemon whose silences to take into account
        /// (`http://127.0.0.1:1288`): the ones muting the alert are named.
        #[arg(long)]
        url: Option<String>,
        /// The API token, if reading needs a login.
        #[arg(long)]
        token: Option<String>,
    },
    /// Read a password on standard input and print its hash for
    /// `[[http.user]] password_hash`.
    HashPassword,
    /// Print a new random token for `[[http.token]] token`.
    NewToken,
    /// What a daemon in shadow mode (`delivery.shadow`) would have sent: one
    /// line per alert and message, oldest first, worded as mauve logs the
    /// notifications it sends ("<time> Raised sms notification to alice
    /// (+44…) would have been sent about web1/disk").
    ShadowReport {
        /// The daemon's HTTP address.
        #[arg(long, default_value = "http://127.0.0.1:1288")]
        url: String,
        /// From this moment: RFC 3339 or Unix seconds.
        #[arg(long)]
        since: Option<String>,
        /// Until this moment (excluded): RFC 3339 or Unix seconds.
        #[arg(long)]
        until: Option<String>,
        /// A `[[http.token]]` token, when reading needs a login.
        #[arg(long)]
        token: Option<String>,
    },
    /// A shift handover from a running daemon: what was raised, who was
    /// told and when, who acknowledged after how long, what is still open,
    /// the notes, and per alert group the time to acknowledge and to clear.
    Handover(HandoverArgs),
    /// Show who each rotation has on call, and the next hand-over.
    Oncall {
        /// The TOML configuration file (default: the built-in one, as `serve`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The moment to look at (as for `route --at`); default now.
        #[arg(long)]
        at: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `mauved handover`'s arguments.
#[derive(clap::Args)]
struct HandoverArgs {
    /// The daemon's HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:1288")]
    url: String,
    /// From: `18:00` (the latest in the station's zone), `-12h`, Unix
    /// seconds or RFC 3339 (default: 12 hours before --until).
    #[arg(long)]
    since: Option<String>,
    /// Until (excluded), as --since (default: now).
    #[arg(long)]
    until: Option<String>,
    /// text (for a terminal), markdown (for a chat) or json.
    #[arg(long, default_value = "text", value_parser = ["text", "markdown", "json"])]
    format: String,
    /// A `[[http.token]]` token, when reading needs a login.
    #[arg(long)]
    token: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Cmd::Serve { config } => serve(config),
        Cmd::CheckConfig { file } => check_config(&file),
        Cmd::DefaultConfig => {
            print!("{}", mauved::config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Cmd::Backup { url, token, to } => backup_to(&url, token.as_deref(), &to),
        Cmd::Restore { from, data } => restore(&from, &data),
        Cmd::Man { out } => man(&out),
        Cmd::ImportMauve { file, timezone } => import_mauve(&file, timezone),
        Cmd::Route {
            config,
            source,
            id,
            subject,
            summary,
            importance,
            at,
            raised_at,
            event,
            json,
            url,
            token,
        } => {
            let silences = match url {
                None => Vec::new(),
                Some(url) => match silences_of(&url, token.as_deref()) {
                    Ok(list) => list,
                    Err(why) => {
                        eprintln!("mauved: {why}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let alert = explain::Alert {
                silences,
                key: mauved::alert::AlertKey::new(source, id),
                subject,
                summary,
                importance,
                raised_at,
            };
            report(config, at.as_deref(), |router, config, at| {
                explain::route(router, config, &alert, &event, at, json)
            })
        }
        Cmd::HashPassword => hash_password(),
        Cmd::ShadowReport {
            url,
            since,
            until,
            token,
        } => shadow_report(&url, since.as_deref(), until.as_deref(), token.as_deref()),
        Cmd::Handover(args) => handover(args),
        Cmd::TestNotify {
            config,
            person,
            notifier,
        } => test_notify(&config, &person, &notifier),
        Cmd::NewToken => {
            println!("{}", mauved::http::auth::secret());
            ExitCode::SUCCESS
        }
        Cmd::Oncall { config, at, json } => report(config, at.as_deref(), |router, _, at| {
            Ok(explain::oncall(router, at, json))
        }),
    }
}

/// Logs to stderr, every line escaped (no colours: an escape from outside
/// would pass as one); the HTML parser's complaints about senders' markup
/// are not the operator's business.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive("html5ever=off".parse().expect("a valid directive"))
        .add_directive("markup5ever=off".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_writer(|| mauved::untrusted::EscapedLines(std::io::stderr()))
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
}

/// `mauved check-config`: every problem (exit 2), else the warnings and ok.
fn check_config(file: &std::path::Path) -> ExitCode {
    match routing::load(file) {
        Ok((config, _)) => {
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
    }
}

/// `mauved backup`: a running station's copy into `to`.
fn backup_to(url: &str, token: Option<&str>, to: &std::path::Path) -> ExitCode {
    match backup(url, token, to) {
        Ok(bytes) => {
            println!("{}: {bytes} bytes", to.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mauved: backup from {url}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `mauved restore`: a backup put back as the data directory.
fn restore(from: &std::path::Path, data: &std::path::Path) -> ExitCode {
    match mauved::store::backup::restore(from, data) {
        Ok(entries) => {
            println!(
                "{}: {entries} entries restored from {}",
                data.display(),
                from.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mauved: restore from {}: {err}", from.display());
            ExitCode::from(2)
        }
    }
}

/// `mauved man`: the manual pages written into `out`.
fn man(out: &std::path::Path) -> ExitCode {
    match write_manual(out) {
        Ok(written) => {
            for page in written {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mauved: writing the manual into {}: {err}", out.display());
            ExitCode::FAILURE
        }
    }
}

/// `mauved import-mauve`: the translation on stdout (only when it passes
/// the same checks as `check-config`), the report on stderr.
fn import_mauve(file: &std::path::Path, timezone: Option<String>) -> ExitCode {
    use mauved::import::{self, Kind};
    let name = file.display();
    let bytes = match import::read_file(file) {
        Ok(bytes) => bytes,
        Err(why) => {
            eprintln!("{name}: {why}");
            return ExitCode::from(2);
        }
    };
    let timezone = timezone.unwrap_or_else(|| {
        jiff::tz::TimeZone::system()
            .iana_name()
            .unwrap_or("UTC")
            .to_owned()
    });
    let options = import::Options {
        timezone,
        origin: name.to_string(),
    };
    let imported = match import::read_text(&bytes).and_then(|text| import::import(text, &options)) {
        Ok(imported) => imported,
        Err(fault) => {
            eprintln!("{name}: {fault}");
            return ExitCode::from(2);
        }
    };
    if let Err(err) = routing::parse(&imported.toml, "the translation") {
        eprintln!(
            "{name}: the translation does not pass check-config (a fault of import-mauve):\n{err}"
        );
        return ExitCode::from(2);
    }
    print!("{}", imported.toml);
    for note in &imported.notes {
        eprintln!("{name}: {note}");
    }
    let count = |kind| imported.notes.iter().filter(|n| n.kind == kind).count();
    eprintln!(
        "{name}: {} translated, {} differ, {} not needed, {} left out",
        count(Kind::Translated),
        count(Kind::Differs),
        count(Kind::NotNeeded),
        count(Kind::LeftOut)
    );
    if imported.left_out() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `mauved serve`: loads the configuration (or the embedded default) and
/// runs the daemon until SIGINT or SIGTERM.
fn serve(config: Option<PathBuf>) -> ExitCode {
    let (config, router) = match load(config) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("mauved: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mauved: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let reloads = std::sync::Arc::new(tokio::sync::Notify::new());
    let served = runtime.block_on(async {
        hangups(reloads.clone());
        mauved::daemon::run(&config, router, Clock::system(), signal(), reloads).await
    });
    // A write still blocked on the disk is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mauved: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `mauved backup`: the station's copy streamed into `to`.partial, then
/// renamed, so that `to` is only ever a whole backup.
fn backup(url: &str, token: Option<&str>, to: &std::path::Path) -> Result<u64, String> {
    let partial = to.with_extension("partial");
    let written = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?
        .block_on(async {
            use tokio::io::AsyncWriteExt;
            let mut request = reqwest::Client::new()
                .post(format!("{}/api/backup", url.trim_end_matches('/')))
                .header("content-type", "application/json")
                .body("{}");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let mut answer = request.send().await.map_err(|err| err.to_string())?;
            let status = answer.status();
            if !status.is_success() {
                let body = answer.text().await.unwrap_or_default();
                return Err(format!("{status}: {body}"));
            }
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(|err| format!("{}: {err}", partial.display()))?;
            let mut bytes = 0u64;
            while let Some(chunk) = answer.chunk().await.map_err(|err| err.to_string())? {
                file.write_all(&chunk)
                    .await
                    .map_err(|err| err.to_string())?;
                bytes += chunk.len() as u64;
            }
            file.sync_all().await.map_err(|err| err.to_string())?;
            Ok(bytes)
        })?;
    std::fs::rename(&partial, to).map_err(|err| format!("{}: {err}", to.display()))?;
    Ok(written)
}

/// The manual pages, made from the command line's own definitions (so they
/// never say other than `--help`): `mauved.1` and `mauved-<command>.1`.
fn write_manual(out: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    use clap::CommandFactory;
    std::fs::create_dir_all(out)?;
    let command = Cli::command();
    let mut written = Vec::new();
    let mut page = |name: String, cmd: clap::Command| -> std::io::Result<()> {
        let path = out.join(format!("{name}.1"));
        let mut text = Vec::new();
        clap_mangen::Man::new(cmd).title(name).render(&mut text)?;
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    page("mauved".into(), command.clone())?;
    for sub in command.get_subcommands() {
        page(format!("mauved-{}", sub.get_name()), sub.clone())?;
    }
    Ok(written)
}

/// `mauved hash-password`: the password from standard input, hashed.
fn hash_password() -> ExitCode {
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("mauved: cannot read the password from standard input");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("mauved: give the password on standard input");
        return ExitCode::from(2);
    }
    match mauved::http::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mauved: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration `serve` runs with: the file given, or the built-in one.
fn load(
    path: Option<PathBuf>,
) -> Result<(Config, mauved::routing::Router), mauved::config::ConfigError> {
    match path {
        Some(path) => routing::load(&path),
        None => routing::parse(mauved::config::DEFAULT_TOML, "embedded default"),
    }
}

/// Loads the configuration, reads `--at`, prints what `make` says.
fn report(
    path: Option<PathBuf>,
    at: Option<&str>,
    make: impl FnOnce(&mauved::routing::Router, &Config, u64) -> Result<String, String>,
) -> ExitCode {
    let (config, router) = match load(path) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let at = match at {
        None => Clock::system().now(),
        Some(text) => match explain::parse_at(text, &router) {
            Ok(at) => at,
            Err(why) => {
                eprintln!("mauved: --at: {why}");
                return ExitCode::from(2);
            }
        },
    };
    match make(&router, &config, at) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("mauved: {why}");
            ExitCode::from(2)
        }
    }
}

/// `mauved shadow-report`: `GET /api/shadow` of a running daemon, as lines.
fn shadow_report(
    url: &str,
    since: Option<&str>,
    until: Option<&str>,
    token: Option<&str>,
) -> ExitCode {
    let moment = |name: &str, text: Option<&str>| -> Result<Option<u64>, String> {
        let Some(text) = text else { return Ok(None) };
        mauved::timefmt::moment(text).map(Some).ok_or_else(|| {
            format!("--{name} {text:?}: Unix seconds or RFC 3339 (2026-12-01T09:00:00Z)")
        })
    };
    let (since, until) = match (moment("since", since), moment("until", until)) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(why), _) | (_, Err(why)) => {
            eprintln!("mauved: {why}");
            return ExitCode::from(2);
        }
    };
    let mut query = Vec::new();
    if let Some(since) = since {
        query.push(format!("since={since}"));
    }
    if let Some(until) = until {
        query.push(format!("until={until}"));
    }
    let address = format!(
        "{}/api/shadow?{}",
        url.trim_end_matches('/'),
        query.join("&")
    );
    let fetched = get_list(&address, token);
    let (lines, shadow) = match fetched {
        Ok(fetched) => fetched,
        Err(why) => {
            eprintln!("mauved: {address}: {why}");
            return ExitCode::FAILURE;
        }
    };
    let text = |line: &serde_json::Value, key: &str| line[key].as_str().unwrap_or("-").to_owned();
    // mauve's log says "Raised sms notification to alice (+44…) succeeded
    // about <alert>": the same words, so the two can be compared line by line.
    for line in &lines {
        println!(
            "{} {} about {}/{}",
            text(line, "time"),
            text(line, "text"),
            text(line, "source"),
            text(line, "id"),
        );
    }
    // Nothing to show from a station that is not in shadow mode says
    // nothing by itself: said here, and not a success.
    if shadow.as_deref() == Some("off") {
        eprintln!(
            "mauved: {url} is not in shadow mode (delivery.shadow = false): it delivers, and records nothing as \"would have sent\"{}",
            if lines.is_empty() { "" } else { " now (the lines above are from when it was)" }
        );
        if lines.is_empty() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `mauved handover`: `GET /api/handover` of a running daemon, printed.
fn handover(args: HandoverArgs) -> ExitCode {
    let HandoverArgs {
        url,
        since,
        until,
        format,
        token,
    } = args;
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("since", since), ("until", until), ("format", Some(format))] {
        if let Some(value) = value {
            pairs.append_pair(name, &value);
        }
    }
    let address = format!(
        "{}/api/handover?{}",
        url.trim_end_matches('/'),
        pairs.finish()
    );
    let fetched = get_text(&address, token.as_deref()).map(|(body, _)| body);
    match fetched {
        Ok(body) => {
            print!("{body}");
            if !body.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("mauved: {address}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// GETs a JSON array from a daemon's API, and its `X-Mauved-Shadow`.
fn get_list(
    address: &str,
    token: Option<&str>,
) -> Result<(Vec<serde_json::Value>, Option<String>), String> {
    let (body, shadow) = get_text(address, token)?;
    serde_json::from_str::<Vec<serde_json::Value>>(&body)
        .map(|list| (list, shadow))
        .map_err(|err| err.to_string())
}

/// GETs a daemon's API: the body of a success, and `X-Mauved-Shadow`.
fn get_text(address: &str, token: Option<&str>) -> Result<(String, Option<String>), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                let mut request = reqwest::Client::new().get(address);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let answer = request.send().await.map_err(|err| err.to_string())?;
                let status = answer.status();
                let shadow = answer
                    .headers()
                    .get("x-mauved-shadow")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = answer.text().await.map_err(|err| err.to_string())?;
                if !status.is_success() {
                    return Err(format!("{status}: {body}"));
                }
                Ok((body, shadow))
            })
        })
}

/// A running daemon's silences (`GET /api/v2/silences`).
fn silences_of(
    url: &str,
    token: Option<&str>,
) -> Result<Vec<mauved::alertmanager::silences::Silence>, String> {
    let address = format!("{}/api/v2/silences", url.trim_end_matches('/'));
    let time = |v: &serde_json::Value| -> Result<u64, String> {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .and_then(|t| u64::try_from(t.as_second()).ok())
            .ok_or_else(|| format!("{address}: {v} is not a time"))
    };
    get_list(&address, token)
        .map_err(|why| format!("{address}: {why}"))?
        .0
        .iter()
        .map(|s| {
            Ok(mauved::alertmanager::silences::Silence {
                id: s["id"].as_str().unwrap_or_default().to_owned(),
                matchers: serde_json::from_value(s["matchers"].clone())
                    .map_err(|err| format!("{address}: {err}"))?,
                starts_at: time(&s["startsAt"])?,
                ends_at: time(&s["endsAt"])?,
                created_by: s["createdBy"].as_str().unwrap_or_default().to_owned(),
                comment: s["comment"].as_str().unwrap_or_default().to_owned(),
                updated_at: time(&s["updatedAt"])?,
            })
        })
        .collect()
}

/// Completes on SIGINT or SIGTERM.
/// SIGHUP reads the configuration again (it ended the daemon before).
fn hangups(reloads: std::sync::Arc<tokio::sync::Notify>) {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the configuration");
                    reloads.notify_one();
                }
            });
        }
        Err(err) => tracing::warn!(%err, "cannot take SIGHUP: reload with POST /-/reload"),
    }
}

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
    // A second signal while stopping (a disk that takes no writes, a
    // notifier that hangs): out at once.
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::error!("a second signal while stopping: exiting now, without the final flush");
        std::process::exit(1);
    });
}

/// `mauved test-notify`: one test message, sent now.
fn test_notify(config: &std::path::Path, person: &str, notifier: &str) -> ExitCode {
    let (config, _) = match load(Some(config.to_owned())) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mauved: {err}");
            return ExitCode::FAILURE;
        }
    };
    let now = Clock::system().now();
    match runtime.block_on(mauved::notify::test_message::send(
        &config, person, notifier, now,
    )) {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("mauved: {why}");
            ExitCode::FAILURE
        }
    }
}
