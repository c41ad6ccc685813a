//! One owner per kind of state: each of the store's writes is called only
//! from the module that owns what it writes (read from `src/`, as
//! `tests/layers.rs` reads imports). A new caller fails here; so does an
//! owner listed that no longer calls it.

mod source;

use std::collections::BTreeSet;

/// Each write of the store (as called: `.name(`) and the files that may
/// call it.
const OWNERS: &[(&str, &[&str])] = &[
    // Alerts, details, history of changes, paging state and new messages:
    // one atomic batch, by the scheduler's writer.
    ("write(&", &["src/scheduler/writer.rs"]),
    // The queue's messages settled, and the history lines of deliveries:
    // the delivery workers, the queue's only readers.
    ("delivered_all(", &["src/notify/worker.rs"]),
    ("give_up(", &["src/notify/worker.rs"]),
    ("add_history(", &["src/notify/worker.rs"]),
    // History past `history_days`: the daemon's pruning task.
    ("prune_history(", &["src/daemon.rs"]),
    // Login sessions: who may act.
    ("keep_sessions(", &["src/http/auth.rs"]),
    // How far a station applied the shared actions: the cluster.
    ("keep_applied_actions(", &["src/cluster/actions.rs"]),
    // Silences, and which ones' starts were muted: their room.
    ("put_silence(", &["src/silences/mod.rs"]),
    ("delete_silence(", &["src/silences/mod.rs"]),
    ("mark_silence_start_muted(", &["src/silences/mod.rs"]),
    // The action links' secret: the daemon makes it (first start), the
    // API rotates it, the cluster takes the shared one.
    ("link_secret(", &["src/daemon.rs"]),
    (
        "keep_link_secret(",
        &["src/http/link.rs", "src/cluster/links.rs"],
    ),
    // `/health`'s proof that the disk takes writes (its own key).
    ("probe(", &["src/http/api.rs"]),
];

/// (call, file) for every call of a store write outside `src/store/`, but
/// in comments, in test modules' own files and in the load tool (which
/// fills a scratch store of its own to time it: `mauved-load history`).
fn calls() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (rel, text) in source::files() {
        if rel.starts_with("src/store/")
            || rel.starts_with("src/bin/mauved-load/")
            || rel.ends_with("/tests.rs")
        {
            continue;
        }
        // A file's own unit tests (after `mod tests {`) may set things up.
        let code = text.split("\nmod tests {").next().unwrap_or("");
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (call, _) in OWNERS {
                let dotted = format!(".{call}");
                if line.contains(&dotted) && !line.contains(&format!("fn {call}")) {
                    found.insert((call.to_string(), rel.clone()));
                }
            }
        }
    }
    found
}

#[test]
fn each_store_write_is_called_only_by_its_owner() {
    let found = calls();
    let strangers: Vec<_> = found
        .iter()
        .filter(|(call, file)| {
            let owners = OWNERS.iter().find(|(c, _)| c == call).unwrap().1;
            !owners.contains(&file.as_str())
        })
        .collect();
    assert!(
        strangers.is_empty(),
        "store writes called outside their owner: {strangers:?}"
    );
    let idle: Vec<_> = OWNERS
        .iter()
        .flat_map(|(call, files)| files.iter().map(move |f| (*call, *f)))
        .filter(|(call, file)| !found.contains(&(call.to_string(), file.to_string())))
        .collect();
    assert!(
        idle.is_empty(),
        "owners listed that no longer call it (take them off): {idle:?}"
    );
}

/// Keys and layouts belong to the store: the stages around it speak in
/// alert keys. Delivery needs no index to write a history line, and no
/// module but the store builds a key from an alert's bucket or by hand.
#[test]
fn stages_speak_in_alert_keys_not_store_layouts() {
    let mut leaks = Vec::new();
    for (rel, text) in source::files() {
        if rel.starts_with("src/store/") || rel.ends_with("/tests.rs") {
            continue;
        }
        let code = text.split("\nmod tests {").next().unwrap_or("");
        if rel.starts_with("src/notify/") && code.contains("crate::index") {
            leaks.push(format!("{rel}: delivery reads the index"));
        }
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            // A store key or value encoded outside the store: the paging
            // state's own prefixes, a bucket id in a history key.
            if line.contains("b\"a\".as_slice()") || line.contains("b\"p\".as_slice()") {
                leaks.push(format!("{rel}:{}: a store key built by hand", n + 1));
            }
            if line.contains(".history(bucket") || line.contains("(bucket, key, entry)") {
                leaks.push(format!("{rel}:{}: history keyed by a bucket", n + 1));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "store layout outside the store: {leaks:#?}"
    );
}
