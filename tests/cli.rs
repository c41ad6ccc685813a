//! The command line as an operator meets it in the first hour: one run of
//! `check-config` says everything that is wrong, and the commands that read
//! a configuration read the one `serve` would.

use std::process::{Command, Output};

fn mauved(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mauved"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn check_config_reports_every_problem_in_one_run_with_its_line_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[store]
flush_interval_ms = "100"
flush_intervall = 3

[server]
forget_cleared_after = "3 fortnights"

[[alert_group]]
level = "urgent"
[[alert_group.notify]]
who = ["ops"]
during = "office"
"#,
    )
    .unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let expected = [
        // Type errors, each with its line, in the file's order.
        "line 2: store.flush_interval_ms: invalid type: string \"100\", expected u64",
        "line 3: store.flush_intervall: unknown key; did you mean `flush_interval_ms`?",
        "line 6: server.forget_cleared_after: \"3 fortnights\" is not a duration",
        // And the checks of what could be read.
        "alert_group[0].name: every [[alert_group]] needs a name",
        "alert_group[0].notify[0].who: \"ops\" is neither",
        "alert_group[0].notify[0].during: \"office\" is not a window; the windows are: \"always\", \"daytime\"",
    ];
    assert_eq!(lines.len(), expected.len(), "{err}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "{line:?} should say {want:?}\n{err}");
        assert!(line.starts_with(&*bad.to_string_lossy()), "{line}");
    }

    // A syntax error stops the reading where it is: one message.
    std::fs::write(&bad, "[store\nflush_interval_ms = \"x\"\n").unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[test]
fn an_unknown_notifier_kind_or_a_wrongly_typed_key_hides_no_other_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[store]
flush_interval_ms = "x"

[[notifier]]
name = "a"
kind = "pager"

[[notifier]]
name = "b"
kind = "command"
command = "/bin/true"

[server]
forget_cleared_after = "3 fortnights"
initial_sleep_s = -1

[http]
max_body_bytes = 1
typo = 3
"#,
    )
    .unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = [
        "line 2: store.flush_interval_ms: invalid type",
        "line 6: notifier[0].kind: unknown variant `pager`",
        "line 11: notifier[1].command: invalid type: string \"/bin/true\", expected a sequence",
        "line 14: server.forget_cleared_after:",
        "line 15: server.initial_sleep_s: invalid value",
        "line 19: http.typo: unknown field `typo`",
        "http.max_body_bytes: must be at least 1024",
    ];
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{err}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "{line:?} should say {want:?}\n{err}");
    }
    // A key of another kind is named, with its line.
    std::fs::write(
        &bad,
        "[[notifier]]\nname = \"a\"\nkind = \"log\"\nurl = \"http://x\"\n",
    )
    .unwrap();
    let out = mauved(&["check-config", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4: notifier[0].url: unknown field `url`: a notifier of kind \"log\""),
        "{err}"
    );
}

