//! The pure alert state machine.
//!
//! Every rule of mauve's server semantics (mauve-wire.md §3) lives here and
//! nowhere else: how an incoming update changes a record, what a timer does
//! when it fires, what an acknowledgement does, and which of those changes
//! deserve a notification. Nothing in this module reads a clock, a socket or a
//! disk: time is an argument, so every case can be tested exhaustively.
//!
//! Records are stored with prost (they are protobuf messages on disk), which
//! gives the store forward-compatible encoding for free: a field added later
//! decodes as absent from an older record.

use std::fmt;

pub(crate) mod history;
pub(crate) mod message;

pub use self::history::{Change, HistoryEntry, HistoryKind};
pub use self::message::Notification;
pub(crate) use self::message::{DeadLetter, Event, Hop};

/// Unix time in whole seconds, the resolution of the mauve wire format.
pub(crate) type UnixSecs = u64;

/// A time up to this far ahead of "now" counts as "now" (mauve's 5 s grace for
/// senders whose clocks, after skew correction, still run slightly ahead).
pub(crate) const NOW_GRACE_S: u64 = 5;

/// Importance of an alert that never said otherwise (mauve's DB default).
pub const DEFAULT_IMPORTANCE: u32 = 50;

/// An alert's identity: the sender's `source` plus the alert `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    pub source: String,
    pub id: String,
}

impl AlertKey {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
        }
    }

    /// Appends the key as bytes: the source's length (u16 BE), the source,
    /// then the id. No choice of characters makes two keys collide.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        // Sources are capped at 512 characters (at most 2048 bytes) by `wire`.
        let len = u16::try_from(self.source.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.source.as_bytes());
        out.extend_from_slice(self.id.as_bytes());
    }

    /// The key as bytes (see [`AlertKey::encode_into`]).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.source.len() + self.id.len());
        self.encode_into(&mut out);
        out
    }

    /// Inverse of [`AlertKey::to_bytes`]. Keys are only ever written from
    /// valid strings, so a short or odd key means damaged storage: it
    /// decodes as best it can rather than panicking.
    pub(crate) fn from_bytes(bytes: &[u8]) -> AlertKey {
        let len = match bytes {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
            _ => 0,
        };
        let rest = bytes.get(2..).unwrap_or_default();
        let split = len.min(rest.len());
        AlertKey::new(
            String::from_utf8_lossy(&rest[..split]),
            String::from_utf8_lossy(&rest[split..]),
        )
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.source, self.id)
    }
}

/// One alert as a sender described it, already checked and with its times
/// corrected to the server's clock (see `wire`). `None` means "absent": on the
/// wire, 0 and "" mean the same.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertChange {
    pub id: String,
    pub raise_time: Option<UnixSecs>,
    pub clear_time: Option<UnixSecs>,
    pub subject: Option<String>,
    pub summary: Option<String>,
    pub detail: Option<String>,
    pub importance: Option<u32>,
    pub suppress_until: Option<UnixSecs>,
}

/// One `AlertUpdate`: what a single datagram (or HTTP submission) asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub source: String,
    pub transmission_id: u64,
    pub replace: bool,
    pub alerts: Vec<AlertChange>,
    pub received_at: UnixSecs,
}

/// What a notification says happened to an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EventKind {
    Raised = 1,
    Cleared = 2,
    Acknowledged = 3,
    ReRaised = 4,
    Reminder = 5,
}

impl EventKind {
    /// What a notification of this kind tells people the alert now is.
    fn told(self) -> Told {
        match self {
            EventKind::Raised | EventKind::ReRaised | EventKind::Reminder => Told::Raised,
            EventKind::Acknowledged => Told::Acknowledged,
            EventKind::Cleared => Told::Cleared,
        }
    }

    /// The name used in notifications, the API and history (mauve's update types).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Raised => "raised",
            EventKind::Cleared => "cleared",
            EventKind::Acknowledged => "acknowledged",
            EventKind::ReRaised => "re-raised",
            EventKind::Reminder => "reminder",
        }
    }
}

/// What people were last told about an alert: the three states a notification
/// can announce (nobody told anything counts as cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Told {
    Raised,
    Acknowledged,
    Cleared,
}

/// The state shown to people, derived from the record's times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum State {
    Raised,
    Acknowledged,
    /// Cleared, with a raise scheduled (a heartbeat waiting to fire).
    Pending,
    Cleared,
}

