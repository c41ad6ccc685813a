//! The TOML configuration loader: any text is a configuration or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = mauved::config::Config::parse(text, "fuzz") {
            // A configuration that loads builds its router without panic.
            let router = mauved::routing::Router::new(&config);
            let _ = router.oncall(1_700_000_000);
        }
    }
});
