//! The Debian package, as an operator meets it: `contrib/deb/build` makes
//! it from this build's binaries, `dpkg -i` installs it, the installed
//! `mauved` checks the installed configuration and serves as the `mauved`
//! user under the installed unit's system call filter, and `dpkg -r` leaves
//! the configuration and the data. Needs root (CI runs as root); skipped,
//! and said, elsewhere, and where a mauved package is installed already.

mod common;

use std::path::Path;
use std::process::Command;

use common::sandbox::{allowed, program, start_under};
use common::*;

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program).args(args).output().unwrap()
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    ok("id", &["-u"]).trim() == "0"
}

/// Removes what the test installed, whatever happened.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["--purge", "mauved"]);
        let _ = std::fs::remove_dir_all("/var/lib/mauved");
        let _ = run("deluser", &["--system", "--quiet", "mauved"]);
    }
}

#[test]
fn the_package_installs_checks_serves_as_its_user_and_leaves_data_on_remove() {
    if !is_root() {
        assert!(std::env::var("CI").is_err(), "CI runs as root");
        eprintln!("skipped: installing a package needs root");
        return;
    }
    if run("dpkg", &["-s", "mauved"]).status.success() {
        eprintln!("skipped: a mauved package is installed on this machine; not touching it");
        return;
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_mauved")).parent().unwrap();
    let out = tempfile::tempdir().unwrap();
    let build = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/deb/build"))
        .arg(bin)
        .arg(out.path())
        .env("MAUVED_DEB_COMPRESSION", "none")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let deb = String::from_utf8_lossy(&build.stdout).trim().to_owned();
    assert!(
        deb.ends_with("_amd64.deb") || deb.ends_with(".deb"),
        "{deb}"
    );

    let _installed = Installed;
    ok("dpkg", &["-i", &deb]);
    for file in [
        "/usr/bin/mauved",
        "/usr/bin/mauvesend",
        "/usr/bin/mauved-load",
        "/etc/mauved/mauved.toml",
        "/lib/systemd/system/mauved.service",
        "/usr/share/man/man1/mauved.1.gz",
        "/usr/share/man/man1/mauved-serve.1.gz",
        "/usr/share/man/man1/mauvesend.1.gz",
        "/usr/share/doc/mauved/examples/etcd.default",
        "/usr/share/doc/mauved/docs/high-availability.md",
    ] {
        assert!(Path::new(file).exists(), "{file} installed");
    }
    assert!(ok("dpkg-query", &["-W", "-f", "${Conffiles}", "mauved"])
        .contains("/etc/mauved/mauved.toml"));
    let unit = std::fs::read_to_string("/lib/systemd/system/mauved.service").unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/mauved serve --config /etc/mauved/mauved.toml"),
        "{unit}"
    );
    let user = ok("getent", &["passwd", "mauved"]);
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    let gid: u32 = user.split(':').nth(3).unwrap().parse().unwrap();
    ok(
        "/usr/bin/mauved",
        &["check-config", "/etc/mauved/mauved.toml"],
    );

    // The installed configuration, on ports of the test's own and the
    // package's data directory, served by the installed binary as the
    // `mauved` user under the installed unit's filter.
    let config = std::fs::read_to_string("/etc/mauved/mauved.toml")
        .unwrap()
        .replace("127.0.0.1:32741", "127.0.0.1:0")
        .replace("127.0.0.1:1288", "127.0.0.1:0")
        .replace(
            "path = \"mauved-data\"",
            "path = \"/var/lib/mauved/mauved-data\"",
        );
    let dir = tempfile::tempdir().unwrap();
    // Readable by the `mauved` user.
    ok("chmod", &["755", dir.path().to_str().unwrap()]);
    let filter = program(&allowed(&unit), seccompiler::SeccompAction::KillProcess);
    let d = start_under(
        Path::new("/usr/bin/mauved"),
        dir.path(),
        &config,
        filter,
        |command| {
            use std::os::unix::process::CommandExt;
            command.uid(uid).gid(gid);
        },
    );
    d.send(&packet(
        1,
        "web1",
        vec![alert("disk", Some(now()), None)],
        false,
    ));
    d.wait_state("web1", "disk", "raised");
    d.wait_written("web1", "disk");
    let status = d
        .stop_within(std::time::Duration::from_secs(15))
        .expect("stopped on SIGTERM");
    assert!(status.success(), "{status:?}");
    let owner = ok("stat", &["-c", "%U", "/var/lib/mauved/mauved-data"]);
    assert_eq!(owner.trim(), "mauved");

    // Removed: the configuration and the data stay.
    ok("dpkg", &["-r", "mauved"]);
    assert!(!Path::new("/usr/bin/mauved").exists());
    assert!(
        Path::new("/etc/mauved/mauved.toml").exists(),
        "a conffile stays on remove"
    );
    assert!(
        Path::new("/var/lib/mauved/mauved-data").exists(),
        "the data stays"
    );
}
