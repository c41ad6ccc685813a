//! The Rust `mauvesend`: what it puts on the wire, compared with the real
//! client's captures, and what a running mauved makes of it.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use mauved::wire::pb;
use prost::Message;

fn mauvesend(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mauvesend"));
    cmd.args(args).env_remove("MAUVESEND_DESTINATION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Runs mauvesend at a socket of our own and returns the one packet it sent.
fn capture(args: &[&str]) -> pb::AlertUpdate {
    capture_with(args, |port| (vec![format!("127.0.0.1:{port}")], vec![]))
}

/// Like [`capture`]; `setup` gets the socket's port and returns the extra
/// arguments (destinations) and environment for mauvesend.
fn capture_with(
    args: &[&str],
    setup: impl FnOnce(u16) -> (Vec<String>, Vec<(&'static str, String)>),
) -> pb::AlertUpdate {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (dests, env) = setup(socket.local_addr().unwrap().port());
    let mut full: Vec<&str> = dests.iter().map(String::as_str).collect();
    full.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = mauvesend(&full, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut buf = [0u8; 65_536];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    pb::AlertUpdate::decode(&buf[..n]).unwrap()
}

/// Makes two captures comparable: ids are random and times are relative to
/// the moment of sending, so a time near the send time becomes an offset.
fn normalise(mut u: pb::AlertUpdate) -> pb::AlertUpdate {
    let sent = u.transmission_time.take().unwrap() as i64;
    assert!(u.transmission_id != 0 && u.transmission_id < 1 << 63);
    u.transmission_id = 0;
    let relative = |t: &mut Option<u64>| {
        if let Some(v) = t.as_mut() {
            let offset = *v as i64 - sent;
            if *v != 0 && offset.abs() < 10 * 86_400 {
                *v = (offset + 1_000_000) as u64;
            }
        }
    };
    for a in &mut u.alert {
        relative(&mut a.raise_time);
        relative(&mut a.clear_time);
        relative(&mut a.suppress_until);
    }
    u
}

fn real(name: &str) -> pb::AlertUpdate {
    pb::AlertUpdate::decode(&*fixture(name)).unwrap()
}

#[test]
fn packets_match_the_real_client_field_by_field() {
    let ours = capture(&[
        "-o",
        "mysource",
        "-i",
        "alert1",
        "-s",
        "disk full",
        "-u",
        "host1.example",
        "-d",
        "<b>detail</b>",
        "-r",
        "now",
    ]);
    assert_eq!(normalise(ours), normalise(real("raise-now.bin")));

    let ours = capture(&[
        "-o",
        "src4",
        "-i",
        "a1",
        "-s",
        "one",
        "-r+5m",
        "-i",
        "a2",
        "-s",
        "two",
        "-c1800000000",
        "-e+1h",
    ]);
    assert_eq!(normalise(ours), normalise(real("two-alerts.bin")));

    let ours = capture(&["-o", "src3", "-p"]);
    assert_eq!(normalise(ours), normalise(real("replace-empty.bin")));
}

#[test]
fn defaults_source_and_raise_now() {
    let u = capture(&["-i", "x", "--importance", "9"]);
    assert_eq!(u.source, mauved::send::hostname());
    assert!(!u.replace);
    let sent = u.transmission_time.unwrap();
    assert!(sent.abs_diff(now()) < 60);
    assert_eq!(u.alert[0].raise_time, Some(sent));
    assert_eq!(u.alert[0].importance, Some(9));
}

#[test]
fn every_time_form_reaches_the_wire() {
    let u = capture(&[
        "-i",
        "a",
        "-r",
        "-10m",
        "-c",
        "+90",
        "-i",
        "b",
        "--raise=2h",
        "--clear=",
        "-e",
        "1d",
        "-i",
        "c",
        "-r",
        "1700000000",
    ]);
    let t = u.transmission_time.unwrap();
    assert_eq!(u.alert[0].raise_time, Some(t - 600));
    assert_eq!(u.alert[0].clear_time, Some(t + 90));
    assert_eq!(u.alert[1].raise_time, Some(t + 7200));
    assert_eq!(u.alert[1].clear_time, Some(t));
    assert_eq!(u.alert[1].suppress_until, Some(t + 86_400));
    assert_eq!(u.alert[2].raise_time, Some(1_700_000_000));
}

#[test]
fn mistakes_exit_non_zero_with_mauves_messages() {
    for (args, message) in [
        (
            &["127.0.0.1", "-s", "x"][..],
            "Must specify --id before message",
        ),
        (&["127.0.0.1"][..], "No alerts specified"),
        (
            &["127.0.0.1", "-i", "a", "-i", "a"][..],
            "Duplicate alert id",
        ),
        (
            &["127.0.0.1", "-i", "a", "-r", "soon"][..],
            "Unrecognised time format: \"soon\"",
        ),
        (
            &["127.0.0.1", "-i", "a", "-s"][..],
            "--summary needs a value",
        ),
        (&["-i", "a"][..], "No destinations specified"),
        (&["bad host", "-i", "a"][..], "Bad destination"),
        (
            &["nowhere.invalid:5", "-i", "a"][..],
            "Failed to send any packets",
        ),
        (
            &["nowhere.invalid:5", "-i", "a"][..],
            "no address found for nowhere.invalid:5\n",
        ),
    ] {
        let out = mauvesend(args, &[]);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn help_manual_version_and_verbose() {
    for (flag, text) in [
        ("-h", "Usage:"),
        ("--help", "-s, --summary TEXT     short text for pagers"),
        ("--manual", "TIME"),
        ("--manual", "-s, --summary TEXT     short text for pagers"),
        ("-V", "version"),
    ] {
        let out = mauvesend(&[flag], &[]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(text),
            "{flag}"
        );
    }
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dest = socket.local_addr().unwrap().to_string();
    let out = mauvesend(&[&dest, "-o", "me", "-i", "a", "-vv"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Sending ") && text.contains(" from me to "),
        "{text}"
    );
    assert!(
        text.contains("transmission_id"),
        "twice verbose prints the update: {text}"
    );
}

#[test]
fn destinations_from_the_environment_and_etc_hosts() {
    // "localhost" comes from /etc/hosts; a port means no SRV lookup.
    let u = capture_with(&["-i", "from-env"], |port| {
        (
            vec![],
            vec![("MAUVESEND_DESTINATION", format!("localhost:{port}"))],
        )
    });
    assert_eq!(u.alert[0].id, "from-env");
}

#[test]
fn a_running_mauved_applies_what_mauvesend_sends() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let dest = d.udp.to_string();
    let send = |args: &[&str]| {
        let mut full = vec![dest.as_str(), "-o", "web1"];
        full.extend_from_slice(args);
        let out = mauvesend(&full, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    send(&[
        "-i",
        "disk",
        "-s",
        "disk full",
        "-u",
        "db1",
        "--importance",
        "80",
    ]);
    send(&["-i", "heartbeat", "-c", "-r", "+10m"]);
    wait_for(Duration::from_secs(10), "both alerts", || {
        (d.json("/api/alerts?source=web1").as_array().unwrap().len() == 2).then_some(())
    });
    let disk = d.alert("web1", "disk").unwrap();
    assert_eq!(disk["state"], "raised");
    assert_eq!(disk["subject"], "db1");
    assert_eq!(disk["importance"], 80);
    assert_eq!(d.state("web1", "heartbeat").as_deref(), Some("pending"));
    send(&["-i", "disk", "-c"]);
    d.wait_state("web1", "disk", "cleared");
    send(&["-p"]);
    wait_for(Duration::from_secs(10), "replace applied", || {
        (d.metric("mauved_packets_received_total") == 4.0).then_some(())
    });
    assert_eq!(
        d.state("web1", "heartbeat").as_deref(),
        Some("pending"),
        "pending keeps its timer"
    );
}
