//! JSON bodies from the network: `POST /events` and every action's body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mauved::http::actions::{self, Body};
use mauved::routing::Router;

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let _ = mauved::events::parse(data, "192.0.2.1", NOW);
    if let Ok(body) = Body::parse(data) {
        let router = Router::default();
        for name in actions::ACTIONS {
            let _ = actions::action(name, &body, NOW, &router);
        }
        let _ = actions::author(&body, None);
        let _ = actions::author(&body, Some("alice"));
        let _ = actions::targets(&body);
    }
});
