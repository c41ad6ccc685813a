//! The status page for the on-call host: raised, acknowledged and pending
//! alerts, rendered by a template engine with HTML auto-escaping (every
//! field shown comes from the network).

use axum::http::StatusCode;
use axum::response::Html;
use minijinja::Environment;
use serde::Serialize;

use super::{ApiError, Shared};
use crate::alert::{State, UnixSecs};

/// The compiled templates.
pub(crate) struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> Self {
        let mut env = Environment::new();
        // A name ending in .html turns auto-escaping on.
        env.add_template("index.html", include_str!("templates/index.html"))
            .expect("the built-in template parses (checked by a unit test)");
        Pages { env }
    }

    fn render(&self, name: &str, context: impl Serialize) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string()))
    }
}

#[derive(Serialize)]
struct Row {
    state: &'static str,
    source: String,
    id: String,
    subject: String,
    summary: String,
    when: String,
}

pub async fn index(http: Shared) -> Result<Html<String>, ApiError> {
    let now = http.clock.now();
    let mut alerts = Vec::new();
    {
        let index = http.index();
        index.walk(None, |slot| {
            let record = index.record(slot);
            if record.state() != State::Cleared {
                alerts.push((index.key(slot), record));
            }
            true
        });
    }
    let mut rows = Vec::new();
    for (key, record) in alerts {
        let state = record.state();
        let when = match state {
            State::Cleared => continue,
            State::Pending => record.will_raise_at,
            State::Acknowledged => record.will_unacknowledge_at,
            State::Raised => record.raised_at,
        };
        rows.push((
            state_order(state),
            Row {
                state: state.as_str(),
                source: key.source,
                id: key.id,
                subject: record.subject,
                summary: record.summary,
                when: when.map(|t| human_time(t, now)).unwrap_or_default(),
            },
        ));
    }
    rows.sort_by(|(a, x), (b, y)| (a, &x.source, &x.id).cmp(&(b, &y.source, &y.id)));
    let counts: std::collections::BTreeMap<&str, i64> = State::ALL
        .into_iter()
        .map(|s| (s.as_str(), http.metrics.alerts_in(s)))
        .collect();
    let rows: Vec<Row> = rows.into_iter().map(|(_, row)| row).collect();
    http.pages
        .render(
            "index.html",
            minijinja::context! { counts => counts, rows => rows },
        )
        .map(Html)
}

fn state_order(state: State) -> u8 {
    match state {
        State::Raised => 0,
        State::Acknowledged => 1,
        State::Pending => 2,
        State::Cleared => 3,
    }
}

/// "2026-11-25 18:04:05 UTC (3m ago)" or "(in 5m)": for people on call.
fn human_time(t: UnixSecs, now: UnixSecs) -> String {
    let date = i64::try_from(t)
        .ok()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string());
    let relative = if t >= now {
        format!("in {}", short_duration(t - now))
    } else {
        format!("{} ago", short_duration(now - t))
    };
    format!("{date} ({relative})")
}

fn short_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people() {
        assert_eq!(human_time(0, 0), "1970-01-01 00:00:00 UTC (in 0s)");
        assert_eq!(
            human_time(1_700_000_000, 1_700_000_180),
            "2023-11-14 22:13:20 UTC (3m ago)"
        );
        assert_eq!(
            human_time(951_782_400 + 3_725, 951_782_400),
            "2000-02-29 01:02:05 UTC (in 1h02m)"
        );
        assert_eq!(short_duration(90_000), "1d1h");
    }

    #[test]
    fn the_template_escapes_what_it_shows() {
        let pages = Pages::new();
        let row = Row {
            state: "raised",
            source: "<script>alert(1)</script>".into(),
            id: "a\"b".into(),
            subject: "x & y".into(),
            summary: "<img src=x onerror=alert(1)>".into(),
            when: String::new(),
        };
        let html = pages
            .render(
                "index.html",
                minijinja::context! { counts => minijinja::context!{}, rows => vec![row] },
            )
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("x &amp; y"), "{html}");
    }
}
