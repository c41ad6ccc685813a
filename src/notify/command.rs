//! The command notifier (purppura's pluggable notifier): one run of an
//! external program per message, the JSON document on its stdin, key fields
//! in its environment, exit status 0 for delivered.
//!
//! A program that cannot be started because it does not exist or may not be
//! run will not start on the next try either: that gives up (and the message
//! goes to the dead letters) instead of blocking the queue forever. A
//! non-zero exit or a timeout is worth retrying.
//!
//! Each run is a process group of its own: a run that times out (or is cut
//! off at shutdown) is killed with everything it started, so a hung `curl`
//! in a script does not outlive it. A run that finishes leaves whatever it
//! put in the background alone.

use std::io::ErrorKind;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::{Attempt, Message, Notifier, Outcome};

pub(crate) struct CommandNotifier {
    pub(crate) argv: Vec<String>,
    pub(crate) timeout: Duration,
}

impl CommandNotifier {
    async fn run(&self, m: &Message) -> Outcome {
        let Some((program, args)) = self.argv.split_first() else {
            return Outcome::GiveUp("empty command".into());
        };
        // The environment cannot carry NUL; `wire` strips it, records from
        // elsewhere must not wedge the queue on it either.
        let env = |value: &str| value.replace('\0', "");
        let first = m.first();
        let field =
            |f: fn(&super::payload::MessageEvent) -> &str| env(first.map(f).unwrap_or_default());
        let spawned = tokio::process::Command::new(program)
            .args(args)
            .env("MAUVE_EVENT", first.map_or("summary", |e| e.event.as_str()))
            .env("MAUVE_SOURCE", field(|e| &e.key.source))
            .env("MAUVE_ID", field(|e| &e.key.id))
            .env("MAUVE_SUBJECT", field(|e| &e.alert.subject))
            .env("MAUVE_SUMMARY", field(|e| &e.alert.summary))
            .env("MAUVE_TO", env(m.to.as_deref().unwrap_or_default()))
            .env("MAUVE_PERSON", env(m.person.as_deref().unwrap_or_default()))
            .env("MAUVE_LEVEL", m.level.map_or("", |l| l.as_str()))
            .env("MAUVE_COUNT", m.events.len().to_string())
            .env(
                "MAUVE_ACTION_LINK",
                m.action_link.as_deref().unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::NotFound | ErrorKind::PermissionDenied
                ) =>
            {
                return Outcome::GiveUp(format!("cannot start {program}: {err}"))
            }
            Err(err) => return Outcome::Retry(format!("cannot start {program}: {err}")),
        };
        let mut group = Group(child.id());
        if let Some(mut stdin) = child.stdin.take() {
            let mut body = m.document().to_string();
            body.push('\n');
            // A command that does not read its input is its own business.
            let _ = stdin.write_all(body.as_bytes()).await;
        }
        let waited = child.wait().await;
        group.0 = None;
        match waited {
            Ok(status) if status.success() => Outcome::Delivered,
            Ok(status) => Outcome::Retry(format!("exited with {status}")),
            Err(err) => Outcome::Retry(err.to_string()),
        }
    }
}

/// A run's process group, killed when dropped before the run finished.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.and_then(|id| libc::pid_t::try_from(id).ok()) {
            // SAFETY: kill(2) with a negative pid signals that process
            // group; it has no memory effects.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Notifier for CommandNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(async move {
            // Dropping the future on timeout drops the child, which kills it.
            match tokio::time::timeout(self.timeout, self.run(m)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry(format!("timed out after {:?}", self.timeout)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::payload::tests::message;

    fn command(script: &str, timeout: Duration) -> CommandNotifier {
        CommandNotifier {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            timeout,
        }
    }

    #[tokio::test]
    async fn a_command_gets_the_json_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {0}; echo \"$MAUVE_EVENT $MAUVE_SOURCE $MAUVE_ID $MAUVE_SUMMARY/$MAUVE_TO $MAUVE_PERSON $MAUVE_LEVEL $MAUVE_COUNT\" >> {0}",
            out.display()
        );
        let outcome = command(&script, Duration::from_secs(10))
            .deliver(&message())
            .await;
        assert_eq!(outcome, Outcome::Delivered);
        let written = std::fs::read_to_string(out).unwrap();
        let mut lines = written.lines();
        let doc: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(doc["events"][0]["event"], "raised");
        assert_eq!(doc["person"], "alice");
        assert_eq!(
            lines.next(),
            Some("raised web1.example.com disk disk full/+447700900001 alice urgent 1")
        );
    }

    #[tokio::test]
    async fn nul_in_a_field_does_not_wedge_the_command() {
        let mut m = message();
        m.events[0].alert.summary = "bad\0summary".into();
        let outcome = command(
            "test \"$MAUVE_SUMMARY\" = badsummary",
            Duration::from_secs(10),
        )
        .deliver(&m)
        .await;
        assert_eq!(outcome, Outcome::Delivered);
    }

    #[tokio::test]
    async fn failures_and_hangs_are_retried_a_missing_program_is_given_up() {
        let failed = command("exit 3", Duration::from_secs(10))
            .deliver(&message())
            .await;
        assert!(matches!(failed, Outcome::Retry(ref why) if why.contains('3')));
        let hung = command("exec sleep 30", Duration::from_millis(200))
            .deliver(&message())
            .await;
        assert!(matches!(hung, Outcome::Retry(ref why) if why.contains("timed out")));
        // What a hung run started dies with it.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let hung = command(&script, Duration::from_millis(300))
            .deliver(&message())
            .await;
        assert!(matches!(hung, Outcome::Retry(ref why) if why.contains("timed out")));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let alive = || std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while alive() && !is_zombie(pid.trim()) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !alive() || is_zombie(pid.trim()),
            "the background sleep was killed"
        );
        let missing = CommandNotifier {
            argv: vec!["/nonexistent/page-me".into()],
            timeout: Duration::from_secs(1),
        }
        .deliver(&message())
        .await;
        assert!(matches!(missing, Outcome::GiveUp(ref why) if why.contains("cannot start")));
    }

    /// A killed process whose parent has not reaped it yet.
    fn is_zombie(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    }
}
