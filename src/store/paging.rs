//! Paging state (`routing::pager`): opaque values by key, written with
//! the batch of the change that made them.

use super::{Result, Store, PAGING};

impl Store {
    /// Every paging value (`routing::pager`), by key.
    pub(crate) fn paging(&self) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>> + '_ {
        self.items([PAGING]).map(|item| {
            let (key, value) = item?;
            Ok((key[1..].to_vec(), value.to_vec()))
        })
    }
}

/// Paging values into `out`: None removes the key.
pub(super) fn write_into(paging: &[(Vec<u8>, Option<Vec<u8>>)], out: &mut sled::Batch) {
    for (key, value) in paging {
        let mut full = Vec::with_capacity(1 + key.len());
        full.push(PAGING);
        full.extend_from_slice(key);
        match value {
            Some(value) => out.insert(full, value.as_slice()),
            None => out.remove(full),
        }
    }
}
