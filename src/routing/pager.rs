//! The pager: what routing remembers between events, and the timers it
//! sets (`operations.md` §2–§4). It is pure: the scheduler hands it events
//! and the time, and takes back addressed messages, history lines and the
//! changed state, which go to disk in the same atomic batch as the change.
//!
//! Per alert ([`AlertPage`], from its raise until it clears): who was told
//! since the raise (ack and clear go to them), and each notify clause's next
//! moment: a deferred first send (window closed), an escalation
//! (`unacknowledged_for`) or a reminder (`every`).
//!
//! Per person ([`PersonPage`]): when messages went out (the rate limit),
//! what was held by it (the summary when it lifts), and one outbox per
//! notifier (storm batching: the first message after a quiet
//! `batch_window` goes at once, the events of the next `batch_window` go
//! together when it ends).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Group, Route, Router};
use crate::alert::Level;
use crate::alert::{AlertKey, EventKind, Record, UnixSecs};
use crate::alert::{Event, HistoryEntry, HistoryKind, Hop, Notification};

/// How long a deferred clause waits before looking again when no window
/// opens within the look-ahead.
const RETRY_CLOSED_S: u64 = super::windows::LOOK_AHEAD_S;

/// One alert's paging state.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AlertPage {
    #[prost(uint64, tag = "1")]
    pub(crate) raised_at: UnixSecs,
    /// (person, notifier) told since the raise.
    #[prost(message, repeated, tag = "2")]
    pub(crate) told: Vec<Told>,
    #[prost(message, repeated, tag = "3")]
    pub(crate) clauses: Vec<ClauseTimer>,
    /// The group that took the alert at its raise.
    #[prost(string, tag = "4")]
    pub(crate) group: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct Told {
    #[prost(string, tag = "1")]
    pub(crate) person: String,
    #[prost(string, tag = "2")]
    pub(crate) notifier: String,
    #[prost(string, tag = "3")]
    pub(crate) to: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ClauseTimer {
    #[prost(uint32, tag = "1")]
    pub(crate) clause: u32,
    /// When the clause acts next (0: never).
    #[prost(uint64, tag = "2")]
    pub(crate) next_at: UnixSecs,
    /// It has told its people since the raise.
    #[prost(bool, tag = "3")]
    pub(crate) fired: bool,
}

/// One person's paging state.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PersonPage {
    /// Messages that went out (rate limit), oldest first.
    #[prost(message, repeated, tag = "1")]
    pub(crate) sent: Vec<Sent>,
    /// Messages held by the rate limit since the last summary.
    #[prost(uint32, tag = "2")]
    pub(crate) held: u32,
    #[prost(int32, tag = "3")]
    pub(crate) held_level: i32,
    #[prost(message, repeated, tag = "4")]
    pub(crate) held_alerts: Vec<Hop>,
    /// When to look at sending the summary (0: none).
    #[prost(uint64, tag = "5")]
    pub(crate) summary_at: UnixSecs,
    #[prost(message, repeated, tag = "6")]
    pub(crate) outboxes: Vec<Outbox>,
}

impl PersonPage {
    /// Holds `events` back (over the rate limit): counted, their alerts
    /// named in the summary sent when the window of `within_s` after the
    /// last message sent ends.
    fn hold(&mut self, events: &[Event], level: Level, at: UnixSecs, within_s: u64) {
        self.held += events.len() as u32;
        self.held_level = self.held_level.max(level.as_i32());
        for ev in events {
            let alert = Hop {
                notifier: ev.source.clone(),
                to: ev.id.clone(),
            };
            if !self.held_alerts.contains(&alert) {
                self.held_alerts.push(alert);
            }
        }
        let latest = self.sent.iter().map(|s| s.at).max().unwrap_or(at);
        self.summary_at = latest + within_s;
    }
}

/// A message that went out. The same event of the same alert going out on
/// two notifiers at once counts once.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct Sent {
    #[prost(uint64, tag = "1")]
    pub(crate) at: UnixSecs,
    #[prost(int32, tag = "2")]
    pub(crate) level: i32,
    /// The (first) event's kind and alert.
    #[prost(string, tag = "3")]
    pub(crate) what: String,
}

