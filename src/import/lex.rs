//! Tokens of the Ruby that mauve configurations are written in: enough of
//! the language for its DSL (calls with and without parentheses, blocks,
//! strings, symbols, numbers, regex literals, `%w()` lists, ranges and the
//! usual operators), with the line each token starts on.
//!
//! A file that is not text, holds a string or regex that never ends, or
//! whose brackets do not pair is refused here, with the line: nothing after
//! such a fault can be read with confidence.

use super::Fault;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A name: `person`, `working_hours?`, `debug!`; keywords too (`do`, `end`).
    Ident(String),
    /// A constant: `URGENT`, `Date`.
    Const(String),
    /// A string; `interpolated` when it holds `#{…}` (Ruby code).
    Str {
        text: String,
        interpolated: bool,
    },
    Sym(String),
    Int(i64),
    Float(f64),
    Regex {
        source: String,
        flags: String,
    },
    /// `%w(a b c)`.
    Words(Vec<String>),
    /// Operators and punctuation.
    Op(&'static str),
    Newline,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: u32,
    /// Whitespace right before it: `f [1]` passes a list, `f[1]` indexes.
    pub(crate) spaced: bool,
}

/// Longest first, so `...` wins over `..` and `=~` over `=`.
const OPS: &[&str] = &[
    "...", "**", "==", "!=", "=~", "!~", ">=", "<=", "&&", "||", "..", "=>", "::", "->", "<<",
    ">>", "+=", "-=", "||=", "(", ")", "[", "]", "{", "}", ",", ";", ".", "=", "<", ">", "+", "-",
    "*", "/", "%", "!", "?", ":", "|", "&", "^", "~",
];

/// Brackets deeper than this are refused (a real configuration nests a few).
const MAX_DEPTH: usize = 64;

