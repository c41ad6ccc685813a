//! A datagram through the decoder and the state machine: no panic, and the
//! state machine's invariants hold for whatever it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mauved::alert::{self, TickTime};

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = mauved::wire::decode(data, NOW) else {
        return;
    };
    let update = decoded.update;
    for change in &update.alerts {
        let fresh = alert::apply(None, &update.source, change, NOW);
        let again = alert::apply(Some(&fresh.record), &update.source, change, NOW + 1);
        for record in [&fresh.record, &again.record] {
            // Raised means a raise time and no clear after it.
            if record.is_raised() {
                assert!(record.raised_at.is_some());
            }
            if let Some(due) = record.next_due() {
                let fired = alert::tick(record, &TickTime::at(due));
                assert!(fired.is_some(), "a due timer fires");
            }
        }
    }
});
