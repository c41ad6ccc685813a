//! Heartbeats and job results over HTTP (`[ping]`), for cron jobs,
//! containers and CI that have curl but not mauvesend:
//!
//! - `GET|POST /ping/<key>/<source>/<id>`: a success. The alert clears and
//!   is raised if no success follows within `every` + `grace` (the query's
//!   `?every=1h&grace=5m`, else the first `[[ping.rule]]` that matches):
//!   mauvesend's heartbeat (`-c now -r +<every+grace>`).
//! - `…/start`: a run started: raised if no success follows within `grace`;
//!   the success that follows says in the history how long the run took.
//! - `…/fail`, or `…/<exit status>`: raised now (0 is a success).
//!
//! A body (up to 10 KiB, as text) becomes the detail (the job's output).
//! The alert goes the way of a datagram: the same checks, the same alert,
//! the same routing. A wrong key, or a source the key may not ping: 404,
//! with nothing said about why. `listen.allow_sources` applies.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery};
use axum::http::StatusCode;
use parking_lot::Mutex;

use super::{ApiError, Shared};
use crate::alert::{AlertKey, UnixSecs};
use crate::config::ping::PingConfig;
use crate::routing::matching::{any_matches, Pattern};
use crate::wire::pb;

/// The longest body kept as the detail.
pub(crate) const MAX_BODY: usize = 10 * 1024;
/// Runs started and not yet ended, kept at most (the oldest go first).
const MAX_STARTED: usize = 100_000;

/// `[ping]` compiled: keys with their sources, rules with their matches.
pub(crate) struct Pings {
    keys: Vec<(String, String, Vec<Pattern>)>,
    rules: Vec<(Vec<Pattern>, Vec<Pattern>, u64, u64)>,
    per_key_per_minute: u32,
}

impl Pings {
    pub(crate) fn of(config: &PingConfig) -> Pings {
        // Checked when the configuration was read: an item that still
        // does not compile matches nothing.
        let compile = |items: &[String]| -> Vec<Pattern> {
            items
                .iter()
                .map(|i| Pattern::parse(i).unwrap_or_else(|_| never()))
                .collect()
        };
        Pings {
            keys: config
                .keys
                .iter()
                .map(|k| (k.name.clone(), k.key.clone(), compile(&k.sources)))
                .collect(),
            rules: config
                .rules
                .iter()
                .map(|r| (compile(&r.source), compile(&r.id), r.every.0, r.grace.0))
                .collect(),
            per_key_per_minute: config.per_key_per_minute,
        }
    }

    /// The key's name, if `given` is a key that may ping `source`.
    fn key_for(&self, given: &str, source: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, key, _)| {
                bool::from(subtle::ConstantTimeEq::ct_eq(
                    key.as_bytes(),
                    given.as_bytes(),
                ))
            })
            .filter(|(_, _, sources)| any_matches(sources, source))
            .map(|(name, _, _)| name.as_str())
    }

    /// `every` and `grace` of the first rule for source/id.
    fn rule_for(&self, source: &str, id: &str) -> Option<(u64, u64)> {
        self.rules
            .iter()
            .find(|(s, i, _, _)| any_matches(s, source) && any_matches(i, id))
            .map(|(_, _, every, grace)| (*every, *grace))
    }
}

fn never() -> Pattern {
    Pattern::parse("/[^\\s\\S]/").expect("a regex that matches nothing")
}

/// What pinging keeps between requests: each key's count this minute, and
/// the runs started.
#[derive(Default)]
pub(crate) struct PingState {
    counts: Mutex<HashMap<String, (u64, u32)>>,
    started: Mutex<HashMap<AlertKey, UnixSecs>>,
}

/// What a ping says.
enum Said {
    Success,
    Start,
    Failed(Option<i64>),
}

fn said(what: Option<&str>) -> Option<Said> {
    match what {
        None | Some("") => Some(Said::Success),
        Some("start") => Some(Said::Start),
        Some("fail") => Some(Said::Failed(None)),
        Some(status) => match status.parse::<i64>().ok()? {
            0 => Some(Said::Success),
            n => Some(Said::Failed(Some(n))),
        },
    }
}

/// `/ping/{key}/{source}/{id}`.
pub(crate) async fn ping(
    http: Shared,
    peer: ConnectInfo<SocketAddr>,
    Path((key, source, id)): Path<(String, String, String)>,
    query: RawQuery,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    handle(http, peer, key, source, id, None, query, body).await
}

