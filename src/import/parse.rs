//! The syntax tree of a mauve configuration: statements that are calls
//! (with or without parentheses, with a `{ }` or `do … end` block) and the
//! expressions their arguments and predicates are made of.
//!
//! Nothing is evaluated. A statement whose form is not understood becomes
//! [`Expr::Opaque`] with its text, so the translation can report it with
//! its line and go on; only faults that leave the rest of the file unreadable
//! (a block that never ends, nesting too deep) stop the parse.

use super::lex::{Tok, Token};
use super::Fault;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub(crate) expr: Expr,
    pub(crate) line: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str {
        text: String,
        interpolated: bool,
    },
    Sym(String),
    Regex {
        source: String,
        flags: String,
    },
    Array(Vec<Node>),
    Hash(Vec<(Node, Node)>),
    Range {
        low: Box<Node>,
        high: Box<Node>,
        exclusive: bool,
    },
    Const(String),
    /// `name`, `name(args)`, `recv.name args { block }`.
    Call {
        recv: Option<Box<Node>>,
        name: String,
        args: Vec<Node>,
        block: Option<Vec<Node>>,
    },
    Binary {
        op: &'static str,
        left: Box<Node>,
        right: Box<Node>,
    },
    Not(Box<Node>),
    Neg(Box<Node>),
    /// A statement that is Ruby code the DSL does not need (an `if`, a
    /// method definition, an assignment): its first line, for the report.
    Opaque(String),
}

/// Blocks and expressions nested deeper than this are refused (a real
/// configuration nests a handful; the bound keeps the stack small).
const MAX_NESTING: usize = 64;
/// Binary operators in one file at most. A chain of them is read in a loop,
/// but becomes a tree as deep as it is long, which later steps walk (and
/// drop) recursively: 20,000 `&&` overflowed the stack.
const MAX_OPERATORS: usize = 1000;

pub(crate) fn program(tokens: &[Token], source: &str) -> Result<Vec<Node>, Fault> {
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        lines: source.lines().collect(),
        fatal: None,
        operators: 0,
    };
    let body = parser.statements(&[]);
    if let Some(fault) = parser.fatal.take() {
        return Err(fault);
    }
    let body = body?;
    match &parser.peek().tok {
        Tok::Eof => Ok(body),
        other => Err(parser.fault(format!("{} closes nothing", show(other)))),
    }
}

/// A statement that could not be read: skipped to its end, reported.
struct Skip;

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
    lines: Vec<&'a str>,
    /// A fault found deep inside a statement: it ends the parse.
    fatal: Option<Fault>,
    /// Binary operators read so far (see [`MAX_OPERATORS`]).
    operators: usize,
}

fn show(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) | Tok::Const(s) => format!("`{s}`"),
        Tok::Op(op) => format!("`{op}`"),
        Tok::Newline => "the end of the line".into(),
        Tok::Eof => "the end of the file".into(),
        other => format!("{other:?}"),
    }
}

