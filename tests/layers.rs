//! The modules of `src/` in layers, leaves first, as `src/lib.rs` declares
//! them: a module uses only modules of lower layers (read from its
//! `crate::…` paths), so there is no import cycle. `KNOWN` lists upward
//! uses accepted for a while (none today); a new one fails here, and so
//! does a listed one that is gone.

use std::collections::BTreeSet;
use std::path::Path;

/// The layers as `src/lib.rs` declares them: each `// comment` line starts
/// a layer, each `pub mod` after it belongs to it.
fn layers() -> Vec<Vec<String>> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut layers: Vec<Vec<String>> = Vec::new();
    for line in lib.lines() {
        if line.starts_with("// ") {
            layers.push(Vec::new());
        } else if let Some(module) = line
            .strip_prefix("pub mod ")
            .and_then(|l| l.strip_suffix(';'))
        {
            layers
                .last_mut()
                .expect("a layer comment before the first module")
                .push(module.to_owned());
        }
    }
    layers
}

/// Upward uses that are known and being removed: (user, used).
const KNOWN: &[(&str, &str)] = &[];

fn layer(layers: &[Vec<String>], module: &str) -> usize {
    layers
        .iter()
        .position(|l| l.iter().any(|m| m == module))
        .unwrap_or_else(|| panic!("module {module} is in no layer of src/lib.rs"))
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
    let layers = layers();
    let upward: BTreeSet<(&str, &str)> = all
        .iter()
        .filter(|(user, used)| layer(&layers, used) >= layer(&layers, user))
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
fn lib_rs_lists_every_module_in_a_layer() {
    let layers = layers();
    assert!(layers.len() > 5, "{layers:?}");
    let listed: BTreeSet<String> = layers.into_iter().flatten().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let module = name.trim_end_matches(".rs");
        if ["lib", "main", "bin"].contains(&module) {
            continue;
        }
        assert!(
            listed.contains(module),
            "{module} is in no layer of src/lib.rs"
        );
    }
}