/// `/ping/{key}/{source}/{id}/{what}`: `start`, `fail` or an exit status.
pub(crate) async fn ping_what(
    http: Shared,
    peer: ConnectInfo<SocketAddr>,
    Path((key, source, id, what)): Path<(String, String, String, String)>,
    query: RawQuery,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    handle(http, peer, key, source, id, Some(what), query, body).await
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    axum::extract::State(http): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    key: String,
    source: String,
    id: String,
    what: Option<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<&'static str, ApiError> {
    let now = http.clock.now();
    let said = said(what.as_deref())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such page"))?;
    let name = admit(&http, peer, &key, &source, now, body.len())?;
    let rule = http.live().pings.rule_for(&source, &id);
    let (every, grace) = timing(query.as_deref(), rule)?;
    // Only a success needs to know when the next one is due.
    let every = match (every, &said) {
        (Some(every), _) => every,
        (None, Said::Success) => {
            return Err(ApiError::bad_request(
                "say how often this pings: ?every=1h, or a [[ping.rule]] for it",
            ))
        }
        (None, _) => 0,
    };
    let alert_key = AlertKey::new(source.clone(), id.clone());
    let detail = (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
    let (alert, ran_for) = http
        .ping_state
        .alert(&alert_key, &said, now, every, grace, detail);
    let update = pb::AlertUpdate {
        transmission_id: rand::random(),
        source,
        replace: false,
        alert: vec![alert],
        signature: None,
        transmission_time: Some(now),
    };
    let checked =
        crate::wire::check(update, now).map_err(|why| ApiError::bad_request(format!("{why}")))?;
    if let Some((_, why)) = checked.rejected.first() {
        return Err(ApiError::bad_request(format!("id: {why}")));
    }
    http.metrics.events_received.inc();
    http.sink
        .submit_durably(vec![checked.update])
        .await
        .map_err(super::api::scheduler_error)?;
    if let Some(secs) = ran_for {
        let note = crate::scheduler::Action::Note {
            text: format!("the run took {}", crate::timefmt::span(secs)),
        };
        let _ = crate::cluster::act_many(
            http.cluster.as_ref(),
            &http.scheduler,
            &[alert_key],
            &name,
            &note,
        )
        .await;
    }
    Ok("ok\n")
}

/// The key's name, if this client may send this ping now.
fn admit(
    http: &super::Http,
    peer: SocketAddr,
    key: &str,
    source: &str,
    now: UnixSecs,
    body_len: usize,
) -> Result<String, ApiError> {
    if !super::v2::sender_allowed(http, peer) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this address may not send alerts (listen.allow_sources)",
        ));
    }
    let live = http.live();
    let name = live
        .pings
        .key_for(key, source)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such page"))?
        .to_owned();
    if !http
        .ping_state
        .allow(&name, now, live.pings.per_key_per_minute)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "this key pinged more than ping.per_key_per_minute",
        ));
    }
    if body_len > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a ping's body is at most {MAX_BODY} bytes"),
        ));
    }
    Ok(name)
}

/// `every` (if said) and `grace`, from the query or the rule.
fn timing(query: Option<&str>, rule: Option<(u64, u64)>) -> Result<(Option<u64>, u64), ApiError> {
    let mut every = rule.map(|(e, _)| e);
    let mut grace = rule.map_or(300, |(_, g)| g);
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let secs = || {
            crate::config::Secs::parse(&v)
                .map(|s| s.0)
                .map_err(|why| ApiError::bad_request(format!("{k}: {why}")))
        };
        match &*k {
            "every" => every = Some(secs()?),
            "grace" => grace = secs()?,
            _ => {}
        }
    }
    Ok((every.filter(|e| *e > 0), grace))
}

impl PingState {
    /// Whether the key `name` may ping once more this minute.
    fn allow(&self, name: &str, now: UnixSecs, per_minute: u32) -> bool {
        let mut counts = self.counts.lock();
        let minute = now / 60;
        counts.retain(|_, (m, _)| *m == minute);
        let (_, count) = counts.entry(name.to_owned()).or_insert((minute, 0));
        *count += 1;
        *count <= per_minute
    }

    /// The alert a ping says, and how long the run took if this success
    /// ends one that was started.
    fn alert(
        &self,
        key: &AlertKey,
        said: &Said,
        now: UnixSecs,
        every: u64,
        grace: u64,
        detail: Option<String>,
    ) -> (pb::Alert, Option<u64>) {
        let span = crate::timefmt::span;
        let mut alert = pb::Alert {
            id: key.id.clone(),
            detail,
            ..pb::Alert::default()
        };
        let mut ran_for = None;
        match said {
            Said::Success => {
                let started = self.started.lock().remove(key);
                ran_for = started.map(|at| now.saturating_sub(at));
                alert.clear_time = Some(now);
                alert.raise_time = Some(now + every + grace);
                alert.summary = Some(format!(
                    "no successful run for {} (every {} + {} grace)",
                    span(every + grace),
                    span(every),
                    span(grace)
                ));
            }
            Said::Start => {
                let mut started = self.started.lock();
                if started.len() >= MAX_STARTED {
                    if let Some(oldest) = started
                        .iter()
                        .min_by_key(|(_, at)| **at)
                        .map(|(k, _)| k.clone())
                    {
                        started.remove(&oldest);
                    }
                }
                started.insert(key.clone(), now);
                alert.raise_time = Some(now + grace);
                alert.summary = Some(format!(
                    "started, and no success within {} grace",
                    span(grace)
                ));
            }
            Said::Failed(status) => {
                self.started.lock().remove(key);
                alert.raise_time = Some(now);
                alert.summary = Some(match status {
                    Some(n) => format!("failed: exit status {n}"),
                    None => "failed".to_owned(),
                });
            }
        }
        (alert, ran_for)
    }
}
