//! The parser: a hand-written recursive descent over the preprocessed tokens,
//! producing [`Program`]. A broken statement is reported and skipped up
//! to its `.`, so one run reports every broken statement.

use std::path::Path;

use trellis_value::{BinaryOp, UnaryOp, Value};

use crate::ast::{
    AggregateKind, Assign, Atom, BodyElem, Channel, ChannelDecl, Expr, ExprKind, External, Fact,
    Ident, KeyField, Lattice, LatticeDecl, Lifetime, LocationStyle, Materialize, MaxSize, Program,
    Rule, Semantics, SemanticsDecl, Statement, Trace, Watch,
};
use crate::error::SyntaxError;
use crate::lexer::{Punct, Token, TokenKind};
use crate::preprocess::{ParseOptions, Root, preprocess};
use crate::source::{SourceMap, Span};

/// A successfully parsed program and the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub program: Program,
    pub warnings: Vec<SyntaxError>,
}

/// Read, preprocess and parse a file; includes resolve relative to it.
///
/// On failure the list holds every error, in source order; warnings are
/// dropped then, as the errors come first.
pub fn parse_file(
    path: &Path,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<Parsed, Vec<SyntaxError>> {
    let shown = path.display().to_string();
    let read = std::fs::read_to_string(path).and_then(|text| Ok((text, path.canonicalize()?)));
    match read {
        Ok((text, canonical)) => {
            let file = sources.add(shown, text);
            let dir = path.parent().unwrap_or(Path::new(""));
            let root = Root {
                file,
                dir,
                canonical: Some(canonical),
            };
            parse_root(root, options, sources)
        }
        Err(e) => {
            let file = sources.add(shown.clone(), "");
            let span = Span::new(file, 0, 0);
            Err(vec![if e.kind() == std::io::ErrorKind::InvalidData {
                SyntaxError::NotUtf8 { path: shown, span }
            } else {
                SyntaxError::ReadFile {
                    path: shown,
                    reason: e.to_string(),
                    span,
                }
            }])
        }
    }
}

/// The same for text in memory (`name` is shown in diagnostics; includes
/// resolve relative to the current directory).
pub fn parse_str(
    name: &str,
    text: &str,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<Parsed, Vec<SyntaxError>> {
    let file = sources.add(name, text);
    let root = Root {
        file,
        dir: Path::new(""),
        canonical: None,
    };
    parse_root(root, options, sources)
}

/// One atom on its own, with or without a final `.` (a `trellis why`
/// pattern): anything after it is an error.
pub(crate) fn parse_atom_str(
    name: &str,
    text: &str,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<Atom, Vec<SyntaxError>> {
    let file = sources.add(name, text);
    let root = Root {
        file,
        dir: Path::new(""),
        canonical: None,
    };
    let mut diags = Vec::new();
    let tokens = preprocess(root, options, sources, &mut diags);
    let atom = {
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
            sources,
            diags: &mut diags,
            depth: 0,
        };
        let atom = parser.atom();
        if atom.is_ok() {
            parser.eat(Punct::Dot);
            let token = parser.peek().clone();
            if token.kind != TokenKind::Eof {
                parser.diags.push(SyntaxError::UnexpectedToken {
                    expected: "the end of the pattern".to_string(),
                    found: token.kind.to_string(),
                    hint: "a pattern is one atom, such as `lookupResults(@\"n3:9000\", K, _, _)`"
                        .to_string(),
                    span: token.span,
                });
            }
        }
        atom
    };
    diags.retain(|d| !d.is_warning());
    diags.sort_by_key(|d| d.span().start);
    match atom {
        Ok(atom) if diags.is_empty() => Ok(atom),
        _ => Err(diags),
    }
}

fn parse_root(
    root: Root<'_>,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<Parsed, Vec<SyntaxError>> {
    let mut diags = Vec::new();
    let tokens = preprocess(root, options, sources, &mut diags);
    let program = Parser {
        tokens: &tokens,
        pos: 0,
        sources,
        diags: &mut diags,
        depth: 0,
    }
    .program();
    diags.sort_by_key(|d| {
        let span = d.span();
        (span.file, span.start)
    });
    let (warnings, errors): (Vec<_>, Vec<_>) = diags.into_iter().partition(SyntaxError::is_warning);
    if errors.is_empty() {
        Ok(Parsed { program, warnings })
    } else {
        Err(errors)
    }
}

/// Words kept for the extensions that come next (docs/language.md §1).
const RESERVED: [&str; 5] = ["choose", "objective", "durable", "channel", "invariant"];
/// Expression nesting bound, so that no input can overflow the stack of the
/// parser or of later passes that walk the tree.
const MAX_NESTING: usize = 256;
/// `map(...)` levels: each takes two of a value's 32 levels of lists.
const MAX_LATTICE_DEPTH: usize = 15;
const IN_PRECEDENCE: u8 = 7;
/// P2's `watchmod` letters (its user guide's "Watches"), and `e`.
const WATCH_LETTERS: &str = "irdcpazsbjhe";

/// `Err(())` means the error is already in `diags`.
type PResult<T> = Result<T, ()>;

/// C precedence, lowest first; `in` shares the relational level.
fn binary_op(kind: &TokenKind) -> Option<(BinaryOp, u8)> {
    let TokenKind::Punct(p) = kind else {
        return None;
    };
    Some(match p {
        Punct::OrOr => (BinaryOp::Or, 1),
        Punct::AndAnd => (BinaryOp::And, 2),
        Punct::Pipe => (BinaryOp::BitOr, 3),
        Punct::Caret => (BinaryOp::BitXor, 4),
        Punct::Amp => (BinaryOp::BitAnd, 5),
        Punct::EqEq => (BinaryOp::Eq, 6),
        Punct::Ne => (BinaryOp::Ne, 6),
        Punct::Lt => (BinaryOp::Lt, IN_PRECEDENCE),
        Punct::Le => (BinaryOp::Le, IN_PRECEDENCE),
        Punct::Gt => (BinaryOp::Gt, IN_PRECEDENCE),
        Punct::Ge => (BinaryOp::Ge, IN_PRECEDENCE),
        Punct::Shl => (BinaryOp::Shl, 8),
        Punct::Shr => (BinaryOp::Shr, 8),
        Punct::Plus => (BinaryOp::Add, 9),
        Punct::Minus => (BinaryOp::Sub, 9),
        Punct::Star => (BinaryOp::Mul, 10),
        Punct::Slash => (BinaryOp::Div, 10),
        Punct::Percent => (BinaryOp::Mod, 10),
        _ => return None,
    })
}

/// `min`, `a_MIN`, `A_Count`...: the aggregate a word names, in any case,
/// with or without P2's `a_` prefix.
fn aggregate_kind(word: &str) -> Option<AggregateKind> {
    let base = match word.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("a_") => &word[2..],
        _ => word,
    };
    match base.to_ascii_lowercase().as_str() {
        "min" => Some(AggregateKind::Min),
        "max" => Some(AggregateKind::Max),
        "count" => Some(AggregateKind::Count),
        "sum" => Some(AggregateKind::Sum),
        "avg" => Some(AggregateKind::Avg),
        _ => None,
    }
}

fn is_function(name: &str) -> bool {
    name.len() > 2 && name.starts_with("f_")
}

/// Lower-case words that start an expression, never a predicate.
fn is_expression_word(name: &str) -> bool {
    is_function(name) || matches!(name, "null" | "true" | "false" | "infinity" | "in")
}

/// The first aggregate inside an expression, if any.
fn find_aggregate(expr: &Expr) -> Option<Span> {
    expr.subexpressions()
        .into_iter()
        .find(|e| matches!(e.kind, ExprKind::Aggregate(..)))
        .map(|e| e.span)
}

/// A number or `infinity`, as `materialize` takes them.
enum Bound {
    Int(i64),
    Float(f64),
    Infinite,
}

struct Parser<'a> {
    /// Never empty: it ends with `Eof`.
    tokens: &'a [Token],
    pos: usize,
    sources: &'a SourceMap,
    diags: &'a mut Vec<SyntaxError>,
    /// Current expression nesting (see [`MAX_NESTING`]).
    depth: usize,
}

