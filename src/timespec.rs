//! The time grammars senders use, shared by `mauvesend` (and its library,
//! `send`) and the JSON submissions of `events`.
//!
//! mauvesend's: empty or `now`; digits (an absolute Unix time); or
//! `[+|-]N[s|m|h|d]` (relative). purppura's: `+N` with a unit of s, m or h
//! in either case.

use crate::alert::UnixSecs;

/// Parses mauvesend's time grammar relative to `now`: empty or `now`; digits
/// (an absolute Unix time); or `[+|-]N[s|m|h|d]` (relative, default unit
/// seconds, default sign `+`).
pub fn mauvesend(spec: &str, now: UnixSecs) -> Result<UnixSecs, String> {
    let bad = || format!("Unrecognised time format: {spec:?}");
    if spec.is_empty() || spec == "now" {
        return Ok(now);
    }
    if spec.bytes().all(|b| b.is_ascii_digit()) {
        return spec.parse().map_err(|_| bad());
    }
    let (negative, rest) = match spec.as_bytes()[0] {
        b'+' => (false, &spec[1..]),
        b'-' => (true, &spec[1..]),
        _ => (false, spec),
    };
    let (digits, unit) = match rest.as_bytes().last() {
        Some(b's') => (&rest[..rest.len() - 1], 1),
        Some(b'm') => (&rest[..rest.len() - 1], 60),
        Some(b'h') => (&rest[..rest.len() - 1], 3600),
        Some(b'd') => (&rest[..rest.len() - 1], 86_400),
        _ => (rest, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let offset = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(bad)?;
    let at = if negative {
        now.checked_sub(offset)
    } else {
        now.checked_add(offset)
    };
    at.ok_or_else(bad)
}

/// purppura's relative times: `+N` with a unit of s, m or h in either case.
pub fn purppura(spec: &str, now: UnixSecs) -> Option<UnixSecs> {
    let rest = spec.strip_prefix('+').unwrap_or(spec);
    let unit = match rest.chars().last()?.to_ascii_lowercase() {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return None,
    };
    let digits = &rest[..rest.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    now.checked_add(digits.parse::<u64>().ok()?.checked_mul(unit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn time_specs_follow_mauvesend() {
        let t = |s: &str| mauvesend(s, NOW);
        assert_eq!(t(""), Ok(NOW));
        assert_eq!(t("now"), Ok(NOW));
        assert_eq!(t("300"), Ok(300), "digits are absolute");
        assert_eq!(t("1800000000"), Ok(1_800_000_000));
        assert_eq!(t("+300"), Ok(NOW + 300));
        assert_eq!(t("5m"), Ok(NOW + 300), "no sign means +");
        assert_eq!(t("+5m"), Ok(NOW + 300));
        assert_eq!(t("-10m"), Ok(NOW - 600));
        assert_eq!(t("+2h"), Ok(NOW + 7200));
        assert_eq!(t("1d"), Ok(NOW + 86_400));
        assert_eq!(t("-30s"), Ok(NOW - 30));
        for bad in [
            "5M",
            "soon",
            "+",
            "-",
            "5w",
            "+5mm",
            "1.5h",
            " 5",
            "+-5",
            "99999999999999999999d",
        ] {
            let err = t(bad).unwrap_err();
            assert!(err.contains("Unrecognised time format"), "{bad}: {err}");
            assert!(err.contains(bad), "the error names the value");
        }
    }

    #[test]
    fn purppura_times_take_either_case_and_no_days() {
        assert_eq!(purppura("+30s", NOW), Some(NOW + 30));
        assert_eq!(purppura("5M", NOW), Some(NOW + 300));
        assert_eq!(purppura("+2H", NOW), Some(NOW + 7200));
        assert_eq!(purppura("1d", NOW), None);
        assert_eq!(purppura("+m", NOW), None);
        assert_eq!(purppura("now", NOW), None);
    }
}
