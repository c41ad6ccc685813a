//! How a problem is said: where a syntax error is, and the key a
//! misspelt one was most likely meant to be.

use super::*;
/// The 0-based line of byte `at`.
pub(super) fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count()
}

/// A TOML error in words: its line and column and toml's own message,
/// with the source line and a caret under the column only when that line's
/// key does not hold a secret (toml's own rendering quotes the line as is).
pub(super) fn syntax_problem(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let Some(span) = err.span() else {
        return message.to_owned();
    };
    let line = line_of(text, span.start);
    let line_start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |at| at + 1);
    let column = text[line_start..span.start.min(text.len())].chars().count();
    let source = text.split('\n').nth(line).unwrap_or("");
    let key = source
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    if redact::is_secret_name(key) || source.len() > 200 {
        format!("line {}, column {}: {message}", line + 1, column + 1)
    } else {
        format!(
            "line {}, column {}: {message}\n  | {source}\n  | {:>column$}^",
            line + 1,
            column + 1,
            ""
        )
    }
}

/// The words between backticks in `text`, in order.
pub(super) fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The candidate nearest `word` by edit distance, if it is near enough
/// to be a likely typo.
pub(super) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2) || c.contains(word) || word.contains(c))
        .min()
        .map(|(_, c)| c)
}
