//! `mauved import-mauve`'s reader: any bytes are a translation that passes
//! the configuration checks, or a fault on a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mauved::import;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = import::read_text(data) else {
        return;
    };
    let options = import::Options {
        timezone: "UTC".into(),
        origin: "fuzz".into(),
    };
    match import::import(text, &options) {
        Ok(imported) => {
            if let Err(err) = mauved::routing::parse(&imported.toml, "fuzz") {
                panic!("the translation fails its checks: {err}\n{}", imported.toml);
            }
        }
        Err(fault) => assert!(fault.line >= 1 && fault.line as usize <= text.lines().count() + 1),
    }
});
