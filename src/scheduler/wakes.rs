//! Each notifier's wake-up, by name: what the writer rings once it has
//! queued a message (the queue is read by the notifiers' workers).

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Notify;

/// Each notifier's wake-up, by name: the scheduler's writer wakes them all
/// when it queued something, a fallback wakes the next notifier, the
/// cluster the one it handed a message to. Shared, so that a notifier
/// added by a reload is woken like the others.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    by_name: RwLock<BTreeMap<String, Arc<Notify>>>,
}

impl Wakes {
    /// Wakes the worker of `notifier`, if there is one.
    pub(crate) fn wake(&self, notifier: &str) {
        let by_name = self.by_name.read();
        if let Some(wake) = by_name.get(notifier) {
            wake.notify_one();
        }
    }

    /// Wakes every worker.
    pub(crate) fn wake_all(&self) {
        let by_name = self.by_name.read();
        for wake in by_name.values() {
            wake.notify_one();
        }
    }

    pub(crate) fn insert(&self, notifier: &str) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let mut by_name = self.by_name.write();
        by_name.insert(notifier.to_owned(), wake.clone());
        wake
    }

    pub(crate) fn remove(&self, notifier: &str) {
        let mut by_name = self.by_name.write();
        by_name.remove(notifier);
    }
}
