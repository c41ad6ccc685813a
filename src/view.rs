//! An alert as people and programs see it: the API's JSON, the status page
//! and the messages notifiers send all show this one shape, derived from the
//! stored record.

use serde::Serialize;

use crate::alert::{AlertKey, Record, UnixSecs};

#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct AlertView {
    pub(crate) source: String,
    pub(crate) id: String,
    pub(crate) state: &'static str,
    pub(crate) subject: String,
    pub(crate) summary: String,
    pub(crate) detail: String,
    pub(crate) importance: u32,
    pub(crate) raised_at: Option<UnixSecs>,
    pub(crate) cleared_at: Option<UnixSecs>,
    pub(crate) will_raise_at: Option<UnixSecs>,
    pub(crate) will_clear_at: Option<UnixSecs>,
    pub(crate) acknowledged_at: Option<UnixSecs>,
    pub(crate) acknowledged_by: Option<String>,
    pub(crate) will_unacknowledge_at: Option<UnixSecs>,
    pub(crate) suppress_until: Option<UnixSecs>,
    pub(crate) updated_at: UnixSecs,
    pub(crate) last_event: Option<&'static str>,
    /// Why `detail` is empty although the alert may have one: the store
    /// could not be read (a failing disk). Absent normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail_error: Option<String>,
}

impl AlertView {
    pub(crate) fn new(key: &AlertKey, r: &Record) -> Self {
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
