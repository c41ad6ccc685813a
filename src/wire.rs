//! The mauve wire format: bytes of one datagram in, one checked [`Update`] out.
//!
//! This is the only place that trusts nothing. Decoding is lenient where mauve
//! is lenient (missing "required" fields, unknown fields, 0 and "" meaning
//! absent) and strict where a bad value could hurt: an update needs a source,
//! an alert needs an id, times must be sane, and every string is capped like
//! mauve's database columns. Clock-skew correction happens here too, so the
//! state machine only ever sees times on the server's clock.

use prost::Message;

use crate::alert::{AlertChange, UnixSecs, Update};

/// Generated from `proto/mauve.proto`.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/mauve.proto.rs"));
}

/// Column limits of mauve's schema, in characters; longer values are cut.
pub(crate) const MAX_ID_CHARS: usize = 256;
pub(crate) const MAX_SOURCE_CHARS: usize = 512;
pub(crate) const MAX_SUBJECT_CHARS: usize = 512;
pub(crate) const MAX_SUMMARY_CHARS: usize = 1024;
/// mauve has no cap on detail; one datagram cannot carry more than 64 KiB,
/// and HTTP submissions are held to the same.
pub(crate) const MAX_DETAIL_BYTES: usize = 64 * 1024;
/// A text field is cut to this many bytes before its tags are stripped.
pub(crate) const MAX_RAW_FIELD_BYTES: usize = 64 * 1024;
/// Timestamps further than this from now are refused (mauve's date check).
pub(crate) const MAX_TIME_DISTANCE_S: u64 = 3650 * 86_400;

/// Why a whole packet was refused. The label is the `reason` of
/// `mauved_packets_rejected_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("empty datagram")]
    Empty,
    #[error("not a valid AlertUpdate protobuf")]
    Malformed,
    #[error("the update has no source")]
    NoSource,
    #[error("the sender's address is not in listen.allow_sources")]
    NotAllowed,
    #[error("the sender is over listen.max_packets_per_source")]
    RateLimited,
}

impl PacketError {
    pub(crate) const ALL: [PacketError; 5] = [
        PacketError::Empty,
        PacketError::Malformed,
        PacketError::NoSource,
        PacketError::NotAllowed,
        PacketError::RateLimited,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            PacketError::Empty => "empty",
            PacketError::Malformed => "malformed",
            PacketError::NoSource => "no_source",
            PacketError::NotAllowed => "not_allowed",
            PacketError::RateLimited => "rate_limited",
        }
    }
}

/// Why one alert inside an otherwise good update was refused; the rest of
/// the update still applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AlertError {
    #[error("the alert has no id")]
    NoId,
    #[error("a time is more than 3650 days from now")]
    TimeOutOfRange,
    /// Not found here but by the scheduler: a new alert beyond
    /// `store.max_alerts` (memory is bounded by that count).
    #[error("the alert limit is reached")]
    OverCapacity,
}

impl AlertError {
    pub(crate) const ALL: [AlertError; 3] = [
        AlertError::NoId,
        AlertError::TimeOutOfRange,
        AlertError::OverCapacity,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            AlertError::NoId => "no_id",
            AlertError::TimeOutOfRange => "time_out_of_range",
            AlertError::OverCapacity => "over_capacity",
        }
    }
}

/// A decoded packet: the update to apply and what was refused or cut on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub update: Update,
    pub(crate) rejected: Vec<(String, AlertError)>,
    /// How many string fields were longer than their cap and were cut.
    pub(crate) truncated: u32,
    /// How many string fields held invalid UTF-8 and were repaired.
    pub(crate) repaired: u32,
}

/// Decodes one datagram received at `received_at`.
pub fn decode(bytes: &[u8], received_at: UnixSecs) -> Result<Decoded, PacketError> {
    if bytes.is_empty() {
        return Err(PacketError::Empty);
    }
    let raw = lenient::AlertUpdate::decode(bytes).map_err(|_| PacketError::Malformed)?;
    let (update, repaired) = raw.repair();
    let mut decoded = check(update, received_at)?;
    decoded.repaired = repaired;
    Ok(decoded)
}

