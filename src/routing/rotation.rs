//! Rotations: one member at a time, handing over every `shift` from the
//! first `handoff`, with overrides that put somebody else on for a while.
//!
//! Shifts of whole days hand over at the same local wall-clock time every
//! time (09:00 stays 09:00 across a daylight-saving change); shorter shifts
//! are plain elapsed time.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Span;

use crate::alert::UnixSecs;
use crate::config::{local_time, RotationSpec};

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rotation {
    members: Vec<String>,
    shift_s: u64,
    handoff: DateTime,
    zone: TimeZone,
    /// (who, from, until) as instants.
    overrides: Vec<(String, UnixSecs, UnixSecs)>,
}

/// Who is on at a moment, and until when.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OnCall {
    pub(crate) person: String,
    /// The next hand-over (or the start or end of an override).
    pub(crate) until: Option<UnixSecs>,
    pub(crate) overridden: bool,
}

fn instant(local: DateTime, zone: &TimeZone) -> Option<i64> {
    local
        .to_zoned_datetime(zone.clone())
        .ok()
        .map(|z| z.timestamp().as_second())
}

impl Rotation {
    /// Compiles a spec; a problem names the field (`handoff`,
    /// `overrides[1]`).
    pub(crate) fn compile(
        spec: &RotationSpec,
        zone: &TimeZone,
    ) -> Result<Rotation, (String, String)> {
        let handoff = local_time(&spec.handoff).map_err(|why| ("handoff".to_owned(), why))?;
        instant(handoff, zone).ok_or_else(|| ("handoff".to_owned(), outside(&spec.handoff)))?;
        let overrides = spec
            .overrides
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let at = |text: &str| instant_of(text, zone);
                match (at(&o.from), at(&o.until)) {
                    (Ok(from), Ok(until)) => Ok((o.who.clone(), from, until)),
                    (Err(why), _) | (_, Err(why)) => Err((format!("overrides[{i}]"), why)),
                }
            })
            .collect::<Result<_, _>>()?;
        if spec.shift.0 == 0 {
            return Err(("shift".to_owned(), "must be above 0".to_owned()));
        }
        Ok(Rotation {
            members: spec.members.clone(),
            shift_s: spec.shift.0,
            handoff,
            zone: zone.clone(),
            overrides,
        })
    }

    /// The instant of hand-over number `k` (0 = the configured one).
    fn handoff_at(&self, k: i64) -> i64 {
        let first = instant(self.handoff, &self.zone).unwrap_or(0);
        if self.shift_s.is_multiple_of(86_400) {
            let days = k.saturating_mul((self.shift_s / 86_400) as i64);
            self.handoff
                .to_zoned_datetime(self.zone.clone())
                .ok()
                .and_then(|z| z.checked_add(Span::new().days(days)).ok())
                .map(|z| z.timestamp().as_second())
                .unwrap_or(first + days * 86_400)
        } else {
            first + k * self.shift_s as i64
        }
    }

    /// Who is on at `at`.
    pub(crate) fn at(&self, at: UnixSecs) -> OnCall {
        let t = at as i64;
        let first = instant(self.handoff, &self.zone).unwrap_or(0);
        let mut k = (t - first).div_euclid(self.shift_s as i64);
        while k > i64::MIN / 2 && self.handoff_at(k) > t {
            k -= 1;
        }
        while self.handoff_at(k + 1) <= t {
            k += 1;
        }
        let next = self.handoff_at(k + 1).max(0) as UnixSecs;
        if let Some((who, _, until)) = self
            .overrides
            .iter()
            .find(|(_, from, until)| *from <= at && at < *until)
        {
            return OnCall {
                person: who.clone(),
                until: Some(*until),
                overridden: true,
            };
        }
        let starts = self
            .overrides
            .iter()
            .map(|(_, from, _)| *from)
            .filter(|from| *from > at);
        let person = if self.members.is_empty() {
            String::new()
        } else {
            self.members[k.rem_euclid(self.members.len() as i64) as usize].clone()
        };
        OnCall {
            person,
            until: starts.chain([next]).min(),
            overridden: false,
        }
    }
}

