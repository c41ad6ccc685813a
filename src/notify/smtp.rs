//! The SMTP notifier: one e-mail per message, to the person's address on
//! this notifier. The subject is the short text; the body is plain text
//! with every event's fields and link, the detail as text (HTML tags
//! stripped, never sent as live HTML).
//!
//! A permanent SMTP error (5xx, a bad address) gives up; anything else is
//! retried.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{Attempt, Message, Notifier, Outcome};
use crate::timefmt::{ago, rfc3339};

pub(crate) struct SmtpNotifier {
    pub(crate) transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    pub(crate) from: String,
}

impl SmtpNotifier {
    pub(crate) fn new(
        server: &str,
        from: &str,
        starttls: bool,
        login: Option<(String, String)>,
        timeout: Duration,
    ) -> SmtpNotifier {
        let transport = (|| {
            let (host, port) = crate::config::split_host_port(server)
                .ok_or_else(|| format!("{server:?} is not host:port"))?;
            let mut builder = if starttls {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                    .map_err(|e| e.to_string())?
            } else {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            };
            builder = builder.port(port).timeout(Some(timeout));
            if let Some((user, password)) = login {
                builder = builder.credentials(Credentials::new(user, password));
            }
            Ok(builder.build())
        })();
        SmtpNotifier {
            transport,
            from: from.to_owned(),
        }
    }

    async fn send(&self, m: &Message) -> Outcome {
        let transport = match &self.transport {
            Ok(t) => t,
            Err(why) => return Outcome::GiveUp(why.clone()),
        };
        let to = m.to.as_deref().unwrap_or_default();
        let (Ok(from), Ok(to_box)) = (self.from.parse::<Mailbox>(), to.parse::<Mailbox>()) else {
            return Outcome::GiveUp(format!("bad address: from {:?} to {to:?}", self.from));
        };
        let email = lettre::Message::builder()
            .from(from)
            .to(to_box)
            .subject(m.text())
            .header(ContentType::TEXT_PLAIN)
            .body(body(m));
        let email = match email {
            Ok(email) => email,
            Err(err) => return Outcome::GiveUp(format!("cannot build the e-mail: {err}")),
        };
        match transport.send(email).await {
            Ok(_) => Outcome::Delivered,
            Err(err) if err.is_permanent() => Outcome::GiveUp(format!("to {to}: {err}")),
            Err(err) => Outcome::Retry(format!("to {to}: {err}")),
        }
    }
}

impl Notifier for SmtpNotifier {
    fn deliver<'a>(&'a self, m: &'a Message) -> Attempt<'a> {
        Box::pin(self.send(m))
    }
}

/// The plain-text body: every event with its fields and link.
pub(crate) fn body(m: &Message) -> String {
    let mut out = String::new();
    if m.held > 0 {
        let _ = writeln!(
            out,
            "{} messages were held by your rate limit. Still raised:\n",
            m.held
        );
    }
    if let Some(link) = &m.action_link {
        let _ = writeln!(
            out,
            "Acknowledge or add a note (no login needed):\n  {link}\n"
        );
    }
    for e in &m.events {
        let a = &e.alert;
        let _ = writeln!(
            out,
            "{} {}: {}",
            e.key.source,
            e.key.id,
            e.event.as_str().to_uppercase()
        );
        let _ = writeln!(out, "  subject:    {}", a.subject);
        let _ = writeln!(out, "  summary:    {}", a.summary);
        let _ = writeln!(out, "  importance: {}", a.importance);
        if let Some(at) = a.raised_at {
            let _ = writeln!(out, "  raised:     {} ({})", rfc3339(at), ago(at, m.now));
        }
        if let Some(at) = a.cleared_at {
            let _ = writeln!(out, "  cleared:    {}", rfc3339(at));
        }
        if let Some(by) = &a.acknowledged_by {
            let _ = writeln!(out, "  acknowledged by {by}");
        }
        let _ = writeln!(out, "  {}", m.link(&e.key));
        let detail = strip_html(&a.detail);
        if !detail.trim().is_empty() {
            let _ = writeln!(out, "\n  {}", detail.trim().replace('\n', "\n  "));
        }
        out.push('\n');
    }
    out
}

/// Text of an HTML fragment: tags dropped (a `<br>`, `<p>` or `<li>`
/// becomes a line break), the common entities decoded.
pub(crate) fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .to_ascii_lowercase();
        if ["br", "p", "li", "div", "tr", "h"]
            .iter()
            .any(|t| tag.starts_with(t))
            && !out.ends_with('\n')
        {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::payload::tests::message;

    #[test]
    fn html_is_reduced_to_text() {
        assert_eq!(
            strip_html(
                "<p>disk <b>95%</b> full</p><script>alert(1)</script>&lt;sda&gt; &amp; more"
            ),
            "\ndisk 95% full\nalert(1)<sda> & more"
        );
        assert_eq!(strip_html("a < b"), "a < b");
    }

    #[test]
    fn the_body_names_every_field_and_the_link() {
        let mut m = message();
        m.events[0].alert.detail = "<ul><li>sda1</li><li>sda2</li></ul>".into();
        let body = body(&m);
        assert!(body.contains("web1.example.com disk: RAISED"), "{body}");
        assert!(body.contains("summary:    disk full"), "{body}");
        assert!(
            body.contains("https://alerts.example.com/alerts/"),
            "{body}"
        );
        assert!(body.contains("sda1\n  sda2"), "{body}");
        assert!(!body.contains("<li>"), "{body}");
    }
}