/// Words that end a statement list, or open a block that `end` closes.
const OPENERS: &[&str] = &[
    "if", "unless", "while", "until", "case", "begin", "def", "class", "module", "for",
];

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, ahead: usize) -> &'a Token {
        &self.tokens[(self.at + ahead).min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> &'a Token {
        let t = self.peek();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w == word)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let yes = self.is_op(op);
        if yes {
            self.bump();
        }
        yes
    }

    fn fault(&self, what: impl Into<String>) -> Fault {
        Fault {
            line: self.peek().line,
            what: what.into(),
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek().tok, Tok::Newline) || self.is_op(";") {
            self.bump();
        }
    }

    fn line_text(&self, line: u32) -> String {
        let text = self
            .lines
            .get(line as usize - 1)
            .map(|l| l.trim())
            .unwrap_or("");
        let mut cut: String = text.chars().take(80).collect();
        if cut.len() < text.len() {
            cut.push('…');
        }
        cut
    }

    /// Statements up to `}` / `end` / one of `stops` (not consumed).
    fn statements(&mut self, stops: &[&str]) -> Result<Vec<Node>, Fault> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.fault(format!("blocks nested more than {MAX_NESTING} deep")));
        }
        let mut body = Vec::new();
        loop {
            if let Some(fault) = &self.fatal {
                return Err(fault.clone());
            }
            self.skip_newlines();
            match &self.peek().tok {
                Tok::Eof | Tok::Op("}") => break,
                Tok::Ident(w) if w == "end" || stops.contains(&w.as_str()) => break,
                _ => {}
            }
            let start = self.at;
            let line = self.peek().line;
            let statement = self.statement();
            if let Some(fault) = &self.fatal {
                return Err(fault.clone());
            }
            match statement {
                Ok(node) => {
                    if !self.at_statement_end() {
                        self.skip_statement(start)?;
                        body.push(self.opaque(line));
                    } else {
                        body.push(node);
                    }
                }
                Err(Skip) => {
                    self.skip_statement(start)?;
                    body.push(self.opaque(line));
                }
            }
        }
        self.depth -= 1;
        Ok(body)
    }

    fn opaque(&self, line: u32) -> Node {
        Node {
            expr: Expr::Opaque(self.line_text(line)),
            line,
        }
    }

    fn at_statement_end(&self) -> bool {
        matches!(
            self.peek().tok,
            Tok::Newline | Tok::Eof | Tok::Op(";" | "}")
        ) || self.is_word("end")
    }

    /// From `start`, past the statement: to the end of its line, over any
    /// brackets and `do`/`if`…`end` it opens.
    fn skip_statement(&mut self, start: usize) -> Result<(), Fault> {
        self.at = start;
        let mut depth: usize = 0;
        let first = self.at;
        loop {
            let token = self.peek();
            match &token.tok {
                Tok::Eof if depth > 0 => {
                    return Err(Fault {
                        line: self.tokens[first].line,
                        what: "a block opened here never ends".into(),
                    })
                }
                Tok::Eof => return Ok(()),
                Tok::Newline | Tok::Op(";") if depth == 0 => return Ok(()),
                Tok::Op("}") if depth == 0 => return Ok(()),
                Tok::Ident(w) if w == "end" && depth == 0 => return Ok(()),
                Tok::Op("{" | "(" | "[") => depth += 1,
                Tok::Op("}" | ")" | "]") => depth = depth.saturating_sub(1),
                Tok::Ident(w) if w == "do" => depth += 1,
                Tok::Ident(w) if w == "end" => depth = depth.saturating_sub(1),
                // An `if` that starts a statement opens a block; one after
                // an expression is a modifier.
                Tok::Ident(w)
                    if OPENERS.contains(&w.as_str())
                        && (self.at == first
                            || matches!(
                                self.tokens[self.at - 1].tok,
                                Tok::Newline | Tok::Op(";" | "=" | "(" | "{")
                            )) =>
                {
                    depth += 1
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn statement(&mut self) -> Result<Node, Skip> {
        let line = self.peek().line;
        if let Tok::Ident(w) = &self.peek().tok {
            if OPENERS.contains(&w.as_str()) {
                return Err(Skip);
            }
        }
        // `name = value`: a Ruby variable, not the DSL.
        if matches!(self.peek().tok, Tok::Ident(_) | Tok::Const(_))
            && matches!(self.peek_at(1).tok, Tok::Op("=" | "+=" | "-=" | "||="))
        {
            return Err(Skip);
        }
        let node = self.expr()?;
        // A trailing `if`/`unless` makes it conditional: Ruby code.
        if self.is_word("if") || self.is_word("unless") {
            return Err(Skip);
        }
        let _ = line;
        Ok(node)
    }

    /// The lowest level: `not`, `and`, `or`.
    fn expr(&mut self) -> Result<Node, Skip> {
        self.nest(|p| {
            let mut left = p.not_expr()?;
            loop {
                let op = if p.is_word("and") {
                    "&&"
                } else if p.is_word("or") {
                    "||"
                } else {
                    return Ok(left);
                };
                p.count_operator()?;
                let line = p.bump().line;
                p.skip_newlines_only();
                let right = p.not_expr()?;
                left = binary(op, left, right, line);
            }
        })
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Skip>) -> Result<T, Skip> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            if self.fatal.is_none() {
                self.fatal = Some(self.fault(format!("nested more than {MAX_NESTING} deep")));
            }
            return Err(Skip);
        }
        let out = f(self);
        self.depth -= 1;
        out
    }

    /// One more binary operator, or a fault that ends the parse.
    fn count_operator(&mut self) -> Result<(), Skip> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            if self.fatal.is_none() {
                self.fatal = Some(self.fault(format!(
                    "more than {MAX_OPERATORS} operators: not a mauve configuration"
                )));
            }
            return Err(Skip);
        }
        Ok(())
    }

    fn skip_newlines_only(&mut self) {
        while matches!(self.peek().tok, Tok::Newline) {
            self.bump();
        }
    }

    fn not_expr(&mut self) -> Result<Node, Skip> {
        if self.is_word("not") {
            let line = self.bump().line;
            let inner = self.nest(|p| p.not_expr())?;
            return Ok(Node {
                expr: Expr::Not(Box::new(inner)),
                line,
            });
        }
        self.arg()
    }

    /// An argument: a range or anything tighter.
    fn arg(&mut self) -> Result<Node, Skip> {
        let low = self.or_expr()?;
        for (op, exclusive) in [("...", true), ("..", false)] {
            if self.is_op(op) {
                let line = self.bump().line;
                let high = self.or_expr()?;
                return Ok(Node {
                    expr: Expr::Range {
                        low: Box::new(low),
                        high: Box::new(high),
                        exclusive,
                    },
                    line,
                });
            }
        }
        Ok(low)
    }

    fn or_expr(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["||"], Self::and_expr)
    }

    fn and_expr(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["&&"], Self::equality)
    }

    fn equality(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["==", "!=", "=~", "!~"], Self::comparison)
    }

    fn comparison(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["<", "<=", ">", ">="], Self::additive)
    }

    fn additive(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["+", "-"], Self::term)
    }

    fn term(&mut self) -> Result<Node, Skip> {
        self.left_assoc(&["*", "/", "%"], Self::unary)
    }

    fn left_assoc(
        &mut self,
        ops: &[&'static str],
        next: fn(&mut Self) -> Result<Node, Skip>,
    ) -> Result<Node, Skip> {
        let mut left = next(self)?;
        loop {
            let Some(op) = ops.iter().find(|op| self.is_op(op)).copied() else {
                return Ok(left);
            };
            self.count_operator()?;
            let line = self.bump().line;
            self.skip_newlines_only();
            let right = next(self)?;
            left = binary(op, left, right, line);
        }
    }

    fn unary(&mut self) -> Result<Node, Skip> {
        let line = self.peek().line;
        if self.eat_op("!") {
            let inner = self.nest(|p| p.unary())?;
            return Ok(Node {
                expr: Expr::Not(Box::new(inner)),
                line,
            });
        }
        if self.eat_op("-") {
            let inner = self.nest(|p| p.unary())?;
            return Ok(Node {
                expr: Expr::Neg(Box::new(inner)),
                line,
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node, Skip> {
        let mut node = self.primary()?;
        loop {
            if self.is_op(".") || self.is_op("::") {
                let sep = self.bump();
                let line = sep.line;
                let name = match &self.bump().tok {
                    Tok::Ident(n) | Tok::Const(n) => n.clone(),
                    _ => return Err(Skip),
                };
                node = self.call(Some(node), name, line)?;
            } else if self.is_op("[") && !self.peek().spaced {
                let line = self.bump().line;
                let index = self.list_until("]")?;
                node = Node {
                    expr: Expr::Call {
                        recv: Some(Box::new(node)),
                        name: "[]".into(),
                        args: index,
                        block: None,
                    },
                    line,
                };
            } else {
                return Ok(node);
            }
        }
    }

    /// Comma-separated arguments up to `close` (consumed); `k => v` pairs
    /// become one hash argument.
    fn list_until(&mut self, close: &str) -> Result<Vec<Node>, Skip> {
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        let line = self.peek().line;
        loop {
            self.skip_newlines_only();
            if self.eat_op(close) {
                break;
            }
            self.item(&mut items, &mut pairs)?;
            self.skip_newlines_only();
            if self.eat_op(close) {
                break;
            }
            if !self.eat_op(",") {
                return Err(Skip);
            }
        }
        if !pairs.is_empty() {
            items.push(Node {
                expr: Expr::Hash(pairs),
                line,
            });
        }
        Ok(items)
    }

    /// One argument, or a `key => value` / `key: value` pair.
    fn item(&mut self, items: &mut Vec<Node>, pairs: &mut Vec<(Node, Node)>) -> Result<(), Skip> {
        if let (Tok::Ident(key), Tok::Op(":")) = (&self.peek().tok, &self.peek_at(1).tok) {
            let line = self.bump().line;
            self.bump();
            let value = self.arg()?;
            pairs.push((
                Node {
                    expr: Expr::Sym(key.clone()),
                    line,
                },
                value,
            ));
            return Ok(());
        }
        let value = self.nest(|p| p.not_expr())?;
        if self.eat_op("=>") {
            let v = self.arg()?;
            pairs.push((value, v));
        } else {
            items.push(value);
        }
        Ok(())
    }

    /// A call's arguments (in parentheses, or bare up to the end of the
    /// line) and block.
    fn call(&mut self, recv: Option<Node>, name: String, line: u32) -> Result<Node, Skip> {
        let mut args = Vec::new();
        if self.is_op("(") && !self.peek().spaced {
            self.bump();
            args = self.list_until(")")?;
        } else if self.starts_bare_argument() {
            let mut pairs = Vec::new();
            loop {
                self.item(&mut args, &mut pairs)?;
                if !self.eat_op(",") {
                    break;
                }
                self.skip_newlines_only();
            }
            if !pairs.is_empty() {
                args.push(Node {
                    expr: Expr::Hash(pairs),
                    line,
                });
            }
        }
        let block = self.block()?;
        Ok(Node {
            expr: Expr::Call {
                recv: recv.map(Box::new),
                name,
                args,
                block,
            },
            line,
        })
    }

    /// Whether what follows a name on its line is an argument to it
    /// (`every 10.minutes`, `level URGENT`, `people_list "x", …`).
    fn starts_bare_argument(&self) -> bool {
        let t = self.peek();
        match &t.tok {
            Tok::Str { .. }
            | Tok::Sym(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Regex { .. }
            | Tok::Words(_)
            | Tok::Const(_) => true,
            Tok::Ident(w) => !matches!(
                w.as_str(),
                "do" | "end" | "and" | "or" | "if" | "unless" | "then" | "else" | "elsif"
            ),
            Tok::Op("[") | Tok::Op("(") => t.spaced,
            Tok::Op("!") | Tok::Op("->") => t.spaced,
            Tok::Op("-") => {
                t.spaced
                    && !self.peek_at(1).spaced
                    && matches!(self.peek_at(1).tok, Tok::Int(_) | Tok::Float(_))
            }
            _ => false,
        }
    }

    fn block(&mut self) -> Result<Option<Vec<Node>>, Skip> {
        let close = if self.is_op("{") {
            "}"
        } else if self.is_word("do") {
            "end"
        } else {
            return Ok(None);
        };
        let open_line = self.bump().line;
        // Block parameters `|x|` are read and ignored.
        if self.eat_op("|") {
            while !self.eat_op("|") {
                if matches!(self.peek().tok, Tok::Newline | Tok::Eof) {
                    return Err(Skip);
                }
                self.bump();
            }
        }
        let body = match self.statements(&[]) {
            Ok(body) => body,
            Err(fault) => {
                self.fatal.get_or_insert(fault);
                return Err(Skip);
            }
        };
        self.skip_newlines();
        let closed = if close == "}" {
            self.eat_op("}")
        } else if self.is_word("end") {
            self.bump();
            true
        } else {
            false
        };
        if !closed {
            let _ = open_line;
            return Err(Skip);
        }
        Ok(Some(body))
    }

    fn primary(&mut self) -> Result<Node, Skip> {
        let token = self.bump();
        let line = token.line;
        let expr = match &token.tok {
            Tok::Int(n) => Expr::Int(*n),
            Tok::Float(f) => Expr::Float(*f),
            Tok::Str { text, interpolated } => self.joined(text.clone(), *interpolated),
            Tok::Sym(s) => Expr::Sym(s.clone()),
            Tok::Regex { source, flags } => Expr::Regex {
                source: source.clone(),
                flags: flags.clone(),
            },
            Tok::Words(words) => Expr::Array(
                words
                    .iter()
                    .map(|w| Node {
                        expr: Expr::Str {
                            text: w.clone(),
                            interpolated: false,
                        },
                        line,
                    })
                    .collect(),
            ),
            Tok::Const(name) => {
                if self.is_op("(") && !self.peek().spaced {
                    return self.call(None, name.clone(), line);
                }
                Expr::Const(name.clone())
            }
            Tok::Op("(") => {
                self.skip_newlines_only();
                let inner = self.nest(|p| p.expr())?;
                self.skip_newlines_only();
                if !self.eat_op(")") {
                    return Err(Skip);
                }
                return Ok(inner);
            }
            Tok::Op("[") => Expr::Array(self.list_until("]")?),
            Tok::Op("{") => self.hash_literal()?,
            Tok::Op("->") => {
                let block = self.block()?.ok_or(Skip)?;
                Expr::Call {
                    recv: None,
                    name: "lambda".into(),
                    args: Vec::new(),
                    block: Some(block),
                }
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "nil" => Expr::Nil,
                "end" | "do" | "then" | "else" | "elsif" | "if" | "unless" | "and" | "or" => {
                    return Err(Skip)
                }
                _ => return self.call(None, word.clone(), line),
            },
            _ => return Err(Skip),
        };
        Ok(Node { expr, line })
    }
}

impl Parser<'_> {
    /// A string literal and those right after it, joined: "a" "b".
    fn joined(&mut self, mut text: String, mut interpolated: bool) -> Expr {
        while let Tok::Str {
            text: more,
            interpolated: i,
        } = &self.peek().tok
        {
            text.push_str(more);
            interpolated |= i;
            self.bump();
        }
        Expr::Str { text, interpolated }
    }

    /// A hash literal where a value is expected.
    fn hash_literal(&mut self) -> Result<Expr, Skip> {
        let mut items = self.list_until("}")?;
        match items.pop() {
            Some(Node {
                expr: Expr::Hash(pairs),
                ..
            }) if items.is_empty() => Ok(Expr::Hash(pairs)),
            None => Ok(Expr::Hash(Vec::new())),
            _ => Err(Skip),
        }
    }
}

fn binary(op: &'static str, left: Node, right: Node, line: u32) -> Node {
    Node {
        expr: Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        line,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokens;
    use super::*;

    fn parse(text: &str) -> Vec<Node> {
        program(&tokens(text).unwrap(), text).unwrap()
    }

    fn call_name(node: &Node) -> &str {
        match &node.expr {
            Expr::Call { name, .. } => name,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn calls_blocks_and_predicates() {
        let text = r#"
person("alice") {
  email "alice@example.com"
  urgent { sms || email }
}
alert_group "web" do
  level URGENT
  includes { source =~ /web/ && importance >= 50 }
  notify("ops", "bob") { every 10.minutes; during { hours_in_day(9..17) } }
end
people_list "ops", %w(alice bob)
"#;
        let body = parse(text);
        assert_eq!(body.len(), 3);
        assert_eq!(
            body.iter().map(call_name).collect::<Vec<_>>(),
            ["person", "alert_group", "people_list"]
        );
        let Expr::Call {
            block: Some(group),
            args,
            ..
        } = &body[1].expr
        else {
            panic!()
        };
        assert_eq!(args.len(), 1);
        assert_eq!(group.len(), 3);
        assert_eq!(group[2].line, 9);
        let Expr::Call {
            args: people,
            block: Some(notify),
            ..
        } = &group[2].expr
        else {
            panic!()
        };
        assert_eq!(people.len(), 2);
        assert_eq!(notify.len(), 2);
        let Expr::Call { args, .. } = &body[2].expr else {
            panic!()
        };
        assert!(matches!(&args[1].expr, Expr::Array(a) if a.len() == 2));
    }

    #[test]
    fn ruby_code_is_kept_as_text_and_the_rest_is_read() {
        let text = "x = 5\nif x > 3\n  person(\"a\") { }\nend\nlevel LOW\nfoo 1 if bar\n";
        let body = parse(text);
        assert_eq!(body.len(), 4);
        assert_eq!(body[0].expr, Expr::Opaque("x = 5".into()));
        assert_eq!(body[1].expr, Expr::Opaque("if x > 3".into()));
        assert_eq!(body[2].line, 5);
        assert_eq!(body[3].expr, Expr::Opaque("foo 1 if bar".into()));
    }

    #[test]
    fn a_block_that_never_ends_is_a_fault_with_its_line() {
        let text = "person \"a\" do\n  email \"x\"\n";
        let fault = program(&tokens(text).unwrap(), text).unwrap_err();
        assert!(
            fault.what.contains("never ends") || fault.what.contains("end"),
            "{fault:?}"
        );
    }
}
