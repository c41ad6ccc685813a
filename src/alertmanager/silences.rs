//! Silences, Alertmanager's idea brought to every alert: matchers over an
//! alert's labels and a time span; while one is active, a matching alert
//! is muted exactly as a suppression mutes it.
//!
//! A silence is pending before `starts_at`, active until `ends_at`, expired
//! after; expiring one early sets `ends_at` to now. This is the registry of
//! them and the answers the scheduler and the API need; the store keeps
//! them (`store/silences.rs`), the scheduler applies them (`Action::Silence`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::matchers::{self, Matcher, Spec};
use crate::alert::UnixSecs;

/// A silence's id, at most (ours are 36: a UUID).
const MAX_ID_CHARS: usize = 64;
/// Matchers in one silence, and the size of each, at most.
const MAX_MATCHERS: usize = 64;
const MAX_MATCHER_NAME_CHARS: usize = 256;
const MAX_MATCHER_VALUE_CHARS: usize = 1024;

/// One silence as kept.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Spec>,
    pub starts_at: UnixSecs,
    pub ends_at: UnixSecs,
    pub created_by: String,
    pub comment: String,
    pub updated_at: UnixSecs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Active,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: UnixSecs) -> State {
        if now < self.starts_at {
            State::Pending
        } else if now < self.ends_at {
            State::Active
        } else {
            State::Expired
        }
    }

    /// Checks a new silence: its sizes, its matchers and its span.
    pub fn check(&self) -> Result<Vec<Matcher>, String> {
        use crate::untrusted::{within, MAX_AUTHOR_CHARS, MAX_TEXT_CHARS};
        within("id", &self.id, MAX_ID_CHARS)?;
        within("createdBy", &self.created_by, MAX_AUTHOR_CHARS)?;
        within("comment", &self.comment, MAX_TEXT_CHARS)?;
        if self.matchers.len() > MAX_MATCHERS {
            return Err(format!("matchers: at most {MAX_MATCHERS}"));
        }
        for (i, m) in self.matchers.iter().enumerate() {
            within(
                &format!("matchers[{i}].name"),
                &m.name,
                MAX_MATCHER_NAME_CHARS,
            )?;
            within(
                &format!("matchers[{i}].value"),
                &m.value,
                MAX_MATCHER_VALUE_CHARS,
            )?;
        }
        if self.ends_at <= self.starts_at {
            return Err("endsAt must be after startsAt".into());
        }
        self.compile()
    }

    /// The matchers compiled: at least one, each valid, not all matching
    /// the empty value.
    fn compile(&self) -> Result<Vec<Matcher>, String> {
        if self.matchers.is_empty() {
            return Err("a silence needs at least one matcher".into());
        }
        let compiled = self
            .matchers
            .iter()
            .cloned()
            .map(Matcher::new)
            .collect::<Result<Vec<_>, _>>()?;
        // A silence that would mute everything is refused, as Alertmanager
        // refuses matchers that all match the empty string.
        if compiled.iter().all(|m| m.matches(&BTreeMap::new())) {
            return Err("at least one matcher must not match the empty value".into());
        }
        Ok(compiled)
    }

    /// The first eight characters of the id, for history lines.
    pub fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or(&self.id)
    }
}

/// Every silence, with its matchers compiled, and two indexes so that an
/// update costs what matches it, not how many silences there are: by one
/// `name="value"` matcher of each silence that has one (an alert can only
/// be muted by a silence filed under one of its labels, or by one of those
/// without such a matcher), and the silences' spans by start (whether any
/// is active).
#[derive(Default)]
pub struct Silences {
    list: Vec<(Silence, Vec<Matcher>)>,
    /// Label name → value → positions in `list`.
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Positions of the silences with no `name="value"` matcher.
    unfiled: Vec<usize>,
    /// (start, the latest end of this and every earlier start), by start.
    spans: Vec<(UnixSecs, UnixSecs)>,
}

impl Silences {
    /// Kept silences (ones that no longer check are dropped).
    pub fn from_stored(stored: Vec<Silence>) -> Silences {
        let mut out = Silences::default();
        for silence in stored {
            if let Ok(matchers) = silence.compile() {
                out.list.push((silence, matchers));
            }
        }
        out.list
            .sort_by(|a, b| a.0.starts_at.cmp(&b.0.starts_at).then(a.0.id.cmp(&b.0.id)));
        out.reindex();
        out
    }

    /// Builds the indexes again (after any change: a change is rare, a
    /// lookup is per update).
    fn reindex(&mut self) {
        self.by_label.clear();
        self.unfiled.clear();
        for (at, (_, matchers)) in self.list.iter().enumerate() {
            let filed = matchers
                .iter()
                .map(|m| &m.spec)
                .find(|s| s.is_equal && !s.is_regex && !s.value.is_empty());
            match filed {
                Some(spec) => self
                    .by_label
                    .entry(spec.name.clone())
                    .or_default()
                    .entry(spec.value.clone())
                    .or_default()
                    .push(at),
                None => self.unfiled.push(at),
            }
        }
        let mut spans: Vec<(UnixSecs, UnixSecs)> = self
            .list
            .iter()
            .map(|(s, _)| (s.starts_at, s.ends_at))
            .collect();
        spans.sort_unstable();
        let mut latest = 0;
        for span in &mut spans {
            latest = latest.max(span.1);
            span.1 = latest;
        }
        self.spans = spans;
    }

