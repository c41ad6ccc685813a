//! Text from outside (a packet's id, a posted name, a header) as it may be
//! written where people read: a log line, an error answer, a message.
//!
//! A sender chooses every byte of an id or a summary. Written as it came, a
//! newline starts a forged log line and a terminal escape rewrites the
//! screen; quoted whole, a 600 KB source makes each error 600 KB. So text
//! from outside is shown with its control characters escaped, and quoted in
//! an error at most [`QUOTE_CHARS`] characters long.

/// The longest piece of outside text an error message quotes.
pub const QUOTE_CHARS: usize = 64;

/// `text` quoted for an error message: in double quotes, escaped as Rust
/// escapes a string, cut after [`QUOTE_CHARS`] characters (`…` and the
/// length in bytes then say so).
pub fn quoted_short(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
    }
}

/// The longest name of who acts (`by`, `createdBy`).
pub const MAX_AUTHOR_CHARS: usize = 200;
/// The longest free text a person types (a note, a silence's comment).
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Refuses `value` for `field` when it is longer than `max` characters,
/// naming both; counting stops at the limit (a long value costs no more
/// than a short one to refuse).
pub fn within(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.len() <= max || value.chars().nth(max).is_none() {
        return Ok(());
    }
    Err(format!(
        "{field}: at most {max} characters ({} bytes given)",
        value.len()
    ))
}

/// A log destination that writes each line with its control characters
/// escaped but the newline that ends it: whatever a field holds (an id
/// with a newline, a terminal escape), one event is one line. `tracing`'s
/// formatter writes an event in one piece, so every field of every line is
/// covered here, at the one place text reaches the log.
pub struct EscapedLines<W>(pub W);

impl<W: std::io::Write> std::io::Write for EscapedLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        if !body.iter().any(|b| b.is_ascii_control() && *b != b'\t') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.push(b),
                b if b.is_ascii_control() => {
                    out.extend_from_slice(format!("\\x{b:02x}").as_bytes())
                }
                b => out.push(b),
            }
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_held_to_their_length_in_characters() {
        assert!(within("by", "alice", 5).is_ok());
        assert!(within("by", "ééééé", 5).is_ok(), "characters, not bytes");
        let err = within("by", &"x".repeat(500_000), MAX_AUTHOR_CHARS).unwrap_err();
        assert_eq!(err, "by: at most 200 characters (500000 bytes given)");
    }

    #[test]
    fn a_log_line_stays_one_line() {
        use std::io::Write;
        let mut out = EscapedLines(Vec::new());
        out.write_all(b"INFO id=disk\nFAKE ERROR injected\x1b[2J\tend\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "INFO id=disk\\nFAKE ERROR injected\\x1b[2J\tend\n"
        );
    }

    #[test]
    fn quotes_are_short() {
        assert_eq!(quoted_short("web1"), "\"web1\"");
        let long = "a\n".repeat(10_000);
        let q = quoted_short(&long);
        assert!(q.len() < 200, "{q}");
        assert!(q.ends_with("(20000 bytes)"), "{q}");
        assert!(!q.contains('\n'));
    }
}
