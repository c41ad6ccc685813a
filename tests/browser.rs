//! The on-call page in a real browser: Debian's Chromium, driven through
//! ChromeDriver (WebDriver) by fantoccini. `.ci/run` installs both. The test
//! starts mauved, sends alerts, opens the page, sees a raised alert, logs in,
//! acknowledges it with a click, sees it move to acknowledged, opens its own
//! page, sees the history line, checks that a `<script>`/`onerror`
//! payload in `detail` neither ran nor survived, then acts from another
//! alert's own page (a note, an acknowledgement). Every step finds its
//! element again if the page's live refresh replaced it. Screenshots at 1280
//! and 400 px wide are kept in `target/screenshots/`.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Client as _;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use mauved::wire::pb;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PAYLOAD: &str = "<b>bold</b><script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";

/// ChromeDriver on a free loopback port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{CHROMEDRIVER} does not start ({err}): `.ci/run` installs chromium-driver")
            });
        wait_for(Duration::from_secs(20), "chromedriver listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    // Test builds link two TLS back ends; the WebDriver client needs one
    // chosen (it speaks plain HTTP to chromedriver anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session through chromedriver")
}

/// Does `op` on the element `css` finds, again if the page's live refresh
/// (every 15 s) replaced the element between finding and acting.
async fn on<T, F, Fut>(c: &Client, css: &str, op: F) -> T
where
    F: Fn(fantoccini::elements::Element) -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    let mut last = String::new();
    for _ in 0..20 {
        let found = c.wait().for_element(Locator::Css(css)).await.unwrap();
        match op(found).await {
            Ok(value) => return value,
            Err(err) if format!("{err:?}").contains("StaleElementReference") => {
                last = format!("{err}");
            }
            Err(err) => panic!("{css}: {err}"),
        }
    }
    panic!("{css} kept being replaced: {last}");
}

async fn click(c: &Client, css: &str) {
    on(c, css, |e| async move { e.click().await.map(|_| ()) }).await
}

async fn text_of(c: &Client, css: &str) -> String {
    on(c, css, |e| async move { e.text().await }).await
}

async fn type_into(c: &Client, css: &str, text: &str) {
    on(c, css, |e| async move { e.send_keys(text).await }).await
}

/// Waits until the element's text holds `want` (the page reloads after a
/// form is posted); returns the text.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(found) = c.find(Locator::Css(css)).await {
            last = found.text().await.unwrap_or_default();
            if last.contains(want) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {want:?}: {last}");
}