    /// Whether any silence is active at `now`: when none is, an alert's
    /// labels need not be worked out at all (the scheduler asks this per
    /// update: a binary search, no allocation).
    pub fn any_active(&self, now: UnixSecs) -> bool {
        let started = self.spans.partition_point(|(start, _)| *start <= now);
        started > 0 && self.spans[started - 1].1 > now
    }

    /// Adds or replaces (by id) a silence; one that ended (expired early)
    /// has its end at its start.
    pub fn put(&mut self, silence: Silence) -> Result<(), String> {
        let matchers = silence.compile()?;
        match self.list.iter_mut().find(|(s, _)| s.id == silence.id) {
            Some(slot) => *slot = (silence, matchers),
            None => self.list.push((silence, matchers)),
        }
        self.reindex();
        Ok(())
    }

    /// Whether any silence could mute an alert, asked before its labels
    /// are worked out: `cheap` gives a label's value when it is cheap to
    /// know (None: not without the labels). False only when none can: no
    /// silence is filed under one of the alert's known values, and every
    /// silence is filed.
    pub fn could_mute<'a>(&self, cheap: impl Fn(&str) -> Option<&'a str>) -> bool {
        if !self.unfiled.is_empty() {
            return true;
        }
        self.by_label
            .iter()
            .any(|(name, values)| cheap(name).is_none_or(|value| values.contains_key(value)))
    }

    /// Takes a silence out (retention); it, if it was there.
    pub fn remove(&mut self, id: &str) -> Option<Silence> {
        let at = self.list.iter().position(|(s, _)| s.id == id)?;
        let (silence, _) = self.list.remove(at);
        self.reindex();
        Some(silence)
    }

    /// The ids of the silences that ended at or before `t`.
    pub fn ended_by(&self, t: UnixSecs) -> Vec<String> {
        self.list
            .iter()
            .filter(|(s, _)| s.ends_at <= t)
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    /// How many silences are active or pending at `now`.
    pub fn in_force(&self, now: UnixSecs) -> usize {
        self.list
            .iter()
            .filter(|(s, _)| s.state(now) != State::Expired)
            .count()
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.list.iter().find(|(s, _)| s.id == id).map(|(s, _)| s)
    }

    pub fn all(&self) -> impl Iterator<Item = &Silence> {
        self.list.iter().map(|(s, _)| s)
    }

    /// The active silences whose matchers hold for these labels.
    pub fn muting<'a>(
        &'a self,
        labels: &'a BTreeMap<String, String>,
        now: UnixSecs,
    ) -> impl Iterator<Item = &'a Silence> + 'a {
        let mut candidates: Vec<usize> = labels
            .iter()
            .flat_map(|(name, value)| {
                self.by_label
                    .get(name.as_str())
                    .and_then(|values| values.get(value.as_str()))
                    .into_iter()
                    .flatten()
            })
            .chain(&self.unfiled)
            .copied()
            .collect();
        // In the list's order, as when every silence was looked at.
        candidates.sort_unstable();
        candidates
            .into_iter()
            .map(|at| &self.list[at])
            .filter(move |(s, m)| s.state(now) == State::Active && matchers::all(m, labels))
            .map(|(s, _)| s)
    }

    /// The latest end of the active silences that mute these labels.
    pub fn muted_until(
        &self,
        labels: &BTreeMap<String, String>,
        now: UnixSecs,
    ) -> Option<UnixSecs> {
        self.muting(labels, now).map(|s| s.ends_at).max()
    }

    /// Whether a silence holds for these labels (whatever its state).
    pub fn holds(&self, id: &str, labels: &BTreeMap<String, String>) -> bool {
        self.list
            .iter()
            .any(|(s, m)| s.id == id && matchers::all(m, labels))
    }

    /// The next moment a pending silence starts, after `now`.
    pub fn next_start(&self, now: UnixSecs) -> Option<UnixSecs> {
        self.list
            .iter()
            .map(|(s, _)| s.starts_at)
            .filter(|&t| t > now)
            .min()
    }
}

