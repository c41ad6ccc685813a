//! mauvesend's command line, parsed the way mauve's (Ruby GetoptLong,
//! permute mode) parses it: destinations may stand anywhere, `-i` starts a new
//! alert and later per-alert options apply to it, values are attached
//! (`-r+5m`, `--raise=+5m`) or the next word.
//!
//! One deliberate difference, accepting what mauve refused: a next word that
//! looks like a negative number (`-r -10m`) is a value, not an option. As in
//! mauve, `-r`/`-c` take the next word when it does not start with `-`, so
//! `-i x -r host` fails on "host" as a time: put destinations first.

use crate::alert::UnixSecs;
use crate::wire::pb;

use crate::timespec;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Invocation {
    Help,
    Manual,
    Version,
    Send(Request),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub source: Option<String>,
    pub replace: bool,
    pub verbose: u8,
    pub alerts: Vec<pb::Alert>,
    pub destinations: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    Source,
    Replace,
    Verbose,
    Id,
    Summary,
    Subject,
    Detail,
    Raise,
    Clear,
    Suppress,
    Importance,
    Help,
    Manual,
    Version,
}

/// (long name, short letter, option).
const OPTIONS: &[(&str, Option<char>, Opt)] = &[
    ("source", Some('o'), Opt::Source),
    ("replace", Some('p'), Opt::Replace),
    ("verbose", Some('v'), Opt::Verbose),
    ("id", Some('i'), Opt::Id),
    ("summary", Some('s'), Opt::Summary),
    ("subject", Some('u'), Opt::Subject),
    ("detail", Some('d'), Opt::Detail),
    ("raise", Some('r'), Opt::Raise),
    ("clear", Some('c'), Opt::Clear),
    ("suppress", Some('e'), Opt::Suppress),
    ("importance", None, Opt::Importance),
    ("help", Some('h'), Opt::Help),
    ("manual", Some('m'), Opt::Manual),
    ("version", Some('V'), Opt::Version),
];

#[derive(PartialEq)]
enum Arg {
    None,
    /// A value that may be left out (it then means "now").
    Optional,
    Required,
}

impl Opt {
    fn arg(self) -> Arg {
        match self {
            Opt::Replace | Opt::Verbose | Opt::Help | Opt::Manual | Opt::Version => Arg::None,
            Opt::Raise | Opt::Clear => Arg::Optional,
            _ => Arg::Required,
        }
    }

    fn long(self) -> &'static str {
        OPTIONS
            .iter()
            .find(|(_, _, o)| *o == self)
            .map(|(name, _, _)| *name)
            .unwrap_or("?")
    }
}

