//! How many connections and streams one client may hold, so that no client
//! (a stream left open in 4,000 tabs, a slowloris loop, a buggy exporter)
//! locks the others out of `/health` and `/metrics`.
//!
//! Each kind of slot has a total and a share per client address; a slot is
//! held by a guard and given back when the guard drops, so a connection or
//! stream can never forget to give its slot back. A reload may change the
//! limits: slots already held above a lowered limit are kept until given
//! back, and no new one is given until the count is under it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Slots of one kind: at most `total` held, at most `per_address` by one
/// client address.
#[derive(Debug)]
pub(crate) struct Slots {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// The limits.
    most: usize,
    most_per_address: usize,
    /// What is held.
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why no slot was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// Every slot is held.
    Total,
    /// This address holds its share.
    Address,
}

/// One slot, held until dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slots {
    pub(crate) fn new(total: usize, per_address: usize) -> Arc<Slots> {
        Arc::new(Slots {
            held: Mutex::new(Held {
                most: total,
                most_per_address: per_address,
                ..Held::default()
            }),
        })
    }

    /// New limits (a reload), for the slots taken from now on.
    pub(crate) fn set(&self, total: usize, per_address: usize) {
        let mut held = self.held.lock();
        held.most = total;
        held.most_per_address = per_address;
    }

    /// A slot for `address`, if the total and its share allow one more.
    pub(crate) fn take(self: &Arc<Self>, address: IpAddr) -> Result<Slot, Full> {
        let address = address.to_canonical();
        let mut held = self.held.lock();
        if held.total >= held.most {
            return Err(Full::Total);
        }
        let most_per_address = held.most_per_address;
        let mine = held.by_address.entry(address).or_insert(0);
        if *mine >= most_per_address {
            return Err(Full::Address);
        }
        *mine += 1;
        held.total += 1;
        Ok(Slot {
            slots: self.clone(),
            address,
        })
    }

    /// Slots held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock();
        held.total -= 1;
        if let Some(mine) = held.by_address.get_mut(&self.address) {
            *mine -= 1;
            if *mine == 0 {
                held.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_client_gets_its_share_and_the_rest_are_left_for_others() {
        let slots = Slots::new(8, 3);
        let mine: Vec<Slot> = (0..3).map(|_| slots.take(ip(2)).unwrap()).collect();
        assert_eq!(slots.take(ip(2)).unwrap_err(), Full::Address);
        let others: Vec<Slot> = (0..3).map(|_| slots.take(ip(3)).unwrap()).collect();
        assert_eq!(slots.held(), 6);
        drop(mine);
        assert_eq!(slots.held(), 3);
        let more: Vec<Slot> = (0..3).map(|_| slots.take(ip(2)).unwrap()).collect();
        let last: Vec<Slot> = (0..2).map(|_| slots.take(ip(4)).unwrap()).collect();
        assert_eq!(slots.take(ip(5)).unwrap_err(), Full::Total);
        drop((others, more, last));
        assert_eq!(slots.held(), 0);
    }

    #[test]
    fn lowered_limits_keep_what_is_held_and_give_no_more_until_under_them() {
        let slots = Slots::new(8, 4);
        let mut mine: Vec<Slot> = (0..4).map(|_| slots.take(ip(2)).unwrap()).collect();
        slots.set(8, 2);
        assert_eq!(slots.take(ip(2)).unwrap_err(), Full::Address);
        assert_eq!(slots.held(), 4);
        mine.truncate(1);
        let _again = slots.take(ip(2)).unwrap();
        assert_eq!(slots.take(ip(2)).unwrap_err(), Full::Address);
        slots.set(2, 2);
        assert_eq!(slots.take(ip(3)).unwrap_err(), Full::Total);
    }

    #[test]
    fn an_ipv4_client_over_ipv6_is_one_address() {
        let slots = Slots::new(10, 1);
        let _held = slots.take(ip(1)).unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(slots.take(mapped).unwrap_err(), Full::Address);
    }
}