pub(crate) fn tokens(text: &str) -> Result<Vec<Token>, Fault> {
    Lexer {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
        out: Vec::new(),
        open: Vec::new(),
    }
    .run()
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
    line: u32,
    out: Vec<Token>,
    /// Open brackets and the line each opened on.
    open: Vec<(char, u32)>,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn fault(&self, line: u32, what: impl Into<String>) -> Fault {
        Fault {
            line,
            what: what.into(),
        }
    }

    fn push(&mut self, tok: Tok, line: u32, spaced: bool) {
        self.out.push(Token { tok, line, spaced });
    }

    /// Whether a `/` or `%` here starts a literal rather than dividing: at
    /// the start of an expression, or after a name with a space before it
    /// and none after (`includes /web/` but `a / b`).
    fn starts_literal(&self, spaced: bool) -> bool {
        match self.out.last().map(|t| &t.tok) {
            None | Some(Tok::Newline) => true,
            Some(Tok::Op(op)) => !matches!(*op, ")" | "]" | "}"),
            Some(Tok::Ident(name)) => {
                matches!(
                    name.as_str(),
                    "and" | "or" | "not" | "if" | "unless" | "when"
                ) || (spaced && self.peek(1).is_some_and(|c| !c.is_whitespace()))
            }
            _ => false,
        }
    }

    fn run(mut self) -> Result<Vec<Token>, Fault> {
        let mut spaced = false;
        while let Some(c) = self.peek(0) {
            let line = self.line;
            if c == '\n' {
                self.at += 1;
                self.line += 1;
                // Inside () and [] a line break continues the expression.
                if !matches!(self.open.last(), Some(('(' | '[', _))) {
                    self.push(Tok::Newline, line, spaced);
                }
                spaced = true;
                continue;
            }
            if c == '\\' && self.peek(1) == Some('\n') {
                self.at += 2;
                self.line += 1;
                spaced = true;
                continue;
            }
            if c.is_whitespace() {
                self.at += 1;
                spaced = true;
                continue;
            }
            if c == '#' {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.at += 1;
                }
                continue;
            }
            if c == '=' && self.at_line_start() && self.rest_starts_with("=begin") {
                self.block_comment()?;
                continue;
            }
            if c.is_control() || c == '\u{fffd}' {
                return Err(self.fault(
                    line,
                    format!(
                        "a control character (U+{:04X}): not a Ruby configuration",
                        c as u32
                    ),
                ));
            }
            let tok = self.token(c, line, spaced)?;
            self.push(tok, line, spaced);
            spaced = false;
        }
        if let Some((bracket, line)) = self.open.last() {
            return Err(self.fault(*line, format!("this {bracket:?} is never closed")));
        }
        let line = self.line;
        self.push(Tok::Newline, line, true);
        self.push(Tok::Eof, line, true);
        Ok(self.out)
    }

    /// The token that starts with `c` (not a space, a comment or a
    /// line break).
    fn token(&mut self, c: char, line: u32, spaced: bool) -> Result<Tok, Fault> {
        Ok(if c.is_ascii_digit() {
            self.number()?
        } else if c.is_alphabetic() || c == '_' || c == '@' || c == '$' {
            self.name()
        } else if c == '"' || c == '\'' {
            self.at += 1;
            self.string(c, line)?
        } else if c == '`' {
            // A command's output: known only when mauve runs.
            self.at += 1;
            match self.string('`', line)? {
                Tok::Str { text, .. } => Tok::Str {
                    text: format!("`{text}`"),
                    interpolated: true,
                },
                other => other,
            }
        } else if c == ':' && self.peek(1).is_some_and(|n| n.is_alphabetic() || n == '_') {
            self.at += 1;
            match self.name() {
                Tok::Ident(s) | Tok::Const(s) => Tok::Sym(s),
                other => other,
            }
        } else if c == ':' && matches!(self.peek(1), Some('"' | '\'')) {
            let quote = self.peek(1).unwrap_or('"');
            self.at += 2;
            match self.string(quote, line)? {
                Tok::Str { text, .. } => Tok::Sym(text),
                other => other,
            }
        } else if c == '/' && self.starts_literal(spaced) {
            self.at += 1;
            self.regex(line)?
        } else if c == '%' && self.starts_literal(spaced) && self.peek(1).is_some() {
            self.percent(line)?
        } else {
            self.op(line)?
        })
    }

    fn at_line_start(&self) -> bool {
        self.at == 0 || self.chars[self.at - 1] == '\n'
    }

    fn rest_starts_with(&self, word: &str) -> bool {
        word.chars()
            .enumerate()
            .all(|(i, c)| self.peek(i) == Some(c))
    }

    fn block_comment(&mut self) -> Result<(), Fault> {
        let start = self.line;
        loop {
            while self.peek(0).is_some_and(|c| c != '\n') {
                self.at += 1;
            }
            if self.peek(0).is_none() {
                return Err(self.fault(start, "=begin without =end"));
            }
            self.at += 1;
            self.line += 1;
            if self.rest_starts_with("=end") {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.at += 1;
                }
                return Ok(());
            }
        }
    }

    fn number(&mut self) -> Result<Tok, Fault> {
        let line = self.line;
        let mut text = String::new();
        let mut float = false;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_digit() {
                text.push(c);
            } else if c == '_' && self.peek(1).is_some_and(|n| n.is_ascii_digit()) {
            } else if c == '.'
                && !float
                && self.peek(1).is_some_and(|n| n.is_ascii_digit())
                && !text.is_empty()
            {
                float = true;
                text.push(c);
            } else {
                break;
            }
            self.at += 1;
        }
        let bad = || self.fault(line, format!("{text} is not a number mauve could use"));
        if float {
            text.parse().map(Tok::Float).map_err(|_| bad())
        } else {
            text.parse().map(Tok::Int).map_err(|_| bad())
        }
    }

    fn name(&mut self) -> Tok {
        let mut text = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_alphanumeric() || c == '_' || (text.is_empty() && (c == '@' || c == '$')) {
                text.push(c);
                self.at += 1;
            } else {
                break;
            }
        }
        // `working_hours?`, `debug!` (but not `a != b` or `x ?y : z`).
        if let Some(c @ ('?' | '!')) = self.peek(0) {
            if self.peek(1) != Some('=') || self.peek(2) == Some('=') {
                text.push(c);
                self.at += 1;
            }
        }
        if text.starts_with(|c: char| c.is_uppercase()) {
            Tok::Const(text)
        } else {
            Tok::Ident(text)
        }
    }

    fn string(&mut self, quote: char, line: u32) -> Result<Tok, Fault> {
        let mut text = String::new();
        let mut interpolated = false;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.fault(line, "this string is never closed"));
            };
            self.at += 1;
            match c {
                '\n' => {
                    self.line += 1;
                    text.push(c);
                }
                c if c == quote => break,
                '\\' => {
                    let Some(next) = self.peek(0) else { continue };
                    self.at += 1;
                    if next == '\n' {
                        self.line += 1;
                    }
                    if quote == '\'' {
                        if next != '\'' && next != '\\' {
                            text.push('\\');
                        }
                        text.push(next);
                    } else {
                        text.push(match next {
                            'n' => '\n',
                            't' => '\t',
                            'e' => '\u{1b}',
                            's' => ' ',
                            '0' => '\0',
                            other => other,
                        });
                    }
                }
                '#' if quote == '"' && self.peek(0) == Some('{') => {
                    interpolated = true;
                    text.push(c);
                }
                c => text.push(c),
            }
        }
        Ok(Tok::Str { text, interpolated })
    }

    fn regex(&mut self, line: u32) -> Result<Tok, Fault> {
        let mut source = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.fault(line, "this regex is never closed"));
            };
            self.at += 1;
            match c {
                '/' => break,
                '\n' => return Err(self.fault(line, "this regex is never closed on its line")),
                '\\' => {
                    let next = self
                        .peek(0)
                        .ok_or_else(|| self.fault(line, "a regex ends in \\"))?;
                    self.at += 1;
                    // `\/` is a slash; other escapes keep their meaning.
                    if next != '/' {
                        source.push('\\');
                    }
                    source.push(next);
                }
                c => source.push(c),
            }
        }
        let mut flags = String::new();
        while let Some(c @ ('i' | 'm' | 'x' | 'o' | 'u' | 'n' | 'e' | 's')) = self.peek(0) {
            flags.push(c);
            self.at += 1;
        }
        Ok(Tok::Regex { source, flags })
    }

    /// `%w(a b)`, `%W[a b]`, `%r{re}`, `%q(text)`.
    fn percent(&mut self, line: u32) -> Result<Tok, Fault> {
        let (kind, open) = match (self.peek(1), self.peek(2)) {
            (Some(k @ ('w' | 'W' | 'r' | 'q' | 'Q' | 'i')), Some(o)) if !o.is_alphanumeric() => {
                self.at += 3;
                (k, o)
            }
            (Some(o), _) if "([{<|!/".contains(o) => {
                self.at += 2;
                ('Q', o)
            }
            _ => return self.op(line),
        };
        let close = match open {
            '(' => ')',
            '[' => ']',
            '{' => '}',
            '<' => '>',
            other => other,
        };
        let mut body = String::new();
        let mut depth = 0;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.fault(line, format!("this %{kind} list is never closed")));
            };
            self.at += 1;
            if c == '\n' {
                self.line += 1;
            }
            if c == '\\' {
                if let Some(next) = self.peek(0) {
                    self.at += 1;
                    if kind == 'r' && next != close {
                        body.push('\\');
                    }
                    body.push(next);
                }
                continue;
            }
            if c == close && depth == 0 {
                break;
            }
            if c == open && open != close {
                depth += 1;
            } else if c == close {
                depth -= 1;
            }
            body.push(c);
        }
        Ok(match kind {
            'w' | 'W' | 'i' => Tok::Words(body.split_whitespace().map(str::to_owned).collect()),
            'r' => {
                let mut flags = String::new();
                while let Some(c @ ('i' | 'm' | 'x' | 'o')) = self.peek(0) {
                    flags.push(c);
                    self.at += 1;
                }
                Tok::Regex {
                    source: body,
                    flags,
                }
            }
            _ => Tok::Str {
                interpolated: kind == 'Q' && body.contains("#{"),
                text: body,
            },
        })
    }

    fn op(&mut self, line: u32) -> Result<Tok, Fault> {
        let Some(op) = OPS.iter().find(|op| self.rest_starts_with(op)) else {
            let c = self.peek(0).unwrap_or(' ');
            return Err(self.fault(line, format!("{c:?} is not Ruby a configuration uses")));
        };
        self.at += op.chars().count();
        match *op {
            "(" | "[" | "{" => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(
                        self.fault(line, format!("brackets nested more than {MAX_DEPTH} deep"))
                    );
                }
                self.open.push((op.chars().next().unwrap_or('('), line));
            }
            ")" | "]" | "}" => {
                let want = match *op {
                    ")" => '(',
                    "]" => '[',
                    _ => '{',
                };
                match self.open.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, at)) => {
                        return Err(
                            self.fault(line, format!("{op:?} closes the {open:?} of line {at}"))
                        )
                    }
                    None => return Err(self.fault(line, format!("{op:?} closes nothing"))),
                }
            }
            _ => {}
        }
        Ok(Tok::Op(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokens(text)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .filter(|t| !matches!(t, Tok::Newline | Tok::Eof))
            .collect()
    }

    #[test]
    fn the_forms_of_the_dsl_are_tokens() {
        assert_eq!(
            toks(r#"includes { source =~ /^web\d+\./i || alert_id == 'x' }"#),
            vec![
                Tok::Ident("includes".into()),
                Tok::Op("{"),
                Tok::Ident("source".into()),
                Tok::Op("=~"),
                Tok::Regex {
                    source: r"^web\d+\.".into(),
                    flags: "i".into()
                },
                Tok::Op("||"),
                Tok::Ident("alert_id".into()),
                Tok::Op("=="),
                Tok::Str {
                    text: "x".into(),
                    interpolated: false
                },
                Tok::Op("}"),
            ]
        );
        assert_eq!(
            toks("people_list \"ops\", %w(alice bob)\nevery 10.minutes; during { working_hours? }"),
            vec![
                Tok::Ident("people_list".into()),
                Tok::Str {
                    text: "ops".into(),
                    interpolated: false
                },
                Tok::Op(","),
                Tok::Words(vec!["alice".into(), "bob".into()]),
                Tok::Ident("every".into()),
                Tok::Int(10),
                Tok::Op("."),
                Tok::Ident("minutes".into()),
                Tok::Op(";"),
                Tok::Ident("during".into()),
                Tok::Op("{"),
                Tok::Ident("working_hours?".into()),
                Tok::Op("}"),
            ]
        );
        assert_eq!(
            toks("working_hours 9..17.5 # comment\nlevel URGENT"),
            vec![
                Tok::Ident("working_hours".into()),
                Tok::Int(9),
                Tok::Op(".."),
                Tok::Float(17.5),
                Tok::Ident("level".into()),
                Tok::Const("URGENT".into()),
            ]
        );
        assert_eq!(toks("a / 2")[1], Tok::Op("/"));
        assert_eq!(
            toks("\"m@\" + `hostname`.chomp")[2],
            Tok::Str {
                text: "`hostname`".into(),
                interpolated: true
            }
        );
        assert_eq!(toks(":urgent")[0], Tok::Sym("urgent".into()));
        assert_eq!(
            toks(r#""host #{hostname}""#)[0],
            Tok::Str {
                text: "host #{hostname}".into(),
                interpolated: true
            }
        );
    }

    #[test]
    fn faults_name_their_line() {
        let fault = |text: &str| tokens(text).unwrap_err();
        assert_eq!(fault("a {\n b {\n").line, 2);
        assert!(fault("a {\n b {\n").what.contains("never closed"));
        assert_eq!(fault("x\n\"open").line, 2);
        assert_eq!(fault("a }").what, "\"}\" closes nothing");
        assert_eq!(fault("ok\n\u{0}\u{1}").line, 2);
        assert!(fault(&"[".repeat(100)).what.contains("nested more than"));
        assert_eq!(fault("a (\n]").line, 2);
    }
}
