//! The shipped systemd unit's system call filter as seccomp would apply it:
//! expanded by `systemd-analyze`, built with seccompiler, installed in a
//! child between fork and exec.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::str::FromStr;

use super::Daemon;

pub fn unit() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/mauved.service"
    ))
    .unwrap()
}

/// The values of `key=` in the unit, in order.
pub fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .collect()
}

/// The system calls of a `@group` (its nested groups followed), or the
/// name itself.
pub fn expand(item: &str, out: &mut BTreeSet<String>) {
    if !item.starts_with('@') {
        out.insert(item.to_owned());
        return;
    }
    let listed = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager", item])
        .output()
        .expect("systemd-analyze (Debian's systemd) runs");
    assert!(
        listed.status.success(),
        "systemd-analyze syscall-filter {item}"
    );
    for line in String::from_utf8_lossy(&listed.stdout).lines().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        expand(line, out);
    }
}

/// What the unit's `SystemCallFilter=` lines allow, read as systemd reads
/// them: the first line an allow list, then `~` lines take away and plain
/// lines add, in order.
pub fn allowed(unit: &str) -> BTreeSet<String> {
    let mut allowed = BTreeSet::new();
    for (i, line) in values(unit, "SystemCallFilter").iter().enumerate() {
        let (deny, items) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line.as_str()),
        };
        assert!(
            !(i == 0 && deny),
            "the unit's filter starts with an allow list"
        );
        let mut names = BTreeSet::new();
        for item in items.split_whitespace() {
            expand(item, &mut names);
        }
        if deny {
            allowed.retain(|n| !names.contains(n));
        } else {
            allowed.extend(names);
        }
    }
    // What systemd always lets through for its own sake.
    for name in ["execve", "exit", "exit_group", "getrlimit", "rt_sigreturn"] {
        allowed.insert(name.to_owned());
    }
    allowed
}

/// A seccomp program that allows `allowed` (names this machine does not
/// have are left out) and does `otherwise` for any other call.
pub fn program(
    allowed: &BTreeSet<String>,
    otherwise: seccompiler::SeccompAction,
) -> seccompiler::BpfProgram {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = allowed
        .iter()
        .filter_map(|name| syscalls::Sysno::from_str(name).ok())
        .map(|sysno| (i64::from(sysno.id()), Vec::new()))
        .collect();
    let filter = seccompiler::SeccompFilter::new(
        rules,
        otherwise,
        seccompiler::SeccompAction::Allow,
        std::env::consts::ARCH.try_into().unwrap(),
    )
    .unwrap();
    filter.try_into().unwrap()
}

/// Starts `mauved serve` under `program`, installed in the child between
/// fork and exec (the program is built before: nothing is allocated there).
pub fn start_under(
    binary: &std::path::Path,
    dir: &std::path::Path,
    config: &str,
    program: seccompiler::BpfProgram,
    prepare: impl FnOnce(&mut Command),
) -> Daemon {
    Daemon::start_program(binary, dir, config, move |command| {
        prepare(command);
        // SAFETY: the closure only makes two system calls (prctl and
        // seccomp, through apply_filter) on memory allocated before fork.
        unsafe {
            command.pre_exec(move || {
                seccompiler::apply_filter(&program)
                    .map_err(|err| std::io::Error::other(err.to_string()))
            });
        }
    })
}