/// The schema of [`pb`] with every string field read as bytes.
///
/// mauve's decoder does not validate UTF-8; the server then replaces each
/// invalid sequence with `?` (its `clean_utf8`). So a subject printed by a
/// script in Windows-1252 or Shift-JIS is stored with question marks, and the
/// other alerts of that packet still apply. prost refuses a whole message for
/// one bad string, hence this mirror: the same tags and wire types (a proto2
/// string and bytes field are the same on the wire), decoded without the
/// check, then repaired field by field. A test keeps it in step with `pb`.
mod lenient {
    use super::pb;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Alert {
        #[prost(bytes = "vec", required, tag = "1")]
        pub(crate) id: Vec<u8>,
        #[prost(uint64, optional, tag = "2")]
        pub(crate) raise_time: Option<u64>,
        #[prost(uint64, optional, tag = "3")]
        pub(crate) clear_time: Option<u64>,
        #[prost(bytes = "vec", optional, tag = "4")]
        pub(crate) subject: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "5")]
        pub(crate) summary: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "6")]
        pub(crate) detail: Option<Vec<u8>>,
        #[prost(uint32, optional, tag = "7")]
        pub(crate) importance: Option<u32>,
        #[prost(uint64, optional, tag = "8")]
        pub(crate) suppress_until: Option<u64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct AlertUpdate {
        #[prost(uint64, required, tag = "1")]
        pub(crate) transmission_id: u64,
        #[prost(bytes = "vec", required, tag = "2")]
        pub(crate) source: Vec<u8>,
        #[prost(bool, required, tag = "3", default = "false")]
        pub(crate) replace: bool,
        #[prost(message, repeated, tag = "4")]
        pub(crate) alert: Vec<Alert>,
        #[prost(bytes = "vec", optional, tag = "5")]
        pub(crate) signature: Option<Vec<u8>>,
        #[prost(uint64, optional, tag = "8")]
        pub(crate) transmission_time: Option<u64>,
    }

    impl AlertUpdate {
        /// The update with valid strings, and how many fields needed repair.
        pub(crate) fn repair(self) -> (pb::AlertUpdate, u32) {
            let mut repaired = 0;
            let mut text = |bytes: Vec<u8>| repair_utf8(bytes, &mut repaired);
            let alert = self
                .alert
                .into_iter()
                .map(|a| pb::Alert {
                    id: text(a.id),
                    raise_time: a.raise_time,
                    clear_time: a.clear_time,
                    subject: a.subject.map(&mut text),
                    summary: a.summary.map(&mut text),
                    detail: a.detail.map(&mut text),
                    importance: a.importance,
                    suppress_until: a.suppress_until,
                })
                .collect();
            let update = pb::AlertUpdate {
                transmission_id: self.transmission_id,
                source: text(self.source),
                replace: self.replace,
                alert,
                signature: self.signature,
                transmission_time: self.transmission_time,
            };
            (update, repaired)
        }
    }

    /// Valid UTF-8 passes through without a copy; otherwise every invalid
    /// sequence becomes one `?`, as mauve's `clean_utf8` does.
    pub(crate) fn repair_utf8(bytes: Vec<u8>, repaired: &mut u32) -> String {
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                *repaired += 1;
                let bytes = err.into_bytes();
                let mut out = String::with_capacity(bytes.len());
                for chunk in bytes.utf8_chunks() {
                    out.push_str(chunk.valid());
                    if !chunk.invalid().is_empty() {
                        out.push('?');
                    }
                }
                out
            }
        }
    }
}

/// Checks and normalises an update that arrived in any form (UDP or HTTP).
pub fn check(raw: pb::AlertUpdate, received_at: UnixSecs) -> Result<Decoded, PacketError> {
    let mut truncated = 0;
    let source = clean_text(raw.source, MAX_SOURCE_CHARS, &mut truncated);
    if source.is_empty() {
        return Err(PacketError::NoSource);
    }
    let skew = Skew::new(raw.transmission_time, received_at);
    let mut alerts = Vec::with_capacity(raw.alert.len());
    let mut rejected = Vec::new();
    for mut alert in raw.alert {
        let id = clean_text(std::mem::take(&mut alert.id), MAX_ID_CHARS, &mut truncated);
        match check_alert(id, alert, &skew, received_at, &mut truncated) {
            Ok(change) => alerts.push(change),
            Err((id, err)) => rejected.push((id, err)),
        }
    }
    Ok(Decoded {
        update: Update {
            source,
            transmission_id: raw.transmission_id,
            replace: raw.replace,
            alerts,
            received_at,
        },
        rejected,
        truncated,
        repaired: 0,
    })
}

fn check_alert(
    id: String,
    alert: pb::Alert,
    skew: &Skew,
    now: UnixSecs,
    truncated: &mut u32,
) -> Result<AlertChange, (String, AlertError)> {
    if id.is_empty() {
        return Err((id, AlertError::NoId));
    }
    let time = |t: Option<u64>| skew.correct(t.unwrap_or(0));
    let (raise_time, clear_time, suppress_until) = (
        time(alert.raise_time),
        time(alert.clear_time),
        time(alert.suppress_until),
    );
    let sane = |t: &Option<u64>| t.is_none_or(|t| t.abs_diff(now) <= MAX_TIME_DISTANCE_S);
    if ![raise_time, clear_time, suppress_until].iter().all(sane) {
        return Err((id, AlertError::TimeOutOfRange));
    }
    let mut text = |value: Option<String>, cap: usize| {
        value
            .map(|v| clean_text(v, cap, truncated))
            .filter(|v| !v.is_empty())
    };
    let subject = text(alert.subject, MAX_SUBJECT_CHARS);
    let summary = text(alert.summary, MAX_SUMMARY_CHARS);
    let detail = alert
        .detail
        .map(|d| {
            if d.contains('\0') {
                d.replace('\0', "")
            } else {
                d
            }
        })
        .filter(|d| !d.is_empty())
        .map(|d| cap_bytes(d, MAX_DETAIL_BYTES, truncated));
    Ok(AlertChange {
        id,
        raise_time,
        clear_time,
        subject,
        summary,
        detail,
        importance: alert.importance.filter(|&i| i != 0),
        suppress_until,
    })
}

