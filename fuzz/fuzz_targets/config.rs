//! The TOML configuration loader: any text is a configuration or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // A configuration that loads compiles its router without panic.
        if let Ok((_, router)) = mauved::routing::parse(text, "fuzz") {
            let _ = router.oncall(1_700_000_000);
        }
    }
});