impl State {
    pub(crate) const ALL: [State; 4] = [
        State::Raised,
        State::Acknowledged,
        State::Pending,
        State::Cleared,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Raised => "raised",
            State::Acknowledged => "acknowledged",
            State::Pending => "pending",
            State::Cleared => "cleared",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// The stored record of one alert: mauve's record model.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(string, tag = "1")]
    pub subject: String,
    #[prost(string, tag = "2")]
    pub summary: String,
    #[prost(string, tag = "3")]
    pub detail: String,
    #[prost(uint32, tag = "4")]
    pub importance: u32,
    #[prost(uint64, optional, tag = "5")]
    pub raised_at: Option<UnixSecs>,
    #[prost(uint64, optional, tag = "6")]
    pub cleared_at: Option<UnixSecs>,
    #[prost(uint64, optional, tag = "7")]
    pub will_raise_at: Option<UnixSecs>,
    #[prost(uint64, optional, tag = "8")]
    pub will_clear_at: Option<UnixSecs>,
    #[prost(uint64, optional, tag = "9")]
    pub acknowledged_at: Option<UnixSecs>,
    #[prost(string, optional, tag = "10")]
    pub acknowledged_by: Option<String>,
    #[prost(uint64, optional, tag = "11")]
    pub will_unacknowledge_at: Option<UnixSecs>,
    #[prost(uint64, optional, tag = "12")]
    pub suppress_until: Option<UnixSecs>,
    /// When the last update or operator action touched the record. Timers
    /// firing do not count: startup grace looks at this.
    #[prost(uint64, tag = "13")]
    pub updated_at: UnixSecs,
    #[prost(uint64, tag = "14")]
    pub created_at: UnixSecs,
    /// The kind of the last state change (mauve's `update_type`).
    #[prost(enumeration = "EventKind", optional, tag = "15")]
    pub update_type: Option<i32>,
    // Tag 16 held a notification kept back by a suppression; `notified`
    // replaced it and the tag stays unused.
    /// When to look again at what people were told: set while a suppression
    /// holds a change back, to its end.
    #[prost(uint64, optional, tag = "17")]
    pub remind_at: Option<UnixSecs>,
    /// The kind of the last notification sent (None: nothing ever was).
    #[prost(enumeration = "EventKind", optional, tag = "18")]
    pub notified: Option<i32>,
}

impl Record {
    fn new(subject: String, now: UnixSecs) -> Self {
        Record {
            subject,
            importance: DEFAULT_IMPORTANCE,
            updated_at: now,
            created_at: now,
            ..Record::default()
        }
    }