/// A word that reads as a negative number is a value, not an option.
fn looks_negative(word: &str) -> bool {
    word.strip_prefix('-')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn find_long(name: &str) -> Result<Opt, String> {
    if let Some((_, _, opt)) = OPTIONS.iter().find(|(long, _, _)| *long == name) {
        return Ok(*opt);
    }
    // GetoptLong accepts any unambiguous abbreviation.
    let matches: Vec<Opt> = OPTIONS
        .iter()
        .filter(|(long, _, _)| long.starts_with(name))
        .map(|(_, _, o)| *o)
        .collect();
    match matches.as_slice() {
        [opt] if !name.is_empty() => Ok(*opt),
        [] | [_] => Err(format!("unrecognized option `--{name}'")),
        _ => Err(format!("option `--{name}' is ambiguous")),
    }
}

fn find_short(c: char) -> Result<Opt, String> {
    OPTIONS
        .iter()
        .find(|(_, short, _)| *short == Some(c))
        .map(|(_, _, o)| *o)
        .ok_or_else(|| format!("invalid option -- {c}"))
}

/// Parses the arguments (without the program name). `now` is captured once,
/// so every relative time in one invocation is relative to the same moment.
pub fn parse(args: &[String], now: UnixSecs) -> Result<Invocation, String> {
    let mut request = Request::default();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if word == "--" {
            request.destinations.extend(args[i..].iter().cloned());
            break;
        }
        let (opt, attached) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (find_long(name)?, Some(value.to_owned())),
                None => (find_long(long)?, None),
            }
        } else if word.len() > 1 && word.starts_with('-') {
            let mut chars = word[1..].chars();
            let first = chars.next().unwrap_or('-');
            let opt = find_short(first)?;
            let rest: String = chars.collect();
            if opt.arg() == Arg::None && !rest.is_empty() {
                // A cluster of flags, like -pv or -vv.
                for c in std::iter::once(first).chain(rest.chars()) {
                    let flag = find_short(c)?;
                    if flag.arg() != Arg::None {
                        return Err(format!("option -{c} cannot be combined with others"));
                    }
                    if let Some(done) = apply(&mut request, flag, None, now)? {
                        return Ok(done);
                    }
                }
                continue;
            }
            (opt, (!rest.is_empty()).then_some(rest))
        } else {
            request.destinations.push(word.clone());
            continue;
        };
        let value = match (opt.arg(), attached) {
            (Arg::None, Some(_)) => {
                return Err(format!(
                    "option `--{}' doesn't allow an argument",
                    opt.long()
                ))
            }
            (_, Some(value)) => Some(value),
            (Arg::None, None) => None,
            (Arg::Optional | Arg::Required, None) => match args.get(i) {
                Some(next) if !next.starts_with('-') || looks_negative(next) => {
                    i += 1;
                    Some(next.clone())
                }
                _ => None,
            },
        };
        if let Some(done) = apply(&mut request, opt, value, now)? {
            return Ok(done);
        }
    }
    if request.alerts.is_empty() && !request.replace {
        return Err("No alerts specified".into());
    }
    Ok(Invocation::Send(request))
}

/// Applies one option; returns an invocation that ends parsing (help…).
fn apply(
    request: &mut Request,
    opt: Opt,
    value: Option<String>,
    now: UnixSecs,
) -> Result<Option<Invocation>, String> {
    let required = |value: Option<String>| -> Result<String, String> {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--{} needs a value", opt.long()))
    };
    match opt {
        Opt::Help => return Ok(Some(Invocation::Help)),
        Opt::Manual => return Ok(Some(Invocation::Manual)),
        Opt::Version => return Ok(Some(Invocation::Version)),
        Opt::Replace => request.replace = true,
        Opt::Verbose => request.verbose = request.verbose.saturating_add(1),
        Opt::Source => {
            if request.source.is_some() {
                return Err("Can only specify one source".into());
            }
            request.source = Some(required(value)?);
        }
        Opt::Id => {
            let id = required(value)?;
            if request.alerts.iter().any(|a| a.id == id) {
                return Err(format!("Duplicate alert id {id:?}"));
            }
            request.alerts.push(pb::Alert {
                id,
                ..pb::Alert::default()
            });
        }
        _ => {
            let alert = request
                .alerts
                .last_mut()
                .ok_or("Must specify --id before message")?;
            match opt {
                Opt::Summary => alert.summary = Some(required(value)?),
                Opt::Subject => alert.subject = Some(required(value)?),
                Opt::Detail => alert.detail = Some(required(value)?),
                Opt::Raise => {
                    alert.raise_time = Some(timespec::mauvesend(&value.unwrap_or_default(), now)?)
                }
                Opt::Clear => {
                    alert.clear_time = Some(timespec::mauvesend(&value.unwrap_or_default(), now)?)
                }
                Opt::Suppress => {
                    alert.suppress_until = Some(timespec::mauvesend(&required(value)?, now)?)
                }
                Opt::Importance => {
                    let text = required(value)?;
                    let importance = text.parse::<u32>().map_err(|_| {
                        format!("--importance must be a whole number, not {text:?}")
                    })?;
                    alert.importance = Some(importance);
                }
                _ => unreachable!("flags are handled above"),
            }
        }
    }
    Ok(None)
}