/// A new silence id: 128 random bits written as a UUID (version 4).
pub fn new_id() -> String {
    let bits: u128 = rand::random();
    let b = bits.to_be_bytes();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(matchers: &[(&str, &str, bool, bool)], starts: UnixSecs, ends: UnixSecs) -> Silence {
        Silence {
            id: new_id(),
            matchers: matchers
                .iter()
                .map(|(n, v, r, e)| Spec {
                    name: n.to_string(),
                    value: v.to_string(),
                    is_regex: *r,
                    is_equal: *e,
                })
                .collect(),
            starts_at: starts,
            ends_at: ends,
            created_by: "alice".into(),
            comment: "rack 4".into(),
            updated_at: starts,
        }
    }

    fn labels(source: &str) -> BTreeMap<String, String> {
        [("source".to_owned(), source.to_owned())].into()
    }

    #[test]
    fn states_follow_the_clock_both_ways() {
        let s = silence(&[("source", "web1", false, true)], 100, 200);
        assert_eq!(s.state(99), State::Pending);
        assert_eq!(s.state(100), State::Active);
        assert_eq!(s.state(199), State::Active);
        assert_eq!(s.state(200), State::Expired);
        // A clock stepped back makes it pending again: the state is read
        // from the times, never remembered.
        assert_eq!(s.state(50), State::Pending);
        let mut all = Silences::default();
        all.put(s.clone()).unwrap();
        assert_eq!(all.muted_until(&labels("web1"), 150), Some(200));
        assert!(all.any_active(150) && !all.any_active(250) && !all.any_active(99));
        assert_eq!(all.muted_until(&labels("web1"), 250), None);
        assert_eq!(all.muted_until(&labels("web2"), 150), None);
        assert_eq!(all.next_start(10), Some(100));
        // Kept and read back (a restart): the same answers.
        let json = serde_json::to_string(&all.all().cloned().collect::<Vec<_>>()).unwrap();
        let again = Silences::from_stored(serde_json::from_str(&json).unwrap());
        assert_eq!(again.muted_until(&labels("web1"), 150), Some(200));
        assert_eq!(again.get(&s.id), Some(&s));
    }

    #[test]
    fn silences_that_check_and_ones_that_do_not() {
        assert!(silence(&[], 1, 2).check().is_err());
        assert!(silence(&[("source", "x", false, true)], 2, 2)
            .check()
            .is_err());
        assert!(silence(&[("source", "(", true, true)], 1, 2)
            .check()
            .is_err());
        assert!(silence(&[("source", ".*", true, true)], 1, 2)
            .check()
            .is_err());
        assert!(silence(&[("team", "", false, true)], 1, 2).check().is_err());
        assert!(silence(
            &[
                ("source", "web.*", true, true),
                ("level", "low", false, false)
            ],
            1,
            2
        )
        .check()
        .is_ok());
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    mod indexes {
        use super::*;
        use proptest::prelude::*;

        fn spec() -> impl Strategy<Value = (String, String, bool, bool)> {
            (
                prop_oneof![Just("source"), Just("id"), Just("level"), Just("team")],
                prop_oneof![
                    Just(""),
                    Just("web1"),
                    Just("web2"),
                    Just("disk"),
                    Just("web.*")
                ],
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(n, v, regex, equal)| (n.to_owned(), v.to_owned(), regex, equal))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// The indexes answer as looking at every silence does.
            #[test]
            fn the_indexes_answer_as_a_look_at_every_silence(
                made in proptest::collection::vec((proptest::collection::vec(spec(), 1..4), 0u64..100, 1u64..100), 0..30),
                alerts in proptest::collection::vec((prop_oneof![Just("web1"), Just("web2"), Just("db")], prop_oneof![Just("disk"), Just("load")], prop_oneof![Just(""), Just("team-a")]), 1..10),
                now in 0u64..220,
            ) {
                let mut silences = Silences::default();
                let mut kept = Vec::new();
                for (i, (specs, start, len)) in made.into_iter().enumerate() {
                    let s = Silence {
                        id: format!("s{i}"),
                        matchers: specs.into_iter().map(|(name, value, is_regex, is_equal)| Spec { name, value, is_regex, is_equal }).collect(),
                        starts_at: start,
                        ends_at: start + len,
                        created_by: "t".into(),
                        comment: String::new(),
                        updated_at: 0,
                    };
                    if silences.put(s.clone()).is_ok() {
                        let matchers = s.compile().unwrap();
                        kept.push((s, matchers));
                    }
                }
                let any = kept.iter().any(|(s, _)| s.state(now) == State::Active);
                prop_assert_eq!(silences.any_active(now), any);
                for (source, id, team) in alerts {
                    let mut labels: BTreeMap<String, String> = [("source", source), ("id", id)]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    if !team.is_empty() {
                        labels.insert("team".into(), team.into());
                    }
                    let mut naive: Vec<&str> = kept
                        .iter()
                        .filter(|(s, m)| s.state(now) == State::Active && matchers::all(m, &labels))
                        .map(|(s, _)| s.id.as_str())
                        .collect();
                    let mut indexed: Vec<&str> = silences.muting(&labels, now).map(|s| s.id.as_str()).collect();
                    naive.sort_unstable();
                    indexed.sort_unstable();
                    // Asked first, with every label known, "none could"
                    // means none does.
                    if !silences.could_mute(|name| Some(labels.get(name).map_or("", String::as_str))) {
                        prop_assert!(naive.is_empty(), "{:?}", naive);
                    }
                    prop_assert_eq!(indexed, naive);
                }
            }
        }
    }
}
