//! An alert as people and programs see it: the API's JSON, the status page
//! and the messages notifiers send all show this one shape, derived from the
//! stored record.

use serde::Serialize;

use crate::alert::{AlertKey, Record, UnixSecs};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertView {
    pub source: String,
    pub id: String,
    pub state: &'static str,
    pub subject: String,
    pub summary: String,
    pub detail: String,
    pub importance: u32,
    pub raised_at: Option<UnixSecs>,
    pub cleared_at: Option<UnixSecs>,
    pub will_raise_at: Option<UnixSecs>,
    pub will_clear_at: Option<UnixSecs>,
    pub acknowledged_at: Option<UnixSecs>,
    pub acknowledged_by: Option<String>,
    pub will_unacknowledge_at: Option<UnixSecs>,
    pub suppress_until: Option<UnixSecs>,
    pub updated_at: UnixSecs,
    pub last_event: Option<&'static str>,
    /// Why `detail` is empty although the alert may have one: the store
    /// could not be read (a failing disk). Absent normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail_error: Option<String>,
}

impl AlertView {
    pub fn new(key: &AlertKey, r: &Record) -> Self {
        AlertView {
            source: key.source.clone(),
            id: key.id.clone(),
            state: r.state().as_str(),
            subject: r.subject.clone(),
            summary: r.summary.clone(),
            detail: r.detail.clone(),
            importance: r.importance,
            raised_at: r.raised_at,
            cleared_at: r.cleared_at,
            will_raise_at: r.will_raise_at,
            will_clear_at: r.will_clear_at,
            acknowledged_at: r.acknowledged_at,
            acknowledged_by: r.acknowledged_by.clone(),
            will_unacknowledge_at: r.will_unacknowledge_at,
            suppress_until: r.suppress_until,
            updated_at: r.updated_at,
            last_event: r.last_event().map(|e| e.as_str()),
            detail_error: None,
        }
    }
}