    /// mauve's predicate: raised_at is set and later than any clear.
    pub fn is_raised(&self) -> bool {
        match (self.raised_at, self.cleared_at) {
            (Some(raised), Some(cleared)) => raised > cleared,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    pub fn is_acknowledged(&self) -> bool {
        self.acknowledged_at.is_some()
    }

    pub(crate) fn is_suppressed(&self, now: UnixSecs) -> bool {
        self.suppress_until.is_some_and(|until| until > now)
    }

    pub(crate) fn state(&self) -> State {
        if self.is_raised() {
            if self.is_acknowledged() {
                State::Acknowledged
            } else {
                State::Raised
            }
        } else if self.will_raise_at.is_some() {
            State::Pending
        } else {
            State::Cleared
        }
    }

    /// The earliest timer of this record: what the due index is keyed by.
    pub fn next_due(&self) -> Option<UnixSecs> {
        [
            self.will_raise_at,
            self.will_clear_at,
            self.will_unacknowledge_at,
            self.remind_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub(crate) fn last_event(&self) -> Option<EventKind> {
        self.update_type.and_then(|v| EventKind::try_from(v).ok())
    }

    /// raise!: the alert is raised now (or stays raised), any ack is dropped.
    /// An existing `raised_at` is kept so that a repeated raise does not move it.
    fn raise(&mut self, at: UnixSecs) {
        self.acknowledged_at = None;
        self.acknowledged_by = None;
        self.will_unacknowledge_at = None;
        self.raised_at.get_or_insert(at);
        self.will_raise_at = None;
        self.cleared_at = None;
    }

    /// clear!: the alert is cleared. `will_raise_at` survives, which is what
    /// keeps a heartbeat pending.
    fn clear_now(&mut self, now: UnixSecs) {
        self.acknowledged_at = None;
        self.acknowledged_by = None;
        self.will_unacknowledge_at = None;
        self.raised_at = None;
        self.cleared_at.get_or_insert(now);
        if self.will_clear_at.is_some_and(|t| t <= now) {
            self.will_clear_at = None;
        }
    }

    /// What people were last told this alert is.
    fn told(&self) -> Told {
        self.notified
            .and_then(|v| EventKind::try_from(v).ok())
            .map_or(Told::Cleared, EventKind::told)
    }

    /// The last state change, if people have not been told of its outcome.
    fn untold_change(&self) -> Option<EventKind> {
        self.last_event().filter(|kind| kind.told() != self.told())
    }

    /// Ends every step. On a change of state a suppression that has run out
    /// is forgotten, and the event becomes the update type. Then the one rule
    /// of suppression (mauve sends nothing for a suppressed alert, whatever
    /// happened to it): while the alert is suppressed no event is sent, and if
    /// people were last told something other than what the alert now is, the
    /// alert is looked at again when the suppression ends ([`tick`]), where
    /// one notification goes out if that is still so. Outside a suppression
    /// an event is sent unless it would tell people what they last heard.
    fn finish(mut self, was_raised: bool, event: Option<EventKind>, now: UnixSecs) -> Transition {
        if self.is_raised() != was_raised && !self.is_suppressed(now) {
            self.suppress_until = None;
        }
        if let Some(kind) = event {
            self.update_type = Some(kind as i32);
        }
        let event = if self.is_suppressed(now) {
            self.remind_at = self.untold_change().and(self.suppress_until);
            None
        } else {
            // A change hidden by a suppression can leave the alert back in
            // the state people last heard of: saying it again is noise.
            let event = event.filter(|kind| kind.told() != self.told());
            if let Some(kind) = event {
                self.notified = Some(kind as i32);
            }
            event
        };
        Transition {
            record: self,
            event,
        }
    }
}

/// The outcome of one step of the state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub record: Record,
    /// The notification this change deserves, if any.
    pub(crate) event: Option<EventKind>,
}

/// The time context for timers: mauve postpones the timers of alerts last
/// updated before the server started until `grace_until`, so that a restart
/// after downtime does not fire every heartbeat at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickTime {
    pub(crate) now: UnixSecs,
    pub(crate) started_at: UnixSecs,
    pub(crate) grace_until: UnixSecs,
}

impl TickTime {
    /// A moment with no startup grace (for callers that do not care).
    pub fn at(now: UnixSecs) -> Self {
        TickTime {
            now,
            started_at: 0,
            grace_until: 0,
        }
    }
}

/// Applies one alert of an incoming update to its record (`None` for an alert
/// never seen before). This is mauve's `receive_update`, rule by rule.
pub fn apply(
    old: Option<&Record>,
    source: &str,
    change: &AlertChange,
    now: UnixSecs,
) -> Transition {
    let mut rec = old
        .cloned()
        .unwrap_or_else(|| Record::new(source.to_owned(), now));
    // Empty text keeps the old text.
    overwrite_if_given(&mut rec.subject, &change.subject);
    overwrite_if_given(&mut rec.summary, &change.summary);
    overwrite_if_given(&mut rec.detail, &change.detail);
    settle(rec, old, change, now)
}

/// [`apply`], the change's texts moved into the record rather than copied
/// (the change is left without texts).
pub(crate) fn apply_taking(
    old: Option<&Record>,
    source: &str,
    change: &mut AlertChange,
    now: UnixSecs,
) -> Transition {
    let mut rec = match old {
        Some(old) => old.clone(),
        // A new alert's subject is the one given, else its source.
        None => Record::new(
            change
                .subject
                .take()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| source.to_owned()),
            now,
        ),
    };
    take_if_given(&mut rec.subject, &mut change.subject);
    take_if_given(&mut rec.summary, &mut change.summary);
    take_if_given(&mut rec.detail, &mut change.detail);
    settle(rec, old, change, now)
}

/// The rest of [`apply`], once the change's texts are in `rec`.
fn settle(
    mut rec: Record,
    old: Option<&Record>,
    change: &AlertChange,
    now: UnixSecs,
) -> Transition {
    // A new alert counts as coming from "cleared".
    let was_raised = old.is_some_and(Record::is_raised);
    let was_suppressed = old.is_some_and(|r| r.is_suppressed(now));

    // Importance 0 keeps the old importance.
    if let Some(importance) = change.importance.filter(|&i| i != 0) {
        rec.importance = importance;
    }
    rec.updated_at = now;

    // No times at all means "raise now".
    let (raise, clear) = match (change.raise_time, change.clear_time) {
        (None, None) => (Some(now), None),
        times => times,
    };
    let soon = now.saturating_add(NOW_GRACE_S);
    match raise {
        Some(at) if at <= soon => {
            rec.raised_at.get_or_insert(at);
            rec.will_raise_at = None;
            rec.cleared_at = None;
        }
        Some(at) => {
            rec.raised_at = None;
            rec.will_raise_at = Some(at);
        }
        None => {
            rec.raised_at = None;
            rec.will_raise_at = None;
        }
    }
    match clear {
        Some(at) if at <= soon => {
            rec.cleared_at.get_or_insert(at);
            rec.will_clear_at = None;
        }
        Some(at) => {
            rec.cleared_at = None;
            rec.will_clear_at = Some(at);
        }
        None => {
            rec.cleared_at = None;
            rec.will_clear_at = None;
        }
    }

    let raised = rec.is_raised();
    let changed_state = raised != was_raised;
    // suppress_until only takes effect on a state change, and never extends a
    // suppression that is still running.
    if changed_state && !was_suppressed {
        rec.suppress_until = change.suppress_until;
    }

    let event = if raised {
        if rec.is_acknowledged() {
            // Still raised and acknowledged: the ack stands, nobody is told.
            // An older clear time carried by the update means nothing now.
            rec.cleared_at = None;
            None
        } else {
            rec.raise(now);
            (!was_raised).then_some(EventKind::Raised)
        }
    } else {
        rec.clear_now(now);
        was_raised.then_some(EventKind::Cleared)
    };
    rec.finish(was_raised, event, now)
}

/// `replace = true`: an alert of the same source that the update did not list
/// is cleared, unless it already is (a pending heartbeat keeps its timer).
pub(crate) fn clear_unlisted(old: &Record, now: UnixSecs) -> Option<Transition> {
    if !old.is_raised() {
        return None;
    }
    let mut rec = old.clone();
    rec.clear_now(now);
    Some(rec.finish(true, Some(EventKind::Cleared), now))
}

/// Fires whichever of the record's timers are due. Returns `None` when no
/// timer is due (nothing to write).
pub fn tick(old: &Record, time: &TickTime) -> Option<Transition> {
    let now = time.now;
    if old.next_due()? > now {
        return None;
    }
    let mut rec = old.clone();
    let due = |t: Option<UnixSecs>| t.is_some_and(|t| t <= now);

    if rec.updated_at < time.started_at && now < time.grace_until {
        // Last touched in an earlier run: postpone, do not fire.
        for timer in [
            &mut rec.will_raise_at,
            &mut rec.will_clear_at,
            &mut rec.will_unacknowledge_at,
            &mut rec.remind_at,
        ] {
            if timer.is_some_and(|t| t <= now) {
                *timer = Some(time.grace_until);
            }
        }
        return Some(Transition {
            record: rec,
            event: None,
        });
    }

    let was_raised = old.is_raised();
    let mut event = if due(rec.will_raise_at) || due(rec.will_unacknowledge_at) {
        let unacknowledging = rec.is_acknowledged() && due(rec.will_unacknowledge_at);
        if unacknowledging {
            // Losing the ack counts as a fresh raise.
            rec.raised_at = Some(now);
        }
        rec.raise(now);
        if unacknowledging {
            Some(EventKind::ReRaised)
        } else {
            (!was_raised).then_some(EventKind::Raised)
        }
    } else if due(rec.will_clear_at) {
        rec.clear_now(now);
        was_raised.then_some(EventKind::Cleared)
    } else {
        None
    };
    if due(rec.remind_at) {
        // A suppression has ended: tell what people missed, if anything.
        rec.remind_at = None;
        event = event.or_else(|| rec.untold_change());
    }
    Some(rec.finish(was_raised, event, now))
}

/// Why an operator action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("the alert is not raised")]
    NotRaised,
    #[error("the alert is not acknowledged")]
    NotAcknowledged,
    #[error("the acknowledgement must end in the future")]
    UntilInPast,
    #[error("the suppression must end in the future")]
    SuppressInPast,
    #[error("the alert is not suppressed")]
    NotSuppressed,
}

/// Acknowledges a raised alert until `until`, capped at `now + max_ack_s`.
/// Re-acknowledging only moves the end of the ack and notifies nobody.
pub(crate) fn acknowledge(
    old: &Record,
    by: &str,
    until: UnixSecs,
    max_ack_s: u64,
    now: UnixSecs,
) -> Result<Transition, ActionError> {
    if !old.is_raised() {
        return Err(ActionError::NotRaised);
    }
    if until <= now {
        return Err(ActionError::UntilInPast);
    }
    let mut rec = old.clone();
    rec.acknowledged_at = Some(now);
    rec.acknowledged_by = Some(by.to_owned());
    rec.will_unacknowledge_at = Some(until.min(now.saturating_add(max_ack_s)));
    rec.updated_at = now;
    let event = (!old.is_acknowledged()).then_some(EventKind::Acknowledged);
    Ok(rec.finish(true, event, now))
}

/// Removes an acknowledgement by hand: like the ack running out, the alert
/// is raised afresh and people are told again.
pub(crate) fn unacknowledge(old: &Record, now: UnixSecs) -> Result<Transition, ActionError> {
    if !old.is_acknowledged() {
        return Err(ActionError::NotAcknowledged);
    }
    let mut rec = old.clone();
    rec.raised_at = Some(now);
    rec.raise(now);
    rec.updated_at = now;
    Ok(rec.finish(true, Some(EventKind::ReRaised), now))
}

/// Raises an alert by hand, now (its text unchanged).
pub(crate) fn raise_now(old: &Record, source: &str, id: &str, now: UnixSecs) -> Transition {
    let change = AlertChange {
        id: id.to_owned(),
        raise_time: Some(now),
        ..AlertChange::default()
    };
    apply(Some(old), source, &change, now)
}

/// Clears an alert by hand, now (a pending heartbeat forgets its timer).
pub(crate) fn clear_now(old: &Record, source: &str, id: &str, now: UnixSecs) -> Transition {
    let change = AlertChange {
        id: id.to_owned(),
        clear_time: Some(now),
        ..AlertChange::default()
    };
    apply(Some(old), source, &change, now)
}

/// Keeps an alert quiet until `until`, whatever its state: nothing is sent
/// meanwhile; at the end people hear what changed (see [`tick`]).
pub(crate) fn suppress(
    old: &Record,
    until: UnixSecs,
    now: UnixSecs,
) -> Result<Transition, ActionError> {
    if until <= now {
        return Err(ActionError::SuppressInPast);
    }
    let mut rec = old.clone();
    rec.suppress_until = Some(until);
    rec.updated_at = now;
    Ok(rec.finish(old.is_raised(), None, now))
}

/// Ends a suppression now: people hear at once what they missed, if anything.
pub(crate) fn unsuppress(old: &Record, now: UnixSecs) -> Result<Transition, ActionError> {
    if !old.is_suppressed(now) {
        return Err(ActionError::NotSuppressed);
    }
    let mut rec = old.clone();
    rec.suppress_until = None;
    rec.remind_at = None;
    rec.updated_at = now;
    let event = rec.untold_change();
    Ok(rec.finish(old.is_raised(), event, now))
}

fn overwrite_if_given(field: &mut String, given: &Option<String>) {
    if let Some(text) = given.as_deref().filter(|t| !t.is_empty()) {
        text.clone_into(field);
    }
}

fn take_if_given(field: &mut String, given: &mut Option<String>) {
    if let Some(text) = given.take().filter(|t| !t.is_empty()) {
        *field = text;
    }
}

/// How pressing an alert group's alerts are: it picks each person's notifiers.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    serde::Deserialize,
    serde::Serialize,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    Low,
    #[default]
    Normal,
    Urgent,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Urgent => "urgent",
            Level::Normal => "normal",
            Level::Low => "low",
        }
    }

    pub(crate) fn from_i32(n: i32) -> Level {
        match n {
            2 => Level::Urgent,
            0 => Level::Low,
            _ => Level::Normal,
        }
    }

    pub(crate) fn as_i32(self) -> i32 {
        self as i32
    }
}

#[cfg(test)]
mod tests;

/// Alerts by what they need, one definition for the page, `/api/counts`
/// and `mauved_alerts{state}`; each alert is counted once. Suppression
/// comes first: a suppressed alert (raised, acknowledged or pending, its
/// suppression not over) is `suppressed`, not also `raised`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Counts {
    /// Raised, not acknowledged, not suppressed: needs action.
    pub(crate) raised: u64,
    pub(crate) acknowledged: u64,
    pub(crate) suppressed: u64,
    pub(crate) pending: u64,
    pub(crate) cleared: u64,
}