impl Parser<'_> {
    // ---- token access ----------------------------------------------------

    fn peek_at(&self, ahead: usize) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.pos + ahead).min(last)]
    }

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    /// The last token consumed (the first token when none was).
    fn prev_span(&self) -> Span {
        self.tokens
            .get(self.pos.saturating_sub(1))
            .map_or(self.peek().span, |t| t.span)
    }

    fn eat(&mut self, p: Punct) -> Option<Span> {
        self.peek().is(p).then(|| self.bump().span)
    }

    fn expect(&mut self, p: Punct) -> PResult<Span> {
        match self.eat(p) {
            Some(span) => Ok(span),
            None => self.unexpected(&format!("`{}`", p.symbol())),
        }
    }

    /// Report the current token as unexpected, unless it is the remains of
    /// an error already reported.
    fn unexpected<T>(&mut self, expected: &str) -> PResult<T> {
        let token = self.peek();
        if token.kind != TokenKind::Error {
            let error = SyntaxError::unexpected(expected, token.kind.to_string(), token.span);
            self.diags.push(error);
        }
        Err(())
    }

    /// A lower-case name where an expression was expected: likely meant as
    /// a variable, which starts with an upper-case letter.
    fn lower_case_variable<T>(&mut self, name: &str) -> PResult<T> {
        let token = self.peek();
        let mut chars = name.chars();
        let upper: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        let mut error =
            SyntaxError::unexpected("an expression", token.kind.to_string(), token.span);
        if let SyntaxError::UnexpectedToken { hint, .. } = &mut error {
            *hint = format!(
                "variables start with an upper-case letter: `{upper}`; a string is quoted: `\"{name}\"`"
            );
        }
        self.diags.push(error);
        Err(())
    }

    /// Like [`Self::unexpected`], where a closing bracket can only be unmatched.
    fn unexpected_here<T>(&mut self, expected: &str) -> PResult<T> {
        let token = self.peek();
        let close = match token.kind {
            TokenKind::Punct(Punct::RParen) => ')',
            TokenKind::Punct(Punct::RBracket) => ']',
            _ => return self.unexpected(expected),
        };
        self.diags.push(SyntaxError::UnmatchedClose {
            close,
            span: token.span,
        });
        Err(())
    }

    /// A list opened by the `(` at `open` continues with neither `,` nor `)`.
    fn unclosed<T>(&mut self, open: Span) -> PResult<T> {
        let token = self.peek();
        if token.kind != TokenKind::Error {
            self.diags.push(SyntaxError::UnclosedDelimiter {
                found: token.kind.to_string(),
                span: token.span,
                open_span: (open.file == token.span.file).then_some(open),
            });
        }
        Err(())
    }

    fn nest(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            let span = self.peek().span;
            self.diags.push(SyntaxError::NestingTooDeep { span });
            return Err(());
        }
        Ok(())
    }

    // ---- statements --------------------------------------------------------

    fn program(mut self) -> Program {
        let mut statements = Vec::new();
        while self.peek().kind != TokenKind::Eof {
            let start = self.pos;
            self.depth = 0;
            match self.statement() {
                Ok(statement) => statements.push(statement),
                Err(()) => self.recover(start),
            }
        }
        Program { statements }
    }

    /// Skip the rest of a broken statement: up to a `.` at bracket depth 0
    /// (counted from the statement's start), or a `.` that ends its line,
    /// which is the likely end when a bracket was left open.
    fn recover(&mut self, start: usize) {
        let mut depth = 0i32;
        for j in start..self.tokens.len() {
            let token = &self.tokens[j];
            match token.kind {
                TokenKind::Eof => {
                    self.pos = j;
                    return;
                }
                TokenKind::Punct(Punct::LParen | Punct::LBracket) => depth += 1,
                TokenKind::Punct(Punct::RParen | Punct::RBracket) => depth -= 1,
                TokenKind::Punct(Punct::Dot)
                    if j >= self.pos
                        && (depth <= 0 || self.tokens.get(j + 1).is_none_or(|t| t.line_start)) =>
                {
                    self.pos = j + 1;
                    return;
                }
                _ => {}
            }
        }
        self.pos = self.tokens.len().saturating_sub(1);
    }

    fn statement(&mut self) -> PResult<Statement> {
        let first = self.peek().clone();
        let second = self.peek_at(1).clone();
        if let TokenKind::Name(word) = &first.kind
            && second.is(Punct::LParen)
        {
            match word.as_str() {
                "materialize" => return self.materialize(),
                "watch" | "watchmod" => return self.watch(),
                "trace" => return self.trace(),
                "channel" => return self.channel(),
                // Only as `external(name)`: a relation may be called
                // `external` in a P2 program.
                "external"
                    if matches!(self.peek_at(2).kind, TokenKind::Name(_))
                        && self.peek_at(3).is(Punct::RParen) =>
                {
                    return self.external();
                }
                // `lattice(name, N, ...)`: a lower-case name first, which no
                // fact or rule can have, so a relation may be called `lattice`.
                "lattice"
                    if matches!(self.peek_at(2).kind, TokenKind::Name(_))
                        && self.peek_at(3).is(Punct::Comma) =>
                {
                    return self.lattice();
                }
                // `semantics(NAME).` with a lower-case name, which no fact
                // or rule can be: a relation may still be called `semantics`.
                "semantics"
                    if matches!(self.peek_at(2).kind, TokenKind::Name(_))
                        && self.peek_at(3).is(Punct::RParen) =>
                {
                    return self.semantics();
                }
                _ => {}
            }
        }
        // `name head :- ...` or `name delete head :- ...`: a rule name.
        let name = match (&first.kind, &second.kind) {
            (TokenKind::Name(n), _) if n == "delete" => None,
            (TokenKind::Name(n) | TokenKind::Var(n), TokenKind::Name(_) | TokenKind::Var(_)) => {
                self.bump();
                self.check_reserved(n, first.span);
                Some(Ident {
                    name: n.clone(),
                    span: first.span,
                })
            }
            _ => None,
        };
        let delete = self.peek().is_name("delete").then(|| self.bump().span);
        let head = self.atom()?;
        if self.eat(Punct::ColonDash).is_some() {
            if self.peek().is(Punct::Dot) {
                let span = self.peek().span;
                self.diags.push(SyntaxError::MissingBody { span });
                return Err(());
            }
            let mut body = vec![self.body_elem()?];
            while self.eat(Punct::Comma).is_some() {
                body.push(self.body_elem()?);
            }
            let end = self.end_statement("`,` or `.`")?;
            self.check_head(&head);
            return Ok(Statement::Rule(Rule {
                name,
                delete,
                head,
                body,
                span: first.span.to(end),
            }));
        }
        if name.is_some() || delete.is_some() {
            if self.peek().is(Punct::Dot) {
                let span = self.peek().span;
                self.diags.push(SyntaxError::MissingBody { span });
                return Err(());
            }
            return self.unexpected_here("`:-`");
        }
        let end = self.end_statement("`.` or `:-`")?;
        self.check_fact(&head);
        Ok(Statement::Fact(Fact {
            atom: head,
            span: first.span.to(end),
        }))
    }

    /// The statement's final `.`. When it is missing but the next token starts
    /// a line, report it and carry on as if it were there: the next line is
    /// most likely the next statement.
    fn end_statement(&mut self, expected: &str) -> PResult<Span> {
        if let Some(dot) = self.eat(Punct::Dot) {
            return Ok(dot);
        }
        if self.peek().line_start {
            let prev = self.prev_span();
            self.diags.push(SyntaxError::MissingDot {
                span: Span::new(prev.file, prev.end as usize, prev.end as usize),
            });
            return Ok(prev);
        }
        self.unexpected_here(expected)
    }

    fn check_reserved(&mut self, word: &str, span: Span) {
        if RESERVED.contains(&word) {
            self.diags.push(SyntaxError::ReservedWord {
                word: word.to_string(),
                span,
            });
        }
    }

    fn relation_name(&mut self) -> PResult<Ident> {
        let token = self.peek().clone();
        let name = match token.kind {
            TokenKind::Name(n) => {
                self.check_reserved(&n, token.span);
                if is_function(&n) {
                    self.diags.push(SyntaxError::InvalidRelationName {
                        name: n.clone(),
                        span: token.span,
                    });
                }
                n
            }
            TokenKind::Var(n) | TokenKind::NodeParam(n) => {
                self.diags.push(SyntaxError::InvalidRelationName {
                    name: n.clone(),
                    span: token.span,
                });
                n
            }
            _ => return self.unexpected("a relation name"),
        };
        self.bump();
        Ok(Ident {
            name,
            span: token.span,
        })
    }

    /// `materialize(name, lifetime, max_size[, keys(k1, k2:type, ...)]).`
    fn materialize(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        let open = self.bump().span;
        let name = self.relation_name()?;
        self.expect(Punct::Comma)?;
        let lifetime_span = self.peek().span;
        let lifetime = match self.bound()? {
            Some(Bound::Int(i)) => Lifetime::Seconds(i as f64),
            Some(Bound::Float(f)) => Lifetime::Seconds(f),
            Some(Bound::Infinite) => Lifetime::Infinite,
            None => {
                self.diags.push(SyntaxError::BadLifetime {
                    span: lifetime_span,
                });
                return Err(());
            }
        };
        let lifetime_span = lifetime_span.to(self.prev_span());
        self.expect(Punct::Comma)?;
        let max_size_span = self.peek().span;
        let max_size = match self.bound()? {
            Some(Bound::Int(i)) => MaxSize::Count(i),
            Some(Bound::Infinite) => MaxSize::Infinite,
            bound => {
                // Cover a whole float such as `-1.5`; nothing was read otherwise.
                let span = match bound {
                    Some(_) => max_size_span.to(self.prev_span()),
                    None => max_size_span,
                };
                self.diags.push(SyntaxError::BadMaxSize { span });
                return Err(());
            }
        };
        let max_size_span = max_size_span.to(self.prev_span());
        let keys = if self.eat(Punct::Comma).is_some() {
            Some(self.keys()?)
        } else {
            None
        };
        if self.eat(Punct::RParen).is_none() {
            return self.unclosed(open);
        }
        let end = self.end_statement("`.`")?;
        Ok(Statement::Materialize(Materialize {
            name,
            lifetime,
            lifetime_span,
            max_size,
            max_size_span,
            keys,
            span: start.to(end),
        }))
    }

    /// A possibly negative number literal or `infinity`; `None` (nothing
    /// consumed) for anything else.
    fn bound(&mut self) -> PResult<Option<Bound>> {
        if self.peek().is_name("infinity") {
            self.bump();
            return Ok(Some(Bound::Infinite));
        }
        let negative = self.peek().is(Punct::Minus);
        let number = self.peek_at(usize::from(negative)).clone();
        let bound = match number.kind {
            TokenKind::Int(magnitude) => {
                Bound::Int(self.int_value(magnitude, negative, number.span)?)
            }
            TokenKind::Float(f) => Bound::Float(if negative { -f } else { f }),
            _ => return Ok(None),
        };
        if negative {
            self.bump();
        }
        self.bump();
        Ok(Some(bound))
    }

    /// The value of an integer literal (see `TokenKind::Int`).
    fn int_value(&mut self, magnitude: u64, negative: bool, span: Span) -> PResult<i64> {
        let value = if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        };
        value.ok_or_else(|| self.diags.push(SyntaxError::IntegerTooLarge { span }))
    }

    /// `keys(...)`, after the comma that precedes it.
    fn keys(&mut self) -> PResult<Vec<KeyField>> {
        if !(self.peek().is_name("keys") && self.peek_at(1).is(Punct::LParen)) {
            let span = self.peek().span;
            self.diags.push(SyntaxError::BadKeys { span });
            return Err(());
        }
        self.bump();
        let open = self.bump().span;
        let mut keys = Vec::new();
        if self.eat(Punct::RParen).is_some() {
            return Ok(keys);
        }
        loop {
            let token = self.peek().clone();
            let TokenKind::Int(magnitude) = token.kind else {
                self.diags.push(SyntaxError::BadKeys { span: token.span });
                return Err(());
            };
            let position = self.int_value(magnitude, false, token.span)?;
            self.bump();
            // A P2 type tag (`2:int32`): accepted and ignored.
            if self.eat(Punct::Colon).is_some() {
                match self.peek().kind {
                    TokenKind::Name(_) | TokenKind::Var(_) => {
                        self.bump();
                    }
                    _ => return self.unexpected("a type name such as `int32`"),
                }
            }
            keys.push(KeyField {
                position,
                span: token.span,
            });
            if self.eat(Punct::Comma).is_some() {
                continue;
            }
            if self.eat(Punct::RParen).is_some() {
                return Ok(keys);
            }
            return self.unclosed(open);
        }
    }

    /// `watch(name).` or `watchmod(name, "letters").`
    fn watch(&mut self) -> PResult<Statement> {
        let keyword = self.bump();
        self.bump();
        let relation = self.relation_name()?;
        let modes = if keyword.is_name("watchmod") {
            self.expect(Punct::Comma)?;
            let token = self.peek().clone();
            let TokenKind::Str(letters) = token.kind else {
                return self.unexpected("a string of watch letters such as \"id\"");
            };
            self.bump();
            self.check_watch_letters(&letters, token.span);
            Some((letters, token.span))
        } else {
            None
        };
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::Watch(Watch {
            relation,
            modes,
            span: keyword.span.to(end),
        }))
    }

    fn check_watch_letters(&mut self, letters: &str, span: Span) {
        // Point at the letter itself when the string is written plainly
        // (no escapes, not from a macro); otherwise at the whole string.
        let plain = self.sources.snippet(span).len() == letters.len() + 2;
        for (offset, letter) in letters.char_indices() {
            if !WATCH_LETTERS.contains(letter) {
                let span = if plain {
                    let start = span.start as usize + 1 + offset;
                    Span::new(span.file, start, start + letter.len_utf8())
                } else {
                    span
                };
                self.diags
                    .push(SyntaxError::UnknownWatchmodLetter { letter, span });
            }
        }
    }

    /// `trace(name).`
    fn trace(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        self.bump();
        let relation = self.relation_name()?;
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::Trace(Trace {
            relation,
            span: start.to(end),
        }))
    }

    /// `external(name).`
    fn external(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        self.bump();
        let relation = self.relation_name()?;
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::External(External {
            relation,
            span: start.to(end),
        }))
    }

    /// `channel(name, udp).` or `channel(name, tcp).`
    fn channel(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        self.bump();
        let relation = self.relation_name()?;
        self.expect(Punct::Comma)?;
        let token = self.peek().clone();
        let channel = match &token.kind {
            TokenKind::Name(n) if n == "udp" => Channel::Udp,
            TokenKind::Name(n) if n == "tcp" => Channel::Tcp,
            TokenKind::Name(n) => {
                self.diags.push(SyntaxError::UnknownChannel {
                    name: n.clone(),
                    span: token.span,
                });
                return Err(());
            }
            _ => return self.unexpected("a transport: `udp` or `tcp`"),
        };
        self.bump();
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::Channel(ChannelDecl {
            relation,
            channel,
            channel_span: token.span,
            span: start.to(end),
        }))
    }

    /// `lattice(name, position, kind).`
    fn lattice(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        self.bump();
        let relation = self.relation_name()?;
        self.expect(Punct::Comma)?;
        let token = self.peek().clone();
        let TokenKind::Int(position) = token.kind else {
            return self.unexpected("a field position (1 is the location)");
        };
        self.bump();
        self.expect(Punct::Comma)?;
        let lattice_start = self.peek().span;
        let lattice = self.lattice_kind(0)?;
        let lattice_span = lattice_start.to(self.tokens[self.pos - 1].span);
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::Lattice(LatticeDecl {
            relation,
            position: i64::try_from(position).unwrap_or(i64::MAX),
            position_span: token.span,
            lattice,
            lattice_span,
            span: start.to(end),
        }))
    }

    /// `max`, `set`, `map(max)`, `map(map(set))`, ...
    fn lattice_kind(&mut self, depth: usize) -> PResult<Lattice> {
        let token = self.peek().clone();
        let TokenKind::Name(name) = &token.kind else {
            return self.unexpected(
                "a lattice: `max`, `min`, `bool`, `set`, `map(...)`, `gcounter`, `pncounter`",
            );
        };
        if name == "map" && self.peek_at(1).is(Punct::LParen) {
            if depth >= MAX_LATTICE_DEPTH {
                self.diags
                    .push(SyntaxError::LatticeTooDeep { span: token.span });
                return Err(());
            }
            self.bump();
            self.bump();
            let inner = self.lattice_kind(depth + 1)?;
            self.expect(Punct::RParen)?;
            return Ok(Lattice::Map(Box::new(inner)));
        }
        let Some(lattice) = Lattice::simple(name) else {
            self.diags.push(SyntaxError::UnknownLattice {
                name: name.clone(),
                span: token.span,
            });
            return Err(());
        };
        self.bump();
        Ok(lattice)
    }

    /// `semantics(tick).` or `semantics(p2).`
    fn semantics(&mut self) -> PResult<Statement> {
        let start = self.bump().span;
        self.bump();
        let token = self.bump();
        let TokenKind::Name(name) = &token.kind else {
            unreachable!("checked by the caller")
        };
        let Some(semantics) = Semantics::from_name(name) else {
            self.diags.push(SyntaxError::UnknownSemantics {
                name: name.clone(),
                span: token.span,
            });
            return Err(());
        };
        self.expect(Punct::RParen)?;
        let end = self.end_statement("`.`")?;
        Ok(Statement::Semantics(SemanticsDecl {
            semantics,
            semantics_span: token.span,
            span: start.to(end),
        }))
    }

    // ---- atoms and body ----------------------------------------------------

    /// `p(@L, ...)`, `p@L(L, ...)` or `p(L, ...)`. Arguments are parsed as
    /// expressions; the caller checks what its position allows.
    fn atom(&mut self) -> PResult<Atom> {
        let relation = self.relation_name()?;
        let location = match self.eat(Punct::At) {
            Some(_) => Some(self.primary()?),
            None => None,
        };
        let open = self.expect(Punct::LParen)?;
        if let Some(close) = self.eat(Punct::RParen) {
            self.diags.push(SyntaxError::EmptyAtom {
                relation: relation.name,
                span: open.to(close),
            });
            return Err(());
        }
        let mut args = Vec::new();
        let mut first_at = false;
        let close = loop {
            if let Some(at) = self.eat(Punct::At) {
                if args.is_empty() {
                    first_at = true;
                } else {
                    self.diags.push(SyntaxError::MisplacedAt { span: at });
                }
            }
            args.push(self.expr()?);
            if self.eat(Punct::Comma).is_some() {
                continue;
            }
            match self.eat(Punct::RParen) {
                Some(close) => break close,
                None => return self.unclosed(open),
            }
        };
        let location_style = if let Some(location) = location {
            let first = &args[0];
            // SOSP 2005's Chord sends to the least of several addresses:
            // `lookup@BI(min<BI>, K, R, E)`.
            let aggregated = matches!((&first.kind, &location.kind),
                (ExprKind::Aggregate(_, Some(v)), ExprKind::Var(l)) if v.name == *l);
            if first.kind != location.kind && !aggregated {
                self.diags.push(SyntaxError::LocationMismatch {
                    location: self.sources.snippet(location.span).to_string(),
                    first: self.sources.snippet(first.span).to_string(),
                    span: first.span,
                    location_span: (location.span.file == first.span.file).then_some(location.span),
                });
            }
            LocationStyle::Suffix
        } else if first_at {
            LocationStyle::At
        } else {
            LocationStyle::Plain
        };
        Ok(Atom {
            span: relation.span.to(close),
            relation,
            args,
            location_style,
        })
    }

    fn body_elem(&mut self) -> PResult<BodyElem> {
        let token = self.peek().clone();
        let next = self.peek_at(1);
        let (paren, assign) = (next.is(Punct::LParen), next.is(Punct::Assign));
        let starts_atom = paren || next.is(Punct::At);
        match &token.kind {
            TokenKind::Name(n) if n == "notin" => {
                self.bump();
                let atom = self.atom()?;
                self.check_body_atom(&atom);
                let span = token.span.to(atom.span);
                Ok(BodyElem::NotIn(atom, span))
            }
            TokenKind::Name(n) if starts_atom && !is_expression_word(n) => {
                let atom = self.atom()?;
                self.check_body_atom(&atom);
                Ok(BodyElem::Atom(atom))
            }
            // An upper-case predicate: let `atom` explain relation names.
            TokenKind::Var(_) if paren => {
                let atom = self.atom()?;
                self.check_body_atom(&atom);
                Ok(BodyElem::Atom(atom))
            }
            TokenKind::Var(v) if assign => {
                self.bump();
                self.bump();
                let value = self.expr()?;
                self.check_no_aggregate(&value);
                Ok(BodyElem::Assign(Assign {
                    var: Ident {
                        name: v.clone(),
                        span: token.span,
                    },
                    span: token.span.to(value.span),
                    value,
                }))
            }
            _ => {
                let condition = self.expr()?;
                self.check_no_aggregate(&condition);
                Ok(BodyElem::Condition(condition))
            }
        }
    }

    /// Body predicates take variables, constants and `_` only.
    fn check_body_atom(&mut self, atom: &Atom) {
        for arg in &atom.args {
            match arg.kind {
                ExprKind::Var(_)
                | ExprKind::Wildcard
                | ExprKind::Literal(_)
                | ExprKind::NodeParam(_) => {}
                ExprKind::Aggregate(..) => self
                    .diags
                    .push(SyntaxError::AggregateOutsideHead { span: arg.span }),
                _ => self
                    .diags
                    .push(SyntaxError::ExpressionInBodyAtom { span: arg.span }),
            }
        }
    }

    /// Head fields: any expression, or an aggregate as a whole field.
    fn check_head(&mut self, head: &Atom) {
        for arg in &head.args {
            if matches!(arg.kind, ExprKind::Aggregate(..)) {
                continue;
            }
            if let Some(span) = find_aggregate(arg) {
                self.diags.push(SyntaxError::AggregateInExpression { span });
            }
        }
    }

    fn check_no_aggregate(&mut self, expr: &Expr) {
        if let Some(span) = find_aggregate(expr) {
            self.diags.push(SyntaxError::AggregateOutsideHead { span });
        }
    }

    /// Facts hold constants and macros only.
    fn check_fact(&mut self, atom: &Atom) {
        for arg in &atom.args {
            let error = match &arg.kind {
                ExprKind::Literal(_) | ExprKind::NodeParam(_) => continue,
                ExprKind::Var(name) => SyntaxError::VariableInFact {
                    name: name.clone(),
                    span: arg.span,
                },
                ExprKind::Aggregate(..) => SyntaxError::AggregateOutsideHead { span: arg.span },
                _ => SyntaxError::NonConstantInFact { span: arg.span },
            };
            self.diags.push(error);
        }
    }

    // ---- expressions -------------------------------------------------------

    fn expr(&mut self) -> PResult<Expr> {
        let saved = self.depth;
        self.nest()?;
        let expr = self.binary(1)?;
        self.depth = saved;
        Ok(expr)
    }

    /// Precedence climbing over [`binary_op`]; every operator in a chain
    /// counts as a nesting level, which bounds the tree's height.
    fn binary(&mut self, min_precedence: u8) -> PResult<Expr> {
        let saved = self.depth;
        let mut lhs = self.unary()?;
        loop {
            if self.peek().is_name("in") {
                if IN_PRECEDENCE < min_precedence {
                    break;
                }
                self.bump();
                self.nest()?;
                lhs = self.interval(lhs)?;
                continue;
            }
            let Some((op, precedence)) = binary_op(&self.peek().kind) else {
                break;
            };
            if precedence < min_precedence {
                break;
            }
            self.bump();
            self.nest()?;
            let rhs = self.binary(precedence + 1)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        self.depth = saved;
        Ok(lhs)
    }

    /// `(A, B)`, `(A, B]`, `[A, B)` or `[A, B]` after `value in`.
    fn interval(&mut self, value: Expr) -> PResult<Expr> {
        let low_closed = match self.peek().kind {
            TokenKind::Punct(Punct::LParen) => false,
            TokenKind::Punct(Punct::LBracket) => true,
            _ => return self.unexpected("`(` or `[` to start an interval"),
        };
        self.bump();
        let low = self.expr()?;
        if self.eat(Punct::Comma).is_none() {
            return self.unexpected("`,` between the bounds of the interval");
        }
        let high = self.expr()?;
        let high_closed = match self.peek().kind {
            TokenKind::Punct(Punct::RParen) => false,
            TokenKind::Punct(Punct::RBracket) => true,
            _ => return self.unexpected("`)` or `]` to close the interval"),
        };
        let close = self.bump().span;
        Ok(Expr {
            span: value.span.to(close),
            kind: ExprKind::In {
                value: Box::new(value),
                low: Box::new(low),
                high: Box::new(high),
                low_closed,
                high_closed,
            },
        })
    }

    /// Prefix `-` and `!`, read in a loop rather than by recursion. A `-`
    /// right before a number makes a negative literal.
    fn unary(&mut self) -> PResult<Expr> {
        let mut ops = Vec::new();
        loop {
            let op = match self.peek().kind {
                TokenKind::Punct(Punct::Minus) => UnaryOp::Neg,
                TokenKind::Punct(Punct::Bang) => UnaryOp::Not,
                _ => break,
            };
            ops.push((op, self.bump().span));
            self.nest()?;
        }
        let number = self.peek().clone();
        let negative = match (ops.last(), &number.kind) {
            (Some((UnaryOp::Neg, _)), TokenKind::Int(magnitude)) => {
                Some(Value::Int(self.int_value(*magnitude, true, number.span)?))
            }
            (Some((UnaryOp::Neg, _)), TokenKind::Float(f)) => Some(Value::Float(-f)),
            _ => None,
        };
        let mut expr = if let Some(value) = negative
            && let Some((_, minus)) = ops.pop()
        {
            self.bump();
            Expr {
                kind: ExprKind::Literal(value),
                span: minus.to(number.span),
            }
        } else {
            self.primary()?
        };
        for (op, span) in ops.into_iter().rev() {
            expr = Expr {
                span: span.to(expr.span),
                kind: ExprKind::Unary(op, Box::new(expr)),
            };
        }
        Ok(expr)
    }

    fn primary(&mut self) -> PResult<Expr> {
        let token = self.peek().clone();
        let kind = match &token.kind {
            TokenKind::Int(magnitude) => {
                ExprKind::Literal(Value::Int(self.int_value(*magnitude, false, token.span)?))
            }
            TokenKind::Float(f) => ExprKind::Literal(Value::Float(*f)),
            TokenKind::Id(id) => ExprKind::Literal(Value::Id(*id)),
            TokenKind::Str(s) => ExprKind::Literal(Value::str(s)),
            TokenKind::NodeParam(n) => ExprKind::NodeParam(n.clone()),
            TokenKind::Wildcard => ExprKind::Wildcard,
            TokenKind::Var(v) => match aggregate_kind(v) {
                // Upper-case spellings (`MIN<X>`) only where a comparison
                // could not be meant: a whole argument.
                Some(kind) if self.var_aggregate_follows() => return self.aggregate(kind),
                _ => ExprKind::Var(v.clone()),
            },
            TokenKind::Name(n) => match n.as_str() {
                "null" => ExprKind::Literal(Value::Null),
                "true" => ExprKind::Literal(Value::Bool(true)),
                "false" => ExprKind::Literal(Value::Bool(false)),
                "infinity" => ExprKind::Literal(Value::Float(f64::INFINITY)),
                _ if is_function(n) && self.peek_at(1).is(Punct::LParen) => {
                    return self.call(n.clone());
                }
                _ => match aggregate_kind(n) {
                    Some(kind) if self.peek_at(1).is(Punct::Lt) => return self.aggregate(kind),
                    _ => return self.lower_case_variable(n),
                },
            },
            TokenKind::Punct(Punct::LParen) => {
                self.bump();
                let inner = self.expr()?;
                let Some(close) = self.eat(Punct::RParen) else {
                    return self.unclosed(token.span);
                };
                return Ok(Expr {
                    kind: inner.kind,
                    span: token.span.to(close),
                });
            }
            _ => return self.unexpected("an expression"),
        };
        self.bump();
        Ok(Expr {
            kind,
            span: token.span,
        })
    }

    /// After an upper-case aggregate word: `<`, `*` or a variable, `>`, and
    /// the end of the argument.
    fn var_aggregate_follows(&self) -> bool {
        self.peek_at(1).is(Punct::Lt)
            && matches!(
                self.peek_at(2).kind,
                TokenKind::Punct(Punct::Star) | TokenKind::Var(_)
            )
            && self.peek_at(3).is(Punct::Gt)
            && (self.peek_at(4).is(Punct::Comma) || self.peek_at(4).is(Punct::RParen))
    }

    /// `min<X>`, `count<*>`, `a_MAX<X>`...
    fn aggregate(&mut self, kind: AggregateKind) -> PResult<Expr> {
        let name = self.bump();
        self.bump();
        let arg = self.peek().clone();
        let var = match &arg.kind {
            TokenKind::Punct(Punct::Star) => {
                if kind != AggregateKind::Count {
                    self.diags.push(SyntaxError::StarOutsideCount {
                        aggregate: self.sources.snippet(name.span).to_string(),
                        span: arg.span,
                    });
                }
                None
            }
            TokenKind::Var(v) => Some(Ident {
                name: v.clone(),
                span: arg.span,
            }),
            TokenKind::Error => return Err(()),
            other => {
                self.diags.push(SyntaxError::BadAggregateArgument {
                    found: other.to_string(),
                    span: arg.span,
                });
                return Err(());
            }
        };
        self.bump();
        let Some(close) = self.eat(Punct::Gt) else {
            return self.unexpected("`>` to close the aggregate");
        };
        Ok(Expr {
            kind: ExprKind::Aggregate(kind, var),
            span: name.span.to(close),
        })
    }

    /// `f_name(args)`.
    fn call(&mut self, function: String) -> PResult<Expr> {
        let name = self.bump();
        let open = self.bump().span;
        let mut args = Vec::new();
        let close = match self.eat(Punct::RParen) {
            Some(close) => close,
            None => loop {
                args.push(self.expr()?);
                if self.eat(Punct::Comma).is_some() {
                    continue;
                }
                match self.eat(Punct::RParen) {
                    Some(close) => break close,
                    None => return self.unclosed(open),
                }
            },
        };
        Ok(Expr {
            kind: ExprKind::Call(
                Ident {
                    name: function,
                    span: name.span,
                },
                args,
            ),
            span: name.span.to(close),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn parse_with(text: &str, options: &ParseOptions) -> Result<Parsed, Vec<SyntaxError>> {
        parse_str("test.olg", text, options, &mut SourceMap::new())
    }

    fn parse(text: &str) -> Program {
        match parse_with(text, &ParseOptions::default()) {
            Ok(parsed) => {
                assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
                parsed.program
            }
            Err(errors) => panic!("{text}: {errors:#?}"),
        }
    }

    fn errors(text: &str) -> Vec<SyntaxError> {
        match parse_with(text, &ParseOptions::default()) {
            Ok(parsed) => panic!("{text}: parsed as {parsed:#?}"),
            Err(errors) => errors,
        }
    }

    fn one(text: &str) -> Statement {
        let mut program = parse(text);
        assert_eq!(program.statements.len(), 1, "{program:#?}");
        program.statements.remove(0)
    }

    fn rule(text: &str) -> Rule {
        match one(text) {
            Statement::Rule(rule) => rule,
            other => panic!("not a rule: {other:#?}"),
        }
    }

    fn fact(text: &str) -> Atom {
        match one(text) {
            Statement::Fact(fact) => fact.atom,
            other => panic!("not a fact: {other:#?}"),
        }
    }

    /// An expression as a compact prefix form, ignoring spans.
    fn show(expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Var(v) => v.clone(),
            ExprKind::Wildcard => "_".into(),
            ExprKind::Literal(Value::Str(s)) => format!("{s:?}"),
            ExprKind::Literal(Value::Float(f)) => format!("{f:?}"),
            ExprKind::Literal(Value::Int(i)) => i.to_string(),
            ExprKind::Literal(Value::Bool(b)) => b.to_string(),
            ExprKind::Literal(Value::Null) => "null".into(),
            ExprKind::Literal(Value::Id(id)) => format!("id:{id:?}"),
            ExprKind::Literal(other) => format!("{other:?}"),
            ExprKind::NodeParam(n) => format!("${n}"),
            ExprKind::Unary(op, e) => format!("({op:?} {})", show(e)),
            ExprKind::Binary(op, a, b) => format!("({op:?} {} {})", show(a), show(b)),
            ExprKind::Call(f, args) => {
                let args: Vec<String> = args.iter().map(show).collect();
                format!("{}({})", f.name, args.join(", "))
            }
            ExprKind::In {
                value,
                low,
                high,
                low_closed,
                high_closed,
            } => format!(
                "({} in {}{}, {}{})",
                show(value),
                if *low_closed { "[" } else { "(" },
                show(low),
                show(high),
                if *high_closed { "]" } else { ")" },
            ),
            ExprKind::Aggregate(kind, var) => format!(
                "{kind:?}<{}>",
                var.as_ref().map_or("*", |v| v.name.as_str())
            ),
        }
    }

    fn args(atom: &Atom) -> Vec<String> {
        atom.args.iter().map(show).collect()
    }

    /// The condition of `r p(@X) :- q(@X), <expr>.`
    fn condition(expr: &str) -> String {
        let rule = rule(&format!("r p(@X) :- q(@X), {expr}."));
        match &rule.body[1] {
            BodyElem::Condition(e) => show(e),
            other => panic!("{other:#?}"),
        }
    }

    #[test]
    fn materialize() {
        let Statement::Materialize(m) = one("materialize(succ, 30, 100, keys(2)).") else {
            panic!()
        };
        assert_eq!(m.name.name, "succ");
        assert_eq!(m.lifetime, Lifetime::Seconds(30.0));
        assert_eq!(m.max_size, MaxSize::Count(100));
        assert_eq!(
            m.keys
                .unwrap()
                .iter()
                .map(|k| k.position)
                .collect::<Vec<_>>(),
            [2]
        );

        let Statement::Materialize(m) =
            one("materialize(node, infinity, infinity, keys(1, 2:int32, 3:Str)).")
        else {
            panic!()
        };
        assert_eq!(m.lifetime, Lifetime::Infinite);
        assert_eq!(m.max_size, MaxSize::Infinite);
        assert_eq!(
            m.keys
                .unwrap()
                .iter()
                .map(|k| k.position)
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );

        let Statement::Materialize(m) = one("materialize(t, 0.5, 10, keys()).") else {
            panic!()
        };
        assert_eq!(m.lifetime, Lifetime::Seconds(0.5));
        assert_eq!(m.keys, Some(vec![]));

        let Statement::Materialize(m) = one("materialize(t, 10, 10).") else {
            panic!()
        };
        assert_eq!(m.keys, None);
    }

    #[test]
    fn materialize_spans() {
        let text = "materialize(t, -1.5, 7, keys(1)).";
        let mut sources = SourceMap::new();
        let parsed = parse_str("t.olg", text, &ParseOptions::default(), &mut sources).unwrap();
        let Statement::Materialize(m) = &parsed.program.statements[0] else {
            panic!()
        };
        assert_eq!(m.lifetime, Lifetime::Seconds(-1.5));
        assert_eq!(sources.snippet(m.lifetime_span), "-1.5");
        assert_eq!(sources.snippet(m.max_size_span), "7");
        assert_eq!(sources.snippet(m.span), text);
    }

    #[test]
    fn bad_materialize() {
        assert!(matches!(
            errors("materialize(t, \"x\", 1, keys(1)).")[..],
            [SyntaxError::BadLifetime { .. }]
        ));
        assert!(matches!(
            errors("materialize(t, 1, 1.5, keys(1)).")[..],
            [SyntaxError::BadMaxSize { .. }]
        ));
        assert!(matches!(
            errors("materialize(t, 1, 1, key(1)).")[..],
            [SyntaxError::BadKeys { .. }]
        ));
        assert!(matches!(
            errors("materialize(t, 1, 1, keys(X)).")[..],
            [SyntaxError::BadKeys { .. }]
        ));
    }

    #[test]
    fn watch_and_trace() {
        let Statement::Watch(w) = one("watch(lookup).") else {
            panic!()
        };
        assert_eq!((w.relation.name.as_str(), w.modes), ("lookup", None));
        let Statement::Watch(w) = one("watchmod(succ, \"id\").") else {
            panic!()
        };
        assert_eq!(w.modes.unwrap().0, "id");
        let Statement::Trace(t) = one("trace(lookupResults).") else {
            panic!()
        };
        assert_eq!(t.relation.name, "lookupResults");
    }

    #[test]
    fn lattice_declarations() {
        let Statement::Lattice(l) = one("lattice(votes, 3, set).") else {
            panic!("a lattice declaration")
        };
        assert_eq!(
            (l.relation.name.as_str(), l.position, l.lattice),
            ("votes", 3, Lattice::Set)
        );
        let Statement::Lattice(l) = one("lattice(store, 2, map(map(max))).") else {
            panic!("a lattice declaration")
        };
        let max = Lattice::Map(Box::new(Lattice::Max));
        assert_eq!(l.lattice, Lattice::Map(Box::new(max)));
        // A relation called `lattice` is still a relation.
        assert!(matches!(
            one("lattice(LOCALADDRESS, 1)."),
            Statement::Fact(_)
        ));
        assert!(matches!(
            one("r1 lattice(@N, X) :- go(@N, X)."),
            Statement::Rule(_)
        ));
    }

    #[test]
    fn external_declarations() {
        let Statement::External(e) = one("external(lookup).") else {
            panic!("an external declaration")
        };
        assert_eq!(e.relation.name, "lookup");
        // A relation called `external` is still a relation.
        assert!(matches!(
            one("external(LOCALADDRESS, 1)."),
            Statement::Fact(_)
        ));
        assert!(matches!(
            one("r1 external(@N, X) :- go(@N, X)."),
            Statement::Rule(_)
        ));
    }

    #[test]
    fn semantics_statements() {
        let Statement::Semantics(s) = one("semantics(p2).") else {
            panic!("a semantics statement")
        };
        assert_eq!(s.semantics, Semantics::P2);
        let Statement::Semantics(s) = one("semantics(tick).") else {
            panic!("a semantics statement")
        };
        assert_eq!(s.semantics, Semantics::Tick);
        // A relation may still be called `semantics`.
        assert!(matches!(
            one("semantics(LOCALADDRESS, 1)."),
            Statement::Fact(_)
        ));
        assert!(matches!(
            one("semantics(@N, X) :- e(@N, X)."),
            Statement::Rule(_)
        ));
    }

    #[test]
    fn channels() {
        let Statement::Channel(c) = one("channel(lookup, tcp).") else {
            panic!("a channel declaration")
        };
        assert_eq!(
            (c.relation.name.as_str(), c.channel),
            ("lookup", Channel::Tcp)
        );
        let Statement::Channel(c) = one("channel(ping, udp).") else {
            panic!("a channel declaration")
        };
        assert_eq!(c.channel, Channel::Udp);
    }

    #[test]
    fn unknown_watchmod_letters_warn() {
        let mut sources = SourceMap::new();
        let parsed = parse_str(
            "t.olg",
            "watchmod(succ, \"ixzd\").",
            &ParseOptions::default(),
            &mut sources,
        )
        .unwrap();
        assert_eq!(parsed.program.statements.len(), 1);
        let letters: Vec<(char, &str)> = parsed
            .warnings
            .iter()
            .map(|w| match w {
                SyntaxError::UnknownWatchmodLetter { letter, span } => {
                    (*letter, sources.snippet(*span))
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(letters, [('x', "x")]);
        assert!(parsed.warnings.iter().all(SyntaxError::is_warning));
        // With an error as well, only the error is returned.
        assert!(matches!(
            errors("watchmod(succ, \"x\").\np(X).")[..],
            [SyntaxError::VariableInFact { .. }]
        ));
    }

    #[test]
    fn facts() {
        let atom = fact("node(LOCALADDRESS, 0x1I, \"NIL\", -7, -0.5, 3, null, true, infinity).");
        assert_eq!(atom.relation.name, "node");
        assert_eq!(atom.location_style, LocationStyle::Plain);
        assert_eq!(
            args(&atom),
            [
                "$LOCALADDRESS",
                "id:0x1I",
                "\"NIL\"",
                "-7",
                "-0.5",
                "3",
                "null",
                "true",
                "inf"
            ]
        );
        let atom = fact("link(@LOCALADDRESS, \"b:1\").");
        assert_eq!(atom.location_style, LocationStyle::At);
        assert_eq!(
            args(&fact("m(\"a\", -9223372036854775808).")),
            ["\"a\"", "-9223372036854775808"]
        );
    }

    #[test]
    fn node_params_from_options() {
        let options = ParseOptions {
            defines: vec![],
            node_params: vec!["NODEID".into()],
        };
        let program = parse_with("node(LOCALADDRESS, NODEID).", &options)
            .unwrap()
            .program;
        let Statement::Fact(f) = &program.statements[0] else {
            panic!()
        };
        assert_eq!(args(&f.atom), ["$LOCALADDRESS", "$NODEID"]);
    }

    #[test]
    fn bad_facts() {
        assert!(matches!(
            &errors("p(LOCALADDRESS, X).")[..],
            [SyntaxError::VariableInFact { name, .. }] if name == "X"
        ));
        assert!(matches!(
            errors("p(1, _, 1 + 2).")[..],
            [
                SyntaxError::NonConstantInFact { .. },
                SyntaxError::NonConstantInFact { .. }
            ]
        ));
        assert!(matches!(
            errors("p(1, count<*>).")[..],
            [SyntaxError::AggregateOutsideHead { .. }]
        ));
        assert!(matches!(
            errors("p().")[..],
            [SyntaxError::EmptyAtom { .. }]
        ));
    }

    #[test]
    fn rules_and_location_styles() {
        let r = rule("r1 ping(@J, I) :- periodic(@I, E, 1, 20), link(@I, J).");
        assert_eq!(r.name.unwrap().name, "r1");
        assert_eq!(r.delete, None);
        assert_eq!(r.head.relation.name, "ping");
        assert_eq!(r.head.location_style, LocationStyle::At);
        assert_eq!(args(&r.head), ["J", "I"]);
        let BodyElem::Atom(periodic) = &r.body[0] else {
            panic!()
        };
        assert_eq!(periodic.relation.name, "periodic");
        assert_eq!(args(periodic), ["I", "E", "1", "20"]);

        let r = rule("l1 lookupResults@R(R,K) :- node@NI(NI,N), lookup(NI,K,R).");
        assert_eq!(r.head.location_style, LocationStyle::Suffix);
        assert_eq!(args(&r.head), ["R", "K"]);
        let [BodyElem::Atom(node), BodyElem::Atom(lookup)] = &r.body[..] else {
            panic!()
        };
        assert_eq!(node.location_style, LocationStyle::Suffix);
        assert_eq!(lookup.location_style, LocationStyle::Plain);

        // No rule name; upper-case rule names.
        assert_eq!(rule("p(@X) :- q(@X).").name, None);
        assert_eq!(rule("R2 p(@X) :- q(@X).").name.unwrap().name, "R2");
    }

    #[test]
    fn suffix_location_must_match_first_argument() {
        let errs = errors("r p@X(Y, 1) :- q(@X, Y).");
        let [
            SyntaxError::LocationMismatch {
                location,
                first,
                location_span,
                ..
            },
        ] = &errs[..]
        else {
            panic!("{errs:?}")
        };
        assert_eq!((location.as_str(), first.as_str()), ("X", "Y"));
        assert!(location_span.is_some());
        assert!(matches!(
            errors("r p(@X, @Y) :- q(@X, Y).")[..],
            [SyntaxError::MisplacedAt { .. }]
        ));
    }

    #[test]
    fn delete_rules() {
        let r = rule("delete succ(@NI,S,SI) :- deadNode(@NI, SI), succ(@NI,S,SI).");
        assert!(r.delete.is_some());
        assert_eq!(r.name, None);
        let r = rule("sb9 delete succ(@NI,S,SI) :- deadNode(@NI, SI).");
        assert!(r.delete.is_some());
        assert_eq!(r.name.unwrap().name, "sb9");
    }

    #[test]
    fn rule_names_may_repeat() {
        let program = parse("r2 a(@X) :- b(@X).\nr2 c(@X) :- d(@X).");
        let names: Vec<_> = program
            .statements
            .iter()
            .map(|s| match s {
                Statement::Rule(r) => r.name.as_ref().unwrap().name.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["r2", "r2"]);
    }

    #[test]
    fn body_elements() {
        let r = rule(
            "r p(@X, Z) :- e(@X, Y, _), notin t(@X, Y), Z := f_append(Y), \
             f_coinFlip(0.1) == 1, Y != null.",
        );
        let [
            BodyElem::Atom(e),
            BodyElem::NotIn(t, notin_span),
            BodyElem::Assign(assign),
            BodyElem::Condition(c1),
            BodyElem::Condition(c2),
        ] = &r.body[..]
        else {
            panic!("{:#?}", r.body)
        };
        assert_eq!(args(e), ["X", "Y", "_"]);
        assert_eq!(t.relation.name, "t");
        assert_eq!(notin_span.start, 27);
        assert_eq!(assign.var.name, "Z");
        assert_eq!(show(&assign.value), "f_append(Y)");
        assert_eq!(show(c1), "(Eq f_coinFlip(0.1) 1)");
        assert_eq!(show(c2), "(Ne Y null)");
    }

    #[test]
    fn precedence() {
        assert_eq!(condition("A || B && C"), "(Or A (And B C))");
        assert_eq!(condition("A && B | C"), "(And A (BitOr B C))");
        assert_eq!(
            condition("A | B ^ C & D"),
            "(BitOr A (BitXor B (BitAnd C D)))"
        );
        assert_eq!(condition("A & B == C"), "(BitAnd A (Eq B C))");
        assert_eq!(condition("A == B < C"), "(Eq A (Lt B C))");
        assert_eq!(condition("A < B << C"), "(Lt A (Shl B C))");
        assert_eq!(condition("A >> B + C"), "(Shr A (Add B C))");
        assert_eq!(condition("A - B * C % D"), "(Sub A (Mod (Mul B C) D))");
        assert_eq!(condition("A - B - C"), "(Sub (Sub A B) C)");
        assert_eq!(condition("-A * B"), "(Mul (Neg A) B)");
        assert_eq!(condition("!A && B"), "(And (Not A) B)");
        assert_eq!(condition("!(A && B)"), "(Not (And A B))");
        assert_eq!(condition("(A + B) * C"), "(Mul (Add A B) C)");
        assert_eq!(condition("-7 < 2"), "(Lt -7 2)");
        assert_eq!(condition("1 - -2 >= - -X"), "(Ge (Sub 1 -2) (Neg (Neg X)))");
        assert_eq!(condition("A <= B != C > D"), "(Ne (Le A B) (Gt C D))");
        assert_eq!(condition("X / 2 == 1e-3"), "(Eq (Div X 2) 0.001)");
        assert_eq!(condition("f_now() > 1"), "(Gt f_now() 1)");
        assert_eq!(
            condition("f_max(A, B + 1) > 1"),
            "(Gt f_max(A, (Add B 1)) 1)"
        );
        assert_eq!(condition("X == infinity"), "(Eq X inf)");
        assert_eq!(condition("X == false"), "(Eq X false)");
    }

    #[test]
    fn intervals() {
        assert_eq!(condition("K in (N, S)"), "(K in (N, S))");
        assert_eq!(condition("K in (N, S]"), "(K in (N, S])");
        assert_eq!(condition("K in [N, S)"), "(K in [N, S))");
        assert_eq!(condition("K in [N, S]"), "(K in [N, S])");
        assert_eq!(
            condition("K + 1 in (N, S - 1]"),
            "((Add K 1) in (N, (Sub S 1)])"
        );
        assert_eq!(
            condition("((PI == NIL) || (S in (PI, NI))) && (NI != SI)"),
            "(And (Or (Eq PI NIL) (S in (PI, NI))) (Ne NI SI))"
        );
        assert_eq!(condition("K in (N, S] == true"), "(Eq (K in (N, S]) true)");
    }

    #[test]
    fn aggregates() {
        for (text, expected) in [
            ("min<D>", "Min<D>"),
            ("max<D>", "Max<D>"),
            ("count<*>", "Count<*>"),
            ("count<D>", "Count<D>"),
            ("sum<D>", "Sum<D>"),
            ("avg<D>", "Avg<D>"),
            ("a_MIN<D>", "Min<D>"),
            ("a_count<*>", "Count<*>"),
            ("a_Max<D>", "Max<D>"),
            ("A_SUM<D>", "Sum<D>"),
            ("MIN<D>", "Min<D>"),
        ] {
            let r = rule(&format!("r p(@X, {text}) :- q(@X, D)."));
            assert_eq!(args(&r.head), ["X", expected], "{text}");
        }
        // An upper-case aggregate word in a condition is a variable.
        assert_eq!(condition("Min < D"), "(Lt Min D)");
    }

    #[test]
    fn aggregate_errors() {
        assert!(matches!(
            errors("r p(@X) :- q(@X, min<Y>).")[..],
            [SyntaxError::AggregateOutsideHead { .. }]
        ));
        assert!(matches!(
            errors("r p(@X) :- q(@X, Y), count<Y> > 1.")[..],
            [SyntaxError::AggregateOutsideHead { .. }]
        ));
        assert!(matches!(
            errors("r p(@X, min<Y> + 1) :- q(@X, Y).")[..],
            [SyntaxError::AggregateInExpression { .. }]
        ));
        assert!(matches!(
            errors("r p(@X, f_tostr(count<*>)) :- q(@X, Y).")[..],
            [SyntaxError::AggregateInExpression { .. }]
        ));
        assert!(matches!(
            errors("r p(@X, a_max<*>) :- q(@X, Y).")[..],
            [SyntaxError::StarOutsideCount { .. }]
        ));
        assert!(matches!(
            errors("r p(@X, min<3>) :- q(@X, Y).")[..],
            [SyntaxError::BadAggregateArgument { .. }]
        ));
    }

    #[test]
    fn expressions_in_body_atoms_are_rejected() {
        assert!(matches!(
            errors("r p(@X) :- q(@X, Y + 1).")[..],
            [SyntaxError::ExpressionInBodyAtom { .. }]
        ));
        assert!(matches!(
            errors("r p(@X) :- notin q(@X, f_now()).")[..],
            [SyntaxError::ExpressionInBodyAtom { .. }]
        ));
        // Negative literals are constants.
        let r = rule("r p(@X) :- q(@X, -1, -2.5, \"s\", 3I).");
        let BodyElem::Atom(q) = &r.body[0] else {
            panic!()
        };
        assert_eq!(args(q), ["X", "-1", "-2.5", "\"s\"", "id:0x3I"]);
    }

    #[test]
    fn reserved_words() {
        // `channel(...)` at the start of a statement is a declaration.
        for word in RESERVED.iter().filter(|w| **w != "channel") {
            let errs = errors(&format!("{word}(1)."));
            assert!(
                matches!(&errs[..], [SyntaxError::ReservedWord { word: w, .. }] if w == word),
                "{errs:?}"
            );
        }
        assert!(matches!(
            errors("choose p(@X) :- q(@X).")[..],
            [SyntaxError::ReservedWord { .. }]
        ));
        assert!(matches!(
            errors("materialize(durable, 1, 1).")[..],
            [SyntaxError::ReservedWord { .. }]
        ));
    }

    #[test]
    fn bad_relation_names() {
        assert!(matches!(
            errors("r P(@X) :- q(@X).")[..],
            [SyntaxError::InvalidRelationName { .. }]
        ));
        assert!(matches!(
            errors("r p(@X) :- Q(@X).")[..],
            [SyntaxError::InvalidRelationName { .. }]
        ));
        assert!(matches!(
            errors("f_x(1).")[..],
            [SyntaxError::InvalidRelationName { .. }]
        ));
    }

    #[test]
    fn missing_pieces() {
        assert!(matches!(
            errors("r1 p(@X).")[..],
            [SyntaxError::MissingBody { .. }]
        ));
        assert!(matches!(
            errors("p(@X) :- .")[..],
            [SyntaxError::MissingBody { .. }]
        ));
        let errs = errors("p(1)\nq(2).");
        let [SyntaxError::MissingDot { span }] = errs[..] else {
            panic!("{errs:?}")
        };
        assert_eq!((span.start, span.end), (4, 4));
        assert!(matches!(
            errors("p(@X, Y :- q(@X).")[..],
            [SyntaxError::UnclosedDelimiter { .. }]
        ));
        assert!(matches!(
            errors("p(1)) .")[..],
            [SyntaxError::UnmatchedClose { close: ')', .. }]
        ));
        assert!(matches!(
            errors("r p(@X) :- q(@X) r(@X).")[..],
            [SyntaxError::UnexpectedToken { .. }]
        ));
    }

    #[test]
    fn every_broken_statement_is_reported() {
        let text = "p(X).\n\
                    materialize(t, 1, 1, keys(1)).\n\
                    r1 a(@X) :- b(@X, Y + 1).\n\
                    r2 a(@X :- b(@X).\n\
                    ok(1).\n\
                    r3 a(@X) :- b(@X), min<X> > 1.\n\
                    \"unterminated\n\
                    last(2).";
        let errs = errors(text);
        assert!(
            matches!(
                errs[..],
                [
                    SyntaxError::VariableInFact { .. },
                    SyntaxError::ExpressionInBodyAtom { .. },
                    SyntaxError::UnclosedDelimiter { .. },
                    SyntaxError::AggregateOutsideHead { .. },
                    SyntaxError::UnterminatedString { .. },
                ]
            ),
            "{errs:#?}"
        );
    }

    #[test]
    fn lexical_errors_do_not_cascade() {
        let errs = errors("p(1, 99999999999999999999).\nq(2, \"a\\qb\").");
        assert!(
            matches!(
                errs[..],
                [
                    SyntaxError::IntegerTooLarge { .. },
                    SyntaxError::UnknownEscape { .. }
                ]
            ),
            "{errs:?}"
        );
        assert!(matches!(
            errors("p(9223372036854775808).")[..],
            [SyntaxError::IntegerTooLarge { .. }]
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "r p(@X) :- q(@X), {}X{}.",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(matches!(
            errors(&deep)[..],
            [SyntaxError::NestingTooDeep { .. }]
        ));
        let long = format!("r p(@X) :- q(@X), Y := X{}.", " + 1".repeat(5000));
        assert!(matches!(
            errors(&long)[..],
            [SyntaxError::NestingTooDeep { .. }]
        ));
        let unary = format!("r p(@X) :- q(@X), {}X.", "!".repeat(5000));
        assert!(matches!(
            errors(&unary)[..],
            [SyntaxError::NestingTooDeep { .. }]
        ));
        // Within the bound, fine.
        rule(&format!(
            "r p(@X) :- q(@X), {}X{}.",
            "(".repeat(100),
            ")".repeat(100)
        ));
    }

    #[test]
    fn empty_and_comment_only_programs() {
        assert!(parse("").statements.is_empty());
        assert!(parse("// nothing\n/* at all */").statements.is_empty());
    }

    #[test]
    fn command_line_defines() {
        let options = ParseOptions {
            defines: vec![
                ("LANDMARK".into(), "\"host:port\"".into()),
                ("N".into(), "2".into()),
            ],
            node_params: vec![],
        };
        let program = parse_with("#define N 1\nland(LOCALADDRESS, LANDMARK, N).", &options)
            .unwrap()
            .program;
        let Statement::Fact(f) = &program.statements[0] else {
            panic!()
        };
        assert_eq!(args(&f.atom), ["$LOCALADDRESS", "\"host:port\"", "2"]);
    }

    #[test]
    fn conditionals_select_statements() {
        let text = "#define SIM\n\
                    #ifdef SIM\n\
                    #ifndef REAL\n a(1).\n #else\n b(1).\n #endif\n\
                    #else\n c(1).\n#endif\n\
                    #ifndef SIM\n d(1).\n#else\n e(1).\n#endif\n";
        let names: Vec<String> = parse(text)
            .statements
            .iter()
            .map(|s| match s {
                Statement::Fact(f) => f.atom.relation.name.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["a", "e"]);
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("trellis-syntax-{}-{name}", std::process::id()));
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            TempDir(dir)
        }

        fn write(&self, path: &str, text: &str) -> std::path::PathBuf {
            let path = self.0.join(path);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let dir = TempDir::new("include");
        let main = dir.write("main.olg", "#include \"sub/inc.olg\"\nmain(1).\n");
        dir.write("sub/inc.olg", "#include \"leaf.olg\"\ninc(X_VALUE).\n");
        dir.write("sub/leaf.olg", "#define X_VALUE 7\nleaf(1).\n");
        let mut sources = SourceMap::new();
        let parsed = parse_file(&main, &ParseOptions::default(), &mut sources).unwrap();
        let facts: Vec<(String, String)> = parsed
            .program
            .statements
            .iter()
            .map(|s| match s {
                Statement::Fact(f) => (
                    f.atom.relation.name.clone(),
                    sources.get(f.span.file).name.clone(),
                ),
                other => panic!("{other:?}"),
            })
            .collect();
        let name = |p: &str| dir.0.join(p).display().to_string();
        assert_eq!(
            facts,
            [
                ("leaf".to_string(), name("sub/leaf.olg")),
                ("inc".to_string(), name("sub/inc.olg")),
                ("main".to_string(), name("main.olg")),
            ]
        );
        let Statement::Fact(inc) = &parsed.program.statements[1] else {
            panic!()
        };
        assert_eq!(args(&inc.atom), ["7"]);
    }

    #[test]
    fn include_errors() {
        let dir = TempDir::new("cycle");
        let a = dir.write("a.olg", "#include \"sub/b.olg\"\n");
        dir.write("sub/b.olg", "#include \"../a.olg\"\n");
        let mut sources = SourceMap::new();
        let errs = parse_file(&a, &ParseOptions::default(), &mut sources).unwrap_err();
        let [SyntaxError::IncludeCycle { span, .. }] = &errs[..] else {
            panic!("{errs:?}")
        };
        assert!(sources.get(span.file).name.ends_with("b.olg"));

        let errs = errors("#include \"no/such/file.olg\"\np(1).");
        assert!(
            matches!(&errs[..], [SyntaxError::IncludeNotFound { path, .. }] if path == "no/such/file.olg")
        );

        let errs = parse_file(
            &dir.0.join("missing.olg"),
            &ParseOptions::default(),
            &mut SourceMap::new(),
        )
        .unwrap_err();
        assert!(matches!(errs[..], [SyntaxError::ReadFile { .. }]));

        std::fs::write(dir.0.join("binary.olg"), [0x70, 0xff, 0xfe, 0x28]).unwrap();
        let errs = parse_file(
            &dir.0.join("binary.olg"),
            &ParseOptions::default(),
            &mut SourceMap::new(),
        )
        .unwrap_err();
        assert!(
            matches!(errs[..], [SyntaxError::NotUtf8 { .. }]),
            "{errs:?}"
        );
    }

    #[test]
    fn include_depth_is_bounded() {
        // `f0` includes `f1`, ..., which includes `f{depth}`.
        let chain = |depth: usize| {
            let dir = TempDir::new(&format!("deep{depth}"));
            for i in 0..depth {
                dir.write(
                    &format!("f{i}.olg"),
                    &format!("#include \"f{}.olg\"\n", i + 1),
                );
            }
            dir.write(&format!("f{depth}.olg"), "p(1).\n");
            let main = dir.0.join("f0.olg");
            parse_file(&main, &ParseOptions::default(), &mut SourceMap::new())
        };
        assert_eq!(chain(64).unwrap().program.statements.len(), 1);
        let errs = chain(65).unwrap_err();
        assert!(
            matches!(errs[..], [SyntaxError::IncludeTooDeep { .. }]),
            "{errs:?}"
        );
    }

    #[test]
    fn spans_point_into_the_source() {
        let text = "r1 p(@X, Y + 1) :- q(@X, Y).";
        let mut sources = SourceMap::new();
        let parsed = parse_str("t.olg", text, &ParseOptions::default(), &mut sources).unwrap();
        let Statement::Rule(r) = &parsed.program.statements[0] else {
            panic!()
        };
        assert_eq!(r.span.file, FileId(0));
        assert_eq!(sources.snippet(r.span), text);
        assert_eq!(sources.snippet(r.head.span), "p(@X, Y + 1)");
        assert_eq!(sources.snippet(r.head.args[1].span), "Y + 1");
        assert_eq!(sources.snippet(r.head.relation.span), "p");
    }

    #[test]
    fn chord_fragment() {
        let text = r#"/* Chord fragment */
#define NIL "NIL"
materialize(node, infinity, 1, keys(1)).
materialize(finger, 180, 160, keys(2)).
materialize(succ, 30, 100, keys(2)).
node(LOCALADDRESS, 0x1I).
watchmod(succ, "id").
l1 lookupResults@R(R,K,S,SI,E) :- node@NI(NI,N), lookup@NI(NI,K,R,E), bestSucc@NI(NI,S,SI), K in (N,S].
l2 bestLookupDist(@NI,K,R,E,a_MIN<D>) :- node(@NI,N), lookup(@NI,K,R,E), finger(@NI,I,B,BI), D:=K - B - 1, B in (N,K).
f1 fFix(@NI,E,I) :- periodic(@NI,E,10), I := 0.
sb3 succ(@PI,S,SI) :- sendPred(@NI,PI,S,SI), ((PI == NIL) || (S in (PI, NI))) && (NI != SI).
delete succ(@NI,S,SI) :- deadNode(@NI, SI), succ(@NI,S,SI).
c1 cnt(@X, count<*>) :- e(@X, Y), notin t(@X, Y), f_coinFlip(0.1) == 1, Z := f_append(Y), -7 < 2.
"#;
        let program = parse(text);
        assert_eq!(program.statements.len(), 11);
        let Statement::Rule(sb3) = &program.statements[8] else {
            panic!()
        };
        let BodyElem::Condition(c) = &sb3.body[1] else {
            panic!()
        };
        assert_eq!(
            show(c),
            "(And (Or (Eq PI \"NIL\") (S in (PI, NI))) (Ne NI SI))"
        );
    }
}
