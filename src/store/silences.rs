//! Silences (`alertmanager::silences`), one value each by id, as JSON;
//! written and flushed before the API answers, so a silence that was
//! confirmed survives `kill -9`.

use super::{Result, Store, SILENCE};
use crate::alertmanager::silences::Silence;

impl Store {
    /// Every kept silence (expired ones too: the API lists them).
    pub(crate) fn silences(&self) -> Result<Vec<Silence>> {
        let mut out = Vec::new();
        for item in self.items([SILENCE]) {
            let (_, value) = item?;
            // A value this version cannot read is skipped, not fatal.
            if let Ok(silence) = serde_json::from_slice(&value) {
                out.push(silence);
            }
        }
        Ok(out)
    }

    /// Deletes a silence (retention), flushed.
    pub(crate) fn delete_silence(&self, id: &str) -> Result<()> {
        let key = [&[SILENCE][..], id.as_bytes()].concat();
        self.db.write(|db| db.remove(key))?;
        self.flush()
    }

    /// Keeps a silence (new or changed) durably.
    pub(crate) fn put_silence(&self, silence: &Silence) -> Result<()> {
        let key = [&[SILENCE][..], silence.id.as_bytes()].concat();
        let value = serde_json::to_vec(silence).unwrap_or_default();
        self.db.write(|db| db.insert(key, value))?;
        self.flush()
    }
}
