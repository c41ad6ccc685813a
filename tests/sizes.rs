//! Room sizes: no source file over 900 lines of code and no function over
//! 80 lines, but flat tables (a list of one-line entries, read top to
//! bottom). `LONG` would list what is over and being split; a new one
//! fails here, and so does a listed one that has come under the limit (take
//! it off the list).

mod source;

const MAX_FILE_CODE_LINES: usize = 900;
const MAX_FUNCTION_LINES: usize = 80;

/// Flat tables: one entry a line, nothing to split but the table itself.
const TABLES: &[(&str, &str)] = &[
    // Every metric: a name, a help line and a value, one after another.
    ("src/metrics.rs", "register"),
];

/// Over the limit and being split: (file, function or "" for the file).
/// None today.
const LONG: &[(&str, &str)] = &[];

/// Lines that are neither blank nor only a comment.
fn code_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count()
}

/// The name of the function a line starts (`fn name` after its
/// qualifiers), with the line's indentation; `None` for any other line or
/// a declaration without a body.
fn function_start(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let mut rest = trimmed;
    for qualifier in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "async ",
        "const ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let after = rest.strip_prefix("fn ")?;
    let name_end = after
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    if name_end == 0 || line.trim_end().ends_with(';') {
        return None;
    }
    Some((indent, &after[..name_end]))
}

/// Every function of `text` longer than the limit: (name, lines). A body
/// ends at the first line that is its indentation and `}`.
fn long_functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((indent, name)) = function_start(line) else {
            continue;
        };
        let close = format!("{indent}}}");
        let end = lines[i + 1..]
            .iter()
            .position(|l| *l == close)
            .map_or(lines.len(), |at| i + 1 + at);
        let length = end - i + 1;
        if length > MAX_FUNCTION_LINES {
            found.push((name.to_owned(), length));
        }
    }
    found
}

#[test]
fn no_room_is_over_its_size_but_those_being_split() {
    let mut over: Vec<(String, String, usize)> = Vec::new();
    for (rel, text) in source::files() {
        let code = code_lines(&text);
        if code > MAX_FILE_CODE_LINES {
            over.push((rel.clone(), String::new(), code));
        }
        for (name, length) in long_functions(&text) {
            if !TABLES.contains(&(rel.as_str(), name.as_str())) {
                over.push((rel.clone(), name, length));
            }
        }
    }
    let new: Vec<_> = over
        .iter()
        .filter(|(file, name, _)| !LONG.contains(&(file.as_str(), name.as_str())))
        .collect();
    assert!(
        new.is_empty(),
        "over {MAX_FILE_CODE_LINES} lines of code (a file) or {MAX_FUNCTION_LINES} lines (a function): {new:?}"
    );
    let gone: Vec<_> = LONG
        .iter()
        .filter(|(file, name)| !over.iter().any(|(f, n, _)| f == file && n == name))
        .collect();
    assert!(
        gone.is_empty(),
        "now within the limits, take them off LONG: {gone:?}"
    );
}

#[test]
fn functions_are_measured_from_their_line_to_their_closing_brace() {
    let body = "    x();\n".repeat(MAX_FUNCTION_LINES);
    let text =
        format!("pub(crate) async fn long() {{\n{body}}}\nfn short() {{\n}}\n    fn decl();\n");
    assert_eq!(
        long_functions(&text),
        [("long".to_owned(), MAX_FUNCTION_LINES + 2)]
    );
    assert_eq!(code_lines("// a\n\nx\n  // b\ny"), 2);
}