/// Seconds since the epoch of a local date-time in `zone` (tests, tools).
pub(crate) fn local_instant(text: &str, zone: &TimeZone) -> Option<UnixSecs> {
    instant_of(text, zone).ok()
}

/// [`local_instant`], saying what is wrong (as the configuration's checks
/// do for a date that does not read).
pub(crate) fn instant_of(text: &str, zone: &TimeZone) -> Result<UnixSecs, String> {
    let dt = local_time(text)?;
    instant(dt, zone)
        .filter(|&s| s >= 0)
        .map(|s| s as UnixSecs)
        .ok_or_else(|| outside(text))
}

fn outside(text: &str) -> String {
    format!("{text:?} is outside the times this station counts (1970 on)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Override, Secs};

    fn weekly() -> (Rotation, TimeZone) {
        let zone = TimeZone::get("Europe/London").unwrap();
        let spec = RotationSpec {
            members: vec!["alice".into(), "bob".into()],
            shift: Secs(7 * 86_400),
            handoff: "2026-01-05T09:00".into(),
            overrides: vec![Override {
                who: "carol".into(),
                from: "2026-08-04T09:00".into(),
                until: "2026-08-06T09:00".into(),
            }],
        };
        (Rotation::compile(&spec, &zone).unwrap(), zone)
    }

    #[test]
    fn members_take_turns_every_shift() {
        let (r, zone) = weekly();
        let at = |t: &str| local_instant(t, &zone).unwrap();
        assert_eq!(r.at(at("2026-01-05T09:00")).person, "alice");
        assert_eq!(r.at(at("2026-01-12T08:59")).person, "alice");
        assert_eq!(r.at(at("2026-01-12T09:00")).person, "bob");
        assert_eq!(
            r.at(at("2026-01-12T09:00")).until,
            Some(at("2026-01-19T09:00"))
        );
        assert_eq!(r.at(at("2026-01-19T09:00")).person, "alice");
        // Before the first hand-over the turns run backwards.
        assert_eq!(r.at(at("2026-01-04T09:00")).person, "bob");
    }

    #[test]
    fn the_handoff_stays_at_local_nine_across_daylight_saving() {
        let (r, zone) = weekly();
        let at = |t: &str| local_instant(t, &zone).unwrap();
        // Clocks go forward on Sunday 2026-03-29: the hand-over on Monday
        // 30th is 09:00 BST = 08:00 UTC, a week minus an hour after the last.
        let before = r.at(at("2026-03-23T09:00"));
        let after = at("2026-03-30T09:00");
        assert_eq!(before.until, Some(after));
        assert_eq!(after - at("2026-03-23T09:00"), 7 * 86_400 - 3600);
        assert_ne!(r.at(after - 1).person, r.at(after).person);
        // And back on Sunday 2026-10-25.
        let from = at("2026-10-19T09:00");
        assert_eq!(r.at(from).until.unwrap() - from, 7 * 86_400 + 3600);
    }

    #[test]
    fn an_override_puts_somebody_else_on_for_its_time() {
        let (r, zone) = weekly();
        let at = |t: &str| local_instant(t, &zone).unwrap();
        let usual = r.at(at("2026-08-04T08:59"));
        assert_ne!(usual.person, "carol");
        assert_eq!(usual.until, Some(at("2026-08-04T09:00")));
        let on = r.at(at("2026-08-04T09:00"));
        assert_eq!((on.person.as_str(), on.overridden), ("carol", true));
        assert_eq!(on.until, Some(at("2026-08-06T09:00")));
        assert_eq!(r.at(at("2026-08-06T09:00")).person, usual.person);
    }

    #[test]
    fn short_shifts_are_elapsed_time() {
        let zone = TimeZone::UTC;
        let spec = RotationSpec {
            members: vec!["a".into(), "b".into(), "c".into()],
            shift: Secs(8 * 3600),
            handoff: "2026-01-01T00:00".into(),
            overrides: vec![],
        };
        let r = Rotation::compile(&spec, &zone).unwrap();
        let t0 = local_instant("2026-01-01T00:00", &zone).unwrap();
        let who: Vec<String> = (0..4).map(|i| r.at(t0 + i * 8 * 3600).person).collect();
        assert_eq!(who, ["a", "b", "c", "a"]);
    }
}