/// Clock-skew correction (mauve-wire §3.2): the sender's idea of "now" is
/// mapped onto ours, so relative times survive a sender with a wrong clock.
struct Skew {
    offset: i64,
}

impl Skew {
    fn new(transmission_time: Option<u64>, received_at: UnixSecs) -> Self {
        let offset = match transmission_time {
            Some(sent) if sent > 0 => (received_at as i128 - sent as i128)
                .clamp(i64::MIN as i128, i64::MAX as i128)
                as i64,
            _ => 0,
        };
        Skew { offset }
    }

    /// 0 means absent; the result is `None` for absent times. A correction
    /// that would leave the u64 range saturates (and then fails the range check).
    fn correct(&self, t: u64) -> Option<UnixSecs> {
        if t == 0 {
            return None;
        }
        Some(t.saturating_add_signed(self.offset).max(1))
    }
}

/// Strips HTML tags (mauve keeps only text in every field but detail) and NUL
/// characters (which no notifier can pass on), trims surrounding whitespace
/// and cuts to `max_chars`.
fn clean_text(mut value: String, max_chars: usize, truncated: &mut u32) -> String {
    // Cut before any work per character: a field (over HTTP) may be as long
    // as a whole body; more than fits in a datagram is never kept.
    if value.len() > MAX_RAW_FIELD_BYTES {
        value = cap_bytes(value, MAX_RAW_FIELD_BYTES, truncated);
    }
    let text = strip_tags(&value);
    // Most text has no NUL: no copy for it.
    let text: std::borrow::Cow<'_, str> = if text.contains('\0') {
        text.replace('\0', "").into()
    } else {
        text
    };
    let text = text.trim();
    // A cut needs counting characters only when the bytes could be too many.
    let cut = if text.len() <= max_chars {
        None
    } else {
        text.char_indices().nth(max_chars).map(|(cut, _)| cut)
    };
    if let Some(cut) = cut {
        *truncated += 1;
        return text[..cut].to_owned();
    }
    // Clean already (most text): kept as it came, not copied.
    if text.len() == value.len() {
        return value;
    }
    text.to_owned()
}

/// Removes anything that looks like a tag: `<` followed by a letter, `/`, `!`
/// or `?`, up to the next `>`. A lone `<` (as in "load < 5") is kept.
fn strip_tags(value: &str) -> std::borrow::Cow<'_, str> {
    strip_tags_counted(value).0
}

/// [`strip_tags`] and the bytes it looked at: each byte at most once
/// (searching for `>` again from each `<` would cost the square of the
/// length on `<a<a<a…`); the count lets a test hold it to that.
fn strip_tags_counted(value: &str) -> (std::borrow::Cow<'_, str>, usize) {
    let Some(first) = value.find('<') else {
        return (value.into(), value.len());
    };
    let mut looked_at = first;
    let mut out = String::with_capacity(value.len());
    out.push_str(&value[..first]);
    let mut rest = &value[first..];
    // `rest` starts with `<` here, every time round.
    loop {
        let after = &rest[1..];
        looked_at += 2;
        let opens_tag = after
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'/' | b'!' | b'?'));
        let kept = if opens_tag {
            match after.find('>') {
                Some(end) => {
                    looked_at += end;
                    &after[end + 1..]
                }
                // No `>` anywhere after: no later `<` can close a tag
                // either, so the rest is text.
                None => {
                    looked_at += after.len();
                    out.push_str(rest);
                    return (out.into(), looked_at);
                }
            }
        } else {
            out.push('<');
            after
        };
        match kept.find('<') {
            Some(next) => {
                looked_at += next;
                out.push_str(&kept[..next]);
                rest = &kept[next..];
            }
            None => {
                looked_at += kept.len();
                out.push_str(kept);
                return (out.into(), looked_at);
            }
        }
    }
}

fn cap_bytes(mut value: String, max: usize, truncated: &mut u32) -> String {
    if value.len() > max {
        let mut cut = max;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
        *truncated += 1;
    }
    value
}

/// Encodes an update for the wire. Fields 1 to 3 are always written (prost
/// writes proto2 required fields even at their default), since mauve's Ruby
/// decoder expects them.
pub fn encode(update: &pb::AlertUpdate) -> Vec<u8> {
    update.encode_to_vec()
}

#[cfg(test)]
mod tests;
