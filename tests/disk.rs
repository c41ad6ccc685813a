//! A full disk under the real binary: the data
//! directory is a small tmpfs of its own (mounting needs root, which CI is).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use mauved::wire::pb;

const WAIT: Duration = Duration::from_secs(30);

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None where this user cannot mount (not root).
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A 24 MiB tmpfs as `dir/data`; None (the test skipped) where this user
/// cannot mount, which must not be root.
fn data_on_tmpfs(dir: &Path) -> Option<Tmpfs> {
    let tmpfs = Tmpfs::mount(&dir.join("data"), "24m");
    if tmpfs.is_none() {
        assert!(!is_root(), "root could not mount a tmpfs");
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
    }
    tmpfs
}

/// `config` with `store.min_free_mib` set.
fn keeping_free(config: String, min_free_mib: u64) -> String {
    config.replacen(
        "[store]\n",
        &format!("[store]\nmin_free_mib = {min_free_mib}\n"),
        1,
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 16];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

fn health(d: &Daemon) -> (u16, String) {
    d.get("/health")
}

fn log_lines(d: &Daemon, needle: &str) -> usize {
    std::fs::read_to_string(d.dir.join("mauved.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(needle))
        .count()
}

/// Raises `ids` from source `s`, five a packet, with a detail big enough
/// to need disk.
fn raise(d: &Daemon, tid: u64, ids: &[String]) {
    for (n, chunk) in ids.chunks(5).enumerate() {
        let alerts = chunk
            .iter()
            .map(|id| pb::Alert {
                detail: Some("x".repeat(4000)),
                ..alert(id, Some(now()), None)
            })
            .collect();
        d.send(&packet(tid * 1000 + n as u64, "s", alerts, false));
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn a_full_disk_pauses_writing_and_it_resumes_by_itself_losing_nothing() {
    full_disk(4, "min_free_mib");
}

/// No free-space check: sled itself meets the full disk. Not in CI: in some
/// runs a flush inside sled then never returns (see `store::db`) and only a
/// restart helps; `bench/disk-errors` counts how often.
#[test]
#[ignore = "sled may hang when it meets a full disk itself; run by bench/disk-errors"]
fn a_write_error_reopens_the_store_by_itself_losing_nothing() {
    full_disk(0, "No space left on device");
}

/// Fills the data directory's disk twice under a running daemon that keeps
/// `min_free_mib` free; `/health` must give `reason`.
fn full_disk(min_free_mib: u64, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = data_on_tmpfs(dir.path()) else {
        return;
    };
    let notes = dir.path().join("notes.jsonl");
    let config = keeping_free(
        test_config(dir.path(), &recording_notifier(&notes)),
        min_free_mib,
    );
    let d = Daemon::start_config(dir.path(), &config);
    let before = ids("before", 10);
    raise(&d, 1, &before);
    wait_for(WAIT, "the first raises delivered", || {
        (events(&notes).len() == before.len()).then_some(())
    });
    assert_eq!(health(&d).0, 200);

    // Full: the daemon says so, once in the log, and goes on in memory.
    fill(&tmpfs.0.join("filler"));
    let during_full = ids("full", 50);
    raise(&d, 10, &during_full);
    let (_, body) = wait_for(WAIT, "/health 503", || {
        let (status, body) = health(&d);
        (status == 503).then_some((status, body))
    });
    assert!(body.contains(reason), "{body}");
    for id in &during_full {
        d.wait_state("s", id, "raised");
    }
    let (status, page) = d.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("changes are not being saved"), "{page}");
    // Keep changing things for a few write rounds (each refused and
    // counted): still one log line.
    for round in 0..5 {
        let refused = d.metric("mauved_store_errors_total");
        d.send(&packet(
            100 + round,
            "s",
            vec![alert("beat", None, Some(now()))],
            false,
        ));
        wait_for(WAIT, "a write round refused", || {
            (d.metric("mauved_store_errors_total") > refused).then_some(())
        });
    }
    assert_eq!(log_lines(&d, "the store does not write"), 1);
    assert!(d.metric("mauved_store_errors_total") >= 1.0);
    assert_eq!(d.metric("mauved_store_failing"), 1.0);

    // Space back: healthy again without a restart, the raises told.
    std::fs::remove_file(tmpfs.0.join("filler")).unwrap();
    wait_for(WAIT, "/health 200 after space returned", || {
        (health(&d).0 == 200).then_some(())
    });
    if min_free_mib == 0 {
        assert_eq!(log_lines(&d, "the store was opened anew"), 1);
    }
    wait_for(WAIT, "mauved_store_failing back to 0", || {
        (d.metric("mauved_store_failing") == 0.0).then_some(())
    });
    wait_for(WAIT, "the raises during the outage delivered", || {
        (events(&notes).len() == before.len() + during_full.len()).then_some(())
    });
    let (_, page) = d.get("/");
    assert!(!page.contains("changes are not being saved"));

    // Full again: recovers again.
    fill(&tmpfs.0.join("filler"));
    let during_second = ids("again", 20);
    raise(&d, 200, &during_second);
    wait_for(WAIT, "/health 503 again", || {
        (health(&d).0 == 503).then_some(())
    });
    for id in &during_second {
        d.wait_state("s", id, "raised");
    }
    std::fs::remove_file(tmpfs.0.join("filler")).unwrap();
    wait_for(WAIT, "/health 200 again", || {
        (health(&d).0 == 200).then_some(())
    });
    let told = before.len() + during_full.len() + during_second.len();
    wait_for(
        WAIT,
        "the raises during the second outage delivered",
        || (events(&notes).len() == told).then_some(()),
    );
    // Everything on disk and delivered, then a crash.
    d.quiesce("s", &before[0]);
    d.kill();
    let d = Daemon::start_config(dir.path(), &config);
    for id in before.iter().chain(&during_full).chain(&during_second) {
        let alert = d.alert("s", id).unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(alert["state"], "raised", "{id}");
        assert_eq!(alert["detail"].as_str().map(str::len), Some(4000), "{id}");
    }
    // Nothing queued after the restart, so nothing is sent again.
    assert_eq!(d.metric("mauved_notify_queue_depth"), 0.0);
    d.quiesce("s", &before[0]);
    let delivered = events(&notes);
    // Nothing lost, and only a batch in flight at a crash may repeat: here
    // none was.
    assert_eq!(delivered.len(), told, "{delivered:?}");
}

#[test]
fn a_delivery_finished_while_the_disk_is_full_is_not_sent_again_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = data_on_tmpfs(dir.path()) else {
        return;
    };
    let notes = dir.path().join("notes.jsonl");
    let go = dir.path().join("go");
    // Each delivery waits for the test's go-ahead.
    let notifier = format!(
        "[[notifier]]\nname = \"ops\"\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \
         \"while [ ! -e '{}' ]; do sleep 0.05; done; cat >> '{}'\"]\ntimeout_s = 60\n",
        go.display(),
        notes.display()
    );
    let config =
        test_config(dir.path(), &notifier).replacen("[store]\n", "[store]\nmin_free_mib = 4\n", 1);
    let d = Daemon::start_config(dir.path(), &config);
    let raised = ids("q", 5);
    raise(&d, 1, &raised);
    wait_for(WAIT, "five messages queued on disk", || {
        (d.metric("mauved_notify_queue_depth") == 5.0).then_some(())
    });
    fill(&tmpfs.0.join("filler"));
    wait_for(WAIT, "/health 503", || (health(&d).0 == 503).then_some(()));
    // The first delivery finishes, but the queue cannot record it.
    std::fs::write(&go, "").unwrap();
    wait_for(WAIT, "the first delivery", || {
        (events(&notes).len() == 1).then_some(())
    });
    // The worker tries to record it once a second, each try refused and
    // counted: after three, still one delivery.
    let refused = d.metric("mauved_store_errors_total");
    wait_for(WAIT, "three tries to record the delivery", || {
        (d.metric("mauved_store_errors_total") >= refused + 3.0).then_some(())
    });
    assert_eq!(events(&notes).len(), 1, "not sent again meanwhile");
    assert_eq!(
        log_lines(&d, "delivery waits until the store writes again"),
        1
    );
    // Space back: the rest, each once.
    std::fs::remove_file(tmpfs.0.join("filler")).unwrap();
    wait_for(WAIT, "all five delivered", || {
        (events(&notes).len() == 5).then_some(())
    });
    d.quiesce("s", &raised[0]);
    let mut told: Vec<String> = events(&notes).into_iter().map(|(_, id)| id).collect();
    told.sort();
    assert_eq!(told, raised, "each exactly once");
}