async fn screenshot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_logs_in_acknowledges_and_reads_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let hash = mauved::http::auth::hash_password("correct horse").unwrap();
    let d = Daemon::start(
        dir.path(),
        &format!("[[http.user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n"),
    );
    let t = now();
    let disk = pb::Alert {
        subject: Some("web1.example.com".into()),
        summary: Some(
            "disk / is 97% full and this summary is long enough to wrap on a phone screen".into(),
        ),
        detail: Some(PAYLOAD.into()),
        importance: Some(90),
        ..alert("disk", Some(t), None)
    };
    let long_id = "x".repeat(120);
    d.send(&packet(
        1,
        "web1",
        vec![disk, alert(&long_id, Some(t), None)],
        false,
    ));
    d.send(&packet(
        2,
        "web2",
        vec![alert("hb", Some(t + 300), Some(t))],
        false,
    ));
    wait_for(Duration::from_secs(10), "the alerts", || {
        (d.json("/api/counts")["raised"] == 2).then_some(())
    });

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let base = format!("http://{}", d.http);
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    let text = text_of(&c, "section.raised").await;
    assert!(
        text.contains("web1.example.com") && text.contains("disk / is 97% full"),
        "{text}"
    );
    let title = c.title().await.unwrap();
    assert!(
        title.contains("2 raised"),
        "the tab shows the count: {title}"
    );
    let due = text_of(&c, "section.pending").await;
    assert!(due.contains("web2"), "the heartbeat due soon: {due}");
    screenshot(&c, "page-1280.png").await;

    // Log in.
    click(&c, "a[href='/login']").await;
    type_into(&c, "input[name=name]", "alice").await;
    type_into(&c, "input[name=password]", "correct horse").await;
    click(&c, "form.login button").await;
    c.wait()
        .for_element(Locator::Css("header .who form"))
        .await
        .unwrap();

    // Select the alert and acknowledge it for an hour.
    click(&c, "input[name=alert][value='web1/disk']").await;
    click(&c, "#actions button[value=acknowledge]").await;
    let acked_text = text_of(&c, "section.acknowledged tr.alert").await;
    assert!(
        acked_text.contains("disk") && acked_text.contains("by alice"),
        "{acked_text}"
    );
    let still = text_of(&c, "section.raised").await;
    assert!(
        !still.contains("disk / is 97% full"),
        "moved out of raised: {still}"
    );

    // Its own page: the history line, the detail cleaned.
    click(&c, "a[href='/alerts/web1/disk']").await;
    let lines = text_of(&c, "table.history").await;
    assert!(
        lines.contains("ACKNOWLEDGED until") && lines.contains("by alice"),
        "{lines}"
    );
    assert_eq!(
        text_of(&c, ".detail b").await,
        "bold",
        "harmless markup is kept"
    );
    let source = c.source().await.unwrap();
    assert!(!source.contains("onerror"), "the handler did not survive");
    assert!(
        !source.contains("document.title='pwned'"),
        "the script did not survive"
    );
    assert_ne!(c.title().await.unwrap(), "pwned", "nothing ran");

    // The alert's own page acts on it: a note, then an acknowledgement,
    // both in its history.
    let long_page = format!("{base}/alerts/web1/{long_id}");
    c.goto(&long_page).await.unwrap();
    let named = c
        .execute(
            "return [...document.querySelectorAll('form[action=\"/actions\"]')]\
               .map(f => [...f.querySelectorAll('input[name=alert]')].map(i => i.value));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        named,
        serde_json::json!([[format!("web1/{long_id}")]]),
        "the page's one form names its alert"
    );
    type_into(&c, "input[name=text]", "looking at the long one").await;
    click(&c, "button[value=note]").await;
    wait_text(&c, "table.history", "looking at the long one").await;
    click(&c, "button[value=acknowledge]").await;
    let lines = wait_text(&c, "table.history", "ACKNOWLEDGED until").await;
    assert!(lines.contains("by alice"), "{lines}");
    let state = text_of(&c, "table.fields").await;
    assert!(state.contains("acknowledged"), "{state}");
    screenshot(&c, "alert-1280.png").await;

    // A phone: the page fits 400 px without scrolling sideways.
    c.set_window_size(400, 800).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "sideways scroll of {overflow} px at 400 px wide"
    );
    screenshot(&c, "page-400.png").await;

    // Live: a new alert shows up without a reload, told by the page's
    // stream of changes (before the 15 s fallback poll could have run:
    // the page was loaded just now), and what was selected stays selected;
    // the title and the icon count it.
    c.goto(&format!("{base}/")).await.unwrap();
    let loaded = std::time::Instant::now();
    let pick = format!("input[name=alert][value='web1/{long_id}']");
    click(&c, &pick).await;
    // The browser's notifications, as if allowed ("tell me of raises"):
    // each one the page shows is recorded.
    c.execute(
        "window.told = []; window.Notification = class { \
           static get permission() { return 'granted'; } \
           constructor(title, options) { window.told.push([title, options.body]); } };",
        vec![],
    )
    .await
    .unwrap();
    d.send(&packet(
        3,
        "web3",
        vec![alert("fresh", Some(now()), None)],
        false,
    ));
    let mut appeared = false;
    while loaded.elapsed() < Duration::from_secs(12) {
        let raised = text_of(&c, "section.raised").await;
        if raised.contains("web3") {
            appeared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(appeared, "the page showed the new alert from its stream");
    let told = c.execute("return window.told;", vec![]).await.unwrap();
    assert_eq!(
        told,
        serde_json::json!([["raised: web3", "fresh summary (web3 / fresh)"]]),
        "a browser notification for the raise"
    );
    let title = c.title().await.unwrap();
    assert!(title.contains("1 raised"), "{title}");
    let icon = on(
        &c,
        "link[rel=icon]",
        |e| async move { e.attr("href").await },
    )
    .await;
    assert_eq!(icon.as_deref(), Some("/favicon.svg?n=1"));
    let checked = on(&c, &pick, |e| async move { e.prop("checked").await }).await;
    assert!(checked.as_deref() == Some("true"), "the selection survived");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_needs_action_comes_first_and_a_refused_action_is_explained_in_place() {
    let dir = tempfile::tempdir().unwrap();
    // Open mode: no users, no tokens; each action names its author.
    let d = Daemon::start(dir.path(), "");
    let t = now();
    let raised = |id: &str, subject: &str, importance: u32, ago: u64| pb::Alert {
        subject: Some(subject.into()),
        importance: Some(importance),
        ..alert(id, Some(t - ago), None)
    };
    d.send(&packet(
        1,
        "web1.frontend.eu-west.example.com",
        vec![raised("disk", "a-web", 50, 600)],
        false,
    ));
    d.send(&packet(
        2,
        "web2",
        vec![raised("disk", "a-web", 50, 60)],
        false,
    ));
    d.send(&packet(
        3,
        "db1",
        vec![raised("replication", "z-replication", 90, 30)],
        false,
    ));
    d.send(&packet(
        4,
        "mail1",
        vec![raised("queue", "m-mail", 10, 9000)],
        false,
    ));
    wait_for(Duration::from_secs(10), "the alerts", || {
        (d.json("/api/counts")["raised"] == 4).then_some(())
    });

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let base = format!("http://{}", d.http);
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();

    // Ranked: the importance-90 replication alert first although its
    // subject sorts last, then the older of the two 50s; a visible mark.
    let order = c
        .execute(
            "return [...document.querySelectorAll('section.raised tr.alert input[name=alert]')].map(i => i.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        order,
        serde_json::json!([
            "db1/replication",
            "web1.frontend.eu-west.example.com/disk",
            "web2/disk",
            "mail1/queue"
        ])
    );
    assert_eq!(text_of(&c, "section.raised tr.alert .sev.high").await, "90");
    // The subject is said once: in its row, not as a heading too.
    let headings = c
        .find_all(Locator::Css("section.raised tr.group"))
        .await
        .unwrap();
    assert!(headings.is_empty(), "no subject headings");
    // A long host name breaks at its dots only.
    let breaks = c
        .execute(
            "return document.querySelectorAll('section.raised td.key wbr').length;",
            vec![],
        )
        .await
        .unwrap();
    assert!(breaks.as_u64().unwrap() >= 4, "{breaks}");

    // A note without a name: refused, said on the page, where the buttons
    // are; what was selected and typed is still there.
    let web1 = "input[name=alert][value='web1.frontend.eu-west.example.com/disk']";
    click(&c, web1).await;
    type_into(&c, "#actions input[name=text]", "half typed").await;
    click(&c, "#actions button[value=note]").await;
    let error = text_of(&c, "#action-bar #action-error").await;
    assert!(error.contains("by"), "{error}");
    let kept = on(&c, web1, |e| async move { e.prop("checked").await }).await;
    assert_eq!(kept.as_deref(), Some("true"), "the selection is kept");
    let typed = on(&c, "#actions input[name=text]", |e| async move {
        e.prop("value").await
    })
    .await;
    assert_eq!(typed.as_deref(), Some("half typed"));
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/",
        "the address is the page's again"
    );
    screenshot(&c, "page-error-1280.png").await;

    // With a name: done; the name is remembered for the next action.
    type_into(&c, "#actions input[name=by]", "carol").await;
    click(&c, "#actions button[value=acknowledge]").await;
    wait_text(&c, "section.acknowledged", "by carol").await;
    click(&c, "input[name=alert][value='web2/disk']").await;
    let remembered = on(&c, "#actions input[name=by]", |e| async move {
        e.prop("value").await
    })
    .await;
    assert_eq!(remembered.as_deref(), Some("carol"), "the name remembered");
    click(&c, "#actions button[value=acknowledge]").await;
    let acked = wait_text(&c, "section.acknowledged", "web2").await;
    assert_eq!(acked.matches("by carol").count(), 2, "{acked}");

    // Acknowledging and clearing are not side by side.
    let apart = c
        .execute(
            "const ack = document.querySelector('#actions button[value=acknowledge]'); \
             const clear = document.querySelector('#actions button[value=clear]'); \
             return ack.parentElement !== clear.parentElement \
               && ack.parentElement.nextElementSibling !== clear.parentElement;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(apart, serde_json::json!(true), "ack and clear apart");

    // "forget" asks first: declined, nothing is sent (a note taken next
    // is on the alert's history); confirmed, it goes.
    c.goto(&format!("{base}/alerts/mail1/queue")).await.unwrap();
    c.execute("window.confirm = () => false;", vec![])
        .await
        .unwrap();
    click(&c, "button[value=forget]").await;
    type_into(&c, "input[name=text]", "after declining").await;
    click(&c, "button[value=note]").await;
    wait_text(&c, "table.history", "after declining").await;
    assert!(d.alert("mail1", "queue").is_some(), "declined: still there");
    c.execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    click(&c, "button[value=forget]").await;
    wait_for(Duration::from_secs(10), "forgotten once confirmed", || {
        d.alert("mail1", "queue").is_none().then_some(())
    });

    // A phone: the buttons wait until something is selected.
    c.set_window_size(400, 800).await.unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    let shown = on(&c, "#action-bar", |e| async move { e.is_displayed().await }).await;
    assert!(!shown, "no buttons before a selection");
    click(&c, "input[name=alert][value='db1/replication']").await;
    let shown = on(&c, "#action-bar", |e| async move { e.is_displayed().await }).await;
    assert!(shown, "the buttons once an alert is selected");
    on(
        &c,
        "#actions input[name=by]",
        |e| async move { e.clear().await },
    )
    .await;
    click(&c, "#actions button[value=clear]").await;
    text_of(&c, "#action-bar #action-error").await;
    screenshot(&c, "page-error-400.png").await;
    c.close().await.unwrap();
}

/// The action link from a message, on a phone: the buttons show at 400 px
/// without scrolling, and one tap acknowledges as the message's person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_link_acknowledges_in_one_tap_on_a_phone() {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent.jsonl");
    let d = Daemon::start(
        dir.path(),
        &format!(
            "{}[oncall]\nbatch_window = \"0s\"\nbase_url = \"https://alerts.example.com\"\n\
             [person.alice]\nops = \"+447700900001\"\nnormal = [\"ops\"]\n\
             [[alert_group]]\nname = \"all\"\nnotify = [{{ who = [\"alice\"] }}]\n",
            recording_notifier(&sent)
        ),
    );
    let disk = pb::Alert {
        subject: Some("web1.example.com".into()),
        summary: Some("disk / is 97% full and this summary is long enough to wrap".into()),
        ..alert("disk", Some(now()), None)
    };
    d.send(&packet(1, "web1", vec![disk], false));
    let link = wait_for(Duration::from_secs(20), "the message", || {
        notifications(&sent)
            .first()
            .and_then(|n| n["action_link"].as_str().map(str::to_owned))
    });
    let path = link
        .strip_prefix("https://alerts.example.com")
        .unwrap_or_else(|| panic!("{link}"));

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.set_window_size(400, 800).await.unwrap();
    c.goto(&format!("http://{}{path}", d.http)).await.unwrap();
    let page = text_of(&c, "main").await;
    assert!(page.contains("disk") && page.contains("alice"), "{page}");
    // Every button is on the first screen, and nothing scrolls sideways.
    let fits = c
        .execute(
            "const last = [...document.querySelectorAll('button')].pop().getBoundingClientRect();\
             return [last.bottom <= window.innerHeight, \
                     document.documentElement.scrollWidth <= window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, serde_json::json!([true, true]), "at 400 x 800");
    screenshot(&c, "link-400.png").await;
    assert!(
        d.json("/api/alerts/web1/disk")["acknowledged_by"].is_null(),
        "opening the link acts on nothing"
    );

    click(&c, "button[value=ack1h]").await;
    wait_text(&c, "p.said", "acknowledged until").await;
    assert_eq!(d.json("/api/alerts/web1/disk")["acknowledged_by"], "alice");
    screenshot(&c, "link-400-done.png").await;
    c.close().await.unwrap();
}
