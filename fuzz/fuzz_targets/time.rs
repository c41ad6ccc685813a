//! The time grammars: mauvesend's, purppura's and durations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for now in [0, 1_700_000_000, u64::MAX / 2] {
            let _ = mauved::timespec::mauvesend(text, now);
            let _ = mauved::timespec::purppura(text, now);
        }
        let _ = mauved::config::Secs::parse(text);
        let _ = mauved::config::local_time(text);
    }
});