// The texts are built from literal pieces so that `--help` and `--manual`
// share the option descriptions.
macro_rules! usage {
    () => {
        "\
Usage: mauvesend [destination]... [--source|-o <source>] [--replace|-p] [--verbose|-v]...
                 --id|-i <id> [--summary|-s <summary>] [--detail|-d <detail>]
                 [--subject|-u <subject>] [--raise|-r <time>] [--clear|-c <time>]
                 [--suppress|-e <time>] [--importance <n>] [--id ...]
       mauvesend --help|-h  |  --manual|-m  |  --version|-V
"
    };
}

macro_rules! options {
    () => {
        "\
OPTIONS
  -o, --source SOURCE    the sender's name (default: this host's name)
  -p, --replace          clear every alert of this source not in this update
  -v, --verbose          say what is sent; twice: print the whole update
  -i, --id ID            start a new alert; the options below apply to it
  -s, --summary TEXT     short text for pagers
  -u, --subject TEXT     what the alert is about (default: the source)
  -d, --detail HTML      longer description
  -r, --raise [TIME]     raise at TIME (default now)
  -c, --clear [TIME]     clear at TIME (default now)
  -e, --suppress TIME    hold notifications until TIME
      --importance N     importance (mauve's default is 50)
  An alert with neither --raise nor --clear is raised now.

"
    };
}

/// `mauvesend --help`: the synopsis and every option.
pub const USAGE: &str = concat!(
    usage!(),
    "\n",
    options!(),
    "Destinations, time values and examples: mauvesend --manual\n"
);

