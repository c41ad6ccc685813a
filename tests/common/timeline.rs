//! Routing timelines: the daemon in-process on a manual clock, its
//! notifiers replaced by recorders, and a test that reads like
//! Alertmanager's acceptance tests: at t do X; then exactly these messages
//! (person, notifier, events), nothing else.

use std::sync::{Arc, Mutex};

use mauved::alert::{AlertChange, Update};
use mauved::clock::{Clock, ManualClock};
use mauved::notify::{Attempt, Message, Notifier, Outcome};
use mauved::scheduler::Action;

use super::inproc::InProc;

/// One message a recorder was handed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Got {
    pub at: u64,
    pub person: String,
    pub notifier: String,
    /// "raised disk", "cleared disk", … in message order.
    pub events: Vec<String>,
    /// A rate-limit summary: how many were held.
    pub held: u32,
    pub text: String,
}

/// A notifier that records what it is handed; it can be told to give up.
pub struct Recorder {
    name: String,
    clock: Clock,
    log: Arc<Mutex<Vec<Got>>>,
    give_up: bool,
}

impl Notifier for Recorder {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(async move {
            if self.give_up {
                return Outcome::GiveUp("told to give up".into());
            }
            self.log.lock().unwrap().push(Got {
                at: self.clock.now(),
                person: m.person.clone().unwrap_or_default(),
                notifier: self.name.clone(),
                events: m
                    .events
                    .iter()
                    .map(|e| format!("{} {}", e.event.as_str(), e.key.id))
                    .collect(),
                held: m.held,
                text: m.text(),
            });
            Outcome::Delivered
        })
    }
}

pub struct Timeline {
    pub d: Option<InProc>,
    pub clock: ManualClock,
    pub start: u64,
    pub log: Arc<Mutex<Vec<Got>>>,
    dir: tempfile::TempDir,
    extra: String,
    failing: Vec<String>,
    seen: usize,
    next_tx: u64,
}

/// The notifiers every timeline has (all recorded).
pub const NOTIFIERS: &str = "[[notifier]]\nname = \"sms\"\nkind = \"log\"\n\
[[notifier]]\nname = \"email\"\nkind = \"log\"\n\
[[notifier]]\nname = \"chat\"\nkind = \"log\"\n";

impl Timeline {
    /// Starts at `start` (Unix seconds) with the recorders and `extra`.
    pub fn new(extra: &str, start: u64) -> Timeline {
        Self::failing(extra, start, &[])
    }

    /// Like [`Timeline::new`], the notifiers named in `failing` giving up
    /// on every message.
    pub fn failing(extra: &str, start: u64, failing: &[&str]) -> Timeline {
        let mut t = Timeline {
            d: None,
            clock: ManualClock::at(start),
            start,
            log: Arc::default(),
            dir: tempfile::tempdir().unwrap(),
            extra: format!("[server]\ninitial_sleep_s = 60\n{NOTIFIERS}{extra}"),
            failing: failing.iter().map(|s| s.to_string()).collect(),
            seen: 0,
            next_tx: 1,
        };
        t.boot();
        t
    }

    fn boot(&mut self) {
        let recorders: Vec<(String, Box<dyn Notifier>)> = ["sms", "email", "chat"]
            .into_iter()
            .map(|name| {
                let r: Box<dyn Notifier> = Box::new(Recorder {
                    name: name.into(),
                    clock: self.clock.clock(),
                    log: self.log.clone(),
                    give_up: self.failing.iter().any(|f| f == name),
                });
                (name.to_owned(), r)
            })
            .collect();
        self.d = Some(InProc::start_with(
            self.dir.path(),
            &self.extra,
            &self.clock,
            recorders,
        ));
    }

    pub fn d(&self) -> &InProc {
        self.d.as_ref().unwrap()
    }

    /// Reloads the daemon with `extra` (beside the recorders) in place of
    /// what it was started with; the status and the answer of
    /// `POST /-/reload`.
    pub fn reload(&mut self, extra: &str) -> (u16, String) {
        let extra = format!("[server]\ninitial_sleep_s = 60\n{NOTIFIERS}{extra}");
        let answer = self.d().reload(&extra);
        if answer.0 == 200 {
            self.extra = extra;
        }
        answer
    }

    /// Stops the daemon and starts it again on the same store and clock.
    pub fn restart(&mut self) {
        self.d.take().unwrap().stop();
        self.boot();
    }