/// Storm batching for one person on one notifier.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Outbox {
    #[prost(string, tag = "1")]
    pub(crate) notifier: String,
    /// The address and fallbacks of the batch.
    #[prost(message, repeated, tag = "2")]
    pub(crate) route: Vec<Hop>,
    #[prost(uint64, tag = "3")]
    pub(crate) last_sent_at: UnixSecs,
    /// When the waiting events go (0: none wait).
    #[prost(uint64, tag = "4")]
    pub(crate) send_at: UnixSecs,
    #[prost(message, repeated, tag = "5")]
    pub(crate) events: Vec<Event>,
    #[prost(int32, tag = "6")]
    pub(crate) level: i32,
    #[prost(string, tag = "7")]
    pub(crate) group: String,
}

/// Whose timer is due.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Alert(AlertKey),
    Person(String),
}

/// Paging state as it is kept (the store's `g` keyspace): an alert's or a
/// person's, or None where a change removed it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PagingState {
    Alert(AlertKey, Option<AlertPage>),
    Person(String, Option<PersonPage>),
}

/// What handling an event or a timer produced.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) messages: Vec<Notification>,
    pub(crate) history: Vec<(AlertKey, HistoryEntry)>,
}

impl Effects {
    fn note(&mut self, key: &AlertKey, at: UnixSecs, text: String) {
        self.history
            .push((key.clone(), HistoryEntry::new(at, HistoryKind::Note, text)));
    }

    fn notification(
        &mut self,
        key: &AlertKey,
        at: UnixSecs,
        person: &str,
        notifier: &str,
        result: &str,
        text: String,
    ) {
        self.history.push((
            key.clone(),
            HistoryEntry::notification(at, Some(person.to_owned()), notifier, result, text),
        ));
    }
}

/// Counts for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) deferred: u64,
    pub(crate) rate_limited: u64,
    pub(crate) batched: u64,
    pub(crate) summaries: u64,
}

/// The routing stage's state and timers.
#[derive(Debug, Default)]
pub(crate) struct Pager {
    pub(crate) router: Router,
    alerts: HashMap<AlertKey, AlertPage>,
    people: BTreeMap<String, PersonPage>,
    due: BTreeSet<(UnixSecs, Target)>,
    due_of: HashMap<Target, UnixSecs>,
    changed: BTreeSet<Target>,
    pub(crate) counts: Counts,
}

/// One send decided in a round: a person, how to reach them, what.
struct Send {
    person: String,
    routes: Vec<Route>,
    kind: EventKind,
}

fn hops(route: &[(String, String)]) -> Vec<Hop> {
    route
        .iter()
        .map(|(notifier, to)| Hop {
            notifier: notifier.clone(),
            to: to.clone(),
        })
        .collect()
}

fn event(kind: EventKind, key: &AlertKey, at: UnixSecs, record: &Record) -> Event {
    Event {
        kind: kind as i32,
        source: key.source.clone(),
        id: key.id.clone(),
        at,
        alert: record.clone(),
    }
}

impl Pager {
    pub(crate) fn new(router: Router) -> Pager {
        Pager {
            router,
            ..Pager::default()
        }
    }

    /// Takes back the state written earlier (see [`Pager::take_changes`]).
    pub(crate) fn restore(&mut self, state: PagingState) {
        let target = match state {
            PagingState::Alert(key, page) => {
                match page {
                    Some(page) => self.alerts.insert(key.clone(), page),
                    None => self.alerts.remove(&key),
                };
                Target::Alert(key)
            }
            PagingState::Person(name, page) => {
                match page {
                    Some(page) => self.people.insert(name.clone(), page),
                    None => self.people.remove(&name),
                };
                Target::Person(name)
            }
        };
        self.reindex(&target);
        self.changed.remove(&target);
    }

