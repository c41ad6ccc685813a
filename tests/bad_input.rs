//! What the fuzz targets (`fuzz/`) check, as property tests that run in CI:
//! JSON bodies, the configuration loader and the time grammars answer any
//! input with a value or an error, never a panic. (The packet decoder and
//! the state machine have theirs in `src/wire/tests.rs` and
//! `src/alert/tests.rs`.)

use mauved::http::actions::{self, Body};
use mauved::routing::Router;
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;

fn body_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // JSON objects with the fields actions read, of any type.
        (
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<i64>()),
            proptest::option::of("[0-9a-z ]{0,6}"),
            proptest::option::of(any::<i64>()),
            proptest::option::of(any::<String>()),
        )
            .prop_map(|(by, until, r#for, hours, text)| {
                serde_json::json!({
                    "by": by, "until": until, "for": r#for,
                    "for_working_hours": hours, "text": text,
                    "alerts": [{"source": "s", "id": "i"}],
                })
                .to_string()
            }),
    ]
}

proptest! {
    #[test]
    fn action_bodies_never_panic(text in body_text()) {
        let _ = mauved::events::parse(text.as_bytes(), "192.0.2.1", NOW);
        if let Ok(body) = Body::parse(text.as_bytes()) {
            let router = Router::default();
            for name in actions::ACTIONS {
                let _ = actions::action(name, &body, NOW, &router);
            }
            let _ = actions::author(&body, None);
            let _ = actions::targets(&body);
        }
    }

    #[test]
    fn any_configuration_text_loads_or_is_refused(
        text in prop_oneof![
            any::<String>(),
            "(\\[[a-z_.]{1,12}\\]\n)?([a-z_]{1,14} = (\"[a-z0-9:./ -]{0,12}\"|[0-9]{1,6}|true|\\[\\])\n){0,4}",
        ]
    ) {
        if let Ok((_, router)) = mauved::routing::parse(&text, "prop") {
            let _ = router.oncall(NOW);
        }
    }

    #[test]
    fn time_grammars_never_panic(text in prop_oneof![any::<String>(), "[-+]?[0-9]{0,22}[smhdwSMH]?", "[0-9hms]{0,12}"]) {
        for now in [0, NOW, u64::MAX / 2] {
            let _ = mauved::timespec::mauvesend(&text, now);
            let _ = mauved::timespec::purppura(&text, now);
        }
        let _ = mauved::config::Secs::parse(&text);
        let _ = mauved::config::local_time(&text);
    }
}