#[test]
fn route_and_oncall_read_the_built_in_configuration_without_config() {
    let out = mauved(&["route", "--source", "web1", "--id", "disk"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The built-in configuration routes nothing to people.
    assert!(text.contains("every notifier is told (log)"), "{text}");
    let out = mauved(&["oncall"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no [rotation.*] is configured"), "{text}");
}

/// The ```sh blocks of `file` between the first line holding `start` and
/// the next holding `end`, as written.
fn sh_blocks(file: &str, start: &str, end: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {file}"));
    let to = from
        + text[from..]
            .find(end)
            .unwrap_or_else(|| panic!("{end:?} in {file}"));
    text[from..to]
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_owned())
        .collect()
}

/// The action examples of the API reference (between the actions table
/// and the paragraph about paths).
fn readme_action_blocks() -> Vec<String> {
    sh_blocks(
        "docs/api.md",
        "Actions (JSON body",
        "A path that names no resource",
    )
}

/// Runs a documented block with bash, each `curl` failing on an error status.
fn run_block(dir: &std::path::Path, block: &str, after: &str) -> String {
    let script = format!(
        "set -e\ncurl() {{ case \" $* \" in *\" -sf \"*) command curl --max-time 20 \"$@\";; \
         *) command curl --fail-with-body --max-time 20 \"$@\";; esac; }}\n{}\n{after}\n",
        block.replace("target/release/mauved", env!("CARGO_BIN_EXE_mauved"))
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script}\n---\n{said}");
    said
}

/// Two free loopback ports (HTTP, UDP) in place of the built-in 1288 and
/// 32741: a station already running on this host on the default ports is
/// never touched by the tests.
struct Ports {
    http: u16,
    udp: u16,
}

impl Ports {
    fn free() -> Ports {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        Ports {
            http: tcp.local_addr().unwrap().port(),
            udp: udp.local_addr().unwrap().port(),
        }
    }

    /// `text` with the default addresses replaced by these ports.
    fn instead_of_defaults(&self, text: &str) -> String {
        text.replace("127.0.0.1:1288", &format!("127.0.0.1:{}", self.http))
            .replace("127.0.0.1:32741", &format!("127.0.0.1:{}", self.udp))
    }

    /// A `[listen]` table for these ports.
    fn listen(&self) -> String {
        format!(
            "[listen]\nudp = \"127.0.0.1:{}\"\nhttp = \"127.0.0.1:{}\"\n",
            self.udp, self.http
        )
    }

    fn get(&self, path: &str) -> serde_json::Value {
        let body = reqwest::blocking::get(format!("http://127.0.0.1:{}{path}", self.http))
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

/// `mauved serve` with the built-in configuration (data in
/// `./mauved-data`), as `cargo run --release -- serve` runs it, but on
/// `ports`.
struct BuiltIn(std::process::Child);

impl BuiltIn {
    fn serve(dir: &std::path::Path, ports: &Ports) -> BuiltIn {
        let config = dir.join("built-in.toml");
        std::fs::write(
            &config,
            ports.instead_of_defaults(mauved::config::DEFAULT_TOML),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mauved"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while !reqwest::blocking::get(format!("http://127.0.0.1:{}/health", ports.http))
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "mauved serve answering"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        BuiltIn(child)
    }

    /// SIGTERM, and waits until it is gone.
    fn stop(mut self) {
        Command::new("kill")
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        self.0.wait().unwrap();
    }
}

#[test]
fn the_readme_tour_works_as_written_on_the_built_in_configuration() {
    let blocks = sh_blocks("README.md", "## A five-minute tour", "## Sending alerts");
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let serve = BuiltIn::serve(dir.path(), &ports);
    let said = run_block(dir.path(), &ports.instead_of_defaults(&blocks[0]), "");
    let alert = ports.get("/api/alerts/web1/disk");
    serve.stop();
    assert_eq!(alert["state"], "acknowledged", "{alert}");
    assert_eq!(alert["acknowledged_by"], "alice", "{alert}");
    assert!(said.contains(r#""acknowledged":1"#), "{said}");
}

#[test]
fn the_readme_action_examples_work_as_written_on_the_built_in_configuration() {
    let blocks = readme_action_blocks();
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    // The built-in configuration says where it listens.
    assert!(mauved::config::DEFAULT_TOML.contains("127.0.0.1:1288"));
    assert!(mauved::config::DEFAULT_TOML.contains("127.0.0.1:32741"));
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    // `cargo run --release -- serve`: the built-in configuration, data in
    // ./mauved-data (on ports of the test's own).
    let serve = BuiltIn::serve(dir.path(), &ports);
    run_block(dir.path(), &ports.instead_of_defaults(&blocks[0]), "");
    let alert = ports.get("/api/alerts/web1/disk");
    assert_eq!(alert["state"], "cleared", "{alert}");
    let history = ports.get("/api/alerts/web1/disk/history");
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "disk swapped" && l["by"] == "alice"),
        "{history}"
    );
    serve.stop();

    // The token block writes its own configuration (no [listen]: the
    // defaults), and starts its own daemon in the background: the test's
    // ports are added to that file, and the daemon stopped once the block
    // is done.
    let token_block = ports.instead_of_defaults(&blocks[1]).replacen(
        "> mauved.toml\n",
        &format!(
            "> mauved.toml\nprintf '%s' '{}' >> mauved.toml\n",
            ports.listen()
        ),
        1,
    );
    assert_ne!(
        token_block,
        ports.instead_of_defaults(&blocks[1]),
        "{token_block}"
    );
    run_block(dir.path(), &token_block, "kill $!\nwait $! || true");
    // Stopped: its data says who acknowledged.
    let check = BuiltIn::serve(dir.path(), &ports);
    let alert = ports.get("/api/alerts/web1/disk");
    check.stop();
    assert_eq!(alert["state"], "acknowledged", "{alert}");
    assert_eq!(alert["acknowledged_by"], "ci-bot", "{alert}");
}

#[test]
fn release_binaries_carry_no_debug_info_and_a_profiling_profile_keeps_line_tables() {
    let manifest: toml::Table =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let profiles = &manifest["profile"];
    let release = &profiles["release"];
    assert!(
        matches!(
            release.get("debug"),
            Some(toml::Value::Boolean(false)) | Some(toml::Value::Integer(0))
        ),
        "{release:?}"
    );
    assert_eq!(
        release.get("strip").and_then(|s| s.as_str()),
        Some("debuginfo")
    );
    let profiling = &profiles["profiling"];
    assert_eq!(profiling["inherits"].as_str(), Some("release"));
    assert!(profiling.get("debug").is_some(), "{profiling:?}");
}

#[test]
fn the_manual_has_a_page_for_every_command_made_from_its_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = mauved(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&mauved(&["--help"]).stdout).into_owned();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.contains(&"check-config"), "{help}");
    for name in
        std::iter::once("mauved".to_owned()).chain(commands.iter().map(|c| format!("mauved-{c}")))
    {
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1")))
            .unwrap_or_else(|err| panic!("{name}.1: {err}"));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{name}.1:\n{page}"
        );
    }
    let check = std::fs::read_to_string(dir.path().join("mauved-check-config.1")).unwrap();
    assert!(check.contains("only a TOML syntax error"), "{check}");
}