    /// The state changed since the last call (None: gone).
    pub(crate) fn take_changes(&mut self) -> Vec<PagingState> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|target| match target {
                Target::Alert(key) => {
                    let page = self.alerts.get(&key).cloned();
                    PagingState::Alert(key, page)
                }
                Target::Person(name) => {
                    let page = self.people.get(&name).cloned();
                    PagingState::Person(name, page)
                }
            })
            .collect()
    }

    /// The earliest timer.
    pub(crate) fn next_due(&self) -> Option<UnixSecs> {
        self.due.first().map(|(at, _)| *at)
    }

    fn reindex(&mut self, target: &Target) {
        let next = match target {
            Target::Alert(key) => self.alerts.get(key).and_then(|page| {
                page.clauses
                    .iter()
                    .map(|c| c.next_at)
                    .filter(|&t| t > 0)
                    .min()
            }),
            Target::Person(name) => self.people.get(name).and_then(|p| {
                p.outboxes
                    .iter()
                    .filter(|o| !o.events.is_empty())
                    .map(|o| o.send_at)
                    .chain((p.summary_at > 0).then_some(p.summary_at))
                    .min()
            }),
        };
        if let Some(old) = self.due_of.remove(target) {
            self.due.remove(&(old, target.clone()));
        }
        if let Some(at) = next {
            self.due.insert((at, target.clone()));
            self.due_of.insert(target.clone(), at);
        }
        self.changed.insert(target.clone());
    }

    /// A forgotten alert: its timers and state go.
    pub(crate) fn forget(&mut self, key: &AlertKey) {
        if self.alerts.remove(key).is_some() {
            self.reindex(&Target::Alert(key.clone()));
        }
    }

    /// [`Pager::on_event`] for an event whose key and record are not needed
    /// after: without routes every notifier is told, and the last one's
    /// message takes them as they are instead of a copy.
    pub(crate) fn on_event_owned(
        &mut self,
        key: AlertKey,
        kind: EventKind,
        record: Record,
        at: UnixSecs,
        out: &mut Effects,
    ) {
        if self.router.routes() {
            return self.on_event(&key, kind, &record, at, out);
        }
        let Some((last, others)) = self.router.notifiers().split_last() else {
            return;
        };
        for notifier in others {
            out.messages.push(Notification::of_event(
                notifier,
                event(kind, &key, at, &record),
            ));
        }
        let AlertKey { source, id } = key;
        let alert = record;
        let ev = Event {
            kind: kind as i32,
            source,
            id,
            at,
            alert,
        };
        out.messages.push(Notification::of_event(last, ev));
    }

    /// An alert's event: who is told, now or later. `record` carries the
    /// detail.
    pub(crate) fn on_event(
        &mut self,
        key: &AlertKey,
        kind: EventKind,
        record: &Record,
        at: UnixSecs,
        out: &mut Effects,
    ) {
        if !self.router.routes() {
            return self.on_event_owned(key.clone(), kind, record.clone(), at, out);
        }
        let Some(group) = self.router.group(key, record).cloned() else {
            out.note(key, at, "no alert group matches: nobody is told".into());
            return;
        };
        match kind {
            EventKind::Raised | EventKind::ReRaised | EventKind::Reminder => {
                let page = self.alerts.entry(key.clone()).or_default();
                if kind == EventKind::Raised || page.group != group.spec.name {
                    *page = AlertPage {
                        raised_at: record.raised_at.unwrap_or(at),
                        told: Vec::new(),
                        clauses: Vec::new(),
                        group: group.spec.name.clone(),
                    };
                }
                page.clauses = (0..group.clauses.len() as u32)
                    .map(|clause| ClauseTimer {
                        clause,
                        next_at: at,
                        fired: false,
                    })
                    .collect();
                self.run_clauses(key, record, &group, at, kind, out);
            }
            EventKind::Acknowledged | EventKind::Cleared => {
                let page = match kind {
                    EventKind::Cleared => self.alerts.remove(key),
                    _ => self.alerts.get_mut(key).map(|page| {
                        page.clauses.iter_mut().for_each(|c| c.next_at = 0);
                        page.clone()
                    }),
                };
                let mut told: Vec<Told> = page.map(|p| p.told).unwrap_or_default();
                // Whoever acknowledged hears of it too.
                if let Some(by) = record.acknowledged_by.as_deref() {
                    if kind == EventKind::Acknowledged && !told.iter().any(|t| t.person == by) {
                        for route in self.router.routes_to(by, group.spec.level, None) {
                            if let Some((notifier, to)) = route.first() {
                                told.push(Told {
                                    person: by.to_owned(),
                                    notifier: notifier.clone(),
                                    to: to.clone(),
                                });
                            }
                        }
                    }
                }
                for t in told {
                    let route = vec![(t.notifier.clone(), t.to.clone())];
                    let ev = event(kind, key, at, record);
                    self.deliver(
                        &t.person,
                        &route,
                        ev,
                        group.spec.level,
                        &group.spec.name,
                        at,
                        out,
                    );
                }
                self.reindex(&Target::Alert(key.clone()));
            }
        }
    }

    /// Runs the clauses of an alert that are due at `at`.
    fn run_clauses(
        &mut self,
        key: &AlertKey,
        record: &Record,
        group: &Group,
        at: UnixSecs,
        kind: EventKind,
        out: &mut Effects,
    ) {
        let Some(page) = self.alerts.get_mut(key) else {
            return;
        };
        let mut sends: Vec<Send> = Vec::new();
        for timer in page.clauses.iter_mut() {
            if timer.next_at == 0 || timer.next_at > at {
                continue;
            }
            let Some(clause) = group.clauses.get(timer.clause as usize) else {
                timer.next_at = 0;
                continue;
            };
            let starts = page.raised_at + clause.unacknowledged_for;
            if starts > at {
                timer.next_at = starts;
                continue;
            }
            if !clause.window.is_open(at, &self.router.calendar) {
                let opens = clause.window.next_open(at, &self.router.calendar);
                timer.next_at = opens.unwrap_or(at + RETRY_CLOSED_S);
                self.counts.deferred += 1;
                let zone = &self.router.calendar.zone;
                out.note(key, at, deferral(&clause.during, timer.clause, opens, zone));
                continue;
            }
            let this_kind = if timer.fired {
                EventKind::Reminder
            } else if kind == EventKind::Reminder {
                EventKind::Raised
            } else {
                kind
            };
            timer.fired = true;
            timer.next_at = clause.every.map_or(0, |every| at + every);
            for person in self.router.resolve(&clause.who, at) {
                if sends.iter().any(|s| s.person == person) {
                    continue;
                }
                if self.router.is_away(&person, at) {
                    out.notification(
                        key,
                        at,
                        &person,
                        "",
                        "away",
                        format!("{person} is away: not told"),
                    );
                    continue;
                }
                let routes =
                    self.router
                        .routes_to(&person, group.spec.level, clause.via.as_deref());
                sends.push(Send {
                    person,
                    routes,
                    kind: this_kind,
                });
            }
        }
        self.send_all(key, record, group, at, sends, out);
        self.reindex(&Target::Alert(key.clone()));
    }

    /// Tells each person of `sends` on each of their routes, and remembers
    /// whom each notifier told (for the clear that follows).
    fn send_all(
        &mut self,
        key: &AlertKey,
        record: &Record,
        group: &Group,
        at: UnixSecs,
        sends: Vec<Send>,
        out: &mut Effects,
    ) {
        for send in sends {
            for route in &send.routes {
                let (notifier, to) = &route[0];
                if let Some(page) = self.alerts.get_mut(key) {
                    if !page
                        .told
                        .iter()
                        .any(|t| t.person == send.person && t.notifier == *notifier)
                    {
                        page.told.push(Told {
                            person: send.person.clone(),
                            notifier: notifier.clone(),
                            to: to.clone(),
                        });
                    }
                }
                let ev = event(send.kind, key, at, record);
                self.deliver(
                    &send.person,
                    route,
                    ev,
                    group.spec.level,
                    &group.spec.name,
                    at,
                    out,
                );
            }
        }
    }

    /// One event for one person on one route: now, or into the batch.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        person: &str,
        route: &[(String, String)],
        ev: Event,
        level: Level,
        group: &str,
        at: UnixSecs,
        out: &mut Effects,
    ) {
        let Some((notifier, _)) = route.first() else {
            return;
        };
        let window = self.router.batch_window;
        let page = self.people.entry(person.to_owned()).or_default();
        let i = match page.outboxes.iter().position(|o| o.notifier == *notifier) {
            Some(i) => i,
            None => {
                page.outboxes.push(Outbox {
                    notifier: notifier.clone(),
                    ..Outbox::default()
                });
                page.outboxes.len() - 1
            }
        };
        let outbox = &mut page.outboxes[i];
        let quiet = outbox.events.is_empty()
            && (outbox.last_sent_at == 0 || at >= outbox.last_sent_at + window);
        if window == 0 || quiet {
            outbox.last_sent_at = at;
            self.go_out(person, route.to_vec(), vec![ev], level, group, at, out);
        } else {
            if outbox.events.is_empty() {
                outbox.send_at = (outbox.last_sent_at + window).max(at);
                outbox.route = hops(route);
                outbox.level = level.as_i32();
                outbox.group = group.to_owned();
            }
            outbox.level = outbox.level.max(level.as_i32());
            let send_at = outbox.send_at;
            let key = ev.key();
            outbox.events.push(ev);
            self.counts.batched += 1;
            out.notification(
                &key,
                at,
                person,
                notifier,
                "batched",
                format!(
                    "batched: goes with others at {}",
                    crate::timefmt::in_zone(send_at, &self.router.calendar.zone)
                ),
            );
        }
        self.reindex(&Target::Person(person.to_owned()));
    }

    /// A message leaves, unless the person's rate limit holds it.
    #[allow(clippy::too_many_arguments)]
    fn go_out(
        &mut self,
        person: &str,
        route: Vec<(String, String)>,
        events: Vec<Event>,
        level: Level,
        group: &str,
        at: UnixSecs,
        out: &mut Effects,
    ) {
        let limit = self
            .router
            .person(person)
            .map(|p| p.rate_limit)
            .unwrap_or_default();
        let page = self.people.entry(person.to_owned()).or_default();
        page.sent.retain(|s| s.at + limit.within.0 > at);
        let filled = page
            .sent
            .iter()
            .filter(|s| s.level >= level.as_i32())
            .count();
        let (notifier, to) = route[0].clone();
        if filled >= limit.count as usize {
            page.hold(&events, level, at, limit.within.0);
            self.counts.rate_limited += events.len() as u64;
            for ev in &events {
                out.notification(
                    &ev.key(),
                    at,
                    person,
                    &notifier,
                    "rate-limited",
                    format!(
                        "held: {person} was sent {filled} messages of level {} or higher within {}s",
                        level.as_str(),
                        limit.within.0
                    ),
                );
            }
            return;
        }
        let mark = Sent {
            at,
            level: level.as_i32(),
            what: events
                .first()
                .map(|e| format!("{} {}", e.kind, e.key()))
                .unwrap_or_default(),
        };
        if !page.sent.contains(&mark) {
            page.sent.push(mark);
        }
        for ev in &events {
            out.notification(
                &ev.key(),
                at,
                person,
                &notifier,
                "queued",
                format!(
                    "{} queued for {person} via {notifier} ({to})",
                    EventKind::try_from(ev.kind).map_or("event", EventKind::as_str)
                ),
            );
        }
        let mut message = Notification::of_events(&notifier, events);
        message.recipient = Some(to);
        message.person = Some(person.to_owned());
        message.level = Some(level.as_i32());
        message.group = Some(group.to_owned());
        message.fallback = hops(&route[1..]);
        out.messages.push(message);
    }

    /// Fires every timer due by `now`. `lookup` gives an alert's record as
    /// it is now (with its detail).
    pub(crate) fn fire(
        &mut self,
        now: UnixSecs,
        mut lookup: impl FnMut(&AlertKey) -> Option<Record>,
        out: &mut Effects,
    ) {
        while let Some((at, target)) = self.due.first().cloned() {
            if at > now {
                return;
            }
            self.due.remove(&(at, target.clone()));
            self.due_of.remove(&target);
            match &target {
                Target::Alert(key) => self.fire_alert(key, now, &mut lookup, out),
                Target::Person(name) => self.fire_person(name, now, &mut lookup, out),
            }
            self.reindex(&target);
        }
    }

    fn fire_alert(
        &mut self,
        key: &AlertKey,
        now: UnixSecs,
        lookup: &mut impl FnMut(&AlertKey) -> Option<Record>,
        out: &mut Effects,
    ) {
        let record = lookup(key);
        let Some(page) = self.alerts.get_mut(key) else {
            return;
        };
        let group = self.router.group_named(&page.group).cloned();
        match (record, group) {
            (Some(record), Some(group)) if record.is_raised() && !record.is_acknowledged() => {
                if let Some(until) = record.suppress_until.filter(|&u| u > now) {
                    // Nothing goes out while suppressed; look again after.
                    for timer in page.clauses.iter_mut().filter(|t| t.next_at > 0) {
                        timer.next_at = timer.next_at.max(until);
                    }
                    out.note(
                        key,
                        now,
                        "suppressed: reminders wait for the suppression to end".into(),
                    );
                    return;
                }
                self.run_clauses(key, &record, &group, now, EventKind::Reminder, out);
            }
            (Some(record), Some(_)) if record.is_raised() => {
                page.clauses.iter_mut().for_each(|t| t.next_at = 0);
            }
            // Cleared, gone, or its group no longer exists.
            _ => {
                self.alerts.remove(key);
            }
        }
    }

    fn fire_person(
        &mut self,
        name: &str,
        now: UnixSecs,
        lookup: &mut impl FnMut(&AlertKey) -> Option<Record>,
        out: &mut Effects,
    ) {
        let Some(page) = self.people.get_mut(name) else {
            return;
        };
        let mut due: Vec<Outbox> = Vec::new();
        for outbox in page.outboxes.iter_mut() {
            if !outbox.events.is_empty() && outbox.send_at <= now {
                due.push(Outbox {
                    events: std::mem::take(&mut outbox.events),
                    ..outbox.clone()
                });
                outbox.last_sent_at = now;
                outbox.send_at = 0;
            }
        }
        for outbox in due {
            let route = outbox
                .route
                .iter()
                .map(|h| (h.notifier.clone(), h.to.clone()))
                .collect();
            let level = Level::from_i32(outbox.level);
            self.go_out(name, route, outbox.events, level, &outbox.group, now, out);
        }
        self.summary(name, now, lookup, out);
    }

    /// The rate limit's summary, once a whole `within` passed with nothing sent.
    fn summary(
        &mut self,
        name: &str,
        now: UnixSecs,
        lookup: &mut impl FnMut(&AlertKey) -> Option<Record>,
        out: &mut Effects,
    ) {
        let within = self
            .router
            .person(name)
            .map(|p| p.rate_limit.within.0)
            .unwrap_or(600);
        let Some(page) = self.people.get_mut(name) else {
            return;
        };
        if page.summary_at == 0 || page.summary_at > now {
            return;
        }
        if let Some(latest) = page.sent.iter().map(|s| s.at).max() {
            if latest + within > now {
                page.summary_at = latest + within;
                return;
            }
        }
        page.sent.clear();
        let held = std::mem::take(&mut page.held);
        let level = Level::from_i32(std::mem::take(&mut page.held_level));
        let alerts = std::mem::take(&mut page.held_alerts);
        page.summary_at = 0;
        if held == 0 {
            return;
        }
        let events: Vec<Event> = alerts
            .iter()
            .map(|a| AlertKey::new(a.notifier.clone(), a.to.clone()))
            .filter_map(|key| {
                let record = lookup(&key)?;
                record
                    .is_raised()
                    .then(|| event(EventKind::Reminder, &key, now, &record))
            })
            .collect();
        self.counts.summaries += 1;
        for route in self.router.routes_to(name, level, None) {
            let (notifier, to) = route[0].clone();
            let mut message = Notification::of_events(&notifier, events.clone());
            if events.is_empty() {
                message.source.clear();
                message.id.clear();
            }
            message.held = held;
            message.recipient = Some(to.clone());
            message.person = Some(name.to_owned());
            message.level = Some(level.as_i32());
            message.fallback = hops(&route[1..]);
            for ev in &events {
                out.notification(
                    &ev.key(),
                    now,
                    name,
                    &notifier,
                    "queued",
                    format!("rate limit lifted: summary of {held} held messages queued for {name} via {notifier}"),
                );
            }
            out.messages.push(message);
        }
    }
}

/// The history note of a clause held back by its closed window.
fn deferral(
    during: &str,
    clause: u32,
    opens: Option<UnixSecs>,
    zone: &jiff::tz::TimeZone,
) -> String {
    match opens {
        Some(t) => format!(
            "deferred: window {during:?} of notify[{clause}] is closed until {}",
            crate::timefmt::in_zone(t, zone)
        ),
        None => {
            format!("deferred: window {during:?} of notify[{clause}] does not open within 14 days")
        }
    }
}
