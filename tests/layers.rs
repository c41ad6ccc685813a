//! The modules of `src/` in layers, leaves first: a module uses only
//! modules of lower layers (read from its `crate::…` paths), so there is no
//! import cycle. `KNOWN` lists upward uses accepted for a while (none
//! today); a new one fails here, and so does a listed one that is gone.

use std::collections::BTreeSet;
use std::path::Path;

const LAYERS: &[&[&str]] = &[
    &["alert"],
    &["clock", "timespec", "timefmt", "throttle"],
    &["wire", "view", "config"],
    &["events", "send", "routing"],
    &["store", "metrics"],
    &["index"],
    &["scheduler", "notify"],
    &["ingest"],
    &["heartbeat", "http"],
    &["daemon"],
];

/// Upward uses that are known and being removed: (user, used).
const KNOWN: &[(&str, &str)] = &[];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module {module} is in no layer of tests/layers.rs"))
}

/// Every (module, module it uses) pair in `src/`, but for the binaries.
fn uses(src: &Path) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![src.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "bin" {
                    dirs.push(path);
                }
                continue;
            }
            let rel = path
                .strip_prefix(src)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !rel.ends_with(".rs") || rel == "lib.rs" || rel == "main.rs" {
                continue;
            }
            let module = rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split("crate::").skip(1) {
                let used: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !used.is_empty() && used != module {
                    found.insert((module.clone(), used));
                }
            }
        }
    }
    found
}

#[test]
fn a_module_uses_only_modules_of_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = uses(&src);
    assert!(all.len() > 20, "the modules' uses were read: {all:?}");
    let upward: BTreeSet<(&str, &str)> = all
        .iter()
        .filter(|(user, used)| layer(used) >= layer(user))
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let known: BTreeSet<(&str, &str)> = KNOWN.iter().copied().collect();
    let new: Vec<_> = upward.difference(&known).collect();
    assert!(
        new.is_empty(),
        "modules using a module of their own layer or above: {new:?}"
    );
    let gone: Vec<_> = known.difference(&upward).collect();
    assert!(
        gone.is_empty(),
        "no longer used upward, take them off KNOWN: {gone:?}"
    );
}

#[test]
fn every_module_of_lib_rs_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 10, "{lib}");
    for module in modules {
        layer(module);
    }
}