/// `mauvesend --manual`.
pub const MANUAL: &str = concat!(
    usage!(),
    "\n\
mauvesend - send alert updates to a mauve (or mauved) alert server

DESTINATIONS
  Given anywhere on the line: IP, IP:PORT, [IPv6], [IPv6]:PORT, HOST or HOST:PORT.
  A HOST without a port is first looked up as the SRV record _mauvealert._udp.HOST
  (a name starting with _ is taken as the SRV name itself); without SRV records
  port 32741 is used. Every address of every destination gets the packet once.
  With no destination, $MAUVESEND_DESTINATION, then the file
  /etc/mauvealert/mauvesend.destination, is read (destinations separated by
  white space).

",
    options!(),
    "\
TIME
  now (or empty)   now
  DIGITS           an absolute Unix time in seconds
  [+|-]N[s|m|h|d]  relative to now; default unit s, default sign +

EXAMPLES
  mauvesend alert.example.com -i disk -s 'disk full' -r        raise now
  mauvesend alert.example.com -i disk -c                       clear now
  mauvesend alert.example.com -i heartbeat -c -r +10m          heartbeat (cron it every minute)
  mauvesend alert.example.com -p                               clear everything from this host
"
);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    fn request(line: &str) -> Request {
        match parse(&args(line), NOW) {
            Ok(Invocation::Send(r)) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        parse(&args(line), NOW).unwrap_err()
    }

    #[test]
    fn every_flag_long_and_short() {
        let short =
            request("-o src -i a1 -s sum -u subj -d det -r +5m -c now -e +1h --importance 7 dest");
        let long = request(
            "--source src --id a1 --summary sum --subject subj --detail det --raise +5m --clear now --suppress +1h --importance 7 dest",
        );
        assert_eq!(short, long);
        assert_eq!(short.source.as_deref(), Some("src"));
        assert_eq!(short.destinations, vec!["dest"]);
        let a = &short.alerts[0];
        assert_eq!(a.id, "a1");
        assert_eq!(a.summary.as_deref(), Some("sum"));
        assert_eq!(a.subject.as_deref(), Some("subj"));
        assert_eq!(a.detail.as_deref(), Some("det"));
        assert_eq!(a.raise_time, Some(NOW + 300));
        assert_eq!(a.clear_time, Some(NOW));
        assert_eq!(a.suppress_until, Some(NOW + 3600));
        assert_eq!(a.importance, Some(7));
    }

    #[test]
    fn attached_values() {
        let r = request("-i a -r+5m -c-10m --summary=hello -ssum2");
        assert_eq!(r.alerts[0].raise_time, Some(NOW + 300));
        assert_eq!(r.alerts[0].clear_time, Some(NOW - 600));
        assert_eq!(r.alerts[0].summary.as_deref(), Some("sum2"));
        let r = request("-i a --raise=+5m --clear=");
        assert_eq!(
            r.alerts[0].clear_time,
            Some(NOW),
            "an empty value means now"
        );
    }

    #[test]
    fn a_negative_time_after_a_flag_is_a_value() {
        let r = request("-i a -r -10m -c -30");
        assert_eq!(r.alerts[0].raise_time, Some(NOW - 600));
        assert_eq!(r.alerts[0].clear_time, Some(NOW - 30));
    }

    #[test]
    fn raise_and_clear_without_a_time_mean_now() {
        let r = request("host.example -i hb -c -r");
        assert_eq!(r.alerts[0].clear_time, Some(NOW));
        assert_eq!(r.alerts[0].raise_time, Some(NOW));
        assert_eq!(r.destinations, vec!["host.example"]);
        let r = request("-i x -r -v");
        assert_eq!(r.alerts[0].raise_time, Some(NOW));
        // As in mauve, the next word is taken as the time.
        assert!(error("-i x -r host.example").contains("\"host.example\""));
    }

    #[test]
    fn destinations_anywhere_and_several_alerts() {
        let r = request("d1 -i a1 -s one d2 -i a2 -s two -r+5m [::1]:9");
        assert_eq!(r.destinations, vec!["d1", "d2", "[::1]:9"]);
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(r.alerts[1].summary.as_deref(), Some("two"));
        assert_eq!(r.alerts[1].raise_time, Some(NOW + 300));
        assert_eq!(
            r.alerts[0].raise_time, None,
            "options apply to the latest -i"
        );
        let r = request("-i a -- -weird-dest");
        assert_eq!(r.destinations, vec!["-weird-dest"]);
    }

    #[test]
    fn flags_replace_verbose_and_clusters() {
        let r = request("-p");
        assert!(r.replace && r.alerts.is_empty());
        assert_eq!(request("-p -v -v").verbose, 2);
        assert_eq!(request("-pvv").verbose, 2);
        assert_eq!(request("-i a --verb").verbose, 1, "abbreviated long option");
        assert_eq!(parse(&args("-h"), NOW), Ok(Invocation::Help));
        assert_eq!(parse(&args("--manual"), NOW), Ok(Invocation::Manual));
        assert_eq!(parse(&args("-i a -V"), NOW), Ok(Invocation::Version));
    }

    #[test]
    fn the_same_mistakes_give_the_same_errors() {
        assert_eq!(error("-s hello -i a"), "Must specify --id before message");
        assert_eq!(error("-r now"), "Must specify --id before message");
        assert_eq!(error("dest"), "No alerts specified");
        assert_eq!(error(""), "No alerts specified");
        assert!(error("-i a -i a").contains("Duplicate alert id"));
        assert_eq!(error("-o a -o b -i x"), "Can only specify one source");
        assert!(error("-i a -s").contains("--summary needs a value"));
        assert!(error("-i a -s -i b").contains("--summary needs a value"));
        assert!(error("-i").contains("--id needs a value"));
        assert!(error("-i a -e").contains("--suppress needs a value"));
        assert!(error("-i a -r soon").contains("Unrecognised time format"));
        assert!(error("-i a --raise=5M").contains("\"5M\""));
        assert!(error("-i a -e tomorrow").contains("tomorrow"));
        assert!(error("-i a --importance high").contains("whole number"));
        assert!(error("-x").contains("invalid option"));
        assert!(error("--bogus").contains("unrecognized option"));
        assert!(
            error("--s x").contains("ambiguous"),
            "--s: source, summary, subject, suppress"
        );
        assert!(error("--replace=yes").contains("doesn't allow an argument"));
    }
}
