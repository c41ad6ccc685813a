//! Paging state (`routing::pager`): an alert's by its key, a person's by
//! name, written with the batch of the change that made it.

use prost::Message;

use super::{Result, Store, PAGING};
use crate::alert::AlertKey;
use crate::routing::pager::{AlertPage, PagingState, PersonPage};

const ALERT: u8 = b'a';
const PERSON: u8 = b'p';

impl Store {
    /// Every paging state kept. One that does not decode is an
    /// [`super::StoreError::Corrupt`] item, and the others still come.
    pub(crate) fn paging(&self) -> impl Iterator<Item = Result<PagingState>> + '_ {
        self.items([PAGING]).filter_map(|item| {
            let (key, value) = match item {
                Ok(pair) => pair,
                Err(err) => return Some(Err(err)),
            };
            let state = match key.get(1..)?.split_first()? {
                (&ALERT, rest) => AlertPage::decode(&*value)
                    .map(|page| PagingState::Alert(AlertKey::from_bytes(rest), Some(page))),
                (&PERSON, rest) => PersonPage::decode(&*value).map(|page| {
                    PagingState::Person(String::from_utf8_lossy(rest).into_owned(), Some(page))
                }),
                _ => return None,
            };
            Some(state.map_err(Into::into))
        })
    }
}

/// Paging changes into `out`: None removes the key.
pub(super) fn write_into(paging: &[PagingState], out: &mut sled::Batch) {
    for state in paging {
        let mut key = vec![PAGING];
        let value = match state {
            PagingState::Alert(alert, page) => {
                key.push(ALERT);
                alert.encode_into(&mut key);
                page.as_ref().map(Message::encode_to_vec)
            }
            PagingState::Person(name, page) => {
                key.push(PERSON);
                key.extend_from_slice(name.as_bytes());
                page.as_ref().map(Message::encode_to_vec)
            }
        };
        match value {
            Some(value) => out.insert(key, value),
            None => out.remove(key),
        }
    }
}