    /// Stops the daemon, moves the clock to `start + offset` while it is
    /// down, and starts it again.
    #[allow(dead_code)]
    pub fn down_until(&mut self, offset: u64) {
        self.d.take().unwrap().stop();
        self.clock.set_ms((self.start + offset) * 1000);
        self.boot();
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Moves the clock to `start + offset` and lets everything due happen.
    pub fn at(&self, offset: u64) {
        let to = self.start + offset;
        assert!(to >= self.now(), "time only moves forward");
        // Step a minute at a time so that each timer fires at its second.
        while self.now() < to {
            let step = (to - self.now()).min(60);
            self.d().advance(step);
            self.settle();
        }
        self.settle();
    }

    /// Steps the clock to `start + offset` in one jump, forward or back (an
    /// NTP step), and lets everything due happen.
    pub fn step_to(&self, offset: u64) {
        self.clock.set_ms((self.start + offset) * 1000);
        self.settle();
    }

    fn settle(&self) {
        self.d().settle();
        self.d().drain();
        // Deliveries that queued more (fallbacks) are drained too.
        self.d().settle();
        self.d().drain();
    }

    /// Applies one update of `source` now, and lets it take effect.
    fn update(&mut self, source: &str, alerts: Vec<AlertChange>) {
        let tx = self.next_tx;
        self.next_tx += 1;
        self.d().apply(Update {
            source: source.into(),
            transmission_id: tx,
            replace: false,
            alerts,
            received_at: self.now(),
        });
        self.settle();
    }

    /// Raises `source`/`id` now.
    pub fn raise(&mut self, source: &str, id: &str) {
        self.raise_with(source, id, AlertChange::default());
    }

    /// Raises with more fields (importance, suppression…).
    pub fn raise_with(&mut self, source: &str, id: &str, change: AlertChange) {
        let now = self.now();
        self.update(
            source,
            vec![AlertChange {
                id: id.into(),
                raise_time: change.raise_time.or(Some(now)),
                subject: Some(source.into()),
                summary: Some(format!("{id} is bad")),
                ..change
            }],
        );
    }

    /// Many alerts of one source raised in one update.
    pub fn raise_many(&mut self, source: &str, ids: &[String]) {
        let now = self.now();
        let alerts = ids
            .iter()
            .map(|id| AlertChange {
                id: id.clone(),
                raise_time: Some(now),
                ..AlertChange::default()
            })
            .collect();
        self.update(source, alerts);
    }

    pub fn clear(&mut self, source: &str, id: &str) {
        let now = self.now();
        self.update(
            source,
            vec![AlertChange {
                id: id.into(),
                clear_time: Some(now),
                ..AlertChange::default()
            }],
        );
    }

    pub fn ack(&self, source: &str, id: &str, by: &str, for_s: u64) {
        self.d().act(
            source,
            id,
            by,
            Action::Acknowledge {
                until: self.now() + for_s,
                by_link: false,
            },
        );
        self.settle();
    }

    pub fn unack(&self, source: &str, id: &str) {
        self.d().act(source, id, "test", Action::Unacknowledge);
        self.settle();
    }

    /// Messages since the last look, in a stable order.
    pub fn new_messages(&mut self) -> Vec<Got> {
        let log = self.log.lock().unwrap();
        let mut new: Vec<Got> = log[self.seen..].to_vec();
        self.seen = log.len();
        new.sort();
        new
    }

    /// Exactly these messages arrived since the last look, each now:
    /// (person, notifier, events).
    #[track_caller]
    pub fn want(&mut self, want: &[(&str, &str, &[&str])]) {
        let now = self.now();
        let got = self.new_messages();
        let got_short: Vec<(String, String, Vec<String>)> = got
            .iter()
            .map(|g| (g.person.clone(), g.notifier.clone(), g.events.clone()))
            .collect();
        let mut want: Vec<(String, String, Vec<String>)> = want
            .iter()
            .map(|(p, n, e)| {
                (
                    p.to_string(),
                    n.to_string(),
                    e.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        want.sort();
        assert_eq!(
            got_short,
            want,
            "at +{}s: messages {got:#?}",
            now - self.start
        );
        for g in &got {
            assert_eq!(g.at, now, "delivered when due: {g:?}");
        }
    }

    /// Nothing arrived since the last look.
    #[track_caller]
    pub fn nothing(&mut self) {
        self.want(&[]);
    }
}
